/* test_blockpool.c: the writer's recycled memory (src/core/blockpool.h): a request
 * gets the smallest kept block that fits within twice its size, the pool keeps at
 * most its byte limit and NV_POOL_BLOCKS blocks (the oldest go first), and blocks
 * over the limit are not kept; nv_prefault leaves memory as it was, and maps it,
 * nv_prefault_async too (from a thread it could start in this process: a small
 * stack was refused here once, and nothing said so); nv_pool_prepare keeps a
 * mapped block for the next take. Leaks show under `make SANITIZE=1`. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

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

/* The pages of b[0..n) that are mapped (mincore); -1 where it cannot tell. */
static long resident(const void *b, size_t n) {
    const size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    const uintptr_t a = (uintptr_t)b / pg * pg;
    const size_t np = ((uintptr_t)b + n - a + pg - 1) / pg;
    unsigned char *v = malloc(np);
    if (!v) return -1;
    long r = 0;
    if (mincore((void *)a, np * pg, v) != 0) r = -1;
    else for (size_t i = 0; i < np; i++) r += v[i] & 1;
    free(v);
    return r;
}

static long pages(const void *b, size_t n) {
    const size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    const uintptr_t a = (uintptr_t)b / pg * pg;
    return (long)(((uintptr_t)b + n - a + pg - 1) / pg);
}

/* Whether this kernel maps memory on nv_prefault (MADV_POPULATE_WRITE, Linux 5.14). */
static int kernel_prefaults(void) {
    const size_t n = (size_t)2 << 20;
    void *b = nv_malloc_huge(n, NULL);
    if (!b) return 0;
    nv_prefault(b, n);
    const int ok = resident(b, n) == pages(b, n);
    free(b);
    return ok;
}

/* Waits up to 10 s for every page of b[0..n) to be mapped, touching none. */
static int mapped_soon(const void *b, size_t n) {
    for (int i = 0; i < 1000; i++) {
        if (resident(b, n) == pages(b, n)) return 1;
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    return 0;
}

/* Static TLS as large as a process with many libraries has: a thread's stack must
 * hold it, and nerve's (OpenBLAS and the rest) once made a 64 kB helper stack fail. */
static __thread volatile char big_tls[(size_t)256 << 10];

/* The helper thread runs and maps the block, without the caller touching it. */
static void test_prefault_async_maps(void **state) {
    (void)state;
    big_tls[sizeof big_tls - 1] = 1;
    if (!kernel_prefaults()) skip();
    /* a new mapping, so that nothing of it is mapped before (freed heap memory
     * handed out again would be) */
    const size_t n = (size_t)3 << 20;
    void *b = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(b != MAP_FAILED);
    assert_int_equal(resident(b, n), 0);
    nv_prefault_async(b, n);
    if (!mapped_soon(b, n)) fail_msg("nv_prefault_async mapped %ld of %ld pages", resident(b, n), pages(b, n));
    munmap(b, n);
}

/* nv_pool_prepare: the next take of that size (or one it fits) gets a kept block,
 * mapped by then; a size a kept block fits makes nothing new; small sizes and
 * sizes over the limit are left alone. */
static void test_prepare(void **state) {
    (void)state;
    nv_block_pool p;
    nv_pool_init(&p, (size_t)64 << 20);
    const size_t n = (size_t)3 << 20;
    nv_pool_prepare(&p, n);
    assert_int_equal(p.n, 1);
    nv_pool_prepare(&p, n - 1000); /* the kept block fits it */
    assert_int_equal(p.n, 1);
    nv_pool_prepare(&p, 1000);        /* under 1 MB */
    nv_pool_prepare(&p, (size_t)65 << 20); /* over the limit */
    assert_int_equal(p.n, 1);
    void *kept = p.block[0];
    if (kernel_prefaults() && !mapped_soon(kept, n)) fail_msg("the prepared block is not mapped");
    size_t got;
    void *b = take(&p, n - 1000, &got);
    assert_ptr_equal(b, kept);
    assert_int_equal(got, n);
    nv_pool_give(&p, b, got);
    nv_pool_free(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_reuse), cmocka_unit_test(test_limits),
                                       cmocka_unit_test(test_prefault), cmocka_unit_test(test_prefault_async_maps),
                                       cmocka_unit_test(test_prepare)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
