/* report.c: the run's HTML report (report.h).
 *
 * The page is assembled from files the pipeline already wrote (summary.json,
 * metrics/<model>.csv, analysis/figures/...), plus one figure drawn here (the training
 * curves), so `nerve report` is cheap and can be re-run whenever another stage
 * finishes. Figures are embedded: SVG inline (its ids prefixed per figure,
 * because cairo names glyphs "glyph0-1" in every file and inline SVGs share one id
 * space), PNG as base64 data URIs. Each figure carries data attributes (its
 * source file, its kind) that the tests use to match what is drawn against the
 * HDF5 data.
 *
 * The page opens with a few sentences generated from the run's numbers (what the
 * pair is, how far apart the nets end, where the difference shows), folds away
 * figures whose panels are all flat, and stays under a size (5 MB by default): a
 * figure too large to embed as it is gets a preview linked to its file under
 * analysis/figures/, and the gallery of persistence diagrams embeds what the rest of
 * the budget allows and links the others (the feature section embeds only a few
 * units per layer drawn large and links the full grids). The page is built twice:
 * once without the gallery to measure it, then with the budget that leaves.
 */
#include "nerve/report.h"

#include <errno.h>
#include <glob.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nerve/config.h"
#include "nerve/dynamics_figures.h"
#include "nerve/plot.h"
#include "nerve/snapshot.h"
#include "nerve/strbuf.h"
#include "nerve/fsutil.h"

/* HTML-escapes text. */
static void put_text(nv_strbuf *b, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<': nv_sb_puts(b, "&lt;"); break;
        case '>': nv_sb_puts(b, "&gt;"); break;
        case '&': nv_sb_puts(b, "&amp;"); break;
        case '"': nv_sb_puts(b, "&quot;"); break;
        default: nv_sb_put(b, s, 1);
        }
    }
}

static void put_base64(nv_strbuf *b, const unsigned char *d, size_t n) {
    static const char T[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char out[4];
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16;
        if (i + 1 < n) v |= (uint32_t)d[i + 1] << 8;
        if (i + 2 < n) v |= d[i + 2];
        out[0] = T[(v >> 18) & 63];
        out[1] = T[(v >> 12) & 63];
        out[2] = i + 1 < n ? T[(v >> 6) & 63] : '=';
        out[3] = i + 2 < n ? T[v & 63] : '=';
        nv_sb_put(b, out, 4);
    }
}

/* Inline SVG with every id and reference prefixed by `pfx`, and the XML
 * declaration dropped (not allowed inside HTML). */
static void put_svg(nv_strbuf *b, const char *svg, const char *pfx) {
    const char *p = strstr(svg, "<svg");
    if (!p) return;
    static const char *keys[] = {"id=\"", "href=\"#", "url(#"};
    while (*p) {
        const char *next = NULL;
        int which = -1;
        for (int k = 0; k < 3; k++) {
            const char *q = strstr(p, keys[k]);
            if (q && (!next || q < next)) {
                next = q;
                which = k;
            }
        }
        if (!next) {
            nv_sb_puts(b, p);
            break;
        }
        size_t kl = strlen(keys[which]);
        nv_sb_put(b, p, (size_t)(next - p) + kl);
        nv_sb_puts(b, pfx);
        p = next + kl;
    }
}

static int exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* --- the training-curve figure ----------------------------------------------------- */
/* Reads metrics/<model>.csv (header, then epoch,train_loss,train_acc,test_loss,test_acc). */
static int read_metrics(const char *path, double **rows, int *n) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[512];
    int cap = 64, k = 0;
    double *r = malloc(sizeof(double) * 5 * (size_t)cap);
    if (!r || !fgets(line, sizeof line, f)) {
        free(r);
        fclose(f);
        return 0;
    }
    while (fgets(line, sizeof line, f)) {
        if (k == cap) {
            cap *= 2;
            double *nr = realloc(r, sizeof(double) * 5 * (size_t)cap);
            if (!nr) break;
            r = nr;
        }
        double *o = r + 5 * k;
        if (sscanf(line, "%lf,%lf,%lf,%lf,%lf", o, o + 1, o + 2, o + 3, o + 4) == 5) k++;
    }
    fclose(f);
    *rows = r;
    *n = k;
    return k > 0;
}

static nv_status training_figure(const char *run, nv_error *err) {
    static const char *models[] = {"expressive", "bottleneck", "linear"};
    nv_plot_figure *fig = NULL;
    nv_status st = nv_plot_figure_new(1, 2, 760, 300, &fig, err);
    if (st) return st;
    nv_plot_figure_set_title(fig, "Training: loss and accuracy per epoch (solid: train, dashed: test)");
    nv_plot_panel *pl = nv_plot_figure_panel(fig, 0, 0), *pa = nv_plot_figure_panel(fig, 0, 1);
    nv_plot_panel_set_xlabel(pl, "epoch");
    nv_plot_panel_set_ylabel(pl, "cross-entropy loss");
    nv_plot_panel_set_xlabel(pa, "epoch");
    nv_plot_panel_set_ylabel(pa, "accuracy");
    int drawn = 0;
    for (int m = 0; m < 3 && !st; m++) {
        char path[NV_PATH_LEN + 64];
        snprintf(path, sizeof path, "%s/metrics/%s.csv", run, models[m]);
        double *r = NULL;
        int n = 0;
        if (!read_metrics(path, &r, &n)) continue;
        double *x = malloc(sizeof(double) * (size_t)n * 5);
        if (!x) {
            free(r);
            st = nv_fail(err, NV_ENOMEM, "out of memory");
            break;
        }
        double *col[5];
        for (int c = 0; c < 5; c++) {
            col[c] = x + (size_t)c * (size_t)n;
            for (int i = 0; i < n; i++) col[c][i] = r[5 * i + c];
        }
        nv_plot_style train = {.has_color = 1, .color = nv_plot_palette(m), .marker = NV_MARKER_NONE};
        nv_plot_style test = train;
        test.dashed = 1;
        char lt[64], le[64];
        snprintf(lt, sizeof lt, "%s", models[m]);
        le[0] = '\0';
        st = nv_plot_line(pl, lt, col[0], col[1], n, &train, err);
        if (!st) st = nv_plot_line(pl, le, col[0], col[3], n, &test, err);
        if (!st) st = nv_plot_line(pa, lt, col[0], col[2], n, &train, err);
        if (!st) st = nv_plot_line(pa, le, col[0], col[4], n, &test, err);
        free(x);
        free(r);
        drawn++;
    }
    if (!st && drawn) {
        char dir[NV_PATH_LEN + 64], p[NV_PATH_LEN + 96];
        snprintf(dir, sizeof dir, "%s/analysis/figures", run);
        st = nv_mkdirs(dir, err);
        snprintf(p, sizeof p, "%s/training.svg", dir);
        if (!st) st = nv_plot_save(fig, p, err);
        snprintf(p, sizeof p, "%s/training.png", dir);
        if (!st) st = nv_plot_save(fig, p, err);
    }
    nv_plot_figure_free(fig);
    return st;
}

/* --- figures ------------------------------------------------------------------------- */
typedef struct {
    int count;            /* figures embedded so far, for unique id prefixes */
    size_t per_figure;    /* the largest figure embedded as it is (encoded bytes) */
    size_t gallery_left;  /* bytes the galleries may still embed */
    int galleries_left;   /* galleries still to come, this one included: each may use its
                             share of gallery_left */
    size_t turn_left;     /* what the current gallery may still embed */
    int measuring;        /* first pass: the galleries embed nothing */
    int linked, previews; /* figures linked (not embedded), figures shown as a preview */
    size_t max_size;      /* the page's limit, for the messages */
} page_state;

#define REPORT_MAX_SIZE ((size_t)5000000)
#define PER_FIGURE ((size_t)700000)

static size_t file_size(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 ? (size_t)sb.st_size : 0;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* The figure's path relative to the run (data-source) and to the page (href: the
 * page is RUN/analysis/report.html). */
static const char *rel_to_run(const char *run, const char *path) {
    return strncmp(path, run, strlen(run)) == 0 ? path + strlen(run) + 1 : path;
}

static void put_href(nv_strbuf *b, const char *rel) {
    put_text(b, strncmp(rel, "analysis/", 9) == 0 ? rel + 9 : rel);
}

static void put_size(nv_strbuf *b, size_t n) {
    if (n >= 1000000) nv_sb_printf(b, "%.1f MB", (double)n / 1e6);
    else nv_sb_printf(b, "%.0f kB", (double)n / 1e3);
}

/* A figure too large to embed: a link to its file. */
static void link_figure(nv_strbuf *b, page_state *ps, const char *run, const char *path, const char *kind) {
    const char *rel = rel_to_run(run, path);
    nv_sb_printf(b, "<figure class=\"fig linked\" data-kind=\"%s\" data-linked=\"yes\" data-source=\"", kind);
    put_text(b, rel);
    nv_sb_puts(b, "\"><p class=\"linked\"><a href=\"");
    put_href(b, rel);
    nv_sb_puts(b, "\">");
    put_text(b, rel);
    nv_sb_puts(b, "</a> (");
    put_size(b, file_size(path));
    nv_sb_puts(b, "): linked, not embedded, to keep this page under ");
    put_size(b, ps->max_size);
    nv_sb_puts(b, ".</p></figure>\n");
    ps->linked++;
}

/* A PNG too large to embed: a smaller copy, linked to the file. Returns 0 when no
 * preview fits (the caller links the figure instead). */
static int preview_figure(nv_strbuf *b, page_state *ps, const char *run, const char *png, const char *shown,
                          const char *kind, const char *caption) {
    static const int widths[] = {1000, 800, 640, 500, 400};
    for (size_t i = 0; i < NV_ARRAY_LEN(widths); i++) {
        unsigned char *img = NULL;
        size_t n = 0;
        int w = 0, h = 0;
        nv_error e = {0};
        if (nv_plot_png_preview(png, widths[i], &img, &n, &w, &h, &e) != NV_OK) return 0;
        if ((n + 2) / 3 * 4 > ps->per_figure) {
            free(img);
            continue; /* smaller; none fits: the caller links the figure */
        }
        const char *rel = rel_to_run(run, shown);
        nv_sb_printf(b, "<figure class=\"fig\" data-kind=\"%s\" data-preview=\"yes\" data-source=\"", kind);
        put_text(b, rel);
        nv_sb_puts(b, "\">\n<a href=\"");
        put_href(b, rel);
        nv_sb_printf(b, "\"><img width=\"%d\" alt=\"", w);
        put_text(b, rel);
        nv_sb_puts(b, "\" src=\"data:image/png;base64,");
        put_base64(b, img, n);
        nv_sb_puts(b, "\"></a>\n<figcaption>");
        if (caption) {
            put_text(b, caption);
            nv_sb_puts(b, " ");
        }
        nv_sb_printf(b, "A preview, %d px wide; the full figure is <a href=\"", w);
        put_href(b, rel);
        nv_sb_puts(b, "\">");
        put_text(b, rel);
        nv_sb_puts(b, "</a> (");
        put_size(b, file_size(shown));
        nv_sb_puts(b, ").</figcaption>\n</figure>\n");
        free(img);
        ps->previews++;
        return 1;
    }
    return 0;
}

/* Embeds one figure file: SVG inline, PNG as a data URI. A file larger than
 * ps->per_figure is replaced by its PNG twin when that fits, else by a preview of
 * the PNG linked to the file, else by a link. In a gallery, a figure that does not
 * fit what is left of the galleries' budget is linked instead (returns 0). */
static int embed(nv_strbuf *b, page_state *ps, const char *run, const char *path, const char *kind,
                 const char *caption, int gallery) {
    char twin[NV_PATH_LEN + 160];
    const char *use = path;
    int svg = ends_with(path, ".svg");
    size_t cost = svg ? file_size(path) : (file_size(path) + 2) / 3 * 4;
    if (svg && cost > ps->per_figure) {
        snprintf(twin, sizeof twin, "%.*s.png", (int)(strlen(path) - 4), path);
        if (exists(twin)) {
            use = twin;
            svg = 0;
            cost = (file_size(twin) + 2) / 3 * 4;
        }
    }
    if (gallery) {
        if (ps->measuring || cost > ps->per_figure || cost > ps->turn_left) return 0;
        ps->turn_left -= cost;
        ps->gallery_left -= cost;
    } else if (cost > ps->per_figure) {
        /* the preview links to the PNG (the SVG of a dense scatter is larger still) */
        if (!svg && preview_figure(b, ps, run, use, use, kind, caption)) return 1;
        link_figure(b, ps, run, path, kind);
        return 1;
    }
    path = use;
    size_t n = 0;
    char *data = nv_read_file(path, &n);
    if (!data) return 0;
    const char *rel = rel_to_run(run, path);
    nv_sb_printf(b, "<figure class=\"fig\" data-kind=\"%s\" data-source=\"", kind);
    put_text(b, rel);
    nv_sb_puts(b, "\">\n");
    size_t pl = strlen(path);
    if (pl > 4 && !strcmp(path + pl - 4, ".svg")) {
        char pfx[32];
        snprintf(pfx, sizeof pfx, "f%d-", ps->count);
        put_svg(b, data, pfx);
    } else {
        nv_sb_puts(b, "<img alt=\"");
        put_text(b, rel);
        nv_sb_puts(b, "\" src=\"data:image/png;base64,");
        put_base64(b, (const unsigned char *)data, n);
        nv_sb_puts(b, "\">");
    }
    ps->count++;
    free(data);
    if (caption) {
        nv_sb_puts(b, "\n<figcaption>");
        put_text(b, caption);
        nv_sb_puts(b, "</figcaption>");
    }
    nv_sb_puts(b, "\n</figure>\n");
    return 1;
}

/* Embeds the files matching pattern (under the run), preferring the SVG of a
 * PNG/SVG pair; returns how many. A gallery embeds what its budget allows and
 * lists the other files as links after the figures. */
static int embed_glob(nv_strbuf *b, page_state *ps, const char *run, const char *pattern, const char *kind,
                      int max, int gallery) {
    char pat[NV_PATH_LEN + 128];
    snprintf(pat, sizeof pat, "%s/%s", run, pattern);
    if (gallery) {
        ps->turn_left = ps->gallery_left / (size_t)NV_MAX(ps->galleries_left, 1);
        ps->galleries_left--;
    }
    glob_t g;
    if (glob(pat, 0, NULL, &g) != 0) return 0;
    int k = 0, nlinked = 0;
    nv_strbuf links = {0};
    for (size_t i = 0; i < g.gl_pathc && (max <= 0 || k < max); i++) {
        const char *p = g.gl_pathv[i];
        size_t l = strlen(p);
        if (l > 4 && !strcmp(p + l - 4, ".png")) {
            char svg[NV_PATH_LEN + 160];
            snprintf(svg, sizeof svg, "%.*s.svg", (int)(l - 4), p);
            if (exists(svg)) continue; /* its SVG twin is (or will be) embedded instead */
        }
        if (!embed(b, ps, run, p, kind, NULL, gallery)) {
            const char *rel = rel_to_run(run, p);
            nv_sb_printf(&links, "%s<a class=\"linked-fig\" data-kind=\"%s\" data-linked=\"yes\" data-source=\"",
                         nlinked ? ", " : "", kind);
            put_text(&links, rel);
            nv_sb_puts(&links, "\" href=\"");
            put_href(&links, rel);
            nv_sb_puts(&links, "\">");
            put_text(&links, strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel);
            nv_sb_puts(&links, "</a>");
            nlinked++;
            ps->linked++;
        }
        k++;
    }
    if (nlinked) {
        nv_sb_printf(b, "<p class=\"linked\" data-linked-count=\"%d\">%s%d figure%s linked, not embedded, to keep "
                     "this page under ", nlinked, nlinked < k ? "Further, " : "", nlinked, nlinked == 1 ? " is" : "s are");
        put_size(b, ps->max_size);
        nv_sb_puts(b, " (files under analysis/figures/): ");
        nv_sb_puts(b, nv_sb_str(&links));
        nv_sb_puts(b, "</p>\n");
    }
    nv_sb_free(&links);
    globfree(&g);
    return k;
}

/* A CSV file as an HTML table (small files only), with a data-source attribute. */
static void embed_csv_table(nv_strbuf *b, const char *run, const char *rel, const char *kind, int max_rows) {
    char path[NV_PATH_LEN + 128];
    snprintf(path, sizeof path, "%s/%s", run, rel);
    FILE *f = fopen(path, "r");
    if (!f) return;
    nv_sb_printf(b, "<details><summary>%s (table)</summary>\n<table class=\"data\" data-kind=\"%s\" data-source=\"", rel, kind);
    put_text(b, rel);
    nv_sb_puts(b, "\">\n");
    char line[4096];
    int row = 0;
    while (fgets(line, sizeof line, f) && (max_rows <= 0 || row <= max_rows)) {
        line[strcspn(line, "\r\n")] = '\0';
        nv_sb_puts(b, "<tr>");
        char *save = NULL;
        for (char *c = strtok_r(line, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
            nv_sb_puts(b, row == 0 ? "<th>" : "<td>");
            put_text(b, c);
            nv_sb_puts(b, row == 0 ? "</th>" : "</td>");
        }
        nv_sb_puts(b, "</tr>\n");
        row++;
    }
    fclose(f);
    nv_sb_puts(b, "</table></details>\n");
}

static void missing(nv_strbuf *b, const char *what, const char *cmd) {
    nv_sb_puts(b, "<p class=\"missing\">No ");
    put_text(b, what);
    nv_sb_puts(b, " yet: run <code>");
    put_text(b, cmd);
    nv_sb_puts(b, "</code>, then <code>nerve report</code> again.</p>\n");
}

static void summary_table(nv_strbuf *b, const char *run) {
    char path[NV_PATH_LEN + 32];
    snprintf(path, sizeof path, "%s/summary.json", run);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) {
        missing(b, "finished training", "nerve train CONFIG --resume");
        return;
    }
    json_t *models = json_object_get(j, "models");
    nv_sb_puts(b, "<table class=\"summary\" data-kind=\"summary\"><tr><th>model</th><th>widths</th>"
                "<th>train accuracy</th><th>test accuracy</th><th>train loss</th><th>test loss</th></tr>\n");
    const char *name;
    json_t *m;
    json_object_foreach(models, name, m) {
        nv_sb_puts(b, "<tr><td>");
        put_text(b, name);
        nv_sb_puts(b, "</td><td>");
        json_t *w = json_object_get(m, "widths");
        for (size_t i = 0; i < json_array_size(w); i++)
            nv_sb_printf(b, "%s%lld", i ? "-" : "", (long long)json_integer_value(json_array_get(w, i)));
        nv_sb_printf(b, "</td><td>%.2f%%</td><td>%.2f%%</td><td>%.4f</td><td>%.4f</td></tr>\n",
                     100 * json_number_value(json_object_get(m, "train_acc")),
                     100 * json_number_value(json_object_get(m, "test_acc")),
                     json_number_value(json_object_get(m, "train_loss")),
                     json_number_value(json_object_get(m, "test_loss")));
    }
    nv_sb_puts(b, "</table>\n");
    json_decref(j);
}


/* --- the opening sentences ------------------------------------------------------------ */
/* A small CSV file (header, then rows of comma-separated fields). */
typedef struct {
    int ncols, nrows;
    char **hdr;     /* (ncols) */
    char ***rows;   /* (nrows, ncols) */
} csv_table;

static void csv_free(csv_table *t) {
    for (int r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) free(t->rows[r][c]);
        free(t->rows[r]);
    }
    for (int c = 0; c < t->ncols; c++) free(t->hdr[c]);
    free(t->rows);
    free(t->hdr);
    memset(t, 0, sizeof *t);
}

static int split_fields(char *line, char **out, int cap) {
    int n = 0;
    line[strcspn(line, "\r\n")] = '\0';
    for (char *p = line, *q; p && n < cap; p = q) {
        q = strchr(p, ',');
        if (q) *q++ = '\0';
        out[n++] = p;
    }
    return n;
}

static int csv_read(const char *run, const char *rel, csv_table *t) {
    memset(t, 0, sizeof *t);
    char path[NV_PATH_LEN + 128];
    snprintf(path, sizeof path, "%s/%s", run, rel);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[4096];
    char *fields[64];
    if (!fgets(line, sizeof line, f)) {
        fclose(f);
        return 0;
    }
    t->ncols = split_fields(line, fields, 64);
    t->hdr = calloc((size_t)t->ncols, sizeof *t->hdr);
    for (int c = 0; t->hdr && c < t->ncols; c++) t->hdr[c] = strdup(fields[c]);
    int cap = 0;
    while (t->hdr && fgets(line, sizeof line, f)) {
        if (split_fields(line, fields, 64) != t->ncols) continue;
        if (t->nrows == cap) {
            cap = cap ? 2 * cap : 256;
            char ***nr = realloc(t->rows, (size_t)cap * sizeof *nr);
            if (!nr) break;
            t->rows = nr;
        }
        char **row = calloc((size_t)t->ncols, sizeof *row);
        if (!row) break;
        for (int c = 0; c < t->ncols; c++) row[c] = strdup(fields[c]);
        t->rows[t->nrows++] = row;
    }
    fclose(f);
    return t->nrows > 0;
}

static int csv_col(const csv_table *t, const char *name) {
    for (int c = 0; c < t->ncols; c++)
        if (!strcmp(t->hdr[c], name)) return c;
    return -1;
}

/* The value of column `want` in the first row whose columns (k[i] = v[i]) match. */
static int csv_find(const csv_table *t, int n, const char *const *k, const char *const *v, const char *want,
                    double *out) {
    int w = csv_col(t, want), cols[8];
    if (w < 0 || n > 8) return 0;
    for (int i = 0; i < n; i++)
        if ((cols[i] = csv_col(t, k[i])) < 0) return 0;
    for (int r = 0; r < t->nrows; r++) {
        int ok = 1;
        for (int i = 0; i < n && ok; i++) ok = !strcmp(t->rows[r][cols[i]], v[i]);
        if (ok) {
            *out = strtod(t->rows[r][w], NULL);
            return 1;
        }
    }
    return 0;
}

/* The largest value of an integer column (the last epoch of a table). */
static long long csv_max(const csv_table *t, const char *col) {
    int c = csv_col(t, col);
    long long m = -1;
    for (int r = 0; c >= 0 && r < t->nrows; r++) m = NV_MAX(m, strtoll(t->rows[r][c], NULL, 10));
    return m;
}

static void put_widths(nv_strbuf *b, json_t *m) {
    json_t *w = json_object_get(m, "widths");
    for (size_t i = 0; i < json_array_size(w); i++)
        nv_sb_printf(b, "%s%lld", i ? "-" : "", (long long)json_integer_value(json_array_get(w, i)));
}

/* What the Betti chart would show, from analysis/ph/summary.csv: the number of
 * panels (class x dimension x net) and of flat ones (the same Betti number at every
 * layer and epoch), whether the two nets' panels are identical, and a sentence that
 * says so. Returns the number of panels (0: no summary). */
typedef struct {
    int panels, flat, identical;
    char scale[32];
} betti_view;

static int betti_flat(const char *run, betti_view *v, nv_strbuf *sentence) {
    memset(v, 0, sizeof *v);
    csv_table t;
    if (!csv_read(run, "analysis/ph/summary.csv", &t)) return 0;
    int cm = csv_col(&t, "model"), ce = csv_col(&t, "epoch"), cl = csv_col(&t, "layer"), cs = csv_col(&t, "split"),
        cc = csv_col(&t, "class"), cd = csv_col(&t, "dim"), cb = csv_col(&t, "betti_at_scale"),
        csc = csv_col(&t, "scale");
    if (cm < 0 || ce < 0 || cl < 0 || cs < 0 || cc < 0 || cd < 0 || cb < 0) {
        csv_free(&t);
        return 0;
    }
    const char *split = NULL;
    for (int r = 0; r < t.nrows && !split; r++)
        if (!strcmp(t.rows[r][cs], "all")) split = "all";
    if (!split) split = t.rows[0][cs];
    if (csc >= 0) snprintf(v->scale, sizeof v->scale, "%s", t.rows[0][csc]);
    /* panels of the chart: the expressive and bottlenecked nets, each class and all */
    static const char *const nets[2] = {"expressive", "bottleneck"};
    char groups[16][32];
    int ng = 0, maxdim = 0;
    for (int r = 0; r < t.nrows; r++) {
        maxdim = NV_MAX(maxdim, atoi(t.rows[r][cd]));
        int seen = 0;
        for (int g = 0; g < ng; g++) seen |= !strcmp(groups[g], t.rows[r][cc]);
        if (!seen && ng < 16) snprintf(groups[ng++], 32, "%s", t.rows[r][cc]);
    }
    /* per (group, dim): the constant value of each net, or -1 (not flat), -2 (absent) */
    int identical_all = 1;
    nv_strbuf consts = {0};
    for (int dim = 0; dim <= maxdim; dim++) {
        int same_value = 1;
        long long first = LLONG_MIN;
        nv_strbuf per = {0};
        for (int g = 0; g < ng; g++) {
            long long cval[2] = {-2, -2};
            int identical = 1;
            for (int m = 0; m < 2; m++) {
                for (int r = 0; r < t.nrows; r++) {
                    const char *const *row = (const char *const *)t.rows[r];
                    if (strcmp(row[cm], nets[m]) || strcmp(row[cs], split) || strcmp(row[cc], groups[g]) ||
                        atoi(row[cd]) != dim)
                        continue;
                    long long val = strtoll(row[cb], NULL, 10);
                    if (cval[m] == -2) cval[m] = val;
                    else if (cval[m] != val) cval[m] = -1;
                    /* the other net at the same epoch and layer */
                    if (m == 0) {
                        int found = 0;
                        for (int q = 0; q < t.nrows && !found; q++) {
                            const char *const *o = (const char *const *)t.rows[q];
                            if (strcmp(o[cm], nets[1]) || strcmp(o[cs], split) || strcmp(o[cc], groups[g]) ||
                                atoi(o[cd]) != dim || strcmp(o[ce], row[ce]) || strcmp(o[cl], row[cl]))
                                continue;
                            found = 1;
                            identical &= strtoll(o[cb], NULL, 10) == val;
                        }
                        identical &= found;
                    }
                }
                if (cval[m] != -2) {
                    v->panels++;
                    v->flat += cval[m] >= 0;
                }
            }
            identical_all &= identical;
            if (cval[0] >= 0 && cval[0] == cval[1]) {
                if (first == LLONG_MIN) first = cval[0];
                same_value &= cval[0] == first;
                nv_sb_printf(&per, "%s%lld (%s%s)", per.len ? ", " : "", cval[0],
                             strcmp(groups[g], "all") ? "class " : "all classes", strcmp(groups[g], "all") ? groups[g] : "");
            } else {
                same_value = 0;
                first = LLONG_MAX; /* not one value for this dimension */
            }
        }
        if (first != LLONG_MAX && first != LLONG_MIN)
            nv_sb_printf(&consts, "%s\xce\xb2%d = %s", consts.len ? " and " : "", dim,
                         same_value ? "" : nv_sb_str(&per));
        if (first != LLONG_MAX && first != LLONG_MIN && same_value) nv_sb_printf(&consts, "%lld", first);
        nv_sb_free(&per);
    }
    v->identical = identical_all;
    if (v->panels && v->flat == v->panels && identical_all) {
        nv_sb_printf(sentence,
                     "At the calibrated scale (%s) every Betti number is the same at every layer and epoch, "
                     "in both nets and for each class and all classes together: %s. The chart's %d panels "
                     "would be %d flat, identical lines, so it is folded away here; the persistence diagrams "
                     "below show the bars themselves.",
                     v->scale[0] ? v->scale : "see calibration.json", consts.len ? nv_sb_str(&consts) : "constant",
                     v->panels, v->panels);
    } else if (v->flat) {
        nv_sb_printf(sentence,
                     "%d of the chart's %d panels are flat (the same Betti number at every layer and epoch)%s.",
                     v->flat, v->panels,
                     identical_all ? ", and the two nets' panels are identical" : "");
    }
    nv_sb_free(&consts);
    csv_free(&t);
    return v->panels;
}

/* Two or three sentences from the run's numbers: the pair, how far apart the nets
 * end, and where (which figures, which layers) the difference shows. */
static void story(nv_strbuf *b, const char *run) {
    char path[NV_PATH_LEN + 64];
    snprintf(path, sizeof path, "%s/summary.json", run);
    json_t *j = json_load_file(path, 0, NULL);
    json_t *models = j ? json_object_get(j, "models") : NULL;
    json_t *me = json_object_get(models, "expressive"), *mb = json_object_get(models, "bottleneck"),
           *ml = json_object_get(models, "linear");
    if (!me || !mb) {
        if (j) json_decref(j);
        return;
    }
    nv_experiment ex;
    nv_error e = {0};
    snprintf(path, sizeof path, "%s/config.cfg", run);
    int have_cfg = nv_config_load(path, NULL, 0, &ex, &e) == NV_OK;
    double ae = 100 * json_number_value(json_object_get(me, "test_acc")),
           ab = 100 * json_number_value(json_object_get(mb, "test_acc")),
           al = ml ? 100 * json_number_value(json_object_get(ml, "test_acc")) : NAN;
    long long ntr = json_integer_value(json_object_get(j, "n_train")), nte = json_integer_value(json_object_get(j, "n_test"));
    nv_sb_puts(b, "<p class=\"story\" data-kind=\"story\">");
    /* 1. the pair */
    nv_sb_printf(b, "This run trains two networks on the same data (%s, %lld training and %lld test points), in "
                 "the same order and from the same seed: an <b>expressive</b> net (",
                 have_cfg ? nv_data_source_name(ex.data.source) : "the run's data", ntr, nte);
    put_widths(b, me);
    nv_sb_puts(b, ") and a <b>bottlenecked</b> one (");
    put_widths(b, mb);
    if (have_cfg)
        nv_sb_printf(b, ") whose hidden layer %d has only %lld units", ex.bottleneck_layer, (long long)ex.bottleneck_width);
    else
        nv_sb_puts(b, ")");
    if (ml) {
        nv_sb_puts(b, ", next to a linear baseline (");
        put_widths(b, ml);
        nv_sb_puts(b, ")");
    }
    nv_sb_puts(b, ". ");
    /* 2. how far apart they end */
    long long epochs = json_integer_value(json_object_get(j, "epochs"));
    nv_sb_printf(b, "After %lld epochs the expressive net classifies <b data-value=\"test_acc_expressive\">%.1f%%</b> "
                 "of the test set correctly and the bottlenecked one <b data-value=\"test_acc_bottleneck\">%.1f%%</b>: "
                 "<b data-value=\"gap\">%.1f points</b> apart",
                 epochs, ae, ab, fabs(ae - ab));
    if (ml) {
        if (fabs(ab - al) < fabs(ae - ab) / 2)
            nv_sb_printf(b, ", the bottlenecked net close to the linear baseline's %.1f%%", al);
        else
            nv_sb_printf(b, "; the linear baseline reaches %.1f%%", al);
    }
    nv_sb_puts(b, ". ");
    /* 3. where the difference shows: the first layer where the probes part, with
     * what the other analyses say there */
    csv_table probes, id, cka;
    int hp = csv_read(run, "analysis/stats/probes.csv", &probes), hi = csv_read(run, "analysis/stats/intrinsic_dimension.csv", &id),
        hc = csv_read(run, "analysis/stats/cka_models.csv", &cka);
    int told = 0;
    if (hp) {
        char last[32];
        snprintf(last, sizeof last, "%lld", csv_max(&probes, "epoch"));
        /* the layers in network order: the expressive net's rows of the last epoch */
        int cm = csv_col(&probes, "model"), ce = csv_col(&probes, "epoch"), cl = csv_col(&probes, "layer");
        const char *where = NULL;
        double pe = 0, pb = 0, best = -1;
        const char *best_layer = NULL;
        double best_pe = 0, best_pb = 0;
        for (int r = 0; cm >= 0 && ce >= 0 && cl >= 0 && r < probes.nrows; r++) {
            const char *const *row = (const char *const *)probes.rows[r];
            if (strcmp(row[cm], "expressive") || strcmp(row[ce], last) || !strcmp(row[cl], "input")) continue;
            const char *k[3] = {"model", "epoch", "layer"}, *va[3] = {"expressive", last, row[cl]},
                       *vb[3] = {"bottleneck", last, row[cl]};
            double x, y;
            if (!csv_find(&probes, 3, k, va, "test_acc", &x) || !csv_find(&probes, 3, k, vb, "test_acc", &y)) continue;
            if (!where && x - y >= 0.05) where = row[cl], pe = x, pb = y;
            if (x - y > best) best = x - y, best_layer = row[cl], best_pe = x, best_pb = y;
        }
        if (!where && best_layer && best > 0.02) where = best_layer, pe = best_pe, pb = best_pb;
        if (where) {
            nv_sb_printf(b, "The difference shows from <b data-value=\"layer\">%s</b> on: a linear probe reads the class "
                         "from %.1f%% of the expressive net's %s but from %.1f%% of the bottlenecked net's "
                         "(<a href=\"#geometry\">intrinsic dimension and linear probes</a>)",
                         where, 100 * pe, where, 100 * pb);
            const char *k[4] = {"model", "epoch", "layer", "split"};
            const char *ve[4] = {"expressive", last, where, "all"}, *vb2[4] = {"bottleneck", last, where, "all"};
            double ie, ib;
            if (hi && csv_find(&id, 4, k, ve, "twonn", &ie) && csv_find(&id, 4, k, vb2, "twonn", &ib))
                nv_sb_printf(b, ", where the intrinsic dimension (TwoNN) is %.1f against %.1f", ie, ib);
            const char *kc[3] = {"epoch", "layer_a", "layer_b"}, *vc[3] = {last, where, where};
            double c;
            if (hc && csv_find(&cka, 3, kc, vc, "cka", &c))
                nv_sb_printf(b, ", and the two nets' %s representations have a linear CKA of %.2f "
                             "(<a href=\"#cka\">representation similarity</a>)", where, c);
            nv_sb_puts(b, ". ");
            told = 1;
        } else {
            nv_sb_puts(b, "The linear probes read the class equally well from both nets' layers "
                       "(<a href=\"#geometry\">intrinsic dimension and linear probes</a>). ");
            told = 1;
        }
    }
    betti_view bv;
    nv_strbuf ignore = {0};
    if (betti_flat(run, &bv, &ignore)) {
        if (bv.flat == bv.panels && bv.identical)
            nv_sb_puts(b, "The Betti numbers at the calibrated scale do not tell the nets apart: they are the same at "
                       "every layer and epoch (<a href=\"#topology\">topology</a>).");
        else if (bv.identical)
            nv_sb_puts(b, "The Betti numbers are the same in both nets (<a href=\"#topology\">topology</a>).");
        else
            nv_sb_puts(b, "The Betti numbers of the two nets differ (<a href=\"#topology\">topology</a>).");
        told = 1;
    }
    nv_sb_free(&ignore);
    if (!told)
        nv_sb_puts(b, "Where the difference shows needs the analyses: <code>nerve analyze RUN</code>, then "
                   "<code>nerve report</code> again.");
    nv_sb_puts(b, "</p>\n");
    if (hp) csv_free(&probes);
    if (hi) csv_free(&id);
    if (hc) csv_free(&cka);
    json_decref(j);
}

/* --- the feature section ------------------------------------------------------------
 * What `nerve features` drew (analysis/figures/features/, docs/features.md): per model,
 * at its last snapshot epoch, each layer's few units drawn large (feature image, top
 * inputs, their deconvnet / guided / gradient projections) embedded; the same units
 * across epochs embedded in a closed <details>; every unit of every layer and epoch
 * (the full grids, megabytes for image data) only linked, so the report stays small. */

/* One figure file name of the feature directory: <model>_e<EEEE>_<layer>[_focus].png. */
typedef struct {
    char model[64], layer[32];
    long epoch;
    int focus;
} feature_fig;

static int parse_feature_fig(const char *name, feature_fig *f) {
    const char *e = strstr(name, "_e");
    while (e && !(e[2] >= '0' && e[2] <= '9')) e = strstr(e + 1, "_e");
    if (!e || (size_t)(e - name) >= sizeof f->model) return 0;
    memset(f, 0, sizeof *f);
    memcpy(f->model, name, (size_t)(e - name));
    char *end = NULL;
    f->epoch = strtol(e + 2, &end, 10);
    if (!end || *end != '_') return 0;
    const char *layer = end + 1;
    size_t n = strlen(layer);
    if (n < 5 || strcmp(layer + n - 4, ".png") != 0) return 0;
    n -= 4;
    if (n > 6 && strncmp(layer + n - 6, "_focus", 6) == 0) {
        f->focus = 1;
        n -= 6;
    }
    if (n == 0 || n >= sizeof f->layer) return 0;
    memcpy(f->layer, layer, n);
    return 1;
}

/* Network order: hidden1, hidden2, ..., logits. */
static int layer_rank(const char *layer) {
    if (strcmp(layer, "logits") == 0) return 1 << 20;
    if (strncmp(layer, "hidden", 6) == 0) return atoi(layer + 6);
    return (1 << 20) - 1;
}

/* The pair's order (expressive, bottleneck, linear), then other models by name. */
static int model_rank(const char *model) {
    static const char *order[] = {"expressive", "bottleneck", "linear"};
    for (int i = 0; i < 3; i++)
        if (strcmp(model, order[i]) == 0) return i;
    return 3;
}

static int cmp_feature_fig(const void *a, const void *b) {
    const feature_fig *x = a, *y = b;
    int rx = model_rank(x->model), ry = model_rank(y->model);
    if (rx != ry) return rx < ry ? -1 : 1;
    int c = strcmp(x->model, y->model);
    if (c) return c;
    if (x->epoch != y->epoch) return x->epoch < y->epoch ? -1 : 1;
    int lx = layer_rank(x->layer), ly = layer_rank(y->layer);
    if (lx != ly) return lx < ly ? -1 : 1;
    return x->focus - y->focus;
}

static void features_section(nv_strbuf *b, page_state *ps, const char *run) {
    nv_sb_puts(b, "<h2 id=\"features\">Feature images and projections</h2>\n");
    char pat[NV_PATH_LEN + 96];
    snprintf(pat, sizeof pat, "%s/analysis/figures/features/*_e[0-9]*.png", run);
    glob_t g;
    feature_fig *figs = NULL;
    size_t n = 0;
    if (glob(pat, 0, NULL, &g) == 0) {
        figs = calloc(g.gl_pathc, sizeof *figs);
        for (size_t i = 0; figs && i < g.gl_pathc; i++) {
            const char *base = strrchr(g.gl_pathv[i], '/');
            if (parse_feature_fig(base ? base + 1 : g.gl_pathv[i], &figs[n])) n++;
        }
        globfree(&g);
    }
    if (n == 0) {
        free(figs);
        missing(b, "feature images", "nerve features RUN");
        return;
    }
    qsort(figs, n, sizeof *figs, cmp_feature_fig);
    nv_sb_puts(b, "<p>For each unit: its <b>feature image</b> (regularised gradient ascent from "
                  "the data mean: what the unit wants; framed red where the ascent ended below "
                  "the unit's best training input, still the ascent's own result), its <b>top "
                  "training inputs</b>, and their <b>projections</b> back to input space by the "
                  "deconvnet rule (Zeiler &amp; Fergus), guided backpropagation and the plain "
                  "gradient (blue negative, white zero, red positive). A few units are drawn "
                  "large; every unit of every layer and epoch is in the linked grids "
                  "(docs/features.md).</p>\n");
    char path[NV_PATH_LEN + 256], rel[512];
    for (size_t i = 0; i < n;) {
        size_t j = i;
        long last = figs[i].epoch;
        while (j < n && strcmp(figs[j].model, figs[i].model) == 0) {
            if (figs[j].epoch > last) last = figs[j].epoch;
            j++;
        }
        nv_sb_puts(b, "<h3>");
        put_text(b, figs[i].model);
        nv_sb_printf(b, ", epoch %ld</h3>\n", last);
        for (size_t k = i; k < j; k++) {
            if (!figs[k].focus || figs[k].epoch != last) continue;
            snprintf(path, sizeof path, "%s/analysis/figures/features/%s_e%04ld_%s_focus.png", run,
                     figs[k].model, figs[k].epoch, figs[k].layer);
            embed(b, ps, run, path, "features", NULL, 0); /* the figure carries its title */
        }
        /* The same units across epochs (small: one image or glyph per epoch). */
        char hpat[NV_PATH_LEN + 160];
        snprintf(hpat, sizeof hpat, "analysis/figures/features/%s_*_unit*_history.png", figs[i].model);
        nv_sb_puts(b, "<details><summary>");
        put_text(b, figs[i].model);
        nv_sb_puts(b, ": these units across epochs</summary>\n");
        embed_glob(b, ps, run, hpat, "features-history", 0, 0);
        nv_sb_puts(b, "</details>\n<details><summary>");
        put_text(b, figs[i].model);
        nv_sb_puts(b, ": every unit, every epoch (grids, opened on demand)</summary>\n<ul>\n");
        for (size_t k = i; k < j;) {
            nv_sb_printf(b, "<li>epoch %ld:", figs[k].epoch);
            long e = figs[k].epoch;
            for (; k < j && figs[k].epoch == e; k++) {
                if (figs[k].focus) continue;
                snprintf(rel, sizeof rel, "figures/features/%s_e%04ld_%s.png", figs[k].model,
                         figs[k].epoch, figs[k].layer);
                nv_sb_puts(b, " <a data-kind=\"features-grid\" href=\"");
                put_text(b, rel);
                nv_sb_puts(b, "\">");
                put_text(b, figs[k].layer);
                nv_sb_puts(b, "</a>");
            }
            nv_sb_puts(b, "</li>\n");
        }
        nv_sb_puts(b, "</ul></details>\n");
        i = j;
    }
    free(figs);
}

/* --- the labelled kNN filtration (docs/topology.md) ----------------------------------- */
/* The report's first section: how the classes sit against each other, the chart of
 * `nerve ph RUN` (analysis/figures/labelled_chart.svg) and sentences generated from
 * analysis/ph/labelled.csv: the last hidden layer of each net at the last and the
 * first epoch, the topological reading (mixing) with its two geometric baselines
 * beside it (the cross-class share of the kNN edges at k = k_max and the
 * Friedman-Rafsky share of the spanning tree), so a reader can see that the
 * topology and the geometry agree. Nothing when the run has no labelled reading. */
typedef struct {
    char model[64];
    long long epoch;
    int hidden;       /* N of hiddenN; -1 for other layers */
    double mixing, cross, mst;
} lab_pt;

enum { LAB_MODELS = 2 };

static void labelled_section(nv_strbuf *b, page_state *ps, const char *run) {
    char path[NV_PATH_LEN + 64];
    snprintf(path, sizeof path, "%s/analysis/ph/labelled.csv", run);
    FILE *f = fopen(path, "r");
    if (!f) return;
    int cap = 4096, n = 0;
    lab_pt *pts = malloc((size_t)cap * sizeof *pts);
    if (!pts) {
        fclose(f);
        return;
    }
    double input[3] = {NAN, NAN, NAN}; /* the data's own reading: the input layer */
    char line[1024];
    if (!fgets(line, sizeof line, f)) line[0] = 0;
    /* model,epoch,layer,split,n_points,classes,k_max,mixing,labelled_persistence,
     * unlabelled_persistence,cross_share,mst_cross (ph_run_labelled.c) */
    while (fgets(line, sizeof line, f)) {
        char *save = NULL, *c[12];
        int k = 0;
        for (char *t = strtok_r(line, ",\n", &save); t && k < 12; t = strtok_r(NULL, ",\n", &save)) c[k++] = t;
        if (k < 12) continue;
        if (n == cap) { /* one row per model, epoch and layer: grow for long runs */
            lab_pt *more = realloc(pts, (size_t)cap * 2 * sizeof *pts);
            if (!more) break;
            pts = more;
            cap *= 2;
        }
        lab_pt *p = &pts[n++];
        snprintf(p->model, sizeof p->model, "%s", c[0]);
        p->epoch = atoll(c[1]);
        p->hidden = strncmp(c[2], "hidden", 6) == 0 ? atoi(c[2] + 6) : -1;
        p->mixing = strtod(c[7], NULL);
        p->cross = strtod(c[10], NULL);
        p->mst = strtod(c[11], NULL);
        if (!strcmp(c[2], "input")) {
            input[0] = p->mixing;
            input[1] = p->cross;
            input[2] = p->mst;
        }
    }
    fclose(f);
    nv_sb_puts(b, "<h2 id=\"classes\">How the classes sit against each other</h2>\n");
    /* the last hidden layer of each net, at the first and the last epoch */
    static const char *models[LAB_MODELS] = {"expressive", "bottleneck"};
    const lab_pt *last[LAB_MODELS] = {0}, *first[LAB_MODELS] = {0};
    long long e_last = -1, e_first = -1;
    int deepest[LAB_MODELS] = {-1, -1};
    for (int i = 0; i < n; i++) {
        if (pts[i].epoch > e_last) e_last = pts[i].epoch;
        if (e_first < 0 || pts[i].epoch < e_first) e_first = pts[i].epoch;
        for (int m = 0; m < LAB_MODELS; m++)
            if (!strcmp(pts[i].model, models[m]) && pts[i].hidden > deepest[m]) deepest[m] = pts[i].hidden;
    }
    for (int i = 0; i < n; i++)
        for (int m = 0; m < LAB_MODELS; m++)
            if (!strcmp(pts[i].model, models[m]) && pts[i].hidden == deepest[m] && deepest[m] > 0) {
                if (pts[i].epoch == e_last) last[m] = &pts[i];
                if (pts[i].epoch == e_first) first[m] = &pts[i];
            }
    nv_sb_puts(b, "<p class=\"lead\" data-kind=\"labelled-summary\">");
    if (last[0] && last[1]) {
        /* "apart" when the bottlenecked net's reading is at least twice the
         * expressive one's: the default run gives ~15x, seeds differ by ~10% */
        int apart = last[1]->mixing > 2.0 * last[0]->mixing;
        nv_sb_printf(b,
                     "At epoch %lld the last hidden layer of the expressive net (hidden%d) reads a mixing of "
                     "<b>%.3f</b> and the bottlenecked net's (hidden%d) <b>%.3f</b>",
                     e_last, deepest[0], last[0]->mixing, deepest[1], last[1]->mixing);
        if (first[0] && first[1] && e_first != e_last)
            nv_sb_printf(b, " (epoch %lld: %.3f and %.3f)", e_first, first[0]->mixing, first[1]->mixing);
        nv_sb_printf(b, ": %s. ",
                     apart ? "the expressive net has pulled the classes into regions of their own, while in "
                             "the bottlenecked net they stay interleaved"
                           : "the two nets arrange the classes alike");
        nv_sb_printf(b,
                     "Beside it, the geometry: of the kNN edges, %.1f%% and %.1f%% join the two classes; of the "
                     "minimum spanning tree's, %.1f%% and %.1f%% (Friedman&ndash;Rafsky). ",
                     100.0 * last[0]->cross, 100.0 * last[1]->cross, 100.0 * last[0]->mst, 100.0 * last[1]->mst);
    }
    nv_sb_puts(b, "Mixing is the H0 persistence the class labels add to the kNN filtration of a layer "
                  "(k = 1, 2, ...; neighbour ranks only, so a rescaled layer reads the same): 0 when every "
                  "class's points connect among themselves as fast as the points do, higher the more the "
                  "classes interleave");
    if (isfinite(input[0]))
        nv_sb_printf(b, " (the input layer reads %.3f; %.1f%% cross-class kNN edges, %.1f%% of the tree)", input[0],
                     100.0 * input[1], 100.0 * input[2]);
    nv_sb_puts(b, "; docs/topology.md explains it.</p>\n");
    free(pts);
    if (!embed_glob(b, ps, run, "analysis/figures/labelled_chart.svg", "labelled-chart", 0, 0))
        embed_glob(b, ps, run, "analysis/figures/labelled_chart.png", "labelled-chart", 0, 0);
}

static const char *CSS =
    "body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;max-width:1200px;margin:2em auto;"
    "padding:0 1em;color:#222}h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;"
    "margin-top:2em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
    "padding:.25em .6em;text-align:right}th{background:#f3f3f3}figure{margin:1em 0;overflow-x:auto}"
    "figure svg,figure img{max-width:100%;height:auto}.missing{color:#a33}pre{background:#f6f6f6;"
    "padding:1em;overflow-x:auto}.meta{color:#555}.story{font-size:1.08em;line-height:1.5;background:#f4f8fb;"
    "border-left:4px solid #0072b2;padding:.6em 1em}.flat{color:#444;font-style:italic}.linked{color:#555}";

/* Marks each image once it has decoded, so a headless browser's DOM dump can show
 * that every figure loaded. */
static const char *SCRIPT =
    "<script>window.addEventListener('load',function(){var n=0,bad=0;"
    "document.querySelectorAll('figure img').forEach(function(i){var ok=i.complete&&i.naturalWidth>0;"
    "i.setAttribute('data-loaded',ok?'yes':'no');if(!ok)bad++;n++;});"
    "document.querySelectorAll('figure svg').forEach(function(s){var d=s.closest('details'),c=d&&!d.open;"
    "if(c)d.open=true;var r=s.getBoundingClientRect();if(c)d.open=false;"
    "var ok=r.width>0&&r.height>0;s.setAttribute('data-loaded',ok?'yes':'no');if(!ok)bad++;n++;});"
    "document.body.setAttribute('data-figures',n);document.body.setAttribute('data-figures-bad',bad);});"
    "</script>\n";

/* The topology section's chart: embedded, or folded away with a sentence when every
 * panel is flat. */
static int betti_chart(nv_strbuf *b, page_state *ps, const char *run) {
    betti_view v;
    nv_strbuf sentence = {0};
    betti_flat(run, &v, &sentence);
    char path[NV_PATH_LEN + 64];
    snprintf(path, sizeof path, "%s/analysis/figures/betti_chart.svg", run);
    int shown = 0;
    if (!exists(path)) {
        nv_sb_free(&sentence);
        return 0;
    }
    if (v.panels && v.flat == v.panels && v.identical) {
        nv_sb_printf(b, "<p class=\"flat\" data-kind=\"collapsed\" data-panels=\"%d\">", v.panels);
        put_text(b, nv_sb_str(&sentence));
        nv_sb_puts(b, "</p>\n<details><summary>the chart anyway</summary>\n");
        shown = embed(b, ps, run, path, "betti-chart", NULL, 0);
        nv_sb_puts(b, "</details>\n");
    } else {
        if (sentence.len) {
            nv_sb_printf(b, "<p class=\"flat\" data-kind=\"flat-note\" data-panels=\"%d\">", v.panels);
            put_text(b, nv_sb_str(&sentence));
            nv_sb_puts(b, "</p>\n");
        }
        shown = embed(b, ps, run, path, "betti-chart", NULL, 0);
    }
    nv_sb_free(&sentence);
    return shown;
}

static void queries_section(nv_strbuf *b, const char *run, int have_dyn);

/* The training-dynamics figures (nv_dynamics_figures drew them), or how to record. */
static void dynamics_section(nv_strbuf *b, page_state *ps, const char *run, int have_dyn) {
    nv_sb_puts(b, "<h2 id=\"dynamics\">Training dynamics</h2>\n");
    if (have_dyn) {
        nv_sb_puts(b, "<p>From the per-step record in <code>dynamics/</code> (docs/dynamics.md): every step's "
                      "gradients and updates per layer, every unit's influence, dead units, and the exact per-sample "
                      "gradient norms from the stored factors.</p>\n");
        static const char *const stems[] = {"dynamics_norms", "dynamics_influence", "dynamics_dead", "dynamics_samples"};
        for (int i = 0; i < 4; i++) {
            /* the heat map as PNG: its SVG has a rectangle per cell (megabytes) */
            char p2[NV_PATH_LEN + 96];
            snprintf(p2, sizeof p2, "%s/analysis/figures/%s.%s", run, stems[i], i == 1 ? "png" : "svg");
            if (exists(p2)) embed(b, ps, run, p2, stems[i], NULL, 0);
        }
    } else {
        nv_sb_puts(b, "<p class=\"missing\">No training-dynamics record: set <code>dynamics.enabled = true</code> "
                      "in the experiment config (see experiments/spheres_dynamics.cfg and docs/dynamics.md) and train "
                      "again.</p>\n");
    }
}

static void build_page(nv_strbuf *b, page_state *ps, const char *run, const char *cfg, json_t *rj,
                       int max_diagrams, int have_dyn) {
    const char *exp = rj ? json_string_value(json_object_get(rj, "experiment")) : NULL;
    nv_sb_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>nerve report: ");
    put_text(b, exp ? exp : run);
    nv_sb_printf(b, "</title>\n<style>%s</style>\n%s</head>\n<body>\n<h1>nerve report: ", CSS, SCRIPT);
    put_text(b, exp ? exp : run);
    nv_sb_puts(b, "</h1>\n");
    story(b, run);
    nv_sb_puts(b, "<p class=\"meta\">");
    if (rj) {
        const char *keys[] = {"nerve_version", "git_commit", "device", "updated", "host"};
        const char *labels[] = {"nerve", "commit", "device", "run updated", "host"};
        for (int i = 0; i < 5; i++) {
            const char *v = json_string_value(json_object_get(rj, keys[i]));
            if (!v) continue;
            nv_sb_printf(b, "%s%s: ", i ? " &middot; " : "", labels[i]);
            put_text(b, v);
        }
    }
    nv_sb_puts(b, "</p>\n");
    labelled_section(b, ps, run); /* how the classes sit: first, where the pair's contrast shows */

    nv_sb_puts(b, "<h2 id=\"summary\">Summary</h2>\n");
    summary_table(b, run);
    if (cfg) {
        nv_sb_puts(b, "<details><summary>resolved configuration</summary><pre>");
        put_text(b, cfg);
        nv_sb_puts(b, "</pre></details>\n");
    }

    nv_sb_puts(b, "<h2 id=\"training\">Training</h2>\n");
    if (!embed_glob(b, ps, run, "analysis/figures/training.svg", "training", 0, 0))
        missing(b, "training curves", "nerve train");

    dynamics_section(b, ps, run, have_dyn);
    queries_section(b, run, have_dyn);

    nv_sb_puts(b, "<h2 id=\"topology\">Topology: Betti numbers by layer and epoch</h2>\n");
    if (betti_chart(b, ps, run)) {
        embed_csv_table(b, run, "analysis/ph/summary.csv", "ph-summary", 0);
        embed_csv_table(b, run, "analysis/ph/distances.csv", "ph-distances", 400);
    } else {
        missing(b, "persistent homology", "nerve ph RUN");
    }
    nv_sb_puts(b, "<details><summary>persistence diagrams and barcodes</summary>\n");
    embed_glob(b, ps, run, "analysis/figures/diagrams/*.png", "diagram", max_diagrams, 1);
    nv_sb_puts(b, "</details>\n");

    nv_sb_puts(b, "<h2 id=\"pca\">PCA projections</h2>\n");
    if (!embed_glob(b, ps, run, "analysis/figures/pca_grid_*.svg", "pca", 0, 0) &&
        !embed_glob(b, ps, run, "analysis/figures/pca_grid_*.png", "pca", 0, 0))
        missing(b, "PCA", "nerve pca RUN");

    nv_sb_puts(b, "<h2 id=\"geometry\">Intrinsic dimension and linear probes</h2>\n");
    if (embed_glob(b, ps, run, "analysis/figures/id_probe.svg", "id-probe", 0, 0) ||
        embed_glob(b, ps, run, "analysis/figures/id_probe.png", "id-probe", 0, 0)) {
        embed_csv_table(b, run, "analysis/stats/intrinsic_dimension.csv", "intrinsic-dimension", 600);
        embed_csv_table(b, run, "analysis/stats/probes.csv", "probes", 600);
    } else {
        missing(b, "intrinsic dimension or probes", "nerve stats RUN");
    }

    nv_sb_puts(b, "<h2 id=\"cka\">Representation similarity (linear CKA)</h2>\n");
    if (!embed_glob(b, ps, run, "analysis/figures/cka_*.svg", "cka", 0, 0) &&
        !embed_glob(b, ps, run, "analysis/figures/cka_*.png", "cka", 0, 0))
        missing(b, "CKA maps", "nerve stats RUN");

    features_section(b, ps, run);

    nv_sb_printf(b, "<p class=\"meta\">Written by nerve %s (nerve report). %d figures embedded", NERVE_VERSION,
                 ps->count);
    if (ps->previews) nv_sb_printf(b, ", %d as a preview linked to the full figure", ps->previews);
    if (ps->linked) nv_sb_printf(b, "; %d linked to their files under analysis/figures/", ps->linked);
    nv_sb_puts(b, " (the page stays under ");
    put_size(b, ps->max_size);
    nv_sb_puts(b, ").</p>\n</body></html>\n");
}

/* --- the presets of nerve query (docs/queries.md, "In the report") ----------------------- */
/* The tables `nerve report` had src/query write under analysis/queries/ (index.json
 * lists them with the command that reproduces each and its note): each as an HTML
 * table, the first rows shown and the rest named. This stage computes nothing of the
 * query engine's, which comes after it in docs/DESIGN.md's map. */
static void queries_section(nv_strbuf *b, const char *run, int have_dyn) {
    nv_sb_puts(b, "<h2 id=\"queries\">Queries over the training dynamics</h2>\n");
    char path[NV_PATH_LEN + 96];
    snprintf(path, sizeof path, "%s/analysis/queries/index.json", run);
    json_t *idx = have_dyn ? json_load_file(path, 0, NULL) : NULL;
    if (!idx) {
        if (have_dyn) missing(b, "query answers", "nerve report RUN");
        else nv_sb_puts(b, "<p class=\"missing\">No training-dynamics record to query (see above).</p>\n");
        return;
    }
    nv_sb_puts(b, "<p>The answers of <code>nerve query</code>'s presets (docs/queries.md) for model <code>");
    put_text(b, json_string_value(json_object_get(idx, "model")) ? json_string_value(json_object_get(idx, "model")) : "?");
    nv_sb_puts(b, "</code>, each with the command that gives it.</p>\n");
    int compared = 0;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(idx, "tables"), i, e) {
        const char *preset = json_string_value(json_object_get(e, "preset")), *table = json_string_value(json_object_get(e, "table")),
                   *file = json_string_value(json_object_get(e, "file")), *cmd = json_string_value(json_object_get(e, "command")),
                   *note = json_string_value(json_object_get(e, "note"));
        if (!preset || !file || !cmd || !note || !table) continue;
        compared |= !strcmp(preset, "compare-runs");
        nv_sb_puts(b, "<h3>");
        put_text(b, preset);
        if (table[0]) {
            nv_sb_puts(b, ": ");
            put_text(b, table);
        }
        nv_sb_puts(b, "</h3>\n<p><code>");
        put_text(b, cmd);
        nv_sb_puts(b, "</code></p>\n");
        if (note[0]) {
            nv_sb_puts(b, file[0] ? "<p class=\"meta\">" : "<p class=\"missing\">");
            put_text(b, note);
            nv_sb_puts(b, "</p>\n");
        }
        if (!file[0]) continue;
        char csv[NV_PATH_LEN + 256];
        snprintf(csv, sizeof csv, "%s/analysis/queries/%s", run, file);
        char *text = nv_read_file(csv, NULL);
        if (!text) continue;
        nv_sb_printf(b, "<table class=\"data\" data-kind=\"query-%s\" data-source=\"analysis/queries/", preset);
        put_text(b, file);
        nv_sb_puts(b, "\">\n");
        const int max_rows = 25;
        int row = 0, total = 0;
        for (char *line = text; *line; total++) {
            char *end = strchr(line, '\n');
            if (end) *end = '\0';
            if (row <= max_rows) {
                nv_sb_puts(b, "<tr>");
                /* CSV fields: quoted ones may hold commas ("" is a quote) */
                for (char *p = line;;) {
                    nv_sb_puts(b, row == 0 ? "<th>" : "<td>");
                    if (*p == '"') {
                        for (p++; *p && !(*p == '"' && p[1] != '"'); p++) {
                            if (*p == '"') p++;
                            char c1[2] = {*p, 0};
                            put_text(b, c1);
                        }
                        if (*p == '"') p++;
                    } else {
                        size_t n = strcspn(p, ",");
                        char save = p[n];
                        p[n] = '\0';
                        put_text(b, p);
                        p[n] = save;
                        p += n;
                    }
                    nv_sb_puts(b, row == 0 ? "</th>" : "</td>");
                    if (*p != ',') break;
                    p++;
                }
                nv_sb_puts(b, "</tr>\n");
                row++;
            }
            if (!end) break;
            line = end + 1;
        }
        nv_sb_puts(b, "</table>\n");
        if (total - 1 > max_rows) {
            nv_sb_printf(b, "<p class=\"meta\">%d of %d rows; all of them in <code>analysis/queries/", max_rows, total - 1);
            put_text(b, file);
            nv_sb_puts(b, "</code>.</p>\n");
        }
        free(text);
    }
    if (!compared)
        nv_sb_puts(b, "<p class=\"meta\">compare-runs needs a second run trained with another <code>train.order_seed</code>: "
                      "<code>nerve report RUN --compare RUN2</code>.</p>\n");
    json_decref(idx);
}

nv_status nv_report_write(const char *run, const nv_report_options *opt, char *out_path, size_t out_len,
                          nv_error *err) {
    char path[NV_PATH_LEN + 64];
    snprintf(path, sizeof path, "%s/config.cfg", run);
    if (!exists(path))
        return nv_fail(err, NV_EINPUT, "%s: not a run directory (no config.cfg); give the --out directory of nerve train", run);
    nv_status st = training_figure(run, err);
    if (st) return st;
    /* the dynamics record's figures, when the run has one (docs/dynamics.md) */
    snprintf(path, sizeof path, "%s/dynamics", run);
    int ndyn = 0, have_dyn = exists(path);
    if (have_dyn && (st = nv_dynamics_figures(run, &ndyn, err))) return st;
    snprintf(path, sizeof path, "%s/config.cfg", run);
    int max_diagrams = opt && opt->max_diagram_figures > 0 ? opt->max_diagram_figures : 60;
    size_t max_size = opt && opt->max_bytes > 0 ? opt->max_bytes : REPORT_MAX_SIZE;

    char *cfg = nv_read_file(path, NULL);
    snprintf(path, sizeof path, "%s/run.json", run);
    json_t *rj = json_load_file(path, 0, NULL);
    /* Pass 1 measures the page without the galleries (with smaller figures while it
     * is too large on its own); pass 2 gives the galleries what is left. */
    nv_strbuf b = {0};
    size_t per = NV_MIN(PER_FIGURE, max_size / 4), base;
    page_state ps;
    for (;;) {
        ps = (page_state){.per_figure = per, .measuring = 1, .max_size = max_size};
        build_page(&b, &ps, run, cfg, rj, max_diagrams, have_dyn && ndyn > 0);
        base = b.len;
        nv_sb_free(&b);
        if (base + max_size / 50 <= max_size || per < 4096) break;
        per /= 2;
    }
    ps = (page_state){.per_figure = per, .max_size = max_size, .galleries_left = 1};
    /* the gallery markup of an embedded figure replaces its link; keep 2% spare */
    ps.gallery_left = base + max_size / 50 < max_size ? max_size - base - max_size / 50 : 0;
    build_page(&b, &ps, run, cfg, rj, max_diagrams, have_dyn && ndyn > 0);
    free(cfg);
    if (rj) json_decref(rj);
    if (b.oom) {
        nv_sb_free(&b);
        return nv_fail(err, NV_ENOMEM, "out of memory assembling the report");
    }
    snprintf(path, sizeof path, "%s/analysis", run);
    st = nv_mkdirs(path, err);
    snprintf(path, sizeof path, "%s/analysis/report.html", run);
    if (!st) st = nv_atomic_write_text(path, nv_sb_str(&b), err);
    nv_sb_free(&b);
    if (!st && out_path) snprintf(out_path, out_len, "%s", path);
    return st;
}
