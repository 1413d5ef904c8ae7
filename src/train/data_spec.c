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
        nv_spheres_describe(&p, desc, len);
        break;
    }
    case NV_DATA_DISKS: {
        nv_disks_params p = spec->disks;
        p.seed = seed;
        p.test_fraction = spec->test_fraction;
        st = nv_disks_generate(&p, train, test, err);
        nv_disks_describe(&p, desc, len);
        break;
    }
    case NV_DATA_TORI: {
        nv_tori_params p = spec->tori;
        p.seed = seed;
        p.test_fraction = spec->test_fraction;
        st = nv_tori_generate(&p, train, test, err);
        nv_tori_describe(&p, desc, len);
        break;
    }
    case NV_DATA_FASHION_MNIST:
    case NV_DATA_IDX: {
        nv_idx_params p = {.images = spec->images, .labels = spec->labels,
                           .test_images = spec->test_images[0] ? spec->test_images : NULL,
                           .test_labels = spec->test_labels[0] ? spec->test_labels : NULL,
                           .limit = spec->limit, .test_limit = spec->test_limit,
                           .test_fraction = spec->test_fraction, .seed = seed};
        st = nv_idx_build(&p, train, test, err);
        nv_idx_describe(&p, desc, len);
        break;
    }
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
