/* device.h: the device layer: where a computation runs (the CPU or a CUDA GPU), decided
 * by one rule in one place for every stage that has a GPU form (training, PCA,
 * feature images, the persistent homology stages, the kNN-graph distances).
 *
 * The CUDA code and the NVIDIA libraries it needs live in a plug-in,
 * libnerve_cuda.so, that nothing links: its entry points are looked up by name here
 * (nv_cuda_sym), only once a GPU has been found, so a run that never uses the GPU
 * never pays cuBLAS's start-up time and memory (~0.2 s, ~260 MB). Where it is
 * looked for: $NERVE_CUDA_LIB if set (only there), else next to the executable, else
 * <exe dir>/../lib (the installed layout), else the dynamic loader's search path.
 *
 * The rule (nv_device_select):
 *   cpu   the CPU.
 *   cuda  the GPU, or NV_ENODEVICE ("no usable GPU": none in this machine or this
 *         build) / NV_EDEVICE (one is there but cannot be used) naming the stage and
 *         the reason, so the user can choose cpu or auto.
 *   auto  the GPU when the stage says it is worth it (size rules) and one is usable;
 *         else the CPU, with one note (the same words for every stage) when a GPU
 *         would have been used but none is usable.
 * NV_EDEVICE is also what a GPU computation that fails returns (cuda/check.cuh).
 * Stages never test for CUDA with #ifdef: a CUDA=0 build has the same functions,
 * which answer "this build has no CUDA backend".
 */
#ifndef NERVE_DEVICE_H
#define NERVE_DEVICE_H

#include <stddef.h>

#include "nerve/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { NV_DEVICE_AUTO = 0, NV_DEVICE_CPU, NV_DEVICE_CUDA } nv_device_kind;

/* "auto", "cpu", "cuda"; and back (-1 when unknown). */
const char *nv_device_name(nv_device_kind d);
int nv_device_parse(const char *s);

/* Whether a GPU is usable by this process: NV_OK; NV_ENODEVICE when there is none
 * (a build without CUDA, no NVIDIA driver, no device); NV_EDEVICE when one is there
 * but cannot be used (the plug-in does not load, the driver is too old, the device
 * lacks the compute capability this build has code for). `why` (may be NULL) gets
 * the reason, or the device's name when usable. The first call decides for the
 * whole process (a GPU does not appear or vanish while nerve runs), and loads the
 * plug-in only when the driver reports a device. */
nv_status nv_cuda_status(char *why, size_t why_len);
/* nv_cuda_status(...) == NV_OK. */
int nv_cuda_usable(char *why, size_t why_len);

/* The address of `name` in the plug-in (or in the NVIDIA libraries it pulls in,
 * e.g. cudaRuntimeGetVersion), loading it on the first call; NULL with the reason
 * in `why` when it cannot be loaded or lacks the symbol. Always NULL in a CUDA=0
 * build. Stages use nv_device_select; this is for tools and tests. */
void *nv_cuda_sym(const char *name, char *why, size_t why_len);
/* 1 when the plug-in is loaded in this process (never loads it): for reporting the
 * versions of what was actually used. */
int nv_cuda_loaded(void);

/* The rule above, for the stage `what` (named in messages: "pca", "training", ...)
 * whose GPU form is the plug-in's function `symbol`. gpu_worth_it (AUTO only): 0
 * when the stage's own size rule says the CPU is better for this input; the choice
 * is then the CPU without a note. On NV_OK, *fn is the GPU entry point, or NULL for
 * the CPU; *note (may be NULL) gets the fallback note or NULL. The note is owned by
 * this module and lives for the whole process. */
nv_status nv_device_select(nv_device_kind want, const char *what, const char *symbol,
                           int gpu_worth_it, void **fn, const char **note, nv_error *err);

/* One GPU computation at a time per process. A GPU form allocates for its whole
 * input and synchronises the device; `nerve ph RUN` runs diagrams on several
 * threads, so GPU forms are called under this lock: device memory stays bounded by
 * one call's, while the threads' CPU work (the reductions) still overlaps. */
void nv_device_lock(void);
void nv_device_unlock(void);

#ifdef __cplusplus
}
#endif
#endif
