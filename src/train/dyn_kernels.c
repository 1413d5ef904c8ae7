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

typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

static inline v4f ld4(const float *p) {
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void st4(float *p, v4f v) { memcpy(p, &v, sizeof v); }
static inline v4f splat4(float a) { return (v4f){a, a, a, a}; }
/* |v| per lane: the sign bit cleared (exact, NaN stays NaN). */
static inline v4f abs4(v4f v) { return (v4f)((v4i)v & (v4i){0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff}); }
/* (l0 + l1) + (l2 + l3): the lanes' combination order of the contract. */
static inline float hsum4(v4f a) { return (a[0] + a[1]) + (a[2] + a[3]); }
/* A comparison mask (-1 / 0 per lane) as counts to add. */
static inline v4i count4(v4i m) { return -m; }
static inline int64_t hsumi4(v4i a) { return (int64_t)a[0] + a[1] + a[2] + a[3]; }

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

void nv_cpu_dyn_unit_stats(const nv_real *act, const nv_real *pre, const nv_real *dz, int64_t rows,
                           int64_t w, nv_real *sum_act, nv_real *n_active, nv_real *sum_abs) {
    /* Row by row over contiguous memory; each column still sums its rows in order. */
    const v4f zero = splat4(0.0f), one = splat4(1.0f);
    if (sum_act) memset(sum_act, 0, sizeof(nv_real) * (size_t)w);
    if (n_active) memset(n_active, 0, sizeof(nv_real) * (size_t)w);
    if (sum_abs) memset(sum_abs, 0, sizeof(nv_real) * (size_t)w);
    for (int64_t r = 0; r < rows; r++) {
        const nv_real *ar = act ? act + r * w : NULL, *pr = pre ? pre + r * w : NULL,
                      *dr = dz ? dz + r * w : NULL;
        int64_t c = 0;
        for (; c + 4 <= w; c += 4) {
            if (sum_act) st4(sum_act + c, ld4(sum_act + c) + ld4(ar + c));
            if (n_active) {
                v4i m = ld4(pr + c) > zero;
                st4(n_active + c, ld4(n_active + c) + (v4f)((v4i)one & m));
            }
            if (sum_abs) st4(sum_abs + c, ld4(sum_abs + c) + abs4(ld4(dr + c)));
        }
        for (; c < w; c++) {
            if (sum_act) sum_act[c] += ar[c];
            if (n_active) n_active[c] += pr[c] > 0.0f ? 1.0f : 0.0f;
            if (sum_abs) sum_abs[c] += fabsf(dr[c]);
        }
    }
}

void nv_cpu_dyn_influence(const nv_real *a, const nv_real *g, int64_t rows, int64_t w, nv_real *out) {
    memset(out, 0, sizeof(nv_real) * (size_t)w);
    for (int64_t r = 0; r < rows; r++) {
        const nv_real *ar = a + r * w, *gr = g + r * w;
        int64_t c = 0;
        for (; c + 4 <= w; c += 4) st4(out + c, ld4(out + c) + ld4(ar + c) * ld4(gr + c));
        for (; c < w; c++) out[c] += ar[c] * gr[c];
    }
    for (int64_t c = 0; c < w; c++) out[c] = fabsf(out[c]);
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

void nv_cpu_dyn_update_stats(const nv_real *before, const nv_real *after, const nv_real *w0,
                             int64_t out, int64_t in, nv_real *row_sq, double sums[4],
                             int64_t *nonfinite) {
    const v4f big = splat4(FLT_MAX), zero = splat4(0.0f);
    double t[4] = {0, 0, 0, 0};
    int64_t nf = 0;
    for (int64_t r = 0; r <= out; r++) {
        const int64_t off = r < out ? r * in : out * in, n = r < out ? in : out;
        const nv_real *pb = before + off, *pa = after + off, *p0 = w0 ? w0 + off : NULL;
        v4f aa = zero, ab = zero, au = zero, ai = zero;
        v4i cn = {0, 0, 0, 0};
        int64_t i = 0;
        for (; i + 4 <= n; i += 4) {
            v4f va = ld4(pa + i), vb = ld4(pb + i), u = va - vb;
            aa += va * va;
            ab += vb * vb;
            au += u * u;
            if (p0) {
                v4f d = va - ld4(p0 + i);
                ai += d * d;
            }
            cn += count4(~(abs4(va) <= big));
        }
        float sa = hsum4(aa), sb = hsum4(ab), su = hsum4(au), si = hsum4(ai);
        for (; i < n; i++) {
            float va = pa[i], vb = pb[i], u = va - vb;
            sa += va * va;
            sb += vb * vb;
            su += u * u;
            if (p0) {
                float d = va - p0[i];
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
    for (int k = 0; k < 4; k++) sums[k] = t[k];
    *nonfinite = nf;
}

void nv_cpu_dyn_scale_copy(nv_real *dst, const nv_real *src, int64_t n, float scale) {
    const v4f s = splat4(scale);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) st4(dst + i, s * ld4(src + i));
    for (; i < n; i++) dst[i] = scale * src[i];
}
