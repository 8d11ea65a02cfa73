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
	# passed/failed/skipped by test, from unittest's own report: a test with
	# failing subtests counts once, a failing setUpClass/tearDownClass once
	read -r p f sk ok < <(/usr/bin/python3 - "$out" <<'PY'
import re, sys
text = open(sys.argv[1], errors="replace").read()
ran = re.findall(r"^Ran (\d+) tests? in ", text, re.M)
final = re.findall(r"^(OK|FAILED)( \((.*)\))?$", text, re.M)
if not ran or not final:
    print(0, 1, 0, 0)
    sys.exit()
counts = dict((k.strip(), int(v)) for k, v in re.findall(r"([a-z ]+)=(\d+)", final[-1][2] or ""))
fixture = r"(setUpClass|tearDownClass|setUpModule|tearDownModule|_ErrorHolder)"
fixtures = len(re.findall(r"^ERROR: " + fixture + r" \(", text, re.M))
tests = {m for m in re.findall(r"^(?:FAIL|ERROR): (\S+ \(\S+\))", text, re.M)
         if not re.match(fixture, m)}
skipped = counts.get("skipped", 0)
unexpected = counts.get("unexpected successes", 0)
failed = len(tests) + fixtures + unexpected
passed = max(0, int(ran[-1]) - skipped - len(tests) - unexpected)
print(passed, failed, skipped, 1 if final[-1][0] == "OK" else 0)
PY
	)
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + sk))
	if ((rc != 0 || f > 0 || ok == 0)); then
		((f > 0)) || failed=$((failed + 1))
		bad+=("$mod: $(grep -E '^(OK|FAILED)' "$out" | tail -n 1) (exit $rc$( ((rc == 124)) && echo ', timed out'))")
	fi
	rm -f "$out"
done
echo "integration ($build): $passed passed, $failed failed, $skipped skipped"
for b in "${bad[@]}"; do echo "  FAILED: $b"; done
if [[ -n ${OVERSTAP_COUNTS:-} ]]; then
	echo "integration $build $passed $failed $skipped" >>"$OVERSTAP_COUNTS"
fi
((${#bad[@]} == 0))
