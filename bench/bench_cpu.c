/*
 * bench_cpu.c: CPU backend speed for the speech configuration (16 kHz, n_fft 512, win 400, hop 160,
 * 80 mels) on seeded synthetic clips, per feature kind and per cpu_threads, plus one long clip (the case
 * where only the split of a clip's frames across threads can use the cores).
 *
 *   afx_bench_cpu [--clips N] [--seconds S] [--long-seconds L] [--repeat R] [--threads 1,2,4]
 *
 * Defaults: 16 clips of 10 s, one clip of 1200 s (20 min), best of 3, threads 1, 2 and every online core.
 * Each row gives the best wall time, microseconds per frame (per clip frame, all clips together), audio
 * seconds per wall second and the speedup over cpu_threads = 1 measured in the same run. This is a
 * benchmark, not a test: it asserts nothing about speed. The FFT library is the build's (AFX_FFTW).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "afx.h"

#ifndef AFX_BENCH_FFT
#define AFX_BENCH_FFT "?"
#endif

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* xorshift noise plus a sawtooth, so the spectra are not degenerate. */
static void fill_clip(float *x, int64_t n, uint64_t seed) {
    uint64_t s = seed * 2654435761u + 1;
    for (int64_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        float noise = (float)((double)(s >> 11) / 9007199254740992.0 - 0.5);
        x[i] = 0.1f * noise + 0.3f * (float)((i * (int64_t)(seed + 3)) % 97) / 97.0f;
    }
}

/* Best wall seconds of `repeat` executes of one batch; -1 on failure (message printed). */
static double time_batch(afx_params *p, int threads, const void **clips, const int64_t *lengths, int n_clips,
                         int repeat, int64_t *frames_out) {
    p->cpu_threads = threads;
    char err[AFX_ERROR_MAX];
    afx_plan *plan = NULL;
    if (afx_plan_create(p, &plan, err, sizeof err) != AFX_OK) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    afx_input in = {AFX_SAMPLE_F32, 1, clips, lengths, n_clips, 0};
    int64_t max_frames = 0, *frames = malloc(sizeof(int64_t) * (size_t)n_clips);
    afx_plan_output_shape(plan, &in, frames, &max_frames);
    float *out = malloc(sizeof(float) * (afx_plan_output_size(plan, n_clips, max_frames) + 1));
    afx_output o = {out, max_frames, frames};
    double best = 1e30;
    for (int r = 0; r < repeat && out; r++) {
        double t0 = now_s();
        if (afx_plan_execute(plan, &in, &o) != AFX_OK) {
            fprintf(stderr, "%s\n", afx_plan_error(plan));
            best = -1;
            break;
        }
        double dt = now_s() - t0;
        best = dt < best ? dt : best;
    }
    int64_t total = 0;
    for (int b = 0; b < n_clips; b++) total += frames[b];
    *frames_out = total;
    free(out);
    free(frames);
    afx_plan_free(plan);
    return out ? best : -1;
}

int main(int argc, char **argv) {
    int n_clips = 16, repeat = 3, threads[8], n_threads = 0;
    double seconds = 10.0, long_seconds = 1200.0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--clips")) n_clips = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--long-seconds")) long_seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--repeat")) repeat = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) {
            for (char *tok = strtok(argv[i + 1], ","); tok && n_threads < 8; tok = strtok(NULL, ","))
                threads[n_threads++] = atoi(tok);
        } else {
            fprintf(stderr, "usage: %s [--clips N] [--seconds S] [--long-seconds L] [--repeat R] [--threads 1,2,4]\n",
                    argv[0]);
            return 2;
        }
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (n_threads == 0) {
        threads[n_threads++] = 1;
        if (cores >= 2) threads[n_threads++] = 2;
        if (cores > 2) threads[n_threads++] = (int)cores;
    }
    if (n_clips < 1 || seconds <= 0 || repeat < 1 || long_seconds < 0) return 2;
    int64_t n = (int64_t)(seconds * 16000), n_long = (int64_t)(long_seconds * 16000);
    float *audio = malloc(sizeof(float) * (size_t)(n * n_clips));
    float *long_clip = n_long ? malloc(sizeof(float) * (size_t)n_long) : NULL;
    const void **clips = malloc(sizeof(void *) * (size_t)n_clips);
    int64_t *lengths = malloc(sizeof(int64_t) * (size_t)n_clips);
    if (!audio || !clips || !lengths || (n_long && !long_clip)) return 1;
    for (int b = 0; b < n_clips; b++) {
        fill_clip(audio + b * n, n, (uint64_t)b);
        clips[b] = audio + b * n;
        lengths[b] = n;
    }
    if (n_long) fill_clip(long_clip, n_long, 12345);

    printf("afx %s CPU backend (FFT: %s), %ld online cores; 16 kHz, n_fft 512, win 400, hop 160, 80 mels\n",
           afx_version_string(), AFX_BENCH_FFT, cores);
    printf("\nbatch of %d clips x %.1f s, best of %d\n\n", n_clips, seconds, repeat);
    printf("| feature | cpu_threads | best wall s | us / frame | audio s / wall s | speedup vs 1 thread |\n");
    printf("|---|---|---|---|---|---|\n");
    static const afx_feature kinds[] = {AFX_FEATURE_SPECTROGRAM, AFX_FEATURE_MEL, AFX_FEATURE_LOGMEL, AFX_FEATURE_DB,
                                        AFX_FEATURE_MFCC};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        double one = 0;
        for (int t = 0; t < n_threads; t++) {
            afx_params p;
            afx_params_init(&p);
            p.feature = kinds[k];
            p.max_batch = n_clips;
            p.max_samples = n;
            int64_t frames = 0;
            double best = time_batch(&p, threads[t], clips, lengths, n_clips, repeat, &frames);
            if (best < 0) return 1;
            if (t == 0) one = best;
            printf("| %s | %d | %.4f | %.3f | %.0f | %.2f |\n", afx_feature_name(kinds[k]), threads[t], best,
                   1e6 * best / (double)frames, seconds * n_clips / best, one / best);
        }
    }
    if (n_long) {
        printf("\none clip of %.0f s (log-mel), best of %d\n\n", long_seconds, repeat);
        printf("| cpu_threads | best wall s | us / frame | audio s / wall s | speedup vs 1 thread |\n|---|---|---|---|---|\n");
        double one = 0;
        for (int t = 0; t < n_threads; t++) {
            afx_params p;
            afx_params_init(&p);
            p.max_batch = 1;
            p.max_samples = n_long;
            const void *lc[1] = {long_clip};
            int64_t frames = 0;
            double best = time_batch(&p, threads[t], lc, &n_long, 1, repeat, &frames);
            if (best < 0) return 1;
            if (t == 0) one = best;
            printf("| %d | %.4f | %.3f | %.0f | %.2f |\n", threads[t], best, 1e6 * best / (double)frames,
                   long_seconds / best, one / best);
        }
    }
    free(audio);
    free(long_clip);
    free((void *)clips);
    free(lengths);
    return 0;
}
