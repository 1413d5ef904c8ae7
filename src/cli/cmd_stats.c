/* cmd_stats.c: `nerve stats RUN` -- intrinsic dimension (TwoNN) next to PCA-90, a
 * linear probe per layer, and CKA between layers, epochs and the two nets, for every
 * snapshot of a run (analysis/runs/stats_run.c does the work). This file parses flags,
 * prints and picks the exit code. */
#include <cblas.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "nerve/run_index.h"
#include "nerve/plot.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: nerve stats RUN [options]\n"
            "\n"
            "Per snapshot and layer: TwoNN intrinsic dimension and the number of PCA components\n"
            "explaining 90%% of the variance (train, test, all), a linear softmax probe (fit on\n"
            "train, accuracy on test), and linear CKA between the layers of a net (per epoch),\n"
            "between epochs of a layer (per model) and between the expressive and bottlenecked\n"
            "nets (per epoch). Writes RUN/analysis/stats/stats.h5 (format nerve-stats v1),\n"
            "intrinsic_dimension.csv, probes.csv, cka_layers.csv, cka_epochs.csv, cka_models.csv\n"
            "and RUN/analysis/figures/id_probe.png/.svg and cka_*.png/.svg heat maps.\n"
            "\n"
            "  --twonn-points N   TwoNN on at most N rows per split, strided (default 2000)\n"
            "  --cka-points N     CKA on at most N rows of `all`, strided (default 10000)\n"
            "  --probe-c C        the probe's inverse L2 strength, as sklearn's C (default 1)\n"
            "  --probe-iter N     L-BFGS iterations at most (default 500)\n"
            "  --model M,..       only these models (repeatable)\n"
            "  --layer L,..       only these layers (repeatable)\n"
            "  --epoch E,..       only these snapshot epochs (repeatable)\n"
            "  --threads T        worker threads (default: cores)\n"
            "  --force            recompute even when stats.h5 holds these parameters\n"
            "  --no-figures       skip the figures\n");
}

static int add_list(const char *opt, char *s, const char **list, int *n, int cap) {
    for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
        if (*n >= cap) return nv_cli_usage("stats", "option %s: more than %d values", opt, cap);
        list[(*n)++] = tok;
    }
    return 0;
}

static void on_progress(void *ctx, int64_t done, int64_t total, const char *what) {
    nv_progress *pr = ctx;
    pr->total = total > 0 ? total : 1;
    nv_progress_update(pr, done, what);
}

int nv_cmd_stats(int argc, char **argv) {
    static const struct option longopts[] = {
        {"twonn-points", required_argument, 0, 'T'}, {"cka-points", required_argument, 0, 'C'},
        {"probe-c", required_argument, 0, 'c'},      {"probe-iter", required_argument, 0, 'I'},
        {"model", required_argument, 0, 'm'},        {"layer", required_argument, 0, 'l'},
        {"epoch", required_argument, 0, 'e'},        {"threads", required_argument, 0, 't'},
        {"force", no_argument, 0, 'f'},              {"no-figures", no_argument, 0, 'F'},
        {"help", no_argument, 0, 'h'},               {0, 0, 0, 0}};
    enum { CAP = 64 };
    const char *models[CAP], *layers[CAP], *epoch_strs[CAP];
    int n_models = 0, n_layers = 0, n_epochs = 0;
    long long twonn = 0, cka = 0, iters = 0, threads = 0;
    double probe_c = 0;
    nv_stats_run_opts o = {.figures = 1};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'T': if (nv_cli_int("stats", "--twonn-points", optarg, 3, 1LL << 40, &twonn)) return 2; break;
        case 'C': if (nv_cli_int("stats", "--cka-points", optarg, 2, 1LL << 40, &cka)) return 2; break;
        case 'c': if (nv_cli_double("stats", "--probe-c", optarg, 1e-12, 1e12, &probe_c)) return 2; break;
        case 'I': if (nv_cli_int("stats", "--probe-iter", optarg, 1, 1000000, &iters)) return 2; break;
        case 'm': if (add_list("--model", optarg, models, &n_models, CAP)) return 2; break;
        case 'l': if (add_list("--layer", optarg, layers, &n_layers, CAP)) return 2; break;
        case 'e': if (add_list("--epoch", optarg, epoch_strs, &n_epochs, CAP)) return 2; break;
        case 't': if (nv_cli_int("stats", "--threads", optarg, 1, 4096, &threads)) return 2; break;
        case 'f': o.force = 1; break;
        case 'F': o.figures = 0; break;
        case 'h': usage(stdout); return 0;
        default: return nv_cli_usage("stats", "unknown option");
        }
    }
    if (optind != argc - 1)
        return nv_cli_usage("stats", "expected one RUN directory, found %d arguments", argc - optind);
    int64_t epochs[CAP];
    for (int i = 0; i < n_epochs; i++) {
        long long v;
        if (nv_cli_int("stats", "--epoch", epoch_strs[i], 0, 1LL << 40, &v)) return 2;
        epochs[i] = v;
    }
    const char *run = argv[optind];
    /* Units of work run in parallel, each with one BLAS thread: the numbers then do
     * not depend on --threads. */
    openblas_set_num_threads(1);
    nv_progress pr;
    nv_progress_start(&pr, stderr, "stats", 1);
    o.twonn_points = twonn;
    o.cka_points = cka;
    o.probe_C = probe_c;
    o.probe_max_iter = (int)iters;
    o.threads = (int)threads;
    o.select = (nv_run_select){models, n_models, layers, n_layers, epochs, n_epochs};
    o.progress = on_progress;
    o.progress_ctx = &pr;
    nv_stats_run_result r;
    nv_error err = {0};
    double t0 = nv_now();
    nv_status st = nv_stats_run(run, &o, &r, &err);
    /* cairo/fontconfig keep font caches until exit; free them so leak checkers
     * (make SANITIZE=1) see only our own allocations. */
    nv_plot_release_caches();
    if (st) return nv_cli_report("stats", &err);
    if (r.skipped) {
        printf("stats %s: %lld snapshot files: analysis/stats/stats.h5 already holds these results "
               "(same parameters); nothing to do (--force recomputes)\n", run, (long long)r.snapshots);
        return 0;
    }
    char extra[64];
    snprintf(extra, sizeof extra, "(%.1fs)", nv_now() - t0);
    nv_progress_finish(&pr, extra);
    printf("stats %s: %lld snapshot files analysed; wrote analysis/stats/stats.h5, 5 CSV tables and "
           "%d figure files\n", run, (long long)r.snapshots, r.figures);
    return 0;
}
