/* common.c: the error-report helpers of common.h. */
#include "nerve/common.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

nv_status nv_fail(nv_error *err, nv_status status, const char *fmt, ...) {
    if (!err) return status;
    /* Keep the innermost (first) cause: outer layers add context with nv_error_prefix. */
    if (err->status != NV_OK) return err->status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->status = status;
    return status;
}

void nv_error_prefix(nv_error *err, const char *fmt, ...) {
    if (!err || err->status == NV_OK) return;
    char head[NV_ERROR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    char joined[2 * NV_ERROR_LEN + 1];
    snprintf(joined, sizeof joined, "%s%s", head, err->msg);
    size_t len = strnlen(joined, sizeof err->msg - 1); /* truncate an overlong message */
    memcpy(err->msg, joined, len);
    err->msg[len] = '\0';
}

void nv_error_clear(nv_error *err) {
    if (!err) return;
    err->status = NV_OK;
    err->msg[0] = '\0';
}

void *nv_malloc(size_t bytes, nv_error *err) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) nv_fail(err, NV_ENOMEM, "out of memory allocating %zu bytes", bytes);
    return p;
}

void *nv_calloc(size_t count, size_t size, nv_error *err) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) nv_fail(err, NV_ENOMEM, "out of memory allocating %zu x %zu bytes", count, size);
    return p;
}

void *nv_malloc_huge(size_t bytes, nv_error *err) {
    const size_t huge = (size_t)2 << 20;
    if (bytes < huge / 2) return nv_malloc(bytes, err);
    const size_t whole = (bytes + huge - 1) / huge * huge;
    void *p = NULL;
    if (posix_memalign(&p, huge, whole)) return nv_malloc(bytes, err);
    (void)madvise(p, whole, MADV_HUGEPAGE); /* advice only: EINVAL where there is no THP */
    return p;
}

void nv_prefault(void *p, size_t bytes) {
#ifdef MADV_POPULATE_WRITE
    const uintptr_t page = 4096, a = (uintptr_t)p / page * page; /* madvise wants a page boundary */
    if (p && bytes) (void)madvise((void *)a, (uintptr_t)p + bytes - a, MADV_POPULATE_WRITE);
#else
    (void)p;
    (void)bytes;
#endif
}

typedef struct {
    void *p;
    size_t bytes;
} prefault_arg;

static void *prefault_main(void *arg) {
    prefault_arg a = *(prefault_arg *)arg;
    free(arg);
    nv_prefault(a.p, a.bytes);
    return NULL;
}

void nv_prefault_async(void *p, size_t bytes) {
    prefault_arg *a = malloc(sizeof *a);
    if (!a) return;
    a->p = p;
    a->bytes = bytes;
    pthread_attr_t at;
    pthread_t t;
    if (pthread_attr_init(&at)) {
        free(a);
        return;
    }
    /* glibc's default stack size (it only reserves address space): a thread's
     * stack also holds the static TLS of every library, OpenBLAS's alone 60 kB, so
     * the 64 kB once asked for here was refused (EINVAL) and no page was mapped */
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &at, prefault_main, a)) free(a);
    pthread_attr_destroy(&at);
}

void nv_fmt_shortest(char *out, size_t len, double v, int min_digits, int single) {
    if (!len) return;
    if (isnan(v)) {
        snprintf(out, len, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(out, len, "%s", v > 0 ? "inf" : "-inf");
        return;
    }
    for (int p = min_digits < 1 ? 1 : min_digits; p <= 17; p++) {
        snprintf(out, len, "%.*g", p, v);
        const double back = strtod(out, NULL);
        if (single ? (float)back == (float)v : back == v) return;
    }
}

double nv_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int nv_default_threads(void) {
    const char *s = getenv("NERVE_THREADS");
    if (s && *s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (*end == '\0' && v > 0 && v < 4096) return (int)v;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
