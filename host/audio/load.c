/*
 * load.c: the audio pipeline (include/afx_audio.h), the public loaders and the reusable decoder.
 *
 * One load: open the input once (source.c), check its container against the allow-list
 * (container.c), open a reader (reader.c), apply the limits the header allows to check, seek to the
 * offset, then decode the window block by block, downmixing each block and pushing it through
 * libsoxr straight into the output (resample.c), so the whole decoded file is never held. The
 * finished output is scanned once for NaN/Inf; only when that scan fails is the source read again,
 * to say what was wrong (a NaN in the file, or finite samples too large for float arithmetic).
 *
 * librosa.load(path, sr, mono=True, offset, duration) is the reference (librosa 0.11.0,
 * librosa/core/audio.py):
 *   - __soundfile_load (lines 201-224): sf_desc.seek(int(offset * sr_native)), then
 *     sf_desc.read(frames=int(duration * sr_native)) (all frames without a duration), float32;
 *   - to_mono (line 508): np.mean over the channels, float32 accumulation from 0 then one division
 *     (for fewer than 8 channels numpy's pairwise sum is this same loop), before resampling;
 *   - resample: see resample.c.
 *
 * With afx_audio_options.threads = 2 a long window (at least THREAD_MIN_SECONDS of source audio that
 * needs resampling) is decoded and downmixed by a helper thread while the calling thread resamples
 * the blocks it hands over (a ring of RING_SLOTS blocks): the same blocks in the same order through
 * the same libsoxr state, so the same samples (tests/test_audio_threads.cpp).
 */
#define _POSIX_C_SOURCE 200809L /* pthread */

#include "audio_internal.h"

#include <pthread.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MEMORY_NAME "<memory>"

enum {
    BLOCK_SAMPLES = 1 << 16,     /* samples (frames x channels) decoded per block: 256 KB of float */
    FIRST_OUT_BYTES = 1 << 26,   /* the most reserved for the output before decoding: a header's length
                                    is trusted up to 64 MB, beyond that the output grows as it fills
                                    (realloc of a large block remaps pages, it does not copy them) */
    UNKNOWN_START_SAMPLES = 1 << 16, /* first output reservation when the header gives no length */
    THREAD_MIN_SECONDS = 30,     /* threads = 2: windows at least this long (source audio) use the helper */
    RING_SLOTS = 4               /* decoded blocks in flight between the helper and the resampler */
};

struct afx_audio_decoder_s {
    afx_buffer out;       /* the clip's samples (float or int16), lent to the caller */
    afx_buffer block;     /* one decoded block, interleaved float32 */
    afx_buffer stream;    /* the bytes of a non-seekable input */
    afx_buffer ring;      /* threads = 2: the blocks between the helper and the resampler */
    afx_resampler rs;     /* libsoxr state, cleared between clips of the same rates */
    mpg123_handle *mh;    /* libmpg123 handle, reopened per MPEG input */
};

/* State of one load. */
typedef struct job {
    afx_audio_decoder *dec;
    const afx_audio_options *o;
    afx_source *src;
    const char *name;
    afx_reader r;
    int reader_open;
    int target;        /* output rate, Hz */
    int resample;      /* target != source rate */
    int s16;           /* keep_int16 path: int16 frames straight from the file */
    int downmix;       /* average the channels (float path, more than one channel) */
    int out_ch;        /* channels of the output */
    int64_t start;     /* first source frame of the window */
    int64_t want;      /* source frames wanted from start, -1 = to the end */
    int64_t n_read;    /* source frames decoded from start */
    size_t cap;        /* output capacity, frames */
    size_t pos;        /* output frames written */
} job;

static size_t out_elem(const job *j) { return j->s16 ? sizeof(int16_t) : sizeof(float); }

/* Makes the output hold at least `frames` frames (keeps its contents). */
static afx_status reserve_out(job *j, size_t frames, char *err, size_t err_size)
{
    size_t bytes = 0;
    if (frames <= j->cap) return AFX_OK;
    if (!afx_audio_bytes_for(frames, (size_t)j->out_ch, out_elem(j), &bytes) || !afx_buffer_reserve(&j->dec->out, bytes))
        return afx_audio_oom(j->name, err, err_size);
    j->cap = j->dec->out.bytes / ((size_t)j->out_ch * out_elem(j));
    return AFX_OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* Options and limits                                                                             */
/* ---------------------------------------------------------------------------------------------- */

static int finite_nonneg(double v) { return isfinite(v) && v >= 0.0; }

static afx_status check_options(const afx_audio_options *o, const char *name, char *err, size_t err_size)
{
    const char *bad = NULL;
    char value[64] = "";
    if (o->target_rate != 0 && (o->target_rate < 1000 || o->target_rate > 1000000))
        bad = "target_rate", snprintf(value, sizeof value, "%d: must be 0 or 1000..1000000", o->target_rate);
    else if (o->downmix != 0 && o->downmix != 1)
        bad = "downmix", snprintf(value, sizeof value, "%d: must be 0 or 1", o->downmix);
    else if (o->max_samples < 0)
        bad = "max_samples", snprintf(value, sizeof value, "%lld: must be >= 0", (long long)o->max_samples);
    else if (!finite_nonneg(o->offset_seconds))
        bad = "offset_seconds", snprintf(value, sizeof value, "%g: must be finite and >= 0", o->offset_seconds);
    else if (!finite_nonneg(o->duration_seconds))
        bad = "duration_seconds", snprintf(value, sizeof value, "%g: must be finite and >= 0", o->duration_seconds);
    else if (!finite_nonneg(o->max_duration_seconds))
        bad = "max_duration_seconds",
        snprintf(value, sizeof value, "%g: must be finite and >= 0", o->max_duration_seconds);
    else if (o->max_stream_bytes < 0)
        bad = "max_stream_bytes", snprintf(value, sizeof value, "%lld: must be >= 0", (long long)o->max_stream_bytes);
    else if (o->keep_int16 != 0 && o->keep_int16 != 1)
        bad = "keep_int16", snprintf(value, sizeof value, "%d: must be 0 or 1", o->keep_int16);
    else if (o->threads < 0 || o->threads > 2)
        bad = "threads", snprintf(value, sizeof value, "%d: must be 0, 1 or 2", o->threads);
    if (!bad) return AFX_OK;
    afx_audio_err(err, err_size, "%s: afx_audio_options.%s = %s", name, bad, value);
    return AFX_ERR_INVALID_PARAM;
}

/* trunc(seconds * rate) as librosa's int(), saturating (a huge offset is simply past the end). */
static int64_t frames_of(double seconds, int rate)
{
    const double f = seconds * (double)rate;
    return f >= 9.2e18 ? INT64_MAX : (int64_t)f;
}

/* Refusal of a window longer than max_duration_seconds. `while_decoding`: the header did not say. */
static afx_status too_long(const job *j, int64_t frames, int while_decoding, char *err, size_t err_size)
{
    afx_audio_err(err, err_size, "%s: %s%.1f s of audio (%lld frames at %d Hz%s) exceeds max_duration_seconds = %g%s",
                  j->name, while_decoding ? "more than " : "", (double)frames / j->r.rate, (long long)frames, j->r.rate,
                  j->start ? " after the offset" : "", j->o->max_duration_seconds,
                  while_decoding ? " (its header does not state the length; stopped decoding)" : "");
    return AFX_ERR_EXCEEDS_PLAN;
}

static afx_status too_many_samples(const job *j, int64_t n, char *err, size_t err_size)
{
    afx_audio_err(err, err_size, "%s: %lld samples per channel (after resampling) exceed max_samples = %lld", j->name,
                  (long long)n, (long long)j->o->max_samples);
    return AFX_ERR_EXCEEDS_PLAN;
}

/* Output frames for n source frames. */
static int64_t out_frames(const job *j, int64_t n)
{
    int64_t m = n;
    if (j->resample && !afx_audio_ceil_scaled(n, j->target, j->r.rate, &m)) m = INT64_MAX;
    return m;
}

static int over_duration(const job *j, int64_t frames)
{
    return j->o->max_duration_seconds > 0 && (double)frames > j->o->max_duration_seconds * (double)j->r.rate;
}

/* The resampling rule stated in afx_audio.h (AFX_AUDIO_RESAMPLE_MIN_RATE / _MAX_RATIO). */
static afx_status check_rates(const job *j, char *err, size_t err_size)
{
    const int rate = j->r.rate;
    if (!j->resample) return AFX_OK;
    if (rate < AFX_AUDIO_RESAMPLE_MIN_RATE || (double)j->target > (double)AFX_AUDIO_RESAMPLE_MAX_RATIO * rate) {
        afx_audio_err(err, err_size, "%s: refusing to resample %d Hz -> %d Hz: the source rate must be at least %d Hz "
                      "and the target at most %d times the source rate (keep the file's rate with target_rate 0)",
                      j->name, rate, j->target, AFX_AUDIO_RESAMPLE_MIN_RATE, AFX_AUDIO_RESAMPLE_MAX_RATIO);
        return AFX_ERR_INVALID_INPUT;
    }
    return AFX_OK;
}

static afx_status past_end(const job *j, int64_t end, char *err, size_t err_size)
{
    afx_audio_err(err, err_size, "%s: offset_seconds = %g (frame %lld) is past the end of the file (%lld frames, "
                  "%.3f s at %d Hz)", j->name, j->o->offset_seconds, (long long)j->start, (long long)end,
                  (double)end / j->r.rate, j->r.rate);
    return AFX_ERR_INVALID_PARAM;
}

/* ---------------------------------------------------------------------------------------------- */
/* Decoding                                                                                       */
/* ---------------------------------------------------------------------------------------------- */

static size_t block_frames(const job *j)
{
    const size_t per = BLOCK_SAMPLES / (size_t)j->r.channels;
    return per > 0 ? per : 1;
}

static afx_status reserve_block(job *j, char *err, size_t err_size)
{
    size_t bytes = 0;
    if (!afx_audio_bytes_for(block_frames(j), (size_t)j->r.channels, sizeof(float), &bytes) ||
        !afx_buffer_reserve(&j->dec->block, bytes))
        return afx_audio_oom(j->name, err, err_size);
    return AFX_OK;
}

/* Positions the reader at j->start: a seek, or decoding and dropping when the decoder cannot seek. */
static afx_status seek_to_start(job *j, char *err, size_t err_size)
{
    if (j->start == 0 || afx_reader_seek(&j->r, j->start) == 0) return AFX_OK;
    afx_status st = reserve_block(j, err, err_size);
    int64_t dropped = 0;
    while (st == AFX_OK && dropped < j->start) {
        int64_t n = (int64_t)block_frames(j);
        if (n > j->start - dropped) n = j->start - dropped;
        const int64_t got = afx_reader_read_f32(&j->r, j->dec->block.data, n);
        if (got == 0) {
            st = afx_reader_check_end(&j->r, dropped, 0, err, err_size);
            return st != AFX_OK ? st : past_end(j, dropped, err, err_size);
        }
        dropped += got;
    }
    return st;
}

/* In-place float32 mean of the channels (librosa.to_mono), n frames. Stereo, the common case, has its own
 * loop without the inner channel loop (the same operations in the same order, so the same bits): the
 * general loop costs about a tenth of a corpus job's time on 44.1 kHz stereo files. */
static void downmix_block(float *x, size_t n, int ch)
{
    if (ch == 2) {
        for (size_t i = 0; i < n; ++i) x[i] = ((0.0f + x[2 * i]) + x[2 * i + 1]) / 2.0f;
        return;
    }
    for (size_t i = 0; i < n; ++i) {
        float acc = 0.0f;
        for (int c = 0; c < ch; ++c) acc += x[i * (size_t)ch + (size_t)c];
        x[i] = acc / (float)ch;
    }
}

static afx_status resample_error(const job *j, const char *e, char *err, size_t err_size)
{
    afx_audio_err(err, err_size, "%s: resampling %d Hz -> %d Hz failed: libsoxr: %s", j->name, j->r.rate, j->target, e);
    return AFX_ERR_RESAMPLE;
}

/* Resamples `got` downmixed frames at `x` into the output; `fed`: source frames pushed so far, these included. */
static afx_status take_resampled(job *j, const float *x, size_t got, int64_t fed, char *err, size_t err_size)
{
    const size_t need = afx_resample_capacity(fed, j->r.rate, j->target, out_frames(j, fed));
    afx_status st = reserve_out(j, need, err, err_size);
    if (st != AFX_OK) return st;
    const char *e = afx_resampler_push(&j->dec->rs, x, got, j->dec->out.data, j->cap, &j->pos);
    return e ? resample_error(j, e, err, err_size) : AFX_OK;
}

/* Takes `got` decoded (and downmixed) frames at `x` (the block) into the output. */
static afx_status take_block(job *j, const float *x, size_t got, char *err, size_t err_size)
{
    if (j->resample) return take_resampled(j, x, got, j->n_read, err, err_size);
    afx_status st = reserve_out(j, j->pos + got, err, err_size);
    if (st != AFX_OK) return st;
    memcpy((float *)j->dec->out.data + j->pos * (size_t)j->out_ch, x, got * (size_t)j->out_ch * sizeof(float));
    j->pos += got;
    return AFX_OK;
}

/* Frames to ask the reader for next: a block, within the window and the header's length. 0: the
 * window is read; -1: the header's end is reached (to_end). */
static int64_t next_frames(const job *j)
{
    int64_t n = (int64_t)block_frames(j);
    if (j->want >= 0 && n > j->want - j->n_read) n = j->want - j->n_read;
    if (n <= 0) return 0;
    if (j->r.frames >= 0) {
        const int64_t left = j->r.frames - j->start - j->n_read;
        if (left <= 0) return -1;
        if (n > left) n = left;
    }
    return n;
}

/* The limits the header could not settle (or that it understated), after n_read grew. */
static afx_status check_growth(const job *j, char *err, size_t err_size)
{
    if (over_duration(j, j->n_read)) return too_long(j, j->n_read, 1, err, err_size);
    if (j->o->max_samples > 0 && out_frames(j, j->n_read) > j->o->max_samples)
        return too_many_samples(j, out_frames(j, j->n_read), err, err_size);
    return AFX_OK;
}

/*
 * Reads the window's next frames: straight into the output at pos when `direct`, else into the block
 * `x`, which is then downmixed. Returns the frames read; 0 when the window is done (*to_end: the input
 * ended before the window did, or at the header's end) or on an error (*st).
 */
static int64_t read_step(job *j, int direct, float *x, int *to_end, afx_status *st, char *err, size_t err_size)
{
    const int64_t n = next_frames(j);
    if (n <= 0) { /* the duration is read, or the header's end: no need to ask the decoder */
        *to_end = n < 0;
        return 0;
    }
    int64_t got;
    if (direct) {
        *st = reserve_out(j, j->pos + (size_t)n, err, err_size);
        if (*st != AFX_OK) return 0;
        got = j->s16 ? afx_reader_read_s16(&j->r, (int16_t *)j->dec->out.data + j->pos * (size_t)j->out_ch, n)
                     : afx_reader_read_f32(&j->r, (float *)j->dec->out.data + j->pos * (size_t)j->out_ch, n);
        j->pos += (size_t)got;
    } else {
        got = afx_reader_read_f32(&j->r, x, n);
    }
    if (got <= 0) {
        *to_end = 1;
        return 0;
    }
    j->n_read += got;
    *st = check_growth(j, err, err_size);
    if (*st != AFX_OK) return 0;
    if (!direct && j->downmix) downmix_block(x, (size_t)got, j->r.channels);
    return got;
}

/* After the last block: the reader's end check, then libsoxr's flush and fix_length (exactly
 * ceil(n * target / rate) frames, zeros appended). */
static afx_status finish_window(job *j, int to_end, char *err, size_t err_size)
{
    afx_status st = afx_reader_check_end(&j->r, j->start + j->n_read, to_end, err, err_size);
    if (st != AFX_OK || !j->resample) return st;
    const int64_t final = out_frames(j, j->n_read);
    if (j->n_read == 0 || final == 0) {
        j->pos = 0;
        return AFX_OK;
    }
    st = reserve_out(j, afx_resample_capacity(j->n_read, j->r.rate, j->target, final), err, err_size);
    if (st != AFX_OK) return st;
    const char *e = afx_resampler_push(&j->dec->rs, NULL, 0, j->dec->out.data, j->cap, &j->pos);
    if (e) return resample_error(j, e, err, err_size);
    if (j->pos < (size_t)final)
        memset((float *)j->dec->out.data + j->pos * (size_t)j->out_ch, 0,
               ((size_t)final - j->pos) * (size_t)j->out_ch * sizeof(float));
    j->pos = (size_t)final;
    return AFX_OK;
}

/*
 * Decodes the window into the output. Without resampling or downmixing, frames are decoded straight
 * into the output; otherwise into the block buffer, then downmixed and resampled into the output.
 */
static afx_status decode_window(job *j, char *err, size_t err_size)
{
    const int direct = !j->resample && !j->downmix;
    afx_status st = direct ? AFX_OK : reserve_block(j, err, err_size);
    int to_end = 0;
    while (st == AFX_OK) {
        const int64_t got = read_step(j, direct, j->dec->block.data, &to_end, &st, err, err_size);
        if (got == 0) break;
        if (!direct) st = take_block(j, j->dec->block.data, (size_t)got, err, err_size);
    }
    return st == AFX_OK ? finish_window(j, to_end, err, err_size) : st;
}

/* ---------------------------------------------------------------------------------------------- */
/* Two threads: the helper decodes and downmixes, the calling thread resamples                    */
/* ---------------------------------------------------------------------------------------------- */

typedef struct ring {
    job *j;
    float *slot[RING_SLOTS];
    size_t got[RING_SLOTS];
    unsigned head, tail;   /* blocks published by the helper / taken back by the resampler */
    int done;              /* the helper has stopped (end of window or error) */
    int stop;              /* the resampler failed: the helper stops */
    int to_end;            /* the helper's end-of-input flag, for finish_window */
    afx_status st;         /* the helper's status and message */
    char err[AFX_ERROR_MAX];
    pthread_mutex_t mu;
    pthread_cond_t filled, freed;
} ring;

/* The helper: reads, checks and downmixes blocks into free slots. Owns the reader and j->n_read
 * until it is joined. */
static void *ring_decode(void *arg)
{
    ring *g = arg;
    job *j = g->j;
    afx_status st = AFX_OK;
    int to_end = 0;
    for (;;) {
        pthread_mutex_lock(&g->mu);
        while (g->head - g->tail == RING_SLOTS && !g->stop) pthread_cond_wait(&g->freed, &g->mu);
        const int stop = g->stop;
        pthread_mutex_unlock(&g->mu);
        if (stop) break;
        const int64_t got = read_step(j, 0, g->slot[g->head % RING_SLOTS], &to_end, &st, g->err, sizeof g->err);
        if (got == 0) break;
        pthread_mutex_lock(&g->mu);
        g->got[g->head % RING_SLOTS] = (size_t)got;
        g->head++;
        pthread_cond_signal(&g->filled);
        pthread_mutex_unlock(&g->mu);
    }
    pthread_mutex_lock(&g->mu);
    g->st = st;
    g->to_end = to_end;
    g->done = 1;
    pthread_cond_signal(&g->filled);
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

/*
 * decode_window for a resampled float window on two threads (the ring's memory is the decoder's, kept
 * for its next long clip). 1: done (status in *out); 0: the helper could not be started (no memory or
 * no thread), nothing was read, the caller decodes on one thread.
 */
static int decode_window_threaded(job *j, afx_status *out, char *err, size_t err_size)
{
    ring g;
    memset(&g, 0, sizeof g);
    g.j = j;
    const size_t per_slot = block_frames(j) * (size_t)j->r.channels; /* floats */
    size_t bytes = 0;
    if (!afx_audio_bytes_for(per_slot, RING_SLOTS, sizeof(float), &bytes) || !afx_buffer_reserve(&j->dec->ring, bytes))
        return 0;
    for (int k = 0; k < RING_SLOTS; ++k) g.slot[k] = (float *)j->dec->ring.data + (size_t)k * per_slot;
    pthread_t helper;
    if (pthread_mutex_init(&g.mu, NULL) != 0) return 0;
    if (pthread_cond_init(&g.filled, NULL) != 0 || pthread_cond_init(&g.freed, NULL) != 0 ||
        pthread_create(&helper, NULL, ring_decode, &g) != 0) {
        /* a condition variable that was initialized holds no resources on Linux; destroy what can be */
        pthread_mutex_destroy(&g.mu);
        return 0;
    }
    afx_status st = AFX_OK;
    int64_t fed = 0;
    for (;;) {
        pthread_mutex_lock(&g.mu);
        while (g.head == g.tail && !g.done) pthread_cond_wait(&g.filled, &g.mu);
        if (g.head == g.tail) { /* done and drained */
            pthread_mutex_unlock(&g.mu);
            break;
        }
        const unsigned k = g.tail % RING_SLOTS;
        const size_t got = g.got[k];
        pthread_mutex_unlock(&g.mu);
        if (st == AFX_OK) {
            fed += (int64_t)got;
            st = take_resampled(j, g.slot[k], got, fed, err, err_size);
        }
        pthread_mutex_lock(&g.mu);
        g.tail++;
        if (st != AFX_OK) g.stop = 1;
        pthread_cond_signal(&g.freed);
        pthread_mutex_unlock(&g.mu);
    }
    pthread_join(helper, NULL);
    pthread_cond_destroy(&g.filled);
    pthread_cond_destroy(&g.freed);
    pthread_mutex_destroy(&g.mu);
    if (st == AFX_OK && g.st != AFX_OK) {
        st = g.st;
        afx_audio_err(err, err_size, "%s", g.err);
    }
    *out = st == AFX_OK ? finish_window(j, g.to_end, err, err_size) : st;
    return 1;
}

/* ---------------------------------------------------------------------------------------------- */
/* Finiteness: one scan of the output; the source is read again only to explain a failure         */
/* ---------------------------------------------------------------------------------------------- */

static int all_finite(const float *x, size_t n)
{
    int ok = 1;
    for (size_t i = 0; i < n; ++i) ok &= isfinite(x[i]) != 0; /* branch-free: the loop vectorizes */
    return ok;
}

/*
 * Reads the window again and words the refusal: the first NaN/Inf of the file (frame index from the
 * start of the file, channel), or finite samples that downmixing or resampling overflowed.
 */
static afx_status explain_non_finite(job *j, afx_container container, char *err, size_t err_size)
{
    afx_reader_close(&j->r);
    j->reader_open = 0;
    afx_status st = afx_reader_open(&j->r, j->src, container, &j->dec->mh, err, err_size);
    if (st == AFX_OK) j->reader_open = 1;
    if (st == AFX_OK) st = seek_to_start(j, err, err_size);
    if (st == AFX_OK) st = reserve_block(j, err, err_size);
    if (st != AFX_OK) { /* the second reading failed: say what the first one found */
        afx_audio_err(err, err_size, "%s: the decoded samples are not all finite (NaN/Inf): refusing the clip",
                      j->name);
        return AFX_ERR_INVALID_INPUT;
    }
    double peak = 0.0;
    int mix_overflow = 0;
    const int ch = j->r.channels;
    for (int64_t done = 0; done < j->n_read;) {
        int64_t n = (int64_t)block_frames(j);
        if (n > j->n_read - done) n = j->n_read - done;
        const float *x = j->dec->block.data;
        const int64_t got = afx_reader_read_f32(&j->r, j->dec->block.data, n);
        if (got <= 0) break;
        for (int64_t f = 0; f < got; ++f) {
            float acc = 0.0f;
            for (int c = 0; c < ch; ++c) {
                const float v = x[f * ch + c];
                if (!isfinite(v)) {
                    afx_audio_err(err, err_size, "%s: sample %lld (channel %d) is %s: refusing non-finite audio",
                                  j->name, (long long)(j->start + done + f), c, isnan(v) ? "NaN" : "infinite");
                    return AFX_ERR_INVALID_INPUT;
                }
                peak = fmax(peak, fabs((double)v));
                acc += v;
            }
            if (j->downmix && !isfinite(acc / (float)ch)) mix_overflow = 1;
        }
        done += got;
    }
    char stage[96];
    if (mix_overflow)
        snprintf(stage, sizeof stage, "downmix its %d channels in float32", ch);
    else if (j->resample)
        snprintf(stage, sizeof stage, "resample %d Hz -> %d Hz (libsoxr overflows float32)", j->r.rate, j->target);
    else
        snprintf(stage, sizeof stage, "process in float32");
    afx_audio_err(err, err_size, "%s: the file's samples are finite but too large to %s: largest magnitude %.6g; "
                  "refusing the clip (its samples would be NaN/Inf)", j->name, stage, peak);
    return AFX_ERR_INVALID_INPUT;
}

/* ---------------------------------------------------------------------------------------------- */
/* One load                                                                                       */
/* ---------------------------------------------------------------------------------------------- */

/* Everything after the source is open. Fills clip with the decoder's memory on success. */
static afx_status load_source(afx_audio_decoder *dec, afx_source *src, const afx_audio_options *o,
                              afx_audio_clip *clip, char *err, size_t err_size)
{
    job j;
    memset(&j, 0, sizeof j);
    j.dec = dec;
    j.o = o;
    j.src = src;
    j.name = src->name;
    afx_container container = AFX_CONTAINER_WAV;
    afx_status st = afx_container_sniff(src, &container, err, err_size);
    if (st == AFX_OK) st = afx_reader_open(&j.r, src, container, &dec->mh, err, err_size);
    if (st != AFX_OK) return st;
    j.reader_open = 1;

    const int rate = j.r.rate, ch = j.r.channels;
    j.target = o->target_rate ? o->target_rate : rate;
    j.resample = j.target != rate;
    j.s16 = o->keep_int16 && j.r.pcm16 && !j.resample;
    j.downmix = !j.s16 && o->downmix && ch > 1;
    j.out_ch = j.downmix ? 1 : ch;
    j.start = frames_of(o->offset_seconds, rate);
    j.want = o->duration_seconds > 0 ? frames_of(o->duration_seconds, rate) : -1;

    st = check_rates(&j, err, err_size);
    /* What the header settles before anything is decoded: the window, its duration and length. */
    int64_t span = -1;
    if (st == AFX_OK && j.r.frames >= 0) {
        if (j.start > j.r.frames) {
            st = past_end(&j, j.r.frames, err, err_size);
        } else {
            span = j.r.frames - j.start;
            if (j.want >= 0 && j.want < span) span = j.want;
            if (over_duration(&j, span))
                st = too_long(&j, span, 0, err, err_size);
            else if (o->max_samples > 0 && out_frames(&j, span) > o->max_samples)
                st = too_many_samples(&j, out_frames(&j, span), err, err_size);
        }
    }
    if (st == AFX_OK && j.resample) {
        const char *e = afx_resampler_begin(&dec->rs, rate, j.target, j.out_ch);
        if (e) st = resample_error(&j, e, err, err_size);
    }
    if (st == AFX_OK) {
        /* The known final size at once (pages are only touched as they are written), else grow. */
        const size_t frame_bytes = (size_t)j.out_ch * out_elem(&j), most = FIRST_OUT_BYTES / frame_bytes;
        size_t first = span < 0 ? UNKNOWN_START_SAMPLES / (size_t)j.out_ch
                       : j.resample ? afx_resample_capacity(span, rate, j.target, out_frames(&j, span))
                                    : (size_t)span;
        if (first > most) first = most;
        st = reserve_out(&j, first > 0 ? first : 1, err, err_size);
    }
    if (st == AFX_OK) st = seek_to_start(&j, err, err_size);
    if (st == AFX_OK) {
        int threaded = 0;
        if (o->threads >= 2 && j.resample && span >= (int64_t)THREAD_MIN_SECONDS * rate)
            threaded = decode_window_threaded(&j, &st, err, err_size);
        if (!threaded) st = decode_window(&j, err, err_size);
    }
    if (st == AFX_OK && !j.s16 && !all_finite(dec->out.data, j.pos * (size_t)j.out_ch))
        st = explain_non_finite(&j, container, err, err_size);
    if (j.reader_open) afx_reader_close(&j.r);
    if (st != AFX_OK) return st;

    clip->n_samples = (int64_t)j.pos;
    clip->n_channels = j.out_ch;
    clip->sample_rate = j.target;
    clip->source_rate = rate;
    clip->source_channels = ch;
    clip->sample_format = j.s16 ? AFX_SAMPLE_S16 : AFX_SAMPLE_F32;
    if (j.pos > 0) {
        if (j.s16)
            clip->samples_s16 = dec->out.data;
        else
            clip->samples = dec->out.data;
    }
    return AFX_OK;
}

/* A path or a memory buffer, through `dec`; clip borrows dec's memory. */
static afx_status load_with(afx_audio_decoder *dec, const char *path, const void *data, size_t size, const char *name,
                            const afx_audio_options *o, afx_audio_clip *clip, char *err, size_t err_size)
{
    afx_source src;
    afx_status st = check_options(o, name, err, err_size);
    if (st != AFX_OK) return st;
    if (path) {
        st = afx_source_open_path(&src, path, o->max_stream_bytes, &dec->stream, err, err_size);
        if (st != AFX_OK) return st;
    } else {
        if (size == 0) {
            afx_audio_err(err, err_size, "%s: cannot decode: the buffer is empty (0 bytes)", name);
            return AFX_ERR_DECODE;
        }
        afx_source_open_memory(&src, data, (int64_t)size, name);
    }
    st = load_source(dec, &src, o, clip, err, err_size);
    afx_source_close(&src);
    return st;
}

/* ---------------------------------------------------------------------------------------------- */
/* Public entry points                                                                            */
/* ---------------------------------------------------------------------------------------------- */

AFX_API void afx_audio_options_init(afx_audio_options *opts)
{
    if (!opts) return;
    memset(opts, 0, sizeof *opts);
    opts->target_rate = 16000;
    opts->downmix = 1;
    opts->max_samples = 0;
    opts->offset_seconds = 0.0;
    opts->duration_seconds = 0.0;
    opts->max_duration_seconds = 4.0 * 3600.0;
    opts->max_stream_bytes = (int64_t)1 << 30;
    opts->keep_int16 = 0;
    opts->threads = 1;
}

AFX_API void afx_audio_clip_free(afx_audio_clip *clip)
{
    if (!clip) return;
    free(clip->samples);
    free(clip->samples_s16);
    memset(clip, 0, sizeof *clip);
}

static void decoder_release(afx_audio_decoder *dec)
{
    afx_buffer_free(&dec->out);
    afx_buffer_free(&dec->block);
    afx_buffer_free(&dec->stream);
    afx_buffer_free(&dec->ring);
    afx_resampler_free(&dec->rs);
    if (dec->mh) mpg123_delete(dec->mh);
    dec->mh = NULL;
}

/* A one-shot load: a decoder on the stack whose output becomes the clip's own memory. */
static afx_status load_owned(const char *path, const void *data, size_t size, const char *name,
                             const afx_audio_options *o, afx_audio_clip *clip, char *err, size_t err_size)
{
    afx_audio_decoder dec;
    memset(&dec, 0, sizeof dec);
    afx_status st = load_with(&dec, path, data, size, name, o, clip, err, err_size);
    if (st == AFX_OK && clip->n_samples > 0) {
        /* Hand the output over, trimmed to its size (a failed shrink keeps the larger, valid block). */
        const size_t bytes = (size_t)clip->n_samples * (size_t)clip->n_channels *
                             (clip->sample_format == AFX_SAMPLE_S16 ? sizeof(int16_t) : sizeof(float));
        void *p = bytes < dec.out.bytes ? realloc(dec.out.data, bytes) : dec.out.data;
        if (!p) p = dec.out.data;
        if (clip->sample_format == AFX_SAMPLE_S16)
            clip->samples_s16 = p;
        else
            clip->samples = p;
        dec.out.data = NULL;
        dec.out.bytes = 0;
    }
    decoder_release(&dec);
    if (st != AFX_OK) memset(clip, 0, sizeof *clip);
    return st;
}

AFX_API afx_status afx_audio_load_file(const char *path, const afx_audio_options *opts,
                                       afx_audio_clip *clip, char *err, size_t err_size)
{
    if (clip) memset(clip, 0, sizeof *clip);
    if (!path || !opts || !clip) {
        afx_audio_err(err, err_size, "afx_audio_load_file: %s is NULL", !path ? "path" : !opts ? "opts" : "clip");
        return AFX_ERR_NULL_ARGUMENT;
    }
    return load_owned(path, NULL, 0, path, opts, clip, err, err_size);
}

/* Argument checks shared by the two memory loaders. */
static afx_status check_memory_args(const void *data, size_t size, const char *label, const afx_audio_options *opts,
                                    const afx_audio_clip *clip, const char *fn, char *err, size_t err_size)
{
    if (!data || !opts || !clip) {
        afx_audio_err(err, err_size, "%s: %s: %s is NULL", label, fn, !data ? "data" : !opts ? "opts" : "clip");
        return AFX_ERR_NULL_ARGUMENT;
    }
    if ((uint64_t)size > (uint64_t)INT64_MAX) {
        afx_audio_err(err, err_size, "%s: buffer of %zu bytes is too large", label, size);
        return AFX_ERR_INVALID_INPUT;
    }
    return AFX_OK;
}

AFX_API afx_status afx_audio_load_memory(const void *data, size_t size, const char *name,
                                         const afx_audio_options *opts, afx_audio_clip *clip,
                                         char *err, size_t err_size)
{
    const char *label = name ? name : MEMORY_NAME;
    if (clip) memset(clip, 0, sizeof *clip);
    afx_status st = check_memory_args(data, size, label, opts, clip, "afx_audio_load_memory", err, err_size);
    if (st != AFX_OK) return st;
    return load_owned(NULL, data, size, label, opts, clip, err, err_size);
}

/* ---------------------------------------------------------------------------------------------- */
/* Reusable decoder                                                                               */
/* ---------------------------------------------------------------------------------------------- */

AFX_API afx_status afx_audio_decoder_create(afx_audio_decoder **dec, char *err, size_t err_size)
{
    if (!dec) {
        afx_audio_err(err, err_size, "afx_audio_decoder_create: dec is NULL");
        return AFX_ERR_NULL_ARGUMENT;
    }
    *dec = calloc(1, sizeof **dec);
    if (!*dec) return afx_audio_oom("afx_audio_decoder_create", err, err_size);
    return AFX_OK;
}

AFX_API void afx_audio_decoder_free(afx_audio_decoder *dec)
{
    if (!dec) return;
    decoder_release(dec);
    free(dec);
}

AFX_API afx_status afx_audio_decoder_load_file(afx_audio_decoder *dec, const char *path,
                                               const afx_audio_options *opts, afx_audio_clip *clip, char *err,
                                               size_t err_size)
{
    if (clip) memset(clip, 0, sizeof *clip);
    if (!dec || !path || !opts || !clip) {
        afx_audio_err(err, err_size, "afx_audio_decoder_load_file: %s is NULL",
                      !dec ? "dec" : !path ? "path" : !opts ? "opts" : "clip");
        return AFX_ERR_NULL_ARGUMENT;
    }
    const afx_status st = load_with(dec, path, NULL, 0, path, opts, clip, err, err_size);
    if (st != AFX_OK) memset(clip, 0, sizeof *clip);
    return st;
}

AFX_API afx_status afx_audio_decoder_load_memory(afx_audio_decoder *dec, const void *data, size_t size,
                                                 const char *name, const afx_audio_options *opts,
                                                 afx_audio_clip *clip, char *err, size_t err_size)
{
    const char *label = name ? name : MEMORY_NAME;
    if (clip) memset(clip, 0, sizeof *clip);
    if (!dec) {
        afx_audio_err(err, err_size, "%s: afx_audio_decoder_load_memory: dec is NULL", label);
        return AFX_ERR_NULL_ARGUMENT;
    }
    afx_status st = check_memory_args(data, size, label, opts, clip, "afx_audio_decoder_load_memory", err, err_size);
    if (st == AFX_OK) st = load_with(dec, NULL, data, size, label, opts, clip, err, err_size);
    if (st != AFX_OK && clip) memset(clip, 0, sizeof *clip);
    return st;
}
