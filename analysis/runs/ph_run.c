/* ph_run.c: `nerve ph RUN`, persistent homology of every snapshot of a training
 * run (include/nerve/phrun.h, docs/ph-runs.md).
 *
 * The pipeline of this file:
 *   1. plan: the run index (include/nerve/run_index.h) lists the snapshot files
 *      (model x epoch) and this task's share; each gets one diagram file
 *      analysis/ph/<model>/epoch_EEEE.h5 (format nerve-diagrams).
 *   2. calibrate: k and the scale at which Betti numbers are read, once per run,
 *      on the input layer of the expressive model's first snapshot, per class, to
 *      the data's known Betti numbers (Naitzat, Zhitnikov and Lim 2020), stored
 *      in analysis/ph/calibration.json and reused while the settings stay the same.
 *   3. compute: for this task's files (the index's slice), over threads
 *      (nv_parallel_for, one file per work item): every layer x split x class set,
 *      max-min landmarks, the distance matrix among them, the engine's barcode,
 *      written to a temporary file and renamed. A file that exists and records the
 *      same parameters is skipped, which makes the verb idempotent and resumable.
 *   4. summarise (ph_run_summary.c): tables and figures from the files that exist.
 *
 * Why the landmarks' own kNN graph: the distance among landmarks is computed on the
 * landmark cloud itself (its kNN graph for the kNN kinds), the same construction
 * the calibration sees, so the reference layer shows exactly the calibrated Betti
 * numbers, and each diagram costs O(L^2) for L landmarks instead of the O(n^2 d)
 * neighbour search over all n points of a class.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>
#include <jansson.h>

#include "store/h5util.h"
#include "nerve/calibrate.h"
#include "nerve/metric.h"
#include "nerve/parallel.h"
#include "nerve/ph.h"
#include "nerve/fsutil.h"
#include "nerve/run_index.h"
#include "ph_run_internal.h"

#define CALIB_FORMAT "nerve-ph-calibration"

void nv_phrun_options_defaults(nv_phrun_options *o) {
    memset(o, 0, sizeof *o);
    o->metric = NV_METRIC_KNN_HOPS;
    o->k = 0;
    o->scale = -1.0;
    o->k_min = 14;
    o->k_max = 40;
    o->max_dim = 1;
    o->threshold = NAN;
    o->landmarks = 200;
    o->nsplits = 1;
    strcpy(o->splits[0], "all");
    o->label_k = 20;
    strcpy(o->label_split, "test");
    o->figures = 1;
    o->distances = 1;
    o->tasks = 1;
}

static void note(const nv_phrun_options *o, nv_phrun_event_kind kind, int64_t done, int64_t total,
                 const char *text) {
    if (!o->on_event) return;
    nv_phrun_event ev = {.kind = kind, .done = done, .total = total, .text = text};
    o->on_event(o->ctx, &ev);
}

/* ------------------------------------------------------------------ planning */

/* The plan is the run index's list of files (include/nerve/run_index.h: the manifest
 * read once, every listed file checked, --layer and the job-array slice applied),
 * with what ph adds per file: its diagram file and whether it holds the input layer
 * the calibration needs. Models without the --layer stay in the plan (their files
 * have no layer to analyse), so the summary still reads every diagram file. */
nv_status phr_plan_make(const char *run_dir, const char *only_layer, const char *const *models,
                        int nmodels, int task, int tasks, phr_plan *plan, nv_error *err) {
    memset(plan, 0, sizeof *plan);
    const char *layer_sel[1] = {only_layer};
    nv_run_index_opts io = {.task = task, .tasks = tasks, .keep_layerless = 1};
    if (only_layer && only_layer[0]) {
        io.select.layers = layer_sel;
        io.select.n_layers = 1;
    }
    if (models && nmodels > 0) {
        io.select.models = models;
        io.select.n_models = nmodels;
    }
    nv_run_index ix;
    nv_run_ref *refs = NULL;
    int64_t n = 0;
    nv_status st = nv_run_index_read(run_dir, &io, &ix, err);
    if (st) return st;
    if (strlen(run_dir) >= sizeof plan->run) {
        st = nv_fail(err, NV_EINPUT, "run directory path longer than %zu bytes", sizeof plan->run - 1);
        goto done;
    }
    snprintf(plan->run, sizeof plan->run, "%s", run_dir);
    snprintf(plan->ph_dir, sizeof plan->ph_dir, "%s/analysis/ph", run_dir);
    snprintf(plan->fig_dir, sizeof plan->fig_dir, "%s/analysis/figures", run_dir);
    if ((st = nv_run_index_list(&ix, 0, &refs, &n, err))) goto done;
    plan->items = nv_calloc((size_t)(n ? n : 1), sizeof(phr_item), err);
    if (!plan->items) {
        st = NV_ENOMEM;
        goto done;
    }
    for (int64_t k = 0; k < n; k++) {
        const nv_run_model *rm = &ix.models[refs[k].m];
        int64_t e = refs[k].e;
        phr_item *it = &plan->items[k];
        snprintf(it->model, sizeof it->model, "%s", rm->model);
        it->epoch = rm->epochs[e];
        it->owned = rm->owned[e];
        snprintf(it->snap_rel, sizeof it->snap_rel, "%s", rm->rel_paths[e]);
        snprintf(it->snap_path, sizeof it->snap_path, "%s", rm->paths[e]);
        snprintf(it->out_path, sizeof it->out_path, "%s/%s/epoch_%04lld.h5", plan->ph_dir, rm->model,
                 (long long)it->epoch);
        for (int l = 0; l < rm->n_layers && it->nlayers < PHR_MAX_LAYERS; l++)
            snprintf(it->layers[it->nlayers++], 64, "%s", rm->layers[l]);
        for (int l = 0; l < rm->n_stored_layers; l++)
            it->has_input |= strcmp(rm->stored_layers[l], "input") == 0;
    }
    plan->n = n;
done:
    free(refs);
    nv_run_index_free(&ix);
    if (st) phr_plan_free(plan);
    return st;
}

void phr_plan_free(phr_plan *plan) {
    if (!plan) return;
    free(plan->items);
    plan->items = NULL;
    plan->n = 0;
}

/* ------------------------------------------------------- one point cloud -> barcode */

/* The classes present in labels (sorted ascending, at most `cap`). */
static int classes_of(const int64_t *labels, int64_t n, int64_t *cls, int cap) {
    int nc = 0;
    for (int64_t i = 0; i < n; i++) {
        int a = 0;
        while (a < nc && cls[a] < labels[i]) a++;
        if (a < nc && cls[a] == labels[i]) continue;
        if (nc == cap) continue;
        memmove(cls + a + 1, cls + a, (size_t)(nc - a) * sizeof *cls);
        cls[a] = labels[i];
        nc++;
    }
    return nc;
}

/* A barcode of the rows of x (n, d) whose label is `cls` (every row if cls < 0). */
typedef struct {
    int64_t n_points;       /* rows of the class */
    int64_t n_unique;       /* of those, distinct rows (n_points without --dedup) */
    int64_t count;          /* landmarks used */
    int64_t *rows;          /* (count) rows of the split's matrix, selection order */
    int64_t *ids;           /* (count) their sample ids */
    double cover_radius;
    int k_used;             /* k of the kNN graph (capped at count - 1) */
    double dmax;            /* the largest finite distance among the landmarks */
    nv_ph_result res;
} phr_diag;

static void phr_diag_free(phr_diag *g) {
    free(g->rows);
    free(g->ids);
    nv_ph_result_free(&g->res);
    memset(g, 0, sizeof *g);
}

/* Rows ordered by their coordinates (value comparison, so -0 equals +0), then by
 * index: equal rows end up next to each other, the lowest index first. */
typedef struct {
    const nv_real *x;
    int64_t d;
} row_order;

static int cmp_rows(const void *a, const void *b, void *vctx) {
    const row_order *c = vctx;
    int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
    const nv_real *xi = c->x + i * c->d, *xj = c->x + j * c->d;
    for (int64_t k = 0; k < c->d; k++)
        if (xi[k] != xj[k]) return xi[k] < xj[k] ? -1 : 1;
    return (i > j) - (i < j);
}

static int cmp_i64_asc(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Keeps the first (lowest) row index of every set of equal rows among sel[0..n),
 * in ascending index order; returns how many remain. */
static int64_t dedup_rows(const nv_real *x, int64_t d, int64_t *sel, int64_t n) {
    if (n < 2) return n;
    row_order c = {x, d};
    qsort_r(sel, (size_t)n, sizeof *sel, cmp_rows, &c);
    int64_t m = 1;
    for (int64_t a = 1; a < n; a++) {
        const nv_real *p = x + sel[m - 1] * d, *q = x + sel[a] * d;
        int same = 1;
        for (int64_t k = 0; k < d && same; k++) same = p[k] == q[k];
        if (!same) sel[m++] = sel[a];
    }
    qsort(sel, (size_t)m, sizeof *sel, cmp_i64_asc);
    return m;
}

/* Landmarks of the class rows and the barcode of the distances among them. The
 * coordinates of the landmarks are also returned (*lx, (count, d)) when lx is not
 * NULL, for the calibration. */
static nv_status class_barcode(const nv_real *x, int64_t n, int64_t d, const int64_t *labels,
                               const int64_t *ids, int64_t cls, const nv_phrun_options *o, int k,
                               double threshold, int compute, phr_diag *g, nv_real **lx,
                               nv_error *err) {
    memset(g, 0, sizeof *g);
    nv_status st = NV_OK;
    int64_t *sel = NULL, *idx = NULL;
    nv_real *xc = NULL, *xl = NULL;
    float *lower = NULL;
    int64_t nc = 0;
    sel = nv_malloc((size_t)(n ? n : 1) * sizeof *sel, err);
    if (!sel) return NV_ENOMEM;
    for (int64_t i = 0; i < n; i++)
        if (cls < 0 || labels[i] == cls) sel[nc++] = i;
    g->n_points = nc;
    if (o->dedup) nc = dedup_rows(x, d, sel, nc);
    g->n_unique = nc;
    int64_t count = o->landmarks > 0 ? NV_MIN(nc, o->landmarks) : nc;
    g->count = count;
    g->rows = nv_malloc((size_t)(count ? count : 1) * sizeof(int64_t), err);
    g->ids = nv_malloc((size_t)(count ? count : 1) * sizeof(int64_t), err);
    xc = nv_malloc((size_t)(nc ? nc : 1) * (size_t)d * sizeof(nv_real), err);
    idx = nv_malloc((size_t)(count ? count : 1) * sizeof *idx, err);
    xl = nv_malloc((size_t)(count ? count : 1) * (size_t)d * sizeof(nv_real), err);
    if (!g->rows || !g->ids || !xc || !idx || !xl) {
        st = NV_ENOMEM;
        goto done;
    }
    for (int64_t a = 0; a < nc; a++) memcpy(xc + a * d, x + sel[a] * d, (size_t)d * sizeof(nv_real));
    if (count > 0) {
        /* max-min from the class's first row: deterministic, and an r-net of the class */
        st = nv_landmarks_select(xc, nc, d, count, NV_LANDMARK_MAXMIN, 0, 0, idx, &g->cover_radius, err);
        if (st) goto done;
    }
    for (int64_t a = 0; a < count; a++) {
        g->rows[a] = sel[idx[a]];
        g->ids[a] = ids[sel[idx[a]]];
        memcpy(xl + a * d, xc + idx[a] * d, (size_t)d * sizeof(nv_real));
    }
    int knn = o->metric == NV_METRIC_KNN_HOPS || o->metric == NV_METRIC_KNN_WEIGHTED;
    g->k_used = knn ? (int)NV_MIN((int64_t)k, count - 1) : 0;
    g->res.max_dim = o->max_dim;
    g->res.n = count;
    if (!compute) goto done;
    if (count <= 1) {
        /* Too few points for a distance matrix: one point is one essential class. */
        if (count == 1) {
            g->res.pairs = nv_calloc(1, sizeof(nv_ph_pair), err);
            if (!g->res.pairs) {
                st = NV_ENOMEM;
                goto done;
            }
            g->res.pairs[0] = (nv_ph_pair){0, 0.0f, INFINITY, -1, -1};
            g->res.count = 1;
        }
        goto done;
    }
    if (knn && g->k_used < 1) goto done;
    nv_metric_spec spec = {.kind = o->metric, .k = g->k_used, .normalize = 0, .device = o->device};
    st = nv_distance_matrix(xl, count, d, &spec, &lower, err);
    if (st) goto done;
    for (int64_t i = 0; i < count * (count - 1) / 2; i++)
        if (isfinite(lower[i]) && lower[i] > g->dmax) g->dmax = lower[i];
    nv_ph_params p;
    nv_ph_params_defaults(&p);
    p.max_dim = o->max_dim;
    p.threshold = (float)threshold;
    p.threads = 1; /* the files are spread over the threads already */
    p.device = o->device;
    nv_ph_input in = {.kind = NV_PH_DENSE, .n = count, .lower = lower};
    st = nv_ph_compute(&in, &p, &g->res, err);
done:
    free(sel);
    free(xc);
    free(idx);
    free(lower);
    if (st == NV_OK && lx) {
        *lx = xl;
        xl = NULL;
    }
    free(xl);
    if (st) phr_diag_free(g);
    return st;
}

/* ------------------------------------------------------------------ calibration */

typedef struct {
    int k;
    double scale, lo, hi;
    int computed;     /* 1: made now; 0: read from calibration.json or given */
} phr_calib;

/* The target Betti numbers of the c-th class (ascending labels). */
static const int64_t *class_target(const nv_phrun_options *o, int c) {
    if (o->ntarget_classes <= 0) return o->target;
    return o->class_target[c < o->ntarget_classes ? c : o->ntarget_classes - 1];
}

/* "1,0", or per class "9,0/1,9". */
static const char *target_text(const nv_phrun_options *o, char *buf, size_t len) {
    buf[0] = 0;
    int nt = o->ntarget_classes > 0 ? o->ntarget_classes : 1;
    for (int c = 0; c < nt; c++)
        for (int i = 0; i < o->ntarget; i++)
            snprintf(buf + strlen(buf), len - strlen(buf), "%s%lld", i ? "," : c ? "/" : "",
                     (long long)class_target(o, c)[i]);
    return buf;
}

/* Everything the calibration depends on, as one string: calibration.json is reused
 * only when this matches. */
static void calib_key(const nv_phrun_options *o, const phr_item *ref, char *buf, size_t len) {
    char t[128];
    snprintf(buf, len, "metric=%s target=%s k=%d scale=%.17g k_range=%d-%d landmarks=%lld ref=%s",
             nv_metric_name(o->metric), target_text(o, t, sizeof t), o->k, o->scale, o->k_min,
             o->k_max, (long long)o->landmarks, ref->snap_rel);
    /* settings added later join the key only when they differ from the defaults, so
     * calibration files written before them stay valid */
    if (strcmp(o->splits[0], "all") != 0)
        snprintf(buf + strlen(buf), len - strlen(buf), " split=%s", o->splits[0]);
    if (o->dedup) snprintf(buf + strlen(buf), len - strlen(buf), " dedup=1");
}

/* The reference snapshot: the expressive model's first epoch, else the first file. */
static const phr_item *reference_item(const phr_plan *plan) {
    const phr_item *ref = NULL;
    for (int64_t i = 0; i < plan->n; i++)
        if (strcmp(plan->items[i].model, "expressive") == 0 && (!ref || plan->items[i].epoch < ref->epoch))
            ref = &plan->items[i];
    return ref ? ref : &plan->items[0];
}

/* Betti vector of r at scale s equals target? */
static int betti_matches(const nv_ph_result *r, const nv_phrun_options *o, int c, double s) {
    for (int dd = 0; dd < o->ntarget; dd++)
        if (nv_ph_betti_at(r, dd, (float)s) != class_target(o, c)[dd]) return 0;
    return 1;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The longest interval [lo, hi) of scales where every class shows the target,
 * over the union of the filtration values of all classes (Betti numbers only change
 * there). Returns 0 if there is none. hi = INFINITY when it runs to the end. */
static int joint_interval(const phr_diag *g, int nclass, const nv_phrun_options *o, double *lo,
                          double *hi) {
    int64_t m = 1;
    for (int c = 0; c < nclass; c++) m += 2 * g[c].res.count;
    double *bp = malloc((size_t)m * sizeof *bp);
    if (!bp) return 0;
    int64_t nb = 0;
    bp[nb++] = 0.0;
    for (int c = 0; c < nclass; c++)
        for (int64_t i = 0; i < g[c].res.count; i++) {
            const nv_ph_pair *p = &g[c].res.pairs[i];
            if (isfinite(p->birth)) bp[nb++] = p->birth;
            if (isfinite(p->death)) bp[nb++] = p->death;
        }
    qsort(bp, (size_t)nb, sizeof *bp, cmp_double);
    int64_t u = 0;
    for (int64_t i = 0; i < nb; i++)
        if (u == 0 || bp[i] != bp[u - 1]) bp[u++] = bp[i];
    int found = 0;
    double best = -1.0;
    for (int64_t i = 0; i < u;) {
        int ok = 1;
        for (int c = 0; c < nclass && ok; c++) ok = betti_matches(&g[c].res, o, c, bp[i]);
        if (!ok) {
            i++;
            continue;
        }
        int64_t j = i + 1;
        for (; j < u; j++) {
            int ok2 = 1;
            for (int c = 0; c < nclass && ok2; c++) ok2 = betti_matches(&g[c].res, o, c, bp[j]);
            if (!ok2) break;
        }
        double a = bp[i], b = j < u ? bp[j] : INFINITY;
        /* a run to infinity is measured up to the last filtration value, past which
         * nothing changes (as nv_calibrate does) */
        double len = isfinite(b) ? b - a : bp[u - 1] - a;
        if (len > best) {
            best = len;
            *lo = a;
            *hi = b;
            found = 1;
        }
        i = j;
    }
    free(bp);
    return found;
}

/* The reading scale in [lo, hi): the middle; hop counts are integers, so the lower
 * middle integer. A run to infinity is cut at `dmax` (the largest finite value). */
static double middle_scale(double lo, double hi, double dmax, int hops) {
    double top = isfinite(hi) ? hi : fmax(lo, dmax);
    if (hops) {
        double last = isfinite(hi) ? ceil(hi) - 1.0 : floor(top);
        if (last < lo) last = lo;
        return lo + floor((last - lo) / 2.0);
    }
    return isfinite(hi) ? 0.5 * (lo + hi) : 0.5 * (lo + top);
}

/* The largest finite distance of the classes' metrics: past it nothing changes, so
 * an interval that runs to infinity is measured up to it (as nv_calibrate does). */
static double max_finite(const phr_diag *g, int nclass) {
    double m = 0.0;
    for (int c = 0; c < nclass; c++) m = fmax(m, g[c].dmax);
    return m;
}

typedef struct {
    int64_t cls;
    int64_t n_points, count;
    int k;
    double scale, lo, hi;    /* nv_calibrate's answer for this class alone (kNN kinds) */
} phr_class_calib;

/* Calibrates on the reference (input layer, split all). cc (cap classes) gets the
 * per-class answers. */
static nv_status calibrate(const phr_plan *plan, const nv_phrun_options *o, const phr_item *ref,
                           phr_calib *cal, phr_class_calib *cc, int *ncc, nv_error *err) {
    nv_real *x = NULL;
    int64_t n = 0, d = 0, nl = 0, ni = 0;
    int64_t *labels = NULL, *ids = NULL;
    nv_status st = NV_OK;
    phr_diag g[64];
    nv_real *lx[64];
    int64_t cls[64];
    int nclass = 0, ndone = 0;
    memset(g, 0, sizeof g);
    memset(lx, 0, sizeof lx);
    if (!ref->has_input)
        return nv_fail(err, NV_EINPUT,
                       "%s: no 'input' layer to calibrate on (snapshots.layers left it out); give "
                       "--k and --scale",
                       ref->snap_path);
    /* the first split analysed: the calibrated scale must fit the density of the
     * points it is read on */
    const char *split = o->splits[0];
    st = nv_snapshot_read(ref->snap_path, "input", split, 0, &x, &n, &d, err);
    if (st == NV_OK) st = nv_snapshot_read_index(ref->snap_path, "labels", split, &labels, &nl, err);
    if (st == NV_OK) st = nv_snapshot_read_index(ref->snap_path, "ids", split, &ids, &ni, err);
    if (st) goto done;
    nclass = classes_of(labels, n, cls, 64);
    int knn = o->metric == NV_METRIC_KNN_HOPS || o->metric == NV_METRIC_KNN_WEIGHTED;
    int hops = o->metric == NV_METRIC_KNN_HOPS;
    int k_lo = knn ? (o->k > 0 ? o->k : o->k_min) : 0;
    int k_hi = knn ? (o->k > 0 ? o->k : o->k_max) : 0;
    /* landmarks once per class: they depend on coordinates only, not on k */
    for (int c = 0; c < nclass; c++) {
        st = class_barcode(x, n, d, labels, ids, cls[c], o, 1, INFINITY, 0, &g[c], &lx[c], err);
        if (st) goto done;
        ndone = c + 1;
    }
    char tt[128];
    target_text(o, tt, sizeof tt);
    for (int k = k_lo; k <= k_hi; k++) {
        int all_ok = 1;
        double lo = -INFINITY, hi = INFINITY, top = 0.0;
        for (int c = 0; c < nclass && all_ok; c++) {
            nv_ph_result_free(&g[c].res);
            cc[c] = (phr_class_calib){.cls = cls[c], .n_points = g[c].n_points, .count = g[c].count, .k = k};
            if (!knn) {
                /* no k to search: the barcode exactly as the analysis computes it,
                 * scanned jointly below */
                phr_diag tmp;
                st = class_barcode(x, n, d, labels, ids, cls[c], o, k, INFINITY, 1, &tmp, NULL, err);
                if (st) goto done;
                g[c].res = tmp.res;
                g[c].dmax = tmp.dmax;
                tmp.res = (nv_ph_result){0};
                phr_diag_free(&tmp);
                continue;
            }
            if (k >= g[c].count) {
                all_ok = 0;
                break;
            }
            /* beta0 first: union-find on the kNN graph, no engine, so a k whose
             * graph has the wrong number of components costs almost nothing */
            nv_calibration one;
            nv_error e2 = {0};
            const int64_t *tc = class_target(o, c);
            if (nv_calibrate(lx[c], g[c].count, d, o->metric, tc, 1, k, k, &one, &e2) ||
                (o->ntarget > 1 &&
                 nv_calibrate(lx[c], g[c].count, d, o->metric, tc, o->ntarget, k, k, &one, &e2))) {
                if (e2.status != NV_EINPUT) {
                    st = nv_fail(err, e2.status, "%s", e2.msg);
                    goto done;
                }
                all_ok = 0;
                break;
            }
            cc[c].scale = one.scale;
            cc[c].lo = one.scale_lo;
            cc[c].hi = one.scale_hi;
            /* one scale for every class: the intersection of their intervals */
            lo = fmax(lo, one.scale_lo);
            hi = fmin(hi, one.scale_hi);
            top = fmax(top, one.scale);
        }
        if (!all_ok) continue;
        double scale;
        if (knn) {
            if (!(lo < hi)) continue;
            /* a run to infinity: the largest per-class middle lies inside it */
            scale = isfinite(hi) ? middle_scale(lo, hi, 0.0, hops) : fmax(lo, top);
        } else {
            if (!joint_interval(g, nclass, o, &lo, &hi)) continue;
            scale = middle_scale(lo, hi, max_finite(g, nclass), 0);
        }
        cal->k = knn ? k : 0;
        cal->lo = lo;
        cal->hi = hi;
        cal->scale = scale;
        cal->computed = 1;
        *ncc = nclass;
        goto done;
    }
    if (knn)
        st = nv_fail(err, NV_EINPUT,
                     "calibration on %s (layer input, split all, %d classes, <= %lld landmarks "
                     "each): no k in [%d, %d] gives every class the Betti numbers (%s) at one "
                     "scale under %s; pass --target-betti, --k/--scale, or another --metric",
                     ref->snap_path, nclass, (long long)o->landmarks, k_lo, k_hi, tt,
                     nv_metric_name(o->metric));
    else
        st = nv_fail(err, NV_EINPUT,
                     "calibration on %s (layer input, split all, %d classes): no scale gives every "
                     "class the Betti numbers (%s) under %s; pass --target-betti or --scale",
                     ref->snap_path, nclass, tt, nv_metric_name(o->metric));
done:
    for (int c = 0; c < ndone; c++) {
        phr_diag_free(&g[c]);
        free(lx[c]);
    }
    free(x);
    free(labels);
    free(ids);
    return st;
}

static nv_status calibration_write(const char *path, const char *key, const nv_phrun_options *o,
                                   const phr_item *ref, const phr_calib *cal,
                                   const phr_class_calib *cc, int ncc, nv_error *err) {
    json_t *j = json_object();
    json_object_set_new(j, "format", json_string(CALIB_FORMAT));
    json_object_set_new(j, "format_version", json_integer(1));
    json_object_set_new(j, "metric", json_string(nv_metric_name(o->metric)));
    json_object_set_new(j, "k", json_integer(cal->k));
    json_object_set_new(j, "scale", json_real(cal->scale));
    json_object_set_new(j, "scale_lo", isfinite(cal->lo) ? json_real(cal->lo) : json_null());
    json_object_set_new(j, "scale_hi", isfinite(cal->hi) ? json_real(cal->hi) : json_null());
    json_t *t = json_array();
    for (int i = 0; i < o->ntarget; i++) json_array_append_new(t, json_integer(o->target[i]));
    if (o->ntarget_classes > 0) {
        /* per class: [[9, 0], [1, 9]] */
        json_decref(t);
        t = json_array();
        for (int c = 0; c < o->ntarget_classes; c++) {
            json_t *tc = json_array();
            for (int i = 0; i < o->ntarget; i++) json_array_append_new(tc, json_integer(o->class_target[c][i]));
            json_array_append_new(t, tc);
        }
    }
    json_object_set_new(j, "target_betti", t);
    json_object_set_new(j, "k_given", json_boolean(o->k > 0));
    json_object_set_new(j, "scale_given", json_boolean(o->scale >= 0));
    json_object_set_new(j, "k_min", json_integer(o->k_min));
    json_object_set_new(j, "k_max", json_integer(o->k_max));
    json_object_set_new(j, "landmarks", json_integer(o->landmarks));
    json_t *r = json_object();
    json_object_set_new(r, "snapshot", json_string(ref->snap_rel));
    json_object_set_new(r, "model", json_string(ref->model));
    json_object_set_new(r, "epoch", json_integer(ref->epoch));
    json_object_set_new(r, "layer", json_string("input"));
    json_object_set_new(r, "split", json_string(o->splits[0]));
    json_object_set_new(j, "reference", r);
    json_t *a = json_array();
    for (int c = 0; c < ncc; c++) {
        json_t *e = json_object();
        json_object_set_new(e, "class", json_integer(cc[c].cls));
        json_object_set_new(e, "n_points", json_integer(cc[c].n_points));
        json_object_set_new(e, "landmarks", json_integer(cc[c].count));
        if (o->metric == NV_METRIC_KNN_HOPS || o->metric == NV_METRIC_KNN_WEIGHTED) {
            /* nv_calibrate's own answer for this class at the chosen k */
            json_object_set_new(e, "scale", json_real(cc[c].scale));
            json_object_set_new(e, "scale_lo", json_real(cc[c].lo));
            json_object_set_new(e, "scale_hi", isfinite(cc[c].hi) ? json_real(cc[c].hi) : json_null());
        }
        json_array_append_new(a, e);
    }
    json_object_set_new(j, "classes", a);
    json_object_set_new(j, "key", json_string(key));
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(j);
    if (!text) return nv_fail(err, NV_ENOMEM, "%s: out of memory formatting JSON", path);
    size_t len = strlen(text);
    char *withnl = malloc(len + 2);
    nv_status st = NV_ENOMEM;
    if (withnl) {
        memcpy(withnl, text, len);
        withnl[len] = '\n';
        withnl[len + 1] = 0;
        st = nv_atomic_write_text(path, withnl, err);
    } else {
        nv_fail(err, NV_ENOMEM, "%s: out of memory", path);
    }
    free(withnl);
    free(text);
    return st;
}

/* Reuses calibration.json when its key matches; returns 1 if it did. */
static int calibration_reuse(const char *path, const char *key, phr_calib *cal) {
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) return 0;
    int ok = 0;
    json_t *jk = json_object_get(j, "key"), *k = json_object_get(j, "k"), *s = json_object_get(j, "scale");
    if (json_is_string(jk) && strcmp(json_string_value(jk), key) == 0 && json_is_integer(k) &&
        json_is_number(s)) {
        json_t *lo = json_object_get(j, "scale_lo"), *hi = json_object_get(j, "scale_hi");
        cal->k = (int)json_integer_value(k);
        cal->scale = json_number_value(s);
        cal->lo = json_is_number(lo) ? json_number_value(lo) : -INFINITY;
        cal->hi = json_is_number(hi) ? json_number_value(hi) : INFINITY;
        cal->computed = 0;
        ok = 1;
    }
    json_decref(j);
    return ok;
}

/* The target Betti numbers from the run's data when not given: a class of the
 * spheres data is an m-sphere (beta0 = 1, beta_m = 1, others 0); the disks data
 * (D-I) have class a = nine disks, (9, 0, 0, ..), and class b = the square with
 * nine holes, (1, 9, 0, ..); the tori data (D-II) nine solid tori in each class,
 * (9, 9, 0, ..); other data have no known topology, and each class is assumed
 * connected (beta0 = 1). */
static nv_status default_target(const phr_plan *plan, nv_phrun_options *o, nv_error *err) {
    if (o->ntarget > 0) {
        if (o->ntarget > o->max_dim + 1)
            return nv_fail(err, NV_EINPUT,
                           "--target-betti: %d numbers given but only dimensions 0..%d are computed "
                           "(--max-dim %d)",
                           o->ntarget, o->max_dim, o->max_dim);
        return NV_OK;
    }
    /* The resolved config.cfg names the source and sphere_dim. It is scanned as
     * text rather than loaded with nv_config_load: that loader validates every key
     * and refuses some resolved files (e.g. `radius = [1, 1.3]`, a list libconfig
     * reads as mixed types), and only these two keys matter here. */
    char cfg[PHR_PATH + 16];
    snprintf(cfg, sizeof cfg, "%s/config.cfg", plan->run);
    int sphere_dim = -1, disks = 0, tori = 0;
    FILE *f = fopen(cfg, "r");
    if (f) {
        char line[512];
        int spheres = 0, m = -1;
        while (fgets(line, sizeof line, f)) {
            const char *p = line + strspn(line, " \t");
            if (strncmp(p, "source", 6) == 0 && strstr(p, "\"spheres\"")) spheres = 1;
            if (strncmp(p, "source", 6) == 0 && strstr(p, "\"disks\"")) disks = 1;
            if (strncmp(p, "source", 6) == 0 && strstr(p, "\"tori\"")) tori = 1;
            if (strncmp(p, "sphere_dim", 10) == 0) {
                const char *eq = strchr(p, '=');
                if (eq) m = atoi(eq + 1);
            }
        }
        fclose(f);
        if (spheres) sphere_dim = m;
    }
    if (disks || tori) {
        o->ntarget = o->max_dim + 1;
        o->ntarget_classes = 2;
        for (int c = 0; c < 2; c++)
            for (int i = 0; i < o->ntarget; i++)
                o->class_target[c][i] = disks ? (i == 0 ? (c == 0 ? 9 : 1) : i == 1 && c == 1 ? 9 : 0)
                                              : (i <= 1 ? 9 : 0);
        return NV_OK;
    }
    if (sphere_dim < 1) {
        o->ntarget = 1;
        o->target[0] = 1;
        return NV_OK;
    }
    o->ntarget = o->max_dim + 1;
    for (int i = 0; i < o->ntarget; i++) o->target[i] = (i == 0 || i == sphere_dim) ? 1 : 0;
    return NV_OK;
}

static nv_status get_calibration(const phr_plan *plan, nv_phrun_options *o, phr_calib *cal,
                                 nv_error *err) {
    nv_status st = default_target(plan, o, err);
    if (st) return st;
    int knn = o->metric == NV_METRIC_KNN_HOPS || o->metric == NV_METRIC_KNN_WEIGHTED;
    if (!knn && o->k > 0)
        return nv_fail(err, NV_EINPUT, "--k %d: metric %s uses no kNN graph (k is for knn-hops and knn-weighted)",
                       o->k, nv_metric_name(o->metric));
    if (knn && (o->k_min < 1 || o->k_max < o->k_min))
        return nv_fail(err, NV_EINPUT, "k range [%d, %d]: expected 1 <= k_min <= k_max", o->k_min, o->k_max);
    /* fully given: nothing to calibrate */
    if (o->scale >= 0 && (!knn || o->k > 0)) {
        *cal = (phr_calib){.k = knn ? o->k : 0, .scale = o->scale, .lo = o->scale, .hi = o->scale};
        return NV_OK;
    }
    const phr_item *ref = reference_item(plan);
    char key[2048], path[PHR_PATH + 32];
    calib_key(o, ref, key, sizeof key);
    snprintf(path, sizeof path, "%s/calibration.json", plan->ph_dir);
    if (!o->force && calibration_reuse(path, key, cal)) return NV_OK;
    phr_class_calib cc[64];
    int ncc = 0;
    st = calibrate(plan, o, ref, cal, cc, &ncc, err);
    if (st) return st;
    if (o->scale >= 0) cal->scale = o->scale; /* --scale alone: k calibrated, scale given */
    st = nv_mkdirs(plan->ph_dir, err);
    if (st == NV_OK) st = calibration_write(path, key, o, ref, cal, cc, ncc, err);
    return st;
}

/* ------------------------------------------------------------------ diagram files */

/* Every parameter a diagram file depends on, as one string stored as the root
 * attribute `params`: a file is recomputed exactly when this changes. */
static void params_key(const nv_phrun_options *o, const phr_calib *cal, double threshold,
                       const phr_item *it, char *buf, size_t len) {
    snprintf(buf, len,
             "metric=%s k=%d scale=%.17g threshold=%.17g max_dim=%d landmarks=%lld "
             "landmark_method=maxmin splits=",
             nv_metric_name(o->metric), cal->k, cal->scale, threshold, o->max_dim, (long long)o->landmarks);
    for (int s = 0; s < o->nsplits; s++)
        snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", s ? "," : "", o->splits[s]);
    /* settings added later join the key only when they are not their defaults, so
     * files written before them are not recomputed */
    if (o->dedup) snprintf(buf + strlen(buf), len - strlen(buf), " dedup=1");
    if (o->label_k > 0)
        snprintf(buf + strlen(buf), len - strlen(buf), " labelled=%s:%d", o->label_split, o->label_k);
    snprintf(buf + strlen(buf), len - strlen(buf), " layers=");
    for (int l = 0; l < it->nlayers; l++)
        snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", l ? "," : "", it->layers[l]);
}

/* 1 when `path` is a diagram file of this version whose params equal `key`. */
static int diagram_file_current(const char *path, const char *key) {
    if (nv_file_mtime_ns(path) == 0) return 0;
    nv_h5_quiet();
    hid_t fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (fid < 0) return 0;
    int ok = 0;
    char *p = NULL;
    if (nv_h5_check_format(fid, path, NV_DIAGRAMS_FORMAT, NV_DIAGRAMS_VERSION, NULL, NULL) == NV_OK &&
        nv_h5_read_attr_str(fid, "params", &p, path, "/", NULL) == NV_OK)
        ok = strcmp(p, key) == 0;
    free(p);
    H5Fclose(fid);
    return ok;
}

static hid_t group_at(hid_t loc, const char *name) {
    if (nv_h5_exists(loc, name)) return H5Gopen2(loc, name, H5P_DEFAULT);
    hid_t gcpl = nv_h5_gcpl();
    hid_t g = H5Gcreate2(loc, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    H5Pclose(gcpl);
    return g;
}

/* One diagram's group: datasets dim (i32), birth, death (f32, death = inf for an
 * essential class) and the parameters as attributes. */
static nv_status write_diagram(hid_t fid, const char *file, const char *layer, const char *split,
                               const char *group, const phr_diag *g, const nv_phrun_options *o,
                               const phr_calib *cal, double threshold, nv_error *err) {
    nv_status st = NV_OK;
    hid_t gl = group_at(fid, layer);
    hid_t gs = gl >= 0 ? group_at(gl, split) : -1;
    hid_t gc = gs >= 0 ? group_at(gs, group) : -1;
    int64_t m = g->res.count;
    int32_t *dim = malloc((size_t)(m ? m : 1) * sizeof *dim);
    float *b = malloc((size_t)(m ? m : 1) * sizeof *b), *dd = malloc((size_t)(m ? m : 1) * sizeof *dd);
    char obj[256];
    snprintf(obj, sizeof obj, "/%s/%s/%s", layer, split, group);
    if (gc < 0) {
        st = nv_h5_fail(err, NV_EIO, file, obj, "cannot create the group");
        goto done;
    }
    if (!dim || !b || !dd) {
        st = nv_fail(err, NV_ENOMEM, "%s: out of memory", file);
        goto done;
    }
    for (int64_t i = 0; i < m; i++) {
        dim[i] = g->res.pairs[i].dim;
        b[i] = g->res.pairs[i].birth;
        dd[i] = g->res.pairs[i].death;
    }
    st = nv_h5_write_dataset(gc, "dim", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, &m, dim, 0, file, err);
    if (!st) st = nv_h5_write_dataset(gc, "birth", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &m, b, 0, file, err);
    if (!st) st = nv_h5_write_dataset(gc, "death", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &m, dd, 0, file, err);
    if (!st) st = nv_h5_attr_str(gc, "distance", nv_metric_name(o->metric), file, err);
    if (!st) st = nv_h5_attr_i64(gc, "k", g->k_used, file, err);
    if (!st) st = nv_h5_attr_f64(gc, "scale", cal->scale, file, err);
    if (!st) st = nv_h5_attr_f64(gc, "threshold", threshold, file, err);
    if (!st) st = nv_h5_attr_i64(gc, "max_dim", o->max_dim, file, err);
    if (!st) st = nv_h5_attr_i64(gc, "landmarks", g->count, file, err);
    if (!st) st = nv_h5_attr_i64(gc, "landmarks_requested", o->landmarks, file, err);
    if (!st) st = nv_h5_attr_str(gc, "landmark_method", o->landmarks > 0 ? "maxmin" : "all", file, err);
    if (!st) st = nv_h5_attr_i64s(gc, "landmark_ids", g->ids, g->count, file, err);
    if (!st) st = nv_h5_attr_i64s(gc, "landmark_rows", g->rows, g->count, file, err);
    if (!st) st = nv_h5_attr_f64(gc, "cover_radius", g->cover_radius, file, err);
    if (!st) st = nv_h5_attr_i64(gc, "n_points", g->n_points, file, err);
    if (!st) st = nv_h5_attr_i64(gc, "n_unique", g->n_unique, file, err);
done:
    free(dim);
    free(b);
    free(dd);
    if (gc >= 0) H5Gclose(gc);
    if (gs >= 0) H5Gclose(gs);
    if (gl >= 0) H5Gclose(gl);
    return st;
}

typedef struct {
    const phr_plan *plan;
    const nv_phrun_options *o;
    const phr_calib *cal;
    double threshold;         /* the Rips threshold used (INFINITY: none) */
    const int64_t *work;      /* (nwork) plan indices this task computes */
    int64_t nwork;
    int64_t *diagrams;        /* (nwork) written per work item */
    pthread_mutex_t mu;
    int64_t done;
} phr_ctx;

/* One snapshot file -> one diagram file. Everything is computed in memory first and
 * written at the end, so the temporary file is open only briefly. */
static nv_status compute_file(int64_t w, void *vctx, nv_error *err) {
    phr_ctx *ctx = vctx;
    const phr_item *it = &ctx->plan->items[ctx->work[w]];
    const nv_phrun_options *o = ctx->o;
    nv_status st = NV_OK;
    int ns = o->nsplits, nl = it->nlayers;
    int64_t cls[64];
    int ncls[NV_PHRUN_MAX_SPLITS];
    /* diagrams[l][s][c], c = nclass(split) for the combined set */
    phr_diag *g = NULL;
    nv_labelled lab[PHR_MAX_LAYERS];
    char lab_split[PHR_MAX_LAYERS][8];
    memset(lab, 0, sizeof lab);
    int64_t *labels[NV_PHRUN_MAX_SPLITS] = {0}, *ids[NV_PHRUN_MAX_SPLITS] = {0};
    int64_t nrows[NV_PHRUN_MAX_SPLITS] = {0};
    int ncls_max = 0, slots = 0;
    hid_t fid = -1;
    char *tmp = NULL;
    for (int s = 0; s < ns; s++) {
        int64_t n2 = 0;
        st = nv_snapshot_read_index(it->snap_path, "labels", o->splits[s], &labels[s], &nrows[s], err);
        if (!st) st = nv_snapshot_read_index(it->snap_path, "ids", o->splits[s], &ids[s], &n2, err);
        if (st) goto done;
        ncls[s] = classes_of(labels[s], nrows[s], cls, 63);
        ncls_max = NV_MAX(ncls_max, ncls[s]);
    }
    slots = nl * ns * (ncls_max + 1);
    g = nv_calloc((size_t)slots, sizeof *g, err);
    if (!g) {
        st = NV_ENOMEM;
        goto done;
    }
    for (int l = 0; l < nl; l++)
        for (int s = 0; s < ns; s++) {
            nv_real *x = NULL;
            int64_t n = 0, d = 0;
            st = nv_snapshot_read(it->snap_path, it->layers[l], o->splits[s], 0, &x, &n, &d, err);
            if (st) goto done;
            int nc = classes_of(labels[s], nrows[s], cls, 63);
            for (int c = 0; c <= nc && st == NV_OK; c++) {
                phr_diag *gd = &g[(l * ns + s) * (ncls_max + 1) + c];
                st = class_barcode(x, n, d, labels[s], ids[s], c < nc ? cls[c] : -1, o, ctx->cal->k,
                                   ctx->threshold, 1,
                                   gd, NULL, err);
                if (st) {
                    char label[32] = "all";
                    if (c < nc) snprintf(label, sizeof label, "%lld", (long long)cls[c]);
                    nv_error_prefix(err, "%s: layer %s, split %s, class %s: ", it->snap_path, it->layers[l],
                                    o->splits[s], label);
                }
            }
            free(x);
            if (st) goto done;
        }
    /* the labelled kNN filtration of every layer (labelled.h) */
    for (int l = 0; l < nl && o->label_k > 0 && !st; l++)
        st = phr_labelled_compute(it->snap_path, it->layers[l], o, &lab[l], lab_split[l], sizeof lab_split[l], err);
    if (st) goto done;
    /* write */
    st = nv_mkdirs(ctx->plan->ph_dir, err);
    char dir[PHR_PATH + 80];
    snprintf(dir, sizeof dir, "%s/%s", ctx->plan->ph_dir, it->model);
    if (!st) st = nv_mkdirs(dir, err);
    if (st) goto done;
    nv_h5_quiet();
    fid = nv_h5_create_temp(it->out_path, &tmp, err);
    if (fid < 0) {
        st = err && err->status ? err->status : NV_EIO;
        goto done;
    }
    char key[2048];
    params_key(o, ctx->cal, ctx->threshold, it, key, sizeof key);
    const char *layer_names[PHR_MAX_LAYERS], *split_names[NV_PHRUN_MAX_SPLITS];
    for (int l = 0; l < nl; l++) layer_names[l] = it->layers[l];
    for (int s = 0; s < ns; s++) split_names[s] = o->splits[s];
    const char *f = it->out_path;
    st = nv_h5_attr_str(fid, "format", NV_DIAGRAMS_FORMAT, f, err);
    if (!st) st = nv_h5_attr_i64(fid, "format_version", NV_DIAGRAMS_VERSION, f, err);
    if (!st) st = nv_h5_attr_str(fid, "nerve_version", NERVE_VERSION, f, err);
    if (!st) st = nv_h5_attr_str(fid, "model", it->model, f, err);
    if (!st) st = nv_h5_attr_i64(fid, "epoch", it->epoch, f, err);
    if (!st) st = nv_h5_attr_str(fid, "snapshot", it->snap_rel, f, err);
    if (!st) st = nv_h5_attr_str(fid, "params", key, f, err);
    if (!st) st = nv_h5_attr_str(fid, "distance", nv_metric_name(o->metric), f, err);
    if (!st) st = nv_h5_attr_i64(fid, "k", ctx->cal->k, f, err);
    if (!st) st = nv_h5_attr_f64(fid, "scale", ctx->cal->scale, f, err);
    if (!st) st = nv_h5_attr_f64(fid, "threshold", ctx->threshold, f, err);
    if (!st) st = nv_h5_attr_i64(fid, "max_dim", o->max_dim, f, err);
    if (!st) st = nv_h5_attr_i64(fid, "landmarks", o->landmarks, f, err);
    if (!st) st = nv_h5_attr_strs(fid, "layers", layer_names, nl, f, err);
    if (!st) st = nv_h5_attr_strs(fid, "splits", split_names, ns, f, err);
    int64_t written = 0;
    for (int l = 0; l < nl && !st; l++)
        for (int s = 0; s < ns && !st; s++) {
            int nc = classes_of(labels[s], nrows[s], cls, 63);
            for (int c = 0; c <= nc && !st; c++) {
                char gname[32];
                if (c < nc)
                    snprintf(gname, sizeof gname, "class_%lld", (long long)cls[c]);
                else
                    snprintf(gname, sizeof gname, "%s", PHR_ALL_CLASSES);
                st = write_diagram(fid, f, it->layers[l], o->splits[s], gname,
                                   &g[(l * ns + s) * (ncls_max + 1) + c], o, ctx->cal, ctx->threshold,
                                   err);
                written++;
            }
        }
    for (int l = 0; l < nl && o->label_k > 0 && !st; l++)
        st = phr_labelled_write(fid, f, it->layers[l], lab_split[l], &lab[l], err);
    if (st) goto done;
    st = nv_h5_commit_temp(fid, tmp, it->out_path, err);
    fid = -1;
    if (st) goto done;
    ctx->diagrams[w] = written;
    pthread_mutex_lock(&ctx->mu);
    ctx->done++;
    note(o, NV_PHRUN_EV_FILE_DONE, ctx->done, ctx->nwork, it->out_path);
    pthread_mutex_unlock(&ctx->mu);
done:
    if (fid >= 0 || tmp) {
        if (st) nv_h5_discard_temp(fid, tmp);
    }
    free(tmp);
    for (int i = 0; g && i < slots; i++) phr_diag_free(&g[i]);
    free(g);
    for (int l = 0; l < PHR_MAX_LAYERS; l++) nv_labelled_free(&lab[l]);
    for (int s = 0; s < ns; s++) {
        free(labels[s]);
        free(ids[s]);
    }
    return st;
}

/* The selection of models, epochs and layers (nv_phrun_options.select) on a plan of
 * every file: files of other models or epochs are not this call's to compute (the
 * summary still reads them), and each file keeps only the selected layers. A
 * selected name or epoch that no file has is NV_EINPUT naming it. */
static nv_status apply_select(phr_plan *plan, const nv_run_select *sel, nv_error *err) {
    for (int s = 0; s < sel->n_models; s++) {
        int found = 0;
        for (int64_t i = 0; i < plan->n; i++) found |= !strcmp(plan->items[i].model, sel->models[s]);
        if (!found) return nv_fail(err, NV_EINPUT, "run %s: no snapshots of model '%s'", plan->run, sel->models[s]);
    }
    for (int s = 0; s < sel->n_epochs; s++) {
        int found = 0;
        for (int64_t i = 0; i < plan->n; i++) found |= plan->items[i].epoch == sel->epochs[s];
        if (!found)
            return nv_fail(err, NV_EINPUT, "run %s: no snapshot at epoch %lld", plan->run, (long long)sel->epochs[s]);
    }
    for (int s = 0; s < sel->n_layers; s++) {
        int found = 0;
        for (int64_t i = 0; i < plan->n; i++)
            for (int l = 0; l < plan->items[i].nlayers; l++) found |= !strcmp(plan->items[i].layers[l], sel->layers[s]);
        if (!found) return nv_fail(err, NV_EINPUT, "run %s: no layer '%s' in the snapshots", plan->run, sel->layers[s]);
    }
    for (int64_t i = 0; i < plan->n; i++) {
        phr_item *it = &plan->items[i];
        int keep = 1;
        if (sel->n_models) {
            keep = 0;
            for (int s = 0; s < sel->n_models; s++) keep |= !strcmp(it->model, sel->models[s]);
        }
        if (keep && sel->n_epochs) {
            keep = 0;
            for (int s = 0; s < sel->n_epochs; s++) keep |= it->epoch == sel->epochs[s];
        }
        if (!keep) it->owned = 0;
        if (sel->n_layers) {
            int k = 0;
            for (int l = 0; l < it->nlayers; l++) {
                int in = 0;
                for (int s = 0; s < sel->n_layers; s++) in |= !strcmp(it->layers[l], sel->layers[s]);
                if (in && k != l) memcpy(it->layers[k], it->layers[l], sizeof it->layers[k]);
                k += in;
            }
            it->nlayers = k;
        }
    }
    return NV_OK;
}

static nv_status check_options(const nv_phrun_options *o, nv_error *err) {
    if (o->max_dim < 0 || o->max_dim > 3)
        return nv_fail(err, NV_EINPUT, "--max-dim %d: expected 0..3", o->max_dim);
    if (o->landmarks != 0 && (o->landmarks < 2 || o->landmarks > 20000))
        return nv_fail(err, NV_EINPUT, "--landmarks %lld: expected 2..20000, or all", (long long)o->landmarks);
    if (o->label_k < 0 || o->label_k > 200)
        return nv_fail(err, NV_EINPUT, "--label-k %d: expected 0 (off) .. 200", o->label_k);
    if (o->label_k > 0 && strcmp(o->label_split, "train") && strcmp(o->label_split, "test") &&
        strcmp(o->label_split, "all"))
        return nv_fail(err, NV_EINPUT, "--label-split: unknown split '%s' (expected train, test, all)",
                       o->label_split);
    if (o->nmodels < 0 || o->nmodels > NV_PHRUN_MAX_MODELS)
        return nv_fail(err, NV_EINPUT, "--models: at most %d models", NV_PHRUN_MAX_MODELS);
    if (o->nsplits < 1) return nv_fail(err, NV_EINPUT, "--splits: expected at least one split");
    for (int s = 0; s < o->nsplits; s++)
        if (strcmp(o->splits[s], "train") && strcmp(o->splits[s], "test") && strcmp(o->splits[s], "all"))
            return nv_fail(err, NV_EINPUT, "--splits: unknown split '%s' (expected train, test, all)",
                           o->splits[s]);
    if (o->tasks < 1 || o->task < 0 || o->task >= o->tasks)
        return nv_fail(err, NV_EINPUT, "--task %d --tasks %d: expected 0 <= task < tasks", o->task, o->tasks);
    if (strcmp(nv_metric_name(o->metric), "unknown") == 0)
        return nv_fail(err, NV_EINPUT, "metric: unknown kind %d", (int)o->metric);
    return NV_OK;
}

nv_status nv_phrun_run(const char *run_dir, const nv_phrun_options *opts, nv_phrun_report *rep,
                       nv_error *err) {
    nv_phrun_options o = *opts;
    nv_phrun_report dummy;
    if (!rep) rep = &dummy;
    memset(rep, 0, sizeof *rep);
    nv_status st = check_options(&o, err);
    if (st) return st;
    phr_plan plan;
    const char *msel[NV_PHRUN_MAX_MODELS];
    for (int m = 0; m < o.nmodels; m++) msel[m] = o.models[m];
    st = phr_plan_make(run_dir, o.only_layer, msel, o.nmodels, o.task, o.tasks, &plan, err);
    if (st) return st;
    if ((st = apply_select(&plan, &o.select, err))) {
        phr_plan_free(&plan);
        return st;
    }
    phr_calib cal = {0};
    int64_t *work = NULL, *diagrams = NULL;
    st = get_calibration(&plan, &o, &cal, err);
    if (st) goto done;
    rep->calibrated = cal.computed;
    rep->k = cal.k;
    rep->scale = cal.scale;
    rep->files_total = plan.n;
    /* knn-hops: the filtration is cut at the reading scale by default (see phrun.h) */
    double threshold = isnan(o.threshold) ? (o.metric == NV_METRIC_KNN_HOPS ? cal.scale : INFINITY)
                                          : o.threshold;
    if (threshold < cal.scale) {
        st = nv_fail(err, NV_EINPUT,
                     "--threshold %g is below the scale %g at which Betti numbers are read; "
                     "expected >= the scale (or inf)",
                     threshold, cal.scale);
        goto done;
    }
    rep->threshold = threshold;
    work = nv_calloc((size_t)plan.n, sizeof *work, err);
    diagrams = nv_calloc((size_t)plan.n, sizeof *diagrams, err);
    if (!work || !diagrams) {
        st = NV_ENOMEM;
        goto done;
    }
    int64_t nwork = 0;
    for (int64_t i = 0; i < plan.n; i++) {
        if (!plan.items[i].owned) continue;
        rep->files_owned++;
        if (plan.items[i].nlayers == 0) continue; /* --layer not in this file */
        char key[2048];
        params_key(&o, &cal, threshold, &plan.items[i], key, sizeof key);
        if (!o.force && diagram_file_current(plan.items[i].out_path, key)) {
            rep->files_skipped++;
            continue;
        }
        work[nwork++] = i;
    }
    note(&o, NV_PHRUN_EV_START, 0, nwork, NULL);
    if (nwork > 0) {
        phr_ctx ctx = {.plan = &plan, .o = &o, .cal = &cal, .threshold = threshold, .work = work,
                       .nwork = nwork,
                       .diagrams = diagrams};
        pthread_mutex_init(&ctx.mu, NULL);
        int threads = o.threads > 0 ? o.threads : nv_default_threads();
        st = nv_parallel_for(nwork, threads, compute_file, &ctx, err);
        pthread_mutex_destroy(&ctx.mu);
        rep->files_computed = ctx.done;
        for (int64_t w = 0; w < nwork; w++) rep->diagrams += diagrams[w];
        if (st) goto done;
    }
    st = phr_summarize(&plan, &o, nwork > 0 || cal.computed, rep, err);
done:
    free(work);
    free(diagrams);
    phr_plan_free(&plan);
    return st;
}

nv_status nv_phrun_summarize(const char *run_dir, const nv_phrun_options *opts, nv_phrun_report *rep,
                             nv_error *err) {
    nv_phrun_report dummy;
    if (!rep) rep = &dummy;
    memset(rep, 0, sizeof *rep);
    nv_status st = check_options(opts, err);
    if (st) return st;
    phr_plan plan;
    const char *msel[NV_PHRUN_MAX_MODELS];
    for (int m = 0; m < opts->nmodels; m++) msel[m] = opts->models[m];
    st = phr_plan_make(run_dir, opts->only_layer, msel, opts->nmodels, 0, 1, &plan, err);
    if (st) return st;
    rep->files_total = plan.n;
    st = phr_summarize(&plan, opts, 1, rep, err);
    phr_plan_free(&plan);
    return st;
}
