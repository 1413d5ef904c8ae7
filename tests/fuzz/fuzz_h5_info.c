/* fuzz_h5_info.c: `nerve info FILE` (nv_info_describe), which walks any HDF5
 * file: groups, datasets, shapes, storage, virtual sources and attributes. Its
 * corpus holds a file of every format nerve writes. */
#include <jansson.h>

#include "fuzz_h5.h"
#include "nerve/info.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = h5_fuzz_input(data, size, "any.h5");
    if (!path) return 0;
    json_t *j = NULL;
    nv_error err = {0};
    nv_status st = nv_info_describe(path, &j, &err);
    nv_fuzz_check(st, &err, "any.h5");
    if (st == NV_OK) {
        char *text = json_dumps(j, 0);
        if (!text) abort();
        free(text);
    }
    json_decref(j);
    h5_fuzz_check_closed();
    return 0;
}
