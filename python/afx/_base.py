"""Errors, names and the parameter-text rules shared by the binding's modules."""
from __future__ import annotations

import ctypes
import numbers

import numpy as np

from ._lib import ENUM, ERROR_MAX, lib

# afx_status values used here (include/afx.h; stable).
OK = 0
ERR_INVALID_PARAM = 2
ERR_INVALID_INPUT = 3

SAMPLE_F32 = 0
SAMPLE_S16 = 1

#: Largest value of afx_input.first_clip_index (a uint64_t).
MAX_CLIP_INDEX = (1 << 64) - 1


def text(b):
    return b.decode("utf-8", "replace") if b is not None else ""


def status_name(code):
    return text(lib.afx_status_name(code))


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
            message = text(lib.afx_status_string(code))
        return cls(message, status_name(code), code)

    @classmethod
    def invalid_param(cls, message):
        return cls(message, status_name(ERR_INVALID_PARAM), ERR_INVALID_PARAM)


def errbuf():
    return ctypes.create_string_buffer(ERROR_MAX)


def check(code, err):
    """Raises AfxError for a status != AFX_OK, with the message left in buffer `err`."""
    if code != OK:
        raise AfxError.from_status(code, text(err.value))


# ------------------------------------------------------------------------------------------------
# Names
# ------------------------------------------------------------------------------------------------
def library_version():
    """Version string of the loaded libafx (afx_version_string)."""
    return text(lib.afx_version_string())


def cuda_device_count():
    """CUDA devices usable by the loaded libafx (0 in a build without CUDA, or without a device)."""
    return int(lib.afx_cuda_device_count())


def enum_names(kind):
    names = []
    while True:
        n = lib.afx_enum_name(ENUM[kind], len(names))
        if n is None:
            return names
        names.append(text(n))


def presets():
    """Names of the presets ("librosa", "torchaudio", "kaldi", "whisper", "tf")."""
    return enum_names("preset")


def param_names():
    """Every afx_params field name, in the order afx_params_field_name lists them."""
    names = []
    while True:
        n = lib.afx_params_field_name(len(names))
        if n is None:
            return names
        names.append(text(n))


FIELDS = tuple(param_names())
FIELD_SET = frozenset(FIELDS)


def _fields_taking(value):
    """Fields for which afx_params_set accepts `value` (bytes): how the binding learns each field's type."""
    buf = ctypes.create_string_buffer(int(lib.afx_params_size()))
    lib.afx_params_init(buf)
    return frozenset(f for f in FIELDS if lib.afx_params_set(buf, f.encode(), value, None, 0) == OK)


#: Only a float field takes the text "0.5"; of the rest, a bool field takes "true" and an integer field "7";
#: an enum field takes none of them.
FLOAT_FIELDS = _fields_taking(b"0.5")
BOOL_FIELDS = _fields_taking(b"true") - FLOAT_FIELDS
INT_FIELDS = _fields_taking(b"7") - FLOAT_FIELDS - BOOL_FIELDS
ENUM_FIELDS = FIELD_SET - FLOAT_FIELDS - BOOL_FIELDS - INT_FIELDS


def value_text(field, keyword, v):
    """The text afx_params_set reads for Python value `v` of `field` (given as keyword `keyword`).

    Refuses, before the library sees them, the values whose text would be read as something else: a bool
    for a number (``n_mels=True`` is not 1 mel), and text with a NUL character (C would stop reading there:
    ``window="hann\\x00x"`` would be read as "hann").
    """
    if isinstance(v, (bool, np.bool_)):
        if field not in BOOL_FIELDS:
            raise TypeError(f"afx: {keyword}={v!r}: a bool is not a valid value of {field} "
                            f"({_kind_words(field)})")
        return "1" if v else "0"
    if isinstance(v, numbers.Integral):
        return str(int(v))
    if isinstance(v, numbers.Real):
        return repr(float(v))
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    s = str(v)
    if "\x00" in s:
        raise AfxError.invalid_param(f"{keyword}={s!r}: the text contains a NUL character")
    return s


def _kind_words(field):
    if field in FLOAT_FIELDS:
        return "a number"
    if field in ENUM_FIELDS:
        return "one of " + "|".join(enum_values_of(field))
    return "an integer"


def enum_values_of(field):
    """The names an enum field takes, found by asking the library."""
    buf = ctypes.create_string_buffer(int(lib.afx_params_size()))
    lib.afx_params_init(buf)
    for kind in ENUM:
        names = enum_names(kind)
        if names and all(lib.afx_params_set(buf, field.encode(), n.encode(), None, 0) == OK for n in names):
            return names
    return []


def as_bool(name, v):
    if isinstance(v, (bool, np.bool_)) or (isinstance(v, numbers.Integral) and int(v) in (0, 1)):
        return bool(v)
    raise TypeError(f"afx: keyword {name} takes True or False, not {v!r}")


def parse_value(field, value_text_):
    if field in FLOAT_FIELDS:  # the exact float32 value the library holds, as a Python float
        return float(np.float32(value_text_))
    try:
        return int(value_text_, 10)
    except ValueError:
        return value_text_


def clip_index(value, n_clips, what="first_clip_index"):
    """Checks a global clip index for n_clips consecutive clips: an integer, and every index fits uint64."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"afx: {what} must be an integer, not {value!r}")
    v = int(value)
    last = MAX_CLIP_INDEX - max(n_clips - 1, 0)
    if v < 0 or v > last:
        raise ValueError(f"afx: {what}={v}: must be in 0..{last} (2^64 - 1 less the clips that follow it: the "
                         f"library keys dither and masks by a 64-bit clip index)")
    return v
