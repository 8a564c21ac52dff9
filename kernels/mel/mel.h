/*
 * mel.h: mel scales and triangular filter weights.
 *
 *  - HTK: 2595 log10(1 + f/700) (torchaudio.functional.melscale_fbanks mel_scale="htk"; librosa htk=True).
 *  - Slaney: linear 3 f / 200 below 1 kHz, 15 + 27 ln(f/1000)/ln(6.4) above (librosa/core/convert.py
 *    hz_to_mel, htk=False; Auditory Toolbox).
 *  - Kaldi: 1127 ln(1 + f/700) (kaldi-asr/kaldi src/feat/mel-computations.h MelScale), which equals HTK.
 *
 * Filter i (0-based) has edges p[i], p[i+1], p[i+2], where p are n_mels + 2 points equally spaced in mel
 * between mel(f_min) and mel(f_max). HTK and Slaney triangles are linear in Hz between the edges mapped
 * back to Hz (librosa.filters.mel: max(0, min(lower, upper))); Kaldi's are linear in mel
 * (mel-computations.cc MelBanks::MelBanks). Bin k's frequency is k * sample_rate / n_fft, or, for
 * torchaudio, element k of linspace(0, sample_rate // 2, n_fft/2 + 1) (torchaudio/functional/functional.py
 * melscale_fbanks: all_freqs = torch.linspace(0, sample_rate // 2, n_freqs)).
 */
#ifndef AFX_MEL_H
#define AFX_MEL_H

#include "../common/afx_hd.h"

enum { AFX_MS_HTK = 0, AFX_MS_SLANEY = 1, AFX_MS_KALDI = 2 };

AFX_HD double afx_hz_to_mel(double f, int scale) {
    if (scale == AFX_MS_SLANEY) {
        const double f_sp = 200.0 / 3.0, min_log_hz = 1000.0, min_log_mel = 15.0;
        const double logstep = log(6.4) / 27.0;
        return f >= min_log_hz ? min_log_mel + log(f / min_log_hz) / logstep : f / f_sp;
    }
    if (scale == AFX_MS_KALDI) return 1127.0 * log(1.0 + f / 700.0);
    return 2595.0 * log10(1.0 + f / 700.0);
}

AFX_HD double afx_mel_to_hz(double m, int scale) {
    if (scale == AFX_MS_SLANEY) {
        const double f_sp = 200.0 / 3.0, min_log_hz = 1000.0, min_log_mel = 15.0;
        const double logstep = log(6.4) / 27.0;
        return m >= min_log_mel ? min_log_hz * exp(logstep * (m - min_log_mel)) : f_sp * m;
    }
    if (scale == AFX_MS_KALDI) return 700.0 * (exp(m / 1127.0) - 1.0);
    return 700.0 * (pow(10.0, m / 2595.0) - 1.0);
}

/** Frequency of FFT bin k in Hz: k*sr/n_fft, or torchaudio's linspace(0, sr // 2, n_fft/2 + 1)[k]. */
AFX_HD double afx_mel_bin_freq(int k, int sample_rate, int n_fft, int linspace) {
    if (!linspace) return (double)k * sample_rate / n_fft;
    int last = n_fft / 2;
    return last > 0 ? (double)(sample_rate / 2) * (double)k / (double)last : 0.0;
}

/** Edge point j (0 .. n_mels+1) of the filterbank, in mel. */
AFX_HD double afx_mel_point(int j, int n_mels, double mel_lo, double mel_hi) {
    return mel_lo + (mel_hi - mel_lo) * (double)j / (double)(n_mels + 1);
}

/** Weight of filter i at frequency f_hz (peak 1, before any normalization). */
AFX_HD double afx_mel_weight(int i, double f_hz, int n_mels, double mel_lo, double mel_hi, int scale) {
    double left = afx_mel_point(i, n_mels, mel_lo, mel_hi);
    double center = afx_mel_point(i + 1, n_mels, mel_lo, mel_hi);
    double right = afx_mel_point(i + 2, n_mels, mel_lo, mel_hi);
    double x = scale == AFX_MS_KALDI ? afx_hz_to_mel(f_hz, scale) : f_hz;
    if (scale != AFX_MS_KALDI) {
        left = afx_mel_to_hz(left, scale);
        center = afx_mel_to_hz(center, scale);
        right = afx_mel_to_hz(right, scale);
    }
    double lower = (x - left) / (center - left), upper = (right - x) / (right - center);
    double w = lower < upper ? lower : upper;
    return w > 0.0 ? w : 0.0;
}

/** The abscissa afx_mel_weight compares with the edges for bin k: the bin's frequency, or its mel (Kaldi). */
AFX_HD double afx_mel_bin_x(int k, int sample_rate, int n_fft, int linspace, int scale) {
    double f = afx_mel_bin_freq(k, sample_rate, n_fft, linspace);
    return scale == AFX_MS_KALDI ? afx_hz_to_mel(f, scale) : f;
}

/**
 * Support of filter i: the bins [*lo, *hi) whose abscissa lies strictly between the filter's left and right
 * edges; afx_mel_weight is exactly 0 outside it (x <= left makes `lower` <= 0, x >= right makes `upper`
 * <= 0). Found by bisection over the same expressions afx_mel_weight evaluates (the abscissa grows with k),
 * so a table filled over the supports alone equals the dense evaluation, in O(n_mels log n_freq + non-zeros)
 * instead of O(n_mels n_freq). Some bins inside may still weigh 0 (rounding at the edges).
 */
AFX_HD void afx_mel_support(int i, int n_mels, double mel_lo, double mel_hi, int scale, int sample_rate, int n_fft,
                            int linspace, int *lo, int *hi) {
    double left = afx_mel_point(i, n_mels, mel_lo, mel_hi), right = afx_mel_point(i + 2, n_mels, mel_lo, mel_hi);
    if (scale != AFX_MS_KALDI) {
        left = afx_mel_to_hz(left, scale);
        right = afx_mel_to_hz(right, scale);
    }
    int n_freq = n_fft / 2 + 1;
    int a = 0, b = n_freq;  /* first bin with x > left */
    while (a < b) {
        int m = a + (b - a) / 2;
        if (afx_mel_bin_x(m, sample_rate, n_fft, linspace, scale) > left) b = m;
        else a = m + 1;
    }
    *lo = a;
    b = n_freq;             /* first bin with x >= right */
    while (a < b) {
        int m = a + (b - a) / 2;
        if (afx_mel_bin_x(m, sample_rate, n_fft, linspace, scale) >= right) b = m;
        else a = m + 1;
    }
    *hi = a;
}

/** Slaney area normalization of filter i: 2 / (f_right - f_left) in Hz (librosa norm='slaney'). */
AFX_HD double afx_mel_slaney_norm(int i, int n_mels, double mel_lo, double mel_hi, int scale) {
    double left = afx_mel_to_hz(afx_mel_point(i, n_mels, mel_lo, mel_hi), scale);
    double right = afx_mel_to_hz(afx_mel_point(i + 2, n_mels, mel_lo, mel_hi), scale);
    return 2.0 / (right - left);
}

/** One mel band of one frame: sum of w[k] * spec[k] over the filter's non-zero bins [lo, hi), in bin order
 *  and in float: the CPU backend's sparse product. (The CUDA backend multiplies by the dense matrix with
 *  cuBLAS; the two differ only in rounding, and for a power spectrum that overflowed to Inf, where the
 *  dense product gives 0 * Inf = NaN in the frame's other bands.) */
AFX_HD float afx_mel_band(const float *w, const float *spec, int lo, int hi) {
    float acc = 0.0f;
    for (int k = lo; k < hi; k++) acc += w[k] * spec[k];
    return acc;
}

#endif /* AFX_MEL_H */
