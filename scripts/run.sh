#!/usr/bin/env bash
# run.sh — `make run`: everything a fresh Debian 12 needs, then overstapd in the
# foreground. Each step reuses what an earlier run left:
#   packages (scripts/deps.sh), build/ (make), the PostgreSQL cluster `main` on
#   127.0.0.1:54329 with database `overstap` (scripts/pg.sh), the migrations
#   (overstapd --migrate), the reference data from ../shared/data (overstapctl
#   import-regions / import-duo-vo, when the database has none yet), the
#   development PKI in var/pki (deploy/pki.sh) and the configuration
#   var/overstapd.conf (scripts/mkconf.py; written once, then yours to edit —
#   only its conninfo is kept up to date). Ctrl-C stops the daemon; the cluster
#   keeps running (scripts/pg.sh stop main).
# Environment: OVERSTAP_PORT (7443), OVERSTAP_HTTP_PORT (7480), OVERSTAP_SHARED.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
port=${OVERSTAP_PORT:-7443}
http_port=${OVERSTAP_HTTP_PORT:-7480}
shared=${OVERSTAP_SHARED:-$(cd "$repo/.." && pwd)/shared}
conf=var/overstapd.conf

bash scripts/deps.sh
make --no-print-directory -j"$(nproc 2>/dev/null || echo 2)" all

bash scripts/pg.sh start main 54329
bash scripts/pg.sh createdb main overstap
conninfo=$(bash scripts/pg.sh conninfo main overstap)

bash deploy/pki.sh var/pki

if [[ ! -f $conf ]]; then
	/usr/bin/python3 scripts/mkconf.py --out "$conf" --port "$port" --http-port "$http_port" \
		--conninfo "$conninfo" --pki var/pki
	echo "run.sh: wrote $conf"
elif ! grep -qxF "conninfo = $conninfo" "$conf"; then
	# the cluster moved (a new /tmp folder): keep the rest of the user's file
	tmp=$(mktemp)
	awk -v ci="$conninfo" '/^\[/ { sec = $0 } sec == "[database]" && /^conninfo[ \t]*=/ { print "conninfo = " ci; next } { print }' "$conf" >"$tmp"
	mv "$tmp" "$conf"
	echo "run.sh: updated [database] conninfo in $conf"
fi

build/overstapd -c "$conf" --migrate

# Reference data, once: regions, vo schools, gemeenten (DESIGN §6).
if [[ -x build/overstapctl ]]; then
	schools=$(bash scripts/pg.sh psql main overstap -tAc 'SELECT count(*) FROM school')
	if [[ $schools == 0 ]]; then
		d=$(bash scripts/pg.sh dir main)
		export PGHOST=$d PGPORT=54329 PGUSER=postgres PGDATABASE=overstap
		build/overstapctl import-regions "$shared/data/rmc_regios.csv"
		build/overstapctl import-duo-vo "$shared/data/vo_hoofdvestigingen_duo_2016.csv"
		unset PGHOST PGPORT PGUSER PGDATABASE
	fi
else
	echo "run.sh: build/overstapctl is not there: reference data not imported" >&2
fi

cat <<MSG
run.sh: overstapd on 127.0.0.1:$port (TLS, certificates in var/pki), http://127.0.0.1:$http_port/
        database: psql "$conninfo"
MSG
exec build/overstapd -c "$conf"
