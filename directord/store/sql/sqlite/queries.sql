-- Named statements for the SQLite store. Python asks for them by name (store/queries.py).

-- name: upsert_config_job
INSERT INTO jobs (name, kind, definition, managed_by, version, created, updated)
VALUES (:name, :kind, :definition, 'config', 1, :now, :now)
ON CONFLICT (name) DO UPDATE SET
    kind = excluded.kind,
    definition = excluded.definition,
    managed_by = 'config',
    version = jobs.version + 1,
    updated = excluded.updated
WHERE jobs.definition != excluded.definition OR jobs.kind != excluded.kind
   OR jobs.managed_by != 'config';

-- name: list_jobs
SELECT name, kind, definition, managed_by, version, created, updated FROM jobs ORDER BY name;

-- name: delete_config_jobs_except
-- Config-managed jobs that left the config; their runs stay for the record.
DELETE FROM jobs WHERE managed_by = 'config' AND name NOT IN (SELECT value FROM json_each(:names));

-- name: job_states
SELECT job, last_attempt, last_finished, last_success, last_result, last_error, last_run_id, failures
FROM job_state;

-- name: claim_run
INSERT INTO runs (job, kind, node, trigger, attempt, job_version, scheduled_for, started,
                  lease_until, state)
VALUES (:job, :kind, :node, :trigger, :attempt, :job_version, :scheduled_for, :started,
        :lease_until, 'running')
ON CONFLICT (job, scheduled_for) DO NOTHING
RETURNING id;

-- name: finish_run
-- The runs_finished trigger updates job_state in the same statement.
UPDATE runs SET state = :state, finished = :finished, summary = :summary, counters = :counters,
                details = :details, changed = :changed, lease_until = NULL
WHERE id = :id AND state = 'running';

-- name: interrupt_running
UPDATE runs SET state = 'interrupted', finished = :now, lease_until = NULL,
                summary = 'interrupted: the daemon stopped during the run (crash, kill -9 or power loss)'
WHERE state = 'running' AND (:node IS NULL OR node = :node)
RETURNING id, job, started;

-- name: history
SELECT id, job, kind, node, trigger, attempt, job_version, scheduled_for, started, finished, state,
       summary, counters, details, changed
FROM runs WHERE job = :job ORDER BY started DESC, id DESC LIMIT :limit;

-- name: get_run
SELECT id, job, kind, node, trigger, attempt, job_version, scheduled_for, started, finished, state,
       summary, counters, details, changed
FROM runs WHERE id = :id;

-- name: count_runs
SELECT state, count(*) AS n FROM runs GROUP BY state;

-- name: purge_old_runs
DELETE FROM runs WHERE state != 'running' AND finished < :before;

-- name: purge_beyond_per_job
DELETE FROM runs WHERE state != 'running' AND id IN (
    SELECT id FROM (
        SELECT id, row_number() OVER (PARTITION BY job ORDER BY started DESC, id DESC) AS rank
        FROM runs
    ) WHERE rank > :keep
);

-- name: ping
SELECT 1;
