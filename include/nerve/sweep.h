/* sweep.h: parameter sweeps, their local and Slurm backends, the merged table
 * of a finished sweep, and the dataset hashes that make every run checkable.
 *
 * A sweep is an experiment config (config.h) in which some keys hold a list of
 * values instead of one value. Each such key is an axis; the sweep is the
 * cartesian product of the axes, one task per combination. Seeds are the
 * replicate axis: `seeds = [1, 2, 3];` at the top level (or `seed = [1, 2, 3];`),
 * always the innermost axis, so the tasks of one configuration are consecutive
 * and `nerve collect` averages over them. A key whose value is itself a list
 * (models.hidden, data.spheres.radius, snapshots.epochs, snapshots.layers) is an
 * axis only when it holds a list of lists, written with libconfig's parentheses:
 * `hidden = ([64, 64, 64], [32, 32, 32, 32]);`.
 *
 * `nerve sweep CONFIG --out DIR` writes DIR/tasks/<NNNN>/config.cfg (each one the
 * resolved config of a plain experiment, validated before anything is written)
 * and DIR/sweep.json (axes, tasks and their values). The tasks then run locally
 * (nv_sweep_run_local: a pool of child processes, `nerve train ... --resume`) or as
 * Slurm job arrays (nv_sweep_slurm_*: scripts for sbatch; Slurm schedules). Both
 * backends run the same commands on the same files, so they give the same bytes.
 *
 * Reproducibility record: at the end of training a run writes DIR/hashes.json,
 * the XXH3-128 of the raw data of every dataset in every HDF5 file of the run
 * (nv_run_hashes_write); it is also the run's completion marker. `nerve verify
 * RUN` recomputes them (nv_run_hashes_verify).
 *
 * Library code: returns nv_status with an nv_error, never prints; progress of a
 * local sweep reaches the caller through on_event.
 */
#ifndef NERVE_SWEEP_H
#define NERVE_SWEEP_H

#include <stddef.h>
#include <stdint.h>

#include "nerve/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NV_SWEEP_MAX_AXES 32
#define NV_SWEEP_KEY_LEN 128
#define NV_SWEEP_DEFAULT_MAX_TASKS 1000
#define NV_SWEEP_FORMAT "nerve-sweep"
#define NV_SWEEP_VERSION 1

/* ---- expansion ---------------------------------------------------------------- */
typedef struct {
    char key[NV_SWEEP_KEY_LEN];   /* "models.activation", "seed" */
    int nvalues;
    char **labels;                /* (nvalues) short text: "relu", "64-64-64" */
    char **json;                  /* (nvalues) the value as JSON text */
} nv_sweep_axis;

typedef struct {
    char source[1024];            /* the sweep config it was read from */
    int naxes;
    nv_sweep_axis axes[NV_SWEEP_MAX_AXES];  /* document order; the seed axis last */
    int seed_axis;                /* index of the seed axis, -1 when there is none */
    int64_t ntasks;               /* product of the axes' sizes */
    int64_t nconfigs;             /* ntasks / seeds: configurations to compare */
    int digits;                   /* width of task names (4: 0000 .. 9999) */
    char **task_configs;          /* (ntasks) resolved config text of each task */
    int64_t *task_seeds;          /* (ntasks) the seed each task trains with */
} nv_sweep_plan;

/* Reads a sweep config, expands it and validates every task's config (the
 * first bad task is reported with its axis values). An empty expansion (an axis
 * with no values) or more than max_tasks tasks is NV_EINPUT. The plan is
 * allocated; free it with nv_sweep_plan_free. */
nv_status nv_sweep_plan_load(const char *path, int64_t max_tasks, nv_sweep_plan **out,
                             nv_error *err);
/* The same with overrides applied to every task's config (libconfig text, as
 * nv_config_load's; `nerve sweep --epochs N` makes "train: { epochs = N; };"). */
nv_status nv_sweep_plan_load_with(const char *path, int64_t max_tasks, const char *const *overrides,
                                  int noverrides, nv_sweep_plan **out, nv_error *err);
void nv_sweep_plan_free(nv_sweep_plan *p);

/* The value index of every axis for task t (idx has naxes entries); the seed
 * axis varies fastest. */
void nv_sweep_task_index(const nv_sweep_plan *p, int64_t t, int *idx);
/* Task name ("0007") into buf. */
void nv_sweep_task_name(const nv_sweep_plan *p, int64_t t, char *buf, size_t len);

/* Writes DIR/tasks/<NNNN>/config.cfg and DIR/sweep.json. Writing the same sweep
 * again is a no-op; a DIR holding a different sweep is refused (NV_EINPUT). */
nv_status nv_sweep_write(const nv_sweep_plan *p, const char *dir, nv_error *err);

/* ---- what a sweep directory holds (read back from sweep.json) ------------------ */
typedef struct {
    char name[16];                /* "0007" */
    int64_t config;               /* configuration index (all axes but the seed) */
    char **labels;                /* (naxes) */
    int64_t seed;
} nv_sweep_task;

typedef struct {
    int naxes, seed_axis;
    char keys[NV_SWEEP_MAX_AXES][NV_SWEEP_KEY_LEN];
    int64_t ntasks, nconfigs;
    nv_sweep_task *tasks;         /* (ntasks) */
} nv_sweep_index;
nv_status nv_sweep_index_load(const char *dir, nv_sweep_index **out, nv_error *err);
void nv_sweep_index_free(nv_sweep_index *ix);

/* A task is finished when its run holds hashes.json (written last by training)
 * and the run's config.cfg is the task's. */
int nv_sweep_task_finished(const char *dir, const char *task_name);

/* ---- local backend -------------------------------------------------------------- */
typedef enum {
    NV_SWEEP_EV_NOTE = 0,     /* text */
    NV_SWEEP_EV_START,        /* task, text = the stage ("train", "analyze") */
    NV_SWEEP_EV_DONE,         /* task finished every stage; done of total */
    NV_SWEEP_EV_SKIP,         /* task already finished (hashes.json present) */
    NV_SWEEP_EV_FAIL          /* task failed: text = why (its last error line), log = its log */
} nv_sweep_event_kind;

typedef struct {
    nv_sweep_event_kind kind;
    const char *task;
    const char *text;
    const char *log;
    int exit_code;
    int64_t done, total;
} nv_sweep_event;

#define NV_SWEEP_MAX_STEPS 8
typedef struct {
    const char *nerve;            /* the nerve binary the tasks run */
    const char *dir;              /* the sweep directory (nv_sweep_write) */
    int jobs;                     /* tasks at once (0: the cores available) */
    const char *device;           /* NULL: the config's; else "cpu" / "cuda" */
    int nsteps;                   /* analysis steps after training (0: none) */
    const char *steps[NV_SWEEP_MAX_STEPS];  /* verbs, each run as `nerve VERB RUN` */
    volatile int *stop;           /* set to 1 to start no new task (may be NULL) */
    void (*on_event)(void *ctx, const nv_sweep_event *ev);
    void *ctx;
} nv_sweep_local_options;

/* Whether this nerve has `verb` built: `nerve VERB --help` exits 0. Steps that
 * are not built are skipped by the caller with a message. */
int nv_sweep_verb_available(const char *nerve, const char *verb);

/* Runs every unfinished task: `nerve train TASK/config.cfg --out TASK/run --resume
 * --threads 1`, then each step, logs in TASK/train.log and TASK/<verb>.log. Every
 * task runs even when others fail; the first failure is returned (NV_EINPUT when
 * the task refused its input, e.g. a run directory of another config). */
nv_status nv_sweep_run_local(const nv_sweep_local_options *o, int64_t *nfailed, nv_error *err);

/* ---- Slurm backend ---------------------------------------------------------------- */
typedef struct {
    const char *nerve;            /* absolute path of the nerve binary on the cluster */
    const char *dir;              /* the sweep directory (absolute) */
    const char *workdir;          /* where the jobs run (--chdir), absolute */
    const char *partition, *time, *mem, *account;  /* passed through when set */
    int cpus;                     /* --cpus-per-task (default 1); training uses them */
    int gpu;                      /* one GPU per task: --gres=gpu:1, train --device cuda */
    int nsteps;                   /* analysis steps: an analysis array when > 0 */
    const char *steps[NV_SWEEP_MAX_STEPS];
    int64_t ntasks;
    int digits;
} nv_sweep_slurm_options;

/* The sbatch script text of the training array (analysis = 0) or of the analysis
 * array (analysis = 1). malloc'd. */
char *nv_sweep_slurm_script(const nv_sweep_slurm_options *o, int analysis);
/* Writes DIR/slurm/train.sbatch (and analyze.sbatch when there are steps). */
nv_status nv_sweep_slurm_write(const nv_sweep_slurm_options *o, nv_error *err);
/* The sbatch program on PATH into buf; 0 when there is none. */
int nv_sweep_find_program(const char *name, char *buf, size_t len);
/* Submits the scripts: the training array, then the analysis array with
 * --dependency=aftercorr:<train job>, so analysis task i starts when training task
 * i has finished well. Job ids into train_job / analyze_job (empty when none) and
 * DIR/slurm/jobs.json. */
nv_status nv_sweep_slurm_submit(const nv_sweep_slurm_options *o, char *train_job, char *analyze_job,
                                size_t len, nv_error *err);

/* ---- collect ------------------------------------------------------------------------- */
typedef struct {
    int64_t tasks, finished;
    int64_t configs;
    int analysis_ph, analysis_id, analysis_probes;  /* 1 when found in some task */
    char unfinished[4096];        /* names of unfinished tasks, space separated (truncated) */
    int figure;                   /* 1 when the figure was drawn */
} nv_collect_result;

/* Merges the finished tasks of a sweep directory into DIR/collect/: results.csv
 * (per configuration and model: mean and sample standard deviation over seeds of
 * the final test accuracy), analysis.csv (per configuration, model, layer and
 * quantity: Betti numbers at the last snapshot epoch, intrinsic dimension, probe
 * accuracy, where the analysis files exist), results.md (both tables and the
 * unfinished tasks) and results.png. Same finished runs, same bytes. */
nv_status nv_sweep_collect(const char *dir, int figure, nv_collect_result *res, nv_error *err);

#ifdef __cplusplus
}
#endif
#endif
