/* reconstruct.c: any recorded step's weights from a saved state and the factors
 * (include/nerve/dynamics.h, nv_dyn_rebuild).
 *
 * Per step s after the saved state, per layer: dz_i = d_i x (1/b) (the float the
 * loss's backward multiplied by: exact when b is a power of two), then the batch
 * gradient with the training backend's own call (nv_cpu_layer_grad: the same sgemm
 * of dz^T a and the same bias column sum, so the same order of summation), then the
 * same weight decay and update kernel (nv_cpu_apply_update) as optimiser step s.
 * On the machine and thread count that trained, from f32 factors, the result is
 * the trained state bit for bit.
 */
#include "dyn_store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/h5util.h"

void nv_dyn_weights_free(nv_dyn_weights *w) {
    if (!w) return;
    free(w->params); /* one block: params, state1, state2 */
    memset(w, 0, sizeof *w);
}

/* The batch of step s (the last one of an epoch may be short). */
static int64_t batch_of(const nv_dyn_info *in, int64_t s) {
    const int64_t pos = (s - 1) % in->steps_per_epoch;
    return NV_MIN(in->batch_size, in->n_train - pos * in->batch_size);
}

nv_status nv_dyn_rebuild(const char *run_dir, const char *model, int64_t step, int64_t from_step,
                         nv_dyn_weights *out, nv_error *err) {
    memset(out, 0, sizeof *out);
    nv_dyn_run *r = NULL;
    nv_status st = nv_dyn_open(run_dir, model, &r, err);
    if (st) return st;
    const nv_dyn_info *in = nv_dyn_run_info(r);
    const int64_t P = in->nparams, S = in->epochs * in->steps_per_epoch;
    const int L = in->spec.nlayers;
    int64_t *wsteps = NULL;
    nv_real *a = NULL, *d = NULL, *grads = NULL;
    if (step < 0 || step > S) {
        st = nv_fail(err, NV_EINPUT, "step %lld: the run of model '%s' has steps 0..%lld", (long long)step, model,
                     (long long)S);
        goto done;
    }
    if (step > in->last_step) {
        st = nv_fail(err, NV_EINPUT, "step %lld: the record of model '%s' reaches step %lld so far (training not "
                     "finished?)", (long long)step, model, (long long)in->last_step);
        goto done;
    }
    /* the saved state to start from: the latest before `step` (or `step` itself for
     * step 0), or the one asked for */
    const int64_t nw = in->rows[NV_DYN_WEIGHTS];
    wsteps = nv_malloc(sizeof(int64_t) * (size_t)(nw ? nw : 1), err);
    if (!wsteps) { st = NV_ENOMEM; goto done; }
    if ((st = nv_dyn_read_i64(r, "weights/step", 0, nw, wsteps, err))) goto done;
    int64_t base = -1, stored_at = -1;
    for (int64_t i = 0; i < nw; i++) {
        if (wsteps[i] == step) stored_at = i;
        if (from_step >= 0 ? wsteps[i] == from_step : (wsteps[i] < step || (step == 0 && wsteps[i] == 0))) base = i;
    }
    if (from_step >= 0 && (base < 0 || from_step > step)) {
        st = nv_fail(err, NV_EINPUT, "--from %lld: the weights tier holds no state at that step%s (dynamics.weights)",
                     (long long)from_step, from_step > step ? " before the step asked for" : "");
        goto done;
    }
    if (base < 0) {
        st = nv_fail(err, NV_EINPUT, "step %lld: no saved state at or before it in the weights tier of model '%s' "
                     "(record it with dynamics.weights.enabled = true)", (long long)step, model);
        goto done;
    }
    out->params = nv_calloc((size_t)(3 * P), sizeof(nv_real), err);
    grads = nv_malloc(sizeof(nv_real) * (size_t)P, err);
    if (!out->params || !grads) { st = NV_ENOMEM; goto done; }
    out->state1 = out->params + P;
    out->state2 = out->params + 2 * P;
    snprintf(out->model, sizeof out->model, "%s", model);
    out->spec = in->spec;
    out->nparams = P;
    out->step = step;
    out->from_step = wsteps[base];
    if ((st = nv_dyn_read_f32(r, "weights/params", base, 1, out->params, err))) goto done;
    int64_t rr, cc;
    nv_error ignore = {0};
    if (nv_dyn_shape(r, "weights/state1", &rr, &cc, &ignore) == NV_OK &&
        (st = nv_dyn_read_f32(r, "weights/state1", base, 1, out->state1, err)))
        goto done;
    if (nv_dyn_shape(r, "weights/state2", &rr, &cc, &ignore) == NV_OK &&
        (st = nv_dyn_read_f32(r, "weights/state2", base, 1, out->state2, err)))
        goto done;

    int64_t maxin = 0, maxout = 0;
    for (int k = 0; k < L; k++) {
        maxin = NV_MAX(maxin, in->spec.widths[k]);
        maxout = NV_MAX(maxout, in->spec.widths[k + 1]);
    }
    a = nv_malloc(sizeof(nv_real) * (size_t)(in->batch_size * maxin), err);
    d = nv_malloc(sizeof(nv_real) * (size_t)(in->batch_size * maxout), err);
    if (!a || !d) { st = NV_ENOMEM; goto done; }
    for (int64_t s = out->from_step + 1; s <= step; s++) {
        int64_t r0, b;
        if ((st = nv_dyn_rows_of_step(r, NV_DYN_FACTORS, s, &r0, &b, err))) goto done;
        if (b == 0) {
            st = nv_fail(err, NV_EINPUT, "step %lld: the factors tier did not record it, so steps %lld..%lld cannot "
                         "be rebuilt from the state at step %lld (record every step with dynamics.factors.every = 1, "
                         "or save states more often with dynamics.weights.every)", (long long)s,
                         (long long)(out->from_step + 1), (long long)step, (long long)out->from_step);
            goto done;
        }
        if (b != batch_of(in, s)) {
            st = nv_fail(err, NV_EINPUT, "step %lld: %lld factor rows, the batch had %lld", (long long)s, (long long)b,
                         (long long)batch_of(in, s));
            goto done;
        }
        const float inv = 1.0f / (float)b; /* as the loss's backward scaled */
        for (int k = 0; k < L; k++) {
            const int64_t nin = in->spec.widths[k], nout = in->spec.widths[k + 1];
            char pa[64], pd[64];
            snprintf(pa, sizeof pa, "factors/%s/a", in->layer_names[k]);
            snprintf(pd, sizeof pd, "factors/%s/d", in->layer_names[k]);
            if ((st = nv_dyn_read_f32(r, pa, r0, b, a, err)) || (st = nv_dyn_read_f32(r, pd, r0, b, d, err))) goto done;
            for (int64_t i = 0; i < b * nout; i++) d[i] = inv * d[i];
            nv_cpu_layer_grad(d, a, b, nin, nout, grads + nv_mlp_weight_offset(&in->spec, k),
                              grads + nv_mlp_bias_offset(&in->spec, k));
        }
        nv_cpu_apply_update(&in->opt, out->params, out->state1, out->state2, grads, P, s);
    }
    if (stored_at >= 0 && wsteps[stored_at] != out->from_step) {
        nv_real *ref = grads; /* reused */
        if ((st = nv_dyn_read_f32(r, "weights/params", stored_at, 1, ref, err))) goto done;
        double m = 0;
        for (int64_t i = 0; i < P; i++) {
            double x = fabs((double)out->params[i] - (double)ref[i]);
            if (!(x <= m)) m = x; /* NaN wins */
        }
        out->compared = 1;
        out->max_abs_diff = m;
    }
done:
    if (st) nv_dyn_weights_free(out);
    free(wsteps);
    free(a);
    free(d);
    free(grads);
    nv_dyn_close(r);
    return st;
}

nv_status nv_dyn_weights_write(const char *path, const nv_dyn_weights *w, nv_error *err) {
    char *tmp = NULL;
    hid_t f = nv_h5_create_temp(path, &tmp, err);
    if (f < 0) return err ? err->status : NV_EIO;
    int64_t n = w->nparams;
    nv_status st;
    if (!(st = nv_h5_attr_str(f, "format", NV_DYN_WEIGHTS_FORMAT, tmp, err)) &&
        !(st = nv_h5_attr_i64(f, "format_version", NV_DYN_VERSION, tmp, err)) &&
        !(st = nv_h5_attr_str(f, "model", w->model, tmp, err)) &&
        !(st = nv_h5_attr_i64(f, "step", w->step, tmp, err)) &&
        !(st = nv_h5_attr_i64(f, "from_step", w->from_step, tmp, err)) &&
        !(st = nv_h5_write_spec(f, "model", &w->spec, tmp, err)) &&
        !(st = nv_h5_write_dataset(f, "params", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &n, w->params, 0, tmp, err)) &&
        !(st = nv_h5_write_dataset(f, "state1", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &n, w->state1, 0, tmp, err)))
        st = nv_h5_write_dataset(f, "state2", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &n, w->state2, 0, tmp, err);
    return nv_h5_finish_temp(f, tmp, path, st, err);
}
