-- Uploaded images live in PostgreSQL, not in the data directory of the instance that received them, so
-- every instance on the database serves every image (issues 12 and 13). Content-addressed: one row per
-- distinct image, shared by the detections that carry it; the checks keep a row true to its bytes.
CREATE TABLE images (
    sha256       text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    content_type text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png')),
    size_bytes   integer NOT NULL CHECK (size_bytes BETWEEN 1 AND 50000000),
    data         bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (octet_length(data) = size_bytes),
    CHECK (sha256 = encode(sha256(data), 'hex'))
);

-- image_file now only names a file an older version wrote under <data dir>/detections: each instance
-- moves the files it holds into images when it starts (app/services/legacy_images.py), which sets
-- image_sha256 and clears image_file. New detections never set image_file.
ALTER TABLE detections ADD COLUMN image_sha256 text REFERENCES images (sha256);
ALTER TABLE detections DROP CONSTRAINT detections_check;
ALTER TABLE detections DROP CONSTRAINT detections_check1;
ALTER TABLE detections ADD CONSTRAINT detections_one_image_check
    CHECK (num_nonnulls(image_url, image_file, image_sha256) <= 1);
ALTER TABLE detections ADD CONSTRAINT detections_image_type_present_check
    CHECK ((image_file IS NULL AND image_sha256 IS NULL) = (image_type IS NULL));
CREATE INDEX detections_image_file_idx ON detections (image_file) WHERE image_file IS NOT NULL;
