/* test_diagram.c: analysis/ph/diagram.c on cases small enough to work out by hand;
 * the random sweep against gudhi lives in tests/integration/diagram_gudhi.py. */
#include "testutil.h"

#include "nerve/diagram.h"

static nv_diagram make(const double *bd, int64_t n) {
    nv_diagram d;
    nv_error err = {0};
    assert_int_equal(nv_diagram_from_pairs(0, bd, n, &d, &err), NV_OK);
    return d;
}

static void assert_near(double got, double want) {
    if (isinf(want)) {
        assert_true(got == want);
        return;
    }
    if (!(fabs(got - want) <= 1e-12 + 1e-9 * fabs(want))) fail_msg("got %.17g, want %.17g", got, want);
}

static void test_from_ph_filters_dimension(void **state) {
    (void)state;
    nv_ph_pair pairs[] = {
        {0, 0.0f, 1.0f, -1, -1}, {0, 0.0f, INFINITY, -1, -1}, {1, 0.5f, 0.75f, -1, -1},
        {1, 0.25f, 2.0f, -1, -1}, {1, 1.0f, 1.0f, -1, -1},
    };
    nv_ph_result r = {.max_dim = 1, .n = 4, .count = 5, .pairs = pairs};
    nv_diagram d0, d1;
    nv_error err = {0};
    assert_int_equal(nv_diagram_from_ph(&r, 0, &d0, &err), NV_OK);
    assert_int_equal(nv_diagram_from_ph(&r, 1, &d1, &err), NV_OK);
    assert_int_equal(d0.count, 2);
    assert_int_equal(d1.count, 3);
    assert_int_equal(d1.dim, 1);
    assert_int_equal(nv_diagram_essential_count(&d0), 1);
    assert_true(d1.bars[0].birth == 0.5 && d1.bars[0].death == 0.75);
    nv_diagram_free(&d0);
    assert_int_equal(nv_diagram_from_ph(&r, 2, &d0, &err), NV_EINPUT);
    assert_int_equal(d0.count, 0); /* a failed constructor leaves an empty diagram */
    assert_null(d0.bars);
    nv_diagram_free(&d1);
    nv_diagram_free(NULL);
}

static void test_rejects_bad_bars(void **state) {
    (void)state;
    nv_diagram d;
    nv_error err = {0};
    double nan_bar[] = {0.0, NAN};
    assert_int_equal(nv_diagram_from_pairs(0, nan_bar, 1, &d, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "NaN"));
    nv_error_clear(&err);
    double flipped[] = {0.0, 1.0, 2.0, 1.0};
    assert_int_equal(nv_diagram_from_pairs(0, flipped, 2, &d, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "bar 1"));
    nv_error_clear(&err);
    double b[] = {INFINITY}, e[] = {INFINITY};
    assert_int_equal(nv_diagram_from_arrays(0, b, e, 1, &d, &err), NV_EINPUT);
    nv_error_clear(&err);
    assert_int_equal(nv_diagram_from_arrays(0, NULL, NULL, 0, &d, &err), NV_OK);
    assert_int_equal(d.count, 0);
    nv_diagram_free(&d);
}

static void test_betti(void **state) {
    (void)state;
    double bd[] = {0, 1, 0, INFINITY, 0.5, 2, 1, 1, 1, 3};
    nv_diagram d = make(bd, 5);
    /* half-open [birth, death): alive at birth, dead at death; (1,1) never alive */
    assert_int_equal(nv_diagram_betti_at(&d, -0.1), 0);
    assert_int_equal(nv_diagram_betti_at(&d, 0.0), 2);
    assert_int_equal(nv_diagram_betti_at(&d, 0.5), 3);
    assert_int_equal(nv_diagram_betti_at(&d, 1.0), 3); /* (0,1) died, (1,3) born */
    assert_int_equal(nv_diagram_betti_at(&d, 2.0), 2);
    assert_int_equal(nv_diagram_betti_at(&d, 1e9), 1);
    double grid[7] = {2.0, -0.1, 0.0, 0.5, 1.0, 1e9, INFINITY};
    int64_t curve[7];
    nv_error err = {0};
    assert_int_equal(nv_diagram_betti_curve(&d, grid, 7, curve, &err), NV_OK);
    for (int k = 0; k < 7; k++) assert_int_equal(curve[k], nv_diagram_betti_at(&d, grid[k]));
    double lin[5];
    assert_int_equal(nv_diagram_linspace(0.1, 0.7, 5, lin, &err), NV_OK);
    assert_true(lin[0] == 0.1 && lin[4] == 0.7);
    assert_near(lin[2], 0.4);
    assert_int_equal(nv_diagram_linspace(0, 1, 1, lin, &err), NV_EINPUT);
    nv_diagram_free(&d);
}

static void test_summaries(void **state) {
    (void)state;
    nv_error err = {0};
    double bd[] = {0, 1, 1, 2, 2, 2, 0, INFINITY};
    nv_diagram d = make(bd, 4);
    double v;
    assert_int_equal(nv_diagram_total_persistence(&d, 1.0, INFINITY, &v, &err), NV_OK);
    assert_near(v, 2.0);
    assert_int_equal(nv_diagram_total_persistence(&d, 2.0, 4.0, &v, &err), NV_OK);
    assert_near(v, 1 + 1 + 16);
    /* two equal lengths: ln 2, normalised 1; the diagonal bar has no weight */
    assert_int_equal(nv_diagram_entropy(&d, INFINITY, 0, &v, &err), NV_OK);
    assert_near(v, log(2.0));
    assert_int_equal(nv_diagram_entropy(&d, INFINITY, 1, &v, &err), NV_OK);
    assert_near(v, 1.0);
    /* essential truncated at 2: lengths 1, 1, 2 */
    assert_int_equal(nv_diagram_entropy(&d, 2.0, 0, &v, &err), NV_OK);
    assert_near(v, -(0.25 * log(0.25) * 2 + 0.5 * log(0.5)));
    /* essential born after the cut-off counts 0 */
    assert_int_equal(nv_diagram_total_persistence(&d, 1.0, -1.0, &v, &err), NV_OK);
    assert_near(v, 2.0);
    nv_diagram empty = {0};
    assert_int_equal(nv_diagram_entropy(&empty, INFINITY, 1, &v, &err), NV_OK);
    assert_near(v, 0.0);
    assert_int_equal(nv_diagram_total_persistence(&d, 0.0, INFINITY, &v, &err), NV_EINPUT);
    nv_diagram_free(&d);
}

static void test_distances_by_hand(void **state) {
    (void)state;
    nv_error err = {0};
    double v;
    /* one point (0, 4) against nothing: distance to the diagonal 2 */
    double one[] = {0, 4};
    nv_diagram a = make(one, 1), e = {0};
    assert_int_equal(nv_diagram_bottleneck(&a, &e, &v, &err), NV_OK);
    assert_near(v, 2.0);
    assert_int_equal(nv_diagram_wasserstein(&e, &a, 2.0, &v, &err), NV_OK);
    assert_near(v, 2.0);
    assert_int_equal(nv_diagram_bottleneck(&e, &e, &v, &err), NV_OK);
    assert_near(v, 0.0);
    /* (0,4) vs (1,6): L-inf cost 2, diagonal costs 2 and 2.5 -> bottleneck 2 */
    double two[] = {1, 6};
    nv_diagram b = make(two, 1);
    assert_int_equal(nv_diagram_bottleneck(&a, &b, &v, &err), NV_OK);
    assert_near(v, 2.0);
    assert_int_equal(nv_diagram_wasserstein(&a, &b, 1.0, &v, &err), NV_OK);
    assert_near(v, 2.0);
    /* two points each: cross matching is cheaper for W1, but bottleneck sees max */
    double p[] = {0, 10, 0, 2}, q[] = {0, 9, 5, 6};
    nv_diagram c = make(p, 2), d = make(q, 2);
    /* (0,10)-(0,9): 1; (0,2) to diag 1; (5,6) to diag 0.5 -> W1 2.5, bottleneck 1 */
    assert_int_equal(nv_diagram_bottleneck(&c, &d, &v, &err), NV_OK);
    assert_near(v, 1.0);
    assert_int_equal(nv_diagram_wasserstein(&c, &d, 1.0, &v, &err), NV_OK);
    assert_near(v, 2.5);
    assert_int_equal(nv_diagram_wasserstein(&c, &d, 2.0, &v, &err), NV_OK);
    assert_near(v, sqrt(1 + 1 + 0.25));
    /* symmetric, and zero against itself with duplicates */
    double w1, w2;
    assert_int_equal(nv_diagram_wasserstein(&d, &c, 1.0, &w1, &err), NV_OK);
    assert_near(w1, 2.5);
    double dup[] = {0, 1, 0, 1, 0, 1, 2, 2};
    nv_diagram g = make(dup, 4), h = make(dup, 3);
    assert_int_equal(nv_diagram_bottleneck(&g, &g, &v, &err), NV_OK);
    assert_near(v, 0.0);
    assert_int_equal(nv_diagram_wasserstein(&g, &h, 1.0, &w2, &err), NV_OK);
    assert_near(w2, 0.0); /* the extra points lie on the diagonal */
    nv_diagram_free(&a);
    nv_diagram_free(&b);
    nv_diagram_free(&c);
    nv_diagram_free(&d);
    nv_diagram_free(&g);
    nv_diagram_free(&h);
}

/* A pair whose cost fl(|b - b'|) is the answer, where fl(b - cost) > b': a
 * neighbour window computed without slack missed it and answered the diagonal
 * distance (8.73) instead of 2.11. Both orders, and shifted copies. */
static void test_bottleneck_window_rounding(void **state) {
    (void)state;
    nv_error err = {0};
    double hi_b[] = {2.5450191693767827, 20}, lo_b[] = {0.4348729035652743, 20};
    nv_diagram a = make(hi_b, 1), b = make(lo_b, 1);
    double want = fabs(2.5450191693767827 - 0.4348729035652743), v;
    assert_int_equal(nv_diagram_bottleneck(&a, &b, &v, &err), NV_OK);
    assert_true(v == want);
    assert_int_equal(nv_diagram_bottleneck(&b, &a, &v, &err), NV_OK);
    assert_true(v == want);
    /* many random pairs: the answer for one point each is min(max cost, max diag) */
    uint64_t s = 88172645463325252ull;
    for (int k = 0; k < 20000; k++) {
        double r[4];
        for (int i = 0; i < 4; i++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            r[i] = (double)(s >> 11) / 9007199254740992.0;
        }
        double p[2] = {10 * r[0], 10 * r[0] + 30 + r[1]}, q[2] = {10 * r[2], 10 * r[2] + 30 + r[3]};
        nv_diagram x = make(p, 1), y = make(q, 1);
        double c = fmax(fabs(p[0] - q[0]), fabs(p[1] - q[1]));
        double d = fmax(0.5 * (p[1] - p[0]), 0.5 * (q[1] - q[0]));
        assert_int_equal(nv_diagram_bottleneck(&x, &y, &v, &err), NV_OK);
        if (v != fmin(c, d)) fail_msg("pair %d: got %.17g, want %.17g", k, v, fmin(c, d));
        nv_diagram_free(&x);
        nv_diagram_free(&y);
    }
    nv_diagram_free(&a);
    nv_diagram_free(&b);
}

static void test_essential_convention(void **state) {
    (void)state;
    nv_error err = {0};
    double v;
    double a_bd[] = {0, 1, 0, INFINITY}, b_bd[] = {0, 1, 3, INFINITY};
    double c_bd[] = {0, INFINITY, 1, INFINITY};
    nv_diagram a = make(a_bd, 2), b = make(b_bd, 2), c = make(c_bd, 2);
    assert_int_equal(nv_diagram_bottleneck(&a, &b, &v, &err), NV_OK);
    assert_near(v, 3.0);
    assert_int_equal(nv_diagram_wasserstein(&a, &b, 2.0, &v, &err), NV_OK);
    assert_near(v, 3.0);
    /* one essential bar against two: infinite, and not an error */
    assert_int_equal(nv_diagram_bottleneck(&a, &c, &v, &err), NV_OK);
    assert_true(isinf(v));
    assert_int_equal(nv_diagram_wasserstein(&a, &c, 1.0, &v, &err), NV_OK);
    assert_true(isinf(v));
    /* an order < 1 is refused */
    assert_int_equal(nv_diagram_wasserstein(&a, &b, 0.5, &v, &err), NV_EINPUT);
    nv_diagram_free(&a);
    nv_diagram_free(&b);
    nv_diagram_free(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_from_ph_filters_dimension),
        cmocka_unit_test(test_rejects_bad_bars),
        cmocka_unit_test(test_betti),
        cmocka_unit_test(test_summaries),
        cmocka_unit_test(test_distances_by_hand),
        cmocka_unit_test(test_bottleneck_window_rounding),
        cmocka_unit_test(test_essential_convention),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
