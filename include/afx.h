/*
 * afx.h: audio feature extraction (spectrogram, mel, log-mel, dB, MFCC) on CPU and NVIDIA GPUs.
 *
 * Usage
 * -----
 *     afx_params p;
 *     afx_params_init(&p);                 // documented defaults (16 kHz speech log-mel)
 *     p.feature = AFX_FEATURE_MFCC;        // change what you need
 *     p.max_batch = 8; p.max_samples = 16000 * 30;
 *
 *     char err[AFX_ERROR_MAX];
 *     afx_plan *plan = NULL;
 *     if (afx_plan_create(&p, &plan, err, sizeof err) != AFX_OK) { fprintf(stderr, "%s\n", err); ... }
 *
 *     const float *clips[2] = { a, b };    // mono float32, any lengths
 *     int64_t lengths[2] = { n_a, n_b };   // samples per channel
 *     afx_input in = { .format = AFX_SAMPLE_F32, .n_channels = 1,
 *                      .clips = (const void *const *)clips, .lengths = lengths, .n_clips = 2 };
 *     int64_t max_frames = 0;
 *     afx_plan_output_shape(plan, &in, NULL, &max_frames);
 *     float *out = malloc(sizeof(float) * afx_plan_output_size(plan, 2, max_frames));
 *     int64_t n_frames[2];
 *     afx_output o = { .data = out, .frames_stride = max_frames, .n_frames = n_frames };
 *     if (afx_plan_execute(plan, &in, &o) != AFX_OK) fprintf(stderr, "%s\n", afx_plan_error(plan));
 *     afx_plan_free(plan);
 *
 * API conventions
 * ---------------
 * - Lengths count samples per channel ("frames" in libsndfile's sense); "frames" in this header always
 *   means analysis frames (STFT columns).
 * - Frequencies are in Hz, times in samples. Sample rates are integers in Hz.
 * - Every function that can fail returns an afx_status; AFX_OK (0) is success. No function aborts,
 *   exits, or prints.
 * - A NULL `err` buffer means "no message wanted". Messages are NUL-terminated and truncated to the buffer.
 * - afx_*_free(NULL) is a no-op.
 *
 * Thread safety
 * -------------
 * - There is no global mutable state, except that the CUDA module (libafx_cuda.so) is loaded at most once per
 *   process, under pthread_once, the first time a plan asks for backend cuda or auto or
 *   afx_cuda_device_count() is called. Functions that take no plan are thread-safe.
 * - A plan is not thread-safe: use one plan per thread (plans are independent). The functions taking a
 *   const plan (afx_plan_n_features, afx_plan_frames_for_length, afx_plan_output_size,
 *   afx_plan_backend, afx_plan_params) may run concurrently with each other but not with a call that
 *   takes a non-const plan (afx_plan_output_shape, afx_plan_execute), which writes the plan's message
 *   buffer. afx_plan_error() reads that buffer; the next such call on the plan overwrites it.
 *
 * - A CPU plan with cpu_threads != 1 owns a pool of threads, started by afx_plan_create and joined by
 *   afx_plan_free; they sleep between calls and only ever work for that plan's calls. In a child made by
 *   fork() afterwards (a data-loader worker), the plan still works, on the calling thread alone.
 *
 * Determinism
 * -----------
 * - The CPU backend is bit-exact run to run for the same inputs, parameters and build, whatever cpu_threads
 *   and however the clips are batched (a clip's statistics never depend on the other clips).
 * - Dither noise and SpecAugment masks come from a counter-based generator keyed by
 *   (seed, global clip index, ...), so they do not depend on batch composition or backend.
 */
#ifndef AFX_H
#define AFX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(AFX_SHARED_BUILD)
#define AFX_API __declspec(dllexport)
#elif defined(__GNUC__) && __GNUC__ >= 4
#define AFX_API __attribute__((visibility("default")))
#else
#define AFX_API
#endif

/* ---------------------------------------------------------------------------------------------- */
/* Version                                                                                        */
/* ---------------------------------------------------------------------------------------------- */
#define AFX_VERSION_MAJOR 0
#define AFX_VERSION_MINOR 1
#define AFX_VERSION_PATCH 0
#define AFX_VERSION_NUMBER (AFX_VERSION_MAJOR * 10000 + AFX_VERSION_MINOR * 100 + AFX_VERSION_PATCH)
#define AFX_STR_(x) #x
#define AFX_STR(x) AFX_STR_(x)
#define AFX_VERSION_STRING AFX_STR(AFX_VERSION_MAJOR) "." AFX_STR(AFX_VERSION_MINOR) "." AFX_STR(AFX_VERSION_PATCH)

/** Run-time version of the library actually linked: AFX_VERSION_NUMBER of the build. */
AFX_API unsigned afx_version_number(void);
/** Run-time version string, e.g. "0.1.0". Static storage; never NULL. */
AFX_API const char *afx_version_string(void);

/* ---------------------------------------------------------------------------------------------- */
/* Errors                                                                                         */
/* ---------------------------------------------------------------------------------------------- */
/** Status codes. Values are stable: new codes are only ever appended. */
typedef enum afx_status {
    AFX_OK = 0,
    AFX_ERR_NULL_ARGUMENT = 1,       /**< a required pointer argument was NULL */
    AFX_ERR_INVALID_PARAM = 2,       /**< a field of afx_params is out of range or inconsistent */
    AFX_ERR_INVALID_INPUT = 3,       /**< input data refused: NaN/Inf sample, negative length, bad channel count */
    AFX_ERR_OUT_OF_MEMORY = 4,       /**< host (or, later, device) allocation failed */
    AFX_ERR_BACKEND_UNAVAILABLE = 5, /**< the requested backend is not built in or no device is present */
    AFX_ERR_EXCEEDS_PLAN = 6,        /**< batch larger than max_batch, clip longer than max_samples, or output stride too small */
    AFX_ERR_IO = 7,                  /**< a file could not be opened or read */
    AFX_ERR_DECODE = 8,              /**< a file or buffer is not in a supported format, or is corrupt */
    AFX_ERR_RESAMPLE = 9,            /**< the resampler failed */
    AFX_ERR_INTERNAL = 10,           /**< a library that afx calls failed (FFT, CUDA, ...); the message names it */
    AFX_STATUS_COUNT_                /**< not a status: one past the last value */
} afx_status;

/** Maximum length, including the NUL, of any message afx writes. */
#define AFX_ERROR_MAX 512

/** Stable name of a status, e.g. "AFX_ERR_INVALID_PARAM". Unknown values give "AFX_ERR_UNKNOWN". */
AFX_API const char *afx_status_name(afx_status status);
/** One-line English description of a status. Static storage; never NULL. */
AFX_API const char *afx_status_string(afx_status status);

/* ---------------------------------------------------------------------------------------------- */
/* Parameters                                                                                     */
/* ---------------------------------------------------------------------------------------------- */
typedef enum afx_backend {
    AFX_BACKEND_CPU = 0,  /**< reference implementation, always built */
    AFX_BACKEND_CUDA = 1, /**< NVIDIA GPU; AFX_ERR_BACKEND_UNAVAILABLE in a build without it */
    AFX_BACKEND_AUTO = 2  /**< CUDA when the CUDA module loads and a device is present, else CPU */
} afx_backend;

typedef enum afx_feature {
    AFX_FEATURE_SPECTROGRAM = 0, /**< |STFT|^power, n_fft/2+1 bins */
    AFX_FEATURE_MEL = 1,         /**< mel filterbank applied to the spectrogram, n_mels bins */
    AFX_FEATURE_LOGMEL = 2,      /**< log(max(mel + log_offset, log_floor)), base from log_base */
    AFX_FEATURE_DB = 3,          /**< db_multiplier*log10(max(mel, amin)) - ref term, top_db per clip */
    AFX_FEATURE_MFCC = 4         /**< DCT-II (ortho) of the log mel from mfcc_log; n_mfcc coefficients */
} afx_feature;

typedef enum afx_window {
    AFX_WINDOW_HANN = 0,       /**< 0.5 - 0.5 cos(2 pi n / M) */
    AFX_WINDOW_HAMMING = 1,    /**< 0.54 - 0.46 cos(2 pi n / M) */
    AFX_WINDOW_POVEY = 2,      /**< Kaldi: (0.5 - 0.5 cos(2 pi n / M))^0.85 */
    AFX_WINDOW_BLACKMAN = 3,   /**< 0.42 - 0.5 cos(2 pi n / M) + 0.08 cos(4 pi n / M) */
    AFX_WINDOW_RECTANGULAR = 4 /**< all ones */
} afx_window; /* M = win_length for periodic windows, win_length - 1 for symmetric ones */

typedef enum afx_pad_mode {
    AFX_PAD_REFLECT = 0,  /**< numpy 'reflect': x[-1] = x[1] (edge not repeated); a clip shorter than the
                               padding keeps reflecting, as numpy.pad does (torch refuses such clips) */
    AFX_PAD_CONSTANT = 1  /**< zeros */
} afx_pad_mode;

typedef enum afx_mel_scale {
    AFX_MEL_HTK = 0,     /**< 2595 log10(1 + f/700); triangles in Hz (torchaudio default) */
    AFX_MEL_SLANEY = 1,  /**< linear below 1 kHz, log above (librosa default); triangles in Hz */
    AFX_MEL_KALDI = 2    /**< 1127 ln(1 + f/700); triangles in mel (Kaldi MelBanks) */
} afx_mel_scale;

typedef enum afx_mel_norm {
    AFX_MEL_NORM_NONE = 0,  /**< triangles peak at 1 */
    AFX_MEL_NORM_SLANEY = 1 /**< each triangle scaled by 2 / (f_right - f_left) (constant area) */
} afx_mel_norm;

typedef enum afx_log_type {
    AFX_LOG_LN = 0,    /**< natural log */
    AFX_LOG_LOG10 = 1, /**< base-10 log */
    AFX_LOG_DB = 2     /**< decibels, as AFX_FEATURE_DB (only meaningful for mfcc_log) */
} afx_log_type;

typedef enum afx_normalize {
    AFX_NORM_NONE = 0,
    AFX_NORM_UTTERANCE = 1, /**< one mean (and std) over all valid elements of a clip */
    AFX_NORM_FEATURE = 2,   /**< per feature over the clip's valid frames (CMVN) */
    AFX_NORM_MINMAX = 3     /**< (x - min) / (max - min) over the clip, into [0, 1]; 0 if max == min */
} afx_normalize;

typedef enum afx_mask_value {
    AFX_MASK_ZERO = 0, /**< masked elements become 0 */
    AFX_MASK_MEAN = 1  /**< masked elements become the clip's mean (over valid frames, before masking) */
} afx_mask_value;

typedef enum afx_pooling {
    AFX_POOL_NONE = 0,
    AFX_POOL_MEAN = 1,    /**< one vector per clip: mean over valid frames (n_features values) */
    AFX_POOL_MEAN_STD = 2 /**< mean then population std over valid frames (2 * n_features values) */
} afx_pooling;

typedef enum afx_layout {
    AFX_LAYOUT_FT = 0, /**< per clip (features, frames): librosa/torchaudio order */
    AFX_LAYOUT_TF = 1  /**< per clip (frames, features): Kaldi/TF order */
} afx_layout;

typedef enum afx_dct_norm {
    AFX_DCT_ORTHO = 0, /**< orthonormal DCT-II: row 0 sqrt(1/N), others sqrt(2/N) (scipy, torchaudio, Kaldi) */
    AFX_DCT_TF = 1     /**< every row sqrt(2/N): tf.signal.mfccs_from_log_mel_spectrograms */
} afx_dct_norm;

typedef enum afx_dtype {
    AFX_DTYPE_F32 = 0,  /**< float32 (default) */
    AFX_DTYPE_F16 = 1,  /**< IEEE half, round to nearest even; output buffers hold uint16_t bit patterns */
    AFX_DTYPE_BF16 = 2  /**< bfloat16, round to nearest even; output buffers hold uint16_t bit patterns */
} afx_dtype;

/** Presets: one switch that reproduces a peer library's conventions (afx_params_preset). */
typedef enum afx_preset {
    AFX_PRESET_LIBROSA = 0,    /**< librosa.stft / feature.melspectrogram / power_to_db / feature.mfcc defaults */
    AFX_PRESET_TORCHAUDIO = 1, /**< torchaudio.transforms Spectrogram / MelSpectrogram / AmplitudeToDB / MFCC */
    AFX_PRESET_KALDI = 2,      /**< compute-fbank-feats / compute-mfcc-feats, int16 sample scale */
    AFX_PRESET_WHISPER = 3,    /**< openai-whisper audio.log_mel_spectrogram (80 mels; n_mels=128 for v3) */
    AFX_PRESET_TF = 4          /**< tf.signal.stft + linear_to_mel_weight_matrix + mfccs_from_log_mel_spectrograms */
} afx_preset;

/*
 * Upper limits of a few parameters (afx_params_validate refuses values beyond them). Each is far above any
 * real use and low enough that full-scale audio cannot overflow float32 because of the parameter alone;
 * values outside could only produce Inf/NaN features. A clip whose features still come out non-finite
 * (e.g. float samples of 1e30) is refused at execution (afx_plan_execute), never written as valid output.
 */
#define AFX_INPUT_SCALE_MAX 1048576.0f   /**< |input_scale|: 2^20, 32x Kaldi's int16 scale 32768 */
#define AFX_DITHER_MAX 65536.0f          /**< dither std: 2x full scale on the int16 scale (Kaldi uses 1) */
#define AFX_POWER_MAX 8.0f               /**< power: |X| of a full-scale frame reaches n_fft = 2^16, and
                                              (2^16)^8 = 2^128 is float32's limit */
#define AFX_DB_MULTIPLIER_MAX 1000.0f    /**< db_multiplier: the conventions are 10 (power) and 20 (magnitude) */
#define AFX_OUT_AFFINE_MAX 1e6f          /**< |out_scale| and |out_bias| (Whisper: 0.25 and 1) */
#define AFX_MEL_WEIGHTS_MAX 16777216     /**< n_mels * (n_fft/2 + 1): the dense float32 mel table (64 MiB) that
                                              plans keep (the CUDA backend multiplies by it); e.g. n_fft 65536
                                              allows 511 mels, n_fft 2048 (librosa) 16368 */

/**
 * All parameters of a plan. Always fill with afx_params_init() first, then change fields.
 * Columns: meaning | unit | default | valid range.
 *
 * Framing (integer division throughout). With center=1 (librosa/torch), frame t covers samples
 * [t*hop - n_fft/2, t*hop - n_fft/2 + n_fft) of the signal padded by pad_mode, and there are
 * 1 + (n + 2*(n_fft/2) - n_fft)/hop frames (1 + n/hop for even n_fft; n >= 1). With center=0 and
 * snip_edges=1 (Kaldi default, tf.signal), the window covers [t*hop, t*hop + win_length) and there
 * are 1 + (n - win_length)/hop frames (0 if n < win_length). With center=0 and snip_edges=0 (Kaldi),
 * there are (n + hop/2)/hop frames whose window starts at t*hop + hop/2 - win_length/2, and samples
 * outside the clip are mirrored as Kaldi does (x[-1] = x[0]). An empty clip (n = 0) has 0 frames.
 * With center=1 a window shorter than n_fft is centred in the FFT frame, as librosa and torch do.
 * Kaldi's per-frame steps (dither, remove_dc_offset, energy, preemphasis) always act on the win_length
 * samples that the window covers, in Kaldi's order (ProcessWindow), whatever the framing.
 */
typedef struct afx_params {
    /* --- execution --- */
    afx_backend backend;     /**< where to run                      | -      | AFX_BACKEND_CPU | enum */
    int max_batch;           /**< most clips per execute call       | clips  | 16     | 1 .. 65536 */
    int64_t max_samples;     /**< longest clip per execute call     | samples| 9600000 (10 min at 16 kHz) | 1 .. 2^40 */
    int64_t fixed_length;    /**< 0: off. > 0: every clip is cut or padded with zeros at its end to exactly this
                                  many samples per channel before framing (the fixed clip length of TF and
                                  torchaudio training pipelines), so every clip has the same frame count, an
                                  empty clip included; clips of any length are then accepted (max_samples does not
                                  apply to them) | samples | 0 | 0 .. max_samples */

    /* --- input --- */
    int sample_rate;         /**< rate of the samples given         | Hz     | 16000  | 1000 .. 1000000 */
    float input_scale;       /**< factor applied to every sample after int16 -> float (int16 is /32768) | - | 1.0 | != 0, |x| <= AFX_INPUT_SCALE_MAX (2^20); Kaldi's int16 scale is 32768 */
    float dither;            /**< Kaldi dither: std of added Gaussian noise, per frame | sample units | 0 | 0 .. AFX_DITHER_MAX (65536) */
    uint64_t dither_seed;    /**< key of the dither generator       | -      | 0      | any */
    int remove_dc_offset;    /**< Kaldi: subtract each frame's mean before the window | bool | 0 | 0/1 */
    float preemphasis;       /**< Kaldi per-frame x[i] -= c*x[i-1], x[0] -= c*x[0] | - | 0 | 0 .. 1 */

    /* --- framing and STFT --- */
    int n_fft;               /**< FFT size                          | samples| 512    | 1 .. 65536; see round_to_power_of_two */
    int win_length;          /**< window length; 0 means n_fft      | samples| 400    | 0 .. n_fft */
    int hop_length;          /**< frame step                        | samples| 160    | 1 .. 2^24 */
    int round_to_power_of_two; /**< Kaldi: n_fft becomes the next power of two >= win_length | bool | 0 | 0/1 */
    afx_window window;       /**< window function                   | -      | HANN   | enum */
    int window_periodic;     /**< 1: periodic (torch/librosa), 0: symmetric (Kaldi, numpy) | bool | 1 | 0/1 */
    int center;              /**< pad n_fft/2 each side (librosa/torch) | bool | 1      | 0/1 */
    afx_pad_mode pad_mode;   /**< padding when center=1             | -      | REFLECT| enum */
    int snip_edges;          /**< Kaldi framing when center=0 (see above) | bool | 1   | 0/1 */
    float power;             /**< spectrogram exponent: 1 magnitude, 2 power | - | 2.0 | (0, AFX_POWER_MAX = 8] */

    /* --- what to compute --- */
    afx_feature feature;     /**< output feature                    | -      | LOGMEL | enum */

    /* --- mel filterbank (MEL, LOGMEL, DB, MFCC) --- */
    int n_mels;              /**< number of mel filters             | bins   | 80     | 1 .. n_fft/2+1, every filter non-empty,
                                  n_mels * (n_fft/2+1) <= AFX_MEL_WEIGHTS_MAX */
    float f_min;             /**< lowest filter edge                | Hz     | 0      | 0 .. f_max */
    float f_max;             /**< highest filter edge; 0 = Nyquist, < 0 = Nyquist + f_max (Kaldi) | Hz | 0 | <= sample_rate/2 */
    afx_mel_scale mel_scale; /**< mel formula and triangle domain   | -      | HTK    | enum */
    afx_mel_norm mel_norm;   /**< filter normalization              | -      | NONE   | enum */

    /* --- log (LOGMEL, and MFCC with mfcc_log LN/LOG10) --- */
    afx_log_type log_base;   /**< base for LOGMEL                   | -      | LN     | LN or LOG10 */
    float log_offset;        /**< added before the log (torchaudio MFCC uses 1e-6) | - | 0 | >= 0, finite */
    float log_floor;         /**< clamp: log(max(x + offset, floor)) | -     | 1e-10  | > 0, finite */

    /* --- dB (DB, and MFCC with mfcc_log DB) --- */
    float db_multiplier;     /**< 10 for power input, 20 for magnitude | -   | 10     | (0, AFX_DB_MULTIPLIER_MAX = 1000] */
    float db_ref;            /**< reference: subtracts multiplier*log10(max(amin, ref)) | - | 1.0 | > 0 */
    float db_amin;           /**< floor before the log              | -      | 1e-10  | > 0 */
    float top_db;            /**< per clip: out = max(out, clip_max - top_db); < 0 disables | dB | 80 | < 0 or >= 0 */

    /* --- MFCC --- */
    int n_mfcc;              /**< coefficients kept                 | -      | 20     | 1 .. n_mels */
    afx_log_type mfcc_log;   /**< log applied to mel before the DCT | -      | DB     | enum */
    float cepstral_lifter;   /**< Kaldi lifter Q: c[i] *= 1 + Q/2 sin(pi i / Q); 0 disables | - | 0 | >= 0 */
    int mfcc_energy;         /**< Kaldi use_energy: c[0] = log frame energy | bool | 0 | 0/1 */
    int raw_energy;          /**< Kaldi raw_energy: energy before pre-emphasis and window | bool | 1 | 0/1 */
    float energy_floor;      /**< Kaldi energy_floor: log energy >= ln(energy_floor) if > 0 | - | 0 | >= 0 */

    /* --- normalization, masking, pooling, layout --- */
    afx_normalize normalize; /**< per-clip normalization            | -      | NONE   | enum */
    int norm_vars;           /**< also divide by std (else mean only) | bool | 1      | 0/1 */
    float norm_eps;          /**< (x - mean) / sqrt(var + eps)      | -      | 1e-10  | >= 0 */
    int norm_unbiased;       /**< variance of UTTERANCE/FEATURE normalization divides by n - 1 (torch.std's
                                  default, unbiased) instead of n (numpy/librosa, population); a clip with one
                                  value then has variance 0 | bool | 0 | 0/1 */
    int n_time_masks;        /**< SpecAugment time masks per clip   | -      | 0      | 0 .. 1024 */
    int time_mask_param;     /**< T: each width uniform in [0, T]   | frames | 0      | >= 0 */
    int n_freq_masks;        /**< SpecAugment frequency masks per clip | -   | 0      | 0 .. 1024 */
    int freq_mask_param;     /**< F: each width uniform in [0, F]   | bins   | 0      | 0 .. n_features */
    uint64_t mask_seed;      /**< key of the mask generator         | -      | 0      | any */
    afx_mask_value mask_value; /**< what masked elements become     | -      | ZERO   | enum */
    afx_pooling pooling;     /**< clip-level pooling over time      | -      | NONE   | enum */
    afx_layout layout;       /**< per-clip output order             | -      | FT     | enum */

    /* --- peer-library conventions (set by afx_params_preset; rarely changed by hand) --- */
    int mel_linspace_freqs;  /**< 1: bin k sits at k*(sample_rate/2)/(n_fft/2) with integer sample_rate/2
                                  (torchaudio: linspace(0, sr // 2, n_freqs)); 0: k*sample_rate/n_fft (librosa,
                                  Kaldi, tf) | bool | 0 | 0/1; differs only for odd n_fft or odd sample_rate */
    int mel_allow_empty;     /**< 1: a mel filter that covers no FFT bin is allowed and outputs 0 (torchaudio
                                  warns and goes on: its defaults n_fft 400 + 128 HTK mels give one); 0: such
                                  parameters are refused by validation | bool | 0 | 0/1 */
    afx_dct_norm dct_norm;   /**< MFCC DCT-II scaling                | -      | ORTHO  | enum */
    int drop_last_frame;     /**< 1: each clip's last frame is dropped (Whisper: stft[..., :-1]) | bool | 0 | 0/1 */
    float log_range;         /**< ln/log10 log-mel (LOGMEL, MFCC with mfcc_log LN/LOG10), per clip before the
                                  DCT: out = max(out, clip_max - log_range), in the log's own units (Whisper:
                                  8 with log10); < 0 disables | log units | -1 | < 0 or >= 0, finite */
    float out_scale;         /**< affine map y*out_scale + out_bias after log/top_db/log_range/DCT and before
                                  normalization (Whisper: 0.25) | - | 1 | |x| <= AFX_OUT_AFFINE_MAX (1e6) */
    float out_bias;          /**< see out_scale (Whisper: 1.0, i.e. (x + 4) / 4) | - | 0 | |x| <= AFX_OUT_AFFINE_MAX */

    /* --- output and device --- */
    afx_dtype output_dtype;  /**< element type of afx_output.data   | -      | F32    | enum */
    int cuda_device;         /**< CUDA device ordinal for the CUDA backend | - | 0   | 0 .. 1023 */
    int cpu_threads;         /**< threads one execute call of the CPU backend uses (the clips of a batch, and the
                                  frames of a long clip, are split across them); the plan starts them at creation
                                  and they sleep between calls; results are bit-identical for every value;
                                  0 = every online core | threads | 1 | 0 .. 1024 */
} afx_params;

/** Fills `params` with the defaults documented above. NULL is ignored. */
AFX_API void afx_params_init(afx_params *params);

/**
 * Checks every field. On failure returns AFX_ERR_INVALID_PARAM (or AFX_ERR_BACKEND_UNAVAILABLE) and
 * writes a message naming the parameter, its value and the valid range into `err` (may be NULL).
 * Also refuses a mel filterbank with an empty filter (n_mels too large for n_fft and the band) unless
 * mel_allow_empty is set.
 */
AFX_API afx_status afx_params_validate(const afx_params *params, char *err, size_t err_size);

/**
 * Resets `params` to afx_params_init() and then applies `preset`'s conventions for computing `feature`
 * (some libraries use different defaults per feature, e.g. torchaudio's MFCC uses top_db 80 while
 * AmplitudeToDB has none). Change fields afterwards to override. Each preset's comment in host/presets.c
 * cites the source lines it reproduces. Returns AFX_ERR_INVALID_PARAM with a message when the preset
 * has no such feature (Whisper: spectrogram, mel and logmel only; Kaldi: no dB).
 */
AFX_API afx_status afx_params_preset(afx_params *params, afx_preset preset, afx_feature feature, char *err,
                                     size_t err_size);

/**
 * Sets a field by its name in afx_params ("n_mels", "f_max", "window", ...) from text: integers and
 * floats in C syntax, enums by their afx_enum_name spelling, bools as 0/1/true/false. For bindings
 * and configuration files. AFX_ERR_INVALID_PARAM names the field and the text when either is unknown
 * or the text does not parse; range checks are left to afx_params_validate.
 */
AFX_API afx_status afx_params_set(afx_params *params, const char *name, const char *value, char *err,
                                  size_t err_size);
/** Writes a field's value as text (the form afx_params_set reads). AFX_ERR_INVALID_PARAM if unknown. */
AFX_API afx_status afx_params_get(const afx_params *params, const char *name, char *buf, size_t buf_size);
/** The i-th field name of afx_params (0-based), or NULL past the last: lists what afx_params_set takes. */
AFX_API const char *afx_params_field_name(int i);
/** sizeof(afx_params) of the library actually linked (for bindings that allocate it). */
AFX_API size_t afx_params_size(void);

/** Effective n_fft (after round_to_power_of_two); 0 for NULL. */
AFX_API int afx_params_effective_n_fft(const afx_params *params);

/** The enums of afx_params, for afx_enum_name() / afx_enum_value(). */
typedef enum afx_enum_kind {
    AFX_ENUM_BACKEND = 0,    /**< cpu, cuda, auto */
    AFX_ENUM_FEATURE = 1,    /**< spectrogram, mel, logmel, db, mfcc */
    AFX_ENUM_WINDOW = 2,     /**< hann, hamming, povey, blackman, rectangular */
    AFX_ENUM_PAD_MODE = 3,   /**< reflect, constant */
    AFX_ENUM_MEL_SCALE = 4,  /**< htk, slaney, kaldi */
    AFX_ENUM_MEL_NORM = 5,   /**< none, slaney */
    AFX_ENUM_LOG_TYPE = 6,   /**< ln, log10, db */
    AFX_ENUM_NORMALIZE = 7,  /**< none, utterance, feature, minmax */
    AFX_ENUM_MASK_VALUE = 8, /**< zero, mean */
    AFX_ENUM_POOLING = 9,    /**< none, mean, meanstd */
    AFX_ENUM_LAYOUT = 10,    /**< ft, tf */
    AFX_ENUM_DCT_NORM = 11,  /**< ortho, tf */
    AFX_ENUM_DTYPE = 12,     /**< f32, f16, bf16 */
    AFX_ENUM_PRESET = 13,    /**< librosa, torchaudio, kaldi, whisper, tf */
    AFX_ENUM_KIND_COUNT_     /**< not a kind: one past the last */
} afx_enum_kind;

/**
 * The one spelling of each enum value, used by the CLI's options (and the bindings): the name of
 * `value` in enum `kind`, or NULL when either is out of range. Values run from 0 without gaps, so
 * `for (int v = 0; afx_enum_name(k, v); v++)` lists every name of a kind.
 */
AFX_API const char *afx_enum_name(afx_enum_kind kind, int value);
/** The value named `name` (exact, case-sensitive) in enum `kind`, or -1 if there is none. */
AFX_API int afx_enum_value(afx_enum_kind kind, const char *name);

/** Shorthands of afx_enum_name for three enums; "?" instead of NULL when out of range. */
AFX_API const char *afx_backend_name(afx_backend b);
AFX_API const char *afx_feature_name(afx_feature f);
AFX_API const char *afx_window_name(afx_window w);

/* ---------------------------------------------------------------------------------------------- */
/* Plan                                                                                           */
/* ---------------------------------------------------------------------------------------------- */
typedef struct afx_plan_s afx_plan;

/**
 * Validates `params`, then makes everything execution needs: window, mel weights, DCT matrix, FFT
 * plans and all scratch for max_batch clips of up to max_samples samples. On success *plan is set
 * and owned by the caller (afx_plan_free). On failure *plan is NULL and `err` says why.
 */
AFX_API afx_status afx_plan_create(const afx_params *params, afx_plan **plan, char *err, size_t err_size);

/** Frees a plan and everything it owns. NULL is a no-op. */
AFX_API void afx_plan_free(afx_plan *plan);

/** The message of the last failed call on this plan ("" if none). Valid until the next call on it. */
AFX_API const char *afx_plan_error(const afx_plan *plan);

/** The backend the plan actually runs on (AUTO resolved). */
AFX_API afx_backend afx_plan_backend(const afx_plan *plan);

/** The validated parameters of the plan, with 0-defaults resolved (n_fft, win_length, f_max). */
AFX_API const afx_params *afx_plan_params(const afx_plan *plan);

/** Values per frame: n_fft/2+1, n_mels or n_mfcc (+0: the energy replaces c0). With pooling this is
 *  the per-frame count; a pooled clip has n_features (MEAN) or 2*n_features (MEAN_STD) values. */
AFX_API int afx_plan_n_features(const afx_plan *plan);

/** Analysis frames for a clip of n_samples samples per channel (0 for n_samples <= 0; with fixed_length,
 *  the frames of fixed_length samples for any n_samples >= 0). */
AFX_API int64_t afx_plan_frames_for_length(const afx_plan *plan, int64_t n_samples);

/* ---------------------------------------------------------------------------------------------- */
/* Execution                                                                                      */
/* ---------------------------------------------------------------------------------------------- */
typedef enum afx_sample_format {
    AFX_SAMPLE_F32 = 0, /**< float32, nominal range [-1, 1] */
    AFX_SAMPLE_S16 = 1  /**< int16, converted as v / 32768 (then input_scale) */
} afx_sample_format;

/** A batch of clips. Each clip is its own buffer (pointers may point into one contiguous buffer). */
typedef struct afx_input {
    afx_sample_format format;     /**< sample type of every clip */
    int n_channels;               /**< interleaved channels per clip (1 .. 64); averaged to mono */
    const void *const *clips;     /**< n_clips pointers; a clip of length 0 may be NULL */
    const int64_t *lengths;       /**< n_clips lengths, samples per channel */
    int n_clips;                  /**< 1 .. max_batch */
    uint64_t first_clip_index;    /**< global index of clips[0]; keys dither and masks (0 is fine) */
} afx_input;

/**
 * Output of a batch: one dense array of output_dtype elements (float32 by default). Without pooling it is
 *   FT: [n_clips][n_features][frames_stride]     TF: [n_clips][frames_stride][n_features]
 * and with pooling [n_clips][pooled values]. Frames past a clip's n_frames are set to 0 and never
 * take part in any statistic (top_db, normalization, mask mean, pooling).
 */
typedef struct afx_output {
    void *data;                   /**< afx_plan_output_size(plan, n_clips, frames_stride) elements of the
                                       plan's output_dtype: float, or uint16_t for F16/BF16 (NULL if 0) */
    int64_t frames_stride;        /**< time dimension of `data`; >= the batch's largest frame count */
    int64_t *n_frames;            /**< out: n_clips frame counts (-1 for a clip refused as invalid) */
} afx_output;

/**
 * Frame count of every clip of `in` (n_frames may be NULL) and the largest (max_frames, may be NULL).
 * Checks the batch against the plan (count, lengths, channels). Only n_clips, lengths, n_channels and
 * format are read: `clips` may be NULL here.
 */
AFX_API afx_status afx_plan_output_shape(afx_plan *plan, const afx_input *in, int64_t *n_frames,
                                         int64_t *max_frames);

/** Elements (of output_dtype) needed in afx_output.data for n_clips clips with the given frames_stride. */
AFX_API size_t afx_plan_output_size(const afx_plan *plan, int n_clips, int64_t frames_stride);

/**
 * Computes the features of a batch. Allocates nothing.
 * - AFX_ERR_EXCEEDS_PLAN / AFX_ERR_NULL_ARGUMENT / AFX_ERR_INVALID_INPUT for a bad batch shape:
 *   nothing is computed.
 * - A clip containing NaN or Inf is refused: its n_frames is -1 and its output zeros; every other clip
 *   is still computed, and the call returns AFX_ERR_INVALID_INPUT with a message naming the first
 *   refused clip (index in the batch and first_clip_index + index) and the bad sample.
 * - So is a clip whose features come out non-finite (NaN or +-Inf after every step; e.g. finite samples so
 *   large that the float32 power spectrum overflows), or that the conversion to output_dtype would make
 *   infinite (float16: a magnitude of 65520 or more, e.g. a power spectrogram of loud audio; bfloat16:
 *   about 3.3961e38): the message names the clip, the first such value's frame and feature, and the cause
 *   when known. A NaN is never hidden by a floor (log_floor, db_amin, top_db): it reaches this check.
 * - With cpu_threads > 1 the CPU backend splits the batch's clips and the frames of long clips across its
 *   threads; the output is bit-identical to cpu_threads = 1.
 */
AFX_API afx_status afx_plan_execute(afx_plan *plan, const afx_input *in, afx_output *out);

/**
 * Runs several batches in order, as afx_plan_execute would one by one, with the same results. On the
 * CUDA backend the batches are pipelined: batch i+1 is packed into pinned host memory and copied to the
 * device while batch i is computed and batch i-1 is copied back (double buffering), so this is the fast
 * way to featurize a corpus from host memory. Stops at the first batch whose shape is refused (that
 * status is returned, *n_done says how many batches completed); a batch with a refused NaN/Inf clip is
 * completed as afx_plan_execute does and the run goes on, returning AFX_ERR_INVALID_INPUT at the end.
 */
AFX_API afx_status afx_plan_execute_batches(afx_plan *plan, const afx_input *inputs, afx_output *outputs,
                                            int n_batches, int *n_done);

/* ---------------------------------------------------------------------------------------------- */
/* CUDA backend extras (AFX_ERR_BACKEND_UNAVAILABLE on a plan that runs on the CPU)                  */
/*                                                                                                */
/* The CUDA backend is the module libafx_cuda.so, loaded on first use (see afx_cuda_device_count): a   */
/* program that never asks for it maps no CUDA library. backend=cuda without a loadable module fails  */
/* at plan creation with AFX_ERR_BACKEND_UNAVAILABLE naming the folders searched and what is missing. */
/* ---------------------------------------------------------------------------------------------- */

/** Device-resident output of afx_plan_execute_device, laid out as afx_output (layout, pooling, dtype). */
typedef struct afx_device_output {
    void *data;              /**< device pointer owned by the plan; valid until the next execute (see
                                  afx_plan_release_device_output) or free */
    afx_dtype dtype;         /**< element type (the plan's output_dtype) */
    int n_clips;             /**< clips in the batch */
    int n_features;          /**< afx_plan_n_features (pooled: values per clip) */
    int64_t frames_stride;   /**< time dimension (largest frame count of the batch; 1 when pooled) */
    int64_t *n_frames;       /**< caller's array of n_clips, filled as by afx_plan_execute */
    void *ready_event;       /**< cudaEvent_t recorded after the last write of `data`: wait on it
                                  (cudaStreamWaitEvent) before reading on another stream */
} afx_device_output;

/**
 * Uses the caller's cudaStream_t (passed as void *; NULL: the plan's own stream) for every later
 * execute on this plan. The plan never synchronizes the whole device.
 */
AFX_API afx_status afx_plan_set_stream(afx_plan *plan, void *cuda_stream);

/**
 * Computes a batch and leaves the features on the device (no device-to-host copy). The call returns
 * once the work is queued, without waiting for the device; data is ready when ready_event has completed.
 * n_frames is filled from the lengths. Clips refused for a NaN/Inf sample or non-finite features are
 * found on the device: their slots of `data` are zeros at ready_event, and afx_plan_device_output_wait
 * reports them (n_frames -1, AFX_ERR_INVALID_INPUT naming the first), as afx_plan_execute would.
 */
AFX_API afx_status afx_plan_execute_device(afx_plan *plan, const afx_input *in, afx_device_output *out);

/**
 * Same as afx_plan_execute_device for clips that are already on the plan's device: in->clips[b] are
 * device pointers (cudaMalloc or managed memory, or a framework's tensor storage, 4-byte aligned for f32
 * and 2-byte aligned for s16) holding lengths[b] * n_channels samples; in->lengths stays in host memory.
 * No sample crosses PCIe (only the batch's small metadata is uploaded). The samples are read in stream
 * order on the plan's stream (afx_plan_set_stream): work queued earlier on that stream that writes them is
 * complete before they are read, and nothing waits on the host. A pointer that is not device memory of
 * the plan's device is refused (AFX_ERR_INVALID_INPUT, nothing computed). A clip with a NaN or Inf sample
 * is refused as by afx_plan_execute_device (reported by afx_plan_device_output_wait).
 */
AFX_API afx_status afx_plan_execute_device_input(afx_plan *plan, const afx_input *in, afx_device_output *out);

/**
 * Waits on the host for the plan's last afx_plan_execute_device(_input) batch (its ready_event), then
 * reports the clips refused on the device: their n_frames become -1 (their slots of `data` already hold
 * zeros) and the call returns AFX_ERR_INVALID_INPUT with a message naming the first (index in the batch,
 * global index, and the bad sample or "features are not finite"); AFX_OK when every clip is valid. `out`
 * is the descriptor that call filled. Optional: without it the refused slots are still zeros.
 */
AFX_API afx_status afx_plan_device_output_wait(afx_plan *plan, afx_device_output *out);

/**
 * The release rule of the device output: the next execute on this plan (of any kind) overwrites `data`.
 * Reads queued on the plan's own stream (afx_plan_set_stream) are ordered before that automatically.
 * For reads queued on another stream, record a cudaEvent_t after them and pass it here (as void *): the
 * next execute's write of the output waits for it on the device, with no host wait. NULL declares that no
 * read is pending. The event is used at once (its current state), so it may be re-recorded afterwards.
 */
AFX_API afx_status afx_plan_release_device_output(afx_plan *plan, void *cuda_event);

/** Device memory and pinned host memory the plan holds (bytes), for sizing max_batch. */
AFX_API afx_status afx_plan_workspace_size(const afx_plan *plan, size_t *device_bytes, size_t *pinned_host_bytes);

/**
 * Number of CUDA devices usable by this build: 0 in a build without CUDA, or when the CUDA module, the CUDA
 * libraries, the driver or a device is missing. Loads the CUDA module (and with it the CUDA runtime, cuFFT
 * and cuBLAS) on the first call; nothing else in afx does, except a plan with backend cuda or auto. The
 * module is found, in this order: the file $AFX_CUDA_MODULE (when set, the only candidate); libafx_cuda.so
 * in the folder of libafx.so (or of the program, when libafx.a is linked in); in the program's folder and
 * its ../lib; in the install libdir; through the dynamic linker's search (LD_LIBRARY_PATH, RUNPATH).
 */
AFX_API int afx_cuda_device_count(void);

#ifdef __cplusplus
}
#endif
#endif /* AFX_H */
