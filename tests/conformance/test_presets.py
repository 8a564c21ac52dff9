"""Every afx preset against its library, on every clip of the corpus.

For each case of cases.py: the clips are decoded once at the preset's sample rate (afx.load, soxr HQ),
the identical float32 array goes to afx.Extractor(preset=..., feature=...) and to the peer library
called with the parameters read back from the Extractor (peers.py), and then
  - the frame counts must be equal, exactly, on every clip (both 0 counts as equal; a peer that raises
    on a clip too short for it must be matched by 0 frames from afx);
  - the layout must be the peer's ([F, T] or [T, F]) with the preset's number of features;
  - the error (metric and tolerance from tolerances.py) must be within tolerance on every clip.
The worst error over the corpus is recorded for the README table.
"""
import numpy as np
import pytest

import metrics
import peers
from cases import CASES, case_id
from tolerances import tolerance

FEATURES = ["spectrogram", "mel", "logmel", "db", "mfcc"]


@pytest.fixture(scope="module")
def extractor(afx_module, backend):
    made = {}

    def get(preset, feature, overrides):
        key = (preset, feature, tuple(sorted(overrides.items())))
        if key not in made:
            made[key] = afx_module.Extractor(preset=preset, feature=feature, backend=backend, **overrides)
        return made[key]
    return get


def _time_axis(layout):
    return 1 if layout == "ft" else 0


def _frames(a, layout):
    return a.shape[_time_axis(layout)]


def _metric(case, tol):
    if tol.metric == "max_db":
        assert case.units, f"{case_id(case)}: a log metric needs the feature's units"
        return ("max_db", case.units)
    return (tol.metric,)


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_preset_matches_peer(case, corpus, extractor, record):
    tol = tolerance(case.preset, case.label)
    ex = extractor(case.preset, case.feature, case.overrides)
    p = ex.params
    assert p["layout"] == case.layout, f"preset {case.preset} should output layout {case.layout}, has {p['layout']}"
    metric = _metric(case, tol)
    axis = _time_axis(case.layout)

    errors, zero_frames, refused, problems = {}, [], [], []
    for name, x in corpus.decoded(p["sample_rate"]):
        feats, n = ex(x)
        n = int(n)
        assert feats.ndim == 2 and feats.shape[axis] == n, f"{name}: afx returned shape {feats.shape} for {n} frames"
        try:
            ref = case.fn(x, p)
        except Exception as e:  # noqa: BLE001 - the peer refusing a clip is allowed only with 0 frames here
            if n == 0:
                refused.append(name)
                continue
            raise AssertionError(f"{name}: {case.peer} raised {type(e).__name__}: {e} "
                                 f"where afx gives {n} frames") from e
        ref = np.asarray(ref)
        if ref.ndim != 2:
            problems.append(f"{name}: peer output has shape {ref.shape}")
            continue
        if _frames(ref, case.layout) != n:
            problems.append(f"{name}: frames afx {n} != {case.peer} {_frames(ref, case.layout)}")
            continue
        if feats.shape != ref.shape:
            problems.append(f"{name}: afx shape {feats.shape} != {case.peer} shape {ref.shape} "
                            f"(layout {case.layout})")
            continue
        if n == 0:
            zero_frames.append(name)
            continue
        err = metrics.compare(feats, ref, metric)
        errors[name] = err
        if not err <= tol.limit:  # NaN fails too
            problems.append(f"{name}: {tol.metric} {err:.3g} > {tol.limit:g}")

    worst_clip = max(errors, key=errors.get) if errors else None
    record(kind="preset", preset=case.preset, feature=case.label, peer=peers.version(case.peer),
           metric=tol.metric, unit="dB" if tol.metric == "max_db" else "", tolerance=tol.limit,
           worst=errors[worst_clip] if worst_clip else None, worst_clip=worst_clip, compared=len(errors),
           zero_frames=zero_frames, refused=refused, problems=problems, note=case.note, reason=tol.reason,
           case=case_id(case))
    assert errors, "no clip compared"
    assert not problems, f"{case_id(case)} ({tol.reason}):\n  " + "\n  ".join(problems)


def test_every_supported_feature_has_a_case(afx_module):
    """'For every preset and each feature kind it supports': the cases cover exactly what afx offers."""
    covered = {(c.preset, c.feature) for c in CASES}
    for preset in afx_module.presets():
        for feature in FEATURES:
            try:
                afx_module.Extractor(preset=preset, feature=feature).close()
                supported = True
            except afx_module.AfxError:
                supported = False
            assert supported == ((preset, feature) in covered), (
                f"preset {preset}, feature {feature}: afx {'supports' if supported else 'refuses'} it but "
                f"cases.py {'has' if (preset, feature) in covered else 'has no'} case for it")
