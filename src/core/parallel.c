/* parallel.c: a minimal thread pool for independent work items (parallel.h). */
#include "nerve/parallel.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct {
    pthread_mutex_t mu;
    int64_t next, n;
    nv_parallel_fn fn;
    void *ctx;
    nv_status status;
    nv_error err;
} pool;

static void *worker(void *arg) {
    pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        int64_t i = p->status == NV_OK && p->next < p->n ? p->next++ : -1;
        pthread_mutex_unlock(&p->mu);
        if (i < 0) return NULL;
        nv_error e = {0};
        nv_status st = p->fn(i, p->ctx, &e);
        if (st) {
            pthread_mutex_lock(&p->mu);
            if (p->status == NV_OK) {
                p->status = st;
                p->err = e;
            }
            pthread_mutex_unlock(&p->mu);
        }
    }
}

nv_status nv_parallel_for(int64_t n, int threads, nv_parallel_fn fn, void *ctx, nv_error *err) {
    if (threads <= 0) threads = nv_default_threads();
    if (threads > n) threads = (int)(n > 0 ? n : 1);
    pool p = {.next = 0, .n = n, .fn = fn, .ctx = ctx, .status = NV_OK};
    pthread_mutex_init(&p.mu, NULL);
    pthread_t *tid = threads > 1 ? calloc((size_t)threads - 1, sizeof *tid) : NULL;
    int started = 0;
    for (int t = 0; t + 1 < threads && tid; t++)
        if (pthread_create(&tid[t], NULL, worker, &p) == 0) started++;
    worker(&p); /* the calling thread works too */
    for (int t = 0; t < started; t++) pthread_join(tid[t], NULL);
    free(tid);
    pthread_mutex_destroy(&p.mu);
    if (p.status && err && err->status == NV_OK) *err = p.err;
    return p.status;
}
