# nerve: build, test and demo.
#
#   make                 build build/nerve (CUDA backend too when nvcc is found)
#   make CUDA=0          CPU-only build
#   make demo            the paired spheres experiment end to end
#   make test            the test suite (CPU; no GPU needed)
#   make test-gpu        CUDA parity tests (skip with a clear line without a GPU)
#   make test-cuda-cpu   the same CUDA tests without a GPU: the CUDA sources built
#                        by chipStar's cucc and run on the CPU through PoCL (into
#                        build/cuda-cpu; CUDA_ON_CPU=/path names the toolchain that
#                        scripts/cuda-on-cpu.sh built, default /opt/cuda-on-cpu)
#   make test-long       slower checks (3-seed contrast, larger oracle sweeps)
#   make SANITIZE=1 test the suite under ASan + UBSan (build in build/san)
#   make fuzz            every fuzz target (tests/fuzz/) for FUZZ_SECONDS each (default
#                        20) with libFuzzer + ASan + UBSan (clang; build in build/fuzz)
#   make bench           benchmarks against the reference tools (docs/benchmarks.md)
#   make web             the viewer's front end (web/node_modules via npm ci; part of make)
#   make install PREFIX=$$HOME/.local
#
# Library locations can be overridden: HDF5_DIR=, BLAS_DIR=, CUDA_HOME= (each a
# prefix with include/ and lib/), which is how to build without root on a cluster.
# DEVLIB=vendor|own picks the device library of the CUDA plug-in
# (include/nerve/devlib.h): NVIDIA's cuBLAS/cuSOLVER/thrust (the default with nvcc)
# or the project's own kernels (the default, and the only choice, with cucc).

SHELL := /bin/bash
.DEFAULT_GOAL := all
PREFIX ?= /usr/local
SANITIZE ?= 0
# The CUDA-on-CPU build (CUDA_EMU=1, what make test-cuda-cpu runs): the .cu files
# compiled by chipStar's cucc to SPIR-V, which PoCL runs on the CPU's threads.
CUDA_ON_CPU ?= /opt/cuda-on-cpu
CUDA_EMU ?= 0
ifeq ($(CUDA_EMU),1)
BUILD ?= build/cuda-cpu
override CUDA := 1
DEVLIB ?= own
endif
DEVLIB ?= vendor
ifeq ($(SANITIZE),1)
BUILD ?= build/san
# ASan and the CUDA runtime do not mix well; sanitizer runs cover the CPU path and
# compute-sanitizer covers the GPU one (make test-gpu on a GPU machine).
CUDA ?= 0
else ifeq ($(SANITIZE),fuzz)
# The fuzz targets' build (make fuzz): the library with clang's coverage
# instrumentation for libFuzzer, ASan and UBSan; CPU only.
BUILD ?= build/fuzz
CUDA ?= 0
else
BUILD ?= build
endif

# --- detection (scripts/configure.sh installs missing packages first) --------
# (test-cuda-cpu alone configures only its own build directory, in the sub-make)
ifneq ($(filter-out clean distclean help test-cuda-cpu,$(MAKECMDGOALS))$(if $(MAKECMDGOALS),,all),)
include $(BUILD)/config.mk
endif
$(BUILD)/config.mk: scripts/configure.sh scripts/deps.sh
	@mkdir -p $(BUILD)
	@HDF5_DIR="$(HDF5_DIR)" BLAS_DIR="$(BLAS_DIR)" CUDA_HOME="$(CUDA_HOME)" bash scripts/configure.sh $@

ifneq ($(CUDA_HOME),)
NV_NVCC := $(wildcard $(CUDA_HOME)/bin/nvcc)
NV_CUDA_HOME := $(CUDA_HOME)
endif
ifeq ($(NV_NVCC),)
CUDA ?= 0
else
CUDA ?= 1
endif
ifneq ($(HDF5_DIR),)
NV_HDF5_CFLAGS := -I$(HDF5_DIR)/include
NV_HDF5_LIBS := -L$(HDF5_DIR)/lib -Wl,-rpath,$(HDF5_DIR)/lib -lhdf5
endif
ifneq ($(BLAS_DIR),)
NV_BLAS_CFLAGS := -I$(BLAS_DIR)/include
NV_BLAS_LIBS := -L$(BLAS_DIR)/lib -Wl,-rpath,$(BLAS_DIR)/lib -lopenblas
endif

# --- flags -------------------------------------------------------------------
# V=1 shows full compiler command lines.
ifeq ($(V),1)
Q :=
say = @true
else
Q := @
say = @echo "  $(1)  $(2)"
endif
CC ?= cc
OPT ?= -O2
# No -march=native and no -ffast-math: stored results must be the same bytes on
# every machine with the same CPU model, and fast-math reorders float sums.
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -Wshadow \
  -Wstrict-prototypes -Werror=implicit-function-declaration -fno-strict-aliasing -pthread
ifeq ($(SANITIZE),1)
CFLAGS_BASE += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1
LDSAN := -fsanitize=address,undefined
else ifeq ($(SANITIZE),fuzz)
CFLAGS_BASE += -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
  -fno-omit-frame-pointer -g -O1
LDSAN := -fsanitize=address,undefined
else
CFLAGS_BASE += $(OPT) -g
LDSAN :=
endif
CPPFLAGS_ALL := -Iinclude -Isrc $(NV_HDF5_CFLAGS) $(NV_BLAS_CFLAGS) $(NV_CAIRO_CFLAGS) $(NV_MHD_CFLAGS)
LIBS_ALL := $(NV_HDF5_LIBS) -llapacke $(NV_BLAS_LIBS) -lconfig -ljansson -lcrypto -lxxhash -lz $(NV_CAIRO_LIBS) $(NV_MHD_LIBS) -lm -lpthread -ldl
# nerve query's SQL engine (src/query/): SQLite, Debian's libsqlite3
CPPFLAGS_ALL += $(NV_SQLITE_CFLAGS)
LIBS_ALL += $(NV_SQLITE_LIBS)

ifeq ($(CUDA_EMU),1)
# chipStar's cucc takes nvcc's options; its runtime (libCHIP) replaces cudart, and
# the own device library solves eigenproblems with LAPACKE on the host.
CPPFLAGS_ALL += -DNERVE_CUDA=1 -DNERVE_CUDA_ON_CPU=1
NVCC := $(CUDA_ON_CPU)/chipstar/bin/cucc
# Contraction is clang's default for HIP (fast, honouring pragmas; clang 15 takes no
# flag for it): a*b+c fused into FMAs as nvcc fuses them, except in the explicitly
# rounded intrinsics (cuda/check.cuh). chipStar's headers mark cudaFree nodiscard and
# warn about their own mappings; teardown ignores cudaFree's status on purpose (see
# backend.cu).
NVCCFLAGS ?= -O2 -std=c++17 -Iinclude -Isrc -fPIC -Wall -Wno-unused-result \
  -Wno-deprecated-declarations -Wno-\#warnings -DNERVE_CUDA=1 -DNERVE_CUDA_ON_CPU=1
NV_CUDA_LIBS := -L$(CUDA_ON_CPU)/chipstar/lib -Wl,-rpath,$(CUDA_ON_CPU)/chipstar/lib -lCHIP \
  -llapacke -lstdc++ -lm
NV_CUDA_SO := $(BUILD)/libnerve_cuda.so
NV_LINK_LIB = -rdynamic -Wl,--whole-archive $(LIBNERVE) -Wl,--no-whole-archive
NV_TEST_RPATH = -Wl,-rpath,$(abspath $(BUILD))
else ifeq ($(CUDA),1)
CPPFLAGS_ALL += -DNERVE_CUDA=1 -I$(NV_CUDA_HOME)/include
NVCC := $(NV_NVCC)
NVCCFLAGS ?= -O3 -std=c++17 -Iinclude -Isrc \
  -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90 \
  -Xcompiler -fPIC,-Wall -DNERVE_CUDA=1
# The CUDA code and the NVIDIA libraries it needs go into a plug-in, libnerve_cuda.so,
# that the programs load on demand (src/core/device.c): cuBLAS and friends cost
# ~0.2 s and ~260 MB at start-up, which a run that never uses the GPU must not pay.
# The programs export libnerve's symbols (-rdynamic, whole archive) for the plug-in
# to call back into (nv_fail, the CPU references, ...).
NV_CUDA_LIBS := -L$(NV_CUDA_HOME)/lib64 -Wl,-rpath,$(NV_CUDA_HOME)/lib64 \
  $(if $(filter vendor,$(DEVLIB)),-lcusolver -lcublas -lcurand,-llapacke) -lcudart -lstdc++ -lm
NV_CUDA_SO := $(BUILD)/libnerve_cuda.so
NV_LINK_LIB = -rdynamic -Wl,--whole-archive $(LIBNERVE) -Wl,--no-whole-archive
# Test and benchmark programs live below $(BUILD): let the loader's last resort (the
# plain name) find the plug-in there.
NV_TEST_RPATH = -Wl,-rpath,$(abspath $(BUILD))
else
NV_LINK_LIB = $(LIBNERVE)
NV_TEST_RPATH :=
endif

# --- sources -----------------------------------------------------------------
# The library: everything except the command-line layer (src/cli/).
LIB_SRC := $(sort $(shell find src analysis datasets -name '*.c' -not -path 'src/cli/*'))
CLI_SRC := $(sort $(wildcard src/cli/*.c))
# Every .cu file but the device library's implementations, then the one DEVLIB names.
ifeq ($(filter vendor own,$(DEVLIB)),)
$(error DEVLIB=$(DEVLIB): expected vendor or own)
endif
ifeq ($(CUDA_EMU)$(DEVLIB),1vendor)
$(error DEVLIB=vendor: the CUDA-on-CPU build has no cuBLAS, cuSOLVER or thrust; use DEVLIB=own)
endif
CU_SRC := $(if $(filter 1,$(CUDA)),$(sort $(filter-out cuda/devlib_%.cu,$(wildcard cuda/*.cu)) cuda/devlib_$(DEVLIB).cu))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CU_OBJ := $(CU_SRC:%.cu=$(BUILD)/obj/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
GPU_SRC := $(sort $(wildcard tests/gpu/test_*.c))
GPU_BIN := $(if $(filter 1,$(CUDA)),$(GPU_SRC:tests/gpu/%.c=$(BUILD)/tests/gpu/%))
TOOL_SRC := $(sort $(wildcard tests/tools/*.c))
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tests/tools/%)
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
# Each fuzz target also links with tests/fuzz/replay.c's main in every build, so
# `make test` replays the committed corpus and regressions without clang.
REPLAY_BIN := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=$(BUILD)/tests/fuzz/replay_%)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/targets/%)
BENCH_SRC := $(sort $(wildcard bench/*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

NERVE := $(BUILD)/nerve
# The fault tests' LD_PRELOAD shim (tests/fault/failwrite.c): never sanitized, so it
# preloads into any build (ASan's link-order check is switched off in the tests).
FAULT_SO := $(BUILD)/tests/fault/failwrite.so
LIBNERVE := $(BUILD)/libnerve.a

.PHONY: all demo demo-fashion test test-gpu test-cuda-cpu test-long bench install clean distclean help info web \
  fuzz fuzz-build
all: info $(NERVE) $(NV_CUDA_SO) web

# nerve serve's page: d3 and uPlot (and puppeteer-core for the tests) from the pinned
# web/package-lock.json; never fails the build (scripts/web.sh says what is missing).
web:
	@bash scripts/web.sh

info:
	@echo "nerve build: CUDA=$(if $(filter 1,$(CUDA_EMU)),on the CPU (cucc at $(NVCC); SPIR-V for PoCL),$(if $(filter 1,$(CUDA)),yes (nvcc $(NV_CUDA_VERSION) at $(NVCC); sm_90 + PTX),no$(if $(NV_NVCC), (disabled by CUDA=0), (nvcc not found))))$(if $(filter 1,$(CUDA)),  DEVLIB=$(DEVLIB))  HDF5=$(NV_HDF5_VERSION)  BLAS=$(NV_BLAS_LIBS)  SANITIZE=$(SANITIZE)  -> $(BUILD)/"

$(BUILD)/obj/%.o: %.c $(BUILD)/config.mk
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(CFLAGS_BASE) $(CFLAGS) $(CPPFLAGS_ALL) $(CPPFLAGS) -MMD -MP -c $< -o $@

# No warp votes in any kernel: under the CUDA-on-CPU toolchain they are silently
# wrong (see make test-cuda-cpu), so the build refuses them (comments aside).
NV_WARP_VOTES := __ballot|__all_sync|__any_sync|__all\(|__any\(|__activemask|__match_any_sync|__match_all_sync
$(BUILD)/obj/%.o: %.cu $(BUILD)/config.mk
	@mkdir -p $(dir $@)
	$(call say,$(if $(filter 1,$(CUDA_EMU)),CUCC,NVCC),$<)
	$(Q)if perl -0777 -pe 's{/\*.*?\*/}{}gs; s{//[^\n]*}{}g' $< | grep -nE '$(NV_WARP_VOTES)'; then \
	  echo "$<: warp vote (silently wrong under the CUDA-on-CPU toolchain; use shared memory and atomics)" >&2; exit 1; fi
	$(Q)$(NVCC) $(NVCCFLAGS) -MMD -MP -c $< -o $@

$(LIBNERVE): $(LIB_OBJ)
	@rm -f $@
	$(call say,AR,$@)
	$(Q)ar rcs $@ $^

$(NERVE): $(CLI_OBJ) $(LIBNERVE)
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS_BASE) $(LDSAN) $(CLI_OBJ) $(NV_LINK_LIB) $(LIBS_ALL) $(LDFLAGS) -o $@

$(NV_CUDA_SO): $(CU_OBJ)
	$(call say,LD,$@)
	$(Q)$(CC) -shared -Wl,-soname,libnerve_cuda.so $^ $(NV_CUDA_LIBS) $(LDFLAGS) -o $@

$(BUILD)/tests/%: tests/unit/%.c $(LIBNERVE) $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS_BASE) $(CFLAGS) $(CPPFLAGS_ALL) -Itests/unit $< $(NV_LINK_LIB) -lcmocka $(LIBS_ALL) $(NV_TEST_RPATH) $(LDSAN) -o $@

# Small drivers that tests and benchmarks run (for example a training trace for the
# PyTorch comparison); not tests themselves.
$(BUILD)/tests/tools/%: tests/tools/%.c $(LIBNERVE)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS_BASE) $(CFLAGS) $(CPPFLAGS_ALL) $< $(NV_LINK_LIB) $(LIBS_ALL) $(NV_TEST_RPATH) $(LDSAN) -o $@

$(FAULT_SO): tests/fault/failwrite.c
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -O2 -fPIC -shared $< -ldl -o $@

# Fuzz targets, replayed: the corpus and regressions run by `make test`.
$(BUILD)/tests/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(LIBNERVE) $(wildcard tests/fuzz/*.h)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS_BASE) $(CFLAGS) $(CPPFLAGS_ALL) -Itests/fuzz $< tests/fuzz/replay.c $(NV_LINK_LIB) $(LIBS_ALL) $(NV_TEST_RPATH) $(LDSAN) -o $@

# Fuzz targets with libFuzzer's main (SANITIZE=fuzz, clang only).
$(BUILD)/targets/%: tests/fuzz/%.c $(LIBNERVE) $(wildcard tests/fuzz/*.h)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS_BASE) $(CFLAGS) $(CPPFLAGS_ALL) -Itests/fuzz $< -fsanitize=fuzzer $(NV_LINK_LIB) $(LIBS_ALL) $(LDSAN) -o $@

# libhdf5 alone (no nerve code), with the targets' sanitizers: tests/fuzz/run.sh
# replays each input that failed an HDF5 target on it to tell libhdf5's defects
# from ours (tests/fuzz/upstream/h5walk.c).
H5WALK := $(BUILD)/tools/h5walk
$(H5WALK): tests/fuzz/upstream/h5walk.c $(BUILD)/config.mk
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) -std=c11 -Wall -Wextra -fsanitize=address,undefined -fno-sanitize-recover=all \
	  -fno-omit-frame-pointer -g -O1 $(NV_HDF5_CFLAGS) $< $(NV_HDF5_LIBS) -o $@

# The GPU tests call the kernels directly, so they link the plug-in itself.
$(BUILD)/tests/gpu/%: tests/gpu/%.c $(LIBNERVE) $(NV_CUDA_SO) $(wildcard tests/unit/*.h tests/gpu/*.h)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS_BASE) $(CFLAGS) $(CPPFLAGS_ALL) -Itests/unit $< $(NV_LINK_LIB) $(NV_CUDA_SO) -lcmocka $(LIBS_ALL) $(NV_TEST_RPATH) $(LDSAN) -o $@

$(BUILD)/bench/%: bench/%.c $(LIBNERVE)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS_BASE) $(CFLAGS) $(CPPFLAGS_ALL) $< $(NV_LINK_LIB) $(LIBS_ALL) $(NV_TEST_RPATH) $(LDSAN) -o $@

# The git commit recorded in run.json: a stamp rewritten only when it changes, so
# run.c is recompiled exactly when the commit does.
NV_GIT_DESC := $(shell git describe --always --dirty --abbrev=12 2>/dev/null || echo unknown)
$(BUILD)/git-commit: FORCE
	@mkdir -p $(BUILD); echo '$(NV_GIT_DESC)' | cmp -s - $@ || echo '$(NV_GIT_DESC)' > $@
$(BUILD)/obj/src/train/run.o: $(BUILD)/git-commit
$(BUILD)/obj/src/train/run.o: CPPFLAGS += -DNERVE_GIT_COMMIT='"$(NV_GIT_DESC)"'
.PHONY: FORCE
FORCE:

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# --- running -----------------------------------------------------------------
demo: all
	bash experiments/demo.sh $(NERVE)

demo-fashion: all
	bash experiments/demo.sh $(NERVE) experiments/fashion.cfg

$(BUILD)/.test-deps: scripts/deps.sh
	@mkdir -p $(BUILD)
	@bash scripts/deps.sh --test
	@touch $@
# The GPU tests' programs need only cmocka: the GPU machine has no package registry,
# so it must not wait on the CPU suite's reference tools (gudhi, chromium, Slurm).
$(BUILD)/.gpu-deps: scripts/deps.sh
	@mkdir -p $(BUILD)
	@bash scripts/deps.sh --gpu
	@touch $@
# Test programs need cmocka (and the tests the reference tools): install those first.
# The tools and benchmark programs link only what nerve links.
$(UNIT_BIN): | $(BUILD)/.test-deps
$(GPU_BIN): | $(BUILD)/.gpu-deps

# T=pattern runs only the tests whose name contains the pattern.
test: all $(UNIT_BIN) $(TOOL_BIN) $(REPLAY_BIN) $(FAULT_SO) $(BUILD)/.test-deps
	@BUILD=$(BUILD) NERVE=$(abspath $(NERVE)) bash tests/run.sh unit integration $(if $(T),--only $(T))

test-long: all $(UNIT_BIN) $(TOOL_BIN) $(REPLAY_BIN) $(FAULT_SO) $(BUILD)/.test-deps
	@BUILD=$(BUILD) NERVE=$(abspath $(NERVE)) NERVE_LONG=1 bash tests/run.sh unit integration long $(if $(T),--only $(T))

test-gpu: all $(GPU_BIN) $(TOOL_BIN) $(BUILD)/.gpu-deps
ifeq ($(CUDA),1)
	@BUILD=$(BUILD) NERVE=$(abspath $(NERVE)) bash tests/run.sh gpu $(if $(T),--only $(T))
else
	@echo "SKIP test-gpu: this build has no CUDA backend (nvcc not found or CUDA=0); 0 passed, 0 failed"
endif

# The GPU suite without a GPU: a sub-make builds everything into build/cuda-cpu with
# the CUDA-on-CPU toolchain and runs make test-gpu there, in the toolchain's
# environment (scripts/cuda-on-cpu.sh writes it to env.sh). Every test runs at the
# size it has on a GPU.
test-cuda-cpu:
	@if [ ! -x "$(CUDA_ON_CPU)/chipstar/bin/cucc" ] || [ ! -f "$(CUDA_ON_CPU)/env.sh" ]; then \
	  echo "SKIP test-cuda-cpu: no CUDA-on-CPU toolchain at $(CUDA_ON_CPU) (bash scripts/cuda-on-cpu.sh SRC builds it)"; \
	  exit 0; fi; \
	source "$(CUDA_ON_CPU)/env.sh" && \
	$(MAKE) --no-print-directory CUDA_EMU=1 CUDA_ON_CPU="$(CUDA_ON_CPU)" BUILD=build/cuda-cpu $(if $(T),T=$(T)) test-gpu

# make fuzz [FUZZ_SECONDS=20] [FUZZ=pattern]: installs clang's fuzzer runtime where it
# is missing (scripts/deps.sh --fuzz), builds every target into build/fuzz, runs each
# for FUZZ_SECONDS (tests/fuzz/run.sh); a crash, hang, leak or out-of-memory fails it,
# and the input is saved under build/fuzz/crashes/<target>/.
FUZZ_SECONDS ?= 20
fuzz:
	@bash scripts/deps.sh --fuzz
	@$(MAKE) --no-print-directory SANITIZE=fuzz CC="$$(bash scripts/fuzz-cc.sh)" fuzz-build
	@bash tests/fuzz/run.sh build/fuzz $(FUZZ_SECONDS) $(if $(FUZZ),$(FUZZ))

fuzz-build: $(FUZZ_BIN) $(H5WALK)

bench: all $(BENCH_BIN) $(TOOL_BIN) $(BUILD)/.test-deps
	@BUILD=$(BUILD) NERVE=$(abspath $(NERVE)) bash bench/run.sh $(if $(B),$(B))

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/nerve
	install -m 755 $(NERVE) $(DESTDIR)$(PREFIX)/bin/nerve
	install -m 644 $(LIBNERVE) $(DESTDIR)$(PREFIX)/lib/libnerve.a
ifeq ($(CUDA),1)
	install -m 755 $(NV_CUDA_SO) $(DESTDIR)$(PREFIX)/lib/libnerve_cuda.so
endif
	install -m 644 include/nerve/*.h $(DESTDIR)$(PREFIX)/include/nerve/
	install -d $(DESTDIR)$(PREFIX)/share/nerve/web/js $(DESTDIR)$(PREFIX)/share/nerve/web/css $(DESTDIR)$(PREFIX)/share/nerve/web/img
	install -m 644 web/index.html $(DESTDIR)$(PREFIX)/share/nerve/web/
	install -m 644 web/js/*.js $(DESTDIR)$(PREFIX)/share/nerve/web/js/
	install -m 644 web/css/*.css $(DESTDIR)$(PREFIX)/share/nerve/web/css/
	install -m 644 web/img/* $(DESTDIR)$(PREFIX)/share/nerve/web/img/
	@if [ -f web/node_modules/d3/dist/d3.min.js ] && [ -f web/node_modules/uplot/dist/uPlot.iife.min.js ]; then \
	  install -d $(DESTDIR)$(PREFIX)/share/nerve/web/node_modules/d3/dist $(DESTDIR)$(PREFIX)/share/nerve/web/node_modules/uplot/dist; \
	  install -m 644 web/node_modules/d3/dist/d3.min.js $(DESTDIR)$(PREFIX)/share/nerve/web/node_modules/d3/dist/; \
	  install -m 644 web/node_modules/uplot/dist/uPlot.iife.min.js web/node_modules/uplot/dist/uPlot.min.css \
	    $(DESTDIR)$(PREFIX)/share/nerve/web/node_modules/uplot/dist/; \
	else echo "note: the viewer's front end is not installed (make web); nerve serve will say so"; fi

clean:
	rm -rf build
distclean: clean

help:
	@sed -n '1,/^$$/p' Makefile | sed 's/^# \{0,1\}//'
