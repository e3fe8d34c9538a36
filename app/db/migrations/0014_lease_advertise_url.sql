-- Command routing between instances (docs/live.md "More than one instance"): each lease row names
-- the base URL its holder answers at, so an instance that does not link a drone forwards the
-- drone's commands there. NULL: a holder that advertises none (answered 503 by the others).
ALTER TABLE link_leases ADD COLUMN advertise_url text NULL
    CHECK (advertise_url IS NULL OR length(advertise_url) BETWEEN 1 AND 2000);
