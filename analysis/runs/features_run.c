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
 *     attrs index (mlp.h numbering), units, restarted_from_top
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

static const char *init_name(nv_features_init init) {
    return init == NV_FEAT_INIT_ZEROS ? "zeros" : init == NV_FEAT_INIT_TOP ? "top" : "mean";
}

/* The parameter string recorded in every file: equal strings mean reusable files. */
static void params_string(const nv_features_job *job, char *out, size_t len) {
    const nv_features_params *p = &job->p;
    snprintf(out, len,
             "v1 steps=%lld lr=%.9g decay=%.9g blur_every=%d blur_width=%.9g norm_pct=%.9g "
             "contrib_pct=%.9g jitter=%d init=%s pre=%d seed=%llu box=%s preset=%d",
             (long long)p->steps, (double)p->lr, (double)p->decay, p->blur_every,
             (double)p->blur_width, (double)p->norm_pct, (double)p->contrib_pct, p->jitter,
             init_name(p->init), p->pre,
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

/* --- one snapshot (nv_features_snapshot), section by section ---------------------- */

/* What the snapshot gives: the network at this epoch and the train split's inputs. */
typedef struct {
    nv_mlp_spec spec;
    nv_real *params;   /* (nv_mlp_param_count) */
    nv_real *x;        /* (n, d) the train inputs */
    int64_t *ids;      /* (n) their sample ids */
    int64_t n, d;
} snapshot_inputs;

static void snapshot_inputs_free(snapshot_inputs *si) {
    free(si->params);
    free(si->x);
    free(si->ids);
}

static nv_status read_net_and_inputs(const char *snapshot_path, snapshot_inputs *si, nv_error *err) {
    memset(si, 0, sizeof *si);
    nv_status st;
    int64_t nid = 0;
    if ((st = nv_snapshot_read_params(snapshot_path, &si->spec, &si->params, err)) != NV_OK) return st;
    if ((st = nv_snapshot_read(snapshot_path, "input", "train", 0, &si->x, &si->n, &si->d, err)) != NV_OK) {
        nv_error_prefix(err, "features need the input layer in the snapshot (snapshots.layers): ");
        return st;
    }
    if ((st = nv_snapshot_read_index(snapshot_path, "ids", "train", &si->ids, &nid, err)) != NV_OK) return st;
    if (si->d != si->spec.widths[0] || nid != si->n || si->n < 1)
        return nv_fail(err, NV_EINPUT, "%s: input layer (%lld x %lld) does not match the network "
                       "(%lld inputs) or the ids (%lld)", snapshot_path, (long long)si->n,
                       (long long)si->d, (long long)si->spec.widths[0], (long long)nid);
    return NV_OK;
}

/* The box the ascent stays in and the centre its regularisers pull towards. */
typedef struct {
    nv_real *lo, *hi, *centre; /* (d) */
} input_box;

static void input_box_free(input_box *b) {
    free(b->lo);
    free(b->hi);
    free(b->centre);
}

/* The box: per-feature [min, max] of the train split, or one [min, max] over all;
 * the centre: the data mean. */
static nv_status box_and_centre(const snapshot_inputs *si, int box_global, input_box *b, nv_error *err) {
    int64_t n = si->n, d = si->d;
    const nv_real *X = si->x;
    b->lo = nv_malloc((size_t)d * sizeof *b->lo, err);
    b->hi = nv_malloc((size_t)d * sizeof *b->hi, err);
    b->centre = nv_malloc((size_t)d * sizeof *b->centre, err);
    if (!b->lo || !b->hi || !b->centre) return NV_ENOMEM;
    nv_real *lo = b->lo, *hi = b->hi;
    for (int64_t i = 0; i < d; i++) {
        double sum = 0.0;
        lo[i] = hi[i] = X[i];
        for (int64_t r = 0; r < n; r++) {
            nv_real v = X[r * d + i];
            lo[i] = fminf(lo[i], v);
            hi[i] = fmaxf(hi[i], v);
            sum += v;
        }
        b->centre[i] = (nv_real)(sum / (double)n);
    }
    if (box_global) {
        nv_real a = lo[0], c = hi[0];
        for (int64_t i = 1; i < d; i++) { a = fminf(a, lo[i]); c = fmaxf(c, hi[i]); }
        for (int64_t i = 0; i < d; i++) { lo[i] = a; hi[i] = c; }
    }
    return NV_OK;
}

/* The job's parameters for this input: blur and jitter need a picture, so a square
 * of at least 64 inputs is taken for an image. */
static nv_features_params params_for_input(const nv_features_job *job, int64_t d) {
    nv_features_params p = job->p;
    int side = (int)lround(sqrt((double)d));
    if (d >= 64 && (int64_t)side * side == d) p.img_h = p.img_w = side;
    else p.img_h = p.img_w = 0;
    return p;
}

/* The root attributes (docs/features.md): what the file is and every parameter. */
static nv_status write_root_attributes(hid_t fid, const char *tmp, const char *model, int64_t epoch,
                                       const char *params, const nv_features_job *job,
                                       const nv_features_params *p, const char *const *names,
                                       int nlayers, nv_error *err) {
    nv_status st;
    if ((st = nv_h5_attr_str(fid, "format", NV_FEATURES_FORMAT, tmp, err)) ||
        (st = nv_h5_attr_i64(fid, "format_version", NV_FEATURES_VERSION, tmp, err)) ||
        (st = nv_h5_attr_str(fid, "nerve_version", NERVE_VERSION, tmp, err)) ||
        (st = nv_h5_attr_str(fid, "model", model, tmp, err)) ||
        (st = nv_h5_attr_i64(fid, "epoch", epoch, tmp, err)) ||
        (st = nv_h5_attr_str(fid, "params", params, tmp, err)) ||
        (st = nv_h5_attr_i64(fid, "steps", p->steps, tmp, err)) ||
        (st = nv_h5_attr_f64(fid, "lr", p->lr, tmp, err)) ||
        (st = nv_h5_attr_f64(fid, "decay", p->decay, tmp, err)) ||
        (st = nv_h5_attr_i64(fid, "blur_every", p->blur_every, tmp, err)) ||
        (st = nv_h5_attr_f64(fid, "blur_width", p->blur_width, tmp, err)) ||
        (st = nv_h5_attr_f64(fid, "norm_pct", p->norm_pct, tmp, err)) ||
        (st = nv_h5_attr_f64(fid, "contrib_pct", p->contrib_pct, tmp, err)) ||
        (st = nv_h5_attr_i64(fid, "jitter", p->jitter, tmp, err)) ||
        (st = nv_h5_attr_str(fid, "init", init_name(p->init), tmp, err)) ||
        (st = nv_h5_attr_i64(fid, "pre", p->pre, tmp, err)) ||
        (st = nv_h5_attr_u64(fid, "seed", p->seed, tmp, err)) ||
        (st = nv_h5_attr_i64(fid, "preset", job->preset, tmp, err)) ||
        (st = nv_h5_attr_str(fid, "box", job->box_global ? "global" : "feature", tmp, err)) ||
        (st = nv_h5_attr_i64(fid, "img_h", p->img_h, tmp, err)) ||
        (st = nv_h5_attr_i64(fid, "img_w", p->img_w, tmp, err)) ||
        (st = nv_h5_attr_strs(fid, "layer_names", names, nlayers, tmp, err)))
        return st;
    return NV_OK;
}

/* A new group `name` under loc (*g, to close), or NV_EIO naming it. */
static nv_status create_group(hid_t loc, const char *name, const char *tmp, hid_t *g, nv_error *err) {
    hid_t gcpl = nv_h5_gcpl();
    *g = H5Gcreate2(loc, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    H5Pclose(gcpl);
    if (*g < 0) return nv_h5_fail(err, NV_EIO, tmp, name, "cannot create the group");
    return NV_OK;
}

/* /box/lo, /box/hi, /box/centre (d) f32. */
static nv_status write_box_group(hid_t fid, const char *tmp, const input_box *b, int64_t d,
                                 nv_error *err) {
    hid_t bg;
    nv_status st = create_group(fid, "box", tmp, &bg, err);
    if (st != NV_OK) return st;
    st = nv_h5_write_dataset(bg, "lo", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &d, b->lo, 0, tmp, err);
    if (!st) st = nv_h5_write_dataset(bg, "hi", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &d, b->hi, 0, tmp, err);
    if (!st) st = nv_h5_write_dataset(bg, "centre", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &d, b->centre, 0, tmp, err);
    H5Gclose(bg);
    return st;
}

/* One layer's results: the feature inputs and how the real inputs rank. */
typedef struct {
    int64_t units;
    nv_real *x;          /* (units, d) the optimised inputs */
    nv_real *act;        /* (units) their objective */
    nv_real *data_act;   /* (n, units) the objective of every train input */
    nv_real *data_max;   /* (units) its maximum over the train split */
    nv_real *top_act;    /* (units, TOPK) the most exciting train inputs' objectives */
    int64_t *top_rows;   /* (units, TOPK) their rows in the train split (-1: none) */
    int64_t *top_ids;    /* (units, TOPK) their sample ids (-1: none) */
    int64_t restarted;   /* units improved by the restart from their best input */
} layer_features;

static void layer_features_free(layer_features *lf) {
    free(lf->x);
    free(lf->act);
    free(lf->data_act);
    free(lf->data_max);
    free(lf->top_act);
    free(lf->top_rows);
    free(lf->top_ids);
    memset(lf, 0, sizeof *lf);
}

static nv_status layer_features_alloc(layer_features *lf, int64_t units, int64_t n, int64_t d,
                                      nv_error *err) {
    memset(lf, 0, sizeof *lf);
    lf->units = units;
    lf->x = nv_malloc((size_t)(units * d) * sizeof *lf->x, err);
    lf->act = nv_malloc((size_t)units * sizeof *lf->act, err);
    lf->data_act = nv_malloc((size_t)(n * units) * sizeof *lf->data_act, err);
    lf->data_max = nv_malloc((size_t)units * sizeof *lf->data_max, err);
    lf->top_act = nv_malloc((size_t)(units * NV_FEATURES_TOPK) * sizeof *lf->top_act, err);
    lf->top_rows = nv_malloc((size_t)(units * NV_FEATURES_TOPK) * sizeof *lf->top_rows, err);
    lf->top_ids = nv_malloc((size_t)(units * NV_FEATURES_TOPK) * sizeof *lf->top_ids, err);
    if (!lf->x || !lf->act || !lf->data_act || !lf->data_max || !lf->top_act || !lf->top_rows ||
        !lf->top_ids)
        return NV_ENOMEM;
    return NV_OK;
}

/* Ranks the real inputs: every train input's objective for every unit, the 9 that
 * excite each unit most (rows and sample ids) and the data maximum. */
static nv_status rank_real_inputs(const nv_features_problem *pb, int pre, const snapshot_inputs *si,
                                  layer_features *lf, nv_error *err) {
    int64_t units = lf->units;
    nv_status st = nv_features_eval(pb, pre, si->x, si->n, lf->data_act, err);
    if (st != NV_OK) return st;
    for (int64_t u = 0; u < units; u++) {
        top_rows(lf->data_act + u, si->n, units, lf->top_rows + u * NV_FEATURES_TOPK,
                 lf->top_act + u * NV_FEATURES_TOPK);
        lf->data_max[u] = lf->top_act[u * NV_FEATURES_TOPK];
        for (int k = 0; k < NV_FEATURES_TOPK; k++) {
            int64_t r = lf->top_rows[u * NV_FEATURES_TOPK + k];
            lf->top_ids[u * NV_FEATURES_TOPK + k] = r >= 0 ? si->ids[r] : -1;
        }
    }
    return NV_OK;
}

/* The ascent of every unit of the layer (after rank_real_inputs: init top starts at
 * the best real input, and the restart needs the data maximum). *used gets the
 * device that ran. */
static nv_status ascend_layer(nv_features_problem *pb, const nv_features_params *p,
                              nv_device_kind device, const snapshot_inputs *si, layer_features *lf,
                              nv_device_kind *used, nv_error *err) {
    int64_t units = lf->units, d = si->d;
    if (p->init == NV_FEAT_INIT_TOP) {
        /* Start each unit at its most exciting real input (x is the buffer). */
        for (int64_t u = 0; u < units; u++)
            memcpy(lf->x + u * d, si->x + lf->top_rows[u * NV_FEATURES_TOPK] * d,
                   (size_t)d * sizeof *lf->x);
        pb->starts = lf->x;
    }
    *used = NV_DEVICE_CPU;
    nv_status st = nv_features_ascend(pb, p, device, lf->x, lf->act, used, err);
    if (st != NV_OK) return st;
    /* With the default start, a unit whose ascent from the mean stays below the
     * best real input (a ReLU
     * that is off at the start passes no gradient, common behind a 2-3 unit
     * bottleneck) is restarted from that input, and the better result is kept:
     * every stored optimum then excites its unit at least as much as any input
     * of the data set. */
    return restart_short_units(pb, p, device, si->x, lf->top_rows, lf->data_max, units, d, lf->x,
                               lf->act, &lf->restarted, err);
}

/* /layers/<name>: attributes index, units, restarted_from_top and the datasets. */
static nv_status write_layer_group(hid_t lg, const char *tmp, const char *name, int l, int64_t d,
                                   const layer_features *lf, nv_error *err) {
    hid_t g;
    nv_status st = create_group(lg, name, tmp, &g, err);
    if (st != NV_OK) return st;
    int64_t units = lf->units;
    int64_t dims2[2] = {units, d}, dimsk[2] = {units, NV_FEATURES_TOPK};
    st = nv_h5_attr_i64(g, "index", l, tmp, err);
    if (!st) st = nv_h5_attr_i64(g, "units", units, tmp, err);
    if (!st) st = nv_h5_attr_i64(g, "restarted_from_top", lf->restarted, tmp, err);
    if (!st) st = nv_h5_write_dataset(g, "inputs", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dims2, lf->x, 0, tmp, err);
    if (!st) st = nv_h5_write_dataset(g, "activations", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &units, lf->act, 0, tmp, err);
    if (!st) st = nv_h5_write_dataset(g, "data_max", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &units, lf->data_max, 0, tmp, err);
    if (!st) st = nv_h5_write_dataset(g, "top_ids", H5T_STD_I64LE, H5T_NATIVE_INT64, 2, dimsk, lf->top_ids, 0, tmp, err);
    if (!st) st = nv_h5_write_dataset(g, "top_rows", H5T_STD_I64LE, H5T_NATIVE_INT64, 2, dimsk, lf->top_rows, 0, tmp, err);
    if (!st) st = nv_h5_write_dataset(g, "top_activations", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dimsk, lf->top_act, 0, tmp, err);
    H5Gclose(g);
    return st;
}

/* The layer's grid, fig_prefix + "_<layer>.png" (features_plot.c). */
static nv_status draw_layer_figure(const char *fig_prefix, const char *name, const layer_features *lf,
                                   const nv_features_params *p, const input_box *b,
                                   const snapshot_inputs *si, const char *model, int64_t epoch,
                                   nv_error *err) {
    char png[1024];
    snprintf(png, sizeof png, "%s_%s.png", fig_prefix, name);
    nv_features_figure fig = {lf->x, lf->act, lf->data_max, lf->units, si->d, p->img_h, p->img_w,
                              b->lo, b->hi, b->centre, si->x, lf->top_rows, model, epoch, name};
    return nv_features_plot_layer(&fig, png, err);
}

nv_status nv_features_snapshot(const char *snapshot_path, const char *model, int64_t epoch,
                               const nv_features_job *job, const char *out_h5,
                               const char *fig_prefix, int *skipped, char *used_device,
                               size_t used_len, nv_error *err) {
    char params[512];
    params_string(job, params, sizeof params);
    *skipped = 0;
    if (used_device && used_len) used_device[0] = '\0';
    if (!job->force && reusable(out_h5, params)) {
        *skipped = 1;
        return NV_OK;
    }
    snapshot_inputs si = {0};
    input_box box = {0};
    layer_features lf = {0};
    hid_t fid = -1, lg = -1;
    char *tmp = NULL;
    char device[8] = "cpu"; /* the backend of the last layer's ascent */
    nv_status st = read_net_and_inputs(snapshot_path, &si, err);
    if (st == NV_OK) st = box_and_centre(&si, job->box_global, &box, err);
    if (st != NV_OK) goto done;
    const nv_mlp_spec *spec = &si.spec;
    nv_features_params p = params_for_input(job, si.d);

    fid = nv_h5_create_temp(out_h5, &tmp, err);
    if (fid < 0) { st = err && err->status != NV_OK ? err->status : NV_EIO; goto done; }
    const char *names[NV_MAX_LAYERS];
    char namebuf[NV_MAX_LAYERS][32];
    for (int l = 1; l <= spec->nlayers; l++) {
        layer_name(spec, l, namebuf[l - 1], sizeof namebuf[0]);
        names[l - 1] = namebuf[l - 1];
    }
    if ((st = write_root_attributes(fid, tmp, model, epoch, params, job, &p, names, spec->nlayers, err)) ||
        (st = write_box_group(fid, tmp, &box, si.d, err)) ||
        (st = create_group(fid, "layers", tmp, &lg, err)))
        goto done;
    for (int l = 1; l <= spec->nlayers; l++) {
        nv_features_problem pb = {spec, si.params, l, box.lo, box.hi, box.centre, NULL};
        nv_device_kind used = NV_DEVICE_CPU;
        if ((st = layer_features_alloc(&lf, spec->widths[l], si.n, si.d, err)) ||
            (st = rank_real_inputs(&pb, p.pre, &si, &lf, err)) ||
            (st = ascend_layer(&pb, &p, job->device, &si, &lf, &used, err)))
            goto done;
        snprintf(device, sizeof device, "%s", used == NV_DEVICE_CUDA ? "cuda" : "cpu");
        if (used_device && used_len) snprintf(used_device, used_len, "%s", device);
        if ((st = write_layer_group(lg, tmp, names[l - 1], l, si.d, &lf, err))) goto done;
        if (fig_prefix &&
            (st = draw_layer_figure(fig_prefix, names[l - 1], &lf, &p, &box, &si, model, epoch, err)))
            goto done;
        layer_features_free(&lf);
    }
    if ((st = nv_h5_attr_str(fid, "device", device, tmp, err))) goto done;
    H5Gclose(lg);
    lg = -1;
    st = nv_h5_commit_temp(fid, tmp, out_h5, err);
    fid = -1;
done:
    if (lg >= 0) H5Gclose(lg);
    if (fid >= 0) nv_h5_discard_temp(fid, tmp);
    free(tmp);
    layer_features_free(&lf);
    input_box_free(&box);
    snapshot_inputs_free(&si);
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
