/*
 * presets.c: afx_params_preset, one switch per peer library's conventions.
 *
 * Each preset starts from afx_params_init and sets every field that the library's convention fixes,
 * even where it equals afx's own default today, so that a change of afx's defaults can never change a
 * preset; each cites the source lines it reproduces. The conformance suite
 * (tests/conformance) runs every preset against the library itself on the corpus clips.
 */
#include <float.h>

#include "internal.h"

/* librosa 0.11 (github.com/librosa/librosa, tag 0.11.0; lines as in the 0.11.0 release the conformance
 * suite runs):
 *  - librosa/core/spectrum.py stft (L55-L66; win_length and hop defaults L229-L234): n_fft=2048,
 *    win_length=n_fft, hop_length=win_length//4=512, window="hann" (scipy get_window, periodic),
 *    center=True, pad_mode="constant" (since 0.10.0).
 *  - librosa/feature/spectral.py melspectrogram (L2013-L2026; filters.mel at L2148): sr=22050, power=2.0;
 *    mel kwargs to librosa/filters.py mel (L128-L138; fmax default L218): n_mels=128, fmin=0.0,
 *    fmax=sr/2, htk=False (Slaney), norm="slaney".
 *  - librosa/core/spectrum.py power_to_db (L1698-L1704): ref=1.0, amin=1e-10, top_db=80.0.
 *  - librosa/feature/spectral.py mfcc (L1834-L1845, L1993): S = power_to_db(melspectrogram(..., norm=mel_norm)),
 *    n_mfcc=20, dct_type=2, norm="ortho", lifter=0, mel_norm="slaney".
 */
static void preset_librosa(afx_params *p, afx_feature feature) {
    p->sample_rate = 22050;
    p->n_fft = 2048;
    p->win_length = 0;
    p->hop_length = 512;
    p->window = AFX_WINDOW_HANN;
    p->window_periodic = 1;
    p->center = 1;
    p->pad_mode = AFX_PAD_CONSTANT;
    p->power = 2.0f;
    p->n_mels = 128;
    p->f_min = 0.0f;
    p->f_max = 0.0f;
    p->mel_scale = AFX_MEL_SLANEY;
    p->mel_norm = AFX_MEL_NORM_SLANEY;
    p->db_multiplier = 10.0f;
    p->db_ref = 1.0f;
    p->db_amin = 1e-10f;
    p->top_db = 80.0f;
    p->n_mfcc = 20;
    p->mfcc_log = AFX_LOG_DB;
    p->cepstral_lifter = 0.0f;
    (void)feature;
}

/* torchaudio (github.com/pytorch/audio, tag v0.13.1, the version the conformance suite runs (Debian 12's
 * python3-torchaudio); these defaults are unchanged in 2.x, at other line numbers under src/):
 *  - torchaudio/transforms/_transforms.py Spectrogram.__init__ (L62-L82) and MelSpectrogram.__init__
 *    (L586-L610): sample_rate=16000, n_fft=400, win_length=n_fft, hop_length=win_length//2=200, f_min=0,
 *    f_max=None (sample_rate//2), pad=0, n_mels=128, window_fn=torch.hann_window (periodic), power=2.0,
 *    normalized=False, center=True, pad_mode="reflect", norm=None, mel_scale="htk".
 *  - torchaudio/functional/functional.py melscale_fbanks (L508-L577): all_freqs =
 *    torch.linspace(0, sample_rate // 2, n_freqs) (L553): the mel_linspace_freqs convention.
 *  - _transforms.py AmplitudeToDB.__init__ (L321-L329): stype="power" (multiplier 10), top_db=None,
 *    amin=1e-10, ref_value=1.0.
 *  - _transforms.py MFCC.__init__ (L685-L711): n_mfcc=40, dct_type=2, norm="ortho", log_mels=False, so
 *    AmplitudeToDB("power", top_db=80.0) of the mel spectrogram (L702-L703): top_db is 80 for MFCC only.
 */
static void preset_torchaudio(afx_params *p, afx_feature feature) {
    p->sample_rate = 16000;
    p->n_fft = 400;
    p->win_length = 0;
    p->hop_length = 200;
    p->window = AFX_WINDOW_HANN;
    p->window_periodic = 1;
    p->center = 1;
    p->pad_mode = AFX_PAD_REFLECT;
    p->power = 2.0f;
    p->n_mels = 128;
    p->f_min = 0.0f;
    p->f_max = 0.0f;
    p->mel_scale = AFX_MEL_HTK;
    p->mel_norm = AFX_MEL_NORM_NONE;
    p->mel_linspace_freqs = 1;
    p->mel_allow_empty = 1; /* functional.py melscale_fbanks (L570-L575): warns about all-zero filters */
    p->db_multiplier = 10.0f;
    p->db_ref = 1.0f;
    p->db_amin = 1e-10f;
    p->top_db = feature == AFX_FEATURE_MFCC ? 80.0f : -1.0f;
    p->n_mfcc = 40;
    p->mfcc_log = AFX_LOG_DB;
}

/* Kaldi (github.com/kaldi-asr/kaldi; these defaults have not changed across its history, the line numbers
 * are those of the commits named), compute-fbank-feats / compute-mfcc-feats defaults:
 *  - src/feat/feature-window.h @adcabe40 FrameExtractionOptions() (L51-L63): samp_freq=16000,
 *    frame_shift_ms=10, frame_length_ms=25, dither=1.0, preemph_coeff=0.97, remove_dc_offset=true,
 *    window_type="povey", round_to_power_of_two=true, blackman_coeff=0.42, snip_edges=true.
 *  - src/feat/feature-functions.h @017b85aa MelBanksOptions(int num_bins = 25) (L51-L53): low_freq=20,
 *    high_freq=0 (Nyquist); num_bins is set by the feature options below.
 *  - src/feat/mel-computations.h @0c5da16b MelBanks::MelScale (L50-L52): 1127 ln(1 + f/700).
 *  - src/feat/feature-fbank.h @7b84e0d3 FbankOptions() (L46-L54): mel_opts(23), use_energy=false,
 *    energy_floor=0, raw_energy=true, htk_compat=false, use_log_fbank=true (use_power=true in later
 *    versions).
 *  - src/feat/feature-fbank.cc FbankComputer::Compute: mel_energies.ApplyFloor(FLT_EPSILON), then ApplyLog().
 *  - src/feat/feature-mfcc.h @0e169749 MfccOptions() (L49-L58): mel_opts(23), num_ceps=13,
 *    use_energy=true, energy_floor=0, raw_energy=true, cepstral_lifter=22.0.
 *  - Kaldi's tools read int16 samples without scaling (src/feat/wave-reader.cc), hence input_scale 32768.
 *  - SPECTROGRAM here is the power spectrum; Kaldi's compute-spectrogram-feats returns its log with bin 0
 *    replaced by the frame's log energy (feature-spectrogram.cc), which the conformance suite accounts for.
 */
static void preset_kaldi(afx_params *p, afx_feature feature) {
    p->sample_rate = 16000;
    p->input_scale = 32768.0f;
    p->dither = 1.0f;
    p->remove_dc_offset = 1;
    p->preemphasis = 0.97f;
    p->win_length = 400;
    p->hop_length = 160;
    p->round_to_power_of_two = 1;
    p->n_fft = 512;
    p->window = AFX_WINDOW_POVEY;
    p->window_periodic = 0;
    p->center = 0;
    p->snip_edges = 1;
    p->power = 2.0f;
    p->n_mels = 23;
    p->f_min = 20.0f;
    p->f_max = 0.0f;
    p->mel_scale = AFX_MEL_KALDI;
    p->mel_norm = AFX_MEL_NORM_NONE;
    p->log_base = AFX_LOG_LN;
    p->log_offset = 0.0f;
    p->log_floor = FLT_EPSILON;
    p->n_mfcc = 13;
    p->mfcc_log = AFX_LOG_LN;
    p->cepstral_lifter = 22.0f;
    p->mfcc_energy = feature == AFX_FEATURE_MFCC;
    p->raw_energy = 1;
    p->energy_floor = 0.0f;
    p->layout = AFX_LAYOUT_TF;
}

/* OpenAI Whisper (github.com/openai/whisper, v20250625), whisper/audio.py:
 *  - L13-L15: SAMPLE_RATE=16000, N_FFT=400, HOP_LENGTH=160.
 *  - mel_filters (L91-L107): librosa.filters.mel(sr=16000, n_fft=400, n_mels=80 or 128): Slaney scale and
 *    norm, fmin 0, fmax 8000.
 *  - log_mel_spectrogram (L110-L157): torch.stft(audio, N_FFT, HOP_LENGTH, window=torch.hann_window(N_FFT),
 *    return_complex=True) (center=True, reflect); magnitudes = stft[..., :-1].abs() ** 2 (last frame
 *    dropped); log_spec = clamp(filters @ magnitudes, min=1e-10).log10(); log_spec = max(log_spec,
 *    log_spec.max() - 8.0); (log_spec + 4.0) / 4.0. The max is per clip here (Whisper calls it per clip).
 */
static void preset_whisper(afx_params *p, afx_feature feature) {
    p->sample_rate = 16000;
    p->n_fft = 400;
    p->win_length = 0;
    p->hop_length = 160;
    p->window = AFX_WINDOW_HANN;
    p->window_periodic = 1;
    p->center = 1;
    p->pad_mode = AFX_PAD_REFLECT;
    p->power = 2.0f;
    p->drop_last_frame = 1;
    p->n_mels = 80;
    p->f_min = 0.0f;
    p->f_max = 0.0f;
    p->mel_scale = AFX_MEL_SLANEY;
    p->mel_norm = AFX_MEL_NORM_SLANEY;
    p->log_base = AFX_LOG_LOG10;
    p->log_offset = 0.0f;
    p->log_floor = 1e-10f;
    if (feature == AFX_FEATURE_LOGMEL) {
        p->log_range = 8.0f;
        p->out_scale = 0.25f;
        p->out_bias = 1.0f;
    }
}

/* tf.signal (github.com/tensorflow/tensorflow, v2.17.1), tensorflow/python/ops/signal/:
 *  - spectral_ops.py stft (L36-L92): frames of frame_length samples every frame_step (pad_end=False: no
 *    padding), window_fn=hann_window (periodic=True), fft_length=next power of two >= frame_length, the
 *    frame zero-padded at its end.
 *  - mel_ops.py linear_to_mel_weight_matrix (L92-L216): mel = 1127 ln(1 + f/700); bins at
 *    linspace(0, sr/2, n_bins) (k*sr/n_fft); triangles of peak 1 in the mel domain between
 *    num_mel_bins + 2 equally spaced mel edges. It zeroes the DC bin (bands_to_zero=1, L182-L185), which
 *    needs no field here: lower_edge_hertz >= 0 is required there (L73), so 0 Hz is never inside a triangle.
 *  - mfcc_ops.py mfccs_from_log_mel_spectrograms (L27-L107): dct(type=2) * rsqrt(2 * num_mel_bins)
 *    (L105-L107); its docstring example (L42-L72) is the recipe used here: frame_length=1024,
 *    frame_step=256, fft_length=1024, |stft| (magnitude), 80 mel bins from 80 to 7600 Hz at 16 kHz,
 *    log(mel + 1e-6), the first 13 MFCCs.
 */
static void preset_tf(afx_params *p, afx_feature feature) {
    p->sample_rate = 16000;
    p->n_fft = 1024;
    p->win_length = 1024;
    p->hop_length = 256;
    p->window = AFX_WINDOW_HANN;
    p->window_periodic = 1;
    p->center = 0;
    p->snip_edges = 1;
    p->power = 1.0f;
    p->n_mels = 80;
    p->f_min = 80.0f;
    p->f_max = 7600.0f;
    p->mel_scale = AFX_MEL_KALDI;
    p->mel_norm = AFX_MEL_NORM_NONE;
    p->log_base = AFX_LOG_LN;
    p->log_offset = 1e-6f;
    p->log_floor = 1e-30f;
    p->n_mfcc = 13;
    p->mfcc_log = AFX_LOG_LN;
    p->dct_norm = AFX_DCT_TF;
    p->layout = AFX_LAYOUT_TF;
    (void)feature;
}

afx_status afx_params_preset(afx_params *p, afx_preset preset, afx_feature feature, char *err, size_t err_size) {
    if (!p) return afx_fail(err, err_size, AFX_ERR_NULL_ARGUMENT, "afx_params_preset: params is NULL");
    const char *pname = afx_enum_name(AFX_ENUM_PRESET, (int)preset);
    const char *fname = afx_enum_name(AFX_ENUM_FEATURE, (int)feature);
    if (!pname) return afx_fail(err, err_size, AFX_ERR_INVALID_PARAM, "preset=%d is not a valid afx_preset", (int)preset);
    if (!fname)
        return afx_fail(err, err_size, AFX_ERR_INVALID_PARAM, "feature=%d is not a valid afx_feature", (int)feature);
    int supported = 1;
    if (preset == AFX_PRESET_WHISPER)
        supported = feature == AFX_FEATURE_SPECTROGRAM || feature == AFX_FEATURE_MEL || feature == AFX_FEATURE_LOGMEL;
    else if (preset == AFX_PRESET_KALDI || preset == AFX_PRESET_TF)
        supported = feature != AFX_FEATURE_DB;
    if (!supported)
        return afx_fail(err, err_size, AFX_ERR_INVALID_PARAM,
                        "preset %s has no %s feature (%s)", pname, fname,
                        preset == AFX_PRESET_WHISPER ? "whisper computes spectrogram, mel and logmel only"
                                                     : "it has no power_to_db; use logmel");
    afx_params_init(p);
    p->feature = feature;
    switch (preset) {
    case AFX_PRESET_LIBROSA: preset_librosa(p, feature); break;
    case AFX_PRESET_TORCHAUDIO: preset_torchaudio(p, feature); break;
    case AFX_PRESET_KALDI: preset_kaldi(p, feature); break;
    case AFX_PRESET_WHISPER: preset_whisper(p, feature); break;
    case AFX_PRESET_TF: preset_tf(p, feature); break;
    }
    return AFX_OK;
}
