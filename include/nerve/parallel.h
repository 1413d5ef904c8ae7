/* parallel.h: the two ways nerve spreads analysis work: over threads of this
 * process (nv_parallel_for), and over tasks of a job array (--task i --tasks N),
 * so one verb scales from a laptop to a Slurm array without a scheduler of ours. */
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

/* Work item k of a list belongs to task `task` of `tasks` (round robin, so
 * every task gets a similar mix of small and large items). */
static inline int nv_task_owns(int64_t k, int task, int tasks) {
    return tasks <= 1 || (k % tasks) == task;
}

#ifdef __cplusplus
}
#endif
#endif
