// layout.cu: the batch output from the frame-major feature matrix: masks applied, dtype conversion
// (kernels/common/half.h), zeros past each clip's frames; a final value that is NaN or Inf, or beyond the
// 16-bit output's range (afx_fits_dtype), marks its clip (the non-finite features rule), and afx_k_refuse then zeroes the slots of refused clips. TF is a straight copy per element; FT is a tiled
// transpose through shared memory (32 x 32 tiles, padded rows) so that reads and writes are both coalesced.
#include "common/cuda_common.cuh"

#define AFX_T_TILE 32
#define AFX_T_ROWS 8
#define AFX_T_THREADS 256  // AFX_T_TILE x AFX_T_ROWS

__global__ void afx_k_output_tf(afx_cu_batch bt, const float *x, int nf, int64_t stride, int dtype, afx_cu_mask m,
                                void *out) {
    const int64_t per_clip = stride * nf, n = (int64_t)bt.n_clips * per_clip;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const int b = (int)(i / per_clip);
        const int64_t r = i % per_clip, t = r / nf;
        const int f = (int)(r % nf);
        const int64_t g0 = bt.frame_off[b], frames = bt.frame_off[b + 1] - g0;
        float v = 0.0f;
        if (t < frames) {
            v = afx_cu_fetch(x, nf, m, b, g0 + t, f);
            if (!afx_fits_dtype(v, dtype)) atomicOr(&bt.bad_features[b], 1u);
        }
        afx_cu_store(out, dtype, i, v);
    }
}

__global__ void __launch_bounds__(AFX_T_THREADS)
    afx_k_output_ft(afx_cu_batch bt, const float *x, int nf, int64_t stride, int dtype, afx_cu_mask m, void *out) {
    __shared__ float tile[AFX_T_TILE][AFX_T_TILE + 1];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int64_t tiles_t = (stride + AFX_T_TILE - 1) / AFX_T_TILE, tiles_f = (nf + AFX_T_TILE - 1) / AFX_T_TILE;
    const int64_t per_clip = tiles_t * tiles_f, n = (int64_t)bt.n_clips * per_clip;
    for (int64_t k = blockIdx.x; k < n; k += gridDim.x) {
        const int b = (int)(k / per_clip);
        const int64_t r = k % per_clip, t0 = (r % tiles_t) * AFX_T_TILE;
        const int f0 = (int)(r / tiles_t) * AFX_T_TILE;
        const int64_t g0 = bt.frame_off[b], frames = bt.frame_off[b + 1] - g0;
        for (int j = ty; j < AFX_T_TILE; j += AFX_T_ROWS) {  // read along features (coalesced)
            const int64_t t = t0 + j;
            const int f = f0 + tx;
            float v = 0.0f;
            if (t < frames && f < nf) {
                v = afx_cu_fetch(x, nf, m, b, g0 + t, f);
                if (!afx_fits_dtype(v, dtype)) atomicOr(&bt.bad_features[b], 1u);
            }
            tile[j][tx] = v;
        }
        __syncthreads();
        for (int j = ty; j < AFX_T_TILE; j += AFX_T_ROWS) {  // write along frames (coalesced)
            const int f = f0 + j;
            const int64_t t = t0 + tx;
            if (f < nf && t < stride) afx_cu_store(out, dtype, ((int64_t)b * nf + f) * stride + t, tile[tx][j]);
        }
        __syncthreads();
    }
}

extern "C" cudaError_t afx_cu_output(afx_cu_batch batch, const float *x, int nf, int layout_tf, int64_t stride,
                                     int dtype, afx_cu_mask mask, void *out, cudaStream_t stream) {
    if (batch.n_clips <= 0 || stride <= 0 || nf <= 0) return cudaSuccess;
    if (layout_tf) {
        int64_t n = (int64_t)batch.n_clips * stride * nf;
        return afx_cu_launch(afx_k_output_tf, afx_cu_blocks(n, AFX_CU_THREADS), AFX_CU_THREADS, 0, stream, batch, x, nf,
                             stride, dtype, mask, out);
    }
    int64_t tiles =
        (int64_t)batch.n_clips * ((stride + AFX_T_TILE - 1) / AFX_T_TILE) * ((nf + AFX_T_TILE - 1) / AFX_T_TILE);
    return afx_cu_launch(afx_k_output_ft, afx_cu_blocks(tiles, 1), dim3(AFX_T_TILE, AFX_T_ROWS), 0, stream, batch, x,
                         nf, stride, dtype, mask, out);
}

// Grid: x over a slot's elements, y over clips; only refused clips write.
__global__ void afx_k_refuse(afx_cu_batch bt, int64_t slot_elems, int esize, void *out) {
    for (int b = blockIdx.y; b < bt.n_clips; b += gridDim.y) {
        if (bt.bad_index[b] == AFX_CU_NO_BAD_SAMPLE && !bt.bad_features[b]) continue;
        for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < slot_elems;
             i += (int64_t)gridDim.x * blockDim.x) {
            const int64_t e = (int64_t)b * slot_elems + i;
            if (esize == 4)
                ((float *)out)[e] = 0.0f;
            else
                ((uint16_t *)out)[e] = 0;  // +0 in f16 and bf16
        }
    }
}

extern "C" cudaError_t afx_cu_refuse(afx_cu_batch batch, int64_t slot_elems, int dtype, void *out,
                                     cudaStream_t stream) {
    if (batch.n_clips <= 0 || slot_elems <= 0) return cudaSuccess;
    dim3 grid(afx_cu_blocks(slot_elems, AFX_CU_THREADS), batch.n_clips < 65535 ? (unsigned)batch.n_clips : 65535u);
    if (grid.x > 64) grid.x = 64;  // refused clips are rare: few blocks per clip, grid-stride
    return afx_cu_launch(afx_k_refuse, grid, AFX_CU_THREADS, 0, stream, batch, slot_elems,
                         dtype == AFX_DTYPE_F32 ? 4 : 2, out);
}

extern "C" cudaError_t afx_cu_load_layout(void) {
    AFX_CU_LOAD(afx_k_output_tf);
    AFX_CU_LOAD(afx_k_output_ft);
    AFX_CU_LOAD(afx_k_refuse);
    return cudaSuccess;
}
