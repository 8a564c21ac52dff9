// convert.cu: int16/float interleaved input -> scaled float mono (kernels/convert/convert.h), and the check
// that this build carries a kernel image of every kernel for the current device (which also loads them all
// at plan time rather than at a batch's first launch).
#include "common/cuda_common.cuh"
#include "convert/convert.h"

__global__ void afx_k_downmix(const void *raw, int is_s16, int ch, float scale, float *mono, int64_t n) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float v = is_s16 ? afx_downmix_s16((const int16_t *)raw + i * ch, ch)
                         : afx_downmix_f32((const float *)raw + i * ch, ch);
        mono[i] = v * scale;
    }
}

extern "C" cudaError_t afx_cu_downmix(const void *raw, int is_s16, int n_channels, float scale, float *mono, int64_t n,
                                      cudaStream_t stream) {
    if (n <= 0) return cudaSuccess;
    return afx_cu_launch(afx_k_downmix, afx_cu_blocks(n, AFX_CU_THREADS), AFX_CU_THREADS, 0, stream, raw, is_s16,
                         n_channels, scale, mono, n);
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
    AFX_CU_LOAD(afx_k_downmix);
    return cudaSuccess;
}
