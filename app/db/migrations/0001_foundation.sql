-- The district: street -> community -> grid, geofence zones, district settings, drones, API tokens.
-- Geometry is GeoJSON (WGS-84, RFC 7946) in jsonb plus a bounding box for cheap filtering:
-- neither the embedded server nor Debian's has PostGIS, and the planning core (shapely) does the geometry.

CREATE TABLE streets (
    code        text PRIMARY KEY CHECK (code ~ '^[A-Za-z0-9._-]{1,64}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE communities (
    code        text PRIMARY KEY CHECK (code ~ '^[A-Za-z0-9._-]{1,64}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    street_code text NOT NULL REFERENCES streets (code) ON UPDATE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX communities_street_idx ON communities (street_code);

CREATE TABLE grids (
    code            text PRIMARY KEY CHECK (code ~ '^[A-Za-z0-9._-]{1,64}$'),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    community_code  text NOT NULL REFERENCES communities (code) ON UPDATE CASCADE,
    worker_name     text,
    worker_phone    text,
    boundary        jsonb NOT NULL,
    min_lon_deg     double precision NOT NULL,
    min_lat_deg     double precision NOT NULL,
    max_lon_deg     double precision NOT NULL,
    max_lat_deg     double precision NOT NULL,
    area_m2         double precision NOT NULL CHECK (area_m2 > 0),
    vertex_count    integer NOT NULL CHECK (vertex_count >= 4),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (min_lon_deg <= max_lon_deg AND min_lat_deg <= max_lat_deg)
);
CREATE INDEX grids_community_idx ON grids (community_code);

CREATE TABLE zones (
    code        text PRIMARY KEY CHECK (code ~ '^[A-Za-z0-9._-]{1,64}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind        text NOT NULL CHECK (kind IN ('inclusion', 'exclusion', 'quiet', 'no_photo', 'no_spray')),
    polygon     jsonb,
    center_lon_deg double precision CHECK (center_lon_deg BETWEEN -180 AND 180),
    center_lat_deg double precision CHECK (center_lat_deg BETWEEN -90 AND 90),
    radius_m    double precision CHECK (radius_m > 0),
    min_alt_m   double precision,
    max_alt_m   double precision,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((polygon IS NULL) = (radius_m IS NOT NULL)),
    CHECK ((radius_m IS NULL) = (center_lon_deg IS NULL) AND (radius_m IS NULL) = (center_lat_deg IS NULL)),
    CHECK (min_alt_m IS NULL OR max_alt_m IS NULL OR min_alt_m < max_alt_m)
);
CREATE INDEX zones_kind_idx ON zones (kind);

-- One row: district-wide settings.
CREATE TABLE district_settings (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    ceiling_m   double precision NOT NULL DEFAULT 120 CHECK (ceiling_m > 0 AND ceiling_m <= 1000),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO district_settings (singleton) VALUES (true);

CREATE TABLE drones (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    kind            text NOT NULL DEFAULT 'real' CHECK (kind IN ('real', 'sitl', 'sim')),
    endpoint        text NOT NULL,
    sysid           integer NOT NULL CHECK (sysid BETWEEN 1 AND 255),
    signing_key     bytea CHECK (signing_key IS NULL OR length(signing_key) = 32),
    community_code  text REFERENCES communities (code) ON UPDATE CASCADE,
    home_lon_deg    double precision NOT NULL CHECK (home_lon_deg BETWEEN -180 AND 180),
    home_lat_deg    double precision NOT NULL CHECK (home_lat_deg BETWEEN -90 AND 90),
    home_alt_m      double precision NOT NULL DEFAULT 0,
    capabilities    jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (endpoint, sysid)
);
CREATE INDEX drones_community_idx ON drones (community_code);

CREATE TABLE api_tokens (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    prefix      text NOT NULL,
    token_hash  bytea NOT NULL UNIQUE,
    role        text NOT NULL CHECK (role IN ('viewer', 'operator', 'tester', 'admin')),
    communities text[],
    created_by  bigint REFERENCES api_tokens (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at  timestamptz
);
