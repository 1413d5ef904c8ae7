/* projections.h: what a neuron responds to in real inputs, projected back to input
 * space (`nerve features` stores them beside the feature images; docs/features.md).
 *
 * For unit j of layer l (mlp.h numbering: 1 = first hidden layer, L = logits) and an
 * input x, the unit's objective s = act(z_l[j]) (hidden layers; z_l[j] for the logits
 * or with pre = 1) is sent back down the network as a signal that is s at unit j and
 * 0 elsewhere. Each dense layer passes it on as W_k^T (the transpose of the forward
 * weights); each activation passes it on by one of three rules:
 *
 *   deconvnet  (Zeiler & Fergus, ECCV 2014)   relu(g)            ReLU on the signal
 *   guided     (Springenberg et al., 2015)    relu(g * act'(z))  the forward mask and
 *                                                                ReLU on the signal
 *   gradient   (plain backpropagation)        g * act'(z)        the forward mask
 *
 * where g is the incoming signal and act'(z) the activation's derivative at the
 * forward pass of x (PyTorch's conventions: relu'(0) = 0). For a ReLU net these are
 * exactly what autograd gives with backward hooks on the ReLU modules that replace
 * grad_input by relu(grad_output) (deconvnet) or relu(grad_input) (guided), and plain
 * autograd (gradient): the gradient rule is s * d z_l[j] / dx, times act'(z_l[j])
 * for a hidden unit. The unit's own activation passes the seed by the same rule. For
 * a first-layer unit every rule gives s * W_1[j] (the weight row, scaled), where s > 0.
 *
 * The CPU reference (analysis/features/projections.c) and the CUDA twin
 * (cuda/projections.cu) compute every number in the same order with the same
 * rounding (plain loops and plain kernels, no BLAS, no atomics, no warp votes): the
 * results are the same bits for ReLU, leaky ReLU and identity nets; tanh and sigmoid
 * differ only by the device's tanhf/expf (tests/gpu/test_features_parity.c).
 *
 * Ownership: callers allocate every output.
 */
#ifndef NERVE_PROJECTIONS_H
#define NERVE_PROJECTIONS_H

#include <stdint.h>

#include "nerve/common.h"
#include "nerve/device.h"
#include "nerve/mlp.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { NV_PROJ_DECONVNET = 0, NV_PROJ_GUIDED = 1, NV_PROJ_GRADIENT = 2 } nv_projection_rule;
#define NV_PROJ_RULES 3

/* "deconvnet", "guided", "gradient"; NULL outside the range. */
const char *nv_projection_rule_name(int rule);

/* The network and the layer whose units are projected (all read only). */
typedef struct {
    const nv_mlp_spec *spec;
    const nv_real *params;  /* (nv_mlp_param_count) */
    int layer;              /* 1..L */
    int pre;                /* 1: the objective of a hidden unit is z (its activation
                               is not passed); as features' --pre */
} nv_projection_problem;

/* For each row r < n of x (n, d): unit units[r] of the layer, its objective seed[r]
 * at x_r (may be NULL) and its projection by each rule, out (n, NV_PROJ_RULES, d).
 * NV_EINPUT when the layer or a unit is out of range. The CPU reference. */
nv_status nv_projections_cpu(const nv_projection_problem *pb, const nv_real *x, int64_t n,
                             const int64_t *units, nv_real *out, nv_real *seed, nv_error *err);

/* The same under the device rule (device.h): the CUDA twin when `want` says so (AUTO:
 * when this build has it and a GPU answers), else the CPU. *used (may be NULL) gets
 * the device that ran. */
nv_status nv_projections(const nv_projection_problem *pb, const nv_real *x, int64_t n,
                         const int64_t *units, nv_device_kind want, nv_real *out, nv_real *seed,
                         nv_device_kind *used, nv_error *err);

/* The CUDA twin (cuda/projections.cu, in the plug-in; only CUDA builds define it):
 * nv_projections_cpu's contract on host pointers (it uploads, computes, downloads). */
nv_status nv_projections_cuda(const nv_projection_problem *pb, const nv_real *x, int64_t n,
                              const int64_t *units, nv_real *out, nv_real *seed, nv_error *err);

#ifdef __cplusplus
}
#endif
#endif
