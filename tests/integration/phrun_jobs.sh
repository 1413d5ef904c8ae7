#!/usr/bin/env bash
# phrun_jobs.sh: `nerve ph RUN` as a pipeline stage: idempotent (a second run does no
# work and says so), resumable (a lost output is recomputed alone), split over a job
# array (--task 0/1 of 2, then --summarize-only, gives the same bytes as one run:
# h5diff -d 0 on every diagram file, cmp on the CSVs and calibration.json), and bad
# input refused with exit 2 and a message naming the problem.
# Exit 0 pass, 77 skip (`nerve ph RUN` not wired yet), 1 fail.
set -u
NERVE=${NERVE:-build/nerve}
ROOT=${NERVE_ROOT:-.}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$NERVE" train "$ROOT/experiments/spheres.cfg" --out "$tmp/a" --epochs 2 \
  --set 'data: { spheres: { points_per_class = 80; }; }; snapshots: { epochs = "all"; };' \
  > "$tmp/train.log" 2>&1 || fail "nerve train: $(tail -3 "$tmp/train.log")"
cp -r "$tmp/a" "$tmp/b"
cp -r "$tmp/a" "$tmp/bad"
args=(--landmarks 40 --threads 2)

out=$("$NERVE" ph "$tmp/a" "${args[@]}" 2>&1); rc=$?
if [[ "$out" == *"not supported"* ]]; then
  echo "SKIP phrun_jobs: this nerve does not hand run directories to \`nerve ph RUN\` yet"; exit 77
fi
[ $rc -eq 0 ] || fail "first run exited $rc: $out"
[[ "$out" == *"computed 9 diagram files"* ]] || fail "first run: expected 9 files computed: $out"
stamp=$(stat -c %Y.%y "$tmp"/a/analysis/ph/*/*.h5 "$tmp"/a/analysis/ph/*.csv | md5sum)

# idempotent: nothing recomputed, nothing rewritten
out=$("$NERVE" ph "$tmp/a" "${args[@]}" 2>&1) || fail "second run: $out"
[[ "$out" == *"nothing to do"* ]] || fail "second run should say it has nothing to do: $out"
[[ "$out" == *"summary up to date"* ]] || fail "second run should leave the summary: $out"
[ "$stamp" = "$(stat -c %Y.%y "$tmp"/a/analysis/ph/*/*.h5 "$tmp"/a/analysis/ph/*.csv | md5sum)" ] \
  || fail "second run rewrote files"
echo "idempotent: second run did no work"

# resumable: a lost file (as after a kill) is recomputed alone; a stale temporary
# file from a killed writer is ignored
rm "$tmp/a/analysis/ph/expressive/epoch_0001.h5"
touch "$tmp/a/analysis/ph/expressive/.epoch_0001.h5.tmp-999-0"
out=$("$NERVE" ph "$tmp/a" "${args[@]}" 2>&1) || fail "resume: $out"
[[ "$out" == *"computed 1 diagram files"* ]] || fail "resume should compute exactly 1 file: $out"
echo "resume: recomputed the one missing file"

# job array: two slices + summarize-only == one run
"$NERVE" ph "$tmp/b" "${args[@]}" --task 0 --tasks 2 > "$tmp/t0.log" 2>&1 || fail "task 0: $(cat "$tmp/t0.log")"
grep -q "summary of [0-9] of 9 files" "$tmp/t0.log" || fail "task 0 should summarise the files it has: $(cat "$tmp/t0.log")"
"$NERVE" ph "$tmp/b" "${args[@]}" --task 1 --tasks 2 > "$tmp/t1.log" 2>&1 || fail "task 1: $(cat "$tmp/t1.log")"
"$NERVE" ph "$tmp/b" "${args[@]}" --summarize-only > "$tmp/s.log" 2>&1 || fail "summarize-only: $(cat "$tmp/s.log")"
grep -q "summarised 9 of 9" "$tmp/s.log" || fail "summarize-only: $(cat "$tmp/s.log")"
n=0
for f in "$tmp"/a/analysis/ph/*/*.h5; do
  rel=${f#"$tmp/a/"}
  [ -f "$tmp/b/$rel" ] || fail "task split lacks $rel"
  h5diff -d 0 "$f" "$tmp/b/$rel" > "$tmp/h5diff.log" 2>&1 || fail "h5diff -d 0 $rel: $(head -5 "$tmp/h5diff.log")"
  n=$((n + 1))
done
for f in summary.csv distances.csv calibration.json; do
  cmp -s "$tmp/a/analysis/ph/$f" "$tmp/b/analysis/ph/$f" || fail "$f differs between one run and the task split"
done
[ -f "$tmp/b/analysis/figures/betti_chart.png" ] || fail "no chart after the job array"
echo "job array: $n diagram files identical (h5diff -d 0), CSVs and calibration identical"

# bad input: exit 2 and a message that names the problem
expect2() { # expect2 PATTERN ARGS...
  local pat=$1; shift
  local o; o=$("$NERVE" ph "$@" 2>&1); local r=$?
  [ $r -eq 2 ] || fail "nerve ph $*: exit $r, expected 2: $o"
  [[ "$o" == *$pat* ]] || fail "nerve ph $*: message should mention '$pat': $o"
}
mkdir -p "$tmp/empty"
expect2 "not a run directory" "$tmp/empty"
expect2 "hidden7" "$tmp/a" --layer hidden7
expect2 "--metric" "$tmp/a" --metric manhattan
expect2 "--splits" "$tmp/a" --splits train,val
/usr/bin/python3 -c "import h5py,sys; f=h5py.File(sys.argv[1],'r+'); f.attrs['format_version']=9" \
  "$tmp/bad/snapshots/linear/epoch_0002.h5" || fail "could not edit the snapshot's version"
expect2 "format_version 9" "$tmp/bad"
rm "$tmp/bad/snapshots/bottleneck/epoch_0001.h5"
expect2 "missing" "$tmp/bad"
[ ! -e "$tmp/bad/analysis/ph/expressive" ] || [ -z "$(ls "$tmp/bad/analysis/ph/expressive")" ] \
  || fail "bad input left diagram files"
echo "bad input: 6 cases refused with exit 2"
echo "PASS phrun_jobs"
