/* dataset.c: the in-memory labelled point set shared by every generator and loader
 * (allocation, validation, per-class counts) and the stratified train/test split.
 *
 * The split is the one place where a source's rows are divided and reordered, so
 * every source (spheres, IDX, CSV, HDF5) gets the same, seed-determined split and
 * the sample ids that let later stages trace a row back to the source.
 */
#include "nerve/dataset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nerve/rng.h"

void nv_dataset_free(nv_dataset *ds) {
    if (!ds) return;
    free(ds->x);
    free(ds->y);
    free(ds->ids);
    memset(ds, 0, sizeof *ds);
}

nv_status nv_dataset_alloc(nv_dataset *ds, int64_t n, int64_t d, nv_error *err) {
    memset(ds, 0, sizeof *ds);
    if (n < 0 || d < 1)
        return nv_fail(err, NV_EINTERNAL, "nv_dataset_alloc: bad shape (%lld, %lld)",
                       (long long)n, (long long)d);
    /* Guard the size products against overflow before they reach malloc. */
    if ((uint64_t)n > (uint64_t)INT64_MAX / sizeof(nv_real) / (uint64_t)d)
        return nv_fail(err, NV_ENOMEM, "data set of %lld x %lld values is too large",
                       (long long)n, (long long)d);
    ds->n = n;
    ds->d = d;
    ds->x = nv_malloc((size_t)n * (size_t)d * sizeof(nv_real), err);
    ds->y = nv_malloc((size_t)n * sizeof(int32_t), err);
    ds->ids = nv_malloc((size_t)n * sizeof(int64_t), err);
    if (!ds->x || !ds->y || !ds->ids) {
        nv_dataset_free(ds);
        return nv_fail(err, NV_ENOMEM, "out of memory for %lld x %lld data", (long long)n,
                       (long long)d);
    }
    return NV_OK;
}

void nv_dataset_class_counts(const nv_dataset *ds, int64_t *counts) {
    for (int32_t c = 0; c < ds->nclasses; c++) counts[c] = 0;
    for (int64_t i = 0; i < ds->n; i++)
        if (ds->y[i] >= 0 && ds->y[i] < ds->nclasses) counts[ds->y[i]]++;
}

nv_status nv_dataset_validate(const nv_dataset *ds, const char *what, nv_error *err) {
    if (!what) what = "data set";
    if (ds->n < 0 || ds->d < 1)
        return nv_fail(err, NV_EINPUT, "%s: shape (%lld, %lld): expected rows >= 0 and at least 1 feature",
                       what, (long long)ds->n, (long long)ds->d);
    if (ds->nclasses < 1 || ds->nclasses > NV_MAX_CLASSES)
        return nv_fail(err, NV_EINPUT, "%s: %d classes: expected 1 .. %d", what,
                       (int)ds->nclasses, NV_MAX_CLASSES);
    if (ds->n > 0 && (!ds->x || !ds->y || !ds->ids))
        return nv_fail(err, NV_EINTERNAL, "%s: %lld rows but no arrays", what, (long long)ds->n);
    for (int64_t i = 0; i < ds->n; i++)
        if (ds->y[i] < 0 || ds->y[i] >= ds->nclasses)
            return nv_fail(err, NV_EINPUT, "%s: row %lld: label %d: expected 0 .. %d", what,
                           (long long)i, (int)ds->y[i], (int)ds->nclasses - 1);
    for (int64_t i = 0; i < ds->n; i++)
        for (int64_t j = 0; j < ds->d; j++) {
            nv_real v = ds->x[i * ds->d + j];
            if (!isfinite(v))
                return nv_fail(err, NV_EINPUT, "%s: row %lld, feature %lld: value %g: expected a finite number",
                               what, (long long)i, (long long)j, (double)v);
        }
    return NV_OK;
}

/* Copies row `src_row` of `src` to row `dst_row` of `dst` (same d). */
static void copy_row(nv_dataset *dst, int64_t dst_row, const nv_dataset *src, int64_t src_row) {
    memcpy(dst->x + dst_row * dst->d, src->x + src_row * src->d, (size_t)src->d * sizeof(nv_real));
    dst->y[dst_row] = src->y[src_row];
    dst->ids[dst_row] = src->ids[src_row];
}

/* Fills `out` with the rows rows[0..n) of `src`, in the order given by a seeded
 * permutation (so the classes, gathered class by class, interleave). */
static nv_status gather_shuffled(const nv_dataset *src, const int64_t *rows, int64_t n,
                                 uint64_t seed, uint64_t base, nv_dataset *out, nv_error *err) {
    nv_status st = nv_dataset_alloc(out, n, src->d, err);
    if (st) return st;
    out->nclasses = src->nclasses;
    uint32_t *perm = nv_malloc((size_t)(n ? n : 1) * sizeof *perm, err);
    if (!perm) {
        nv_dataset_free(out);
        return NV_ENOMEM;
    }
    nv_rng_permutation(seed, NV_STREAM_SPLIT, base, perm, (uint32_t)n);
    for (int64_t i = 0; i < n; i++) copy_row(out, i, src, rows[perm[i]]);
    free(perm);
    return NV_OK;
}

nv_status nv_dataset_split(const nv_dataset *all, double test_fraction, uint64_t seed,
                           nv_dataset *train, nv_dataset *test, nv_error *err) {
    nv_status st = NV_OK;
    int64_t *counts = NULL, *rows = NULL, *train_rows = NULL, *test_rows = NULL;
    uint32_t *perm = NULL;
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    if (!(test_fraction >= 0.0 && test_fraction < 1.0))
        return nv_fail(err, NV_EINPUT, "test fraction %g: expected a number in [0, 1)", test_fraction);
    if ((st = nv_dataset_validate(all, "data set to split", err))) return st;
    /* nv_rng_permutation counts in 32 bits. */
    if (all->n > (int64_t)UINT32_MAX)
        return nv_fail(err, NV_EINPUT, "data set of %lld rows: the split handles at most %u",
                       (long long)all->n, UINT32_MAX);

    counts = nv_calloc((size_t)all->nclasses, sizeof *counts, err);
    rows = nv_malloc((size_t)(all->n ? all->n : 1) * sizeof *rows, err);
    train_rows = nv_malloc((size_t)(all->n ? all->n : 1) * sizeof *train_rows, err);
    test_rows = nv_malloc((size_t)(all->n ? all->n : 1) * sizeof *test_rows, err);
    perm = nv_malloc((size_t)(all->n ? all->n : 1) * sizeof *perm, err);
    if (!counts || !rows || !train_rows || !test_rows || !perm) {
        st = NV_ENOMEM;
        goto done;
    }
    nv_dataset_class_counts(all, counts);

    int64_t ntrain = 0, ntest = 0;
    for (int32_t c = 0; c < all->nclasses; c++) {
        /* This class's rows in source order, then a permutation of them that depends
         * only on (seed, c, n_c): adding a class never changes another's split. */
        int64_t nc = 0;
        for (int64_t i = 0; i < all->n; i++)
            if (all->y[i] == c) rows[nc++] = i;
        if (nc == 0) continue;
        nv_rng_permutation(seed, NV_STREAM_SPLIT, (uint64_t)c << 40, perm, (uint32_t)nc);
        /* round half up, written out so no libm rounding mode enters */
        int64_t nt = (int64_t)floor(test_fraction * (double)nc + 0.5);
        if (nt > nc) nt = nc;
        for (int64_t k = 0; k < nc; k++) {
            if (k < nt) test_rows[ntest++] = rows[perm[k]];
            else train_rows[ntrain++] = rows[perm[k]];
        }
    }
    if ((st = gather_shuffled(all, train_rows, ntrain, seed, (uint64_t)1 << 60, train, err)))
        goto done;
    if ((st = gather_shuffled(all, test_rows, ntest, seed, (uint64_t)2 << 60, test, err)))
        goto done;

done:
    if (st) {
        nv_dataset_free(train);
        nv_dataset_free(test);
    }
    free(counts);
    free(rows);
    free(train_rows);
    free(test_rows);
    free(perm);
    return st;
}
