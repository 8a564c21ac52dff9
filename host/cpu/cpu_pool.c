/*
 * cpu_pool.c: see cpu_pool.h. POSIX threads; one mutex and two condition variables per pool. A call
 * publishes (fn, ctx, n_units) under a new generation number, wakes the workers, takes units itself from
 * an atomic counter, and waits until every worker has left the generation.
 */
#define _POSIX_C_SOURCE 200809L
#include "cpu_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

struct afx_cpu_pool {
    int n_threads;               /* workers including the caller */
    pid_t owner;                 /* process that started the threads (see afx_cpu_pool_run) */
    pthread_t *threads;          /* [n_threads - 1] */
    int started;                 /* threads actually started */
    pthread_mutex_t lock;
    pthread_cond_t wake;         /* a new generation, or stop */
    pthread_cond_t idle;         /* the last busy worker left the generation */
    uint64_t generation;
    int busy;                    /* workers still in the current generation */
    int stop;
    afx_cpu_task fn;
    void *ctx;
    int64_t n_units;
    atomic_llong next;           /* next unit to hand out */
};

typedef struct worker_arg {
    afx_cpu_pool *pool;
    int index;
} worker_arg;

static void take_units(afx_cpu_pool *pool, int worker) {
    for (;;) {
        int64_t u = (int64_t)atomic_fetch_add_explicit(&pool->next, 1, memory_order_relaxed);
        if (u >= pool->n_units) return;
        pool->fn(pool->ctx, worker, u);
    }
}

static void *worker_main(void *p) {
    worker_arg *arg = p;
    afx_cpu_pool *pool = arg->pool;
    int index = arg->index;
    free(arg);
    uint64_t seen = 0;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (!pool->stop && pool->generation == seen) pthread_cond_wait(&pool->wake, &pool->lock);
        if (pool->stop) break;
        seen = pool->generation;
        pthread_mutex_unlock(&pool->lock);
        take_units(pool, index);
        pthread_mutex_lock(&pool->lock);
        if (--pool->busy == 0) pthread_cond_signal(&pool->idle);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

int afx_cpu_online_cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 1 ? (n > 1024 ? 1024 : (int)n) : 1;
}

afx_status afx_cpu_pool_create(int n_threads, afx_cpu_pool **out, char *err, size_t err_size) {
    *out = NULL;
    if (n_threads < 1) n_threads = 1;
    afx_cpu_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return afx_fail(err, err_size, AFX_ERR_OUT_OF_MEMORY, "cannot allocate a thread pool");
    pool->n_threads = n_threads;
    pool->owner = getpid();
    atomic_init(&pool->next, 0);
    if (pthread_mutex_init(&pool->lock, NULL) != 0) {
        free(pool);
        return afx_fail(err, err_size, AFX_ERR_INTERNAL, "cannot initialize the thread pool's mutex");
    }
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->idle, NULL);
    if (n_threads > 1) {
        pool->threads = calloc((size_t)n_threads - 1, sizeof(pthread_t));
        if (!pool->threads) {
            afx_cpu_pool_free(pool);
            return afx_fail(err, err_size, AFX_ERR_OUT_OF_MEMORY, "cannot allocate %d thread handles", n_threads);
        }
    }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *arg = malloc(sizeof *arg);
        int rc = arg ? 0 : -1;
        if (arg) {
            arg->pool = pool;
            arg->index = i;
            rc = pthread_create(&pool->threads[i - 1], NULL, worker_main, arg);
            if (rc != 0) free(arg);
        }
        if (rc != 0) {
            afx_cpu_pool_free(pool);
            return afx_fail(err, err_size, AFX_ERR_OUT_OF_MEMORY,
                            "cpu_threads=%d: could not start thread %d (system thread limit?)", n_threads, i);
        }
        pool->started++;
    }
    *out = pool;
    return AFX_OK;
}

void afx_cpu_pool_free(afx_cpu_pool *pool) {
    if (!pool) return;
    if (pool->owner != getpid()) {  /* a forked child: the threads are the parent's; leave them alone */
        free(pool->threads);
        free(pool);
        return;
    }
    pthread_mutex_lock(&pool->lock);
    pool->stop = 1;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < pool->started; i++) pthread_join(pool->threads[i], NULL);
    pthread_cond_destroy(&pool->wake);
    pthread_cond_destroy(&pool->idle);
    pthread_mutex_destroy(&pool->lock);
    free(pool->threads);
    free(pool);
}

int afx_cpu_pool_size(const afx_cpu_pool *pool) { return pool ? pool->n_threads : 1; }

void afx_cpu_pool_run(afx_cpu_pool *pool, afx_cpu_task fn, void *ctx, int64_t n_units) {
    if (n_units <= 0) return;
    /* After fork() only the forking thread exists in the child (e.g. a data-loader worker forked from a
     * process that made the plan): the pool's threads are gone, so the child runs every unit itself. */
    if (!pool || pool->started == 0 || n_units == 1 || pool->owner != getpid()) {
        for (int64_t u = 0; u < n_units; u++) fn(ctx, 0, u);
        return;
    }
    pthread_mutex_lock(&pool->lock);
    pool->fn = fn;
    pool->ctx = ctx;
    pool->n_units = n_units;
    atomic_store_explicit(&pool->next, 0, memory_order_relaxed);
    pool->busy = pool->started;
    pool->generation++;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    take_units(pool, 0);
    pthread_mutex_lock(&pool->lock);
    while (pool->busy > 0) pthread_cond_wait(&pool->idle, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
}
