/* netspec.h: what a network is, as nerve stores it: a multilayer perceptron's
 * widths, activation and initialisation, and where each parameter lives in its one
 * flat array. Training (mlp.h) builds and trains networks from this description;
 * the store (snapshots, checkpoints) writes and reads it, so it sits below both.
 *
 * A network with L affine layers maps widths[0] -> widths[1] -> ... -> widths[L]:
 * widths[0] is the input dimension, widths[L] the number of classes (logits). Every
 * hidden layer applies the same activation; the logits feed softmax cross-entropy.
 *
 * Parameters live in one flat float array (as one allocation, like llm.c), layer
 * by layer: W_l (widths[l+1], widths[l]) row-major -- PyTorch's nn.Linear layout --
 * then b_l (widths[l+1]).
 *
 * Layer numbering for activations (snapshots): 0 is the input, l = 1..L-1 the
 * output of hidden layer l after its activation (pre = 1: before it), L the logits.
 */
#ifndef NERVE_NETSPEC_H
#define NERVE_NETSPEC_H

#include "nerve/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NV_MAX_LAYERS 64

typedef enum { NV_ACT_RELU = 0, NV_ACT_LEAKY_RELU, NV_ACT_TANH, NV_ACT_SIGMOID, NV_ACT_IDENTITY } nv_activation;
typedef enum { NV_INIT_HE = 0, NV_INIT_XAVIER } nv_init_kind;
typedef struct {
    int nlayers;                          /* L, number of affine layers, 1..NV_MAX_LAYERS */
    int64_t widths[NV_MAX_LAYERS + 1];    /* widths[0] input .. widths[L] classes */
    nv_activation act;                    /* hidden activation */
    float leaky_slope;                    /* for NV_ACT_LEAKY_RELU, e.g. 0.01 */
    nv_init_kind init;                    /* He (normal, std sqrt(2/fan_in)) or Xavier
                                             (normal, std sqrt(2/(fan_in+fan_out))); biases 0 */
} nv_mlp_spec;

const char *nv_activation_name(nv_activation a);
/* Parses "relu", "leaky_relu", "tanh", "sigmoid", "identity"; -1 if unknown. */
int nv_activation_parse(const char *s);

/* Number of parameters, and the offsets of W_l and b_l in the flat array. */
int64_t nv_mlp_param_count(const nv_mlp_spec *s);
int64_t nv_mlp_weight_offset(const nv_mlp_spec *s, int layer);
int64_t nv_mlp_bias_offset(const nv_mlp_spec *s, int layer);

nv_status nv_mlp_spec_validate(const nv_mlp_spec *s, nv_error *err);
/* The largest of widths[0..L]: sizes the backends' workspaces. */
int64_t nv_mlp_max_width(const nv_mlp_spec *s);

#ifdef __cplusplus
}
#endif
#endif
