/*
 * mask.h: SpecAugment mask draws (Park et al. 2019), from the counter-based generator in rng.h.
 *
 * Mask m of a clip is a pure function of (mask_seed, global clip index, kind, m): the same on CPU and
 * GPU, independent of batch composition. Width is uniform in [0, min(param, len)], start uniform in
 * [0, len - width], as torchaudio.functional.mask_along_axis draws them (up to its float rounding).
 */
#ifndef AFX_MASK_H
#define AFX_MASK_H

#include "../common/rng.h"

enum { AFX_MASK_KIND_TIME = 0, AFX_MASK_KIND_FREQ = 1 };

/** Draws mask m of `kind` for a clip; len is the masked axis' length (frames or features). */
AFX_HD void afx_mask_draw(uint64_t seed, uint64_t clip, int kind, int m, int param, int64_t len,
                          int64_t *start, int64_t *width) {
    uint64_t domain = kind == AFX_MASK_KIND_TIME ? AFX_RNG_DOMAIN_TMASK : AFX_RNG_DOMAIN_FMASK;
    int64_t max_w = (int64_t)param < len ? (int64_t)param : len;
    if (max_w < 0) max_w = 0;
    int64_t w = afx_rng_int_inclusive(afx_rng_u64(seed, domain ^ clip, (uint64_t)m, 0), max_w);
    int64_t s = afx_rng_int_inclusive(afx_rng_u64(seed, domain ^ clip, (uint64_t)m, 1), len - w);
    *start = s;
    *width = w;
}

#endif /* AFX_MASK_H */
