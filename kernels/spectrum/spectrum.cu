// spectrum.cu: |X|^power of the cuFFT R2C output (kernels/spectrum/spectrum.h).
#include <cufft.h>

#include "common/cuda_common.cuh"
#include "spectrum/spectrum.h"

__global__ void afx_k_power(const cufftComplex *x, float *out, int64_t n, float power) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        cufftComplex c = x[i];
        out[i] = afx_power_value(c.x, c.y, power);
    }
}

extern "C" cudaError_t afx_cu_power(const void *spectrum, float *out, int64_t count, float power, cudaStream_t stream) {
    if (count <= 0) return cudaSuccess;
    return afx_cu_launch(afx_k_power, afx_cu_blocks(count, AFX_CU_THREADS), AFX_CU_THREADS, 0, stream,
                         (const cufftComplex *)spectrum, out, count, power);
}

// The DFT of length 1 is the identity (cuFFT plans start at length 2).
__global__ void afx_k_dft1(const float *x, int ld_in, cufftComplex *out, int64_t n) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        cufftComplex c;
        c.x = x[i * ld_in];
        c.y = 0.0f;
        out[i] = c;
    }
}

extern "C" cudaError_t afx_cu_dft1(const float *x, int ld_in, void *out, int64_t count, cudaStream_t stream) {
    if (count <= 0) return cudaSuccess;
    return afx_cu_launch(afx_k_dft1, afx_cu_blocks(count, AFX_CU_THREADS), AFX_CU_THREADS, 0, stream, x, ld_in,
                         (cufftComplex *)out, count);
}

extern "C" cudaError_t afx_cu_load_spectrum(void) {
    AFX_CU_LOAD(afx_k_dft1);
    AFX_CU_LOAD(afx_k_power);
    return cudaSuccess;
}
