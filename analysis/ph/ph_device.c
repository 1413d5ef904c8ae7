/* ph_device.c: where persistent homology runs (include/nerve/ph_stages.h): the one place
 * that chooses between the CPU and the CUDA stages, per call and by size, and the
 * batch entry point nv_ph_compute_batch (ph.h) that places many small inputs.
 *
 * The CUDA stages live in libnerve_cuda.so and are looked up by name through
 * src/core/device.c only when a GPU is usable, as PCA does (analysis/geometry/pca.c), so a
 * CPU-only run never loads the NVIDIA libraries. Without a usable GPU, AUTO falls
 * back to the CPU silently (the barcodes are the same either way); an explicit
 * CUDA request fails with the reason.
 */
#include "nerve/ph_stages.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/cuda_loader.h"
#include "nerve/parallel.h"

/* One GPU stage at a time in a process: `nerve ph RUN` computes diagrams on several
 * threads, and each CUDA stage allocates for its whole input and synchronises the
 * device; serialising them bounds device memory to one call's while the threads'
 * CPU work (the reductions) still overlaps. */
static pthread_mutex_t gpu_lock = PTHREAD_MUTEX_INITIALIZER;
static nv_ph_columns_fn columns_cuda_fn;

static nv_status columns_cuda_locked(const float *lower, int64_t n, float threshold, int d,
                                     const int64_t *cleared, int64_t ncleared, nv_ph_simplex **cols,
                                     int64_t *ncols, nv_ph_column_stats *stats, nv_error *err) {
    pthread_mutex_lock(&gpu_lock);
    nv_status st = columns_cuda_fn(lower, n, threshold, d, cleared, ncleared, cols, ncols, stats, err);
    pthread_mutex_unlock(&gpu_lock);
    return st;
}

/* The CUDA function `name`, or NULL with the reason in why. */
static void *cuda_stage(const char *name, char *why, size_t why_len) {
    if (!nv_cuda_usable(why, why_len)) return NULL;
    return nv_cuda_sym(name, why, why_len);
}

/* The lower triangle of n points that a GPU stage fills (one float for n < 2, so
 * the pointer is never NULL), and its hand-over: to the caller when the stage
 * succeeded, else freed. */
static float *lower_new(int64_t n, nv_error *err) {
    return nv_malloc((size_t)(n > 1 ? n * (n - 1) / 2 : 1) * sizeof(float), err);
}

static nv_status lower_done(nv_status st, float *out, float **lower, nv_device_kind *used) {
    if (st) {
        free(out);
        return st;
    }
    *lower = out;
    if (used) *used = NV_DEVICE_CUDA;
    return NV_OK;
}

nv_status nv_ph_distances(const nv_real *x, int64_t n, int64_t d, nv_metric_kind kind,
                          nv_device_kind want, float **lower, nv_device_kind *used,
                          nv_error *err) {
    *lower = NULL;
    if (used) *used = NV_DEVICE_CPU;
    nv_status st = nv_metric_check_points(x, n, d, "ph distances", err);
    if (st) return st;
    if (n > 3037000499LL)
        return nv_fail(err, NV_ENOMEM, "ph distances: %lld points: the matrix does not fit in "
                                       "memory; use landmarks", (long long)n);
    if (kind != NV_METRIC_EUCLIDEAN && kind != NV_METRIC_COSINE)
        return nv_fail(err, NV_EINPUT, "ph distances: metric '%s': expected euclidean or cosine "
                                       "(the graph metrics take nv_distance_matrix)", nv_metric_name(kind));
    nv_status (*fn)(const nv_real *, int64_t, int64_t, nv_metric_kind, float *, nv_error *) = NULL;
    if (want != NV_DEVICE_CPU) {
        char why[512];
        fn = (nv_status(*)(const nv_real *, int64_t, int64_t, nv_metric_kind, float *,
                           nv_error *))cuda_stage("nv_ph_distances_cuda", why, sizeof why);
        if (!fn && want == NV_DEVICE_CUDA)
            return nv_fail(err, NV_EDEVICE, "ph distances: device 'cuda' requested but %s", why);
    }
    if (!fn) {
        /* the CPU: metric.c's threaded rows (what nv_ph_distances_cpu also returns,
         * the reference the GPU is tested against) */
        nv_metric_spec spec = {.kind = kind};
        return nv_distance_matrix(x, n, d, &spec, lower, err);
    }
    float *out = lower_new(n, err);
    if (!out) return NV_ENOMEM;
    pthread_mutex_lock(&gpu_lock);
    st = fn(x, n, d, kind, out, err);
    pthread_mutex_unlock(&gpu_lock);
    return lower_done(st, out, lower, used);
}

nv_status nv_ph_geodesic(const nv_knn_graph *g, int weighted, nv_device_kind want,
                         float **lower, nv_device_kind *used, nv_error *err) {
    *lower = NULL;
    if (used) *used = NV_DEVICE_CPU;
    /* AUTO: the CPU, until the GPU form has run and been measured on a GPU */
    if (want != NV_DEVICE_CUDA) return nv_metric_geodesic_lower(g, weighted, lower, err);
    char why[512];
    nv_status (*fn)(const nv_knn_graph *, int, float *, nv_error *) =
        (nv_status(*)(const nv_knn_graph *, int, float *, nv_error *))cuda_stage(
            "nv_ph_geodesic_cuda", why, sizeof why);
    if (!fn) return nv_fail(err, NV_EDEVICE, "graph distances: device 'cuda' requested but %s", why);
    const int64_t n = g->n;
    float *out = lower_new(n, err);
    if (!out) return NV_ENOMEM;
    pthread_mutex_lock(&gpu_lock);
    nv_status st = fn(g, weighted, out, err);
    pthread_mutex_unlock(&gpu_lock);
    return lower_done(st, out, lower, used);
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
    if (p->device == NV_DEVICE_AUTO && (in->n < min_points || !isinf(p->threshold))) return NV_OK;
    char why[512];
    void *f = cuda_stage("nv_ph_columns_cuda", why, sizeof why);
    if (!f) {
        if (p->device == NV_DEVICE_CUDA)
            return nv_fail(err, NV_EDEVICE, "ph: device 'cuda' requested but %s", why);
        return NV_OK;
    }
    pthread_mutex_lock(&gpu_lock); /* the same symbol every time, but from any thread */
    columns_cuda_fn = (nv_ph_columns_fn)f;
    pthread_mutex_unlock(&gpu_lock);
    out->columns = columns_cuda_locked;
    out->device = NV_DEVICE_CUDA;
    *use = 1;
    return NV_OK;
}

/* --- many inputs in one call --------------------------------------------------------- */

typedef struct {
    const nv_ph_input *in;
    nv_ph_params p;          /* one thread, CPU */
    nv_ph_result *out;
    const int64_t *which;    /* the small inputs' positions */
} batch_job;

static nv_status batch_one(int64_t i, void *ctx, nv_error *err) {
    batch_job *J = ctx;
    int64_t k = J->which[i];
    nv_status st = nv_ph_compute(&J->in[k], &J->p, &J->out[k], err);
    if (st) nv_error_prefix(err, "input %lld of the batch: ", (long long)k);
    return st;
}

nv_status nv_ph_compute_batch(const nv_ph_input *in, int64_t count, const nv_ph_params *p,
                              nv_ph_result *out, nv_error *err) {
    nv_status st = NV_OK;
    if (count < 0 || (count > 0 && (!in || !out)))
        return nv_fail(err, NV_EINPUT, "ph batch: %lld inputs: expected count >= 0 and arrays",
                       (long long)count);
    memset(out, 0, (size_t)count * sizeof *out);
    int64_t *small = nv_malloc((size_t)(count ? count : 1) * sizeof *small, err);
    if (!small) return NV_ENOMEM;
    int64_t nsmall = 0;
    /* Large inputs (those the GPU stages would take; with no GPU, those of at least
     * the size rule) run one at a time with every thread; the rest in parallel. */
    int64_t min_points = p->gpu_min_points > 0 ? p->gpu_min_points : NV_PH_BATCH_LARGE_POINTS;
    for (int64_t k = 0; k < count && !st; k++) {
        int large = p->device == NV_DEVICE_CUDA || in[k].n >= min_points;
        if (!large) {
            small[nsmall++] = k;
            continue;
        }
        st = nv_ph_compute(&in[k], p, &out[k], err);
        if (st) nv_error_prefix(err, "input %lld of the batch: ", (long long)k);
    }
    if (!st && nsmall) {
        batch_job J = {in, *p, out, small};
        J.p.threads = 1;
        if (J.p.device == NV_DEVICE_AUTO) J.p.device = NV_DEVICE_CPU;
        int threads = p->threads > 0 ? p->threads : nv_default_threads();
        st = nv_parallel_for(nsmall, threads, batch_one, &J, err);
    }
    free(small);
    if (st)
        for (int64_t k = 0; k < count; k++) nv_ph_result_free(&out[k]);
    return st;
}
