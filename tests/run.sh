#!/usr/bin/env bash
# run.sh SUITE... [--only PATTERN]: runs the test programs of the named suites and
# ends with one line "tests: N passed, M failed, K skipped" that CI reads.
#   unit         $BUILD/tests/test_*          (cmocka programs; tests/unit/)
#   integration  tests/integration/*.sh|*.py  (end-to-end, oracles: ripser, PyTorch, h5py)
#   long         tests/long/*.sh|*.py         (make test-long)
#   gpu          $BUILD/tests/gpu/test_* and tests/gpu/*.sh|*.py (make test-gpu)
# A program exits 0 (pass), 77 (skip, with a line saying why) or anything else (fail).
# Python tests run under /usr/bin/python3: Debian's numpy, torch, gudhi and h5py
# import only there.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export NERVE=${NERVE:-$PWD/$BUILD/nerve} BUILD
export NERVE_ROOT=$PWD
# Keep tests from fighting over the two cores: BLAS single-threaded unless a test asks.
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1} OMP_WAIT_POLICY=PASSIVE
# The nerve binary picks OpenBLAS's kernels itself (src/cli/main.c); test programs
# linked against the library get the same choice here.
source scripts/openblas-env.sh
only=""; suites=()
while [ $# -gt 0 ]; do
  case "$1" in --only) only=$2; shift 2 ;; *) suites+=("$1"); shift ;; esac
done
progs=()
for s in "${suites[@]}"; do
  case "$s" in
    unit) progs+=($(ls $BUILD/tests/test_* 2>/dev/null | grep -v '\.d$')) ;;
    integration) progs+=($(ls tests/integration/*.sh tests/integration/*.py 2>/dev/null)) ;;
    long) progs+=($(ls tests/long/*.sh tests/long/*.py 2>/dev/null)) ;;
    gpu) progs+=($(ls $BUILD/tests/gpu/test_* tests/gpu/*.sh tests/gpu/*.py 2>/dev/null | grep -v '\.d$')) ;;
  esac
done
pass=0; fail=0; skip=0; failed=()
logdir=$BUILD/test-logs; mkdir -p "$logdir"
for p in "${progs[@]}"; do
  name=$(basename "$p")
  [ -n "$only" ] && [[ "$name" != *"$only"* ]] && continue
  log="$logdir/$name.log"
  t0=$EPOCHREALTIME
  case "$p" in
    *.py) /usr/bin/python3 "$p" >"$log" 2>&1 ;;
    *.sh) bash "$p" >"$log" 2>&1 ;;
    *) "$p" >"$log" 2>&1 ;;
  esac
  rc=$?
  dt=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}')
  if [ $rc = 0 ]; then pass=$((pass+1)); printf '  PASS  %-40s %6ss\n' "$name" "$dt"
  elif [ $rc = 77 ]; then skip=$((skip+1)); printf '  SKIP  %-40s %s\n' "$name" "$(grep -m1 -i 'skip' "$log")"
  else fail=$((fail+1)); failed+=("$name"); printf '  FAIL  %-40s %6ss (exit %s; log %s)\n' "$name" "$dt" "$rc" "$log"; tail -n 25 "$log" | sed 's/^/        | /'
  fi
done
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "tests: $pass passed, $fail failed, $skip skipped"
[ $fail = 0 ]
