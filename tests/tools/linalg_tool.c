/* linalg_tool.c: a small driver over the analysis library (PCA, TwoNN, CKA, linear
 * probes) for the numpy/sklearn oracle tests (tests/integration/{pca,twonn,cka,
 * probe}_*.py) and the PCA benchmark (bench/pca_bench.sh). Independent of the
 * `nerve` command line.
 *
 * Matrices are raw little-endian float32 files, row-major, with the shape on the
 * command line (numpy: a.astype('<f4').tofile(path)); labels raw int32. Results go to
 * stdout as "key value..." lines with %.17g, so the oracles compare full precision.
 *
 *   linalg_tool pca FILE n d k [--device cpu|cuda|auto] [--ref REF.f64]
 *                              [--proj OUT.f64] [--project FILE2 m OUT2.f64]
 *   linalg_tool twonn FILE n d [discard] [exhaustive]
 *   linalg_tool cka FILE_X FILE_Y n dx dy
 *   linalg_tool ckamat n FILE1 d1 FILE2 d2 ...
 *   linalg_tool probe XTR YTR ntr XTE YTE nte d [C]
 *   linalg_tool bench-pca FILE n d k reps        (one "time_s" line per fit)
 */
#include "nerve/pca.h"
#include "nerve/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *read_raw(const char *path, size_t elem, int64_t count) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "linalg_tool: cannot open %s\n", path);
        exit(2);
    }
    void *buf = malloc(elem * (size_t)(count > 0 ? count : 1));
    if (!buf || fread(buf, elem, (size_t)count, f) != (size_t)count) {
        fprintf(stderr, "linalg_tool: %s: expected %lld values of %zu bytes\n", path,
                (long long)count, elem);
        exit(2);
    }
    fclose(f);
    return buf;
}

static void write_raw(const char *path, const double *v, int64_t count) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(v, sizeof *v, (size_t)count, f) != (size_t)count || fclose(f) != 0) {
        fprintf(stderr, "linalg_tool: cannot write %s\n", path);
        exit(3);
    }
}

static void print_vec(const char *key, const double *v, int64_t m) {
    printf("%s", key);
    for (int64_t i = 0; i < m; i++) printf(" %.17g", v[i]);
    printf("\n");
}

static int fail(const nv_error *err) {
    fprintf(stderr, "linalg_tool: %s\n", err->msg);
    return err->status == NV_EINPUT ? 2 : 1;
}

static int cmd_pca(int argc, char **argv) {
    if (argc < 6) return 2;
    int64_t n = atoll(argv[3]), d = atoll(argv[4]), k = atoll(argv[5]);
    nv_pca_opts o = {.k = k, .device = NV_DEVICE_CPU};
    const char *proj_out = NULL, *y_path = NULL, *y_out = NULL;
    int64_t m = 0;
    double *ref = NULL;
    for (int a = 6; a < argc; a++) {
        if (!strcmp(argv[a], "--device") && a + 1 < argc) {
            const char *v = argv[++a];
            o.device = !strcmp(v, "cuda") ? NV_DEVICE_CUDA
                       : !strcmp(v, "auto") ? NV_DEVICE_AUTO
                                            : NV_DEVICE_CPU;
        } else if (!strcmp(argv[a], "--ref") && a + 1 < argc) {
            ref = read_raw(argv[++a], sizeof(double), k * d);
            o.reference = ref;
            o.k_ref = k;
        } else if (!strcmp(argv[a], "--proj") && a + 1 < argc) {
            proj_out = argv[++a];
        } else if (!strcmp(argv[a], "--project") && a + 3 < argc) {
            y_path = argv[++a];
            m = atoll(argv[++a]);
            y_out = argv[++a];
        } else {
            fprintf(stderr, "linalg_tool pca: unknown option %s\n", argv[a]);
            return 2;
        }
    }
    nv_real *x = read_raw(argv[2], sizeof(nv_real), n * d);
    nv_error err = {0};
    nv_pca *p = NULL;
    const char *note = NULL;
    if (nv_pca_fit(x, n, d, &o, &p, &note, &err) != NV_OK) {
        free(x);
        free(ref);
        return fail(&err);
    }
    if (note) fprintf(stderr, "%s\n", note);
    printf("form %s\n", p->form == NV_PCA_GRAM ? "gram" : "covariance");
    printf("device %s\n", p->device == NV_DEVICE_CUDA ? "cuda" : "cpu");
    printf("total_variance %.17g\n", p->total_variance);
    printf("n90 %lld\n", (long long)nv_pca_ncomponents_for(p, 0.9));
    print_vec("mean", p->mean, d);
    print_vec("explained_variance", p->explained_variance, p->r);
    print_vec("explained_variance_ratio", p->explained_variance_ratio, p->r);
    for (int64_t j = 0; j < p->k; j++) print_vec("component", p->components + j * d, d);
    if (proj_out) write_raw(proj_out, p->projections, n * p->k);
    if (y_path) {
        nv_real *y = read_raw(y_path, sizeof(nv_real), m * d);
        double *py = malloc((size_t)(m * p->k + 1) * sizeof *py);
        if (nv_pca_project(p, y, m, py, &err) != NV_OK) return fail(&err);
        write_raw(y_out, py, m * p->k);
        free(py);
        free(y);
    }
    nv_pca_free(p);
    free(x);
    free(ref);
    return 0;
}

static int cmd_twonn(int argc, char **argv) {
    if (argc < 5) return 2;
    int64_t n = atoll(argv[3]), d = atoll(argv[4]);
    nv_twonn_opts o = {.discard_fraction = argc > 5 ? atof(argv[5]) : 0.1,
                       .exhaustive = argc > 6 && !strcmp(argv[6], "exhaustive")};
    nv_real *x = read_raw(argv[2], sizeof(nv_real), n * d);
    nv_error err = {0};
    nv_twonn_result r;
    if (nv_twonn(x, n, d, &o, &r, &err) != NV_OK) {
        free(x);
        return fail(&err);
    }
    printf("twonn %.17g\n", r.dimension);
    printf("n_unique %lld\nn_duplicates %lld\nn_ties %lld\nn_fit %lld\n", (long long)r.n_unique,
           (long long)r.n_duplicates, (long long)r.n_ties, (long long)r.n_fit);
    nv_pca *p = NULL;
    nv_pca_opts po = {.k = 1, .device = NV_DEVICE_CPU};
    if (nv_pca_fit(x, n, d, &po, &p, NULL, &err) != NV_OK) return fail(&err);
    printf("pca90 %lld\n", (long long)nv_pca_ncomponents_for(p, 0.9));
    nv_pca_free(p);
    free(x);
    return 0;
}

static int cmd_cka(int argc, char **argv) {
    if (argc < 7) return 2;
    int64_t n = atoll(argv[4]), dx = atoll(argv[5]), dy = atoll(argv[6]);
    nv_real *x = read_raw(argv[2], sizeof(nv_real), n * dx);
    nv_real *y = read_raw(argv[3], sizeof(nv_real), n * dy);
    nv_error err = {0};
    double v;
    nv_status st = nv_cka_linear(x, dx, y, dy, n, &v, &err);
    free(x);
    free(y);
    if (st != NV_OK) return fail(&err);
    printf("cka %.17g\n", v);
    return 0;
}

static int cmd_ckamat(int argc, char **argv) {
    if (argc < 5 || (argc - 3) % 2) return 2;
    int64_t n = atoll(argv[2]), L = (argc - 3) / 2;
    nv_real **layers = calloc((size_t)L, sizeof *layers);
    int64_t *w = calloc((size_t)L, sizeof *w);
    double *out = calloc((size_t)(L * L), sizeof *out);
    for (int64_t l = 0; l < L; l++) {
        w[l] = atoll(argv[4 + 2 * l]);
        layers[l] = read_raw(argv[3 + 2 * l], sizeof(nv_real), n * w[l]);
    }
    nv_error err = {0};
    if (nv_cka_matrix((const nv_real *const *)layers, w, L, n, out, &err) != NV_OK)
        return fail(&err);
    for (int64_t i = 0; i < L; i++) print_vec("row", out + i * L, L);
    for (int64_t l = 0; l < L; l++) free(layers[l]);
    free(layers);
    free(w);
    free(out);
    return 0;
}

static int cmd_probe(int argc, char **argv) {
    if (argc < 9) return 2;
    int64_t ntr = atoll(argv[4]), nte = atoll(argv[7]), d = atoll(argv[8]);
    nv_probe_opts o = {.C = argc > 9 ? atof(argv[9]) : 1.0};
    nv_real *xtr = read_raw(argv[2], sizeof(nv_real), ntr * d);
    int32_t *ytr = read_raw(argv[3], sizeof(int32_t), ntr);
    nv_real *xte = read_raw(argv[5], sizeof(nv_real), nte * d);
    int32_t *yte = read_raw(argv[6], sizeof(int32_t), nte);
    nv_error err = {0};
    nv_probe_result r;
    nv_status st = nv_probe_linear(xtr, ytr, ntr, xte, yte, nte, d, 0, &o, &r, NULL, &err);
    free(xtr);
    free(ytr);
    free(xte);
    free(yte);
    if (st != NV_OK) return fail(&err);
    printf("train_accuracy %.17g\ntest_accuracy %.17g\n", r.train_accuracy, r.test_accuracy);
    printf("train_loss %.17g\ntest_loss %.17g\nobjective %.17g\n", r.train_loss, r.test_loss,
           r.objective);
    printf("classes %lld\niterations %d\nconverged %d\n", (long long)r.classes, r.iterations,
           r.converged);
    return 0;
}

static int cmd_bench_pca(int argc, char **argv) {
    if (argc < 7) return 2;
    int64_t n = atoll(argv[3]), d = atoll(argv[4]), k = atoll(argv[5]);
    int reps = atoi(argv[6]);
    nv_real *x = read_raw(argv[2], sizeof(nv_real), n * d);
    nv_pca_opts o = {.k = k, .device = NV_DEVICE_CPU};
    for (int r = 0; r < reps; r++) {
        nv_error err = {0};
        nv_pca *p = NULL;
        double t0 = nv_now();
        if (nv_pca_fit(x, n, d, &o, &p, NULL, &err) != NV_OK) return fail(&err);
        double t1 = nv_now();
        printf("time_s %.6f ev0 %.10g\n", t1 - t0, p->explained_variance[0]);
        nv_pca_free(p);
    }
    free(x);
    return 0;
}

int main(int argc, char **argv) {
    int rc = 2;
    if (argc >= 2) {
        if (!strcmp(argv[1], "pca")) rc = cmd_pca(argc, argv);
        else if (!strcmp(argv[1], "twonn")) rc = cmd_twonn(argc, argv);
        else if (!strcmp(argv[1], "cka")) rc = cmd_cka(argc, argv);
        else if (!strcmp(argv[1], "ckamat")) rc = cmd_ckamat(argc, argv);
        else if (!strcmp(argv[1], "probe")) rc = cmd_probe(argc, argv);
        else if (!strcmp(argv[1], "bench-pca")) rc = cmd_bench_pca(argc, argv);
    }
    if (rc == 2 && argc < 3) fprintf(stderr, "usage: see the top of tests/tools/linalg_tool.c\n");
    return rc;
}
