/* fuzz_h5_dataset.c: the dataset file reader (nv_dataset_load, what `nerve train`
 * reads for data.source = "file") and the import of arrays from any HDF5 file
 * (nv_h5_import, data.source = "hdf5"), on mutated nerve-dataset files. */
#include "fuzz_h5.h"
#include "nerve/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = h5_fuzz_input(data, size, "data.h5");
    if (!path) return 0;
    nv_dataset tr, te;
    nv_error err = {0};
    nv_status st = nv_dataset_load(path, &tr, &te, &err);
    nv_fuzz_check(st, &err, "data.h5");
    if (st == NV_OK) {
        nv_error e2 = {0};
        if (nv_dataset_validate(&tr, "train", &e2) || nv_dataset_validate(&te, "test", &e2) || tr.d != te.d) {
            fprintf(stderr, "nerve fuzz: an accepted dataset file fails validation: %s\n", e2.msg);
            abort();
        }
    }
    nv_dataset_free(&tr);
    nv_dataset_free(&te);
    h5_fuzz_check_closed();
    nv_dataset ds;
    nv_error e3 = {0};
    st = nv_h5_import(path, "/train/x", "/train/y", &ds, &e3);
    nv_fuzz_check(st, &e3, "data.h5");
    if (st == NV_OK) {
        nv_error e4 = {0};
        if (nv_dataset_validate(&ds, "import", &e4)) {
            fprintf(stderr, "nerve fuzz: an accepted import fails validation: %s\n", e4.msg);
            abort();
        }
    }
    nv_dataset_free(&ds);
    h5_fuzz_check_closed();
    return 0;
}
