/* test_phrun.c: the library side of `nerve ph RUN` (include/nerve/phrun.h) on a tiny
 * training run made here: defaults, refusals of bad input with NV_EINPUT and a
 * message naming the problem, the report of a first and a second call (idempotence,
 * calibration reuse), slices of a job array adding up to the whole, and the stored
 * diagrams against the engine run here on the same landmarks. The oracle
 * comparisons (ripser, numpy) are in tests/integration/phrun_*.py.
 */
#include "testutil.h"

#include <hdf5.h>
#include <sys/stat.h>

#include "nerve/config.h"
#include "nerve/metric.h"
#include "nerve/ph.h"
#include "nerve/phrun.h"
#include "nerve/run.h"
#include "nerve/snapshot.h"

static char run_dir[512];

/* A run with 60 points per class, epochs 0 and 1 (made once for every test). */
static int make_run(void **state) {
    (void)state;
    const char *root = getenv("NERVE_ROOT");
    char cfg[600];
    snprintf(cfg, sizeof cfg, "%s/experiments/spheres.cfg", root ? root : ".");
    const char *ov[] = {"data: { spheres: { points_per_class = 60; }; }; train: { epochs = 1; }; "
                        "snapshots: { epochs = \"all\"; }; device = \"cpu\";"};
    static nv_experiment ex;
    nv_error err = {0};
    if (nv_config_load(cfg, ov, 1, &ex, &err)) {
        fprintf(stderr, "config: %s\n", err.msg);
        return -1;
    }
    snprintf(run_dir, sizeof run_dir, "%s/run", nv_test_tmpdir("phrun"));
    nv_train_options opt = {.out_dir = run_dir, .command_line = "test_phrun"};
    if (nv_train_run(&ex, &opt, &err)) {
        fprintf(stderr, "train: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static void fast_options(nv_phrun_options *o) {
    nv_phrun_options_defaults(o);
    o->landmarks = 30;
    o->threads = 2;
    o->figures = 0;
}

static void test_defaults(void **state) {
    (void)state;
    nv_phrun_options o;
    nv_phrun_options_defaults(&o);
    assert_int_equal(o.metric, NV_METRIC_KNN_HOPS);
    assert_int_equal(o.max_dim, 1);
    assert_int_equal(o.landmarks, 200);
    assert_int_equal(o.nsplits, 1);
    assert_string_equal(o.splits[0], "all");
    assert_true(o.scale < 0 && o.k == 0 && isnan(o.threshold));
    assert_int_equal(o.tasks, 1);
}

static void expect_einput(const char *dir, const nv_phrun_options *o, const char *needle) {
    nv_error err = {0};
    nv_phrun_report rep;
    assert_int_equal(nv_phrun_run(dir, o, &rep, &err), NV_EINPUT);
    if (!strstr(err.msg, needle)) fail_msg("message '%s' should mention '%s'", err.msg, needle);
}

static void test_bad_input(void **state) {
    (void)state;
    nv_phrun_options o;
    fast_options(&o);
    expect_einput(nv_test_tmpdir("phrun-empty"), &o, "not a run directory");
    expect_einput("/nonexistent/run", &o, "not a directory");
    fast_options(&o);
    snprintf(o.only_layer, sizeof o.only_layer, "hidden9");
    expect_einput(run_dir, &o, "hidden9");
    fast_options(&o);
    o.landmarks = 1;
    expect_einput(run_dir, &o, "--landmarks");
    fast_options(&o);
    o.task = 2;
    o.tasks = 2;
    expect_einput(run_dir, &o, "--task");
    fast_options(&o);
    snprintf(o.splits[0], sizeof o.splits[0], "val");
    expect_einput(run_dir, &o, "val");
    fast_options(&o);
    o.metric = NV_METRIC_EUCLIDEAN;
    o.scale = 0.5;
    o.threshold = 0.25;
    expect_einput(run_dir, &o, "--threshold");
    fast_options(&o);
    o.metric = NV_METRIC_EUCLIDEAN;
    o.k = 5;
    expect_einput(run_dir, &o, "--k");
}

/* First call computes every file and calibrates; the second does nothing. */
static void test_idempotent(void **state) {
    (void)state;
    nv_phrun_options o;
    fast_options(&o);
    nv_phrun_report rep;
    nv_error err = {0};
    assert_int_equal(nv_phrun_run(run_dir, &o, &rep, &err), NV_OK);
    assert_int_equal(rep.files_total, 6); /* 3 models x epochs 0, 1 */
    assert_int_equal(rep.files_computed, 6);
    /* expressive and bottleneck: 5 layers x 3 class sets; linear: 2 x 3 */
    assert_int_equal(rep.diagrams, 2 * (5 + 5 + 2) * 3);
    assert_int_equal(rep.calibrated, 1);
    assert_int_equal(rep.summary_written, 1);
    assert_true(rep.k >= 14 && rep.scale >= 1.0);
    assert_true(rep.threshold == rep.scale); /* knn-hops: cut at the scale */
    nv_phrun_report again;
    assert_int_equal(nv_phrun_run(run_dir, &o, &again, &err), NV_OK);
    assert_int_equal(again.files_computed, 0);
    assert_int_equal(again.files_skipped, 6);
    assert_int_equal(again.calibrated, 0);   /* calibration.json reused */
    assert_int_equal(again.summary_written, 0);
    assert_int_equal(again.k, rep.k);
    assert_true(again.scale == rep.scale);
}

/* Slices of a job array cover every file once; a changed parameter recomputes. */
static void test_tasks(void **state) {
    (void)state;
    nv_phrun_options o;
    fast_options(&o);
    o.metric = NV_METRIC_EUCLIDEAN;
    o.scale = 0.5;
    /* start from no outputs, so the summary's count shows what the slices made */
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/analysis'", run_dir);
    assert_int_equal(system(cmd), 0);
    int64_t computed = 0;
    for (int t = 0; t < 3; t++) {
        o.task = t;
        o.tasks = 3;
        nv_phrun_report rep;
        nv_error err = {0};
        assert_int_equal(nv_phrun_run(run_dir, &o, &rep, &err), NV_OK);
        assert_int_equal(rep.files_owned, 2);
        assert_int_equal(rep.calibrated, 0); /* scale given, no k for euclidean */
        computed += rep.files_computed;
        assert_int_equal(rep.summary_files, 2 * (t + 1));
    }
    assert_int_equal(computed, 6);
}

/* The stored diagram of one snapshot equals the engine on the stored landmarks. */
static void test_stored_equals_engine(void **state) {
    (void)state;
    char out[700], snap[700];
    snprintf(out, sizeof out, "%s/analysis/ph/expressive/epoch_0001.h5", run_dir);
    snprintf(snap, sizeof snap, "%s/snapshots/expressive/epoch_0001.h5", run_dir);
    hid_t fid = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(fid >= 0);
    hid_t g = H5Gopen2(fid, "/hidden2/all/class_1", H5P_DEFAULT);
    assert_true(g >= 0);
    int64_t rows[64];
    hid_t a = H5Aopen(g, "landmark_rows", H5P_DEFAULT);
    hid_t sp = H5Aget_space(a);
    int64_t count = H5Sget_simple_extent_npoints(sp);
    assert_int_equal(count, 30);
    H5Aread(a, H5T_NATIVE_INT64, rows);
    H5Sclose(sp);
    H5Aclose(a);
    hid_t ds = H5Dopen2(g, "death", H5P_DEFAULT);
    sp = H5Dget_space(ds);
    int64_t m = H5Sget_simple_extent_npoints(sp);
    float *death = malloc((size_t)m * sizeof *death), *birth = malloc((size_t)m * sizeof *birth);
    int32_t *dim = malloc((size_t)m * sizeof *dim);
    H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, death);
    H5Sclose(sp);
    H5Dclose(ds);
    ds = H5Dopen2(g, "birth", H5P_DEFAULT);
    H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, birth);
    H5Dclose(ds);
    ds = H5Dopen2(g, "dim", H5P_DEFAULT);
    H5Dread(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, dim);
    H5Dclose(ds);
    H5Gclose(g);
    H5Fclose(fid);

    nv_real *x = NULL;
    int64_t n, d;
    nv_error err = {0};
    assert_int_equal(nv_snapshot_read(snap, "hidden2", "all", 0, &x, &n, &d, &err), NV_OK);
    nv_real *xl = malloc((size_t)(count * d) * sizeof *xl);
    for (int64_t i = 0; i < count; i++) memcpy(xl + i * d, x + rows[i] * d, (size_t)d * sizeof *xl);
    float *lower = NULL;
    nv_metric_spec spec = {.kind = NV_METRIC_EUCLIDEAN};
    assert_int_equal(nv_distance_matrix(xl, count, d, &spec, &lower, &err), NV_OK);
    nv_ph_params p;
    nv_ph_params_defaults(&p);
    p.max_dim = 1;
    nv_ph_input in = {.kind = NV_PH_DENSE, .n = count, .lower = lower};
    nv_ph_result r = {0};
    assert_int_equal(nv_ph_compute(&in, &p, &r, &err), NV_OK);
    assert_int_equal(r.count, m);
    for (int64_t i = 0; i < m; i++) {
        assert_int_equal(r.pairs[i].dim, dim[i]);
        assert_true(r.pairs[i].birth == birth[i]);
        assert_true(r.pairs[i].death == death[i]);
    }
    nv_ph_result_free(&r);
    free(lower);
    free(xl);
    free(x);
    free(birth);
    free(death);
    free(dim);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_idempotent),
        cmocka_unit_test(test_tasks),
        cmocka_unit_test(test_stored_equals_engine),
    };
    return cmocka_run_group_tests(tests, make_run, NULL);
}
