"""afx's loader against the real peers, on every clip of the corpus:

- decoding: afx_audio_load_file at the file's rate with its channels against soundfile.read (the
  reader librosa.load uses);
- windows: afx_audio_load_file with offset_seconds/duration_seconds, downmixed, at the file's rate and
  at 16 kHz, against librosa.load(path, sr, mono=True, offset, duration, res_type="soxr_hq"): the same
  frames (int(offset * sr) skipped, int(duration * sr) kept), the same length, the same samples; an
  offset past the end is refused, as soundfile's seek (librosa's reader) refuses it.

Both go through the Python binding, afx.load(path, sr, mono, offset, duration), which calls
afx_audio_load_file.
"""
import numpy as np
import pytest

from conftest import clip_paths
from tolerances import tolerance

VORBIS = {".oga", ".ogg"}
# (offset, duration) in seconds; 0.10002 s falls between two samples at most rates, where truncating and
# rounding the sample count differ (44.1 kHz: 4410.88 samples): librosa truncates.
WINDOWS = [(0.0, None), (0.1, None), (0.25, 0.5), (0.0, 0.3), (1.0, 0.2), (0.0371, 0.0123), (0.10002, 0.3),
           (2.5, 1.0)]


@pytest.fixture(scope="module")
def load(afx_module):
    def run(path, sr=None, mono=True, offset=0.0, duration=None):
        return afx_module.load(str(path), sr=sr, mono=mono, offset=offset, duration=duration)[0]
    return run


def _diff(a, b):
    return float(np.max(np.abs(a.astype(np.float64) - b), initial=0.0))


def test_decode_matches_soundfile(load, record):
    import soundfile as sf
    tol = tolerance("load", "decode")
    errors, problems = {}, []
    for p in clip_paths():
        ref, _ = sf.read(str(p), dtype="float32", always_2d=True)
        got = load(p, sr=None, mono=False)
        if got.shape != ref.shape:
            problems.append(f"{p.name}: afx {got.shape}, soundfile {ref.shape}")
            continue
        errors[p.name] = _diff(got, ref)
        if not errors[p.name] <= tol.limit:
            problems.append(f"{p.name}: max |afx - soundfile| = {errors[p.name]:.3g} > {tol.limit:g}")
        elif p.suffix not in VORBIS and errors[p.name] != 0:  # see tolerances.LOAD: only Vorbis may differ
            problems.append(f"{p.name}: max |afx - soundfile| = {errors[p.name]:.3g}, expected bit-identical")
    worst = max(errors, key=errors.get) if errors else None
    record(kind="load", preset="`afx_audio_load_file`", feature="decode (file's rate and channels)",
           peer=f"soundfile {sf.__version__} (libsndfile {sf.__libsndfile_version__})", metric=tol.metric, unit="",
           tolerance=tol.limit, worst=errors[worst] if worst else None, worst_clip=worst, compared=len(errors),
           zero_frames=[], refused=[], problems=problems, note="", reason=tol.reason, case="load-decode")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("sr", [None, 16000])
def test_windows_match_librosa_load(sr, load, record):
    import peers
    import soundfile as sf
    librosa = peers.librosa()
    tol = tolerance("load", "offset/duration")
    errors, problems, compared, both_refused = {}, [], 0, 0
    for p in clip_paths():
        info = sf.info(str(p))
        for offset, duration in WINDOWS:
            case = f"{p.name} offset={offset} duration={duration}"
            if int(offset * info.samplerate) > info.frames:
                # Past the end: librosa's reader, soundfile, refuses the seek (librosa then falls back to
                # its deprecated audioread path, whose answer depends on the backends installed).
                with sf.SoundFile(str(p)) as f:
                    with pytest.raises(Exception):
                        f.seek(int(offset * info.samplerate))
                with pytest.raises(Exception, match="past the end"):
                    load(p, sr=sr, offset=offset, duration=duration)
                both_refused += 1
                continue
            ref, _ = librosa.load(str(p), sr=sr, mono=True, offset=offset, duration=duration, res_type="soxr_hq")
            got = load(p, sr=sr, offset=offset, duration=duration)
            compared += 1
            if got.shape != ref.shape:
                problems.append(f"{case}: afx {got.shape[0]} samples, librosa {ref.shape[0]}")
                continue
            err = _diff(got, ref)
            if err > errors.get(p.name, -1.0):
                errors[p.name] = err
            if not err <= tol.limit:
                problems.append(f"{case}: max |afx - librosa| = {err:.3g} > {tol.limit:g}")
    assert compared > 0 and both_refused > 0, "the windows must cover in-range and past-the-end offsets"
    worst = max(errors, key=errors.get) if errors else None
    rate = "the file's rate" if sr is None else f"{sr} Hz"
    record(kind="load", preset="`afx_audio_load_file`", feature=f"offset/duration, mono, {rate}",
           peer=f"librosa {librosa.__version__} load", metric=tol.metric, unit="", tolerance=tol.limit,
           worst=errors[worst] if worst else None, worst_clip=worst, compared=len(errors), zero_frames=[], refused=[],
           problems=problems,
           note=f"{len(WINDOWS)} (offset, duration) windows per clip: {compared} compared, {both_refused} past the "
                "end refused by afx and by soundfile's seek",
           reason=tol.reason, case=f"load-window-{sr}")
    assert not problems, "\n".join(problems)
