#!/usr/bin/env bash
# kill_runs.sh: SIGKILL at random moments (issue 21). nerve ph RUN, nerve analyze
# and nerve sweep --run are each killed (the whole process group, children too, as
# a node failure would) at KILL_POINTS seeded moments (default 20) spread over an
# undisturbed run's duration; each time the same command run again completes and
# the outputs equal the undisturbed run's (h5diff -d 0 on every .h5, cmp on CSV,
# JSON, figures and the report; logs aside). tests/long/kill_runs_long.sh runs
# more points; under ASan (make SANITIZE=1 test) a third of them.
set -u
source "${NERVE_ROOT:-.}/tests/fault/lib.sh"
K=${KILL_POINTS:-$(scaled 20)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
write_configs "$tmp"
"$NERVE" train "$tmp/small.cfg" --out "$tmp/base" >/dev/null 2>&1 || { echo "FAIL: training the base run failed"; exit 1; }

# kill_test NAME SEED BASE -- CMD... (@DIR@ in CMD is the working copy)
kill_test() {
  local name=$1 seed=$2 base=$3; shift 3
  local ref=$tmp/ref-$name
  rm -rf "$ref"; [ -e "$base" ] && cp -a "$base" "$ref"
  local t0=$EPOCHREALTIME
  "${@//@DIR@/$ref}" >/dev/null 2>&1 || { bad "$name: the undisturbed run failed"; return; }
  local T; T=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }')
  local killed=0 done_before=0 good=0 d
  for d in $(delays "$seed" 0.02 "$T" "$K"); do
    local w=$tmp/w-$name
    rm -rf "$w"; [ -e "$base" ] && cp -a "$base" "$w"
    setsid "${@//@DIR@/$w}" >/dev/null 2>&1 &
    local pid=$!
    sleep "$d"
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
      killed=$((killed + 1))
    else
      done_before=$((done_before + 1))
    fi
    wait "$pid" 2>/dev/null
    if ! "${@//@DIR@/$w}" >"$tmp/rerun.log" 2>&1; then
      bad "$name: killed at ${d}s: the rerun fails: $(tail -c 300 "$tmp/rerun.log")"; continue
    fi
    if same_outputs "$ref" "$w"; then good=$((good + 1))
    else bad "$name: killed at ${d}s of ${T}s: the rerun's outputs differ from the undisturbed run"; fi
  done
  [ $good = "$K" ] && ok "$name: $K kill points over ${T}s ($killed killed mid-run, $done_before finished first): every rerun completes with the undisturbed bytes"
}

kill_test ph-run 101 "$tmp/base" "$NERVE" ph @DIR@ --threads 1
kill_test analyze 202 "$tmp/base" "$NERVE" analyze @DIR@ --threads 1
kill_test sweep-run 303 "$tmp/none" "$NERVE" sweep "$tmp/sweep.cfg" --out @DIR@ --run --jobs 2
finish
