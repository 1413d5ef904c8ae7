/* features_run.c: `nerve features RUN` (include/nerve/features_run.h) and its unit
 * of work, one snapshot's feature views end to end (nv_features_snapshot): read the
 * network and the training inputs from the snapshot, take the box and the centre
 * from the data, and for every chosen layer rank the real inputs that excite each
 * unit most (from the activations the snapshot stores), run the ascent, project the
 * top inputs back to input space (projections.h), and write the "nerve-features"
 * file (v2) atomically, plus the figures (features_plot.c). The run loop takes its
 * files from the run index (include/nerve/run_index.h) and spreads this task's over
 * threads.
 *
 * File layout (docs/features.md, "Outputs"; k = top_k, 9 by default):
 *   /                       attrs format, format_version (2), nerve_version, model,
 *                           epoch, params (the string that decides reuse), device,
 *                           steps, lr, decay, blur_every, blur_width, norm_pct,
 *                           contrib_pct, jitter, init, pre, seed, preset, box,
 *                           img_h, img_w, top_k, layer_names (the layers computed)
 *   /box/lo, /box/hi, /box/centre (d) f32
 *   /layers/<name>/inputs (units, d) f32      the ascent's result (always its own)
 *                 /activations (units) f32    their objective
 *                 /data_max (units) f32       the largest objective over the train split
 *                 /below_data (units) u8      1 where activations < data_max (beyond
 *                                             rounding: 1e-5 (1 + |data_max|))
 *                 /top_ids (units, k) i64     sample ids of the k most exciting inputs
 *                 /top_rows (units, k) i64    their rows in the train split
 *                 /top_activations (units, k) f32
 *                 /top_inputs (units, k, d) f32
 *                 /projections (units, k, 3, d) f32  deconvnet, guided, gradient
 *     attrs index (mlp.h numbering), units, top_k, below_data (count), ranked_from
 *     ("snapshot" or "forward"), projection_rules, projection_device
 * Nothing varies between two runs with the same inputs except the attributes
 * `device` and `projection_device` (which backend ran); the CPU writes the same
 * bytes every time.
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
#include "nerve/projections.h"
#include "nerve/snapshot.h"

static void layer_name(const nv_mlp_spec *s, int l, char *out, size_t len) {
    if (l == s->nlayers) snprintf(out, len, "logits");
    else snprintf(out, len, "hidden%d", l);
}

/* The layer index (mlp.h numbering) of a name, or NV_EINPUT naming what exists. */
static nv_status layer_index(const nv_mlp_spec *s, const char *name, const char *where, int *l,
                             nv_error *err) {
    char buf[32];
    for (int k = 1; k <= s->nlayers; k++) {
        layer_name(s, k, buf, sizeof buf);
        if (strcmp(buf, name) == 0) {
            *l = k;
            return NV_OK;
        }
    }
    if (strcmp(name, "input") == 0)
        return nv_fail(err, NV_EINPUT, "%s: layer 'input' has no feature images (it is the "
                       "input itself): expected one of hidden1..hidden%d, logits", where,
                       s->nlayers - 1);
    char have[512] = "";
    for (int k = 1; k <= s->nlayers; k++) {
        layer_name(s, k, buf, sizeof buf);
        size_t n = strlen(have);
        snprintf(have + n, sizeof have - n, "%s%s", n ? ", " : "", buf);
    }
    return nv_fail(err, NV_EINPUT, "%s: no layer '%s' in this network (it has: %s)", where, name, have);
}

static const char *init_name(nv_features_init init) {
    return init == NV_FEAT_INIT_ZEROS ? "zeros" : init == NV_FEAT_INIT_TOP ? "top" : "mean";
}

static int job_top_k(const nv_features_job *job) { return job->top_k > 0 ? job->top_k : NV_FEATURES_TOPK; }

/* The parameter string recorded in every file: equal strings mean reusable files.
 * p is the ascent's resolved settings for this input. */
static void params_string(const nv_features_job *job, const nv_features_params *p, char *out,
                          size_t len) {
    int n = snprintf(out, len,
                     "v2 steps=%lld lr=%.9g decay=%.9g blur_every=%d blur_width=%.9g norm_pct=%.9g "
                     "contrib_pct=%.9g jitter=%d init=%s pre=%d seed=%llu box=%s preset=%d top_k=%d "
                     "projections=%d layers=",
                     (long long)p->steps, (double)p->lr, (double)p->decay, p->blur_every,
                     (double)p->blur_width, (double)p->norm_pct, (double)p->contrib_pct, p->jitter,
                     init_name(p->init), p->pre, (unsigned long long)p->seed,
                     job->box_global ? "global" : "feature", job->preset, job_top_k(job),
                     !job->no_projections);
    if (!job->layers || job->n_layers == 0) {
        if (n >= 0 && (size_t)n < len) snprintf(out + n, len - (size_t)n, "all");
        return;
    }
    for (int i = 0; i < job->n_layers && n >= 0 && (size_t)n < len; i++)
        n += snprintf(out + n, len - (size_t)n, "%s%s", i ? "," : "", job->layers[i]);
}

/* 1 when path exists, is a nerve-features file of this version and carries the same
 * params (an older version is made again). */
static int reusable(const char *path, const char *params) {
    if (access(path, R_OK) != 0) return 0;
    nv_h5_quiet();
    nv_error e = {0};
    hid_t fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (fid < 0) return 0;
    int ok = 0;
    int64_t version = 0;
    char *have = NULL;
    if (nv_h5_check_format(fid, path, NV_FEATURES_FORMAT, NV_FEATURES_VERSION, &version, &e) == NV_OK &&
        version == NV_FEATURES_VERSION &&
        nv_h5_read_attr_str(fid, "params", &have, path, "/", &e) == NV_OK)
        ok = strcmp(have, params) == 0;
    free(have);
    H5Fclose(fid);
    return ok;
}

/* The k rows of v (n values, stride `stride`) with the largest values, descending;
 * ties go to the lower row, so the ranking is deterministic. Rows past n: -1, NaN. */
static void top_rows(const nv_real *v, int64_t n, int64_t stride, int k, int64_t *rows,
                     nv_real *vals) {
    int m = 0;
    for (int64_t i = 0; i < n; i++) {
        nv_real a = v[i * stride];
        if (m == k && !(a > vals[k - 1])) continue;
        int pos = m < k ? m++ : k - 1;
        while (pos > 0 && a > vals[pos - 1]) {
            vals[pos] = vals[pos - 1];
            rows[pos] = rows[pos - 1];
            pos--;
        }
        vals[pos] = a;
        rows[pos] = i;
    }
    for (; m < k; m++) { rows[m] = -1; vals[m] = NAN; }
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
        (st = nv_h5_attr_i64(fid, "top_k", job_top_k(job), tmp, err)) ||
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

/* One layer's results: the feature inputs, how the real inputs rank, and the top
 * inputs' projections. */
typedef struct {
    int64_t units;
    int k;               /* real inputs per unit */
    nv_real *x;          /* (units, d) the optimised inputs */
    nv_real *act;        /* (units) their objective */
    nv_real *data_max;   /* (units) the largest objective over the train split */
    unsigned char *below;/* (units) 1 where act < data_max */
    int64_t n_below;
    nv_real *top_act;    /* (units, k) the most exciting train inputs' objectives */
    int64_t *top_rows;   /* (units, k) their rows in the train split (-1: none) */
    int64_t *top_ids;    /* (units, k) their sample ids (-1: none) */
    nv_real *top_x;      /* (units, k, d) those inputs (NaN rows where none) */
    nv_real *proj;       /* (units, k, NV_PROJ_RULES, d) or NULL */
    int ranked_stored;   /* 1: ranked by the activations the snapshot stores */
    nv_device_kind proj_device;
} layer_features;

static void layer_features_free(layer_features *lf) {
    free(lf->x);
    free(lf->act);
    free(lf->data_max);
    free(lf->below);
    free(lf->top_act);
    free(lf->top_rows);
    free(lf->top_ids);
    free(lf->top_x);
    free(lf->proj);
    memset(lf, 0, sizeof *lf);
}

static nv_status layer_features_alloc(layer_features *lf, int64_t units, int k, int64_t d,
                                      int projections, nv_error *err) {
    memset(lf, 0, sizeof *lf);
    lf->units = units;
    lf->k = k;
    lf->x = nv_malloc((size_t)(units * d) * sizeof *lf->x, err);
    lf->act = nv_malloc((size_t)units * sizeof *lf->act, err);
    lf->data_max = nv_malloc((size_t)units * sizeof *lf->data_max, err);
    lf->below = nv_calloc((size_t)units, 1, err);
    lf->top_act = nv_malloc((size_t)(units * k) * sizeof *lf->top_act, err);
    lf->top_rows = nv_malloc((size_t)(units * k) * sizeof *lf->top_rows, err);
    lf->top_ids = nv_malloc((size_t)(units * k) * sizeof *lf->top_ids, err);
    lf->top_x = nv_malloc((size_t)(units * k * d) * sizeof *lf->top_x, err);
    if (projections)
        lf->proj = nv_malloc((size_t)(units * k * NV_PROJ_RULES * d) * sizeof *lf->proj, err);
    if (!lf->x || !lf->act || !lf->data_max || !lf->below || !lf->top_act || !lf->top_rows ||
        !lf->top_ids || !lf->top_x || (projections && !lf->proj))
        return NV_ENOMEM;
    return NV_OK;
}

/* The objective of every train input as the snapshot stores it (the activations of
 * the layer, or with pre its pre-activations): *out (n, units) malloc'd and 1, or 0
 * when the snapshot does not hold them. */
static int read_stored_objective(const char *path, const char *name, int pre, int64_t n,
                                 int64_t units, nv_real **out) {
    *out = NULL;
    nv_h5_quiet();
    hid_t fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (fid < 0) return 0;
    char obj[96];
    snprintf(obj, sizeof obj, "layers/%s/%s", name, pre ? "pre_train" : "train");
    int have = nv_h5_exists(fid, obj);
    H5Fclose(fid);
    if (!have) return 0;
    nv_error e = {0};
    int64_t rows = 0, cols = 0;
    if (nv_snapshot_read(path, name, "train", pre, out, &rows, &cols, &e) != NV_OK || rows != n ||
        cols != units) {
        free(*out);
        *out = NULL;
        return 0;
    }
    return 1;
}

/* Ranks the real inputs: every train input's objective for every unit (the
 * activations the snapshot stores, so the top inputs are exactly the stored
 * ranking; a forward pass where the snapshot lacks the layer), the k that excite
 * each unit most (rows, sample ids and the inputs themselves) and the data maximum. */
static nv_status rank_real_inputs(const nv_features_problem *pb, int pre, const char *snapshot_path,
                                  const char *name, const snapshot_inputs *si, layer_features *lf,
                                  nv_error *err) {
    int64_t units = lf->units, d = si->d;
    int k = lf->k;
    int is_logits = pb->layer == pb->spec->nlayers;
    nv_real *data_act = NULL;
    lf->ranked_stored = read_stored_objective(snapshot_path, name, pre && !is_logits, si->n, units, &data_act);
    if (!lf->ranked_stored) {
        data_act = nv_malloc((size_t)(si->n * units) * sizeof *data_act, err);
        if (!data_act) return NV_ENOMEM;
        nv_status st = nv_features_eval(pb, pre, si->x, si->n, data_act, err);
        if (st != NV_OK) {
            free(data_act);
            return st;
        }
    }
    for (int64_t u = 0; u < units; u++) {
        top_rows(data_act + u, si->n, units, k, lf->top_rows + u * k, lf->top_act + u * k);
        lf->data_max[u] = lf->top_act[u * k];
        for (int j = 0; j < k; j++) {
            int64_t r = lf->top_rows[u * k + j];
            lf->top_ids[u * k + j] = r >= 0 ? si->ids[r] : -1;
            nv_real *dst = lf->top_x + (u * k + j) * d;
            if (r >= 0) memcpy(dst, si->x + r * d, (size_t)d * sizeof *dst);
            else for (int64_t i = 0; i < d; i++) dst[i] = NAN;
        }
    }
    free(data_act);
    return NV_OK;
}

/* The ascent of every unit of the layer (after rank_real_inputs: init top starts at
 * the best real input). The ascent's own result is what is stored and shown, even
 * when it ends below the best real input: such units are marked (below), never
 * replaced by a data sample. *used gets the device that ran. */
static nv_status ascend_layer(nv_features_problem *pb, const nv_features_params *p,
                              nv_device_kind device, const snapshot_inputs *si, layer_features *lf,
                              nv_device_kind *used, nv_error *err) {
    int64_t units = lf->units, d = si->d;
    if (p->init == NV_FEAT_INIT_TOP) {
        /* Start each unit at its most exciting real input (x is the buffer). */
        for (int64_t u = 0; u < units; u++)
            memcpy(lf->x + u * d, lf->top_x + (u * lf->k) * d, (size_t)d * sizeof *lf->x);
        pb->starts = lf->x;
    }
    *used = NV_DEVICE_CPU;
    nv_status st = nv_features_ascend(pb, p, device, lf->x, lf->act, used, err);
    if (st != NV_OK) return st;
    /* Below: by more than rounding (the data maximum comes from the activations
     * training stored, the objective from the ascent's own forward pass; an ascent
     * started at the best input must not be marked for a last-bit difference). */
    lf->n_below = 0;
    for (int64_t u = 0; u < units; u++) {
        lf->below[u] = (unsigned char)nv_features_below(lf->act[u], lf->data_max[u]);
        lf->n_below += lf->below[u];
    }
    return NV_OK;
}

/* The projections of every unit's top inputs by the three rules (projections.h);
 * rows of missing inputs (fewer train rows than k) are NaN. */
static nv_status project_layer(const nv_features_problem *pb, int pre, nv_device_kind device,
                               int64_t d, layer_features *lf, nv_error *err) {
    int64_t units = lf->units, rows = units * lf->k, m = 0;
    nv_real *xs = nv_malloc((size_t)(rows * d) * sizeof *xs, err);
    nv_real *out = nv_malloc((size_t)(rows * NV_PROJ_RULES * d) * sizeof *out, err);
    int64_t *unit_of = nv_malloc((size_t)rows * sizeof *unit_of, err), *slot = nv_malloc((size_t)rows * sizeof *slot, err);
    nv_status st = (!xs || !out || !unit_of || !slot) ? NV_ENOMEM : NV_OK;
    for (int64_t q = 0; q < rows && !st; q++) {
        if (lf->top_rows[q] < 0) continue;
        memcpy(xs + m * d, lf->top_x + q * d, (size_t)d * sizeof *xs);
        unit_of[m] = q / lf->k;
        slot[m++] = q;
    }
    if (!st) {
        nv_projection_problem pp = {pb->spec, pb->params, pb->layer, pre};
        st = nv_projections(&pp, xs, m, unit_of, device, out, NULL, &lf->proj_device, err);
    }
    if (!st) {
        for (int64_t q = 0; q < rows * NV_PROJ_RULES * d; q++) lf->proj[q] = NAN;
        for (int64_t j = 0; j < m; j++)
            memcpy(lf->proj + slot[j] * NV_PROJ_RULES * d, out + j * NV_PROJ_RULES * d,
                   (size_t)(NV_PROJ_RULES * d) * sizeof *out);
    }
    free(xs);
    free(out);
    free(unit_of);
    free(slot);
    return st;
}

/* /layers/<name>: attributes and the datasets (docs/features.md). Large arrays are
 * chunked by unit and compressed (a reader takes one unit's chunk). */
static nv_status write_layer_group(hid_t lg, const char *tmp, const char *name, int l, int64_t d,
                                   const layer_features *lf, nv_error *err) {
    hid_t g;
    nv_status st = create_group(lg, name, tmp, &g, err);
    if (st != NV_OK) return st;
    int64_t units = lf->units, k = lf->k;
    int64_t dims2[2] = {units, d}, dimsk[2] = {units, k}, dimsx[3] = {units, k, d};
    int64_t dimsp[4] = {units, k, NV_PROJ_RULES, d};
    const char *rules[NV_PROJ_RULES];
    for (int r = 0; r < NV_PROJ_RULES; r++) rules[r] = nv_projection_rule_name(r);
    st = nv_h5_attr_i64(g, "index", l, tmp, err);
    if (!st) st = nv_h5_attr_i64(g, "units", units, tmp, err);
    if (!st) st = nv_h5_attr_i64(g, "top_k", k, tmp, err);
    if (!st) st = nv_h5_attr_i64(g, "below_data", lf->n_below, tmp, err);
    if (!st) st = nv_h5_attr_str(g, "ranked_from", lf->ranked_stored ? "snapshot" : "forward", tmp, err);
    if (!st) st = nv_h5_write_dataset(g, "inputs", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dims2, lf->x, 0, tmp, err);
    if (!st) st = nv_h5_write_dataset(g, "activations", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &units, lf->act, 0, tmp, err);
    if (!st) st = nv_h5_write_dataset(g, "data_max", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &units, lf->data_max, 0, tmp, err);
    if (!st) st = nv_h5_write_dataset(g, "below_data", H5T_STD_U8LE, H5T_NATIVE_UCHAR, 1, &units, lf->below, 0, tmp, err);
    if (!st) st = nv_h5_write_dataset(g, "top_ids", H5T_STD_I64LE, H5T_NATIVE_INT64, 2, dimsk, lf->top_ids, 0, tmp, err);
    if (!st) st = nv_h5_write_dataset(g, "top_rows", H5T_STD_I64LE, H5T_NATIVE_INT64, 2, dimsk, lf->top_rows, 0, tmp, err);
    if (!st) st = nv_h5_write_dataset(g, "top_activations", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dimsk, lf->top_act, 0, tmp, err);
    if (!st) st = nv_h5_write_dataset(g, "top_inputs", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, dimsx, lf->top_x, 4, tmp, err);
    if (!st && lf->proj) {
        st = nv_h5_write_dataset(g, "projections", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 4, dimsp, lf->proj, 4, tmp, err);
        hid_t ds = st ? -1 : H5Dopen2(g, "projections", H5P_DEFAULT);
        if (!st && ds < 0) st = nv_h5_fail(err, NV_EIO, tmp, "projections", "cannot reopen the dataset");
        if (!st) st = nv_h5_attr_strs(ds, "rules", rules, NV_PROJ_RULES, tmp, err);
        if (!st) st = nv_h5_attr_str(ds, "device", lf->proj_device == NV_DEVICE_CUDA ? "cuda" : "cpu", tmp, err);
        if (ds >= 0) H5Dclose(ds);
    }
    H5Gclose(g);
    return st;
}

/* The layer's figures (features_plot.c): the grid fig_prefix + "_<layer>.png" and the
 * focus units, fig_prefix + "_<layer>_focus.png". */
static nv_status draw_layer_figures(const char *fig_prefix, const char *name, const layer_features *lf,
                                    const nv_features_params *p, const input_box *b,
                                    const snapshot_inputs *si, const nv_features_job *job,
                                    const char *model, int64_t epoch, nv_error *err) {
    char png[1100];
    nv_features_figure fig = {lf->x, lf->act, lf->data_max, lf->units, si->d, p->img_h, p->img_w,
                              b->lo, b->hi, b->centre, lf->k, lf->top_x, lf->top_act, lf->proj,
                              model, epoch, name};
    snprintf(png, sizeof png, "%s_%s.png", fig_prefix, name);
    nv_status st = nv_features_plot_layer(&fig, png, err);
    if (st == NV_OK && job->n_history > 0) {
        snprintf(png, sizeof png, "%s_%s_focus.png", fig_prefix, name);
        st = nv_features_plot_focus(&fig, job->history_units, job->n_history, png, err);
    }
    return st;
}

/* The layers to compute, network order (every non-input layer, or the job's). */
static nv_status chosen_layers(const nv_mlp_spec *s, const nv_features_job *job,
                               const char *snapshot_path, int *ls, int *nl, nv_error *err) {
    *nl = 0;
    if (!job->layers || job->n_layers == 0) {
        for (int l = 1; l <= s->nlayers; l++) ls[(*nl)++] = l;
        return NV_OK;
    }
    unsigned char want[NV_MAX_LAYERS + 1] = {0};
    for (int i = 0; i < job->n_layers; i++) {
        int l = 0;
        nv_status st = layer_index(s, job->layers[i], snapshot_path, &l, err);
        if (st != NV_OK) return st;
        want[l] = 1;
    }
    for (int l = 1; l <= s->nlayers; l++)
        if (want[l]) ls[(*nl)++] = l;
    return NV_OK;
}

nv_status nv_features_snapshot(const char *snapshot_path, const char *model, int64_t epoch,
                               const nv_features_job *job, const char *out_h5,
                               const char *fig_prefix, int *skipped, char *used_device,
                               size_t used_len, nv_error *err) {
    char params[1024];
    *skipped = 0;
    if (used_device && used_len) used_device[0] = '\0';
    if (job->top_k < 0 || job->top_k > NV_FEATURES_MAX_TOPK)
        return nv_fail(err, NV_EINPUT, "features: top_k %d: expected 1..%d (0: %d)", job->top_k,
                       NV_FEATURES_MAX_TOPK, NV_FEATURES_TOPK);
    if (job->tuned && (job->preset < 0 || job->preset > NV_FEATURES_PRESETS))
        return nv_fail(err, NV_EINPUT, "features: preset %d: expected 0..%d", job->preset,
                       NV_FEATURES_PRESETS);
    snapshot_inputs si = {0};
    input_box box = {0};
    layer_features lf = {0};
    hid_t fid = -1, lg = -1;
    char *tmp = NULL;
    char device[8] = "cpu"; /* the backend of the last layer's ascent */
    int ls[NV_MAX_LAYERS], nl = 0;
    nv_status st = read_net_and_inputs(snapshot_path, &si, err);
    if (st != NV_OK) goto done;
    const nv_mlp_spec *spec = &si.spec;
    nv_features_params p = nv_features_job_params(job, si.d);
    if ((st = chosen_layers(spec, job, snapshot_path, ls, &nl, err)) != NV_OK) goto done;
    params_string(job, &p, params, sizeof params);
    if (reusable(out_h5, params)) {
        *skipped = 1;
        goto done;
    }
    if ((st = nv_features_params_validate(&p, si.d, err)) != NV_OK) goto done;
    if ((st = box_and_centre(&si, job->box_global, &box, err)) != NV_OK) goto done;

    fid = nv_h5_create_temp(out_h5, &tmp, err);
    if (fid < 0) { st = err && err->status != NV_OK ? err->status : NV_EIO; goto done; }
    const char *names[NV_MAX_LAYERS];
    char namebuf[NV_MAX_LAYERS][32];
    for (int i = 0; i < nl; i++) {
        layer_name(spec, ls[i], namebuf[i], sizeof namebuf[0]);
        names[i] = namebuf[i];
    }
    if ((st = write_root_attributes(fid, tmp, model, epoch, params, job, &p, names, nl, err)) ||
        (st = write_box_group(fid, tmp, &box, si.d, err)) ||
        (st = create_group(fid, "layers", tmp, &lg, err)))
        goto done;
    for (int i = 0; i < nl; i++) {
        int l = ls[i];
        nv_features_problem pb = {spec, si.params, l, box.lo, box.hi, box.centre, NULL};
        nv_device_kind used = NV_DEVICE_CPU;
        if ((st = layer_features_alloc(&lf, spec->widths[l], job_top_k(job), si.d, !job->no_projections, err)) ||
            (st = rank_real_inputs(&pb, p.pre, snapshot_path, names[i], &si, &lf, err)) ||
            (st = ascend_layer(&pb, &p, job->device, &si, &lf, &used, err)) ||
            (!job->no_projections && (st = project_layer(&pb, p.pre, job->device, si.d, &lf, err))))
            goto done;
        snprintf(device, sizeof device, "%s", used == NV_DEVICE_CUDA ? "cuda" : "cpu");
        if (used_device && used_len) snprintf(used_device, used_len, "%s", device);
        if ((st = write_layer_group(lg, tmp, names[i], l, si.d, &lf, err))) goto done;
        if (fig_prefix &&
            (st = draw_layer_figures(fig_prefix, names[i], &lf, &p, &box, &si, job, model, epoch, err)))
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
    nv_features_job job = c->job;
    if (c->o->select.n_layers > 0) {
        /* The selected layers this model has (the run index checked the names). */
        job.layers = (const char *const *)rm->layers;
        job.n_layers = rm->n_layers;
    }
    st = nv_features_snapshot(rm->paths[e], rm->model, rm->epochs[e], &job, c->outs[w], c->figs[w],
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

/* The input width is the run's data, the same for every model: read it from the
 * first listed snapshot's network. The box default depends on it: images (a square
 * of >= 64 inputs) take a global box. */
static nv_status input_width(const nv_run_index *ix, int64_t *d, nv_error *err) {
    nv_mlp_spec spec;
    nv_real *P = NULL;
    nv_status st = nv_snapshot_read_params(ix->models[0].paths[0], &spec, &P, err);
    free(P);
    if (st == NV_OK) *d = spec.widths[0];
    return st;
}

static int name_in(const char *name, const char *const *list, int n) {
    for (int i = 0; i < n; i++)
        if (strcmp(name, list[i]) == 0) return 1;
    return 0;
}

/* A layer selection (already checked against the snapshots by the run index): the
 * input has no feature images, and a model the user named must have every selected
 * layer (a model that was not named and lacks them is left out by the index). */
static nv_status check_layer_selection(const char *run_dir, const nv_run_select *sel,
                                       const nv_run_index *ix, nv_error *err) {
    for (int i = 0; i < sel->n_layers; i++)
        if (strcmp(sel->layers[i], "input") == 0)
            return nv_fail(err, NV_EINPUT, "run %s: layer 'input' has no feature images (it is the "
                           "input itself): expected hidden layers or logits", run_dir);
    if (sel->n_models == 0) return NV_OK;
    for (int m = 0; m < ix->n_models; m++) {
        const nv_run_model *rm = &ix->models[m];
        for (int i = 0; i < sel->n_layers; i++) {
            if (name_in(sel->layers[i], (const char *const *)rm->layers, rm->n_layers)) continue;
            char have[512] = "";
            for (int l = 0; l < rm->n_stored_layers; l++) {
                size_t n = strlen(have);
                snprintf(have + n, sizeof have - n, "%s%s", n ? ", " : "", rm->stored_layers[l]);
            }
            return nv_fail(err, NV_EINPUT, "run %s: model %s has no layer '%s' (its snapshots "
                           "have: %s)", run_dir, rm->model, sel->layers[i], have);
        }
    }
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
                if (job->n_layers > 0 && !name_in(layer, (const char *const *)rm->layers, rm->n_layers))
                    continue;
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
    if (o->job.top_k < 0 || o->job.top_k > NV_FEATURES_MAX_TOPK)
        return nv_fail(err, NV_EINPUT, "features: top_k %d: expected 1..%d", o->job.top_k,
                       NV_FEATURES_MAX_TOPK);
    if (o->job.tuned && (o->job.preset < 0 || o->job.preset > NV_FEATURES_PRESETS))
        return nv_fail(err, NV_EINPUT, "features: preset %d: expected 0..%d", o->job.preset,
                       NV_FEATURES_PRESETS);
    run_ctx c = {.run = run_dir, .o = o, .job = o->job, .rep = rep};
    c.job.layers = NULL; /* set per model from the index */
    c.job.n_layers = o->select.n_layers;
    nv_run_index ix;
    nv_run_ref *work = NULL;
    /* With named models, keep those lacking a selected layer so that the check below
     * can say which. */
    nv_run_index_opts io = {.select = o->select, .task = o->task, .tasks = o->tasks,
                            .keep_layerless = o->select.n_models > 0};
    nv_status st = nv_run_index_read(run_dir, &io, &ix, err);
    if (st != NV_OK) return st;
    if (o->select.n_layers > 0 && (st = check_layer_selection(run_dir, &o->select, &ix, err)) != NV_OK)
        goto done;
    char figdir[4200];
    snprintf(figdir, sizeof figdir, "%s/analysis/figures/features", run_dir);
    if ((st = input_width(&ix, &rep->input_width, err)) != NV_OK) goto done;
    if (o->box_auto) c.job.box_global = nv_features_job_params(&c.job, rep->input_width).img_h > 0;
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
