/* test_config.c: experiment configs: defaults, every kind of bad input (with the
 * file:line in the message), overrides, the log schedule, and that the resolved
 * text reads back to the same experiment. */
#include "testutil.h"

#include "nerve/config.h"

static char g_dir[256];

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s", nv_test_tmpdir("config"));
    return 0;
}

/* Loads `text` and expects failure whose message contains every needle. */
static void expect_error(const char *text, const char *needle1, const char *needle2) {
    const char *p = nv_test_write_file(g_dir, "bad.cfg", text);
    nv_experiment ex;
    nv_error err = {0};
    nv_status st = nv_config_load(p, NULL, 0, &ex, &err);
    if (st != NV_EINPUT) fail_msg("expected NV_EINPUT for:\n%s\ngot %d (%s)", text, st, err.msg);
    if (needle1 && !strstr(err.msg, needle1)) fail_msg("message '%s' lacks '%s'", err.msg, needle1);
    if (needle2 && !strstr(err.msg, needle2)) fail_msg("message '%s' lacks '%s'", err.msg, needle2);
}

static void test_defaults(void **state) {
    (void)state;
    const char *p = nv_test_write_file(g_dir, "min.cfg", "experiment = \"x\";\n");
    nv_experiment ex;
    nv_error err = {0};
    assert_int_equal(nv_config_load(p, NULL, 0, &ex, &err), NV_OK);
    assert_string_equal(ex.experiment, "x");
    assert_int_equal(ex.data.source, NV_DATA_SPHERES);
    assert_int_equal(ex.data.spheres.dim, 12);
    assert_int_equal(ex.data.spheres.sphere_dim, 11);
    assert_int_equal(ex.nhidden, 3);
    assert_int_equal(ex.hidden[0], 64);
    assert_int_equal(ex.bottleneck_layer, 1);
    assert_int_equal(ex.bottleneck_width, 3);
    assert_int_equal(ex.epochs, 60);
    assert_int_equal(ex.optim.kind, NV_OPT_ADAM);
    assert_int_equal(ex.snap_epochs[0], 0);
    assert_int_equal(ex.snap_epochs[ex.nsnap - 1], 60);
    assert_true(ex.nsnap >= 8 && ex.nsnap <= 11);
    assert_true(ex.snap_all_layers);

    nv_model_def m[NV_MAX_MODELS];
    int n = nv_experiment_models(&ex, 12, 2, m);
    assert_int_equal(n, 3);
    assert_string_equal(m[0].name, "expressive");
    assert_int_equal(m[0].spec.nlayers, 4);
    assert_int_equal(m[1].spec.widths[1], 3);   /* the bottleneck */
    assert_int_equal(m[1].spec.widths[2], 64);
    assert_int_equal(m[2].spec.nlayers, 1);     /* linear: 12 -> 2 */
    assert_int_equal(m[2].spec.widths[1], 2);
}

static void test_bad_inputs(void **state) {
    (void)state;
    expect_error("experiment = \"x\";\ntrain: { epochs = 5; lr = 0.1; colour = 3; };\n", "bad.cfg:2", "colour");
    expect_error("train: {\n  lr = \"fast\";\n};\n", "bad.cfg:2", "expected a number");
    expect_error("train: { batch_size = 0; };\n", "train.batch_size", "out of range");
    expect_error("train: { lr = [0.1, 0.01]; };\n", "sweep", "train.lr");
    expect_error("models: { activation = \"swish\"; };\n", "models.activation", "swish");
    expect_error("models: { hidden = [64, 0]; };\n", "models.hidden", "entry 1");
    expect_error("models: { hidden = [64]; bottleneck_layer = 2; };\n", "bottleneck_layer", "out of range");
    expect_error("data: { source = \"mnist\"; };\n", "data.source", "mnist");
    expect_error("data: { spheres: { radius = [1.0]; }; };\n", "radius", "two radii");
    expect_error("data: { spheres: { dim = 5; sphere_dim = 5; }; };\n", "sphere_dim", "out of range");
    expect_error("snapshots: { epochs = [0, 100]; };\n", "snapshots.epochs", "100");
    expect_error("snapshots: { layers = [\"input\", \"hidden7\"]; };\n", "hidden7", NULL);
    expect_error("experiment = \"a/b\";\n", "experiment", "directory");
    expect_error("train: { epochs = 5 \n", "bad.cfg", "syntax");
    expect_error("data: { source = \"csv\"; };\n", "data.csv.path", "needs a path");

    nv_experiment ex;
    nv_error err = {0};
    assert_int_equal(nv_config_load("/nonexistent/x.cfg", NULL, 0, &ex, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "/nonexistent/x.cfg"));
}

static void test_overrides(void **state) {
    (void)state;
    const char *p = nv_test_write_file(g_dir, "o.cfg", "train: { epochs = 10; lr = 0.5; };\nseed = 4;\n");
    const char *ov[] = {"train: { epochs = 3; };", "seed = 9;", "train: { lr = 0.25; };"};
    nv_experiment ex;
    nv_error err = {0};
    assert_int_equal(nv_config_load(p, ov, 3, &ex, &err), NV_OK);
    assert_int_equal(ex.epochs, 3);
    assert_int_equal(ex.seed, 9);
    assert_float_equal(ex.optim.lr, 0.25, 0);
    const char *bad[] = {"train: { nope = 1; };"};
    assert_int_equal(nv_config_load(p, bad, 1, &ex, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "nope"));
    /* An override's error blames the override's text, not the config file's line 1
     * (issue 20: a --set error was reported as config.cfg:1). */
    const char *neg[] = {"train: { lr = -1; };"};
    nv_error_clear(&err);
    assert_int_equal(nv_config_load(p, neg, 1, &ex, &err), NV_EINPUT);
    if (!strstr(err.msg, "train: { lr = -1; };") || !strstr(err.msg, "train.lr") || strstr(err.msg, "o.cfg:"))
        fail_msg("an override's error should name the override, not o.cfg: %s", err.msg);
}

static void test_schedule(void **state) {
    (void)state;
    int64_t s[64];
    int64_t n = nv_log_schedule(60, 10, s);
    assert_int_equal(s[0], 0);
    assert_int_equal(s[1], 1);
    assert_int_equal(s[n - 1], 60);
    for (int64_t i = 1; i < n; i++) assert_true(s[i] > s[i - 1]);
    n = nv_log_schedule(1, 10, s);
    assert_int_equal(n, 2);
    n = nv_log_schedule(0, 10, s);
    assert_int_equal(n, 1);
}

/* The resolved text is a config that loads to the same experiment and resolves to
 * the same text (a fixed point), so a run's stored config reproduces it. */
/* Writes a's resolved text to `name`, loads it into *b and checks that b's resolved
 * text is the same; returns a's text (the caller frees it). */
static char *reload_resolved(const nv_experiment *a, const char *name, nv_experiment *b) {
    nv_error err = {0};
    char *t1 = nv_config_resolved_text(a);
    assert_non_null(t1);
    const char *p = nv_test_write_file(g_dir, name, t1);
    if (nv_config_load(p, NULL, 0, b, &err) != NV_OK) fail_msg("%s\n%s", err.msg, t1);
    char *t2 = nv_config_resolved_text(b);
    assert_string_equal(t1, t2);
    free(t2);
    return t1;
}

static void test_resolved_roundtrip(void **state) {
    (void)state;
    const char *p = nv_test_write_file(g_dir, "r.cfg",
                                       "experiment = \"rt\"; seed = 7;\n"
                                       "data: { spheres: { dim = 8; sphere_dim = 1; radius = [0.7, 1.1]; noise = 0.01; }; };\n"
                                       "models: { hidden = [32, 16]; activation = \"tanh\"; bottleneck_layer = 2; bottleneck_width = 2; };\n"
                                       "train: { epochs = 7; optimizer = \"sgd\"; lr = 0.1; momentum = 0.5; weight_decay = 1e-4; };\n"
                                       "snapshots: { epochs = [7, 0, 3, 3]; layers = [\"input\", \"logits\"]; preactivations = true; };\n");
    nv_experiment a, b;
    nv_error err = {0};
    assert_int_equal(nv_config_load(p, NULL, 0, &a, &err), NV_OK);
    char *t1 = reload_resolved(&a, "r2.cfg", &b);
    assert_int_equal(b.nsnap, 3);
    assert_int_equal(b.snap_epochs[1], 3);
    assert_int_equal(b.init, NV_INIT_XAVIER); /* tanh defaults to xavier */
    assert_int_equal(b.data.spheres.sphere_dim, 1);
    /* values as written: the shortest text that reads back to the same number
     * (lr = 0.1, not 0.100000001) */
    if (!strstr(t1, "lr = 0.1;") || !strstr(t1, "momentum = 0.5;") || !strstr(t1, "noise = 0.01;"))
        fail_msg("resolved text should hold values as written:\n%s", t1);
    free(t1);
}

/* Paths are the user's bytes: a backslash, a double quote, control characters and
 * bytes that are not UTF-8 read back from the resolved text as they were (the
 * config fuzzer found a path whose backslashes halved on every reload). */
static void test_resolved_paths(void **state) {
    (void)state;
    const char *p = nv_test_write_file(g_dir, "paths.cfg",
                                       "experiment = \"paths\";\n"
                                       "data: { source = \"hdf5\"; hdf5: { path = \"a\\\\b\\\"c\\td\\ne\\x7f\xdc.h5\"; "
                                       "x = \"\\\\\\\\\"; y = \"q\\\"\"; }; };\n");
    nv_experiment a, b;
    nv_error err = {0};
    assert_int_equal(nv_config_load(p, NULL, 0, &a, &err), NV_OK);
    assert_string_equal(a.data.path, "a\\b\"c\td\ne\x7f\xdc.h5");
    assert_string_equal(a.data.x_path, "\\\\");
    assert_string_equal(a.data.y_path, "q\"");
    char *t1 = reload_resolved(&a, "paths2.cfg", &b);
    assert_string_equal(b.data.path, a.data.path);
    assert_string_equal(b.data.x_path, a.data.x_path);
    assert_string_equal(b.data.y_path, a.data.y_path);
    /* a resume with another path suggests a --set that gives back the same bytes */
    char key[128], va[256], vb[256], set[512];
    const char *q = "data: { hdf5: { y = \"q\\\"\\\\\\x01\"; }; };";
    assert_int_equal(nv_config_diff("data: { hdf5: { y = \"a\"; }; };", q, key, sizeof key, va, vb, sizeof va), 1);
    assert_string_equal(key, "data.hdf5.y");
    assert_string_equal(vb, "\"q\\\"\\\\\\x01\"");
    char lit[32];
    nv_config_quote("q\"\\\x01", lit, sizeof lit);
    assert_string_equal(lit, "\"q\\\"\\\\\\x01\"");
    nv_config_set_text("data.hdf5.y", lit, set, sizeof set);
    assert_string_equal(set, "data: { hdf5: { y = \"q\\\"\\\\\\x01\"; }; };");
    nv_config_quote("abcdef", lit, 5); /* cut short, terminated */
    assert_string_equal(lit, "\"abc");
    free(t1);
}

/* nv_config_diff names the first key two configs differ in and both values, whatever
 * the formatting, comments or key order; nv_config_set_text makes the --set that
 * gives a key a value (issue 20: a resume of another config named only a line). */
static void test_config_diff(void **state) {
    (void)state;
    char key[128], va[128], vb[128], set[256];
    const char *a = "train: { epochs = 3; lr = 0.001; };\nmodels: { hidden = [8, 8]; };\n";
    /* same settings: other order, comments, number format */
    const char *same = "# a comment\nmodels: { hidden = [8, 8]; };\ntrain: { lr = 1e-3; epochs = 3; };\n";
    assert_int_equal(nv_config_diff(a, same, key, sizeof key, va, vb, sizeof va), 0);
    /* a nested scalar */
    assert_int_equal(nv_config_diff(a, "train: { epochs = 3; lr = 0.01; };\nmodels: { hidden = [8, 8]; };\n",
                                    key, sizeof key, va, vb, sizeof va), 1);
    assert_string_equal(key, "train.lr");
    assert_string_equal(va, "0.001");
    assert_string_equal(vb, "0.01");
    /* a list */
    assert_int_equal(nv_config_diff(a, "train: { epochs = 3; lr = 0.001; };\nmodels: { hidden = [8, 16]; };\n",
                                    key, sizeof key, va, vb, sizeof va), 1);
    assert_string_equal(key, "models.hidden");
    assert_string_equal(va, "[8, 8]");
    assert_string_equal(vb, "[8, 16]");
    /* a key only one side sets */
    assert_int_equal(nv_config_diff(a, "train: { epochs = 3; lr = 0.001; seed = 2; };\nmodels: { hidden = [8, 8]; };\n",
                                    key, sizeof key, va, vb, sizeof va), 1);
    assert_string_equal(key, "train.seed");
    assert_string_equal(va, "(not set)");
    assert_string_equal(vb, "2");
    /* a group only one side has: named at its first setting, not as "{ ... }" */
    assert_int_equal(nv_config_diff("a = 1;\ndyn: { enabled = true; every = 2; };\n", "a = 1;\n", key, sizeof key, va,
                                    vb, sizeof va), 1);
    assert_string_equal(key, "dyn.enabled");
    assert_string_equal(va, "true");
    assert_string_equal(vb, "(not set)");
    assert_int_equal(nv_config_diff("a = 1;\n", "a = 1;\nx: { y: { z = 3; }; };\n", key, sizeof key, va, vb,
                                    sizeof va), 1);
    assert_string_equal(key, "x.y.z");
    assert_string_equal(va, "(not set)");
    assert_string_equal(vb, "3");
    /* a text that does not parse */
    assert_int_equal(nv_config_diff(a, "train: { epochs = ; };", key, sizeof key, va, vb, sizeof va), -1);
    /* the caller may ask only whether they differ */
    assert_int_equal(nv_config_diff(a, same, NULL, 0, NULL, NULL, 0), 0);
    nv_config_set_text("train.lr", "0.001", set, sizeof set);
    assert_string_equal(set, "train: { lr = 0.001; };");
    nv_config_set_text("seed", "4", set, sizeof set);
    assert_string_equal(set, "seed = 4;");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),   cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_overrides),  cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_resolved_roundtrip), cmocka_unit_test(test_resolved_paths), cmocka_unit_test(test_config_diff),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
