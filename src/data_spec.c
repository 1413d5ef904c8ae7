/* data_spec.c: from a config's data section to train/test sets in memory, by
 * calling the generators and loaders of datasets/. One function so `nerve train`
 * and `nerve data --config` build exactly the same data. */
#include <stdio.h>
#include <string.h>

#include "nerve/run.h"

nv_status nv_data_build(const nv_data_spec *spec, uint64_t seed, nv_dataset *train, nv_dataset *test,
                        char *desc, size_t len, nv_error *err) {
    nv_status st = NV_OK;
    nv_dataset all = {0};
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    switch (spec->source) {
    case NV_DATA_SPHERES: {
        nv_spheres_params p = spec->spheres;
        p.seed = seed;
        p.test_fraction = spec->test_fraction;
        st = nv_spheres_generate(&p, train, test, err);
        snprintf(desc, len,
                 "spheres: d=%lld m=%lld, %lld points per class, radii %g and %g, offset %g, noise %g, "
                 "oversample %g, seed %llu",
                 (long long)p.dim, (long long)p.sphere_dim, (long long)p.points_per_class, p.radius[0],
                 p.radius[1], p.offset, p.noise, p.oversample, (unsigned long long)seed);
        break;
    }
    case NV_DATA_FASHION_MNIST:
    case NV_DATA_IDX:
        if (spec->test_images[0]) {
            st = nv_idx_load(spec->images, spec->labels, spec->limit, train, err);
            if (!st) st = nv_idx_load(spec->test_images, spec->test_labels, spec->test_limit, test, err);
            if (!st && train->d != test->d)
                st = nv_fail(err, NV_EINPUT, "%s and %s: images of %lld and %lld pixels do not match",
                             spec->images, spec->test_images, (long long)train->d, (long long)test->d);
            if (!st && test->nclasses > train->nclasses) train->nclasses = test->nclasses;
            if (!st) test->nclasses = train->nclasses;
        } else {
            st = nv_idx_load(spec->images, spec->labels, spec->limit, &all, err);
            if (!st) st = nv_dataset_split(&all, spec->test_fraction, seed, train, test, err);
        }
        snprintf(desc, len, "%s: %s (limit %lld, test limit %lld)", nv_data_source_name(spec->source),
                 spec->images, (long long)spec->limit, (long long)spec->test_limit);
        break;
    case NV_DATA_CSV:
        st = nv_csv_load(spec->path, spec->label_col, &all, err);
        if (!st) st = nv_dataset_split(&all, spec->test_fraction, seed, train, test, err);
        snprintf(desc, len, "csv: %s (label column %d)", spec->path, spec->label_col);
        break;
    case NV_DATA_HDF5:
        st = nv_h5_import(spec->path, spec->x_path, spec->y_path, &all, err);
        if (!st) st = nv_dataset_split(&all, spec->test_fraction, seed, train, test, err);
        snprintf(desc, len, "hdf5: %s (%s, %s)", spec->path, spec->x_path, spec->y_path);
        break;
    case NV_DATA_FILE:
        st = nv_dataset_load(spec->path, train, test, err);
        snprintf(desc, len, "file: %s", spec->path);
        break;
    }
    nv_dataset_free(&all);
    if (!st) st = nv_dataset_validate(train, "training set", err);
    if (!st && test->n > 0) st = nv_dataset_validate(test, "test set", err);
    if (!st && train->n == 0) st = nv_fail(err, NV_EINPUT, "the data source gave an empty training set");
    if (st) {
        nv_dataset_free(train);
        nv_dataset_free(test);
    }
    return st;
}
