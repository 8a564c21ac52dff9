/*
 * pack_pool.c: a fixed set of POSIX threads running the tasks of one call at a time (pack_pool.h).
 */
#include "pack_pool.h"

#include <pthread.h>
#include <stdlib.h>

struct afx_pack_pool {
    int n_workers;
    pthread_t *threads;
    pthread_mutex_t lock;
    pthread_cond_t work, done;
    /* the current call, under lock */
    void (*task)(void *arg, int i);
    void *arg;
    int n_tasks, next, running; /* running: workers inside the current call */
    unsigned generation;
    int stop;
};

/* Claims and runs tasks of the current call until none is left. Called with the lock held; returns with it. */
static void drain_tasks(afx_pack_pool *p) {
    while (p->next < p->n_tasks) {
        int i = p->next++;
        void (*task)(void *, int) = p->task;
        void *arg = p->arg;
        pthread_mutex_unlock(&p->lock);
        task(arg, i);
        pthread_mutex_lock(&p->lock);
    }
}

static void *worker(void *opaque) {
    afx_pack_pool *p = opaque;
    unsigned seen = 0;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stop && p->generation == seen) pthread_cond_wait(&p->work, &p->lock);
        if (p->stop) break;
        seen = p->generation;
        p->running++;
        drain_tasks(p);
        if (--p->running == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

afx_pack_pool *afx_pack_pool_create(int n_threads) {
    afx_pack_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    if (pthread_mutex_init(&p->lock, NULL) != 0) {
        free(p);
        return NULL;
    }
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    int want = n_threads > 1 ? n_threads - 1 : 0;
    p->threads = want ? calloc((size_t)want, sizeof *p->threads) : NULL;
    if (want && !p->threads) {
        afx_pack_pool_free(p);
        return NULL;
    }
    for (int i = 0; i < want; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0) {
            afx_pack_pool_free(p);
            return NULL;
        }
        p->n_workers++;
    }
    return p;
}

void afx_pack_pool_free(afx_pack_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    p->stop = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->n_workers; i++) pthread_join(p->threads[i], NULL);
    free(p->threads);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

int afx_pack_pool_threads(const afx_pack_pool *p) { return p ? p->n_workers + 1 : 1; }

void afx_pack_pool_run(afx_pack_pool *p, int n_tasks, void (*task)(void *arg, int i), void *arg) {
    if (n_tasks <= 0) return;
    if (!p || p->n_workers == 0 || n_tasks == 1) {
        for (int i = 0; i < n_tasks; i++) task(arg, i);
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->task = task;
    p->arg = arg;
    p->n_tasks = n_tasks;
    p->next = 0;
    p->generation++;
    pthread_cond_broadcast(&p->work);
    drain_tasks(p);
    while (p->running > 0) pthread_cond_wait(&p->done, &p->lock);
    p->task = NULL;
    p->n_tasks = 0;
    pthread_mutex_unlock(&p->lock);
}
