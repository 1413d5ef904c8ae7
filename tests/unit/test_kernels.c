/* test_kernels.c: the CPU reference kernels of include/nerve/kernels.h, each
 * against an independent oracle: every backward against central finite
 * differences of its forward, the loss against a double-precision log-sum-exp,
 * and the optimisers against PyTorch's update rules written out in double. The
 * CUDA twins are compared with these references in tests/gpu/test_kernels_parity.c.
 */
#include "testutil.h"

#include "nerve/kernels.h"
#include "nerve/rng.h"

/* Deterministic test inputs: normal draws scaled. */
static void fill_normal(float *v, int64_t n, uint64_t seed, float scale) {
    for (int64_t i = 0; i < n; i++) v[i] = scale * nv_rng_normal(seed, NV_STREAM_TEST, (uint64_t)i);
}

/* --- bias ------------------------------------------------------------------- */

static void test_bias_add_and_grad(void **state) {
    (void)state;
    enum { R = 7, C = 5 };
    float z[R * C], z0[R * C], b[C], dz[R * C], db[C];
    fill_normal(z0, R * C, 1, 1.0f);
    fill_normal(b, C, 2, 1.0f);
    fill_normal(dz, R * C, 3, 1.0f);
    memcpy(z, z0, sizeof z);
    nv_cpu_bias_add(z, b, R, C);
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) assert_true(z[r * C + c] == z0[r * C + c] + b[c]);
    /* bias_grad is the backward of bias_add: d/db_c of sum(dz * (z0 + b)) by finite
     * differences (exact in exact arithmetic; h large against float rounding) */
    nv_cpu_bias_grad(db, dz, R, C);
    const float h = 1e-2f;
    for (int c = 0; c < C; c++) {
        double lp = 0, lm = 0;
        float bp[C], bm[C];
        memcpy(bp, b, sizeof b);
        memcpy(bm, b, sizeof b);
        bp[c] += h;
        bm[c] -= h;
        float zp[R * C], zm[R * C];
        memcpy(zp, z0, sizeof z0);
        memcpy(zm, z0, sizeof z0);
        nv_cpu_bias_add(zp, bp, R, C);
        nv_cpu_bias_add(zm, bm, R, C);
        for (int i = 0; i < R * C; i++) {
            lp += (double)dz[i] * zp[i];
            lm += (double)dz[i] * zm[i];
        }
        float fd = (float)((lp - lm) / ((double)bp[c] - (double)bm[c]));
        nv_assert_close_f(&db[c], &fd, 1, 1e-4, 1e-3, "bias_grad vs finite differences");
    }
    /* and the order: column sums over rows in row order, bit for bit */
    for (int c = 0; c < C; c++) {
        float s = 0.0f;
        for (int r = 0; r < R; r++) s += dz[r * C + c];
        assert_true(s == db[c]);
    }
}

/* --- activations ---------------------------------------------------------------- */

static void check_activation_fd(nv_activation act, float slope) {
    enum { N = 400 };
    float x[N], y[N], g[N], dx[N];
    fill_normal(x, N, 10 + (uint64_t)act, 2.0f);
    fill_normal(g, N, 20 + (uint64_t)act, 1.0f);
    const float h = 1e-3f;
    /* keep the kinked activations away from their kink, where a difference quotient
     * straddles two slopes */
    for (int i = 0; i < N; i++)
        if (fabsf(x[i]) < 4 * h) x[i] = x[i] < 0 ? -0.1f : 0.1f;
    nv_cpu_act_forward(act, slope, x, y, N);
    nv_cpu_act_backward(act, slope, x, y, g, dx, N);
    float fd[N];
    for (int i = 0; i < N; i++) {
        float xp = x[i] + h, xm = x[i] - h, yp, ym;
        nv_cpu_act_forward(act, slope, &xp, &yp, 1);
        nv_cpu_act_forward(act, slope, &xm, &ym, 1);
        fd[i] = (float)((double)g[i] * ((double)yp - (double)ym) / ((double)xp - (double)xm));
    }
    char what[64];
    snprintf(what, sizeof what, "%s backward vs finite differences", nv_activation_name(act));
    nv_assert_close_f(dx, fd, N, 2e-4, 2e-3, what);
    /* in place (dx == dy) gives the same */
    float g2[N];
    memcpy(g2, g, sizeof g);
    nv_cpu_act_backward(act, slope, x, y, g2, g2, N);
    assert_memory_equal(g2, dx, sizeof dx);
}

static void test_activation_forward_values(void **state) {
    (void)state;
    const float x[5] = {-2.0f, -0.5f, 0.0f, 0.5f, 3.0f};
    float y[5];
    nv_cpu_act_forward(NV_ACT_RELU, 0, x, y, 5);
    const float relu[5] = {0, 0, 0, 0.5f, 3.0f};
    assert_memory_equal(y, relu, sizeof y);
    nv_cpu_act_forward(NV_ACT_LEAKY_RELU, 0.01f, x, y, 5);
    const float leaky[5] = {-2.0f * 0.01f, -0.5f * 0.01f, 0, 0.5f, 3.0f};
    assert_memory_equal(y, leaky, sizeof y);
    nv_cpu_act_forward(NV_ACT_TANH, 0, x, y, 5);
    for (int i = 0; i < 5; i++) {
        float ref = (float)tanh((double)x[i]);
        nv_assert_close_f(&y[i], &ref, 1, 1e-7, 1e-6, "tanh");
    }
    nv_cpu_act_forward(NV_ACT_SIGMOID, 0, x, y, 5);
    for (int i = 0; i < 5; i++) {
        float ref = (float)(1.0 / (1.0 + exp(-(double)x[i])));
        nv_assert_close_f(&y[i], &ref, 1, 1e-7, 1e-6, "sigmoid");
    }
    nv_cpu_act_forward(NV_ACT_IDENTITY, 0, x, y, 5);
    assert_memory_equal(y, x, sizeof y);
    /* PyTorch's choices at the kink: relu'(0) = 0, leaky'(0) = slope */
    float z = 0.0f, yz = 0.0f, one = 1.0f, d;
    nv_cpu_act_backward(NV_ACT_RELU, 0, &z, &yz, &one, &d, 1);
    assert_true(d == 0.0f);
    nv_cpu_act_backward(NV_ACT_LEAKY_RELU, 0.2f, &z, &yz, &one, &d, 1);
    assert_true(d == 0.2f);
}

static void test_activation_backward_fd(void **state) {
    (void)state;
    check_activation_fd(NV_ACT_RELU, 0.0f);
    check_activation_fd(NV_ACT_LEAKY_RELU, 0.01f);
    check_activation_fd(NV_ACT_LEAKY_RELU, 0.3f);
    check_activation_fd(NV_ACT_TANH, 0.0f);
    check_activation_fd(NV_ACT_SIGMOID, 0.0f);
    check_activation_fd(NV_ACT_IDENTITY, 0.0f);
}

/* --- softmax cross-entropy --------------------------------------------------------- */

static double xent_ref(const float *z, int32_t label, int64_t k) {
    double m = z[0];
    for (int64_t c = 1; c < k; c++) m = z[c] > m ? z[c] : m;
    double s = 0;
    for (int64_t c = 0; c < k; c++) s += exp((double)z[c] - m);
    return m + log(s) - (double)z[label];
}

static void test_softmax_xent_values(void **state) {
    (void)state;
    enum { R = 6, K = 4 };
    float z[R * K], loss[R];
    int32_t y[R] = {0, 1, 2, 3, 0, 2}, ok[R];
    fill_normal(z, R * K, 30, 3.0f);
    /* huge logits: a naive exp overflows; the max-subtracted form does not */
    z[4 * K + 0] = 1000.0f; z[4 * K + 1] = 999.0f; z[4 * K + 2] = -1000.0f; z[4 * K + 3] = 0.0f;
    z[5 * K + 0] = -800.0f; z[5 * K + 1] = -801.0f; z[5 * K + 2] = -800.0f; z[5 * K + 3] = -900.0f;
    nv_cpu_softmax_xent(z, y, R, K, 1.0f, loss, ok, NULL);
    for (int r = 0; r < R; r++) {
        float ref = (float)xent_ref(z + r * K, y[r], K);
        assert_true(isfinite(loss[r]));
        nv_assert_close_f(&loss[r], &ref, 1, 1e-6, 1e-5, "row loss vs double log-sum-exp");
        int arg = 0;
        for (int c = 1; c < K; c++) if (z[r * K + c] > z[r * K + arg]) arg = c;
        assert_int_equal(ok[r], arg == y[r]);
    }
    /* ties go to the first index (row 5: classes 0 and 2 equal) */
    assert_int_equal(ok[5], 0);
    int32_t y5 = 0;
    int32_t ok5;
    float l5;
    nv_cpu_softmax_xent(z + 5 * K, &y5, 1, K, 1.0f, &l5, &ok5, NULL);
    assert_int_equal(ok5, 1);
    /* the sum helpers */
    float v[3] = {1.0f, 2.5f, -0.5f};
    assert_true(nv_cpu_sum_f64(v, 3) == 3.0);
    int32_t f[4] = {0, 1, 1, 0};
    assert_int_equal(nv_cpu_count_nonzero(f, 4), 2);
}

static void test_softmax_xent_backward_fd(void **state) {
    (void)state;
    enum { R = 8, K = 5 };
    float z[R * K], loss[R], dz[R * K];
    int32_t y[R];
    fill_normal(z, R * K, 40, 2.0f);
    for (int r = 0; r < R; r++) y[r] = (int32_t)nv_rng_below(41, NV_STREAM_TEST, (uint64_t)r, K);
    const float scale = 1.0f / R; /* the mean loss */
    nv_cpu_softmax_xent(z, y, R, K, scale, loss, NULL, dz);
    float fd[R * K];
    const float h = 1e-2f;
    for (int i = 0; i < R * K; i++) {
        float zp[R * K], zm[R * K], lp[R], lm[R];
        memcpy(zp, z, sizeof z);
        memcpy(zm, z, sizeof z);
        zp[i] += h;
        zm[i] -= h;
        nv_cpu_softmax_xent(zp, y, R, K, scale, lp, NULL, NULL);
        nv_cpu_softmax_xent(zm, y, R, K, scale, lm, NULL, NULL);
        double dl = (nv_cpu_sum_f64(lp, R) - nv_cpu_sum_f64(lm, R)) / R;
        fd[i] = (float)(dl / ((double)zp[i] - (double)zm[i]));
    }
    nv_assert_close_f(dz, fd, R * K, 1e-4, 1e-2, "softmax-xent backward vs finite differences");
    /* each row of the gradient sums to zero (softmax minus one-hot) */
    for (int r = 0; r < R; r++) {
        double s = 0;
        for (int c = 0; c < K; c++) s += dz[r * K + c];
        assert_true(fabs(s) < 1e-6);
    }
    /* in place: dz may be the logits buffer */
    float zz[R * K];
    memcpy(zz, z, sizeof z);
    nv_cpu_softmax_xent(zz, y, R, K, scale, loss, NULL, zz);
    assert_memory_equal(zz, dz, sizeof dz);
}

/* --- gather ------------------------------------------------------------------------ */

static void test_gather(void **state) {
    (void)state;
    enum { N = 6, D = 3, B = 4 };
    float x[N * D], out[B * D];
    int32_t y[N] = {5, 4, 3, 2, 1, 0}, yo[B];
    for (int i = 0; i < N * D; i++) x[i] = (float)i;
    uint32_t idx[B] = {5, 0, 5, 2};
    nv_cpu_gather_rows(x, y, D, idx, B, out, yo);
    for (int i = 0; i < B; i++) {
        for (int c = 0; c < D; c++) assert_true(out[i * D + c] == x[idx[i] * D + c]);
        assert_int_equal(yo[i], y[idx[i]]);
    }
}

/* --- optimisers (PyTorch's rules, written out in double) ------------------------------ */

static void test_weight_decay(void **state) {
    (void)state;
    float g[3] = {1, 2, 3}, w[3] = {0.5f, -1, 2};
    nv_cpu_weight_decay(g, w, 0.1f, 3);
    const float ref[3] = {1.0f + 0.1f * 0.5f, 2.0f - 0.1f, 3.0f + 0.1f * 2.0f};
    nv_assert_close_f(g, ref, 3, 0, 1e-7, "weight decay");
}

static void test_sgd(void **state) {
    (void)state;
    enum { N = 50, T = 4 };
    const float lr = 0.05f, mom = 0.9f;
    float w[N], buf[N], g[T][N];
    double wr[N], br[N];
    fill_normal(w, N, 50, 1.0f);
    for (int t = 0; t < T; t++) fill_normal(g[t], N, 60 + (uint64_t)t, 1.0f);
    for (int i = 0; i < N; i++) { wr[i] = w[i]; br[i] = 0; buf[i] = 123.0f; /* ignored at step 1 */ }
    for (int t = 0; t < T; t++) {
        nv_cpu_sgd_update(w, buf, g[t], N, lr, mom, t == 0);
        for (int i = 0; i < N; i++) {
            /* PyTorch: buf = grad at the first step, buf = momentum*buf + grad after */
            br[i] = t == 0 ? g[t][i] : (double)mom * br[i] + g[t][i];
            wr[i] -= (double)lr * br[i];
        }
    }
    float wf[N], bf[N];
    for (int i = 0; i < N; i++) { wf[i] = (float)wr[i]; bf[i] = (float)br[i]; }
    nv_assert_close_f(w, wf, N, 1e-6, 1e-5, "sgd params");
    nv_assert_close_f(buf, bf, N, 1e-6, 1e-5, "sgd momentum buffer");
    /* no momentum: plain steps, the buffer untouched (may be NULL) */
    float w2[2] = {1.0f, -1.0f}, g2[2] = {0.5f, 0.25f};
    nv_cpu_sgd_update(w2, NULL, g2, 2, 0.1f, 0.0f, 1);
    assert_true(w2[0] == 1.0f - 0.1f * 0.5f && w2[1] == -1.0f - 0.1f * 0.25f);
}

static void test_adam(void **state) {
    (void)state;
    enum { N = 50, T = 5 };
    const float lr = 1e-2f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    float w[N], m[N] = {0}, v[N] = {0}, g[T][N];
    double wr[N], mr[N] = {0}, vr[N] = {0};
    fill_normal(w, N, 70, 1.0f);
    for (int t = 0; t < T; t++) fill_normal(g[t], N, 80 + (uint64_t)t, t == 2 ? 1e-3f : 1.0f);
    for (int i = 0; i < N; i++) wr[i] = w[i];
    for (int t = 1; t <= T; t++) {
        float ss, bc2s;
        nv_adam_factors(lr, b1, b2, t, &ss, &bc2s);
        nv_cpu_adam_update(w, m, v, g[t - 1], N, b1, b2, eps, ss, bc2s);
        double bc1 = 1 - pow(b1, t), bc2 = 1 - pow(b2, t);
        for (int i = 0; i < N; i++) {
            double gi = g[t - 1][i];
            mr[i] = b1 * mr[i] + (1 - (double)b1) * gi;
            vr[i] = b2 * vr[i] + (1 - (double)b2) * gi * gi;
            wr[i] -= (lr / bc1) * mr[i] / (sqrt(vr[i]) / sqrt(bc2) + eps);
        }
    }
    float wf[N], mf[N], vf[N];
    for (int i = 0; i < N; i++) { wf[i] = (float)wr[i]; mf[i] = (float)mr[i]; vf[i] = (float)vr[i]; }
    nv_assert_close_f(w, wf, N, 1e-6, 1e-5, "adam params");
    nv_assert_close_f(m, mf, N, 1e-7, 1e-5, "adam m");
    nv_assert_close_f(v, vf, N, 1e-9, 1e-5, "adam v");
    /* the first step moves every weight by about lr (the bias correction at work) */
    float w1[1] = {0.0f}, m1[1] = {0}, v1[1] = {0}, g1[1] = {0.3f}, ss, bc2s;
    nv_adam_factors(lr, b1, b2, 1, &ss, &bc2s);
    nv_cpu_adam_update(w1, m1, v1, g1, 1, b1, b2, eps, ss, bc2s);
    float want = -lr;
    nv_assert_close_f(w1, &want, 1, 1e-8, 1e-5, "adam first step");
}

/* The four-lane loops and the scalar tails compute the same bits: one call over
 * n elements equals n calls over one element (all scalar tail), for every kernel
 * that has a vector loop. */
static void test_vector_equals_scalar(void **state) {
    (void)state;
    enum { N = 23 };
    float x[N], y[N], g[N], a[N], b[N];
    fill_normal(x, N, 90, 2.0f);
    fill_normal(g, N, 91, 1.0f);
    x[3] = 0.0f;
    x[5] = -0.0f;
    x[7] = NAN;
    for (int act = 0; act <= NV_ACT_IDENTITY; act++) {
        nv_cpu_act_forward((nv_activation)act, 0.1f, x, a, N);
        for (int i = 0; i < N; i++) nv_cpu_act_forward((nv_activation)act, 0.1f, x + i, b + i, 1);
        assert_memory_equal(a, b, sizeof a);
        memcpy(y, a, sizeof y);
        nv_cpu_act_backward((nv_activation)act, 0.1f, x, y, g, a, N);
        for (int i = 0; i < N; i++) nv_cpu_act_backward((nv_activation)act, 0.1f, x + i, y + i, g + i, b + i, 1);
        assert_memory_equal(a, b, sizeof a);
    }
    /* NaN propagates through relu as in PyTorch (a diverging run must show it) */
    nv_cpu_act_forward(NV_ACT_RELU, 0, x, a, N);
    assert_true(isnan(a[7]));
    float bias[N];
    fill_normal(bias, N, 92, 1.0f);
    memcpy(a, x, sizeof a);
    nv_cpu_bias_add(a, bias, 1, N);
    for (int i = 0; i < N; i++) { b[i] = x[i]; nv_cpu_bias_add(b + i, bias + i, 1, 1); }
    assert_memory_equal(a, b, sizeof a);
    nv_cpu_bias_grad(a, g, 1, N);
    for (int i = 0; i < N; i++) nv_cpu_bias_grad(b + i, g + i, 1, 1);
    assert_memory_equal(a, b, sizeof a);
    /* optimisers, two steps each */
    float w1[N], w2[N], m1[N], m2[N], v1[N], v2[N];
    for (int kind = 0; kind < 3; kind++) {
        fill_normal(w1, N, 93, 1.0f);
        memcpy(w2, w1, sizeof w1);
        memset(m1, 0, sizeof m1); memset(m2, 0, sizeof m2);
        memset(v1, 0, sizeof v1); memset(v2, 0, sizeof v2);
        for (int t = 1; t <= 2; t++) {
            float gg[N], gs[N];
            fill_normal(gg, N, 94 + (uint64_t)t, 1.0f);
            memcpy(gs, gg, sizeof gg);
            nv_cpu_weight_decay(gg, w1, 0.01f, N);
            for (int i = 0; i < N; i++) nv_cpu_weight_decay(gs + i, w2 + i, 0.01f, 1);
            assert_memory_equal(gg, gs, sizeof gg);
            if (kind < 2) {
                float mom = kind == 0 ? 0.9f : 0.0f;
                nv_cpu_sgd_update(w1, m1, gg, N, 0.1f, mom, t == 1);
                for (int i = 0; i < N; i++) nv_cpu_sgd_update(w2 + i, m2 + i, gs + i, 1, 0.1f, mom, t == 1);
            } else {
                float ss, bc;
                nv_adam_factors(0.01f, 0.9f, 0.999f, t, &ss, &bc);
                nv_cpu_adam_update(w1, m1, v1, gg, N, 0.9f, 0.999f, 1e-8f, ss, bc);
                for (int i = 0; i < N; i++) nv_cpu_adam_update(w2 + i, m2 + i, v2 + i, gs + i, 1, 0.9f, 0.999f, 1e-8f, ss, bc);
            }
            assert_memory_equal(w1, w2, sizeof w1);
            assert_memory_equal(m1, m2, sizeof m1);
            assert_memory_equal(v1, v2, sizeof v1);
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bias_add_and_grad),
        cmocka_unit_test(test_activation_forward_values),
        cmocka_unit_test(test_activation_backward_fd),
        cmocka_unit_test(test_softmax_xent_values),
        cmocka_unit_test(test_softmax_xent_backward_fd),
        cmocka_unit_test(test_gather),
        cmocka_unit_test(test_weight_decay),
        cmocka_unit_test(test_sgd),
        cmocka_unit_test(test_adam),
        cmocka_unit_test(test_vector_equals_scalar),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
