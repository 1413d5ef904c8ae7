/* test_features_run.c: `nerve features RUN`'s run loop in the library
 * (nv_features_run, analysis/runs/features_run.c) on a small run written with the
 * library's own snapshot writer (two models, three epochs, a 4-3-2 ReLU net):
 *  - the events: START once with the plan (files in the run, this task's, the box),
 *    then FILE_DONE for every file, counting up; the report matches;
 *  - idempotence: a second call writes nothing and reports every file up to date;
 *  - the job-array slice: two tasks together write every file once, the same bytes
 *    as one task (the outputs depend on nothing but the snapshot and the job);
 *  - figures: the layer grids and, once a model's epochs are all done, the history;
 *  - refusals through the run index: a misspelt model (naming the run's models), a
 *    layer the snapshots do not hold, a task outside the slice;
 *  - format version 2 (top inputs, projections, below_data) from snapshots that store
 *    every layer (the top inputs follow the stored ranking), a layer selection, a
 *    named model without the selected layer, the input layer, a bad top_k.
 */
#include "testutil.h"

#include <unistd.h>

#include "nerve/features_run.h"
#include "nerve/plot.h"
#include "nerve/rng.h"
#include "nerve/snapshot.h"
#include "store/h5util.h"

#define NTR 24
#define NTE 8
#define D 4

/* A snapshot of model `model` at `epoch`: a 4-3-2 ReLU net ("linear": a 4-2 linear
 * model), its input layer and, with stored, the activations of every layer (computed
 * here, as training would store them). */
static void write_snapshot(const char *snapdir, const char *model, int64_t epoch, int stored) {
    int32_t y[NTR + NTE];
    int64_t ids[NTR + NTE];
    float x[(NTR + NTE) * D];
    for (int i = 0; i < NTR + NTE; i++) {
        y[i] = i % 2;
        ids[i] = 100 + i;
        for (int j = 0; j < D; j++)
            x[i * D + j] = nv_rng_normal(3, NV_STREAM_TEST, (uint64_t)(i * D + j));
    }
    int linear = strcmp(model, "linear") == 0;
    nv_mlp_spec spec = {.nlayers = linear ? 1 : 2, .widths = {D, linear ? 2 : 3, 2}, .act = NV_ACT_RELU};
    int64_t np = nv_mlp_param_count(&spec);
    nv_real *p = malloc((size_t)np * sizeof *p);
    for (int64_t i = 0; i < np; i++)
        p[i] = 0.5f * nv_rng_normal(11 + (uint64_t)epoch, NV_STREAM_TEST, (uint64_t)i);
    nv_snapshot_meta meta = {.experiment = "unit", .model = model, .epoch = epoch, .seed = 1,
                             .config_text = "", .n_train = NTR, .n_test = NTE, .y_train = y,
                             .y_test = y + NTR, .ids_train = ids, .ids_test = ids + NTR};
    nv_snapshot_writer *w = NULL;
    nv_error err = {0};
    assert_int_equal(nv_snapshot_begin(snapdir, &meta, &w, &err), NV_OK);
    assert_int_equal(nv_snapshot_add_layer(w, 0, "input", "input", 0, D, x, x + D * NTR, &err), NV_OK);
    if (stored) {
        float a[(NTR + NTE) * 3], b[(NTR + NTE) * 3];
        const float *in = x;
        for (int l = 1; l <= spec.nlayers; l++) {
            int64_t win = spec.widths[l - 1], wout = spec.widths[l];
            float *o = l == 1 ? a : b;
            for (int i = 0; i < NTR + NTE; i++)
                for (int64_t k = 0; k < wout; k++) {
                    float z = p[nv_mlp_bias_offset(&spec, l - 1) + k];
                    for (int64_t j = 0; j < win; j++) z += in[i * win + j] * p[nv_mlp_weight_offset(&spec, l - 1) + k * win + j];
                    o[i * wout + k] = l < spec.nlayers && z < 0 ? 0 : z;
                }
            const char *name = l == spec.nlayers ? "logits" : "hidden1";
            assert_int_equal(nv_snapshot_add_layer(w, l, name, l == spec.nlayers ? "logits" : "hidden", 0,
                                                   wout, o, o + wout * NTR, &err), NV_OK);
            in = o;
        }
    }
    assert_int_equal(nv_snapshot_add_params(w, &spec, p, &err), NV_OK);
    assert_int_equal(nv_snapshot_commit(w, &err), NV_OK);
    free(p);
}

static char *make_run(const char *tag) {
    char *run = strdup(nv_test_tmpdir(tag));
    char snap[512];
    snprintf(snap, sizeof snap, "%s/snapshots", run);
    for (int e = 0; e < 3; e++) write_snapshot(snap, "a", e, 0);
    for (int e = 0; e < 3; e++) write_snapshot(snap, "b", e, 0);
    return run;
}

typedef struct {
    int starts, dones;
    int64_t start_total, last_done, owned_at_start, files_at_start;
    int skipped;
} events;

static void on_event(void *ctx, const nv_features_run_event *ev) {
    events *e = ctx;
    if (ev->kind == NV_FEATURES_RUN_EV_START) {
        assert_int_equal(e->dones, 0);
        e->starts++;
        e->start_total = ev->total;
        e->owned_at_start = ev->report->files_owned;
        e->files_at_start = ev->report->files_total;
    } else {
        assert_int_equal(ev->kind, NV_FEATURES_RUN_EV_FILE_DONE);
        assert_int_equal(ev->done, e->last_done + 1);
        assert_non_null(ev->model);
        assert_true(ev->skipped ? ev->device[0] == '\0' : !strcmp(ev->device, "cpu"));
        e->last_done = ev->done;
        e->dones++;
        e->skipped += ev->skipped;
    }
}

static nv_features_run_options options(events *ev) {
    nv_features_run_options o;
    memset(&o, 0, sizeof o);
    nv_features_defaults(&o.job.p);
    o.job.p.steps = 20;
    o.job.device = NV_DEVICE_CPU;
    o.box_auto = 1;
    o.threads = 2;
    o.on_event = on_event;
    o.ctx = ev;
    return o;
}

static int exists(const char *run, const char *rel) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s", run, rel);
    return access(path, R_OK) == 0;
}

static void test_whole_run(void **state) {
    (void)state;
    char *run = make_run("featrun-all");
    events ev = {0};
    nv_features_run_options o = options(&ev);
    nv_features_run_report rep;
    nv_error err = {0};
    assert_int_equal(nv_features_run(run, &o, &rep, &err), NV_OK);
    assert_int_equal(ev.starts, 1);
    assert_int_equal(ev.start_total, 6);
    assert_int_equal(ev.owned_at_start, 6);
    assert_int_equal(ev.files_at_start, 6);
    assert_int_equal(ev.dones, 6);
    assert_int_equal(ev.skipped, 0);
    assert_int_equal(rep.files_total, 6);
    assert_int_equal(rep.files_owned, 6);
    assert_int_equal(rep.files_written, 6);
    assert_int_equal(rep.files_skipped, 0);
    assert_int_equal(rep.box_global, 0); /* 4 inputs: not an image */
    assert_true(exists(run, "analysis/features/a/epoch_0000.h5"));
    assert_true(exists(run, "analysis/features/b/epoch_0002.h5"));
    assert_false(exists(run, "analysis/figures/features")); /* figures off */

    /* Again: everything up to date. */
    ev = (events){0};
    assert_int_equal(nv_features_run(run, &o, &rep, &err), NV_OK);
    assert_int_equal(ev.dones, 6);
    assert_int_equal(ev.skipped, 6);
    assert_int_equal(rep.files_written, 0);
    assert_int_equal(rep.files_skipped, 6);

    /* The job-array slice: the same files, the same bytes. */
    char *split = make_run("featrun-tasks");
    int64_t written = 0;
    for (int t = 0; t < 2; t++) {
        ev = (events){0};
        o.task = t;
        o.tasks = 2;
        assert_int_equal(nv_features_run(split, &o, &rep, &err), NV_OK);
        assert_int_equal(rep.files_owned, 3);
        assert_int_equal(ev.start_total, 3);
        written += rep.files_written;
    }
    assert_int_equal(written, 6);
    for (int m = 0; m < 2; m++)
        for (int e = 0; e < 3; e++) {
            char a[600], b[600];
            snprintf(a, sizeof a, "%s/analysis/features/%c/epoch_%04d.h5", run, "ab"[m], e);
            snprintf(b, sizeof b, "%s/analysis/features/%c/epoch_%04d.h5", split, "ab"[m], e);
            size_t na = 0, nb = 0;
            char *ta = nv_test_read_file(a, &na), *tb = nv_test_read_file(b, &nb);
            assert_int_equal(na, nb);
            assert_memory_equal(ta, tb, na);
            free(ta);
            free(tb);
        }
    free(run);
    free(split);
}

static void test_figures_and_selection(void **state) {
    (void)state;
    char *run = make_run("featrun-figs");
    events ev = {0};
    nv_features_run_options o = options(&ev);
    o.job.figures = 1;
    int64_t units[] = {0, 2};
    o.job.history_units = units;
    o.job.n_history = 2;
    const char *models[] = {"b"};
    o.select.models = models;
    o.select.n_models = 1;
    nv_features_run_report rep;
    nv_error err = {0};
    assert_int_equal(nv_features_run(run, &o, &rep, &err), NV_OK);
    assert_int_equal(rep.files_total, 6);
    assert_int_equal(rep.files_owned, 3);
    assert_true(exists(run, "analysis/features/b/epoch_0001.h5"));
    assert_false(exists(run, "analysis/features/a/epoch_0001.h5"));
    assert_true(exists(run, "analysis/figures/features/b_e0001_hidden1.png"));
    assert_true(exists(run, "analysis/figures/features/b_e0001_logits.png"));
    assert_true(exists(run, "analysis/figures/features/b_hidden1_unit0_history.png"));
    assert_true(exists(run, "analysis/figures/features/b_hidden1_unit2_history.png"));
    assert_true(exists(run, "analysis/figures/features/b_logits_unit0_history.png"));
    assert_false(exists(run, "analysis/figures/features/b_logits_unit2_history.png")); /* 2 logits */

    /* Refusals, before any file is written. */
    const char *typo[] = {"bb"};
    o.select.models = typo;
    assert_int_equal(nv_features_run(run, &o, &rep, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "'bb'"));
    assert_non_null(strstr(err.msg, "the run has: a, b"));
    nv_error_clear(&err);
    o.select.n_models = 0;
    /* These snapshots hold only the input: a layer selection names stored layers. */
    const char *layers[] = {"hidden1"};
    o.select.layers = layers;
    o.select.n_layers = 1;
    assert_int_equal(nv_features_run(run, &o, &rep, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "no layer 'hidden1'"));
    nv_error_clear(&err);
    o.select.n_layers = 0;
    o.task = 3;
    o.tasks = 2;
    assert_int_equal(nv_features_run(run, &o, &rep, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "--task 3"));
    nv_error_clear(&err);
    assert_false(exists(run, "analysis/features/a"));
    free(run);
}

/* Snapshots that store every layer, and a linear model beside the ReLU net: the top
 * inputs are the stored activations' ranking, the file holds format version 2 with
 * top inputs and projections, and a layer selection computes only those layers;
 * refusals: a layer that does not exist, a named model without the layer, the
 * input, a bad top_k. */
static void test_layers_and_v2(void **state) {
    (void)state;
    char *run = strdup(nv_test_tmpdir("featrun-layers"));
    char snap[512];
    snprintf(snap, sizeof snap, "%s/snapshots", run);
    write_snapshot(snap, "a", 0, 1);
    write_snapshot(snap, "linear", 0, 1);
    events ev = {0};
    nv_features_run_options o = options(&ev);
    o.job.top_k = 5;
    nv_features_run_report rep;
    nv_error err = {0};
    assert_int_equal(nv_features_run(run, &o, &rep, &err), NV_OK);
    assert_int_equal(ev.dones, 2);
    o.on_event = NULL;
    char path[600];
    snprintf(path, sizeof path, "%s/analysis/features/a/epoch_0000.h5", run);
    hid_t fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(fid >= 0);
    int64_t version = 0;
    assert_int_equal(nv_h5_check_format(fid, path, NV_FEATURES_FORMAT, NV_FEATURES_VERSION, &version, &err), NV_OK);
    assert_int_equal(version, 2);
    float *top_x = NULL, *proj = NULL, *act = NULL, *tact = NULL;
    int64_t dx[3], dp[4], da, dt[2];
    unsigned char *below = NULL;
    assert_int_equal(nv_h5_read_dataset(fid, "layers/hidden1/top_inputs", H5T_NATIVE_FLOAT, 4, 3, (void **)&top_x, dx, path, &err), NV_OK);
    assert_int_equal(nv_h5_read_dataset(fid, "layers/hidden1/projections", H5T_NATIVE_FLOAT, 4, 4, (void **)&proj, dp, path, &err), NV_OK);
    assert_int_equal(nv_h5_read_dataset(fid, "layers/hidden1/top_activations", H5T_NATIVE_FLOAT, 4, 2, (void **)&tact, dt, path, &err), NV_OK);
    assert_int_equal(nv_h5_read_dataset(fid, "layers/hidden1/activations", H5T_NATIVE_FLOAT, 4, 1, (void **)&act, &da, path, &err), NV_OK);
    assert_int_equal(nv_h5_read_dataset(fid, "layers/hidden1/below_data", H5T_NATIVE_UCHAR, 1, 1, (void **)&below, &da, path, &err), NV_OK);
    assert_true(dx[0] == 3 && dx[1] == 5 && dx[2] == D);
    assert_true(dp[0] == 3 && dp[1] == 5 && dp[2] == NV_PROJ_RULES && dp[3] == D);
    hid_t g = H5Gopen2(fid, "layers/hidden1", H5P_DEFAULT);
    char *from = NULL;
    assert_int_equal(nv_h5_read_attr_str(g, "ranked_from", &from, path, "layers/hidden1", &err), NV_OK);
    assert_string_equal(from, "snapshot");
    free(from);
    H5Gclose(g);
    /* The top inputs are the stored ranking: descending stored activations. */
    for (int u = 0; u < 3; u++)
        for (int j = 1; j < 5; j++) assert_true(tact[u * 5 + j] <= tact[u * 5 + j - 1]);
    H5Fclose(fid);
    free(top_x); free(proj); free(act); free(tact); free(below);
    /* The linear model has only its logits. */
    snprintf(path, sizeof path, "%s/analysis/features/linear/epoch_0000.h5", run);
    assert_true(access(path, R_OK) == 0);

    /* A selection: only the logits (both models have them). */
    const char *logits[] = {"logits"};
    o.select.layers = logits;
    o.select.n_layers = 1;
    assert_int_equal(nv_features_run(run, &o, &rep, &err), NV_OK);
    snprintf(path, sizeof path, "%s/analysis/features/a/epoch_0000.h5", run);
    fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_false(nv_h5_exists(fid, "layers/hidden1"));
    assert_true(nv_h5_exists(fid, "layers/logits"));
    H5Fclose(fid);
    /* hidden1 without naming models: the linear model (which lacks it) is left out. */
    const char *hidden[] = {"hidden1"};
    o.select.layers = hidden;
    assert_int_equal(nv_features_run(run, &o, &rep, &err), NV_OK);
    assert_int_equal(rep.files_owned, 1);

    /* Refusals. */
    const char *nope[] = {"hidden7"};
    o.select.layers = nope;
    assert_int_equal(nv_features_run(run, &o, &rep, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "no layer 'hidden7'"));
    nv_error_clear(&err);
    const char *named[] = {"a", "linear"};
    o.select.models = named;
    o.select.n_models = 2;
    o.select.layers = hidden;
    assert_int_equal(nv_features_run(run, &o, &rep, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "model linear has no layer 'hidden1'"));
    nv_error_clear(&err);
    o.select.n_models = 1;
    o.select.models = named + 1;
    assert_int_equal(nv_features_run(run, &o, &rep, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "hidden1"));
    nv_error_clear(&err);
    o.select.n_models = 0;
    const char *input[] = {"input"};
    o.select.layers = input;
    assert_int_equal(nv_features_run(run, &o, &rep, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "'input' has no feature images"));
    nv_error_clear(&err);
    o.select.n_layers = 0;
    o.job.top_k = -1;
    assert_int_equal(nv_features_run(run, &o, &rep, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "top_k"));
    nv_error_clear(&err);
    free(run);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_run),
        cmocka_unit_test(test_figures_and_selection),
        cmocka_unit_test(test_layers_and_v2),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    nv_plot_release_caches();
    return rc;
}
