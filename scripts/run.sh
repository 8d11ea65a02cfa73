#!/usr/bin/env bash
# run.sh — `make run`: everything a fresh Debian 12 needs, then overstapd in the
# foreground. Each step reuses what an earlier run left:
#   packages (scripts/deps.sh), build/ (make), the PostgreSQL cluster `main` on
#   127.0.0.1:54329 with database `overstap` (scripts/pg.sh), the migrations
#   (overstapd --migrate), the reference data from ../shared/data (overstapctl
#   import-regions / import-duo-vo, when the database has none yet), the
#   development PKI in var/pki (deploy/pki.sh) and the configuration
#   var/overstapd.conf (scripts/mkconf.py; written once, then yours to edit —
#   only its conninfo, and the ports when set below, are kept up to date).
#   Ctrl-C stops the daemon; the cluster keeps running (scripts/pg.sh stop main).
# Environment: OVERSTAP_PORT (7443), OVERSTAP_HTTP_PORT (7480), OVERSTAP_HTTPS_PORT (7444),
# OVERSTAP_SHARED.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
port=${OVERSTAP_PORT:-7443}
http_port=${OVERSTAP_HTTP_PORT:-7480}
https_port=${OVERSTAP_HTTPS_PORT:-7444}
shared=${OVERSTAP_SHARED:-$(cd "$repo/.." && pwd)/shared}
conf=var/overstapd.conf

bash scripts/deps.sh
make --no-print-directory -j"$(nproc 2>/dev/null || echo 2)" all

bash scripts/pg.sh start main 54329
bash scripts/pg.sh createdb main overstap
conninfo=$(bash scripts/pg.sh conninfo main overstap)

bash deploy/pki.sh var/pki

# set_key SECTION KEY VALUE: replaces one key of the existing configuration
set_key() {
	local tmp
	tmp=$(mktemp)
	awk -v sec="[$1]" -v key="$2" -v val="$3" '
		/^\[/ { s = $1 }
		s == sec && $0 ~ "^" key "[ \t]*=" { print key " = " val; next }
		{ print }' "$conf" >"$tmp"
	if ! cmp -s "$tmp" "$conf"; then
		cat "$tmp" >"$conf"
		echo "run.sh: set [$1] $2 = $3 in $conf"
	fi
	rm -f "$tmp"
}
if [[ ! -f $conf ]]; then
	/usr/bin/python3 scripts/mkconf.py --out "$conf" --port "$port" --http-port "$http_port" \
		--https-port "$https_port" --conninfo "$conninfo" --pki var/pki
	echo "run.sh: wrote $conf"
else
	# the cluster may have moved (a new /tmp folder); the rest is the user's
	set_key database conninfo "$conninfo"
	[[ -z ${OVERSTAP_PORT:-} ]] || set_key server listen "127.0.0.1:$port"
	[[ -z ${OVERSTAP_HTTP_PORT:-} ]] || set_key server http_listen "127.0.0.1:$http_port"
	[[ -z ${OVERSTAP_HTTPS_PORT:-} ]] || set_key server https_listen "127.0.0.1:$https_port"
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
