#!/usr/bin/env bash
# dynamics_cuda.sh: the training-dynamics recorder on the CUDA backend, end to end
# (nerve train --device cuda with every tier at every step), against the same run
# on the CPU backend, read back through nerve query over both runs at once: per
# step the loss within training parity (rtol 1e-4), accuracy within one sample;
# per layer and step the weight, gradient and update norms (rtol 1e-3, updates 2e-2:
# Adam normalises tiny gradients), the dead fraction; per unit the influence and
# mean |d| at the layer's scale; per sample the loss and the factor-derived
# gradient norms; every stored file readable by nerve verify. Skips (77) where no
# CUDA device is usable (nerve train --device cuda exits 69).
set -u
cd "$(dirname "$0")/../.."
NERVE=${NERVE:-$PWD/build/nerve}
d=$(mktemp -d /tmp/nerve-dyncuda-XXXXXX)
trap 'rm -rf "$d"' EXIT
fails=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fails=$((fails + 1)); }

cat > "$d/run.cfg" <<'CFG'
seed = 3;
data: { spheres: { dim = 6; points_per_class = 300; }; };
models: { hidden = [24, 24]; linear_baseline = false; };
train: { epochs = 2; batch_size = 32; optimizer = "adam"; lr = 0.002; };
snapshots: { epochs = [2]; layers = ["logits"]; };
dynamics: { enabled = true; steps: { every = 1; }; neurons: { every = 1; };
            samples: { every = 1; }; factors: { every = 1; }; };
CFG
"$NERVE" train "$d/run.cfg" --out "$d/cuda" --device cuda >"$d/cuda.out" 2>"$d/cuda.err"
rc=$?
if [ $rc = 69 ]; then
  echo "SKIP: no usable CUDA device for nerve train --device cuda: $(head -c 300 "$d/cuda.err")"
  exit 77
fi
[ $rc = 0 ] || { echo "FAIL: nerve train --device cuda with the recorder: exit $rc: $(tail -c 600 "$d/cuda.err")"; exit 1; }
grep -q "backend cannot record" "$d/cuda.out" "$d/cuda.err" &&
  bad "the CUDA run fell back to the CPU"
"$NERVE" train "$d/run.cfg" --out "$d/cpu" --device cpu >/dev/null 2>"$d/cpu.err" ||
  { echo "FAIL: the same run on the CPU: $(tail -c 600 "$d/cpu.err")"; exit 1; }
"$NERVE" verify "$d/cuda" >/dev/null 2>"$d/verify.err" && ok "nerve verify of the CUDA run" ||
  bad "nerve verify of the CUDA run: $(tail -c 400 "$d/verify.err")"

# q NAME MAXIMUM SQL: the SQL over both runs (a = CUDA, b = CPU) gives one number,
# the worst disagreement, which must be <= MAXIMUM (and the join non-empty).
q() {
  local name=$1 max=$2 sql=$3 out
  out=$("$NERVE" query "$d/cuda" "$d/cpu" --format csv "$sql" 2>"$d/q.err") ||
    { bad "$name: nerve query failed: $(cat "$d/q.err")"; return; }
  local n v
  n=$(printf '%s\n' "$out" | sed -n 2p | cut -d, -f1)
  v=$(printf '%s\n' "$out" | sed -n 2p | cut -d, -f2)
  if [ -z "$n" ] || [ "$n" = 0 ]; then bad "$name: no rows compared"; return; fi
  if awk -v v="$v" -v m="$max" 'BEGIN { exit !(v != "" && v + 0 <= m + 0) }'; then
    ok "$name: $n rows, worst $v (at most $max)"
  else
    bad "$name: $n rows, worst $v (at most $max)"
  fi
}
A="a.run = '$d/cuda' AND b.run = '$d/cpu' AND a.model = b.model AND a.step = b.step"

q "per-step loss (rtol)" 1e-4 "SELECT count(*), max(abs(a.loss - b.loss) / abs(b.loss)) FROM steps a JOIN steps b ON $A"
q "per-step accuracy (samples of 32)" 0.0313 "SELECT count(*), max(abs(a.accuracy - b.accuracy)) FROM steps a JOIN steps b ON $A"
for col in weight_norm grad_norm; do
  q "layers.$col (rtol)" 1e-3 "SELECT count(*), max(abs(a.$col - b.$col) / max(abs(b.$col), 1e-30)) FROM layers a JOIN layers b ON $A AND a.layer = b.layer"
done
for col in update_norm init_distance; do
  q "layers.$col (rtol)" 2e-2 "SELECT count(*), max(abs(a.$col - b.$col) / max(abs(b.$col), 1e-30)) FROM layers a JOIN layers b ON $A AND a.layer = b.layer"
done
q "layers.dead_frac" 0.05 "SELECT count(*), max(abs(a.dead_frac - b.dead_frac)) FROM layers a JOIN layers b ON $A AND a.layer = b.layer"
for col in influence mean_abs_delta activation grad_norm; do
  # at the scale of the layer at that step: the largest |value| of its units
  q "neurons.$col (at the layer's scale)" 2e-3 "WITH s AS (SELECT run, model, step, layer, max(abs($col)) AS m FROM neurons GROUP BY run, model, step, layer)
    SELECT count(*), max(abs(a.$col - b.$col) / max(s.m, 1e-30)) FROM neurons a JOIN neurons b ON $A AND a.layer = b.layer AND a.unit = b.unit
    JOIN s ON s.run = b.run AND s.model = b.model AND s.step = b.step AND s.layer = b.layer"
done
q "samples.loss" 1e-4 "SELECT count(*), max(abs(a.loss - b.loss) / max(abs(b.loss), 1e-3)) FROM samples a JOIN samples b ON $A AND a.position = b.position"
q "samples.grad_norm (from the factors)" 2e-3 "SELECT count(*), max(abs(a.grad_norm - b.grad_norm) / max(abs(b.grad_norm), 1e-6)) FROM samples a JOIN samples b ON $A AND a.position = b.position"
q "the same samples in the same order" 0 "SELECT count(*), sum(a.sample_id != b.sample_id) FROM samples a JOIN samples b ON $A AND a.position = b.position"

[ $fails = 0 ] || { echo "FAIL: $fails checks"; exit 1; }
echo "ok: the CUDA backend's record agrees with the CPU backend's"
