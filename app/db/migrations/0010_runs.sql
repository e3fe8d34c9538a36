-- Mission runs: a stored mission flown by the service itself, sortie after sortie, with every
-- state change kept (time, actor, reason). A drone carries at most one active run: the partial
-- unique index below holds that across instances, not only in one process's memory.

CREATE TABLE mission_runs (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mission_id      bigint NOT NULL REFERENCES missions (id) ON DELETE CASCADE,
    drone_id        bigint REFERENCES drones (id) ON DELETE SET NULL,
    schedule_id     bigint,
    occurrence_at   timestamptz,
    state           text NOT NULL CHECK (state IN (
                        'planned', 'scheduled', 'dispatching', 'uploading', 'ready', 'running', 'paused',
                        'returning', 'landed', 'waiting', 'completed', 'aborted', 'failed', 'skipped')),
    sortie          integer NOT NULL DEFAULT 0 CHECK (sortie >= 0),
    sortie_count    integer NOT NULL CHECK (sortie_count >= 1),
    upload_id       bigint REFERENCES drone_uploads (id) ON DELETE SET NULL,
    current_seq     integer CHECK (current_seq >= 0),
    item_count      integer CHECK (item_count >= 0),
    progress_pct    double precision CHECK (progress_pct BETWEEN 0 AND 100),
    eta_s           double precision CHECK (eta_s >= 0),
    alt_offset_m    double precision NOT NULL DEFAULT 0,
    sim_only        boolean NOT NULL DEFAULT false,
    not_before      timestamptz,
    reason          text CHECK (length(reason) <= 1000),
    created_by      bigint REFERENCES api_tokens (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (sortie < sortie_count)
);
CREATE UNIQUE INDEX mission_runs_one_active_per_drone ON mission_runs (drone_id)
    WHERE state IN ('dispatching', 'uploading', 'ready', 'running', 'paused', 'returning', 'landed', 'waiting');
CREATE INDEX mission_runs_state_idx ON mission_runs (state);
CREATE INDEX mission_runs_schedule_idx ON mission_runs (schedule_id, occurrence_at);

CREATE TABLE run_transitions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      bigint NOT NULL REFERENCES mission_runs (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL,
    from_state  text,
    to_state    text NOT NULL,
    sortie      integer NOT NULL,
    actor       text NOT NULL CHECK (length(actor) BETWEEN 1 AND 200),
    reason      text CHECK (length(reason) <= 1000)
);
CREATE INDEX run_transitions_run_idx ON run_transitions (run_id, id);

-- A skipped or failed run raises an alert on its drone.
ALTER TABLE alerts DROP CONSTRAINT alerts_type_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_type_check CHECK (type IN (
    'geofence_breach', 'battery_low', 'battery_return_home', 'link_lost',
    'gps_degraded', 'ekf_unhealthy', 'route_deviation', 'unexpected_mode',
    'autopilot_message', 'mission_stalled', 'quiet_zone_broadcast', 'no_photo_zone_photo',
    'run_skipped', 'run_failed'));
