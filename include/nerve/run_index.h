/* run_index.h: the run index every per-run stage plans from, and the `nerve pca RUN`
 * and `nerve stats RUN` pipeline stages.
 *
 * Where they fit: `nerve train` leaves snapshots (activations per model, epoch,
 * layer and split) listed in <run>/snapshots/manifest.json. Every per-run stage
 * (`nerve ph/pca/stats/features RUN`) finds them through one run index
 * (nv_run_index_read below): the manifest read once, every listed file checked, the
 * files grouped by model, and the user's selection applied. The stages here read
 * the snapshots through include/nerve/snapshot.h, run the numerical library on each
 * (PCA of include/nerve/pca.h; TwoNN, CKA and probes of include/nerve/stats.h)
 * and write under <run>/analysis/ (docs/pca-stats.md has every path and field):
 *
 *   analysis/pca/<model>/epoch_EEEE.h5   format "nerve-pca" v1, one per snapshot file
 *   analysis/stats/stats.h5              format "nerve-stats" v1, one per run
 *   analysis/stats/<table>.csv           the same numbers as tables
 *   analysis/figures/pca_grid_<model>.{png,svg}, id_probe.{png,svg}, cka_*.{png,svg}
 *
 * Every output file is written under a temporary name and renamed into place, so
 * a stage killed at any moment can simply be run again: outputs that exist and
 * were made with the same parameters (root attributes) are kept, the rest made.
 *
 * Library code: these functions never print; progress goes through a callback.
 */
#ifndef NERVE_ANALYSIS_RUN_H
#define NERVE_ANALYSIS_RUN_H

#include "nerve/common.h"
#include "nerve/mlp.h" /* nv_device_kind */

#ifdef __cplusplus
extern "C" {
#endif

#define NV_PCA_RUN_FORMAT "nerve-pca"
#define NV_PCA_RUN_VERSION 1
#define NV_STATS_FORMAT "nerve-stats"
#define NV_STATS_VERSION 1

/* Called from worker threads (serialised by the caller's own lock if it needs
 * one) after each unit of work: done of total, and a short label. May be NULL. */
typedef void (*nv_run_progress_fn)(void *ctx, int64_t done, int64_t total, const char *what);

/* --- the run index (shared by every per-run stage) -----------------------------------
 * What a stage needs to plan its work, from <run_dir>/snapshots/manifest.json read
 * once (never by listing directories, so no stage opens a file a writer still holds:
 * docs/CONTRACTS.md section 2):
 *  - every file the manifest lists for a selected model is checked before any work
 *    starts: it exists, and it is a snapshot of a format version this nerve reads;
 *  - the files are grouped by model (the manifest's order of models), epochs
 *    ascending (alignment and CKA across epochs walk them in order);
 *  - the layer names in network order come from each model's first snapshot (the
 *    root attribute layer_names; the network is the same at every epoch);
 *  - the user's selection is applied: models and layers by leaving out what is not
 *    selected, epochs and the job-array slice as flags (a stage may still use an
 *    unselected earlier epoch: PCA alignment does). */

/* Which snapshots a stage covers. NULL lists mean "all"; a name or epoch that the
 * run does not have is NV_EINPUT naming it and listing what exists. */
typedef struct {
    const char *const *models;  /* (n_models) */
    int n_models;
    const char *const *layers;  /* (n_layers) layer names, e.g. "hidden1" */
    int n_layers;
    const int64_t *epochs;      /* (n_epochs) */
    int n_epochs;
} nv_run_select;

typedef struct {
    nv_run_select select;     /* the user's selection (all zero: everything) */
    int task, tasks;          /* the job-array slice: file k of the manifest is this task's
                                 when nv_task_owns(k, task, tasks); tasks <= 1: every file */
    int keep_layerless;       /* 1: keep models that have none of the selected layers (with
                                 n_layers 0; `nerve ph` still lists their files); 0: drop
                                 them, unless no model has one */
} nv_run_index_opts;

typedef struct {
    char model[64];
    int64_t n_epochs;
    int64_t *epochs;          /* (n_epochs) ascending */
    char **paths;             /* (n_epochs) snapshot file paths <run_dir>/snapshots/<path> */
    const char **rel_paths;   /* (n_epochs) the same relative to the run directory,
                                 "snapshots/<path>" (point into paths[e]: not freed apart) */
    int64_t *manifest_index;  /* (n_epochs) position in the manifest: the job-array key */
    unsigned char *selected;  /* (n_epochs) 1 where the epoch is selected */
    unsigned char *owned;     /* (n_epochs) 1 where the epoch is selected and this task's */
    int n_layers;
    char **layers;            /* (n_layers) selected layer names present in this model, network order */
    int n_stored_layers;
    char **stored_layers;     /* (n_stored_layers) every layer the model's snapshots hold,
                                 network order (selected or not) */
} nv_run_model;

typedef struct {
    int n_models;             /* selected models that have snapshots, manifest order */
    nv_run_model *models;     /* (n_models) */
    int64_t n_manifest;       /* entries in the manifest (every model) */
    int64_t n_selected;       /* selected snapshot files (selected[] set) */
    int64_t n_owned;          /* of those, this task's (owned[] set) */
} nv_run_index;

/* Reads <run_dir>/snapshots/manifest.json. `o` may be NULL (everything, one task).
 * NV_EINPUT, naming what is wrong: not a directory; not a run (no
 * snapshots/manifest.json); a manifest that lists no snapshots ("run nerve train
 * first"); a selected model, layer or epoch the run lacks (the
 * message lists what exists); a task outside [0, tasks); a file the manifest lists
 * (of a selected model) that is missing, or that is not a snapshot of a known format
 * version (the message names the file). Free with nv_run_index_free (accepts NULL
 * contents). */
nv_status nv_run_index_read(const char *run_dir, const nv_run_index_opts *o, nv_run_index *out,
                            nv_error *err);
void nv_run_index_free(nv_run_index *ix);

/* One snapshot file of an index: epoch position e of model m. */
typedef struct {
    int m;
    int64_t e;
} nv_run_ref;

/* The index's selected files (owned_only: only this task's) in manifest order, the
 * order of the work items of a stage that handles one file at a time. *refs is
 * malloc'd (caller frees; never NULL on NV_OK), *n its length. */
nv_status nv_run_index_list(const nv_run_index *ix, int owned_only, nv_run_ref **refs, int64_t *n,
                            nv_error *err);
/* --- nerve pca RUN --------------------------------------------------------------- */
typedef struct {
    int64_t k;               /* components kept and projected on; 0 means NV_PCA_DEFAULT_K */
    nv_device_kind device;   /* handed to nv_pca_fit */
    int task, tasks;         /* job-array slice over snapshot files (nv_task_owns); tasks 0 = 1 */
    int threads;             /* worker threads over (model, layer) chains; 0 = default */
    int figures;             /* 1: (re)draw analysis/figures/pca_grid_<model>.{png,svg} */
    int figure_points;       /* points per split drawn in a figure panel; 0 means 250 */
    nv_run_select select;
    nv_run_progress_fn progress;
    void *progress_ctx;
    int force;               /* 1: remake this task's selected files even when they exist
                                with the same parameters */
} nv_pca_run_opts;

typedef struct {
    int64_t snapshots;       /* snapshot files selected */
    int64_t written;         /* output files written by this call */
    int64_t skipped;         /* selected and owned, but already there with the same parameters */
    int64_t not_owned;       /* left to other tasks */
    int64_t fits;            /* PCA fits computed (including those only needed for alignment) */
    int figures;             /* figure files written */
    const char *device_note; /* static text when AUTO fell back to the CPU, else NULL */
} nv_pca_run_result;

/* Runs the PCA stage over <run_dir>. `opts` may be NULL (defaults); `res` may be NULL. */
nv_status nv_pca_run(const char *run_dir, const nv_pca_run_opts *opts, nv_pca_run_result *res,
                     nv_error *err);

/* --- nerve pca FILE ----------------------------------------------------------------
 * Reads a plain matrix: a CSV file of numbers (comma, tab, semicolon or blank
 * separated; a first line with a non-number is a header and is skipped), or
 * "file.h5:/path/to/dataset" (a 2-D numeric dataset). *out is malloc'd (rows, cols)
 * row-major, caller frees. Errors are NV_EINPUT naming the file, line and column:
 * a field that is not a number, a NaN/Inf (row and column, 1-based as in the file),
 * rows of different length, an empty file. */
nv_status nv_matrix_read(const char *spec, nv_real **out, int64_t *rows, int64_t *cols,
                         nv_error *err);

/* Reads one output file of `nerve pca RUN` the way the stage reads its earlier
 * outputs: the parameters a rerun compares, one layer's components (the next
 * epoch's alignment), its projections of both splits and variance ratios (the
 * figure, drawn into a figure that is not saved). NV_EINPUT naming the file for
 * anything malformed. For tests and tests/fuzz/fuzz_h5_pca.c. */
nv_status nv_pca_run_read_output(const char *path, const char *layer, nv_error *err);

/* --- nerve stats RUN -------------------------------------------------------------- */
typedef struct {
    int64_t twonn_points;    /* TwoNN on at most this many rows per split (strided); 0 means 2000 */
    int64_t cka_points;      /* CKA on at most this many rows of the `all` split; 0 means 10000 */
    double probe_C;          /* the probe's inverse L2 strength; 0 means 1 */
    int probe_max_iter;      /* 0 means 500 */
    int threads;             /* worker threads; 0 = default */
    int figures;             /* 1: draw id_probe and cka heat maps */
    int force;               /* 1: recompute even when stats.h5 matches */
    nv_run_select select;
    nv_run_progress_fn progress;
    void *progress_ctx;
} nv_stats_run_opts;

typedef struct {
    int64_t snapshots;       /* snapshot files used */
    int skipped;             /* 1: stats.h5 already held these results; nothing recomputed */
    int figures;             /* figure files written */
} nv_stats_run_result;

nv_status nv_stats_run(const char *run_dir, const nv_stats_run_opts *opts, nv_stats_run_result *res,
                       nv_error *err);


/* Row indices of a deterministic subsample of m out of n rows (m < n): evenly
 * strided, floor(i * n / m) for i < m, so every part of the (class-stratified)
 * split is represented and no random stream is needed. idx caller-allocated (m). */
void nv_run_strided_rows(int64_t n, int64_t m, int64_t *idx);

/* Writes rows (rows, cols) of doubles as CSV (%.17g, optional header line without
 * a newline; NULL for none) atomically (temporary name + rename). */
nv_status nv_csv_write_matrix(const char *path, const char *header, const double *x, int64_t rows,
                              int64_t cols, nv_error *err);

#ifdef __cplusplus
}
#endif
#endif
