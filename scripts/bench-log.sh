#!/usr/bin/env bash
# bench-log.sh CONNINFO EVENTS — a long event log for `make bench` (l).
#
# Fills a migrated, empty overstapd database with EVENTS events of EVENTS/5
# pupils in the ten cohorts before 2027 (five events each: registration,
# keuze and DDD from the pupil's vo school, AANGEMELD and INGESCHREVEN from an
# mbo institution), their states, the personal data retention keeps (the last
# two cohorts; older pupils have no PGN left) and every sweep of those
# cohorts as done — a database that has been running for ten years. Event ids
# are clustered per source, as a school system numbers its own. Loaded with
# COPY ... FREEZE into the tables truncated in the same transaction, the
# indexes dropped first and built again after, then VACUUM ANALYZE: nothing
# of the load is left for the run to pay (hint bits, autovacuum).
set -euo pipefail
CI=$1
EVENTS=$2
PUPILS=$((EVENTS / 5))
psql_() { psql -X -q -v ON_ERROR_STOP=1 "$CI" "$@"; }

# The rows, as views the COPY below reads through a second connection.
psql_ <<SQL
CREATE TABLE bench_school AS
  SELECT row_number() OVER (ORDER BY code) - 1 AS n, code, gemeente FROM school WHERE gemeente IS NOT NULL;
CREATE TABLE bench_p AS
  SELECT i AS id, 2017 + ((i - 1) * 10 / $PUPILS)::int AS cohort, s.code AS school, s.gemeente,
         (ARRAY['25LP', '25LQ', '27GD', '28DE', '30RX', '20MB'])[1 + i % 6] AS mbo
  FROM generate_series(1, $PUPILS) i
  JOIN bench_school s ON s.n = i % (SELECT count(*) FROM bench_school);
CREATE VIEW bench_gen_event AS
  SELECT CASE WHEN k.kind < 10 THEN p.school ELSE p.mbo END AS org,
         'h' || lpad(p.id::text, 8, '0') || '-' || k.kind AS event_id,
         p.id AS pupil_id, p.cohort, k.kind::smallint,
         k.at + (p.id % 86400) - 3600 AS occurred_at, k.at + (p.id % 86400) AS received_at,
         CASE WHEN k.kind < 10 THEN p.school ELSE p.mbo END AS school,
         CASE WHEN k.kind = 1 THEN p.gemeente ELSE '' END AS woongemeente,
         (CASE WHEN k.kind = 1 THEN 1 + p.id % 4 ELSE 0 END)::smallint AS vo_soort,
         (CASE WHEN k.kind = 2 THEN 1 ELSE 0 END)::smallint AS bestemming,
         CASE WHEN k.kind IN (2, 11, 15) THEN '25180' ELSE '' END AS crebo,
         CASE WHEN k.kind = 2 THEN p.mbo ELSE '' END AS mbo_instelling,
         (CASE WHEN k.kind IN (2, 11, 15) THEN 2 ELSE 0 END)::smallint AS niveau,
         (CASE WHEN k.kind = 2 THEN 1 ELSE 0 END)::smallint AS leerweg,
         '' AS reason
  FROM bench_p p
  CROSS JOIN LATERAL (VALUES
      (1, extract(epoch FROM make_date(p.cohort - 1, 9, 15))::bigint),
      (2, extract(epoch FROM make_date(p.cohort, 2, 1))::bigint),
      (3, extract(epoch FROM make_date(p.cohort, 3, 15))::bigint),
      (11, extract(epoch FROM make_date(p.cohort, 3, 1))::bigint),
      (15, extract(epoch FROM make_date(p.cohort, 9, 1))::bigint)) AS k(kind, at);
CREATE VIEW bench_gen_pupil AS
  SELECT id, CASE WHEN cohort >= 2025 THEN '0' || lpad(id::text, 8, '0') END AS pgn FROM bench_p;
CREATE VIEW bench_gen_state AS
  SELECT id, cohort, ''::bytea AS facts, 5 AS status, true AS registered, true AS left_vo, true AS has_ddd,
         school, 1 + id % 4 AS vo_soort, gemeente, mbo, '25180' AS crebo,
         extract(epoch FROM make_date(cohort, 3, 1))::bigint AS first_aangemeld_at,
         extract(epoch FROM make_date(cohort, 9, 1))::bigint AS updated_at, 1 AS version
  FROM bench_p;
CREATE VIEW bench_gen_personal AS
  SELECT id, cohort, school, true AS is_registration, 'Leerling ' || id AS name,
         make_date(cohort - 16, 1 + id % 12, 1 + id % 28) AS birth_date,
         extract(epoch FROM make_date(cohort - 1, 9, 15))::bigint AS at
  FROM bench_p WHERE cohort >= 2025;
SQL

# the primary keys, unique constraints and indexes of the loaded tables
TABLES="'event'::regclass, 'pupil'::regclass, 'pupil_state'::regclass, 'pupil_personal'::regclass"
psql_ <<SQL
CREATE TABLE bench_saved AS
  SELECT 1 AS ord, format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname,
                          pg_get_constraintdef(oid)) AS def,
         format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname) AS undo
  FROM pg_constraint WHERE conrelid IN ($TABLES) AND contype IN ('p', 'u')
  UNION ALL
  SELECT 2, pg_get_indexdef(indexrelid), format('DROP INDEX %s', indexrelid::regclass)
  FROM pg_index WHERE indrelid IN ($TABLES)
    AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = pg_index.indexrelid);
SQL

psql_ <<SQL
BEGIN;
DO \$\$ DECLARE r record; BEGIN
  FOR r IN SELECT undo FROM bench_saved ORDER BY ord DESC LOOP EXECUTE r.undo; END LOOP;
END \$\$;
TRUNCATE event, pupil, pupil_state, pupil_personal;
\\copy event FROM PROGRAM 'psql -X -q "$CI" -c "COPY (SELECT * FROM bench_gen_event) TO STDOUT"' WITH (FREEZE)
\\copy pupil (id, pgn) FROM PROGRAM 'psql -X -q "$CI" -c "COPY (SELECT * FROM bench_gen_pupil) TO STDOUT"' WITH (FREEZE)
\\copy pupil_state (pupil_id, cohort, facts, status, registered, left_vo, has_ddd, vo_school, vo_soort, woongemeente, mbo_instelling, crebo, first_aangemeld_at, updated_at, version) FROM PROGRAM 'psql -X -q "$CI" -c "COPY (SELECT * FROM bench_gen_state) TO STDOUT"' WITH (FREEZE)
\\copy pupil_personal (pupil_id, cohort, source, is_registration, name, birth_date, at) FROM PROGRAM 'psql -X -q "$CI" -c "COPY (SELECT * FROM bench_gen_personal) TO STDOUT"' WITH (FREEZE)
COMMIT;
SQL

psql_ <<SQL
SET maintenance_work_mem = '1GB';
DO \$\$ DECLARE r record; BEGIN
  FOR r IN SELECT def FROM bench_saved ORDER BY ord LOOP EXECUTE r.def; END LOOP;
END \$\$;
SELECT setval('pupil_id_seq', $PUPILS);
INSERT INTO sweep_run SELECT c, d, 0, 0 FROM generate_series(2015, 2026) c,
  unnest(ARRAY['aanmelddatum', 'zomer', 'teldatum']) d ON CONFLICT DO NOTHING;
DROP VIEW bench_gen_event, bench_gen_pupil, bench_gen_state, bench_gen_personal;
DROP TABLE bench_p, bench_school, bench_saved;
VACUUM ANALYZE;
CHECKPOINT;
SQL
psql_ -Atc "SELECT 'events ' || (SELECT count(*) FROM event) || ', pupils ' || (SELECT count(*) FROM pupil) ||
  ', event table ' || pg_size_pretty(pg_total_relation_size('event'))"
