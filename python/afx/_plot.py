"""afx.plot: a spectrogram picture of one clip's features (matplotlib, optional extra "plot").

Time runs along x in seconds (frame centres), frequency along y: Hz for a spectrogram, Hz on the mel
scale for mel, log-mel and dB features (ticks at round frequencies placed at the mel bands' centres),
the coefficient index for MFCC. A colorbar names the unit; the colormap is viridis.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["plot", "mel_band_centres_hz"]


# Mel formulas, as the presets use them (include/afx.h afx_mel_scale):
#  htk   2595 log10(1 + f/700)                          (torchaudio mel_scale="htk", librosa htk=True)
#  kaldi 1127 ln(1 + f/700): the same curve up to a constant factor, so the same band centres in Hz
#  slaney linear below 1 kHz (f / (200/3)), logarithmic above with step ln(6.4)/27 per mel
#         (librosa.core.convert.hz_to_mel / mel_to_hz with htk=False, librosa 0.11)
def _hz_to_mel(f, scale):
    f = np.asarray(f, dtype=np.float64)
    if scale == "slaney":
        f_sp, min_log_hz, min_log_mel, logstep = 200.0 / 3, 1000.0, 15.0, math.log(6.4) / 27.0
        lin = f / f_sp
        return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep, lin)
    return 2595.0 * np.log10(1.0 + f / 700.0)


def _mel_to_hz(m, scale):
    m = np.asarray(m, dtype=np.float64)
    if scale == "slaney":
        f_sp, min_log_hz, min_log_mel, logstep = 200.0 / 3, 1000.0, 15.0, math.log(6.4) / 27.0
        return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def _f_max(params):
    nyquist = params["sample_rate"] / 2.0
    f = params["f_max"]
    return nyquist if f == 0 else (nyquist + f if f < 0 else f)


def mel_band_centres_hz(params):
    """Centre frequency (Hz) of each mel filter of an extractor's params."""
    scale = params["mel_scale"]
    lo, hi = _hz_to_mel([params["f_min"], _f_max(params)], scale)
    return _mel_to_hz(np.linspace(lo, hi, params["n_mels"] + 2)[1:-1], scale)


def _effective_n_fft(params):
    n_fft = params["n_fft"]
    if params.get("round_to_power_of_two"):
        win = params["win_length"] or n_fft
        n_fft = 1 << max(win - 1, 0).bit_length()
    return n_fft


def _frame_times(n_frames, params):
    """Centre of each analysis frame in seconds (the framing rules of include/afx.h)."""
    sr, hop = params["sample_rate"], params["hop_length"]
    win = params["win_length"] or _effective_n_fft(params)
    t = np.arange(n_frames, dtype=np.float64) * hop
    if params["center"]:
        return t / sr
    if params["snip_edges"]:
        return (t + win / 2.0) / sr
    return (t + hop / 2.0) / sr


def _unit(params):
    feature = params["feature"]
    if feature == "db":
        unit = "dB"
    elif feature == "logmel":
        unit = "log10" if params["log_base"] == "log10" else "ln"
        unit = f"{unit} of {'magnitude' if params['power'] == 1 else 'power'}"
    elif feature == "mfcc":
        unit = "coefficient value"
    else:
        unit = "magnitude" if params["power"] == 1 else "power"
    if params.get("normalize", "none") != "none":
        unit += f" ({params['normalize']}-normalized)"
    return unit


def _params_of(extractor, params, overrides):
    if extractor is not None:
        p = dict(extractor.params)
    elif params is not None:
        p = dict(params)
    else:
        from ._core import Extractor  # the library's defaults (afx extract's too)
        with Extractor() as e:
            p = dict(e.params)
    for k, v in overrides.items():
        if v is not None:
            p[k] = v
    return p


def _as_2d(features, p, n_frames):
    a = features
    if hasattr(a, "detach") and hasattr(a, "cpu"):  # a torch tensor
        a = a.detach().cpu()
        a = a.float().numpy() if str(a.dtype) in ("torch.bfloat16", "torch.float16") else a.numpy()
    a = np.asarray(a)
    if a.dtype == np.uint16 and p.get("output_dtype") == "bf16":
        a = (a.astype(np.uint32) << 16).view(np.float32)
    if a.ndim != 2:
        raise ValueError(f"afx.plot: expected the features of one clip (2-D), got shape {a.shape}"
                         + ("; pooled features have no time axis" if a.ndim == 1 else "; plot features[i]"))
    a = a.astype(np.float32)
    if p.get("layout") == "tf":
        a = a.T
    if n_frames is not None:
        if int(n_frames) < 0:
            raise ValueError("afx.plot: this clip was refused (n_frames = -1): nothing to draw")
        a = a[:, :int(n_frames)]
    return a


def plot(features, sr=None, hop_length=None, *, extractor=None, params=None, feature=None, n_frames=None,
         path=None, ax=None, title=None, cmap="viridis", figsize=(8.0, 4.0), dpi=100, colorbar=True):
    """Draws one clip's features as a spectrogram picture and returns the matplotlib Figure.

    - ``features``: ``[F, T]`` (or ``[T, F]`` when the extractor's layout is "tf"), a NumPy array or a
      tensor, as an :class:`afx.Extractor` returns for one clip (``features[i]`` of a batch; pass
      ``n_frames=n_frames[i]`` to leave out the zero padding).
    - What the axes mean comes from ``extractor`` (an afx.Extractor) or ``params`` (its ``.params`` dict),
      else afx's defaults (those of ``afx extract``); ``sr``, ``hop_length`` and ``feature`` override them.
    - ``path``: also writes the picture there (PNG, or any format matplotlib knows from the suffix).
    - ``ax``: draw into these axes instead of a new figure. ``figsize`` (inches) and ``dpi`` size a new one.
    """
    from matplotlib.figure import Figure

    p = _params_of(extractor, params, {"sample_rate": sr, "hop_length": hop_length, "feature": feature})
    a = _as_2d(features, p, n_frames)
    n_feat, n_t = a.shape
    times = _frame_times(n_t, p)
    step = p["hop_length"] / p["sample_rate"]
    x0 = (times[0] if n_t else 0.0) - step / 2
    x1 = (times[-1] if n_t else 0.0) + step / 2

    fig = ax.figure if ax is not None else Figure(figsize=figsize, dpi=dpi)
    if ax is None:
        ax = fig.add_subplot(1, 1, 1)
    kind = p["feature"]
    finite = a[np.isfinite(a)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if kind == "spectrogram":
        df = p["sample_rate"] / _effective_n_fft(p)
        extent = (x0, x1, -df / 2, (n_feat - 0.5) * df)
        ax.set_ylabel("Frequency (Hz)")
    else:
        extent = (x0, x1, -0.5, n_feat - 0.5)
    image = ax.imshow(a if n_t else np.zeros((n_feat, 1), np.float32), origin="lower", aspect="auto",
                      interpolation="nearest", cmap=cmap, vmin=vmin, vmax=vmax, extent=extent)
    if kind in ("mel", "logmel", "db"):
        _mel_ticks(ax, p, n_feat)
        ax.set_ylabel("Frequency (Hz, mel scale)")
    elif kind == "mfcc":
        ax.set_ylabel("MFCC coefficient")
    ax.set_xlabel("Time (s)")
    rows = {"spectrogram": "bins", "mfcc": "coefficients"}.get(kind, "bands")
    ax.set_title(title if title is not None else f"{kind}: {n_feat} {rows} x {n_t} frames, {p['sample_rate']} Hz")
    if colorbar:
        cb = fig.colorbar(image, ax=ax)
        cb.set_label(_unit(p))
    if path is not None:
        fig.savefig(path, dpi=dpi)
    return fig


def _mel_ticks(ax, p, n_feat):
    if n_feat != p["n_mels"]:
        return  # not a mel axis (e.g. features of another extractor): keep the band index
    scale = p["mel_scale"]
    centres = _hz_to_mel(mel_band_centres_hz(p), scale)
    candidates = [0, 100, 250, 500, 1000, 2000, 4000, 8000, 16000, 32000, 64000]
    pos, labels = [], []
    for f in candidates:
        m = _hz_to_mel(f, scale)
        if centres[0] <= m <= centres[-1] or n_feat == 1:
            pos.append(float(np.interp(m, centres, np.arange(n_feat))))
            labels.append(f"{f // 1000}k" if f >= 1000 else str(f))
    ax.set_yticks(pos)
    ax.set_yticklabels(labels)
