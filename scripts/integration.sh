#!/usr/bin/env bash
# integration.sh BUILD [TEST_FILE...] — runs tests/integration/test_*.py (or the
# files named) against BUILD/overstapd, each file in its own
# `/usr/bin/python3 -m unittest` process, on the PostgreSQL cluster
# $OVERSTAP_PG_NAME (default `test`, port $OVERSTAP_PG_PORT, default 54339)
# and the PKI in $OVERSTAP_PKI (default var/test-pki). Starts that cluster when
# it is not running, and then stops it again on exit.
# When OVERSTAP_COUNTS names a file, appends "integration BUILD passed failed skipped".
set -uo pipefail

build=${1:?usage: integration.sh BUILD [TEST_FILE...]}
shift
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
build=$(cd "$build" && pwd) || exit 2

export OVERSTAP_BUILD=$build
export OVERSTAP_PKI=${OVERSTAP_PKI:-$repo/var/test-pki}
export OVERSTAP_PG_NAME=${OVERSTAP_PG_NAME:-test}
export OVERSTAP_PG_PORT=${OVERSTAP_PG_PORT:-54339}
export OVERSTAP_SHARED=${OVERSTAP_SHARED:-$(cd "$repo/.." && pwd)/shared}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
FILE_TIMEOUT=${OVERSTAP_TEST_TIMEOUT:-1500}

bash scripts/deps.sh test || exit 2
bash deploy/pki.sh "$OVERSTAP_PKI" || exit 2
if ! bash scripts/pg.sh status "$OVERSTAP_PG_NAME"; then
	bash scripts/pg.sh start "$OVERSTAP_PG_NAME" "$OVERSTAP_PG_PORT" || exit 2
	trap 'bash scripts/pg.sh stop "$OVERSTAP_PG_NAME"' EXIT
fi

if (($# == 0)); then
	set -- tests/integration/test_*.py
fi
passed=0 failed=0 skipped=0 bad=()
for f in "$@"; do
	[[ -f $f ]] || continue
	mod=$(basename "$f" .py)
	echo "== integration $mod ($build)"
	out=$(mktemp)
	(cd "$(dirname "$f")" && timeout -k 20 "$FILE_TIMEOUT" /usr/bin/python3 -m unittest -v "$mod") 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	ran=$(sed -n 's/^Ran \([0-9]*\) tests\{0,1\} in .*/\1/p' "$out" | tail -n 1)
	result=$(grep -E '^(OK|FAILED)( \(.*\))?$' "$out" | tail -n 1)
	if [[ -z $ran || -z $result ]]; then
		failed=$((failed + 1))
		bad+=("$mod: no unittest result (exit $rc$( ((rc == 124)) && echo ', timed out'))")
		rm -f "$out"
		continue
	fi
	count() { sed -n "s/.*[(, ]$1=\([0-9]*\).*/\1/p" <<<"$result"; }
	F=$(count failures) E=$(count errors) S=$(count skipped) U=$(count unexpected\ successes)
	nf=$((${F:-0} + ${E:-0} + ${U:-0}))
	passed=$((passed + ran - nf - ${S:-0}))
	failed=$((failed + nf))
	skipped=$((skipped + ${S:-0}))
	if ((rc != 0 || nf > 0)); then
		((nf > 0)) || failed=$((failed + 1))
		bad+=("$mod: $result (exit $rc)")
	fi
	rm -f "$out"
done
echo "integration ($build): $passed passed, $failed failed, $skipped skipped"
for b in "${bad[@]}"; do echo "  FAILED: $b"; done
if [[ -n ${OVERSTAP_COUNTS:-} ]]; then
	echo "integration $build $passed $failed $skipped" >>"$OVERSTAP_COUNTS"
fi
((${#bad[@]} == 0))
