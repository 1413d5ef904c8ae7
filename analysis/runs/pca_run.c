/* pca_run.c: the `nerve pca RUN` stage -- a PCA of every snapshot (model x epoch x
 * layer), with orientation kept from one epoch to the next -- and the plain-matrix
 * reader behind `nerve pca FILE`.
 *
 * Per (model, layer) the fit is made on the `all` split (train rows then test rows),
 * so the train and test projections are slices of one projection and the three
 * splits share axes. Signs follow the previous snapshot epoch's components of the
 * same model and layer (nv_pca_opts.reference), so a chain of epochs must be walked
 * in order: the threads split the work by (model, layer) chain, not by epoch. The
 * output is one file per snapshot (all layers of one model and epoch), so the work
 * runs in two phases: fit every chain (threads over chains), then write every file
 * (threads over files). A job-array task (--task i --tasks N) owns snapshot files;
 * it still walks each chain from the start, because its first owned epoch needs the
 * reference of the one before (or reads that epoch's components from its output file
 * when it is already there), so the files are the same bytes however the work is cut.
 */
#include "nerve/run_index.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/h5util.h"
#include "nerve/dataset.h" /* NV_MAX_CLASSES */
#include "nerve/parallel.h"
#include "nerve/pca.h"
#include "nerve/plot.h"
#include "nerve/snapshot.h"
#include "nerve/fsutil.h"

static const char *const SPLITS[3] = {"train", "test", "all"};

/* One layer's fit at one epoch, kept in memory between the two phases. */
typedef struct {
    nv_pca *fit;              /* fit on `all` (n_train + n_test rows) */
    int64_t n_train, n_test;
    int64_t reference_epoch;  /* the epoch whose components fixed the signs; -1: none */
} layer_fit;

typedef struct {
    nv_run_model *rm;
    char **out_paths;         /* (n_epochs) analysis/pca/<model>/epoch_EEEE.h5 */
    unsigned char *done;      /* (n_epochs) output exists with the same parameters */
    unsigned char *todo;      /* (n_epochs) selected, owned and not done: written here */
    layer_fit *fits;          /* (n_epochs, n_layers) filled for todo epochs */
} model_plan;

typedef struct {
    const nv_pca_run_opts *opts;
    int64_t k;
    model_plan *plans;
    int n_plans;
    int64_t (*chains)[2];     /* (n_chains) (plan, layer) */
    int64_t n_chains;
    int64_t (*files)[2];      /* (n_files) (plan, epoch) to write */
    int64_t n_files;
    pthread_mutex_t lock;     /* counters and progress */
    int64_t done_units, total_units;
    int64_t fits;
    const char *note;
} pca_ctx;

static void progress(pca_ctx *c, const char *what) {
    pthread_mutex_lock(&c->lock);
    c->done_units++;
    if (c->opts->progress)
        c->opts->progress(c->opts->progress_ctx, c->done_units, c->total_units, what);
    pthread_mutex_unlock(&c->lock);
}

/* --- the existing output: same parameters? ---------------------------------------- */

/* 1 when path is a nerve-pca v1 file of this epoch, made with k components, and holding
 * every layer in rm->layers (a file with more layers also serves). */
static int output_matches(const char *path, const nv_run_model *rm, int64_t epoch, int64_t k) {
    if (access(path, F_OK) != 0) return 0;
    nv_h5_quiet();
    hid_t fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (fid < 0) return 0;
    int ok = 0;
    int64_t v, fk, fe;
    nv_error e = {0};
    if (nv_h5_check_format(fid, path, NV_PCA_RUN_FORMAT, NV_PCA_RUN_VERSION, &v, &e) == NV_OK &&
        nv_h5_read_attr_i64(fid, "k", &fk, path, "/", &e) == NV_OK &&
        nv_h5_read_attr_i64(fid, "epoch", &fe, path, "/", &e) == NV_OK && fk == k && fe == epoch) {
        ok = 1;
        for (int l = 0; l < rm->n_layers && ok; l++) {
            char g[160];
            snprintf(g, sizeof g, "/layers/%s/components", rm->layers[l]);
            ok = nv_h5_exists(fid, g);
        }
    }
    H5Fclose(fid);
    return ok;
}

/* Components (k, d) of one layer from an existing output: the reference for the next epoch. */
static nv_status read_components(const char *path, const char *layer, double **comps,
                                 int64_t *k, int64_t *d, nv_error *err) {
    nv_h5_quiet();
    hid_t fid = nv_h5_open_read(path, err);
    if (fid < 0) return err && err->status ? err->status : NV_EINPUT;
    char ds[160];
    snprintf(ds, sizeof ds, "/layers/%s/components", layer);
    int64_t dims[2];
    void *buf = NULL;
    nv_status st = nv_h5_read_dataset(fid, ds, H5T_NATIVE_DOUBLE, sizeof(double), 2, &buf, dims,
                                      path, err);
    H5Fclose(fid);
    if (st != NV_OK) return st;
    *comps = buf;
    *k = dims[0];
    *d = dims[1];
    return NV_OK;
}

/* --- phase 1: fit a (model, layer) chain in epoch order ----------------------------- */

/* x (n_train + n_test, d): the `all` split, read as its two halves (which also gives
 * the split sizes). */
static nv_status read_all_split(const char *path, const char *layer, nv_real **x, int64_t *ntr,
                                int64_t *nte, int64_t *d, nv_error *err) {
    nv_real *tr = NULL, *te = NULL;
    int64_t dtr = 0, dte = 0;
    *x = NULL;
    nv_status st = nv_snapshot_read(path, layer, "train", 0, &tr, ntr, &dtr, err);
    if (st == NV_OK) st = nv_snapshot_read(path, layer, "test", 0, &te, nte, &dte, err);
    if (st == NV_OK && dtr != dte)
        st = nv_fail(err, NV_EINPUT, "file %s: layer %s: train has %lld columns, test %lld", path,
                     layer, (long long)dtr, (long long)dte);
    if (st == NV_OK) {
        *x = nv_malloc((size_t)(*ntr + *nte) * (size_t)dtr * sizeof **x + 1, err);
        if (!*x) st = NV_ENOMEM;
    }
    if (st == NV_OK) {
        memcpy(*x, tr, (size_t)*ntr * (size_t)dtr * sizeof **x);
        memcpy(*x + *ntr * dtr, te, (size_t)*nte * (size_t)dtr * sizeof **x);
        *d = dtr;
    }
    free(tr);
    free(te);
    return st;
}

static nv_status fit_chain(int64_t c, void *vctx, nv_error *err) {
    pca_ctx *ctx = vctx;
    model_plan *mp = &ctx->plans[ctx->chains[c][0]];
    int l = (int)ctx->chains[c][1];
    const nv_run_model *rm = mp->rm;
    const char *layer = rm->layers[l];
    int64_t last = -1;
    for (int64_t e = 0; e < rm->n_epochs; e++)
        if (mp->todo[e]) last = e;
    double *ref = NULL;          /* (kref, d) the previous epoch's components */
    int64_t kref = 0, dref = 0, ref_epoch = -1;
    nv_status st = NV_OK;
    for (int64_t e = 0; e <= last && st == NV_OK; e++) {
        if (mp->done[e]) {
            free(ref);
            ref = NULL;
            st = read_components(mp->out_paths[e], layer, &ref, &kref, &dref, err);
            ref_epoch = rm->epochs[e];
            continue;
        }
        nv_real *x = NULL;
        int64_t ntr = 0, nte = 0, d = 0;
        st = read_all_split(rm->paths[e], layer, &x, &ntr, &nte, &d, err);
        if (st != NV_OK) break;
        int64_t n = ntr + nte;
        /* A narrow layer (the 2 logits) keeps fewer components than asked for. */
        int64_t k = NV_MIN(ctx->k, NV_MIN(d, n - 1));
        if (k < 1) {
            free(x);
            st = nv_fail(err, NV_EINPUT, "file %s: layer %s has %lld points: expected at least 2 "
                         "for a PCA", rm->paths[e], layer, (long long)n);
            break;
        }
        nv_pca_opts po = {.k = k, .device = ctx->opts->device};
        if (ref && dref == d) {
            po.reference = ref;
            po.k_ref = NV_MIN(kref, k);
        }
        nv_pca *fit = NULL;
        const char *note = NULL;
        st = nv_pca_fit(x, n, d, &po, &fit, &note, err);
        free(x);
        if (st != NV_OK) {
            nv_error_prefix(err, "file %s: layer %s: ", rm->paths[e], layer);
            break;
        }
        pthread_mutex_lock(&ctx->lock);
        ctx->fits++;
        if (note && !ctx->note) ctx->note = note;
        pthread_mutex_unlock(&ctx->lock);
        /* The next epoch aligns to these components. */
        free(ref);
        ref = nv_malloc((size_t)(fit->k * d) * sizeof *ref, err);
        if (!ref) {
            nv_pca_free(fit);
            st = NV_ENOMEM;
            break;
        }
        memcpy(ref, fit->components, (size_t)(fit->k * d) * sizeof *ref);
        kref = fit->k;
        dref = d;
        if (mp->todo[e]) {
            layer_fit *lf = &mp->fits[e * rm->n_layers + l];
            lf->fit = fit;
            lf->n_train = ntr;
            lf->n_test = nte;
            lf->reference_epoch = po.reference ? ref_epoch : -1;
        } else {
            nv_pca_free(fit);
        }
        ref_epoch = rm->epochs[e];
    }
    free(ref);
    if (st == NV_OK) {
        char what[160];
        snprintf(what, sizeof what, "%s/%s", rm->model, layer);
        progress(ctx, what);
    }
    return st;
}

/* --- phase 2: write one output file ------------------------------------------------ */

static nv_status write_layer(hid_t fid, const char *file, const char *name, int index,
                             const layer_fit *lf, nv_error *err) {
    const nv_pca *p = lf->fit;
    hid_t gcpl = nv_h5_gcpl();
    char path[160];
    snprintf(path, sizeof path, "/layers/%s", name);
    hid_t g = H5Gcreate2(fid, path, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    hid_t gp = g >= 0 ? H5Gcreate2(g, "projections", H5P_DEFAULT, gcpl, H5P_DEFAULT) : -1;
    H5Pclose(gcpl);
    nv_status st = NV_OK;
    if (g < 0 || gp < 0) {
        st = nv_h5_fail(err, NV_EIO, file, path, "cannot create the group");
        goto done;
    }
    int64_t n90 = nv_pca_ncomponents_for(p, 0.9);
    int64_t dd = p->d, dr = p->r, dkd[2] = {p->k, p->d};
    hid_t F = H5T_IEEE_F64LE, M = H5T_NATIVE_DOUBLE;
    if ((st = nv_h5_attr_i64(g, "index", index, file, err)) ||
        (st = nv_h5_attr_i64(g, "width", p->d, file, err)) ||
        (st = nv_h5_attr_i64(g, "k", p->k, file, err)) ||
        (st = nv_h5_attr_i64(g, "n_components_90", n90, file, err)) ||
        (st = nv_h5_attr_i64(g, "n_train", lf->n_train, file, err)) ||
        (st = nv_h5_attr_i64(g, "n_test", lf->n_test, file, err)) ||
        (st = nv_h5_attr_i64(g, "reference_epoch", lf->reference_epoch, file, err)) ||
        (st = nv_h5_attr_f64(g, "total_variance", p->total_variance, file, err)) ||
        (st = nv_h5_attr_str(g, "form", p->form == NV_PCA_GRAM ? "gram" : "covariance", file, err)) ||
        (st = nv_h5_attr_str(g, "device", p->device == NV_DEVICE_CUDA ? "cuda" : "cpu", file, err)) ||
        (st = nv_h5_write_dataset(g, "mean", F, M, 1, &dd, p->mean, 0, file, err)) ||
        (st = nv_h5_write_dataset(g, "spectrum", F, M, 1, &dr, p->explained_variance, 0, file, err)) ||
        (st = nv_h5_write_dataset(g, "ratios", F, M, 1, &dr, p->explained_variance_ratio, 0, file,
                                  err)) ||
        (st = nv_h5_write_dataset(g, "components", F, M, 2, dkd, p->components, 0, file, err)))
        goto done;
    /* Train rows come first in `all`, so the split projections are slices of it. */
    int64_t dtr[2] = {lf->n_train, p->k}, dte[2] = {lf->n_test, p->k}, dal[2] = {p->n, p->k};
    if ((st = nv_h5_write_dataset(gp, "train", F, M, 2, dtr, p->projections, 0, file, err)) ||
        (st = nv_h5_write_dataset(gp, "test", F, M, 2, dte, p->projections + lf->n_train * p->k, 0,
                                  file, err)) ||
        (st = nv_h5_write_dataset(gp, "all", F, M, 2, dal, p->projections, 0, file, err)))
        goto done;
done:
    if (gp >= 0) H5Gclose(gp);
    if (g >= 0) H5Gclose(g);
    return st;
}

static nv_status write_file(int64_t i, void *vctx, nv_error *err) {
    pca_ctx *ctx = vctx;
    model_plan *mp = &ctx->plans[ctx->files[i][0]];
    int64_t e = ctx->files[i][1];
    const nv_run_model *rm = mp->rm;
    const char *file = mp->out_paths[e];
    char *tmp = NULL;
    nv_h5_quiet();
    hid_t fid = nv_h5_create_temp(file, &tmp, err);
    if (fid < 0) return err && err->status ? err->status : NV_EIO;
    nv_status st;
    /* The snapshot path relative to the run, for provenance (no absolute paths: the
     * bytes must not depend on where the run lives). */
    const char *rel = rm->rel_paths[e];
    if ((st = nv_h5_attr_str(fid, "format", NV_PCA_RUN_FORMAT, file, err)) ||
        (st = nv_h5_attr_i64(fid, "format_version", NV_PCA_RUN_VERSION, file, err)) ||
        (st = nv_h5_attr_str(fid, "nerve_version", NERVE_VERSION, file, err)) ||
        (st = nv_h5_attr_str(fid, "model", rm->model, file, err)) ||
        (st = nv_h5_attr_i64(fid, "epoch", rm->epochs[e], file, err)) ||
        (st = nv_h5_attr_i64(fid, "k", ctx->k, file, err)) ||
        (st = nv_h5_attr_str(fid, "source", rel, file, err)) ||
        (st = nv_h5_attr_str(fid, "fit_split", "all", file, err)) ||
        (st = nv_h5_attr_str(fid, "alignment", "signs of the previous snapshot epoch's components "
                             "of the same model and layer (reference_epoch on each layer)",
                             file, err)) ||
        (st = nv_h5_attr_strs(fid, "splits", SPLITS, 3, file, err)) ||
        (st = nv_h5_attr_strs(fid, "layer_names", (const char *const *)rm->layers, rm->n_layers,
                              file, err)))
        goto fail;
    hid_t gcpl = nv_h5_gcpl();
    hid_t g = H5Gcreate2(fid, "layers", H5P_DEFAULT, gcpl, H5P_DEFAULT);
    H5Pclose(gcpl);
    if (g < 0) {
        st = nv_h5_fail(err, NV_EIO, file, "/layers", "cannot create the group");
        goto fail;
    }
    H5Gclose(g);
    for (int l = 0; l < rm->n_layers; l++)
        if ((st = write_layer(fid, file, rm->layers[l], l, &mp->fits[e * rm->n_layers + l], err)))
            goto fail;
    st = nv_h5_commit_temp(fid, tmp, file, err);
    free(tmp);
    if (st == NV_OK) {
        char what[160];
        snprintf(what, sizeof what, "%s epoch %lld", rm->model, (long long)rm->epochs[e]);
        progress(ctx, what);
    }
    return st;
fail:
    nv_h5_discard_temp(fid, tmp);
    free(tmp);
    return st;
}

/* --- the figure ------------------------------------------------------------------- */

/* Reads (rows, k) projections of one split back from an output file. */
static nv_status read_projection(const char *path, const char *layer, const char *split,
                                 double **out, int64_t *rows, int64_t *k, nv_error *err) {
    hid_t fid = nv_h5_open_read(path, err);
    if (fid < 0) return err && err->status ? err->status : NV_EINPUT;
    char ds[192];
    snprintf(ds, sizeof ds, "/layers/%s/projections/%s", layer, split);
    int64_t dims[2];
    void *buf = NULL;
    nv_status st = nv_h5_read_dataset(fid, ds, H5T_NATIVE_DOUBLE, sizeof(double), 2, &buf, dims,
                                      path, err);
    H5Fclose(fid);
    if (st == NV_OK && dims[1] < 1) {
        free(buf);
        return nv_fail(err, NV_EINPUT, "file %s: %s has no columns: expected at least one component",
                       path, ds);
    }
    if (st == NV_OK) {
        *out = buf;
        *rows = dims[0];
        *k = dims[1];
    }
    return st;
}

/* The variance ratio of the first two components (one for a width-1 layer). */
static nv_status read_shown_variance(const char *path, const char *layer, double *shown,
                                     nv_error *err) {
    hid_t fid = nv_h5_open_read(path, err);
    if (fid < 0) return err && err->status ? err->status : NV_EINPUT;
    char ds[192];
    snprintf(ds, sizeof ds, "/layers/%s/ratios", layer);
    int64_t r = 0;
    void *buf = NULL;
    nv_status st = nv_h5_read_dataset(fid, ds, H5T_NATIVE_DOUBLE, sizeof(double), 1, &buf, &r,
                                      path, err);
    H5Fclose(fid);
    if (st != NV_OK) return st;
    const double *ratios = buf;
    *shown = (r > 0 ? ratios[0] : 0.0) + (r > 1 ? ratios[1] : 0.0);
    free(buf);
    return NV_OK;
}

/* Adds one split of one panel: a series per class, train in the class colour with
 * filled circles, test in a darker shade of it with triangles, so the two are told
 * apart in colour and in shape (and in grey print). At most max_points rows, strided. */
static nv_status add_split(nv_plot_panel *p, const double *proj, int64_t rows, int64_t k,
                           const int64_t *labels, int test, int max_points, int label_series,
                           nv_error *err) {
    int64_t m = NV_MIN(rows, (int64_t)max_points);
    int64_t *idx = nv_malloc((size_t)(m > 0 ? m : 1) * sizeof *idx, err);
    double *x = nv_malloc((size_t)(m > 0 ? m : 1) * sizeof *x, err);
    double *y = nv_malloc((size_t)(m > 0 ? m : 1) * sizeof *y, err);
    nv_status st = (!idx || !x || !y) ? NV_ENOMEM : NV_OK;
    int64_t max_label = 0;
    for (int64_t i = 0; i < rows && st == NV_OK; i++) {
        /* one series per class: a label from a damaged file must not make billions */
        if (labels[i] < 0 || labels[i] >= NV_MAX_CLASSES)
            st = nv_fail(err, NV_EINPUT, "label %lld of row %lld: expected 0 .. %d", (long long)labels[i],
                         (long long)i, NV_MAX_CLASSES - 1);
        else max_label = NV_MAX(max_label, labels[i]);
    }
    if (st == NV_OK) nv_run_strided_rows(rows, m, idx);
    for (int64_t c = 0; c <= max_label && st == NV_OK; c++) {
        int64_t cnt = 0;
        for (int64_t i = 0; i < m; i++) {
            if (labels[idx[i]] != c) continue;
            x[cnt] = proj[idx[i] * k];
            y[cnt] = k > 1 ? proj[idx[i] * k + 1] : 0.0;
            cnt++;
        }
        nv_plot_style s = {.has_color = 1, .color = nv_plot_palette((int)c), .line_width = -1,
                           .marker = test ? NV_MARKER_TRIANGLE : NV_MARKER_CIRCLE,
                           .marker_size = 1.6};
        if (test) {
            s.color.r *= 0.55;
            s.color.g *= 0.55;
            s.color.b *= 0.55;
        }
        char label[64];
        snprintf(label, sizeof label, "class %lld %s", (long long)c, test ? "test" : "train");
        if (cnt > 0) st = nv_plot_scatter(p, label_series ? label : NULL, x, y, cnt, &s, err);
    }
    free(idx);
    free(x);
    free(y);
    return st;
}

static nv_status draw_grid(const model_plan *mp, const char *fig_dir, int max_points, int *count,
                           nv_error *err) {
    const nv_run_model *rm = mp->rm;
    int rows = 0;
    for (int64_t e = 0; e < rm->n_epochs; e++) rows += rm->selected[e];
    int cols = rm->n_layers;
    if (rows == 0 || cols == 0) return NV_OK;
    nv_plot_figure *f = NULL;
    nv_status st = nv_plot_figure_new(rows, cols, 40 + 165.0 * cols, 70 + 150.0 * rows, &f, err);
    if (st != NV_OK) return st;
    char title[160];
    snprintf(title, sizeof title, "PCA of %s: PC1 vs PC2 by layer (columns) and epoch (rows); "
             "%% = variance in PC1 + PC2",
             rm->model);
    nv_plot_figure_set_title(f, title);
    int r = 0;
    for (int64_t e = 0; e < rm->n_epochs && st == NV_OK; e++) {
        if (!rm->selected[e]) continue;
        for (int l = 0; l < cols && st == NV_OK; l++) {
            nv_plot_panel *p = nv_plot_figure_panel(f, r, l);
            double *proj = NULL;
            int64_t *lab = NULL;
            int64_t nr = 0, k = 0, nl = 0;
            for (int s = 0; s < 2 && st == NV_OK; s++) {
                st = read_projection(mp->out_paths[e], rm->layers[l], SPLITS[s], &proj, &nr, &k, err);
                if (st == NV_OK)
                    st = nv_snapshot_read_index(rm->paths[e], "labels", SPLITS[s], &lab, &nl, err);
                if (st == NV_OK && nl != nr)
                    st = nv_fail(err, NV_EINPUT, "file %s: %lld projections of %s but the snapshot "
                                 "has %lld labels", mp->out_paths[e], (long long)nr, SPLITS[s],
                                 (long long)nl);
                if (st == NV_OK)
                    st = add_split(p, proj, nr, k, lab, s == 1, max_points, r == 0 && l == 0, err);
                free(proj);
                free(lab);
                proj = NULL;
                lab = NULL;
            }
            /* The share of the variance the panel shows, so a flat-looking cloud is
             * read for what it is. */
            double shown = NAN;
            if (st == NV_OK) st = read_shown_variance(mp->out_paths[e], rm->layers[l], &shown, err);
            char pt[128];
            snprintf(pt, sizeof pt, "%s, epoch %lld (%.0f%%)", rm->layers[l],
                     (long long)rm->epochs[e], 100.0 * shown);
            nv_plot_panel_set_title(p, pt);
            if (r == rows - 1) nv_plot_panel_set_xlabel(p, "PC1");
            if (l == 0) nv_plot_panel_set_ylabel(p, "PC2");
            nv_plot_panel_set_legend(p, NV_LEGEND_NONE);
        }
        r++;
    }
    if (st == NV_OK) {
        nv_plot_figure_set_legend_from(f, nv_plot_figure_panel(f, 0, 0));
        const char *ext[2] = {"png", "svg"};
        for (int i = 0; i < 2 && st == NV_OK; i++) {
            char path[4400];
            snprintf(path, sizeof path, "%s/pca_grid_%s.%s", fig_dir, rm->model, ext[i]);
            st = nv_plot_save(f, path, err);
            if (st == NV_OK) (*count)++;
        }
    }
    nv_plot_figure_free(f);
    return st;
}

nv_status nv_pca_run_read_output(const char *path, const char *layer, nv_error *err) {
    nv_h5_quiet();
    hid_t fid = nv_h5_open_read(path, err);
    if (fid < 0) return err && err->status ? err->status : NV_EINPUT;
    int64_t v = 0, k = 0, epoch = 0;
    nv_status st = nv_h5_check_format(fid, path, NV_PCA_RUN_FORMAT, NV_PCA_RUN_VERSION, &v, err);
    if (!st) st = nv_h5_read_attr_i64(fid, "k", &k, path, "/", err);
    if (!st) st = nv_h5_read_attr_i64(fid, "epoch", &epoch, path, "/", err);
    H5Fclose(fid);
    double *comps = NULL, *proj = NULL, shown = 0;
    int64_t kc = 0, d = 0, rows = 0, kp = 0, *labels = NULL;
    if (!st) st = read_components(path, layer, &comps, &kc, &d, err);
    nv_plot_figure *f = NULL;
    if (!st) st = nv_plot_figure_new(1, 1, 200, 200, &f, err);
    for (int s = 0; s < 2 && !st; s++) {
        st = read_projection(path, layer, SPLITS[s], &proj, &rows, &kp, err);
        if (!st) {
            labels = nv_calloc((size_t)NV_MAX(rows, 1), sizeof *labels, err);
            if (!labels) st = NV_ENOMEM;
            for (int64_t i = 0; i < rows && !st; i++) labels[i] = i % 3;
        }
        if (!st) st = add_split(nv_plot_figure_panel(f, 0, 0), proj, rows, kp, labels, s, 250, 1, err);
        free(proj);
        free(labels);
        proj = NULL;
        labels = NULL;
    }
    if (!st) st = read_shown_variance(path, layer, &shown, err);
    nv_plot_figure_free(f);
    free(comps);
    return st;
}

/* --- the stage -------------------------------------------------------------------- */

nv_status nv_pca_run(const char *run_dir, const nv_pca_run_opts *opts_in, nv_pca_run_result *res,
                     nv_error *err) {
    nv_pca_run_opts opts = opts_in ? *opts_in : (nv_pca_run_opts){0};
    nv_pca_run_result r = {0};
    pca_ctx ctx = {.opts = &opts, .k = opts.k > 0 ? opts.k : NV_PCA_DEFAULT_K};
    pthread_mutex_init(&ctx.lock, NULL);
    int tasks = opts.tasks > 0 ? opts.tasks : 1;
    nv_run_index ix = {0};
    nv_status st;
    if (opts.task < 0 || opts.task >= tasks) {
        st = nv_fail(err, NV_EINPUT, "task %d of %d: expected 0 <= task < tasks", opts.task, tasks);
        goto done;
    }
    nv_run_index_opts io = {.select = opts.select, .task = opts.task, .tasks = tasks};
    st = nv_run_index_read(run_dir, &io, &ix, err);
    if (st != NV_OK) goto done;
    ctx.n_plans = ix.n_models;
    ctx.plans = nv_calloc((size_t)ix.n_models, sizeof *ctx.plans, err);
    if (!ctx.plans) {
        st = NV_ENOMEM;
        goto done;
    }
    int64_t max_chains = 0, max_files = 0;
    for (int m = 0; m < ix.n_models; m++) {
        nv_run_model *rm = &ix.models[m];
        model_plan *mp = &ctx.plans[m];
        mp->rm = rm;
        mp->out_paths = nv_calloc((size_t)rm->n_epochs, sizeof *mp->out_paths, err);
        mp->done = nv_calloc((size_t)rm->n_epochs, 1, err);
        mp->todo = nv_calloc((size_t)rm->n_epochs, 1, err);
        mp->fits = nv_calloc((size_t)(rm->n_epochs * (rm->n_layers ? rm->n_layers : 1)),
                             sizeof *mp->fits, err);
        if (!mp->out_paths || !mp->done || !mp->todo || !mp->fits) {
            st = NV_ENOMEM;
            goto done;
        }
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/analysis/pca/%s", run_dir, rm->model);
        if ((st = nv_mkdirs(dir, err))) goto done;
        for (int64_t e = 0; e < rm->n_epochs; e++) {
            size_t len = strlen(dir) + 32;
            mp->out_paths[e] = nv_malloc(len, err);
            if (!mp->out_paths[e]) {
                st = NV_ENOMEM;
                goto done;
            }
            snprintf(mp->out_paths[e], len, "%s/epoch_%04lld.h5", dir, (long long)rm->epochs[e]);
            /* --force: this task's selected files are made again (the others may
             * still serve the sign alignment as they are) */
            int redo = opts.force && rm->owned[e];
            mp->done[e] = (unsigned char)(!redo && output_matches(mp->out_paths[e], rm, rm->epochs[e], ctx.k));
            if (!rm->selected[e]) continue;
            r.snapshots++;
            if (!rm->owned[e]) r.not_owned++;
            else if (mp->done[e]) r.skipped++;
            else {
                mp->todo[e] = 1;
                max_files++;
            }
        }
        max_chains += rm->n_layers;
    }
    ctx.chains = nv_calloc((size_t)(max_chains ? max_chains : 1), sizeof *ctx.chains, err);
    ctx.files = nv_calloc((size_t)(max_files ? max_files : 1), sizeof *ctx.files, err);
    if (!ctx.chains || !ctx.files) {
        st = NV_ENOMEM;
        goto done;
    }
    for (int m = 0; m < ctx.n_plans; m++) {
        const model_plan *mp = &ctx.plans[m];
        int any = 0;
        for (int64_t e = 0; e < mp->rm->n_epochs; e++)
            if (mp->todo[e]) {
                ctx.files[ctx.n_files][0] = m;
                ctx.files[ctx.n_files++][1] = e;
                any = 1;
            }
        for (int l = 0; any && l < mp->rm->n_layers; l++) {
            ctx.chains[ctx.n_chains][0] = m;
            ctx.chains[ctx.n_chains++][1] = l;
        }
    }
    ctx.total_units = ctx.n_chains + ctx.n_files;
    st = nv_parallel_for(ctx.n_chains, opts.threads, fit_chain, &ctx, err);
    if (st == NV_OK) st = nv_parallel_for(ctx.n_files, opts.threads, write_file, &ctx, err);
    if (st != NV_OK) goto done;
    r.written = ctx.n_files;
    r.fits = ctx.fits;
    r.device_note = ctx.note;
    /* Figures once every selected epoch of a model has its file: redrawn when this call
     * wrote one, or when the figure is missing (a run killed between the two). */
    if (opts.figures) {
        char fig_dir[4200];
        snprintf(fig_dir, sizeof fig_dir, "%s/analysis/figures", run_dir);
        if ((st = nv_mkdirs(fig_dir, err))) goto done;
        for (int m = 0; m < ctx.n_plans && st == NV_OK; m++) {
            const model_plan *mp = &ctx.plans[m];
            int complete = 1, wrote = 0;
            for (int64_t e = 0; e < mp->rm->n_epochs; e++) {
                if (!mp->rm->selected[e]) continue;
                wrote |= mp->todo[e];
                complete &= mp->todo[e] || mp->done[e];
            }
            /* both formats: a kill between the PNG and the SVG leaves only the first */
            char png[4300], svg[4300];
            snprintf(png, sizeof png, "%s/pca_grid_%s.png", fig_dir, mp->rm->model);
            snprintf(svg, sizeof svg, "%s/pca_grid_%s.svg", fig_dir, mp->rm->model);
            if (complete && (wrote || access(png, F_OK) != 0 || access(svg, F_OK) != 0))
                st = draw_grid(mp, fig_dir, opts.figure_points > 0 ? opts.figure_points : 250,
                               &r.figures, err);
        }
    }
done:
    for (int m = 0; ctx.plans && m < ctx.n_plans; m++) {
        model_plan *mp = &ctx.plans[m];
        for (int64_t e = 0; mp->rm && e < mp->rm->n_epochs; e++) {
            free(mp->out_paths ? mp->out_paths[e] : NULL);
            for (int l = 0; mp->fits && l < mp->rm->n_layers; l++)
                nv_pca_free(mp->fits[e * mp->rm->n_layers + l].fit);
        }
        free(mp->out_paths);
        free(mp->done);
        free(mp->todo);
        free(mp->fits);
    }
    free(ctx.plans);
    free(ctx.chains);
    free(ctx.files);
    nv_run_index_free(&ix);
    pthread_mutex_destroy(&ctx.lock);
    if (res) *res = r;
    return st;
}

/* --- nerve pca FILE: plain matrices -------------------------------------------------- */

/* Fields are separated by commas, semicolons, tabs or blanks; a run of separators
 * counts as one (so "1, 2" and aligned columns both read), which also makes an
 * empty field vanish -- the row-length check then names the line. */
static int is_sep(char c) { return c == ',' || c == ';' || c == '\t' || c == ' ' || c == '\r'; }

/* Parses one line into numbers; returns the field count, or -1 with *bad set to the
 * 0-based index of the first field that is not a number. vals may be NULL (count only). */
static int64_t parse_line(const char *p, const char *end, double *vals, int64_t cap, int64_t *bad) {
    int64_t n = 0;
    for (;;) {
        while (p < end && is_sep(*p)) p++;
        if (p >= end) return n;
        const char *f = p;
        while (p < end && !is_sep(*p)) p++;
        char tmp[128];
        size_t len = (size_t)(p - f);
        char *ep = tmp;
        double v = 0;
        if (len < sizeof tmp) { /* longer than any number: not one */
            memcpy(tmp, f, len);
            tmp[len] = '\0';
            v = strtod(tmp, &ep);
        }
        if (len >= sizeof tmp || ep == tmp || *ep != '\0') {
            *bad = n;
            return -1;
        }
        if (vals && n < cap) vals[n] = v;
        n++;
    }
}

static nv_status read_csv(const char *path, nv_real **out, int64_t *rows, int64_t *cols,
                          nv_error *err) {
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return nv_fail(err, NV_EINPUT, "file %s: cannot open (%s): expected a CSV file of numbers "
                       "or FILE.h5:/dataset", path, strerror(errno));
    char *text = NULL;
    size_t len = 0, cap = 0;
    char chunk[65536];
    size_t got;
    nv_status st = NV_OK;
    while ((got = fread(chunk, 1, sizeof chunk, fp)) > 0) {
        if (len + got + 1 > cap) {
            cap = (len + got + 1) * 2;
            char *t = realloc(text, cap);
            if (!t) {
                st = nv_fail(err, NV_ENOMEM, "file %s: out of memory reading it", path);
                break;
            }
            text = t;
        }
        memcpy(text + len, chunk, got);
        len += got;
    }
    fclose(fp);
    if (st != NV_OK) {
        free(text);
        return st;
    }
    nv_real *x = NULL;
    int64_t n = 0, d = -1, xcap = 0, line = 0;
    double *vals = NULL;
    const char *p = text ? text : "", *end = p + len;
    while (p < end && st == NV_OK) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        line++;
        int64_t bad = -1;
        int64_t cnt = parse_line(p, le, NULL, 0, &bad);
        if (cnt < 0) {
            if (line == 1 && n == 0) { /* a header line */
                p = nl ? nl + 1 : end;
                continue;
            }
            int w = (int)NV_MIN(le - p, 60);
            st = nv_fail(err, NV_EINPUT, "file %s: line %lld, column %lld: not a number in '%.*s': "
                         "expected numbers only (a header is allowed on line 1)", path,
                         (long long)line, (long long)bad + 1, w, p);
            break;
        }
        if (cnt > 0) {
            if (d < 0) {
                d = cnt;
                vals = nv_malloc((size_t)d * sizeof *vals, err);
                if (!vals) {
                    st = NV_ENOMEM;
                    break;
                }
            } else if (cnt != d) {
                st = nv_fail(err, NV_EINPUT, "file %s: line %lld has %lld fields: expected %lld like "
                             "the first data row", path, (long long)line, (long long)cnt,
                             (long long)d);
                break;
            }
            parse_line(p, le, vals, d, &bad);
            if (n + 1 > xcap) {
                xcap = xcap ? 2 * xcap : 256;
                nv_real *t = realloc(x, (size_t)xcap * (size_t)d * sizeof *x);
                if (!t) {
                    st = nv_fail(err, NV_ENOMEM, "file %s: out of memory", path);
                    break;
                }
                x = t;
            }
            for (int64_t j = 0; j < d; j++) {
                if (!isfinite(vals[j]) || !isfinite((float)vals[j])) {
                    st = nv_fail(err, NV_EINPUT, "file %s: line %lld (data row %lld), column %lld "
                                 "is %g: expected a finite number", path, (long long)line,
                                 (long long)n + 1, (long long)j + 1, vals[j]);
                    break;
                }
                x[n * d + j] = (nv_real)vals[j];
            }
            n++;
        }
        p = nl ? nl + 1 : end;
    }
    free(vals);
    free(text);
    if (st == NV_OK && n == 0)
        st = nv_fail(err, NV_EINPUT, "file %s: no data rows: expected a CSV of numbers", path);
    if (st != NV_OK) {
        free(x);
        return st;
    }
    *out = x;
    *rows = n;
    *cols = d;
    return NV_OK;
}

static nv_status read_h5_matrix(const char *file, const char *ds, nv_real **out, int64_t *rows,
                                int64_t *cols, nv_error *err) {
    nv_h5_quiet();
    hid_t fid = nv_h5_open_read(file, err);
    if (fid < 0) return err && err->status ? err->status : NV_EINPUT;
    nv_status st;
    if (!nv_h5_exists(fid, ds)) {
        st = nv_fail(err, NV_EINPUT, "file %s: no dataset '%s'", file, ds);
    } else {
        int64_t dims[2];
        void *buf = NULL;
        st = nv_h5_read_dataset(fid, ds, H5T_NATIVE_FLOAT, sizeof(nv_real), 2, &buf, dims, file, err);
        if (st == NV_OK) {
            nv_real *x = buf;
            for (int64_t i = 0; i < dims[0] * dims[1]; i++)
                if (!isfinite(x[i])) {
                    st = nv_fail(err, NV_EINPUT, "file %s: dataset %s: row %lld, column %lld is %g: "
                                 "expected a finite number", file, ds, (long long)(i / dims[1]) + 1,
                                 (long long)(i % dims[1]) + 1, (double)x[i]);
                    break;
                }
            if (st == NV_OK) {
                *out = x;
                *rows = dims[0];
                *cols = dims[1];
            } else {
                free(x);
            }
        }
    }
    H5Fclose(fid);
    return st;
}

nv_status nv_matrix_read(const char *spec, nv_real **out, int64_t *rows, int64_t *cols,
                         nv_error *err) {
    *out = NULL;
    /* "file.h5:/path": the longest prefix before a ':' that is an existing file. */
    const char *colon = strrchr(spec, ':');
    while (colon) {
        size_t flen = (size_t)(colon - spec);
        char file[4096];
        if (flen > 0 && flen < sizeof file) {
            memcpy(file, spec, flen);
            file[flen] = '\0';
            if (access(file, F_OK) == 0 && access(spec, F_OK) != 0)
                return read_h5_matrix(file, colon + 1, out, rows, cols, err);
        }
        const char *prev = NULL;
        for (const char *q = spec; q < colon; q++)
            if (*q == ':') prev = q;
        colon = prev;
    }
    /* An HDF5 file without a dataset path: say what is expected. */
    FILE *fp = fopen(spec, "rb");
    if (fp) {
        unsigned char sig[8] = {0};
        size_t got = fread(sig, 1, 8, fp);
        fclose(fp);
        if (got == 8 && !memcmp(sig, "\211HDF\r\n\032\n", 8))
            return nv_fail(err, NV_EINPUT, "file %s is HDF5: expected FILE.h5:/path/to/dataset "
                           "naming a 2-D dataset", spec);
    }
    return read_csv(spec, out, rows, cols, err);
}
