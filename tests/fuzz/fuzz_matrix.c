/* fuzz_matrix.c: `nerve pca FILE`'s matrix reader (nv_matrix_read): a CSV or
 * whitespace table of numbers, or FILE.h5:/path naming a 2-D dataset. Byte 0
 * chooses: even, the rest is a text table; odd, an HDF5 file read at /x. */
#include <math.h>

#include "fuzz_h5.h"
#include "nerve/run_index.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const int h5 = data[0] & 1;
    const char *path = h5_fuzz_input(data + 1, size - 1, h5 ? "matrix.h5" : "matrix.csv");
    if (!path) return 0;
    char spec[600];
    snprintf(spec, sizeof spec, "%s%s", path, h5 ? ":/x" : "");
    nv_real *x = NULL;
    int64_t rows = 0, cols = 0;
    nv_error err = {0};
    nv_status st = nv_matrix_read(spec, &x, &rows, &cols, &err);
    nv_fuzz_check(st, &err, h5 ? "matrix.h5" : "matrix.csv");
    if (st == NV_OK) {
        if (rows < 1 || cols < 1) abort();
        for (int64_t i = 0; i < rows * cols; i++)
            if (!isfinite(x[i])) abort();
    }
    free(x);
    h5_fuzz_check_closed();
    return 0;
}
