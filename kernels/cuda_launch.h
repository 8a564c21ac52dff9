/*
 * cuda_launch.h: the C interface of the CUDA kernels (kernels/<op>/<op>.cu) used by host/cuda/cuda_backend.c.
 *
 * Every function launches one kernel (or a short fixed sequence) on `stream`, returns cudaGetLastError()
 * after the launch (never synchronizes) and takes plain C types. Element indices of big buffers are
 * int64_t; grids are capped and every kernel loops grid-stride, so no launch dimension can overflow.
 *
 * Layouts (see the comment at the top of host/cuda/cuda_backend.c for the whole data flow):
 *  - the batch's frames are packed clip after clip: global frame g of clip b is frame_off[b] + t;
 *  - feature matrices are frame-major, [n_frames][nf] floats, so a clip's values are contiguous;
 *  - tiles split every clip's frames into runs of at most a fixed number of frames; tile i covers
 *    frames [tile_g0[i], tile_g0[i+1]) of clip tile_clip[i]. Per-clip statistics are reduced per tile
 *    (one block each) and then per clip over its tiles in order, so results are deterministic.
 */
#ifndef AFX_CUDA_LAUNCH_H
#define AFX_CUDA_LAUNCH_H

#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Per-batch metadata; every pointer is device memory uploaded with the batch. */
typedef struct afx_cu_batch {
    int n_clips;
    int n_tiles;
    int64_t n_frames;          /* frames of the batch (empty clips have none) */
    const int64_t *frame_off;  /* [n_clips + 1]; frame_off[n_clips] = n_frames */
    const int64_t *sample_off; /* [n_clips] first mono sample of the clip in the packed mono buffer */
    const int64_t *length;     /* [n_clips] mono samples of the clip as framed (fixed_length when set; 0 when
                                  it has no frames) */
    const int64_t *avail;      /* [n_clips] samples actually present (<= length): past them a clip reads 0 */
    const uint64_t *clip_id;   /* [n_clips] first_clip_index + b: keys dither and masks */
    const int64_t *tile_g0;    /* [n_tiles + 1]; tile_g0[n_tiles] = n_frames */
    const int32_t *tile_clip;  /* [n_tiles] */
    const int32_t *clip_tile;  /* [n_clips + 1] first tile of each clip; clip_tile[n_clips] = n_tiles */
    const void *const *src;    /* [n_clips] where clip b's avail[b] interleaved samples are read from: the
                                  uploaded staging, or the caller's device memory (execute_device_input) */
    /* Per-clip verdicts, written by the kernels and downloaded with the batch. */
    unsigned long long *bad_index; /* [n_clips] first non-finite interleaved sample (atomicMin), ~0ull: none */
    float *bad_value;              /* [n_clips] that sample's value */
    unsigned int *bad_features;    /* [n_clips] 1: a final feature value is NaN or Inf */
} afx_cu_batch;

#define AFX_CU_NO_BAD_SAMPLE (~0ull)

/** SpecAugment masks of a batch for the final stages (both flag pointers NULL: no masks). */
typedef struct afx_cu_mask {
    const uint8_t *tflag; /* [n_frames] 1: the frame is covered by a time mask; or NULL */
    const uint8_t *fflag; /* [n_clips][nf] 1: the feature is covered by a frequency mask; or NULL */
    const float *value;   /* [n_clips] what masked elements read as */
} afx_cu_mask;

/** One chunk of the packed frame list: frames [g0, g0 + count) of the batch. */
typedef struct afx_cu_frame_args {
    const float *mono;   /* packed mono samples, scaled */
    const float *window; /* [win] */
    float *fft_in;       /* [count][ld_in] cuFFT R2C input (frame i at fft_in + i * ld_in) */
    float *seg;          /* [count][win] scratch when win > afx_cu_frame_smem_max(), else NULL */
    float *energy;       /* [n_frames] log energy of each global frame (MFCC use_energy), or NULL */
    int64_t g0, count;
    int n_fft, ld_in, win, hop, framing, pad, fft_offset;
    float dither;         /* 0: none */
    uint64_t dither_seed; /* afx_params.dither_seed (the domain is mixed in by the kernel) */
    int remove_dc;
    float preemphasis;
    int energy_raw; /* 1: energy before pre-emphasis and window (Kaldi raw_energy) */
    float energy_floor;
} afx_cu_frame_args;

/* Checks that this build has an image of every kernel for the current device, loading them all
 * (cudaFuncGetAttributes); afx_cu_load_<op> does it for the kernels of kernels/<op>/<op>.cu. */
cudaError_t afx_cu_image_check(void);
cudaError_t afx_cu_load_convert(void);
cudaError_t afx_cu_load_frame(void);
cudaError_t afx_cu_load_spectrum(void);
cudaError_t afx_cu_load_log(void);
cudaError_t afx_cu_load_mel(void);
cudaError_t afx_cu_load_reduce(void);
cudaError_t afx_cu_load_norm(void);
cudaError_t afx_cu_load_mask(void);
cudaError_t afx_cu_load_dct(void);
cudaError_t afx_cu_load_pool(void);
cudaError_t afx_cu_load_layout(void);
/* Largest window kept in shared memory by the framing kernel; larger ones need afx_cu_frame_args.seg. */
int afx_cu_frame_smem_max(void);

/* convert: mono[sample_off[b] + j] = downmix of frame j of batch.src[b] (n_channels interleaved, int16 or
 * float) times scale, for j < avail[b] (max_avail: the largest avail[b]). With `scan` (float input), the
 * first non-finite interleaved sample of each clip goes to bad_index (atomicMin), then afx_cu_bad_value
 * copies its value to bad_value: both before the source may be overwritten. */
cudaError_t afx_cu_gather(afx_cu_batch batch, int is_s16, int n_channels, float scale, int scan, float *mono,
                          int64_t max_avail, cudaStream_t stream);
cudaError_t afx_cu_bad_value(afx_cu_batch batch, cudaStream_t stream);

/* frame: dither, DC removal, energy, pre-emphasis and window of a chunk's frames into the FFT input. */
cudaError_t afx_cu_frame(const afx_cu_frame_args *args, afx_cu_batch batch, cudaStream_t stream);

/* spectrum: the R2C transform of `count` frames of length 1 (the identity: out[i] = x[i * ld_in] + 0i). */
cudaError_t afx_cu_dft1(const float *x, int ld_in, void *out, int64_t count, cudaStream_t stream);

/* spectrum: out[i] = |X[i]|^power for `count` complex values (cufftComplex). */
cudaError_t afx_cu_power(const void *spectrum, float *out, int64_t count, float power, cudaStream_t stream);

/* mel log: in place on `count` mel energies (the cuBLAS product), x = afx_db_value (kind AFX_LB_DB) or
 * afx_log_value (AFX_LB_LN / AFX_LB_LOG10); kind -1 (plain mel) does nothing. */
cudaError_t afx_cu_mel_log(float *x, int64_t count, int kind, float offset, float floor_, float mult, float amin,
                           float ref_term, cudaStream_t stream);

/* log: in place per tile, x = afx_top_db_floor(x, clip max, range) when clip_stats is not NULL (max is
 * field 2 of clip_stats[b][4]), then x = afx_affine(x, scale, bias) when affine is set. */
cudaError_t afx_cu_floor_affine(afx_cu_batch batch, float *x, int nf, const double *clip_stats, float range, int affine,
                                float scale, float bias, cudaStream_t stream);

/* reduce: part[tile][4] = {sum x, min x, max x, sum (x - center[b][0])^2 (0 if center is NULL)} over
 * the tile's elements; then clip[b][4] = {mean, min, max, afx_norm_variance(sum of squares, count,
 * unbiased)} over the clip's tiles in order (count = frames * nf; zeros for a clip without frames). */
cudaError_t afx_cu_tile_stats(afx_cu_batch batch, const float *x, int nf, const double *center, double *part,
                              cudaStream_t stream);
cudaError_t afx_cu_clip_stats(afx_cu_batch batch, const double *part, int nf, int unbiased, double *clip,
                              cudaStream_t stream);

/* reduce, per feature: part[tile][f] = sum over the tile's frames of v (center NULL) or (v - center[b][f])^2,
 * where v is x with the masks of `mask` applied; then out[b][f] from the clip's tiles in order:
 * mode 0: sum / frames, mode 1: afx_norm_inv_std(afx_norm_variance(sum, frames, unbiased), eps, norm_vars),
 * mode 2: sqrt(sum / frames) (pooling's population std) (0, or 1 for mode 1, for a clip without frames). */
cudaError_t afx_cu_feat_stats(afx_cu_batch batch, const float *x, int nf, const double *center, afx_cu_mask mask,
                              double *part, cudaStream_t stream);
cudaError_t afx_cu_feat_finalize(afx_cu_batch batch, const double *part, int nf, int mode, double eps, int norm_vars,
                                 int unbiased, double *out, cudaStream_t stream);

/* norm: in place per tile. mode AFX_NORM_UTTERANCE: afx_norm_apply(x, clip_a[b][0],
 * afx_norm_inv_std(clip_b[b][3], eps, norm_vars)); AFX_NORM_MINMAX: afx_minmax_apply(x, clip_a[b][1],
 * clip_a[b][2]); AFX_NORM_FEATURE: afx_norm_apply(x, feat_mean[b][f], feat_inv[b][f]). */
cudaError_t afx_cu_normalize(afx_cu_batch batch, float *x, int nf, int mode, const double *clip_a, const double *clip_b,
                             const double *feat_mean, const double *feat_inv, double eps, int norm_vars,
                             cudaStream_t stream);

/* mask: draws every clip's masks with afx_mask_draw and sets the flags they cover (the flags must be
 * zeroed before); value[b] = (float)clip_stats[b][0] (the clip mean), or 0 when clip_stats is NULL. */
cudaError_t afx_cu_mask_marks(afx_cu_batch batch, int nf, uint64_t seed, int n_time, int time_param, int n_freq,
                              int freq_param, uint8_t *tflag, uint8_t *fflag, cudaStream_t stream);
cudaError_t afx_cu_mask_value(afx_cu_batch batch, const double *clip_stats, float *value, cudaStream_t stream);

/* dct: x[g][0] = energy[g] for every frame (Kaldi use_energy, after the lifter). */
cudaError_t afx_cu_energy_c0(float *x, const float *energy, int64_t n_frames, int n_mfcc, cudaStream_t stream);

/* layout: the batch output, [n_clips][nf][stride] (FT) or [n_clips][stride][nf] (TF) in `dtype`
 * (AFX_DTYPE_*), masks applied, zeros past each clip's frames. A final value (before the dtype conversion)
 * that is NaN or Inf sets bad_features[b]. */
cudaError_t afx_cu_output(afx_cu_batch batch, const float *x, int nf, int layout_tf, int64_t stride, int dtype,
                          afx_cu_mask mask, void *out, cudaStream_t stream);

/* pool: out[b][f] = (float)mean[b][f] and, with_std, out[b][nf + f] = (float)std_[b][f], in `dtype`; a NaN or
 * Inf value sets bad_features[b]. */
cudaError_t afx_cu_pool_output(afx_cu_batch batch, int nf, int with_std, const double *mean, const double *std_,
                               int dtype, void *out, cudaStream_t stream);

/* layout: zeroes the output slot (slot_elems elements of `dtype`) of every clip refused on the device (a bad
 * sample or bad features), after the output kernels: the refusal rule of afx_plan_execute. */
cudaError_t afx_cu_refuse(afx_cu_batch batch, int64_t slot_elems, int dtype, void *out, cudaStream_t stream);

#ifdef __cplusplus
}
#endif
#endif /* AFX_CUDA_LAUNCH_H */
