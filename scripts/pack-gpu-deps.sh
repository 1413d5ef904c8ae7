#!/usr/bin/env bash
# pack-gpu-deps.sh: packs into .devdeps/ the Debian packages nerve builds against,
# for a GPU machine that has CUDA but no package registry (docs/DESIGN.md, "Tests").
# Run it here, on a machine with apt, in the project's root; carry .devdeps along
# and begin there with `source .devdeps/activate &&`. It adds to the shared packer's
# list (HDF5, OpenBLAS, LAPACKE, cmocka, ripser, h5dump) what nerve also links:
# libconfig, jansson, OpenSSL's libcrypto, libxxhash, and cairo with its runtime libraries.
set -euo pipefail
cd "$(dirname "$0")/.."
cairo_runtime=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
                  --no-breaks --no-replaces --no-enhances libcairo2 libconfig9 libjansson4 2>/dev/null |
                grep -E '^lib' | sort -u | grep -vE '^(libc6|libgcc-s1|libstdc\+\+6|libselinux1|libsystemd0|libudev1)$')
exec bash ../shared/device/pack-deps.sh libconfig-dev libjansson-dev libssl-dev libxxhash-dev libcairo2-dev pkg-config \
  libcairo2 libconfig9 libjansson4 libxxhash0 $cairo_runtime
