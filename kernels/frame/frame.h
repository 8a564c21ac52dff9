/*
 * frame.h: where analysis frames sit in a clip, and what a sample outside the clip reads as.
 *
 * Conventions (see afx.h, "Framing"):
 *  - center (librosa.stft / torch.stft center=True): frame t's FFT frame starts at t*hop - n_fft/2 of the
 *    signal padded by n_fft/2 on both sides; the window (win samples) is centred in it at offset
 *    (n_fft - win)/2 (torch.stft: left = (n_fft - win_length) // 2; librosa util.pad_center).
 *  - snip (Kaldi snip_edges=true, tf.signal.frame): window t covers [t*hop, t*hop + win), FFT offset 0.
 *  - nosnip (Kaldi snip_edges=false): kaldi-asr/kaldi src/feat/feature-window.cc FirstSampleOfFrame and
 *    NumFrames: (n + hop/2)/hop frames, window starts at t*hop + hop/2 - win/2; samples outside the clip
 *    are mirrored by ExtractWindow's rule (s < 0: -s - 1; s >= n: 2n - 1 - s).
 */
#ifndef AFX_FRAME_H
#define AFX_FRAME_H

#include "../common/afx_hd.h"

enum { AFX_FRAMING_CENTER = 0, AFX_FRAMING_SNIP = 1, AFX_FRAMING_NOSNIP = 2 };
enum { AFX_PAD_IDX_REFLECT = 0, AFX_PAD_IDX_CONSTANT = 1, AFX_PAD_IDX_KALDI = 2 };

/** Number of frames for a clip of n samples (0 for n <= 0). */
AFX_HD int64_t afx_frame_count(int framing, int64_t n, int n_fft, int win, int hop) {
    if (n <= 0) return 0;
    switch (framing) {
    case AFX_FRAMING_CENTER: {
        int64_t padded = n + 2 * (int64_t)(n_fft / 2);
        return padded < n_fft ? 0 : 1 + (padded - n_fft) / hop;
    }
    case AFX_FRAMING_SNIP: return n < win ? 0 : 1 + (n - win) / hop;
    default: return (n + hop / 2) / hop;
    }
}

/** Clip index of the first windowed sample of frame t (may be negative or past the end). */
AFX_HD int64_t afx_frame_first_sample(int framing, int64_t t, int n_fft, int win, int hop) {
    switch (framing) {
    case AFX_FRAMING_CENTER: return t * hop - n_fft / 2 + (n_fft - win) / 2;
    case AFX_FRAMING_SNIP: return t * hop;
    default: return t * hop + hop / 2 - win / 2;
    }
}

/** Offset of the window inside the n_fft FFT input. */
AFX_HD int afx_frame_fft_offset(int framing, int n_fft, int win) {
    return framing == AFX_FRAMING_CENTER ? (n_fft - win) / 2 : 0;
}

/** Clip index that sample i reads (n >= 1), or -1 for a zero (constant padding). */
AFX_HD int64_t afx_pad_index(int pad, int64_t i, int64_t n) {
    if (i >= 0 && i < n) return i;
    if (pad == AFX_PAD_IDX_CONSTANT) return -1;
    if (pad == AFX_PAD_IDX_KALDI) {           /* period 2n, edge repeated: x[-1] = x[0] */
        int64_t p = 2 * n, r = i % p;
        if (r < 0) r += p;
        return r < n ? r : p - 1 - r;
    }
    if (n == 1) return 0;                     /* numpy 'reflect': period 2(n-1), x[-1] = x[1] */
    int64_t p = 2 * (n - 1), r = i % p;
    if (r < 0) r += p;
    return r < n ? r : p - r;
}

/** Kaldi pre-emphasis of element i of a frame x[0..win): x[i] - c*x[i-1], and x[0] - c*x[0]. */
AFX_HD float afx_preemph_at(const float *x, int i, float c) { return x[i] - c * x[i > 0 ? i - 1 : 0]; }

#endif /* AFX_FRAME_H */
