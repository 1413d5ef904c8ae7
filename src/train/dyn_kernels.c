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
 * sum of the contract), then four, then single columns. */
static inline __attribute__((always_inline)) void unit_pass(const nv_real *act, const nv_real *pre,
                                                            const nv_real *g, const nv_real *dz, int64_t rows,
                                                            int64_t w, nv_real *sa, nv_real *na, nv_real *inf,
                                                            nv_real *sd, const int fa, const int fn, const int fi,
                                                            const int fd) {
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
            if (fd) d0 += abs4(ld4(dz + o)), d1 += abs4(ld4(dz + o + 4));
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
            if (fd) d0 += abs4(ld4(dz + o));
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
            if (fd) d0 += fabsf(dz[o]);
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
    if (fa && fn && fi && fd) unit_pass(act, pre, g, dz, rows, w, sum_act, n_active, infl, sum_abs, 1, 1, 1, 1);
    else if (fa && fn && fi && !fd) unit_pass(act, pre, g, dz, rows, w, sum_act, n_active, infl, NULL, 1, 1, 1, 0);
    else if (!fa && !fn && !fi && fd) unit_pass(act, pre, g, dz, rows, w, NULL, NULL, NULL, sum_abs, 0, 0, 0, 1);
    else if (!fa && fn && !fi && !fd) unit_pass(act, pre, g, dz, rows, w, NULL, n_active, NULL, NULL, 0, 1, 0, 0);
    else unit_pass(act, pre, g, dz, rows, w, sum_act, n_active, infl, sum_abs, fa, fn, fi, fd);
    if (infl)
        for (int64_t c = 0; c < w; c++) infl[c] = fabsf(infl[c]);
}

/* One row of gradient statistics: its sum of squares (lane order) and counts. */
static float grad_row(const nv_real *g, int64_t n, v4f vabs, v4f vrel, v4i *cnt) {
    const v4f big = splat4(FLT_MAX);
    v4f acc = splat4(0.0f);
    v4i ca = {0, 0, 0, 0}, cr = ca, cn = ca;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        v4f v = ld4(g + i), m = abs4(v);
        acc += v * v;
        ca += count4(m > vabs);
        cr += count4(m > vrel);
        cn += count4(~(m <= big)); /* NaN and +-inf */
    }
    float s = hsum4(acc);
    int64_t ta = 0, tr = 0, tn = 0;
    for (; i < n; i++) {
        float m = fabsf(g[i]);
        s += g[i] * g[i];
        ta += m > vabs[0];
        tr += m > vrel[0];
        tn += !(m <= FLT_MAX);
    }
    cnt[0] += ca + (v4i){(int32_t)ta, 0, 0, 0};
    cnt[1] += cr + (v4i){(int32_t)tr, 0, 0, 0};
    cnt[2] += cn + (v4i){(int32_t)tn, 0, 0, 0};
    return s;
}

void nv_cpu_dyn_grad_stats(const nv_real *p, int64_t out, int64_t in, float abs_thr, float rel_thr,
                           nv_real *row_sq, double *total, int64_t counts[3]) {
    const v4f vabs = splat4(abs_thr), vrel = splat4(rel_thr);
    double t = 0.0;
    int64_t c[3] = {0, 0, 0};
    for (int64_t r = 0; r <= out; r++) {
        /* rows 0..out-1 of W, then the bias as one more row; lane counts are
         * flushed to int64 per row (a row holds < 2^31 entries) */
        v4i cnt[3] = {{0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}};
        const nv_real *row = r < out ? p + r * in : p + out * in;
        float s = grad_row(row, r < out ? in : out, vabs, vrel, cnt);
        if (row_sq && r < out) row_sq[r] = s;
        t += (double)s;
        for (int k = 0; k < 3; k++) c[k] += hsumi4(cnt[k]);
    }
    *total = t;
    for (int k = 0; k < 3; k++) counts[k] = c[k];
}

/* The update statistics, and with OPT_* != UPD_READ the update itself, row by row:
 * rows 0..out-1 of W, then the bias as one more row, four lanes from each row's
 * start, lanes combined by hsum4, the scalar tail after (the contract's order).
 * UPD_READ reads the block before and after an update from `before` and `w`; the
 * others read `w` before, apply that optimiser to the element (weight decay first
 * when decay) and store it, the arithmetic of kernels.c's update kernels (lanes.h),
 * so the parameters and state end as those kernels leave them, bit for bit. The
 * flags are constants at every call: the compiler makes one loop per case. */
enum { UPD_READ = -1, UPD_ADAM = 3 }; /* and SGD_PLAIN, SGD_FIRST, SGD_MOMENTUM (lanes.h) */
typedef struct {
    float wd, lr, momentum;
    adam_k adam;
} upd_k;

static inline __attribute__((always_inline)) void update_pass(const nv_real *before, nv_real *w, nv_real *s1,
                                                              nv_real *s2, nv_real *g, const nv_real *w0,
                                                              int64_t out, int64_t in, const upd_k *k,
                                                              nv_real *row_sq, double sums[4], int64_t *nonfinite,
                                                              const int opt, const int decay, const int init) {
    const v4f big = splat4(FLT_MAX), zero = splat4(0.0f);
    double t[4] = {0, 0, 0, 0};
    int64_t nf = 0;
    for (int64_t r = 0; r <= out; r++) {
        const int64_t off = r < out ? r * in : out * in, n = r < out ? in : out;
        v4f aa = zero, ab = zero, au = zero, ai = zero;
        v4i cn = {0, 0, 0, 0};
        int64_t i = 0;
        for (; i + 4 <= n; i += 4) {
            const int64_t j = off + i;
            v4f vb, va;
            if (opt == UPD_READ) {
                vb = ld4(before + j);
                va = ld4(w + j);
            } else {
                vb = ld4(w + j);
                v4f gi = ld4(g + j);
                if (decay) st4(g + j, gi = decay4(gi, vb, k->wd));
                va = opt == UPD_ADAM ? adam4(vb, gi, s1 + j, s2 + j, &k->adam)
                                     : sgd4(vb, gi, s1, j, k->lr, k->momentum, opt);
                st4(w + j, va);
            }
            v4f u = va - vb;
            aa += va * va;
            ab += vb * vb;
            au += u * u;
            if (init) {
                v4f d = va - ld4(w0 + j);
                ai += d * d;
            }
            cn += count4(~(abs4(va) <= big));
        }
        float sa = hsum4(aa), sb = hsum4(ab), su = hsum4(au), si = hsum4(ai);
        for (; i < n; i++) {
            const int64_t j = off + i;
            float vb, va;
            if (opt == UPD_READ) {
                vb = before[j];
                va = w[j];
            } else {
                vb = w[j];
                float gi = g[j];
                if (decay) g[j] = gi = decay1(gi, vb, k->wd);
                va = opt == UPD_ADAM ? adam1(vb, gi, s1 + j, s2 + j, &k->adam)
                                     : sgd1(vb, gi, s1, j, k->lr, k->momentum, opt);
                w[j] = va;
            }
            float u = va - vb;
            sa += va * va;
            sb += vb * vb;
            su += u * u;
            if (init) {
                float d = va - w0[j];
                si += d * d;
            }
            nf += !(fabsf(va) <= FLT_MAX);
        }
        nf += hsumi4(cn);
        if (row_sq && r < out) row_sq[r] = su;
        t[0] += (double)sa;
        t[1] += (double)sb;
        t[2] += (double)su;
        t[3] += (double)si;
    }
    for (int q = 0; q < 4; q++) sums[q] = t[q];
    *nonfinite = nf;
}

void nv_cpu_dyn_update_stats(const nv_real *before, const nv_real *after, const nv_real *w0,
                             int64_t out, int64_t in, nv_real *row_sq, double sums[4],
                             int64_t *nonfinite) {
    nv_real *a = (nv_real *)after; /* only read under UPD_READ */
    if (w0) update_pass(before, a, NULL, NULL, NULL, w0, out, in, NULL, row_sq, sums, nonfinite, UPD_READ, 0, 1);
    else update_pass(before, a, NULL, NULL, NULL, NULL, out, in, NULL, row_sq, sums, nonfinite, UPD_READ, 0, 0);
}

/* One optimiser with and without weight decay and the distance from w0. */
#define UPDATE_CASES(OPT)                                                                                     \
    do {                                                                                                      \
        if (decay && w0) update_pass(NULL, w, s1, s2, g, w0, out, in, &k, row_sq, sums, nonfinite, OPT, 1, 1);  \
        else if (decay) update_pass(NULL, w, s1, s2, g, NULL, out, in, &k, row_sq, sums, nonfinite, OPT, 1, 0); \
        else if (w0) update_pass(NULL, w, s1, s2, g, w0, out, in, &k, row_sq, sums, nonfinite, OPT, 0, 1);      \
        else update_pass(NULL, w, s1, s2, g, NULL, out, in, &k, row_sq, sums, nonfinite, OPT, 0, 0);           \
    } while (0)

void nv_cpu_dyn_update_fused(const nv_optim_spec *o, int64_t step, nv_real *w, nv_real *s1, nv_real *s2,
                             nv_real *g, const nv_real *w0, int64_t out, int64_t in, nv_real *row_sq,
                             double sums[4], int64_t *nonfinite) {
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
