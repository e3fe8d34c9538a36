-- The closed loop: detections (what a drone's AI or a person saw), their grouping into detection
-- alerts, and work orders from every channel with their history and SLA (app/services/workorders.py,
-- detections.py). The outbox that announces their changes is 0009_outbox.sql.

-- One open detection alert per type and place: detections of a type within a radius and a time
-- window of its last detection join it (detection_count) instead of opening another.
CREATE TABLE detection_alerts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type            text NOT NULL CHECK (type ~ '^[a-z0-9_]{1,64}$'),
    severity        text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    state           text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
    grid_code       text,
    community_code  text,
    lat_deg         double precision NOT NULL CHECK (lat_deg BETWEEN -90 AND 90),
    lon_deg         double precision NOT NULL CHECK (lon_deg BETWEEN -180 AND 180),
    detection_count integer NOT NULL DEFAULT 1 CHECK (detection_count >= 1),
    first_seen_at   timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (last_seen_at >= first_seen_at)
);
CREATE INDEX detection_alerts_open_idx ON detection_alerts (type, last_seen_at DESC) WHERE state = 'open';

CREATE TABLE detections (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key text NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    type            text NOT NULL CHECK (type ~ '^[a-z0-9_]{1,64}$'),
    source          text NOT NULL CHECK (source IN ('onboard_ai', 'ground_ai', 'person')),
    confidence      double precision NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    detected_at     timestamptz NOT NULL,
    position        jsonb NOT NULL,
    lat_deg         double precision NOT NULL CHECK (lat_deg BETWEEN -90 AND 90),
    lon_deg         double precision NOT NULL CHECK (lon_deg BETWEEN -180 AND 180),
    grid_code       text,
    community_code  text,
    drone_id        bigint REFERENCES drones (id) ON DELETE SET NULL,
    upload_id       bigint,
    image_url       text CHECK (length(image_url) <= 2000),
    image_file      text CHECK (image_file ~ '^[0-9a-f]{64}\.(jpg|png)$'),
    image_type      text CHECK (image_type IN ('image/jpeg', 'image/png')),
    note            text CHECK (length(note) <= 2000),
    alert_id        bigint NOT NULL REFERENCES detection_alerts (id) ON DELETE CASCADE,
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (image_url IS NULL OR image_file IS NULL),
    CHECK ((image_file IS NULL) = (image_type IS NULL))
);
CREATE INDEX detections_alert_idx ON detections (alert_id);
CREATE INDEX detections_community_idx ON detections (community_code, detected_at DESC);

-- Due time per type and severity; type '*' is the default for types without a row of their own.
CREATE TABLE work_order_sla (
    type        text NOT NULL CHECK (type = '*' OR type ~ '^[a-z0-9_]{1,64}$'),
    severity    text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    due_s       integer NOT NULL CHECK (due_s BETWEEN 60 AND 31536000),
    PRIMARY KEY (type, severity)
);
INSERT INTO work_order_sla (type, severity, due_s) VALUES
    ('*', 'critical', 4 * 3600), ('*', 'warning', 24 * 3600), ('*', 'info', 72 * 3600),
    ('fire_smoke', 'critical', 3600), ('blocked_fire_lane', 'warning', 2 * 3600);

CREATE TABLE work_orders (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel         text NOT NULL CHECK (channel ~ '^[a-z0-9_]{1,64}$'),
    external_ref    text CHECK (length(external_ref) BETWEEN 1 AND 200),
    type            text NOT NULL CHECK (type ~ '^[a-z0-9_]{1,64}$'),
    severity        text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    title           text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description     text NOT NULL DEFAULT '' CHECK (length(description) <= 5000),
    state           text NOT NULL CHECK (state IN (
                        'open', 'assigned', 'in_progress', 'resolved', 'closed', 'reopened', 'cancelled')),
    grid_code       text,
    community_code  text,
    street_code     text,
    lat_deg         double precision CHECK (lat_deg BETWEEN -90 AND 90),
    lon_deg         double precision CHECK (lon_deg BETWEEN -180 AND 180),
    assignee_kind   text CHECK (assignee_kind IN ('worker', 'department')),
    assignee_name   text CHECK (length(assignee_name) BETWEEN 1 AND 200),
    assignee_phone  text CHECK (length(assignee_phone) <= 50),
    detection_alert_id bigint REFERENCES detection_alerts (id) ON DELETE SET NULL,
    alert_id        bigint REFERENCES alerts (id) ON DELETE SET NULL,
    drone_id        bigint REFERENCES drones (id) ON DELETE SET NULL,
    feedback        text CHECK (length(feedback) <= 5000),
    feedback_photos jsonb NOT NULL DEFAULT '[]'::jsonb,
    cancel_reason   text CHECK (length(cancel_reason) <= 2000),
    opened_at       timestamptz NOT NULL,
    due_at          timestamptz NOT NULL,
    warned_at       timestamptz,
    overdue_at      timestamptz,
    escalated_at    timestamptz,
    resolved_at     timestamptz,
    closed_at       timestamptz,
    cancelled_at    timestamptz,
    updated_at      timestamptz NOT NULL,
    created_by      text NOT NULL,
    CHECK (due_at > opened_at),
    CHECK ((assignee_kind IS NULL) = (assignee_name IS NULL))
);
-- Idempotency of inbound orders: one order per (channel, external_ref), whoever sends it first.
CREATE UNIQUE INDEX work_orders_channel_ref ON work_orders (channel, external_ref) WHERE external_ref IS NOT NULL;
CREATE INDEX work_orders_due_idx ON work_orders (due_at) WHERE state NOT IN ('closed', 'cancelled');
CREATE INDEX work_orders_community_idx ON work_orders (community_code, opened_at DESC);
CREATE INDEX work_orders_opened_idx ON work_orders (opened_at DESC);

CREATE TABLE work_order_history (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    work_order_id   bigint NOT NULL REFERENCES work_orders (id) ON DELETE CASCADE,
    action          text NOT NULL,
    from_state      text,
    to_state        text NOT NULL,
    actor           text NOT NULL,
    reason          text CHECK (length(reason) <= 2000),
    details         jsonb NOT NULL DEFAULT '{}'::jsonb,
    at              timestamptz NOT NULL
);
CREATE INDEX work_order_history_order_idx ON work_order_history (work_order_id, id);
