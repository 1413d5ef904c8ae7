/* test_checkpoint.c: the training checkpoint (src/store/checkpoint.c). A round trip
 * must give back every field bit for bit (resume depends on it); a future format
 * version, a spec that does not match the arrays, and a spec the writer should
 * never accept are all refused with messages naming the file. */
#include "testutil.h"

#include <ftw.h>
#include <sys/stat.h>

#include <dirent.h>
#include <hdf5.h>
#include <unistd.h>

#include "nerve/checkpoint.h"

/* Removes a test's directory once the test passed (a failing test longjmps past
 * this and leaves it under /tmp for inspection). */
static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *f) {
    (void)sb; (void)flag; (void)f;
    return remove(p);
}
static void rm_tree(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static char *names[] = {"epoch", "train_loss", "train_acc", "test_loss", "test_acc"};

/* A 3-5-4-2 leaky-ReLU network with distinct values everywhere. Arrays borrowed
 * from static storage: the writer only reads. */
static nv_checkpoint make(void) {
    static float p[3][200];
    static double m[4 * 5];
    nv_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    snprintf(ck.model, sizeof ck.model, "bottleneck");
    ck.epochs_completed = 3;
    ck.step = 123456789012LL;
    ck.spec.nlayers = 3;
    ck.spec.widths[0] = 3;
    ck.spec.widths[1] = 5;
    ck.spec.widths[2] = 4;
    ck.spec.widths[3] = 2;
    ck.spec.act = NV_ACT_LEAKY_RELU;
    ck.spec.leaky_slope = 0.01f;
    ck.spec.init = NV_INIT_XAVIER;
    ck.nparams = nv_mlp_param_count(&ck.spec);
    assert_true(ck.nparams <= 200);
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 200; i++) p[k][i] = (float)(k + 1) * 0.1f * (float)i - 3.3f;
    ck.params = p[0];
    ck.state1 = p[1];
    ck.state2 = p[2];
    for (int i = 0; i < 20; i++) m[i] = 1.0 / (i + 3);
    ck.metric_rows = 4;
    ck.metric_cols = 5;
    ck.metric_names = names;
    ck.metrics = m;
    ck.config_text = "experiment = \"x\";\nseed = 1;\n";
    return ck;
}

static void test_roundtrip(void **state) {
    (void)state;
    char *dir = nv_test_tmpdir("ckpt");
    char path[512];
    snprintf(path, sizeof path, "%s/bottleneck.h5", dir);
    nv_checkpoint w = make(), r;
    nv_error err = {0};
    assert_int_equal(nv_checkpoint_write(path, &w, &err), NV_OK);
    /* Overwriting the previous epoch's checkpoint is the normal case. */
    w.epochs_completed = 4;
    assert_int_equal(nv_checkpoint_write(path, &w, &err), NV_OK);
    if (nv_checkpoint_read(path, &r, &err) != NV_OK) fail_msg("%s", err.msg);
    assert_string_equal(r.model, "bottleneck");
    assert_int_equal(r.epochs_completed, 4);
    assert_int_equal(r.step, 123456789012LL);
    assert_int_equal(r.spec.nlayers, 3);
    for (int i = 0; i <= 3; i++) assert_int_equal(r.spec.widths[i], w.spec.widths[i]);
    assert_int_equal(r.spec.act, NV_ACT_LEAKY_RELU);
    assert_true(r.spec.leaky_slope == 0.01f);
    assert_int_equal(r.spec.init, NV_INIT_XAVIER);
    assert_int_equal(r.nparams, w.nparams);
    assert_memory_equal(r.params, w.params, (size_t)w.nparams * sizeof(float));
    assert_memory_equal(r.state1, w.state1, (size_t)w.nparams * sizeof(float));
    assert_memory_equal(r.state2, w.state2, (size_t)w.nparams * sizeof(float));
    assert_int_equal(r.metric_rows, 4);
    assert_int_equal(r.metric_cols, 5);
    for (int i = 0; i < 5; i++) assert_string_equal(r.metric_names[i], names[i]);
    assert_memory_equal(r.metrics, w.metrics, 20 * sizeof(double));
    assert_string_equal(r.config_text, w.config_text);
    nv_checkpoint_free(&r);
    assert_null(r.params);
    nv_checkpoint_free(&r); /* twice is fine: free zeroes */
    nv_checkpoint_free(NULL);
    /* Only the final file remains: no temporary beside it. */
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' || strstr(e->d_name, ".tmp-")) n++;
    closedir(d);
    assert_int_equal(n, 1);
    rm_tree(dir);
}

static void test_no_metrics_no_names(void **state) {
    (void)state;
    char *dir = nv_test_tmpdir("ckpt-empty");
    char path[512];
    snprintf(path, sizeof path, "%s/m.h5", dir);
    nv_checkpoint w = make(), r;
    w.metric_rows = 0;
    w.metric_names = NULL; /* stored as column0.. */
    nv_error err = {0};
    assert_int_equal(nv_checkpoint_write(path, &w, &err), NV_OK);
    assert_int_equal(nv_checkpoint_read(path, &r, &err), NV_OK);
    assert_int_equal(r.metric_rows, 0);
    assert_int_equal(r.metric_cols, 5);
    assert_string_equal(r.metric_names[4], "column4");
    nv_checkpoint_free(&r);
    rm_tree(dir);
}

static void set_attr_i64(const char *path, const char *obj, const char *name, int64_t *v, int n) {
    hid_t fid = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(fid >= 0);
    hid_t o = H5Oopen(fid, obj, H5P_DEFAULT);
    H5Adelete(o, name);
    hsize_t d = (hsize_t)n;
    hid_t sp = n == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &d, NULL);
    hid_t a = H5Acreate2(o, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(H5Awrite(a, H5T_NATIVE_INT64, v) >= 0);
    H5Aclose(a);
    H5Sclose(sp);
    H5Oclose(o);
    H5Fclose(fid);
}

static void test_refusals(void **state) {
    (void)state;
    char *dir = nv_test_tmpdir("ckpt-bad");
    char path[512];
    snprintf(path, sizeof path, "%s/m.h5", dir);
    nv_checkpoint w = make(), r;
    nv_error err = {0};

    /* The writer refuses arrays that do not match the spec. */
    w.nparams -= 1;
    assert_int_not_equal(nv_checkpoint_write(path, &w, &err), NV_OK);
    assert_int_not_equal(access(path, F_OK), 0);
    w = make();
    nv_error_clear(&err);

    /* Future version. */
    assert_int_equal(nv_checkpoint_write(path, &w, &err), NV_OK);
    int64_t nine = 9;
    set_attr_i64(path, "/", "format_version", &nine, 1);
    assert_int_equal(nv_checkpoint_read(path, &r, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "format_version 9 is not supported (this nerve reads 1)"));
    assert_null(r.params);

    /* A spec whose parameter count does not match the stored arrays. */
    nv_error_clear(&err);
    assert_int_equal(nv_checkpoint_write(path, &w, &err), NV_OK);
    int64_t widths[4] = {3, 6, 4, 2};
    set_attr_i64(path, "/spec", "widths", widths, 4);
    assert_int_equal(nv_checkpoint_read(path, &r, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "/params has"));
    assert_non_null(strstr(err.msg, path));

    /* A snapshot or other nerve file is not a checkpoint. */
    nv_error_clear(&err);
    hid_t fid = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(fid);
    assert_int_equal(nv_checkpoint_read(path, &r, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "no 'format' attribute"));
    rm_tree(dir);
}

static void test_same_bytes(void **state) {
    (void)state;
    char *dir = nv_test_tmpdir("ckpt-same");
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/a.h5", dir);
    snprintf(b, sizeof b, "%s/b.h5", dir);
    nv_checkpoint w = make();
    nv_error err = {0};
    assert_int_equal(nv_checkpoint_write(a, &w, &err), NV_OK);
    sleep(1);
    assert_int_equal(nv_checkpoint_write(b, &w, &err), NV_OK);
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int ca, cb;
    long n = 0;
    do {
        ca = fgetc(fa);
        cb = fgetc(fb);
        if (ca != cb) fail_msg("checkpoints differ at byte %ld", n);
        n++;
    } while (ca != EOF);
    fclose(fa);
    fclose(fb);
    rm_tree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_no_metrics_no_names),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_same_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
