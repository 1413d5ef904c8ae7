/* cmd_pca.c: `nerve pca RUN` (a PCA of every snapshot of a run, signs aligned across
 * epochs and splits; analysis/runs/pca_run.c does the work) and `nerve pca FILE` (a PCA of
 * one plain matrix: CSV or FILE.h5:/dataset, printed). This file parses flags, prints
 * and picks the exit code. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "run_opts.h"
#include "nerve/run_index.h"
#include "nerve/plot.h"
#include "nerve/pca.h"

static const char *const USAGE =
    "usage: nerve pca RUN  [options]   PCA of every snapshot of a run\n"
    "       nerve pca FILE [options]   PCA of one matrix: CSV (numbers, optional header)\n"
    "                                  or FILE.h5:/path/to/dataset (2-D)\n";

static void usage(FILE *f) {
    fputs(USAGE, f);
    fprintf(f,
            "\n"
            "  --k K              components kept and projected on (default 3; a layer or matrix\n"
            "                     narrower than K keeps its width)\n"
            "  --device D         auto (default), cpu or cuda\n"
            "RUN only (writes RUN/analysis/pca/<model>/epoch_EEEE.h5, format nerve-pca v1, and\n"
            "RUN/analysis/figures/pca_grid_<model>.png/.svg; outputs that exist with the same\n"
            "parameters are kept, so the stage is idempotent):\n"
            "  --no-figures       skip the figures\n"
            "  (--epoch: earlier epochs are still fitted for the sign alignment, not written;\n"
            "  --threads: worker threads over (model, layer) chains)\n");
    nv_run_opts_help(f, "pca");
    fprintf(f,
            "FILE only:\n"
            "  --out PROJ.csv     also write the projections (rows x k) as CSV\n"
            "Prints, one per line: rows, cols, form, device, n_components_90, then the full\n"
            "explained_variance and explained_variance_ratio, the mean and each component.\n");
}

static void print_row(const char *key, const double *v, int64_t n) {
    printf("%s", key);
    for (int64_t i = 0; i < n; i++) printf(" %.17g", v[i]);
    printf("\n");
}

static int pca_matrix(const char *spec, int64_t k, int k_given, nv_device_kind device, const char *out) {
    nv_error err = {0};
    nv_real *x = NULL;
    int64_t n = 0, d = 0;
    if (nv_matrix_read(spec, &x, &n, &d, &err)) return nv_cli_report("pca", &err);
    /* As in RUN mode, a matrix narrower than k keeps its width (and a PCA of n points
     * has at most n - 1 components). */
    int64_t kmax = NV_MIN(n - 1, d);
    if (k > kmax && kmax >= 1) {
        if (k_given)
            fprintf(stderr, "nerve pca: note: %s has %lld points of %lld columns: --k %lld is capped "
                    "at %lld (min(points - 1, columns))\n", spec, (long long)n, (long long)d,
                    (long long)k, (long long)kmax);
        k = kmax;
    }
    nv_pca_opts po = {.k = k, .device = device};
    nv_pca *p = NULL;
    const char *note = NULL;
    nv_status st = nv_pca_fit(x, n, d, &po, &p, &note, &err);
    free(x);
    if (st) {
        nv_cli_strip_prefix(&err, "pca");
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
    nv_run_opts ro;
    nv_run_opts_init(&ro, "pca");
    int figures = 1, k_given = 0, rc = 0;
    long long k = NV_PCA_DEFAULT_K;
    const char *out = NULL, *target = NULL;
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
        if (nv_cli_opt("pca", argc, argv, &i, "--k", &val, &rc)) {
            if (rc || (rc = nv_cli_int("pca", "--k", val, 1, 1 << 20, &k))) goto done;
            k_given = 1;
        } else if (nv_cli_opt("pca", argc, argv, &i, "--out", &val, &rc)) {
            if (rc) goto done;
            out = val;
        } else if (!strcmp(a, "--no-figures")) {
            figures = 0;
        } else if (a[0] == '-' && a[1]) {
            rc = nv_cli_unknown("pca", a, USAGE);
            goto done;
        } else if (target) {
            rc = nv_cli_usage("pca", "found a second RUN or FILE '%s': expected one", a);
            goto done;
        } else {
            target = a;
        }
    }
    if (!target) {
        rc = nv_cli_usage("pca", "expected one RUN directory or matrix FILE");
        goto done;
    }
    struct stat sb;
    int is_run = stat(target, &sb) == 0 && S_ISDIR(sb.st_mode);
    if (!is_run) {
        if ((ro.given & ~NV_RO_DEVICE) || !figures) {
            rc = nv_cli_usage("pca", "%s is not a run directory: --model, --layer, --epoch, --task(s), "
                              "--force, --threads and --no-figures apply to runs only", target);
            goto done;
        }
        openblas_set_num_threads(1);
        rc = pca_matrix(target, k, k_given, ro.device, out);
        goto done;
    }
    if (out) {
        rc = nv_cli_usage("pca", "--out applies to a matrix FILE; a run writes under RUN/analysis/pca/");
        goto done;
    }
    if ((rc = nv_run_opts_check(&ro, target))) goto done;
    /* Chains run in parallel; each fit then uses one BLAS thread, which also keeps the
     * bytes independent of the number of chains running at once. */
    openblas_set_num_threads(1);
    nv_progress pr;
    nv_progress_start(&pr, stderr, "pca", 1);
    nv_pca_run_opts o = {.k = k, .device = ro.device, .task = ro.task, .tasks = ro.tasks,
                         .threads = ro.threads, .figures = figures, .select = nv_run_opts_select(&ro),
                         .progress = on_progress, .progress_ctx = &pr, .force = ro.force};
    nv_pca_run_result r;
    nv_error err = {0};
    double t0 = nv_now();
    nv_status st = nv_pca_run(target, &o, &r, &err);
    /* cairo/fontconfig keep font caches until exit; free them so leak checkers
     * (make SANITIZE=1) see only our own allocations. */
    nv_plot_release_caches();
    if (st) {
        rc = nv_cli_report("pca", &err);
        goto done;
    }
    if (r.device_note) fprintf(stderr, "nerve pca: %s\n", r.device_note);
    char extra[256];
    snprintf(extra, sizeof extra, "(%.1fs)", nv_now() - t0);
    if (r.written || r.fits) nv_progress_finish(&pr, extra);
    printf("pca %s: %lld snapshot files selected: %lld written, %lld already done (same k), "
           "%lld left to other tasks; %lld fits; %d figure files\n",
           target, (long long)r.snapshots, (long long)r.written, (long long)r.skipped,
           (long long)r.not_owned, (long long)r.fits, r.figures);
done:
    nv_run_opts_free(&ro);
    return rc;
}
