/* test_data_io.c: the loaders and the dataset file (datasets/idx.c, csv.c,
 * h5data.c). Each malformed input must be NV_EINPUT with a message that names the
 * place (offset, line and column, dataset path), and a failed save must leave no
 * file. The test writes its own small IDX (raw and gzip), CSV and HDF5 files. */
#include "testutil.h"

#include <hdf5.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "nerve/dataset.h"

static char dir[256];

static const char *path_in(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) & 3;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void write_bytes(const char *path, const void *b, size_t n, int gz) {
    if (gz) {
        gzFile f = gzopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(gzwrite(f, b, (unsigned)n), (int)n);
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(b, 1, n, f), n);
        fclose(f);
    }
}

static void put32(unsigned char *b, uint32_t v) {
    b[0] = (unsigned char)(v >> 24);
    b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8);
    b[3] = (unsigned char)v;
}

/* An images file of n images of 3 x 2 (pixel = 10*i + j) and a labels file
 * (label = i % 4), truncated to `img_len` / `lab_len` bytes when > 0. */
static void write_idx(const char *img, const char *lab, uint32_t n_img, uint32_t n_lab, int gz,
                      size_t img_len, size_t lab_len) {
    unsigned char b[4096];
    put32(b, 0x803);
    put32(b + 4, n_img);
    put32(b + 8, 3);
    put32(b + 12, 2);
    for (uint32_t i = 0; i < n_img; i++)
        for (int j = 0; j < 6; j++) b[16 + 6 * i + j] = (unsigned char)(10 * i + j);
    write_bytes(img, b, img_len ? img_len : 16 + 6 * n_img, gz);
    put32(b, 0x801);
    put32(b + 4, n_lab);
    for (uint32_t i = 0; i < n_lab; i++) b[8 + i] = (unsigned char)(i % 4);
    write_bytes(lab, b, lab_len ? lab_len : 8 + n_lab, gz);
}

static void expect_fail(nv_status st, const nv_error *err, const char *needle) {
    if (st != NV_EINPUT) fail_msg("expected NV_EINPUT, got %d (%s)", st, err->msg);
    if (!strstr(err->msg, needle)) fail_msg("message '%s' does not contain '%s'", err->msg, needle);
}

static void test_idx_good(void **state) {
    (void)state;
    for (int gz = 0; gz < 2; gz++) {
        const char *img = path_in(gz ? "i.gz" : "i.raw"), *lab = path_in(gz ? "l.gz" : "l.raw");
        write_idx(img, lab, 9, 9, gz, 0, 0);
        nv_dataset ds;
        nv_error err = {0};
        assert_int_equal(nv_idx_load(img, lab, 0, &ds, &err), NV_OK);
        assert_int_equal(ds.n, 9);
        assert_int_equal(ds.d, 6);
        assert_int_equal(ds.nclasses, 4);
        for (int64_t i = 0; i < 9; i++) {
            assert_int_equal(ds.y[i], i % 4);
            assert_int_equal(ds.ids[i], i);
            for (int j = 0; j < 6; j++)
                assert_true(ds.x[i * 6 + j] == (float)(10 * i + j) / 255.0f);
        }
        nv_dataset_free(&ds);
        /* limit: the first rows, the whole file's label space */
        assert_int_equal(nv_idx_load(img, lab, 2, &ds, &err), NV_OK);
        assert_int_equal(ds.n, 2);
        assert_int_equal(ds.nclasses, 4);
        nv_dataset_free(&ds);
    }
}

static void test_idx_build(void **state) {
    (void)state;
    const char *img = path_in("bi"), *lab = path_in("bl"), *timg = path_in("ti"), *tlab = path_in("tl");
    write_idx(img, lab, 12, 12, 1, 0, 0);
    write_idx(timg, tlab, 5, 5, 0, 0, 0);
    nv_idx_params p = {.images = img, .labels = lab, .test_images = timg, .test_labels = tlab,
                       .limit = 10, .test_limit = 0};
    nv_dataset tr, te;
    nv_error err = {0};
    assert_int_equal(nv_idx_build(&p, &tr, &te, &err), NV_OK);
    assert_int_equal(tr.n, 10);
    assert_int_equal(te.n, 5);
    assert_int_equal(te.ids[0], 12); /* after all 12 rows of the train file */
    nv_dataset_free(&tr);
    nv_dataset_free(&te);
    /* without test files: a stratified split */
    nv_idx_params q = {.images = img, .labels = lab, .test_fraction = 0.25, .seed = 3};
    assert_int_equal(nv_idx_build(&q, &tr, &te, &err), NV_OK);
    assert_int_equal(tr.n + te.n, 12);
    assert_int_equal(te.n, 4); /* 3 per class, round(0.75) = 1 each */
    nv_dataset_free(&tr);
    nv_dataset_free(&te);
    char store[4096], desc[512];
    nv_idx_fashion_mnist(&p, "/x", store, sizeof store);
    assert_string_equal(p.test_labels, "/x/t10k-labels-idx1-ubyte.gz");
    nv_idx_describe(&p, desc, sizeof desc);
    assert_non_null(strstr(desc, "train-images-idx3-ubyte.gz"));
}

static void test_idx_bad(void **state) {
    (void)state;
    const char *img = path_in("bad_i"), *lab = path_in("bad_l");
    nv_dataset ds;
    nv_error err;
    /* truncated header: 6 bytes of a 16-byte header */
    write_idx(img, lab, 4, 4, 0, 6, 0);
    nv_error_clear(&err);
    expect_fail(nv_idx_load(img, lab, 0, &ds, &err), &err, "header truncated");
    assert_non_null(strstr(err.msg, img));
    /* truncated data: 16 + 24 bytes expected, 30 present */
    write_idx(img, lab, 4, 4, 0, 30, 0);
    nv_error_clear(&err);
    expect_fail(nv_idx_load(img, lab, 0, &ds, &err), &err, "data truncated");
    assert_non_null(strstr(err.msg, "byte 40"));
    assert_non_null(strstr(err.msg, "byte 30"));
    /* the same in a gzip file */
    write_idx(img, lab, 4, 4, 1, 30, 0);
    nv_error_clear(&err);
    expect_fail(nv_idx_load(img, lab, 0, &ds, &err), &err, "data truncated");
    /* a gzip stream cut short (the compressed bytes themselves truncated) */
    write_idx(img, lab, 200, 200, 1, 0, 0);
    {
        struct stat sb;
        assert_int_equal(stat(img, &sb), 0);
        assert_int_equal(truncate(img, sb.st_size / 2), 0);
    }
    nv_error_clear(&err);
    expect_fail(nv_idx_load(img, lab, 0, &ds, &err), &err, img);
    /* trailing bytes after the data */
    write_idx(img, lab, 4, 4, 0, 16 + 24 + 5, 0);
    nv_error_clear(&err);
    expect_fail(nv_idx_load(img, lab, 0, &ds, &err), &err, "after the end");
    /* Issue 21: a header claiming 20 x 4 x 2080374788 pixels (166 GB) in a small gzip
     * file: refused as truncated data naming the header's sizes, without allocating
     * what the header claims (that was "out of memory", exit 1). Raw too, and a
     * smaller false claim (60000 x 28 x 28) the same way. */
    for (int gz = 0; gz < 2; gz++) {
        const uint32_t claims[2][3] = {{20, 4, 2080374788u}, {60000, 28, 28}};
        for (int c = 0; c < 2; c++) {
            unsigned char h[64] = {0};
            put32(h, 0x803);
            put32(h + 4, claims[c][0]);
            put32(h + 8, claims[c][1]);
            put32(h + 12, claims[c][2]);
            write_bytes(img, h, sizeof h, gz);
            unsigned char l[8 + 60000];
            put32(l, 0x801);
            put32(l + 4, claims[c][0]);
            for (uint32_t i = 0; i < claims[c][0]; i++) l[8 + i] = (unsigned char)(i % 3);
            write_bytes(lab, l, 8 + claims[c][0], gz);
            nv_error_clear(&err);
            expect_fail(nv_idx_load(img, lab, 0, &ds, &err), &err, "data truncated");
            char want[128];
            snprintf(want, sizeof want, "the header says %u images of %u x %u bytes", claims[c][0],
                     claims[c][1], claims[c][2]);
            if (!strstr(err.msg, want) || !strstr(err.msg, img) || !strstr(err.msg, "offset 64"))
                fail_msg("gz %d claim %d: %s", gz, c, err.msg);
        }
    }
    /* both files claiming 4 billion one-pixel samples, holding 4 */
    {
        unsigned char h[20], l[12];
        put32(h, 0x803);
        put32(h + 4, 0xfffffff0u);
        put32(h + 8, 1);
        put32(h + 12, 1);
        memcpy(h + 16, "\0\1\2\3", 4);
        put32(l, 0x801);
        put32(l + 4, 0xfffffff0u);
        memcpy(l + 8, "\0\1\2\3", 4);
        for (int gz = 0; gz < 2; gz++) {
            write_bytes(img, h, sizeof h, gz);
            write_bytes(lab, l, sizeof l, gz);
            nv_error_clear(&err);
            expect_fail(nv_idx_load(img, lab, 0, &ds, &err), &err, "data truncated");
            assert_non_null(strstr(err.msg, "4294967280 images of 1 x 1"));
        }
    }
    /* bad magic */
    write_bytes(img, "\x12\x34\x08\x03\0\0\0\1\0\0\0\1\0\0\0\1\0", 17, 0);
    nv_error_clear(&err);
    expect_fail(nv_idx_load(img, lab, 0, &ds, &err), &err, "magic 0x12340803");
    /* wrong data type byte */
    write_bytes(img, "\0\0\x0d\x03\0\0\0\1\0\0\0\1\0\0\0\1\0", 17, 0);
    nv_error_clear(&err);
    expect_fail(nv_idx_load(img, lab, 0, &ds, &err), &err, "offset 2");
    /* images and labels swapped */
    write_idx(img, lab, 4, 4, 0, 0, 0);
    nv_error_clear(&err);
    expect_fail(nv_idx_load(lab, img, 0, &ds, &err), &err, "looks like a labels file");
    /* count mismatch */
    write_idx(img, lab, 4, 5, 0, 0, 0);
    nv_error_clear(&err);
    expect_fail(nv_idx_load(img, lab, 0, &ds, &err), &err, "5 labels");
    /* missing file */
    nv_error_clear(&err);
    expect_fail(nv_idx_load(path_in("nope"), lab, 0, &ds, &err), &err, "nope");
    assert_null(ds.x);
}

static void write_text(const char *path, const char *text) {
    write_bytes(path, text, strlen(text), 0);
}

static void test_csv(void **state) {
    (void)state;
    const char *p = path_in("a.csv");
    nv_dataset ds;
    nv_error err;

    write_text(p, "1.5,2,0\n-3,4e-1,2\r\n\n5, 6 ,1\n");
    nv_error_clear(&err);
    assert_int_equal(nv_csv_load(p, -1, &ds, &err), NV_OK);
    assert_int_equal(ds.n, 3);
    assert_int_equal(ds.d, 2);
    assert_int_equal(ds.nclasses, 3);
    assert_true(ds.x[0] == 1.5f && ds.x[3] == 0.4f && ds.x[5] == 6.0f);
    assert_int_equal(ds.y[1], 2);
    assert_int_equal(ds.ids[2], 2);
    nv_dataset_free(&ds);

    /* header and a label in column 0 */
    write_text(p, "label,f1,f2\n1,0.5,0.25\n0,1,2\n");
    nv_error_clear(&err);
    assert_int_equal(nv_csv_load(p, 0, &ds, &err), NV_OK);
    assert_int_equal(ds.n, 2);
    assert_int_equal(ds.y[0], 1);
    assert_true(ds.x[0] == 0.5f && ds.x[1] == 0.25f);
    nv_dataset_free(&ds);

    write_text(p, "x,y,c\n1,2,0\n3,4\n");
    nv_error_clear(&err);
    expect_fail(nv_csv_load(p, -1, &ds, &err), &err, ":3: 2 fields: expected 3");
    write_text(p, "1,2,0\n3,abc,1\n");
    nv_error_clear(&err);
    expect_fail(nv_csv_load(p, -1, &ds, &err), &err, ":2: column 2: 'abc': expected a number");
    write_text(p, "1,2,0\n3,nan,1\n");
    nv_error_clear(&err);
    expect_fail(nv_csv_load(p, -1, &ds, &err), &err, ":2: column 2: 'nan': expected a finite number");
    write_text(p, "1,2,0\n-inf,1,1\n");
    nv_error_clear(&err);
    expect_fail(nv_csv_load(p, -1, &ds, &err), &err, ":2: column 1: '-inf'");
    write_text(p, "1,1e999,0\n");
    nv_error_clear(&err);
    expect_fail(nv_csv_load(p, -1, &ds, &err), &err, ":1: column 2");
    write_text(p, "1,2,0.5\n");
    nv_error_clear(&err);
    expect_fail(nv_csv_load(p, -1, &ds, &err), &err, "(label)");
    write_text(p, "1,2,-1\n");
    nv_error_clear(&err);
    expect_fail(nv_csv_load(p, -1, &ds, &err), &err, "(label)");
    write_text(p, "");
    nv_error_clear(&err);
    expect_fail(nv_csv_load(p, -1, &ds, &err), &err, "empty");
    write_text(p, "a,b,c\n\n");
    nv_error_clear(&err);
    expect_fail(nv_csv_load(p, -1, &ds, &err), &err, "only a header");
    write_text(p, "1,2,0\n");
    nv_error_clear(&err);
    expect_fail(nv_csv_load(p, 3, &ds, &err), &err, "label column 3");
    nv_error_clear(&err);
    expect_fail(nv_csv_load(path_in("missing.csv"), -1, &ds, &err), &err, "missing.csv");
}

/* Writes a 2-D dataset x (rows x cols, doubles) and 1-D y (int64) to a new file. */
static void write_h5(const char *path, const char *xname, const double *x, hsize_t rows, hsize_t cols,
                     const char *yname, hid_t ytype, const void *y, hsize_t ny) {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hsize_t xd[2] = {rows, cols};
    hid_t s = H5Screate_simple(2, xd, NULL);
    hid_t d = H5Dcreate2(f, xname, H5T_IEEE_F64LE, s, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
    H5Dclose(d);
    H5Sclose(s);
    s = H5Screate_simple(1, &ny, NULL);
    d = H5Dcreate2(f, yname, ytype, s, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, ytype, H5S_ALL, H5S_ALL, H5P_DEFAULT, y);
    H5Dclose(d);
    H5Sclose(s);
    H5Pclose(lcpl);
    H5Fclose(f);
}

static void test_h5_import(void **state) {
    (void)state;
    const char *p = path_in("u.h5");
    double x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    int64_t y[4] = {0, 2, 1, 2};
    nv_dataset ds;
    nv_error err;
    write_h5(p, "data/x", x, 4, 2, "data/y", H5T_NATIVE_INT64, y, 4);
    nv_error_clear(&err);
    assert_int_equal(nv_h5_import(p, "data/x", "/data/y", &ds, &err), NV_OK);
    assert_int_equal(ds.n, 4);
    assert_int_equal(ds.d, 2);
    assert_int_equal(ds.nclasses, 3);
    assert_true(ds.x[5] == 6.0f);
    assert_int_equal(ds.y[3], 2);
    nv_dataset_free(&ds);

    /* mismatched lengths */
    write_h5(p, "x", x, 4, 2, "y", H5T_NATIVE_INT64, y, 3);
    nv_error_clear(&err);
    expect_fail(nv_h5_import(p, "x", "y", &ds, &err), &err, "4 rows but y has 3 labels");
    /* a missing dataset, named */
    nv_error_clear(&err);
    expect_fail(nv_h5_import(p, "x", "labels/y", &ds, &err), &err, "labels/y");
    /* float labels */
    double yf[4] = {0, 1, 0, 1};
    write_h5(p, "x", x, 4, 2, "y", H5T_NATIVE_DOUBLE, yf, 4);
    nv_error_clear(&err);
    expect_fail(nv_h5_import(p, "x", "y", &ds, &err), &err, "not an integer");
    /* a NaN in x, with its place */
    x[3] = NAN;
    write_h5(p, "x", x, 4, 2, "y", H5T_NATIVE_INT64, y, 4);
    nv_error_clear(&err);
    expect_fail(nv_h5_import(p, "x", "y", &ds, &err), &err, "row 1, column 1");
    x[3] = 4;
    /* a negative label */
    y[2] = -1;
    write_h5(p, "x", x, 4, 2, "y", H5T_NATIVE_INT64, y, 4);
    nv_error_clear(&err);
    expect_fail(nv_h5_import(p, "x", "y", &ds, &err), &err, "element 2");
    y[2] = 1;
    /* Issue 21: a dataset whose shape claims far more than the file holds (a chunked
     * dataset of 10^9 x 1000 floats, never written: a few kilobytes on disk) is
     * refused before anything is allocated for it, naming the file and the dataset. */
    {
        hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        hsize_t big[2] = {1000000000ull, 1000}, chunk[2] = {64, 1000}, n1 = 1000000000ull;
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        H5Pset_chunk(dcpl, 2, chunk);
        hid_t sp = H5Screate_simple(2, big, NULL), sp1 = H5Screate_simple(1, &n1, NULL);
        hid_t dx = H5Dcreate2(f, "x", H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        H5Pset_chunk(dcpl, 1, chunk);
        hid_t dy = H5Dcreate2(f, "y", H5T_STD_I64LE, sp1, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        assert_true(f >= 0 && dx >= 0 && dy >= 0);
        H5Dclose(dx), H5Dclose(dy), H5Sclose(sp), H5Sclose(sp1), H5Pclose(dcpl), H5Fclose(f);
        nv_error_clear(&err);
        expect_fail(nv_h5_import(p, "x", "y", &ds, &err), &err, "more than the");
        assert_non_null(strstr(err.msg, "shape 1000000000 x 1000"));
        assert_non_null(strstr(err.msg, p));
    }
    /* not an HDF5 file at all */
    write_text(path_in("not.h5"), "hello");
    nv_error_clear(&err);
    expect_fail(nv_h5_import(path_in("not.h5"), "x", "y", &ds, &err), &err, "not an HDF5 file");
}

static void make_set(nv_dataset *ds, int64_t n, int64_t d, int32_t nclasses, int64_t id0) {
    nv_error err = {0};
    assert_int_equal(nv_dataset_alloc(ds, n, d, &err), NV_OK);
    ds->nclasses = nclasses;
    for (int64_t i = 0; i < n; i++) {
        ds->y[i] = (int32_t)(i % nclasses);
        ds->ids[i] = id0 + i;
        for (int64_t j = 0; j < d; j++) ds->x[i * d + j] = (nv_real)(0.25 * (double)(i * d + j)) - 3.0f;
    }
}

static void assert_equal_sets(const nv_dataset *a, const nv_dataset *b) {
    assert_int_equal(a->n, b->n);
    assert_int_equal(a->d, b->d);
    assert_int_equal(a->nclasses, b->nclasses);
    assert_int_equal(memcmp(a->x, b->x, (size_t)(a->n * a->d) * sizeof(nv_real)), 0);
    assert_int_equal(memcmp(a->y, b->y, (size_t)a->n * sizeof(int32_t)), 0);
    assert_int_equal(memcmp(a->ids, b->ids, (size_t)a->n * sizeof(int64_t)), 0);
}

static void set_version(const char *path, int64_t v, const char *format) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t s = H5Screate(H5S_SCALAR);
    if (format) {
        H5Adelete(f, "format");
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, strlen(format) + 1);
        hid_t a = H5Acreate2(f, "format", t, s, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(a, t, format);
        H5Aclose(a);
        H5Tclose(t);
    } else {
        H5Adelete(f, "format_version");
        hid_t a = H5Acreate2(f, "format_version", H5T_STD_I64LE, s, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(a, H5T_NATIVE_INT64, &v);
        H5Aclose(a);
    }
    H5Sclose(s);
    H5Fclose(f);
}

static void test_dataset_file(void **state) {
    (void)state;
    const char *p = path_in("d.h5");
    nv_dataset tr, te, tr2, te2;
    nv_error err = {0};
    make_set(&tr, 5000, 7, 3, 0);
    make_set(&te, 11, 7, 3, 5000);
    assert_int_equal(nv_dataset_save(p, &tr, &te, "unit test", &err), NV_OK);
    assert_int_equal(nv_dataset_load(p, &tr2, &te2, &err), NV_OK);
    assert_equal_sets(&tr, &tr2);
    assert_equal_sets(&te, &te2);
    nv_dataset_free(&tr2);
    nv_dataset_free(&te2);

    /* an empty test set is allowed and round-trips */
    nv_dataset empty;
    assert_int_equal(nv_dataset_alloc(&empty, 0, 7, &err), NV_OK);
    empty.nclasses = 3;
    assert_int_equal(nv_dataset_save(p, &tr, &empty, "unit test", &err), NV_OK);
    assert_int_equal(nv_dataset_load(p, &tr2, &te2, &err), NV_OK);
    assert_int_equal(te2.n, 0);
    assert_int_equal(te2.d, 7);
    nv_dataset_free(&tr2);
    nv_dataset_free(&te2);
    nv_dataset_free(&empty);

    /* an unknown version and a foreign format are refused, clearly */
    set_version(p, 2, NULL);
    nv_error_clear(&err);
    expect_fail(nv_dataset_load(p, &tr2, &te2, &err), &err, "format_version 2");
    set_version(p, 0, "nerve-snapshot");
    nv_error_clear(&err);
    expect_fail(nv_dataset_load(p, &tr2, &te2, &err), &err, "nerve-snapshot");
    nv_error_clear(&err);
    expect_fail(nv_dataset_load(path_in("none.h5"), &tr2, &te2, &err), &err, "none.h5");

    /* a non-finite value is refused on save; nothing is written */
    tr.x[10] = NAN;
    const char *q = path_in("nan.h5");
    nv_error_clear(&err);
    expect_fail(nv_dataset_save(q, &tr, &te, "x", &err), &err, "row 1, feature 3");
    assert_int_not_equal(access(q, F_OK), 0);
    tr.x[10] = 0;
    /* an output directory that does not exist: input error naming it, no file */
    nv_error_clear(&err);
    expect_fail(nv_dataset_save(path_in("no/such/dir/d.h5"), &tr, &te, "x", &err), &err, "no/such/dir");
    nv_dataset_free(&tr);
    nv_dataset_free(&te);
}

static int setup(void **state) {
    (void)state;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    snprintf(dir, sizeof dir, "%s", nv_test_tmpdir("data"));
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_good),
        cmocka_unit_test(test_idx_build),
        cmocka_unit_test(test_idx_bad),
        cmocka_unit_test(test_csv),
        cmocka_unit_test(test_h5_import),
        cmocka_unit_test(test_dataset_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
