-- One (link, system id) pair belongs to one registered drone only, however the endpoint is spelt.
-- The service stores endpoints in canonical form (app/link/transport.py); drone_link_key names the
-- socket a canonical endpoint reaches: every udpin on one local port is one socket whatever the bind
-- address, and udpout/tcp to a loopback or unspecified address reach the same local port. It must
-- agree with Endpoint.link_key. The unique index holds under concurrent registrations.
--
-- Rows registered before this migration may already duplicate a link (the same drone registered
-- twice under two spellings, the way a community-scoped token could take over another's drone):
-- the later registration of each pair is blocked (never linked) rather than deleted, and the
-- service's start-up pass blocks the ones that only collide once their endpoints are canonical.

CREATE FUNCTION drone_link_key(endpoint text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
        SELECT CASE
            WHEN endpoint ~ '^udpin:.*:[0-9]+$'
                THEN 'udpin:*:' || substring(endpoint FROM ':([0-9]+)$')
            WHEN endpoint ~ '^(udpout|tcp):(127\.[0-9]+\.[0-9]+\.[0-9]+|0\.0\.0\.0|\[::1?\]):[0-9]+$'
                THEN regexp_replace(endpoint, '^(udpout|tcp):.*:([0-9]+)$', '\1:local:\2')
            ELSE endpoint
        END
    $$;

ALTER TABLE drones ADD COLUMN link_blocked boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN drones.link_blocked IS
    'true: this registration duplicates an earlier drone''s (link, sysid) and is never linked until its endpoint or sysid changes';

UPDATE drones d SET link_blocked = true
WHERE EXISTS (
    SELECT 1 FROM drones e
    WHERE e.id < d.id AND e.sysid = d.sysid AND drone_link_key(e.endpoint) = drone_link_key(d.endpoint)
);

-- Superseded by the index below; a blocked row must not keep its canonical twin from being stored.
ALTER TABLE drones DROP CONSTRAINT drones_endpoint_sysid_key;
CREATE UNIQUE INDEX drones_link_sysid_key ON drones (drone_link_key(endpoint), sysid) WHERE NOT link_blocked;
