/*
 * bench_fft.c: the real forward FFTs the CPU backend can use, side by side in one run, on the sizes of
 * the presets (n_fft 400: torchaudio; 512: speech, Kaldi, Whisper uses 400; 2048: librosa).
 *
 *   afx_bench_fft [--frames N] [--repeat R]
 *
 * Candidates: KissFFT (Debian libkissfft-dev, BSD-3-Clause; kiss_fftr, the default backend FFT) and,
 * when built with AFX_FFTW=ON, FFTW 3 single precision (Debian libfftw3-dev, GPL-2+) planned with
 * FFTW_ESTIMATE (deterministic plans; the backend's choice) and FFTW_MEASURE (for reference), one
 * transform per call and batched 64 per call (fftwf_plan_many_dft_r2c). Each row is the best of R runs
 * of N transforms, as nanoseconds per transform and per frame element. Other packaged candidates were
 * looked for and are absent from Debian 12: pocketfft/ducc (not packaged), SLEEF's DFT (libsleef-dev
 * ships the vector math library only), pffft (not packaged).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kiss_fftr.h>
#ifdef AFX_HAVE_FFTW
#include <fftw3.h>
#endif

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fill(float *x, size_t n) {
    uint64_t s = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        x[i] = (float)((double)(s >> 11) / 9007199254740992.0 - 0.5);
    }
}

enum { BATCH = 64 };

static void report(const char *name, int n, double best_s, int frames) {
    double ns = best_s * 1e9 / frames;
    printf("| %d | %s | %.0f | %.2f |\n", n, name, ns, ns / n);
}

static double bench_kiss(int n, int frames, int repeat, const float *in, float *out) {
    kiss_fftr_cfg cfg = kiss_fftr_alloc(n, 0, NULL, NULL);
    if (!cfg) return -1;
    double best = 1e30;
    for (int r = 0; r < repeat; r++) {
        double t0 = now_s();
        for (int f = 0; f < frames; f++)
            kiss_fftr(cfg, in + (size_t)(f % BATCH) * n, (kiss_fft_cpx *)out + (size_t)(f % BATCH) * (n / 2 + 1));
        double dt = now_s() - t0;
        best = dt < best ? dt : best;
    }
    kiss_fftr_free(cfg);
    return best;
}

#ifdef AFX_HAVE_FFTW
static double bench_fftw(int n, int frames, int repeat, unsigned flags, int batched) {
    int n_freq = (n / 2 + 2) & ~1; /* even, so every row keeps the SIMD alignment of the planned arrays */
    float *in = fftwf_malloc(sizeof(float) * (size_t)n * BATCH);
    fftwf_complex *out = fftwf_malloc(sizeof(fftwf_complex) * (size_t)n_freq * BATCH);
    if (!in || !out) return -1;
    fftwf_plan plan = batched ? fftwf_plan_many_dft_r2c(1, &n, BATCH, in, NULL, 1, n, out, NULL, 1, n_freq, flags)
                              : fftwf_plan_dft_r2c_1d(n, in, out, flags);
    fill(in, (size_t)n * BATCH);
    double best = 1e30;
    for (int r = 0; r < repeat; r++) {
        double t0 = now_s();
        if (batched)
            for (int f = 0; f < frames; f += BATCH) fftwf_execute(plan);
        else
            for (int f = 0; f < frames; f++)
                fftwf_execute_dft_r2c(plan, in + (size_t)(f % BATCH) * n, out + (size_t)(f % BATCH) * n_freq);
        double dt = now_s() - t0;
        best = dt < best ? dt : best;
    }
    fftwf_destroy_plan(plan);
    fftwf_free(in);
    fftwf_free(out);
    return best;
}
#endif

int main(int argc, char **argv) {
    int frames = 20000, repeat = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--frames")) frames = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--repeat")) repeat = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: %s [--frames N] [--repeat R]\n", argv[0]);
            return 2;
        }
    }
    if (frames < BATCH || repeat < 1) return 2;
    frames -= frames % BATCH;
    static const int sizes[] = {400, 512, 2048};
    printf("real forward FFT, float32, best of %d runs of %d transforms\n", repeat, frames);
    printf("| n_fft | library | ns / transform | ns / sample |\n|---|---|---|---|\n");
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int n = sizes[s];
        float *in = malloc(sizeof(float) * (size_t)n * BATCH), *out = malloc(sizeof(float) * (size_t)(n + 2) * BATCH);
        if (!in || !out) return 1;
        fill(in, (size_t)n * BATCH);
        report("KissFFT kiss_fftr", n, bench_kiss(n, frames, repeat, in, out), frames);
#ifdef AFX_HAVE_FFTW
        report("FFTW3f ESTIMATE, 1 per call", n, bench_fftw(n, frames, repeat, FFTW_ESTIMATE, 0), frames);
        report("FFTW3f ESTIMATE, 64 per call", n, bench_fftw(n, frames, repeat, FFTW_ESTIMATE, 1), frames);
        report("FFTW3f MEASURE, 1 per call", n, bench_fftw(n, frames, repeat, FFTW_MEASURE, 0), frames);
        report("FFTW3f MEASURE, 64 per call", n, bench_fftw(n, frames, repeat, FFTW_MEASURE, 1), frames);
#endif
        free(in);
        free(out);
    }
    return 0;
}
