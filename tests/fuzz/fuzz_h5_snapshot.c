/* fuzz_h5_snapshot.c: the snapshot readers every analysis verb uses
 * (nv_snapshot_read of a layer and split, nv_snapshot_read_index of labels and
 * ids, nv_snapshot_read_params of the network), on mutated nerve-snapshot files. */
#include "fuzz_h5.h"
#include "nerve/snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = h5_fuzz_input(data, size, "epoch_0000.h5");
    if (!path) return 0;
    static const char *const layers[] = {"input", "hidden1", "logits"};
    static const char *const splits[] = {"train", "test", "all"};
    for (int i = 0; i < 3; i++) {
        nv_real *x = NULL;
        int64_t rows = -1, cols = -1;
        nv_error err = {0};
        nv_status st = nv_snapshot_read(path, layers[i], splits[i], 0, &x, &rows, &cols, &err);
        nv_fuzz_check(st, &err, "epoch_0000.h5");
        if (st == NV_OK && (rows < 0 || cols < 0 || (rows * cols > 0 && !x))) abort();
        if (st == NV_OK && rows * cols > 0) (void)(volatile float)x[rows * cols - 1];
        free(x);
        h5_fuzz_check_closed();
    }
    for (int i = 0; i < 2; i++) {
        int64_t *v = NULL, rows = -1;
        nv_error err = {0};
        nv_status st = nv_snapshot_read_index(path, i ? "ids" : "labels", splits[i + 1], &v, &rows, &err);
        nv_fuzz_check(st, &err, "epoch_0000.h5");
        if (st == NV_OK && rows > 0) (void)(volatile int64_t)v[rows - 1];
        free(v);
        h5_fuzz_check_closed();
    }
    nv_mlp_spec spec;
    nv_real *params = NULL;
    nv_error err = {0};
    nv_status st = nv_snapshot_read_params(path, &spec, &params, &err);
    nv_fuzz_check(st, &err, "epoch_0000.h5");
    if (st == NV_OK) {
        nv_error e2 = {0};
        if (nv_mlp_spec_validate(&spec, &e2)) abort();
        (void)(volatile float)params[nv_mlp_param_count(&spec) - 1];
    }
    free(params);
    h5_fuzz_check_closed();
    return 0;
}
