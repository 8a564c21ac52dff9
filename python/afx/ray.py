"""afx.ray: featurize a corpus with Ray Data, one afx plan per actor.

Needs ``ray[data]`` (``pip install "afx-features[ray]"``)::

    import ray, afx.ray
    ds = ray.data.read_binary_files(paths, include_paths=True)          # rows: {"bytes", "path"}
    feats = ds.map_batches(afx.ray.Featurizer, fn_constructor_kwargs={"preset": "kaldi"},
                           compute=ray.data.ActorPoolStrategy(size=4), batch_size=32)  # 4 actors, a plan each
    for row in feats.iter_rows(): row["path"], row["features"], row["n_frames"], row["error"]

or in one call: ``afx.ray.featurize(paths, preset="kaldi", concurrency=4)``.

A file that cannot be decoded, or whose samples are refused (NaN/Inf), gets its message in ``error``,
``n_frames = -1`` and empty features; the other files of the batch are computed.

Dither and SpecAugment masks are keyed by each row's ``key`` column when there is one, else by
:func:`path_key` of its path, so a file's features do not depend on how Ray batches the rows or which actor
gets them: they are exactly ``afx.Extractor(...)(afx.load(path, sr=...)[0], first_clip_index=path_key(path))``.
"""
from __future__ import annotations

import hashlib

import numpy as np

from ._audio import load_bytes
from ._base import AfxError
from ._core import Extractor

__all__ = ["Featurizer", "featurize", "path_key"]


def path_key(path):
    """The clip index a file is keyed by: the first 8 bytes of BLAKE2b of its path (UTF-8), as an integer."""
    return int.from_bytes(hashlib.blake2b(str(path).encode("utf-8", "surrogateescape"), digest_size=8).digest(),
                          "little")


class Featurizer:
    """A callable class for ``ray.data.Dataset.map_batches``: Ray makes one instance per actor.

    ``Featurizer(preset=None, feature=None, **overrides)``: the afx.Extractor keywords (``backend="cuda"``
    with ``num_gpus=`` in map_batches puts each actor's plan on its GPU).

    Input batch (numpy format): ``bytes`` (encoded files, as ``read_binary_files`` gives them) and
    optionally ``path``; or ``audio`` (one float32/int16 array per row, already at the extractor's rate);
    optionally ``key`` (uint64 clip index of each row, for dither and masks; default: path_key(path)).
    Output batch: ``path`` (when given), ``features`` (one ``[F, T]`` array per row, no padding),
    ``n_frames`` (int64) and ``error`` (str, "" when the row is fine).
    """

    def __init__(self, preset=None, feature=None, **overrides):
        overrides.setdefault("on_error", "mark")
        self.extractor = Extractor(preset=preset, feature=feature, **overrides)
        self.sample_rate = self.extractor.sample_rate

    def _decode(self, batch):
        n = len(batch["bytes"] if "bytes" in batch else batch["audio"])
        names = [str(p) for p in batch["path"]] if "path" in batch else [f"row {i}" for i in range(n)]
        clips, errors = [], []
        for i in range(n):
            if "bytes" not in batch:
                clips.append(np.asarray(batch["audio"][i]))
                errors.append("")
                continue
            try:
                x, _ = load_bytes(bytes(batch["bytes"][i]), sr=self.sample_rate, name=names[i])
                clips.append(x)
                errors.append("")
            except AfxError as e:
                clips.append(np.zeros(0, np.float32))
                errors.append(str(e))
        return clips, errors, names

    def __call__(self, batch):
        clips, errors, names = self._decode(batch)
        if "key" in batch:
            keys = [int(k) for k in batch["key"]]
        elif "path" in batch:
            keys = [path_key(p) for p in batch["path"]]
        else:
            keys = None
        feats, n_frames = self.extractor(clips, clip_indices=keys)
        n_frames = n_frames.copy()
        tf = self.extractor.params["layout"] == "tf"
        rows = []
        for i in range(len(clips)):
            if errors[i]:
                n_frames[i] = -1
            elif n_frames[i] < 0:
                errors[i] = f"{names[i]}: refused: its samples contain NaN or Inf"
            t = max(int(n_frames[i]), 0)
            f = feats[i] if feats.ndim == 2 else (feats[i, :t] if tf else feats[i, :, :t])
            rows.append(np.ascontiguousarray(f))
        out = {"features": _ragged(rows), "n_frames": n_frames, "error": np.array(errors, dtype=object)}
        if "path" in batch:
            out["path"] = np.asarray(batch["path"])
        return out


def _ragged(arrays):
    """One object array holding arrays of different shapes (Ray stores it as a variable-shaped tensor column)."""
    out = np.empty(len(arrays), dtype=object)
    for i, a in enumerate(arrays):
        out[i] = a
    return out


def featurize(paths, preset=None, feature=None, concurrency=2, batch_size=16, num_cpus=1, num_gpus=0, **overrides):
    """``ray.data.read_binary_files(paths) -> map_batches(Featurizer, ...)``: a lazy Ray Dataset with the
    columns of :class:`Featurizer`'s output, computed by ``concurrency`` actors (each holding ``num_cpus``
    CPUs and ``num_gpus`` GPUs of the cluster; the file reads need CPUs of their own). Starts a local Ray
    instance if none is running."""
    try:
        import ray
        import ray.data
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(f"afx.ray.featurize needs Ray Data ({e}): pip install \"afx-features[ray]\"") from e
    ds = ray.data.read_binary_files(list(paths), include_paths=True)
    kwargs = dict(overrides, preset=preset, feature=feature)
    return ds.map_batches(Featurizer, fn_constructor_kwargs=kwargs, compute=ray.data.ActorPoolStrategy(size=concurrency),
                          batch_size=batch_size, batch_format="numpy", num_cpus=num_cpus, num_gpus=num_gpus)
