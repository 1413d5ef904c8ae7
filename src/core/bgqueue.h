/* bgqueue.h: a single background worker that runs jobs in submission order.
 *
 * Why: writing snapshots (compression + HDF5 I/O) on the training thread would
 * cost as much as training the spheres nets itself. The training thread copies
 * what must be written into a job and goes on; the worker writes. One worker and
 * FIFO order keep the crash-safety argument simple: files land in the order they
 * would have been written synchronously, so whatever a kill leaves on disk is a
 * prefix of that order, and every job is itself atomic (temporary file + rename).
 * HDF5 (not built thread-safe on Debian) is only ever called by one thread at a
 * time: callers drain the queue before touching HDF5 themselves.
 */
#ifndef NERVE_BGQUEUE_H
#define NERVE_BGQUEUE_H

#include <stddef.h>

#include "nerve/common.h"

typedef struct nv_bgqueue nv_bgqueue;
typedef nv_status (*nv_bg_run)(void *job, nv_error *err);
typedef void (*nv_bg_free)(void *job);

/* Starts the worker. At most `max_bytes` of submitted jobs wait at once (submit
 * blocks beyond that), which bounds memory. */
nv_status nv_bg_start(size_t max_bytes, nv_bgqueue **out, nv_error *err);

/* Queues job (ownership passes to the queue: free_job is called after it ran, or
 * immediately if the queue has failed). Returns the first failure of an earlier
 * job, if any, in which case nothing more runs. */
nv_status nv_bg_submit(nv_bgqueue *q, nv_bg_run run, nv_bg_free free_job, void *job, size_t bytes,
                       nv_error *err);

/* Waits until every queued job has run; returns the first failure, if any. */
nv_status nv_bg_drain(nv_bgqueue *q, nv_error *err);

/* Drains, stops and frees the worker; returns the first failure. Accepts NULL. */
nv_status nv_bg_stop(nv_bgqueue *q, nv_error *err);

#endif
