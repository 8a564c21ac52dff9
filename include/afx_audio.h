/*
 * afx_audio.h: decode audio files and in-memory buffers and resample them (libsoxr).
 *
 *     afx_audio_options o;
 *     afx_audio_options_init(&o);          // downmix to mono, resample to 16000 Hz (soxr HQ)
 *     afx_audio_clip clip;
 *     char err[AFX_ERROR_MAX];
 *     if (afx_audio_load_file("speech.flac", &o, &clip, err, sizeof err) != AFX_OK) { ...err... }
 *     ... clip.samples[0 .. clip.n_samples * clip.n_channels) ...
 *     afx_audio_clip_free(&clip);
 *
 * Formats
 * -------
 * Only these containers are decoded (the allow-list; the first bytes decide, not the file name):
 *   WAV (RIFF/RIFX, WAVE_FORMAT_EXTENSIBLE), RF64, Sony Wave64, AIFF/AIFF-C, Sun/NeXT AU, CAF,
 *   FLAC, Ogg Vorbis, Ogg Opus (libsndfile), and MPEG audio layer I/II/III, i.e. MP2/MP3, with or
 *   without ID3v2 tags (libmpg123).
 * Inside them: 8/16/24/32-bit PCM, 32/64-bit float, u-law, A-law, IMA/MS ADPCM, GSM 6.10, G.721/723
 * and the other codecs libsndfile reads, except ALAC (CAF) and MPEG audio wrapped in WAV. Everything
 * else (raw PCM, SDS, PAF, NIST, VOC, IRCAM, MAT, XI, HTK, SD2, AVR, WVE, AAC/ADTS, WMA, ...) is
 * refused with AFX_ERR_DECODE naming the container. The refused readers are those that can write
 * to stdout on corrupt input (libsndfile's SDS and ALAC code calls printf); with the allow-list, and
 * libmpg123 run in its quiet mode, nothing reaches stdout or stderr from this module.
 * Samples come out as float32 in [-1, 1] (libsndfile's normalization: int16 v -> v / 32768; float
 * files keep their values, which may exceed 1), or as int16 with keep_int16 (see below).
 *
 * Pipeline (librosa.load(path, sr=target, mono=True, offset, duration), res_type "soxr_hq")
 * --------
 * 1. offset/duration select source frames: skip trunc(offset * rate), keep at most
 *    trunc(duration * rate) (librosa's int(); it seeks, so does afx).
 * 2. downmix: the float32 mean of the channels.
 * 3. resample with libsoxr's SOXR_HQ recipe; the output has ceil(n * target / rate) samples (zeros
 *    appended when libsoxr's rounding falls short, as librosa's fix_length does).
 * Long files are streamed: blocks are decoded, downmixed and resampled straight into the output, so
 * the memory held is the output plus a few hundred KB (not the whole decoded file).
 *
 * Limits (each refusal names the input, the value and the limit)
 * ------
 * - max_duration_seconds (default 4 h): from the header before anything is decoded, and while
 *   decoding when the header does not say -> AFX_ERR_EXCEEDS_PLAN.
 * - max_samples: the same for the length after resampling (samples per channel).
 * - Resampling rule: a source rate below AFX_AUDIO_RESAMPLE_MIN_RATE (1000 Hz) cannot be
 *   resampled, and the target may be at most AFX_AUDIO_RESAMPLE_MAX_RATIO (256) times the source
 *   rate (a 32 KB WAV whose header says 1 Hz would otherwise become gigabytes) -> AFX_ERR_INVALID_INPUT.
 *   Keeping the file's rate (target_rate 0, or equal rates) is never refused by this rule.
 * - max_stream_bytes (default 1 GiB): a non-seekable input is read into memory first, at most this.
 *
 * Inputs
 * ------
 * A path is opened once (open(2)) and decoded from that descriptor. A regular file is read in place
 * (seeking as the decoder needs); a non-seekable input (a FIFO, a pipe such as /dev/stdin or
 * /dev/fd/N, a character device) is read whole into memory, up to max_stream_bytes, and decoded
 * from there. Opening a FIFO blocks until a writer opens it, as open(2) does.
 *
 * Errors
 * ------
 * Every message names the input (the path, or "<memory>" / the caller's name for buffers) and the
 * problem. A clip whose returned samples are not all finite is refused (AFX_ERR_INVALID_INPUT): a
 * NaN or Inf in the file is reported with its frame index (from the start of the file) and channel;
 * finite samples too large for float32 arithmetic (e.g. 3e38, which libsoxr's filter overflows) are
 * reported as such with the largest magnitude. An empty (0-sample) file is not an error: it gives
 * n_samples = 0. An offset past the end of the file is AFX_ERR_INVALID_PARAM (soundfile's seek, which
 * librosa.load uses, refuses it too); an offset at the very end gives an empty clip.
 *
 * Argument errors: NULL path/data/opts/clip -> AFX_ERR_NULL_ARGUMENT; an out-of-range option field
 * or rate -> AFX_ERR_INVALID_PARAM; a negative sample count or bad channel count given to
 * afx_audio_resample -> AFX_ERR_INVALID_INPUT. afx_audio_resample of 0 samples gives *out == NULL.
 *
 * Limits of detection: a WAV/AIFF whose data chunk is cut short is reported as truncated
 * (AFX_ERR_DECODE), and so is a compressed file that decodes to fewer frames than its header
 * states; a cut Ogg stream decodes what is there without an error.
 *
 * Thread safety: all functions are thread-safe (one afx_audio_decoder per thread). libsndfile's
 * header parsing is serialized internally (it keeps the reason for a failed open in process-wide
 * state); decoding and resampling run in parallel.
 */
#ifndef AFX_AUDIO_H
#define AFX_AUDIO_H

#include "afx.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The lowest source rate (Hz) afx resamples from; lower rates are refused when resampling. */
#define AFX_AUDIO_RESAMPLE_MIN_RATE 1000
/** The largest upsampling factor (target_rate / source rate) afx accepts. */
#define AFX_AUDIO_RESAMPLE_MAX_RATIO 256

typedef struct afx_audio_options {
    int target_rate;   /**< resample to this rate in Hz; 0 keeps the file's rate | default 16000 | 0 or 1000..1000000 */
    int downmix;       /**< 1: average channels to mono (before resampling)       | default 1     | 0/1 */
    int64_t max_samples; /**< refuse a clip longer than this (per channel, after resampling); 0 = no limit | default 0 | >= 0 */
    double offset_seconds;   /**< start this far into the file: librosa.load's offset, the first
                                  trunc(offset * rate) source frames are skipped (by seeking)    | default 0 | >= 0, finite */
    double duration_seconds; /**< read at most this much from the offset: librosa.load's duration,
                                  trunc(duration * rate) source frames; 0 = to the end (librosa's
                                  None; librosa's 0 would read nothing)                          | default 0 | >= 0, finite */
    double max_duration_seconds; /**< refuse a clip whose decoded span (from the offset, at most
                                  duration_seconds) is longer than this, in seconds of source audio;
                                  checked from the header before decoding, and while decoding when
                                  the header does not say; 0 = no limit              | default 14400 (4 h) | >= 0, finite */
    int64_t max_stream_bytes; /**< the most bytes read from a non-seekable input (pipe, FIFO, device),
                                  which is held in memory while it is decoded; 0 = no limit
                                  (afx_audio_load_memory is not concerned)           | default 2^30 (1 GiB) | >= 0 */
    int keep_int16;    /**< 1: a 16-bit PCM source (WAV, AIFF, FLAC, ... whose samples are 16-bit) that
                            needs no resampling is returned as int16 in samples_s16, with all its channels
                            (downmix is not applied: hand the clip to afx_input as AFX_SAMPLE_S16 with
                            n_channels = clip.n_channels, which averages them; features are bit-identical
                            to the float path for up to 64 channels). Other sources come back as float
                            as usual. Saves half the memory and the conversion.   | default 0 | 0/1 */
    int threads;       /**< 2: a window of at least 30 s of source audio that is resampled is decoded and
                            downmixed by a helper thread while the calling thread resamples it (the same
                            samples; the helper exists only during that load); 0 or 1: all on the calling
                            thread. `afx extract` uses 2 when it has more than one job. | default 1 | 0..2 */
} afx_audio_options;

/**
 * A decoded clip. Owns its samples (free with afx_audio_clip_free), except a clip filled by an
 * afx_audio_decoder, which borrows the decoder's memory (see below). Exactly one of `samples` and
 * `samples_s16` is set when n_samples > 0, as `sample_format` says; both are NULL when n_samples == 0.
 */
typedef struct afx_audio_clip {
    float *samples;      /**< AFX_SAMPLE_F32: n_samples * n_channels interleaved float32, else NULL */
    int64_t n_samples;   /**< samples per channel */
    int n_channels;      /**< 1 after downmix (float path); the file's channels for int16 */
    int sample_rate;     /**< Hz, after resampling */
    int source_rate;     /**< Hz, as stored in the file */
    int source_channels; /**< channels as stored in the file */
    afx_sample_format sample_format; /**< AFX_SAMPLE_F32 (samples) or AFX_SAMPLE_S16 (samples_s16, keep_int16) */
    int16_t *samples_s16; /**< AFX_SAMPLE_S16: n_samples * n_channels interleaved int16 exactly as stored
                               in the file (v / 32768 is the float path's sample), else NULL */
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
 * ceil(n_samples * out_rate / in_rate) samples per channel, allocated with malloc (free()). The
 * output is not checked for finiteness (the loaders check theirs).
 */
AFX_API afx_status afx_audio_resample(const float *in, int64_t n_samples, int n_channels, int in_rate,
                                      int out_rate, float **out, int64_t *out_samples, char *err,
                                      size_t err_size);

/** Frees the samples of a clip and zeroes it. NULL is a no-op. */
AFX_API void afx_audio_clip_free(afx_audio_clip *clip);

/**
 * A reusable decoder, for loading many files from one thread: it keeps its buffers between calls
 * (the output, the decode block, the memory copy of a pipe), its libsoxr resampler (reset with
 * soxr_clear when the rates and channels repeat) and its libmpg123 handle, so a corpus loop does
 * not allocate per clip. One decoder per thread; decoders are independent. The clip a load fills
 * BORROWS the decoder's memory: clip->samples / samples_s16 stay valid until the next load on the
 * same decoder or afx_audio_decoder_free, and must not be given to afx_audio_clip_free.
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
