"""Settings from the environment (prefix ``AEROGRID_``, plus ``DATABASE_URL``).

Read only through ``get_settings()`` or passed to ``create_app``: nothing reads the environment
at import time, so tests and the CLI can build their own Settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("aerogrid"))


_DETECTION_MIN_CONFIDENCE = {
    "crowd": 0.6,
    "fire_smoke": 0.5,
    "illegal_dumping": 0.6,
    "illegal_parking": 0.7,
    "group_renting": 0.7,
    "fallen_tree": 0.6,
    "blocked_fire_lane": 0.6,
}
SeverityName = Literal["info", "warning", "critical"]
_LOWEST: SeverityName = "info"
_DETECTION_SEVERITY: dict[str, SeverityName] = {
    "fire_smoke": "critical",
    "blocked_fire_lane": "critical",
    "illegal_parking": "info",
}
_WORKORDER_CHANNELS = (
    "hotline_12345",
    "grid_worker",
    "city_platform",
    "drone",
    "drone_ai",
    "inspection",
    "wechat",
    "mini_program",
    "email",
    "letters_visits",
    "leader_instruction",
    "media",
    "police_110",
    "fire_119",
    "medical_120",
    "urban_management",
    "housing",
    "environment",
    "market_supervision",
    "property_company",
    "volunteer",
    "video_ai",
    "other",
)
_WORKORDER_ALERT_RULES: dict[str, SeverityName] = dict.fromkeys(
    ("geofence_breach", "quiet_zone_broadcast", "no_photo_zone_photo"), "warning"
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AEROGRID_", extra="ignore")

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "AEROGRID_DATABASE_URL")
    )
    data_dir: Path = Field(default_factory=_default_data_dir)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    pool_min_size: int = Field(default=1, ge=0)
    pool_max_size: int = Field(default=10, ge=1)
    embedded_watch_interval_s: float = Field(
        default=1.0, gt=0, le=3600, description="How often a dead embedded PostgreSQL is looked for"
    )
    max_body_bytes: int = Field(default=20_000_000, ge=1024)
    log_json: bool = False
    load_sample_district: bool = False
    links_enabled: bool = True
    link_udp_rcvbuf_bytes: int = Field(
        default=16 << 20,
        ge=65536,
        le=1 << 30,
        description="Receive buffer asked for each UDP link (capped by net.core.rmem_max unless root; logged)",
    )
    plan_workers: int = Field(default=0, ge=0, le=64, description="0: max(1, cores - 1)")
    plan_queue_size: int = Field(default=4, ge=0, le=1000)
    plan_timeout_s: float = Field(default=20.0, gt=0, le=3600)
    plan_worker_nice: int = Field(default=10, ge=0, le=19)
    plan_max_lanes: int = Field(default=4000, ge=1)
    plan_max_hover_points: int = Field(default=300, ge=1)
    plan_max_vertices: int = Field(default=20_000, ge=1)
    plan_max_items: int = Field(default=10_000, ge=1)
    plan_max_items_per_sortie: int = Field(default=700, ge=1, le=700)
    shutdown_grace_s: float = Field(default=10.0, ge=0, le=600)
    auth_cache_ttl_s: float = Field(default=5.0, ge=0, le=60)
    auth_cache_max_entries: int = Field(default=10_000, ge=1)
    auth_fail_burst: int = Field(default=20, ge=0)
    auth_fail_refill_per_s: float = Field(default=0.5, gt=0)
    auth_fail_max_clients: int = Field(default=100_000, ge=1)
    auth_fail_hold_max_s: float = Field(default=2.0, ge=0, le=60)
    auth_fail_hold_max_waiting: int = Field(default=10_000, ge=0)
    # Request budgets (token buckets; burst 0 turns one off): far above what a person at a console
    # does, low enough that a runaway script or a stolen token cannot hammer a drone or mint tokens.
    token_create_burst: int = Field(default=30, ge=0, description="Tokens one admin token may create at once")
    token_create_refill_per_s: float = Field(default=1 / 60, gt=0, description="Then one per minute")
    token_create_address_burst: int = Field(default=60, ge=0, description="Tokens created from one address")
    token_create_address_refill_per_s: float = Field(default=2 / 60, gt=0)
    flight_command_burst: int = Field(
        default=5, ge=0, description="Moving commands one token may send one drone (or run) at once"
    )
    flight_command_refill_per_s: float = Field(default=10 / 60, gt=0, description="Then 10 per minute")
    rate_limit_max_keys: int = Field(default=100_000, ge=1, description="Buckets kept per limit")
    telemetry_enabled: bool = True
    telemetry_batch_rows: int = Field(default=5000, ge=1, le=100_000)
    telemetry_batch_ms: int = Field(default=200, ge=10, le=10_000)
    telemetry_spool_max_bytes: int = Field(default=1_000_000_000, ge=1_000_000)
    telemetry_spool_fsync_ms: int = Field(default=1000, ge=10, le=1000)
    telemetry_retention_days: int = Field(default=90, ge=1, le=3650)
    telemetry_partition_hours: int = Field(default=24, ge=1, le=24 * 31)
    telemetry_query_max_span_days: int = Field(default=31, ge=1, le=3650)
    alerts_enabled: bool = True
    alert_tick_s: float = Field(default=0.5, gt=0, le=60)
    alert_refresh_s: float = Field(default=5.0, gt=0, le=3600)
    alert_clear_hold_s: float = Field(default=1.0, ge=0, le=600)
    alert_battery_low_pct: float = Field(default=25.0, gt=0, lt=100)
    alert_battery_critical_pct: float = Field(default=15.0, gt=0, lt=100)
    alert_return_home_margin: float = Field(default=1.3, ge=1, le=10)
    alert_return_speed_mps: float = Field(default=10.0, gt=0, le=40)
    alert_link_lost_s: float = Field(default=5.0, gt=0, le=600)
    alert_gps_min_satellites: int = Field(default=6, ge=0, le=50)
    alert_gps_max_hdop: float = Field(default=2.5, gt=0, le=100)
    alert_ekf_max_variance: float = Field(default=0.8, gt=0, le=10)
    alert_deviation_m: float = Field(default=20.0, gt=0, le=10_000)
    alert_deviation_s: float = Field(default=5.0, ge=0, le=3600)
    alert_stall_s: float = Field(default=120.0, gt=0, le=86_400)
    alert_statustext_hold_s: float = Field(default=30.0, ge=0, le=3600)
    alert_photo_hold_s: float = Field(default=30.0, ge=0, le=3600)
    alert_commanded_window_s: float = Field(default=10.0, gt=0, le=600)
    alert_quiet_earshot_m: float = Field(default=50.0, ge=0, le=5000)
    runs_enabled: bool = True
    run_separation_horizontal_m: float = Field(default=50.0, gt=0, le=10_000)
    run_separation_vertical_m: float = Field(default=20.0, gt=0, le=1000)
    run_max_layers: int = Field(default=3, ge=0, le=20)
    run_min_alt_m: float = Field(default=15.0, ge=0, le=1000)
    run_delay_step_s: float = Field(default=60.0, gt=0, le=86_400)
    run_max_delay_s: float = Field(default=1800.0, ge=0, le=86_400)
    run_battery_reserve_pct: float = Field(default=20.0, ge=0, lt=100)
    run_progress_s: float = Field(default=1.0, gt=0, le=60)
    run_adopt_s: float = Field(default=2.0, gt=0, le=600)
    schedules_enabled: bool = True
    schedule_tick_s: float = Field(default=5.0, gt=0, le=3600)
    schedule_misfire_s: float = Field(default=900.0, gt=0, le=86_400)
    schedule_min_interval_s: float = Field(default=900.0, ge=1, le=86_400)
    schedule_default_tz: str = "Asia/Shanghai"
    live_enabled: bool = True
    live_state_hz: float = Field(default=5.0, gt=0, le=50, description="Coalesced states per drone per second")
    live_max_events: int = Field(default=1000, ge=10, le=1_000_000)
    live_notify: bool = Field(default=True, description="Relay live updates to other instances (NOTIFY)")
    link_leases: bool = Field(default=False, description="Own drone links by lease (several instances)")
    instance_id: str | None = Field(default=None, min_length=1, max_length=200)
    link_lease_s: float = Field(default=6.0, ge=1, le=600)
    link_renew_s: float = Field(default=2.0, gt=0, le=300)
    advertise_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^/?#\s]+$",
        description="The base URL other instances reach this one at (command routing, docs/live.md); "
        "default http://127.0.0.1:<port> when bound to loopback, required otherwise with leases on",
    )
    forward_timeout_s: float = Field(default=60.0, gt=0, le=600, description="A routed request's answer")
    forward_connect_s: float = Field(default=2.0, gt=0, le=60, description="Reaching the link holder")

    # Work orders, detections and outbound events (docs/workorders.md).
    detection_min_confidence: dict[str, float] = Field(
        default_factory=lambda: dict(_DETECTION_MIN_CONFIDENCE),
        description="The detection type catalogue: type -> lowest confidence accepted",
    )
    detection_severity: dict[str, SeverityName] = Field(
        default_factory=lambda: dict(_DETECTION_SEVERITY), description="type -> severity; others: warning"
    )
    detection_join_radius_m: float = Field(default=50.0, gt=0, le=10_000)
    detection_join_window_s: float = Field(default=1800.0, gt=0, le=7 * 86_400)
    detection_max_outside_m: float = Field(default=2000.0, ge=0, le=100_000)
    detection_image_max_bytes: int = Field(default=5_000_000, ge=1024, le=50_000_000)
    workorder_channels: list[str] = Field(default_factory=lambda: list(_WORKORDER_CHANNELS))
    workorder_alert_rules: dict[str, SeverityName] = Field(
        default_factory=lambda: dict(_WORKORDER_ALERT_RULES),
        description="alert type -> lowest severity that opens a work order",
    )
    workorder_detection_rules: dict[str, SeverityName] = Field(
        default_factory=lambda: dict.fromkeys(_DETECTION_MIN_CONFIDENCE, _LOWEST),
        description="detection type -> lowest severity that opens a work order",
    )
    workorder_warn_share: float = Field(default=0.8, gt=0, lt=1)
    workorder_escalate_share: float = Field(default=1.5, gt=1, le=100)
    workorder_check_s: float = Field(default=30.0, gt=0, le=3600)
    webhook_timeout_s: float = Field(default=5.0, gt=0, le=120)
    webhook_max_attempts: int = Field(default=10, ge=1, le=100)
    webhook_backoff_s: float = Field(default=1.0, gt=0, le=3600)
    webhook_backoff_max_s: float = Field(default=300.0, gt=0, le=86_400)
    webhook_poll_s: float = Field(default=1.0, gt=0, le=60)
    mqtt_url: str | None = Field(default=None, description="mqtt://host[:port]; unset: no MQTT publishing")
    mqtt_topic_prefix: str = Field(default="aerogrid", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    mqtt_sample_interval_s: float = Field(
        default=1.0, ge=0, le=3600, description="Per drone, at most one sample per interval"
    )

    # The command-center page (docs/command-center.md).
    tile_url: str | None = Field(
        default=None,
        max_length=2000,
        description="Base-map tile URL template with {z}, {x}, {y} (an internal tile server); unset: no base map",
    )
    tile_crs: Literal["wgs84", "gcj02"] = Field(
        default="wgs84", description="Datum the tiles are drawn in; gcj02 (Amap, Tencent) shifts what the page draws"
    )
    tile_attribution: str = Field(default="", max_length=300)
    ui_patrol_fresh_h: float = Field(
        default=24.0, gt=0, le=24 * 90, description="A grid patrolled within this many hours is 'patrolled'"
    )

    @field_validator("tile_url")
    @classmethod
    def _tile_template(cls, url: str | None) -> str | None:
        """A template the page can fill: http(s) or same-origin path, with every placeholder, no spaces."""
        if url is None or url == "":
            return None
        if not url.startswith(("http://", "https://", "/")) or any(c.isspace() for c in url):
            raise ValueError("tile_url must be an http(s):// URL or a path starting with /, without spaces")
        missing = [p for p in ("{z}", "{x}", "{y}") if p not in url]
        if missing:
            raise ValueError(f"tile_url lacks {', '.join(missing)}")
        return url

    @property
    def embedded_pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def telemetry_spool_dir(self) -> Path:
        return self.data_dir / "spool"


def get_settings() -> Settings:
    return Settings()
