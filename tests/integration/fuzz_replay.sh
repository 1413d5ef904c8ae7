#!/usr/bin/env bash
# fuzz_replay.sh: every fuzz target (tests/fuzz/fuzz_<target>.c, linked with
# tests/fuzz/replay.c's main by the build: $BUILD/tests/fuzz/replay_<target>) runs
# once on every input of its committed corpus (tests/fuzz/corpus/<target>/) and
# regressions (tests/fuzz/regressions/<target>/: each input that once crashed,
# hung or leaked). A target aborts on a finding, so this fails when a fixed
# defect comes back. Under `make SANITIZE=1 test` the programs carry ASan and
# UBSan (LeakSanitizer with tests/fuzz/lsan.supp's upstream suppressions).
set -u
cd "${NERVE_ROOT:-.}"
BUILD=${BUILD:-build}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0}
# libhdf5 has no frame pointers: slow unwinding lets the suppressions name its functions
export ASAN_OPTIONS=${ASAN_OPTIONS:-fast_unwind_on_malloc=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fail=0; n=0; inputs=0
for src in tests/fuzz/fuzz_*.c; do
  t=$(basename "$src" .c); t=${t#fuzz_}
  bin=$BUILD/tests/fuzz/replay_$t
  if [ ! -x "$bin" ]; then echo "FAIL: $bin is not built"; fail=$((fail + 1)); continue; fi
  dirs=()
  for d in tests/fuzz/corpus/$t tests/fuzz/regressions/$t; do [ -d "$d" ] && dirs+=("$d"); done
  [ ${#dirs[@]} = 0 ] && { echo "FAIL: $t has no corpus"; fail=$((fail + 1)); continue; }
  n=$((n + 1))
  t0=$EPOCHREALTIME
  if out=$("$bin" "${dirs[@]}" 2>&1); then
    k=$(echo "$out" | sed -n 's/.*: \([0-9]*\) inputs replayed/\1/p' | tail -1)
    inputs=$((inputs + ${k:-0}))
    printf 'ok   %-20s %5s inputs %6.1fs\n' "$t" "${k:-?}" "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{print b-a}')"
  else
    echo "FAIL: $t: $(echo "$out" | grep -E 'nerve fuzz|ERROR|runtime error|SUMMARY' | head -3)"
    echo "      rerun with NERVE_REPLAY_VERBOSE=1 $bin ${dirs[*]} to see which input"
    fail=$((fail + 1))
  fi
done
echo "$n targets, $inputs inputs replayed, $fail failed"
[ $fail = 0 ]
