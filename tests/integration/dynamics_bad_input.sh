#!/usr/bin/env bash
# dynamics_bad_input: bad input to the dynamics recorder gets one clear message naming
# the file and key (or the file written), exit status 2, and no half-written result
# (docs/CONTRACTS.md, docs/dynamics.md): an unknown tier or key, a stride of 0, an
# epoch past the last, a schedule that records no step of the run, resuming with a
# changed dynamics key (named with both values), a store folder that cannot be
# made, a full disk (simulated with an LD_PRELOAD shim: earlier chunks stay listed
# and readable), and --device cuda where there is no GPU.
set -u
d=$(mktemp -d /tmp/nerve-dynbad-XXXXXX)
fails=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fails=$((fails+1)); }

expect_fail() { # NAME CODE NEEDLE CFGTEXT [ARGS...]: nerve train exits CODE with NEEDLE, leaves no run dir
  local name=$1 code=$2 needle=$3 text=$4; shift 4
  printf '%s\n' "$text" > "$d/$name.cfg"
  "$NERVE" train "$d/$name.cfg" --out "$d/out-$name" "$@" >/dev/null 2>"$d/$name.err"
  local rc=$?
  if [ $rc != "$code" ]; then bad "$name: exit $rc, expected $code: $(tail -c 400 "$d/$name.err")"; return; fi
  if ! grep -qF -- "$needle" "$d/$name.err"; then bad "$name: message lacks '$needle': $(cat "$d/$name.err")"; return; fi
  if [ -e "$d/out-$name" ]; then bad "$name: left a run directory behind"; return; fi
  ok "$name: exit $code: $(head -c 300 "$d/$name.err")"
}
small='data: { spheres: { dim = 5; points_per_class = 100; }; };
models: { hidden = [8, 8]; linear_baseline = false; };
train: { epochs = 3; batch_size = 32; };
snapshots: { epochs = [3]; layers = ["logits"]; };'

expect_fail unknown-tier 2 "unknown-tier.cfg:7: key 'dynamics.gradients': unknown key (allowed here: enabled, models, chunk_steps, compression, steps, neurons, samples, factors, weights, alarm)" "$small
dynamics: {
  enabled = true;
  gradients: { every = 1; };
};"
expect_fail unknown-quantity 2 "key 'dynamics.neurons.influences': unknown key (allowed here: enabled, every, log, epochs, top_k)" "$small
dynamics: { enabled = true; neurons: { influences = true; }; };"
expect_fail stride-0 2 "key 'dynamics.factors.every': a stride of 0 steps" "$small
dynamics: { enabled = true; factors: { every = 0; }; };"
expect_fail past-last-epoch 2 "key 'dynamics.samples.epochs': entry 1 (4) is not an epoch with steps: expected 1 to train.epochs = 3" "$small
dynamics: { enabled = true; samples: { epochs = [2, 4]; }; };"
expect_fail log-0 2 "key 'dynamics.steps.log'" "$small
dynamics: { enabled = true; steps: { log = 0; }; };"
# 160 training rows, batch 32: 15 steps in all
expect_fail records-nothing 2 "key 'dynamics.samples': the schedule every = 100 records no step of this run (3 epochs x 5 steps = 15 steps)" "$small
dynamics: { enabled = true; samples: { every = 100; }; };"

# --resume with a changed dynamics key: refused, naming the key and both values
printf '%s\ndynamics: { enabled = true; factors: { every = 1; }; };\n' "$small" > "$d/run.cfg"
"$NERVE" train "$d/run.cfg" --out "$d/run" >/dev/null 2>&1 || bad "a small dynamics run failed"
printf '%s\ndynamics: { enabled = true; factors: { every = 2; }; };\n' "$small" > "$d/run2.cfg"
"$NERVE" train "$d/run2.cfg" --out "$d/run" --resume >/dev/null 2>"$d/resume.err"; rc=$?
if [ $rc = 2 ] && grep -q "key 'dynamics.factors.every' is 1 there and 2 here" "$d/resume.err"; then
  ok "resume with another dynamics config: exit 2: $(cat "$d/resume.err")"
else bad "resume with another dynamics config: exit $rc: $(cat "$d/resume.err")"; fi
printf '%s\n' "$small" > "$d/run3.cfg"
"$NERVE" train "$d/run3.cfg" --out "$d/run" --resume >/dev/null 2>"$d/resume3.err"; rc=$?
[ $rc = 2 ] && grep -q "key 'dynamics.enabled' is true there and not set here" "$d/resume3.err" \
  && ok "resume with the recorder turned off: exit 2" || bad "resume with the recorder off: exit $rc: $(cat "$d/resume3.err")"

# the store's folder cannot be made (a file where RUN/dynamics should be)
mkdir -p "$d/blocked" && touch "$d/blocked/dynamics"
"$NERVE" train "$d/run.cfg" --out "$d/blocked" >/dev/null 2>"$d/blocked.err"; rc=$?
[ $rc = 2 ] && grep -q "blocked/dynamics" "$d/blocked.err" && ok "unmakeable store folder: exit 2: $(head -c 300 "$d/blocked.err")" \
  || bad "unmakeable store folder: exit $rc: $(cat "$d/blocked.err")"

# a full disk, simulated: every write to the third chunk file fails with ENOSPC
if cc -shared -fPIC -O1 -o "$d/enospc.so" "$NERVE_ROOT/tests/integration/shim/enospc.c" -ldl 2>"$d/cc.err"; then
  printf '%s\ndynamics: { enabled = true; chunk_steps = 5; samples: { every = 1; }; factors: { every = 1; }; };\n' \
    "$small" > "$d/full.cfg"
  # (under make SANITIZE=1 the ASan runtime must not insist on being first, and
  # libhdf5's own state from the failed create is not nerve's leak: shim/*.supp)
  ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
  LSAN_OPTIONS=${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$NERVE_ROOT/tests/integration/shim/hdf5-after-enospc.supp \
  NERVE_ENOSPC_MATCH=chunk_000002 LD_PRELOAD="$d/enospc.so" "$NERVE" train "$d/full.cfg" --out "$d/full" >/dev/null 2>"$d/full.err"
  rc=$?
  if [ $rc = 2 ] && grep -q "chunk_000002.h5 could not be written" "$d/full.err" && grep -q "No space left on device" "$d/full.err"; then
    ok "full disk: exit 2: $(head -c 200 "$d/full.err")"
  else bad "full disk: exit $rc: $(cat "$d/full.err")"; fi
  out=$(/usr/bin/python3 - "$d/full" <<'EOF' 2>&1
import json, sys, h5py, numpy as np
run = sys.argv[1]
m = json.load(open(f"{run}/dynamics/bottleneck/manifest.json"))
assert [c["path"] for c in m["chunks"]] == ["chunk_000000.h5", "chunk_000001.h5"], m
for c in m["chunks"]:
    with h5py.File(f"{run}/dynamics/bottleneck/{c['path']}", "r") as f:
        assert f["factors/step"].shape[0] > 0
with h5py.File(f"{run}/dynamics/bottleneck.h5", "r") as f:
    s = f["steps/step"][:]
    assert list(s) == list(range(1, 11)), s
    assert np.isfinite(f["factors/hidden1/d"][:]).all()
print("chunks 0 and 1 listed, readable, and in the index: steps", s[0], "..", s[-1])
EOF
)
  [ $? = 0 ] && ok "full disk: $out" || bad "full disk: earlier chunks: $out"
else
  echo "note: no C compiler for the ENOSPC shim ($(head -c 200 "$d/cc.err")); full-disk case not run"
fi

# --device cuda without a GPU: refused before anything is written (exit 69, the
# reason named); where there is one the CUDA backend records (tests/gpu/dynamics_cuda.sh)
"$NERVE" train "$d/run.cfg" --out "$d/cuda" --device cuda >/dev/null 2>"$d/cuda.err"; rc=$?
if [ $rc = 69 ] && grep -qi "cuda" "$d/cuda.err" && [ ! -e "$d/cuda" ]; then
  ok "--device cuda: no GPU here: exit 69, nothing written: $(head -c 200 "$d/cuda.err")"
elif [ $rc = 0 ]; then ok "--device cuda: a GPU here: recorded (checked by tests/gpu/dynamics_cuda.sh)"
else bad "--device cuda: exit $rc: $(cat "$d/cuda.err")"; fi

[ $fails = 0 ] && rm -rf "$d"
echo "dynamics_bad_input: $fails failure(s)"
[ $fails = 0 ]
