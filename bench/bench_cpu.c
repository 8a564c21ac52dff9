/*
 * bench_cpu.c: throughput of the CPU reference backend for the speech configuration
 * (16 kHz, n_fft 512, win 400, hop 160, 80 mels), per feature kind, on seeded synthetic clips.
 *
 *   afx_bench_cpu [--clips N] [--seconds S] [--repeat R]
 *
 * Reports the best of R runs as audio seconds processed per wall second (x real time). This is a
 * benchmark, not a test: it asserts nothing about speed. The CUDA backend's benchmark (issue 4) will
 * print the same columns so the two can be put side by side.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "afx.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* xorshift noise plus a chirp-ish tone, so the spectra are not degenerate. */
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

int main(int argc, char **argv) {
    int n_clips = 16, repeat = 3;
    double seconds = 10.0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--clips")) n_clips = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--repeat")) repeat = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: %s [--clips N] [--seconds S] [--repeat R]\n", argv[0]);
            return 2;
        }
    }
    if (n_clips < 1 || seconds <= 0 || repeat < 1) return 2;
    int64_t n = (int64_t)(seconds * 16000);
    float *audio = malloc(sizeof(float) * (size_t)(n * n_clips));
    const void **clips = malloc(sizeof(void *) * (size_t)n_clips);
    int64_t *lengths = malloc(sizeof(int64_t) * (size_t)n_clips);
    int64_t *frames = malloc(sizeof(int64_t) * (size_t)n_clips);
    if (!audio || !clips || !lengths || !frames) return 1;
    for (int b = 0; b < n_clips; b++) {
        fill_clip(audio + b * n, n, (uint64_t)b);
        clips[b] = audio + b * n;
        lengths[b] = n;
    }
    static const afx_feature kinds[] = {AFX_FEATURE_SPECTROGRAM, AFX_FEATURE_MEL, AFX_FEATURE_LOGMEL, AFX_FEATURE_MFCC};
    printf("afx %s CPU backend, %d clips x %.1f s at 16 kHz, n_fft 512, win 400, hop 160, 80 mels\n",
           afx_version_string(), n_clips, seconds);
    printf("| feature | frames/clip | best wall s | audio s / wall s |\n|---|---|---|---|\n");
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        afx_params p;
        afx_params_init(&p);
        p.feature = kinds[k];
        p.max_batch = n_clips;
        p.max_samples = n;
        char err[AFX_ERROR_MAX];
        afx_plan *plan = NULL;
        if (afx_plan_create(&p, &plan, err, sizeof err) != AFX_OK) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        afx_input in = {AFX_SAMPLE_F32, 1, clips, lengths, n_clips, 0};
        int64_t max_frames = 0;
        afx_plan_output_shape(plan, &in, NULL, &max_frames);
        float *out = malloc(sizeof(float) * afx_plan_output_size(plan, n_clips, max_frames));
        afx_output o = {out, max_frames, frames};
        double best = 1e30;
        for (int r = 0; r < repeat; r++) {
            double t0 = now_s();
            if (!out || afx_plan_execute(plan, &in, &o) != AFX_OK) {
                fprintf(stderr, "%s\n", afx_plan_error(plan));
                return 1;
            }
            double dt = now_s() - t0;
            best = dt < best ? dt : best;
        }
        printf("| %s | %lld | %.4f | %.1f |\n", afx_feature_name(kinds[k]), (long long)frames[0], best,
               seconds * n_clips / best);
        free(out);
        afx_plan_free(plan);
    }
    free(audio);
    free((void *)clips);
    free(lengths);
    free(frames);
    return 0;
}
