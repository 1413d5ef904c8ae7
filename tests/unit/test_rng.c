/* test_rng.c: the counter-based RNG of include/nerve/rng.h: Philox4x32-10 against
 * Random123's published known-answer vectors, then the derived draws (uniform,
 * below, normal, permutation) for range and moments. Its GPU twin is
 * tests/gpu/test_rng_gpu.c (the same draws, bit for bit, from a CUDA kernel). */
#include "testutil.h"

#include "nerve/rng.h"

/* Random123's kat_vectors for philox4x32_R(10): counter, key -> output. */
static void test_philox_known_answers(void **state) {
    (void)state;
    nv_u32x4 a = nv_philox4x32(0, 0, 0, 0, 0, 0);
    const uint32_t ea[4] = {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u};
    for (int i = 0; i < 4; i++) assert_int_equal(a.v[i], ea[i]);

    nv_u32x4 b = nv_philox4x32(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu,
                               0xffffffffu);
    const uint32_t eb[4] = {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu};
    for (int i = 0; i < 4; i++) assert_int_equal(b.v[i], eb[i]);

    /* the digits-of-pi vector */
    nv_u32x4 c = nv_philox4x32(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u,
                               0x299f31d0u);
    const uint32_t ec[4] = {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u};
    for (int i = 0; i < 4; i++) assert_int_equal(c.v[i], ec[i]);
}

static void test_stream_layout(void **state) {
    (void)state;
    /* element i is word i%4 of block i/4; streams and seeds differ */
    for (uint64_t i = 0; i < 64; i++) {
        nv_u32x4 blk = nv_rng_block(7, NV_STREAM_TEST, i >> 2);
        assert_int_equal(nv_rng_u32(7, NV_STREAM_TEST, i), blk.v[i & 3]);
    }
    int same_stream = 0, same_seed = 0;
    for (uint64_t i = 0; i < 256; i++) {
        same_stream += nv_rng_u32(7, NV_STREAM_TEST, i) == nv_rng_u32(7, NV_STREAM_INIT, i);
        same_seed += nv_rng_u32(7, NV_STREAM_TEST, i) == nv_rng_u32(8, NV_STREAM_TEST, i);
    }
    assert_true(same_stream <= 1);
    assert_true(same_seed <= 1);
    /* the high word of the index matters (epoch << 32 | position) */
    assert_int_not_equal(nv_rng_u32(7, NV_STREAM_TEST, 5), nv_rng_u32(7, NV_STREAM_TEST, 5 + (1ull << 34)));
}

static void test_uniform_range_and_mean(void **state) {
    (void)state;
    const int n = 200000;
    double sum = 0.0, sq = 0.0;
    float lo = 1.0f, hi = 0.0f;
    for (int i = 0; i < n; i++) {
        float u = nv_rng_uniform(1, NV_STREAM_TEST, (uint64_t)i);
        assert_true(u >= 0.0f && u < 1.0f);
        lo = u < lo ? u : lo;
        hi = u > hi ? u : hi;
        sum += u;
        sq += (double)u * u;
    }
    double mean = sum / n, var = sq / n - mean * mean;
    assert_true(fabs(mean - 0.5) < 0.005);       /* sd of the mean 0.00065 */
    assert_true(fabs(var - 1.0 / 12.0) < 0.002);
    assert_true(lo < 1e-4f && hi > 1.0f - 1e-4f);
    /* the edges: all-zero bits give 0, all-one bits stay below 1 */
    assert_true(nv_u32_to_unit(0) == 0.0f);
    assert_true(nv_u32_to_unit(0xffffffffu) < 1.0f);
    double o = nv_u64_to_open_unit(0, 0);
    assert_true(o > 0.0 && o <= 1.0);
    assert_true(nv_u64_to_open_unit(0xffffffffu, 0xffffffffu) <= 1.0);
}

static void test_below(void **state) {
    (void)state;
    const uint32_t n = 10;
    int counts[10] = {0};
    for (int i = 0; i < 100000; i++) {
        uint32_t k = nv_rng_below(3, NV_STREAM_TEST, (uint64_t)i, n);
        assert_true(k < n);
        counts[k]++;
    }
    for (uint32_t k = 0; k < n; k++) assert_true(counts[k] > 9500 && counts[k] < 10500);
    assert_int_equal(nv_rng_below(3, NV_STREAM_TEST, 0, 1), 0);
}

static void test_normal_moments(void **state) {
    (void)state;
    const int n = 200000;
    double s1 = 0, s2 = 0, s3 = 0, s4 = 0;
    for (int i = 0; i < n; i++) {
        double z = nv_rng_normal(5, NV_STREAM_TEST, (uint64_t)i);
        assert_true(isfinite(z));
        s1 += z; s2 += z * z; s3 += z * z * z; s4 += z * z * z * z;
    }
    double mean = s1 / n, var = s2 / n - mean * mean;
    assert_true(fabs(mean) < 0.01);         /* sd 0.0022 */
    assert_true(fabs(var - 1.0) < 0.015);   /* sd 0.0032 */
    assert_true(fabs(s3 / n) < 0.03);       /* skewness ~ 0 */
    assert_true(fabs(s4 / n - 3.0) < 0.08); /* kurtosis ~ 3 */
}

static void test_permutation(void **state) {
    (void)state;
    const uint32_t n = 1000;
    uint32_t *p = malloc(n * sizeof *p), *q = malloc(n * sizeof *q);
    char *seen = calloc(n, 1);
    nv_rng_permutation(11, NV_STREAM_SHUFFLE, 0, p, n);
    for (uint32_t i = 0; i < n; i++) {
        assert_true(p[i] < n);
        assert_int_equal(seen[p[i]], 0);
        seen[p[i]] = 1;
    }
    /* the same arguments give the same order; another base (epoch) another one */
    nv_rng_permutation(11, NV_STREAM_SHUFFLE, 0, q, n);
    assert_memory_equal(p, q, n * sizeof *p);
    nv_rng_permutation(11, NV_STREAM_SHUFFLE, 1ull << 32, q, n);
    int fixed = 0;
    for (uint32_t i = 0; i < n; i++) fixed += p[i] == q[i];
    assert_true(fixed < 20); /* ~1 expected by chance */
    /* first position is close to uniform over many seeds */
    int first_small = 0;
    for (uint64_t s = 0; s < 2000; s++) {
        uint32_t r[8];
        nv_rng_permutation(s, NV_STREAM_SHUFFLE, 0, r, 8);
        first_small += r[0] < 4;
    }
    assert_true(first_small > 900 && first_small < 1100);
    /* n = 0 and 1 are fine */
    nv_rng_permutation(1, NV_STREAM_SHUFFLE, 0, q, 1);
    assert_int_equal(q[0], 0);
    nv_rng_permutation(1, NV_STREAM_SHUFFLE, 0, q, 0);
    free(p);
    free(q);
    free(seen);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_philox_known_answers), cmocka_unit_test(test_stream_layout),
        cmocka_unit_test(test_uniform_range_and_mean), cmocka_unit_test(test_below),
        cmocka_unit_test(test_normal_moments), cmocka_unit_test(test_permutation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
