/* dynamics_types.h: the types the training stage shares with the dynamics
 * recorder (include/nerve/dynamics.h, src/dynamics/): the `dynamics` group of an
 * experiment config (config.c reads it) and what one recorded step asks of a
 * training backend and gets back (nv_backend.step_record in mlp.h). Types only:
 * src/train/ includes this header without depending on src/dynamics/, which comes
 * after it in docs/DESIGN.md's map.
 *
 * Layers. A network with L affine layers has them numbered k = 0..L-1 here: layer k
 * maps widths[k] -> widths[k+1]; its "units" are its widths[k+1] outputs, and it is
 * named like its output in snapshots (nv_layer_name(k + 1): "hidden1", ..., "logits").
 * Its input a is the batch x (k = 0) or the previous hidden layer's activations; its
 * delta d is the per-sample loss gradient with respect to its pre-activations.
 */
#ifndef NERVE_DYNAMICS_TYPES_H
#define NERVE_DYNAMICS_TYPES_H

#include "nerve/common.h"
#include "nerve/netspec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The tiers of the record, each with its own schedule (docs/dynamics.md). */
typedef enum {
    NV_DYN_STEPS = 0,  /* per step: loss, accuracy, lr; per layer: norms, alarms, dead units */
    NV_DYN_NEURONS,    /* per layer and unit: activation, delta, row norms, influence, top-k */
    NV_DYN_SAMPLES,    /* per sample of the batch: id, position, loss, correct, gradient norms */
    NV_DYN_FACTORS,    /* per sample and layer: a_i, d_i (and pre-activations) */
    NV_DYN_WEIGHTS,    /* parameters and optimiser state after the step (and at step 0) */
    NV_DYN_TIERS
} nv_dyn_tier;

/* "steps", "neurons", "samples", "factors", "weights"; "?" out of range. */
const char *nv_dyn_tier_name(int tier);

/* When a tier records. Steps are the optimiser's, s = 1..S (S = epochs x steps per
 * epoch); a record at step s describes the forward/backward of batch s and the
 * update it applied. */
typedef enum {
    NV_SCHED_OFF = 0,
    NV_SCHED_EVERY,    /* steps s with s % every == 0 (every = 1: all) */
    NV_SCHED_LOG,      /* `count` log-spaced steps from 1 to S (rounded, unique) */
    NV_SCHED_EPOCHS    /* every step of the listed epochs (1..train.epochs) */
} nv_sched_kind;

#define NV_DYN_MAX_EPOCHS 1024

typedef struct {
    nv_sched_kind kind;
    int64_t every;                          /* NV_SCHED_EVERY, >= 1 */
    int64_t count;                          /* NV_SCHED_LOG, >= 1 */
    int64_t nepochs;                        /* NV_SCHED_EPOCHS */
    int64_t epochs[NV_DYN_MAX_EPOCHS];      /* sorted, unique, in 1..train.epochs */
} nv_dyn_schedule;

/* The `dynamics` group, resolved (every default filled in). */
typedef struct {
    int enabled;                            /* dynamics.enabled (default false) */
    int all_models;                         /* dynamics.models = "all" */
    int nmodels;
    char models[4][64];                     /* otherwise the listed model names */
    int64_t chunk_steps;                    /* steps per chunk file at most (default 256) */
    int compression;                        /* gzip level 0..9 of the chunk datasets */
    int on[NV_DYN_TIERS];                   /* the tier records (dynamics.<tier>.enabled) */
    nv_dyn_schedule sched[NV_DYN_TIERS];    /* its schedule (kept when off, for the text) */
    int top_k;                              /* neurons.top_k (default 8) */
    int f16;                                /* factors.precision = "f16" */
    int preactivations;                     /* factors.preactivations */
    double alarm_abs;                       /* |g| above this counts (alarm.absolute) */
    double alarm_rel;                       /* |g| above this x the running median of the
                                               layer's RMS gradient (alarm.relative) */
    int64_t alarm_window;                   /* recorded steps in that median */
} nv_dyn_config;

/* Whether model `name` is recorded under cfg (dynamics.enabled and dynamics.models;
 * src/train/config.c). */
int nv_dyn_records_model(const nv_dyn_config *cfg, const char *name);

/* --- one recorded step: what the recorder asks of a backend ------------------------- */

/* Per-layer numbers a backend returns (nv_dyn_step.layer[k][...]). Sums of squares
 * run over the layer's weight matrix and bias together. */
enum {
    NV_DL_WEIGHT_SQ = 0,   /* sum of squares of the parameters after the update */
    NV_DL_GRAD_SQ,         /* of dLoss/dparams (the batch-mean loss, before weight decay) */
    NV_DL_BEFORE_SQ,       /* sum of squares of the parameters before the update */
    NV_DL_UPDATE_SQ,       /* of the applied update, params_after - params_before */
    NV_DL_INIT_SQ,         /* of params_after - the request's w0 (distance from init) */
    NV_DL_ALARM_ABS,       /* count of gradient entries with |g| > alarm_abs */
    NV_DL_ALARM_REL,       /* count of gradient entries with |g| > alarm_rel[k] */
    NV_DL_NONFINITE_GRAD,  /* count of NaN/Inf gradient entries */
    NV_DL_NONFINITE_WEIGHT,/* count of NaN/Inf parameters after the update */
    NV_DL_DEAD,            /* count of units with pre-activation <= 0 for every sample */
    NV_DL_COUNT
};

/* Per-unit numbers (nv_dyn_step.unit[k][...], each (widths[k+1]) floats). */
enum {
    NV_DU_MEAN_ACT = 0,    /* mean over the batch of the unit's output (post-activation;
                              the logit for the last layer) */
    NV_DU_FRAC_ACTIVE,     /* fraction of the batch with pre-activation > 0 */
    NV_DU_MEAN_ABS_DELTA,  /* mean over the batch of |d_i| (the per-sample delta) */
    NV_DU_GRAD_NORM,       /* ||dLoss/dW[j, :]||, the unit's incoming weight row */
    NV_DU_UPDATE_NORM,     /* ||W_after[j, :] - W_before[j, :]|| */
    NV_DU_INFLUENCE,       /* |sum over the batch of a * dLoss/da| (Molchanov et al. 2017):
                              the first-order estimate of the batch-mean loss change when
                              the unit's output is set to 0 */
    NV_DU_COUNT
};

/* What to compute at this step; everything not asked for is skipped. Host memory. */
typedef struct {
    int layer_stats;       /* fill nv_dyn_step.layer (the steps tier) */
    int unit_stats;        /* fill nv_dyn_step.unit (the neurons tier) */
    int samples;           /* sample_loss, sample_correct, a_sq, d_sq */
    int factors;           /* a, d */
    int pre;               /* pre (with factors) */
    const nv_real *w0;     /* (nparams) the initial parameters (layer_stats); the same array,
                              unchanged, for a trainer's life (the CUDA backend keeps a
                              device copy of it) */
    float alarm_abs;       /* threshold for NV_DL_ALARM_ABS */
    float alarm_rel[NV_MAX_LAYERS]; /* per layer; +inf (or NaN) counts nothing */
} nv_dyn_request;

/* What a recorded step gives back. The caller (the recorder) owns every buffer and
 * sets the pointers of what it asked for; the backend fills them. b = the batch. */
typedef struct {
    int64_t correct;                        /* samples whose argmax is the label */
    double layer[NV_MAX_LAYERS][NV_DL_COUNT];
    nv_real *unit[NV_MAX_LAYERS][NV_DU_COUNT]; /* (widths[k+1]) each */
    nv_real *sample_loss;                   /* (b) per-sample cross-entropy */
    int32_t *sample_correct;                /* (b) 1 where the argmax is the label */
    nv_real *a_sq[NV_MAX_LAYERS];           /* (b) ||a_i||^2 of layer k's input */
    nv_real *d_sq[NV_MAX_LAYERS];           /* (b) ||dLossmean/dpre_i||^2 = ||d_i||^2 / b^2 */
    nv_real *a[NV_MAX_LAYERS];              /* (b, widths[k]) layer k's inputs a_i */
    nv_real *d[NV_MAX_LAYERS];              /* (b, widths[k+1]) d_i = b * dLossmean/dpre_i,
                                               the per-sample loss gradient (exact when b
                                               is a power of two: one multiplication by b) */
    nv_real *pre[NV_MAX_LAYERS];            /* (b, widths[k+1]) pre-activations */
} nv_dyn_step;

#ifdef __cplusplus
}
#endif
#endif
