#!/usr/bin/env bash
# fault_every_write.sh (make test-long): the fault tests' contract at every write
# instead of a few seeded ones (issue 21). For nerve train, and for each analysis
# verb (ph, pca, stats, features, report) on a finished run, the Nth counted
# operation of the LD_PRELOAD shim fails once with EIO, for every N (every
# FAULT_STRIDE-th for the analysis verbs, default 2): the command must exit 2
# naming a file, or exit 0 with the undisturbed run's bytes (the failed write was
# not a result, e.g. the log); after a failure, rerunning (train: --resume) must
# give the undisturbed bytes. A single failure that goes unnoticed, or a rerun
# that does not repair what a failure left, shows here.
set -u
source "${NERVE_ROOT:-.}/tests/fault/lib.sh"
need_shim
stride=${FAULT_STRIDE:-2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
write_configs "$tmp"

# sweep NAME BASE REF RERUN_ARGS... -- CMD...: every N of CMD's counted writes
sweep() {
  local name=$1 base=$2 ref=$3 step=$4 pathpat=$5; shift 5
  local n; rm -rf "$tmp/c"; [ -e "$base" ] && cp -a "$base" "$tmp/c"
  n=$(count_ops env NV_FAIL_PATH="$pathpat" "${@//@RUN@/$tmp/c}")
  local silent=0 failed=0 exits=0 p
  for ((p = 1; p <= n; p += step)); do
    rm -rf "$tmp/w"; [ -e "$base" ] && cp -a "$base" "$tmp/w"
    env NV_FAIL_PATH="$pathpat" NV_FAIL_AT=$p NV_FAIL_MODE=once NV_FAIL_ERRNO=EIO LD_PRELOAD="$SHIM" \
      "${@//@RUN@/$tmp/w}" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    if [ $rc = 0 ]; then
      same_outputs "$ref" "$tmp/w" >/dev/null || { bad "$name: EIO at write $p: exit 0 but the results differ"; silent=$((silent + 1)); }
      continue
    fi
    exits=$((exits + 1))
    if [ $rc != 2 ] || ! grep -q "$tmp/w" "$tmp/err"; then
      bad "$name: EIO at write $p: exit $rc: $(tail -c 200 "$tmp/err")"; failed=$((failed + 1)); continue
    fi
    local again=("${@//@RUN@/$tmp/w}")
    [ "$name" = train ] && again+=(--resume)
    if ! "${again[@]}" >"$tmp/rerun" 2>&1 || ! same_outputs "$ref" "$tmp/w" >/dev/null; then
      bad "$name: EIO at write $p: the rerun does not give the undisturbed bytes: $(tail -c 200 "$tmp/rerun")"
      failed=$((failed + 1))
    fi
  done
  [ $silent = 0 ] && [ $failed = 0 ] && ok "$name: $(( (n + step - 1) / step )) single EIOs over $n writes: $exits stopped with exit 2 and a rerun repaired them, the rest touched no result"
}

# training: every write of the run (the base is an empty directory)
mkdir -p "$tmp/empty"
"$NERVE" train "$tmp/tiny.cfg" --out "$tmp/ref-train" >/dev/null 2>&1
sweep train "$tmp/empty/x" "$tmp/ref-train" 1 "" "$NERVE" train "$tmp/tiny.cfg" --out @RUN@

# analysis verbs on a finished run
"$NERVE" train "$tmp/small.cfg" --out "$tmp/base" >/dev/null 2>&1
"$NERVE" analyze "$tmp/base" --threads 1 --skip report >/dev/null 2>&1
cp -a "$tmp/base" "$tmp/base-report"; rm -rf "$tmp/base/analysis"
for verb in ph pca stats features report; do
  from=$tmp/base; [ $verb = report ] && from=$tmp/base-report
  cp -a "$from" "$tmp/ref-$verb"
  if [ $verb = report ]; then "$NERVE" report "$tmp/ref-$verb" >/dev/null 2>&1
  else "$NERVE" $verb "$tmp/ref-$verb" --threads 1 >/dev/null 2>&1; fi
  if [ $verb = report ]; then sweep report "$from" "$tmp/ref-$verb" "$stride" /analysis/ "$NERVE" report @RUN@
  else sweep $verb "$from" "$tmp/ref-$verb" "$stride" /analysis/ "$NERVE" $verb @RUN@ --threads 1; fi
done
finish
