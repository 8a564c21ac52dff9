/*
 * models.c: built-in and configured models of `afx serve` (see models.h), and their protocol metadata.
 */
#include "models.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


int serve_model_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > SERVE_MODEL_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && !strchr("_.-", name[i])) return 0;
    return strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

/* Adds or replaces the model `name`. */
static int put_model(serve_models *m, const char *name, const char *description, const afx_params *p, int builtin,
                     char *err, size_t err_size)
{
    serve_model *slot = (serve_model *)serve_models_find(m, name);
    if (!slot) {
        if (m->n == m->cap) {
            int cap = m->cap ? 2 * m->cap : 32;
            serve_model *items = realloc(m->items, (size_t)cap * sizeof *items);
            if (!items) return serve_fail(err, err_size, 500, "out of memory for the models");
            m->items = items;
            m->cap = cap;
        }
        slot = &m->items[m->n++];
    }
    memset(slot, 0, sizeof *slot);
    snprintf(slot->name, sizeof slot->name, "%s", name);
    snprintf(slot->description, sizeof slot->description, "%s", description ? description : "");
    slot->params = *p;
    slot->builtin = builtin;
    return 0;
}

/* Applies the server's limits to a model's parameters and validates them. */
static int finish_params(afx_params *p, const serve_limits *limits, const char *what, char *err, size_t err_size)
{
    char aerr[AFX_ERROR_MAX];
    p->backend = limits->backend;
    p->max_batch = limits->max_batch;
    p->cpu_threads = 1;
    p->cuda_device = 0;
    p->max_samples = serve_max_samples(limits, p->sample_rate);
    if (afx_params_validate(p, aerr, sizeof aerr) != AFX_OK) return serve_fail(err, err_size, 400, "%s: %s", what, aerr);
    return 0;
}

int serve_models_add_builtin(serve_models *m, const serve_limits *limits, char *err, size_t err_size)
{
    char aerr[AFX_ERROR_MAX];
    for (int pr = 0; afx_enum_name(AFX_ENUM_PRESET, pr); pr++) {
        for (int f = 0; afx_enum_name(AFX_ENUM_FEATURE, f); f++) {
            afx_params p;
            if (afx_params_preset(&p, (afx_preset)pr, (afx_feature)f, aerr, sizeof aerr) != AFX_OK) continue;
            char name[SERVE_MODEL_NAME_MAX + 1], desc[160];
            snprintf(name, sizeof name, "%s_%s", afx_enum_name(AFX_ENUM_PRESET, pr), afx_enum_name(AFX_ENUM_FEATURE, f));
            snprintf(desc, sizeof desc, "preset %s, feature %s", afx_enum_name(AFX_ENUM_PRESET, pr),
                     afx_enum_name(AFX_ENUM_FEATURE, f));
            int st = finish_params(&p, limits, name, err, err_size);
            if (st == 0) st = put_model(m, name, desc, &p, 1, err, err_size);
            if (st) return st == 400 ? 500 : st;
            /* Kaldi's fbank is its log-mel (compute-fbank-feats): the name Kaldi users look for. */
            if (pr == AFX_PRESET_KALDI && f == AFX_FEATURE_LOGMEL &&
                (st = put_model(m, "kaldi_fbank", "preset kaldi, feature logmel (compute-fbank-feats)", &p, 1, err, err_size)))
                return st;
        }
    }
    return 0;
}

/* Text form of a JSON scalar for afx_params_set. */
static int scalar_text(const json_t *v, char *buf, size_t size)
{
    switch (json_typeof(v)) {
    case JSON_STRING: snprintf(buf, size, "%s", json_string_value(v)); return strlen(json_string_value(v)) < size ? 0 : -1;
    case JSON_INTEGER: snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); return 0;
    case JSON_REAL: snprintf(buf, size, "%.17g", json_real_value(v)); return 0;
    case JSON_TRUE: snprintf(buf, size, "true"); return 0;
    case JSON_FALSE: snprintf(buf, size, "false"); return 0;
    default: return -1;
    }
}

/* One entry of the "models" array. */
static int load_model(serve_models *m, const json_t *e, size_t i, const char *what, const serve_limits *limits,
                      char *err, size_t err_size)
{
    char aerr[AFX_ERROR_MAX];
    if (!json_is_object(e)) return serve_fail(err, err_size, 400, "%s: models[%zu] is not an object", what, i);
    const json_t *name = json_object_get(e, "name"), *preset = json_object_get(e, "preset");
    const json_t *feature = json_object_get(e, "feature"), *params = json_object_get(e, "parameters");
    const json_t *desc = json_object_get(e, "description");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)e, key, v) {
        if (strcmp(key, "name") && strcmp(key, "preset") && strcmp(key, "feature") && strcmp(key, "parameters") &&
            strcmp(key, "description"))
            return serve_fail(err, err_size, 400, "%s: models[%zu]: unknown key \"%.64s\" (name, preset, feature, parameters, "
                        "description)", what, i, key);
    }
    if (!json_is_string(name) || !serve_model_name_ok(json_string_value(name)))
        return serve_fail(err, err_size, 400, "%s: models[%zu]: \"name\" must be 1..%d characters of A-Z a-z 0-9 _ . -", what, i,
                    SERVE_MODEL_NAME_MAX);
    const char *n = json_string_value(name);
    for (int k = 0; k < m->n; k++)
        if (!m->items[k].builtin && strcmp(m->items[k].name, n) == 0)
            return serve_fail(err, err_size, 400, "%s: model \"%s\" is defined twice", what, n);
    if ((preset && !json_is_string(preset)) || (feature && !json_is_string(feature)) || (desc && !json_is_string(desc)) ||
        (params && !json_is_object(params)))
        return serve_fail(err, err_size, 400, "%s: model \"%s\": preset, feature and description are strings, parameters an object",
                    what, n);
    afx_params p;
    afx_params_init(&p);
    int fv = AFX_FEATURE_LOGMEL;
    if (feature && (fv = afx_enum_value(AFX_ENUM_FEATURE, json_string_value(feature))) < 0)
        return serve_fail(err, err_size, 400, "%s: model \"%s\": feature \"%.32s\" is not spectrogram, mel, logmel, db or mfcc", what,
                    n, json_string_value(feature));
    if (preset) {
        int pv = afx_enum_value(AFX_ENUM_PRESET, json_string_value(preset));
        if (pv < 0)
            return serve_fail(err, err_size, 400, "%s: model \"%s\": preset \"%.32s\" is not librosa, torchaudio, kaldi, whisper or tf",
                        what, n, json_string_value(preset));
        if (afx_params_preset(&p, (afx_preset)pv, (afx_feature)fv, aerr, sizeof aerr) != AFX_OK)
            return serve_fail(err, err_size, 400, "%s: model \"%s\": %s", what, n, aerr);
    } else {
        p.feature = (afx_feature)fv;
    }
    if (params) {
        json_object_foreach((json_t *)params, key, v) {
            char text[256];
            if (strcmp(key, "backend") == 0 || strcmp(key, "max_batch") == 0 || strcmp(key, "max_samples") == 0 ||
                strcmp(key, "cpu_threads") == 0 || strcmp(key, "cuda_device") == 0)
                return serve_fail(err, err_size, 400, "%s: model \"%s\": \"%s\" is set by afx serve's options, not by a model", what,
                            n, key);
            if (scalar_text(v, text, sizeof text) != 0)
                return serve_fail(err, err_size, 400, "%s: model \"%s\": parameter \"%.64s\" must be a string, number or boolean",
                            what, n, key);
            if (afx_params_set(&p, key, text, aerr, sizeof aerr) != AFX_OK)
                return serve_fail(err, err_size, 400, "%s: model \"%s\": %s", what, n, aerr);
        }
    }
    char label[SERVE_MODEL_NAME_MAX + 64];
    snprintf(label, sizeof label, "%s: model \"%s\"", what, n);
    int st = finish_params(&p, limits, label, err, err_size);
    if (st) return st;
    char d[160];
    if (desc) snprintf(d, sizeof d, "%s", json_string_value(desc));
    else snprintf(d, sizeof d, "%s%s%s", preset ? "preset " : "afx defaults", preset ? json_string_value(preset) : "",
                  ", from the models file");
    return put_model(m, n, d, &p, 0, err, err_size);
}

int serve_models_load_json(serve_models *m, const char *text, size_t len, const char *what, const serve_limits *limits,
                           char *err, size_t err_size)
{
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) return serve_fail(err, err_size, 400, "%s: invalid JSON at line %d column %d: %s", what, je.line, je.column, je.text);
    int st = 0;
    const json_t *models = json_is_object(root) ? json_object_get(root, "models") : NULL;
    if (!json_is_array(models)) st = serve_fail(err, err_size, 400, "%s: expected {\"models\": [...]}", what);
    for (size_t i = 0; st == 0 && i < json_array_size(models); i++)
        st = load_model(m, json_array_get(models, i), i, what, limits, err, err_size);
    json_decref(root);
    return st;
}

int serve_models_load_file(serve_models *m, const char *path, const serve_limits *limits, char *err, size_t err_size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return serve_fail(err, err_size, 400, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    int st = buf ? 0 : serve_fail(err, err_size, 500, "out of memory");
    while (st == 0) {
        if (len == cap) {
            if (cap >= ((size_t)16 << 20)) {
                st = serve_fail(err, err_size, 400, "%s: larger than 16 MiB", path);
                break;
            }
            char *b = realloc(buf, cap * 2);
            if (!b) {
                st = serve_fail(err, err_size, 500, "out of memory");
                break;
            }
            buf = b;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) st = serve_fail(err, err_size, 400, "%s: read error", path);
            break;
        }
    }
    fclose(f);
    if (st == 0) st = serve_models_load_json(m, buf, len, path, limits, err, err_size);
    free(buf);
    return st;
}

const serve_model *serve_models_find(const serve_models *m, const char *name)
{
    if (!m || !name) return NULL;
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->items[i].name, name) == 0) return &m->items[i];
    return NULL;
}

void serve_models_free(serve_models *m)
{
    if (!m) return;
    free(m->items);
    memset(m, 0, sizeof *m);
}

/* ---------------------------------------------------------------------------------------------- */
/* Protocol metadata                                                                              */
/* ---------------------------------------------------------------------------------------------- */

const char *serve_dtype_name(afx_dtype d)
{
    return d == AFX_DTYPE_F16 ? "FP16" : d == AFX_DTYPE_BF16 ? "BF16" : "FP32";
}

json_t *serve_params_json(const afx_params *p)
{
    json_t *o = json_object();
    for (int i = 0; o && afx_params_field_name(i); i++) {
        char v[128];
        const char *name = afx_params_field_name(i);
        if (afx_params_get(p, name, v, sizeof v) == AFX_OK) json_object_set_new(o, name, json_string(v));
    }
    return o;
}

/* Number of values per frame, and per clip when pooled (0 if not), of a model's parameters. */
static void feature_counts(const afx_params *p, int *n_features, int *pooled)
{
    int n_fft = afx_params_effective_n_fft(p);
    int n = p->feature == AFX_FEATURE_SPECTROGRAM ? n_fft / 2 + 1 : p->feature == AFX_FEATURE_MFCC ? p->n_mfcc : p->n_mels;
    *n_features = n;
    *pooled = p->pooling == AFX_POOL_MEAN ? n : p->pooling == AFX_POOL_MEAN_STD ? 2 * n : 0;
}

/* The shape of the features output without the batch dimension, -1 where it varies. */
static json_t *feature_dims(const afx_params *p)
{
    int nf, pooled;
    feature_counts(p, &nf, &pooled);
    if (pooled) return json_pack("[i]", pooled);
    return p->layout == AFX_LAYOUT_TF ? json_pack("[i,i]", -1, nf) : json_pack("[i,i]", nf, -1);
}

static json_t *with_batch(json_t *dims)
{
    if (dims) json_array_insert_new(dims, 0, json_integer(-1));
    return dims;
}

json_t *serve_model_metadata(const serve_model *m, int max_batch)
{
    (void)max_batch;
    json_t *inputs = json_pack("[{s:s,s:s,s:[i,i]},{s:s,s:s,s:[i]}]", "name", "waveform", "datatype", "FP32", "shape", -1,
                               -1, "name", "lengths", "datatype", "INT64", "shape", -1);
    json_t *outputs = json_pack("[{s:s,s:s,s:o},{s:s,s:s,s:[i]}]", "name", "features", "datatype",
                                serve_dtype_name(m->params.output_dtype), "shape", with_batch(feature_dims(&m->params)),
                                "name", "n_frames", "datatype", "INT64", "shape", -1);
    return json_pack("{s:s,s:[s],s:s,s:o,s:o,s:{s:s,s:i}}", "name", m->name, "versions", "1", "platform", "afx", "inputs",
                     inputs, "outputs", outputs, "parameters", "description", m->description, "sample_rate",
                     m->params.sample_rate);
}

json_t *serve_model_config(const serve_model *m, int max_batch, long max_queue_delay_us)
{
    json_t *input = json_pack("[{s:s,s:s,s:[i]},{s:s,s:s,s:[i],s:b}]", "name", "waveform", "data_type", "TYPE_FP32", "dims",
                              -1, "name", "lengths", "data_type", "TYPE_INT64", "dims", 1, "optional", 1);
    char type[16];
    snprintf(type, sizeof type, "TYPE_%s", serve_dtype_name(m->params.output_dtype));
    json_t *output = json_pack("[{s:s,s:s,s:o},{s:s,s:s,s:[i]}]", "name", "features", "data_type", type, "dims",
                               feature_dims(&m->params), "name", "n_frames", "data_type", "TYPE_INT64", "dims", 1);
    return json_pack("{s:s,s:s,s:s,s:i,s:o,s:o,s:{s:[i],s:I},s:o}", "name", m->name, "platform", "afx", "backend", "afx",
                     "max_batch_size", max_batch, "input", input, "output", output, "dynamic_batching",
                     "preferred_batch_size", max_batch, "max_queue_delay_microseconds", (json_int_t)max_queue_delay_us,
                     "parameters", serve_params_json(&m->params));
}
