"""Finding libafx.so and declaring the C functions the binding calls (ctypes, no compiler needed).

The afx_params struct is never mirrored here: it is an opaque buffer of afx_params_size() bytes that
only the library reads and writes (afx_params_init / _preset / _set / _get / _validate). The small
structs that are part of the calling convention (afx_input, afx_output, afx_audio_options,
afx_audio_clip) are mirrored field by field from include/afx.h and include/afx_audio.h.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
from ctypes import (POINTER, Structure, c_char, c_char_p, c_double, c_float, c_int, c_int16, c_int64, c_size_t,
                    c_uint, c_uint64, c_void_p)

__all__ = ["lib", "libc", "library_path", "library_origin", "AfxInput", "AfxOutput", "AfxDeviceOutput",
           "AudioOptions", "AudioClip", "ERROR_MAX", "ENUM"]

#: AFX_ERROR_MAX: the longest message (with its NUL) the library writes.
ERROR_MAX = 512

#: afx_enum_kind values (include/afx.h).
ENUM = {
    "backend": 0, "feature": 1, "window": 2, "pad_mode": 3, "mel_scale": 4, "mel_norm": 5,
    "log_type": 6, "normalize": 7, "mask_value": 8, "pooling": 9, "layout": 10, "dct_norm": 11,
    "dtype": 12, "preset": 13,
}


class AfxInput(Structure):
    """afx_input: every afx enum is a C int."""
    _fields_ = [
        ("format", c_int),             # afx_sample_format
        ("n_channels", c_int),
        ("clips", POINTER(c_void_p)),  # const void *const *
        ("lengths", POINTER(c_int64)),
        ("n_clips", c_int),
        ("first_clip_index", c_uint64),
    ]


class AfxOutput(Structure):
    """afx_output."""
    _fields_ = [
        ("data", c_void_p),
        ("frames_stride", c_int64),
        ("n_frames", POINTER(c_int64)),
    ]


class AfxDeviceOutput(Structure):
    """afx_device_output (afx_plan_execute_device / _device_input)."""
    _fields_ = [
        ("data", c_void_p),            # device pointer owned by the plan
        ("dtype", c_int),              # afx_dtype
        ("n_clips", c_int),
        ("n_features", c_int),
        ("frames_stride", c_int64),
        ("n_frames", POINTER(c_int64)),
        ("ready_event", c_void_p),     # cudaEvent_t
    ]


class AudioOptions(Structure):
    """afx_audio_options (every field: afx_audio_options_init writes them all)."""
    _fields_ = [
        ("target_rate", c_int),
        ("downmix", c_int),
        ("max_samples", c_int64),
        ("offset_seconds", c_double),
        ("duration_seconds", c_double),
        ("max_duration_seconds", c_double),
        ("max_stream_bytes", c_int64),
        ("keep_int16", c_int),
        ("threads", c_int),
    ]


class AudioClip(Structure):
    """afx_audio_clip."""
    _fields_ = [
        ("samples", POINTER(c_float)),
        ("n_samples", c_int64),
        ("n_channels", c_int),
        ("sample_rate", c_int),
        ("source_rate", c_int),
        ("source_channels", c_int),
        ("sample_format", c_int),         # afx_sample_format
        ("samples_s16", POINTER(c_int16)),
    ]


_HERE = os.path.dirname(os.path.abspath(__file__))

_HOW_TO = (
    "install the package with `pip install ./python` from a clone of the repository (it compiles libafx "
    "and ships libafx.so inside the package), or build the library (cmake -S . -B build && cmake --build "
    "build --target afx) and set the environment variable AFX_LIBRARY to the built libafx.so "
    "(e.g. AFX_LIBRARY=$PWD/build/libafx.so)"
)


def _candidates():
    """(origin, path) in the order the binding tries them."""
    env = os.environ.get("AFX_LIBRARY")
    if env:
        yield "AFX_LIBRARY", env
        return  # an explicit choice is never silently replaced by another library
    for path in sorted(glob.glob(os.path.join(_HERE, "libafx.so*")), key=len):
        yield "package folder", path
    repo = os.path.dirname(os.path.dirname(_HERE))  # <repo>/python/afx -> <repo>
    if os.path.exists(os.path.join(repo, "include", "afx.h")):  # used from a source checkout
        # `pip install -e ./python` imports the Python files from here and puts the libafx.so it built in
        # site-packages/afx/
        import site
        for d in site.getsitepackages() + [site.getusersitepackages()]:
            path = os.path.join(d, "afx", "libafx.so")
            if os.path.exists(path):
                yield "editable install", path
        yield "repository build folder", os.path.join(repo, "build", "libafx.so")
    found = ctypes.util.find_library("afx")
    yield "system (ctypes.util.find_library)", found


def _load():
    tried = []
    for origin, path in _candidates():
        if path is None:
            tried.append(f"{origin}: nothing found")
            continue
        if origin != "system (ctypes.util.find_library)" and not os.path.exists(path):
            tried.append(f"{origin}: {path} (not found)")
            continue
        try:
            return ctypes.CDLL(path), path, origin
        except OSError as e:  # pragma: no cover - depends on the machine
            tried.append(f"{origin}: {path} ({e})")
    raise ImportError("afx: cannot load libafx.so; tried:\n  " + "\n  ".join(tried) + "\nTo fix: " + _HOW_TO)


#: The loaded library, its path, and where it was found ("AFX_LIBRARY", "package folder", ...).
lib, library_path, library_origin = _load()


def _libc():
    try:
        return ctypes.CDLL(None)  # the process's C library on POSIX
    except OSError:  # pragma: no cover
        return ctypes.CDLL(ctypes.util.find_library("c"))


libc = _libc()
libc.free.argtypes = [c_void_p]
libc.free.restype = None

_ERRBUF = POINTER(c_char)  # a writable message buffer (ctypes.create_string_buffer)
_PARAMS = c_void_p         # afx_params * (opaque buffer)
_PLAN = c_void_p           # afx_plan *

_PROTOTYPES = {
    "afx_version_number": (c_uint, []),
    "afx_version_string": (c_char_p, []),
    "afx_status_name": (c_char_p, [c_int]),
    "afx_status_string": (c_char_p, [c_int]),
    "afx_params_init": (None, [_PARAMS]),
    "afx_params_validate": (c_int, [_PARAMS, _ERRBUF, c_size_t]),
    "afx_params_preset": (c_int, [_PARAMS, c_int, c_int, _ERRBUF, c_size_t]),
    "afx_params_set": (c_int, [_PARAMS, c_char_p, c_char_p, _ERRBUF, c_size_t]),
    "afx_params_get": (c_int, [_PARAMS, c_char_p, _ERRBUF, c_size_t]),
    "afx_params_field_name": (c_char_p, [c_int]),
    "afx_params_size": (c_size_t, []),
    "afx_enum_name": (c_char_p, [c_int, c_int]),
    "afx_enum_value": (c_int, [c_int, c_char_p]),
    "afx_plan_create": (c_int, [_PARAMS, POINTER(_PLAN), _ERRBUF, c_size_t]),
    "afx_plan_free": (None, [_PLAN]),
    "afx_plan_error": (c_char_p, [_PLAN]),
    "afx_plan_backend": (c_int, [_PLAN]),
    "afx_plan_n_features": (c_int, [_PLAN]),
    "afx_plan_frames_for_length": (c_int64, [_PLAN, c_int64]),
    "afx_plan_output_shape": (c_int, [_PLAN, POINTER(AfxInput), POINTER(c_int64), POINTER(c_int64)]),
    "afx_plan_output_size": (c_size_t, [_PLAN, c_int, c_int64]),
    "afx_plan_execute": (c_int, [_PLAN, POINTER(AfxInput), POINTER(AfxOutput)]),
    "afx_plan_execute_batches": (c_int, [_PLAN, POINTER(AfxInput), POINTER(AfxOutput), c_int, POINTER(c_int)]),
    "afx_plan_execute_device": (c_int, [_PLAN, POINTER(AfxInput), POINTER(AfxDeviceOutput)]),
    "afx_plan_execute_device_input": (c_int, [_PLAN, POINTER(AfxInput), POINTER(AfxDeviceOutput)]),
    "afx_plan_device_output_wait": (c_int, [_PLAN, POINTER(AfxDeviceOutput)]),
    "afx_plan_set_stream": (c_int, [_PLAN, c_void_p]),
    "afx_cuda_device_count": (c_int, []),
    "afx_audio_options_init": (None, [POINTER(AudioOptions)]),
    "afx_audio_load_file": (c_int, [c_char_p, POINTER(AudioOptions), POINTER(AudioClip), _ERRBUF, c_size_t]),
    "afx_audio_load_memory": (c_int, [c_void_p, c_size_t, c_char_p, POINTER(AudioOptions), POINTER(AudioClip),
                                      _ERRBUF, c_size_t]),
    "afx_audio_resample": (c_int, [c_void_p, c_int64, c_int, c_int, c_int, POINTER(POINTER(c_float)),
                                   POINTER(c_int64), _ERRBUF, c_size_t]),
    "afx_audio_clip_free": (None, [POINTER(AudioClip)]),
}


def _declare():
    missing = []
    for name, (restype, argtypes) in _PROTOTYPES.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            missing.append(name)
            continue
        fn.restype = restype
        fn.argtypes = argtypes
    if missing:
        raise ImportError(f"afx: the library {library_path} lacks {', '.join(missing)}: it is older than this "
                          f"binding; {_HOW_TO}")


_declare()
