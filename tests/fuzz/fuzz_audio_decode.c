/*
 * fuzz_audio_decode.c: libFuzzer target for decoding from memory (afx_audio_load_memory and the
 * reusable decoder), with the options of include/afx_audio.h varied per input.
 *
 * The input is the file's bytes, whole: the container sniffing, libsndfile's and libmpg123's parsers
 * and the resampler see exactly what an upload would give them. Beyond "no crash, no leak, no UB"
 * (ASan/UBSan/LSan), each load must keep the documented contract, checked here with __builtin_trap():
 *   - a failure returns a known status, a zeroed clip and a message naming the input;
 *   - a success returns sane fields, exactly one sample buffer as sample_format says, only finite
 *     float samples, within max_samples;
 *   - the reusable decoder gives exactly the one-shot result (status, message and samples).
 * Limits keep every case small: 2 minutes, 2^16 samples per channel, a 64 KB input cap by the runner.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "afx_audio.h"

#define NAME "fuzz-input"

static afx_audio_decoder *g_dec;

static void check(int ok)
{
    if (!ok) __builtin_trap();
}

static size_t elem_count(const afx_audio_clip *c) { return (size_t)c->n_samples * (size_t)c->n_channels; }

static void check_clip(afx_status st, const afx_audio_clip *c, const char *err, const afx_audio_options *o)
{
    check(st >= AFX_OK && st <= AFX_ERR_INTERNAL);
    if (st != AFX_OK) {
        check(c->samples == NULL && c->samples_s16 == NULL && c->n_samples == 0 && c->n_channels == 0);
        check(strncmp(err, NAME ": ", strlen(NAME) + 2) == 0);
        return;
    }
    check(c->n_samples >= 0 && c->n_channels >= 1 && c->n_channels <= 65536);
    check(c->source_rate >= 1 && c->source_channels >= 1);
    check(c->sample_rate == (o->target_rate ? o->target_rate : c->source_rate));
    check(o->max_samples == 0 || c->n_samples <= o->max_samples);
    if (c->n_samples == 0) {
        check(c->samples == NULL && c->samples_s16 == NULL);
        return;
    }
    if (c->sample_format == AFX_SAMPLE_S16) {
        check(o->keep_int16 && c->samples == NULL && c->samples_s16 != NULL);
        check(c->n_channels == c->source_channels);
        return;
    }
    check(c->sample_format == AFX_SAMPLE_F32 && c->samples != NULL && c->samples_s16 == NULL);
    check(c->n_channels == (o->downmix ? 1 : c->source_channels));
    for (size_t i = 0; i < elem_count(c); ++i) check(isfinite(c->samples[i]));
}

static void run(const uint8_t *data, size_t size, const afx_audio_options *o)
{
    char err[AFX_ERROR_MAX] = "", err2[AFX_ERROR_MAX] = "";
    afx_audio_clip once, lent;
    const afx_status st = afx_audio_load_memory(data, size, NAME, o, &once, err, sizeof err);
    check_clip(st, &once, err, o);
    const afx_status st2 = afx_audio_decoder_load_memory(g_dec, data, size, NAME, o, &lent, err2, sizeof err2);
    check_clip(st2, &lent, err2, o);
    check(st == st2 && strcmp(err, err2) == 0 && once.n_samples == lent.n_samples &&
          once.n_channels == lent.n_channels && once.sample_format == lent.sample_format);
    if (st == AFX_OK && once.n_samples > 0) {
        const size_t bytes = elem_count(&once) * (once.sample_format == AFX_SAMPLE_S16 ? 2 : 4);
        check(memcmp(once.samples ? (const void *)once.samples : (const void *)once.samples_s16,
                     lent.samples ? (const void *)lent.samples : (const void *)lent.samples_s16, bytes) == 0);
    }
    afx_audio_clip_free(&once);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_dec && afx_audio_decoder_create(&g_dec, NULL, 0) != AFX_OK) __builtin_trap();
    if (size == 0) data = (const uint8_t *)""; /* the API refuses a NULL buffer, an empty one is fine */
    static const struct { int target, downmix, keep_int16; double offset, duration; int64_t max_samples; int threads; } V[] = {
        {16000, 1, 0, 0.0, 0.0, 1 << 20, 2},  /* the CLI's defaults (a header of 30-65 s: the helper thread) */
        {0, 0, 1, 0.0, 0.0, 1 << 16, 1},      /* native rate and channels, int16 when possible */
        {22050, 1, 0, 0.01, 0.05, 1 << 20, 1},/* a window */
        {8000, 0, 0, 0.0, 0.0, 1 << 16, 1},   /* resampled, channels kept */
    };
    for (size_t k = 0; k < sizeof V / sizeof V[0]; ++k) {
        afx_audio_options o;
        afx_audio_options_init(&o);
        o.target_rate = V[k].target;
        o.downmix = V[k].downmix;
        o.keep_int16 = V[k].keep_int16;
        o.offset_seconds = V[k].offset;
        o.duration_seconds = V[k].duration;
        o.max_samples = V[k].max_samples;
        o.threads = V[k].threads;
        o.max_duration_seconds = 120.0;
        run(data, size, &o);
    }
    return 0;
}
