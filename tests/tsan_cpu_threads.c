/*
 * tsan_cpu_threads.c: the CPU backend's thread pool under ThreadSanitizer (ctest tsan_cpu_threads; the
 * library's CPU sources are compiled into this program with -fsanitize=thread, see tests/CMakeLists.txt).
 *
 * For several pipelines (every per-clip statistic, masks, pooling, both layouts, 16-bit output) a ragged
 * batch with a long clip is run with cpu_threads = 1 and 4, twice on the same plan, and the outputs must be
 * the same bytes; plans are also created and freed in a loop (threads started and joined). Any data race
 * stops the program (TSAN_OPTIONS=halt_on_error=1 is set by the test); a byte difference fails it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "afx.h"

enum { N_CLIPS = 4 };

static float clip_data[N_CLIPS][16000 * 6];
static const int64_t lengths[N_CLIPS] = {16000 * 6, 4000, 0, 16000 * 2 + 7};

static void fill(void) {
    uint32_t s = 12345;
    for (int c = 0; c < N_CLIPS; c++)
        for (int64_t i = 0; i < lengths[c]; i++) {
            s = s * 1103515245u + 12345u;
            clip_data[c][i] = (float)((s >> 8) & 0xffff) / 65536.0f - 0.5f + 0.2f * (float)((i % 101) - 50) / 50.0f;
        }
}

/* Runs the batch twice on one plan; returns the output bytes of the second run (malloc'd), NULL on error. */
static uint8_t *run(const afx_params *base, int threads, size_t *n_bytes) {
    afx_params p = *base;
    p.cpu_threads = threads;
    char err[AFX_ERROR_MAX];
    afx_plan *plan = NULL;
    if (afx_plan_create(&p, &plan, err, sizeof err) != AFX_OK) {
        fprintf(stderr, "plan: %s\n", err);
        return NULL;
    }
    const void *clips[N_CLIPS];
    for (int c = 0; c < N_CLIPS; c++) clips[c] = lengths[c] ? clip_data[c] : NULL;
    afx_input in = {AFX_SAMPLE_F32, 1, clips, lengths, N_CLIPS, 3};
    int64_t max_frames = 0, n_frames[N_CLIPS];
    afx_plan_output_shape(plan, &in, NULL, &max_frames);
    size_t es = p.output_dtype == AFX_DTYPE_F32 ? 4 : 2;
    *n_bytes = afx_plan_output_size(plan, N_CLIPS, max_frames) * es + N_CLIPS * sizeof n_frames[0];
    uint8_t *out = calloc(1, *n_bytes);
    afx_output o = {out, max_frames, n_frames};
    for (int r = 0; r < 2 && out; r++)
        if (afx_plan_execute(plan, &in, &o) != AFX_OK) {
            fprintf(stderr, "execute: %s\n", afx_plan_error(plan));
            free(out);
            out = NULL;
        }
    if (out) memcpy(out + *n_bytes - sizeof n_frames, n_frames, sizeof n_frames);
    afx_plan_free(plan);
    return out;
}

int main(void) {
    fill();
    int passed = 0, failed = 0;
    for (int cfg = 0; cfg < 6; cfg++) {
        afx_params p;
        afx_params_init(&p);
        p.max_batch = N_CLIPS;
        p.max_samples = 16000 * 6;
        switch (cfg) {
        case 0: break;
        case 1: p.feature = AFX_FEATURE_SPECTROGRAM; p.layout = AFX_LAYOUT_TF; break;
        case 2: p.feature = AFX_FEATURE_DB; p.normalize = AFX_NORM_FEATURE; break;
        case 3: p.feature = AFX_FEATURE_MFCC; p.normalize = AFX_NORM_UTTERANCE; p.n_time_masks = 2;
                p.time_mask_param = 20; p.mask_value = AFX_MASK_MEAN; break;
        case 4: p.normalize = AFX_NORM_MINMAX; p.pooling = AFX_POOL_MEAN_STD; break;
        case 5: p.output_dtype = AFX_DTYPE_F16; p.dither = 0.5f; p.fixed_length = 16000 * 3; break;
        }
        size_t n1 = 0, n4 = 0;
        uint8_t *one = run(&p, 1, &n1), *four = run(&p, 4, &n4);
        int ok = one && four && n1 == n4 && memcmp(one, four, n1) == 0;
        printf("configuration %d: cpu_threads 4 %s cpu_threads 1\n", cfg, ok ? "equals" : "DIFFERS FROM");
        ok ? passed++ : failed++;
        free(one);
        free(four);
    }
    /* Threads started and joined over and over. */
    int churn_ok = 1;
    for (int i = 0; i < 20 && churn_ok; i++) {
        afx_params p;
        afx_params_init(&p);
        p.cpu_threads = 3;
        afx_plan *plan = NULL;
        char err[AFX_ERROR_MAX];
        churn_ok = afx_plan_create(&p, &plan, err, sizeof err) == AFX_OK;
        afx_plan_free(plan);
    }
    printf("plan create/free with threads x20: %s\n", churn_ok ? "ok" : "FAILED");
    churn_ok ? passed++ : failed++;
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
