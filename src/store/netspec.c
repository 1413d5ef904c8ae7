/* netspec.c: the network description of include/nerve/netspec.h: activation names,
 * the flat parameter layout and validation. Both backends, the store and every tool
 * take the layout from here, so there is one definition of where W_l and b_l live.
 */
#include "nerve/netspec.h"

#include <math.h>
#include <string.h>

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
