/* projections.c: the CPU reference of the projections (include/nerve/projections.h):
 * each unit's signal from its top real inputs sent back to input space by the
 * deconvnet, guided backpropagation and gradient rules, and the one place that picks
 * the CPU or the CUDA twin (cuda/projections.cu).
 *
 * Plain loops, no BLAS: every number is a sum in index order of explicitly ordered
 * products (analysis/features/projection_common.h), the order the CUDA twin uses, so
 * the two agree bit for bit on ReLU nets. The loops run over the output index
 * innermost (z[o] += a_i W[o][i] over i, with the weights transposed once; d[i] +=
 * g_o W[o][i] over o): each output still sums its terms in index order, and the
 * compiler vectorises across outputs without reordering any sum.
 */
#include "nerve/projections.h"

#include <stdlib.h>
#include <string.h>

#include "nerve/kernels.h"
#include "projection_common.h"

const char *nv_projection_rule_name(int rule) {
    static const char *names[NV_PROJ_RULES] = {"deconvnet", "guided", "gradient"};
    return rule >= 0 && rule < NV_PROJ_RULES ? names[rule] : NULL;
}

static nv_status check_problem(const nv_projection_problem *pb, int64_t n, const int64_t *units,
                               nv_error *err) {
    const nv_mlp_spec *s = pb->spec;
    if (pb->layer < 1 || pb->layer > s->nlayers)
        return nv_fail(err, NV_EINPUT, "projections: layer %d: expected 1..%d", pb->layer, s->nlayers);
    for (int64_t r = 0; r < n; r++)
        if (units[r] < 0 || units[r] >= s->widths[pb->layer])
            return nv_fail(err, NV_EINPUT, "projections: row %lld: unit %lld of layer %d: expected "
                           "0..%lld", (long long)r, (long long)units[r], pb->layer,
                           (long long)s->widths[pb->layer] - 1);
    return NV_OK;
}

nv_status nv_projections_cpu(const nv_projection_problem *pb, const nv_real *x, int64_t n,
                             const int64_t *units, nv_real *out, nv_real *seed, nv_error *err) {
    nv_status st = check_problem(pb, n, units, err);
    if (st != NV_OK || n == 0) return st;
    const nv_mlp_spec *s = pb->spec;
    const nv_real *P = pb->params;
    const int l = pb->layer, L = s->nlayers;
    const int through_act = l < L && !pb->pre; /* the unit's own activation passes the seed */
    const int64_t d = s->widths[0], maxw = nv_mlp_max_width(s);
    nv_real *wt[NV_MAX_LAYERS + 1] = {0};   /* W_k transposed (win, wout), k = 1..l */
    nv_real *z = nv_malloc((size_t)(l * maxw) * sizeof *z, err);   /* (l, maxw) per row */
    nv_real *a = nv_malloc((size_t)(l * maxw) * sizeof *a, err);
    nv_real *g = nv_malloc((size_t)maxw * sizeof *g, err), *h = nv_malloc((size_t)maxw * sizeof *h, err);
    if (!z || !a || !g || !h) { st = NV_ENOMEM; goto done; }
    for (int k = 1; k <= l; k++) {
        int64_t win = s->widths[k - 1], wout = s->widths[k];
        const nv_real *W = P + nv_mlp_weight_offset(s, k - 1);
        if (!(wt[k] = nv_malloc((size_t)(win * wout) * sizeof *wt[k], err))) { st = NV_ENOMEM; goto done; }
        for (int64_t o = 0; o < wout; o++)
            for (int64_t i = 0; i < win; i++) wt[k][i * wout + o] = W[o * win + i];
    }
    for (int64_t r = 0; r < n; r++) {
        /* Forward: z_k = W_k a_{k-1} (sum over i in order) + b_k, a_k = act(z_k). */
        const nv_real *in = x + r * d;
        for (int k = 1; k <= l; k++) {
            int64_t win = s->widths[k - 1], wout = s->widths[k];
            nv_real *zk = z + (k - 1) * maxw, *ak = a + (k - 1) * maxw;
            const nv_real *b = P + nv_mlp_bias_offset(s, k - 1);
            for (int64_t o = 0; o < wout; o++) zk[o] = 0.0f;
            for (int64_t i = 0; i < win; i++) {
                nv_real v = in[i];
                if (v == 0.0f) continue; /* exact: see pj_acc */
                const nv_real *w = wt[k] + i * wout;
                for (int64_t o = 0; o < wout; o++) zk[o] = zk[o] + v * w[o];
            }
            for (int64_t o = 0; o < wout; o++) zk[o] = zk[o] + b[o];
            if (k < L) nv_cpu_act_forward(s->act, s->leaky_slope, zk, ak, wout);
            else memcpy(ak, zk, (size_t)wout * sizeof *ak);
            in = ak;
        }
        const int64_t u = units[r];
        const nv_real *zl = z + (l - 1) * maxw, *al = a + (l - 1) * maxw;
        const float sd = through_act ? al[u] : zl[u];
        if (seed) seed[r] = sd;
        for (int rule = 0; rule < NV_PROJ_RULES; rule++) {
            /* The signal at layer l's pre-activation: sd at unit u, zero elsewhere (every
             * rule maps 0 to +0, so only u needs the rule). */
            int64_t wl = s->widths[l];
            for (int64_t o = 0; o < wl; o++) g[o] = 0.0f;
            g[u] = through_act ? pj_rule(rule, s->act, s->leaky_slope, sd, zl[u], al[u]) : sd;
            nv_real *cur = g, *nxt = h;
            for (int k = l; k >= 1; k--) {
                int64_t win = s->widths[k - 1], wout = s->widths[k];
                const nv_real *W = P + nv_mlp_weight_offset(s, k - 1);
                nv_real *dst = k == 1 ? out + (r * NV_PROJ_RULES + rule) * d : nxt;
                for (int64_t i = 0; i < win; i++) dst[i] = 0.0f;
                for (int64_t o = 0; o < wout; o++) {
                    nv_real v = cur[o];
                    if (v == 0.0f) continue;
                    const nv_real *w = W + o * win;
                    for (int64_t i = 0; i < win; i++) dst[i] = dst[i] + v * w[i];
                }
                if (k > 1) {
                    const nv_real *zp = z + (k - 2) * maxw, *ap = a + (k - 2) * maxw;
                    for (int64_t i = 0; i < win; i++)
                        dst[i] = pj_rule(rule, s->act, s->leaky_slope, dst[i], zp[i], ap[i]);
                    nxt = cur;
                    cur = dst;
                }
            }
        }
    }
done:
    for (int k = 0; k <= NV_MAX_LAYERS; k++) free(wt[k]);
    free(z);
    free(a);
    free(g);
    free(h);
    return st;
}

nv_status nv_projections(const nv_projection_problem *pb, const nv_real *x, int64_t n,
                         const int64_t *units, nv_device_kind want, nv_real *out, nv_real *seed,
                         nv_device_kind *used, nv_error *err) {
    void *gpu = NULL;
    nv_status st = nv_device_select(want, "projections", "nv_projections_cuda", 1, &gpu, NULL, err);
    if (st != NV_OK) return st;
    if (used) *used = gpu ? NV_DEVICE_CUDA : NV_DEVICE_CPU;
    if (!gpu) return nv_projections_cpu(pb, x, n, units, out, seed, err);
    /* One GPU computation at a time per process (device.h): features run snapshots
     * on several threads. */
    typedef nv_status (*fn_t)(const nv_projection_problem *, const nv_real *, int64_t,
                              const int64_t *, nv_real *, nv_real *, nv_error *);
    nv_device_lock();
    st = ((fn_t)gpu)(pb, x, n, units, out, seed, err);
    nv_device_unlock();
    return st;
}
