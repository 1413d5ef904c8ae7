/* features_plot.c: the figures of `nerve features`, drawn pixel by pixel on cairo
 * image surfaces (a feature image is data, not a chart, so plot.h's axes are not
 * used). Per unit one block: its feature image, its k most exciting real inputs
 * (a mosaic), and those inputs' projections by the deconvnet, guided
 * backpropagation and gradient rules (three mosaics in the same order); per layer
 * and epoch a grid of every unit's block, and the few units the report shows drawn
 * twice as large; per unit its feature image across epochs.
 *
 * Colours: images in grey from the box's lowest to its highest value (the same
 * scale for features and real inputs, so they compare); projections in a diverging
 * blue-white-red map with zero white, each scaled to its own largest |value| (the
 * shape is what a projection shows; its size follows the input's activation).
 * Vectors (the spheres' 12 coordinates) as bar glyphs: one bar per coordinate from
 * a zero line, (x - centre) over half the box width for features and inputs (a full
 * bar is a face of the box), the projection over its largest |value|; bars coloured
 * by the same diverging map. A unit whose ascent ended below its best real input is
 * framed in red and labelled "below data": what is shown is still the ascent's own
 * result.
 */
#include "nerve/features.h"
#include "nerve/fsutil.h"

#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/h5util.h"

typedef struct { double r, g, b; } rgb;

/* Blue (-1) - white (0) - red (+1), after ColorBrewer's RdBu end points. */
static rgb diverging(double t) {
    if (!(t == t)) return (rgb){0.8, 0.8, 0.8};
    t = t < -1 ? -1 : (t > 1 ? 1 : t);
    rgb end = t < 0 ? (rgb){0.13, 0.40, 0.67} : (rgb){0.70, 0.09, 0.17};
    double a = fabs(t);
    return (rgb){1 + a * (end.r - 1), 1 + a * (end.g - 1), 1 + a * (end.b - 1)};
}

typedef struct { double lo, hi; } range;

static range box_range(const nv_real *lo, const nv_real *hi, int64_t d) {
    range r = {lo[0], hi[0]};
    for (int64_t i = 1; i < d; i++) { r.lo = fmin(r.lo, lo[i]); r.hi = fmax(r.hi, hi[i]); }
    if (!(r.hi > r.lo)) r.hi = r.lo + 1;
    return r;
}

/* Fills a rectangle of the image surface behind cr directly (cairo_fill per
 * pixel of 128 units x 10 images x 784 pixels takes tens of seconds; this takes
 * milliseconds). Pixel coordinates, clipped to the surface. Between
 * cairo_surface_flush and cairo_surface_mark_dirty (begin_px / end_px). */
static void fill_px(cairo_t *cr, double x0, double y0, double w, double h, rgb c) {
    cairo_surface_t *s = cairo_get_target(cr);
    unsigned char *data = cairo_image_surface_get_data(s);
    int W = cairo_image_surface_get_width(s), H = cairo_image_surface_get_height(s);
    int stride = cairo_image_surface_get_stride(s);
    uint32_t px = 0xff000000u | (uint32_t)lround(c.r * 255) << 16 | (uint32_t)lround(c.g * 255) << 8 |
                  (uint32_t)lround(c.b * 255);
    int xa = (int)lround(x0), ya = (int)lround(y0), xb = (int)lround(x0 + w), yb = (int)lround(y0 + h);
    for (int y = ya < 0 ? 0 : ya; y < yb && y < H; y++) {
        uint32_t *row = (uint32_t *)(data + (size_t)y * stride);
        for (int x = xa < 0 ? 0 : xa; x < xb && x < W; x++) row[x] = px;
    }
}
static void begin_px(cairo_t *cr) { cairo_surface_flush(cairo_get_target(cr)); }
static void end_px(cairo_t *cr) { cairo_surface_mark_dirty(cairo_get_target(cr)); }

static const rgb MISSING = {0.85, 0.85, 0.85};

/* A grey image of v (h x w) at (x0, y0), `s` pixels per value. */
static void draw_grey(cairo_t *cr, const nv_real *v, int h, int w, range r, double x0, double y0,
                      double s) {
    begin_px(cr);
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) {
            double t = ((double)v[i * w + j] - r.lo) / (r.hi - r.lo);
            if (!(t == t)) { fill_px(cr, x0 + j * s, y0 + i * s, s, s, MISSING); continue; }
            t = t < 0 ? 0 : (t > 1 ? 1 : t);
            fill_px(cr, x0 + j * s, y0 + i * s, s, s, (rgb){t, t, t});
        }
    end_px(cr);
}

/* The largest |v_i| (0 when none is finite). */
static double max_abs(const nv_real *v, int64_t d) {
    double m = 0;
    for (int64_t i = 0; i < d; i++)
        if (fabs((double)v[i]) > m) m = fabs((double)v[i]);
    return m;
}

/* A diverging image of v (h x w), zero white, scaled to its own largest |value|, in
 * 8 shades a side: the eye cannot tell more apart, and a layer's grid of noisy
 * projections compresses several times smaller than with 256. */
static void draw_diverging(cairo_t *cr, const nv_real *v, int h, int w, double x0, double y0,
                           double s) {
    double m = max_abs(v, (int64_t)h * w);
    begin_px(cr);
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) {
            double t = m > 0 ? v[i * w + j] / m : 0.0;
            fill_px(cr, x0 + j * s, y0 + i * s, s, s, diverging(t == t ? round(t * 8) / 8 : t));
        }
    end_px(cr);
}

/* A bar glyph of v (d values) in the box (x0, y0, W, H): bar i from the zero line
 * (the middle) up or down by t_i = (v_i - c_i) / half_i (c, half NULL: v_i / the
 * largest |v|), clipped to [-1, 1], coloured by sign and size. */
static void draw_bars(cairo_t *cr, const nv_real *v, int64_t d, const nv_real *c, const nv_real *lo,
                      const nv_real *hi, double x0, double y0, double W, double H) {
    double m = c ? 1.0 : max_abs(v, d);
    double bw = W / (double)d, mid = y0 + H / 2;
    begin_px(cr);
    fill_px(cr, x0, y0, W, H, (rgb){0.97, 0.97, 0.97});
    for (int64_t i = 0; i < d; i++) {
        double t;
        if (c) {
            double half = 0.5 * ((double)hi[i] - lo[i]);
            t = half > 0 ? ((double)v[i] - c[i]) / half : 0.0;
        } else {
            t = m > 0 ? v[i] / m : 0.0;
        }
        if (!(t == t)) { fill_px(cr, x0 + i * bw, y0, bw, H, MISSING); continue; }
        t = t < -1 ? -1 : (t > 1 ? 1 : t);
        double len = fabs(t) * (H / 2 - 1);
        double gap = bw >= 3 ? 1 : 0;
        fill_px(cr, x0 + i * bw, t >= 0 ? mid - len : mid, bw - gap, len < 1 && t != 0 ? 1 : len,
                diverging(t));
    }
    fill_px(cr, x0, mid, W, 1, (rgb){0.55, 0.55, 0.55}); /* the zero line */
    end_px(cr);
}

static void text(cairo_t *cr, double x, double y, double size, const char *s, rgb c) {
    cairo_set_source_rgb(cr, c.r, c.g, c.b);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
    cairo_move_to(cr, x, y);
    cairo_show_text(cr, s);
}
static const rgb BLACK = {0, 0, 0}, RED = {0.80, 0.05, 0.05}, GREY = {0.35, 0.35, 0.35};

static void frame(cairo_t *cr, double x, double y, double w, double h, rgb c, double lw) {
    cairo_set_source_rgb(cr, c.r, c.g, c.b);
    cairo_set_line_width(cr, lw);
    cairo_rectangle(cr, x - lw / 2, y - lw / 2, w + lw, h + lw);
    cairo_stroke(cr);
}

static cairo_status_t png_chunk(void *fp, const unsigned char *data, unsigned int len) {
    return fwrite(data, 1, len, fp) == len ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

/* Writes the surface to png_path crash-safe (fsutil.h). */
static nv_status save_png(cairo_surface_t *surf, const char *png_path, nv_error *err) {
    nv_outfile out;
    nv_status st = nv_outfile_open(&out, png_path, err);
    if (st != NV_OK) return st;
    cairo_status_t cs = cairo_surface_write_to_png_stream(surf, png_chunk, out.fp);
    if (cs != CAIRO_STATUS_SUCCESS) {
        nv_outfile_abort(&out);
        return nv_fail(err, NV_EIO, "%s: cannot write the PNG: %s", png_path,
                       cairo_status_to_string(cs));
    }
    return nv_outfile_commit(&out, err);
}

/* --- one unit's block ------------------------------------------------------------ */

/* The geometry of a block at scale s (1: the grid, 2: the focus figure). */
typedef struct {
    int image;
    double s;
    int mcols, mrows;       /* the mosaics' tiles */
    double tw, th;          /* a mosaic tile */
    double fw, fh;          /* the feature panel */
    double gap, label;      /* between panels; the label line under them */
    int panels;             /* 2 (feature, inputs) or 5 (and three projections) */
    double w, h;            /* the whole block */
} block_geom;

static block_geom geometry(const nv_features_figure *f, double s) {
    block_geom g;
    memset(&g, 0, sizeof g);
    g.image = f->img_h > 0;
    g.s = s;
    g.mcols = (int)ceil(sqrt((double)f->k));
    g.mrows = (f->k + g.mcols - 1) / g.mcols;
    if (g.image) {
        /* Tiles of s pixels per value, 2s apart; the feature at 3s per value. */
        g.tw = s * (f->img_w + 2);
        g.th = s * (f->img_h + 2);
        g.fw = (double)g.mcols * s * f->img_w;
        g.fh = (double)g.mcols * s * f->img_h;
    } else {
        /* Tiles about 2-3 pixels a bar, the feature panel as wide as a mosaic. */
        double bar = f->d <= 16 ? 2.0 : 1.0;
        g.tw = s * NV_MAX(bar * (double)f->d + 2, 20.0);
        g.th = s * 18;
        g.fw = g.tw * g.mcols;
        g.fh = g.th * g.mrows;
    }
    g.gap = 6 * s;
    g.label = 13 * s;
    g.panels = f->proj ? 2 + NV_PROJ_RULES : 2;
    double mw = g.tw * g.mcols, mh = g.th * g.mrows;
    g.w = g.fw + (g.panels - 1) * (g.gap + mw);
    g.h = fmax(g.fh, mh) + g.label;
    return g;
}

static const char *panel_title(int p, int k, char *buf, size_t len) {
    static const char *rules[NV_PROJ_RULES] = {"deconvnet", "guided backprop", "gradient"};
    if (p == 0) return "feature image";
    if (p == 1) { snprintf(buf, len, "top %d inputs", k); return buf; }
    return rules[p - 2];
}

/* Column titles over a block at (x0, y0). */
static void block_titles(cairo_t *cr, const nv_features_figure *f, const block_geom *g, double x0,
                         double y0) {
    char buf[64];
    double x = x0, size = 9 * (g->s > 1 ? 1.3 : 1);
    for (int p = 0; p < g->panels; p++) {
        text(cr, x, y0, size, panel_title(p, f->k, buf, sizeof buf), GREY);
        x += (p == 0 ? g->fw : g->tw * g->mcols) + g->gap;
    }
}

/* One tile of a mosaic: an input (grey / bars around the centre) or a projection
 * (diverging / bars over its own largest |value|). */
static void draw_tile(cairo_t *cr, const nv_features_figure *f, const block_geom *g, range r,
                      const nv_real *v, int projection, double x, double y) {
    if (g->image) {
        if (projection) draw_diverging(cr, v, f->img_h, f->img_w, x, y, g->s);
        else draw_grey(cr, v, f->img_h, f->img_w, r, x, y, g->s);
    } else {
        draw_bars(cr, v, f->d, projection ? NULL : f->centre, f->lo, f->hi, x + g->s, y + g->s,
                  g->tw - 2 * g->s, g->th - 2 * g->s);
    }
}

/* Unit u's block with its top-left corner at (x0, y0). */
static void draw_block(cairo_t *cr, const nv_features_figure *f, const block_geom *g, range r,
                       int64_t u, double x0, double y0) {
    const int64_t d = f->d;
    const int k = f->k;
    int below = nv_features_below(f->act[u], f->data_max[u]);
    /* The feature. */
    if (g->image) draw_grey(cr, f->x + u * d, f->img_h, f->img_w, r, x0, y0, g->mcols * g->s);
    else draw_bars(cr, f->x + u * d, d, f->centre, f->lo, f->hi, x0, y0, g->fw, g->fh);
    if (below) frame(cr, x0, y0, g->fw, g->fh, RED, 2 * g->s);
    /* The mosaics: inputs, then each rule's projections of the same inputs. */
    double mx = x0 + g->fw + g->gap;
    for (int p = 1; p < g->panels; p++) {
        for (int j = 0; j < k; j++) {
            double tx = mx + (j % g->mcols) * g->tw, ty = y0 + (j / g->mcols) * g->th;
            const nv_real *v = p == 1 ? f->top_x + (u * k + j) * d
                                      : f->proj + ((u * k + j) * NV_PROJ_RULES + (p - 2)) * d;
            draw_tile(cr, f, g, r, v, p > 1, tx, ty);
        }
        mx += g->tw * g->mcols + g->gap;
    }
    char buf[160];
    snprintf(buf, sizeof buf, "unit %lld: %.3g (data max %.3g)", (long long)u, (double)f->act[u],
             (double)f->data_max[u]);
    double size = 9 * (g->s > 1 ? 1.4 : 1), ty = y0 + fmax(g->fh, g->th * g->mrows) + size + 2;
    text(cr, x0, ty, size, buf, BLACK);
    if (below) {
        cairo_text_extents_t te;
        cairo_text_extents(cr, buf, &te);
        text(cr, x0 + te.x_advance + 6, ty, size, "below data: the ascent's own result", RED);
    }
}

static cairo_surface_t *white_surface(int W, int H, cairo_t **cr) {
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    *cr = cairo_create(surf);
    cairo_set_antialias(*cr, CAIRO_ANTIALIAS_NONE);
    cairo_set_source_rgb(*cr, 1, 1, 1);
    cairo_paint(*cr);
    return surf;
}

static nv_status finish_png(cairo_surface_t *surf, cairo_t *cr, const char *png_path, nv_error *err) {
    cairo_destroy(cr);
    cairo_surface_flush(surf);
    nv_status st = save_png(surf, png_path, err);
    cairo_surface_destroy(surf);
    return st;
}

static int64_t count_below(const nv_features_figure *f) {
    int64_t n = 0;
    for (int64_t u = 0; u < f->units; u++) n += nv_features_below(f->act[u], f->data_max[u]);
    return n;
}

nv_status nv_features_plot_layer(const nv_features_figure *f, const char *png_path,
                                 nv_error *err) {
    block_geom g = geometry(f, 1);
    const int cols = 2, pad = 8, head = 36;
    double cw = g.w + 16, ch = g.h + 8;
    int64_t rows = (f->units + cols - 1) / cols;
    int W = (int)NV_MAX(cols * cw + pad, 640), H = (int)(head + rows * ch + pad);
    cairo_t *cr;
    cairo_surface_t *surf = white_surface(W, H, &cr);
    char buf[320];
    snprintf(buf, sizeof buf, "%s, epoch %lld, %s: %lld units, %lld below their data maximum "
             "(framed red)", f->model, (long long)f->epoch, f->layer, (long long)f->units,
             (long long)count_below(f));
    text(cr, pad, 14, 12, buf, BLACK);
    for (int c = 0; c < cols && c < f->units; c++) block_titles(cr, f, &g, pad + c * cw, head - 6);
    range r = box_range(f->lo, f->hi, f->d);
    for (int64_t u = 0; u < f->units; u++)
        draw_block(cr, f, &g, r, u, pad + (double)(u % cols) * cw, head + (double)(u / cols) * ch);
    return finish_png(surf, cr, png_path, err);
}

nv_status nv_features_plot_focus(const nv_features_figure *f, const int64_t *units, int n,
                                 const char *png_path, nv_error *err) {
    block_geom g = geometry(f, 2);
    const int pad = 10, head = 44;
    double ch = g.h + 14;
    int shown = 0;
    for (int i = 0; i < n; i++) shown += units[i] >= 0 && units[i] < f->units;
    int W = (int)NV_MAX(g.w + 2 * pad, 640), H = (int)(head + NV_MAX(shown, 1) * ch + pad);
    cairo_t *cr;
    cairo_surface_t *surf = white_surface(W, H, &cr);
    char buf[320];
    snprintf(buf, sizeof buf, "%s, epoch %lld, %s: units drawn large (every unit: the layer's grid)",
             f->model, (long long)f->epoch, f->layer);
    text(cr, pad, 16, 13, buf, BLACK);
    block_titles(cr, f, &g, pad, head - 8);
    range r = box_range(f->lo, f->hi, f->d);
    int row = 0;
    for (int i = 0; i < n; i++) {
        if (units[i] < 0 || units[i] >= f->units) continue;
        draw_block(cr, f, &g, r, units[i], pad, head + row++ * ch);
    }
    return finish_png(surf, cr, png_path, err);
}

/* --- a unit across epochs --------------------------------------------------------- */

/* Reads what one history panel needs from a features file (format version 1 or 2:
 * both have inputs, activations and data_max). */
static nv_status read_unit(const char *path, const char *layer, int64_t unit, nv_real **x,
                           nv_real **lo, nv_real **hi, nv_real **centre, int64_t *d, int *ih,
                           int *iw, double *act, double *dmax, nv_error *err) {
    nv_h5_quiet();
    hid_t fid = nv_h5_open_read(path, err);
    if (fid < 0) return err ? err->status : NV_EINPUT;
    nv_status st = nv_h5_check_format(fid, path, NV_FEATURES_FORMAT, NV_FEATURES_VERSION, NULL, err);
    nv_real *all = NULL, *a = NULL, *m = NULL;
    int64_t dims[2], dl, dml = 0, v, nlo = 0, nhi = 0, nce = 0;
    char obj[256];
    if (st) goto done;
    if ((st = nv_h5_read_attr_i64(fid, "img_h", &v, path, "/", err))) goto done;
    *ih = v < 0 || v > 4096 ? -1 : (int)v;
    if ((st = nv_h5_read_attr_i64(fid, "img_w", &v, path, "/", err))) goto done;
    *iw = v < 0 || v > 4096 ? -1 : (int)v;
    if ((st = nv_h5_read_dataset(fid, "box/lo", H5T_NATIVE_FLOAT, sizeof(nv_real), 1, (void **)lo, &nlo, path, err)) ||
        (st = nv_h5_read_dataset(fid, "box/hi", H5T_NATIVE_FLOAT, sizeof(nv_real), 1, (void **)hi, &nhi, path, err)) ||
        (st = nv_h5_read_dataset(fid, "box/centre", H5T_NATIVE_FLOAT, sizeof(nv_real), 1, (void **)centre, &nce, path, err)))
        goto done;
    snprintf(obj, sizeof obj, "layers/%s/inputs", layer);
    if ((st = nv_h5_read_dataset(fid, obj, H5T_NATIVE_FLOAT, sizeof(nv_real), 2, (void **)&all, dims, path, err))) goto done;
    snprintf(obj, sizeof obj, "layers/%s/activations", layer);
    if ((st = nv_h5_read_dataset(fid, obj, H5T_NATIVE_FLOAT, sizeof(nv_real), 1, (void **)&a, &dl, path, err))) goto done;
    snprintf(obj, sizeof obj, "layers/%s/data_max", layer);
    if ((st = nv_h5_read_dataset(fid, obj, H5T_NATIVE_FLOAT, sizeof(nv_real), 1, (void **)&m, &dml, path, err))) goto done;
    if (unit < 0 || unit >= dims[0]) {
        st = nv_fail(err, NV_EINPUT, "%s: layer %s has %lld units: unit %lld does not exist", path,
                     layer, (long long)dims[0], (long long)unit);
        goto done;
    }
    /* Every array the figure indexes must be as long as the file says: a damaged or
     * foreign file is refused here, never read past its end. */
    if (dl != dims[0] || dml != dims[0]) {
        st = nv_fail(err, NV_EINPUT, "%s: layers/%s/activations and data_max have %lld and %lld values for %lld units",
                     path, layer, (long long)dl, (long long)dml, (long long)dims[0]);
        goto done;
    }
    if (dims[1] < 1 || nlo != dims[1] || nhi != dims[1] || nce != dims[1]) {
        st = nv_fail(err, NV_EINPUT, "%s: inputs of %lld values but box/lo, hi, centre of %lld, %lld, %lld: "
                     "expected the same, at least 1", path, (long long)dims[1], (long long)nlo, (long long)nhi,
                     (long long)nce);
        goto done;
    }
    if (*ih < 0 || *iw < 0 || *ih > 4096 || *iw > 4096 || (int64_t)*ih * *iw != (*ih ? dims[1] : 0)) {
        st = nv_fail(err, NV_EINPUT, "%s: attributes img_h %d, img_w %d with inputs of %lld values: expected "
                     "img_h x img_w = inputs (or both 0: not an image)", path, *ih, *iw, (long long)dims[1]);
        goto done;
    }
    *d = dims[1];
    *x = nv_malloc((size_t)dims[1] * sizeof(nv_real), err);
    if (!*x) { st = NV_ENOMEM; goto done; }
    memcpy(*x, all + unit * dims[1], (size_t)dims[1] * sizeof(nv_real));
    *act = a[unit];
    *dmax = m[unit];
done:
    free(all);
    free(a);
    free(m);
    H5Fclose(fid);
    return st;
}

nv_status nv_features_history(const char *const *h5_paths, const int64_t *epochs, int n,
                              const char *layer, int64_t unit, const char *png_path,
                              nv_error *err) {
    nv_status st = NV_OK;
    const int pad = 8, head = 24;
    int64_t d0 = 0;
    int ih0 = 0, iw0 = 0;
    cairo_surface_t *surf = NULL;
    cairo_t *cr = NULL;
    char buf[256];
    for (int e = 0; e < n && st == NV_OK; e++) {
        nv_real *x = NULL, *lo = NULL, *hi = NULL, *centre = NULL;
        int64_t d = 0;
        int ih = 0, iw = 0;
        double act = 0, dmax = 0;
        st = read_unit(h5_paths[e], layer, unit, &x, &lo, &hi, &centre, &d, &ih, &iw, &act, &dmax, err);
        if (st == NV_OK && e > 0 && (d != d0 || ih != ih0 || iw != iw0))
            st = nv_fail(err, NV_EINPUT, "%s: inputs of %lld values (%d x %d) but %s has %lld (%d x %d): "
                         "expected the same shape in every file", h5_paths[e], (long long)d, ih, iw,
                         h5_paths[0], (long long)d0, ih0, iw0);
        if (st == NV_OK && e == 0) d0 = d, ih0 = ih, iw0 = iw;
        if (st == NV_OK) {
            int image = ih > 0;
            int pw = image ? 3 * iw : (int)NV_MAX(6 * d, 72), ph = image ? 3 * ih : 54;
            if (!surf) {
                int W = NV_MAX(pad + n * (pw + pad), 300);
                surf = white_surface(W, head + ph + 34, &cr);
                snprintf(buf, sizeof buf, "%s unit %lld across epochs (red: below the data maximum)",
                         layer, (long long)unit);
                text(cr, pad, 16, 12, buf, BLACK);
            }
            double x0 = pad + e * (pw + pad);
            if (image) draw_grey(cr, x, ih, iw, box_range(lo, hi, d), x0, head, 3);
            else draw_bars(cr, x, d, centre, lo, hi, x0, head, pw, ph);
            int below = nv_features_below((float)act, (float)dmax);
            if (below) frame(cr, x0, head, pw, ph, RED, 2);
            snprintf(buf, sizeof buf, "e%lld", (long long)epochs[e]);
            text(cr, x0, head + ph + 12, 9, buf, BLACK);
            snprintf(buf, sizeof buf, "%.3g", act);
            text(cr, x0, head + ph + 24, 9, buf, below ? RED : BLACK);
        }
        free(x); free(lo); free(hi); free(centre);
    }
    if (st == NV_OK && surf) {
        cairo_surface_flush(surf);
        st = save_png(surf, png_path, err);
    }
    if (cr) cairo_destroy(cr);
    if (surf) cairo_surface_destroy(surf);
    return st;
}
