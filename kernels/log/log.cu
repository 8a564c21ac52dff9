// log.cu: the per-clip top_db / log_range floor followed by the output affine map (per tile, in place), with
// the helpers of kernels/log/log.h. (The log / dB itself is fused into the mel kernel, kernels/mel/mel.cu.)
#include "common/cuda_common.cuh"
#include "log/log.h"

__global__ void afx_k_floor_affine(afx_cu_batch bt, float *x, int nf, const double *clip_stats, float range, int affine,
                                   float scale, float bias) {
    for (int64_t tile = blockIdx.x; tile < bt.n_tiles; tile += gridDim.x) {
        const int b = bt.tile_clip[tile];
        const int64_t e0 = bt.tile_g0[tile] * nf, e1 = bt.tile_g0[tile + 1] * nf;
        const float mx = clip_stats ? (float)clip_stats[(int64_t)b * 4 + 2] : 0.0f;
        for (int64_t e = e0 + threadIdx.x; e < e1; e += blockDim.x) {
            float v = x[e];
            if (clip_stats) v = afx_top_db_floor(v, mx, range);
            if (affine) v = afx_affine(v, scale, bias);
            x[e] = v;
        }
    }
}

extern "C" cudaError_t afx_cu_floor_affine(afx_cu_batch batch, float *x, int nf, const double *clip_stats, float range,
                                           int affine, float scale, float bias, cudaStream_t stream) {
    if (batch.n_tiles <= 0 || (!clip_stats && !affine)) return cudaSuccess;
    return afx_cu_launch(afx_k_floor_affine, afx_cu_blocks(batch.n_tiles, 1), AFX_CU_THREADS, 0, stream, batch, x, nf,
                         clip_stats, range, affine, scale, bias);
}

extern "C" cudaError_t afx_cu_load_log(void) {
    AFX_CU_LOAD(afx_k_floor_affine);
    return cudaSuccess;
}
