/* fuzz_h5_checkpoint.c: the checkpoint reader (nv_checkpoint_read, what `nerve
 * train --resume` starts from), on mutated nerve-checkpoint files. An accepted
 * checkpoint holds a valid network and vectors of its parameter count. */
#include "fuzz_h5.h"
#include "nerve/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = h5_fuzz_input(data, size, "expressive.h5");
    if (!path) return 0;
    nv_checkpoint ck;
    nv_error err = {0};
    nv_status st = nv_checkpoint_read(path, &ck, &err);
    nv_fuzz_check(st, &err, "expressive.h5");
    if (st == NV_OK) {
        nv_error e2 = {0};
        if (nv_mlp_spec_validate(&ck.spec, &e2) || ck.nparams != nv_mlp_param_count(&ck.spec)) abort();
        (void)(volatile float)ck.params[ck.nparams - 1];
        (void)(volatile float)ck.state1[ck.nparams - 1];
        (void)(volatile float)ck.state2[ck.nparams - 1];
        if (ck.metric_rows * ck.metric_cols > 0)
            (void)(volatile double)ck.metrics[ck.metric_rows * ck.metric_cols - 1];
        for (int64_t i = 0; i < ck.metric_cols; i++)
            if (!ck.metric_names[i]) abort();
        nv_checkpoint_free(&ck);
    }
    h5_fuzz_check_closed();
    return 0;
}
