/*
 * audio.c: the audio input module (include/afx_audio.h).
 *
 * Decoding goes through libsndfile (files with sf_open, memory with sf_open_virtual), resampling
 * through libsoxr with the SOXR_HQ recipe, reproducing librosa.load(sr=..., mono=True,
 * res_type="soxr_hq"). Sources read (librosa 0.11.0 wheel, python-soxr 1.1.0 sdist, which vendors
 * libsoxr 0.1.3):
 *
 *   1. librosa reads with soundfile as float32, so samples are libsndfile's normalized floats
 *      (librosa/librosa, librosa/core/audio.py lines 201-224, __soundfile_load).
 *   2. to_mono averages the channels in float32 (same file, line 508: np.mean over axis 0).
 *   3. resample: n_samples = int(np.ceil(n * float(target) / orig)) (lines 633-635), y_hat =
 *      soxr.resample(y, orig, target, quality="soxr_hq"), then util.fix_length(y_hat,
 *      size=n_samples) (line 681), which zero-pads or trims the end (mode "constant",
 *      librosa/util/utils.py line 563).
 *   4. python-soxr (dofuuz/python-soxr, src/soxr_ext.cpp lines 210-273, csoxr_divide_proc, and
 *      lines 277-359, csoxr_split_ch, which src/soxr/__init__.py lines 211-222 picks for 1-D
 *      input; both make the same libsoxr calls) does:
 *        soxr_create(in, out, channels, io_spec(FLOAT32, FLOAT32), quality_spec(SOXR_HQ, 0), NULL)
 *        olen    = (size_t)(ilen * out_rate / in_rate + 1)          (output capacity, frames)
 *        div_len = (size_t)max(1000., 48000 * in_rate / out_rate)   (input chunk, frames)
 *        soxr_process(div_len input frames at a time) until the input is consumed, then one
 *        soxr_process(NULL, 0) that flushes; the result has as many frames as libsoxr produced.
 *      libsoxr's flush emits (int64_t)(n_in / io_ratio + .5) frames in all, i.e. n * out / in
 *      rounded half up (libsoxr/src/cr.c lines 541-547, _soxr_flush), so the raw python-soxr
 *      length can be one short of ceil(); librosa's fix_length then appends a zero.
 * This file makes the same libsoxr calls on the same chunks, then applies fix_length's rule; on the
 * examples/audio clips the result is bit-identical to librosa's pipeline run on the same decode.
 */
#define _POSIX_C_SOURCE 200809L /* strerror_r (XSI), pthread */

#include "afx_audio.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sndfile.h>
#include <soxr.h>

#if defined(__GNUC__)
#define AFX_PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define AFX_PRINTF_LIKE(f, a)
#endif

enum {
    RATE_MIN = 1000,         /* afx_audio_options.target_rate range */
    RATE_MAX = 1000000,
    CHANNELS_MAX = 65536,    /* python-soxr's _CH_LIMIT: libsoxr allocates per channel */
    READ_CHUNK = 65536,      /* frames per sf_readf_float call */
    PREALLOC_MAX = 1 << 24   /* never trust a header for more than this many frames up front */
};

#define MEMORY_NAME "<memory>"
#define RESAMPLE_NAME "afx_audio_resample"

/* ---------------------------------------------------------------------------------------------- */
/* Messages and size arithmetic                                                                   */
/* ---------------------------------------------------------------------------------------------- */

static void set_err(char *err, size_t err_size, const char *fmt, ...) AFX_PRINTF_LIKE(3, 4);

static void set_err(char *err, size_t err_size, const char *fmt, ...)
{
    if (!err || err_size == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
}

/* strerror is not thread-safe; the XSI strerror_r is. */
static void errno_text(int code, char *buf, size_t size)
{
    if (strerror_r(code, buf, size) != 0) snprintf(buf, size, "error %d", code);
}

/* a * b * elem bytes, refusing anything a pointer difference could not hold. */
static int bytes_for(size_t a, size_t b, size_t elem, size_t *out)
{
    const size_t limit = (size_t)PTRDIFF_MAX;
    if (a != 0 && b > limit / a) return 0;
    if (a * b != 0 && elem > limit / (a * b)) return 0;
    *out = a * b * elem;
    return 1;
}

/* Exact ceil(n * num / den) for n >= 0, num, den > 0; 0 on int64 overflow. */
static int ceil_scaled(int64_t n, int num, int den, int64_t *out)
{
    const int64_t q = n / den, r = n % den; /* r * num < den * num < 2^62 */
    if (q > (INT64_MAX - num) / num) return 0;
    *out = q * num + (r * num + den - 1) / den;
    return 1;
}

static afx_status out_of_memory(const char *name, char *err, size_t err_size)
{
    set_err(err, err_size, "%s: out of memory", name);
    return AFX_ERR_OUT_OF_MEMORY;
}

/* ---------------------------------------------------------------------------------------------- */
/* Resampling (libsoxr, the python-soxr recipe: see the top of this file)                         */
/* ---------------------------------------------------------------------------------------------- */

/* One soxr_process call. libsoxr 0.1.3 narrows the output length to int internally (cr.c
 * _soxr_output), so never offer it more than INT_MAX frames at once. */
static soxr_error_t soxr_step(soxr_t s, const float *in, size_t ilen, float *out, size_t ospace,
                              size_t *odone)
{
    const size_t olen = ospace > (size_t)INT_MAX ? (size_t)INT_MAX : ospace;
    *odone = 0;
    return soxr_process(s, in, ilen, NULL, out, olen, odone);
}

/* Feeds all input in python-soxr's chunks and flushes; *produced gets the frames libsoxr made. */
static soxr_error_t soxr_feed(soxr_t s, const float *in, size_t n, unsigned ch, double in_rate,
                              double out_rate, float *out, size_t cap, size_t *produced)
{
    const size_t div_len = (size_t)fmax(1000., 48000. * in_rate / out_rate);
    size_t pos = 0, odone = 0;
    soxr_error_t e = NULL;
    for (size_t idx = 0; idx < n && !e; idx += div_len) {
        const size_t len = n - idx < div_len ? n - idx : div_len;
        e = soxr_step(s, in + idx * ch, len, out + pos * ch, cap - pos, &odone);
        pos += odone;
    }
    /* python-soxr flushes with one call; one call drains everything unless the INT_MAX cap in
     * soxr_step bit, so repeat until libsoxr has nothing more (a no-op in the usual case). */
    do {
        if (e) break;
        e = soxr_step(s, NULL, 0, out + pos * ch, cap - pos, &odone);
        pos += odone;
    } while (odone > 0 && pos < cap);
    *produced = pos;
    return e;
}

/*
 * Resamples n interleaved frames into a new buffer of exactly n_out = ceil(n * out / in) frames
 * (librosa's fix_length: zeros appended when libsoxr's rounded length falls short).
 */
static afx_status resample_frames(const float *in, int64_t n, int ch, int in_rate, int out_rate,
                                  const char *name, float **out, int64_t *n_out, char *err,
                                  size_t err_size)
{
    int64_t target = 0;
    size_t cap_bytes = 0;
    *out = NULL;
    *n_out = 0;
    if (!ceil_scaled(n, out_rate, in_rate, &target)) return out_of_memory(name, err, err_size);
    if (n == 0 || target == 0) return AFX_OK;

    /* python-soxr's capacity, computed as it does (double, truncated), plus room for fix_length */
    const size_t cap_py = (size_t)((double)n * (double)out_rate / (double)in_rate) + 1;
    const size_t cap = cap_py > (size_t)target ? cap_py : (size_t)target;
    if (!bytes_for(cap, (size_t)ch, sizeof(float), &cap_bytes)) return out_of_memory(name, err, err_size);
    float *buf = calloc(cap, (size_t)ch * sizeof(float)); /* zeros = fix_length's padding */
    if (!buf) return out_of_memory(name, err, err_size);

    soxr_error_t e = NULL;
    const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    const soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    soxr_t s = soxr_create((double)in_rate, (double)out_rate, (unsigned)ch, &e, &io, &q, NULL);
    size_t produced = 0;
    if (!e) e = soxr_feed(s, in, (size_t)n, (unsigned)ch, in_rate, out_rate, buf, cap, &produced);
    soxr_delete(s); /* NULL-safe */
    if (e) {
        free(buf);
        set_err(err, err_size, "%s: resampling %d Hz -> %d Hz failed: libsoxr: %s", name, in_rate,
                out_rate, e);
        return AFX_ERR_RESAMPLE;
    }
    /* Frames past `target` (libsoxr rounding up) are trimmed, as fix_length does. */
    if (cap > (size_t)target) {
        float *shrunk = realloc(buf, (size_t)target * (size_t)ch * sizeof(float));
        if (shrunk) buf = shrunk; /* a failed shrink keeps the larger, valid block */
    }
    *out = buf;
    *n_out = target;
    return AFX_OK;
}

/* Same-rate "resampling" is a copy, as librosa.resample returns y unchanged. */
static afx_status copy_frames(const float *in, int64_t n, int ch, const char *name, float **out,
                              char *err, size_t err_size)
{
    size_t bytes = 0;
    *out = NULL;
    if (n == 0) return AFX_OK;
    if (!bytes_for((size_t)n, (size_t)ch, sizeof(float), &bytes)) return out_of_memory(name, err, err_size);
    *out = malloc(bytes);
    if (!*out) return out_of_memory(name, err, err_size);
    memcpy(*out, in, bytes);
    return AFX_OK;
}

AFX_API afx_status afx_audio_resample(const float *in, int64_t n_samples, int n_channels, int in_rate,
                                      int out_rate, float **out, int64_t *out_samples, char *err,
                                      size_t err_size)
{
    if (out) *out = NULL;
    if (out_samples) *out_samples = 0;
    if (!out || !out_samples || (!in && n_samples > 0)) {
        set_err(err, err_size, RESAMPLE_NAME ": %s is NULL", !out ? "out" : !out_samples ? "out_samples" : "in");
        return AFX_ERR_NULL_ARGUMENT;
    }
    if (n_samples < 0 || n_channels < 1 || n_channels > CHANNELS_MAX) {
        set_err(err, err_size, RESAMPLE_NAME ": n_samples = %lld, n_channels = %d: need n_samples >= 0 "
                "and 1 <= n_channels <= %d", (long long)n_samples, n_channels, (int)CHANNELS_MAX);
        return AFX_ERR_INVALID_INPUT;
    }
    if (in_rate < 1 || out_rate < 1) {
        set_err(err, err_size, RESAMPLE_NAME ": in_rate = %d, out_rate = %d: rates must be positive",
                in_rate, out_rate);
        return AFX_ERR_INVALID_PARAM;
    }
    if (in_rate == out_rate) {
        afx_status st = copy_frames(in, n_samples, n_channels, RESAMPLE_NAME, out, err, err_size);
        if (st == AFX_OK) *out_samples = n_samples;
        return st;
    }
    return resample_frames(in, n_samples, n_channels, in_rate, out_rate, RESAMPLE_NAME, out,
                           out_samples, err, err_size);
}

/* ---------------------------------------------------------------------------------------------- */
/* Opening: files and memory buffers                                                              */
/* ---------------------------------------------------------------------------------------------- */

/* sf_virtual_io over a caller's buffer; read-only. */
typedef struct mem_reader {
    const unsigned char *data;
    sf_count_t size;
    sf_count_t pos;
} mem_reader;

static sf_count_t mem_get_filelen(void *user) { return ((mem_reader *)user)->size; }

static sf_count_t mem_seek(sf_count_t offset, int whence, void *user)
{
    mem_reader *m = user;
    sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? m->pos : m->size;
    if (whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END) return -1;
    if ((offset < 0 && offset < -base) || (offset > 0 && offset > m->size - base)) return -1;
    m->pos = base + offset;
    return m->pos;
}

static sf_count_t mem_read(void *ptr, sf_count_t count, void *user)
{
    mem_reader *m = user;
    sf_count_t left = m->size - m->pos;
    sf_count_t n = count < 0 ? 0 : count < left ? count : left;
    if (n > 0) memcpy(ptr, m->data + m->pos, (size_t)n);
    m->pos += n;
    return n;
}

static sf_count_t mem_write(const void *ptr, sf_count_t count, void *user)
{
    (void)ptr, (void)count, (void)user;
    return 0; /* opened SFM_READ: libsndfile never writes */
}

static sf_count_t mem_tell(void *user) { return ((mem_reader *)user)->pos; }

/* What to decode: a path, or a memory buffer (path NULL). `name` is used in every message. */
typedef struct source {
    const char *name;
    const char *path;
    mem_reader mem;
} source;

/*
 * libsndfile keeps the reason for a failed open in process-wide state (sf_error(NULL),
 * sf_strerror(NULL)), which a concurrent failing open would overwrite while we read it. Opens are
 * short (header parsing only), so they are serialized; decoding runs in parallel.
 */
static pthread_mutex_t g_open_lock = PTHREAD_MUTEX_INITIALIZER;

static SNDFILE *open_locked(source *src, SF_INFO *info, int *code, char *why, size_t why_size)
{
    SF_VIRTUAL_IO vio = {mem_get_filelen, mem_seek, mem_read, mem_write, mem_tell};
    (void)pthread_mutex_lock(&g_open_lock);
    SNDFILE *sf = src->path ? sf_open(src->path, SFM_READ, info)
                            : sf_open_virtual(&vio, SFM_READ, info, &src->mem);
    if (!sf) {
        *code = sf_error(NULL);
        snprintf(why, why_size, "%s", sf_strerror(NULL));
    }
    (void)pthread_mutex_unlock(&g_open_lock);
    return sf;
}

/*
 * Classifies a path before libsndfile sees it, so that a missing, unreadable or directory path is
 * an I/O error with the system's reason, and an empty file a decode error.
 */
static afx_status check_readable(const char *path, char *err, size_t err_size)
{
    char why[128];
    errno = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        errno_text(errno, why, sizeof why);
        set_err(err, err_size, "%s: cannot open: %s", path, why);
        return AFX_ERR_IO;
    }
    errno = 0;
    const int c = fgetc(f);
    const int read_failed = c == EOF && ferror(f);
    const int code = errno;
    fclose(f);
    if (read_failed) {
        errno_text(code, why, sizeof why);
        set_err(err, err_size, "%s: cannot read: %s", path, why);
        return AFX_ERR_IO;
    }
    if (c == EOF) {
        set_err(err, err_size, "%s: cannot decode: the file is empty (0 bytes)", path);
        return AFX_ERR_DECODE;
    }
    return AFX_OK;
}

static afx_status open_source(source *src, SF_INFO *info, SNDFILE **out, char *err, size_t err_size)
{
    char why[256] = "";
    int code = SF_ERR_NO_ERROR;
    *out = NULL;
    if (src->path) {
        afx_status st = check_readable(src->path, err, err_size);
        if (st != AFX_OK) return st;
    } else if (src->mem.size == 0) {
        set_err(err, err_size, "%s: cannot decode: the buffer is empty (0 bytes)", src->name);
        return AFX_ERR_DECODE;
    }
    memset(info, 0, sizeof *info);
    *out = open_locked(src, info, &code, why, sizeof why);
    if (!*out && code == SF_ERR_SYSTEM) {
        set_err(err, err_size, "%s: cannot open: %s", src->name, why);
        return AFX_ERR_IO;
    }
    if (!*out) {
        set_err(err, err_size, "%s: cannot decode: %s", src->name, why);
        return AFX_ERR_DECODE;
    }
    return AFX_OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* Decoding                                                                                       */
/* ---------------------------------------------------------------------------------------------- */

/* libsndfile's "unknown length" (e.g. a stream whose end it cannot see). */
static int frames_known(const SF_INFO *info) { return info->frames >= 0 && info->frames != SF_COUNT_MAX; }

static afx_status check_info(const SF_INFO *info, const char *name, char *err, size_t err_size)
{
    if (info->channels < 1 || info->channels > CHANNELS_MAX || info->samplerate < 1 || info->frames < 0) {
        set_err(err, err_size, "%s: cannot decode: invalid header (%d channels, %d Hz, %lld frames)",
                name, info->channels, info->samplerate, (long long)info->frames);
        return AFX_ERR_DECODE;
    }
    return AFX_OK;
}

/*
 * A WAV/AIFF data chunk that claims more bytes than the file holds is cut to what is there by
 * libsndfile, which reports it only in its log ("data : 2000 (should be 1456)", AIFF "SSND : ...").
 * 0xFFFFFFFF is the size streaming writers leave when they cannot seek back: not a truncation.
 */
static int header_promises_more(SNDFILE *sf, long long *declared, long long *actual)
{
    char log[8192];
    if (sf_command(sf, SFC_GET_LOG_INFO, log, (int)sizeof log) <= 0) return 0;
    log[sizeof log - 1] = '\0';
    for (const char *line = log; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        while (*line == ' ' || *line == '\t') ++line;
        if (strncmp(line, "data : ", 7) != 0 && strncmp(line, "SSND : ", 7) != 0) continue;
        if (sscanf(line + 7, "%lld (should be %lld)", declared, actual) == 2 &&
            *declared != 0xFFFFFFFFLL && *declared > *actual)
            return 1;
    }
    return 0;
}

/* Resizes *buf to `frames` interleaved frames; 0 (buffer untouched) when that fails. */
static int resize(float **buf, size_t frames, size_t ch)
{
    size_t bytes = 0;
    if (!bytes_for(frames, ch, sizeof(float), &bytes) || bytes == 0) return 0;
    float *p = realloc(*buf, bytes);
    if (!p) return 0;
    *buf = p;
    return 1;
}

/*
 * Reads every frame (interleaved) until libsndfile returns none; a decoder error is checked after.
 * The buffer starts at the header's frame count plus one, so a well-formed file is read without
 * regrowing; a header that undercounts just costs growth, one that overcounts is capped.
 */
static afx_status read_frames(SNDFILE *sf, const SF_INFO *info, const char *name, float **out,
                              int64_t *n_out, char *err, size_t err_size)
{
    const size_t ch = (size_t)info->channels;
    const int known = frames_known(info);
    size_t cap = !known ? READ_CHUNK : info->frames < PREALLOC_MAX ? (size_t)info->frames + 1 : PREALLOC_MAX;
    size_t n = 0;
    float *buf = NULL;
    if (known && info->frames == 0) return AFX_OK;
    if (!resize(&buf, cap, ch)) return out_of_memory(name, err, err_size);
    for (;;) {
        if (n == cap) {
            const size_t next = cap + (cap / 2 > READ_CHUNK ? cap / 2 : READ_CHUNK);
            if (next < cap || !resize(&buf, next, ch)) {
                free(buf);
                return out_of_memory(name, err, err_size);
            }
            cap = next;
        }
        const size_t want = cap - n < (size_t)READ_CHUNK ? cap - n : (size_t)READ_CHUNK;
        const sf_count_t got = sf_readf_float(sf, buf + n * ch, (sf_count_t)want);
        if (got <= 0) break;
        n += (size_t)got;
    }
    if (n == 0) {
        free(buf);
        buf = NULL;
    } else if (n < cap) {
        (void)resize(&buf, n, ch); /* a failed shrink keeps the larger, valid block */
    }
    *out = buf;
    *n_out = (int64_t)n;
    return AFX_OK;
}

/* A decoder error or fewer frames than the header promised means the input is cut short. */
static afx_status check_complete(SNDFILE *sf, const SF_INFO *info, const char *name, int64_t n,
                                 char *err, size_t err_size)
{
    long long declared = 0, actual = 0;
    if (sf_error(sf) != SF_ERR_NO_ERROR) {
        set_err(err, err_size, "%s: truncated or corrupt: decoding stopped after %lld frames: %s",
                name, (long long)n, sf_strerror(sf));
        return AFX_ERR_DECODE;
    }
    if (frames_known(info) && n < info->frames) {
        set_err(err, err_size, "%s: truncated: %lld of the %lld frames in its header could be decoded",
                name, (long long)n, (long long)info->frames);
        return AFX_ERR_DECODE;
    }
    if (header_promises_more(sf, &declared, &actual)) {
        set_err(err, err_size, "%s: truncated: the header declares %lld bytes of audio data, the "
                "file holds %lld", name, declared, actual);
        return AFX_ERR_DECODE;
    }
    return AFX_OK;
}

static afx_status check_finite(const float *x, int64_t n, int ch, const char *name, char *err,
                               size_t err_size)
{
    const size_t total = (size_t)n * (size_t)ch;
    for (size_t i = 0; i < total; ++i) {
        if (isfinite(x[i])) continue;
        set_err(err, err_size, "%s: sample %lld (channel %d) is %s: refusing non-finite audio", name,
                (long long)(i / (size_t)ch), (int)(i % (size_t)ch), isnan(x[i]) ? "NaN" : "infinite");
        return AFX_ERR_INVALID_INPUT;
    }
    return AFX_OK;
}

/*
 * In-place mean over channels, in float32 like librosa.to_mono's np.mean (float32 accumulation
 * from 0, then one division; for fewer than 8 channels numpy's pairwise sum is this same loop).
 */
static void downmix_in_place(float *x, int64_t n, int ch)
{
    for (int64_t i = 0; i < n; ++i) {
        float acc = 0.0f;
        for (int c = 0; c < ch; ++c) acc += x[i * ch + c];
        x[i] = acc / (float)ch;
    }
}

/* Final length per channel of the clip; 0 on overflow. */
static int final_length(int64_t n, int rate, int target, int64_t *out)
{
    if (target == 0 || target == rate) {
        *out = n;
        return 1;
    }
    return ceil_scaled(n, target, rate, out);
}

static afx_status check_limit(int64_t n, const afx_audio_options *o, const char *name, char *err,
                              size_t err_size)
{
    if (o->max_samples > 0 && n > o->max_samples) {
        set_err(err, err_size, "%s: %lld samples per channel (after resampling) exceed max_samples = %lld",
                name, (long long)n, (long long)o->max_samples);
        return AFX_ERR_EXCEEDS_PLAN;
    }
    return AFX_OK;
}

/* Downmix (optional), then resample (optional): librosa.load's order. Takes ownership of *x. */
static afx_status shape_clip(float **x, int64_t *n, int *ch, int rate, const afx_audio_options *o,
                             const char *name, char *err, size_t err_size)
{
    if (o->downmix && *ch > 1) {
        downmix_in_place(*x, *n, *ch);
        *ch = 1;
        float *shrunk = *n > 0 ? realloc(*x, (size_t)*n * sizeof(float)) : NULL;
        if (shrunk) *x = shrunk; /* a failed shrink keeps the larger, valid block */
    }
    if (o->target_rate == 0 || o->target_rate == rate || *n == 0) return AFX_OK;
    float *y = NULL;
    int64_t m = 0;
    afx_status st = resample_frames(*x, *n, *ch, rate, o->target_rate, name, &y, &m, err, err_size);
    if (st != AFX_OK) return st;
    free(*x);
    *x = y;
    *n = m;
    return AFX_OK;
}

static afx_status check_options(const afx_audio_options *o, const char *name, char *err, size_t err_size)
{
    if (o->target_rate != 0 && (o->target_rate < RATE_MIN || o->target_rate > RATE_MAX)) {
        set_err(err, err_size, "%s: afx_audio_options.target_rate = %d: must be 0 or %d..%d", name,
                o->target_rate, (int)RATE_MIN, (int)RATE_MAX);
        return AFX_ERR_INVALID_PARAM;
    }
    if (o->downmix != 0 && o->downmix != 1) {
        set_err(err, err_size, "%s: afx_audio_options.downmix = %d: must be 0 or 1", name, o->downmix);
        return AFX_ERR_INVALID_PARAM;
    }
    if (!(o->offset_seconds == 0.0 && o->duration_seconds == 0.0)) {
        set_err(err, err_size, "%s: afx_audio_options offset_seconds/duration_seconds are not implemented yet",
                name);
        return AFX_ERR_INVALID_PARAM;
    }
    if (o->max_samples < 0) {
        set_err(err, err_size, "%s: afx_audio_options.max_samples = %lld: must be >= 0", name,
                (long long)o->max_samples);
        return AFX_ERR_INVALID_PARAM;
    }
    return AFX_OK;
}

/* Everything after a successful open: decode, validate, downmix, resample, fill `clip`. */
static afx_status decode_open(SNDFILE *sf, const SF_INFO *info, const afx_audio_options *o,
                              const char *name, afx_audio_clip *clip, char *err, size_t err_size)
{
    int64_t expected = 0, n = 0;
    float *x = NULL;
    int ch = info->channels;
    afx_status st = check_info(info, name, err, err_size);
    /* Refuse an over-long clip before decoding it, when the header says how long it is. */
    if (st == AFX_OK && frames_known(info) && final_length(info->frames, info->samplerate, o->target_rate, &expected))
        st = check_limit(expected, o, name, err, err_size);
    if (st == AFX_OK) st = read_frames(sf, info, name, &x, &n, err, err_size);
    if (st == AFX_OK) st = check_complete(sf, info, name, n, err, err_size);
    if (st == AFX_OK) st = check_finite(x, n, ch, name, err, err_size);
    if (st == AFX_OK) st = shape_clip(&x, &n, &ch, info->samplerate, o, name, err, err_size);
    if (st == AFX_OK) st = check_limit(n, o, name, err, err_size);
    if (st != AFX_OK) {
        free(x);
        return st;
    }
    if (n == 0) {
        free(x);
        x = NULL;
    }
    clip->samples = x;
    clip->n_samples = n;
    clip->n_channels = ch;
    clip->sample_rate = o->target_rate ? o->target_rate : info->samplerate;
    clip->source_rate = info->samplerate;
    clip->source_channels = info->channels;
    return AFX_OK;
}

static afx_status load_source(source *src, const afx_audio_options *o, afx_audio_clip *clip,
                              char *err, size_t err_size)
{
    SF_INFO info;
    SNDFILE *sf = NULL;
    afx_status st = check_options(o, src->name, err, err_size);
    if (st == AFX_OK) st = open_source(src, &info, &sf, err, err_size);
    if (st != AFX_OK) return st;
    st = decode_open(sf, &info, o, src->name, clip, err, err_size);
    const int close_code = sf_close(sf);
    if (st == AFX_OK && close_code != 0) {
        set_err(err, err_size, "%s: cannot close: %s", src->name, sf_error_number(close_code));
        st = AFX_ERR_IO;
    }
    if (st != AFX_OK) afx_audio_clip_free(clip);
    return st;
}

/* ---------------------------------------------------------------------------------------------- */
/* Public entry points                                                                            */
/* ---------------------------------------------------------------------------------------------- */

AFX_API void afx_audio_options_init(afx_audio_options *opts)
{
    if (!opts) return;
    opts->target_rate = 16000;
    opts->downmix = 1;
    opts->max_samples = 0;
    opts->offset_seconds = 0.0;
    opts->duration_seconds = 0.0;
}

AFX_API void afx_audio_clip_free(afx_audio_clip *clip)
{
    if (!clip) return;
    free(clip->samples);
    memset(clip, 0, sizeof *clip);
}

AFX_API afx_status afx_audio_load_file(const char *path, const afx_audio_options *opts,
                                       afx_audio_clip *clip, char *err, size_t err_size)
{
    if (clip) memset(clip, 0, sizeof *clip);
    if (!path || !opts || !clip) {
        set_err(err, err_size, "afx_audio_load_file: %s is NULL", !path ? "path" : !opts ? "opts" : "clip");
        return AFX_ERR_NULL_ARGUMENT;
    }
    source src = {path, path, {NULL, 0, 0}};
    return load_source(&src, opts, clip, err, err_size);
}

AFX_API afx_status afx_audio_load_memory(const void *data, size_t size, const char *name,
                                         const afx_audio_options *opts, afx_audio_clip *clip,
                                         char *err, size_t err_size)
{
    const char *label = name ? name : MEMORY_NAME;
    if (clip) memset(clip, 0, sizeof *clip);
    if (!data || !opts || !clip) {
        set_err(err, err_size, "%s: afx_audio_load_memory: %s is NULL", label,
                !data ? "data" : !opts ? "opts" : "clip");
        return AFX_ERR_NULL_ARGUMENT;
    }
    if ((uint64_t)size > (uint64_t)INT64_MAX) { /* sf_count_t is int64 */
        set_err(err, err_size, "%s: buffer of %zu bytes is too large", label, size);
        return AFX_ERR_INVALID_INPUT;
    }
    source src = {label, NULL, {data, (sf_count_t)size, 0}};
    return load_source(&src, opts, clip, err, err_size);
}

/* ---------------------------------------------------------------------------------------------- */
/* Reusable decoder                                                                               */
/* ---------------------------------------------------------------------------------------------- */

struct afx_audio_decoder_s {
    afx_audio_clip owned; /* the last clip loaded, lent to the caller */
};

AFX_API afx_status afx_audio_decoder_create(afx_audio_decoder **dec, char *err, size_t err_size)
{
    if (!dec) {
        set_err(err, err_size, "afx_audio_decoder_create: dec is NULL");
        return AFX_ERR_NULL_ARGUMENT;
    }
    *dec = calloc(1, sizeof **dec);
    if (!*dec) return out_of_memory("afx_audio_decoder_create", err, err_size);
    return AFX_OK;
}

AFX_API void afx_audio_decoder_free(afx_audio_decoder *dec)
{
    if (!dec) return;
    afx_audio_clip_free(&dec->owned);
    free(dec);
}

/* Lends the decoder's clip to the caller after a load into it. */
static afx_status lend(afx_audio_decoder *dec, afx_status st, afx_audio_clip *clip)
{
    *clip = dec->owned;
    return st;
}

AFX_API afx_status afx_audio_decoder_load_file(afx_audio_decoder *dec, const char *path,
                                               const afx_audio_options *opts, afx_audio_clip *clip, char *err,
                                               size_t err_size)
{
    if (!dec || !clip) {
        set_err(err, err_size, "afx_audio_decoder_load_file: %s is NULL", !dec ? "dec" : "clip");
        return AFX_ERR_NULL_ARGUMENT;
    }
    afx_audio_clip_free(&dec->owned);
    return lend(dec, afx_audio_load_file(path, opts, &dec->owned, err, err_size), clip);
}

AFX_API afx_status afx_audio_decoder_load_memory(afx_audio_decoder *dec, const void *data, size_t size,
                                                 const char *name, const afx_audio_options *opts,
                                                 afx_audio_clip *clip, char *err, size_t err_size)
{
    if (!dec || !clip) {
        set_err(err, err_size, "afx_audio_decoder_load_memory: %s is NULL", !dec ? "dec" : "clip");
        return AFX_ERR_NULL_ARGUMENT;
    }
    afx_audio_clip_free(&dec->owned);
    return lend(dec, afx_audio_load_memory(data, size, name, opts, &dec->owned, err, err_size), clip);
}
