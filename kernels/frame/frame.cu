// frame.cu: one chunk of the batch's packed frame list -> the cuFFT R2C input [count][n_fft].
//
// One block per frame (grid-stride over the chunk). Per frame, in Kaldi's ProcessWindow order and with
// the same shared helpers as the CPU backend (frame.h, convert.h, spectrum.h):
//   1. the win analysis samples under the window (padding by afx_pad_index over the framed length; samples
//      past the ones present, with fixed_length, are zeros), plus dither;
//   2. remove_dc_offset: subtract their mean (double block sum, then (float)(sum / win));
//   3. raw log energy (before pre-emphasis and window) when asked;
//   4. pre-emphasis (afx_preemph_at) and window into the FFT frame at fft_offset, zeros elsewhere;
//   5. windowed log energy when raw_energy is off.
// The segment lives in shared memory when win <= afx_cu_frame_smem_max(), else in a global scratch row
// per chunk frame (args.seg). Barriers separate the writes of the segment from the reads of neighbours.
#include "common/cuda_common.cuh"
#include "convert/convert.h"
#include "frame/frame.h"
#include "spectrum/spectrum.h"

#define AFX_FRAME_SMEM_FLOATS 12000  // 48000 bytes: under the 48 KiB default dynamic shared memory limit

__global__ void __launch_bounds__(AFX_CU_THREADS) afx_k_frame(afx_cu_frame_args a, afx_cu_batch bt, int use_smem) {
    extern __shared__ float sm_seg[];
    __shared__ double sh[32];
    const int tid = threadIdx.x, bs = blockDim.x;
    const int want_energy = a.energy != NULL;
    for (int64_t i = blockIdx.x; i < a.count; i += gridDim.x) {
        const int64_t g = a.g0 + i;
        const int b = afx_cu_clip_of_frame(bt, g);
        const int64_t t = g - bt.frame_off[b], n = bt.length[b], avail = bt.avail[b];
        const float *x = a.mono + bt.sample_off[b];
        const uint64_t clip = bt.clip_id[b];
        const int64_t first = afx_frame_first_sample(a.framing, t, a.n_fft, a.win, a.hop);
        float *seg = use_smem ? sm_seg : a.seg + i * a.win;
        float *dst = a.fft_in + i * a.ld_in;

        double sum = 0.0;
        for (int k = tid; k < a.win; k += bs) {
            int64_t j = afx_pad_index(a.pad, first + k, n);
            float v = (j < 0 || j >= avail) ? 0.0f : x[j];  // fixed_length: zeros past the real samples
            if (a.dither > 0.0f) v = afx_dither_sample(v, a.dither, a.dither_seed, clip, (uint64_t)t, (uint64_t)k);
            seg[k] = v;
            sum += v;
        }
        if (a.remove_dc) {  // uniform over the block
            float mean = (float)(afx_cu_block_sum(sum, sh) / a.win);
            for (int k = tid; k < a.win; k += bs) seg[k] -= mean;  // the same thread wrote seg[k]
        }
        __syncthreads();  // the whole segment is written before pre-emphasis reads neighbours

        double e = 0.0;
        for (int k = tid; k < a.n_fft; k += bs) {
            int w = k - a.fft_offset;
            if (w < 0 || w >= a.win) {
                dst[k] = 0.0f;
                continue;
            }
            float s = seg[w];
            float y = (a.preemphasis != 0.0f ? afx_preemph_at(seg, w, a.preemphasis) : s) * a.window[w];
            dst[k] = y;
            if (want_energy) {
                float q = a.energy_raw ? s : y;
                e += (double)q * q;
            }
        }
        if (want_energy) {  // uniform over the block
            e = afx_cu_block_sum(e, sh);
            if (tid == 0) a.energy[g] = afx_log_energy_value(e, a.energy_floor);
        }
        __syncthreads();  // the segment is rewritten by the next frame
    }
}

extern "C" int afx_cu_frame_smem_max(void) { return AFX_FRAME_SMEM_FLOATS; }

extern "C" cudaError_t afx_cu_frame(const afx_cu_frame_args *args, afx_cu_batch batch, cudaStream_t stream) {
    if (args->count <= 0) return cudaSuccess;
    int use_smem = args->seg == NULL;
    if (use_smem && args->win > AFX_FRAME_SMEM_FLOATS) return cudaErrorInvalidValue;
    size_t smem = use_smem ? sizeof(float) * (size_t)args->win : 0;
    return afx_cu_launch(afx_k_frame, afx_cu_blocks(args->count, 1), AFX_CU_THREADS, smem, stream, *args, batch,
                         use_smem);
}

extern "C" cudaError_t afx_cu_load_frame(void) {
    AFX_CU_LOAD(afx_k_frame);
    return cudaSuccess;
}
