-- Grid patrols: what the camera actually saw of a grid on one flight (one verified upload), derived
-- from the stored telemetry samples by app/services/patrols.py. One row per (grid, upload): a flight
-- still in the air is recomputed on the next read and its row replaced; once it has ended
-- (`final`) the row is kept as it is. No foreign key to telemetry: samples expire, patrols stay.

CREATE TABLE grid_patrols (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    grid_code       text NOT NULL REFERENCES grids (code) ON DELETE CASCADE,
    upload_id       bigint NOT NULL REFERENCES drone_uploads (id) ON DELETE CASCADE,
    drone_id        bigint NOT NULL,
    mission_id      bigint,
    sortie          integer NOT NULL CHECK (sortie >= 0),
    started_at      timestamptz NOT NULL,
    ended_at        timestamptz NOT NULL CHECK (ended_at >= started_at),
    samples         integer NOT NULL CHECK (samples >= 0),
    camera_samples  integer NOT NULL CHECK (camera_samples >= 0),
    grid_m2         double precision NOT NULL CHECK (grid_m2 > 0),
    seen_m2         double precision NOT NULL CHECK (seen_m2 >= 0),
    seen_share      double precision NOT NULL CHECK (seen_share BETWEEN 0 AND 1),
    unseen          jsonb NOT NULL,             -- GeoJSON geometry (WGS-84), empty MultiPolygon when all seen
    alt_band_m      double precision NOT NULL CHECK (alt_band_m > 0),
    final           boolean NOT NULL,
    computed_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (grid_code, upload_id)
);
CREATE INDEX grid_patrols_grid_idx ON grid_patrols (grid_code, ended_at DESC);
