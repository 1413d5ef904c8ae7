#!/usr/bin/env bash
# dynamics_resume: the dynamics store survives SIGKILL and --resume ends with the same
# bytes as a run never killed (docs/CONTRACTS.md, "Per-step records"): runs are killed
# at several points (while a model's chunks are being written, and again during the
# resumed runs), resumed, and every dynamics file is compared with an uninterrupted
# run's (h5diff -d 0 on the index and every chunk, cmp on the manifests and on
# hashes.json). Two uninterrupted runs with the same seed give the same bytes too.
# Also: nerve verify passes, every listed chunk of a killed run opens, and the
# weights rebuilt from the factors equal the checkpoints (max |diff| = 0).
# Two chunkings: whole epochs per chunk, and epochs cut into pieces.
set -u
d=$(mktemp -d /tmp/nerve-dynres-XXXXXX)
fails=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fails=$((fails+1)); }
command -v h5diff >/dev/null || { echo "SKIP: h5diff not installed (hdf5-tools)"; exit 77; }

base='experiment = "dynres";
data: { spheres: { points_per_class = 1000; }; };
models: { hidden = [32, 32, 32]; linear_baseline = false; };
train: { epochs = 6; };
dynamics: {
  enabled = true;
  samples: { every = 1; };
  factors: { every = 1; preactivations = true; };
  weights: { every = 30; };
  alarm: { window = 7; };'
# 1600 training points, batch 64: 25 steps per epoch
# whole: 2 epochs per chunk (3 chunks per model); pieces: 2 pieces per epoch (12)
printf '%s\n  chunk_steps = 50;\n};\nsnapshots: { epochs = [0, 2, 4]; layers = ["logits"]; };\n' "$base" > "$d/whole.cfg"
printf '%s\n  chunk_steps = 13;\n};\nsnapshots: { epochs = [0, 2, 5]; layers = ["logits"]; };\n' "$base" > "$d/pieces.cfg"

chunks() { ls "$1/dynamics/$2" 2>/dev/null | grep -c '^chunk_'; }

# kill_when RUN CFG MODEL N [--resume]: starts training, SIGKILLs it once MODEL has N
# chunk files (or lets it finish if it gets there first).
kill_when() {
  local run=$1 cfg=$2 model=$3 n=$4; shift 4
  "$NERVE" train "$cfg" --out "$run" "$@" >>"$run.log" 2>&1 &
  local pid=$!
  while kill -0 $pid 2>/dev/null; do
    [ "$(chunks "$run" "$model")" -ge "$n" ] && { kill -9 $pid 2>/dev/null; break; }
    sleep 0.01
  done
  wait $pid 2>/dev/null
  echo "  killed with $(chunks "$run" "$model") chunks of $model ($(ls "$run"/dynamics/*/ 2>/dev/null | grep -c '^chunk_') in all)"
}

# same A B WHAT: every dynamics file of A equals B's.
same() {
  local a=$1 b=$2 what=$3 n=0 diffs=0
  for f in $(cd "$a" && find dynamics -name '*.h5' | sort); do
    n=$((n+1))
    h5diff -d 0 "$a/$f" "$b/$f" >/dev/null 2>&1 || { bad "$what: $f differs"; diffs=1; }
  done
  [ "$(cd "$a" && find dynamics -name '*.h5' | sort)" = "$(cd "$b" && find dynamics -name '*.h5' | sort)" ] \
    || { bad "$what: the sets of files differ"; diffs=1; }
  for m in $(cd "$a/dynamics" && ls -d */ | tr -d /); do
    cmp -s "$a/dynamics/$m/manifest.json" "$b/dynamics/$m/manifest.json" || { bad "$what: $m/manifest.json differs"; diffs=1; }
  done
  cmp -s "$a/hashes.json" "$b/hashes.json" || { bad "$what: hashes.json differs"; diffs=1; }
  [ $diffs = 0 ] && ok "$what: $n dynamics files equal (h5diff -d 0), manifests and hashes.json identical"
}

for kind in whole pieces; do
  cfg=$d/$kind.cfg
  # kill points: expressive chunk counts for the 2nd, 3rd and 4th kill
  if [ $kind = whole ]; then k2=1 k3=2 k4=3; else k2=1 k3=4 k4=8; fi
  "$NERVE" train "$cfg" --out "$d/$kind-a" >"$d/$kind-a.log" 2>&1 || { bad "$kind: run A failed: $(tail -3 "$d/$kind-a.log")"; continue; }
  "$NERVE" train "$cfg" --out "$d/$kind-c" >"$d/$kind-c.log" 2>&1 || { bad "$kind: run C failed"; continue; }
  same "$d/$kind-a" "$d/$kind-c" "$kind: two runs with the same seed"

  b=$d/$kind-b
  echo "$kind: killing"
  kill_when "$b" "$cfg" bottleneck 2
  kill_when "$b" "$cfg" expressive $k2 --resume
  # a killed run leaves every listed chunk readable
  for m in bottleneck expressive; do
    [ -f "$b/dynamics/$m/manifest.json" ] || continue
    for c in $(/usr/bin/python3 -c "import json,sys; print(' '.join(x['path'] for x in json.load(open(sys.argv[1]))['chunks']))" "$b/dynamics/$m/manifest.json"); do
      h5dump -H "$b/dynamics/$m/$c" >/dev/null 2>&1 || bad "$kind: listed chunk $m/$c of a killed run does not open"
    done
  done
  kill_when "$b" "$cfg" expressive $k3 --resume
  kill_when "$b" "$cfg" expressive $k4 --resume
  "$NERVE" train "$cfg" --out "$b" --resume >>"$b.log" 2>&1 || { bad "$kind: the last resume failed: $(tail -3 "$b.log")"; continue; }
  grep -q "resuming at epoch [1-9]" "$b.log" && ok "$kind: a resume started from a checkpoint past epoch 0" \
    || echo "  (note: every resume started from epoch 0 this time)"
  same "$d/$kind-a" "$b" "$kind: killed 4 times and resumed vs uninterrupted"
  out=$("$NERVE" verify "$b" 2>&1) && ok "$kind: nerve verify: $out" || bad "$kind: nerve verify: $out"

  # the rebuilt weights are the trained ones (the same calls, the same bits)
  for m in bottleneck expressive; do
    out=$("$NERVE" dynamics "$d/$kind-a" weights --model $m --step 150 --from 0 2>&1)
    if echo "$out" | grep -q "max |rebuilt - checkpoint| = 0 over"; then ok "$kind: $m rebuilt over 150 steps = checkpoint"
    else bad "$kind: $m rebuild: $out"; fi
  done
done

# bad input of nerve dynamics: a step past the run, a missing model
"$NERVE" dynamics "$d/whole-a" weights --step 100000 >/dev/null 2>"$d/e1"; rc=$?
[ $rc = 2 ] && grep -q "has steps 0..150" "$d/e1" && ok "step past the run: exit 2: $(cat "$d/e1")" || bad "step past the run: exit $rc: $(cat "$d/e1")"
"$NERVE" dynamics "$d/whole-a" weights --step 3 --model nope >/dev/null 2>"$d/e2"; rc=$?
[ $rc = 2 ] && grep -q "not recorded" "$d/e2" && ok "unknown model: exit 2" || bad "unknown model: exit $rc: $(cat "$d/e2")"

[ $fails = 0 ] && rm -rf "$d"
echo "dynamics_resume: $fails failure(s)"
[ $fails = 0 ]
