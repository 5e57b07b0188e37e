-- The daemon's jobs (SPEC §7): one row per job and scheduled slot (the firing time of its cron
-- expression, ms since the epoch). A process runs a slot only after inserting its row, or taking
-- it over once the lease of a process that died has run out: however many replicas share the
-- store, a slot runs once. The last finished slot of a job tells a restarted daemon what it
-- missed while it was down.
CREATE TABLE job_runs (
    job TEXT NOT NULL,
    slot BIGINT NOT NULL,
    owner TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    lease_until BIGINT NOT NULL,
    finished_at BIGINT,
    -- ok | failed
    outcome TEXT,
    detail TEXT,
    PRIMARY KEY (job, slot)
);
-- The runs under way (or left unfinished by a process that died), read on every tick.
CREATE INDEX job_runs_unfinished ON job_runs (job, slot) WHERE finished_at IS NULL;
