-- Least-privilege database roles (README "Database roles"). Until now the console, the jobs
-- and the migrations all connected as one superuser, which could disable or drop the audit
-- log's triggers, or set session_replication_role and erase it.
--
--   dh_owner     owns every schema, table, sequence, view and function of the project;
--                migrations run as it (console/migrate.py: SET ROLE dh_owner).
--   dh_console   the Streamlit console: DML on app/ops, SELECT + INSERT on the audit log.
--   dh_jobs      the scheduled jobs: read app/ops, write mart/etl and the ops tables jobs fill.
--   dh_readonly  dashboards: SELECT on mart.
--
-- None of them is superuser, CREATEROLE, CREATEDB or REPLICATION, and the three login roles
-- own nothing: only an owner may ALTER TABLE … DISABLE TRIGGER or DROP TRIGGER, and only a
-- superuser may set session_replication_role. The privileges themselves live in one place,
-- sql/grants.sql, which every migrate run applies.
--
-- Roles are cluster-wide while migrations run per database: several databases of one
-- cluster (the test suite's, under xdist) may run this at the same moment. CREATE ROLE then
-- fails with duplicate_object (or unique_violation on pg_authid) in all but one of them; that
-- means the role exists, which is what we want.
DO $$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['dh_owner', 'dh_console', 'dh_jobs', 'dh_readonly'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = role_name) THEN
            BEGIN
                -- LOGIN for all four: a deployment may sign in as dh_owner to migrate, and
                -- the role URLs derived for trust/peer authentication need it (README).
                EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE '
                               'NOREPLICATION NOBYPASSRLS', role_name);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- another database of this cluster created it just now
            END;
        END IF;
    END LOOP;
END $$;

-- dh_owner creates the schemas of later migrations.
DO $$
BEGIN
    EXECUTE format('GRANT CONNECT, CREATE, TEMPORARY ON DATABASE %I TO dh_owner',
                   current_database());
END $$;

-- Everything the project made so far passes to dh_owner: the schemas, then each relation
-- (a table's indexes, serial sequences and row type follow it), stand-alone sequences,
-- functions and types. The ETL's transient batch/staging relations (etl.batch_*, etl.stg_*)
-- are the jobs' working tables: the jobs drop and recreate them on every run, so a leftover
-- one goes to dh_jobs. Objects that belong to an extension stay with the extension.
DO $$
DECLARE
    obj record;
BEGIN
    FOR obj IN SELECT nspname FROM pg_namespace WHERE nspname IN ('app', 'ops', 'mart', 'etl') LOOP
        EXECUTE format('ALTER SCHEMA %I OWNER TO dh_owner', obj.nspname);
    END LOOP;

    FOR obj IN
        SELECT c.oid, c.relkind, format('%I.%I', n.nspname, c.relname) AS name,
               n.nspname = 'etl' AND (c.relname LIKE 'batch\_%' OR c.relname LIKE 'stg\_%') AS staging
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('app', 'ops', 'mart', 'etl')
          AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                          AND d.objid = c.oid AND d.deptype = 'e')
        UNION ALL
        SELECT c.oid, c.relkind, 'public.schema_migrations', false
        FROM pg_class c WHERE c.oid = to_regclass('public.schema_migrations')
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO %I',
                       CASE obj.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                        WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
                       obj.name, CASE WHEN obj.staging THEN 'dh_jobs' ELSE 'dh_owner' END);
    END LOOP;

    -- Sequences not owned by a column (a serial's sequence moved with its table above).
    FOR obj IN
        SELECT format('%I.%I', n.nspname, c.relname) AS name
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('app', 'ops', 'mart', 'etl') AND c.relkind = 'S'
          AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                          AND d.objid = c.oid AND d.deptype IN ('a', 'i', 'e'))
    LOOP
        EXECUTE format('ALTER SEQUENCE %s OWNER TO dh_owner', obj.name);
    END LOOP;

    FOR obj IN
        SELECT p.oid::regprocedure AS sig, p.prokind
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname IN ('app', 'ops', 'mart', 'etl')
          AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                          AND d.objid = p.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO dh_owner',
                       CASE obj.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE'
                                        ELSE 'FUNCTION' END, obj.sig);
    END LOOP;

    -- Enums, domains, ranges and stand-alone composite types (a table's row type moved with it).
    FOR obj IN
        SELECT t.oid::regtype AS name, t.typtype
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        LEFT JOIN pg_class c ON c.oid = t.typrelid
        WHERE n.nspname IN ('app', 'ops', 'mart', 'etl')
          AND (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND c.relkind = 'c'))
          AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                          AND d.objid = t.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO dh_owner',
                       CASE obj.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, obj.name);
    END LOOP;
END $$;
