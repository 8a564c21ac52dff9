// mask.cu: SpecAugment masks. Each (clip, mask) is drawn with afx_mask_draw (kernels/mask/mask.h) keyed by
// the global clip index, exactly as the CPU backend draws it, and marks the frames (time mask) or features
// (frequency mask) it covers in flag arrays; the final stages read masked elements as the clip's mask value.
// Overlapping masks write the same byte (1): a benign race.
#include "common/cuda_common.cuh"
#include "mask/mask.h"

__global__ void afx_k_mask_marks(afx_cu_batch bt, int nf, uint64_t seed, int n_time, int time_param, int n_freq,
                                 int freq_param, uint8_t *tflag, uint8_t *fflag) {
    const int per_clip = n_time + n_freq;
    const int64_t n_pairs = (int64_t)bt.n_clips * per_clip;
    for (int64_t p = blockIdx.x; p < n_pairs; p += gridDim.x) {
        const int b = (int)(p / per_clip), m = (int)(p % per_clip);
        const int64_t frames = bt.frame_off[b + 1] - bt.frame_off[b];
        if (frames == 0) continue;  // the CPU skips clips without frames
        int64_t start = 0, width = 0;
        if (m < n_time) {
            afx_mask_draw(seed, bt.clip_id[b], AFX_MASK_KIND_TIME, m, time_param, frames, &start, &width);
            uint8_t *row = tflag + bt.frame_off[b];
            for (int64_t t = start + threadIdx.x; t < start + width; t += blockDim.x) row[t] = 1;
        } else {
            afx_mask_draw(seed, bt.clip_id[b], AFX_MASK_KIND_FREQ, m - n_time, freq_param, nf, &start, &width);
            uint8_t *row = fflag + (int64_t)b * nf;
            for (int64_t f = start + threadIdx.x; f < start + width; f += blockDim.x) row[f] = 1;
        }
    }
}

extern "C" cudaError_t afx_cu_mask_marks(afx_cu_batch batch, int nf, uint64_t seed, int n_time, int time_param,
                                         int n_freq, int freq_param, uint8_t *tflag, uint8_t *fflag,
                                         cudaStream_t stream) {
    int64_t n_pairs = (int64_t)batch.n_clips * (n_time + n_freq);
    if (n_pairs <= 0) return cudaSuccess;
    return afx_cu_launch(afx_k_mask_marks, afx_cu_blocks(n_pairs, 1), 128, 0, stream, batch, nf, seed, n_time,
                         time_param, n_freq, freq_param, tflag, fflag);
}

__global__ void afx_k_mask_value(afx_cu_batch bt, const double *clip_stats, float *value) {
    for (int b = blockIdx.x * blockDim.x + threadIdx.x; b < bt.n_clips; b += gridDim.x * blockDim.x)
        value[b] = clip_stats ? (float)clip_stats[(int64_t)b * 4] : 0.0f;
}

extern "C" cudaError_t afx_cu_mask_value(afx_cu_batch batch, const double *clip_stats, float *value,
                                         cudaStream_t stream) {
    if (batch.n_clips <= 0) return cudaSuccess;
    return afx_cu_launch(afx_k_mask_value, afx_cu_blocks(batch.n_clips, AFX_CU_THREADS), AFX_CU_THREADS, 0, stream,
                         batch, clip_stats, value);
}

extern "C" cudaError_t afx_cu_load_mask(void) {
    AFX_CU_LOAD(afx_k_mask_marks);
    AFX_CU_LOAD(afx_k_mask_value);
    return cudaSuccess;
}
