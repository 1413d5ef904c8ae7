#!/usr/bin/env bash
# fault_sweep.sh: nerve sweep --run when writes fail (issue 21). A sweep of two
# tasks runs its training processes with the LD_PRELOAD shim (tests/fault/
# failwrite.c) failing writes from the Nth on in every process (ENOSPC, 4 seeded
# points): the sweep exits 2 naming the task and the file, and running the same
# command again (space freed) finishes every task with the same bytes as an
# undisturbed sweep (h5diff -d 0 on every .h5, cmp on the rest; logs aside).
set -u
source "${NERVE_ROOT:-.}/tests/fault/lib.sh"
need_shim
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
write_configs "$tmp"
cfg=$tmp/sweep.cfg
"$NERVE" sweep "$cfg" --out "$tmp/ref" --run --jobs 2 >/dev/null 2>&1 || { echo "FAIL: the undisturbed sweep failed"; exit 1; }
# the busiest process's count (each task is its own nerve train process)
f=$(mktemp)
env NV_FAIL_COUNT_FILE="$f" LD_PRELOAD="$SHIM" "$NERVE" sweep "$cfg" --out "$tmp/count" --run --jobs 2 >/dev/null 2>&1
n=$(awk '$2 > m { m = $2 } END { print m + 0 }' "$f"); rm -f "$f"
echo "the busiest process of a sweep makes $n counted writes"
[ "$n" -gt 50 ] || { echo "FAIL: the shim counted $n operations"; exit 1; }
i=0
for p in $(points 7 "$n" "$(scaled 4)"); do
  i=$((i + 1)); dir=$tmp/sw$i
  env NV_FAIL_AT="$p" LD_PRELOAD="$SHIM" "$NERVE" sweep "$cfg" --out "$dir" --run --jobs 2 >"$dir.out" 2>"$dir.err"
  rc=$?
  msg=$(grep '^nerve sweep:' "$dir.err" | tail -1)
  [ -z "$msg" ] && msg=$(tail -1 "$dir.err")
  if [ $rc = 0 ]; then
    if same_outputs "$tmp/ref" "$dir"; then ok "ENOSPC from write $p: exit 0 with the undisturbed bytes (no result was hit)"
    else bad "ENOSPC from write $p: exit 0 but the results differ"; fi
    continue
  fi
  if [ $rc != 2 ] || ! echo "$msg" | grep -q "task 000[01]" || ! grep -q "$dir" "$dir.err"; then
    bad "ENOSPC from write $p: exit $rc (want 2, naming the task and a file): $msg"; continue
  fi
  ok "ENOSPC from write $p: exit 2: ${msg:0:160}"
  if "$NERVE" sweep "$cfg" --out "$dir" --run --jobs 2 >"$dir.rerun" 2>&1 && same_outputs "$tmp/ref" "$dir"; then
    ok "ENOSPC from write $p: the same command again gives the undisturbed bytes"
  else bad "ENOSPC from write $p: the rerun: $(tail -c 300 "$dir.rerun")"; fi
done
finish
