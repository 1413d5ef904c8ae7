/* test_info.c: the description behind `nerve info` (src/store/info.c). Writes a
 * small snapshot and checkpoint with the library's own writers and checks what
 * nv_info_describe reports for each file (format, version, supported, shapes,
 * storage, attributes), for the snapshots directory and for a run directory (the
 * models from the checkpoints, the experiment from config.cfg); a foreign HDF5
 * file (no format, NaN and array attributes, a future version); and the refusals
 * (missing path, not HDF5, a directory that is not a run) as NV_EINPUT naming the
 * path. The text rendering is the CLI's and is checked by tests/integration/info_run.sh. */
#include "testutil.h"

#include <ftw.h>
#include <sys/stat.h>

#include <hdf5.h>
#include <jansson.h>

#include "nerve/checkpoint.h"
#include "nerve/info.h"
#include "nerve/snapshot.h"

/* Removes a test's directory once the test passed (a failing test longjmps past
 * this and leaves it under /tmp for inspection). */
static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *f) {
    (void)sb; (void)flag; (void)f;
    return remove(p);
}
static void rm_tree(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

#define NTR 7
#define NTE 3

/* <dir>/<model>/epoch_<epoch>.h5 with layers input (4) and hidden1 (6, with
 * pre-activations), gzip 4, and the manifest beside it. */
static void write_snapshot(const char *dir, const char *model, int64_t epoch) {
    int32_t y[NTR + NTE];
    int64_t ids[NTR + NTE];
    float in[(NTR + NTE) * 4], hid[(NTR + NTE) * 6];
    for (int i = 0; i < NTR + NTE; i++) {
        y[i] = i % 2;
        ids[i] = 1000 + i;
    }
    for (int i = 0; i < (NTR + NTE) * 4; i++) in[i] = 0.5f * (float)i;
    for (int i = 0; i < (NTR + NTE) * 6; i++) hid[i] = -0.25f * (float)i;
    nv_snapshot_meta meta = {.experiment = "unit", .model = model, .epoch = epoch, .seed = 42,
                             .config_text = "seed = 42;\n", .n_train = NTR, .n_test = NTE,
                             .y_train = y, .y_test = y + NTR, .ids_train = ids,
                             .ids_test = ids + NTR, .gzip_level = 4};
    nv_error err = {0};
    nv_snapshot_writer *w = NULL;
    if (nv_snapshot_begin(dir, &meta, &w, &err)) fail_msg("%s", err.msg);
    nv_status st = nv_snapshot_add_layer(w, 0, "input", "input", 0, 4, in, in + NTR * 4, &err);
    if (!st) st = nv_snapshot_add_layer(w, 1, "hidden1", "hidden", 0, 6, hid, hid + NTR * 6, &err);
    if (!st) st = nv_snapshot_add_layer(w, 1, "hidden1", "hidden", 1, 6, hid, hid + NTR * 6, &err);
    if (st) {
        nv_snapshot_abort(w);
        fail_msg("%s", err.msg);
    }
    if (nv_snapshot_commit(w, &err)) fail_msg("%s", err.msg);
}

static char *ck_names[] = {"epoch", "train_loss", "train_acc", "test_loss", "test_acc"};

/* A 3-5-4-2 tanh network after 2 epochs; metrics (3 rows) row r = (r, 1/(r+2), ...). */
static void write_checkpoint(const char *path) {
    static float p[3][200];
    static double m[3 * 5];
    nv_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    snprintf(ck.model, sizeof ck.model, "bottleneck");
    ck.epochs_completed = 2;
    ck.step = 20;
    ck.spec.nlayers = 3;
    ck.spec.widths[0] = 3;
    ck.spec.widths[1] = 5;
    ck.spec.widths[2] = 4;
    ck.spec.widths[3] = 2;
    ck.spec.act = NV_ACT_TANH;
    ck.spec.init = NV_INIT_XAVIER;
    ck.nparams = nv_mlp_param_count(&ck.spec);
    assert_true(ck.nparams <= 200);
    ck.params = p[0];
    ck.state1 = p[1];
    ck.state2 = p[2];
    for (int r = 0; r < 3; r++) {
        m[r * 5] = r;
        for (int c = 1; c < 5; c++) m[r * 5 + c] = (double)c / (r + 2);
    }
    ck.metric_rows = 3;
    ck.metric_cols = 5;
    ck.metric_names = ck_names;
    ck.metrics = m;
    ck.config_text = "experiment = \"unit\";\n";
    nv_error err = {0};
    if (nv_checkpoint_write(path, &ck, &err)) fail_msg("%s", err.msg);
}

/* Describes path, failing the test with the library's message if it refuses. */
static json_t *describe(const char *path) {
    json_t *j = NULL;
    nv_error err = {0};
    if (nv_info_describe(path, &j, &err) != NV_OK) fail_msg("%s", err.msg);
    assert_non_null(j);
    return j;
}

/* The node at "a/b/c" below the root of a file description. */
static json_t *node_at(json_t *desc, const char *path) {
    json_t *n = json_object_get(desc, "root");
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *save = NULL, *tok = strtok_r(buf, "/", &save); tok; tok = strtok_r(NULL, "/", &save))
        n = json_object_get(json_object_get(n, "members"), tok);
    if (!n) fail_msg("no node %s", path);
    return n;
}

static void assert_shape(json_t *shape, int64_t a, int64_t b) {
    assert_int_equal(json_array_size(shape), 2);
    assert_int_equal(json_integer_value(json_array_get(shape, 0)), a);
    assert_int_equal(json_integer_value(json_array_get(shape, 1)), b);
}

static const char *str_of(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v)) fail_msg("'%s' is not a string", key);
    return json_string_value(v);
}

static void test_snapshot_file(void **state) {
    (void)state;
    char *dir = nv_test_tmpdir("info-snap");
    write_snapshot(dir, "expressive", 3);
    char path[512];
    snprintf(path, sizeof path, "%s/expressive/epoch_0003.h5", dir);
    json_t *j = describe(path);
    assert_string_equal(str_of(j, "kind"), "hdf5");
    assert_string_equal(str_of(j, "path"), path);
    assert_string_equal(str_of(j, "format"), NV_SNAPSHOT_FORMAT);
    assert_int_equal(json_integer_value(json_object_get(j, "format_version")), NV_SNAPSHOT_VERSION);
    assert_true(json_is_true(json_object_get(j, "supported")));
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "bytes")), sb.st_size);

    json_t *root = json_object_get(j, "root");
    assert_string_equal(str_of(root, "kind"), "group");
    json_t *ra = json_object_get(root, "attrs");
    assert_int_equal(json_integer_value(json_object_get(ra, "epoch")), 3);
    assert_int_equal(json_integer_value(json_object_get(ra, "n_train")), NTR);
    assert_string_equal(str_of(ra, "model"), "expressive");
    json_t *names = json_object_get(ra, "layer_names");
    assert_int_equal(json_array_size(names), 2);
    assert_string_equal(json_string_value(json_array_get(names, 0)), "input");
    assert_string_equal(json_string_value(json_array_get(names, 1)), "hidden1");

    json_t *tr = node_at(j, "layers/hidden1/train");
    assert_string_equal(str_of(tr, "kind"), "dataset");
    assert_shape(json_object_get(tr, "shape"), NTR, 6);
    assert_string_equal(str_of(tr, "dtype"), "float32");
    assert_string_equal(str_of(tr, "layout"), "chunked");
    json_t *fl = json_object_get(tr, "filters");
    assert_int_equal(json_array_size(fl), 2);
    assert_string_equal(json_string_value(json_array_get(fl, 0)), "shuffle");
    assert_string_equal(json_string_value(json_array_get(fl, 1)), "gzip(4)");
    assert_true(json_integer_value(json_object_get(tr, "storage_bytes")) > 0);

    /* `all` is virtual: train rows then test rows of the same file */
    json_t *al = node_at(j, "layers/input/all");
    assert_shape(json_object_get(al, "shape"), NTR + NTE, 4);
    assert_string_equal(str_of(al, "layout"), "virtual");
    json_t *src = json_object_get(al, "sources");
    assert_int_equal(json_array_size(src), 2);
    assert_string_equal(str_of(json_array_get(src, 0), "dataset"), "/layers/input/train");
    assert_string_equal(str_of(json_array_get(src, 1), "dataset"), "/layers/input/test");
    assert_shape(json_object_get(json_array_get(src, 1), "offset"), NTR, 0);
    assert_shape(json_object_get(json_array_get(src, 1), "count"), NTE, 4);
    assert_string_equal(str_of(node_at(j, "layers/hidden1"), "kind"), "group");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(node_at(j, "layers/hidden1"), "attrs"), "width")), 6);
    assert_non_null(json_object_get(json_object_get(node_at(j, "layers/hidden1"), "members"), "pre_all"));
    assert_null(json_object_get(json_object_get(node_at(j, "layers/input"), "members"), "pre_all"));
    json_decref(j);

    /* The snapshots directory: epochs and the first file's layers per model. */
    write_snapshot(dir, "expressive", 5);
    j = describe(dir);
    assert_string_equal(str_of(j, "kind"), "snapshots");
    json_t *m = json_object_get(json_object_get(j, "snapshots"), "expressive");
    assert_non_null(m);
    json_t *ep = json_object_get(m, "epochs");
    assert_int_equal(json_array_size(ep), 2);
    assert_int_equal(json_integer_value(json_array_get(ep, 0)), 3);
    assert_int_equal(json_integer_value(json_array_get(ep, 1)), 5);
    assert_int_equal(json_integer_value(json_object_get(m, "n_test")), NTE);
    assert_null(json_object_get(m, "missing"));
    json_t *layers = json_object_get(m, "layers");
    assert_int_equal(json_array_size(layers), 2);
    json_t *h = json_array_get(layers, 1);
    assert_string_equal(str_of(h, "name"), "hidden1");
    assert_string_equal(str_of(h, "kind"), "hidden");
    assert_shape(json_object_get(h, "all"), NTR + NTE, 6);
    assert_true(json_is_true(json_object_get(h, "pre")));
    assert_true(json_is_false(json_object_get(json_array_get(layers, 0), "pre")));
    assert_true(json_integer_value(json_object_get(json_object_get(j, "sizes"), "total")) > 0);
    json_decref(j);

    /* A listed file that is gone (not the model's first) is reported, not fatal. */
    snprintf(path, sizeof path, "%s/expressive/epoch_0005.h5", dir);
    assert_int_equal(remove(path), 0);
    j = describe(dir);
    json_t *missing = json_object_get(json_object_get(json_object_get(j, "snapshots"), "expressive"), "missing");
    assert_int_equal(json_array_size(missing), 1);
    assert_string_equal(json_string_value(json_array_get(missing, 0)), "expressive/epoch_0005.h5");
    json_decref(j);
    rm_tree(dir);
}

static void test_checkpoint_and_run(void **state) {
    (void)state;
    char *dir = nv_test_tmpdir("info-run");
    char cdir[300], path[400]; /* sized so no path below can be cut short */
    snprintf(cdir, sizeof cdir, "%s/checkpoints", dir);
    assert_int_equal(mkdir(cdir, 0755), 0);
    snprintf(path, sizeof path, "%s/bottleneck.h5", cdir);
    write_checkpoint(path);

    json_t *j = describe(path);
    assert_string_equal(str_of(j, "format"), NV_CHECKPOINT_FORMAT);
    assert_int_equal(json_integer_value(json_object_get(j, "format_version")), NV_CHECKPOINT_VERSION);
    assert_true(json_is_true(json_object_get(j, "supported")));
    json_t *params = node_at(j, "params");
    assert_int_equal(json_array_size(json_object_get(params, "shape")), 1);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(params, "shape"), 0)),
                     3 * 5 + 5 + 5 * 4 + 4 + 4 * 2 + 2);
    json_t *met = node_at(j, "metrics");
    assert_shape(json_object_get(met, "shape"), 3, 5);
    assert_string_equal(str_of(met, "dtype"), "float64");
    json_t *cols = json_object_get(json_object_get(met, "attrs"), "columns");
    assert_int_equal(json_array_size(cols), 5);
    assert_string_equal(json_string_value(json_array_get(cols, 4)), "test_acc");
    json_t *widths = json_object_get(json_object_get(node_at(j, "spec"), "attrs"), "widths");
    assert_int_equal(json_array_size(widths), 4);
    assert_int_equal(json_integer_value(json_array_get(widths, 1)), 5);
    json_decref(j);

    /* A run directory: the experiment from config.cfg, the model from its checkpoint
     * (final metrics = the last row of its table, without summary.json). */
    nv_test_write_file(dir, "config.cfg", "experiment = \"unit-run\";\nseed = 3;\n");
    j = describe(dir);
    assert_string_equal(str_of(j, "kind"), "run");
    assert_string_equal(str_of(j, "experiment"), "unit-run");
    json_t *m = json_object_get(json_object_get(j, "models"), "bottleneck");
    assert_non_null(m);
    json_t *w = json_object_get(m, "widths");
    assert_int_equal(json_array_size(w), 4);
    assert_int_equal(json_integer_value(json_array_get(w, 3)), 2);
    assert_string_equal(str_of(m, "activation"), "tanh");
    assert_int_equal(json_integer_value(json_object_get(m, "epochs_completed")), 2);
    assert_int_equal(json_integer_value(json_object_get(m, "steps")), 20);
    assert_true(json_real_value(json_object_get(m, "train_loss")) == 1.0 / 4);
    assert_true(json_real_value(json_object_get(m, "test_acc")) == 4.0 / 4);
    assert_null(json_object_get(m, "epoch"));
    assert_int_equal(json_object_size(json_object_get(j, "snapshots")), 0);
    json_t *sizes = json_object_get(j, "sizes");
    assert_true(json_integer_value(json_object_get(sizes, "checkpoints")) > 0);
    assert_true(json_integer_value(json_object_get(sizes, "total")) >=
                json_integer_value(json_object_get(sizes, "checkpoints")));
    json_decref(j);

    /* A checkpoint that does not open makes the run undescribable, naming the file. */
    nv_test_write_file(cdir, "linear.h5", "not hdf5\n");
    json_t *out = (json_t *)1;
    nv_error err = {0};
    assert_int_equal(nv_info_describe(dir, &out, &err), NV_EINPUT);
    assert_null(out);
    assert_non_null(strstr(err.msg, "checkpoints/linear.h5"));
    rm_tree(dir);
}

/* A file nerve did not write: no format, so no "supported"; NaN, arrays, strings
 * and a soft link described; then a known format with a future version. */
static void test_foreign_file(void **state) {
    (void)state;
    char *dir = nv_test_tmpdir("info-foreign");
    char path[512];
    snprintf(path, sizeof path, "%s/foreign.h5", dir);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t sc = H5Screate(H5S_SCALAR);
    double nan = NAN;
    hid_t a = H5Acreate2(f, "x", H5T_IEEE_F64LE, sc, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_DOUBLE, &nan);
    H5Aclose(a);
    hsize_t three = 3;
    hid_t s3 = H5Screate_simple(1, &three, NULL);
    int64_t v[3] = {1, 2, 3};
    a = H5Acreate2(f, "v", H5T_STD_I64LE, s3, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_INT64, v);
    H5Aclose(a);
    hid_t d = H5Dcreate2(f, "data", H5T_STD_U16LE, s3, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    uint16_t dv[3] = {1, 2, 3};
    H5Dwrite(d, H5T_NATIVE_UINT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, dv);
    H5Dclose(d);
    H5Lcreate_soft("/data", f, "alias", H5P_DEFAULT, H5P_DEFAULT);
    H5Sclose(s3);
    H5Sclose(sc);
    H5Fclose(f);

    json_t *j = describe(path);
    assert_true(json_is_null(json_object_get(j, "format")));
    assert_true(json_is_null(json_object_get(j, "format_version")));
    assert_null(json_object_get(j, "supported"));
    json_t *ra = json_object_get(json_object_get(j, "root"), "attrs");
    assert_string_equal(str_of(ra, "x"), "nan");
    assert_int_equal(json_array_size(json_object_get(ra, "v")), 3);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(ra, "v"), 2)), 3);
    json_t *data = node_at(j, "data");
    assert_string_equal(str_of(data, "dtype"), "uint16");
    assert_string_equal(str_of(data, "layout"), "contiguous");
    assert_null(json_object_get(data, "filters"));
    json_t *alias = node_at(j, "alias");
    assert_string_equal(str_of(alias, "kind"), "soft link");
    assert_string_equal(str_of(alias, "target"), "/data");
    json_decref(j);

    /* A checkpoint from a future nerve: described, but not supported. */
    snprintf(path, sizeof path, "%s/future.h5", dir);
    f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    sc = H5Screate(H5S_SCALAR);
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, H5T_VARIABLE);
    const char *fmt = NV_CHECKPOINT_FORMAT;
    a = H5Acreate2(f, "format", st, sc, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, st, &fmt);
    H5Aclose(a);
    int64_t ver = 9;
    a = H5Acreate2(f, "format_version", H5T_STD_I64LE, sc, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_INT64, &ver);
    H5Aclose(a);
    H5Tclose(st);
    H5Sclose(sc);
    H5Fclose(f);
    j = describe(path);
    assert_string_equal(str_of(j, "format"), NV_CHECKPOINT_FORMAT);
    assert_int_equal(json_integer_value(json_object_get(j, "format_version")), 9);
    assert_true(json_is_false(json_object_get(j, "supported")));
    json_decref(j);
    rm_tree(dir);
}

/* Refusals are NV_EINPUT with a message naming the path, and *out stays NULL. */
static void expect_refusal(const char *path, const char *phrase) {
    json_t *out = (json_t *)1;
    nv_error err = {0};
    assert_int_equal(nv_info_describe(path, &out, &err), NV_EINPUT);
    assert_null(out);
    if (!strstr(err.msg, path)) fail_msg("message does not name %s: %s", path, err.msg);
    if (!strstr(err.msg, phrase)) fail_msg("message lacks '%s': %s", phrase, err.msg);
}

static void test_refusals(void **state) {
    (void)state;
    char *dir = nv_test_tmpdir("info-bad");
    char path[300];
    snprintf(path, sizeof path, "%s/nonexistent.h5", dir);
    expect_refusal(path, "No such file or directory");
    expect_refusal(nv_test_write_file(dir, "junk.h5", "not hdf5\n"), "not an HDF5 file");
    expect_refusal(dir, "not a run directory");
    /* A manifest from a future nerve is refused, not guessed at. */
    snprintf(path, sizeof path, "%s/snapshots", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    nv_test_write_file(path, "manifest.json",
                       "{\"format\": \"nerve-manifest\", \"format_version\": 7, \"files\": []}\n");
    json_t *out = NULL;
    nv_error err = {0};
    assert_int_equal(nv_info_describe(dir, &out, &err), NV_EINPUT);
    assert_null(out);
    assert_non_null(strstr(err.msg, "format_version 7 is not supported"));
    rm_tree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_file),
        cmocka_unit_test(test_checkpoint_and_run),
        cmocka_unit_test(test_foreign_file),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
