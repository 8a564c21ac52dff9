"""The Extractor: a preset plus keyword overrides, its plan, and the calls that compute features."""
from __future__ import annotations

import ctypes
import numbers
import threading
from ctypes import POINTER, byref, c_int, c_int64, c_void_p

import numpy as np

from ._audio import resample as _resample
from ._base import (ERR_INVALID_INPUT, ERR_INVALID_PARAM, FIELD_SET, FIELDS, OK, SAMPLE_F32, SAMPLE_S16, AfxError,
                    as_bool, check, clip_index, errbuf, parse_value, presets, status_name, text, value_text)
from ._inputs import clips_of
from ._lib import ENUM, ERROR_MAX, AfxDeviceOutput, AfxInput, AfxOutput, lib, library_path

__all__ = ["Extractor", "extract", "ALIASES", "DEFAULT_CHUNK", "PRESET_DEFAULT_FEATURE", "NONE_MEANS_OFF"]

#: Upper limit of afx_params.max_samples (2^40, include/afx.h).
_MAX_PLAN_SAMPLES = 1 << 40

#: Clips per library call when a list is longer than that (the plan's max_batch).
DEFAULT_CHUNK = 64

#: Feature of each preset when none is given.
PRESET_DEFAULT_FEATURE = {"librosa": "mel", "torchaudio": "mel", "kaldi": "logmel", "whisper": "logmel",
                          "tf": "logmel"}

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
    "unbiased": (("norm_unbiased",), _SAME),
    "time_masks": (("n_time_masks",), _SAME),
    "freq_masks": (("n_freq_masks",), _SAME),
    "pool": (("pooling",), _SAME),
    "int16_scale": (("input_scale",), "int16"),
    "seed": (("dither_seed", "mask_seed"), _SAME),
}
#: Keywords that set a field only when no more specific keyword sets it (seed vs dither_seed/mask_seed).
_WEAK = frozenset({"seed"})

#: Keywords for which None means "off", as in the peer libraries, instead of "keep the preset's value":
#: librosa.power_to_db(top_db=None) and torchaudio.transforms.AmplitudeToDB(top_db=None) apply no floor.
NONE_MEANS_OFF = {"top_db": -1.0}


def _valid_keywords():
    return sorted((FIELD_SET - {"backend", "feature"}) | set(ALIASES))


class Extractor:
    """A feature extractor: a preset plus keyword overrides, called on one clip or a batch of clips.

    ``Extractor(preset=None, feature=None, backend="cpu", on_error="raise", resample=False, **overrides)``

    - ``preset``: one of :func:`presets` (librosa, torchaudio, kaldi, whisper, tf), or None for
      afx_params_init's defaults (16 kHz speech log-mel).
    - ``feature``: spectrogram, mel, logmel, db or mfcc; default "logmel" without a preset, otherwise the
      preset's usual one (librosa/torchaudio "mel", kaldi/whisper/tf "logmel").
    - ``backend``: "cpu", "cuda" or "auto".
    - ``on_error``: "raise" (a clip with a NaN/Inf sample raises AfxError naming its position) or
      "mark" (such a clip gets n_frames -1 and zeros, the others are returned normally).
    - ``resample``: what a call with ``sr=`` different from the extractor's rate does: False (default)
      raises ValueError; True resamples the clips first (soxr HQ, as :func:`afx.resample`).
    - ``overrides``: any afx_params field (see :func:`param_names`) or CLI-style alias (``ALIASES``: log,
      ref, amin, lifter, pool, seed, unbiased, time_masks, freq_masks, int16_scale, no_center, ...).
      ``None`` leaves the preset's value, except ``top_db=None``, which means no floor as in librosa and
      torchaudio (``NONE_MEANS_OFF``). Unknown keywords and values of the wrong type (``n_mels=True``)
      raise TypeError; invalid values raise AfxError with the library's message when the extractor is made.

    ``max_batch`` (alias ``batch_size``) is the number of clips per library call (default 64): longer lists
    are computed in chunks. ``max_samples`` is the clip length the first plan is sized for; the plan is
    made on first use and re-made, at least twice as large, when a longer clip or a bigger list comes.

    An Extractor pickles (its parameters travel, and the plan is made again where it is unpickled), so it
    can be given to DataLoader workers started with spawn, to multiprocessing pools and to Ray actors.

    Output dtype: float32; with ``output_dtype="f16"`` numpy.float16; with ``"bf16"`` numpy.uint16 arrays
    holding the bfloat16 bit patterns (``(out.astype(np.uint32) << 16).view(np.float32)`` widens them).
    """

    def __init__(self, preset=None, feature=None, backend="cpu", on_error="raise", resample=False, **overrides):
        if on_error not in ("raise", "mark"):
            raise ValueError(f"afx: on_error must be 'raise' or 'mark', not {on_error!r}")
        self._plan = None
        self._lock = threading.RLock()
        self.on_error = on_error
        self.preset = preset
        self.resample = as_bool("resample", resample)

        unknown = sorted(k for k in overrides if k not in FIELD_SET and k not in ALIASES)
        if unknown:
            raise TypeError(f"afx.Extractor: unknown keyword argument(s) {', '.join(unknown)}; valid keywords: "
                            f"preset, feature, backend, on_error, resample, {', '.join(_valid_keywords())}")

        self._buf = ctypes.create_string_buffer(int(lib.afx_params_size()))
        err = errbuf()
        if preset is None:
            lib.afx_params_init(self._buf)
            if feature is not None:
                self._set("feature", feature)
        else:
            pv = lib.afx_enum_value(ENUM["preset"], value_text("preset", "preset", preset).encode())
            if pv < 0:
                raise AfxError(f'preset="{preset}": expected {"|".join(presets())}', status_name(ERR_INVALID_PARAM),
                               ERR_INVALID_PARAM)
            fname = PRESET_DEFAULT_FEATURE.get(str(preset), "logmel") if feature is None else feature
            fname = value_text("feature", "feature", fname)
            fv = lib.afx_enum_value(ENUM["feature"], fname.encode())
            if fv < 0:
                self._set("feature", fname)  # raises with the library's message for a bad name
            check(lib.afx_params_preset(self._buf, pv, fv, err, ERROR_MAX), err)
        if backend is not None:
            self._set("backend", backend)

        # Resolve keywords to fields: a field set by two keywords is an error, except that a weak alias
        # (seed) gives way to the field it would set (dither_seed, mask_seed).
        chosen = {}  # field -> (keyword, value, weak)
        for key, value in overrides.items():
            if value is None:
                if key not in NONE_MEANS_OFF:
                    continue
                value = NONE_MEANS_OFF[key]
            if key in ALIASES:
                fields, how = ALIASES[key]
                if how == _NOT:
                    value = not as_bool(key, value)
                elif how == "int16":
                    value = 32768.0 if as_bool(key, value) else 1.0
                weak = key in _WEAK
            else:
                fields, weak = (key,), False
            for f in fields:
                prev = chosen.get(f)
                if prev is not None and not prev[2] and not weak:
                    raise TypeError(f"afx.Extractor: keywords {prev[0]} and {key} both set {f}")
                if prev is None or prev[2]:
                    chosen[f] = (key, value, weak)
        for f, (key, value, _) in chosen.items():
            self._set(f, value, key)

        chunk = self._get("max_batch") if "max_batch" in chosen else DEFAULT_CHUNK
        if "max_batch" not in chosen:
            self._set("max_batch", chunk)
        check(lib.afx_params_validate(self._buf, err, ERROR_MAX), err)
        self._chunk = int(chunk)
        self._init_samples = int(self._get("max_samples")) if "max_samples" in chosen else 0
        self._finish_init()

    def _finish_init(self):
        self._cap_batch = 0
        self._cap_samples = 0
        if self._get("backend") != "cpu":
            # A GPU plan can fail for reasons validation cannot see (no driver or device, too little
            # memory): make a first plan now, so that such errors appear at construction.
            with self._lock:
                self._ensure_plan(1, 0)

    # -- pickling: the parameters travel as text, the plan is made again on the other side ----------
    def __getstate__(self):
        if self._buf is None:
            raise ValueError("afx: this Extractor is closed")
        return {"version": 1, "preset": self.preset, "on_error": self.on_error, "resample": self.resample,
                "params": {f: self._get_text(f) for f in FIELDS}, "chunk": self._chunk,
                "init_samples": self._init_samples}

    def __setstate__(self, state):
        self._plan = None
        self._lock = threading.RLock()
        self.preset, self.on_error, self.resample = state["preset"], state["on_error"], state["resample"]
        self._chunk, self._init_samples = state["chunk"], state["init_samples"]
        self._buf = ctypes.create_string_buffer(int(lib.afx_params_size()))
        lib.afx_params_init(self._buf)
        unknown = sorted(set(state["params"]) - FIELD_SET)
        if unknown:
            raise AfxError.invalid_param(f"afx: this Extractor was pickled with a libafx that has parameters "
                                         f"{', '.join(unknown)}, which the library loaded here ({library_path}) lacks")
        for f, v in state["params"].items():
            self._set(f, v)
        err = errbuf()
        check(lib.afx_params_validate(self._buf, err, ERROR_MAX), err)
        self._finish_init()

    # -- parameters ---------------------------------------------------------------------------------
    def _set(self, field, value, keyword=None):
        err = errbuf()
        t = value_text(field, keyword or field, value)
        check(lib.afx_params_set(self._buf, field.encode(), t.encode(), err, ERROR_MAX), err)

    def _get_text(self, field):
        buf = errbuf()
        check(lib.afx_params_get(self._buf, field.encode(), buf, ERROR_MAX), buf)
        return text(buf.value)

    def _get(self, field):
        return parse_value(field, self._get_text(field))

    @property
    def params(self):
        """Every afx_params field of this extractor (ints, floats, enum names as str)."""
        return {f: self._get(f) for f in FIELDS}

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
            return text(lib.afx_enum_name(ENUM["backend"], lib.afx_plan_backend(self._ensure_plan(1, 0))))

    def frames(self, n_samples):
        """Analysis frames of a clip of n_samples samples per channel (afx_plan_frames_for_length)."""
        with self._lock:
            return int(lib.afx_plan_frames_for_length(self._ensure_plan(1, 0), int(n_samples)))

    # -- plan ---------------------------------------------------------------------------------------
    def _ensure_plan(self, batch, samples):
        """The plan, (re)made so that it takes `batch` clips of up to `samples` samples."""
        if self._buf is None:
            raise ValueError("afx: this Extractor is closed")
        fixed = int(self._get("fixed_length"))
        if fixed > 0:  # every clip is cut or padded to fixed_length: that is all the plan must hold
            samples = fixed
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
        err = errbuf()
        for f, v in (("max_batch", new_batch), ("max_samples", new_samples)):
            check(lib.afx_params_set(q, f.encode(), str(v).encode(), err, ERROR_MAX), err)
        plan = c_void_p()
        check(lib.afx_plan_create(q, byref(plan), err, ERROR_MAX), err)
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
    def __call__(self, x, sr=None, *, resample=None, first_clip_index=0, clip_indices=None):
        """Features of one clip or of a batch of clips.

        ``x``: one clip (1-D), a batch ``[clips, samples]`` (2-D array or tensor: a row is a clip, time last
        as in librosa and torchaudio), or a list/tuple of clips of any lengths (each 1-D, or 2-D
        ``[samples, channels]`` whose channels are averaged). NumPy arrays or PyTorch CPU tensors; int16
        (read as v/32768) or floats (computed as float32).

        Returns ``(features, n_frames)``. One clip: features ``[F, T]`` (layout ft), ``[T, F]`` (layout tf) or
        ``[values]`` (pooling), and the int T. A batch: ``[B, F, Tmax]`` / ``[B, Tmax, F]`` / ``[B, values]``,
        zero past each clip's frames, and an int64 array ``n_frames[B]`` (-1 for a clip refused with
        on_error="mark").

        ``sr``: the clips' sample rate. None trusts the caller; a rate different from the extractor's raises
        ValueError, or resamples the clips first when ``resample`` (default: the extractor's) is True.

        ``first_clip_index``: the global index of the first clip (clip i gets first_clip_index + i): dither
        noise and SpecAugment masks are keyed by it, so a clip gets the same noise and masks whatever batch
        it is in. ``clip_indices``: one global index per clip instead (e.g. dataset indices of a shuffled
        batch); each run of consecutive indices is one library call.
        """
        clips, single = clips_of(x)
        if clip_indices is not None:
            if first_clip_index != 0:
                raise TypeError("afx: give first_clip_index or clip_indices, not both")
            clip_indices = [clip_index(v, 1, "clip_indices[%d]" % i) for i, v in enumerate(clip_indices)]
            if len(clip_indices) != len(clips):
                raise ValueError(f"afx: clip_indices has {len(clip_indices)} values for {len(clips)} clips")
            first = clip_indices[0] if clip_indices else 0
        else:
            first = clip_index(first_clip_index, len(clips))
        clips = self._at_rate(clips, sr, self.resample if resample is None else as_bool("resample", resample))
        with self._lock:
            return self._run(clips, single, first, clip_indices)

    def _at_rate(self, clips, sr, do_resample):
        if sr is None:
            return clips
        if isinstance(sr, (bool, np.bool_)) or not isinstance(sr, numbers.Real) or sr != int(sr) or sr <= 0:
            raise ValueError(f"afx: sr={sr!r}: must be a positive integer sample rate in Hz")
        sr, rate = int(sr), self.sample_rate
        if sr == rate:
            return clips
        if not do_resample:
            raise ValueError(f"afx: the clips are at sr={sr} Hz but this extractor computes features of "
                             f"{rate} Hz audio (sample_rate={rate}): resample them (afx.resample, or "
                             f"resample=True here or in the Extractor), or make the extractor with "
                             f"sample_rate={sr}")
        out = []
        for a, _, ch in clips:
            f = a.astype(np.float32) / np.float32(32768.0) if a.dtype == np.int16 else a
            y = _resample(f if ch > 1 or f.ndim == 1 else f.reshape(-1), sr, rate)
            out.append((y, y.shape[0], ch))
        return out

    def _segments(self, n_clips, first, indices):
        """(start, count, first global index) of each library call: at most chunk clips, consecutive keys."""
        chunk = self._chunk
        if indices is None:
            return [(s, min(chunk, n_clips - s), first + s) for s in range(0, n_clips, chunk)]
        segs, s = [], 0
        while s < n_clips:
            e = s + 1
            while e < n_clips and e - s < chunk and indices[e] == indices[e - 1] + 1:
                e += 1
            segs.append((s, e - s, indices[s]))
            s = e
        return segs

    def _inputs(self, clips, first, indices, fmt=None, pointers=None):
        """The afx_input of each segment (kept alive by the returned tuple) and the segments."""
        n_clips = len(clips)
        channels = {c[2] for c in clips}
        if len(channels) > 1:
            raise ValueError(f"afx: every clip of a batch must have the same number of channels, got "
                             f"{sorted(channels)}")
        n_channels = channels.pop()
        if pointers is None:
            pointers = [(a.ctypes.data if n > 0 else None) for a, n, _ in clips]
        ptrs = (c_void_p * n_clips)(*pointers)
        lengths = np.array([n for _, n, _ in clips], dtype=np.int64)
        segs = self._segments(n_clips, first, indices)
        inputs = (AfxInput * len(segs))()
        ptr_size = ctypes.sizeof(c_void_p)
        for k, (s, count, key) in enumerate(segs):
            inp = inputs[k]
            inp.format = fmt
            inp.n_channels = n_channels
            inp.clips = ctypes.cast(ctypes.addressof(ptrs) + s * ptr_size, POINTER(c_void_p))
            inp.lengths = ctypes.cast(lengths.ctypes.data + s * 8, POINTER(c_int64))
            inp.n_clips = count
            inp.first_clip_index = key
        return (inputs, ptrs, lengths), segs

    def _run(self, clips, single, first, indices):
        if self._buf is None:
            raise ValueError("afx: this Extractor is closed")
        n_clips = len(clips)
        if n_clips == 0:
            plan = self._ensure_plan(1, 0)
            return self._empty_output(plan, 0), np.zeros(0, dtype=np.int64)
        if all(c[0].dtype == np.int16 for c in clips):
            fmt = SAMPLE_S16
        else:
            fmt = SAMPLE_F32
            clips = [(a.astype(np.float32) / np.float32(32768.0) if a.dtype == np.int16 else a, n, ch)
                     for a, n, ch in clips]
        keep, segs = self._inputs(clips, first, indices, fmt)
        inputs = keep[0]
        plan = self._ensure_plan(max(c for _, c, _ in segs), max(c[1] for c in clips))
        n_frames = np.zeros(n_clips, dtype=np.int64)

        # Frames of every segment (checks the batch against the plan) -> one dense output for the batch.
        t_max = 0
        for k in range(len(segs)):
            most = c_int64(0)
            st = lib.afx_plan_output_shape(plan, byref(inputs[k]), None, byref(most))
            if st != OK:
                raise AfxError.from_status(st, text(lib.afx_plan_error(plan)))
            t_max = max(t_max, most.value)

        per_clip = int(lib.afx_plan_output_size(plan, 1, t_max))
        dtype = self._out_dtype()
        out = np.empty(n_clips * per_clip, dtype=np.uint16 if dtype != np.float32 else np.float32)
        outputs = (AfxOutput * len(segs))()
        for k, (s, _, _) in enumerate(segs):
            o = outputs[k]
            o.data = out.ctypes.data + s * per_clip * out.itemsize if out.size else None
            o.frames_stride = t_max
            o.n_frames = ctypes.cast(n_frames.ctypes.data + s * 8, POINTER(c_int64))

        if len(segs) == 1:
            st = lib.afx_plan_execute(plan, byref(inputs[0]), byref(outputs[0]))
            complete = True
        else:
            done = c_int(0)
            st = lib.afx_plan_execute_batches(plan, inputs, outputs, len(segs), byref(done))
            complete = done.value == len(segs)
        self._check_run(plan, st, complete, n_frames)

        if dtype == np.float16:
            out = out.view(np.float16)
        features = self._shape_output(plan, out, n_clips, t_max)
        if single:
            return self._single(features[0], int(n_frames[0]))
        return features, n_frames

    def _check_run(self, plan, st, complete, n_frames):
        if st != OK:
            refused = st == ERR_INVALID_INPUT and complete and bool((n_frames < 0).any())
            if not refused or self.on_error == "raise":
                raise AfxError.from_status(st, text(lib.afx_plan_error(plan)))

    def _single(self, f, nf):
        if nf < 0 and not self._pooled():  # refused (on_error="mark"): no frames
            f = f[:, :0] if self._get("layout") == "ft" else f[:0]
        return f, nf

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

    # -- clips already on the GPU (afx.torch uses this) ---------------------------------------------
    def _run_device(self, clips, pointers, fmt, first, indices, stream, consume):
        """Runs clips that are in device memory through afx_plan_execute_device_input.

        ``clips``: (None, n_samples, n_channels) per clip; ``pointers``: their device addresses. The plan
        works on ``stream`` (a cudaStream_t as int; 0 = the plan's own). After each segment,
        ``consume(start, count, device_output)`` must copy the features out (on that stream) before the next
        segment reuses the plan's output buffer. Returns n_frames (int64 [B]).
        """
        with self._lock:
            if self._buf is None:
                raise ValueError("afx: this Extractor is closed")
            keep, segs = self._inputs(clips, first, indices, fmt, pointers)
            inputs = keep[0]
            plan = self._ensure_plan(max(c for _, c, _ in segs), max(c[1] for c in clips))
            check_plan = lib.afx_plan_set_stream(plan, c_void_p(stream or None))
            if check_plan != OK:
                raise AfxError.from_status(check_plan, text(lib.afx_plan_error(plan)))
            n_frames = np.zeros(len(clips), dtype=np.int64)
            status, complete = OK, True
            for k, (s, count, _) in enumerate(segs):
                dev = AfxDeviceOutput()
                dev.n_frames = ctypes.cast(n_frames.ctypes.data + s * 8, POINTER(c_int64))
                st = lib.afx_plan_execute_device_input(plan, byref(inputs[k]), byref(dev))
                if st != OK and not (st == ERR_INVALID_INPUT and (n_frames[s:s + count] < 0).any()):
                    status, complete = st, False
                    break
                if st != OK:
                    status = st
                consume(s, count, dev)
                # Clips refused on the device (NaN/Inf samples, non-finite features) are known once the
                # batch is done: their slots are zeros, and this marks their n_frames -1.
                st = lib.afx_plan_device_output_wait(plan, byref(dev))
                if st == ERR_INVALID_INPUT:
                    status = st
                elif st != OK:
                    status, complete = st, False
                    break
            self._check_run(plan, status, complete, n_frames)
            return n_frames


def extract(x, preset=None, feature=None, sr=None, **kw):
    """``Extractor(preset, feature, **kw)(x, sr)``, freeing the plan afterwards."""
    with Extractor(preset=preset, feature=feature, **kw) as e:
        return e(x, sr)
