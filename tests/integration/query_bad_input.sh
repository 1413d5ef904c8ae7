#!/usr/bin/env bash
# query_bad_input.sh: `nerve query` refuses bad input with one clear message and exit
# status 2 (docs/queries.md, "Errors"; docs/CONTRACTS.md), and never writes to a run:
# an SQL error (SQLite's message), statements that would write (CREATE, INSERT,
# VACUUM INTO, ATTACH: no file appears), a run without the tier a question reads
# (the tier and how to record it), a run without a record, steps whose weights cannot
# be rebuilt, an index, layer, model, epoch or step out of range, an unknown preset,
# compare-runs with one run or runs of different architectures, not a run directory,
# bad option values. Every file of the runs has the same bytes and times afterwards.
set -u
NERVE=${NERVE:-build/nerve}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nerve-qbad-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fails=$((fails + 1)); }

# expect CODE PATTERN ARGS...: nerve query ARGS exits CODE and stderr matches PATTERN
expect() {
  local code=$1 pat=$2; shift 2
  "$NERVE" query "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [ $rc = "$code" ] && grep -qE -- "$pat" "$tmp/err"; then ok "exit $code, /$pat/: $*"
  else bad "expected exit $code and /$pat/ for: $*; got $rc: $(head -c 400 "$tmp/err")"; fi
}

cfg() { # NAME HIDDEN DYNAMICS
  cat > "$tmp/$1.cfg" <<EOF
experiment = "$1";
seed = 2;
data: { spheres: { dim = 6; points_per_class = 100; }; };
models: { hidden = $2; bottleneck_width = 2; linear_baseline = false; };
train: { epochs = 2; batch_size = 32; };
snapshots: { epochs = [2]; layers = ["logits"]; };
$3
EOF
  "$NERVE" train "$tmp/$1.cfg" --out "$tmp/$1" >"$tmp/$1.log" 2>&1 || { echo "FAIL: training $1"; cat "$tmp/$1.log"; exit 1; }
}
cfg full "[16, 12]" 'dynamics: { enabled = true; samples: { every = 1; }; factors: { every = 1; }; };'
cfg nofactors "[16, 12]" 'dynamics: { enabled = true; };'
cfg gaps "[16, 12]" 'dynamics: { enabled = true; factors: { every = 2; }; };'
cfg plain "[16, 12]" ''
cfg full2 "[16, 12]" 'dynamics: { enabled = true; factors: { every = 1; }; };'
cfg narrow "[16, 8]" 'dynamics: { enabled = true; factors: { every = 1; }; };'
R=$tmp/full

snapshot() { (cd "$tmp" && find full full2 nofactors gaps plain narrow -type f -printf '%p %s %T@\n' | sort && \
              find full full2 nofactors gaps plain narrow -type f -exec md5sum {} + | sort -k2); }
snapshot > "$tmp/before"

# SQL errors: SQLite's own message
expect 2 'SQL error: near "SELEC": syntax error' "$R" "SELEC 1"
expect 2 'SQL error: no such column: nope' "$R" "SELECT nope FROM steps"
expect 2 'SQL error: no such table: nope' "$R" "SELECT * FROM nope"
# statements that would write, and ATTACH
expect 2 'would write' "$R" "CREATE TABLE x(a)"
expect 2 'would write' "$R" "INSERT INTO runs(run) VALUES ('x')"
expect 2 'would write' "$R" "SELECT 1; DELETE FROM metrics"
expect 2 'would write' "$R" "VACUUM INTO '$tmp/copy.db'"
[ ! -e "$tmp/copy.db" ] && ok "VACUUM INTO wrote no file" || bad "VACUUM INTO wrote $tmp/copy.db"
expect 2 'ATTACH and DETACH are refused' "$R" "ATTACH DATABASE '$tmp/other.db' AS o"
[ ! -e "$tmp/other.db" ] && ok "ATTACH created no file" || bad "ATTACH created $tmp/other.db"
expect 2 'ATTACH and DETACH are refused' "$R" "SELECT * FROM runs; ATTACH '$tmp/other2.db' AS p"
[ ! -e "$tmp/other2.db" ] && ok "ATTACH after a statement created no file" || bad "ATTACH created $tmp/other2.db"
# a run without the tier a question reads
expect 2 "no factors tier.*dynamics: \{ enabled = true; factors: \{ every = 1; \} \}" "$tmp/nofactors" --preset top-samples --epoch 1
expect 2 "no factors tier" "$tmp/nofactors" "SELECT COUNT(*) FROM contributions"
expect 2 "no samples tier.*samples: \{ every = 1; \}" "$tmp/nofactors" "SELECT * FROM samples"
expect 2 "no factors tier" "$tmp/nofactors" --preset weight-to-zero --layer hidden1 --weight 0,0
expect 2 "no dynamics record.*dynamics.enabled = true" "$tmp/plain" --preset pre-explosion
expect 2 "no run of this query has a dynamics record" "$tmp/plain" "SELECT * FROM steps"
expect 2 "the weights after step 1 cannot be rebuilt.*dynamics.factors.every = 1" "$tmp/gaps" --preset weight-to-zero --layer hidden1 --weight 0,0
expect 2 "cannot be rebuilt" "$tmp/gaps" "$tmp/full" --preset compare-runs --step 3
# indices, layers, models, epochs, steps out of range
expect 2 "--weight 99,0: layer hidden2 of model 'expressive' has rows 0..11 and columns 0..16" "$R" --preset top-samples --epoch 1 --layer hidden2 --weight 99,0
# the preset's SQL refuses what the preset refuses (rather than answering with no rows)
expect 2 "--weight 99,0: layer hidden2 of model 'expressive' has rows 0..11" "$R" --preset top-samples --epoch 1 --layer hidden2 --weight 99,0 --sql
expect 2 "--weight 0,99: layer hidden2" "$R" --preset weight-to-zero --layer hidden2 --weight 0,99 --show-sql
expect 2 "--epoch 3: model 'expressive' of .* trained epochs 1..2" "$R" --preset top-samples --epoch 3 --sql
expect 2 "--weight 0,17" "$R" --preset weight-to-zero --layer hidden2 --weight 0,17
expect 2 "--layer hidden9: not a layer of model 'expressive' \(layers: hidden1, hidden2, logits\)" "$R" --preset top-samples --epoch 1 --layer hidden9
expect 2 "--epoch 3: model 'expressive' of .* trained epochs 1..2" "$R" --preset top-samples --epoch 3
expect 2 "needs --epoch" "$R" --preset top-samples
expect 2 "--model nope: not recorded in .* \(recorded: bottleneck, expressive\)" "$R" --preset pre-explosion --model nope
expect 2 "--step 999: the records reach step 10" "$R" "$tmp/full2" --preset compare-runs --step 999
expect 2 "weight-to-zero needs --layer L and --weight r,c" "$R" --preset weight-to-zero
# presets
expect 2 "--preset nope: unknown preset \(presets: top-samples, weight-groups, compare-runs, pre-explosion, weight-to-zero\)" "$R" --preset nope
expect 2 "compare-runs needs two runs" "$R" --preset compare-runs
expect 2 "different architectures: model 'expressive' of .* is 6-16-12-2 relu, of .* 6-16-8-2 relu" "$R" "$tmp/narrow" --preset compare-runs
# the command line
expect 2 "not a run directory" "$tmp/nope" "SELECT 1"
expect 2 "named twice" "$R" "$R" "SELECT 1"
expect 2 "expected RUN" "SELECT 1"
expect 2 "--format xml: expected table, csv or json" "$R" "SELECT 1" --format xml
expect 2 "--weight abc: expected ROW,COL" "$R" --preset top-samples --epoch 1 --weight abc
expect 2 "option -k: 0 is out of range" "$R" --preset top-samples --epoch 1 -k 0
expect 2 "--by up: expected abs, pos or neg" "$R" --preset top-samples --epoch 1 --by up
expect 2 "--show-sql and --sql go with --preset" "$R" --show-sql
# and what works still works on the same runs
"$NERVE" query "$R" "SELECT COUNT(*) AS n FROM steps" --format csv > "$tmp/out" 2>&1 && grep -q '^20$' "$tmp/out" \
  && ok "a good query after the bad ones" || bad "a good query: $(cat "$tmp/out")"

snapshot > "$tmp/after"
if cmp -s "$tmp/before" "$tmp/after"; then ok "queries never wrote to a run (every file's bytes, size and time unchanged)"
else bad "a run changed:"; diff "$tmp/before" "$tmp/after" | head; fi
echo "$fails failure(s)"
[ $fails = 0 ]
