/* features_run.c: `nerve features RUN` (include/nerve/features_run.h) and its unit
 * of work, one snapshot's feature images end to end (nv_features_snapshot): read the
 * network and the training inputs from the snapshot, take the box and the centre
 * from the data, run the ascent for every layer, rank the real inputs that excite
 * each unit most, and write the "nerve-features" file (v1) atomically, plus the
 * figures (features_plot.c). The run loop takes its files from the run index
 * (include/nerve/run_index.h) and spreads this task's over threads.
 *
 * File layout (docs/features.md):
 *   /                       attrs format, format_version, nerve_version, model, epoch,
 *                           params (the string that decides reuse), device,
 *                           steps, lr, decay, blur_every, blur_width, norm_pct,
 *                           contrib_pct, jitter, init, pre, seed, preset, box,
 *                           img_h, img_w, layer_names
 *   /box/lo, /box/hi, /box/centre (d) f32
 *   /layers/<name>/inputs (units, d) f32     the optimised inputs
 *                 /activations (units) f32   their objective
 *                 /data_max (units) f32      the largest objective over the train split
 *                 /top_ids (units, 9) i64    sample ids of the 9 most exciting inputs
 *                 /top_rows (units, 9) i64   their rows in the train split
 *                 /top_activations (units, 9) f32
 *     attrs index (mlp.h numbering), units
 * Nothing varies between two runs with the same inputs except the attribute
 * `device` (which backend ran); the CPU writes the same bytes every time.
 */
#include "nerve/features.h"
#include "nerve/features_run.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/h5util.h"
#include "nerve/fsutil.h"
#include "nerve/parallel.h"
#include "nerve/snapshot.h"

/* Second ascent, from each unit's most exciting training input (row topr[u*TOPK]),
 * for the units whose first result fx/fact stays below their data maximum dmax;
 * keeps, per unit, whichever result excites it more. *restarted counts the units
 * improved. */
static nv_status restart_short_units(const nv_features_problem *pb, const nv_features_params *p,
                                     nv_device_kind device, const nv_real *X, const int64_t *topr,
                                     const nv_real *dmax, int64_t units, int64_t d, nv_real *fx,
                                     nv_real *fact, int64_t *restarted, nv_error *err) {
    *restarted = 0;
    /* Only the default start: `zeros` and `top` are asked for explicitly and are
     * reported as they are (the gradient checks rely on that). */
    if (p->init != NV_FEAT_INIT_MEAN) return NV_OK;
    int64_t short_units = 0;
    for (int64_t u = 0; u < units; u++) short_units += fact[u] < dmax[u];
    if (short_units == 0) return NV_OK;
    nv_real *x2 = nv_malloc((size_t)(units * d) * sizeof *x2, err);
    nv_real *a2 = nv_malloc((size_t)units * sizeof *a2, err);
    nv_status st = (!x2 || !a2) ? NV_ENOMEM : NV_OK;
    if (!st) {
        for (int64_t u = 0; u < units; u++)
            memcpy(x2 + u * d, X + topr[u * NV_FEATURES_TOPK] * d, (size_t)d * sizeof *x2);
        nv_features_problem pb2 = *pb;
        pb2.starts = x2;
        nv_features_params p2 = *p;
        p2.init = NV_FEAT_INIT_TOP;
        st = nv_features_ascend(&pb2, &p2, device, x2, a2, NULL, err);
    }
    for (int64_t u = 0; u < units && !st; u++) {
        if (fact[u] < dmax[u] && a2[u] > fact[u]) {
            memcpy(fx + u * d, x2 + u * d, (size_t)d * sizeof *fx);
            fact[u] = a2[u];
            (*restarted)++;
        }
    }
    free(x2);
    free(a2);
    return st;
}

static void layer_name(const nv_mlp_spec *s, int l, char *out, size_t len) {
    if (l == s->nlayers) snprintf(out, len, "logits");
    else snprintf(out, len, "hidden%d", l);
}

/* The parameter string recorded in every file: equal strings mean reusable files. */
static void params_string(const nv_features_job *job, char *out, size_t len) {
    const nv_features_params *p = &job->p;
    snprintf(out, len,
             "v1 steps=%lld lr=%.9g decay=%.9g blur_every=%d blur_width=%.9g norm_pct=%.9g "
             "contrib_pct=%.9g jitter=%d init=%s pre=%d seed=%llu box=%s preset=%d",
             (long long)p->steps, (double)p->lr, (double)p->decay, p->blur_every,
             (double)p->blur_width, (double)p->norm_pct, (double)p->contrib_pct, p->jitter,
             p->init == NV_FEAT_INIT_ZEROS ? "zeros" : p->init == NV_FEAT_INIT_TOP ? "top" : "mean", p->pre,
             (unsigned long long)p->seed, job->box_global ? "global" : "feature", job->preset);
}

/* 1 when path exists, is a nerve-features file and carries the same params. */
static int reusable(const char *path, const char *params) {
    if (access(path, R_OK) != 0) return 0;
    nv_h5_quiet();
    nv_error e = {0};
    hid_t fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (fid < 0) return 0;
    int ok = 0;
    char *have = NULL;
    if (nv_h5_check_format(fid, path, NV_FEATURES_FORMAT, NV_FEATURES_VERSION, NULL, &e) == NV_OK &&
        nv_h5_read_attr_str(fid, "params", &have, path, "/", &e) == NV_OK)
        ok = strcmp(have, params) == 0;
    free(have);
    H5Fclose(fid);
    return ok;
}

/* The 9 rows of v (n values, stride `stride`) with the largest values, descending;
 * ties go to the lower row, so the ranking is deterministic. */
static void top_rows(const nv_real *v, int64_t n, int64_t stride, int64_t *rows, nv_real *vals) {
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        nv_real a = v[i * stride];
        if (k == NV_FEATURES_TOPK && !(a > vals[k - 1])) continue;
        int64_t pos = k < NV_FEATURES_TOPK ? k++ : k - 1;
        while (pos > 0 && a > vals[pos - 1]) {
            vals[pos] = vals[pos - 1];
            rows[pos] = rows[pos - 1];
            pos--;
        }
        vals[pos] = a;
        rows[pos] = i;
    }
    for (; k < NV_FEATURES_TOPK; k++) { rows[k] = -1; vals[k] = NAN; }
}

nv_status nv_features_snapshot(const char *snapshot_path, const char *model, int64_t epoch,
                               const nv_features_job *job, const char *out_h5,
                               const char *fig_prefix, int *skipped, char *used_device,
                               size_t used_len, nv_error *err) {
    char params[512];
    params_string(job, params, sizeof params);
    *skipped = 0;
    if (used_device && used_len) used_device[0] = '\0';
    if (reusable(out_h5, params)) {
        *skipped = 1;
        return NV_OK;
    }
    nv_status st = NV_OK;
    nv_mlp_spec spec;
    nv_real *P = NULL, *X = NULL, *lo = NULL, *hi = NULL, *centre = NULL;
    int64_t *ids = NULL, n = 0, d = 0, nid = 0;
    nv_real *fx = NULL, *fact = NULL, *dact = NULL, *dmax = NULL, *topv = NULL;
    int64_t *topr = NULL, *topi = NULL;
    hid_t fid = -1, lg = -1;
    char *tmp = NULL;
    if ((st = nv_snapshot_read_params(snapshot_path, &spec, &P, err)) != NV_OK) goto done;
    if ((st = nv_snapshot_read(snapshot_path, "input", "train", 0, &X, &n, &d, err)) != NV_OK) {
        nv_error_prefix(err, "features need the input layer in the snapshot (snapshots.layers): ");
        goto done;
    }
    if ((st = nv_snapshot_read_index(snapshot_path, "ids", "train", &ids, &nid, err)) != NV_OK) goto done;
    if (d != spec.widths[0] || nid != n || n < 1) {
        st = nv_fail(err, NV_EINPUT, "%s: input layer (%lld x %lld) does not match the network "
                     "(%lld inputs) or the ids (%lld)", snapshot_path, (long long)n, (long long)d,
                     (long long)spec.widths[0], (long long)nid);
        goto done;
    }
    lo = nv_malloc((size_t)d * sizeof *lo, err);
    hi = nv_malloc((size_t)d * sizeof *hi, err);
    centre = nv_malloc((size_t)d * sizeof *centre, err);
    if (!lo || !hi || !centre) { st = NV_ENOMEM; goto done; }
    /* The box: per-feature [min, max] of the train split, or one [min, max] over all. */
    for (int64_t i = 0; i < d; i++) {
        double sum = 0.0;
        lo[i] = hi[i] = X[i];
        for (int64_t r = 0; r < n; r++) {
            nv_real v = X[r * d + i];
            lo[i] = fminf(lo[i], v);
            hi[i] = fmaxf(hi[i], v);
            sum += v;
        }
        centre[i] = (nv_real)(sum / (double)n);
    }
    if (job->box_global) {
        nv_real a = lo[0], b = hi[0];
        for (int64_t i = 1; i < d; i++) { a = fminf(a, lo[i]); b = fmaxf(b, hi[i]); }
        for (int64_t i = 0; i < d; i++) { lo[i] = a; hi[i] = b; }
    }
    nv_features_params p = job->p;
    int side = (int)lround(sqrt((double)d));
    if (d >= 64 && (int64_t)side * side == d) p.img_h = p.img_w = side;
    else p.img_h = p.img_w = 0;

    fid = nv_h5_create_temp(out_h5, &tmp, err);
    if (fid < 0) { st = err && err->status != NV_OK ? err->status : NV_EIO; goto done; }
    const char *names[NV_MAX_LAYERS];
    char namebuf[NV_MAX_LAYERS][32];
    for (int l = 1; l <= spec.nlayers; l++) {
        layer_name(&spec, l, namebuf[l - 1], sizeof namebuf[0]);
        names[l - 1] = namebuf[l - 1];
    }
    char epoch_s[32];
    snprintf(epoch_s, sizeof epoch_s, "%lld", (long long)epoch);
    if ((st = nv_h5_attr_str(fid, "format", NV_FEATURES_FORMAT, tmp, err)) ||
        (st = nv_h5_attr_i64(fid, "format_version", NV_FEATURES_VERSION, tmp, err)) ||
        (st = nv_h5_attr_str(fid, "nerve_version", NERVE_VERSION, tmp, err)) ||
        (st = nv_h5_attr_str(fid, "model", model, tmp, err)) ||
        (st = nv_h5_attr_i64(fid, "epoch", epoch, tmp, err)) ||
        (st = nv_h5_attr_str(fid, "params", params, tmp, err)) ||
        (st = nv_h5_attr_i64(fid, "steps", p.steps, tmp, err)) ||
        (st = nv_h5_attr_f64(fid, "lr", p.lr, tmp, err)) ||
        (st = nv_h5_attr_f64(fid, "decay", p.decay, tmp, err)) ||
        (st = nv_h5_attr_i64(fid, "blur_every", p.blur_every, tmp, err)) ||
        (st = nv_h5_attr_f64(fid, "blur_width", p.blur_width, tmp, err)) ||
        (st = nv_h5_attr_f64(fid, "norm_pct", p.norm_pct, tmp, err)) ||
        (st = nv_h5_attr_f64(fid, "contrib_pct", p.contrib_pct, tmp, err)) ||
        (st = nv_h5_attr_i64(fid, "jitter", p.jitter, tmp, err)) ||
        (st = nv_h5_attr_str(fid, "init", p.init == NV_FEAT_INIT_ZEROS ? "zeros" : p.init == NV_FEAT_INIT_TOP ? "top" : "mean", tmp, err)) ||
        (st = nv_h5_attr_i64(fid, "pre", p.pre, tmp, err)) ||
        (st = nv_h5_attr_u64(fid, "seed", p.seed, tmp, err)) ||
        (st = nv_h5_attr_i64(fid, "preset", job->preset, tmp, err)) ||
        (st = nv_h5_attr_str(fid, "box", job->box_global ? "global" : "feature", tmp, err)) ||
        (st = nv_h5_attr_i64(fid, "img_h", p.img_h, tmp, err)) ||
        (st = nv_h5_attr_i64(fid, "img_w", p.img_w, tmp, err)) ||
        (st = nv_h5_attr_strs(fid, "layer_names", names, spec.nlayers, tmp, err)))
        goto done;
    {
        hid_t gcpl = nv_h5_gcpl();
        hid_t bg = H5Gcreate2(fid, "box", H5P_DEFAULT, gcpl, H5P_DEFAULT);
        H5Pclose(gcpl);
        if (bg < 0) { st = nv_h5_fail(err, NV_EIO, tmp, "box", "cannot create the group"); goto done; }
        if ((st = nv_h5_write_dataset(bg, "lo", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &d, lo, 0, tmp, err)) ||
            (st = nv_h5_write_dataset(bg, "hi", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &d, hi, 0, tmp, err)) ||
            (st = nv_h5_write_dataset(bg, "centre", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &d, centre, 0, tmp, err))) {
            H5Gclose(bg);
            goto done;
        }
        H5Gclose(bg);
        gcpl = nv_h5_gcpl();
        lg = H5Gcreate2(fid, "layers", H5P_DEFAULT, gcpl, H5P_DEFAULT);
        H5Pclose(gcpl);
        if (lg < 0) { st = nv_h5_fail(err, NV_EIO, tmp, "layers", "cannot create the group"); goto done; }
    }
    for (int l = 1; l <= spec.nlayers; l++) {
        int64_t units = spec.widths[l];
        nv_features_problem pb = {&spec, P, l, lo, hi, centre, NULL};
        fx = nv_malloc((size_t)(units * d) * sizeof *fx, err);
        fact = nv_malloc((size_t)units * sizeof *fact, err);
        dact = nv_malloc((size_t)(n * units) * sizeof *dact, err);
        dmax = nv_malloc((size_t)units * sizeof *dmax, err);
        topv = nv_malloc((size_t)(units * NV_FEATURES_TOPK) * sizeof *topv, err);
        topr = nv_malloc((size_t)(units * NV_FEATURES_TOPK) * sizeof *topr, err);
        topi = nv_malloc((size_t)(units * NV_FEATURES_TOPK) * sizeof *topi, err);
        if (!fx || !fact || !dact || !dmax || !topv || !topr || !topi) { st = NV_ENOMEM; goto done; }
        if ((st = nv_features_eval(&pb, p.pre, X, n, dact, err)) != NV_OK) goto done;
        for (int64_t u = 0; u < units; u++) {
            top_rows(dact + u, n, units, topr + u * NV_FEATURES_TOPK, topv + u * NV_FEATURES_TOPK);
            dmax[u] = topv[u * NV_FEATURES_TOPK];
            for (int k = 0; k < NV_FEATURES_TOPK; k++) {
                int64_t r = topr[u * NV_FEATURES_TOPK + k];
                topi[u * NV_FEATURES_TOPK + k] = r >= 0 ? ids[r] : -1;
            }
        }
        if (p.init == NV_FEAT_INIT_TOP) {
            /* Start each unit at its most exciting real input (fx is the buffer). */
            for (int64_t u = 0; u < units; u++)
                memcpy(fx + u * d, X + topr[u * NV_FEATURES_TOPK] * d, (size_t)d * sizeof *fx);
            pb.starts = fx;
        }
        nv_device_kind used = NV_DEVICE_CPU;
        if ((st = nv_features_ascend(&pb, &p, job->device, fx, fact, &used, err)) != NV_OK) goto done;
        /* With the default start, a unit whose ascent from the mean stays below the
         * best real input (a ReLU
         * that is off at the start passes no gradient, common behind a 2-3 unit
         * bottleneck) is restarted from that input, and the better result is kept:
         * every stored optimum then excites its unit at least as much as any input
         * of the data set. */
        int64_t restarted = 0;
        if ((st = restart_short_units(&pb, &p, job->device, X, topr, dmax, units, d, fx, fact, &restarted,
                                      err)) != NV_OK)
            goto done;
        if (used_device && used_len)
            snprintf(used_device, used_len, "%s", used == NV_DEVICE_CUDA ? "cuda" : "cpu");
        hid_t gcpl = nv_h5_gcpl();
        hid_t g = H5Gcreate2(lg, names[l - 1], H5P_DEFAULT, gcpl, H5P_DEFAULT);
        H5Pclose(gcpl);
        if (g < 0) { st = nv_h5_fail(err, NV_EIO, tmp, names[l - 1], "cannot create the group"); goto done; }
        int64_t dims2[2] = {units, d}, dimsk[2] = {units, NV_FEATURES_TOPK};
        if ((st = nv_h5_attr_i64(g, "index", l, tmp, err)) ||
            (st = nv_h5_attr_i64(g, "units", units, tmp, err)) ||
            (st = nv_h5_attr_i64(g, "restarted_from_top", restarted, tmp, err)) ||
            (st = nv_h5_write_dataset(g, "inputs", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dims2, fx, 0, tmp, err)) ||
            (st = nv_h5_write_dataset(g, "activations", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &units, fact, 0, tmp, err)) ||
            (st = nv_h5_write_dataset(g, "data_max", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &units, dmax, 0, tmp, err)) ||
            (st = nv_h5_write_dataset(g, "top_ids", H5T_STD_I64LE, H5T_NATIVE_INT64, 2, dimsk, topi, 0, tmp, err)) ||
            (st = nv_h5_write_dataset(g, "top_rows", H5T_STD_I64LE, H5T_NATIVE_INT64, 2, dimsk, topr, 0, tmp, err)) ||
            (st = nv_h5_write_dataset(g, "top_activations", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dimsk, topv, 0, tmp, err))) {
            H5Gclose(g);
            goto done;
        }
        H5Gclose(g);
        if (fig_prefix) {
            char png[1024];
            snprintf(png, sizeof png, "%s_%s.png", fig_prefix, names[l - 1]);
            nv_features_figure fig = {fx, fact, dmax, units, d, p.img_h, p.img_w, lo, hi, centre,
                                      X, topr, model, epoch, names[l - 1]};
            if ((st = nv_features_plot_layer(&fig, png, err)) != NV_OK) goto done;
        }
        free(fx); free(fact); free(dact); free(dmax); free(topv); free(topr); free(topi);
        fx = fact = dact = dmax = topv = NULL;
        topr = topi = NULL;
    }
    if ((st = nv_h5_attr_str(fid, "device", used_device && used_device[0] ? used_device : "cpu", tmp, err)))
        goto done;
    H5Gclose(lg);
    lg = -1;
    st = nv_h5_commit_temp(fid, tmp, out_h5, err);
    fid = -1;
done:
    if (lg >= 0) H5Gclose(lg);
    if (fid >= 0) nv_h5_discard_temp(fid, tmp);
    free(tmp);
    free(P); free(X); free(ids); free(lo); free(hi); free(centre);
    free(fx); free(fact); free(dact); free(dmax); free(topv); free(topr); free(topi);
    return st;
}

/* --- a whole run (`nerve features RUN`, include/nerve/features_run.h) ------------- */

typedef struct {
    const char *run;
    const nv_features_run_options *o;
    nv_features_job job;          /* o->job with the box decided */
    const nv_run_index *ix;
    const nv_run_ref *work;       /* (nwork) this task's files, manifest order */
    int64_t nwork;
    char **outs, **figs;          /* (nwork) output file and figure prefix (NULL: no figures) */
    nv_features_run_report *rep;
    pthread_mutex_t lock;
    int64_t done;
} run_ctx;

static void run_note(const run_ctx *c, const nv_features_run_event *ev) {
    if (c->o->on_event) c->o->on_event(c->o->ctx, ev);
}

/* One work item: one snapshot file's features. */
static nv_status run_file(int64_t w, void *vctx, nv_error *err) {
    run_ctx *c = vctx;
    const nv_run_model *rm = &c->ix->models[c->work[w].m];
    int64_t e = c->work[w].e;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/analysis/features/%s", c->run, rm->model);
    nv_status st = nv_mkdirs(dir, err);
    if (st != NV_OK) return st;
    int skipped = 0;
    char dev[16];
    st = nv_features_snapshot(rm->paths[e], rm->model, rm->epochs[e], &c->job, c->outs[w], c->figs[w],
                              &skipped, dev, sizeof dev, err);
    if (st != NV_OK) {
        nv_error_prefix(err, "%s: ", rm->paths[e]);
        return st;
    }
    pthread_mutex_lock(&c->lock);
    c->done++;
    if (skipped) c->rep->files_skipped++;
    else c->rep->files_written++;
    nv_features_run_event ev = {.kind = NV_FEATURES_RUN_EV_FILE_DONE, .done = c->done,
                                .total = c->nwork, .model = rm->model, .epoch = rm->epochs[e],
                                .skipped = skipped, .device = skipped ? "" : dev, .report = c->rep};
    run_note(c, &ev);
    pthread_mutex_unlock(&c->lock);
    return NV_OK;
}

/* The box default depends on the input: images (a square of >= 64 inputs) take a
 * global box. The input width is the run's data, the same for every model: read it
 * from the first listed snapshot's network. */
static nv_status box_from_input(const nv_run_index *ix, int *box_global, nv_error *err) {
    nv_mlp_spec spec;
    nv_real *P = NULL;
    nv_status st = nv_snapshot_read_params(ix->models[0].paths[0], &spec, &P, err);
    free(P);
    if (st != NV_OK) return st;
    int64_t d = spec.widths[0], s = 1;
    while ((s + 1) * (s + 1) <= d) s++;
    *box_global = d >= 64 && s * s == d;
    return NV_OK;
}

/* The history figures of the units in job.history_units, for every model whose
 * selected epochs all have their features file. */
static nv_status draw_histories(const char *run, const nv_run_index *ix, const nv_features_job *job,
                                const char *figdir, nv_error *err) {
    nv_status st = NV_OK;
    for (int m = 0; m < ix->n_models && st == NV_OK; m++) {
        const nv_run_model *rm = &ix->models[m];
        int64_t n = 0, first = -1;
        int complete = 1;
        char **paths = nv_calloc((size_t)(rm->n_epochs ? rm->n_epochs : 1), sizeof *paths, err);
        int64_t *epochs = nv_calloc((size_t)(rm->n_epochs ? rm->n_epochs : 1), sizeof *epochs, err);
        if (!paths || !epochs) st = NV_ENOMEM;
        for (int64_t e = 0; e < rm->n_epochs && st == NV_OK; e++) {
            if (!rm->selected[e]) continue;
            char buf[4300];
            snprintf(buf, sizeof buf, "%s/analysis/features/%s/epoch_%04lld.h5", run, rm->model,
                     (long long)rm->epochs[e]);
            if (access(buf, R_OK) != 0) complete = 0;
            if (first < 0) first = e;
            paths[n] = strdup(buf);
            if (!paths[n]) st = nv_fail(err, NV_ENOMEM, "out of memory");
            epochs[n++] = rm->epochs[e];
        }
        if (st == NV_OK && complete && n > 0) {
            nv_mlp_spec spec;
            nv_real *P = NULL;
            st = nv_snapshot_read_params(rm->paths[first], &spec, &P, err);
            free(P);
            for (int l = 1; st == NV_OK && l <= spec.nlayers; l++) {
                char layer[32];
                layer_name(&spec, l, layer, sizeof layer);
                for (int h = 0; st == NV_OK && h < job->n_history; h++) {
                    int64_t u = job->history_units[h];
                    if (u >= spec.widths[l]) continue;
                    char png[4400];
                    snprintf(png, sizeof png, "%s/%s_%s_unit%lld_history.png", figdir, rm->model,
                             layer, (long long)u);
                    st = nv_features_history((const char *const *)paths, epochs, (int)n, layer, u,
                                             png, err);
                }
            }
        }
        for (int64_t k = 0; paths && k < n; k++) free(paths[k]);
        free(paths);
        free(epochs);
    }
    return st;
}

nv_status nv_features_run(const char *run_dir, const nv_features_run_options *o,
                          nv_features_run_report *rep, nv_error *err) {
    nv_features_run_report dummy;
    if (!rep) rep = &dummy;
    memset(rep, 0, sizeof *rep);
    if (o->tasks > 1 && (o->task < 0 || o->task >= o->tasks))
        return nv_fail(err, NV_EINPUT, "--task %d --tasks %d: expected 0 <= task < tasks", o->task,
                       o->tasks);
    if (o->select.n_layers > 0)
        return nv_fail(err, NV_EINPUT, "features: a layer selection is not supported (features "
                       "are made for every non-input layer)");
    run_ctx c = {.run = run_dir, .o = o, .job = o->job, .rep = rep};
    nv_run_index ix;
    nv_run_ref *work = NULL;
    nv_run_index_opts io = {.select = o->select, .task = o->task, .tasks = o->tasks};
    nv_status st = nv_run_index_read(run_dir, &io, &ix, err);
    if (st != NV_OK) return st;
    char figdir[4200];
    snprintf(figdir, sizeof figdir, "%s/analysis/figures/features", run_dir);
    if (o->box_auto && (st = box_from_input(&ix, &c.job.box_global, err)) != NV_OK) goto done;
    rep->box_global = c.job.box_global;
    rep->files_total = ix.n_manifest;
    if ((st = nv_run_index_list(&ix, 1, &work, &c.nwork, err)) != NV_OK) goto done;
    rep->files_owned = c.nwork;
    c.ix = &ix;
    c.work = work;
    c.outs = nv_calloc((size_t)(c.nwork ? c.nwork : 1), sizeof *c.outs, err);
    c.figs = nv_calloc((size_t)(c.nwork ? c.nwork : 1), sizeof *c.figs, err);
    if (!c.outs || !c.figs) {
        st = NV_ENOMEM;
        goto done;
    }
    for (int64_t w = 0; w < c.nwork; w++) {
        const nv_run_model *rm = &ix.models[work[w].m];
        long long epoch = (long long)rm->epochs[work[w].e];
        char buf[4300];
        snprintf(buf, sizeof buf, "%s/analysis/features/%s/epoch_%04lld.h5", run_dir, rm->model, epoch);
        c.outs[w] = strdup(buf);
        if (c.job.figures) {
            snprintf(buf, sizeof buf, "%s/%s_e%04lld", figdir, rm->model, epoch);
            c.figs[w] = strdup(buf);
        }
        if (!c.outs[w] || (c.job.figures && !c.figs[w])) {
            st = nv_fail(err, NV_ENOMEM, "out of memory");
            goto done;
        }
    }
    if (c.job.figures && (st = nv_mkdirs(figdir, err)) != NV_OK) goto done;
    nv_features_run_event ev = {.kind = NV_FEATURES_RUN_EV_START, .total = c.nwork, .report = rep};
    run_note(&c, &ev);
    pthread_mutex_init(&c.lock, NULL);
    st = nv_parallel_for(c.nwork, o->threads, run_file, &c, err);
    pthread_mutex_destroy(&c.lock);
    if (st == NV_OK && c.job.figures && c.job.n_history > 0)
        st = draw_histories(run_dir, &ix, &c.job, figdir, err);
done:
    for (int64_t w = 0; c.outs && w < c.nwork; w++) {
        free(c.outs[w]);
        free(c.figs[w]);
    }
    free(c.outs);
    free(c.figs);
    free(work);
    nv_run_index_free(&ix);
    return st;
}
