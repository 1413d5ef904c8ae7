/* projections.cu: the CUDA twin of the projections' CPU reference
 * (analysis/features/projections.c, nv_projections_cpu): the same contract
 * (include/nerve/projections.h) on host pointers, computed on the device.
 *
 * Plain kernels, one thread per output number, each summing its terms in index
 * order with explicitly rounded products and sums (analysis/features/
 * projection_common.h, shared with the CPU), so the results are the CPU's bits on
 * ReLU nets: no cuBLAS, no atomics, no shared-memory reductions, no warp votes
 * (the kernels also run under the CUDA-on-CPU toolchain that tests them). The
 * activations' forward pass is cuda/kernels.cu's (exact for relu; tanh and sigmoid
 * use the device's tanhf/expf). tests/gpu/test_features_parity.c compares.
 */
#include "nerve/kernels.h"
#include "nerve/projections.h"

#include <cuda_runtime.h>
#include <stdlib.h>
#include <string.h>

#include "../analysis/features/projection_common.h"
#include "check.cuh"

static const int PJ_THREADS = 256;

static unsigned pj_blocks(int64_t n) {
    int64_t b = (n + PJ_THREADS - 1) / PJ_THREADS;
    return (unsigned)(b < 1 ? 1 : (b > 65535 ? 65535 : b));
}

#define PJ_STRIDE(i, n) \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)blockDim.x * gridDim.x)

/* z (n, wout): z[r][o] = sum_i a[r][i] W[o][i] (i in order) + b[o]. */
__global__ void pj_forward_kernel(const float *a, int64_t a_stride, const float *W, const float *b,
                                  int64_t n, int64_t win, int64_t wout, float *z, int64_t z_stride) {
    PJ_STRIDE(e, n * wout) {
        int64_t r = e / wout, o = e % wout;
        const float *ar = a + r * a_stride, *w = W + o * win;
        float acc = 0.0f;
        for (int64_t i = 0; i < win; i++) acc = pj_acc(acc, ar[i], w[i]);
        z[r * z_stride + o] = PJ_ADD(acc, b[o]);
    }
}

/* The seed: g (n, rules, wl) zero but at unit u = units[r]: the objective, passed by
 * the unit's own activation when through_act. seed[r] = the objective. */
__global__ void pj_seed_kernel(const float *z, const float *a, int64_t stride, const int64_t *units,
                               int64_t n, int64_t wl, int through_act, int act, float slope,
                               float *g, float *seed) {
    PJ_STRIDE(r, n) {
        int64_t u = units[r];
        float zu = z[r * stride + u], au = a[r * stride + u];
        float s = through_act ? au : zu;
        seed[r] = s;
        for (int rule = 0; rule < NV_PROJ_RULES; rule++) {
            float *gr = g + (r * NV_PROJ_RULES + rule) * wl;
            for (int64_t o = 0; o < wl; o++) gr[o] = 0.0f;
            gr[u] = through_act ? pj_rule(rule, act, slope, s, zu, au) : s;
        }
    }
}

/* dst (n, rules, win): dst[r][q][i] = sum_o g[r][q][o] W[o][i] (o in order), then
 * (apply) the rule of q at the forward pass of layer k-1 (z, a rows of stride). */
__global__ void pj_backward_kernel(const float *g, const float *W, int64_t n, int64_t win,
                                   int64_t wout, float *dst, int apply, const float *z,
                                   const float *a, int64_t stride, int act, float slope) {
    PJ_STRIDE(e, n * NV_PROJ_RULES * win) {
        int64_t i = e % win, rq = e / win, r = rq / NV_PROJ_RULES;
        int rule = (int)(rq % NV_PROJ_RULES);
        const float *gr = g + rq * wout;
        float acc = 0.0f;
        for (int64_t o = 0; o < wout; o++) acc = pj_acc(acc, gr[o], W[o * win + i]);
        if (apply) acc = pj_rule(rule, act, slope, acc, z[r * stride + i], a[r * stride + i]);
        dst[e] = acc;
    }
}

extern "C" nv_status nv_projections_cuda(const nv_projection_problem *pb, const nv_real *x,
                                         int64_t n, const int64_t *units, nv_real *out,
                                         nv_real *seed, nv_error *err) {
    nv_status st = NV_OK;
    const nv_mlp_spec *s = pb->spec;
    const int l = pb->layer, L = s->nlayers;
    float *dp = NULL, *dx = NULL, *dz = NULL, *da = NULL, *dg = NULL, *dh = NULL, *dseed = NULL;
    int64_t *du = NULL;
    if (l < 1 || l > L) return nv_fail(err, NV_EINPUT, "projections: layer %d: expected 1..%d", l, L);
    for (int64_t r = 0; r < n; r++)
        if (units[r] < 0 || units[r] >= s->widths[l])
            return nv_fail(err, NV_EINPUT, "projections: row %lld: unit %lld of layer %d: expected "
                           "0..%lld", (long long)r, (long long)units[r], l, (long long)s->widths[l] - 1);
    if (n == 0) return NV_OK;
    {
        const int through_act = l < L && !pb->pre;
        const int64_t d = s->widths[0], maxw = nv_mlp_max_width(s), np = nv_mlp_param_count(s);
        const int64_t sig = n * NV_PROJ_RULES * maxw;
        NV_CU_GOTO(cudaMalloc(&dp, (size_t)np * sizeof(float)), done);
        NV_CU_GOTO(cudaMalloc(&dx, (size_t)(n * d) * sizeof(float)), done);
        NV_CU_GOTO(cudaMalloc(&dz, (size_t)(l * n * maxw) * sizeof(float)), done);
        NV_CU_GOTO(cudaMalloc(&da, (size_t)(l * n * maxw) * sizeof(float)), done);
        NV_CU_GOTO(cudaMalloc(&dg, (size_t)sig * sizeof(float)), done);
        NV_CU_GOTO(cudaMalloc(&dh, (size_t)sig * sizeof(float)), done);
        NV_CU_GOTO(cudaMalloc(&dseed, (size_t)n * sizeof(float)), done);
        NV_CU_GOTO(cudaMalloc(&du, (size_t)n * sizeof(int64_t)), done);
        /* Rows are maxw wide; the activations also run over the padding, so give it a value. */
        NV_CU_GOTO(cudaMemset(dz, 0, (size_t)(l * n * maxw) * sizeof(float)), done);
        NV_CU_GOTO(cudaMemcpy(dp, pb->params, (size_t)np * sizeof(float), cudaMemcpyHostToDevice), done);
        NV_CU_GOTO(cudaMemcpy(dx, x, (size_t)(n * d) * sizeof(float), cudaMemcpyHostToDevice), done);
        NV_CU_GOTO(cudaMemcpy(du, units, (size_t)n * sizeof(int64_t), cudaMemcpyHostToDevice), done);
        /* Forward: layer k's rows (n, maxw) at z/a + (k-1) n maxw. */
        const float *in = dx;
        int64_t in_stride = d;
        for (int k = 1; k <= l; k++) {
            int64_t win = s->widths[k - 1], wout = s->widths[k];
            float *zk = dz + (int64_t)(k - 1) * n * maxw, *ak = da + (int64_t)(k - 1) * n * maxw;
            pj_forward_kernel<<<pj_blocks(n * wout), PJ_THREADS>>>(
                in, in_stride, dp + nv_mlp_weight_offset(s, k - 1), dp + nv_mlp_bias_offset(s, k - 1),
                n, win, wout, zk, maxw);
            NV_LAUNCHED_GOTO(done);
            if (k < L) {
                /* Elementwise over the whole (n, maxw) block: the padding past wout is
                 * never read. */
                if ((st = nv_cuda_act_forward(s->act, s->leaky_slope, zk, ak, n * maxw, NULL, err))) goto done;
            } else {
                NV_CU_GOTO(cudaMemcpy(ak, zk, (size_t)(n * maxw) * sizeof(float), cudaMemcpyDeviceToDevice), done);
            }
            in = ak;
            in_stride = maxw;
        }
        /* The seed, then the signal down the layers, alternating between g and h, each
         * (n, rules, width of its layer) packed; maxw covers the input width too. */
        const float *zl = dz + (int64_t)(l - 1) * n * maxw, *al = da + (int64_t)(l - 1) * n * maxw;
        pj_seed_kernel<<<pj_blocks(n), PJ_THREADS>>>(zl, al, maxw, du, n, s->widths[l], through_act,
                                                     (int)s->act, s->leaky_slope, dg, dseed);
        NV_LAUNCHED_GOTO(done);
        float *cur = dg, *nxt = dh, *res = NULL;
        for (int k = l; k >= 1; k--) {
            int64_t win = s->widths[k - 1], wout = s->widths[k];
            const float *zp = k > 1 ? dz + (int64_t)(k - 2) * n * maxw : NULL;
            const float *ap = k > 1 ? da + (int64_t)(k - 2) * n * maxw : NULL;
            pj_backward_kernel<<<pj_blocks(n * NV_PROJ_RULES * win), PJ_THREADS>>>(
                cur, dp + nv_mlp_weight_offset(s, k - 1), n, win, wout, nxt, k > 1, zp, ap, maxw,
                (int)s->act, s->leaky_slope);
            NV_LAUNCHED_GOTO(done);
            res = nxt;
            nxt = cur;
            cur = res;
        }
        NV_CU_GOTO(cudaMemcpy(out, res, (size_t)(n * NV_PROJ_RULES * d) * sizeof(float), cudaMemcpyDeviceToHost), done);
        if (seed) NV_CU_GOTO(cudaMemcpy(seed, dseed, (size_t)n * sizeof(float), cudaMemcpyDeviceToHost), done);
    }
done:
    cudaFree(dp); cudaFree(dx); cudaFree(dz); cudaFree(da); cudaFree(dg); cudaFree(dh);
    cudaFree(dseed); cudaFree(du);
    return st;
}
