/* fuzz_h5_pca.c: what `nerve pca RUN` reads back of its own output files
 * (nv_pca_run_read_output: the parameters a rerun compares, a layer's components,
 * projections and variance ratios, drawn as the figure draws them), on mutated
 * nerve-pca files. */
#include "fuzz_h5.h"
#include "nerve/run_index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = h5_fuzz_input(data, size, "epoch_0000.h5");
    if (!path) return 0;
    static const char *const layers[] = {"input", "hidden1"};
    for (int i = 0; i < 2; i++) {
        nv_error err = {0};
        nv_status st = nv_pca_run_read_output(path, layers[i], &err);
        nv_fuzz_check(st, &err, "epoch_0000.h5");
        h5_fuzz_check_closed();
    }
    return 0;
}
