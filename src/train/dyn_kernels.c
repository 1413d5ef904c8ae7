/* dyn_kernels.c: the CPU references of include/nerve/dyn_kernels.h, the statistics
 * the dynamics recorder takes at a recorded step. The CPU backend's step_record
 * runs them on its own buffers (backend.c); cuda/dyn_kernels.cu has their twins.
 *
 * Speed matters: with the steps and neurons tiers at every step they run on every
 * training step, and a step of the spheres nets is ~100 us. So each is one pass
 * over its inputs, four lanes at a time with GCC/Clang vector extensions (as
 * kernels.c), and the lane order is written into the contract (dyn_kernels.h) so
 * that the GPU twin reproduces the same bits with scalar code.
 */
#include "nerve/dyn_kernels.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "nerve/kernels.h"
#include "train/lanes.h"

float nv_cpu_dyn_sumsq(const nv_real *x, int64_t n) {
    v4f acc = splat4(0.0f);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        v4f v = ld4(x + i);
        acc += v * v;
    }
    float s = hsum4(acc);
    for (; i < n; i++) s += x[i] * x[i];
    return s;
}

void nv_cpu_dyn_row_sumsq(const nv_real *x, int64_t rows, int64_t cols, nv_real *out) {
    for (int64_t r = 0; r < rows; r++) out[r] = nv_cpu_dyn_sumsq(x + r * cols, cols);
}

/* The column pass, specialised by the compiler for each set of outputs (the flags
 * are constants at every call). Eight columns at a time with their sums held in
 * registers over all rows (rows in order: each column's sum is the plain row-order
 * sum of the contract), then four, then single columns. With act >= 0 the pass is
 * also the activation's backward: dz = act'(pre) * g (lanes.h, the bits of
 * nv_cpu_act_backward) is written to dzo (which may be g itself: each element is
 * read before it is written) and sum_abs is taken from it. */
static inline __attribute__((always_inline)) v4f unit_dz4(const int act, float slope, const nv_real *pre,
                                                          const nv_real *post, const nv_real *g, nv_real *dzo,
                                                          int64_t o) {
    const v4f zero = splat4(0.0f);
    v4f z = act_bwd4(act, slope, act_bwd_reads_x(act) ? ld4(pre + o) : zero,
                     act_bwd_reads_y(act) ? ld4(post + o) : zero, ld4(g + o));
    st4(dzo + o, z);
    return z;
}

static inline __attribute__((always_inline)) void unit_pass(const nv_real *act, const nv_real *pre,
                                                            const nv_real *g, const nv_real *dz, int64_t rows,
                                                            int64_t w, nv_real *sa, nv_real *na, nv_real *inf,
                                                            nv_real *sd, const int fa, const int fn, const int fi,
                                                            const int fd, const int bw, float slope, nv_real *dzo) {
    const v4f zero = splat4(0.0f), one = splat4(1.0f);
    int64_t c = 0;
    for (; c + 8 <= w; c += 8) {
        v4f a0 = zero, a1 = zero, n0 = zero, n1 = zero, i0 = zero, i1 = zero, d0 = zero, d1 = zero;
        for (int64_t r = 0; r < rows; r++) {
            const int64_t o = r * w + c;
            if (fa || fi) {
                v4f x0 = ld4(act + o), x1 = ld4(act + o + 4);
                if (fa) a0 += x0, a1 += x1;
                if (fi) i0 += x0 * ld4(g + o), i1 += x1 * ld4(g + o + 4);
            }
            if (fn) {
                n0 += (v4f)((v4i)one & (ld4(pre + o) > zero));
                n1 += (v4f)((v4i)one & (ld4(pre + o + 4) > zero));
            }
            if (fd && bw >= 0) {
                d0 += abs4(unit_dz4(bw, slope, pre, act, g, dzo, o));
                d1 += abs4(unit_dz4(bw, slope, pre, act, g, dzo, o + 4));
            } else if (fd) {
                d0 += abs4(ld4(dz + o)), d1 += abs4(ld4(dz + o + 4));
            }
        }
        if (fa) st4(sa + c, a0), st4(sa + c + 4, a1);
        if (fn) st4(na + c, n0), st4(na + c + 4, n1);
        if (fi) st4(inf + c, i0), st4(inf + c + 4, i1);
        if (fd) st4(sd + c, d0), st4(sd + c + 4, d1);
    }
    for (; c + 4 <= w; c += 4) {
        v4f a0 = zero, n0 = zero, i0 = zero, d0 = zero;
        for (int64_t r = 0; r < rows; r++) {
            const int64_t o = r * w + c;
            if (fa || fi) {
                v4f x0 = ld4(act + o);
                if (fa) a0 += x0;
                if (fi) i0 += x0 * ld4(g + o);
            }
            if (fn) n0 += (v4f)((v4i)one & (ld4(pre + o) > zero));
            if (fd && bw >= 0) d0 += abs4(unit_dz4(bw, slope, pre, act, g, dzo, o));
            else if (fd) d0 += abs4(ld4(dz + o));
        }
        if (fa) st4(sa + c, a0);
        if (fn) st4(na + c, n0);
        if (fi) st4(inf + c, i0);
        if (fd) st4(sd + c, d0);
    }
    for (; c < w; c++) {
        float a0 = 0, n0 = 0, i0 = 0, d0 = 0;
        for (int64_t r = 0; r < rows; r++) {
            const int64_t o = r * w + c;
            if (fa) a0 += act[o];
            if (fi) i0 += act[o] * g[o];
            if (fn) n0 += pre[o] > 0.0f ? 1.0f : 0.0f;
            if (fd && bw >= 0) {
                const float z = act_bwd1(bw, slope, act_bwd_reads_x(bw) ? pre[o] : 0.0f,
                                         act_bwd_reads_y(bw) ? act[o] : 0.0f, g[o]);
                dzo[o] = z;
                d0 += fabsf(z);
            } else if (fd) {
                d0 += fabsf(dz[o]);
            }
        }
        if (fa) sa[c] = a0;
        if (fn) na[c] = n0;
        if (fi) inf[c] = i0;
        if (fd) sd[c] = d0;
    }
}

void nv_cpu_dyn_unit_stats(const nv_real *act, const nv_real *pre, const nv_real *g, const nv_real *dz,
                           int64_t rows, int64_t w, nv_real *sum_act, nv_real *n_active, nv_real *infl,
                           nv_real *sum_abs) {
    const int fa = sum_act != NULL, fn = n_active != NULL, fi = infl != NULL, fd = sum_abs != NULL;
    /* the combinations the backend uses get their own loop; the rest the general one */
    if (fa && fn && fi && fd)
        unit_pass(act, pre, g, dz, rows, w, sum_act, n_active, infl, sum_abs, 1, 1, 1, 1, -1, 0.0f, NULL);
    else if (fa && fn && fi && !fd)
        unit_pass(act, pre, g, dz, rows, w, sum_act, n_active, infl, NULL, 1, 1, 1, 0, -1, 0.0f, NULL);
    else if (!fa && !fn && !fi && fd)
        unit_pass(act, pre, g, dz, rows, w, NULL, NULL, NULL, sum_abs, 0, 0, 0, 1, -1, 0.0f, NULL);
    else if (!fa && fn && !fi && !fd)
        unit_pass(act, pre, g, dz, rows, w, NULL, n_active, NULL, NULL, 0, 1, 0, 0, -1, 0.0f, NULL);
    else unit_pass(act, pre, g, dz, rows, w, sum_act, n_active, infl, sum_abs, fa, fn, fi, fd, -1, 0.0f, NULL);
    if (infl)
        for (int64_t c = 0; c < w; c++) infl[c] = fabsf(infl[c]);
}

/* One activation's backward with every unit statistic, one loop per activation. */
#define UNIT_BACKWARD(ACT)                                                                                     \
    unit_pass(post, pre, g, NULL, rows, w, sum_act, n_active, infl, sum_abs, 1, 1, 1, 1, ACT, slope, dz)

void nv_cpu_dyn_unit_backward(nv_activation act, float slope, const nv_real *post, const nv_real *pre,
                              const nv_real *g, nv_real *dz, int64_t rows, int64_t w, nv_real *sum_act,
                              nv_real *n_active, nv_real *infl, nv_real *sum_abs) {
    switch (act) {
    case NV_ACT_RELU: UNIT_BACKWARD(NV_ACT_RELU); break;
    case NV_ACT_LEAKY_RELU: UNIT_BACKWARD(NV_ACT_LEAKY_RELU); break;
    case NV_ACT_TANH: UNIT_BACKWARD(NV_ACT_TANH); break;
    case NV_ACT_SIGMOID: UNIT_BACKWARD(NV_ACT_SIGMOID); break;
    default: UNIT_BACKWARD(NV_ACT_IDENTITY); break;
    }
    for (int64_t c = 0; c < w; c++) infl[c] = fabsf(infl[c]);
}
#undef UNIT_BACKWARD

/* The statistics of a layer block's gradient and of its update, and the update
 * itself, in one template: row by row (rows 0..out-1 of W, then the bias as one more
 * row), four lanes from each row's start, lanes combined by hsum4, the scalar tail
 * after: the contract's order (dyn_kernels.h). The flags are constants at every
 * call, so the compiler makes one loop per case:
 *   opt   UPD_NONE: no update (the gradient's statistics alone); UPD_READ: the
 *         update's statistics from `before` and `w` (after); else the optimiser
 *         (SGD_PLAIN, SGD_FIRST, SGD_MOMENTUM of lanes.h, or UPD_ADAM): read w,
 *         add weight decay to g when decay, apply the update through lanes.h (the
 *         arithmetic of kernels.c's update kernels: the same bits), store it, and
 *         take the update's statistics from the values before and after;
 *   gst   the gradient's statistics too, from g before weight decay;
 *   init  the distance from w0 (sums[3]). */
enum { UPD_NONE = -2, UPD_READ = -1, UPD_ADAM = 3 };

/* NaN and infinite entries of x[0..n). The passes below count them only in a row
 * whose sum of squares is not finite: a NaN or infinite entry makes it so, and a
 * row without one (most rows, nearly always) then costs nothing. */
static int64_t count_nonfinite(const nv_real *x, int64_t n) {
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++) c += !(fabsf(x[i]) <= FLT_MAX);
    return c;
}
typedef struct {
    float wd, lr, momentum;
    adam_k adam;
} upd_k;

static inline __attribute__((always_inline)) void block_pass(const nv_real *before, nv_real *w, nv_real *s1,
                                                             nv_real *s2, nv_real *g, const nv_real *w0,
                                                             int64_t out, int64_t in, const upd_k *k,
                                                             nv_dyn_grad_out *go, nv_real *row_sq, double sums[4],
                                                             int64_t *nonfinite, const int opt, const int decay,
                                                             const int gst, const int init) {
    const v4f big = splat4(FLT_MAX), zero = splat4(0.0f);
    const float fabs_thr = gst ? go->alarm_abs : 0.0f, frel_thr = gst ? go->alarm_rel : 0.0f;
    const v4f vabs = splat4(fabs_thr), vrel = splat4(frel_thr);
    const v4i none = {0, 0, 0, 0};
    /* the gradient's non-finite entries from the row after it (count_nonfinite),
     * unless weight decay has changed the row by then */
    const int lazy_g = !decay;
    double t[4] = {0, 0, 0, 0}, gt = 0.0;
    int64_t nf = 0, gc[3] = {0, 0, 0};
    for (int64_t r = 0; r <= out; r++) {
        const int64_t off = r < out ? r * in : out * in, n = r < out ? in : out;
        v4f aa = zero, ab = zero, au = zero, ai = zero, ga = zero;
        v4i ca = none, cr = none, cg = none;
        int64_t i = 0;
        for (; i + 4 <= n; i += 4) {
            const int64_t j = off + i;
            v4f vb = zero, va = zero;
            if (gst || opt >= 0) {
                v4f gi = ld4(g + j);
                if (gst) {
                    v4f m = abs4(gi);
                    ga += gi * gi;
                    ca += count4(m > vabs);
                    cr += count4(m > vrel);
                    if (!lazy_g) cg += count4(~(m <= big)); /* NaN and +-inf */
                }
                if (opt >= 0) {
                    vb = ld4(w + j);
                    if (decay) st4(g + j, gi = decay4(gi, vb, k->wd));
                    va = opt == UPD_ADAM ? adam4(vb, gi, s1 + j, s2 + j, &k->adam)
                                         : sgd4(vb, gi, s1, j, k->lr, k->momentum, opt);
                    st4(w + j, va);
                }
            }
            if (opt == UPD_READ) {
                vb = ld4(before + j);
                va = ld4(w + j);
            }
            if (opt != UPD_NONE) {
                v4f u = va - vb;
                aa += va * va;
                ab += vb * vb;
                au += u * u;
                if (init) {
                    v4f d = va - ld4(w0 + j);
                    ai += d * d;
                }
            }
        }
        float sa = hsum4(aa), sb = hsum4(ab), su = hsum4(au), si = hsum4(ai), sg = hsum4(ga);
        int64_t ta = 0, tr = 0, tg = 0;
        for (; i < n; i++) {
            const int64_t j = off + i;
            float vb = 0.0f, va = 0.0f;
            if (gst || opt >= 0) {
                float gi = g[j];
                if (gst) {
                    float m = fabsf(gi);
                    sg += gi * gi;
                    ta += m > fabs_thr;
                    tr += m > frel_thr;
                    if (!lazy_g) tg += !(m <= FLT_MAX);
                }
                if (opt >= 0) {
                    vb = w[j];
                    if (decay) g[j] = gi = decay1(gi, vb, k->wd);
                    va = opt == UPD_ADAM ? adam1(vb, gi, s1 + j, s2 + j, &k->adam)
                                         : sgd1(vb, gi, s1, j, k->lr, k->momentum, opt);
                    w[j] = va;
                }
            }
            if (opt == UPD_READ) {
                vb = before[j];
                va = w[j];
            }
            if (opt != UPD_NONE) {
                float u = va - vb;
                sa += va * va;
                sb += vb * vb;
                su += u * u;
                if (init) {
                    float d = va - w0[j];
                    si += d * d;
                }
            }
        }
        if (gst) { /* lane counts flushed to int64 per row (a row holds < 2^31 entries) */
            if (go->row_sq && r < out) go->row_sq[r] = sg;
            gt += (double)sg;
            gc[0] += hsumi4(ca) + ta;
            gc[1] += hsumi4(cr) + tr;
            if (lazy_g && !(fabsf(sg) <= FLT_MAX)) tg = count_nonfinite(g + off, n);
            gc[2] += hsumi4(cg) + tg;
        }
        if (opt != UPD_NONE) {
            if (!(fabsf(sa) <= FLT_MAX)) nf += count_nonfinite(w + off, n);
            if (row_sq && r < out) row_sq[r] = su;
            t[0] += (double)sa;
            t[1] += (double)sb;
            t[2] += (double)su;
            t[3] += (double)si;
        }
    }
    if (gst) {
        go->total = gt;
        for (int q = 0; q < 3; q++) go->counts[q] = gc[q];
    }
    if (opt != UPD_NONE) {
        for (int q = 0; q < 4; q++) sums[q] = t[q];
        *nonfinite = nf;
    }
}

void nv_cpu_dyn_grad_stats(const nv_real *p, int64_t out, int64_t in, float abs_thr, float rel_thr,
                           nv_real *row_sq, double *total, int64_t counts[3]) {
    nv_dyn_grad_out go = {.alarm_abs = abs_thr, .alarm_rel = rel_thr, .row_sq = row_sq};
    block_pass(NULL, NULL, NULL, NULL, (nv_real *)p, NULL, out, in, NULL, &go, NULL, NULL, NULL, UPD_NONE, 0, 1, 0);
    *total = go.total;
    for (int q = 0; q < 3; q++) counts[q] = go.counts[q];
}

void nv_cpu_dyn_update_stats(const nv_real *before, const nv_real *after, const nv_real *w0,
                             int64_t out, int64_t in, nv_real *row_sq, double sums[4],
                             int64_t *nonfinite) {
    nv_real *a = (nv_real *)after; /* only read under UPD_READ */
    if (w0) block_pass(before, a, NULL, NULL, NULL, w0, out, in, NULL, NULL, row_sq, sums, nonfinite, UPD_READ, 0, 0, 1);
    else block_pass(before, a, NULL, NULL, NULL, NULL, out, in, NULL, NULL, row_sq, sums, nonfinite, UPD_READ, 0, 0, 0);
}

/* One optimiser with and without weight decay, the gradient's statistics and the
 * distance from w0. */
#define UPDATE_CASES(OPT)                                                                                            \
    do {                                                                                                             \
        const nv_real *w0_ = w0;                                                                                     \
        if (decay && go && w0_) block_pass(NULL, w, s1, s2, g, w0_, out, in, &k, go, row_sq, sums, nonfinite, OPT, 1, 1, 1); \
        else if (decay && go) block_pass(NULL, w, s1, s2, g, NULL, out, in, &k, go, row_sq, sums, nonfinite, OPT, 1, 1, 0); \
        else if (decay && w0_) block_pass(NULL, w, s1, s2, g, w0_, out, in, &k, NULL, row_sq, sums, nonfinite, OPT, 1, 0, 1); \
        else if (decay) block_pass(NULL, w, s1, s2, g, NULL, out, in, &k, NULL, row_sq, sums, nonfinite, OPT, 1, 0, 0); \
        else if (go && w0_) block_pass(NULL, w, s1, s2, g, w0_, out, in, &k, go, row_sq, sums, nonfinite, OPT, 0, 1, 1); \
        else if (go) block_pass(NULL, w, s1, s2, g, NULL, out, in, &k, go, row_sq, sums, nonfinite, OPT, 0, 1, 0);     \
        else if (w0_) block_pass(NULL, w, s1, s2, g, w0_, out, in, &k, NULL, row_sq, sums, nonfinite, OPT, 0, 0, 1);   \
        else block_pass(NULL, w, s1, s2, g, NULL, out, in, &k, NULL, row_sq, sums, nonfinite, OPT, 0, 0, 0);          \
    } while (0)

void nv_cpu_dyn_update_fused(const nv_optim_spec *o, int64_t step, nv_real *w, nv_real *s1, nv_real *s2,
                             nv_real *g, const nv_real *w0, int64_t out, int64_t in, nv_dyn_grad_out *go,
                             nv_real *row_sq, double sums[4], int64_t *nonfinite) {
    /* the constants as nv_cpu_apply_update hands them to the update kernels */
    upd_k k = {.wd = o->weight_decay};
    const int decay = o->weight_decay != 0.0f;
    if (o->kind == NV_OPT_SGD) {
        k.lr = (float)nv_optim_lr(o, step);
        k.momentum = o->momentum;
        switch (sgd_mode(o->momentum, step == 1)) {
        case SGD_PLAIN: UPDATE_CASES(SGD_PLAIN); break;
        case SGD_FIRST: UPDATE_CASES(SGD_FIRST); break;
        default: UPDATE_CASES(SGD_MOMENTUM); break;
        }
    } else {
        float step_size, bc2_sqrt;
        nv_adam_factors(nv_optim_lr(o, step), o->beta1, o->beta2, step, &step_size, &bc2_sqrt);
        k.adam = adam_k_of(o->beta1, o->beta2, o->eps, step_size, bc2_sqrt);
        UPDATE_CASES(UPD_ADAM);
    }
}
#undef UPDATE_CASES

void nv_cpu_dyn_scale_copy(nv_real *dst, const nv_real *src, int64_t n, float scale) {
    const v4f s = splat4(scale);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) st4(dst + i, s * ld4(src + i));
    for (; i < n; i++) dst[i] = scale * src[i];
}
