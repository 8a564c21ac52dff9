/*
 * params_text.c: afx_params fields by name, read and written as text (afx_params_set / _get).
 *
 * One table lists every field with its type and offset, so bindings (python/afx) and configuration
 * files never mirror the struct layout themselves. Enums are spelled as afx_enum_name spells them.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef enum { T_INT, T_BOOL, T_I64, T_U64, T_FLOAT, T_ENUM } field_type;

typedef struct field {
    const char *name;
    field_type type;
    size_t offset;
    afx_enum_kind kind; /* T_ENUM only */
} field;

#define F(name, type) {#name, type, offsetof(afx_params, name), AFX_ENUM_KIND_COUNT_}
#define E(name, kind) {#name, T_ENUM, offsetof(afx_params, name), kind}

static const field fields[] = {
    E(backend, AFX_ENUM_BACKEND),
    F(max_batch, T_INT),
    F(max_samples, T_I64),
    F(fixed_length, T_I64),
    F(sample_rate, T_INT),
    F(input_scale, T_FLOAT),
    F(dither, T_FLOAT),
    F(dither_seed, T_U64),
    F(remove_dc_offset, T_BOOL),
    F(preemphasis, T_FLOAT),
    F(n_fft, T_INT),
    F(win_length, T_INT),
    F(hop_length, T_INT),
    F(round_to_power_of_two, T_BOOL),
    E(window, AFX_ENUM_WINDOW),
    F(window_periodic, T_BOOL),
    F(center, T_BOOL),
    E(pad_mode, AFX_ENUM_PAD_MODE),
    F(snip_edges, T_BOOL),
    F(power, T_FLOAT),
    E(feature, AFX_ENUM_FEATURE),
    F(n_mels, T_INT),
    F(f_min, T_FLOAT),
    F(f_max, T_FLOAT),
    E(mel_scale, AFX_ENUM_MEL_SCALE),
    E(mel_norm, AFX_ENUM_MEL_NORM),
    E(log_base, AFX_ENUM_LOG_TYPE),
    F(log_offset, T_FLOAT),
    F(log_floor, T_FLOAT),
    F(db_multiplier, T_FLOAT),
    F(db_ref, T_FLOAT),
    F(db_amin, T_FLOAT),
    F(top_db, T_FLOAT),
    F(n_mfcc, T_INT),
    E(mfcc_log, AFX_ENUM_LOG_TYPE),
    F(cepstral_lifter, T_FLOAT),
    F(mfcc_energy, T_BOOL),
    F(raw_energy, T_BOOL),
    F(energy_floor, T_FLOAT),
    E(normalize, AFX_ENUM_NORMALIZE),
    F(norm_vars, T_BOOL),
    F(norm_eps, T_FLOAT),
    F(norm_unbiased, T_BOOL),
    F(n_time_masks, T_INT),
    F(time_mask_param, T_INT),
    F(n_freq_masks, T_INT),
    F(freq_mask_param, T_INT),
    F(mask_seed, T_U64),
    E(mask_value, AFX_ENUM_MASK_VALUE),
    E(pooling, AFX_ENUM_POOLING),
    E(layout, AFX_ENUM_LAYOUT),
    F(mel_linspace_freqs, T_BOOL),
    F(mel_allow_empty, T_BOOL),
    E(dct_norm, AFX_ENUM_DCT_NORM),
    F(drop_last_frame, T_BOOL),
    F(log_range, T_FLOAT),
    F(out_scale, T_FLOAT),
    F(out_bias, T_FLOAT),
    E(output_dtype, AFX_ENUM_DTYPE),
    F(cuda_device, T_INT),
    F(cpu_threads, T_INT),
};
#define N_FIELDS (sizeof fields / sizeof fields[0])

static const field *find_field(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < N_FIELDS; i++)
        if (strcmp(fields[i].name, name) == 0) return &fields[i];
    return NULL;
}

const char *afx_params_field_name(int i) { return i >= 0 && (size_t)i < N_FIELDS ? fields[i].name : NULL; }
size_t afx_params_size(void) { return sizeof(afx_params); }

/* Whole-string integer parse in [lo, hi]. */
static int parse_i64(const char *text, long long lo, long long hi, long long *out) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 0);
    if (errno || end == text || *end != '\0' || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

static afx_status bad_value(const field *f, const char *value, const char *expect, char *err, size_t err_size) {
    return afx_fail(err, err_size, AFX_ERR_INVALID_PARAM, "%s=\"%s\": expected %s", f->name, value, expect);
}

afx_status afx_params_set(afx_params *params, const char *name, const char *value, char *err, size_t err_size) {
    if (!params || !name || !value)
        return afx_fail(err, err_size, AFX_ERR_NULL_ARGUMENT, "afx_params_set: params, name or value is NULL");
    const field *f = find_field(name);
    if (!f) return afx_fail(err, err_size, AFX_ERR_INVALID_PARAM, "unknown parameter \"%s\"", name);
    char *dst = (char *)params + f->offset;
    long long v = 0;
    switch (f->type) {
    case T_BOOL:
        if (strcmp(value, "true") == 0 || strcmp(value, "True") == 0) v = 1;
        else if (strcmp(value, "false") == 0 || strcmp(value, "False") == 0) v = 0;
        else if (!parse_i64(value, 0, 1, &v)) return bad_value(f, value, "0, 1, true or false", err, err_size);
        *(int *)dst = (int)v;
        return AFX_OK;
    case T_INT:
        if (!parse_i64(value, INT32_MIN, INT32_MAX, &v)) return bad_value(f, value, "an integer", err, err_size);
        *(int *)dst = (int)v;
        return AFX_OK;
    case T_I64:
        if (!parse_i64(value, INT64_MIN, INT64_MAX, &v)) return bad_value(f, value, "an integer", err, err_size);
        *(int64_t *)dst = (int64_t)v;
        return AFX_OK;
    case T_U64: {
        char *end = NULL;
        errno = 0;
        unsigned long long u = strtoull(value, &end, 0);
        if (errno || end == value || *end != '\0' || value[0] == '-')
            return bad_value(f, value, "an unsigned integer", err, err_size);
        *(uint64_t *)dst = (uint64_t)u;
        return AFX_OK;
    }
    case T_FLOAT: {
        char *end = NULL;
        errno = 0;
        double d = strtod(value, &end);
        if (end == value || *end != '\0' || isnan(d) || (errno == ERANGE && isinf(d)))
            return bad_value(f, value, "a number", err, err_size);
        *(float *)dst = (float)d;
        return AFX_OK;
    }
    case T_ENUM: {
        int e = afx_enum_value(f->kind, value);
        if (e < 0) {
            char choices[256] = "";
            size_t used = 0;
            for (int i = 0; afx_enum_name(f->kind, i) && used < sizeof choices; i++)
                used += (size_t)snprintf(choices + used, sizeof choices - used, "%s%s", i ? "|" : "",
                                         afx_enum_name(f->kind, i));
            return bad_value(f, value, choices, err, err_size);
        }
        memcpy(dst, &e, sizeof e); /* every afx enum is int-sized */
        return AFX_OK;
    }
    }
    return afx_fail(err, err_size, AFX_ERR_INTERNAL, "field %s has no type", name);
}

afx_status afx_params_get(const afx_params *params, const char *name, char *buf, size_t buf_size) {
    if (!params || !name || !buf || buf_size == 0) return AFX_ERR_NULL_ARGUMENT;
    const field *f = find_field(name);
    if (!f) return afx_fail(buf, buf_size, AFX_ERR_INVALID_PARAM, "unknown parameter \"%s\"", name);
    const char *src = (const char *)params + f->offset;
    switch (f->type) {
    case T_BOOL:
    case T_INT: snprintf(buf, buf_size, "%d", *(const int *)src); break;
    case T_I64: snprintf(buf, buf_size, "%" PRId64, *(const int64_t *)src); break;
    case T_U64: snprintf(buf, buf_size, "%" PRIu64, *(const uint64_t *)src); break;
    case T_FLOAT: snprintf(buf, buf_size, "%.9g", (double)*(const float *)src); break;
    case T_ENUM: {
        int e;
        memcpy(&e, src, sizeof e);
        const char *n = afx_enum_name(f->kind, e);
        if (n) snprintf(buf, buf_size, "%s", n);
        else snprintf(buf, buf_size, "%d", e);
        break;
    }
    }
    return AFX_OK;
}
