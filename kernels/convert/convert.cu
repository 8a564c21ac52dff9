// convert.cu: the clips of a batch (int16/float interleaved, from the uploaded staging or the caller's device
// memory) -> scaled float mono, packed clip after clip (kernels/convert/convert.h); the NaN/Inf scan of float
// input on the device; and the check that this build carries a kernel image of every kernel for the current
// device (which also loads them all at plan time rather than at a batch's first launch).
#include "common/cuda_common.cuh"
#include "convert/convert.h"

// Grid: x over a clip's samples, y over clips (both grid-stride). Only the samples a clip uses are read
// (avail[b]: fixed_length cuts the rest), so the scan covers exactly them, as the CPU backend's does.
__global__ void afx_k_gather(afx_cu_batch bt, int is_s16, int ch, float scale, int scan, float *mono) {
    for (int b = blockIdx.y; b < bt.n_clips; b += gridDim.y) {
        const int64_t n = bt.avail[b];
        const void *src = bt.src[b];
        float *dst = mono + bt.sample_off[b];
        for (int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; j < n; j += (int64_t)gridDim.x * blockDim.x) {
            if (is_s16) {
                dst[j] = afx_downmix_s16((const int16_t *)src + j * ch, ch) * scale;
                continue;
            }
            const float *x = (const float *)src + j * ch;
            if (scan)
                for (int c = 0; c < ch; c++)
                    if (!isfinite(x[c])) atomicMin(&bt.bad_index[b], (unsigned long long)(j * ch + c));
            dst[j] = afx_downmix_f32(x, ch) * scale;
        }
    }
}

extern "C" cudaError_t afx_cu_gather(afx_cu_batch batch, int is_s16, int n_channels, float scale, int scan,
                                     float *mono, int64_t max_avail, cudaStream_t stream) {
    if (max_avail <= 0 || batch.n_clips <= 0) return cudaSuccess;
    dim3 grid(afx_cu_blocks(max_avail, AFX_CU_THREADS), batch.n_clips < 65535 ? (unsigned)batch.n_clips : 65535u);
    if (grid.x * (int64_t)grid.y > 1048576) grid.x = 1048576 / grid.y > 0 ? 1048576 / grid.y : 1;
    return afx_cu_launch(afx_k_gather, grid, AFX_CU_THREADS, 0, stream, batch, is_s16, n_channels, scale, scan, mono);
}

__global__ void afx_k_bad_value(afx_cu_batch bt) {
    for (int b = blockIdx.x * blockDim.x + threadIdx.x; b < bt.n_clips; b += gridDim.x * blockDim.x) {
        const unsigned long long i = bt.bad_index[b];
        if (i != AFX_CU_NO_BAD_SAMPLE) bt.bad_value[b] = ((const float *)bt.src[b])[i];
    }
}

extern "C" cudaError_t afx_cu_bad_value(afx_cu_batch batch, cudaStream_t stream) {
    if (batch.n_clips <= 0) return cudaSuccess;
    return afx_cu_launch(afx_k_bad_value, afx_cu_blocks(batch.n_clips, AFX_CU_THREADS), AFX_CU_THREADS, 0, stream,
                         batch);
}

extern "C" cudaError_t afx_cu_image_check(void) {
    cudaError_t (*const load[])(void) = {afx_cu_load_convert, afx_cu_load_frame, afx_cu_load_spectrum,
                                         afx_cu_load_log,     afx_cu_load_mel,   afx_cu_load_reduce,
                                         afx_cu_load_norm,    afx_cu_load_mask,  afx_cu_load_dct,
                                         afx_cu_load_pool,    afx_cu_load_layout};
    for (size_t i = 0; i < sizeof load / sizeof load[0]; i++) {
        cudaError_t e = load[i]();
        if (e != cudaSuccess) return e;
    }
    return cudaSuccess;
}

extern "C" cudaError_t afx_cu_load_convert(void) {
    AFX_CU_LOAD(afx_k_gather);
    AFX_CU_LOAD(afx_k_bad_value);
    return cudaSuccess;
}
