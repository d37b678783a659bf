-- Named statements for the PostgreSQL store: the same names as sql/sqlite/queries.sql, this
-- dialects SQL. Parameters are written :name (store/postgres.py numbers them $1, $2, ...);
-- a parameter that may be NULL carries a cast so the server knows its type.

-- name: create_schema_version
-- Nodes starting at once migrate once: the first takes this transaction-scoped lock and applies
-- what is pending; the others wait for it, then find nothing to do (migrations.migrate runs this
-- first in its transaction).
SELECT pg_advisory_xact_lock(7235440054464675841);  -- pgsql.MIGRATE_KEY
CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL);

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
WHERE jobs.definition <> excluded.definition OR jobs.kind <> excluded.kind
   OR jobs.managed_by <> 'config';

-- name: insert_job
-- A new definition (made in the web or the API); nothing when the name is taken.
INSERT INTO jobs (name, kind, definition, managed_by, version, created, updated)
VALUES (:name::text, :kind::text, :definition::text, :managed_by::text, 1, :now::float8, :now::float8)
ON CONFLICT (name) DO NOTHING
RETURNING name, kind, definition, managed_by, version, created, updated;

-- name: update_store_job
-- Optimistic locking: only the version the writer read is replaced.
UPDATE jobs SET kind = :kind::text, definition = :definition::text, version = version + 1,
       updated = :now::float8
WHERE name = :name::text AND managed_by = 'store' AND version = :version::int
RETURNING name, kind, definition, managed_by, version, created, updated;

-- name: delete_store_job
-- The definition goes; its runs and state stay for the record.
DELETE FROM jobs
WHERE name = :name::text AND managed_by = 'store'
  AND (:version::int IS NULL OR version = :version::int)
RETURNING name;

-- name: list_jobs
SELECT name, kind, definition, managed_by, version, created, updated FROM jobs ORDER BY name;

-- name: delete_config_jobs_except
DELETE FROM jobs WHERE managed_by = 'config'
  AND name NOT IN (SELECT json_array_elements_text(:names::json));

-- name: job_states
-- last_node: the node of the last finished run (job history shows every run's); last_scheduled:
-- its due time when it is the last attempt (every node counts the interval grid from it).
SELECT js.job, js.last_attempt, js.last_finished, js.last_success, js.last_result, js.last_error,
       js.last_run_id, js.failures, r.node AS last_node,
       CASE WHEN r.started >= js.last_attempt THEN r.scheduled_for END AS last_scheduled
FROM job_state js LEFT JOIN runs r ON r.id = js.last_run_id;

-- name: claim_run
-- Exactly once: UNIQUE(job, scheduled_for) with ON CONFLICT DO NOTHING; besides, no claim while
-- the job runs anywhere, none beyond the cluster-wide limit (the limit NULL: node scope), and a
-- scheduled claim loses when the job was attempted after the view of the claimer of it (seen, 0
-- for "never"; NULL: no view to check).
INSERT INTO runs (job, kind, node, trigger, attempt, job_version, scheduled_for, started,
                  lease_until, owner, state)
SELECT :job::text, :kind::text, :node::text, :trigger::text, :attempt::int, :job_version::int,
       :scheduled_for::float8, :started::float8,
       extract(epoch FROM clock_timestamp()) + :lease::float8, :owner::text, 'running'
WHERE NOT EXISTS (SELECT 1 FROM runs WHERE job = :job::text AND state = 'running')
  AND (:limit::int IS NULL OR (SELECT count(*) FROM runs WHERE state = 'running') < :limit::int)
  AND (:trigger::text = 'manual' OR :seen::float8 IS NULL
       OR coalesce((SELECT last_attempt FROM job_state WHERE job = :job::text), -1) <= :seen::float8)
ON CONFLICT (job, scheduled_for) DO NOTHING
RETURNING id;

-- name: finish_run
-- Only while the row is still this owner running run: after its lease expired and another node
-- marked it interrupted, a late result is never written over that.
UPDATE runs SET state = :state, finished = :finished, summary = :summary, counters = :counters,
                details = :details, changed = :changed, lease_until = NULL,
                ended = extract(epoch FROM clock_timestamp())
WHERE id = :id AND state = 'running' AND owner IS NOT DISTINCT FROM :owner::text
RETURNING id;

-- name: running_runs
SELECT id, job, kind, node, trigger, attempt, job_version, scheduled_for, started, finished, state,
       summary, counters, details, changed, owner, process_group,
       lease_until < extract(epoch FROM clock_timestamp()) AS expired
FROM runs WHERE state = 'running' AND (:node::text IS NULL OR node = :node::text) ORDER BY id;

-- name: record_process_group
-- Only while the run is running: a late note never touches a finished or interrupted row.
UPDATE runs SET process_group = :process_group::text WHERE id = :id AND state = 'running';

-- name: interrupt_run
UPDATE runs SET state = 'interrupted', finished = :now, lease_until = NULL,
                summary = 'interrupted: the daemon stopped during the run (crash, kill -9 or power loss)',
                ended = extract(epoch FROM clock_timestamp())
WHERE id = :id AND state = 'running';

-- name: append_run_summary
UPDATE runs SET summary = coalesce(summary, '') || :text::text WHERE id = :id AND state <> 'running';

-- name: history
SELECT id, job, kind, node, trigger, attempt, job_version, scheduled_for, started, finished, state,
       summary, counters, details, changed, owner, process_group
FROM runs WHERE job = :job ORDER BY started DESC, id DESC LIMIT :limit;

-- name: job_runs
-- A page of a job's runs, newest first; before is the id of the last run of the page before.
SELECT id, job, kind, node, trigger, attempt, job_version, scheduled_for, started, finished, state,
       summary, counters, details, changed, owner, process_group
FROM runs
WHERE job = :job::text AND (:state::text IS NULL OR state = :state::text)
  AND (:before::bigint IS NULL OR id < :before::bigint)
ORDER BY id DESC LIMIT :limit::int;

-- name: get_run
SELECT id, job, kind, node, trigger, attempt, job_version, scheduled_for, started, finished, state,
       summary, counters, details, changed, owner, process_group
FROM runs WHERE id = :id;

-- name: purge_old_runs
DELETE FROM runs WHERE state <> 'running' AND finished < :before;

-- name: purge_beyond_per_job
DELETE FROM runs WHERE state <> 'running' AND id IN (
    SELECT id FROM (
        SELECT id, row_number() OVER (PARTITION BY job ORDER BY started DESC, id DESC) AS rank
        FROM runs
    ) ranked WHERE rank > :keep
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
SELECT r.key, i.data FROM row_set_rows r JOIN import_rows i ON i.checksum = r.row
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
FROM activity WHERE (:rule::text IS NULL OR rule = :rule::text) ORDER BY id DESC LIMIT :limit;

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
FROM deployments WHERE package = :package AND (:ok::int IS NULL OR ok = :ok::int)
ORDER BY started DESC, id DESC LIMIT 1;

-- name: deployments
SELECT id, checksum, package, stage, started, finished, ok, error, run_id
FROM deployments ORDER BY started DESC, id DESC LIMIT :limit;

-- name: purge_row_sets
DELETE FROM row_sets WHERE id IN (
    SELECT id FROM (
        SELECT id, row_number() OVER (PARTITION BY source ORDER BY id DESC) AS rank
        FROM row_sets
    ) ranked WHERE rank > :keep
);

-- name: purge_row_set_rows
DELETE FROM row_set_rows r WHERE NOT EXISTS (SELECT 1 FROM row_sets s WHERE s.id = r.row_set);

-- name: purge_unreferenced_rows
DELETE FROM import_rows i WHERE NOT EXISTS (SELECT 1 FROM row_set_rows r WHERE r.row = i.checksum);

-- name: purge_rendered_configs
DELETE FROM rendered_configs WHERE deployed IS NULL AND created < :before
  AND checksum NOT IN (SELECT checksum FROM deployments);

-- name: set_job_disabled
INSERT INTO job_switches (job, disabled, updated) VALUES (:job, :disabled, :now)
ON CONFLICT (job) DO UPDATE SET disabled = excluded.disabled, updated = excluded.updated;

-- name: disabled_jobs
SELECT job, updated FROM job_switches WHERE disabled = 1;
