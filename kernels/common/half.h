/*
 * half.h: float32 -> IEEE binary16 and bfloat16 bit patterns, round to nearest even, for the optional
 * 16-bit output (afx_params.output_dtype). Shared by the CPU backend and the CUDA output kernels so that
 * both round every value the same way. NaN stays NaN (quiet), overflow becomes infinity, and halves
 * below the normal range become subnormals or signed zero, as cuda_fp16.h's __float2half_rn does.
 * afx_fits_dtype tells which values stay finite (the backends refuse a clip whose features do not).
 */
#ifndef AFX_HALF_H
#define AFX_HALF_H

#include "afx_hd.h"

AFX_HD uint32_t afx_f32_bits(float x) {
    union { float f; uint32_t u; } v;
    v.f = x;
    return v.u;
}

/** bfloat16: the upper 16 bits after rounding the lower 16 to nearest even. */
AFX_HD uint16_t afx_f32_to_bf16(float x) {
    uint32_t u = afx_f32_bits(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* |x| (float32 bits, sign cleared) from which each output dtype holds only infinity after rounding to
 * nearest even: float16 from 65520 (half an ulp above its largest value 65504), bfloat16 from 0x7f7f8000
 * (about 3.3961e38, half an ulp above 0x7f7f), float32 from its infinity. */
#define AFX_F16_INF_FROM 0x477ff000u
#define AFX_BF16_INF_FROM 0x7f7f8000u
#define AFX_F32_INF_FROM 0x7f800000u

/** IEEE binary16 with round to nearest even (normal, subnormal, overflow to inf, NaN). */
AFX_HD uint16_t afx_f32_to_f16(float x) {
    uint32_t u = afx_f32_bits(x);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);                /* NaN */
    if (a >= AFX_F16_INF_FROM) return (uint16_t)(sign | 0x7c00u);          /* >= 65520: inf */
    if (a < 0x38800000u) {                                                  /* below 2^-14: subnormal */
        if (a < 0x33000000u) return sign;                                   /* below 2^-25: zero */
        uint32_t e = a >> 23, m = (a & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126u - e;                                          /* 14..24 */
        uint32_t h = m >> shift, rem = m & ((1u << shift) - 1u), halfway = 1u << (shift - 1u);
        if (rem > halfway || (rem == halfway && (h & 1u))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((a - 0x38000000u) >> 13);                                 /* rebias exponent 127 -> 15 */
    uint32_t rem = a & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;
    return (uint16_t)(sign | h);
}

/** The AFX_*_INF_FROM limit of output dtype `dtype` (the values of afx_dtype: 0 float32, 1 float16, 2 bfloat16). */
AFX_HD uint32_t afx_dtype_inf_from(int dtype) {
    return dtype == 1 ? AFX_F16_INF_FROM : dtype == 2 ? AFX_BF16_INF_FROM : AFX_F32_INF_FROM;
}

/**
 * 1 when x converts to a finite value of output dtype `dtype`: not NaN or Inf, and below the magnitude
 * that the conversions above round to infinity. The non-finite features rule uses it, so a value that
 * would be written as Inf is refused.
 */
AFX_HD int afx_fits_dtype(float x, int dtype) { return (afx_f32_bits(x) & 0x7fffffffu) < afx_dtype_inf_from(dtype); }

#endif /* AFX_HALF_H */
