/* ph_run_internal.h: what analysis/runs/ph_run.c (planning, calibration, diagram
 * files) and analysis/runs/ph_run_summary.c (summary tables and figures) share. Not a
 * public header: include/nerve/phrun.h is the module's interface. */
#ifndef NERVE_PH_RUN_INTERNAL_H
#define NERVE_PH_RUN_INTERNAL_H

#include <hdf5.h>

#include "nerve/config.h"
#include "nerve/labelled.h"
#include "nerve/phrun.h"
#include "nerve/snapshot.h"

#define PHR_PATH 1024
#define PHR_MAX_LAYERS (NV_MAX_LAYERS + 1)

/* One unit of work: a snapshot file (model x epoch) and its diagram file. */
typedef struct {
    char model[64];
    int64_t epoch;
    int owned;                  /* 1: this task's (the run index's job-array slice) */
    int has_input;              /* 1: the snapshot holds the input layer (the calibration's) */
    char snap_rel[600];         /* "snapshots/<model>/epoch_EEEE.h5", relative to the run */
    char snap_path[2 * PHR_PATH];  /* the same under the run directory */
    char out_path[2 * PHR_PATH];   /* <run>/analysis/ph/<model>/epoch_EEEE.h5 */
    int nlayers;                /* layers analysed (after --layer), network order */
    char layers[PHR_MAX_LAYERS][64];
} phr_item;

typedef struct {
    char run[512];
    char ph_dir[600];           /* <run>/analysis/ph */
    char fig_dir[600];          /* <run>/analysis/figures */
    int64_t n;
    phr_item *items;            /* (n), manifest order: by model, then epoch */
} phr_plan;

/* Every snapshot file of the run from the run index (include/nerve/run_index.h,
 * which checks each listed file's existence, format and version), with the layers
 * to analyse (all, or only_layer where a file has it) and task `task` of `tasks`
 * marked as owned; nmodels > 0 keeps only those models. NV_EINPUT as
 * nv_run_index_read: a directory that is not a run, a listed file that is missing
 * or of an unknown version, only_layer or a model that no snapshot has. */
nv_status phr_plan_make(const char *run_dir, const char *only_layer, const char *const *models,
                        int nmodels, int task, int tasks, phr_plan *plan, nv_error *err);
void phr_plan_free(phr_plan *plan);

/* The summary step (ph_run_summary.c) over the files of `plan` that exist. force = 0
 * skips it when summary.csv, distances.csv and the chart are newer than every
 * diagram file (nothing changed since they were written). */
nv_status phr_summarize(const phr_plan *plan, const nv_phrun_options *o, int force,
                        nv_phrun_report *rep, nv_error *err);

/* Reads every diagram of one diagram file as the summary step does, and computes
 * what it computes of them (total persistence, entropy, Betti numbers, and the
 * bottleneck and Wasserstein distances of consecutive diagrams); *ndiagrams (may be
 * NULL) gets how many groups it held. NV_EINPUT naming the file for anything
 * malformed. For tests/fuzz/fuzz_h5_diagrams.c: the reading and numbers the
 * summary step makes of a file, one file at a time. */
nv_status phr_read_diagram_file(const char *file, int64_t *ndiagrams, nv_error *err);

/* Group names of a diagram file: "class_<c>" or "all"; in CSVs "<c>" or "all". */
#define PHR_ALL_CLASSES "all"

/* The labelled kNN filtration (ph_run_labelled.c, include/nerve/labelled.h). Its
 * results live in each diagram file under /labelled/<layer>. */
#define PHR_LABELLED_GROUP "labelled"

/* The reading of one layer of a snapshot on o->label_split (falling back to "all"
 * when that split has no more than label_k rows); split_used gets the split read,
 * "" (and r->n = 0) when none has enough rows. */
nv_status phr_labelled_compute(const char *snap_path, const char *layer, const nv_phrun_options *o,
                               nv_labelled *r, char *split_used, size_t split_len, nv_error *err);
/* Writes r (nothing when r->n == 0) as /labelled/<layer> of an open diagram file. */
nv_status phr_labelled_write(hid_t fid, const char *file, const char *layer, const char *split,
                             const nv_labelled *r, nv_error *err);
/* analysis/ph/labelled.csv, labelled_betti.csv and (o->figures) the chart
 * analysis/figures/labelled_chart.png/.svg from every diagram file that exists;
 * *figures counts the figure files written. Nothing when no file has the reading. */
nv_status phr_labelled_summarize(const phr_plan *plan, const nv_phrun_options *o, int64_t *figures,
                                 nv_error *err);

#endif
