"""What an Extractor accepts as clips, turned into (contiguous array, n_samples, n_channels) triples.

- A list or tuple: a batch; each element is one clip, 1-D (mono) or 2-D ``[samples, channels]``
  (interleaved, as afx.load(mono=False) and soundfile return it; the channels are averaged).
- An array or tensor: 1-D is one clip; 2-D is a batch ``[clips, samples]`` of mono clips of one length,
  time last as in librosa and torchaudio (a row is a clip; rows are passed to the library in place).
- NumPy arrays, PyTorch CPU tensors (through ``Tensor.numpy()``, no copy) and anything ``numpy.asarray``
  takes. int16 stays int16 (read as v / 32768 by the library); floats become float32; a GPU tensor is
  refused here (afx.torch.Extractor with backend="cuda" takes it where it is).
"""
from __future__ import annotations

import numpy as np

__all__ = ["clips_of", "is_device_array", "is_torch_tensor"]


def is_torch_tensor(x):
    return type(x).__module__.split(".")[0] == "torch" and hasattr(x, "data_ptr") and hasattr(x, "device")


def is_device_array(x):
    """True for an array in GPU memory (a CUDA torch tensor, or an object with __cuda_array_interface__)."""
    if is_torch_tensor(x):
        return x.device.type != "cpu"
    return hasattr(x, "__cuda_array_interface__")


def _host_array(x, where):
    if isinstance(x, np.ndarray):
        return x
    if is_device_array(x):
        raise TypeError(f"afx: {where} is in GPU memory: use afx.torch.Extractor(..., backend='cuda'), which "
                        f"takes GPU tensors in place, or copy it to the host first (x.cpu())")
    if is_torch_tensor(x):
        t = x.detach()
        if t.is_floating_point() and t.element_size() < 4:
            return t.float().numpy()  # float16 / bfloat16: NumPy has no bfloat16, the library reads float32
        return t.numpy()  # shares the tensor's memory
    return np.asarray(x)


def _samples(a, where):
    """int16 stays int16, floating types become float32; both C-contiguous."""
    if a.dtype.kind == "i" and a.dtype.itemsize == 2:
        return np.ascontiguousarray(a, dtype=np.int16)
    if a.dtype.kind == "f":
        return np.ascontiguousarray(a, dtype=np.float32)
    raise TypeError(f"afx: {where}: samples must be int16 or floating point, not {a.dtype}")


def _one_clip(x, where):
    a = _host_array(x, where)
    if a.ndim == 0:
        raise ValueError(f"afx: {where} is a single number: a list is a batch of clips; for one clip given as a "
                         f"list of samples, pass np.asarray(samples)")
    a = _samples(a, where)
    if a.ndim == 1:
        return a, a.shape[0], 1
    if a.ndim == 2:
        return a, a.shape[0], a.shape[1]
    raise ValueError(f"afx: {where}: expected a 1-D clip or a 2-D [samples, channels] clip, got shape {a.shape}")


def clips_of(x):
    """(clips, single): clips is a list of (array, n_samples, n_channels); single is True for one 1-D clip."""
    if isinstance(x, (list, tuple)):
        return [_one_clip(c, f"clip {i}") for i, c in enumerate(x)], False
    a = _host_array(x, "the input")
    if a.ndim == 0:
        raise ValueError("afx: the input is a single number, not a clip")
    a = _samples(a, "the input")
    if a.ndim == 1:
        return [(a, a.shape[0], 1)], True
    if a.ndim == 2:
        return [(a[i], a.shape[1], 1) for i in range(a.shape[0])], False
    raise ValueError(f"afx: expected one clip (1-D), a batch [clips, samples] (2-D) or a list of clips, got an "
                     f"array of shape {a.shape}; for multichannel clips pass a list of [samples, channels] "
                     f"arrays (channels are averaged)")
