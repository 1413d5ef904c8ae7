#!/usr/bin/env bash
# ph_errors.sh: `nerve ph` refuses bad input with one message that names the file and
# the line (or offset), what was found and what was expected; exit status 2; and
# prints nothing on stdout (no partial output). Also: the memory refusal, run mode,
# and a few inputs that must work (duplicates, commas, comments, stdin).
set -u
NERVE=${NERVE:-build/nerve}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0; count=0

# expect_fail CODE PATTERN ARGS...: exit CODE, stderr matching PATTERN, empty stdout
expect_fail() {
  local code=$1 pat=$2; shift 2
  count=$((count + 1))
  env PATH=/nonexistent "$NERVE" ph "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [ "$rc" != "$code" ] || ! grep -Eq -- "$pat" "$tmp/err" || [ -s "$tmp/out" ]; then
    echo "FAIL: nerve ph $* -> exit $rc (want $code), stderr: $(head -c 300 "$tmp/err"), stdout bytes: $(wc -c <"$tmp/out")"
    echo "      wanted stderr matching: $pat"
    fail=$((fail + 1))
  else
    echo "ok   $* -> $(head -n1 "$tmp/err")"
  fi
}
expect_ok() {
  count=$((count + 1))
  if ! env PATH=/nonexistent "$NERVE" ph "$@" >"$tmp/out" 2>"$tmp/err"; then
    echo "FAIL: nerve ph $* should work: $(head -c 300 "$tmp/err")"; fail=$((fail + 1))
  else
    echo "ok   $* works"
  fi
}

printf '0 0\n1 0\n0 1 2\n' >"$tmp/ragged.txt"
expect_fail 2 "ragged.txt:3: found 3 coordinates: expected 2" --format point-cloud "$tmp/ragged.txt"
printf '0 0\n1 zero\n' >"$tmp/word.txt"
expect_fail 2 "word.txt:2: found 'zero': expected a number" --format point-cloud "$tmp/word.txt"
printf '0 0\n1 nan\n2 2\n' >"$tmp/nan.txt"
expect_fail 2 "nan.txt:2: found 'nan': expected a finite number" --format point-cloud "$tmp/nan.txt"
printf '0 0\ninf 1\n2 2\n' >"$tmp/inf.txt"
expect_fail 2 "inf.txt:2: found 'inf': expected a finite number" --format point-cloud "$tmp/inf.txt"
: >"$tmp/empty.txt"
expect_fail 2 "empty.txt: found no points: expected at least 2" --format point-cloud "$tmp/empty.txt"
expect_fail 2 "empty.txt: found no distances" --format lower-distance "$tmp/empty.txt"
printf '1 2 3\n' >"$tmp/one.txt"
expect_fail 2 "one.txt: found 1 point: expected at least 2" --format point-cloud "$tmp/one.txt"
printf '0 1 2\n1 0 3\n2.5 3 0\n' >"$tmp/asym.txt"
expect_fail 2 "asym.txt:1: entry \(0, 2\) is 2 but \(2, 0\) is 2.5: expected a symmetric" --format distance "$tmp/asym.txt"
printf '0 1 2\n1 0 -3\n2 -3 0\n' >"$tmp/neg.txt"
expect_fail 2 "neg.txt: distance \(2, 1\) is -3: expected a number >= 0" --format distance "$tmp/neg.txt"
printf '0 1\n1 0 4\n' >"$tmp/rag2.txt"
expect_fail 2 "rag2.txt:2: row 1 has 3 entries: expected 2" --format distance "$tmp/rag2.txt"
printf '1 0\n0 1\n' >"$tmp/diag.txt"
expect_fail 2 "diag.txt:1: diagonal entry \(0, 0\) is 1: expected 0" --format distance "$tmp/diag.txt"
printf '1\n2 3\n4 5\n' >"$tmp/tri.txt"
expect_fail 2 "tri.txt: found 5 distances: expected n\(n-1\)/2" --format lower-distance "$tmp/tri.txt"
printf '0 1 1.5\n1 2\n' >"$tmp/sp.txt"
expect_fail 2 "sp.txt:2: found 2 fields: expected 3" --format sparse "$tmp/sp.txt"
printf '0 1 1.5\n1 0 1.5\n' >"$tmp/sp2.txt"
expect_fail 2 "sp2.txt: the edge \(0, 1\) is given twice" --format sparse "$tmp/sp2.txt"
printf '0 1.5 1\n' >"$tmp/sp3.txt"
expect_fail 2 "sp3.txt:1: found vertices 0 and 1.5: expected integers" --format sparse "$tmp/sp3.txt"
printf 'abc' >"$tmp/bin.bin"
expect_fail 2 "bin.bin: found 3 bytes: expected a multiple of 4" --format binary "$tmp/bin.bin"
printf 'not a dipha file at all, no no no' >"$tmp/d.dipha"
expect_fail 2 "d.dipha: offset 0: found magic .*expected 8067171840" --format dipha "$tmp/d.dipha"
# Issue 21, found by fuzzing (tests/fuzz/regressions/): a sparse file whose one line
# names vertex 10^9 (Ripser's vertex count is the largest index + 1: a billion
# points allocated before any check), a DIPHA double beyond float's range (reached
# the engine as inf), a point cloud of separators only (no coordinates), a sparse
# file of diagonal entries only (was a qsort of NULL).
printf '1000000000 0 1\n' >"$tmp/far.txt"
expect_fail 2 "far.txt:1: vertex 1000000000: the file's 1 lines name at most 2 vertices" --format sparse "$tmp/far.txt"
/usr/bin/python3 -c "
import struct, sys
sys.stdout.buffer.write(struct.pack('<qqq', 8067171840, 7, 2) + struct.pack('<4d', 0, 1e300, 1e300, 0))" >"$tmp/big.dipha"
expect_fail 2 "big.dipha: offset 32: entry \(0, 1\) is 1e\+300: expected a finite number >= 0 within float's range" --format dipha "$tmp/big.dipha"
printf ' ,\n,\n' >"$tmp/commas.txt"
expect_fail 2 "commas.txt:1: found no coordinates" --format point-cloud "$tmp/commas.txt"
printf '1 1 0\n0 0 0\n' >"$tmp/diag-only.txt"
expect_ok --format sparse "$tmp/diag-only.txt"
printf '0 0\n1 0\n0 1\n' >"$tmp/ok.txt"
expect_fail 2 "option --modulus: found 4: expected a prime" --format point-cloud --modulus 4 "$tmp/ok.txt"
expect_fail 2 "option --format: found 'csv'" --format csv "$tmp/ok.txt"
expect_fail 2 "option --dim: expected an integer" --dim x "$tmp/ok.txt"
expect_fail 2 "unknown option '--bogus'" --bogus "$tmp/ok.txt"
expect_fail 2 "cannot open" --format point-cloud "$tmp/missing.txt"
# simplex indices beyond 64 bits: C(100, 32) > 2^63
/usr/bin/python3 -c "
for i in range(100): print(' '.join(str((i * 7 + k * 13) % 17) for k in range(3)))" >"$tmp/hundred.txt"
expect_fail 2 "need simplex indices beyond 64 bits.*lower --dim" --format point-cloud --dim 30 "$tmp/hundred.txt"
# the memory refusal says what to change
expect_fail 2 "refusing to start.*--threshold.*--dim.*--landmarks" --format point-cloud --dim 2 --memory-limit 1K "$tmp/hundred.txt"
# the refusal's parts add up to its total (to the rounding of each printed part)
"$NERVE" ph --format point-cloud --dim 2 --threads 2 --memory-limit 1K "$tmp/hundred.txt" 2>"$tmp/err"
count=$((count + 1))
if /usr/bin/python3 - "$tmp/err" <<'PY'
import re, sys
msg = open(sys.argv[1]).read()
U = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}
def b(v, u): return float(v) * U[u]
m = re.search(r"need about ([\d.]+) (\w+) = the distances ([\d.]+) (\w+) \+ .*? ([\d.]+) (\w+) \+ the working space of \d+ threads ([\d.]+) (\w+)", msg)
if not m: sys.exit("no breakdown in: " + msg)
g = m.groups()
total, parts = b(g[0], g[1]), [b(g[2], g[3]), b(g[4], g[5]), b(g[6], g[7])]
# each printed value is rounded to 0.1 of its unit
slack = sum(0.05 * U[u] for u in (g[1], g[3], g[5], g[7]))
sys.exit(0 if abs(sum(parts) - total) <= slack else "parts %s do not add up to %s" % (parts, total))
PY
then echo "ok   the memory refusal's parts add up"; else echo "FAIL: the memory refusal's parts do not add up: $(cat "$tmp/err")"; fail=$((fail + 1)); fi
# a directory is a run directory: handed to the run pipeline (cmd_ph_run.c), which
# refuses an empty one; the file reader never sees it
mkdir -p "$tmp/run"
count=$((count + 1))
env PATH=/nonexistent "$NERVE" ph "$tmp/run" >"$tmp/out" 2>"$tmp/err"; rc=$?
if [ "$rc" = 0 ] || grep -Eq "cannot open|found binary data|expected a number" "$tmp/err"; then
  echo "FAIL: nerve ph RUN_DIR -> exit $rc: $(head -c 300 "$tmp/err")"; fail=$((fail + 1))
else echo "ok   a directory goes to run mode -> $(head -n1 "$tmp/err")"; fi

# inputs that must work: duplicates, commas and comments, stdin, --output pairs
printf '0,0\n# a comment\n1,0\n1,0\n0,1\n' >"$tmp/dup.txt"
expect_ok --format point-cloud "$tmp/dup.txt"
count=$((count + 1))
if env PATH=/nonexistent "$NERVE" ph --format point-cloud <"$tmp/dup.txt" | grep -q "point cloud with 4 points in dimension 2"; then
  echo "ok   stdin"; else echo "FAIL: stdin"; fail=$((fail + 1)); fi
count=$((count + 1))
out=$(env PATH=/nonexistent "$NERVE" ph --format point-cloud --output pairs --simplices "$tmp/ok.txt" | grep -v '^#')
if [ "$(echo "$out" | head -n1)" != "0 0 1 0 0,2" ]; then
  echo "FAIL: --output pairs --simplices first line: '$(echo "$out" | head -n1)'"; fail=$((fail + 1))
else echo "ok   --output pairs --simplices"; fi

echo "$((count - fail)) passed, $fail failed"
[ "$fail" = 0 ]
