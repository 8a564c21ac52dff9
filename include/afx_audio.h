/*
 * afx_audio.h: decode audio files and in-memory buffers (libsndfile) and resample them (libsoxr).
 *
 *     afx_audio_options o;
 *     afx_audio_options_init(&o);          // downmix to mono, resample to 16000 Hz (soxr HQ)
 *     afx_audio_clip clip;
 *     char err[AFX_ERROR_MAX];
 *     if (afx_audio_load_file("speech.flac", &o, &clip, err, sizeof err) != AFX_OK) { ...err... }
 *     ... clip.samples[0 .. clip.n_samples * clip.n_channels) ...
 *     afx_audio_clip_free(&clip);
 *
 * Formats: whatever the linked libsndfile decodes: WAV (8/16/24/32-bit PCM, float, u-law, A-law), FLAC,
 * Ogg Vorbis, Opus, MP3 (libsndfile >= 1.1), AIFF, ... Samples come out as float32 in [-1, 1]
 * (libsndfile's normalization: int16 v -> v / 32768).
 *
 * Resampling follows librosa.load(sr=target, mono=True) with res_type 'soxr_hq': downmix first (mean
 * of channels), then libsoxr with the SOXR_HQ recipe; the output has ceil(n * target / rate) samples.
 *
 * Errors: every message names the input (the path, or "<memory>" / the caller's name for buffers)
 * and the problem. A clip with a NaN or Inf sample is refused (AFX_ERR_INVALID_INPUT). An empty
 * (0-sample) file is not an error: it gives n_samples = 0.
 *
 * Argument errors: NULL path/data/opts/clip -> AFX_ERR_NULL_ARGUMENT; an out-of-range option field
 * or rate -> AFX_ERR_INVALID_PARAM; a negative sample count or bad channel count given to
 * afx_audio_resample -> AFX_ERR_INVALID_INPUT. afx_audio_resample of 0 samples gives *out == NULL.
 * NaN/Inf messages give the sample index per channel and the channel.
 *
 * Limits of detection (libsndfile's): a WAV/AIFF whose data chunk is cut short is reported as
 * truncated (AFX_ERR_DECODE); a cut Ogg stream decodes what is there without an error; a corrupt MP3
 * may make libmpg123 print a warning on stderr from inside libsndfile.
 *
 * Thread safety: all functions are thread-safe. Opening a file is serialized internally (libsndfile
 * keeps the reason for a failed open in process-wide state); decoding and resampling run in parallel.
 */
#ifndef AFX_AUDIO_H
#define AFX_AUDIO_H

#include "afx.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct afx_audio_options {
    int target_rate;   /**< resample to this rate in Hz; 0 keeps the file's rate | default 16000 | 0 or 1000..1000000 */
    int downmix;       /**< 1: average channels to mono (before resampling)       | default 1     | 0/1 */
    int64_t max_samples; /**< refuse a clip longer than this (per channel, after resampling); 0 = no limit | default 0 */
    double offset_seconds;   /**< start reading this far into the file (librosa.load's offset: the first
                                  round(offset * rate) source samples are skipped) | default 0 | >= 0, finite */
    double duration_seconds; /**< read at most this much from the offset (librosa.load's duration:
                                  round(duration * rate) source samples); 0 = to the end | default 0 | >= 0, finite */
} afx_audio_options;

/** A decoded clip. Owns `samples` (free with afx_audio_clip_free). */
typedef struct afx_audio_clip {
    float *samples;      /**< n_samples * n_channels interleaved float32 (NULL when n_samples == 0) */
    int64_t n_samples;   /**< samples per channel */
    int n_channels;      /**< 1 after downmix */
    int sample_rate;     /**< Hz, after resampling */
    int source_rate;     /**< Hz, as stored in the file */
    int source_channels; /**< channels as stored in the file */
} afx_audio_clip;

/** Fills `opts` with the defaults above. NULL is ignored. */
AFX_API void afx_audio_options_init(afx_audio_options *opts);

/** Decodes (and resamples) a file. On failure `clip` is zeroed and `err` names the file and reason. */
AFX_API afx_status afx_audio_load_file(const char *path, const afx_audio_options *opts,
                                       afx_audio_clip *clip, char *err, size_t err_size);

/**
 * Same for an encoded file held in memory (the bytes of a .wav/.flac/...). `name` is used in messages
 * (NULL gives "<memory>"). The buffer is only read during the call.
 */
AFX_API afx_status afx_audio_load_memory(const void *data, size_t size, const char *name,
                                         const afx_audio_options *opts, afx_audio_clip *clip,
                                         char *err, size_t err_size);

/**
 * Resamples interleaved float32 audio with soxr HQ (the same path as the loaders). *out gets
 * ceil(n_samples * out_rate / in_rate) samples per channel, allocated with malloc (free()).
 */
AFX_API afx_status afx_audio_resample(const float *in, int64_t n_samples, int n_channels, int in_rate,
                                      int out_rate, float **out, int64_t *out_samples, char *err,
                                      size_t err_size);

/** Frees the samples of a clip and zeroes it. NULL is a no-op. */
AFX_API void afx_audio_clip_free(afx_audio_clip *clip);

/**
 * A reusable decoder, for loading many files from one thread: it keeps its buffers (and resampler state)
 * between calls, so a corpus loop does not allocate per clip. One decoder per thread; decoders are
 * independent. The clip a load fills BORROWS the decoder's memory: clip->samples stays valid until the
 * next load on the same decoder or afx_audio_decoder_free, and must not be given to afx_audio_clip_free.
 * Results (samples, errors) are exactly those of afx_audio_load_file / afx_audio_load_memory.
 */
typedef struct afx_audio_decoder_s afx_audio_decoder;

/** Makes a decoder. *dec is NULL on failure (AFX_ERR_OUT_OF_MEMORY / AFX_ERR_NULL_ARGUMENT). */
AFX_API afx_status afx_audio_decoder_create(afx_audio_decoder **dec, char *err, size_t err_size);
/** Frees a decoder and its buffers. NULL is a no-op. */
AFX_API void afx_audio_decoder_free(afx_audio_decoder *dec);
/** afx_audio_load_file through the decoder's buffers (clip borrows them, see above). */
AFX_API afx_status afx_audio_decoder_load_file(afx_audio_decoder *dec, const char *path,
                                               const afx_audio_options *opts, afx_audio_clip *clip, char *err,
                                               size_t err_size);
/** afx_audio_load_memory through the decoder's buffers (clip borrows them, see above). */
AFX_API afx_status afx_audio_decoder_load_memory(afx_audio_decoder *dec, const void *data, size_t size,
                                                 const char *name, const afx_audio_options *opts,
                                                 afx_audio_clip *clip, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif
#endif /* AFX_AUDIO_H */
