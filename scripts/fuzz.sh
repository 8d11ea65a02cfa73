#!/usr/bin/env bash
# fuzz.sh check|run BUILD — the libFuzzer targets of tests/fuzz (built by
# `make fuzz-build` into BUILD, normally build/fuzz).
#
# check: every BUILD/fuzz_* runs each file of its committed corpus
#   tests/fuzz/corpus/TARGET once (no fuzzing, a few seconds in all); a crash,
#   a failed invariant, a leak or a sanitizer report fails that target. When
#   OVERSTAP_COUNTS names a file, appends "fuzz BUILD passed failed 0", one
#   test per target.
# run: fuzzes each target for FUZZ_SECS seconds (default 600) on FUZZ_JOBS
#   processes (default 2, libFuzzer's -fork; 1 = one plain process), starting
#   from the committed corpus and what earlier runs kept in var/fuzz/corpus/TARGET,
#   where new inputs go (never into git). A crash leaves its input as
#   var/fuzz/crashes/TARGET-crash-* and fails the run. FUZZ_ONLY="fuzz_duo ..."
#   runs some targets only. Each target's figures (seconds, runs, exec/s, cov,
#   ft, corpus) go to var/fuzz/summary.txt and its log to var/fuzz/TARGET.log.
set -uo pipefail

mode=${1:?usage: fuzz.sh check|run BUILD}
build=${2:-build/fuzz}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
# Recoverable UBSan (as the fuzz build compiles it) so the suppressions apply;
# halt_on_error makes every other report fatal all the same.
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$repo/tests/fuzz/ubsan.supp"

shopt -s nullglob
targets=()
for bin in "$build"/fuzz_*; do
	[[ -x $bin && ! -d $bin ]] || continue
	t=$(basename "$bin")
	if [[ -n ${FUZZ_ONLY:-} && " $FUZZ_ONLY " != *" $t "* ]]; then
		continue
	fi
	targets+=("$t")
done
if ((${#targets[@]} == 0)); then
	echo "fuzz.sh: no fuzz targets in $build (make fuzz-build)" >&2
	[[ -n ${OVERSTAP_COUNTS:-} ]] && echo "fuzz $build 0 1 0" >>"$OVERSTAP_COUNTS"
	exit 1
fi
mkdir -p var/fuzz/crashes

dict_args() {
	local d=tests/fuzz/$1.dict
	[[ -f $d ]] && echo "-dict=$d"
}

check() {
	local passed=0 failed=0 t
	for t in "${targets[@]}"; do
		local files=(tests/fuzz/corpus/"$t"/*)
		if ((${#files[@]} == 0)); then
			echo "  $t: FAILED: no corpus in tests/fuzz/corpus/$t"
			failed=$((failed + 1))
			continue
		fi
		local out rc
		out=$(mktemp)
		"$build/$t" -artifact_prefix=var/fuzz/crashes/"$t"- -timeout=25 $(dict_args "$t") \
			"${files[@]}" >"$out" 2>&1
		rc=$?
		if ((rc == 0)) && ! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|invariant failed' "$out"; then
			echo "  $t: ${#files[@]} inputs, ok"
			passed=$((passed + 1))
		else
			echo "  $t: FAILED (exit $rc) over ${#files[@]} inputs:"
			grep -E 'Running:|ERROR|runtime error|invariant failed|SUMMARY' "$out" | tail -n 20 | sed 's/^/    /'
			failed=$((failed + 1))
		fi
		rm -f "$out"
	done
	echo "fuzz ($build): $passed passed, $failed failed, 0 skipped"
	[[ -n ${OVERSTAP_COUNTS:-} ]] && echo "fuzz $build $passed $failed 0" >>"$OVERSTAP_COUNTS"
	((failed == 0))
}

# The figures of a run from its log: the last status line of either the plain
# ("#N DONE cov: C ft: F corp: K/..b ... exec/s: E") or the -fork form
# ("#N: cov: C ft: F corp: K exec/s E ..."); cov is C/edges in the binary (in
# -fork mode libFuzzer counts cov another way: compare runs of one mode only).
figures() {
	local log=$1 line
	line=$(grep -E '^#[0-9]+:?[[:space:]]' "$log" | grep -E 'cov: ' | tail -n 1)
	local runs cov ft corp execs
	runs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$line")
	cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$line")
	ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$line")
	corp=$(sed -nE 's/.* corp: ([0-9]+).*/\1/p' <<<"$line")
	execs=$(sed -nE 's/.* exec\/s:? ([0-9]+).*/\1/p' <<<"$line")
	# the edges instrumented in the whole binary (every module it links)
	local total
	total=$(sed -nE 's/^INFO: Loaded 1 modules +\(([0-9]+) inline 8-bit counters.*/\1/p' "$log" | head -n 1)
	echo "runs=${runs:-?} exec/s=${execs:-?} cov=${cov:-?}/${total:-?} ft=${ft:-?} corpus=${corp:-?}"
}

run() {
	local secs=${FUZZ_SECS:-600} jobs=${FUZZ_JOBS:-2} failed=0 t
	mkdir -p var/fuzz/corpus
	for t in "${targets[@]}"; do
		mkdir -p var/fuzz/corpus/"$t"
		local args=(-max_total_time="$secs" -timeout=25 -print_final_stats=1
			-artifact_prefix=var/fuzz/crashes/"$t"- $(dict_args "$t"))
		((jobs > 1)) && args+=(-fork="$jobs")
		echo "== $t: ${secs}s on $jobs core(s)"
		local start rc
		start=$(date +%s)
		"$build/$t" "${args[@]}" var/fuzz/corpus/"$t" tests/fuzz/corpus/"$t" >var/fuzz/"$t".log 2>&1
		rc=$?
		local took=$(($(date +%s) - start)) fig
		fig=$(figures var/fuzz/"$t".log)
		local result=ok
		if ((rc != 0)) || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|invariant failed' var/fuzz/"$t".log; then
			result="FAILED (exit $rc; see var/fuzz/$t.log and var/fuzz/crashes/)"
			failed=$((failed + 1))
		fi
		echo "   $t ${took}s $fig: $result"
		echo "$(date -u +%Y-%m-%dT%H:%MZ) $t secs=$took jobs=$jobs $fig $result" >>var/fuzz/summary.txt
	done
	((failed == 0))
}

case $mode in
	check) check ;;
	run) run ;;
	*) echo "usage: fuzz.sh check|run BUILD" >&2; exit 2 ;;
esac
