/* run.c: the training run (run.h). For each model of the experiment (smallest
 * first, see nv_train_run):
 * initialise (or load the checkpoint), then per epoch: the shared shuffled order,
 * minibatch steps, evaluation on train and test, metrics files, a snapshot when the
 * schedule says so, and a checkpoint. All models see the same data, the same
 * per-epoch sample order and the same seed.
 */
#include "nerve/run.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>

#include "core/bgqueue.h"
#include "core/blockpool.h"
#include "store/h5util.h"
#include "nerve/checkpoint.h"
#include "nerve/rng.h"
#include "nerve/snapshot.h"
#include "nerve/strbuf.h"
#include "nerve/sweep.h"
#include "nerve/fsutil.h"
#include "nerve/runhash.h"

/* Library versions for run.json (the reproducibility record, docs/sweeps.md). */
#include <cblas.h>
#include <libconfig.h>
#include <xxhash.h>
#include <zlib.h>
#include "nerve/device.h"

/* Columns of the per-epoch metrics table (checkpoint, CSV and metrics.h5). */
enum { M_EPOCH, M_TRAIN_LOSS, M_TRAIN_ACC, M_TEST_LOSS, M_TEST_ACC, M_COLS };
static const char *METRIC_NAMES[M_COLS] = {"epoch", "train_loss", "train_acc", "test_loss", "test_acc"};

/* Snapshot jobs and dynamics chunks take their memory from the run's block pool
 * (core/blockpool.h) and the writer gives it back; at most this much is kept. */
#define POOL_BYTES ((size_t)256 << 20)

typedef struct {
    const nv_experiment *ex;
    const nv_train_options *opt;
    const char *dir;
    char *config_text;
    nv_dataset train, test;
    const nv_backend *backend;
    nv_bgqueue *bg;                  /* the writer of every file during training */
    nv_hash_memo *memo;              /* snapshot hashes, taken by the writer (hashes.json) */
    nv_block_pool *pool;             /* snapshot and dynamics memory, given back by the writer */
    int nmodels;
    nv_model_def models[NV_MAX_MODELS];
    double *metrics[NV_MAX_MODELS];  /* (epochs + 1, M_COLS) per model */
    int64_t metric_rows[NV_MAX_MODELS];
} run_ctx;

static void emit(const run_ctx *rc, nv_train_event ev) {
    if (rc->opt->on_event) rc->opt->on_event(rc->opt->ctx, &ev);
}

static void note(const run_ctx *rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(const run_ctx *rc, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    nv_train_event ev = {.kind = NV_EV_NOTE, .text = buf};
    emit(rc, ev);
}

static int path_exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* The first line where two texts differ (1-based), for a useful refusal. */
static int first_diff_line(const char *a, const char *b) {
    int line = 1;
    for (; *a && *a == *b; a++, b++)
        if (*a == '\n') line++;
    return line;
}

/* Removes what a previous run left (only the files and folders a run writes). */
static nv_status clear_run_dir(const char *dir, nv_error *err) {
    static const char *items[] = {"snapshots", "checkpoints", "metrics", "metrics.h5", "summary.json",
                                  "config.cfg", "data.h5", "run.json", "log.txt",
                                  "hashes.json", "dynamics"};
    for (size_t i = 0; i < NV_ARRAY_LEN(items); i++) {
        char p[NV_PATH_LEN + 64];
        snprintf(p, sizeof p, "%s/%s", dir, items[i]);
        if (!path_exists(p)) continue;
        char cmd[2 * sizeof p];
        snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", p);
        if (strchr(p, '\'') || system(cmd) != 0)
            return nv_fail(err, NV_EIO, "%s: could not remove the previous run's files", p);
    }
    return NV_OK;
}

/* --- metrics files (written by the background queue) -------------------------------- */
/* A copy of every model's metrics table at one moment, for the writer thread. */
typedef struct {
    char dir[NV_PATH_LEN];
    int nmodels;
    int csv_model;                        /* whose CSV to rewrite */
    char names[NV_MAX_MODELS][NV_NAME_LEN];
    int64_t rows[NV_MAX_MODELS];
    double *metrics[NV_MAX_MODELS];       /* (rows, M_COLS) each, owned */
} metrics_job;

static void metrics_job_free(void *p) {
    metrics_job *j = p;
    for (int m = 0; m < NV_MAX_MODELS; m++) free(j->metrics[m]);
    free(j);
}

static nv_status write_metrics_csv(const metrics_job *j, int m, nv_error *err) {
    size_t cap = 128 + (size_t)j->rows[m] * 128;
    char *text = malloc(cap);
    if (!text) return nv_fail(err, NV_ENOMEM, "out of memory for the metrics table");
    size_t len = (size_t)snprintf(text, cap, "epoch,train_loss,train_acc,test_loss,test_acc\n");
    for (int64_t r = 0; r < j->rows[m]; r++) {
        const double *row = j->metrics[m] + r * M_COLS;
        len += (size_t)snprintf(text + len, cap - len, "%lld,%.9g,%.9g,%.9g,%.9g\n", (long long)row[M_EPOCH],
                                row[M_TRAIN_LOSS], row[M_TRAIN_ACC], row[M_TEST_LOSS], row[M_TEST_ACC]);
    }
    char path[NV_PATH_LEN + 128];
    snprintf(path, sizeof path, "%s/metrics/%s.csv", j->dir, j->names[m]);
    nv_status st = nv_atomic_write_text(path, text, err);
    free(text);
    return st;
}

/* metrics.h5: one group per model with a (rows, 5) float64 table "metrics" and its
 * column names; written whole to a temporary file and renamed. */
static nv_status write_metrics_h5(const metrics_job *j, nv_error *err) {
    char path[NV_PATH_LEN + 64];
    snprintf(path, sizeof path, "%s/metrics.h5", j->dir);
    char *tmp = NULL;
    hid_t f = nv_h5_create_temp(path, &tmp, err);
    if (f < 0) return err ? err->status : NV_EIO;
    nv_status st;
    if ((st = nv_h5_attr_str(f, "format", "nerve-metrics", tmp, err)) ||
        (st = nv_h5_attr_i64(f, "format_version", 1, tmp, err)))
        goto done;
    for (int m = 0; m < j->nmodels && !st; m++) {
        if (j->rows[m] == 0) continue; /* not started yet */
        hid_t gcpl = nv_h5_gcpl();
        hid_t g = H5Gcreate2(f, j->names[m], H5P_DEFAULT, gcpl, H5P_DEFAULT);
        H5Pclose(gcpl);
        if (g < 0) {
            st = nv_h5_fail(err, NV_EIO, tmp, j->names[m], "cannot create group");
            break;
        }
        int64_t dims[2] = {j->rows[m], M_COLS};
        st = nv_h5_write_dataset(g, "metrics", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dims, j->metrics[m], 0,
                                 tmp, err);
        if (!st) {
            hid_t ds = H5Dopen2(g, "metrics", H5P_DEFAULT);
            st = nv_h5_attr_strs(ds, "columns", METRIC_NAMES, M_COLS, tmp, err);
            H5Dclose(ds);
        }
        H5Gclose(g);
    }
done:
    return nv_h5_finish_temp(f, tmp, path, st, err);
}

static nv_status run_metrics_job(void *p, nv_error *err) {
    metrics_job *j = p;
    nv_status st = write_metrics_csv(j, j->csv_model, err);
    return st ? st : write_metrics_h5(j, err);
}

/* Queues the rewrite of model m's CSV and of metrics.h5 with the tables as they are now. */
static nv_status queue_metrics(const run_ctx *rc, int m, nv_error *err) {
    metrics_job *j = nv_calloc(1, sizeof *j, err);
    if (!j) return NV_ENOMEM;
    snprintf(j->dir, sizeof j->dir, "%s", rc->dir);
    j->nmodels = rc->nmodels;
    j->csv_model = m;
    size_t bytes = sizeof *j;
    for (int i = 0; i < rc->nmodels; i++) {
        snprintf(j->names[i], NV_NAME_LEN, "%s", rc->models[i].name);
        j->rows[i] = rc->metric_rows[i];
        size_t n = sizeof(double) * (size_t)(NV_MAX(rc->metric_rows[i], 1) * M_COLS);
        j->metrics[i] = malloc(n);
        if (!j->metrics[i]) {
            metrics_job_free(j);
            return nv_fail(err, NV_ENOMEM, "out of memory copying the metrics");
        }
        memcpy(j->metrics[i], rc->metrics[i], sizeof(double) * (size_t)(rc->metric_rows[i] * M_COLS));
        bytes += n;
    }
    return nv_bg_submit(rc->bg, run_metrics_job, metrics_job_free, j, bytes, err);
}

/* --- one epoch's pieces -------------------------------------------------------------- */
static int is_snapshot_epoch(const nv_experiment *ex, int64_t e) {
    for (int64_t i = 0; i < ex->nsnap; i++)
        if (ex->snap_epochs[i] == e) return 1;
    return 0;
}

static int want_layer(const nv_experiment *ex, const char *name) {
    if (ex->snap_all_layers) return 1;
    for (int i = 0; i < ex->nsnap_layers; i++)
        if (!strcmp(ex->snap_layers[i], name)) return 1;
    return 0;
}

/* A snapshot to write: the activations already copied out of the trainer. The
 * labels, ids and strings in meta point into the run context, which outlives the
 * queue (nv_train_run stops the queue before freeing them). */
typedef struct {
    int index, pre;
    char name[NV_NAME_LEN];
    const char *kind;
    int64_t width;
    nv_real *train, *test;   /* (n_train, width), (n_test, width), in the job's block */
} snapshot_layer;

typedef struct {
    char dir[NV_PATH_LEN + 32];
    const char *run_dir;
    nv_hash_memo *memo;
    nv_snapshot_meta meta;
    nv_mlp_spec spec;
    nv_real *params;         /* (nparams), in the job's block */
    int nlayers;
    snapshot_layer layer[2 * (NV_MAX_LAYERS + 1)];
    nv_block_pool *pool;     /* where the block goes back */
    void *block;             /* params and every layer's buffers, one allocation */
    size_t block_size;
    size_t bytes;            /* what the job holds, for the writer queue's bound */
    int filled;              /* the activations are in (taken during evaluation) */
} snapshot_job;

static void snapshot_job_free(void *p) {
    snapshot_job *j = p;
    nv_pool_give(j->pool, j->block, j->block_size);
    free(j);
}

static nv_status run_snapshot_job(void *p, nv_error *err) {
    snapshot_job *j = p;
    nv_snapshot_writer *w = NULL;
    nv_status st = nv_snapshot_begin(j->dir, &j->meta, &w, err);
    if (!st) st = nv_snapshot_add_params(w, &j->spec, j->params, err);
    for (int i = 0; i < j->nlayers && !st; i++)
        st = nv_snapshot_add_layer(w, j->layer[i].index, j->layer[i].name, j->layer[i].kind, j->layer[i].pre,
                                   j->layer[i].width, j->layer[i].train, j->layer[i].test, err);
    if (st) {
        nv_snapshot_abort(w);
        return st;
    }
    char *hashes = NULL;
    if ((st = nv_snapshot_commit_hashed(w, &hashes, err))) return st;
    /* The file's dataset hashes for hashes.json, on this thread while training goes
     * on: from the writer's buffers (each byte hashed once, nothing read back), or
     * else by reading the committed file. A failure here is not the run's: the file
     * is hashed again at the end, which reports what is wrong. */
    char rel[NV_PATH_LEN + 128];
    nv_error ignore = {0};
    snprintf(rel, sizeof rel, "snapshots/%s/epoch_%04lld.h5", j->meta.model, (long long)j->meta.epoch);
    if (hashes) nv_hash_memo_put(j->memo, j->run_dir, rel, hashes, &ignore);
    else nv_hash_memo_add(j->memo, j->run_dir, rel, &ignore);
    free(hashes);
    return NV_OK;
}

/* A snapshot of model m at `epoch`, in three steps: prepare (the job: metadata,
 * the parameters, buffers for every stored layer), fill (the activations; done
 * already when the epoch's evaluation took them, evaluate_slot), and queue_snapshot
 * (fill if needed, hand the job to the writer). The training thread's cost is
 * then a copy of each layer out of the evaluation's own forward pass. */
static nv_status snapshot_prepare(const run_ctx *rc, int m, nv_trainer *t, int64_t epoch,
                                  snapshot_job **out, nv_error *err) {
    const nv_model_def *md = &rc->models[m];
    const int L = md->spec.nlayers;
    *out = NULL;
    snapshot_job *j = nv_calloc(1, sizeof *j, err);
    if (!j) return NV_ENOMEM;
    snprintf(j->dir, sizeof j->dir, "%s/snapshots", rc->dir);
    j->run_dir = rc->dir;
    j->memo = rc->memo;
    j->meta = (nv_snapshot_meta){
        .experiment = rc->ex->experiment, .model = md->name, .epoch = epoch, .seed = rc->ex->seed,
        .config_text = rc->config_text, .n_train = rc->train.n, .n_test = rc->test.n,
        .y_train = rc->train.y, .y_test = rc->test.y, .ids_train = rc->train.ids, .ids_test = rc->test.ids,
        .gzip_level = rc->ex->compression};
    j->pool = rc->pool;
    j->spec = md->spec;
    /* The layers first, then one block for the parameters and every buffer, each
     * part starting on a 64-byte line. */
    const size_t line = 64 / sizeof(nv_real);
#define PART(count) (((size_t)(count) + line - 1) / line * line)
    size_t floats = PART(nv_mlp_param_count(&md->spec));
    for (int l = 0; l <= L; l++) {
        char name[NV_NAME_LEN];
        nv_layer_name(l, L, name, sizeof name);
        if (!want_layer(rc->ex, name)) continue;
        for (int pre = 0; pre <= (rc->ex->preactivations && l > 0 && l < L); pre++) {
            snapshot_layer *ly = &j->layer[j->nlayers++];
            ly->index = l;
            ly->pre = pre;
            snprintf(ly->name, sizeof ly->name, "%s", name);
            ly->kind = l == 0 ? "input" : l == L ? "logits" : "hidden";
            ly->width = md->spec.widths[l];
            floats += PART(rc->train.n * ly->width) + PART(NV_MAX(rc->test.n, 1) * ly->width);
        }
    }
    if (!(j->block = nv_pool_take(rc->pool, floats * sizeof(nv_real), &j->block_size, NULL, err))) {
        snapshot_job_free(j);
        return NV_ENOMEM;
    }
    nv_real *next = j->block;
    j->params = next;
    next += PART(nv_mlp_param_count(&md->spec));
    for (int i = 0; i < j->nlayers; i++) {
        snapshot_layer *ly = &j->layer[i];
        ly->train = next;
        next += PART(rc->train.n * ly->width);
        ly->test = next;
        next += PART(NV_MAX(rc->test.n, 1) * ly->width);
    }
#undef PART
    nv_status st = rc->backend->get_state(t, j->params, NULL, NULL, NULL, err);
    if (st) {
        snapshot_job_free(j);
        return st;
    }
    j->bytes = sizeof *j + j->block_size;
    *out = j;
    return NV_OK;
}

/* The activations through the backend's activations call (backends without
 * evaluate_capture, and snapshots taken outside an evaluation). */
static nv_status snapshot_fill(const run_ctx *rc, nv_trainer *t, snapshot_job *j, nv_error *err) {
    nv_status st = NV_OK;
    /* Chunk by chunk (the backends' evaluation chunks): a chunk's rows go through the
     * same sgemm shapes as in the evaluation, so the values are evaluate_capture's. */
    for (int split = 0; split < 2 && !st; split++) {
        const int slot = split ? NV_SLOT_TEST : NV_SLOT_TRAIN;
        const int64_t n = split ? rc->test.n : rc->train.n;
        for (int64_t c0 = 0; c0 < n && !st; c0 += NV_EVAL_ROWS) {
            const int64_t rows = NV_MIN((int64_t)NV_EVAL_ROWS, n - c0);
            for (int i = 0; i < j->nlayers && !st; i++) {
                snapshot_layer *ly = &j->layer[i];
                nv_real *out = (split ? ly->test : ly->train) + c0 * ly->width;
                st = rc->backend->activations(t, slot, c0, rows, ly->index, ly->pre, out, err);
            }
        }
    }
    if (!st) j->filled = 1;
    return st;
}

/* Evaluates one slot; with a snapshot job (cap), takes its activations on the way:
 * one forward pass for both. */
static nv_status evaluate_slot(const run_ctx *rc, nv_trainer *t, int slot, snapshot_job *cap,
                               double *loss, int64_t *correct, nv_error *err) {
    if (!cap) return rc->backend->evaluate(t, slot, loss, correct, err);
    nv_capture c[2 * (NV_MAX_LAYERS + 1)];
    for (int i = 0; i < cap->nlayers; i++)
        c[i] = (nv_capture){cap->layer[i].index, cap->layer[i].pre,
                            slot == NV_SLOT_TEST ? cap->layer[i].test : cap->layer[i].train};
    return rc->backend->evaluate_capture(t, slot, loss, correct, c, cap->nlayers, err);
}

/* The metrics row of an epoch; the snapshot j (may be NULL) gets its activations
 * from this evaluation where the backend can (CUDA cannot yet: queue_snapshot then
 * fills it; NERVE_TEST_NO_CAPTURE takes that path on the CPU, so that the suite
 * checks both give the same bytes). */
static nv_status evaluate_row(const run_ctx *rc, nv_trainer *t, int64_t epoch, double *row,
                              snapshot_job *j, nv_error *err) {
    snapshot_job *cap = j && rc->backend->evaluate_capture && !getenv("NERVE_TEST_NO_CAPTURE") ? j : NULL;
    double loss;
    int64_t correct;
    nv_status st = evaluate_slot(rc, t, NV_SLOT_TRAIN, cap, &loss, &correct, err);
    if (st) return st;
    row[M_EPOCH] = (double)epoch;
    row[M_TRAIN_LOSS] = loss / (double)rc->train.n;
    row[M_TRAIN_ACC] = (double)correct / (double)rc->train.n;
    if (rc->test.n > 0) {
        st = evaluate_slot(rc, t, NV_SLOT_TEST, cap, &loss, &correct, err);
        if (st) return st;
        row[M_TEST_LOSS] = loss / (double)rc->test.n;
        row[M_TEST_ACC] = (double)correct / (double)rc->test.n;
    } else {
        row[M_TEST_LOSS] = row[M_TEST_ACC] = NAN;
    }
    if (cap) cap->filled = 1;
    return NV_OK;
}

/* Queues the snapshot *pj (taking it; *pj is NULL after, even on failure), or a new
 * one of model m at epoch when *pj is NULL, filling it first if needed. */
static nv_status queue_snapshot(const run_ctx *rc, int m, nv_trainer *t, int64_t epoch, snapshot_job **pj,
                                nv_error *err) {
    snapshot_job *j = *pj;
    *pj = NULL;
    nv_status st = NV_OK;
    if (!j && (st = snapshot_prepare(rc, m, t, epoch, &j, err))) return st;
    if (!j->filled && (st = snapshot_fill(rc, t, j, err))) {
        snapshot_job_free(j);
        return st;
    }
    char path[NV_PATH_LEN + 128];
    snprintf(path, sizeof path, "%s/%s/epoch_%04lld.h5", j->dir, rc->models[m].name, (long long)epoch);
    st = nv_bg_submit(rc->bg, run_snapshot_job, snapshot_job_free, j, j->bytes, err);
    if (!st) {
        nv_train_event ev = {.kind = NV_EV_SNAPSHOT, .model = rc->models[m].name, .epoch = epoch, .text = path};
        emit(rc, ev);
    }
    return st;
}

typedef struct {
    char path[NV_PATH_LEN + 128];
    nv_checkpoint ck;   /* params/state in one owned block; metrics owned; the rest borrowed */
} checkpoint_job;

static void checkpoint_job_free(void *p) {
    checkpoint_job *j = p;
    free(j->ck.params);
    free(j->ck.metrics);
    free(j);
}

static nv_status run_checkpoint_job(void *p, nv_error *err) {
    checkpoint_job *j = p;
    return nv_checkpoint_write(j->path, &j->ck, err);
}

static nv_status queue_checkpoint(const run_ctx *rc, int m, nv_trainer *t, int64_t epoch, nv_error *err) {
    const nv_model_def *md = &rc->models[m];
    int64_t np = nv_mlp_param_count(&md->spec);
    checkpoint_job *j = nv_calloc(1, sizeof *j, err);
    if (!j) return NV_ENOMEM;
    nv_checkpoint *ck = &j->ck;
    snprintf(j->path, sizeof j->path, "%s/checkpoints/%s.h5", rc->dir, md->name);
    snprintf(ck->model, sizeof ck->model, "%s", md->name);
    ck->epochs_completed = epoch;
    ck->spec = md->spec;
    ck->nparams = np;
    ck->params = nv_malloc(sizeof(nv_real) * 3 * (size_t)np, err);
    ck->metrics = nv_malloc(sizeof(double) * (size_t)(rc->metric_rows[m] * M_COLS), err);
    if (!ck->params || !ck->metrics) {
        checkpoint_job_free(j);
        return NV_ENOMEM;
    }
    ck->state1 = ck->params + np;
    ck->state2 = ck->params + 2 * np;
    nv_status st = rc->backend->get_state(t, ck->params, ck->state1, ck->state2, &ck->step, err);
    if (st) {
        checkpoint_job_free(j);
        return st;
    }
    ck->metric_rows = rc->metric_rows[m];
    ck->metric_cols = M_COLS;
    ck->metric_names = (char **)METRIC_NAMES;
    memcpy(ck->metrics, rc->metrics[m], sizeof(double) * (size_t)(rc->metric_rows[m] * M_COLS));
    ck->config_text = rc->config_text;
    size_t bytes = sizeof *j + sizeof(nv_real) * 3 * (size_t)np + sizeof(double) * (size_t)(ck->metric_rows * M_COLS);
    return nv_bg_submit(rc->bg, run_checkpoint_job, checkpoint_job_free, j, bytes, err);
}

/* How often a model is checkpointed between snapshot epochs. Every epoch would be
 * simplest, but each checkpoint is fsync'd (file and directory), which for the
 * small spheres nets costs more than the epoch itself; a resumed run redoes at most
 * this much work, and ends with the same bytes whichever checkpoint it starts from. */
#define NV_CHECKPOINT_SECONDS 10.0
/* How often the metrics files are rewritten between checkpoints, so a viewer
 * (nerve serve) shows new epochs within a second or two. They are small, written
 * by the background writer, and a resumed run rewrites them from its checkpoint,
 * so rows past the checkpoint never outlive a --resume. */
#define NV_METRICS_SECONDS 0.5

/* Everything an epoch leaves on disk, queued in the order that keeps a crash safe:
 * the snapshot, then the checkpoint (so a checkpoint never names an epoch whose
 * snapshot is missing), then the metrics tables. Checkpoints and metrics are
 * written at snapshot epochs, at the last epoch, and otherwise every
 * NV_CHECKPOINT_SECONDS; with the dynamics recorder on, only at epochs that end
 * one of its chunks (can_checkpoint; run.h), the first such epoch at or after
 * those. The metrics alone are also written every NV_METRICS_SECONDS. `stopping`:
 * the model stops after this epoch (stop_reached). */
static nv_status queue_epoch_files(const run_ctx *rc, int m, nv_trainer *t, int64_t epoch,
                                   double *last_checkpoint, double *last_metrics, snapshot_job **snapshot,
                                   int can_checkpoint, int stopping,
                                   nv_error *err) {
    nv_status st = NV_OK;
    /* the epoch a model stops at (train.stop_at_train_accuracy) is always
     * snapshotted: it is the model's last */
    int snap = is_snapshot_epoch(rc->ex, epoch) || stopping;
    if (snap) st = queue_snapshot(rc, m, t, epoch, snapshot, err);
    /* can_checkpoint = 0: the dynamics recorder's chunk is still open (run.h) */
    if (!st && can_checkpoint &&
        (snap || epoch == rc->ex->epochs || nv_now() - *last_checkpoint >= NV_CHECKPOINT_SECONDS)) {
        st = queue_checkpoint(rc, m, t, epoch, err);
        if (!st) st = queue_metrics(rc, m, err);
        *last_checkpoint = *last_metrics = nv_now();
    } else if (!st && nv_now() - *last_metrics >= NV_METRICS_SECONDS) {
        st = queue_metrics(rc, m, err);
        *last_metrics = nv_now();
    }
    return st;
}

/* The message for a loss that stopped being finite in epoch e (at `step`, or in the
 * end-of-epoch evaluation when step is 0); the files of epoch e are not written. */
static nv_status diverged(const run_ctx *rc, const nv_model_def *md, int64_t e, int64_t step, nv_error *err) {
    const nv_experiment *ex = rc->ex;
    int64_t last = 0;
    for (int64_t i = 0; i < ex->nsnap; i++)
        if (ex->snap_epochs[i] < e) last = ex->snap_epochs[i];
    char where[64];
    if (step > 0) snprintf(where, sizeof where, "step %lld of epoch %lld", (long long)step, (long long)e);
    else snprintf(where, sizeof where, "epoch %lld", (long long)e);
    nv_error_clear(err);
    return nv_fail(err, NV_ENUMERIC,
                   "model '%s': the loss became NaN or infinite in %s; training stopped. The last good "
                   "snapshot is epoch %lld (snapshots/%s/epoch_%04lld.h5) and the checkpoint is epoch %lld. "
                   "Try a smaller learning rate (train.lr = %g now).",
                   md->name, where, (long long)last, md->name, (long long)last, (long long)(e - 1),
                   (double)ex->optim.lr);
}

/* Whether a model whose latest metrics row is `row` has met train.stop_at_train_accuracy
 * (never when the key is unset; only at epochs that are multiples of
 * train.stop_check_every). Decided from the stored row alone, so a resumed run finds
 * a stopped model stopped. */
static int stop_reached(const nv_experiment *ex, const double *row) {
    const int64_t e = (int64_t)row[M_EPOCH], every = ex->stop_check_every > 1 ? ex->stop_check_every : 1;
    return ex->stop_train_acc > 0.0 && e % every == 0 && row[M_TRAIN_ACC] >= ex->stop_train_acc;
}

/* Trains model m from its checkpoint (or from scratch) to the last epoch, or to the
 * first epoch that meets train.stop_at_train_accuracy; `next` is the model that
 * trains after it (-1: none), whose recorder memory may be made ready meanwhile. */
static nv_status train_model(run_ctx *rc, int m, int next, uint32_t *perm, nv_error *err) {
    const nv_experiment *ex = rc->ex;
    const nv_model_def *md = &rc->models[m];
    const int64_t np = nv_mlp_param_count(&md->spec);
    nv_trainer *t = NULL;
    nv_real *params = NULL;
    snapshot_job *snap = NULL; /* the epoch's snapshot, between evaluation and queue */
    nv_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    int64_t start = 0;
    /* the dynamics recorder, when the config records this model (run.h's hooks) */
    const nv_record_hooks *rec = ex->dynamics.enabled && nv_dyn_records_model(&ex->dynamics, md->name)
                                     ? rc->opt->recorder : NULL;
    void *rstate = NULL;
    int resumed = 0;
    char ckpath[NV_PATH_LEN + 128];
    snprintf(ckpath, sizeof ckpath, "%s/checkpoints/%s.h5", rc->dir, md->name);

    nv_status st = rc->backend->create(&md->spec, &ex->optim, ex->batch_size, &t, err);
    if (st) goto done;
    st = rc->backend->bind(t, NV_SLOT_TRAIN, rc->train.x, rc->train.y, rc->train.n, err);
    if (!st && rc->test.n > 0) st = rc->backend->bind(t, NV_SLOT_TEST, rc->test.x, rc->test.y, rc->test.n, err);
    if (st) goto done;

    if (rc->opt->resume && path_exists(ckpath)) {
        /* HDF5 is used by one thread at a time: let the writer finish first. */
        if ((st = nv_bg_drain(rc->bg, err))) goto done;
        st = nv_checkpoint_read(ckpath, &ck, err);
        if (st) goto done;
        if (ck.nparams != np || ck.metric_cols != M_COLS || ck.epochs_completed > ex->epochs ||
            ck.metric_rows != ck.epochs_completed + 1 ||
            (strcmp(ck.config_text, rc->config_text) &&
             nv_config_diff(ck.config_text, rc->config_text, NULL, 0, NULL, NULL, 0) != 0)) {
            st = nv_fail(err, NV_EINPUT,
                         "%s: this checkpoint belongs to another config or model (%lld parameters, epoch %lld); "
                         "use --force to start the run over", ckpath, (long long)ck.nparams,
                         (long long)ck.epochs_completed);
            goto done;
        }
        st = rc->backend->set_state(t, ck.params, ck.state1, ck.state2, ck.step, err);
        if (st) goto done;
        memcpy(rc->metrics[m], ck.metrics, sizeof(double) * (size_t)(ck.metric_rows * M_COLS));
        rc->metric_rows[m] = ck.metric_rows;
        start = ck.epochs_completed;
        resumed = 1;
        /* Snapshots written after this checkpoint (a kill between snapshot and
         * checkpoint) are redone; drop them from the manifest first. */
        char sdir[NV_PATH_LEN + 32];
        snprintf(sdir, sizeof sdir, "%s/snapshots", rc->dir);
        st = nv_manifest_truncate(sdir, md->name, start, err);
        if (st) goto done;
        /* A kill after the checkpoint but before the metrics files: rewrite them. */
        if ((st = queue_metrics(rc, m, err))) goto done;
    } else {
        params = nv_malloc(sizeof(nv_real) * (size_t)np, err);
        if (!params) { st = NV_ENOMEM; goto done; }
        nv_mlp_init_params(&md->spec, ex->seed, params);
        st = rc->backend->set_state(t, params, NULL, NULL, 0, err);
        if (!st && is_snapshot_epoch(ex, 0)) st = snapshot_prepare(rc, m, t, 0, &snap, err);
        if (!st) st = evaluate_row(rc, t, 0, rc->metrics[m], snap, err);
        if (st) goto done;
        rc->metric_rows[m] = 1;
        /* epoch 0 is always checkpointed: a resumed run needs a start */
        if ((is_snapshot_epoch(ex, 0) || stop_reached(ex, rc->metrics[m])) &&
            (st = queue_snapshot(rc, m, t, 0, &snap, err)))
            goto done;
        if ((st = queue_checkpoint(rc, m, t, 0, err))) goto done;
        if ((st = queue_metrics(rc, m, err))) goto done;
    }

    {
        const double *row = rc->metrics[m] + (rc->metric_rows[m] - 1) * M_COLS;
        nv_train_event ev = {.kind = NV_EV_MODEL_START, .model = md->name, .epoch = start, .epochs = ex->epochs,
                             .train_loss = row[M_TRAIN_LOSS], .train_acc = row[M_TRAIN_ACC],
                             .test_loss = row[M_TEST_LOSS], .test_acc = row[M_TEST_ACC]};
        emit(rc, ev);
    }
    const int64_t n = rc->train.n, B = ex->batch_size;
    const int64_t steps = (n + B - 1) / B;
    if (rec) {
        int64_t taken = 0;
        if ((st = rc->backend->get_state(t, NULL, NULL, NULL, &taken, err))) goto done;
        if (taken != start * steps) {
            st = nv_fail(err, NV_EINPUT, "%s: the checkpoint has %lld optimiser steps, %lld epochs of %lld steps "
                         "would be %lld: it belongs to another data set; use --force to start over", ckpath,
                         (long long)taken, (long long)start, (long long)steps, (long long)(start * steps));
            goto done;
        }
        nv_record_model rm = {.ex = ex, .run_dir = rc->dir, .config_text = rc->config_text, .model = md,
                              .backend = rc->backend, .trainer = t, .train = &rc->train, .bg = rc->bg,
                              .memo = rc->memo, .pool = rc->pool, .steps_per_epoch = steps, .start_epoch = start,
                              .start_step = taken, .resumed = resumed};
        char line[1024];
        if ((st = rec->begin(&rm, &rstate, line, sizeof line, err))) goto done;
        if (line[0]) note(rc, "%s", line);
    }
    double last_checkpoint = nv_now(), last_metrics = last_checkpoint;
    int64_t checkpoint_epoch = start; /* the epoch --resume would start this model from */
    /* a model that had stopped (at `start`, its checkpoint) trains no further */
    int64_t last_epoch = stop_reached(ex, rc->metrics[m] + start * M_COLS) ? start : ex->epochs;
    if (last_epoch < ex->epochs)
        note(rc, "model '%s' stopped at epoch %lld (train accuracy %.6g >= train.stop_at_train_accuracy = %g)",
             md->name, (long long)start, rc->metrics[m][start * M_COLS + M_TRAIN_ACC], ex->stop_train_acc);
    for (int64_t e = start + 1; e <= last_epoch; e++) {
        /* The epoch's order depends only on (order seed, epoch): every model, and a
         * resumed run, sees the same sequence of minibatches. train.order_seed is the
         * seed unless set, so it alone can change the order (nerve query's
         * compare-runs). */
        nv_rng_permutation(ex->order_seed, NV_STREAM_SHUFFLE, (uint64_t)e << 32, perm, (uint32_t)n);
        for (int64_t s = 0; s < steps; s++) {
            if (rc->opt->stop && *rc->opt->stop) {
                /* Checkpoints are written at snapshot epochs and every NV_CHECKPOINT_SECONDS,
                 * not after every epoch: say where --resume starts. */
                st = nv_fail(err, NV_EINTERRUPTED,
                             "stopped during epoch %lld of model '%s'; its last checkpoint is epoch %lld "
                             "(checkpoints are written at snapshot epochs and every %.0f s): --resume "
                             "continues '%s' from epoch %lld", (long long)e, md->name,
                             (long long)checkpoint_epoch, NV_CHECKPOINT_SECONDS, md->name,
                             (long long)checkpoint_epoch);
                goto done;
            }
            int64_t b = NV_MIN(B, n - s * B);
            float loss = 0.0f;
            st = rstate ? rec->step(rstate, perm + s * B, b, e, &loss, err)
                        : rc->backend->step(t, perm + s * B, b, &loss, err);
            if (st == NV_ENUMERIC || (!st && !isfinite(loss))) {
                st = diverged(rc, md, e, s + 1, err);
                goto done;
            }
            if (st) goto done;
            nv_train_event ev = {.kind = NV_EV_STEP, .model = md->name, .epoch = e, .epochs = ex->epochs,
                                 .step = s + 1, .steps = steps, .train_loss = loss};
            emit(rc, ev);
        }
        /* the epoch's records go to the writer before its checkpoint (queue_epoch_files) */
        int boundary = 1;
        if (rstate && (st = rec->epoch_end(rstate, e, &boundary, err))) goto done;
        /* After the first epoch (this model's first chunks have their memory by
         * then), the next model's first chunk may be made ready while this one
         * trains: a new block's pages are mapped at about 1 GB/s here. */
        if (rstate && rec->prepare && next >= 0 && e == start + 1 && !rc->opt->resume) {
            nv_record_model rn = {.ex = ex, .run_dir = rc->dir, .config_text = rc->config_text,
                                  .model = &rc->models[next], .backend = rc->backend, .train = &rc->train,
                                  .memo = rc->memo, .pool = rc->pool, .steps_per_epoch = steps};
            rec->prepare(&rn);
        }
        double *row = rc->metrics[m] + e * M_COLS;
        if (is_snapshot_epoch(ex, e) && (st = snapshot_prepare(rc, m, t, e, &snap, err))) goto done;
        if ((st = evaluate_row(rc, t, e, row, snap, err))) goto done;
        if (!isfinite(row[M_TRAIN_LOSS]) || (rc->test.n > 0 && !isfinite(row[M_TEST_LOSS]))) {
            st = diverged(rc, md, e, 0, err);
            goto done;
        }
        rc->metric_rows[m] = e + 1;
        const int stopping = stop_reached(ex, row);
        double checkpoint_before = last_checkpoint;
        if ((st = queue_epoch_files(rc, m, t, e, &last_checkpoint, &last_metrics, &snap, boundary, stopping, err)))
            goto done;
        if (last_checkpoint != checkpoint_before) checkpoint_epoch = e;
        nv_train_event ev = {.kind = NV_EV_EPOCH, .model = md->name, .epoch = e, .epochs = ex->epochs,
                             .train_loss = row[M_TRAIN_LOSS], .train_acc = row[M_TRAIN_ACC],
                             .test_loss = row[M_TEST_LOSS], .test_acc = row[M_TEST_ACC]};
        emit(rc, ev);
        if (stopping) {
            note(rc, "model '%s' stopped at epoch %lld: train accuracy %.6g >= train.stop_at_train_accuracy = %g",
                 md->name, (long long)e, row[M_TRAIN_ACC], ex->stop_train_acc);
            last_epoch = e;
            break;
        }
    }
    if (rstate) {
        char line[1024];
        void *r = rstate;
        rstate = NULL;
        if ((st = rec->end(r, 1, line, sizeof line, err))) goto done;
        if (line[0]) note(rc, "%s", line);
    }
    nv_train_event ev = {.kind = NV_EV_MODEL_DONE, .model = md->name, .epoch = last_epoch, .epochs = ex->epochs};
    emit(rc, ev);
done:
    if (rstate) rec->end(rstate, 0, NULL, 0, NULL); /* training stopped: the open chunk is dropped */
    if (snap) snapshot_job_free(snap); /* prepared, then training stopped (divergence, ...) */
    nv_checkpoint_free(&ck);
    free(params);
    if (rc->backend && t) rc->backend->destroy(t);
    return st;
}

/* --- run metadata ------------------------------------------------------------------ */
#ifndef NERVE_GIT_COMMIT
#define NERVE_GIT_COMMIT "unknown"
#endif

/* Every library whose version can change stored bytes or speed, so a run can be
 * reproduced with the same stack. */
static json_t *library_versions(const char *hdf5) {
    json_t *l = json_object();
    char buf[64];
    json_object_set_new(l, "hdf5", json_string(hdf5));
    const char *ob = openblas_get_config();
    json_object_set_new(l, "openblas", json_string(ob ? ob : "unknown"));
    snprintf(buf, sizeof buf, "%d.%d.%d", LIBCONFIG_VER_MAJOR, LIBCONFIG_VER_MINOR, LIBCONFIG_VER_REVISION);
    json_object_set_new(l, "libconfig", json_string(buf));
    json_object_set_new(l, "jansson", json_string(jansson_version_str()));
    json_object_set_new(l, "zlib", json_string(zlibVersion()));
    {
        char v[32];
        unsigned x = XXH_versionNumber(); /* hashes.json's XXH3-128 */
        snprintf(v, sizeof v, "%u.%u.%u", x / 10000, x / 100 % 100, x % 100);
        json_object_set_new(l, "xxhash", json_string(v));
    }
    /* The CUDA runtime only when this run loaded the CUDA backend (a CPU run never
     * does): looked up through the plug-in, whose dependencies include cudart. */
    if (nv_cuda_loaded()) {
        int (*rt_version)(int *) = (int (*)(int *))nv_cuda_sym("cudaRuntimeGetVersion", NULL, 0);
        int v = 0;
        if (rt_version && rt_version(&v) == 0 /* cudaSuccess */) {
            snprintf(buf, sizeof buf, "%d.%d", v / 1000, (v % 1000) / 10);
            json_object_set_new(l, "cuda_runtime", json_string(buf));
        }
    }
    return l;
}

static nv_status write_run_json(const run_ctx *rc, const char *status, double seconds, nv_error *err) {
    json_t *j = json_object();
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    time_t now = time(NULL);
    char when[64];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    unsigned maj = 0, min = 0, rel = 0;
    H5get_libversion(&maj, &min, &rel);
    char h5v[32];
    snprintf(h5v, sizeof h5v, "%u.%u.%u", maj, min, rel);
    json_object_set_new(j, "format", json_string("nerve-run"));
    json_object_set_new(j, "format_version", json_integer(1));
    json_object_set_new(j, "experiment", json_string(rc->ex->experiment));
    json_object_set_new(j, "nerve_version", json_string(NERVE_VERSION));
    json_object_set_new(j, "git_commit", json_string(NERVE_GIT_COMMIT));
    json_object_set_new(j, "seed", json_integer((json_int_t)rc->ex->seed));
    json_object_set_new(j, "device", json_string(rc->backend ? rc->backend->name : "?"));
    json_object_set_new(j, "host", json_string(host));
    json_object_set_new(j, "updated", json_string(when));
    json_object_set_new(j, "status", json_string(status));
    json_object_set_new(j, "seconds", json_real(seconds));
    json_object_set_new(j, "hdf5_version", json_string(h5v));
    const char *core = getenv("OPENBLAS_CORETYPE");
    json_object_set_new(j, "openblas_coretype", json_string(core ? core : "default"));
    json_object_set_new(j, "libraries", library_versions(h5v));
    if (rc->opt->command_line) json_object_set_new(j, "command", json_string(rc->opt->command_line));
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(j);
    char path[NV_PATH_LEN + 32];
    snprintf(path, sizeof path, "%s/run.json", rc->dir);
    nv_status st = text ? nv_atomic_write_text(path, text, err) : nv_fail(err, NV_ENOMEM, "run.json: out of memory");
    free(text);
    return st;
}

static nv_status write_summary(const run_ctx *rc, nv_error *err) {
    json_t *j = json_object();
    json_object_set_new(j, "experiment", json_string(rc->ex->experiment));
    json_object_set_new(j, "seed", json_integer((json_int_t)rc->ex->seed));
    json_object_set_new(j, "epochs", json_integer(rc->ex->epochs));
    json_object_set_new(j, "n_train", json_integer(rc->train.n));
    json_object_set_new(j, "n_test", json_integer(rc->test.n));
    json_t *models = json_object();
    for (int m = 0; m < rc->nmodels; m++) {
        const double *row = rc->metrics[m] + (rc->metric_rows[m] - 1) * M_COLS;
        json_t *o = json_object();
        json_t *w = json_array();
        for (int l = 0; l <= rc->models[m].spec.nlayers; l++) json_array_append_new(w, json_integer(rc->models[m].spec.widths[l]));
        json_object_set_new(o, "widths", w);
        json_object_set_new(o, "train_acc", json_real(row[M_TRAIN_ACC]));
        json_object_set_new(o, "test_acc", json_real(row[M_TEST_ACC]));
        json_object_set_new(o, "train_loss", json_real(row[M_TRAIN_LOSS]));
        json_object_set_new(o, "test_loss", json_real(row[M_TEST_LOSS]));
        /* only with the stop rule, so that other runs' summaries keep their bytes */
        if (rc->ex->stop_train_acc > 0.0) {
            json_object_set_new(o, "epochs_trained", json_integer(rc->metric_rows[m] - 1));
            json_object_set_new(o, "stopped_at_train_accuracy", json_boolean(stop_reached(rc->ex, row)));
        }
        json_object_set_new(models, rc->models[m].name, o);
    }
    json_object_set_new(j, "models", models);
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(j);
    char path[NV_PATH_LEN + 32];
    snprintf(path, sizeof path, "%s/summary.json", rc->dir);
    nv_status st = text ? nv_atomic_write_text(path, text, err) : nv_fail(err, NV_ENOMEM, "summary.json: out of memory");
    free(text);
    return st;
}

/* Checks the run directory against this config: fresh, same config (resume), or
 * another run (refused unless force). */
static nv_status prepare_dir(run_ctx *rc, nv_error *err) {
    const char *dir = rc->dir;
    nv_status st = nv_mkdirs(dir, err);
    if (st) {
        /* the output directory is the user's input: a path we cannot create is bad input */
        err->status = NV_EINPUT;
        return NV_EINPUT;
    }
    if (access(dir, W_OK) != 0)
        return nv_fail(err, NV_EINPUT, "%s: the run directory is not writable (%s)", dir, strerror(errno));
    char cfg[NV_PATH_LEN + 32];
    snprintf(cfg, sizeof cfg, "%s/config.cfg", dir);
    char *old = nv_read_file(cfg, NULL);
    if (old) {
        /* Same settings, whatever the formatting (an older nerve wrote numbers
         * differently): the same config. */
        char key[256], was[512], now[512], set[1024];
        int diff = strcmp(old, rc->config_text) ? nv_config_diff(old, rc->config_text, key, sizeof key, was,
                                                                 now, sizeof was) : 0;
        int line = diff < 0 ? first_diff_line(old, rc->config_text) : 0;
        free(old);
        if (rc->opt->force) {
            if ((st = clear_run_dir(dir, err))) return st;
        } else if (diff > 0 && !strcmp(was, "(not set)")) {
            return nv_fail(err, NV_EINPUT,
                           "%s holds a run of a different config: key '%s' is not set there and is %s here; "
                           "choose another --out, or --force to start over there", dir, key, now);
        } else if (diff > 0 && !strcmp(now, "(not set)")) {
            nv_config_set_text(key, was, set, sizeof set);
            return nv_fail(err, NV_EINPUT,
                           "%s holds a run of a different config: key '%s' is %s there and not set here; to "
                           "continue that run, give it (--set '%s'), or choose another --out, or --force to start "
                           "over there", dir, key, was, set);
        } else if (diff > 0) {
            nv_config_set_text(key, was, set, sizeof set);
            return nv_fail(err, NV_EINPUT,
                           "%s holds a run of a different config: key '%s' is %s there and %s here; to continue "
                           "that run, give the same value (--set '%s'), or choose another --out, or --force to "
                           "start over there", dir, key, was, now, set);
        } else if (diff < 0) {
            return nv_fail(err, NV_EINPUT,
                           "%s holds a run of a different config (its config.cfg does not parse; first difference "
                           "at line %d); choose another --out, or --force to start over there", dir, line);
        } else if (!rc->opt->resume) {
            return nv_fail(err, NV_EINPUT,
                           "%s already holds this experiment; --resume continues it, --force starts it over", dir);
        }
    } else if (rc->opt->resume) {
        note(rc, "nothing to resume in %s: starting the run", dir);
    }
    const char *subs[] = {"snapshots", "checkpoints", "metrics"};
    for (size_t i = 0; i < NV_ARRAY_LEN(subs); i++) {
        char p[NV_PATH_LEN + 32];
        snprintf(p, sizeof p, "%s/%s", dir, subs[i]);
        if ((st = nv_mkdirs(p, err))) return st;
    }
    return nv_atomic_write_text(cfg, rc->config_text, err);
}

nv_status nv_train_run(const nv_experiment *ex, const nv_train_options *opt, nv_error *err) {
    run_ctx rc;
    memset(&rc, 0, sizeof rc);
    nv_block_pool pool;
    nv_pool_init(&pool, POOL_BYTES);
    rc.ex = ex;
    rc.opt = opt;
    rc.dir = opt->out_dir;
    uint32_t *perm = NULL;
    double t0 = nv_now();
    nv_status st;
    const char *why = NULL;

    if (ex->epochs > 0 && (int64_t)(uint32_t)ex->epochs != ex->epochs)
        return nv_fail(err, NV_EINPUT, "train.epochs: too many epochs");
    rc.config_text = nv_config_resolved_text(ex);
    if (!rc.config_text) return nv_fail(err, NV_ENOMEM, "out of memory");

    if (ex->dynamics.enabled && !opt->recorder) {
        st = nv_fail(err, NV_EINTERNAL, "dynamics.enabled is true but the caller passed no recorder "
                     "(nv_train_options.recorder = nv_dyn_hooks())");
        goto done;
    }
    /* Choose the device before touching the directory, so a --device cuda without a
     * GPU fails with nothing written. */
    st = nv_backend_select(ex->device, &rc.backend, &why, err);
    if (st) goto done;
    if (why) note(&rc, "%s", why);
    if (ex->dynamics.enabled && !rc.backend->step_record) {
        if (ex->device == NV_DEVICE_CUDA) {
            st = nv_fail(err, NV_EINPUT,
                         "the %s backend cannot record training dynamics (it has no step_record): use "
                         "--device cpu (or auto), or set dynamics.enabled = false",
                         rc.backend->name);
            goto done;
        }
        note(&rc, "dynamics: the %s backend cannot record: training on the CPU", rc.backend->name);
        rc.backend = nv_backend_cpu();
    }

    char desc[1024];
    st = nv_data_build(&ex->data, ex->seed, &rc.train, &rc.test, desc, sizeof desc, err);
    if (st) goto done;
    if (rc.train.n > (int64_t)UINT32_MAX) {
        st = nv_fail(err, NV_EINPUT, "training set of %lld rows is larger than this version handles (2^32)", (long long)rc.train.n);
        goto done;
    }
    /* the recorder's schedules against the data's size, before anything is written */
    if (ex->dynamics.enabled &&
        (st = opt->recorder->check(ex, (rc.train.n + ex->batch_size - 1) / ex->batch_size, err)))
        goto done;
    if ((st = prepare_dir(&rc, err))) goto done;
    {
        nv_train_event ev = {.kind = NV_EV_DIR_READY, .text = rc.dir};
        emit(&rc, ev);
    }
    note(&rc, "data: %s -> %lld train, %lld test, %lld features, %d classes", desc, (long long)rc.train.n,
         (long long)rc.test.n, (long long)rc.train.d, rc.train.nclasses);

    char dpath[NV_PATH_LEN + 32];
    snprintf(dpath, sizeof dpath, "%s/data.h5", rc.dir);
    if (!path_exists(dpath) && (st = nv_dataset_save(dpath, &rc.train, &rc.test, desc, err))) goto done;
    if ((st = write_run_json(&rc, "running", 0.0, err))) goto done;

    rc.nmodels = nv_experiment_models(ex, rc.train.d, rc.train.nclasses, rc.models);
    for (int m = 0; m < rc.nmodels; m++) {
        if ((st = nv_mlp_spec_validate(&rc.models[m].spec, err))) goto done;
        rc.metrics[m] = nv_calloc((size_t)(ex->epochs + 1) * M_COLS, sizeof(double), err);
        if (!rc.metrics[m]) { st = NV_ENOMEM; goto done; }
    }
    perm = nv_malloc(sizeof(uint32_t) * (size_t)rc.train.n, err);
    if (!perm) { st = NV_ENOMEM; goto done; }
    /* Up to 512 MB of results may wait for the writer before training waits for it. */
    if (!(rc.memo = nv_hash_memo_new())) { st = nv_fail(err, NV_ENOMEM, "out of memory"); goto done; }
    rc.pool = &pool;
    if ((st = nv_bg_start((size_t)512 << 20, &rc.bg, err))) goto done;
    /* The models train one after the other, the smallest first. A small model's
     * epochs are so fast that its snapshot epochs reach the writer in a burst (the
     * linear baseline's ten in about 10 ms, ~130 ms of writing); first, that burst is
     * written while the larger models train, and the run ends waiting only for the
     * last snapshot of the largest, whose snapshot epochs are far apart by then. The
     * order changes no byte: every model starts from its own seed and the shared
     * per-epoch order, and the manifest and metrics files list models by name. */
    int order[NV_MAX_MODELS];
    for (int m = 0; m < rc.nmodels; m++) {
        int i = m;
        for (; i > 0 && nv_mlp_param_count(&rc.models[order[i - 1]].spec) > nv_mlp_param_count(&rc.models[m].spec); i--)
            order[i] = order[i - 1];
        order[i] = m;
    }
    for (int i = 0; i < rc.nmodels; i++)
        if ((st = train_model(&rc, order[i], i + 1 < rc.nmodels ? order[i + 1] : -1, perm, err))) goto done;
    st = nv_bg_stop(rc.bg, err);
    rc.bg = NULL;
    if (st) goto done;
    if ((st = write_summary(&rc, err))) goto done;
    /* Last: the dataset hashes are the record `nerve verify` checks and a sweep
     * task's completion marker. */
    if ((st = nv_run_hashes_write_memo(rc.dir, rc.memo, err))) goto done;
    st = write_run_json(&rc, "finished", nv_now() - t0, err);
done:
    if (rc.bg) {
        /* On failure or interruption the queued files are still complete results of
         * finished epochs: write them, keeping the first error's message. */
        nv_error ignore = {0};
        nv_bg_stop(rc.bg, &ignore);
        rc.bg = NULL;
    }
    if (st && rc.backend && rc.dir && path_exists(rc.dir)) {
        nv_error ignore = {0};
        char cfg[NV_PATH_LEN + 32];
        snprintf(cfg, sizeof cfg, "%s/config.cfg", rc.dir);
        if (path_exists(cfg)) write_run_json(&rc, st == NV_EINTERRUPTED ? "interrupted" : "failed", nv_now() - t0, &ignore);
    }
    nv_hash_memo_free(rc.memo); /* after the writer has stopped: it adds to it */
    nv_pool_free(&pool);        /* likewise: it gives blocks back */
    for (int m = 0; m < NV_MAX_MODELS; m++) free(rc.metrics[m]);
    free(perm);
    free(rc.config_text);
    nv_dataset_free(&rc.train);
    nv_dataset_free(&rc.test);
    return st;
}
