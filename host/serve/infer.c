/*
 * infer.c: Open Inference Protocol (KServe v2) infer requests, JSON tensors and the binary tensor data
 * extension (request.h: serve_parse_infer). Pure code: no HTTP library, no I/O; JSON through jansson.
 * Protocol: kserve/open-inference-protocol, docs/rest-api.md ("Inference" and its JSON tensor format)
 * and Triton's docs/protocol/extension_binary_data.md (binary_data_size, Inference-Header-Content-Length).
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "request.h"

/* afx's sample rate range (afx.h). */
#define RATE_MIN 1000
#define RATE_MAX 1000000


/* ---------------------------------------------------------------------------------------------- */
/* KServe v2 infer requests                                                                       */
/* ---------------------------------------------------------------------------------------------- */

typedef enum dtype { DT_NONE, DT_FP32, DT_FP64, DT_INT16, DT_INT32, DT_INT64 } dtype;

static dtype parse_dtype(const char *s)
{
    if (!s) return DT_NONE;
    if (strcmp(s, "FP32") == 0) return DT_FP32;
    if (strcmp(s, "FP64") == 0) return DT_FP64;
    if (strcmp(s, "INT16") == 0) return DT_INT16;
    if (strcmp(s, "INT32") == 0) return DT_INT32;
    if (strcmp(s, "INT64") == 0) return DT_INT64;
    return DT_NONE;
}

static size_t dtype_size(dtype d)
{
    switch (d) {
    case DT_INT16: return 2;
    case DT_FP32:
    case DT_INT32: return 4;
    case DT_FP64:
    case DT_INT64: return 8;
    case DT_NONE: break;
    }
    return 0;
}

/* One input tensor as described by the JSON, with its data (binary, or a JSON array). */
typedef struct tensor {
    const char *name;
    dtype type;
    int ndim;
    int64_t shape[2];
    uint64_t count;              /* product of shape */
    const unsigned char *binary; /* binary extension: `count` little-endian elements */
    const json_t *data;          /* JSON: "data" */
} tensor;

/* Counts the numbers of a (possibly nested) JSON array; -1 past depth 4 or on a non-number. */
static int64_t count_numbers(const json_t *a, int depth)
{
    if (json_is_number(a)) return 1;
    if (!json_is_array(a) || depth > 4) return -1;
    int64_t n = 0;
    for (size_t i = 0; i < json_array_size(a); i++) {
        int64_t k = count_numbers(json_array_get(a, i), depth + 1);
        if (k < 0) return -1;
        n += k;
    }
    return n;
}

/* Writes the numbers of a JSON array (row-major) as doubles into out[*at ...]. */
static void flatten_numbers(const json_t *a, double *out, uint64_t *at)
{
    if (json_is_number(a)) {
        out[(*at)++] = json_number_value(a);
        return;
    }
    for (size_t i = 0; i < json_array_size(a); i++) flatten_numbers(json_array_get(a, i), out, at);
}

static uint16_t le16(const unsigned char *b) { return (uint16_t)(b[0] | (b[1] << 8)); }
static uint32_t le32(const unsigned char *b)
{
    return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}
static uint64_t le64(const unsigned char *b) { return (uint64_t)le32(b) | ((uint64_t)le32(b + 4) << 32); }

/* Element i of a tensor as a double (binary or JSON already flattened into `json_values`). */
static double element(const tensor *t, const double *json_values, uint64_t i)
{
    if (!t->binary) return json_values[i];
    const unsigned char *b = t->binary + i * dtype_size(t->type);
    switch (t->type) {
    case DT_FP32: {
        uint32_t u = le32(b);
        float f;
        memcpy(&f, &u, sizeof f);
        return (double)f;
    }
    case DT_FP64: {
        uint64_t u = le64(b);
        double d;
        memcpy(&d, &u, sizeof d);
        return d;
    }
    case DT_INT16: return (double)(int16_t)le16(b);
    case DT_INT32: return (double)(int32_t)le32(b);
    case DT_INT64: return (double)(int64_t)le64(b);
    case DT_NONE: break;
    }
    return 0.0;
}

/* Reads the JSON description of one input into t (data is attached later). */
static int parse_tensor(const json_t *in, size_t index, tensor *t, char *err, size_t err_size)
{
    memset(t, 0, sizeof *t);
    if (!json_is_object(in)) return serve_fail(err, err_size, 400, "inputs[%zu] is not an object", index);
    const json_t *name = json_object_get(in, "name"), *dt = json_object_get(in, "datatype");
    const json_t *shape = json_object_get(in, "shape");
    if (!json_is_string(name)) return serve_fail(err, err_size, 400, "inputs[%zu] has no string \"name\"", index);
    t->name = json_string_value(name);
    if (!json_is_string(dt)) return serve_fail(err, err_size, 400, "input \"%.64s\" has no string \"datatype\"", t->name);
    t->type = parse_dtype(json_string_value(dt));
    if (t->type == DT_NONE)
        return serve_fail(err, err_size, 400, "input \"%.64s\": datatype \"%.16s\" is not one of FP32, FP64, INT16, INT32, INT64",
                    t->name, json_string_value(dt));
    if (!json_is_array(shape) || json_array_size(shape) < 1 || json_array_size(shape) > 2)
        return serve_fail(err, err_size, 400, "input \"%.64s\": \"shape\" must be an array of 1 or 2 integers", t->name);
    t->ndim = (int)json_array_size(shape);
    t->count = 1;
    for (int d = 0; d < t->ndim; d++) {
        const json_t *v = json_array_get(shape, (size_t)d);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > ((json_int_t)1 << 40))
            return serve_fail(err, err_size, 400, "input \"%.64s\": shape[%d] must be an integer in 0..2^40", t->name, d);
        t->shape[d] = (int64_t)json_integer_value(v);
        if (t->shape[d] != 0 && t->count > ((uint64_t)1 << 40) / (uint64_t)t->shape[d])
            return serve_fail(err, err_size, 400, "input \"%.64s\": shape has more than 2^40 elements", t->name);
        t->count *= (uint64_t)t->shape[d];
    }
    return 0;
}

/* Attaches each input's data: the binary sections in order, or its JSON "data". */
static int attach_data(const json_t *inputs, tensor *t, size_t n, const unsigned char *bin, size_t bin_size,
                       char *err, size_t err_size)
{
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *in = json_array_get(inputs, i);
        const json_t *params = json_object_get(in, "parameters"), *data = json_object_get(in, "data");
        const json_t *bsize = json_is_object(params) ? json_object_get(params, "binary_data_size") : NULL;
        if (params && !json_is_object(params))
            return serve_fail(err, err_size, 400, "input \"%.64s\": \"parameters\" must be an object", t[i].name);
        if (bsize) {
            if (data) return serve_fail(err, err_size, 400, "input \"%.64s\" has both \"data\" and binary_data_size", t[i].name);
            if (!json_is_integer(bsize) || json_integer_value(bsize) < 0)
                return serve_fail(err, err_size, 400, "input \"%.64s\": binary_data_size must be a non-negative integer", t[i].name);
            uint64_t size = (uint64_t)json_integer_value(bsize);
            if (size != t[i].count * dtype_size(t[i].type))
                return serve_fail(err, err_size, 400,
                            "input \"%.64s\": binary_data_size %" PRIu64 " != %" PRIu64 " elements x %zu bytes of the shape",
                            t[i].name, size, t[i].count, dtype_size(t[i].type));
            if (size > bin_size - at)
                return serve_fail(err, err_size, 400, "input \"%.64s\": binary data truncated (%" PRIu64 " bytes wanted, %zu left)",
                            t[i].name, size, bin_size - at);
            t[i].binary = bin + at;
            at += (size_t)size;
        } else {
            if (!data) return serve_fail(err, err_size, 400, "input \"%.64s\" has neither \"data\" nor binary_data_size", t[i].name);
            int64_t k = count_numbers(data, 0);
            if (k < 0 || !json_is_array(data))
                return serve_fail(err, err_size, 400, "input \"%.64s\": \"data\" must be an array of numbers (nested at most 4 deep)",
                            t[i].name);
            if ((uint64_t)k != t[i].count)
                return serve_fail(err, err_size, 400, "input \"%.64s\": \"data\" has %" PRId64 " numbers, the shape says %" PRIu64,
                            t[i].name, k, t[i].count);
            t[i].data = data;
        }
    }
    if (at != bin_size)
        return serve_fail(err, err_size, 400, "%zu bytes of binary data follow the inputs' binary_data_size total of %zu",
                    bin_size - at, at);
    return 0;
}

/* Values of a tensor as doubles when its data is JSON (NULL for binary data). 500 out of memory. */
static int json_values(const tensor *t, double **out, char *err, size_t err_size)
{
    *out = NULL;
    if (!t->data) return 0;
    *out = malloc((size_t)(t->count ? t->count : 1) * sizeof(double));
    if (!*out) return serve_fail(err, err_size, 500, "out of memory for input \"%.64s\"", t->name);
    uint64_t at = 0;
    flatten_numbers(t->data, *out, &at);
    return 0;
}

/* Reads "outputs" into the request's want/binary flags. */
static int parse_outputs(const json_t *root, int binary_default, serve_infer_request *r, char *err, size_t err_size)
{
    const json_t *outputs = json_object_get(root, "outputs");
    if (!outputs) {
        r->want_features = r->want_n_frames = 1;
        r->binary_features = r->binary_n_frames = binary_default;
        return 0;
    }
    if (!json_is_array(outputs)) return serve_fail(err, err_size, 400, "\"outputs\" must be an array");
    for (size_t i = 0; i < json_array_size(outputs); i++) {
        const json_t *o = json_array_get(outputs, i);
        const json_t *name = json_is_object(o) ? json_object_get(o, "name") : NULL;
        if (!json_is_string(name)) return serve_fail(err, err_size, 400, "outputs[%zu] has no string \"name\"", i);
        const json_t *params = json_object_get(o, "parameters");
        if (params && !json_is_object(params))
            return serve_fail(err, err_size, 400, "outputs[%zu]: \"parameters\" must be an object", i);
        const json_t *bd = params ? json_object_get(params, "binary_data") : NULL;
        if (bd && !json_is_boolean(bd))
            return serve_fail(err, err_size, 400, "outputs[%zu]: binary_data must be true or false", i);
        int binary = bd ? json_is_true(bd) : binary_default;
        const char *n = json_string_value(name);
        if (strcmp(n, "features") == 0) {
            r->want_features = 1;
            r->binary_features = binary;
        } else if (strcmp(n, "n_frames") == 0) {
            r->want_n_frames = 1;
            r->binary_n_frames = binary;
        } else {
            return serve_fail(err, err_size, 400, "output \"%.64s\" does not exist (features, n_frames)", n);
        }
    }
    if (!r->want_features && !r->want_n_frames) return serve_fail(err, err_size, 400, "\"outputs\" is empty");
    return 0;
}

/* Reads the request-level "parameters". */
static int parse_request_parameters(const json_t *root, int *binary_default, serve_infer_request *r, char *err,
                                    size_t err_size)
{
    const json_t *params = json_object_get(root, "parameters");
    if (!params) return 0;
    if (!json_is_object(params)) return serve_fail(err, err_size, 400, "request \"parameters\" must be an object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)params, key, v) {
        if (strcmp(key, "binary_data_output") == 0) {
            if (!json_is_boolean(v)) return serve_fail(err, err_size, 400, "binary_data_output must be true or false");
            *binary_default = json_is_true(v);
        } else if (strcmp(key, "sample_rate") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < RATE_MIN || json_integer_value(v) > RATE_MAX)
                return serve_fail(err, err_size, 400, "sample_rate must be an integer in %d..%d Hz", RATE_MIN, RATE_MAX);
            r->sample_rate = (int)json_integer_value(v);
        } else if (strcmp(key, "first_clip_index") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 0)
                return serve_fail(err, err_size, 400, "first_clip_index must be a non-negative integer");
            r->first_clip_index = (uint64_t)json_integer_value(v);
        } else if (strcmp(key, "sequence_id") == 0 || strcmp(key, "priority") == 0 || strcmp(key, "timeout") == 0 ||
                   strcmp(key, "headers") == 0) {
            /* Triton's standard request parameters: accepted and without effect here */
        } else {
            return serve_fail(err, err_size, 400,
                        "request parameter \"%.64s\" is not known (binary_data_output, sample_rate, first_clip_index)", key);
        }
    }
    return 0;
}

/* Fills samples and lengths from the waveform and the optional lengths tensors. */
static int fill_clips(const tensor *wave, const tensor *lens, serve_infer_request *r, int max_batch, char *err,
                      size_t err_size)
{
    int64_t b = wave->ndim == 2 ? wave->shape[0] : 1;
    int64_t n = wave->ndim == 2 ? wave->shape[1] : wave->shape[0];
    if (b < 1) return serve_fail(err, err_size, 400, "input \"waveform\": the batch is empty");
    if (b > max_batch)
        return serve_fail(err, err_size, 400, "input \"waveform\": batch of %" PRId64 " exceeds max_batch_size %d", b, max_batch);
    if (wave->type != DT_FP32 && wave->type != DT_FP64 && wave->type != DT_INT16)
        return serve_fail(err, err_size, 400, "input \"waveform\": datatype must be FP32, FP64 or INT16");
    if (lens) {
        if (lens->type != DT_INT32 && lens->type != DT_INT64)
            return serve_fail(err, err_size, 400, "input \"lengths\": datatype must be INT32 or INT64");
        if (lens->count != (uint64_t)b)
            return serve_fail(err, err_size, 400, "input \"lengths\" has %" PRIu64 " values for a batch of %" PRId64, lens->count, b);
    }
    double *wv = NULL, *lv = NULL;
    int st = json_values(wave, &wv, err, err_size);
    if (st == 0 && lens) st = json_values(lens, &lv, err, err_size);
    if (st == 0) {
        r->n_clips = (int)b;
        r->clip_stride = n;
        r->samples = malloc((size_t)(b * n > 0 ? b * n : 1) * sizeof(float));
        r->lengths = malloc((size_t)b * sizeof(int64_t));
        if (!r->samples || !r->lengths) st = serve_fail(err, err_size, 500, "out of memory for the waveform");
    }
    for (int64_t c = 0; st == 0 && c < b; c++) {
        double len = lens ? element(lens, lv, (uint64_t)c) : (double)n;
        if (!(len >= 0 && len <= (double)n))
            st = serve_fail(err, err_size, 400, "lengths[%" PRId64 "] = %.0f is outside 0..%" PRId64, c, len, n);
        else r->lengths[c] = (int64_t)len;
    }
    const float scale = 1.0f / 32768.0f; /* afx's int16 conversion (afx.h AFX_SAMPLE_S16) */
    for (uint64_t i = 0; st == 0 && i < (uint64_t)(b * n); i++) {
        double v = element(wave, wv, i);
        if (wave->type == DT_INT16) {
            if (wave->data && (v != floor(v) || v < -32768.0 || v > 32767.0)) {
                st = serve_fail(err, err_size, 400, "input \"waveform\": INT16 value %.17g at element %" PRIu64 " is out of range", v, i);
                break;
            }
            r->samples[i] = (float)v * scale;
        } else {
            r->samples[i] = (float)v; /* a double beyond float's range becomes inf and is refused later as non-finite */
        }
    }
    free(wv);
    free(lv);
    return st;
}

int serve_parse_infer(const unsigned char *body, size_t size, const char *header_length, int max_batch,
                      serve_infer_request *r, char *err, size_t err_size)
{
    memset(r, 0, sizeof *r);
    size_t json_len = size;
    if (header_length) {
        int st = serve_parse_size_header(header_length, size, &json_len, "Inference-Header-Content-Length", err, err_size);
        if (st) return st;
    }
    if (json_len == 0) return serve_fail(err, err_size, 400, "the request has no JSON header");
    json_error_t je;
    json_t *root = json_loadb((const char *)body, json_len, JSON_REJECT_DUPLICATES, &je);
    if (!root) return serve_fail(err, err_size, 400, "invalid JSON at line %d column %d: %s", je.line, je.column, je.text);

    int st = 0;
    tensor t[2];
    size_t n_inputs = 0;
    const json_t *inputs = json_object_get(root, "inputs");
    const json_t *id = json_object_get(root, "id");
    int binary_default = 0;
    if (!json_is_object(root)) st = serve_fail(err, err_size, 400, "the request is not a JSON object");
    else if (id && !json_is_string(id)) st = serve_fail(err, err_size, 400, "\"id\" must be a string");
    else if (!json_is_array(inputs) || json_array_size(inputs) == 0)
        st = serve_fail(err, err_size, 400, "\"inputs\" must be a non-empty array");
    else if (json_array_size(inputs) > 2)
        st = serve_fail(err, err_size, 400, "%zu inputs: the model takes \"waveform\" and optionally \"lengths\"", json_array_size(inputs));
    if (st == 0) {
        n_inputs = json_array_size(inputs);
        for (size_t i = 0; st == 0 && i < n_inputs; i++) st = parse_tensor(json_array_get(inputs, i), i, &t[i], err, err_size);
    }
    const tensor *wave = NULL, *lens = NULL;
    for (size_t i = 0; st == 0 && i < n_inputs; i++) {
        const tensor **slot = strcmp(t[i].name, "waveform") == 0 ? &wave : strcmp(t[i].name, "lengths") == 0 ? &lens : NULL;
        if (!slot) st = serve_fail(err, err_size, 400, "input \"%.64s\" does not exist (waveform, lengths)", t[i].name);
        else if (*slot) st = serve_fail(err, err_size, 400, "input \"%.64s\" is given twice", t[i].name);
        else *slot = &t[i];
    }
    if (st == 0 && !wave) st = serve_fail(err, err_size, 400, "input \"waveform\" is missing");
    if (st == 0 && lens && lens->ndim != 1) st = serve_fail(err, err_size, 400, "input \"lengths\" must have shape [B]");
    if (st == 0) st = attach_data(inputs, t, n_inputs, body + json_len, size - json_len, err, err_size);
    if (st == 0) st = parse_request_parameters(root, &binary_default, r, err, err_size);
    if (st == 0) st = parse_outputs(root, binary_default, r, err, err_size);
    if (st == 0 && id) {
        const char *s = json_string_value(id);
        size_t n = strlen(s);
        if (n > 256) st = serve_fail(err, err_size, 400, "\"id\" is longer than 256 bytes");
        else if (!(r->id = malloc(n + 1))) st = serve_fail(err, err_size, 500, "out of memory");
        else memcpy(r->id, s, n + 1);
    }
    if (st == 0) st = fill_clips(wave, lens, r, max_batch, err, err_size);
    json_decref(root);
    if (st) serve_infer_request_free(r);
    return st;
}

void serve_infer_request_free(serve_infer_request *r)
{
    if (!r) return;
    free(r->id);
    free(r->samples);
    free(r->lengths);
    memset(r, 0, sizeof *r);
}
