/*
 * bench_audio.c: throughput and memory of the audio loader (include/afx_audio.h).
 *
 *   afx_bench_audio [--clips N] [--seconds S] [--rate HZ] [--channels C] [--long-minutes M] [--dir D]
 *
 * Writes a corpus of N 16-bit PCM WAV clips of S seconds (and the same as FLAC) into a temporary
 * folder, then times, in one run on the same machine:
 *   - afx_audio_load_file to 16 kHz mono, one call per clip (a fresh resampler per clip);
 *   - the same through one afx_audio_decoder (buffers, libsoxr state and libmpg123 handle reused);
 *   - at the file's rate: the float path vs keep_int16 (int16, no conversion);
 * and reports clips/s and audio seconds per wall second with the ratios. Then it writes one long
 * file of M minutes and loads it to 16 kHz in a child process, reporting the child's peak RSS next
 * to the file size, the decoded size (float32, all channels) and the output size: the loader streams
 * blocks, so the peak should sit near the output, not near the decoded file.
 */
#define _DEFAULT_SOURCE /* wait4 (the child's own rusage), mkdtemp */

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sndfile.h>

#include "afx_audio.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* A clip of `frames` frames: a chirp plus noise per channel, written by libsndfile. */
static int write_clip(const char *path, int format, int rate, int channels, int64_t frames, unsigned seed)
{
    SF_INFO info = {.samplerate = rate, .channels = channels, .format = format};
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    if (!sf) return -1;
    enum { BLOCK = 4096 };
    short *buf = malloc(sizeof(short) * BLOCK * (size_t)channels);
    if (!buf) {
        sf_close(sf);
        return -1;
    }
    for (int64_t done = 0; done < frames;) {
        const int64_t n = frames - done < BLOCK ? frames - done : BLOCK;
        for (int64_t i = 0; i < n; ++i) {
            const double t = (double)(done + i) / rate;
            for (int c = 0; c < channels; ++c) {
                seed = seed * 1664525u + 1013904223u;
                const double v = 0.4 * sin(2 * 3.14159265358979323846 * (200.0 + 300.0 * c) * t * (1.0 + 0.1 * t)) +
                                 0.05 * ((double)(seed >> 8) / 16777216.0 - 0.5);
                buf[i * channels + c] = (short)lrint(32767.0 * v);
            }
        }
        if (sf_writef_short(sf, buf, n) != n) {
            free(buf);
            sf_close(sf);
            return -1;
        }
        done += n;
    }
    free(buf);
    return sf_close(sf);
}

typedef struct {
    const char *what;
    double seconds;
    int64_t samples;
} timing;

/* Loads every clip once; returns wall seconds (-1 on a failure). */
static double run(char **paths, int n, const afx_audio_options *o, afx_audio_decoder *dec, int64_t *samples)
{
    char err[AFX_ERROR_MAX];
    *samples = 0;
    const double t0 = now();
    for (int i = 0; i < n; ++i) {
        afx_audio_clip c;
        const afx_status st = dec ? afx_audio_decoder_load_file(dec, paths[i], o, &c, err, sizeof err)
                                  : afx_audio_load_file(paths[i], o, &c, err, sizeof err);
        if (st != AFX_OK) {
            fprintf(stderr, "bench_audio: %s\n", err);
            return -1;
        }
        *samples += c.n_samples;
        if (!dec) afx_audio_clip_free(&c);
    }
    return now() - t0;
}

static long child_peak_rss_kb(const char *path, int64_t *out_samples)
{
    int fds[2];
    if (pipe(fds) != 0) return -1;
    const pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        close(fds[0]);
        afx_audio_options o;
        afx_audio_options_init(&o);
        o.max_duration_seconds = 0;
        afx_audio_clip c;
        char err[AFX_ERROR_MAX];
        int64_t n = -1;
        if (afx_audio_load_file(path, &o, &c, err, sizeof err) == AFX_OK) n = c.n_samples;
        else fprintf(stderr, "bench_audio: %s\n", err);
        if (write(fds[1], &n, sizeof n) != (ssize_t)sizeof n) _exit(2);
        _exit(n >= 0 ? 0 : 1);
    }
    close(fds[1]);
    int64_t n = -1;
    if (read(fds[0], &n, sizeof n) != (ssize_t)sizeof n) n = -1;
    close(fds[0]);
    int status = 0;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
    *out_samples = n;
    return ru.ru_maxrss;
}

static long baseline_rss_kb(void)
{
    /* The same child doing nothing but start: what the process costs before any load. */
    const pid_t pid = fork();
    if (pid == 0) _exit(0);
    int status = 0;
    struct rusage ru;
    if (pid < 0 || wait4(pid, &status, 0, &ru) != pid) return 0;
    return ru.ru_maxrss;
}

int main(int argc, char **argv)
{
    int clips = 200, rate = 44100, channels = 2;
    double seconds = 4.0, long_minutes = 20.0;
    const char *base = NULL;
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--clips") && v) clips = atoi(v), ++i;
        else if (!strcmp(a, "--seconds") && v) seconds = atof(v), ++i;
        else if (!strcmp(a, "--rate") && v) rate = atoi(v), ++i;
        else if (!strcmp(a, "--channels") && v) channels = atoi(v), ++i;
        else if (!strcmp(a, "--long-minutes") && v) long_minutes = atof(v), ++i;
        else if (!strcmp(a, "--dir") && v) base = v, ++i;
        else {
            fprintf(stderr, "usage: %s [--clips N] [--seconds S] [--rate HZ] [--channels C] [--long-minutes M] "
                            "[--dir D]\n", argv[0]);
            return 2;
        }
    }
    if (clips < 1 || seconds <= 0 || rate < 1000 || channels < 1 || long_minutes < 0) return 2;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/afx_bench_audio_XXXXXX", base ? base : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp"));
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    const int64_t frames = (int64_t)llround(seconds * rate);
    char **wav = calloc((size_t)clips, sizeof *wav), **flac = calloc((size_t)clips, sizeof *flac);
    for (int i = 0; i < clips; ++i) {
        wav[i] = malloc(4200), flac[i] = malloc(4200);
        snprintf(wav[i], 4200, "%s/c%05d.wav", dir, i);
        snprintf(flac[i], 4200, "%s/c%05d.flac", dir, i);
        if (write_clip(wav[i], SF_FORMAT_WAV | SF_FORMAT_PCM_16, rate, channels, frames, (unsigned)i) ||
            write_clip(flac[i], SF_FORMAT_FLAC | SF_FORMAT_PCM_16, rate, channels, frames, (unsigned)i)) {
            fprintf(stderr, "bench_audio: cannot write the corpus in %s\n", dir);
            return 1;
        }
    }
    printf("afx %s audio loader: %d clips of %.1f s, %d Hz, %d channels, 16-bit (WAV and FLAC)\n",
           afx_version_string(), clips, seconds, rate, channels);
    afx_audio_decoder *dec = NULL;
    char err[AFX_ERROR_MAX];
    if (afx_audio_decoder_create(&dec, err, sizeof err) != AFX_OK) return 1;
    afx_audio_options to16k, native, native16;
    afx_audio_options_init(&to16k);
    afx_audio_options_init(&native);
    native.target_rate = 0;
    native16 = native;
    native16.keep_int16 = 1;
    int64_t s = 0;
    (void)run(wav, clips < 8 ? clips : 8, &to16k, NULL, &s); /* warm the page cache and libraries */
    struct { const char *what; char **paths; const afx_audio_options *o; int reuse; } cases[] = {
        {"WAV -> 16 kHz mono, afx_audio_load_file", wav, &to16k, 0},
        {"WAV -> 16 kHz mono, reused afx_audio_decoder", wav, &to16k, 1},
        {"FLAC -> 16 kHz mono, afx_audio_load_file", flac, &to16k, 0},
        {"FLAC -> 16 kHz mono, reused afx_audio_decoder", flac, &to16k, 1},
        {"WAV at its rate, float32 mono (decoder)", wav, &native, 1},
        {"WAV at its rate, keep_int16 (decoder)", wav, &native16, 1},
    };
    double first = 0;
    printf("%-48s %10s %14s %8s\n", "path", "clips/s", "audio s / s", "ratio");
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; ++k) {
        const double t = run(cases[k].paths, clips, cases[k].o, cases[k].reuse ? dec : NULL, &s);
        if (t < 0) return 1;
        if (k % 2 == 0) first = t;
        printf("%-48s %10.1f %14.1f %7.2fx\n", cases[k].what, clips / t, clips * seconds / t, first / t);
    }
    afx_audio_decoder_free(dec);
    for (int i = 0; i < clips; ++i) unlink(wav[i]), unlink(flac[i]), free(wav[i]), free(flac[i]);
    free(wav);
    free(flac);

    if (long_minutes > 0) {
        char path[4200];
        snprintf(path, sizeof path, "%s/long.wav", dir);
        const int64_t long_frames = (int64_t)llround(long_minutes * 60.0 * rate);
        if (write_clip(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, rate, channels, long_frames, 7u)) return 1;
        struct stat st;
        stat(path, &st);
        int64_t out = 0;
        const long base_kb = baseline_rss_kb();
        const long peak = child_peak_rss_kb(path, &out);
        unlink(path);
        if (peak < 0) return 1;
        printf("long file: %.0f min, %.1f MB on disk, %.1f MB decoded (float32, %d ch), %.1f MB output (16 kHz mono): "
               "peak RSS %.1f MB (process baseline %.1f MB)\n",
               long_minutes, (double)st.st_size / 1048576.0, (double)(long_frames * channels * 4) / 1048576.0,
               channels, (double)(out * 4) / 1048576.0, (double)peak / 1024.0, (double)base_kb / 1024.0);
    }
    rmdir(dir);
    return 0;
}
