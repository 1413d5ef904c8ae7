/* kernels.cu: the CUDA twins of the CPU reference kernels in src/train/kernels.c, with
 * the contracts written in include/nerve/kernels.h, and their host-callable
 * wrappers (device pointers in, a launch on the given stream, NV_EDEVICE with
 * file:line on failure). cuda/backend.cu launches them; tests/gpu/ compares each
 * with its reference.
 *
 * Determinism: no atomics anywhere. Column sums give one thread per column looping
 * over rows in order (the CPU order, so the same bits); the loss sum is one block
 * with a fixed tree; everything else is elementwise.
 *
 * The arithmetic mirrors the references operation by operation. nvcc contracts a*b+c
 * into fma by default, which rounds once instead of twice; the differences that
 * leaves are what the parity tolerances cover.
 */
#include <math.h>
#include <stdint.h>

#include "check.cuh"
#include "nerve/kernels.h"
#include "nerve/rng.h"

#define NV_THREADS 256

/* Enough blocks to cover n with grid-stride loops, capped where more only add
 * scheduling overhead. */
static unsigned nv_blocks(int64_t n) {
    int64_t b = (n + NV_THREADS - 1) / NV_THREADS;
    if (b < 1) b = 1;
    if (b > 65535) b = 65535;
    return (unsigned)b;
}

#define GRID_STRIDE(i, n) \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

static cudaStream_t as_stream(void *s) { return (cudaStream_t)s; }

/* --- bias ------------------------------------------------------------------- */

__global__ void k_bias_add(float *z, const float *bias, int64_t rows, int64_t cols) {
    GRID_STRIDE(i, rows * cols) z[i] += bias[i % cols];
}

/* One thread per column, rows in order: adjacent threads read adjacent columns
 * (coalesced) and the sum order is the CPU reference's. */
__global__ void k_bias_grad(float *db, const float *dz, int64_t rows, int64_t cols) {
    GRID_STRIDE(c, cols) {
        float s = 0.0f;
        for (int64_t r = 0; r < rows; r++) s += dz[r * cols + c];
        db[c] = s;
    }
}

extern "C" nv_status nv_cuda_bias_add(nv_real *z, const nv_real *bias, int64_t rows, int64_t cols,
                                      void *stream, nv_error *err) {
    if (rows * cols == 0) return NV_OK;
    k_bias_add<<<nv_blocks(rows * cols), NV_THREADS, 0, as_stream(stream)>>>(z, bias, rows, cols);
    NV_LAUNCHED();
    return NV_OK;
}

extern "C" nv_status nv_cuda_bias_grad(nv_real *db, const nv_real *dz, int64_t rows, int64_t cols,
                                       void *stream, nv_error *err) {
    if (cols == 0) return NV_OK;
    k_bias_grad<<<nv_blocks(cols), NV_THREADS, 0, as_stream(stream)>>>(db, dz, rows, cols);
    NV_LAUNCHED();
    return NV_OK;
}

/* --- activations -------------------------------------------------------------- */

__global__ void k_act_forward(int act, float slope, const float *x, float *y, int64_t n) {
    GRID_STRIDE(i, n) {
        float v = x[i];
        switch (act) {
        case NV_ACT_RELU: y[i] = v <= 0.0f ? 0.0f : v; break; /* NaN passes, as PyTorch */
        case NV_ACT_LEAKY_RELU: y[i] = v > 0.0f ? v : v * slope; break;
        case NV_ACT_TANH: y[i] = tanhf(v); break;
        case NV_ACT_SIGMOID: y[i] = 1.0f / (1.0f + expf(-v)); break;
        default: y[i] = v; break;
        }
    }
}

__global__ void k_act_backward(int act, float slope, const float *x, const float *y,
                               const float *dy, float *dx, int64_t n) {
    GRID_STRIDE(i, n) {
        float g = dy[i];
        switch (act) {
        case NV_ACT_RELU: dx[i] = y[i] <= 0.0f ? 0.0f : g; break;
        case NV_ACT_LEAKY_RELU: dx[i] = x[i] > 0.0f ? g : g * slope; break;
        case NV_ACT_TANH: dx[i] = g * (1.0f - y[i] * y[i]); break;
        case NV_ACT_SIGMOID: dx[i] = g * (1.0f - y[i]) * y[i]; break;
        default: dx[i] = g; break;
        }
    }
}

extern "C" nv_status nv_cuda_act_forward(nv_activation act, float slope, const nv_real *x,
                                         nv_real *y, int64_t n, void *stream, nv_error *err) {
    if (n == 0) return NV_OK;
    k_act_forward<<<nv_blocks(n), NV_THREADS, 0, as_stream(stream)>>>((int)act, slope, x, y, n);
    NV_LAUNCHED();
    return NV_OK;
}

extern "C" nv_status nv_cuda_act_backward(nv_activation act, float slope, const nv_real *x,
                                          const nv_real *y, const nv_real *dy, nv_real *dx,
                                          int64_t n, void *stream, nv_error *err) {
    if (n == 0) return NV_OK;
    k_act_backward<<<nv_blocks(n), NV_THREADS, 0, as_stream(stream)>>>((int)act, slope, x, y, dy,
                                                                       dx, n);
    NV_LAUNCHED();
    return NV_OK;
}

/* --- softmax cross-entropy ------------------------------------------------------ */

/* One thread per row, classes in order, as the reference: the class counts of this
 * project (2 to a few hundred) make a row a short loop, and the per-row order is
 * then the CPU's. */
__global__ void k_softmax_xent(const float *logits, const int32_t *y, int64_t rows,
                               int64_t classes, float scale, float *row_loss, int32_t *row_correct,
                               float *dz) {
    GRID_STRIDE(r, rows) {
        const float *z = logits + r * classes;
        int64_t arg = 0;
        float m = z[0];
        for (int64_t c = 1; c < classes; c++)
            if (z[c] > m) { m = z[c]; arg = c; }
        float s = 0.0f;
        for (int64_t c = 0; c < classes; c++) s += expf(z[c] - m);
        float lse = logf(s);
        int32_t label = y[r];
        row_loss[r] = -((z[label] - m) - lse);
        if (row_correct) row_correct[r] = (arg == label);
        if (dz) {
            float *d = dz + r * classes;
            float inv = 1.0f / s;
            for (int64_t c = 0; c < classes; c++) {
                float p = expf(z[c] - m) * inv;
                d[c] = scale * (p - (c == label ? 1.0f : 0.0f));
            }
        }
    }
}

extern "C" nv_status nv_cuda_softmax_xent(const nv_real *logits, const int32_t *y, int64_t rows,
                                          int64_t classes, float scale, nv_real *row_loss,
                                          int32_t *row_correct, nv_real *dz, void *stream,
                                          nv_error *err) {
    if (rows == 0) return NV_OK;
    k_softmax_xent<<<nv_blocks(rows), NV_THREADS, 0, as_stream(stream)>>>(
        logits, y, rows, classes, scale, row_loss, row_correct, dz);
    NV_LAUNCHED();
    return NV_OK;
}

#define NV_REDUCE_THREADS 512

/* One block: thread t sums elements t, t+T, t+2T, ... in double, then a fixed
 * shared-memory tree; the same bits on every run (no atomics). */
__global__ void k_reduce_loss(const float *v, const int32_t *flags, int64_t n, double *sum,
                              long long *count, int *bad, int mark) {
    __shared__ double ss[NV_REDUCE_THREADS];
    __shared__ long long sc[NV_REDUCE_THREADS];
    double s = 0.0;
    long long c = 0;
    for (int64_t i = threadIdx.x; i < n; i += NV_REDUCE_THREADS) {
        s += (double)v[i];
        if (flags) c += (flags[i] != 0);
    }
    ss[threadIdx.x] = s;
    sc[threadIdx.x] = c;
    __syncthreads();
    for (int h = NV_REDUCE_THREADS / 2; h > 0; h >>= 1) {
        if ((int)threadIdx.x < h) {
            ss[threadIdx.x] += ss[threadIdx.x + h];
            sc[threadIdx.x] += sc[threadIdx.x + h];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        *sum = ss[0];
        if (count && flags) *count = sc[0];
        if (bad && !isfinite(ss[0]) && *bad == 0) *bad = mark;
    }
}

extern "C" nv_status nv_cuda_reduce_loss(const nv_real *v, const int32_t *flags, int64_t n,
                                         double *sum, long long *count, int *bad, int mark,
                                         void *stream, nv_error *err) {
    k_reduce_loss<<<1, NV_REDUCE_THREADS, 0, as_stream(stream)>>>(v, flags, n, sum, count, bad, mark);
    NV_LAUNCHED();
    return NV_OK;
}

/* --- batch gather ------------------------------------------------------------------ */

__global__ void k_gather_rows(const float *x, const int32_t *y, int64_t d, const uint32_t *idx,
                              int64_t b, float *out, int32_t *yout) {
    GRID_STRIDE(i, b * d) {
        int64_t r = i / d, c = i % d;
        int64_t src = (int64_t)idx[r];
        out[i] = x[src * d + c];
        if (c == 0 && y && yout) yout[r] = y[src];
    }
}

extern "C" nv_status nv_cuda_gather_rows(const nv_real *x, const int32_t *y, int64_t d,
                                         const uint32_t *idx, int64_t b, nv_real *out,
                                         int32_t *yout, void *stream, nv_error *err) {
    if (b * d == 0) return NV_OK;
    k_gather_rows<<<nv_blocks(b * d), NV_THREADS, 0, as_stream(stream)>>>(x, y, d, idx, b, out, yout);
    NV_LAUNCHED();
    return NV_OK;
}

/* --- optimiser ------------------------------------------------------------------- */

/* `bad` (may be NULL): the backend's sticky NaN flag; a frozen run skips updates. */
__global__ void k_weight_decay(float *g, const float *w, float wd, int64_t n, const int *bad) {
    if (bad && *bad) return;
    GRID_STRIDE(i, n) g[i] += wd * w[i];
}

__global__ void k_sgd(float *w, float *buf, const float *g, int64_t n, float lr, float momentum,
                      int first, const int *bad) {
    if (bad && *bad) return;
    GRID_STRIDE(i, n) {
        if (momentum == 0.0f) {
            w[i] -= lr * g[i];
        } else {
            float b = first ? g[i] : momentum * buf[i] + g[i];
            buf[i] = b;
            w[i] -= lr * b;
        }
    }
}

__global__ void k_adam(float *w, float *m, float *v, const float *g, int64_t n, float beta1,
                       float beta2, float eps, float step_size, float bc2_sqrt, const int *bad) {
    if (bad && *bad) return;
    float a1 = (float)(1.0 - (double)beta1), a2 = (float)(1.0 - (double)beta2);
    float neg = -step_size;
    GRID_STRIDE(i, n) {
        float gi = g[i];
        float mi = m[i] * beta1 + a1 * gi;
        float vi = v[i] * beta2 + (a2 * gi) * gi;
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        w[i] = w[i] + (neg * mi) / denom;
    }
}

extern "C" nv_status nv_cuda_weight_decay(nv_real *g, const nv_real *w, float wd, int64_t n,
                                          const int *bad, void *stream, nv_error *err) {
    if (n == 0) return NV_OK;
    k_weight_decay<<<nv_blocks(n), NV_THREADS, 0, as_stream(stream)>>>(g, w, wd, n, bad);
    NV_LAUNCHED();
    return NV_OK;
}

extern "C" nv_status nv_cuda_sgd_update(nv_real *w, nv_real *buf, const nv_real *g, int64_t n,
                                        float lr, float momentum, int first, const int *bad,
                                        void *stream, nv_error *err) {
    if (n == 0) return NV_OK;
    k_sgd<<<nv_blocks(n), NV_THREADS, 0, as_stream(stream)>>>(w, buf, g, n, lr, momentum, first, bad);
    NV_LAUNCHED();
    return NV_OK;
}

extern "C" nv_status nv_cuda_adam_update(nv_real *w, nv_real *m, nv_real *v, const nv_real *g,
                                         int64_t n, float beta1, float beta2, float eps,
                                         float step_size, float bc2_sqrt, const int *bad,
                                         void *stream, nv_error *err) {
    if (n == 0) return NV_OK;
    k_adam<<<nv_blocks(n), NV_THREADS, 0, as_stream(stream)>>>(w, m, v, g, n, beta1, beta2, eps,
                                                               step_size, bc2_sqrt, bad);
    NV_LAUNCHED();
    return NV_OK;
}

/* --- RNG twin ---------------------------------------------------------------------- */

__global__ void k_rng_u32(uint64_t seed, uint32_t sid, uint64_t base, int64_t n, uint32_t *out) {
    GRID_STRIDE(k, n) out[k] = nv_rng_u32(seed, sid, base + (uint64_t)k);
}

__global__ void k_rng_normal(uint64_t seed, uint32_t sid, uint64_t base, int64_t n, float *out) {
    GRID_STRIDE(k, n) out[k] = nv_rng_normal(seed, sid, base + (uint64_t)k);
}

extern "C" nv_status nv_cuda_rng_u32(uint64_t seed, uint32_t stream_id, uint64_t base, int64_t n,
                                     uint32_t *out, void *stream, nv_error *err) {
    if (n == 0) return NV_OK;
    k_rng_u32<<<nv_blocks(n), NV_THREADS, 0, as_stream(stream)>>>(seed, stream_id, base, n, out);
    NV_LAUNCHED();
    return NV_OK;
}

extern "C" nv_status nv_cuda_rng_normal(uint64_t seed, uint32_t stream_id, uint64_t base,
                                        int64_t n, nv_real *out, void *stream, nv_error *err) {
    if (n == 0) return NV_OK;
    k_rng_normal<<<nv_blocks(n), NV_THREADS, 0, as_stream(stream)>>>(seed, stream_id, base, n, out);
    NV_LAUNCHED();
    return NV_OK;
}

/* --- device memory for tests and tools ------------------------------------------------ */

extern "C" nv_status nv_cuda_malloc(void **p, size_t bytes, nv_error *err) {
    *p = NULL;
    NV_CU(cudaMalloc(p, bytes ? bytes : 1));
    return NV_OK;
}

extern "C" void nv_cuda_free(void *p) {
    if (p) cudaFree(p);
}

extern "C" nv_status nv_cuda_upload(void *dst, const void *src, size_t bytes, nv_error *err) {
    NV_CU(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
    return NV_OK;
}

extern "C" nv_status nv_cuda_download(void *dst, const void *src, size_t bytes, nv_error *err) {
    NV_CU(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
    return NV_OK;
}

extern "C" nv_status nv_cuda_sync(nv_error *err) {
    NV_CU(cudaDeviceSynchronize());
    return NV_OK;
}

extern "C" nv_status nv_cuda_mem_info(size_t *free_bytes, size_t *total_bytes, nv_error *err) {
    NV_CU(cudaMemGetInfo(free_bytes, total_bytes));
    return NV_OK;
}
