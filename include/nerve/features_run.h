/* features_run.h: feature images of a whole training run (`nerve features RUN`,
 * analysis/runs/features_run.c).
 *
 * The run index (run_index.h) lists the run's snapshot files (model x epoch), checks
 * each one and applies the selection (models, epochs) and the job-array slice (task
 * i of N, round robin over the manifest). Each of this task's files is one unit of
 * work, nv_features_snapshot (features.h): analysis/features/<model>/epoch_EEEE.h5
 * (format nerve-features v1, written atomically, skipped when it exists with the
 * same parameters) and, with figures, the layer grids
 * analysis/figures/features/<model>_eEEEE_<layer>.png. The files are spread over
 * threads. When every selected epoch of a model has its file, the history figures
 * of job.history_units are drawn: analysis/figures/features/<model>_<layer>_unit<U>_history.png.
 *
 * Library code: never prints; progress reaches the caller through on_event.
 */
#ifndef NERVE_FEATURES_RUN_H
#define NERVE_FEATURES_RUN_H

#include "nerve/common.h"
#include "nerve/features.h"
#include "nerve/run_index.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nv_features_run_report nv_features_run_report;

typedef enum {
    NV_FEATURES_RUN_EV_START = 0, /* planned, before any file: total = files this task
                                     handles; report has files_total, files_owned and
                                     box_global filled in */
    NV_FEATURES_RUN_EV_FILE_DONE  /* one snapshot file done: done of total, model, epoch,
                                     skipped, device */
} nv_features_run_event_kind;

typedef struct {
    nv_features_run_event_kind kind;
    int64_t done, total;
    const char *model;       /* FILE_DONE: the snapshot's model */
    int64_t epoch;           /* FILE_DONE: and epoch */
    int skipped;             /* FILE_DONE: 1 when its file was up to date (nothing computed) */
    const char *device;      /* FILE_DONE: "cpu" or "cuda", the backend that ran; "" if skipped */
    const nv_features_run_report *report; /* the call's report so far */
} nv_features_run_event;

typedef struct {
    nv_features_job job;     /* the ascent, the box, the device, figures, history units */
    int box_auto;            /* 1: choose job.box_global from the run's input width: a
                                square image of >= 64 inputs takes the global box */
    nv_run_select select;    /* models and epochs; no layers (features are made for every
                                non-input layer of the network) */
    int task, tasks;         /* job-array slice; tasks <= 1: everything */
    int threads;             /* snapshot files in parallel; 0: nv_parallel_for's default */
    /* Called after START and after each file, one call at a time (under the call's
     * lock, from worker threads). May be NULL. */
    void (*on_event)(void *ctx, const nv_features_run_event *ev);
    void *ctx;
} nv_features_run_options;

struct nv_features_run_report {
    int64_t files_total;     /* snapshot files the run's manifest lists */
    int64_t files_owned;     /* selected and this task's */
    int64_t files_written;   /* computed and written now */
    int64_t files_skipped;   /* already there with the same parameters */
    int box_global;          /* the box used (after box_auto) */
    int64_t input_width;     /* the networks' input width (the run's data) */
};

/* Runs the features of this task's snapshot files of run_dir, then the history
 * figures. `rep` may be NULL. Bad input is NV_EINPUT with a message naming the file
 * or option (as nv_run_index_read: not a run, a model or epoch the run lacks, a
 * listed file missing or of an unknown version; a layer selection; a task outside
 * the slice); a failed snapshot's message starts with its path. */
nv_status nv_features_run(const char *run_dir, const nv_features_run_options *o,
                          nv_features_run_report *rep, nv_error *err);

#ifdef __cplusplus
}
#endif
#endif
