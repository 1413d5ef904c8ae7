/* query_internal.h: private to src/query/ (and its unit test): the sources the
 * tables and presets read, the weight replays, the session. The public side is
 * include/nerve/query.h.
 */
#ifndef NERVE_QUERY_INTERNAL_H
#define NERVE_QUERY_INTERNAL_H

#include <hdf5.h>
#include <sqlite3.h>

#include "nerve/config.h"
#include "nerve/dynamics.h"
#include "nerve/query.h"

/* --- one run ------------------------------------------------------------------------- */
typedef struct {
    int64_t id;
    int32_t label;
    int8_t split;   /* 0 train, 1 test */
    int64_t row;    /* the row in its split */
} qsample;

typedef struct qrun {
    char name[NV_PATH_LEN];     /* as given, trailing '/' dropped: the tables' `run` */
    char path[NV_PATH_LEN];
    uint64_t seed, order_seed;
    int have_config;
    char experiment[NV_NAME_LEN];
    /* RUN/data.h5, read on first use: samples sorted by id */
    int data_state;             /* 0 not read, 1 read, -1 missing/unreadable */
    int64_t nsamples;
    qsample *samples;
    int32_t nclasses;
    /* its recorded models, by name (RUN/dynamics/<model>.h5), opened on first use */
    int nmodels;
    char models[8][64];
} qrun;

/* The sample's label (-1 when data.h5 does not list it). */
int32_t qrun_label(qrun *r, int64_t id);
nv_status qrun_data(qrun *r, nv_error *err);
/* The samples of split (0 train, 1 test) in row order, x (n, d) and y (n): malloc'd. */
nv_status qrun_split(const qrun *r, int split, float **x, int32_t **y, int64_t **ids, int64_t *n, int64_t *d,
                     nv_error *err);

/* --- one recorded model of a run --------------------------------------------------------- */
enum { QT_F32 = 0, QT_I64, QT_I32, QT_U8 };

typedef struct {
    int64_t index, first_step, last_step;
    int64_t row0[NV_DYN_TIERS], rows[NV_DYN_TIERS];
    char path[NV_PATH_LEN + 160];
    int state;                  /* 0 not opened, 1 checked and mapped, -1 failed */
    hid_t fid;                  /* open while recently used (source.c), else H5I_INVALID_HID */
    uint64_t used;              /* when last used (the source's clock) */
    const unsigned char *map;
    size_t maplen;
} qchunk;

typedef struct {
    char path[96];
    int tier, type;
    int64_t cols;
    size_t esize;               /* bytes of one element in memory */
    const void **part;          /* (nchunks) the chunk's rows, NULL until first use */
    void **owned;               /* (nchunks) a copy, where the data could not be used in place */
} qview;

typedef struct qsrc {
    qrun *run;
    char model[64];
    nv_dyn_run *dyn;
    const nv_dyn_info *info;
    int L;
    int64_t S;                  /* epochs x steps per epoch */
    int nchunks;
    qchunk *chunk;
    int nviews, capviews;
    qview **views;
    /* sample id -> rows of the samples and factors tiers, built on first use */
    int64_t *sidx_start[NV_DYN_TIERS], *sidx_rows[NV_DYN_TIERS], sidx_n[NV_DYN_TIERS];
    /* the weights tier's steps, and which steps can be rebuilt (valid[s], s = 0..last) */
    int64_t nstored;
    int64_t *stored_steps;
    unsigned char *valid;
    int64_t mapped_bytes, copied_bytes; /* what the views used in place / copied */
    int has_weights_ds[3];      /* weights/params, state1, state2: 0 unknown, 1 yes, -1 no */
    uint64_t clock;             /* chunk handles' recency */
    qview *stepv[NV_DYN_TIERS]; /* each tier's step column */
} qsrc;

nv_status qsrc_open(qrun *run, const char *model, qsrc **out, nv_error *err);
void qsrc_close(qsrc *s);

/* The view of a dataset of the index ("factors/hidden2/a"); NV_EINPUT naming the
 * tier and its config key when the dataset is not recorded. */
nv_status qsrc_view(qsrc *s, const char *path, qview **out, nv_error *err);
/* A pointer to row `row` (global) of v, and in *avail how many rows follow it
 * contiguously (the rest of its chunk). */
nv_status qsrc_rows(qsrc *s, qview *v, int64_t row, const void **ptr, int64_t *avail, nv_error *err);
/* Convenience: one element (column col of row). */
nv_status qsrc_f32(qsrc *s, qview *v, int64_t row, int64_t col, float *out, nv_error *err);
nv_status qsrc_i64(qsrc *s, qview *v, int64_t row, int64_t col, int64_t *out, nv_error *err);
/* The rows of tier t recorded at steps [lo, hi]: [*r0, *r1). */
nv_status qsrc_step_rows(qsrc *s, int tier, int64_t lo, int64_t hi, int64_t *r0, int64_t *r1, nv_error *err);
/* The step of row `row` of tier t. */
nv_status qsrc_row_step(qsrc *s, int tier, int64_t row, int64_t *step, nv_error *err);
/* The rows of tier t (samples or factors) holding sample id: rows[*n] sorted. */
nv_status qsrc_sample_rows(qsrc *s, int tier, int64_t id, const int64_t **rows, int64_t *n, nv_error *err);
/* NV_EINPUT naming the tier, its key and the model when tier t recorded nothing. */
nv_status qsrc_need(const qsrc *s, int tier, const char *what, nv_error *err);
/* The epoch of step s (0 for step 0). */
static inline int64_t qsrc_epoch(const qsrc *s, int64_t step) {
    return step <= 0 ? 0 : (step - 1) / s->info->steps_per_epoch + 1;
}
/* The layer index of a name (-1 when not a layer of s). */
int qsrc_layer(const qsrc *s, const char *name);
/* The batch size of step s. */
int64_t qsrc_batch(const qsrc *s, int64_t step);
/* Stored states and which steps can be rebuilt (fills stored_steps, valid). */
nv_status qsrc_weights_plan(qsrc *s, nv_error *err);

/* --- weights after any step -------------------------------------------------------------- */
/* A whole model: the stored state at or before the step, then per step the batch
 * gradient with the training backend's calls (nv_cpu_layer_grad) and its update
 * (nv_cpu_apply_update): the trained weights bit for bit on the machine and BLAS
 * thread count that trained. grads (when the caller wants them) holds the last
 * replayed step's gradient (before weight decay). */
typedef struct {
    qsrc *src;
    int64_t step;               /* the state is the one after this step; -1: none yet */
    float *params, *state1, *state2, *grads, *dz, *a;
    int64_t steps_replayed;
    /* optional: called after each replayed step's gradient, before its update; with
     * it, a seek forward replays every step in between (no jump to a saved state) */
    void (*on_grad)(void *ctx, int64_t step, const float *grads, const float *params_before);
    void *ctx;
} qreplay;
nv_status qreplay_init(qreplay *r, qsrc *src, nv_error *err);
void qreplay_free(qreplay *r);
/* Moves the state to the one after step s (forward from where it is, or from the
 * latest stored state at or before s). */
nv_status qreplay_seek(qreplay *r, int64_t s, nv_error *err);

/* One weight (layer k, row, col; col = in_k is the bias): the same update kernel on
 * that weight and its state alone, after its layer's gradient with the training's
 * call (nv_cpu_layer_grad): the whole-model replay's bits at a layer's cost. */
typedef struct {
    qsrc *src;
    int k;
    int64_t row, col, index;    /* index: the flat parameter index */
    int64_t step;
    float w, m, v, g;           /* the state after `step`; g: its gradient */
    qview *va, *vd;
    float *scratch;             /* dz, the layer's dW and db */
} qreplay1;
nv_status qreplay1_init(qreplay1 *r, qsrc *src, int k, int64_t row, int64_t col, nv_error *err);
nv_status qreplay1_seek(qreplay1 *r, int64_t s, nv_error *err);
void qreplay1_free(qreplay1 *r);

/* --- the session -------------------------------------------------------------------------- */
struct nv_query {
    sqlite3 *db;                /* NULL until the first SQL statement (qsession_sql) */
    int nruns;
    qrun **runs;
    int nsrc;
    qsrc **src;                 /* the (run, model)s opened so far; once db is set, every one of
                                   them, runs in order, models by name */
    int nlayer_names;           /* the union of layer names (samples.grad_norm_<layer>) */
    char layer_names[NV_MAX_LAYERS][16];
    nv_query_options opt;
    int attach_seen;            /* the authorizer saw an ATTACH */
};

/* Opens every recorded model of every run and the SQLite session over them (once):
 * what SQL needs; a preset opens only the models it asks qsession_source for. */
nv_status qsession_sql(nv_query *q, nv_error *err);

/* vtab.c: registers the modules (eponymous tables) on q->db. */
nv_status qvtab_register(nv_query *q, nv_error *err);
/* The columns of every table with their meanings (for --schema and docs). */
typedef struct {
    const char *table, *column, *type, *meaning;
} qschema_row;
int qvtab_schema(const qschema_row **rows);

/* table.c */
nv_status qtable_init(nv_qtable *t, const char *name, int ncols, const char *const *cols, nv_error *err);
nv_status qtable_add(nv_qtable *t, const nv_qvalue *row, nv_error *err); /* copies text */
nv_status qtable_reserve(nv_qtable *t, int64_t rows, nv_error *err);      /* room for rows in all */
static inline nv_qvalue qv_int(int64_t i) { nv_qvalue v = {.type = NV_QINT, .i = i}; return v; }
static inline nv_qvalue qv_real(double f) { nv_qvalue v = {.type = NV_QREAL, .f = f}; return v; }
static inline nv_qvalue qv_text(const char *s) { nv_qvalue v = {.type = s ? NV_QTEXT : NV_QNULL, .s = s}; return v; }
static inline nv_qvalue qv_null(void) { nv_qvalue v = {.type = NV_QNULL}; return v; }

/* presets.c: the session's source of (run index, model); NV_EINPUT listing the models. */
nv_status qsession_source(nv_query *q, int run, const char *model, qsrc **out, nv_error *err);

#endif
