"""Starting and stopping the closed loop in the lifespan: the work-order and detection services,
the alert -> work-order rules, the periodic SLA check and the webhook delivery worker.

Kept in one place so the application factory needs one call to start it and one to stop it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import asyncpg

from app.config import Settings
from app.services.alerts import AlertEvent, AlertSink
from app.services.detections import SEVERITY_RANK, DetectionRules, DetectionService
from app.services.mqtt import MqttPublisher
from app.services.outbox import Backoff, DeliveryWorker
from app.services.workorders import DueChecker, DueMarks, OrderRequest, WorkOrderService
from app.telemetry.bus import TelemetryBus

log = logging.getLogger(__name__)


@dataclass(slots=True)
class AlertRules:
    """Opens a work order (channel ``drone``, external_ref ``alert:<id>``, so never twice) for every
    newly opened detector alert whose type a rule names at or above the rule's severity."""

    service: WorkOrderService
    rules: dict[str, str]
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def __call__(self, event: AlertEvent) -> None:
        alert = event.alert
        rule = self.rules.get(str(alert["type"]))
        if event.kind != "opened" or rule is None:
            return
        if SEVERITY_RANK[str(alert["severity"])] < SEVERITY_RANK[rule]:
            return
        task = asyncio.create_task(self._open(alert))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _open(self, alert: dict[str, object]) -> None:
        position = alert.get("position")
        lon = lat = None
        if isinstance(position, dict):
            lon, lat = position.get("lon_deg"), position.get("lat_deg")
        req = OrderRequest(
            channel="drone",
            external_ref=f"alert:{alert['id']}",
            type=str(alert["type"]),
            severity=str(alert["severity"]),
            title=str(alert["message"])[:200],
            grid_code=alert.get("grid_code") if isinstance(alert.get("grid_code"), str) else None,  # type: ignore[arg-type]
            lon_deg=lon if isinstance(lon, float) else None,
            lat_deg=lat if isinstance(lat, float) else None,
            drone_id=alert["drone_id"] if isinstance(alert.get("drone_id"), int) else None,  # type: ignore[arg-type]
            alert_id=alert["id"] if isinstance(alert.get("id"), int) else None,  # type: ignore[arg-type]
        )
        try:
            async with self.service.pool.acquire() as conn, conn.transaction():
                await self.service.open_in(conn, req, actor="system", principal=None)
        except Exception:
            log.exception("opening the work order of alert %s failed", alert.get("id"))

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


@dataclass(slots=True)
class ClosedLoop:
    workorders: WorkOrderService
    detections: DetectionService
    due_checker: DueChecker
    webhooks: DeliveryWorker
    alert_rules: AlertRules
    _unsubscribe: object = None

    async def close(self) -> None:
        if callable(self._unsubscribe):
            self._unsubscribe()
        await self.alert_rules.drain()
        await self.webhooks.close()
        await self.due_checker.close()


def start_closed_loop(settings: Settings, pool: asyncpg.Pool, alert_sink: AlertSink) -> ClosedLoop:
    workorders = WorkOrderService(
        pool,
        channels=settings.workorder_channels,
        max_outside_m=settings.detection_max_outside_m,
        marks=DueMarks(
            warn_share=settings.workorder_warn_share, escalate_share=settings.workorder_escalate_share
        ),
    )
    detections = DetectionService(
        pool,
        DetectionRules(
            min_confidence=settings.detection_min_confidence,
            severity=dict(settings.detection_severity),
            order_rules=dict(settings.workorder_detection_rules),
            join_radius_m=settings.detection_join_radius_m,
            join_window_s=settings.detection_join_window_s,
            max_outside_m=settings.detection_max_outside_m,
            image_max_bytes=settings.detection_image_max_bytes,
        ),
        workorders,
    )
    due_checker = DueChecker(workorders, settings.workorder_check_s)
    webhooks = DeliveryWorker(
        pool,
        backoff=Backoff(
            base_s=settings.webhook_backoff_s,
            max_s=settings.webhook_backoff_max_s,
            max_attempts=settings.webhook_max_attempts,
        ),
        timeout_s=settings.webhook_timeout_s,
        poll_s=settings.webhook_poll_s,
    )
    rules = AlertRules(workorders, dict(settings.workorder_alert_rules))
    loop = ClosedLoop(workorders, detections, due_checker, webhooks, rules)
    loop._unsubscribe = alert_sink.subscribe(rules)
    due_checker.start()
    webhooks.start()
    return loop


async def start_mqtt(
    settings: Settings, pool: asyncpg.Pool, bus: TelemetryBus | None
) -> MqttPublisher | None:
    """The MQTT publisher when ``AEROGRID_MQTT_URL`` is set (samples only when telemetry runs)."""
    if not settings.mqtt_url:
        return None
    publisher = MqttPublisher(
        settings.mqtt_url,
        settings.mqtt_topic_prefix,
        pool,
        bus,
        sample_interval_s=settings.mqtt_sample_interval_s,
    )
    await publisher.start()
    return publisher
