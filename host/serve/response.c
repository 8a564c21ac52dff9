/*
 * response.c: response bodies (response.h). Output arrays are written from memory as they are, so the
 * host must be little-endian, as .npy '<f4' and the protocol's binary tensors are.
 */
#include "response.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cli/npy.h"
#include "models.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "afx serve writes little-endian arrays from memory: port response.c to this host first"
#endif

static int fail(char *err, size_t err_size, const char *msg)
{
    snprintf(err, err_size, "%s", msg);
    return 500;
}

/* IEEE binary16 bits -> float (exact: every half is a float). */
static float f16_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
    if (exp == 0x1f) bits = sign | 0x7f800000u | (man << 13); /* inf, NaN */
    else if (exp != 0) bits = sign | ((exp + 112u) << 23) | (man << 13);
    else if (man == 0) bits = sign;
    else { /* subnormal: normalize */
        exp = 113;
        while (!(man & 0x400u)) {
            man <<= 1;
            exp--;
        }
        bits = sign | (exp << 23) | ((man & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Element i of the job's output as a float. */
static double value_at(const serve_job *job, size_t i)
{
    switch (job->params.output_dtype) {
    case AFX_DTYPE_F16: return f16_to_float(((const uint16_t *)job->out)[i]);
    case AFX_DTYPE_BF16: {
        uint32_t bits = (uint32_t)((const uint16_t *)job->out)[i] << 16;
        float f;
        memcpy(&f, &bits, sizeof f);
        return f;
    }
    case AFX_DTYPE_F32: break;
    }
    return ((const float *)job->out)[i];
}

static size_t elem_size(const serve_job *job) { return job->params.output_dtype == AFX_DTYPE_F32 ? 4 : 2; }

/* Values of one clip in the job's output. */
static size_t clip_values(const serve_job *job)
{
    return job->pooled ? (size_t)job->pooled : (size_t)job->n_features * (size_t)job->frames_stride;
}

/* Shape of clip c on its own (its frames only): 1 or 2 dimensions. */
static int clip_shape(const serve_job *job, int c, int64_t shape[2])
{
    if (job->pooled) {
        shape[0] = job->pooled;
        return 1;
    }
    int tf = job->params.layout == AFX_LAYOUT_TF;
    shape[0] = tf ? job->n_frames[c] : job->n_features;
    shape[1] = tf ? job->n_features : job->n_frames[c];
    return 2;
}

int serve_body_npy(const serve_job *job, serve_body *out, char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    if (job->params.output_dtype == AFX_DTYPE_BF16) return fail(err, err_size, "bfloat16 has no .npy type");
    int64_t shape[2];
    int ndim = clip_shape(job, 0, shape);
    char header[512];
    size_t hlen = afx_npy_header_descr(header, sizeof header, job->params.output_dtype == AFX_DTYPE_F16 ? "<f2" : "<f4",
                                       ndim, shape);
    if (hlen == 0) return fail(err, err_size, "cannot format the .npy header");
    /* one clip: its frames_stride is its own n_frames, so the data is contiguous as it is */
    size_t bytes = clip_values(job) * elem_size(job);
    out->data = malloc(hlen + bytes + 1);
    if (!out->data) return fail(err, err_size, "out of memory for the response");
    memcpy(out->data, header, hlen);
    if (bytes) memcpy(out->data + hlen, job->out, bytes);
    out->size = hlen + bytes;
    out->content_type = "application/x-npy";
    return 0;
}

int serve_body_from_json(json_t *value, serve_body *out)
{
    memset(out, 0, sizeof *out);
    if (!value) return 500;
    /* 9 significant digits print every float32 exactly (FLT_DECIMAL_DIG). */
    char *s = json_dumps(value, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(value);
    if (!s) return 500;
    out->data = (unsigned char *)s;
    out->size = strlen(s);
    out->content_type = "application/json";
    return 0;
}

/* JSON number of a finite value (features are finite: afx refuses a clip otherwise). */
static json_t *number(double v) { return isfinite(v) ? json_real(v) : json_null(); }

/* Nested lists of clip c: [rows][cols] from the output (row stride `stride` values), or a flat vector. */
static json_t *clip_lists(const serve_job *job, int c)
{
    size_t base = (size_t)c * clip_values(job);
    if (job->pooled) {
        json_t *v = json_array();
        for (int i = 0; v && i < job->pooled; i++) json_array_append_new(v, number(value_at(job, base + (size_t)i)));
        return v;
    }
    int tf = job->params.layout == AFX_LAYOUT_TF;
    int64_t frames = job->n_frames[c];
    int64_t rows = tf ? frames : job->n_features, cols = tf ? job->n_features : frames;
    size_t row_stride = tf ? (size_t)job->n_features : (size_t)job->frames_stride;
    json_t *m = json_array();
    for (int64_t r = 0; m && r < rows; r++) {
        json_t *row = json_array();
        for (int64_t k = 0; row && k < cols; k++)
            json_array_append_new(row, number(value_at(job, base + (size_t)r * row_stride + (size_t)k)));
        json_array_append_new(m, row);
    }
    return m;
}

static const char *numpy_dtype(afx_dtype d)
{
    return d == AFX_DTYPE_F16 ? "float16" : d == AFX_DTYPE_BF16 ? "bfloat16" : "float32";
}

int serve_body_json(const serve_job *job, serve_body *out, char *err, size_t err_size)
{
    int64_t shape[2];
    int ndim = clip_shape(job, 0, shape);
    json_t *jshape = ndim == 1 ? json_pack("[I]", (json_int_t)shape[0]) : json_pack("[I,I]", (json_int_t)shape[0], (json_int_t)shape[1]);
    json_t *o = json_pack("{s:o,s:s,s:s,s:I,s:i,s:I,s:i,s:o}", "shape", jshape, "dtype", numpy_dtype(job->params.output_dtype),
                          "layout", job->pooled ? "pooled" : job->params.layout == AFX_LAYOUT_TF ? "tf" : "ft", "n_frames",
                          (json_int_t)job->n_frames[0], "n_features", job->n_features, "n_samples",
                          (json_int_t)job->n_samples[0], "sample_rate", job->params.sample_rate, "features",
                          clip_lists(job, 0));
    if (serve_body_from_json(o, out) != 0) return fail(err, err_size, "out of memory for the JSON response");
    return 0;
}

void serve_body_error(const char *message, serve_body *out)
{
    if (serve_body_from_json(json_pack("{s:s}", "error", message ? message : "error"), out) != 0) {
        static const char fallback[] = "{\"error\":\"out of memory\"}";
        out->data = malloc(sizeof fallback);
        if (out->data) memcpy(out->data, fallback, sizeof fallback);
        out->size = out->data ? sizeof fallback - 1 : 0;
        out->content_type = "application/json";
        out->header_length = 0;
    }
}

int serve_body_infer(const serve_job *job, const char *model_name, const serve_infer_request *req, serve_body *out,
                     char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    const size_t values = (size_t)job->n_clips * clip_values(job);
    json_t *outputs = json_array();
    json_t *o = json_pack("{s:s,s:s,s:o}", "model_name", model_name, "model_version", "1", "outputs", outputs);
    if (!o) return fail(err, err_size, "out of memory for the response");
    if (req->id) json_object_set_new(o, "id", json_string(req->id));
    size_t binary_bytes = 0;
    if (req->want_features) {
        json_t *shape = job->pooled ? json_pack("[i,i]", job->n_clips, job->pooled)
                        : job->params.layout == AFX_LAYOUT_TF
                            ? json_pack("[i,I,i]", job->n_clips, (json_int_t)job->frames_stride, job->n_features)
                            : json_pack("[i,i,I]", job->n_clips, job->n_features, (json_int_t)job->frames_stride);
        json_t *t = json_pack("{s:s,s:s,s:o}", "name", "features", "datatype", serve_dtype_name(job->params.output_dtype),
                              "shape", shape);
        if (req->binary_features) {
            json_object_set_new(t, "parameters", json_pack("{s:I}", "binary_data_size", (json_int_t)(values * elem_size(job))));
            binary_bytes += values * elem_size(job);
        } else {
            json_t *data = json_array();
            for (size_t i = 0; data && i < values; i++) json_array_append_new(data, number(value_at(job, i)));
            json_object_set_new(t, "data", data);
        }
        json_array_append_new(outputs, t);
    }
    if (req->want_n_frames) {
        json_t *t = json_pack("{s:s,s:s,s:[i]}", "name", "n_frames", "datatype", "INT64", "shape", job->n_clips);
        if (req->binary_n_frames) {
            json_object_set_new(t, "parameters", json_pack("{s:I}", "binary_data_size", (json_int_t)(8 * job->n_clips)));
            binary_bytes += 8 * (size_t)job->n_clips;
        } else {
            json_t *data = json_array();
            for (int c = 0; data && c < job->n_clips; c++) json_array_append_new(data, json_integer((json_int_t)job->n_frames[c]));
            json_object_set_new(t, "data", data);
        }
        json_array_append_new(outputs, t);
    }
    char *text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(o);
    if (!text) return fail(err, err_size, "out of memory for the response");
    size_t tlen = strlen(text);
    if (binary_bytes == 0) {
        out->data = (unsigned char *)text;
        out->size = tlen;
        out->content_type = "application/json";
        return 0;
    }
    out->data = malloc(tlen + binary_bytes);
    if (!out->data) {
        free(text);
        return fail(err, err_size, "out of memory for the response");
    }
    memcpy(out->data, text, tlen);
    free(text);
    size_t at = tlen;
    if (req->want_features && req->binary_features) {
        memcpy(out->data + at, job->out, values * elem_size(job));
        at += values * elem_size(job);
    }
    if (req->want_n_frames && req->binary_n_frames) {
        memcpy(out->data + at, job->n_frames, 8 * (size_t)job->n_clips);
        at += 8 * (size_t)job->n_clips;
    }
    out->size = at;
    out->header_length = tlen;
    out->content_type = "application/octet-stream";
    return 0;
}
