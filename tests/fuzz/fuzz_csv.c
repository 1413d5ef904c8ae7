/* fuzz_csv.c: the CSV reader (nv_csv_load). Byte 0 picks the label column (-1:
 * the last, as by default; else 0..6); the rest is the file. An accepted file
 * must give a dataset that passes nv_dataset_validate. */
#include "fuzz_util.h"
#include "nerve/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const int label_col = (int)(data[0] % 8) - 1;
    const char *path = nv_fuzz_file("data.csv", data + 1, size - 1);
    nv_dataset ds;
    nv_error err = {0};
    nv_status st = nv_csv_load(path, label_col, &ds, &err);
    nv_fuzz_check(st, &err, "data.csv");
    if (st == NV_OK) {
        nv_error e2 = {0};
        if (nv_dataset_validate(&ds, "fuzz", &e2) != NV_OK) {
            fprintf(stderr, "nerve fuzz: an accepted CSV fails validation: %s\n", e2.msg);
            abort();
        }
    }
    nv_dataset_free(&ds);
    return 0;
}
