"""One error tree for the whole service and the one JSON shape every 4xx/5xx uses.

Domain code raises ``DomainError`` subclasses carrying a machine code and an HTTP status; the
handlers installed by ``install_error_handlers`` turn them (and FastAPI's own validation and
HTTP errors) into ``{"code", "message", "details"}``. Unexpected exceptions become a 500 in the
same shape, logged with their traceback, never leaking internals.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from app.db.errors import DATABASE_LOST

log = logging.getLogger(__name__)


class DomainError(Exception):
    code = "error"
    http_status = 400

    def __init__(
        self,
        message: str,
        *,
        details: Any = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers  # extra response headers, e.g. Retry-After on a 503
        if code is not None:
            self.code = code


class ValidationFailed(DomainError):
    code = "validation_failed"
    http_status = 422


class NotFound(DomainError):
    code = "not_found"
    http_status = 404


class Conflict(DomainError):
    code = "conflict"
    http_status = 409


class Unauthorized(DomainError):
    code = "unauthorized"
    http_status = 401


class Forbidden(DomainError):
    code = "forbidden"
    http_status = 403


class PayloadTooLarge(DomainError):
    code = "body_too_large"
    http_status = 413


class ServiceUnavailable(DomainError):
    code = "unavailable"
    http_status = 503


class RateLimited(DomainError):
    """Too many failed attempts from one client; ``Retry-After`` says when to try again."""

    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message, details={"retry_after_s": retry_after_s})
        self.retry_after_s = retry_after_s


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"code": code, "message": message, "details": details}


class ErrorResponse(JSONResponse):
    """An error body rendered as ASCII JSON: a message that echoes hostile input (a lone surrogate,
    which UTF-8 cannot encode) must still render instead of turning a 4xx into a 500."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> str:
    """Every method some route answers at this path: a 405 must list them all in ``Allow``.

    Asked of the router itself (does any route fully match with this method?), so routes that
    share a path template, and routers included in routers, all count.
    """
    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL
            for route in request.app.router.routes
        )
    ]
    return ", ".join(allowed)


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        out.append({"field": ".".join(loc), "problem": err.get("msg", "invalid")})
    return out


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
        if exc.headers:
            headers = {**(headers or {}), **exc.headers}
        if isinstance(exc, RateLimited):
            headers = {"Retry-After": str(exc.retry_after_s)}
        return ErrorResponse(
            error_body(exc.code, exc.message, exc.details), status_code=exc.http_status, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = _validation_details(exc)
        first = details[0] if details else {"field": "body", "problem": "invalid"}
        message = f"{first['field']}: {first['problem']}"
        if len(details) > 1:
            message += f" (and {len(details) - 1} more)"
        return ErrorResponse(error_body("validation_failed", message, details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(request)
        return ErrorResponse(error_body(code, str(exc.detail)), status_code=exc.status_code, headers=headers)

    async def _database_down(request: Request, exc: Exception) -> JSONResponse:
        # The database went away (restart, failover, dropped, unreachable, a backend killed mid-query):
        # the request's transaction was rolled back by PostgreSQL, so nothing half-written remains.
        log.warning(
            "database unavailable on %s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc
        )
        return JSONResponse(
            error_body(
                "database_unavailable", "the database is unavailable; nothing was applied, retry shortly"
            ),
            status_code=503,
            headers={"Retry-After": "2"},
        )

    for lost in DATABASE_LOST:
        app.add_exception_handler(lost, _database_down)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            error_body("internal_error", "internal error; the request was not applied"), status_code=500
        )
