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

/* --- per-step recording -------------------------------------------------------
 * The training-dynamics recorder (include/nerve/dynamics.h, src/dynamics/) comes
 * after training in docs/DESIGN.md's map, so training does not call it by name:
 * the caller passes its hooks (nv_dyn_hooks()) in nv_train_options.recorder and
 * run.c calls them for every model the experiment's `dynamics` group records. */
typedef struct nv_bgqueue nv_bgqueue;     /* src/core/bgqueue.h */
typedef struct nv_hash_memo nv_hash_memo; /* include/nerve/runhash.h */
typedef struct nv_block_pool nv_block_pool; /* src/core/blockpool.h */

/* One model about to train, as the recorder sees it. Everything is borrowed and
 * outlives the model's training (and its queued jobs). */
typedef struct {
    const nv_experiment *ex;
    const char *run_dir;
    const char *config_text;      /* the resolved config */
    const nv_model_def *model;
    const nv_backend *backend;    /* has step_record */
    nv_trainer *trainer;          /* holds the model's state (initial or checkpoint) */
    const nv_dataset *train;      /* rows the batches index: ids and labels */
    nv_bgqueue *bg;               /* the run's writer: jobs run in submission order */
    nv_hash_memo *memo;           /* hashes for hashes.json, filled by the writer */
    nv_block_pool *pool;          /* memory for what the writer stores, given back after */
    int64_t steps_per_epoch;
    int64_t start_epoch;          /* epochs completed before the first step */
    int64_t start_step;           /* optimiser steps taken before the first step */
    int resumed;                  /* continuing from a checkpoint (--resume) */
} nv_record_model;

typedef struct {
    /* Before the run directory is touched: the config against the data's size. */
    nv_status (*check)(const nv_experiment *ex, int64_t steps_per_epoch, nv_error *err);
    /* A model starts (its writer drained when resumed); *state is the recorder's.
     * note (len bytes) may get a line for the log (sizes per step). */
    nv_status (*begin)(const nv_record_model *m, void **state, char *note, size_t len,
                       nv_error *err);
    /* Performs the model's next optimiser step on rows idx[0..b) of the train slot
     * (in epoch `epoch`) in place of nv_backend.step, recording what is scheduled;
     * *loss as nv_backend.step. */
    nv_status (*step)(void *state, const uint32_t *idx, int64_t b, int64_t epoch, float *loss,
                      nv_error *err);
    /* The epoch's last step is done. When the epoch ends a chunk of the record
     * (chunks hold whole epochs, or pieces of one long epoch), hands the chunk to
     * the writer and sets *boundary = 1; otherwise *boundary = 0, and run.c takes
     * no checkpoint at this epoch: a checkpoint (queued after the chunk) then never
     * names a step whose records are not on disk, and a resumed run starts on a
     * chunk boundary, so it writes the same chunks as an uninterrupted one. */
    nv_status (*epoch_end)(void *state, int64_t epoch, int *boundary, nv_error *err);
    /* The model is done (finished = 1 after its last epoch, 0 when training
     * stopped); frees the state. note may get a closing line (bytes written). */
    nv_status (*end)(void *state, int finished, char *note, size_t len, nv_error *err);
    /* The model that trains after the current one, from its first step (m's
     * trainer, bg and start fields unset): memory for its first records may be
     * made ready in the background. Advice only; may be NULL. */
    void (*prepare)(const nv_record_model *m);
} nv_record_hooks;

typedef struct {
    const char *out_dir;      /* the run directory */
    int resume;               /* continue from checkpoints */
    int force;                /* start over in a directory that holds another run */
    volatile sig_atomic_t *stop;  /* set to 1 (e.g. from SIGINT) to stop after the
                                     current step; may be NULL */
    void (*on_event)(void *ctx, const nv_train_event *ev);
    void *ctx;
    const char *command_line; /* recorded in run.json */
    const nv_record_hooks *recorder; /* the dynamics recorder (required when the
                                        config's dynamics.enabled is true) */
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
