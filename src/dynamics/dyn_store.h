/* dyn_store.h: private to src/dynamics/ (and its unit test): the one table of
 * datasets that drives the chunk writer, the index, the reader and the sizes, and
 * the store's writer state. The public side is include/nerve/dynamics.h.
 */
#ifndef NERVE_DYN_STORE_H
#define NERVE_DYN_STORE_H

#include <hdf5.h>
#include <pthread.h>

#include "core/blockpool.h"
#include "nerve/dynamics.h"
#include "nerve/hash.h"

/* Element types of the record. DT_FAC is float in memory and float32 or IEEE half
 * on disk (factors.precision). */
enum { DT_I64 = 0, DT_I32, DT_U8, DT_F32, DT_FAC };

/* Quantities of each tier, in the order their datasets are written. */
enum {
    Q_STEP = 0, /* every tier's step column */
    /* steps */
    Q_EPOCH, Q_BATCH, Q_LOSS, Q_ACC, Q_LR, Q_WNORM, Q_GNORM, Q_UNORM, Q_URATIO, Q_INITD, Q_ALARM_ABS,
    Q_ALARM_REL, Q_ALARM_THR, Q_DEAD, Q_NF_GRAD, Q_NF_WEIGHT,
    /* neurons, per layer: NV_DU_* order, then top_k */
    Q_UNIT0, Q_TOPK = Q_UNIT0 + NV_DU_COUNT,
    /* samples */
    Q_SAMPLE_ID, Q_POSITION, Q_LABEL, Q_SLOSS, Q_CORRECT, Q_SGNORM,
    /* factors, per layer */
    Q_FA, Q_FD, Q_FPRE,
    /* weights */
    Q_PARAMS, Q_STATE1, Q_STATE2,
    Q_COUNT
};

typedef struct {
    char path[96];     /* "steps/grad_norm", "neurons/hidden1/influence" (no leading /) */
    int tier;
    int q;             /* Q_* */
    int layer;         /* k for per-layer datasets, else -1 */
    int type;          /* DT_* */
    int64_t cols;      /* 0: a column (rank 1); else (rows, cols) */
} dyn_dataset;

/* Everything that fixes the record's datasets and the index's attributes. */
typedef struct {
    char model[64];
    char experiment[64];
    uint64_t seed;
    char *config_text;               /* owned */
    nv_mlp_spec spec;
    nv_optim_spec opt;
    nv_dyn_config cfg;
    int64_t nparams, batch_size, steps_per_epoch, epochs, n_train;
    int64_t chunk_steps;             /* resolved (dynamics.chunk_steps, or auto when 0) */
    int nlayers;
    char layer_names[NV_MAX_LAYERS][16];
    int ndatasets;
    dyn_dataset *ds;                 /* owned */
} dyn_layout;

/* Builds the layout of model md of experiment ex (config_text copied). */
nv_status dyn_layout_new(const nv_experiment *ex, const nv_model_def *md, const char *config_text,
                         int64_t steps_per_epoch, int64_t n_train, dyn_layout **out, nv_error *err);
void dyn_layout_free(dyn_layout *l);
/* dynamics.chunk_steps = 0 (auto) for this layout (store.c explains). */
int64_t dyn_auto_chunk_steps(const dyn_layout *l);
/* Bytes of one row of dataset d in memory (DT_FAC: float). */
size_t dyn_row_bytes(const dyn_dataset *d);

/* Chunk boundaries, a function of the config and the data's size only: when an
 * epoch has at most chunk_steps steps, a chunk holds floor(chunk_steps / steps per
 * epoch) whole epochs (the last chunk what is left); otherwise each epoch is cut
 * into pieces of chunk_steps steps (the last piece what is left). Step s lies in
 * [*first, *last], of epochs [*e0, *e1]. */
void dyn_chunk_range(const dyn_layout *l, int64_t s, int64_t *first, int64_t *last, int64_t *e0, int64_t *e1);
/* Whether the end of epoch e is the end of a chunk. */
int dyn_chunk_ends_at_epoch(const dyn_layout *l, int64_t e);

/* One chunk: the records of steps [first_step, last_step], epochs [epoch, last_epoch]. */
typedef struct {
    int64_t index, epoch, last_epoch, first_step, last_step;
    int64_t cap[NV_DYN_TIERS];       /* rows allocated */
    int64_t rows[NV_DYN_TIERS];      /* rows filled */
    int64_t nsteps[NV_DYN_TIERS];    /* distinct steps among them */
    void **buf;                      /* (ndatasets) row-major buffers in block */
    void *block;
    size_t block_size;               /* the block's size (from the pool: maybe more) */
    size_t bytes;                    /* what the buffers span */
    int fresh;                       /* the block is new memory (not yet mapped) */
} dyn_chunk;

/* What the manifest says of a published chunk. */
typedef struct {
    int64_t index, epoch, last_epoch, first_step, last_step;
    int64_t rows[NV_DYN_TIERS], nsteps[NV_DYN_TIERS], bytes[NV_DYN_TIERS];
} dyn_chunk_rec;

/* The writer side of one model's record. Touched only by the run's background
 * writer's jobs, and by the recorder while that writer is drained (begin, resume). */
typedef struct {
    const dyn_layout *lay;           /* borrowed: the recorder frees it after the writer */
    char run_dir[NV_PATH_LEN];
    char dir[NV_PATH_LEN + 80];      /* RUN/dynamics/<model> */
    nv_hash_memo *memo;              /* may be NULL */
    int64_t nchunks, cap;
    dyn_chunk_rec *chunks;
    nv_hash *running;                /* (ndatasets) the index datasets' hashes so far */
    int running_ok;                  /* 0 after a resume: the index is hashed at the end */
    double index_time;               /* when the index was last rewritten (nv_now) */
    int64_t index_chunks;            /* how many chunks that index lists */
    nv_block_pool *pool;             /* chunk memory (the run's, core/blockpool.h); NULL:
                                        fresh each time */
    pthread_mutex_t mu;              /* refs */
    int refs;                        /* the recorder and each queued chunk job */
    int owns_layout;                 /* free lay with the writer */
} dyn_writer;

/* A writer with one reference (the caller's). */
nv_status dyn_writer_new(const dyn_layout *lay, const char *run_dir, nv_hash_memo *memo, nv_block_pool *pool,
                         dyn_writer **out,
                         nv_error *err);
/* References: a queued job may outlive the recorder (a failed queue frees jobs in
 * order, after the recorder has gone), so the last one frees the writer (and the
 * layout when owns_layout). */
void dyn_writer_ref(dyn_writer *w);
void dyn_writer_unref(dyn_writer *w);
void dyn_writer_free(dyn_writer *w);

/* The rows the schedules record in steps [first, last] (step 0's weights not
 * counted). */
void dyn_chunk_caps(const dyn_layout *l, int64_t first, int64_t last, int64_t cap[NV_DYN_TIERS]);

/* The bytes of a chunk's memory with cap[t] rows of every tier. */
size_t dyn_chunk_bytes(const dyn_layout *l, const int64_t cap[NV_DYN_TIERS]);

/* Chunk memory: rows for cap[t] rows of every tier, from the writer's pool. */
nv_status dyn_chunk_alloc(dyn_writer *w, dyn_chunk *c, nv_error *err);
void dyn_chunk_release(dyn_writer *w, dyn_chunk *c);

/* On the writer: writes, publishes and lists chunk c (manifest, index, hashes). */
nv_status dyn_chunk_write(dyn_writer *w, const dyn_chunk *c, nv_error *err);

/* Rewrites the index when it lists fewer chunks than the manifest (it is
 * rewritten at most every 2 s while chunks arrive): for a run that stops early. */
nv_status dyn_index_sync(dyn_writer *w, nv_error *err);

/* Reads the manifest of the model into w's chunk list (none: empty). */
nv_status dyn_manifest_load(dyn_writer *w, nv_error *err);
/* Starts the model's record over: removes its chunks, manifest and index. */
nv_status dyn_store_reset(dyn_writer *w, nv_error *err);
/* Drops chunks past max_step (manifest first, then files; unlisted chunk files and
 * temporaries too) and rewrites manifest and index. */
nv_status dyn_store_truncate(dyn_writer *w, int64_t max_step, nv_error *err);
/* Reads the last (at most) n rows of steps/grad_norm (n x L floats, oldest first)
 * from the listed chunks into out; *got = rows read. */
nv_status dyn_store_tail_grad_norm(dyn_writer *w, int64_t n, float *out, int64_t *got, nv_error *err);

/* float -> IEEE half bits, round to nearest even (store.c). */
uint16_t dyn_f32_to_f16(float v);

/* The IEEE half type for HDF5 (as h5py's float16); the caller closes it. */
hid_t dyn_h5_f16(void);

#endif
