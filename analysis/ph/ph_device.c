/* ph_device.c: where the column stage of persistent homology runs (include/nerve/
 * ph_stages.h): the CPU (the engine's own clique search, or the CPU references of
 * the stages for tests) or the CUDA stage, per call and by size, under the rule of
 * the device layer (include/nerve/device.h). The barcodes are the same either way,
 * so AUTO falls back to the CPU silently; an explicit CUDA request fails with the
 * reason.
 */
#include "nerve/ph_stages.h"

#include <math.h>
#include <stdatomic.h>

#include "nerve/device.h"

/* The CUDA stage's entry point, looked up once (any thread may ask; the symbol is
 * the same every time). */
static _Atomic(nv_ph_columns_fn) columns_cuda_fn;

/* The CUDA stage under the device lock (device.h: one GPU computation at a time). */
static nv_status columns_cuda_locked(const float *lower, int64_t n, float threshold, int d,
                                     const int64_t *cleared, int64_t ncleared, nv_ph_simplex **cols,
                                     int64_t *ncols, nv_ph_column_stats *stats, nv_error *err) {
    nv_device_lock();
    nv_status st = atomic_load(&columns_cuda_fn)(lower, n, threshold, d, cleared, ncleared, cols,
                                                 ncols, stats, err);
    nv_device_unlock();
    return st;
}

nv_status nv_ph_stages_select(const nv_ph_input *in, const nv_ph_params *p, nv_ph_stages *out,
                              int *use, nv_error *err) {
    *use = 0;
    out->device = NV_DEVICE_CPU;
    out->columns = NULL;
    if (p->max_dim < 1 || in->n < 2) return NV_OK; /* no columns to assemble */
    const int fits = in->kind == NV_PH_DENSE && !p->keep_long_edges && p->max_dim <= NV_PH_GPU_MAX_DIM;
    if (p->stages_reference) {
        if (fits) {
            out->columns = nv_ph_columns_cpu;
            *use = 1;
        }
        return NV_OK;
    }
    if (p->device == NV_DEVICE_CPU) return NV_OK;
    if (!fits) {
        if (p->device != NV_DEVICE_CUDA) return NV_OK;
        return nv_fail(err, NV_EINPUT,
                       "ph: device 'cuda' requested, but the GPU stages take a dense distance "
                       "matrix up to dimension %d (found %s input%s, dimension %d); use the CPU",
                       NV_PH_GPU_MAX_DIM, in->kind == NV_PH_DENSE ? "dense" : "sparse",
                       p->keep_long_edges ? " with long edges kept" : "", p->max_dim);
    }
    /* AUTO: the GPU enumerates every colex index, which pays off on a dense complex
     * (no threshold: the enclosing radius) of enough points */
    int64_t min_points = p->gpu_min_points > 0 ? p->gpu_min_points : NV_PH_GPU_MIN_POINTS;
    int worth = in->n >= min_points && isinf(p->threshold);
    void *gpu = NULL;
    nv_status st = nv_device_select(p->device, "ph", "nv_ph_columns_cuda", worth, &gpu, NULL, err);
    if (st != NV_OK || !gpu) return st;
    atomic_store(&columns_cuda_fn, (nv_ph_columns_fn)gpu);
    out->columns = columns_cuda_locked;
    out->device = NV_DEVICE_CUDA;
    *use = 1;
    return NV_OK;
}
