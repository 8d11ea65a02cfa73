#!/usr/bin/env bash
# demo.sh — `make demo`: one school year for RMC region 39 through the real
# clients and sweeps (scripts/demo.py), then the report, leaving the daemon and
# its dashboard running. Uses the `main` cluster of `make run` (database
# overstap_demo, recreated each time) and ports 7543 (TLS) / 7580 (HTTP), so it
# can run beside `make run`.
# Environment: DEMO_PUPILS (3100), DEMO_PORT (7543), DEMO_HTTP_PORT (7580), DEMO_HTTPS_PORT
# (7544), OVERSTAP_SHARED.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
shared=${OVERSTAP_SHARED:-$(cd "$repo/.." && pwd)/shared}
port=${DEMO_PORT:-7543}
http_port=${DEMO_HTTP_PORT:-7580}
work=var/demo

if [[ -f $work/overstapd.pid ]] && kill -0 "$(cat "$work/overstapd.pid")" 2>/dev/null; then
	echo "demo.sh: stopping the previous demo daemon"
	kill "$(cat "$work/overstapd.pid")"
	sleep 1
fi
rm -rf "$work"
mkdir -p "$work"

bash scripts/pg.sh start main 54329 >/dev/null
bash scripts/pg.sh dropdb main overstap_demo >/dev/null
bash scripts/pg.sh createdb main overstap_demo >/dev/null
conninfo=$(bash scripts/pg.sh conninfo main overstap_demo)
bash deploy/pki.sh var/pki >/dev/null

/usr/bin/python3 scripts/mkconf.py --out "$work/migrate.conf" --port "$port" --http-port "$http_port" \
	--conninfo "$conninfo" --pki var/pki
build/overstapd -c "$work/migrate.conf" --migrate
build/overstapctl import-regions --db "$conninfo" "$shared/data/rmc_regios.csv"
build/overstapctl import-duo-vo --db "$conninfo" "$shared/data/vo_hoofdvestigingen_duo_2016.csv"

exec /usr/bin/python3 scripts/demo.py --build build --pki "$repo/var/pki" --conninfo "$conninfo" \
	--shared "$shared" --workdir "$repo/$work" --port "$port" --http-port "$http_port" \
	--https-port "${DEMO_HTTPS_PORT:-7544}" \
	--pupils "${DEMO_PUPILS:-3100}"
