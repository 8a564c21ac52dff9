// pool.cu: clip-level pooling output: the mean over valid frames and, for meanstd, the population std,
// per feature, from the per-(clip, feature) statistics of kernels/reduce (taken after masking), stored in
// the output dtype. A clip without frames pools to zeros, as on the CPU.
#include "common/cuda_common.cuh"

__global__ void afx_k_pool_output(afx_cu_batch bt, int nf, int with_std, const double *mean, const double *std_,
                                  int dtype, void *out) {
    const int64_t n = (int64_t)bt.n_clips * nf, pooled = with_std ? 2 * (int64_t)nf : nf;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t b = i / nf, f = i % nf;
        const float m = (float)mean[i], s = with_std ? (float)std_[i] : 0.0f;
        if (!afx_fits_dtype(m, dtype) || !afx_fits_dtype(s, dtype)) atomicOr(&bt.bad_features[b], 1u);
        afx_cu_store(out, dtype, b * pooled + f, m);
        if (with_std) afx_cu_store(out, dtype, b * pooled + nf + f, s);
    }
}

extern "C" cudaError_t afx_cu_pool_output(afx_cu_batch batch, int nf, int with_std, const double *mean,
                                          const double *std_, int dtype, void *out, cudaStream_t stream) {
    int64_t n = (int64_t)batch.n_clips * nf;
    if (n <= 0) return cudaSuccess;
    return afx_cu_launch(afx_k_pool_output, afx_cu_blocks(n, AFX_CU_THREADS), AFX_CU_THREADS, 0, stream, batch, nf,
                         with_std, mean, std_, dtype, out);
}

extern "C" cudaError_t afx_cu_load_pool(void) {
    AFX_CU_LOAD(afx_k_pool_output);
    return cudaSuccess;
}
