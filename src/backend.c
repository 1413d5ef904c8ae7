/* backend.c: the one place that chooses the training backend (mlp.h). Everything
 * else calls through the nv_backend table it returns, so this is the only file
 * that knows about the CUDA backend: no #ifdef anywhere in the algorithms. The CUDA
 * table lives in libnerve_cuda.so, loaded on demand (cuda_loader.c, which also holds
 * nv_cuda_usable).
 */
#include <stdio.h>
#include <string.h>

#include "cuda_loader.h"
#include "nerve/mlp.h"

const nv_backend *nv_backend_cuda(void) {
    const nv_backend *(*table)(void) =
        (const nv_backend *(*)(void))nv_cuda_sym("nv_backend_cuda_table", NULL, 0);
    return table ? table() : NULL;
}

nv_status nv_backend_select(nv_device_kind want, const nv_backend **out, const char **note,
                            nv_error *err) {
    /* The note outlives the call (the caller prints it when it likes); one selection
     * happens per process start, so a static buffer is enough. */
    static char note_buf[512];
    *out = NULL;
    if (note) *note = NULL;
    if (want == NV_DEVICE_CPU) {
        *out = nv_backend_cpu();
        return NV_OK;
    }
    if (want != NV_DEVICE_AUTO && want != NV_DEVICE_CUDA)
        return nv_fail(err, NV_EINTERNAL, "backend: unknown device kind %d", (int)want);
    char why[256] = "";
    if (nv_cuda_usable(why, sizeof why) && nv_backend_cuda()) {
        *out = nv_backend_cuda();
        return NV_OK;
    }
    if (want == NV_DEVICE_CUDA)
        return nv_fail(err, NV_EDEVICE,
                       "device 'cuda' was requested but no usable GPU was found (%s); use device "
                       "'cpu' or 'auto' to train on the CPU",
                       why);
    snprintf(note_buf, sizeof note_buf, "no usable GPU (%s); using the CPU", why);
    if (note) *note = note_buf;
    *out = nv_backend_cpu();
    return NV_OK;
}
