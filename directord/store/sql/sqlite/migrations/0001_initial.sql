-- Job definitions: from config.yaml (managed_by = 'config') or made in the web (managed_by = 'store').
-- version counts every change of the definition; runs record the version they ran with.
CREATE TABLE jobs (
    name            TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    definition      TEXT NOT NULL,          -- the job's config as JSON (interval, settings, ...)
    managed_by      TEXT NOT NULL DEFAULT 'config',
    version         INTEGER NOT NULL DEFAULT 1,
    created         REAL NOT NULL,
    updated         REAL NOT NULL
);

-- What the scheduler needs to know between runs; written only when a run finishes.
CREATE TABLE job_state (
    job             TEXT PRIMARY KEY,
    last_attempt    REAL,                   -- start of the last run
    last_finished   REAL,
    last_success    REAL,
    last_result     TEXT,                   -- the state of the last run
    last_error      TEXT,
    last_run_id     INTEGER,
    failures        INTEGER NOT NULL DEFAULT 0   -- consecutive failures, for retries
);

-- Every run is a row, written before the job starts (state 'running') and finished after.
-- UNIQUE(job, scheduled_for) is the claim: in a cluster only one node's insert wins.
CREATE TABLE runs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    job             TEXT NOT NULL,
    kind            TEXT NOT NULL,
    node            TEXT NOT NULL,
    trigger         TEXT NOT NULL,          -- schedule | manual | retry | chain
    attempt         INTEGER NOT NULL DEFAULT 1,
    job_version     INTEGER,
    scheduled_for   REAL NOT NULL,
    started         REAL NOT NULL,
    finished        REAL,
    lease_until     REAL,
    state           TEXT NOT NULL,          -- running | succeeded | failed | timed_out | cancelled | interrupted
    summary         TEXT,
    counters        TEXT,                   -- JSON object
    details         TEXT,                   -- JSON object (e.g. exit code, output tails)
    changed         INTEGER,
    UNIQUE (job, scheduled_for)
);
CREATE INDEX runs_job_started ON runs (job, started DESC);
-- Only running rows are ever looked up by state (start-up, status); a partial index stays tiny.
-- The daily purge by age scans the table: cheaper than a fourth index written on every run.
CREATE INDEX runs_running ON runs (node) WHERE state = 'running';

-- job_state follows the runs table: a finished (or interrupted) run notes its attempt and its
-- result in the same statement that finishes it, atomically.
CREATE TRIGGER runs_finished AFTER UPDATE OF state ON runs
WHEN old.state = 'running' AND new.state != 'running'
BEGIN
    INSERT INTO job_state (job, last_attempt, last_finished, last_success, last_result,
                           last_error, last_run_id, failures)
    VALUES (new.job, new.started, new.finished,
            CASE WHEN new.state = 'succeeded' THEN new.finished END,
            new.state,
            CASE WHEN new.state = 'succeeded' THEN NULL ELSE new.summary END,
            new.id,
            CASE WHEN new.state = 'succeeded' THEN 0 ELSE 1 END)
    ON CONFLICT (job) DO UPDATE SET
        last_attempt = max(coalesce(job_state.last_attempt, 0), excluded.last_attempt),
        last_finished = excluded.last_finished,
        last_success = coalesce(excluded.last_success, job_state.last_success),
        last_result = excluded.last_result,
        last_error = excluded.last_error,
        last_run_id = excluded.last_run_id,
        failures = CASE WHEN excluded.failures = 0 THEN 0 ELSE job_state.failures + 1 END;
END;
