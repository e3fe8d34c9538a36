-- The transactional outbox (app/services/outbox.py): every work-order and alert event is a row of
-- outbox_events written in the same transaction as the change it announces (for the detector
-- alerts, written by app/services/alerts.py, a trigger does it), fanned out by a trigger to one
-- delivery per matching webhook subscription, which the delivery worker sends and retries.

CREATE TABLE webhook_subscriptions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url         text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2000),
    event_types text[] NOT NULL CHECK (cardinality(event_types) >= 1),
    secret      text NOT NULL CHECK (length(secret) BETWEEN 16 AND 200),
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Every work-order and alert event, in commit order per aggregate (id order within one order).
CREATE TABLE outbox_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    event_type      text NOT NULL,
    aggregate       text NOT NULL,
    community_code  text,
    payload         jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_events_aggregate_idx ON outbox_events (aggregate, id);

-- One delivery per (subscription, event), created with the event by the trigger below.
CREATE TABLE webhook_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id bigint NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    event_row       bigint NOT NULL REFERENCES outbox_events (id) ON DELETE CASCADE,
    aggregate       text NOT NULL,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    delivered_at    timestamptz,
    UNIQUE (subscription_id, event_row)
);
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_order_idx ON webhook_deliveries (subscription_id, aggregate, event_row)
    WHERE state = 'pending';

CREATE FUNCTION outbox_fan_out() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_deliveries (subscription_id, event_row, aggregate)
    SELECT s.id, NEW.id, NEW.aggregate FROM webhook_subscriptions s
    WHERE NEW.event_type = ANY (s.event_types) OR '*' = ANY (s.event_types);
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_events_fan_out AFTER INSERT ON outbox_events
    FOR EACH ROW EXECUTE FUNCTION outbox_fan_out();

-- Detector alerts are written by the alert service; their outbox rows come from this trigger so
-- they share the change's transaction without that service knowing about webhooks.
CREATE FUNCTION alerts_to_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    kind text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        kind := 'alert.opened';
    ELSIF NEW.state = 'cleared' AND OLD.state = 'open' THEN
        kind := 'alert.cleared';
    ELSIF NEW.acked_at IS NOT NULL AND OLD.acked_at IS NULL THEN
        kind := 'alert.acked';
    ELSE
        RETURN NULL;
    END IF;
    INSERT INTO outbox_events (event_type, aggregate, community_code, payload)
    VALUES (kind, 'alert:' || NEW.id, NEW.community_code, jsonb_build_object(
        'id', NEW.id, 'type', NEW.type, 'severity', NEW.severity, 'state', NEW.state,
        'message', NEW.message, 'drone_id', NEW.drone_id, 'grid_code', NEW.grid_code,
        'community_code', NEW.community_code, 'lat_deg', NEW.lat_deg, 'lon_deg', NEW.lon_deg,
        'opened_at', NEW.opened_at, 'cleared_at', NEW.cleared_at, 'acked_at', NEW.acked_at));
    RETURN NULL;
END $$;
CREATE TRIGGER alerts_outbox AFTER INSERT OR UPDATE ON alerts
    FOR EACH ROW EXECUTE FUNCTION alerts_to_outbox();
