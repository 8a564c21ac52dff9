/*
 * resample.c: libsoxr with the SOXR_HQ recipe, reproducing librosa.resample(res_type="soxr_hq").
 *
 * Sources read (librosa 0.11.0 wheel, python-soxr 1.1.0 sdist, which vendors libsoxr 0.1.3):
 *   1. librosa.resample: n_samples = int(np.ceil(n * float(target) / orig)) (librosa/core/audio.py
 *      lines 633-635), y_hat = soxr.resample(y, orig, target, quality="soxr_hq"), then
 *      util.fix_length(y_hat, size=n_samples) (line 681), which zero-pads or trims the end (mode
 *      "constant", librosa/util/utils.py line 563).
 *   2. python-soxr (dofuuz/python-soxr, src/soxr_ext.cpp lines 210-273, csoxr_divide_proc, and
 *      lines 277-359, csoxr_split_ch, which src/soxr/__init__.py lines 211-222 picks for 1-D input;
 *      both make the same libsoxr calls) does:
 *        soxr_create(in, out, channels, io_spec(FLOAT32, FLOAT32), quality_spec(SOXR_HQ, 0), NULL)
 *        olen    = (size_t)(ilen * out_rate / in_rate + 1)          (output capacity, frames)
 *        div_len = (size_t)max(1000., 48000 * in_rate / out_rate)   (input chunk, frames)
 *        soxr_process(div_len input frames at a time) until the input is consumed, then one
 *        soxr_process(NULL, 0) that flushes; the result has as many frames as libsoxr produced.
 *      libsoxr's flush emits (int64_t)(n_in / io_ratio + .5) frames in all, i.e. n * out / in
 *      rounded half up (libsoxr/src/cr.c lines 541-547, _soxr_flush), so the raw python-soxr
 *      length can be one short of ceil(); librosa's fix_length then appends a zero.
 *
 * Streaming. libsoxr's output does not depend on how the input is split across soxr_process calls
 * nor on the output room offered per call: every stage consumes its FIFO in blocks fixed by the
 * stream position (libsoxr 0.1.3 src/cr.c, _soxr_process and the dft/poly stage functions), so the
 * same input gives the same samples bit for bit. The loaders therefore feed decoded blocks as they
 * come (tests/test_audio_stream.cpp compares them with python-soxr's exact call sequence, and the
 * conformance suite with librosa itself). Within one call at most div_len frames go in at a time,
 * as python-soxr does.
 *
 * Reuse. soxr_clear (libsoxr 0.1.3 src/soxr.c) frees the resampler's stages and sets them up again
 * for the same rates and channels: the next clip starts from the same state as after soxr_create
 * (same samples), without the create/delete pair. It measured as fast as soxr_create (about 70 us
 * for 44.1 -> 16 kHz here), so it saves allocations, not filter design.
 */
#include "audio_internal.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RESAMPLE_NAME "afx_audio_resample"

const char *afx_resampler_begin(afx_resampler *rs, int in_rate, int out_rate, int channels)
{
    if (rs->soxr && rs->in_rate == in_rate && rs->out_rate == out_rate && rs->channels == (unsigned)channels) {
        const char *e = rs->used ? soxr_clear(rs->soxr) : NULL;
        rs->used = 0;
        if (!e) return NULL;
    }
    afx_resampler_free(rs);
    soxr_error_t e = NULL;
    const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    const soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    rs->soxr = soxr_create((double)in_rate, (double)out_rate, (unsigned)channels, &e, &io, &q, NULL);
    if (e) {
        afx_resampler_free(rs);
        return e;
    }
    rs->in_rate = in_rate;
    rs->out_rate = out_rate;
    rs->channels = (unsigned)channels;
    rs->used = 0;
    return NULL;
}

/* One soxr_process call. libsoxr 0.1.3 narrows the output length to int internally (cr.c
 * _soxr_output), so never offer it more than INT_MAX frames at once. */
static soxr_error_t step(soxr_t s, const float *in, size_t ilen, float *out, size_t ospace, size_t *odone)
{
    const size_t olen = ospace > (size_t)INT_MAX ? (size_t)INT_MAX : ospace;
    *odone = 0;
    return soxr_process(s, in, ilen, NULL, out, olen, odone);
}

const char *afx_resampler_push(afx_resampler *rs, const float *in, size_t n, float *out, size_t room, size_t *pos)
{
    const size_t ch = rs->channels;
    /* libsoxr may write up to cap; it reads (never writes) up to AFX_RESAMPLE_SPARE_FRAMES frames further */
    const size_t cap = room > AFX_RESAMPLE_SPARE_FRAMES ? room - AFX_RESAMPLE_SPARE_FRAMES : 0;
    if (*pos > cap) return "output buffer too small";
    size_t odone = 0;
    soxr_error_t e = NULL;
    rs->used = 1;
    if (n > 0) {
        const size_t div_len = (size_t)fmax(1000., 48000. * rs->in_rate / rs->out_rate);
        for (size_t idx = 0; idx < n && !e; idx += div_len) {
            const size_t len = n - idx < div_len ? n - idx : div_len;
            e = step(rs->soxr, in + idx * ch, len, out + *pos * ch, cap - *pos, &odone);
            *pos += odone;
        }
        return e;
    }
    /* python-soxr flushes with one call; one call drains everything unless the INT_MAX cap in step
     * bit, so repeat until libsoxr has nothing more (a no-op in the usual case). */
    do {
        e = step(rs->soxr, NULL, 0, out + *pos * ch, cap - *pos, &odone);
        *pos += odone;
    } while (!e && odone > 0 && *pos < cap);
    return e;
}

void afx_resampler_free(afx_resampler *rs)
{
    soxr_delete(rs->soxr); /* NULL-safe */
    memset(rs, 0, sizeof *rs);
}

size_t afx_resample_capacity(int64_t n, int in_rate, int out_rate, int64_t final_length)
{
    /* python-soxr's capacity, computed as it does (double, truncated), plus room for fix_length and the
     * spare frames libsoxr reads past its output (saturating: an impossible size fails to allocate) */
    const double py = (double)n * (double)out_rate / (double)in_rate + 1.0;
    const size_t cap_py = py >= (double)(SIZE_MAX - AFX_RESAMPLE_SPARE_FRAMES) ? SIZE_MAX - AFX_RESAMPLE_SPARE_FRAMES
                                                                                : (size_t)py;
    return (cap_py > (size_t)final_length ? cap_py : (size_t)final_length) + AFX_RESAMPLE_SPARE_FRAMES;
}

AFX_API afx_status afx_audio_resample(const float *in, int64_t n_samples, int n_channels, int in_rate,
                                      int out_rate, float **out, int64_t *out_samples, char *err,
                                      size_t err_size)
{
    if (out) *out = NULL;
    if (out_samples) *out_samples = 0;
    if (!out || !out_samples || (!in && n_samples > 0)) {
        afx_audio_err(err, err_size, RESAMPLE_NAME ": %s is NULL",
                      !out ? "out" : !out_samples ? "out_samples" : "in");
        return AFX_ERR_NULL_ARGUMENT;
    }
    if (n_samples < 0 || n_channels < 1 || n_channels > 65536) {
        afx_audio_err(err, err_size, RESAMPLE_NAME ": n_samples = %lld, n_channels = %d: need n_samples >= 0 "
                      "and 1 <= n_channels <= 65536", (long long)n_samples, n_channels);
        return AFX_ERR_INVALID_INPUT;
    }
    if (in_rate < 1 || out_rate < 1) {
        afx_audio_err(err, err_size, RESAMPLE_NAME ": in_rate = %d, out_rate = %d: rates must be positive",
                      in_rate, out_rate);
        return AFX_ERR_INVALID_PARAM;
    }
    int64_t target = 0;
    size_t bytes = 0;
    if (in_rate == out_rate) { /* a copy, as librosa.resample returns y unchanged */
        if (n_samples == 0) return AFX_OK;
        if (!afx_audio_bytes_for((size_t)n_samples, (size_t)n_channels, sizeof(float), &bytes) ||
            !(*out = malloc(bytes)))
            return afx_audio_oom(RESAMPLE_NAME, err, err_size);
        memcpy(*out, in, bytes);
        *out_samples = n_samples;
        return AFX_OK;
    }
    if (!afx_audio_ceil_scaled(n_samples, out_rate, in_rate, &target)) return afx_audio_oom(RESAMPLE_NAME, err, err_size);
    if (n_samples == 0 || target == 0) return AFX_OK;
    const size_t cap = afx_resample_capacity(n_samples, in_rate, out_rate, target);
    float *buf = NULL;
    if (!afx_audio_bytes_for(cap, (size_t)n_channels, sizeof(float), &bytes) ||
        !(buf = calloc(cap, (size_t)n_channels * sizeof(float)))) /* zeros = fix_length's padding */
        return afx_audio_oom(RESAMPLE_NAME, err, err_size);
    afx_resampler rs;
    memset(&rs, 0, sizeof rs);
    size_t pos = 0;
    const char *e = afx_resampler_begin(&rs, in_rate, out_rate, n_channels);
    if (!e) e = afx_resampler_push(&rs, in, (size_t)n_samples, buf, cap, &pos);
    if (!e) e = afx_resampler_push(&rs, NULL, 0, buf, cap, &pos);
    afx_resampler_free(&rs);
    if (e) {
        free(buf);
        afx_audio_err(err, err_size, RESAMPLE_NAME ": resampling %d Hz -> %d Hz failed: libsoxr: %s", in_rate,
                      out_rate, e);
        return AFX_ERR_RESAMPLE;
    }
    /* Frames past `target` (libsoxr rounding up) are trimmed, as fix_length does, and the spare frames
     * with them; a failed shrink keeps the larger, valid block. */
    float *shrunk = realloc(buf, (size_t)target * (size_t)n_channels * sizeof(float));
    if (shrunk) buf = shrunk;
    *out = buf;
    *out_samples = target;
    return AFX_OK;
}
