/* mlp.c: the backend-independent half of include/nerve/mlp.h: the seeded
 * initialisation and the optimiser's validation. (Activation names, the flat
 * parameter layout and the network's validation are the store's: netspec.c.)
 */
#include "nerve/mlp.h"

#include <math.h>
#include <string.h>

#include "nerve/rng.h"

void nv_mlp_init_params(const nv_mlp_spec *s, uint64_t seed, nv_real *params) {
    for (int l = 0; l < s->nlayers; l++) {
        double fan_in = (double)s->widths[l], fan_out = (double)s->widths[l + 1];
        double var = s->init == NV_INIT_XAVIER ? 2.0 / (fan_in + fan_out) : 2.0 / fan_in;
        float std = (float)sqrt(var);
        nv_real *W = params + nv_mlp_weight_offset(s, l); /* (widths[l+1], widths[l]) */
        nv_real *b = params + nv_mlp_bias_offset(s, l);   /* (widths[l+1]) */
        int64_t nw = s->widths[l + 1] * s->widths[l];
        /* The index names the layer and the element, so a layer's weights do not
         * depend on the widths of the layers before it. */
        for (int64_t i = 0; i < nw; i++)
            W[i] = std * nv_rng_normal(seed, NV_STREAM_INIT, ((uint64_t)l << 40) | (uint64_t)i);
        memset(b, 0, (size_t)s->widths[l + 1] * sizeof *b);
    }
}

nv_status nv_optim_spec_validate(const nv_optim_spec *o, nv_error *err) {
    if (!o) return nv_fail(err, NV_EINTERNAL, "optimiser spec: NULL");
    if (o->kind != NV_OPT_SGD && o->kind != NV_OPT_ADAM)
        return nv_fail(err, NV_EINPUT, "optimiser: unknown kind %d", (int)o->kind);
    if (!(o->lr > 0.0f) || !isfinite(o->lr))
        return nv_fail(err, NV_EINPUT, "optimiser: lr: expected a finite number > 0, found %g",
                       (double)o->lr);
    if (!(o->weight_decay >= 0.0f) || !isfinite(o->weight_decay))
        return nv_fail(err, NV_EINPUT, "optimiser: weight_decay: expected >= 0, found %g",
                       (double)o->weight_decay);
    if (o->lr_half_life < 0)
        return nv_fail(err, NV_EINPUT, "optimiser: lr_half_life: expected >= 0 steps (0 = constant), found %lld",
                       (long long)o->lr_half_life);
    if (o->kind == NV_OPT_SGD && !(o->momentum >= 0.0f && o->momentum < 1.0f))
        return nv_fail(err, NV_EINPUT, "optimiser: momentum: expected 0 <= momentum < 1, found %g",
                       (double)o->momentum);
    if (o->kind == NV_OPT_ADAM) {
        if (!(o->beta1 >= 0.0f && o->beta1 < 1.0f))
            return nv_fail(err, NV_EINPUT, "optimiser: beta1: expected 0 <= beta1 < 1, found %g",
                           (double)o->beta1);
        if (!(o->beta2 >= 0.0f && o->beta2 < 1.0f))
            return nv_fail(err, NV_EINPUT, "optimiser: beta2: expected 0 <= beta2 < 1, found %g",
                           (double)o->beta2);
        if (!(o->eps > 0.0f) || !isfinite(o->eps))
            return nv_fail(err, NV_EINPUT, "optimiser: eps: expected a finite number > 0, found %g",
                           (double)o->eps);
    }
    return NV_OK;
}
