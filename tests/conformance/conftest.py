"""Shared fixtures of the conformance suite.

- The corpus: every clip of examples/audio (copied from the team corpus, see its SOURCES.md), decoded
  once per sample rate with afx.load and handed, as the same float32 array, to afx and to the peer.
- The recorder: each test records its worst measured error; at the end of the session they are written
  to tests/conformance/results.json (or $AFX_CONFORMANCE_RESULTS), which scripts/conformance-table
  renders into the README.
"""
import importlib.util
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CORPUS = ROOT / "examples" / "audio"
AUDIO_EXT = {".wav", ".flac", ".oga", ".ogg", ".mp3", ".opus"}

if importlib.util.find_spec("afx") is None:  # a source checkout without PYTHONPATH: python/afx of this tree
    sys.path.insert(0, str(ROOT / "python"))

_RECORDS = []


def pytest_configure(config):
    # Expected warnings of the peers on this corpus, by design of the comparison:
    # - librosa warns when n_fft (2048) exceeds a clip (the 0.06 s click is 1337 samples at 22.05 kHz);
    #   afx, like librosa, still pads and computes it.
    # - torchaudio's own defaults (n_fft 400, 128 HTK mels) give an all-zero filter, which it warns about
    #   and keeps: the torchaudio preset reproduces that (mel_allow_empty).
    config.addinivalue_line("filterwarnings", "ignore:n_fft=.* is too large for input signal of length:UserWarning")
    config.addinivalue_line("filterwarnings", "ignore:At least one mel filterbank has all zero values:UserWarning")


def clip_paths():
    return sorted(p for p in CORPUS.iterdir() if p.suffix.lower() in AUDIO_EXT)


# The backend under test: the CPU reference by default; AFX_CONFORMANCE_BACKEND=cuda (or auto) runs the
# same comparisons on the GPU backend.
BACKEND = os.environ.get("AFX_CONFORMANCE_BACKEND", "cpu")


@pytest.fixture(scope="session")
def backend():
    return BACKEND


@pytest.fixture(scope="session")
def afx_module():
    import afx
    return afx


class Corpus:
    """Clips decoded once per (rate, mono) and shared by every test of the session."""

    def __init__(self, afx):
        self.afx = afx
        self.paths = clip_paths()
        self._cache = {}

    def decoded(self, sr):
        """[(name, float32 mono samples)] at sample rate sr (None: each file's own rate)."""
        if sr not in self._cache:
            out = []
            for p in self.paths:
                x, rate = self.afx.load(str(p), sr=sr, mono=True)
                x = np.ascontiguousarray(x, dtype=np.float32)
                x.setflags(write=False)  # the same array goes to both sides: nobody may change it
                out.append((p.name, x, rate))
            self._cache[sr] = out
        return [(n, x) for n, x, _ in self._cache[sr]]

    def native(self):
        self.decoded(None)
        return [(n, x, r) for n, x, r in self._cache[None]]


@pytest.fixture(scope="session")
def corpus(afx_module):
    c = Corpus(afx_module)
    assert len(c.paths) >= 10, f"expected the example clips in {CORPUS}"
    return c


@pytest.fixture(scope="session")
def record():
    """record(**row): one row of the results table (see table.py for the fields)."""
    def add(**row):
        _RECORDS.append(row)
    return add


def _environment():
    import afx
    env = {"afx": afx.__version__, "backend": BACKEND, "python": platform.python_version(),
           "machine": platform.machine(), "numpy": np.__version__}
    lp = getattr(afx, "library_path", None)
    if isinstance(lp, str):
        env["library"] = os.path.relpath(lp, ROOT) if lp.startswith(str(ROOT)) else lp
    return env


def pytest_sessionfinish(session, exitstatus):
    if not _RECORDS:
        return
    path = Path(os.environ.get("AFX_CONFORMANCE_RESULTS", HERE / "results.json"))
    data = {"environment": _environment(), "exitstatus": int(exitstatus), "results": _RECORDS}
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=float) + "\n")
    tmp.replace(path)
