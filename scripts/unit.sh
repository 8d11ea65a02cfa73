#!/usr/bin/env bash
# unit.sh BUILD — runs every BUILD/tests/test_* CUnit binary, prints each one's
# CUnit summary, and fails when any test (or binary) fails. A binary that dies
# (a sanitizer report, a crash) without a summary counts as one failure.
# When OVERSTAP_COUNTS names a file, appends "unit BUILD passed failed skipped".
set -uo pipefail

build=${1:?usage: unit.sh BUILD}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

passed=0 failed=0 skipped=0 binaries=0 bad=()
shopt -s nullglob
for t in "$build"/tests/test_*; do
	[[ -x $t && ! -d $t && $t != *.d && $t != *.o ]] || continue
	binaries=$((binaries + 1))
	echo "== $t"
	out=$(mktemp)
	"$t" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	# CUnit's summary row: "tests   Total   Ran   Passed   Failed   Inactive"
	read -r total ran p f inactive < <(awk '$1 == "tests" && NF >= 6 { print $2, $3, $4, $5, $6 }' "$out" | tail -n 1)
	if [[ -n ${total:-} ]]; then
		passed=$((passed + p))
		failed=$((failed + f))
		skipped=$((skipped + total - ran + inactive))
		if ((rc != 0 && f == 0)); then
			failed=$((failed + 1)) # passed its asserts, then a leak report or crash at exit
		fi
	else
		failed=$((failed + 1))
	fi
	if ((rc != 0)) || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$out"; then
		bad+=("$t (exit $rc)")
	fi
	rm -f "$out"
	unset total ran p f inactive
done
if ((binaries == 0)); then
	echo "unit.sh: no test binaries in $build/tests" >&2
	failed=$((failed + 1))
	bad+=("no unit test binaries")
fi
echo "unit ($build): $passed passed, $failed failed, $skipped skipped"
for b in "${bad[@]}"; do echo "  FAILED: $b"; done
if [[ -n ${OVERSTAP_COUNTS:-} ]]; then
	echo "unit $build $passed $failed $skipped" >>"$OVERSTAP_COUNTS"
fi
((${#bad[@]} == 0 && failed == 0))
