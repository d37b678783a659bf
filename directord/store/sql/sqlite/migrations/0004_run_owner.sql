-- The process that runs a run ("pid:start time"): at start-up only runs whose owner is gone are
-- interrupted, never those of a daemon that is alive (a CLI command must not touch them).
ALTER TABLE runs ADD COLUMN owner TEXT;

-- Claims look for a running row of the job; the partial index now leads with the job.
DROP INDEX runs_running;
CREATE INDEX runs_running ON runs (job) WHERE state = 'running';
