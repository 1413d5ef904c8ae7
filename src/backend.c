/* backend.c: the one place that chooses the training backend (mlp.h). Everything
 * else calls through the nv_backend table it returns, so this is the only file
 * that knows whether the build has CUDA: no #ifdef anywhere in the algorithms.
 */
#include <stdio.h>
#include <string.h>

#include "nerve/kernels.h"
#include "nerve/mlp.h"

#if defined(NERVE_CUDA) && NERVE_CUDA
#define HAVE_CUDA 1
#else
#define HAVE_CUDA 0
#endif

const nv_backend *nv_backend_cuda(void) {
#if HAVE_CUDA
    return nv_backend_cuda_table();
#else
    return NULL;
#endif
}

int nv_cuda_usable(char *why, size_t why_len) {
#if HAVE_CUDA
    return nv_cuda_probe(why, why_len);
#else
    if (why && why_len) snprintf(why, why_len, "this build has no CUDA backend (built with CUDA=0 or without nvcc)");
    return 0;
#endif
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
