/*
 * metrics.h: the counters of `afx serve` and their Prometheus text exposition (GET /metrics):
 *
 *   afx_requests_total{endpoint, code}            requests answered, by endpoint and HTTP status
 *   afx_request_duration_seconds{endpoint}        latency histogram of features and infer requests
 *   afx_queue_depth, afx_queue_capacity           clips waiting, and the limit beyond which 429 is answered
 *   afx_inflight_requests                         requests received and not yet answered
 *   afx_batch_size                                histogram of clips per plan execution
 *   afx_batches_total, afx_clips_total            plan executions and clips computed
 *   afx_audio_seconds_total                       seconds of audio computed (after decoding)
 *   afx_ready                                     1 while /readyz answers 200
 *
 * All functions are thread-safe (one mutex; updates are a few additions).
 */
#ifndef AFX_SERVE_METRICS_H
#define AFX_SERVE_METRICS_H

#include <stddef.h>

typedef enum serve_endpoint {
    SERVE_EP_FEATURES = 0, /* POST /v1/features */
    SERVE_EP_INFER,        /* POST /v2/models/{name}/infer */
    SERVE_EP_METADATA,     /* GET /v2, /v2/models/..., /v1/presets, repository index */
    SERVE_EP_HEALTH,       /* /healthz, /readyz, /v2/health/... */
    SERVE_EP_METRICS,      /* /metrics */
    SERVE_EP_OTHER,        /* 404, 405 */
    SERVE_EP_COUNT_
} serve_endpoint;

typedef struct serve_metrics serve_metrics;

serve_metrics *serve_metrics_create(void);
void serve_metrics_free(serve_metrics *m);

/** One answered request. */
void serve_metrics_request(serve_metrics *m, serve_endpoint ep, int http_status, double seconds);
/** One plan execution of `clips` clips holding `audio_seconds` of audio. */
void serve_metrics_batch(serve_metrics *m, int clips, double audio_seconds);

/** Gauges read when rendering. */
typedef struct serve_gauges {
    int queue_depth, queue_capacity, inflight, ready, workers, max_batch;
} serve_gauges;

/** Prometheus text format 0.0.4; malloc'd, NULL if out of memory. */
char *serve_metrics_render(serve_metrics *m, const serve_gauges *g);

#endif /* AFX_SERVE_METRICS_H */
