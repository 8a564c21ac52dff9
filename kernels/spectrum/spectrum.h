/*
 * spectrum.h: per-bin spectrum value and Kaldi's per-frame log energy.
 *
 * |X|^power from the FFT output: power 2 is re^2 + im^2, power 1 its square root, any other power
 * pow(re^2 + im^2, power / 2). Log energy is Kaldi's Log(max(VecVec(x, x), FLT_EPSILON)), floored at
 * ln(energy_floor) when energy_floor > 0 (kaldi-asr/kaldi src/feat/feature-mfcc.cc, feature-window.cc).
 */
#ifndef AFX_SPECTRUM_H
#define AFX_SPECTRUM_H

#include <float.h>

#include "../common/afx_hd.h"

/** |re + i im|^power, float arithmetic. */
AFX_HD float afx_power_value(float re, float im, float power) {
    float mag2 = re * re + im * im;
    return power == 2.0f ? mag2 : power == 1.0f ? sqrtf(mag2) : powf(mag2, 0.5f * power);
}

/** Log energy from the sum of squares e (accumulated in double). The floors are written so that a NaN
 *  energy stays NaN (fmaxf would turn it into the floor) and reaches the non-finite check. */
AFX_HD float afx_log_energy_value(double e, float energy_floor) {
    float ef = (float)e;
    float le = logf(ef < FLT_EPSILON ? FLT_EPSILON : ef);
    if (energy_floor > 0.0f && le < logf(energy_floor)) le = logf(energy_floor);
    return le;
}

#endif /* AFX_SPECTRUM_H */
