#!/usr/bin/env bash
# run.sh [NAME]: runs the benchmarks (all, or those whose file name contains NAME),
# each side by side with its reference tool; see docs/benchmarks.md for the results
# and what each one measures. Benchmarks are not tests: they time things, so they
# never run in `make test`.
set -u
cd "$(dirname "$0")/.."
only=${1:-}
export BUILD=${BUILD:-build}
rc=0
for b in bench/*.sh bench/*/run_*.sh; do
  [ -f "$b" ] || continue
  case "$b" in bench/run.sh) continue ;; esac
  [ -n "$only" ] && [[ "$b" != *"$only"* ]] && continue
  echo "=== $b"
  bash "$b" || { echo "=== $b failed"; rc=1; }
done
exit $rc
