/* dyn_kernels.h: the statistics kernels of the training-dynamics recorder
 * (include/nerve/dynamics.h), each written twice with one contract, like
 * kernels.h: a CPU reference (src/train/dyn_kernels.c, nv_cpu_dyn_*), which the
 * CPU backend's step_record runs on the buffers its backward pass already holds,
 * and a CUDA twin (cuda/dyn_kernels.cu, nv_cuda_dyn_*). tests/unit/test_dynamics.c
 * checks the references against plain double loops and finite differences;
 * tests/gpu/test_dynamics_parity.c checks each twin against its reference.
 *
 * The order of every float sum is part of the contract, so that the twin can
 * reproduce it bit for bit (the GPU code uses explicitly rounded __fadd_rn /
 * __fmul_rn, so nvcc cannot contract them into fma):
 *  - column sums over a batch (rows, cols): each column sums its rows in order
 *    0..rows-1 in float;
 *  - a row's sum of squares of n values: four float lanes, lane j summing the
 *    squares of elements j, j+4, j+8, ... below n4 = n - n % 4, then
 *    (lane0 + lane1) + (lane2 + lane3), then the tail elements n4..n-1 in order;
 *  - a layer's total: the row sums of its weight rows in row order, then the bias
 *    vector's (as one row), accumulated in double.
 * Counts are exact integers. A layer's parameters are one block of the flat array
 * (netspec.h): W (out, in) row-major, then b (out).
 *
 * The nv_cuda_* functions take device pointers, launch on `stream` (NULL: the
 * default stream) and do not synchronise; NV_EDEVICE with file:line when a launch
 * fails. They exist only in builds with the CUDA backend.
 */
#ifndef NERVE_DYN_KERNELS_H
#define NERVE_DYN_KERNELS_H

#include "nerve/common.h"
#include "nerve/mlp.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- CPU references ---------------------------------------------------------- */

/* The sum of squares of x[0..n) in the lane order above (float). */
float nv_cpu_dyn_sumsq(const nv_real *x, int64_t n);

/* out[r] = the sum of squares of row r of x (rows, cols), lane order. */
void nv_cpu_dyn_row_sumsq(const nv_real *x, int64_t rows, int64_t cols, nv_real *out);

/* Per unit (column) of a batch (rows, w), in one pass: sum_act[c] = the sum of
 * act[:, c]; n_active[c] = how many pre[:, c] > 0 (as a float); infl[c] = |sum of
 * act[:, c] * g[:, c]| (each product rounded, then added): the unit's influence
 * when act is its output and g = dLossmean/dact (Molchanov et al. 2017);
 * sum_abs[c] = the sum of |dz[:, c]|. Any output may be NULL (skipped); the inputs
 * only it needs are then not read. */
void nv_cpu_dyn_unit_stats(const nv_real *act, const nv_real *pre, const nv_real *g, const nv_real *dz,
                           int64_t rows, int64_t w, nv_real *sum_act, nv_real *n_active, nv_real *infl,
                           nv_real *sum_abs);

/* A hidden layer's activation backward and its unit statistics in one pass: dz =
 * act'(pre) * g, the bits nv_cpu_act_backward(act, slope, pre, post, g, dz, ...)
 * gives (dz may be g: in place), and the outputs of nv_cpu_dyn_unit_stats(post,
 * pre, g, dz, ...) with every statistic (none may be NULL): sum_act, n_active and
 * infl from the layer's output and g = dLossmean/doutput, sum_abs from the new dz.
 * The CPU backend's recorded step uses it; the CUDA backend runs the two apart. */
void nv_cpu_dyn_unit_backward(nv_activation act, float slope, const nv_real *post, const nv_real *pre,
                              const nv_real *g, nv_real *dz, int64_t rows, int64_t w, nv_real *sum_act,
                              nv_real *n_active, nv_real *infl, nv_real *sum_abs);

/* Gradient statistics of one layer block p = [W (out, in), b (out)]:
 * row_sq[j] (may be NULL) = sum of squares of W[j, :]; *total = the layer's sum of
 * squares (double, order above); counts[0] = entries with |g| > abs_thr, counts[1]
 * = with |g| > rel_thr, counts[2] = NaN or infinite entries (over W and b; a NaN
 * counts only in counts[2]). */
void nv_cpu_dyn_grad_stats(const nv_real *p, int64_t out, int64_t in, float abs_thr, float rel_thr,
                           nv_real *row_sq, double *total, int64_t counts[3]);

/* Update statistics of one layer block: before, after and w0 are the block before
 * the update, after it and at initialisation. u = after - before (float),
 * i = after - w0. row_sq[j] (may be NULL) = sum of squares of u over W[j, :];
 * sums[0..4) = the layer's sums of squares of after, before, u and i (double, order
 * above); *nonfinite = NaN or infinite entries of after. w0 may be NULL (sums[3] = 0). */
void nv_cpu_dyn_update_stats(const nv_real *before, const nv_real *after, const nv_real *w0,
                             int64_t out, int64_t in, nv_real *row_sq, double sums[4],
                             int64_t *nonfinite);

/* A layer's gradient statistics as nv_cpu_dyn_grad_stats gives them: the
 * thresholds in, the rest out (row_sq may be NULL). */
typedef struct {
    float alarm_abs, alarm_rel;
    nv_real *row_sq;
    double total;
    int64_t counts[3];
} nv_dyn_grad_out;

/* The optimiser step of o at 1-based step `step` on one layer block w = [W (out, in),
 * b (out)] with its state s1, s2 and gradient g (weight decay added to g first, as
 * the update kernels of kernels.h do: afterwards w, s1, s2 and g hold the same bits
 * as nv_cpu_weight_decay + nv_cpu_sgd_update / nv_cpu_adam_update leave), with the
 * statistics nv_cpu_dyn_update_stats(block before, block after, w0, ...) would give
 * and, when go is not NULL, those of nv_cpu_dyn_grad_stats on g before the weight
 * decay: one pass, without a copy of the block. The CPU backend's recorded step
 * uses it; the CUDA backend runs the update and the statistics kernels apart. */
void nv_cpu_dyn_update_fused(const nv_optim_spec *o, int64_t step, nv_real *w, nv_real *s1, nv_real *s2,
                             nv_real *g, const nv_real *w0, int64_t out, int64_t in, nv_dyn_grad_out *go,
                             nv_real *row_sq, double sums[4], int64_t *nonfinite);

/* dst[i] = scale * src[i] (the per-sample delta d = b * dz), n values. */
void nv_cpu_dyn_scale_copy(nv_real *dst, const nv_real *src, int64_t n, float scale);

/* --- CUDA twins (device pointers; builds with the CUDA backend only) ----------- */

nv_status nv_cuda_dyn_row_sumsq(const nv_real *x, int64_t rows, int64_t cols, nv_real *out,
                                void *stream, nv_error *err);
nv_status nv_cuda_dyn_unit_stats(const nv_real *act, const nv_real *pre, const nv_real *g,
                                 const nv_real *dz, int64_t rows, int64_t w, nv_real *sum_act,
                                 nv_real *n_active, nv_real *infl, nv_real *sum_abs, void *stream,
                                 nv_error *err);
/* row_sq: (out + 1) device floats, never NULL here (the row sums, then the bias's);
 * scratch: 3 * (out + 1) device int64; total: one device double; counts: three
 * device int64. */
nv_status nv_cuda_dyn_grad_stats(const nv_real *p, int64_t out, int64_t in, float abs_thr,
                                 float rel_thr, nv_real *row_sq, long long *scratch,
                                 double *total, long long *counts, void *stream, nv_error *err);
/* row_sq: (out + 1) device floats (u's row sums, then the bias's); scratch: 4 * (out
 * + 1) device floats and (out + 1) device int64 (scratch_i); sums: four device
 * doubles; nonfinite: one device int64. w0 may be NULL. */
nv_status nv_cuda_dyn_update_stats(const nv_real *before, const nv_real *after,
                                   const nv_real *w0, int64_t out, int64_t in, nv_real *row_sq,
                                   nv_real *scratch, long long *scratch_i, double *sums,
                                   long long *nonfinite, void *stream, nv_error *err);
nv_status nv_cuda_dyn_scale_copy(nv_real *dst, const nv_real *src, int64_t n, float scale,
                                 void *stream, nv_error *err);

#ifdef __cplusplus
}
#endif
#endif
