-- Statements only a shared (PostgreSQL) store has: the claim, leases, node heartbeats. Not part
-- of the query names every dialect answers to (queries.sql); store/postgres.py and
-- store/presence.py ask for them by name. Parameters as in queries.sql.

-- name: claim
-- One round trip: directord_claim (migration 0004) takes the claim lock, checks and inserts.
SELECT run_id, refusal, job, last_attempt, last_finished, last_success, last_result, last_error,
       last_run_id, failures, last_node, last_scheduled
FROM directord_claim(:job::text, :kind::text, :node::text, :trigger::text, :attempt::int,
                     :job_version::int, :scheduled_for::float8, :started::float8, :lease::float8,
                     :owner::text, :limit::int, :seen::float8, :key::bigint);

-- name: interrupt_expired
UPDATE runs SET state = 'interrupted', finished = extract(epoch FROM clock_timestamp()),
                ended = extract(epoch FROM clock_timestamp()), lease_until = NULL,
                summary = 'interrupted: node ' || node || ' stopped renewing its lease '
                          '(it died, hung or lost the database)'
WHERE state = 'running' AND lease_until < extract(epoch FROM clock_timestamp())
RETURNING id, job, started, node, process_group, owner;

-- name: renew_leases
UPDATE runs SET lease_until = extract(epoch FROM clock_timestamp()) + :lease::float8
WHERE id = ANY (:ids::bigint[]) AND state = 'running'
RETURNING id;

-- name: database_now
SELECT extract(epoch FROM clock_timestamp())::float8;

-- name: node_lock
-- Held by a daemons own connection while it lives: one live daemon per node name.
SELECT pg_try_advisory_lock(:key::bigint);

-- name: heartbeat
INSERT INTO nodes (node, pid, host, owner, version, started, last_seen, config_checksum,
                   jobs_checksums, stopped)
VALUES (:node, :pid, :host, :owner, :version, :started, extract(epoch FROM clock_timestamp()),
        :config_checksum, :jobs_checksums, NULL)
ON CONFLICT (node) DO UPDATE SET
    pid = excluded.pid, host = excluded.host, owner = excluded.owner, version = excluded.version,
    started = excluded.started, last_seen = excluded.last_seen,
    config_checksum = excluded.config_checksum, jobs_checksums = excluded.jobs_checksums,
    stopped = NULL;

-- name: node_stopped
UPDATE nodes SET stopped = extract(epoch FROM clock_timestamp()) WHERE node = :node AND owner = :owner;

-- name: nodes
SELECT n.node, n.pid, n.host, n.owner, n.version, n.started, n.last_seen, n.config_checksum,
       n.jobs_checksums, n.stopped,
       extract(epoch FROM clock_timestamp()) - n.last_seen AS silent_for,
       coalesce((SELECT array_agg(r.job ORDER BY r.job) FROM runs r
                 WHERE r.state = 'running' AND r.node = n.node), '{}') AS running
FROM nodes n ORDER BY n.node;
