// dct.cu: the DCT itself is a cuBLAS SGEMM against the plan's DCT matrix (host/cuda/cuda_backend.c, lifter
// folded in by host/plan.c); this kernel applies Kaldi's use_energy afterwards: c0 = the frame's log energy.
#include "common/cuda_common.cuh"

__global__ void afx_k_energy_c0(float *x, const float *energy, int64_t n, int n_mfcc) {
    for (int64_t g = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; g < n; g += (int64_t)gridDim.x * blockDim.x)
        x[g * n_mfcc] = energy[g];
}

extern "C" cudaError_t afx_cu_energy_c0(float *x, const float *energy, int64_t n_frames, int n_mfcc,
                                        cudaStream_t stream) {
    if (n_frames <= 0) return cudaSuccess;
    return afx_cu_launch(afx_k_energy_c0, afx_cu_blocks(n_frames, AFX_CU_THREADS), AFX_CU_THREADS, 0, stream, x, energy,
                         n_frames, n_mfcc);
}

extern "C" cudaError_t afx_cu_load_dct(void) {
    AFX_CU_LOAD(afx_k_energy_c0);
    return cudaSuccess;
}
