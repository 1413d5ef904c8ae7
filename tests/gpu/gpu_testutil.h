/* gpu_testutil.h: what the GPU parity tests share (tests/gpu/): device buffers
 * filled from host arrays and read back, and CHECK, which fails the test with the
 * call's message. Zero-byte buffers are allowed (a 1-byte allocation, no copy). */
#ifndef NERVE_GPU_TESTUTIL_H
#define NERVE_GPU_TESTUTIL_H

#include "testutil.h"

#include "nerve/kernels.h"

static inline void *dev_from(const void *host, size_t bytes) {
    nv_error err = {0};
    void *d = NULL;
    if (nv_cuda_malloc(&d, bytes ? bytes : 1, &err) != NV_OK) fail_msg("%s", err.msg);
    if (host && bytes && nv_cuda_upload(d, host, bytes, &err) != NV_OK) fail_msg("%s", err.msg);
    return d;
}

static inline void to_host(void *host, const void *dev, size_t bytes) {
    nv_error err = {0};
    if (nv_cuda_sync(&err) != NV_OK) fail_msg("%s", err.msg);
    if (bytes && nv_cuda_download(host, dev, bytes, &err) != NV_OK) fail_msg("%s", err.msg);
}

#define CHECK(call)                                    \
    do {                                               \
        nv_error err_ = {0};                           \
        nv_error *err = &err_;                         \
        if ((call) != NV_OK) fail_msg("%s", err_.msg); \
    } while (0)

#endif
