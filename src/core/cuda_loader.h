/* cuda_loader.h: the CUDA backend as a plug-in (internal; see device.c).
 *
 * With CUDA=1 the CUDA code (the .cu files in cuda/) and the NVIDIA libraries it needs (cuBLAS,
 * cuSOLVER, cuRAND, cudart) live in libnerve_cuda.so, which nothing links: the C
 * side looks its entry points up here, so a run that never uses the GPU never loads
 * them (they cost ~0.2 s and ~260 MB at process start). nv_cuda_usable (mlp.h) is
 * the probe; it loads the plug-in only when an NVIDIA driver with a device is there.
 */
#ifndef NERVE_CUDA_LOADER_H
#define NERVE_CUDA_LOADER_H

#include <stddef.h>

/* The address of `name` in libnerve_cuda.so (or in the NVIDIA libraries it pulls in,
 * e.g. cudaRuntimeGetVersion), loading the plug-in on the first call; NULL with the
 * reason in `why` when it cannot be loaded or lacks the symbol. Where it is looked
 * for: $NERVE_CUDA_LIB if set (only there), else next to the executable, else
 * <exe dir>/../lib (the installed layout), else the dynamic loader's search path
 * (LD_LIBRARY_PATH, the executable's RUNPATH, ...). In a CUDA=0 build: always NULL. */
void *nv_cuda_sym(const char *name, char *why, size_t why_len);

/* 1 when libnerve_cuda.so has already been loaded by this process (never loads it):
 * for reporting versions of what was actually used. */
int nv_cuda_loaded(void);

#endif
