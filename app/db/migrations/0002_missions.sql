-- Planned missions (a checked MissionPlan stored whole) and every upload of one to a drone.

CREATE TABLE missions (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind          text NOT NULL CHECK (kind IN ('coverage', 'perimeter', 'broadcast', 'spray', 'inspect', 'checkpoint')),
    grid_codes    text[] NOT NULL CHECK (cardinality(grid_codes) >= 1),
    communities   text[] NOT NULL,
    request       jsonb NOT NULL,
    plan          jsonb NOT NULL,
    sortie_count  integer NOT NULL CHECK (sortie_count >= 1),
    created_by    bigint REFERENCES api_tokens (id),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX missions_created_idx ON missions (created_at DESC);

CREATE TABLE drone_uploads (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    drone_id      bigint NOT NULL REFERENCES drones (id) ON DELETE CASCADE,
    mission_id    bigint REFERENCES missions (id) ON DELETE SET NULL,
    sortie        integer NOT NULL DEFAULT 0 CHECK (sortie >= 0),
    item_count    integer NOT NULL CHECK (item_count >= 0),
    status        text NOT NULL CHECK (status IN ('uploading', 'verified', 'failed')),
    verified_by   text CHECK (verified_by IN ('ack', 'download')),
    attempts      integer NOT NULL DEFAULT 0,
    error         text,
    created_by    bigint REFERENCES api_tokens (id),
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);
CREATE INDEX drone_uploads_drone_idx ON drone_uploads (drone_id, started_at DESC);
