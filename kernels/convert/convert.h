/*
 * convert.h: input samples to the float mono signal the pipeline reads, and Kaldi's per-frame dither.
 *
 * A mono sample is the mean of a frame's interleaved channels, accumulated in double, int16 read as
 * v / 32768; the caller then multiplies by input_scale in float: (float)(acc / ch) * input_scale.
 * Dither adds dither * N(0, 1) to each analysis sample of each frame (Kaldi Dither() on the frame copy),
 * N(0, 1) keyed by (dither_seed ^ AFX_RNG_DOMAIN_DITHER, global clip index, frame, sample in window).
 */
#ifndef AFX_CONVERT_H
#define AFX_CONVERT_H

#include "../common/rng.h"

/** Mean of the ch interleaved int16 values at x, each as v / 32768 (before input_scale). */
AFX_HD float afx_downmix_s16(const int16_t *x, int ch) {
    double acc = 0.0;
    for (int c = 0; c < ch; c++) acc += (double)x[c] / 32768.0;
    return (float)(acc / ch);
}

/** Mean of the ch interleaved float values at x (before input_scale). */
AFX_HD float afx_downmix_f32(const float *x, int ch) {
    double acc = 0.0;
    for (int c = 0; c < ch; c++) acc += (double)x[c];
    return (float)(acc / ch);
}

/** Sample k of frame t of clip `clip` after Kaldi dither (dither > 0). */
AFX_HD float afx_dither_sample(float v, float dither, uint64_t seed, uint64_t clip, uint64_t t, uint64_t k) {
    return v + dither * (float)afx_rng_gauss(seed ^ AFX_RNG_DOMAIN_DITHER, clip, t, k);
}

#endif /* AFX_CONVERT_H */
