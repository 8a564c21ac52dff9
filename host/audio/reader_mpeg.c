/*
 * reader_mpeg.c: frames from MPEG audio (MP1/MP2/MP3) through libmpg123, in its quiet mode.
 *
 * libsndfile decodes MPEG with the same library but never sets MPG123_QUIET, so libmpg123 prints
 * "[src/libmpg123/layer3.c:...] error: dequantization failed!" and the like on stderr for corrupt
 * frames; a library must not. This file makes libsndfile's calls (libsndfile 1.2.0
 * src/mpeg_decode.c: mpeg_decoder_init, mpeg_dec_fill_sfinfo, mpeg_dec_decode, mpeg_dec_seek) plus
 * MPG123_QUIET, which changes no sample, so the samples equal libsndfile's (soundfile's, librosa's):
 *   - flags: remove MPG123_AUTO_RESAMPLE, add MPG123_FORCE_FLOAT | MPG123_GAPLESS, and
 *     MPG123_NO_FRANKENSTEIN (API >= 45); the whole stream is read from byte 0 (libmpg123 skips the
 *     ID3v2 tag itself), output forced to float32 at the stream's rate and channels;
 *   - length: mpg123_length, and when it does not know, mpg123_scan then mpg123_length;
 *   - reading never returns more than that length (libsndfile's sf_readf_float caps read_current at
 *     sf.frames), and seeking is mpg123_seek(frame, SEEK_SET).
 * tests/conformance/test_load_window.py checks the samples against soundfile on the example MP3.
 */
#define _POSIX_C_SOURCE 200809L /* pthread, ssize_t */

#include "audio_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

/* mpg123_init is process-wide setup: once (a no-op in recent libmpg123, required by older ones). */
static pthread_once_t g_init_once = PTHREAD_ONCE_INIT;
static int g_init_status = MPG123_ERR;
static void init_once(void) { g_init_status = mpg123_init(); }

static mpg123_ssize_t io_read(void *user, void *buf, size_t n)
{
    const int64_t got = afx_source_read(user, buf, (int64_t)n);
    return (mpg123_ssize_t)got;
}

static off_t io_lseek(void *user, off_t offset, int whence) { return (off_t)afx_source_seek(user, offset, whence); }

static const char *layer_name(int layer) { return layer == 1 ? "layer I" : layer == 2 ? "layer II" : "layer III"; }

afx_status afx_mpeg_open(afx_reader *r, afx_source *src, mpg123_handle **mh_cache, char *err, size_t err_size)
{
    int e = MPG123_OK;
    r->mh_cache = mh_cache;
    (void)pthread_once(&g_init_once, init_once);
    if (g_init_status != MPG123_OK) {
        afx_audio_err(err, err_size, "%s: cannot decode: libmpg123 failed to initialize", src->name);
        return AFX_ERR_INTERNAL;
    }
    if (mh_cache && *mh_cache) {
        r->mh = *mh_cache; /* flags stay set on a handle between streams */
        *mh_cache = NULL;
    } else {
        r->mh = mpg123_new(NULL, &e);
        if (!r->mh) return afx_audio_oom(src->name, err, err_size);
        long flags_on = MPG123_FORCE_FLOAT | MPG123_GAPLESS | MPG123_QUIET;
#if MPG123_API_VERSION >= 45
        flags_on |= MPG123_NO_FRANKENSTEIN;
#endif
        if (mpg123_param(r->mh, MPG123_REMOVE_FLAGS, MPG123_AUTO_RESAMPLE, 0.0) != MPG123_OK ||
            mpg123_param(r->mh, MPG123_ADD_FLAGS, flags_on, 0.0) != MPG123_OK ||
            mpg123_replace_reader_handle(r->mh, io_read, io_lseek, NULL) != MPG123_OK) {
            afx_audio_err(err, err_size, "%s: cannot decode: libmpg123 setup failed: %s", src->name,
                          mpg123_strerror(r->mh));
            mpg123_delete(r->mh);
            r->mh = NULL;
            return AFX_ERR_INTERNAL;
        }
    }
    (void)afx_source_seek(src, 0, SEEK_SET);
    long rate = 0;
    int channels = 0, encoding = 0;
    struct mpg123_frameinfo fi;
    const char *step = "open";
    if ((e = mpg123_open_handle(r->mh, src)) == MPG123_OK) {
        step = "read the first frame";
        e = mpg123_getformat(r->mh, &rate, &channels, &encoding);
    }
    if (e == MPG123_OK) {
        off_t length = mpg123_length(r->mh);
        if (length <= 0) {
            step = "scan";
            e = mpg123_scan(r->mh);
            length = mpg123_length(r->mh);
        }
        r->frames = length >= 0 ? (int64_t)length : -1;
    }
    if (e == MPG123_OK && encoding != MPG123_ENC_FLOAT_32) {
        step = "select float output";
        e = mpg123_format(r->mh, rate, channels, MPG123_ENC_FLOAT_32);
    }
    if (e == MPG123_OK) {
        step = "read the frame info";
        e = mpg123_info(r->mh, &fi);
    }
    if (e != MPG123_OK || rate < 1 || rate > INT32_MAX || channels < 1 || fi.layer < 1 || fi.layer > 3) {
        afx_audio_err(err, err_size, "%s: cannot decode: MPEG audio: libmpg123 could not %s: %s", src->name, step,
                      e != MPG123_OK ? mpg123_plain_strerror(e) : "invalid stream parameters");
        afx_mpeg_close(r);
        const afx_status io = afx_source_check_io(src, err, err_size);
        return io != AFX_OK ? io : AFX_ERR_DECODE;
    }
    r->rate = (int)rate;
    r->channels = channels;
    r->pcm16 = 0;
    r->mpeg_pos = 0;
    r->mpeg_error = MPG123_OK;
    snprintf(r->format, sizeof r->format, "MPEG-%s audio %s",
             fi.version == MPG123_1_0 ? "1" : fi.version == MPG123_2_0 ? "2" : "2.5", layer_name(fi.layer));
    return AFX_OK;
}

int64_t afx_mpeg_read_f32(afx_reader *r, float *buf, int64_t n)
{
    int64_t total = 0;
    if (r->frames >= 0 && n > r->frames - r->mpeg_pos) n = r->frames - r->mpeg_pos; /* libsndfile's cap */
    const size_t frame_bytes = (size_t)r->channels * sizeof(float);
    while (total < n && r->mpeg_error == MPG123_OK) {
        size_t done = 0;
        const int e = mpg123_read(r->mh, (unsigned char *)(buf + total * r->channels),
                                  (size_t)(n - total) * frame_bytes, &done);
        total += (int64_t)(done / frame_bytes);
        if (e == MPG123_DONE || (e == MPG123_OK && done == 0)) break;
        if (e != MPG123_OK) r->mpeg_error = e; /* MPG123_NEW_FORMAT included: libsndfile fails it too */
    }
    r->mpeg_pos += total;
    return total;
}

int afx_mpeg_seek(afx_reader *r, int64_t frame)
{
    const off_t at = mpg123_seek(r->mh, (off_t)frame, SEEK_SET);
    if (at < 0 || (int64_t)at != frame) return -1;
    r->mpeg_pos = frame;
    return 0;
}

afx_status afx_mpeg_check_end(afx_reader *r, int64_t end, int to_end, char *err, size_t err_size)
{
    if (r->mpeg_error != MPG123_OK) {
        afx_audio_err(err, err_size, "%s: truncated or corrupt: decoding stopped at frame %lld: libmpg123: %s",
                      r->src->name, (long long)end, mpg123_plain_strerror(r->mpeg_error));
        return AFX_ERR_DECODE;
    }
    if (to_end && r->frames >= 0 && end < r->frames) {
        afx_audio_err(err, err_size, "%s: truncated: %lld of the %lld frames in its header could be decoded",
                      r->src->name, (long long)end, (long long)r->frames);
        return AFX_ERR_DECODE;
    }
    return AFX_OK;
}

void afx_mpeg_close(afx_reader *r)
{
    if (!r->mh) return;
    mpg123_close(r->mh);
    if (r->mh_cache && !*r->mh_cache)
        *r->mh_cache = r->mh;
    else
        mpg123_delete(r->mh);
    r->mh = NULL;
}
