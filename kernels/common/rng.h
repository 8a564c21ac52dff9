/*
 * rng.h: counter-based random numbers. A value is a pure function of (seed, a, b, c), so the CPU and
 * a CUDA thread draw exactly the same numbers for the same key, in any order, with no state.
 *
 * The mixing function is SplitMix64's finalizer (Steele, Lea, Flood, "Fast splittable pseudorandom
 * number generators", OOPSLA 2014), applied once per key word. It is not cryptographic; it passes
 * BigCrush as a counter-mode generator, which is plenty for dither noise and mask positions.
 */
#ifndef AFX_RNG_H
#define AFX_RNG_H

#include "afx_hd.h"

/* Domains keep the streams of different uses apart for the same user seed. */
#define AFX_RNG_DOMAIN_DITHER 0x6469746865720000ull /* "dither" */
#define AFX_RNG_DOMAIN_TMASK 0x746d61736b000000ull  /* "tmask" */
#define AFX_RNG_DOMAIN_FMASK 0x666d61736b000000ull  /* "fmask" */

AFX_HD uint64_t afx_mix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/** 64 random bits keyed by (seed, a, b, c). */
AFX_HD uint64_t afx_rng_u64(uint64_t seed, uint64_t a, uint64_t b, uint64_t c) {
    return afx_mix64(afx_mix64(afx_mix64(afx_mix64(seed) ^ a) ^ b) ^ c);
}

/** Uniform double in [0, 1) from the top 53 bits. */
AFX_HD double afx_rng_uniform(uint64_t bits) { return (double)(bits >> 11) * (1.0 / 9007199254740992.0); }

/** Standard normal by Box-Muller from two independent draws; one value per key. */
AFX_HD double afx_rng_gauss(uint64_t seed, uint64_t a, uint64_t b, uint64_t c) {
    double u1 = 1.0 - afx_rng_uniform(afx_rng_u64(seed, a, b, 2 * c));     /* (0, 1] so log is finite */
    double u2 = afx_rng_uniform(afx_rng_u64(seed, a, b, 2 * c + 1));
    return sqrt(-2.0 * log(u1)) * cos(2.0 * AFX_PI * u2);
}

/** Uniform integer in [0, n] (n >= 0). */
AFX_HD int64_t afx_rng_int_inclusive(uint64_t bits, int64_t n) {
    int64_t v = (int64_t)(afx_rng_uniform(bits) * (double)(n + 1));
    return v > n ? n : v;
}

#endif /* AFX_RNG_H */
