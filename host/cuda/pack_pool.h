/*
 * pack_pool.h: the host threads of a CUDA plan that copy batches into and out of pinned staging.
 *
 * Copying 256 ten-second clips into pinned memory (82 MB of int16) takes longer on one core than the PCIe
 * upload itself, so the copy is split across a few threads created at plan time (execute creates none).
 * Tasks are claimed in order from a counter; the calling thread works too and the call returns when every
 * task is done. Not thread-safe: one caller at a time (the plan's).
 */
#ifndef AFX_PACK_POOL_H
#define AFX_PACK_POOL_H

typedef struct afx_pack_pool afx_pack_pool;

/* A pool of n_threads in all (the caller counts as one: n_threads - 1 workers are started). NULL when a
 * thread cannot be created; n_threads <= 1 gives a pool that runs everything on the caller. */
afx_pack_pool *afx_pack_pool_create(int n_threads);
void afx_pack_pool_free(afx_pack_pool *pool);
/* Threads of the pool, the caller included (>= 1). */
int afx_pack_pool_threads(const afx_pack_pool *pool);
/* Runs task(arg, i) for every i in [0, n_tasks) and returns when all have finished. */
void afx_pack_pool_run(afx_pack_pool *pool, int n_tasks, void (*task)(void *arg, int i), void *arg);

#endif /* AFX_PACK_POOL_H */
