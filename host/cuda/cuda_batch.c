/*
 * cuda_batch.c: one batch on the CUDA backend, with the same semantics as the CPU reference
 * (host/cpu/cpu_backend.c).
 *
 * Host input: the packing threads copy every clip's used samples (fixed_length cuts the rest) into the
 * slot's pinned staging, int16 as int16 and up to two float channels as they are (more channels are
 * downmixed by the threads), and the metadata is built (frame offsets, tiles, per-clip sources). Upload
 * stream: one H2D of the samples and one of the metadata. Device input (afx_plan_execute_device_input):
 * nothing is packed; the metadata names the caller's device pointers and is the only upload.
 *
 * Compute stream: gather (downmix + scale into packed mono, and the NaN/Inf scan of float input: the first
 * bad sample of each clip) -> for each chunk of C frames of the packed frame list: frame kernel (padding,
 * dither, DC, energy, pre-emphasis, window) -> cufftExecR2C -> |X|^power -> mel (cublasSgemm with the dense
 * weight matrix) + log/dB; then per clip over valid frames only: top_db / log_range (per-clip max) -> DCT
 * SGEMM and energy c0 (MFCC) -> affine -> normalization -> masks (drawn on the device with afx_mask_draw)
 * -> pooling or FT/TF layout with zeroed padding, in the output dtype, marking clips whose final values are
 * not finite -> the slots of refused clips zeroed. There is no per-clip launch: kernels find a frame's clip
 * by binary search over the frame offsets, and per-clip reductions run over tiles (runs of at most tile_t
 * frames of one clip).
 *
 * Download stream: the compact output, straight into the caller's buffer when it is pinned (a 2-D copy at
 * its frames_stride), else into h_out[slot] and then copied out by the threads; and the per-clip verdicts,
 * which turn into n_frames = -1 and the CPU backend's messages. A refused clip is computed like the others
 * (its values never reach another clip: every statistic is per clip) and its slot is zeroed on the device.
 *
 * Ordering: the upload of a batch waits for the previous batch's gather (d_raw free) and for the slot's
 * previous verdict download (d_meta[slot] free); the output kernel waits for ev_out_free (the previous
 * download, or the caller's release event); packing into a slot waits for that slot's previous upload and
 * download.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "convert/convert.h"
#include "cuda_state.h"
#include "log/log.h"

/* ---- device and error path ---- */

afx_status afx_cu_enter_device(afx_plan *plan, const cuda_state *s, int *prev) {
    *prev = s->device;
    CU_TRY(cudaGetDevice(prev), "cudaGetDevice");
    if (*prev != s->device) CU_TRY(cudaSetDevice(s->device), "cudaSetDevice(%d)", s->device);
    return AFX_OK;
}

void afx_cu_leave_device(const cuda_state *s, int prev) {
    if (prev != s->device) (void)cudaSetDevice(prev);
    (void)cudaGetLastError();
}

void afx_cu_drain(cuda_state *s) {
    /* The compute stream may be the caller's: an event recorded now completes with this plan's last queued
     * work there, whatever the caller queues after it. The copy streams are the plan's own. */
    if (s->stream && cudaEventRecord(s->ev_sync, s->stream) == cudaSuccess) (void)cudaEventSynchronize(s->ev_sync);
    if (s->h2d) (void)cudaStreamSynchronize(s->h2d);
    if (s->d2h) (void)cudaStreamSynchronize(s->d2h);
    (void)cudaGetLastError();
    s->dev_slot = -1;
}

/* ---- host threads: packing and copying out ---- */

typedef struct pack_job {
    const afx_input *in;
    const int64_t *pos;   /* [n] first packed sample of each clip (META_SAMPLE_OFF of h_meta) */
    const int64_t *used;  /* [n] samples packed per clip (META_AVAIL) */
    int64_t total;        /* samples packed in all */
    unsigned char *dst;   /* h_in[slot] */
    size_t sample_bytes;  /* bytes of one packed sample (all channels) */
    int host_mix, ch, s16;
    unsigned long long *bad_index; /* host-side scan of downmixed clips */
    float *bad_value;
} pack_job;

/* Copies packed bytes [i * AFX_CU_PACK_TASK_BYTES, ...) from the clips that overlap them. */
static void pack_copy_task(void *arg, int i) {
    const pack_job *j = arg;
    size_t total = (size_t)j->total * j->sample_bytes;
    size_t lo = (size_t)i * AFX_CU_PACK_TASK_BYTES, hi = lo + AFX_CU_PACK_TASK_BYTES < total ? lo + AFX_CU_PACK_TASK_BYTES : total;
    int a = 0, b = j->in->n_clips - 1; /* first clip whose packed bytes end after lo */
    while (a < b) {
        int m = a + (b - a) / 2;
        if ((size_t)(j->pos[m] + j->used[m]) * j->sample_bytes > lo)
            b = m;
        else
            a = m + 1;
    }
    for (int c = a; c < j->in->n_clips; c++) {
        size_t c0 = (size_t)j->pos[c] * j->sample_bytes, c1 = c0 + (size_t)j->used[c] * j->sample_bytes;
        if (c0 >= hi) break;
        size_t s0 = c0 > lo ? c0 : lo, s1 = c1 < hi ? c1 : hi;
        if (s1 > s0) memcpy(j->dst + s0, (const unsigned char *)j->in->clips[c] + (s0 - c0), s1 - s0);
    }
}

/* Clip i downmixed to mono float (many channels), with the NaN/Inf scan of the CPU backend. */
static void pack_mix_task(void *arg, int i) {
    const pack_job *j = arg;
    const int64_t n = j->used[i], ch = j->ch;
    float *y = (float *)(void *)(j->dst + (size_t)j->pos[i] * sizeof(float));
    const void *clip = j->in->clips[i];
    for (int64_t t = 0; t < n; t++) {
        if (j->s16) {
            y[t] = afx_downmix_s16((const int16_t *)clip + t * ch, (int)ch);
            continue;
        }
        const float *x = (const float *)clip + t * ch;
        for (int64_t c = 0; c < ch; c++)
            if (!isfinite(x[c]) && j->bad_index[i] == AFX_CU_NO_BAD_SAMPLE) {
                j->bad_index[i] = (unsigned long long)(t * ch + c);
                j->bad_value[i] = x[c];
            }
        y[t] = afx_downmix_f32(x, (int)ch);
    }
}

typedef struct copy_job {
    const unsigned char *src; /* NULL: only zero the padding */
    unsigned char *dst;
    size_t rows, width, src_pitch, dst_pitch, rows_per_task; /* bytes */
} copy_job;

/* Rows [i * rows_per_task, ...): copy `width` bytes, zero the rest of the destination row. */
static void copy_rows_task(void *arg, int i) {
    const copy_job *j = arg;
    size_t r0 = (size_t)i * j->rows_per_task, r1 = r0 + j->rows_per_task < j->rows ? r0 + j->rows_per_task : j->rows;
    for (size_t r = r0; r < r1; r++) {
        if (j->src && j->width) memcpy(j->dst + r * j->dst_pitch, j->src + r * j->src_pitch, j->width);
        if (j->dst_pitch > j->width) memset(j->dst + r * j->dst_pitch + j->width, 0, j->dst_pitch - j->width);
    }
}

static void run_copy(cuda_state *s, copy_job *j) {
    if (!j->rows) return;
    size_t row_bytes = j->dst_pitch ? j->dst_pitch : 1;
    j->rows_per_task = AFX_CU_PACK_TASK_BYTES / row_bytes;
    if (j->rows_per_task < 1) j->rows_per_task = 1;
    size_t tasks = (j->rows + j->rows_per_task - 1) / j->rows_per_task;
    afx_pack_pool_run(s->pool, (int)tasks, copy_rows_task, j);
}

/* ---- metadata ---- */

/* The clip-count-only sections of a batch's metadata (offsets valid for any tile count). */
static void meta_views(unsigned char *h, int n, size_t off[META_COUNT], int64_t **sample_off, int64_t **length,
                       int64_t **avail, uint64_t **clip_id, const void ***src, unsigned long long **bad_index,
                       float **bad_value, unsigned **bad_features) {
    (void)afx_cu_meta_layout((size_t)n, 0, off);
    *sample_off = (int64_t *)(void *)(h + off[META_SAMPLE_OFF]);
    *length = (int64_t *)(void *)(h + off[META_LENGTH]);
    *avail = (int64_t *)(void *)(h + off[META_AVAIL]);
    *clip_id = (uint64_t *)(void *)(h + off[META_CLIP_ID]);
    *src = (const void **)(void *)(h + off[META_SRC]);
    *bad_index = (unsigned long long *)(void *)(h + off[META_BAD_INDEX]);
    *bad_value = (float *)(void *)(h + off[META_BAD_VALUE]);
    *bad_features = (unsigned *)(void *)(h + off[META_BAD_FEATURES]);
}

/* Samples of clip b the batch uses: none without frames, at most fixed_length. */
static int64_t used_samples(const afx_plan *plan, const afx_input *in, const int64_t *n_frames, int b) {
    if (n_frames[b] <= 0) return 0;
    int64_t n = in->lengths[b];
    if (plan->p.fixed_length > 0 && n > plan->p.fixed_length) n = plan->p.fixed_length;
    return n;
}

/* Frame offsets, tiles and the device view of the metadata, once the per-clip sections are filled. */
static afx_status finish_meta(afx_plan *plan, cuda_state *s, const afx_input *in, const int64_t *n_frames, int slot,
                              batch_info *bi) {
    const int n = in->n_clips;
    int64_t n_tiles = 0;
    for (int b = 0; b < n; b++)
        if (n_frames[b] > 0) n_tiles += (n_frames[b] + s->tile_t - 1) / s->tile_t;
    if (n_tiles > s->cap_tiles)
        return AFX_PLAN_FAIL(plan, AFX_ERR_INTERNAL, "batch needs %lld tiles, more than the %lld planned",
                             (long long)n_tiles, (long long)s->cap_tiles);
    size_t *off = bi->off;
    bi->meta_bytes = afx_cu_meta_layout((size_t)n, (size_t)n_tiles, off);
    unsigned char *h = s->h_meta[slot];
    int64_t *frame_off = (int64_t *)(void *)(h + off[META_FRAME_OFF]);
    int64_t *tile_g0 = (int64_t *)(void *)(h + off[META_TILE_G0]);
    int32_t *tile_clip = (int32_t *)(void *)(h + off[META_TILE_CLIP]);
    int32_t *clip_tile = (int32_t *)(void *)(h + off[META_CLIP_TILE]);
    int64_t g = 0, most = 0;
    int32_t tile = 0;
    for (int b = 0; b < n; b++) {
        const int64_t frames = n_frames[b] > 0 ? n_frames[b] : 0;
        if (frames > most) most = frames;
        frame_off[b] = g;
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
    bi->n_clips = n;
    bi->first_clip_index = in->first_clip_index;
    bi->most = most;
    bi->n_frames = g;
    bi->n_tiles = tile;

    unsigned char *d = s->d_meta[slot];
    afx_cu_batch *v = &bi->dev;
    v->n_clips = n;
    v->n_tiles = tile;
    v->n_frames = g;
    v->frame_off = (const int64_t *)(const void *)(d + off[META_FRAME_OFF]);
    v->sample_off = (const int64_t *)(const void *)(d + off[META_SAMPLE_OFF]);
    v->length = (const int64_t *)(const void *)(d + off[META_LENGTH]);
    v->avail = (const int64_t *)(const void *)(d + off[META_AVAIL]);
    v->clip_id = (const uint64_t *)(const void *)(d + off[META_CLIP_ID]);
    v->src = (const void *const *)(const void *)(d + off[META_SRC]);
    v->bad_index = (unsigned long long *)(void *)(d + off[META_BAD_INDEX]);
    v->bad_value = (float *)(void *)(d + off[META_BAD_VALUE]);
    v->bad_features = (unsigned *)(void *)(d + off[META_BAD_FEATURES]);
    v->tile_g0 = (const int64_t *)(const void *)(d + off[META_TILE_G0]);
    v->tile_clip = (const int32_t *)(const void *)(d + off[META_TILE_CLIP]);
    v->clip_tile = (const int32_t *)(const void *)(d + off[META_CLIP_TILE]);

    size_t es = afx_dtype_size(plan->p.output_dtype);
    bi->out_bytes = plan->pooled_size ? afx_cu_mul3((size_t)n, (size_t)plan->pooled_size, es)
                                      : afx_cu_mul3(afx_mul_size((size_t)n, (size_t)plan->n_features), (size_t)most, es);
    return AFX_OK;
}

/* Fills the per-clip sections of slot `slot` (h_meta) and, for host input, packs the samples into h_in. */
static afx_status describe_batch(afx_plan *plan, cuda_state *s, const afx_input *in, input_kind kind,
                                 const int64_t *n_frames, int slot, batch_info *bi) {
    const int n = in->n_clips, ch = in->n_channels, s16 = in->format == AFX_SAMPLE_S16;
    const int64_t fixed = plan->p.fixed_length;
    memset(bi, 0, sizeof *bi);
    bi->kind = kind;
    size_t off[META_COUNT];
    int64_t *sample_off, *length, *avail;
    uint64_t *clip_id;
    const void **src;
    unsigned long long *bad_index;
    float *bad_value;
    unsigned *bad_features;
    meta_views(s->h_meta[slot], n, off, &sample_off, &length, &avail, &clip_id, &src, &bad_index, &bad_value,
               &bad_features);
    int64_t pos = 0, max_avail = 0;
    for (int b = 0; b < n; b++) {
        const int64_t used = used_samples(plan, in, n_frames, b);
        sample_off[b] = pos;
        avail[b] = used;
        length[b] = n_frames[b] > 0 ? (fixed > 0 ? fixed : in->lengths[b]) : 0;
        clip_id[b] = in->first_clip_index + (uint64_t)b;
        bad_index[b] = AFX_CU_NO_BAD_SAMPLE;
        bad_value[b] = 0.0f;
        bad_features[b] = 0;
        if (used > max_avail) max_avail = used;
        pos += used;
    }
    bi->max_avail = max_avail;
    bi->orig_channels = ch;

    if (kind == INPUT_DEVICE) {
        const size_t align = s16 ? sizeof(int16_t) : sizeof(float);
        for (int b = 0; b < n; b++) {
            src[b] = in->clips[b];
            if (avail[b] == 0) continue;
            struct cudaPointerAttributes attr;
            memset(&attr, 0, sizeof attr);
            cudaError_t e = cudaPointerGetAttributes(&attr, in->clips[b]);
            (void)cudaGetLastError();
            int ok = e == cudaSuccess && (attr.type == cudaMemoryTypeManaged ||
                                          (attr.type == cudaMemoryTypeDevice && attr.device == s->device));
            if (!ok)
                return AFX_PLAN_FAIL(plan, AFX_ERR_INVALID_INPUT,
                                     "clip %d (global index %llu): pointer %p is not device memory of CUDA device %d "
                                     "(afx_plan_execute_device_input takes device pointers)",
                                     b, (unsigned long long)(in->first_clip_index + (uint64_t)b), in->clips[b],
                                     s->device);
            if ((uintptr_t)in->clips[b] % align)
                return AFX_PLAN_FAIL(plan, AFX_ERR_INVALID_INPUT,
                                     "clip %d (global index %llu): pointer %p is not %zu-byte aligned", b,
                                     (unsigned long long)(in->first_clip_index + (uint64_t)b), in->clips[b], align);
        }
        bi->is_s16 = s16;
        bi->channels = ch;
        bi->scan = !s16;
        return AFX_OK;
    }

    /* Host input: as is when it fits the staging (int16, or float up to stereo), else downmixed by the threads. */
    const size_t raw_elem = s16 ? sizeof(int16_t) : sizeof(float);
    size_t raw_bytes = afx_cu_mul3((size_t)pos, (size_t)ch, raw_elem);
    int host_mix = pos > 0 && (raw_bytes == 0 || raw_bytes > s->raw_cap);
    bi->is_s16 = host_mix ? 0 : s16;
    bi->channels = host_mix ? 1 : ch;
    bi->scan = !host_mix && !s16;
    size_t sample_bytes = host_mix ? sizeof(float) : (size_t)ch * raw_elem;
    bi->raw_bytes = (size_t)pos * sample_bytes;
    for (int b = 0; b < n; b++) src[b] = (unsigned char *)s->d_raw + (size_t)sample_off[b] * sample_bytes;
    pack_job job = {in, sample_off, avail, pos, s->h_in[slot], sample_bytes, host_mix, ch, s16, bad_index, bad_value};
    if (host_mix) {
        afx_pack_pool_run(s->pool, n, pack_mix_task, &job);
    } else if (bi->raw_bytes) {
        size_t tasks = (bi->raw_bytes + AFX_CU_PACK_TASK_BYTES - 1) / AFX_CU_PACK_TASK_BYTES;
        afx_pack_pool_run(s->pool, (int)tasks, pack_copy_task, &job);
    }
    return AFX_OK;
}

/* ---- device work ---- */

static afx_status enqueue_upload(afx_plan *plan, cuda_state *s, const batch_info *bi, int slot) {
    /* d_raw is free once the previous batch's gather has run (it follows all earlier compute on the compute
     * stream); d_meta[slot] once that slot's previous verdicts are downloaded. */
    CU_TRY(cudaStreamWaitEvent(s->h2d, s->ev_raw_free, 0), "cudaStreamWaitEvent(upload after gather)");
    CU_TRY(cudaStreamWaitEvent(s->h2d, s->ev_d2h[slot], 0), "cudaStreamWaitEvent(upload after verdicts)");
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
    fa.ld_in = s->ld_in;
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
            /* r frames as a sum of the plans' batch sizes (largest first), the last rounded up to the smallest
             * plan: a partial chunk never runs many more transforms than it has frames. */
            for (int64_t done = 0; done < r;) {
                int k = s->n_fft_plans - 1;
                for (int i = 0; i < s->n_fft_plans; i++)
                    if (s->fft_batch[i] <= r - done) {
                        k = i;
                        break;
                    }
                FFT_TRY(cufftExecR2C(s->fft[k], s->d_fft_in + (size_t)done * (size_t)s->ld_in,
                                     (cufftComplex *)s->d_fft_out + (size_t)done * (size_t)plan->n_freq),
                        "cufftExecR2C(n_fft=%d, batch=%d)", plan->n_fft, s->fft_batch[k]);
                done += s->fft_batch[k];
            }
        } else {
            CU_TRY(afx_cu_dft1(s->d_fft_in, s->ld_in, s->d_fft_out, r, cs), "kernel afx_k_dft1");
        }
        int64_t count = r * plan->n_freq;
        if (!mel) {
            CU_TRY(afx_cu_power(s->d_fft_out, s->d_feat + (size_t)g0 * (size_t)plan->n_freq, count, p->power, cs),
                   "kernel afx_k_power");
            continue;
        }
        CU_TRY(afx_cu_power(s->d_fft_out, s->d_spec, count, p->power, cs), "kernel afx_k_power");
        /* mel[t][m] = sum_k W[m][k] spec[t][k]: one SGEMM per chunk (FP32) */
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
        CU_TRY(afx_cu_clip_stats(bt, s->d_part, plan->n_base, 0, s->d_clip_a, cs), "kernel afx_k_clip_stats (top_db)");
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
        CU_TRY(afx_cu_clip_stats(bt, s->d_part, nf, 0, s->d_clip_a, cs), "kernel afx_k_clip_stats (normalize)");
        if (p->normalize == AFX_NORM_UTTERANCE) {
            CU_TRY(afx_cu_tile_stats(bt, cur, nf, s->d_clip_a, s->d_part, cs), "kernel afx_k_tile_stats (variance)");
            CU_TRY(afx_cu_clip_stats(bt, s->d_part, nf, p->norm_unbiased, s->d_clip_b, cs),
                   "kernel afx_k_clip_stats (variance)");
        }
    } else if (p->normalize == AFX_NORM_FEATURE) {
        CU_TRY(afx_cu_feat_stats(bt, cur, nf, NULL, none, s->d_part, cs), "kernel afx_k_feat_stats (mean)");
        CU_TRY(afx_cu_feat_finalize(bt, s->d_part, nf, 0, 0.0, 0, 0, s->d_feat_a, cs), "kernel afx_k_feat_finalize");
        CU_TRY(afx_cu_feat_stats(bt, cur, nf, s->d_feat_a, none, s->d_part, cs), "kernel afx_k_feat_stats (variance)");
        CU_TRY(afx_cu_feat_finalize(bt, s->d_part, nf, 1, (double)p->norm_eps, p->norm_vars, p->norm_unbiased,
                                    s->d_feat_b, cs),
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
            CU_TRY(afx_cu_clip_stats(bt, s->d_part, nf, 0, s->d_clip_a, cs), "kernel afx_k_clip_stats (mask mean)");
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
        CU_TRY(afx_cu_feat_finalize(bt, s->d_part, nf, 0, 0.0, 0, 0, s->d_feat_a, cs), "kernel afx_k_feat_finalize");
        if (with_std) {
            CU_TRY(afx_cu_feat_stats(bt, cur, nf, s->d_feat_a, mask, s->d_part, cs),
                   "kernel afx_k_feat_stats (pool std)");
            CU_TRY(afx_cu_feat_finalize(bt, s->d_part, nf, 2, 0.0, 0, 0, s->d_feat_b, cs), "kernel afx_k_feat_finalize");
        }
        CU_TRY(afx_cu_pool_output(bt, nf, with_std, s->d_feat_a, s->d_feat_b, dtype, s->d_out, cs),
               "kernel afx_k_pool_output");
    } else {
        CU_TRY(afx_cu_output(bt, cur, nf, p->layout == AFX_LAYOUT_TF, bi->most, dtype, mask, s->d_out, cs),
               "kernel afx_k_output");
    }
    /* Clips refused on the device (a NaN/Inf sample, or a final value that is not finite) leave zeros. */
    int64_t slot_elems = plan->pooled_size ? plan->pooled_size : (int64_t)nf * bi->most;
    CU_TRY(afx_cu_refuse(bt, slot_elems, dtype, s->d_out, cs), "kernel afx_k_refuse");
    return AFX_OK;
}

static afx_status enqueue_compute(afx_plan *plan, cuda_state *s, const batch_info *bi, int slot) {
    cudaStream_t cs = s->stream;
    CU_TRY(cudaStreamWaitEvent(cs, s->ev_h2d[slot], 0), "cudaStreamWaitEvent(compute after upload)");
    CU_TRY(afx_cu_gather(bi->dev, bi->is_s16, bi->channels, plan->p.input_scale, bi->scan, s->d_mono, bi->max_avail,
                         cs),
           "kernel afx_k_gather (%d clips, up to %lld samples)", bi->n_clips, (long long)bi->max_avail);
    if (bi->scan) CU_TRY(afx_cu_bad_value(bi->dev, cs), "kernel afx_k_bad_value");
    CU_TRY(cudaEventRecord(s->ev_raw_free, cs), "cudaEventRecord(gather done)");
    AFX_FORWARD(enqueue_features(plan, s, bi));
    AFX_FORWARD(enqueue_post(plan, s, bi));
    CU_TRY(cudaEventRecord(s->ev_computed, cs), "cudaEventRecord(batch computed)");
    CU_TRY(cudaEventRecord(s->ev_ready, cs), "cudaEventRecord(output ready)");
    return AFX_OK;
}

afx_status afx_cu_start_batch(afx_plan *plan, cuda_state *s, const afx_input *in, input_kind kind,
                              const int64_t *n_frames, int *slot_out) {
    int slot = s->next_slot;
    s->next_slot ^= 1;
    *slot_out = slot;
    s->dev_slot = -1; /* any execute ends what afx_plan_device_output_wait may report */
    /* The slot's pinned buffers are free once its previous upload and download are done. */
    CU_TRY(cudaEventSynchronize(s->ev_h2d[slot]), "cudaEventSynchronize(previous upload)");
    CU_TRY(cudaEventSynchronize(s->ev_d2h[slot]), "cudaEventSynchronize(previous download)");
    batch_info *bi = &s->info[slot];
    AFX_FORWARD(describe_batch(plan, s, in, kind, n_frames, slot, bi));
    AFX_FORWARD(finish_meta(plan, s, in, n_frames, slot, bi));
    AFX_FORWARD(enqueue_upload(plan, s, bi, slot));
    AFX_FORWARD(enqueue_compute(plan, s, bi, slot));
    return AFX_OK;
}

/* 1 when `p` is page-locked host memory the device can copy into directly. */
static int is_pinned(const void *p) {
    struct cudaPointerAttributes attr;
    memset(&attr, 0, sizeof attr);
    cudaError_t e = cudaPointerGetAttributes(&attr, p);
    (void)cudaGetLastError();
    return e == cudaSuccess && attr.type == cudaMemoryTypeHost;
}

afx_status afx_cu_enqueue_download(afx_plan *plan, cuda_state *s, int slot, const afx_output *out) {
    batch_info *bi = &s->info[slot];
    const size_t es = afx_dtype_size(plan->p.output_dtype), n = (size_t)bi->n_clips;
    CU_TRY(cudaStreamWaitEvent(s->d2h, s->ev_computed, 0), "cudaStreamWaitEvent(download after compute)");
    bi->direct_out = NULL;
    if (out && bi->out_bytes) {
        if (out->data && is_pinned(out->data)) { /* straight into the caller's buffer, at its stride */
            bi->direct_out = out->data;
            bi->direct_stride = out->frames_stride;
            size_t rows = 1, width = bi->out_bytes, pitch = bi->out_bytes;
            if (!plan->pooled_size && plan->p.layout == AFX_LAYOUT_TF) {
                rows = n;
                width = (size_t)bi->most * (size_t)plan->n_features * es;
                pitch = (size_t)out->frames_stride * (size_t)plan->n_features * es;
            } else if (!plan->pooled_size) {
                rows = n * (size_t)plan->n_features;
                width = (size_t)bi->most * es;
                pitch = (size_t)out->frames_stride * es;
            }
            CU_TRY(cudaMemcpy2DAsync(out->data, pitch, s->d_out, width, width, rows, cudaMemcpyDeviceToHost, s->d2h),
                   "cudaMemcpy2DAsync(output, %zu rows of %zu bytes, device to pinned host)", rows, width);
        } else {
            CU_TRY(cudaMemcpyAsync(s->h_out[slot], s->d_out, bi->out_bytes, cudaMemcpyDeviceToHost, s->d2h),
                   "cudaMemcpyAsync(output, %zu bytes, device to host)", bi->out_bytes);
        }
    }
    size_t v0 = bi->off[META_BAD_INDEX], v1 = bi->off[META_BAD_FEATURES] + n * sizeof(unsigned);
    CU_TRY(cudaMemcpyAsync(s->h_meta[slot] + v0, s->d_meta[slot] + v0, v1 - v0, cudaMemcpyDeviceToHost, s->d2h),
           "cudaMemcpyAsync(clip verdicts, %zu bytes, device to host)", v1 - v0);
    CU_TRY(cudaEventRecord(s->ev_d2h[slot], s->d2h), "cudaEventRecord(download)");
    CU_TRY(cudaEventRecord(s->ev_out_free, s->d2h), "cudaEventRecord(output free)");
    return AFX_OK;
}

/* Applies a downloaded batch's verdicts: n_frames -1 for refused clips, the message of the first. */
static afx_status apply_verdicts(afx_plan *plan, cuda_state *s, int slot, int64_t *n_frames) {
    const batch_info *bi = &s->info[slot];
    const unsigned char *h = s->h_meta[slot];
    const unsigned long long *bad_index = (const unsigned long long *)(const void *)(h + bi->off[META_BAD_INDEX]);
    const float *bad_value = (const float *)(const void *)(h + bi->off[META_BAD_VALUE]);
    const unsigned *bad_features = (const unsigned *)(const void *)(h + bi->off[META_BAD_FEATURES]);
    afx_status st = AFX_OK;
    for (int b = 0; b < bi->n_clips; b++) {
        const unsigned long long global = bi->first_clip_index + (uint64_t)b;
        if (bad_index[b] != AFX_CU_NO_BAD_SAMPLE) {
            const float v = bad_value[b];
            const long long ch = bi->orig_channels;
            if (st == AFX_OK) /* name the first refused clip, as the CPU backend does */
                st = AFX_PLAN_FAIL(plan, AFX_ERR_INVALID_INPUT,
                                   "clip %d (global index %llu): sample %lld (channel %d) is %s; clip refused", b,
                                   global, (long long)bad_index[b] / ch, (int)((long long)bad_index[b] % ch),
                                   isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf"));
            n_frames[b] = -1;
        } else if (bad_features[b]) {
            if (st == AFX_OK)
                st = AFX_PLAN_FAIL(plan, AFX_ERR_INVALID_INPUT,
                                   "clip %d (global index %llu): features are not finite (a final value is NaN or Inf: "
                                   "the samples or the parameters overflow float32%s); clip refused",
                                   b, global, plan->p.output_dtype == AFX_DTYPE_F16 ? ", or it is beyond float16's "
                                   "largest value 65504: use float32 output or scale them (out_scale)" : "");
            n_frames[b] = -1;
        }
    }
    return st;
}

afx_status afx_cu_finish_batch(afx_plan *plan, cuda_state *s, int slot, const afx_output *out, int64_t *n_frames) {
    batch_info *bi = &s->info[slot];
    const size_t es = afx_dtype_size(plan->p.output_dtype), n = (size_t)bi->n_clips;
    const size_t nf = (size_t)plan->n_features, most = (size_t)bi->most, stride = (size_t)out->frames_stride;
    /* Rows of the caller's buffer: `width` bytes come from the device, the rest of each row is padding. */
    copy_job job = {NULL, out->data, 0, 0, 0, 0, 0};
    if (plan->pooled_size) {
        job.rows = 1;
        job.width = job.src_pitch = job.dst_pitch = bi->out_bytes;
    } else if (plan->p.layout == AFX_LAYOUT_TF) {
        job.rows = n;
        job.width = job.src_pitch = most * nf * es;
        job.dst_pitch = stride * nf * es;
    } else {
        job.rows = n * nf;
        job.width = job.src_pitch = most * es;
        job.dst_pitch = stride * es;
    }
    if (!out->data) job.rows = 0;
    if (bi->direct_out && job.dst_pitch > job.width) run_copy(s, &job); /* the padding, while the copy runs */
    CU_TRY(cudaEventSynchronize(s->ev_d2h[slot]), "cudaEventSynchronize(batch download)");
    if (!bi->direct_out) {
        job.src = s->h_out[slot];
        run_copy(s, &job);
    }
    return apply_verdicts(plan, s, slot, n_frames);
}

afx_status afx_cu_device_verdicts(afx_plan *plan, cuda_state *s, afx_device_output *out) {
    const int slot = s->dev_slot;
    if (slot < 0 || out->data != s->d_out || out->n_clips != s->info[slot].n_clips)
        return AFX_PLAN_FAIL(plan, AFX_ERR_INVALID_INPUT,
                             "afx_plan_device_output_wait: `out` is not the output of this plan's last "
                             "afx_plan_execute_device(_input) call (or another execute came after it)");
    CU_TRY(cudaEventSynchronize(s->ev_d2h[slot]), "cudaEventSynchronize(device batch and its verdicts)");
    return apply_verdicts(plan, s, slot, out->n_frames);
}
