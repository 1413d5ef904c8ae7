/* phrun.h: persistent homology over a whole training run (`nerve ph RUN`,
 * analysis/ph_run*.c).
 *
 * The run's snapshots (found through snapshots/manifest.json, read with
 * snapshot.h) are turned into persistence diagrams: for every snapshot file
 * (model x epoch), every stored layer, every requested split, and each class as
 * well as all classes together, the Vietoris-Rips barcode (ph.h) of at most
 * `landmarks` max-min landmarks under the chosen distance (metric.h). One output
 * file per snapshot file, analysis/ph/<model>/epoch_EEEE.h5, format
 * "nerve-diagrams" version 1 (docs/ph-runs.md has every path and attribute),
 * written atomically, so the verb is idempotent, resumable after a kill and
 * splittable over a job array (--task i --tasks N).
 *
 * The scale at which Betti numbers are read is calibrated once per run on the
 * input layer (Naitzat, Zhitnikov and Lim 2020; calibrate.h, nv_calibrate) and
 * recorded in analysis/ph/calibration.json; every diagram file records the k and
 * scale it was made with.
 *
 * The summary step reads whatever diagram files exist (a job array may be half
 * done) and writes analysis/ph/summary.csv, analysis/ph/distances.csv and the
 * figures under analysis/figures/.
 *
 * Library code: never prints; progress reaches the caller through on_event.
 */
#ifndef NERVE_PHRUN_H
#define NERVE_PHRUN_H

#include "nerve/common.h"
#include "nerve/metric.h"
#include "nerve/mlp.h" /* nv_device_kind */
#include "nerve/run_index.h" /* nv_run_select */

#ifdef __cplusplus
extern "C" {
#endif

#define NV_DIAGRAMS_FORMAT "nerve-diagrams"
#define NV_DIAGRAMS_VERSION 1
#define NV_PHRUN_MAX_DIMS 8
#define NV_PHRUN_MAX_SPLITS 3
#define NV_PHRUN_MAX_MODELS 8
#define NV_PHRUN_MAX_TCLASSES 16   /* classes that can have their own target Betti numbers */

typedef enum {
    NV_PHRUN_EV_NOTE = 0,    /* a line of information (text) */
    NV_PHRUN_EV_START,       /* total = snapshot files this task will compute */
    NV_PHRUN_EV_FILE_DONE,   /* done of total finished; text = output path */
    NV_PHRUN_EV_SUMMARY      /* the summary step is running; text = what */
} nv_phrun_event_kind;

typedef struct {
    nv_phrun_event_kind kind;
    int64_t done, total;
    const char *text;
} nv_phrun_event;

typedef struct {
    nv_metric_kind metric;       /* default NV_METRIC_KNN_HOPS */
    int k;                       /* > 0: fixed k (kNN kinds); 0: calibrate */
    double scale;                /* >= 0: fixed scale; < 0 (default): calibrate */
    int k_min, k_max;            /* calibration range of k (default 14 .. 40: Naitzat et al.'s
                                    k = 14 first; docs/ph-runs.md says why) */
    int ntarget;                 /* 0: from the data (spheres, disks, tori) or (1) */
    int64_t target[NV_PHRUN_MAX_DIMS];  /* target Betti numbers of each class */
    int ntarget_classes;         /* > 0: class i (i-th label ascending, i < ntarget_classes)
                                    has its own target class_target[i][0..ntarget) (D-I:
                                    (9, 0) for class a and (1, 9) for class b); classes past
                                    the list take the last one; `target` is then unused */
    int64_t class_target[NV_PHRUN_MAX_TCLASSES][NV_PHRUN_MAX_DIMS];
    int max_dim;                 /* homology dimensions 0 .. max_dim (default 1) */
    double threshold;            /* Rips threshold: NAN (default) = the calibrated scale
                                    for knn-hops (Betti numbers at the scale are exact,
                                    and hop-count ties make full diagrams ~10x slower),
                                    none for the other metrics; INFINITY = none */
    int64_t landmarks;           /* max-min landmarks per snapshot and class (default 200:
                                    Rips H1 cost grows about cubically, and 500 under
                                    knn-hops takes ~3 s a diagram, docs/ph-runs.md);
                                    0: every point (no landmarks) */
    int dedup;                   /* 1: exact duplicate rows of a class set are removed first
                                    (a ReLU layer maps many points to one vector; Naitzat
                                    et al. remove them); default 0 */
    int nmodels;                 /* 0: every model; else only these */
    char models[NV_PHRUN_MAX_MODELS][64];
    int label_k;                 /* the labelled kNN filtration (labelled.h): neighbours
                                    k = 1 .. label_k (default 20); 0: not computed */
    char label_split[8];         /* its split (default "test": held-out points; "all"
                                    where a snapshot has no test rows) */
    int nsplits;
    char splits[NV_PHRUN_MAX_SPLITS][8];  /* default: {"all"} */
    char only_layer[64];         /* "" all layers; else only this one (must exist) */
    int threads;                 /* 0: nv_default_threads() */
    nv_device_kind device;       /* nv_ph_params.device of every diagram (default AUTO:
                                    the GPU stages for large landmark sets when usable);
                                    the diagrams are the same on either device */
    int task, tasks;             /* job-array slice; tasks <= 1: everything */
    int figures;                 /* draw figures in the summary step (default 1) */
    int distances;               /* write distances.csv in the summary step (default 1; the
                                    Wasserstein matching is cubic in the bars, minutes for
                                    diagrams of thousands of points) */
    int force;                   /* recompute even where outputs exist */
    nv_run_select select;        /* models, layers and epochs to compute (all zero: every
                                    one); the summary still reads every diagram file */
    void (*on_event)(void *ctx, const nv_phrun_event *ev);
    void *ctx;
} nv_phrun_options;

void nv_phrun_options_defaults(nv_phrun_options *o);

/* What a call did, for the command line's closing line. */
typedef struct {
    int64_t files_total;         /* snapshot files in the run (all tasks) */
    int64_t files_owned;         /* of those, this task's */
    int64_t files_computed;      /* written now */
    int64_t files_skipped;       /* already there with the same parameters */
    int64_t diagrams;            /* diagrams (layer x split x class) written now */
    int calibrated;              /* 1: calibration computed now; 0: reused or given */
    int k;                       /* what was used */
    double scale;
    double threshold;            /* the Rips threshold used (INFINITY: none) */
    int summary_written;         /* 1: summary.csv / distances.csv rewritten */
    int64_t summary_files;       /* diagram files the summary read */
    int64_t figures_written;
} nv_phrun_report;

/* Calibrates (or reuses analysis/ph/calibration.json when it was made with the
 * same settings), computes this task's diagram files, then runs the summary step.
 * Bad input (not a run directory, a snapshot missing or of an unknown version, a
 * layer that no snapshot has, a metric that needs calibration it cannot get) is
 * NV_EINPUT with a message naming the file. */
nv_status nv_phrun_run(const char *run_dir, const nv_phrun_options *o, nv_phrun_report *rep,
                       nv_error *err);

/* The summary step alone (--summarize-only): reads every diagram file that exists
 * for the run's snapshots and rewrites summary.csv, distances.csv and figures. */
nv_status nv_phrun_summarize(const char *run_dir, const nv_phrun_options *o, nv_phrun_report *rep,
                             nv_error *err);

#ifdef __cplusplus
}
#endif
#endif
