// norm.cu: per-clip normalization, in place per tile, once the statistics are known (kernels/reduce),
// with the helpers of kernels/norm/norm.h. Only valid frames are ever touched.
#include "common/cuda_common.cuh"
#include "norm/norm.h"

__global__ void afx_k_normalize(afx_cu_batch bt, float *x, int nf, int mode, const double *clip_a, const double *clip_b,
                                const double *feat_mean, const double *feat_inv, double eps, int norm_vars) {
    for (int64_t tile = blockIdx.x; tile < bt.n_tiles; tile += gridDim.x) {
        const int b = bt.tile_clip[tile];
        const int64_t e0 = bt.tile_g0[tile] * nf, e1 = bt.tile_g0[tile + 1] * nf;
        if (mode == AFX_NORM_FEATURE) {
            const double *mean = feat_mean + (int64_t)b * nf, *inv = feat_inv + (int64_t)b * nf;
            for (int64_t e = e0 + threadIdx.x; e < e1; e += blockDim.x) {
                const int f = (int)(e % nf);
                x[e] = afx_norm_apply(x[e], mean[f], inv[f]);
            }
        } else if (mode == AFX_NORM_MINMAX) {
            const double lo = clip_a[(int64_t)b * 4 + 1], hi = clip_a[(int64_t)b * 4 + 2];
            for (int64_t e = e0 + threadIdx.x; e < e1; e += blockDim.x) x[e] = afx_minmax_apply(x[e], lo, hi);
        } else {
            const double mean = clip_a[(int64_t)b * 4],
                         inv = afx_norm_inv_std(clip_b[(int64_t)b * 4 + 3], eps, norm_vars);
            for (int64_t e = e0 + threadIdx.x; e < e1; e += blockDim.x) x[e] = afx_norm_apply(x[e], mean, inv);
        }
    }
}

extern "C" cudaError_t afx_cu_normalize(afx_cu_batch batch, float *x, int nf, int mode, const double *clip_a,
                                        const double *clip_b, const double *feat_mean, const double *feat_inv,
                                        double eps, int norm_vars, cudaStream_t stream) {
    if (batch.n_tiles <= 0 || mode == AFX_NORM_NONE) return cudaSuccess;
    return afx_cu_launch(afx_k_normalize, afx_cu_blocks(batch.n_tiles, 1), AFX_CU_THREADS, 0, stream, batch, x, nf,
                         mode, clip_a, clip_b, feat_mean, feat_inv, eps, norm_vars);
}

extern "C" cudaError_t afx_cu_load_norm(void) {
    AFX_CU_LOAD(afx_k_normalize);
    return cudaSuccess;
}
