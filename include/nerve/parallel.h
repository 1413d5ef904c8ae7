/* parallel.h: the ways nerve spreads work: over threads of this process
 * (nv_parallel_for for independent items that may fail, nv_parallel_ranges for
 * rows of a computation), and over tasks of a job array (--task i --tasks N), so
 * one verb scales from a laptop to a Slurm array without a scheduler of ours. Every
 * threaded loop of the library goes through here (the PH engine's reduction keeps
 * its own long-lived pool, which is started once per diagram and reused by every
 * phase of it). */
#ifndef NERVE_PARALLEL_H
#define NERVE_PARALLEL_H

#include "nerve/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Calls fn(i, ctx, err) for every i in [0, n) on `threads` threads (0: the
 * default), handing out indices in increasing order as threads become free. After
 * the first failure no new index starts; that failure's status and message are
 * returned. fn must be safe to call concurrently for different i. */
typedef nv_status (*nv_parallel_fn)(int64_t i, void *ctx, nv_error *err);
nv_status nv_parallel_for(int64_t n, int threads, nv_parallel_fn fn, void *ctx, nv_error *err);

/* Calls fn(ctx, tid, start, end) over ranges [start, end) that cover [0, n), on up
 * to `threads` threads (0: the default; at most NV_PARALLEL_MAX_THREADS). Ranges
 * are handed out in small chunks from an atomic counter, so rows of uneven cost
 * (row i of a lower triangle costs ~i) balance. tid < threads names the worker, for
 * per-thread scratch. The calling thread works too, and a thread that cannot be
 * created leaves its share to the others: fn's results must not depend on which
 * thread runs a range. fn cannot fail: it computes into memory the caller
 * allocated. */
#define NV_PARALLEL_MAX_THREADS 64
typedef void (*nv_range_fn)(void *ctx, int tid, int64_t start, int64_t end);
void nv_parallel_ranges(int64_t n, int threads, nv_range_fn fn, void *ctx);

/* Work item k of a list belongs to task `task` of `tasks` (round robin, so
 * every task gets a similar mix of small and large items). */
static inline int nv_task_owns(int64_t k, int task, int tasks) {
    return tasks <= 1 || (k % tasks) == task;
}

#ifdef __cplusplus
}
#endif
#endif
