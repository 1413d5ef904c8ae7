#!/usr/bin/env bash
# data_cli.sh: `nerve data` end to end. Same seed gives the same file under
# h5diff -d 0 (and the same bytes); bad input (malformed IDX and CSV, NaN, bad
# flags, a missing or read-only output directory) exits 2 with a message naming the
# place and leaves no file, and an earlier file of the same name survives intact.
set -u
: "${NERVE:?NERVE must point at the nerve binary}"
command -v h5diff >/dev/null || { echo "SKIP: h5diff not installed (hdf5-tools)"; exit 77; }
tmp=$(mktemp -d /tmp/nerve-data-cli-XXXXXX)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
cd "$tmp"
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }

# expect_input_error NAME OUTFILE NEEDLE CMD...: exit 2, NEEDLE in stderr, no OUTFILE
expect_input_error() {
  local name=$1 out=$2 needle=$3; shift 3
  "$@" >stdout.txt 2>stderr.txt
  local rc=$?
  if [ $rc != 2 ]; then bad "$name: exit $rc, expected 2 ($(cat stderr.txt))"; return; fi
  if ! grep -qF -- "$needle" stderr.txt; then bad "$name: message lacks '$needle': $(cat stderr.txt)"; return; fi
  if [ -n "$out" ] && [ -e "$out" ]; then bad "$name: left $out behind"; return; fi
  if ls -A "$(dirname "${out:-.}")" 2>/dev/null | grep -q '\.tmp-'; then bad "$name: left a temporary file"; return; fi
  ok "$name: $(head -n1 stderr.txt)"
}

# --- determinism -----------------------------------------------------------------
"$NERVE" data spheres --out a.h5 --points 500 --noise 0.02 --oversample 0.2 --seed 7 >log1.txt 2>&1 || bad "spheres run 1: $(cat log1.txt)"
"$NERVE" data spheres --out b.h5 --points 500 --noise 0.02 --oversample 0.2 --seed 7 >log2.txt 2>&1 || bad "spheres run 2: $(cat log2.txt)"
if h5diff -d 0 a.h5 b.h5 >/dev/null && cmp -s a.h5 b.h5; then ok "same seed: identical files (h5diff -d 0, cmp)"
else bad "same seed: files differ"; fi
"$NERVE" data spheres --out c.h5 --points 500 --noise 0.02 --oversample 0.2 --seed 8 >/dev/null 2>&1
if h5diff -d 0 a.h5 c.h5 >/dev/null 2>&1; then bad "different seed gave identical data"; else ok "different seed: data differ"; fi
grep -q "per class" log1.txt && grep -q "960 rows" log1.txt && ok "summary table printed" || bad "summary table: $(cat log1.txt)"
[ -z "$(ls -A | grep '\.tmp-')" ] && ok "no temporary files left" || bad "temporary files left: $(ls -A)"

# --- help ------------------------------------------------------------------------
"$NERVE" data --help | grep -q "fashion-mnist" && ok "--help" || bad "nerve data --help"
"$NERVE" data spheres --help | grep -q -- "--sphere-dim" && ok "spheres --help" || bad "spheres --help"

# --- bad input -------------------------------------------------------------------
expect_input_error "missing output dir" nodir/x.h5 "nodir" "$NERVE" data spheres --out nodir/x.h5
mkdir ro && chmod 555 ro
if [ "$(id -u)" = 0 ]; then
  # root writes into mode-555 directories anyway: run as nobody to get a real refusal
  if command -v setpriv >/dev/null && setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null \
     && setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$NERVE"; then
    chmod 711 "$tmp"
    expect_input_error "read-only output dir" ro/x.h5 "$tmp/ro: not writable" \
      setpriv --reuid=65534 --regid=65534 --clear-groups "$NERVE" data spheres --out "$tmp/ro/x.h5"
  else
    echo "note: running as root without setpriv: read-only directory check not possible here"
  fi
else
  expect_input_error "read-only output dir" ro/x.h5 "ro" "$NERVE" data spheres --out ro/x.h5
fi
expect_input_error "bad flag value" x.h5 "--dim" "$NERVE" data spheres --out x.h5 --dim zero
expect_input_error "unknown option" x.h5 "--colour" "$NERVE" data spheres --out x.h5 --colour red
expect_input_error "sphere-dim too big" x.h5 "sphere_dim" "$NERVE" data spheres --out x.h5 --dim 5 --sphere-dim 5
expect_input_error "unknown source" x.h5 "unknown source" "$NERVE" data pictures --out x.h5

printf 'f1,f2,label\n0.5,1.5,0\n1.0,nan,1\n' > nan.csv
expect_input_error "csv NaN" x.h5 "nan.csv:3: column 2" "$NERVE" data csv nan.csv --out x.h5
printf '0.5,1.5,0\n1.0,1\n' > ragged.csv
expect_input_error "csv ragged" x.h5 "ragged.csv:2" "$NERVE" data csv ragged.csv --out x.h5
: > empty.csv
expect_input_error "csv empty" x.h5 "empty" "$NERVE" data csv empty.csv --out x.h5

# a truncated IDX file, raw and gzip
python_idx() { /usr/bin/python3 - "$@" <<'EOF'
import gzip, struct, sys
n = 50
img = struct.pack('>IIII', 0x803, n, 4, 4) + bytes(range(16)) * n
lab = struct.pack('>II', 0x801, n) + bytes(i % 3 for i in range(n))
open('img.raw', 'wb').write(img)
open('lab.raw', 'wb').write(lab)
open('img_trunc.raw', 'wb').write(img[:-7])
open('img_trunc.gz', 'wb').write(gzip.compress(img[:100]))
open('img_badmagic.raw', 'wb').write(b'\x00\x00\x09\x03' + img[4:])
EOF
}
if python_idx; then
  "$NERVE" data idx --images img.raw --labels lab.raw --out idx.h5 --test-fraction 0.2 >/dev/null 2>&1 \
    && ok "idx raw loads" || bad "idx raw: $("$NERVE" data idx --images img.raw --labels lab.raw --out idx.h5 2>&1)"
  expect_input_error "idx truncated raw" x.h5 "offset 809" "$NERVE" data idx --images img_trunc.raw --labels lab.raw --out x.h5
  expect_input_error "idx truncated gzip" x.h5 "offset 100" "$NERVE" data idx --images img_trunc.gz --labels lab.raw --out x.h5
  expect_input_error "idx bad type" x.h5 "offset 2" "$NERVE" data idx --images img_badmagic.raw --labels lab.raw --out x.h5
  # a failed run leaves an existing file of the same name untouched
  cp idx.h5 keep.h5
  expect_input_error "idx failure keeps old file" "" "offset 809" "$NERVE" data idx --images img_trunc.raw --labels lab.raw --out idx.h5
  cmp -s idx.h5 keep.h5 && ok "earlier file intact" || bad "earlier file changed by a failed run"
else
  bad "could not write the IDX fixtures with /usr/bin/python3"
fi

echo "$fails failure(s)"
[ $fails = 0 ]
