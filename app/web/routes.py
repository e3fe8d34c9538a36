"""The command-center page: `/` (the page), `/static/...` (its files) and `/ui/config`.

The page is plain files inside this package (package data, so a wheel install serves them too) and
talks to the same API as any client, with the token the operator signs in with. None of these routes
needs a token: the page holds no data until it is signed in, and `/ui/config` carries no secrets,
only how to draw the base map. They are left out of the OpenAPI description, which lists the API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from app.config import Settings

STATIC_DIR = Path(__file__).parent / "static"

router = APIRouter(include_in_schema=False)


@router.get("/")
async def page() -> FileResponse:
    """The single page; `no-cache` so an upgraded service is picked up on the next load."""
    return FileResponse(
        STATIC_DIR / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"}
    )


@router.get("/favicon.ico")
async def favicon() -> FileResponse:
    """Browsers ask for /favicon.ico whatever the page says; answering keeps the console free of 404s."""
    return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")


def ui_config(settings: Settings) -> dict[str, Any]:
    """What the page needs before sign-in: the base map's tile template and datum, no secrets."""
    return {
        "tile_url": settings.tile_url,
        "tile_crs": settings.tile_crs,
        "tile_attribution": settings.tile_attribution,
        "patrol_fresh_h": settings.ui_patrol_fresh_h,
    }


@router.get("/ui/config")
async def config(request: Request) -> dict[str, Any]:
    return ui_config(request.app.state.settings)


def install(app: FastAPI) -> None:
    """Mount the page's routes and its static files on ``app``."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
