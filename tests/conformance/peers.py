"""The peer side of the conformance suite: each library's own functions, called with the parameters
of the afx preset under test (read from the afx Extractor's params, never retyped here).

Every peer function takes the float32 samples that afx is given (decoded once with afx.load) and the
Extractor's params dict, and returns a float array in afx's layout for that preset ([F, T] for
layout "ft", [T, F] for layout "tf"). A peer that refuses a clip (too short for it) raises PeerRefused.

Libraries are imported lazily, once per process (tensorflow takes seconds to import).
"""
import functools
import importlib.util
import os
import sys
import types

import numpy as np


class PeerRefused(Exception):
    """The peer library raised on this clip (e.g. shorter than its window)."""


# --------------------------------------------------------------------------------------------- #
# helpers                                                                                        #
# --------------------------------------------------------------------------------------------- #
def win_length(p):
    return p["win_length"] or p["n_fft"]


def effective_n_fft(p):
    n = p["n_fft"]
    if p["round_to_power_of_two"]:
        n = 1
        while n < win_length(p):
            n *= 2
    return n


def f_max_hz(p):
    """afx's f_max convention: 0 = Nyquist, negative = Nyquist + f_max (as Kaldi's high_freq)."""
    f = float(p["f_max"])
    nyq = p["sample_rate"] / 2.0
    return nyq + f if f <= 0 else f


def expect(p, **fields):
    """The peer call below is written for these preset values: fail loudly if the preset changes."""
    for k, v in fields.items():
        if p[k] != v:
            raise AssertionError(f"peer mapping assumes {k}={v!r}, the preset has {p[k]!r}: update peers.py")


# --------------------------------------------------------------------------------------------- #
# library handles and versions                                                                   #
# --------------------------------------------------------------------------------------------- #
@functools.lru_cache(maxsize=None)
def librosa():
    import librosa as m
    return m


@functools.lru_cache(maxsize=None)
def torch():
    import torch as m
    m.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    return m


@functools.lru_cache(maxsize=None)
def torchaudio():
    import torchaudio as m
    import torchaudio.compliance.kaldi  # noqa: F401
    import torchaudio.transforms  # noqa: F401
    return m


@functools.lru_cache(maxsize=None)
def knf():
    import kaldi_native_fbank as m
    return m


@functools.lru_cache(maxsize=None)
def tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as m
    return m


@functools.lru_cache(maxsize=None)
def whisper_audio():
    """whisper.audio without whisper/__init__.py.

    openai-whisper is installed with --no-deps (scripts/conformance-env): its __init__.py imports
    tqdm, tiktoken, triton and the model code, none of which the feature code needs. whisper/audio.py
    itself imports only numpy, torch and whisper/utils.py (stdlib). So a stub package module `whisper`
    whose __path__ is the installed package directory is registered first; `import whisper.audio` then
    loads whisper/audio.py (and whisper/utils.py) from the real package, and log_mel_spectrogram finds
    its mel filters in whisper/assets/mel_filters.npz next to it.
    """
    torch()
    if "whisper" not in sys.modules:
        spec = importlib.util.find_spec("whisper")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("openai-whisper is not installed (scripts/conformance-env installs it)")
        stub = types.ModuleType("whisper")
        stub.__path__ = list(spec.submodule_search_locations)
        stub.__file__ = spec.origin
        sys.modules["whisper"] = stub
    import whisper.audio as m
    return m


def _tensor(x):
    """A torch tensor of its own memory: the corpus arrays are read-only (afx and the peer get the same
    samples and neither may change them), which torch.from_numpy warns about."""
    return torch().from_numpy(np.array(x, dtype=np.float32))


def _dist_version(name):
    from importlib import metadata
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


@functools.lru_cache(maxsize=None)
def version(peer):
    """Library and version string shown in the table."""
    if peer == "librosa":
        return f"librosa {librosa().__version__}"
    if peer == "torchaudio":
        return f"torchaudio {torchaudio().__version__} (torch {torch().__version__})"
    if peer == "knf":
        return f"kaldi-native-fbank {_dist_version('kaldi-native-fbank')}"
    if peer == "torchaudio.kaldi":
        return f"torchaudio.compliance.kaldi {torchaudio().__version__}"
    if peer == "whisper":
        return f"openai-whisper {_dist_version('openai-whisper')} (torch {torch().__version__})"
    if peer == "tf":
        return f"tensorflow-cpu {tf().__version__}"
    raise KeyError(peer)


# --------------------------------------------------------------------------------------------- #
# librosa 0.11                                                                                   #
# --------------------------------------------------------------------------------------------- #
def _librosa_stft_kw(p):
    expect(p, window="hann", window_periodic=1)  # librosa window="hann": scipy get_window, periodic
    return dict(n_fft=p["n_fft"], hop_length=p["hop_length"], win_length=win_length(p), window="hann",
                center=bool(p["center"]), pad_mode=p["pad_mode"])


def _librosa_mel_kw(p):
    expect(p, mel_scale="slaney", mel_norm="slaney")  # librosa.filters.mel(htk=False, norm="slaney")
    return dict(sr=p["sample_rate"], power=float(p["power"]), n_mels=p["n_mels"], fmin=float(p["f_min"]),
                fmax=f_max_hz(p), htk=False, norm="slaney", **_librosa_stft_kw(p))


def librosa_spectrogram(x, p):
    return np.abs(librosa().stft(x, **_librosa_stft_kw(p))) ** float(p["power"])


def librosa_mel(x, p):
    return librosa().feature.melspectrogram(y=x, **_librosa_mel_kw(p))


def librosa_logmel(x, p):
    # librosa has no log-mel function; the recipe users write: np.log(np.maximum(mel, 1e-10))
    expect(p, log_base="ln", log_offset=0)
    return np.log(np.maximum(librosa_mel(x, p), p["log_floor"]))


def _top_db(p):
    return None if p["top_db"] < 0 else float(p["top_db"])


def librosa_db(x, p):
    return librosa().power_to_db(librosa_mel(x, p), ref=float(p["db_ref"]), amin=float(p["db_amin"]),
                                 top_db=_top_db(p))


def librosa_mfcc(x, p):
    # librosa.feature.mfcc computes S = power_to_db(melspectrogram(y, sr, **kwargs)) with its default
    # top_db=80, then scipy.fft.dct(type=2, norm="ortho")[:n_mfcc]
    expect(p, mfcc_log="db", db_ref=1, top_db=80, cepstral_lifter=0, dct_norm="ortho")
    kw = _librosa_mel_kw(p)
    kw.pop("norm")  # mfcc's own `norm` is the DCT's; the mel filter norm is its `mel_norm`
    return librosa().feature.mfcc(y=x, n_mfcc=p["n_mfcc"], dct_type=2, norm="ortho", lifter=0,
                                  mel_norm="slaney", **kw)


# --------------------------------------------------------------------------------------------- #
# torchaudio.transforms                                                                          #
# --------------------------------------------------------------------------------------------- #
def _ta_spec_kw(p):
    expect(p, window="hann", window_periodic=1)  # window_fn=torch.hann_window (periodic)
    return dict(n_fft=p["n_fft"], win_length=win_length(p), hop_length=p["hop_length"],
                window_fn=torch().hann_window, power=float(p["power"]), normalized=False,
                center=bool(p["center"]), pad_mode=p["pad_mode"])


def _ta_mel_kw(p):
    expect(p, mel_scale="htk", mel_norm="none", mel_linspace_freqs=1)
    # f_max=None is torchaudio's own default (float(sample_rate // 2)); pass it when afx uses Nyquist
    f_max = None if p["f_max"] == 0 else f_max_hz(p)
    return dict(sample_rate=p["sample_rate"], f_min=float(p["f_min"]), f_max=f_max, n_mels=p["n_mels"],
                norm=None, mel_scale="htk", **_ta_spec_kw(p))


def _ta_run(module, x):
    with torch().no_grad():
        return module(_tensor(x)).numpy()


def torchaudio_spectrogram(x, p):
    return _ta_run(torchaudio().transforms.Spectrogram(**_ta_spec_kw(p)), x)


def torchaudio_mel(x, p):
    return _ta_run(torchaudio().transforms.MelSpectrogram(**_ta_mel_kw(p)), x)


def torchaudio_logmel(x, p):
    # torchaudio has no log-mel transform; the recipe: torch.log(torch.clamp(mel, min=1e-10))
    expect(p, log_base="ln", log_offset=0)
    mel = torch().from_numpy(torchaudio_mel(x, p))
    return torch().log(torch().clamp(mel, min=float(p["log_floor"]))).numpy()


def torchaudio_db(x, p):
    expect(p, db_multiplier=10, db_ref=1)  # AmplitudeToDB(stype="power"), ref_value 1
    T = torchaudio().transforms
    mel = torch().from_numpy(torchaudio_mel(x, p))
    with torch().no_grad():
        return T.AmplitudeToDB(stype="power", top_db=_top_db(p))(mel).numpy()


def torchaudio_mfcc(x, p):
    # T.MFCC(log_mels=False) applies its own AmplitudeToDB("power", top_db=80.0) before the DCT
    expect(p, mfcc_log="db", db_multiplier=10, top_db=80, cepstral_lifter=0, dct_norm="ortho")
    kw = _ta_mel_kw(p)
    kw.pop("sample_rate")
    m = torchaudio().transforms.MFCC(sample_rate=p["sample_rate"], n_mfcc=p["n_mfcc"], dct_type=2,
                                     norm="ortho", log_mels=False, melkwargs=kw)
    return _ta_run(m, x)


# --------------------------------------------------------------------------------------------- #
# Kaldi: kaldi-native-fbank and torchaudio.compliance.kaldi                                      #
# --------------------------------------------------------------------------------------------- #
def _kaldi_ms(p):
    sr = p["sample_rate"]
    return win_length(p) * 1000.0 / sr, p["hop_length"] * 1000.0 / sr


def _kaldi_scaled(x, p):
    # Kaldi reads int16 samples unscaled: afx applies input_scale (32768) itself, the peers get x * 32768
    return (x * np.float32(p["input_scale"])).astype(np.float32)


def _knf_frame_opts(fo, p):
    expect(p, center=0, window_periodic=0)
    length_ms, shift_ms = _kaldi_ms(p)
    fo.samp_freq = float(p["sample_rate"])
    fo.frame_length_ms = length_ms
    fo.frame_shift_ms = shift_ms
    fo.dither = float(p["dither"])
    fo.preemph_coeff = float(p["preemphasis"])
    fo.remove_dc_offset = bool(p["remove_dc_offset"])
    fo.window_type = p["window"]
    fo.round_to_power_of_two = bool(p["round_to_power_of_two"])
    fo.snip_edges = bool(p["snip_edges"])


def _knf_mel_opts(mo, p):
    expect(p, mel_scale="kaldi", mel_norm="none")
    mo.num_bins = p["n_mels"]
    mo.low_freq = float(p["f_min"])
    mo.high_freq = float(p["f_max"])  # same convention: 0 Nyquist, negative offset from Nyquist
    mo.is_librosa = False


def _knf_run(computer, x, p):
    computer.accept_waveform(float(p["sample_rate"]), _kaldi_scaled(x, p))
    computer.input_finished()
    n = computer.num_frames_ready
    if n == 0:
        return np.zeros((0, computer.dim), np.float32)
    return np.stack([np.asarray(computer.get_frame(i), np.float32) for i in range(n)])


def knf_fbank(x, p, log):
    k = knf()
    o = k.FbankOptions()
    _knf_frame_opts(o.frame_opts, p)
    _knf_mel_opts(o.mel_opts, p)
    o.use_energy = False
    o.use_log_fbank = log
    o.use_power = p["power"] == 2
    o.energy_floor = float(p["energy_floor"])
    o.raw_energy = bool(p["raw_energy"])
    return _knf_run(k.OnlineFbank(o), x, p)  # [T, n_mels]


def knf_mel(x, p):
    return knf_fbank(x, p, False)


def knf_logmel(x, p):
    expect(p, log_base="ln", log_offset=0)
    return knf_fbank(x, p, True)


def knf_mfcc(x, p):
    expect(p, mfcc_log="ln", dct_norm="ortho")
    k = knf()
    o = k.MfccOptions()
    _knf_frame_opts(o.frame_opts, p)
    _knf_mel_opts(o.mel_opts, p)
    o.num_ceps = p["n_mfcc"]
    o.use_energy = bool(p["mfcc_energy"])
    o.energy_floor = float(p["energy_floor"])
    o.raw_energy = bool(p["raw_energy"])
    o.cepstral_lifter = float(p["cepstral_lifter"])
    return _knf_run(k.OnlineMfcc(o), x, p)


def _tak_kw(p):
    expect(p, center=0, window_periodic=0)
    length_ms, shift_ms = _kaldi_ms(p)
    return dict(sample_frequency=float(p["sample_rate"]), frame_length=length_ms, frame_shift=shift_ms,
                dither=float(p["dither"]), preemphasis_coefficient=float(p["preemphasis"]),
                remove_dc_offset=bool(p["remove_dc_offset"]), window_type=p["window"],
                round_to_power_of_two=bool(p["round_to_power_of_two"]), snip_edges=bool(p["snip_edges"]),
                energy_floor=float(p["energy_floor"]),  # torchaudio's default is 1.0, Kaldi's 0
                raw_energy=bool(p["raw_energy"]))


def _tak_mel_kw(p):
    expect(p, mel_scale="kaldi", mel_norm="none")
    return dict(num_mel_bins=p["n_mels"], low_freq=float(p["f_min"]), high_freq=float(p["f_max"]))


def _tak_run(fn, x, p, **kw):
    w = _tensor(_kaldi_scaled(x, p)).unsqueeze(0)
    with torch().no_grad():
        return fn(w, **kw).numpy()


def tak_fbank(x, p, log):
    K = torchaudio().compliance.kaldi
    return _tak_run(K.fbank, x, p, use_energy=False, use_log_fbank=log, use_power=p["power"] == 2,
                    **_tak_kw(p), **_tak_mel_kw(p))


def tak_mel(x, p):
    return tak_fbank(x, p, False)


def tak_logmel(x, p):
    expect(p, log_base="ln", log_offset=0)
    return tak_fbank(x, p, True)


def tak_mfcc(x, p):
    expect(p, mfcc_log="ln", dct_norm="ortho")
    K = torchaudio().compliance.kaldi
    return _tak_run(K.mfcc, x, p, num_ceps=p["n_mfcc"], use_energy=bool(p["mfcc_energy"]),
                    cepstral_lifter=float(p["cepstral_lifter"]), **_tak_kw(p), **_tak_mel_kw(p))


def tak_spectrogram(x, p):
    """Kaldi's compute-spectrogram-feats (torchaudio.compliance.kaldi.spectrogram) returns
    log(max(|X|^2, FLT_EPSILON)) with bin 0 replaced by the frame's raw log energy
    (kaldi src/feat/feature-spectrogram.cc SpectrogramComputer::Compute). afx's spectrogram is the power
    spectrum itself, so the peer's bins 1.. are exp()'d here and bin 0 is set to NaN: the comparison
    (metrics.compare) leaves NaN entries out, and the test states why."""
    expect(p, power=2)
    K = torchaudio().compliance.kaldi
    s = _tak_run(K.spectrogram, x, p, **_tak_kw(p)).astype(np.float64)
    s = np.exp(s)
    if s.size:
        s[:, 0] = np.nan
    return s


# --------------------------------------------------------------------------------------------- #
# openai-whisper (whisper/audio.py)                                                               #
# --------------------------------------------------------------------------------------------- #
def whisper_logmel(x, p):
    wa = whisper_audio()
    expect(p, sample_rate=wa.SAMPLE_RATE, n_fft=wa.N_FFT, hop_length=wa.HOP_LENGTH)
    with torch().no_grad():
        return wa.log_mel_spectrogram(_tensor(x), n_mels=p["n_mels"]).numpy()


def _whisper_magnitudes(x):
    # the first three lines of whisper.audio.log_mel_spectrogram, verbatim (window, stft, |.|^2 of all
    # frames but the last): the spectrogram and mel intermediates are not exposed by whisper itself
    wa, t = whisper_audio(), torch()
    audio = _tensor(x)
    window = t.hann_window(wa.N_FFT).to(audio.device)
    stft = t.stft(audio, wa.N_FFT, wa.HOP_LENGTH, window=window, return_complex=True)
    return stft[..., :-1].abs() ** 2


def whisper_spectrogram(x, p):
    wa = whisper_audio()
    expect(p, sample_rate=wa.SAMPLE_RATE, n_fft=wa.N_FFT, hop_length=wa.HOP_LENGTH, power=2)
    with torch().no_grad():
        return _whisper_magnitudes(x).numpy()


def whisper_mel(x, p):
    wa = whisper_audio()
    expect(p, sample_rate=wa.SAMPLE_RATE, n_fft=wa.N_FFT, hop_length=wa.HOP_LENGTH, power=2)
    with torch().no_grad():
        filters = wa.mel_filters(torch().device("cpu"), p["n_mels"])  # whisper/assets/mel_filters.npz
        return (filters @ _whisper_magnitudes(x)).numpy()


# --------------------------------------------------------------------------------------------- #
# tf.signal                                                                                      #
# --------------------------------------------------------------------------------------------- #
def _tf_stft(x, p):
    expect(p, center=0, snip_edges=1, window="hann", window_periodic=1)
    t = tf()
    s = t.signal.stft(t.constant(x), frame_length=win_length(p), frame_step=p["hop_length"],
                      fft_length=p["n_fft"], window_fn=t.signal.hann_window, pad_end=False)
    mag = t.abs(s)
    return mag if p["power"] == 1 else mag ** p["power"]


def _tf_mel(x, p):
    expect(p, mel_scale="kaldi", mel_norm="none")
    t = tf()
    w = t.signal.linear_to_mel_weight_matrix(num_mel_bins=p["n_mels"], num_spectrogram_bins=p["n_fft"] // 2 + 1,
                                             sample_rate=p["sample_rate"], lower_edge_hertz=float(p["f_min"]),
                                             upper_edge_hertz=f_max_hz(p))
    return t.tensordot(_tf_stft(x, p), w, 1)


def _tf_logmel(x, p):
    expect(p, log_base="ln")
    return tf().math.log(_tf_mel(x, p) + float(p["log_offset"]))


def tf_spectrogram(x, p):
    return _tf_stft(x, p).numpy()  # [T, F]


def tf_mel(x, p):
    return _tf_mel(x, p).numpy()


def tf_logmel(x, p):
    return _tf_logmel(x, p).numpy()


def tf_mfcc(x, p):
    expect(p, mfcc_log="ln", dct_norm="tf", cepstral_lifter=0, mfcc_energy=0)
    return tf().signal.mfccs_from_log_mel_spectrograms(_tf_logmel(x, p))[..., : p["n_mfcc"]].numpy()


# --------------------------------------------------------------------------------------------- #
# MFCC with the log-mel floored at the clip's peak - log_range (the "60 dB floor" rows)         #
# --------------------------------------------------------------------------------------------- #
def _floor_to_range(logmel, p):
    if logmel.size == 0:
        return logmel
    return np.maximum(logmel, logmel.max() - np.float32(p["log_range"]))


def tak_mfcc_floored(x, p):
    """Kaldi's MFCC (torchaudio.compliance.kaldi.mfcc's own steps) on a log-mel floored at its clip
    peak - log_range: fbank (log) -> floor -> its DCT matrix (_get_dct_matrix) -> its lifter
    (_get_lifter_coeffs) -> c0 replaced by the raw log energy (taken from kaldi.mfcc itself, which
    does not depend on the mel floor)."""
    expect(p, mfcc_log="ln", dct_norm="ortho")
    K, t = torchaudio().compliance.kaldi, torch()
    fb = _floor_to_range(tak_fbank(x, p, True), p)
    full = tak_mfcc(x, p)
    if fb.shape[0] == 0:
        return full
    dct = K._get_dct_matrix(p["n_mfcc"], p["n_mels"])  # [n_mels, n_ceps], Kaldi's ComputeDctMatrix
    c = t.from_numpy(fb).matmul(dct)
    if p["cepstral_lifter"] != 0:
        c = c * K._get_lifter_coeffs(p["n_mfcc"], float(p["cepstral_lifter"])).unsqueeze(0)
    c = c.numpy()
    if p["mfcc_energy"]:
        c[:, 0] = full[:, 0]
    return c


def tf_mfcc_floored(x, p):
    expect(p, mfcc_log="ln", dct_norm="tf", cepstral_lifter=0, mfcc_energy=0)
    t = tf()
    lm = _floor_to_range(_tf_logmel(x, p).numpy(), p)
    return t.signal.mfccs_from_log_mel_spectrograms(t.constant(lm))[..., : p["n_mfcc"]].numpy()


# --------------------------------------------------------------------------------------------- #
# The libraries called with their own defaults (what a user of that library writes), for the      #
# Extractor(preset=...)(list of clips) tests. Only what the caller must say is passed.            #
# --------------------------------------------------------------------------------------------- #
def librosa_default_mel64(x):
    return librosa().feature.melspectrogram(y=x, sr=22050, n_mels=64)


def torchaudio_default_mel64(x):
    with torch().no_grad():
        return torchaudio().transforms.MelSpectrogram(sample_rate=16000, n_mels=64)(_tensor(x)).numpy()


def kaldi_default_fbank(x):
    # compute-fbank-feats' defaults except dither (random); int16 sample scale
    with torch().no_grad():
        w = _tensor(x * np.float32(32768.0)).unsqueeze(0)
        return torchaudio().compliance.kaldi.fbank(w, dither=0.0).numpy()


def whisper_default_logmel(x):
    with torch().no_grad():
        return whisper_audio().log_mel_spectrogram(_tensor(x)).numpy()
