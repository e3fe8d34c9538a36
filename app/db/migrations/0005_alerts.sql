-- Alerts raised by the telemetry detectors (app/telemetry/detectors) and their lifecycle:
-- open -> cleared, acknowledged independently by an operator. One open alert per condition
-- (drone, type, condition key) is enforced here, not only in the service, so two instances or a
-- restart can never open a second one: the service upserts against the partial unique index.

CREATE TABLE alerts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    drone_id        bigint NOT NULL REFERENCES drones (id) ON DELETE CASCADE,
    type            text NOT NULL CHECK (type IN (
                        'geofence_breach', 'battery_low', 'battery_return_home', 'link_lost',
                        'gps_degraded', 'ekf_unhealthy', 'route_deviation', 'unexpected_mode',
                        'autopilot_message', 'mission_stalled', 'quiet_zone_broadcast', 'no_photo_zone_photo')),
    condition_key   text NOT NULL DEFAULT '' CHECK (length(condition_key) <= 200),
    severity        text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    state           text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'cleared')),
    message         text NOT NULL CHECK (length(message) BETWEEN 1 AND 500),
    evidence        jsonb NOT NULL DEFAULT '{}'::jsonb,
    clear_evidence  jsonb,
    grid_code       text,
    community_code  text,
    upload_id       bigint,
    mission_id      bigint,
    sortie          integer,
    lat_deg         double precision CHECK (lat_deg BETWEEN -90 AND 90),
    lon_deg         double precision CHECK (lon_deg BETWEEN -180 AND 180),
    alt_rel_m       double precision,
    opened_at       timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    update_count    integer NOT NULL DEFAULT 0 CHECK (update_count >= 0),
    cleared_at      timestamptz,
    acked_at        timestamptz,
    acked_by        bigint REFERENCES api_tokens (id) ON DELETE SET NULL,
    acked_by_name   text,
    CHECK ((state = 'cleared') = (cleared_at IS NOT NULL)),
    CHECK (cleared_at IS NULL OR cleared_at >= opened_at),
    CHECK ((acked_at IS NULL) = (acked_by_name IS NULL))
);
CREATE UNIQUE INDEX alerts_one_open_per_condition ON alerts (drone_id, type, condition_key) WHERE state = 'open';
CREATE INDEX alerts_opened_idx ON alerts (opened_at DESC);
CREATE INDEX alerts_grid_idx ON alerts (grid_code, opened_at DESC);
CREATE INDEX alerts_community_idx ON alerts (community_code, opened_at DESC);
CREATE INDEX alerts_drone_idx ON alerts (drone_id, opened_at DESC);
