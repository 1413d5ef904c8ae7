/* test_kernels_parity.c: every CUDA twin in cuda/kernels.cu against its CPU
 * reference in src/train/kernels.c on the same inputs (make test-gpu). Tolerances,
 * |gpu - cpu| <= atol + rtol*|cpu|, are stated per kernel with the reason:
 *   exact (0, 0): selects, plain adds and copies, and sums in the same order;
 *   transcendental (tanhf, expf, logf): CUDA's are within 2 ulp, glibc's within 1;
 *   a*b+c: nvcc contracts it into one fma (one rounding instead of two).
 * Exits 77 with a SKIP line where no CUDA device is usable.
 */
#include "gpu_testutil.h"

#include "nerve/kernels.h"
#include "nerve/rng.h"

static void fill_normal(float *v, int64_t n, uint64_t seed, float scale) {
    for (int64_t i = 0; i < n; i++) v[i] = scale * nv_rng_normal(seed, NV_STREAM_TEST, (uint64_t)i);
}

/* Device buffer helpers that fail the test with the library's message. */

static void test_bias(void **state) {
    (void)state;
    enum { R = 67, C = 33 };
    float z[R * C], b[C], zc[R * C], zg[R * C], dbc[C], dbg[C];
    fill_normal(z, R * C, 1, 1.0f);
    fill_normal(b, C, 2, 1.0f);
    float *dz = dev_from(z, sizeof z), *db = dev_from(b, sizeof b), *dg = dev_from(NULL, sizeof dbg);
    memcpy(zc, z, sizeof z);
    nv_cpu_bias_add(zc, b, R, C);
    CHECK(nv_cuda_bias_add(dz, db, R, C, NULL, err));
    to_host(zg, dz, sizeof zg);
    nv_assert_close_f(zg, zc, R * C, 0, 0, "bias_add (exact: one add)");
    nv_cpu_bias_grad(dbc, z, R, C);
    float *dz0 = dev_from(z, sizeof z);
    CHECK(nv_cuda_bias_grad(dg, dz0, R, C, NULL, err));
    to_host(dbg, dg, sizeof dbg);
    nv_assert_close_f(dbg, dbc, C, 0, 0, "bias_grad (exact: the same row order)");
    nv_cuda_free(dz); nv_cuda_free(db); nv_cuda_free(dg); nv_cuda_free(dz0);
}

static void check_act(nv_activation act, float slope, double atol_f, double rtol_f, double atol_b,
                      double rtol_b) {
    enum { N = 10007 };
    static float x[N], g[N], yc[N], yg[N], dc[N], dg[N];
    fill_normal(x, N, 10 + (uint64_t)act, 3.0f);
    fill_normal(g, N, 20 + (uint64_t)act, 1.0f);
    x[0] = 0.0f; /* the kink */
    float *dx = dev_from(x, sizeof x), *dy = dev_from(NULL, sizeof yg), *dgr = dev_from(g, sizeof g),
          *ddx = dev_from(NULL, sizeof dg);
    nv_cpu_act_forward(act, slope, x, yc, N);
    CHECK(nv_cuda_act_forward(act, slope, dx, dy, N, NULL, err));
    to_host(yg, dy, sizeof yg);
    char what[80];
    snprintf(what, sizeof what, "%s forward", nv_activation_name(act));
    nv_assert_close_f(yg, yc, N, atol_f, rtol_f, what);
    /* the backward from the CPU's outputs, so only the backward differs */
    nv_cpu_act_backward(act, slope, x, yc, g, dc, N);
    float *dyc = dev_from(yc, sizeof yc);
    CHECK(nv_cuda_act_backward(act, slope, dx, dyc, dgr, ddx, N, NULL, err));
    to_host(dg, ddx, sizeof dg);
    snprintf(what, sizeof what, "%s backward", nv_activation_name(act));
    nv_assert_close_f(dg, dc, N, atol_b, rtol_b, what);
    nv_cuda_free(dx); nv_cuda_free(dy); nv_cuda_free(dgr); nv_cuda_free(ddx); nv_cuda_free(dyc);
}

static void test_activations(void **state) {
    (void)state;
    check_act(NV_ACT_RELU, 0, 0, 0, 0, 0);                   /* selects: exact */
    check_act(NV_ACT_LEAKY_RELU, 0.01f, 0, 0, 0, 0);         /* a select and one mul: exact */
    /* tanhf / expf within 2 ulp on the device and 1 on the host; in the backward
     * 1 - y*y is one fma on the device, which near |y| = 1 differs from the host's
     * two roundings by about |dy| * 2^-24 absolute */
    check_act(NV_ACT_TANH, 0, 1e-7, 1e-6, 1e-6, 1e-5);
    check_act(NV_ACT_SIGMOID, 0, 1e-7, 1e-6, 1e-6, 1e-5);
    check_act(NV_ACT_IDENTITY, 0, 0, 0, 0, 0);
}

static void test_softmax_xent(void **state) {
    (void)state;
    enum { R = 1000, K = 7 };
    static float z[R * K], lc[R], lg[R], dc[R * K], dg[R * K];
    static int32_t y[R], okc[R], okg[R];
    fill_normal(z, R * K, 30, 4.0f);
    for (int r = 0; r < R; r++) y[r] = (int32_t)nv_rng_below(31, NV_STREAM_TEST, (uint64_t)r, K);
    z[0] = 1000.0f; /* stability */
    float *dz = dev_from(z, sizeof z), *dl = dev_from(NULL, sizeof lg), *dd = dev_from(NULL, sizeof dg);
    int32_t *dy = dev_from(y, sizeof y), *dok = dev_from(NULL, sizeof okg);
    nv_cpu_softmax_xent(z, y, R, K, 1.0f / R, lc, okc, dc);
    CHECK(nv_cuda_softmax_xent(dz, dy, R, K, 1.0f / R, dl, dok, dd, NULL, err));
    to_host(lg, dl, sizeof lg);
    to_host(dg, dd, sizeof dg);
    to_host(okg, dok, sizeof okg);
    nv_assert_close_f(lg, lc, R, 1e-6, 1e-5, "row loss (expf, logf within 2 ulp)");
    nv_assert_close_f(dg, dc, R * K, 1e-9, 1e-5, "dlogits");
    assert_memory_equal(okg, okc, sizeof okc);
    /* the reduction: one block's fixed tree in double vs the CPU's sequential sum */
    double *dsum = dev_from(NULL, sizeof(double)), gsum;
    long long *dcnt = dev_from(NULL, sizeof(long long)), gcnt;
    int *dbad = dev_from(NULL, sizeof(int)), bad = 0;
    CHECK(nv_cuda_upload(dbad, &bad, sizeof bad, err));
    CHECK(nv_cuda_reduce_loss(dl, dok, R, dsum, dcnt, dbad, 5, NULL, err));
    to_host(&gsum, dsum, sizeof gsum);
    to_host(&gcnt, dcnt, sizeof gcnt);
    to_host(&bad, dbad, sizeof bad);
    double csum = nv_cpu_sum_f64(lg, R);
    assert_true(fabs(gsum - csum) <= 1e-12 * fabs(csum));
    assert_int_equal(gcnt, nv_cpu_count_nonzero(okc, R));
    assert_int_equal(bad, 0);
    /* a NaN marks the flag with the step, and a later mark does not overwrite it */
    float nanv = NAN;
    CHECK(nv_cuda_upload(dl + 17, &nanv, sizeof nanv, err));
    CHECK(nv_cuda_reduce_loss(dl, NULL, R, dsum, NULL, dbad, 5, NULL, err));
    CHECK(nv_cuda_reduce_loss(dl, NULL, R, dsum, NULL, dbad, 6, NULL, err));
    to_host(&bad, dbad, sizeof bad);
    assert_int_equal(bad, 5);
    nv_cuda_free(dz); nv_cuda_free(dl); nv_cuda_free(dd); nv_cuda_free(dy); nv_cuda_free(dok);
    nv_cuda_free(dsum); nv_cuda_free(dcnt); nv_cuda_free(dbad);
}

static void test_gather(void **state) {
    (void)state;
    enum { N = 500, D = 13, B = 64 };
    static float x[N * D], oc[B * D], og[B * D];
    int32_t y[N], yc[B], yg[B];
    uint32_t idx[B];
    fill_normal(x, N * D, 40, 1.0f);
    for (int i = 0; i < N; i++) y[i] = i % 3;
    for (int i = 0; i < B; i++) idx[i] = nv_rng_below(41, NV_STREAM_TEST, (uint64_t)i, N);
    float *dx = dev_from(x, sizeof x), *dout = dev_from(NULL, sizeof og);
    int32_t *dy = dev_from(y, sizeof y), *dyo = dev_from(NULL, sizeof yg);
    uint32_t *didx = dev_from(idx, sizeof idx);
    nv_cpu_gather_rows(x, y, D, idx, B, oc, yc);
    CHECK(nv_cuda_gather_rows(dx, dy, D, didx, B, dout, dyo, NULL, err));
    to_host(og, dout, sizeof og);
    to_host(yg, dyo, sizeof yg);
    assert_memory_equal(og, oc, sizeof oc);
    assert_memory_equal(yg, yc, sizeof yc);
    nv_cuda_free(dx); nv_cuda_free(dout); nv_cuda_free(dy); nv_cuda_free(dyo); nv_cuda_free(didx);
}

/* A few optimiser steps on both sides from the same state and gradients. */
static void test_optimisers(void **state) {
    (void)state;
    enum { N = 4099, T = 4 };
    static float w[N], m[N], v[N], g[T][N], wg[N], mg[N], vg[N], gg[N];
    for (int kind = 0; kind < 2; kind++) {
        fill_normal(w, N, 50, 1.0f);
        memset(m, 0, sizeof m);
        memset(v, 0, sizeof v);
        for (int t = 0; t < T; t++) fill_normal(g[t], N, 60 + (uint64_t)t, t == 1 ? 1e-4f : 1.0f);
        float *dw = dev_from(w, sizeof w), *dm = dev_from(m, sizeof m), *dv = dev_from(v, sizeof v),
              *dgr = dev_from(NULL, sizeof gg);
        int *dbad = dev_from(NULL, sizeof(int)), zero = 0, one = 1;
        CHECK(nv_cuda_upload(dbad, &zero, sizeof zero, err));
        for (int t = 1; t <= T; t++) {
            float gc[N];
            memcpy(gc, g[t - 1], sizeof gc);
            CHECK(nv_cuda_upload(dgr, gc, sizeof gc, err));
            nv_cpu_weight_decay(gc, w, 1e-2f, N);
            CHECK(nv_cuda_weight_decay(dgr, dw, 1e-2f, N, dbad, NULL, err));
            to_host(gg, dgr, sizeof gg);
            nv_assert_close_f(gg, gc, N, 1e-7, 1e-6, "weight decay (g + wd*w fused)");
            if (kind == 0) {
                nv_cpu_sgd_update(w, m, gc, N, 0.05f, 0.9f, t == 1);
                CHECK(nv_cuda_sgd_update(dw, dm, dgr, N, 0.05f, 0.9f, t == 1, dbad, NULL, err));
            } else {
                float ss, bc;
                nv_adam_factors(1e-2f, 0.9f, 0.999f, t, &ss, &bc);
                nv_cpu_adam_update(w, m, v, gc, N, 0.9f, 0.999f, 1e-8f, ss, bc);
                CHECK(nv_cuda_adam_update(dw, dm, dv, dgr, N, 0.9f, 0.999f, 1e-8f, ss, bc, dbad, NULL, err));
            }
        }
        to_host(wg, dw, sizeof wg);
        to_host(mg, dm, sizeof mg);
        nv_assert_close_f(wg, w, N, 1e-6, 1e-5, kind ? "adam params (fma)" : "sgd params (fma)");
        nv_assert_close_f(mg, m, N, 1e-7, 1e-5, kind ? "adam m" : "sgd momentum");
        if (kind) {
            to_host(vg, dv, sizeof vg);
            nv_assert_close_f(vg, v, N, 1e-12, 1e-5, "adam v");
        }
        /* the NaN guard: with the flag set the kernels leave everything alone */
        CHECK(nv_cuda_upload(dbad, &one, sizeof one, err));
        CHECK(nv_cuda_weight_decay(dgr, dw, 1e-2f, N, dbad, NULL, err));
        CHECK(nv_cuda_sgd_update(dw, dm, dgr, N, 0.05f, 0.9f, 0, dbad, NULL, err));
        CHECK(nv_cuda_adam_update(dw, dm, dv, dgr, N, 0.9f, 0.999f, 1e-8f, 0.1f, 1.0f, dbad, NULL, err));
        float w2[N];
        to_host(w2, dw, sizeof w2);
        assert_memory_equal(w2, wg, sizeof w2);
        nv_cuda_free(dw); nv_cuda_free(dm); nv_cuda_free(dv); nv_cuda_free(dgr); nv_cuda_free(dbad);
    }
}

int main(void) {
    int rc = nv_test_gpu_skip("the kernel parity");
    if (rc) return rc;
    char why[512];
    nv_cuda_status(why, sizeof why);
    printf("device: %s\n", why);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bias),     cmocka_unit_test(test_activations),
        cmocka_unit_test(test_softmax_xent), cmocka_unit_test(test_gather),
        cmocka_unit_test(test_optimisers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
