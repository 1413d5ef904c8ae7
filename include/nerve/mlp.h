/* mlp.h: multilayer perceptrons, their training step, and the one place that
 * chooses the backend (CPU on OpenBLAS, or CUDA on cuBLAS + cuda/ kernels).
 *
 * A network with L affine layers maps widths[0] -> widths[1] -> ... -> widths[L]:
 * widths[0] is the input dimension, widths[L] the number of classes (logits). Every
 * hidden layer applies the same activation; the logits feed softmax cross-entropy.
 *
 * The network's description and its flat parameter layout are netspec.h's (the
 * store writes and reads them too). The optimiser state is two more arrays of the
 * parameters' length (SGD uses the first as momentum buffer; Adam uses both as m
 * and v).
 */
#ifndef NERVE_MLP_H
#define NERVE_MLP_H

#include <math.h>

#include "nerve/common.h"
#include "nerve/device.h"
#include "nerve/dynamics_types.h"
#include "nerve/netspec.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { NV_OPT_SGD = 0, NV_OPT_ADAM } nv_opt_kind;

typedef struct {
    nv_opt_kind kind;
    float lr;
    float momentum;      /* SGD: PyTorch semantics, buf = momentum*buf + grad (+ wd*w) */
    float weight_decay;  /* L2 added to the gradient (PyTorch's weight_decay, both optimisers) */
    float beta1, beta2, eps; /* Adam, PyTorch semantics and bias correction */
    int64_t lr_half_life; /* train.lr_half_life: the learning rate halves every this many
                             optimiser steps, continuously (0 = constant; nv_optim_lr) */
} nv_optim_spec;

/* The learning rate of optimiser step t >= 1: lr * 0.5^((t - 1) / lr_half_life), in
 * double, as PyTorch's LambdaLR hands it to the optimiser (and as TensorFlow's
 * exponential_decay(staircase=False) computes it from the 0-based step); exactly lr
 * when the rate is constant. Computed on the host by both backends, so they agree. */
static inline double nv_optim_lr(const nv_optim_spec *o, int64_t t) {
    if (o->lr_half_life <= 0) return (double)o->lr;
    return (double)o->lr * exp2(-(double)(t - 1) / (double)o->lr_half_life);
}

/* Fills params (nv_mlp_param_count floats) from the counter-based RNG:
 * W_l[i] = std_l * nv_rng_normal(seed, NV_STREAM_INIT, (l << 40) | i), biases 0.
 * The same seed gives the same weights on every backend. */
void nv_mlp_init_params(const nv_mlp_spec *s, uint64_t seed, nv_real *params);

/* Checks an optimiser spec (lr > 0, momentum in [0, 1), weight_decay >= 0, Adam's
 * betas in [0, 1) and eps > 0); NV_EINPUT naming the field otherwise. */
nv_status nv_optim_spec_validate(const nv_optim_spec *o, nv_error *err);

/* Rows per batch of evaluate and activations: fixed, so the loss sums and the
 * activations do not depend on the caller's batch size. */
#define NV_EVAL_ROWS 4096

/* --- the backend -------------------------------------------------------------
 * A trainer holds one network's parameters, gradients, optimiser state and
 * workspace on one device, plus up to NV_SLOTS bound data sets (train, test) kept
 * on that device so a step moves only the minibatch indices. */
enum { NV_SLOT_TRAIN = 0, NV_SLOT_TEST = 1, NV_SLOTS = 2 };

typedef struct nv_trainer nv_trainer;   /* opaque; backend-specific */

/* One layer to copy out while evaluating (nv_backend.evaluate_capture). */
typedef struct {
    int layer;               /* 0 = the input, 1..L-1 hidden, L = logits */
    int pre;                 /* 1: a hidden layer's pre-activation */
    nv_real *out;            /* (rows of the slot, widths[layer]), host memory */
} nv_capture;

typedef struct {
    const char *name;  /* "cpu" or "cuda" */
    nv_status (*create)(const nv_mlp_spec *spec, const nv_optim_spec *opt, int64_t max_batch,
                        nv_trainer **out, nv_error *err);
    void (*destroy)(nv_trainer *t);  /* accepts NULL */
    /* Copies parameters and optimiser state (each nv_mlp_param_count floats; state
     * may be NULL for zeros) and the step count (Adam's bias correction) in. */
    nv_status (*set_state)(nv_trainer *t, const nv_real *params, const nv_real *state1,
                           const nv_real *state2, int64_t step, nv_error *err);
    nv_status (*get_state)(nv_trainer *t, nv_real *params, nv_real *state1, nv_real *state2,
                           int64_t *step, nv_error *err);
    /* Binds data set rows x (n, d), labels y (n) to a slot; the backend keeps its own
     * copy (device memory for CUDA). */
    nv_status (*bind)(nv_trainer *t, int slot, const nv_real *x, const int32_t *y, int64_t n,
                      nv_error *err);
    /* One SGD/Adam step on rows idx[0..b) of the train slot: forward, mean softmax
     * cross-entropy, backward, weight decay, update. When loss != NULL the batch's
     * mean loss (before the update) is written there (a sync on the GPU).
     * A batch loss that is not finite (NaN/Inf: a diverging run) is NV_ENUMERIC with
     * a message naming the step; that step and every later one leave the parameters
     * and optimiser state as they were, so the caller still holds the last good
     * state. Until set_state restores a state, get_state, evaluate and activations
     * return NV_ENUMERIC too (get_state still fills in that last good state). On CUDA
     * the test runs on the device, so with loss == NULL the error is reported by the
     * next call that synchronises (a step with loss, evaluate, get_state,
     * activations). max_batch bounds b. */
    nv_status (*step)(nv_trainer *t, const uint32_t *idx, int64_t b, float *loss, nv_error *err);
    /* Loss summed over samples and number of correct argmax predictions over a
     * whole slot, in fixed-order batches (deterministic). */
    nv_status (*evaluate)(nv_trainer *t, int slot, double *loss_sum, int64_t *correct,
                          nv_error *err);
    /* Activations of `layer` (numbering above; pre = 1 for pre-activation of a
     * hidden layer) for rows [row0, row0+rows) of a slot, into host memory out
     * (rows, widths[layer]). */
    nv_status (*activations)(nv_trainer *t, int slot, int64_t row0, int64_t rows, int layer,
                             int pre, nv_real *out, nv_error *err);
    /* The gradient of the mean loss over rows idx[0..b) of the train slot, without
     * weight decay and without an update (nv_mlp_param_count floats into host grad),
     * and that mean loss into *loss when loss != NULL. For tests (finite differences,
     * the PyTorch comparison) and tools; training uses step. */
    nv_status (*gradient)(nv_trainer *t, const uint32_t *idx, int64_t b, float *loss,
                          nv_real *grad, nv_error *err);
    /* evaluate, copying on the way the activations of cap[0..ncap) for every row of
     * the slot into cap[i].out (n rows x widths[layer]): the same floats activations
     * gives, without another forward pass (snapshot epochs evaluate anyway).
     * Optional: NULL where a backend lacks it (CUDA for now), and callers then use
     * evaluate and activations. */
    nv_status (*evaluate_capture)(nv_trainer *t, int slot, double *loss_sum, int64_t *correct,
                                  const nv_capture *cap, int ncap, nv_error *err);
    /* step, recording on the way what req asks for into out's host buffers (the
     * dynamics recorder, include/nerve/dynamics_types.h): the same step, to the
     * same bytes of parameters and state afterwards, as `step` (the recording only
     * reads). Both backends have it; optional for others (the recorder then trains
     * on the CPU backend, with a note). */
    nv_status (*step_record)(nv_trainer *t, const uint32_t *idx, int64_t b, float *loss,
                             const nv_dyn_request *req, nv_dyn_step *out, nv_error *err);
} nv_backend;

/* What every backend's step_record shares (src/train/backend.c):
 * nv_dyn_step_check: NV_EINTERNAL naming the layer when req asks for layer or unit
 * statistics and o lacks a unit buffer they fill (L layers);
 * nv_dyn_step_finish_units: given layer k's per-unit batch sums in o (the count of
 * samples active in NV_DU_FRAC_ACTIVE, with unit_stats the sum of outputs in
 * NV_DU_MEAN_ACT), its dead-unit count into o->layer[k], then with unit_stats both
 * turned into means over the batch of b. */
nv_status nv_dyn_step_check(const nv_dyn_request *req, const nv_dyn_step *o, int L, nv_error *err);
void nv_dyn_step_finish_units(nv_dyn_step *o, int k, int64_t out, int64_t b, int unit_stats);

/* The CPU backend's pieces that the dynamics reconstruction reuses, so that a
 * rebuilt step runs the very calls training ran:
 * nv_cpu_layer_grad: dW (out, in) = dz^T a and db (out) = the column sums of dz,
 * for dz (rows, out) = dLossmean/dpre and a (rows, in) the layer's input (sgemm
 * and nv_cpu_bias_grad, as the backward pass);
 * nv_cpu_apply_update: weight decay into grads, then the optimiser's update of
 * params/state1/state2 (n values) as optimiser step number `step` (1-based). */
void nv_cpu_layer_grad(const nv_real *dz, const nv_real *a, int64_t rows, int64_t in, int64_t out,
                       nv_real *dW, nv_real *db);
void nv_cpu_apply_update(const nv_optim_spec *o, nv_real *params, nv_real *state1, nv_real *state2,
                         nv_real *grads, int64_t n, int64_t step);

/* The training backend under the device rule of device.h (stage "training"): the
 * CPU backend, or the CUDA one (NV_ENODEVICE / NV_EDEVICE when asked for and not
 * usable); *note gets the device layer's fallback note for AUTO. */
nv_status nv_backend_select(nv_device_kind want, const nv_backend **out, const char **note,
                            nv_error *err);
const nv_backend *nv_backend_cpu(void);
/* NULL when the build has no CUDA backend or libnerve_cuda.so cannot be loaded. */
const nv_backend *nv_backend_cuda(void);

#ifdef __cplusplus
}
#endif
#endif
