// mel.cu: log / dB of the mel energies that cuBLAS computed (cublasSgemm of the power spectra with the
// dense mel weight matrix, host/cuda/cuda_backend.c), in place, one thread per value, with the helpers of
// kernels/log/log.h: the same per-element formulas as the CPU backend.
#include "common/cuda_common.cuh"
#include "log/log.h"

__global__ void afx_k_mel_log(float *x, int64_t n, int kind, float offset, float floor_, float mult, float amin,
                              float ref_term) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const float v = x[i];
        x[i] = kind == AFX_LB_DB ? afx_db_value(v, mult, amin, ref_term) : afx_log_value(v, offset, floor_, kind);
    }
}

extern "C" cudaError_t afx_cu_mel_log(float *x, int64_t count, int kind, float offset, float floor_, float mult,
                                      float amin, float ref_term, cudaStream_t stream) {
    if (count <= 0 || kind < 0) return cudaSuccess;
    return afx_cu_launch(afx_k_mel_log, afx_cu_blocks(count, AFX_CU_THREADS), AFX_CU_THREADS, 0, stream, x, count, kind,
                         offset, floor_, mult, amin, ref_term);
}

extern "C" cudaError_t afx_cu_load_mel(void) {
    AFX_CU_LOAD(afx_k_mel_log);
    return cudaSuccess;
}
