/*
 * request.h: the request parsers of `afx serve`, as pure functions of bytes and strings (no HTTP
 * library, no I/O, no global state), so that tests/fuzz/fuzz_serve_request.c can call them directly.
 *
 *   - serve_parse_media_type: a Content-Type header -> encoded file, or raw PCM (format, rate, channels)
 *   - serve_kv_* / serve_kv_add_json: parameters from the query string and from a JSON object
 *   - serve_request_params: those parameters -> validated afx_params, output format, first clip index
 *   - serve_parse_infer: an Open Inference Protocol (KServe v2) infer request, JSON tensors or the binary
 *     tensor data extension, -> float32 clips
 *
 * Every function that can fail returns an HTTP status (400, 413, 415, ...) and writes a one-line message
 * naming the offending input into `err`; 0 means success. Ownership is stated per function; every *_free
 * takes NULL. All functions are thread-safe (they touch only their arguments).
 */
#ifndef AFX_SERVE_REQUEST_H
#define AFX_SERVE_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "afx.h"

/** Formats a message into err (NULL or size 0: nothing) and returns `status`: every parser's error path. */
int serve_fail(char *err, size_t err_size, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

struct serve_models;

/** Size of the message buffers the server passes to these functions. */
#define SERVE_ERR_MAX (AFX_ERROR_MAX + 128)

/* ---------------------------------------------------------------------------------------------- */
/* Media type of a request body                                                                   */
/* ---------------------------------------------------------------------------------------------- */
typedef enum serve_pcm {
    SERVE_PCM_NONE = 0,  /**< not raw: an encoded file that libsndfile detects (WAV, FLAC, Ogg, MP3, ...) */
    SERVE_PCM_S16BE = 1, /**< audio/L16 (RFC 2586: signed 16-bit, network byte order) */
    SERVE_PCM_S16LE = 2, /**< audio/x-raw; format=S16LE */
    SERVE_PCM_F32LE = 3  /**< audio/x-raw; format=F32LE */
} serve_pcm;

typedef struct serve_media {
    serve_pcm pcm; /**< SERVE_PCM_NONE for an encoded file */
    int rate;      /**< raw PCM: sample rate in Hz (the `rate` parameter, required) | 1000 .. 1000000 */
    int channels;  /**< raw PCM: interleaved channels (the `channels` parameter, default 1) | 1 .. 64 */
} serve_media;

/**
 * Parses a Content-Type value (NULL or "" = application/octet-stream):
 *   audio/L16; rate=R[; channels=C]                     big-endian int16 (RFC 2586, RFC 3551 section 4.5.11)
 *   audio/x-raw; format=S16LE|S16BE|F32LE; rate=R[; channels=C]   (GStreamer caps spelling)
 *   application/octet-stream, audio/<anything else>     an encoded file (also application/x-www-form-urlencoded,
 *                                                       curl --data-binary's default)
 * Names are case-insensitive, values may be quoted. 415 for any other type, 400 for a bad parameter.
 */
int serve_parse_media_type(const char *content_type, serve_media *media, char *err, size_t err_size);

/** Bytes of one sample of one channel of a raw format (2 or 4; 0 for SERVE_PCM_NONE). */
int serve_pcm_sample_bytes(serve_pcm pcm);

/* ---------------------------------------------------------------------------------------------- */
/* Request parameters (query string and JSON)                                                     */
/* ---------------------------------------------------------------------------------------------- */
/** A list of name=value text pairs. Owns copies of its strings. Zero-initialize, free with serve_kv_free. */
typedef struct serve_kv {
    char **keys;
    char **values;
    size_t n, cap;
} serve_kv;

/** Appends a copy of key=value (value NULL = ""). 413 past SERVE_KV_MAX pairs, 500 out of memory. */
int serve_kv_add(serve_kv *kv, const char *key, const char *value, char *err, size_t err_size);
/**
 * Appends the members of a JSON object text (e.g. {"preset": "whisper", "n_mels": 128, "center": true}):
 * strings as they are, integers in decimal, reals with 17 significant digits, booleans as true/false.
 * `what` names the source in messages ("JSON part 'params'"). 400 for bad JSON, a non-object, or a
 * null/array/object value.
 */
int serve_kv_add_json(serve_kv *kv, const char *text, size_t len, const char *what, char *err, size_t err_size);
void serve_kv_free(serve_kv *kv);

/** Most parameters one request may give (there are about 60 afx_params fields). */
#define SERVE_KV_MAX 256

typedef enum serve_format {
    SERVE_FORMAT_NPY = 0, /**< application/x-npy: NumPy .npy v1.0 (default) */
    SERVE_FORMAT_JSON = 1 /**< application/json: {"shape", "dtype", "n_frames", ..., "features": nested lists} */
} serve_format;

/** What the server fixes, whatever a request asks. */
typedef struct serve_limits {
    afx_backend backend;     /**< the server's backend (a request cannot choose) */
    int max_batch;           /**< clips per plan execution */
    double max_clip_seconds; /**< longest clip, at the features' sample rate */
} serve_limits;

/** A request's effective settings. */
typedef struct serve_request_opts {
    afx_params params;           /**< validated; backend, max_batch, max_samples set from serve_limits */
    char *key;                   /**< serve_params_key(&params), malloc'd: the caller frees it */
    serve_format format;         /**< from `format` (npy|json) */
    uint64_t first_clip_index;   /**< from `first_clip_index` (keys dither and masks; default 0) */
} serve_request_opts;

/**
 * Parameter sets validated recently (their serve_params_key), so that a server does not run
 * afx_params_validate (which builds the mel filterbank to check it) for every request with the same
 * parameters. Thread-safe. Holds at most SERVE_VALID_CACHE keys, replacing the oldest.
 */
typedef struct serve_valid_cache serve_valid_cache;
#define SERVE_VALID_CACHE 64
serve_valid_cache *serve_valid_cache_create(void);
void serve_valid_cache_free(serve_valid_cache *cache);

/**
 * Applies parameters in this order, whatever their order in `kv`: `model` (a configured model's
 * parameters, see models.h) or `preset` with `feature` (afx_params_preset; feature alone starts from
 * afx_params_init), then every other afx_params field by name (afx_params_set), then the limits. Also
 * reads `format` and `first_clip_index`. Refuses (400) an unknown name, a name given twice, a field
 * the server owns (backend, cuda_device, cpu_threads, max_batch, max_samples), `model` together with
 * `preset`, and parameters that afx_params_validate refuses (its message names the field). `models`
 * may be NULL (then `model` is unknown); `cache` may be NULL (validate every time). On success out->key
 * is set (500 if out of memory); on failure it is NULL.
 */
int serve_request_params(const struct serve_models *models, const serve_kv *kv, const serve_limits *limits,
                         serve_valid_cache *cache, serve_request_opts *out, char *err, size_t err_size);

/** Samples of the longest clip the limits allow at params->sample_rate (>= 1, <= 2^40). */
int64_t serve_max_samples(const serve_limits *limits, int sample_rate);

/** 1 when the parameters use randomness keyed by the clip index (dither, SpecAugment masks). */
int serve_params_randomized(const afx_params *params);

/**
 * Canonical text of every afx_params field ("name=value;..."), equal for two parameter sets exactly
 * when they compute the same features: the batching key. Returns a malloc'd string (NULL if out of memory).
 */
char *serve_params_key(const afx_params *params);

/* ---------------------------------------------------------------------------------------------- */
/* Open Inference Protocol (KServe v2) infer requests                                             */
/* ---------------------------------------------------------------------------------------------- */
/**
 * A decoded infer request: n_clips clips of up to clip_stride samples each, float32, row-major.
 * Inputs: "waveform" (FP32, FP64 or INT16, shape [B, N] or [N]; INT16 is scaled by 1/32768 as afx does)
 * and the optional "lengths" (INT32 or INT64, shape [B]: the valid samples of each row, the rest is
 * padding). Request parameters: "sample_rate" (rate of the waveform; the model's when absent),
 * "first_clip_index", "binary_data_output". Outputs: "features" and "n_frames" (all when the request
 * names none), each in JSON or, with {"parameters": {"binary_data": true}}, as binary data.
 */
typedef struct serve_infer_request {
    char *id;                  /**< the request's "id", echoed in the response (NULL if none) */
    int n_clips;               /**< B */
    int64_t clip_stride;       /**< N */
    float *samples;            /**< [B][N], malloc'd */
    int64_t *lengths;          /**< [B], malloc'd; N when "lengths" is absent */
    int sample_rate;           /**< 0: the model's */
    uint64_t first_clip_index;
    int want_features, want_n_frames;       /**< outputs to return */
    int binary_features, binary_n_frames;   /**< ... as binary data (extension) */
} serve_infer_request;

/**
 * Parses an infer request body. `header_length` is the Inference-Header-Content-Length header's value
 * (NULL when absent: the whole body is JSON); then the body is that many bytes of JSON followed by the
 * binary inputs in the order of the JSON's "inputs", each "binary_data_size" bytes, little-endian.
 * `max_batch` bounds B (400 above it). On failure *req is zeroed (nothing to free).
 */
int serve_parse_infer(const unsigned char *body, size_t size, const char *header_length, int max_batch,
                      serve_infer_request *req, char *err, size_t err_size);
void serve_infer_request_free(serve_infer_request *req);

/** Parses a non-negative decimal header value (no sign, no spaces, <= max). 0 on success, else 400. */
int serve_parse_size_header(const char *value, size_t max, size_t *out, const char *name, char *err,
                            size_t err_size);

#endif /* AFX_SERVE_REQUEST_H */
