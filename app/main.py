"""The FastAPI application factory and its lifespan.

The lifespan opens, in order: the database (embedded or DATABASE_URL) and its migrations, the
optional sample district, and closes them in reverse. Nothing starts at import time.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.api import (
    alerts,
    detections,
    drones,
    flight,
    geofences,
    grids,
    health,
    live,
    missions,
    runs,
    schedules,
    stats,
    telemetry,
    tokens,
    webhooks,
    workorders,
)
from app.api.deps import AuthGuard
from app.api.forward import install_forwarding
from app.api.patrols import bulk_router as patrols_bulk_router
from app.api.patrols import router as patrols_router
from app.config import Settings, get_settings
from app.db.migrate import migrate
from app.db.pool import open_database
from app.errors import install_error_handlers
from app.limits import BodySizeLimit
from app.link.manager import LinkManager
from app.live.service import start_live
from app.ratelimit import RequestLimits
from app.scheduling.clock import SystemClock
from app.scheduling.driver import RunDriver, run_settings
from app.scheduling.live_bridge import stream_runs
from app.scheduling.runs import RunStore
from app.scheduling.scheduler import Scheduler, scheduler_settings
from app.services import planning
from app.services.alert_detection import DetectorRunner, detector_settings
from app.services.alerts import AlertService
from app.services.closed_loop import start_closed_loop, start_mqtt
from app.services.drone_links import canonicalise_stored
from app.services.flight import FlightService
from app.services.legacy_images import move_legacy_images
from app.services.ownership import LinkOwnership, advertise_url, default_instance_id, warn_if_leased_elsewhere
from app.services.sample import load_sample_district
from app.telemetry.service import start_ingest
from app.web import routes as web

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    own_url = advertise_url(  # refuses to build an instance the others could not route commands to
        link_leases=settings.link_leases, url=settings.advertise_url, host=settings.host, port=settings.port
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = await open_database(settings)
        try:
            async with db.pool.acquire() as conn:
                await migrate(conn)
            await canonicalise_stored(db.pool)  # before any link opens: one spelling per link
            await move_legacy_images(db.pool, settings.data_dir / "detections")  # older versions' files
            if settings.load_sample_district:
                await load_sample_district(db.pool)
            app.state.db = db
            app.state.plan_pool = await planning.open_pool(settings)
            app.state.alerts = AlertService(db.pool)
            app.state.closed_loop = start_closed_loop(settings, db.pool, app.state.alerts.sink)
            app.state.workorders = app.state.closed_loop.workorders
            app.state.detections = app.state.closed_loop.detections
            app.state.webhook_worker = app.state.closed_loop.webhooks
            if settings.links_enabled:
                app.state.flights = FlightService(
                    db.pool, LinkManager(udp_rcvbuf_bytes=settings.link_udp_rcvbuf_bytes)
                )
                if settings.telemetry_enabled:
                    app.state.telemetry = await start_ingest(
                        settings, db.pool, app.state.flights.manager, app.state.alerts
                    )
            instance_id = settings.instance_id or default_instance_id(str(settings.data_dir))
            if settings.live_enabled:
                telemetry = getattr(app.state, "telemetry", None)
                app.state.live = await start_live(settings, db, instance_id, telemetry, app.state.alerts.sink)
                app.state.live_hub = app.state.live.hub
            if settings.links_enabled:
                if settings.link_leases:  # several instances: each links the drones it holds a lease on
                    app.state.ownership = LinkOwnership(
                        db.pool,
                        app.state.flights,
                        instance_id,
                        lease_s=settings.link_lease_s,
                        renew_s=settings.link_renew_s,
                        advertise_url=own_url,
                    )
                    await app.state.ownership.start()
                else:
                    await warn_if_leased_elsewhere(db.pool, instance_id)
                    await app.state.flights.link_all()
                app.state.flights.start()
                if settings.alerts_enabled:
                    app.state.alert_detection = DetectorRunner(
                        app.state.flights.manager,
                        app.state.alerts,
                        db.pool,
                        settings=detector_settings(settings),
                        tick_s=settings.alert_tick_s,
                        refresh_s=settings.alert_refresh_s,
                        clear_hold_s=settings.alert_clear_hold_s,
                    )
                    await app.state.alert_detection.start()
                if settings.runs_enabled:
                    store = RunStore(db.pool, SystemClock())
                    app.state.runs = RunDriver(store, app.state.flights, app.state.alerts, run_settings(settings))
                    await app.state.runs.start()
                    if getattr(app.state, "live_hub", None) is not None:
                        stream_runs(store.events, app.state.live_hub)  # transitions on /ws/live
                    if settings.schedules_enabled:
                        app.state.scheduler = Scheduler(
                            db.pool,
                            app.state.runs,
                            SystemClock(),
                            instance_id=instance_id,
                            settings=scheduler_settings(settings),
                        )
                        app.state.scheduler.start()
            telemetry_bus = getattr(getattr(app.state, "telemetry", None), "bus", None)
            app.state.mqtt = await start_mqtt(settings, db.pool, telemetry_bus)
            yield
        finally:
            if getattr(app.state, "scheduler", None) is not None:
                await app.state.scheduler.close()
                app.state.scheduler = None
            if getattr(app.state, "runs", None) is not None:
                await app.state.runs.close()
                app.state.runs = None
            if getattr(app.state, "live", None) is not None:
                await app.state.live.close()
                app.state.live = app.state.live_hub = None
            if getattr(app.state, "ownership", None) is not None:
                await app.state.ownership.stop()
            if getattr(app.state, "alert_detection", None) is not None:
                await app.state.alert_detection.close()
                app.state.alert_detection = None
            if getattr(app.state, "telemetry", None) is not None:
                await app.state.telemetry.close()
                app.state.telemetry = None
            if getattr(app.state, "flights", None) is not None:
                await app.state.flights.close()
                app.state.flights = None
            if getattr(app.state, "ownership", None) is not None:
                await app.state.ownership.release()  # after the links closed: others take over now
                app.state.ownership = None
            if getattr(app.state, "mqtt", None) is not None:
                await app.state.mqtt.close()
                app.state.mqtt = None
            if getattr(app.state, "closed_loop", None) is not None:
                await app.state.closed_loop.close()
                app.state.closed_loop = None
            if getattr(app.state, "plan_pool", None) is not None:
                await app.state.plan_pool.close()
                app.state.plan_pool = None
            await db.close()

    app = FastAPI(
        title="AeroGrid",
        version="0.1.0",
        summary="Drones as aerial grid members: grids, geofences, drones, missions, live command center.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.auth_guard = AuthGuard.from_settings(settings)
    app.state.request_limits = RequestLimits.from_settings(settings)
    install_error_handlers(app)
    install_forwarding(app)  # drone-link requests answered by the instance holding the link
    app.add_middleware(BodySizeLimit, max_body_bytes=settings.max_body_bytes)
    for router in (
        health.router,
        tokens.router,
        grids.router,
        grids.communities_router,
        patrols_router,
        patrols_bulk_router,
        geofences.router,
        drones.router,
        missions.router,
        flight.router,
        telemetry.router,
        telemetry.track_router,
        alerts.router,
        workorders.router,
        detections.router,
        webhooks.router,
        stats.router,
        live.router,
        runs.router,
        schedules.router,
    ):
        app.include_router(router)
    web.install(app)  # the command-center page: /, /static, /ui/config
    return app
