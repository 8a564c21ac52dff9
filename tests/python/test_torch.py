"""afx.torch: tensors equal to the NumPy path, the torchaudio CNN pipeline against torchaudio itself,
DataLoader workers started with spawn, SpecAugment masks per epoch, the two examples, and GPU tensors
(skipped, with the reason, where there is no GPU)."""
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="afx.torch needs torch (CI uses Debian's python3-torch)")
torchaudio = pytest.importorskip("torchaudio", reason="the CNN pipeline is compared with torchaudio")

import afx  # noqa: E402
import afx.torch  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(REPO, "python", "examples")
if EXAMPLES not in sys.path:
    sys.path.insert(0, EXAMPLES)  # spawned DataLoader workers inherit sys.path and import the examples

import torch_cnn  # noqa: E402
import torch_tf_logmel  # noqa: E402


def noise(n, seed=0, scale=0.3):
    return (np.random.default_rng(seed).standard_normal(n) * scale).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# tensors in and out equal the NumPy path
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kw", [{}, {"preset": "librosa", "n_mels": 64}, {"preset": "kaldi", "feature": "mfcc",
                                                                           "dither": 0.0},
                                {"pool": "meanstd"}, {"output_dtype": "f16"}, {"layout": "tf"}])
def test_tensors_equal_numpy(kw):
    e_np = afx.Extractor(**kw)
    e_t = afx.torch.Extractor(**kw)
    batch = np.stack([noise(9000, i) for i in range(3)])
    ref, n_ref = e_np(batch)
    got, n_got = e_t(torch.from_numpy(batch))
    assert isinstance(got, torch.Tensor) and isinstance(n_got, torch.Tensor) and n_got.dtype == torch.int64
    np.testing.assert_array_equal(got.numpy(), ref)
    np.testing.assert_array_equal(n_got.numpy(), n_ref)
    # a list of tensors of different lengths, a single clip, NumPy input to the torch extractor
    clips = [noise(9000, 1), noise(3000, 2)]
    ref, n_ref = e_np(clips)
    got, n_got = e_t([torch.from_numpy(c) for c in clips])
    np.testing.assert_array_equal(got.numpy(), ref)
    one, t = e_t(torch.from_numpy(clips[1]))
    assert isinstance(t, int) and t == n_ref[1]
    np.testing.assert_array_equal(one.numpy(), e_np(clips[1])[0])
    np.testing.assert_array_equal(e_t(clips)[0].numpy(), ref)


def test_numpy_extractor_takes_tensors_too():
    x = noise(16000, 4)
    a, _ = afx.Extractor()(torch.from_numpy(x))
    b, _ = afx.Extractor()(x)
    assert isinstance(a, np.ndarray)
    np.testing.assert_array_equal(a, b)
    # requires_grad, int16, float64, float16 and bfloat16 tensors
    np.testing.assert_array_equal(afx.Extractor()(torch.from_numpy(x).requires_grad_())[0], b)
    q = (x * 20000).astype(np.int16)
    np.testing.assert_array_equal(afx.Extractor()(torch.from_numpy(q))[0], afx.Extractor()(q)[0])
    np.testing.assert_array_equal(afx.Extractor()(torch.from_numpy(x).double())[0], b)
    h = torch.from_numpy(x).half()
    np.testing.assert_array_equal(afx.Extractor()(h)[0], afx.Extractor()(h.float().numpy())[0])
    bf = torch.from_numpy(x).bfloat16()
    np.testing.assert_array_equal(afx.Extractor()(bf)[0], afx.Extractor()(bf.float().numpy())[0])
    with pytest.raises(TypeError):
        afx.Extractor()(torch.zeros(100, dtype=torch.int32))


def test_bf16_output_is_a_bfloat16_tensor_of_the_same_bits():
    clips = [noise(9000, 1), noise(2500, 2)]
    bits, _ = afx.Extractor(output_dtype="bf16")(clips)
    t, _ = afx.torch.Extractor(output_dtype="bf16")(clips)
    assert t.dtype == torch.bfloat16 and tuple(t.shape) == bits.shape
    np.testing.assert_array_equal(t.view(torch.int16).numpy().view(np.uint16), bits)
    f32, _ = afx.Extractor()(clips)
    np.testing.assert_allclose(t.float().numpy(), f32, rtol=2 ** -8, atol=0)


def test_host_output_shares_the_numpy_result_memory():
    feats = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = afx.torch.to_tensor(feats)
    feats[0, 0] = 42.0
    assert t[0, 0].item() == 42.0


# ---------------------------------------------------------------------------------------------
# the torchaudio-style CNN input (python/examples/torch_cnn.py) against torchaudio
# ---------------------------------------------------------------------------------------------
def torchaudio_cnn_features(x):
    """The pipeline the example reproduces, computed by torchaudio and torch (float32)."""
    mel = torchaudio.transforms.MelSpectrogram(sample_rate=16000, n_fft=1024, hop_length=512, n_mels=64)
    db = torchaudio.transforms.AmplitudeToDB()(mel(torch.from_numpy(x)))
    return ((db - db.mean()) / db.std()).numpy()  # torch.std: unbiased


def test_cnn_pipeline_equals_torchaudio():
    ext = torch_cnn.cnn_extractor()
    clips = [noise(16000, 1), noise(9600, 2) * 0.1, noise(22400, 3)]
    feats, n_frames = ext(clips)
    assert tuple(feats.shape) == (3, 64, 32) and n_frames.tolist() == [32, 32, 32]
    for i, c in enumerate(clips):
        fixed = np.pad(c, (0, max(16000 - len(c), 0)))[:16000]  # cut or zero-padded to 1 s
        ref = torchaudio_cnn_features(fixed)
        assert ref.shape == (64, 32)
        np.testing.assert_allclose(feats[i].numpy(), ref, rtol=0, atol=2e-4)


def test_cnn_training_masks_change_per_epoch_and_replay():
    ds = torch_cnn.ToneDataset(12)
    collate = afx.torch.Collate(torch_cnn.train_extractor())
    items = [ds[i] for i in (5, 0, 7, 3)]
    a0, _, labels = collate(items)
    assert labels.tolist() == [ds.labels[i] for i in (5, 0, 7, 3)]
    a0_again, _, _ = collate(items)
    torch.testing.assert_close(a0, a0_again, rtol=0, atol=0)
    collate.set_epoch(1)
    a1, _, _ = collate(items)
    assert not torch.equal(a0, a1)
    # masked cells: whole time columns or frequency rows set to 0 (mask_value zero), fewer in total than
    # 2 * 4 frames + 2 * 8 bands of the 64 x 32 matrix
    plain, _, _ = afx.torch.Collate(torch_cnn.cnn_extractor())(items)
    for k in range(4):
        changed = (a1[k] != plain[k])
        assert changed.any() and bool((a1[k][changed] == 0).all())
    # a clip's masks depend on (epoch, dataset index), not on its batch or position
    collate.set_epoch(0)
    alone, _, _ = collate([ds[7]])
    torch.testing.assert_close(alone[0], a0[2], rtol=0, atol=0)
    with pytest.raises(ValueError):
        collate.set_epoch(-1)
    # a NumPy-side afx.Extractor works too (Collate returns tensors either way)
    params = {k: v for k, v in torch_cnn.train_extractor().params.items() if k != "max_samples"}
    np_collate = afx.torch.Collate(afx.Extractor(**params))
    b0, n0, _ = np_collate(items)
    assert isinstance(b0, torch.Tensor) and isinstance(n0, torch.Tensor)
    torch.testing.assert_close(b0, a0, rtol=0, atol=0)


def _epoch_batches(collate, dataset, workers, epoch):
    collate.set_epoch(epoch)
    return [b for b in torch_cnn.loader(dataset, collate, workers, batch_size=4, shuffle=False)]


def test_dataloader_with_two_spawn_workers_equals_one_process():
    dataset = torch_cnn.ToneDataset(12)
    collate = afx.torch.Collate(torch_cnn.train_extractor())
    for epoch in (0, 1):
        local = _epoch_batches(collate, dataset, 0, epoch)
        spawned = _epoch_batches(collate, dataset, 2, epoch)
        assert len(local) == len(spawned) == 3
        for (f0, n0, l0), (f1, n1, l1) in zip(local, spawned):
            torch.testing.assert_close(f1, f0, rtol=0, atol=0)
            assert torch.equal(n0, n1) and torch.equal(l0, l1)
        if epoch == 0:
            first_epoch = local
    assert not torch.equal(first_epoch[0][0], local[0][0])  # epoch 1 masks differ from epoch 0's


# ---------------------------------------------------------------------------------------------
# the TF-style 2 s log-mel pipeline (python/examples/torch_tf_logmel.py)
# ---------------------------------------------------------------------------------------------
def test_tf_pipeline_shapes_and_fixed_length():
    ext = torch_tf_logmel.tf_extractor()
    plain = afx.Extractor(preset="tf", feature="logmel")
    clips = [noise(20800, 1), noise(48000, 2)]
    feats, n_frames = afx.torch.Collate(ext, sr=16000)([(torch.from_numpy(c), i) for i, c in enumerate(clips)])[:2]
    assert tuple(feats.shape) == (2, 1 + (32000 - 1024) // 256, 80) and n_frames.tolist() == [122, 122]
    for i, c in enumerate(clips):
        ref, _ = plain(np.pad(c, (0, max(32000 - len(c), 0)))[:32000])
        np.testing.assert_array_equal(feats[i].numpy(), ref)
    with pytest.raises(ValueError):  # clips at another rate are refused, not silently wrong
        afx.torch.Collate(ext, sr=22050)([(torch.from_numpy(clips[0]), 0)])


# In one process: the spawn workers of the same pipelines are tested above (each spawn costs seconds).
@pytest.mark.parametrize("script, args, expect", [
    ("torch_cnn.py", ["--epochs", "2", "--clips", "24", "--workers", "0"], "epoch 1: loss"),
    ("torch_tf_logmel.py", ["--workers", "0"], "batch (4, 122, 80)"),
])
def test_examples_run(script, args, expect):
    r = subprocess.run([sys.executable, os.path.join(EXAMPLES, script)] + args, capture_output=True, text=True,
                       timeout=300, cwd=REPO)
    assert r.returncode == 0, r.stderr[-3000:]
    assert expect in r.stdout


# ---------------------------------------------------------------------------------------------
# GPU tensors
# ---------------------------------------------------------------------------------------------
class FakeDeviceArray:
    """Stands for a GPU array of another library (CuPy, Numba): only __cuda_array_interface__."""
    __cuda_array_interface__ = {"shape": (100,), "typestr": "<f4", "data": (0, False), "version": 2}


def test_gpu_arrays_are_refused_by_the_host_paths_with_a_clear_error():
    with pytest.raises(TypeError, match="GPU"):
        afx.Extractor()(FakeDeviceArray())
    with pytest.raises(TypeError, match="GPU"):
        afx.Extractor()([FakeDeviceArray()])
    with pytest.raises(TypeError, match="backend='cuda'"):
        afx.torch.Extractor()(FakeDeviceArray())


GPU = afx.cuda_device_count() > 0 and torch.cuda.is_available()
needs_gpu = pytest.mark.skipif(not GPU, reason=f"no usable CUDA device (afx sees {afx.cuda_device_count()}, torch "
                                               f"{'sees one' if torch.cuda.is_available() else 'sees none'})")


@needs_gpu
@pytest.mark.parametrize("kw", [{}, {"preset": "whisper"}, {"feature": "mfcc", "layout": "tf"}, {"pool": "mean"},
                                {"output_dtype": "bf16"}])
def test_gpu_tensors_in_and_out_equal_the_cpu_path(kw):
    cpu = afx.torch.Extractor(**kw)
    gpu = afx.torch.Extractor(backend="cuda", **kw)
    clips = [noise(16000, 1), noise(5000, 2), noise(0, 3)]
    ref, n_ref = cpu(clips)
    got, n_got = gpu([torch.from_numpy(c).cuda() for c in clips])
    assert got.is_cuda and got.dtype == ref.dtype and tuple(got.shape) == tuple(ref.shape)
    assert torch.equal(n_got, n_ref)
    torch.testing.assert_close(got.float().cpu(), ref.float(), rtol=1e-3, atol=1e-3)
    batch = torch.from_numpy(np.stack([noise(8000, i) for i in range(4)])).cuda()
    got, _ = gpu(batch)
    torch.testing.assert_close(got.float().cpu(), cpu(batch.cpu())[0].float(), rtol=1e-3, atol=1e-3)


@needs_gpu
def test_gpu_nan_clip_is_refused_and_marked():
    clips = [torch.from_numpy(noise(8000, 1)).cuda(), torch.full((8000,), float("nan"), device="cuda")]
    with pytest.raises(afx.AfxError):
        afx.torch.Extractor(backend="cuda")(clips)
    f, n = afx.torch.Extractor(backend="cuda", on_error="mark")(clips)
    assert n.tolist()[1] == -1 and not f[1].any()


@needs_gpu
def test_gpu_tensor_on_a_cpu_extractor_is_refused():
    with pytest.raises(TypeError, match="backend='cuda'"):
        afx.torch.Extractor()(torch.zeros(1000, device="cuda"))
