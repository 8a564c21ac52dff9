"""Benchmark of `afx serve` against a Python feature server calling torchaudio (peer_torchaudio.py).

For 1-s and 10-s clips (16 kHz WAV) and 1, 8 and 64 concurrent clients, wrk drives each server in turn
with the same requests for a fixed time, on the same machine, one after the other; wrk reports the
throughput (clips/s) and the latency percentiles. Both servers compute log-mel features with afx's default
parameters; the script first checks that their answers agree (so neither does less work), then prints a
Markdown table.

    python bench/serve/run_bench.py --afx build/afx --python /work/main/.venv-conformance/bin/python \
        [--seconds 10] [--workers N]
The Python must have torch and torchaudio. Not part of CI.
"""
import argparse
import io
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import wave

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
LUA = HERE / "bench.lua"


def wav(seconds, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    x = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.round(x * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def start(cmd, pattern):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    m = re.search(pattern, line)
    if not m:
        p.kill()
        raise RuntimeError(f"{cmd[0]} did not start: {line!r}")
    return p, int(m.group(1))


def post(port, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/features", data=body,
                                 headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return np.load(io.BytesIO(r.read()))


def wrk(port, body_path, connections, seconds):
    env = {**os.environ, "AFX_BODY": str(body_path)}
    threads = min(2, connections)
    r = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "60s", "-s", str(LUA),
                        f"http://127.0.0.1:{port}"], capture_output=True, text=True, env=env, timeout=seconds + 120)
    line = next(l for l in r.stdout.splitlines() if l.startswith("AFXBENCH "))
    res = json.loads(line[len("AFXBENCH "):])
    ok = res["requests"] - res["errors"]
    return {"clips_s": ok / res["seconds"], "p50": res["p50_ms"], "p99": res["p99_ms"], "errors": res["errors"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--afx", default="build/afx")
    ap.add_argument("--python", default=sys.executable, help="a Python with torch and torchaudio, for the peer")
    ap.add_argument("--seconds", type=int, default=10, help="wrk duration per cell")
    ap.add_argument("--workers", type=int, default=0, help="afx serve --workers (0: its default, the online cores)")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()

    afx_cmd = [args.afx, "serve", "--port", "0", "--max-queue", "4096", "--max-batch", "64", "-q"]
    if args.workers:
        afx_cmd += ["--workers", str(args.workers)]
    afx, afx_port = start(afx_cmd, r"127\.0\.0\.1:(\d+) ")
    peer, peer_port = start([args.python, str(HERE / "peer_torchaudio.py"), "--port", "0"], r"127\.0\.0\.1:(\d+)")
    results = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for clip_s in (1, 10):
                body = pathlib.Path(tmp) / f"clip{clip_s}.wav"
                body.write_bytes(wav(clip_s, clip_s))
                a, b = post(afx_port, body.read_bytes()), post(peer_port, body.read_bytes())
                assert a.shape == b.shape, (a.shape, b.shape)
                err = np.abs(a - b)[b > np.log(1e-10) + 1].max()
                print(f"{clip_s}-s clip: afx and the peer agree to {err:.2e} (max abs log-mel difference)", flush=True)
                for conc in (1, 8, 64):
                    row = {"clip_s": clip_s, "clients": conc}
                    for name, port in (("afx", afx_port), ("peer", peer_port)):
                        wrk(port, body, conc, 2)  # warm-up
                        row[name] = wrk(port, body, conc, args.seconds)
                    results.append(row)
                    print(json.dumps(row), flush=True)
    finally:
        for p in (afx, peer):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
    print("\n| clip | clients | afx serve clips/s | peer clips/s | ratio | afx p50 / p99 ms | peer p50 / p99 ms | errors (afx, peer) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        a, b = r["afx"], r["peer"]
        print(f"| {r['clip_s']} s | {r['clients']} | {a['clips_s']:.0f} | {b['clips_s']:.1f} | {a['clips_s'] / b['clips_s']:.1f}x | "
              f"{a['p50']:.1f} / {a['p99']:.1f} | {b['p50']:.1f} / {b['p99']:.1f} | {a['errors']}, {b['errors']} |")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
