/*
 * http.c: the HTTP layer of `afx serve` on libmicrohttpd: routing, bearer-token auth, body limits,
 * multipart form parts, and the hand-off to the batcher.
 *
 * A compute request (POST /v1/features, POST /v2/models/{name}/infer) is read whole (at most
 * --max-body-mb), parsed here, then queued as a job while its connection is suspended
 * (MHD_suspend_connection), so no HTTP thread waits for a worker. The job's finish callback (a
 * worker thread) builds the response body and resumes the connection; libmicrohttpd then calls the
 * handler again, which queues that response. Other requests are answered at once.
 *
 * Endpoints, auth and errors are listed in the README's "Feature service" section.
 */
#define _GNU_SOURCE

#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "response.h"

#if MHD_VERSION < 0x00097002 /* enum MHD_Result appeared in 0.9.71 */
#define MHD_RESULT int
#else
#define MHD_RESULT enum MHD_Result
#endif

/* Largest JSON part 'params' or single form field of a multipart request. */
#define FORM_TEXT_MAX 65536
/* Buffer libmicrohttpd's multipart parser uses. */
#define POST_BUFFER 65536

typedef enum route {
    ROUTE_NONE = 0,
    ROUTE_HEALTHZ, ROUTE_READYZ, ROUTE_METRICS, ROUTE_PRESETS, ROUTE_FEATURES,
    ROUTE_V2_SERVER, ROUTE_V2_LIVE, ROUTE_V2_READY, ROUTE_V2_INDEX,
    ROUTE_V2_MODEL, ROUTE_V2_MODEL_READY, ROUTE_V2_MODEL_CONFIG, ROUTE_V2_INFER
} route;

typedef enum req_state { ST_RECEIVING = 0, ST_QUEUED = 1, ST_DONE = 2 } req_state;

typedef struct request_ctx {
    serve_server *s;
    struct MHD_Connection *conn;
    double t_start;
    route route;
    serve_endpoint ep;
    const serve_model *model;
    /* body */
    unsigned char *body;
    size_t size, cap;
    int over_limit;
    struct MHD_PostProcessor *pp;
    char *form_params;           /* JSON of the 'params' part */
    size_t form_params_len;
    char audio_type[256];        /* Content-Type of the 'audio' part */
    int have_audio_part;
    serve_kv form_kv;            /* other parts: parameters by name */
    size_t form_value_len;       /* bytes of the last form value (appended across chunks) */
    char form_error[SERVE_ERR_MAX];
    /* compute */
    atomic_int state;
    serve_job job;
    serve_infer_request infer;
    serve_format format;
    /* answer */
    int status;
    int answered;                /* a response is queued */
    serve_body resp;
    char frames_header[32], features_header[32], samples_header[32], rate_header[32];
} request_ctx;

/* ---------------------------------------------------------------------------------------------- */
/* Answers                                                                                        */
/* ---------------------------------------------------------------------------------------------- */

static MHD_RESULT queue_body(request_ctx *r, int status, serve_body *body)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(body->size, body->data, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body->data);
        body->data = NULL;
        return MHD_NO;
    }
    body->data = NULL; /* owned by the response now */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, body->content_type);
    if (body->header_length) {
        char v[32];
        snprintf(v, sizeof v, "%zu", body->header_length);
        MHD_add_response_header(resp, "Inference-Header-Content-Length", v);
    }
    if (status == 429 || status == 503) MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (status == 401) MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"afx\"");
    if (status == 405) {
        int post = r->route == ROUTE_FEATURES || r->route == ROUTE_V2_INFER || r->route == ROUTE_V2_INDEX;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, post ? "POST" : "GET, HEAD");
    }
    if (atomic_load(&r->s->draining)) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    if (r->frames_header[0]) {
        MHD_add_response_header(resp, "X-Afx-Frames", r->frames_header);
        MHD_add_response_header(resp, "X-Afx-Features", r->features_header);
        MHD_add_response_header(resp, "X-Afx-Samples", r->samples_header);
        MHD_add_response_header(resp, "X-Afx-Sample-Rate", r->rate_header);
    }
    r->status = status;
    MHD_RESULT ok = MHD_queue_response(r->conn, (unsigned int)status, resp);
    MHD_destroy_response(resp);
    if (ok == MHD_YES) r->answered = 1;
    return ok;
}

static MHD_RESULT answer_error(request_ctx *r, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static MHD_RESULT answer_error(request_ctx *r, int status, const char *fmt, ...)
{
    char msg[SERVE_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    serve_body b;
    serve_body_error(msg, &b);
    return queue_body(r, status, &b);
}

static MHD_RESULT answer_json(request_ctx *r, int status, json_t *value)
{
    serve_body b;
    if (serve_body_from_json(value, &b) != 0) return answer_error(r, 500, "out of memory");
    return queue_body(r, status, &b);
}

static MHD_RESULT answer_text(request_ctx *r, int status, const char *type, const char *text)
{
    serve_body b = {0};
    size_t n = strlen(text);
    b.data = malloc(n + 1);
    if (!b.data) return answer_error(r, 500, "out of memory");
    memcpy(b.data, text, n + 1);
    b.size = n;
    b.content_type = type;
    return queue_body(r, status, &b);
}

/* ---------------------------------------------------------------------------------------------- */
/* Routing                                                                                        */
/* ---------------------------------------------------------------------------------------------- */

/* Matches /v2/models/{name}[/versions/1][/suffix]; copies the name. Returns the route or ROUTE_NONE. */
static route match_model(const char *url, char *name, size_t name_size, int *bad_version)
{
    const char *p = url + strlen("/v2/models/");
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    if (n == 0 || n >= name_size) return ROUTE_NONE;
    memcpy(name, p, n);
    name[n] = '\0';
    const char *rest = slash ? slash : "";
    if (strncmp(rest, "/versions/", 10) == 0) {
        const char *v = rest + 10;
        const char *e = strchr(v, '/');
        size_t vn = e ? (size_t)(e - v) : strlen(v);
        if (!(vn == 1 && v[0] == '1')) *bad_version = 1;
        rest = e ? e : "";
    }
    if (rest[0] == '\0') return ROUTE_V2_MODEL;
    if (strcmp(rest, "/ready") == 0) return ROUTE_V2_MODEL_READY;
    if (strcmp(rest, "/config") == 0) return ROUTE_V2_MODEL_CONFIG;
    if (strcmp(rest, "/infer") == 0) return ROUTE_V2_INFER;
    return ROUTE_NONE;
}

static route find_route(const char *url, char *model, size_t model_size, int *bad_version)
{
    static const struct { const char *path; route r; } exact[] = {
        {"/healthz", ROUTE_HEALTHZ},       {"/readyz", ROUTE_READYZ},        {"/metrics", ROUTE_METRICS},
        {"/v1/presets", ROUTE_PRESETS},    {"/v1/features", ROUTE_FEATURES}, {"/v2", ROUTE_V2_SERVER},
        {"/v2/health/live", ROUTE_V2_LIVE}, {"/v2/health/ready", ROUTE_V2_READY},
        {"/v2/repository/index", ROUTE_V2_INDEX},
    };
    for (size_t i = 0; i < sizeof exact / sizeof *exact; i++)
        if (strcmp(url, exact[i].path) == 0) return exact[i].r;
    if (strncmp(url, "/v2/models/", 11) == 0) return match_model(url, model, model_size, bad_version);
    return ROUTE_NONE;
}

static serve_endpoint endpoint_of(route r)
{
    switch (r) {
    case ROUTE_FEATURES: return SERVE_EP_FEATURES;
    case ROUTE_V2_INFER: return SERVE_EP_INFER;
    case ROUTE_HEALTHZ:
    case ROUTE_READYZ:
    case ROUTE_V2_LIVE:
    case ROUTE_V2_READY: return SERVE_EP_HEALTH;
    case ROUTE_METRICS: return SERVE_EP_METRICS;
    case ROUTE_NONE: return SERVE_EP_OTHER;
    default: return SERVE_EP_METADATA;
    }
}

static int is_post_route(route r) { return r == ROUTE_FEATURES || r == ROUTE_V2_INFER || r == ROUTE_V2_INDEX; }
static int is_health(route r) { return r == ROUTE_HEALTHZ || r == ROUTE_READYZ || r == ROUTE_V2_LIVE || r == ROUTE_V2_READY; }

/* ---------------------------------------------------------------------------------------------- */
/* Auth                                                                                           */
/* ---------------------------------------------------------------------------------------------- */

/* Compares in time independent of where the strings differ (the length is not secret). */
static int same_secret(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    unsigned char diff = (unsigned char)(na != nb);
    for (size_t i = 0; i < na; i++) diff |= (unsigned char)(a[i] ^ b[i % (nb ? nb : 1)]);
    return diff == 0;
}

static int authorized(const serve_server *s, struct MHD_Connection *c)
{
    if (s->n_tokens == 0) return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return 0;
    const char *tok = h + 7;
    while (*tok == ' ') tok++;
    int ok = 0;
    for (int i = 0; i < s->n_tokens; i++) ok |= same_secret(tok, s->tokens[i]);
    return ok;
}

/* ---------------------------------------------------------------------------------------------- */
/* Bodies                                                                                         */
/* ---------------------------------------------------------------------------------------------- */

/* Appends to the body within the limit; past it only counts (the answer will be 413). */
static int append_body(request_ctx *r, const char *data, size_t n)
{
    if (r->over_limit || n > r->s->max_body_bytes - r->size) {
        r->over_limit = 1;
        return 0;
    }
    if (r->size + n > r->cap) {
        size_t cap = r->cap ? r->cap : 65536;
        while (cap < r->size + n) cap *= 2;
        if (cap > r->s->max_body_bytes) cap = r->s->max_body_bytes;
        unsigned char *b = realloc(r->body, cap);
        if (!b) return -1;
        r->body = b;
        r->cap = cap;
    }
    memcpy(r->body + r->size, data, n);
    r->size += n;
    return 0;
}

/* libmicrohttpd's multipart callback: 'audio' (or 'file') -> body, 'params' -> JSON, others -> parameters. */
static MHD_RESULT form_part(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                            const char *content_type, const char *transfer_encoding, const char *data, uint64_t off,
                            size_t size)
{
    (void)kind;
    (void)filename;
    (void)transfer_encoding;
    request_ctx *r = cls;
    if (r->form_error[0]) return MHD_YES;
    if (!key) key = "";
    if (strcmp(key, "audio") == 0 || strcmp(key, "file") == 0) {
        if (off == 0) {
            if (r->have_audio_part) {
                snprintf(r->form_error, sizeof r->form_error, "more than one audio part");
                return MHD_YES;
            }
            r->have_audio_part = 1;
            snprintf(r->audio_type, sizeof r->audio_type, "%s", content_type ? content_type : "");
        }
        if (append_body(r, data, size) != 0) snprintf(r->form_error, sizeof r->form_error, "out of memory");
        return MHD_YES;
    }
    if (strcmp(key, "params") == 0) {
        if (off == 0 && r->form_params) {
            snprintf(r->form_error, sizeof r->form_error, "more than one 'params' part");
            return MHD_YES;
        }
        if (r->form_params_len + size > FORM_TEXT_MAX) {
            snprintf(r->form_error, sizeof r->form_error, "the 'params' part is larger than %d bytes", FORM_TEXT_MAX);
            return MHD_YES;
        }
        char *p = realloc(r->form_params, r->form_params_len + size + 1);
        if (!p) {
            snprintf(r->form_error, sizeof r->form_error, "out of memory");
            return MHD_YES;
        }
        memcpy(p + r->form_params_len, data, size);
        r->form_params = p;
        r->form_params_len += size;
        p[r->form_params_len] = '\0';
        return MHD_YES;
    }
    /* a parameter as its own form field (curl -F n_mels=64) */
    if (off == 0) {
        char err[SERVE_ERR_MAX];
        if (serve_kv_add(&r->form_kv, key, "", err, sizeof err) != 0) {
            snprintf(r->form_error, sizeof r->form_error, "%s", err);
            return MHD_YES;
        }
        r->form_value_len = 0;
    }
    if (r->form_kv.n == 0 || strcmp(r->form_kv.keys[r->form_kv.n - 1], key) != 0 || r->form_value_len + size > 255) {
        snprintf(r->form_error, sizeof r->form_error, "form field \"%.64s\" is longer than 255 bytes", key);
        return MHD_YES;
    }
    char **v = &r->form_kv.values[r->form_kv.n - 1];
    char *nv = realloc(*v, r->form_value_len + size + 1);
    if (!nv) {
        snprintf(r->form_error, sizeof r->form_error, "out of memory");
        return MHD_YES;
    }
    memcpy(nv + r->form_value_len, data, size);
    r->form_value_len += size;
    nv[r->form_value_len] = '\0';
    *v = nv;
    return MHD_YES;
}

/* ---------------------------------------------------------------------------------------------- */
/* Jobs                                                                                           */
/* ---------------------------------------------------------------------------------------------- */

/* The job's finish callback (a worker thread): builds the answer and resumes the connection. */
static void job_finished(serve_job *job)
{
    request_ctx *r = job->owner;
    char err[SERVE_ERR_MAX];
    int status = job->http_status;
    if (status == 0) {
        int st;
        if (r->route == ROUTE_V2_INFER) {
            st = serve_body_infer(job, r->model->name, &r->infer, &r->resp, err, sizeof err);
        } else {
            snprintf(r->frames_header, sizeof r->frames_header, "%" PRId64, job->n_frames[0]);
            snprintf(r->features_header, sizeof r->features_header, "%d", job->n_features);
            snprintf(r->samples_header, sizeof r->samples_header, "%" PRId64, job->n_samples[0]);
            snprintf(r->rate_header, sizeof r->rate_header, "%d", job->params.sample_rate);
            st = r->format == SERVE_FORMAT_JSON ? serve_body_json(job, &r->resp, err, sizeof err)
                                                : serve_body_npy(job, &r->resp, err, sizeof err);
        }
        if (st != 0) {
            status = st;
            serve_body_error(err, &r->resp);
        } else {
            status = 200;
        }
    } else {
        serve_body_error(job->error, &r->resp);
    }
    free(job->out);
    free(job->n_frames);
    free(job->n_samples);
    job->out = NULL;
    job->n_frames = job->n_samples = NULL;
    r->status = status;
    atomic_store(&r->state, ST_DONE);
    MHD_resume_connection(r->conn);
}

/* Suspends the connection and queues the job; on refusal answers at once. */
static MHD_RESULT submit(request_ctx *r)
{
    if (!r->job.key) r->job.key = serve_params_key(&r->job.params);
    if (!r->job.key) return answer_error(r, 503, "out of memory");
    r->job.finish = job_finished;
    r->job.owner = r;
    atomic_store(&r->state, ST_QUEUED);
    MHD_suspend_connection(r->conn);
    int st = serve_batcher_submit(r->s->batcher, &r->job);
    if (st != 0) {
        serve_body_error(st == 429 ? "the queue is full (afx serve --max-queue); retry after a short wait"
                                   : "the server is shutting down; retry on another instance",
                         &r->resp);
        r->status = st;
        atomic_store(&r->state, ST_DONE);
        MHD_resume_connection(r->conn);
    }
    return MHD_YES;
}

/* Query arguments (decoded by libmicrohttpd) -> a serve_kv. */
typedef struct arg_collector {
    serve_kv *kv;
    int st;
    char err[SERVE_ERR_MAX];
} arg_collector;

static MHD_RESULT collect_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    arg_collector *acc = cls;
    if (acc->st) return MHD_NO;
    acc->st = serve_kv_add(acc->kv, key, value, acc->err, sizeof acc->err);
    return acc->st ? MHD_NO : MHD_YES;
}

/* POST /v1/features, once the body is read. */
static MHD_RESULT start_features(request_ctx *r)
{
    serve_server *s = r->s;
    char err[SERVE_ERR_MAX];
    serve_kv kv = {0};
    const char *ctype = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    int multipart = r->pp != NULL;
    if (multipart && r->form_error[0]) return answer_error(r, 400, "multipart body: %s", r->form_error);
    if (multipart && !r->have_audio_part) return answer_error(r, 400, "multipart body has no 'audio' part");

    /* parameters: query string, then the 'params' JSON part and single form fields */
    arg_collector acc = {&kv, 0, ""};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, collect_arg, &acc);
    int st = acc.st;
    if (st) snprintf(err, sizeof err, "%s", acc.err);
    if (st == 0 && r->form_params) st = serve_kv_add_json(&kv, r->form_params, r->form_params_len, "the 'params' part", err, sizeof err);
    for (size_t i = 0; st == 0 && i < r->form_kv.n; i++) st = serve_kv_add(&kv, r->form_kv.keys[i], r->form_kv.values[i], err, sizeof err);
    serve_request_opts opts;
    if (st == 0) st = serve_request_params(&s->models, &kv, &s->limits, s->valid, &opts, err, sizeof err);
    int format_given = 0;
    for (size_t i = 0; i < kv.n; i++) format_given |= strcmp(kv.keys[i], "format") == 0;
    serve_kv_free(&kv);
    if (st) return answer_error(r, st, "%s", err);
    r->format = opts.format;
    if (!format_given) {
        const char *accept = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
        if (accept && strstr(accept, "application/json") && !strstr(accept, "application/x-npy")) r->format = SERVE_FORMAT_JSON;
    }
    r->job.key = opts.key; /* owned by the request from here on */
    if (r->format == SERVE_FORMAT_NPY && opts.params.output_dtype == AFX_DTYPE_BF16)
        return answer_error(r, 400, "output_dtype=bf16 has no .npy type: ask for format=json, or use the v2 infer API (BF16)");

    serve_media media;
    st = serve_parse_media_type(multipart ? r->audio_type : ctype, &media, err, sizeof err);
    if (st) return answer_error(r, st, "%s", err);
    if (r->size == 0) return answer_error(r, 400, "the request has no audio (empty body)");

    r->job.params = opts.params;
    r->job.first_clip_index = opts.first_clip_index;
    r->job.n_clips = 1;
    r->job.input = SERVE_INPUT_BYTES;
    r->job.bytes = r->body;
    r->job.n_bytes = r->size;
    r->job.media = media;
    return submit(r);
}

/* POST /v2/models/{name}/infer, once the body is read. */
static MHD_RESULT start_infer(request_ctx *r)
{
    char err[SERVE_ERR_MAX];
    const char *enc = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_ENCODING);
    if (enc && strcasecmp(enc, "identity") != 0)
        return answer_error(r, 415, "Content-Encoding \"%.32s\" is not supported: send the request uncompressed", enc);
    const char *hl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Inference-Header-Content-Length");
    int st = serve_parse_infer(r->body, r->size, hl, r->s->limits.max_batch, &r->infer, err, sizeof err);
    if (st) return answer_error(r, st, "%s", err);
    r->job.params = r->model->params;
    r->job.first_clip_index = r->infer.first_clip_index;
    r->job.n_clips = r->infer.n_clips;
    r->job.input = SERVE_INPUT_FLOAT;
    r->job.samples = r->infer.samples;
    r->job.lengths = r->infer.lengths;
    r->job.stride = r->infer.clip_stride;
    r->job.in_rate = r->infer.sample_rate;
    return submit(r);
}

/* ---------------------------------------------------------------------------------------------- */
/* Immediate answers                                                                              */
/* ---------------------------------------------------------------------------------------------- */

static MHD_RESULT answer_metadata(request_ctx *r)
{
    serve_server *s = r->s;
    int ready = !atomic_load(&s->draining);
    switch (r->route) {
    case ROUTE_HEALTHZ: return answer_json(r, 200, json_pack("{s:s}", "status", "live"));
    case ROUTE_READYZ: return answer_json(r, ready ? 200 : 503, json_pack("{s:s}", "status", ready ? "ready" : "draining"));
    case ROUTE_V2_LIVE: return answer_json(r, 200, json_pack("{s:b}", "live", 1));
    case ROUTE_V2_READY: return answer_json(r, ready ? 200 : 503, json_pack("{s:b}", "ready", ready));
    case ROUTE_METRICS: {
        pthread_mutex_lock(&s->mu);
        int inflight = s->inflight;
        pthread_mutex_unlock(&s->mu);
        serve_gauges g = {serve_batcher_queued(s->batcher), s->batching.max_queue_clips, inflight, ready,
                          s->batching.n_workers, s->batching.max_batch};
        char *text = serve_metrics_render(s->metrics, &g);
        if (!text) return answer_error(r, 500, "out of memory");
        serve_body b = {(unsigned char *)text, strlen(text), "text/plain; version=0.0.4; charset=utf-8", 0};
        return queue_body(r, 200, &b);
    }
    case ROUTE_PRESETS: return answer_text(r, 200, "application/json", s->presets_json);
    case ROUTE_V2_SERVER:
        return answer_json(r, 200, json_pack("{s:s,s:s,s:[s,s]}", "name", "afx", "version", afx_version_string(), "extensions",
                                             "binary_tensor_data", "model_repository"));
    case ROUTE_V2_INDEX: {
        json_t *a = json_array();
        for (int i = 0; a && i < s->models.n; i++)
            json_array_append_new(a, json_pack("{s:s,s:s,s:s}", "name", s->models.items[i].name, "version", "1", "state", "READY"));
        return answer_json(r, 200, a);
    }
    case ROUTE_V2_MODEL: return answer_json(r, 200, serve_model_metadata(r->model, s->limits.max_batch));
    case ROUTE_V2_MODEL_READY: return answer_json(r, ready ? 200 : 503, json_pack("{s:s,s:b}", "name", r->model->name, "ready", ready));
    case ROUTE_V2_MODEL_CONFIG:
        return answer_json(r, 200, serve_model_config(r->model, s->limits.max_batch, s->batching.max_queue_delay_us));
    default: break;
    }
    return answer_error(r, 404, "not found");
}

/* ---------------------------------------------------------------------------------------------- */
/* libmicrohttpd callbacks                                                                        */
/* ---------------------------------------------------------------------------------------------- */

/* First call for a request: route, auth, limits. Returns MHD_YES after queueing an answer or to read the body. */
static MHD_RESULT first_call(request_ctx *r, const char *url, const char *method)
{
    serve_server *s = r->s;
    char model[SERVE_MODEL_NAME_MAX + 2] = "";
    int bad_version = 0;
    r->route = find_route(url, model, sizeof model, &bad_version);
    r->ep = endpoint_of(r->route);
    int get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    int post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;

    if (r->route == ROUTE_NONE)
        return answer_error(r, 404, "no endpoint %.200s (see GET /v1/presets, /v2, /v2/repository/index)", url);
    if (!is_health(r->route) && !authorized(s, r->conn))
        return answer_error(r, 401, "missing or wrong bearer token (Authorization: Bearer TOKEN)");
    if ((is_post_route(r->route) && !post) || (!is_post_route(r->route) && !get))
        return answer_error(r, 405, "%.16s is not allowed on %.200s", method, url);
    if (r->route >= ROUTE_V2_MODEL) {
        r->model = bad_version ? NULL : serve_models_find(&s->models, model);
        if (!r->model)
            return answer_error(r, 404, "model \"%.64s\"%s is not served (POST /v2/repository/index lists them)", model,
                                bad_version ? " with that version (only version 1 exists)" : "");
    }
    if (!is_post_route(r->route) || r->route == ROUTE_V2_INDEX) return MHD_YES; /* answered on the last call */
    if (atomic_load(&s->draining)) return answer_error(r, 503, "the server is shutting down; retry on another instance");

    const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char err[SERVE_ERR_MAX];
        size_t n = 0;
        if (serve_parse_size_header(cl, SIZE_MAX, &n, "Content-Length", err, sizeof err) != 0)
            return answer_error(r, 400, "%s", err);
        if (n > s->max_body_bytes)
            return answer_error(r, 413, "the body has %zu bytes; this server takes at most %zu (afx serve --max-body-mb)", n,
                                s->max_body_bytes);
        if (n > 0 && !(r->body = malloc(n))) return answer_error(r, 503, "out of memory for a body of %zu bytes", n);
        r->cap = n;
    }
    const char *ctype = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (r->route == ROUTE_FEATURES && ctype && strncasecmp(ctype, "multipart/form-data", 19) == 0) {
        r->pp = MHD_create_post_processor(r->conn, POST_BUFFER, form_part, r);
        if (!r->pp) return answer_error(r, 400, "multipart/form-data without a usable boundary");
    }
    return MHD_YES;
}

static MHD_RESULT on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                             const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    (void)version;
    serve_server *s = cls;
    request_ctx *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        r->s = s;
        r->conn = conn;
        r->t_start = serve_now();
        *con_cls = r;
        pthread_mutex_lock(&s->mu);
        s->inflight++;
        pthread_mutex_unlock(&s->mu);
        return first_call(r, url, method);
    }
    if (r->answered) { /* answered at the first call; discard what the client still sends */
        *upload_data_size = 0;
        return MHD_YES;
    }
    int state = atomic_load(&r->state);
    if (state == ST_DONE) {
        serve_body b = r->resp;
        r->resp.data = NULL;
        return queue_body(r, r->status, &b);
    }
    if (state == ST_QUEUED) return MHD_YES; /* cannot happen while suspended; harmless */
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->pp) {
            if (MHD_post_process(r->pp, upload_data, n) != MHD_YES && !r->form_error[0])
                snprintf(r->form_error, sizeof r->form_error, "malformed multipart/form-data");
            return MHD_YES;
        }
        if (append_body(r, upload_data, n) != 0)
            snprintf(r->form_error, sizeof r->form_error, "out of memory for the body");
        return MHD_YES;
    }
    /* the whole request is here */
    if (r->over_limit)
        return answer_error(r, 413, "the body is larger than %zu bytes (afx serve --max-body-mb)", s->max_body_bytes);
    if (!r->pp && r->form_error[0]) return answer_error(r, 503, "%s", r->form_error);
    if (r->route == ROUTE_FEATURES) return start_features(r);
    if (r->route == ROUTE_V2_INFER) return start_infer(r);
    return answer_metadata(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    serve_server *s = cls;
    request_ctx *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    serve_metrics_request(s->metrics, r->ep, r->status ? r->status : 499, serve_now() - r->t_start);
    if (r->pp) MHD_destroy_post_processor(r->pp);
    free(r->body);
    free(r->form_params);
    serve_kv_free(&r->form_kv);
    free(r->job.key);
    free(r->resp.data);
    serve_infer_request_free(&r->infer);
    free(r);
    pthread_mutex_lock(&s->mu);
    if (--s->inflight == 0) pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->mu);
}

/* ---------------------------------------------------------------------------------------------- */
/* Start and stop                                                                                 */
/* ---------------------------------------------------------------------------------------------- */

int serve_http_start(serve_server *s, char *err, size_t err_size)
{
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char port[16];
    snprintf(port, sizeof port, "%d", s->port);
    int rc = getaddrinfo(s->host, port, &hints, &ai);
    if (rc != 0) {
        snprintf(err, err_size, "--host %s: %s", s->host, gai_strerror(rc));
        return -1;
    }
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_AUTO;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
                                 MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                                 MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)s->http_threads,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned int)s->max_connections,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)(s->request_timeout_s + 0.5),
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                 MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1,
                                 MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!s->daemon) {
        snprintf(err, err_size, "cannot listen on %s port %d (in use, or not an address of this machine?)", s->host, s->port);
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_LISTEN_FD);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    s->bound_port = s->port;
    if (info && getsockname(info->listen_fd, (struct sockaddr *)&ss, &len) == 0)
        s->bound_port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                                 : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return 0;
}

void serve_http_quiesce(serve_server *s)
{
    if (!s->daemon) return;
    MHD_socket fd = MHD_quiesce_daemon(s->daemon);
    if (fd != MHD_INVALID_SOCKET) close(fd);
}

void serve_http_stop(serve_server *s)
{
    if (s->daemon) MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
}

int serve_build_presets_json(serve_server *s)
{
    char aerr[AFX_ERROR_MAX];
    json_t *presets = json_object();
    for (int p = 0; presets && afx_enum_name(AFX_ENUM_PRESET, p); p++) {
        json_t *features = json_object();
        for (int f = 0; features && afx_enum_name(AFX_ENUM_FEATURE, f); f++) {
            afx_params prm;
            if (afx_params_preset(&prm, (afx_preset)p, (afx_feature)f, aerr, sizeof aerr) == AFX_OK)
                json_object_set_new(features, afx_enum_name(AFX_ENUM_FEATURE, f), serve_params_json(&prm));
        }
        json_object_set_new(presets, afx_enum_name(AFX_ENUM_PRESET, p), features);
    }
    afx_params def;
    afx_params_init(&def);
    json_t *defaults = serve_params_json(&def);
    static const char *const server_fields[] = {"backend", "cuda_device", "cpu_threads", "max_batch", "max_samples"};
    for (size_t i = 0; defaults && i < sizeof server_fields / sizeof *server_fields; i++) json_object_del(defaults, server_fields[i]);
    json_t *models = json_array();
    for (int i = 0; models && i < s->models.n; i++) json_array_append_new(models, json_string(s->models.items[i].name));
    json_t *root = json_pack("{s:o,s:o,s:o,s:{s:s,s:i,s:f,s:I,s:i}}", "presets", presets, "parameters", defaults, "models",
                             models, "server", "backend", afx_backend_name(s->limits.backend), "max_batch",
                             s->limits.max_batch, "max_clip_seconds", s->limits.max_clip_seconds, "max_body_bytes",
                             (json_int_t)s->max_body_bytes, "workers", s->batching.n_workers);
    if (!root) return -1;
    s->presets_json = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(root);
    return s->presets_json ? 0 : -1;
}
