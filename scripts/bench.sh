#!/usr/bin/env bash
# bench.sh — `make bench`: the side-by-side benchmark of issues 6 and 15, in
# one run on one machine. Sets up its own PostgreSQL cluster (var/bench-pg),
# PKI (var/pki) and daemons, then measures:
#   (a) pgbench: one event per transaction into a table with a bigserial key,
#       a unique (source, source event id) key and seven payload columns,
#       8 clients (the shape of the independent measurement of issue 15)
#   (b) COPY of equivalent rows into a copy of the event table
#   (n) the cold path: every event the registration of a pupil the daemon
#       has never seen, 16 mutual-TLS connections of four vo schools
#   (c) the warm path: overstap-bench against overstapd at full throttle, a
#       pool of 100,000 known pupils (ack after COMMIT)
#   (d) ack latency at half of (c)'s rate
#   (e) 10,000 idle TLS connections: daemon RSS, with P-256 client certificates
#       (the development PKI's) and with Ed25519 ones (deploy/pki.sh PKI_CLIENT_KEY)
#   (l) a long log: (n) and (c) again with 20 million events (4 million
#       pupils of ten earlier cohorts) stored before the run, beside the
#       rates on the nearly empty tables
#   (f) StatsQuery latency: one region of ~3,100 pupils, and the nation (200,000)
#   (g) the teldatum sweep over 1,000,000 pupils
#   (h) StatsQuery on a peildatum (as_of): a replay of the event log, region 39
#       (~3,100 pupils) and the nation (200,000), every query a new moment
# and prints one table, also written to bench/results.md, with a progress
# line per part on stderr.
#
# Environment: BENCH_SECS (20) seconds per throughput run; BENCH_QUICK=1 for a
# short smoke run (smaller sizes; the table says so); BENCH_PARTS (abncdelfgh)
# to run only some parts (the table shows only those); BENCH_PG_PORT (54359)
# the cluster's port; BENCH_DAEMON_PORT the first of three daemon ports
# (default: free ports the kernel picks); BENCH_LOG_EVENTS (20000000) the
# events of (l); BENCH_BUILD (build) the binaries; BENCH_PROFILE=1 loads
# pg_stat_statements (in every database the run makes); BENCH_LOG_LEVEL (warn)
# the daemons' (debug: a line per group transaction, with its time). Only a full run of every part writes
# bench/results.md; the others write var/bench/results-partial.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
B=${BENCH_BUILD:-$ROOT/build}
PKI=$ROOT/var/pki
SHARED=${OVERSTAP_SHARED:-$ROOT/../shared}
PG_NAME=bench-pg
PG_PORT=${BENCH_PG_PORT:-54359}
SECS=${BENCH_SECS:-20}
QUICK=${BENCH_QUICK:-0}
NATIONAL=200000
REGION_PUPILS=3100
SWEEP_PUPILS=1000000
IDLE=10000
COPY_ROWS=1000000
LOG_EVENTS=${BENCH_LOG_EVENTS:-20000000}
if [ "$QUICK" = 1 ]; then
	SECS=5 NATIONAL=20000 REGION_PUPILS=3100 SWEEP_PUPILS=100000 IDLE=1000 COPY_ROWS=100000
	LOG_EVENTS=${BENCH_LOG_EVENTS:-1000000}
fi
ALL_PARTS=abncdelfgh
PARTS=${BENCH_PARTS:-$ALL_PARTS}
part() { [[ $PARTS == *$1* ]]; }
for v in A_TPS A_LAT B_RPS C_EPS C_P99 C_REJ C_ERR D_EPS D_P50 D_P99 E_RSS E_READY E_ED_RSS E_ED_READY RSS_BEFORE \
	N_EPS N_P99 N_REJ N_ERR L_EVENTS L_N_EPS L_N_REJ L_N_ERR L_C_EPS L_C_REJ L_C_ERR L_LOAD_SECS \
	H_EVENTS H_R_P50 H_R_P99 H_N_P50 H_N_P99 F_REGION_N F_NATION_N F_R_P50 F_R_P99 F_N_P50 F_N_P99 F_RC_P50 F_RC_P99 F_NC_P50 F_NC_P99 G_N G_SECS G_ALERTS; do
	printf -v "$v" 0
done
TMP=$ROOT/var/bench
mkdir -p "$TMP" bench
DAEMON_PID=
T_START=$(date +%s)

# Three daemon ports: BENCH_DAEMON_PORT and the two after it, else three free
# ones (the kernel's choice; nothing else may take them in the meantime).
if [ -n "${BENCH_DAEMON_PORT:-}" ]; then
	read -r PORT_INGEST PORT_QUERY PORT_ASOF <<<"$BENCH_DAEMON_PORT $((BENCH_DAEMON_PORT + 1)) $((BENCH_DAEMON_PORT + 2))"
else
	read -r PORT_INGEST PORT_QUERY PORT_ASOF < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
fi

# a progress line per part: the time since the start, then what it does
say() { local t=$(($(date +%s) - T_START)); printf '\n== [%02d:%02d] %s\n' $((t / 60)) $((t % 60)) "$*" >&2; }
cleanup() {
	[ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null || true
	bash scripts/pg.sh stop "$PG_NAME" >/dev/null 2>&1 || true
}
trap cleanup EXIT

json() { python3 -c 'import json,sys; d=json.load(sys.stdin); 
v=d
for k in sys.argv[1].split("."): v=v[k]
print(v)' "$1"; }

# ---- set-up ------------------------------------------------------------------
say "set-up: PKI, PostgreSQL on port $PG_PORT, daemons on ports $PORT_INGEST $PORT_QUERY $PORT_ASOF, parts $PARTS"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
bash deploy/pki.sh "$PKI" >/dev/null
bash scripts/pg.sh start "$PG_NAME" "$PG_PORT" >/dev/null
PSQL_BASE=$(bash scripts/pg.sh conninfo "$PG_NAME" postgres)
psql_do() { psql -X -q -v ON_ERROR_STOP=1 "$(bash scripts/pg.sh conninfo "$PG_NAME" "$1")" "${@:2}"; }
# Settings for a write-heavy load: the WAL is sized so that no checkpoint falls
# inside a run. fsync and synchronous_commit stay on: acks mean durable.
psql_do postgres -c "ALTER SYSTEM SET max_wal_size = '8GB'" \
	-c "ALTER SYSTEM SET checkpoint_timeout = '30min'" \
	-c "ALTER SYSTEM SET wal_compression = '${BENCH_WAL_COMPRESSION:-lz4}'" \
	-c "ALTER SYSTEM SET wal_buffers = '64MB'" \
	-c "ALTER SYSTEM SET shared_buffers = '1GB'" \
	-c "ALTER SYSTEM SET max_connections = 200" \
	-c "$( [ "${BENCH_PROFILE:-0}" = 1 ] && echo "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" ||
		echo "ALTER SYSTEM RESET shared_preload_libraries")" >/dev/null
bash scripts/pg.sh stop "$PG_NAME" >/dev/null
bash scripts/pg.sh start "$PG_NAME" "$PG_PORT" >/dev/null

fresh_db() {
	psql_do postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null
	if [ "${BENCH_PROFILE:-0}" = 1 ]; then psql_do "$1" -c "CREATE EXTENSION pg_stat_statements" >/dev/null; fi
	local ci
	ci=$(bash scripts/pg.sh conninfo "$PG_NAME" "$1")
	"$B/overstapd" --migrate -c <(conf "$ci" 1 0 system) >/dev/null
	"$B/overstapctl" import-regions --db "$ci" "$SHARED/data/rmc_regios.csv" >/dev/null
	"$B/overstapctl" import-duo-vo --db "$ci" "$SHARED/data/vo_hoofdvestigingen_duo_2016.csv" >/dev/null
}

conf() { # conninfo port http_port clockmode [clockstart]
	cat <<EOF
[server]
listen = 127.0.0.1:$2
http_listen = $( [ "$3" = 0 ] && echo "" || echo "127.0.0.1:$3" )
max_connections = 20000
max_connections_per_org = 20000
stats_cache_ttl = ${STATS_TTL:-60s}
[tls]
cert = $PKI/server.crt
key = $PKI/server.key
ca = $PKI/ca.crt
[database]
conninfo = $1
[log]
level = ${BENCH_LOG_LEVEL:-warn}
[clock]
mode = $4
start = ${5:-}
EOF
}

start_daemon() { # db port clockmode [clockstart]
	local ci
	ci=$(bash scripts/pg.sh conninfo "$PG_NAME" "$1")
	conf "$ci" "$2" 0 "$3" "${4:-}" >"$TMP/$1.conf"
	"$B/overstapd" -c "$TMP/$1.conf" 2>"$TMP/$1.log" &
	DAEMON_PID=$!
	for _ in $(seq 100); do
		if (exec 3<>/dev/tcp/127.0.0.1/"$2") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "overstapd did not start; see $TMP/$1.log" >&2
	exit 1
}
stop_daemon() {
	kill "$DAEMON_PID"
	wait "$DAEMON_PID" || true
	DAEMON_PID=
}
rss_mb() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$1/status"; } # PID: resident now, MB

# ---- (a) pgbench and (b) COPY ---------------------------------------------------
fresh_db bench_ingest
CI=$(bash scripts/pg.sh conninfo "$PG_NAME" bench_ingest)
psql_do bench_ingest >/dev/null <<'SQL'
-- (a): the shape of the independent measurement (issue 15): a bigserial key,
-- a unique (source, source event id) key, seven payload columns
CREATE TABLE pgb_event (
    id bigserial PRIMARY KEY,
    source text NOT NULL,
    source_event_id text NOT NULL,
    pupil bigint NOT NULL, cohort integer NOT NULL, kind smallint NOT NULL, occurred_at bigint NOT NULL,
    received_at bigint NOT NULL, school text NOT NULL, crebo text NOT NULL,
    UNIQUE (source, source_event_id));
CREATE SEQUENCE pgb_seq;
-- (b): a copy of the event table with its indexes
CREATE TABLE copy_event (LIKE event INCLUDING ALL);
CREATE INDEX ON copy_event (pupil_id, cohort);
SQL
if part a; then
say "(a) pgbench: one event per transaction, 8 clients, ${SECS}s"
cat >"$TMP/event.pgbench" <<'SQL'
\set pupil random(1, 100000)
INSERT INTO pgb_event (source, source_event_id, pupil, cohort, kind, occurred_at, received_at, school, crebo)
VALUES ('25LP', 'pgb-' || nextval('pgb_seq'), :pupil, 2027, 11, 1790000000, 1790000000, '25LP', '25180');
SQL
PGPASSFILE=/dev/null pgbench -n -c 8 -j 2 -T "$SECS" -f "$TMP/event.pgbench" "$CI" >"$TMP/pgbench.txt" 2>&1
A_TPS=$(awk '/^tps = / {printf "%.0f", $3}' "$TMP/pgbench.txt")
A_LAT=$(awk '/latency average/ {print $4}' "$TMP/pgbench.txt")
fi

if part b; then
say "(b) COPY of $COPY_ROWS equivalent rows"
psql_do bench_ingest -c "COPY (SELECT '25LP', 'copy-' || i, i % 100000, 2027, 11, 1790000000::bigint, 1790000000::bigint, '25LP', 'GM0935', 0, 0, '25180', '25LP', 2, 1, '' FROM generate_series(1, $COPY_ROWS) i) TO STDOUT" >"$TMP/copy.tsv"
T0=$(date +%s.%N)
psql_do bench_ingest -c "\\copy copy_event FROM '$TMP/copy.tsv'" >/dev/null
T1=$(date +%s.%N)
B_RPS=$(python3 -c "print(round($COPY_ROWS/($T1-$T0)))")
rm -f "$TMP/copy.tsv"
fi

# ---- (n) cold, (c) warm, (d) half rate, (e) idle connections -------------------------
BENCH=("$B/overstap-bench" --port "$PORT_INGEST" --pki "$PKI" --cohort 2027 --json)
# the cold path: 16 connections of four vo schools, every event a new pupil
COLD=("${BENCH[@]}" --new-pupils --connections 16 --batch 500 --pipeline 4
	--identity vo:25LX00 --identity vo:25LY00 --identity vo:26HL00 --identity vo:02FC00)
# cold_then_warm DB NAME: (n) on the database as it is, then a warm-up of the
# pool and (c); the rates in $TMP/NAME-cold.json and $TMP/NAME-warm.json
cold_then_warm() {
	# nothing of what came before may still be working in the background
	psql_do "$1" -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null
	start_daemon "$1" "$PORT_INGEST" system
	say "($2) cold path: every event a new pupil, 16 connections, ${SECS}s"
	"${COLD[@]}" --duration "$SECS" --run-id "$2-cold" >"$TMP/$2-cold.json"
	psql_do "$1" -c "VACUUM ANALYZE" >/dev/null
	say "($2) warm path: a 10 s warm-up of 100,000 pupils, then full throttle, ${SECS}s"
	"${BENCH[@]}" --duration 10 --run-id "$2-warmup" >/dev/null
	"${BENCH[@]}" --duration "$SECS" --connections 8 --batch 500 --pipeline 4 --run-id "$2-warm" >"$TMP/$2-warm.json"
}
if part n || part c || part d || part e; then
	if part n || part c; then
		cold_then_warm bench_ingest n
		N_EPS=$(json events_per_sec <"$TMP/n-cold.json")
		N_P99=$(json ack_ms.p99 <"$TMP/n-cold.json")
		N_REJ=$(json rejected <"$TMP/n-cold.json")
		N_ERR=$(json errors <"$TMP/n-cold.json")
		C_EPS=$(json events_per_sec <"$TMP/n-warm.json")
		C_P99=$(json ack_ms.p99 <"$TMP/n-warm.json")
		C_REJ=$(json rejected <"$TMP/n-warm.json")
		C_ERR=$(json errors <"$TMP/n-warm.json")
	else
		psql_do bench_ingest -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null
		start_daemon bench_ingest "$PORT_INGEST" system
		"${BENCH[@]}" --duration 10 --run-id warm >/dev/null
	fi
fi
if part d; then
# what (c) left behind (autovacuum of a million fresh rows, dirty buffers) is
# done first: (d) measures the latency of a steady half load
psql_do bench_ingest -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null
HALF=$(python3 -c "print(int(${C_EPS:-0}/2) or 25000)")
say "(d) ack latency at half rate ($HALF events/s), ${SECS}s"
"${BENCH[@]}" --duration 5 --connections 8 --batch 50 --pipeline 4 --rate "$HALF" --run-id halfwarm >/dev/null
"${BENCH[@]}" --duration "$SECS" --connections 8 --batch 50 --pipeline 4 --rate "$HALF" --run-id half >"$TMP/d.json"
D_EPS=$(json events_per_sec <"$TMP/d.json")
D_P50=$(json ack_ms.p50 <"$TMP/d.json")
D_P99=$(json ack_ms.p99 <"$TMP/d.json")
fi
if part e; then
# idle_rss NAME [overstap-bench identity options]: a fresh daemon (what 10,000
# connections cost, not the PGN cache of (c)), its peak RSS while they connect
# and stay; sets E_RSS, E_READY and RSS_BEFORE
idle_rss() {
	if [ -n "$DAEMON_PID" ]; then stop_daemon; fi
	start_daemon bench_ingest "$PORT_INGEST" system
	RSS_BEFORE=$(rss_mb "$DAEMON_PID")
	"${BENCH[@]}" "${@:2}" --idle "$IDLE" --idle-secs 5 >"$TMP/$1.json" &
	local idle_pid=$! r
	E_RSS=0
	while kill -0 "$idle_pid" 2>/dev/null; do
		r=$(rss_mb "$DAEMON_PID")
		[ "$r" -gt "$E_RSS" ] && E_RSS=$r
		sleep 0.2
	done
	wait "$idle_pid" || true
	E_READY=$(json ready <"$TMP/$1.json")
}
say "(e) $IDLE idle TLS connections, Ed25519 client certificates"
mkdir -p "$PKI/ed25519" && ln -sf ../ca.crt "$PKI/ed25519/ca.crt"
PKI_CLIENT_KEY=ed25519 bash deploy/pki.sh issue "$PKI" vo 25LX00 ed25519/vo-25LX00 >/dev/null
idle_rss e --pki "$PKI/ed25519" --identity vo:25LX00
E_ED_RSS=$E_RSS E_ED_READY=$E_READY
say "(e) $IDLE idle TLS connections, P-256 client certificates"
idle_rss e-p256 --identity vo:25LX00
fi
if [ -n "$DAEMON_PID" ]; then stop_daemon; fi

# ---- (l) a long log: 20 million events stored before the run ---------------------------
if part l; then
say "(l) loading a long log: $LOG_EVENTS events of $((LOG_EVENTS / 5)) pupils in ten earlier cohorts (COPY)"
fresh_db bench_log
T0=$(date +%s)
bash scripts/bench-log.sh "$(bash scripts/pg.sh conninfo "$PG_NAME" bench_log)" "$LOG_EVENTS" >"$TMP/l-load.txt"
L_LOAD_SECS=$(($(date +%s) - T0))
L_EVENTS=$(psql_do bench_log -Atc "SELECT count(*) FROM event")
# the first start: its retention pass over the old cohorts, then nothing
start_daemon bench_log "$PORT_INGEST" system
sleep 5
stop_daemon
cold_then_warm bench_log l
stop_daemon
L_N_EPS=$(json events_per_sec <"$TMP/l-cold.json")
L_N_REJ=$(json rejected <"$TMP/l-cold.json")
L_N_ERR=$(json errors <"$TMP/l-cold.json")
L_C_EPS=$(json events_per_sec <"$TMP/l-warm.json")
L_C_REJ=$(json rejected <"$TMP/l-warm.json")
L_C_ERR=$(json errors <"$TMP/l-warm.json")
psql_do postgres -c "DROP DATABASE bench_log" >/dev/null
fi

# The vo schools of region 39 and of the others, numbered: the pupils of (f) and (h) are
# spread over them.
SCHOOL_TABLES="CREATE TEMP TABLE s39 AS SELECT row_number() OVER (ORDER BY code) - 1 AS n, code, gemeente
  FROM school WHERE gemeente IN (SELECT code FROM gemeente WHERE region = '39');
CREATE TEMP TABLE sother AS SELECT row_number() OVER (ORDER BY code) - 1 AS n, code, gemeente
  FROM school WHERE gemeente IN (SELECT code FROM gemeente WHERE region <> '39');"

# ---- (f) StatsQuery and (g) the teldatum sweep ---------------------------------------
if part f || part g; then
say "(f, g) loading $NATIONAL pupils (cohort 2026) and $SWEEP_PUPILS pupils (cohort 2027)"
fresh_db bench_query
# States as the daemon would have written them: real schools and gemeenten,
# statuses in the proportions of a real cohort. The facts column is not read
# by statistics or sweeps. Region 39 gets exactly REGION_PUPILS pupils.
psql_do bench_query >/dev/null <<SQL
$SCHOOL_TABLES
CREATE FUNCTION pick_status(i bigint) RETURNS smallint LANGUAGE sql IMMUTABLE AS
  \$\$ SELECT (CASE WHEN i % 100 < 86 THEN 5 WHEN i % 100 < 90 THEN 4 WHEN i % 100 < 93 THEN 3
                    WHEN i % 100 < 96 THEN 6 WHEN i % 100 < 98 THEN 7 ELSE 2 END)::smallint \$\$;
INSERT INTO pupil_state (pupil_id, cohort, facts, status, registered, left_vo, has_ddd, vo_school, vo_soort,
    woongemeente, mbo_instelling, crebo, first_aangemeld_at, updated_at)
SELECT i, 2026, '\x'::bytea, pick_status(i), true, true, i % 100 < 97, s.code, 1 + i % 4, s.gemeente,
    CASE WHEN pick_status(i) IN (3, 4, 5) THEN '25LP' ELSE '' END,
    CASE WHEN pick_status(i) IN (3, 4, 5) THEN '25180' ELSE '' END, 1775000000, 1775000000
FROM generate_series(1, $NATIONAL) i
JOIN LATERAL (SELECT code, gemeente FROM s39 WHERE i <= $REGION_PUPILS AND n = i % (SELECT count(*) FROM s39)
              UNION ALL
              SELECT code, gemeente FROM sother WHERE i > $REGION_PUPILS AND n = i % (SELECT count(*) FROM sother)) s ON true;
INSERT INTO pupil_state (pupil_id, cohort, facts, status, registered, left_vo, has_ddd, vo_school, vo_soort,
    woongemeente, mbo_instelling, crebo, first_aangemeld_at, updated_at)
SELECT 10000000 + i, 2027, '\x'::bytea, (CASE WHEN i % 100 < 80 THEN 5 WHEN i % 100 < 88 THEN 4
        WHEN i % 100 < 94 THEN 3 ELSE 6 END)::smallint, true, true, true, s.code, 1 + i % 4, s.gemeente,
    '25LP', '25180', 1780000000, 1780000000
FROM generate_series(1, $SWEEP_PUPILS) i
JOIN LATERAL (SELECT code, gemeente FROM sother WHERE n = i % (SELECT count(*) FROM sother)) s ON true;
-- the earlier deadlines of these cohorts count as done: only the teldatum is timed
INSERT INTO sweep_run SELECT c, d, 0, 0 FROM unnest(ARRAY[2025, 2026]) c, unnest(ARRAY['aanmelddatum', 'zomer', 'teldatum']) d;
INSERT INTO sweep_run VALUES (2027, 'aanmelddatum', 0, 0), (2027, 'zomer', 0, 0);
VACUUM ANALYZE;
SQL
F_REGION_N=$(psql_do bench_query -Atc "SELECT count(*) FROM pupil_state s JOIN school sc ON sc.code = s.vo_school JOIN gemeente g ON g.code = sc.gemeente WHERE s.cohort = 2026 AND g.region = '39'")
F_NATION_N=$(psql_do bench_query -Atc "SELECT count(*) FROM pupil_state WHERE cohort = 2026")
G_N=$(psql_do bench_query -Atc "SELECT count(*) FROM pupil_state WHERE cohort = 2027")

start_daemon bench_query "$PORT_QUERY" manual 2027-09-30T12:00:00Z
fi
if part f; then
STATS=("$B/overstap-bench" --port "$PORT_QUERY" --pki "$PKI" --identity admin:ops --cohort 2026 --json)
say "(f) StatsQuery: region 39 ($F_REGION_N pupils) and the nation ($F_NATION_N pupils)"
"${STATS[@]}" --stats 20 --stats-region 39 --stats-by vo_school >/dev/null
"${STATS[@]}" --stats 500 --stats-region 39 --stats-by vo_school >"$TMP/f-region.json"
"${STATS[@]}" --stats 50 --stats-by region >"$TMP/f-nation.json"
F_R_P50=$(json latency_ms.p50 <"$TMP/f-region.json")
F_R_P99=$(json latency_ms.p99 <"$TMP/f-region.json")
F_N_P50=$(json latency_ms.p50 <"$TMP/f-nation.json")
F_N_P99=$(json latency_ms.p99 <"$TMP/f-nation.json")
say "(f) the same without kept figures (stats_cache_ttl = 0: every query computes from the state table)"
stop_daemon
STATS_TTL=0 start_daemon bench_query "$PORT_QUERY" manual 2027-09-30T12:00:00Z
"${STATS[@]}" --stats 20 --stats-region 39 --stats-by vo_school >/dev/null
"${STATS[@]}" --stats 300 --stats-region 39 --stats-by vo_school >"$TMP/f-region-cold.json"
"${STATS[@]}" --stats 30 --stats-by region >"$TMP/f-nation-cold.json"
F_RC_P50=$(json latency_ms.p50 <"$TMP/f-region-cold.json")
F_RC_P99=$(json latency_ms.p99 <"$TMP/f-region-cold.json")
F_NC_P50=$(json latency_ms.p50 <"$TMP/f-nation-cold.json")
F_NC_P99=$(json latency_ms.p99 <"$TMP/f-nation-cold.json")
fi
if part g; then

say "(g) teldatum sweep over $G_N pupils"
T0=$(date +%s.%N)
"$B/overstapctl" sweep --at 2027-10-01T12:00:00Z --host 127.0.0.1 --port "$PORT_QUERY" \
	--cert "$PKI/admin-ops.crt" --key "$PKI/admin-ops.key" --ca "$PKI/ca.crt" >"$TMP/g.txt"
T1=$(date +%s.%N)
G_SECS=$(python3 -c "print(f'{$T1-$T0:.2f}')")
G_ALERTS=$(psql_do bench_query -Atc "SELECT alerts FROM sweep_run WHERE cohort = 2027 AND deadline = 'teldatum'")
fi
if part f || part g; then stop_daemon; fi

# ---- (h) the peildatum: a replay of the event log ---------------------------------
if part h; then
say "(h) loading an event log: $NATIONAL pupils of cohort 2028, five events each at most"
fresh_db bench_asof
# Events as ingest would have stored them through a school year, and the
# states written at the last of them: a peildatum before that replays every
# pupil from its events (none of the states may be used as they are).
psql_do bench_asof >/dev/null <<SQL
$SCHOOL_TABLES
CREATE TEMP TABLE p AS SELECT i, s.code, s.gemeente FROM generate_series(1, $NATIONAL) i
JOIN LATERAL (SELECT code, gemeente FROM s39 WHERE i <= $REGION_PUPILS AND n = i % (SELECT count(*) FROM s39)
              UNION ALL
              SELECT code, gemeente FROM sother WHERE i > $REGION_PUPILS AND n = i % (SELECT count(*) FROM sother)) s ON true;
INSERT INTO pupil (id, pgn) SELECT i, lpad(i::text, 9, '0') FROM p;
INSERT INTO event (org, event_id, pupil_id, cohort, kind, occurred_at, received_at, school, woongemeente, vo_soort,
    bestemming, crebo, mbo_instelling, niveau, leerweg)
SELECT CASE WHEN k.kind < 10 THEN p.code ELSE '25LP' END, 'b' || p.i || '-' || k.kind, p.i, 2028, k.kind,
    k.at - 3600, k.at, CASE WHEN k.kind < 10 THEN p.code ELSE '25LP' END,
    CASE WHEN k.kind = 1 THEN p.gemeente ELSE '' END, CASE WHEN k.kind = 1 THEN 1 + p.i % 4 ELSE 0 END,
    CASE WHEN k.kind = 2 THEN 1 ELSE 0 END, CASE WHEN k.kind <> 1 THEN '25180' ELSE '' END,
    CASE WHEN k.kind = 2 THEN '25LP' ELSE '' END, CASE WHEN k.kind IN (2, 11, 12, 15) THEN 2 ELSE 0 END,
    CASE WHEN k.kind = 2 THEN 1 ELSE 0 END
FROM p JOIN (VALUES (1, 1822384800, 10), (2, 1831546800, 9), (11, 1835521200, 8), (12, 1840788000, 7),
                    (15, 1850810400, 6)) AS k(kind, at, upto) ON p.i % 10 < k.upto;
INSERT INTO pupil_state (pupil_id, cohort, facts, status, registered, left_vo, has_ddd, vo_school, vo_soort,
    woongemeente, updated_at)
SELECT i, 2028, '\x'::bytea, 5, true, false, false, code, 1 + i % 4, gemeente, 1850810400 FROM p;
VACUUM ANALYZE;
SQL
H_EVENTS=$(psql_do bench_asof -Atc "SELECT count(*) FROM event")
start_daemon bench_asof "$PORT_ASOF" manual 2027-09-30T12:00:00Z
stop_daemon  # the log horizon: its first start
start_daemon bench_asof "$PORT_ASOF" manual 2028-09-30T12:00:00Z
ASOF=("$B/overstap-bench" --port "$PORT_ASOF" --pki "$PKI" --identity admin:ops --cohort 2028 --json
	--stats-as-of 1843000000)
say "(h) StatsQuery on a peildatum: region 39 and the nation ($H_EVENTS events)"
"${ASOF[@]}" --stats 20 --stats-region 39 --stats-by vo_school >"$TMP/h-region.json"
"${ASOF[@]}" --stats 5 --stats-by region >"$TMP/h-nation.json"
H_R_P50=$(json latency_ms.p50 <"$TMP/h-region.json")
H_R_P99=$(json latency_ms.p99 <"$TMP/h-region.json")
H_N_P50=$(json latency_ms.p50 <"$TMP/h-nation.json")
H_N_P99=$(json latency_ms.p99 <"$TMP/h-nation.json")
stop_daemon
fi

# ---- the table ---------------------------------------------------------------------
CPU=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
NCPU=$(nproc)
MEM=$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)
PGV=$(psql_do postgres -Atc "SHOW server_version")
ratio() { python3 -c "print(f'{$1/$2:.1f}×' if $2 else 'n/a')"; }
pct() { python3 -c "print(f'{100*$1/$2:.0f}%' if $2 else 'n/a')"; }
ok() { python3 -c "print('yes' if $1 else 'NO')"; }
# a row only for what this run measured; a run of some parts, or a QUICK one,
# writes var/bench/results-partial.md and leaves bench/results.md alone
row() { local p=$1 i; for ((i = 0; i < ${#p}; i++)); do part "${p:i:1}" || return 0; done; echo "$2"; }
RESULTS=bench/results.md
[[ $PARTS == "$ALL_PARTS" && $QUICK != 1 ]] || RESULTS=$TMP/results-partial.md
{
	echo "# overstapd benchmark"
	echo
	echo "Run $(date -u +%Y-%m-%dT%H:%MZ) on $NCPU × $CPU, $MEM RAM, $(. /etc/os-release; echo "$PRETTY_NAME"), PostgreSQL $PGV;"
	echo "daemon, PostgreSQL and load generator on the same machine. ${SECS}s per throughput run.$( [ "$QUICK" = 1 ] && echo ' QUICK run: reduced sizes.')"
	echo "Parts $PARTS; the whole run took $(( ($(date +%s) - T_START + 30) / 60 )) minutes."
	echo
	echo "| | measurement | figure | target | met |"
	echo "|---|---|---|---|---|"
	row a "| a | pgbench, 1 event per transaction, 8 clients (bigserial key, unique (source, event id), 7 payload columns) | $A_TPS events/s (latency avg $A_LAT ms) | | |"
	row b "| b | COPY of $COPY_ROWS equivalent rows (a copy of the event table) | $B_RPS rows/s | | |"
	row n "| n | cold path: every event a new pupil's registration, 16 TLS connections, batches of 500, ack after COMMIT | $N_EPS events/s (p99 $N_P99 ms, rejected $N_REJ, errors $N_ERR) | | |"
	row an "| n/a | | $(ratio "$N_EPS" "$A_TPS") | ≥ 4× | $(ok "$N_EPS >= 4*$A_TPS") |"
	row bn "| n/b | | $(pct "$N_EPS" "$B_RPS") | ≥ 25% | $(ok "$N_EPS >= 0.25*$B_RPS") |"
	row c "| c | warm path: overstap-bench full throttle on 100,000 known pupils, 8 TLS connections, ack after COMMIT | $C_EPS events/s (p99 $C_P99 ms, rejected $C_REJ, errors $C_ERR) | ≥ 50,000 | $(ok "$C_EPS >= 50000") |"
	row ac "| c/a | | $(ratio "$C_EPS" "$A_TPS") | ≥ 4× | $(ok "$C_EPS >= 4*$A_TPS") |"
	row bc "| c/b | | $(pct "$C_EPS" "$B_RPS") | ≥ 35% | $(ok "$C_EPS >= 0.35*$B_RPS") |"
	row d "| d | ack latency at half of (c)'s rate ($D_EPS events/s) | p50 $D_P50 ms, p99 $D_P99 ms | p99 ≤ 20 ms | $(ok "$D_P99 <= 20") |"
	row e "| e | $E_READY idle TLS connections, P-256 client certificates (the development PKI's) | daemon RSS $E_RSS MB (idle before: $RSS_BEFORE MB) | ≤ 256 MB | $(ok "$E_RSS <= 256 and $E_READY == $IDLE") |"
	row e "| e | $E_ED_READY idle TLS connections, Ed25519 client certificates | daemon RSS $E_ED_RSS MB | ≤ 256 MB | $(ok "$E_ED_RSS <= 256 and $E_ED_READY == $IDLE") |"
	row l "| l | a long log: $L_EVENTS events stored before the run (COPY, $L_LOAD_SECS s): cold path | $L_N_EPS events/s (rejected $L_N_REJ, errors $L_N_ERR) | | |"
	row nl "| l/n | the cold rate beside the nearly empty log's | $(pct "$L_N_EPS" "$N_EPS") | ≥ 80% | $(ok "$L_N_EPS >= 0.8*$N_EPS") |"
	row l "| l | the same log: warm path | $L_C_EPS events/s (rejected $L_C_REJ, errors $L_C_ERR) | | |"
	row cl "| l/c | the warm rate beside the nearly empty log's | $(pct "$L_C_EPS" "$C_EPS") | ≥ 80% | $(ok "$L_C_EPS >= 0.8*$C_EPS") |"
	row f "| f | StatsQuery, region 39 ($F_REGION_N pupils), by vo school | p50 $F_R_P50 ms, p99 $F_R_P99 ms | p99 ≤ 5 ms | $(ok "$F_R_P99 <= 5") |"
	row f "| f | StatsQuery, nation ($F_NATION_N pupils), by region | p50 $F_N_P50 ms, p99 $F_N_P99 ms | p99 ≤ 100 ms | $(ok "$F_N_P99 <= 100") |"
	row f "| f′ | the same, every query computed from the state table (no kept figures): region | p50 $F_RC_P50 ms, p99 $F_RC_P99 ms | | |"
	row f "| f′ | nation | p50 $F_NC_P50 ms, p99 $F_NC_P99 ms | | |"
	row g "| g | teldatum sweep over $G_N pupils ($G_ALERTS alerts) | $G_SECS s | ≤ 10 s | $(ok "$G_SECS <= 10") |"
	row h "| h | StatsQuery on a peildatum (replays the event log, $H_EVENTS events): region 39, by vo school | p50 $H_R_P50 ms, p99 $H_R_P99 ms | ≤ 1 s | $(ok "$H_R_P99 <= 1000") |"
	row h "| h | the nation, by region | p50 $H_N_P50 ms, p99 $H_N_P99 ms | ≤ 5 s | $(ok "$H_N_P99 <= 5000") |"
	echo
	echo "Reproduce: \`make bench\` (raw output in var/bench/)."
} >"$RESULTS"
cat "$RESULTS"
