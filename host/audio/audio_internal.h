/*
 * audio_internal.h: the pieces of the audio module (include/afx_audio.h) and how they fit.
 *
 *   source.c           the bytes of one input: a regular file read in place through its descriptor, or
 *                      memory (a caller's buffer, or a pipe/FIFO/device read whole into a buffer)
 *   container.c        the allow-list: which container the first bytes announce, refused or accepted
 *   reader.c           one interface over the two decoders below
 *   reader_sndfile.c   frames from WAV/RF64/W64/AIFF/AU/CAF/FLAC/Ogg through libsndfile's virtual I/O
 *   reader_mpeg.c      frames from MPEG audio through libmpg123 (quiet mode)
 *   resample.c         libsoxr, streamed in blocks (python-soxr's recipe), and afx_audio_resample
 *   load.c             the pipeline (offset, limits, decode -> downmix -> resample into the output,
 *                      one finiteness scan), the public loaders and the reusable decoder
 *   util.c             messages, checked size arithmetic, growable buffers
 */
#ifndef AFX_AUDIO_INTERNAL_H
#define AFX_AUDIO_INTERNAL_H

#include "afx_audio.h"

#include <stddef.h>
#include <stdint.h>

#include <mpg123.h>
#include <sndfile.h>
#include <soxr.h>

#if defined(__GNUC__)
#define AFX_PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define AFX_PRINTF_LIKE(f, a)
#endif

/* ---- util.c ---------------------------------------------------------------------------------- */

/** snprintf into err (NULL or size 0: nothing). */
void afx_audio_err(char *err, size_t err_size, const char *fmt, ...) AFX_PRINTF_LIKE(3, 4);
/** The system's text for an errno value (thread-safe). */
void afx_audio_errno_text(int code, char *buf, size_t size);
/** "<name>: out of memory", AFX_ERR_OUT_OF_MEMORY. */
afx_status afx_audio_oom(const char *name, char *err, size_t err_size);
/** a * b * elem bytes into *out; 0 when that would exceed PTRDIFF_MAX. */
int afx_audio_bytes_for(size_t a, size_t b, size_t elem, size_t *out);
/** Exact ceil(n * num / den) for n >= 0, num, den > 0; 0 on int64 overflow. */
int afx_audio_ceil_scaled(int64_t n, int num, int den, int64_t *out);

/** A growable heap block (never shrinks until freed). */
typedef struct afx_buffer {
    void *data;
    size_t bytes;
} afx_buffer;

/** Makes buf hold at least `bytes` (contents kept); 0 when out of memory (buf unchanged). */
int afx_buffer_reserve(afx_buffer *buf, size_t bytes);
void afx_buffer_free(afx_buffer *buf);

/* ---- source.c -------------------------------------------------------------------------------- */

/** The bytes of one input, read sequentially or at offsets. */
typedef struct afx_source {
    const char *name;          /* used in every message */
    int fd;                    /* a regular file read with pread, or -1 for memory */
    const unsigned char *data; /* memory: the caller's buffer or the stream copy */
    int64_t size;              /* bytes */
    int64_t pos;               /* the sequential position (read/seek/tell) */
    int read_errno;            /* the first read error of the descriptor (0: none) */
} afx_source;

/**
 * Opens `path` once. A regular file is read in place; anything else that is not a directory is read
 * whole into `stream` (at most max_stream_bytes, 0 = no limit). Errors: AFX_ERR_IO (cannot open or
 * read, a directory), AFX_ERR_DECODE (0 bytes), AFX_ERR_EXCEEDS_PLAN (stream too long).
 */
afx_status afx_source_open_path(afx_source *src, const char *path, int64_t max_stream_bytes,
                                afx_buffer *stream, char *err, size_t err_size);
/** A caller's buffer (never empty: the loader refuses 0 bytes first). */
void afx_source_open_memory(afx_source *src, const void *data, int64_t size, const char *name);
/** Reads up to n bytes at the position and advances it; the count read (0 at the end, -1 on error). */
int64_t afx_source_read(afx_source *src, void *buf, int64_t n);
/** Reads up to n bytes at `offset` without moving the position; the count read, -1 on error. */
int64_t afx_source_pread(afx_source *src, int64_t offset, void *buf, int64_t n);
/** lseek semantics within [0, size]; the new position or -1. */
int64_t afx_source_seek(afx_source *src, int64_t offset, int whence);
/** Closes the descriptor (if any). Safe to call twice. */
void afx_source_close(afx_source *src);
/** AFX_ERR_IO naming the read error when the descriptor failed during decoding, else AFX_OK. */
afx_status afx_source_check_io(const afx_source *src, char *err, size_t err_size);

/* ---- container.c ----------------------------------------------------------------------------- */

typedef enum afx_container {
    AFX_CONTAINER_WAV = 1, /* RIFF/RIFX WAVE, incl. WAVE_FORMAT_EXTENSIBLE */
    AFX_CONTAINER_RF64,
    AFX_CONTAINER_W64,
    AFX_CONTAINER_AIFF,    /* AIFF and AIFF-C */
    AFX_CONTAINER_AU,
    AFX_CONTAINER_CAF,
    AFX_CONTAINER_FLAC,
    AFX_CONTAINER_OGG,
    AFX_CONTAINER_MPEG     /* MPEG-1/2/2.5 audio layer I/II/III, optionally after ID3v2 tags */
} afx_container;

/**
 * Decides from the first bytes which container `src` holds. AFX_OK with *out set for an allowed one;
 * AFX_ERR_DECODE with a message naming what was found (a refused container, a refused codec inside
 * an allowed one, or an unknown header) otherwise.
 */
afx_status afx_container_sniff(afx_source *src, afx_container *out, char *err, size_t err_size);
/** "WAV", "FLAC", ... */
const char *afx_container_name(afx_container c);
/** The libsndfile major format (SF_FORMAT_WAV, ...) a sniffed container must open as, or 0 (MPEG). */
int afx_container_sf_major(afx_container c);

/* ---- readers (reader_sndfile.c, reader_mpeg.c) ----------------------------------------------- */

/** A decoder of one open input, producing interleaved frames. */
typedef struct afx_reader {
    int rate;         /* Hz, > 0 */
    int channels;     /* 1 .. 65536 */
    int64_t frames;   /* frames the header states, or -1 when it does not say */
    int pcm16;        /* 1: the samples are 16-bit PCM, read_s16 gives them exactly */
    char format[96];  /* e.g. "WAV (16-bit PCM)", for messages */
    afx_source *src;
    /* libsndfile */
    SNDFILE *sf;
    SF_INFO sfinfo;
    /* libmpg123 */
    mpg123_handle *mh;
    mpg123_handle **mh_cache; /* where the handle goes back on close (a decoder's), or NULL */
    int64_t mpeg_pos;  /* frames returned so far (libsndfile's read_current) */
    int mpeg_error;    /* the mpg123 error that stopped decoding (MPG123_OK: none) */
} afx_reader;

/** Opens src as `container`. On failure the reader holds nothing and err names the problem. */
afx_status afx_reader_open(afx_reader *r, afx_source *src, afx_container container, mpg123_handle **mh_cache,
                           char *err, size_t err_size);
/** Reads up to n frames as float32 (libsndfile's normalization); the frames read, 0 at the end. */
int64_t afx_reader_read_f32(afx_reader *r, float *buf, int64_t n);
/** Same as int16 (only when pcm16). */
int64_t afx_reader_read_s16(afx_reader *r, int16_t *buf, int64_t n);
/** Seeks to frame `frame` from the start; 0 on success, -1 when the decoder cannot. */
int afx_reader_seek(afx_reader *r, int64_t frame);
/**
 * After reading stopped at frame `end` (absolute): a decoder error, or (when `to_end`) fewer frames
 * than the header promised, is AFX_ERR_DECODE ("truncated"). `to_end`: the caller read until the
 * decoder had nothing more, not until a duration was reached.
 */
afx_status afx_reader_check_end(afx_reader *r, int64_t end, int to_end, char *err, size_t err_size);
/** Releases the decoder (a cached mpg123 handle is closed, not deleted). */
void afx_reader_close(afx_reader *r);

/* The two implementations behind afx_reader_* (reader.c dispatches on r->mh / r->sf). */
afx_status afx_sndfile_open(afx_reader *r, afx_source *src, afx_container container, char *err, size_t err_size);
int64_t afx_sndfile_read_f32(afx_reader *r, float *buf, int64_t n);
int64_t afx_sndfile_read_s16(afx_reader *r, int16_t *buf, int64_t n);
int afx_sndfile_seek(afx_reader *r, int64_t frame);
afx_status afx_sndfile_check_end(afx_reader *r, int64_t end, int to_end, char *err, size_t err_size);
void afx_sndfile_close(afx_reader *r);
afx_status afx_mpeg_open(afx_reader *r, afx_source *src, mpg123_handle **mh_cache, char *err, size_t err_size);
int64_t afx_mpeg_read_f32(afx_reader *r, float *buf, int64_t n);
int afx_mpeg_seek(afx_reader *r, int64_t frame);
afx_status afx_mpeg_check_end(afx_reader *r, int64_t end, int to_end, char *err, size_t err_size);
void afx_mpeg_close(afx_reader *r);

/* ---- resample.c ------------------------------------------------------------------------------ */

/** A libsoxr SOXR_HQ resampler kept across clips of the same rates and channel count. */
typedef struct afx_resampler {
    soxr_t soxr;
    double in_rate, out_rate;
    unsigned channels;
    int used;   /* 1 after data went through: soxr_clear before the next clip */
} afx_resampler;

/** Readies rs for a new clip (creates, or clears and reuses, the libsoxr state); NULL or a libsoxr message. */
const char *afx_resampler_begin(afx_resampler *rs, int in_rate, int out_rate, int channels);
/**
 * libsoxr 0.1.3 reads one pointer per channel at the output address it is given, even for interleaved
 * output (soxr.c, soxr_output_no_callback: ((soxr_bufs_t)out)[i] for every channel, used only for
 * split buffers): 8 bytes a channel, i.e. two float frames, past the last frame it may write. So the
 * last AFX_RESAMPLE_SPARE_FRAMES frames of every output buffer are never written (afx_resampler_push)
 * and are counted in afx_resample_capacity; without them libsoxr read past a full buffer's allocation
 * (a crash when that was the end of a mapping).
 */
#define AFX_RESAMPLE_SPARE_FRAMES 2
/**
 * Feeds n input frames and writes what libsoxr produces into out[*pos .. room - AFX_RESAMPLE_SPARE_FRAMES)
 * (frames; out holds `room` frames), advancing *pos; n == 0 flushes. NULL or a libsoxr message.
 */
const char *afx_resampler_push(afx_resampler *rs, const float *in, size_t n, float *out, size_t room, size_t *pos);
void afx_resampler_free(afx_resampler *rs);
/**
 * Frames of output room for n input frames: python-soxr's capacity ((size_t)(n * out / in) + 1), or
 * the final length ceil(n * out / in) when larger (libsoxr never produces more than the first), plus
 * AFX_RESAMPLE_SPARE_FRAMES.
 */
size_t afx_resample_capacity(int64_t n, int in_rate, int out_rate, int64_t final_length);

#endif /* AFX_AUDIO_INTERNAL_H */
