/* run_index.h: the `nerve pca RUN` and `nerve stats RUN` pipeline stages.
 *
 * Where they fit: `nerve train` leaves snapshots (activations per model, epoch,
 * layer and split) listed in <run>/snapshots/manifest.json. These stages read
 * them through include/nerve/snapshot.h, run the numerical library on each
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


/* --- the run's snapshots, grouped (shared by the stages) ---------------------------
 * What a stage needs to plan its work: per model, the snapshot epochs in order
 * (alignment and CKA across epochs walk them in order), the files, and the layer
 * names in network order (the root attribute layer_names of the model's first
 * snapshot, whose format and version are checked). Selection is applied as flags,
 * so a stage can still use unselected earlier epochs (PCA alignment does). */
typedef struct {
    char model[64];
    int64_t n_epochs;
    int64_t *epochs;          /* (n_epochs) ascending */
    char **paths;             /* (n_epochs) snapshot file paths (run_dir/snapshots/...) */
    int64_t *manifest_index;  /* (n_epochs) position in the manifest: the job-array key */
    unsigned char *selected;  /* (n_epochs) 1 where the epoch is selected */
    int n_layers;
    char **layers;            /* (n_layers) selected layer names present in this model, network order */
} nv_run_model;

typedef struct {
    int n_models;             /* selected models that have snapshots, manifest order */
    nv_run_model *models;     /* (n_models) */
    int64_t n_manifest;       /* entries in the manifest */
} nv_run_index;

/* Reads <run_dir>/snapshots/manifest.json. NV_EINPUT: no manifest or no snapshots
 * ("run nerve train first"), a selected model, layer or epoch the run lacks (the
 * message lists what exists), a snapshot of an unknown format version. `sel` may be
 * NULL. Free with nv_run_index_free (accepts NULL contents). */
nv_status nv_run_index_read(const char *run_dir, const nv_run_select *sel, nv_run_index *out,
                            nv_error *err);
void nv_run_index_free(nv_run_index *ix);

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
