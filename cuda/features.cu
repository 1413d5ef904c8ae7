/* features.cu: the CUDA twin of the CPU feature-image backend (analysis/features/features.c,
 * cpu_* functions): the same nv_features_ops contract (include/nerve/features.h)
 * on device memory. The batched forward/backward to the input uses the device
 * library's sgemm (include/nerve/devlib.h: cuBLAS on a GPU) and the activation
 * kernels of cuda/kernels.cu; the regularisers, jitter, the step and the projection
 * are kernels here.
 *
 * Parity: the elementwise kernels compute in the CPU's order with explicitly
 * rounded intrinsics (__fmul_rn, __fadd_rn: nvcc would otherwise contract a*b+c into
 * an FMA the CPU does not use), so given the same inputs they return the same bits;
 * only the sgemm sums differ in order. tests/gpu/test_features_parity.c states the
 * tolerances. Reference: the cpu_* functions of analysis/features/features.c.
 *
 * Layout: the sgemm is column-major (cuBLAS's convention), so a row-major (rows,
 * cols) matrix is seen as its column-major transpose (cols x rows, ld cols).
 */
#include "nerve/features.h"
#include "nerve/kernels.h"

#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.cuh"
#include "nerve/devlib.h"

static const int THREADS = 256;

/* The CPU's clamp and max (analysis/features/features.c): plain comparisons, same results. */
__device__ __forceinline__ float feat_clamp(float v, float lo, float hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}
__device__ __forceinline__ float feat_max(float a, float b) { return a > b ? a : b; }
static unsigned blocks_for(int64_t n) { return (unsigned)((n + THREADS - 1) / THREADS); }

struct gpu_ctx {
    nv_mlp_spec spec;
    nv_features_params p;
    int layer;
    int64_t d, max_rows, maxw;
    nv_devlib *blas;        /* the device library's handle (default stream) */
    float *params;          /* (nparams) */
    float *lo, *hi, *span, *centre; /* (d) */
    float *zs, *as;         /* (layer-1, max_rows * maxw) */
    float *da, *db;         /* (max_rows * maxw) */
    float *blur_w;          /* (2R+1) */
    int blur_r;
};

static void gpu_destroy(void *vctx) {
    gpu_ctx *c = (gpu_ctx *)vctx;
    if (!c) return;
    nv_devlib_destroy(c->blas);
    cudaFree(c->params); cudaFree(c->lo); cudaFree(c->hi); cudaFree(c->span); cudaFree(c->centre);
    cudaFree(c->zs); cudaFree(c->as); cudaFree(c->da); cudaFree(c->db); cudaFree(c->blur_w);
    free(c);
}

static nv_status gpu_create(const nv_features_problem *pb, const nv_features_params *p,
                            int64_t max_rows, void **out, nv_error *err) {
    nv_status st = NV_OK;
    gpu_ctx *c = (gpu_ctx *)calloc(1, sizeof *c);
    float *hspan = NULL, *hw = NULL;
    if (!c) return nv_fail(err, NV_ENOMEM, "features: out of host memory");
    c->spec = *pb->spec;
    c->p = *p;
    c->layer = pb->layer;
    c->d = pb->spec->widths[0];
    c->max_rows = max_rows;
    c->maxw = nv_mlp_max_width(pb->spec);
    {
        int hidden = pb->layer - 1 > 0 ? pb->layer - 1 : 1;
        int64_t np = nv_mlp_param_count(pb->spec), d = c->d;
        size_t ws = (size_t)(max_rows * c->maxw) * sizeof(float);
        c->blur_r = nv_features_blur_radius(p->blur_width);
        int taps = 2 * c->blur_r + 1;
        /* Plain FP32 sgemm, no TF32 (the device library's rule): the CPU reference
         * has 24-bit products. */
        NV_TRY_GOTO(nv_devlib_create(NULL, &c->blas, err), done);
        NV_CU_GOTO(cudaMalloc(&c->params, (size_t)np * sizeof(float)), done);
        NV_CU_GOTO(cudaMalloc(&c->lo, (size_t)d * sizeof(float)), done);
        NV_CU_GOTO(cudaMalloc(&c->hi, (size_t)d * sizeof(float)), done);
        NV_CU_GOTO(cudaMalloc(&c->span, (size_t)d * sizeof(float)), done);
        NV_CU_GOTO(cudaMalloc(&c->centre, (size_t)d * sizeof(float)), done);
        NV_CU_GOTO(cudaMalloc(&c->zs, ws * (size_t)hidden), done);
        NV_CU_GOTO(cudaMalloc(&c->as, ws * (size_t)hidden), done);
        NV_CU_GOTO(cudaMalloc(&c->da, ws), done);
        NV_CU_GOTO(cudaMalloc(&c->db, ws), done);
        NV_CU_GOTO(cudaMalloc(&c->blur_w, (size_t)taps * sizeof(float)), done);
        NV_CU_GOTO(cudaMemcpy(c->params, pb->params, (size_t)np * sizeof(float), cudaMemcpyHostToDevice), done);
        NV_CU_GOTO(cudaMemcpy(c->lo, pb->lo, (size_t)d * sizeof(float), cudaMemcpyHostToDevice), done);
        NV_CU_GOTO(cudaMemcpy(c->hi, pb->hi, (size_t)d * sizeof(float), cudaMemcpyHostToDevice), done);
        NV_CU_GOTO(cudaMemcpy(c->centre, pb->centre, (size_t)d * sizeof(float), cudaMemcpyHostToDevice), done);
        hspan = (float *)malloc((size_t)d * sizeof(float));
        hw = (float *)malloc((size_t)taps * sizeof(float));
        if (!hspan || !hw) { st = nv_fail(err, NV_ENOMEM, "features: out of host memory"); goto done; }
        for (int64_t i = 0; i < d; i++) hspan[i] = pb->hi[i] - pb->lo[i];
        /* The CPU's taps: double, rounded once (blur_taps in analysis/features/features.c). */
        for (int k = -c->blur_r; k <= c->blur_r; k++)
            hw[k + c->blur_r] = p->blur_width > 0
                ? (float)exp(-(double)k * k / (2.0 * (double)p->blur_width * p->blur_width))
                : (float)(k == 0);
        NV_CU_GOTO(cudaMemcpy(c->span, hspan, (size_t)d * sizeof(float), cudaMemcpyHostToDevice), done);
        NV_CU_GOTO(cudaMemcpy(c->blur_w, hw, (size_t)taps * sizeof(float), cudaMemcpyHostToDevice), done);
    }
done:
    free(hspan);
    free(hw);
    if (st != NV_OK) { gpu_destroy(c); return st; }
    *out = c;
    return NV_OK;
}

static nv_status gpu_alloc(void *ctx, int64_t n, nv_real **p, nv_error *err) {
    nv_status st = NV_OK;
    (void)ctx;
    NV_CU_GOTO(cudaMalloc((void **)p, (size_t)(n > 0 ? n : 1) * sizeof(float)), done);
    NV_CU_GOTO(cudaMemset(*p, 0, (size_t)(n > 0 ? n : 1) * sizeof(float)), done);
done:
    return st;
}
static void gpu_release(void *ctx, nv_real *p) { (void)ctx; cudaFree(p); }
static nv_status gpu_upload(void *ctx, nv_real *dst, const nv_real *src, int64_t n, nv_error *err) {
    nv_status st = NV_OK;
    (void)ctx;
    NV_CU_GOTO(cudaMemcpy(dst, src, (size_t)n * sizeof(float), cudaMemcpyHostToDevice), done);
done:
    return st;
}
static nv_status gpu_download(void *ctx, nv_real *dst, const nv_real *src, int64_t n,
                              nv_error *err) {
    nv_status st = NV_OK;
    (void)ctx;
    NV_CU_GOTO(cudaMemcpy(dst, src, (size_t)n * sizeof(float), cudaMemcpyDeviceToHost), done);
done:
    return st;
}

/* Row r: z[r] = a[r] . W[u0 + r] + b[u0 + r] summed in index order (the CPU's), and
 * dst[r] = W[u0 + r] (the start of the backward). One thread per row. */
__global__ void feat_target_kernel(const float *a, const float *W, const float *b, int64_t n,
                                   int64_t win, int64_t u0, float *z, float *dst) {
    int64_t r = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= n) return;
    const float *wr = W + (u0 + r) * win, *ar = a + r * win;
    float acc = 0.0f;
    for (int64_t i = 0; i < win; i++) {
        acc = __fadd_rn(acc, __fmul_rn(ar[i], wr[i]));
        dst[r * win + i] = wr[i];
    }
    z[r] = __fadd_rn(acc, b[u0 + r]);
}

static nv_status gpu_grad(void *ctx, const nv_real *x, int64_t n, int64_t u0, nv_real *g,
                          nv_real *z, nv_error *err) {
    gpu_ctx *c = (gpu_ctx *)ctx;
    nv_status st = NV_OK;
    const nv_mlp_spec *s = &c->spec;
    int l = c->layer;
    int64_t stride = c->max_rows * c->maxw;
    const float *a = x;
    for (int k = 1; k < l; k++) {
        int64_t win = s->widths[k - 1], wout = s->widths[k];
        float *zk = c->zs + (k - 1) * stride, *ak = c->as + (k - 1) * stride;
        /* Z (n, wout) = A (n, win) W^T: column-major Z^T = W A^T. */
        NV_TRY_GOTO(nv_devlib_sgemm(c->blas, NV_DEVLIB_T, NV_DEVLIB_N, wout, n, win, 1.0f,
                                    c->params + nv_mlp_weight_offset(s, k - 1), win, a, win, 0.0f,
                                    zk, wout, err), done);
        if ((st = nv_cuda_bias_add(zk, c->params + nv_mlp_bias_offset(s, k - 1), n, wout, NULL, err))) goto done;
        if ((st = nv_cuda_act_forward(s->act, s->leaky_slope, zk, ak, n * wout, NULL, err))) goto done;
        a = ak;
    }
    {
        int64_t win = s->widths[l - 1];
        float *dcur = l > 1 ? c->da : g;
        feat_target_kernel<<<blocks_for(n), THREADS>>>(a, c->params + nv_mlp_weight_offset(s, l - 1),
                                                       c->params + nv_mlp_bias_offset(s, l - 1), n,
                                                       win, u0, z, dcur);
        NV_LAUNCHED_GOTO(done);
        for (int k = l - 1; k >= 1; k--) {
            int64_t wk = s->widths[k], wprev = s->widths[k - 1];
            float *zk = c->zs + (k - 1) * stride, *ak = c->as + (k - 1) * stride;
            if ((st = nv_cuda_act_backward(s->act, s->leaky_slope, zk, ak, dcur, dcur, n * wk, NULL, err))) goto done;
            float *dnext = k == 1 ? g : (dcur == c->da ? c->db : c->da);
            /* dA (n, wprev) = dZ (n, wk) W (wk, wprev): column-major dA^T = W^T dZ^T. */
            NV_TRY_GOTO(nv_devlib_sgemm(c->blas, NV_DEVLIB_N, NV_DEVLIB_N, wprev, n, wk, 1.0f,
                                        c->params + nv_mlp_weight_offset(s, k - 1), wprev, dcur, wk,
                                        0.0f, dnext, wprev, err), done);
            dcur = dnext;
        }
    }
done:
    return st;
}

__global__ void feat_shift_kernel(const float *src, float *dst, int64_t n, int h, int w,
                                  int64_t u0, int64_t t, int sign, uint64_t seed, int layer,
                                  int J) {
    int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    int64_t d = (int64_t)h * w;
    if (e >= n * d) return;
    int64_t r = e / d;
    int i = (int)((e % d) / w), j = (int)(e % w);
    int oy = sign * nv_features_jitter_offset(seed, layer, t, u0 + r, 0, J);
    int ox = sign * nv_features_jitter_offset(seed, layer, t, u0 + r, 1, J);
    int ii = ((i + oy) % h + h) % h, jj = ((j + ox) % w + w) % w;
    dst[r * d + ii * w + jj] = src[e];
}

static nv_status gpu_shift(void *ctx, const nv_real *src, nv_real *dst, int64_t n, int64_t u0,
                           int64_t t, int sign, nv_error *err) {
    gpu_ctx *c = (gpu_ctx *)ctx;
    nv_status st = NV_OK;
    feat_shift_kernel<<<blocks_for(n * c->d), THREADS>>>(src, dst, n, c->p.img_h, c->p.img_w, u0, t,
                                                         sign, c->p.seed, c->layer, c->p.jitter);
    NV_LAUNCHED_GOTO(done);
done:
    return st;
}

/* Block r: gmax = max |g| over the row (max is exact in any order), then the step
 * and the projection, rounded as the CPU rounds. */
__global__ void feat_step_kernel(float *x, const float *g, int64_t d, const float *span,
                                 const float *lo, const float *hi, float lr_t) {
    __shared__ float red[256];
    int64_t r = blockIdx.x;
    float *xr = x + r * d;
    const float *gr = g + r * d;
    float m = 0.0f;
    for (int64_t i = threadIdx.x; i < d; i += blockDim.x) m = feat_max(m, fabsf(gr[i]));
    red[threadIdx.x] = m;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) red[threadIdx.x] = feat_max(red[threadIdx.x], red[threadIdx.x + s]);
        __syncthreads();
    }
    float gmax = red[0];
    if (!(gmax > 0.0f)) return;
    for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
        float v = __fadd_rn(xr[i], __fmul_rn(__fmul_rn(lr_t, span[i]), __fdiv_rn(gr[i], gmax)));
        xr[i] = feat_clamp(v, lo[i], hi[i]);
    }
}

static nv_status gpu_step(void *ctx, nv_real *x, const nv_real *g, int64_t n, float lr_t,
                          nv_error *err) {
    gpu_ctx *c = (gpu_ctx *)ctx;
    nv_status st = NV_OK;
    feat_step_kernel<<<(unsigned)n, 256>>>(x, g, c->d, c->span, c->lo, c->hi, lr_t);
    NV_LAUNCHED_GOTO(done);
done:
    return st;
}

__global__ void feat_decay_kernel(float *x, int64_t n, int64_t d, const float *m, float keep) {
    int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= n * d) return;
    float c = m[e % d];
    x[e] = __fadd_rn(c, __fmul_rn(keep, __fsub_rn(x[e], c)));
}

static nv_status gpu_decay(void *ctx, nv_real *x, int64_t n, float decay, nv_error *err) {
    gpu_ctx *c = (gpu_ctx *)ctx;
    nv_status st = NV_OK;
    feat_decay_kernel<<<blocks_for(n * c->d), THREADS>>>(x, n, c->d, c->centre, 1.0f - decay);
    NV_LAUNCHED_GOTO(done);
done:
    return st;
}

/* One blurred value along a line, in the CPU's tap order (blur_at). */
__device__ float feat_blur_at(const float *u, int64_t pos, int64_t len, int64_t stride,
                              const float *wt, int R) {
    float acc = 0.0f, norm = 0.0f;
    for (int k = -R; k <= R; k++) {
        int64_t q = pos + k;
        if (q < 0 || q >= len) continue;
        acc = __fadd_rn(acc, __fmul_rn(wt[k + R], u[q * stride]));
        norm = __fadd_rn(norm, wt[k + R]);
    }
    return __fdiv_rn(acc, norm);
}

/* Pass 0: tmp = horizontal blur of u = x - m. Pass 1: x = vertical blur of tmp + m. */
__global__ void feat_blur_kernel(float *x, float *tmp, int64_t n, int h, int w, const float *m,
                                 const float *wt, int R, int pass) {
    int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    int64_t d = (int64_t)h * w;
    if (e >= n * d) return;
    int64_t r = e / d, p = e % d;
    int i = (int)(p / w), j = (int)(p % w);
    if (pass == 0) {
        /* Centre the row's line on the fly: u_q = x_q - m_q, as the CPU does in place. */
        const float *xr = x + r * d + (int64_t)i * w;
        const float *mr = m + (int64_t)i * w;
        float acc = 0.0f, norm = 0.0f;
        for (int k = -R; k <= R; k++) {
            int q = j + k;
            if (q < 0 || q >= w) continue;
            acc = __fadd_rn(acc, __fmul_rn(wt[k + R], __fsub_rn(xr[q], mr[q])));
            norm = __fadd_rn(norm, wt[k + R]);
        }
        tmp[e] = __fdiv_rn(acc, norm);
    } else {
        float v = feat_blur_at(tmp + r * d + j, i, h, w, wt, R);
        x[e] = __fadd_rn(v, m[p]);
    }
}

static nv_status gpu_blur(void *ctx, nv_real *x, nv_real *tmp, int64_t n, float sigma,
                          nv_error *err) {
    gpu_ctx *c = (gpu_ctx *)ctx;
    nv_status st = NV_OK;
    (void)sigma;
    for (int pass = 0; pass < 2; pass++) {
        feat_blur_kernel<<<blocks_for(n * c->d), THREADS>>>(x, tmp, n, c->p.img_h, c->p.img_w,
                                                            c->centre, c->blur_w, c->blur_r, pass);
        NV_LAUNCHED_GOTO(done);
    }
done:
    return st;
}

__global__ void feat_clip_values_kernel(const float *x, const float *g, float *v, int64_t n,
                                        int64_t d, const float *m) {
    int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= n * d) return;
    float u = __fsub_rn(x[e], m[e % d]);
    v[e] = fabsf(g ? __fmul_rn(u, g[e]) : u);
}

/* Block r: the k-th smallest value of v's row is the v_i with
 * #{v_j < v_i} <= k < #{v_j <= v_i} (an exact order statistic, so the CPU's sort and
 * this count agree); then x_i = m_i where v_i < it. O(d^2) per row, fine for images. */
__global__ void feat_clip_kernel(float *x, const float *v, int64_t d, const float *m, int64_t k) {
    __shared__ float thr;
    int64_t r = blockIdx.x;
    const float *vr = v + r * d;
    for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
        float a = vr[i];
        int64_t less = 0, leq = 0;
        for (int64_t j = 0; j < d; j++) {
            less += vr[j] < a;
            leq += vr[j] <= a;
        }
        if (less <= k && k < leq) thr = a; /* every writer writes the same value */
    }
    __syncthreads();
    float t = thr;
    for (int64_t i = threadIdx.x; i < d; i += blockDim.x)
        if (vr[i] < t) x[r * d + i] = m[i];
}

static nv_status gpu_clip(void *ctx, nv_real *x, const nv_real *g, nv_real *tmp, int64_t n,
                          float pct, nv_error *err) {
    gpu_ctx *c = (gpu_ctx *)ctx;
    nv_status st = NV_OK;
    feat_clip_values_kernel<<<blocks_for(n * c->d), THREADS>>>(x, g, tmp, n, c->d, c->centre);
    NV_LAUNCHED_GOTO(done);
    feat_clip_kernel<<<(unsigned)n, THREADS>>>(x, tmp, c->d, c->centre, nv_features_pct_rank(pct, c->d));
    NV_LAUNCHED_GOTO(done);
done:
    return st;
}

__global__ void feat_keep_kernel(const float *x, const float *z, float *xb, float *zb, int64_t d,
                                 int first) {
    int64_t r = blockIdx.x;
    /* Every thread reads the decision before thread 0 may overwrite zb[r]. */
    int take = first || z[r] > zb[r];
    __syncthreads();
    if (!take) return;
    for (int64_t i = threadIdx.x; i < d; i += blockDim.x) xb[r * d + i] = x[r * d + i];
    if (threadIdx.x == 0) zb[r] = z[r];
}

static nv_status gpu_keep(void *ctx, const nv_real *x, const nv_real *z, nv_real *xb,
                          nv_real *zb, int64_t n, int first, nv_error *err) {
    gpu_ctx *c = (gpu_ctx *)ctx;
    nv_status st = NV_OK;
    feat_keep_kernel<<<(unsigned)n, THREADS>>>(x, z, xb, zb, c->d, first);
    NV_LAUNCHED_GOTO(done);
done:
    return st;
}

__global__ void feat_project_kernel(float *x, int64_t n, int64_t d, const float *lo,
                                    const float *hi) {
    int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= n * d) return;
    x[e] = feat_clamp(x[e], lo[e % d], hi[e % d]);
}

static nv_status gpu_project(void *ctx, nv_real *x, int64_t n, nv_error *err) {
    gpu_ctx *c = (gpu_ctx *)ctx;
    nv_status st = NV_OK;
    feat_project_kernel<<<blocks_for(n * c->d), THREADS>>>(x, n, c->d, c->lo, c->hi);
    NV_LAUNCHED_GOTO(done);
done:
    return st;
}

static const nv_features_ops gpu_ops = {
    "cuda", gpu_create, gpu_destroy, gpu_alloc, gpu_release, gpu_upload, gpu_download,
    gpu_grad, gpu_shift, gpu_step, gpu_decay, gpu_blur, gpu_clip, gpu_keep, gpu_project,
};

extern "C" const nv_features_ops *nv_features_ops_cuda(void) { return &gpu_ops; }
