/* stats_run.c: the `nerve stats RUN` stage -- per snapshot and layer the intrinsic
 * dimension (TwoNN, Ansuini et al.'s variant) next to the number of PCA components
 * that explain 90% of the variance, a linear probe (train split -> test split), and
 * linear CKA between the layers of one net, between epochs of one layer, and between
 * the expressive and the bottlenecked net at the same epoch.
 *
 * Three phases, each spread over threads with nv_parallel_for:
 *   A. one unit per snapshot (model, epoch): TwoNN, PCA-90 and the probe of every
 *      layer, and the layer-by-layer CKA matrix;
 *   B. one unit per (model, layer): CKA between every pair of epochs;
 *   C. one unit per epoch both nets have: CKA between their layers.
 * Everything lands in one file, analysis/stats/stats.h5 (format nerve-stats v1),
 * written last and atomically, plus CSV tables and figures written before it: so a
 * stats.h5 with the same parameters means the whole stage finished, and a second
 * call does nothing. Per-unit results are small; a run killed midway recomputes the
 * stage (well under a minute for the default run). Each unit uses one BLAS thread,
 * so the numbers do not depend on --threads.
 *
 * Subsampling (recorded as attributes): TwoNN sees at most twonn_points rows of a
 * split and CKA at most cka_points rows of `all`, both strided (nv_run_strided_rows:
 * deterministic, no random stream, and the same rows for every layer, epoch and
 * model, which CKA needs). PCA-90 and the probe use every row.
 */
#include "nerve/run_index.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/h5util.h"
#include "nerve/parallel.h"
#include "nerve/pca.h"
#include "nerve/plot.h"
#include "nerve/snapshot.h"
#include "nerve/stats.h"
#include "nerve/strbuf.h"
#include "nerve/fsutil.h"

static const char *const SPLITS[3] = {"train", "test", "all"};
#define PCA_FRACTION 0.9

typedef struct {
    nv_run_model *rm;
    int64_t E;                /* selected epochs */
    int64_t *eidx;            /* (E) index into rm->epochs */
    int64_t *epochs;          /* (E) epoch numbers */
    int L;
    double *twonn;            /* (E, L, 3) by split train, test, all; NaN where undefined */
    int64_t *twonn_rows;      /* (E, L, 3) rows handed to TwoNN */
    int64_t *pca90;           /* (E, L, 3) components for 90% of the variance */
    double *probe_train;      /* (E, L) accuracy */
    double *probe_test;       /* (E, L) */
    int64_t *probe_iter;      /* (E, L) L-BFGS iterations */
    int64_t *probe_conv;      /* (E, L) 1 when converged */
    double *cka_layers;       /* (E, L, L) */
    double *cka_epochs;       /* (L, E, E) */
} model_stats;

typedef struct {
    int a, b;                 /* model_stats indices: expressive, bottleneck */
    int64_t E;
    int64_t *ea, *eb;         /* (E) indices into each model's selected epochs */
    double *cka;              /* (E, La, Lb) */
} cross_stats;

typedef struct {
    const nv_stats_run_opts *o;
    int64_t twonn_points, cka_points;
    nv_probe_opts probe;
    model_stats *ms;
    int n_ms;
    cross_stats cross;
    int has_cross;
    int64_t (*units)[2];
    pthread_mutex_t lock;
    int64_t done_units, total_units;
} stats_ctx;

static void progress(stats_ctx *c, const char *what) {
    pthread_mutex_lock(&c->lock);
    c->done_units++;
    if (c->o->progress) c->o->progress(c->o->progress_ctx, c->done_units, c->total_units, what);
    pthread_mutex_unlock(&c->lock);
}

/* A copy of at most m rows of x (n, d), strided; *out_rows gets the count. When no
 * subsampling is needed the copy is still made, so callers own what they get. */
static nv_real *subsample(const nv_real *x, int64_t n, int64_t d, int64_t m, int64_t *out_rows,
                          nv_error *err) {
    int64_t r = NV_MIN(n, m);
    nv_real *y = nv_malloc((size_t)(r > 0 ? r : 1) * (size_t)d * sizeof *y, err);
    int64_t *idx = nv_malloc((size_t)(r > 0 ? r : 1) * sizeof *idx, err);
    if (!y || !idx) {
        free(y);
        free(idx);
        return NULL;
    }
    nv_run_strided_rows(n, r, idx);
    for (int64_t i = 0; i < r; i++) memcpy(y + i * d, x + idx[i] * d, (size_t)d * sizeof *y);
    free(idx);
    *out_rows = r;
    return y;
}

/* Undefined statistics (a dead layer: every row equal; one class only) are stored as
 * NaN rather than stopping the stage: they are findings about the net, not bad input. */
static int soft_failure(nv_status st, nv_error *e) {
    if (st == NV_EINPUT) {
        nv_error_clear(e);
        return 1;
    }
    return 0;
}

/* CKA matrix of layers, falling back to pairwise values (NaN for a layer without
 * variance) when the one-shot matrix refuses. out (L, L). */
static nv_status cka_matrix_soft(const nv_real *const *xs, const int64_t *widths, int64_t L,
                                 int64_t n, double *out, nv_error *err) {
    nv_error e = {0};
    nv_status st = nv_cka_matrix(xs, widths, L, n, out, &e);
    if (st == NV_OK) return NV_OK;
    if (!soft_failure(st, &e)) {
        *err = e;
        return st;
    }
    for (int64_t i = 0; i < L; i++)
        for (int64_t j = i; j < L; j++) {
            double v = NAN;
            st = nv_cka_linear(xs[i], widths[i], xs[j], widths[j], n, &v, &e);
            if (st != NV_OK && !soft_failure(st, &e)) {
                *err = e;
                return st;
            }
            if (st != NV_OK) v = NAN;
            out[i * L + j] = out[j * L + i] = v;
        }
    return NV_OK;
}

/* --- phase A: one snapshot ----------------------------------------------------------- */

static nv_status snapshot_unit(int64_t u, void *vctx, nv_error *err) {
    stats_ctx *c = vctx;
    model_stats *ms = &c->ms[c->units[u][0]];
    int64_t ei = c->units[u][1];
    const char *path = ms->rm->paths[ms->eidx[ei]];
    int L = ms->L;
    nv_real **sub = nv_calloc((size_t)L, sizeof *sub, err);
    int64_t *widths = nv_calloc((size_t)L, sizeof *widths, err);
    int64_t *ytr64 = NULL, *yte64 = NULL, ntr_l = 0, nte_l = 0, nsub = 0;
    int32_t *ytr = NULL, *yte = NULL;
    nv_real *tr = NULL, *te = NULL, *all = NULL;
    nv_status st = (!sub || !widths) ? NV_ENOMEM : NV_OK;
    if (st == NV_OK) st = nv_snapshot_read_index(path, "labels", "train", &ytr64, &ntr_l, err);
    if (st == NV_OK) st = nv_snapshot_read_index(path, "labels", "test", &yte64, &nte_l, err);
    if (st == NV_OK) {
        ytr = nv_malloc((size_t)(ntr_l + 1) * sizeof *ytr, err);
        yte = nv_malloc((size_t)(nte_l + 1) * sizeof *yte, err);
        if (!ytr || !yte) st = NV_ENOMEM;
    }
    int64_t classes = 0;
    for (int64_t i = 0; st == NV_OK && i < ntr_l; i++) {
        ytr[i] = (int32_t)ytr64[i];
        classes = NV_MAX(classes, ytr64[i] + 1);
    }
    for (int64_t i = 0; st == NV_OK && i < nte_l; i++) {
        yte[i] = (int32_t)yte64[i];
        classes = NV_MAX(classes, yte64[i] + 1);
    }
    for (int l = 0; l < L && st == NV_OK; l++) {
        const char *layer = ms->rm->layers[l];
        int64_t ntr, nte, d, dte;
        st = nv_snapshot_read(path, layer, "train", 0, &tr, &ntr, &d, err);
        if (st == NV_OK) st = nv_snapshot_read(path, layer, "test", 0, &te, &nte, &dte, err);
        if (st == NV_OK && (dte != d || ntr != ntr_l || nte != nte_l))
            st = nv_fail(err, NV_EINPUT, "file %s: layer %s: train/test shapes do not match the "
                         "labels", path, layer);
        if (st != NV_OK) break;
        int64_t n = ntr + nte;
        all = nv_malloc((size_t)n * (size_t)d * sizeof *all, err);
        if (!all) {
            st = NV_ENOMEM;
            break;
        }
        memcpy(all, tr, (size_t)(ntr * d) * sizeof *all);
        memcpy(all + ntr * d, te, (size_t)(nte * d) * sizeof *all);
        const nv_real *xs[3] = {tr, te, all};
        const int64_t ns[3] = {ntr, nte, n};
        for (int s = 0; s < 3 && st == NV_OK; s++) {
            int64_t at = (ei * L + l) * 3 + s, rows = 0;
            nv_real *y = subsample(xs[s], ns[s], d, c->twonn_points, &rows, err);
            if (!y) {
                st = NV_ENOMEM;
                break;
            }
            nv_twonn_result tw;
            nv_error e = {0};
            nv_status s2 = nv_twonn(y, rows, d, NULL, &tw, &e);
            free(y);
            ms->twonn_rows[at] = rows;
            if (s2 == NV_OK) ms->twonn[at] = tw.dimension;
            else if (soft_failure(s2, &e)) ms->twonn[at] = NAN;
            else {
                *err = e;
                st = s2;
                break;
            }
            nv_pca_opts po = {.k = 1, .device = NV_DEVICE_CPU};
            nv_pca *p = NULL;
            ms->pca90[at] = -1;
            if (ns[s] >= 2) {
                s2 = nv_pca_fit(xs[s], ns[s], d, &po, &p, NULL, &e);
                if (s2 == NV_OK) ms->pca90[at] = nv_pca_ncomponents_for(p, PCA_FRACTION);
                else if (!soft_failure(s2, &e)) {
                    *err = e;
                    st = s2;
                }
                nv_pca_free(p);
            }
        }
        if (st != NV_OK) break;
        nv_probe_result pr;
        nv_error e = {0};
        nv_status s3 = nv_probe_linear(tr, ytr, ntr, te, yte, nte, d, classes, &c->probe, &pr, NULL, &e);
        int64_t at = ei * L + l;
        if (s3 == NV_OK) {
            ms->probe_train[at] = pr.train_accuracy;
            ms->probe_test[at] = pr.test_accuracy;
            ms->probe_iter[at] = pr.iterations;
            ms->probe_conv[at] = pr.converged;
        } else if (soft_failure(s3, &e)) {
            ms->probe_train[at] = ms->probe_test[at] = NAN;
            ms->probe_iter[at] = ms->probe_conv[at] = 0;
        } else {
            *err = e;
            st = s3;
            break;
        }
        sub[l] = subsample(all, n, d, c->cka_points, &nsub, err);
        widths[l] = d;
        if (!sub[l]) st = NV_ENOMEM;
        free(tr);
        free(te);
        free(all);
        tr = te = all = NULL;
    }
    if (st == NV_OK)
        st = cka_matrix_soft((const nv_real *const *)sub, widths, L, nsub,
                             ms->cka_layers + ei * L * L, err);
    if (st != NV_OK) nv_error_prefix(err, "stats of %s: ", path);
    free(tr);
    free(te);
    free(all);
    for (int l = 0; sub && l < L; l++) free(sub[l]);
    free(sub);
    free(widths);
    free(ytr64);
    free(yte64);
    free(ytr);
    free(yte);
    if (st == NV_OK) {
        char what[128];
        snprintf(what, sizeof what, "%s epoch %lld", ms->rm->model, (long long)ms->epochs[ei]);
        progress(c, what);
    }
    return st;
}

/* Reads the `all` split of one layer, subsampled to at most m rows. */
static nv_status read_all_sub(const char *path, const char *layer, int64_t m, nv_real **out,
                              int64_t *rows, int64_t *d, nv_error *err) {
    nv_real *x = NULL;
    int64_t n = 0;
    nv_status st = nv_snapshot_read(path, layer, "all", 0, &x, &n, d, err);
    if (st != NV_OK) return st;
    *out = subsample(x, n, *d, m, rows, err);
    free(x);
    return *out ? NV_OK : NV_ENOMEM;
}

/* --- phase B: one layer across epochs ---------------------------------------------- */

static nv_status epochs_unit(int64_t u, void *vctx, nv_error *err) {
    stats_ctx *c = vctx;
    model_stats *ms = &c->ms[c->units[u][0]];
    int l = (int)c->units[u][1];
    int64_t E = ms->E;
    nv_real **xs = nv_calloc((size_t)E, sizeof *xs, err);
    int64_t *w = nv_calloc((size_t)E, sizeof *w, err);
    nv_status st = (!xs || !w) ? NV_ENOMEM : NV_OK;
    int64_t rows = 0, r0 = -1;
    for (int64_t e = 0; e < E && st == NV_OK; e++) {
        st = read_all_sub(ms->rm->paths[ms->eidx[e]], ms->rm->layers[l], c->cka_points, &xs[e],
                          &rows, &w[e], err);
        if (st == NV_OK && r0 >= 0 && rows != r0)
            st = nv_fail(err, NV_EINPUT, "file %s: %lld rows where earlier epochs have %lld",
                         ms->rm->paths[ms->eidx[e]], (long long)rows, (long long)r0);
        r0 = rows;
    }
    if (st == NV_OK)
        st = cka_matrix_soft((const nv_real *const *)xs, w, E, rows, ms->cka_epochs + l * E * E, err);
    for (int64_t e = 0; xs && e < E; e++) free(xs[e]);
    free(xs);
    free(w);
    if (st == NV_OK) {
        char what[128];
        snprintf(what, sizeof what, "%s %s across epochs", ms->rm->model, ms->rm->layers[l]);
        progress(c, what);
    }
    return st;
}

/* --- phase C: the two nets at one epoch -------------------------------------------- */

/* The two nets must hold the same points in the same order for CKA to mean anything. */
static nv_status same_points(const char *pa, const char *pb, nv_error *err) {
    nv_status st = NV_OK;
    for (int s = 0; s < 2 && st == NV_OK; s++) {
        int64_t *ia = NULL, *ib = NULL, na = 0, nb = 0;
        st = nv_snapshot_read_index(pa, "ids", SPLITS[s], &ia, &na, err);
        if (st == NV_OK) st = nv_snapshot_read_index(pb, "ids", SPLITS[s], &ib, &nb, err);
        if (st == NV_OK && (na != nb || memcmp(ia, ib, (size_t)na * sizeof *ia)))
            st = nv_fail(err, NV_EINPUT, "files %s and %s: the %s split holds different samples: "
                         "expected two nets of one run", pa, pb, SPLITS[s]);
        free(ia);
        free(ib);
    }
    return st;
}

static nv_status cross_unit(int64_t u, void *vctx, nv_error *err) {
    stats_ctx *c = vctx;
    cross_stats *cs = &c->cross;
    model_stats *A = &c->ms[cs->a], *B = &c->ms[cs->b];
    const char *pa = A->rm->paths[A->eidx[cs->ea[u]]], *pb = B->rm->paths[B->eidx[cs->eb[u]]];
    nv_real **xa = nv_calloc((size_t)A->L, sizeof *xa, err);
    nv_real **xb = nv_calloc((size_t)B->L, sizeof *xb, err);
    int64_t *wa = nv_calloc((size_t)A->L, sizeof *wa, err);
    int64_t *wb = nv_calloc((size_t)B->L, sizeof *wb, err);
    nv_status st = (!xa || !xb || !wa || !wb) ? NV_ENOMEM : NV_OK;
    int64_t rows = 0;
    if (st == NV_OK) st = same_points(pa, pb, err);
    for (int l = 0; l < A->L && st == NV_OK; l++)
        st = read_all_sub(pa, A->rm->layers[l], c->cka_points, &xa[l], &rows, &wa[l], err);
    for (int l = 0; l < B->L && st == NV_OK; l++)
        st = read_all_sub(pb, B->rm->layers[l], c->cka_points, &xb[l], &rows, &wb[l], err);
    double *out = cs->cka + u * A->L * B->L;
    for (int i = 0; i < A->L && st == NV_OK; i++)
        for (int j = 0; j < B->L && st == NV_OK; j++) {
            nv_error e = {0};
            double v = NAN;
            nv_status s2 = nv_cka_linear(xa[i], wa[i], xb[j], wb[j], rows, &v, &e);
            if (s2 != NV_OK && !soft_failure(s2, &e)) {
                *err = e;
                st = s2;
            }
            out[i * B->L + j] = s2 == NV_OK ? v : NAN;
        }
    for (int l = 0; xa && l < A->L; l++) free(xa[l]);
    for (int l = 0; xb && l < B->L; l++) free(xb[l]);
    free(xa);
    free(xb);
    free(wa);
    free(wb);
    if (st == NV_OK) progress(c, "expressive vs bottleneck");
    return st;
}

/* --- output ------------------------------------------------------------------------ */

/* A dataset of any rank (h5util's writer stops at 2), contiguous, no timestamps. */
static nv_status write_nd(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int rank,
                          const int64_t *dims, const void *data, const char *file, nv_error *err) {
    hsize_t d[4];
    for (int i = 0; i < rank; i++) d[i] = (hsize_t)dims[i];
    hid_t dcpl = nv_h5_dcpl();
    hid_t sp = H5Screate_simple(rank, d, NULL);
    hid_t ds = H5Dcreate2(loc, name, ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    nv_status st = NV_OK;
    if (ds < 0 || H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        st = nv_h5_fail(err, NV_EIO, file, name, "cannot write the dataset");
    /* the data may reach the file only on close (HDF5's sieve buffer) */
    if (ds >= 0 && H5Dclose(ds) < 0 && st == NV_OK)
        st = nv_h5_fail(err, NV_EIO, file, name, "cannot write the dataset (on close)");
    H5Sclose(sp);
    H5Pclose(dcpl);
    return st;
}

static nv_status write_text(const char *path, nv_strbuf *t, nv_error *err) {
    if (t->oom) return nv_fail(err, NV_ENOMEM, "out of memory building %s", path);
    return nv_atomic_write_text(path, nv_sb_str(t), err);
}

/* The parameters and inputs that decide every number: equal keys, equal results. */
static void param_key(const stats_ctx *c, nv_strbuf *t) {
    nv_sb_printf(t, "twonn_points=%lld;cka_points=%lld;probe_C=%.17g;probe_max_iter=%d;pca_fraction=%g;"
                    "snapshots=", (long long)c->twonn_points, (long long)c->cka_points, c->probe.C,
                 c->probe.max_iter, PCA_FRACTION);
    for (int m = 0; m < c->n_ms; m++) {
        const model_stats *ms = &c->ms[m];
        nv_sb_printf(t, "%s[", ms->rm->model);
        for (int l = 0; l < ms->L; l++) nv_sb_printf(t, "%s%s", l ? "," : "", ms->rm->layers[l]);
        nv_sb_printf(t, "]");
        for (int64_t e = 0; e < ms->E; e++) nv_sb_printf(t, "%s%lld", e ? "," : ":", (long long)ms->epochs[e]);
        nv_sb_printf(t, ";");
    }
}

static int stats_match(const char *path, const char *key) {
    nv_h5_quiet();
    hid_t fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (fid < 0) return 0;
    nv_error e = {0};
    char *have = NULL;
    int ok = nv_h5_check_format(fid, path, NV_STATS_FORMAT, NV_STATS_VERSION, NULL, &e) == NV_OK &&
             nv_h5_read_attr_str(fid, "parameters", &have, path, "/", &e) == NV_OK &&
             !strcmp(have, key);
    free(have);
    H5Fclose(fid);
    return ok;
}

static nv_status write_stats_h5(const stats_ctx *c, const char *path, const char *key, nv_error *err) {
    char *tmp = NULL;
    nv_h5_quiet();
    hid_t fid = nv_h5_create_temp(path, &tmp, err);
    if (fid < 0) return err && err->status ? err->status : NV_EIO;
    hid_t F = H5T_IEEE_F64LE, I = H5T_STD_I64LE, MD = H5T_NATIVE_DOUBLE, MI = H5T_NATIVE_INT64;
    nv_status st;
    if ((st = nv_h5_attr_str(fid, "format", NV_STATS_FORMAT, path, err)) ||
        (st = nv_h5_attr_i64(fid, "format_version", NV_STATS_VERSION, path, err)) ||
        (st = nv_h5_attr_str(fid, "nerve_version", NERVE_VERSION, path, err)) ||
        (st = nv_h5_attr_str(fid, "parameters", key, path, err)) ||
        (st = nv_h5_attr_i64(fid, "twonn_max_points", c->twonn_points, path, err)) ||
        (st = nv_h5_attr_str(fid, "twonn_subsample", "strided rows floor(i * n / m), i < m = "
                             "min(n, twonn_max_points), per split", path, err)) ||
        (st = nv_h5_attr_f64(fid, "twonn_discard_fraction", 0.1, path, err)) ||
        (st = nv_h5_attr_i64(fid, "cka_max_points", c->cka_points, path, err)) ||
        (st = nv_h5_attr_str(fid, "cka_split", "all (strided rows, the same for every layer, "
                             "epoch and model)", path, err)) ||
        (st = nv_h5_attr_f64(fid, "probe_C", c->probe.C, path, err)) ||
        (st = nv_h5_attr_i64(fid, "probe_max_iter", c->probe.max_iter, path, err)) ||
        (st = nv_h5_attr_str(fid, "probe_fit_split", "train", path, err)) ||
        (st = nv_h5_attr_str(fid, "probe_eval_split", "test", path, err)) ||
        (st = nv_h5_attr_f64(fid, "pca_fraction", PCA_FRACTION, path, err)) ||
        (st = nv_h5_attr_strs(fid, "splits", SPLITS, 3, path, err)))
        goto fail;
    hid_t gcpl = nv_h5_gcpl();
    hid_t gm = H5Gcreate2(fid, "models", H5P_DEFAULT, gcpl, H5P_DEFAULT);
    for (int m = 0; m < c->n_ms && gm >= 0 && st == NV_OK; m++) {
        const model_stats *ms = &c->ms[m];
        hid_t g = H5Gcreate2(gm, ms->rm->model, H5P_DEFAULT, gcpl, H5P_DEFAULT);
        if (g < 0) {
            st = nv_h5_fail(err, NV_EIO, path, ms->rm->model, "cannot create the group");
            break;
        }
        int64_t E = ms->E, L = ms->L;
        int64_t d3[3] = {E, L, 3}, d2[2] = {E, L}, dl[3] = {E, L, L}, de[3] = {L, E, E};
        if ((st = nv_h5_attr_i64s(g, "epochs", ms->epochs, E, path, err)) ||
            (st = nv_h5_attr_strs(g, "layer_names", (const char *const *)ms->rm->layers, L, path, err)) ||
            (st = write_nd(g, "twonn", F, MD, 3, d3, ms->twonn, path, err)) ||
            (st = write_nd(g, "twonn_points", I, MI, 3, d3, ms->twonn_rows, path, err)) ||
            (st = write_nd(g, "pca90", I, MI, 3, d3, ms->pca90, path, err)) ||
            (st = write_nd(g, "probe_train_acc", F, MD, 2, d2, ms->probe_train, path, err)) ||
            (st = write_nd(g, "probe_test_acc", F, MD, 2, d2, ms->probe_test, path, err)) ||
            (st = write_nd(g, "probe_iterations", I, MI, 2, d2, ms->probe_iter, path, err)) ||
            (st = write_nd(g, "probe_converged", I, MI, 2, d2, ms->probe_conv, path, err)) ||
            (st = write_nd(g, "cka_layers", F, MD, 3, dl, ms->cka_layers, path, err)) ||
            (st = write_nd(g, "cka_epochs", F, MD, 3, de, ms->cka_epochs, path, err))) {
        }
        H5Gclose(g);
    }
    if (gm >= 0) H5Gclose(gm);
    else st = nv_h5_fail(err, NV_EIO, path, "/models", "cannot create the group");
    if (st == NV_OK && c->has_cross) {
        const cross_stats *cs = &c->cross;
        const model_stats *A = &c->ms[cs->a], *B = &c->ms[cs->b];
        hid_t gx = H5Gcreate2(fid, "cross", H5P_DEFAULT, gcpl, H5P_DEFAULT);
        hid_t g = gx >= 0 ? H5Gcreate2(gx, "expressive_vs_bottleneck", H5P_DEFAULT, gcpl, H5P_DEFAULT) : -1;
        int64_t *ep = nv_malloc((size_t)(cs->E + 1) * sizeof *ep, err);
        if (g < 0 || !ep) st = g < 0 ? nv_h5_fail(err, NV_EIO, path, "/cross", "cannot create the group") : NV_ENOMEM;
        for (int64_t e = 0; ep && e < cs->E; e++) ep[e] = A->epochs[cs->ea[e]];
        int64_t dx[3] = {cs->E, A->L, B->L};
        if (st == NV_OK &&
            ((st = nv_h5_attr_str(g, "model_a", A->rm->model, path, err)) ||
             (st = nv_h5_attr_str(g, "model_b", B->rm->model, path, err)) ||
             (st = nv_h5_attr_i64s(g, "epochs", ep, cs->E, path, err)) ||
             (st = nv_h5_attr_strs(g, "layers_a", (const char *const *)A->rm->layers, A->L, path, err)) ||
             (st = nv_h5_attr_strs(g, "layers_b", (const char *const *)B->rm->layers, B->L, path, err)) ||
             (st = write_nd(g, "cka", F, MD, 3, dx, cs->cka, path, err)))) {
        }
        free(ep);
        if (g >= 0) H5Gclose(g);
        if (gx >= 0) H5Gclose(gx);
    }
    H5Pclose(gcpl);
fail:
    return nv_h5_finish_temp(fid, tmp, path, st, err);
}

static nv_status write_csvs(const stats_ctx *c, const char *dir, nv_error *err) {
    nv_strbuf id = {0}, pr = {0}, cl = {0}, ce = {0}, cm = {0};
    nv_sb_printf(&id, "model,epoch,layer,split,twonn,pca90\n");
    nv_sb_printf(&pr, "model,epoch,layer,train_acc,test_acc\n");
    nv_sb_printf(&cl, "model,epoch,layer_a,layer_b,cka\n");
    nv_sb_printf(&ce, "model,layer,epoch_a,epoch_b,cka\n");
    nv_sb_printf(&cm, "model_a,model_b,epoch,layer_a,layer_b,cka\n");
    for (int m = 0; m < c->n_ms; m++) {
        const model_stats *ms = &c->ms[m];
        const char *mn = ms->rm->model;
        char *const *ln = ms->rm->layers;
        int64_t E = ms->E, L = ms->L;
        for (int64_t e = 0; e < E; e++)
            for (int64_t l = 0; l < L; l++) {
                long long ep = (long long)ms->epochs[e];
                for (int s = 0; s < 3; s++) {
                    int64_t at = (e * L + l) * 3 + s;
                    nv_sb_printf(&id, "%s,%lld,%s,%s,%.10g,%lld\n", mn, ep, ln[l], SPLITS[s],
                                 ms->twonn[at], (long long)ms->pca90[at]);
                }
                nv_sb_printf(&pr, "%s,%lld,%s,%.10g,%.10g\n", mn, ep, ln[l], ms->probe_train[e * L + l],
                             ms->probe_test[e * L + l]);
                for (int64_t j = 0; j < L; j++)
                    nv_sb_printf(&cl, "%s,%lld,%s,%s,%.10g\n", mn, ep, ln[l], ln[j],
                                 ms->cka_layers[(e * L + l) * L + j]);
            }
        for (int64_t l = 0; l < L; l++)
            for (int64_t a = 0; a < E; a++)
                for (int64_t b = 0; b < E; b++)
                    nv_sb_printf(&ce, "%s,%s,%lld,%lld,%.10g\n", mn, ln[l], (long long)ms->epochs[a],
                                 (long long)ms->epochs[b], ms->cka_epochs[(l * E + a) * E + b]);
    }
    if (c->has_cross) {
        const cross_stats *cs = &c->cross;
        const model_stats *A = &c->ms[cs->a], *B = &c->ms[cs->b];
        for (int64_t e = 0; e < cs->E; e++)
            for (int i = 0; i < A->L; i++)
                for (int j = 0; j < B->L; j++)
                    nv_sb_printf(&cm, "%s,%s,%lld,%s,%s,%.10g\n", A->rm->model, B->rm->model,
                                 (long long)A->epochs[cs->ea[e]], A->rm->layers[i], B->rm->layers[j],
                                 cs->cka[(e * A->L + i) * B->L + j]);
    }
    struct { const char *name; nv_strbuf *t; } files[5] = {
        {"intrinsic_dimension.csv", &id}, {"probes.csv", &pr}, {"cka_layers.csv", &cl},
        {"cka_epochs.csv", &ce}, {"cka_models.csv", &cm}};
    nv_status st = NV_OK;
    for (int i = 0; i < 5; i++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, files[i].name);
        if (st == NV_OK) st = write_text(path, files[i].t, err);
        nv_sb_free(files[i].t);
    }
    return st;
}

/* --- figures ----------------------------------------------------------------------- */

static nv_status save_both(const nv_plot_figure *f, const char *dir, const char *stem, int *count,
                           nv_error *err) {
    const char *ext[2] = {"png", "svg"};
    for (int i = 0; i < 2; i++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/%s.%s", dir, stem, ext[i]);
        nv_status st = nv_plot_save(f, path, err);
        if (st != NV_OK) return st;
        (*count)++;
    }
    return NV_OK;
}

/* Intrinsic dimension, PCA-90 and probe accuracy by layer; one line per epoch
 * (viridis: early dark, late light); a column per model, side by side. */
static nv_status draw_id_probe(const stats_ctx *c, const int *models, int nm, const char *dir,
                               int *count, nv_error *err) {
    static const char *const rows_t[3] = {"TwoNN dimension (all)",
                                          "PCA components for 90% (all)",
                                          "linear probe test accuracy"};
    nv_plot_figure *f = NULL;
    nv_status st = nv_plot_figure_new(3, nm, 60 + 260.0 * nm, 80 + 3 * 200.0, &f, err);
    if (st != NV_OK) return st;
    nv_plot_figure_set_title(f, "Intrinsic dimension and linear separability by layer");
    for (int col = 0; col < nm && st == NV_OK; col++) {
        const model_stats *ms = &c->ms[models[col]];
        int64_t E = ms->E, L = ms->L;
        double *x = nv_malloc((size_t)(L ? L : 1) * sizeof *x, err);
        double *y = nv_malloc((size_t)(L ? L : 1) * sizeof *y, err);
        if (!x || !y) st = NV_ENOMEM;
        for (int64_t l = 0; x && l < L; l++) x[l] = (double)l;
        for (int row = 0; row < 3 && st == NV_OK; row++) {
            nv_plot_panel *p = nv_plot_figure_panel(f, row, col);
            char t[160];
            snprintf(t, sizeof t, "%s: %s", ms->rm->model, rows_t[row]);
            nv_plot_panel_set_title(p, t);
            nv_plot_panel_set_xlabel(p, "layer");
            nv_plot_panel_share_y(p, row + 1);
            nv_plot_panel_set_legend(p, NV_LEGEND_NONE);
            st = nv_plot_panel_set_xticks(p, x, (const char *const *)ms->rm->layers, (int)L, err);
            for (int64_t e = 0; e < E && st == NV_OK; e++) {
                for (int64_t l = 0; l < L; l++) {
                    int64_t at = e * L + l;
                    y[l] = row == 0   ? ms->twonn[at * 3 + 2]
                           : row == 1 ? (ms->pca90[at * 3 + 2] >= 0 ? (double)ms->pca90[at * 3 + 2] : NAN)
                                      : ms->probe_test[at];
                }
                nv_plot_style s = {.has_color = 1,
                                   .color = nv_plot_viridis(E > 1 ? 0.9 * (double)e / (double)(E - 1) : 0.0),
                                   .marker = NV_MARKER_CIRCLE, .marker_size = 2.5};
                char label[48];
                snprintf(label, sizeof label, "epoch %lld", (long long)ms->epochs[e]);
                st = nv_plot_line(p, row == 0 && col == 0 ? label : NULL, x, y, L, &s, err);
            }
        }
        free(x);
        free(y);
    }
    if (st == NV_OK) {
        nv_plot_figure_set_legend_from(f, nv_plot_figure_panel(f, 0, 0));
        st = save_both(f, dir, "id_probe", count, err);
    }
    nv_plot_figure_free(f);
    return st;
}

static nv_status draw_heatmap(const double *v, int rows, int cols, char *const *ylab,
                              char *const *xlab, const char *title, const char *ytitle,
                              const char *xtitle, const char *dir, const char *stem, int *count,
                              nv_error *err) {
    nv_plot_figure *f = NULL;
    nv_status st = nv_plot_figure_new(1, 1, 120 + 48.0 * cols, 110 + 40.0 * rows, &f, err);
    if (st != NV_OK) return st;
    nv_plot_panel *p = nv_plot_figure_panel(f, 0, 0);
    nv_plot_panel_set_title(p, title);
    nv_plot_panel_set_xlabel(p, xtitle);
    nv_plot_panel_set_ylabel(p, ytitle);
    double *at = nv_malloc((size_t)NV_MAX(rows, cols) * sizeof *at, err);
    if (!at) st = NV_ENOMEM;
    for (int i = 0; at && i < NV_MAX(rows, cols); i++) at[i] = i;
    if (st == NV_OK) st = nv_plot_heatmap(p, v, rows, cols, 0.0, 1.0, "linear CKA", err);
    if (st == NV_OK) st = nv_plot_panel_set_xticks(p, at, (const char *const *)xlab, cols, err);
    if (st == NV_OK) st = nv_plot_panel_set_yticks(p, at, (const char *const *)ylab, rows, err);
    if (st == NV_OK) st = save_both(f, dir, stem, count, err);
    free(at);
    nv_plot_figure_free(f);
    return st;
}

static nv_status draw_figures(const stats_ctx *c, const char *dir, int *count, nv_error *err) {
    int models[64], nm = 0;
    nv_status st = NV_OK;
    /* "both nets side by side" when the run has the pair; every model otherwise. */
    if (c->has_cross) {
        models[nm++] = c->cross.a;
        models[nm++] = c->cross.b;
    } else {
        for (int m = 0; m < c->n_ms && nm < 64; m++) models[nm++] = m;
    }
    if (nm > 0) st = draw_id_probe(c, models, nm, dir, count, err);
    for (int m = 0; m < c->n_ms && st == NV_OK; m++) {
        const model_stats *ms = &c->ms[m];
        if (ms->E == 0 || ms->L == 0) continue;
        int64_t e = ms->E - 1;
        char stem[160], title[200];
        snprintf(stem, sizeof stem, "cka_%s_e%04lld", ms->rm->model, (long long)ms->epochs[e]);
        snprintf(title, sizeof title, "CKA between layers of %s, epoch %lld", ms->rm->model,
                 (long long)ms->epochs[e]);
        st = draw_heatmap(ms->cka_layers + e * ms->L * ms->L, ms->L, ms->L, ms->rm->layers,
                          ms->rm->layers, title, "layer", "layer", dir, stem, count, err);
    }
    if (st == NV_OK && c->has_cross && c->cross.E > 0) {
        const cross_stats *cs = &c->cross;
        const model_stats *A = &c->ms[cs->a], *B = &c->ms[cs->b];
        int64_t e = cs->E - 1, ep = A->epochs[cs->ea[e]];
        char stem[160], title[200];
        snprintf(stem, sizeof stem, "cka_%s_vs_%s_e%04lld", A->rm->model, B->rm->model, (long long)ep);
        snprintf(title, sizeof title, "CKA %s vs %s, epoch %lld", A->rm->model, B->rm->model,
                 (long long)ep);
        st = draw_heatmap(cs->cka + e * A->L * B->L, A->L, B->L, A->rm->layers, B->rm->layers, title,
                          A->rm->model, B->rm->model, dir, stem, count, err);
    }
    return st;
}

/* --- the stage --------------------------------------------------------------------- */

static void free_model_stats(model_stats *ms) {
    free(ms->eidx);
    free(ms->epochs);
    free(ms->twonn);
    free(ms->twonn_rows);
    free(ms->pca90);
    free(ms->probe_train);
    free(ms->probe_test);
    free(ms->probe_iter);
    free(ms->probe_conv);
    free(ms->cka_layers);
    free(ms->cka_epochs);
}

static nv_status alloc_model_stats(model_stats *ms, nv_run_model *rm, nv_error *err) {
    ms->rm = rm;
    ms->L = rm->n_layers;
    size_t n = (size_t)(rm->n_epochs ? rm->n_epochs : 1);
    ms->eidx = nv_calloc(n, sizeof *ms->eidx, err);
    ms->epochs = nv_calloc(n, sizeof *ms->epochs, err);
    if (!ms->eidx || !ms->epochs) return NV_ENOMEM;
    for (int64_t e = 0; e < rm->n_epochs; e++)
        if (rm->selected[e]) {
            ms->eidx[ms->E] = e;
            ms->epochs[ms->E++] = rm->epochs[e];
        }
    size_t E = (size_t)(ms->E ? ms->E : 1), L = (size_t)(ms->L ? ms->L : 1);
    ms->twonn = nv_calloc(E * L * 3, sizeof(double), err);
    ms->twonn_rows = nv_calloc(E * L * 3, sizeof(int64_t), err);
    ms->pca90 = nv_calloc(E * L * 3, sizeof(int64_t), err);
    ms->probe_train = nv_calloc(E * L, sizeof(double), err);
    ms->probe_test = nv_calloc(E * L, sizeof(double), err);
    ms->probe_iter = nv_calloc(E * L, sizeof(int64_t), err);
    ms->probe_conv = nv_calloc(E * L, sizeof(int64_t), err);
    ms->cka_layers = nv_calloc(E * L * L, sizeof(double), err);
    ms->cka_epochs = nv_calloc(L * E * E, sizeof(double), err);
    if (!ms->twonn || !ms->twonn_rows || !ms->pca90 || !ms->probe_train || !ms->probe_test ||
        !ms->probe_iter || !ms->probe_conv || !ms->cka_layers || !ms->cka_epochs)
        return NV_ENOMEM;
    return NV_OK;
}

nv_status nv_stats_run(const char *run_dir, const nv_stats_run_opts *opts_in,
                       nv_stats_run_result *res, nv_error *err) {
    nv_stats_run_opts o = opts_in ? *opts_in : (nv_stats_run_opts){0};
    nv_stats_run_result r = {0};
    stats_ctx c = {.o = &o,
                   .twonn_points = o.twonn_points > 0 ? o.twonn_points : 2000,
                   .cka_points = o.cka_points > 0 ? o.cka_points : 10000,
                   .probe = {.C = o.probe_C > 0 ? o.probe_C : 1.0,
                             .max_iter = o.probe_max_iter > 0 ? o.probe_max_iter : 500}};
    pthread_mutex_init(&c.lock, NULL);
    nv_run_index ix = {0};
    nv_strbuf key = {0};
    nv_run_index_opts io = {.select = o.select};
    nv_status st = nv_run_index_read(run_dir, &io, &ix, err);
    if (st != NV_OK) goto done;
    c.ms = nv_calloc((size_t)ix.n_models, sizeof *c.ms, err);
    if (!c.ms) {
        st = NV_ENOMEM;
        goto done;
    }
    int64_t n_units = 0;
    for (int m = 0; m < ix.n_models; m++) {
        c.n_ms++; /* counted first, so a failed allocation is freed too */
        if ((st = alloc_model_stats(&c.ms[m], &ix.models[m], err))) goto done;
        r.snapshots += c.ms[m].E;
        n_units += c.ms[m].E + c.ms[m].L;
    }
    /* The pair, when the run has both nets. */
    int ia = -1, ib = -1;
    for (int m = 0; m < c.n_ms; m++) {
        if (!strcmp(c.ms[m].rm->model, "expressive")) ia = m;
        if (!strcmp(c.ms[m].rm->model, "bottleneck")) ib = m;
    }
    if (ia >= 0 && ib >= 0 && c.ms[ia].L > 0 && c.ms[ib].L > 0) {
        cross_stats *cs = &c.cross;
        cs->a = ia;
        cs->b = ib;
        size_t cap = (size_t)(c.ms[ia].E ? c.ms[ia].E : 1);
        cs->ea = nv_calloc(cap, sizeof *cs->ea, err);
        cs->eb = nv_calloc(cap, sizeof *cs->eb, err);
        if (!cs->ea || !cs->eb) {
            st = NV_ENOMEM;
            goto done;
        }
        for (int64_t i = 0; i < c.ms[ia].E; i++)
            for (int64_t j = 0; j < c.ms[ib].E; j++)
                if (c.ms[ia].epochs[i] == c.ms[ib].epochs[j]) {
                    cs->ea[cs->E] = i;
                    cs->eb[cs->E++] = j;
                }
        cs->cka = nv_calloc((size_t)(cs->E ? cs->E : 1) * (size_t)(c.ms[ia].L * c.ms[ib].L),
                            sizeof *cs->cka, err);
        if (!cs->cka) {
            st = NV_ENOMEM;
            goto done;
        }
        c.has_cross = 1;
        n_units += cs->E;
    }
    char dir[4200], stats_path[4400], fig_dir[4200];
    snprintf(dir, sizeof dir, "%s/analysis/stats", run_dir);
    snprintf(fig_dir, sizeof fig_dir, "%s/analysis/figures", run_dir);
    snprintf(stats_path, sizeof stats_path, "%s/stats.h5", dir);
    param_key(&c, &key);
    if (key.oom) {
        st = nv_fail(err, NV_ENOMEM, "out of memory");
        goto done;
    }
    if (!o.force && stats_match(stats_path, key.s)) {
        r.skipped = 1;
        goto done;
    }
    if ((st = nv_mkdirs(dir, err))) goto done;
    c.total_units = n_units;
    c.units = nv_calloc((size_t)(n_units ? n_units : 1), sizeof *c.units, err);
    if (!c.units) {
        st = NV_ENOMEM;
        goto done;
    }
    /* A: snapshots. */
    int64_t nu = 0;
    for (int m = 0; m < c.n_ms; m++)
        for (int64_t e = 0; e < c.ms[m].E; e++) {
            c.units[nu][0] = m;
            c.units[nu++][1] = e;
        }
    if ((st = nv_parallel_for(nu, o.threads, snapshot_unit, &c, err))) goto done;
    /* B: layers across epochs. */
    nu = 0;
    for (int m = 0; m < c.n_ms; m++)
        for (int l = 0; l < c.ms[m].L; l++) {
            c.units[nu][0] = m;
            c.units[nu++][1] = l;
        }
    if ((st = nv_parallel_for(nu, o.threads, epochs_unit, &c, err))) goto done;
    /* C: the two nets. */
    if (c.has_cross && (st = nv_parallel_for(c.cross.E, o.threads, cross_unit, &c, err))) goto done;
    if ((st = write_csvs(&c, dir, err))) goto done;
    if (o.figures) {
        if ((st = nv_mkdirs(fig_dir, err))) goto done;
        if ((st = draw_figures(&c, fig_dir, &r.figures, err))) goto done;
    }
    /* Last: its presence with these parameters means everything above is done. */
    st = write_stats_h5(&c, stats_path, key.s, err);
done:
    for (int m = 0; c.ms && m < c.n_ms; m++) free_model_stats(&c.ms[m]);
    free(c.ms);
    free(c.cross.ea);
    free(c.cross.eb);
    free(c.cross.cka);
    free(c.units);
    nv_sb_free(&key);
    nv_run_index_free(&ix);
    pthread_mutex_destroy(&c.lock);
    if (res) *res = r;
    return st;
}
