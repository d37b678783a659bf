-- Named statements for the SQLite store. Python asks for them by name (store/queries.py); every
-- dialect has the same names. Parameters are named (:job); JSON travels as text, booleans as 0/1.

-- name: create_schema_version
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);

-- name: schema_version
SELECT max(version) AS version FROM schema_version;

-- name: record_schema_version
INSERT INTO schema_version (version) VALUES (:version);

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

-- name: insert_job
-- A new definition (made in the web or the API); nothing when the name is taken.
INSERT INTO jobs (name, kind, definition, managed_by, version, created, updated)
VALUES (:name, :kind, :definition, :managed_by, 1, :now, :now)
ON CONFLICT (name) DO NOTHING
RETURNING name, kind, definition, managed_by, version, created, updated;

-- name: update_store_job
-- Optimistic locking: only the version the writer read is replaced.
UPDATE jobs SET kind = :kind, definition = :definition, version = version + 1, updated = :now
WHERE name = :name AND managed_by = 'store' AND version = :version
RETURNING name, kind, definition, managed_by, version, created, updated;

-- name: delete_store_job
-- The definition goes; its runs and state stay for the record.
DELETE FROM jobs WHERE name = :name AND managed_by = 'store' AND (:version IS NULL OR version = :version)
RETURNING name;

-- name: job_states
-- last_node: the node of the last finished run (job history shows every run's); last_scheduled:
-- its due time when it is the last attempt (every node counts the interval grid from it).
SELECT js.job, js.last_attempt, js.last_finished, js.last_success, js.last_result, js.last_error,
       js.last_run_id, js.failures, r.node AS last_node,
       CASE WHEN r.started >= js.last_attempt THEN r.scheduled_for END AS last_scheduled
FROM job_state js LEFT JOIN runs r ON r.id = js.last_run_id;

-- name: claim_run
-- No claim while the job has a running row, whoever runs it: one job never overlaps itself,
-- not even across processes (a cron 'jobs run' beside the daemon).
INSERT INTO runs (job, kind, node, trigger, attempt, job_version, scheduled_for, started,
                  lease_until, owner, state)
SELECT :job, :kind, :node, :trigger, :attempt, :job_version, :scheduled_for, :started,
       :lease_until, :owner, 'running'
WHERE NOT EXISTS (SELECT 1 FROM runs WHERE job = :job AND state = 'running')
ON CONFLICT (job, scheduled_for) DO NOTHING
RETURNING id;

-- name: finish_run
-- The runs_finished trigger updates job_state in the same statement.
UPDATE runs SET state = :state, finished = :finished, summary = :summary, counters = :counters,
                details = :details, changed = :changed, lease_until = NULL
WHERE id = :id AND state = 'running';

-- name: running_runs
SELECT id, job, kind, node, trigger, attempt, job_version, scheduled_for, started, finished, state,
       summary, counters, details, changed, owner, process_group
FROM runs WHERE state = 'running' AND (:node IS NULL OR node = :node) ORDER BY id;

-- name: record_process_group
-- Only while the run is running: a late note never touches a finished or interrupted row.
UPDATE runs SET process_group = :process_group WHERE id = :id AND state = 'running';

-- name: interrupt_run
UPDATE runs SET state = 'interrupted', finished = :now, lease_until = NULL,
                summary = 'interrupted: the daemon stopped during the run (crash, kill -9 or power loss)'
WHERE id = :id AND state = 'running';

-- name: append_run_summary
UPDATE runs SET summary = coalesce(summary, '') || :text WHERE id = :id AND state <> 'running';

-- name: history
SELECT id, job, kind, node, trigger, attempt, job_version, scheduled_for, started, finished, state,
       summary, counters, details, changed, owner, process_group
FROM runs WHERE job = :job ORDER BY started DESC, id DESC LIMIT :limit;

-- name: job_runs
-- A page of a job's runs, newest first; ``before`` is the id of the last run of the page before.
SELECT id, job, kind, node, trigger, attempt, job_version, scheduled_for, started, finished, state,
       summary, counters, details, changed, owner, process_group
FROM runs
WHERE job = :job AND (:state IS NULL OR state = :state) AND (:before IS NULL OR id < :before)
ORDER BY id DESC LIMIT :limit;

-- name: get_run
SELECT id, job, kind, node, trigger, attempt, job_version, scheduled_for, started, finished, state,
       summary, counters, details, changed, owner, process_group
FROM runs WHERE id = :id;

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

-- name: latest_row_set
SELECT id, source, checksum, row_count, columns, created, run_id
FROM row_sets WHERE source = :source ORDER BY id DESC LIMIT 1;

-- name: insert_import_row
INSERT INTO import_rows (checksum, data) VALUES (:checksum, :data) ON CONFLICT (checksum) DO NOTHING;

-- name: insert_row_set
INSERT INTO row_sets (source, checksum, row_count, columns, created, run_id)
VALUES (:source, :checksum, :row_count, :columns, :created, :run_id)
RETURNING id;

-- name: insert_row_set_row
INSERT INTO row_set_rows (row_set, key, row) VALUES (:row_set, :key, :row);

-- name: row_set_data
SELECT r.key AS key, i.data AS data FROM row_set_rows r JOIN import_rows i ON i.checksum = r.row
WHERE r.row_set = :row_set ORDER BY r.key;

-- name: objects_of_type
SELECT type, name, properties, rule FROM objects WHERE type = :type ORDER BY name;

-- name: all_objects
SELECT type, name, properties, rule FROM objects ORDER BY type, name;

-- name: insert_object
INSERT INTO objects (type, name, properties, rule, created, updated)
VALUES (:type, :name, :properties, :rule, :now, :now);

-- name: update_object
UPDATE objects SET properties = :properties, updated = :now WHERE type = :type AND name = :name;

-- name: delete_object
DELETE FROM objects WHERE type = :type AND name = :name;

-- name: insert_activity
INSERT INTO activity (created, rule, run_id, created_count, modified_count, deleted_count, changes)
VALUES (:created, :rule, :run_id, :created_count, :modified_count, :deleted_count, :changes)
RETURNING id;

-- name: activity
SELECT id, created, rule, run_id, created_count, modified_count, deleted_count, changes
FROM activity WHERE (:rule IS NULL OR rule = :rule) ORDER BY id DESC LIMIT :limit;

-- name: save_rendered_config
INSERT INTO rendered_configs (checksum, files, object_count, created)
VALUES (:checksum, :files, :object_count, :created)
ON CONFLICT (checksum) DO NOTHING;

-- name: start_deployment
INSERT INTO deployments (checksum, package, started, run_id)
VALUES (:checksum, :package, :started, :run_id)
RETURNING id;

-- name: finish_deployment
UPDATE deployments SET stage = :stage, finished = :finished, ok = :ok, error = :error
WHERE id = :id;

-- name: mark_deployed
UPDATE rendered_configs SET deployed = :deployed WHERE checksum = :checksum AND deployed IS NULL;

-- name: last_deployment
SELECT id, checksum, package, stage, started, finished, ok, error, run_id
FROM deployments WHERE package = :package AND (:ok IS NULL OR ok = :ok)
ORDER BY started DESC, id DESC LIMIT 1;

-- name: deployments
SELECT id, checksum, package, stage, started, finished, ok, error, run_id
FROM deployments ORDER BY started DESC, id DESC LIMIT :limit;

-- name: purge_row_sets
-- All but the newest :keep row sets of each source; their rows go with purge_unreferenced_rows.
DELETE FROM row_sets WHERE id IN (
    SELECT id FROM (
        SELECT id, row_number() OVER (PARTITION BY source ORDER BY id DESC) AS rank
        FROM row_sets
    ) WHERE rank > :keep
);

-- name: purge_row_set_rows
DELETE FROM row_set_rows WHERE row_set NOT IN (SELECT id FROM row_sets);

-- name: purge_unreferenced_rows
DELETE FROM import_rows WHERE checksum NOT IN (SELECT row FROM row_set_rows);

-- name: purge_rendered_configs
DELETE FROM rendered_configs WHERE deployed IS NULL AND created < :before
  AND checksum NOT IN (SELECT checksum FROM deployments);

-- name: set_job_disabled
INSERT INTO job_switches (job, disabled, updated) VALUES (:job, :disabled, :now)
ON CONFLICT (job) DO UPDATE SET disabled = excluded.disabled, updated = excluded.updated;

-- name: disabled_jobs
SELECT job, updated FROM job_switches WHERE disabled = 1;
