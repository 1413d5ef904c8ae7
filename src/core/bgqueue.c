/* bgqueue.c: the background job queue of bgqueue.h (pthreads). */
#include "bgqueue.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct job {
    nv_bg_run run;
    nv_bg_free free_job;
    void *data;
    size_t bytes;
    struct job *next;
} job;

struct nv_bgqueue {
    pthread_mutex_t mu;
    pthread_cond_t changed;   /* signalled whenever the queue or its state changes */
    job *head, *tail;
    size_t pending_bytes, max_bytes;
    int busy;                 /* the worker is running a job */
    int closing;
    nv_status status;         /* first failure */
    nv_error err;
    pthread_t thread;
};

static void *worker(void *arg) {
    nv_bgqueue *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->head && !q->closing) pthread_cond_wait(&q->changed, &q->mu);
        if (!q->head) break;
        job *j = q->head;
        q->head = j->next;
        if (!q->head) q->tail = NULL;
        q->busy = 1;
        int failed = q->status != NV_OK;
        pthread_mutex_unlock(&q->mu);
        nv_error e = {0};
        nv_status st = failed ? NV_OK : j->run(j->data, &e);
        if (j->free_job) j->free_job(j->data);
        pthread_mutex_lock(&q->mu);
        if (st && q->status == NV_OK) {
            q->status = st;
            q->err = e;
        }
        q->pending_bytes -= j->bytes;
        q->busy = 0;
        free(j);
        pthread_cond_broadcast(&q->changed);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

nv_status nv_bg_start(size_t max_bytes, nv_bgqueue **out, nv_error *err) {
    nv_bgqueue *q = nv_calloc(1, sizeof *q, err);
    if (!q) return NV_ENOMEM;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->changed, NULL);
    q->max_bytes = max_bytes;
    if (pthread_create(&q->thread, NULL, worker, q) != 0) {
        pthread_mutex_destroy(&q->mu);
        pthread_cond_destroy(&q->changed);
        free(q);
        return nv_fail(err, NV_EIO, "could not start the background writer thread");
    }
    *out = q;
    return NV_OK;
}

static nv_status failure(nv_bgqueue *q, nv_error *err) {
    if (err && err->status == NV_OK) *err = q->err;
    return q->status;
}

nv_status nv_bg_submit(nv_bgqueue *q, nv_bg_run run, nv_bg_free free_job, void *data, size_t bytes,
                       nv_error *err) {
    job *j = malloc(sizeof *j);
    if (!j) {
        if (free_job) free_job(data);
        return nv_fail(err, NV_ENOMEM, "out of memory queueing a write");
    }
    *j = (job){run, free_job, data, bytes, NULL};
    pthread_mutex_lock(&q->mu);
    /* Wait for room, but always accept a job into an empty queue (a job larger than
     * the bound must still be written). */
    while (q->status == NV_OK && q->head && q->pending_bytes + bytes > q->max_bytes)
        pthread_cond_wait(&q->changed, &q->mu);
    if (q->status != NV_OK) {
        nv_status st = failure(q, err);
        pthread_mutex_unlock(&q->mu);
        if (free_job) free_job(data);
        free(j);
        return st;
    }
    if (q->tail) q->tail->next = j;
    else q->head = j;
    q->tail = j;
    q->pending_bytes += bytes;
    pthread_cond_broadcast(&q->changed);
    pthread_mutex_unlock(&q->mu);
    return NV_OK;
}

nv_status nv_bg_drain(nv_bgqueue *q, nv_error *err) {
    pthread_mutex_lock(&q->mu);
    while (q->head || q->busy) pthread_cond_wait(&q->changed, &q->mu);
    nv_status st = q->status ? failure(q, err) : NV_OK;
    pthread_mutex_unlock(&q->mu);
    return st;
}

nv_status nv_bg_stop(nv_bgqueue *q, nv_error *err) {
    if (!q) return NV_OK;
    pthread_mutex_lock(&q->mu);
    q->closing = 1;
    pthread_cond_broadcast(&q->changed);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->thread, NULL);
    nv_status st = q->status ? failure(q, err) : NV_OK;
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->changed);
    free(q);
    return st;
}
