"""Corpus benchmark: `afx extract` vs a librosa multiprocessing pool vs torchaudio, same machine, same run.

Corpus: N clips (default 2,000) of 4 s, 44.1 kHz, stereo 16-bit WAV (tones, chirps and noise), in a
nested folder tree, plus one 20-minute clip. Every tool decodes, downmixes, resamples and computes:

  task A  22.05 kHz MFCC-40 mean-pooled over time (librosa's conventions: n_fft 2048, hop 512, 128 Slaney
          mels, power_to_db with top_db 80, orthonormal DCT): afx --preset librosa --feature mfcc --n-mfcc 40
          --pool mean --format table; librosa.load(sr=22050) + feature.mfcc(n_mfcc=40).mean(axis=1);
          torchaudio.load + functional.resample + transforms.MFCC(same settings).
  task B  16 kHz 80-band log-mel written as one .npy per clip (n_fft 512, win 400, hop 160, HTK mels,
          ln(max(mel, 1e-10))): afx defaults; librosa melspectrogram(htk=True, norm=None, pad_mode="reflect");
          torchaudio transforms.MelSpectrogram.
  long    task B on the 20-minute clip: afx (all jobs) vs torchaudio (one process, all intra-op threads).

The peers run in a multiprocessing pool of --jobs processes (one BLAS / torch thread each, the usual way to
use every core); afx runs with --jobs. Wall time of each whole task includes process start, decoding,
resampling and writing. Agreement: task A's afx table against librosa's vectors (relative L2 per clip,
worst reported, must be <= 1e-5); task B's mel power against librosa's (relative L2, informational: the
peers resample with soxr (librosa) and a sinc filter (torchaudio), afx with soxr like librosa).
"""
import argparse
import json
import math
import multiprocessing as mp
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import wave

import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--afx", required=True)
ap.add_argument("--clips", type=int, default=2000)
ap.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
ap.add_argument("--long-minutes", type=float, default=20.0)
ap.add_argument("--update-readme", action="store_true", help="write the table into README.md")
ap.add_argument("--keep", action="store_true", help="keep the generated corpus and outputs")
ap.add_argument("--repeat", type=int, default=2, help="time every task this many times, keep the fastest")
ap.add_argument("--note", default="", help="words about the afx build, added to the table's heading")
args = ap.parse_args()
SEC, RATE = 4.0, 44100


def write_wav(path, rng, seconds):
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    f0 = rng.uniform(80, 2000)
    left = 0.3 * np.sin(2 * np.pi * f0 * t * (1 + 0.2 * t / seconds)) + 0.05 * rng.standard_normal(n)
    right = 0.2 * np.sin(2 * np.pi * 1.5 * f0 * t) + 0.05 * rng.standard_normal(n)
    x = np.clip(np.stack([left, right], 1), -1, 1)
    with wave.open(path, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((x * 32767).astype("<i2").tobytes())


# --- peers (run in pool workers) ---------------------------------------------------------------------
def init_worker():
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


def librosa_a(path):
    import librosa

    y, _ = librosa.load(path, sr=22050)
    return librosa.feature.mfcc(y=y, sr=22050, n_mfcc=40).mean(axis=1).astype(np.float32)


def librosa_b(job):
    import librosa

    path, out = job
    y, _ = librosa.load(path, sr=16000)
    m = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=512, win_length=400, hop_length=160, n_mels=80,
                                       htk=True, norm=None, pad_mode="reflect")
    np.save(out, np.log(np.maximum(m, 1e-10)).astype(np.float32))


_ta = {}


def torch_transforms():
    if not _ta:
        import torchaudio.transforms as T

        _ta["mfcc"] = T.MFCC(sample_rate=22050, n_mfcc=40, log_mels=False,
                             melkwargs=dict(n_fft=2048, hop_length=512, n_mels=128, mel_scale="slaney", norm="slaney",
                                            pad_mode="constant"))
        _ta["mel"] = T.MelSpectrogram(sample_rate=16000, n_fft=512, win_length=400, hop_length=160, n_mels=80)
    return _ta


def torch_a(path):
    import torchaudio

    x, sr = torchaudio.load(path)
    x = torchaudio.functional.resample(x.mean(0), sr, 22050)
    return torch_transforms()["mfcc"](x).mean(-1).numpy()


def torch_b(job):
    import torch
    import torchaudio

    path, out = job
    x, sr = torchaudio.load(path)
    x = torchaudio.functional.resample(x.mean(0), sr, 16000)
    np.save(out, torch.log(torch.clamp(torch_transforms()["mel"](x), min=1e-10)).numpy())


def timed_pool(fn, items):
    best, res = float("inf"), None
    for _ in range(args.repeat):
        t = time.perf_counter()
        with mp.get_context("fork").Pool(args.jobs, initializer=init_worker) as pool:
            res = pool.map(fn, items, chunksize=8)
        best = min(best, time.perf_counter() - t)
    return best, res


def timed_afx(*a, out):
    """Fastest of --repeat runs of `afx extract ... -o out` (a fresh folder each time, so nothing is skipped;
    the last run's outputs stay in `out`)."""
    best = float("inf")
    for _ in range(args.repeat):
        shutil.rmtree(out, ignore_errors=True)
        t = time.perf_counter()
        r = subprocess.run([args.afx, "extract", "-q", "--jobs", str(args.jobs), *a, "-o", out], capture_output=True,
                           text=True)
        if r.returncode != 0:
            sys.exit(f"afx failed: {r.stderr}")
        best = min(best, time.perf_counter() - t)
    return best


def rel_l2(a, b):
    return float(np.linalg.norm(a.astype(np.float64) - b) / max(np.linalg.norm(b.astype(np.float64)), 1e-30))


def main():
    import librosa
    import torch
    import torchaudio

    tmp = tempfile.mkdtemp(prefix="afx_bench_corpus_")
    try:
        corpus = os.path.join(tmp, "corpus")
        rng = np.random.default_rng(2026)
        paths = []
        for k in range(args.clips):
            d = os.path.join(corpus, f"g{k % 10}", f"s{k % 7}")
            os.makedirs(d, exist_ok=True)
            p = os.path.join(d, f"clip{k:05d}.wav")
            write_wav(p, rng, SEC)
            paths.append(p)
        paths.sort()  # afx's order: byte order of the relative paths
        long_dir = os.path.join(tmp, "long")
        os.makedirs(long_dir)
        long_path = os.path.join(long_dir, "long.wav")
        write_wav(long_path, rng, args.long_minutes * 60)
        os.sync()  # the generated files are written back before anything is timed
        for p in paths + [long_path]:  # page cache warm for every tool alike
            with open(p, "rb") as f:
                while f.read(1 << 22):
                    pass
        hours = args.clips * SEC / 3600

        # Task A
        t_afx_a = timed_afx("--preset", "librosa", "--feature", "mfcc", "--n-mfcc", "40", "--sample-rate", "22050",
                            "--pool", "mean", "--format", "table", corpus, out=os.path.join(tmp, "afx_a"))
        table = np.load(os.path.join(tmp, "afx_a", "table.npy"))
        t_lib_a, lib_a = timed_pool(librosa_a, paths)
        t_tor_a, tor_a = timed_pool(torch_a, paths)
        err_a = max(rel_l2(table[i], lib_a[i]) for i in range(len(paths)))
        err_a_torch = max(rel_l2(np.asarray(tor_a[i]), lib_a[i]) for i in range(len(paths)))

        # Task B
        t_afx_b = timed_afx(corpus, out=os.path.join(tmp, "afx_b"))
        for name in ("lib_b", "tor_b"):
            os.makedirs(os.path.join(tmp, name), exist_ok=True)
        jobs_lib = [(p, os.path.join(tmp, "lib_b", f"{i}.npy")) for i, p in enumerate(paths)]
        jobs_tor = [(p, os.path.join(tmp, "tor_b", f"{i}.npy")) for i, p in enumerate(paths)]
        t_lib_b, _ = timed_pool(librosa_b, jobs_lib)
        t_tor_b, _ = timed_pool(torch_b, jobs_tor)
        err_b = 0.0
        for i, p in enumerate(paths[:200]):
            rel = os.path.splitext(os.path.relpath(p, corpus))[0]
            a = np.load(os.path.join(tmp, "afx_b", rel + ".npy"))
            b = np.load(jobs_lib[i][1])
            err_b = max(err_b, rel_l2(np.exp(a.astype(np.float64)), np.exp(b.astype(np.float64))))

        # One long clip, task B
        t_afx_long = timed_afx(long_path, out=os.path.join(tmp, "afx_long"))
        torch.set_num_threads(args.jobs)
        t_tor_long = float("inf")
        for _ in range(args.repeat):
            t = time.perf_counter()
            torch_b((long_path, os.path.join(tmp, "tor_long.npy")))
            t_tor_long = min(t_tor_long, time.perf_counter() - t)

        afx_version = subprocess.run([args.afx, "--version"], capture_output=True, text=True).stdout.strip()
        cpu = "?"
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        load = os.getloadavg()[1]
        build = f", {args.note}" if args.note else ""
        head = (f"Measured by `bench/corpus/run --clips {args.clips}` (afx {afx_version}, CPU backend{build}) on {cpu}, "
                f"{args.jobs} cores (load average {load:.1f} over the last 5 minutes of the run), Python "
                f"{platform.python_version()}: librosa {librosa.__version__} with NumPy "
                f"{np.__version__} ({np.__file__.split('/numpy/')[0]}), torch {torch.__version__} / torchaudio "
                f"{torchaudio.__version__}; {args.clips} clips of 4 s, 44.1 kHz stereo WAV ({hours:.2f} h), each "
                f"tool with {args.jobs} processes (peers: a multiprocessing pool, one thread each) or threads (afx "
                f"--jobs); wall time of the whole task, decode and resample included, the fastest of {args.repeat} runs.")
        rows = [
            ("A: 22.05 kHz MFCC-40, mean-pooled", t_afx_a, t_lib_a, t_tor_a,
             f"afx vs librosa: worst relative L2 {err_a:.1e} (torchaudio vs librosa: {err_a_torch:.1e}, its own resampler)"),
            ("B: 16 kHz log-mel 80 to .npy files", t_afx_b, t_lib_b, t_tor_b,
             f"mel power afx vs librosa: worst relative L2 {err_b:.1e} (first 200 clips)"),
        ]
        lines = [head, "",
                 "| task | afx | librosa pool | torchaudio pool | afx / librosa | afx / torchaudio | outputs |",
                 "|---|---|---|---|---|---|---|"]
        for name, a, l, t_, note in rows:
            lines.append(f"| {name} | {args.clips / a:.0f} clips/s | {args.clips / l:.0f} clips/s | "
                         f"{args.clips / t_:.0f} clips/s | {l / a:.2f}x | {t_ / a:.2f}x | {note} |")
        lines.append(f"| one {args.long_minutes:g}-min clip, task B | {t_afx_long:.2f} s | - | {t_tor_long:.2f} s "
                     f"({args.jobs} threads) | - | {t_tor_long / t_afx_long:.2f}x | |")
        text = "\n".join(lines)
        print(text)
        ok = err_a <= 1e-5
        print(f"\ntask A agreement with librosa (<= 1e-5): {'ok' if ok else 'FAILED'}")
        with open(os.path.join(os.path.dirname(__file__), "last.md"), "w") as f:
            f.write(text + "\n")
        if args.update_readme:
            readme = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")
            s = open(readme).read()
            s2 = re.sub(r"(<!-- bench-corpus:begin -->\n).*?(<!-- bench-corpus:end -->)",
                        lambda m: m.group(1) + text + "\n" + m.group(2), s, flags=re.S)
            open(readme, "w").write(s2)
        return 0 if ok else 1
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
