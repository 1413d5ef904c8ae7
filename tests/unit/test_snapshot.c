/* test_snapshot.c: the activation store (src/store/snapshot.c). Writes small snapshots
 * and checks every split reads back exactly (including the virtual `all` = train
 * rows then test rows), the manifest's contents, order and truncation, that an
 * unknown format version and non-HDF5 input are refused with a clear message, that
 * abort leaves nothing behind, that two identical writes are identical bytes, and
 * that the dataset hashes the writer takes from memory are those read from the file. */
#include "testutil.h"

#include <ftw.h>
#include <sys/stat.h>

#include <dirent.h>
#include <hdf5.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "nerve/snapshot.h"
#include "nerve/sweep.h"
#include "nerve/fsutil.h"
#include "nerve/runhash.h"

/* Removes a test's directory once the test passed (a failing test longjmps past
 * this and leaves it under /tmp for inspection). */
static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *f) {
    (void)sb; (void)flag; (void)f;
    return remove(p);
}
static void rm_tree(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

#define NTR 7
#define NTE 3

typedef struct {
    int32_t y[NTR + NTE];
    int64_t ids[NTR + NTE];
    float in[(NTR + NTE) * 4];   /* (n, 4) */
    float hid[(NTR + NTE) * 6];  /* (n, 6) */
    float pre[(NTR + NTE) * 6];  /* (n, 6) */
} fixture;

static void fill(fixture *f, int salt) {
    for (int i = 0; i < NTR + NTE; i++) {
        f->y[i] = (i * 7 + salt) % 3;
        f->ids[i] = 100000 + 13 * i;
    }
    for (int i = 0; i < (NTR + NTE) * 4; i++) f->in[i] = 0.25f * (float)(i - 11 + salt);
    for (int i = 0; i < (NTR + NTE) * 6; i++) {
        f->hid[i] = (float)i * 1.5f + (float)salt;
        f->pre[i] = -(float)i / 3.0f;
    }
}

/* Writes <dir>/<model>/epoch_<epoch>.h5 with layers input (4) and hidden1 (6, with
 * pre-activations); abort_it = 1 aborts instead of committing. */
static nv_status write_fixture(const char *dir, const char *model, int64_t epoch,
                               const fixture *f, int64_t ntr, int64_t nte, int abort_it,
                               nv_error *err) {
    nv_snapshot_meta meta = {.experiment = "unit", .model = model, .epoch = epoch, .seed = 42,
                             .config_text = "seed = 42;\n", .n_train = ntr, .n_test = nte,
                             .y_train = f->y, .y_test = f->y + ntr,
                             .ids_train = f->ids, .ids_test = f->ids + ntr, .gzip_level = 4};
    nv_snapshot_writer *w = NULL;
    nv_status st = nv_snapshot_begin(dir, &meta, &w, err);
    if (st) return st;
    /* hidden1 first, input second: the writer must not depend on the order */
    st = nv_snapshot_add_layer(w, 1, "hidden1", "hidden", 0, 6, f->hid, f->hid + ntr * 6, err);
    if (!st) st = nv_snapshot_add_layer(w, 0, "input", "input", 0, 4, f->in, f->in + ntr * 4, err);
    if (!st)
        st = nv_snapshot_add_layer(w, 1, "hidden1", "hidden", 1, 6, f->pre, f->pre + ntr * 6, err);
    if (st || abort_it) {
        nv_snapshot_abort(w);
        return st;
    }
    return nv_snapshot_commit(w, err);
}

static char *snap_path(const char *dir, const char *model, int epoch) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s/epoch_%04d.h5", dir, model, epoch);
    return buf;
}

static void expect_matrix(const char *path, const char *layer, const char *split, int pre,
                          const float *want, int64_t rows, int64_t cols) {
    nv_error err = {0};
    nv_real *m = NULL;
    int64_t r = -1, c = -1;
    nv_status st = nv_snapshot_read(path, layer, split, pre, &m, &r, &c, &err);
    if (st) fail_msg("%s", err.msg);
    assert_int_equal(r, rows);
    assert_int_equal(c, cols);
    if (rows * cols > 0) assert_memory_equal(m, want, (size_t)(rows * cols) * sizeof(float));
    free(m);
}

static void test_roundtrip_all_splits(void **state) {
    (void)state;
    char *dir = nv_test_tmpdir("snap");
    fixture f;
    fill(&f, 0);
    nv_error err = {0};
    assert_int_equal(write_fixture(dir, "expressive", 3, &f, NTR, NTE, 0, &err), NV_OK);
    const char *p = snap_path(dir, "expressive", 3);
    expect_matrix(p, "input", "train", 0, f.in, NTR, 4);
    expect_matrix(p, "input", "test", 0, f.in + NTR * 4, NTE, 4);
    expect_matrix(p, "input", "all", 0, f.in, NTR + NTE, 4);
    expect_matrix(p, "hidden1", "train", 0, f.hid, NTR, 6);
    expect_matrix(p, "hidden1", "test", 0, f.hid + NTR * 6, NTE, 6);
    expect_matrix(p, "hidden1", "all", 0, f.hid, NTR + NTE, 6);
    expect_matrix(p, "hidden1", "all", 1, f.pre, NTR + NTE, 6);
    expect_matrix(p, "hidden1", "test", 1, f.pre + NTR * 6, NTE, 6);

    int64_t *v = NULL, n = 0;
    assert_int_equal(nv_snapshot_read_index(p, "labels", "all", &v, &n, &err), NV_OK);
    assert_int_equal(n, NTR + NTE);
    for (int i = 0; i < n; i++) assert_int_equal(v[i], f.y[i]);
    free(v);
    assert_int_equal(nv_snapshot_read_index(p, "ids", "test", &v, &n, &err), NV_OK);
    assert_int_equal(n, NTE);
    for (int i = 0; i < n; i++) assert_int_equal(v[i], f.ids[NTR + i]);
    free(v);

    /* Missing things are input errors naming the file and what exists. */
    nv_real *m = NULL;
    int64_t r, c;
    nv_error e2 = {0};
    assert_int_equal(nv_snapshot_read(p, "hidden9", "train", 0, &m, &r, &c, &e2), NV_EINPUT);
    assert_non_null(strstr(e2.msg, "no layer 'hidden9'"));
    assert_non_null(strstr(e2.msg, "input, hidden1"));
    nv_error_clear(&e2);
    assert_int_equal(nv_snapshot_read(p, "input", "train", 1, &m, &r, &c, &e2), NV_EINPUT);
    nv_error_clear(&e2);
    assert_int_equal(nv_snapshot_read(p, "input", "valid", 0, &m, &r, &c, &e2), NV_EINPUT);
    assert_null(m);
    rm_tree(dir);
}

/* nv_snapshot_commit_hashed: the hashes taken from the writer's buffers (each
 * split, the virtual `all` from train then test, labels, ids, pre-activations, the
 * parameters) equal sweep.h's, which read the committed file back. */
static void test_hashes_from_memory(void **state) {
    (void)state;
    char *dir = nv_test_tmpdir("snap-hash");
    fixture f;
    fill(&f, 3);
    float params[4 * 6 + 6];
    for (int i = 0; i < 30; i++) params[i] = 0.1f * (float)i - 1.0f;
    nv_mlp_spec spec = {.nlayers = 1, .widths = {4, 6}, .act = NV_ACT_RELU};
    for (int nte = NTE; nte >= 0; nte -= NTE) { /* with a test split, and without */
        nv_snapshot_meta meta = {.experiment = "unit", .model = "m", .epoch = nte, .seed = 1,
                                 .config_text = "", .n_train = NTR + NTE - nte, .n_test = nte,
                                 .y_train = f.y, .y_test = f.y + NTR + NTE - nte,
                                 .ids_train = f.ids, .ids_test = f.ids + NTR + NTE - nte, .gzip_level = 4};
        const int64_t ntr = NTR + NTE - nte;
        nv_snapshot_writer *w = NULL;
        nv_error err = {0};
        char *mem = NULL, *file = NULL;
        assert_int_equal(nv_snapshot_begin(dir, &meta, &w, &err), NV_OK);
        assert_int_equal(nv_snapshot_add_params(w, &spec, params, &err), NV_OK);
        assert_int_equal(nv_snapshot_add_layer(w, 0, "input", "input", 0, 4, f.in, f.in + ntr * 4, &err), NV_OK);
        assert_int_equal(nv_snapshot_add_layer(w, 1, "hidden1", "hidden", 1, 6, f.pre, f.pre + ntr * 6, &err), NV_OK);
        assert_int_equal(nv_snapshot_commit_hashed(w, &mem, &err), NV_OK);
        assert_non_null(mem);
        assert_int_equal(nv_h5_file_hashes(snap_path(dir, "m", (int)nte), &file, &err), NV_OK);
        json_t *a = json_loads(mem, 0, NULL), *b = json_loads(file, 0, NULL);
        assert_true(json_object_size(b) == 13); /* params; train, test, all of labels, ids, input, pre_ */
        if (!json_equal(a, b)) fail_msg("from memory: %s\nfrom the file: %s", mem, file);
        json_decref(a), json_decref(b);
        free(mem), free(file);
    }
    rm_tree(dir);
}

static void test_empty_test_split(void **state) {
    (void)state;
    char *dir = nv_test_tmpdir("snap-empty");
    fixture f;
    fill(&f, 1);
    nv_error err = {0};
    assert_int_equal(write_fixture(dir, "linear", 0, &f, NTR + NTE, 0, 0, &err), NV_OK);
    const char *p = snap_path(dir, "linear", 0);
    expect_matrix(p, "hidden1", "all", 0, f.hid, NTR + NTE, 6);
    expect_matrix(p, "hidden1", "test", 0, f.hid, 0, 6);
    rm_tree(dir);
}

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static void test_abort_leaves_nothing(void **state) {
    (void)state;
    char *dir = nv_test_tmpdir("snap-abort");
    fixture f;
    fill(&f, 2);
    nv_error err = {0};
    assert_int_equal(write_fixture(dir, "m", 5, &f, NTR, NTE, 1, &err), NV_OK);
    char mdir[512];
    snprintf(mdir, sizeof mdir, "%s/m", dir);
    assert_int_equal(count_entries(mdir), 0);      /* no temporary file either */
    assert_int_equal(count_entries(dir), 1);       /* just m/, and no manifest */
    nv_manifest man;
    assert_int_equal(nv_manifest_read(dir, &man, &err), NV_OK);
    assert_int_equal(man.count, 0);
    nv_manifest_free(&man);
    /* Resuming with no snapshots yet changes nothing on disk. */
    assert_int_equal(nv_manifest_truncate(dir, "m", 0, &err), NV_OK);
    assert_int_equal(count_entries(dir), 1);
    nv_snapshot_abort(NULL);
    rm_tree(dir);
}

static void test_manifest_order_and_truncate(void **state) {
    (void)state;
    char *dir = nv_test_tmpdir("snap-man");
    fixture f;
    fill(&f, 3);
    nv_error err = {0};
    /* Written out of order; the manifest is sorted by model, then epoch. */
    const char *models[] = {"expressive", "bottleneck", "expressive", "bottleneck", "expressive"};
    const int epochs[] = {10, 0, 0, 10, 5};
    for (int i = 0; i < 5; i++)
        assert_int_equal(write_fixture(dir, models[i], epochs[i], &f, NTR, NTE, 0, &err), NV_OK);
    /* Rewriting an epoch replaces its entry instead of duplicating it. */
    assert_int_equal(write_fixture(dir, "expressive", 5, &f, NTR, NTE, 0, &err), NV_OK);
    nv_manifest m;
    assert_int_equal(nv_manifest_read(dir, &m, &err), NV_OK);
    assert_int_equal(m.count, 5);
    const char *want_m[] = {"bottleneck", "bottleneck", "expressive", "expressive", "expressive"};
    const int want_e[] = {0, 10, 0, 5, 10};
    for (int i = 0; i < 5; i++) {
        assert_string_equal(m.files[i].model, want_m[i]);
        assert_int_equal(m.files[i].epoch, want_e[i]);
        char want_p[64];
        snprintf(want_p, sizeof want_p, "%s/epoch_%04d.h5", want_m[i], want_e[i]);
        assert_string_equal(m.files[i].path, want_p);
    }
    nv_manifest_free(&m);

    /* A stale temporary file of a killed writer: truncate (resume) removes it. */
    char stale[512];
    snprintf(stale, sizeof stale, "%s/expressive/.epoch_0011.h5.tmp-99999", dir);
    FILE *fp = fopen(stale, "w");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(nv_manifest_truncate(dir, "expressive", 4, &err), NV_OK);
    assert_int_equal(nv_manifest_read(dir, &m, &err), NV_OK);
    assert_int_equal(m.count, 3);
    assert_string_equal(m.files[2].model, "expressive");
    assert_int_equal(m.files[2].epoch, 0);
    assert_int_equal(m.files[1].epoch, 10); /* bottleneck untouched */
    nv_manifest_free(&m);
    assert_int_not_equal(access(snap_path(dir, "expressive", 10), F_OK), 0);
    assert_int_not_equal(access(snap_path(dir, "expressive", 5), F_OK), 0);
    assert_int_equal(access(snap_path(dir, "expressive", 0), F_OK), 0);
    assert_int_not_equal(access(stale, F_OK), 0);
    rm_tree(dir);
}

static void write_text(const char *dir, const char *name, const char *text) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void test_manifest_errors(void **state) {
    (void)state;
    char *dir = nv_test_tmpdir("snap-manerr");
    nv_manifest m;
    nv_error err = {0};
    assert_int_equal(nv_manifest_read(dir, &m, &err), NV_OK); /* missing: empty */
    assert_int_equal(m.count, 0);
    nv_manifest_free(&m);
    write_text(dir, "manifest.json", "{\"format\": \"nerve-manifest\", \"format_version\": 9, \"files\": []}");
    assert_int_equal(nv_manifest_read(dir, &m, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "format_version 9 is not supported (this nerve reads 1)"));
    nv_error_clear(&err);
    write_text(dir, "manifest.json", "{\"format\": \"nerve-manifest\", \"format_version\": 1, \"files\": [{\"model\": \"a\", \"epoch\": 1, \"path\": \"../x.h5\"}]}");
    assert_int_equal(nv_manifest_read(dir, &m, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "files[0]: key 'path'"));
    nv_error_clear(&err);
    write_text(dir, "manifest.json", "{\"format\": ");
    assert_int_equal(nv_manifest_read(dir, &m, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "manifest.json:"));
    rm_tree(dir);
}

static void test_unknown_version_refused(void **state) {
    (void)state;
    char *dir = nv_test_tmpdir("snap-ver");
    fixture f;
    fill(&f, 4);
    nv_error err = {0};
    assert_int_equal(write_fixture(dir, "m", 1, &f, NTR, NTE, 0, &err), NV_OK);
    const char *p = snap_path(dir, "m", 1);
    /* A file from a future nerve: same layout, format_version 9. */
    hid_t fid = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(fid >= 0);
    hid_t a = H5Aopen(fid, "format_version", H5P_DEFAULT);
    int64_t nine = 9;
    assert_true(H5Awrite(a, H5T_NATIVE_INT64, &nine) >= 0);
    H5Aclose(a);
    H5Fclose(fid);
    nv_real *m = NULL;
    int64_t r, c;
    assert_int_equal(nv_snapshot_read(p, "input", "train", 0, &m, &r, &c, &err), NV_EINPUT);
    char want[600];
    snprintf(want, sizeof want, "file %s: format_version 9 is not supported (this nerve reads 1)", p);
    assert_string_equal(err.msg, want);
    assert_null(m);

    /* Not HDF5 at all. */
    nv_error_clear(&err);
    write_text(dir, "junk.h5", "this is not hdf5\n");
    char junk[512];
    snprintf(junk, sizeof junk, "%s/junk.h5", dir);
    assert_int_equal(nv_snapshot_read(junk, "input", "train", 0, &m, &r, &c, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "not an HDF5 file"));
    rm_tree(dir);
}

static void test_same_bytes(void **state) {
    (void)state;
    char a[256], b[256];
    snprintf(a, sizeof a, "%s", nv_test_tmpdir("snap-same-a"));
    sleep(1); /* a second apart: any stored clock would show */
    snprintf(b, sizeof b, "%s", nv_test_tmpdir("snap-same-b"));
    fixture f;
    fill(&f, 5);
    nv_error err = {0};
    assert_int_equal(write_fixture(a, "m", 2, &f, NTR, NTE, 0, &err), NV_OK);
    sleep(1);
    assert_int_equal(write_fixture(b, "m", 2, &f, NTR, NTE, 0, &err), NV_OK);
    size_t na = 0, nb = 0;
    char *x = nv_test_read_file(snap_path(a, "m", 2), &na);
    char *y = nv_test_read_file(snap_path(b, "m", 2), &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(x, y, na);
    free(x);
    free(y);
    rm_tree(a);
    rm_tree(b);
}

static void test_atomic_text_and_mkdirs(void **state) {
    (void)state;
    char *dir = nv_test_tmpdir("snap-txt");
    char p[512];
    nv_error err = {0};
    snprintf(p, sizeof p, "%s/a/b/c", dir);
    assert_int_equal(nv_mkdirs(p, &err), NV_OK);
    assert_int_equal(nv_mkdirs(p, &err), NV_OK); /* idempotent */
    snprintf(p, sizeof p, "%s/a/b/c/x.txt", dir);
    assert_int_equal(nv_atomic_write_text(p, "one\n", &err), NV_OK);
    assert_int_equal(nv_atomic_write_text(p, "two\n", &err), NV_OK);
    size_t n = 0;
    char *t = nv_test_read_file(p, &n);
    assert_int_equal(n, 4);
    assert_memory_equal(t, "two\n", 4);
    free(t);
    snprintf(p, sizeof p, "%s/a/b/c", dir);
    assert_int_equal(count_entries(p), 1); /* no temporary left */
    /* A file in the way of a directory: an error naming it. */
    snprintf(p, sizeof p, "%s/a/b/c/x.txt/d", dir);
    assert_int_not_equal(nv_mkdirs(p, &err), NV_OK);
    assert_non_null(strstr(err.msg, "x.txt"));
    rm_tree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_all_splits),
        cmocka_unit_test(test_empty_test_split),
        cmocka_unit_test(test_hashes_from_memory),
        cmocka_unit_test(test_abort_leaves_nothing),
        cmocka_unit_test(test_manifest_order_and_truncate),
        cmocka_unit_test(test_manifest_errors),
        cmocka_unit_test(test_unknown_version_refused),
        cmocka_unit_test(test_same_bytes),
        cmocka_unit_test(test_atomic_text_and_mkdirs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
