"""afx.load(path, sr, offset=, duration=) against librosa.load(path, sr, offset=, duration=) on every clip of
the corpus: the same samples (librosa.load skips int(offset * native rate) samples and keeps
int(duration * native rate), then resamples with soxr_hq)."""
import numpy as np
import pytest

import peers

# (offset, duration) in seconds; 0.10002 s falls between two samples at most rates, where truncating and
# rounding the sample count differ (44.1 kHz: 4410.88 samples).
CASES = [(0.25, None), (0.5, 0.75), (0.10002, 0.3), (0.0, 0.05)]


@pytest.mark.parametrize("sr", [None, 16000])
@pytest.mark.parametrize("offset, duration", CASES)
def test_load_offset_duration_matches_librosa(sr, offset, duration, corpus, afx_module):
    librosa = peers.librosa()
    problems, compared = [], 0
    for path in corpus.paths:
        got, rate = afx_module.load(str(path), sr=sr, offset=offset, duration=duration)
        try:
            ref, ref_rate = librosa.load(str(path), sr=sr, mono=True, offset=offset, duration=duration,
                                         res_type="soxr_hq")
        except Exception:  # the peer's own limit: soundfile cannot seek in some Ogg files (psf_fseek)
            continue
        compared += 1
        if rate != ref_rate or got.shape != ref.shape:
            problems.append(f"{path.name}: afx {got.shape} at {rate} Hz, librosa {ref.shape} at {ref_rate} Hz")
            continue
        err = float(np.max(np.abs(got.astype(np.float64) - ref), initial=0.0))
        if err > 1e-6:
            problems.append(f"{path.name}: max |afx - librosa| = {err:.3g}")
    assert compared >= len(corpus.paths) - 2, f"librosa.load read only {compared} of {len(corpus.paths)} clips"
    assert not problems, "\n".join(problems)
