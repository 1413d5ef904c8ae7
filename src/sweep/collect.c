/* collect.c: `nerve collect DIR` as a library call (sweep.h): merges the
 * finished tasks of a sweep into one table per configuration (the sweep axes
 * except the seed), mean and standard deviation over seeds.
 *
 * Inputs per finished task: run/summary.json (final test accuracy of each model)
 * and, where they exist, the analysis tables other verbs write (docs/DESIGN.md,
 * "The analysis directory"): analysis/ph/summary.csv (Betti numbers),
 * analysis/stats/intrinsic_dimension.csv and analysis/stats/probes.csv. Those are
 * read by column name, not position, so a verb adding a column does not break
 * collect; each table's last snapshot epoch is used. Everything is formatted with
 * fixed precision in task order, so the same finished runs give the same bytes
 * whether they ran here or on a cluster.
 */
#include "nerve/sweep.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nerve/plot.h"
#include "nerve/snapshot.h"
#include "nerve/strbuf.h"
#include "nerve/fsutil.h"

/* ---- observations: (configuration, model, layer, quantity) -> values over seeds ------ */
typedef struct {
    char model[64], layer[64], quantity[96];
} obs_key;

typedef struct {
    int64_t config;
    int key;
    double value;
} obs;

typedef struct {
    obs_key *keys;
    int nkeys, capkeys;
    obs *v;
    int64_t n, cap;
} table;

static int key_index(table *t, const char *model, const char *layer, const char *quantity) {
    for (int i = 0; i < t->nkeys; i++)
        if (!strcmp(t->keys[i].model, model) && !strcmp(t->keys[i].layer, layer) &&
            !strcmp(t->keys[i].quantity, quantity))
            return i;
    if (t->nkeys == t->capkeys) {
        int cap = t->capkeys ? 2 * t->capkeys : 32;
        obs_key *nk = realloc(t->keys, (size_t)cap * sizeof *nk);
        if (!nk) return -1;
        t->keys = nk, t->capkeys = cap;
    }
    obs_key *k = &t->keys[t->nkeys];
    snprintf(k->model, sizeof k->model, "%s", model);
    snprintf(k->layer, sizeof k->layer, "%s", layer);
    snprintf(k->quantity, sizeof k->quantity, "%s", quantity);
    return t->nkeys++;
}

static int observe(table *t, int64_t config, const char *model, const char *layer, const char *quantity, double v) {
    int k = key_index(t, model, layer, quantity);
    if (k < 0) return -1;
    if (t->n == t->cap) {
        int64_t cap = t->cap ? 2 * t->cap : 256;
        obs *nv = realloc(t->v, (size_t)cap * sizeof *nv);
        if (!nv) return -1;
        t->v = nv, t->cap = cap;
    }
    t->v[t->n++] = (obs){.config = config, .key = k, .value = v};
    return 0;
}

static void table_free(table *t) {
    free(t->keys);
    free(t->v);
}

/* Mean and sample standard deviation (n - 1; NaN below two values) of one cell. */
static int64_t cell_stats(const table *t, int64_t config, int key, double *mean, double *sd) {
    int64_t n = 0;
    double s = 0;
    for (int64_t i = 0; i < t->n; i++)
        if (t->v[i].config == config && t->v[i].key == key) s += t->v[i].value, n++;
    *mean = n ? s / (double)n : NAN;
    double q = 0;
    for (int64_t i = 0; i < t->n; i++)
        if (t->v[i].config == config && t->v[i].key == key) q += (t->v[i].value - *mean) * (t->v[i].value - *mean);
    *sd = n > 1 ? sqrt(q / (double)(n - 1)) : NAN;
    return n;
}

/* ---- CSV tables of the analysis verbs ------------------------------------------------- */
#define MAX_COLS 64
typedef struct {
    int ncols;
    char *cols[MAX_COLS];
    int64_t nrows;
    char ***rows;        /* (nrows, ncols) */
    char *data;
} csv;

static void csv_free(csv *c) {
    for (int64_t r = 0; r < c->nrows; r++) free(c->rows[r]);
    free(c->rows);
    free(c->data);
}

/* Splits one line on commas in place (fields are plain: names and numbers). */
static int split(char *line, char **out, int max) {
    int n = 0;
    for (char *p = line;; p++) {
        if (n < max) out[n] = p;
        n++;
        p += strcspn(p, ",");
        if (!*p) break;
        *p = '\0';
    }
    for (int i = 0; i < n && i < max; i++) {
        char *f = out[i];
        size_t l = strlen(f);
        while (l && (f[l - 1] == '\r' || f[l - 1] == ' ')) f[--l] = '\0';
        while (*f == ' ') f++;
        if (*f == '"' && l >= 2 && f[strlen(f) - 1] == '"') f[strlen(f) - 1] = '\0', f++;
        out[i] = f;
    }
    return n;
}

static int csv_read(const char *path, csv *c) {
    memset(c, 0, sizeof *c);
    c->data = nv_read_file(path, NULL);
    if (!c->data) return -1;
    char *save = NULL, *line = strtok_r(c->data, "\n", &save);
    if (!line) { /* empty: no header to read columns by */
        csv_free(c);
        return -1;
    }
    int ncols = split(line, c->cols, MAX_COLS); /* once: split writes into the line */
    c->ncols = NV_MIN(ncols, MAX_COLS);
    int64_t cap = 0;
    while ((line = strtok_r(NULL, "\n", &save))) {
        if (!*line || *line == '#' || *line == '\r') continue;
        char **row = calloc((size_t)c->ncols, sizeof *row);
        if (!row) return -1;
        char *fields[MAX_COLS];
        int m = split(line, fields, MAX_COLS);
        for (int i = 0; i < c->ncols; i++) row[i] = i < m ? fields[i] : "";
        if (c->nrows == cap) {
            cap = cap ? 2 * cap : 64;
            char ***nr = realloc(c->rows, (size_t)cap * sizeof *nr);
            if (!nr) { free(row); return -1; }
            c->rows = nr;
        }
        c->rows[c->nrows++] = row;
    }
    return 0;
}

static int col(const csv *c, const char *name) {
    for (int i = 0; i < c->ncols; i++)
        if (!strcmp(c->cols[i], name)) return i;
    return -1;
}

static int is_number(const char *s, double *v) {
    char *end;
    if (!*s) return 0;
    *v = strtod(s, &end);
    return *end == '\0';
}

/* Columns that identify a row rather than measure something. */
static int is_key_column(const char *n) {
    static const char *keys[] = {"model", "layer", "epoch", "split", "class", "label", "seed", "n", "k", "dim",
                                 "landmarks", "points", "n_points", "scale", "layer_index", "width", "kind"};
    for (size_t i = 0; i < NV_ARRAY_LEN(keys); i++)
        if (!strcmp(n, keys[i])) return 1;
    return 0;
}

/* The value of a filter column that the summary should use: "all" when some
 * row has it (the pooled set or every class), then `second`, else NULL (keep all). */
static const char *preferred(const csv *c, int ci, const char *second) {
    if (ci < 0) return NULL;
    const char *cand[] = {"all", second};
    for (int k = 0; k < 2; k++) {
        if (!cand[k]) continue;
        for (int64_t r = 0; r < c->nrows; r++)
            if (!strcmp(c->rows[r][ci], cand[k])) return cand[k];
    }
    return NULL;
}

typedef enum { SRC_PH = 0, SRC_ID, SRC_PROBES } source_kind;

/* Adds one task's rows of one analysis table to the table of observations. */
static int read_analysis(const char *path, source_kind kind, int64_t config, table *t, nv_strbuf *notes, int *found) {
    csv c;
    if (access(path, F_OK) != 0) return 0;
    if (csv_read(path, &c) != 0) {
        nv_sb_printf(notes, "- %s: unreadable, skipped\n", path);
        return 0;
    }
    int cm = col(&c, "model"), cl = col(&c, "layer"), ce = col(&c, "epoch"), cs = col(&c, "split");
    int cc = col(&c, "class") >= 0 ? col(&c, "class") : col(&c, "label");
    int cdim = col(&c, "dim"), cb = col(&c, "betti_at_scale") >= 0 ? col(&c, "betti_at_scale") : col(&c, "betti");
    if (cm < 0 || cl < 0) {
        nv_sb_printf(notes, "- %s: no 'model' and 'layer' columns, skipped\n", path);
        csv_free(&c);
        return 0;
    }
    const char *split_want = preferred(&c, cs, kind == SRC_PROBES ? "test" : "train");
    /* Betti numbers are the study's per-class topology: keep every class there */
    const char *class_want = kind == SRC_PH ? NULL : preferred(&c, cc, "-1");
    /* the last epoch of each model */
    for (int64_t r = 0; r < c.nrows; r++) {
        char **row = c.rows[r];
        if (split_want && strcmp(row[cs], split_want)) continue;
        if (class_want && strcmp(row[cc], class_want)) continue;
        if (ce >= 0) {
            double e = atof(row[ce]), last = -1;
            for (int64_t q = 0; q < c.nrows; q++)
                if (!strcmp(c.rows[q][cm], row[cm]) && atof(c.rows[q][ce]) > last) last = atof(c.rows[q][ce]);
            if (e != last) continue;
        }
        double v;
        if (kind == SRC_PH && cdim >= 0 && cb >= 0) {
            char q[96];
            if (cc >= 0 && strcmp(row[cc], "all")) snprintf(q, sizeof q, "betti%s_class%s", row[cdim], row[cc]);
            else snprintf(q, sizeof q, "betti%s", row[cdim]);
            if (is_number(row[cb], &v) && observe(t, config, row[cm], row[cl], q, v)) return -1;
            *found = 1;
            continue;
        }
        for (int i = 0; i < c.ncols; i++) {
            const char *n = c.cols[i];
            int want = kind == SRC_PH      ? !strncmp(n, "betti", 5)
                       : kind == SRC_PROBES ? strstr(n, "acc") != NULL
                                            : !is_key_column(n);
            if (!want || i == cm || i == cl || !is_number(row[i], &v)) continue;
            char q[96];
            snprintf(q, sizeof q, "%s%s", kind == SRC_ID ? "id_" : kind == SRC_PROBES ? "probe_" : "", n);
            if (!strcmp(q, "id_id") || !strcmp(q, "id_intrinsic_dimension")) snprintf(q, sizeof q, "intrinsic_dimension");
            if (observe(t, config, row[cm], row[cl], q, v)) return -1;
            *found = 1;
        }
    }
    csv_free(&c);
    return 0;
}

/* ---- output -------------------------------------------------------------------------- */
static void fmt_num(char *buf, size_t len, double v) {
    if (isnan(v)) buf[0] = '\0';
    else snprintf(buf, len, "%.6f", v);
}

static const char *config_label(const nv_sweep_index *ix, int64_t config, char *buf, size_t len) {
    buf[0] = '\0';
    for (int64_t t = 0; t < ix->ntasks; t++) {
        if (ix->tasks[t].config != config) continue;
        for (int a = 0; a < ix->naxes; a++) {
            if (a == ix->seed_axis) continue;
            snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", buf[0] ? " " : "", ix->tasks[t].labels[a]);
        }
        break;
    }
    if (!buf[0]) snprintf(buf, len, "all");
    return buf;
}

static const char *task_axis_label(const nv_sweep_index *ix, int64_t config, int a) {
    for (int64_t t = 0; t < ix->ntasks; t++)
        if (ix->tasks[t].config == config) return ix->tasks[t].labels[a];
    return "";
}

static nv_status draw_figure(const nv_sweep_index *ix, const table *acc, const char *path, nv_error *err) {
    nv_plot_figure *f = NULL;
    double w = NV_MAX(420.0, 70.0 * (double)ix->nconfigs + 120.0);
    nv_status st = nv_plot_figure_new(1, 1, NV_MIN(w, 1600.0), 300, &f, err);
    if (st) return st;
    nv_plot_panel *p = nv_plot_figure_panel(f, 0, 0);
    nv_plot_figure_set_title(f, "test accuracy: mean over seeds \xc2\xb1 one standard deviation (bars)");
    /* the legend in a strip under the panel, never over the points */
    nv_plot_figure_set_legend_from(f, p);
    nv_plot_panel_set_ylabel(p, "test accuracy");
    nv_plot_panel_set_xlabel(p, "configuration");
    double *x = calloc((size_t)ix->nconfigs, sizeof *x), *y = calloc((size_t)ix->nconfigs, sizeof *y);
    double *e = calloc((size_t)ix->nconfigs, sizeof *e);
    char **labels = calloc((size_t)ix->nconfigs, sizeof *labels);
    if (!x || !y || !e || !labels) st = nv_fail(err, NV_ENOMEM, "out of memory");
    for (int64_t c = 0; c < ix->nconfigs && !st; c++) {
        char b[512];
        x[c] = (double)c;
        labels[c] = strdup(config_label(ix, c, b, sizeof b));
    }
    if (!st && ix->nconfigs <= 40) st = nv_plot_panel_set_xticks(p, x, (const char *const *)labels, (int)ix->nconfigs, err);
    for (int k = 0; k < acc->nkeys && !st; k++) {
        /* the models side by side around each configuration, so bars do not overlap */
        double shift = acc->nkeys > 1 ? 0.12 * ((double)k - 0.5 * (acc->nkeys - 1)) : 0;
        double *xs = calloc((size_t)ix->nconfigs, sizeof *xs);
        if (!xs) {
            st = nv_fail(err, NV_ENOMEM, "out of memory");
            break;
        }
        for (int64_t c = 0; c < ix->nconfigs; c++) {
            cell_stats(acc, c, k, &y[c], &e[c]);
            xs[c] = x[c] + shift;
        }
        st = nv_plot_line_errors(p, acc->keys[k].model, xs, y, e, ix->nconfigs, NULL, err);
        free(xs);
    }
    /* path is ".../results.png"; the SVG twin beside it shows the same figure as text */
    if (!st) st = nv_plot_save(f, path, err);
    char svg[4096];
    snprintf(svg, sizeof svg, "%.*s.svg", (int)(strlen(path) > 4 ? strlen(path) - 4 : 0), path);
    if (!st) st = nv_plot_save(f, svg, err);
    for (int64_t c = 0; labels && c < ix->nconfigs; c++) free(labels[c]);
    free(labels);
    free(x);
    free(y);
    free(e);
    nv_plot_figure_free(f);
    return st;
}

/* ---- collecting ------------------------------------------------------------------------ */
/* What the finished tasks of a sweep hold, gathered once (gather_tasks) and then
 * formatted into each output file. */
typedef struct {
    const char *dir;
    const nv_sweep_index *ix;
    table acc;             /* (config, model) -> final test accuracy, one value per seed */
    table ana;             /* (config, model, layer, quantity) -> analysis values */
    int64_t *done, *total; /* (nconfigs) finished and all tasks of each configuration */
    int found[3];          /* whether any finished task had each table (by source_kind) */
    nv_strbuf notes;       /* lines for results.md's notes: tables skipped, and why */
} collection;

/* Counts one finished task and adds each model's final test accuracy from its
 * summary.json. A finished task without a readable summary is bad input: its
 * hashes.json says the run completed, so something changed the run afterwards. */
static nv_status add_task_summary(collection *c, const nv_sweep_task *k, nv_collect_result *res,
                                  nv_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tasks/%s/run/summary.json", c->dir, k->name);
    json_t *sum = json_load_file(path, 0, NULL);
    json_t *models = json_object_get(sum, "models");
    if (!json_is_object(models)) {
        json_decref(sum);
        return nv_fail(err, NV_EINPUT, "%s: unreadable or without 'models' (the task's hashes.json says it finished)", path);
    }
    res->finished++;
    c->done[k->config]++;
    const char *name;
    json_t *m;
    json_object_foreach(models, name, m) {
        json_t *a = json_object_get(m, "test_acc");
        if (json_is_number(a) && observe(&c->acc, k->config, name, "", "test_acc", json_number_value(a))) {
            json_decref(sum);
            return nv_fail(err, NV_ENOMEM, "out of memory");
        }
    }
    json_decref(sum);
    return NV_OK;
}

/* Every task in index order: unfinished ones are listed in res->unfinished; finished
 * ones add their accuracies and whichever analysis tables they have. */
static nv_status gather_tasks(collection *c, nv_collect_result *res, nv_error *err) {
    static const char *files[3] = {"analysis/ph/summary.csv", "analysis/stats/intrinsic_dimension.csv",
                                   "analysis/stats/probes.csv"};
    const nv_sweep_index *ix = c->ix;
    for (int64_t t = 0; t < ix->ntasks; t++) {
        const nv_sweep_task *k = &ix->tasks[t];
        c->total[k->config]++;
        if (!nv_sweep_task_finished(c->dir, k->name)) {
            size_t l = strlen(res->unfinished);
            if (l + strlen(k->name) + 2 < sizeof res->unfinished)
                snprintf(res->unfinished + l, sizeof res->unfinished - l, "%s%s", l ? " " : "", k->name);
            continue;
        }
        nv_status st = add_task_summary(c, k, res, err);
        if (st) return st;
        char path[4096];
        for (int s = 0; s < 3; s++) {
            snprintf(path, sizeof path, "%s/tasks/%s/run/%s", c->dir, k->name, files[s]);
            if (read_analysis(path, (source_kind)s, k->config, &c->ana, &c->notes, &c->found[s]))
                return nv_fail(err, NV_ENOMEM, "out of memory");
        }
    }
    res->analysis_ph = c->found[0], res->analysis_id = c->found[1], res->analysis_probes = c->found[2];
    return NV_OK;
}

/* results.csv: one row per configuration */
static void format_results_csv(const collection *c, nv_strbuf *out) {
    const nv_sweep_index *ix = c->ix;
    const table *acc = &c->acc;
    nv_sb_printf(out, "config");
    for (int a = 0; a < ix->naxes; a++)
        if (a != ix->seed_axis) nv_sb_printf(out, ",%s", ix->keys[a]);
    nv_sb_printf(out, ",seeds_done,seeds_total");
    for (int k = 0; k < acc->nkeys; k++) nv_sb_printf(out, ",%s_test_acc_mean,%s_test_acc_std", acc->keys[k].model, acc->keys[k].model);
    nv_sb_printf(out, "\n");
    for (int64_t cf = 0; cf < ix->nconfigs; cf++) {
        nv_sb_printf(out, "%lld", (long long)cf);
        for (int a = 0; a < ix->naxes; a++)
            if (a != ix->seed_axis) nv_sb_printf(out, ",%s", task_axis_label(ix, cf, a));
        nv_sb_printf(out, ",%lld,%lld", (long long)c->done[cf], (long long)c->total[cf]);
        for (int k = 0; k < acc->nkeys; k++) {
            double mean, sd;
            char a[32], b[32];
            cell_stats(acc, cf, k, &mean, &sd);
            fmt_num(a, sizeof a, mean), fmt_num(b, sizeof b, sd);
            nv_sb_printf(out, ",%s,%s", a, b);
        }
        nv_sb_printf(out, "\n");
    }
}

/* analysis.csv: long format, one row per configuration, model, layer, quantity */
static void format_analysis_csv(const collection *c, nv_strbuf *out) {
    const nv_sweep_index *ix = c->ix;
    const table *ana = &c->ana;
    nv_sb_printf(out, "config");
    for (int a = 0; a < ix->naxes; a++)
        if (a != ix->seed_axis) nv_sb_printf(out, ",%s", ix->keys[a]);
    nv_sb_printf(out, ",model,layer,quantity,n,mean,std\n");
    for (int64_t cf = 0; cf < ix->nconfigs; cf++)
        for (int k = 0; k < ana->nkeys; k++) {
            double mean, sd;
            int64_t n = cell_stats(ana, cf, k, &mean, &sd);
            if (!n) continue;
            char a[32], b[32];
            fmt_num(a, sizeof a, mean), fmt_num(b, sizeof b, sd);
            nv_sb_printf(out, "%lld", (long long)cf);
            for (int x = 0; x < ix->naxes; x++)
                if (x != ix->seed_axis) nv_sb_printf(out, ",%s", task_axis_label(ix, cf, x));
            nv_sb_printf(out, ",%s,%s,%s,%lld,%s,%s\n", ana->keys[k].model, ana->keys[k].layer, ana->keys[k].quantity,
                         (long long)n, a, b);
        }
}

/* results.md, first part: the heading and the accuracy table (mean ± sd per model) */
static void md_accuracy_table(const collection *c, const nv_collect_result *res, nv_strbuf *md) {
    const nv_sweep_index *ix = c->ix;
    const table *acc = &c->acc;
    nv_sb_printf(md, "# Sweep results: %s\n\n", c->dir);
    nv_sb_printf(md, "%lld of %lld tasks finished, %lld configurations. Test accuracy at the last epoch, mean ± sample "
                     "standard deviation over seeds.\n\n", (long long)res->finished, (long long)res->tasks, (long long)res->configs);
    nv_sb_printf(md, "| config |");
    for (int a = 0; a < ix->naxes; a++)
        if (a != ix->seed_axis) nv_sb_printf(md, " %s |", ix->keys[a]);
    nv_sb_printf(md, " seeds |");
    for (int k = 0; k < acc->nkeys; k++) nv_sb_printf(md, " %s |", acc->keys[k].model);
    nv_sb_printf(md, "\n|---|");
    for (int a = 0; a < ix->naxes; a++)
        if (a != ix->seed_axis) nv_sb_printf(md, "---|");
    nv_sb_printf(md, "---|");
    for (int k = 0; k < acc->nkeys; k++) nv_sb_printf(md, "---|");
    nv_sb_printf(md, "\n");
    for (int64_t cf = 0; cf < ix->nconfigs; cf++) {
        nv_sb_printf(md, "| %lld |", (long long)cf);
        for (int a = 0; a < ix->naxes; a++)
            if (a != ix->seed_axis) nv_sb_printf(md, " %s |", task_axis_label(ix, cf, a));
        nv_sb_printf(md, " %lld/%lld |", (long long)c->done[cf], (long long)c->total[cf]);
        for (int k = 0; k < acc->nkeys; k++) {
            double mean, sd;
            cell_stats(acc, cf, k, &mean, &sd);
            if (isnan(mean)) nv_sb_printf(md, " |");
            else if (isnan(sd)) nv_sb_printf(md, " %.4f |", mean);
            else nv_sb_printf(md, " %.4f ± %.4f |", mean, sd);
        }
        nv_sb_printf(md, "\n");
    }
}

/* results.md, second part: the analysis table, when any task had analysis tables */
static void md_analysis_table(const collection *c, nv_strbuf *md) {
    const table *ana = &c->ana;
    if (!ana->nkeys) return;
    nv_sb_printf(md, "\n## Analysis (last snapshot epoch)\n\n| config | model | layer | quantity | n | mean | std |\n"
                     "|---|---|---|---|---|---|---|\n");
    for (int64_t cf = 0; cf < c->ix->nconfigs; cf++)
        for (int k = 0; k < ana->nkeys; k++) {
            double mean, sd;
            int64_t n = cell_stats(ana, cf, k, &mean, &sd);
            if (!n) continue;
            nv_sb_printf(md, "| %lld | %s | %s | %s | %lld | %.4f | ", (long long)cf, ana->keys[k].model, ana->keys[k].layer,
                         ana->keys[k].quantity, (long long)n, mean);
            if (isnan(sd)) nv_sb_printf(md, " |\n");
            else nv_sb_printf(md, "%.4f |\n", sd);
        }
}

/* results.md, last part: what the tables leave out (unfinished tasks, analyses no
 * task had, tables skipped), so nothing is dropped silently */
static void md_notes(const collection *c, const nv_collect_result *res, nv_strbuf *md) {
    nv_sb_printf(md, "\n## Notes\n\n");
    if (res->unfinished[0]) nv_sb_printf(md, "- unfinished tasks (not in the tables): %s\n", res->unfinished);
    static const char *what[3] = {"Betti numbers (analysis/ph/summary.csv)",
                                  "intrinsic dimension (analysis/stats/intrinsic_dimension.csv)",
                                  "probe accuracy (analysis/stats/probes.csv)"};
    for (int s = 0; s < 3; s++)
        if (!c->found[s]) nv_sb_printf(md, "- %s: not present in any finished task, skipped\n", what[s]);
    nv_sb_puts(md, nv_sb_str(&c->notes));
}

/* DIR/collect/: the three texts (each written atomically) and the figure. */
static nv_status write_outputs(const collection *c, const nv_strbuf *csv_out, const nv_strbuf *ana_out,
                               const nv_strbuf *md, int figure, nv_collect_result *res, nv_error *err) {
    nv_status st;
    const char *dir = c->dir;
    char path[4096];
    snprintf(path, sizeof path, "%s/collect", dir);
    if ((st = nv_mkdirs(path, err))) return st;
    snprintf(path, sizeof path, "%s/collect/results.csv", dir);
    if ((st = nv_atomic_write_text(path, nv_sb_str(csv_out), err))) return st;
    snprintf(path, sizeof path, "%s/collect/analysis.csv", dir);
    if ((st = nv_atomic_write_text(path, nv_sb_str(ana_out), err))) return st;
    snprintf(path, sizeof path, "%s/collect/results.md", dir);
    if ((st = nv_atomic_write_text(path, nv_sb_str(md), err))) return st;
    if (figure && res->finished > 0) {
        snprintf(path, sizeof path, "%s/collect/results.png", dir);
        if ((st = draw_figure(c->ix, &c->acc, path, err))) return st;
        res->figure = 1;
    }
    return NV_OK;
}

nv_status nv_sweep_collect(const char *dir, int figure, nv_collect_result *res, nv_error *err) {
    memset(res, 0, sizeof *res);
    nv_sweep_index *ix = NULL;
    nv_status st = nv_sweep_index_load(dir, &ix, err);
    if (st) return st;
    collection c = {.dir = dir, .ix = ix};
    nv_strbuf csv_out = {0}, ana_out = {0}, md = {0};
    c.done = calloc((size_t)NV_MAX(ix->nconfigs, 1), sizeof *c.done);
    c.total = calloc((size_t)NV_MAX(ix->nconfigs, 1), sizeof *c.total);
    if (!c.done || !c.total) {
        st = nv_fail(err, NV_ENOMEM, "out of memory");
        goto out;
    }
    res->tasks = ix->ntasks;
    res->configs = ix->nconfigs;
    if ((st = gather_tasks(&c, res, err))) goto out;

    format_results_csv(&c, &csv_out);
    format_analysis_csv(&c, &ana_out);
    md_accuracy_table(&c, res, &md);
    md_analysis_table(&c, &md);
    md_notes(&c, res, &md);
    /* the builders stop at the first failed allocation: one check for all of them */
    if (csv_out.oom || ana_out.oom || md.oom || c.notes.oom) {
        st = nv_fail(err, NV_ENOMEM, "out of memory");
        goto out;
    }
    st = write_outputs(&c, &csv_out, &ana_out, &md, figure, res, err);
out:
    free(c.done);
    free(c.total);
    nv_sb_free(&csv_out), nv_sb_free(&ana_out), nv_sb_free(&md), nv_sb_free(&c.notes);
    table_free(&c.acc);
    table_free(&c.ana);
    nv_sweep_index_free(ix);
    return st;
}
