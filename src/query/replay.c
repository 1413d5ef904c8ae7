/* replay.c: the weights after any recorded step, for the `weights` table and the
 * presets (query_internal.h): from the latest state the weights tier saved at or
 * before the step, replaying each later step from its factors.
 *
 * A whole model replays as nv_dyn_rebuild does (src/dynamics/reconstruct.c): per
 * step and layer dz_i = d_i x (1/b) rounded once (what the loss's backward
 * multiplied by), the batch gradient with the training backend's own call
 * (nv_cpu_layer_grad: the same sgemm, the same bias sum), then nv_cpu_apply_update:
 * bit for bit the trained weights on the machine and BLAS thread count that
 * trained. Unlike the rebuild it moves forward step by step, so a scan over steps
 * costs one step each.
 *
 * One weight alone: the optimiser's update is elementwise, so the same kernel runs on
 * that weight and its state alone (n = 1), after the gradient of its layer only
 * (the same nv_cpu_layer_grad call, so the same bits: sgemm's order of summation is
 * not known, and a dot product of the two columns would differ from it in the last
 * bits). A step then costs one layer's sgemm instead of the model's, and the value
 * is the one the whole-model replay and training give, whichever way it is asked.
 */
#include "query_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nerve/kernels.h"

static nv_status check_step(qsrc *s, int64_t step, nv_error *err) {
    nv_status st = qsrc_weights_plan(s, err);
    if (st) return st;
    if (s->nstored == 0) return qsrc_need(s, NV_DYN_WEIGHTS, "rebuilding weights", err);
    if (step < 0 || step > s->info->last_step)
        return nv_fail(err, NV_EINPUT, "run %s, model '%s': step %lld is outside the record (steps 0..%lld%s)",
                       s->run->name, s->model, (long long)step, (long long)s->info->last_step,
                       s->info->last_step < s->S ? ", training not finished?" : "");
    if (!s->valid[step])
        return nv_fail(err, NV_EINPUT, "run %s, model '%s': the weights after step %lld cannot be rebuilt: the factors "
                       "tier misses a step between it and the saved state before it (record every step with "
                       "dynamics.factors.every = 1, or save states more often with dynamics.weights.every)",
                       s->run->name, s->model, (long long)step);
    return NV_OK;
}

/* The row of the weights tier holding the latest saved state at or before step. */
static int64_t base_row(const qsrc *s, int64_t step) {
    int64_t b = -1;
    for (int64_t i = 0; i < s->nstored; i++)
        if (s->stored_steps[i] <= step) b = i;
    return b;
}

/* Rows of the factors tier at step t, checked against the batch. */
static nv_status factor_rows(qsrc *s, int64_t t, int64_t *r0, int64_t *b, nv_error *err) {
    int64_t r1;
    nv_status st = qsrc_step_rows(s, NV_DYN_FACTORS, t, t, r0, &r1, err);
    if (st) return st;
    *b = r1 - *r0;
    if (*b != qsrc_batch(s, t))
        return nv_fail(err, NV_EINPUT, "run %s, model '%s': step %lld has %lld factor rows, its batch %lld",
                       s->run->name, s->model, (long long)t, (long long)*b, (long long)qsrc_batch(s, t));
    return NV_OK;
}

static nv_status read_state(qsrc *s, const char *path, int64_t row, int64_t col0, int64_t n, float *out, nv_error *err) {
    /* state1 / state2 exist for some optimisers only: asked of the index once */
    int which = !strcmp(path, "weights/params") ? 0 : !strcmp(path, "weights/state1") ? 1 : 2;
    if (!s->has_weights_ds[which]) {
        int64_t rows, cols;
        nv_error ignore = {0};
        s->has_weights_ds[which] = nv_dyn_shape(s->dyn, path, &rows, &cols, &ignore) == NV_OK && rows > 0 ? 1 : -1;
    }
    if (s->has_weights_ds[which] < 0) {
        memset(out, 0, sizeof(float) * (size_t)n);
        return NV_OK;
    }
    qview *v;
    nv_status st = qsrc_view(s, path, &v, err);
    if (st) return st;
    const void *p;
    if ((st = qsrc_rows(s, v, row, &p, NULL, err))) return st;
    memcpy(out, (const float *)p + col0, sizeof(float) * (size_t)n);
    return NV_OK;
}

/* --- a whole model ------------------------------------------------------------------- */
nv_status qreplay_init(qreplay *r, qsrc *src, nv_error *err) {
    memset(r, 0, sizeof *r);
    r->src = src;
    r->step = -1;
    const int64_t P = src->info->nparams;
    int64_t maxout = 0;
    for (int k = 0; k < src->L; k++) maxout = NV_MAX(maxout, src->info->spec.widths[k + 1]);
    r->params = nv_calloc((size_t)(4 * P), sizeof(float), err);
    r->dz = nv_malloc(sizeof(float) * (size_t)(src->info->batch_size * maxout + 1), err);
    if (!r->params || !r->dz) {
        qreplay_free(r);
        return NV_ENOMEM;
    }
    r->state1 = r->params + P;
    r->state2 = r->params + 2 * P;
    r->grads = r->params + 3 * P;
    return NV_OK;
}

void qreplay_free(qreplay *r) {
    if (!r) return;
    free(r->params);
    free(r->dz);
    memset(r, 0, sizeof *r);
}

nv_status qreplay_seek(qreplay *r, int64_t step, nv_error *err) {
    qsrc *s = r->src;
    nv_status st = check_step(s, step, err);
    if (st) return st;
    if (r->step == step) return NV_OK;
    const int64_t P = s->info->nparams;
    const int64_t b0 = base_row(s, step);
    const int64_t base = s->stored_steps[b0];
    /* forward from where the state is when that is not before the saved state; with
     * a gradient callback always forward, so that it sees every step */
    const int forward = r->on_grad ? (r->step >= 0 && r->step < step) : (r->step >= base && r->step < step);
    if (!forward) {
        if ((st = read_state(s, "weights/params", b0, 0, P, r->params, err)) ||
            (st = read_state(s, "weights/state1", b0, 0, P, r->state1, err)) ||
            (st = read_state(s, "weights/state2", b0, 0, P, r->state2, err)))
            return st;
        r->step = base;
    }
    const nv_mlp_spec *spec = &s->info->spec;
    for (int64_t t = r->step + 1; t <= step; t++) {
        int64_t r0, b;
        if ((st = factor_rows(s, t, &r0, &b, err))) return st;
        const float inv = 1.0f / (float)b;
        for (int k = 0; k < s->L; k++) {
            const int64_t in = spec->widths[k], out = spec->widths[k + 1];
            char pa[64], pd[64];
            snprintf(pa, sizeof pa, "factors/%s/a", s->info->layer_names[k]);
            snprintf(pd, sizeof pd, "factors/%s/d", s->info->layer_names[k]);
            qview *va, *vd;
            const void *pa_, *pd_;
            if ((st = qsrc_view(s, pa, &va, err)) || (st = qsrc_view(s, pd, &vd, err)) ||
                (st = qsrc_rows(s, va, r0, &pa_, NULL, err)) || (st = qsrc_rows(s, vd, r0, &pd_, NULL, err)))
                return st;
            const float *d = pd_;
            for (int64_t i = 0; i < b * out; i++) r->dz[i] = inv * d[i];
            nv_cpu_layer_grad(r->dz, (const float *)pa_, b, in, out, r->grads + nv_mlp_weight_offset(spec, k),
                              r->grads + nv_mlp_bias_offset(spec, k));
        }
        if (r->on_grad) r->on_grad(r->ctx, t, r->grads, r->params);
        nv_cpu_apply_update(&s->info->opt, r->params, r->state1, r->state2, r->grads, P, t);
        r->step = t;
        r->steps_replayed++;
    }
    return NV_OK;
}

/* --- one weight ------------------------------------------------------------------------ */
nv_status qreplay1_init(qreplay1 *r, qsrc *src, int k, int64_t row, int64_t col, nv_error *err) {
    free(r->scratch);
    memset(r, 0, sizeof *r);
    r->src = src;
    r->k = k;
    r->row = row;
    r->col = col;
    r->step = -1;
    const nv_mlp_spec *spec = &src->info->spec;
    const int64_t in = spec->widths[k], out = spec->widths[k + 1];
    r->index = col < in ? nv_mlp_weight_offset(spec, k) + row * in + col : nv_mlp_bias_offset(spec, k) + row;
    /* dz (b, out), dW (out, in), db (out) */
    r->scratch = nv_malloc(sizeof(float) * (size_t)(src->info->batch_size * out + out * in + out), err);
    if (!r->scratch) return NV_ENOMEM;
    char pa[64], pd[64];
    snprintf(pa, sizeof pa, "factors/%s/a", src->info->layer_names[k]);
    snprintf(pd, sizeof pd, "factors/%s/d", src->info->layer_names[k]);
    if (src->info->rows[NV_DYN_FACTORS] == 0) return NV_OK; /* only saved states can be read */
    nv_status st = qsrc_view(src, pa, &r->va, err);
    if (!st) st = qsrc_view(src, pd, &r->vd, err);
    return st;
}

void qreplay1_free(qreplay1 *r) {
    if (!r) return;
    free(r->scratch);
    memset(r, 0, sizeof *r);
}

nv_status qreplay1_seek(qreplay1 *r, int64_t step, nv_error *err) {
    qsrc *s = r->src;
    nv_status st = check_step(s, step, err);
    if (st) return st;
    if (r->step == step) return NV_OK;
    const int64_t b0 = base_row(s, step);
    const int64_t base = s->stored_steps[b0];
    if (!(r->step >= base && r->step < step)) {
        if ((st = read_state(s, "weights/params", b0, r->index, 1, &r->w, err)) ||
            (st = read_state(s, "weights/state1", b0, r->index, 1, &r->m, err)) ||
            (st = read_state(s, "weights/state2", b0, r->index, 1, &r->v, err)))
            return st;
        r->step = base;
        r->g = NAN;
    }
    const nv_mlp_spec *spec = &s->info->spec;
    const int64_t in = spec->widths[r->k], out = spec->widths[r->k + 1];
    float *dz = r->scratch, *dW = dz + s->info->batch_size * out, *db = dW + out * in;
    const int64_t wi = r->index - nv_mlp_weight_offset(spec, r->k); /* within dW (out, in) then db */
    for (int64_t t = r->step + 1; t <= step; t++) {
        int64_t r0, b;
        if ((st = factor_rows(s, t, &r0, &b, err))) return st;
        const float inv = 1.0f / (float)b;
        const void *pd_, *pa_;
        if ((st = qsrc_rows(s, r->vd, r0, &pd_, NULL, err)) || (st = qsrc_rows(s, r->va, r0, &pa_, NULL, err))) return st;
        const float *d = pd_;
        for (int64_t i = 0; i < b * out; i++) dz[i] = inv * d[i];
        /* the layer's whole gradient with the training's call: the trained bits */
        nv_cpu_layer_grad(dz, (const float *)pa_, b, in, out, dW, db);
        float g = wi < out * in ? dW[wi] : db[wi - out * in];
        r->g = g;
        nv_cpu_apply_update(&s->info->opt, &r->w, &r->m, &r->v, &g, 1, t);
        r->step = t;
    }
    return NV_OK;
}
