/* backend.c: the CPU training backend of include/nerve/mlp.h: affine layers on
 * OpenBLAS sgemm, everything else the plain reference kernels of kernels.c.
 *
 * It is the complete path (the CUDA backend is an accelerator, never the only way)
 * and the reference the CUDA backend and PyTorch are compared with, so it keeps a
 * fixed summation order everywhere: sgemm's order is fixed for a given shape and
 * thread count, bias gradients sum rows in order, losses sum in double in order.
 *
 * Memory: one allocation for parameters, gradients and optimiser state, one for
 * the activation workspace, one per bound data set.
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nerve/dyn_kernels.h"
#include "nerve/kernels.h"
#include "nerve/device.h"
#include "nerve/mlp.h"

struct nv_trainer {
    nv_mlp_spec spec;
    nv_optim_spec opt;
    int64_t nparams;
    int64_t max_batch;  /* bound on a step's b */
    int64_t rows_cap;   /* rows the workspace holds: max(max_batch, NV_EVAL_ROWS) */
    int64_t step;       /* optimiser steps taken (Adam's bias correction; SGD's first step) */
    int bad;            /* a non-finite loss was seen: steps refuse until set_state */
    int64_t bad_step;

    nv_real *mem;       /* the one allocation for the four groups below */
    nv_real *params;    /* (nparams) W_0, b_0, W_1, b_1, ... (mlp.h layout) */
    nv_real *grads;     /* (nparams) same layout */
    nv_real *state1;    /* (nparams) SGD momentum buffer / Adam m */
    nv_real *state2;    /* (nparams) Adam v */

    nv_real *ws;        /* the one workspace allocation, carved below */
    nv_real *in;        /* (max_batch, widths[0]) gathered batch rows */
    nv_real *pre[NV_MAX_LAYERS + 1];  /* pre[l] (rows_cap, widths[l]), l = 1..L; pre[L] = logits */
    nv_real *post[NV_MAX_LAYERS + 1]; /* post[l] (rows_cap, widths[l]), l = 1..L-1 (activations) */
    nv_real *dz;        /* (rows_cap, maxw) gradient w.r.t. the current layer's pre-activation */
    nv_real *da;        /* (rows_cap, maxw) gradient w.r.t. the layer input */
    nv_real *row_loss;  /* (rows_cap) */
    int32_t *row_ok;    /* (rows_cap) 1 where the prediction is right */
    int32_t *ybatch;    /* (rows_cap) labels of the gathered rows */

    /* bound data sets, owned copies */
    nv_real *x[NV_SLOTS]; /* (n[s], widths[0]) */
    int32_t *y[NV_SLOTS]; /* (n[s]) */
    int64_t n[NV_SLOTS];
};

static void cpu_destroy(nv_trainer *t) {
    if (!t) return;
    for (int s = 0; s < NV_SLOTS; s++) {
        free(t->x[s]);
        free(t->y[s]);
    }
    free(t->ws);
    free(t->mem);
    free(t);
}

static nv_status cpu_create(const nv_mlp_spec *spec, const nv_optim_spec *opt, int64_t max_batch,
                            nv_trainer **out, nv_error *err) {
    *out = NULL;
    nv_status st = nv_mlp_spec_validate(spec, err);
    if (st != NV_OK) return st;
    if ((st = nv_optim_spec_validate(opt, err)) != NV_OK) return st;
    if (max_batch < 1 || max_batch > ((int64_t)1 << 31))
        return nv_fail(err, NV_EINPUT, "trainer: max_batch: expected 1..2^31, found %lld",
                       (long long)max_batch);
    nv_trainer *t = nv_calloc(1, sizeof *t, err);
    if (!t) return NV_ENOMEM;
    t->spec = *spec;
    t->opt = *opt;
    t->nparams = nv_mlp_param_count(spec);
    t->max_batch = max_batch;
    t->rows_cap = NV_MAX(max_batch, (int64_t)NV_EVAL_ROWS);
    const int L = spec->nlayers;
    const int64_t R = t->rows_cap, maxw = nv_mlp_max_width(spec);

    t->mem = nv_calloc((size_t)(4 * t->nparams), sizeof(nv_real), err);
    if (!t->mem) goto fail;
    t->params = t->mem;
    t->grads = t->params + t->nparams;
    t->state1 = t->grads + t->nparams;
    t->state2 = t->state1 + t->nparams;

    /* in holds a step's batch only: evaluation reads the bound rows in place */
    int64_t nws = max_batch * spec->widths[0] + 2 * R * maxw + R; /* in, dz, da, row_loss */
    for (int l = 1; l <= L; l++) nws += R * spec->widths[l] * (l < L ? 2 : 1);
    nws += 2 * R; /* row_ok, ybatch (int32, same size as float) */
    t->ws = nv_malloc((size_t)nws * sizeof(nv_real), err);
    if (!t->ws) goto fail;
    nv_real *p = t->ws;
    t->in = p; p += max_batch * spec->widths[0];
    for (int l = 1; l <= L; l++) {
        t->pre[l] = p; p += R * spec->widths[l];
        if (l < L) { t->post[l] = p; p += R * spec->widths[l]; }
    }
    t->dz = p; p += R * maxw;
    t->da = p; p += R * maxw;
    t->row_loss = p; p += R;
    t->row_ok = (int32_t *)p; p += R;
    t->ybatch = (int32_t *)p; p += R;
    *out = t;
    return NV_OK;
fail:
    cpu_destroy(t);
    return err ? err->status : NV_ENOMEM;
}

static nv_status cpu_set_state(nv_trainer *t, const nv_real *params, const nv_real *state1,
                               const nv_real *state2, int64_t step, nv_error *err) {
    if (step < 0) return nv_fail(err, NV_EINPUT, "trainer: step count %lld < 0", (long long)step);
    size_t bytes = (size_t)t->nparams * sizeof(nv_real);
    memcpy(t->params, params, bytes);
    if (state1) memcpy(t->state1, state1, bytes); else memset(t->state1, 0, bytes);
    if (state2) memcpy(t->state2, state2, bytes); else memset(t->state2, 0, bytes);
    t->step = step;
    t->bad = 0; /* a restored state is a fresh start after a divergence */
    return NV_OK;
}

static nv_status diverged(nv_trainer *t, nv_error *err) {
    return nv_fail(err, NV_ENUMERIC,
                   "training diverged: the loss became non-finite at step %lld; the parameters "
                   "are those before that step (lower the learning rate)",
                   (long long)t->bad_step);
}

static nv_status cpu_get_state(nv_trainer *t, nv_real *params, nv_real *state1, nv_real *state2,
                               int64_t *step, nv_error *err) {
    size_t bytes = (size_t)t->nparams * sizeof(nv_real);
    if (params) memcpy(params, t->params, bytes);
    if (state1) memcpy(state1, t->state1, bytes);
    if (state2) memcpy(state2, t->state2, bytes);
    if (step) *step = t->step;
    /* The state is valid either way (the last good step's); say so. */
    return t->bad ? diverged(t, err) : NV_OK;
}

static nv_status cpu_bind(nv_trainer *t, int slot, const nv_real *x, const int32_t *y, int64_t n,
                          nv_error *err) {
    if (slot < 0 || slot >= NV_SLOTS)
        return nv_fail(err, NV_EINTERNAL, "trainer: slot %d out of range", slot);
    if (n < 0 || n > (int64_t)UINT32_MAX)
        return nv_fail(err, NV_EINPUT, "trainer: data set of %lld rows: expected 0..2^32-1",
                       (long long)n);
    const int64_t d = t->spec.widths[0], classes = t->spec.widths[t->spec.nlayers];
    for (int64_t i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= classes)
            return nv_fail(err, NV_EINPUT, "trainer: label of row %lld is %d: expected 0..%lld",
                           (long long)i, y[i], (long long)(classes - 1));
    nv_real *nx = nv_malloc((size_t)(n * d) * sizeof *nx, err);
    int32_t *ny = nx ? nv_malloc((size_t)n * sizeof *ny, err) : NULL;
    if (!nx || !ny) {
        free(nx);
        return NV_ENOMEM;
    }
    memcpy(nx, x, (size_t)(n * d) * sizeof *nx);
    memcpy(ny, y, (size_t)n * sizeof *ny);
    free(t->x[slot]);
    free(t->y[slot]);
    t->x[slot] = nx;
    t->y[slot] = ny;
    t->n[slot] = n;
    return NV_OK;
}

/* pre[l] = A W_l^T + b_l, post[l] = act(pre[l]) for layers 1..upto, with A the
 * input x (rows, widths[0]) for the first layer. rows <= rows_cap. */
/* The forward pass of `rows` inputs x up to layer `upto`, into the trainer's
 * pre/post buffers, or where to_pre[l] / to_post[l] say when given (rows x width,
 * row-major, like the trainer's own): evaluate_capture writes a snapshot's layers
 * straight into the snapshot, with no copy. Same sgemm shapes either way, so the
 * same floats. */
static void forward_to(nv_trainer *t, const nv_real *x, int64_t rows, int upto, nv_real *const *to_pre,
                       nv_real *const *to_post) {
    const nv_mlp_spec *s = &t->spec;
    const int L = s->nlayers;
    const nv_real *a = x;
    for (int l = 1; l <= upto; l++) {
        const int64_t in = s->widths[l - 1], out = s->widths[l];
        const nv_real *W = t->params + nv_mlp_weight_offset(s, l - 1); /* (out, in) */
        const nv_real *b = t->params + nv_mlp_bias_offset(s, l - 1);   /* (out) */
        nv_real *pre = to_pre && to_pre[l] ? to_pre[l] : t->pre[l];
        /* row-major (rows, in) x (out, in)^T -> (rows, out) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)out, (int)in, 1.0f, a,
                    (int)in, W, (int)in, 0.0f, pre, (int)out);
        nv_cpu_bias_add(pre, b, rows, out);
        if (l < L) {
            nv_real *post = to_post && to_post[l] ? to_post[l] : t->post[l];
            nv_cpu_act_forward(s->act, s->leaky_slope, pre, post, rows * out);
            a = post;
        }
    }
}

static void forward(nv_trainer *t, const nv_real *x, int64_t rows, int upto) {
    forward_to(t, x, rows, upto, NULL, NULL);
}

void nv_cpu_layer_grad(const nv_real *dz, const nv_real *a, int64_t rows, int64_t in, int64_t out,
                       nv_real *dW, nv_real *db) {
    /* dW = dz^T a: (out, rows) x (rows, in) */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)out, (int)in, (int)rows, 1.0f, dz,
                (int)out, a, (int)in, 0.0f, dW, (int)in);
    nv_cpu_bias_grad(db, dz, rows, out);
}

/* What a recorded step takes from layer l's (1-based) dz while the backward pass
 * holds it: factors, per-sample norms, and the unit statistics of the layer's
 * outputs (the influence of the logits too; the unit statistics of a hidden layer
 * are taken with its activation backward, in backward()). */
static void record_delta(nv_trainer *t, int l, const nv_real *a, const nv_real *dz, int64_t rows,
                         const nv_dyn_request *req, nv_dyn_step *o) {
    const nv_mlp_spec *s = &t->spec;
    const int L = s->nlayers, k = l - 1;
    const int64_t in = s->widths[l - 1], out = s->widths[l];
    if (req->factors) {
        if (o->a[k]) memcpy(o->a[k], a, sizeof(nv_real) * (size_t)(rows * in));
        if (o->d[k]) nv_cpu_dyn_scale_copy(o->d[k], dz, rows * out, (float)rows);
        if (req->pre && o->pre[k]) memcpy(o->pre[k], t->pre[l], sizeof(nv_real) * (size_t)(rows * out));
    }
    if (req->samples) {
        if (o->a_sq[k]) nv_cpu_dyn_row_sumsq(a, rows, in, o->a_sq[k]);
        if (o->d_sq[k]) nv_cpu_dyn_row_sumsq(dz, rows, out, o->d_sq[k]);
    }
    /* the logits: every unit statistic in one pass (no activation: the output is
     * pre[L], and dLoss/doutput is dz); a hidden layer's |dz| here, the rest in
     * backward(), from its output and da */
    if (req->unit_stats && l == L)
        nv_cpu_dyn_unit_stats(t->pre[L], t->pre[L], dz, dz, rows, out, o->unit[k][NV_DU_MEAN_ACT],
                              o->unit[k][NV_DU_FRAC_ACTIVE], o->unit[k][NV_DU_INFLUENCE],
                              o->unit[k][NV_DU_MEAN_ABS_DELTA]);
    else if (l == L && req->layer_stats)
        nv_cpu_dyn_unit_stats(NULL, t->pre[L], NULL, NULL, rows, out, NULL, o->unit[k][NV_DU_FRAC_ACTIVE], NULL, NULL);
    /* a hidden layer's mean |dz| came with its activation backward (backward()) */
}

/* Given dz = dLoss/dlogits (rows, widths[L]), fills t->grads for every layer;
 * x is the input forward() saw. With req (a recorded step) it also takes what
 * req asks for into o on the way; the arithmetic of the gradients is the same. */
static void backward(nv_trainer *t, const nv_real *x, int64_t rows, const nv_dyn_request *req, nv_dyn_step *o) {
    const nv_mlp_spec *s = &t->spec;
    const int L = s->nlayers;
    nv_real *dz = t->dz, *da = t->da;
    for (int l = L; l >= 1; l--) {
        const int64_t in = s->widths[l - 1], out = s->widths[l];
        const nv_real *a = l == 1 ? x : t->post[l - 1];                /* (rows, in) */
        const nv_real *W = t->params + nv_mlp_weight_offset(s, l - 1); /* (out, in) */
        nv_real *dW = t->grads + nv_mlp_weight_offset(s, l - 1);       /* (out, in) */
        nv_real *db = t->grads + nv_mlp_bias_offset(s, l - 1);         /* (out) */
        if (req) record_delta(t, l, a, dz, rows, req, o);
        nv_cpu_layer_grad(dz, a, rows, in, out, dW, db);
        if (l > 1) {
            /* da = dz W: (rows, out) x (out, in); then through the activation */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)in, (int)out, 1.0f,
                        dz, (int)out, W, (int)in, 0.0f, da, (int)in);
            /* the previous layer's units: with the neurons tier, one pass takes the
             * activation backward (da -> dz in place) and every unit statistic (those
             * of the output and da before it is overwritten, mean |dz| after) */
            if (req && req->unit_stats) {
                nv_real **u = o->unit[l - 2];
                nv_cpu_dyn_unit_backward(s->act, s->leaky_slope, t->post[l - 1], t->pre[l - 1], da, da, rows, in,
                                         u[NV_DU_MEAN_ACT], u[NV_DU_FRAC_ACTIVE], u[NV_DU_INFLUENCE],
                                         u[NV_DU_MEAN_ABS_DELTA]);
            } else {
                if (req && req->layer_stats)
                    nv_cpu_dyn_unit_stats(NULL, t->pre[l - 1], NULL, NULL, rows, in, NULL,
                                          o->unit[l - 2][NV_DU_FRAC_ACTIVE], NULL, NULL);
                nv_cpu_act_backward(s->act, s->leaky_slope, t->pre[l - 1], t->post[l - 1], da, da, rows * in);
            }
            nv_real *tmp = dz; dz = da; da = tmp;
        }
    }
}

/* Gathers the batch, runs forward, loss and backward; *loss the batch mean. With
 * req, records on the way (backward) and keeps the per-sample losses and
 * predictions. */
static nv_status loss_and_grad(nv_trainer *t, const uint32_t *idx, int64_t b, float *loss,
                               const nv_dyn_request *req, nv_dyn_step *o, nv_error *err) {
    if (b < 1 || b > t->max_batch)
        return nv_fail(err, NV_EINPUT, "trainer: batch of %lld rows: expected 1..%lld",
                       (long long)b, (long long)t->max_batch);
    if (!t->x[NV_SLOT_TRAIN])
        return nv_fail(err, NV_EINTERNAL, "trainer: step before a train set was bound");
    const int64_t n = t->n[NV_SLOT_TRAIN], d = t->spec.widths[0];
    for (int64_t i = 0; i < b; i++)
        if ((int64_t)idx[i] >= n)
            return nv_fail(err, NV_EINPUT, "trainer: batch index %u at %lld: the train set has %lld rows",
                           idx[i], (long long)i, (long long)n);
    const int L = t->spec.nlayers;
    const int64_t classes = t->spec.widths[L];
    nv_cpu_gather_rows(t->x[NV_SLOT_TRAIN], t->y[NV_SLOT_TRAIN], d, idx, b, t->in, t->ybatch);
    forward(t, t->in, b, L);
    nv_cpu_softmax_xent(t->pre[L], t->ybatch, b, classes, 1.0f / (float)b, t->row_loss, req ? t->row_ok : NULL,
                        t->dz);
    *loss = (float)(nv_cpu_sum_f64(t->row_loss, b) / (double)b);
    if (!isfinite(*loss)) return NV_ENUMERIC; /* the caller writes the message */
    backward(t, t->in, b, req, o);
    return NV_OK;
}

void nv_cpu_apply_update(const nv_optim_spec *o, nv_real *params, nv_real *state1, nv_real *state2,
                         nv_real *grads, int64_t np, int64_t step) {
    if (o->weight_decay != 0.0f) nv_cpu_weight_decay(grads, params, o->weight_decay, np);
    if (o->kind == NV_OPT_SGD) {
        nv_cpu_sgd_update(params, state1, grads, np, (float)nv_optim_lr(o, step), o->momentum, step == 1);
    } else {
        float step_size, bc2_sqrt;
        nv_adam_factors(nv_optim_lr(o, step), o->beta1, o->beta2, step, &step_size, &bc2_sqrt);
        nv_cpu_adam_update(params, state1, state2, grads, np, o->beta1, o->beta2, o->eps, step_size,
                           bc2_sqrt);
    }
}

/* Layer k's update with its statistics and those of its gradient (before weight
 * decay), all in the pass that updates (nv_cpu_dyn_update_fused: the same bits as
 * the update kernels over the whole array); then the per-unit means from the sums
 * the backward pass took. */
static void update_layer_recorded(nv_trainer *t, int k, int64_t b, const nv_dyn_request *req, nv_dyn_step *o) {
    const nv_mlp_spec *s = &t->spec;
    const int64_t in = s->widths[k], out = s->widths[k + 1], off = nv_mlp_weight_offset(s, k);
    nv_dyn_grad_out go = {.alarm_abs = req->alarm_abs, .alarm_rel = req->alarm_rel[k],
                          .row_sq = req->unit_stats ? o->unit[k][NV_DU_GRAD_NORM] : NULL};
    nv_real *row = req->unit_stats ? o->unit[k][NV_DU_UPDATE_NORM] : NULL;
    double sums[4];
    int64_t nf;
    nv_cpu_dyn_update_fused(&t->opt, t->step, t->params + off, t->state1 + off, t->state2 + off, t->grads + off,
                            req->w0 ? req->w0 + off : NULL, out, in, &go, row, sums, &nf);
    if (go.row_sq)
        for (int64_t j = 0; j < out; j++) go.row_sq[j] = sqrtf(go.row_sq[j]);
    if (row)
        for (int64_t j = 0; j < out; j++) row[j] = sqrtf(row[j]);
    o->layer[k][NV_DL_GRAD_SQ] = go.total;
    o->layer[k][NV_DL_ALARM_ABS] = (double)go.counts[0];
    o->layer[k][NV_DL_ALARM_REL] = (double)go.counts[1];
    o->layer[k][NV_DL_NONFINITE_GRAD] = (double)go.counts[2];
    o->layer[k][NV_DL_WEIGHT_SQ] = sums[0];
    o->layer[k][NV_DL_BEFORE_SQ] = sums[1];
    o->layer[k][NV_DL_UPDATE_SQ] = sums[2];
    o->layer[k][NV_DL_INIT_SQ] = sums[3];
    o->layer[k][NV_DL_NONFINITE_WEIGHT] = (double)nf;
    nv_dyn_step_finish_units(o, k, out, b, req->unit_stats);
}

void nv_dyn_step_finish_units(nv_dyn_step *o, int k, int64_t out, int64_t b, int unit_stats) {
    const nv_real *act = o->unit[k][NV_DU_FRAC_ACTIVE];
    int64_t dead = 0;
    for (int64_t j = 0; j < out; j++) dead += act[j] == 0.0f;
    o->layer[k][NV_DL_DEAD] = (double)dead;
    if (unit_stats) {
        nv_real *m = o->unit[k][NV_DU_MEAN_ACT], *f = o->unit[k][NV_DU_FRAC_ACTIVE];
        for (int64_t j = 0; j < out; j++) {
            m[j] = m[j] / (float)b;
            f[j] = f[j] / (float)b;
        }
    }
}

nv_status nv_dyn_step_check(const nv_dyn_request *req, const nv_dyn_step *o, int L, nv_error *err) {
    if (!req->layer_stats && !req->unit_stats) return NV_OK;
    for (int k = 0; k < L; k++)
        if (!o->unit[k][NV_DU_FRAC_ACTIVE] || (req->unit_stats && (!o->unit[k][NV_DU_MEAN_ACT] ||
            !o->unit[k][NV_DU_MEAN_ABS_DELTA] || !o->unit[k][NV_DU_GRAD_NORM] || !o->unit[k][NV_DU_UPDATE_NORM] ||
            !o->unit[k][NV_DU_INFLUENCE])))
            return nv_fail(err, NV_EINTERNAL, "step_record: unit buffers of layer %d missing", k);
    return NV_OK;
}

/* One optimiser step; with req (step_record) it also records. The parameters and
 * state afterwards are the same bytes either way: the recording only reads. */
static nv_status step_impl(nv_trainer *t, const uint32_t *idx, int64_t b, float *loss_out,
                           const nv_dyn_request *req, nv_dyn_step *o, nv_error *err) {
    if (t->bad) return diverged(t, err);
    float loss;
    nv_status st = loss_and_grad(t, idx, b, &loss, req, o, err);
    if (loss_out && (st == NV_OK || st == NV_ENUMERIC)) *loss_out = loss;
    if (st == NV_ENUMERIC) {
        t->bad = 1;
        t->bad_step = t->step + 1;
        return nv_fail(err, NV_ENUMERIC,
                       "training diverged: the loss became %s at step %lld; the parameters are "
                       "those before that step (lower the learning rate)",
                       isnan(loss) ? "NaN" : "infinite", (long long)t->bad_step);
    }
    if (st != NV_OK) return st;
    const int64_t np = t->nparams;
    const int stats = req && (req->layer_stats || req->unit_stats);
    if (req) {
        if (req->samples) {
            if (o->sample_loss) memcpy(o->sample_loss, t->row_loss, sizeof(nv_real) * (size_t)b);
            if (o->sample_correct) memcpy(o->sample_correct, t->row_ok, sizeof(int32_t) * (size_t)b);
        }
        o->correct = nv_cpu_count_nonzero(t->row_ok, b);
    }
    t->step++;
    if (!stats) {
        nv_cpu_apply_update(&t->opt, t->params, t->state1, t->state2, t->grads, np, t->step);
    } else {
        /* layer by layer (the layers' blocks tile the flat array, and every update
         * kernel is elementwise: the same bits as one call over everything) */
        for (int k = 0; k < t->spec.nlayers; k++) update_layer_recorded(t, k, b, req, o);
    }
    return NV_OK;
}

static nv_status cpu_step(nv_trainer *t, const uint32_t *idx, int64_t b, float *loss_out,
                          nv_error *err) {
    return step_impl(t, idx, b, loss_out, NULL, NULL, err);
}

static nv_status cpu_step_record(nv_trainer *t, const uint32_t *idx, int64_t b, float *loss_out,
                                 const nv_dyn_request *req, nv_dyn_step *o, nv_error *err) {
    nv_status st = nv_dyn_step_check(req, o, t->spec.nlayers, err);
    if (st) return st;
    return step_impl(t, idx, b, loss_out, req, o, err);
}

static nv_status cpu_gradient(nv_trainer *t, const uint32_t *idx, int64_t b, float *loss_out,
                              nv_real *grad, nv_error *err) {
    float loss;
    nv_status st = loss_and_grad(t, idx, b, &loss, NULL, NULL, err);
    if (loss_out && (st == NV_OK || st == NV_ENUMERIC)) *loss_out = loss;
    if (st == NV_ENUMERIC)
        return nv_fail(err, NV_ENUMERIC, "gradient: the batch loss is %s",
                       isnan(loss) ? "NaN" : "infinite");
    if (st != NV_OK) return st;
    memcpy(grad, t->grads, (size_t)t->nparams * sizeof *grad);
    return NV_OK;
}

/* The checks evaluate and activations share: a bound slot, no divergence. */
static nv_status check_slot(nv_trainer *t, int slot, nv_error *err) {
    if (slot < 0 || slot >= NV_SLOTS)
        return nv_fail(err, NV_EINTERNAL, "trainer: slot %d out of range", slot);
    if (!t->x[slot]) return nv_fail(err, NV_EINTERNAL, "trainer: slot %d has no data bound", slot);
    if (t->bad) return diverged(t, err);
    return NV_OK;
}

static nv_status cpu_evaluate_capture(nv_trainer *t, int slot, double *loss_sum, int64_t *correct,
                                      const nv_capture *cap, int ncap, nv_error *err) {
    nv_status st = check_slot(t, slot, err);
    if (st != NV_OK) return st;
    const int L = t->spec.nlayers;
    const int64_t n = t->n[slot], d = t->spec.widths[0], classes = t->spec.widths[L];
    for (int i = 0; i < ncap; i++)
        if (cap[i].layer < 0 || cap[i].layer > L)
            return nv_fail(err, NV_EINTERNAL, "evaluate: capture of layer %d: expected 0..%d", cap[i].layer, L);
    double sum = 0.0;
    int64_t ok = 0;
    for (int64_t r0 = 0; r0 < n; r0 += NV_EVAL_ROWS) {
        int64_t rows = NV_MIN((int64_t)NV_EVAL_ROWS, n - r0);
        /* the chunks and the forward pass of activations: the same floats */
        nv_real *to_pre[NV_MAX_LAYERS + 1] = {0}, *to_post[NV_MAX_LAYERS + 1] = {0};
        for (int i = 0; i < ncap; i++) {
            const int l = cap[i].layer;
            const int64_t w = t->spec.widths[l];
            if (l == 0) memcpy(cap[i].out + r0 * w, t->x[slot] + r0 * d, (size_t)(rows * w) * sizeof(nv_real));
            else if (cap[i].pre || l == L) to_pre[l] = cap[i].out + r0 * w;
            else to_post[l] = cap[i].out + r0 * w;
        }
        forward_to(t, t->x[slot] + r0 * d, rows, L, to_pre, to_post);
        nv_cpu_softmax_xent(to_pre[L] ? to_pre[L] : t->pre[L], t->y[slot] + r0, rows, classes, 1.0f,
                            t->row_loss, t->row_ok, NULL);
        sum += nv_cpu_sum_f64(t->row_loss, rows);
        ok += nv_cpu_count_nonzero(t->row_ok, rows);
    }
    if (loss_sum) *loss_sum = sum;
    if (correct) *correct = ok;
    return NV_OK;
}

static nv_status cpu_evaluate(nv_trainer *t, int slot, double *loss_sum, int64_t *correct,
                              nv_error *err) {
    return cpu_evaluate_capture(t, slot, loss_sum, correct, NULL, 0, err);
}

static nv_status cpu_activations(nv_trainer *t, int slot, int64_t row0, int64_t rows, int layer,
                                 int pre, nv_real *out, nv_error *err) {
    nv_status st = check_slot(t, slot, err);
    if (st != NV_OK) return st;
    const int L = t->spec.nlayers;
    const int64_t n = t->n[slot], d = t->spec.widths[0];
    if (layer < 0 || layer > L)
        return nv_fail(err, NV_EINTERNAL, "activations: layer %d: expected 0..%d", layer, L);
    if (row0 < 0 || rows < 0 || row0 + rows > n)
        return nv_fail(err, NV_EINTERNAL, "activations: rows [%lld, %lld) outside 0..%lld",
                       (long long)row0, (long long)(row0 + rows), (long long)n);
    const int64_t w = t->spec.widths[layer];
    if (layer == 0) {
        memcpy(out, t->x[slot] + row0 * d, (size_t)(rows * d) * sizeof *out);
        return NV_OK;
    }
    /* Chunks aligned to NV_EVAL_ROWS from row 0 of the slot, so a row's activations are
     * computed in the same sgemm shapes whatever range the caller asks for. */
    int64_t r = row0;
    while (r < row0 + rows) {
        int64_t c0 = r - r % NV_EVAL_ROWS;
        int64_t c1 = NV_MIN(c0 + NV_EVAL_ROWS, n);
        forward(t, t->x[slot] + c0 * d, c1 - c0, layer);
        int64_t take = NV_MIN(c1, row0 + rows) - r;
        const nv_real *src = (pre || layer == L) ? t->pre[layer] : t->post[layer];
        memcpy(out + (r - row0) * w, src + (r - c0) * w, (size_t)(take * w) * sizeof *out);
        r += take;
    }
    return NV_OK;
}

static const nv_backend cpu_backend = {
    .name = "cpu",
    .create = cpu_create,
    .destroy = cpu_destroy,
    .set_state = cpu_set_state,
    .get_state = cpu_get_state,
    .bind = cpu_bind,
    .step = cpu_step,
    .evaluate = cpu_evaluate,
    .activations = cpu_activations,
    .gradient = cpu_gradient,
    .evaluate_capture = cpu_evaluate_capture,
    .step_record = cpu_step_record,
};

const nv_backend *nv_backend_cpu(void) { return &cpu_backend; }

/* --- the choice of backend ------------------------------------------------- */

const nv_backend *nv_backend_cuda(void) {
    const nv_backend *(*table)(void) =
        (const nv_backend *(*)(void))nv_cuda_sym("nv_backend_cuda_table", NULL, 0);
    return table ? table() : NULL;
}

nv_status nv_backend_select(nv_device_kind want, const nv_backend **out, const char **note,
                            nv_error *err) {
    void *table = NULL;
    nv_status st = nv_device_select(want, "training", "nv_backend_cuda_table", 1, &table, note, err);
    *out = st != NV_OK ? NULL : table ? ((const nv_backend *(*)(void))table)() : nv_backend_cpu();
    return st;
}
