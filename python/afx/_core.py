"""The afx binding proper: errors, names, audio loading, resampling and the Extractor."""
from __future__ import annotations

import ctypes
import numbers
import os
import threading
from ctypes import POINTER, byref, c_float, c_int, c_int64, c_void_p

import numpy as np

from ._lib import ENUM, ERROR_MAX, AfxInput, AfxOutput, AudioClip, AudioOptions, lib, libc

__all__ = ["AfxError", "Extractor", "extract", "load", "resample", "presets", "param_names",
           "library_version", "cuda_device_count", "ALIASES", "DEFAULT_CHUNK"]

# afx_status values used here (include/afx.h; stable).
_OK = 0
_ERR_INVALID_PARAM = 2
_ERR_INVALID_INPUT = 3

_SAMPLE_F32 = 0
_SAMPLE_S16 = 1

#: Upper limit of afx_params.max_samples (2^40, include/afx.h).
_MAX_PLAN_SAMPLES = 1 << 40

#: Clips per library call when a list is longer than that (the plan's max_batch).
DEFAULT_CHUNK = 64


def _text(b):
    return b.decode("utf-8", "replace") if b is not None else ""


def _status_name(code):
    return _text(lib.afx_status_name(code))


class AfxError(Exception):
    """An error reported by libafx.

    ``str(e)`` is the library's message; ``e.status`` its status name ("AFX_ERR_INVALID_PARAM", ...) and
    ``e.code`` the numeric afx_status.
    """

    def __init__(self, message, status="AFX_ERR_INTERNAL", code=10):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code

    def __str__(self):
        return self.message

    def __reduce__(self):
        return (type(self), (self.message, self.status, self.code))

    @classmethod
    def from_status(cls, code, message=None):
        code = int(code)
        if not message:
            message = _text(lib.afx_status_string(code))
        return cls(message, _status_name(code), code)


def _errbuf():
    return ctypes.create_string_buffer(ERROR_MAX)


def _check(code, err):
    """Raises AfxError for a status != AFX_OK, with the message left in buffer `err`."""
    if code != _OK:
        raise AfxError.from_status(code, _text(err.value))


# ------------------------------------------------------------------------------------------------
# Names
# ------------------------------------------------------------------------------------------------
def library_version():
    """Version string of the loaded libafx (afx_version_string)."""
    return _text(lib.afx_version_string())


def cuda_device_count():
    """CUDA devices usable by the loaded libafx (0 in a build without CUDA)."""
    return int(lib.afx_cuda_device_count())


def _enum_names(kind):
    names = []
    while True:
        n = lib.afx_enum_name(ENUM[kind], len(names))
        if n is None:
            return names
        names.append(_text(n))


def presets():
    """Names of the presets ("librosa", "torchaudio", "kaldi", "whisper", "tf")."""
    return _enum_names("preset")


def param_names():
    """Every afx_params field name, in the order afx_params_field_name lists them."""
    names = []
    while True:
        n = lib.afx_params_field_name(len(names))
        if n is None:
            return names
        names.append(_text(n))


_FIELDS = tuple(param_names())
_FIELD_SET = frozenset(_FIELDS)


def _float_fields():
    """Fields that hold a float, found through the API (only a float field takes the text "0.5")."""
    buf = ctypes.create_string_buffer(int(lib.afx_params_size()))
    lib.afx_params_init(buf)
    return frozenset(f for f in _FIELDS if lib.afx_params_set(buf, f.encode(), b"0.5", None, 0) == _OK)


_FLOAT_FIELDS = _float_fields()

#: Keywords named like the CLI's long options (dashes as underscores) where they differ from the field:
#: keyword -> (fields it sets, how the value is turned into the field's value).
_SAME = None
_NOT = "not"
ALIASES = {
    "batch_size": (("max_batch",), _SAME),
    "remove_dc": (("remove_dc_offset",), _SAME),
    "round_pow2": (("round_to_power_of_two",), _SAME),
    "periodic_window": (("window_periodic",), _SAME),
    "symmetric_window": (("window_periodic",), _NOT),
    "no_center": (("center",), _NOT),
    "no_snip_edges": (("snip_edges",), _NOT),
    "log": (("log_base",), _SAME),
    "ref": (("db_ref",), _SAME),
    "amin": (("db_amin",), _SAME),
    "lifter": (("cepstral_lifter",), _SAME),
    "no_raw_energy": (("raw_energy",), _NOT),
    "no_norm_vars": (("norm_vars",), _NOT),
    "time_masks": (("n_time_masks",), _SAME),
    "freq_masks": (("n_freq_masks",), _SAME),
    "pool": (("pooling",), _SAME),
    "int16_scale": (("input_scale",), "int16"),
    "seed": (("dither_seed", "mask_seed"), _SAME),
}
#: Keywords that set a field only when no more specific keyword sets it (seed vs dither_seed/mask_seed).
_WEAK = frozenset({"seed"})


def _value_text(v):
    """The text afx_params_set reads for a Python value."""
    if isinstance(v, (bool, np.bool_)):
        return "1" if v else "0"
    if isinstance(v, numbers.Integral):
        return str(int(v))
    if isinstance(v, numbers.Real):
        return repr(float(v))
    return str(v)


def _as_bool(name, v):
    if isinstance(v, (bool, np.bool_)) or (isinstance(v, numbers.Integral) and int(v) in (0, 1)):
        return bool(v)
    raise TypeError(f"afx: keyword {name} takes True or False, not {v!r}")


def _parse_value(field, text):
    if field in _FLOAT_FIELDS:  # the exact float32 value the library holds, as a Python float
        return float(np.float32(text))
    try:
        return int(text, 10)
    except ValueError:
        return text


def _valid_keywords():
    return sorted((_FIELD_SET - {"backend", "feature"}) | set(ALIASES))


# ------------------------------------------------------------------------------------------------
# Audio
# ------------------------------------------------------------------------------------------------
def load(path, sr=16000, mono=True):
    """Decodes an audio file with libsndfile and resamples it with soxr HQ (afx_audio_load_file).

    Returns ``(samples, sample_rate)``: float32 samples, 1-D when ``mono`` (channels averaged before
    resampling, as librosa.load does), ``[n, channels]`` otherwise. ``sr=None`` keeps the file's rate.
    Errors raise AfxError whose message names the file.
    """
    opts = AudioOptions()
    lib.afx_audio_options_init(byref(opts))
    opts.target_rate = 0 if sr is None else int(sr)
    opts.downmix = 1 if mono else 0
    clip = AudioClip()
    err = _errbuf()
    _check(lib.afx_audio_load_file(os.fsencode(os.fspath(path)), byref(opts), byref(clip), err, ERROR_MAX), err)
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
    err = _errbuf()
    _check(lib.afx_audio_resample(a.ctypes.data if a.size else None, n, ch, int(orig_sr), int(target_sr),
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


# ------------------------------------------------------------------------------------------------
# Extractor
# ------------------------------------------------------------------------------------------------
#: Feature of each preset when none is given.
PRESET_DEFAULT_FEATURE = {"librosa": "mel", "torchaudio": "mel", "kaldi": "logmel", "whisper": "logmel",
                          "tf": "logmel"}


def _prepare_clip(x, where):
    """(contiguous array, n_samples, n_channels) of one clip; int16 stays int16, floats become float32."""
    a = np.asarray(x)
    if a.dtype.kind == "i" and a.dtype.itemsize == 2:
        a = np.ascontiguousarray(a, dtype=np.int16)
    elif a.dtype.kind == "f":
        a = np.ascontiguousarray(a, dtype=np.float32)
    else:
        raise TypeError(f"afx: {where}: samples must be int16 or floating point, not {a.dtype}")
    if a.ndim == 1:
        return a, a.shape[0], 1
    if a.ndim == 2:
        return a, a.shape[0], a.shape[1]
    raise ValueError(f"afx: {where}: expected a 1-D array (mono) or a 2-D [n, channels] array, "
                     f"got shape {a.shape}")


class Extractor:
    """A feature extractor: a preset plus keyword overrides, called on one clip or a list of clips.

    ``Extractor(preset=None, feature=None, backend="cpu", on_error="raise", **overrides)``

    - ``preset``: one of :func:`presets` (librosa, torchaudio, kaldi, whisper, tf), or None for
      afx_params_init's defaults (16 kHz speech log-mel).
    - ``feature``: spectrogram, mel, logmel, db or mfcc; default "logmel" without a preset, otherwise the
      preset's usual one (librosa/torchaudio "mel", kaldi/whisper/tf "logmel").
    - ``backend``: "cpu", "cuda" or "auto".
    - ``on_error``: "raise" (a clip with a NaN/Inf sample raises AfxError naming its list index) or
      "mark" (such a clip gets n_frames -1 and zeros, the others are returned normally).
    - ``overrides``: any afx_params field (see :func:`param_names`) or CLI-style alias (``ALIASES``: log,
      ref, amin, lifter, pool, seed, time_masks, freq_masks, int16_scale, no_center, ...). A value of None
      leaves the preset's value. Unknown keywords raise TypeError; invalid values raise AfxError with the
      library's message when the extractor is made.

    ``max_batch`` (alias ``batch_size``) is the number of clips per library call (default 64): longer lists
    are computed in chunks. ``max_samples`` is the clip length the first plan is sized for; the plan is
    made on first use and re-made, at least twice as large, when a longer clip or a bigger list comes.

    Output dtype: float32; with ``output_dtype="f16"`` numpy.float16; with ``"bf16"`` numpy.uint16 arrays
    holding the bfloat16 bit patterns (``(out.astype(np.uint32) << 16).view(np.float32)`` widens them).
    """

    def __init__(self, preset=None, feature=None, backend="cpu", on_error="raise", **overrides):
        if on_error not in ("raise", "mark"):
            raise ValueError(f"afx: on_error must be 'raise' or 'mark', not {on_error!r}")
        self._plan = None
        self._lock = threading.RLock()
        self.on_error = on_error
        self.preset = preset

        unknown = sorted(k for k in overrides if k not in _FIELD_SET and k not in ALIASES)
        if unknown:
            raise TypeError(f"afx.Extractor: unknown keyword argument(s) {', '.join(unknown)}; valid keywords: "
                            f"preset, feature, backend, on_error, {', '.join(_valid_keywords())}")

        self._buf = ctypes.create_string_buffer(int(lib.afx_params_size()))
        err = _errbuf()
        if preset is None:
            lib.afx_params_init(self._buf)
            if feature is not None:
                self._set("feature", feature)
        else:
            pv = lib.afx_enum_value(ENUM["preset"], str(preset).encode())
            if pv < 0:
                raise AfxError(f'preset="{preset}": expected {"|".join(presets())}', _status_name(_ERR_INVALID_PARAM),
                               _ERR_INVALID_PARAM)
            fname = PRESET_DEFAULT_FEATURE.get(str(preset), "logmel") if feature is None else str(feature)
            fv = lib.afx_enum_value(ENUM["feature"], fname.encode())
            if fv < 0:
                self._set("feature", fname)  # raises with the library's message for a bad name
            _check(lib.afx_params_preset(self._buf, pv, fv, err, ERROR_MAX), err)
        if backend is not None:
            self._set("backend", backend)

        # Resolve keywords to fields: a field set by two keywords is an error, except that a weak alias
        # (seed) gives way to the field it would set (dither_seed, mask_seed).
        chosen = {}  # field -> (keyword, text, weak)
        for key, value in overrides.items():
            if value is None:
                continue
            if key in ALIASES:
                fields, how = ALIASES[key]
                if how == _NOT:
                    value = not _as_bool(key, value)
                elif how == "int16":
                    value = 32768.0 if _as_bool(key, value) else 1.0
                weak = key in _WEAK
            else:
                fields, weak = (key,), False
            for f in fields:
                prev = chosen.get(f)
                if prev is not None and not prev[2] and not weak:
                    raise TypeError(f"afx.Extractor: keywords {prev[0]} and {key} both set {f}")
                if prev is None or prev[2]:
                    chosen[f] = (key, _value_text(value), weak)
        for f, (_, text, _) in chosen.items():
            self._set(f, text)

        chunk = self._get("max_batch") if "max_batch" in chosen else DEFAULT_CHUNK
        if "max_batch" not in chosen:
            self._set("max_batch", str(chunk))
        _check(lib.afx_params_validate(self._buf, err, ERROR_MAX), err)
        self._chunk = int(chunk)
        self._init_samples = int(self._get("max_samples")) if "max_samples" in chosen else 0
        self._cap_batch = 0
        self._cap_samples = 0
        if self._get("backend") != "cpu":
            # A GPU plan can fail for reasons validation cannot see (no driver or device, too little
            # memory): make a first plan now, so that such errors appear at construction.
            with self._lock:
                self._ensure_plan(1, 0)

    # -- parameters ---------------------------------------------------------------------------------
    def _set(self, field, value):
        err = _errbuf()
        text = value if isinstance(value, str) else _value_text(value)
        _check(lib.afx_params_set(self._buf, field.encode(), text.encode(), err, ERROR_MAX), err)

    def _get(self, field):
        buf = _errbuf()
        _check(lib.afx_params_get(self._buf, field.encode(), buf, ERROR_MAX), buf)
        return _parse_value(field, _text(buf.value))

    @property
    def params(self):
        """Every afx_params field of this extractor (ints, floats, enum names as str)."""
        return {f: self._get(f) for f in _FIELDS}

    @property
    def feature(self):
        return self._get("feature")

    @property
    def sample_rate(self):
        return self._get("sample_rate")

    @property
    def chunk_size(self):
        """Clips per library call (max_batch)."""
        return self._chunk

    @property
    def n_features(self):
        """Values per frame (n_fft/2+1, n_mels or n_mfcc); a pooled clip has 1x or 2x this many values."""
        with self._lock:
            return int(lib.afx_plan_n_features(self._ensure_plan(1, 0)))

    @property
    def backend(self):
        """The backend the plan runs on ("cpu" or "cuda"; "auto" resolved)."""
        with self._lock:
            return _text(lib.afx_enum_name(ENUM["backend"], lib.afx_plan_backend(self._ensure_plan(1, 0))))

    def frames(self, n_samples):
        """Analysis frames of a clip of n_samples samples per channel (afx_plan_frames_for_length)."""
        with self._lock:
            return int(lib.afx_plan_frames_for_length(self._ensure_plan(1, 0), int(n_samples)))

    # -- plan ---------------------------------------------------------------------------------------
    def _ensure_plan(self, batch, samples):
        """The plan, (re)made so that it takes `batch` clips of up to `samples` samples."""
        if self._buf is None:
            raise ValueError("afx: this Extractor is closed")
        samples = max(int(samples), 1)
        if self._plan is not None and batch <= self._cap_batch and samples <= self._cap_samples:
            return self._plan
        if self._plan is None:
            new_batch = max(batch, 1)
            new_samples = max(samples, self._init_samples, 1)
        else:
            new_batch = self._cap_batch if batch <= self._cap_batch else min(max(batch, 2 * self._cap_batch),
                                                                                 self._chunk)
            if samples <= self._cap_samples:
                new_samples = self._cap_samples
            else:
                new_samples = max(samples, min(2 * self._cap_samples, _MAX_PLAN_SAMPLES))
        q = ctypes.create_string_buffer(self._buf.raw, len(self._buf))
        err = _errbuf()
        for f, v in (("max_batch", new_batch), ("max_samples", new_samples)):
            _check(lib.afx_params_set(q, f.encode(), str(v).encode(), err, ERROR_MAX), err)
        plan = c_void_p()
        _check(lib.afx_plan_create(q, byref(plan), err, ERROR_MAX), err)
        if self._plan is not None:
            lib.afx_plan_free(self._plan)
        self._plan, self._cap_batch, self._cap_samples = plan, new_batch, new_samples
        return plan

    def close(self):
        """Frees the plan. The extractor cannot be used afterwards."""
        with self._lock:
            if self._plan is not None:
                lib.afx_plan_free(self._plan)
                self._plan = None
            self._buf = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            if getattr(self, "_plan", None) is not None:
                lib.afx_plan_free(self._plan)
                self._plan = None
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def __repr__(self):
        if self._buf is None:
            return "<afx.Extractor (closed)>"
        return (f"afx.Extractor(preset={self.preset!r}, feature={self.feature!r}, "
                f"backend={self._get('backend')!r}, on_error={self.on_error!r})")

    # -- computing ----------------------------------------------------------------------------------
    def __call__(self, x, first_clip_index=0):
        """Features of one clip or of a list of clips.

        One clip (1-D array, or ``[n, channels]``; channels are averaged): returns ``(features, n_frames)``
        with features ``[F, T]`` (layout ft), ``[T, F]`` (layout tf) or ``[values]`` (pooling), T == n_frames.

        A list/tuple of clips of any lengths (same channel count): returns ``(features, n_frames)`` with
        features ``[B, F, Tmax]`` / ``[B, Tmax, F]`` / ``[B, values]``, zero past each clip's frames, and
        n_frames an int64 array ``[B]`` (-1 for a clip refused with on_error="mark").

        Samples: int16 (read as v/32768) or float32; other floating types are cast to float32.
        ``first_clip_index`` is the global index of the first clip (keys dither noise and masks).
        """
        if int(first_clip_index) < 0:
            raise ValueError(f"afx: first_clip_index must be >= 0, not {first_clip_index}")
        single = not isinstance(x, (list, tuple))
        items = [x] if single else list(x)
        clips = [_prepare_clip(c, "clip" if single else f"clip {i}") for i, c in enumerate(items)]
        with self._lock:
            return self._run(clips, single, int(first_clip_index))

    def _run(self, clips, single, first):
        if self._buf is None:
            raise ValueError("afx: this Extractor is closed")
        n_clips = len(clips)
        if n_clips == 0:
            plan = self._ensure_plan(1, 0)
            return self._empty_output(plan, 0), np.zeros(0, dtype=np.int64)
        channels = {c[2] for c in clips}
        if len(channels) > 1:
            raise ValueError(f"afx: every clip of a list must have the same number of channels, got "
                             f"{sorted(channels)}")
        n_channels = channels.pop()
        if all(c[0].dtype == np.int16 for c in clips):
            fmt = _SAMPLE_S16
        else:
            fmt = _SAMPLE_F32
            clips = [(a.astype(np.float32) / np.float32(32768.0) if a.dtype == np.int16 else a, n, ch)
                     for a, n, ch in clips]

        chunk = min(n_clips, self._chunk)
        plan = self._ensure_plan(chunk, max(c[1] for c in clips))

        ptrs = (c_void_p * n_clips)(*[(a.ctypes.data if n > 0 else None) for a, n, _ in clips])
        lengths = np.array([n for _, n, _ in clips], dtype=np.int64)
        n_frames = np.zeros(n_clips, dtype=np.int64)
        starts = list(range(0, n_clips, chunk))
        inputs = (AfxInput * len(starts))()
        ptr_size = ctypes.sizeof(c_void_p)
        for k, s in enumerate(starts):
            inp = inputs[k]
            inp.format = fmt
            inp.n_channels = n_channels
            inp.clips = ctypes.cast(ctypes.addressof(ptrs) + s * ptr_size, POINTER(c_void_p))
            inp.lengths = ctypes.cast(lengths.ctypes.data + s * 8, POINTER(c_int64))
            inp.n_clips = min(chunk, n_clips - s)
            inp.first_clip_index = first + s

        # Frames of every chunk (checks the batch against the plan) -> one dense output for the list.
        t_max = 0
        for k in range(len(starts)):
            most = c_int64(0)
            st = lib.afx_plan_output_shape(plan, byref(inputs[k]), None, byref(most))
            if st != _OK:
                raise AfxError.from_status(st, _text(lib.afx_plan_error(plan)))
            t_max = max(t_max, most.value)

        per_clip = int(lib.afx_plan_output_size(plan, 1, t_max))
        dtype = self._out_dtype()
        out = np.empty(n_clips * per_clip, dtype=np.uint16 if dtype != np.float32 else np.float32)
        outputs = (AfxOutput * len(starts))()
        for k, s in enumerate(starts):
            o = outputs[k]
            o.data = out.ctypes.data + s * per_clip * out.itemsize if out.size else None
            o.frames_stride = t_max
            o.n_frames = ctypes.cast(n_frames.ctypes.data + s * 8, POINTER(c_int64))

        if len(starts) == 1:
            st = lib.afx_plan_execute(plan, byref(inputs[0]), byref(outputs[0]))
            complete = True
        else:
            done = c_int(0)
            st = lib.afx_plan_execute_batches(plan, inputs, outputs, len(starts), byref(done))
            complete = done.value == len(starts)
        if st != _OK:
            refused = st == _ERR_INVALID_INPUT and complete and bool((n_frames < 0).any())
            if not refused or self.on_error == "raise":
                raise AfxError.from_status(st, _text(lib.afx_plan_error(plan)))

        if dtype == np.float16:
            out = out.view(np.float16)
        features = self._shape_output(plan, out, n_clips, t_max)
        if single:
            nf = int(n_frames[0])
            f = features[0]
            if nf < 0 and not self._pooled():  # refused (on_error="mark"): no frames
                f = f[:, :0] if self._get("layout") == "ft" else f[:0]
            return f, nf
        return features, n_frames

    def _pooled(self):
        return self._get("pooling") != "none"

    def _out_dtype(self):
        return {"f32": np.float32, "f16": np.float16, "bf16": np.uint16}[self._get("output_dtype")]

    def _shape_output(self, plan, out, n_clips, t_max):
        if self._pooled():
            return out.reshape(n_clips, -1)
        nf = int(lib.afx_plan_n_features(plan))
        if self._get("layout") == "tf":
            return out.reshape(n_clips, t_max, nf)
        return out.reshape(n_clips, nf, t_max)

    def _empty_output(self, plan, n_clips):
        dtype = self._out_dtype()
        if self._pooled():
            return np.zeros((n_clips, int(lib.afx_plan_output_size(plan, 1, 1))), dtype=dtype)
        nf = int(lib.afx_plan_n_features(plan))
        shape = (n_clips, 0, nf) if self._get("layout") == "tf" else (n_clips, nf, 0)
        return np.zeros(shape, dtype=dtype)


def extract(x, preset=None, feature=None, **kw):
    """``Extractor(preset, feature, **kw)(x)``, freeing the plan afterwards."""
    with Extractor(preset=preset, feature=feature, **kw) as e:
        return e(x)
