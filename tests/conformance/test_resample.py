"""afx's resampling (afx.load(path, sr=target): libsndfile decode, downmix, libsoxr HQ) against
librosa.resample(res_type="soxr_hq") of the same native-rate mono samples, for every clip of the
corpus (8, 22.05, 44.1, 48 and 96 kHz sources) and both usual targets: equal length, and the largest
sample difference within tolerances.RESAMPLE."""
import numpy as np
import pytest

import peers
from tolerances import tolerance


@pytest.mark.parametrize("target", [16000, 22050])
def test_load_resample_matches_librosa(target, corpus, afx_module, record):
    tol = tolerance("resample", f"{target} Hz")
    librosa = peers.librosa()
    resampled = dict(corpus.decoded(target))
    errors, problems, rates = {}, [], set()
    for name, y, sr in corpus.native():
        rates.add(sr)
        ref = librosa.resample(np.array(y), orig_sr=sr, target_sr=target, res_type="soxr_hq")
        got = resampled[name]
        also = afx_module.resample(y, sr, target)  # the in-memory entry point: same path as the loader
        if len(got) != len(ref) or len(also) != len(ref):
            problems.append(f"{name}: {sr} -> {target} Hz: afx.load {len(got)}, afx.resample {len(also)}, "
                            f"librosa {len(ref)} samples")
            continue
        err = float(max(np.max(np.abs(got.astype(np.float64) - ref), initial=0.0),
                        np.max(np.abs(also.astype(np.float64) - ref), initial=0.0)))
        errors[name] = err
        if not err <= tol.limit:
            problems.append(f"{name}: {sr} -> {target} Hz: max |afx - librosa| = {err:.3g} > {tol.limit:g}")
    assert {8000, 22050, 44100, 48000, 96000} <= rates, f"corpus rates {sorted(rates)}"
    worst_clip = max(errors, key=errors.get) if errors else None
    from importlib import metadata
    record(kind="resample", preset="resample", feature=f"{target} Hz",
           peer=f"librosa {librosa.__version__} resample soxr_hq (soxr {metadata.version('soxr')})",
           metric=tol.metric, unit="", tolerance=tol.limit, worst=errors[worst_clip] if worst_clip else None,
           worst_clip=worst_clip, compared=len(errors), zero_frames=[], refused=[], problems=problems,
           note=f"sources at {', '.join(f'{r / 1000:g}' for r in sorted(rates))} kHz",
           reason=tol.reason, case=f"resample-{target}")
    assert not problems, "\n".join(problems)
