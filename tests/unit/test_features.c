/* test_features.c: the CPU feature-image backend (analysis/features/features.c):
 *  - the presets: each keeps its row's regularisers of Yosinski et al.'s Table 1
 *    (re-tuned strengths), vectors get no blur or jitter, a job's explicit fields
 *    override its preset;
 *  - check (a): a first-layer unit without regulariser ends exactly at the box
 *    corner sign(w) picks (hi where w > 0, lo where w < 0), for hidden units (ReLU,
 *    tanh) and the logits of a linear model; with a regulariser on, on the right
 *    side of the centre;
 *  - the gradient to the input against central finite differences (tanh net, double
 *    evaluation of the objective through nv_features_eval);
 *  - the regulariser operations: blur keeps a constant image, the percentile clip
 *    clips exactly the values below the k-th smallest, jitter's shift is undone by
 *    the opposite shift;
 *  - determinism (same bytes twice, every regulariser and jitter on) and batching
 *    (one unit at a time gives what the whole layer at once gives, within 1e-5);
 *  - projections (projections.h): the three rules against an independent double
 *    reference (relu and tanh nets, every layer, with and without pre), the analytic
 *    answer of a first-layer unit (seed times the weight row, bit for bit), and the
 *    gradient rule over the seed against finite differences of the objective.
 */
#include "nerve/features.h"
#include "nerve/projections.h"
#include "nerve/rng.h"
#include "testutil.h"

/* A random net d -> widths... with biases, weights N(0, 1/fan_in). */
static nv_real *make_net(nv_mlp_spec *s, int L, const int64_t *w, nv_activation act,
                         uint64_t seed) {
    memset(s, 0, sizeof *s);
    s->nlayers = L;
    for (int l = 0; l <= L; l++) s->widths[l] = w[l];
    s->act = act;
    s->leaky_slope = 0.01f;
    int64_t np = nv_mlp_param_count(s);
    nv_real *p = malloc((size_t)np * sizeof *p);
    for (int l = 0; l < L; l++) {
        int64_t wo = nv_mlp_weight_offset(s, l), bo = nv_mlp_bias_offset(s, l);
        for (int64_t i = 0; i < w[l + 1] * w[l]; i++)
            p[wo + i] = nv_rng_normal(seed, NV_STREAM_TEST, (uint64_t)(wo + i)) / sqrtf((float)w[l]);
        for (int64_t i = 0; i < w[l + 1]; i++)
            p[bo + i] = 0.1f * nv_rng_normal(seed + 1, NV_STREAM_TEST, (uint64_t)(bo + i));
    }
    return p;
}

static void make_box(int64_t d, nv_real *lo, nv_real *hi, nv_real *c, uint64_t seed) {
    for (int64_t i = 0; i < d; i++) {
        lo[i] = -0.5f - nv_rng_uniform(seed, NV_STREAM_TEST, (uint64_t)i);
        hi[i] = 0.5f + nv_rng_uniform(seed, NV_STREAM_TEST, (uint64_t)(i + 1000));
        c[i] = 0.1f * (lo[i] + hi[i]);
    }
}

static void test_presets(void **state) {
    (void)state;
    nv_features_params p;
    nv_error err = {0};
    for (int image = 0; image <= 1; image++) {
        for (int k = 0; k <= NV_FEATURES_PRESETS; k++) {
            nv_features_defaults(&p);
            p.seed = 77;
            assert_int_equal(nv_features_preset(k, image, &p, &err), NV_OK);
            assert_int_equal(nv_features_params_validate(&p, image ? 784 : 12, &err), NV_OK);
            assert_true(p.steps > 0 && p.lr > 0);
            assert_true(p.seed == 77); /* other fields are left alone */
            int blur = p.blur_every > 0 && p.blur_width > 0;
            if (!image) assert_true(!blur && p.jitter == 0); /* vectors: no picture */
            /* Each preset keeps the regularisers of its row of Yosinski et al.'s
             * Table 1 (re-tuned strengths): 1 blur + norm clip, 2 decay + norm clip,
             * 3 decay + blur, 4 blur + contribution clip; the default decay + blur.
             * Vectors have no blur: presets 1 and 4 take decay in its place. */
            int decay_for_blur = !image;
            switch (k) {
            case 0: assert_true(p.decay > 0 && blur == image && p.norm_pct == 0 && p.contrib_pct == 0); break;
            case 1: assert_true((p.decay > 0) == decay_for_blur && blur == image && p.norm_pct > 0 && p.contrib_pct == 0); break;
            case 2: assert_true(p.decay > 0 && !blur && p.norm_pct > 0 && p.contrib_pct == 0); break;
            case 3: assert_true(p.decay > 0 && blur == image && p.norm_pct == 0 && p.contrib_pct == 0); break;
            case 4: assert_true((p.decay > 0) == decay_for_blur && blur == image && p.norm_pct == 0 && p.contrib_pct > 0); break;
            }
        }
        assert_int_equal(nv_features_preset(NV_FEATURES_PRESETS + 1, image, &p, &err), NV_EINPUT);
        nv_error_clear(&err);
        assert_int_equal(nv_features_preset(-1, image, &p, &err), NV_EINPUT);
        nv_error_clear(&err);
    }
    /* A job's settings: the preset for the input's kind, the fields the user set. */
    nv_features_job job;
    memset(&job, 0, sizeof job);
    nv_features_defaults(&job.p);
    job.tuned = 1;
    job.preset = 3;
    job.p.steps = 17;
    job.p.decay = 0.5f;
    job.set = NV_FEAT_SET_STEPS;
    nv_features_params img = nv_features_job_params(&job, 784), vec = nv_features_job_params(&job, 12);
    nv_features_params want;
    nv_features_defaults(&want);
    assert_int_equal(nv_features_preset(3, 1, &want, &err), NV_OK);
    assert_true(img.steps == 17 && img.decay == want.decay && img.blur_width == want.blur_width);
    assert_true(img.img_h == 28 && img.img_w == 28 && vec.img_h == 0);
    assert_true(vec.blur_every == 0 || vec.blur_width == 0);
    job.tuned = 0; /* p as it is */
    img = nv_features_job_params(&job, 784);
    assert_true(img.steps == 17 && img.decay == 0.5f && img.img_h == 28);
}

static void exact_corner(nv_activation act, int L) {
    const int64_t w3[] = {12, 16, 8, 3}, w1[] = {12, 5};
    const int64_t *w = L == 1 ? w1 : w3;
    nv_mlp_spec s;
    nv_real *P = make_net(&s, L, w, act, 7);
    int64_t d = w[0], units = w[1];
    nv_real lo[12], hi[12], c[12];
    make_box(d, lo, hi, c, 3);
    nv_features_problem pb = {&s, P, 1, lo, hi, c, NULL};
    nv_features_params p;
    nv_features_defaults(&p);
    /* The step of input i is lr_t * span_i * |w_i| / max|w|: with lr 5 over 200
     * steps (sum of lr_t ~ 500 box widths) every input whose weight is at least
     * 1/500 of the largest crosses the whole box, so the corner is reached exactly
     * (the projection clamps to the bound's own float). */
    p.steps = 200;
    p.lr = 5.0f;
    nv_real *x = malloc((size_t)(units * d) * sizeof *x), act_out[16];
    nv_error err = {0};
    assert_int_equal(nv_features_ascend(&pb, &p, NV_DEVICE_CPU, x, act_out, NULL, &err), NV_OK);
    const nv_real *W = P + nv_mlp_weight_offset(&s, 0);
    for (int64_t u = 0; u < units; u++) {
        double best = P[nv_mlp_bias_offset(&s, 0) + u];
        float wmax = 0;
        for (int64_t i = 0; i < d; i++) wmax = fmaxf(wmax, fabsf(W[u * d + i]));
        for (int64_t i = 0; i < d; i++) {
            nv_real wi = W[u * d + i];
            nv_real want = wi > 0 ? hi[i] : lo[i];
            assert_true(fabsf(wi) >= wmax / 500); /* else the test net needs another seed */
            if (x[u * d + i] != want) fail_msg("unit %lld input %lld: %.9g, the optimum is %.9g (w %g)", (long long)u, (long long)i, (double)x[u * d + i], (double)want, (double)wi);
            best += (double)wi * want;
        }
        if (L > 1) best = act == NV_ACT_RELU ? fmax(best, 0) : tanh(best);
        assert_true(fabs(act_out[u] - best) <= 1e-5 * (1 + fabs(best)));
    }
    /* With L2 decay on, the optimum moves towards the centre but keeps its side. */
    p.decay = 0.05f;
    p.lr = 0.05f;
    assert_int_equal(nv_features_ascend(&pb, &p, NV_DEVICE_CPU, x, act_out, NULL, &err), NV_OK);
    for (int64_t u = 0; u < units; u++)
        for (int64_t i = 0; i < d; i++) {
            nv_real wi = W[u * d + i], v = x[u * d + i];
            assert_true(v >= lo[i] && v <= hi[i]);
            if (wi > 0) assert_true(v >= c[i]);
            if (wi < 0) assert_true(v <= c[i]);
        }
    free(x);
    free(P);
}

static void test_exact_optimum_relu(void **state) { (void)state; exact_corner(NV_ACT_RELU, 3); }
static void test_exact_optimum_tanh(void **state) { (void)state; exact_corner(NV_ACT_TANH, 3); }
static void test_exact_optimum_linear(void **state) { (void)state; exact_corner(NV_ACT_RELU, 1); }

static void test_grad_finite_differences(void **state) {
    (void)state;
    const int64_t w[] = {10, 12, 9, 4};
    nv_mlp_spec s;
    nv_real *P = make_net(&s, 3, w, NV_ACT_TANH, 11);
    int64_t d = 10;
    nv_real lo[10], hi[10], c[10];
    make_box(d, lo, hi, c, 5);
    for (int l = 1; l <= 3; l++) {
        nv_features_problem pb = {&s, P, l, lo, hi, c, NULL};
        int64_t n = w[l];
        nv_real *x = malloc((size_t)(n * d) * sizeof *x), *g = malloc((size_t)(n * d) * sizeof *g);
        nv_real z[16], *out = malloc((size_t)(2 * n) * sizeof *out), xx[2 * 10];
        int64_t units[16];
        for (int64_t r = 0; r < n; r++) {
            units[r] = r;
            for (int64_t i = 0; i < d; i++) x[r * d + i] = nv_rng_normal(l, NV_STREAM_TEST, (uint64_t)(r * d + i)) * 0.5f;
        }
        nv_error err = {0};
        assert_int_equal(nv_features_grad(&pb, x, n, units, g, z, &err), NV_OK);
        for (int64_t r = 0; r < n; r++)
            for (int64_t i = 0; i < d; i++) {
                const float h = 1e-2f;
                memcpy(xx, x + r * d, (size_t)d * sizeof *xx);
                memcpy(xx + d, x + r * d, (size_t)d * sizeof *xx);
                xx[i] += h;
                xx[d + i] -= h;
                nv_real zz[2 * 16];
                assert_int_equal(nv_features_eval(&pb, 1, xx, 2, zz, &err), NV_OK);
                double fd = ((double)zz[r] - (double)zz[n + r]) / (2.0 * h);
                if (!(fabs(fd - g[r * d + i]) <= 2e-3 + 2e-3 * fabs(fd)))
                    fail_msg("layer %d unit %lld input %lld: grad %.7g, finite difference %.7g", l, (long long)r, (long long)i, (double)g[r * d + i], fd);
            }
        free(x); free(g); free(out);
    }
    free(P);
}

/* An 8x8 "image" problem for the regulariser operations. */
static void image_problem(nv_mlp_spec *s, nv_real **P, nv_real *lo, nv_real *hi, nv_real *c) {
    const int64_t w[] = {64, 16, 6};
    *P = make_net(s, 2, w, NV_ACT_RELU, 21);
    for (int i = 0; i < 64; i++) { lo[i] = 0; hi[i] = 1; c[i] = 0.25f + 0.005f * i; }
}

static int cmp_f(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void test_ops(void **state) {
    (void)state;
    nv_mlp_spec s;
    nv_real *P, lo[64], hi[64], c[64];
    image_problem(&s, &P, lo, hi, c);
    nv_features_problem pb = {&s, P, 2, lo, hi, c, NULL};
    nv_features_params p;
    nv_features_defaults(&p);
    p.img_h = p.img_w = 8;
    p.blur_width = 1.0f;
    p.jitter = 2;
    p.seed = 3;
    const nv_features_ops *ops = nv_features_ops_cpu();
    void *ctx;
    nv_error err = {0};
    assert_int_equal(ops->create(&pb, &p, 4, &ctx, &err), NV_OK);
    nv_real x[4 * 64], y[4 * 64], t[4 * 64], g[4 * 64];
    /* Blur keeps an image whose u = x - c is constant (renormalised taps). */
    for (int i = 0; i < 4 * 64; i++) x[i] = c[i % 64] + 0.3f;
    assert_int_equal(ops->blur(ctx, x, t, 4, 1.0f, &err), NV_OK);
    for (int i = 0; i < 4 * 64; i++) assert_true(fabsf(x[i] - (c[i % 64] + 0.3f)) < 1e-6f);
    /* Shift by +offsets, then by -offsets: the identity. */
    for (int i = 0; i < 4 * 64; i++) x[i] = (nv_real)i;
    assert_int_equal(ops->shift(ctx, x, y, 4, 0, 5, 1, &err), NV_OK);
    assert_int_equal(ops->shift(ctx, y, t, 4, 0, 5, -1, &err), NV_OK);
    assert_memory_equal(x, t, sizeof x);
    int moved = memcmp(x, y, sizeof x) != 0;
    assert_true(moved);
    /* Clip at the 50th percentile of |u| of distinct values: exactly 32 clipped. */
    for (int i = 0; i < 4 * 64; i++) x[i] = c[i % 64] + 0.001f * (float)((i * 37) % 64) + 0.0005f;
    assert_int_equal(ops->clip(ctx, x, NULL, t, 4, 50.0f, &err), NV_OK);
    for (int r = 0; r < 4; r++) {
        int clipped = 0;
        for (int i = 0; i < 64; i++) clipped += x[r * 64 + i] == c[i];
        assert_int_equal(clipped, 32);
    }
    /* With ties (|u| from 5 levels) and every percentile: the clipped pixels are
     * exactly those below the k-th smallest (checked against a sort here). */
    for (int pct = 0; pct <= 100; pct += 7) {
        float v[64];
        for (int i = 0; i < 4 * 64; i++) x[i] = c[i % 64] + 0.01f * (float)((i * 13 + pct) % 5);
        for (int i = 0; i < 64; i++) v[i] = fabsf(x[i] - c[i]);
        qsort(v, 64, sizeof(float), cmp_f);
        float thr = v[nv_features_pct_rank((float)pct, 64)];
        int want = 0;
        for (int i = 0; i < 64; i++) want += fabsf(x[i] - c[i]) < thr;
        assert_int_equal(ops->clip(ctx, x, NULL, t, 4, (float)pct, &err), NV_OK);
        int clipped = 0;
        for (int i = 0; i < 64; i++) clipped += x[i] == c[i] && fabsf(0.01f * (float)((i * 13 + pct) % 5)) > 0;
        int zero_before = 0;
        for (int i = 0; i < 64; i++) zero_before += (i * 13 + pct) % 5 == 0;
        assert_int_equal(clipped + zero_before, want + (thr > 0 ? 0 : zero_before));
    }
    /* Contribution: |u * g| with g = 1 except one big entry: that one survives 90%. */
    for (int i = 0; i < 4 * 64; i++) { x[i] = c[i % 64] + 0.1f; g[i] = 1.0f + 0.01f * (i % 64); }
    assert_int_equal(ops->clip(ctx, x, g, t, 4, 90.0f, &err), NV_OK);
    for (int r = 0; r < 4; r++) {
        int kept = 0;
        for (int i = 0; i < 64; i++) kept += x[r * 64 + i] != c[i];
        assert_int_equal(kept, 64 - nv_features_pct_rank(90.0f, 64));
    }
    ops->destroy(ctx);
    free(P);
}

static void test_deterministic_and_batched(void **state) {
    (void)state;
    nv_mlp_spec s;
    nv_real *P, lo[64], hi[64], c[64];
    image_problem(&s, &P, lo, hi, c);
    for (int l = 1; l <= 2; l++) {
        nv_features_problem pb = {&s, P, l, lo, hi, c, NULL};
        nv_features_params p;
        nv_features_defaults(&p);
        nv_error err = {0};
        assert_int_equal(nv_features_preset(1, 1, &p, &err), NV_OK);
        p.contrib_pct = 30;
        p.decay = 0.01f;
        p.jitter = 1;
        p.img_h = p.img_w = 8;
        p.steps = 60;
        int64_t units = s.widths[l];
        nv_real *a = malloc((size_t)(units * 64) * sizeof *a), *b = malloc((size_t)(units * 64) * sizeof *b);
        nv_real za[16], zb[16];
        assert_int_equal(nv_features_ascend(&pb, &p, NV_DEVICE_CPU, a, za, NULL, &err), NV_OK);
        assert_int_equal(nv_features_ascend(&pb, &p, NV_DEVICE_CPU, b, zb, NULL, &err), NV_OK);
        assert_memory_equal(a, b, (size_t)(units * 64) * sizeof *a);
        assert_memory_equal(za, zb, (size_t)units * sizeof *za);
        /* Batches of one unit: the same ascent (no clipping here, whose decisions
         * could flip on a last-bit difference of a different sgemm blocking). */
        p.norm_pct = p.contrib_pct = 0;
        assert_int_equal(nv_features_ascend(&pb, &p, NV_DEVICE_CPU, a, za, NULL, &err), NV_OK);
        p.batch = 1;
        assert_int_equal(nv_features_ascend(&pb, &p, NV_DEVICE_CPU, b, zb, NULL, &err), NV_OK);
        nv_assert_close_f(b, a, units * 64, 1e-5, 1e-5, "batch 1 vs whole layer: inputs");
        nv_assert_close_f(zb, za, units, 1e-5, 1e-5, "batch 1 vs whole layer: objective");
        free(a);
        free(b);
    }
    free(P);
}

/* --- projections (analysis/features/projections.c) ---------------------------- */

/* An independent reference in double: the forward pass, then the signal s e_u sent
 * down with W^T and the rule at every activation. */
static void proj_reference(const nv_mlp_spec *s, const nv_real *P, int l, int pre, const nv_real *x,
                           int64_t u, int rule, double *out, double *seed) {
    double z[8][64], a[8][64], g[64], h[800];
    int L = s->nlayers;
    const nv_real *in = x;
    double ind[800];
    for (int64_t i = 0; i < s->widths[0]; i++) ind[i] = in[i];
    const double *prev = ind;
    for (int k = 1; k <= l; k++) {
        const nv_real *W = P + nv_mlp_weight_offset(s, k - 1), *b = P + nv_mlp_bias_offset(s, k - 1);
        for (int64_t o = 0; o < s->widths[k]; o++) {
            double acc = b[o];
            for (int64_t i = 0; i < s->widths[k - 1]; i++) acc += (double)W[o * s->widths[k - 1] + i] * prev[i];
            z[k][o] = acc;
            a[k][o] = k == L ? acc : s->act == NV_ACT_RELU ? fmax(acc, 0) : s->act == NV_ACT_TANH ? tanh(acc) : acc;
        }
        prev = a[k];
    }
    int through = l < L && !pre;
    double sd = through ? a[l][u] : z[l][u];
    *seed = sd;
#define DERIV(k, i) (s->act == NV_ACT_RELU ? (a[k][i] > 0 ? 1.0 : 0.0) : s->act == NV_ACT_TANH ? 1 - a[k][i] * a[k][i] : 1.0)
#define RULE(v, k, i) (rule == NV_PROJ_DECONVNET ? fmax(v, 0) : rule == NV_PROJ_GUIDED ? fmax((v) * DERIV(k, i), 0) : (v) * DERIV(k, i))
    for (int64_t o = 0; o < s->widths[l]; o++) g[o] = 0;
    g[u] = through ? RULE(sd, l, u) : sd;
    for (int k = l; k >= 1; k--) {
        const nv_real *W = P + nv_mlp_weight_offset(s, k - 1);
        int64_t win = s->widths[k - 1];
        for (int64_t i = 0; i < win; i++) {
            double acc = 0;
            for (int64_t o = 0; o < s->widths[k]; o++) acc += g[o] * W[o * win + i];
            h[i] = k > 1 ? RULE(acc, k - 1, i) : acc;
        }
        for (int64_t i = 0; i < win; i++) g[i] = h[i];
    }
    for (int64_t i = 0; i < s->widths[0]; i++) out[i] = g[i];
#undef RULE
#undef DERIV
}

static void test_projections_reference(void **state) {
    (void)state;
    const int64_t w[] = {10, 12, 9, 4};
    nv_activation acts[2] = {NV_ACT_RELU, NV_ACT_TANH};
    for (int ai = 0; ai < 2; ai++) {
        nv_mlp_spec s;
        nv_real *P = make_net(&s, 3, w, acts[ai], 31);
        for (int pre = 0; pre <= 1; pre++)
            for (int l = 1; l <= 3; l++) {
                int64_t n = 2 * w[l], d = w[0];
                nv_real *x = malloc((size_t)(n * d) * sizeof *x);
                nv_real *out = malloc((size_t)(n * NV_PROJ_RULES * d) * sizeof *out), seed[64];
                int64_t units[64];
                for (int64_t r = 0; r < n; r++) {
                    units[r] = r % w[l];
                    for (int64_t i = 0; i < d; i++)
                        x[r * d + i] = (i % 3 == 0) ? 0.0f : nv_rng_normal(40 + l, NV_STREAM_TEST, (uint64_t)(r * d + i));
                }
                nv_projection_problem pb = {&s, P, l, pre};
                nv_error err = {0};
                assert_int_equal(nv_projections_cpu(&pb, x, n, units, out, seed, &err), NV_OK);
                int nonzero = 0;
                for (int64_t r = 0; r < n; r++)
                    for (int rule = 0; rule < NV_PROJ_RULES; rule++) {
                        double ref[16], sd;
                        proj_reference(&s, P, l, pre, x + r * d, units[r], rule, ref, &sd);
                        assert_true(fabs(seed[r] - sd) <= 1e-5 * (1 + fabs(sd)));
                        for (int64_t i = 0; i < d; i++) {
                            double v = out[(r * NV_PROJ_RULES + rule) * d + i];
                            nonzero += v != 0;
                            if (!(fabs(v - ref[i]) <= 1e-5 + 1e-4 * fabs(ref[i])))
                                fail_msg("%s pre %d layer %d row %lld %s input %lld: %.7g, reference %.7g",
                                         nv_activation_name(acts[ai]), pre, l, (long long)r,
                                         nv_projection_rule_name(rule), (long long)i, v, ref[i]);
                        }
                    }
                assert_true(nonzero > 0);
                free(x);
                free(out);
            }
        free(P);
    }
    assert_string_equal(nv_projection_rule_name(NV_PROJ_DECONVNET), "deconvnet");
    assert_string_equal(nv_projection_rule_name(NV_PROJ_GUIDED), "guided");
    assert_string_equal(nv_projection_rule_name(NV_PROJ_GRADIENT), "gradient");
    assert_null(nv_projection_rule_name(3));
}

/* The analytic answer: a first-layer unit's projection is its objective times its
 * weight row, by every rule (relu hidden layer, and a linear model's logits), bit for
 * bit; and the gradient rule divided by the seed is the objective's gradient
 * (central finite differences on a tanh net). */
static void test_projections_analytic(void **state) {
    (void)state;
    const int64_t w3[] = {12, 16, 8, 3}, w1[] = {12, 5};
    for (int lin = 0; lin <= 1; lin++) {
        nv_mlp_spec s;
        nv_real *P = make_net(&s, lin ? 1 : 3, lin ? w1 : w3, NV_ACT_RELU, 13);
        int64_t units = s.widths[1], d = 12, n = 3 * units;
        nv_real *x = malloc((size_t)(n * d) * sizeof *x), *out = malloc((size_t)(n * 3 * d) * sizeof *out);
        nv_real seed[64];
        int64_t u[64];
        for (int64_t r = 0; r < n; r++) {
            u[r] = r % units;
            for (int64_t i = 0; i < d; i++) x[r * d + i] = nv_rng_normal(5, NV_STREAM_TEST, (uint64_t)(r * d + i));
        }
        nv_projection_problem pb = {&s, P, 1, 0};
        nv_error err = {0};
        assert_int_equal(nv_projections_cpu(&pb, x, n, u, out, seed, &err), NV_OK);
        const nv_real *W = P + nv_mlp_weight_offset(&s, 0);
        int active = 0;
        for (int64_t r = 0; r < n; r++) {
            if (!lin && seed[r] <= 0) continue; /* an inactive ReLU passes nothing */
            active++;
            for (int rule = 0; rule < NV_PROJ_RULES; rule++)
                for (int64_t i = 0; i < d; i++)
                    assert_true(out[(r * 3 + rule) * d + i] == seed[r] * W[u[r] * d + i]);
        }
        assert_true(active >= units);
        free(x);
        free(out);
        free(P);
    }
    const int64_t w[] = {10, 12, 9, 4};
    nv_mlp_spec s;
    nv_real *P = make_net(&s, 3, w, NV_ACT_TANH, 19);
    nv_real lo[10], hi[10], c[10];
    make_box(10, lo, hi, c, 5);
    for (int l = 1; l <= 3; l++) {
        int64_t n = w[l], d = 10;
        nv_real x[16 * 10], out[16 * 3 * 10], seed[16], xx[2 * 10], zz[2 * 16];
        int64_t u[16];
        for (int64_t r = 0; r < n; r++) {
            u[r] = r;
            for (int64_t i = 0; i < d; i++) x[r * d + i] = 0.5f * nv_rng_normal(l, NV_STREAM_TEST, (uint64_t)(r * d + i));
        }
        nv_projection_problem pb = {&s, P, l, 0};
        nv_features_problem fp = {&s, P, l, lo, hi, c, NULL};
        nv_error err = {0};
        assert_int_equal(nv_projections_cpu(&pb, x, n, u, out, seed, &err), NV_OK);
        for (int64_t r = 0; r < n; r++)
            for (int64_t i = 0; i < d; i++) {
                const float h = 1e-2f;
                memcpy(xx, x + r * d, sizeof(nv_real) * (size_t)d);
                memcpy(xx + d, x + r * d, sizeof(nv_real) * (size_t)d);
                xx[i] += h;
                xx[d + i] -= h;
                assert_int_equal(nv_features_eval(&fp, 0, xx, 2, zz, &err), NV_OK);
                double fd = ((double)zz[r] - (double)zz[n + r]) / (2.0 * h);
                double g = out[(r * 3 + NV_PROJ_GRADIENT) * d + i] / seed[r];
                if (!(fabs(fd - g) <= 2e-3 + 2e-3 * fabs(fd)))
                    fail_msg("layer %d unit %lld input %lld: gradient rule / seed %.7g, finite difference %.7g",
                             l, (long long)r, (long long)i, g, fd);
            }
    }
    free(P);
    /* Bad input. */
    nv_projection_problem bad = {&s, NULL, 4, 0};
    nv_error err = {0};
    int64_t u0 = 0;
    nv_real dummy[40];
    assert_int_equal(nv_projections_cpu(&bad, dummy, 1, &u0, dummy, NULL, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "layer 4"));
}

static void test_bad_params(void **state) {
    (void)state;
    nv_features_params p;
    nv_features_defaults(&p);
    nv_error err = {0};
    p.norm_pct = 120;
    assert_int_equal(nv_features_params_validate(&p, 64, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "norm percentile"));
    nv_features_defaults(&p);
    p.img_h = 5; p.img_w = 5;
    nv_error_clear(&err);
    assert_int_equal(nv_features_params_validate(&p, 64, &err), NV_EINPUT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_presets),
        cmocka_unit_test(test_exact_optimum_relu),
        cmocka_unit_test(test_exact_optimum_tanh),
        cmocka_unit_test(test_exact_optimum_linear),
        cmocka_unit_test(test_grad_finite_differences),
        cmocka_unit_test(test_ops),
        cmocka_unit_test(test_deterministic_and_batched),
        cmocka_unit_test(test_projections_reference),
        cmocka_unit_test(test_projections_analytic),
        cmocka_unit_test(test_bad_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
