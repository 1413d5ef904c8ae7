/* test_sweep.c: SHA-256 against the FIPS 180-4 test vectors (whole and in pieces),
 * the memoised dataset hashes of a run (used while a file is unchanged, redone
 * when it was replaced), and the expansion of sweep configs: which lists are axes (a list at a key that
 * takes one value; a list of lists at a key that takes a list), the seed axis
 * last and fastest, the task configs free of lists, and every refusal. */
#include "testutil.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "nerve/config.h"
#include "nerve/sweep.h"
#include "nerve/hash.h"
#include "nerve/runhash.h"

static char g_dir[256];

static int teardown(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s", nv_test_tmpdir("sweep"));
    return 0;
}

static void hex_of(nv_hash_alg alg, const void *data, size_t n, char hex[NV_HASH_HEX]) {
    nv_hash s;
    assert_int_equal(nv_hash_init(&s, alg), 0);
    nv_hash_update(&s, data, n);
    nv_hash_final(&s, hex);
}

/* One million 'a', fed in uneven pieces: the block buffering must not matter. */
static void million_a(nv_hash_alg alg, char hex[NV_HASH_HEX]) {
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    nv_hash s;
    assert_int_equal(nv_hash_init(&s, alg), 0);
    size_t off = 0, step = 1;
    while (off < 1000000) {
        size_t n = NV_MIN(step, 1000000 - off);
        nv_hash_update(&s, a + off, n);
        off += n;
        step = step * 3 % 1000 + 1;
    }
    nv_hash_final(&s, hex);
    free(a);
}

/* Known digests. SHA-256 (records of format_version 1): FIPS 180-2's vectors.
 * XXH3-128 (hashes.json now): the empty input's published digest, and values from
 * Python's xxhash binding (python3-xxhash), in canonical (big-endian) hex. A NULL
 * message is one million 'a', fed in uneven pieces. */
static void test_hash_vectors(void **state) {
    (void)state;
    static const struct {
        nv_hash_alg alg;
        const char *msg, *want;
    } v[] = {
        {NV_HASH_SHA256, "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {NV_HASH_SHA256, "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {NV_HASH_SHA256, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {NV_HASH_SHA256,
         "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
        {NV_HASH_SHA256, NULL, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
        {NV_HASH_XXH3_128, "", "99aa06d3014798d86001c324468d497f"},
        {NV_HASH_XXH3_128, "abc", "06b05ab6733a618578af5f94892f3950"},
        {NV_HASH_XXH3_128, NULL, "a545df8e384a9579b1fd6fae5285c4eb"},
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        char hex[NV_HASH_HEX];
        if (v[i].msg) hex_of(v[i].alg, v[i].msg, strlen(v[i].msg), hex);
        else million_a(v[i].alg, hex);
        assert_string_equal(hex, v[i].want);
    }
}

/* A copy continues from the prefix: the snapshot writer hashes train once and
 * continues a copy with test for the virtual train+test dataset. */
static void test_hash_copy(void **state) {
    (void)state;
    unsigned char data[300];
    for (int i = 0; i < 300; i++) data[i] = (unsigned char)((i * 131 + 7) & 255);
    const char *want_prefix = "26d28d07860728f6a4773493fbbe3543", *want_all = "87a2efb2f7036289a4e69646ccce75ce";
    for (int alg = 0; alg < 2; alg++) {
        nv_hash s, c;
        char a[NV_HASH_HEX], b[NV_HASH_HEX], whole[NV_HASH_HEX], prefix[NV_HASH_HEX];
        assert_int_equal(nv_hash_init(&s, (nv_hash_alg)alg), 0);
        nv_hash_update(&s, data, 200);
        assert_int_equal(nv_hash_copy(&c, &s), 0);
        nv_hash_final(&s, a);
        nv_hash_update(&c, data + 200, 100);
        nv_hash_final(&c, b);
        hex_of((nv_hash_alg)alg, data, 200, prefix);
        hex_of((nv_hash_alg)alg, data, 300, whole);
        assert_string_equal(a, prefix);
        assert_string_equal(b, whole);
        if (alg == NV_HASH_XXH3_128) {
            assert_string_equal(a, want_prefix);
            assert_string_equal(b, want_all);
        }
    }
}

/* dir/rel holding one dataset /x of 4 floats starting at v. */
static void write_h5(const char *path, float v) {
    float x[4] = {v, v + 1, v + 2, v + 3};
    hsize_t n = 4;
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t sp = H5Screate_simple(1, &n, NULL);
    hid_t d = H5Dcreate2(f, "x", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0 && d >= 0);
    assert_true(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) >= 0);
    H5Dclose(d), H5Sclose(sp), H5Fclose(f);
}

static void test_hash_memo(void **state) {
    (void)state;
    char run[300], snap[400], file[500], tmp[500];
    snprintf(run, sizeof run, "%s/run", g_dir);
    snprintf(snap, sizeof snap, "%s/snapshots", run);
    mkdir(run, 0755), mkdir(snap, 0755);
    snprintf(file, sizeof file, "%s/a.h5", snap);
    snprintf(tmp, sizeof tmp, "%s/.a.tmp", snap);
    write_h5(file, 1);
    nv_error err = {0};
    nv_hash_memo *m = nv_hash_memo_new();
    assert_non_null(m);
    assert_int_equal(nv_hash_memo_add(m, run, "snapshots/a.h5", &err), NV_OK);
    /* unchanged: the memo's hashes are the file's */
    assert_int_equal(nv_run_hashes_write_memo(run, m, &err), NV_OK);
    assert_int_equal(nv_run_hashes_verify(run, NULL, NULL, &err), NV_OK);
    /* replaced by rename (how every nerve file is written): hashed again */
    write_h5(tmp, 5);
    assert_int_equal(rename(tmp, file), 0);
    assert_int_equal(nv_run_hashes_write_memo(run, m, &err), NV_OK);
    assert_int_equal(nv_run_hashes_verify(run, NULL, NULL, &err), NV_OK);
    /* The memo is really used: change the data in place and put back the stat
     * identity it was memoised under; hashes.json then records the old data, which
     * verify reports. */
    assert_int_equal(nv_hash_memo_add(m, run, "snapshots/a.h5", &err), NV_OK);
    struct stat sb;
    assert_int_equal(stat(file, &sb), 0);
    write_h5(tmp, 9);
    FILE *in = fopen(tmp, "rb"), *out = fopen(file, "r+b");
    assert_true(in && out);
    char buf[4096];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, in)) > 0) assert_int_equal(fwrite(buf, 1, k, out), k);
    fclose(in), fclose(out);
    struct stat now;
    assert_int_equal(stat(file, &now), 0);
    assert_int_equal(now.st_size, sb.st_size); /* same shapes, same layout */
    struct timespec ts[2] = {sb.st_atim, sb.st_mtim};
    assert_int_equal(utimensat(AT_FDCWD, file, ts, 0), 0);
    assert_int_equal(nv_run_hashes_write_memo(run, m, &err), NV_OK);
    assert_int_equal(nv_run_hashes_verify(run, NULL, NULL, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "dataset /x differs"));
    nv_hash_memo_free(m);
}

static void write_text_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Issue 21 (found by fuzzing, tests/fuzz/regressions/): readers that join a name
 * from the file to a directory refuse names that leave it. */
static void test_paths_stay_inside(void **state) {
    (void)state;
    char run[300], path[400];
    snprintf(run, sizeof run, "%s/escape", g_dir);
    mkdir(run, 0755);
    snprintf(path, sizeof path, "%s/hashes.json", run);
    const char *outside[] = {"../escape/x.h5", "/etc/hostname", "a/../../x.h5", ".."};
    for (size_t i = 0; i < sizeof outside / sizeof *outside; i++) {
        char text[600];
        snprintf(text, sizeof text, "{\"algorithm\": \"xxh3-128 of each dataset's raw data as stored\", "
                 "\"format\": \"nerve-hashes\", \"format_version\": 2, \"files\": {\"%s\": {}}}", outside[i]);
        write_text_file(path, text);
        nv_error err = {0};
        assert_int_equal(nv_run_hashes_verify(run, NULL, NULL, &err), NV_EINPUT);
        if (!strstr(err.msg, "expected a path inside the run directory")) fail_msg("%s: %s", outside[i], err.msg);
    }
    /* sweep.json: a task named ".." would make DIR/tasks/../run the task's run */
    snprintf(path, sizeof path, "%s/sweep.json", run);
    const char *names[] = {"..", ".", "", "0001/../..", "a b"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char text[600];
        snprintf(text, sizeof text, "{\"format\": \"nerve-sweep\", \"format_version\": 1, \"nconfigs\": 1, "
                 "\"axes\": [], \"tasks\": [{\"name\": \"%s\", \"config\": 0, \"seed\": 1, \"labels\": []}]}",
                 names[i]);
        write_text_file(path, text);
        nv_sweep_index *ix = NULL;
        nv_error err = {0};
        assert_int_equal(nv_sweep_index_load(run, &ix, &err), NV_EINPUT);
        if (!strstr(err.msg, "tasks[0]: expected a \"name\" of digits")) fail_msg("%s: %s", names[i], err.msg);
    }
    /* a configuration count that sizes nerve collect's tables: at most the tasks */
    write_text_file(path, "{\"format\": \"nerve-sweep\", \"format_version\": 1, \"nconfigs\": 1000000000000000, "
                    "\"axes\": [], \"tasks\": [{\"name\": \"0000\", \"config\": 0, \"seed\": 1, \"labels\": []}]}");
    nv_sweep_index *ix = NULL;
    nv_error err = {0};
    assert_int_equal(nv_sweep_index_load(run, &ix, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "nconfigs 1000000000000000: expected 1 .. 1"));
}

static void test_key_kinds(void **state) {
    (void)state;
    assert_int_equal(nv_config_key_kind("models"), 0);
    assert_int_equal(nv_config_key_kind("models.activation"), 1);
    assert_int_equal(nv_config_key_kind("models.hidden"), 2);
    assert_int_equal(nv_config_key_kind("snapshots.layers"), 2);
    assert_int_equal(nv_config_key_kind("models.nonsense"), -1);
}

static const char *TINY =
    "experiment = \"t\";\n"
    "data: { source = \"spheres\"; spheres: { dim = 4; points_per_class = 20; }; };\n"
    "train: { epochs = 2; };\n";

static void test_expansion(void **state) {
    (void)state;
    char text[2048];
    snprintf(text, sizeof text,
             "%smodels: { activation = [\"relu\", \"leaky_relu\", \"tanh\"];\n"
             "  hidden = ([64, 64, 64], [32, 32, 32, 32]); };\nseeds = [1, 2, 3];\n", TINY);
    nv_sweep_plan *p = NULL;
    nv_error err = {0};
    assert_int_equal(nv_sweep_plan_load(nv_test_write_file(g_dir, "s.cfg", text), 1000, &p, &err), NV_OK);
    assert_int_equal(p->naxes, 3);
    assert_string_equal(p->axes[0].key, "models.activation");
    assert_string_equal(p->axes[1].key, "models.hidden");
    assert_string_equal(p->axes[2].key, "seed");
    assert_int_equal(p->seed_axis, 2);
    assert_int_equal(p->ntasks, 18);
    assert_int_equal(p->nconfigs, 6);
    assert_string_equal(p->axes[1].labels[1], "32-32-32-32");
    assert_string_equal(p->axes[1].json[0], "[64,64,64]");
    /* the seed varies fastest: tasks 0..2 are one configuration */
    int idx[NV_SWEEP_MAX_AXES];
    nv_sweep_task_index(p, 4, idx);
    assert_int_equal(idx[0], 0);
    assert_int_equal(idx[1], 1);
    assert_int_equal(idx[2], 1);
    assert_int_equal(p->task_seeds[4], 2);
    char name[16];
    nv_sweep_task_name(p, 17, name, sizeof name);
    assert_string_equal(name, "0017");
    /* task 4: relu, hidden 32x4, seed 2; its config has no lists left */
    const char *c4 = p->task_configs[4];
    assert_non_null(strstr(c4, "seed = 2;"));
    assert_non_null(strstr(c4, "hidden = [32, 32, 32, 32];"));
    assert_non_null(strstr(c4, "activation = \"relu\";"));
    assert_null(strstr(c4, "seeds"));
    assert_non_null(strstr(p->task_configs[17], "activation = \"tanh\";"));
    /* a task config is a plain experiment: nerve train loads it */
    nv_experiment ex;
    assert_int_equal(nv_config_load(nv_test_write_file(g_dir, "t4.cfg", c4), NULL, 0, &ex, &err), NV_OK);
    assert_int_equal(ex.nhidden, 4);
    nv_sweep_plan_free(p);

    /* no lists: one task; a list at a key that takes a list is a value, not an axis */
    snprintf(text, sizeof text, "%smodels: { hidden = [8, 8]; };\n", TINY);
    assert_int_equal(nv_sweep_plan_load(nv_test_write_file(g_dir, "one.cfg", text), 1000, &p, &err), NV_OK);
    assert_int_equal(p->naxes, 0);
    assert_int_equal(p->ntasks, 1);
    assert_int_equal(p->seed_axis, -1);
    nv_sweep_plan_free(p);

    /* `seed = [...]` works as well as `seeds = [...]` */
    snprintf(text, sizeof text, "%sseed = [5, 6];\n", TINY);
    assert_int_equal(nv_sweep_plan_load(nv_test_write_file(g_dir, "seed.cfg", text), 1000, &p, &err), NV_OK);
    assert_int_equal(p->ntasks, 2);
    assert_int_equal(p->task_seeds[1], 6);
    nv_sweep_plan_free(p);
}

static void expect_refusal(const char *body, int64_t max, const char *needle) {
    char text[2048];
    snprintf(text, sizeof text, "%s%s", TINY, body);
    nv_sweep_plan *p = NULL;
    nv_error err = {0};
    nv_status st = nv_sweep_plan_load(nv_test_write_file(g_dir, "bad.cfg", text), max, &p, &err);
    if (st != NV_EINPUT || !strstr(err.msg, needle)) {
        print_error("body %s: status %d, message '%s', expected '%s'\n", body, st, err.msg, needle);
        fail();
    }
    assert_null(p);
}

static void test_refusals(void **state) {
    (void)state;
    expect_refusal("models: { activation = []; };\n", 1000, "the sweep is empty");
    expect_refusal("seeds = [1, 2, 3, 4];\nmodels: { activation = [\"relu\", \"tanh\"]; };\n", 7,
                   "has 8 tasks, more than the limit of 7");
    expect_refusal("models: { activation = [\"relu\", \"bogus\"]; };\n", 1000, "task 0001 (models.activation = bogus)");
    expect_refusal("models: { activation = [\"relu\", \"bogus\"]; };\n", 1000, "key 'models.activation'");
    expect_refusal("seeds = [1, 2];\nseed = 3;\n", 1000, "'seed' must not be given too");
    expect_refusal("models: { hidden = ([8, 8], 4); };\n", 1000, "mixes lists and single values");
    expect_refusal("models: { activation = ([\"relu\"], [\"tanh\"]); };\n", 1000, "takes one value");
    expect_refusal("models: { hidden = [[8, 8], [4]]; };\n", 1000, "list of lists in parentheses");
    expect_refusal("seeds = [1.5, 2];\n", 1000, "mismatched");
    expect_refusal("seeds = (1, \"x\");\n", 1000, "expected a whole number");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_vectors),
        cmocka_unit_test(test_hash_copy),
        cmocka_unit_test(test_hash_memo),
        cmocka_unit_test(test_paths_stay_inside),
        cmocka_unit_test(test_key_kinds),
        cmocka_unit_test(test_expansion),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
