/*
 * cuda_state.h: the CUDA backend's per-plan state and the functions its files share (libafx_cuda.so only).
 *
 *   cuda_plan.c     plan time: device checks, sizes, cuFFT/cuBLAS handles, every allocation
 *   cuda_batch.c    one batch: packing (host threads), metadata, upload, kernels, download, refusals
 *   cuda_backend.c  the afx_backend_ops entry points (execute, batches, device output, streams)
 *   cuda_errors.c   CUDA / cuFFT / cuBLAS failures -> afx_status with a message naming the call
 *   cuda_module.c   the module's exported entry point (cuda_module.h)
 *
 * Buffers (B = max_batch, S = max_samples, T = frames of an S-sample clip, C = frames per FFT chunk):
 *   h_in[2]    pinned  B*S*2*4 bytes  packed input of a batch, clip after clip (int16 stays int16; room for
 *                                     stereo float; more channels are downmixed by the packing threads)
 *   h_meta[2]  pinned  per-batch metadata (frame/sample offsets, lengths, sources, tiles) and the per-clip
 *                      verdicts that come back with the batch (first bad sample, non-finite features)
 *   h_out[2]   pinned  the batch output (compact: frames_stride = the batch's largest frame count), unless
 *                      the caller's output buffer is pinned itself: then the download goes straight there
 *   d_raw      device  B*S*2*4 bytes  the uploaded input;  d_meta[2]: the uploaded metadata and verdicts
 *   d_mono     device  B*S floats     scaled mono samples (gather kernel, from d_raw or the caller's memory)
 *   d_fft_in   device  C*ld_in        framed, windowed chunk (ld_in = n_fft rounded up to even, so that
 *                                     every frame is 8-byte aligned) -> d_fft_out C*n_freq complex
 *   d_spec     device  C*n_freq       |X|^power of a chunk (mel features; spectrogram goes to d_feat)
 *   d_feat     device  B*T*n_base     base features, frame-major: spectrogram, or mel + log / dB
 *   d_mfcc     device  B*T*n_mfcc     DCT of d_feat (cuBLAS), Kaldi energy in c0 (d_energy: B*T)
 *   d_part, d_clip_a/b, d_feat_a/b    per-tile partials and per-clip / per-(clip, feature) statistics
 *   d_tflag, d_fflag, d_mask_val      SpecAugment masks of the batch
 *   d_out      device  the batch output in output_dtype (also what afx_plan_execute_device hands out)
 */
#ifndef AFX_CUDA_STATE_H
#define AFX_CUDA_STATE_H

#include <stdint.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cufft.h>

#include "cuda_launch.h"
#include "internal.h"
#include "pack_pool.h"

#define AFX_CU_CHUNK_ELEMS ((int64_t)1 << 23) /* FFT input floats per chunk (32 MiB) */
#define AFX_CU_CHUNK_MAX 65536                /* frames per chunk at most */
#define AFX_CU_GEMM_ROWS (1 << 20)            /* frames per DCT SGEMM call at most */
#define AFX_CU_TILE_ELEMS 32768               /* values per tile, about */
#define AFX_CU_N_FFT_PLANS 4                  /* cuFFT plans for C, C/8, C/64, C/512 frames */
#define AFX_CU_BLAS_WS ((size_t)32 << 20)     /* cuBLAS workspace (32 MiB is NVIDIA's advice for Hopper) */
#define AFX_CU_STAGE_CHANNELS 2               /* staging holds this many float channels per sample */
#define AFX_CU_PACK_THREADS 8                 /* packing threads at most (memory bandwidth, not cores, limits) */
#define AFX_CU_PACK_TASK_BYTES ((size_t)1 << 20) /* bytes per packing task */

/* Metadata sections of one batch (afx_cu_batch), in this order, each 16-byte aligned. The verdicts come
 * before the tiles so that their offsets depend on the clip count only. */
enum {
    META_FRAME_OFF,
    META_SAMPLE_OFF,
    META_LENGTH,
    META_AVAIL,
    META_CLIP_ID,
    META_SRC,
    META_BAD_INDEX, /* verdicts: downloaded back, META_BAD_INDEX .. META_BAD_FEATURES */
    META_BAD_VALUE,
    META_BAD_FEATURES,
    META_TILE_G0,
    META_TILE_CLIP,
    META_CLIP_TILE,
    META_COUNT
};

typedef enum { INPUT_HOST = 0, INPUT_DEVICE = 1 } input_kind;

typedef struct batch_info {
    int n_clips, n_tiles;
    uint64_t first_clip_index;
    input_kind kind;
    int64_t most;         /* largest frame count of the batch (frames_stride of the compact output) */
    int64_t n_frames;     /* frames on the device */
    int64_t max_avail;    /* most samples of one clip on the device */
    int is_s16, channels; /* what the sources hold */
    int orig_channels;    /* the caller's channels (bad sample indices count them) */
    int scan;             /* 1: the gather kernel scans for NaN/Inf (float input not downmixed on the host) */
    size_t raw_bytes, meta_bytes, out_bytes;
    size_t off[META_COUNT]; /* metadata section offsets */
    void *direct_out;     /* the caller's pinned output buffer the download goes to, or NULL (h_out) */
    int64_t direct_stride;
    afx_cu_batch dev;
} batch_info;

typedef struct cuda_state {
    int device;
    cudaStream_t own_stream, stream, h2d, d2h;
    /* ev_h2d/ev_d2h/ev_ready/ev_sync are waited on by the host: created with cudaEventBlockingSync, so that
     * the waiting thread sleeps instead of spinning on a core the packing threads need. */
    cudaEvent_t ev_h2d[2], ev_raw_free, ev_computed, ev_d2h[2], ev_out_free, ev_ready, ev_switch, ev_sync;
    cufftHandle fft[AFX_CU_N_FFT_PLANS];
    int fft_made[AFX_CU_N_FFT_PLANS], fft_batch[AFX_CU_N_FFT_PLANS], n_fft_plans;
    cublasHandle_t blas;
    afx_pack_pool *pool;

    /* sizes */
    int64_t cap_samples, cap_frames, cap_tiles;
    int chunk, chunk_alloc, ld_in, tile_t, nf_stats;
    size_t raw_cap, meta_cap, out_cap, fft_ws_bytes;
    size_t device_bytes, pinned_bytes;

    /* device memory */
    float *d_window, *d_mel, *d_dct;
    void *d_raw, *d_fft_out, *d_fft_ws, *d_blas_ws, *d_out;
    float *d_mono, *d_fft_in, *d_spec, *d_seg, *d_feat, *d_mfcc, *d_energy, *d_mask_val;
    double *d_part, *d_clip_a, *d_clip_b, *d_feat_a, *d_feat_b;
    uint8_t *d_tflag, *d_fflag;
    unsigned char *d_meta[2];

    /* pinned host memory */
    unsigned char *h_in[2], *h_meta[2], *h_out[2];

    int next_slot;
    batch_info info[2];
    int dev_slot; /* slot of the last execute_device(_input) batch, -1 if none or consumed by another execute */
} cuda_state;

/* ---- errors (cuda_errors.c): AFX_OK on success, else the plan's message "<call>: <name> (<detail>)" ---- */
afx_status afx_cu_cuda_fail(afx_plan *plan, cudaError_t e, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
afx_status afx_cu_cufft_fail(afx_plan *plan, cufftResult r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
afx_status afx_cu_cublas_fail(afx_plan *plan, cublasStatus_t r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Checked calls: the expression's status, then the printf-style description of the call. */
#define CU_TRY(call, ...) AFX_FORWARD(afx_cu_cuda_fail(plan, (call), __VA_ARGS__))
#define FFT_TRY(call, ...) AFX_FORWARD(afx_cu_cufft_fail(plan, (call), __VA_ARGS__))
#define BLAS_TRY(call, ...) AFX_FORWARD(afx_cu_cublas_fail(plan, (call), __VA_ARGS__))

/* ---- shared small functions ---- */
static inline size_t afx_cu_align16(size_t v) { return (v + 15u) & ~(size_t)15u; }
/* a * b * c with overflow -> 0. */
static inline size_t afx_cu_mul3(size_t a, size_t b, size_t c) { return afx_mul_size(afx_mul_size(a, b), c); }
/* Byte offsets of the metadata sections for n clips and t tiles; returns the total. */
size_t afx_cu_meta_layout(size_t n, size_t t, size_t off[META_COUNT]);
/* Points cuFFT and cuBLAS at the compute stream. */
afx_status afx_cu_bind_stream(afx_plan *plan, cuda_state *s);

/* ---- plan time (cuda_plan.c) ---- */
afx_status afx_cu_init(afx_plan *plan);
void afx_cu_destroy(afx_plan *plan);

/* ---- one batch (cuda_batch.c) ---- */
/* Makes the plan's device current; *prev gets the caller's, restored by afx_cu_leave_device. */
afx_status afx_cu_enter_device(afx_plan *plan, const cuda_state *s, int *prev);
void afx_cu_leave_device(const cuda_state *s, int prev);
/* After a failure: waits for the work this plan has queued, and only that (errors ignored). */
void afx_cu_drain(cuda_state *s);
/* Packs (host input) or describes (device input) a batch, uploads and queues its computation in the next
 * slot; *slot_out gets the slot. n_frames come from plan.c. */
afx_status afx_cu_start_batch(afx_plan *plan, cuda_state *s, const afx_input *in, input_kind kind,
                              const int64_t *n_frames, int *slot_out);
/* Queues the download of a started batch: the output (into `out`'s buffer when it is pinned, else h_out)
 * and the verdicts. out NULL: the verdicts only (device output). */
afx_status afx_cu_enqueue_download(afx_plan *plan, cuda_state *s, int slot, const afx_output *out);
/* Waits for a batch's download, copies the output into `out` at its stride (unless it went there directly),
 * zeroes the padding and applies the verdicts (n_frames -1; the slots are zeros already). Returns
 * AFX_ERR_INVALID_INPUT with the message of the first refused clip, AFX_OK when none, another status on a
 * CUDA failure. */
afx_status afx_cu_finish_batch(afx_plan *plan, cuda_state *s, int slot, const afx_output *out, int64_t *n_frames);
/* afx_plan_device_output_wait: waits for the last device batch's verdicts and applies them to out. */
afx_status afx_cu_device_verdicts(afx_plan *plan, cuda_state *s, afx_device_output *out);

/* ---- the backend (cuda_backend.c), handed out by the module entry (cuda_module.c) ---- */
extern const afx_backend_ops afx_cu_backend_ops;
int afx_cu_probe_devices(void);
/* afx_feature_name of the libafx that loaded the module. */
const char *afx_cu_feature_name(afx_feature f);

#endif /* AFX_CUDA_STATE_H */
