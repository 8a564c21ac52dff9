"""afx: audio feature extraction (spectrogram, mel, log-mel, dB, MFCC) from Python.

A thin ctypes binding of libafx (no compiler needed) that takes and returns NumPy arrays::

    import afx
    x, sr = afx.load("speech.wav", sr=22050)
    feats, n_frames = afx.Extractor(preset="librosa", n_mels=64)(x)          # one clip: [64, T]
    feats, n_frames = afx.Extractor(preset="kaldi", feature="mfcc")([a, b])  # ragged list: [2, Tmax, 13]

The shared library is found, in this order: the environment variable AFX_LIBRARY (path to libafx.so);
a libafx.so* inside this package's folder; <repository>/build/libafx.so when the package is used from
a source checkout (editable install); ctypes.util.find_library("afx").
"""
from ._lib import library_path
from ._core import (ALIASES, DEFAULT_CHUNK, PRESET_DEFAULT_FEATURE, AfxError, Extractor, cuda_device_count,
                    extract, library_version, load, param_names, presets, resample)

__version__ = library_version()

__all__ = ["AfxError", "Extractor", "extract", "load", "resample", "presets", "param_names",
           "library_version", "library_path", "cuda_device_count", "ALIASES", "DEFAULT_CHUNK",
           "PRESET_DEFAULT_FEATURE", "__version__"]
