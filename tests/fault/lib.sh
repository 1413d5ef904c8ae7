# lib.sh: what the fault and kill tests share (tests/integration/fault_*.sh,
# kill_runs.sh; sourced, not a test). docs/reliability.md says what they check.
#
# The runs are small (3-d spheres, a few epochs) and single-threaded
# (NERVE_THREADS=1), so a test stays within seconds per fault point on two cores.
NERVE=${NERVE:-$PWD/build/nerve}
NERVE_ROOT=${NERVE_ROOT:-$PWD}
BUILD=${BUILD:-build}
SHIM=$NERVE_ROOT/$BUILD/tests/fault/failwrite.so
export NERVE_THREADS=1 OPENBLAS_NUM_THREADS=1
# An ASan build (make SANITIZE=1 test) refuses a library preloaded before its
# runtime unless told that this one is fine (the shim is not instrumented).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
# Under ASan (make SANITIZE=1 test) every command is a few times slower: the tests
# then take fewer seeded points (SANITIZED=1); the sanitizers look for memory
# errors on the same paths, the plain suite covers the points.
SANITIZED=0
ldd "$NERVE" 2>/dev/null | grep -q libasan && SANITIZED=1
# scaled K: K points, or about a third of them (at least 2) under ASan
scaled() { if [ $SANITIZED = 1 ]; then echo $(( $1 / 3 > 2 ? $1 / 3 : 2 )); else echo "$1"; fi; }
fail=0; count=0
ok() { count=$((count + 1)); echo "ok   $*"; }
bad() { count=$((count + 1)); fail=$((fail + 1)); echo "FAIL: $*"; }
finish() { echo "$((count - fail)) passed, $fail failed"; [ "$fail" = 0 ]; }

need_shim() {
  if [ ! -f "$SHIM" ]; then echo "FAIL: $SHIM is not built (make $BUILD/tests/fault/failwrite.so)"; exit 1; fi
}

# K distinct fault points in 1..N from SEED, in increasing order (reproducible).
points() {
  awk -v seed="$1" -v n="$2" -v k="$3" 'BEGIN { srand(seed); while (c < k && c < n) { p = 1 + int(rand() * n); if (!(p in s)) { s[p] = 1; c++ } } for (p in s) print p }' | sort -n
}

# Delays in seconds: K values in [lo, hi) from SEED.
delays() {
  awk -v seed="$1" -v lo="$2" -v hi="$3" -v k="$4" 'BEGIN { srand(seed); for (i = 0; i < k; i++) printf "%.3f\n", lo + rand() * (hi - lo) }'
}

# How many counted operations (tests/fault/failwrite.c) `"$@"` makes; extra
# environment (NV_FAIL_PATH=...) before the command as with env.
count_ops() {
  local f; f=$(mktemp)
  env NV_FAIL_COUNT_FILE="$f" LD_PRELOAD="$SHIM" "$@" >/dev/null 2>&1
  awk '{ s += $2 } END { print s + 0 }' "$f"
  rm -f "$f"
}

# Hidden temporaries a writer left (a reader never opens them: hidden names, not
# in any manifest; listed so a test can say so).
temps() { find "$1" -name '.*.tmp-*' 2>/dev/null; }

# same_outputs A B [SUB]: the result files under A/SUB and B/SUB are the same: the
# same names (hidden temporaries aside), every HDF5 file equal under h5diff -d 0,
# every other file byte-identical; run.json and log.txt (times, hosts) excluded.
same_outputs() {
  local a=$1 b=$2 sub=${3:-.} rc=0 f
  local la lb
  la=$(cd "$a/$sub" && find . -type f ! -name '.*' ! -name run.json ! -name log.txt ! -name '*.log' | sort)
  lb=$(cd "$b/$sub" && find . -type f ! -name '.*' ! -name run.json ! -name log.txt ! -name '*.log' | sort)
  if [ "$la" != "$lb" ]; then
    echo "      files differ: $(diff <(echo "$la") <(echo "$lb") | grep '^[<>]' | head -5 | tr '\n' ' ')"
    return 1
  fi
  while read -r f; do
    [ -z "$f" ] && continue
    case "$f" in
      # nerve's HDF5 files are the same bytes for the same data (docs/CONTRACTS.md):
      # cmp first, h5diff -d 0 (the contract itself) only where the bytes differ
      *.h5) cmp -s "$a/$sub/$f" "$b/$sub/$f" || h5diff -d 0 "$a/$sub/$f" "$b/$sub/$f" >/dev/null 2>&1 ||
              { echo "      $sub/$f differs (h5diff -d 0)"; rc=1; } ;;
      *) cmp -s "$a/$sub/$f" "$b/$sub/$f" || { echo "      $sub/$f differs (cmp)"; rc=1; } ;;
    esac
  done <<<"$la"
  return $rc
}

# Every HDF5 file under DIR opens and describes (nerve info), i.e. nothing under a
# final name is a prefix.
all_readable() {
  local f rc=0
  while read -r f; do
    [ -z "$f" ] && continue
    "$NERVE" info "$f" >/dev/null 2>&1 || { echo "      unreadable: $f"; rc=1; }
  done < <(find "$1" -name '*.h5' ! -name '.*')
  return $rc
}

# The small experiments of these tests. tiny: a training run of 3 models, a
# snapshot every epoch. small: one the analysis stages can calibrate on (circles).
write_configs() {
  cat >"$1/tiny.cfg" <<'CFG'
experiment = "tiny";
data: { source = "spheres"; spheres: { dim = 3; points_per_class = 30; }; };
models: { hidden = [6, 6]; bottleneck_width = 2; };
train: { epochs = 4; batch_size = 8; };
snapshots: { epochs = "all"; };
CFG
  cat >"$1/small.cfg" <<'CFG'
experiment = "small";
data: { source = "spheres"; spheres: { dim = 3; sphere_dim = 1; points_per_class = 50; noise = 0.02; }; };
models: { hidden = [5]; bottleneck_width = 2; linear_baseline = false; };
train: { epochs = 3; batch_size = 16; };
snapshots: { epochs = [0, 3]; };
CFG
  cat >"$1/sweep.cfg" <<'CFG'
experiment = "sw";
seeds = [1, 2];
data: { source = "spheres"; spheres: { dim = 3; points_per_class = 20; }; };
models: { hidden = [4]; bottleneck_width = 2; linear_baseline = false; };
train: { epochs = 2; batch_size = 8; };
snapshots: { epochs = [0, 2]; };
CFG
}

# A size-limited tmpfs at DIR (root and mount needed). Returns 1 when mounting is
# not permitted here; the caller then says SKIP for that part.
mount_small() {
  local dir=$1 kb=$2
  mkdir -p "$dir"
  mount -t tmpfs -o "size=${kb}k,mode=0755" tmpfs "$dir" 2>/dev/null
}
