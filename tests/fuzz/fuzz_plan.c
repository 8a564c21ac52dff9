/*
 * fuzz_plan.c: libFuzzer target for parameters by name, plan creation and execution (CPU backend).
 *
 * The input is read as a small program:
 *   byte 0            number of afx_params_set calls (0..15)
 *   per call          field (byte, index into afx_params_field_name), value kind (byte), value bytes:
 *                     kind 0: a word from a list of edge values and enum spellings (1 byte)
 *                     kind 1: an integer (4 bytes)  kind 2: a float32 bit pattern (4 bytes)
 *                     kind 3: a small signed integer (1 byte)
 *   then              sample format (byte: f32 or s16), channels (1..3), clips (1..max_batch), and the
 *                     rest of the bytes as samples (any float bit pattern: NaN, Inf, 1e38 ...), cut into
 *                     clips at lengths taken from the first bytes.
 * Sizes are capped after the calls so that one input runs in milliseconds (max_batch <= 4,
 * max_samples <= 8192, n_fft <= 2048, cpu_threads <= 3, frames x n_fft bounded), and the backend is the CPU.
 *
 * Contracts checked (abort() = a finding): every status is a valid afx_status; validation and plan creation
 * agree; on AFX_OK every n_frames is the frame count afx_plan_output_shape gave and every output value is
 * finite (float32, float16 and bfloat16 alike); on AFX_ERR_INVALID_INPUT every n_frames is that count or -1 and a refused clip's slot
 * is all zero; nothing is written past the output buffer (guard bytes; ASan checks the rest).
 *
 * Build by hand (the fuzz CMake option and scripts/fuzz build every tests/fuzz/fuzz_*.c the same way):
 *   clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Ihost -Ikernels \
 *     $(pkg-config --cflags kissfft-float) host/afx.c host/plan.c host/params_text.c host/presets.c \
 *     host/cpu/cpu_backend.c host/cpu/cpu_frames.c host/cpu/cpu_fft.c host/cpu/cpu_pool.c tests/fuzz/fuzz_plan.c $(pkg-config --libs kissfft-float) -lm -lpthread -o fuzz_plan
 *   ./fuzz_plan -max_total_time=60 tests/fuzz/corpus/plan
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "afx.h"

typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader;

static uint8_t u8(reader *r) {
    if (!r->n) return 0;
    r->n--;
    return *r->p++;
}

static uint32_t u32(reader *r) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)u8(r) << (8 * i);
    return v;
}

static const char *const words[] = {
    "0", "1", "-1", "2", "3", "7", "8", "16", "100", "255", "256", "257", "400", "511", "512", "1000", "2048",
    "4096", "65536", "65537", "32768", "1048576", "1048577", "0.5", "0.97", "1.5", "8.000001", "1e-45", "1e-30",
    "1e10", "1e30", "3e38", "-3e38", "1e38", "inf", "-inf", "nan", "true", "false", "4294967296",
    "9223372036854775807", "-9223372036854775808", "18446744073709551615", "0x10", "", " 1", "1 ", "hann",
    "hamming", "povey", "blackman", "rectangular", "reflect", "constant", "htk", "slaney", "kaldi", "none",
    "ln", "log10", "db", "utterance", "feature", "minmax", "zero", "mean", "meanstd", "ft", "tf", "ortho",
    "f32", "f16", "bf16", "cpu", "cuda", "auto", "spectrogram", "mel", "logmel", "mfcc", "librosa",
};
#define N_WORDS (sizeof words / sizeof words[0])

static int n_fields(void) {
    int n = 0;
    while (afx_params_field_name(n)) n++;
    return n;
}

static void set_field(afx_params *p, reader *r, int count) {
    const char *name = afx_params_field_name(u8(r) % count);
    char text[64];
    switch (u8(r) % 4) {
    case 0: snprintf(text, sizeof text, "%s", words[u8(r) % N_WORDS]); break;
    case 1: snprintf(text, sizeof text, "%d", (int32_t)u32(r)); break;
    case 2: {
        uint32_t bits = u32(r);
        float f;
        memcpy(&f, &bits, sizeof f);
        snprintf(text, sizeof text, "%.9g", (double)f);
        break;
    }
    default: snprintf(text, sizeof text, "%d", (int)(int8_t)u8(r)); break;
    }
    char err[AFX_ERROR_MAX];
    afx_status st = afx_params_set(p, name, text, err, sizeof err);
    if (st != AFX_OK && st != AFX_ERR_INVALID_PARAM) abort();
}

/* Keeps one input in the milliseconds (the values the calls chose are otherwise left alone). */
static void cap_sizes(afx_params *p) {
    p->backend = AFX_BACKEND_CPU;
    if (p->max_batch > 4) p->max_batch = 4;
    if (p->max_samples > 8192) p->max_samples = 8192;
    if (p->fixed_length > 8192) p->fixed_length = 8192;
    if (p->n_fft > 2048) p->n_fft = 2048;
    if (p->win_length > 2048) p->win_length = 2048;
    if (p->cpu_threads > 3 || p->cpu_threads < 0) p->cpu_threads = 3;
    if (p->n_time_masks > 16) p->n_time_masks = 16;
    if (p->n_freq_masks > 16) p->n_freq_masks = 16;
    /* at most ~2^22 FFT input samples per clip: frames x n_fft */
    int64_t n_fft = p->n_fft > 0 ? p->n_fft : 1;
    int64_t samples = p->max_samples > 0 ? p->max_samples : 0; /* a negative one is refused; keep the sum sane */
    if (p->hop_length >= 1 && (samples + n_fft) / p->hop_length * n_fft > ((int64_t)1 << 22))
        p->hop_length = (int)((samples + n_fft) * n_fft / ((int64_t)1 << 22)) + 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    reader r = {data, size};
    afx_params p;
    afx_params_init(&p);
    int count = n_fields();
    int calls = u8(&r) % 16;
    for (int i = 0; i < calls; i++) set_field(&p, &r, count);
    cap_sizes(&p);

    char err[AFX_ERROR_MAX];
    afx_status vst = afx_params_validate(&p, err, sizeof err);
    if ((unsigned)vst >= AFX_STATUS_COUNT_) abort();
    afx_plan *plan = NULL;
    afx_status st = afx_plan_create(&p, &plan, err, sizeof err);
    if ((unsigned)st >= AFX_STATUS_COUNT_) abort();
    if ((vst == AFX_OK) != (st == AFX_OK || st == AFX_ERR_OUT_OF_MEMORY)) abort();
    if (st != AFX_OK) {
        if (plan) abort();
        return 0;
    }

    const afx_params *pp = afx_plan_params(plan);
    afx_sample_format fmt = u8(&r) % 2 ? AFX_SAMPLE_S16 : AFX_SAMPLE_F32;
    int ch = 1 + u8(&r) % 3;
    int n_clips = 1 + u8(&r) % pp->max_batch;
    int64_t lengths[4];
    const void *clips[4];
    size_t es = fmt == AFX_SAMPLE_F32 ? 4 : 2;
    /* the rest of the input, copied so that samples are aligned */
    size_t n_bytes = r.n;
    uint8_t *samples = malloc(n_bytes + 4);
    if (!samples) abort();
    memcpy(samples, r.p, n_bytes);
    int64_t total = (int64_t)(n_bytes / (es * (size_t)ch));
    int64_t at = 0;
    for (int b = 0; b < n_clips; b++) {
        int64_t want = b == n_clips - 1 ? total - at : (int64_t)(n_bytes ? samples[b % n_bytes] : 0) * 7;
        if (want > total - at) want = total - at;
        if (want > pp->max_samples && pp->fixed_length == 0) want = pp->max_samples;
        lengths[b] = want;
        clips[b] = want ? samples + (size_t)at * es * (size_t)ch : NULL;
        at += want;
    }
    afx_input in = {fmt, ch, clips, lengths, n_clips, (uint64_t)u32(&r)};
    int64_t shape[4], max_frames = 0;
    st = afx_plan_output_shape(plan, &in, shape, &max_frames);
    if (st != AFX_OK) abort();  /* lengths and channels are within the plan */
    size_t elems = afx_plan_output_size(plan, n_clips, max_frames);
    size_t out_es = pp->output_dtype == AFX_DTYPE_F32 ? 4 : 2, guard = 64;
    uint8_t *out = malloc(elems * out_es + guard);
    if (!out) abort();
    memset(out, 0xA5, elems * out_es + guard);
    int64_t n_frames[4];
    afx_output o = {elems ? out : NULL, max_frames, n_frames};
    st = afx_plan_execute(plan, &in, &o);
    if ((unsigned)st >= AFX_STATUS_COUNT_) abort();
    for (size_t i = 0; i < guard; i++)
        if (out[elems * out_es + i] != 0xA5) abort();
    if (st == AFX_OK || st == AFX_ERR_INVALID_INPUT) {
        size_t slot = n_clips ? elems / (size_t)n_clips : 0;
        for (int b = 0; b < n_clips; b++) {
            if (n_frames[b] != shape[b] && !(st == AFX_ERR_INVALID_INPUT && n_frames[b] == -1)) abort();
            for (size_t i = 0; i < slot; i++) {
                size_t e = (size_t)b * slot + i;
                if (n_frames[b] == -1) {
                    for (size_t k = 0; k < out_es; k++)
                        if (out[e * out_es + k] != 0) abort();
                } else if (pp->output_dtype == AFX_DTYPE_F32) {
                    float v;
                    memcpy(&v, out + e * 4, 4);
                    if (!isfinite(v)) abort();
                } else { /* float16 / bfloat16: exponent bits all ones is Inf or NaN */
                    uint16_t h;
                    memcpy(&h, out + e * 2, 2);
                    const uint16_t inf = pp->output_dtype == AFX_DTYPE_F16 ? 0x7c00u : 0x7f80u;
                    if ((h & inf) == inf) abort();
                }
            }
        }
    } else {
        abort();  /* a checked batch can only succeed or refuse clips */
    }
    free(out);
    free(samples);
    afx_plan_free(plan);
    return 0;
}
