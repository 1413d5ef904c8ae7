/* table.c: result tables in memory (a preset's answer), values as text, CSV
 * (include/nerve/query.h). The command line formats tables for the terminal and
 * JSON itself (src/cli/cmd_query.c); the report reads the CSV files.
 */
#include "query_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

nv_status qtable_init(nv_qtable *t, const char *name, int ncols, const char *const *cols, nv_error *err) {
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->cols = nv_calloc((size_t)ncols, sizeof(char *), err);
    if (!t->cols) return NV_ENOMEM;
    t->ncols = ncols;
    for (int i = 0; i < ncols; i++)
        if (!(t->cols[i] = strdup(cols[i]))) return nv_fail(err, NV_ENOMEM, "out of memory");
    return NV_OK;
}

nv_status qtable_add(nv_qtable *t, const nv_qvalue *row, nv_error *err) {
    if (t->nrows == t->cap) {
        int64_t cap = t->cap ? 2 * t->cap : 64;
        nv_qvalue *c = realloc(t->cells, sizeof(nv_qvalue) * (size_t)(cap * t->ncols));
        if (!c) return nv_fail(err, NV_ENOMEM, "out of memory (a result of %lld rows)", (long long)t->nrows);
        t->cells = c;
        t->cap = cap;
    }
    nv_qvalue *dst = t->cells + t->nrows * t->ncols;
    for (int i = 0; i < t->ncols; i++) {
        dst[i] = row[i];
        if (row[i].type == NV_QTEXT) {
            dst[i].s = strdup(row[i].s ? row[i].s : "");
            if (!dst[i].s) {
                for (int j = 0; j < i; j++)
                    if (dst[j].type == NV_QTEXT) free((char *)dst[j].s);
                return nv_fail(err, NV_ENOMEM, "out of memory");
            }
        }
    }
    t->nrows++;
    return NV_OK;
}

static void table_free(nv_qtable *t) {
    for (int64_t i = 0; i < t->nrows * t->ncols; i++)
        if (t->cells[i].type == NV_QTEXT) free((char *)t->cells[i].s);
    free(t->cells);
    for (int i = 0; i < t->ncols; i++) free(t->cols[i]);
    free(t->cols);
    memset(t, 0, sizeof *t);
}

void nv_qresult_free(nv_qresult *r) {
    if (!r) return;
    for (int i = 0; i < r->ntables; i++) table_free(&r->table[i]);
    memset(r, 0, sizeof *r);
}

nv_status nv_qresult_emit(const nv_qresult *r, nv_qsink *sink, nv_error *err) {
    nv_status st = NV_OK;
    for (int i = 0; i < r->ntables && !st; i++) {
        const nv_qtable *t = &r->table[i];
        if ((st = sink->begin(sink, t->name, t->ncols, (const char *const *)t->cols, err))) break;
        for (int64_t j = 0; j < t->nrows && !st; j++) st = sink->row(sink, t->cells + j * t->ncols, err);
        if (!st) st = sink->end(sink, err);
    }
    return st;
}

const char *nv_qvalue_text(const nv_qvalue *v, int exact, char *buf, size_t len) {
    switch (v->type) {
    case NV_QNULL: snprintf(buf, len, "%s", ""); break;
    case NV_QINT: snprintf(buf, len, "%lld", (long long)v->i); break;
    case NV_QTEXT: snprintf(buf, len, "%s", v->s ? v->s : ""); break;
    case NV_QREAL:
        if (isnan(v->f)) snprintf(buf, len, "nan");
        else if (isinf(v->f)) snprintf(buf, len, v->f > 0 ? "inf" : "-inf");
        else if (!exact) snprintf(buf, len, "%.6g", v->f);
        else {
            for (int p = 15; p <= 17; p++) {
                snprintf(buf, len, "%.*g", p, v->f);
                if (strtod(buf, NULL) == v->f) break;
            }
        }
        break;
    }
    return buf;
}

/* A CSV field, quoted when it holds a comma, a quote or a line break. */
static void csv_field(nv_strbuf *out, const char *s) {
    if (!strpbrk(s, ",\"\n\r")) {
        nv_sb_puts(out, s);
        return;
    }
    nv_sb_put(out, "\"", 1);
    for (; *s; s++) {
        if (*s == '"') nv_sb_put(out, "\"", 1);
        nv_sb_put(out, s, 1);
    }
    nv_sb_put(out, "\"", 1);
}

void nv_qtable_csv(const nv_qtable *t, nv_strbuf *out) {
    for (int c = 0; c < t->ncols; c++) {
        if (c) nv_sb_put(out, ",", 1);
        csv_field(out, t->cols[c]);
    }
    nv_sb_put(out, "\n", 1);
    char buf[512];
    for (int64_t r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) {
            if (c) nv_sb_put(out, ",", 1);
            csv_field(out, nv_qvalue_text(&t->cells[r * t->ncols + c], 1, buf, sizeof buf));
        }
        nv_sb_put(out, "\n", 1);
    }
}
