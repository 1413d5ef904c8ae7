#!/usr/bin/env bash
# deps.sh: make sure the Debian packages nerve builds against (and, with --test,
# the reference tools its tests compare with) are present.
#
#   scripts/deps.sh          build dependencies
#   scripts/deps.sh --test   build + test dependencies (ripser, gudhi, torch, h5py, ...)
#   scripts/deps.sh --gpu    build + what the GPU tests' C programs need (cmocka): the
#                            GPU machine has no package registry, and its Python
#                            tests check their own imports
#   scripts/deps.sh --fuzz   build + what `make fuzz` needs: clang with libFuzzer and
#                            the sanitizer runtimes (Debian 12: clang-14 and
#                            libclang-rt-14-dev)
#   scripts/deps.sh --check  only report ("all found", or what is missing); never install
#   scripts/deps.sh --list   only print the Debian packages checked (with --test, --gpu)
#
# Each dependency is probed for directly (a header, a library, a binary, a Python
# module), so a machine that already has it by other means (a cluster module, the
# GPU machine's unpacked .devdeps, HDF5_DIR=...) is left alone and apt is never
# called. When something is missing: as root, apt-get installs it; otherwise the
# exact apt-get line is printed and the script fails.
set -u
want_test=0; want_gpu=0; want_fuzz=0; check_only=0; list_only=0
for a in "$@"; do
  case "$a" in
    --test) want_test=1 ;;
    --gpu) want_gpu=1 ;;
    --fuzz) want_fuzz=1 ;;
    --check) check_only=1 ;;
    --list) list_only=1 ;;
    *) echo "deps.sh: unknown option '$a' (expected --test, --gpu, --fuzz, --check or --list)" >&2; exit 2 ;;
  esac
done

missing=()
listed=()
# have_header PKG HEADER...: PKG is missing unless one of the headers is found on the
# compiler's search path (which honours CPATH and the *_DIR overrides via NERVE_CPPFLAGS).
have_header() {
  local pkg=$1; shift
  for h in "$@"; do
    if echo "#include <$h>" | ${CC:-cc} ${NERVE_CPPFLAGS:-} -E -x c - >/dev/null 2>&1; then return 0; fi
  done
  missing+=("$pkg")
}
have_bin() { command -v "$2" >/dev/null 2>&1 || missing+=("$1"); }
have_py() { /usr/bin/python3 -c "import $2" >/dev/null 2>&1 || missing+=("$1"); }
have_file() { [ -e "$2" ] || missing+=("$1"); }
# --list: every probe only names its package (README's lists are checked against it)
if [ $list_only = 1 ]; then
  have_header() { listed+=("$1"); }
  have_bin() { listed+=("$1"); }
  have_py() { listed+=("$1"); }
  have_file() { listed+=("$1"); }
fi

HDF5_INC="-I/usr/include/hdf5/serial"
OB_INC="-I/usr/include/x86_64-linux-gnu/openblas-pthread"
NERVE_CPPFLAGS="${NERVE_CPPFLAGS:-} $HDF5_INC $OB_INC"

if [ $list_only = 1 ]; then listed+=(pkg-config); else
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config); fi
have_header libhdf5-dev hdf5.h
# OpenBLAS itself, not any cblas.h: a new Debian machine has the reference BLAS
# headers (libblas-dev), which lack openblas_set_num_threads.
have_header libopenblas-dev openblas_config.h
have_header liblapacke-dev lapacke.h
have_header libconfig-dev libconfig.h
have_header libjansson-dev jansson.h
have_header libsqlite3-dev sqlite3.h   # nerve query's SQL engine
have_header libxxhash-dev xxhash.h   # XXH3-128 of the stored datasets (hashes.json)
have_header libssl-dev openssl/evp.h  # SHA-256: verifying hashes.json of format_version 1
have_header zlib1g-dev zlib.h
have_header libcairo2-dev cairo/cairo.h cairo.h
have_header libmicrohttpd-dev microhttpd.h   # nerve serve's HTTP server
have_bin hdf5-tools h5dump
if [ $list_only = 1 ] && { [ $want_test = 1 ] || [ $want_gpu = 1 ]; }; then
  listed+=(libcmocka-dev)
elif [ $want_test = 1 ] || [ $want_gpu = 1 ]; then
  echo '#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>' | ${CC:-cc} ${NERVE_CPPFLAGS:-} -E -x c - >/dev/null 2>&1 || missing+=(libcmocka-dev)
fi
# make fuzz: a clang that links a libFuzzer target with ASan and UBSan. Probed by
# building one (a clang without libclang-rt-14-dev compiles but cannot link it).
if [ $want_fuzz = 1 ]; then
  fuzz_ok=0
  for c in clang-14 clang; do
    command -v "$c" >/dev/null 2>&1 || continue
    ftmp=$(mktemp -d)
    printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$ftmp/f.c"
    if "$c" -fsanitize=fuzzer,address,undefined "$ftmp/f.c" -o "$ftmp/f" >/dev/null 2>&1; then fuzz_ok=1; fi
    rm -rf "$ftmp"
    [ $fuzz_ok = 1 ] && break
  done
  [ $fuzz_ok = 1 ] || missing+=(clang-14 libclang-rt-14-dev)
fi
# Fashion-MNIST is data, not a build input: the tests need it, a build only offers it
# (installed with the rest where apt can, else a note; `nerve data fashion-mnist`
# names the package when it is missing). A GPU machine without a registry builds.
fashion=/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz
optional=()
if [ $want_test = 1 ]; then
  have_file dataset-fashion-mnist $fashion
else
  [ -e $fashion ] || optional+=(dataset-fashion-mnist)
fi
if [ $want_test = 1 ]; then
  have_bin ripser ripser
  have_py python3-numpy numpy
  have_py python3-h5py h5py
  have_py python3-torch torch
  have_py python3-gudhi gudhi
  have_py python3-sklearn sklearn
  have_py python3-scipy scipy
  have_py python3-pot ot              # gudhi.wasserstein needs POT
  have_py python3-xxhash xxhash       # an independent reader's hashes for hashes.json
  have_bin chromium chromium          # renders nerve report's page and drives nerve serve's in the tests
  have_bin slurm-wlm sbatch           # a private one-node Slurm for the sweep tests
  have_bin slurm-wlm slurmctld
  have_bin munge munged
fi
if [ $list_only = 1 ]; then
  [ $want_test = 1 ] || listed+=(dataset-fashion-mnist)
  printf '%s\n' "${listed[@]}" | awk 'NF && !seen[$0]++'
  exit 0
fi
# de-duplicate
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk 'NF && !seen[$0]++')

can_apt=1
if [ $check_only = 1 ] || [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then can_apt=0; fi
if [ ${#missing[@]} -eq 0 ]; then
  if [ $check_only = 1 ]; then
    what="build"; [ $want_test = 1 ] && what="build and test"; [ $want_gpu = 1 ] && what="$what and GPU-test"
    echo "nerve: all found ($what dependencies)"
    [ ${#optional[@]} -gt 0 ] && echo "nerve: note: ${optional[*]} is not installed (the Fashion-MNIST experiments need it)"
    exit 0
  fi
  if [ ${#optional[@]} -gt 0 ]; then
    if [ $can_apt = 1 ] && DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 &&
       DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${optional[@]}" >/tmp/nerve-apt.log 2>&1; then
      echo "nerve: installed ${optional[*]}"
    else
      echo "nerve: note: ${optional[*]} is not installed (the Fashion-MNIST experiments need it; as root: apt-get install -y ${optional[*]})" >&2
    fi
  fi
  exit 0
fi
[ $can_apt = 1 ] && missing+=("${optional[@]}")
line="apt-get install -y ${missing[*]}"
if [ $can_apt = 0 ]; then
  echo "nerve: missing dependencies: ${missing[*]}" >&2
  echo "nerve: install them with (as root):  $line" >&2
  echo "nerve: or point the build at your own copies: make HDF5_DIR=... BLAS_DIR=... (see README)" >&2
  exit 1
fi
echo "nerve: installing missing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# apt's package lists may be absent on a fresh machine; refresh once, quietly.
apt-get update -qq >/dev/null 2>&1 || { echo "nerve: apt-get update failed" >&2; exit 1; }
if ! apt-get install -y -qq "${missing[@]}" >/tmp/nerve-apt.log 2>&1; then
  tail -20 /tmp/nerve-apt.log >&2
  echo "nerve: '$line' failed (log: /tmp/nerve-apt.log)" >&2
  exit 1
fi
echo "nerve: dependencies installed"
