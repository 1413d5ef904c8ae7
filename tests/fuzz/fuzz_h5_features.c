/* fuzz_h5_features.c: the features file reader behind `nerve features`' history
 * figure (nv_features_history: the box, one unit's input and activation, the
 * image shape), on mutated nerve-features files; the figure goes to the scratch
 * directory. */
#include "fuzz_h5.h"
#include "nerve/features.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = h5_fuzz_input(data, size, "epoch_0000.h5");
    if (!path) return 0;
    char png[600];
    snprintf(png, sizeof png, "%s/history.png", nv_fuzz_dir());
    const char *paths[2] = {path, path};
    const int64_t epochs[2] = {0, 1};
    static const char *const layers[] = {"hidden1", "logits"};
    for (int i = 0; i < 2; i++) {
        nv_error err = {0};
        nv_status st = nv_features_history(paths, epochs, 2, layers[i], i, png, &err);
        nv_fuzz_check(st, &err, "epoch_0000.h5");
        h5_fuzz_check_closed();
    }
    return 0;
}
