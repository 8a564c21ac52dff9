/*
 * log.h: log and decibel conversions, per element, and the per-clip top_db floor.
 *
 * dB follows librosa.power_to_db (librosa/core/spectrum.py): mult*log10(max(amin, x)) -
 * mult*log10(max(amin, ref)), then max(x, clip_max - top_db). The max is taken per clip over its valid
 * frames only, never across a batch (torchaudio's AmplitudeToDB takes it over the whole batch tensor).
 * The same floor in log units (log_range) is Whisper's max(log_spec, log_spec.max() - 8.0) on log10.
 * Every floor is written `x < floor ? floor : x`, so that a NaN passes through (numpy's maximum and
 * torch.clamp propagate NaN too) instead of silently becoming the floor: a non-finite feature must reach
 * the backends' final check and get its clip refused (afx.h, afx_plan_execute).
 */
#ifndef AFX_LOG_H
#define AFX_LOG_H

#include "../common/afx_hd.h"

enum { AFX_LB_LN = 0, AFX_LB_LOG10 = 1, AFX_LB_DB = 2 };

/** log(max(x + offset, floor)) in base e or 10. */
AFX_HD float afx_log_value(float x, float offset, float floor_, int base) {
    float v = x + offset;
    v = v < floor_ ? floor_ : v;  /* NaN stays NaN */
    return base == AFX_LB_LOG10 ? log10f(v) : logf(v);
}

/** The constant subtracted by dB conversion: mult * log10(max(amin, ref)). */
AFX_HD float afx_db_ref_term(float mult, float amin, float ref) {
    return mult * log10f(ref > amin ? ref : amin);
}

AFX_HD float afx_db_value(float x, float mult, float amin, float ref_term) {
    return mult * log10f(x < amin ? amin : x) - ref_term;  /* NaN stays NaN */
}

/** top_db floor: max(x, clip_max - top_db). */
AFX_HD float afx_top_db_floor(float x, float clip_max, float top_db) {
    float lo = clip_max - top_db;
    return x < lo ? lo : x;  /* NaN stays NaN */
}

/** The output affine map y*scale + bias (Whisper's (x + 4) / 4 is scale 0.25, bias 1). */
AFX_HD float afx_affine(float x, float scale, float bias) { return x * scale + bias; }

#endif /* AFX_LOG_H */
