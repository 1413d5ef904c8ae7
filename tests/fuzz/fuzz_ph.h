/* fuzz_ph.h: the body of the seven `nerve ph --format` targets
 * (fuzz_ph_<format>.c define NV_FUZZ_PH_FORMAT and include this).
 *
 * The bytes are the input file; nv_ph_read reads them as the CLI does (through a
 * FILE *). A file it accepts must hold what it promised (n >= 2 points, finite
 * distances >= 0, a consistent sparse structure), and when it is small the
 * engine computes its barcode (H0 and H1, one thread, on the CPU), which must
 * succeed: a reader that accepts what the engine then chokes on is a bug too.
 */
#include <math.h>

#include "fuzz_util.h"
#include "nerve/ph.h"

#define PH_FUZZ_MAX_ENGINE_POINTS 12

static void ph_fuzz_check_data(const nv_ph_data *d) {
    if (d->n < 2) abort();
    if (d->format == NV_PH_FMT_SPARSE) {
        if (!d->row_ptr || d->row_ptr[0] != 0) abort();
        for (int64_t i = 0; i < d->n; i++) {
            if (d->row_ptr[i + 1] < d->row_ptr[i]) abort();
            for (int64_t k = d->row_ptr[i]; k < d->row_ptr[i + 1]; k++) {
                if (d->col[k] < 0 || d->col[k] >= d->n || d->col[k] == i) abort();
                if (!(d->val[k] >= 0) || !isfinite(d->val[k])) abort();
            }
        }
    } else if (d->format == NV_PH_FMT_POINT_CLOUD) {
        if (d->dim < 0) abort();
        for (int64_t k = 0; k < d->n * d->dim; k++)
            if (!isfinite(d->points[k])) abort();
    } else {
        for (int64_t k = 0; k < d->n * (d->n - 1) / 2; k++)
            if (!(d->lower[k] >= 0) || !isfinite(d->lower[k])) abort();
    }
}

static void ph_fuzz_engine(const nv_ph_data *d) {
    if (d->n > PH_FUZZ_MAX_ENGINE_POINTS) return;
    float *lower = NULL;
    nv_error err = {0};
    nv_ph_input in = {.n = d->n};
    if (d->format == NV_PH_FMT_SPARSE) {
        in.kind = NV_PH_SPARSE;
        in.row_ptr = d->row_ptr;
        in.col = d->col;
        in.val = d->val;
    } else if (d->format == NV_PH_FMT_POINT_CLOUD) {
        if (nv_ph_euclidean(d->points, d->n, d->dim, &lower, &err)) abort();
        in.kind = NV_PH_DENSE;
        in.lower = lower;
    } else {
        in.kind = NV_PH_DENSE;
        in.lower = d->lower;
    }
    nv_ph_params p;
    nv_ph_params_defaults(&p);
    p.threads = 1;
    p.device = NV_DEVICE_CPU;
    p.want_simplices = 1;
    nv_ph_result r = {0};
    nv_status st = nv_ph_compute(&in, &p, &r, &err);
    /* Distances that overflow to inf in the Euclidean computation are the one
     * refusal the engine may make of an accepted point cloud. */
    if (st != NV_OK && !(st == NV_EINPUT && d->format == NV_PH_FMT_POINT_CLOUD)) {
        fprintf(stderr, "nerve fuzz: the engine refused an input the reader accepted (status %d): %s\n",
                (int)st, err.msg);
        abort();
    }
    for (int64_t k = 0; st == NV_OK && k < r.count; k++) {
        const nv_ph_pair *q = &r.pairs[k];
        if (q->dim < 0 || q->dim > p.max_dim || !(q->birth <= q->death)) abort();
        if (k > 0 && r.pairs[k - 1].dim > q->dim) abort();
    }
    nv_ph_result_free(&r);
    free(lower);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FILE *f = size ? fmemopen((void *)data, size, "rb") : fopen("/dev/null", "rb");
    if (!f) abort();
    nv_ph_data d;
    nv_error err = {0};
    nv_status st = nv_ph_read(f, "fuzz-input", NV_FUZZ_PH_FORMAT, &d, &err);
    fclose(f);
    nv_fuzz_check(st, &err, "fuzz-input");
    if (st == NV_OK) {
        ph_fuzz_check_data(&d);
        ph_fuzz_engine(&d);
    }
    nv_ph_data_free(&d);
    return 0;
}
