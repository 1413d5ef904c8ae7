#!/usr/bin/env bash
# train_bad_input: every kind of bad input to `nerve train` gets one clear message
# naming the file and the key/line, exit status 2, and leaves no run directory
# (docs/CONTRACTS.md). A diverging loss stops with a message and keeps earlier results.
set -u
d=$(mktemp -d /tmp/nerve-bad-XXXXXX)
fails=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fails=$((fails+1)); }

# expect_fail NAME CODE NEEDLE -- ARGS...: nerve exits CODE, stderr contains NEEDLE,
# and the run directory $d/out-NAME does not exist afterwards.
expect_fail() {
  local name=$1 code=$2 needle=$3; shift 4
  local out=$d/out-$name
  "$NERVE" train "$@" --out "$out" >"$d/$name.out" 2>"$d/$name.err"
  local rc=$?
  if [ $rc != "$code" ]; then bad "$name: exit $rc, expected $code ($(tail -c 300 "$d/$name.err"))"; return; fi
  if ! grep -q -- "$needle" "$d/$name.err"; then bad "$name: message lacks '$needle': $(cat "$d/$name.err")"; return; fi
  if [ -e "$out" ]; then bad "$name: left a run directory behind"; return; fi
  ok "$name: exit $code: $(head -c 200 "$d/$name.err")"
}
cfg() { printf '%s\n' "$2" > "$d/$1.cfg"; echo "$d/$1.cfg"; }
small='data: { spheres: { dim = 4; points_per_class = 40; }; }; train: { epochs = 2; };'

expect_fail unknown-key 2 "unknown.cfg:3: key 'train2': unknown key" -- "$(cfg unknown "$small
# a typo
train2: { };")"
# the typo above is a group name; check a nested one too
expect_fail unknown-nested 2 "key 'train.learning_rate'" -- "$(cfg nested 'train: {
  learning_rate = 0.1;
};')"
expect_fail wrong-type 2 "key 'train.epochs': expected an integer" -- "$(cfg wrongtype 'train: { epochs = "ten"; };')"
expect_fail out-of-range 2 "train.lr" -- "$(cfg range 'train: { lr = -1.0; };')"
expect_fail stop-range 2 "train.stop_at_train_accuracy" -- "$(cfg stoprange 'train: { stop_at_train_accuracy = 1.5; };')"
expect_fail stop-every-range 2 "train.stop_check_every" -- "$(cfg stopevery 'train: { stop_check_every = 0; };')"
expect_fail half-life-range 2 "train.lr_half_life" -- "$(cfg halflife 'train: { lr_half_life = -5; };')"
expect_fail stop-with-dynamics 2 "cannot be combined with the dynamics recorder" -- "$(cfg stopdyn 'train: { stop_at_train_accuracy = 0.9; };
dynamics: { enabled = true; };')"
expect_fail syntax 2 "syntax.cfg:2" -- "$(cfg syntax 'train: {
  epochs = = 3;
};')"
expect_fail sweep-list 2 "sweep" -- "$(cfg sweep 'models: { activation = ["relu", "tanh"]; };')"
expect_fail missing-config 2 "cannot open" -- "$d/nope.cfg"
expect_fail bad-flag 2 "--epochs" -- "$(cfg ok "$small")" --epochs -3
expect_fail bad-device 2 "--device" -- "$(cfg ok "$small")" --device tpu

# data files
printf '1,2,0\n3,nan,1\n' > "$d/nan.csv"
expect_fail csv-nan 2 "nan.csv:2" -- "$(cfg csvnan "data: { source = \"csv\"; csv: { path = \"$d/nan.csv\"; }; };")"
printf '1,2,0\n3,1\n' > "$d/ragged.csv"
expect_fail csv-ragged 2 "ragged.csv:2" -- "$(cfg csvragged "data: { source = \"csv\"; csv: { path = \"$d/ragged.csv\"; }; };")"
head -c 1000 /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz > "$d/trunc.gz"
expect_fail idx-truncated 2 "trunc.gz" -- "$(cfg idxtrunc "data: { source = \"idx\"; idx: { images = \"$d/trunc.gz\"; labels = \"/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz\"; }; };")"
echo "not hdf5" > "$d/fake.h5"
expect_fail not-hdf5 2 "fake.h5" -- "$(cfg fakeh5 "data: { source = \"file\"; file: { path = \"$d/fake.h5\"; }; };")"

# an output directory that cannot be created (its parent is a file)
touch "$d/plainfile"
"$NERVE" train "$(cfg ok "$small")" --out "$d/plainfile/run" >/dev/null 2>"$d/unwritable.err"
rc=$?
if [ $rc = 2 ] && grep -q "plainfile" "$d/unwritable.err"; then ok "unwritable output: exit 2: $(head -c 200 "$d/unwritable.err")"
else bad "unwritable output: exit $rc: $(cat "$d/unwritable.err")"; fi

# --device cuda where there is no GPU: a clear refusal, nothing written
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  "$NERVE" train "$(cfg ok "$small")" --out "$d/out-cuda" --device cuda >/dev/null 2>"$d/cuda.err"
  rc=$?
  if [ $rc != 0 ] && grep -qi "gpu\|cuda" "$d/cuda.err" && [ ! -e "$d/out-cuda" ]; then ok "--device cuda without a GPU: exit $rc: $(head -c 200 "$d/cuda.err")"
  else bad "--device cuda without a GPU: exit $rc: $(cat "$d/cuda.err")"; fi
fi

# a diverging loss stops with a clear message; earlier snapshots stay readable
"$NERVE" train "$(cfg diverge 'data: { spheres: { dim = 4; points_per_class = 100; }; };
train: { epochs = 6; optimizer = "sgd"; lr = 1000.0; momentum = 0.9; };
snapshots: { epochs = [0, 1, 6]; };')" --out "$d/out-diverge" >/dev/null 2>"$d/diverge.err"
rc=$?
if [ $rc != 0 ] && grep -q "NaN\|infinite\|not finite" "$d/diverge.err" && grep -q "last good snapshot\|not finite" "$d/diverge.err"; then
  ok "diverging loss: exit $rc: $(head -c 300 "$d/diverge.err")"
else bad "diverging loss: exit $rc: $(cat "$d/diverge.err")"; fi
# the message names the last good snapshot of the model that diverged
kept=$(grep -o 'snapshots/[A-Za-z0-9_-]*/epoch_[0-9]*\.h5' "$d/diverge.err" | head -1)
if [ -n "$kept" ] && [ -f "$d/out-diverge/$kept" ] && h5dump -H "$d/out-diverge/$kept" >/dev/null; then
  ok "the snapshot before the divergence ($kept) is kept and readable"
else bad "no readable snapshot kept after divergence ('$kept')"; fi

rm -rf "$d"
echo "$fails failure(s)"
[ $fails = 0 ]
