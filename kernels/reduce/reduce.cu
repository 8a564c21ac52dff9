// reduce.cu: per-clip statistics over valid frames only (top_db max, utterance and min-max normalization,
// mask mean) and per-(clip, feature) statistics (feature normalization, pooling).
//
// Two levels, both in a fixed order so that a run is reproducible: one block per tile writes a partial
// (block reduction), then one thread per clip (or per clip and feature) adds its tiles' partials in tile
// order. Sums are in double, as the CPU backend's; min and max are exact.
#include "common/cuda_common.cuh"
#include "norm/norm.h"

#define AFX_FEAT_TX 32  // features per pass of a feat_stats block
#define AFX_FEAT_TY 8   // frame lanes of a feat_stats block (AFX_FEAT_TX * AFX_FEAT_TY = AFX_CU_THREADS)

__global__ void __launch_bounds__(AFX_CU_THREADS)
    afx_k_tile_stats(afx_cu_batch bt, const float *x, int nf, const double *center, double *part) {
    __shared__ double shd[32];
    __shared__ float shf[32];
    for (int64_t tile = blockIdx.x; tile < bt.n_tiles; tile += gridDim.x) {
        const int b = bt.tile_clip[tile];
        const int64_t e0 = bt.tile_g0[tile] * nf, e1 = bt.tile_g0[tile + 1] * nf;
        const double c = center ? center[(int64_t)b * 4] : 0.0;
        double s = 0.0, q = 0.0;
        float lo = INFINITY, hi = -INFINITY;
        for (int64_t e = e0 + threadIdx.x; e < e1; e += blockDim.x) {
            float v = x[e];
            s += v;
            lo = fminf(lo, v);
            hi = fmaxf(hi, v);
            if (center) {
                double d = v - c;
                q += d * d;
            }
        }
        s = afx_cu_block_sum(s, shd);
        q = afx_cu_block_sum(q, shd);
        lo = afx_cu_block_min(lo, shf);
        hi = afx_cu_block_max(hi, shf);
        if (threadIdx.x == 0) {
            double *p = part + tile * 4;
            p[0] = s;
            p[1] = lo;
            p[2] = hi;
            p[3] = q;
        }
    }
}

extern "C" cudaError_t afx_cu_tile_stats(afx_cu_batch batch, const float *x, int nf, const double *center, double *part,
                                         cudaStream_t stream) {
    if (batch.n_tiles <= 0) return cudaSuccess;
    return afx_cu_launch(afx_k_tile_stats, afx_cu_blocks(batch.n_tiles, 1), AFX_CU_THREADS, 0, stream, batch, x, nf,
                         center, part);
}

__global__ void afx_k_clip_stats(afx_cu_batch bt, const double *part, int nf, int unbiased, double *clip) {
    for (int b = blockIdx.x * blockDim.x + threadIdx.x; b < bt.n_clips; b += gridDim.x * blockDim.x) {
        const int64_t count = (bt.frame_off[b + 1] - bt.frame_off[b]) * nf;
        double *out = clip + (int64_t)b * 4;
        if (count == 0) {
            out[0] = out[1] = out[2] = out[3] = 0.0;
            continue;
        }
        double s = 0.0, q = 0.0, lo = INFINITY, hi = -INFINITY;
        for (int tile = bt.clip_tile[b]; tile < bt.clip_tile[b + 1]; tile++) {
            const double *p = part + (int64_t)tile * 4;
            s += p[0];
            lo = p[1] < lo ? p[1] : lo;
            hi = p[2] > hi ? p[2] : hi;
            q += p[3];
        }
        out[0] = s / (double)count;
        out[1] = lo;
        out[2] = hi;
        out[3] = afx_norm_variance(q, (double)count, unbiased);
    }
}

extern "C" cudaError_t afx_cu_clip_stats(afx_cu_batch batch, const double *part, int nf, int unbiased, double *clip,
                                         cudaStream_t stream) {
    if (batch.n_clips <= 0) return cudaSuccess;
    return afx_cu_launch(afx_k_clip_stats, afx_cu_blocks(batch.n_clips, AFX_CU_THREADS), AFX_CU_THREADS, 0, stream,
                         batch, part, nf, unbiased, clip);
}

__global__ void __launch_bounds__(AFX_CU_THREADS)
    afx_k_feat_stats(afx_cu_batch bt, const float *x, int nf, const double *center, afx_cu_mask m, double *part) {
    __shared__ double red[AFX_FEAT_TY][AFX_FEAT_TX + 1];
    const int tx = threadIdx.x % AFX_FEAT_TX, ty = threadIdx.x / AFX_FEAT_TX;
    for (int64_t tile = blockIdx.x; tile < bt.n_tiles; tile += gridDim.x) {
        const int b = bt.tile_clip[tile];
        const int64_t g0 = bt.tile_g0[tile], g1 = bt.tile_g0[tile + 1];
        for (int f0 = 0; f0 < nf; f0 += AFX_FEAT_TX) {
            const int f = f0 + tx;
            double acc = 0.0;
            if (f < nf) {
                const double c = center ? center[(int64_t)b * nf + f] : 0.0;
                for (int64_t g = g0 + ty; g < g1; g += AFX_FEAT_TY) {
                    float v = afx_cu_fetch(x, nf, m, b, g, f);
                    if (center) {
                        double d = v - c;
                        acc += d * d;
                    } else {
                        acc += v;
                    }
                }
            }
            red[ty][tx] = acc;
            __syncthreads();
            if (ty == 0 && f < nf) {
                double s = 0.0;
                for (int k = 0; k < AFX_FEAT_TY; k++) s += red[k][tx];
                part[tile * nf + f] = s;
            }
            __syncthreads();
        }
    }
}

extern "C" cudaError_t afx_cu_feat_stats(afx_cu_batch batch, const float *x, int nf, const double *center,
                                         afx_cu_mask mask, double *part, cudaStream_t stream) {
    if (batch.n_tiles <= 0) return cudaSuccess;
    return afx_cu_launch(afx_k_feat_stats, afx_cu_blocks(batch.n_tiles, 1), AFX_CU_THREADS, 0, stream, batch, x, nf,
                         center, mask, part);
}

__global__ void afx_k_feat_finalize(afx_cu_batch bt, const double *part, int nf, int mode, double eps, int norm_vars,
                                    int unbiased, double *out) {
    const int64_t n = (int64_t)bt.n_clips * nf;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const int b = (int)(i / nf), f = (int)(i % nf);
        const int64_t frames = bt.frame_off[b + 1] - bt.frame_off[b];
        if (frames == 0) {
            out[i] = mode == 1 ? 1.0 : 0.0;
            continue;
        }
        double s = 0.0;
        for (int tile = bt.clip_tile[b]; tile < bt.clip_tile[b + 1]; tile++) s += part[(int64_t)tile * nf + f];
        out[i] = mode == 1   ? afx_norm_inv_std(afx_norm_variance(s, (double)frames, unbiased), eps, norm_vars)
                 : mode == 2 ? sqrt(s / (double)frames)
                             : s / (double)frames;
    }
}

extern "C" cudaError_t afx_cu_feat_finalize(afx_cu_batch batch, const double *part, int nf, int mode, double eps,
                                            int norm_vars, int unbiased, double *out, cudaStream_t stream) {
    int64_t n = (int64_t)batch.n_clips * nf;
    if (n <= 0) return cudaSuccess;
    return afx_cu_launch(afx_k_feat_finalize, afx_cu_blocks(n, AFX_CU_THREADS), AFX_CU_THREADS, 0, stream, batch, part,
                         nf, mode, eps, norm_vars, unbiased, out);
}

extern "C" cudaError_t afx_cu_load_reduce(void) {
    AFX_CU_LOAD(afx_k_tile_stats);
    AFX_CU_LOAD(afx_k_clip_stats);
    AFX_CU_LOAD(afx_k_feat_stats);
    AFX_CU_LOAD(afx_k_feat_finalize);
    return cudaSuccess;
}
