/* cmd_stats.c: `nerve stats RUN` -- intrinsic dimension (TwoNN) next to PCA-90, a
 * linear probe per layer, and CKA between layers, epochs and the two nets, for every
 * snapshot of a run (analysis/runs/stats_run.c does the work). This file parses flags,
 * prints and picks the exit code. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "run_opts.h"
#include "nerve/run_index.h"
#include "nerve/plot.h"

static const char *const USAGE = "usage: nerve stats RUN [options]\n";

static void usage(FILE *f) {
    fputs(USAGE, f);
    fprintf(f,
            "\n"
            "Per snapshot and layer: TwoNN intrinsic dimension and the number of PCA components\n"
            "explaining 90%% of the variance (train, test, all), a linear softmax probe (fit on\n"
            "train, accuracy on test), and linear CKA between the layers of a net (per epoch),\n"
            "between epochs of a layer (per model) and between the expressive and bottlenecked\n"
            "nets (per epoch). Writes RUN/analysis/stats/stats.h5 (format nerve-stats v1),\n"
            "intrinsic_dimension.csv, probes.csv, cka_layers.csv, cka_epochs.csv, cka_models.csv\n"
            "and RUN/analysis/figures/id_probe.png/.svg and cka_*.png/.svg heat maps.\n"
            "Stats is one unit of work (CKA compares every snapshot with the others): with\n"
            "--task/--tasks, task 0 computes it and the other tasks have nothing to do.\n"
            "\n"
            "  --twonn-points N   TwoNN on at most N rows per split, strided (default 2000)\n"
            "  --cka-points N     CKA on at most N rows of `all`, strided (default 10000)\n"
            "  --probe-c C        the probe's inverse L2 strength, as sklearn's C (default 1)\n"
            "  --probe-iter N     L-BFGS iterations at most (default 500)\n"
            "  --no-figures       skip the figures\n");
    nv_run_opts_help(f, "stats");
}

static void on_progress(void *ctx, int64_t done, int64_t total, const char *what) {
    nv_progress *pr = ctx;
    pr->total = total > 0 ? total : 1;
    nv_progress_update(pr, done, what);
}

int nv_cmd_stats(int argc, char **argv) {
    nv_run_opts ro;
    nv_run_opts_init(&ro, "stats");
    long long twonn = 0, cka = 0, iters = 0;
    double probe_c = 0;
    nv_stats_run_opts o = {.figures = 1};
    const char *run = NULL;
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        if (nv_run_opts_take(&ro, argc, argv, &i, &rc)) {
            if (rc) goto done;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            goto done;
        }
        if (nv_cli_opt("stats", argc, argv, &i, "--twonn-points", &val, &rc)) {
            if (rc || (rc = nv_cli_int("stats", "--twonn-points", val, 3, 1LL << 40, &twonn))) goto done;
        } else if (nv_cli_opt("stats", argc, argv, &i, "--cka-points", &val, &rc)) {
            if (rc || (rc = nv_cli_int("stats", "--cka-points", val, 2, 1LL << 40, &cka))) goto done;
        } else if (nv_cli_opt("stats", argc, argv, &i, "--probe-c", &val, &rc)) {
            if (rc || (rc = nv_cli_double("stats", "--probe-c", val, 1e-12, 1e12, &probe_c))) goto done;
        } else if (nv_cli_opt("stats", argc, argv, &i, "--probe-iter", &val, &rc)) {
            if (rc || (rc = nv_cli_int("stats", "--probe-iter", val, 1, 1000000, &iters))) goto done;
        } else if (!strcmp(a, "--no-figures")) {
            o.figures = 0;
        } else if (a[0] == '-' && a[1]) {
            rc = nv_cli_unknown("stats", a, USAGE);
            goto done;
        } else if (run) {
            rc = nv_cli_usage("stats", "found a second run directory '%s': expected one", a);
            goto done;
        } else {
            run = a;
        }
    }
    if (!run) {
        rc = nv_cli_usage("stats", "expected one RUN directory");
        goto done;
    }
    if ((rc = nv_run_opts_check(&ro, run))) goto done;
    if (ro.tasks > 1 && ro.task != 0) {
        printf("stats %s: task %d of %d: nothing to do (stats compares every snapshot with the others, "
               "so task 0 of the job array computes all of it)\n", run, ro.task, ro.tasks);
        goto done;
    }
    /* Units of work run in parallel, each with one BLAS thread: the numbers then do
     * not depend on --threads. */
    openblas_set_num_threads(1);
    nv_progress pr;
    nv_progress_start(&pr, stderr, "stats", 1);
    o.twonn_points = twonn;
    o.cka_points = cka;
    o.probe_C = probe_c;
    o.probe_max_iter = (int)iters;
    o.threads = ro.threads;
    o.force = ro.force;
    o.select = nv_run_opts_select(&ro);
    o.progress = on_progress;
    o.progress_ctx = &pr;
    nv_stats_run_result r;
    nv_error err = {0};
    double t0 = nv_now();
    nv_status st = nv_stats_run(run, &o, &r, &err);
    /* cairo/fontconfig keep font caches until exit; free them so leak checkers
     * (make SANITIZE=1) see only our own allocations. */
    nv_plot_release_caches();
    if (st) {
        rc = nv_cli_report("stats", &err);
        goto done;
    }
    if (r.skipped) {
        printf("stats %s: %lld snapshot files: analysis/stats/stats.h5 already holds these results "
               "(same parameters); nothing to do (--force recomputes)\n", run, (long long)r.snapshots);
        goto done;
    }
    char extra[64];
    snprintf(extra, sizeof extra, "(%.1fs)", nv_now() - t0);
    nv_progress_finish(&pr, extra);
    printf("stats %s: %lld snapshot files analysed; wrote analysis/stats/stats.h5, 5 CSV tables and "
           "%d figure files\n", run, (long long)r.snapshots, r.figures);
done:
    nv_run_opts_free(&ro);
    return rc;
}
