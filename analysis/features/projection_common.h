/* projection_common.h: the per-number pieces of the projections (include/nerve/
 * projections.h), written once and compiled twice: as plain C into the CPU reference
 * (analysis/features/projections.c) and as __host__ __device__ code into the CUDA
 * twin (cuda/projections.cu). On the device every product and sum is explicitly
 * rounded (__fmul_rn, __fadd_rn: nvcc would otherwise contract a*b+c into an FMA),
 * on the host they are plain C (-std=c11 does not contract), so both give the same
 * bits in the same order. Internal: included by those two files only.
 */
#ifndef NERVE_PROJECTION_COMMON_H
#define NERVE_PROJECTION_COMMON_H

#include "nerve/netspec.h"
#include "nerve/projections.h"

#ifdef __CUDACC__
#define PJ_FN static __host__ __device__ __forceinline__
#else
#define PJ_FN static inline
#endif
#if defined(__CUDA_ARCH__)
#define PJ_MUL(a, b) __fmul_rn((a), (b))
#define PJ_ADD(a, b) __fadd_rn((a), (b))
#define PJ_SUB(a, b) __fsub_rn((a), (b))
#else
#define PJ_MUL(a, b) ((a) * (b))
#define PJ_ADD(a, b) ((a) + (b))
#define PJ_SUB(a, b) ((a) - (b))
#endif

/* The activation's pass of signal g by `rule`, at pre-activation z with output a.
 * g * act'(z) is nv_cpu_act_backward's expression (relu and sigmoid and tanh read
 * the output, leaky relu the input; relu'(0) = 0). */
PJ_FN float pj_rule(int rule, int act, float slope, float g, float z, float a) {
    if (rule == NV_PROJ_DECONVNET) return g > 0.0f ? g : 0.0f;
    float d;
    switch (act) {
    case NV_ACT_RELU: d = a <= 0.0f ? 0.0f : g; break;
    case NV_ACT_LEAKY_RELU: d = z > 0.0f ? g : PJ_MUL(g, slope); break;
    case NV_ACT_TANH: d = PJ_MUL(g, PJ_SUB(1.0f, PJ_MUL(a, a))); break;
    case NV_ACT_SIGMOID: d = PJ_MUL(PJ_MUL(g, PJ_SUB(1.0f, a)), a); break;
    default: d = g; break;
    }
    if (rule == NV_PROJ_GUIDED) return d > 0.0f ? d : 0.0f;
    return d;
}

/* One term of a sum in index order: acc + v * w. Zero terms are skipped: adding
 * v * w = +-0 leaves a sum that started at +0 unchanged (it can never be -0), so
 * skipping is exact, and it saves the work for the zeros a ReLU leaves. */
PJ_FN float pj_acc(float acc, float v, float w) { return v != 0.0f ? PJ_ADD(acc, PJ_MUL(v, w)) : acc; }

#endif
