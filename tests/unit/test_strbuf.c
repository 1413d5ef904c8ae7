/* test_strbuf.c: the shared text buffer (strbuf.h): appends of every kind land in
 * order, long formats grow the buffer, take hands over ownership and leaves the
 * buffer empty, and the whole-file reader returns the exact bytes. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "nerve/strbuf.h"

static void test_empty(void **state) {
    (void)state;
    nv_strbuf b = {0};
    assert_string_equal(nv_sb_str(&b), "");
    char *s = nv_sb_take(&b); /* "" rather than NULL: NULL means out of memory */
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);
    nv_sb_free(&b);
    nv_sb_free(NULL);
}

static void test_appends(void **state) {
    (void)state;
    nv_strbuf b = {0};
    nv_sb_puts(&b, "a");
    nv_sb_put(&b, "bcXX", 2);
    nv_sb_printf(&b, "-%d-%s-%.2f", 42, "x", 0.5);
    nv_sb_put(&b, "", 0);
    assert_string_equal(nv_sb_str(&b), "abc-42-x-0.50");
    assert_int_equal(b.len, strlen("abc-42-x-0.50"));
    assert_int_equal(b.oom, 0);
    char *s = nv_sb_take(&b);
    assert_string_equal(s, "abc-42-x-0.50");
    assert_null(b.s);
    assert_int_equal(b.len, 0);
    free(s);
}

/* A cleared buffer is empty, keeps its allocation, and takes appends again (also
 * after a failure: what failed was cleared with it). */
static void test_clear(void **state) {
    (void)state;
    nv_strbuf b = {0};
    nv_sb_puts(&b, "first line");
    const char *mem = b.s;
    nv_sb_clear(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(nv_sb_str(&b), "");
    assert_ptr_equal(b.s, mem);
    b.oom = 1;
    nv_sb_clear(&b);
    nv_sb_puts(&b, "second");
    assert_string_equal(nv_sb_str(&b), "second");
    nv_sb_free(&b);
    nv_sb_clear(&b); /* on an empty buffer too */
    assert_string_equal(nv_sb_str(&b), "");
}

/* Many small appends and one format longer than any initial capacity. */
static void test_growth(void **state) {
    (void)state;
    nv_strbuf b = {0};
    for (int i = 0; i < 10000; i++) nv_sb_printf(&b, "%d\n", i % 10);
    assert_int_equal(b.len, 20000);
    char big[100001];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    nv_sb_printf(&b, "<%s>", big);
    assert_int_equal(b.len, 20000 + 100002);
    assert_int_equal(b.s[20000], '<');
    assert_int_equal(b.s[b.len - 1], '>');
    assert_int_equal(b.s[b.len], '\0');
    assert_int_equal(b.s[9998], '9');
    nv_sb_free(&b);
    assert_null(b.s);
}

/* After a failure nothing more is appended and take refuses the truncated text. */
static void test_oom_sticks(void **state) {
    (void)state;
    nv_strbuf b = {0};
    nv_sb_puts(&b, "kept");
    b.oom = 1; /* as a failed realloc leaves it */
    nv_sb_puts(&b, "lost");
    nv_sb_printf(&b, "%s", "lost");
    assert_int_equal(b.len, 4);
    assert_null(nv_sb_take(&b));
    assert_null(b.s);
}

static void test_read_file(void **state) {
    (void)state;
    char path[300];
    snprintf(path, sizeof path, "%s/f.bin", nv_test_tmpdir("strbuf"));
    const char bytes[] = {'a', '\0', 'b', '\n'};
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(bytes, 1, sizeof bytes, f);
    fclose(f);
    size_t n = 0;
    char *d = nv_read_file(path, &n);
    assert_non_null(d);
    assert_int_equal(n, sizeof bytes);
    assert_memory_equal(d, bytes, sizeof bytes);
    assert_int_equal(d[n], '\0');
    free(d);
    remove(path);
    assert_null(nv_read_file(path, &n));
    *strrchr(path, '/') = '\0';
    rmdir(path);
}

/* nv_fmt_shortest: the shortest text that reads back to the same number. */
static void test_fmt_shortest(void **state) {
    (void)state;
    char b[64];
    nv_fmt_shortest(b, sizeof b, 0.001, 1, 0);
    assert_string_equal(b, "0.001");
    nv_fmt_shortest(b, sizeof b, (double)0.1f, 1, 1); /* the float's shortest */
    assert_string_equal(b, "0.1");
    nv_fmt_shortest(b, sizeof b, (double)0.1f, 1, 0); /* the double's */
    assert_string_equal(b, "0.10000000149011612");
    nv_fmt_shortest(b, sizeof b, 10.0, 1, 0);
    assert_string_equal(b, "1e+01");
    nv_fmt_shortest(b, sizeof b, 10.0, 6, 0);
    assert_string_equal(b, "10");
    nv_fmt_shortest(b, sizeof b, 1.0 / 3.0, 6, 0);
    assert_string_equal(b, "0.3333333333333333");
    nv_fmt_shortest(b, sizeof b, NAN, 1, 0);
    assert_string_equal(b, "nan");
    nv_fmt_shortest(b, sizeof b, -NAN, 6, 0);
    assert_string_equal(b, "nan");
    nv_fmt_shortest(b, sizeof b, -INFINITY, 1, 1);
    assert_string_equal(b, "-inf");
    nv_fmt_shortest(b, sizeof b, INFINITY, 6, 0);
    assert_string_equal(b, "inf");
    nv_fmt_shortest(b, sizeof b, -0.0, 1, 0);
    assert_string_equal(b, "-0");
    for (int i = 0; i < 2000; i++) { /* every output reads back */
        const double v = ldexp((double)(i * 2654435761u % 1000003u) + 0.5, i % 200 - 100);
        nv_fmt_shortest(b, sizeof b, v, 1, 0);
        assert_true(strtod(b, NULL) == v);
        nv_fmt_shortest(b, sizeof b, v, 1, 1);
        assert_true((float)strtod(b, NULL) == (float)v);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_empty), cmocka_unit_test(test_appends), cmocka_unit_test(test_clear),
                                       cmocka_unit_test(test_growth), cmocka_unit_test(test_oom_sticks),
                                       cmocka_unit_test(test_read_file), cmocka_unit_test(test_fmt_shortest)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
