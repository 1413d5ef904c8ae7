#!/usr/bin/env bash
# run.sh BUILD SECONDS [PATTERN]: runs every fuzz target BUILD/targets/fuzz_* (those
# whose name contains PATTERN) for SECONDS each with libFuzzer, seeded with
# tests/fuzz/corpus/<target>/ and tests/fuzz/regressions/<target>/, into a working
# corpus BUILD/corpus/<target>/ (the committed corpus is never written). One line
# per target with its executions; a crash, hang (-timeout), leak or out-of-memory
# (-rss_limit_mb, -malloc_limit_mb) saves the input under BUILD/crashes/<target>/
# and fails the run, except a finding on an HDF5 input that libhdf5 alone shows too
# (BUILD/tools/h5walk, tests/fuzz/upstream/h5walk.c): that input goes to
# BUILD/upstream/<target>/ and the target fuzzes on for the time left.
# `make fuzz FUZZ_SECONDS=N [FUZZ=pattern]` calls this.
#
# Longer runs (docs/reliability.md): FUZZ_JOBS=2 runs two targets at a time;
# FUZZ_NICE=10 lowers their priority; FUZZ_EXTRA adds libFuzzer flags.
set -u
cd "$(dirname "$0")/../.."
build=${1:?usage: run.sh BUILD SECONDS [PATTERN]}; secs=${2:?}; pat=${3:-}
nice_n=${FUZZ_NICE:-0}; jobs=${FUZZ_JOBS:-1}
mkdir -p "$build/crashes" "$build/corpus" "$build/logs"

# The longest input worth trying per target: text formats are small, HDF5 files
# start at a couple of kilobytes.
max_len() {
  case "$1" in
    h5_*) echo 65536 ;;
    idx) echo 16384 ;;
    *) echo 8192 ;;
  esac
}

# The HDF5 file in a target's input, copied to OUT: the whole input of an h5_*
# target, the input after its first byte for matrix when that byte selects HDF5
# (tests/fuzz/fuzz_matrix.c); 1 for every other target and input.
h5_input() {
  case "$1" in
    h5_*) cp "$2" "$3" ;;
    matrix) [ -s "$2" ] && [ $(( $(od -An -tu1 -N1 "$2") & 1 )) = 1 ] && tail -c +2 "$2" >"$3" ;;
    *) return 1 ;;
  esac
}

# 0 when libhdf5 alone (BUILD/tools/h5walk, no nerve code) also crashes, hangs or
# leaks on the input: the defect is upstream (docs/reliability.md).
upstream_h5() {
  local walk="$build/tools/h5walk" rc
  [ -x "$walk" ] || return 1
  # (the braces' stderr takes bash's own "Aborted" line for the killed program)
  { ASAN_OPTIONS=allocator_may_return_null=0:detect_leaks=1:fast_unwind_on_malloc=0 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    LSAN_OPTIONS=suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0 \
      timeout 20 "$walk" "$1" >"$2" 2>&1; } 2>/dev/null
  rc=$?
  [ $rc != 0 ]
}

run_one() {
  local bin=$1 t name
  name=$(basename "$bin"); t=${name#fuzz_}
  local work="$build/corpus/$t" art="$build/crashes/$t" log="$build/logs/$t.log"
  local up="$build/upstream/$t"
  mkdir -p "$work" "$art"
  local seeds=()
  [ -d "tests/fuzz/corpus/$t" ] && seeds+=("tests/fuzz/corpus/$t")
  [ -d "tests/fuzz/regressions/$t" ] && seeds+=("tests/fuzz/regressions/$t")
  local dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  # ASan: a failed allocation is a finding (an allocation sized by the input),
  # never a silent NULL. libhdf5 has no frame pointers: the HDF5 targets unwind
  # malloc stacks the slow way, so that tests/fuzz/lsan.supp can name the libhdf5
  # function of an upstream leak (the fast unwinder stops at libhdf5's first frame).
  local asan=allocator_may_return_null=0:detect_leaks=1
  case "$t" in h5_*|matrix|hashes) asan=$asan:fast_unwind_on_malloc=0 ;; esac
  # An HDF5 input's finding that libhdf5 alone reproduces (upstream_h5) does not
  # fail the run: its input is kept under BUILD/upstream/<target>/ and libFuzzer
  # starts again for the time left. Every other finding fails it.
  local t0=$SECONDS rc=0 execs=0 nup=0 left=$secs speed="" e
  : >"$log"
  while :; do
    local mark="$build/.mark-$t"
    : >"$mark"
    ASAN_OPTIONS=${ASAN_OPTIONS:-$asan} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0} \
    nice -n "$nice_n" "$bin" -max_total_time="$left" -max_len="$(max_len "$t")" -timeout=10 \
      -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$art/" \
      "${dict[@]}" ${FUZZ_EXTRA:-} "$work" "${seeds[@]}" >"$log.part" 2>&1
    rc=$?
    e=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log.part" | tail -1)
    execs=$((execs + ${e:-0}))
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log.part" | tail -1)
    cat "$log.part" >>"$log"; rm -f "$log.part"
    [ $rc = 0 ] && break
    # the input this run saved (libFuzzer names it crash-, leak-, timeout- or oom-)
    local found
    found=$(find "$art" -maxdepth 1 -type f -newer "$mark" | head -1)
    rm -f "$mark"
    [ -n "$found" ] && h5_input "$t" "$found" "$build/.h5-$t" || break
    mkdir -p "$up"
    upstream_h5 "$build/.h5-$t" "$up/$(basename "$found").h5walk.log" || { rm -f "$build/.h5-$t"; break; }
    rm -f "$build/.h5-$t"
    mv "$found" "$up/"
    # never again from the working corpus (a seed that crashes while loading)
    local base; base=$(basename "$found"); rm -f "$work/${base#*-}"
    nup=$((nup + 1))
    echo "nerve fuzz: $(basename "$found"): libhdf5 alone fails on it too (h5walk): upstream, kept in $up" >>"$log"
    left=$((secs - (SECONDS - t0)))
    [ $left -ge 2 ] && [ $nup -lt 50 ] || { rc=0; break; }
    # the next run's statistics are its own
    echo "== nerve fuzz: restarted for ${left}s" >>"$log"
  done
  rm -f "$build/.mark-$t"
  local ncorp
  ncorp=$(find "$work" -type f | wc -l)
  if [ $rc = 0 ]; then
    printf '  PASS  %-22s %10s execs %8s/s  %5s corpus files  %4ss%s\n' "$t" "$execs" "${speed:-?}" "$ncorp" \
      $((SECONDS - t0)) "$([ $nup = 0 ] || echo "  ($nup upstream in libhdf5: $up)")"
  else
    printf '  FAIL  %-22s exit %s after %s execs (log %s; inputs in %s)\n' "$t" "$rc" "$execs" "$log" "$art"
    grep -E 'ERROR: |SUMMARY: |nerve fuzz:|runtime error|==[0-9]+==' "$log" | grep -v 'upstream, kept' | tail -8 | sed 's/^/        | /'
  fi
  return $rc
}

bins=()
for b in "$build"/targets/fuzz_*; do
  [ -x "$b" ] || continue
  [ -n "$pat" ] && [[ "$(basename "$b")" != *"$pat"* ]] && continue
  bins+=("$b")
done
if [ ${#bins[@]} = 0 ]; then echo "fuzz: no targets in $build/targets matching '$pat'"; exit 1; fi
echo "fuzz: ${#bins[@]} targets, ${secs}s each (logs in $build/logs)"
fail=0; failed=()
if [ "$jobs" -le 1 ]; then
  for b in "${bins[@]}"; do run_one "$b" || { fail=$((fail + 1)); failed+=("$(basename "$b")"); }; done
else
  # A simple pool: at most $jobs at a time, results printed as they end.
  export -f run_one max_len upstream_h5 h5_input; export build secs nice_n
  printf '%s\n' "${bins[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one "$@"' _ {} || fail=1
fi
[ ${#failed[@]} -gt 0 ] && echo "fuzz: failed: ${failed[*]}"
echo "fuzz: ${#bins[@]} targets, $fail failed"
[ $fail = 0 ]
