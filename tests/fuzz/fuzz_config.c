/* fuzz_config.c: the experiment config reader and its validation
 * (nv_config_load), and the sweep reader on the same text (nv_sweep_plan_load:
 * lists become axes, every task's config is validated).
 *
 * Beyond "no crash, OK or NV_EINPUT naming the file": an accepted config's
 * resolved text (what `nerve train` stores as RUN/config.cfg and reads back on
 * --resume) must load again, to the same resolved text; its models must be valid
 * networks; its generator parameters must pass their own validation.
 */
#include "fuzz_util.h"
#include "nerve/config.h"
#include "nerve/sweep.h"

static void check_resolved(const nv_experiment *ex) {
    char *text = nv_config_resolved_text(ex);
    if (!text) abort();
    const char *path = nv_fuzz_file("resolved.cfg", (const uint8_t *)text, strlen(text));
    nv_experiment *again = malloc(sizeof *again);
    nv_error err = {0};
    if (nv_config_load(path, NULL, 0, again, &err) != NV_OK) {
        fprintf(stderr, "nerve fuzz: the resolved config does not load again: %s\n--- text:\n%s\n", err.msg, text);
        abort();
    }
    char *text2 = nv_config_resolved_text(again);
    if (!text2 || strcmp(text, text2) != 0) {
        fprintf(stderr, "nerve fuzz: the resolved config changes on reloading:\n%s\n--- became:\n%s\n", text,
                text2 ? text2 : "(null)");
        abort();
    }
    free(text2);
    free(again);
    free(text);
}

static void check_models(const nv_experiment *ex) {
    nv_model_def m[NV_MAX_MODELS];
    int n = nv_experiment_models(ex, 12, 2, m);
    for (int i = 0; i < n; i++) {
        nv_error err = {0};
        if (nv_mlp_spec_validate(&m[i].spec, &err) != NV_OK) {
            fprintf(stderr, "nerve fuzz: an accepted config makes an invalid network %s: %s\n", m[i].name, err.msg);
            abort();
        }
    }
    nv_error err = {0};
    if (ex->data.source == NV_DATA_SPHERES && nv_spheres_validate(&ex->data.spheres, &err) != NV_OK) {
        fprintf(stderr, "nerve fuzz: accepted spheres parameters fail validation: %s\n", err.msg);
        abort();
    }
    if (ex->data.source == NV_DATA_DISKS && nv_disks_validate(&ex->data.disks, &err) != NV_OK) {
        fprintf(stderr, "nerve fuzz: accepted disks parameters fail validation: %s\n", err.msg);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = nv_fuzz_file("experiment.cfg", data, size);
    nv_experiment *ex = malloc(sizeof *ex);
    nv_error err = {0};
    nv_status st = nv_config_load(path, NULL, 0, ex, &err);
    nv_fuzz_check(st, &err, NULL);
    if (st == NV_OK) {
        check_models(ex);
        check_resolved(ex);
    }
    free(ex);
    nv_sweep_plan *plan = NULL;
    nv_error e2 = {0};
    st = nv_sweep_plan_load(path, 16, &plan, &e2);
    nv_fuzz_check(st, &e2, NULL);
    if (st == NV_OK && (plan->ntasks < 1 || plan->ntasks > 16)) abort();
    nv_sweep_plan_free(plan);
    return 0;
}
