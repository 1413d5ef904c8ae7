/* schedule.c: when each tier of the dynamics recorder records, and what a recorded
 * step weighs (include/nerve/dynamics.h): the schedules (every n steps, log-spaced,
 * chosen epochs), their check against the run's size, and the bytes per step of each
 * tier. The recorder (recorder.c) and the store (store.c, the automatic chunk size)
 * both use them.
 */
#include "dyn_store.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const char *nv_dyn_tier_name(int tier) {
    static const char *const names[NV_DYN_TIERS] = {"steps", "neurons", "samples", "factors", "weights"};
    return tier >= 0 && tier < NV_DYN_TIERS ? names[tier] : "?";
}

/* ---- schedules -------------------------------------------------------------------- */
static int64_t total_steps(const nv_dyn_span *sp) { return sp->epochs * sp->steps_per_epoch; }

/* The i-th of `count` log-spaced steps in 1..S (count 1: the last step). */
static int64_t log_step(int64_t i, int64_t count, int64_t S) {
    if (count <= 1) return S;
    double t = (double)i / (double)(count - 1);
    int64_t s = (int64_t)llround(pow((double)S, t));
    return s < 1 ? 1 : s > S ? S : s;
}

static int epoch_listed(const nv_dyn_schedule *sc, int64_t e) {
    int64_t lo = 0, hi = sc->nepochs;
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (sc->epochs[mid] < e) lo = mid + 1;
        else hi = mid;
    }
    return lo < sc->nepochs && sc->epochs[lo] == e;
}

int nv_dyn_scheduled(const nv_dyn_schedule *sc, const nv_dyn_span *sp, int64_t s) {
    const int64_t S = total_steps(sp);
    if (s < 1 || s > S) return 0;
    switch (sc->kind) {
    case NV_SCHED_EVERY: return s % sc->every == 0;
    case NV_SCHED_EPOCHS: return epoch_listed(sc, (s - 1) / sp->steps_per_epoch + 1);
    case NV_SCHED_LOG: {
        if (sc->count <= 1 || S == 1) return s == S;
        /* the i with S^(i/(count-1)) nearest s, and its neighbours (rounding) */
        double t = log((double)s) / log((double)S) * (double)(sc->count - 1);
        int64_t i0 = (int64_t)floor(t);
        for (int64_t i = i0 - 2; i <= i0 + 2; i++)
            if (i >= 0 && i < sc->count && log_step(i, sc->count, S) == s) return 1;
        return 0;
    }
    default: return 0;
    }
}

int64_t nv_dyn_scheduled_count(const nv_dyn_schedule *sc, const nv_dyn_span *sp, int64_t first, int64_t last) {
    const int64_t S = total_steps(sp);
    if (first < 1) first = 1;
    if (last > S) last = S;
    if (first > last) return 0;
    if (sc->kind == NV_SCHED_EVERY) return last / sc->every - (first - 1) / sc->every;
    int64_t n = 0;
    if (sc->kind == NV_SCHED_LOG) {
        int64_t prev = 0;
        for (int64_t i = 0; i < (sc->count <= 1 ? 1 : sc->count); i++) {
            int64_t s = log_step(i, sc->count, S);
            if (s != prev && s >= first && s <= last) n++;
            prev = s;
        }
        return n;
    }
    for (int64_t s = first; s <= last; s++) n += nv_dyn_scheduled(sc, sp, s);
    return n;
}

void nv_dyn_schedule_text(const nv_dyn_schedule *sc, char *buf, size_t len) {
    if (sc->kind == NV_SCHED_LOG) snprintf(buf, len, "log = %lld", (long long)sc->count);
    else if (sc->kind == NV_SCHED_EPOCHS) {
        size_t n = (size_t)snprintf(buf, len, "epochs = [");
        for (int64_t i = 0; i < sc->nepochs && n + 24 < len; i++)
            n += (size_t)snprintf(buf + n, len - n, "%s%lld", i ? ", " : "", (long long)sc->epochs[i]);
        snprintf(buf + n, len - n, "]");
    } else snprintf(buf, len, "every = %lld", (long long)sc->every);
}

nv_status nv_dyn_check(const nv_dyn_config *cfg, const nv_dyn_span *sp, nv_error *err) {
    if (!cfg->enabled) return NV_OK;
    int any = 0;
    const int64_t S = total_steps(sp);
    for (int t = 0; t < NV_DYN_TIERS; t++) {
        if (!cfg->on[t]) continue;
        any = 1;
        /* no steps at all, or a weights schedule past the run: the weights tier still
         * stores step 0 */
        if (S == 0 || t == NV_DYN_WEIGHTS) continue;
        if (nv_dyn_scheduled_count(&cfg->sched[t], sp, 1, S) == 0) {
            char sched[256];
            nv_dyn_schedule_text(&cfg->sched[t], sched, sizeof sched);
            return nv_fail(err, NV_EINPUT,
                           "key 'dynamics.%s': the schedule %s records no step of this run (%lld epochs x %lld "
                           "steps = %lld steps); choose a smaller stride or set dynamics.%s.enabled = false",
                           nv_dyn_tier_name(t), sched, (long long)sp->epochs, (long long)sp->steps_per_epoch,
                           (long long)S, nv_dyn_tier_name(t));
        }
    }
    if (!any)
        return nv_fail(err, NV_EINPUT, "key 'dynamics.enabled': true, but every tier is off (dynamics.<tier>.enabled "
                       "= false for steps, neurons, samples, factors and weights)");
    return NV_OK;
}

/* ---- sizes ------------------------------------------------------------------------- */
void nv_dyn_step_bytes(const nv_dyn_config *cfg, const nv_mlp_spec *spec, const nv_optim_spec *opt, int64_t b,
                       nv_dyn_sizes *out) {
    const int L = spec->nlayers;
    const int64_t P = nv_mlp_param_count(spec);
    memset(out, 0, sizeof *out);
    out->tier[NV_DYN_STEPS] = 8 + 8 + 4 + 3 * 4 + (double)L * (9 * 4 + 2 * 8);
    double units = 0, a = 0, d = 0;
    for (int k = 0; k < L; k++) {
        const int64_t w = spec->widths[k + 1];
        units += (double)w * NV_DU_COUNT * 4 + (double)NV_MIN((int64_t)cfg->top_k, w) * 4;
        a += (double)spec->widths[k];
        d += (double)w;
    }
    out->tier[NV_DYN_NEURONS] = 8 + units;
    out->tier[NV_DYN_SAMPLES] = (double)b * (8 + 8 + 4 + 4 + 4 + 1 + 4.0 * L);
    const double fb = cfg->f16 ? 2 : 4;
    out->tier[NV_DYN_FACTORS] = (double)b * (16 + fb * (a + d + (cfg->preactivations ? d : 0)));
    out->factors_ad = (double)b * fb * (a + d);
    int states = (opt->kind == NV_OPT_ADAM) ? 2 : opt->momentum != 0.0f ? 1 : 0;
    out->tier[NV_DYN_WEIGHTS] = 8 + 4.0 * (double)P * (1 + states);
    out->per_sample_gradients = (double)b * (double)P * 4;
}

