#!/usr/bin/env bash
# cli_options.sh: one set of options across the RUN verbs (issue 20, item 2). Every
# RUN verb (ph RUN, pca, stats, features, analyze) takes the shared options
# --model(s), --layer(s), --split(s), --epoch(s), --task/--tasks, --force,
# --threads, --device with the same names and syntax (src/cli/run_opts.c):
#  - each verb runs with every shared option it honours and does what they say
#    (only the selected files are made; --force remakes them);
#  - an option a verb cannot honour is refused (exit 2) with the reason, never ignored;
#  - a misspelt value (model, layer, epoch, split, device, task) is refused with exit 2
#    and a message naming the value and what the run holds, in every verb, before any
#    work, leaving nothing written.
set -u
NERVE=${NERVE:-build/nerve}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fails=$((fails + 1)); }

cat > "$tmp/c.cfg" <<'EOF'
experiment = "opts";
data: { spheres: { dim = 5; points_per_class = 60; }; };
models: { hidden = [8, 8]; bottleneck_width = 2; };
train: { epochs = 3; batch_size = 32; };
snapshots: { epochs = [0, 1, 3]; };
EOF
"$NERVE" train "$tmp/c.cfg" --out "$tmp/run" > "$tmp/train.log" 2>&1 || { cat "$tmp/train.log"; exit 1; }
run=$tmp/run
# verb-specific settings that keep each stage quick
declare -A FAST=([ph]="--landmarks 20" [pca]="" [stats]="--twonn-points 50 --cka-points 60"
                 [features]="--steps 3" [analyze]="--only ph,pca,stats,features")

# expect CODE NEEDLE... -- ARGS: nerve ARGS exits CODE and stderr holds every NEEDLE
expect() {
  local code=$1; shift
  local needles=()
  while [ "$1" != "--" ]; do needles+=("$1"); shift; done
  shift
  "$NERVE" "$@" > "$tmp/out" 2> "$tmp/err"
  local rc=$? miss=""
  for n in "${needles[@]}"; do grep -qF -- "$n" "$tmp/err" || miss="$miss '$n'"; done
  if [ $rc != "$code" ] || [ -n "$miss" ]; then
    bad "nerve $*: exit $rc (want $code), stderr lacks:$miss: $(head -c 400 "$tmp/err")"
  else
    ok "nerve $* -> exit $rc: $(grep -v '^try\|^usage' "$tmp/err" | head -n 1 | head -c 200)"
  fi
}

# --- every verb, every shared option it honours, valid values: exit 0 -------------
for verb in ph pca stats features analyze; do
  opts=(--model expressive --epoch 1,3 --task 0 --tasks 1 --force --threads 1 --device cpu --layer hidden1)
  [ "$verb" = ph ] || [ "$verb" = analyze ] && opts+=(--split train)
  # shellcheck disable=SC2086
  if "$NERVE" $verb "$run" "${opts[@]}" ${FAST[$verb]} > "$tmp/$verb.out" 2>&1; then
    ok "nerve $verb RUN ${opts[*]}: exit 0"
  else
    bad "nerve $verb RUN ${opts[*]}: $(tail -n 5 "$tmp/$verb.out")"
  fi
done
# the selection was honoured: only expressive's epochs 1 and 3 (ph, pca, features)
for stage in ph pca features; do
  got=$(cd "$run/analysis/$stage" && ls */epoch_*.h5 2>/dev/null | sort | tr '\n' ' ')
  if [ "$got" = "expressive/epoch_0001.h5 expressive/epoch_0003.h5 " ]; then
    ok "$stage made only the selected files: $got"
  else
    bad "$stage: expected expressive/epoch_0001.h5 and _0003.h5 only, found: $got"
  fi
done
/usr/bin/python3 - "$run" <<'PY' && ok "ph: --layer hidden1 --split train is what the diagram file holds" || bad "ph: the diagram file does not hold only hidden1/train"
import sys, h5py
with h5py.File(sys.argv[1] + "/analysis/ph/expressive/epoch_0001.h5", "r") as f:
    groups = sorted(k for k in f.keys() if k != "labelled")
    splits = sorted(f["hidden1"].keys())
    # the labelled kNN reading (docs/topology.md) keeps its own group, by layer
    labelled = sorted(f["labelled"].keys()) if "labelled" in f else ["hidden1"]
sys.exit(0 if groups == ["hidden1"] and splits == ["train"] and labelled == ["hidden1"]
         else "groups %s splits %s labelled %s" % (groups, splits, labelled))
PY
/usr/bin/python3 - "$run" <<'PY' && ok "features: --layer hidden1 is what the feature file holds" || bad "features: the feature file does not hold only hidden1"
import sys, h5py
with h5py.File(sys.argv[1] + "/analysis/features/expressive/epoch_0001.h5", "r") as f:
    layers = sorted(f["layers"].keys())
sys.exit(0 if layers == ["hidden1"] else "groups %s" % layers)
PY
# --force remakes: the file is rewritten (its inode changes on the atomic rename)
"$NERVE" pca "$run" --model expressive --epoch 1 > /dev/null 2>&1  # every layer (the file above had hidden1)
before=$(stat -c %i "$run/analysis/pca/expressive/epoch_0001.h5")
"$NERVE" pca "$run" --model expressive --epoch 1 > /dev/null 2>&1
same=$(stat -c %i "$run/analysis/pca/expressive/epoch_0001.h5")
"$NERVE" pca "$run" --model expressive --epoch 1 --force > /dev/null 2>&1
after=$(stat -c %i "$run/analysis/pca/expressive/epoch_0001.h5")
[ "$before" = "$same" ] && [ "$same" != "$after" ] && ok "pca: kept without --force, remade with --force" \
  || bad "pca --force: inodes $before $same $after"
before=$(stat -c %i "$run/analysis/features/expressive/epoch_0001.h5")
"$NERVE" features "$run" --model expressive --epoch 1 --steps 3 --force > /dev/null 2>&1
after=$(stat -c %i "$run/analysis/features/expressive/epoch_0001.h5")
[ "$before" != "$after" ] && ok "features: remade with --force" || bad "features --force did not remake the file"
# aliases: --models/--layers/--splits/--epochs are the same options
expect 2 "expresive" "expressive" -- pca "$run" --models expresive
expect 2 "hiden1" "hidden1" -- stats "$run" --layers hiden1
# the issue's case: features --models expresive exited 0 having done nothing
expect 2 "'expresive'" "bottleneck, expressive, linear" -- features "$run" --models expresive
expect 2 "tset" "train, test and all" -- ph "$run" --splits tset
expect 2 "epoch 7" "0, 1, 3" -- features "$run" --epochs 7
# stats splits over a job array: task 0 computes, the others have nothing to do
expect 0 -- stats "$run" --task 1 --tasks 2
grep -q "nothing to do" "$tmp/out" && ok "stats --task 1 --tasks 2: nothing to do" || bad "stats task 1: $(cat "$tmp/out")"

# --- options a verb cannot honour: refused with the reason --------------------------
expect 2 "--split does not apply to nerve features" -- features "$run" --split train
expect 2 "--split does not apply to nerve pca" "all" -- pca "$run" --split test
expect 2 "--split does not apply to nerve stats" -- stats "$run" --split test
expect 2 "nerve stats has no GPU path" -- stats "$run" --device cuda

# --- misspelt values: every verb, exit 2, the value and what the run holds --------
rm -rf "$run/analysis"
for verb in ph pca stats features analyze; do
  expect 2 "'expresive'" "bottleneck, expressive, linear" -- $verb "$run" --model expresive
  expect 2 "epoch 7" "0, 1, 3" -- $verb "$run" --epoch 7
  expect 2 "'hiden2'" "input, hidden1, hidden2, logits" -- $verb "$run" --layer hiden2
  expect 2 "'tset'" "train, test and all" -- $verb "$run" --split tset
  expect 2 "'gpu'" "auto, cpu or cuda" -- $verb "$run" --device gpu
  expect 2 "--threads" "'many'" -- $verb "$run" --threads many
  expect 2 "--task 2" "--tasks (2)" -- $verb "$run" --task 2 --tasks 2
  expect 2 "--epoch" "'x'" -- $verb "$run" --epoch x
done
if [ -e "$run/analysis" ] && [ -n "$(find "$run/analysis" -type f 2>/dev/null)" ]; then
  bad "a refused command wrote files: $(find "$run/analysis" -type f | head -3)"
else
  ok "no refused command wrote anything"
fi

# analyze hands --layer on to every stage; the input layer has no feature images, so
# the features stage gets the other layers, or is skipped when only the input is asked
expect 0 -- analyze "$run" --layer input --skip report --threads 1
if grep -q "features $run: skipped, the input layer has no feature images" "$tmp/out" &&
   [ -z "$(find "$run/analysis/features" -name '*.h5' 2>/dev/null)" ]; then
  ok "analyze --layer input: ph, pca and stats of the input, features skipped with a line saying why"
else
  bad "analyze --layer input: $(tail -n 3 "$tmp/out")"
fi
expect 0 -- analyze "$run" --layers input,hidden1 --only features --epoch 1 --model bottleneck --threads 1
n=$(find "$run/analysis/features" -name '*.h5' 2>/dev/null | wc -l)
[ "$n" -gt 0 ] && ok "analyze --layers input,hidden1: features of hidden1 ($n files)" ||
  bad "analyze --layers input,hidden1 made no feature files: $(tail -n 3 "$tmp/out")"

[ $fails = 0 ] && echo "all checks passed" && exit 0
echo "$fails check(s) failed"; exit 1
