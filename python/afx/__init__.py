"""afx: audio feature extraction (spectrogram, mel, log-mel, dB, MFCC) from Python, on CPU and NVIDIA GPUs.

A ctypes binding of libafx (shipped inside this package) that takes NumPy arrays or PyTorch tensors::

    import afx
    x, sr = afx.load("speech.wav", sr=22050)
    feats, n_frames = afx.Extractor(preset="librosa", n_mels=64)(x, sr)      # one clip: [64, T]
    feats, n_frames = afx.Extractor(preset="kaldi", feature="mfcc")([a, b])  # ragged list: [2, Tmax, 13]
    feats, n_frames = afx.Extractor()(batch)                                 # [B, N] array: [B, 80, T]

Optional parts: ``afx.torch`` (torch tensors in and out, Dataset/collate helpers, GPU tensors through the
device entry point), ``afx.ray`` (a Ray Data featurizer), ``afx.plot`` (matplotlib spectrogram pictures;
also ``python -m afx plot``).

The shared library is found, in this order: the environment variable AFX_LIBRARY (path to libafx.so);
the libafx.so inside this package's folder (what `pip install ./python` ships); <repository>/build/libafx.so
when the package is used from a source checkout; ctypes.util.find_library("afx").
"""
from ._lib import library_origin, library_path
from ._base import AfxError, cuda_device_count, library_version, param_names, presets
from ._audio import load, load_bytes, resample
from ._core import ALIASES, DEFAULT_CHUNK, NONE_MEANS_OFF, PRESET_DEFAULT_FEATURE, Extractor, extract

__version__ = library_version()


def plot(features, *args, **kwargs):
    """Draws one clip's features as a spectrogram picture and returns the matplotlib Figure.

    ``plot(features, sr=None, hop_length=None, *, extractor=None, params=None, feature=None, n_frames=None,
    path=None, ax=None, title=None, cmap="viridis", figsize=(8, 4), dpi=100, colorbar=True)``: time in seconds
    along x, frequency along y (Hz; Hz on the mel scale for mel, log-mel and dB; the coefficient for MFCC),
    a colorbar with the unit; the axes' meaning comes from ``extractor`` (or ``params``), else afx's
    defaults; ``path`` also writes the picture (PNG). Needs matplotlib (``pip install "afx-features[plot]"``).
    """
    from ._plot import plot as _plot
    return _plot(features, *args, **kwargs)


__all__ = ["AfxError", "Extractor", "extract", "load", "load_bytes", "resample", "presets", "param_names",
           "library_version", "library_path", "library_origin", "cuda_device_count", "plot", "ALIASES",
           "DEFAULT_CHUNK", "NONE_MEANS_OFF", "PRESET_DEFAULT_FEATURE", "__version__"]
