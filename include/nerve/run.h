/* run.h: `nerve train` as a library call: builds the data of an experiment, trains
 * its networks one after the other on the same data, sample order and seed, and
 * fills the run directory (docs/DESIGN.md): resolved config, dataset file,
 * per-epoch metrics, snapshots + manifest, checkpoints, summary.json.
 *
 * Crash safety: every file is written to a temporary name and renamed, and each
 * model is checkpointed after every epoch, so a run killed at any moment leaves
 * every earlier result readable, and `resume` continues from the last checkpoint
 * to the same bytes an uninterrupted run gives.
 *
 * The library does not print: progress reaches the caller through `on_event`.
 */
#ifndef NERVE_RUN_H
#define NERVE_RUN_H

#include <signal.h>

#include "nerve/config.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    NV_EV_NOTE = 0,     /* a line of information (text) */
    NV_EV_MODEL_START,  /* model, epochs; epoch = first epoch to train (after resume) */
    NV_EV_STEP,         /* within an epoch: step of steps (for progress bars) */
    NV_EV_EPOCH,        /* an epoch finished: metrics filled */
    NV_EV_SNAPSHOT,     /* a snapshot file was committed: text = its path */
    NV_EV_MODEL_DONE,
    NV_EV_DIR_READY     /* the run directory was accepted and prepared: text = its path */
} nv_event_kind;

typedef struct {
    nv_event_kind kind;
    const char *model;
    int64_t epoch, epochs;
    int64_t step, steps;
    double train_loss, train_acc, test_loss, test_acc;
    const char *text;
} nv_train_event;

typedef struct {
    const char *out_dir;      /* the run directory */
    int resume;               /* continue from checkpoints */
    int force;                /* start over in a directory that holds another run */
    volatile sig_atomic_t *stop;  /* set to 1 (e.g. from SIGINT) to stop after the
                                     current step; may be NULL */
    void (*on_event)(void *ctx, const nv_train_event *ev);
    void *ctx;
    const char *command_line; /* recorded in run.json */
} nv_train_options;

/* Builds train/test sets for a data spec (the experiment's seed drives generation
 * and splits). `desc` (len bytes) gets a one-line description of the source. */
nv_status nv_data_build(const nv_data_spec *spec, uint64_t seed, nv_dataset *train, nv_dataset *test,
                        char *desc, size_t len, nv_error *err);

nv_status nv_train_run(const nv_experiment *ex, const nv_train_options *opt, nv_error *err);

#ifdef __cplusplus
}
#endif
#endif
