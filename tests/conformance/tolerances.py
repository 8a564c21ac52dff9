"""Every tolerance of the conformance suite, in one place, each with its reason.

Metrics (tests/conformance/metrics.py):
  rel_l2   ||afx - peer|| / ||peer|| over a whole clip (float64 sums). Used for linear features
           (spectrogram, mel) and MFCC.
  max_db   max |afx - peer| in dB over the bins whose peer value is within 60 dB of the clip's peak.
           Log features (logmel, db) in their own units are converted to dB first (1 nat of power =
           4.34 dB, 1 nat of magnitude = 8.69 dB, Whisper's (log10 + 4) / 4 unit = 40 dB). A float32
           FFT's rounding noise is ~1e-7 of the frame's largest magnitude (-140 dB of power under the
           frame's peak); far under the clip's peak (empty bands, near-silent frames) bins can sit at
           that noise, where the two sides' different FFT algorithms decide their value, not the
           conventions under test; 60 dB keeps a wide margin above it. When the peer's
           minimum is a floor (a plateau: top_db, log_range, amin, log floor or offset, digital
           silence), the lowest afx value on those bins must also sit on it, within the same tolerance:
           a wrong floor only moves bins outside the window.
  max_abs  max |afx - peer| over the samples (resampling).
Frame counts are always compared exactly (test_presets.py), whatever the metric.

Measured worst cases on the corpus (x86-64, scripts/conformance-table) sit 3x to 15x under these
tolerances; the margin covers other CPUs (SIMD paths of the FFTs and BLAS, summation order).
A tolerance may only be raised with the cause of the larger error written next to it.
"""
from collections import namedtuple

Tol = namedtuple("Tol", "metric limit reason")

# --------------------------------------------------------------------------------------------- #
# One tolerance per kind of feature                                                              #
# --------------------------------------------------------------------------------------------- #
SPECTROGRAM = Tol(
    "rel_l2", 5e-6,
    "float32 FFTs on both sides (KissFFT vs pocketfft/MKL/Eigen): relative rounding ~1e-7 per value "
    "(measured <= 7e-7)")

MEL = Tol(
    "rel_l2", 2e-5,
    "spectrogram rounding plus the peer's filterbank precision: torchaudio (melscale_fbanks), "
    "kaldi-native-fbank and tf.signal (linear_to_mel_weight_matrix) build their mel weights in float32, "
    "afx and librosa in float64; a float32 weight is off by ~1e-7 * f / filter width, up to ~3e-6 for "
    "the narrow high-frequency HTK filters (measured <= 6e-6, torchaudio on broadband clips)")

LOG = Tol(
    "max_db", 0.01,
    "log of the mel (or spectrogram) above: a relative error e in a bin is 4.34 e dB; bins near the "
    "60 dB floor and bins that a float32 filter weight near a triangle's edge dominates reach 1e-3 dB "
    "(measured <= 2.1e-3 dB, torchaudio); 0.01 dB is 0.23 % of power")

MFCC_CLAMPED_PEER = Tol(
    "rel_l2", 2e-5,
    "the peer's log-mel is floored 80 dB under the clip's peak (librosa/torchaudio top_db=80) before the "
    "orthonormal DCT, so no float32-noise bin enters; rounding of the log-mel as in LOG "
    "(measured <= 1.6e-6)")

MFCC_UNCLAMPED = Tol(
    "rel_l2", 3e-2,
    "Kaldi (log floor FLT_EPSILON on int16-scale power) and tf (log(mel + 1e-6)) do not floor the log-mel "
    "relative to the clip's peak: on band-limited clips (the 8 kHz telephone clips resampled to 16 kHz, "
    "the Vorbis chime) the empty top mel bands sit at float32 noise level, 115-150 dB under the peak, in "
    "every frame; there the log-mel is decided by rounding (0.16 nat between afx and Kaldi, 0.46 nat "
    "between afx and tf) and the DCT spreads it over all coefficients. The peers disagree with themselves "
    "as much: kaldi-native-fbank vs torchaudio.compliance.kaldi 5.6e-4, tf float32 vs tf float64 7e-3 on "
    "ast_demo-thanks (afx: <= 5.4e-4 Kaldi, 2.2e-3 tf; <= 3.3e-5 on full-band clips). The 'mfcc, 60 dB "
    "floor' rows check the same pipeline without those bins, tightly")

MFCC_60DB = Tol(
    "rel_l2", 5e-5,
    "as 'mfcc', with both sides' log-mel floored 60 dB under the clip's peak (afx log_range; the peer's own "
    "log-mel clamped, then its own DCT, lifter and log energy): the float32-noise bins are out and what "
    "remains is rounding; torchaudio.compliance.kaldi runs its whole pipeline in float32 (window, "
    "pre-emphasis, mel weights), which shows as 1e-4 on single coefficients (measured <= 7.5e-6 Kaldi, "
    "1.3e-6 tf)")

RESAMPLE = Tol(
    "max_abs", 1e-6,
    "afx calls Debian's libsoxr 0.1.3 with python-soxr's recipe (SOXR_HQ, same chunking, librosa's "
    "fix_length); python-soxr vendors the same libsoxr version, so the samples are bit-identical here "
    "(measured 0); 1e-6 (-120 dBFS) leaves room for libsoxr's SIMD dispatch on another CPU")

LOAD = Tol(
    "max_abs", 1e-6,
    "the same decoders on both sides (libsndfile with libFLAC/libvorbis/libopus, libmpg123 for MP3) and "
    "the same resampling recipe; soundfile's wheel bundles its own builds of them, and Vorbis decoded "
    "by another libvorbis build can round differently in the last bit (measured up to 1.2e-7 when the "
    "wheel's libvorbis is the one loaded); PCM, u-law, FLAC and MP3 are bit-identical (measured 0)")

# --------------------------------------------------------------------------------------------- #
# (preset, feature) -> tolerance. Both Kaldi peers (kaldi-native-fbank, torchaudio.compliance.kaldi)
# share their row's tolerance.
# --------------------------------------------------------------------------------------------- #
TOLERANCES = {
    ("librosa", "spectrogram"): SPECTROGRAM,
    ("librosa", "mel"): MEL,
    ("librosa", "logmel"): LOG,
    ("librosa", "db"): LOG,
    ("librosa", "mfcc"): MFCC_CLAMPED_PEER,
    ("torchaudio", "spectrogram"): SPECTROGRAM,
    ("torchaudio", "mel"): MEL,
    ("torchaudio", "logmel"): LOG,
    ("torchaudio", "db"): LOG,
    ("torchaudio", "mfcc"): MFCC_CLAMPED_PEER,
    ("kaldi", "spectrogram"): SPECTROGRAM,
    ("kaldi", "mel"): MEL,
    ("kaldi", "logmel"): LOG,
    ("kaldi", "mfcc"): MFCC_UNCLAMPED,
    ("kaldi", "mfcc, 60 dB floor"): MFCC_60DB,
    ("whisper", "spectrogram"): SPECTROGRAM,
    ("whisper", "mel"): MEL,
    ("whisper", "logmel"): LOG,
    ("whisper", "logmel, n_mels=128"): LOG,
    ("tf", "spectrogram"): SPECTROGRAM,
    ("tf", "mel"): MEL,
    ("tf", "logmel"): LOG,
    ("tf", "mfcc"): MFCC_UNCLAMPED,
    ("tf", "mfcc, 60 dB floor"): MFCC_60DB,
    # Extractor(preset=...)(list of clips) against the library called with its own defaults
    ("librosa", "mel, n_mels=64, batch"): MEL,
    ("torchaudio", "mel, n_mels=64, batch"): MEL,
    ("kaldi", "logmel, batch"): LOG,
    ("whisper", "logmel, batch"): LOG,
    ("resample", "16000 Hz"): RESAMPLE,
    ("resample", "22050 Hz"): RESAMPLE,
    # afx_audio_load_file against soundfile.read and librosa.load (test_load_window.py)
    ("load", "decode"): LOAD,
    ("load", "offset/duration"): LOAD,
}


def tolerance(preset, feature):
    return TOLERANCES[(preset, feature)]
