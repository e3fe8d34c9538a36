-- Schedules: a mission flown once at a time or by an RFC 5545 RRULE in a time zone, within flight
-- windows, never on blackout dates, and (broadcasts) never in quiet hours. Each occurrence is a row
-- with a unique (schedule, due time): instances claim due rows with FOR UPDATE SKIP LOCKED, and the
-- unique keys (here and on mission_runs) make a second firing impossible rather than unlikely.

CREATE TABLE schedules (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    mission_id      bigint NOT NULL REFERENCES missions (id) ON DELETE CASCADE,
    drone_id        bigint REFERENCES drones (id) ON DELETE SET NULL,
    start_at        timestamptz NOT NULL,
    rrule           text CHECK (length(rrule) <= 1000),
    tz              text NOT NULL,
    window_start    time,
    window_end      time,
    blackout_dates  date[] NOT NULL DEFAULT '{}',
    quiet_start     time,
    quiet_end       time,
    enabled         boolean NOT NULL DEFAULT true,
    sim_only        boolean NOT NULL DEFAULT false,
    created_by      bigint REFERENCES api_tokens (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((window_start IS NULL) = (window_end IS NULL) AND window_end > window_start),
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL))
);

CREATE TABLE schedule_occurrences (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    schedule_id     bigint NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    due_at          timestamptz NOT NULL,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'fired', 'skipped')),
    run_id          bigint REFERENCES mission_runs (id) ON DELETE SET NULL,
    reason          text CHECK (length(reason) <= 1000),
    handled_at      timestamptz,
    handled_by      text,
    UNIQUE (schedule_id, due_at)
);
CREATE INDEX schedule_occurrences_pending_idx ON schedule_occurrences (due_at) WHERE state = 'pending';

ALTER TABLE mission_runs
    ADD CONSTRAINT mission_runs_schedule_fkey FOREIGN KEY (schedule_id) REFERENCES schedules (id) ON DELETE SET NULL;
CREATE UNIQUE INDEX mission_runs_one_per_occurrence ON mission_runs (schedule_id, occurrence_at)
    WHERE schedule_id IS NOT NULL;
