/* mlp.c: the backend-independent half of include/nerve/mlp.h: activation names,
 * the flat parameter layout, validation and the seeded initialisation. Both
 * backends and every tool take the layout from here, so there is one definition of
 * where W_l and b_l live.
 */
#include "nerve/mlp.h"

#include <math.h>
#include <string.h>

#include "nerve/rng.h"

static const char *const act_names[] = {"relu", "leaky_relu", "tanh", "sigmoid", "identity"};

const char *nv_activation_name(nv_activation a) {
    if ((int)a < 0 || (size_t)a >= NV_ARRAY_LEN(act_names)) return "unknown";
    return act_names[a];
}

int nv_activation_parse(const char *s) {
    if (!s) return -1;
    for (size_t i = 0; i < NV_ARRAY_LEN(act_names); i++)
        if (strcmp(s, act_names[i]) == 0) return (int)i;
    return -1;
}

int64_t nv_mlp_param_count(const nv_mlp_spec *s) {
    int64_t n = 0;
    for (int l = 0; l < s->nlayers; l++) n += s->widths[l + 1] * s->widths[l] + s->widths[l + 1];
    return n;
}

int64_t nv_mlp_weight_offset(const nv_mlp_spec *s, int layer) {
    int64_t off = 0;
    for (int l = 0; l < layer; l++) off += s->widths[l + 1] * s->widths[l] + s->widths[l + 1];
    return off;
}

int64_t nv_mlp_bias_offset(const nv_mlp_spec *s, int layer) {
    return nv_mlp_weight_offset(s, layer) + s->widths[layer + 1] * s->widths[layer];
}

int64_t nv_mlp_max_width(const nv_mlp_spec *s) {
    int64_t w = 0;
    for (int l = 0; l <= s->nlayers; l++) w = NV_MAX(w, s->widths[l]);
    return w;
}

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

nv_status nv_mlp_spec_validate(const nv_mlp_spec *s, nv_error *err) {
    if (!s) return nv_fail(err, NV_EINTERNAL, "mlp spec: NULL");
    if (s->nlayers < 1 || s->nlayers > NV_MAX_LAYERS)
        return nv_fail(err, NV_EINPUT, "mlp spec: expected 1..%d layers, found %d", NV_MAX_LAYERS,
                       s->nlayers);
    for (int l = 0; l <= s->nlayers; l++) {
        /* 2^24 keeps every widths product well inside int64 and every row inside
         * cuBLAS's int dimensions. */
        if (s->widths[l] < 1 || s->widths[l] > (1 << 24))
            return nv_fail(err, NV_EINPUT, "mlp spec: widths[%d]: expected 1..%d, found %lld", l,
                           1 << 24, (long long)s->widths[l]);
    }
    if (s->widths[s->nlayers] < 2)
        return nv_fail(err, NV_EINPUT,
                       "mlp spec: the last width is the number of classes: expected >= 2, found %lld",
                       (long long)s->widths[s->nlayers]);
    if ((int)s->act < NV_ACT_RELU || (int)s->act > NV_ACT_IDENTITY)
        return nv_fail(err, NV_EINPUT, "mlp spec: unknown activation %d", (int)s->act);
    if (s->act == NV_ACT_LEAKY_RELU && !(isfinite(s->leaky_slope)))
        return nv_fail(err, NV_EINPUT, "mlp spec: leaky_slope: expected a finite number, found %g",
                       (double)s->leaky_slope);
    if (s->init != NV_INIT_HE && s->init != NV_INIT_XAVIER)
        return nv_fail(err, NV_EINPUT, "mlp spec: unknown init %d", (int)s->init);
    return NV_OK;
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
