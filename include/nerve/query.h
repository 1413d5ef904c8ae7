/* query.h: questions over training dynamics (src/query/, docs/queries.md): SQL through
 * SQLite over virtual tables of the dynamics store and the run's files, and five
 * presets that answer the research questions of issue 16 exactly and fast.
 *
 *   source.c    one recorded model of a run as the queries see it: the chunk files the
 *               manifest lists, mapped read-only (a contiguous float32 dataset is used
 *               in place, anything else is read through HDF5 once), rows <-> steps,
 *               sample ids -> rows, the run's data (sample id -> label)
 *   vtab.c      the virtual tables (steps, layers, neurons, samples, contributions,
 *               weights, data) and their constraint push-down (xBestIndex)
 *   engine.c    a session: SQLite in memory, the tables, read-only statements only
 *   replay.c    any step's weights from a saved state and the factors (a whole model
 *               with the training backend's sgemm, or one weight alone)
 *   contrib.c   the batched top-k of summed contributions over a layer (the CPU
 *               reference of cuda/contrib.cu)
 *   presets.c   top-samples, weight-groups, compare-runs, pre-explosion, weight-to-zero
 *   table.c     result tables, their text forms, the report's tables
 *
 * Queries never write to a run: HDF5 files are opened read-only, chunk files are
 * mapped PROT_READ, the SQLite database is ":memory:", a statement that would write
 * (INSERT, CREATE, VACUUM INTO, ...) or ATTACH a file is refused with NV_EINPUT.
 *
 * The contribution of sample i (input a_i, delta d_i of layer k at step s, batch b)
 * to weight (row, col) of layer k is value = d_i[row] a_i[col] (col = in_k names the
 * bias: value = d_i[row]): its own loss's gradient, computed in double from the two
 * stored floats (the product is exact). The step's batch gradient is
 * (1/b) sum_i value_i, and for plain SGD (no momentum, no weight decay) the update of
 * the weight is -lr/b sum_i value_i.
 */
#ifndef NERVE_QUERY_H
#define NERVE_QUERY_H

#include "nerve/common.h"
#include "nerve/device.h"
#include "nerve/strbuf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- values and result tables ------------------------------------------------------ */
typedef enum { NV_QNULL = 0, NV_QINT, NV_QREAL, NV_QTEXT } nv_qtype;
typedef struct {
    nv_qtype type; /* which member holds the value: 16 bytes a cell (big answers are held whole) */
    union {
        int64_t i;     /* NV_QINT */
        double f;      /* NV_QREAL */
        const char *s; /* NV_QTEXT; owned by whoever made the value */
    };
} nv_qvalue;

/* Where rows go: a table begins (its name and columns), rows follow, it ends. A
 * result may hold several tables (a preset's answer and its summary). */
typedef struct nv_qsink {
    nv_status (*begin)(struct nv_qsink *s, const char *table, int ncols, const char *const *cols, nv_error *err);
    nv_status (*row)(struct nv_qsink *s, const nv_qvalue *v, nv_error *err);
    nv_status (*end)(struct nv_qsink *s, nv_error *err);
} nv_qsink;

/* One table in memory (a preset's answer). Text cells are owned by the table. */
typedef struct {
    char name[48];
    int ncols;
    char **cols;
    int64_t nrows, cap;
    nv_qvalue *cells; /* (nrows, ncols) */
} nv_qtable;

#define NV_QRESULT_MAX_TABLES 4
typedef struct {
    int ntables;
    nv_qtable table[NV_QRESULT_MAX_TABLES];
    char note[1024]; /* what the answer says in words ("no step had ..."), or "" */
} nv_qresult;

void nv_qresult_free(nv_qresult *r);   /* accepts NULL and a zeroed result */
/* Replays every table of r into the sink. */
nv_status nv_qresult_emit(const nv_qresult *r, nv_qsink *sink, nv_error *err);

/* A value as text: integers in decimal; reals with %.6g (exact = 0) or with the
 * fewest digits of %.15g/%.16g/%.17g that read back to the same double (exact = 1);
 * NULL as "" (csv) or the caller's choice. Returns buf. */
const char *nv_qvalue_text(const nv_qvalue *v, int exact, char *buf, size_t len);
/* A table as CSV (header, then rows; exact reals). */
void nv_qtable_csv(const nv_qtable *t, nv_strbuf *out);

/* --- a session ---------------------------------------------------------------------- */
typedef struct nv_query nv_query;

typedef struct {
    int threads;                /* threads of the batched kernels; 0: nv_default_threads() */
    nv_device_kind device;      /* where the batched kernels run (AUTO: a GPU when usable and worth it) */
} nv_query_options;

/* Opens runs[0..nruns) (run directories) for querying: every model each run
 * recorded (RUN/dynamics/<model>.h5; a run without a record takes part with its
 * run-level tables only), SQLite in memory with the tables of docs/queries.md. A run
 * is named in the tables by its path as given (trailing '/' dropped). NV_EINPUT for
 * a path that is not a run directory, the same run twice, or a store that does not
 * read. opt may be NULL. */
nv_status nv_query_open(const char *const *runs, int nruns, const nv_query_options *opt, nv_query **out,
                        nv_error *err);
void nv_query_close(nv_query *q); /* accepts NULL */

/* Runs every statement of sql, each result into the sink (a table per statement
 * that returns columns; the table's name is "result", "result2", ...). An SQL
 * error is NV_EINPUT with SQLite's message; a statement that would write, or an
 * ATTACH, is refused (NV_EINPUT) before it runs. */
nv_status nv_query_sql(nv_query *q, const char *sql, nv_qsink *sink, nv_error *err);

/* Every table and column with its type and meaning (table "schema": table, column,
 * type, meaning). Needs no session. */
nv_status nv_query_schema(nv_qresult *out, nv_error *err);

/* --- presets (docs/queries.md) ------------------------------------------------------- */
typedef enum { NV_RANK_ABS = 0, NV_RANK_POS, NV_RANK_NEG } nv_rank_by;
typedef enum { NV_ALARM_ANY = 0, NV_ALARM_ABS, NV_ALARM_REL } nv_alarm_kind;

typedef struct {
    const char *preset;     /* top-samples, weight-groups, compare-runs, pre-explosion, weight-to-zero */
    const char *model;      /* NULL: "expressive" when recorded, else the first recorded model */
    const char *layer;      /* a layer name (hidden1.., logits); NULL: the preset's default */
    int64_t epoch;          /* top-samples: the epoch (required, >= 1) */
    int64_t row, col;       /* one weight (col = the layer's input width: the bias); -1: whole layer */
    int k;                  /* samples (top-samples, pre-explosion, weight-to-zero); 0: 10 */
    nv_rank_by by;          /* top-samples: rank by |sum|, by sum, or by -sum */
    int64_t step;           /* compare-runs: the step N; -1: the last step both runs recorded */
    double loss;            /* compare-runs: the target loss (first step at or below); NaN: 0.1 */
    double fraction;        /* pre-explosion: more than this fraction of entries alarmed; NaN: 0.1 */
    nv_alarm_kind alarm;    /* pre-explosion: which alarm fraction (any = the larger of the two) */
    double tolerance;       /* weight-to-zero: |w| <= tolerance counts as zero (a sign change always
                               counts); NaN: 0 */
    int64_t window;         /* weight-to-zero: steps up to the event that are searched; 0: one epoch */
    int groups;             /* weight-groups: trajectory groups (k-means); 0: 4 */
    int64_t limit;          /* weight-groups: weights listed, by total gradient; 0: 20; -1: all */
} nv_preset_args;

/* Defaults as documented above (row = col = -1, step = -1, loss, fraction and
 * tolerance NaN, everything else 0 / NULL). */
void nv_preset_args_init(nv_preset_args *a);

/* The names of the presets and a line on each (NULL-terminated arrays). */
extern const char *const nv_query_preset_names[];
extern const char *const nv_query_preset_summaries[];

/* Answers a preset over the session's runs (compare-runs: the first two runs; the
 * others: the first run). NV_EINPUT, with what to do, for an unknown preset, a
 * model, layer, weight, epoch or step out of range, a run without the tier the
 * preset reads (naming the tier and the config key that records it), or
 * compare-runs over runs of different architectures or data. */
nv_status nv_query_preset(nv_query *q, const nv_preset_args *a, nv_qresult *out, nv_error *err);

/* The SQL of docs/queries.md that gives the preset's main table (its first table),
 * with the parameters of a filled in (malloc'd into *sql). The weight-groups SQL
 * gives the ranking's columns, not the trajectory groups, and compare-runs' SQL
 * its "runs" table; docs/queries.md says what each covers. */
nv_status nv_query_preset_sql(nv_query *q, const nv_preset_args *a, char **sql, nv_error *err);

/* --- the report's tables ------------------------------------------------------------------- */
/* The answers `nerve report` shows (docs/queries.md, "In the report"), computed with
 * the report's defaults for RUN's first recorded model and written as CSV under
 * RUN/analysis/queries/ (each file crash-safe), with index.json listing each table,
 * the command that reproduces it and its note. compare_run (may be NULL) is a second
 * run for compare-runs. *written gets the number of tables (0 when RUN has no
 * dynamics record: nothing is written then). */
nv_status nv_query_report_tables(const char *run, const char *compare_run, int *written, nv_error *err);

/* --- the batched kernel (contrib.c; CUDA twin cuda/contrib.cu) ----------------------------- */
/* Top-k of summed contributions for a block of a layer's weights. Samples are
 * "groups" of factor rows (a sample fed more than once in the range has several):
 * group g holds rows [start[g], start[g+1]). The summed contribution of group g to
 * weight (r, c) is v = sum over its rows j, in order, of (double)dt[r][j] *
 * (double)a[j][c] (c = C: the bias, a = 1), in double. For every weight (r, c) with
 * r in [r0, r1) and c in [c0, c1) the k groups with the largest score (|v|, v or -v
 * by `by`) are returned, best first; ties go to the lower group index; NaN scores
 * never enter; slots beyond the number of groups get group -1 and value NaN.
 * Cost: (r1 - r0) (c1 - c0) x rows multiply-adds and comparisons, plus the
 * insertions into the k-lists (few after the first k groups when the order is
 * random: about k ln(groups / k) per weight); memory: the outputs. Rows of the
 * output are weights in row-major order (r, then c). */
typedef struct {
    int64_t ngroups;
    const int64_t *start;   /* (ngroups + 1) */
    int64_t nrows;          /* = start[ngroups] */
    int64_t R, C;           /* the layer's outputs and inputs */
    const float *dt;        /* (R, nrows): d transposed, row r = unit r's delta over the rows */
    const float *a;         /* (nrows, C) */
    int64_t r0, r1, c0, c1; /* the weights: rows [r0, r1), columns [c0, c1), c1 <= C + 1 */
    int k;                  /* 1..NV_TOPK_MAX */
    nv_rank_by by;
} nv_topk_problem;
#define NV_TOPK_MAX 256

/* out_v, out_g: ((r1 - r0) (c1 - c0), k) each, caller-allocated. threads: 0 = default. */
nv_status nv_query_topk_cpu(const nv_topk_problem *p, int threads, double *out_v, int64_t *out_g, nv_error *err);
/* The CUDA twin (in the plug-in; host pointers in and out): one thread per weight,
 * the same order of every sum and comparison, so the same answer bit for bit. */
nv_status nv_query_topk_cuda(const nv_topk_problem *p, double *out_v, int64_t *out_g, nv_error *err);
/* The device rule (device.h, stage "query"): the GPU under AUTO when the problem has
 * at least 2^26 multiply-adds and one is usable. *used (may be NULL) gets where it ran,
 * *note (may be NULL) the device layer's fallback note or NULL. */
nv_status nv_query_topk(const nv_topk_problem *p, nv_device_kind want, int threads, double *out_v, int64_t *out_g,
                        nv_device_kind *used, const char **note, nv_error *err);

#ifdef __cplusplus
}
#endif
#endif
