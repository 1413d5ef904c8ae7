/* fuzz_h5_diagrams.c: the diagram file reader of `nerve ph RUN`'s summary step
 * (phr_read_diagram_file: every diagram group, then the numbers the summary
 * computes of them: total persistence, entropy, Betti numbers, bottleneck and
 * Wasserstein distances), on mutated nerve-diagrams files. */
#include "fuzz_h5.h"
#include "../../analysis/runs/ph_run_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = h5_fuzz_input(data, size, "epoch_0000.h5");
    if (!path) return 0;
    int64_t n = 0;
    nv_error err = {0};
    nv_status st = phr_read_diagram_file(path, &n, &err);
    nv_fuzz_check(st, &err, "epoch_0000.h5");
    h5_fuzz_check_closed();
    return 0;
}
