/*
 * norm.h: per-clip normalization applied element-wise once the statistics are known.
 * Statistics are over a clip's valid frames only (never padded frames); variance is the population
 * variance, as Kaldi's apply-cmvn and numpy's std use, or with norm_unbiased the sample variance
 * (n - 1), as torch.std's default (correction=1) uses.
 */
#ifndef AFX_NORM_H
#define AFX_NORM_H

#include "../common/afx_hd.h"

/** 1 / sqrt(var + eps), or 1 when only the mean is removed. */
AFX_HD double afx_norm_inv_std(double var, double eps, int norm_vars) {
    if (!norm_vars) return 1.0;
    double d = var + eps;
    return d > 0.0 ? 1.0 / sqrt(d) : 1.0;
}

/** Variance from the sum of squared deviations of n values: / n, or / (n - 1) when unbiased (0 for n <= 1). */
AFX_HD double afx_norm_variance(double sum_sq_dev, double n, int unbiased) {
    if (unbiased) return n > 1.0 ? sum_sq_dev / (n - 1.0) : 0.0;
    return n > 0.0 ? sum_sq_dev / n : 0.0;
}

AFX_HD float afx_norm_apply(float x, double mean, double inv_std) { return (float)(((double)x - mean) * inv_std); }

/** (x - lo) / (hi - lo), 0 when hi == lo. A non-finite x gives NaN (x - x) rather than 0, so that it is
 *  never hidden and the clip is refused by the backends' final check. */
AFX_HD float afx_minmax_apply(float x, double lo, double hi) {
    return hi > lo ? (float)(((double)x - lo) / (hi - lo)) : x - x;
}

#endif /* AFX_NORM_H */
