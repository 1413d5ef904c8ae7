/* dynamics.h: the training-dynamics recorder and its store (src/dynamics/): every
 * step's gradients, weight changes per neuron, layer inputs and outputs and the
 * most influential neurons, stored exactly and compactly (docs/dynamics.md).
 *
 *   recorder.c     the hooks `nerve train` runs each step through (nv_dyn_hooks):
 *                  schedules, the statistics the backend does not compute (norms
 *                  from sums of squares, alarms against a running median, top-k),
 *                  chunk buffers filled on the training thread
 *   store.c        chunk files, the manifest and the index file, written by the
 *                  run's background writer; --resume truncation
 *   reader.c       the read API (below): the report, the query engine, the viewer
 *   reconstruct.c  any recorded step's weights from a saved state and the factors
 *
 * The exactness contract (docs/CONTRACTS.md, "Per-step records"): for a dense layer
 * with input a_i and delta d_i of sample i in a batch of b, the sample's gradient is
 * d_i a_i^T and the batch gradient (1/b) sum_i d_i a_i^T. The factors tier stores
 * a_i and d_i; the reconstruction recomputes the batch gradient with the training
 * backend's own call (nv_cpu_layer_grad, the same sgemm) and applies the same
 * update kernels, so on the machine and thread count that trained, with f32
 * factors and a power-of-two batch, it gives the same bits.
 *
 * The store of model M in run RUN (format "nerve-dynamics", version 1):
 *
 *   RUN/dynamics/M/chunk_NNNNNN.h5  immutable chunk files (format
 *       "nerve-dynamics-chunk"): the records of whole epochs (as many as fit
 *       dynamics.chunk_steps steps; automatic when 0), or of a piece of an epoch
 *       longer than that; written under a hidden temporary name and published
 *       with include/nerve/fsutil.h.
 *   RUN/dynamics/M/manifest.json    the finished chunks (format
 *       "nerve-dynamics-manifest"), rewritten atomically after each chunk; readers
 *       open only listed chunks.
 *   RUN/dynamics/M.h5               the index (format "nerve-dynamics"): small
 *       tables and one HDF5 virtual dataset per quantity concatenating that
 *       quantity's datasets of every listed chunk (sources "M/chunk_NNNNNN.h5",
 *       resolved relative to the index file's folder), rewritten atomically at
 *       most every 2 s and after the last chunk. Open this one file (h5py or C)
 *       to read everything.
 *
 * Datasets (rows per tier; L layers; w_k = widths[k+1], in_k = widths[k]; P params):
 *   steps/{step, epoch} i64 (n), batch_size i32 (n), {loss, accuracy, lr} f32 (n),
 *   steps/{weight_norm, grad_norm, update_norm, update_ratio, init_distance,
 *          alarm_abs, alarm_rel, alarm_rel_threshold, dead_frac} f32 (n, L),
 *   steps/{nonfinite_grad, nonfinite_weight} i64 (n, L)
 *   neurons/step i64 (n); neurons/<layer>/{mean_act, frac_active, mean_abs_delta,
 *          grad_norm, update_norm, influence} f32 (n, w_k), top_k i32 (n, min(k, w_k))
 *   samples/{step, sample_id} i64 (m), {position, label} i32 (m), loss f32 (m),
 *          correct u8 (m), grad_norm f32 (m, L)
 *   factors/{step, sample_id} i64 (m); factors/<layer>/a (m, in_k), d (m, w_k),
 *          pre (m, w_k) when factors.preactivations; f32, or IEEE half when
 *          factors.precision = "f16"
 *   weights/step i64 (k), params f32 (k, P), state1 f32 (k, P) (SGD with momentum,
 *          Adam), state2 f32 (k, P) (Adam)
 * docs/dynamics.md says what each number is, exactly.
 */
#ifndef NERVE_DYNAMICS_H
#define NERVE_DYNAMICS_H

#include "nerve/common.h"
#include "nerve/config.h"
#include "nerve/dynamics_types.h"
#include "nerve/mlp.h"
#include "nerve/run.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NV_DYN_FORMAT "nerve-dynamics"
#define NV_DYN_CHUNK_FORMAT "nerve-dynamics-chunk"
#define NV_DYN_MANIFEST_FORMAT "nerve-dynamics-manifest"
#define NV_DYN_WEIGHTS_FORMAT "nerve-dynamics-weights"
#define NV_DYN_VERSION 1

/* The recorder, as the hooks nv_train_run calls (run.h): set
 * nv_train_options.recorder = nv_dyn_hooks() when ex->dynamics.enabled. */
const nv_record_hooks *nv_dyn_hooks(void);

/* --- schedules --------------------------------------------------------------------- */
/* The run's shape, which resolves "log" schedules and epoch lists into steps. */
typedef struct {
    int64_t epochs;
    int64_t steps_per_epoch;   /* ceil(n_train / batch_size) */
} nv_dyn_span;

/* 1 when the schedule records step s (1 <= s <= epochs x steps_per_epoch). */
int nv_dyn_scheduled(const nv_dyn_schedule *sc, const nv_dyn_span *span, int64_t s);
/* How many steps of [first, last] the schedule records. */
int64_t nv_dyn_scheduled_count(const nv_dyn_schedule *sc, const nv_dyn_span *span, int64_t first,
                               int64_t last);
/* The schedule as text for messages and the config ("every = 4", "log = 100",
 * "epochs = [1, 5]"), into buf. */
void nv_dyn_schedule_text(const nv_dyn_schedule *sc, char *buf, size_t len);
/* Checks the config against the data: NV_EINPUT naming the key when an enabled
 * tier's schedule records no step of the run (every larger than the run, ...). */
nv_status nv_dyn_check(const nv_dyn_config *cfg, const nv_dyn_span *span, nv_error *err);

/* --- sizes ---------------------------------------------------------------------------- */
/* Uncompressed bytes of one recorded step of each tier for a model (batch b), and
 * what per-sample gradients of the same batch would take (b x P floats). */
typedef struct {
    double tier[NV_DYN_TIERS];
    double factors_ad;            /* the a_i and d_i values alone (no ids, no pre) */
    double per_sample_gradients;
} nv_dyn_sizes;
void nv_dyn_step_bytes(const nv_dyn_config *cfg, const nv_mlp_spec *spec, const nv_optim_spec *opt,
                       int64_t b, nv_dyn_sizes *out);

/* --- reading ------------------------------------------------------------------------ */
typedef struct nv_dyn_run nv_dyn_run;  /* one model's record, opened through its index */

typedef struct {
    char model[64];
    nv_mlp_spec spec;
    nv_optim_spec opt;
    int64_t nparams, batch_size, steps_per_epoch, epochs, n_train;
    int64_t last_step;                 /* the last step the listed chunks cover */
    int64_t nchunks;
    int64_t rows[NV_DYN_TIERS];        /* rows of each tier */
    int top_k, f16, preactivations;
    char layer_names[NV_MAX_LAYERS][16];
    char *config_text;                 /* the run's resolved config */
} nv_dyn_info;

/* The models recorded in RUN/dynamics (index files present), in name order, into
 * names[0..*n) (at most cap). */
nv_status nv_dyn_models(const char *run_dir, char (*names)[64], int cap, int *n, nv_error *err);
/* Opens RUN/dynamics/<model>.h5 (format and version checked). */
nv_status nv_dyn_open(const char *run_dir, const char *model, nv_dyn_run **out, nv_error *err);
void nv_dyn_close(nv_dyn_run *r); /* accepts NULL */
const nv_dyn_info *nv_dyn_run_info(const nv_dyn_run *r);
/* Shape of a dataset of the index ("steps/grad_norm", "neurons/hidden1/influence",
 * "factors/logits/d"): rows and columns (1 for a column vector). NV_EINPUT naming
 * the dataset and its tier when it is not there. */
nv_status nv_dyn_shape(nv_dyn_run *r, const char *path, int64_t *rows, int64_t *cols, nv_error *err);
/* Rows [row0, row0 + n) of a dataset converted to float / int64 into out (n x cols). */
nv_status nv_dyn_read_f32(nv_dyn_run *r, const char *path, int64_t row0, int64_t n, float *out,
                          nv_error *err);
nv_status nv_dyn_read_i64(nv_dyn_run *r, const char *path, int64_t row0, int64_t n, int64_t *out,
                          nv_error *err);
/* The rows of `tier` recorded at step s: [*row0, *row0 + *n); *n = 0 when the tier
 * did not record s. */
nv_status nv_dyn_rows_of_step(nv_dyn_run *r, int tier, int64_t s, int64_t *row0, int64_t *n,
                              nv_error *err);

/* --- reconstruction ---------------------------------------------------------------- */
typedef struct {
    char model[64];
    int64_t step;          /* the weights after this step's update */
    int64_t from_step;     /* the saved state the rebuild started from */
    nv_mlp_spec spec;
    int64_t nparams;
    nv_real *params, *state1, *state2; /* (nparams) each, owned */
    int compared;          /* a stored state at `step` existed (weights tier) */
    double max_abs_diff;   /* max |rebuilt - stored| over params when compared */
} nv_dyn_weights;

/* Rebuilds the parameters and optimiser state after step `step` from the latest
 * weights-tier state before it (or at from_step when from_step >= 0) and the
 * factors of the steps in between: per step and layer the batch gradient from
 * (1/b) sum_i d_i a_i^T and (1/b) sum_i d_i with the training backend's calls,
 * then weight decay and the optimiser's update kernels. NV_EINPUT naming the tier
 * and the config key when the steps are not recorded. Free with
 * nv_dyn_weights_free. */
nv_status nv_dyn_rebuild(const char *run_dir, const char *model, int64_t step, int64_t from_step,
                         nv_dyn_weights *out, nv_error *err);
void nv_dyn_weights_free(nv_dyn_weights *w);
/* Writes w to path (format "nerve-dynamics-weights": /model spec, /params,
 * /state1, /state2; attributes model, step, from_step). Crash-safe. */
nv_status nv_dyn_weights_write(const char *path, const nv_dyn_weights *w, nv_error *err);

#ifdef __cplusplus
}
#endif
#endif
