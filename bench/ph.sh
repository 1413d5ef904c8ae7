#!/usr/bin/env bash
# bench/ph.sh: `nerve ph` against Debian's ripser 1.2.1, side by side in one run.
#
#   bash bench/ph.sh [--runs N] [--only NAME] [--out FILE]
#
# For each case (clouds from bench/ph/gen_clouds.py, fixed seeds) the three programs
# run in alternating order N times (default 3): ripser, nerve --threads 1, nerve
# --threads 2. Wall time and peak RSS come from /usr/bin/time; the table reports
# medians and ratios to ripser, and whether nerve printed the very bytes ripser did
# (every run is checked). NERVE is the binary (default build/nerve). The CUDA part
# of a CUDA build is a separate library loaded only when a GPU is used, so either
# build measures the engine alone (before that change the CUDA build paid about
# 0.25 s and 220 MB of RSS at start, hence the CPU-only build in older tables).
# Not part of `make test`: a full run takes 10-20 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
NERVE=${NERVE:-build/nerve}
RIPSER=${RIPSER:-$(command -v ripser || true)}
runs=3; only=""; out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: bench/ph.sh [--runs N] [--only NAME] [--out FILE]" >&2; exit 2 ;;
  esac
done
[ -x "$NERVE" ] || { echo "bench/ph.sh: no nerve binary at $NERVE (make first, or set NERVE=)" >&2; exit 1; }
[ -n "$RIPSER" ] || { echo "SKIP: ripser (Debian package) not installed"; exit 77; }
[ -x /usr/bin/time ] || { echo "bench/ph.sh: needs /usr/bin/time (Debian package 'time')" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 bench/ph/gen_clouds.py "$tmp"

# name | cloud file | arguments (both programs)
cases=(
  "sphere2_400|sphere2_400.txt|--dim 2"
  "torus_600|torus_600.txt|--dim 2"
  "r8_1000_d1|r8_1000.txt|--dim 1"
  "r8_2000_d1|r8_2000.txt|--dim 1"
  "r8_1000_d2|r8_1000.txt|--dim 2"
  "o3_1024_d3|o3_1024.txt|--dim 3 --threshold 1.8"
)

# measure TAG OUTFILE CMD...: appends "TAG wall_s rss_kb cpu_s" to $tmp/times (cpu =
# user + sys: on a shared machine the one figure the neighbours cannot inflate)
measure() {
  local tag=$1 outf=$2; shift 2
  /usr/bin/time -f "%e %M %U %S" -o "$tmp/t" "$@" >"$outf"
  echo "$tag $(cat "$tmp/t")" >>"$tmp/times"
}

echo "# nerve ph benchmark: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# nerve: $NERVE; ripser: $RIPSER; runs: $runs"
: >"$tmp/times"; : >"$tmp/same"
for r in $(seq 1 "$runs"); do
  for c in "${cases[@]}"; do
    IFS='|' read -r name file args <<<"$c"
    [ -n "$only" ] && [[ "$name" != *"$only"* ]] && continue
    # alternate who goes first, so neither always meets a warm or a cold machine
    order=(ripser t1 t2); [ $((r % 2)) = 0 ] && order=(t2 t1 ripser)
    for who in "${order[@]}"; do
      # shellcheck disable=SC2086
      case $who in
        ripser) measure "$name ripser" "$tmp/r.out" "$RIPSER" --format point-cloud $args "$tmp/$file" ;;
        t1) measure "$name t1" "$tmp/n1.out" env PATH=/nonexistent "$NERVE" ph --format point-cloud --threads 1 $args "$tmp/$file" ;;
        t2) measure "$name t2" "$tmp/n2.out" env PATH=/nonexistent "$NERVE" ph --format point-cloud --threads 2 $args "$tmp/$file" ;;
      esac
    done
    if cmp -s "$tmp/r.out" "$tmp/n1.out" && cmp -s "$tmp/r.out" "$tmp/n2.out"; then echo "$name yes" >>"$tmp/same"
    else echo "$name NO" >>"$tmp/same"; fi
    echo "  run $r $name: $(grep "^$name " "$tmp/times" | tail -n 3 | awk '{printf "%s %ss %dMB cpu %.2fs  ", $2, $3, $4/1024, $5+$6}')" >&2
  done
done

/usr/bin/python3 - "$tmp/times" "$tmp/same" <<'EOF' | tee ${out:+"$out"}
import statistics, sys
times, same = {}, {}
for line in open(sys.argv[1]):
    name, who, wall, rss, user, sys_ = line.split()
    times.setdefault(name, {}).setdefault(who, []).append((float(wall), int(rss), float(user) + float(sys_)))
for line in open(sys.argv[2]):
    name, ok = line.split()
    same[name] = same.get(name, "yes") if ok == "yes" else "NO"
print("| case | ripser s | ripser cpu s | ripser MB | nerve 1t s | ratio | 1t cpu s | ratio | 1t MB | ratio "
      "| nerve 2t s | ratio | 2t MB | ratio | same output |")
print("|---|" + "---|" * 14)
for name, d in times.items():
    med = {w: tuple(statistics.median(x[i] for x in v) for i in range(3)) for w, v in d.items()}
    rs, rm, rc = med["ripser"]
    rm /= 1024
    row = [name, "%.2f" % rs, "%.2f" % rc, "%.1f" % rm]
    s, m, c = med["t1"]
    row += ["%.2f" % s, "%.2f" % (s / rs), "%.2f" % c, "%.2f" % (c / rc), "%.1f" % (m / 1024), "%.2f" % (m / 1024 / rm)]
    s, m, c = med["t2"]
    row += ["%.2f" % s, "%.2f" % (s / rs), "%.1f" % (m / 1024), "%.2f" % (m / 1024 / rm)]
    row.append(same.get(name, "?"))
    print("| " + " | ".join(row) + " |")
EOF
echo "# load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
