"""afx.plot and `python -m afx plot`: the picture is rendered and read back as pixels (size, content,
colours from viridis, the gradient's ends at the colormap's ends), with the axes and colorbar checked
through matplotlib's own objects and the mel ticks against librosa's Slaney formula (transcribed)."""
import os
import subprocess
import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib", reason="afx.plot needs matplotlib (pip install 'afx-features[plot]')")
matplotlib.use("Agg")
from matplotlib import colormaps  # noqa: E402
from matplotlib.image import imread  # noqa: E402

import afx  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AUDIO = os.path.join(REPO, "examples", "audio")
VIRIDIS = colormaps["viridis"](np.linspace(0, 1, 256))[:, :3]


def viridis_distance(pixels):
    """Distance of each RGB pixel (floats in [0, 1]) to the nearest of viridis' 256 colours."""
    p = pixels.reshape(-1, 1, 3)
    return np.sqrt(((p - VIRIDIS[None]) ** 2).sum(-1)).min(axis=1).reshape(pixels.shape[:-1])


def axes_pixels(img, fig, ax, inset=3):
    """The image rows/columns inside `ax` (matplotlib's y axis points up, an image's rows down)."""
    x0, y0, x1, y1 = ax.get_window_extent().extents
    h = img.shape[0]
    return img[int(h - y1) + inset:int(h - y0) - inset, int(x0) + inset:int(x1) - inset, :3]


def test_gradient_renders_with_viridis_ends_and_axes(tmp_path):
    # features [F, T] growing along time: the left edge must be viridis' first colour, the right its last
    feats = np.tile(np.linspace(-80.0, 0.0, 50, dtype=np.float32), (40, 1))
    e = afx.Extractor(preset="librosa", feature="db", n_mels=40)
    path = tmp_path / "grad.png"
    fig = afx.plot(feats, extractor=e, path=str(path), figsize=(6, 3), dpi=100)
    img = imread(str(path))
    assert img.shape[:2] == (300, 600)
    inside = axes_pixels(img, fig, fig.axes[0])
    assert viridis_distance(inside).max() < 0.02
    np.testing.assert_allclose(inside[:, 0], np.broadcast_to(VIRIDIS[0], inside[:, 0].shape), atol=0.02)
    np.testing.assert_allclose(inside[:, -1], np.broadcast_to(VIRIDIS[-1], inside[:, -1].shape), atol=0.02)
    ax, cbar = fig.axes  # the spectrogram and its colorbar
    assert ax.get_xlabel() == "Time (s)" and "Hz" in ax.get_ylabel() and cbar.get_ylabel() == "dB"
    # time: 50 frames of hop 512 at 22.05 kHz, centred frames
    x0, x1 = ax.get_xlim()
    np.testing.assert_allclose([x0, x1], [-256 / 22050, (49 * 512 + 256) / 22050], rtol=1e-9)
    # mel ticks: 1 kHz sits where librosa's Slaney scale puts it among the 40 band centres
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "1k" in labels and "4k" in labels
    mel = lambda f: np.where(f >= 1000, 15 + np.log(np.maximum(f, 1e-9) / 1000) / (np.log(6.4) / 27), 3 * f / 200)
    hz = lambda m: np.where(m >= 15, 1000 * np.exp(np.log(6.4) / 27 * (m - 15)), 200 * m / 3)
    centres = mel(hz(np.linspace(mel(0.0), mel(11025.0), 42)[1:-1]))
    pos = ax.get_yticks()[labels.index("1k")]
    np.testing.assert_allclose(pos, np.interp(mel(1000.0), centres, np.arange(40)), atol=1e-6)


def test_spectrogram_axis_is_in_hz_and_tf_layout_is_transposed():
    e = afx.Extractor(feature="spectrogram", layout="tf")  # 16 kHz, n_fft 512: 257 bins of 31.25 Hz
    x = np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000).astype(np.float32)
    feats, t = e(x)
    fig = afx.plot(feats, extractor=e)
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.get_ylim(), [-15.625, 256.5 * 31.25])
    assert ax.images[0].get_array().shape == (257, t)  # [T, F] drawn as [F, T]
    assert ax.get_ylabel() == "Frequency (Hz)"


def test_refused_and_batched_inputs():
    with pytest.raises(ValueError, match="pooled"):
        afx.plot(np.zeros(80, np.float32))
    with pytest.raises(ValueError, match="features\\[i\\]"):
        afx.plot(np.zeros((2, 80, 10), np.float32))
    feats, n = afx.Extractor()([np.zeros(16000, np.float32), np.zeros(8000, np.float32)])
    fig = afx.plot(feats[1], n_frames=n[1])
    assert fig.axes[0].images[0].get_array().shape == (80, n[1])  # padding left out
    with pytest.raises(ValueError, match="refused"):
        afx.plot(feats[1], n_frames=-1)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "afx", *args], capture_output=True, text=True, timeout=120)


def test_cli_plots_an_audio_file_and_an_npy_file(tmp_path):
    wav = os.path.join(AUDIO, "ast_demo-thanks.wav")
    out = tmp_path / "thanks.png"
    r = run_cli("plot", wav, "-o", str(out), "--preset", "librosa", "--feature", "db", "--width", "5",
                "--height", "2.5", "--dpi", "80")
    assert r.returncode == 0, r.stderr
    img = imread(str(out))
    assert img.shape[:2] == (200, 400)
    rgb = img[..., :3]
    assert rgb.std() > 0.05  # not a blank picture
    viridis_share = (viridis_distance(rgb) < 0.02).mean()
    assert viridis_share > 0.3, viridis_share  # most of it is the spectrogram and its colorbar
    # a .npy of the C tool's layout, described by options
    feats, _ = afx.Extractor(n_mels=64)(afx.load(wav)[0])
    npy = tmp_path / "thanks.npy"
    np.save(npy, feats)
    r = run_cli("plot", str(npy), "--n-mels", "64", "-o", str(tmp_path / "npy.png"))
    assert r.returncode == 0, r.stderr
    assert imread(str(tmp_path / "npy.png")).shape[:2] == (400, 800)


@pytest.mark.skipif(os.environ.get("AFX_TEST_INSTALLED") != "1", reason="the console script of the installed wheel")
def test_console_script(tmp_path):
    script = os.path.join(os.path.dirname(sys.executable), "afx-plot")
    out = tmp_path / "s.png"
    r = subprocess.run([script, os.path.join(AUDIO, "alsa_Front_Center.wav"), "-o", str(out)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert imread(str(out)).shape[:2] == (400, 800)


def test_cli_errors_name_the_input(tmp_path):
    r = run_cli("plot", str(tmp_path / "missing.wav"), "-o", str(tmp_path / "x.png"))
    assert r.returncode == 1 and "missing.wav" in r.stderr
    r = run_cli("plot", os.path.join(AUDIO, "ast_demo-thanks.wav"), "--set", "n_mels=0", "-o", str(tmp_path / "y.png"))
    assert r.returncode == 1 and "n_mels" in r.stderr
    assert run_cli("frobnicate").returncode == 2
    r = run_cli("info")
    assert r.returncode == 0 and afx.__version__ in r.stdout and "library:" in r.stdout
