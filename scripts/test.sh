#!/usr/bin/env bash
# test.sh — `make test`: from a fresh machine to every test, twice.
#
# Installs what is missing (scripts/deps.sh test), builds the normal tree
# (build/) and the ASan+UBSan tree (build/asan), makes the test PKI
# (var/test-pki), starts the PostgreSQL cluster `test` on port 54339 (its own,
# so it runs beside `make run`), then for each build runs the CUnit suites
# (scripts/unit.sh) and the integration tests against the real daemon
# (scripts/integration.sh). Stops the cluster on every way out. The last line
# is "total: N passed, N failed, N skipped"; the exit status is non-zero on
# any failure. OVERSTAP_TEST_BUILDS="build" runs one build only;
# OVERSTAP_PG_PORT moves the cluster to another port. Last, whatever the
# builds, the libFuzzer targets (build/fuzz, clang) run once over their
# committed corpus (scripts/fuzz.sh check).
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export OVERSTAP_PKI=$repo/var/test-pki
export OVERSTAP_PG_NAME=test
export OVERSTAP_PG_PORT=${OVERSTAP_PG_PORT:-54339}
export OVERSTAP_SHARED=${OVERSTAP_SHARED:-$(cd "$repo/.." && pwd)/shared}
builds=(${OVERSTAP_TEST_BUILDS:-build build/asan})
jobs=$(nproc 2>/dev/null || echo 2)

mkdir -p var
rm -rf var/test-run # the daemons' configs and logs of the last run (kept for post-mortems)
export OVERSTAP_COUNTS=$repo/var/test-counts.txt
: >"$OVERSTAP_COUNTS"
setup_failures=0
step_failed() {
	echo "test.sh: FAILED: $*" >&2
	echo "setup - 0 1 0" >>"$OVERSTAP_COUNTS"
	setup_failures=$((setup_failures + 1))
}

summary() {
	local kind b p f s tp=0 tf=0 ts=0
	echo
	echo "== summary"
	while read -r kind b p f s; do
		printf '  %-12s %-14s %5d passed, %d failed, %d skipped\n' "$kind" "${b#"$repo"/}" "$p" "$f" "$s"
		tp=$((tp + p)) tf=$((tf + f)) ts=$((ts + s))
	done <"$OVERSTAP_COUNTS"
	if ((tp + tf == 0)); then
		echo "test.sh: no test ran" >&2
		tf=1
	fi
	echo "total: $tp passed, $tf failed, $ts skipped"
	((tf == 0))
}
cleanup() {
	bash scripts/pg.sh stop test >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bash scripts/deps.sh test || { step_failed "installing packages"; summary; exit 1; }

for b in "${builds[@]}"; do
	echo "== building $b"
	if [[ $b == build ]]; then
		make --no-print-directory -j"$jobs" all
	elif [[ $b == build/asan ]]; then
		make --no-print-directory -j"$jobs" asan
	else
		make --no-print-directory -j"$jobs" B="$b" all
	fi || step_failed "building $b"
done
echo "== building the fuzz targets (build/fuzz)"
fuzz_built=1
make --no-print-directory -j"$jobs" fuzz-build || { step_failed "building the fuzz targets"; fuzz_built=0; }

echo "== lint (scripts/lint.py)"
/usr/bin/python3 scripts/lint.py --counts "$OVERSTAP_COUNTS" || true # counted in the summary

bash deploy/pki.sh "$OVERSTAP_PKI" || step_failed "making the test PKI"
bash scripts/pg.sh start test "$OVERSTAP_PG_PORT" || { step_failed "starting PostgreSQL"; summary; exit 1; }

for b in "${builds[@]}"; do
	if [[ ! -x $b/overstapd ]]; then
		step_failed "$b/overstapd was not built: no tests for this build"
		continue
	fi
	echo
	echo "==== unit tests ($b)"
	bash scripts/unit.sh "$b"
	echo
	echo "==== integration tests ($b)"
	bash scripts/integration.sh "$b"
done

if ((fuzz_built)); then
	echo
	echo "==== fuzz targets over their corpus (build/fuzz)"
	bash scripts/fuzz.sh check build/fuzz
fi

summary
