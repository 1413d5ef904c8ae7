/* parallel.c: the thread fan-outs of parallel.h. */
#include "nerve/parallel.h"

#include <pthread.h>
#include <stdatomic.h>
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

/* ---- ranges ------------------------------------------------------------------------ */
typedef struct {
    int64_t n, chunk;
    atomic_llong next;
    nv_range_fn fn;
    void *ctx;
} range_job;

typedef struct {
    range_job *job;
    int tid;
} range_arg;

static void *range_worker(void *p) {
    range_arg *a = p;
    range_job *job = a->job;
    for (;;) {
        int64_t start = (int64_t)atomic_fetch_add(&job->next, (long long)job->chunk);
        if (start >= job->n) break;
        int64_t end = NV_MIN(start + job->chunk, job->n);
        job->fn(job->ctx, a->tid, start, end);
    }
    return NULL;
}

void nv_parallel_ranges(int64_t n, int threads, nv_range_fn fn, void *ctx) {
    if (n <= 0) return;
    if (threads <= 0) threads = nv_default_threads();
    if (threads > NV_PARALLEL_MAX_THREADS) threads = NV_PARALLEL_MAX_THREADS;
    if ((int64_t)threads > n) threads = (int)n;
    range_job job = {.n = n, .chunk = NV_MAX((int64_t)1, n / ((int64_t)threads * 16)),
                     .fn = fn, .ctx = ctx};
    atomic_init(&job.next, 0);
    pthread_t tids[NV_PARALLEL_MAX_THREADS];
    range_arg args[NV_PARALLEL_MAX_THREADS];
    int started = 0;
    for (int t = 1; t < threads; t++) {
        args[t] = (range_arg){&job, t};
        if (pthread_create(&tids[t], NULL, range_worker, &args[t]) != 0) break;
        started = t;
    }
    args[0] = (range_arg){&job, 0};
    range_worker(&args[0]);
    for (int t = 1; t <= started; t++) pthread_join(tids[t], NULL);
}
