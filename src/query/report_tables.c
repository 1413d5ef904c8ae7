/* report_tables.c: the presets' answers that `nerve report` shows
 * (nv_query_report_tables, include/nerve/query.h; docs/queries.md, "In the report").
 *
 * The report is assembled from files the pipeline wrote (analysis/runs/report.c
 * reads, it computes nothing of the query engine's, which comes after it in
 * docs/DESIGN.md's map), so `nerve report` (src/cli/cmd_report.c) calls this first:
 * each preset with the report's defaults, every table as CSV under
 * RUN/analysis/queries/, and index.json listing them with the command that
 * reproduces each and its note. Like every analysis stage it writes only under
 * RUN/analysis/, each file crash-safe; `nerve query` itself never writes.
 *
 * The report's defaults, for the run's "expressive" model (else its first):
 *   top-samples     epoch 1, the last layer: the weight that moved most over the
 *                   epoch (k = 10), and the classes of the whole layer's top 10s
 *   weight-groups   every layer, 4 groups, the 20 weights with the largest gradients
 *   compare-runs    only with a second run (nerve report RUN --compare RUN2)
 *   pre-explosion   any layer, more than 10% of the entries alarmed
 *   weight-to-zero  the first weight of the first layer whose sign differs between
 *                   the initialisation and the next saved state
 */
#include "query_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nerve/fsutil.h"

typedef struct {
    const char *run, *dir;
    json_t *tables;
    int written;
} rctx;

/* Every table of r as <stem>.csv (the first) and <stem>_<table>.csv. */
static nv_status save(rctx *c, const char *preset, const char *stem, const char *command, const nv_qresult *r,
                      nv_error *err) {
    for (int i = 0; i < r->ntables; i++) {
        const nv_qtable *t = &r->table[i];
        char file[160], path[NV_PATH_LEN + 256];
        if (i == 0) snprintf(file, sizeof file, "%s.csv", stem);
        else snprintf(file, sizeof file, "%s_%s.csv", stem, t->name);
        snprintf(path, sizeof path, "%s/%s", c->dir, file);
        nv_strbuf b = {0};
        nv_qtable_csv(t, &b);
        nv_status st = b.oom ? nv_fail(err, NV_ENOMEM, "out of memory") : nv_atomic_write_text(path, nv_sb_str(&b), err);
        nv_sb_free(&b);
        if (st) return st;
        json_array_append_new(c->tables, json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "preset", preset, "table", t->name,
                                                   "file", file, "command", command, "note", i == 0 ? r->note : "",
                                                   "rows", (json_int_t)t->nrows));
        c->written++;
    }
    return NV_OK;
}

/* A preset that fails for this run (a tier not recorded) is noted, not fatal. */
static nv_status answer(rctx *c, nv_query *q, const nv_preset_args *a, const char *command, nv_error *err) {
    nv_qresult r;
    nv_error e = {0};
    nv_status st = nv_query_preset(q, a, &r, &e);
    if (st == NV_EINPUT) {
        json_array_append_new(c->tables, json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "preset", a->preset, "table", "",
                                                   "file", "", "command", command, "note", e.msg, "rows", (json_int_t)0));
        return NV_OK;
    }
    if (st) {
        *err = e;
        return st;
    }
    st = save(c, a->preset, a->preset, command, &r, err);
    nv_qresult_free(&r);
    return st;
}

nv_status nv_query_report_tables(const char *run, const char *compare_run, int *written, nv_error *err) {
    *written = 0;
    char names[8][64];
    int nm = 0;
    nv_status st = nv_dyn_models(run, names, 8, &nm, err);
    if (st || nm == 0) return st;
    const char *runs[2] = {run, compare_run};
    nv_query *q = NULL;
    if ((st = nv_query_open(runs, compare_run ? 2 : 1, NULL, &q, err))) return st;
    char dir[NV_PATH_LEN + 64], path[NV_PATH_LEN + 96], cmd[NV_PATH_LEN * 2 + 256];
    snprintf(dir, sizeof dir, "%s/analysis/queries", run);
    rctx c = {run, dir, json_array(), 0};
    qsrc *s;
    if ((st = nv_mkdirs(dir, err)) || (st = qsession_source(q, 0, NULL, &s, err))) goto done;
    const nv_dyn_info *in = s->info;
    const char *lastl = in->layer_names[s->L - 1];
    nv_preset_args a;

    /* top-samples: the last layer's weight that moved most over epoch 1 */
    if (in->rows[NV_DYN_FACTORS] > 0 && in->last_step >= in->steps_per_epoch) {
        nv_preset_args_init(&a);
        a.preset = "top-samples";
        a.model = s->model;
        a.layer = lastl;
        a.epoch = 1;
        a.k = 10;
        snprintf(cmd, sizeof cmd, "nerve query %s --preset top-samples --model %s --layer %s --epoch 1 -k 10", run, s->model,
                 lastl);
        /* the classes of the whole layer's top 10s */
        nv_qresult r;
        nv_error e = {0};
        if (nv_query_preset(q, &a, &r, &e) == NV_OK) {
            nv_qresult cls = {0};
            cls.ntables = 1;
            cls.table[0] = r.table[1];
            snprintf(cls.note, sizeof cls.note, "the classes of the samples in every weight's top 10 of the layer: %.900s",
                     r.note);
            snprintf(cls.table[0].name, sizeof cls.table[0].name, "classes of the whole layer");
            st = save(&c, "top-samples", "top-samples_layer", cmd, &cls, err);
            r.ntables = 1; /* the classes table now belongs to cls */
            nv_qresult_free(&cls);
            nv_qresult_free(&r);
            if (st) goto done;
        }
        qreplay rp;
        if (qreplay_init(&rp, s, &e) == NV_OK) {
            float *w0 = malloc(sizeof(float) * (size_t)in->nparams);
            const int k = s->L - 1;
            const int64_t o = nv_mlp_weight_offset(&in->spec, k), R = in->spec.widths[k + 1], C = in->spec.widths[k];
            if (w0 && qreplay_seek(&rp, 0, &e) == NV_OK) {
                memcpy(w0, rp.params, sizeof(float) * (size_t)in->nparams);
                if (qreplay_seek(&rp, in->steps_per_epoch, &e) == NV_OK) {
                    int64_t best = 0;
                    double bd = -1;
                    for (int64_t i = 0; i < R * C; i++) {
                        double dd = fabs((double)rp.params[o + i] - (double)w0[o + i]);
                        if (dd > bd) {
                            bd = dd;
                            best = i;
                        }
                    }
                    a.row = best / C;
                    a.col = best % C;
                }
            }
            free(w0);
            qreplay_free(&rp);
        }
        if (a.row >= 0) {
            snprintf(cmd, sizeof cmd, "nerve query %s --preset top-samples --model %s --layer %s --epoch 1 --weight %lld,%lld "
                     "-k 10", run, s->model, lastl, (long long)a.row, (long long)a.col);
            if ((st = answer(&c, q, &a, cmd, err))) goto done;
        }
    }
    /* weight-groups */
    nv_preset_args_init(&a);
    a.preset = "weight-groups";
    a.model = s->model;
    snprintf(cmd, sizeof cmd, "nerve query %s --preset weight-groups --model %s", run, s->model);
    if ((st = answer(&c, q, &a, cmd, err))) goto done;
    /* compare-runs */
    if (compare_run) {
        nv_preset_args_init(&a);
        a.preset = "compare-runs";
        a.model = s->model;
        snprintf(cmd, sizeof cmd, "nerve query %s %s --preset compare-runs --model %s", run, compare_run, s->model);
        if ((st = answer(&c, q, &a, cmd, err))) goto done;
    }
    /* pre-explosion */
    nv_preset_args_init(&a);
    a.preset = "pre-explosion";
    a.model = s->model;
    snprintf(cmd, sizeof cmd, "nerve query %s --preset pre-explosion --model %s", run, s->model);
    if ((st = answer(&c, q, &a, cmd, err))) goto done;
    /* weight-to-zero: a weight of the first layer whose sign flipped by the next saved state */
    if (in->rows[NV_DYN_WEIGHTS] >= 1 && in->rows[NV_DYN_FACTORS] > 0) {
        nv_error e = {0};
        qview *v;
        const int64_t C = in->spec.widths[0], R = in->spec.widths[1], o = nv_mlp_weight_offset(&in->spec, 0);
        int64_t pick = -1;
        if (qsrc_weights_plan(s, &e) == NV_OK && qsrc_view(s, "weights/params", &v, &e) == NV_OK) {
            const void *p0, *p1;
            int64_t later = s->nstored > 1 ? 1 : 0;
            if (qsrc_rows(s, v, 0, &p0, NULL, &e) == NV_OK && qsrc_rows(s, v, later, &p1, NULL, &e) == NV_OK) {
                for (int64_t i = 0; i < R * C && pick < 0; i++) {
                    float x = ((const float *)p0)[o + i], y = ((const float *)p1)[o + i];
                    if ((x > 0 && y < 0) || (x < 0 && y > 0)) pick = i;
                }
            }
        }
        if (pick < 0) pick = 0;
        nv_preset_args_init(&a);
        a.preset = "weight-to-zero";
        a.model = s->model;
        a.layer = in->layer_names[0];
        a.row = pick / C;
        a.col = pick % C;
        snprintf(cmd, sizeof cmd, "nerve query %s --preset weight-to-zero --model %s --layer %s --weight %lld,%lld", run,
                 s->model, in->layer_names[0], (long long)a.row, (long long)a.col);
        if ((st = answer(&c, q, &a, cmd, err))) goto done;
    }
    {
        json_t *root = json_pack("{s:s, s:i, s:s, s:s, s:O}", "format", "nerve-query-report", "format_version", 1, "run",
                                 run, "model", s->model, "tables", c.tables);
        char *text = root ? json_dumps(root, JSON_INDENT(2)) : NULL;
        snprintf(path, sizeof path, "%s/index.json", dir);
        st = text ? nv_atomic_write_text(path, text, err) : nv_fail(err, NV_ENOMEM, "out of memory");
        free(text);
        json_decref(root);
    }
    *written = c.written;
done:
    json_decref(c.tables);
    nv_query_close(q);
    return st;
}
