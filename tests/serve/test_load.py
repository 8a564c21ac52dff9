"""Bounded load test: wrk (a second process, loopback only, stops by itself) against the real server.

Every 200 response must be byte-identical to the features of the clip computed alone; there must be
no other status, no socket error, and the server's memory must stay bounded. Then an overloaded
server (one worker, a 4-clip queue, 64 connections) must answer 429, never fail.
"""
import json
import os
import pathlib
import shutil
import subprocess

import pytest

from conftest import noise_int16, wav_bytes

LUA = pathlib.Path(__file__).with_name("load.lua")
pytestmark = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)")


def run_wrk(url, body, expect, connections, seconds, query=""):
    env = {**os.environ, "AFX_BODY": str(body), "AFX_EXPECT": str(expect) if expect else "", "AFX_QUERY": query}
    r = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "20s", "-s", str(LUA), url],
                       capture_output=True, text=True, env=env, timeout=seconds + 40)
    assert r.returncode == 0, r.stderr
    line = next(l for l in r.stdout.splitlines() if l.startswith("AFXLOAD "))
    return json.loads(line[len("AFXLOAD "):])


def test_load_zero_errors_exact_results_bounded_memory(start_server, tmp_path):
    s = start_server("--workers", "2", "--max-batch", "16", "--max-queue", "256")
    body = tmp_path / "clip.wav"
    body.write_bytes(wav_bytes(noise_int16(1.0, seed=9), 16000))
    query = "preset=whisper"
    expect = tmp_path / "expect.npy"
    r = s.post("/v1/features?" + query, data=body.read_bytes())
    assert r.status_code == 200
    expect.write_bytes(r.content)

    first = run_wrk(s.url, body, expect, connections=16, seconds=6, query=query)
    rss1, _ = s.rss_kib()
    second = run_wrk(s.url, body, expect, connections=16, seconds=6, query=query)
    rss2, peak = s.rss_kib()
    for res in (first, second):
        assert res["requests"] > 100, res
        assert res["ok"] == res["requests"], res  # every response 200 and exactly the expected features
        assert res["wrong"] == res["other"] == res["throttled"] == 0, res
        assert res["connect"] == res["read"] == res["write"] == res["timeout"] == 0, res
    print(f"\nload: {first['requests'] / first['seconds']:.0f} and {second['requests'] / second['seconds']:.0f} "
          f"clips/s, p99 {second['p99_ms']:.1f} ms, RSS {rss1 // 1024} -> {rss2 // 1024} MiB, peak {peak // 1024} MiB")
    assert peak < 512 * 1024, f"peak RSS {peak} KiB"
    assert rss2 < rss1 + 32 * 1024, f"RSS grew from {rss1} to {rss2} KiB over a second identical round"
    assert s.alive()


def test_overload_answers_429_not_failures(start_server, tmp_path):
    s = start_server("--workers", "1", "--max-batch", "4", "--max-queue", "4")
    body = tmp_path / "clip.wav"
    body.write_bytes(wav_bytes(noise_int16(5.0, seed=10), 16000))
    expect = tmp_path / "expect.npy"
    expect.write_bytes(s.post("/v1/features", data=body.read_bytes()).content)
    res = run_wrk(s.url, body, expect, connections=64, seconds=5)
    assert res["throttled"] > 0 and res["ok"] > 0, res
    assert res["wrong"] == res["other"] == 0, res
    assert res["connect"] == res["read"] == res["write"] == res["timeout"] == 0, res
    assert s.alive()
