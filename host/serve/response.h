/*
 * response.h: the bodies `afx serve` answers with, built from a finished job (batcher.h): .npy, the
 * simple API's JSON, Open Inference Protocol infer responses (JSON, or JSON + binary outputs), and
 * {"error": "..."} (the protocol's error object, used by every endpoint). No HTTP library here.
 */
#ifndef AFX_SERVE_RESPONSE_H
#define AFX_SERVE_RESPONSE_H

#include <stddef.h>

#include <jansson.h>

#include "batcher.h"
#include "request.h"

typedef struct serve_body {
    unsigned char *data;      /**< malloc'd (the HTTP layer hands it to the response, which frees it) */
    size_t size;
    const char *content_type; /**< static string */
    size_t header_length;     /**< infer with binary outputs: bytes of JSON before the binary data (the
                                   Inference-Header-Content-Length header); 0 otherwise */
} serve_body;

/** .npy of the job's one clip: (n_features, n_frames) for layout ft, (n_frames, n_features) for tf, (values,)
 *  when pooled; '<f4' or '<f2'. 0, or 500 with a message (bfloat16 has no .npy type: callers refuse it first). */
int serve_body_npy(const serve_job *job, serve_body *out, char *err, size_t err_size);
/** {"shape", "dtype", "n_frames", "n_features", "n_samples", "sample_rate", "features": nested lists}. */
int serve_body_json(const serve_job *job, serve_body *out, char *err, size_t err_size);
/** Infer response of a finished job: outputs "features" [B, ...] and "n_frames" [B] as the request asked. */
int serve_body_infer(const serve_job *job, const char *model_name, const serve_infer_request *req, serve_body *out,
                     char *err, size_t err_size);
/** {"error": message}; never fails (falls back to a static body). */
void serve_body_error(const char *message, serve_body *out);
/** Serializes a JSON value (steals the reference) as an application/json body. 0 or 500. */
int serve_body_from_json(json_t *value, serve_body *out);

#endif /* AFX_SERVE_RESPONSE_H */
