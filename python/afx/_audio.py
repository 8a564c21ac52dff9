"""Decoding (files and bytes) and resampling: afx_audio_load_file / _load_memory / afx_audio_resample."""
from __future__ import annotations

import ctypes
import math
import numbers
import os
from ctypes import POINTER, byref, c_float, c_int64, c_void_p

import numpy as np

from ._base import check, errbuf
from ._lib import ERROR_MAX, AudioClip, AudioOptions, lib, libc

__all__ = ["load", "load_bytes", "resample"]


def _options(sr, mono, offset, duration, threads=1):
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral) or threads not in (1, 2):
        raise ValueError(f"afx: threads={threads!r}: must be 1 or 2")
    opts = AudioOptions()
    lib.afx_audio_options_init(byref(opts))
    opts.target_rate = 0 if sr is None else int(sr)
    opts.downmix = 1 if mono else 0
    if isinstance(offset, bool) or not isinstance(offset, numbers.Real) or not math.isfinite(offset) or offset < 0:
        raise ValueError(f"afx: offset={offset!r}: must be a finite number of seconds >= 0")
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, numbers.Real)
                                 or not math.isfinite(duration) or duration <= 0):
        raise ValueError(f"afx: duration={duration!r}: must be None (to the end) or a finite number of seconds > 0")
    opts.offset_seconds = float(offset)
    opts.duration_seconds = 0.0 if duration is None else float(duration)
    opts.threads = int(threads)
    return opts


def _take(clip, mono):
    """The clip's samples as a NumPy array (copied), then the clip is freed."""
    try:
        n, ch = int(clip.n_samples), int(clip.n_channels)
        if n > 0:
            x = np.ctypeslib.as_array(clip.samples, shape=(n * ch,)).copy()
        else:
            x = np.zeros(0, dtype=np.float32)
        rate = int(clip.sample_rate)
    finally:
        lib.afx_audio_clip_free(byref(clip))
    x = x.astype(np.float32, copy=False)
    return (x if mono else x.reshape(n, ch)), rate


def load(path, sr=16000, mono=True, offset=0.0, duration=None, threads=1):
    """Decodes an audio file with libsndfile and resamples it with soxr HQ (afx_audio_load_file).

    Returns ``(samples, sample_rate)``: float32 samples, 1-D when ``mono`` (channels averaged before
    resampling, as librosa.load does), ``[n, channels]`` otherwise. ``sr=None`` keeps the file's rate.
    ``offset`` (seconds) skips the start of the file and ``duration`` (seconds, None = to the end) limits
    how much is read from there, as in librosa.load; both count at the file's own rate, before
    resampling. ``threads=2``: a window of 30 s or more that is resampled is decoded on a helper thread
    while this one resamples (the same samples, faster on long files). Errors raise AfxError whose
    message names the file.
    """
    opts = _options(sr, mono, offset, duration, threads)
    clip = AudioClip()
    err = errbuf()
    check(lib.afx_audio_load_file(os.fsencode(os.fspath(path)), byref(opts), byref(clip), err, ERROR_MAX), err)
    return _take(clip, mono)


def load_bytes(data, sr=16000, mono=True, offset=0.0, duration=None, name=None, threads=1):
    """Decodes an encoded file held in memory (the bytes of a .wav, .flac, .ogg, .mp3, ...).

    ``data``: bytes, bytearray, memoryview or a uint8 NumPy array (read in place, not copied). Everything
    else is as in :func:`load`; ``name`` is what error messages call the buffer (default "<memory>").
    """
    if isinstance(data, str):
        raise TypeError("afx.load_bytes: data must be bytes (the encoded file), not str; use afx.load(path) "
                        "for a file name")
    if isinstance(data, np.ndarray):
        buf = np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    else:
        buf = np.frombuffer(data, dtype=np.uint8)
    label = None if name is None else os.fsencode(os.fspath(name))
    if label is not None and b"\x00" in label:
        raise ValueError(f"afx.load_bytes: name={name!r} contains a NUL character")
    opts = _options(sr, mono, offset, duration, threads)
    clip = AudioClip()
    err = errbuf()
    ptr = buf.ctypes.data if buf.size else None
    check(lib.afx_audio_load_memory(ptr, buf.size, label, byref(opts), byref(clip), err, ERROR_MAX), err)
    return _take(clip, mono)


def resample(x, orig_sr, target_sr):
    """Resamples float32 audio with soxr HQ (afx_audio_resample), as librosa.resample(res_type="soxr_hq").

    ``x`` is 1-D (mono) or ``[n, channels]``; the result has ``ceil(n * target_sr / orig_sr)`` samples
    per channel, float32, in the same layout.
    """
    a = np.asarray(x)
    if a.dtype.kind != "f":
        raise TypeError(f"afx.resample: samples must be floating point, not {a.dtype}")
    if a.ndim not in (1, 2):
        raise ValueError(f"afx.resample: expected a 1-D or [n, channels] array, got shape {a.shape}")
    a = np.ascontiguousarray(a, dtype=np.float32)
    n = a.shape[0]
    ch = 1 if a.ndim == 1 else a.shape[1]
    out = POINTER(c_float)()
    out_n = c_int64(0)
    err = errbuf()
    check(lib.afx_audio_resample(a.ctypes.data if a.size else None, n, ch, int(orig_sr), int(target_sr),
                                 byref(out), byref(out_n), err, ERROR_MAX), err)
    try:
        m = int(out_n.value)
        if m > 0 and out:
            y = np.ctypeslib.as_array(out, shape=(m * ch,)).copy()
        else:
            y = np.zeros(m * ch, dtype=np.float32)
    finally:
        if out:
            libc.free(ctypes.cast(out, c_void_p))
    return y if a.ndim == 1 else y.reshape(m, ch)
