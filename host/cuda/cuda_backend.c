/*
 * cuda_backend.c: the CUDA backend (cuFFT + cuBLAS + the kernels of kernels/<op>/<op>.cu) behind the same
 * afx_backend_ops as the CPU reference, with the same semantics (host/cpu/cpu_backend.c is the reference).
 *
 * Plan time (cuda_init): picks p.cuda_device (refused with AFX_ERR_BACKEND_UNAVAILABLE when there is no
 * driver, no such device, compute capability < 7.0 or no kernel image for it), creates the plan's own
 * non-blocking stream plus one upload and one download stream, cuFFT R2C plans (any n_fft, odd too) for a
 * few batch sizes sharing one work area, for mel features the cuBLAS handle of the mel filterbank and DCT
 * products (pedantic FP32 math: no TF32) with its own workspace, uploads the window, the dense mel matrix
 * and the DCT matrix, and
 * allocates every buffer below for max_batch clips of max_samples samples, after checking cudaMemGetInfo
 * (and that the pinned staging stays under half of the machine's memory). Execution allocates nothing.
 *
 * Buffers (B = max_batch, S = max_samples, T = frames of an S-sample clip, C = frames per FFT chunk):
 *   h_in[2]    pinned  B*S*4 bytes   packed input of a batch, clip after clip (int16 stays int16)
 *   h_meta[2]  pinned  per-batch metadata: frame/sample offsets, lengths, clip ids, tiles
 *   h_out[2]   pinned  the batch output (compact: frames_stride = the batch's largest frame count)
 *   d_raw      device  B*S*4 bytes   the uploaded input;  d_meta[2]: the uploaded metadata
 *   d_mono     device  B*S floats    scaled mono samples (downmix kernel)
 *   d_fft_in   device  C*n_fft       framed, windowed chunk (frame kernel) -> d_fft_out C*n_freq complex
 *   d_spec     device  C*n_freq      |X|^power of a chunk (mel features; spectrogram goes to d_feat)
 *   d_feat     device  B*T*n_base    base features, frame-major: spectrogram, or mel + log / dB
 *   d_mfcc     device  B*T*n_mfcc    DCT of d_feat (cuBLAS), Kaldi energy in c0 (d_energy: B*T)
 *   d_part, d_clip_a/b, d_feat_a/b   per-tile partials and per-clip / per-(clip, feature) statistics
 *   d_tflag, d_fflag, d_mask_val     SpecAugment masks of the batch
 *   d_out      device  the batch output in output_dtype (also what afx_plan_execute_device hands out)
 *
 * One batch: the host packs every clip into h_in[slot] and scans float clips for NaN/Inf while copying
 * (refused clips: n_frames = -1, no frames on the device, a zeroed output slot, AFX_ERR_INVALID_INPUT with
 * the CPU's message), then builds the metadata (frame offsets, tiles). Upload stream: one H2D of the
 * samples and one of the metadata. Compute stream: downmix -> for each chunk of C frames of the packed
 * frame list: frame kernel (padding, dither, DC, energy, pre-emphasis, window) -> cufftExecR2C -> |X|^p ->
 * mel (cublasSgemm with the dense weight matrix) + log/dB; then per clip over valid frames only:
 * top_db / log_range (per-clip max) -> DCT SGEMM and energy c0 (MFCC) -> affine -> normalization -> masks
 * (drawn on the device with afx_mask_draw) -> pooling or FT/TF layout with zeroed padding, in the output
 * dtype. Download stream: one D2H of the
 * compact output into h_out[slot]; the host then copies it into the caller's buffer at its frames_stride.
 * There is no per-clip launch: kernels find a frame's clip by binary search over the frame offsets, and
 * per-clip reductions run over tiles (runs of at most tile_t frames of one clip).
 *
 * Pipelining (afx_plan_execute_batches): two pinned slots and events; batch i+1 is packed and uploaded
 * while batch i computes and batch i-1 is downloaded and copied out. Ordering: the upload of a batch waits
 * for the previous batch's downmix (d_raw, d_meta free), the output kernel waits for the previous
 * download (d_out free), packing into a slot waits for that slot's previous upload.
 *
 * Streams: all compute runs on the caller's stream when afx_plan_set_stream gave one (else the plan's
 * own); the copy streams are ordered with it through events. Every CUDA, cuFFT and cuBLAS call is checked
 * and turned into an afx_status with a message naming the call; device memory is only ever allocated here
 * at plan time, so a batch never runs out of it (a plan that does not fit is refused with
 * AFX_ERR_OUT_OF_MEMORY naming the bytes and the max_batch/max_samples that need them).
 */
#define _POSIX_C_SOURCE 200809L /* sysconf */

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cufft.h>
#include <unistd.h>

#include "convert/convert.h"
#include "cuda_launch.h"
#include "internal.h"
#include "log/log.h"

#define AFX_CU_CHUNK_ELEMS ((int64_t)1 << 23) /* FFT input floats per chunk (32 MiB) */
#define AFX_CU_CHUNK_MAX 65536                /* frames per chunk at most */
#define AFX_CU_GEMM_ROWS (1 << 20)            /* frames per DCT SGEMM call at most */
#define AFX_CU_TILE_ELEMS 32768               /* values per tile, about */
#define AFX_CU_N_FFT_PLANS 4                  /* cuFFT plans for C, C/8, C/64, C/512 frames */
#define AFX_CU_BLAS_WS ((size_t)32 << 20)     /* cuBLAS workspace (32 MiB is NVIDIA's advice for Hopper) */
#define AFX_CU_SCAN_BLOCK 4096                /* floats copied per NaN/Inf check */

/* Metadata sections of one batch (afx_cu_batch), in this order, each 16-byte aligned. */
enum {
    META_FRAME_OFF,
    META_SAMPLE_OFF,
    META_LENGTH,
    META_CLIP_ID,
    META_TILE_G0,
    META_TILE_CLIP,
    META_CLIP_TILE,
    META_COUNT
};

typedef struct batch_info {
    int n_clips, n_tiles;
    int64_t most;         /* largest frame count of the batch (frames_stride of the compact output) */
    int64_t n_frames;     /* frames on the device (refused clips have none) */
    int64_t n_samples;    /* mono samples uploaded */
    int is_s16, channels; /* what d_raw holds */
    size_t raw_bytes, meta_bytes, out_bytes;
    afx_cu_batch dev;
} batch_info;

typedef struct cuda_state {
    int device;
    cudaStream_t own_stream, stream, h2d, d2h;
    cudaEvent_t ev_h2d[2], ev_raw_free, ev_computed, ev_d2h[2], ev_out_free, ev_ready, ev_switch;
    cufftHandle fft[AFX_CU_N_FFT_PLANS];
    int fft_made[AFX_CU_N_FFT_PLANS], fft_batch[AFX_CU_N_FFT_PLANS], n_fft_plans;
    cublasHandle_t blas;

    /* sizes */
    int64_t cap_samples, cap_frames, cap_tiles;
    int chunk, tile_t, nf_stats;
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
} cuda_state;

/* ---- errors ---- */

static afx_status cuda_fail(afx_plan *plan, cudaError_t e, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* The plan's message "<call>: <error name> (<detail>)" for a failed CUDA, cuFFT or cuBLAS call described by
 * fmt/ap, with status st. Clears a non-sticky CUDA error. */
static afx_status call_fail(afx_plan *plan, afx_status st, const char *name, const char *detail, const char *fmt,
                            va_list ap) {
    char what[256];
    vsnprintf(what, sizeof what, fmt, ap);
    (void)cudaGetLastError();
    return AFX_PLAN_FAIL(plan, st, "%s: %s (%s)", what, name, detail);
}

/* AFX_OK for cudaSuccess; else the message "<call>: <error name> (<error text>)". Allocation failures are
 * AFX_ERR_OUT_OF_MEMORY, a missing driver/device/kernel image AFX_ERR_BACKEND_UNAVAILABLE, everything else
 * AFX_ERR_INTERNAL. */
static afx_status cuda_fail(afx_plan *plan, cudaError_t e, const char *fmt, ...) {
    if (e == cudaSuccess) return AFX_OK;
    afx_status st = AFX_ERR_INTERNAL;
    if (e == cudaErrorMemoryAllocation)
        st = AFX_ERR_OUT_OF_MEMORY;
    else if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver || e == cudaErrorDevicesUnavailable ||
             e == cudaErrorNoKernelImageForDevice || e == cudaErrorInvalidDevice)
        st = AFX_ERR_BACKEND_UNAVAILABLE;
    va_list ap;
    va_start(ap, fmt);
    st = call_fail(plan, st, cudaGetErrorName(e), cudaGetErrorString(e), fmt, ap);
    va_end(ap);
    return st;
}

static const char *cufft_name(cufftResult r) {
    switch (r) {
        case CUFFT_SUCCESS:
            return "CUFFT_SUCCESS";
        case CUFFT_INVALID_PLAN:
            return "CUFFT_INVALID_PLAN";
        case CUFFT_ALLOC_FAILED:
            return "CUFFT_ALLOC_FAILED";
        case CUFFT_INVALID_TYPE:
            return "CUFFT_INVALID_TYPE";
        case CUFFT_INVALID_VALUE:
            return "CUFFT_INVALID_VALUE";
        case CUFFT_INTERNAL_ERROR:
            return "CUFFT_INTERNAL_ERROR";
        case CUFFT_EXEC_FAILED:
            return "CUFFT_EXEC_FAILED";
        case CUFFT_SETUP_FAILED:
            return "CUFFT_SETUP_FAILED";
        case CUFFT_INVALID_SIZE:
            return "CUFFT_INVALID_SIZE";
        case CUFFT_UNALIGNED_DATA:
            return "CUFFT_UNALIGNED_DATA";
        case CUFFT_INVALID_DEVICE:
            return "CUFFT_INVALID_DEVICE";
        case CUFFT_NO_WORKSPACE:
            return "CUFFT_NO_WORKSPACE";
        case CUFFT_NOT_IMPLEMENTED:
            return "CUFFT_NOT_IMPLEMENTED";
        case CUFFT_NOT_SUPPORTED:
            return "CUFFT_NOT_SUPPORTED";
        default:
            return "unknown cuFFT error";
    }
}

static afx_status cufft_fail(afx_plan *plan, cufftResult r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static afx_status cufft_fail(afx_plan *plan, cufftResult r, const char *fmt, ...) {
    if (r == CUFFT_SUCCESS) return AFX_OK;
    char code[16];
    snprintf(code, sizeof code, "%d", (int)r);
    va_list ap;
    va_start(ap, fmt);
    afx_status st = call_fail(plan, r == CUFFT_ALLOC_FAILED ? AFX_ERR_OUT_OF_MEMORY : AFX_ERR_INTERNAL,
                              cufft_name(r), code, fmt, ap);
    va_end(ap);
    return st;
}

static afx_status cublas_fail(afx_plan *plan, cublasStatus_t r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static afx_status cublas_fail(afx_plan *plan, cublasStatus_t r, const char *fmt, ...) {
    if (r == CUBLAS_STATUS_SUCCESS) return AFX_OK;
    va_list ap;
    va_start(ap, fmt);
    afx_status st = call_fail(plan, r == CUBLAS_STATUS_ALLOC_FAILED ? AFX_ERR_OUT_OF_MEMORY : AFX_ERR_INTERNAL,
                              cublasGetStatusName(r), cublasGetStatusString(r), fmt, ap);
    va_end(ap);
    return st;
}

/* Checked calls: the expression's status, then the printf-style description of the call. */
#define CU_TRY(call, ...) AFX_FORWARD(cuda_fail(plan, (call), __VA_ARGS__))
#define FFT_TRY(call, ...) AFX_FORWARD(cufft_fail(plan, (call), __VA_ARGS__))
#define BLAS_TRY(call, ...) AFX_FORWARD(cublas_fail(plan, (call), __VA_ARGS__))

/* ---- small helpers ---- */

static size_t align16(size_t v) { return (v + 15u) & ~(size_t)15u; }

/* a * b * c with overflow -> 0. */
static size_t mul3(size_t a, size_t b, size_t c) { return afx_mul_size(afx_mul_size(a, b), c); }

/* Byte offsets of the metadata sections for n clips and t tiles; returns the total. */
static size_t meta_layout(size_t n, size_t t, size_t off[META_COUNT]) {
    size_t sizes[META_COUNT] = {
        [META_FRAME_OFF] = (n + 1) * sizeof(int64_t), [META_SAMPLE_OFF] = n * sizeof(int64_t),
        [META_LENGTH] = n * sizeof(int64_t),          [META_CLIP_ID] = n * sizeof(uint64_t),
        [META_TILE_G0] = (t + 1) * sizeof(int64_t),   [META_TILE_CLIP] = t * sizeof(int32_t),
        [META_CLIP_TILE] = (n + 1) * sizeof(int32_t),
    };
    size_t pos = 0;
    for (int i = 0; i < META_COUNT; i++) {
        off[i] = pos;
        pos += align16(sizes[i]);
    }
    return pos;
}

/* Makes the plan's device current; *prev gets the caller's, restored by leave_device. */
static afx_status enter_device(afx_plan *plan, const cuda_state *s, int *prev) {
    *prev = s->device;
    CU_TRY(cudaGetDevice(prev), "cudaGetDevice");
    if (*prev != s->device) CU_TRY(cudaSetDevice(s->device), "cudaSetDevice(%d)", s->device);
    return AFX_OK;
}

static void leave_device(const cuda_state *s, int prev) {
    if (prev != s->device) (void)cudaSetDevice(prev);
    (void)cudaGetLastError();
}

/* Waits for everything this plan queued (after an error too); errors are ignored. The compute stream may
 * be the caller's: only used while the caller is inside an execute call, when that stream is alive. */
static void drain(cuda_state *s) {
    if (s->h2d) (void)cudaStreamSynchronize(s->h2d);
    if (s->stream) (void)cudaStreamSynchronize(s->stream);
    if (s->d2h) (void)cudaStreamSynchronize(s->d2h);
    (void)cudaGetLastError();
}

/* ---- plan time ---- */

static void cuda_destroy(afx_plan *plan) {
    cuda_state *s = plan->backend_state;
    if (!s) return;
    int prev = s->device;
    if (cudaGetDevice(&prev) == cudaSuccess && prev != s->device) (void)cudaSetDevice(s->device);
    /* The caller's stream may be gone by now: wait for the plan's last batch through its event, and for
     * the plan's own streams (cudaFree synchronizes as well). */
    if (s->ev_ready) (void)cudaEventSynchronize(s->ev_ready);
    if (s->h2d) (void)cudaStreamSynchronize(s->h2d);
    if (s->d2h) (void)cudaStreamSynchronize(s->d2h);
    if (s->own_stream) (void)cudaStreamSynchronize(s->own_stream);
    (void)cudaGetLastError();
    for (int i = 0; i < AFX_CU_N_FFT_PLANS; i++)
        if (s->fft_made[i]) (void)cufftDestroy(s->fft[i]);
    if (s->blas) (void)cublasDestroy(s->blas);
    void *dev[] = {s->d_window, s->d_mel,      s->d_dct,     s->d_raw,    s->d_fft_out,
                   s->d_fft_ws, s->d_blas_ws, s->d_out,    s->d_mono,     s->d_fft_in,  s->d_spec,   s->d_seg,
                   s->d_feat,   s->d_mfcc,    s->d_energy, s->d_mask_val, s->d_part,    s->d_clip_a, s->d_clip_b,
                   s->d_feat_a, s->d_feat_b,  s->d_tflag,  s->d_fflag,    s->d_meta[0], s->d_meta[1]};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++)
        if (dev[i]) (void)cudaFree(dev[i]);
    unsigned char *host[] = {s->h_in[0], s->h_in[1], s->h_meta[0], s->h_meta[1], s->h_out[0], s->h_out[1]};
    for (size_t i = 0; i < sizeof host / sizeof host[0]; i++)
        if (host[i]) (void)cudaFreeHost(host[i]);
    cudaEvent_t ev[] = {s->ev_h2d[0], s->ev_h2d[1],   s->ev_raw_free, s->ev_computed, s->ev_d2h[0],
                        s->ev_d2h[1], s->ev_out_free, s->ev_ready,    s->ev_switch};
    for (size_t i = 0; i < sizeof ev / sizeof ev[0]; i++)
        if (ev[i]) (void)cudaEventDestroy(ev[i]);
    if (s->h2d) (void)cudaStreamDestroy(s->h2d);
    if (s->d2h) (void)cudaStreamDestroy(s->d2h);
    if (s->own_stream) (void)cudaStreamDestroy(s->own_stream);
    if (prev != s->device) (void)cudaSetDevice(prev);
    (void)cudaGetLastError();
    free(s);
    plan->backend_state = NULL;
}

/* The device and its properties, or AFX_ERR_BACKEND_UNAVAILABLE with the reason. */
static afx_status pick_device(afx_plan *plan, struct cudaDeviceProp *prop) {
    int dev = plan->p.cuda_device, count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return AFX_PLAN_FAIL(plan, AFX_ERR_BACKEND_UNAVAILABLE,
                             "backend=cuda: no usable CUDA driver or device (cudaGetDeviceCount: %s: %s)",
                             cudaGetErrorName(e), cudaGetErrorString(e));
    }
    if (count <= 0) return AFX_PLAN_FAIL(plan, AFX_ERR_BACKEND_UNAVAILABLE, "backend=cuda: no CUDA device found");
    if (dev >= count)
        return AFX_PLAN_FAIL(plan, AFX_ERR_BACKEND_UNAVAILABLE,
                             "cuda_device=%d: this machine has %d CUDA device(s) (ordinals 0..%d)", dev, count,
                             count - 1);
    e = cudaGetDeviceProperties(prop, dev);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return AFX_PLAN_FAIL(plan, AFX_ERR_BACKEND_UNAVAILABLE, "cudaGetDeviceProperties(device %d): %s (%s)", dev,
                             cudaGetErrorName(e), cudaGetErrorString(e));
    }
    if (prop->major < 7)
        return AFX_PLAN_FAIL(
            plan, AFX_ERR_BACKEND_UNAVAILABLE,
            "CUDA device %d (%s) has compute capability %d.%d; the afx CUDA backend needs 7.0 or newer", dev,
            prop->name, prop->major, prop->minor);
    return AFX_OK;
}

/* Physical memory of the machine (0 if unknown). */
static size_t host_ram_bytes(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? afx_mul_size((size_t)pages, (size_t)page) : 0;
}

/* Sizes of everything from the plan's limits; AFX_ERR_OUT_OF_MEMORY when a size overflows. */
static afx_status plan_sizes(afx_plan *plan, cuda_state *s) {
    const afx_params *p = &plan->p;
    size_t B = (size_t)p->max_batch, es = afx_dtype_size(p->output_dtype);
    int64_t tmax = plan->max_frames > 0 ? plan->max_frames : 0;
    s->cap_samples = (int64_t)p->max_batch * p->max_samples; /* <= 2^56 */
    s->raw_cap = mul3(B, (size_t)p->max_samples, sizeof(float));
    size_t frames = afx_mul_size(B, (size_t)tmax);
    if (!s->raw_cap || (tmax > 0 && !frames) || frames > (size_t)INT64_MAX / 8)
        return AFX_PLAN_FAIL(plan, AFX_ERR_OUT_OF_MEMORY,
                             "max_batch=%d x max_samples=%lld is too large for the CUDA backend's buffers",
                             p->max_batch, (long long)p->max_samples);
    s->cap_frames = (int64_t)frames;

    int64_t chunk = AFX_CU_CHUNK_ELEMS / plan->n_fft;
    if (chunk > AFX_CU_CHUNK_MAX) chunk = AFX_CU_CHUNK_MAX;
    if (chunk > s->cap_frames) chunk = s->cap_frames;
    if (chunk < 1) chunk = 1;
    s->chunk = (int)chunk;

    int wide = plan->n_base > plan->n_features ? plan->n_base : plan->n_features;
    int tile = AFX_CU_TILE_ELEMS / wide;
    s->tile_t = tile < 64 ? 64 : tile > 4096 ? 4096 : tile;
    s->cap_tiles = (int64_t)B * ((tmax + s->tile_t - 1) / s->tile_t);
    if (s->cap_tiles > INT_MAX)
        return AFX_PLAN_FAIL(plan, AFX_ERR_OUT_OF_MEMORY,
                             "max_batch=%d x max_samples=%lld gives %lld frames: too many for the CUDA backend",
                             p->max_batch, (long long)p->max_samples, (long long)s->cap_frames);

    s->nf_stats = (p->normalize == AFX_NORM_FEATURE || plan->pooled_size) ? plan->n_features : 0;
    size_t off[META_COUNT];
    s->meta_cap = meta_layout(B, (size_t)s->cap_tiles, off);
    s->out_cap = plan->pooled_size ? mul3(B, (size_t)plan->pooled_size, es)
                                   : mul3(afx_mul_size(B, (size_t)plan->n_features), (size_t)(tmax > 0 ? tmax : 1), es);
    if (!s->out_cap)
        return AFX_PLAN_FAIL(plan, AFX_ERR_OUT_OF_MEMORY,
                             "max_batch=%d x max_samples=%lld: the output buffer size overflows", p->max_batch,
                             (long long)p->max_samples);
    return AFX_OK;
}

typedef struct dev_alloc {
    void **ptr;
    size_t bytes;
    const char *what;
    int needed;
} dev_alloc;

static afx_status oom_message(afx_plan *plan, size_t need, size_t free_b, size_t total_b, const char *what) {
    const afx_params *p = &plan->p;
    return AFX_PLAN_FAIL(plan, AFX_ERR_OUT_OF_MEMORY,
                         "the CUDA backend needs %zu bytes of device memory (%s) for max_batch=%d, max_samples=%lld "
                         "(%s, n_fft=%d, %d values per frame) but device %d has %zu of %zu bytes free; lower "
                         "max_batch or max_samples",
                         need, what, p->max_batch, (long long)p->max_samples, afx_feature_name(p->feature), plan->n_fft,
                         plan->n_base, p->cuda_device, free_b, total_b);
}

static afx_status make_fft_plans(afx_plan *plan, cuda_state *s) {
    int batches[AFX_CU_N_FFT_PLANS] = {s->chunk, s->chunk / 8, s->chunk / 64, s->chunk / 512};
    int n = plan->n_fft;
    s->n_fft_plans = 0;
    if (n < 2) return AFX_OK; /* length 1: the identity, done by a kernel (afx_cu_dft1) */
    for (int i = 0; i < AFX_CU_N_FFT_PLANS; i++) {
        int b = batches[i];
        if (b < 1 || (s->n_fft_plans > 0 && b == s->fft_batch[s->n_fft_plans - 1])) continue;
        int k = s->n_fft_plans;
        size_t ws = 0;
        FFT_TRY(cufftCreate(&s->fft[k]), "cufftCreate");
        s->fft_made[k] = 1;
        s->n_fft_plans++;
        FFT_TRY(cufftSetAutoAllocation(s->fft[k], 0), "cufftSetAutoAllocation");
        /* Default (packed) layout: n real in, n/2+1 complex out per transform; any n, odd too. */
        FFT_TRY(cufftMakePlanMany(s->fft[k], 1, &n, NULL, 1, n, NULL, 1, plan->n_freq, CUFFT_R2C, b, &ws),
                "cufftMakePlanMany(R2C, n_fft=%d, batch=%d)", n, b);
        s->fft_batch[k] = b;
        if (ws > s->fft_ws_bytes) s->fft_ws_bytes = ws;
    }
    return AFX_OK;
}

/* Points cuFFT and cuBLAS at the compute stream (cublasSetStream resets the workspace: set it again). */
static afx_status bind_stream(afx_plan *plan, cuda_state *s) {
    for (int i = 0; i < s->n_fft_plans; i++) {
        FFT_TRY(cufftSetStream(s->fft[i], s->stream), "cufftSetStream");
        if (s->d_fft_ws)
            FFT_TRY(cufftSetWorkArea(s->fft[i], s->d_fft_ws), "cufftSetWorkArea(%zu bytes)", s->fft_ws_bytes);
    }
    if (s->blas) {
        BLAS_TRY(cublasSetStream(s->blas, s->stream), "cublasSetStream");
        BLAS_TRY(cublasSetWorkspace(s->blas, s->d_blas_ws, AFX_CU_BLAS_WS), "cublasSetWorkspace(%zu bytes)",
                 AFX_CU_BLAS_WS);
    }
    return AFX_OK;
}

static afx_status upload_table(afx_plan *plan, cuda_state *s, float *dst, const float *src, size_t count,
                               const char *what) {
    if (!count) return AFX_OK;
    CU_TRY(cudaMemcpyAsync(dst, src, count * sizeof(float), cudaMemcpyHostToDevice, s->own_stream),
           "cudaMemcpyAsync(%s, %zu bytes)", what, count * sizeof(float));
    return AFX_OK;
}

static afx_status init_state(afx_plan *plan, cuda_state *s) {
    const afx_params *p = &plan->p;
    AFX_FORWARD(plan_sizes(plan, s));

    CU_TRY(cudaStreamCreateWithFlags(&s->own_stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    CU_TRY(cudaStreamCreateWithFlags(&s->h2d, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    CU_TRY(cudaStreamCreateWithFlags(&s->d2h, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    s->stream = s->own_stream;
    cudaEvent_t *ev[] = {&s->ev_h2d[0], &s->ev_h2d[1],   &s->ev_raw_free, &s->ev_computed, &s->ev_d2h[0],
                         &s->ev_d2h[1], &s->ev_out_free, &s->ev_ready,    &s->ev_switch};
    for (size_t i = 0; i < sizeof ev / sizeof ev[0]; i++)
        CU_TRY(cudaEventCreateWithFlags(ev[i], cudaEventDisableTiming), "cudaEventCreateWithFlags");

    AFX_FORWARD(make_fft_plans(plan, s));
    int mel = p->feature != AFX_FEATURE_SPECTROGRAM, mfcc = p->feature == AFX_FEATURE_MFCC;
    if (mel) { /* the mel filterbank and the DCT are cuBLAS SGEMMs */
        BLAS_TRY(cublasCreate(&s->blas), "cublasCreate");
        /* FP32 throughout, no TF32 or other reduced-precision shortcut: values match the CPU to float
         * rounding. */
        BLAS_TRY(cublasSetMathMode(s->blas, CUBLAS_PEDANTIC_MATH), "cublasSetMathMode(CUBLAS_PEDANTIC_MATH)");
    }

    size_t B = (size_t)p->max_batch, F = (size_t)(s->cap_frames > 0 ? s->cap_frames : 1);
    size_t C = (size_t)s->chunk, nf = (size_t)plan->n_features, T = (size_t)(s->cap_tiles > 0 ? s->cap_tiles : 1);
    size_t part_w = s->nf_stats > 4 ? (size_t)s->nf_stats : 4;
    int big_win = plan->win > afx_cu_frame_smem_max();
    size_t chunk_fft = mul3(C, (size_t)plan->n_fft, sizeof(float));
    /* {buffer, bytes, what, needed}: a needed buffer whose size computes to 0 overflowed. */
    dev_alloc dev[] = {
        {(void **)&s->d_window, (size_t)plan->win * sizeof(float), "window", 1},
        {(void **)&s->d_mel, mul3((size_t)p->n_mels, (size_t)plan->n_freq, sizeof(float)), "mel matrix", mel},
        {(void **)&s->d_dct, mul3((size_t)p->n_mfcc, (size_t)p->n_mels, sizeof(float)), "DCT matrix", mfcc},
        {(void **)&s->d_raw, s->raw_cap, "input samples", 1},
        {(void **)&s->d_mono, afx_mul_size((size_t)s->cap_samples, sizeof(float)), "mono samples", 1},
        {(void **)&s->d_fft_in, chunk_fft, "FFT input", 1},
        {(void **)&s->d_fft_out, mul3(C, (size_t)plan->n_freq, sizeof(cufftComplex)), "FFT output", 1},
        {(void **)&s->d_fft_ws, s->fft_ws_bytes, "cuFFT work area", s->fft_ws_bytes > 0},
        {(void **)&s->d_spec, mul3(C, (size_t)plan->n_freq, sizeof(float)), "power spectrum", mel},
        {(void **)&s->d_seg, mul3(C, (size_t)plan->win, sizeof(float)), "frame segments", big_win},
        {(void **)&s->d_feat, mul3(F, (size_t)plan->n_base, sizeof(float)), "feature matrix", 1},
        {(void **)&s->d_mfcc, mul3(F, (size_t)p->n_mfcc, sizeof(float)), "MFCC matrix", mfcc},
        {(void **)&s->d_energy, afx_mul_size(F, sizeof(float)), "frame energies", mfcc && p->mfcc_energy},
        {(void **)&s->d_part, mul3(T, part_w, sizeof(double)), "tile statistics", 1},
        {(void **)&s->d_clip_a, mul3(B, 4, sizeof(double)), "clip statistics", 1},
        {(void **)&s->d_clip_b, mul3(B, 4, sizeof(double)), "clip statistics", 1},
        {(void **)&s->d_feat_a, mul3(B, nf, sizeof(double)), "feature statistics", s->nf_stats > 0},
        {(void **)&s->d_feat_b, mul3(B, nf, sizeof(double)), "feature statistics", s->nf_stats > 0},
        {(void **)&s->d_tflag, F, "time mask flags", p->n_time_masks > 0},
        {(void **)&s->d_fflag, afx_mul_size(B, nf), "frequency mask flags", p->n_freq_masks > 0},
        {(void **)&s->d_mask_val, afx_mul_size(B, sizeof(float)), "mask values", 1},
        {(void **)&s->d_out, s->out_cap, "output", 1},
        {(void **)&s->d_meta[0], s->meta_cap, "batch metadata", 1},
        {(void **)&s->d_meta[1], s->meta_cap, "batch metadata", 1},
        {(void **)&s->d_blas_ws, AFX_CU_BLAS_WS, "cuBLAS workspace", mel},
    };
    size_t n_dev = sizeof dev / sizeof dev[0], need = 0;
    for (size_t i = 0; i < n_dev; i++) {
        if (!dev[i].needed) continue;
        if (dev[i].bytes == 0 || need + dev[i].bytes < need)
            return AFX_PLAN_FAIL(plan, AFX_ERR_OUT_OF_MEMORY,
                                 "max_batch=%d x max_samples=%lld: the size of the CUDA backend's %s overflows",
                                 p->max_batch, (long long)p->max_samples, dev[i].what);
        need += dev[i].bytes;
    }
    size_t free_b = 0, total_b = 0;
    CU_TRY(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo");
    if (need > free_b) return oom_message(plan, need, free_b, total_b, "all buffers");
    for (size_t i = 0; i < n_dev; i++) {
        if (!dev[i].needed) continue;
        cudaError_t e = cudaMalloc(dev[i].ptr, dev[i].bytes);
        if (e != cudaSuccess) {
            *dev[i].ptr = NULL;
            (void)cudaGetLastError();
            if (e == cudaErrorMemoryAllocation) {
                (void)cudaMemGetInfo(&free_b, &total_b);
                (void)cudaGetLastError();
                return oom_message(plan, dev[i].bytes, free_b, total_b, dev[i].what);
            }
            return cuda_fail(plan, e, "cudaMalloc(%zu bytes for the %s)", dev[i].bytes, dev[i].what);
        }
        s->device_bytes += dev[i].bytes;
    }

    /* Pinning most of the machine's memory would starve it (or wake the OOM killer) rather than fail:
     * refuse staging larger than half of the physical memory. */
    size_t pin_total = 0, ram = host_ram_bytes();
    size_t pin_parts[] = {s->raw_cap, s->raw_cap, s->meta_cap, s->meta_cap, s->out_cap, s->out_cap};
    for (size_t i = 0; i < sizeof pin_parts / sizeof pin_parts[0]; i++)
        pin_total = pin_total + pin_parts[i] < pin_total ? SIZE_MAX : pin_total + pin_parts[i];
    if (ram && pin_total > ram / 2)
        return AFX_PLAN_FAIL(plan, AFX_ERR_OUT_OF_MEMORY,
                             "the CUDA backend needs %zu bytes of pinned host memory (double-buffered staging) for "
                             "max_batch=%d, max_samples=%lld but the machine has %zu bytes of memory; lower "
                             "max_batch or max_samples",
                             pin_total, p->max_batch, (long long)p->max_samples, ram);
    struct {
        unsigned char **ptr;
        size_t bytes;
        const char *what;
    } pin[] = {{&s->h_in[0], s->raw_cap, "input staging"},       {&s->h_in[1], s->raw_cap, "input staging"},
               {&s->h_meta[0], s->meta_cap, "metadata staging"}, {&s->h_meta[1], s->meta_cap, "metadata staging"},
               {&s->h_out[0], s->out_cap, "output staging"},     {&s->h_out[1], s->out_cap, "output staging"}};
    for (size_t i = 0; i < sizeof pin / sizeof pin[0]; i++) {
        cudaError_t e = cudaHostAlloc((void **)pin[i].ptr, pin[i].bytes, cudaHostAllocPortable);
        if (e != cudaSuccess) {
            *pin[i].ptr = NULL;
            (void)cudaGetLastError();
            return AFX_PLAN_FAIL(plan, AFX_ERR_OUT_OF_MEMORY,
                                 "cudaHostAlloc(%zu bytes of pinned host memory for the %s, max_batch=%d, "
                                 "max_samples=%lld): %s; lower max_batch or max_samples",
                                 pin[i].bytes, pin[i].what, p->max_batch, (long long)p->max_samples,
                                 cudaGetErrorName(e));
        }
        s->pinned_bytes += pin[i].bytes;
    }

    AFX_FORWARD(upload_table(plan, s, s->d_window, plan->window, (size_t)plan->win, "window"));
    if (mel) {
        AFX_FORWARD(
            upload_table(plan, s, s->d_mel, plan->mel_weights, (size_t)p->n_mels * (size_t)plan->n_freq, "mel matrix"));
    }
    if (mfcc)
        AFX_FORWARD(upload_table(plan, s, s->d_dct, plan->dct, (size_t)p->n_mfcc * (size_t)p->n_mels, "DCT matrix"));
    /* Frames past a partial chunk are transformed too (a plan's batch may exceed it): keep them defined. */
    CU_TRY(cudaMemsetAsync(s->d_fft_in, 0, chunk_fft, s->own_stream), "cudaMemsetAsync(FFT input)");
    CU_TRY(cudaStreamSynchronize(s->own_stream), "cudaStreamSynchronize(plan creation)");
    AFX_FORWARD(bind_stream(plan, s));
    return AFX_OK;
}

static afx_status cuda_init(afx_plan *plan) {
    if (plan->p.norm_unbiased)
        return AFX_PLAN_FAIL(plan, AFX_ERR_BACKEND_UNAVAILABLE,
                             "norm_unbiased=1: the CUDA backend does not implement it yet (use cpu)");
    if (plan->p.fixed_length > 0)
        return AFX_PLAN_FAIL(plan, AFX_ERR_BACKEND_UNAVAILABLE,
                             "fixed_length=%lld: the CUDA backend does not implement fixed_length yet (use cpu)",
                             (long long)plan->p.fixed_length);
    struct cudaDeviceProp prop;
    memset(&prop, 0, sizeof prop);
    AFX_FORWARD(pick_device(plan, &prop));
    int dev = plan->p.cuda_device, prev = dev;
    CU_TRY(cudaGetDevice(&prev), "cudaGetDevice");
    CU_TRY(cudaSetDevice(dev), "cudaSetDevice(%d)", dev);
    cudaError_t e = afx_cu_image_check(); /* also creates the device's context */
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        if (prev != dev) (void)cudaSetDevice(prev);
        if (e != cudaErrorNoKernelImageForDevice && e != cudaErrorInvalidDeviceFunction)
            return AFX_PLAN_FAIL(plan, AFX_ERR_BACKEND_UNAVAILABLE,
                                 "CUDA device %d (%s) cannot be used: cudaFuncGetAttributes: %s (%s)", dev, prop.name,
                                 cudaGetErrorName(e), cudaGetErrorString(e));
        return AFX_PLAN_FAIL(plan, AFX_ERR_BACKEND_UNAVAILABLE,
                             "CUDA device %d (%s, compute capability %d.%d): this build of afx has no kernel image "
                             "for it (%s); rebuild with CMAKE_CUDA_ARCHITECTURES including %d%d",
                             dev, prop.name, prop.major, prop.minor, cudaGetErrorName(e), prop.major, prop.minor);
    }
    cuda_state *s = calloc(1, sizeof *s);
    if (!s) {
        if (prev != dev) (void)cudaSetDevice(prev);
        return AFX_PLAN_FAIL(plan, AFX_ERR_OUT_OF_MEMORY, "cannot allocate the CUDA backend state");
    }
    s->device = dev;
    plan->backend_state = s; /* cuda_destroy frees a partial state */
    afx_status st = init_state(plan, s);
    if (prev != dev) (void)cudaSetDevice(prev);
    (void)cudaGetLastError();
    return st;
}

/* ---- one batch: host packing ---- */

static int is_bad_bits(float v) {
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return (u & 0x7f800000u) == 0x7f800000u;
}

/* Copies count floats (dst may be NULL: check only); index of the first NaN/Inf or -1. */
static int64_t copy_check_f32(float *dst, const float *src, int64_t count) {
    for (int64_t i0 = 0; i0 < count; i0 += AFX_CU_SCAN_BLOCK) {
        int64_t n = count - i0 < AFX_CU_SCAN_BLOCK ? count - i0 : AFX_CU_SCAN_BLOCK;
        const float *x = src + i0;
        int bad = 0;
        if (dst) {
            float *y = dst + i0;
            for (int64_t i = 0; i < n; i++) {
                y[i] = x[i];
                bad |= is_bad_bits(x[i]);
            }
        } else {
            for (int64_t i = 0; i < n; i++) bad |= is_bad_bits(x[i]);
        }
        if (bad)
            for (int64_t i = 0; i < n; i++)
                if (is_bad_bits(x[i])) return i0 + i;
    }
    return -1;
}

/* Packs batch `in` into slot `slot` (samples and metadata) and fills *bi. n_frames (from plan.c) gets -1
 * for a refused clip. Returns AFX_ERR_INVALID_INPUT with the CPU's message when a clip was refused (the
 * batch is still complete), AFX_OK otherwise. NaN/Inf are detected here, on the host, while copying: a
 * refused clip keeps its place in the packed samples but gets no frames, so no kernel reads it and the
 * output stages write zeros for it. */
static afx_status pack_batch(afx_plan *plan, cuda_state *s, const afx_input *in, int64_t *n_frames, int slot,
                             batch_info *bi) {
    const int n = in->n_clips, ch = in->n_channels, s16 = in->format == AFX_SAMPLE_S16;
    afx_status st = AFX_OK;
    memset(bi, 0, sizeof *bi);
    bi->n_clips = n;

    /* Only clips with frames need samples on the device. */
    int64_t total = 0, most = 0;
    for (int b = 0; b < n; b++) {
        if (n_frames[b] > most) most = n_frames[b];
        if (n_frames[b] > 0) total += in->lengths[b];
    }
    bi->most = most;
    size_t raw_elem = s16 ? sizeof(int16_t) : sizeof(float);
    size_t raw_bytes = mul3((size_t)total, (size_t)ch, raw_elem);
    /* Many channels: downmix on the host so that the batch fits the staging buffer (mono floats always do). */
    int host_mix = total > 0 && (raw_bytes == 0 || raw_bytes > s->raw_cap);
    bi->is_s16 = host_mix ? 0 : s16;
    bi->channels = host_mix ? 1 : ch;
    bi->n_samples = total;
    bi->raw_bytes = host_mix ? (size_t)total * sizeof(float) : raw_bytes;

    /* The sections before the tiles depend on n only: their offsets are final already. */
    size_t off[META_COUNT];
    (void)meta_layout((size_t)n, 0, off);
    unsigned char *h = s->h_meta[slot];
    int64_t *sample_off = (int64_t *)(void *)(h + off[META_SAMPLE_OFF]);

    int64_t pos = 0;
    for (int b = 0; b < n; b++) {
        const int64_t len = in->lengths[b];
        const int packed = n_frames[b] > 0;
        const void *clip = in->clips[b];
        sample_off[b] = pos;
        int64_t bad = -1;
        if (len > 0 && !s16) {
            float *dst =
                packed && !host_mix ? (float *)(void *)(s->h_in[slot] + (size_t)pos * (size_t)ch * raw_elem) : NULL;
            bad = copy_check_f32(dst, clip, len * ch);
            if (bad >= 0) {
                float v = ((const float *)clip)[bad];
                if (st == AFX_OK) /* name the first refused clip; keep computing the others */
                    st = AFX_PLAN_FAIL(plan, AFX_ERR_INVALID_INPUT,
                                       "clip %d (global index %llu): sample %lld (channel %d) is %s; clip refused", b,
                                       (unsigned long long)(in->first_clip_index + (uint64_t)b), (long long)(bad / ch),
                                       (int)(bad % ch), isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf"));
                n_frames[b] = -1;
            }
        }
        if (packed && bad < 0 && len > 0) {
            if (host_mix) {
                float *y = (float *)(void *)(s->h_in[slot] + (size_t)pos * sizeof(float));
                for (int64_t j = 0; j < len; j++)
                    y[j] = s16 ? afx_downmix_s16((const int16_t *)clip + j * ch, ch)
                               : afx_downmix_f32((const float *)clip + j * ch, ch);
            } else if (s16) {
                memcpy(s->h_in[slot] + (size_t)pos * (size_t)ch * raw_elem, clip, (size_t)len * (size_t)ch * raw_elem);
            }
        }
        if (packed) pos += len;
    }

    /* Frame offsets and tiles from the final frame counts (a refused clip has none). */
    int64_t n_tiles = 0;
    for (int b = 0; b < n; b++)
        if (n_frames[b] > 0) n_tiles += (n_frames[b] + s->tile_t - 1) / s->tile_t;
    if (n_tiles > s->cap_tiles)
        return AFX_PLAN_FAIL(plan, AFX_ERR_INTERNAL, "batch needs %lld tiles, more than the %lld planned",
                             (long long)n_tiles, (long long)s->cap_tiles);
    bi->meta_bytes = meta_layout((size_t)n, (size_t)n_tiles, off);
    int64_t *frame_off = (int64_t *)(void *)(h + off[META_FRAME_OFF]);
    int64_t *length = (int64_t *)(void *)(h + off[META_LENGTH]);
    uint64_t *clip_id = (uint64_t *)(void *)(h + off[META_CLIP_ID]);
    int64_t *tile_g0 = (int64_t *)(void *)(h + off[META_TILE_G0]);
    int32_t *tile_clip = (int32_t *)(void *)(h + off[META_TILE_CLIP]);
    int32_t *clip_tile = (int32_t *)(void *)(h + off[META_CLIP_TILE]);
    int64_t g = 0;
    int32_t tile = 0;
    for (int b = 0; b < n; b++) {
        const int64_t frames = n_frames[b] > 0 ? n_frames[b] : 0;
        frame_off[b] = g;
        length[b] = frames > 0 ? in->lengths[b] : 0;
        clip_id[b] = in->first_clip_index + (uint64_t)b;
        clip_tile[b] = tile;
        for (int64_t t0 = 0; t0 < frames; t0 += s->tile_t) {
            tile_g0[tile] = g + t0;
            tile_clip[tile] = b;
            tile++;
        }
        g += frames;
    }
    frame_off[n] = g;
    clip_tile[n] = tile;
    tile_g0[tile] = g;
    bi->n_frames = g;
    bi->n_tiles = tile;

    unsigned char *d = s->d_meta[slot];
    bi->dev.n_clips = n;
    bi->dev.n_tiles = tile;
    bi->dev.n_frames = g;
    bi->dev.frame_off = (const int64_t *)(const void *)(d + off[META_FRAME_OFF]);
    bi->dev.sample_off = (const int64_t *)(const void *)(d + off[META_SAMPLE_OFF]);
    bi->dev.length = (const int64_t *)(const void *)(d + off[META_LENGTH]);
    bi->dev.clip_id = (const uint64_t *)(const void *)(d + off[META_CLIP_ID]);
    bi->dev.tile_g0 = (const int64_t *)(const void *)(d + off[META_TILE_G0]);
    bi->dev.tile_clip = (const int32_t *)(const void *)(d + off[META_TILE_CLIP]);
    bi->dev.clip_tile = (const int32_t *)(const void *)(d + off[META_CLIP_TILE]);

    size_t es = afx_dtype_size(plan->p.output_dtype);
    bi->out_bytes = plan->pooled_size ? mul3((size_t)n, (size_t)plan->pooled_size, es)
                                      : mul3(afx_mul_size((size_t)n, (size_t)plan->n_features), (size_t)most, es);
    return st;
}

/* ---- one batch: device work ---- */

static afx_status enqueue_upload(afx_plan *plan, cuda_state *s, const batch_info *bi, int slot) {
    /* d_raw and d_meta[slot] are free once the previous batch's downmix has run (it follows all earlier
     * compute on the compute stream). */
    CU_TRY(cudaStreamWaitEvent(s->h2d, s->ev_raw_free, 0), "cudaStreamWaitEvent(upload after downmix)");
    if (bi->raw_bytes)
        CU_TRY(cudaMemcpyAsync(s->d_raw, s->h_in[slot], bi->raw_bytes, cudaMemcpyHostToDevice, s->h2d),
               "cudaMemcpyAsync(samples, %zu bytes, host to device)", bi->raw_bytes);
    CU_TRY(cudaMemcpyAsync(s->d_meta[slot], s->h_meta[slot], bi->meta_bytes, cudaMemcpyHostToDevice, s->h2d),
           "cudaMemcpyAsync(batch metadata, %zu bytes, host to device)", bi->meta_bytes);
    CU_TRY(cudaEventRecord(s->ev_h2d[slot], s->h2d), "cudaEventRecord(upload)");
    return AFX_OK;
}

/* Y[r][m] = X[r][k] * A^T for the row-major matrix A[m][k] (column-major: Y^T = A X^T). */
static afx_status gemm_rows(afx_plan *plan, cuda_state *s, const float *a, int m, int k, const float *x, float *y,
                            int r, const char *what) {
    const float one = 1.0f, zero = 0.0f;
    BLAS_TRY(cublasSgemm(s->blas, CUBLAS_OP_T, CUBLAS_OP_N, m, r, k, &one, a, k, x, k, &zero, y, m),
             "cublasSgemm(%s, m=%d, n=%d, k=%d)", what, m, r, k);
    return AFX_OK;
}

static int pick_fft_plan(const cuda_state *s, int64_t r) {
    int best = 0;
    for (int i = 0; i < s->n_fft_plans; i++)
        if (s->fft_batch[i] >= r) best = i; /* batches decrease: the last that fits is the smallest */
    return best;
}

/* Frames -> base features in d_feat, chunk by chunk. */
static afx_status enqueue_features(afx_plan *plan, cuda_state *s, const batch_info *bi) {
    const afx_params *p = &plan->p;
    cudaStream_t cs = s->stream;
    int mel = p->feature != AFX_FEATURE_SPECTROGRAM, lk = plan->log_kind;
    afx_cu_frame_args fa;
    memset(&fa, 0, sizeof fa);
    fa.mono = s->d_mono;
    fa.window = s->d_window;
    fa.fft_in = s->d_fft_in;
    fa.seg = s->d_seg;
    fa.energy = s->d_energy;
    fa.n_fft = plan->n_fft;
    fa.win = plan->win;
    fa.hop = plan->hop;
    fa.framing = plan->framing;
    fa.pad = plan->pad;
    fa.fft_offset = plan->fft_offset;
    fa.dither = p->dither;
    fa.dither_seed = p->dither_seed;
    fa.remove_dc = p->remove_dc_offset;
    fa.preemphasis = p->preemphasis;
    fa.energy_raw = p->raw_energy;
    fa.energy_floor = p->energy_floor;
    for (int64_t g0 = 0; g0 < bi->n_frames; g0 += s->chunk) {
        int64_t r = bi->n_frames - g0 < s->chunk ? bi->n_frames - g0 : s->chunk;
        fa.g0 = g0;
        fa.count = r;
        CU_TRY(afx_cu_frame(&fa, bi->dev, cs), "kernel afx_k_frame (frames %lld..%lld)", (long long)g0,
               (long long)(g0 + r));
        if (s->n_fft_plans > 0) {
            int k = pick_fft_plan(s, r);
            FFT_TRY(cufftExecR2C(s->fft[k], s->d_fft_in, (cufftComplex *)s->d_fft_out),
                    "cufftExecR2C(n_fft=%d, batch=%d)", plan->n_fft, s->fft_batch[k]);
        } else {
            CU_TRY(afx_cu_dft1(s->d_fft_in, s->d_fft_out, r, cs), "kernel afx_k_dft1");
        }
        int64_t count = r * plan->n_freq;
        if (!mel) {
            CU_TRY(afx_cu_power(s->d_fft_out, s->d_feat + (size_t)g0 * (size_t)plan->n_freq, count, p->power, cs),
                   "kernel afx_k_power");
            continue;
        }
        CU_TRY(afx_cu_power(s->d_fft_out, s->d_spec, count, p->power, cs), "kernel afx_k_power");
        /* mel[t][m] = sum_k W[m][k] spec[t][k]: one SGEMM per chunk (FP32, pedantic math) */
        float *mel_out = s->d_feat + (size_t)g0 * (size_t)p->n_mels;
        AFX_FORWARD(gemm_rows(plan, s, s->d_mel, p->n_mels, plan->n_freq, s->d_spec, mel_out, (int)r, "mel filterbank"));
        CU_TRY(afx_cu_mel_log(mel_out, r * p->n_mels, lk, p->log_offset, p->log_floor, p->db_multiplier, p->db_amin,
                              plan->db_ref_term, cs),
               "kernel afx_k_mel_log (frames %lld..%lld)", (long long)g0, (long long)(g0 + r));
    }
    return AFX_OK;
}

/* Everything after the base features, on the compute stream, ending with the output in d_out. */
static afx_status enqueue_post(afx_plan *plan, cuda_state *s, const batch_info *bi) {
    const afx_params *p = &plan->p;
    cudaStream_t cs = s->stream;
    const afx_cu_batch bt = bi->dev;
    float range = plan->floor_range;
    int affine = p->out_scale != 1.0f || p->out_bias != 0.0f;
    int nf = plan->n_features;
    float *cur = s->d_feat;

    if (range >= 0.0f) { /* per-clip max of the base features over valid frames */
        CU_TRY(afx_cu_tile_stats(bt, s->d_feat, plan->n_base, NULL, s->d_part, cs), "kernel afx_k_tile_stats (top_db)");
        CU_TRY(afx_cu_clip_stats(bt, s->d_part, plan->n_base, s->d_clip_a, cs), "kernel afx_k_clip_stats (top_db)");
    }
    if (p->feature == AFX_FEATURE_MFCC) {
        if (range >= 0.0f)
            CU_TRY(afx_cu_floor_affine(bt, s->d_feat, p->n_mels, s->d_clip_a, range, 0, 1.0f, 0.0f, cs),
                   "kernel afx_k_floor_affine (top_db before the DCT)");
        for (int64_t g0 = 0; g0 < bi->n_frames; g0 += AFX_CU_GEMM_ROWS) {
            int64_t r = bi->n_frames - g0 < AFX_CU_GEMM_ROWS ? bi->n_frames - g0 : AFX_CU_GEMM_ROWS;
            AFX_FORWARD(gemm_rows(plan, s, s->d_dct, p->n_mfcc, p->n_mels, s->d_feat + (size_t)g0 * (size_t)p->n_mels,
                                  s->d_mfcc + (size_t)g0 * (size_t)p->n_mfcc, (int)r, "DCT"));
        }
        if (p->mfcc_energy)
            CU_TRY(afx_cu_energy_c0(s->d_mfcc, s->d_energy, bi->n_frames, p->n_mfcc, cs), "kernel afx_k_energy_c0");
        cur = s->d_mfcc;
        if (affine)
            CU_TRY(afx_cu_floor_affine(bt, cur, nf, NULL, 0.0f, 1, p->out_scale, p->out_bias, cs),
                   "kernel afx_k_floor_affine (affine)");
    } else if (range >= 0.0f || affine) {
        CU_TRY(afx_cu_floor_affine(bt, cur, nf, range >= 0.0f ? s->d_clip_a : NULL, range, affine, p->out_scale,
                                   p->out_bias, cs),
               "kernel afx_k_floor_affine");
    }

    afx_cu_mask none = {NULL, NULL, NULL};
    if (p->normalize == AFX_NORM_UTTERANCE || p->normalize == AFX_NORM_MINMAX) {
        CU_TRY(afx_cu_tile_stats(bt, cur, nf, NULL, s->d_part, cs), "kernel afx_k_tile_stats (normalize)");
        CU_TRY(afx_cu_clip_stats(bt, s->d_part, nf, s->d_clip_a, cs), "kernel afx_k_clip_stats (normalize)");
        if (p->normalize == AFX_NORM_UTTERANCE) {
            CU_TRY(afx_cu_tile_stats(bt, cur, nf, s->d_clip_a, s->d_part, cs), "kernel afx_k_tile_stats (variance)");
            CU_TRY(afx_cu_clip_stats(bt, s->d_part, nf, s->d_clip_b, cs), "kernel afx_k_clip_stats (variance)");
        }
    } else if (p->normalize == AFX_NORM_FEATURE) {
        CU_TRY(afx_cu_feat_stats(bt, cur, nf, NULL, none, s->d_part, cs), "kernel afx_k_feat_stats (mean)");
        CU_TRY(afx_cu_feat_finalize(bt, s->d_part, nf, 0, 0.0, 0, s->d_feat_a, cs), "kernel afx_k_feat_finalize");
        CU_TRY(afx_cu_feat_stats(bt, cur, nf, s->d_feat_a, none, s->d_part, cs), "kernel afx_k_feat_stats (variance)");
        CU_TRY(afx_cu_feat_finalize(bt, s->d_part, nf, 1, (double)p->norm_eps, p->norm_vars, s->d_feat_b, cs),
               "kernel afx_k_feat_finalize");
    }
    if (p->normalize != AFX_NORM_NONE)
        CU_TRY(afx_cu_normalize(bt, cur, nf, (int)p->normalize, s->d_clip_a, s->d_clip_b, s->d_feat_a, s->d_feat_b,
                                (double)p->norm_eps, p->norm_vars, cs),
               "kernel afx_k_normalize");

    afx_cu_mask mask = none;
    if ((p->n_time_masks > 0 || p->n_freq_masks > 0) && bi->n_frames > 0) {
        if (p->n_time_masks > 0)
            CU_TRY(cudaMemsetAsync(s->d_tflag, 0, (size_t)bi->n_frames, cs), "cudaMemsetAsync(time mask flags)");
        if (p->n_freq_masks > 0)
            CU_TRY(cudaMemsetAsync(s->d_fflag, 0, (size_t)bi->n_clips * (size_t)nf, cs),
                   "cudaMemsetAsync(frequency mask flags)");
        CU_TRY(afx_cu_mask_marks(bt, nf, p->mask_seed, p->n_time_masks, p->time_mask_param, p->n_freq_masks,
                                 p->freq_mask_param, s->d_tflag, s->d_fflag, cs),
               "kernel afx_k_mask_marks");
        const double *mean = NULL;
        if (p->mask_value == AFX_MASK_MEAN) { /* the clip mean before masking */
            CU_TRY(afx_cu_tile_stats(bt, cur, nf, NULL, s->d_part, cs), "kernel afx_k_tile_stats (mask mean)");
            CU_TRY(afx_cu_clip_stats(bt, s->d_part, nf, s->d_clip_a, cs), "kernel afx_k_clip_stats (mask mean)");
            mean = s->d_clip_a;
        }
        CU_TRY(afx_cu_mask_value(bt, mean, s->d_mask_val, cs), "kernel afx_k_mask_value");
        mask.tflag = p->n_time_masks > 0 ? s->d_tflag : NULL;
        mask.fflag = p->n_freq_masks > 0 ? s->d_fflag : NULL;
        mask.value = s->d_mask_val;
    }

    /* d_out is free once the previous batch's download is done. */
    CU_TRY(cudaStreamWaitEvent(cs, s->ev_out_free, 0), "cudaStreamWaitEvent(output after download)");
    int dtype = (int)p->output_dtype;
    if (plan->pooled_size) {
        int with_std = p->pooling == AFX_POOL_MEAN_STD;
        CU_TRY(afx_cu_feat_stats(bt, cur, nf, NULL, mask, s->d_part, cs), "kernel afx_k_feat_stats (pool mean)");
        CU_TRY(afx_cu_feat_finalize(bt, s->d_part, nf, 0, 0.0, 0, s->d_feat_a, cs), "kernel afx_k_feat_finalize");
        if (with_std) {
            CU_TRY(afx_cu_feat_stats(bt, cur, nf, s->d_feat_a, mask, s->d_part, cs),
                   "kernel afx_k_feat_stats (pool std)");
            CU_TRY(afx_cu_feat_finalize(bt, s->d_part, nf, 2, 0.0, 0, s->d_feat_b, cs), "kernel afx_k_feat_finalize");
        }
        CU_TRY(afx_cu_pool_output(bt, nf, with_std, s->d_feat_a, s->d_feat_b, dtype, s->d_out, cs),
               "kernel afx_k_pool_output");
    } else {
        CU_TRY(afx_cu_output(bt, cur, nf, p->layout == AFX_LAYOUT_TF, bi->most, dtype, mask, s->d_out, cs),
               "kernel afx_k_output");
    }
    return AFX_OK;
}

static afx_status enqueue_compute(afx_plan *plan, cuda_state *s, const batch_info *bi, int slot) {
    cudaStream_t cs = s->stream;
    CU_TRY(cudaStreamWaitEvent(cs, s->ev_h2d[slot], 0), "cudaStreamWaitEvent(compute after upload)");
    if (bi->n_samples > 0)
        CU_TRY(afx_cu_downmix(s->d_raw, bi->is_s16, bi->channels, plan->p.input_scale, s->d_mono, bi->n_samples, cs),
               "kernel afx_k_downmix (%lld samples)", (long long)bi->n_samples);
    CU_TRY(cudaEventRecord(s->ev_raw_free, cs), "cudaEventRecord(downmix done)");
    AFX_FORWARD(enqueue_features(plan, s, bi));
    AFX_FORWARD(enqueue_post(plan, s, bi));
    CU_TRY(cudaEventRecord(s->ev_computed, cs), "cudaEventRecord(batch computed)");
    CU_TRY(cudaEventRecord(s->ev_ready, cs), "cudaEventRecord(output ready)");
    return AFX_OK;
}

static afx_status enqueue_download(afx_plan *plan, cuda_state *s, const batch_info *bi, int slot) {
    CU_TRY(cudaStreamWaitEvent(s->d2h, s->ev_computed, 0), "cudaStreamWaitEvent(download after compute)");
    if (bi->out_bytes)
        CU_TRY(cudaMemcpyAsync(s->h_out[slot], s->d_out, bi->out_bytes, cudaMemcpyDeviceToHost, s->d2h),
               "cudaMemcpyAsync(output, %zu bytes, device to host)", bi->out_bytes);
    CU_TRY(cudaEventRecord(s->ev_d2h[slot], s->d2h), "cudaEventRecord(download)");
    CU_TRY(cudaEventRecord(s->ev_out_free, s->d2h), "cudaEventRecord(output free)");
    return AFX_OK;
}

/* Waits for a batch's download and copies the compact output into the caller's buffer at its stride. */
static afx_status finish_batch(afx_plan *plan, cuda_state *s, const batch_info *bi, int slot, const afx_output *out) {
    CU_TRY(cudaEventSynchronize(s->ev_d2h[slot]), "cudaEventSynchronize(batch download)");
    if (!out->data) return AFX_OK;
    size_t es = afx_dtype_size(plan->p.output_dtype), n = (size_t)bi->n_clips;
    const unsigned char *src = s->h_out[slot];
    unsigned char *dst = out->data;
    if (plan->pooled_size) {
        memcpy(dst, src, n * (size_t)plan->pooled_size * es);
        return AFX_OK;
    }
    size_t nf = (size_t)plan->n_features, most = (size_t)bi->most, stride = (size_t)out->frames_stride;
    if (stride == most) {
        memcpy(dst, src, n * nf * most * es);
        return AFX_OK;
    }
    if (plan->p.layout == AFX_LAYOUT_TF) {
        for (size_t b = 0; b < n; b++) {
            if (most) memcpy(dst + b * stride * nf * es, src + b * most * nf * es, most * nf * es);
            memset(dst + (b * stride + most) * nf * es, 0, (stride - most) * nf * es);
        }
        return AFX_OK;
    }
    for (size_t row = 0; row < n * nf; row++) {
        if (most) memcpy(dst + row * stride * es, src + row * most * es, most * es);
        memset(dst + (row * stride + most) * es, 0, (stride - most) * es);
    }
    return AFX_OK;
}

/* Packs, uploads and queues the computation of one batch in the next slot; *slot_out gets the slot. */
static afx_status start_batch(afx_plan *plan, cuda_state *s, const afx_input *in, int64_t *n_frames, int *slot_out,
                              afx_status *clip_status) {
    int slot = s->next_slot;
    s->next_slot ^= 1;
    *slot_out = slot;
    /* The slot's pinned buffers are free once its previous upload is done. */
    CU_TRY(cudaEventSynchronize(s->ev_h2d[slot]), "cudaEventSynchronize(previous upload)");
    batch_info *bi = &s->info[slot];
    afx_status st = pack_batch(plan, s, in, n_frames, slot, bi);
    if (st != AFX_OK && st != AFX_ERR_INVALID_INPUT) return st;
    *clip_status = st;
    AFX_FORWARD(enqueue_upload(plan, s, bi, slot));
    AFX_FORWARD(enqueue_compute(plan, s, bi, slot));
    return AFX_OK;
}

/* ---- backend entry points ---- */

static afx_status run_batches(afx_plan *plan, const afx_input *inputs, afx_output *outputs, int n_batches, int *n_done,
                              int name_batch) {
    cuda_state *s = plan->backend_state;
    int prev;
    AFX_FORWARD(enter_device(plan, s, &prev));
    afx_status result = AFX_OK, st = AFX_OK;
    int first_bad = -1, pending = -1, pending_slot = 0;
    char first_err[AFX_ERROR_MAX] = "";
    for (int i = 0; i < n_batches && st == AFX_OK; i++) {
        int slot = 0;
        afx_status clip_st = AFX_OK;
        st = start_batch(plan, s, &inputs[i], outputs[i].n_frames, &slot, &clip_st);
        if (st != AFX_OK) break;
        if (clip_st != AFX_OK && result == AFX_OK) {
            result = clip_st;
            first_bad = i;
            memcpy(first_err, plan->err, sizeof first_err);
        }
        st = enqueue_download(plan, s, &s->info[slot], slot);
        if (st != AFX_OK) break;
        if (pending >= 0) { /* batch i-1 is copied out while batch i computes */
            st = finish_batch(plan, s, &s->info[pending_slot], pending_slot, &outputs[pending]);
            if (st != AFX_OK) break;
            if (n_done) *n_done = pending + 1;
        }
        pending = i;
        pending_slot = slot;
    }
    if (st == AFX_OK && pending >= 0) {
        st = finish_batch(plan, s, &s->info[pending_slot], pending_slot, &outputs[pending]);
        if (st == AFX_OK && n_done) *n_done = pending + 1;
    }
    if (st != AFX_OK) {
        drain(s);
        leave_device(s, prev);
        return st;
    }
    leave_device(s, prev);
    if (result != AFX_OK) {
        if (name_batch)
            afx_fail(plan->err, sizeof plan->err, result, "batch %d: %s", first_bad, first_err);
        else
            memcpy(plan->err, first_err, sizeof plan->err);
    }
    return result;
}

static afx_status cuda_execute(afx_plan *plan, const afx_input *in, afx_output *out) {
    return run_batches(plan, in, out, 1, NULL, 0);
}

static afx_status cuda_execute_batches(afx_plan *plan, const afx_input *inputs, afx_output *outputs, int n_batches,
                                       int *n_done) {
    return run_batches(plan, inputs, outputs, n_batches, n_done, 1);
}

static afx_status cuda_execute_device(afx_plan *plan, const afx_input *in, afx_device_output *out, int64_t max_frames) {
    cuda_state *s = plan->backend_state;
    int prev;
    AFX_FORWARD(enter_device(plan, s, &prev));
    int slot = 0;
    afx_status clip_st = AFX_OK;
    afx_status st = start_batch(plan, s, in, out->n_frames, &slot, &clip_st);
    if (st != AFX_OK) {
        drain(s);
        leave_device(s, prev);
        return st;
    }
    leave_device(s, prev);
    out->data = s->d_out;
    out->dtype = plan->p.output_dtype;
    out->n_clips = in->n_clips;
    out->n_features = plan->pooled_size ? plan->pooled_size : plan->n_features;
    out->frames_stride = plan->pooled_size ? 1 : max_frames;
    out->ready_event = (void *)s->ev_ready;
    return clip_st;
}

static afx_status cuda_set_stream(afx_plan *plan, void *stream) {
    cuda_state *s = plan->backend_state;
    cudaStream_t next = stream ? (cudaStream_t)stream : s->own_stream;
    if (next == s->stream) return AFX_OK;
    int prev;
    AFX_FORWARD(enter_device(plan, s, &prev));
    /* Work already queued on the old stream comes before anything queued on the new one. */
    afx_status st = cuda_fail(plan, cudaEventRecord(s->ev_switch, s->stream), "cudaEventRecord(stream switch)");
    if (st == AFX_OK)
        st = cuda_fail(plan, cudaStreamWaitEvent(next, s->ev_switch, 0), "cudaStreamWaitEvent(stream switch)");
    if (st == AFX_OK) {
        cudaStream_t old = s->stream;
        s->stream = next;
        st = bind_stream(plan, s);
        if (st != AFX_OK) {
            s->stream = old;
            (void)bind_stream(plan, s);
        }
    }
    leave_device(s, prev);
    return st;
}

static afx_status cuda_workspace_size(const afx_plan *plan, size_t *device_bytes, size_t *pinned_host_bytes) {
    const cuda_state *s = plan->backend_state;
    if (device_bytes) *device_bytes = s->device_bytes;
    if (pinned_host_bytes) *pinned_host_bytes = s->pinned_bytes;
    return AFX_OK;
}

int afx_cuda_probe_devices(void) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        (void)cudaGetLastError(); /* no driver or no device: clear the error and report none */
        return 0;
    }
    return count > 0 ? count : 0;
}

const afx_backend_ops afx_cuda_backend = {
    .name = "cuda",
    .init = cuda_init,
    .execute = cuda_execute,
    .destroy = cuda_destroy,
    .execute_batches = cuda_execute_batches,
    .execute_device = cuda_execute_device,
    .set_stream = cuda_set_stream,
    .workspace_size = cuda_workspace_size,
};
