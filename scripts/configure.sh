#!/usr/bin/env bash
# configure.sh OUT: detect the toolchain and libraries and write them as make
# variables to OUT (build/config.mk), which the Makefile includes.
#
# Runs scripts/deps.sh first, so a fresh Debian machine gets its packages (as root)
# before anything is probed. Every value written here can be overridden on the make
# command line (HDF5_DIR=, BLAS_DIR=, CUDA_HOME=, CUDA=0), which is how the build
# works without root on a cluster.
set -u
out=$1
here=$(cd "$(dirname "$0")" && pwd)

NERVE_CPPFLAGS=""
[ -n "${HDF5_DIR:-}" ] && NERVE_CPPFLAGS="$NERVE_CPPFLAGS -I$HDF5_DIR/include"
[ -n "${BLAS_DIR:-}" ] && NERVE_CPPFLAGS="$NERVE_CPPFLAGS -I$BLAS_DIR/include"
export NERVE_CPPFLAGS
bash "$here/deps.sh" || exit 1

# pkg-config's answer, or nothing when it fails (it can print a blank line then).
pc() { local v; v=$(pkg-config "$@" 2>/dev/null) || return 1; echo "$v"; }
# -I for the first directory on the compiler's path (CPATH, then /usr/include) that
# holds SUBDIR/HEADER, else -I/usr/include/SUBDIR: where pkg-config cannot answer,
# as on the GPU machine, whose unpacked .devdeps lack the .pc files of cairo's
# dependencies.
inc_dir() {
  local d IFS=:
  for d in ${CPATH:-} /usr/include; do
    [ -n "$d" ] && [ -e "$d/$1/$2" ] && { echo "-I$d/$1"; return; }
  done
  echo "-I/usr/include/$1"
}

hdf5_cflags=$(pc --cflags hdf5 || pc --cflags hdf5-serial || inc_dir hdf5/serial hdf5.h)
hdf5_libs=$(pc --libs hdf5 || pc --libs hdf5-serial || echo "-L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5")
sqlite_cflags=$(pc --cflags sqlite3 || echo "")
sqlite_libs=$(pc --libs sqlite3 || echo "-lsqlite3")
blas_cflags=$(pc --cflags openblas || inc_dir x86_64-linux-gnu/openblas-pthread cblas.h)
blas_libs=$(pc --libs openblas || echo "-lopenblas")
cairo_cflags=$(pc --cflags cairo || inc_dir cairo cairo.h)
cairo_libs=$(pc --libs cairo || echo "-lcairo")
mhd_cflags=$(pc --cflags libmicrohttpd || echo "")
mhd_libs=$(pc --libs libmicrohttpd || echo "-lmicrohttpd")

cuda_home=${CUDA_HOME:-/usr/local/cuda}
nvcc=""
if [ -x "$cuda_home/bin/nvcc" ]; then nvcc="$cuda_home/bin/nvcc";
elif command -v nvcc >/dev/null 2>&1; then nvcc=$(command -v nvcc); cuda_home=$(dirname "$(dirname "$nvcc")"); fi
cuda_ver=""
[ -n "$nvcc" ] && cuda_ver=$("$nvcc" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')
hdf5_ver=$(echo '#include <H5public.h>
H5_VERS_INFO' | ${CC:-cc} $hdf5_cflags ${HDF5_DIR:+-I$HDF5_DIR/include} -E -x c - 2>/dev/null | tail -1 | sed 's/"//g;s/HDF5 library version: //')

tmp=$(mktemp "$out.XXXX")
cat > "$tmp" <<EOF
# written by scripts/configure.sh; delete it (or make distclean) to detect again
NV_HDF5_CFLAGS := $hdf5_cflags
NV_HDF5_LIBS := $hdf5_libs
NV_HDF5_VERSION := $hdf5_ver
NV_SQLITE_CFLAGS := $sqlite_cflags
NV_SQLITE_LIBS := $sqlite_libs
NV_BLAS_CFLAGS := $blas_cflags
NV_BLAS_LIBS := $blas_libs
NV_CAIRO_CFLAGS := $cairo_cflags
NV_CAIRO_LIBS := $cairo_libs
NV_MHD_CFLAGS := $mhd_cflags
NV_MHD_LIBS := $mhd_libs
NV_NVCC := $nvcc
NV_CUDA_HOME := $cuda_home
NV_CUDA_VERSION := $cuda_ver
EOF
mv "$tmp" "$out"
