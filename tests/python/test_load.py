"""afx.load_bytes and offset/duration on load, against afx.load of the same file and Python's wave module.

offset/duration count source samples as librosa.load does (tests/conformance/test_load_window.py compares
with librosa.load itself). An offset past the end of the file is refused, as soundfile's seek refuses it.
"""
import io
import os
import wave

import numpy as np
import pytest

import afx

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AUDIO = os.path.join(REPO, "examples", "audio")


def clip_paths():
    return sorted(os.path.join(AUDIO, f) for f in os.listdir(AUDIO) if not f.endswith(".md"))


@pytest.mark.parametrize("path", clip_paths(), ids=os.path.basename)
def test_load_bytes_equals_load(path):
    data = open(path, "rb").read()
    for kw in ({}, {"sr": None}, {"sr": 22050, "mono": False}):
        a, ra = afx.load(path, **kw)
        b, rb = afx.load_bytes(data, **kw)
        assert ra == rb
        np.testing.assert_array_equal(a, b)
    # bytearray, memoryview and a uint8 array are read in place
    ref, _ = afx.load(path)
    for buf in (bytearray(data), memoryview(data), np.frombuffer(data, np.uint8)):
        np.testing.assert_array_equal(afx.load_bytes(buf)[0], ref)


def test_load_bytes_errors_name_the_buffer():
    with pytest.raises(afx.AfxError) as info:
        afx.load_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 4, name="upload-17.wav")
    assert "upload-17.wav" in str(info.value)
    assert info.value.status in ("AFX_ERR_DECODE", "AFX_ERR_IO")
    with pytest.raises(afx.AfxError) as info:
        afx.load_bytes(b"not audio at all" * 8)
    assert "<memory>" in str(info.value)
    with pytest.raises(afx.AfxError):
        afx.load_bytes(b"")
    with pytest.raises(TypeError):
        afx.load_bytes("speech.wav")


def test_load_bytes_of_a_wav_written_by_the_wave_module():
    sr, n = 8000, 4321
    q = (np.sin(2 * np.pi * 440 * np.arange(n) / sr) * 12000).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(q.tobytes())
    x, rate = afx.load_bytes(buf.getvalue(), sr=None)
    assert rate == sr
    np.testing.assert_array_equal(x, q.astype(np.float32) / np.float32(32768))


@pytest.mark.parametrize("offset, duration", [(0.25, None), (0.0, 0.5), (0.1, 0.3), (1.4, 1.0), (1.42, None)])
def test_offset_and_duration_against_the_wave_module(offset, duration):
    path = os.path.join(AUDIO, "alsa_Front_Center.wav")  # 48 kHz mono int16, 1.428 s
    with wave.open(path) as w:
        rate, n = w.getframerate(), w.getnframes()
        raw = np.frombuffer(w.readframes(n), dtype="<i2").astype(np.float32) / np.float32(32768)
    x, sr = afx.load(path, sr=None, offset=offset, duration=duration)
    start = int(offset * rate)  # librosa.load: sf.seek(int(offset * sr_native)), frames = int(duration * sr)
    stop = n if duration is None else min(n, start + int(duration * rate))
    assert sr == rate
    np.testing.assert_array_equal(x, raw[start:stop])
    data = open(path, "rb").read()
    y, _ = afx.load_bytes(data, sr=None, offset=offset, duration=duration)
    np.testing.assert_array_equal(y, x)
    # resampled after the cut, as librosa.load does
    z, _ = afx.load(path, sr=16000, offset=offset, duration=duration)
    np.testing.assert_array_equal(z, afx.resample(raw[start:stop], rate, 16000))


def test_offset_past_the_end_is_refused():
    path = os.path.join(AUDIO, "alsa_Front_Center.wav")  # 1.428 s
    with pytest.raises(afx.AfxError, match="past the end"):
        afx.load(path, sr=None, offset=2.0)
    with pytest.raises(afx.AfxError, match="past the end"):
        afx.load_bytes(open(path, "rb").read(), sr=None, offset=2.0)


@pytest.mark.parametrize("kw", [{"offset": -0.5}, {"offset": float("nan")}, {"duration": 0}, {"duration": -1.0},
                                {"duration": float("inf")}, {"offset": True}])
def test_offset_and_duration_values_checked(kw):
    with pytest.raises(ValueError):
        afx.load(os.path.join(AUDIO, "alsa_Front_Center.wav"), **kw)


def test_threads_2_gives_the_same_samples_on_a_long_file(tmp_path):
    """threads=2 (a helper thread decodes while the caller resamples) only for windows of >= 30 s."""
    sr, n = 44100, 44100 * 31 + 17
    rng = np.random.default_rng(31)
    q = (rng.standard_normal((n, 2)) * 6000).clip(-32768, 32767).astype("<i2")
    path = tmp_path / "long.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(q.tobytes())
    mono = (q.astype(np.float32) / np.float32(32768)).mean(axis=1, dtype=np.float32)
    one, _ = afx.load(path, sr=16000)
    two, rate = afx.load(path, sr=16000, threads=2)
    assert rate == 16000
    np.testing.assert_array_equal(two, one)
    np.testing.assert_array_equal(two, afx.resample(mono, sr, 16000))
    data = path.read_bytes()
    np.testing.assert_array_equal(afx.load_bytes(data, sr=16000, threads=2)[0], one)
    for bad in (0, 3, True, 2.0):
        with pytest.raises(ValueError, match="threads"):
            afx.load(path, threads=bad)
