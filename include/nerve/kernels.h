/* kernels.h: the numeric building blocks of MLP training, each written twice with
 * one contract: a plain loop CPU reference (src/train/kernels.c, nv_cpu_*), which the
 * CPU backend uses as is, and a CUDA twin (cuda/kernels.cu, nv_cuda_*) that the CUDA
 * backend launches. tests/unit/test_kernels.c checks the references (finite
 * differences for every backward); tests/gpu/test_kernels_parity.c checks each twin
 * against its reference (|gpu - cpu| <= atol + rtol*|cpu|, tolerances stated there).
 *
 * Conventions: matrices are row-major, shapes in the comments ((rows, cols)); all
 * sizes are int64_t. The affine layers themselves are BLAS / cuBLAS sgemm calls and
 * have no kernel here. Reductions run in a fixed order (deterministic): a column sum
 * goes over rows in order, a loss sum is accumulated in double.
 *
 * The nv_cuda_* functions take device pointers, launch on `stream` (a cudaStream_t
 * passed as void *, NULL for the default stream) and do not synchronise; they return
 * NV_EDEVICE with file:line when a launch fails. They exist only in builds with the
 * CUDA backend (make CUDA=1): only backend.c and the tests in tests/gpu call them.
 */
#ifndef NERVE_KERNELS_H
#define NERVE_KERNELS_H

#include <math.h>

#include "nerve/common.h"
#include "nerve/mlp.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- CPU references ---------------------------------------------------------- */

/* z (rows, cols) += bias (cols), broadcast over rows. */
void nv_cpu_bias_add(nv_real *z, const nv_real *bias, int64_t rows, int64_t cols);
/* db (cols) = sum over rows of dz (rows, cols), rows in order 0..rows-1 (float). */
void nv_cpu_bias_grad(nv_real *db, const nv_real *dz, int64_t rows, int64_t cols);

/* y = act(x) elementwise over n values; y may equal x (in place). */
void nv_cpu_act_forward(nv_activation act, float slope, const nv_real *x, nv_real *y, int64_t n);
/* dx = dy * act'(x), given the pre-activation x and the output y = act(x) (each
 * activation reads the one PyTorch's backward reads: relu and sigmoid and tanh the
 * output, leaky relu the input); dx may equal dy. relu'(0) = 0, leaky'(0) = slope,
 * as in PyTorch. */
void nv_cpu_act_backward(nv_activation act, float slope, const nv_real *x, const nv_real *y,
                         const nv_real *dy, nv_real *dx, int64_t n);

/* Softmax cross-entropy of logits (rows, classes) against labels y (rows), with the
 * maximum subtracted before exp (stable). Per row: row_loss[r] = logsumexp(z_r) -
 * z_r[y_r] (float); row_correct[r] = 1 when the first index of the row's maximum is
 * y_r (NULL to skip); when dz != NULL, dz (rows, classes) = scale * (softmax(z_r) -
 * onehot(y_r)), scale = 1/b for the mean loss of a batch. dz may equal logits. */
void nv_cpu_softmax_xent(const nv_real *logits, const int32_t *y, int64_t rows, int64_t classes,
                         float scale, nv_real *row_loss, int32_t *row_correct, nv_real *dz);
/* The sum of n values in double, in index order; and the count of nonzero ints. */
double nv_cpu_sum_f64(const nv_real *v, int64_t n);
int64_t nv_cpu_count_nonzero(const int32_t *v, int64_t n);

/* out (b, d) = x[idx[i]] rows of x (n, d); yout (b) = y[idx[i]] (when y != NULL). */
void nv_cpu_gather_rows(const nv_real *x, const int32_t *y, int64_t d, const uint32_t *idx,
                        int64_t b, nv_real *out, int32_t *yout);

/* g += wd * w over n values (PyTorch's weight_decay: L2 added to the gradient). */
void nv_cpu_weight_decay(nv_real *g, const nv_real *w, float wd, int64_t n);
/* PyTorch SGD (dampening 0, no Nesterov): with momentum, buf = g on the first step
 * (first != 0) and buf = momentum*buf + g after, then w -= lr*buf; without momentum
 * (momentum == 0) w -= lr*g and buf is not touched (may be NULL). */
void nv_cpu_sgd_update(nv_real *w, nv_real *buf, const nv_real *g, int64_t n, float lr,
                       float momentum, int first);
/* PyTorch Adam (amsgrad off): m = beta1*m + (1-beta1)*g, v = beta2*v + (1-beta2)*g*g,
 * w -= step_size * m / (sqrt(v)/bc2_sqrt + eps), with step_size and bc2_sqrt from
 * nv_adam_factors for the 1-based step count (bias correction). */
void nv_cpu_adam_update(nv_real *w, nv_real *m, nv_real *v, const nv_real *g, int64_t n,
                        float beta1, float beta2, float eps, float step_size, float bc2_sqrt);

/* Adam's bias-correction factors for step t >= 1, computed in double and rounded
 * once, as PyTorch computes them in Python floats: step_size = lr / (1 - beta1^t)
 * (lr: the step's rate, nv_optim_lr),
 * bc2_sqrt = sqrt(1 - beta2^t). */
static inline void nv_adam_factors(double lr, float beta1, float beta2, int64_t t, float *step_size,
                                   float *bc2_sqrt) {
    double bc1 = 1.0 - pow((double)beta1, (double)t);
    double bc2 = 1.0 - pow((double)beta2, (double)t);
    *step_size = (float)(lr / bc1);
    *bc2_sqrt = (float)sqrt(bc2);
}

/* --- CUDA twins (device pointers; builds with the CUDA backend only) ----------- */

nv_status nv_cuda_bias_add(nv_real *z, const nv_real *bias, int64_t rows, int64_t cols,
                           void *stream, nv_error *err);
nv_status nv_cuda_bias_grad(nv_real *db, const nv_real *dz, int64_t rows, int64_t cols,
                            void *stream, nv_error *err);
nv_status nv_cuda_act_forward(nv_activation act, float slope, const nv_real *x, nv_real *y,
                              int64_t n, void *stream, nv_error *err);
nv_status nv_cuda_act_backward(nv_activation act, float slope, const nv_real *x,
                               const nv_real *y, const nv_real *dy, nv_real *dx, int64_t n,
                               void *stream, nv_error *err);
nv_status nv_cuda_softmax_xent(const nv_real *logits, const int32_t *y, int64_t rows,
                               int64_t classes, float scale, nv_real *row_loss,
                               int32_t *row_correct, nv_real *dz, void *stream, nv_error *err);
/* *sum (one device double) = the sum of v (n) in double, by one block in a fixed
 * tree order (deterministic; not the CPU's order, so equal to rounding of double);
 * *count (one device int64, when count and flags are not NULL) = nonzero flags.
 * When bad != NULL (one device int) and the sum is not finite, *bad is set to mark
 * if it is still 0 (sticky: the CUDA backend's NaN guard records the first bad
 * step). */
nv_status nv_cuda_reduce_loss(const nv_real *v, const int32_t *flags, int64_t n, double *sum,
                              long long *count, int *bad, int mark, void *stream, nv_error *err);
nv_status nv_cuda_gather_rows(const nv_real *x, const int32_t *y, int64_t d, const uint32_t *idx,
                              int64_t b, nv_real *out, int32_t *yout, void *stream,
                              nv_error *err);
/* The optimiser twins; when bad != NULL they do nothing while the device int *bad is
 * nonzero (so a non-finite loss freezes the state without a host round trip). */
nv_status nv_cuda_weight_decay(nv_real *g, const nv_real *w, float wd, int64_t n,
                               const int *bad, void *stream, nv_error *err);
nv_status nv_cuda_sgd_update(nv_real *w, nv_real *buf, const nv_real *g, int64_t n, float lr,
                             float momentum, int first, const int *bad, void *stream,
                             nv_error *err);
nv_status nv_cuda_adam_update(nv_real *w, nv_real *m, nv_real *v, const nv_real *g, int64_t n,
                              float beta1, float beta2, float eps, float step_size,
                              float bc2_sqrt, const int *bad, void *stream, nv_error *err);
/* out[k] = nv_rng_u32(seed, stream_id, base + k) and nv_rng_normal(seed, stream_id,
 * base + k) for k < n, drawn on the device (the RNG's GPU twin). */
nv_status nv_cuda_rng_u32(uint64_t seed, uint32_t stream_id, uint64_t base, int64_t n,
                          uint32_t *out, void *stream, nv_error *err);
nv_status nv_cuda_rng_normal(uint64_t seed, uint32_t stream_id, uint64_t base, int64_t n,
                             nv_real *out, void *stream, nv_error *err);

/* Device memory for tests and tools (checked, file:line in the message). */
nv_status nv_cuda_malloc(void **p, size_t bytes, nv_error *err);
void nv_cuda_free(void *p); /* accepts NULL */
nv_status nv_cuda_upload(void *dst, const void *src, size_t bytes, nv_error *err);
nv_status nv_cuda_download(void *dst, const void *src, size_t bytes, nv_error *err);
nv_status nv_cuda_sync(nv_error *err);
/* The device's free and total memory (cudaMemGetInfo), for the tests' leak checks:
 * a plug-in function, because the runtime under the CUDA-on-CPU toolchain defines
 * cudaMemGetInfo inline in its header, with no symbol to look up. */
nv_status nv_cuda_mem_info(size_t *free_bytes, size_t *total_bytes, nv_error *err);

/* Internal to the backend choice (src/train/backend.c, src/core/device.c): the CUDA
 * backend's table and the device probe behind nv_cuda_usable. Like every nv_cuda_*
 * function these live in libnerve_cuda.so, which the library looks up on demand
 * (nv_cuda_sym, include/nerve/device.h); only the GPU tests link it directly. */
const nv_backend *nv_backend_cuda_table(void);
int nv_cuda_probe(char *why, size_t why_len);

#ifdef __cplusplus
}
#endif
#endif
