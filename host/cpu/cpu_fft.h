/*
 * cpu_fft.h: the CPU backend's real forward FFT, one object per thread.
 *
 * Two libraries behind one call, chosen at build time:
 *  - KissFFT (Debian libkissfft-dev, BSD-3-Clause), the default: kiss_fftr for even n_fft, the complex
 *    transform of the real frame for odd n_fft.
 *  - FFTW 3 single precision (Debian libfftw3-dev, GPL-2+), with -DAFX_FFTW=ON: 3x to 6x faster on the
 *    preset sizes (bench/bench_fft.c), but GPL, so only as an opt-in build. Plans use FFTW_ESTIMATE:
 *    FFTW_MEASURE picks an algorithm by timing, so two plans (two runs, two threads) could round
 *    differently, and the backend promises bit-identical results run to run and for any cpu_threads.
 *
 * Usage: write the n_fft real samples into afx_cpu_fft_input(), call afx_cpu_fft_execute(), read
 * n_fft/2 + 1 interleaved (re, im) pairs from the returned pointer. An object is not thread-safe; objects
 * are independent (creation and destruction of FFTW plans are serialized inside, as FFTW requires).
 */
#ifndef AFX_CPU_FFT_H
#define AFX_CPU_FFT_H

#include <stddef.h>

#include "afx.h"

typedef struct afx_cpu_fft afx_cpu_fft;

/** Makes a transform of n_fft (>= 1) real samples; the input buffer starts zeroed. */
afx_status afx_cpu_fft_create(int n_fft, afx_cpu_fft **out, char *err, size_t err_size);
/** NULL is a no-op. */
void afx_cpu_fft_free(afx_cpu_fft *fft);
/** The n_fft-sample input buffer (the transform never modifies it). */
float *afx_cpu_fft_input(afx_cpu_fft *fft);
/** Transforms the input; returns n_fft/2 + 1 (re, im) pairs, valid until the next call. */
const float *afx_cpu_fft_execute(afx_cpu_fft *fft);
/** "KissFFT" or "FFTW3f": the library this build uses. */
const char *afx_cpu_fft_library(void);

#endif /* AFX_CPU_FFT_H */
