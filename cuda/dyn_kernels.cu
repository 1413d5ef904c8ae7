/* dyn_kernels.cu: the CUDA twins of the dynamics statistics kernels in
 * src/train/dyn_kernels.c, with the contracts of include/nerve/dyn_kernels.h.
 * tests/gpu/test_dynamics_parity.c compares each with its CPU reference.
 *
 * Written plainly, for the CUDA-on-CPU toolchain that also runs them: one thread
 * per column (batch statistics) or per row (sums of squares), looping in the CPU
 * reference's order, with explicitly rounded arithmetic (__fadd_rn, __fmul_rn:
 * nvcc may not contract them into fma), no atomics and no warp votes. A layer's
 * totals are summed by one thread in row order in double, as on the CPU. So every
 * result is the CPU's, bit for bit.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>

#include "check.cuh"
#include "nerve/dyn_kernels.h"

#define NV_THREADS 256

static unsigned nv_blocks(int64_t n) {
    int64_t b = (n + NV_THREADS - 1) / NV_THREADS;
    if (b < 1) b = 1;
    if (b > 65535) b = 65535;
    return (unsigned)b;
}

#define GRID_STRIDE(i, n) \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

static cudaStream_t as_stream(void *s) { return (cudaStream_t)s; }

/* The sum of squares of x[0..n) in the contract's lane order. */
__device__ float d_sumsq(const float *x, int64_t n) {
    float l[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int j = 0; j < 4; j++) l[j] = __fadd_rn(l[j], __fmul_rn(x[i + j], x[i + j]));
    float s = __fadd_rn(__fadd_rn(l[0], l[1]), __fadd_rn(l[2], l[3]));
    for (; i < n; i++) s = __fadd_rn(s, __fmul_rn(x[i], x[i]));
    return s;
}

__global__ void k_row_sumsq(const float *x, int64_t rows, int64_t cols, float *out) {
    GRID_STRIDE(r, rows) out[r] = d_sumsq(x + r * cols, cols);
}

extern "C" nv_status nv_cuda_dyn_row_sumsq(const nv_real *x, int64_t rows, int64_t cols, nv_real *out,
                                           void *stream, nv_error *err) {
    if (rows == 0) return NV_OK;
    k_row_sumsq<<<nv_blocks(rows), NV_THREADS, 0, as_stream(stream)>>>(x, rows, cols, out);
    NV_LAUNCHED();
    return NV_OK;
}

/* One thread per unit, rows in order, as the CPU's column sums. */
__global__ void k_unit_stats(const float *act, const float *pre, const float *g, const float *dz, int64_t rows,
                             int64_t w, float *sum_act, float *n_active, float *infl, float *sum_abs) {
    GRID_STRIDE(c, w) {
        float sa = 0.0f, na = 0.0f, si = 0.0f, sd = 0.0f;
        for (int64_t r = 0; r < rows; r++) {
            const int64_t i = r * w + c;
            if (sum_act) sa = __fadd_rn(sa, act[i]);
            if (infl) si = __fadd_rn(si, __fmul_rn(act[i], g[i]));
            if (n_active) na = __fadd_rn(na, pre[i] > 0.0f ? 1.0f : 0.0f);
            if (sum_abs) sd = __fadd_rn(sd, fabsf(dz[i]));
        }
        if (sum_act) sum_act[c] = sa;
        if (n_active) n_active[c] = na;
        if (infl) infl[c] = fabsf(si);
        if (sum_abs) sum_abs[c] = sd;
    }
}

extern "C" nv_status nv_cuda_dyn_unit_stats(const nv_real *act, const nv_real *pre, const nv_real *g,
                                            const nv_real *dz, int64_t rows, int64_t w, nv_real *sum_act,
                                            nv_real *n_active, nv_real *infl, nv_real *sum_abs, void *stream,
                                            nv_error *err) {
    if (w == 0) return NV_OK;
    k_unit_stats<<<nv_blocks(w), NV_THREADS, 0, as_stream(stream)>>>(act, pre, g, dz, rows, w, sum_act, n_active,
                                                                     infl, sum_abs);
    NV_LAUNCHED();
    return NV_OK;
}

/* Rows 0..out-1 of W, then the bias as row `out`: each row's sum of squares in
 * lane order and its counts. */
__global__ void k_grad_rows(const float *p, int64_t out, int64_t in, float abs_thr, float rel_thr,
                            float *row_sq, long long *cnt) {
    GRID_STRIDE(r, out + 1) {
        const float *row = r < out ? p + r * in : p + out * in;
        const int64_t n = r < out ? in : out;
        long long ca = 0, cr = 0, cn = 0;
        for (int64_t i = 0; i < n; i++) {
            float m = fabsf(row[i]);
            ca += m > abs_thr;
            cr += m > rel_thr;
            cn += !(m <= FLT_MAX);
        }
        row_sq[r] = d_sumsq(row, n);
        cnt[3 * r] = ca;
        cnt[3 * r + 1] = cr;
        cnt[3 * r + 2] = cn;
    }
}

/* One thread: the rows' sums in row order, in double, as the CPU does. */
__global__ void k_grad_total(const float *row_sq, const long long *cnt, int64_t out, double *total,
                             long long *counts) {
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    double t = 0.0;
    long long c[3] = {0, 0, 0};
    for (int64_t r = 0; r <= out; r++) {
        t = __dadd_rn(t, (double)row_sq[r]);
        for (int k = 0; k < 3; k++) c[k] += cnt[3 * r + k];
    }
    *total = t;
    for (int k = 0; k < 3; k++) counts[k] = c[k];
}

extern "C" nv_status nv_cuda_dyn_grad_stats(const nv_real *p, int64_t out, int64_t in, float abs_thr,
                                            float rel_thr, nv_real *row_sq, long long *scratch, double *total,
                                            long long *counts, void *stream, nv_error *err) {
    k_grad_rows<<<nv_blocks(out + 1), NV_THREADS, 0, as_stream(stream)>>>(p, out, in, abs_thr, rel_thr, row_sq,
                                                                         scratch);
    NV_LAUNCHED();
    k_grad_total<<<1, 1, 0, as_stream(stream)>>>(row_sq, scratch, out, total, counts);
    NV_LAUNCHED();
    return NV_OK;
}

/* Per row: the four sums of squares (after, before, u = after - before,
 * i = after - w0) in lane order, and the non-finite count of after. */
__global__ void k_update_rows(const float *before, const float *after, const float *w0, int64_t out, int64_t in,
                              float *row_sq, float *sq, long long *nf) {
    GRID_STRIDE(r, out + 1) {
        const int64_t off = r < out ? r * in : out * in, n = r < out ? in : out;
        const float *pb = before + off, *pa = after + off, *p0 = w0 ? w0 + off : NULL;
        float l[4][4] = {{0}};
        long long c = 0;
        int64_t i = 0;
        for (; i + 4 <= n; i += 4)
            for (int j = 0; j < 4; j++) {
                float va = pa[i + j], vb = pb[i + j], u = __fsub_rn(va, vb);
                l[0][j] = __fadd_rn(l[0][j], __fmul_rn(va, va));
                l[1][j] = __fadd_rn(l[1][j], __fmul_rn(vb, vb));
                l[2][j] = __fadd_rn(l[2][j], __fmul_rn(u, u));
                if (p0) {
                    float d = __fsub_rn(va, p0[i + j]);
                    l[3][j] = __fadd_rn(l[3][j], __fmul_rn(d, d));
                }
                c += !(fabsf(va) <= FLT_MAX);
            }
        float s[4];
        for (int q = 0; q < 4; q++) s[q] = __fadd_rn(__fadd_rn(l[q][0], l[q][1]), __fadd_rn(l[q][2], l[q][3]));
        for (; i < n; i++) {
            float va = pa[i], vb = pb[i], u = __fsub_rn(va, vb);
            s[0] = __fadd_rn(s[0], __fmul_rn(va, va));
            s[1] = __fadd_rn(s[1], __fmul_rn(vb, vb));
            s[2] = __fadd_rn(s[2], __fmul_rn(u, u));
            if (p0) {
                float d = __fsub_rn(va, p0[i]);
                s[3] = __fadd_rn(s[3], __fmul_rn(d, d));
            }
            c += !(fabsf(va) <= FLT_MAX);
        }
        for (int q = 0; q < 4; q++) sq[q * (out + 1) + r] = s[q];
        row_sq[r] = s[2];
        nf[r] = c;
    }
}

__global__ void k_update_total(const float *sq, const long long *nf, int64_t out, double *sums,
                               long long *nonfinite) {
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    double t[4] = {0.0, 0.0, 0.0, 0.0};
    long long c = 0;
    for (int64_t r = 0; r <= out; r++) {
        for (int q = 0; q < 4; q++) t[q] = __dadd_rn(t[q], (double)sq[q * (out + 1) + r]);
        c += nf[r];
    }
    for (int q = 0; q < 4; q++) sums[q] = t[q];
    *nonfinite = c;
}

extern "C" nv_status nv_cuda_dyn_update_stats(const nv_real *before, const nv_real *after, const nv_real *w0,
                                              int64_t out, int64_t in, nv_real *row_sq, nv_real *scratch,
                                              long long *scratch_i, double *sums, long long *nonfinite,
                                              void *stream, nv_error *err) {
    k_update_rows<<<nv_blocks(out + 1), NV_THREADS, 0, as_stream(stream)>>>(before, after, w0, out, in, row_sq,
                                                                           scratch, scratch_i);
    NV_LAUNCHED();
    k_update_total<<<1, 1, 0, as_stream(stream)>>>(scratch, scratch_i, out, sums, nonfinite);
    NV_LAUNCHED();
    return NV_OK;
}

__global__ void k_scale_copy(float *dst, const float *src, int64_t n, float scale) {
    GRID_STRIDE(i, n) dst[i] = __fmul_rn(scale, src[i]);
}

extern "C" nv_status nv_cuda_dyn_scale_copy(nv_real *dst, const nv_real *src, int64_t n, float scale,
                                            void *stream, nv_error *err) {
    if (n == 0) return NV_OK;
    k_scale_copy<<<nv_blocks(n), NV_THREADS, 0, as_stream(stream)>>>(dst, src, n, scale);
    NV_LAUNCHED();
    return NV_OK;
}
