/* lanes.h: four float lanes at a time with GCC/Clang vector extensions (SSE on
 * x86-64, NEON on arm64, plain code elsewhere), and the optimisers' arithmetic on
 * one element or four lanes. Private to the training kernels: kernels.c (the
 * update kernels) and dyn_kernels.c (the recorder's update fused with its
 * statistics) both apply an update through these functions, so the two give the
 * same bits by construction. Only IEEE operations that round identically per lane
 * are used (add, mul, div, sqrt, compare, bit select; no fma: the build has
 * neither -ffast-math nor contraction under -std=c11), so a lane gives the bits of
 * the scalar expression and a loop's result does not depend on where its vector
 * part stops.
 */
#ifndef NERVE_TRAIN_LANES_H
#define NERVE_TRAIN_LANES_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "nerve/netspec.h"

typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

/* Unaligned loads and stores (parameter offsets are not multiples of 4). */
static inline v4f ld4(const float *p) {
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void st4(float *p, v4f v) { memcpy(p, &v, sizeof v); }
static inline v4f splat4(float a) { return (v4f){a, a, a, a}; }
/* m ? a : b per lane, m a comparison result (all ones or zero): a bit select. */
static inline v4f sel4(v4i m, v4f a, v4f b) { return (v4f)((m & (v4i)a) | (~m & (v4i)b)); }
/* |v| per lane: the sign bit cleared (exact, NaN stays NaN). */
static inline v4f abs4(v4f v) { return (v4f)((v4i)v & (v4i){0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff}); }
/* Per-lane sqrt, correctly rounded like sqrtf, so the bits match the scalar loop:
 * SSE's sqrtps on x86-64 (the generic extensions have no vector sqrt, and four
 * sqrtf calls each carry a branch for errno: Adam's update ran 2.4x slower). */
static inline v4f sqrt4(v4f v) {
#if defined(__SSE__) && (defined(__GNUC__) || defined(__clang__))
    return __builtin_ia32_sqrtps(v);
#else
    return (v4f){sqrtf(v[0]), sqrtf(v[1]), sqrtf(v[2]), sqrtf(v[3])};
#endif
}
/* (l0 + l1) + (l2 + l3): the order in which the recorder's sums combine lanes
 * (include/nerve/dyn_kernels.h). */
static inline float hsum4(v4f a) { return (a[0] + a[1]) + (a[2] + a[3]); }
/* A comparison mask (-1 / 0 per lane) as counts to add. */
static inline v4i count4(v4i m) { return -m; }
static inline int64_t hsumi4(v4i a) { return (int64_t)a[0] + a[1] + a[2] + a[3]; }

/* c ? a : b on scalars, the same bit select without a branch. */
static inline float sel1(int c, float a, float b) {
    uint32_t ua, ub, m = (uint32_t)0 - (uint32_t)(c != 0);
    memcpy(&ua, &a, 4);
    memcpy(&ub, &b, 4);
    uint32_t u = (ua & m) | (ub & ~m);
    float r;
    memcpy(&r, &u, 4);
    return r;
}

/* ---- the activations' backward, one element (…1) or four lanes (…4) -----------------
 * dx from the activation's input x (pre-activation), its output y and dLoss/dy, as
 * PyTorch's CPU kernels compute it. Callers pass `act` as a constant, so that each
 * loop keeps one case, and load x and y only for the activations that read them
 * (act_bwd_reads_x, act_bwd_reads_y). */
static inline int act_bwd_reads_x(int act) { return act == NV_ACT_LEAKY_RELU; }
static inline int act_bwd_reads_y(int act) {
    return act == NV_ACT_RELU || act == NV_ACT_TANH || act == NV_ACT_SIGMOID;
}
static inline v4f act_bwd4(int act, float slope, v4f x, v4f y, v4f dy) {
    const v4f zero = splat4(0.0f), one = splat4(1.0f);
    switch (act) {
    case NV_ACT_RELU: return sel4(y <= zero, zero, dy);                  /* threshold_backward on y */
    case NV_ACT_LEAKY_RELU: return sel4(x > zero, dy, dy * splat4(slope)); /* from x */
    case NV_ACT_TANH: return dy * (one - y * y);
    case NV_ACT_SIGMOID: return dy * (one - y) * y;
    default: return dy; /* identity */
    }
}
static inline float act_bwd1(int act, float slope, float x, float y, float dy) {
    switch (act) {
    case NV_ACT_RELU: return sel1(y <= 0.0f, 0.0f, dy);
    case NV_ACT_LEAKY_RELU: return sel1(x > 0.0f, dy, dy * slope);
    case NV_ACT_TANH: return dy * (1.0f - y * y);
    case NV_ACT_SIGMOID: return dy * (1.0f - y) * y;
    default: return dy;
    }
}

/* ---- the optimisers, one element (…1) or four lanes (…4) ----------------------------
 * Each follows PyTorch's CPU kernels operation by operation (kernels.c). They take
 * the parameter's value and return its new value; the state is updated in place. */

/* L2 weight decay, added to the gradient before the update: g + wd * w. */
static inline v4f decay4(v4f g, v4f w, float wd) { return g + splat4(wd) * w; }
static inline float decay1(float g, float w, float wd) { return g + wd * w; }

/* SGD, by mode: SGD_PLAIN w - lr * g; with momentum, buf = momentum * buf + g
 * (SGD_FIRST: buf = g, as PyTorch clones the gradient on the first step), then
 * w - lr * buf. Element i of buf; callers pass the mode as a constant, so each
 * loop has one body. */
enum { SGD_PLAIN, SGD_FIRST, SGD_MOMENTUM };
static inline int sgd_mode(float momentum, int first) {
    return momentum == 0.0f ? SGD_PLAIN : first ? SGD_FIRST : SGD_MOMENTUM;
}
static inline v4f sgd4(v4f w, v4f g, float *buf, int64_t i, float lr, float momentum, int mode) {
    if (mode == SGD_PLAIN) return w - splat4(lr) * g; /* buf unused (may be NULL) */
    v4f b = mode == SGD_FIRST ? g : splat4(momentum) * ld4(buf + i) + g;
    st4(buf + i, b);
    return w - splat4(lr) * b;
}
static inline float sgd1(float w, float g, float *buf, int64_t i, float lr, float momentum, int mode) {
    if (mode == SGD_PLAIN) return w - lr * g;
    float b = mode == SGD_FIRST ? g : momentum * buf[i] + g;
    buf[i] = b;
    return w - lr * b;
}

/* Adam's constants for one step: (1 - beta) rounded once from double, as PyTorch
 * passes alpha = 1 - beta1 from Python; step_size and bc2_sqrt from nv_adam_factors. */
typedef struct {
    float b1, b2, a1, a2, eps, neg, bc;
} adam_k;
static inline adam_k adam_k_of(float beta1, float beta2, float eps, float step_size, float bc2_sqrt) {
    return (adam_k){beta1, beta2, (float)(1.0 - (double)beta1), (float)(1.0 - (double)beta2), eps, -step_size,
                    bc2_sqrt};
}
static inline v4f adam4(v4f w, v4f g, float *m, float *v, const adam_k *k) {
    v4f mi = ld4(m) * splat4(k->b1) + splat4(k->a1) * g;
    v4f vi = ld4(v) * splat4(k->b2) + (splat4(k->a2) * g) * g;
    st4(m, mi);
    st4(v, vi);
    v4f denom = sqrt4(vi) / splat4(k->bc) + splat4(k->eps);
    return w + (splat4(k->neg) * mi) / denom;
}
static inline float adam1(float w, float g, float *m, float *v, const adam_k *k) {
    float mi = *m * k->b1 + k->a1 * g;       /* exp_avg.mul_(b1).add_(g, alpha=1-b1) */
    float vi = *v * k->b2 + (k->a2 * g) * g; /* exp_avg_sq.mul_(b2).addcmul_(g, g, 1-b2) */
    *m = mi;
    *v = vi;
    float denom = sqrtf(vi) / k->bc + k->eps; /* (sqrt(v) / sqrt(bc2)).add_(eps) */
    return w + (k->neg * mi) / denom;         /* addcdiv_(m, denom, value=-step_size) */
}

#endif
