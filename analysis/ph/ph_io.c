/* ph_io.c: the input side of `nerve ph`: Ripser 1.2.1's file formats (distance,
 * lower-distance, upper-distance, point-cloud, dipha, sparse, binary) read into the
 * engine's layouts, and Euclidean distances computed exactly as Ripser computes them.
 *
 * Ripser reads what it can and asserts (or crashes) on the rest; we read the same
 * files to the same numbers but refuse anything malformed with one message naming
 * the file, the line (or byte offset), what was found and what was expected.
 * Numbers are parsed with strtof, as C++'s `stream >> float` does, so a value
 * reaches the engine as the same float it reaches Ripser.
 */
#include "ph_internal.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const ph_format_names[] = {"distance", "lower-distance", "upper-distance",
                                              "point-cloud", "dipha", "sparse", "binary"};

const char *nv_ph_format_name(nv_ph_format f) {
    return (unsigned)f < NV_ARRAY_LEN(ph_format_names) ? ph_format_names[f] : "?";
}

int nv_ph_format_parse(const char *s) {
    for (size_t i = 0; i < NV_ARRAY_LEN(ph_format_names); i++)
        if (strcmp(s, ph_format_names[i]) == 0) return (int)i;
    return -1;
}

void nv_ph_data_free(nv_ph_data *d) {
    if (!d) return;
    free(d->points);
    free(d->lower);
    free(d->row_ptr);
    free(d->col);
    free(d->val);
    memset(d, 0, sizeof *d);
}

/* The whole input in memory: stdin cannot be rewound, and both text and binary
 * readers want to look at every byte once. */
static nv_status ph_slurp(FILE *f, const char *name, char **buf, size_t *len, nv_error *err) {
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    if (!b) return nv_fail(err, NV_ENOMEM, "out of memory reading %s", name);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            char *nb = realloc(b, cap + 1);
            if (!nb) {
                free(b);
                return nv_fail(err, NV_ENOMEM, "out of memory reading %s (%zu bytes so far)", name, n);
            }
            b = nb;
        }
        size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        free(b);
        return nv_fail(err, NV_EIO, "%s: read error", name);
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return NV_OK;
}

/* --- text: lines of numbers ---------------------------------------------------------- */

typedef struct {
    const char *name;
    const char *p, *end;
    int64_t line;
} ph_text;

/* Moves to the start of the next line holding something other than blanks or a
 * '#' comment; returns 0 at the end of the input. */
static int ph_next_line(ph_text *t) {
    while (t->p < t->end) {
        const char *q = t->p;
        while (q < t->end && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
        if (q < t->end && *q != '\n' && *q != '#') return 1;
        while (q < t->end && *q != '\n') q++;
        t->p = q < t->end ? q + 1 : q;
        t->line++;
    }
    return 0;
}

/* Parses the next number of the current line into *v: 1 found, 0 end of line
 * (consumed), -1 a malformed field (message in err). Fields are separated by
 * blanks and at most one comma, as Ripser's readers accept. */
static int ph_next_number(ph_text *t, float *v, nv_error *err) {
    const char *q = t->p;
    while (q < t->end && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
    if (q < t->end && *q == ',') {
        q++;
        while (q < t->end && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
    }
    if (q >= t->end || *q == '\n' || *q == '#') {
        while (q < t->end && *q != '\n') q++;
        t->p = q < t->end ? q + 1 : q;
        t->line++;
        return 0;
    }
    const char *e = q;
    while (e < t->end && !isspace((unsigned char)*e) && *e != ',') e++;
    char tok[64];
    size_t len = (size_t)(e - q);
    if (len >= sizeof tok) len = sizeof tok - 1;
    memcpy(tok, q, len);
    tok[len] = '\0';
    char *stop;
    errno = 0;
    float x = strtof(tok, &stop);
    if (stop == tok || *stop != '\0' || (size_t)(e - q) >= sizeof tok) {
        nv_fail(err, NV_EINPUT, "%s:%lld: found '%s': expected a number", t->name, (long long)t->line, tok);
        return -1;
    }
    if (isnan(x) || isinf(x)) {
        nv_fail(err, NV_EINPUT, "%s:%lld: found '%s': expected a finite number", t->name,
                (long long)t->line, tok);
        return -1;
    }
    t->p = e;
    *v = x;
    return 1;
}

typedef struct {
    float *a;
    int64_t len, cap;
} ph_floats;

static int ph_floats_push(ph_floats *f, float x) {
    if (f->len == f->cap) {
        int64_t cap = f->cap ? 2 * f->cap : 4096;
        float *a = realloc(f->a, (size_t)cap * sizeof *a);
        if (!a) return -1;
        f->a = a;
        f->cap = cap;
    }
    f->a[f->len++] = x;
    return 0;
}

/* Reads lines of numbers: values into *vals, the count per line into *rows (one
 * entry per non-empty line), the line numbers into *lines. */
static nv_status ph_read_rows(ph_text *t, ph_floats *vals, int64_t **rows, int64_t **lines,
                              int64_t *nrows, nv_error *err) {
    int64_t cap = 1024, n = 0;
    int64_t *r = malloc((size_t)cap * sizeof *r), *ln = malloc((size_t)cap * sizeof *ln);
    if (!r || !ln) goto oom;
    while (ph_next_line(t)) {
        if (n == cap) {
            cap *= 2;
            int64_t *r2 = realloc(r, (size_t)cap * sizeof *r);
            if (!r2) goto oom;
            r = r2;
            int64_t *l2 = realloc(ln, (size_t)cap * sizeof *ln);
            if (!l2) goto oom;
            ln = l2;
        }
        ln[n] = t->line;
        int64_t count = 0;
        float x;
        int got;
        while ((got = ph_next_number(t, &x, err)) == 1) {
            if (ph_floats_push(vals, x)) goto oom;
            count++;
        }
        if (got < 0) {
            free(r);
            free(ln);
            return err ? err->status : NV_EINPUT;
        }
        r[n++] = count;
    }
    *rows = r;
    *lines = ln;
    *nrows = n;
    return NV_OK;
oom:
    free(r);
    free(ln);
    return nv_fail(err, NV_ENOMEM, "out of memory reading %s", t->name);
}

/* n with n(n-1)/2 == m, or -1. */
static int64_t ph_triangle_side(int64_t m) {
    int64_t n = (int64_t)((1.0 + sqrt(1.0 + 8.0 * (double)m)) / 2.0);
    for (int64_t k = n > 2 ? n - 2 : 0; k <= n + 2; k++)
        if (k * (k - 1) / 2 == m) return k;
    return -1;
}

static nv_status ph_check_values(const char *name, const float *lower, int64_t n, nv_error *err) {
    for (int64_t i = 1; i < n; i++)
        for (int64_t j = 0; j < i; j++) {
            float x = lower[i * (i - 1) / 2 + j];
            if (x < 0)
                return nv_fail(err, NV_EINPUT, "%s: distance (%lld, %lld) is %g: expected a number >= 0",
                               name, (long long)i, (long long)j, x);
            if (!isfinite(x))
                return nv_fail(err, NV_EINPUT, "%s: distance (%lld, %lld) is %g: expected a finite number",
                               name, (long long)i, (long long)j, x);
        }
    return NV_OK;
}

static nv_status ph_need_points(const char *name, int64_t n, const char *what, nv_error *err) {
    if (n == 0) return nv_fail(err, NV_EINPUT, "%s: found no %s: expected at least 2 points (is the file empty?)", name, what);
    if (n < 2) return nv_fail(err, NV_EINPUT, "%s: found 1 point: expected at least 2 points", name);
    return NV_OK;
}

static nv_status ph_read_point_cloud(ph_text *t, nv_ph_data *d, nv_error *err) {
    ph_floats v = {0};
    int64_t *rows = NULL, *lines = NULL, n = 0;
    nv_status st = ph_read_rows(t, &v, &rows, &lines, &n, err);
    if (st) goto done;
    if ((st = ph_need_points(t->name, n, "points", err))) goto done;
    if (rows[0] == 0) { /* a line of separators only, such as "," */
        st = nv_fail(err, NV_EINPUT, "%s:%lld: found no coordinates: expected a point (numbers separated by "
                     "blanks or commas)", t->name, (long long)lines[0]);
        goto done;
    }
    for (int64_t i = 1; i < n; i++)
        if (rows[i] != rows[0]) {
            st = nv_fail(err, NV_EINPUT,
                         "%s:%lld: found %lld coordinates: expected %lld like the first point (line %lld)",
                         t->name, (long long)lines[i], (long long)rows[i], (long long)rows[0],
                         (long long)lines[0]);
            goto done;
        }
    d->n = n;
    d->dim = rows[0];
    d->points = v.a;
    v.a = NULL;
done:
    free(v.a);
    free(rows);
    free(lines);
    return st;
}

/* `distance`: a full symmetric matrix, or its lower triangle with the diagonal. */
static nv_status ph_read_full(ph_text *t, nv_ph_data *d, nv_error *err) {
    ph_floats v = {0};
    int64_t *rows = NULL, *lines = NULL, n = 0;
    nv_status st = ph_read_rows(t, &v, &rows, &lines, &n, err);
    if (st) goto done;
    if ((st = ph_need_points(t->name, n, "rows", err))) goto done;
    int full = rows[0] == n;
    for (int64_t i = 0; i < n; i++) {
        int64_t want = full ? n : i + 1;
        if (rows[i] != want) {
            st = nv_fail(err, NV_EINPUT,
                         "%s:%lld: row %lld has %lld entries: expected %lld (a %s %lld x %lld distance "
                         "matrix; use --format lower-distance for a triangle without the diagonal)",
                         t->name, (long long)lines[i], (long long)i, (long long)rows[i], (long long)want,
                         full ? "square" : "lower-triangular", (long long)n, (long long)n);
            goto done;
        }
    }
    d->lower = malloc((size_t)(n * (n - 1) / 2 + 1) * sizeof *d->lower);
    if (!d->lower) {
        st = nv_fail(err, NV_ENOMEM, "out of memory reading %s", t->name);
        goto done;
    }
    int64_t off = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *row = v.a + off;
        for (int64_t j = 0; j < i; j++) d->lower[i * (i - 1) / 2 + j] = row[j];
        if (row[i] != 0.0f) {
            st = nv_fail(err, NV_EINPUT, "%s:%lld: diagonal entry (%lld, %lld) is %g: expected 0",
                         t->name, (long long)lines[i], (long long)i, (long long)i, row[i]);
            goto done;
        }
        off += rows[i];
    }
    if (full)
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = i + 1; j < n; j++) {
                float up = v.a[i * n + j], lo = v.a[j * n + i];
                if (up != lo) {
                    st = nv_fail(err, NV_EINPUT,
                                 "%s:%lld: entry (%lld, %lld) is %.9g but (%lld, %lld) is %.9g: expected a "
                                 "symmetric distance matrix",
                                 t->name, (long long)lines[i], (long long)i, (long long)j, up,
                                 (long long)j, (long long)i, lo);
                    goto done;
                }
            }
    d->n = n;
    st = ph_check_values(t->name, d->lower, n, err);
done:
    free(v.a);
    free(rows);
    free(lines);
    return st;
}

/* lower-distance / upper-distance: a flat list of n(n-1)/2 numbers. */
static nv_status ph_read_triangle(ph_text *t, int upper, nv_ph_data *d, nv_error *err) {
    ph_floats v = {0};
    int64_t *rows = NULL, *lines = NULL, nr = 0;
    nv_status st = ph_read_rows(t, &v, &rows, &lines, &nr, err);
    if (st) goto done;
    if (v.len == 0) {
        st = nv_fail(err, NV_EINPUT, "%s: found no distances: expected at least 2 points (is the file empty?)", t->name);
        goto done;
    }
    int64_t n = ph_triangle_side(v.len);
    if (n < 2) {
        st = nv_fail(err, NV_EINPUT,
                     "%s: found %lld distances: expected n(n-1)/2 for some n (a %s triangle without "
                     "the diagonal)",
                     t->name, (long long)v.len, upper ? "upper" : "lower");
        goto done;
    }
    if (!upper) {
        d->lower = v.a;
        v.a = NULL;
    } else {
        d->lower = malloc((size_t)v.len * sizeof *d->lower);
        if (!d->lower) {
            st = nv_fail(err, NV_ENOMEM, "out of memory reading %s", t->name);
            goto done;
        }
        int64_t k = 0; /* upper order: (0,1), (0,2), ..., (1,2), ... */
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = i + 1; j < n; j++) d->lower[j * (j - 1) / 2 + i] = v.a[k++];
    }
    d->n = n;
    st = ph_check_values(t->name, d->lower, n, err);
done:
    free(v.a);
    free(rows);
    free(lines);
    return st;
}

/* sparse: lines "i j d". */
typedef struct {
    int64_t i, j;
    float d;
} ph_triplet;

static int ph_triplet_cmp(const void *a, const void *b) {
    const ph_triplet *x = a, *y = b;
    if (x->i != y->i) return x->i < y->i ? -1 : 1;
    return (x->j > y->j) - (x->j < y->j);
}

/* Vertices a sparse file may imply without naming them in an edge: the vertex
 * count is the largest index + 1 (as in Ripser), so one line "1000000000 0 1"
 * would otherwise make the reader allocate for a billion points before the
 * engine's memory check. Isolated vertices beyond those the edges name, up to
 * this many, are accepted. */
#define PH_SPARSE_MAX_IMPLIED ((int64_t)1 << 20)

static nv_status ph_read_sparse(ph_text *t, nv_ph_data *d, nv_error *err) {
    ph_triplet *tr = NULL;
    int64_t len = 0, cap = 0, n = 0, entries = 0, lines = 0, n_line = 0;
    nv_status st = NV_OK;
    while (ph_next_line(t)) {
        float f[4];
        int k = 0, got;
        int64_t line = t->line;
        while ((got = ph_next_number(t, &f[k < 3 ? k : 3], err)) == 1) k++;
        if (got < 0) { st = err ? err->status : NV_EINPUT; goto done; }
        if (k != 3) {
            st = nv_fail(err, NV_EINPUT, "%s:%lld: found %d fields: expected 3 (i j distance)", t->name,
                         (long long)line, k);
            goto done;
        }
        if (f[0] < 0 || f[1] < 0 || f[0] != floorf(f[0]) || f[1] != floorf(f[1]) || f[0] > 1e9f || f[1] > 1e9f) {
            st = nv_fail(err, NV_EINPUT, "%s:%lld: found vertices %g and %g: expected integers >= 0",
                         t->name, (long long)line, f[0], f[1]);
            goto done;
        }
        if (f[2] < 0) {
            st = nv_fail(err, NV_EINPUT, "%s:%lld: distance is %g: expected a number >= 0", t->name,
                         (long long)line, f[2]);
            goto done;
        }
        int64_t i = (int64_t)f[0], j = (int64_t)f[1];
        lines++;
        if (NV_MAX(i, j) + 1 > n) {
            n = NV_MAX(i, j) + 1;
            n_line = line;
        }
        if (i == j) continue; /* Ripser ignores the diagonal */
        entries++;
        if (len + 2 > cap) {
            cap = cap ? 2 * cap : 4096;
            ph_triplet *a = realloc(tr, (size_t)cap * sizeof *a);
            if (!a) { st = nv_fail(err, NV_ENOMEM, "out of memory reading %s", t->name); goto done; }
            tr = a;
        }
        tr[len++] = (ph_triplet){i, j, f[2]};
        tr[len++] = (ph_triplet){j, i, f[2]};
    }
    if ((st = ph_need_points(t->name, n, "edges", err))) goto done;
    if (n > 2 * lines + PH_SPARSE_MAX_IMPLIED) {
        st = nv_fail(err, NV_EINPUT,
                     "%s:%lld: vertex %lld: the file's %lld lines name at most %lld vertices, and an "
                     "index this large would add %lld isolated ones: expected at most %lld beyond "
                     "those named (is the index right?)",
                     t->name, (long long)n_line, (long long)(n - 1), (long long)lines,
                     (long long)(2 * lines), (long long)(n - 2 * lines), (long long)PH_SPARSE_MAX_IMPLIED);
        goto done;
    }
    if (len > 0) qsort(tr, (size_t)len, sizeof *tr, ph_triplet_cmp);
    for (int64_t k = 1; k < len; k++)
        if (tr[k].i == tr[k - 1].i && tr[k].j == tr[k - 1].j) {
            st = nv_fail(err, NV_EINPUT, "%s: the edge (%lld, %lld) is given twice: expected each pair once",
                         t->name, (long long)NV_MIN(tr[k].i, tr[k].j), (long long)NV_MAX(tr[k].i, tr[k].j));
            goto done;
        }
    d->row_ptr = calloc((size_t)n + 1, sizeof *d->row_ptr);
    d->col = malloc((size_t)(len ? len : 1) * sizeof *d->col);
    d->val = malloc((size_t)(len ? len : 1) * sizeof *d->val);
    if (!d->row_ptr || !d->col || !d->val) { st = nv_fail(err, NV_ENOMEM, "out of memory reading %s", t->name); goto done; }
    for (int64_t k = 0; k < len; k++) {
        d->row_ptr[tr[k].i + 1]++;
        d->col[k] = tr[k].j;
        d->val[k] = tr[k].d;
    }
    for (int64_t i = 0; i < n; i++) d->row_ptr[i + 1] += d->row_ptr[i];
    d->n = n;
    d->entries = entries;
done:
    free(tr);
    return st;
}

static nv_status ph_read_binary(const char *name, const char *buf, size_t len, nv_ph_data *d, nv_error *err) {
    if (len == 0) return nv_fail(err, NV_EINPUT, "%s: found an empty file: expected float32 distances", name);
    if (len % 4)
        return nv_fail(err, NV_EINPUT, "%s: found %zu bytes: expected a multiple of 4 (float32 values)", name, len);
    int64_t m = (int64_t)(len / 4), n = ph_triangle_side(m);
    if (n < 2)
        return nv_fail(err, NV_EINPUT, "%s: found %lld values: expected n(n-1)/2 for some n >= 2 (a lower "
                       "triangle without the diagonal)", name, (long long)m);
    d->lower = malloc((size_t)m * sizeof *d->lower);
    if (!d->lower) return nv_fail(err, NV_ENOMEM, "out of memory reading %s", name);
    for (int64_t k = 0; k < m; k++) { /* little-endian, like the files Ripser reads on x86 */
        const unsigned char *b = (const unsigned char *)buf + 4 * k;
        uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        float x;
        memcpy(&x, &u, 4);
        if (isnan(x) || isinf(x) || x < 0)
            return nv_fail(err, NV_EINPUT, "%s: offset %lld: found %g: expected a finite number >= 0", name,
                           (long long)(4 * k), x);
        d->lower[k] = x;
    }
    d->n = n;
    return NV_OK;
}

static int64_t ph_le64(const char *p) {
    uint64_t u = 0;
    for (int i = 7; i >= 0; i--) u = u << 8 | (unsigned char)p[i];
    return (int64_t)u;
}

static nv_status ph_read_dipha(const char *name, const char *buf, size_t len, nv_ph_data *d, nv_error *err) {
    if (len < 24) return nv_fail(err, NV_EINPUT, "%s: found %zu bytes: expected a DIPHA header of 24 bytes", name, len);
    int64_t magic = ph_le64(buf), type = ph_le64(buf + 8), n = ph_le64(buf + 16);
    if (magic != 8067171840LL)
        return nv_fail(err, NV_EINPUT, "%s: offset 0: found magic %lld: expected 8067171840 (a DIPHA file)", name,
                       (long long)magic);
    if (type != 7)
        return nv_fail(err, NV_EINPUT, "%s: offset 8: found file type %lld: expected 7 (a distance matrix)", name,
                       (long long)type);
    if (n < 2 || n > 3037000499LL / 4)
        return nv_fail(err, NV_EINPUT, "%s: offset 16: found %lld points: expected at least 2", name, (long long)n);
    if ((size_t)(24 + 8 * n * n) != len)
        return nv_fail(err, NV_EINPUT, "%s: found %zu bytes: expected %lld for %lld x %lld doubles", name, len,
                       (long long)(24 + 8 * n * n), (long long)n, (long long)n);
    d->lower = malloc((size_t)(n * (n - 1) / 2) * sizeof *d->lower);
    if (!d->lower) return nv_fail(err, NV_ENOMEM, "out of memory reading %s", name);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            int64_t u = ph_le64(buf + 24 + 8 * (i * n + j));
            double x;
            memcpy(&x, &u, 8);
            /* The engine works in float (as Ripser does): a double beyond float's
             * range would reach it as inf. */
            if (isnan(x) || isinf(x) || x < 0 || x > FLT_MAX)
                return nv_fail(err, NV_EINPUT, "%s: offset %lld: entry (%lld, %lld) is %g: expected a finite number >= 0%s",
                               name, (long long)(24 + 8 * (i * n + j)), (long long)i, (long long)j, x,
                               x > FLT_MAX && isfinite(x) ? " within float's range" : "");
            if (j < i) d->lower[i * (i - 1) / 2 + j] = (float)x;
        }
    d->n = n;
    return NV_OK;
}

nv_status nv_ph_read(FILE *f, const char *name, nv_ph_format fmt, nv_ph_data *out, nv_error *err) {
    memset(out, 0, sizeof *out);
    out->format = fmt;
    char *buf = NULL;
    size_t len = 0;
    nv_status st = ph_slurp(f, name, &buf, &len, err);
    if (st) return st;
    ph_text t = {name, buf, buf + len, 1};
    if (fmt != NV_PH_FMT_DIPHA && fmt != NV_PH_FMT_BINARY && memchr(buf, '\0', len)) {
        st = nv_fail(err, NV_EINPUT, "%s: found binary data: expected a text file for --format %s", name,
                     nv_ph_format_name(fmt));
        goto done;
    }
    switch (fmt) {
    case NV_PH_FMT_DISTANCE: st = ph_read_full(&t, out, err); break;
    case NV_PH_FMT_LOWER: st = ph_read_triangle(&t, 0, out, err); break;
    case NV_PH_FMT_UPPER: st = ph_read_triangle(&t, 1, out, err); break;
    case NV_PH_FMT_POINT_CLOUD: st = ph_read_point_cloud(&t, out, err); break;
    case NV_PH_FMT_SPARSE: st = ph_read_sparse(&t, out, err); break;
    case NV_PH_FMT_BINARY: st = ph_read_binary(name, buf, len, out, err); break;
    case NV_PH_FMT_DIPHA: st = ph_read_dipha(name, buf, len, out, err); break;
    default: st = nv_fail(err, NV_EINPUT, "unknown input format %d", (int)fmt);
    }
done:
    free(buf);
    if (st) {
        nv_ph_format keep = out->format;
        nv_ph_data_free(out);
        out->format = keep;
    }
    return st;
}

nv_status nv_ph_euclidean(const float *points, int64_t n, int64_t dim, float **lower, nv_error *err) {
    float *out = malloc((size_t)(n * (n - 1) / 2 + 1) * sizeof *out);
    if (!out) return nv_fail(err, NV_ENOMEM, "out of memory for %lld x %lld distances", (long long)n, (long long)n);
    /* Ripser 1.2.1: std::inner_product with a float initial value and float
     * operations, then std::sqrt on the float. Kept in float on purpose. */
    for (int64_t i = 1; i < n; i++) {
        const float *a = points + i * dim;
        for (int64_t j = 0; j < i; j++) {
            const float *b = points + j * dim;
            float s = 0.0f;
            for (int64_t k = 0; k < dim; k++) {
                float diff = a[k] - b[k];
                s = s + diff * diff;
            }
            out[i * (i - 1) / 2 + j] = sqrtf(s);
        }
    }
    *lower = out;
    return NV_OK;
}
