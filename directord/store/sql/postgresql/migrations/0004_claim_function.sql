-- A claim in one round trip. Before, a claim was a transaction of five statements (BEGIN, the
-- cluster lock, the INSERT, why it was refused, COMMIT) holding the cluster-wide lock across
-- the client's round trips: with three busy nodes, every node waited for the slowest event
-- loop (bench/ha.py: p99 start lateness 777 ms vs SQLite's 28 ms). Here the lock is held for
-- the function's own statements only; it is released when the caller's statement commits.
--
-- Each statement of a VOLATILE plpgsql function takes a fresh snapshot under READ COMMITTED:
-- the checks after the lock see every claim committed before it was granted (a single SQL
-- statement could not: its snapshot predates the lock).
--
-- The lock: the cluster-wide key when the cluster limits runs at once (runner.scope: cluster);
-- else only the job's own (claims of different jobs do not wait for each other).
-- The answer: the new run's id, or why not (claimed, running, limit, stale) with the job's state
-- as stored, its last attempt the latest start of any of its runs: a node that lost learns the
-- winner's start at once instead of waiting for its finish (or re-reading every job's state).
CREATE FUNCTION directord_claim(
    p_job text, p_kind text, p_node text, p_trigger text, p_attempt integer,
    p_job_version integer, p_scheduled_for double precision, p_started double precision,
    p_lease double precision, p_owner text, p_limit integer, p_seen double precision,
    p_key bigint
) RETURNS TABLE (run_id bigint, refusal text, job text, last_attempt double precision,
                last_finished double precision, last_success double precision,
                last_result text, last_error text, last_run_id bigint, failures integer,
                last_node text, last_scheduled double precision)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    new_id bigint;
    stored job_state;
BEGIN
    IF p_limit IS NULL THEN
        PERFORM pg_advisory_xact_lock(hashtextextended('directord.claim:' || p_job, 0));
    ELSE
        PERFORM pg_advisory_xact_lock(p_key);
    END IF;
    SELECT * INTO stored FROM job_state js WHERE js.job = p_job;
    IF EXISTS (SELECT 1 FROM runs r WHERE r.job = p_job AND r.scheduled_for = p_scheduled_for) THEN
        refusal := 'claimed';
    ELSIF EXISTS (SELECT 1 FROM runs r WHERE r.job = p_job AND r.state = 'running') THEN
        refusal := 'running';
    ELSIF p_limit IS NOT NULL
          AND (SELECT count(*) FROM runs r WHERE r.state = 'running') >= p_limit THEN
        refusal := 'limit';
    ELSIF p_trigger <> 'manual' AND p_seen IS NOT NULL AND coalesce(stored.last_attempt, -1) > p_seen THEN
        refusal := 'stale';
    END IF;
    IF refusal IS NULL THEN
        INSERT INTO runs (job, kind, node, trigger, attempt, job_version, scheduled_for, started,
                          lease_until, owner, state)
        VALUES (p_job, p_kind, p_node, p_trigger, p_attempt, p_job_version, p_scheduled_for,
                p_started, extract(epoch FROM clock_timestamp()) + p_lease, p_owner, 'running')
        ON CONFLICT (job, scheduled_for) DO NOTHING
        RETURNING id INTO new_id;
        IF new_id IS NULL THEN
            refusal := 'claimed';
        END IF;
    END IF;
    run_id := new_id;
    IF refusal IS NOT NULL THEN
        job := p_job;
        SELECT r.started, r.node, r.scheduled_for INTO last_attempt, last_node, last_scheduled
        FROM runs r WHERE r.job = p_job ORDER BY r.started DESC LIMIT 1;
        IF stored.last_attempt > last_attempt THEN  -- (its run purged)
            last_attempt := stored.last_attempt;
            last_scheduled := NULL;
        END IF;
        last_finished := stored.last_finished;
        last_success := stored.last_success;
        last_result := stored.last_result;
        last_error := stored.last_error;
        last_run_id := stored.last_run_id;
        failures := coalesce(stored.failures, 0);
    END IF;
    RETURN NEXT;
END;
$$;

-- Switching a job off or on reaches every node at once: a daemon keeps the switches in memory
-- while it listens, instead of reading them before every claim.
CREATE FUNCTION job_switches_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('directord_job_switches', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER job_switches_changed AFTER INSERT OR UPDATE OR DELETE ON job_switches
FOR EACH STATEMENT EXECUTE FUNCTION job_switches_changed();

-- A finished run's notification names its node (jobs list shows the node of the last run) and,
-- when it is the last attempt, its due time (every node counts the interval grid from it: a node
-- counting from the start would claim other due times than the rest, and run the job twice).
CREATE OR REPLACE FUNCTION runs_finished() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    s job_state;
BEGIN
    INSERT INTO job_state AS js (job, last_attempt, last_finished, last_success, last_result,
                                 last_error, last_run_id, failures)
    VALUES (new.job, new.started, new.finished,
            CASE WHEN new.state = 'succeeded' THEN new.finished END,
            new.state,
            CASE WHEN new.state = 'succeeded' THEN NULL ELSE new.summary END,
            new.id,
            CASE WHEN new.state = 'succeeded' THEN 0 ELSE 1 END)
    ON CONFLICT (job) DO UPDATE SET
        last_attempt = greatest(coalesce(js.last_attempt, 0), excluded.last_attempt),
        last_finished = excluded.last_finished,
        last_success = coalesce(excluded.last_success, js.last_success),
        last_result = excluded.last_result,
        last_error = excluded.last_error,
        last_run_id = excluded.last_run_id,
        failures = CASE WHEN excluded.failures = 0 THEN 0 ELSE js.failures + 1 END
    RETURNING * INTO s;
    PERFORM pg_notify('directord_job_state',
                      (to_jsonb(s) || jsonb_build_object(
                          'last_node', new.node,
                          'last_scheduled', CASE WHEN new.started >= s.last_attempt
                                                 THEN new.scheduled_for END))::text);
    RETURN NULL;
END;
$$;
