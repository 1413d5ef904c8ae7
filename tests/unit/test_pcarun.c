/* test_pcarun.c: the run-level PCA stage (analysis/runs/pca_run.c) and its helpers on
 * synthetic snapshots written with the library's own writer, where the right answer
 * is known by construction:
 *  - alignment: a 2-D cloud whose long axis turns from 130 to 140 degrees between two
 *    epochs. Without a reference the sign rule (largest |entry| positive) flips the
 *    component there (the largest entry moves from y to x); with the previous epoch as
 *    reference it must not;
 *  - idempotence, task slicing and the figure;
 *  - the plain-matrix reader (header, separators, NaN, ragged rows) and the strided
 *    subsample.
 */
#include "testutil.h"

#include <unistd.h>

#include "nerve/run_index.h"
#include "nerve/pca.h"
#include "nerve/plot.h"
#include "nerve/snapshot.h"
#include "store/h5util.h"

#define NTR 80
#define NTE 20

/* A cloud along angle deg (long axis sd 3, short axis sd 0.5), deterministic. */
static void cloud(double deg, float *x, int64_t n, int64_t offset) {
    double a = deg * M_PI / 180.0, c = cos(a), s = sin(a);
    for (int64_t i = 0; i < n; i++) {
        double t = 3.0 * sin(0.37 * (double)(i + offset) + 0.1);
        double u = 0.5 * cos(1.91 * (double)(i + offset));
        x[2 * i] = (float)(t * c - u * s);
        x[2 * i + 1] = (float)(t * s + u * c);
    }
}

static void write_snapshot(const char *dir, const char *model, int64_t epoch, double deg) {
    int32_t y[NTR + NTE];
    int64_t ids[NTR + NTE];
    for (int i = 0; i < NTR + NTE; i++) {
        y[i] = i % 2;
        ids[i] = i;
    }
    float tr[NTR * 2], te[NTE * 2];
    cloud(deg, tr, NTR, 0);
    cloud(deg, te, NTE, NTR);
    nv_snapshot_meta meta = {.experiment = "unit", .model = model, .epoch = epoch, .seed = 1,
                             .config_text = "", .n_train = NTR, .n_test = NTE, .y_train = y,
                             .y_test = y + NTR, .ids_train = ids, .ids_test = ids + NTR};
    nv_snapshot_writer *w = NULL;
    nv_error err = {0};
    assert_int_equal(nv_snapshot_begin(dir, &meta, &w, &err), NV_OK);
    assert_int_equal(nv_snapshot_add_layer(w, 0, "input", "input", 0, 2, tr, te, &err), NV_OK);
    assert_int_equal(nv_snapshot_commit(w, &err), NV_OK);
}

static char *make_run(const char *tag) {
    char *run = strdup(nv_test_tmpdir(tag));
    char snap[512];
    snprintf(snap, sizeof snap, "%s/snapshots", run);
    write_snapshot(snap, "m", 0, 130.0);
    write_snapshot(snap, "m", 1, 140.0);
    write_snapshot(snap, "m", 2, 150.0);
    return run;
}

static void read_components(const char *run, int64_t epoch, double *v /* (2, 2) */) {
    char path[512];
    snprintf(path, sizeof path, "%s/analysis/pca/m/epoch_%04lld.h5", run, (long long)epoch);
    nv_error err = {0};
    hid_t f = nv_h5_open_read(path, &err);
    assert_true(f >= 0);
    void *buf = NULL;
    int64_t dims[2];
    assert_int_equal(nv_h5_read_dataset(f, "/layers/input/components", H5T_NATIVE_DOUBLE,
                                        sizeof(double), 2, &buf, dims, path, &err), NV_OK);
    assert_int_equal(dims[0], 2);
    assert_int_equal(dims[1], 2);
    memcpy(v, buf, 4 * sizeof *v);
    free(buf);
    H5Fclose(f);
}

static void test_alignment_across_epochs(void **state) {
    (void)state;
    char *run = make_run("pcarun-align");
    /* The rule alone would flip between 130 and 140 degrees: check the premise. */
    float x[(NTR + NTE) * 2];
    nv_pca *p0 = NULL, *p1 = NULL;
    nv_error err = {0};
    cloud(130.0, x, NTR + NTE, 0);
    assert_int_equal(nv_pca_fit(x, NTR + NTE, 2, &(nv_pca_opts){.k = 2, .device = NV_DEVICE_CPU},
                                &p0, NULL, &err), NV_OK);
    cloud(140.0, x, NTR + NTE, 0);
    assert_int_equal(nv_pca_fit(x, NTR + NTE, 2, &(nv_pca_opts){.k = 2, .device = NV_DEVICE_CPU},
                                &p1, NULL, &err), NV_OK);
    assert_true(p0->components[0] * p1->components[0] + p0->components[1] * p1->components[1] < 0);
    nv_pca_free(p0);
    nv_pca_free(p1);

    nv_pca_run_opts o = {.k = 2, .device = NV_DEVICE_CPU, .threads = 1, .figures = 1};
    nv_pca_run_result r;
    assert_int_equal(nv_pca_run(run, &o, &r, &err), NV_OK);
    assert_int_equal(r.snapshots, 3);
    assert_int_equal(r.written, 3);
    assert_int_equal(r.figures, 2);
    double v[3][4];
    for (int e = 0; e < 3; e++) read_components(run, e, v[e]);
    for (int e = 1; e < 3; e++)
        for (int j = 0; j < 2; j++)
            assert_true(v[e][2 * j] * v[e - 1][2 * j] + v[e][2 * j + 1] * v[e - 1][2 * j + 1] > 0.9);
    /* Epoch 1's first component follows epoch 0 (x negative, y positive), against the rule. */
    assert_true(v[1][0] < 0 && v[1][1] > 0);

    /* A second call does nothing. */
    assert_int_equal(nv_pca_run(run, &o, &r, &err), NV_OK);
    assert_int_equal(r.written, 0);
    assert_int_equal(r.skipped, 3);
    assert_int_equal(r.fits, 0);
    char png[512];
    snprintf(png, sizeof png, "%s/analysis/figures/pca_grid_m.png", run);
    assert_int_equal(access(png, F_OK), 0);
    free(run);
}

static void test_task_slices(void **state) {
    (void)state;
    char *a = make_run("pcarun-one"), *b = make_run("pcarun-tasks");
    nv_error err = {0};
    nv_pca_run_result r;
    nv_pca_run_opts o = {.k = 2, .device = NV_DEVICE_CPU, .threads = 1};
    assert_int_equal(nv_pca_run(a, &o, &r, &err), NV_OK);
    int64_t written = 0;
    for (int t = 0; t < 2; t++) {
        o.task = t;
        o.tasks = 2;
        assert_int_equal(nv_pca_run(b, &o, &r, &err), NV_OK);
        written += r.written;
    }
    assert_int_equal(written, 3);
    for (int e = 0; e < 3; e++) {
        double va[4], vb[4];
        read_components(a, e, va);
        read_components(b, e, vb);
        assert_memory_equal(va, vb, sizeof va);
    }
    free(a);
    free(b);
}

static void test_bad_selection(void **state) {
    (void)state;
    char *run = make_run("pcarun-bad");
    nv_error err = {0};
    const char *layers[] = {"hidden7"};
    nv_pca_run_opts o = {.select = {.layers = layers, .n_layers = 1}};
    assert_int_equal(nv_pca_run(run, &o, NULL, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "hidden7"));
    assert_non_null(strstr(err.msg, "input"));
    nv_error_clear(&err);
    int64_t epochs[] = {5};
    nv_stats_run_opts so = {.select = {.epochs = epochs, .n_epochs = 1}};
    assert_int_equal(nv_stats_run(run, &so, NULL, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "epoch 5"));
    nv_error_clear(&err);
    assert_int_equal(nv_pca_run("/nonexistent/run", NULL, NULL, &err), NV_EINPUT);
    free(run);
}

static const char *write_tmp(const char *text) {
    return nv_test_write_file(nv_test_tmpdir("pcarun-csv"), "m.csv", text);
}

static void test_matrix_reader(void **state) {
    (void)state;
    nv_real *x = NULL;
    int64_t n = 0, d = 0;
    nv_error err = {0};
    assert_int_equal(nv_matrix_read(write_tmp("a,b\n1,2\n3.5,-4e1\n\n"), &x, &n, &d, &err), NV_OK);
    assert_int_equal(n, 2);
    assert_int_equal(d, 2);
    assert_true(x[0] == 1.0f && x[1] == 2.0f && x[2] == 3.5f && x[3] == -40.0f);
    free(x);
    assert_int_equal(nv_matrix_read(write_tmp("1 2 3\n4\t5\t6\n7;8;9\n"), &x, &n, &d, &err), NV_OK);
    assert_int_equal(n, 3);
    assert_int_equal(d, 3);
    assert_true(x[8] == 9.0f);
    free(x);
    assert_int_equal(nv_matrix_read(write_tmp("1,2\n3,inf\n"), &x, &n, &d, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "line 2"));
    assert_non_null(strstr(err.msg, "column 2"));
    nv_error_clear(&err);
    assert_int_equal(nv_matrix_read(write_tmp("1,2\n3\n"), &x, &n, &d, &err), NV_EINPUT);
    nv_error_clear(&err);
    assert_int_equal(nv_matrix_read(write_tmp("x\ny\n"), &x, &n, &d, &err), NV_EINPUT);
}

static void test_strided_rows(void **state) {
    (void)state;
    int64_t idx[4];
    nv_run_strided_rows(10, 4, idx);
    assert_int_equal(idx[0], 0);
    assert_int_equal(idx[1], 2);
    assert_int_equal(idx[2], 5);
    assert_int_equal(idx[3], 7);
    nv_run_strided_rows(4, 4, idx);
    for (int i = 0; i < 4; i++) assert_int_equal(idx[i], i);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alignment_across_epochs),
        cmocka_unit_test(test_task_slices),
        cmocka_unit_test(test_bad_selection),
        cmocka_unit_test(test_matrix_reader),
        cmocka_unit_test(test_strided_rows),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    nv_plot_release_caches();
    return rc;
}
