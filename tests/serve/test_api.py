"""The simple API and the service endpoints of `afx serve`, against the `afx extract` command line.

Features from the server must be bit-identical to those `afx extract` writes for the same file and
options: both decode with libsndfile, resample with soxr and run the same CPU backend, and a request's
result must not depend on what it was batched with.
"""
import concurrent.futures
import json

import numpy as np
import pytest

from conftest import (EXAMPLES, cli_features, load_npy, noise_int16, read_wav_int16, wav_bytes,
                      write_wav_int16)

SPEECH = EXAMPLES / "tts_espeak-ng_en-us.wav"      # 22.05 kHz int16 mono
PHONE = EXAMPLES / "ast_demo-thanks.wav"          # 8 kHz int16 mono
FLAC = EXAMPLES / "spi_loop_amen.flac"
OGG = EXAMPLES / "fdo_dialog-information.oga"

# (query parameters, the same settings as afx extract options)
CONFIGS = [
    ({"preset": "whisper"}, ["--preset", "whisper"]),
    ({"preset": "kaldi", "feature": "mfcc", "dither": "0"}, ["--preset", "kaldi", "--feature", "mfcc", "--dither", "0"]),
    ({"preset": "librosa", "feature": "mel", "n_mels": "64", "layout": "tf"},
     ["--preset", "librosa", "--feature", "mel", "--n-mels", "64", "--layout", "tf"]),
    ({"feature": "db", "pooling": "meanstd"}, ["--feature", "db", "--pool", "meanstd"]),
    ({"preset": "torchaudio", "feature": "spectrogram", "power": "1"},
     ["--preset", "torchaudio", "--feature", "spectrogram", "--power", "1"]),
    # randomness: Kaldi's dither 1 and SpecAugment masks, keyed by (seed, clip index 0)
    ({"preset": "kaldi", "dither_seed": "7", "mask_seed": "7", "n_time_masks": "2", "time_mask_param": "20"},
     ["--preset", "kaldi", "--seed", "7", "--time-masks", "2", "--time-mask-param", "20"]),
]


@pytest.mark.parametrize("query,options", CONFIGS, ids=lambda c: ",".join(c) if isinstance(c, list) else None)
@pytest.mark.parametrize("path", [SPEECH, FLAC, OGG], ids=lambda p: p.name)
def test_features_equal_cli(server, path, query, options):
    r = server.post("/v1/features", params=query, data=path.read_bytes(),
                    headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/x-npy"
    got = load_npy(r.content)
    want = cli_features([path], *options)[0]
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    if got.ndim == 2:
        frames = got.shape[0] if query.get("layout") == "tf" or query.get("preset") == "kaldi" else got.shape[1]
        assert int(r.headers["X-Afx-Frames"]) == frames


def test_json_format_and_accept_header(server):
    data = SPEECH.read_bytes()
    want = cli_features([SPEECH], "--preset", "whisper")[0]
    for kw in ({"params": {"preset": "whisper", "format": "json"}},
               {"params": {"preset": "whisper"}, "headers": {"Accept": "application/json"}}):
        r = server.post("/v1/features", data=data, **kw)
        assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
        j = r.json()
        assert j["shape"] == list(want.shape) and j["dtype"] == "float32" and j["n_frames"] == want.shape[1]
        assert j["n_features"] == 80 and j["sample_rate"] == 16000 and j["layout"] == "ft"
        # 9 significant digits print every float32 exactly
        np.testing.assert_array_equal(np.array(j["features"], dtype=np.float32), want)


def test_float16_output(server):
    r = server.post("/v1/features", params={"preset": "whisper", "output_dtype": "f16"}, data=SPEECH.read_bytes())
    assert r.status_code == 200
    got = load_npy(r.content)
    want = cli_features([SPEECH], "--preset", "whisper")[0]
    assert got.dtype == np.float16
    # round to nearest even, as numpy's float32 -> float16 conversion does
    np.testing.assert_array_equal(got, want.astype(np.float16))


def test_multipart_with_json_part_and_fields(server):
    want = cli_features([SPEECH], "--preset", "librosa", "--feature", "mfcc", "--n-mfcc", "13")[0]
    files = {"audio": ("speech.wav", SPEECH.read_bytes(), "audio/wav"),
             "params": (None, json.dumps({"preset": "librosa", "feature": "mfcc"}), "application/json")}
    r = server.post("/v1/features", files=files, data={"n_mfcc": "13"})
    assert r.status_code == 200, r.text
    np.testing.assert_array_equal(load_npy(r.content), want)
    # a JSON part with numbers and booleans
    files["params"] = (None, json.dumps({"preset": "librosa", "feature": "mfcc", "n_mfcc": 13, "center": True}))
    r = server.post("/v1/features", files=files)
    assert r.status_code == 200, r.text
    np.testing.assert_array_equal(load_npy(r.content), want)


def test_raw_pcm_equals_the_file(server, tmp_path):
    pcm, rate = read_wav_int16(SPEECH)
    mono = pcm[:, 0]
    want = cli_features([SPEECH], "--preset", "whisper")[0]
    q = {"preset": "whisper"}
    cases = [
        (f"audio/L16; rate={rate}", mono.astype(">i2").tobytes()),                       # RFC 2586 big-endian
        (f"audio/x-raw; format=S16LE; rate={rate}", mono.astype("<i2").tobytes()),
        (f"audio/x-raw; format=F32LE; rate={rate}", (mono.astype(np.float32) / 32768).astype("<f4").tobytes()),
        # two identical channels average to the same mono signal
        (f"audio/L16; rate={rate}; channels=2", np.repeat(mono, 2).astype(">i2").tobytes()),
    ]
    for ctype, body in cases:
        r = server.post("/v1/features", params=q, data=body, headers={"Content-Type": ctype})
        assert r.status_code == 200, (ctype, r.text)
        np.testing.assert_array_equal(load_npy(r.content), want, err_msg=ctype)
        assert int(r.headers["X-Afx-Samples"]) == int(np.ceil(mono.size * 16000 / rate))


def test_stereo_file_downmixed(server, tmp_path):
    x = noise_int16(1.5, 16000, seed=3)
    y = noise_int16(1.5, 16000, seed=4)
    stereo = tmp_path / "stereo.wav"
    write_wav_int16(stereo, np.stack([x, y], axis=1), 16000)
    want = cli_features([stereo])[0]
    r = server.post("/v1/features", data=stereo.read_bytes())
    assert r.status_code == 200
    np.testing.assert_array_equal(load_npy(r.content), want)


def test_first_clip_index_keys_randomness_like_the_cli(server, tmp_path):
    paths = []
    for i in range(3):
        p = tmp_path / f"clip{i}.wav"
        write_wav_int16(p, noise_int16(1.0, seed=10 + i), 16000)
        paths.append(p)
    opts = ["--seed", "11", "--time-masks", "2", "--time-mask-param", "15", "--freq-masks", "1", "--freq-mask-param", "8"]
    want = cli_features(paths, *opts)  # clip i has global index i
    q = {"mask_seed": "11", "dither_seed": "11", "n_time_masks": "2", "time_mask_param": "15", "n_freq_masks": "1",
         "freq_mask_param": "8"}
    for i, p in enumerate(paths):
        r = server.post("/v1/features", params={**q, "first_clip_index": str(i)}, data=p.read_bytes())
        assert r.status_code == 200
        np.testing.assert_array_equal(load_npy(r.content), want[i])
    # another index gives other masks
    r = server.post("/v1/features", params={**q, "first_clip_index": "1"}, data=paths[0].read_bytes())
    assert not np.array_equal(load_npy(r.content), want[0])


def test_models_file(start_server, tmp_path):
    cfg = tmp_path / "models.json"
    cfg.write_text(json.dumps({"models": [
        {"name": "asr_fbank", "preset": "kaldi", "feature": "logmel", "parameters": {"dither": 0, "n_mels": 40},
         "description": "40-band fbank"},
        {"name": "whisper_logmel", "preset": "whisper", "parameters": {"n_mels": 128}},  # replaces the built-in one
    ]}))
    s = start_server("--models", str(cfg), "--workers", "1")
    data = SPEECH.read_bytes()
    r = s.post("/v1/features", params={"model": "asr_fbank"}, data=data)
    assert r.status_code == 200
    np.testing.assert_array_equal(load_npy(r.content),
                                  cli_features([SPEECH], "--preset", "kaldi", "--dither", "0", "--n-mels", "40")[0])
    r = s.post("/v1/features", params={"model": "whisper_logmel"}, data=data)
    np.testing.assert_array_equal(load_npy(r.content), cli_features([SPEECH], "--preset", "whisper", "--n-mels", "128")[0])
    names = [m["name"] for m in s.post("/v2/repository/index").json()]
    assert "asr_fbank" in names and names.count("whisper_logmel") == 1
    meta = s.get("/v2/models/asr_fbank").json()
    assert meta["outputs"][0]["shape"] == [-1, -1, 40]  # kaldi layout: [batch, frames, features]
    cfgj = s.get("/v2/models/asr_fbank/config").json()
    assert cfgj["parameters"]["n_mels"] == "40" and cfgj["parameters"]["dither"] == "0"


@pytest.mark.parametrize("bad,needle", [
    ({"models": [{"name": "x", "parameters": {"n_fft": 0}}]}, "n_fft"),
    ({"models": [{"name": "bad/name"}]}, "name"),
    ({"models": [{"name": "x", "parameters": {"backend": "cuda"}}]}, "backend"),
    ({"models": [{"name": "x", "preset": "nope"}]}, "preset"),
    ({"modelz": []}, "models"),
])
def test_models_file_errors_stop_start_up(tmp_path, bad, needle):
    import subprocess
    from conftest import AFX
    cfg = tmp_path / "models.json"
    cfg.write_text(json.dumps(bad))
    r = subprocess.run([AFX, "serve", "--port", "0", "--models", str(cfg)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and needle in r.stderr and str(cfg) in r.stderr


def test_batched_requests_equal_single_ones(start_server, tmp_path):
    """Requests batched together (one worker, a long batching window) get what they get alone."""
    s = start_server("--workers", "1", "--max-batch", "16", "--max-queue-delay-us", "200000")
    bodies = [wav_bytes(noise_int16(0.3 + 0.17 * i, seed=i), 16000) for i in range(12)]
    alone = []
    for b in bodies:  # sequential: each one is its own batch
        r = s.post("/v1/features", params={"preset": "whisper"}, data=b)
        assert r.status_code == 200
        alone.append(load_npy(r.content))
    batches_before = s.metric("afx_batches_total")
    with concurrent.futures.ThreadPoolExecutor(len(bodies)) as ex:
        futs = [ex.submit(lambda b: __import__("requests").post(s.url + "/v1/features", params={"preset": "whisper"},
                                                                 data=b, timeout=60), b) for b in bodies]
        together = [f.result() for f in futs]
    for r, want in zip(together, alone):
        assert r.status_code == 200
        np.testing.assert_array_equal(load_npy(r.content), want)
    batches = s.metric("afx_batches_total") - batches_before
    assert batches < len(bodies), "no two requests were batched"


def test_mixed_parameters_never_share_a_batch(start_server):
    s = start_server("--workers", "1", "--max-batch", "16", "--max-queue-delay-us", "100000")
    body = wav_bytes(noise_int16(1.0, seed=1), 16000)
    queries = [{"n_mels": str(40 + 8 * (i % 3))} for i in range(9)]
    alone = [load_npy(s.post("/v1/features", params=q, data=body).content) for q in queries]
    with concurrent.futures.ThreadPoolExecutor(9) as ex:
        res = list(ex.map(lambda q: __import__("requests").post(s.url + "/v1/features", params=q, data=body, timeout=60),
                          queries))
    for r, want, q in zip(res, alone, queries):
        assert r.status_code == 200
        got = load_npy(r.content)
        assert got.shape[0] == int(q["n_mels"])
        np.testing.assert_array_equal(got, want)


def test_presets_endpoint(server):
    j = server.get("/v1/presets").json()
    assert set(j["presets"]) == {"librosa", "torchaudio", "kaldi", "whisper", "tf"}
    assert "db" not in j["presets"]["kaldi"] and set(j["presets"]["whisper"]) == {"spectrogram", "mel", "logmel"}
    assert j["presets"]["whisper"]["logmel"]["n_fft"] == "400" and j["presets"]["librosa"]["mel"]["sample_rate"] == "22050"
    assert "n_mels" in j["parameters"] and "backend" not in j["parameters"]
    assert "whisper_logmel" in j["models"] and "kaldi_fbank" in j["models"]
    assert j["server"]["max_batch"] == 8


def test_health_ready_and_metrics(server):
    assert server.get("/healthz").json() == {"status": "live"}
    assert server.get("/readyz").json() == {"status": "ready"}
    assert server.get("/v2/health/live").status_code == 200
    assert server.get("/v2/health/ready").status_code == 200
    assert server.session.head(server.url + "/healthz").status_code == 200
    ok_before = server.metric("afx_requests_total", {"endpoint": "features", "code": "200"})
    audio_before = server.metric("afx_audio_seconds_total")
    pcm, rate = read_wav_int16(PHONE)
    r = server.post("/v1/features", data=PHONE.read_bytes())
    assert r.status_code == 200
    assert server.post("/v1/features", params={"n_fft": "0"}, data=PHONE.read_bytes()).status_code == 400
    text = server.get("/metrics").text
    assert server.get("/metrics").headers["Content-Type"].startswith("text/plain; version=0.0.4")
    for name in ("afx_requests_total", "afx_request_duration_seconds_bucket", "afx_queue_depth", "afx_batch_size_bucket",
                 "afx_audio_seconds_total", "afx_inflight_requests", "afx_queue_capacity"):
        assert name in text
    assert server.metric("afx_requests_total", {"endpoint": "features", "code": "200"}) == ok_before + 1
    assert server.metric("afx_requests_total", {"endpoint": "features", "code": "400"}) >= 1
    # the clip was resampled to 16 kHz: its length in seconds is what was computed
    assert server.metric("afx_audio_seconds_total") - audio_before == pytest.approx(pcm.shape[0] / rate, abs=1e-3)
    assert server.metric("afx_request_duration_seconds_count", {"endpoint": "features"}) >= 2


def test_v2_server_metadata_and_models(server):
    meta = server.get("/v2").json()
    assert meta["name"] == "afx" and "binary_tensor_data" in meta["extensions"]
    index = server.post("/v2/repository/index").json()
    names = {m["name"] for m in index}
    expected = {"librosa_" + f for f in ("spectrogram", "mel", "logmel", "db", "mfcc")}
    expected |= {"torchaudio_" + f for f in ("spectrogram", "mel", "logmel", "db", "mfcc")}
    expected |= {"kaldi_" + f for f in ("spectrogram", "mel", "logmel", "mfcc")} | {"kaldi_fbank"}
    expected |= {"whisper_" + f for f in ("spectrogram", "mel", "logmel")}
    expected |= {"tf_" + f for f in ("spectrogram", "mel", "logmel", "mfcc")}
    assert names == expected
    m = server.get("/v2/models/whisper_logmel").json()
    assert m["inputs"][0] == {"name": "waveform", "datatype": "FP32", "shape": [-1, -1]}
    assert m["outputs"][0] == {"name": "features", "datatype": "FP32", "shape": [-1, 80, -1]}
    assert server.get("/v2/models/whisper_logmel/versions/1").status_code == 200
    assert server.get("/v2/models/whisper_logmel/ready").status_code == 200
    c = server.get("/v2/models/librosa_mfcc/config").json()
    assert c["max_batch_size"] == 8 and c["output"][0]["dims"] == [20, -1]
    assert c["parameters"]["sample_rate"] == "22050" and "max_queue_delay_microseconds" in c["dynamic_batching"]
