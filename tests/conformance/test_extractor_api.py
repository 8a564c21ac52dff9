"""What a user writes: afx.Extractor(preset=X, one override)(list of clips), against the library called
the way its own users call it (its defaults, not parameters read back from afx). The list of all
corpus clips goes in as one ragged batch: every clip's first n_frames frames must equal the library's
output for that clip alone, and the frames past them must be zero."""
import numpy as np
import pytest

import metrics
import peers
from tolerances import tolerance

API_CASES = [
    # preset, afx overrides, label (tolerances.py), peer, peer function of the samples, layout, log units,
    # the peer call as its users write it (peers.py has the code)
    ("librosa", {"n_mels": 64}, "mel, n_mels=64, batch", "librosa", peers.librosa_default_mel64, "ft", None,
     "librosa.feature.melspectrogram(y=y, sr=22050, n_mels=64)"),
    ("torchaudio", {"n_mels": 64}, "mel, n_mels=64, batch", "torchaudio", peers.torchaudio_default_mel64, "ft",
     None, "torchaudio.transforms.MelSpectrogram(sample_rate=16000, n_mels=64)(x)"),
    ("kaldi", {"dither": 0.0}, "logmel, batch", "torchaudio.kaldi", peers.kaldi_default_fbank, "tf", "ln_power",
     "torchaudio.compliance.kaldi.fbank(x * 32768, dither=0.0)"),
    ("whisper", {}, "logmel, batch", "whisper", peers.whisper_default_logmel, "ft", "whisper",
     "whisper.audio.log_mel_spectrogram(x)"),
]


@pytest.mark.parametrize("preset,overrides,label,peer,fn,layout,units,call", API_CASES,
                         ids=[f"{c[0]}-{c[2].replace(', ', '-')}" for c in API_CASES])
def test_extractor_on_a_list_gives_the_library_numbers(preset, overrides, label, peer, fn, layout, units, call,
                                                       corpus, afx_module, record, backend):
    tol = tolerance(preset, label)
    metric = ("max_db", units) if tol.metric == "max_db" else (tol.metric,)
    ex = afx_module.Extractor(preset=preset, backend=backend, **overrides)  # the preset's default feature
    sr = ex.params["sample_rate"]
    clips = corpus.decoded(sr)
    feats, n_frames = ex([x for _, x in clips])
    assert feats.ndim == 3 and feats.shape[0] == len(clips)
    assert n_frames.dtype == np.int64 and n_frames.shape == (len(clips),)
    t_axis = 2 if layout == "ft" else 1
    assert feats.shape[t_axis] == n_frames.max()
    errors, problems = {}, []
    for i, (name, x) in enumerate(clips):
        n = int(n_frames[i])
        ref = np.asarray(fn(x))
        got = feats[i, :, :n] if layout == "ft" else feats[i, :n, :]
        pad = feats[i, :, n:] if layout == "ft" else feats[i, n:, :]
        if ref.shape != got.shape:
            problems.append(f"{name}: afx {got.shape} ({n} frames) != {peer} {ref.shape}")
            continue
        if np.any(pad != 0):
            problems.append(f"{name}: frames past n_frames={n} are not zero")
        if n == 0:
            continue
        err = metrics.compare(got, ref, metric)
        errors[name] = err
        if not err <= tol.limit:
            problems.append(f"{name}: {tol.metric} {err:.3g} > {tol.limit:g}")
    worst_clip = max(errors, key=errors.get) if errors else None
    shown = ", ".join(f"{k}={v!r}" for k, v in overrides.items())
    record(kind="api", preset=preset, feature=label, peer=peers.version(peer), metric=tol.metric,
           unit="dB" if tol.metric == "max_db" else "", tolerance=tol.limit,
           worst=errors[worst_clip] if worst_clip else None, worst_clip=worst_clip, compared=len(errors),
           zero_frames=[], refused=[], problems=problems,
           note=f'`afx.Extractor(preset="{preset}"{", " + shown if shown else ""})(clips)` on all clips as one '
                f"ragged list, against `{call}` on each clip", reason=tol.reason, case=f"api-{preset}")
    assert not problems, "\n".join(problems)
