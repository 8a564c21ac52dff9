/*
 * tsan_audio_threads.c: the loader's helper thread (afx_audio_options.threads = 2) under
 * ThreadSanitizer (ctest tsan_audio_threads; the audio sources are compiled into this program with
 * -fsanitize=thread, see tests/CMakeLists.txt).
 *
 * A 40-second stereo WAV at 44.1 kHz (above the helper's 30-second threshold) is written with
 * libsndfile, then loaded to 16 kHz on one thread and with the helper, several times through one
 * reused decoder, and once cut short (the truncation error must be the same). Any data race stops
 * the program (TSAN_OPTIONS=halt_on_error=1 is set by the test); a byte difference fails it.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sndfile.h>

#include "afx_audio.h"

enum { RATE = 44100, SECONDS = 40, CH = 2 };

static int write_wav(const char *path, sf_count_t frames)
{
    SF_INFO info;
    memset(&info, 0, sizeof info);
    info.samplerate = RATE;
    info.channels = CH;
    info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    if (!sf) return -1;
    short *x = malloc((size_t)frames * CH * sizeof *x);
    if (!x) {
        sf_close(sf);
        return -1;
    }
    uint32_t s = 2024u;
    for (sf_count_t i = 0; i < frames * CH; ++i) {
        s = s * 1103515245u + 12345u;
        x[i] = (short)(s >> 16);
    }
    const sf_count_t put = sf_writef_short(sf, x, frames);
    free(x);
    sf_close(sf);
    return put == frames ? 0 : -1;
}

/* Loads path with `threads` through dec; a copy of the samples (or NULL) and the status / message. */
static float *load(afx_audio_decoder *dec, const char *path, int threads, int64_t *n, afx_status *st, char *err,
                   size_t err_size)
{
    afx_audio_options o;
    afx_audio_options_init(&o);
    o.threads = threads;
    afx_audio_clip c;
    *st = afx_audio_decoder_load_file(dec, path, &o, &c, err, err_size);
    *n = 0;
    if (*st != AFX_OK) return NULL;
    *n = c.n_samples;
    float *copy = malloc((size_t)c.n_samples * sizeof *copy + 1);
    if (copy && c.n_samples > 0) memcpy(copy, c.samples, (size_t)c.n_samples * sizeof *copy);
    return copy;
}

int main(void)
{
    char dir[] = "/tmp/afx_tsan_audio_XXXXXX";
    if (!mkdtemp(dir)) return 2;
    char path[256], cut[256];
    snprintf(path, sizeof path, "%s/long.wav", dir);
    snprintf(cut, sizeof cut, "%s/cut.wav", dir);
    int fail = write_wav(path, (sf_count_t)RATE * SECONDS) != 0;
    if (!fail) { /* the same file cut mid-sample: a truncation the end check reports */
        FILE *in = fopen(path, "rb"), *out = fopen(cut, "wb");
        char buf[1 << 16];
        size_t left = (size_t)RATE * SECONDS * CH * 2 + 44 - 1000003, got;
        while (in && out && left > 0 && (got = fread(buf, 1, left < sizeof buf ? left : sizeof buf, in)) > 0) {
            fwrite(buf, 1, got, out);
            left -= got;
        }
        fail = !in || !out || left != 0;
        if (in) fclose(in);
        if (out) fclose(out);
    }
    afx_audio_decoder *dec = NULL;
    char err[AFX_ERROR_MAX] = "", err2[AFX_ERROR_MAX] = "";
    if (!fail && afx_audio_decoder_create(&dec, err, sizeof err) != AFX_OK) fail = 1;
    afx_status st1 = AFX_OK, st2 = AFX_OK;
    int64_t n1 = 0, n2 = 0;
    float *ref = fail ? NULL : load(dec, path, 1, &n1, &st1, err, sizeof err);
    if (!fail && (st1 != AFX_OK || !ref)) {
        fprintf(stderr, "tsan_audio_threads: one-thread load failed: %s\n", err);
        fail = 1;
    }
    for (int round = 0; round < 3 && !fail; ++round) {
        float *x = load(dec, path, 2, &n2, &st2, err, sizeof err);
        if (st2 != AFX_OK || !x || n2 != n1 || memcmp(x, ref, (size_t)n1 * sizeof *x) != 0) {
            fprintf(stderr, "tsan_audio_threads: round %d: the helper's load differs (%s)\n", round, err);
            fail = 1;
        }
        free(x);
    }
    if (!fail) {
        free(load(dec, cut, 1, &n1, &st1, err, sizeof err));
        free(load(dec, cut, 2, &n2, &st2, err2, sizeof err2));
        if (st1 == AFX_OK || st2 != st1 || strcmp(err, err2) != 0) {
            fprintf(stderr, "tsan_audio_threads: truncated file: one thread %d (%s), helper %d (%s)\n", (int)st1, err,
                    (int)st2, err2);
            fail = 1;
        }
    }
    free(ref);
    afx_audio_decoder_free(dec);
    unlink(path);
    unlink(cut);
    rmdir(dir);
    printf("tsan_audio_threads: %s\n", fail ? "FAILED" : "ok (helper loads equal to one-thread loads, no race reported)");
    return fail;
}
