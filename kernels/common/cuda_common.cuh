// cuda_common.cuh: device-only helpers shared by the kernels in kernels/<op>/<op>.cu (not used by the CPU).
//
// - launch sizing: grids are capped and kernels loop grid-stride over int64_t indices;
// - block reductions in a fixed order (shuffle tree, then one warp), so results do not depend on timing;
// - clip lookup by binary search over the batch's frame offsets;
// - the masked read of a feature value and the store in the output dtype (kernels/common/half.h).
#ifndef AFX_CUDA_COMMON_CUH
#define AFX_CUDA_COMMON_CUH

#include <stdint.h>

#include "afx.h"
#include "common/half.h"
#include "cuda_launch.h"

#define AFX_CU_THREADS 256       // block size of every 1-D kernel (a multiple of 32)
#define AFX_CU_MAX_BLOCKS 65535  // grid cap; kernels loop grid-stride beyond it

// Blocks for `n` items of `per_block` each, capped (at least 1).
static inline unsigned afx_cu_blocks(int64_t n, int64_t per_block) {
    int64_t b = per_block > 0 ? (n + per_block - 1) / per_block : 1;
    if (b < 1) b = 1;
    if (b > AFX_CU_MAX_BLOCKS) b = AFX_CU_MAX_BLOCKS;
    return (unsigned)b;
}

template <typename T>
struct afx_cu_identity {
    typedef T type;
};

// Type-checked launch through cudaLaunchKernel: every argument is converted to the kernel's parameter type
// (the non-deduced afx_cu_identity context), and the kernel's own <<<>>> stub is never run. The stubs keep
// a function-local static; never running them lets the CUDA objects build with -fno-threadsafe-statics
// and -fno-exceptions and so need no C++ runtime: C programs link libafx.a with the CUDA libraries only.
// Returns the launch error, if any; cudaGetLastError() also clears a non-sticky error left by the launch.
// The thread's last-error state is cleared first: it may hold a stale non-sticky error of an unrelated
// earlier call (the caller's cudaEventQuery answering cudaErrorNotReady, for one, is recorded there), which
// the check after the launch would otherwise report as this launch's failure. A sticky error is not lost:
// cudaLaunchKernel itself returns it.
template <typename... P>
static inline cudaError_t afx_cu_launch(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                                        typename afx_cu_identity<P>::type... args) {
    void *argv[] = {(void *)&args..., NULL};
    (void)cudaGetLastError();
    cudaError_t e = cudaLaunchKernel((const void *)kernel, grid, block, argv, smem, stream);
    cudaError_t last = cudaGetLastError();
    return e != cudaSuccess ? e : last;
}

// Loads a kernel (cudaFuncGetAttributes): fails when this build has no image for the current device.
#define AFX_CU_LOAD(kernel)                                                             \
    do {                                                                                \
        cudaFuncAttributes afx_attr_;                                                   \
        cudaError_t afx_e_ = cudaFuncGetAttributes(&afx_attr_, (const void *)(kernel)); \
        if (afx_e_ != cudaSuccess) return afx_e_;                                       \
    } while (0)

// Block-wide reductions. Every thread of the block must call them (blockDim.x a multiple of 32, at most
// 1024); `sh` is 32 elements of shared memory; every thread gets the result. They end with a barrier, so
// `sh` may be reused right away.
__device__ inline double afx_cu_block_sum(double v, double *sh) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < n_warps ? sh[lane] : 0.0;
        for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
        if (lane == 0) sh[0] = v;
    }
    __syncthreads();
    v = sh[0];
    __syncthreads();
    return v;
}

__device__ inline float afx_cu_block_min(float v, float *sh) {
    for (int o = 16; o > 0; o >>= 1) v = fminf(v, __shfl_down_sync(0xffffffffu, v, o));
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < n_warps ? sh[lane] : INFINITY;
        for (int o = 16; o > 0; o >>= 1) v = fminf(v, __shfl_down_sync(0xffffffffu, v, o));
        if (lane == 0) sh[0] = v;
    }
    __syncthreads();
    v = sh[0];
    __syncthreads();
    return v;
}

__device__ inline float afx_cu_block_max(float v, float *sh) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, o));
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < n_warps ? sh[lane] : -INFINITY;
        for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, o));
        if (lane == 0) sh[0] = v;
    }
    __syncthreads();
    v = sh[0];
    __syncthreads();
    return v;
}

// The clip that global frame g (0 <= g < n_frames) belongs to: the largest b with frame_off[b] <= g.
// Clips without frames have frame_off[b] == frame_off[b + 1] and are never returned.
__device__ inline int afx_cu_clip_of_frame(const afx_cu_batch &bt, int64_t g) {
    int lo = 0, hi = bt.n_clips - 1;
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        if (bt.frame_off[mid] <= g)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

// Feature f of global frame g of clip b, as the masks leave it (time masks, then frequency masks, both
// set the clip's mask value: masked if either covers the element).
__device__ inline float afx_cu_fetch(const float *x, int nf, const afx_cu_mask &m, int b, int64_t g, int f) {
    if ((m.tflag && m.tflag[g]) || (m.fflag && m.fflag[(int64_t)b * nf + f])) return m.value[b];
    return x[g * nf + f];
}

// Element i of an output array of `dtype` (AFX_DTYPE_*), rounded as the CPU backend rounds.
__device__ inline void afx_cu_store(void *out, int dtype, int64_t i, float v) {
    if (dtype == AFX_DTYPE_F32)
        ((float *)out)[i] = v;
    else if (dtype == AFX_DTYPE_F16)
        ((uint16_t *)out)[i] = afx_f32_to_f16(v);
    else
        ((uint16_t *)out)[i] = afx_f32_to_bf16(v);
}

#endif  // AFX_CUDA_COMMON_CUH
