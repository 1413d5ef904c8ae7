/* ph_run_labelled.c: the labelled kNN filtration (include/nerve/labelled.h) over a
 * whole run, the part of `nerve ph RUN` that reads how the classes of each layer sit
 * against each other (docs/ph-runs.md, "The labelled kNN filtration").
 *
 *   compute  for one snapshot file and layer: the layer's points on the label split
 *            (default test: held-out points, ~1600 on the default run, which keeps
 *            the O(n^2 d) neighbour search near 0.1 s a layer), their labels, and
 *            nv_labelled_compute with k = 1..label_k and the spanning-tree baseline;
 *   write    into the snapshot's diagram file, group /labelled/<layer> (so the
 *            reading shares the diagram file's idempotence and job-array slicing);
 *   summary  every diagram file that has it -> analysis/ph/labelled.csv (one row per
 *            model, epoch, layer), analysis/ph/labelled_betti.csv (the Betti curves),
 *            and the chart analysis/figures/labelled_chart.png/.svg.
 * Every file is written atomically; nothing here prints.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "store/h5util.h"
#include "nerve/fsutil.h"
#include "nerve/labelled.h"
#include "nerve/plot.h"
#include "nerve/snapshot.h"
#include "nerve/strbuf.h"
#include "ph_run_internal.h"

/* ------------------------------------------------------------------ compute */

nv_status phr_labelled_compute(const char *snap_path, const char *layer, const nv_phrun_options *o,
                               nv_labelled *r, char *split_used, size_t split_len, nv_error *err) {
    memset(r, 0, sizeof *r);
    const char *splits[2] = {o->label_split, "all"};
    for (int s = 0; s < 2; s++) {
        if (s == 1 && strcmp(o->label_split, "all") == 0) break;
        nv_real *x = NULL;
        int64_t *labels = NULL;
        int64_t n = 0, d = 0, nl = 0;
        nv_status st = nv_snapshot_read(snap_path, layer, splits[s], 0, &x, &n, &d, err);
        if (!st) st = nv_snapshot_read_index(snap_path, "labels", splits[s], &labels, &nl, err);
        if (!st && n > o->label_k) {
            snprintf(split_used, split_len, "%s", splits[s]);
            st = nv_labelled_compute(x, n, d, labels, o->label_k, 1, 1, r, err);
            free(x);
            free(labels);
            if (st) nv_error_prefix(err, "%s: layer %s, labelled kNN filtration: ", snap_path, layer);
            return st;
        }
        free(x);
        free(labels);
        if (st) return st;
        /* too few rows on this split (a run without a test set): the next one */
    }
    split_used[0] = 0; /* nothing to read: r->n stays 0 and nothing is written */
    return NV_OK;
}

/* ------------------------------------------------------------------ write */

static hid_t group_at(hid_t loc, const char *name) {
    if (nv_h5_exists(loc, name)) return H5Gopen2(loc, name, H5P_DEFAULT);
    hid_t gcpl = nv_h5_gcpl();
    hid_t g = H5Gcreate2(loc, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    H5Pclose(gcpl);
    return g;
}

nv_status phr_labelled_write(hid_t fid, const char *file, const char *layer, const char *split,
                             const nv_labelled *r, nv_error *err) {
    if (r->n == 0) return NV_OK;
    hid_t gl = group_at(fid, PHR_LABELLED_GROUP);
    hid_t g = gl >= 0 ? group_at(gl, layer) : -1;
    nv_status st = NV_OK;
    if (g < 0) {
        st = nv_h5_fail(err, NV_EIO, file, layer, "cannot create the labelled group");
        goto done;
    }
    int64_t c = r->n_classes, k = r->k_max, dims2[2] = {c, k};
    st = nv_h5_write_dataset(g, "classes", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &c, r->classes, 0, file, err);
    if (!st) st = nv_h5_write_dataset(g, "class_points", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &c, r->class_n, 0, file, err);
    if (!st) st = nv_h5_write_dataset(g, "beta0", H5T_STD_I64LE, H5T_NATIVE_INT64, 2, dims2, r->beta0, 0, file, err);
    if (!st) st = nv_h5_write_dataset(g, "beta0_all", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &k, r->beta0_all, 0, file, err);
    if (!st) st = nv_h5_write_dataset(g, "edges", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &k, r->edges, 0, file, err);
    if (!st) st = nv_h5_write_dataset(g, "cross_edges", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &k, r->cross_edges, 0, file, err);
    if (!st) st = nv_h5_attr_str(g, "split", split, file, err);
    if (!st) st = nv_h5_attr_i64(g, "k_max", k, file, err);
    if (!st) st = nv_h5_attr_i64(g, "n_points", r->n, file, err);
    if (!st) st = nv_h5_attr_f64(g, "mst_cross", r->mst_cross, file, err);
    if (!st) st = nv_h5_attr_f64(g, "mixing", nv_labelled_mixing(r), file, err);
done:
    if (g >= 0) H5Gclose(g);
    if (gl >= 0) H5Gclose(gl);
    return st;
}

/* ------------------------------------------------------------------ read */

/* One layer of one file. */
typedef struct {
    int item;           /* plan index */
    int layer_index;    /* position in the file's layer list */
    char layer[64];
    char split[8];
    nv_labelled r;
} lab_row;

typedef struct {
    lab_row *v;
    int64_t n, cap;
} lab_rows;

static void rows_free(lab_rows *rs) {
    for (int64_t i = 0; i < rs->n; i++) nv_labelled_free(&rs->v[i].r);
    free(rs->v);
    memset(rs, 0, sizeof *rs);
}

static nv_status read_layer(hid_t fid, const char *file, const char *layer, lab_row *row, nv_error *err) {
    char obj[128];
    snprintf(obj, sizeof obj, "/%s/%s", PHR_LABELLED_GROUP, layer);
    hid_t g = H5Gopen2(fid, obj, H5P_DEFAULT);
    if (g < 0) return nv_h5_fail(err, NV_EINPUT, file, obj, "missing group");
    nv_labelled *r = &row->r;
    int64_t dc = 0, dk[2] = {0, 0}, dk1 = 0, kmax = 0, n = 0;
    char *split = NULL;
    nv_status st = nv_h5_read_attr_i64(g, "k_max", &kmax, file, obj, err);
    if (!st) st = nv_h5_read_attr_i64(g, "n_points", &n, file, obj, err);
    if (!st) st = nv_h5_read_attr_f64(g, "mst_cross", &r->mst_cross, file, obj, err);
    if (!st) st = nv_h5_read_attr_str(g, "split", &split, file, obj, err);
    if (!st) st = nv_h5_read_dataset(g, "classes", H5T_NATIVE_INT64, sizeof(int64_t), 1, (void **)&r->classes, &dc, file, err);
    if (!st) st = nv_h5_read_dataset(g, "class_points", H5T_NATIVE_INT64, sizeof(int64_t), 1, (void **)&r->class_n, &dc, file, err);
    if (!st) st = nv_h5_read_dataset(g, "beta0", H5T_NATIVE_INT64, sizeof(int64_t), 2, (void **)&r->beta0, dk, file, err);
    if (!st) st = nv_h5_read_dataset(g, "beta0_all", H5T_NATIVE_INT64, sizeof(int64_t), 1, (void **)&r->beta0_all, &dk1, file, err);
    if (!st) st = nv_h5_read_dataset(g, "edges", H5T_NATIVE_INT64, sizeof(int64_t), 1, (void **)&r->edges, &dk1, file, err);
    if (!st) st = nv_h5_read_dataset(g, "cross_edges", H5T_NATIVE_INT64, sizeof(int64_t), 1, (void **)&r->cross_edges, &dk1, file, err);
    if (!st && (dk[0] != dc || dk[1] != kmax || dk1 != kmax || kmax < 1 || n < 1))
        st = nv_fail(err, NV_EINPUT, "%s: %s: inconsistent shapes (classes %lld, beta0 %lld x %lld, k_max %lld)",
                     file, obj, (long long)dc, (long long)dk[0], (long long)dk[1], (long long)kmax);
    if (!st) {
        r->n = n;
        r->k_max = (int)kmax;
        r->n_classes = (int)dc;
        snprintf(row->split, sizeof row->split, "%s", split);
    }
    free(split);
    H5Gclose(g);
    return st;
}

/* Every /labelled/<layer> group of the files that exist, file by file, layers in
 * network order. */
static nv_status read_all(const phr_plan *plan, lab_rows *rs, nv_error *err) {
    nv_status st = NV_OK;
    for (int64_t i = 0; i < plan->n && !st; i++) {
        const char *file = plan->items[i].out_path;
        if (!nv_file_mtime_ns(file)) continue;
        nv_h5_quiet();
        hid_t fid = nv_h5_open_read(file, err);
        if (fid < 0) return err && err->status ? err->status : NV_EINPUT;
        char **layers = NULL;
        int64_t nl = 0;
        st = nv_h5_check_format(fid, file, NV_DIAGRAMS_FORMAT, NV_DIAGRAMS_VERSION, NULL, err);
        if (!st) st = nv_h5_read_attr_strs(fid, "layers", &layers, &nl, file, "/", err);
        for (int64_t l = 0; l < nl && !st; l++) {
            char obj[128];
            snprintf(obj, sizeof obj, "%s/%s", PHR_LABELLED_GROUP, layers[l]);
            if (!nv_h5_exists(fid, PHR_LABELLED_GROUP) || !nv_h5_exists(fid, obj)) continue;
            if (rs->n == rs->cap) {
                int64_t cap = rs->cap ? 2 * rs->cap : 64;
                lab_row *v = realloc(rs->v, (size_t)cap * sizeof *v);
                if (!v) {
                    st = nv_fail(err, NV_ENOMEM, "out of memory reading labelled groups");
                    break;
                }
                rs->v = v;
                rs->cap = cap;
            }
            lab_row *row = &rs->v[rs->n++];
            memset(row, 0, sizeof *row);
            row->item = (int)i;
            row->layer_index = (int)l;
            snprintf(row->layer, sizeof row->layer, "%s", layers[l]);
            st = read_layer(fid, file, layers[l], row, err);
        }
        nv_h5_free_strs(layers, nl);
        H5Fclose(fid);
    }
    return st;
}

/* ------------------------------------------------------------------ tables */

static void fmt_num(char *out, size_t len, double v) { nv_fmt_shortest(out, len, v, 6, 0); }

static nv_status write_tables(const phr_plan *plan, const lab_rows *rs, nv_error *err) {
    nv_strbuf a = {0}, b = {0};
    nv_sb_printf(&a, "model,epoch,layer,split,n_points,classes,k_max,mixing,labelled_persistence,"
                     "unlabelled_persistence,cross_share,mst_cross\n");
    nv_sb_printf(&b, "model,epoch,layer,split,k,class,beta0\n");
    for (int64_t i = 0; i < rs->n; i++) {
        const lab_row *row = &rs->v[i];
        const phr_item *it = &plan->items[row->item];
        const nv_labelled *r = &row->r;
        char t[5][64];
        fmt_num(t[0], sizeof t[0], nv_labelled_mixing(r));
        fmt_num(t[1], sizeof t[1], nv_labelled_persistence(r));
        fmt_num(t[2], sizeof t[2], nv_labelled_unlabelled_persistence(r));
        fmt_num(t[3], sizeof t[3], nv_labelled_cross_share(r, r->k_max));
        fmt_num(t[4], sizeof t[4], r->mst_cross);
        nv_sb_printf(&a, "%s,%lld,%s,%s,%lld,%d,%d,%s,%s,%s,%s,%s\n", it->model, (long long)it->epoch, row->layer,
                     row->split, (long long)r->n, r->n_classes, r->k_max, t[0], t[1], t[2], t[3], t[4]);
        for (int k = 0; k < r->k_max; k++) {
            for (int c = 0; c < r->n_classes; c++)
                nv_sb_printf(&b, "%s,%lld,%s,%s,%d,%lld,%lld\n", it->model, (long long)it->epoch, row->layer,
                             row->split, k + 1, (long long)r->classes[c],
                             (long long)r->beta0[(int64_t)c * r->k_max + k]);
            nv_sb_printf(&b, "%s,%lld,%s,%s,%d,all,%lld\n", it->model, (long long)it->epoch, row->layer, row->split,
                         k + 1, (long long)r->beta0_all[k]);
        }
    }
    nv_status st = NV_OK;
    if (a.oom || b.oom) st = nv_fail(err, NV_ENOMEM, "out of memory writing labelled.csv");
    char path[PHR_PATH + 40];
    if (!st) {
        snprintf(path, sizeof path, "%s/labelled.csv", plan->ph_dir);
        st = nv_atomic_write_text(path, nv_sb_str(&a), err);
    }
    if (!st) {
        snprintf(path, sizeof path, "%s/labelled_betti.csv", plan->ph_dir);
        st = nv_atomic_write_text(path, nv_sb_str(&b), err);
    }
    nv_sb_free(&a);
    nv_sb_free(&b);
    return st;
}

/* ------------------------------------------------------------------ the chart */

static void short_layer(const char *name, char *out, size_t len) {
    if (strncmp(name, "hidden", 6) == 0) snprintf(out, len, "h%s", name + 6);
    else snprintf(out, len, "%s", name);
}

/* The models drawn: expressive, bottleneck, then any other with hidden layers. */
static int chart_models(const phr_plan *plan, const lab_rows *rs, const char **models, int cap) {
    int nm = 0;
    const char *pref[2] = {"expressive", "bottleneck"};
    for (int p = 0; p < 2; p++)
        for (int64_t i = 0; i < rs->n; i++)
            if (strcmp(plan->items[rs->v[i].item].model, pref[p]) == 0) {
                models[nm++] = pref[p];
                break;
            }
    for (int64_t i = 0; i < rs->n && nm < cap; i++) {
        const phr_item *it = &plan->items[rs->v[i].item];
        int seen = it->nlayers <= 2; /* input and logits only: no hidden layer to follow */
        for (int a = 0; a < nm; a++) seen |= strcmp(models[a], it->model) == 0;
        if (!seen) models[nm++] = it->model;
    }
    return nm;
}

/* The row of (model, epoch, layer), or NULL. */
static const lab_row *find_row(const phr_plan *plan, const lab_rows *rs, const char *model, int64_t epoch,
                               const char *layer) {
    for (int64_t i = 0; i < rs->n; i++) {
        const phr_item *it = &plan->items[rs->v[i].item];
        if (it->epoch == epoch && strcmp(it->model, model) == 0 && strcmp(rs->v[i].layer, layer) == 0)
            return &rs->v[i];
    }
    return NULL;
}

/* The last hidden layer of a model's files: the layer before the last one. */
static const char *last_hidden(const phr_plan *plan, const char *model) {
    const phr_item *best = NULL;
    for (int64_t i = 0; i < plan->n; i++)
        if (strcmp(plan->items[i].model, model) == 0 && (!best || plan->items[i].nlayers > best->nlayers))
            best = &plan->items[i];
    if (!best || best->nlayers < 2) return NULL;
    return best->layers[best->nlayers - 2];
}

static nv_status draw_chart(const phr_plan *plan, const lab_rows *rs, nv_error *err) {
    const char *models[8];
    int nm = chart_models(plan, rs, models, 8);
    if (nm == 0) return NV_OK;
    /* epochs (ascending) and the longest layer list among the drawn models */
    int64_t epochs[1024];
    int ne = 0;
    const phr_item *lay = NULL;
    for (int64_t i = 0; i < rs->n; i++) {
        const phr_item *it = &plan->items[rs->v[i].item];
        int in = 0;
        for (int a = 0; a < nm; a++) in |= strcmp(models[a], it->model) == 0;
        if (!in) continue;
        if (!lay || it->nlayers > lay->nlayers) lay = it;
        int seen = 0;
        for (int a = 0; a < ne; a++) seen |= epochs[a] == it->epoch;
        if (!seen && ne < 1024) {
            int pos = ne;
            while (pos > 0 && epochs[pos - 1] > it->epoch) pos--;
            memmove(epochs + pos + 1, epochs + pos, (size_t)(ne - pos) * sizeof epochs[0]);
            epochs[pos] = it->epoch;
            ne++;
        }
    }
    if (!lay || ne == 0) return NV_OK;
    const int nl = lay->nlayers;
    nv_plot_figure *f = NULL;
    nv_status st = nv_plot_figure_new(2, nm < 2 ? 2 : nm, 40 + 260.0 * (nm < 2 ? 2 : nm), 560, &f, err);
    if (st) return st;
    nv_plot_figure_set_title(f, "How the classes sit against each other: the labelled kNN filtration");
    double x[PHR_MAX_LAYERS], y[PHR_MAX_LAYERS];
    char lnames[PHR_MAX_LAYERS][64];
    const char *ticks[PHR_MAX_LAYERS];
    for (int l = 0; l < nl; l++) {
        x[l] = l;
        short_layer(lay->layers[l], lnames[l], sizeof lnames[l]);
        ticks[l] = lnames[l];
    }
    /* row 0: the reading by layer, one line per epoch, one panel per model */
    for (int m = 0; m < nm && !st; m++) {
        nv_plot_panel *p = nv_plot_figure_panel(f, 0, m);
        char title[160];
        snprintf(title, sizeof title, "%s: mixing by layer", models[m]);
        nv_plot_panel_set_title(p, title);
        nv_plot_panel_set_xlabel(p, "layer");
        if (m == 0) nv_plot_panel_set_ylabel(p, "mixing (0: classes apart)");
        nv_plot_panel_share_y(p, 1);
        nv_plot_panel_set_legend(p, NV_LEGEND_NONE);
        st = nv_plot_panel_set_xticks(p, x, ticks, nl, err);
        if (st) break;
        nv_plot_panel_set_xrange(p, -0.35, nl - 0.65);
        for (int e = 0; e < ne && !st; e++) {
            int any = 0;
            for (int l = 0; l < nl; l++) {
                const lab_row *row = find_row(plan, rs, models[m], epochs[e], lay->layers[l]);
                y[l] = row ? nv_labelled_mixing(&row->r) : NAN;
                any |= row != NULL;
            }
            if (!any) continue;
            nv_plot_style sty = {.has_color = 1,
                                 .color = nv_plot_viridis(ne > 1 ? 0.88 * e / (ne - 1) : 0.0),
                                 .marker = NV_MARKER_CIRCLE, .marker_size = 2.6, .line_width = 1.3};
            char label[32];
            snprintf(label, sizeof label, "epoch %lld", (long long)epochs[e]);
            st = nv_plot_line(p, label, x, y, nl, &sty, err);
        }
    }
    if (!st) nv_plot_figure_set_legend_from(f, nv_plot_figure_panel(f, 0, 0));
    /* row 1, left: the last hidden layer of each model over the epochs */
    if (!st) {
        nv_plot_panel *p = nv_plot_figure_panel(f, 1, 0);
        nv_plot_panel_set_title(p, "last hidden layer, by epoch");
        nv_plot_panel_set_xlabel(p, "epoch");
        nv_plot_panel_set_ylabel(p, "mixing; baselines: share of edges");
        double *ex = malloc((size_t)ne * sizeof *ex), *ey = malloc((size_t)ne * sizeof *ey);
        char (*enames)[24] = malloc((size_t)ne * sizeof *enames);
        const char **eticks = malloc((size_t)ne * sizeof *eticks);
        if (!ex || !ey || !enames || !eticks) st = nv_fail(err, NV_ENOMEM, "out of memory");
        for (int e = 0; e < ne && !st; e++) {
            ex[e] = e;
            snprintf(enames[e], sizeof enames[e], "%lld", (long long)epochs[e]);
            eticks[e] = enames[e];
        }
        if (!st) st = nv_plot_panel_set_xticks(p, ex, eticks, ne, err);
        if (!st) nv_plot_panel_set_xrange(p, -0.35, ne - 0.65);
        double ytop = 0.0; /* the largest value drawn: room above it for the legend */
        for (int m = 0; m < nm && !st; m++) {
            const char *lh = last_hidden(plan, models[m]);
            if (!lh) continue;
            for (int e = 0; e < ne; e++) {
                const lab_row *row = find_row(plan, rs, models[m], epochs[e], lh);
                ey[e] = row ? nv_labelled_mixing(&row->r) : NAN;
                if (row) ytop = fmax(ytop, fmax(ey[e], row->r.mst_cross));
            }
            char label[96];
            snprintf(label, sizeof label, "%s (%s): mixing", models[m], lh);
            nv_plot_style sty = {.has_color = 1, .color = nv_plot_palette(m), .marker = NV_MARKER_CIRCLE};
            st = nv_plot_line(p, label, ex, ey, ne, &sty, err);
            /* the geometric baselines beside the topological reading, same colour:
             * the cross-class share of the kNN edges at k_max (dashed, squares) and
             * of the minimum spanning tree's (Friedman-Rafsky; dashed, no marker) */
            for (int e = 0; e < ne; e++) {
                const lab_row *row = find_row(plan, rs, models[m], epochs[e], lh);
                ey[e] = row ? nv_labelled_cross_share(&row->r, row->r.k_max) : NAN;
            }
            snprintf(label, sizeof label, "%s: cross-class kNN edges", models[m]);
            nv_plot_style sb = {.has_color = 1, .color = nv_plot_palette(m), .marker = NV_MARKER_SQUARE,
                                .marker_size = 2.2, .line_width = 0.9, .dashed = 1};
            if (!st) st = nv_plot_line(p, label, ex, ey, ne, &sb, err);
            for (int e = 0; e < ne; e++) {
                const lab_row *row = find_row(plan, rs, models[m], epochs[e], lh);
                ey[e] = row ? row->r.mst_cross : NAN;
            }
            snprintf(label, sizeof label, "%s: Friedman-Rafsky", models[m]);
            sb.marker = NV_MARKER_NONE;
            if (!st) st = nv_plot_line(p, label, ex, ey, ne, &sb, err);
        }
        nv_plot_panel_set_legend(p, NV_LEGEND_UPPER_RIGHT);
        nv_plot_panel_set_yrange(p, -0.03, fmax(0.1, 1.8 * ytop));
        free(ex);
        free(ey);
        free(enames);
        free(eticks);
    }
    /* row 1, right: the Betti curves of the filtration at the last epoch and the
     * last hidden layer, log10 scale (they fall from ~n/3 at k = 1) */
    if (!st) {
        nv_plot_panel *p = nv_plot_figure_panel(f, 1, 1);
        char title[160];
        snprintf(title, sizeof title, "\xce\xb2\xe2\x82\x80(k), epoch %lld, last hidden layer", (long long)epochs[ne - 1]);
        nv_plot_panel_set_title(p, title);
        nv_plot_panel_set_xlabel(p, "k (neighbours)");
        nv_plot_panel_set_ylabel(p, "components (log scale)");
        double top = 1.0;
        for (int m = 0; m < nm && !st; m++) {
            const char *lh = last_hidden(plan, models[m]);
            const lab_row *row = lh ? find_row(plan, rs, models[m], epochs[ne - 1], lh) : NULL;
            if (!row) continue;
            const nv_labelled *r = &row->r;
            double *kx = malloc((size_t)r->k_max * sizeof *kx), *ky = malloc((size_t)r->k_max * sizeof *ky),
                   *ka = malloc((size_t)r->k_max * sizeof *ka);
            if (!kx || !ky || !ka) st = nv_fail(err, NV_ENOMEM, "out of memory");
            for (int k = 0; k < r->k_max && !st; k++) {
                int64_t sum = 0;
                for (int c = 0; c < r->n_classes; c++) sum += r->beta0[(int64_t)c * r->k_max + k];
                kx[k] = k + 1;
                ky[k] = log10((double)sum);
                ka[k] = log10((double)r->beta0_all[k]);
                top = fmax(top, ky[k]);
            }
            char label[96];
            snprintf(label, sizeof label, "%s: same-class edges", models[m]);
            nv_plot_style sty = {.has_color = 1, .color = nv_plot_palette(m), .marker = NV_MARKER_NONE};
            if (!st) st = nv_plot_line(p, label, kx, ky, r->k_max, &sty, err);
            snprintf(label, sizeof label, "%s: all edges", models[m]);
            sty.dashed = 1;
            if (!st) st = nv_plot_line(p, label, kx, ka, r->k_max, &sty, err);
            free(kx);
            free(ky);
            free(ka);
        }
        double at[5] = {0, 1, 2, 3, 4};
        const char *lab[5] = {"1", "10", "100", "1000", "10000"};
        int nt = (int)ceil(top) + 1;
        if (nt > 5) nt = 5;
        if (!st) st = nv_plot_panel_set_yticks(p, at, lab, nt, err);
        if (!st) nv_plot_panel_set_yrange(p, -0.05, fmax(1.0, top) + 0.1);
    }
    char path[PHR_PATH + 40];
    if (!st) st = nv_mkdirs(plan->fig_dir, err);
    if (!st) {
        snprintf(path, sizeof path, "%s/labelled_chart.png", plan->fig_dir);
        st = nv_plot_save(f, path, err);
    }
    if (!st) {
        snprintf(path, sizeof path, "%s/labelled_chart.svg", plan->fig_dir);
        st = nv_plot_save(f, path, err);
    }
    nv_plot_figure_free(f);
    return st;
}

/* ------------------------------------------------------------------ the step */

nv_status phr_labelled_summarize(const phr_plan *plan, const nv_phrun_options *o, int64_t *figures,
                                 nv_error *err) {
    lab_rows rs = {0};
    nv_status st = read_all(plan, &rs, err);
    if (!st && rs.n > 0) st = write_tables(plan, &rs, err);
    if (!st && rs.n > 0 && o->figures) {
        st = draw_chart(plan, &rs, err);
        if (!st && figures) *figures += 2;
    }
    rows_free(&rs);
    return st;
}
