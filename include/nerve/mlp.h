/* mlp.h: multilayer perceptrons, their training step, and the one place that
 * chooses the backend (CPU on OpenBLAS, or CUDA on cuBLAS + cuda/ kernels).
 *
 * A network with L affine layers maps widths[0] -> widths[1] -> ... -> widths[L]:
 * widths[0] is the input dimension, widths[L] the number of classes (logits). Every
 * hidden layer applies the same activation; the logits feed softmax cross-entropy.
 *
 * Parameters live in one flat float array (as one allocation, like llm.c), layer
 * by layer: W_l (widths[l+1], widths[l]) row-major -- PyTorch's nn.Linear layout --
 * then b_l (widths[l+1]). The optimiser state is two more arrays of the same length
 * (SGD uses the first as momentum buffer; Adam uses both as m and v).
 *
 * Layer numbering for activations (snapshots): 0 is the input, l = 1..L-1 the
 * output of hidden layer l after its activation (pre = 1: before it), L the logits.
 */
#ifndef NERVE_MLP_H
#define NERVE_MLP_H

#include "nerve/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NV_MAX_LAYERS 64

typedef enum { NV_ACT_RELU = 0, NV_ACT_LEAKY_RELU, NV_ACT_TANH, NV_ACT_SIGMOID, NV_ACT_IDENTITY } nv_activation;
typedef enum { NV_INIT_HE = 0, NV_INIT_XAVIER } nv_init_kind;
typedef enum { NV_OPT_SGD = 0, NV_OPT_ADAM } nv_opt_kind;

typedef struct {
    int nlayers;                          /* L, number of affine layers, 1..NV_MAX_LAYERS */
    int64_t widths[NV_MAX_LAYERS + 1];    /* widths[0] input .. widths[L] classes */
    nv_activation act;                    /* hidden activation */
    float leaky_slope;                    /* for NV_ACT_LEAKY_RELU, e.g. 0.01 */
    nv_init_kind init;                    /* He (normal, std sqrt(2/fan_in)) or Xavier
                                             (normal, std sqrt(2/(fan_in+fan_out))); biases 0 */
} nv_mlp_spec;

typedef struct {
    nv_opt_kind kind;
    float lr;
    float momentum;      /* SGD: PyTorch semantics, buf = momentum*buf + grad (+ wd*w) */
    float weight_decay;  /* L2 added to the gradient (PyTorch's weight_decay, both optimisers) */
    float beta1, beta2, eps; /* Adam, PyTorch semantics and bias correction */
} nv_optim_spec;

const char *nv_activation_name(nv_activation a);
/* Parses "relu", "leaky_relu", "tanh", "sigmoid", "identity"; -1 if unknown. */
int nv_activation_parse(const char *s);

/* Number of parameters, and the offsets of W_l and b_l in the flat array. */
int64_t nv_mlp_param_count(const nv_mlp_spec *s);
int64_t nv_mlp_weight_offset(const nv_mlp_spec *s, int layer);
int64_t nv_mlp_bias_offset(const nv_mlp_spec *s, int layer);

/* Fills params (nv_mlp_param_count floats) from the counter-based RNG:
 * W_l[i] = std_l * nv_rng_normal(seed, NV_STREAM_INIT, (l << 40) | i), biases 0.
 * The same seed gives the same weights on every backend. */
void nv_mlp_init_params(const nv_mlp_spec *s, uint64_t seed, nv_real *params);

nv_status nv_mlp_spec_validate(const nv_mlp_spec *s, nv_error *err);
/* Checks an optimiser spec (lr > 0, momentum in [0, 1), weight_decay >= 0, Adam's
 * betas in [0, 1) and eps > 0); NV_EINPUT naming the field otherwise. */
nv_status nv_optim_spec_validate(const nv_optim_spec *o, nv_error *err);
/* The largest of widths[0..L]: sizes the backends' workspaces. */
int64_t nv_mlp_max_width(const nv_mlp_spec *s);

/* Rows per batch of evaluate and activations: fixed, so the loss sums and the
 * activations do not depend on the caller's batch size. */
#define NV_EVAL_ROWS 4096

/* --- the backend -------------------------------------------------------------
 * A trainer holds one network's parameters, gradients, optimiser state and
 * workspace on one device, plus up to NV_SLOTS bound data sets (train, test) kept
 * on that device so a step moves only the minibatch indices. */
enum { NV_SLOT_TRAIN = 0, NV_SLOT_TEST = 1, NV_SLOTS = 2 };

typedef enum { NV_DEVICE_AUTO = 0, NV_DEVICE_CPU, NV_DEVICE_CUDA } nv_device_kind;

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
} nv_backend;

/* The one place that chooses the backend. AUTO takes CUDA when this build has it
 * and a device is usable, else the CPU, writing one line about the fallback to
 * *note (NULL when there is nothing to say). Asking for CUDA where there is none is
 * NV_EDEVICE with a message saying why. */
nv_status nv_backend_select(nv_device_kind want, const nv_backend **out, const char **note,
                            nv_error *err);
const nv_backend *nv_backend_cpu(void);
/* NULL when the build has no CUDA backend or libnerve_cuda.so cannot be loaded. */
const nv_backend *nv_backend_cuda(void);
/* 1 when this build has CUDA and a device answers; `why` gets the reason otherwise.
 * Checks for the NVIDIA driver first and loads libnerve_cuda.so (cuBLAS etc.) only
 * when it finds a device; the first call decides for the whole process. */
int nv_cuda_usable(char *why, size_t why_len);

#ifdef __cplusplus
}
#endif
#endif
