/* test_rng_gpu.c: the RNG's GPU twin: draws made by a CUDA kernel
 * (nv_cuda_rng_u32 / nv_cuda_rng_normal in cuda/kernels.cu, the same
 * include/nerve/rng.h code compiled for the device) equal the CPU's bit for bit,
 * which is what lets a run shuffle and initialise identically on either backend.
 * Exits 77 with a SKIP line where no CUDA device is usable.
 */
#include "testutil.h"

#include "nerve/kernels.h"
#include "nerve/rng.h"

static void compare_stream(uint64_t seed, uint32_t sid, uint64_t base, int64_t n) {
    nv_error err = {0};
    uint32_t *hu = malloc((size_t)n * 4), *du = NULL;
    float *hn = malloc((size_t)n * 4), *dn = NULL;
    if (nv_cuda_malloc((void **)&du, (size_t)n * 4, &err) != NV_OK ||
        nv_cuda_malloc((void **)&dn, (size_t)n * 4, &err) != NV_OK ||
        nv_cuda_rng_u32(seed, sid, base, n, du, NULL, &err) != NV_OK ||
        nv_cuda_rng_normal(seed, sid, base, n, dn, NULL, &err) != NV_OK || nv_cuda_sync(&err) != NV_OK ||
        nv_cuda_download(hu, du, (size_t)n * 4, &err) != NV_OK ||
        nv_cuda_download(hn, dn, (size_t)n * 4, &err) != NV_OK)
        fail_msg("%s", err.msg);
    int64_t bad_u = 0, bad_n = 0;
    for (int64_t k = 0; k < n; k++) {
        uint32_t cu = nv_rng_u32(seed, sid, base + (uint64_t)k);
        float cn = nv_rng_normal(seed, sid, base + (uint64_t)k);
        if (hu[k] != cu && bad_u++ < 3)
            print_error("u32 draw %lld: GPU 0x%08x, CPU 0x%08x\n", (long long)k, hu[k], cu);
        if (memcmp(&hn[k], &cn, 4) != 0 && bad_n++ < 3)
            print_error("normal draw %lld: GPU %.9g, CPU %.9g\n", (long long)k, (double)hn[k], (double)cn);
    }
    if (bad_u || bad_n)
        fail_msg("seed %llu stream %u base %llu: %lld u32 and %lld normal draws differ of %lld",
                 (unsigned long long)seed, sid, (unsigned long long)base, (long long)bad_u,
                 (long long)bad_n, (long long)n);
    nv_cuda_free(du);
    nv_cuda_free(dn);
    free(hu);
    free(hn);
}

static void test_rng_bit_for_bit(void **state) {
    (void)state;
    compare_stream(0, NV_STREAM_TEST, 0, 1 << 20);
    compare_stream(12345, NV_STREAM_INIT, (3ull << 40), 1 << 18);               /* weight init indices */
    compare_stream(0xffffffffffffffffull, NV_STREAM_SHUFFLE, (7ull << 32), 1 << 18); /* epoch 7 */
}

static void test_known_answer_on_device(void **state) {
    (void)state;
    /* block 0 of seed 0 is philox(counter {0, 0, stream, "nerv"}, key {0, 0}); the
     * CPU side is checked against Random123's vectors in tests/unit/test_rng.c */
    nv_error err = {0};
    uint32_t *d = NULL, h[4];
    if (nv_cuda_malloc((void **)&d, 16, &err) != NV_OK || nv_cuda_rng_u32(0, 0, 0, 4, d, NULL, &err) != NV_OK ||
        nv_cuda_sync(&err) != NV_OK || nv_cuda_download(h, d, 16, &err) != NV_OK)
        fail_msg("%s", err.msg);
    nv_u32x4 c = nv_philox4x32(0, 0, 0, 0x6e657276u, 0, 0);
    for (int i = 0; i < 4; i++) assert_int_equal(h[i], c.v[i]);
    nv_cuda_free(d);
}

int main(void) {
    int rc = nv_test_gpu_skip("the GPU RNG check");
    if (rc) return rc;
    char why[512];
    nv_cuda_status(why, sizeof why);
    printf("device: %s\n", why);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answer_on_device),
        cmocka_unit_test(test_rng_bit_for_bit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
