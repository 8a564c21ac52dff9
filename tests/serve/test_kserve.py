"""Open Inference Protocol (KServe v2) through the real client: tritonclient.http, unchanged.

The reference is again `afx extract` on a WAV of the same int16 samples: a waveform tensor of
int16 / 32768 (what libsndfile makes of that WAV) must give bit-identical features.
"""
import json

import numpy as np
import pytest
import requests
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from conftest import cli_features, noise_int16, write_wav_int16


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Two clips of different lengths: (int16 samples, WAV path)."""
    d = tmp_path_factory.mktemp("clips")
    out = []
    for i, seconds in enumerate((1.3, 0.55)):
        x = noise_int16(seconds, 16000, seed=20 + i)
        p = d / f"clip{i}.wav"
        write_wav_int16(p, x, 16000)
        out.append((x, p))
    return out


@pytest.fixture(scope="module")
def client(server):
    c = httpclient.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    yield c
    c.close()


def padded_batch(clips):
    n = max(x.size for x, _ in clips)
    wave = np.zeros((len(clips), n), dtype=np.float32)
    for b, (x, _) in enumerate(clips):
        wave[b, :x.size] = x.astype(np.float32) / 32768
    return wave, np.array([x.size for x, _ in clips], dtype=np.int64)


def test_health_and_metadata_through_the_client(client):
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("whisper_logmel")
    assert not client.is_model_ready("no_such_model")
    assert client.get_server_metadata()["name"] == "afx"
    meta = client.get_model_metadata("kaldi_fbank")
    assert [i["name"] for i in meta["inputs"]] == ["waveform", "lengths"]
    assert meta["outputs"][0]["shape"] == [-1, -1, 23]
    cfg = client.get_model_config("kaldi_fbank")
    assert cfg["max_batch_size"] == 8 and cfg["parameters"]["window"] == "povey"
    assert {m["name"] for m in client.get_model_repository_index()} >= {"whisper_logmel", "librosa_mfcc"}


@pytest.mark.parametrize("binary_in", [False, True], ids=["json_in", "binary_in"])
@pytest.mark.parametrize("binary_out", [False, True], ids=["json_out", "binary_out"])
def test_infer_round_trip_equals_cli(client, clips, binary_in, binary_out):
    wave, lengths = padded_batch(clips)
    inputs = [httpclient.InferInput("waveform", list(wave.shape), "FP32"),
              httpclient.InferInput("lengths", list(lengths.shape), "INT64")]
    inputs[0].set_data_from_numpy(wave, binary_data=binary_in)
    inputs[1].set_data_from_numpy(lengths, binary_data=binary_in)
    outputs = [httpclient.InferRequestedOutput("features", binary_data=binary_out),
               httpclient.InferRequestedOutput("n_frames", binary_data=binary_out)]
    res = client.infer("whisper_logmel", inputs, outputs=outputs, request_id="req-1")
    feats, n_frames = res.as_numpy("features"), res.as_numpy("n_frames")
    assert res.get_response()["id"] == "req-1" and res.get_response()["model_name"] == "whisper_logmel"
    want = cli_features([p for _, p in clips], "--preset", "whisper")
    assert feats.dtype == np.float32 and feats.shape == (2, 80, max(w.shape[1] for w in want))
    assert list(n_frames) == [w.shape[1] for w in want]
    for b, w in enumerate(want):
        np.testing.assert_array_equal(feats[b, :, :n_frames[b]], w)
        assert not feats[b, :, n_frames[b]:].any()  # padding frames are zero


def test_infer_int16_tensor_one_clip(client, clips):
    x, path = clips[0]
    inp = httpclient.InferInput("waveform", [1, x.size], "INT16")
    inp.set_data_from_numpy(x[None, :].astype(np.int16), binary_data=True)
    res = client.infer("kaldi_mfcc", [inp], outputs=[httpclient.InferRequestedOutput("features", binary_data=True)])
    # kaldi_mfcc keeps Kaldi's dither 1, keyed by (seed 0, clip index 0): the CLI's first clip
    want = cli_features([path], "--preset", "kaldi", "--feature", "mfcc")[0]
    np.testing.assert_array_equal(res.as_numpy("features")[0], want)
    assert res.as_numpy("n_frames") is None  # not asked for


def test_infer_resamples_from_the_given_rate(client, clips, tmp_path):
    x = noise_int16(1.0, 22050, seed=5)
    p = tmp_path / "c22k.wav"
    write_wav_int16(p, x, 22050)
    inp = httpclient.InferInput("waveform", [1, x.size], "FP32")
    inp.set_data_from_numpy((x.astype(np.float32) / 32768)[None, :], binary_data=True)
    res = client.infer("whisper_logmel", [inp], parameters={"sample_rate": 22050})
    np.testing.assert_array_equal(res.as_numpy("features")[0], cli_features([p], "--preset", "whisper")[0])


def test_infer_errors_through_the_client(client):
    inp = httpclient.InferInput("waveform", [1, 16000], "FP32")
    inp.set_data_from_numpy(np.zeros((1, 16000), np.float32))
    with pytest.raises(InferenceServerException, match="not served"):
        client.infer("no_such_model", [inp])
    bad = httpclient.InferInput("waveform", [9, 100], "FP32")  # max_batch_size is 8
    bad.set_data_from_numpy(np.zeros((9, 100), np.float32))
    with pytest.raises(InferenceServerException, match="max_batch_size"):
        client.infer("whisper_logmel", [bad])


def test_raw_http_binary_extension(server, clips):
    """The binary tensor data extension spelled out by hand, as a non-Triton client would."""
    wave, lengths = padded_batch(clips)
    header = {"inputs": [{"name": "waveform", "shape": list(wave.shape), "datatype": "FP32",
                          "parameters": {"binary_data_size": wave.nbytes}}],
              "outputs": [{"name": "features", "parameters": {"binary_data": True}},
                          {"name": "n_frames"}],
              "parameters": {"sample_rate": 16000}}  # librosa_mel computes at 22.05 kHz: the server resamples
    head = json.dumps(header).encode()
    r = requests.post(server.url + "/v2/models/librosa_mel/infer", data=head + wave.tobytes(),
                      headers={"Inference-Header-Content-Length": str(len(head)),
                               "Content-Type": "application/octet-stream"}, timeout=60)
    assert r.status_code == 200, r.text
    hlen = int(r.headers["Inference-Header-Content-Length"])
    meta = json.loads(r.content[:hlen])
    f, nf = meta["outputs"]
    assert f["datatype"] == "FP32" and nf["data"][0] == nf["data"][1]  # no lengths input: both rows are N samples
    data = np.frombuffer(r.content[hlen:], dtype="<f4")
    assert data.size * 4 == f["parameters"]["binary_data_size"] == len(r.content) - hlen
    feats = data.reshape(f["shape"])
    # the second row is the short clip followed by zeros (no lengths given): compare with that padded clip
    write_path = clips[1][1].with_name("padded.wav")
    write_wav_int16(write_path, np.round(wave[1] * 32768).astype(np.int16), 16000)
    want = cli_features([clips[0][1], write_path], "--preset", "librosa", "--feature", "mel")
    assert nf["data"] == [w.shape[1] for w in want]
    for b in range(2):
        np.testing.assert_array_equal(feats[b], want[b])
