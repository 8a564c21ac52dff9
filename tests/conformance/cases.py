"""What the conformance suite compares: every preset x every feature it supports x its peer(s).

A case: afx.Extractor(preset=..., feature=..., **overrides) on one side, a function of peers.py on the
other, fed the same float32 samples. `layout` is the order the peer returns ([F, T] "ft" or [T, F]
"tf"), which must also be the preset's layout. `units` says how log features convert to dB (metrics.py).
`label` is the row name in tolerances.py and the table (usually the feature).
"""
from collections import namedtuple
import math

import peers

Case = namedtuple("Case", "preset feature label peer fn layout overrides units note")

# Kaldi: dither is random noise (Kaldi's default 1.0): both sides set it to 0.
_K = {"dither": 0.0}
# 60 dB in the log-mel's own units: ln of power (Kaldi) and ln of magnitude (tf)
_K60 = dict(_K, log_range=math.log(1e6))
_TF60 = {"log_range": math.log(1e3)}

NOTE_KALDI_SPEC = ("Kaldi's spectrogram is log power with bin 0 replaced by the frame's log energy "
                   "(feature-spectrogram.cc); the peer is exp()'d and bin 0 left out.")
NOTE_LOGMEL_RECIPE = "{lib} has no log-mel function: the peer is log(max(mel, 1e-10)) of its mel."
NOTE_WHISPER_INTERMEDIATE = ("Whisper does not return its spectrogram and mel: the peer runs the first lines "
                             "of whisper.audio.log_mel_spectrogram with its window, torch.stft and mel_filters.npz.")
NOTE_FLOOR = ("Both sides floor the log-mel 60 dB under the clip's peak before the DCT (afx: log_range; "
              "peer: its own log-mel clamped, then its own DCT{extra}).")

CASES = [
    Case("librosa", "spectrogram", "spectrogram", "librosa", peers.librosa_spectrogram, "ft", {}, None, ""),
    Case("librosa", "mel", "mel", "librosa", peers.librosa_mel, "ft", {}, None, ""),
    Case("librosa", "logmel", "logmel", "librosa", peers.librosa_logmel, "ft", {}, "ln_power",
         NOTE_LOGMEL_RECIPE.format(lib="librosa")),
    Case("librosa", "db", "db", "librosa", peers.librosa_db, "ft", {}, "db", ""),
    Case("librosa", "mfcc", "mfcc", "librosa", peers.librosa_mfcc, "ft", {}, None, ""),

    Case("torchaudio", "spectrogram", "spectrogram", "torchaudio", peers.torchaudio_spectrogram, "ft", {}, None, ""),
    Case("torchaudio", "mel", "mel", "torchaudio", peers.torchaudio_mel, "ft", {}, None, ""),
    Case("torchaudio", "logmel", "logmel", "torchaudio", peers.torchaudio_logmel, "ft", {}, "ln_power",
         NOTE_LOGMEL_RECIPE.format(lib="torchaudio")),
    Case("torchaudio", "db", "db", "torchaudio", peers.torchaudio_db, "ft", {}, "db", ""),
    Case("torchaudio", "mfcc", "mfcc", "torchaudio", peers.torchaudio_mfcc, "ft", {}, None, ""),

    Case("kaldi", "spectrogram", "spectrogram", "torchaudio.kaldi", peers.tak_spectrogram, "tf", _K, None,
         NOTE_KALDI_SPEC),
    Case("kaldi", "mel", "mel", "knf", peers.knf_mel, "tf", _K, None, ""),
    Case("kaldi", "mel", "mel", "torchaudio.kaldi", peers.tak_mel, "tf", _K, None, ""),
    Case("kaldi", "logmel", "logmel", "knf", peers.knf_logmel, "tf", _K, "ln_power", ""),
    Case("kaldi", "logmel", "logmel", "torchaudio.kaldi", peers.tak_logmel, "tf", _K, "ln_power", ""),
    Case("kaldi", "mfcc", "mfcc", "knf", peers.knf_mfcc, "tf", _K, None, ""),
    Case("kaldi", "mfcc", "mfcc", "torchaudio.kaldi", peers.tak_mfcc, "tf", _K, None, ""),
    Case("kaldi", "mfcc", "mfcc, 60 dB floor", "torchaudio.kaldi", peers.tak_mfcc_floored, "tf", _K60, None,
         NOTE_FLOOR.format(extra=", lifter and log energy")),

    Case("whisper", "spectrogram", "spectrogram", "whisper", peers.whisper_spectrogram, "ft", {}, None,
         NOTE_WHISPER_INTERMEDIATE),
    Case("whisper", "mel", "mel", "whisper", peers.whisper_mel, "ft", {}, None, NOTE_WHISPER_INTERMEDIATE),
    Case("whisper", "logmel", "logmel", "whisper", peers.whisper_logmel, "ft", {}, "whisper", ""),
    Case("whisper", "logmel", "logmel, n_mels=128", "whisper", peers.whisper_logmel, "ft", {"n_mels": 128},
         "whisper", ""),

    Case("tf", "spectrogram", "spectrogram", "tf", peers.tf_spectrogram, "tf", {}, None, ""),
    Case("tf", "mel", "mel", "tf", peers.tf_mel, "tf", {}, None, ""),
    Case("tf", "logmel", "logmel", "tf", peers.tf_logmel, "tf", {}, "ln_magnitude", ""),
    Case("tf", "mfcc", "mfcc", "tf", peers.tf_mfcc, "tf", {}, None, ""),
    Case("tf", "mfcc", "mfcc, 60 dB floor", "tf", peers.tf_mfcc_floored, "tf", _TF60, None,
         NOTE_FLOOR.format(extra="")),
]


def case_id(c):
    return f"{c.preset}-{c.label.replace(', ', '-').replace(' ', '_')}-{c.peer}"
