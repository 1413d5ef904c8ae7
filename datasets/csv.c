/* csv.c: import of user data from CSV (one sample per line, numeric features and an
 * integer label column), the simplest way to bring one's own data to nerve.
 *
 * Deliberately strict: every data row must have the same number of fields, every
 * field must be a finite number, and the first bad field is reported by line and
 * column (both 1-based, as editors show them) with what was found. No quoting, no
 * other separators: a field with quotes is reported as non-numeric, which is
 * clearer than guessing. The whole file is read into memory (data sets that fit
 * in RAM are what the rest of the pipeline handles anyway).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nerve/dataset.h"

/* Reads the whole file into a NUL-terminated buffer. */
static nv_status slurp(const char *path, char **out, size_t *len, nv_error *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return nv_fail(err, NV_EINPUT, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = nv_malloc(cap, err);
    if (!buf) {
        fclose(f);
        return NV_ENOMEM;
    }
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                fclose(f);
                return nv_fail(err, NV_ENOMEM, "%s: out of memory reading %zu bytes", path, n);
            }
            buf = nb;
            cap *= 2;
        }
        size_t k = fread(buf + n, 1, cap - 1 - n, f);
        n += k;
        if (k == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return nv_fail(err, NV_EINPUT, "%s: read error after %zu bytes", path, n);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return NV_OK;
}

/* One field: [s, e) with surrounding blanks trimmed. */
typedef struct {
    const char *s, *e;
} field;

/* Splits line [s, e) at commas into fields (at most cap; returns the count, which
 * may exceed cap: the caller then knows the row is too long). */
static int64_t split_fields(const char *s, const char *e, field *f, int64_t cap) {
    int64_t n = 0;
    const char *p = s;
    for (;;) {
        const char *q = p;
        while (q < e && *q != ',') q++;
        if (n < cap) {
            const char *a = p, *b = q;
            while (a < b && (*a == ' ' || *a == '\t')) a++;
            while (b > a && (b[-1] == ' ' || b[-1] == '\t')) b--;
            f[n].s = a;
            f[n].e = b;
        }
        n++;
        if (q >= e) break;
        p = q + 1;
    }
    return n;
}

/* Parses a field as a double. Returns 0 when it is not a number at all, 1 when it
 * is a number (possibly nan/inf, which strtod also accepts: the caller checks). */
static int parse_num(field f, double *v) {
    char tmp[512];
    size_t len = (size_t)(f.e - f.s);
    if (len == 0 || len >= sizeof tmp) return 0;
    memcpy(tmp, f.s, len);
    tmp[len] = '\0';
    char *end;
    errno = 0;
    *v = strtod(tmp, &end);
    if (end == tmp || *end != '\0') return 0;
    /* Overflow (1e999) comes back as +-HUGE_VAL: a non-finite value for the caller;
     * underflow to a denormal or zero is harmless and kept. */
    return 1;
}

static void field_text(field f, char *buf, size_t len) {
    size_t n = (size_t)(f.e - f.s);
    if (n > 40) n = 40; /* enough to recognise the field, short enough for one line */
    snprintf(buf, len, "%.*s%s", (int)n, f.s, (size_t)(f.e - f.s) > 40 ? "..." : "");
}

nv_status nv_csv_load(const char *path, int label_col, nv_dataset *out, nv_error *err) {
    nv_status st = NV_OK;
    char *text = NULL;
    size_t len = 0;
    field *fields = NULL;
    nv_real *x = NULL;
    int32_t *y = NULL;
    memset(out, 0, sizeof *out);
    if ((st = slurp(path, &text, &len, err))) return st;
    const char *nul = memchr(text, '\0', len);
    if (nul) {
        st = nv_fail(err, NV_EINPUT, "%s: byte %zu: a NUL byte: expected a text (CSV) file", path,
                     (size_t)(nul - text));
        goto done;
    }

    int64_t ncols = -1, rows = 0, cap_rows = 0, lab = -1;
    int64_t line_no = 0, header_line = 0, first_line = 0;
    int32_t maxlab = -1;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        if (!e) e = end;
        const char *next = e < end ? e + 1 : end;
        line_no++;
        const char *le = e;
        if (le > p && le[-1] == '\r') le--; /* CRLF files from spreadsheets */
        const char *q = p;
        while (q < le && (*q == ' ' || *q == '\t')) q++;
        if (q == le) { /* blank line */
            p = next;
            continue;
        }
        if (ncols < 0) {
            /* The first non-blank line fixes the column count and may be a header. */
            int64_t n = split_fields(p, le, NULL, 0);
            fields = nv_malloc((size_t)n * sizeof *fields, err);
            if (!fields) { st = NV_ENOMEM; goto done; }
            split_fields(p, le, fields, n);
            ncols = n;
            first_line = line_no;
            if (ncols < 2) {
                st = nv_fail(err, NV_EINPUT,
                             "%s:%lld: %lld column: expected at least 2 (features and a label)", path,
                             (long long)line_no, (long long)ncols);
                goto done;
            }
            lab = label_col < 0 ? ncols + label_col : label_col;
            if (lab < 0 || lab >= ncols) {
                st = nv_fail(err, NV_EINPUT, "%s:%lld: label column %d: the file has %lld columns (0 .. %lld)",
                             path, (long long)line_no, label_col, (long long)ncols, (long long)(ncols - 1));
                goto done;
            }
            int numeric = 0;
            double v;
            for (int64_t j = 0; j < ncols; j++) numeric += parse_num(fields[j], &v);
            if (numeric == 0) { /* every field a name: a header */
                header_line = line_no;
                p = next;
                continue;
            }
        }
        int64_t n = split_fields(p, le, fields, ncols);
        if (n != ncols) {
            st = nv_fail(err, NV_EINPUT, "%s:%lld: %lld fields: expected %lld like line %lld", path,
                         (long long)line_no, (long long)n, (long long)ncols, (long long)first_line);
            goto done;
        }
        if (rows == cap_rows) {
            int64_t nc = cap_rows ? 2 * cap_rows : 1024;
            nv_real *nx = realloc(x, (size_t)nc * (size_t)(ncols - 1) * sizeof *nx);
            if (nx) x = nx;
            int32_t *ny = realloc(y, (size_t)nc * sizeof *ny);
            if (ny) y = ny;
            if (!nx || !ny) {
                st = nv_fail(err, NV_ENOMEM, "%s:%lld: out of memory", path, (long long)line_no);
                goto done;
            }
            cap_rows = nc;
        }
        int64_t k = 0;
        for (int64_t j = 0; j < ncols; j++) {
            double v;
            char txt[64];
            if (!parse_num(fields[j], &v)) {
                field_text(fields[j], txt, sizeof txt);
                st = nv_fail(err, NV_EINPUT, "%s:%lld: column %lld: '%s': expected a number%s", path,
                             (long long)line_no, (long long)(j + 1), txt,
                             rows == 0 && !header_line
                                 ? " (a header line is recognised only when none of its fields is a number)"
                                 : "");
                goto done;
            }
            if (!isfinite(v) || (j != lab && !isfinite((float)v))) {
                field_text(fields[j], txt, sizeof txt);
                st = nv_fail(err, NV_EINPUT, "%s:%lld: column %lld: '%s': expected a finite number%s",
                             path, (long long)line_no, (long long)(j + 1), txt,
                             isfinite(v) ? " (beyond the float range)" : "");
                goto done;
            }
            if (j == lab) {
                if (v != floor(v) || v < 0 || v >= NV_MAX_CLASSES) {
                    field_text(fields[j], txt, sizeof txt);
                    st = nv_fail(err, NV_EINPUT,
                                 "%s:%lld: column %lld (label): '%s': expected an integer 0 .. %d", path,
                                 (long long)line_no, (long long)(j + 1), txt, NV_MAX_CLASSES - 1);
                    goto done;
                }
                y[rows] = (int32_t)v;
                if (y[rows] > maxlab) maxlab = y[rows];
            } else {
                x[rows * (ncols - 1) + k++] = (nv_real)v;
            }
        }
        rows++;
        p = next;
    }
    if (rows == 0) {
        st = nv_fail(err, NV_EINPUT, "%s: %s: expected at least one data row", path,
                     ncols < 0 ? "the file is empty" : "only a header line");
        goto done;
    }
    /* Hand the grown arrays over rather than copy them: half the peak memory. */
    out->ids = nv_malloc((size_t)rows * sizeof *out->ids, err);
    if (!out->ids) { st = NV_ENOMEM; goto done; }
    for (int64_t i = 0; i < rows; i++) out->ids[i] = i;
    out->n = rows;
    out->d = ncols - 1;
    out->x = x;
    out->y = y;
    x = NULL;
    y = NULL;
    out->nclasses = maxlab + 1;
done:
    free(text);
    free(fields);
    free(x);
    free(y);
    if (st) nv_dataset_free(out);
    return st;
}
