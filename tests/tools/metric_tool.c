/* metric_tool: file-based access to metric.h for the metric oracle tests
 * (tests/integration/metric_*.py). Input points: int64 n, int64 d, float32 x[n*d].
 * Exit 2 with the message on error. Built by the Makefile like every tests/tools/
 * driver, so it gets the same flags (sanitizers included) as the library. */
#include "nerve/calibrate.h"
#include "nerve/metric.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static float *read_points(const char *path, int64_t *n, int64_t *d) {
    FILE *f = fopen(path, "rb");
    if (!f || fread(n, 8, 1, f) != 1 || fread(d, 8, 1, f) != 1) exit(3);
    float *x = malloc((size_t)(*n * *d) * sizeof(float) + 1);
    if (fread(x, sizeof(float), (size_t)(*n * *d), f) != (size_t)(*n * *d)) exit(3);
    fclose(f);
    return x;
}
static int fail(nv_error *e) { fprintf(stderr, "%s\n", e->msg); return 2; }
int main(int argc, char **argv) {
    nv_error err = {0};
    int64_t n, d;
    if (argc < 3) return 3;
    if (!strcmp(argv[1], "dist")) {            /* dist KIND K NORM in out */
        float *x = read_points(argv[5], &n, &d);
        nv_metric_spec m = {(nv_metric_kind)nv_metric_parse(argv[2]), atoi(argv[3]), atoi(argv[4]), NV_DEVICE_AUTO};
        float *lower = NULL;
        if (nv_distance_matrix(x, n, d, &m, &lower, &err) != NV_OK) return fail(&err);
        FILE *f = fopen(argv[6], "wb");
        fwrite(lower, sizeof(float), (size_t)(n * (n - 1) / 2), f);
        fclose(f);
        free(lower); free(x);
    } else if (!strcmp(argv[1], "median")) {   /* median K in: prints the divisor */
        float *x = read_points(argv[3], &n, &d);
        nv_metric_spec m = {NV_METRIC_EUCLIDEAN, 0, 0, NV_DEVICE_AUTO};
        float *lower = NULL;
        double med = 0;
        if (nv_distance_matrix(x, n, d, &m, &lower, &err) != NV_OK) return fail(&err);
        if (nv_median_kth_neighbor(lower, n, atoi(argv[2]), &med, &err) != NV_OK) return fail(&err);
        printf("%.17g\n", med);
        free(lower); free(x);
    } else if (!strcmp(argv[1], "landmarks")) { /* landmarks KIND COUNT SEED FIRST in out */
        float *x = read_points(argv[6], &n, &d);
        int64_t count = atoll(argv[3]);
        int64_t *idx = malloc(sizeof(int64_t) * (size_t)count);
        double cover = -1;
        if (nv_landmarks_select(x, n, d, count, (nv_landmark_kind)nv_landmark_parse(argv[2]),
                                strtoull(argv[4], NULL, 10), atoll(argv[5]), idx, &cover, &err) != NV_OK)
            return fail(&err);
        FILE *f = fopen(argv[7], "wb");
        int64_t got = count < n ? count : n;
        fwrite(&got, 8, 1, f);
        fwrite(idx, 8, (size_t)got, f);
        fwrite(&cover, 8, 1, f);
        fclose(f);
        free(idx); free(x);
    } else if (!strcmp(argv[1], "calibrate")) { /* calibrate KIND KMIN KMAX NDIMS T.. in */
        int ndims = atoi(argv[5]);
        int64_t t[8];
        for (int i = 0; i < ndims; i++) t[i] = atoll(argv[6 + i]);
        float *x = read_points(argv[6 + ndims], &n, &d);
        nv_calibration c;
        if (nv_calibrate(x, n, d, (nv_metric_kind)nv_metric_parse(argv[2]), t, ndims, atoi(argv[3]),
                         atoi(argv[4]), &c, &err) != NV_OK)
            return fail(&err);
        printf("%d %.9g %.9g %.9g\n", c.k, (double)c.scale, (double)c.scale_lo, (double)c.scale_hi);
        free(x);
    } else return 3;
    return 0;
}
