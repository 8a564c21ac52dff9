// hd_check.cu: compiles every shared per-element header for the device, so that a change which breaks
// the CUDA build of the shared math fails CI even before the CUDA backend uses it. Not linked anywhere.
#include "common/afx_hd.h"
#include "common/half.h"
#include "common/rng.h"
#include "convert/convert.h"
#include "dct/dct.h"
#include "frame/frame.h"
#include "log/log.h"
#include "mask/mask.h"
#include "mel/mel.h"
#include "norm/norm.h"
#include "spectrum/spectrum.h"
#include "window/window.h"

__global__ void afx_hd_check_kernel(float *out, const float *in, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    int64_t s = 0, w = 0;
    afx_mask_draw(1, (uint64_t)i, AFX_MASK_KIND_TIME, 0, 10, 100, &s, &w);
    double v = afx_window_value(AFX_W_POVEY, i, n, 0) * afx_dct2_ortho(1, i, n) * afx_kaldi_lifter(i, 22.0) +
               afx_mel_weight(0, 440.0, 40, afx_hz_to_mel(0.0, AFX_MS_SLANEY), afx_hz_to_mel(8000.0, AFX_MS_SLANEY),
                              AFX_MS_SLANEY) +
               afx_mel_slaney_norm(0, 40, 0.0, 2000.0, AFX_MS_HTK) + afx_rng_gauss(1, 2, 3, (uint64_t)i) +
               afx_norm_inv_std(2.0, 1e-5, 1) + (double)afx_frame_count(AFX_FRAMING_CENTER, n, 512, 400, 160) +
               (double)afx_frame_first_sample(AFX_FRAMING_NOSNIP, i, 512, 400, 160) +
               (double)afx_pad_index(AFX_PAD_IDX_KALDI, -i, n) + (double)afx_frame_fft_offset(0, 512, 400) +
               (double)(s + w);
    float x = afx_log_value(in[i], 0.0f, 1e-10f, AFX_LB_LOG10) + afx_preemph_at(in, i, 0.97f) +
              afx_top_db_floor(afx_db_value(in[i], 10.0f, 1e-10f, afx_db_ref_term(10.0f, 1e-10f, 1.0f)), 0.0f, 80.0f) +
              afx_norm_apply(in[i], 0.5, 2.0) + afx_minmax_apply(in[i], 0.0, 1.0) +
              afx_power_value(in[i], 1.0f, 1.5f) + afx_log_energy_value((double)in[i], 0.1f) +
              afx_downmix_f32(in, 1) + afx_mel_band(in, in, 0, i) + afx_dither_sample(in[i], 0.1f, 1, 2, 3, (uint64_t)i) +
              (float)(afx_f32_to_f16(in[i]) + afx_f32_to_bf16(in[i]));
    out[i] = x + (float)v;
}
