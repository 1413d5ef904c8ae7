/* test_run_index.c: the run index every per-run stage plans from
 * (analysis/runs/run_index.c, include/nerve/run_index.h), on small runs written with
 * the library's own snapshot writer:
 *  - grouping (models in manifest order, epochs ascending even when the manifest
 *    lists them out of order), relative paths, layer names in network order;
 *  - the selection: models, layers (dropped or kept layerless), epochs as flags, the
 *    job-array slice keyed on the manifest position, and the list in manifest order;
 *  - refusals, each NV_EINPUT naming the culprit: a misspelt model (listing the
 *    models the run has), an epoch or layer the run lacks, a listed file that is
 *    missing, a snapshot of an unknown format version, not a run, no snapshots, a
 *    task outside the slice.
 */
#include "testutil.h"

#include <sys/stat.h>
#include <unistd.h>

#include "nerve/parallel.h"
#include "nerve/run_index.h"
#include "nerve/snapshot.h"
#include "store/h5util.h"

#define NTR 6
#define NTE 2

/* A snapshot of `model` at `epoch` with the input layer and, if hidden, hidden1. */
static void write_snapshot(const char *snapdir, const char *model, int64_t epoch, int hidden) {
    int32_t y[NTR + NTE];
    int64_t ids[NTR + NTE];
    float x[(NTR + NTE) * 2];
    for (int i = 0; i < NTR + NTE; i++) {
        y[i] = i % 2;
        ids[i] = i;
        x[2 * i] = (float)i;
        x[2 * i + 1] = (float)(i * i % 5);
    }
    nv_snapshot_meta meta = {.experiment = "unit", .model = model, .epoch = epoch, .seed = 1,
                             .config_text = "", .n_train = NTR, .n_test = NTE, .y_train = y,
                             .y_test = y + NTR, .ids_train = ids, .ids_test = ids + NTR};
    nv_snapshot_writer *w = NULL;
    nv_error err = {0};
    assert_int_equal(nv_snapshot_begin(snapdir, &meta, &w, &err), NV_OK);
    /* hidden1 first: the writer stores layer_names in network order whatever the order */
    if (hidden)
        assert_int_equal(nv_snapshot_add_layer(w, 1, "hidden1", "hidden", 0, 2, x, x + 2 * NTR, &err),
                         NV_OK);
    assert_int_equal(nv_snapshot_add_layer(w, 0, "input", "input", 0, 2, x, x + 2 * NTR, &err), NV_OK);
    assert_int_equal(nv_snapshot_commit(w, &err), NV_OK);
}

/* Models "deep" (input, hidden1) and "flat" (input only), epochs 0, 2, 4, 6 each:
 * manifest positions deep 0..3, flat 4..7. */
static char *make_run(const char *tag) {
    char *run = strdup(nv_test_tmpdir(tag));
    char snap[512];
    snprintf(snap, sizeof snap, "%s/snapshots", run);
    for (int e = 6; e >= 0; e -= 2) write_snapshot(snap, "deep", e, 1);
    for (int e = 0; e <= 6; e += 2) write_snapshot(snap, "flat", e, 0);
    return run;
}

static int find_model(const nv_run_index *ix, const char *name) {
    for (int m = 0; m < ix->n_models; m++)
        if (!strcmp(ix->models[m].model, name)) return m;
    return -1;
}

static void test_groups_everything(void **state) {
    (void)state;
    char *run = make_run("runidx-all");
    nv_run_index ix;
    nv_error err = {0};
    assert_int_equal(nv_run_index_read(run, NULL, &ix, &err), NV_OK);
    assert_int_equal(ix.n_manifest, 8);
    assert_int_equal(ix.n_selected, 8);
    assert_int_equal(ix.n_owned, 8);
    assert_int_equal(ix.n_models, 2);
    assert_string_equal(ix.models[0].model, "deep");
    assert_string_equal(ix.models[1].model, "flat");
    const nv_run_model *d = &ix.models[0];
    assert_int_equal(d->n_epochs, 4);
    for (int e = 0; e < 4; e++) {
        assert_int_equal(d->epochs[e], 2 * e);
        assert_true(d->selected[e] && d->owned[e]);
        char want[600];
        snprintf(want, sizeof want, "snapshots/deep/epoch_%04d.h5", 2 * e);
        assert_string_equal(d->rel_paths[e], want);
        snprintf(want, sizeof want, "%s/snapshots/deep/epoch_%04d.h5", run, 2 * e);
        assert_string_equal(d->paths[e], want);
        assert_int_equal(access(d->paths[e], R_OK), 0);
    }
    assert_int_equal(d->n_layers, 2);
    assert_string_equal(d->layers[0], "input");
    assert_string_equal(d->layers[1], "hidden1");
    assert_int_equal(d->n_stored_layers, 2);
    assert_int_equal(ix.models[1].n_layers, 1);
    assert_string_equal(ix.models[1].layers[0], "input");
    /* The list follows the manifest. */
    nv_run_ref *refs = NULL;
    int64_t n = 0;
    assert_int_equal(nv_run_index_list(&ix, 0, &refs, &n, &err), NV_OK);
    assert_int_equal(n, 8);
    for (int64_t k = 0; k < n; k++)
        assert_int_equal(ix.models[refs[k].m].manifest_index[refs[k].e], k);
    free(refs);
    nv_run_index_free(&ix);
    nv_run_index_free(&ix); /* emptied: a second free is harmless */
    free(run);
}

/* A hand-written manifest that lists epochs out of order: the index sorts them and
 * keeps each file's manifest position as its job-array key. */
static void test_unsorted_manifest(void **state) {
    (void)state;
    char *run = make_run("runidx-unsorted");
    char snap[400];
    snprintf(snap, sizeof snap, "%s/snapshots", run);
    nv_test_write_file(snap, "manifest.json",
                       "{\"format\": \"nerve-manifest\", \"format_version\": 1, \"files\": ["
                       "{\"model\": \"flat\", \"epoch\": 4, \"path\": \"flat/epoch_0004.h5\"},"
                       "{\"model\": \"deep\", \"epoch\": 2, \"path\": \"deep/epoch_0002.h5\"},"
                       "{\"model\": \"flat\", \"epoch\": 0, \"path\": \"flat/epoch_0000.h5\"},"
                       "{\"model\": \"deep\", \"epoch\": 0, \"path\": \"deep/epoch_0000.h5\"}]}\n");
    nv_run_index ix;
    nv_error err = {0};
    assert_int_equal(nv_run_index_read(run, NULL, &ix, &err), NV_OK);
    assert_int_equal(ix.n_models, 2);
    assert_string_equal(ix.models[0].model, "flat");
    assert_int_equal(ix.models[0].epochs[0], 0);
    assert_int_equal(ix.models[0].epochs[1], 4);
    assert_int_equal(ix.models[0].manifest_index[0], 2);
    assert_int_equal(ix.models[0].manifest_index[1], 0);
    assert_int_equal(ix.models[1].manifest_index[0], 3);
    nv_run_ref *refs = NULL;
    int64_t n = 0;
    assert_int_equal(nv_run_index_list(&ix, 0, &refs, &n, &err), NV_OK);
    assert_int_equal(n, 4);
    assert_int_equal(refs[0].m, 0);
    assert_int_equal(refs[0].e, 1); /* flat epoch 4, listed first */
    assert_int_equal(refs[3].m, 1);
    assert_int_equal(refs[3].e, 0); /* deep epoch 0, listed last */
    free(refs);
    nv_run_index_free(&ix);
    free(run);
}

static void test_selection(void **state) {
    (void)state;
    char *run = make_run("runidx-select");
    nv_run_index ix;
    nv_error err = {0};

    /* models and epochs */
    const char *models[] = {"flat"};
    int64_t epochs[] = {2, 6};
    nv_run_index_opts o = {.select = {.models = models, .n_models = 1, .epochs = epochs,
                                      .n_epochs = 2}};
    assert_int_equal(nv_run_index_read(run, &o, &ix, &err), NV_OK);
    assert_int_equal(ix.n_models, 1);
    assert_string_equal(ix.models[0].model, "flat");
    assert_int_equal(ix.models[0].n_epochs, 4); /* unselected epochs stay, as flags */
    assert_int_equal(ix.n_selected, 2);
    for (int e = 0; e < 4; e++) assert_int_equal(ix.models[0].selected[e], e == 1 || e == 3);
    nv_run_ref *refs = NULL;
    int64_t n = 0;
    assert_int_equal(nv_run_index_list(&ix, 0, &refs, &n, &err), NV_OK);
    assert_int_equal(n, 2);
    assert_int_equal(refs[0].e, 1);
    assert_int_equal(refs[1].e, 3);
    free(refs);
    nv_run_index_free(&ix);

    /* task i of N: keyed on the manifest position (over every model), round robin */
    int64_t owned_total = 0;
    for (int t = 0; t < 3; t++) {
        nv_run_index_opts ot = {.task = t, .tasks = 3};
        assert_int_equal(nv_run_index_read(run, &ot, &ix, &err), NV_OK);
        assert_int_equal(ix.n_selected, 8);
        for (int m = 0; m < ix.n_models; m++)
            for (int64_t e = 0; e < ix.models[m].n_epochs; e++)
                assert_int_equal(ix.models[m].owned[e],
                                 nv_task_owns(ix.models[m].manifest_index[e], t, 3));
        assert_int_equal(nv_run_index_list(&ix, 1, &refs, &n, &err), NV_OK);
        assert_int_equal(n, ix.n_owned);
        for (int64_t k = 0; k < n; k++)
            assert_int_equal(ix.models[refs[k].m].manifest_index[refs[k].e] % 3, t);
        free(refs);
        owned_total += ix.n_owned;
        nv_run_index_free(&ix);
    }
    assert_int_equal(owned_total, 8);
    /* a slice of a selection: the key is still the manifest position */
    nv_run_index_opts os = {.select = {.models = models, .n_models = 1}, .task = 1, .tasks = 2};
    assert_int_equal(nv_run_index_read(run, &os, &ix, &err), NV_OK);
    assert_int_equal(ix.n_owned, 2);
    assert_int_equal(ix.models[0].manifest_index[0], 4); /* flat epoch 0: task 0's */
    assert_false(ix.models[0].owned[0]);
    assert_true(ix.models[0].owned[1]);
    nv_run_index_free(&ix);

    /* layers: a model without the selected layer is dropped, or kept layerless */
    const char *layers[] = {"hidden1"};
    nv_run_index_opts ol = {.select = {.layers = layers, .n_layers = 1}};
    assert_int_equal(nv_run_index_read(run, &ol, &ix, &err), NV_OK);
    assert_int_equal(ix.n_models, 1);
    assert_string_equal(ix.models[0].model, "deep");
    assert_int_equal(ix.models[0].n_layers, 1);
    assert_string_equal(ix.models[0].layers[0], "hidden1");
    assert_int_equal(ix.models[0].n_stored_layers, 2);
    assert_int_equal(ix.n_selected, 4);
    nv_run_index_free(&ix);
    ol.keep_layerless = 1;
    assert_int_equal(nv_run_index_read(run, &ol, &ix, &err), NV_OK);
    assert_int_equal(ix.n_models, 2);
    int f = find_model(&ix, "flat");
    assert_true(f >= 0);
    assert_int_equal(ix.models[f].n_layers, 0);
    assert_int_equal(ix.models[f].n_stored_layers, 1);
    assert_string_equal(ix.models[f].stored_layers[0], "input");
    assert_int_equal(ix.n_selected, 8);
    nv_run_index_free(&ix);
    free(run);
}

static void test_bad_selection(void **state) {
    (void)state;
    char *run = make_run("runidx-badsel");
    nv_run_index ix;
    nv_error err = {0};
    const char *models[] = {"flat", "deeep"};
    nv_run_index_opts o = {.select = {.models = models, .n_models = 2}};
    assert_int_equal(nv_run_index_read(run, &o, &ix, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "'deeep'"));
    assert_non_null(strstr(err.msg, "the run has: deep, flat"));
    assert_int_equal(ix.n_models, 0);
    nv_error_clear(&err);
    int64_t epochs[] = {3};
    o = (nv_run_index_opts){.select = {.epochs = epochs, .n_epochs = 1}};
    assert_int_equal(nv_run_index_read(run, &o, &ix, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "epoch 3"));
    assert_non_null(strstr(err.msg, "0, 2, 4, 6"));
    nv_error_clear(&err);
    const char *layers[] = {"hidden2"};
    o = (nv_run_index_opts){.select = {.layers = layers, .n_layers = 1}};
    assert_int_equal(nv_run_index_read(run, &o, &ix, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "'hidden2'"));
    assert_non_null(strstr(err.msg, "input, hidden1"));
    nv_error_clear(&err);
    o = (nv_run_index_opts){.task = 2, .tasks = 2};
    assert_int_equal(nv_run_index_read(run, &o, &ix, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "task 2 of 2"));
    nv_error_clear(&err);
    free(run);
}

static void test_bad_files(void **state) {
    (void)state;
    nv_run_index ix;
    nv_error err = {0};
    /* a listed file that is missing */
    char *run = make_run("runidx-missing");
    char path[600];
    snprintf(path, sizeof path, "%s/snapshots/flat/epoch_0004.h5", run);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(nv_run_index_read(run, NULL, &ix, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "missing"));
    assert_non_null(strstr(err.msg, "manifest.json"));
    nv_error_clear(&err);
    /* ... but a stage that selects only other models does not open it */
    const char *models[] = {"deep"};
    nv_run_index_opts o = {.select = {.models = models, .n_models = 1}};
    assert_int_equal(nv_run_index_read(run, &o, &ix, &err), NV_OK);
    nv_run_index_free(&ix);
    free(run);

    /* a snapshot of an unknown format version (not the model's first file) */
    run = make_run("runidx-version");
    snprintf(path, sizeof path, "%s/snapshots/deep/epoch_0006.h5", run);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    assert_int_equal(nv_h5_attr_i64(f, "format_version", NV_SNAPSHOT_VERSION + 6, path, &err), NV_OK);
    H5Fclose(f);
    assert_int_equal(nv_run_index_read(run, NULL, &ix, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "format_version 7"));
    assert_int_equal(ix.n_models, 0);
    nv_error_clear(&err);
    free(run);

    /* not a run; no snapshots */
    assert_int_equal(nv_run_index_read("/nonexistent/run", NULL, &ix, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "/nonexistent/run"));
    nv_error_clear(&err);
    char *empty = strdup(nv_test_tmpdir("runidx-empty"));
    assert_int_equal(nv_run_index_read(empty, NULL, &ix, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "not a run directory"));
    nv_error_clear(&err);
    char snap[400];
    snprintf(snap, sizeof snap, "%s/snapshots", empty);
    assert_int_equal(mkdir(snap, 0755), 0);
    nv_test_write_file(snap, "manifest.json",
                       "{\"format\": \"nerve-manifest\", \"format_version\": 1, \"files\": []}\n");
    assert_int_equal(nv_run_index_read(empty, NULL, &ix, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "lists no snapshots"));
    nv_error_clear(&err);
    free(empty);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_groups_everything),
        cmocka_unit_test(test_unsorted_manifest),
        cmocka_unit_test(test_selection),
        cmocka_unit_test(test_bad_selection),
        cmocka_unit_test(test_bad_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
