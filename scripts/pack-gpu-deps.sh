#!/usr/bin/env bash
# pack-gpu-deps.sh: packs into .devdeps/ the Debian packages nerve builds and tests
# against, for a GPU machine that has the CUDA toolkit but no package registry
# (docs/DESIGN.md, "Tests"). Run it on a Debian 12 machine with apt, in the
# project's root; carry .devdeps along, and begin on the GPU machine with
#
#   source .devdeps/activate && bash scripts/gpu-check.sh "$OUT"
#
# activate unpacks the packages under /opt/devdeps (never over /) once and points
# the compiler, the linker, pkg-config and the loader at them. Extra package names
# on the command line are packed too. Check the result there with
# `ldd build/nerve | grep 'not found'`.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.devdeps/' .git/info/exclude 2>/dev/null || echo '/.devdeps/' >> .git/info/exclude
# What the build links (scripts/deps.sh), the GPU tests' cmocka, and the tools the
# GPU checks call (ripser, h5dump, h5diff).
want=(libhdf5-dev libhdf5-103-1 libhdf5-hl-100 libaec0 libsz2 libcurl4 libssl3 libssl-dev
      libopenblas-dev libopenblas-pthread-dev libopenblas0-pthread liblapacke liblapacke-dev
      libgfortran5 libquadmath0 libcmocka0 libcmocka-dev zlib1g-dev ripser hdf5-tools
      libconfig-dev libconfig9 libjansson-dev libjansson4 libxxhash-dev libxxhash0
      libcairo2-dev libcairo2 libsqlite3-dev libsqlite3-0 libmicrohttpd-dev libmicrohttpd12
      pkg-config "$@")
# The runtime libraries those pull in, except the base system's own (libc, libgcc,
# libstdc++, ...), which the GPU machine has, and the other BLAS variants.
runtime=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
            --no-replaces --no-enhances libhdf5-103-1 libcurl4 libopenblas0-pthread liblapacke \
            libcmocka0 libcairo2 libconfig9 libjansson4 libsqlite3-0 libmicrohttpd12 2>/dev/null |
          grep -E '^lib' | sort -u |
          grep -vE '^(libc6|libgcc-s1|libstdc\+\+6|libcrypt1|libselinux1|libzstd1|liblzma5|libsystemd0|libudev1|libcurl3-gnutls|libatlas3-base|libblis4-.*|libopenblas0-openmp|libopenblas0-serial|libblas3|liblapack3)$' || true)
rm -rf .devdeps && mkdir -p .devdeps/debs
(cd .devdeps/debs && apt-get download $(printf '%s\n' "${want[@]}" $runtime | sort -u) >/dev/null)
cat > .devdeps/activate <<'ACT'
# Sourced on the GPU machine: unpack once, then point the toolchain at /opt/devdeps.
_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ ! -e /opt/devdeps/.done ]; then
  mkdir -p /opt/devdeps
  for f in "$_here"/debs/*.deb; do dpkg -x "$f" /opt/devdeps; done
  touch /opt/devdeps/.done
fi
_p=/opt/devdeps/usr
_l=$_p/lib/x86_64-linux-gnu
export CPATH=$_p/include:$_p/include/hdf5/serial:$_p/include/x86_64-linux-gnu/openblas-pthread${CPATH:+:$CPATH}
export LIBRARY_PATH=$_l:$_l/hdf5/serial:$_l/openblas-pthread${LIBRARY_PATH:+:$LIBRARY_PATH}
export LD_LIBRARY_PATH=$LIBRARY_PATH${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PKG_CONFIG_PATH=$_l/pkgconfig:$_l/openblas-pthread/pkgconfig
export PKG_CONFIG_SYSROOT_DIR=/opt/devdeps
export PATH=$_p/bin:$PATH:/usr/local/cuda/bin
unset _here _p _l
ACT
echo "pack-gpu-deps: $(ls .devdeps/debs | wc -l) packages, $(du -sh .devdeps | cut -f1) in .devdeps/"
