/* plot.c: the figures of the reports, drawn with cairo (see include/nerve/plot.h).
 *
 * The last stage of the pipeline: Betti numbers by layer and epoch, persistence
 * diagrams and barcodes, projections and similarity maps become PNG (for a quick
 * look) and SVG/PDF (for the report). The structure is: the figure keeps copies
 * of the data (nothing is drawn until save); `compute_layout` decides every
 * position from the data and from text measured on a private context, so the
 * layout is identical whatever the surface; `render` then draws on whichever
 * cairo surface nv_plot_save opened. One drawing path, three formats.
 */
#include "nerve/plot.h"
#include "nerve/fsutil.h"

#include <cairo.h>
#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define TEXT_LEN 201
#define MAX_TITLE_LINES 3
#define MAX_TICKS 40
#define TICK_LABEL_LEN 48

/* Sizes in points. */
#define FONT_FAMILY "sans-serif"
#define FS_FIG_TITLE 13.0
#define FS_TITLE 10.5
#define FS_LABEL 9.5
#define FS_TICK 8.5
#define FS_LEGEND 8.5
#define TICK_LEN 3.5
#define PAD 4.0
#define LEGEND_SAMPLE 20.0
#define DEFAULT_LINE 1.5
#define DEFAULT_MARKER 3.5
#define CBAR_GAP 10.0
#define CBAR_W 11.0

static const char INF_SIGN[] = "\xe2\x88\x9e"; /* U+221E */

/* ---- colours -------------------------------------------------------------------- */

nv_plot_color nv_plot_palette(int i) {
    /* Okabe & Ito (2008), ordered so the first colours differ most for every kind
     * of colour vision; yellow is late because it is faint on white. */
    static const unsigned char okabe_ito[8][3] = {
        {0, 114, 178}, {213, 94, 0},  {0, 158, 115}, {204, 121, 167},
        {230, 159, 0}, {86, 180, 233}, {240, 228, 66}, {0, 0, 0},
    };
    int k = ((i % 8) + 8) % 8;
    nv_plot_color c = {okabe_ito[k][0] / 255.0, okabe_ito[k][1] / 255.0, okabe_ito[k][2] / 255.0};
    return c;
}

nv_plot_color nv_plot_viridis(double t) {
    /* viridis sampled at 10 evenly spaced points; linear in between is within a
     * few units of the full table, invisible at plot sizes. */
    static const unsigned char anchors[10][3] = {
        {68, 1, 84},    {72, 40, 120},  {62, 74, 137},  {49, 104, 142}, {38, 130, 142},
        {31, 158, 137}, {53, 183, 121}, {109, 205, 89}, {180, 222, 44}, {253, 231, 37},
    };
    if (!(t >= 0)) t = 0; /* also NaN */
    if (t > 1) t = 1;
    double s = t * 9.0;
    int k = (int)s;
    if (k >= 9) k = 8;
    double w = s - k;
    nv_plot_color c;
    c.r = ((1 - w) * anchors[k][0] + w * anchors[k + 1][0]) / 255.0;
    c.g = ((1 - w) * anchors[k][1] + w * anchors[k + 1][1]) / 255.0;
    c.b = ((1 - w) * anchors[k][2] + w * anchors[k + 1][2]) / 255.0;
    return c;
}

/* ---- the figure's data ------------------------------------------------------------- */

typedef enum { S_LINE, S_SCATTER, S_CLASSES, S_REFLINE, S_DIAGRAM, S_BARCODE, S_HEATMAP } series_kind;

typedef struct {
    series_kind kind;
    char label[TEXT_LEN];
    nv_plot_color color;      /* resolved */
    nv_plot_marker marker;    /* resolved (never AUTO) */
    double line_width;        /* < 0: none */
    double marker_size;
    int dashed;
    int64_t n;
    double *x, *y;            /* (n): points; diagram/barcode: birth, death */
    double *yerr;             /* (n) or NULL: lines with error bars, y +- yerr[i] */
    int32_t *cls;             /* (n): class, or homology dimension for diagram/barcode */
    int n_groups;             /* classes, or diagrams */
    char (*group_names)[TEXT_LEN];
    int32_t *group_dims;      /* (n_groups): diagram dims, for colours and legend */
    int vertical;             /* refline */
    double at;
    int rows, cols;           /* heatmap: values in y (rows*cols) */
    double vmin, vmax;
} series;

typedef struct {
    int n;
    double *at;
    char (*labels)[TICK_LABEL_LEN];
} custom_ticks;

struct nv_plot_panel {
    char title[TEXT_LEN], xlabel[TEXT_LEN], ylabel[TEXT_LEN];
    nv_plot_legend legend;
    int has_xrange, has_yrange;
    double xlo, xhi, ylo, yhi;
    int integer_y;
    int share_group;
    custom_ticks xt, yt;
    series *s;
    int n_series, cap_series;
    int n_auto;               /* series that took an automatic colour so far */
};

struct nv_plot_figure {
    int rows, cols;
    double width, height, png_scale;
    char title[TEXT_LEN];
    nv_plot_panel *panels;    /* (rows * cols), row-major */
    const nv_plot_panel *legend_from;
};

static void copy_text(char *dst, const char *src) {
    if (!src) {
        dst[0] = '\0';
        return;
    }
    /* Truncate at a UTF-8 character boundary, so a cut never leaves a broken glyph. */
    size_t n = strlen(src);
    if (n >= TEXT_LEN) {
        n = TEXT_LEN - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80) n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

nv_status nv_plot_figure_new(int rows, int cols, double width, double height,
                             nv_plot_figure **out, nv_error *err) {
    if (!out) return nv_fail(err, NV_EINPUT, "nv_plot_figure_new: NULL output");
    *out = NULL;
    if (rows < 1 || cols < 1 || rows > 64 || cols > 64 || !(width >= 50) || !(height >= 50) ||
        width > 20000 || height > 20000)
        return nv_fail(err, NV_EINPUT, "nv_plot_figure_new: expected 1..64 rows and columns and a "
                       "size of 50..20000 pt, found %d x %d panels, %g x %g pt",
                       rows, cols, width, height);
    nv_plot_figure *f = nv_calloc(1, sizeof *f, err);
    if (!f) return NV_ENOMEM;
    f->panels = nv_calloc((size_t)(rows * cols), sizeof *f->panels, err);
    if (!f->panels) {
        free(f);
        return NV_ENOMEM;
    }
    f->rows = rows;
    f->cols = cols;
    f->width = width;
    f->height = height;
    f->png_scale = 2.0;
    *out = f;
    return NV_OK;
}

static void free_ticks(custom_ticks *t) {
    free(t->at);
    free(t->labels);
    memset(t, 0, sizeof *t);
}

static void free_series(series *s) {
    free(s->yerr);
    free(s->x);
    free(s->y);
    free(s->cls);
    free(s->group_names);
    free(s->group_dims);
}

void nv_plot_figure_free(nv_plot_figure *f) {
    if (!f) return;
    for (int i = 0; i < f->rows * f->cols; i++) {
        nv_plot_panel *p = &f->panels[i];
        for (int k = 0; k < p->n_series; k++) free_series(&p->s[k]);
        free(p->s);
        free_ticks(&p->xt);
        free_ticks(&p->yt);
    }
    free(f->panels);
    free(f);
}

void nv_plot_figure_set_title(nv_plot_figure *f, const char *title) {
    if (f) copy_text(f->title, title);
}

void nv_plot_figure_set_png_scale(nv_plot_figure *f, double pixels_per_point) {
    if (f && pixels_per_point > 0 && pixels_per_point <= 16) f->png_scale = pixels_per_point;
}

void nv_plot_figure_set_legend_from(nv_plot_figure *f, nv_plot_panel *from) {
    if (f) f->legend_from = from;
}

nv_plot_panel *nv_plot_figure_panel(nv_plot_figure *f, int row, int col) {
    if (!f || row < 0 || col < 0 || row >= f->rows || col >= f->cols) return NULL;
    return &f->panels[row * f->cols + col];
}

void nv_plot_panel_set_title(nv_plot_panel *p, const char *t) { if (p) copy_text(p->title, t); }
void nv_plot_panel_set_xlabel(nv_plot_panel *p, const char *t) { if (p) copy_text(p->xlabel, t); }
void nv_plot_panel_set_ylabel(nv_plot_panel *p, const char *t) { if (p) copy_text(p->ylabel, t); }
void nv_plot_panel_set_legend(nv_plot_panel *p, nv_plot_legend where) { if (p) p->legend = where; }
void nv_plot_panel_set_integer_y(nv_plot_panel *p, int on) { if (p) p->integer_y = on != 0; }
void nv_plot_panel_share_y(nv_plot_panel *p, int group) { if (p) p->share_group = group > 0 ? group : 0; }

void nv_plot_panel_set_xrange(nv_plot_panel *p, double lo, double hi) {
    if (!p || !(lo < hi) || !isfinite(lo) || !isfinite(hi)) return;
    p->has_xrange = 1;
    p->xlo = lo;
    p->xhi = hi;
}

void nv_plot_panel_set_yrange(nv_plot_panel *p, double lo, double hi) {
    if (!p || !(lo < hi) || !isfinite(lo) || !isfinite(hi)) return;
    p->has_yrange = 1;
    p->ylo = lo;
    p->yhi = hi;
}

static nv_status set_ticks(custom_ticks *t, const double *at, const char *const *labels, int n,
                           const char *what, nv_error *err) {
    if (n < 0 || n > MAX_TICKS || (n > 0 && (!at || !labels)))
        return nv_fail(err, NV_EINPUT, "%s: expected 0..%d ticks with positions and labels, found %d",
                       what, MAX_TICKS, n);
    free_ticks(t);
    if (n == 0) return NV_OK;
    t->at = nv_malloc((size_t)n * sizeof *t->at, err);
    t->labels = nv_malloc((size_t)n * sizeof *t->labels, err);
    if (!t->at || !t->labels) {
        free_ticks(t);
        return NV_ENOMEM;
    }
    for (int i = 0; i < n; i++) {
        t->at[i] = at[i];
        snprintf(t->labels[i], TICK_LABEL_LEN, "%s", labels[i] ? labels[i] : "");
    }
    t->n = n;
    return NV_OK;
}

nv_status nv_plot_panel_set_xticks(nv_plot_panel *p, const double *at, const char *const *labels,
                                   int n, nv_error *err) {
    if (!p) return nv_fail(err, NV_EINPUT, "nv_plot_panel_set_xticks: NULL panel");
    return set_ticks(&p->xt, at, labels, n, "nv_plot_panel_set_xticks", err);
}

nv_status nv_plot_panel_set_yticks(nv_plot_panel *p, const double *at, const char *const *labels,
                                   int n, nv_error *err) {
    if (!p) return nv_fail(err, NV_EINPUT, "nv_plot_panel_set_yticks: NULL panel");
    return set_ticks(&p->yt, at, labels, n, "nv_plot_panel_set_yticks", err);
}

/* ---- adding series ------------------------------------------------------------------ */

static nv_plot_marker auto_marker(int i) {
    static const nv_plot_marker cycle[] = {NV_MARKER_CIRCLE, NV_MARKER_SQUARE, NV_MARKER_TRIANGLE,
                                           NV_MARKER_DIAMOND, NV_MARKER_TRIANGLE_DOWN,
                                           NV_MARKER_HEXAGON};
    return cycle[((i % 6) + 6) % 6];
}

/* A new zeroed series at the end of the panel, or NULL with NV_ENOMEM. */
static series *push_series(nv_plot_panel *p, series_kind kind, const char *label, nv_error *err) {
    if (p->n_series == p->cap_series) {
        int cap = p->cap_series ? 2 * p->cap_series : 8;
        series *s = realloc(p->s, (size_t)cap * sizeof *s);
        if (!s) {
            nv_fail(err, NV_ENOMEM, "plot: out of memory adding a series");
            return NULL;
        }
        p->s = s;
        p->cap_series = cap;
    }
    series *s = &p->s[p->n_series];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    copy_text(s->label, label);
    return s;
}

/* Colour, marker and widths from the caller's style, filling the automatic parts
 * from the panel's running series index. */
static void resolve_style(nv_plot_panel *p, series *s, const nv_plot_style *st, int want_line) {
    nv_plot_style z = {0};
    if (!st) st = &z;
    int idx = p->n_auto;
    if (!st->has_color || st->marker == NV_MARKER_AUTO) p->n_auto++;
    s->color = st->has_color ? st->color : nv_plot_palette(idx);
    s->marker = st->marker == NV_MARKER_AUTO ? auto_marker(idx) : st->marker;
    s->line_width = st->line_width != 0 ? st->line_width : want_line ? DEFAULT_LINE : -1;
    s->marker_size = st->marker_size > 0 ? st->marker_size : DEFAULT_MARKER;
    s->dashed = st->dashed;
}

static nv_status copy_xy(series *s, const double *x, const double *y, int64_t n, nv_error *err) {
    s->x = nv_malloc((size_t)n * sizeof *s->x, err);
    s->y = nv_malloc((size_t)n * sizeof *s->y, err);
    if (!s->x || !s->y) return NV_ENOMEM;
    memcpy(s->x, x, (size_t)n * sizeof *s->x);
    memcpy(s->y, y, (size_t)n * sizeof *s->y);
    s->n = n;
    return NV_OK;
}

static nv_status add_points(nv_plot_panel *p, series_kind kind, const char *label, const double *x,
                            const double *y, int64_t n, const nv_plot_style *style, nv_error *err,
                            const char *what) {
    if (!p || n < 0 || (n > 0 && (!x || !y)))
        return nv_fail(err, NV_EINPUT, "%s: expected a panel and n >= 0 points with x and y", what);
    series *s = push_series(p, kind, label, err);
    if (!s) return NV_ENOMEM;
    nv_status st = copy_xy(s, x, y, n, err);
    if (st != NV_OK) {
        free_series(s);
        return st;
    }
    resolve_style(p, s, style, kind == S_LINE);
    p->n_series++;
    return NV_OK;
}

nv_status nv_plot_line(nv_plot_panel *p, const char *label, const double *x, const double *y,
                       int64_t n, const nv_plot_style *style, nv_error *err) {
    return add_points(p, S_LINE, label, x, y, n, style, err, "nv_plot_line");
}

nv_status nv_plot_line_errors(nv_plot_panel *p, const char *label, const double *x, const double *y,
                              const double *yerr, int64_t n, const nv_plot_style *style, nv_error *err) {
    if (n > 0 && !yerr) return nv_fail(err, NV_EINPUT, "nv_plot_line_errors: expected yerr for %lld points", (long long)n);
    nv_status st = add_points(p, S_LINE, label, x, y, n, style, err, "nv_plot_line_errors");
    if (st != NV_OK) return st;
    series *s = &p->s[p->n_series - 1];
    s->yerr = nv_malloc((size_t)(n > 0 ? n : 1) * sizeof *s->yerr, err);
    if (!s->yerr) return NV_ENOMEM;
    memcpy(s->yerr, yerr, (size_t)n * sizeof *s->yerr);
    return NV_OK;
}

nv_status nv_plot_scatter(nv_plot_panel *p, const char *label, const double *x, const double *y,
                          int64_t n, const nv_plot_style *style, nv_error *err) {
    return add_points(p, S_SCATTER, label, x, y, n, style, err, "nv_plot_scatter");
}

static nv_status alloc_groups(series *s, int n, nv_error *err) {
    s->group_names = nv_calloc((size_t)n, sizeof *s->group_names, err);
    s->group_dims = nv_calloc((size_t)n, sizeof *s->group_dims, err);
    s->n_groups = n;
    return s->group_names && s->group_dims ? NV_OK : NV_ENOMEM;
}

nv_status nv_plot_scatter_classes(nv_plot_panel *p, const double *x, const double *y,
                                  const int32_t *cls, int64_t n, const char *const *class_names,
                                  int n_classes, nv_error *err) {
    if (!p || n < 0 || (n > 0 && (!x || !y || !cls)) || n_classes < 1 || n_classes > 64)
        return nv_fail(err, NV_EINPUT, "nv_plot_scatter_classes: expected a panel, n >= 0 points "
                       "with x, y and classes, and 1..64 classes (found %d)", n_classes);
    for (int64_t i = 0; i < n; i++)
        if (cls[i] < 0 || cls[i] >= n_classes)
            return nv_fail(err, NV_EINPUT, "nv_plot_scatter_classes: point %lld: class %d outside "
                           "0..%d", (long long)i, cls[i], n_classes - 1);
    series *s = push_series(p, S_CLASSES, NULL, err);
    if (!s) return NV_ENOMEM;
    nv_status st = copy_xy(s, x, y, n, err);
    if (st == NV_OK) st = alloc_groups(s, n_classes, err);
    if (st == NV_OK && !(s->cls = nv_malloc((size_t)n * sizeof *s->cls, err))) st = NV_ENOMEM;
    if (st != NV_OK) {
        free_series(s);
        return st;
    }
    memcpy(s->cls, cls, (size_t)n * sizeof *s->cls);
    for (int k = 0; k < n_classes; k++) {
        if (class_names && class_names[k]) copy_text(s->group_names[k], class_names[k]);
        else snprintf(s->group_names[k], TEXT_LEN, "class %d", k);
        s->group_dims[k] = k;
    }
    s->marker = NV_MARKER_CIRCLE;
    s->marker_size = 2.5;
    s->line_width = -1;
    p->n_series++;
    return NV_OK;
}

nv_status nv_plot_refline(nv_plot_panel *p, const char *label, int vertical, double at,
                          const nv_plot_style *style, nv_error *err) {
    if (!p || !isfinite(at))
        return nv_fail(err, NV_EINPUT, "nv_plot_refline: expected a panel and a finite position");
    series *s = push_series(p, S_REFLINE, label, err);
    if (!s) return NV_ENOMEM;
    s->vertical = vertical != 0;
    s->at = at;
    if (style && style->has_color) s->color = style->color;
    else s->color = (nv_plot_color){0.45, 0.45, 0.45};
    s->marker = NV_MARKER_NONE;
    s->line_width = style && style->line_width > 0 ? style->line_width : 1.0;
    s->dashed = style ? style->dashed : 1;
    if (!style) s->dashed = 1;
    p->n_series++;
    return NV_OK;
}

/* Diagrams and barcodes share one storage: bars as (birth, death, dim). */
static nv_status add_bars(nv_plot_panel *p, series_kind kind, const nv_diagram *d, int nd,
                          nv_error *err, const char *what) {
    if (!p || nd < 1 || nd > 16 || !d)
        return nv_fail(err, NV_EINPUT, "%s: expected a panel and 1..16 diagrams", what);
    int64_t n = 0;
    for (int k = 0; k < nd; k++) {
        if (d[k].count < 0 || (d[k].count > 0 && !d[k].bars))
            return nv_fail(err, NV_EINPUT, "%s: diagram %d has no bars for count %lld", what, k,
                           (long long)d[k].count);
        for (int64_t i = 0; i < d[k].count; i++) {
            nv_bar b = d[k].bars[i];
            if (isnan(b.birth) || isnan(b.death) || b.birth > b.death)
                return nv_fail(err, NV_EINPUT, "%s: diagram %d bar %lld: expected birth <= death, "
                               "found (%g, %g)", what, k, (long long)i, b.birth, b.death);
        }
        n += d[k].count;
    }
    series *s = push_series(p, kind, NULL, err);
    if (!s) return NV_ENOMEM;
    nv_status st = NV_OK;
    s->x = nv_malloc((size_t)n * sizeof *s->x, err);
    s->y = nv_malloc((size_t)n * sizeof *s->y, err);
    s->cls = nv_malloc((size_t)n * sizeof *s->cls, err);
    if (!s->x || !s->y || !s->cls) st = NV_ENOMEM;
    if (st == NV_OK) st = alloc_groups(s, nd, err);
    if (st != NV_OK) {
        free_series(s);
        return st;
    }
    int64_t j = 0;
    for (int k = 0; k < nd; k++) {
        s->group_dims[k] = d[k].dim;
        snprintf(s->group_names[k], TEXT_LEN, "H%d", d[k].dim);
        for (int64_t i = 0; i < d[k].count; i++, j++) {
            s->x[j] = d[k].bars[i].birth;
            s->y[j] = d[k].bars[i].death;
            s->cls[j] = d[k].dim;
        }
    }
    s->n = n;
    s->marker_size = 3.0;
    s->line_width = -1;
    p->n_series++;
    return NV_OK;
}

nv_status nv_plot_diagram(nv_plot_panel *p, const nv_diagram *d, int n_diagrams, nv_error *err) {
    return add_bars(p, S_DIAGRAM, d, n_diagrams, err, "nv_plot_diagram");
}

nv_status nv_plot_barcode(nv_plot_panel *p, const nv_diagram *d, int n_diagrams, nv_error *err) {
    return add_bars(p, S_BARCODE, d, n_diagrams, err, "nv_plot_barcode");
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

nv_status nv_plot_betti_curve(nv_plot_panel *p, const nv_diagram *d, int n_diagrams, double lo,
                              double hi, nv_error *err) {
    if (!p || !d || n_diagrams < 1 || n_diagrams > 16)
        return nv_fail(err, NV_EINPUT, "nv_plot_betti_curve: expected a panel and 1..16 diagrams");
    double dlo = 0.0, dhi = -INFINITY;
    for (int k = 0; k < n_diagrams; k++)
        for (int64_t i = 0; i < d[k].count; i++) {
            if (isfinite(d[k].bars[i].birth)) dlo = NV_MIN(dlo, d[k].bars[i].birth);
            if (isfinite(d[k].bars[i].death)) dhi = NV_MAX(dhi, d[k].bars[i].death);
            if (isfinite(d[k].bars[i].birth)) dhi = NV_MAX(dhi, d[k].bars[i].birth);
        }
    if (!isfinite(dhi) || dhi <= dlo) dhi = dlo + 1;
    if (isnan(lo)) lo = dlo;
    if (isnan(hi)) hi = dhi + 0.05 * (dhi - dlo);
    if (!(lo < hi) || !isfinite(lo) || !isfinite(hi))
        return nv_fail(err, NV_EINPUT, "nv_plot_betti_curve: expected lo < hi, found [%g, %g]", lo, hi);
    nv_plot_panel_set_integer_y(p, 1);
    nv_status st = NV_OK;
    for (int k = 0; k < n_diagrams && st == NV_OK; k++) {
        /* The curve only changes at bar ends, so those (inside [lo, hi]) and the
         * two limits are all the breakpoints; each step is drawn flat. */
        int64_t n = d[k].count;
        double *e = nv_malloc((size_t)(2 * n + 2) * sizeof *e, err);
        int64_t *v = nv_malloc((size_t)(2 * n + 2) * sizeof *v, err);
        double *x = nv_malloc((size_t)(4 * n + 4) * sizeof *x, err);
        double *y = nv_malloc((size_t)(4 * n + 4) * sizeof *y, err);
        if (!e || !v || !x || !y) st = NV_ENOMEM;
        int64_t m = 0;
        if (st == NV_OK) {
            e[m++] = lo;
            e[m++] = hi;
            for (int64_t i = 0; i < n; i++) {
                double ends[2] = {d[k].bars[i].birth, d[k].bars[i].death};
                for (int j = 0; j < 2; j++)
                    if (ends[j] > lo && ends[j] < hi) e[m++] = ends[j];
            }
            qsort(e, (size_t)m, sizeof *e, cmp_double);
            int64_t u = 0;
            for (int64_t i = 0; i < m; i++)
                if (u == 0 || e[i] != e[u - 1]) e[u++] = e[i];
            m = u;
            st = nv_diagram_betti_curve(&d[k], e, m, v, err);
        }
        int64_t q = 0;
        if (st == NV_OK) {
            for (int64_t i = 0; i + 1 < m; i++) {
                x[q] = e[i];
                y[q++] = (double)v[i];
                x[q] = e[i + 1];
                y[q++] = (double)v[i];
            }
            nv_plot_style sty = {0};
            sty.has_color = 1;
            sty.color = nv_plot_palette(d[k].dim);
            sty.marker = NV_MARKER_NONE;
            char label[32];
            /* beta with a subscript digit (U+03B2, U+2080 + dim) up to dimension 9 */
            if (d[k].dim >= 0 && d[k].dim <= 9)
                snprintf(label, sizeof label, "\xce\xb2\xe2\x82%c", (char)(0x80 + d[k].dim));
            else
                snprintf(label, sizeof label, "\xce\xb2 %d", d[k].dim);
            st = nv_plot_line(p, label, x, y, q, &sty, err);
        }
        free(e);
        free(v);
        free(x);
        free(y);
    }
    return st;
}

nv_status nv_plot_heatmap(nv_plot_panel *p, const double *values, int rows, int cols, double vmin,
                          double vmax, const char *cbar_label, nv_error *err) {
    if (!p || !values || rows < 1 || cols < 1 || (int64_t)rows * cols > 4000000)
        return nv_fail(err, NV_EINPUT, "nv_plot_heatmap: expected a panel and 1..4e6 values, "
                       "found %d x %d", rows, cols);
    for (int k = 0; k < p->n_series; k++)
        if (p->s[k].kind == S_HEATMAP)
            return nv_fail(err, NV_EINPUT, "nv_plot_heatmap: the panel already has a heat map");
    series *s = push_series(p, S_HEATMAP, cbar_label, err);
    if (!s) return NV_ENOMEM;
    int64_t n = (int64_t)rows * cols;
    s->y = nv_malloc((size_t)n * sizeof *s->y, err);
    if (!s->y) {
        free_series(s);
        return NV_ENOMEM;
    }
    memcpy(s->y, values, (size_t)n * sizeof *s->y);
    s->n = n;
    s->rows = rows;
    s->cols = cols;
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(values[i])) {
            lo = NV_MIN(lo, values[i]);
            hi = NV_MAX(hi, values[i]);
        }
    if (!isfinite(lo)) lo = 0, hi = 1;
    s->vmin = isnan(vmin) ? lo : vmin;
    s->vmax = isnan(vmax) ? hi : vmax;
    if (!(s->vmax > s->vmin)) s->vmax = s->vmin + 1;
    s->line_width = -1;
    p->n_series++;
    return NV_OK;
}

/* ---- layout ---------------------------------------------------------------------------- */

typedef struct {
    double lo, hi;                         /* axis limits */
    int n;
    double at[MAX_TICKS + 1];
    char lab[MAX_TICKS + 1][TICK_LABEL_LEN];
} axis;

typedef struct {
    double x0, y0, w, h;                   /* plot area, points from the top left */
    axis xa, ya;
    int y_inverted;                        /* heat maps and barcodes: first row on top */
    int no_yticks;                         /* barcodes */
    double inf_y;                          /* diagrams: y of the infinity line; NaN if none */
    const series *heat;                    /* the heat map, if any */
    axis ca;                               /* colour bar ticks */
    double legend_x, legend_y, legend_w, legend_h; /* inside legend box; w = 0: none */
    /* The title, wrapped to the panel's cell and centred over the plot area as far
     * as the cell allows, so no title is clipped by its neighbours or the edge. */
    int title_n;
    char title_lines[MAX_TITLE_LINES][TEXT_LEN];
    double title_x, title_fs;
} panel_layout;

typedef struct {
    panel_layout *p;                       /* (rows * cols) */
    double title_h, legend_y, legend_h;    /* figure title band; figure legend strip */
    int title_n;                           /* the figure title, wrapped to the width */
    char title_lines[MAX_TITLE_LINES][TEXT_LEN];
    double title_fs;
} figure_layout;

typedef struct {
    char label[TEXT_LEN];
    nv_plot_color color;
    nv_plot_marker marker;
    double line_width, marker_size;
    int dashed;
} legend_entry;

static void set_font(cairo_t *cr, double size, int bold) {
    cairo_select_font_face(cr, FONT_FAMILY, CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

static double text_width(cairo_t *cr, const char *s, double size, int bold) {
    if (!s || !s[0]) return 0;
    set_font(cr, size, bold);
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    return e.x_advance;
}

/* Greedy word wrap of s into at most MAX_TITLE_LINES lines of width <= maxw (a word
 * wider than maxw gets a line of its own; the last line takes the rest). Returns the
 * number of lines and, in *widest, the widest line's width. */
static int wrap_text(cairo_t *cr, const char *s, double size, int bold, double maxw,
                     char lines[MAX_TITLE_LINES][TEXT_LEN], double *widest) {
    int n = 0;
    *widest = 0;
    if (!s || !s[0]) return 0;
    const char *p = s;
    while (*p && n < MAX_TITLE_LINES) {
        while (*p == ' ') p++;
        char line[TEXT_LEN] = "";
        size_t len = 0;
        const char *rest = p;
        if (n == MAX_TITLE_LINES - 1) {
            snprintf(line, sizeof line, "%s", p);
            rest = p + strlen(p);
        } else {
            while (*rest) {
                const char *e = strchr(rest, ' ');
                size_t wl = e ? (size_t)(e - rest) : strlen(rest);
                char trial[TEXT_LEN];
                snprintf(trial, sizeof trial, "%.*s%s%.*s", (int)len, line, len ? " " : "", (int)wl, rest);
                if (len && text_width(cr, trial, size, bold) > maxw) break;
                snprintf(line, sizeof line, "%s", trial);
                len = strlen(line);
                rest += wl;
                while (*rest == ' ') rest++;
            }
        }
        snprintf(lines[n], TEXT_LEN, "%s", line);
        *widest = NV_MAX(*widest, text_width(cr, lines[n], size, bold));
        n++;
        p = rest;
    }
    return n;
}

/* Unhinted metrics on every context, so text measures the same on an image, an
 * SVG and a PDF surface and the layout does not depend on the format. */
static void set_font_options(cairo_t *cr) {
    cairo_font_options_t *fo = cairo_font_options_create();
    cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF);
    cairo_font_options_set_hint_style(fo, CAIRO_HINT_STYLE_NONE);
    cairo_set_font_options(cr, fo);
    cairo_font_options_destroy(fo);
}

/* A label for tick value v on an axis with tick spacing `step`: just enough
 * decimals to tell neighbours apart, no "-0". */
static void format_tick(char *buf, double v, double step) {
    if (fabs(v) < step * 1e-9) v = 0.0;
    double mag = fabs(v) > step ? fabs(v) : step;
    if (mag >= 1e6 || (step < 1e-4 && step > 0)) {
        snprintf(buf, TICK_LABEL_LEN, "%.3g", v);
        return;
    }
    int decimals = 0;
    if (step < 1) decimals = (int)ceil(-log10(step) - 1e-9);
    /* 0.25-style steps need one digit more than their magnitude */
    double scaled = step * pow(10, decimals);
    if (fabs(scaled - round(scaled)) > 1e-6) decimals++;
    snprintf(buf, TICK_LABEL_LEN, "%.*f", decimals, v);
}

/* "Nice" ticks (1, 2, 5 times a power of ten, about five of them) within [lo, hi]. */
static void nice_ticks(axis *a, double lo, double hi, int integer) {
    a->n = 0;
    double span = hi - lo;
    if (!(span > 0) || !isfinite(span)) return;
    double raw = span / 5.0;
    double mag = pow(10, floor(log10(raw)));
    double norm = raw / mag;
    double step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
    if (integer && step < 1) step = 1;
    double first = ceil(lo / step - 1e-9) * step;
    for (int k = 0; k <= MAX_TICKS; k++) {
        double v = first + k * step;
        if (v > hi + step * 1e-9) break;
        a->at[a->n] = v;
        format_tick(a->lab[a->n], v, step);
        a->n++;
        if (a->n == MAX_TICKS) break;
    }
}

static void custom_axis_ticks(axis *a, const custom_ticks *t) {
    a->n = 0;
    for (int i = 0; i < t->n && a->n < MAX_TICKS; i++) {
        a->at[a->n] = t->at[i];
        snprintf(a->lab[a->n], TICK_LABEL_LEN, "%s", t->labels[i]);
        a->n++;
    }
}

typedef struct {
    double xlo, xhi, ylo, yhi; /* data extent; lo > hi when empty */
    int diagram, barcode, heat, has_essential;
    int64_t n_bars;
} extent;

static void grow(double *lo, double *hi, double v) {
    if (!isfinite(v)) return;
    if (v < *lo) *lo = v;
    if (v > *hi) *hi = v;
}

static extent panel_extent(const nv_plot_panel *p) {
    extent e = {INFINITY, -INFINITY, INFINITY, -INFINITY, 0, 0, 0, 0, 0};
    for (int k = 0; k < p->n_series; k++) {
        const series *s = &p->s[k];
        switch (s->kind) {
        case S_LINE:
        case S_SCATTER:
        case S_CLASSES:
            for (int64_t i = 0; i < s->n; i++)
                if (isfinite(s->x[i]) && isfinite(s->y[i])) {
                    grow(&e.xlo, &e.xhi, s->x[i]);
                    grow(&e.ylo, &e.yhi, s->y[i]);
                    if (s->yerr && isfinite(s->yerr[i])) {
                        grow(&e.ylo, &e.yhi, s->y[i] - fabs(s->yerr[i]));
                        grow(&e.ylo, &e.yhi, s->y[i] + fabs(s->yerr[i]));
                    }
                }
            break;
        case S_REFLINE:
            if (s->vertical) grow(&e.xlo, &e.xhi, s->at);
            else grow(&e.ylo, &e.yhi, s->at);
            break;
        case S_DIAGRAM:
            e.diagram = 1;
            /* one square extent for both axes, so the diagonal is at 45 degrees */
            for (int64_t i = 0; i < s->n; i++) {
                grow(&e.xlo, &e.xhi, s->x[i]);
                grow(&e.xlo, &e.xhi, s->y[i]);
                e.has_essential |= s->y[i] == INFINITY;
            }
            e.ylo = e.xlo;
            e.yhi = e.xhi;
            break;
        case S_BARCODE:
            e.barcode = 1;
            for (int64_t i = 0; i < s->n; i++) {
                grow(&e.xlo, &e.xhi, s->x[i]);
                grow(&e.xlo, &e.xhi, s->y[i]);
                e.has_essential |= s->y[i] == INFINITY;
            }
            e.n_bars += s->n;
            break;
        case S_HEATMAP:
            e.heat = 1;
            grow(&e.xlo, &e.xhi, -0.5);
            grow(&e.xlo, &e.xhi, s->cols - 0.5);
            grow(&e.ylo, &e.yhi, -0.5);
            grow(&e.ylo, &e.yhi, s->rows - 0.5);
            break;
        }
    }
    return e;
}

/* Limits from a data extent: a 5% margin, a unit window around a single value. */
static void pad_range(double lo, double hi, double *out_lo, double *out_hi) {
    if (!(lo <= hi)) lo = 0, hi = 1;
    if (hi == lo) {
        double d = fabs(lo) > 0 ? 0.1 * fabs(lo) : 0.5;
        lo -= d;
        hi += d;
    }
    double m = 0.05 * (hi - lo);
    *out_lo = lo - m;
    *out_hi = hi + m;
}

static void panel_axes(const nv_plot_figure *f, int idx, const extent *ext, panel_layout *L) {
    const nv_plot_panel *p = &f->panels[idx];
    const extent *e = &ext[idx];
    L->inf_y = NAN;
    L->heat = NULL;
    for (int k = 0; k < p->n_series; k++)
        if (p->s[k].kind == S_HEATMAP) L->heat = &p->s[k];
    double ylo = e->ylo, yhi = e->yhi;
    if (p->share_group > 0) {
        for (int j = 0; j < f->rows * f->cols; j++)
            if (f->panels[j].share_group == p->share_group) {
                grow(&ylo, &yhi, ext[j].ylo);
                grow(&ylo, &yhi, ext[j].yhi);
            }
    }
    if (e->heat) {
        L->xa.lo = e->xlo;
        L->xa.hi = e->xhi;
        L->ya.lo = e->ylo;
        L->ya.hi = e->yhi;
        L->y_inverted = 1;
        nice_ticks(&L->xa, 0, e->xhi - 0.5, 1);
        nice_ticks(&L->ya, 0, e->yhi - 0.5, 1);
    } else if (e->diagram) {
        double lo, hi;
        pad_range(e->xlo, e->xhi, &lo, &hi);
        double span = hi - lo;
        L->xa.lo = lo;
        L->xa.hi = hi;
        L->ya.lo = lo;
        L->ya.hi = hi;
        nice_ticks(&L->xa, lo, hi, 0);
        nice_ticks(&L->ya, lo, hi, 0);
        if (e->has_essential) {
            L->inf_y = hi + 0.06 * span;
            L->ya.hi = L->inf_y + 0.05 * span;
            /* numeric ticks too close under the infinity line would collide with
             * its label */
            int k = 0;
            for (int i = 0; i < L->ya.n; i++)
                if (L->inf_y - L->ya.at[i] >= 0.07 * (L->ya.hi - L->ya.lo)) {
                    L->ya.at[k] = L->ya.at[i];
                    memcpy(L->ya.lab[k], L->ya.lab[i], TICK_LABEL_LEN);
                    k++;
                }
            L->ya.n = k;
            if (L->ya.n < MAX_TICKS) {
                L->ya.at[L->ya.n] = L->inf_y;
                snprintf(L->ya.lab[L->ya.n], TICK_LABEL_LEN, "%s", INF_SIGN);
                L->ya.n++;
            }
        }
    } else if (e->barcode) {
        double lo, hi;
        pad_range(e->xlo, e->xhi, &lo, &hi);
        if (e->has_essential) hi += 0.08 * (hi - lo); /* room for the arrows */
        L->xa.lo = lo;
        L->xa.hi = hi;
        nice_ticks(&L->xa, lo, hi, 0);
        L->ya.lo = -1;
        L->ya.hi = (double)(e->n_bars > 0 ? e->n_bars : 1);
        L->y_inverted = 1;
        L->no_yticks = 1;
        L->ya.n = 0;
    } else {
        pad_range(e->xlo, e->xhi, &L->xa.lo, &L->xa.hi);
        if (p->integer_y) {
            if (!(ylo <= yhi)) ylo = 0, yhi = 1;
            ylo = NV_MIN(ylo, 0.0);
            if (yhi < ylo + 1) yhi = ylo + 1;
            /* a little room under 0 so a zero count does not hide in the frame */
            L->ya.lo = ylo - 0.04 * (yhi - ylo);
            L->ya.hi = yhi + 0.06 * (yhi - ylo);
        } else {
            pad_range(ylo, yhi, &L->ya.lo, &L->ya.hi);
        }
        nice_ticks(&L->xa, L->xa.lo, L->xa.hi, 0);
        nice_ticks(&L->ya, p->integer_y ? ylo : L->ya.lo, L->ya.hi, p->integer_y);
    }
    if (p->has_xrange) {
        L->xa.lo = p->xlo;
        L->xa.hi = p->xhi;
        nice_ticks(&L->xa, p->xlo, p->xhi, 0);
    }
    if (p->has_yrange) {
        L->ya.lo = p->ylo;
        L->ya.hi = p->yhi;
        nice_ticks(&L->ya, p->ylo, p->yhi, p->integer_y);
    }
    if (p->xt.n > 0) custom_axis_ticks(&L->xa, &p->xt);
    if (p->yt.n > 0) custom_axis_ticks(&L->ya, &p->yt);
    if (L->heat) nice_ticks(&L->ca, L->heat->vmin, L->heat->vmax, 0);
}

static double map_x(const panel_layout *L, double x) {
    return L->x0 + (x - L->xa.lo) / (L->xa.hi - L->xa.lo) * L->w;
}

static double map_y(const panel_layout *L, double y) {
    double t = (y - L->ya.lo) / (L->ya.hi - L->ya.lo);
    return L->y_inverted ? L->y0 + t * L->h : L->y0 + L->h - t * L->h;
}

/* The legend entries of a panel, in the order the series were added. */
static int legend_entries(const nv_plot_panel *p, legend_entry *out, int cap) {
    int n = 0;
    for (int k = 0; k < p->n_series && n < cap; k++) {
        const series *s = &p->s[k];
        if (s->kind == S_CLASSES || s->kind == S_DIAGRAM || s->kind == S_BARCODE) {
            for (int g = 0; g < s->n_groups && n < cap; g++) {
                legend_entry *e = &out[n++];
                copy_text(e->label, s->group_names[g]);
                e->color = nv_plot_palette(s->group_dims[g]);
                e->marker = s->kind == S_BARCODE ? NV_MARKER_NONE
                            : s->kind == S_DIAGRAM ? auto_marker(s->group_dims[g])
                                                   : NV_MARKER_CIRCLE;
                e->line_width = s->kind == S_BARCODE ? 3.0 : -1;
                e->marker_size = 3.0;
                e->dashed = 0;
            }
        } else if (s->kind != S_HEATMAP && s->label[0]) {
            legend_entry *e = &out[n++];
            copy_text(e->label, s->label);
            e->color = s->color;
            e->marker = s->marker;
            e->line_width = s->line_width;
            e->marker_size = s->marker_size;
            e->dashed = s->dashed;
        }
    }
    return n;
}

#define MAX_LEGEND 64
#define LEGEND_ROW (FS_LEGEND * 1.45)

static int point_in(double x, double y, double x0, double y0, double w, double h) {
    return x >= x0 && x <= x0 + w && y >= y0 && y <= y0 + h;
}

/* Where a panel's legend goes: the requested corner, or the corner that covers
 * the fewest of its data points. */
static void place_legend(const nv_plot_figure *f, const nv_plot_panel *p, panel_layout *L,
                         cairo_t *m) {
    L->legend_w = 0;
    if (p->legend == NV_LEGEND_NONE || p == f->legend_from) return;
    legend_entry ent[MAX_LEGEND];
    int n = legend_entries(p, ent, MAX_LEGEND);
    if (n == 0) return;
    double tw = 0;
    for (int i = 0; i < n; i++) tw = NV_MAX(tw, text_width(m, ent[i].label, FS_LEGEND, 0));
    L->legend_w = 2 * PAD + LEGEND_SAMPLE + PAD + tw;
    L->legend_h = 2 * PAD + n * LEGEND_ROW - (LEGEND_ROW - FS_LEGEND) * 0.5;
    double inset = 5.0;
    double xs[4] = {L->x0 + L->w - inset - L->legend_w, L->x0 + inset,
                    L->x0 + L->w - inset - L->legend_w, L->x0 + inset};
    double ys[4] = {L->y0 + inset, L->y0 + inset, L->y0 + L->h - inset - L->legend_h,
                    L->y0 + L->h - inset - L->legend_h};
    int best = 0;
    switch (p->legend) {
    case NV_LEGEND_UPPER_RIGHT: best = 0; break;
    case NV_LEGEND_UPPER_LEFT: best = 1; break;
    case NV_LEGEND_LOWER_RIGHT: best = 2; break;
    case NV_LEGEND_LOWER_LEFT: best = 3; break;
    default: {
        int64_t least = INT64_MAX;
        for (int c = 0; c < 4; c++) {
            int64_t hits = 0;
            for (int k = 0; k < p->n_series; k++) {
                const series *s = &p->s[k];
                if (s->kind == S_HEATMAP || s->kind == S_REFLINE) continue;
                for (int64_t i = 0; i < s->n; i++) {
                    double y = s->y[i];
                    if (s->kind == S_DIAGRAM && y == INFINITY && !isnan(L->inf_y)) y = L->inf_y;
                    if (s->kind == S_BARCODE) y = (double)i;
                    if (!isfinite(s->x[i]) || !isfinite(y)) continue;
                    hits += point_in(map_x(L, s->x[i]), map_y(L, y), xs[c], ys[c], L->legend_w,
                                     L->legend_h);
                }
            }
            if (hits < least) {
                least = hits;
                best = c;
            }
        }
    }
    }
    L->legend_x = xs[best];
    L->legend_y = ys[best];
}

static double axis_label_width(cairo_t *m, const axis *a) {
    double w = 0;
    for (int i = 0; i < a->n; i++) w = NV_MAX(w, text_width(m, a->lab[i], FS_TICK, 0));
    return w;
}

/* The figure legend strip: how many rows its entries need at this width. */
static int strip_rows(cairo_t *m, const legend_entry *ent, int n, double width) {
    int rows = n > 0;
    double x = 0;
    for (int i = 0; i < n; i++) {
        double w = LEGEND_SAMPLE + PAD + text_width(m, ent[i].label, FS_LEGEND, 0) + 3 * PAD;
        if (x > 0 && x + w > width) {
            rows++;
            x = 0;
        }
        x += w;
    }
    return rows;
}

static nv_status compute_layout(const nv_plot_figure *f, figure_layout *FL, nv_error *err) {
    int np = f->rows * f->cols;
    FL->p = nv_calloc((size_t)np, sizeof *FL->p, err);
    extent *ext = nv_calloc((size_t)np, sizeof *ext, err);
    cairo_surface_t *ms = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1);
    cairo_t *m = cairo_create(ms);
    nv_status st = NV_OK;
    if (!FL->p || !ext || cairo_status(m) != CAIRO_STATUS_SUCCESS) {
        st = nv_fail(err, NV_ENOMEM, "plot: cannot allocate the layout");
        goto done;
    }
    set_font_options(m);
    for (int i = 0; i < np; i++) ext[i] = panel_extent(&f->panels[i]);
    for (int i = 0; i < np; i++) panel_axes(f, i, ext, &FL->p[i]);

    /* Margins are the same for every panel, so the plot areas of a grid line up. */
    int any_title = 0, any_xlabel = 0, any_ylabel = 0;
    double ytick_w = 0;
    for (int i = 0; i < np; i++) {
        const nv_plot_panel *p = &f->panels[i];
        any_title |= p->title[0] != 0;
        any_xlabel |= p->xlabel[0] != 0;
        any_ylabel |= p->ylabel[0] != 0;
        if (!FL->p[i].no_yticks) ytick_w = NV_MAX(ytick_w, axis_label_width(m, &FL->p[i].ya));
    }
    double left = PAD + (any_ylabel ? FS_LABEL * 1.25 + PAD : 0) + ytick_w + TICK_LEN + 3;
    double bottom = TICK_LEN + 2 + FS_TICK * 1.25 + (any_xlabel ? FS_LABEL * 1.3 + 2 : 0) + PAD;
    /* Panel titles wrap to their cell (less a gap to the neighbour); the band above
     * the plot areas takes the most lines any panel needs. */
    int title_lines = any_title ? 1 : 0;
    double cell_w0 = (f->width - 2 * PAD) / f->cols;
    for (int i = 0; i < np; i++) {
        panel_layout *L = &FL->p[i];
        double widest, avail = cell_w0 - 2 * PAD;
        L->title_fs = FS_TITLE;
        L->title_n = wrap_text(m, f->panels[i].title, L->title_fs, 1, avail, L->title_lines, &widest);
        if (widest > avail) L->title_fs *= avail / widest;
        title_lines = NV_MAX(title_lines, L->title_n);
    }
    double top = title_lines ? FS_TITLE * (0.4 + 1.2 * title_lines) + 2 : 2 * PAD;
    double right = 2.5 * PAD;

    /* The figure title: wrapped to the width, and smaller where one word is still
     * too wide (a title is never clipped). */
    {
        double avail = f->width - 4 * PAD, widest;
        FL->title_fs = FS_FIG_TITLE;
        FL->title_n = wrap_text(m, f->title, FL->title_fs, 1, avail, FL->title_lines, &widest);
        if (widest > avail) FL->title_fs *= avail / widest;
        FL->title_h = FL->title_n ? FL->title_fs * (0.8 + 1.2 * FL->title_n) : PAD;
    }
    FL->legend_h = 0;
    if (f->legend_from) {
        legend_entry ent[MAX_LEGEND];
        int n = legend_entries(f->legend_from, ent, MAX_LEGEND);
        int rows = strip_rows(m, ent, n, f->width - 4 * PAD);
        FL->legend_h = rows > 0 ? rows * LEGEND_ROW + 2 * PAD : 0;
    }
    FL->legend_y = f->height - FL->legend_h;
    double cell_w = (f->width - 2 * PAD) / f->cols;
    double cell_h = (f->height - FL->title_h - FL->legend_h) / f->rows;
    for (int r = 0; r < f->rows; r++)
        for (int c = 0; c < f->cols; c++) {
            int i = r * f->cols + c;
            panel_layout *L = &FL->p[i];
            double extra_right = 0;
            if (L->heat) {
                extra_right = CBAR_GAP + CBAR_W + TICK_LEN + 3 + axis_label_width(m, &L->ca) +
                              (L->heat->label[0] ? FS_LABEL * 1.3 + PAD : 0);
            }
            L->x0 = PAD + c * cell_w + left;
            L->y0 = FL->title_h + r * cell_h + top;
            L->w = cell_w - left - right - extra_right;
            L->h = cell_h - top - bottom;
            /* centred over the plot area, moved into the cell where it would cross it */
            double tw = 0;
            for (int k = 0; k < L->title_n; k++)
                tw = NV_MAX(tw, text_width(m, L->title_lines[k], L->title_fs, 1));
            double lo = PAD + c * cell_w + PAD + tw / 2, hi = PAD + (c + 1) * cell_w - PAD - tw / 2;
            L->title_x = NV_MIN(NV_MAX(L->x0 + L->w / 2, lo), NV_MAX(lo, hi));
            if (L->w < 10 || L->h < 10) {
                st = nv_fail(err, NV_EINPUT, "plot: panel (%d, %d) has %.0f x %.0f pt left for "
                             "data after labels; make the figure larger or the grid smaller",
                             r, c, L->w, L->h);
                goto done;
            }
            place_legend(f, &f->panels[i], L, m);
        }
done:
    free(ext);
    cairo_destroy(m);
    cairo_surface_destroy(ms);
    if (st != NV_OK) {
        free(FL->p);
        FL->p = NULL;
    }
    return st;
}

nv_status nv_plot_data_to_device(const nv_plot_figure *f, const nv_plot_panel *p, double x,
                                 double y, double *dev_x, double *dev_y, nv_error *err) {
    if (!f || !p || !dev_x || !dev_y)
        return nv_fail(err, NV_EINPUT, "nv_plot_data_to_device: NULL argument");
    int idx = (int)(p - f->panels);
    if (idx < 0 || idx >= f->rows * f->cols)
        return nv_fail(err, NV_EINPUT, "nv_plot_data_to_device: the panel is not in this figure");
    figure_layout FL;
    nv_status st = compute_layout(f, &FL, err);
    if (st != NV_OK) return st;
    *dev_x = map_x(&FL.p[idx], x);
    *dev_y = map_y(&FL.p[idx], y);
    free(FL.p);
    return NV_OK;
}

/* ---- drawing ------------------------------------------------------------------------------ */

static void set_color(cairo_t *cr, nv_plot_color c) { cairo_set_source_rgb(cr, c.r, c.g, c.b); }

/* Text anchored at (x, y): ha 0/0.5/1 = left/centre/right, va 0/0.5/1 = top/middle/
 * bottom of the font's line box, rotated by `angle` radians around the anchor. */
static void draw_text(cairo_t *cr, double x, double y, const char *s, double size, int bold,
                      double ha, double va, double angle) {
    if (!s || !s[0]) return;
    set_font(cr, size, bold);
    cairo_text_extents_t te;
    cairo_font_extents_t fe;
    cairo_text_extents(cr, s, &te);
    cairo_font_extents(cr, &fe);
    cairo_save(cr);
    cairo_translate(cr, x, y);
    cairo_rotate(cr, angle);
    double line = fe.ascent + fe.descent;
    cairo_move_to(cr, -ha * te.x_advance, fe.ascent - va * line);
    cairo_show_text(cr, s);
    cairo_new_path(cr);
    cairo_restore(cr);
}

static void marker_path(cairo_t *cr, nv_plot_marker mk, double x, double y, double r) {
    switch (mk) {
    case NV_MARKER_SQUARE: {
        double a = r * 0.88;
        cairo_rectangle(cr, x - a, y - a, 2 * a, 2 * a);
        break;
    }
    case NV_MARKER_TRIANGLE:
    case NV_MARKER_TRIANGLE_DOWN: {
        double s = mk == NV_MARKER_TRIANGLE ? 1 : -1, a = r * 1.2;
        cairo_move_to(cr, x, y - s * a);
        cairo_line_to(cr, x + a * 0.866, y + s * a * 0.5);
        cairo_line_to(cr, x - a * 0.866, y + s * a * 0.5);
        cairo_close_path(cr);
        break;
    }
    case NV_MARKER_DIAMOND: {
        double a = r * 1.2;
        cairo_move_to(cr, x, y - a);
        cairo_line_to(cr, x + a * 0.8, y);
        cairo_line_to(cr, x, y + a);
        cairo_line_to(cr, x - a * 0.8, y);
        cairo_close_path(cr);
        break;
    }
    case NV_MARKER_HEXAGON:
        for (int k = 0; k < 6; k++) {
            double t = M_PI / 6 + k * M_PI / 3;
            if (k == 0) cairo_move_to(cr, x + r * cos(t), y + r * sin(t));
            else cairo_line_to(cr, x + r * cos(t), y + r * sin(t));
        }
        cairo_close_path(cr);
        break;
    default:
        cairo_new_sub_path(cr);
        cairo_arc(cr, x, y, r, 0, 2 * M_PI);
        cairo_close_path(cr);
        break;
    }
}

/* One filled path per marker: simple to count in an SVG, and markers that overlap
 * stay individually visible under the later ones. */
static void draw_marker(cairo_t *cr, nv_plot_marker mk, double x, double y, double r,
                        nv_plot_color c) {
    if (mk == NV_MARKER_NONE || mk == NV_MARKER_AUTO) return;
    marker_path(cr, mk, x, y, r);
    set_color(cr, c);
    cairo_fill(cr);
}

static void set_line(cairo_t *cr, double width, int dashed) {
    cairo_set_line_width(cr, width);
    static const double dash[2] = {4.0, 3.0};
    cairo_set_dash(cr, dash, dashed ? 2 : 0, 0);
}

static void draw_series_points(cairo_t *cr, const panel_layout *L, const series *s) {
    /* error bars first, under the line and markers: y +- yerr, with caps */
    for (int64_t i = 0; s->yerr && i < s->n; i++) {
        if (!isfinite(s->x[i]) || !isfinite(s->y[i]) || !isfinite(s->yerr[i])) continue;
        double px = map_x(L, s->x[i]), lo = map_y(L, s->y[i] - fabs(s->yerr[i])),
               hi = map_y(L, s->y[i] + fabs(s->yerr[i])), cap = 3.0;
        cairo_move_to(cr, px, lo);
        cairo_line_to(cr, px, hi);
        cairo_move_to(cr, px - cap, lo);
        cairo_line_to(cr, px + cap, lo);
        cairo_move_to(cr, px - cap, hi);
        cairo_line_to(cr, px + cap, hi);
    }
    if (s->yerr) {
        set_color(cr, s->color);
        set_line(cr, 1.0, 0);
        cairo_stroke(cr);
    }
    if (s->line_width > 0 && s->kind == S_LINE) {
        int pen = 0;
        for (int64_t i = 0; i < s->n; i++) {
            if (!isfinite(s->x[i]) || !isfinite(s->y[i])) {
                pen = 0;
                continue;
            }
            double px = map_x(L, s->x[i]), py = map_y(L, s->y[i]);
            if (pen) cairo_line_to(cr, px, py);
            else cairo_move_to(cr, px, py);
            pen = 1;
        }
        set_color(cr, s->color);
        set_line(cr, s->line_width, s->dashed);
        cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
        cairo_stroke(cr);
        set_line(cr, 1, 0);
    }
    for (int64_t i = 0; i < s->n; i++) {
        if (!isfinite(s->x[i]) || !isfinite(s->y[i])) continue;
        nv_plot_color c = s->kind == S_CLASSES ? nv_plot_palette(s->cls[i]) : s->color;
        draw_marker(cr, s->marker, map_x(L, s->x[i]), map_y(L, s->y[i]), s->marker_size, c);
    }
}

static void draw_refline(cairo_t *cr, const panel_layout *L, const series *s) {
    if (s->vertical) {
        double x = map_x(L, s->at);
        cairo_move_to(cr, x, L->y0);
        cairo_line_to(cr, x, L->y0 + L->h);
    } else {
        double y = map_y(L, s->at);
        cairo_move_to(cr, L->x0, y);
        cairo_line_to(cr, L->x0 + L->w, y);
    }
    set_color(cr, s->color);
    set_line(cr, s->line_width, s->dashed);
    cairo_stroke(cr);
    set_line(cr, 1, 0);
}

static void draw_diagram(cairo_t *cr, const panel_layout *L, const series *s) {
    /* the diagonal, then the infinity line, then the points on top */
    double lo = NV_MAX(L->xa.lo, L->ya.lo), hi = NV_MIN(L->xa.hi, L->ya.hi);
    cairo_move_to(cr, map_x(L, lo), map_y(L, lo));
    cairo_line_to(cr, map_x(L, hi), map_y(L, hi));
    cairo_set_source_rgb(cr, 0.55, 0.55, 0.55);
    set_line(cr, 0.8, 0);
    cairo_stroke(cr);
    if (!isnan(L->inf_y)) {
        double y = map_y(L, L->inf_y);
        cairo_move_to(cr, L->x0, y);
        cairo_line_to(cr, L->x0 + L->w, y);
        cairo_set_source_rgb(cr, 0.55, 0.55, 0.55);
        set_line(cr, 0.8, 1);
        cairo_stroke(cr);
        set_line(cr, 1, 0);
    }
    for (int64_t i = 0; i < s->n; i++) {
        double x = s->x[i] == -INFINITY ? L->xa.lo : s->x[i];
        double y = s->y[i] == INFINITY ? L->inf_y : s->y[i];
        draw_marker(cr, auto_marker(s->cls[i]), map_x(L, x), map_y(L, y), s->marker_size,
                    nv_plot_palette(s->cls[i]));
    }
}

static int cmp_bar_index(const void *a, const void *b, void *ctx) {
    const series *s = ctx;
    int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
    if (s->cls[i] != s->cls[j]) return s->cls[i] - s->cls[j];
    if (s->x[i] != s->x[j]) return (s->x[i] > s->x[j]) - (s->x[i] < s->x[j]);
    if (s->y[i] != s->y[j]) return (s->y[i] > s->y[j]) - (s->y[i] < s->y[j]);
    return (i > j) - (i < j);
}

static void draw_barcode(cairo_t *cr, const panel_layout *L, const series *s) {
    if (s->n == 0) return;
    int64_t *order = malloc((size_t)s->n * sizeof *order);
    if (!order) return; /* drawing is best effort; the save reports cairo's status */
    for (int64_t i = 0; i < s->n; i++) order[i] = i;
    qsort_r(order, (size_t)s->n, sizeof *order, cmp_bar_index, (void *)s);
    double thick = NV_MIN(3.0, 0.7 * L->h / (double)s->n);
    if (thick < 0.4) thick = 0.4;
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);
    for (int64_t k = 0; k < s->n; k++) {
        int64_t i = order[k];
        double y = map_y(L, (double)k);
        double x0 = map_x(L, s->x[i] == -INFINITY ? L->xa.lo : s->x[i]);
        int ess = s->y[i] == INFINITY;
        double x1 = ess ? L->x0 + L->w - 1 : map_x(L, s->y[i]);
        if (x1 - x0 < 0.6) x1 = x0 + 0.6; /* a bar on the diagonal stays visible */
        nv_plot_color c = nv_plot_palette(s->cls[i]);
        set_color(cr, c);
        cairo_set_line_width(cr, thick);
        cairo_move_to(cr, x0, y);
        cairo_line_to(cr, ess ? x1 - 4 : x1, y);
        cairo_stroke(cr);
        if (ess) { /* an arrowhead: this bar never dies */
            double a = NV_MAX(thick, 2.0);
            cairo_move_to(cr, x1, y);
            cairo_line_to(cr, x1 - 5, y - a);
            cairo_line_to(cr, x1 - 5, y + a);
            cairo_close_path(cr);
            cairo_fill(cr);
        }
    }
    free(order);
}

static void draw_heatmap(cairo_t *cr, const panel_layout *L, const series *s) {
    double cw = L->w / (L->xa.hi - L->xa.lo), ch = L->h / (L->ya.hi - L->ya.lo);
    for (int i = 0; i < s->rows; i++)
        for (int j = 0; j < s->cols; j++) {
            double v = s->y[(int64_t)i * s->cols + j];
            double x = map_x(L, j - 0.5), y = map_y(L, i - 0.5);
            /* cells overlap by a hair so no background seam shows between them */
            cairo_rectangle(cr, x, y, cw + 0.3, ch + 0.3);
            if (isnan(v)) cairo_set_source_rgb(cr, 0.85, 0.85, 0.85);
            else set_color(cr, nv_plot_viridis((v - s->vmin) / (s->vmax - s->vmin)));
            cairo_fill(cr);
        }
}

static void draw_colorbar(cairo_t *cr, const panel_layout *L) {
    const series *s = L->heat;
    double x = L->x0 + L->w + CBAR_GAP, y0 = L->y0, h = L->h;
    cairo_pattern_t *g = cairo_pattern_create_linear(0, y0 + h, 0, y0);
    for (int k = 0; k <= 16; k++) {
        nv_plot_color c = nv_plot_viridis(k / 16.0);
        cairo_pattern_add_color_stop_rgb(g, k / 16.0, c.r, c.g, c.b);
    }
    cairo_rectangle(cr, x, y0, CBAR_W, h);
    cairo_set_source(cr, g);
    cairo_fill(cr);
    cairo_pattern_destroy(g);
    cairo_rectangle(cr, x, y0, CBAR_W, h);
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_set_line_width(cr, 0.6);
    cairo_stroke(cr);
    double wmax = 0;
    for (int i = 0; i < L->ca.n; i++) {
        double t = (L->ca.at[i] - s->vmin) / (s->vmax - s->vmin);
        double y = y0 + h - t * h;
        cairo_move_to(cr, x + CBAR_W, y);
        cairo_line_to(cr, x + CBAR_W + TICK_LEN, y);
        cairo_stroke(cr);
        draw_text(cr, x + CBAR_W + TICK_LEN + 2, y, L->ca.lab[i], FS_TICK, 0, 0, 0.5, 0);
        wmax = NV_MAX(wmax, text_width(cr, L->ca.lab[i], FS_TICK, 0));
    }
    if (s->label[0]) {
        cairo_set_source_rgb(cr, 0, 0, 0);
        /* reads bottom to top, like the y label */
        draw_text(cr, x + CBAR_W + TICK_LEN + 2 + wmax + PAD, y0 + h / 2, s->label, FS_LABEL, 0,
                  0.5, 0, -M_PI / 2);
    }
}

static void draw_legend_sample(cairo_t *cr, const legend_entry *e, double x, double y) {
    if (e->line_width > 0) {
        cairo_move_to(cr, x, y);
        cairo_line_to(cr, x + LEGEND_SAMPLE, y);
        set_color(cr, e->color);
        set_line(cr, e->line_width, e->dashed);
        cairo_stroke(cr);
        set_line(cr, 1, 0);
    }
    draw_marker(cr, e->marker, x + LEGEND_SAMPLE / 2, y, e->marker_size, e->color);
}

static void draw_panel_legend(cairo_t *cr, const nv_plot_panel *p, const panel_layout *L) {
    if (L->legend_w <= 0) return;
    legend_entry ent[MAX_LEGEND];
    int n = legend_entries(p, ent, MAX_LEGEND);
    cairo_rectangle(cr, L->legend_x, L->legend_y, L->legend_w, L->legend_h);
    cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.75, 0.75, 0.75);
    cairo_set_line_width(cr, 0.6);
    cairo_stroke(cr);
    for (int i = 0; i < n; i++) {
        double y = L->legend_y + PAD + (i + 0.5) * LEGEND_ROW - (LEGEND_ROW - FS_LEGEND) * 0.25;
        draw_legend_sample(cr, &ent[i], L->legend_x + PAD, y);
        cairo_set_source_rgb(cr, 0, 0, 0);
        draw_text(cr, L->legend_x + PAD + LEGEND_SAMPLE + PAD, y, ent[i].label, FS_LEGEND, 0, 0,
                  0.5, 0);
    }
}

static void draw_figure_legend(cairo_t *cr, const nv_plot_figure *f, const figure_layout *FL) {
    legend_entry ent[MAX_LEGEND];
    int n = legend_entries(f->legend_from, ent, MAX_LEGEND);
    double width = f->width - 4 * PAD;
    /* rows laid out left to right, each row centred */
    int i = 0, row = 0;
    while (i < n) {
        double rw = 0;
        int j = i;
        while (j < n) {
            double w = LEGEND_SAMPLE + PAD + text_width(cr, ent[j].label, FS_LEGEND, 0) + 3 * PAD;
            if (j > i && rw + w > width) break;
            rw += w;
            j++;
        }
        double x = (f->width - rw) / 2, y = FL->legend_y + PAD + (row + 0.5) * LEGEND_ROW;
        for (int k = i; k < j; k++) {
            draw_legend_sample(cr, &ent[k], x, y);
            cairo_set_source_rgb(cr, 0, 0, 0);
            draw_text(cr, x + LEGEND_SAMPLE + PAD, y, ent[k].label, FS_LEGEND, 0, 0, 0.5, 0);
            x += LEGEND_SAMPLE + PAD + text_width(cr, ent[k].label, FS_LEGEND, 0) + 3 * PAD;
        }
        i = j;
        row++;
    }
}

static void draw_panel(cairo_t *cr, const nv_plot_panel *p, const panel_layout *L) {
    /* light grid at the y ticks, behind the data */
    cairo_set_line_width(cr, 0.5);
    cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
    if (!L->heat)
        for (int i = 0; i < L->ya.n; i++) {
            if (!isnan(L->inf_y) && L->ya.at[i] == L->inf_y) continue;
            double y = map_y(L, L->ya.at[i]);
            if (y < L->y0 || y > L->y0 + L->h) continue;
            cairo_move_to(cr, L->x0, y);
            cairo_line_to(cr, L->x0 + L->w, y);
            cairo_stroke(cr);
        }

    cairo_save(cr);
    cairo_rectangle(cr, L->x0, L->y0, L->w, L->h);
    cairo_clip(cr);
    /* heat maps and reference lines first, points last, so nothing hides a point */
    for (int k = 0; k < p->n_series; k++)
        if (p->s[k].kind == S_HEATMAP) draw_heatmap(cr, L, &p->s[k]);
    for (int k = 0; k < p->n_series; k++)
        if (p->s[k].kind == S_REFLINE) draw_refline(cr, L, &p->s[k]);
    for (int k = 0; k < p->n_series; k++) {
        const series *s = &p->s[k];
        switch (s->kind) {
        case S_LINE:
        case S_SCATTER:
        case S_CLASSES: draw_series_points(cr, L, s); break;
        case S_DIAGRAM: draw_diagram(cr, L, s); break;
        case S_BARCODE: draw_barcode(cr, L, s); break;
        default: break;
        }
    }
    cairo_restore(cr);

    /* frame, ticks, tick labels */
    cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
    cairo_set_line_width(cr, 0.8);
    cairo_rectangle(cr, L->x0, L->y0, L->w, L->h);
    cairo_stroke(cr);
    for (int i = 0; i < L->xa.n; i++) {
        double x = map_x(L, L->xa.at[i]);
        if (x < L->x0 - 0.01 || x > L->x0 + L->w + 0.01) continue;
        cairo_move_to(cr, x, L->y0 + L->h);
        cairo_line_to(cr, x, L->y0 + L->h + TICK_LEN);
        cairo_stroke(cr);
        draw_text(cr, x, L->y0 + L->h + TICK_LEN + 2, L->xa.lab[i], FS_TICK, 0, 0.5, 0, 0);
    }
    for (int i = 0; !L->no_yticks && i < L->ya.n; i++) {
        double y = map_y(L, L->ya.at[i]);
        if (y < L->y0 - 0.01 || y > L->y0 + L->h + 0.01) continue;
        cairo_move_to(cr, L->x0 - TICK_LEN, y);
        cairo_line_to(cr, L->x0, y);
        cairo_stroke(cr);
        int inf = !isnan(L->inf_y) && L->ya.at[i] == L->inf_y;
        draw_text(cr, L->x0 - TICK_LEN - 2, y, L->ya.lab[i], inf ? FS_TICK * 1.3 : FS_TICK, 0, 1,
                  0.5, 0);
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    for (int k = 0; k < L->title_n; k++)
        draw_text(cr, L->title_x, L->y0 - FS_TITLE * (1.5 + 1.2 * (L->title_n - 1 - k)), L->title_lines[k],
                  L->title_fs, 1, 0.5, 0, 0);
    draw_text(cr, L->x0 + L->w / 2, L->y0 + L->h + TICK_LEN + 2 + FS_TICK * 1.25 + 2, p->xlabel,
              FS_LABEL, 0, 0.5, 0, 0);
    if (p->ylabel[0]) {
        /* just left of the widest tick label of this panel */
        double tw = L->no_yticks ? 0 : axis_label_width(cr, &L->ya);
        draw_text(cr, L->x0 - TICK_LEN - 4 - tw - PAD, L->y0 + L->h / 2, p->ylabel, FS_LABEL, 0,
                  0.5, 1, -M_PI / 2);
    }
    if (L->heat) draw_colorbar(cr, L);
    draw_panel_legend(cr, p, L);
}

static void render(cairo_t *cr, const nv_plot_figure *f, const figure_layout *FL) {
    set_font_options(cr);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    for (int k = 0; k < FL->title_n; k++)
        draw_text(cr, f->width / 2, FL->title_fs * (0.5 + 1.2 * k), FL->title_lines[k], FL->title_fs, 1, 0.5, 0, 0);
    for (int i = 0; i < f->rows * f->cols; i++) draw_panel(cr, &f->panels[i], &FL->p[i]);
    if (f->legend_from && FL->legend_h > 0) draw_figure_legend(cr, f, FL);
}

/* ---- saving ---------------------------------------------------------------------------------- */

static cairo_status_t write_chunk(void *closure, const unsigned char *data, unsigned int len) {
    return fwrite(data, 1, len, (FILE *)closure) == len ? CAIRO_STATUS_SUCCESS
                                                       : CAIRO_STATUS_WRITE_ERROR;
}

/* The SVG is built in memory first: cairo names each surface "surface<N>" from a
 * process-wide counter, so the same figure saved twice would differ in those
 * names. Renumbering them in order of appearance makes the bytes depend only on
 * the figure. */
typedef struct {
    char *data;
    size_t len, cap;
    int failed;
} membuf;

static cairo_status_t write_mem(void *closure, const unsigned char *data, unsigned int len) {
    membuf *b = closure;
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + len + 1) cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) {
            b->failed = 1;
            return CAIRO_STATUS_NO_MEMORY;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return CAIRO_STATUS_SUCCESS;
}

static int write_svg_renumbered(FILE *fp, const membuf *b) {
    enum { MAX_IDS = 64 };
    long seen[MAX_IDS];
    int n_seen = 0;
    const char *p = b->data, *end = b->data + b->len;
    static const char key[] = "surface";
    while (p < end) {
        const char *q = strstr(p, key);
        if (!q) q = end;
        if (fwrite(p, 1, (size_t)(q - p), fp) != (size_t)(q - p)) return 0;
        if (q == end) break;
        const char *num = q + sizeof key - 1;
        char *after;
        long id = strtol(num, &after, 10);
        if (after == num) { /* "surface" not followed by a number: copy as is */
            if (fwrite(q, 1, sizeof key - 1, fp) != sizeof key - 1) return 0;
            p = num;
            continue;
        }
        int k = 0;
        while (k < n_seen && seen[k] != id) k++;
        if (k == n_seen && n_seen < MAX_IDS) seen[n_seen++] = id;
        if (fprintf(fp, "%s%d", key, k + 1) < 0) return 0;
        p = after;
    }
    return 1;
}

static int has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

nv_status nv_plot_save(const nv_plot_figure *f, const char *path, nv_error *err) {
    if (!f || !path) return nv_fail(err, NV_EINPUT, "nv_plot_save: NULL argument");
    enum { PNG, SVG, PDF } fmt;
    if (has_suffix(path, ".png")) fmt = PNG;
    else if (has_suffix(path, ".svg")) fmt = SVG;
    else if (has_suffix(path, ".pdf")) fmt = PDF;
    else return nv_fail(err, NV_EINPUT, "%s: expected a file name ending in .png, .svg or .pdf", path);

    figure_layout FL;
    nv_status st = compute_layout(f, &FL, err);
    if (st != NV_OK) {
        nv_error_prefix(err, "%s: ", path);
        return st;
    }
    nv_outfile out = {0};
    FILE *fp = NULL;
    cairo_surface_t *surf = NULL;
    cairo_t *cr = NULL;
    membuf svg = {0};
    st = nv_outfile_open(&out, path, err);
    if (st != NV_OK) goto done;
    fp = out.fp;
    if (fmt == PNG) {
        int w = (int)ceil(f->width * f->png_scale), h = (int)ceil(f->height * f->png_scale);
        surf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h);
    } else if (fmt == SVG) {
        surf = cairo_svg_surface_create_for_stream(write_mem, &svg, f->width, f->height);
    } else {
        surf = cairo_pdf_surface_create_for_stream(write_chunk, fp, f->width, f->height);
        /* no creation date, so the same figure is the same bytes */
        cairo_pdf_surface_set_metadata(surf, CAIRO_PDF_METADATA_CREATE_DATE, "");
    }
    cr = cairo_create(surf);
    if (fmt == PNG) cairo_scale(cr, f->png_scale, f->png_scale);
    render(cr, f, &FL);
    cairo_status_t cs = cairo_status(cr);
    cairo_destroy(cr);
    if (cs == CAIRO_STATUS_SUCCESS) {
        if (fmt == PNG) cs = cairo_surface_write_to_png_stream(surf, write_chunk, fp);
        else cairo_surface_finish(surf);
        if (cs == CAIRO_STATUS_SUCCESS) cs = cairo_surface_status(surf);
    }
    cairo_surface_destroy(surf);
    if (svg.failed && cs == CAIRO_STATUS_SUCCESS) cs = CAIRO_STATUS_NO_MEMORY;
    if (cs != CAIRO_STATUS_SUCCESS) {
        nv_outfile_abort(&out);
        st = nv_fail(err, NV_EIO, "%s: cairo failed drawing the figure: %s", path,
                     cairo_status_to_string(cs));
    } else if (fmt == SVG && !write_svg_renumbered(fp, &svg)) {
        st = nv_fail(err, NV_EIO, "%s: cannot write the figure: %s", path, strerror(errno));
        nv_outfile_abort(&out);
    } else {
        st = nv_outfile_commit(&out, err);
    }
done:
    free(svg.data);
    free(FL.p);
    return st;
}

/* ---- previews ------------------------------------------------------------------------ */

typedef struct {
    unsigned char *buf;
    size_t len, cap;
} mem_png;

static cairo_status_t mem_chunk(void *closure, const unsigned char *data, unsigned int len) {
    mem_png *m = closure;
    if (m->len + len > m->cap) {
        size_t cap = NV_MAX(m->cap * 2, m->len + len + 65536);
        unsigned char *nb = realloc(m->buf, cap);
        if (!nb) return CAIRO_STATUS_NO_MEMORY;
        m->buf = nb;
        m->cap = cap;
    }
    memcpy(m->buf + m->len, data, len);
    m->len += len;
    return CAIRO_STATUS_SUCCESS;
}

nv_status nv_plot_png_preview(const char *path, int max_width, unsigned char **out, size_t *len, int *width,
                              int *height, nv_error *err) {
    *out = NULL;
    *len = 0;
    cairo_surface_t *src = cairo_image_surface_create_from_png(path);
    if (cairo_surface_status(src) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(src);
        return nv_fail(err, NV_EINPUT, "%s: not a PNG file cairo can read", path);
    }
    int w = cairo_image_surface_get_width(src), h = cairo_image_surface_get_height(src);
    double k = w > max_width && max_width > 0 ? (double)max_width / w : 1.0;
    int tw = NV_MAX(1, (int)lround(w * k)), th = NV_MAX(1, (int)lround(h * k));
    cairo_surface_t *dst = cairo_image_surface_create(CAIRO_FORMAT_RGB24, tw, th);
    cairo_t *cr = cairo_create(dst);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_scale(cr, k, k);
    cairo_set_source_surface(cr, src, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_GOOD);
    cairo_paint(cr);
    cairo_destroy(cr);
    mem_png m = {0};
    cairo_status_t cs = cairo_surface_write_to_png_stream(dst, mem_chunk, &m);
    cairo_surface_destroy(dst);
    cairo_surface_destroy(src);
    if (cs != CAIRO_STATUS_SUCCESS) {
        free(m.buf);
        return nv_fail(err, NV_ENOMEM, "%s: cannot make a preview (%s)", path, cairo_status_to_string(cs));
    }
    *out = m.buf;
    *len = m.len;
    if (width) *width = tw;
    if (height) *height = th;
    return NV_OK;
}

void nv_plot_release_caches(void) {
    cairo_debug_reset_static_data();
    /* fontconfig's own configuration outlives cairo's reset. It is loaded as a
     * dependency of cairo, so it is looked up rather than linked for. */
    void (*fc_fini)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "FcFini");
    if (fc_fini) fc_fini();
}

/* ---- the study's chart ------------------------------------------------------------------------- */

nv_status nv_plot_betti_figure(const nv_plot_betti_grid *g, nv_plot_figure **out, nv_error *err) {
    if (out) *out = NULL;
    if (!g || !out || g->n_models < 1 || g->n_groups < 1 || g->n_dims < 1 || g->n_epochs < 1 ||
        g->n_layers < 1 || !g->betti || !g->epochs || g->n_dims > 9)
        return nv_fail(err, NV_EINPUT, "nv_plot_betti_figure: expected >= 1 model, group, epoch "
                       "and layer, 1..9 dimensions, epochs and values");
    int rows = g->n_groups, cols = g->n_dims * g->n_models;
    if (rows > 64 || cols > 64 || g->n_layers > MAX_TICKS)
        return nv_fail(err, NV_EINPUT, "nv_plot_betti_figure: at most 64 groups, 64 panel columns "
                       "and %d layers, found %d, %d and %d", MAX_TICKS, rows, cols, g->n_layers);
    nv_plot_figure *f = NULL;
    double w = 40 + 195.0 * cols, h = (g->title ? 30 : 8) + 150.0 * rows + 16 + 13.0 * (1 + g->n_epochs / 8);
    nv_status st = nv_plot_figure_new(rows, cols, w, h, &f, err);
    if (st != NV_OK) return st;
    nv_plot_figure_set_title(f, g->title);
    double *x = nv_malloc((size_t)g->n_layers * sizeof *x, err);
    const char **ticks = nv_malloc((size_t)g->n_layers * sizeof *ticks, err);
    char (*names)[16] = nv_malloc((size_t)g->n_layers * sizeof *names, err);
    if (!x || !ticks || !names) {
        st = NV_ENOMEM;
        goto done;
    }
    for (int l = 0; l < g->n_layers; l++) {
        x[l] = l;
        if (g->layer_names && g->layer_names[l]) ticks[l] = g->layer_names[l];
        else {
            snprintf(names[l], sizeof names[l], "%d", l);
            ticks[l] = names[l];
        }
    }
    for (int gr = 0; gr < rows; gr++)
        for (int d = 0; d < g->n_dims; d++)
            for (int m = 0; m < g->n_models; m++) {
                nv_plot_panel *p = nv_plot_figure_panel(f, gr, d * g->n_models + m);
                char title[TEXT_LEN];
                const char *gname = g->group_names && g->group_names[gr] ? g->group_names[gr] : "";
                const char *mname = g->model_names && g->model_names[m] ? g->model_names[m] : "";
                /* beta with a subscript digit: U+03B2, U+2080 + d */
                snprintf(title, sizeof title, "%s%s%s \xce\xb2\xe2\x82%c", gname,
                         gname[0] ? " \xc2\xb7 " : "", mname, (char)(0x80 + d));
                nv_plot_panel_set_title(p, title);
                nv_plot_panel_set_integer_y(p, 1);
                nv_plot_panel_share_y(p, d + 1);
                nv_plot_panel_set_legend(p, NV_LEGEND_NONE);
                if (gr == rows - 1) nv_plot_panel_set_xlabel(p, "layer");
                if (d * g->n_models + m == 0) nv_plot_panel_set_ylabel(p, "Betti number");
                st = nv_plot_panel_set_xticks(p, x, ticks, g->n_layers, err);
                if (st != NV_OK) goto done;
                nv_plot_panel_set_xrange(p, -0.35, g->n_layers - 0.65);
                for (int e = 0; e < g->n_epochs; e++) {
                    size_t off = ((((size_t)m * g->n_groups + gr) * g->n_dims + d) * g->n_epochs + e) *
                                 g->n_layers;
                    nv_plot_style sty = {0};
                    sty.has_color = 1;
                    /* early epochs dark, late light; stop short of viridis' pale yellow */
                    sty.color = nv_plot_viridis(g->n_epochs > 1 ? 0.88 * e / (g->n_epochs - 1) : 0.0);
                    sty.marker = NV_MARKER_CIRCLE;
                    sty.marker_size = 2.6;
                    sty.line_width = 1.3;
                    char label[32];
                    snprintf(label, sizeof label, "epoch %d", g->epochs[e]);
                    st = nv_plot_line(p, label, x, g->betti + off, g->n_layers, &sty, err);
                    if (st != NV_OK) goto done;
                }
            }
    nv_plot_figure_set_legend_from(f, nv_plot_figure_panel(f, 0, 0));
done:
    free(x);
    free(ticks);
    free(names);
    if (st != NV_OK) {
        nv_plot_figure_free(f);
        f = NULL;
    }
    *out = f;
    return st;
}
