-- postgres-setup.sql — PostgreSQL role and database for overstapd (production).
--
--   sudo -u postgres psql -v ON_ERROR_STOP=1 -f deploy/postgres-setup.sql
--   sudo -u postgres psql -c "\password overstapd"      (or use peer/cert auth)
--
-- Then, in overstapd.conf:
--   [database] conninfo = host=/var/run/postgresql dbname=overstap user=overstapd
-- and apply the schema once (the daemon also does so at every start-up):
--   overstapd -c /etc/overstapd/overstapd.conf --migrate
--
-- Safe to run again: it creates what is missing and changes nothing else.
-- Development and tests need none of this: scripts/pg.sh makes private clusters.

-- The daemon's role owns the schema it migrates. No superuser, no role creation.
SELECT 'CREATE ROLE overstapd LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION'
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'overstapd') \gexec

SELECT 'CREATE DATABASE overstap OWNER overstapd ENCODING ''UTF8'' TEMPLATE template0'
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'overstap') \gexec

REVOKE ALL ON DATABASE overstap FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE overstap TO overstapd;

\connect overstap
-- PostgreSQL 15 already keeps CREATE on schema public from PUBLIC; say so anyway.
REVOKE ALL ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO overstapd;

-- Server settings worth checking in postgresql.conf for this workload:
--   max_connections     >= 4 per overstapd instance + your tools
--   synchronous_commit  = on   (an ack means committed: DESIGN §4.4)
--   fsync               = on
--   shared_buffers      ~ 25% of memory
--   wal_compression     = on   (group commits write many small rows)
