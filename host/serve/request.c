/*
 * request.c: media types and request parameters (see request.h; infer.c reads KServe v2 infer requests). Pure code:
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

int serve_fail(char *err, size_t err_size, int status, const char *fmt, ...)
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
        return serve_fail(err, err_size, 415, "Content-Type \"%.80s\" is not a media type", ct);
    const char *type = s;
    const char *sub = s + tn + 1;
    size_t sn = token_len(sub);
    if (sn == 0) return serve_fail(err, err_size, 415, "Content-Type \"%.80s\" has no subtype", ct);
    s = skip_space(sub + sn);

    int is_l16 = word_is(type, tn, "audio") && word_is(sub, sn, "l16");
    int is_raw = word_is(type, tn, "audio") && word_is(sub, sn, "x-raw");
    /* curl --data-binary and urllib send application/x-www-form-urlencoded unless told otherwise: such a
     * body is taken for the file it almost always is (libsndfile refuses it if it is not audio). */
    int is_file = word_is(type, tn, "audio") ||
                  (word_is(type, tn, "application") &&
                   (word_is(sub, sn, "octet-stream") || word_is(sub, sn, "x-www-form-urlencoded")));
    if (!is_l16 && !is_raw && !is_file)
        return serve_fail(err, err_size, 415,
                    "Content-Type \"%.80s\" is not accepted: send an audio file (application/octet-stream or "
                    "audio/*), raw PCM (audio/L16; rate=R or audio/x-raw; format=S16LE|F32LE; rate=R), or "
                    "multipart/form-data with an 'audio' part",
                    ct);

    long rate = 0, channels = 1;
    int have_rate = 0, have_format = 0;
    serve_pcm pcm = is_l16 ? SERVE_PCM_S16BE : SERVE_PCM_NONE;
    char value[64];
    while (*s) {
        if (*s != ';') return serve_fail(err, err_size, 400, "Content-Type \"%.80s\": expected ';' before parameters", ct);
        s = skip_space(s + 1);
        if (*s == '\0') break; /* a trailing ';' is tolerated */
        size_t nn = token_len(s);
        if (nn == 0 || s[nn] != '=')
            return serve_fail(err, err_size, 400, "Content-Type \"%.80s\": malformed parameter", ct);
        const char *name = s;
        s += nn + 1;
        size_t vn = 0;
        if (*s == '"') {
            s++;
            while (s[vn] && s[vn] != '"') vn++;
            if (s[vn] != '"') return serve_fail(err, err_size, 400, "Content-Type \"%.80s\": unterminated quote", ct);
            if (vn >= sizeof value) return serve_fail(err, err_size, 400, "Content-Type parameter value too long");
            memcpy(value, s, vn);
            value[vn] = '\0';
            s += vn + 1;
        } else {
            vn = token_len(s);
            if (vn >= sizeof value) return serve_fail(err, err_size, 400, "Content-Type parameter value too long");
            memcpy(value, s, vn);
            value[vn] = '\0';
            s += vn;
        }
        s = skip_space(s);
        if (!is_l16 && !is_raw) continue; /* parameters of file types (codecs=...) are libsndfile's business */
        if (word_is(name, nn, "rate")) {
            if (have_rate || !int_value(value, RATE_MIN, RATE_MAX, &rate))
                return serve_fail(err, err_size, 400, "Content-Type rate=\"%s\": expected one integer in %d..%d Hz", value,
                            RATE_MIN, RATE_MAX);
            have_rate = 1;
        } else if (word_is(name, nn, "channels")) {
            if (!int_value(value, 1, CHANNELS_MAX, &channels))
                return serve_fail(err, err_size, 400, "Content-Type channels=\"%s\": expected an integer in 1..%d", value,
                            CHANNELS_MAX);
        } else if (is_raw && word_is(name, nn, "format")) {
            if (word_is(value, strlen(value), "s16le")) pcm = SERVE_PCM_S16LE;
            else if (word_is(value, strlen(value), "s16be")) pcm = SERVE_PCM_S16BE;
            else if (word_is(value, strlen(value), "f32le")) pcm = SERVE_PCM_F32LE;
            else
                return serve_fail(err, err_size, 415, "Content-Type format=\"%s\": expected S16LE, S16BE or F32LE", value);
            have_format = 1;
        } else if (word_is(name, nn, "layout") && word_is(value, strlen(value), "interleaved")) {
            /* GStreamer's only layout we take */
        } else {
            return serve_fail(err, err_size, 400, "Content-Type parameter \"%.*s\" is not known (rate, channels%s)", (int)nn,
                        name, is_raw ? ", format" : "");
        }
    }
    if (!is_l16 && !is_raw) return 0;
    if (is_raw && !have_format)
        return serve_fail(err, err_size, 400, "Content-Type audio/x-raw needs format=S16LE, S16BE or F32LE");
    if (!have_rate) return serve_fail(err, err_size, 400, "Content-Type %.*s/%.*s needs rate=HZ", (int)tn, type, (int)sn, sub);
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
    if (kv->n >= SERVE_KV_MAX) return serve_fail(err, err_size, 413, "more than %d parameters", SERVE_KV_MAX);
    if (kv->n == kv->cap) {
        size_t cap = kv->cap ? 2 * kv->cap : 16;
        char **k = realloc(kv->keys, cap * sizeof *k);
        if (!k) return serve_fail(err, err_size, 500, "out of memory");
        kv->keys = k;
        char **v = realloc(kv->values, cap * sizeof *v);
        if (!v) return serve_fail(err, err_size, 500, "out of memory");
        kv->values = v;
        kv->cap = cap;
    }
    char *k = dup_text(key), *v = dup_text(value);
    if (!k || !v) {
        free(k);
        free(v);
        return serve_fail(err, err_size, 500, "out of memory");
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
    if (!root) return serve_fail(err, err_size, 400, "%s: invalid JSON at line %d column %d: %s", what, je.line, je.column, je.text);
    int st = 0;
    if (!json_is_object(root)) {
        st = serve_fail(err, err_size, 400, "%s: expected a JSON object of parameters", what);
    } else {
        const char *key;
        json_t *v;
        json_object_foreach(root, key, v) {
            char buf[256];
            if (json_scalar_text(v, buf, sizeof buf) != 0) {
                st = serve_fail(err, err_size, 400, "%s: parameter \"%.64s\" must be a string, number or boolean", what, key);
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
            if (strcmp(kv->keys[j], k) == 0) return serve_fail(err, err_size, 400, "parameter \"%.64s\" is given twice", k);
        if (in_list(k, SERVER_FIELDS, sizeof SERVER_FIELDS / sizeof *SERVER_FIELDS))
            return serve_fail(err, err_size, 400, "parameter \"%s\" is set by the server (afx serve --%s), not by a request", k,
                        strcmp(k, "max_samples") == 0 ? "max-clip-seconds"
                        : strcmp(k, "max_batch") == 0 ? "max-batch"
                        : strcmp(k, "cpu_threads") == 0 ? "threads-per-worker"
                        : strcmp(k, "cuda_device") == 0 ? "backend"
                                                         : "backend");
        if (in_list(k, REQUEST_KEYS, sizeof REQUEST_KEYS / sizeof *REQUEST_KEYS)) continue;
        char probe[64];
        if (afx_params_get(&out->params, k, probe, sizeof probe) != AFX_OK)
            return serve_fail(err, err_size, 400,
                        "unknown parameter \"%.64s\" (GET /v1/presets lists the afx_params fields a request may set)", k);
    }

    /* Base: a model, or a preset for a feature. */
    const char *model = kv_get(kv, "model"), *preset = kv_get(kv, "preset"), *feature = kv_get(kv, "feature");
    if (model && preset) return serve_fail(err, err_size, 400, "give either model or preset, not both");
    if (model) {
        const serve_model *m = models ? serve_models_find(models, model) : NULL;
        if (!m) return serve_fail(err, err_size, 404, "model \"%.64s\" is not served (GET /v2/repository/index lists them)", model);
        out->params = m->params;
    } else if (preset) {
        int pv = afx_enum_value(AFX_ENUM_PRESET, preset);
        if (pv < 0) return serve_fail(err, err_size, 400, "preset=\"%.64s\": expected librosa, torchaudio, kaldi, whisper or tf", preset);
        int fv = AFX_FEATURE_LOGMEL;
        if (feature && (fv = afx_enum_value(AFX_ENUM_FEATURE, feature)) < 0)
            return serve_fail(err, err_size, 400, "feature=\"%.64s\": expected spectrogram, mel, logmel, db or mfcc", feature);
        if (afx_params_preset(&out->params, (afx_preset)pv, (afx_feature)fv, aerr, sizeof aerr) != AFX_OK)
            return serve_fail(err, err_size, 400, "%s", aerr);
    }

    /* Every field given by name overrides the base (feature included, which a preset already used). */
    for (size_t i = 0; i < kv->n; i++) {
        const char *k = kv->keys[i], *v = kv->values[i];
        if (in_list(k, REQUEST_KEYS, sizeof REQUEST_KEYS / sizeof *REQUEST_KEYS)) continue;
        if (strcmp(k, "feature") == 0 && preset) continue;
        if (afx_params_set(&out->params, k, v, aerr, sizeof aerr) != AFX_OK) return serve_fail(err, err_size, 400, "%s", aerr);
    }

    const char *format = kv_get(kv, "format");
    if (format) {
        if (strcmp(format, "npy") == 0) out->format = SERVE_FORMAT_NPY;
        else if (strcmp(format, "json") == 0) out->format = SERVE_FORMAT_JSON;
        else return serve_fail(err, err_size, 400, "format=\"%.64s\": expected npy or json", format);
    }
    const char *first = kv_get(kv, "first_clip_index");
    if (first) {
        char *end = NULL;
        errno = 0;
        unsigned long long u = strtoull(first, &end, 10);
        if (!isdigit((unsigned char)first[0]) || errno || *end != '\0')
            return serve_fail(err, err_size, 400, "first_clip_index=\"%.64s\": expected an unsigned 64-bit integer", first);
        out->first_clip_index = (uint64_t)u;
    }

    afx_params *p = &out->params;
    p->backend = limits->backend;
    p->max_batch = limits->max_batch;
    p->cpu_threads = 1; /* the batcher sets the worker's value; keys must not depend on it */
    p->cuda_device = 0;
    p->max_samples = serve_max_samples(limits, p->sample_rate > 0 ? p->sample_rate : 1);
    if (p->fixed_length > p->max_samples)
        return serve_fail(err, err_size, 400, "fixed_length=%" PRId64 " is longer than the server's limit of %" PRId64
                    " samples (%g s at %d Hz)", p->fixed_length, p->max_samples, limits->max_clip_seconds, p->sample_rate);
    out->key = serve_params_key(p);
    if (!out->key) return serve_fail(err, err_size, 500, "out of memory");
    if (cache && cache_has(cache, out->key)) return 0;
    if (afx_params_validate(p, aerr, sizeof aerr) != AFX_OK) {
        free(out->key);
        out->key = NULL;
        return serve_fail(err, err_size, 400, "%s", aerr);
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

int serve_parse_size_header(const char *value, size_t max, size_t *out, const char *name, char *err, size_t err_size)
{
    const char *s = value;
    if (!s || !isdigit((unsigned char)*s))
        return serve_fail(err, err_size, 400, "%s: \"%.40s\" is not a non-negative integer", name, value ? value : "");
    uint64_t v = 0;
    for (; isdigit((unsigned char)*s); s++) {
        if (v > (UINT64_MAX - 9) / 10) return serve_fail(err, err_size, 400, "%s: \"%.40s\" is too large", name, value);
        v = v * 10 + (uint64_t)(*s - '0');
    }
    if (*s != '\0') return serve_fail(err, err_size, 400, "%s: \"%.40s\" is not a non-negative integer", name, value);
    if (v > max) return serve_fail(err, err_size, 400, "%s: %" PRIu64 " exceeds %zu", name, v, max);
    *out = (size_t)v;
    return 0;
}
