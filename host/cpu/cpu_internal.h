/*
 * cpu_internal.h: the CPU backend's state, shared by its files (cpu_backend.c: plan setup, execution
 * order and per-clip passes; cpu_frames.c: framing to base features). Not installed.
 *
 * Work is cut into blocks of AFX_CPU_BLOCK frames of one clip. The block boundaries depend only on the
 * clip (block j covers frames [j*AFX_CPU_BLOCK, (j+1)*AFX_CPU_BLOCK)), never on the thread count or on the
 * other clips of the batch, and every per-clip statistic is combined from per-block partial results in
 * block order. That is what makes the output bit-identical for every cpu_threads and batch composition.
 */
#ifndef AFX_CPU_INTERNAL_H
#define AFX_CPU_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "common/half.h"
#include "cpu_fft.h"
#include "cpu_pool.h"
#include "internal.h"

enum { AFX_CPU_BLOCK = 32 };

/* One block of frames of one clip: where its rows live, and what its passes leave for the serial combine
 * steps. The clip-level results (c_*) are only meaningful on a clip's first block. */
typedef struct afx_cpu_block {
    int clip;            /* index in the batch */
    int first;           /* index of the clip's first block in the wave's table */
    int64_t t0, t1;      /* frames [t0, t1) of the clip */
    float *rows;         /* arena rows of frames t0 .. t1-1, row stride n_base */
    float *energy;       /* Kaldi log energy of frames t0 .. t1-1 (mfcc_energy) */
    /* partial results of the last pass over this block */
    float max;           /* largest base value (top_db, log_range) */
    double sum, sq;      /* scalar sum; sum of squared deviations from the clip mean */
    double lo, hi;       /* smallest and largest value (minmax) */
    int spec_bad;        /* some power spectrum value was not finite */
    int64_t bad_t;       /* first non-finite output value of the block (frame-major): frame, or -1 */
    int bad_f;           /* its feature */
    float bad_v;         /* its value */
    /* clip results, first block only */
    float c_max, c_mask;
    double c_mean, c_inv, c_lo, c_hi;
} afx_cpu_block;

/* Per-thread scratch. */
typedef struct afx_cpu_worker {
    afx_cpu_fft *fft;    /* its input buffer is zero outside the window's place, written only there */
    float *seg;          /* [win] analysis samples of one frame */
    float *pow;          /* [n_freq] |X|^power of one frame */
    float *spec;         /* [n_freq][AFX_CPU_BLOCK] |X|^power of a block's frames, bin-major (zeroed at init) */
    float *tile;         /* [n_mels][AFX_CPU_BLOCK] a block's log-mel, transposed for the DCT */
} afx_cpu_worker;

typedef struct afx_cpu_pass {
    unsigned ops;        /* AFX_CPU_OP_* applied to every row, in the order of the bits */
    int partial;         /* AFX_CPU_PART_*: the statistic the pass leaves per block, then combined per clip */
} afx_cpu_pass;

enum {
    AFX_CPU_OP_FRAMES = 1u << 0, /* samples -> base features (spectrum, or mel + log) */
    AFX_CPU_OP_FLOOR = 1u << 1,  /* per-clip top_db / log_range floor */
    AFX_CPU_OP_DCT = 1u << 2,    /* MFCC (+ Kaldi energy in c0) */
    AFX_CPU_OP_AFFINE = 1u << 3, /* out_scale, out_bias */
    AFX_CPU_OP_NORM = 1u << 4,   /* normalization with the clip's statistics */
    AFX_CPU_OP_MASK = 1u << 5,   /* SpecAugment masks */
    AFX_CPU_OP_WRITE = 1u << 6   /* unpooled output (FT or TF, output dtype) and the finite check */
};

enum {
    AFX_CPU_PART_NONE = 0,
    AFX_CPU_PART_MAX,        /* largest base value -> c_max */
    AFX_CPU_PART_SUM,        /* utterance sum -> c_mean */
    AFX_CPU_PART_SQ,         /* utterance squared deviations -> c_inv */
    AFX_CPU_PART_MINMAX,     /* -> c_lo, c_hi */
    AFX_CPU_PART_SUM_F,      /* per-feature sums -> means in vec[first][0, nf) */
    AFX_CPU_PART_SQ_F,       /* per-feature squared deviations -> 1/std in vec[first][nf, 2nf) */
    AFX_CPU_PART_MASK_SUM,   /* sum -> c_mask (mask_value mean) */
    AFX_CPU_PART_POOL_SUM_F, /* per-feature sums -> pooled means in vec[first][2nf, 3nf) */
    AFX_CPU_PART_POOL_SQ_F   /* per-feature squared deviations -> pooled std in vec[first][3nf, 4nf) */
};

enum { AFX_CPU_MAX_PASSES = 8 };

typedef struct afx_cpu_state {
    const afx_plan *plan;
    afx_cpu_pool *pool;
    afx_cpu_worker *workers;     /* [pool size] */
    int n_workers;
    int simple_frames;           /* no dither, DC removal, pre-emphasis or energy: fused framing */
    afx_cpu_pass passes[AFX_CPU_MAX_PASSES];
    int n_passes;

    float *arena;                /* [arena_rows][n_base] features of the clips of one wave */
    float *energy;               /* [arena_rows] */
    int64_t arena_rows;
    afx_cpu_block *blocks;       /* [blocks_cap] one wave's blocks */
    int64_t blocks_cap;
    double *vec;                 /* [blocks_cap][4 nf] per-feature partials (NULL when unused) */
    int64_t *scan;               /* [max_batch * scan_slices] first non-finite sample of each slice, or -1 */
    int scan_slices;

    /* the call in progress */
    const afx_input *in;
    const afx_output *out;
    int pass;                    /* index into passes */
} afx_cpu_state;

/* 1 when any of x[0 .. n) is NaN or +-Inf. Exponent bits all ones, tested on the bit patterns without an
 * early exit, so that the loop vectorizes (the scans cover every sample and every output value). */
static inline int afx_cpu_any_nonfinite(const float *x, size_t n) {
    uint32_t any = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, sizeof u);
        any |= (uint32_t)((u & 0x7f800000u) == 0x7f800000u);
    }
    return any != 0;
}

/* 1 when any of x[0 .. n) does not fit output dtype `dtype` (afx_fits_dtype: NaN, +-Inf, or beyond
 * float16's or bfloat16's range), the same way. */
static inline int afx_cpu_any_unfit(const float *x, size_t n, int dtype) {
    const uint32_t limit = afx_dtype_inf_from(dtype);
    uint32_t any = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, sizeof u);
        any |= (uint32_t)((u & 0x7fffffffu) >= limit);
    }
    return any != 0;
}

/* cpu_frames.c: frames [t0, t1) of block k into its rows (base features), energy, max and spec_bad. */
void afx_cpu_frames(const afx_cpu_state *s, afx_cpu_worker *w, afx_cpu_block *k);

#endif /* AFX_CPU_INTERNAL_H */
