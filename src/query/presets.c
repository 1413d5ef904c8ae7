/* presets.c: the five research questions of issue 16 as library functions
 * (include/nerve/query.h, docs/queries.md), each with the SQL that gives the same
 * main table over the virtual tables (nv_query_preset_sql; tests/integration/
 * query_sql.py runs both and compares).
 *
 *   top-samples     per weight of a layer (or one weight), the k samples whose summed
 *                   contribution in epoch X is largest: the batched top-k of
 *                   contrib.c (or its CUDA twin) over the epoch's factors
 *   weight-groups   every weight's total gradient and change over training, from one
 *                   replay of the whole run with the training backend's sgemm, and
 *                   the weights grouped by the shape of their per-epoch change
 *                   (k-means on the normalised changes, deterministic)
 *   compare-runs    two runs that differ in their sample order: loss, accuracy,
 *                   distance between their weights and CKA of their activations at
 *                   step N, and the first step each reached a given loss
 *   pre-explosion   the first step at which more than a fraction of a layer's
 *                   gradient entries crossed an alarm threshold, and the last k
 *                   samples fed up to it
 *   weight-to-zero  the first step at which a weight reached zero (|w| <= tolerance or
 *                   a change of sign), from a replay of that weight alone, and the k
 *                   samples of the steps before it that pushed it there most
 */
#include "query_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nerve/mlp.h"
#include "nerve/stats.h"

const char *const nv_query_preset_names[] = {"top-samples", "weight-groups", "compare-runs", "pre-explosion",
                                             "weight-to-zero", NULL};
const char *const nv_query_preset_summaries[] = {
    "which samples changed each weight of a layer (or one weight) most during epoch X",
    "weights ranked by total gradient and change over training, grouped by the shape of their trajectories",
    "two runs differing only in sample order: loss, accuracy, weight distance, CKA at step N; steps to a loss",
    "the first step where more than a fraction of a layer's gradient entries alarmed; the last k samples before it",
    "the step at which a weight reached zero, and the k samples before it that pushed it there most",
    NULL};

void nv_preset_args_init(nv_preset_args *a) {
    memset(a, 0, sizeof *a);
    a->row = a->col = -1;
    a->step = -1;
    a->loss = NAN;
    a->fraction = NAN;
    a->tolerance = NAN;
}

/* --- shared helpers ------------------------------------------------------------------- */
static int kk(const nv_preset_args *a) { return a->k > 0 ? a->k : 10; }

static nv_status layer_of(const qsrc *s, const char *name, int *k, nv_error *err) {
    *k = qsrc_layer(s, name);
    if (*k >= 0) return NV_OK;
    char list[600] = "";
    for (int i = 0; i < s->L; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", s->info->layer_names[i]);
    return nv_fail(err, NV_EINPUT, "--layer %s: not a layer of model '%s' (layers: %s)", name ? name : "(none)", s->model,
                   list);
}

static nv_status weight_of(const qsrc *s, int k, const nv_preset_args *a, nv_error *err) {
    const int64_t out = s->info->spec.widths[k + 1], in = s->info->spec.widths[k];
    if ((a->row < 0) != (a->col < 0))
        return nv_fail(err, NV_EINPUT, "--weight: give both the row and the column (--weight r,c)");
    if (a->row >= out || a->col > in || (a->row < 0 && a->row != -1) || (a->col < 0 && a->col != -1))
        return nv_fail(err, NV_EINPUT, "--weight %lld,%lld: layer %s of model '%s' has rows 0..%lld and columns 0..%lld "
                       "(column %lld is the bias)", (long long)a->row, (long long)a->col, s->info->layer_names[k],
                       s->model, (long long)(out - 1), (long long)in, (long long)in);
    return NV_OK;
}

/* top-samples' --epoch: one the model trained. */
static nv_status epoch_of(const qsrc *s, const nv_preset_args *a, nv_error *err) {
    if (a->epoch < 1 || a->epoch > s->info->epochs)
        return nv_fail(err, NV_EINPUT, "--epoch %lld: model '%s' of %s trained epochs 1..%lld (top-samples needs --epoch X)",
                       (long long)a->epoch, s->model, s->run->name, (long long)s->info->epochs);
    return NV_OK;
}

static nv_status add_table(nv_qresult *r, const char *name, int ncols, const char *const *cols, nv_qtable **t,
                           nv_error *err) {
    if (r->ntables >= NV_QRESULT_MAX_TABLES) return nv_fail(err, NV_EINTERNAL, "query: too many tables");
    *t = &r->table[r->ntables];
    nv_status st = qtable_init(*t, name, ncols, cols, err);
    r->ntables++;
    return st;
}

static nv_qvalue label_value(qrun *run, int64_t id) {
    int32_t l = qrun_label(run, id);
    return l < 0 ? qv_null() : qv_int(l);
}

/* --- top-samples ------------------------------------------------------------------------ */
typedef struct {
    int64_t id, step, row;
} qrowref;

static int cmp_rowref(const void *x, const void *y) {
    const qrowref *a = x, *b = y;
    if (a->id != b->id) return a->id < b->id ? -1 : 1;
    if (a->step != b->step) return a->step < b->step ? -1 : 1;
    return a->row < b->row ? -1 : a->row > b->row;
}

static nv_status top_samples(nv_query *q, const nv_preset_args *a, nv_qresult *res, nv_error *err) {
    qsrc *s;
    nv_status st = qsession_source(q, 0, a->model, &s, err);
    if (st) return st;
    if ((st = qsrc_need(s, NV_DYN_FACTORS, "top-samples", err))) return st;
    const int64_t spe = s->info->steps_per_epoch;
    if ((st = epoch_of(s, a, err))) return st;
    int k;
    if ((st = layer_of(s, a->layer ? a->layer : s->info->layer_names[s->L - 1], &k, err))) return st;
    if ((st = weight_of(s, k, a, err))) return st;
    const int K = kk(a);
    if (K > NV_TOPK_MAX) return nv_fail(err, NV_EINPUT, "-k %d: at most %d", K, NV_TOPK_MAX);
    const int64_t R = s->info->spec.widths[k + 1], C = s->info->spec.widths[k];
    int64_t r0, r1;
    if ((st = qsrc_step_rows(s, NV_DYN_FACTORS, (a->epoch - 1) * spe + 1, a->epoch * spe, &r0, &r1, err))) return st;
    if (r1 == r0)
        return nv_fail(err, NV_EINPUT, "--epoch %lld: the factors tier of model '%s' recorded no step of it (record it "
                       "with dynamics.factors: { every = 1; })", (long long)a->epoch, s->model);
    const int64_t N = r1 - r0;
    char pa[64], pd[64];
    snprintf(pa, sizeof pa, "factors/%s/a", s->info->layer_names[k]);
    snprintf(pd, sizeof pd, "factors/%s/d", s->info->layer_names[k]);
    qview *va, *vd, *vid, *vstep;
    if ((st = qsrc_view(s, pa, &va, err)) || (st = qsrc_view(s, pd, &vd, err)) ||
        (st = qsrc_view(s, "factors/sample_id", &vid, err)) || (st = qsrc_view(s, "factors/step", &vstep, err)))
        return st;
    const int one = a->row >= 0;
    const int64_t Rp = one ? 1 : R, Cp = one ? 1 : C;
    qrowref *ref = nv_malloc(sizeof(qrowref) * (size_t)N, err);
    int64_t *start = nv_malloc(sizeof(int64_t) * (size_t)(N + 1), err);
    float *dt = nv_malloc_huge(sizeof(float) * (size_t)(Rp * N), err);
    float *am = nv_malloc_huge(sizeof(float) * (size_t)(Cp * N), err);
    double *ov = NULL;
    int64_t *og = NULL;
    if (!ref || !start || !dt || !am) {
        st = NV_ENOMEM;
        goto done;
    }
    for (int64_t r = r0; r < r1;) {
        const void *pi, *ps;
        int64_t avail;
        if ((st = qsrc_rows(s, vid, r, &pi, &avail, err)) || (st = qsrc_rows(s, vstep, r, &ps, NULL, err))) goto done;
        avail = NV_MIN(avail, r1 - r);
        for (int64_t i = 0; i < avail; i++)
            ref[r - r0 + i] = (qrowref){((const int64_t *)pi)[i], ((const int64_t *)ps)[i], r + i};
        r += avail;
    }
    qsort(ref, (size_t)N, sizeof(qrowref), cmp_rowref);
    int64_t ng = 0;
    for (int64_t j = 0; j < N; j++) {
        if (j == 0 || ref[j].id != ref[j - 1].id) start[ng++] = j;
        const void *pa_, *pd_;
        if ((st = qsrc_rows(s, va, ref[j].row, &pa_, NULL, err)) || (st = qsrc_rows(s, vd, ref[j].row, &pd_, NULL, err)))
            goto done;
        const float *arow = pa_, *drow = pd_;
        if (one) {
            dt[j] = drow[a->row];
            am[j] = a->col < C ? arow[a->col] : 1.0f;
        } else {
            for (int64_t u = 0; u < R; u++) dt[u * N + j] = drow[u];
            memcpy(am + j * C, arow, sizeof(float) * (size_t)C);
        }
    }
    start[ng] = N;
    nv_topk_problem p = {.ngroups = ng, .start = start, .nrows = N, .R = Rp, .C = Cp, .dt = dt, .a = am,
                         .r0 = 0, .r1 = Rp, .c0 = 0, .c1 = one ? 1 : C + 1, .k = K, .by = a->by};
    const int64_t nw = (p.r1 - p.r0) * (p.c1 - p.c0);
    ov = nv_malloc(sizeof(double) * (size_t)(nw * K), err);
    og = nv_malloc(sizeof(int64_t) * (size_t)(nw * K), err);
    if (!ov || !og) {
        st = NV_ENOMEM;
        goto done;
    }
    nv_device_kind used = NV_DEVICE_CPU;
    const char *note = NULL;
    if ((st = nv_query_topk(&p, q->opt.device, q->opt.threads, ov, og, &used, &note, err))) goto done;
    static const char *const cols[] = {"row", "col", "rank", "sample_id", "label", "step", "contribution"};
    nv_qtable *t = NULL;
    if ((st = add_table(res, "top_samples", 7, cols, &t, err)) || (st = qtable_reserve(t, nw * K, err))) goto done;
    {
        nv_error ignore = {0};
        qrun_data(s->run, &ignore); /* labels from data.h5 (NULL where it is missing) */
    }
    const int64_t nlab = NV_MAX(s->run->nclasses, 1);
    int64_t *per_label = nv_calloc((size_t)nlab, sizeof(int64_t), err);
    if (!per_label) {
        st = NV_ENOMEM;
        goto done;
    }
    int64_t entries = 0, nolabel = 0;
    for (int64_t w = 0; w < nw && !st; w++) {
        const int64_t row = one ? a->row : w / (C + 1), col = one ? a->col : w % (C + 1);
        for (int i = 0; i < K && !st; i++) {
            const int64_t g = og[w * K + i];
            if (g < 0) break;
            const qrowref *first = &ref[start[g]];
            nv_qvalue lab = label_value(s->run, first->id);
            nv_qvalue v[7] = {qv_int(row), qv_int(col), qv_int(i + 1), qv_int(first->id), lab, qv_int(first->step),
                              qv_real(ov[w * K + i])};
            st = qtable_add(t, v, err);
            entries++;
            if (lab.type == NV_QINT && lab.i >= 0 && lab.i < nlab) per_label[lab.i]++;
            else nolabel++;
        }
    }
    if (!st) {
        static const char *const ccols[] = {"label", "entries", "share"};
        nv_qtable *ct = NULL;
        if (!(st = add_table(res, "classes", 3, ccols, &ct, err))) {
            for (int64_t l = 0; l < nlab && !st; l++) {
                if (!per_label[l]) continue;
                nv_qvalue v[3] = {qv_int(l), qv_int(per_label[l]), qv_real((double)per_label[l] / (double)entries)};
                st = qtable_add(ct, v, err);
            }
            if (!st && nolabel) {
                nv_qvalue v[3] = {qv_null(), qv_int(nolabel), qv_real((double)nolabel / (double)entries)};
                st = qtable_add(ct, v, err);
            }
        }
        snprintf(res->note, sizeof res->note,
                 "model %s, layer %s, epoch %lld (steps %lld..%lld, %lld samples, %lld factor rows): the %d largest %s "
                 "of each weight's summed contributions d_i[row] a_i[col] (col %lld = the bias), computed on the %s%s%s",
                 s->model, s->info->layer_names[k], (long long)a->epoch, (long long)((a->epoch - 1) * spe + 1),
                 (long long)(a->epoch * spe), (long long)ng, (long long)N, K,
                 a->by == NV_RANK_ABS ? "|sums|" : a->by == NV_RANK_POS ? "sums" : "negative sums", (long long)C,
                 used == NV_DEVICE_CUDA ? "GPU" : "CPU", note ? "; " : "", note ? note : "");
    }
    free(per_label);
done:
    free(ref);
    free(start);
    free(dt);
    free(am);
    free(ov);
    free(og);
    return st;
}

/* --- weight-groups ------------------------------------------------------------------------ */
typedef struct {
    const qsrc *s;
    int k0, k1;            /* layers [k0, k1] */
    int64_t off, n;        /* their parameters: [off, off + n) of the flat array (layers are contiguous) */
    double *total_grad;    /* (n) */
} wg_ctx;

static void wg_grad(void *vctx, int64_t step, const float *grads, const float *before) {
    (void)step;
    (void)before;
    wg_ctx *c = vctx;
    for (int64_t i = 0; i < c->n; i++) c->total_grad[i] += fabs((double)grads[c->off + i]);
}

/* (layer, row, col) of flat parameter index i of layer k. */
static void param_pos(const nv_mlp_spec *sp, int k, int64_t i, int64_t *row, int64_t *col) {
    const int64_t in = sp->widths[k], out = sp->widths[k + 1], wo = nv_mlp_weight_offset(sp, k);
    const int64_t j = i - wo;
    if (j < in * out) {
        *row = j / in;
        *col = j % in;
    } else {
        *row = j - in * out;
        *col = in;
    }
    (void)out;
}

typedef struct {
    int64_t idx;   /* parameter index (flat) */
    int k;
    double grad;
} wg_rank;

static int cmp_rank(const void *x, const void *y) {
    const wg_rank *a = x, *b = y;
    if (a->grad != b->grad) return a->grad > b->grad ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static nv_status weight_groups(nv_query *q, const nv_preset_args *a, nv_qresult *res, nv_error *err) {
    qsrc *s;
    nv_status st = qsession_source(q, 0, a->model, &s, err);
    if (st) return st;
    if ((st = qsrc_need(s, NV_DYN_FACTORS, "weight-groups", err)) || (st = qsrc_need(s, NV_DYN_WEIGHTS, "weight-groups", err)))
        return st;
    const nv_mlp_spec *sp = &s->info->spec;
    int k0 = 0, k1 = s->L - 1;
    if (a->layer) {
        if ((st = layer_of(s, a->layer, &k0, err))) return st;
        k1 = k0;
    }
    const int G = a->groups > 0 ? a->groups : 4;
    if (G > 256) return nv_fail(err, NV_EINPUT, "--groups %d: at most 256", G);
    const int64_t last = s->info->last_step, spe = s->info->steps_per_epoch;
    const int64_t E = (last + spe - 1) / spe; /* epochs the record reaches (the last may be partial) */
    const int64_t off = nv_mlp_weight_offset(sp, k0);
    const int64_t n = nv_mlp_bias_offset(sp, k1) + sp->widths[k1 + 1] - off;
    if (E < 1) return nv_fail(err, NV_EINPUT, "weight-groups: model '%s' has no recorded step", s->model);
    qreplay rp;
    if ((st = qreplay_init(&rp, s, err))) return st;
    wg_ctx ctx = {s, k0, k1, off, n, nv_calloc((size_t)n, sizeof(double), err)};
    float *w = nv_malloc(sizeof(float) * (size_t)(n * (E + 1)), err); /* weights at epoch ends 0..E */
    float *x = NULL;
    double *cent = NULL, *dist = NULL, *path = NULL;
    int *grp = NULL;
    wg_rank *rank = NULL;
    if (!ctx.total_grad || !w) {
        st = NV_ENOMEM;
        goto done;
    }
    rp.on_grad = wg_grad;
    rp.ctx = &ctx;
    if ((st = qreplay_seek(&rp, 0, err))) goto done;
    memcpy(w, rp.params + off, sizeof(float) * (size_t)n);
    for (int64_t e = 1; e <= E; e++) {
        if ((st = qreplay_seek(&rp, NV_MIN(e * spe, last), err))) goto done;
        memcpy(w + e * n, rp.params + off, sizeof(float) * (size_t)n);
    }
    /* features: per-epoch change, normalised */
    x = nv_malloc(sizeof(float) * (size_t)(n * E), err);
    path = nv_calloc((size_t)n, sizeof(double), err);
    grp = nv_calloc((size_t)n, sizeof(int), err);
    cent = nv_calloc((size_t)(G * E), sizeof(double), err);
    dist = nv_malloc(sizeof(double) * (size_t)n, err);
    rank = nv_malloc(sizeof(wg_rank) * (size_t)n, err);
    if (!x || !path || !grp || !cent || !dist || !rank) {
        st = NV_ENOMEM;
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        double norm = 0;
        for (int64_t e = 0; e < E; e++) {
            double dlt = (double)w[(e + 1) * n + i] - (double)w[e * n + i];
            path[i] += fabs(dlt);
            norm += dlt * dlt;
        }
        norm = sqrt(norm);
        for (int64_t e = 0; e < E; e++)
            x[i * E + e] = norm > 0 ? (float)(((double)w[(e + 1) * n + i] - (double)w[e * n + i]) / norm) : 0.0f;
    }
    /* k-means, deterministic: the first centre is the weight with the largest total
     * gradient, each next one the weight farthest from the centres so far (ties: the
     * lower index); Lloyd's steps until no weight moves (at most 100). */
    int g = NV_MIN(G, (int)NV_MIN(n, 1000000));
    {
        int64_t best = 0;
        for (int64_t i = 1; i < n; i++)
            if (ctx.total_grad[i] > ctx.total_grad[best]) best = i;
        for (int64_t e = 0; e < E; e++) cent[e] = x[best * E + e];
        for (int64_t i = 0; i < n; i++) dist[i] = INFINITY;
        for (int c = 1; c < g; c++) {
            int64_t far = -1;
            for (int64_t i = 0; i < n; i++) {
                double d2 = 0;
                for (int64_t e = 0; e < E; e++) {
                    double t = (double)x[i * E + e] - cent[(c - 1) * E + e];
                    d2 += t * t;
                }
                if (d2 < dist[i]) dist[i] = d2;
                if (far < 0 || dist[i] > dist[far]) far = i;
            }
            if (far < 0 || !(dist[far] > 0)) {
                g = c; /* fewer distinct shapes than groups */
                break;
            }
            for (int64_t e = 0; e < E; e++) cent[c * E + e] = x[far * E + e];
        }
        for (int it = 0; it < 100; it++) {
            int64_t moved = 0;
            for (int64_t i = 0; i < n; i++) {
                int bc = 0;
                double bd = INFINITY;
                for (int c = 0; c < g; c++) {
                    double d2 = 0;
                    for (int64_t e = 0; e < E; e++) {
                        double t = (double)x[i * E + e] - cent[c * E + e];
                        d2 += t * t;
                    }
                    if (d2 < bd) {
                        bd = d2;
                        bc = c;
                    }
                }
                if (it == 0 || grp[i] != bc) moved++;
                grp[i] = bc;
            }
            if (moved == 0) break;
            int64_t cnt[256] = {0};
            for (int c = 0; c < g; c++)
                for (int64_t e = 0; e < E; e++) cent[c * E + e] = 0;
            for (int64_t i = 0; i < n; i++) {
                cnt[grp[i]]++;
                for (int64_t e = 0; e < E; e++) cent[grp[i] * E + e] += (double)x[i * E + e];
            }
            for (int c = 0; c < g; c++)
                for (int64_t e = 0; e < E; e++) cent[c * E + e] = cnt[c] ? cent[c * E + e] / (double)cnt[c] : 0;
        }
    }
    /* groups renumbered 1.. by their mean total gradient, largest first */
    double gm[256] = {0}, gc[256] = {0}, gp[256] = {0};
    int64_t gn[256] = {0};
    for (int64_t i = 0; i < n; i++) {
        gn[grp[i]]++;
        gm[grp[i]] += ctx.total_grad[i];
        gc[grp[i]] += fabs((double)w[E * n + i] - (double)w[i]);
        gp[grp[i]] += path[i];
    }
    int order[256], newid[256];
    for (int c = 0; c < g; c++) order[c] = c;
    for (int i = 1; i < g; i++)
        for (int j = i; j > 0; j--) {
            double mj = gn[order[j]] ? gm[order[j]] / gn[order[j]] : -1, mp = gn[order[j - 1]] ? gm[order[j - 1]] / gn[order[j - 1]] : -1;
            if (mj > mp) {
                int t = order[j];
                order[j] = order[j - 1];
                order[j - 1] = t;
            }
        }
    for (int c = 0; c < g; c++) newid[order[c]] = c + 1;
    /* the ranking */
    for (int64_t i = 0; i < n; i++) {
        int kl = k0;
        while (kl < k1 && off + i >= nv_mlp_weight_offset(sp, kl + 1)) kl++;
        rank[i] = (wg_rank){off + i, kl, ctx.total_grad[i]};
    }
    qsort(rank, (size_t)n, sizeof(wg_rank), cmp_rank);
    static const char *const cols[] = {"rank", "layer", "row", "col", "total_grad", "total_change", "path_length", "group"};
    nv_qtable *t = NULL;
    if ((st = add_table(res, "weights", 8, cols, &t, err))) goto done;
    const int64_t lim = a->limit < 0 ? n : a->limit == 0 ? NV_MIN(n, 20) : NV_MIN(n, a->limit);
    for (int64_t j = 0; j < lim && !st; j++) {
        const int64_t i = rank[j].idx - off;
        int64_t row, col;
        param_pos(sp, rank[j].k, rank[j].idx, &row, &col);
        nv_qvalue v[8] = {qv_int(j + 1), qv_text(s->info->layer_names[rank[j].k]), qv_int(row), qv_int(col),
                          qv_real(ctx.total_grad[i]), qv_real(fabs((double)w[E * n + i] - (double)w[i])), qv_real(path[i]),
                          qv_int(newid[grp[i]])};
        st = qtable_add(t, v, err);
    }
    if (!st) {
        static const char *const gcols[] = {"group", "members", "mean_total_grad", "mean_total_change", "mean_path_length",
                                            "peak_epoch", "early_share", "shape", "examples"};
        nv_qtable *gt = NULL;
        if ((st = add_table(res, "groups", 9, gcols, &gt, err))) goto done;
        for (int oi = 0; oi < g && !st; oi++) {
            int c = order[oi];
            if (!gn[c]) continue;
            /* the centre's shape: where its change happens */
            int64_t peak = 0;
            double tot = 0, early = 0, mx = 0;
            for (int64_t e = 0; e < E; e++) {
                double v2 = cent[c * E + e] * cent[c * E + e];
                tot += v2;
                if (e < (E + 3) / 4) early += v2;
                if (fabs(cent[c * E + e]) > fabs(cent[c * E + peak])) peak = e;
                if (fabs(cent[c * E + e]) > mx) mx = fabs(cent[c * E + e]);
            }
            char shape[64];
            static const char lv[] = " .:-=+*#%@";
            int nb = (int)NV_MIN(E, 30);
            for (int b = 0; b < nb; b++) {
                int64_t e0 = b * E / nb, e1 = (b + 1) * E / nb;
                double m = 0;
                for (int64_t e = e0; e < e1; e++) m = NV_MAX(m, fabs(cent[c * E + e]));
                shape[b] = lv[mx > 0 ? (int)NV_MIN(9.0, floor(9.0 * m / mx + 0.5)) : 0];
            }
            shape[nb] = '\0';
            char ex[256] = "";
            int nex = 0;
            for (int64_t j = 0; j < n && nex < 4; j++) {
                const int64_t i = rank[j].idx - off;
                if (grp[i] != c) continue;
                int64_t row, col;
                param_pos(sp, rank[j].k, rank[j].idx, &row, &col);
                snprintf(ex + strlen(ex), sizeof ex - strlen(ex), "%s%s[%lld,%lld]", nex ? " " : "",
                         s->info->layer_names[rank[j].k], (long long)row, (long long)col);
                nex++;
            }
            nv_qvalue v[9] = {qv_int(newid[c]), qv_int(gn[c]), qv_real(gm[c] / gn[c]), qv_real(gc[c] / gn[c]),
                              qv_real(gp[c] / gn[c]), qv_int(peak + 1), qv_real(tot > 0 ? early / tot : 0),
                              qv_text(shape), qv_text(ex)};
            st = qtable_add(gt, v, err);
        }
        snprintf(res->note, sizeof res->note,
                 "model %s, %s%s: %lld parameters (weights and biases; col = the layer's input width is the bias), %lld "
                 "steps replayed from the factors (the trained weights, bit for bit on the training machine): total_grad = "
                 "sum over steps of |batch gradient|, total_change = |w_last - w_0|, path_length = sum over epochs of |change|; "
                 "groups: k-means (%d) on each weight's per-epoch change divided by its norm (shape: the group's mean "
                 "change per epoch, '@' largest)",
                 s->model, a->layer ? "layer " : "all layers", a->layer ? a->layer : "", (long long)n,
                 (long long)rp.steps_replayed, g);
    }
done:
    qreplay_free(&rp);
    free(ctx.total_grad);
    free(w);
    free(x);
    free(path);
    free(grp);
    free(cent);
    free(dist);
    free(rank);
    return st;
}

/* --- compare-runs -------------------------------------------------------------------------- */
static nv_status first_loss_step(qsrc *s, double target, int64_t *step, nv_error *err) {
    *step = -1;
    if (s->info->rows[NV_DYN_STEPS] == 0) return NV_OK;
    qview *vl, *vs;
    nv_status st;
    if ((st = qsrc_view(s, "steps/loss", &vl, err)) || (st = qsrc_view(s, "steps/step", &vs, err))) return st;
    for (int64_t r = 0; r < s->info->rows[NV_DYN_STEPS];) {
        const void *pl, *ps;
        int64_t avail;
        if ((st = qsrc_rows(s, vl, r, &pl, &avail, err)) || (st = qsrc_rows(s, vs, r, &ps, NULL, err))) return st;
        for (int64_t i = 0; i < avail; i++)
            if ((double)((const float *)pl)[i] <= target) {
                *step = ((const int64_t *)ps)[i];
                return NV_OK;
            }
        r += avail;
    }
    return NV_OK;
}

static nv_status step_value(qsrc *s, const char *path, int64_t step, nv_qvalue *out, nv_error *err) {
    *out = qv_null();
    int64_t r0, r1;
    nv_status st = qsrc_step_rows(s, NV_DYN_STEPS, step, step, &r0, &r1, err);
    if (st || r1 == r0) return st;
    qview *v;
    float x;
    if ((st = qsrc_view(s, path, &v, err)) || (st = qsrc_f32(s, v, r0, 0, &x, err))) return st;
    *out = qv_real((double)x);
    return NV_OK;
}

/* Activations of every layer (1..L) for x (n rows) under params: out[l-1] (n, widths[l]). */
static nv_status forward_all(const qsrc *s, const float *params, const float *x, const int32_t *y, int64_t n,
                             float **out, nv_error *err) {
    const nv_backend *be = nv_backend_cpu();
    nv_trainer *t = NULL;
    nv_status st = be->create(&s->info->spec, &s->info->opt, NV_MAX(s->info->batch_size, 1), &t, err);
    if (st) return st;
    if (!(st = be->set_state(t, params, NULL, NULL, 0, err)) && !(st = be->bind(t, NV_SLOT_TEST, x, y, n, err)))
        for (int l = 1; l <= s->L && !st; l++) st = be->activations(t, NV_SLOT_TEST, 0, n, l, 0, out[l - 1], err);
    be->destroy(t);
    return st;
}

static nv_status compare_runs(nv_query *q, const nv_preset_args *a, nv_qresult *res, nv_error *err) {
    if (q->nruns < 2) return nv_fail(err, NV_EINPUT, "compare-runs needs two runs: nerve query RUN1 RUN2 --preset compare-runs");
    qsrc *s1, *s2;
    nv_status st = qsession_source(q, 0, a->model, &s1, err);
    if (st) return st;
    if ((st = qsession_source(q, 1, s1->model, &s2, err))) return st;
    const nv_mlp_spec *p1 = &s1->info->spec, *p2 = &s2->info->spec;
    int same = p1->nlayers == p2->nlayers && p1->act == p2->act;
    for (int k = 0; same && k <= p1->nlayers; k++) same = p1->widths[k] == p2->widths[k];
    if (!same) {
        char w1[256] = "", w2[256] = "";
        for (int k = 0; k <= p1->nlayers; k++) snprintf(w1 + strlen(w1), sizeof w1 - strlen(w1), "%s%lld", k ? "-" : "", (long long)p1->widths[k]);
        for (int k = 0; k <= p2->nlayers; k++) snprintf(w2 + strlen(w2), sizeof w2 - strlen(w2), "%s%lld", k ? "-" : "", (long long)p2->widths[k]);
        return nv_fail(err, NV_EINPUT, "compare-runs: the runs have different architectures: model '%s' of %s is %s %s, of "
                       "%s %s %s (compare runs that differ only in train.order_seed)", s1->model, s1->run->name, w1,
                       nv_activation_name(p1->act), s2->run->name, w2, nv_activation_name(p2->act));
    }
    if ((st = qrun_data(s1->run, err)) || (st = qrun_data(s2->run, err))) return st;
    int same_data = s1->run->nsamples == s2->run->nsamples;
    for (int64_t i = 0; same_data && i < s1->run->nsamples; i++) {
        const qsample *x = &s1->run->samples[i], *y = &s2->run->samples[i];
        same_data = x->id == y->id && x->label == y->label && x->split == y->split && x->row == y->row;
    }
    if (!same_data)
        return nv_fail(err, NV_EINPUT, "compare-runs: %s and %s were trained on different data (their data.h5 list "
                       "different samples, labels or splits); compare runs that differ only in train.order_seed",
                       s1->run->name, s2->run->name);
    const int64_t last = NV_MIN(s1->info->last_step, s2->info->last_step);
    const int64_t N = a->step >= 0 ? a->step : last;
    if (N > last)
        return nv_fail(err, NV_EINPUT, "--step %lld: the records reach step %lld (%s) and %lld (%s)", (long long)N,
                       (long long)s1->info->last_step, s1->run->name, (long long)s2->info->last_step, s2->run->name);
    const double target = isnan(a->loss) ? 0.1 : a->loss;
    /* the runs table */
    static const char *const cols[] = {"run", "order_seed", "seed", "loss", "accuracy", "first_step"};
    nv_qtable *t = NULL;
    if ((st = add_table(res, "runs", 6, cols, &t, err))) return st;
    qsrc *ss[2] = {s1, s2};
    for (int i = 0; i < 2 && !st; i++) {
        nv_qvalue loss, acc;
        int64_t first;
        if ((st = step_value(ss[i], "steps/loss", N, &loss, err)) || (st = step_value(ss[i], "steps/accuracy", N, &acc, err)) ||
            (st = first_loss_step(ss[i], target, &first, err)))
            break;
        qrun *r = ss[i]->run;
        nv_qvalue v[6] = {qv_text(r->name), r->have_config ? qv_int((int64_t)r->order_seed) : qv_null(),
                          r->have_config ? qv_int((int64_t)r->seed) : qv_null(), loss, acc,
                          first >= 0 ? qv_int(first) : qv_null()};
        st = qtable_add(t, v, err);
    }
    if (st) return st;
    /* weights at N, their distance, and CKA of the activations on the test split */
    qreplay r1, r2;
    memset(&r2, 0, sizeof r2);
    if ((st = qreplay_init(&r1, s1, err))) return st;
    float *x = NULL, **act1 = NULL, **act2 = NULL;
    int32_t *y = NULL;
    int64_t *ids = NULL, n = 0, d = 0;
    int split = 1;
    if ((st = qreplay_init(&r2, s2, err)) || (st = qreplay_seek(&r1, N, err)) || (st = qreplay_seek(&r2, N, err))) goto done;
    if ((st = qrun_split(s1->run, split, &x, &y, &ids, &n, &d, err))) goto done;
    if (n < 3) {
        free(x);
        free(y);
        free(ids);
        split = 0;
        if ((st = qrun_split(s1->run, split, &x, &y, &ids, &n, &d, err))) goto done;
    }
    act1 = nv_calloc((size_t)p1->nlayers, sizeof(float *), err);
    act2 = nv_calloc((size_t)p1->nlayers, sizeof(float *), err);
    if (!act1 || !act2) {
        st = NV_ENOMEM;
        goto done;
    }
    for (int l = 1; l <= p1->nlayers; l++) {
        act1[l - 1] = nv_malloc(sizeof(float) * (size_t)(n * p1->widths[l]), err);
        act2[l - 1] = nv_malloc(sizeof(float) * (size_t)(n * p1->widths[l]), err);
        if (!act1[l - 1] || !act2[l - 1]) {
            st = NV_ENOMEM;
            goto done;
        }
    }
    if ((st = forward_all(s1, r1.params, x, y, n, act1, err)) || (st = forward_all(s2, r2.params, x, y, n, act2, err)))
        goto done;
    {
        static const char *const lcols[] = {"layer", "distance", "relative_distance", "cka"};
        nv_qtable *lt = NULL;
        if ((st = add_table(res, "layers", 4, lcols, &lt, err))) goto done;
        double tot = 0, n1t = 0, n2t = 0;
        char ckanote[400] = "";
        for (int k = 0; k < p1->nlayers && !st; k++) {
            const int64_t o = nv_mlp_weight_offset(p1, k), m = nv_mlp_bias_offset(p1, k) + p1->widths[k + 1] - o;
            double dd = 0, a1 = 0, a2 = 0;
            for (int64_t i = 0; i < m; i++) {
                double u = r1.params[o + i], v = r2.params[o + i];
                dd += (u - v) * (u - v);
                a1 += u * u;
                a2 += v * v;
            }
            tot += dd;
            n1t += a1;
            n2t += a2;
            double cka = NAN;
            nv_error e2 = {0};
            if (nv_cka_linear(act1[k], p1->widths[k + 1], act2[k], p1->widths[k + 1], n, &cka, &e2) != NV_OK) {
                cka = NAN;
                snprintf(ckanote + strlen(ckanote), sizeof ckanote - strlen(ckanote), "%s%s: %.120s", ckanote[0] ? "; " : "",
                         s1->info->layer_names[k], e2.msg);
            }
            double mean = 0.5 * (sqrt(a1) + sqrt(a2));
            nv_qvalue v[4] = {qv_text(s1->info->layer_names[k]), qv_real(sqrt(dd)), mean > 0 ? qv_real(sqrt(dd) / mean) : qv_null(),
                              isnan(cka) ? qv_null() : qv_real(cka)};
            st = qtable_add(lt, v, err);
        }
        if (!st) {
            double mean = 0.5 * (sqrt(n1t) + sqrt(n2t));
            nv_qvalue v[4] = {qv_text("all"), qv_real(sqrt(tot)), mean > 0 ? qv_real(sqrt(tot) / mean) : qv_null(), qv_null()};
            st = qtable_add(lt, v, err);
        }
        char notes[300] = "";
        if (s1->run->have_config && s2->run->have_config) {
            if (s1->run->order_seed == s2->run->order_seed)
                snprintf(notes, sizeof notes, "; the two runs have the same order seed (%llu): the same sample order",
                         (unsigned long long)s1->run->order_seed);
            if (s1->run->seed != s2->run->seed)
                snprintf(notes + strlen(notes), sizeof notes - strlen(notes),
                         "; the runs differ in seed (%llu, %llu): different initial weights",
                         (unsigned long long)s1->run->seed, (unsigned long long)s2->run->seed);
        }
        snprintf(res->note, sizeof res->note,
                 "model %s at step %lld (epoch %lld): loss and accuracy of the step's batch (steps tier); first_step: the "
                 "first step whose batch loss was <= %g; distance = ||w1 - w2|| of each layer's weights and bias (relative: "
                 "over the mean of the two norms); cka: linear CKA of the layer's outputs on the %s split (%lld samples)%s%s%s",
                 s1->model, (long long)N, (long long)qsrc_epoch(s1, N), target, split ? "test" : "train", (long long)n, notes,
                 ckanote[0] ? "; CKA undefined: " : "", ckanote);
    }
done:
    if (act1)
        for (int l = 0; l < p1->nlayers; l++) free(act1[l]);
    if (act2)
        for (int l = 0; l < p1->nlayers; l++) free(act2[l]);
    free(act1);
    free(act2);
    free(x);
    free(y);
    free(ids);
    qreplay_free(&r1);
    qreplay_free(&r2);
    return st;
}

/* --- pre-explosion -------------------------------------------------------------------------- */
static double alarm_of(nv_alarm_kind kind, float abs_, float rel) {
    if (kind == NV_ALARM_ABS) return (double)abs_;
    if (kind == NV_ALARM_REL) return (double)rel;
    return isnan(abs_) ? (double)rel : isnan(rel) ? (double)abs_ : (double)NV_MAX(abs_, rel);
}

static nv_status pre_explosion(nv_query *q, const nv_preset_args *a, nv_qresult *res, nv_error *err) {
    qsrc *s;
    nv_status st = qsession_source(q, 0, a->model, &s, err);
    if (st) return st;
    if ((st = qsrc_need(s, NV_DYN_STEPS, "pre-explosion", err))) return st;
    int kl = -1;
    if (a->layer && (st = layer_of(s, a->layer, &kl, err))) return st;
    const double frac = isnan(a->fraction) ? 0.1 : a->fraction;
    if (!(frac >= 0 && frac < 1)) return nv_fail(err, NV_EINPUT, "--fraction %g: expected a number in [0, 1)", frac);
    qview *va, *vr, *vs;
    if ((st = qsrc_view(s, "steps/alarm_abs", &va, err)) || (st = qsrc_view(s, "steps/alarm_rel", &vr, err)) ||
        (st = qsrc_view(s, "steps/step", &vs, err)))
        return st;
    int64_t ev_row = -1, ev_step = -1, max_step = -1;
    int ev_k = -1, max_k = -1;
    double max_f = -1;
    for (int64_t r = 0; r < s->info->rows[NV_DYN_STEPS] && ev_row < 0;) {
        const void *pa_, *pr_, *ps_;
        int64_t avail;
        if ((st = qsrc_rows(s, va, r, &pa_, &avail, err)) || (st = qsrc_rows(s, vr, r, &pr_, NULL, err)) ||
            (st = qsrc_rows(s, vs, r, &ps_, NULL, err)))
            return st;
        for (int64_t i = 0; i < avail && ev_row < 0; i++)
            for (int k = 0; k < s->L; k++) {
                if (kl >= 0 && k != kl) continue;
                double f = alarm_of(a->alarm, ((const float *)pa_)[i * s->L + k], ((const float *)pr_)[i * s->L + k]);
                if (f > max_f) {
                    max_f = f;
                    max_step = ((const int64_t *)ps_)[i];
                    max_k = k;
                }
                /* the event: the first step where a layer crosses; its layer: the one
                 * with the largest fraction at that step (ties: the first) */
                if (f > frac && (ev_k < 0 || f > alarm_of(a->alarm, ((const float *)pa_)[i * s->L + ev_k],
                                                          ((const float *)pr_)[i * s->L + ev_k]))) {
                    ev_row = r + i;
                    ev_step = ((const int64_t *)ps_)[i];
                    ev_k = k;
                }
            }
        r += avail;
    }
    static const char *const ecols[] = {"step", "epoch", "layer", "alarm_abs", "alarm_rel", "alarm_fraction", "grad_norm", "loss"};
    static const char *const cols[] = {"rank", "step", "position", "sample_id", "label", "loss", "grad_norm"};
    nv_qtable *t = NULL, *et = NULL;
    if ((st = add_table(res, "samples", 7, cols, &t, err))) return st;
    if ((st = add_table(res, "event", 8, ecols, &et, err))) return st;
    const char *kind = a->alarm == NV_ALARM_ABS ? "alarm_abs" : a->alarm == NV_ALARM_REL ? "alarm_rel" : "alarm_fraction";
    if (ev_row < 0) {
        if (max_step >= 0)
            snprintf(res->note, sizeof res->note, "model %s: no recorded step had %s > %g in %s (the largest: %.4g at step "
                     "%lld, layer %s)", s->model, kind, frac, kl >= 0 ? a->layer : "any layer", max_f, (long long)max_step,
                     s->info->layer_names[max_k]);
        else
            snprintf(res->note, sizeof res->note, "model %s: no recorded step", s->model);
        return NV_OK;
    }
    float fa, fr, gn, loss;
    qview *vg, *vl;
    if ((st = qsrc_view(s, "steps/grad_norm", &vg, err)) || (st = qsrc_view(s, "steps/loss", &vl, err)) ||
        (st = qsrc_f32(s, va, ev_row, ev_k, &fa, err)) || (st = qsrc_f32(s, vr, ev_row, ev_k, &fr, err)) ||
        (st = qsrc_f32(s, vg, ev_row, ev_k, &gn, err)) || (st = qsrc_f32(s, vl, ev_row, 0, &loss, err)))
        return st;
    nv_qvalue ev[8] = {qv_int(ev_step), qv_int(qsrc_epoch(s, ev_step)), qv_text(s->info->layer_names[ev_k]),
                       qv_real(fa), qv_real(fr), qv_real(alarm_of(NV_ALARM_ANY, fa, fr)), qv_real(gn), qv_real(loss)};
    if ((st = qtable_add(et, ev, err))) return st;
    /* the last K samples fed up to and including the event's batch */
    const int K = kk(a);
    int tier = s->info->rows[NV_DYN_SAMPLES] ? NV_DYN_SAMPLES : NV_DYN_FACTORS;
    if (s->info->rows[tier] == 0) {
        snprintf(res->note, sizeof res->note, "model %s: first step with %s > %g: %lld (layer %s); the record has no samples "
                 "or factors tier, so the samples fed before it are unknown (record dynamics.samples)", s->model, kind, frac,
                 (long long)ev_step, s->info->layer_names[ev_k]);
        return NV_OK;
    }
    int64_t r0, r1;
    if ((st = qsrc_step_rows(s, tier, 0, ev_step, &r0, &r1, err))) return st;
    qview *vid, *vst, *vpos = NULL, *vlab = NULL, *vloss = NULL, *vgn = NULL;
    char p[48];
    snprintf(p, sizeof p, "%s/sample_id", nv_dyn_tier_name(tier));
    if ((st = qsrc_view(s, p, &vid, err))) return st;
    snprintf(p, sizeof p, "%s/step", nv_dyn_tier_name(tier));
    if ((st = qsrc_view(s, p, &vst, err))) return st;
    if (tier == NV_DYN_SAMPLES &&
        ((st = qsrc_view(s, "samples/position", &vpos, err)) || (st = qsrc_view(s, "samples/label", &vlab, err)) ||
         (st = qsrc_view(s, "samples/loss", &vloss, err)) || (st = qsrc_view(s, "samples/grad_norm", &vgn, err))))
        return st;
    int64_t last_seen = -1;
    for (int64_t r = r1 - 1, rank = 1; r >= r0 && rank <= K && !st; r--, rank++) {
        int64_t id, step, pos = 0;
        if ((st = qsrc_i64(s, vid, r, 0, &id, err)) || (st = qsrc_i64(s, vst, r, 0, &step, err))) break;
        if (rank == 1) last_seen = step;
        nv_qvalue v[7];
        v[0] = qv_int(rank);
        v[1] = qv_int(step);
        v[3] = qv_int(id);
        if (vpos) {
            int64_t lab;
            float lo;
            const void *g;
            if ((st = qsrc_i64(s, vpos, r, 0, &pos, err)) || (st = qsrc_i64(s, vlab, r, 0, &lab, err)) ||
                (st = qsrc_f32(s, vloss, r, 0, &lo, err)) || (st = qsrc_rows(s, vgn, r, &g, NULL, err)))
                break;
            double acc = 0;
            for (int j = 0; j < s->L; j++) acc += (double)((const float *)g)[j] * ((const float *)g)[j];
            v[2] = qv_int(pos);
            v[4] = qv_int(lab);
            v[5] = qv_real(lo);
            v[6] = qv_real(sqrt(acc));
        } else {
            int64_t f0, f1;
            if ((st = qsrc_step_rows(s, tier, step, step, &f0, &f1, err))) break;
            v[2] = qv_int(r - f0);
            v[4] = label_value(s->run, id);
            v[5] = qv_null();
            v[6] = qv_null();
        }
        st = qtable_add(t, v, err);
    }
    if (st) return st;
    snprintf(res->note, sizeof res->note,
             "model %s: the first recorded step with %s > %g (of %s) is %lld (epoch %lld, layer %s); its gradient is the "
             "one computed on that step's batch, so the samples listed (newest first, from the %s tier) include that batch"
             "%s",
             s->model, kind, frac, kl >= 0 ? a->layer : "any layer", (long long)ev_step, (long long)qsrc_epoch(s, ev_step),
             s->info->layer_names[ev_k], nv_dyn_tier_name(tier),
             last_seen != ev_step ? "; the tier did not record the event's step itself" : "");
    return NV_OK;
}

/* --- weight-to-zero -------------------------------------------------------------------------- */
typedef struct {
    int64_t id, step, position, rank;
    double push;
} w2z_sample;

static int cmp_id(const void *x, const void *y) {
    const w2z_sample *a = x, *b = y;
    if (a->id != b->id) return a->id < b->id ? -1 : 1;
    return a->step < b->step ? -1 : a->step > b->step;
}
static int cmp_push(const void *x, const void *y) {
    const w2z_sample *a = x, *b = y;
    if (a->push != b->push) return a->push > b->push ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}
static int cmp_time(const void *x, const void *y) {
    const w2z_sample *a = x, *b = y;
    if (a->step != b->step) return a->step < b->step ? -1 : 1;
    return a->position < b->position ? -1 : a->position > b->position;
}

static nv_status weight_to_zero(nv_query *q, const nv_preset_args *a, nv_qresult *res, nv_error *err) {
    qsrc *s;
    nv_status st = qsession_source(q, 0, a->model, &s, err);
    if (st) return st;
    if ((st = qsrc_need(s, NV_DYN_FACTORS, "weight-to-zero", err)) || (st = qsrc_need(s, NV_DYN_WEIGHTS, "weight-to-zero", err)))
        return st;
    int k;
    if (!a->layer) return nv_fail(err, NV_EINPUT, "weight-to-zero needs --layer L and --weight r,c");
    if ((st = layer_of(s, a->layer, &k, err))) return st;
    if (a->row < 0 || a->col < 0) return nv_fail(err, NV_EINPUT, "weight-to-zero needs --weight r,c (one weight)");
    if ((st = weight_of(s, k, a, err))) return st;
    const double tol = isnan(a->tolerance) ? 0.0 : a->tolerance;
    if (!(tol >= 0)) return nv_fail(err, NV_EINPUT, "--tolerance %g: expected a number >= 0", tol);
    const int64_t last = s->info->last_step, spe = s->info->steps_per_epoch;
    const int64_t W = a->window > 0 ? a->window : spe;
    float *traj = nv_malloc(sizeof(float) * (size_t)(last + 1), err);
    w2z_sample *smp = NULL;
    if (!traj) return NV_ENOMEM;
    qreplay1 rp = {0};
    int64_t ev = -1;
    if ((st = qreplay1_init(&rp, s, k, a->row, a->col, err)) || (st = qreplay1_seek(&rp, 0, err))) goto done;
    traj[0] = rp.w;
    for (int64_t t = 1; t <= last; t++) {
        if ((st = qreplay1_seek(&rp, t, err))) goto done;
        traj[t] = rp.w;
        const float p = traj[t - 1], w = rp.w;
        if (fabs((double)w) <= tol || (p > 0 && w < 0) || (p < 0 && w > 0)) {
            ev = t;
            break;
        }
    }
    static const char *const cols[] = {"rank", "step", "position", "sample_id", "label", "push"};
    static const char *const ecols[] = {"step", "epoch", "w_before", "w_after", "kind"};
    nv_qtable *tt = NULL, *et = NULL;
    if ((st = add_table(res, "samples", 6, cols, &tt, err)) || (st = add_table(res, "event", 5, ecols, &et, err))) goto done;
    char wname[96];
    snprintf(wname, sizeof wname, "%s[%lld,%lld]%s", s->info->layer_names[k], (long long)a->row, (long long)a->col,
             a->col == s->info->spec.widths[k] ? " (the bias)" : "");
    if (ev < 0) {
        snprintf(res->note, sizeof res->note, "model %s: weight %s never reached zero in steps 1..%lld (|w| <= %g or a change "
                 "of sign); it went from %.6g to %.6g", s->model, wname, (long long)last, tol, (double)traj[0],
                 (double)rp.w);
        goto done;
    }
    {
        nv_qvalue v[5] = {qv_int(ev), qv_int(qsrc_epoch(s, ev)), qv_real(traj[ev - 1]), qv_real(traj[ev]),
                          qv_text(fabs((double)traj[ev]) <= tol ? "reached |w| <= tolerance" : "changed sign")};
        if ((st = qtable_add(et, v, err))) goto done;
    }
    /* the samples of steps (ev - W, ev]: each one's push toward zero, its
     * contribution to the batch gradient times the sign of the weight before the
     * step (a positive gradient lowers a positive weight) */
    const int64_t t0 = NV_MAX(1, ev - W + 1);
    int64_t f0, f1;
    if ((st = qsrc_step_rows(s, NV_DYN_FACTORS, t0, ev, &f0, &f1, err))) goto done;
    qview *vid, *vst, *va = rp.va, *vd = rp.vd;
    if ((st = qsrc_view(s, "factors/sample_id", &vid, err)) || (st = qsrc_view(s, "factors/step", &vst, err))) goto done;
    smp = nv_malloc(sizeof(w2z_sample) * (size_t)(f1 - f0 + 1), err);
    if (!smp) {
        st = NV_ENOMEM;
        goto done;
    }
    const int64_t in = s->info->spec.widths[k];
    int64_t m = 0, cur_step = -1, step_r0 = 0;
    for (int64_t r = f0; r < f1; r++) {
        int64_t id, step;
        const void *pa_ = NULL, *pd_;
        if ((st = qsrc_i64(s, vid, r, 0, &id, err)) || (st = qsrc_i64(s, vst, r, 0, &step, err)) ||
            (st = qsrc_rows(s, vd, r, &pd_, NULL, err)) || (a->col < in && (st = qsrc_rows(s, va, r, &pa_, NULL, err))))
            goto done;
        if (step != cur_step) {
            cur_step = step;
            step_r0 = r;
        }
        const double d = (double)((const float *)pd_)[a->row];
        const double value = a->col < in ? d * (double)((const float *)pa_)[a->col] : d;
        const float prev = traj[step - 1];
        const double sgn = prev > 0 ? 1.0 : prev < 0 ? -1.0 : 0.0;
        smp[m++] = (w2z_sample){id, step, r - step_r0, 0, (value * sgn) / (double)qsrc_batch(s, step)};
    }
    /* per sample: the sum over its appearances (in step order), at its last one */
    qsort(smp, (size_t)m, sizeof *smp, cmp_id);
    int64_t u = 0;
    for (int64_t i = 0; i < m; i++) {
        if (u > 0 && smp[u - 1].id == smp[i].id) {
            smp[u - 1].push += smp[i].push;
            smp[u - 1].step = smp[i].step;
            smp[u - 1].position = smp[i].position;
        } else {
            smp[u++] = smp[i];
        }
    }
    qsort(smp, (size_t)u, sizeof *smp, cmp_push);
    const int64_t K = NV_MIN((int64_t)kk(a), u);
    /* ranks by push, listed in the order they were fed */
    for (int64_t i = 0; i < K; i++) smp[i].rank = i + 1;
    qsort(smp, (size_t)K, sizeof *smp, cmp_time);
    for (int64_t i = 0; i < K && !st; i++) {
        nv_qvalue v[6] = {qv_int(smp[i].rank), qv_int(smp[i].step), qv_int(smp[i].position), qv_int(smp[i].id),
                          label_value(s->run, smp[i].id), qv_real(smp[i].push)};
        st = qtable_add(tt, v, err);
    }
    if (!st)
        snprintf(res->note, sizeof res->note,
                 "model %s: weight %s %s at step %lld (epoch %lld): %.6g -> %.6g (a replay of this weight alone, from the "
                 "saved states and its factors). The %lld samples of steps %lld..%lld that pushed it toward zero most "
                 "(push = the sample's share d_i[row] a_i[col] / b of the step's gradient, times the sign of the weight "
                 "before the step: > 0 pushes toward zero), listed in the order they were fed",
                 s->model, wname, fabs((double)traj[ev]) <= tol ? "reached |w| <= tolerance" : "changed sign", (long long)ev,
                 (long long)qsrc_epoch(s, ev), (double)traj[ev - 1], (double)traj[ev], (long long)K, (long long)t0,
                 (long long)ev);
done:
    qreplay1_free(&rp);
    free(traj);
    free(smp);
    return st;
}

/* --- dispatch ------------------------------------------------------------------------------------- */
static int preset_index(const char *name) {
    for (int i = 0; nv_query_preset_names[i]; i++)
        if (name && !strcmp(name, nv_query_preset_names[i])) return i;
    return -1;
}

static nv_status unknown_preset(const char *name, nv_error *err) {
    char list[200] = "";
    for (int i = 0; nv_query_preset_names[i]; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", nv_query_preset_names[i]);
    return nv_fail(err, NV_EINPUT, "--preset %s: unknown preset (presets: %s)", name ? name : "(none)", list);
}

nv_status nv_query_preset(nv_query *q, const nv_preset_args *a, nv_qresult *out, nv_error *err) {
    memset(out, 0, sizeof *out);
    nv_status st;
    switch (preset_index(a->preset)) {
    case 0: st = top_samples(q, a, out, err); break;
    case 1: st = weight_groups(q, a, out, err); break;
    case 2: st = compare_runs(q, a, out, err); break;
    case 3: st = pre_explosion(q, a, out, err); break;
    case 4: st = weight_to_zero(q, a, out, err); break;
    default: return unknown_preset(a->preset, err);
    }
    if (st) nv_qresult_free(out);
    return st;
}

/* --- the documented SQL ------------------------------------------------------------------------------- */
/* A double as the shortest text that reads back to it (SQL literals). */
static const char *sqlnum(double x, char *buf, size_t len) {
    nv_qvalue v = qv_real(x);
    return nv_qvalue_text(&v, 1, buf, len);
}

nv_status nv_query_preset_sql(nv_query *q, const nv_preset_args *a, char **sql, nv_error *err) {
    *sql = NULL;
    int which = preset_index(a->preset);
    if (which < 0) return unknown_preset(a->preset, err);
    qsrc *s;
    nv_status st = qsession_source(q, 0, a->model, &s, err);
    if (st) return st;
    const int K = kk(a);
    nv_strbuf b = {0};
    char *run = sqlite3_mprintf("%Q", s->run->name), *model = sqlite3_mprintf("%Q", s->model);
    char *layer = NULL;
    int k = -1;
    if (a->layer || which == 0) {
        if ((st = layer_of(s, a->layer ? a->layer : s->info->layer_names[s->L - 1], &k, err))) goto done;
        /* the preset's own checks, so that --sql refuses what the preset refuses
         * instead of answering with no rows */
        if ((st = weight_of(s, k, a, err))) goto done;
        layer = sqlite3_mprintf("%Q", s->info->layer_names[k]);
    }
    if (which == 0 && (st = epoch_of(s, a, err))) goto done;
    switch (which) {
    case 0: { /* top-samples */
        const char *order = a->by == NV_RANK_ABS ? "ABS(SUM(value)) DESC" : a->by == NV_RANK_POS ? "SUM(value) DESC" : "SUM(value) ASC";
        nv_sb_printf(&b,
                     "SELECT row, col, rank, sample_id, label, step, contribution FROM (\n"
                     "  SELECT row, col, sample_id, label, MIN(step) AS step, SUM(value) AS contribution,\n"
                     "         ROW_NUMBER() OVER (PARTITION BY row, col ORDER BY %s, sample_id) AS rank\n"
                     "  FROM contributions\n"
                     "  WHERE run = %s AND model = %s AND layer = %s AND epoch = %lld",
                     order, run, model, layer, (long long)a->epoch);
        if (a->row >= 0) nv_sb_printf(&b, " AND row = %lld AND col = %lld", (long long)a->row, (long long)a->col);
        nv_sb_printf(&b, "\n  GROUP BY row, col, sample_id)\nWHERE rank <= %d\nORDER BY row, col, rank;\n", K);
        break;
    }
    case 1: { /* weight-groups: the ranking's columns */
        char lw[64] = "";
        if (layer) snprintf(lw, sizeof lw, " AND layer = %s", layer);
        const int64_t lim = a->limit < 0 ? -1 : a->limit == 0 ? 20 : a->limit;
        nv_sb_printf(&b,
                     "WITH g AS (SELECT layer, layer_index, row, col, SUM(value) / batch_size AS grad\n"
                     "           FROM contributions WHERE run = %s AND model = %s%s\n"
                     "           GROUP BY layer_index, row, col, step),\n"
                     "t AS (SELECT layer, layer_index, row, col, SUM(ABS(grad)) AS total_grad FROM g GROUP BY layer_index, row, col),\n"
                     "w0 AS (SELECT layer_index, row, col, value FROM weights WHERE run = %s AND model = %s%s AND step = 0),\n"
                     "w1 AS (SELECT layer_index, row, col, value FROM weights WHERE run = %s AND model = %s%s\n"
                     "       AND step = (SELECT last_step FROM runs WHERE run = %s AND model = %s))\n"
                     "SELECT ROW_NUMBER() OVER (ORDER BY t.total_grad DESC, t.layer_index, t.row, t.col) AS rank,\n"
                     "       t.layer, t.row, t.col, t.total_grad, ABS(w1.value - w0.value) AS total_change\n"
                     "FROM t JOIN w0 USING (layer_index, row, col) JOIN w1 USING (layer_index, row, col)\n"
                     "ORDER BY rank LIMIT %lld;\n",
                     run, model, lw, run, model, lw, run, model, lw, run, model, (long long)lim);
        break;
    }
    case 2: { /* compare-runs: the runs table */
        if (q->nruns < 2) {
            st = nv_fail(err, NV_EINPUT, "compare-runs needs two runs");
            goto done;
        }
        qsrc *s2;
        if ((st = qsession_source(q, 1, s->model, &s2, err))) goto done;
        char *run2 = sqlite3_mprintf("%Q", s2->run->name);
        const int64_t N = a->step >= 0 ? a->step : NV_MIN(s->info->last_step, s2->info->last_step);
        const double target = isnan(a->loss) ? 0.1 : a->loss;
        char nb[40];
        nv_sb_printf(&b,
                     "SELECT r.run, r.order_seed, r.seed,\n"
                     "  (SELECT loss FROM steps s WHERE s.run = r.run AND s.model = r.model AND s.step = %lld) AS loss,\n"
                     "  (SELECT accuracy FROM steps s WHERE s.run = r.run AND s.model = r.model AND s.step = %lld) AS accuracy,\n"
                     "  (SELECT MIN(step) FROM steps s WHERE s.run = r.run AND s.model = r.model AND s.loss <= %s) AS first_step\n"
                     "FROM runs r WHERE r.model = %s AND r.run IN (%s, %s)\n"
                     "ORDER BY r.run = %s;\n",
                     (long long)N, (long long)N, sqlnum(target, nb, sizeof nb), model, run, run2, run2);
        sqlite3_free(run2);
        break;
    }
    case 3: { /* pre-explosion */
        const double frac = isnan(a->fraction) ? 0.1 : a->fraction;
        const char *col = a->alarm == NV_ALARM_ABS ? "alarm_abs" : a->alarm == NV_ALARM_REL ? "alarm_rel" : "alarm_fraction";
        char lw[64] = "", nb[40];
        if (layer) snprintf(lw, sizeof lw, " AND layer = %s", layer);
        nv_sb_printf(&b,
                     "WITH ev AS (SELECT MIN(step) AS step FROM layers\n"
                     "            WHERE run = %s AND model = %s%s AND %s > %s)\n"
                     "SELECT ROW_NUMBER() OVER (ORDER BY s.step DESC, s.position DESC) AS rank,\n"
                     "       s.step, s.position, s.sample_id, s.label, s.loss, s.grad_norm\n"
                     "FROM ev, samples s\n"
                     "WHERE s.run = %s AND s.model = %s AND s.step <= ev.step\n"
                     "ORDER BY s.step DESC, s.position DESC LIMIT %d;\n",
                     run, model, lw, col, sqlnum(frac, nb, sizeof nb), run, model, K);
        break;
    }
    case 4: { /* weight-to-zero */
        if (!layer || a->row < 0 || a->col < 0) {
            st = nv_fail(err, NV_EINPUT, "weight-to-zero needs --layer L and --weight r,c");
            goto done;
        }
        const double tol = isnan(a->tolerance) ? 0.0 : a->tolerance;
        char nb[40], wnd[200];
        if (a->window > 0) snprintf(wnd, sizeof wnd, "%lld", (long long)a->window);
        else snprintf(wnd, sizeof wnd, "(SELECT steps_per_epoch FROM runs WHERE run = %s AND model = %s)", run, model);
        nv_sb_printf(&b,
                     "WITH w AS (SELECT step, value FROM weights\n"
                     "           WHERE run = %s AND model = %s AND layer = %s AND row = %lld AND col = %lld),\n"
                     "t AS (SELECT step, value, LAG(value) OVER (ORDER BY step) AS prev FROM w),\n"
                     "ev AS (SELECT MIN(step) AS step FROM t\n"
                     "       WHERE step > 0 AND (ABS(value) <= %s OR (prev > 0 AND value < 0) OR (prev < 0 AND value > 0))),\n"
                     "p AS (SELECT c.sample_id, c.label, MAX(c.step) AS step, c.position,\n"
                     "             SUM(c.value * (CASE WHEN t.prev > 0 THEN 1.0 WHEN t.prev < 0 THEN -1.0 ELSE 0.0 END)\n"
                     "                 / c.batch_size) AS push\n"
                     "      FROM ev, contributions c JOIN t ON t.step = c.step\n"
                     "      WHERE c.run = %s AND c.model = %s AND c.layer = %s AND c.row = %lld AND c.col = %lld\n"
                     "        AND c.step > ev.step - %s AND c.step <= ev.step\n"
                     "      GROUP BY c.sample_id)\n"
                     "SELECT rank, step, position, sample_id, label, push FROM (\n"
                     "  SELECT ROW_NUMBER() OVER (ORDER BY push DESC, sample_id) AS rank, * FROM p)\n"
                     "WHERE rank <= %d ORDER BY step, position;\n",
                     run, model, layer, (long long)a->row, (long long)a->col, sqlnum(tol, nb, sizeof nb), run, model, layer,
                     (long long)a->row, (long long)a->col, wnd, K);
        break;
    }
    }
    if (b.oom) st = nv_fail(err, NV_ENOMEM, "out of memory");
done:
    sqlite3_free(run);
    sqlite3_free(model);
    sqlite3_free(layer);
    if (st) {
        nv_sb_free(&b);
        return st;
    }
    *sql = nv_sb_take(&b);
    return NV_OK;
}
