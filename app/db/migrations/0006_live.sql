-- Link ownership across service instances: one lease per drone. The instance holding an unexpired
-- lease is the only one that opens the drone's link; it renews the lease every few seconds, and
-- when it dies (the lease expires) another instance takes the link over (app/services/ownership.py).
-- Times are the database's now(), so the instances' clocks never have to agree.

CREATE TABLE link_leases (
    drone_id     bigint PRIMARY KEY REFERENCES drones (id) ON DELETE CASCADE,
    instance_id  text NOT NULL CHECK (length(instance_id) BETWEEN 1 AND 200),
    expires_at   timestamptz NOT NULL,
    acquired_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX link_leases_instance_idx ON link_leases (instance_id);
