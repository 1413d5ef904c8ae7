/* checkpoint.h: the training checkpoint, one HDF5 file per model
 * (runs/<experiment>/checkpoints/<model>.h5, format "nerve-checkpoint" version 1),
 * written crash-safe like the snapshots (temporary name, flush, close, fsync,
 * rename). It holds everything `nerve train --resume` needs to continue exactly
 * where the run stopped and end with the same bytes as an uninterrupted run:
 *
 *   /                 attrs: format, format_version, nerve_version, model,
 *                            epochs_completed, step, config (the resolved config text)
 *   /spec             attrs: nlayers, widths (nlayers+1) i64, activation (name),
 *                            leaky_slope f64, init ("he" or "xavier")
 *   /params  (nparams) f32   the flat parameter array of mlp.h
 *   /state1  (nparams) f32   optimiser state (SGD momentum, Adam m)
 *   /state2  (nparams) f32   optimiser state (Adam v; zeros for SGD)
 *   /metrics (rows, cols) f64, attr columns (cols strings): the per-epoch metrics
 *                            table, so a resumed run rewrites its metrics files
 *                            identically
 * No timestamps or host names: two identical runs give identical checkpoints.
 */
#ifndef NERVE_CHECKPOINT_H
#define NERVE_CHECKPOINT_H

#include "nerve/common.h"
#include "nerve/netspec.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NV_CHECKPOINT_FORMAT "nerve-checkpoint"
#define NV_CHECKPOINT_VERSION 1

typedef struct {
    char model[64];            /* [A-Za-z0-9_-]+ */
    int64_t epochs_completed;  /* 0 = the initial weights, e = after training epoch e */
    int64_t step;              /* optimiser steps taken (Adam's bias correction) */
    nv_mlp_spec spec;
    int64_t nparams;           /* == nv_mlp_param_count(&spec) */
    nv_real *params;           /* (nparams) */
    nv_real *state1;           /* (nparams) */
    nv_real *state2;           /* (nparams) */
    int64_t metric_rows;       /* epochs recorded (may be 0) */
    int64_t metric_cols;
    char **metric_names;       /* (metric_cols) column names, e.g. "epoch", "train_loss";
                                  NULL on write stores "column0", "column1", ... */
    double *metrics;           /* (metric_rows, metric_cols) row-major */
    char *config_text;         /* the resolved config text ("" allowed) */
} nv_checkpoint;

/* Writes `ck` to `path` (temporary name beside it, then rename; the directory must
 * exist). Only reads ck: its pointers may borrow the caller's arrays (then do not
 * call nv_checkpoint_free on it). Checks nparams against the spec. */
nv_status nv_checkpoint_write(const char *path, const nv_checkpoint *ck, nv_error *err);

/* Reads `path` into *ck, which then owns every array (nv_checkpoint_free). Checks
 * format, version, the spec and every array's size; errors are NV_EINPUT naming the
 * file and the object. On failure *ck is left empty (zeroed, nothing to free). */
nv_status nv_checkpoint_read(const char *path, nv_checkpoint *ck, nv_error *err);

/* Frees the arrays of a checkpoint filled by nv_checkpoint_read and zeroes it;
 * accepts NULL. */
void nv_checkpoint_free(nv_checkpoint *ck);

#ifdef __cplusplus
}
#endif
#endif
