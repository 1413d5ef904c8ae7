/* features.h: feature images by activation maximisation (`nerve features`), and the
 * whole-snapshot unit of work that stores them beside each unit's top real inputs
 * and their projections (projections.h).
 *
 * For every unit j of a layer l of an MLP (mlp.h), find an input x in a box
 * [lo, hi] (per input dimension) that maximises the unit's activation, by
 * projected gradient ascent with the regularisers of Yosinski et al. 2015
 * ("Understanding Neural Networks Through Deep Visualization", ICML DL workshop):
 * L2 decay, a Gaussian blur every few steps, clipping of pixels with small norm
 * and of pixels with small contribution; plus jitter (a random shift of the image
 * before each gradient, undone after). All units of a layer ascend together as
 * one batch: row j of the (units, d) matrix X is unit j's image, and one batched
 * forward/backward (sgemm) gives every row's gradient at once.
 *
 * Conventions (docs/features.md has the maths):
 *  - Regularisers act on u = x - centre, centre = the data mean (the analogue of the
 *    mean-subtracted images of the paper, where "zero" is the mean image).
 *  - The ascent follows the gradient of the unit's PRE-activation z_j. Every nerve
 *    activation is non-decreasing, so argmax act(z) contains argmax z, and z's
 *    gradient does not vanish where a ReLU unit is off. The objective reported is
 *    act(z_j) (hidden layers), z_j (logits, or with pre = 1).
 *  - The step is scale-free: x_i += lr_t * span_i * g_i / max_k |g_k| (per row),
 *    lr_t = lr * (1 - t / steps) (linear decay, so the iterate settles), then the
 *    regularisers, then the projection onto the box.
 *  - The result of each unit is its best iterate (the highest objective met, as in
 *    the deep visualization toolbox); with jitter, whose gradients are taken at
 *    shifted images, simply the last iterate. It is always the ascent's own result:
 *    a unit that ends below its best real input is marked (nv_features_below), never
 *    replaced by that input.
 *  - Blur and jitter need a picture: they apply when the input is an image
 *    (img_h * img_w == d); for plain vectors they are skipped.
 *
 * The backend contract: nv_features_ascend runs one shared loop (features.c) over
 * a table of operations (nv_features_ops) that the CPU (plain loops + OpenBLAS
 * sgemm) and CUDA (cuda/features.cu: the device library's sgemm + kernels)
 * implement on their own memory. tests/gpu/test_features_parity.c compares them.
 *
 * Ownership: callers allocate every output; nothing returned needs freeing except
 * what a function says.
 */
#ifndef NERVE_FEATURES_H
#define NERVE_FEATURES_H

#include <math.h>
#include <stdint.h>

#include "nerve/common.h"
#include "nerve/mlp.h"
#include "nerve/projections.h"
#include "nerve/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NV_FEATURES_FORMAT "nerve-features"
#define NV_FEATURES_VERSION 2   /* 2: top inputs, projections, below_data; reads 1 too */
#define NV_FEATURES_TOPK 9      /* real inputs kept per unit, by default */
#define NV_FEATURES_MAX_TOPK 64

typedef enum { NV_FEAT_INIT_MEAN = 0, NV_FEAT_INIT_ZEROS, NV_FEAT_INIT_TOP } nv_features_init;

typedef struct {
    int64_t steps;       /* gradient steps (default 500) */
    float lr;            /* step as a fraction of the box width (default 0.05) */
    float decay;         /* L2 decay per step: u <- (1 - decay) u */
    int blur_every;      /* blur every k steps (0: never) */
    float blur_width;    /* Gaussian sigma in pixels (0: no blur) */
    float norm_pct;      /* clip pixels whose |u| is below this percentile (0..100; 0: off) */
    float contrib_pct;   /* clip pixels whose |u * g| is below this percentile (0: off) */
    int jitter;          /* shift by up to this many pixels before each gradient (0: off) */
    nv_features_init init; /* start: centre + 0.01 span * N(0,1) noise (mean), the
                              box point nearest to zero (zeros), or the problem's
                              `starts` (top: the most exciting real input) */
    int pre;             /* 1: report and compare pre-activations of hidden layers */
    uint64_t seed;       /* RNG seed (stream NV_STREAM_FEATURES) */
    int img_h, img_w;    /* image shape when d = img_h * img_w, else 0, 0 */
    int64_t batch;       /* units per batched pass (0: the whole layer at once) */
} nv_features_params;

/* The plain ascent: 500 steps, lr 0.05, no regulariser, no jitter, init mean,
 * seed 0 (what the library does when nothing else is asked; the verb starts from
 * nv_features_preset instead). */
void nv_features_defaults(nv_features_params *p);
/* The verb's settings (docs/features.md, "The presets"): k = 0 the default, k = 1..4
 * Yosinski et al.'s four regulariser combinations (their Table 1), each re-tuned by
 * measurement for 28 x 28 images (image = 1) or for short vectors such as the
 * spheres' 12 coordinates (image = 0). Sets steps, lr, decay, blur_every, blur_width,
 * norm_pct, contrib_pct and jitter, leaving the other fields alone; NV_EINPUT for
 * another k. */
nv_status nv_features_preset(int k, int image, nv_features_params *p, nv_error *err);
#define NV_FEATURES_PRESETS 4
/* NV_EINPUT naming the field when a parameter is out of range. */
nv_status nv_features_params_validate(const nv_features_params *p, int64_t d, nv_error *err);

/* One layer's problem: the network, the target layer (1..L, mlp.h numbering), and
 * the box and centre (each (d), d = widths[0]); all read only. */
typedef struct {
    const nv_mlp_spec *spec;
    const nv_real *params;  /* (nv_mlp_param_count) */
    int layer;
    const nv_real *lo, *hi, *centre; /* (d) */
    const nv_real *starts;  /* (units, d) start points for init top; else NULL */
} nv_features_problem;

/* Runs the ascent for units [0, units) of the layer, units = widths[layer]:
 * x (units, d) the final inputs, act (units) their objective. `want` picks the
 * device (AUTO: CUDA when this build has it and a device answers); *used gets the
 * one used (may be NULL). */
nv_status nv_features_ascend(const nv_features_problem *pb, const nv_features_params *p,
                             nv_device_kind want, nv_real *x, nv_real *act,
                             nv_device_kind *used, nv_error *err);

/* The objective of every unit of the layer for rows x (n, d): out (n, units),
 * act(z) or z as nv_features_ascend reports it. CPU, fixed-order batches. */
nv_status nv_features_eval(const nv_features_problem *pb, int pre, const nv_real *x, int64_t n,
                           nv_real *out, nv_error *err);

/* The gradient of unit j's pre-activation for each row r of x (n, d), unit
 * units_of[r]: g (n, d). The kernel of the ascent; exposed for the finite-
 * difference and PyTorch checks. CPU. */
nv_status nv_features_grad(const nv_features_problem *pb, const nv_real *x, int64_t n,
                           const int64_t *units_of, nv_real *g, nv_real *z, nv_error *err);

/* --- the shared pieces of both backends ---------------------------------------- */

/* Jitter offset of `unit` on `axis` (0: rows, 1: columns) at step t, in [-J, J]. */
NV_HOSTDEV int nv_features_jitter_offset(uint64_t seed, int layer, int64_t t, int64_t unit,
                                         int axis, int J) {
    uint64_t idx = ((uint64_t)1 << 62) | ((uint64_t)(layer & 0xff) << 54) |
                   (((uint64_t)t << 22 | (uint64_t)unit) << 1 | (uint64_t)axis);
    return (int)nv_rng_below(seed, NV_STREAM_FEATURES, idx, (uint32_t)(2 * J + 1)) - J;
}
/* Start-point noise of element i of unit's row (a standard normal draw). */
NV_HOSTDEV float nv_features_start_noise(uint64_t seed, int layer, int64_t unit, int64_t d,
                                         int64_t i) {
    uint64_t idx = ((uint64_t)(layer & 0xff) << 54) | (uint64_t)(unit * d + i);
    return nv_rng_normal(seed, NV_STREAM_FEATURES, idx);
}
/* Radius of the blur kernel (taps -R..R) for sigma; weights exp(-k^2 / 2 sigma^2)
 * renormalised over the taps that fall inside the image. */
NV_HOSTDEV int nv_features_blur_radius(float sigma) {
    int r = (int)ceilf(3.0f * sigma);
    return r < 1 ? 1 : r;
}
/* Index of the percentile threshold among d sorted values: values strictly below
 * sorted[k] are clipped, so pct = 0 clips nothing. */
NV_HOSTDEV int64_t nv_features_pct_rank(float pct, int64_t d) {
    int64_t k = (int64_t)floor((double)pct / 100.0 * (double)d);
    return k >= d ? d - 1 : (k < 0 ? 0 : k);
}

/* The operations of a backend, on its own memory (host for the CPU, device for
 * CUDA). `ctx` is the backend's workspace for one problem and batch size. */
typedef struct {
    const char *name;
    nv_status (*create)(const nv_features_problem *pb, const nv_features_params *p,
                        int64_t max_rows, void **ctx, nv_error *err);
    void (*destroy)(void *ctx);
    /* Buffers of n floats in the backend's memory. */
    nv_status (*alloc)(void *ctx, int64_t n, nv_real **p, nv_error *err);
    void (*release)(void *ctx, nv_real *p);
    nv_status (*upload)(void *ctx, nv_real *dst, const nv_real *src, int64_t n, nv_error *err);
    nv_status (*download)(void *ctx, nv_real *dst, const nv_real *src, int64_t n, nv_error *err);
    /* For rows r < n of x (n, d), target unit u0 + r: g (n, d) the gradient of its
     * pre-activation and z (n) the pre-activation itself. */
    nv_status (*grad)(void *ctx, const nv_real *x, int64_t n, int64_t u0, nv_real *g,
                      nv_real *z, nv_error *err);
    /* dst (n, h*w) = src shifted by (dy, dx) = sign * jitter offsets of units u0 + r at
     * step t, circularly (np.roll). */
    nv_status (*shift)(void *ctx, const nv_real *src, nv_real *dst, int64_t n, int64_t u0,
                       int64_t t, int sign, nv_error *err);
    /* The ascent step: x += lr_t * span * g / max|g| per row, then the projection. */
    nv_status (*step)(void *ctx, nv_real *x, const nv_real *g, int64_t n, float lr_t,
                      nv_error *err);
    /* u <- (1 - decay) u. */
    nv_status (*decay)(void *ctx, nv_real *x, int64_t n, float decay, nv_error *err);
    /* Separable Gaussian blur of u on the h x w grid; tmp (n, d) scratch. */
    nv_status (*blur)(void *ctx, nv_real *x, nv_real *tmp, int64_t n, float sigma,
                      nv_error *err);
    /* u_i <- 0 where v_i < the pct percentile of v over the row, v = |u| (g NULL) or
     * |u * g|; tmp (n, d) scratch. */
    nv_status (*clip)(void *ctx, nv_real *x, const nv_real *g, nv_real *tmp, int64_t n,
                      float pct, nv_error *err);
    /* Keeps the best iterate per row: where first or z[r] > zb[r], zb[r] = z[r] and
     * row r of xb = row r of x. */
    nv_status (*keep)(void *ctx, const nv_real *x, const nv_real *z, nv_real *xb,
                      nv_real *zb, int64_t n, int first, nv_error *err);
    /* x <- min(max(x, lo), hi). */
    nv_status (*project)(void *ctx, nv_real *x, int64_t n, nv_error *err);
} nv_features_ops;

const nv_features_ops *nv_features_ops_cpu(void);
/* Runs the ascent on a given backend table (nv_features_ascend picks one). */
nv_status nv_features_ascend_ops(const nv_features_ops *ops, const nv_features_problem *pb,
                                 const nv_features_params *p, nv_real *x, nv_real *act,
                                 nv_error *err);
/* The CUDA twin (cuda/features.cu, in the plug-in; only CUDA builds define it). */
const nv_features_ops *nv_features_ops_cuda(void);

/* --- whole snapshots (the verb's unit of work) ----------------------------------- */

/* Whether an ascent's objective `act` ended below the unit's data maximum by more
 * than rounding (the maximum comes from the activations training stored, the
 * objective from the ascent's own forward pass): the below_data mark. */
static inline int nv_features_below(float act, float data_max) {
    return act < data_max - 1e-5f * (1.0f + fabsf(data_max));
}

/* Fields of nv_features_params the user gave explicitly (they override the preset). */
enum {
    NV_FEAT_SET_STEPS = 1 << 0, NV_FEAT_SET_LR = 1 << 1, NV_FEAT_SET_DECAY = 1 << 2,
    NV_FEAT_SET_BLUR_EVERY = 1 << 3, NV_FEAT_SET_BLUR_WIDTH = 1 << 4,
    NV_FEAT_SET_NORM_PCT = 1 << 5, NV_FEAT_SET_CONTRIB_PCT = 1 << 6, NV_FEAT_SET_JITTER = 1 << 7,
};

typedef struct {
    nv_features_params p;
    int preset;                /* 0: the default setting, 1..4 (with tuned) */
    int tuned;                 /* 1: the ascent's settings come from nv_features_preset(preset,
                                  image or vector input), except the fields in `set`, which
                                  come from p; 0: p as it is (img_h, img_w always follow the
                                  input) */
    unsigned set;              /* NV_FEAT_SET_* bits */
    int box_global;            /* 1: one [min, max] over all inputs; 0: per feature */
    nv_device_kind device;
    int figures;               /* draw PNGs */
    const int64_t *history_units; int n_history; /* also the units drawn large (focus) */
    int top_k;                 /* real inputs per unit (0: NV_FEATURES_TOPK), <= NV_FEATURES_MAX_TOPK */
    int no_projections;        /* 1: leave the projections out (neither computed nor stored) */
    const char *const *layers; /* (n_layers) layer names to compute; NULL: every non-input layer */
    int n_layers;
} nv_features_job;

/* The ascent's settings for an input of d numbers under the job (the preset for its
 * kind, the user's fields, img_h and img_w: d >= 64 and a square is an image). */
nv_features_params nv_features_job_params(const nv_features_job *job, int64_t d);

/* Computes the features of the job's layers (every non-input layer by default) of one
 * snapshot and writes out_h5 (format nerve-features v2, atomically) and, with
 * figures, per layer the grid fig_prefix + "_<layer>.png" and the few units drawn
 * large, fig_prefix + "_<layer>_focus.png". Skips (returning NV_OK, *skipped = 1)
 * when out_h5 exists with the same parameters. NV_EINPUT when a layer of the job is
 * not in the network or is the input. */
nv_status nv_features_snapshot(const char *snapshot_path, const char *model, int64_t epoch,
                               const nv_features_job *job, const char *out_h5,
                               const char *fig_prefix, int *skipped, char *used_device,
                               size_t used_len, nv_error *err);

/* --- figures (analysis/features/features_plot.c) ----------------------------------
 * Per unit: its feature image, its k most exciting real inputs, and their
 * projections by the three rules (projections.h). Images (28 x 28) in grey from the
 * box's lowest to its highest value, projections in a diverging blue-white-red map
 * with zero white, each scaled to its own largest |value|; vectors (the spheres' 12
 * coordinates) as bar glyphs, one bar per coordinate from a zero line: (x - centre)
 * over half the box width for features and inputs, the projection over its largest
 * |value|, coloured by sign. A unit whose ascent ended below the best real input is
 * framed in red and labelled "below data". */
typedef struct {
    const nv_real *x;          /* (units, d) feature inputs */
    const nv_real *act, *data_max; /* (units) */
    int64_t units, d;
    int img_h, img_w;          /* 0, 0 for vectors */
    const nv_real *lo, *hi, *centre; /* (d) */
    int k;                     /* real inputs per unit */
    const nv_real *top_x;      /* (units, k, d) those inputs (rows of -1 ids: NaN) */
    const nv_real *top_act;    /* (units, k) their objective */
    const nv_real *proj;       /* (units, k, NV_PROJ_RULES, d) or NULL */
    const char *model;
    int64_t epoch;
    const char *layer;
} nv_features_figure;
/* The whole layer, every unit (2 per row for images, 1 for vectors); written
 * atomically (temporary name + rename). */
nv_status nv_features_plot_layer(const nv_features_figure *f, const char *png_path,
                                 nv_error *err);
/* The units in `units` (n of them; those outside the layer are skipped) drawn twice
 * as large, one per row: the report's view. */
nv_status nv_features_plot_focus(const nv_features_figure *f, const int64_t *units, int n,
                                 const char *png_path, nv_error *err);

/* Draws unit `unit`'s images of `layer` across the given feature files (one per
 * epoch, in order; format version 1 or 2) into png_path; marks the epochs where the
 * ascent ended below the data maximum. */
nv_status nv_features_history(const char *const *h5_paths, const int64_t *epochs, int n,
                              const char *layer, int64_t unit, const char *png_path,
                              nv_error *err);

#ifdef __cplusplus
}
#endif
#endif
