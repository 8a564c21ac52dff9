/*
 * afx.c: versions, status names, parameter defaults and validation.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "mel/mel.h"

unsigned afx_version_number(void) { return AFX_VERSION_NUMBER; }
const char *afx_version_string(void) { return AFX_VERSION_STRING; }

static const char *const status_names[AFX_STATUS_COUNT_] = {
    "AFX_OK",         "AFX_ERR_NULL_ARGUMENT", "AFX_ERR_INVALID_PARAM",       "AFX_ERR_INVALID_INPUT",
    "AFX_ERR_OUT_OF_MEMORY", "AFX_ERR_BACKEND_UNAVAILABLE", "AFX_ERR_EXCEEDS_PLAN", "AFX_ERR_IO",
    "AFX_ERR_DECODE", "AFX_ERR_RESAMPLE",      "AFX_ERR_INTERNAL",
};

static const char *const status_strings[AFX_STATUS_COUNT_] = {
    "success",
    "a required argument was NULL",
    "invalid parameter",
    "invalid input data",
    "out of memory",
    "backend not available",
    "batch exceeds the plan's limits",
    "file could not be read",
    "unsupported or corrupt audio data",
    "resampling failed",
    "internal library error",
};

const char *afx_status_name(afx_status status) {
    return (unsigned)status < AFX_STATUS_COUNT_ ? status_names[status] : "AFX_ERR_UNKNOWN";
}

const char *afx_status_string(afx_status status) {
    return (unsigned)status < AFX_STATUS_COUNT_ ? status_strings[status] : "unknown status";
}

afx_status afx_fail(char *buf, size_t size, afx_status status, const char *fmt, ...) {
    if (buf && size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, size, fmt, ap);
        va_end(ap);
    }
    return status;
}

size_t afx_mul_size(size_t a, size_t b) {
    if (a != 0 && b > SIZE_MAX / a) return 0;
    return a * b;
}

void afx_params_init(afx_params *p) {
    if (!p) return;
    memset(p, 0, sizeof *p);
    p->backend = AFX_BACKEND_CPU;
    p->max_batch = 16;
    p->max_samples = 9600000;
    p->fixed_length = 0;
    p->sample_rate = 16000;
    p->input_scale = 1.0f;
    p->dither = 0.0f;
    p->dither_seed = 0;
    p->remove_dc_offset = 0;
    p->preemphasis = 0.0f;
    p->n_fft = 512;
    p->win_length = 400;
    p->hop_length = 160;
    p->round_to_power_of_two = 0;
    p->window = AFX_WINDOW_HANN;
    p->window_periodic = 1;
    p->center = 1;
    p->pad_mode = AFX_PAD_REFLECT;
    p->snip_edges = 1;
    p->power = 2.0f;
    p->feature = AFX_FEATURE_LOGMEL;
    p->n_mels = 80;
    p->f_min = 0.0f;
    p->f_max = 0.0f;
    p->mel_scale = AFX_MEL_HTK;
    p->mel_norm = AFX_MEL_NORM_NONE;
    p->log_base = AFX_LOG_LN;
    p->log_offset = 0.0f;
    p->log_floor = 1e-10f;
    p->db_multiplier = 10.0f;
    p->db_ref = 1.0f;
    p->db_amin = 1e-10f;
    p->top_db = 80.0f;
    p->n_mfcc = 20;
    p->mfcc_log = AFX_LOG_DB;
    p->cepstral_lifter = 0.0f;
    p->mfcc_energy = 0;
    p->raw_energy = 1;
    p->energy_floor = 0.0f;
    p->normalize = AFX_NORM_NONE;
    p->norm_vars = 1;
    p->norm_eps = 1e-10f;
    p->norm_unbiased = 0;
    p->n_time_masks = 0;
    p->time_mask_param = 0;
    p->n_freq_masks = 0;
    p->freq_mask_param = 0;
    p->mask_seed = 0;
    p->mask_value = AFX_MASK_ZERO;
    p->pooling = AFX_POOL_NONE;
    p->layout = AFX_LAYOUT_FT;
    p->mel_linspace_freqs = 0;
    p->mel_allow_empty = 0;
    p->dct_norm = AFX_DCT_ORTHO;
    p->drop_last_frame = 0;
    p->log_range = -1.0f;
    p->out_scale = 1.0f;
    p->out_bias = 0.0f;
    p->output_dtype = AFX_DTYPE_F32;
    p->cuda_device = 0;
    p->cpu_threads = 1;
}

size_t afx_dtype_size(afx_dtype dtype) { return dtype == AFX_DTYPE_F32 ? sizeof(float) : sizeof(uint16_t); }

static int next_pow2(int v) {
    int r = 1;
    while (r < v && r < (1 << 30)) r <<= 1;
    return r;
}

int afx_params_effective_win(const afx_params *p) { return p->win_length > 0 ? p->win_length : p->n_fft; }

int afx_params_effective_n_fft(const afx_params *p) {
    if (!p) return 0;
    return p->round_to_power_of_two ? next_pow2(afx_params_effective_win(p)) : p->n_fft;
}

double afx_params_effective_f_max(const afx_params *p) {
    double nyq = 0.5 * (double)p->sample_rate;
    return p->f_max > 0.0f ? (double)p->f_max : nyq + (double)p->f_max;
}

int afx_params_n_features(const afx_params *p, int n_freq) {
    switch (p->feature) {
    case AFX_FEATURE_SPECTROGRAM: return n_freq;
    case AFX_FEATURE_MFCC: return p->n_mfcc;
    default: return p->n_mels;
    }
}

static int uses_mel(const afx_params *p) { return p->feature != AFX_FEATURE_SPECTROGRAM; }

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (!(cond)) return afx_fail(err, err_size, AFX_ERR_INVALID_PARAM, __VA_ARGS__); \
    } while (0)

static int is_bool(int v) { return v == 0 || v == 1; }

/* Checks that every mel filter has at least one non-zero weight over the FFT bins. Only the bins of each
 * filter's support are evaluated (afx_mel_support), so this is fast for any table size. */
static afx_status check_mel_filters(const afx_params *p, int n_fft, char *err, size_t err_size) {
    int scale = (int)p->mel_scale;
    double f_lo = p->f_min, f_hi = afx_params_effective_f_max(p);
    double mel_lo = afx_hz_to_mel(f_lo, scale), mel_hi = afx_hz_to_mel(f_hi, scale);
    for (int i = 0; i < p->n_mels; i++) {
        int lo, hi, nonzero = 0;
        afx_mel_support(i, p->n_mels, mel_lo, mel_hi, scale, p->sample_rate, n_fft, p->mel_linspace_freqs, &lo, &hi);
        for (int k = lo; k < hi && !nonzero; k++) {
            double f = afx_mel_bin_freq(k, p->sample_rate, n_fft, p->mel_linspace_freqs);
            nonzero = afx_mel_weight(i, f, p->n_mels, mel_lo, mel_hi, scale) > 0.0;
        }
        if (!nonzero) {
            double a = afx_mel_to_hz(afx_mel_point(i, p->n_mels, mel_lo, mel_hi), scale);
            double b = afx_mel_to_hz(afx_mel_point(i + 2, p->n_mels, mel_lo, mel_hi), scale);
            return afx_fail(err, err_size, AFX_ERR_INVALID_PARAM,
                            "n_mels=%d is too many for n_fft=%d at %d Hz between f_min=%g and f_max=%g Hz: "
                            "mel filter %d (%.1f..%.1f Hz) covers no FFT bin; use fewer mels or a larger n_fft "
                            "(or mel_allow_empty=1 for torchaudio's behaviour: that filter outputs 0)",
                            p->n_mels, n_fft, p->sample_rate, f_lo, f_hi, i, a, b);
        }
    }
    return AFX_OK;
}

afx_status afx_params_validate(const afx_params *p, char *err, size_t err_size) {
    if (!p) return afx_fail(err, err_size, AFX_ERR_NULL_ARGUMENT, "params is NULL");
    CHECK((unsigned)p->backend <= AFX_BACKEND_AUTO, "backend=%d is not a valid afx_backend", (int)p->backend);
#ifndef AFX_HAVE_CUDA
    if (p->backend == AFX_BACKEND_CUDA)
        return afx_fail(err, err_size, AFX_ERR_BACKEND_UNAVAILABLE,
                        "backend=cuda: this build of afx has no CUDA backend (use cpu or auto)");
#endif
    CHECK(p->max_batch >= 1 && p->max_batch <= 65536, "max_batch=%d must be in 1..65536", p->max_batch);
    CHECK(p->max_samples >= 1 && p->max_samples <= ((int64_t)1 << 40), "max_samples=%lld must be in 1..2^40",
          (long long)p->max_samples);
    CHECK(p->fixed_length >= 0 && p->fixed_length <= p->max_samples,
          "fixed_length=%lld must be in 0..max_samples=%lld (0 = off)", (long long)p->fixed_length,
          (long long)p->max_samples);
    CHECK(p->sample_rate >= 1000 && p->sample_rate <= 1000000, "sample_rate=%d Hz must be in 1000..1000000",
          p->sample_rate);
    CHECK(isfinite(p->input_scale) && p->input_scale != 0.0f && fabsf(p->input_scale) <= AFX_INPUT_SCALE_MAX,
          "input_scale=%g must be non-zero with |input_scale| <= %g (Kaldi's int16 scale is 32768)",
          (double)p->input_scale, (double)AFX_INPUT_SCALE_MAX);
    CHECK(isfinite(p->dither) && p->dither >= 0.0f && p->dither <= AFX_DITHER_MAX,
          "dither=%g must be in 0..%g (Kaldi's default is 1 on the int16 scale)", (double)p->dither,
          (double)AFX_DITHER_MAX);
    CHECK(is_bool(p->remove_dc_offset), "remove_dc_offset=%d must be 0 or 1", p->remove_dc_offset);
    CHECK(isfinite(p->preemphasis) && p->preemphasis >= 0.0f && p->preemphasis <= 1.0f,
          "preemphasis=%g must be in 0..1", (double)p->preemphasis);

    CHECK(is_bool(p->round_to_power_of_two), "round_to_power_of_two=%d must be 0 or 1", p->round_to_power_of_two);
    if (!p->round_to_power_of_two)
        CHECK(p->n_fft >= 1 && p->n_fft <= 65536, "n_fft=%d must be in 1..65536", p->n_fft);
    CHECK(p->win_length >= 0, "win_length=%d must be >= 0 (0 means n_fft)", p->win_length);
    CHECK(p->win_length <= 65536, "win_length=%d must be <= 65536", p->win_length);
    if (p->round_to_power_of_two)
        CHECK(afx_params_effective_win(p) >= 1, "win_length=%d (or n_fft=%d) must be >= 1 with round_to_power_of_two",
              p->win_length, p->n_fft);
    int n_fft = afx_params_effective_n_fft(p);
    int win = afx_params_effective_win(p);
    CHECK(win <= n_fft, "win_length=%d must be <= n_fft=%d", win, n_fft);
    CHECK(p->hop_length >= 1 && p->hop_length <= (1 << 24), "hop_length=%d must be in 1..2^24", p->hop_length);
    CHECK((unsigned)p->window <= AFX_WINDOW_RECTANGULAR, "window=%d is not a valid afx_window", (int)p->window);
    CHECK(is_bool(p->window_periodic), "window_periodic=%d must be 0 or 1", p->window_periodic);
    CHECK(is_bool(p->center), "center=%d must be 0 or 1", p->center);
    CHECK((unsigned)p->pad_mode <= AFX_PAD_CONSTANT, "pad_mode=%d is not a valid afx_pad_mode", (int)p->pad_mode);
    CHECK(is_bool(p->snip_edges), "snip_edges=%d must be 0 or 1", p->snip_edges);
    CHECK(isfinite(p->power) && p->power > 0.0f && p->power <= AFX_POWER_MAX,
          "power=%g must be in (0, %g] (1 magnitude, 2 power)", (double)p->power, (double)AFX_POWER_MAX);
    CHECK((unsigned)p->feature <= AFX_FEATURE_MFCC, "feature=%d is not a valid afx_feature", (int)p->feature);

    int n_freq = n_fft / 2 + 1;
    if (uses_mel(p)) {
        double nyq = 0.5 * (double)p->sample_rate, f_max = afx_params_effective_f_max(p);
        CHECK((unsigned)p->mel_scale <= AFX_MEL_KALDI, "mel_scale=%d is not a valid afx_mel_scale", (int)p->mel_scale);
        CHECK((unsigned)p->mel_norm <= AFX_MEL_NORM_SLANEY, "mel_norm=%d is not a valid afx_mel_norm", (int)p->mel_norm);
        CHECK(p->n_mels >= 1 && p->n_mels <= n_freq, "n_mels=%d must be in 1..%d (n_fft/2+1 for n_fft=%d)", p->n_mels,
              n_freq, n_fft);
        CHECK(isfinite(p->f_min) && p->f_min >= 0.0f, "f_min=%g Hz must be >= 0", (double)p->f_min);
        CHECK(isfinite(p->f_max) && f_max <= nyq, "f_max=%g Hz is above the Nyquist frequency %g Hz (sample_rate=%d)",
              (double)p->f_max, nyq, p->sample_rate);
        CHECK(f_max > p->f_min, "f_min=%g Hz must be below f_max=%g Hz", (double)p->f_min, f_max);
        CHECK(is_bool(p->mel_allow_empty), "mel_allow_empty=%d must be 0 or 1", p->mel_allow_empty);
        CHECK((int64_t)p->n_mels * n_freq <= AFX_MEL_WEIGHTS_MAX,
              "n_mels=%d x n_fft/2+1=%d (n_fft=%d) is a mel table of %lld weights (%.1f MiB), above the limit "
              "AFX_MEL_WEIGHTS_MAX=%d (64 MiB): use fewer mels or a smaller n_fft",
              p->n_mels, n_freq, n_fft, (long long)p->n_mels * n_freq,
              (double)p->n_mels * n_freq * 4.0 / 1048576.0, AFX_MEL_WEIGHTS_MAX);
        if (!p->mel_allow_empty) {
            afx_status st = check_mel_filters(p, n_fft, err, err_size);
            if (st != AFX_OK) return st;
        }
    }
    if (p->feature == AFX_FEATURE_LOGMEL)
        CHECK(p->log_base == AFX_LOG_LN || p->log_base == AFX_LOG_LOG10, "log_base=%d must be ln or log10",
              (int)p->log_base);
    CHECK(isfinite(p->log_offset) && p->log_offset >= 0.0f, "log_offset=%g must be finite and >= 0",
          (double)p->log_offset);
    CHECK(isfinite(p->log_floor) && p->log_floor > 0.0f, "log_floor=%g must be finite and > 0", (double)p->log_floor);
    CHECK(isfinite(p->db_multiplier) && p->db_multiplier > 0.0f && p->db_multiplier <= AFX_DB_MULTIPLIER_MAX,
          "db_multiplier=%g must be in (0, %g] (10 for power, 20 for magnitude)", (double)p->db_multiplier,
          (double)AFX_DB_MULTIPLIER_MAX);
    CHECK(isfinite(p->db_ref) && p->db_ref > 0.0f, "db_ref=%g must be > 0", (double)p->db_ref);
    CHECK(isfinite(p->db_amin) && p->db_amin > 0.0f, "db_amin=%g must be > 0", (double)p->db_amin);
    CHECK(!isnan(p->top_db) && p->top_db < INFINITY, "top_db=%g must be finite (negative disables it)",
          (double)p->top_db);
    if (p->feature == AFX_FEATURE_MFCC) {
        CHECK(p->n_mfcc >= 1 && p->n_mfcc <= p->n_mels, "n_mfcc=%d must be in 1..n_mels=%d", p->n_mfcc, p->n_mels);
        CHECK((unsigned)p->mfcc_log <= AFX_LOG_DB, "mfcc_log=%d is not a valid afx_log_type", (int)p->mfcc_log);
        CHECK(isfinite(p->cepstral_lifter) && p->cepstral_lifter >= 0.0f, "cepstral_lifter=%g must be >= 0",
              (double)p->cepstral_lifter);
        CHECK(is_bool(p->mfcc_energy), "mfcc_energy=%d must be 0 or 1", p->mfcc_energy);
        CHECK(is_bool(p->raw_energy), "raw_energy=%d must be 0 or 1", p->raw_energy);
        CHECK(isfinite(p->energy_floor) && p->energy_floor >= 0.0f, "energy_floor=%g must be >= 0",
              (double)p->energy_floor);
    }
    CHECK((unsigned)p->normalize <= AFX_NORM_MINMAX, "normalize=%d is not a valid afx_normalize", (int)p->normalize);
    CHECK(is_bool(p->norm_vars), "norm_vars=%d must be 0 or 1", p->norm_vars);
    CHECK(isfinite(p->norm_eps) && p->norm_eps >= 0.0f, "norm_eps=%g must be >= 0", (double)p->norm_eps);
    CHECK(is_bool(p->norm_unbiased), "norm_unbiased=%d must be 0 or 1", p->norm_unbiased);
    int n_features = afx_params_n_features(p, n_freq);
    CHECK(p->n_time_masks >= 0 && p->n_time_masks <= 1024, "n_time_masks=%d must be in 0..1024", p->n_time_masks);
    CHECK(p->n_freq_masks >= 0 && p->n_freq_masks <= 1024, "n_freq_masks=%d must be in 0..1024", p->n_freq_masks);
    CHECK(p->time_mask_param >= 0, "time_mask_param=%d must be >= 0", p->time_mask_param);
    CHECK(p->freq_mask_param >= 0 && p->freq_mask_param <= n_features,
          "freq_mask_param=%d must be in 0..%d (the number of features)", p->freq_mask_param, n_features);
    CHECK((unsigned)p->mask_value <= AFX_MASK_MEAN, "mask_value=%d is not a valid afx_mask_value", (int)p->mask_value);
    CHECK((unsigned)p->pooling <= AFX_POOL_MEAN_STD, "pooling=%d is not a valid afx_pooling", (int)p->pooling);
    CHECK((unsigned)p->layout <= AFX_LAYOUT_TF, "layout=%d is not a valid afx_layout", (int)p->layout);
    CHECK(is_bool(p->mel_linspace_freqs), "mel_linspace_freqs=%d must be 0 or 1", p->mel_linspace_freqs);
    CHECK((unsigned)p->dct_norm <= AFX_DCT_TF, "dct_norm=%d is not a valid afx_dct_norm", (int)p->dct_norm);
    CHECK(is_bool(p->drop_last_frame), "drop_last_frame=%d must be 0 or 1", p->drop_last_frame);
    CHECK(!isnan(p->log_range) && p->log_range < INFINITY, "log_range=%g must be finite (negative disables it)",
          (double)p->log_range);
    CHECK(isfinite(p->out_scale) && fabsf(p->out_scale) <= AFX_OUT_AFFINE_MAX,
          "out_scale=%g must be in -%g..%g (Whisper: 0.25)", (double)p->out_scale, (double)AFX_OUT_AFFINE_MAX,
          (double)AFX_OUT_AFFINE_MAX);
    CHECK(isfinite(p->out_bias) && fabsf(p->out_bias) <= AFX_OUT_AFFINE_MAX,
          "out_bias=%g must be in -%g..%g (Whisper: 1)", (double)p->out_bias, (double)AFX_OUT_AFFINE_MAX,
          (double)AFX_OUT_AFFINE_MAX);
    CHECK((unsigned)p->output_dtype <= AFX_DTYPE_BF16, "output_dtype=%d is not a valid afx_dtype",
          (int)p->output_dtype);
    CHECK(p->cuda_device >= 0 && p->cuda_device <= 1023, "cuda_device=%d must be in 0..1023", p->cuda_device);
    CHECK(p->cpu_threads >= 0 && p->cpu_threads <= 1024, "cpu_threads=%d must be in 0..1024 (0 = every core)",
          p->cpu_threads);
    return AFX_OK;
}

/* The spelling of every enum value, indexed by afx_enum_kind then value; each list ends with NULL. */
static const char *const *const enum_names[AFX_ENUM_KIND_COUNT_] = {
    [AFX_ENUM_BACKEND] = (const char *const[]){"cpu", "cuda", "auto", NULL},
    [AFX_ENUM_FEATURE] = (const char *const[]){"spectrogram", "mel", "logmel", "db", "mfcc", NULL},
    [AFX_ENUM_WINDOW] = (const char *const[]){"hann", "hamming", "povey", "blackman", "rectangular", NULL},
    [AFX_ENUM_PAD_MODE] = (const char *const[]){"reflect", "constant", NULL},
    [AFX_ENUM_MEL_SCALE] = (const char *const[]){"htk", "slaney", "kaldi", NULL},
    [AFX_ENUM_MEL_NORM] = (const char *const[]){"none", "slaney", NULL},
    [AFX_ENUM_LOG_TYPE] = (const char *const[]){"ln", "log10", "db", NULL},
    [AFX_ENUM_NORMALIZE] = (const char *const[]){"none", "utterance", "feature", "minmax", NULL},
    [AFX_ENUM_MASK_VALUE] = (const char *const[]){"zero", "mean", NULL},
    [AFX_ENUM_POOLING] = (const char *const[]){"none", "mean", "meanstd", NULL},
    [AFX_ENUM_LAYOUT] = (const char *const[]){"ft", "tf", NULL},
    [AFX_ENUM_DCT_NORM] = (const char *const[]){"ortho", "tf", NULL},
    [AFX_ENUM_DTYPE] = (const char *const[]){"f32", "f16", "bf16", NULL},
    [AFX_ENUM_PRESET] = (const char *const[]){"librosa", "torchaudio", "kaldi", "whisper", "tf", NULL},
};

const char *afx_enum_name(afx_enum_kind kind, int value) {
    if ((unsigned)kind >= AFX_ENUM_KIND_COUNT_ || value < 0) return NULL;
    const char *const *names = enum_names[kind];
    for (int v = 0; names[v]; v++)
        if (v == value) return names[v];
    return NULL;
}

int afx_enum_value(afx_enum_kind kind, const char *name) {
    if ((unsigned)kind >= AFX_ENUM_KIND_COUNT_ || !name) return -1;
    const char *const *names = enum_names[kind];
    for (int v = 0; names[v]; v++)
        if (strcmp(names[v], name) == 0) return v;
    return -1;
}

static const char *name_or_unknown(afx_enum_kind kind, int value) {
    const char *name = afx_enum_name(kind, value);
    return name ? name : "?";
}

const char *afx_backend_name(afx_backend b) { return name_or_unknown(AFX_ENUM_BACKEND, (int)b); }
const char *afx_feature_name(afx_feature f) { return name_or_unknown(AFX_ENUM_FEATURE, (int)f); }
const char *afx_window_name(afx_window w) { return name_or_unknown(AFX_ENUM_WINDOW, (int)w); }
