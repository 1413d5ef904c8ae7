/* test_query_parity.c: the CUDA twin of the batched top-k of summed contributions
 * (cuda/contrib.cu) against its CPU reference (src/query/contrib.c,
 * nv_query_topk_cpu) on the same problems (make test-gpu; the CUDA-on-CPU toolchain
 * runs it too). The contract (include/nerve/query.h) fixes the order of every sum
 * and comparison and the twin rounds explicitly, so the answers must be equal bit
 * for bit: the same groups, the same doubles (atol 0, rtol 0). Problems: groups of
 * one row (an epoch) and of several, ties, NaN, each ranking, k above the number of
 * groups, a block of weights with the bias column, more weights than one block of
 * threads, and a layer the size of a Fashion-MNIST first layer's slice. Exits 77
 * with a SKIP line where no CUDA device is usable.
 */
#include "testutil.h"

#include "nerve/query.h"
#include "nerve/rng.h"

#include "topk_problem.h"


static void same(const nv_topk_problem *p, const char *what) {
    const int64_t nw = (p->r1 - p->r0) * (p->c1 - p->c0), m = nw * p->k;
    double *v1 = malloc(sizeof(double) * (size_t)m), *v2 = malloc(sizeof(double) * (size_t)m);
    int64_t *g1 = malloc(sizeof(int64_t) * (size_t)m), *g2 = malloc(sizeof(int64_t) * (size_t)m);
    nv_error err = {0};
    if (nv_query_topk_cpu(p, 2, v1, g1, &err) != NV_OK) fail_msg("%s: cpu: %s", what, err.msg);
    if (nv_query_topk_cuda(p, v2, g2, &err) != NV_OK) fail_msg("%s: cuda: %s", what, err.msg);
    for (int64_t i = 0; i < m; i++) {
        if (g1[i] != g2[i])
            fail_msg("%s: entry %lld: gpu group %lld, cpu %lld (exact expected)", what, (long long)i, (long long)g2[i],
                     (long long)g1[i]);
        if (memcmp(&v1[i], &v2[i], sizeof(double)) && !(isnan(v1[i]) && isnan(v2[i])))
            fail_msg("%s: entry %lld: gpu %.17g, cpu %.17g (exact expected)", what, (long long)i, v2[i], v1[i]);
    }
    free(v1);
    free(v2);
    free(g1);
    free(g2);
}

static void test_epoch(void **state) {
    (void)state;
    problem pb;
    make(&pb, 2000, 1, 11, 13, 101, 0, 0);
    same(&pb.p, "groups of one row, |v|");
    pb.p.by = NV_RANK_POS;
    same(&pb.p, "by v");
    pb.p.by = NV_RANK_NEG;
    same(&pb.p, "by -v");
    pb.p.k = 1;
    same(&pb.p, "k = 1");
    drop(&pb);
}

static void test_groups_ties_nan(void **state) {
    (void)state;
    problem pb;
    make(&pb, 500, 4, 6, 9, 201, 0, 0);
    same(&pb.p, "groups of 1..4 rows");
    pb.p.k = 256;
    same(&pb.p, "k above the number of groups");
    drop(&pb);
    make(&pb, 700, 1, 5, 7, 301, 1, 0);
    same(&pb.p, "ties");
    drop(&pb);
    make(&pb, 600, 2, 5, 7, 401, 0, 1);
    same(&pb.p, "NaN");
    drop(&pb);
}

static void test_blocks(void **state) {
    (void)state;
    problem pb;
    make(&pb, 300, 1, 40, 33, 501, 0, 0); /* 40 x 34 = 1360 weights: several blocks of threads */
    same(&pb.p, "a whole layer, several thread blocks");
    pb.p.r0 = 7;
    pb.p.r1 = 9;
    pb.p.c0 = 30;
    pb.p.c1 = 34;
    same(&pb.p, "a block of weights with the bias");
    drop(&pb);
    make(&pb, 6000, 1, 16, 785, 601, 0, 0); /* a slice of 784 -> 256 over 6000 samples */
    pb.p.k = 10;
    same(&pb.p, "a Fashion-MNIST-sized slice");
    drop(&pb);
}

int main(void) {
    int skip = nv_test_gpu_skip("the query top-k parity tests");
    if (skip) return skip;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_epoch),
        cmocka_unit_test(test_groups_ties_nan),
        cmocka_unit_test(test_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
