"""Fixtures of the `afx serve` tests: the real server, started the way a user starts it.

Each server is `afx serve --port 0 ...` (the system picks a free loopback port, which the server prints
on its first stdout line); it is stopped with SIGTERM and must then exit 0. The afx binary comes from
AFX_BIN (tests/serve/run.sh sets it to the build's afx).
"""
import io
import os
import pathlib
import re
import signal
import subprocess
import tempfile
import time
import wave

import numpy as np
import pytest
import requests

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "audio"
AFX = os.environ.get("AFX_BIN", str(ROOT / "build" / "afx"))


class Server:
    """One running `afx serve` process."""

    def __init__(self, *args, env=None):
        self.args = [AFX, "serve", "--port", "0", *args]
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=env)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on http://([^ ]+):(\d+) ", line)
        if not m:
            err = self.proc.stderr.read() if self.proc.poll() is not None else ""
            self.proc.kill()
            raise RuntimeError(f"afx serve did not start: {line!r} {err!r}")
        self.port = int(m.group(2))
        self.url = f"http://127.0.0.1:{self.port}"
        self.session = requests.Session()

    def get(self, path, **kw):
        kw.setdefault("timeout", 30)
        return self.session.get(self.url + path, **kw)

    def post(self, path, **kw):
        kw.setdefault("timeout", 60)
        return self.session.post(self.url + path, **kw)

    def alive(self):
        """The process runs and answers its liveness check."""
        return self.proc.poll() is None and requests.get(self.url + "/healthz", timeout=10).status_code == 200

    def rss_kib(self):
        """Resident set size (VmRSS) and its peak (VmHWM) in KiB, from /proc."""
        status = pathlib.Path(f"/proc/{self.proc.pid}/status").read_text()
        get = lambda key: int(re.search(key + r":\s+(\d+) kB", status).group(1))
        return get("VmRSS"), get("VmHWM")

    def metric(self, name, labels=None):
        """Value of one Prometheus sample of /metrics (0 if absent)."""
        text = self.get("/metrics").text
        want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
        for line in text.splitlines():
            if line.startswith(want + " "):
                return float(line.split()[-1])
        return 0.0

    def stop(self, timeout=60):
        """SIGTERM, then the exit status (the test fails if it does not exit in time)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.stdout.close()
            self.proc.stderr.close()
            self.session.close()


@pytest.fixture
def start_server():
    """Factory: start_server(*args) -> Server; every server started is stopped and must exit 0."""
    servers = []

    def start(*args, env=None):
        s = Server(*args, env=env)
        servers.append(s)
        return s

    yield start
    for s in servers:
        if s.proc.poll() is None:
            assert s.stop() == 0, "afx serve did not exit 0 on SIGTERM"


@pytest.fixture(scope="module")
def server():
    """A server shared by a module's tests (2 workers)."""
    s = Server("--workers", "2", "--max-batch", "8")
    yield s
    assert s.stop() == 0, "afx serve did not exit 0 on SIGTERM"


def read_wav_int16(path):
    """(int16 samples [n, channels], rate) of a 16-bit PCM WAV, read with the standard library."""
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return data.reshape(-1, w.getnchannels()), w.getframerate()


def write_wav_int16(path, samples, rate):
    """Writes int16 samples [n] or [n, channels] as a PCM WAV with the standard library."""
    samples = np.asarray(samples, dtype="<i2")
    if samples.ndim == 1:
        samples = samples[:, None]
    with wave.open(path if hasattr(path, "write") else str(path), "wb") as w:
        w.setnchannels(samples.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())


def wav_bytes(samples, rate):
    buf = io.BytesIO()
    write_wav_int16(buf, samples, rate)
    return buf.getvalue()


def noise_int16(seconds, rate=16000, seed=0):
    """Seeded speech-level noise with a tone, as int16."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)
    return np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)


def cli_features(inputs, *options):
    """Features of files computed by the `afx extract` command line: a list of arrays, one per input."""
    with tempfile.TemporaryDirectory() as out:
        r = subprocess.run([AFX, "extract", "-q", *options, *map(str, inputs), "-o", out], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return [np.load(pathlib.Path(out) / (pathlib.Path(i).stem + ".npy")) for i in inputs]


def load_npy(content):
    return np.load(io.BytesIO(content), allow_pickle=False)
