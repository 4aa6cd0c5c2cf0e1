-- Database roles (SPEC §8): raw PII lives in pii_vault, which only claimdesk_pii may read.
--
--   claimdesk_reader  dashboards and downstream tools: USAGE on the schema, SELECT on the
--                     public rm_* views, nothing else (no base table, never pii_vault).
--   claimdesk_pii     the dedicated vault reader: SELECT on pii_vault.
--   claimdesk_worker  `claimdesk worker` (also `roster load`, `dlt replay`): read/write on
--                     the tables it keeps, EXECUTE on sla_clock_op, USAGE on the sequences,
--                     SELECT on the rm_* views (ops page); on pii_vault it may only write
--                     (INSERT; the roster's upsert needs the key columns and UPDATE of
--                     `fields`) and can never read the personal data back.
--
-- All three are NOLOGIN group roles: grant them to login roles, e.g.
--   CREATE ROLE grafana LOGIN PASSWORD '…' IN ROLE claimdesk_reader;
-- Nobody but the owner (the migrating user) can DROP, ALTER or TRUNCATE anything.
--
-- Roles are cluster-wide and this migration runs once per schema: creation is idempotent
-- (and tolerates a concurrent migration of another schema); grants name current_schema().
-- A migrating user without CREATEROLE fails here with a hint: create the three roles
-- once as a superuser (the rest then succeeds without CREATEROLE).
-- Later migrations that add a table or an rm_* view must grant it here-alike
-- (tests/integration/test_roles.py checks that every table and view is covered).

DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['claimdesk_reader', 'claimdesk_pii', 'claimdesk_worker'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION
                WHEN duplicate_object OR unique_violation THEN
                    NULL;  -- created meanwhile by a concurrent migration
                WHEN insufficient_privilege THEN
                    RAISE EXCEPTION 'cannot create role %: the migrating user lacks CREATEROLE', r
                        USING HINT = 'as a superuser run: CREATE ROLE claimdesk_reader NOLOGIN; '
                                     'CREATE ROLE claimdesk_pii NOLOGIN; '
                                     'CREATE ROLE claimdesk_worker NOLOGIN; then migrate again';
            END;
        END IF;
    END LOOP;
END $$;

DO $$
DECLARE
    s text := current_schema();
    t text;
    worker_tables text[] := ARRAY[
        'inbox', 'outbox', 'case_timeline', 'data_quality', 'cases', 'adjusters', 'dispatches',
        'reviews', 'complaints', 'parked_events', 'payouts', 'sla_clocks', 'alerts',
        'dlt_replays', 'surge_windows', 'surge_state', 'monitor_runs', 'consumer_lag'];
BEGIN
    IF s IS NULL THEN
        RAISE EXCEPTION 'no current schema (search_path is empty)';
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO claimdesk_reader, claimdesk_pii, claimdesk_worker',
                   s);

    -- The vault: nobody by default; the vault role reads, the worker only writes.
    EXECUTE format('REVOKE ALL ON %I.pii_vault FROM PUBLIC, claimdesk_reader', s);
    EXECUTE format('GRANT SELECT ON %I.pii_vault TO claimdesk_pii', s);
    EXECUTE format('GRANT INSERT, SELECT (subject_type, subject_id, source, event_id),'
                   ' UPDATE (fields) ON %I.pii_vault TO claimdesk_worker', s);

    -- Dashboards: the public views only (none holds PII, SPEC §5). The worker's ops page
    -- reads them too.
    FOR t IN
        SELECT c.relname FROM pg_class c
        WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = s) AND c.relkind IN ('v', 'm')
          AND c.relname LIKE 'rm\_%'
        ORDER BY 1
    LOOP
        EXECUTE format('GRANT SELECT ON %I.%I TO claimdesk_reader, claimdesk_worker', s, t);
    END LOOP;

    -- The worker: the tables it keeps (no TRUNCATE, REFERENCES, TRIGGER or DDL).
    FOREACH t IN ARRAY worker_tables LOOP
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I.%I TO claimdesk_worker', s, t);
    END LOOP;
    EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA %I TO claimdesk_worker', s);
    EXECUTE format('REVOKE EXECUTE ON FUNCTION %I.sla_clock_op(text, text, text, text,'
                   ' timestamptz, double precision, double precision, text, text, text)'
                   ' FROM PUBLIC', s);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %I.sla_clock_op(text, text, text, text,'
                   ' timestamptz, double precision, double precision, text, text, text)'
                   ' TO claimdesk_worker', s);
END $$;
