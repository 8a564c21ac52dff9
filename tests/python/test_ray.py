"""The Ray Data path (afx.ray, python/examples/ray_featurize.py) on a local Ray cluster that the test starts:
every file's features equal a local afx run on the same file, and a corrupt file is reported while the
others are written. The run is a subprocess with a time limit, so a stuck cluster cannot hang the suite."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("ray", reason="the Ray Data path needs ray[data] (pip install 'afx-features[ray]')")

import afx  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AUDIO = os.path.join(REPO, "examples", "audio")
SCRIPT = os.path.join(REPO, "python", "examples", "ray_featurize.py")


def test_ray_featurize_equals_a_local_run(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    names = sorted(f for f in os.listdir(AUDIO) if not f.endswith(".md"))
    for f in names:
        shutil.copy(os.path.join(AUDIO, f), corpus / f)
    (corpus / "broken.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 40)
    paths = sorted(str(p) for p in corpus.iterdir())
    out = tmp_path / "features"
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_DISABLE_IMPORT_WARNING="1")
    r = subprocess.run([sys.executable, SCRIPT, *paths, "-o", str(out), "--preset", "kaldi", "--feature", "mfcc",
                        "--actors", "2", "--batch-size", "3", "--local-cpus", "4"],
                       capture_output=True, text=True, timeout=420, env=env)
    assert r.returncode == 1, (r.returncode, r.stdout[-2000:], r.stderr[-4000:])  # one file failed
    assert "broken.wav" in r.stderr and f"{len(names)} of {len(paths)} files written" in r.stdout

    import afx.ray
    ext = afx.Extractor(preset="kaldi", feature="mfcc")  # Kaldi's dither 1: keyed by the file's path
    written = sorted(os.listdir(out))
    assert written == sorted(os.path.splitext(f)[0] + ".npy" for f in names)
    for f in names:
        x, _ = afx.load(os.path.join(AUDIO, f), sr=ext.sample_rate)
        ref, t = ext(x, first_clip_index=afx.ray.path_key(str(corpus / f)))
        got = np.load(out / (os.path.splitext(f)[0] + ".npy"))
        assert got.shape == ref.shape == (t, 13)
        np.testing.assert_array_equal(got, ref)
