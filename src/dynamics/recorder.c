/* recorder.c: the training-dynamics recorder (include/nerve/dynamics.h): the hooks
 * nv_train_run calls (run.h's nv_record_hooks), the schedules, and what turns a
 * backend's recorded step (nv_backend.step_record) into rows of the record.
 *
 * Per step, on the training thread: decide which tiers record; if none, the plain
 * step; otherwise point the backend's output at the current chunk's rows (the
 * factors are written by the backward pass straight into the chunk, no copy), run
 * step_record, and finish the rows (norms from sums of squares, alarm fractions
 * against the running median, top-k, per-sample norms from the factors' squared
 * norms, ids). A chunk is handed to the run's background writer (store.c) when its
 * step range (at most dynamics.chunk_steps steps of one epoch) is done.
 *
 * The record never changes training: step_record performs the same step as step.
 */
#include "dyn_store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bgqueue.h"
#include "nerve/runhash.h"

/* ---- the recorder's state --------------------------------------------------------- */
typedef struct {
    dyn_layout *lay;
    dyn_writer *w;
    const nv_backend *be;
    nv_trainer *t;
    const nv_dataset *train;
    nv_bgqueue *bg;
    nv_dyn_span span;
    int64_t step;               /* optimiser steps taken */
    int L;
    int *map;                   /* (tier, q, layer + 1) -> dataset index, -1 none */
    nv_real *w0;                /* (P) the initialisation, for the distance from it */
    /* the relative alarm's running median: the last `window` rows of grad_norm */
    float *win;                 /* (window, L) ring, oldest at win_pos once full */
    int64_t win_n, win_pos;
    double *sorted;             /* (L, window) each layer's RMS values of the ring, sorted */
    /* step 0's state, until the first chunk takes it */
    int pending0;
    nv_real *state0;            /* (3 P) params, state1, state2 */
    dyn_chunk *cur;             /* the open chunk, or NULL */
    int64_t next_index;
    int64_t opened;             /* chunks opened by this recorder */
    nv_real *units;             /* (sum of widths, NV_DU_COUNT) when the neurons tier is not due */
    nv_real *a_sq, *d_sq;       /* (L, batch) */
    int32_t *scorrect;          /* (batch) */
    nv_dyn_step out;
    int64_t queued_rows[NV_DYN_TIERS], queued_steps[NV_DYN_TIERS], queued_chunks;
    double queued_bytes;
} rec;

static int dsi(const rec *r, int tier, int q, int layer) {
    return r->map[((size_t)tier * Q_COUNT + (size_t)q) * (size_t)(r->L + 1) + (size_t)(layer + 1)];
}

/* Row `row` of dataset (tier, q, layer) of the open chunk. */
static void *at(const rec *r, int tier, int q, int layer, int64_t row) {
    int i = dsi(r, tier, q, layer);
    if (i < 0) return NULL;
    return (char *)r->cur->buf[i] + dyn_row_bytes(&r->lay->ds[i]) * (size_t)row;
}

static int due(const rec *r, int tier, int64_t s) {
    return r->lay->cfg.on[tier] && nv_dyn_scheduled(&r->lay->cfg.sched[tier], &r->span, s);
}

static void rec_free(rec *r) {
    if (!r) return;
    if (r->cur) {
        dyn_chunk_release(r->w, r->cur);
        free(r->cur);
    }
    dyn_writer_unref(r->w); /* the writer (and the layout) go with the last job */
    free(r->map);
    free(r->w0);
    free(r->win);
    free(r->sorted);
    free(r->state0);
    free(r->units);
    free(r->a_sq);
    free(r->d_sq);
    free(r->scorrect);
    free(r);
}

/* ---- chunks ------------------------------------------------------------------------ */
typedef struct {
    dyn_writer *w;
    dyn_chunk c;
} chunk_job;

static void chunk_top_k(const dyn_layout *l, dyn_chunk *c);

static nv_status run_chunk_job(void *p, nv_error *err) {
    chunk_job *j = p;
    chunk_top_k(j->w->lay, &j->c);
    return dyn_chunk_write(j->w, &j->c, err);
}

/* The index brought up to the manifest when a model stops early. */
static nv_status run_sync_job(void *p, nv_error *err) { return dyn_index_sync(p, err); }
static void sync_job_free(void *p) { dyn_writer_unref(p); }

static void chunk_job_free(void *p) {
    chunk_job *j = p;
    dyn_chunk_release(j->w, &j->c);
    dyn_writer_unref(j->w);
    free(j);
}

/* Hands the open chunk to the writer. */
static nv_status flush(rec *r, nv_error *err) {
    dyn_chunk *c = r->cur;
    if (!c) return NV_OK;
    r->cur = NULL;
    chunk_job *j = nv_calloc(1, sizeof *j, err);
    if (!j) {
        dyn_chunk_release(r->w, c);
        free(c);
        return NV_ENOMEM;
    }
    j->w = r->w;
    j->c = *c;
    free(c);
    for (int t = 0; t < NV_DYN_TIERS; t++) {
        r->queued_rows[t] += j->c.rows[t];
        r->queued_steps[t] += j->c.nsteps[t];
    }
    r->queued_chunks++;
    r->queued_bytes += (double)j->c.bytes;
    dyn_writer_ref(r->w);
    return nv_bg_submit(r->bg, run_chunk_job, chunk_job_free, j, sizeof *j + j->c.bytes, err);
}

/* The bytes of the chunk that holds step s (with step 0's weights row when
 * step0): what a later open_chunk will ask the pool for. */
static size_t chunk_bytes_at(const dyn_layout *l, int64_t s, int step0) {
    int64_t first, last, e0, e1, cap[NV_DYN_TIERS];
    dyn_chunk_range(l, s, &first, &last, &e0, &e1);
    dyn_chunk_caps(l, first, last, cap);
    if (step0 && l->cfg.on[NV_DYN_WEIGHTS]) cap[NV_DYN_WEIGHTS]++;
    return dyn_chunk_bytes(l, cap);
}

/* Opens the chunk of step range [first, last] of epochs [e0, e1] (rows for what the
 * schedules record there, plus step 0's weights when still pending). */
static nv_status open_chunk(rec *r, int64_t first, int64_t last, int64_t e0, int64_t e1, nv_error *err) {
    dyn_chunk *c = nv_calloc(1, sizeof *c, err);
    if (!c) return NV_ENOMEM;
    c->index = r->next_index++;
    c->epoch = e0;
    c->last_epoch = e1;
    c->first_step = first;
    c->last_step = last;
    const nv_dyn_config *cfg = &r->lay->cfg;
    dyn_chunk_caps(r->lay, first, last, c->cap);
    if (r->pending0 && cfg->on[NV_DYN_WEIGHTS]) c->cap[NV_DYN_WEIGHTS]++;
    nv_status st = dyn_chunk_alloc(r->w, c, err);
    if (st) {
        free(c);
        return st;
    }
    r->cur = c;
    /* New memory: the kernel maps and zeroes it at first touch (about 1 GB/s on
     * these virtual machines). A helper thread maps a new block while this one
     * begins to fill it, which helps where a dataset spans many huge pages (the
     * factors); but the first step writes a row of every dataset, so in a block of
     * many small datasets (steps and neurons) it faults every huge page here first.
     * So while a model's first chunk fills, the block of its second is made and
     * mapped by a helper (later chunks reuse the blocks the writer gives back, and
     * the run asks for the next model's first one: rec_prepare): that was 4% of
     * training the spheres nets with steps and neurons every step. Not for later
     * chunks: a writer behind by design (the factors) would have new blocks made
     * for every chunk. */
    if (c->fresh && c->bytes >= ((size_t)1 << 20)) nv_prefault_async(c->block, c->bytes);
    if (r->opened++ == 0 && r->w->pool && last < r->span.epochs * r->span.steps_per_epoch)
        nv_pool_prepare(r->w->pool, chunk_bytes_at(r->lay, last + 1, 0));
    if (r->pending0 && cfg->on[NV_DYN_WEIGHTS]) {
        const int64_t P = r->lay->nparams;
        *(int64_t *)at(r, NV_DYN_WEIGHTS, Q_STEP, -1, 0) = 0;
        memcpy(at(r, NV_DYN_WEIGHTS, Q_PARAMS, -1, 0), r->state0, sizeof(nv_real) * (size_t)P);
        void *s1 = at(r, NV_DYN_WEIGHTS, Q_STATE1, -1, 0), *s2 = at(r, NV_DYN_WEIGHTS, Q_STATE2, -1, 0);
        if (s1) memcpy(s1, r->state0 + P, sizeof(nv_real) * (size_t)P);
        if (s2) memcpy(s2, r->state0 + 2 * P, sizeof(nv_real) * (size_t)P);
        c->rows[NV_DYN_WEIGHTS] = c->nsteps[NV_DYN_WEIGHTS] = 1;
    }
    r->pending0 = 0;
    return NV_OK;
}

/* The chunk that holds step s: open (flushing the previous) if needed. */
static nv_status chunk_for(rec *r, int64_t s, nv_error *err) {
    if (r->cur && s <= r->cur->last_step) return NV_OK;
    nv_status st = flush(r, err);
    if (st) return st;
    int64_t first, last, e0, e1;
    dyn_chunk_range(r->lay, s, &first, &last, &e0, &e1);
    return open_chunk(r, first, last, e0, e1, err);
}

/* ---- the relative alarm ----------------------------------------------------------- */
/* The layer's RMS gradient from a stored grad_norm: the same double from the same
 * float, however the window was filled (a resumed run reads the floats back). */
static double rms_of(const rec *r, int k, float gn) {
    const dyn_layout *l = r->lay;
    const double np = (double)(l->spec.widths[k] * l->spec.widths[k + 1] + l->spec.widths[k + 1]);
    return (double)gn / sqrt(np);
}

/* alarm.relative x the median of layer k's RMS gradient over the window (an even
 * count: the mean of the two middle values); NaN when the window is empty. The
 * window is kept sorted per layer, so this is O(1). */
static float rel_threshold(const rec *r, int k) {
    const int64_t n = r->win_n;
    if (n == 0) return NAN;
    const double *v = r->sorted + (size_t)k * (size_t)r->lay->cfg.alarm_window;
    const double m = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    return (float)(r->lay->cfg.alarm_rel * m);
}

/* The first index of v[0..n) holding a value >= x. */
static int64_t lower_bound(const double *v, int64_t n, double x) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (v[mid] < x) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static void window_push(rec *r, const float *gn) {
    const int64_t cap = r->lay->cfg.alarm_window;
    for (int k = 0; k < r->L; k++) {
        double *v = r->sorted + (size_t)k * (size_t)cap;
        int64_t n = r->win_n;
        if (n == cap) { /* the oldest leaves */
            int64_t i = lower_bound(v, n, rms_of(r, k, r->win[r->win_pos * r->L + k]));
            memmove(v + i, v + i + 1, sizeof(double) * (size_t)(n - i - 1));
            n--;
        }
        const double x = rms_of(r, k, gn[k]);
        int64_t i = lower_bound(v, n, x);
        memmove(v + i + 1, v + i, sizeof(double) * (size_t)(n - i));
        v[i] = x;
    }
    memcpy(r->win + r->win_pos * r->L, gn, sizeof(float) * (size_t)r->L);
    r->win_pos = (r->win_pos + 1) % cap;
    if (r->win_n < cap) r->win_n++;
}

/* ---- top-k -------------------------------------------------------------------------- */
/* a before b: larger value first, NaN last, ties by the lower index. */
static int ahead(float va, int32_t ia, float vb, int32_t ib) {
    int na = isnan(va), nb = isnan(vb);
    if (na != nb) return nb;
    if (!na && va != vb) return va > vb;
    return ia < ib;
}

static void top_k(const float *v, int64_t w, int k, int32_t *out) {
    float best[k > 0 ? k : 1];
    int n = 0;
    for (int64_t j = 0; j < w; j++) {
        /* the common case in one comparison: a full list whose last entry is a
         * number (not NaN) that v[j] does not exceed (a tie loses: j is larger) */
        if (n == k && !isnan(best[k - 1]) && !(v[j] > best[k - 1])) continue;
        if (n == k && !ahead(v[j], (int32_t)j, best[k - 1], out[k - 1])) continue;
        int pos = n < k ? n++ : k - 1;
        while (pos > 0 && ahead(v[j], (int32_t)j, best[pos - 1], out[pos - 1])) {
            best[pos] = best[pos - 1];
            out[pos] = out[pos - 1];
            pos--;
        }
        best[pos] = v[j];
        out[pos] = (int32_t)j;
    }
}

/* The neurons tier's top_k columns of a chunk, from its influence rows. They are
 * derived data, so the writer thread fills them just before storing the chunk: the
 * training step only takes the influence (a sort per layer and step was about 1% of
 * a spheres step). */
static void chunk_top_k(const dyn_layout *l, dyn_chunk *c) {
    const int64_t rows = c->rows[NV_DYN_NEURONS];
    for (int i = 0; i < l->ndatasets && rows > 0; i++) {
        const dyn_dataset *d = &l->ds[i];
        if (d->tier != NV_DYN_NEURONS || d->q != Q_TOPK) continue;
        for (int j = 0; j < l->ndatasets; j++) {
            const dyn_dataset *e = &l->ds[j];
            if (e->tier != NV_DYN_NEURONS || e->q != Q_UNIT0 + NV_DU_INFLUENCE || e->layer != d->layer) continue;
            const float *v = c->buf[j];
            int32_t *out = c->buf[i];
            for (int64_t row = 0; row < rows; row++) top_k(v + row * e->cols, e->cols, (int)d->cols, out + row * d->cols);
        }
    }
}

/* ---- one step ------------------------------------------------------------------------ */
static nv_status rec_step(void *state, const uint32_t *idx, int64_t b, int64_t epoch, float *loss, nv_error *err) {
    rec *r = state;
    const int64_t s = r->step + 1;
    int d[NV_DYN_TIERS], any = 0;
    for (int t = 0; t < NV_DYN_TIERS; t++) any |= d[t] = due(r, t, s);
    if (!any) {
        nv_status st = r->be->step(r->t, idx, b, loss, err);
        if (!st) r->step = s;
        return st;
    }
    nv_status st = chunk_for(r, s, err);
    if (st) return st;
    dyn_chunk *c = r->cur;
    const dyn_layout *l = r->lay;
    const int L = r->L;
    nv_dyn_request req = {0};
    nv_dyn_step *o = &r->out; /* the backend reads only the pointers req asks for, of layers < L */
    req.layer_stats = d[NV_DYN_STEPS];
    req.unit_stats = d[NV_DYN_NEURONS];
    req.samples = d[NV_DYN_SAMPLES];
    req.factors = d[NV_DYN_FACTORS];
    req.pre = d[NV_DYN_FACTORS] && l->cfg.preactivations;
    req.w0 = r->w0;
    req.alarm_abs = (float)l->cfg.alarm_abs;
    const int64_t rs = c->rows[NV_DYN_STEPS], rn = c->rows[NV_DYN_NEURONS], ms = c->rows[NV_DYN_SAMPLES],
                  mf = c->rows[NV_DYN_FACTORS];
    float thr[NV_MAX_LAYERS];
    for (int k = 0; k < L; k++) req.alarm_rel[k] = thr[k] = req.layer_stats ? rel_threshold(r, k) : NAN;
    nv_real *u = r->units;
    for (int k = 0; k < L; k++) {
        const int64_t w = l->spec.widths[k + 1];
        for (int q = 0; q < NV_DU_COUNT; q++) {
            o->unit[k][q] = req.unit_stats ? at(r, NV_DYN_NEURONS, Q_UNIT0 + q, k, rn) : u + q * w;
        }
        u += NV_DU_COUNT * w;
        if (req.samples) {
            o->a_sq[k] = r->a_sq + (size_t)k * (size_t)l->batch_size;
            o->d_sq[k] = r->d_sq + (size_t)k * (size_t)l->batch_size;
        }
        if (req.factors) {
            o->a[k] = at(r, NV_DYN_FACTORS, Q_FA, k, mf);
            o->d[k] = at(r, NV_DYN_FACTORS, Q_FD, k, mf);
            if (req.pre) o->pre[k] = at(r, NV_DYN_FACTORS, Q_FPRE, k, mf);
        }
    }
    o->sample_loss = req.samples ? at(r, NV_DYN_SAMPLES, Q_SLOSS, -1, ms) : NULL;
    o->sample_correct = req.samples ? r->scorrect : NULL;
    st = r->be->step_record(r->t, idx, b, loss, &req, o, err);
    if (st) return st;
    r->step = s;

    if (d[NV_DYN_STEPS]) {
        *(int64_t *)at(r, NV_DYN_STEPS, Q_STEP, -1, rs) = s;
        *(int64_t *)at(r, NV_DYN_STEPS, Q_EPOCH, -1, rs) = epoch;
        *(int32_t *)at(r, NV_DYN_STEPS, Q_BATCH, -1, rs) = (int32_t)b;
        *(float *)at(r, NV_DYN_STEPS, Q_LOSS, -1, rs) = *loss;
        *(float *)at(r, NV_DYN_STEPS, Q_ACC, -1, rs) = (float)o->correct / (float)b;
        *(float *)at(r, NV_DYN_STEPS, Q_LR, -1, rs) = (float)nv_optim_lr(&l->opt, s);
        float *wn = at(r, NV_DYN_STEPS, Q_WNORM, -1, rs), *gn = at(r, NV_DYN_STEPS, Q_GNORM, -1, rs),
              *un = at(r, NV_DYN_STEPS, Q_UNORM, -1, rs), *ur = at(r, NV_DYN_STEPS, Q_URATIO, -1, rs),
              *id = at(r, NV_DYN_STEPS, Q_INITD, -1, rs), *aa = at(r, NV_DYN_STEPS, Q_ALARM_ABS, -1, rs),
              *ar = at(r, NV_DYN_STEPS, Q_ALARM_REL, -1, rs), *at_ = at(r, NV_DYN_STEPS, Q_ALARM_THR, -1, rs),
              *dead = at(r, NV_DYN_STEPS, Q_DEAD, -1, rs);
        int64_t *nfg = at(r, NV_DYN_STEPS, Q_NF_GRAD, -1, rs), *nfw = at(r, NV_DYN_STEPS, Q_NF_WEIGHT, -1, rs);
        for (int k = 0; k < L; k++) {
            const double *x = o->layer[k];
            const int64_t w = l->spec.widths[k + 1];
            const double np = (double)(l->spec.widths[k] * w + w);
            wn[k] = (float)sqrt(x[NV_DL_WEIGHT_SQ]);
            gn[k] = (float)sqrt(x[NV_DL_GRAD_SQ]);
            un[k] = (float)sqrt(x[NV_DL_UPDATE_SQ]);
            ur[k] = x[NV_DL_BEFORE_SQ] > 0 ? (float)(sqrt(x[NV_DL_UPDATE_SQ]) / sqrt(x[NV_DL_BEFORE_SQ])) : NAN;
            id[k] = (float)sqrt(x[NV_DL_INIT_SQ]);
            aa[k] = (float)(x[NV_DL_ALARM_ABS] / np);
            ar[k] = (float)(x[NV_DL_ALARM_REL] / np);
            at_[k] = thr[k];
            dead[k] = (float)(x[NV_DL_DEAD] / (double)w);
            nfg[k] = (int64_t)x[NV_DL_NONFINITE_GRAD];
            nfw[k] = (int64_t)x[NV_DL_NONFINITE_WEIGHT];
        }
        window_push(r, gn);
        c->rows[NV_DYN_STEPS]++;
        c->nsteps[NV_DYN_STEPS]++;
    }
    if (d[NV_DYN_NEURONS]) { /* top_k: chunk_top_k, on the writer thread */
        *(int64_t *)at(r, NV_DYN_NEURONS, Q_STEP, -1, rn) = s;
        c->rows[NV_DYN_NEURONS]++;
        c->nsteps[NV_DYN_NEURONS]++;
    }
    if (d[NV_DYN_SAMPLES]) {
        int64_t *st_ = at(r, NV_DYN_SAMPLES, Q_STEP, -1, ms), *id = at(r, NV_DYN_SAMPLES, Q_SAMPLE_ID, -1, ms);
        int32_t *pos = at(r, NV_DYN_SAMPLES, Q_POSITION, -1, ms), *lab = at(r, NV_DYN_SAMPLES, Q_LABEL, -1, ms);
        uint8_t *ok = at(r, NV_DYN_SAMPLES, Q_CORRECT, -1, ms);
        float *g = at(r, NV_DYN_SAMPLES, Q_SGNORM, -1, ms);
        const double bb = (double)b * (double)b;
        for (int64_t i = 0; i < b; i++) {
            st_[i] = s;
            id[i] = r->train->ids[idx[i]];
            pos[i] = (int32_t)i;
            lab[i] = r->train->y[idx[i]];
            ok[i] = (uint8_t)(r->scorrect[i] != 0);
            for (int k = 0; k < L; k++)
                g[i * L + k] = (float)sqrt((double)o->d_sq[k][i] * bb * ((double)o->a_sq[k][i] + 1.0));
        }
        c->rows[NV_DYN_SAMPLES] += b;
        c->nsteps[NV_DYN_SAMPLES]++;
    }
    if (d[NV_DYN_FACTORS]) {
        int64_t *st_ = at(r, NV_DYN_FACTORS, Q_STEP, -1, mf), *id = at(r, NV_DYN_FACTORS, Q_SAMPLE_ID, -1, mf);
        for (int64_t i = 0; i < b; i++) {
            st_[i] = s;
            id[i] = r->train->ids[idx[i]];
        }
        c->rows[NV_DYN_FACTORS] += b;
        c->nsteps[NV_DYN_FACTORS]++;
    }
    if (d[NV_DYN_WEIGHTS]) {
        const int64_t rw = c->rows[NV_DYN_WEIGHTS];
        *(int64_t *)at(r, NV_DYN_WEIGHTS, Q_STEP, -1, rw) = s;
        st = r->be->get_state(r->t, at(r, NV_DYN_WEIGHTS, Q_PARAMS, -1, rw), at(r, NV_DYN_WEIGHTS, Q_STATE1, -1, rw),
                              at(r, NV_DYN_WEIGHTS, Q_STATE2, -1, rw), NULL, err);
        if (st) return st;
        c->rows[NV_DYN_WEIGHTS]++;
        c->nsteps[NV_DYN_WEIGHTS]++;
    }
    for (int t = 0; t < NV_DYN_TIERS; t++)
        if (c->rows[t] > c->cap[t])
            return nv_fail(err, NV_EINTERNAL, "dynamics: chunk %lld: %s rows %lld > %lld", (long long)c->index,
                           nv_dyn_tier_name(t), (long long)c->rows[t], (long long)c->cap[t]);
    if (s == c->last_step) return flush(r, err);
    return NV_OK;
}

static nv_status rec_epoch_end(void *state, int64_t epoch, int *boundary, nv_error *err) {
    rec *r = state;
    *boundary = dyn_chunk_ends_at_epoch(r->lay, epoch);
    return *boundary ? flush(r, err) : NV_OK;
}

/* ---- begin and end -------------------------------------------------------------- */
static void human(double bytes, char *buf, size_t len) {
    if (bytes >= 1e9) snprintf(buf, len, "%.2f GB", bytes / 1e9);
    else if (bytes >= 1e6) snprintf(buf, len, "%.2f MB", bytes / 1e6);
    else if (bytes >= 1e3) snprintf(buf, len, "%.1f kB", bytes / 1e3);
    else snprintf(buf, len, "%.0f B", bytes);
}

static nv_status rec_check(const nv_experiment *ex, int64_t steps_per_epoch, nv_error *err) {
    nv_dyn_span sp = {ex->epochs, steps_per_epoch};
    return nv_dyn_check(&ex->dynamics, &sp, err);
}

static nv_status rec_begin(const nv_record_model *m, void **state, char *note, size_t len, nv_error *err) {
    *state = NULL;
    if (note && len) note[0] = '\0';
    rec *r = nv_calloc(1, sizeof *r, err);
    if (!r) return NV_ENOMEM;
    dyn_layout *lay = NULL;
    nv_status st = dyn_layout_new(m->ex, m->model, m->config_text, m->steps_per_epoch, m->train->n, &lay, err);
    if (st) {
        free(r);
        return st;
    }
    if ((st = dyn_writer_new(lay, m->run_dir, m->memo, m->pool, &r->w, err))) {
        dyn_layout_free(lay);
        free(r);
        return st;
    }
    r->w->owns_layout = 1;
    r->lay = lay;
    r->be = m->backend;
    r->t = m->trainer;
    r->train = m->train;
    r->bg = m->bg;
    r->span = (nv_dyn_span){m->ex->epochs, m->steps_per_epoch};
    r->step = m->start_step;
    r->L = lay->nlayers;
    const int L = r->L;
    const int64_t P = lay->nparams, B = lay->batch_size;
    if (!r->be->step_record) {
        st = nv_fail(err, NV_EINTERNAL, "dynamics: the %s backend cannot record", r->be->name);
        goto fail;
    }
    size_t nmap = (size_t)NV_DYN_TIERS * Q_COUNT * (size_t)(L + 1);
    int64_t sumw = 0;
    for (int k = 0; k < L; k++) sumw += lay->spec.widths[k + 1];
    r->map = nv_malloc(sizeof(int) * nmap, err);
    r->w0 = nv_malloc(sizeof(nv_real) * (size_t)P, err);
    r->win = nv_calloc((size_t)(lay->cfg.alarm_window * L), sizeof(float), err);
    r->sorted = nv_malloc(sizeof(double) * (size_t)(lay->cfg.alarm_window * L), err);
    r->units = nv_calloc((size_t)(sumw * NV_DU_COUNT), sizeof(nv_real), err);
    r->a_sq = nv_malloc(sizeof(nv_real) * (size_t)(L * B), err);
    r->d_sq = nv_malloc(sizeof(nv_real) * (size_t)(L * B), err);
    r->scorrect = nv_malloc(sizeof(int32_t) * (size_t)B, err);
    if (!r->map || !r->w0 || !r->win || !r->sorted || !r->units || !r->a_sq || !r->d_sq || !r->scorrect) {
        st = NV_ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < nmap; i++) r->map[i] = -1;
    for (int i = 0; i < lay->ndatasets; i++) {
        const dyn_dataset *d = &lay->ds[i];
        r->map[((size_t)d->tier * Q_COUNT + (size_t)d->q) * (size_t)(L + 1) + (size_t)(d->layer + 1)] = i;
    }
    /* the initialisation is a function of the seed: no need to store or read it */
    nv_mlp_init_params(&lay->spec, m->ex->seed, r->w0);

    if (m->resumed) {
        /* HDF5 on this thread: the writer must be idle */
        if ((st = nv_bg_drain(m->bg, err))) goto fail;
        if ((st = dyn_store_truncate(r->w, m->start_step, err))) goto fail;
        r->next_index = r->w->nchunks;
        /* the alarm's window from the kept rows: the floats the run held */
        int64_t got = 0;
        float *tail = nv_malloc(sizeof(float) * (size_t)(lay->cfg.alarm_window * L), err);
        if (!tail) { st = NV_ENOMEM; goto fail; }
        if ((st = dyn_store_tail_grad_norm(r->w, lay->cfg.alarm_window, tail, &got, err))) {
            free(tail);
            goto fail;
        }
        for (int64_t i = 0; i < got; i++) window_push(r, tail + i * L); /* oldest first: the same state */
        free(tail);
    } else if ((st = dyn_store_reset(r->w, err))) {
        goto fail;
    }
    if (m->start_step == 0 && lay->cfg.on[NV_DYN_WEIGHTS]) {
        if (!(r->state0 = nv_malloc(sizeof(nv_real) * (size_t)(3 * P), err))) {
            st = NV_ENOMEM;
            goto fail;
        }
        if ((st = r->be->get_state(r->t, r->state0, r->state0 + P, r->state0 + 2 * P, NULL, err))) goto fail;
        r->pending0 = 1;
    }
    if (note && len) {
        nv_dyn_sizes z;
        nv_dyn_step_bytes(&lay->cfg, &lay->spec, &lay->opt, B, &z);
        char parts[512] = "", h[32];
        size_t n = 0;
        for (int t = 0; t < NV_DYN_TIERS; t++) {
            if (!lay->cfg.on[t]) continue;
            char sched[128];
            nv_dyn_schedule_text(&lay->cfg.sched[t], sched, sizeof sched);
            human(z.tier[t], h, sizeof h);
            n += (size_t)snprintf(parts + n, sizeof parts - n, "%s%s %s (%s)", n ? ", " : "", nv_dyn_tier_name(t), h,
                                  sched);
            if (n >= sizeof parts) break;
        }
        char fac[32], psg[32];
        human(z.factors_ad, fac, sizeof fac);
        human(z.per_sample_gradients, psg, sizeof psg);
        snprintf(note, len,
                 "dynamics %s: bytes per recorded step: %s; the factors a_i, d_i of a batch of %lld take %s, "
                 "its per-sample gradients would take %s (%.1fx more)",
                 lay->model, parts, (long long)B, fac, psg, z.per_sample_gradients / z.factors_ad);
    }
    *state = r;
    return NV_OK;
fail:
    rec_free(r);
    return st;
}

static nv_status rec_end(void *state, int finished, char *note, size_t len, nv_error *err) {
    rec *r = state;
    if (note && len) note[0] = '\0';
    if (!r) return NV_OK;
    nv_status st = NV_OK;
    if (finished) {
        /* a run without steps still stores its step-0 weights */
        if (r->pending0 && !r->cur) st = open_chunk(r, 0, 0, 0, 0, err);
        if (!st) st = flush(r, err);
        if (!st && note && len) {
            char h[32];
            human(r->queued_bytes, h, sizeof h);
            snprintf(note, len,
                     "dynamics %s: %lld chunks queued (%s in memory before compression): steps %lld, neurons %lld, "
                     "samples %lld rows, factors %lld rows, weights %lld -> %s/dynamics/%s.h5",
                     r->lay->model, (long long)r->queued_chunks, h, (long long)r->queued_rows[NV_DYN_STEPS],
                     (long long)r->queued_rows[NV_DYN_NEURONS], (long long)r->queued_rows[NV_DYN_SAMPLES],
                     (long long)r->queued_rows[NV_DYN_FACTORS], (long long)r->queued_rows[NV_DYN_WEIGHTS],
                     r->w->run_dir, r->lay->model);
        }
    }
    /* the index lists every listed chunk at the end (it is rewritten at most every
     * 2 s while chunks arrive; the last chunk's range may hold no record; a stopped
     * run's listed chunks become readable through the index too) */
    nv_error ignore = {0};
    dyn_writer_ref(r->w);
    (void)nv_bg_submit(r->bg, run_sync_job, sync_job_free, r->w, 0, &ignore);
    rec_free(r);
    return st;
}

static void rec_prepare(const nv_record_model *m) {
    dyn_layout *lay = NULL;
    if (!m->pool || dyn_layout_new(m->ex, m->model, m->config_text, m->steps_per_epoch, m->train->n, &lay, NULL))
        return;
    nv_pool_prepare(m->pool, chunk_bytes_at(lay, 1, 1)); /* from step 1, with step 0's weights */
    dyn_layout_free(lay);
}

static const nv_record_hooks HOOKS = {
    .check = rec_check,
    .begin = rec_begin,
    .step = rec_step,
    .epoch_end = rec_epoch_end,
    .end = rec_end,
    .prepare = rec_prepare,
};

const nv_record_hooks *nv_dyn_hooks(void) { return &HOOKS; }
