/*
 * fuzz_serve_request.c: libFuzzer target over the request parsers of `afx serve` (host/serve/request.h,
 * models.h), the code that reads what a network client sends before any audio is decoded.
 *
 * The first input byte picks the parser, the rest is its input:
 *   0  Content-Type header             serve_parse_media_type
 *   1  query string "k=v&k=v..."       serve_kv_add + serve_request_params (params by name, presets, models)
 *   2  JSON parameters object          serve_kv_add_json + serve_request_params
 *   3  infer request, JSON only        serve_parse_infer
 *   4  infer request, binary extension serve_parse_infer; the next 2 bytes (little-endian) are the
 *                                      Inference-Header-Content-Length, given as decimal text
 *   5  models file                     serve_models_load_json
 * On success the results are checked against the parsers' documented guarantees (a violation traps).
 *
 * Build: scripts/fuzz (tests/fuzz/fuzz_serve_request.cmake adds the parsers to the target); or by hand:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Ihost/serve tests/fuzz/fuzz_serve_request.c \
 *     host/serve/request.c host/serve/infer.c host/serve/models.c build/libafx.a -lkissfft-float -lsndfile -lsoxr \
 *     -ljansson -lm \
 *     -o fuzz_serve_request && ./fuzz_serve_request -max_total_time=60 tests/fuzz/corpus/serve_request
 */
#define _POSIX_C_SOURCE 200809L /* strtok_r */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "models.h"
#include "request.h"

#define CHECK(cond) \
    do {            \
        if (!(cond)) __builtin_trap(); \
    } while (0)

static const serve_limits LIMITS = {AFX_BACKEND_CPU, 8, 30.0};
static serve_models builtin;
static serve_valid_cache *cache; /* shared across inputs, as in the server: a cached key must not skip a check */

/* A NUL-terminated copy (the parsers take C strings there). */
static char *text(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) return NULL;
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

static void check_opts(int st, const serve_request_opts *o)
{
    char err[AFX_ERROR_MAX];
    if (st != 0) return;
    CHECK(afx_params_validate(&o->params, err, sizeof err) == AFX_OK);
    CHECK(o->params.max_batch == LIMITS.max_batch && o->params.backend == LIMITS.backend);
    CHECK(o->format == SERVE_FORMAT_NPY || o->format == SERVE_FORMAT_JSON);
    char *key = serve_params_key(&o->params);
    CHECK(key != NULL && o->key != NULL && strcmp(key, o->key) == 0);
    free(key);
    free(o->key);
}

static void query(const uint8_t *data, size_t size)
{
    char *s = text(data, size), err[SERVE_ERR_MAX];
    if (!s) return;
    serve_kv kv = {0};
    int st = 0;
    for (char *save = NULL, *pair = strtok_r(s, "&", &save); pair && st == 0; pair = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(pair, '=');
        if (eq) *eq = '\0';
        st = serve_kv_add(&kv, pair, eq ? eq + 1 : NULL, err, sizeof err);
    }
    serve_request_opts o;
    if (st == 0) check_opts(serve_request_params(&builtin, &kv, &LIMITS, cache, &o, err, sizeof err), &o);
    serve_kv_free(&kv);
    free(s);
}

static void infer(const uint8_t *data, size_t size, const char *header_length)
{
    serve_infer_request r;
    char err[SERVE_ERR_MAX];
    if (serve_parse_infer(data, size, header_length, LIMITS.max_batch, &r, err, sizeof err) != 0) {
        CHECK(r.samples == NULL && r.lengths == NULL && r.id == NULL);
        return;
    }
    CHECK(r.n_clips >= 1 && r.n_clips <= LIMITS.max_batch && r.clip_stride >= 0);
    CHECK(r.want_features || r.want_n_frames);
    volatile float sink = 0;
    for (int c = 0; c < r.n_clips; c++) {
        CHECK(r.lengths[c] >= 0 && r.lengths[c] <= r.clip_stride);
        for (int64_t i = 0; i < r.lengths[c]; i++) sink += r.samples[(size_t)c * (size_t)r.clip_stride + (size_t)i];
    }
    (void)sink;
    serve_infer_request_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (builtin.n == 0) CHECK(serve_models_add_builtin(&builtin, &LIMITS, NULL, 0) == 0);
    if (!cache) CHECK((cache = serve_valid_cache_create()) != NULL);
    if (size < 1) return 0;
    const int which = data[0] % 6;
    data++;
    size--;
    char err[SERVE_ERR_MAX];
    switch (which) {
    case 0: {
        char *s = text(data, size);
        serve_media m;
        if (s && serve_parse_media_type(s, &m, err, sizeof err) == 0 && m.pcm != SERVE_PCM_NONE)
            CHECK(m.rate >= 1000 && m.rate <= 1000000 && m.channels >= 1 && m.channels <= 64);
        free(s);
        break;
    }
    case 1: query(data, size); break;
    case 2: {
        serve_kv kv = {0};
        serve_request_opts o;
        if (serve_kv_add_json(&kv, (const char *)data, size, "fuzz", err, sizeof err) == 0)
            check_opts(serve_request_params(&builtin, &kv, &LIMITS, cache, &o, err, sizeof err), &o);
        serve_kv_free(&kv);
        break;
    }
    case 3: infer(data, size, NULL); break;
    case 4: {
        if (size < 2) return 0;
        char hl[16];
        snprintf(hl, sizeof hl, "%u", (unsigned)(data[0] | (data[1] << 8)));
        infer(data + 2, size - 2, hl);
        break;
    }
    case 5: {
        serve_models m = {0};
        if (serve_models_load_json(&m, (const char *)data, size, "fuzz", &LIMITS, err, sizeof err) == 0)
            for (int i = 0; i < m.n; i++) CHECK(serve_model_name_ok(m.items[i].name));
        serve_models_free(&m);
        break;
    }
    }
    return 0;
}
