#!/usr/bin/env bash
# dynamics_overhead.sh: what the training-dynamics recorder costs (docs/dynamics.md),
# side by side with plain training in one run (docs/CONTRACTS.md, "Benchmarks"): for
# each case the same config trains with the recorder on and off, alternating (the
# order flips every round), RUNS times each; reported are the medians of wall time,
# the median of the paired ratios (with / without, each pair back to back), the
# store's bytes, and for the bandwidth-bound cases the store's effective write rate
# (bytes / wall time with the recorder) against this machine's sequential write
# speed, measured in the same run with dd (conv=fdatasync, the same file system,
# the same number of bytes) before and after the cases.
#
# Cases (targets from issue 15):
#   sn     steps + neurons every step            <= 1.10x   spheres, fashion
#   sf     samples + factors every step          <= 1.5x    fashion; spheres: >= 70% of
#                                                           the write speed (f32 and f16)
#   all16  every tier every 16th step             <= 1.05x   spheres, fashion
# The spheres experiment is the default one (12-64-64-64-2, 12-3-64-64-2 and the
# linear baseline, 60 epochs); the Fashion-MNIST one trains 784-256-128-10 and its
# bottleneck 784-2-128-10 (no linear baseline) for 5 epochs on 10000 images. Both
# keep snapshots to the logits of the last epoch, so the recorder is what differs.
#
#   bash bench/dynamics_overhead.sh [RUNS=3] [CASES="sn sf all16"] [DATA="spheres fashion"]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
CASES=${2:-"sn sf all16"}
DATA=${3:-"spheres fashion"}
NERVE=${NERVE:-${BUILD:-build}/nerve}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nerve-dynbench-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(getconf _NPROCESSORS_ONLN) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "# file system of the runs: $(df -h "$tmp" | awk 'NR==2{print $1", "$2" total, "$4" free"}')"
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# the default experiment as it is, snapshots cut to the logits of the last epoch
awk '/^snapshots: \{/{skip=1} skip&&/^\};/{skip=0; print "snapshots: { epochs = [60]; layers = [\"logits\"]; };"; next} !skip' \
  experiments/spheres.cfg > "$tmp/spheres.cfg"
cat > "$tmp/fashion.cfg" <<'EOF'
experiment = "bench_fashion";
data: { source = "fashion-mnist"; fashion_mnist: { limit = 10000; test_limit = 2000; }; };
models: { hidden = [256, 128]; bottleneck_layer = 1; bottleneck_width = 2; linear_baseline = false; };
train: { epochs = 5; batch_size = 64; optimizer = "adam"; lr = 0.001; threads = 1; };
snapshots: { epochs = [5]; layers = ["logits"]; };
EOF

# the recorder's settings per case (dynamics.* overrides; "off" = plain training)
setting() {
  case $1 in
    off)   echo 'dynamics: { enabled = false; };' ;;
    sn)    echo 'dynamics: { enabled = true; steps: { every = 1; }; neurons: { every = 1; }; samples: { enabled = false; }; factors: { enabled = false; }; weights: { enabled = false; }; };' ;;
    sf)    echo 'dynamics: { enabled = true; steps: { enabled = false; }; neurons: { enabled = false; }; samples: { every = 1; }; factors: { every = 1; }; weights: { enabled = false; }; };' ;;
    sf16)  echo 'dynamics: { enabled = true; steps: { enabled = false; }; neurons: { enabled = false; }; samples: { every = 1; }; factors: { every = 1; precision = "f16"; }; weights: { enabled = false; }; };' ;;
    all16) echo 'dynamics: { enabled = true; steps: { every = 16; }; neurons: { every = 16; }; samples: { every = 16; }; factors: { every = 16; }; weights: { every = 16; }; };' ;;
  esac
}

# one DATA SETTING: prints "wall cpu bytes"
one() {
  rm -rf "$tmp/run"
  /usr/bin/time -f "%e %U %S" -o "$tmp/time" "$NERVE" train "$tmp/$1.cfg" --out "$tmp/run" --set "$(setting "$2")" \
    >/dev/null 2>"$tmp/err" || { echo "run failed: $1 $2: $(tail -3 "$tmp/err")" >&2; exit 1; }
  local bytes=0
  [ -d "$tmp/run/dynamics" ] && bytes=$(du -sb "$tmp/run/dynamics" | cut -f1)
  awk -v b="$bytes" '{printf "%.2f %.2f %d\n", $1, $2 + $3, b}' "$tmp/time"
}

dd_rate() { # MB: writes that much with fdatasync, prints MB/s
  local out
  out=$(dd if=/dev/zero of="$tmp/dd" bs=1M count="$1" conv=fdatasync 2>&1 | tail -1)
  rm -f "$tmp/dd"
  echo "$out" | awk '{for(i=1;i<=NF;i++) if ($i ~ /^s,$/) t=$(i-1); print ($1/1e6)/t}'
}

: > "$tmp/all"
for data in $DATA; do
  for c in $CASES; do
    settings=$c
    [ "$c" = sf ] && [ "$data" = spheres ] && settings="sf sf16"
    for s in $settings; do
      for r in $(seq "$RUNS"); do
        if [ $((r % 2)) = 1 ]; then
          echo "$data $s with $(one "$data" "$s")" >> "$tmp/all"; echo "$data $s without $(one "$data" off)" >> "$tmp/all"
        else
          echo "$data $s without $(one "$data" off)" >> "$tmp/all"; echo "$data $s with $(one "$data" "$s")" >> "$tmp/all"
        fi
      done
      # bytes per step of each tier, from one run's manifests (nerve info --json)
      one "$data" "$s" > /dev/null
      "$NERVE" info "$tmp/run" --json > "$tmp/info-$data-$s.json"
      grep "bytes per recorded step" "$tmp/err" | sed "s/^/# $data $s: /" >> "$tmp/notes" || true
    done
  done
done
cat "$tmp/all"

# the disk, in the same run: as many bytes as the largest store, before and after
maxmb=$(awk '$3=="with"{if ($6>m) m=$6} END{print int(m/1e6)+1}' "$tmp/all")
[ "$maxmb" -lt 256 ] && maxmb=256
dd1=$(dd_rate "$maxmb"); dd2=$(dd_rate "$maxmb")
ddm=$(printf '%s\n%s\n' "$dd1" "$dd2" | median)

echo
echo "| data | recorder | wall with (s) | wall without (s) | wall, median of paired ratios | CPU (user+sys), median of paired ratios | store | write rate | vs dd ($maxmb MB: $(printf '%.0f' "$ddm") MB/s) |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
for data in $DATA; do
  for s in $(awk -v d="$data" '$1==d{print $2}' "$tmp/all" | awk '!seen[$0]++'); do
    ww=$(awk -v d="$data" -v s="$s" '$1==d && $2==s && $3=="with"{print $4}' "$tmp/all" | median)
    wo=$(awk -v d="$data" -v s="$s" '$1==d && $2==s && $3=="without"{print $4}' "$tmp/all" | median)
    pr=$(awk -v d="$data" -v s="$s" '$1==d && $2==s && $3=="with"{w[++i]=$4} $1==d && $2==s && $3=="without"{o[++j]=$4} END{for(k=1;k<=i;k++) print w[k]/o[k]}' "$tmp/all" | median)
    cr=$(awk -v d="$data" -v s="$s" '$1==d && $2==s && $3=="with"{w[++i]=$5} $1==d && $2==s && $3=="without"{o[++j]=$5} END{for(k=1;k<=i;k++) print w[k]/o[k]}' "$tmp/all" | median)
    by=$(awk -v d="$data" -v s="$s" '$1==d && $2==s && $3=="with"{print $6}' "$tmp/all" | median)
    awk -v d="$data" -v s="$s" -v a="$ww" -v b="$wo" -v r="$pr" -v c="$cr" -v y="$by" -v dd="$ddm" 'BEGIN{
      rate = y / 1e6 / a;
      printf "| %s | %s | %.2f | %.2f | %.3fx | %.3fx | %.1f MB | %.0f MB/s | %.0f%% |\n", d, s, a, b, r, c, y/1e6, rate, 100*rate/dd}'
  done
done
echo
echo "dd (conv=fdatasync, $maxmb MB) before and after: $(printf '%.0f' "$dd1") and $(printf '%.0f' "$dd2") MB/s"
echo
echo "Bytes on disk per recorded step and per epoch, by tier (from the manifests; compression 0):"
for f in "$tmp"/info-*.json; do
  /usr/bin/python3 - "$f" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
name = sys.argv[1].rsplit("/", 1)[1][5:-5]
spe = None
for m, d in sorted(j.get("dynamics", {}).items()):
    models = j.get("models", {})
    for t, v in d["tiers"].items():
        steps, rows, b = v["steps"], v["rows"], v["bytes"]
        print(f"  {name:14s} {m:11s} {t:8s} {steps:6d} steps {b/steps:12.0f} B/step", end="")
        ep = j.get("epochs") or 1
        print(f" {b/ep:14.0f} B/epoch")
EOF
done
[ -f "$tmp/notes" ] && cat "$tmp/notes"
