/* test_blockpool.c: the writer's recycled memory (src/core/blockpool.h): a request
 * gets the smallest kept block that fits within twice its size, the pool keeps at
 * most its byte limit and NV_POOL_BLOCKS blocks (the oldest go first), and blocks
 * over the limit are not kept; nv_prefault leaves memory as it was. Leaks show
 * under `make SANITIZE=1`. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "core/blockpool.h"

static void *take(nv_block_pool *p, size_t size, size_t *got) {
    nv_error err = {0};
    int fresh = -1;
    const int kept = p->n;
    void *b = nv_pool_take(p, size, got, &fresh, &err);
    assert_non_null(b);
    assert_int_equal(fresh, p->n == kept); /* a kept block leaves the pool */
    assert_true(*got >= size);
    memset(b, 0x5a, size); /* the whole request is usable */
    return b;
}

static void test_reuse(void **state) {
    (void)state;
    nv_block_pool p;
    nv_pool_init(&p, 1 << 20);
    size_t g1, g2, g3, g;
    void *b1 = take(&p, 1000, &g1), *b2 = take(&p, 3000, &g2), *b3 = take(&p, 5000, &g3);
    assert_int_equal(g1, 1000);
    assert_int_equal(g3, 5000);
    nv_pool_give(&p, b3, g3);
    nv_pool_give(&p, b1, g1);
    nv_pool_give(&p, b2, g2);
    assert_int_equal(p.n, 3);
    assert_int_equal(p.bytes, 9000);
    /* 2600: 3000 is the smallest that fits (5000 is more than twice) */
    void *c = take(&p, 2600, &g);
    assert_ptr_equal(c, b2);
    assert_int_equal(g, 3000);
    /* 2400: 3000 is gone, 5000 is more than twice: a new block of the size asked */
    void *d = take(&p, 2400, &g);
    assert_true(d != b1 && d != b3);
    assert_int_equal(g, 2400);
    /* exactly the size kept */
    void *e = take(&p, 1000, &g);
    assert_ptr_equal(e, b1);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.bytes, 5000);
    nv_pool_give(&p, c, 3000);
    nv_pool_give(&p, d, 2400);
    nv_pool_give(&p, e, 1000);
    nv_pool_give(&p, NULL, 0);
    assert_int_equal(p.n, 4);
    nv_pool_free(&p);
}

static void test_limits(void **state) {
    (void)state;
    nv_block_pool p;
    nv_pool_init(&p, 10000);
    size_t g;
    /* over the limit: freed at once */
    void *big = take(&p, 20000, &g);
    nv_pool_give(&p, big, g);
    assert_int_equal(p.n, 0);
    /* 4000 + 4000, then 4000 more: the oldest goes */
    void *a = take(&p, 4000, &g), *b = take(&p, 4000, &g), *c = take(&p, 4000, &g);
    nv_pool_give(&p, a, 4000);
    nv_pool_give(&p, b, 4000);
    nv_pool_give(&p, c, 4000);
    assert_int_equal(p.n, 2);
    assert_int_equal(p.bytes, 8000);
    assert_ptr_equal(p.block[0], b);
    assert_ptr_equal(p.block[1], c);
    /* at most NV_POOL_BLOCKS blocks, however small */
    void *s[NV_POOL_BLOCKS + 2];
    size_t gs[NV_POOL_BLOCKS + 2];
    for (int i = 0; i < NV_POOL_BLOCKS + 2; i++) s[i] = take(&p, 100 + (size_t)i * 500, &gs[i]);
    assert_int_equal(gs[5], 4000); /* 2600 took one of the 4000s */
    for (int i = 0; i < NV_POOL_BLOCKS + 2; i++) nv_pool_give(&p, s[i], gs[i]);
    assert_true(p.n <= NV_POOL_BLOCKS);
    assert_true(p.bytes <= 10000);
    size_t sum = 0;
    for (int i = 0; i < p.n; i++) sum += p.size[i];
    assert_int_equal(sum, p.bytes);
    /* the newest are what is left */
    assert_int_equal(p.size[p.n - 1], 100 + (size_t)(NV_POOL_BLOCKS + 1) * 500);
    nv_pool_free(&p);
}

/* nv_prefault maps memory without changing it: a block half written keeps its
 * bytes, whether the call comes before, after or (async) during the writes; an
 * unaligned small block and NULL are accepted. */
static void test_prefault(void **state) {
    (void)state;
    const size_t n = (size_t)5 << 20;
    unsigned char *b = nv_malloc_huge(n, NULL);
    assert_non_null(b);
    nv_prefault_async(b, n);
    for (size_t i = 0; i < n / 2; i++) b[i] = (unsigned char)(i * 131u + 7u);
    nv_prefault(b, n);
    for (size_t i = n / 2; i < n; i++) b[i] = (unsigned char)(i * 131u + 7u);
    nv_prefault(b + 1, n - 1);
    for (size_t i = 0; i < n; i++)
        if (b[i] != (unsigned char)(i * 131u + 7u)) fail_msg("byte %zu changed", i);
    free(b);
    char *small = malloc(100);
    assert_non_null(small);
    memset(small, 'x', 100);
    nv_prefault(small + 3, 90);
    for (int i = 0; i < 100; i++) assert_int_equal(small[i], 'x');
    free(small);
    nv_prefault(NULL, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_reuse), cmocka_unit_test(test_limits),
                                       cmocka_unit_test(test_prefault)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
