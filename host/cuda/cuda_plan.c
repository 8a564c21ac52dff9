/*
 * cuda_plan.c: plan time of the CUDA backend (cuda_state.h lists the buffers).
 *
 * Picks p.cuda_device (refused with AFX_ERR_BACKEND_UNAVAILABLE when there is no driver, no such device,
 * compute capability < 7.0 or no kernel image for it), creates the plan's own non-blocking stream plus one
 * upload and one download stream, the packing threads, cuFFT R2C plans (any n_fft, odd too) for a few batch
 * sizes sharing one work area, for mel features the cuBLAS handle of the mel filterbank and DCT products with
 * its own workspace, uploads the window, the dense mel matrix and the DCT matrix, and allocates every buffer
 * for max_batch clips of max_samples samples, after checking cudaMemGetInfo (and that the pinned staging
 * stays under half of the machine's memory). Execution allocates nothing; a plan that does not fit is refused
 * with AFX_ERR_OUT_OF_MEMORY naming the bytes and the max_batch/max_samples that need them.
 */
#define _POSIX_C_SOURCE 200809L /* sysconf */

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cuda_state.h"

size_t afx_cu_meta_layout(size_t n, size_t t, size_t off[META_COUNT]) {
    size_t sizes[META_COUNT] = {
        [META_FRAME_OFF] = (n + 1) * sizeof(int64_t),
        [META_SAMPLE_OFF] = n * sizeof(int64_t),
        [META_LENGTH] = n * sizeof(int64_t),
        [META_AVAIL] = n * sizeof(int64_t),
        [META_CLIP_ID] = n * sizeof(uint64_t),
        [META_SRC] = n * sizeof(void *),
        [META_BAD_INDEX] = n * sizeof(unsigned long long),
        [META_BAD_VALUE] = n * sizeof(float),
        [META_BAD_FEATURES] = n * sizeof(unsigned int),
        [META_TILE_G0] = (t + 1) * sizeof(int64_t),
        [META_TILE_CLIP] = t * sizeof(int32_t),
        [META_CLIP_TILE] = (n + 1) * sizeof(int32_t),
    };
    size_t pos = 0;
    for (int i = 0; i < META_COUNT; i++) {
        off[i] = pos;
        pos += afx_cu_align16(sizes[i]);
    }
    return pos;
}

void afx_cu_destroy(afx_plan *plan) {
    cuda_state *s = plan->backend_state;
    if (!s) return;
    int prev = s->device;
    if (cudaGetDevice(&prev) == cudaSuccess && prev != s->device) (void)cudaSetDevice(s->device);
    /* The caller's stream may be gone by now: wait for the plan's last batch through its event, and for
     * the plan's own streams (cudaFree synchronizes as well). */
    if (s->ev_ready) (void)cudaEventSynchronize(s->ev_ready);
    afx_pack_pool_free(s->pool); /* no call is running: the threads are idle */
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
                        s->ev_d2h[1], s->ev_out_free, s->ev_ready,    s->ev_switch,   s->ev_sync};
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
    /* Room for stereo float (the common multichannel case) so that it is uploaded as is and downmixed on the
     * device; more channels are downmixed by the packing threads into mono float, which always fits. */
    s->raw_cap = afx_cu_mul3(B, (size_t)p->max_samples, AFX_CU_STAGE_CHANNELS * sizeof(float));
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
    s->chunk_alloc = s->chunk; /* + the smallest FFT plan's batch: make_fft_plans */
    /* Each frame starts 8-byte aligned in the FFT input (cuFFT's R2C input alignment for odd n_fft). */
    s->ld_in = plan->n_fft > 1 ? plan->n_fft + (plan->n_fft & 1) : 1;

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
    s->meta_cap = afx_cu_meta_layout(B, (size_t)s->cap_tiles, off);
    s->out_cap = plan->pooled_size ? afx_cu_mul3(B, (size_t)plan->pooled_size, es)
                                   : afx_cu_mul3(afx_mul_size(B, (size_t)plan->n_features), (size_t)(tmax > 0 ? tmax : 1), es);
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
                         need, what, p->max_batch, (long long)p->max_samples, afx_cu_feature_name(p->feature), plan->n_fft,
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
        /* n real in (frames ld_in apart), n/2+1 complex out per transform; any n, odd too. */
        int inembed = s->ld_in, onembed = plan->n_freq;
        FFT_TRY(cufftMakePlanMany(s->fft[k], 1, &n, &inembed, 1, s->ld_in, &onembed, 1, plan->n_freq, CUFFT_R2C, b,
                                  &ws),
                "cufftMakePlanMany(R2C, n_fft=%d, batch=%d)", n, b);
        s->fft_batch[k] = b;
        if (ws > s->fft_ws_bytes) s->fft_ws_bytes = ws;
    }
    /* A partial chunk runs as a sum of these batch sizes, the last one rounded up to the smallest plan
     * (cuda_batch.c): the FFT buffers have that much slack past C. */
    if (s->n_fft_plans > 0) s->chunk_alloc = s->chunk + s->fft_batch[s->n_fft_plans - 1];
    return AFX_OK;
}

/* Points cuFFT and cuBLAS at the compute stream (cublasSetStream resets the workspace: set it again). */
afx_status afx_cu_bind_stream(afx_plan *plan, cuda_state *s) {
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
    /* Events the host waits on sleep instead of spinning (cudaEventBlockingSync): the packing threads and the
     * caller's other threads keep the cores. */
    struct {
        cudaEvent_t *ev;
        unsigned flags;
    } ev[] = {{&s->ev_h2d[0], cudaEventBlockingSync}, {&s->ev_h2d[1], cudaEventBlockingSync},
              {&s->ev_d2h[0], cudaEventBlockingSync}, {&s->ev_d2h[1], cudaEventBlockingSync},
              {&s->ev_ready, cudaEventBlockingSync},  {&s->ev_sync, cudaEventBlockingSync},
              {&s->ev_raw_free, 0},                   {&s->ev_computed, 0},
              {&s->ev_out_free, 0},                   {&s->ev_switch, 0}};
    for (size_t i = 0; i < sizeof ev / sizeof ev[0]; i++)
        CU_TRY(cudaEventCreateWithFlags(ev[i].ev, cudaEventDisableTiming | ev[i].flags), "cudaEventCreateWithFlags");
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = cores > AFX_CU_PACK_THREADS ? AFX_CU_PACK_THREADS : cores > 1 ? (int)cores : 1;
    s->pool = afx_pack_pool_create(threads);
    if (!s->pool) return AFX_PLAN_FAIL(plan, AFX_ERR_OUT_OF_MEMORY, "cannot start %d packing threads", threads);

    AFX_FORWARD(make_fft_plans(plan, s));
    int mel = p->feature != AFX_FEATURE_SPECTROGRAM, mfcc = p->feature == AFX_FEATURE_MFCC;
    if (mel) { /* the mel filterbank and the DCT are cuBLAS SGEMMs */
        BLAS_TRY(cublasCreate(&s->blas), "cublasCreate");
        /* cuBLAS's default math: FP32 SGEMM without TF32 (that needs CUBLAS_TF32_TENSOR_OP_MATH), so values
         * match the CPU to float rounding, with the fastest FP32 kernels (pedantic math is for testing). */
        BLAS_TRY(cublasSetMathMode(s->blas, CUBLAS_DEFAULT_MATH), "cublasSetMathMode(CUBLAS_DEFAULT_MATH)");
    }

    size_t B = (size_t)p->max_batch, F = (size_t)(s->cap_frames > 0 ? s->cap_frames : 1);
    size_t C = (size_t)s->chunk, nf = (size_t)plan->n_features, T = (size_t)(s->cap_tiles > 0 ? s->cap_tiles : 1);
    size_t part_w = s->nf_stats > 4 ? (size_t)s->nf_stats : 4;
    int big_win = plan->win > afx_cu_frame_smem_max();
    size_t CA = (size_t)s->chunk_alloc;
    size_t chunk_fft = afx_cu_mul3(CA, (size_t)s->ld_in, sizeof(float));
    /* {buffer, bytes, what, needed}: a needed buffer whose size computes to 0 overflowed. */
    dev_alloc dev[] = {
        {(void **)&s->d_window, (size_t)plan->win * sizeof(float), "window", 1},
        {(void **)&s->d_mel, afx_cu_mul3((size_t)p->n_mels, (size_t)plan->n_freq, sizeof(float)), "mel matrix", mel},
        {(void **)&s->d_dct, afx_cu_mul3((size_t)p->n_mfcc, (size_t)p->n_mels, sizeof(float)), "DCT matrix", mfcc},
        {(void **)&s->d_raw, s->raw_cap, "input samples", 1},
        {(void **)&s->d_mono, afx_mul_size((size_t)s->cap_samples, sizeof(float)), "mono samples", 1},
        {(void **)&s->d_fft_in, chunk_fft, "FFT input", 1},
        {(void **)&s->d_fft_out, afx_cu_mul3(CA, (size_t)plan->n_freq, sizeof(cufftComplex)), "FFT output", 1},
        {(void **)&s->d_fft_ws, s->fft_ws_bytes, "cuFFT work area", s->fft_ws_bytes > 0},
        {(void **)&s->d_spec, afx_cu_mul3(C, (size_t)plan->n_freq, sizeof(float)), "power spectrum", mel},
        {(void **)&s->d_seg, afx_cu_mul3(C, (size_t)plan->win, sizeof(float)), "frame segments", big_win},
        {(void **)&s->d_feat, afx_cu_mul3(F, (size_t)plan->n_base, sizeof(float)), "feature matrix", 1},
        {(void **)&s->d_mfcc, afx_cu_mul3(F, (size_t)p->n_mfcc, sizeof(float)), "MFCC matrix", mfcc},
        {(void **)&s->d_energy, afx_mul_size(F, sizeof(float)), "frame energies", mfcc && p->mfcc_energy},
        {(void **)&s->d_part, afx_cu_mul3(T, part_w, sizeof(double)), "tile statistics", 1},
        {(void **)&s->d_clip_a, afx_cu_mul3(B, 4, sizeof(double)), "clip statistics", 1},
        {(void **)&s->d_clip_b, afx_cu_mul3(B, 4, sizeof(double)), "clip statistics", 1},
        {(void **)&s->d_feat_a, afx_cu_mul3(B, nf, sizeof(double)), "feature statistics", s->nf_stats > 0},
        {(void **)&s->d_feat_b, afx_cu_mul3(B, nf, sizeof(double)), "feature statistics", s->nf_stats > 0},
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
            return afx_cu_cuda_fail(plan, e, "cudaMalloc(%zu bytes for the %s)", dev[i].bytes, dev[i].what);
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
    /* Frames past a partial chunk are transformed too (the last plan of a partial chunk may exceed it): keep
     * them defined. */
    CU_TRY(cudaMemsetAsync(s->d_fft_in, 0, chunk_fft, s->own_stream), "cudaMemsetAsync(FFT input)");
    CU_TRY(cudaStreamSynchronize(s->own_stream), "cudaStreamSynchronize(plan creation)");
    AFX_FORWARD(afx_cu_bind_stream(plan, s));
    return AFX_OK;
}

afx_status afx_cu_init(afx_plan *plan) {
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
    s->dev_slot = -1;
    plan->backend_state = s; /* cuda_destroy frees a partial state */
    afx_status st = init_state(plan, s);
    if (prev != dev) (void)cudaSetDevice(prev);
    (void)cudaGetLastError();
    return st;
}

/* ---- one batch: host packing ---- */
