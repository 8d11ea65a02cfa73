#!/usr/bin/env bash
# screenshots.sh BUILD [OUT] — a PNG of each page of the HTTPS side (docs/pages.md),
# from BUILD/overstapd on the test cluster ($OVERSTAP_PG_NAME, port $OVERSTAP_PG_PORT,
# as integration.sh) with a scripted school year (tests/integration/screenshots.py),
# taken in headless Chromium with each role's client certificate. OUT defaults to
# docs/screenshots. Starts the cluster when it is not running, and stops it again.
set -euo pipefail

build=${1:?usage: screenshots.sh BUILD [OUT]}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(realpath -m "${2:-$repo/docs/screenshots}")
cd "$repo"
export OVERSTAP_BUILD=$(cd "$build" && pwd)
export OVERSTAP_PKI=${OVERSTAP_PKI:-$repo/var/test-pki}
export OVERSTAP_PG_NAME=${OVERSTAP_PG_NAME:-test}
export OVERSTAP_PG_PORT=${OVERSTAP_PG_PORT:-54339}
export OVERSTAP_SHARED=${OVERSTAP_SHARED:-$(cd "$repo/.." && pwd)/shared}
export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1

bash scripts/deps.sh test
bash deploy/pki.sh "$OVERSTAP_PKI"
if ! bash scripts/pg.sh status "$OVERSTAP_PG_NAME"; then
	bash scripts/pg.sh start "$OVERSTAP_PG_NAME" "$OVERSTAP_PG_PORT"
	trap 'bash scripts/pg.sh stop "$OVERSTAP_PG_NAME"' EXIT
fi
cd tests/integration
timeout 600 /usr/bin/python3 screenshots.py "$out"
