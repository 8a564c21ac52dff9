/*
 * request.c: media types, request parameters and KServe v2 infer requests (see request.h). Pure code:
 * no HTTP library, no I/O; JSON through jansson.
 */
#include "request.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "models.h"

/* Formats a message into err and returns `status`. */
static int fail(char *err, size_t err_size, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static int fail(char *err, size_t err_size, int status, const char *fmt, ...)
{
    if (err && err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return status;
}

/* Largest afx sample rate and channel count (afx.h, afx_audio.h). */
#define RATE_MIN 1000
#define RATE_MAX 1000000
#define CHANNELS_MAX 64

/* ---------------------------------------------------------------------------------------------- */
/* Media types                                                                                    */
/* ---------------------------------------------------------------------------------------------- */

/* Case-insensitive comparison of [s, s + n) with a NUL-terminated lowercase word. */
static int word_is(const char *s, size_t n, const char *word)
{
    size_t m = strlen(word);
    if (n != m) return 0;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)s[i]) != word[i]) return 0;
    return 1;
}

static const char *skip_space(const char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    return s;
}

/* Length of a token (RFC 9110 tchar) at s. */
static size_t token_len(const char *s)
{
    size_t n = 0;
    while (s[n] && (isalnum((unsigned char)s[n]) || strchr("!#$%&'*+-.^_`|~", s[n]))) n++;
    return n;
}

/* Parses a decimal integer parameter value in [lo, hi]. */
static int int_value(const char *v, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    if (!isdigit((unsigned char)v[0])) return 0;
    long x = strtol(v, &end, 10);
    if (errno || *end != '\0' || x < lo || x > hi) return 0;
    *out = x;
    return 1;
}

int serve_pcm_sample_bytes(serve_pcm pcm)
{
    switch (pcm) {
    case SERVE_PCM_S16BE:
    case SERVE_PCM_S16LE: return 2;
    case SERVE_PCM_F32LE: return 4;
    case SERVE_PCM_NONE: break;
    }
    return 0;
}

int serve_parse_media_type(const char *ct, serve_media *media, char *err, size_t err_size)
{
    memset(media, 0, sizeof *media);
    if (!ct) return 0;
    const char *s = skip_space(ct);
    if (*s == '\0') return 0;
    size_t tn = token_len(s);
    if (tn == 0 || s[tn] != '/')
        return fail(err, err_size, 415, "Content-Type \"%.80s\" is not a media type", ct);
    const char *type = s;
    const char *sub = s + tn + 1;
    size_t sn = token_len(sub);
    if (sn == 0) return fail(err, err_size, 415, "Content-Type \"%.80s\" has no subtype", ct);
    s = skip_space(sub + sn);

    int is_l16 = word_is(type, tn, "audio") && word_is(sub, sn, "l16");
    int is_raw = word_is(type, tn, "audio") && word_is(sub, sn, "x-raw");
    /* curl --data-binary and urllib send application/x-www-form-urlencoded unless told otherwise: such a
     * body is taken for the file it almost always is (libsndfile refuses it if it is not audio). */
    int is_file = word_is(type, tn, "audio") ||
                  (word_is(type, tn, "application") &&
                   (word_is(sub, sn, "octet-stream") || word_is(sub, sn, "x-www-form-urlencoded")));
    if (!is_l16 && !is_raw && !is_file)
        return fail(err, err_size, 415,
                    "Content-Type \"%.80s\" is not accepted: send an audio file (application/octet-stream or "
                    "audio/*), raw PCM (audio/L16; rate=R or audio/x-raw; format=S16LE|F32LE; rate=R), or "
                    "multipart/form-data with an 'audio' part",
                    ct);

    long rate = 0, channels = 1;
    int have_rate = 0, have_format = 0;
    serve_pcm pcm = is_l16 ? SERVE_PCM_S16BE : SERVE_PCM_NONE;
    char value[64];
    while (*s) {
        if (*s != ';') return fail(err, err_size, 400, "Content-Type \"%.80s\": expected ';' before parameters", ct);
        s = skip_space(s + 1);
        if (*s == '\0') break; /* a trailing ';' is tolerated */
        size_t nn = token_len(s);
        if (nn == 0 || s[nn] != '=')
            return fail(err, err_size, 400, "Content-Type \"%.80s\": malformed parameter", ct);
        const char *name = s;
        s += nn + 1;
        size_t vn = 0;
        if (*s == '"') {
            s++;
            while (s[vn] && s[vn] != '"') vn++;
            if (s[vn] != '"') return fail(err, err_size, 400, "Content-Type \"%.80s\": unterminated quote", ct);
            if (vn >= sizeof value) return fail(err, err_size, 400, "Content-Type parameter value too long");
            memcpy(value, s, vn);
            value[vn] = '\0';
            s += vn + 1;
        } else {
            vn = token_len(s);
            if (vn >= sizeof value) return fail(err, err_size, 400, "Content-Type parameter value too long");
            memcpy(value, s, vn);
            value[vn] = '\0';
            s += vn;
        }
        s = skip_space(s);
        if (!is_l16 && !is_raw) continue; /* parameters of file types (codecs=...) are libsndfile's business */
        if (word_is(name, nn, "rate")) {
            if (have_rate || !int_value(value, RATE_MIN, RATE_MAX, &rate))
                return fail(err, err_size, 400, "Content-Type rate=\"%s\": expected one integer in %d..%d Hz", value,
                            RATE_MIN, RATE_MAX);
            have_rate = 1;
        } else if (word_is(name, nn, "channels")) {
            if (!int_value(value, 1, CHANNELS_MAX, &channels))
                return fail(err, err_size, 400, "Content-Type channels=\"%s\": expected an integer in 1..%d", value,
                            CHANNELS_MAX);
        } else if (is_raw && word_is(name, nn, "format")) {
            if (word_is(value, strlen(value), "s16le")) pcm = SERVE_PCM_S16LE;
            else if (word_is(value, strlen(value), "s16be")) pcm = SERVE_PCM_S16BE;
            else if (word_is(value, strlen(value), "f32le")) pcm = SERVE_PCM_F32LE;
            else
                return fail(err, err_size, 415, "Content-Type format=\"%s\": expected S16LE, S16BE or F32LE", value);
            have_format = 1;
        } else if (word_is(name, nn, "layout") && word_is(value, strlen(value), "interleaved")) {
            /* GStreamer's only layout we take */
        } else {
            return fail(err, err_size, 400, "Content-Type parameter \"%.*s\" is not known (rate, channels%s)", (int)nn,
                        name, is_raw ? ", format" : "");
        }
    }
    if (!is_l16 && !is_raw) return 0;
    if (is_raw && !have_format)
        return fail(err, err_size, 400, "Content-Type audio/x-raw needs format=S16LE, S16BE or F32LE");
    if (!have_rate) return fail(err, err_size, 400, "Content-Type %.*s/%.*s needs rate=HZ", (int)tn, type, (int)sn, sub);
    media->pcm = pcm;
    media->rate = (int)rate;
    media->channels = (int)channels;
    return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Parameter lists                                                                                */
/* ---------------------------------------------------------------------------------------------- */

static char *dup_text(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

int serve_kv_add(serve_kv *kv, const char *key, const char *value, char *err, size_t err_size)
{
    if (!key) key = "";
    if (!value) value = "";
    if (kv->n >= SERVE_KV_MAX) return fail(err, err_size, 413, "more than %d parameters", SERVE_KV_MAX);
    if (kv->n == kv->cap) {
        size_t cap = kv->cap ? 2 * kv->cap : 16;
        char **k = realloc(kv->keys, cap * sizeof *k);
        if (!k) return fail(err, err_size, 500, "out of memory");
        kv->keys = k;
        char **v = realloc(kv->values, cap * sizeof *v);
        if (!v) return fail(err, err_size, 500, "out of memory");
        kv->values = v;
        kv->cap = cap;
    }
    char *k = dup_text(key), *v = dup_text(value);
    if (!k || !v) {
        free(k);
        free(v);
        return fail(err, err_size, 500, "out of memory");
    }
    kv->keys[kv->n] = k;
    kv->values[kv->n] = v;
    kv->n++;
    return 0;
}

void serve_kv_free(serve_kv *kv)
{
    if (!kv) return;
    for (size_t i = 0; i < kv->n; i++) {
        free(kv->keys[i]);
        free(kv->values[i]);
    }
    free(kv->keys);
    free(kv->values);
    memset(kv, 0, sizeof *kv);
}

/* Text of a JSON scalar as afx_params_set reads it. 0, or 400 for null/array/object. */
static int json_scalar_text(const json_t *v, char *buf, size_t size)
{
    switch (json_typeof(v)) {
    case JSON_STRING: {
        const char *s = json_string_value(v);
        if (strlen(s) >= size) return 400;
        memcpy(buf, s, strlen(s) + 1);
        return 0;
    }
    case JSON_INTEGER: snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); return 0;
    case JSON_REAL: snprintf(buf, size, "%.17g", json_real_value(v)); return 0;
    case JSON_TRUE: snprintf(buf, size, "true"); return 0;
    case JSON_FALSE: snprintf(buf, size, "false"); return 0;
    default: return 400;
    }
}

int serve_kv_add_json(serve_kv *kv, const char *text, size_t len, const char *what, char *err, size_t err_size)
{
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) return fail(err, err_size, 400, "%s: invalid JSON at line %d column %d: %s", what, je.line, je.column, je.text);
    int st = 0;
    if (!json_is_object(root)) {
        st = fail(err, err_size, 400, "%s: expected a JSON object of parameters", what);
    } else {
        const char *key;
        json_t *v;
        json_object_foreach(root, key, v) {
            char buf[256];
            if (json_scalar_text(v, buf, sizeof buf) != 0) {
                st = fail(err, err_size, 400, "%s: parameter \"%.64s\" must be a string, number or boolean", what, key);
                break;
            }
            if ((st = serve_kv_add(kv, key, buf, err, err_size)) != 0) break;
        }
    }
    json_decref(root);
    return st;
}

/* ---------------------------------------------------------------------------------------------- */
/* Parameters -> afx_params                                                                       */
/* ---------------------------------------------------------------------------------------------- */

/* Fields the server decides (resources and backend), never a request. */
static const char *const SERVER_FIELDS[] = {"backend", "cuda_device", "cpu_threads", "max_batch", "max_samples"};
/* Request keys that are not afx_params fields. */
static const char *const REQUEST_KEYS[] = {"model", "preset", "format", "first_clip_index"};

static int in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0) return 1;
    return 0;
}

static const char *kv_get(const serve_kv *kv, const char *key)
{
    for (size_t i = 0; i < kv->n; i++)
        if (strcmp(kv->keys[i], key) == 0) return kv->values[i];
    return NULL;
}

int64_t serve_max_samples(const serve_limits *limits, int sample_rate)
{
    const double cap = (double)((int64_t)1 << 40);
    double n = ceil(limits->max_clip_seconds * (double)(sample_rate > 0 ? sample_rate : 1));
    if (!(n >= 1.0)) n = 1.0;
    if (n > cap) n = cap;
    return (int64_t)n;
}

int serve_params_randomized(const afx_params *p)
{
    return p->dither > 0.0f || p->n_time_masks > 0 || p->n_freq_masks > 0;
}

struct serve_valid_cache {
    pthread_mutex_t mu;
    char *keys[SERVE_VALID_CACHE];
    int next;
};

serve_valid_cache *serve_valid_cache_create(void)
{
    serve_valid_cache *c = calloc(1, sizeof *c);
    if (c && pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c);
        return NULL;
    }
    return c;
}

void serve_valid_cache_free(serve_valid_cache *c)
{
    if (!c) return;
    for (int i = 0; i < SERVE_VALID_CACHE; i++) free(c->keys[i]);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static int cache_has(serve_valid_cache *c, const char *key)
{
    int found = 0;
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < SERVE_VALID_CACHE && !found; i++) found = c->keys[i] && strcmp(c->keys[i], key) == 0;
    pthread_mutex_unlock(&c->mu);
    return found;
}

static void cache_add(serve_valid_cache *c, const char *key)
{
    char *copy = dup_text(key);
    if (!copy) return; /* only a missed shortcut */
    pthread_mutex_lock(&c->mu);
    free(c->keys[c->next]);
    c->keys[c->next] = copy;
    c->next = (c->next + 1) % SERVE_VALID_CACHE;
    pthread_mutex_unlock(&c->mu);
}

int serve_request_params(const serve_models *models, const serve_kv *kv, const serve_limits *limits,
                         serve_valid_cache *cache, serve_request_opts *out, char *err, size_t err_size)
{
    char aerr[AFX_ERROR_MAX];
    memset(out, 0, sizeof *out);
    afx_params_init(&out->params);
    out->format = SERVE_FORMAT_NPY;

    /* Names: known, given once, not owned by the server. */
    for (size_t i = 0; i < kv->n; i++) {
        const char *k = kv->keys[i];
        for (size_t j = 0; j < i; j++)
            if (strcmp(kv->keys[j], k) == 0) return fail(err, err_size, 400, "parameter \"%.64s\" is given twice", k);
        if (in_list(k, SERVER_FIELDS, sizeof SERVER_FIELDS / sizeof *SERVER_FIELDS))
            return fail(err, err_size, 400, "parameter \"%s\" is set by the server (afx serve --%s), not by a request", k,
                        strcmp(k, "max_samples") == 0 ? "max-clip-seconds"
                        : strcmp(k, "max_batch") == 0 ? "max-batch"
                        : strcmp(k, "cpu_threads") == 0 ? "threads-per-worker"
                        : strcmp(k, "cuda_device") == 0 ? "backend"
                                                         : "backend");
        if (in_list(k, REQUEST_KEYS, sizeof REQUEST_KEYS / sizeof *REQUEST_KEYS)) continue;
        char probe[64];
        if (afx_params_get(&out->params, k, probe, sizeof probe) != AFX_OK)
            return fail(err, err_size, 400,
                        "unknown parameter \"%.64s\" (GET /v1/presets lists the afx_params fields a request may set)", k);
    }

    /* Base: a model, or a preset for a feature. */
    const char *model = kv_get(kv, "model"), *preset = kv_get(kv, "preset"), *feature = kv_get(kv, "feature");
    if (model && preset) return fail(err, err_size, 400, "give either model or preset, not both");
    if (model) {
        const serve_model *m = models ? serve_models_find(models, model) : NULL;
        if (!m) return fail(err, err_size, 404, "model \"%.64s\" is not served (GET /v2/repository/index lists them)", model);
        out->params = m->params;
    } else if (preset) {
        int pv = afx_enum_value(AFX_ENUM_PRESET, preset);
        if (pv < 0) return fail(err, err_size, 400, "preset=\"%.64s\": expected librosa, torchaudio, kaldi, whisper or tf", preset);
        int fv = AFX_FEATURE_LOGMEL;
        if (feature && (fv = afx_enum_value(AFX_ENUM_FEATURE, feature)) < 0)
            return fail(err, err_size, 400, "feature=\"%.64s\": expected spectrogram, mel, logmel, db or mfcc", feature);
        if (afx_params_preset(&out->params, (afx_preset)pv, (afx_feature)fv, aerr, sizeof aerr) != AFX_OK)
            return fail(err, err_size, 400, "%s", aerr);
    }

    /* Every field given by name overrides the base (feature included, which a preset already used). */
    for (size_t i = 0; i < kv->n; i++) {
        const char *k = kv->keys[i], *v = kv->values[i];
        if (in_list(k, REQUEST_KEYS, sizeof REQUEST_KEYS / sizeof *REQUEST_KEYS)) continue;
        if (strcmp(k, "feature") == 0 && preset) continue;
        if (afx_params_set(&out->params, k, v, aerr, sizeof aerr) != AFX_OK) return fail(err, err_size, 400, "%s", aerr);
    }

    const char *format = kv_get(kv, "format");
    if (format) {
        if (strcmp(format, "npy") == 0) out->format = SERVE_FORMAT_NPY;
        else if (strcmp(format, "json") == 0) out->format = SERVE_FORMAT_JSON;
        else return fail(err, err_size, 400, "format=\"%.64s\": expected npy or json", format);
    }
    const char *first = kv_get(kv, "first_clip_index");
    if (first) {
        char *end = NULL;
        errno = 0;
        unsigned long long u = strtoull(first, &end, 10);
        if (!isdigit((unsigned char)first[0]) || errno || *end != '\0')
            return fail(err, err_size, 400, "first_clip_index=\"%.64s\": expected an unsigned 64-bit integer", first);
        out->first_clip_index = (uint64_t)u;
    }

    afx_params *p = &out->params;
    p->backend = limits->backend;
    p->max_batch = limits->max_batch;
    p->cpu_threads = 1; /* the batcher sets the worker's value; keys must not depend on it */
    p->cuda_device = 0;
    p->max_samples = serve_max_samples(limits, p->sample_rate > 0 ? p->sample_rate : 1);
    if (p->fixed_length > p->max_samples)
        return fail(err, err_size, 400, "fixed_length=%" PRId64 " is longer than the server's limit of %" PRId64
                    " samples (%g s at %d Hz)", p->fixed_length, p->max_samples, limits->max_clip_seconds, p->sample_rate);
    out->key = serve_params_key(p);
    if (!out->key) return fail(err, err_size, 500, "out of memory");
    if (cache && cache_has(cache, out->key)) return 0;
    if (afx_params_validate(p, aerr, sizeof aerr) != AFX_OK) {
        free(out->key);
        out->key = NULL;
        return fail(err, err_size, 400, "%s", aerr);
    }
    if (cache) cache_add(cache, out->key);
    return 0;
}

char *serve_params_key(const afx_params *p)
{
    size_t cap = 2048, len = 0;
    char *key = malloc(cap);
    if (!key) return NULL;
    key[0] = '\0';
    for (int i = 0; afx_params_field_name(i); i++) {
        char v[128];
        const char *name = afx_params_field_name(i);
        if (afx_params_get(p, name, v, sizeof v) != AFX_OK) continue;
        size_t need = strlen(name) + strlen(v) + 3;
        if (len + need > cap) {
            char *k = realloc(key, cap * 2);
            if (!k) {
                free(key);
                return NULL;
            }
            key = k;
            cap *= 2;
        }
        len += (size_t)snprintf(key + len, cap - len, "%s=%s;", name, v);
    }
    return key;
}

/* ---------------------------------------------------------------------------------------------- */
/* KServe v2 infer requests                                                                       */
/* ---------------------------------------------------------------------------------------------- */

int serve_parse_size_header(const char *value, size_t max, size_t *out, const char *name, char *err, size_t err_size)
{
    const char *s = value;
    if (!s || !isdigit((unsigned char)*s))
        return fail(err, err_size, 400, "%s: \"%.40s\" is not a non-negative integer", name, value ? value : "");
    uint64_t v = 0;
    for (; isdigit((unsigned char)*s); s++) {
        if (v > (UINT64_MAX - 9) / 10) return fail(err, err_size, 400, "%s: \"%.40s\" is too large", name, value);
        v = v * 10 + (uint64_t)(*s - '0');
    }
    if (*s != '\0') return fail(err, err_size, 400, "%s: \"%.40s\" is not a non-negative integer", name, value);
    if (v > max) return fail(err, err_size, 400, "%s: %" PRIu64 " exceeds %zu", name, v, max);
    *out = (size_t)v;
    return 0;
}

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
    if (!json_is_object(in)) return fail(err, err_size, 400, "inputs[%zu] is not an object", index);
    const json_t *name = json_object_get(in, "name"), *dt = json_object_get(in, "datatype");
    const json_t *shape = json_object_get(in, "shape");
    if (!json_is_string(name)) return fail(err, err_size, 400, "inputs[%zu] has no string \"name\"", index);
    t->name = json_string_value(name);
    if (!json_is_string(dt)) return fail(err, err_size, 400, "input \"%.64s\" has no string \"datatype\"", t->name);
    t->type = parse_dtype(json_string_value(dt));
    if (t->type == DT_NONE)
        return fail(err, err_size, 400, "input \"%.64s\": datatype \"%.16s\" is not one of FP32, FP64, INT16, INT32, INT64",
                    t->name, json_string_value(dt));
    if (!json_is_array(shape) || json_array_size(shape) < 1 || json_array_size(shape) > 2)
        return fail(err, err_size, 400, "input \"%.64s\": \"shape\" must be an array of 1 or 2 integers", t->name);
    t->ndim = (int)json_array_size(shape);
    t->count = 1;
    for (int d = 0; d < t->ndim; d++) {
        const json_t *v = json_array_get(shape, (size_t)d);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > ((json_int_t)1 << 40))
            return fail(err, err_size, 400, "input \"%.64s\": shape[%d] must be an integer in 0..2^40", t->name, d);
        t->shape[d] = (int64_t)json_integer_value(v);
        if (t->shape[d] != 0 && t->count > ((uint64_t)1 << 40) / (uint64_t)t->shape[d])
            return fail(err, err_size, 400, "input \"%.64s\": shape has more than 2^40 elements", t->name);
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
            return fail(err, err_size, 400, "input \"%.64s\": \"parameters\" must be an object", t[i].name);
        if (bsize) {
            if (data) return fail(err, err_size, 400, "input \"%.64s\" has both \"data\" and binary_data_size", t[i].name);
            if (!json_is_integer(bsize) || json_integer_value(bsize) < 0)
                return fail(err, err_size, 400, "input \"%.64s\": binary_data_size must be a non-negative integer", t[i].name);
            uint64_t size = (uint64_t)json_integer_value(bsize);
            if (size != t[i].count * dtype_size(t[i].type))
                return fail(err, err_size, 400,
                            "input \"%.64s\": binary_data_size %" PRIu64 " != %" PRIu64 " elements x %zu bytes of the shape",
                            t[i].name, size, t[i].count, dtype_size(t[i].type));
            if (size > bin_size - at)
                return fail(err, err_size, 400, "input \"%.64s\": binary data truncated (%" PRIu64 " bytes wanted, %zu left)",
                            t[i].name, size, bin_size - at);
            t[i].binary = bin + at;
            at += (size_t)size;
        } else {
            if (!data) return fail(err, err_size, 400, "input \"%.64s\" has neither \"data\" nor binary_data_size", t[i].name);
            int64_t k = count_numbers(data, 0);
            if (k < 0 || !json_is_array(data))
                return fail(err, err_size, 400, "input \"%.64s\": \"data\" must be an array of numbers (nested at most 4 deep)",
                            t[i].name);
            if ((uint64_t)k != t[i].count)
                return fail(err, err_size, 400, "input \"%.64s\": \"data\" has %" PRId64 " numbers, the shape says %" PRIu64,
                            t[i].name, k, t[i].count);
            t[i].data = data;
        }
    }
    if (at != bin_size)
        return fail(err, err_size, 400, "%zu bytes of binary data follow the inputs' binary_data_size total of %zu",
                    bin_size - at, at);
    return 0;
}

/* Values of a tensor as doubles when its data is JSON (NULL for binary data). 500 out of memory. */
static int json_values(const tensor *t, double **out, char *err, size_t err_size)
{
    *out = NULL;
    if (!t->data) return 0;
    *out = malloc((size_t)(t->count ? t->count : 1) * sizeof(double));
    if (!*out) return fail(err, err_size, 500, "out of memory for input \"%.64s\"", t->name);
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
    if (!json_is_array(outputs)) return fail(err, err_size, 400, "\"outputs\" must be an array");
    for (size_t i = 0; i < json_array_size(outputs); i++) {
        const json_t *o = json_array_get(outputs, i);
        const json_t *name = json_is_object(o) ? json_object_get(o, "name") : NULL;
        if (!json_is_string(name)) return fail(err, err_size, 400, "outputs[%zu] has no string \"name\"", i);
        const json_t *params = json_object_get(o, "parameters");
        if (params && !json_is_object(params))
            return fail(err, err_size, 400, "outputs[%zu]: \"parameters\" must be an object", i);
        const json_t *bd = params ? json_object_get(params, "binary_data") : NULL;
        if (bd && !json_is_boolean(bd))
            return fail(err, err_size, 400, "outputs[%zu]: binary_data must be true or false", i);
        int binary = bd ? json_is_true(bd) : binary_default;
        const char *n = json_string_value(name);
        if (strcmp(n, "features") == 0) {
            r->want_features = 1;
            r->binary_features = binary;
        } else if (strcmp(n, "n_frames") == 0) {
            r->want_n_frames = 1;
            r->binary_n_frames = binary;
        } else {
            return fail(err, err_size, 400, "output \"%.64s\" does not exist (features, n_frames)", n);
        }
    }
    if (!r->want_features && !r->want_n_frames) return fail(err, err_size, 400, "\"outputs\" is empty");
    return 0;
}

/* Reads the request-level "parameters". */
static int parse_request_parameters(const json_t *root, int *binary_default, serve_infer_request *r, char *err,
                                    size_t err_size)
{
    const json_t *params = json_object_get(root, "parameters");
    if (!params) return 0;
    if (!json_is_object(params)) return fail(err, err_size, 400, "request \"parameters\" must be an object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)params, key, v) {
        if (strcmp(key, "binary_data_output") == 0) {
            if (!json_is_boolean(v)) return fail(err, err_size, 400, "binary_data_output must be true or false");
            *binary_default = json_is_true(v);
        } else if (strcmp(key, "sample_rate") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < RATE_MIN || json_integer_value(v) > RATE_MAX)
                return fail(err, err_size, 400, "sample_rate must be an integer in %d..%d Hz", RATE_MIN, RATE_MAX);
            r->sample_rate = (int)json_integer_value(v);
        } else if (strcmp(key, "first_clip_index") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 0)
                return fail(err, err_size, 400, "first_clip_index must be a non-negative integer");
            r->first_clip_index = (uint64_t)json_integer_value(v);
        } else if (strcmp(key, "sequence_id") == 0 || strcmp(key, "priority") == 0 || strcmp(key, "timeout") == 0 ||
                   strcmp(key, "headers") == 0) {
            /* Triton's standard request parameters: accepted and without effect here */
        } else {
            return fail(err, err_size, 400,
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
    if (b < 1) return fail(err, err_size, 400, "input \"waveform\": the batch is empty");
    if (b > max_batch)
        return fail(err, err_size, 400, "input \"waveform\": batch of %" PRId64 " exceeds max_batch_size %d", b, max_batch);
    if (wave->type != DT_FP32 && wave->type != DT_FP64 && wave->type != DT_INT16)
        return fail(err, err_size, 400, "input \"waveform\": datatype must be FP32, FP64 or INT16");
    if (lens) {
        if (lens->type != DT_INT32 && lens->type != DT_INT64)
            return fail(err, err_size, 400, "input \"lengths\": datatype must be INT32 or INT64");
        if (lens->count != (uint64_t)b)
            return fail(err, err_size, 400, "input \"lengths\" has %" PRIu64 " values for a batch of %" PRId64, lens->count, b);
    }
    double *wv = NULL, *lv = NULL;
    int st = json_values(wave, &wv, err, err_size);
    if (st == 0 && lens) st = json_values(lens, &lv, err, err_size);
    if (st == 0) {
        r->n_clips = (int)b;
        r->clip_stride = n;
        r->samples = malloc((size_t)(b * n > 0 ? b * n : 1) * sizeof(float));
        r->lengths = malloc((size_t)b * sizeof(int64_t));
        if (!r->samples || !r->lengths) st = fail(err, err_size, 500, "out of memory for the waveform");
    }
    for (int64_t c = 0; st == 0 && c < b; c++) {
        double len = lens ? element(lens, lv, (uint64_t)c) : (double)n;
        if (!(len >= 0 && len <= (double)n))
            st = fail(err, err_size, 400, "lengths[%" PRId64 "] = %.0f is outside 0..%" PRId64, c, len, n);
        else r->lengths[c] = (int64_t)len;
    }
    const float scale = 1.0f / 32768.0f; /* afx's int16 conversion (afx.h AFX_SAMPLE_S16) */
    for (uint64_t i = 0; st == 0 && i < (uint64_t)(b * n); i++) {
        double v = element(wave, wv, i);
        if (wave->type == DT_INT16) {
            if (wave->data && (v != floor(v) || v < -32768.0 || v > 32767.0)) {
                st = fail(err, err_size, 400, "input \"waveform\": INT16 value %.17g at element %" PRIu64 " is out of range", v, i);
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
    if (json_len == 0) return fail(err, err_size, 400, "the request has no JSON header");
    json_error_t je;
    json_t *root = json_loadb((const char *)body, json_len, JSON_REJECT_DUPLICATES, &je);
    if (!root) return fail(err, err_size, 400, "invalid JSON at line %d column %d: %s", je.line, je.column, je.text);

    int st = 0;
    tensor t[2];
    size_t n_inputs = 0;
    const json_t *inputs = json_object_get(root, "inputs");
    const json_t *id = json_object_get(root, "id");
    int binary_default = 0;
    if (!json_is_object(root)) st = fail(err, err_size, 400, "the request is not a JSON object");
    else if (id && !json_is_string(id)) st = fail(err, err_size, 400, "\"id\" must be a string");
    else if (!json_is_array(inputs) || json_array_size(inputs) == 0)
        st = fail(err, err_size, 400, "\"inputs\" must be a non-empty array");
    else if (json_array_size(inputs) > 2)
        st = fail(err, err_size, 400, "%zu inputs: the model takes \"waveform\" and optionally \"lengths\"", json_array_size(inputs));
    if (st == 0) {
        n_inputs = json_array_size(inputs);
        for (size_t i = 0; st == 0 && i < n_inputs; i++) st = parse_tensor(json_array_get(inputs, i), i, &t[i], err, err_size);
    }
    const tensor *wave = NULL, *lens = NULL;
    for (size_t i = 0; st == 0 && i < n_inputs; i++) {
        const tensor **slot = strcmp(t[i].name, "waveform") == 0 ? &wave : strcmp(t[i].name, "lengths") == 0 ? &lens : NULL;
        if (!slot) st = fail(err, err_size, 400, "input \"%.64s\" does not exist (waveform, lengths)", t[i].name);
        else if (*slot) st = fail(err, err_size, 400, "input \"%.64s\" is given twice", t[i].name);
        else *slot = &t[i];
    }
    if (st == 0 && !wave) st = fail(err, err_size, 400, "input \"waveform\" is missing");
    if (st == 0 && lens && lens->ndim != 1) st = fail(err, err_size, 400, "input \"lengths\" must have shape [B]");
    if (st == 0) st = attach_data(inputs, t, n_inputs, body + json_len, size - json_len, err, err_size);
    if (st == 0) st = parse_request_parameters(root, &binary_default, r, err, err_size);
    if (st == 0) st = parse_outputs(root, binary_default, r, err, err_size);
    if (st == 0 && id) {
        const char *s = json_string_value(id);
        size_t n = strlen(s);
        if (n > 256) st = fail(err, err_size, 400, "\"id\" is longer than 256 bytes");
        else if (!(r->id = malloc(n + 1))) st = fail(err, err_size, 500, "out of memory");
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
