/*
 * serve.h: the `afx serve` server object shared by the command (serve_cmd.c: options, start-up,
 * signals, drain) and the HTTP layer (http.c: libmicrohttpd, routing, auth, limits).
 */
#ifndef AFX_SERVE_SERVE_H
#define AFX_SERVE_SERVE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "batcher.h"
#include "metrics.h"
#include "models.h"
#include "request.h"

struct MHD_Daemon;

typedef struct serve_server {
    /* --- configuration (read-only once started) --- */
    const char *host;            /**< address to bind (127.0.0.1) */
    int port;                    /**< 0: any free port (bound_port tells which) */
    int http_threads;            /**< libmicrohttpd thread pool */
    int max_connections;
    size_t max_body_bytes;
    double request_timeout_s;    /**< idle connection timeout and longest wait in the queue */
    char **tokens;               /**< bearer tokens (--token-file); n_tokens == 0: no auth */
    int n_tokens;
    serve_limits limits;
    serve_batcher_config batching;
    serve_models models;
    char *presets_json;          /**< body of GET /v1/presets, built once */
    serve_valid_cache *valid;    /**< parameter sets already validated */

    /* --- running state --- */
    serve_metrics *metrics;
    serve_batcher *batcher;
    struct MHD_Daemon *daemon;
    int bound_port;
    atomic_int draining;         /**< 1 after SIGTERM: readiness 503, new work 503 */
    pthread_mutex_t mu;          /**< guards inflight */
    pthread_cond_t idle;         /**< signalled when inflight drops to 0 */
    int inflight;                /**< requests received and not completed */
} serve_server;

/** Starts listening (libmicrohttpd's own threads). 0, or -1 with a message. */
int serve_http_start(serve_server *s, char *err, size_t err_size);
/** Stops accepting connections (the listening socket is closed); open connections go on. */
void serve_http_quiesce(serve_server *s);
/** Closes every connection and stops the HTTP threads. Call once no request is suspended. */
void serve_http_stop(serve_server *s);

/** Builds s->presets_json. 0 or -1. */
int serve_build_presets_json(serve_server *s);

#endif /* AFX_SERVE_SERVE_H */
