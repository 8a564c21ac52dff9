/*
 * internal.h: the plan object, the backend table and error helpers shared by the host sources. Not installed.
 *
 * Architecture (ggml-style backend split): afx.c holds parameters, validation, names and versions;
 * plan.c builds the backend-independent tables (window, mel weights, DCT, lifter) once per plan,
 * checks every batch, and dispatches to a backend through afx_backend_ops. cpu/cpu_backend.c is the
 * reference implementation; the CUDA backend will be a second table behind the same calls.
 */
#ifndef AFX_INTERNAL_H
#define AFX_INTERNAL_H

#include <stdarg.h>
#include <stdio.h>

#include "afx.h"

typedef struct afx_backend_ops {
    const char *name;
    /** Allocates the backend's state and scratch for the plan's limits. Sets plan->backend_state. */
    afx_status (*init)(afx_plan *plan);
    /** Runs a batch already checked by plan.c (shape, limits, pointers). Allocates nothing. */
    afx_status (*execute)(afx_plan *plan, const afx_input *in, afx_output *out);
    /** Frees plan->backend_state (NULL-safe). */
    void (*destroy)(afx_plan *plan);

    /* Optional (NULL: plan.c answers AFX_ERR_BACKEND_UNAVAILABLE, or loops over execute). */
    /** Batches already checked one by one by plan.c; pipelined on the CUDA backend. */
    afx_status (*execute_batches)(afx_plan *plan, const afx_input *inputs, afx_output *outputs, int n_batches,
                                  int *n_done);
    /** A checked batch whose output stays on the device; out->n_frames already filled by plan.c. */
    afx_status (*execute_device)(afx_plan *plan, const afx_input *in, afx_device_output *out, int64_t max_frames);
    /** Same with in->clips already device pointers (afx_plan_execute_device_input). */
    afx_status (*execute_device_input)(afx_plan *plan, const afx_input *in, afx_device_output *out,
                                       int64_t max_frames);
    afx_status (*set_stream)(afx_plan *plan, void *stream);
    afx_status (*workspace_size)(const afx_plan *plan, size_t *device_bytes, size_t *pinned_host_bytes);
    /** afx_plan_device_output_wait: waits for the last device output, applies the refusals found on the device. */
    afx_status (*device_output_wait)(afx_plan *plan, afx_device_output *out);
    /** afx_plan_release_device_output: the next write of the device output waits for `cuda_event`. */
    afx_status (*release_device_output)(afx_plan *plan, void *cuda_event);
} afx_backend_ops;

struct afx_plan_s {
    afx_params p;            /* validated, with 0-defaults resolved */
    afx_backend backend;     /* resolved (never AUTO) */
    const afx_backend_ops *ops;
    void *backend_state;

    /* derived sizes */
    int n_fft, win, hop;     /* effective values */
    int n_freq;              /* n_fft/2 + 1 */
    int framing;             /* AFX_FRAMING_* (kernels/frame/frame.h) */
    int pad;                 /* AFX_PAD_IDX_* */
    int fft_offset;          /* where the window sits in the FFT input */
    int n_base;              /* values per frame before the DCT: n_freq or n_mels */
    int n_features;          /* values per frame of the output: n_freq, n_mels or n_mfcc */
    int pooled_size;         /* values per clip with pooling (0 without) */
    int64_t max_frames;      /* frames of a max_samples clip (after drop_last_frame) */

    /* tables, built once at plan creation (float32 as the pipeline uses them) */
    float *window;           /* [win] */
    float *mel_weights;      /* [n_mels][n_freq], dense */
    int *mel_lo, *mel_hi;    /* [n_mels] nonzero bin range [lo, hi) of each filter */
    float *dct;              /* [n_mfcc][n_mels], lifter folded in */
    float db_ref_term;       /* db_multiplier * log10(max(amin, ref)) */
    int log_kind;            /* log applied to the mel energies: AFX_LB_LN/LOG10/DB (log/log.h), -1 for none */
    float floor_range;       /* per-clip floor of the base features (max - range): top_db for dB, log_range
                                for ln/log10; < 0 for none */

    char err[AFX_ERROR_MAX];
};

/* Formats a message into buf (NULL or size 0: nothing). Returns status, for `return afx_fail(...)`. */
afx_status afx_fail(char *buf, size_t size, afx_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Same, into the plan's message buffer. */
#define AFX_PLAN_FAIL(plan, status, ...) afx_fail((plan)->err, sizeof((plan)->err), (status), __VA_ARGS__)

/* Propagates a non-OK status. */
#define AFX_FORWARD(expr)                  \
    do {                                   \
        afx_status afx_st_ = (expr);       \
        if (afx_st_ != AFX_OK) return afx_st_; \
    } while (0)

/* Derived parameters, one definition each (afx.c), used by validation and by plan creation. */
int afx_params_effective_win(const afx_params *p);           /* win_length, or n_fft when 0 */
double afx_params_effective_f_max(const afx_params *p);      /* 0: Nyquist; < 0: Nyquist + f_max (Kaldi) */
int afx_params_n_features(const afx_params *p, int n_freq);  /* values per output frame */

/* The CPU backend's table (cpu/cpu_backend.c). */
extern const afx_backend_ops afx_cpu_backend;

#ifdef AFX_HAVE_CUDA
/* The CUDA backend lives in a separately loaded module (libafx_cuda.so, loaded by cuda/cuda_loader.c on first
 * use): its table, or AFX_ERR_BACKEND_UNAVAILABLE with a message naming what was tried and what is missing. */
afx_status afx_cuda_load(const afx_backend_ops **ops, char *err, size_t err_size);
/* Number of usable CUDA devices: 0 when the module, the driver or a device is missing (never fails). */
int afx_cuda_probe_devices(void);
#endif

/* Element size of an output dtype (4 or 2). */
size_t afx_dtype_size(afx_dtype dtype);

/* Sizes of a[n] * b[n] ... guarded against overflow; returns 0 on overflow. */
size_t afx_mul_size(size_t a, size_t b);

#endif /* AFX_INTERNAL_H */
