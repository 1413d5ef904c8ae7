/* vtab.c: the dynamics store as SQLite virtual tables (docs/queries.md, "Tables").
 *
 * Each table is an eponymous virtual table (no CREATE needed) over every recorded
 * model of every run of the session, read in place (source.c), never copied into
 * SQLite. A table is a nest of loops: (run, model) -> a tier's rows (one per step,
 * or one per sample of each step) or, for `weights`, steps -> layer -> unit/row ->
 * column. xBestIndex hands SQLite's equality and range constraints on the key
 * columns (run, model, step, epoch, layer, layer_index, unit/row, col, sample_id,
 * position, split) to xFilter, which narrows each loop to them: a step range becomes
 * a row range by binary search in the tier's step column, an epoch range a step
 * range, a sample id the rows that sample was fed in (an index built on first use),
 * a layer name one layer. The cost reported to the planner is the number of rows
 * left after the narrowing (estimated from the stores' sizes), so a join feeds the
 * narrow table's keys into the wide one. SQLite re-checks every constraint
 * (omit = 0): the narrowing only has to keep every matching row, which keeps odd
 * types (a text step, a real row number) correct.
 *
 * contributions(value) = d_i[row] a_i[col] in double (col = in: the bias, d_i[row]),
 * computed when asked for, never stored. weights(value) comes from a saved state or
 * a replay (replay.c): a whole model with the training backend's sgemm when the
 * query asks for more than one weight of a model, one weight alone when layer, row
 * and col are all fixed by equalities.
 */
#include "query_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- tables and columns ----------------------------------------------------------------- */
enum { K_NONE = 0, K_RUN, K_MODEL, K_STEP, K_EPOCH, K_LAYER, K_LAYER_INDEX, K_UNIT, K_COL, K_SAMPLE, K_POSITION,
       K_SPLIT, K_COUNT };
enum { T_STEPS = 0, T_LAYERS, T_NEURONS, T_SAMPLES, T_CONTRIB, T_WEIGHTS, T_DATA, T_COUNT };

typedef struct {
    const char *name, *type;
    int key;
    const char *meaning;
} qcol;

#define RUN_COL {"run", "TEXT", K_RUN, "the run directory, as named on the command line"}
#define MODEL_COL {"model", "TEXT", K_MODEL, "the recorded model (expressive, bottleneck, linear, ...)"}
#define STEP_COL {"step", "INTEGER", K_STEP, "the optimiser step, 1..epochs x steps per epoch (weights: 0 = the initialisation)"}
#define EPOCH_COL {"epoch", "INTEGER", K_EPOCH, "the epoch of the step, (step - 1) / steps_per_epoch + 1"}
#define LAYER_COL {"layer", "TEXT", K_LAYER, "the affine layer, named like its output: hidden1, hidden2, ..., logits"}
#define LAYER_INDEX_COL {"layer_index", "INTEGER", K_LAYER_INDEX, "the layer's number k = 0..L-1 (it maps widths[k] -> widths[k+1])"}

static const qcol STEPS_COLS[] = {
    RUN_COL, MODEL_COL, STEP_COL, EPOCH_COL,
    {"batch_size", "INTEGER", 0, "b, the step's batch (the last of an epoch may be smaller)"},
    {"loss", "REAL", 0, "the batch-mean cross-entropy before the update"},
    {"accuracy", "REAL", 0, "the fraction of the batch classified correctly before the update"},
    {"lr", "REAL", 0, "the step's learning rate: train.lr, halved every train.lr_half_life steps when set (Adam's effective step is lr / (1 - beta1^step))"},
};
static const qcol LAYERS_COLS[] = {
    RUN_COL, MODEL_COL, STEP_COL, EPOCH_COL, LAYER_COL, LAYER_INDEX_COL,
    {"weight_norm", "REAL", 0, "||params|| of the layer (weights and bias) after the update"},
    {"grad_norm", "REAL", 0, "||g||, g = dLoss/dparams of the batch-mean loss, before weight decay"},
    {"update_norm", "REAL", 0, "||params after - params before||, the applied update"},
    {"update_ratio", "REAL", 0, "update_norm / ||params before|| (NULL when those were 0)"},
    {"init_distance", "REAL", 0, "||params after - params at step 0||"},
    {"alarm_abs", "REAL", 0, "fraction of the layer's gradient entries with |g| > dynamics.alarm.absolute"},
    {"alarm_rel", "REAL", 0, "fraction with |g| > alarm_rel_threshold"},
    {"alarm_rel_threshold", "REAL", 0, "dynamics.alarm.relative x the running median of the layer's RMS gradient (NULL at the first step)"},
    {"alarm_fraction", "REAL", 0, "max(alarm_abs, alarm_rel): at least this fraction of the entries crossed an alarm threshold"},
    {"nonfinite_grad", "INTEGER", 0, "NaN/Inf entries of g"},
    {"nonfinite_weight", "INTEGER", 0, "NaN/Inf parameters after the update"},
    {"dead_frac", "REAL", 0, "fraction of the layer's units with pre-activation <= 0 for every sample of the batch"},
};
static const qcol NEURONS_COLS[] = {
    RUN_COL, MODEL_COL, STEP_COL, EPOCH_COL, LAYER_COL, LAYER_INDEX_COL,
    {"unit", "INTEGER", K_UNIT, "the unit (output) of the layer, 0..widths[k+1]-1"},
    {"activation", "REAL", 0, "mean over the batch of the unit's output (after the activation; the logit itself for logits)"},
    {"frac_active", "REAL", 0, "fraction of the batch with pre-activation > 0"},
    {"mean_abs_delta", "REAL", 0, "mean over the batch of |d_i| (d_i = b dLoss/dpre_i, the per-sample delta)"},
    {"grad_norm", "REAL", 0, "||g[unit, :]||, the gradient of the unit's incoming weight row (bias not included)"},
    {"update_norm", "REAL", 0, "||W_after[unit, :] - W_before[unit, :]||, the weight change of the node"},
    {"influence", "REAL", 0, "|sum_i a_i dLoss/da_i|: first-order change of the batch loss if the unit's output were 0 (Molchanov et al. 2017)"},
    {"top_rank", "INTEGER", 0, "1 for the most influential unit of the layer at the step, ... up to dynamics.neurons.top_k; NULL otherwise"},
};
/* samples: grad_norm_<layer> columns follow, one per layer name of the session */
static const qcol SAMPLES_COLS[] = {
    RUN_COL, MODEL_COL, STEP_COL, EPOCH_COL,
    {"sample_id", "INTEGER", K_SAMPLE, "the sample's id in the source data (data.h5's ids)"},
    {"position", "INTEGER", K_POSITION, "its position in the batch, 0..b-1"},
    {"label", "INTEGER", 0, "its class"},
    {"loss", "REAL", 0, "its cross-entropy before the update"},
    {"correct", "INTEGER", 0, "1 when its argmax is its label"},
    {"grad_norm", "REAL", 0, "the norm of its whole gradient, sqrt(sum over layers of grad_norm_<layer>^2)"},
};
static const qcol CONTRIB_COLS[] = {
    RUN_COL, MODEL_COL, STEP_COL, EPOCH_COL,
    {"sample_id", "INTEGER", K_SAMPLE, "the sample (data.h5's id)"},
    {"position", "INTEGER", K_POSITION, "its position in the batch"},
    {"label", "INTEGER", 0, "its class (from data.h5; NULL when the data file does not list it)"},
    {"batch_size", "INTEGER", 0, "b of the step: the batch gradient is SUM(value) / b"},
    LAYER_COL, LAYER_INDEX_COL,
    {"row", "INTEGER", K_UNIT, "the weight's row: the layer's output unit, 0..widths[k+1]-1"},
    {"col", "INTEGER", K_COL, "the weight's column: the input, 0..widths[k]-1; widths[k] is the bias"},
    {"value", "REAL", 0, "d_i[row] a_i[col] (the bias: d_i[row]), the gradient of the sample's own loss for the weight, "
                         "exact in double from the stored factors; plain SGD's update of the weight is -lr/b SUM(value)"},
};
static const qcol WEIGHTS_COLS[] = {
    RUN_COL, MODEL_COL, STEP_COL, EPOCH_COL, LAYER_COL, LAYER_INDEX_COL,
    {"row", "INTEGER", K_UNIT, "the output unit, 0..widths[k+1]-1"},
    {"col", "INTEGER", K_COL, "the input, 0..widths[k]-1; widths[k] is the bias"},
    {"value", "REAL", 0, "the parameter after the step's update: a saved state, or replayed from the latest saved state "
                         "before it and the factors (docs/queries.md, \"weights\")"},
    {"stored", "INTEGER", 0, "1 when the step's state was saved by the weights tier (read, not replayed)"},
};
static const qcol DATA_COLS[] = {
    RUN_COL,
    {"sample_id", "INTEGER", K_SAMPLE, "the sample's id in the source data"},
    {"split", "TEXT", K_SPLIT, "train or test"},
    {"row", "INTEGER", 0, "its row in the split (data.h5)"},
    {"label", "INTEGER", 0, "its class"},
};

static const struct {
    const char *name;
    const qcol *cols;
    int ncols;
    int tier;          /* the tier its rows come from (-1: data.h5) */
    const char *meaning;
} TABLES[T_COUNT] = {
    {"steps", STEPS_COLS, NV_ARRAY_LEN(STEPS_COLS), NV_DYN_STEPS, "one row per recorded step (steps tier)"},
    {"layers", LAYERS_COLS, NV_ARRAY_LEN(LAYERS_COLS), NV_DYN_STEPS, "one row per recorded step and layer (steps tier)"},
    {"neurons", NEURONS_COLS, NV_ARRAY_LEN(NEURONS_COLS), NV_DYN_NEURONS, "one row per recorded step, layer and unit (neurons tier)"},
    {"samples", SAMPLES_COLS, NV_ARRAY_LEN(SAMPLES_COLS), NV_DYN_SAMPLES, "one row per sample of each recorded step (samples tier)"},
    {"contributions", CONTRIB_COLS, NV_ARRAY_LEN(CONTRIB_COLS), NV_DYN_FACTORS,
     "one row per (step, sample, layer, row, col): the sample's contribution to the weight's change, computed from "
     "the factors tier when read"},
    {"weights", WEIGHTS_COLS, NV_ARRAY_LEN(WEIGHTS_COLS), NV_DYN_WEIGHTS,
     "one row per (step, layer, row, col): every parameter after every step that can be rebuilt"},
    {"data", DATA_COLS, NV_ARRAY_LEN(DATA_COLS), -1, "one row per sample of the run's data set (data.h5)"},
};

/* The schema for --schema: the fixed columns, plus a line for samples.grad_norm_<layer>. */
static qschema_row SCHEMA[160];
static int nschema;

int qvtab_schema(const qschema_row **rows) {
    if (!nschema) {
        for (int t = 0; t < T_COUNT; t++) {
            for (int c = 0; c < TABLES[t].ncols; c++)
                SCHEMA[nschema++] = (qschema_row){TABLES[t].name, TABLES[t].cols[c].name, TABLES[t].cols[c].type,
                                                  TABLES[t].cols[c].meaning};
            if (t == T_SAMPLES)
                SCHEMA[nschema++] = (qschema_row){"samples", "grad_norm_<layer>", "REAL",
                                                  "||d_i a_i^T|| of the layer with its bias, ||d_i|| sqrt(||a_i||^2 + 1), "
                                                  "exact from the factors (one column per layer name of the runs)"};
        }
        static const qschema_row extra[] = {
            {"runs", "run", "TEXT", "the run (one row per recorded model; a run without a record: one row, model NULL)"},
            {"runs", "model", "TEXT", "the recorded model"},
            {"runs", "experiment", "TEXT", "the config's experiment"},
            {"runs", "seed", "INTEGER", "the config's seed (data split, initial weights)"},
            {"runs", "order_seed", "INTEGER", "train.order_seed, the seed of the sample order (default: seed)"},
            {"runs", "optimizer", "TEXT", "adam or sgd"},
            {"runs", "lr", "REAL", "train.lr"},
            {"runs", "momentum", "REAL", "train.momentum"},
            {"runs", "weight_decay", "REAL", "train.weight_decay"},
            {"runs", "batch_size", "INTEGER", "train.batch_size"},
            {"runs", "n_train", "INTEGER", "training samples"},
            {"runs", "steps_per_epoch", "INTEGER", "ceil(n_train / batch_size)"},
            {"runs", "epochs", "INTEGER", "train.epochs"},
            {"runs", "last_step", "INTEGER", "the last step the record covers"},
            {"runs", "nparams", "INTEGER", "parameters of the model"},
            {"runs", "widths", "TEXT", "the layer widths, e.g. 12-64-64-64-2"},
            {"runs", "layers", "TEXT", "the layer names, comma-separated"},
            {"runs", "tiers", "TEXT", "the tiers that recorded something, comma-separated"},
            {"metrics", "run", "TEXT", "the run (RUN/metrics/<model>.csv)"},
            {"metrics", "model", "TEXT", "the model"},
            {"metrics", "epoch", "INTEGER", "the epoch (0: before training)"},
            {"metrics", "train_loss", "REAL", "mean cross-entropy over the training split after the epoch"},
            {"metrics", "train_accuracy", "REAL", "accuracy over the training split"},
            {"metrics", "test_loss", "REAL", "mean cross-entropy over the test split"},
            {"metrics", "test_accuracy", "REAL", "accuracy over the test split"},
        };
        for (size_t i = 0; i < NV_ARRAY_LEN(extra); i++) SCHEMA[nschema++] = extra[i];
    }
    *rows = SCHEMA;
    return nschema;
}

/* --- the vtab and its cursor ----------------------------------------------------------- */
typedef struct {
    sqlite3_vtab base;
    nv_query *q;
    int table;
    int ncols;
    const qcol *cols;      /* the fixed columns; samples adds grad_norm_<layer> after them */
    double card[K_COUNT];  /* distinct values per key, for the planner */
    double rows;           /* rows of the whole table */
} qvtab;

typedef struct {
    sqlite3_vtab_cursor base;
    qvtab *vt;
    /* the constraints */
    char run[NV_PATH_LEN], model[64], layer[16], split[8];
    int has_run, has_model, has_layer, has_split, empty;
    int64_t lo[K_COUNT], hi[K_COUNT];
    /* the loops: level 0 (run, model), 1 rows or steps, 2 layer, 3 unit/row, 4 col */
    int depth;
    int nsrc, *srcs;
    int64_t lv[5], lhi[5];
    qsrc *src;                  /* srcs[lv[0]] (NULL for the data table) */
    qrun *run_;                 /* the data table's run */
    int list_mode;
    const int64_t *list;
    int64_t nlist;
    /* the current tier row */
    int64_t row, step, sample, position;
    int64_t rowid;
    int eof;
    /* views of the current (source, layer) per column, and the current factor rows */
    qsrc *vsrc;
    int vk;
    qview *view[40];
    const float *fa, *fd;
    const qsrc *fsrc;
    int64_t frow;
    int fk;
    /* weights */
    qreplay rep;
    qsrc *rep_src;
    int single;
    qreplay1 rep1;
    int stored;
    nv_status status;
} qcursor;

static int fail_vt(qcursor *c, const nv_error *e) {
    sqlite3_free(c->vt->base.zErrMsg);
    c->vt->base.zErrMsg = sqlite3_mprintf("%s", e->msg[0] ? e->msg : "failed");
    c->status = e->status ? e->status : NV_EINTERNAL;
    return -1;
}

/* --- connect ------------------------------------------------------------------------------ */
static int x_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out, char **errmsg) {
    (void)argc;
    (void)argv;
    (void)errmsg;
    nv_query *q = aux;
    int table = -1;
    for (int t = 0; t < T_COUNT; t++)
        if (!strcmp(argv[0], TABLES[t].name)) table = t;
    if (table < 0) return SQLITE_ERROR;
    nv_strbuf b = {0};
    nv_sb_printf(&b, "CREATE TABLE x(");
    for (int c = 0; c < TABLES[table].ncols; c++)
        nv_sb_printf(&b, "%s\"%s\" %s", c ? ", " : "", TABLES[table].cols[c].name, TABLES[table].cols[c].type);
    if (table == T_SAMPLES)
        for (int k = 0; k < q->nlayer_names; k++) nv_sb_printf(&b, ", \"grad_norm_%s\" REAL", q->layer_names[k]);
    nv_sb_printf(&b, ")");
    int rc = b.oom ? SQLITE_NOMEM : sqlite3_declare_vtab(db, nv_sb_str(&b));
    nv_sb_free(&b);
    if (rc != SQLITE_OK) return rc;
    qvtab *v = sqlite3_malloc(sizeof *v);
    if (!v) return SQLITE_NOMEM;
    memset(v, 0, sizeof *v);
    v->q = q;
    v->table = table;
    v->cols = TABLES[table].cols;
    v->ncols = TABLES[table].ncols + (table == T_SAMPLES ? q->nlayer_names : 0);
    /* sizes for the planner: averages over the sources */
    double ns = NV_MAX(q->nsrc, 1), steps = 0, rows = 0, L = 0, units = 0, cols = 0, n = 0, P = 0, S = 0;
    for (int i = 0; i < q->nsrc; i++) {
        const nv_dyn_info *in = q->src[i]->info;
        int tier = TABLES[table].tier < 0 ? NV_DYN_STEPS : TABLES[table].tier;
        steps += (double)in->rows[table == T_SAMPLES || table == T_CONTRIB ? NV_DYN_STEPS : tier];
        rows += (double)in->rows[tier];
        L += in->spec.nlayers;
        for (int k = 0; k < in->spec.nlayers; k++) {
            units += (double)in->spec.widths[k + 1] / in->spec.nlayers;
            cols += (double)(in->spec.widths[k] + 1) / in->spec.nlayers;
        }
        n += (double)in->n_train;
        P += (double)in->nparams;
        S += (double)(in->last_step + 1);
    }
    steps = NV_MAX(steps / ns, 1);
    L = NV_MAX(L / ns, 1);
    units = NV_MAX(units / ns, 1);
    cols = NV_MAX(cols / ns, 1);
    n = NV_MAX(n / ns, 1);
    for (int k = 0; k < K_COUNT; k++) v->card[k] = 1;
    v->card[K_RUN] = NV_MAX(q->nruns, 1);
    v->card[K_MODEL] = ns / v->card[K_RUN] > 1 ? ns / v->card[K_RUN] : 1;
    v->card[K_STEP] = table == T_WEIGHTS ? NV_MAX(S / ns, 1) : steps;
    v->card[K_EPOCH] = 60;
    v->card[K_LAYER] = v->card[K_LAYER_INDEX] = L;
    v->card[K_UNIT] = units;
    v->card[K_COL] = cols;
    v->card[K_SAMPLE] = n;
    v->card[K_POSITION] = 64;
    v->card[K_SPLIT] = 2;
    switch (table) {
    case T_STEPS: v->rows = rows; break;
    case T_LAYERS: v->rows = rows * L; break;
    case T_NEURONS: v->rows = rows * L * units; break;
    case T_SAMPLES: v->rows = rows; break;
    case T_CONTRIB: v->rows = rows * (P / ns); break;
    case T_WEIGHTS: v->rows = S * (P / ns); break;
    default: v->rows = n * (q->nruns ? q->nruns : 1); break;
    }
    v->rows = NV_MAX(v->rows, 1);
    *out = &v->base;
    return SQLITE_OK;
}

static int x_disconnect(sqlite3_vtab *v) {
    sqlite3_free(v);
    return SQLITE_OK;
}

/* --- the planner ---------------------------------------------------------------------------- */
/* idxStr names what was handed over, so EXPLAIN QUERY PLAN shows the push-down:
 * "model=,layer=,row=,step>=" (column name and operator per argument, in order). */
static const char *const OPS[] = {"=", ">", ">=", "<", "<="};

static int x_best_index(sqlite3_vtab *vt, sqlite3_index_info *info) {
    qvtab *v = (qvtab *)vt;
    const int nfixed = TABLES[v->table].ncols;
    nv_strbuf code = {0};
    int nargs = 0;
    double est = v->rows;
    int seen_eq[K_COUNT] = {0}, seen_lo[K_COUNT] = {0}, seen_hi[K_COUNT] = {0};
    for (int i = 0; i < info->nConstraint && nargs < 64; i++) {
        const struct sqlite3_index_constraint *c = &info->aConstraint[i];
        if (!c->usable || c->iColumn < 0 || c->iColumn >= nfixed) continue;
        int key = v->cols[c->iColumn].key;
        if (!key) continue;
        int text = key == K_RUN || key == K_MODEL || key == K_LAYER || key == K_SPLIT;
        int op;
        switch (c->op) {
        case SQLITE_INDEX_CONSTRAINT_EQ:
        case SQLITE_INDEX_CONSTRAINT_IS: op = 0; break;
        case SQLITE_INDEX_CONSTRAINT_GT: op = 1; break;
        case SQLITE_INDEX_CONSTRAINT_GE: op = 2; break;
        case SQLITE_INDEX_CONSTRAINT_LT: op = 3; break;
        case SQLITE_INDEX_CONSTRAINT_LE: op = 4; break;
        default: continue;
        }
        if (text && op != 0) continue;
        info->aConstraintUsage[i].argvIndex = ++nargs;
        info->aConstraintUsage[i].omit = 0;
        nv_sb_printf(&code, "%s%s%s", nargs > 1 ? "," : "", v->cols[c->iColumn].name, OPS[op]);
        if (op == 0) {
            if (!seen_eq[key]) est /= v->card[key];
            seen_eq[key] = 1;
        } else if (op == 1 || op == 2) {
            if (!seen_lo[key] && !seen_eq[key]) est /= 2;
            seen_lo[key] = 1;
        } else {
            if (!seen_hi[key] && !seen_eq[key]) est /= 2;
            seen_hi[key] = 1;
        }
    }
    if (est < 1) est = 1;
    info->idxStr = sqlite3_mprintf("%s", code.oom ? "" : nv_sb_str(&code));
    nv_sb_free(&code);
    info->needToFreeIdxStr = 1;
    info->estimatedRows = (sqlite3_int64)est;
    info->estimatedCost = 10.0 + est;
    return SQLITE_OK;
}

/* --- filtering --------------------------------------------------------------------------------- */
static int x_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out) {
    qcursor *c = sqlite3_malloc(sizeof *c);
    if (!c) return SQLITE_NOMEM;
    memset(c, 0, sizeof *c);
    c->vt = (qvtab *)vt;
    *out = &c->base;
    return SQLITE_OK;
}

static int x_close(sqlite3_vtab_cursor *cur) {
    qcursor *c = (qcursor *)cur;
    qreplay_free(&c->rep);
    qreplay1_free(&c->rep1);
    free(c->srcs);
    sqlite3_free(c);
    return SQLITE_OK;
}

/* Narrows [lo, hi] of an integer key by one constraint. */
static void narrow(qcursor *c, int key, char op, sqlite3_value *val) {
    int t = sqlite3_value_numeric_type(val);
    if (t != SQLITE_INTEGER && t != SQLITE_FLOAT) {
        if (t == SQLITE_NULL) c->empty = 1; /* nothing equals or compares with NULL */
        return;                             /* text: SQLite's own comparison decides */
    }
    double x = sqlite3_value_double(val);
    if (isnan(x)) return;
    int64_t lo = INT64_MIN, hi = INT64_MAX;
    const double big = 9.2e18;
    switch (op) {
    case '=':
        if (x != floor(x)) {
            c->empty = 1;
            return;
        }
        if (fabs(x) < big) lo = hi = (int64_t)x;
        break;
    case '>': if (x < big) lo = x < -big ? INT64_MIN : (int64_t)floor(x) + 1; else c->empty = 1; break;
    case 'g': if (x < big) lo = x < -big ? INT64_MIN : (int64_t)ceil(x); else c->empty = 1; break;
    case '<': if (x > -big) hi = x > big ? INT64_MAX : (int64_t)ceil(x) - 1; else c->empty = 1; break;
    case 'l': if (x > -big) hi = x > big ? INT64_MAX : (int64_t)floor(x); else c->empty = 1; break;
    }
    if (t == SQLITE_INTEGER) {
        int64_t v = sqlite3_value_int64(val);
        if (op == '=') lo = hi = v;
        else if (op == '>') { if (v == INT64_MAX) c->empty = 1; else lo = v + 1; }
        else if (op == 'g') lo = v;
        else if (op == '<') { if (v == INT64_MIN) c->empty = 1; else hi = v - 1; }
        else if (op == 'l') hi = v;
    }
    if (lo > c->lo[key]) c->lo[key] = lo;
    if (hi < c->hi[key]) c->hi[key] = hi;
    if (c->lo[key] > c->hi[key]) c->empty = 1;
}

static void text_eq(qcursor *c, char *dst, size_t len, int *has, sqlite3_value *val) {
    const char *s = (const char *)sqlite3_value_text(val);
    if (!s || sqlite3_value_type(val) == SQLITE_NULL) {
        c->empty = 1;
        return;
    }
    if (*has && strcmp(dst, s)) c->empty = 1;
    snprintf(dst, len, "%s", s);
    *has = 1;
}

/* The steps of source s the step and epoch bounds allow. */
static void step_bounds(const qcursor *c, const qsrc *s, int64_t *lo, int64_t *hi) {
    *lo = c->lo[K_STEP];
    *hi = c->hi[K_STEP];
    const int64_t spe = s->info->steps_per_epoch;
    if (c->lo[K_EPOCH] != INT64_MIN) {
        int64_t e = c->lo[K_EPOCH];
        int64_t sl = e <= 0 ? 0 : (e - 1 > INT64_MAX / spe ? INT64_MAX : (e - 1) * spe + 1);
        if (sl > *lo) *lo = sl;
    }
    if (c->hi[K_EPOCH] != INT64_MAX) {
        int64_t e = c->hi[K_EPOCH];
        int64_t sh = e < 0 ? -1 : e == 0 ? 0 : (e > INT64_MAX / spe ? INT64_MAX : e * spe);
        if (sh < *hi) *hi = sh;
    }
}

/* Views for the current (source, layer), resolved on first use per column. */
static qview *cview(qcursor *c, int col, const char *path) {
    if (c->vsrc != c->src || c->vk != (int)c->lv[2]) {
        memset(c->view, 0, sizeof c->view);
        c->vsrc = c->src;
        c->vk = (int)c->lv[2];
    }
    if (col >= (int)NV_ARRAY_LEN(c->view)) return NULL;
    if (!c->view[col]) {
        nv_error e = {0};
        if (qsrc_view(c->src, path, &c->view[col], &e)) {
            fail_vt(c, &e);
            return NULL;
        }
    }
    return c->view[col];
}

/* The range of level l given the outer levels; -1 on error. */
static int lvl_range(qcursor *c, int l, int64_t *lo, int64_t *hi) {
    nv_query *q = c->vt->q;
    const int table = c->vt->table;
    nv_error e = {0};
    *lo = 0;
    *hi = -1;
    if (l == 0) {
        *hi = (int64_t)c->nsrc - 1;
        return 0;
    }
    if (table == T_DATA) { /* level 1: samples of the run, by id */
        qrun *r = c->run_;
        int64_t a = 0, b = r->nsamples;
        while (a < b) {
            int64_t m = (a + b) / 2;
            if (r->samples[m].id < c->lo[K_SAMPLE]) a = m + 1;
            else b = m;
        }
        *lo = a;
        a = *lo;
        b = r->nsamples;
        while (a < b) {
            int64_t m = (a + b) / 2;
            if (r->samples[m].id <= c->hi[K_SAMPLE]) a = m + 1;
            else b = m;
        }
        *hi = a - 1;
        return 0;
    }
    qsrc *s = c->src;
    const int64_t col_key_lo = c->lo[K_COL], col_key_hi = c->hi[K_COL];
    switch (l) {
    case 1: {
        int64_t slo, shi;
        step_bounds(c, s, &slo, &shi);
        if (table == T_WEIGHTS) {
            *lo = NV_MAX(slo, 0);
            *hi = NV_MIN(shi, s->info->last_step);
            return 0;
        }
        int tier = TABLES[table].tier;
        int64_t r0, r1;
        if (qsrc_step_rows(s, tier, slo, shi, &r0, &r1, &e)) return fail_vt(c, &e);
        c->list_mode = 0;
        if ((table == T_SAMPLES || table == T_CONTRIB) && c->lo[K_SAMPLE] == c->hi[K_SAMPLE]) {
            if (qsrc_sample_rows(s, tier, c->lo[K_SAMPLE], &c->list, &c->nlist, &e)) return fail_vt(c, &e);
            c->list_mode = 1;
            int64_t a = 0;
            while (a < c->nlist && c->list[a] < r0) a++;
            int64_t b = c->nlist;
            while (b > a && c->list[b - 1] >= r1) b--;
            *lo = a;
            *hi = b - 1;
            return 0;
        }
        *lo = r0;
        *hi = r1 - 1;
        return 0;
    }
    case 2:
        *lo = NV_MAX(c->lo[K_LAYER_INDEX], 0);
        *hi = NV_MIN(c->hi[K_LAYER_INDEX], (int64_t)s->L - 1);
        if (c->has_layer) {
            int k = qsrc_layer(s, c->layer);
            if (k < 0 || k < *lo || k > *hi) *hi = *lo - 1;
            else *lo = *hi = k;
        }
        return 0;
    case 3:
        *lo = NV_MAX(c->lo[K_UNIT], 0);
        *hi = NV_MIN(c->hi[K_UNIT], s->info->spec.widths[c->lv[2] + 1] - 1);
        return 0;
    case 4:
        *lo = NV_MAX(col_key_lo, 0);
        *hi = NV_MIN(col_key_hi, s->info->spec.widths[c->lv[2]]);
        return 0;
    }
    (void)q;
    return 0;
}

/* Whether the value of level l is a row (loads its state); 1 yes, 0 skip, -1 error. */
static int lvl_accept(qcursor *c, int l) {
    nv_query *q = c->vt->q;
    const int table = c->vt->table;
    nv_error e = {0};
    if (l == 0) {
        if (table == T_DATA) {
            c->run_ = q->runs[c->srcs[c->lv[0]]];
            if (qrun_data(c->run_, &e)) return 0; /* a run without data.h5 has no rows */
            return 1;
        }
        c->src = q->src[c->srcs[c->lv[0]]];
        return 1;
    }
    if (table == T_DATA) {
        const qsample *sm = &c->run_->samples[c->lv[1]];
        if (c->has_split && strcmp(c->split, sm->split ? "test" : "train")) return 0;
        return 1;
    }
    qsrc *s = c->src;
    if (l == 1 && table == T_WEIGHTS) {
        int64_t step = c->lv[1];
        if (qsrc_weights_plan(s, &e)) return fail_vt(c, &e);
        if (!s->valid[step]) return 0;
        c->step = step;
        c->stored = 0;
        for (int64_t i = 0; i < s->nstored; i++) c->stored |= s->stored_steps[i] == step;
        if (c->single) {
            int k = c->has_layer ? qsrc_layer(s, c->layer) : (int)c->lo[K_LAYER_INDEX];
            if (k < 0 || k >= s->L || c->lo[K_UNIT] < 0 || c->lo[K_UNIT] >= s->info->spec.widths[k + 1] ||
                c->lo[K_COL] < 0 || c->lo[K_COL] > s->info->spec.widths[k])
                return 0;
            /* kept across xFilter calls: a join that asks step by step moves it forward */
            if (c->rep1.src != s || c->rep1.k != k || c->rep1.row != c->lo[K_UNIT] || c->rep1.col != c->lo[K_COL]) {
                if (c->rep1.src == s && c->rep1.k == k) {
                    /* another weight of the same layer (a join): keep the buffers */
                    qreplay1 *r1 = &c->rep1;
                    const nv_mlp_spec *sp = &s->info->spec;
                    const int64_t in = sp->widths[k];
                    r1->row = c->lo[K_UNIT];
                    r1->col = c->lo[K_COL];
                    r1->index = r1->col < in ? nv_mlp_weight_offset(sp, k) + r1->row * in + r1->col
                                             : nv_mlp_bias_offset(sp, k) + r1->row;
                    r1->step = -1;
                } else if (qreplay1_init(&c->rep1, s, k, c->lo[K_UNIT], c->lo[K_COL], &e)) {
                    return fail_vt(c, &e);
                }
            }
            if (qreplay1_seek(&c->rep1, step, &e)) return fail_vt(c, &e);
        } else {
            if (c->rep_src != s) {
                qreplay_free(&c->rep);
                if (qreplay_init(&c->rep, s, &e)) return fail_vt(c, &e);
                c->rep_src = s;
            }
            if (qreplay_seek(&c->rep, step, &e)) return fail_vt(c, &e);
        }
        return 1;
    }
    if (l == 1) {
        int tier = TABLES[table].tier;
        c->row = c->list_mode ? c->list[c->lv[1]] : c->lv[1];
        if (qsrc_row_step(s, tier, c->row, &c->step, &e)) return fail_vt(c, &e);
        if (table == T_SAMPLES || table == T_CONTRIB) {
            char p[48];
            snprintf(p, sizeof p, "%s/sample_id", nv_dyn_tier_name(tier));
            qview *v;
            if (qsrc_view(s, p, &v, &e) || qsrc_i64(s, v, c->row, 0, &c->sample, &e)) return fail_vt(c, &e);
            if (c->sample < c->lo[K_SAMPLE] || c->sample > c->hi[K_SAMPLE]) return 0;
            if (table == T_SAMPLES) {
                if (qsrc_view(s, "samples/position", &v, &e) || qsrc_i64(s, v, c->row, 0, &c->position, &e))
                    return fail_vt(c, &e);
            } else {
                /* the factors tier has no position column: rows of a step are the batch in order */
                int64_t r0, r1;
                if (qsrc_step_rows(s, tier, c->step, c->step, &r0, &r1, &e)) return fail_vt(c, &e);
                c->position = c->row - r0;
            }
            if (c->position < c->lo[K_POSITION] || c->position > c->hi[K_POSITION]) return 0;
        }
        return 1;
    }
    return 1;
}

static int lvl_init(qcursor *c, int l) {
    int64_t lo, hi;
    if (lvl_range(c, l, &lo, &hi) < 0) return -1;
    for (int64_t v = lo; v <= hi; v++) {
        c->lv[l] = v;
        c->lhi[l] = hi;
        int a = lvl_accept(c, l);
        if (a) return a;
    }
    return 0;
}

static int lvl_next(qcursor *c, int l) {
    while (c->lv[l] < c->lhi[l]) {
        c->lv[l]++;
        int a = lvl_accept(c, l);
        if (a) return a;
    }
    return 0;
}

/* Positions levels l.. on their first rows, backing up through outer levels when a
 * level is empty. 1 positioned, 0 no more rows, -1 error. */
static int settle(qcursor *c, int l) {
    for (;;) {
        while (l < c->depth) {
            int r = lvl_init(c, l);
            if (r < 0) return -1;
            if (r == 0) break;
            l++;
        }
        if (l == c->depth) return 1;
        for (;;) {
            l--;
            if (l < 0) return 0;
            int r = lvl_next(c, l);
            if (r < 0) return -1;
            if (r > 0) {
                l++;
                break;
            }
        }
    }
}

static int x_next(sqlite3_vtab_cursor *cur) {
    qcursor *c = (qcursor *)cur;
    int l = c->depth - 1;
    for (;;) {
        int r = lvl_next(c, l);
        if (r < 0) return SQLITE_ERROR;
        if (r > 0) {
            r = settle(c, l + 1);
            if (r < 0) return SQLITE_ERROR;
            if (r > 0) {
                c->rowid++;
                return SQLITE_OK;
            }
            /* settle backed up to the top: nothing left */
            c->eof = 1;
            return SQLITE_OK;
        }
        if (--l < 0) {
            c->eof = 1;
            return SQLITE_OK;
        }
    }
}

static int x_filter(sqlite3_vtab_cursor *cur, int idxNum, const char *idxStr, int argc, sqlite3_value **argv) {
    (void)idxNum;
    qcursor *c = (qcursor *)cur;
    nv_query *q = c->vt->q;
    const int table = c->vt->table;
    c->has_run = c->has_model = c->has_layer = c->has_split = c->empty = 0;
    for (int k = 0; k < K_COUNT; k++) {
        c->lo[k] = INT64_MIN;
        c->hi[k] = INT64_MAX;
    }
    c->eof = 0;
    c->rowid = 0;
    c->status = NV_OK;
    c->src = NULL;
    c->vsrc = NULL;
    c->fa = NULL;
    const char *p = idxStr ? idxStr : "";
    for (int i = 0; i < argc && *p; i++) {
        size_t len = strcspn(p, ",");
        char tok[64];
        snprintf(tok, sizeof tok, "%.*s", (int)len, p);
        p += len + (p[len] == ',');
        size_t nl = strcspn(tok, "=<>");
        const char *o = tok + nl;
        char op = !strcmp(o, "=") ? '=' : !strcmp(o, ">") ? '>' : !strcmp(o, ">=") ? 'g' : !strcmp(o, "<") ? '<' : 'l';
        tok[nl] = '\0';
        int key = K_NONE;
        for (int c2 = 0; c2 < TABLES[table].ncols; c2++)
            if (!strcmp(TABLES[table].cols[c2].name, tok)) key = TABLES[table].cols[c2].key;
        switch (key) {
        case K_NONE: break;
        case K_RUN: text_eq(c, c->run, sizeof c->run, &c->has_run, argv[i]); break;
        case K_MODEL: text_eq(c, c->model, sizeof c->model, &c->has_model, argv[i]); break;
        case K_LAYER: text_eq(c, c->layer, sizeof c->layer, &c->has_layer, argv[i]); break;
        case K_SPLIT: text_eq(c, c->split, sizeof c->split, &c->has_split, argv[i]); break;
        default: narrow(c, key, op, argv[i]);
        }
    }
    /* the sources (or runs) the run and model constraints leave */
    free(c->srcs);
    c->srcs = malloc(sizeof(int) * (size_t)(NV_MAX(q->nsrc, q->nruns) + 1));
    if (!c->srcs) return SQLITE_NOMEM;
    c->nsrc = 0;
    if (table == T_DATA) {
        for (int i = 0; i < q->nruns; i++)
            if (!c->has_run || !strcmp(c->run, q->runs[i]->name)) c->srcs[c->nsrc++] = i;
        c->depth = 2;
    } else {
        int have_tier = 0, first = -1;
        for (int i = 0; i < q->nsrc; i++) {
            qsrc *s = q->src[i];
            if ((c->has_run && strcmp(c->run, s->run->name)) || (c->has_model && strcmp(c->model, s->model))) continue;
            if (first < 0) first = i;
            if (s->info->rows[TABLES[table].tier] == 0) continue;
            have_tier = 1;
            c->srcs[c->nsrc++] = i;
        }
        if (first >= 0 && !have_tier && !c->empty) {
            nv_error e = {0};
            qsrc_need(q->src[first], TABLES[table].tier, TABLES[table].name, &e);
            fail_vt(c, &e);
            return SQLITE_ERROR;
        }
        if (q->nsrc == 0 && !c->empty) {
            nv_error e = {0};
            nv_fail(&e, NV_EINPUT, "table %s: no run of this query has a dynamics record (train with dynamics.enabled "
                    "= true; experiments/spheres_dynamics.cfg, docs/dynamics.md)", TABLES[table].name);
            fail_vt(c, &e);
            return SQLITE_ERROR;
        }
        c->depth = table == T_STEPS || table == T_SAMPLES ? 2 : table == T_LAYERS ? 3 : table == T_NEURONS ? 4 : 5;
    }
    c->single = table == T_WEIGHTS && (c->has_layer || c->lo[K_LAYER_INDEX] == c->hi[K_LAYER_INDEX]) &&
                c->lo[K_UNIT] == c->hi[K_UNIT] && c->lo[K_COL] == c->hi[K_COL];
    if (c->empty || c->nsrc == 0) {
        c->eof = 1;
        return SQLITE_OK;
    }
    int r = settle(c, 0);
    if (r < 0) return SQLITE_ERROR;
    if (r == 0) c->eof = 1;
    return SQLITE_OK;
}

static int x_eof(sqlite3_vtab_cursor *cur) { return ((qcursor *)cur)->eof; }

static int x_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *out) {
    *out = ((qcursor *)cur)->rowid;
    return SQLITE_OK;
}

/* --- values -------------------------------------------------------------------------------------- */
static void result_f(sqlite3_context *ctx, float v) { sqlite3_result_double(ctx, (double)v); }

static int col_f32(qcursor *c, sqlite3_context *ctx, int col, const char *path, int64_t row, int64_t j) {
    qview *v = cview(c, col, path);
    if (!v) return SQLITE_ERROR;
    float x;
    nv_error e = {0};
    if (qsrc_f32(c->src, v, row, j, &x, &e)) {
        fail_vt(c, &e);
        return SQLITE_ERROR;
    }
    result_f(ctx, x);
    return SQLITE_OK;
}

static int col_i64(qcursor *c, sqlite3_context *ctx, int col, const char *path, int64_t row, int64_t j) {
    qview *v = cview(c, col, path);
    if (!v) return SQLITE_ERROR;
    int64_t x;
    nv_error e = {0};
    if (qsrc_i64(c->src, v, row, j, &x, &e)) {
        fail_vt(c, &e);
        return SQLITE_ERROR;
    }
    sqlite3_result_int64(ctx, x);
    return SQLITE_OK;
}

/* The factors a_i, d_i of the current row and layer. */
static int factor_ptrs(qcursor *c) {
    const int k = (int)c->lv[2];
    if (c->fa && c->frow == c->row && c->fk == k && c->fsrc == c->src) return 0;
    char pa[64], pd[64];
    snprintf(pa, sizeof pa, "factors/%s/a", c->src->info->layer_names[k]);
    snprintf(pd, sizeof pd, "factors/%s/d", c->src->info->layer_names[k]);
    qview *va = cview(c, 38, pa), *vd = va ? cview(c, 39, pd) : NULL;
    if (!vd) return -1;
    const void *p;
    nv_error e = {0};
    if (qsrc_rows(c->src, va, c->row, &p, NULL, &e)) return fail_vt(c, &e);
    c->fa = p;
    if (qsrc_rows(c->src, vd, c->row, &p, NULL, &e)) return fail_vt(c, &e);
    c->fd = p;
    c->frow = c->row;
    c->fk = k;
    c->fsrc = c->src;
    return 0;
}

static const char *const LAYER_Q[] = {"weight_norm", "grad_norm", "update_norm", "update_ratio", "init_distance",
                                      "alarm_abs", "alarm_rel", "alarm_rel_threshold"};
static const char *const NEURON_Q[] = {"mean_act", "frac_active", "mean_abs_delta", "grad_norm", "update_norm", "influence"};

static int x_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col) {
    qcursor *c = (qcursor *)cur;
    const int table = c->vt->table;
    if (table == T_DATA) {
        const qsample *sm = &c->run_->samples[c->lv[1]];
        switch (col) {
        case 0: sqlite3_result_text(ctx, c->run_->name, -1, SQLITE_STATIC); break;
        case 1: sqlite3_result_int64(ctx, sm->id); break;
        case 2: sqlite3_result_text(ctx, sm->split ? "test" : "train", -1, SQLITE_STATIC); break;
        case 3: sqlite3_result_int64(ctx, sm->row); break;
        default: sqlite3_result_int64(ctx, sm->label); break;
        }
        return SQLITE_OK;
    }
    qsrc *s = c->src;
    const int k = (int)c->lv[2];
    /* the columns every table but data starts with */
    switch (col) {
    case 0: sqlite3_result_text(ctx, s->run->name, -1, SQLITE_STATIC); return SQLITE_OK;
    case 1: sqlite3_result_text(ctx, s->model, -1, SQLITE_STATIC); return SQLITE_OK;
    case 2: sqlite3_result_int64(ctx, c->step); return SQLITE_OK;
    case 3: sqlite3_result_int64(ctx, qsrc_epoch(s, c->step)); return SQLITE_OK;
    }
    char path[96];
    switch (table) {
    case T_STEPS:
        switch (col) {
        case 4: return col_i64(c, ctx, col, "steps/batch_size", c->row, 0);
        case 5: return col_f32(c, ctx, col, "steps/loss", c->row, 0);
        case 6: return col_f32(c, ctx, col, "steps/accuracy", c->row, 0);
        default: return col_f32(c, ctx, col, "steps/lr", c->row, 0);
        }
    case T_LAYERS:
        if (col == 4) {
            sqlite3_result_text(ctx, s->info->layer_names[k], -1, SQLITE_STATIC);
            return SQLITE_OK;
        }
        if (col == 5) {
            sqlite3_result_int64(ctx, k);
            return SQLITE_OK;
        }
        if (col >= 6 && col < 14) {
            snprintf(path, sizeof path, "steps/%s", LAYER_Q[col - 6]);
            return col_f32(c, ctx, col, path, c->row, k);
        }
        if (col == 14) {
            qview *va = cview(c, 30, "steps/alarm_abs"), *vr = va ? cview(c, 31, "steps/alarm_rel") : NULL;
            if (!vr) return SQLITE_ERROR;
            float x, y;
            nv_error e = {0};
            if (qsrc_f32(s, va, c->row, k, &x, &e) || qsrc_f32(s, vr, c->row, k, &y, &e)) {
                fail_vt(c, &e);
                return SQLITE_ERROR;
            }
            result_f(ctx, isnan(x) ? y : isnan(y) ? x : NV_MAX(x, y));
            return SQLITE_OK;
        }
        if (col == 15) return col_i64(c, ctx, col, "steps/nonfinite_grad", c->row, k);
        if (col == 16) return col_i64(c, ctx, col, "steps/nonfinite_weight", c->row, k);
        return col_f32(c, ctx, col, "steps/dead_frac", c->row, k);
    case T_NEURONS:
        if (col == 4) {
            sqlite3_result_text(ctx, s->info->layer_names[k], -1, SQLITE_STATIC);
            return SQLITE_OK;
        }
        if (col == 5) {
            sqlite3_result_int64(ctx, k);
            return SQLITE_OK;
        }
        if (col == 6) {
            sqlite3_result_int64(ctx, c->lv[3]);
            return SQLITE_OK;
        }
        if (col >= 7 && col < 13) {
            snprintf(path, sizeof path, "neurons/%s/%s", s->info->layer_names[k], NEURON_Q[col - 7]);
            return col_f32(c, ctx, col, path, c->row, c->lv[3]);
        } else {
            snprintf(path, sizeof path, "neurons/%s/top_k", s->info->layer_names[k]);
            qview *v = cview(c, col, path);
            if (!v) return SQLITE_ERROR;
            const void *p;
            nv_error e = {0};
            if (qsrc_rows(s, v, c->row, &p, NULL, &e)) {
                fail_vt(c, &e);
                return SQLITE_ERROR;
            }
            const int32_t *top = p;
            for (int64_t j = 0; j < v->cols; j++)
                if (top[j] == c->lv[3]) {
                    sqlite3_result_int64(ctx, j + 1);
                    return SQLITE_OK;
                }
            sqlite3_result_null(ctx);
            return SQLITE_OK;
        }
    case T_SAMPLES:
        switch (col) {
        case 4: sqlite3_result_int64(ctx, c->sample); return SQLITE_OK;
        case 5: sqlite3_result_int64(ctx, c->position); return SQLITE_OK;
        case 6: return col_i64(c, ctx, col, "samples/label", c->row, 0);
        case 7: return col_f32(c, ctx, col, "samples/loss", c->row, 0);
        case 8: return col_i64(c, ctx, col, "samples/correct", c->row, 0);
        case 9: {
            qview *v = cview(c, col, "samples/grad_norm");
            if (!v) return SQLITE_ERROR;
            const void *p;
            nv_error e = {0};
            if (qsrc_rows(s, v, c->row, &p, NULL, &e)) {
                fail_vt(c, &e);
                return SQLITE_ERROR;
            }
            double acc = 0;
            for (int64_t j = 0; j < v->cols; j++) acc += (double)((const float *)p)[j] * ((const float *)p)[j];
            sqlite3_result_double(ctx, sqrt(acc));
            return SQLITE_OK;
        }
        default: {
            const char *name = c->vt->q->layer_names[col - TABLES[T_SAMPLES].ncols];
            int kk = qsrc_layer(s, name);
            if (kk < 0) {
                sqlite3_result_null(ctx);
                return SQLITE_OK;
            }
            return col_f32(c, ctx, 9, "samples/grad_norm", c->row, kk);
        }
        }
    case T_CONTRIB:
        switch (col) {
        case 4: sqlite3_result_int64(ctx, c->sample); return SQLITE_OK;
        case 5: sqlite3_result_int64(ctx, c->position); return SQLITE_OK;
        case 6: {
            int32_t lab = qrun_label(s->run, c->sample);
            if (lab < 0) sqlite3_result_null(ctx);
            else sqlite3_result_int64(ctx, lab);
            return SQLITE_OK;
        }
        case 7: sqlite3_result_int64(ctx, qsrc_batch(s, c->step)); return SQLITE_OK;
        case 8: sqlite3_result_text(ctx, s->info->layer_names[k], -1, SQLITE_STATIC); return SQLITE_OK;
        case 9: sqlite3_result_int64(ctx, k); return SQLITE_OK;
        case 10: sqlite3_result_int64(ctx, c->lv[3]); return SQLITE_OK;
        case 11: sqlite3_result_int64(ctx, c->lv[4]); return SQLITE_OK;
        default: {
            if (factor_ptrs(c) < 0) return SQLITE_ERROR;
            const int64_t in = s->info->spec.widths[k];
            double d = (double)c->fd[c->lv[3]];
            sqlite3_result_double(ctx, c->lv[4] < in ? d * (double)c->fa[c->lv[4]] : d);
            return SQLITE_OK;
        }
        }
    case T_WEIGHTS:
        switch (col) {
        case 4: sqlite3_result_text(ctx, s->info->layer_names[k], -1, SQLITE_STATIC); return SQLITE_OK;
        case 5: sqlite3_result_int64(ctx, k); return SQLITE_OK;
        case 6: sqlite3_result_int64(ctx, c->lv[3]); return SQLITE_OK;
        case 7: sqlite3_result_int64(ctx, c->lv[4]); return SQLITE_OK;
        case 8: {
            if (c->single) {
                result_f(ctx, c->rep1.w);
                return SQLITE_OK;
            }
            const nv_mlp_spec *sp = &s->info->spec;
            const int64_t in = sp->widths[k];
            int64_t i = c->lv[4] < in ? nv_mlp_weight_offset(sp, k) + c->lv[3] * in + c->lv[4]
                                      : nv_mlp_bias_offset(sp, k) + c->lv[3];
            result_f(ctx, c->rep.params[i]);
            return SQLITE_OK;
        }
        default: sqlite3_result_int64(ctx, c->stored); return SQLITE_OK;
        }
    }
    return SQLITE_OK;
}

static sqlite3_module MODULE = {
    .iVersion = 0,
    .xCreate = NULL, /* eponymous only: the tables exist without CREATE VIRTUAL TABLE */
    .xConnect = x_connect,
    .xBestIndex = x_best_index,
    .xDisconnect = x_disconnect,
    .xDestroy = x_disconnect,
    .xOpen = x_open,
    .xClose = x_close,
    .xFilter = x_filter,
    .xNext = x_next,
    .xEof = x_eof,
    .xColumn = x_column,
    .xRowid = x_rowid,
};

nv_status qvtab_register(nv_query *q, nv_error *err) {
    for (int t = 0; t < T_COUNT; t++) {
        int rc = sqlite3_create_module_v2(q->db, TABLES[t].name, &MODULE, q, NULL);
        if (rc != SQLITE_OK)
            return nv_fail(err, NV_EINTERNAL, "sqlite: module %s: %s", TABLES[t].name, sqlite3_errmsg(q->db));
    }
    return NV_OK;
}
