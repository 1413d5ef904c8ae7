/* cmd_pca.c: `nerve pca RUN` (a PCA of every snapshot of a run, signs aligned across
 * epochs and splits; analysis/runs/pca_run.c does the work) and `nerve pca FILE` (a PCA of
 * one plain matrix: CSV or FILE.h5:/dataset, printed). This file parses flags, prints
 * and picks the exit code. */
#include <cblas.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "nerve/run_index.h"
#include "nerve/plot.h"
#include "nerve/pca.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: nerve pca RUN  [options]   PCA of every snapshot of a run\n"
            "       nerve pca FILE [options]   PCA of one matrix: CSV (numbers, optional header)\n"
            "                                  or FILE.h5:/path/to/dataset (2-D)\n"
            "\n"
            "  --k K              components kept and projected on (default 3; a layer narrower\n"
            "                     than K keeps its width)\n"
            "  --device D         auto (default), cpu or cuda\n"
            "RUN only (writes RUN/analysis/pca/<model>/epoch_EEEE.h5, format nerve-pca v1, and\n"
            "RUN/analysis/figures/pca_grid_<model>.png/.svg):\n"
            "  --model M,..       only these models (repeatable)\n"
            "  --layer L,..       only these layers, e.g. hidden1 (repeatable)\n"
            "  --epoch E,..       only these snapshot epochs (earlier ones are still fitted for\n"
            "                     the sign alignment, but not written)\n"
            "  --task i --tasks N job-array slice: this task writes snapshot files i, i+N, ...\n"
            "  --threads T        worker threads over (model, layer) chains (default: cores)\n"
            "  --no-figures       skip the figures\n"
            "Outputs that exist with the same parameters are kept (the stage is idempotent).\n"
            "FILE only:\n"
            "  --out PROJ.csv     also write the projections (rows x k) as CSV\n"
            "Prints, one per line: rows, cols, form, device, n_components_90, then the full\n"
            "explained_variance and explained_variance_ratio, the mean and each component.\n");
}

/* Splits a comma list into `list` (pointers into s, which is modified). */
static int add_list(const char *opt, char *s, const char **list, int *n, int cap) {
    for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
        if (*n >= cap) return nv_cli_usage("pca", "option %s: more than %d values", opt, cap);
        list[(*n)++] = tok;
    }
    return 0;
}

static void print_row(const char *key, const double *v, int64_t n) {
    printf("%s", key);
    for (int64_t i = 0; i < n; i++) printf(" %.17g", v[i]);
    printf("\n");
}

static int pca_matrix(const char *spec, int64_t k, nv_device_kind device, const char *out) {
    nv_error err = {0};
    nv_real *x = NULL;
    int64_t n = 0, d = 0;
    if (nv_matrix_read(spec, &x, &n, &d, &err)) return nv_cli_report("pca", &err);
    if (k > NV_MIN(n - 1, d)) {
        free(x);
        return nv_cli_usage("pca", "%s has %lld points of %lld columns: --k %lld asks for more "
                            "components than there are (at most min(points - 1, columns) = %lld)",
                            spec, (long long)n, (long long)d, (long long)k,
                            (long long)NV_MIN(n - 1, d));
    }
    nv_pca_opts po = {.k = k, .device = device};
    nv_pca *p = NULL;
    const char *note = NULL;
    nv_status st = nv_pca_fit(x, n, d, &po, &p, &note, &err);
    free(x);
    if (st) {
        nv_error_prefix(&err, "%s: ", spec);
        return nv_cli_report("pca", &err);
    }
    if (note) fprintf(stderr, "nerve pca: %s\n", note);
    printf("rows %lld\ncols %lld\nform %s\ndevice %s\nk %lld\nn_components_90 %lld\n", (long long)n,
           (long long)d, p->form == NV_PCA_GRAM ? "gram" : "covariance",
           p->device == NV_DEVICE_CUDA ? "cuda" : "cpu", (long long)p->k,
           (long long)nv_pca_ncomponents_for(p, 0.9));
    print_row("explained_variance", p->explained_variance, p->r);
    print_row("explained_variance_ratio", p->explained_variance_ratio, p->r);
    print_row("mean", p->mean, p->d);
    for (int64_t j = 0; j < p->k; j++) {
        char key[32];
        snprintf(key, sizeof key, "component_%lld", (long long)j + 1);
        print_row(key, p->components + j * p->d, p->d);
    }
    int rc = 0;
    if (out) {
        char header[1024] = "";
        for (int64_t j = 0; j < p->k && strlen(header) < sizeof header - 16; j++)
            snprintf(header + strlen(header), sizeof header - strlen(header), "%sPC%lld",
                     j ? "," : "", (long long)j + 1);
        if (nv_csv_write_matrix(out, header, p->projections, p->n, p->k, &err))
            rc = nv_cli_report("pca", &err);
    }
    nv_pca_free(p);
    return rc;
}

static void on_progress(void *ctx, int64_t done, int64_t total, const char *what) {
    nv_progress *pr = ctx;
    pr->total = total > 0 ? total : 1;
    nv_progress_update(pr, done, what);
}

int nv_cmd_pca(int argc, char **argv) {
    static const struct option longopts[] = {
        {"k", required_argument, 0, 'k'},       {"device", required_argument, 0, 'd'},
        {"model", required_argument, 0, 'm'},   {"layer", required_argument, 0, 'l'},
        {"epoch", required_argument, 0, 'e'},   {"task", required_argument, 0, 'i'},
        {"tasks", required_argument, 0, 'N'},   {"threads", required_argument, 0, 't'},
        {"no-figures", no_argument, 0, 'F'},    {"out", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    enum { CAP = 64 };
    const char *models[CAP], *layers[CAP], *epoch_strs[CAP];
    int n_models = 0, n_layers = 0, n_epochs = 0, figures = 1;
    long long k = NV_PCA_DEFAULT_K, task = 0, tasks = 1, threads = 0;
    const char *out = NULL;
    nv_device_kind device = NV_DEVICE_AUTO;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'k':
            if (nv_cli_int("pca", "--k", optarg, 1, 1 << 20, &k)) return 2;
            break;
        case 'd':
            if (!strcmp(optarg, "auto")) device = NV_DEVICE_AUTO;
            else if (!strcmp(optarg, "cpu")) device = NV_DEVICE_CPU;
            else if (!strcmp(optarg, "cuda")) device = NV_DEVICE_CUDA;
            else return nv_cli_usage("pca", "option --device: expected auto, cpu or cuda, found '%s'", optarg);
            break;
        case 'm': if (add_list("--model", optarg, models, &n_models, CAP)) return 2; break;
        case 'l': if (add_list("--layer", optarg, layers, &n_layers, CAP)) return 2; break;
        case 'e': if (add_list("--epoch", optarg, epoch_strs, &n_epochs, CAP)) return 2; break;
        case 'i': if (nv_cli_int("pca", "--task", optarg, 0, 1 << 20, &task)) return 2; break;
        case 'N': if (nv_cli_int("pca", "--tasks", optarg, 1, 1 << 20, &tasks)) return 2; break;
        case 't': if (nv_cli_int("pca", "--threads", optarg, 1, 4096, &threads)) return 2; break;
        case 'F': figures = 0; break;
        case 'o': out = optarg; break;
        case 'h': usage(stdout); return 0;
        default: return nv_cli_usage("pca", "unknown option");
        }
    }
    if (optind != argc - 1)
        return nv_cli_usage("pca", "expected one RUN directory or matrix FILE, found %d arguments",
                            argc - optind);
    const char *target = argv[optind];
    struct stat sb;
    int is_run = stat(target, &sb) == 0 && S_ISDIR(sb.st_mode);
    if (!is_run) {
        if (n_models || n_layers || n_epochs || task || tasks > 1 || threads || !figures)
            return nv_cli_usage("pca", "%s is not a run directory: --model, --layer, --epoch, "
                                "--task(s), --threads and --no-figures apply to runs only", target);
        openblas_set_num_threads(1);
        return pca_matrix(target, k, device, out);
    }
    if (out) return nv_cli_usage("pca", "--out applies to a matrix FILE; a run writes under RUN/analysis/pca/");
    if (task >= tasks) return nv_cli_usage("pca", "--task %lld: expected 0 <= task < --tasks (%lld)", task, tasks);
    int64_t epochs[CAP];
    for (int i = 0; i < n_epochs; i++) {
        long long v;
        if (nv_cli_int("pca", "--epoch", epoch_strs[i], 0, 1LL << 40, &v)) return 2;
        epochs[i] = v;
    }
    /* Chains run in parallel; each fit then uses one BLAS thread, which also keeps the
     * bytes independent of the number of chains running at once. */
    openblas_set_num_threads(1);
    nv_progress pr;
    nv_progress_start(&pr, stderr, "pca", 1);
    nv_pca_run_opts o = {.k = k, .device = device, .task = (int)task, .tasks = (int)tasks,
                         .threads = (int)threads, .figures = figures,
                         .select = {models, n_models, layers, n_layers, epochs, n_epochs},
                         .progress = on_progress, .progress_ctx = &pr};
    nv_pca_run_result r;
    nv_error err = {0};
    double t0 = nv_now();
    nv_status st = nv_pca_run(target, &o, &r, &err);
    /* cairo/fontconfig keep font caches until exit; free them so leak checkers
     * (make SANITIZE=1) see only our own allocations. */
    nv_plot_release_caches();
    if (st) return nv_cli_report("pca", &err);
    if (r.device_note) fprintf(stderr, "nerve pca: %s\n", r.device_note);
    char extra[256];
    snprintf(extra, sizeof extra, "(%.1fs)", nv_now() - t0);
    if (r.written || r.fits) nv_progress_finish(&pr, extra);
    printf("pca %s: %lld snapshot files selected: %lld written, %lld already done (same k), "
           "%lld left to other tasks; %lld fits; %d figure files\n",
           target, (long long)r.snapshots, (long long)r.written, (long long)r.skipped,
           (long long)r.not_owned, (long long)r.fits, r.figures);
    return 0;
}
