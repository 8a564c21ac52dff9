/*
 * metrics.c: counters and the Prometheus text exposition (metrics.h). Format: "Exposition formats",
 * text-based format 0.0.4 (prometheus.io/docs/instrumenting/exposition_formats): histograms as
 * cumulative _bucket{le=...} series ending with le="+Inf", then _sum and _count.
 */
#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_CODES 600
/* Latency buckets in seconds: 1 ms .. 30 s. */
static const double LATENCY_LE[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
#define N_LATENCY (sizeof LATENCY_LE / sizeof LATENCY_LE[0])
/* Batch size buckets: powers of two up to 65536 (afx's max_batch). */
#define N_BATCH 17

static const char *const EP_NAME[SERVE_EP_COUNT_] = {"features", "infer", "metadata", "health", "metrics", "other"};

struct serve_metrics {
    pthread_mutex_t mu;
    uint64_t requests[SERVE_EP_COUNT_][N_CODES];
    uint64_t latency[2][N_LATENCY + 1]; /* features, infer; last = +Inf */
    double latency_sum[2];
    uint64_t batch[N_BATCH + 1];
    double batch_sum;
    uint64_t batches, clips;
    double audio_seconds;
};

serve_metrics *serve_metrics_create(void)
{
    serve_metrics *m = calloc(1, sizeof *m);
    if (m && pthread_mutex_init(&m->mu, NULL) != 0) {
        free(m);
        return NULL;
    }
    return m;
}

void serve_metrics_free(serve_metrics *m)
{
    if (!m) return;
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void serve_metrics_request(serve_metrics *m, serve_endpoint ep, int code, double seconds)
{
    if (!m || ep < 0 || ep >= SERVE_EP_COUNT_) return;
    if (code < 0 || code >= N_CODES) code = 0;
    pthread_mutex_lock(&m->mu);
    m->requests[ep][code]++;
    if (ep == SERVE_EP_FEATURES || ep == SERVE_EP_INFER) {
        int h = ep == SERVE_EP_INFER;
        size_t i = 0;
        while (i < N_LATENCY && seconds > LATENCY_LE[i]) i++;
        m->latency[h][i]++;
        m->latency_sum[h] += seconds;
    }
    pthread_mutex_unlock(&m->mu);
}

void serve_metrics_batch(serve_metrics *m, int clips, double audio_seconds)
{
    if (!m) return;
    pthread_mutex_lock(&m->mu);
    size_t i = 0;
    while (i < N_BATCH && clips > (1 << i)) i++;
    m->batch[i]++;
    m->batch_sum += clips;
    m->batches++;
    m->clips += (uint64_t)clips;
    m->audio_seconds += audio_seconds;
    pthread_mutex_unlock(&m->mu);
}

/* A growing text buffer. */
typedef struct text {
    char *s;
    size_t len, cap;
    int failed;
} text;

static void put(text *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void put(text *t, const char *fmt, ...)
{
    if (t->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = 1;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = 2 * t->cap + (size_t)n;
        char *s = realloc(t->s, cap);
        if (!s) {
            t->failed = 1;
            return;
        }
        t->s = s;
        t->cap = cap;
    }
}

char *serve_metrics_render(serve_metrics *m, const serve_gauges *g)
{
    serve_metrics c; /* a consistent copy, rendered without the lock */
    pthread_mutex_lock(&m->mu);
    memcpy(&c, m, sizeof c);
    pthread_mutex_unlock(&m->mu);

    text t = {malloc(16384), 0, 16384, 0};
    if (!t.s) return NULL;
    t.s[0] = '\0';
    put(&t, "# HELP afx_requests_total HTTP requests answered, by endpoint and status code.\n"
            "# TYPE afx_requests_total counter\n");
    for (int e = 0; e < SERVE_EP_COUNT_; e++)
        for (int code = 0; code < N_CODES; code++)
            if (c.requests[e][code])
                put(&t, "afx_requests_total{endpoint=\"%s\",code=\"%d\"} %llu\n", EP_NAME[e], code,
                    (unsigned long long)c.requests[e][code]);
    put(&t, "# HELP afx_request_duration_seconds Time from the request's arrival to its answer.\n"
            "# TYPE afx_request_duration_seconds histogram\n");
    for (int h = 0; h < 2; h++) {
        const char *ep = h ? "infer" : "features";
        uint64_t cum = 0;
        for (size_t i = 0; i <= N_LATENCY; i++) {
            cum += c.latency[h][i];
            if (i < N_LATENCY)
                put(&t, "afx_request_duration_seconds_bucket{endpoint=\"%s\",le=\"%g\"} %llu\n", ep, LATENCY_LE[i],
                    (unsigned long long)cum);
            else
                put(&t, "afx_request_duration_seconds_bucket{endpoint=\"%s\",le=\"+Inf\"} %llu\n", ep,
                    (unsigned long long)cum);
        }
        put(&t, "afx_request_duration_seconds_sum{endpoint=\"%s\"} %.9g\n", ep, c.latency_sum[h]);
        put(&t, "afx_request_duration_seconds_count{endpoint=\"%s\"} %llu\n", ep, (unsigned long long)cum);
    }
    put(&t, "# HELP afx_batch_size Clips per plan execution.\n# TYPE afx_batch_size histogram\n");
    uint64_t cum = 0;
    for (int i = 0; i <= N_BATCH; i++) {
        cum += c.batch[i];
        if (i < N_BATCH) put(&t, "afx_batch_size_bucket{le=\"%d\"} %llu\n", 1 << i, (unsigned long long)cum);
        else put(&t, "afx_batch_size_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    }
    put(&t, "afx_batch_size_sum %.0f\nafx_batch_size_count %llu\n", c.batch_sum, (unsigned long long)cum);
    put(&t, "# HELP afx_batches_total Plan executions.\n# TYPE afx_batches_total counter\nafx_batches_total %llu\n",
        (unsigned long long)c.batches);
    put(&t, "# HELP afx_clips_total Clips computed.\n# TYPE afx_clips_total counter\nafx_clips_total %llu\n",
        (unsigned long long)c.clips);
    put(&t, "# HELP afx_audio_seconds_total Seconds of audio computed.\n# TYPE afx_audio_seconds_total counter\n"
            "afx_audio_seconds_total %.6f\n", c.audio_seconds);
    put(&t, "# HELP afx_queue_depth Clips waiting for a worker.\n# TYPE afx_queue_depth gauge\nafx_queue_depth %d\n",
        g->queue_depth);
    put(&t, "# HELP afx_queue_capacity Queued clips beyond which requests get 429.\n# TYPE afx_queue_capacity gauge\n"
            "afx_queue_capacity %d\n", g->queue_capacity);
    put(&t, "# HELP afx_inflight_requests Requests received and not yet answered.\n# TYPE afx_inflight_requests gauge\n"
            "afx_inflight_requests %d\n", g->inflight);
    put(&t, "# HELP afx_workers Worker threads (one plan set each).\n# TYPE afx_workers gauge\nafx_workers %d\n", g->workers);
    put(&t, "# HELP afx_max_batch Clips per batch at most.\n# TYPE afx_max_batch gauge\nafx_max_batch %d\n", g->max_batch);
    put(&t, "# HELP afx_ready 1 while the server accepts work (readyz answers 200).\n# TYPE afx_ready gauge\n"
            "afx_ready %d\n", g->ready);
    if (t.failed) {
        free(t.s);
        return NULL;
    }
    return t.s;
}
