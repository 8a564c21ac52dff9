/*
 * dct.h: the orthonormal DCT-II used for MFCC, and Kaldi's cepstral lifter.
 *
 * C[k][n] = sqrt((k == 0 ? 1 : 2) / N) * cos(pi / N * (n + 0.5) * k), the same matrix as
 * scipy.fft.dct(type=2, norm='ortho') (librosa.feature.mfcc), torchaudio.functional.create_dct(norm='ortho')
 * and kaldi-asr/kaldi src/matrix/matrix-functions.cc ComputeDctMatrix.
 * tf.signal.mfccs_from_log_mel_spectrograms scales its unnormalized DCT-II by rsqrt(2N), which is
 * sqrt(2/N) for every row, row 0 included (tensorflow/python/ops/signal/mfcc_ops.py).
 * Lifter: kaldi-asr/kaldi src/feat/mel-computations.cc ComputeLifterCoeffs: 1 + 0.5 Q sin(pi i / Q).
 */
#ifndef AFX_DCT_H
#define AFX_DCT_H

#include "../common/afx_hd.h"

AFX_HD double afx_dct2_ortho(int k, int n, int n_in) {
    double scale = sqrt((k == 0 ? 1.0 : 2.0) / (double)n_in);
    return scale * cos(AFX_PI / (double)n_in * ((double)n + 0.5) * (double)k);
}

/** DCT-II element: orthonormal, or with tf_scale every row (row 0 too) scaled sqrt(2/N). */
AFX_HD double afx_dct2(int k, int n, int n_in, int tf_scale) {
    double v = afx_dct2_ortho(k, n, n_in);
    return (tf_scale && k == 0) ? v * AFX_SQRT2 : v;
}

AFX_HD double afx_kaldi_lifter(int i, double q) {
    return q == 0.0 ? 1.0 : 1.0 + 0.5 * q * sin(AFX_PI * (double)i / q);
}

#endif /* AFX_DCT_H */
