#!/usr/bin/env bash
# fault_analysis.sh: the analysis verbs when writes fail (issue 21): nerve ph RUN,
# pca, stats, features, report and analyze, each on a finished small run, with the
# LD_PRELOAD shim (tests/fault/failwrite.c) failing writes under RUN/analysis from
# the Nth on (ENOSPC; 3 seeded points per verb, 4 for analyze, and one single EIO
# per verb), then analyze on a real full disk (a tmpfs too small for its
# figures). Each time: exit status 2, a message naming a file of the run, the
# training results untouched (nerve verify), no file under a final name that does
# not read back (nerve info), and a rerun without the fault (the verbs skip what is
# done) ends with the same bytes as an undisturbed run of the verb (h5diff -d 0
# on every .h5, cmp on CSV, JSON, figures and the report).
set -u
source "${NERVE_ROOT:-.}/tests/fault/lib.sh"
need_shim
tmp=$(mktemp -d)
cleanup() { mountpoint -q "$tmp/small" 2>/dev/null && umount "$tmp/small"; rm -rf "$tmp"; }
trap cleanup EXIT
write_configs "$tmp"
"$NERVE" train "$tmp/small.cfg" --out "$tmp/base" >/dev/null 2>&1 || { echo "FAIL: training the base run failed"; exit 1; }

# verb_cmd VERB RUN: the command line of one verb (small and single-threaded)
verb_cmd() {
  case "$1" in
    ph) echo "$NERVE ph $2 --threads 1" ;;
    pca) echo "$NERVE pca $2 --threads 1" ;;
    stats) echo "$NERVE stats $2 --threads 1" ;;
    features) echo "$NERVE features $2 --threads 1" ;;
    report) echo "$NERVE report $2" ;;
    analyze) echo "$NERVE analyze $2 --threads 1" ;;
  esac
}

# The run a verb starts from: the trained run; for report, the run with every
# other stage done (the report draws what they wrote).
"$NERVE" analyze "$tmp/base" --threads 1 --skip report >/dev/null 2>&1 || { echo "FAIL: analyze of the base run failed"; exit 1; }
cp -a "$tmp/base" "$tmp/base-report"
rm -rf "$tmp/base/analysis"
start_of() { [ "$1" = report ] && echo "$tmp/base-report" || echo "$tmp/base"; }

check_verb_fault() {
  local verb=$1 name=$2 rc=$3 errf=$4 run=$5 why=""
  local msg; msg=$(grep "^nerve $verb:\|^nerve [a-z]*:" "$errf" | tail -1)
  if [ "$rc" = 0 ]; then
    if same_outputs "$tmp/ref-$verb" "$run"; then ok "$verb $name: exit 0, the undisturbed bytes (the fault touched no result)"
    else bad "$verb $name: exit 0 but the results differ: a failed write went unnoticed"; fi
    return
  fi
  if [ "$rc" != 2 ]; then why="exit $rc (want 2): $(tail -c 300 "$errf")"
  elif ! echo "$msg" | grep -q "$run"; then why="the message names no file of the run: $msg"
  elif ! "$NERVE" verify "$run" >/dev/null 2>&1; then why="nerve verify fails: the training results were touched"
  elif ! all_readable "$run"; then why="a file under a final name does not read back"
  fi
  if [ -n "$why" ]; then bad "$verb $name: $why"; return; fi
  ok "$verb $name: exit 2: ${msg:0:140}"
  $(verb_cmd "$verb" "$run") >"$run.rerun" 2>&1
  local rc2=$?
  if [ $rc2 != 0 ]; then bad "$verb $name: the rerun exits $rc2: $(tail -c 300 "$run.rerun")"; return; fi
  if same_outputs "$tmp/ref-$verb" "$run"; then ok "$verb $name: the rerun gives the undisturbed bytes"
  else bad "$verb $name: the rerun differs from the undisturbed run"; fi
}

seed=40
for verb in ${FAULT_VERBS:-ph pca stats features report analyze}; do
  from=$(start_of "$verb")
  cp -a "$from" "$tmp/ref-$verb"
  $(verb_cmd "$verb" "$tmp/ref-$verb") >/dev/null 2>&1 || { bad "$verb: the undisturbed run failed"; continue; }
  cp -a "$from" "$tmp/count-$verb"
  n=$(count_ops env NV_FAIL_PATH=/analysis/ $(verb_cmd "$verb" "$tmp/count-$verb"))
  echo "nerve $verb makes $n counted writes under analysis/"
  [ "$n" -gt 0 ] || { bad "$verb: the shim counted no write"; continue; }
  k=$(scaled 3); [ "$verb" = analyze ] && k=$(scaled 4)
  seed=$((seed + 1)); i=0
  for p in $(points "$seed" "$n" "$k"); do
    i=$((i + 1)); run=$tmp/$verb-$i
    cp -a "$from" "$run"
    env NV_FAIL_PATH=/analysis/ NV_FAIL_AT="$p" LD_PRELOAD="$SHIM" $(verb_cmd "$verb" "$run") >"$run.out" 2>"$run.err"
    check_verb_fault "$verb" "ENOSPC from write $p of $n" $? "$run.err" "$run"
  done
  i=$((i + 1)); run=$tmp/$verb-$i; p=$(( (n + 1) / 2 ))
  cp -a "$from" "$run"
  env NV_FAIL_PATH=/analysis/ NV_FAIL_AT="$p" NV_FAIL_MODE=once NV_FAIL_ERRNO=EIO LD_PRELOAD="$SHIM" \
    $(verb_cmd "$verb" "$run") >"$run.out" 2>"$run.err"
  check_verb_fault "$verb" "EIO once on write $p of $n" $? "$run.err" "$run"
done

# analyze on a real full disk: the training run and half of what analyze adds.
[ -d "$tmp/ref-analyze" ] || { finish; exit; }
kb_run=$(du -sk "$tmp/base" | cut -f1); kb_all=$(du -sk "$tmp/ref-analyze" | cut -f1)
kb=$((kb_run + (kb_all - kb_run) / 2))
if mount_small "$tmp/small" "$kb"; then
  run=$tmp/small/run
  cp -a "$tmp/base" "$run"
  $(verb_cmd analyze "$run") >"$tmp/small.out" 2>"$tmp/small.err"
  rc=$?
  msg=$(grep '^nerve [a-z]*:' "$tmp/small.err" | tail -1)
  if [ $rc = 2 ] && echo "$msg" | grep -q "$run" && "$NERVE" verify "$run" >/dev/null 2>&1 && all_readable "$run"; then
    ok "analyze on a tmpfs of $kb KiB: exit 2: ${msg:0:140}"
    mount -o remount,size=$((kb_all * 3))k "$tmp/small"
    if $(verb_cmd analyze "$run") >"$tmp/small.rerun" 2>&1 && same_outputs "$tmp/ref-analyze" "$run"; then
      ok "analyze on the tmpfs: after space is freed, the rerun gives the undisturbed bytes"
    else bad "analyze on the tmpfs: the rerun after freeing space: $(tail -c 300 "$tmp/small.rerun")"; fi
  else
    bad "analyze on a tmpfs of $kb KiB: exit $rc (want 2): $msg"
  fi
  umount "$tmp/small"
else
  echo "SKIP (tmpfs part only): mount -t tmpfs is not permitted here (needs root); the shim's ENOSPC covers the same paths"
fi
finish
