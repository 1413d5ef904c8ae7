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

nv_status qtable_reserve(nv_qtable *t, int64_t rows, nv_error *err) {
    if (rows <= t->cap) return NV_OK;
    /* a first reservation of a big answer (a whole layer's top samples: megabytes)
     * in huge pages, filled straight after */
    nv_qvalue *c = t->cells ? realloc(t->cells, sizeof(nv_qvalue) * (size_t)(rows * t->ncols))
                            : nv_malloc_huge(sizeof(nv_qvalue) * (size_t)(rows * t->ncols), NULL);
    if (!c) return nv_fail(err, NV_ENOMEM, "out of memory (a result of %lld rows)", (long long)rows);
    t->cells = c;
    t->cap = rows;
    return NV_OK;
}

nv_status qtable_add(nv_qtable *t, const nv_qvalue *row, nv_error *err) {
    if (t->nrows == t->cap) {
        nv_status st = qtable_reserve(t, t->cap ? 2 * t->cap : 64, err);
        if (st) return st;
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

/* Decimal digits of an integer without printf's format parsing (a whole-layer
 * answer prints a quarter of a million of them). */
static void int_text(int64_t v, char *buf, size_t len) {
    char tmp[24];
    int n = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) tmp[n++] = '-';
    if ((size_t)n >= len) {
        snprintf(buf, len, "%lld", (long long)v);
        return;
    }
    for (int i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
    buf[n] = 0;
}

/* The exact text of a finite double: the shortest of %.15g, %.16g and %.17g that
 * reads back as v. This loop is the definition; real_exact below gives the same
 * text faster. */
static void real_exact_slow(double v, char *buf, size_t len) {
    for (int p = 15; p <= 17; p++) {
        snprintf(buf, len, "%.*g", p, v);
        if (strtod(buf, NULL) == v) break;
    }
}

/* %.<p>g of the p-digit decimal number digits x 10^(x - p + 1), digits < 10^p (the
 * first digit nonzero): fixed notation for -4 <= x < p, else d.ddde+XX; trailing
 * zeros of the fraction dropped, as printf does. */
static void g_text(int neg, int64_t digits, int p, int x, char *buf, size_t len) {
    char d[24], out[64];
    for (int i = p - 1; i >= 0; i--, digits /= 10) d[i] = (char)('0' + digits % 10);
    int last = p - 1; /* the last significant digit kept */
    int n = 0;
    if (neg) out[n++] = '-';
    if (x < -4 || x >= p) {
        while (last > 0 && d[last] == '0') last--;
        out[n++] = d[0];
        if (last > 0) {
            out[n++] = '.';
            for (int i = 1; i <= last; i++) out[n++] = d[i];
        }
        const int ax = x < 0 ? -x : x;
        out[n++] = 'e';
        out[n++] = x < 0 ? '-' : '+';
        if (ax >= 100) out[n++] = (char)('0' + ax / 100);
        out[n++] = (char)('0' + ax / 10 % 10);
        out[n++] = (char)('0' + ax % 10);
        out[n] = 0;
    } else if (x >= 0) {
        while (last > x && d[last] == '0') last--;
        for (int i = 0; i <= x; i++) out[n++] = d[i];
        if (last > x) {
            out[n++] = '.';
            for (int i = x + 1; i <= last; i++) out[n++] = d[i];
        }
        out[n] = 0;
    } else {
        while (last > 0 && d[last] == '0') last--;
        out[n++] = '0';
        out[n++] = '.';
        for (int i = 0; i < -x - 1; i++) out[n++] = '0';
        for (int i = 0; i <= last; i++) out[n++] = d[i];
        out[n] = 0;
    }
    if ((size_t)n < len) memcpy(buf, out, (size_t)n + 1);
    else snprintf(buf, len, "%s", out);
}

/* The same text as real_exact_slow with one correctly rounded conversion (18
 * significant digits, %.17e) instead of up to three printfs and three strtods: a
 * whole-layer answer prints tens of thousands of doubles. From the 18 digits V18:
 * - the 15-, 16- and 17-digit roundings of v are those of V18, unless V18's tail
 *   beyond the kept digits is exactly half a unit (then v's own tail may be either
 *   side of the half: the slow path decides);
 * - a candidate D reads back as v when |D - v| is below half the gap to v's
 *   neighbour on D's side. In units of V18's last digit |D - V18| is an integer and
 *   |V18 - v| <= 1/2, so |D - v| lies within 1/2 of |D - V18|: where that settles the
 *   comparison with both half-gaps it is decided here, otherwise by strtod. */
static void real_exact(double v, char *buf, size_t len) {
    const double av = fabs(v);
    if (!isnormal(v) || av > 1e300 || av < 1e-290) { /* zero, subnormals, the ends of the range */
        real_exact_slow(v, buf, len);
        return;
    }
    char e[48];
    snprintf(e, sizeof e, "%.17e", av); /* d.ddddddddddddddddde+XX */
    int64_t d18 = e[0] - '0';
    for (int i = 2; i < 19; i++) d18 = d18 * 10 + (e[i] - '0');
    const int x = atoi(e + 20);
    const double unit = exp10((double)(x - 17));
    const double up = (nextafter(av, INFINITY) - av) / 2 / unit, down = (av - nextafter(av, 0)) / 2 / unit;
    const double gmin = fmin(up, down) * (1 - 1e-9), gmax = fmax(up, down) * (1 + 1e-9);
    int64_t scale = 1000; /* 10^(18 - p) */
    for (int p = 15; p <= 17; p++, scale /= 10) {
        const int64_t tail = d18 % scale, half = scale / 2;
        if (tail == half) break;
        int64_t dp = d18 / scale + (tail > half);
        const int64_t diff = dp * scale > d18 ? dp * scale - d18 : d18 - dp * scale;
        int carry = dp == (p == 15 ? 1000000000000000LL : p == 16 ? 10000000000000000LL : 100000000000000000LL);
        if (carry) dp /= 10;
        if (p < 17 && (double)diff - 0.5 > gmax) continue; /* surely not v */
        g_text(v < 0, dp, p, x + carry, buf, len);
        if (p == 17 || (double)diff + 0.5 < gmin || strtod(buf, NULL) == v) return;
    }
    real_exact_slow(v, buf, len);
}

const char *nv_qvalue_text(const nv_qvalue *v, int exact, char *buf, size_t len) {
    switch (v->type) {
    case NV_QNULL: snprintf(buf, len, "%s", ""); break;
    case NV_QINT: int_text(v->i, buf, len); break;
    case NV_QTEXT: snprintf(buf, len, "%s", v->s ? v->s : ""); break;
    case NV_QREAL:
        if (isnan(v->f)) snprintf(buf, len, "nan");
        else if (isinf(v->f)) snprintf(buf, len, v->f > 0 ? "inf" : "-inf");
        else if (!exact) snprintf(buf, len, "%.6g", v->f);
        else real_exact(v->f, buf, len);
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
