/*
 * cpu_fft.c: see cpu_fft.h.
 */
#include "cpu_fft.h"

#include <stdlib.h>
#include <string.h>

#include "internal.h"

#ifdef AFX_HAVE_FFTW
#include <fftw3.h>
#include <pthread.h>

/* FFTW's planner is not thread-safe (only fftw_execute is): plans are made and destroyed under one lock,
 * since independent afx plans may be created from several threads at once. */
static pthread_mutex_t planner_lock = PTHREAD_MUTEX_INITIALIZER;

struct afx_cpu_fft {
    fftwf_plan plan;
    float *in;            /* [n_fft], fftwf_malloc (SIMD-aligned) */
    fftwf_complex *out;   /* [n_fft/2 + 1] */
};

const char *afx_cpu_fft_library(void) { return "FFTW3f"; }

afx_status afx_cpu_fft_create(int n_fft, afx_cpu_fft **out, char *err, size_t err_size) {
    *out = NULL;
    afx_cpu_fft *f = calloc(1, sizeof *f);
    if (!f) return afx_fail(err, err_size, AFX_ERR_OUT_OF_MEMORY, "cannot allocate an FFT object");
    f->in = fftwf_malloc(sizeof(float) * (size_t)n_fft);
    f->out = fftwf_malloc(sizeof(fftwf_complex) * (size_t)(n_fft / 2 + 1));
    if (f->in && f->out) {
        memset(f->in, 0, sizeof(float) * (size_t)n_fft);
        pthread_mutex_lock(&planner_lock);
        f->plan = fftwf_plan_dft_r2c_1d(n_fft, f->in, f->out, FFTW_ESTIMATE);
        pthread_mutex_unlock(&planner_lock);
    }
    if (!f->plan) {
        afx_cpu_fft_free(f);
        return afx_fail(err, err_size, AFX_ERR_INTERNAL, "FFTW could not plan a real FFT of n_fft=%d", n_fft);
    }
    *out = f;
    return AFX_OK;
}

void afx_cpu_fft_free(afx_cpu_fft *f) {
    if (!f) return;
    if (f->plan) {
        pthread_mutex_lock(&planner_lock);
        fftwf_destroy_plan(f->plan);
        pthread_mutex_unlock(&planner_lock);
    }
    fftwf_free(f->in);
    fftwf_free(f->out);
    free(f);
}

float *afx_cpu_fft_input(afx_cpu_fft *f) { return f->in; }

const float *afx_cpu_fft_execute(afx_cpu_fft *f) {
    fftwf_execute(f->plan);  /* out-of-place 1-D r2c preserves its input (FFTW manual, "Planner Flags") */
    return (const float *)f->out;
}

#else /* KissFFT */
#include <kiss_fft.h>
#include <kiss_fftr.h>

struct afx_cpu_fft {
    int n_fft;
    kiss_fftr_cfg real_cfg;  /* even n_fft */
    kiss_fft_cfg cplx_cfg;   /* odd n_fft: kiss_fftr needs an even size */
    float *in;               /* [n_fft] */
    kiss_fft_cpx *cplx_in;   /* [n_fft], odd n_fft only */
    kiss_fft_cpx *out;       /* [n_fft] (the complex transform fills all n_fft bins) */
};

const char *afx_cpu_fft_library(void) { return "KissFFT"; }

afx_status afx_cpu_fft_create(int n_fft, afx_cpu_fft **out, char *err, size_t err_size) {
    *out = NULL;
    afx_cpu_fft *f = calloc(1, sizeof *f);
    if (!f) return afx_fail(err, err_size, AFX_ERR_OUT_OF_MEMORY, "cannot allocate an FFT object");
    f->n_fft = n_fft;
    if (n_fft % 2 == 0) f->real_cfg = kiss_fftr_alloc(n_fft, 0, NULL, NULL);
    else f->cplx_cfg = kiss_fft_alloc(n_fft, 0, NULL, NULL);
    f->in = calloc((size_t)n_fft, sizeof(float));
    f->cplx_in = n_fft % 2 ? calloc((size_t)n_fft, sizeof(kiss_fft_cpx)) : NULL;
    f->out = calloc((size_t)n_fft, sizeof(kiss_fft_cpx));
    if ((!f->real_cfg && !f->cplx_cfg) || !f->in || (n_fft % 2 && !f->cplx_in) || !f->out) {
        afx_cpu_fft_free(f);
        return afx_fail(err, err_size, AFX_ERR_OUT_OF_MEMORY, "cannot allocate a KissFFT transform of n_fft=%d",
                        n_fft);
    }
    *out = f;
    return AFX_OK;
}

void afx_cpu_fft_free(afx_cpu_fft *f) {
    if (!f) return;
    kiss_fftr_free(f->real_cfg);
    kiss_fft_free(f->cplx_cfg);
    free(f->in);
    free(f->cplx_in);
    free(f->out);
    free(f);
}

float *afx_cpu_fft_input(afx_cpu_fft *f) { return f->in; }

const float *afx_cpu_fft_execute(afx_cpu_fft *f) {
    if (f->real_cfg) {
        kiss_fftr(f->real_cfg, f->in, f->out);
    } else {
        for (int k = 0; k < f->n_fft; k++) {
            f->cplx_in[k].r = f->in[k];
            f->cplx_in[k].i = 0.0f;
        }
        kiss_fft(f->cplx_cfg, f->cplx_in, f->out);
    }
    return (const float *)f->out;  /* kiss_fft_cpx is {float r, i}: interleaved pairs */
}
#endif
