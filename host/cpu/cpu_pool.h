/*
 * cpu_pool.h: the fixed thread pool a CPU plan owns (afx_params.cpu_threads).
 *
 * Created with the plan (the threads start then and sleep between calls), so execution starts no thread
 * and allocates nothing. afx_cpu_pool_run() hands units 0 .. n_units-1 to the calling thread and the
 * pool's threads, dynamically, and returns once every unit is done. Which thread runs a unit is not
 * deterministic, so a task must give the same result whoever runs it: units write disjoint memory, and
 * every reduction across units is combined afterwards in unit order by the caller.
 * In a child process made by fork() after the pool was created, the pool's threads do not exist: calls
 * there run every unit on the calling thread (same results, one core).
 */
#ifndef AFX_CPU_POOL_H
#define AFX_CPU_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "afx.h"

typedef struct afx_cpu_pool afx_cpu_pool;

/** A unit of work; `worker` (0 .. size-1) indexes per-thread scratch, 0 being the calling thread. */
typedef void (*afx_cpu_task)(void *ctx, int worker, int64_t unit);

/** A pool of n_threads (>= 1) workers: the caller plus n_threads - 1 started threads. */
afx_status afx_cpu_pool_create(int n_threads, afx_cpu_pool **out, char *err, size_t err_size);
/** Stops and joins the threads. NULL is a no-op. */
void afx_cpu_pool_free(afx_cpu_pool *pool);
/** Workers, the calling thread included. */
int afx_cpu_pool_size(const afx_cpu_pool *pool);
/** Runs fn(ctx, worker, u) for every u in [0, n_units); inline on the caller when one unit or one worker. */
void afx_cpu_pool_run(afx_cpu_pool *pool, afx_cpu_task fn, void *ctx, int64_t n_units);

/** Online cores (sysconf), at least 1: what cpu_threads = 0 means. */
int afx_cpu_online_cores(void);

#endif /* AFX_CPU_POOL_H */
