/* ph_gpu_bench.c: the GPU stages of persistent homology (include/nerve/ph_stages.h)
 * against the CPU, per cloud: distances (CPU vs CUDA), the whole engine with its
 * column stage on the CPU (clique search, all threads) and on the GPU, and the
 * fraction of present simplices that the apparent-pair search removes. CUDA's
 * start-up (context creation, loading the plug-in) is timed once, apart, before
 * anything else. Medians of 3 alternating runs (docs/CONTRACTS.md, benchmarks).
 *
 *   build/bench/ph_gpu_bench [threads]      (bench/ph_gpu.sh runs it)
 *
 * Needs a GPU: without one it prints a line saying so and exits 77.
 * STATUS: written and compiled without a GPU; no numbers yet.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "nerve/device.h"
#include "nerve/ph.h"
#include "nerve/ph_stages.h"
#include "nerve/rng.h"

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median3(double *t) {
    qsort(t, 3, sizeof *t, cmp_d);
    return t[1];
}

/* n points: 0 torus in R^3, 1 2-sphere in R^3, 2 uniform in R^8, 3 noisy circle. */
static float *cloud(int kind, int64_t n, int64_t *dim) {
    int64_t d = kind == 2 ? 8 : kind == 3 ? 2 : 3;
    float *x = malloc((size_t)(n * d) * sizeof *x);
    for (int64_t i = 0; i < n; i++) {
        double a = 6.283185307179586 * nv_rng_uniform(7, NV_STREAM_TEST, 3 * (uint64_t)i);
        double b = 6.283185307179586 * nv_rng_uniform(7, NV_STREAM_TEST, 3 * (uint64_t)i + 1);
        double z = 2.0 * nv_rng_uniform(7, NV_STREAM_TEST, 3 * (uint64_t)i + 2) - 1.0;
        float *p = x + i * d;
        if (kind == 0) { p[0] = (float)((2 + cos(b)) * cos(a)); p[1] = (float)((2 + cos(b)) * sin(a)); p[2] = (float)sin(b); }
        else if (kind == 1) { p[0] = (float)(sqrt(1 - z * z) * cos(a)); p[1] = (float)(sqrt(1 - z * z) * sin(a)); p[2] = (float)z; }
        else if (kind == 2) for (int k = 0; k < 8; k++) p[k] = nv_rng_uniform(9, NV_STREAM_TEST, 8 * (uint64_t)i + k);
        else { p[0] = (float)(cos(a) + 0.05 * z); p[1] = (float)(sin(a) + 0.05 * z); }
    }
    *dim = d;
    return x;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 0;
    char why[512];
    double t0 = nv_now();
    if (!nv_cuda_usable(why, sizeof why)) {
        printf("SKIP: the ph GPU benchmark needs a GPU: %s\n", why);
        return 77;
    }
    nv_ph_columns_fn columns = (nv_ph_columns_fn)nv_cuda_sym("nv_ph_columns_cuda", why, sizeof why);
    nv_error err = {0};
    float tiny[2] = {0, 1}, one;
    nv_status (*dist)(const nv_real *, int64_t, int64_t, nv_metric_kind, float *, nv_error *) =
        (nv_status(*)(const nv_real *, int64_t, int64_t, nv_metric_kind, float *, nv_error *))
            nv_cuda_sym("nv_metric_distances_cuda", why, sizeof why);
    if (!columns || !dist || dist(tiny, 2, 1, NV_METRIC_EUCLIDEAN, &one, &err)) {
        printf("FAIL: %s\n", columns && dist ? err.msg : why);
        return 1;
    }
    printf("CUDA start-up (probe, plug-in, context, first kernel): %.3f s\n", nv_now() - t0);
    const struct { int kind; int64_t n; int dim; const char *name; } cases[] = {
        {3, 4000, 1, "circle"}, {0, 2000, 1, "torus"}, {0, 1000, 2, "torus"},
        {1, 800, 2, "2-sphere"}, {2, 1000, 2, "R^8"}, {2, 300, 3, "R^8"},
    };
    printf("%-9s %6s %4s | %9s %9s | %9s %9s %6s | %s\n", "cloud", "n", "dim", "dist cpu", "dist gpu",
           "ph cpu", "ph gpu", "ratio", "apparent / present simplices per dimension (gpu stage)");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t n = cases[c].n, d;
        float *x = cloud(cases[c].kind, n, &d);
        double td[2][3], tp[2][3];
        float *lower = NULL;
        nv_ph_result res[2] = {{0}};
        for (int r = 0; r < 3; r++)
            for (int side = 0; side < 2; side++) { /* alternating CPU, GPU */
                nv_device_kind dev = side ? NV_DEVICE_CUDA : NV_DEVICE_CPU;
                float *l = NULL;
                double a = nv_now();
                if (nv_metric_distances(x, n, d, NV_METRIC_EUCLIDEAN, dev, &l, NULL, &err)) { printf("FAIL: %s\n", err.msg); return 1; }
                td[side][r] = nv_now() - a;
                nv_ph_input in = {NV_PH_DENSE, n, l, NULL, NULL, NULL};
                nv_ph_params p;
                nv_ph_params_defaults(&p);
                p.max_dim = cases[c].dim;
                p.threads = threads;
                p.device = dev;
                nv_ph_result_free(&res[side]);
                a = nv_now();
                if (nv_ph_compute(&in, &p, &res[side], &err)) { printf("FAIL: %s\n", err.msg); return 1; }
                tp[side][r] = nv_now() - a;
                if (lower) free(l);
                else lower = l;
            }
        int same = res[0].count == res[1].count;
        for (int64_t i = 0; same && i < res[0].count; i++)
            same = res[0].pairs[i].birth == res[1].pairs[i].birth && res[0].pairs[i].death == res[1].pairs[i].death;
        double dc = median3(td[0]), dg = median3(td[1]), pc = median3(tp[0]), pg = median3(tp[1]);
        printf("%-9s %6lld %4d | %8.3fs %8.3fs | %8.3fs %8.3fs %5.2fx |", cases[c].name, (long long)n,
               cases[c].dim, dc, dg, pc, pg, pc / pg);
        float thr = nv_ph_enclosing_radius(lower, n);
        for (int k = 1; k <= cases[c].dim; k++) {
            nv_ph_simplex *cols = NULL;
            int64_t m = 0;
            nv_ph_column_stats st;
            if (columns(lower, n, thr, k, NULL, 0, &cols, &m, &st, &err)) { printf("FAIL: %s\n", err.msg); return 1; }
            printf(" d%d %.1f%% of %lld", k, st.present ? 100.0 * (double)st.apparent / (double)st.present : 0.0,
                   (long long)st.present);
            free(cols);
        }
        printf("%s\n", same ? "" : "  BARCODES DIFFER");
        nv_ph_result_free(&res[0]);
        nv_ph_result_free(&res[1]);
        free(lower);
        free(x);
    }
    return 0;
}
