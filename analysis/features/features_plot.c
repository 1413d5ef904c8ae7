/* features_plot.c: the figures of `nerve features`, drawn pixel by pixel on cairo
 * image surfaces (a feature image is data, not a chart, so plot.h's axes are not
 * used): per layer and epoch a grid of feature images with the 9 most exciting
 * real inputs beside each, and per unit its image across epochs.
 *
 * Colours: images in grey from the box's lowest to its highest value (the same
 * scale for features and real inputs, so they compare); vectors as strips of cells
 * in a diverging blue-white-red map of (x - centre) / (half the box width), so
 * white is the data mean and full colour a face of the box.
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
 * milliseconds). Pixel coordinates, clipped to the surface. */
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

/* A grey image of v (h x w) at (x0, y0), `s` pixels per value. */
static void draw_image(cairo_t *cr, const nv_real *v, int h, int w, range r, double x0, double y0,
                       double s) {
    cairo_surface_flush(cairo_get_target(cr));
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) {
            double t = ((double)v[i * w + j] - r.lo) / (r.hi - r.lo);
            t = t < 0 ? 0 : (t > 1 ? 1 : t);
            fill_px(cr, x0 + j * s, y0 + i * s, s, s, (rgb){t, t, t});
        }
    cairo_surface_mark_dirty(cairo_get_target(cr));
}

/* A strip of d cells (cw x ch) for vector v. */
static void draw_strip(cairo_t *cr, const nv_real *v, int64_t d, const nv_real *lo,
                       const nv_real *hi, const nv_real *centre, double x0, double y0, double cw,
                       double ch) {
    cairo_surface_flush(cairo_get_target(cr));
    for (int64_t i = 0; i < d; i++) {
        double half = 0.5 * ((double)hi[i] - lo[i]);
        rgb c = diverging(half > 0 ? ((double)v[i] - centre[i]) / half : 0.0);
        fill_px(cr, x0 + i * cw, y0, cw, ch, c);
    }
    cairo_surface_mark_dirty(cairo_get_target(cr));
    cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
    cairo_set_line_width(cr, 0.5);
    cairo_rectangle(cr, x0, y0, d * cw, ch);
    cairo_stroke(cr);
}

static void text(cairo_t *cr, double x, double y, double size, const char *s) {
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
    cairo_move_to(cr, x, y);
    cairo_show_text(cr, s);
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

nv_status nv_features_plot_layer(const nv_features_figure *f, const char *png_path,
                                 nv_error *err) {
    int image = f->img_h > 0;
    int cols, cellw, cellh;
    const int head = 24, pad = 6;
    if (image) {
        cols = 8;
        cellw = 3 * f->img_w + 4 + 3 * f->img_w + pad; /* feature x3, then a 3x3 mosaic x1 */
        cellh = 3 * f->img_h + 14 + pad;
    } else {
        cols = 1;
        cellw = (int)(f->d * 14 + 10 + f->d * 6 + 190);
        cellh = 32;
    }
    int64_t rows = (f->units + cols - 1) / cols;
    int W = NV_MAX(cols * cellw + pad, 620), H = (int)(head + rows * cellh + pad);
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    cairo_t *cr = cairo_create(surf);
    cairo_set_antialias(cr, CAIRO_ANTIALIAS_NONE);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    char buf[256];
    snprintf(buf, sizeof buf, "%s, epoch %lld, %s: feature (left) and the 9 most exciting "
             "train inputs", f->model, (long long)f->epoch, f->layer);
    text(cr, pad, 16, 12, buf);
    range r = box_range(f->lo, f->hi, f->d);
    for (int64_t u = 0; u < f->units; u++) {
        double x0 = pad + (double)(u % cols) * cellw, y0 = head + (double)(u / cols) * cellh;
        const int64_t *tr = f->top_rows + u * NV_FEATURES_TOPK;
        if (image) {
            draw_image(cr, f->x + u * f->d, f->img_h, f->img_w, r, x0, y0, 3);
            double mx = x0 + 3 * f->img_w + 4;
            for (int k = 0; k < NV_FEATURES_TOPK; k++)
                if (tr[k] >= 0)
                    draw_image(cr, f->data + tr[k] * f->d, f->img_h, f->img_w, r,
                               mx + (k % 3) * f->img_w, y0 + (k / 3) * f->img_h, 1);
            snprintf(buf, sizeof buf, "%lld: %.3g (data %.3g)", (long long)u, (double)f->act[u],
                     (double)f->data_max[u]);
            text(cr, x0, y0 + 3 * f->img_h + 11, 9, buf);
        } else {
            draw_strip(cr, f->x + u * f->d, f->d, f->lo, f->hi, f->centre, x0, y0, 14, 27);
            double mx = x0 + f->d * 14 + 10;
            for (int k = 0; k < NV_FEATURES_TOPK; k++)
                if (tr[k] >= 0)
                    draw_strip(cr, f->data + tr[k] * f->d, f->d, f->lo, f->hi, f->centre, mx,
                               y0 + k * 3, 6, 3);
            snprintf(buf, sizeof buf, "unit %lld: %.4g (data max %.4g)", (long long)u,
                     (double)f->act[u], (double)f->data_max[u]);
            text(cr, mx + f->d * 6 + 8, y0 + 17, 10, buf);
        }
    }
    cairo_destroy(cr);
    cairo_surface_flush(surf);
    nv_status st = save_png(surf, png_path, err);
    cairo_surface_destroy(surf);
    return st;
}

/* Reads what one history panel needs from a features file. */
static nv_status read_unit(const char *path, const char *layer, int64_t unit, nv_real **x,
                           nv_real **lo, nv_real **hi, nv_real **centre, int64_t *d, int *ih,
                           int *iw, double *act, nv_error *err) {
    nv_h5_quiet();
    hid_t fid = nv_h5_open_read(path, err);
    if (fid < 0) return err ? err->status : NV_EINPUT;
    nv_status st = nv_h5_check_format(fid, path, NV_FEATURES_FORMAT, NV_FEATURES_VERSION, NULL, err);
    nv_real *all = NULL, *a = NULL;
    int64_t dims[2], dl, v, nlo = 0, nhi = 0, nce = 0;
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
    if (unit < 0 || unit >= dims[0]) {
        st = nv_fail(err, NV_EINPUT, "%s: layer %s has %lld units: unit %lld does not exist", path,
                     layer, (long long)dims[0], (long long)unit);
        goto done;
    }
    /* Every array the figure indexes must be as long as the file says: a damaged or
     * foreign file is refused here, never read past its end. */
    if (dl != dims[0]) {
        st = nv_fail(err, NV_EINPUT, "%s: layers/%s/activations has %lld values for %lld units", path, layer,
                     (long long)dl, (long long)dims[0]);
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
done:
    free(all);
    free(a);
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
        double act = 0;
        st = read_unit(h5_paths[e], layer, unit, &x, &lo, &hi, &centre, &d, &ih, &iw, &act, err);
        if (st == NV_OK && e > 0 && (d != d0 || ih != ih0 || iw != iw0))
            st = nv_fail(err, NV_EINPUT, "%s: inputs of %lld values (%d x %d) but %s has %lld (%d x %d): "
                         "expected the same shape in every file", h5_paths[e], (long long)d, ih, iw,
                         h5_paths[0], (long long)d0, ih0, iw0);
        if (st == NV_OK && e == 0) d0 = d, ih0 = ih, iw0 = iw;
        if (st == NV_OK) {
            int image = ih > 0;
            int pw = image ? 3 * iw : (int)(d * 14), ph = image ? 3 * ih : 27;
            if (!surf) {
                int W = NV_MAX(image ? pad + n * (pw + pad) : pad + pw + 260, 300);
                int H = image ? head + ph + 20 : head + n * (ph + 8) + pad;
                surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
                cr = cairo_create(surf);
                cairo_set_antialias(cr, CAIRO_ANTIALIAS_NONE);
                cairo_set_source_rgb(cr, 1, 1, 1);
                cairo_paint(cr);
                snprintf(buf, sizeof buf, "%s unit %lld across epochs", layer, (long long)unit);
                text(cr, pad, 16, 12, buf);
            }
            if (image) {
                double x0 = pad + e * (pw + pad);
                draw_image(cr, x, ih, iw, box_range(lo, hi, d), x0, head, 3);
                snprintf(buf, sizeof buf, "e%lld %.3g", (long long)epochs[e], act);
                text(cr, x0, head + ph + 12, 9, buf);
            } else {
                double y0 = head + e * (ph + 8);
                draw_strip(cr, x, d, lo, hi, centre, pad, y0, 14, ph);
                snprintf(buf, sizeof buf, "epoch %lld: %.4g", (long long)epochs[e], act);
                text(cr, pad + pw + 8, y0 + 17, 10, buf);
            }
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
