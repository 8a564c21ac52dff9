"""The Extractor's calling conventions: batches as [B, N] arrays, sr= on call, top_db=None, sample vs
population std, fixed length, per-clip keys, pickling, and refused parameter values.

References: NumPy float64 formulas (power_to_db, std with ddof 0/1, pad/trim), the same clips run one by
one, and afx.resample for the resampling path.
"""
import multiprocessing
import pickle

import numpy as np
import pytest

import afx


def noise(n, seed=0, scale=0.3):
    return (np.random.default_rng(seed).standard_normal(n) * scale).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# [B, N] arrays
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kw", [{}, {"preset": "librosa", "n_mels": 64}, {"preset": "kaldi", "dither": 0.0},
                                {"feature": "mfcc", "layout": "tf"}, {"pool": "meanstd"}])
def test_2d_array_is_a_batch_of_rows(kw):
    e = afx.Extractor(**kw)
    batch = np.stack([noise(8000, i) for i in range(5)])  # [5, 8000]
    feats, n_frames = e(batch)
    assert isinstance(n_frames, np.ndarray) and n_frames.shape == (5,)
    ref, n_ref = e(list(batch))
    np.testing.assert_array_equal(n_frames, n_ref)
    np.testing.assert_array_equal(feats, ref)
    for i in (0, 4):
        alone, t = e(batch[i])
        assert t == n_frames[i]
        np.testing.assert_array_equal(feats[i], alone)


def test_2d_int16_float64_and_strided_batches():
    e = afx.Extractor()
    q = (np.random.default_rng(1).standard_normal((3, 4000)) * 3000).astype(np.int16)
    fi, _ = e(q)
    ff, _ = e(q.astype(np.float32) / np.float32(32768))
    np.testing.assert_array_equal(fi, ff)
    x64 = np.random.default_rng(2).standard_normal((3, 4000)) * 0.1
    np.testing.assert_array_equal(e(x64)[0], e(x64.astype(np.float32))[0])
    cols = np.asfortranarray(x64.astype(np.float32))  # rows not contiguous
    np.testing.assert_array_equal(e(cols)[0], e(np.ascontiguousarray(cols))[0])


def test_a_list_of_numbers_is_not_a_batch_of_one_sample_clips():
    e = afx.Extractor()
    with pytest.raises(ValueError, match="np.asarray"):
        e([0.1] * 800)
    with pytest.raises(ValueError):
        e(np.float32(0.5))
    a, t = e(np.asarray([0.1] * 800))
    assert t == 6 and a.shape == (80, 6)


def test_empty_batch_and_zero_length_rows():
    e = afx.Extractor(n_mels=16)
    f, n = e(np.zeros((0, 100), np.float32))
    assert f.shape == (0, 16, 0) and n.shape == (0,)
    f, n = e(np.zeros((2, 0), np.float32))
    assert f.shape == (2, 16, 0) and n.tolist() == [0, 0]


# ---------------------------------------------------------------------------------------------
# sr= on call
# ---------------------------------------------------------------------------------------------
def test_sr_on_call_refused_when_it_differs():
    e = afx.Extractor()  # 16 kHz
    x = noise(22050)
    with pytest.raises(ValueError) as info:
        e(x, sr=22050)
    msg = str(info.value)
    assert "22050" in msg and "16000" in msg and "resample" in msg
    with pytest.raises(ValueError):
        e([x, x], 22050)
    a, _ = e(x, sr=16000)  # the extractor's rate: fine
    np.testing.assert_array_equal(a, e(x)[0])
    for bad in (0, -8000, 16000.5, True):
        with pytest.raises(ValueError):
            e(x, sr=bad)


def test_sr_on_call_resamples_when_asked():
    x = noise(22050, 3)
    ref, t_ref = afx.Extractor()(afx.resample(x, 22050, 16000))
    got, t = afx.Extractor()(x, sr=22050, resample=True)
    assert t == t_ref == 1 + 16000 // 160
    np.testing.assert_array_equal(got, ref)
    got2, _ = afx.Extractor(resample=True)(x, 22050)
    np.testing.assert_array_equal(got2, ref)
    # a batch and int16 clips are resampled too (int16 read as v / 32768 first)
    q = (x * 20000).astype(np.int16)
    b, n = afx.Extractor(resample=True)([x, q], sr=22050)
    np.testing.assert_array_equal(b[0], ref)
    q_ref, _ = afx.Extractor()(afx.resample(q.astype(np.float32) / np.float32(32768), 22050, 16000))
    np.testing.assert_array_equal(b[1, :, :n[1]], q_ref)


def test_extract_function_takes_sr():
    x = noise(8000)
    with pytest.raises(ValueError):
        afx.extract(x, sr=8000)
    a, _ = afx.extract(x, sr=8000, sample_rate=8000, n_mels=40)
    b, _ = afx.Extractor(sample_rate=8000, n_mels=40)(x)
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------
# top_db=None, population vs sample std
# ---------------------------------------------------------------------------------------------
def quiet_then_loud(n=16000):
    x = noise(n, 5)
    x[: n // 2] *= 1e-6  # 120 dB quieter: top_db=80 floors it, None does not
    return x


def test_top_db_none_means_no_floor_as_in_librosa_power_to_db():
    x = quiet_then_loud()
    mel, _ = afx.Extractor(preset="librosa", feature="mel")(x)
    # librosa.power_to_db(S, ref=1.0, amin=1e-10, top_db=None) = 10 * log10(max(S, amin))
    expected = 10.0 * np.log10(np.maximum(mel.astype(np.float64), 1e-10))
    got, _ = afx.Extractor(preset="librosa", feature="db", top_db=None)(x)
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-3)
    assert got.min() < got.max() - 100  # the quiet half is not floored
    floored, _ = afx.Extractor(preset="librosa", feature="db")(x)  # the preset's (and librosa's) top_db 80
    np.testing.assert_allclose(floored.min(), floored.max() - 80.0, atol=1e-3)
    np.testing.assert_allclose(floored, np.maximum(expected, expected.max() - 80.0), rtol=0, atol=2e-3)
    assert afx.Extractor(preset="librosa", top_db=None).params["top_db"] < 0
    assert afx.NONE_MEANS_OFF == {"top_db": -1.0}


@pytest.mark.parametrize("normalize", ["utterance", "feature"])
def test_population_and_sample_std(normalize):
    x = noise(12000, 7)
    raw, t = afx.Extractor(n_mels=40)(x)
    r = raw.astype(np.float64)
    axis = None if normalize == "utterance" else 1
    for unbiased, ddof in ((False, 0), (True, 1)):
        e = afx.Extractor(n_mels=40, normalize=normalize, unbiased=unbiased)
        assert e.params["norm_unbiased"] == int(unbiased)
        got, _ = e(x)
        mean = r.mean(axis=axis, keepdims=True)
        std = r.std(axis=axis, ddof=ddof, keepdims=True)
        np.testing.assert_allclose(got, (r - mean) / std, rtol=0, atol=2e-4)
    # the field name works as well as the alias
    a, _ = afx.Extractor(n_mels=40, normalize=normalize, norm_unbiased=True)(x)
    b, _ = afx.Extractor(n_mels=40, normalize=normalize, unbiased=True)(x)
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------
# fixed length (pad or cut at the end)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kw", [{"preset": "tf", "feature": "logmel"}, {"preset": "torchaudio", "feature": "db",
                                                                         "n_fft": 1024, "win_length": 1024,
                                                                         "hop_length": 512, "n_mels": 64}])
def test_fixed_length_equals_numpy_pad_or_cut(kw):
    n = 32000
    fixed = afx.Extractor(fixed_length=n, **kw)
    plain = afx.Extractor(**kw)
    clips = [noise(20800, 1), noise(48000, 2), noise(n, 3), noise(0, 4)]
    feats, n_frames = fixed(clips)
    assert len(set(n_frames.tolist())) == 1 and n_frames[0] == plain.frames(n)
    for i, c in enumerate(clips):
        ref, _ = plain(np.pad(c, (0, max(n - len(c), 0)))[:n])
        np.testing.assert_array_equal(feats[i], ref)
    one, t = fixed(clips[1])
    np.testing.assert_array_equal(one, feats[1])


# ---------------------------------------------------------------------------------------------
# per-clip keys: dither and masks follow the clip, whatever its batch
# ---------------------------------------------------------------------------------------------
def test_clip_indices_key_each_clip():
    kw = dict(dither=0.01, seed=3, time_masks=2, time_mask_param=6, freq_masks=2, freq_mask_param=10)
    e = afx.Extractor(**kw)
    clips = [noise(5000 + 300 * i, i) for i in range(6)]
    keys = [17, 3, 4, 5, 1 << 40, 0]
    feats, n = e(clips, clip_indices=keys)
    for i, c in enumerate(clips):
        alone, t = e(c, first_clip_index=keys[i])
        assert t == n[i]
        np.testing.assert_array_equal(feats[i, :, :t], alone)
    # consecutive keys give what first_clip_index gives
    a, _ = e(clips, clip_indices=[9, 10, 11, 12, 13, 14])
    b, _ = e(clips, first_clip_index=9)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError):
        e(clips, clip_indices=[1, 2])
    with pytest.raises(TypeError):
        e(clips, first_clip_index=1, clip_indices=list(range(6)))


# ---------------------------------------------------------------------------------------------
# pickling
# ---------------------------------------------------------------------------------------------
def test_extractor_pickles_with_every_parameter():
    e = afx.Extractor(preset="kaldi", feature="mfcc", dither=0.5, seed=11, time_masks=1, time_mask_param=5,
                      on_error="mark", resample=True, batch_size=7, max_samples=123456)
    x = [noise(9000, 1), noise(7000, 2)]
    ref, n_ref = e(x, first_clip_index=4)
    e2 = pickle.loads(pickle.dumps(e))
    assert e2.params == e.params and e2.on_error == "mark" and e2.resample is True and e2.preset == "kaldi"
    assert e2.chunk_size == 7
    got, n_got = e2(x, first_clip_index=4)
    np.testing.assert_array_equal(n_got, n_ref)
    np.testing.assert_array_equal(got, ref)
    e.close()
    with pytest.raises(ValueError):
        pickle.dumps(e)


def _features_in_child(ext, clips):
    return ext(clips)


def test_extractor_works_in_a_spawned_process():
    e = afx.Extractor(preset="librosa", feature="db", n_mels=32)
    clips = [noise(11025, 1), noise(22050, 2)]
    ref, n_ref = e(clips)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        got, n_got = pool.apply(_features_in_child, (e, clips))
    np.testing.assert_array_equal(n_got, n_ref)
    np.testing.assert_array_equal(got, ref)


# ---------------------------------------------------------------------------------------------
# values the binding refuses before C would misread them (reliability issue, item 8)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kw, name", [({"window": "hann\x00x"}, "window"), ({"pad_mode": "reflect\x00"}, "pad_mode"),
                                      ({"feature": "mel\x00"}, "feature"), ({"preset": "librosa\x00x"}, "preset")])
def test_text_with_a_nul_is_refused(kw, name):
    with pytest.raises(afx.AfxError) as info:
        afx.Extractor(**kw)
    assert info.value.status == "AFX_ERR_INVALID_PARAM"
    assert name in str(info.value) and "NUL" in str(info.value)


@pytest.mark.parametrize("kw", [{"n_mels": True}, {"n_fft": False}, {"hop_length": np.bool_(True)},
                                {"power": True}, {"top_db": False}, {"window": True}])
def test_a_bool_for_a_number_or_name_is_refused(kw):
    with pytest.raises(TypeError) as info:
        afx.Extractor(**kw)
    assert list(kw)[0] in str(info.value)


def test_bools_still_set_bool_fields():
    p = afx.Extractor(center=False, norm_unbiased=True, mel_allow_empty=np.bool_(True)).params
    assert p["center"] == 0 and p["norm_unbiased"] == 1 and p["mel_allow_empty"] == 1


def test_first_clip_index_range():
    e = afx.Extractor()
    x = noise(1000)
    top = 2 ** 64 - 1
    for bad in (2 ** 64, 2 ** 70, -1):
        with pytest.raises(ValueError, match="first_clip_index"):
            e(x, first_clip_index=bad)
    with pytest.raises(ValueError, match="first_clip_index"):
        e([x, x], first_clip_index=top)  # the second clip would be 2^64
    for bad in (1.5, True, "3"):
        with pytest.raises(TypeError):
            e(x, first_clip_index=bad)
    # the largest keys are usable and distinct from 0 (no wrap-around)
    kw = dict(time_masks=3, time_mask_param=4, freq_masks=3, freq_mask_param=10, seed=1)
    m = afx.Extractor(**kw)
    y = noise(16000, 9)
    a, _ = m([y, y], first_clip_index=top - 1)
    z, _ = m(y, first_clip_index=0)
    assert not np.array_equal(a[1], z) and not np.array_equal(a[0], a[1])
    np.testing.assert_array_equal(m(y, first_clip_index=np.uint64(top))[0], a[1])
    with pytest.raises(ValueError, match="clip_indices"):
        m([y], clip_indices=[2 ** 64])
