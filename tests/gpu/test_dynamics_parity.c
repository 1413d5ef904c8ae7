/* test_dynamics_parity.c: every CUDA twin in cuda/dyn_kernels.cu against its CPU
 * reference in src/train/dyn_kernels.c on the same inputs (make test-gpu; the
 * CUDA-on-CPU toolchain runs it too). The contract (include/nerve/dyn_kernels.h)
 * fixes the order of every float sum and the twins use explicitly rounded
 * arithmetic, so every comparison is exact: atol 0, rtol 0, counts equal. Inputs
 * include NaN and infinities (the alarm and non-finite counts), a tail that is not a
 * multiple of the four lanes, and widths above one block of threads.
 * Exits 77 with a SKIP line where no CUDA device is usable.
 */
#include "gpu_testutil.h"

#include "nerve/dyn_kernels.h"
#include "nerve/kernels.h"
#include "nerve/rng.h"

static void fill_normal(float *v, int64_t n, uint64_t seed, float scale) {
    for (int64_t i = 0; i < n; i++) v[i] = scale * nv_rng_normal(seed, NV_STREAM_TEST, (uint64_t)i);
}


/* Equal bits, NaN equal to NaN. */
static void same_f(const float *a, const float *b, int64_t n, const char *what) {
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) && !(isnan(a[i]) && isnan(b[i])))
            fail_msg("%s: element %lld: gpu %.9g, cpu %.9g (exact expected)", what, (long long)i, (double)a[i],
                     (double)b[i]);
}

static void test_rows_and_units(void **state) {
    (void)state;
    enum { R = 67, C = 301 };
    static float x[R * C], y[R * C], z[R * C], c1[C], c2[C], c3[C], c4[C], g1[C], g2[C], g3[C], g4[C], rc[R], rg[R];
    fill_normal(x, R * C, 1, 1.0f);
    fill_normal(y, R * C, 2, 1.0f);
    fill_normal(z, R * C, 3, 0.01f);
    float *dx = dev_from(x, sizeof x), *dy = dev_from(y, sizeof y), *dz = dev_from(z, sizeof z);
    float *o1 = dev_from(NULL, sizeof g1), *o2 = dev_from(NULL, sizeof g2), *o3 = dev_from(NULL, sizeof g3),
          *o4 = dev_from(NULL, sizeof g4), *orow = dev_from(NULL, sizeof rg);
    nv_cpu_dyn_row_sumsq(x, R, C, rc);
    CHECK(nv_cuda_dyn_row_sumsq(dx, R, C, orow, NULL, err));
    to_host(rg, orow, sizeof rg);
    same_f(rg, rc, R, "row_sumsq (lane order)");
    nv_cpu_dyn_unit_stats(x, y, z, z, R, C, c1, c2, c3, c4);
    CHECK(nv_cuda_dyn_unit_stats(dx, dy, dz, dz, R, C, o1, o2, o3, o4, NULL, err));
    to_host(g1, o1, sizeof g1);
    to_host(g2, o2, sizeof g2);
    to_host(g3, o3, sizeof g3);
    to_host(g4, o4, sizeof g4);
    same_f(g1, c1, C, "unit_stats sum_act (rows in order)");
    same_f(g2, c2, C, "unit_stats n_active");
    same_f(g3, c3, C, "unit_stats influence (rounded product, then add)");
    same_f(g4, c4, C, "unit_stats sum |dz|");
    nv_cpu_dyn_unit_stats(NULL, y, NULL, NULL, R, C, NULL, c2, NULL, NULL); /* a subset */
    CHECK(nv_cuda_dyn_unit_stats(NULL, dy, NULL, NULL, R, C, NULL, o2, NULL, NULL, NULL, err));
    to_host(g2, o2, sizeof g2);
    same_f(g2, c2, C, "unit_stats n_active alone");
    nv_cpu_dyn_scale_copy(c1, z, C, 64.0f);
    CHECK(nv_cuda_dyn_scale_copy(o1, dz, C, 64.0f, NULL, err));
    to_host(g1, o1, sizeof g1);
    same_f(g1, c1, C, "scale_copy");
    nv_cuda_free(dx); nv_cuda_free(dy); nv_cuda_free(dz); nv_cuda_free(o1); nv_cuda_free(o2);
    nv_cuda_free(o3); nv_cuda_free(o4); nv_cuda_free(orow);
}

static void test_layer_stats(void **state) {
    (void)state;
    enum { O = 259, I = 33, N = O * I + O };
    static float g[N], before[N], after[N], w0[N], rc[O + 1], rg[O + 1];
    fill_normal(g, N, 4, 0.5f);
    g[7] = NAN;
    g[O * I + 3] = INFINITY;
    g[100] = -INFINITY;
    float *dg = dev_from(g, sizeof g), *drow = dev_from(NULL, sizeof rg);
    long long *scratch = dev_from(NULL, sizeof(long long) * 3 * (O + 1)), *dcounts = dev_from(NULL, 3 * sizeof(long long));
    double *dtotal = dev_from(NULL, sizeof(double));
    for (int pass = 0; pass < 2; pass++) {
        float abs_thr = pass ? INFINITY : 0.7f, rel_thr = pass ? NAN : 0.3f;
        double tc, tg;
        int64_t cc[3];
        long long cg[3];
        nv_cpu_dyn_grad_stats(g, O, I, abs_thr, rel_thr, rc, &tc, cc);
        CHECK(nv_cuda_dyn_grad_stats(dg, O, I, abs_thr, rel_thr, drow, scratch, dtotal, dcounts, NULL, err));
        to_host(rg, drow, sizeof rg);
        to_host(&tg, dtotal, sizeof tg);
        to_host(cg, dcounts, sizeof cg);
        same_f(rg, rc, O, "grad_stats row sums");
        assert_true(memcmp(&tg, &tc, sizeof tc) == 0 || (isnan(tg) && isnan(tc)));
        for (int k = 0; k < 3; k++) assert_int_equal(cg[k], cc[k]);
    }
    fill_normal(before, N, 5, 1.0f);
    fill_normal(w0, N, 6, 1.0f);
    for (int i = 0; i < N; i++) after[i] = before[i] - 0.001f * g[i];
    float *db = dev_from(before, sizeof before), *da = dev_from(after, sizeof after), *d0 = dev_from(w0, sizeof w0);
    float *sq = dev_from(NULL, sizeof(float) * 4 * (O + 1));
    long long *nfs = dev_from(NULL, sizeof(long long) * (O + 1)), *dnf = dev_from(NULL, sizeof(long long));
    double *dsums = dev_from(NULL, 4 * sizeof(double));
    for (int with0 = 0; with0 < 2; with0++) {
        double sc[4], sg[4];
        int64_t nc;
        long long ng;
        nv_cpu_dyn_update_stats(before, after, with0 ? w0 : NULL, O, I, rc, sc, &nc);
        CHECK(nv_cuda_dyn_update_stats(db, da, with0 ? d0 : NULL, O, I, drow, sq, nfs, dsums, dnf, NULL, err));
        to_host(rg, drow, sizeof rg);
        to_host(sg, dsums, sizeof sg);
        to_host(&ng, dnf, sizeof ng);
        same_f(rg, rc, O, "update_stats row sums of the update");
        for (int q = 0; q < 4; q++)
            if (memcmp(&sg[q], &sc[q], sizeof sc[q]) && !(isnan(sg[q]) && isnan(sc[q])))
                fail_msg("update_stats sum %d: gpu %.17g, cpu %.17g (exact expected)", q, sg[q], sc[q]);
        assert_int_equal(ng, nc);
    }
    nv_cuda_free(dg); nv_cuda_free(drow); nv_cuda_free(scratch); nv_cuda_free(dcounts); nv_cuda_free(dtotal);
    nv_cuda_free(db); nv_cuda_free(da); nv_cuda_free(d0); nv_cuda_free(sq); nv_cuda_free(nfs); nv_cuda_free(dnf);
    nv_cuda_free(dsums);
}

int main(void) {
    int rc = nv_test_gpu_skip("the dynamics kernel parity");
    if (rc) return rc;
    char why[512];
    nv_cuda_status(why, sizeof why);
    printf("device: %s\n", why);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_and_units),
        cmocka_unit_test(test_layer_stats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
