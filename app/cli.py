"""The `aerogrid` command: serve, demo, migrate, token, grids, zones (and, as they land, plan, sim, fly)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import FrameType
from typing import Any

from app import cli_demo, cli_fly, cli_plan
from app.config import Settings, get_settings
from app.logging_setup import setup_logging
from simulator.fleet import add_cli_arguments as add_sim_arguments

log = logging.getLogger("aerogrid")


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


async def _with_db(settings: Settings, action: Callable[[Any], Awaitable[int]]) -> int:
    from app.db.migrate import migrate
    from app.db.pool import open_database

    db = await open_database(settings)
    try:
        async with db.pool.acquire() as conn:
            await migrate(conn)
        return await action(db.pool)
    finally:
        await db.close()


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from app.main import create_app
    from app.services.ownership import AdvertiseUrlMissing

    if args.sample_district:
        settings = settings.model_copy(update={"load_sample_district": True})
    setup_logging(json_lines=settings.log_json or args.json_logs)
    # The address served is the one the default advertised URL (command routing) is built from.
    settings = settings.model_copy(update={"host": args.host or settings.host, "port": args.port or settings.port})
    try:
        app = create_app(settings)
    except AdvertiseUrlMissing as exc:
        log.error("%s", exc)
        return 2

    class Server(uvicorn.Server):
        """Stops planning the moment SIGTERM/SIGINT arrives. Uvicorn waits for open requests
        before the lifespan shutdown, and a plan can run for many seconds: its workers are
        killed at once and its requests answered 503, so the rest drains promptly."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            plan_pool = getattr(app.state, "plan_pool", None)
            if plan_pool is not None:
                plan_pool.stop_soon()
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
    )
    Server(config).run()
    return 0


def cmd_sim(args: argparse.Namespace, settings: Settings) -> int:
    from simulator.fleet import main_from_args

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main_from_args(args))
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    async def run(pool: Any) -> int:
        from app.db.migrate import describe_schema

        if args.dump_schema:
            async with pool.acquire() as conn:
                sys.stdout.write(await describe_schema(conn))
        else:
            _out("migrations applied")
        return 0

    return asyncio.run(_with_db(settings, run))


def cmd_token_create(args: argparse.Namespace, settings: Settings) -> int:
    from app.auth import Role

    communities = [c.strip() for c in args.communities.split(",") if c.strip()] if args.communities else None

    async def run(pool: Any) -> int:
        from app.services import tokens

        async with pool.acquire() as conn:
            token, row = await tokens.create(
                conn, name=args.name, role=Role(args.role), communities=communities, created_by=None
            )
        _out(token)
        log.info("created token id=%s role=%s", row["id"], row["role"])
        return 0

    return asyncio.run(_with_db(settings, run))


def _import_cmd(kind: str) -> Callable[[argparse.Namespace, Settings], int]:
    def cmd(args: argparse.Namespace, settings: Settings) -> int:
        from app.auth import SYSTEM
        from app.errors import DomainError
        from app.services import district
        from geofences.crs import CoordinateSystem

        doc = json.loads(Path(args.file).read_text(encoding="utf-8"))
        crs = CoordinateSystem(args.crs) if args.crs else None

        async def run(pool: Any) -> int:
            fn = district.import_grids if kind == "grids" else district.import_zones
            try:
                report = await fn(pool, doc, crs=crs, principal=SYSTEM)
            except DomainError as exc:
                _out(f"error: {exc.message}")
                for d in exc.details or []:
                    _out(f"  {json.dumps(d, ensure_ascii=False)}")
                return 2
            _out(f"imported {report.imported} {kind} ({report.created} new, {report.updated} existing)")
            for o in report.overlaps:
                _out(f"warning: grids {o.code_a} and {o.code_b} overlap by {o.area_m2:.1f} m²")
            return 0

        return asyncio.run(_with_db(settings, run))

    return cmd


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aerogrid", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--sample-district", action="store_true", help="load the shipped sample district")
    serve.add_argument("--json-logs", action="store_true")
    serve.set_defaults(func=cmd_serve)

    demo = sub.add_parser("demo", help="a live district: drones on patrol, the page, faults, detections")
    cli_demo.add_arguments(demo)
    demo.set_defaults(func=lambda args, settings: cli_demo.main(args, settings))

    sim = sub.add_parser("sim", help="run simulated ArduCopters, one UDP port each")
    add_sim_arguments(sim)
    sim.set_defaults(func=cmd_sim)

    fly = sub.add_parser("fly", help="fly a .plan/.waypoints file on a simulated or SITL drone (testers)")
    cli_fly.add_arguments(fly)
    fly.set_defaults(
        func=lambda args, settings: asyncio.run(_with_db(settings, lambda pool: cli_fly.run(args, pool)))
    )

    mig = sub.add_parser("migrate", help="apply database migrations")
    mig.add_argument("--dump-schema", action="store_true", help="print the resulting schema")
    mig.set_defaults(func=cmd_migrate)

    token = sub.add_parser("token", help="API tokens").add_subparsers(dest="token_cmd", required=True)
    create = token.add_parser("create", help="create a token and print it")
    create.add_argument("--role", required=True, choices=["viewer", "operator", "tester", "admin"])
    create.add_argument("--name", default="cli")
    create.add_argument("--communities", help="comma-separated community codes to scope the token to")
    create.set_defaults(func=cmd_token_create)

    plan = sub.add_parser("plan", help="plan a route from GeoJSON files and export it (offline)")
    cli_plan.add_arguments(plan)
    plan.set_defaults(func=lambda args, _settings: cli_plan.run(args))

    for kind in ("grids", "zones"):
        grp = sub.add_parser(kind, help=f"{kind}: import GeoJSON").add_subparsers(
            dest=f"{kind}_cmd", required=True
        )
        imp = grp.add_parser("import", help=f"import a GeoJSON FeatureCollection of {kind}")
        imp.add_argument("file")
        imp.add_argument("--crs", choices=["WGS84", "GCJ02", "BD09"])
        imp.set_defaults(func=_import_cmd(kind))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not logging.getLogger().handlers:
        setup_logging(json_lines=False)
    result: int = args.func(args, get_settings())
    return result


if __name__ == "__main__":
    sys.exit(main())
