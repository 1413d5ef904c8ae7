/* test_query.c: the query engine's pieces that need no run (include/nerve/query.h):
 * the batched top-k of summed contributions (src/query/contrib.c) against a plain
 * sort of every group's sum (groups of one and of several rows, the bias column,
 * ties, NaN, each ranking, k above the number of groups, blocks of weights, thread
 * counts; the answers must be equal bit for bit), the device rule on the CPU, bad
 * problems; values as text (the fewest digits that read back, against the defining
 * loop over %.15g, %.16g and %.17g for every kind of double); the schema; and the
 * order seed of configs (train.order_seed: default, validation, the resolved text).
 * The tables and presets are tested against numpy and PyTorch on real runs
 * (tests/integration/query_*.py). */
#include <float.h>

#include "nerve/config.h"
#include "nerve/query.h"
#include "nerve/rng.h"
#include "testutil.h"

#include "topk_problem.h"


typedef struct {
    double s, v;
    int64_t g;
} scored;
static int cmp_scored(const void *x, const void *y) {
    const scored *a = x, *b = y;
    if (a->s != b->s) return a->s > b->s ? -1 : 1;
    return a->g < b->g ? -1 : a->g > b->g;
}

/* The reference: every group's sum in the documented order, sorted. */
static void naive(const nv_topk_problem *p, double *ov, int64_t *og) {
    const int64_t nc = p->c1 - p->c0;
    scored *sc = malloc(sizeof(scored) * (size_t)(p->ngroups + 1));
    for (int64_t r = p->r0; r < p->r1; r++)
        for (int64_t c = p->c0; c < p->c1; c++) {
            int64_t m = 0;
            for (int64_t g = 0; g < p->ngroups; g++) {
                double v = 0;
                for (int64_t j = p->start[g]; j < p->start[g + 1]; j++) {
                    double t = (double)p->dt[r * p->nrows + j] * (c < p->C ? (double)p->a[j * p->C + c] : 1.0);
                    v = j == p->start[g] ? t : v + t;
                }
                double s = p->by == NV_RANK_ABS ? fabs(v) : p->by == NV_RANK_POS ? v : -v;
                if (!isnan(s)) sc[m++] = (scored){s, v, g};
            }
            qsort(sc, (size_t)m, sizeof *sc, cmp_scored);
            const int64_t w = (r - p->r0) * nc + (c - p->c0);
            for (int i = 0; i < p->k; i++) {
                ov[w * p->k + i] = i < m ? sc[i].v : NAN;
                og[w * p->k + i] = i < m ? sc[i].g : -1;
            }
        }
    free(sc);
}

static void same(const nv_topk_problem *p, int threads, const char *what) {
    const int64_t nw = (p->r1 - p->r0) * (p->c1 - p->c0);
    double *v1 = malloc(sizeof(double) * (size_t)(nw * p->k)), *v2 = malloc(sizeof(double) * (size_t)(nw * p->k));
    int64_t *g1 = malloc(sizeof(int64_t) * (size_t)(nw * p->k)), *g2 = malloc(sizeof(int64_t) * (size_t)(nw * p->k));
    nv_error err = {0};
    if (nv_query_topk_cpu(p, threads, v1, g1, &err) != NV_OK) fail_msg("%s: %s", what, err.msg);
    naive(p, v2, g2);
    for (int64_t i = 0; i < nw * p->k; i++) {
        if (g1[i] != g2[i]) fail_msg("%s: entry %lld: group %lld, reference %lld", what, (long long)i, (long long)g1[i], (long long)g2[i]);
        if (memcmp(&v1[i], &v2[i], sizeof(double)) && !(isnan(v1[i]) && isnan(v2[i])))
            fail_msg("%s: entry %lld: value %.17g, reference %.17g", what, (long long)i, v1[i], v2[i]);
    }
    free(v1);
    free(v2);
    free(g1);
    free(g2);
}

static void test_topk_single(void **state) {
    (void)state;
    problem pb;
    make(&pb, 300, 1, 7, 9, 11, 0, 0);
    same(&pb.p, 1, "groups of one row, |v|");
    same(&pb.p, 3, "groups of one row, 3 threads");
    pb.p.by = NV_RANK_POS;
    same(&pb.p, 2, "by v");
    pb.p.by = NV_RANK_NEG;
    same(&pb.p, 2, "by -v");
    drop(&pb);
}

static void test_topk_groups(void **state) {
    (void)state;
    problem pb;
    make(&pb, 200, 4, 5, 6, 21, 0, 0);
    same(&pb.p, 2, "groups of 1..4 rows");
    pb.p.k = 1;
    same(&pb.p, 2, "k = 1");
    pb.p.k = 256;
    same(&pb.p, 2, "k above the number of groups: every group, then empty slots");
    drop(&pb);
}

static void test_topk_ties_nan(void **state) {
    (void)state;
    problem pb;
    make(&pb, 400, 1, 4, 8, 31, 1, 0);
    same(&pb.p, 2, "ties: the lower group first");
    drop(&pb);
    make(&pb, 300, 2, 4, 8, 41, 0, 1);
    same(&pb.p, 2, "NaN never enters");
    pb.p.by = NV_RANK_POS;
    same(&pb.p, 1, "NaN never enters, by v");
    drop(&pb);
}

static void test_topk_blocks(void **state) {
    (void)state;
    problem pb;
    make(&pb, 150, 2, 9, 7, 51, 0, 0);
    pb.p.r0 = 2;
    pb.p.r1 = 5;
    pb.p.c0 = 3;
    pb.p.c1 = 8; /* includes the bias column C = 7 */
    same(&pb.p, 2, "a block of weights with the bias");
    pb.p.c0 = 7;
    same(&pb.p, 1, "the bias column alone");
    /* the device rule: the CPU when asked, and AUTO on a problem too small for a GPU */
    const int64_t nw = (pb.p.r1 - pb.p.r0) * (pb.p.c1 - pb.p.c0);
    double *v = malloc(sizeof(double) * (size_t)(nw * pb.p.k));
    int64_t *g = malloc(sizeof(int64_t) * (size_t)(nw * pb.p.k));
    nv_error err = {0};
    nv_device_kind used = NV_DEVICE_AUTO;
    assert_int_equal(nv_query_topk(&pb.p, NV_DEVICE_CPU, 1, v, g, &used, NULL, &err), NV_OK);
    assert_int_equal(used, NV_DEVICE_CPU);
    assert_int_equal(nv_query_topk(&pb.p, NV_DEVICE_AUTO, 1, v, g, &used, NULL, &err), NV_OK);
    assert_int_equal(used, NV_DEVICE_CPU);
    free(v);
    free(g);
    drop(&pb);
}

static void test_topk_bad(void **state) {
    (void)state;
    problem pb;
    make(&pb, 10, 1, 3, 3, 61, 0, 0);
    double v[64];
    int64_t g[64];
    nv_error err = {0};
    pb.p.k = 0;
    assert_int_equal(nv_query_topk_cpu(&pb.p, 1, v, g, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "k = 0"));
    pb.p.k = 2;
    pb.p.c1 = 5; /* beyond the bias column */
    nv_error_clear(&err);
    assert_int_equal(nv_query_topk_cpu(&pb.p, 1, v, g, &err), NV_EINTERNAL);
    drop(&pb);
}

static void test_values(void **state) {
    (void)state;
    char buf[64];
    nv_qvalue v = {.type = NV_QREAL, .f = 0.1};
    assert_string_equal(nv_qvalue_text(&v, 1, buf, sizeof buf), "0.1");
    v.f = 1.0 / 3.0;
    assert_true(strtod(nv_qvalue_text(&v, 1, buf, sizeof buf), NULL) == 1.0 / 3.0);
    assert_string_equal(nv_qvalue_text(&v, 0, buf, sizeof buf), "0.333333");
    v.f = (double)0.1f * (double)0.7f; /* a product of two floats: exact in double */
    assert_true(strtod(nv_qvalue_text(&v, 1, buf, sizeof buf), NULL) == v.f);
    v.f = NAN;
    assert_string_equal(nv_qvalue_text(&v, 1, buf, sizeof buf), "nan");
    v = (nv_qvalue){.type = NV_QINT, .i = -42};
    assert_string_equal(nv_qvalue_text(&v, 1, buf, sizeof buf), "-42");
    v = (nv_qvalue){.type = NV_QNULL};
    assert_string_equal(nv_qvalue_text(&v, 1, buf, sizeof buf), "");
    /* integers: printf's digits, the extremes included */
    const int64_t ints[] = {0, 1, -1, 9, 10, -10, 123456789, INT64_MAX, INT64_MIN, -9223372036854775807LL};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        char want[32];
        snprintf(want, sizeof want, "%lld", (long long)ints[i]);
        v = (nv_qvalue){.type = NV_QINT, .i = ints[i]};
        assert_string_equal(nv_qvalue_text(&v, 1, buf, sizeof buf), want);
    }
}

/* The definition of the exact text of a double: the first of %.15g, %.16g, %.17g
 * that reads back as the value. nv_qvalue_text takes a shorter road to it. */
static void exact_ref(double x, char *buf, size_t len) {
    for (int p = 15; p <= 17; p++) {
        snprintf(buf, len, "%.*g", p, x);
        if (strtod(buf, NULL) == x) break;
    }
}

static void test_real_text_oracle(void **state) {
    (void)state;
    char got[64], want[64];
    /* the %g layout at its edges (fixed against exponent form, carries, signs) */
    const double edge[] = {1e16, 1.234e16, 12345678901234567.0, 1e17, 1e-4, 1.5e-5, 0.1, 0.3, 2.0 / 3.0,
                           9.9999999999999995e-5, 999999999999999.9, 9999999999999998.0, 0.5, -0.0, 0.0,
                           DBL_MIN, DBL_MAX, 4.9e-324, 1e300, 1e-290, 123.456, -7e22, 5e-324 * 3};
    for (size_t i = 0; i < sizeof edge / sizeof *edge; i++) {
        nv_qvalue v = {.type = NV_QREAL, .f = edge[i]};
        exact_ref(edge[i], want, sizeof want);
        assert_string_equal(nv_qvalue_text(&v, 1, got, sizeof got), want);
    }
    /* random doubles of the kinds queries print: any bits, products of two floats
     * (a contribution), sums of such products, short decimals, floats, powers of two */
    uint64_t r = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 200000; i++) {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        double x;
        const float f = (float)((double)(r >> 40) / 16777216.0 - 0.5), g = (float)((double)(r & 0xffffff) / 1048576.0);
        switch (i % 6) {
        case 0: memcpy(&x, &r, sizeof x); break;
        case 1: x = (double)f * (double)g; break;
        case 2: x = (double)f * (double)g + (double)g * (double)g * 1e-3; break;
        case 3: x = (double)(r % 1000000) / pow(10, (double)(r >> 60)); break;
        case 4: x = (double)f; break;
        default: x = ldexp(1.0, (int)(r % 2000) - 1000); break;
        }
        if (!isfinite(x)) continue;
        nv_qvalue v = {.type = NV_QREAL, .f = x};
        exact_ref(x, want, sizeof want);
        nv_qvalue_text(&v, 1, got, sizeof got);
        if (strcmp(got, want)) fail_msg("%a: %s, expected %s", x, got, want);
    }
}

static void test_schema(void **state) {
    (void)state;
    nv_qresult r;
    nv_error err = {0};
    assert_int_equal(nv_query_schema(&r, &err), NV_OK);
    assert_int_equal(r.ntables, 1);
    const nv_qtable *t = &r.table[0];
    int found = 0;
    for (int64_t i = 0; i < t->nrows; i++) {
        const nv_qvalue *row = t->cells + i * t->ncols;
        if (!strcmp(row[0].s, "contributions") && !strcmp(row[1].s, "value")) {
            found = 1;
            assert_non_null(strstr(row[3].s, "d_i[row] a_i[col]"));
        }
        assert_true(strlen(row[3].s) > 5); /* every column says what it is */
    }
    assert_true(found);
    nv_strbuf b = {0};
    nv_qtable_csv(t, &b);
    assert_non_null(strstr(nv_sb_str(&b), "table,column,type,meaning\n"));
    nv_sb_free(&b);
    nv_qresult_free(&r);
    nv_qresult_free(NULL);
}

static void test_order_seed(void **state) {
    (void)state;
    char *dir = nv_test_tmpdir("qseed");
    const char *base = "experiment = \"t\";\nseed = 4;\ntrain: { epochs = 1; };\n";
    nv_experiment *ex = calloc(1, sizeof *ex);
    nv_error err = {0};
    assert_int_equal(nv_config_load(nv_test_write_file(dir, "a.cfg", base), NULL, 0, ex, &err), NV_OK);
    assert_int_equal(ex->order_seed, 4); /* default: the seed */
    char *text = nv_config_resolved_text(ex);
    assert_null(strstr(text, "order_seed")); /* not written when it is the seed */
    free(text);
    const char *over[] = {"train: { order_seed = 9; };"};
    assert_int_equal(nv_config_load(nv_test_write_file(dir, "a.cfg", base), over, 1, ex, &err), NV_OK);
    assert_int_equal(ex->order_seed, 9);
    assert_int_equal(ex->seed, 4);
    text = nv_config_resolved_text(ex);
    assert_non_null(strstr(text, "  order_seed = 9;\n};\n"));
    /* the resolved text reads back to the same experiment */
    nv_experiment *ex2 = calloc(1, sizeof *ex2);
    assert_int_equal(nv_config_load(nv_test_write_file(dir, "b.cfg", text), NULL, 0, ex2, &err), NV_OK);
    assert_int_equal(ex2->order_seed, 9);
    free(text);
    free(ex2);
    const char *neg[] = {"train: { order_seed = -1; };"};
    nv_error_clear(&err);
    assert_int_equal(nv_config_load(nv_test_write_file(dir, "a.cfg", base), neg, 1, ex, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "train.order_seed"));
    const char *txt[] = {"train: { order_seed = \"x\"; };"};
    nv_error_clear(&err);
    assert_int_equal(nv_config_load(nv_test_write_file(dir, "a.cfg", base), txt, 1, ex, &err), NV_EINPUT);
    free(ex);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topk_single), cmocka_unit_test(test_topk_groups), cmocka_unit_test(test_topk_ties_nan),
        cmocka_unit_test(test_topk_blocks), cmocka_unit_test(test_topk_bad),    cmocka_unit_test(test_values), cmocka_unit_test(test_real_text_oracle),
        cmocka_unit_test(test_schema),      cmocka_unit_test(test_order_seed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
