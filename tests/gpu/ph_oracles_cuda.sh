#!/usr/bin/env bash
# ph_oracles_cuda.sh: the CPU oracle suite of `nerve ph` (tests/integration/
# ph_ripser.py against Ripser, ph_gudhi.py against GUDHI over Z/2, Z/3, Z/5) with
# the GPU stages taking every input they can: a wrapper adds `--gpu-min-points 2`
# to each `nerve ph` call, so point-cloud distances and the column assembly of
# every dense input without a threshold run on the GPU (inputs with a threshold,
# sparse files and the graph metrics stay on the CPU, as AUTO decides). The oracles
# then check the barcodes exactly as they do for the CPU engine.
# STATUS: passes under the CUDA-on-CPU emulation (make test-cuda-cpu); not yet run
# on a GPU. Skips (77) where no CUDA device is usable.
set -u
cd "$(dirname "$0")/../.."
NERVE=${NERVE:-$PWD/build/nerve}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '0 0\n1 0\n0 1\n1 1\n' > "$tmp/square.txt"
why=$("$NERVE" ph --format point-cloud --device cuda "$tmp/square.txt" 2>&1 >/dev/null)
rc=$?
if [ "$rc" != 0 ]; then
  if [ "$rc" = 69 ]; then   # NV_ENODEVICE: this machine or build has no GPU
    echo "SKIP: no usable CUDA device for nerve ph --device cuda: ${why#nerve ph: }"
    exit 77
  fi
  # a GPU is there (or something else broke): that is a failure, not a skip
  echo "FAIL: nerve ph --device cuda on a 4-point square: ${why#nerve ph: }"
  exit 1
fi
# The oracles run nerve with PATH=/nonexistent (it must not find ripser), so the
# wrapper names its shell by absolute path.
cat > "$tmp/nerve" <<WRAP
#!$BASH
if [ "\${1:-}" = ph ]; then shift; exec "$NERVE" ph --gpu-min-points 2 "\$@"; fi
exec "$NERVE" "\$@"
WRAP
chmod +x "$tmp/nerve"
rc=0 skipped=0
for t in tests/integration/ph_ripser.py tests/integration/ph_gudhi.py; do
  echo "== $t with the GPU stages"
  NERVE="$tmp/nerve" /usr/bin/python3 "$t"
  case $? in
    0) ;;
    77) skipped=$((skipped + 1)) ;;   # the oracle itself (ripser, gudhi) is missing
    *) rc=1 ;;
  esac
done
if [ $rc = 0 ] && [ $skipped = 2 ]; then echo "SKIP: neither oracle (ripser, gudhi) is installed"; exit 77; fi
exit $rc
