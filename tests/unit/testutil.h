/* testutil.h: what every cmocka unit test includes; the parity comparison of
 * docs/CONTRACTS.md (|a - b| <= atol + rtol * |b|) in one place, and the
 * temporary-directory and file helpers the tests would otherwise each repeat. */
#ifndef NERVE_TESTUTIL_H
#define NERVE_TESTUTIL_H
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "nerve/strbuf.h"
#include "nerve/device.h"

/* Asserts every element of a (the result) is within atol + rtol*|b| of b (the
 * reference), printing the first offender. */
static inline void nv_assert_close_f(const float *a, const float *b, int64_t n, double atol,
                                     double rtol, const char *what) {
    for (int64_t i = 0; i < n; i++) {
        double diff = fabs((double)a[i] - (double)b[i]);
        if (!(diff <= atol + rtol * fabs((double)b[i]))) {
            print_error("%s: element %lld: got %.9g, reference %.9g (atol %g, rtol %g)\n", what,
                        (long long)i, (double)a[i], (double)b[i], atol, rtol);
            fail();
        }
    }
}

/* A fresh temporary directory for one test (removed by the caller or left under
 * /tmp for inspection on failure). */
/* For the GPU tests (tests/gpu): 0 when a GPU is usable; else 77 (skip) with a SKIP
 * line when this machine or build has none (NV_ENODEVICE: no driver, no device, a
 * build without CUDA), and 1 with a FAIL line when one is there but cannot be used
 * (NV_EDEVICE: a driver too old for the toolkit, a plug-in that does not load, ...):
 * that must not pass as a skip on the one machine where the test can run. `what`
 * names what is not run. The device layer decides (include/nerve/device.h). */
static inline int nv_test_gpu_skip(const char *what) {
    char why[512];
    nv_status st = nv_cuda_status(why, sizeof why);
    if (st == NV_OK) return 0;
    if (st == NV_ENODEVICE) {
        printf("SKIP: no usable CUDA device (%s); %s not run here\n", why, what);
        return 77;
    }
    printf("FAIL: a CUDA device is present but not usable: %s (%s not run)\n", why, what);
    return 1;
}

static inline char *nv_test_tmpdir(const char *tag) {
    static char buf[256];
    snprintf(buf, sizeof buf, "/tmp/nerve-test-%s-XXXXXX", tag);
    char *p = mkdtemp(buf);
    if (!p) fail_msg("mkdtemp failed");
    return p;
}

/* Writes `text` to dir/name and returns the path (a static buffer, valid until the
 * next call): the small config and CSV inputs the tests load. */
static inline const char *nv_test_write_file(const char *dir, const char *name, const char *text) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* A whole file, '\0'-terminated (nv_read_file); fails the test if it cannot be read.
 * len may be NULL. The caller frees. */
static inline char *nv_test_read_file(const char *path, size_t *len) {
    char *s = nv_read_file(path, len);
    if (!s) fail_msg("cannot read %s", path);
    return s;
}
#endif
