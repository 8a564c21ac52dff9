"""The installed package is self-contained: libafx.so inside the package folder, found without
AFX_LIBRARY, usable from any working directory; AFX_LIBRARY still overrides it. The installation checks
run when AFX_TEST_INSTALLED=1 (scripts/python-test, CI), where the package must come from the wheel."""
import os
import subprocess
import sys

import pytest

import afx

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INSTALLED = os.environ.get("AFX_TEST_INSTALLED") == "1"
PKG = os.path.dirname(os.path.abspath(afx.__file__))
installed_only = pytest.mark.skipif(not INSTALLED, reason="checks the installed wheel: run scripts/python-test")


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("AFX_LIBRARY", "PYTHONPATH")}
    env.update(extra)
    return env


@installed_only
def test_the_package_and_its_library_come_from_the_installation():
    assert not PKG.startswith(os.path.join(REPO, "python")), PKG
    assert "site-packages" in PKG or "dist-packages" in PKG
    assert afx.library_origin == "package folder"
    assert os.path.dirname(afx.library_path) == PKG and os.path.basename(afx.library_path) == "libafx.so"
    assert "AFX_LIBRARY" not in os.environ


@installed_only
def test_package_files():
    files = sorted(f for f in os.listdir(PKG) if f != "__pycache__")
    expected = {"__init__.py", "__main__.py", "_audio.py", "_base.py", "_core.py", "_inputs.py", "_lib.py",
                "_plot.py", "libafx.so", "ray.py", "torch.py"}
    assert expected <= set(files), files
    # one plain library file (a wheel has no symbolic links), plus the CUDA backend module when built
    libs = [f for f in files if f.startswith("libafx")]
    assert set(libs) <= {"libafx.so", "libafx_cuda.so"}, libs


@installed_only
def test_import_from_anywhere_without_environment(tmp_path):
    code = "import afx; print(afx.library_path); print(afx.Extractor()([[0.1] * 400, [0.2] * 800])[1].tolist())"
    r = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), env=clean_env(), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lib_path, frames = r.stdout.split("\n")[:2]
    assert lib_path == afx.library_path and frames == "[3, 6]"


def test_afx_library_overrides_the_packaged_library(tmp_path):
    r = subprocess.run([sys.executable, "-c", "import afx"], cwd=str(tmp_path), capture_output=True, text=True,
                       env=clean_env(AFX_LIBRARY=str(tmp_path / "nope" / "libafx.so"),
                                     PYTHONPATH=os.path.dirname(PKG)), timeout=60)
    assert r.returncode != 0 and "nope/libafx.so" in r.stderr and "pip install ./python" in r.stderr
    r = subprocess.run([sys.executable, "-c", "import afx; print(afx.library_origin, afx.library_path)"],
                       cwd=str(tmp_path), capture_output=True, text=True, timeout=60,
                       env=clean_env(AFX_LIBRARY=afx.library_path, PYTHONPATH=os.path.dirname(PKG)))
    assert r.returncode == 0 and r.stdout.split() == ["AFX_LIBRARY", afx.library_path]


def test_distribution_metadata():
    from importlib import metadata
    if not INSTALLED:
        pytest.skip("metadata of the installed distribution: run scripts/python-test")
    dist = metadata.distribution("afx-features")
    assert dist.version == afx.__version__
    extras = set(dist.metadata.get_all("Provides-Extra"))
    assert {"plot", "ray"} <= extras
    assert any(ep.name == "afx-plot" for ep in dist.entry_points)
