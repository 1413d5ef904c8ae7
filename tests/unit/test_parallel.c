/* test_parallel.c: every index runs exactly once, on any thread count, and the
 * first failure stops new work and is reported. */
#include "testutil.h"

#include <stdatomic.h>

#include "nerve/parallel.h"

static nv_status count(int64_t i, void *ctx, nv_error *err) {
    atomic_int *hits = ctx;
    atomic_fetch_add(&hits[i], 1);
    return NV_OK;
}

static nv_status fail_at_7(int64_t i, void *ctx, nv_error *err) {
    (void)ctx;
    if (i == 7) return nv_fail(err, NV_EINPUT, "item %lld failed", (long long)i);
    return NV_OK;
}

static void test_each_once(void **state) {
    (void)state;
    for (int threads = 1; threads <= 5; threads++) {
        atomic_int hits[100];
        for (int i = 0; i < 100; i++) atomic_init(&hits[i], 0);
        nv_error err = {0};
        assert_int_equal(nv_parallel_for(100, threads, count, hits, &err), NV_OK);
        for (int i = 0; i < 100; i++) assert_int_equal(atomic_load(&hits[i]), 1);
    }
    nv_error err = {0};
    assert_int_equal(nv_parallel_for(0, 3, count, NULL, &err), NV_OK);
}

static void test_failure(void **state) {
    (void)state;
    nv_error err = {0};
    assert_int_equal(nv_parallel_for(50, 3, fail_at_7, NULL, &err), NV_EINPUT);
    assert_string_equal(err.msg, "item 7 failed");
}

static void test_tasks(void **state) {
    (void)state;
    int owners[30] = {0};
    for (int t = 0; t < 4; t++)
        for (int k = 0; k < 30; k++) owners[k] += nv_task_owns(k, t, 4);
    for (int k = 0; k < 30; k++) assert_int_equal(owners[k], 1);
    assert_true(nv_task_owns(5, 0, 1));
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_each_once), cmocka_unit_test(test_failure),
                                       cmocka_unit_test(test_tasks)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
