/*
 * window.h: analysis windows. Value i of a window of `length` samples.
 *
 * periodic=1 uses the DFT-even form (denominator M = length), as torch.hann_window(periodic=True) and
 * scipy.signal.get_window(fftbins=True) (librosa) do; periodic=0 the symmetric form (M = length - 1),
 * as Kaldi's FeatureWindowFunction (kaldi-asr/kaldi src/feat/feature-window.cc, a = 2*M_PI/(frame_length-1))
 * and numpy.hanning do. Povey is Kaldi's pow(0.5 - 0.5*cos(a*i), 0.85); Blackman uses Kaldi's default
 * blackman_coeff 0.42, i.e. 0.42 - 0.5 cos + 0.08 cos(2.), the classic Blackman window.
 */
#ifndef AFX_WINDOW_H
#define AFX_WINDOW_H

#include "../common/afx_hd.h"

enum { AFX_W_HANN = 0, AFX_W_HAMMING = 1, AFX_W_POVEY = 2, AFX_W_BLACKMAN = 3, AFX_W_RECTANGULAR = 4 };

AFX_HD double afx_window_value(int type, int i, int length, int periodic) {
    if (length <= 1 || type == AFX_W_RECTANGULAR) return 1.0;
    double m = periodic ? (double)length : (double)(length - 1);
    double a = 2.0 * AFX_PI * (double)i / m;
    switch (type) {
    case AFX_W_HANN: return 0.5 - 0.5 * cos(a);
    case AFX_W_HAMMING: return 0.54 - 0.46 * cos(a);
    case AFX_W_POVEY: return pow(0.5 - 0.5 * cos(a), 0.85);
    case AFX_W_BLACKMAN: return 0.42 - 0.5 * cos(a) + 0.08 * cos(2.0 * a);
    default: return 1.0;
    }
}

#endif /* AFX_WINDOW_H */
