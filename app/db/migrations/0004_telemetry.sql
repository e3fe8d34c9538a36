-- Telemetry: position samples (partitioned by time) and vehicle events, written in batches by
-- app/telemetry. The service creates the range partitions ahead of need in the schema
-- telemetry_parts (so they never show in the reviewed public schema) and drops expired ones.
-- No foreign key to drones: history outlives a registration, and a key check per row would
-- slow the batched COPY; ingest only accepts messages of registered drones.

CREATE SCHEMA IF NOT EXISTS telemetry_parts;

CREATE TABLE telemetry_samples (
    time            timestamptz NOT NULL,
    drone_id        bigint NOT NULL,
    boot_id         bigint NOT NULL,            -- the vehicle's boot start, unix ms
    time_boot_ms    bigint NOT NULL CHECK (time_boot_ms >= 0),
    grid_code       text,
    upload_id       bigint,
    mission_id      bigint,
    sortie          integer,
    lat_deg         double precision NOT NULL CHECK (lat_deg BETWEEN -90 AND 90),
    lon_deg         double precision NOT NULL CHECK (lon_deg BETWEEN -180 AND 180),
    alt_amsl_m      double precision NOT NULL,
    alt_rel_m       double precision NOT NULL,
    groundspeed_mps double precision,
    climb_mps       double precision,
    heading_deg     double precision,
    battery_pct     smallint,
    voltage_v       double precision,
    current_a       double precision,
    mode            text,
    armed           boolean NOT NULL,
    gps_fix_type    smallint,
    satellites      smallint,
    hdop            double precision,
    mission_seq     integer,
    received_at     timestamptz NOT NULL,
    UNIQUE (drone_id, boot_id, time_boot_ms, time)
) PARTITION BY RANGE (time);
CREATE INDEX telemetry_samples_drone_time_idx ON telemetry_samples (drone_id, time);
CREATE INDEX telemetry_samples_grid_time_idx ON telemetry_samples (grid_code, time);

CREATE TABLE telemetry_events (
    time            timestamptz NOT NULL,
    drone_id        bigint NOT NULL,
    boot_id         bigint NOT NULL,
    seq             bigint NOT NULL,            -- per drone and boot, in arrival order
    kind            text NOT NULL CHECK (kind IN
                        ('mode', 'armed', 'statustext', 'mission_current', 'mission_reached', 'home', 'failsafe')),
    text            text NOT NULL,
    severity        smallint,
    value           bigint,
    lat_deg         double precision,
    lon_deg         double precision,
    PRIMARY KEY (drone_id, boot_id, seq)
);
CREATE INDEX telemetry_events_time_idx ON telemetry_events (time);
