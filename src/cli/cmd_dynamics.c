/* cmd_dynamics.c: `nerve dynamics RUN [weights --step S]`: what a run's dynamics
 * record holds, and any recorded step's weights rebuilt from a saved state and the
 * factors (include/nerve/dynamics.h does the work; docs/dynamics.md). */
#include <cblas.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "nerve/checkpoint.h"
#include "nerve/config.h"
#include "nerve/dynamics.h"
#include "nerve/fsutil.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: nerve dynamics RUN                       what RUN/dynamics holds\n"
            "       nerve dynamics RUN weights --step S [--model M] [--from S0] [--out FILE]\n\n"
            "The training-dynamics record of a run (docs/dynamics.md; turned on by the config's\n"
            "dynamics.enabled). Without a subcommand: each recorded model's tiers, steps, rows\n"
            "and bytes.\n\n"
            "weights: rebuilds the parameters and optimiser state after step S from the latest\n"
            "saved state before it (the weights tier; --from picks another) and the factors of\n"
            "the steps in between (batch gradient (1/b) sum_i d_i a_i^T with the training\n"
            "backend's own calls, then the same weight decay and update), writes them to FILE\n"
            "(default RUN/analysis/dynamics/<model>_step_S.h5, format nerve-dynamics-weights)\n"
            "and prints the max |difference| against the stored weights at S (weights tier)\n"
            "and against the checkpoint when it is at S.\n\n"
            "options:\n"
            "  --step S      the step (0 = the initialisation; S = epochs x steps per epoch)\n"
            "  --model M     the model (default: expressive if recorded, else the first)\n"
            "  --from S0     start from the saved state at step S0\n"
            "  --out FILE    where to write the rebuilt state\n"
            "  -h, --help    this help\n\n"
            "Exit status: 0 done, 2 bad input (no record, a step not recorded, factors missing).\n");
}

static void human(double b, char *buf, size_t len) {
    if (b >= 1e9) snprintf(buf, len, "%.2f GB", b / 1e9);
    else if (b >= 1e6) snprintf(buf, len, "%.2f MB", b / 1e6);
    else if (b >= 1e3) snprintf(buf, len, "%.1f kB", b / 1e3);
    else snprintf(buf, len, "%.0f B", b);
}

static int summary(const char *run, char (*models)[64], int n) {
    for (int m = 0; m < n; m++) {
        char path[NV_PATH_LEN + 160];
        snprintf(path, sizeof path, "%s/dynamics/%s/manifest.json", run, models[m]);
        json_t *root = json_load_file(path, 0, NULL);
        int64_t steps[NV_DYN_TIERS] = {0}, rows[NV_DYN_TIERS] = {0}, bytes[NV_DYN_TIERS] = {0}, last = 0;
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(root, "chunks"), i, c) {
            last = json_integer_value(json_object_get(c, "last_step"));
            for (int t = 0; t < NV_DYN_TIERS; t++) {
                json_t *o = json_object_get(json_object_get(c, "tiers"), nv_dyn_tier_name(t));
                steps[t] += json_integer_value(json_object_get(o, "steps"));
                rows[t] += json_integer_value(json_object_get(o, "rows"));
                bytes[t] += json_integer_value(json_object_get(o, "bytes"));
            }
        }
        printf("%s: %zu chunks, steps 1..%lld (%s/dynamics/%s.h5)\n", models[m], json_array_size(json_object_get(root, "chunks")),
               (long long)last, run, models[m]);
        for (int t = 0; t < NV_DYN_TIERS; t++) {
            if (!rows[t]) continue;
            char h[32];
            human((double)bytes[t], h, sizeof h);
            printf("  %-8s %8lld steps %10lld rows %12s\n", nv_dyn_tier_name(t), (long long)steps[t], (long long)rows[t], h);
        }
        json_decref(root);
    }
    return 0;
}

int nv_cmd_dynamics(int argc, char **argv) {
    static const struct option opts[] = {{"step", required_argument, 0, 's'}, {"model", required_argument, 0, 'm'},
                                         {"from", required_argument, 0, 'f'}, {"out", required_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'},       {0, 0, 0, 0}};
    long long step = -1, from = -1;
    const char *model = NULL, *out = NULL;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "s:m:f:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (nv_cli_int("dynamics", "--step", optarg, 0, INT64_MAX, &step)) return 2;
            break;
        case 'f':
            if (nv_cli_int("dynamics", "--from", optarg, 0, INT64_MAX, &from)) return 2;
            break;
        case 'm': model = optarg; break;
        case 'o': out = optarg; break;
        case 'h': usage(stdout); return 0;
        default: return nv_cli_usage("dynamics", "unknown option");
        }
    }
    int npos = argc - optind;
    if (npos < 1 || npos > 2) return nv_cli_usage("dynamics", "expected RUN [weights], found %d arguments", npos);
    const char *run = argv[optind], *sub = npos == 2 ? argv[optind + 1] : NULL;
    if (sub && strcmp(sub, "weights"))
        return nv_cli_usage("dynamics", "unknown subcommand '%s' (expected: weights)", sub);
    nv_error err = {0};
    char models[8][64];
    int nm = 0;
    if (nv_dyn_models(run, models, 8, &nm, &err)) return nv_cli_report("dynamics", &err);
    if (nm == 0) {
        nv_fail(&err, NV_EINPUT, "%s: no dynamics record (no %s/dynamics/<model>.h5): train with "
                "dynamics.enabled = true (docs/dynamics.md)", run, run);
        return nv_cli_report("dynamics", &err);
    }
    if (!sub) {
        if (step >= 0 || from >= 0 || out) return nv_cli_usage("dynamics", "--step, --from and --out belong to 'weights'");
        return summary(run, models, nm);
    }
    if (step < 0) return nv_cli_usage("dynamics", "weights: --step S is required");
    if (!model) {
        model = models[0];
        for (int i = 0; i < nm; i++)
            if (!strcmp(models[i], "expressive")) model = models[i];
    } else {
        int found = 0;
        for (int i = 0; i < nm; i++) found |= !strcmp(models[i], model);
        if (!found) {
            char list[600] = "";
            for (int i = 0; i < nm; i++) snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", models[i]);
            nv_fail(&err, NV_EINPUT, "--model %s: not recorded in %s/dynamics (recorded: %s)", model, run, list);
            return nv_cli_report("dynamics", &err);
        }
    }
    /* the BLAS threads training used: the rebuilt sgemm then sums in the same order */
    char cfg[NV_PATH_LEN + 32];
    snprintf(cfg, sizeof cfg, "%s/config.cfg", run);
    nv_experiment *ex = calloc(1, sizeof *ex);
    nv_error ignore = {0};
    int threads = 1;
    if (ex && nv_config_load(cfg, NULL, 0, ex, &ignore) == NV_OK && ex->threads > 0) threads = ex->threads;
    free(ex);
    openblas_set_num_threads(threads);

    nv_dyn_weights w;
    double t0 = nv_now();
    if (nv_dyn_rebuild(run, model, step, from, &w, &err)) return nv_cli_report("dynamics", &err);
    double dt = nv_now() - t0;
    char path[NV_PATH_LEN + 160];
    if (!out) {
        snprintf(path, sizeof path, "%s/analysis/dynamics", run);
        if (nv_mkdirs(path, &err)) {
            nv_dyn_weights_free(&w);
            return nv_cli_report("dynamics", &err);
        }
        snprintf(path, sizeof path, "%s/analysis/dynamics/%s_step_%lld.h5", run, model, step);
        out = path;
    }
    nv_status st = nv_dyn_weights_write(out, &w, &err);
    if (st) {
        nv_dyn_weights_free(&w);
        return nv_cli_report("dynamics", &err);
    }
    printf("%s: step %lld rebuilt from the saved state at step %lld (%lld steps replayed from the factors, %.2fs) -> %s\n",
           model, step, (long long)w.from_step, (long long)(step - w.from_step), dt, out);
    if (w.compared)
        printf("max |rebuilt - stored| = %.9g over %lld parameters (weights tier, step %lld)\n", w.max_abs_diff,
               (long long)w.nparams, step);
    /* the checkpoint, when it is at this step */
    snprintf(cfg, sizeof cfg, "%s/checkpoints/%s.h5", run, model);
    nv_checkpoint ck;
    if (access(cfg, F_OK) == 0 && nv_checkpoint_read(cfg, &ck, &ignore) == NV_OK) {
        if (ck.step == step && ck.nparams == w.nparams) {
            double m = 0;
            for (int64_t i = 0; i < w.nparams; i++) {
                double x = fabs((double)w.params[i] - (double)ck.params[i]);
                if (!(x <= m)) m = x;
            }
            printf("max |rebuilt - checkpoint| = %.9g over %lld parameters (%s, step %lld)\n", m, (long long)w.nparams,
                   cfg, (long long)ck.step);
        }
        nv_checkpoint_free(&ck);
    }
    if (!w.compared && !(access(cfg, F_OK) == 0))
        printf("no stored state at step %lld to compare with\n", step);
    nv_dyn_weights_free(&w);
    return 0;
}
