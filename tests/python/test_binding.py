"""Tests of the Python binding (python/afx).

Run: scripts/python-test (builds the wheel, installs it in a fresh environment and runs tests/python
against it), or from a source checkout: AFX_LIBRARY=build/libafx.so python3 -m pytest -q tests/python
(conftest.py says where the package comes from). Numbers are
checked against independent references (a float64 numpy DFT, Python's wave module, analytic frame
counts, numpy's float16 rounding) or against consistency properties of the API itself.
"""
import math
import os
import subprocess
import sys
import wave

import numpy as np
import pytest

import afx

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

AUDIO = os.path.join(REPO, "examples", "audio")


def rng(seed=0):
    return np.random.default_rng(seed)


def noise(n, seed=0, scale=0.3):
    return (rng(seed).standard_normal(n) * scale).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Module-level API
# ---------------------------------------------------------------------------------------------
def test_version_matches_library():
    v = afx.library_version()
    assert isinstance(v, str) and v.count(".") == 2
    assert afx.__version__ == v
    assert all(part.isdigit() for part in v.split("."))


def test_presets_list():
    assert afx.presets() == ["librosa", "torchaudio", "kaldi", "whisper", "tf"]


def test_param_names_contains_every_alias_target_and_field():
    names = afx.param_names()
    assert len(names) == len(set(names))
    for required in ("n_fft", "hop_length", "win_length", "n_mels", "f_max", "pad_mode", "feature", "dither",
                     "max_batch", "max_samples", "output_dtype", "layout", "pooling"):
        assert required in names
    for alias, (targets, _) in afx.ALIASES.items():
        for t in targets:
            assert t in names, (alias, t)
    # the documented aliases are all there
    for alias, target in [("log", "log_base"), ("ref", "db_ref"), ("amin", "db_amin"), ("lifter", "cepstral_lifter"),
                          ("pool", "pooling"), ("time_masks", "n_time_masks"), ("freq_masks", "n_freq_masks"),
                          ("int16_scale", "input_scale"), ("remove_dc", "remove_dc_offset"),
                          ("round_pow2", "round_to_power_of_two"), ("batch_size", "max_batch")]:
        assert afx.ALIASES[alias][0] == (target,)
    assert set(afx.ALIASES["seed"][0]) == {"dither_seed", "mask_seed"}


def test_missing_library_message_says_how_to_fix():
    env = dict(os.environ, AFX_LIBRARY="/nonexistent/libafx.so")
    code = "import sys; sys.path.insert(0, %r); import afx" % os.path.dirname(os.path.dirname(afx.__file__))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.returncode != 0
    assert "AFX_LIBRARY" in r.stderr and "/nonexistent/libafx.so" in r.stderr
    assert "ImportError" in r.stderr


# ---------------------------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------------------------
def test_defaults_and_preset_default_features():
    assert afx.Extractor().feature == "logmel"
    expected = {"librosa": "mel", "torchaudio": "mel", "kaldi": "logmel", "whisper": "logmel", "tf": "logmel"}
    for preset, feature in expected.items():
        e = afx.Extractor(preset=preset)
        assert e.feature == feature, preset
    e = afx.Extractor(preset="librosa")
    assert e.sample_rate == 22050
    p = e.params
    assert p["n_fft"] == 2048 and p["hop_length"] == 512 and p["n_mels"] == 128
    assert p["mel_scale"] == "slaney" and p["pad_mode"] == "constant"
    assert isinstance(p["power"], float) and p["power"] == 2.0
    assert set(p) == set(afx.param_names())


def test_torchaudio_preset_with_its_default_mels():
    # torchaudio's defaults (n_fft 400, 128 HTK mels) leave mel filter 0 empty; torchaudio warns and
    # outputs 0 there, and so does the preset (mel_allow_empty); without it the library refuses.
    e = afx.Extractor(preset="torchaudio")
    assert e.params["n_mels"] == 128 and e.params["mel_allow_empty"] == 1
    x = np.random.default_rng(3).standard_normal(4000).astype(np.float32)
    feats, n = e(x)
    assert feats.shape == (128, n)
    # the empty filters are those whose HTK triangle (edges in Hz) holds no bin k * 16000 / 400 strictly inside
    mel = np.linspace(0.0, 2595.0 * np.log10(1.0 + 8000.0 / 700.0), 130)
    edges = 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    bins = np.arange(201) * 40.0
    empty = [not np.any((bins > edges[i]) & (bins < edges[i + 2])) for i in range(128)]
    assert empty[0] and sum(empty) >= 1
    assert [bool(np.all(row == 0.0)) for row in feats] == empty
    with pytest.raises(afx.AfxError, match="mel_allow_empty"):
        afx.Extractor(preset="torchaudio", mel_allow_empty=False)


def test_overrides_and_aliases_reach_the_params():
    e = afx.Extractor(preset="librosa", n_mels=64, f_max=8000, pad_mode="reflect", log="log10", ref=2.0,
                      amin=1e-5, lifter=22, pool="mean", seed=7, time_masks=2, freq_masks=3, int16_scale=True,
                      no_center=True, remove_dc=True, round_pow2=True, symmetric_window=True, no_raw_energy=True,
                      no_norm_vars=True, n_fft=None)
    p = e.params
    assert p["n_mels"] == 64 and p["f_max"] == 8000.0 and p["pad_mode"] == "reflect"
    assert p["log_base"] == "log10" and p["db_ref"] == 2.0 and p["db_amin"] == np.float32(1e-5)
    assert p["cepstral_lifter"] == 22.0 and p["pooling"] == "mean"
    assert p["dither_seed"] == 7 and p["mask_seed"] == 7
    assert p["n_time_masks"] == 2 and p["n_freq_masks"] == 3 and p["input_scale"] == 32768.0
    assert p["center"] == 0 and p["remove_dc_offset"] == 1 and p["round_to_power_of_two"] == 1
    assert p["window_periodic"] == 0 and p["raw_energy"] == 0 and p["norm_vars"] == 0
    assert p["top_db"] == 80.0 and p["n_fft"] == 2048  # None keeps the preset's value (top_db: see test_extractor)
    # a specific seed wins over the shared one
    p = afx.Extractor(seed=3, mask_seed=9).params
    assert p["dither_seed"] == 3 and p["mask_seed"] == 9
    # numpy scalars and bools
    p = afx.Extractor(n_mels=np.int64(40), f_min=np.float32(20.5), center=np.bool_(False)).params
    assert p["n_mels"] == 40 and p["f_min"] == 20.5 and p["center"] == 0


def test_conflicting_keywords_raise_type_error():
    with pytest.raises(TypeError, match="pool"):
        afx.Extractor(pool="mean", pooling="meanstd")
    with pytest.raises(TypeError):
        afx.Extractor(no_center="yes")


def test_unknown_keyword_is_type_error_listing_valid_names():
    with pytest.raises(TypeError) as info:
        afx.Extractor(n_melz=64)
    msg = str(info.value)
    assert "n_melz" in msg and "n_mels" in msg and "hop_length" in msg and "pool" in msg


@pytest.mark.parametrize("kwargs, name", [
    ({"n_mels": 0}, "n_mels"),
    ({"window": "nope"}, "window"),
    ({"hop_length": 0}, "hop_length"),
    ({"n_fft": 256, "win_length": 400}, "win_length"),
    ({"pad_mode": "wrap"}, "pad_mode"),
    ({"n_mels": 64.5}, "n_mels"),
    ({"f_max": float("nan")}, "f_max"),
    ({"sample_rate": 10}, "sample_rate"),
    ({"max_batch": 0}, "max_batch"),
])
def test_invalid_values_raise_afx_error_naming_the_parameter(kwargs, name):
    with pytest.raises(afx.AfxError) as info:
        afx.Extractor(**kwargs)
    e = info.value
    assert e.status == "AFX_ERR_INVALID_PARAM" and e.code == 2
    assert name in str(e)
    assert str(e) == e.args[0]


def test_bad_preset_and_feature():
    with pytest.raises(afx.AfxError) as info:
        afx.Extractor(preset="essentia")
    assert "preset" in str(info.value) and "librosa" in str(info.value)
    with pytest.raises(afx.AfxError) as info:
        afx.Extractor(preset="librosa", feature="chroma")
    assert "feature" in str(info.value)
    with pytest.raises(afx.AfxError) as info:
        afx.Extractor(preset="whisper", feature="mfcc")  # the library refuses this combination
    assert info.value.status == "AFX_ERR_INVALID_PARAM" and "whisper" in str(info.value)
    with pytest.raises(ValueError):
        afx.Extractor(on_error="ignore")


def test_cuda_backend_error_or_runs():
    if afx.cuda_device_count() == 0:
        with pytest.raises(afx.AfxError) as info:
            afx.Extractor(backend="cuda")
        assert info.value.status == "AFX_ERR_BACKEND_UNAVAILABLE"
    else:
        e = afx.Extractor(backend="cuda")
        assert e.backend == "cuda"
    assert afx.Extractor(backend="auto").backend in ("cpu", "cuda")
    assert afx.Extractor().backend == "cpu"


# ---------------------------------------------------------------------------------------------
# Numbers against independent references
# ---------------------------------------------------------------------------------------------
def dft_power(frames, power):
    """|DFT|^power of each row of `frames` (float64, explicit matrix DFT, no FFT)."""
    n = frames.shape[1]
    k = np.arange(n // 2 + 1)[:, None]
    m = np.arange(n)[None, :]
    basis = np.exp(-2j * np.pi * k * m / n)
    spec = frames.astype(np.float64) @ basis.T  # [T, bins]
    return (np.abs(spec) ** power).T  # [bins, T]


@pytest.mark.parametrize("power", [1.0, 2.0])
@pytest.mark.parametrize("freq", [1000.0, 1234.5])
def test_rectangular_spectrogram_of_a_sine_matches_a_float64_dft(power, freq):
    sr, n_fft, hop, n = 16000, 256, 100, 4000
    t = np.arange(n) / sr
    x = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    feats, n_frames = afx.Extractor(feature="spectrogram", center=False, window="rectangular", n_fft=n_fft,
                                    win_length=n_fft, hop_length=hop, power=power, sample_rate=sr)(x)
    t_expected = 1 + (n - n_fft) // hop
    assert n_frames == t_expected and feats.shape == (n_fft // 2 + 1, t_expected) and feats.dtype == np.float32
    frames = np.stack([x[i * hop:i * hop + n_fft] for i in range(t_expected)]).astype(np.float64)
    ref = dft_power(frames, power)
    np.testing.assert_allclose(feats, ref, rtol=1e-4, atol=1e-5 * ref.max())
    if freq == 1000.0:  # bin-aligned: the peak is at bin f * n_fft / sr and holds (A * N / 2)^power
        peak_bin = int(freq * n_fft / sr)
        assert np.all(feats.argmax(axis=0) == peak_bin)
        np.testing.assert_allclose(feats[peak_bin], (0.5 * n_fft / 2) ** power, rtol=1e-4)


def test_centred_hann_spectrogram_matches_numpy_pad_and_dft():
    # librosa/torch framing: reflect padding of n_fft/2, periodic Hann window of win_length centred in n_fft.
    sr, n_fft, win, hop = 16000, 512, 400, 160
    x = noise(3000, seed=3)
    feats, n_frames = afx.Extractor(feature="spectrogram", n_fft=n_fft, win_length=win, hop_length=hop,
                                    window="hann", center=True, pad_mode="reflect", sample_rate=sr)(x)
    xp = np.pad(x.astype(np.float64), n_fft // 2, mode="reflect")
    t_expected = 1 + len(x) // hop
    assert n_frames == t_expected
    w = np.zeros(n_fft)
    off = (n_fft - win) // 2
    w[off:off + win] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)
    frames = np.stack([xp[i * hop:i * hop + n_fft] * w for i in range(t_expected)])
    ref = dft_power(frames, 2.0)
    np.testing.assert_allclose(feats, ref, rtol=1e-3, atol=1e-5 * ref.max())


def test_load_wav_against_the_wave_module_and_resample_length():
    path = os.path.join(AUDIO, "alsa_Front_Center.wav")
    with wave.open(path) as w:
        n, rate, ch, width = w.getnframes(), w.getframerate(), w.getnchannels(), w.getsampwidth()
        raw = np.frombuffer(w.readframes(n), dtype="<i2")
    assert (rate, ch, width) == (48000, 1, 2) and abs(n / rate - 1.428) < 1e-3
    x, sr = afx.load(path, sr=None)
    assert sr == 48000 and x.dtype == np.float32 and x.shape == (n,)
    np.testing.assert_array_equal(x, raw.astype(np.float32) / np.float32(32768))  # libsndfile: v / 32768
    y, sr16 = afx.load(path)  # default: 16 kHz mono
    assert sr16 == 16000 and y.shape == (math.ceil(n * 16000 / 48000),)
    s, _ = afx.load(path, sr=None, mono=False)
    assert s.shape == (n, 1)
    # resampling the decoded samples ourselves gives the loader's result
    np.testing.assert_array_equal(afx.resample(x, 48000, 16000), y)


def test_load_stereo_file_downmixes_to_the_channel_mean():
    path = os.path.join(AUDIO, "spi_loop_amen.flac")
    s, sr = afx.load(path, sr=None, mono=False)
    assert sr == 44100 and s.ndim == 2 and s.shape[1] == 2
    m, _ = afx.load(path, sr=None, mono=True)
    np.testing.assert_allclose(m, s.astype(np.float64).mean(axis=1), atol=1e-7)


def test_load_missing_file_names_the_path(tmp_path):
    path = str(tmp_path / "no_such_clip.wav")
    with pytest.raises(afx.AfxError) as info:
        afx.load(path)
    assert path in str(info.value) and info.value.status == "AFX_ERR_IO"


def test_load_not_audio_is_decode_error(tmp_path):
    p = tmp_path / "junk.wav"
    p.write_bytes(b"this is not a wav file at all" * 10)
    with pytest.raises(afx.AfxError) as info:
        afx.load(str(p))
    assert str(p) in str(info.value)


@pytest.mark.parametrize("n, orig, target", [(1000, 48000, 16000), (16000, 16000, 22050), (7, 44100, 16000),
                                             (0, 16000, 8000), (12345, 8000, 16000)])
def test_resample_length(n, orig, target):
    y = afx.resample(noise(n), orig, target)
    assert y.dtype == np.float32 and y.shape == (math.ceil(n * target / orig),)
    y2 = afx.resample(np.stack([noise(n), noise(n, 1)], axis=1), orig, target)
    assert y2.shape == (math.ceil(n * target / orig), 2)


def test_resample_keeps_a_sine():
    t48 = np.arange(48000) / 48000
    y = afx.resample(np.sin(2 * np.pi * 440 * t48).astype(np.float32), 48000, 16000)
    t16 = np.arange(len(y)) / 16000
    mid = slice(1000, 15000)
    np.testing.assert_allclose(y[mid], np.sin(2 * np.pi * 440 * t16[mid]), atol=2e-3)
    with pytest.raises(afx.AfxError):
        afx.resample(noise(100), 0, 16000)
    with pytest.raises(TypeError):
        afx.resample(np.zeros(100, np.int16), 16000, 8000)


def test_afx_error_pickles():
    import pickle
    with pytest.raises(afx.AfxError) as info:
        afx.Extractor(n_mels=0)
    e = pickle.loads(pickle.dumps(info.value))
    assert (str(e), e.status, e.code) == (str(info.value), "AFX_ERR_INVALID_PARAM", 2)


# ---------------------------------------------------------------------------------------------
# Frame counts
# ---------------------------------------------------------------------------------------------
LENGTHS = [0, 1, 159, 160, 399, 400, 401, 561, 16000, 16001]


@pytest.mark.parametrize("kwargs, formula", [
    ({"center": True, "n_fft": 512, "hop_length": 160}, lambda n: 1 + n // 160 if n else 0),
    ({"center": True, "n_fft": 401, "win_length": 401, "hop_length": 160},
     lambda n: 1 + (n + 2 * 200 - 401) // 160 if n else 0),
    ({"center": False, "snip_edges": True, "n_fft": 512, "win_length": 400, "hop_length": 160},
     lambda n: 1 + (n - 400) // 160 if n >= 400 else 0),
    ({"center": False, "snip_edges": False, "n_fft": 512, "win_length": 400, "hop_length": 160},
     lambda n: (n + 80) // 160),
    ({"preset": "kaldi"}, lambda n: 1 + (n - 400) // 160 if n >= 400 else 0),
    ({"preset": "whisper"}, lambda n: n // 160 if n else 0),  # 1 + n // hop, last frame dropped
    ({"preset": "tf"}, lambda n: 1 + (n - 1024) // 256 if n >= 1024 else 0),
])
def test_frames_match_analytic_formulas_and_outputs(kwargs, formula):
    e = afx.Extractor(**kwargs)
    for n in LENGTHS:
        assert e.frames(n) == formula(n), (kwargs, n)
    clips = [noise(n, seed=n) for n in LENGTHS]
    feats, n_frames = e(clips)
    assert n_frames.dtype == np.int64 and n_frames.tolist() == [formula(n) for n in LENGTHS]
    for n, clip in zip(LENGTHS, clips):
        f, t = e(clip)
        assert t == formula(n)
        assert f.shape == ((e.n_features, t) if e.params["layout"] == "ft" else (t, e.n_features))


# ---------------------------------------------------------------------------------------------
# Consistency properties of batches, inputs and outputs
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("preset, feature", [(None, "logmel"), ("librosa", "mel"), ("kaldi", "mfcc"),
                                             ("torchaudio", "db"), ("whisper", "logmel"), ("tf", "mfcc")])
def test_ragged_list_equals_each_clip_alone(preset, feature):
    e = afx.Extractor(preset=preset, feature=feature, dither=0.0, n_mels=64 if preset == "torchaudio" else None)
    lengths = [16000, 3000, 777, 0, 12345, 5]
    clips = [noise(n, seed=i) for i, n in enumerate(lengths)]
    feats, n_frames = e(clips)
    tf = e.params["layout"] == "tf"
    t_max = int(n_frames.max())
    assert feats.shape == ((len(clips), t_max, e.n_features) if tf else (len(clips), e.n_features, t_max))
    for i, clip in enumerate(clips):
        alone, t = e(clip)
        assert t == n_frames[i]
        if tf:
            np.testing.assert_array_equal(feats[i, :t], alone)
            assert not feats[i, t:].any()
        else:
            np.testing.assert_array_equal(feats[i, :, :t], alone)
            assert not feats[i, :, t:].any()


def test_tuple_input_is_a_batch_too():
    e = afx.Extractor()
    a, b = noise(4000), noise(2000, 1)
    f1, n1 = e([a, b])
    f2, n2 = e((a, b))
    np.testing.assert_array_equal(f1, f2)
    np.testing.assert_array_equal(n1, n2)


def test_int16_equals_float32_divided_by_32768():
    q = (rng(1).standard_normal(9000) * 4000).clip(-32768, 32767).astype(np.int16)
    for kw in [{}, {"preset": "kaldi", "feature": "mfcc", "dither": 0.0}, {"preset": "librosa"}]:
        e = afx.Extractor(**kw)
        fi, ni = e(q)
        ff, nf = e(q.astype(np.float32) / np.float32(32768))
        assert ni == nf
        np.testing.assert_array_equal(fi, ff)
        # mixed list: int16 and float32 clips together
        fm, nm = e([q, q.astype(np.float32) / np.float32(32768)])
        np.testing.assert_array_equal(fm[0], fm[1])


def test_int16_scale_alias_equals_scaled_float_input():
    x = noise(5000)
    a, _ = afx.Extractor(feature="spectrogram", int16_scale=True)(x)
    b, _ = afx.Extractor(feature="spectrogram")(x * np.float32(32768))
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=0)


def test_float64_and_noncontiguous_inputs():
    e = afx.Extractor()
    x64 = rng(2).standard_normal(8000) * 0.2
    a, _ = e(x64)
    b, _ = e(x64.astype(np.float32))
    np.testing.assert_array_equal(a, b)
    big = noise(16000, seed=4)
    strided = big[::2]
    assert not strided.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(e(strided)[0], e(np.ascontiguousarray(strided))[0])
    # an [n, ch] view of a transposed [ch, n] array
    st = np.stack([noise(3000, 5), noise(3000, 6)])  # [2, n]
    np.testing.assert_array_equal(e(st.T)[0], e(np.ascontiguousarray(st.T))[0])


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.int64, np.complex64, bool, object])
def test_unsupported_dtypes_raise_type_error(dtype):
    with pytest.raises(TypeError):
        afx.Extractor()(np.zeros(100, dtype=dtype))


def test_bad_shapes_raise():
    e = afx.Extractor()
    with pytest.raises(ValueError):
        e(np.zeros((2, 3, 100), np.float32))
    with pytest.raises(ValueError):
        e([np.zeros(100, np.float32), np.zeros((100, 2), np.float32)])  # mixed channel counts
    with pytest.raises(afx.AfxError) as info:
        e([np.zeros((100, 65), np.float32)])  # one clip of 65 channels: the library refuses
    assert "n_channels" in str(info.value)
    with pytest.raises(ValueError, match="multichannel"):
        e(np.zeros((2, 100, 2), np.float32))


def test_stereo_equals_mean_of_channels():
    left, right = noise(10000, 7), noise(10000, 8)
    st = np.stack([left, right], axis=1)
    for kw in [{"feature": "spectrogram"}, {"preset": "librosa"}, {"preset": "kaldi", "dither": 0.0}]:
        e = afx.Extractor(**kw)
        a, na = e([st])  # a list element may be [samples, channels]; a bare 2-D array is a batch [clips, samples]
        a, na = a[0], na[0]
        b, nb = e((left + right) * np.float32(0.5))
        assert na == nb
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6 * np.abs(b).max())
        # lists of stereo clips
        f, n = e([st, st[:5000]])
        np.testing.assert_array_equal(f[0], a)


def test_layouts_transpose():
    clips = [noise(7000, 1), noise(3000, 2)]
    ft, n1 = afx.Extractor(feature="mfcc", layout="ft")(clips)
    tf, n2 = afx.Extractor(feature="mfcc", layout="tf")(clips)
    np.testing.assert_array_equal(n1, n2)
    np.testing.assert_array_equal(ft, tf.transpose(0, 2, 1))
    a, _ = afx.Extractor(layout="ft")(clips[0])
    b, _ = afx.Extractor(layout="tf")(clips[0])
    np.testing.assert_array_equal(a, b.T)


def test_pooling_shapes_and_values():
    clips = [noise(16000, 1), noise(4000, 2), noise(0, 3)]
    base = afx.Extractor(n_mels=40)
    frames, n_frames = base(clips)
    mean, nm = afx.Extractor(n_mels=40, pool="mean")(clips)
    ms, nms = afx.Extractor(n_mels=40, pooling="meanstd")(clips)
    assert mean.shape == (3, 40) and ms.shape == (3, 80)
    np.testing.assert_array_equal(nm, n_frames)
    np.testing.assert_array_equal(nms, n_frames)
    for i in range(2):
        valid = frames[i, :, :n_frames[i]].astype(np.float64)
        np.testing.assert_allclose(mean[i], valid.mean(axis=1), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(ms[i, :40], valid.mean(axis=1), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(ms[i, 40:], valid.std(axis=1), rtol=1e-3, atol=1e-4)
    one, t = afx.Extractor(n_mels=40, pool="meanstd")(clips[0])
    assert one.shape == (80,) and t == n_frames[0]
    np.testing.assert_array_equal(one, ms[0])


def test_f16_output_is_numpy_float16_of_the_f32_output():
    clips = [noise(9000, 1), noise(2500, 2)]
    for kw in [{"feature": "mel"}, {"feature": "logmel"}, {"preset": "librosa", "feature": "db"},
               {"feature": "spectrogram"}]:
        f32, n32 = afx.Extractor(**kw)(clips)
        f16, n16 = afx.Extractor(output_dtype="f16", **kw)(clips)
        assert f16.dtype == np.float16 and f16.shape == f32.shape
        np.testing.assert_array_equal(n16, n32)
        np.testing.assert_array_equal(f16.view(np.uint16), f32.astype(np.float16).view(np.uint16))


def bf16_bits(x):
    """bfloat16 bit patterns of float32 values, round to nearest even (finite inputs)."""
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def test_bf16_output_is_round_to_nearest_even_bits():
    clips = [noise(9000, 1), noise(2500, 2)]
    f32, _ = afx.Extractor(feature="logmel")(clips)
    bf, _ = afx.Extractor(feature="logmel", output_dtype="bf16")(clips)
    assert bf.dtype == np.uint16 and bf.shape == f32.shape
    np.testing.assert_array_equal(bf, bf16_bits(f32))
    widened = (bf.astype(np.uint32) << 16).view(np.float32)
    np.testing.assert_allclose(widened, f32, rtol=2 ** -8, atol=0)


def test_nan_clip_in_the_middle_of_a_list_raise_and_mark():
    clips = [noise(8000, 1), noise(6000, 2), noise(4000, 3), noise(2000, 4)]
    bad = clips[2].copy()
    bad[1234] = np.nan
    with_bad = clips[:2] + [bad] + clips[3:]
    with pytest.raises(afx.AfxError) as info:
        afx.Extractor()(with_bad)
    assert info.value.status == "AFX_ERR_INVALID_INPUT"
    assert "2" in str(info.value) and "NaN" in str(info.value)

    good, n_good = afx.Extractor()(clips)
    feats, n_frames = afx.Extractor(on_error="mark")(with_bad)
    assert n_frames.tolist() == [n_good[0], n_good[1], -1, n_good[3]]
    assert not feats[2].any()
    for i in (0, 1, 3):
        np.testing.assert_array_equal(feats[i], good[i])

    # Inf, across chunks: the message names the clip's position in the whole list
    inf = clips[3].copy()
    inf[10] = np.inf
    many = [noise(500, i) for i in range(7)] + [inf] + [noise(500, 9)]
    with pytest.raises(afx.AfxError) as info:
        afx.Extractor(batch_size=3)(many)
    assert "global index 7" in str(info.value)
    f, n = afx.Extractor(batch_size=3, on_error="mark")(many)
    assert n[7] == -1 and (n[:7] >= 0).all() and n[8] >= 0 and not f[7].any()

    # a single refused clip
    with pytest.raises(afx.AfxError):
        afx.Extractor()(bad)
    f, t = afx.Extractor(on_error="mark")(bad)
    assert t == -1 and f.shape == (80, 0)


def test_long_list_equals_one_by_one_and_chunks_keep_list_positions():
    lengths = [int(n) for n in rng(9).integers(0, 4000, size=70)]  # > the default chunk of 64
    clips = [noise(n, seed=i) for i, n in enumerate(lengths)]
    e = afx.Extractor(feature="mfcc")
    assert e.chunk_size == afx.DEFAULT_CHUNK == 64
    feats, n_frames = e(clips)
    assert feats.shape[0] == 70
    for i, clip in enumerate(clips):
        alone, t = e(clip)
        assert t == n_frames[i]
        np.testing.assert_array_equal(feats[i, :, :t], alone)

    # dither and masks are keyed by the position in the list, whatever the chunk size
    kw = dict(dither=0.01, seed=11, time_masks=2, time_mask_param=5, freq_masks=2, freq_mask_param=8)
    ref, n_ref = afx.Extractor(batch_size=100, **kw)(clips[:20])
    for chunk in (1, 3, 7):
        got, n_got = afx.Extractor(batch_size=chunk, **kw)(clips[:20])
        np.testing.assert_array_equal(n_got, n_ref)
        np.testing.assert_array_equal(got, ref)
    # clip i of the list is clip i alone with first_clip_index=i
    e = afx.Extractor(**kw)
    for i in (0, 5, 19):
        alone, t = e(clips[i], first_clip_index=i)
        np.testing.assert_array_equal(ref[i, :, :t], alone)
    # different positions give different noise
    a, _ = e(clips[5], first_clip_index=0)
    b, _ = e(clips[5], first_clip_index=1)
    assert not np.array_equal(a, b)


def test_plan_grows_with_longer_clips_and_bigger_lists():
    e = afx.Extractor(preset="librosa", n_mels=64)
    short, long_ = noise(1000, 1), noise(200000, 2)
    s1, _ = e(short)
    l1, tl = e(long_)
    s2, _ = e(short)
    np.testing.assert_array_equal(s1, s2)
    fresh, tf = afx.Extractor(preset="librosa", n_mels=64)(long_)
    assert tl == tf == 1 + 200000 // 512
    np.testing.assert_array_equal(l1, fresh)
    small, _ = e([short])
    big, n_big = e([short] * 5 + [long_])
    np.testing.assert_array_equal(big[5, :, :tl], l1)
    np.testing.assert_array_equal(big[0, :, :n_big[0]], s1)
    # a plan sized by max_samples from the start gives the same numbers
    sized = afx.Extractor(preset="librosa", n_mels=64, max_samples=300000)
    np.testing.assert_array_equal(sized(long_)[0], l1)


def test_empty_inputs():
    e = afx.Extractor(n_mels=32)
    f, t = e(np.zeros(0, np.float32))
    assert t == 0 and f.shape == (32, 0)
    f, n = e([])
    assert f.shape == (0, 32, 0) and n.shape == (0,)
    f, n = e([np.zeros(0, np.float32), np.zeros(0, np.float32)])
    assert f.shape == (2, 32, 0) and n.tolist() == [0, 0]


def test_extract_function_and_context_manager():
    x = noise(5000)
    a, ta = afx.extract(x, preset="torchaudio", feature="mfcc", n_mels=40)
    with afx.Extractor(preset="torchaudio", feature="mfcc", n_mels=40) as e:
        b, tb = e(x)
        assert e.n_features == 40 and e.feature == "mfcc" and e.sample_rate == 16000
    assert ta == tb
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError):
        e(x)  # closed
    e2 = afx.Extractor()
    e2.close()
    e2.close()  # idempotent


def test_readme_example():
    clips = [noise(22050, 1), noise(11025, 2)]
    feats, n_frames = afx.Extractor(preset="librosa", n_mels=64)(clips)
    assert feats.shape == (2, 64, 1 + 22050 // 512) and n_frames.tolist() == [44, 22]
    assert feats.dtype == np.float32 and (feats >= 0).all()
