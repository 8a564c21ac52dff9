"""afx.torch: PyTorch tensors in and out, and the pieces of a training input pipeline.

Imported on demand (``import afx.torch``); needs torch (any build: CPU or CUDA)::

    import afx.torch
    ext = afx.torch.Extractor(preset="torchaudio", feature="db", n_fft=1024, hop_length=512, n_mels=64)
    feats, n_frames = ext(waveforms)          # [B, N] tensor -> [B, 64, T] float32 tensor, n_frames [B]

- Host tensors (and NumPy arrays) in, host tensors out: the features are the NumPy result wrapped with
  ``torch.from_numpy`` (no copy), so they equal :class:`afx.Extractor`'s numbers exactly.
- GPU tensors in (``backend="cuda"``, on the extractor's ``cuda_device``), GPU tensors out: the clips are read
  where they are by ``afx_plan_execute_device_input`` (on a stream of the extractor's, ordered after the work
  queued on torch's current stream, which in turn waits for it), and the features are copied from the
  plan's device buffer into a new tensor; nothing crosses PCIe except the lengths. Objects with ``__cuda_array_interface__`` (CuPy, Numba) or ``__dlpack__`` are taken too.
- :class:`Collate`: a DataLoader ``collate_fn`` that featurizes a batch of ``(waveform, label[, index])``
  items in one library call; with an index per item, SpecAugment masks and dither are keyed by
  ``(epoch, index)``: the same clip gets new masks each epoch (:meth:`Collate.set_epoch`) and the same
  masks whenever the same epoch is replayed, whatever the batch, worker or shuffling.

Both pickle, so DataLoader workers started with the spawn method get their own plan.
"""
from __future__ import annotations

import numpy as np

try:
    import torch
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(f"afx.torch needs PyTorch ({e}): install the torch build that suits the machine (CPU or "
                      f"CUDA), e.g. pip install torch, or Debian's python3-torch") from e

from . import _core
from ._base import SAMPLE_F32, SAMPLE_S16, clip_index
from ._inputs import is_device_array, is_torch_tensor
from ._lib import lib

__all__ = ["Extractor", "Collate", "to_tensor", "EPOCH_SHIFT"]

#: Collate keys clip ``index`` of epoch ``e`` as ``(e << EPOCH_SHIFT) + index`` (indices below 2^32).
EPOCH_SHIFT = 32


def to_tensor(features, output_dtype="f32"):
    """A NumPy feature array as a torch tensor sharing its memory (bf16 bit patterns become torch.bfloat16)."""
    if output_dtype == "bf16":
        return torch.from_numpy(np.ascontiguousarray(features).view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(features)


class _DeviceBuffer:
    """A view of device memory that torch.as_tensor reads through __cuda_array_interface__ (version 2)."""

    def __init__(self, ptr, shape, typestr):
        self.__cuda_array_interface__ = {"shape": tuple(int(s) for s in shape), "typestr": typestr,
                                         "data": (int(ptr), False), "strides": None, "version": 2}


# typestr of each output_dtype as torch reads it (CUDA array interface has no bfloat16: read as int16, then
# reinterpreted with Tensor.view(torch.bfloat16)).
_TYPESTR = {"f32": ("<f4", torch.float32), "f16": ("<f2", torch.float16), "bf16": ("<i2", torch.bfloat16)}


def _as_cuda_tensor(x):
    if is_torch_tensor(x):
        return x
    if hasattr(x, "__cuda_array_interface__"):
        return torch.as_tensor(x, device="cuda")
    if hasattr(x, "__dlpack__"):
        return torch.utils.dlpack.from_dlpack(x)
    raise TypeError(f"afx.torch: expected a torch tensor or a GPU array, got {type(x).__name__}")


class Extractor(_core.Extractor):
    """:class:`afx.Extractor` that returns torch tensors and takes GPU tensors where they are.

    Same constructor and call as :class:`afx.Extractor`. The result is ``(features, n_frames)`` with
    ``features`` a tensor (float32, float16 for ``output_dtype="f16"``, bfloat16 for ``"bf16"``) and
    ``n_frames`` an int for one clip or an int64 tensor for a batch. Host input gives host tensors; GPU
    input gives tensors on the same GPU (see the module's documentation).
    """

    def __call__(self, x, sr=None, *, resample=None, first_clip_index=0, clip_indices=None):
        items = list(x) if isinstance(x, (list, tuple)) else None
        on_device = any(is_device_array(c) for c in items) if items is not None else is_device_array(x)
        if on_device:
            return self._call_device(x, items, sr, first_clip_index, clip_indices)
        feats, n_frames = super().__call__(x, sr, resample=resample, first_clip_index=first_clip_index,
                                           clip_indices=clip_indices)
        t = to_tensor(feats, self._get("output_dtype"))
        return t, (torch.from_numpy(n_frames) if isinstance(n_frames, np.ndarray) else n_frames)

    # -- GPU tensors --------------------------------------------------------------------------------
    def _call_device(self, x, items, sr, first_clip_index, clip_indices):
        if sr is not None and int(sr) != self.sample_rate:
            raise ValueError(f"afx.torch: the clips are at sr={sr} Hz but this extractor computes features of "
                             f"{self.sample_rate} Hz audio; GPU clips are not resampled: resample them first")
        if self.backend != "cuda":
            raise TypeError("afx.torch: the clips are in GPU memory but this extractor runs on the CPU: make it "
                            "with backend='cuda' (or 'auto' on a machine with a GPU), or pass x.cpu()")
        device = torch.device("cuda", int(self._get("cuda_device")))
        single = items is None and _as_cuda_tensor(x).dim() == 1
        tensors = self._device_clips(x, items, device)
        clips = [(None, n, ch) for _, n, ch in tensors]
        fmt = SAMPLE_S16 if all(t.dtype == torch.int16 for t, _, _ in tensors) else SAMPLE_F32
        if fmt == SAMPLE_F32:
            # as on the host: int16 clips of a mixed batch are read as v / 32768, other floats as float32
            tensors = [((t.float() / 32768.0) if t.dtype == torch.int16 else t.float(), n, ch) for t, n, ch in tensors]
        pointers = [t.data_ptr() if n > 0 else None for t, n, _ in tensors]
        if clip_indices is not None:
            indices = [clip_index(v, 1, "clip_indices[%d]" % i) for i, v in enumerate(clip_indices)]
            first = indices[0] if indices else 0
        else:
            indices, first = None, clip_index(first_clip_index, len(clips))

        typestr, tdtype = _TYPESTR[self._get("output_dtype")]
        pooled, tf_layout = self._pooled(), self._get("layout") == "tf"
        nf = self.n_features
        t_max = max([self.frames(n) for _, n, _ in clips] + [0])
        per_clip = int(lib.afx_plan_output_size(self._ensure_plan(1, 0), 1, max(t_max, 1)))
        shape = (len(clips), per_clip) if pooled else ((len(clips), t_max, nf) if tf_layout else (len(clips), nf, t_max))
        out = torch.zeros(shape, dtype=tdtype, device=device)
        # The plan works on a side stream of its own, ordered after everything queued so far on torch's
        # current stream (which wrote the clips and zeroed `out`), and the current stream waits for it at the
        # end: the caller's later work sees the features, and the caching allocator does not reuse the
        # clips' or the output's memory while the plan may still touch it (record_stream).
        current = torch.cuda.current_stream(device)
        side = self._side_stream(device)
        side.wait_stream(current)

        def consume(start, count, dev):
            stride = int(dev.frames_stride)
            if not dev.data or count == 0 or (not pooled and stride == 0):
                return
            if pooled:
                src_shape = (count, int(dev.n_features))
            else:
                src_shape = (count, stride, nf) if tf_layout else (count, nf, stride)
            src = torch.as_tensor(_DeviceBuffer(dev.data, src_shape, typestr), device=device)
            if tdtype == torch.bfloat16:
                src = src.view(torch.bfloat16)
            if pooled:
                out[start:start + count].copy_(src)
            elif tf_layout:
                out[start:start + count, :stride].copy_(src)
            else:
                out[start:start + count, :, :stride].copy_(src)

        try:
            with torch.cuda.device(device), torch.cuda.stream(side):
                n_frames = self._run_device(clips, pointers, fmt, first, indices, side.cuda_stream, consume)
        finally:  # also when a clip is refused: work may have been queued on the side stream
            for t, _, _ in tensors:
                t.record_stream(side)
            out.record_stream(side)
            current.wait_stream(side)
        if single:
            f, nf0 = self._single(out[0], int(n_frames[0]))
            return f, nf0
        return out, torch.from_numpy(n_frames)

    def _side_stream(self, device):
        streams = self.__dict__.setdefault("_streams", {})  # not pickled: made again where it is used
        if device.index not in streams:
            streams[device.index] = torch.cuda.Stream(device)
        return streams[device.index]

    def _device_clips(self, x, items, device):
        """(contiguous tensor on `device`, n_samples, n_channels) per clip."""
        def check(t, where):
            t = _as_cuda_tensor(t)
            if t.device != device:
                raise ValueError(f"afx.torch: {where} is on {t.device} but this extractor runs on {device} "
                                 f"(cuda_device={device.index})")
            if not (t.is_floating_point() or t.dtype == torch.int16):
                raise TypeError(f"afx.torch: {where}: samples must be int16 or floating point, not {t.dtype}")
            return t.detach().contiguous()
        if items is not None:
            out = []
            for i, c in enumerate(items):
                t = check(c, f"clip {i}")
                if t.dim() not in (1, 2):
                    raise ValueError(f"afx.torch: clip {i}: expected 1-D or [samples, channels], got {tuple(t.shape)}")
                out.append((t, t.shape[0], 1 if t.dim() == 1 else t.shape[1]))
            return out
        t = check(x, "the input")
        if t.dim() == 1:
            return [(t, t.shape[0], 1)]
        if t.dim() == 2:
            return [(t[i], t.shape[1], 1) for i in range(t.shape[0])]
        raise ValueError(f"afx.torch: expected one clip (1-D), a batch [clips, samples] (2-D) or a list of clips, "
                         f"got shape {tuple(t.shape)}")


class Collate:
    """A DataLoader ``collate_fn``: featurizes a batch of ``(waveform, label)`` or ``(waveform, label, index)``.

    Returns ``(features, n_frames, labels)``: features ``[B, F, T]`` (or the extractor's layout) as a
    tensor, n_frames an int64 tensor ``[B]``, labels collated by ``torch.utils.data.default_collate``.
    Waveforms may have different lengths (zero past each clip's frames in the output; give the extractor
    ``fixed_length`` to cut or pad every clip to one length).

    With an ``index`` per item (the dataset index), dither and SpecAugment masks are keyed by
    ``(epoch << 32) + index``: call :meth:`set_epoch` before each epoch (as with DistributedSampler) and
    every clip gets new masks each epoch, the same ones when an epoch is replayed, whatever the shuffling,
    batching or worker. DataLoader workers receive the collate function as it is when an epoch's
    iteration starts (the default persistent_workers=False), so set_epoch in the main process reaches them.
    Without an index, the clips of a batch are keyed 0..B-1 (the same masks for every batch).
    """

    def __init__(self, extractor, sr=None, epoch=0):
        if not isinstance(extractor, _core.Extractor):
            raise TypeError("afx.torch.Collate: extractor must be an afx.Extractor")
        self.extractor = extractor if isinstance(extractor, Extractor) else _as_torch_extractor(extractor)
        self.sr = sr
        self.epoch = 0
        self.set_epoch(epoch)

    def set_epoch(self, epoch):
        epoch = int(epoch)
        if not 0 <= epoch < (1 << (64 - EPOCH_SHIFT)):
            raise ValueError(f"afx.torch.Collate: epoch={epoch}: must be in 0..2^{64 - EPOCH_SHIFT}-1")
        self.epoch = epoch

    def keys(self, indices):
        """The global clip index of each dataset index in the current epoch."""
        out = []
        for i in indices:
            i = int(i)
            if not 0 <= i < (1 << EPOCH_SHIFT):
                raise ValueError(f"afx.torch.Collate: dataset index {i}: must be in 0..2^{EPOCH_SHIFT}-1")
            out.append((self.epoch << EPOCH_SHIFT) + i)
        return out

    def __call__(self, items):
        waves = [it[0] for it in items]
        labels = torch.utils.data.default_collate([it[1] for it in items])
        indices = self.keys([it[2] for it in items]) if items and len(items[0]) > 2 else None
        feats, n_frames = self.extractor(waves, self.sr, clip_indices=indices)
        return feats, n_frames, labels


def _as_torch_extractor(e):
    t = Extractor.__new__(Extractor)
    t.__setstate__(e.__getstate__())
    return t
