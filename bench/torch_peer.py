#!/usr/bin/env python3
"""The afx speech pipeline in PyTorch on the same GPU: the peer that bench_gpu is compared with.

torch.stft (n_fft 512, win 400 periodic Hann, hop 160, center, reflect) -> |X|^2 -> mel matmul (80 HTK
mels, no norm: torchaudio.functional.melscale_fbanks when torchaudio imports, else the same matrix built in
numpy from torchaudio's formula) -> log(max(mel, 1e-10)), for a batch of 256 ten-second 16 kHz clips.

Measured like bench_gpu (median of --repeat runs after a warm-up, CUDA events):
  device-resident: float32 audio already on the GPU -> log-mel on the GPU;
  host-to-host:    int16 audio in pinned host memory -> GPU -> float -> log-mel -> host float32.

The last line is machine-readable:
  torch_peer_result status=ok torch_hours_per_s=... torch_ms=... torch_h2h_hours_per_s=... ...
When torch or a CUDA device is missing it prints "torch with CUDA not available (<why>)" and a
status=unavailable line, and exits 0: the peer is optional, its absence is reported, not an error.
"""
import argparse
import math
import sys
import time


def unavailable(why):
    print(f"torch_peer: torch with CUDA not available ({why})")
    print(f"torch_peer_result status=unavailable reason={why.replace(' ', '_')}")
    sys.exit(0)


def htk_mel_fbanks_numpy(n_freqs, f_min, f_max, n_mels, sample_rate):
    """torchaudio.functional.melscale_fbanks(norm=None, mel_scale='htk') in numpy: (n_freqs, n_mels)."""
    import numpy as np

    all_freqs = np.linspace(0, sample_rate // 2, n_freqs)
    m_min = 2595.0 * math.log10(1.0 + f_min / 700.0)
    m_max = 2595.0 * math.log10(1.0 + f_max / 700.0)
    m_pts = np.linspace(m_min, m_max, n_mels + 2)
    f_pts = 700.0 * (10.0 ** (m_pts / 2595.0) - 1.0)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts[None, :] - all_freqs[:, None]
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return np.maximum(0.0, np.minimum(down, up)).astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=256)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--device", default="cuda", help="cuda (default); cpu only to smoke-test this script")
    args = ap.parse_args()

    try:
        import torch
    except Exception as e:  # ImportError, or a broken install
        unavailable(f"import torch failed: {type(e).__name__}")
    if args.device == "cuda" and not torch.cuda.is_available():
        unavailable("torch.cuda.is_available() is False")
    dev = torch.device(args.device)

    sr, n_fft, win, hop, n_mels = 16000, 512, 400, 160, 80
    n = int(round(args.seconds * sr))
    n_freqs = n_fft // 2 + 1
    try:
        import torchaudio

        fb = torchaudio.functional.melscale_fbanks(n_freqs, 0.0, sr / 2.0, n_mels, sr, norm=None, mel_scale="htk")
        mel_source = f"torchaudio-{torchaudio.__version__}"
    except Exception:
        import numpy as np

        fb = torch.from_numpy(np.ascontiguousarray(htk_mel_fbanks_numpy(n_freqs, 0.0, sr / 2.0, n_mels, sr)))
        mel_source = "numpy-htk"
    mel_t = fb.T.contiguous().to(dev)  # (n_mels, n_freqs)
    window = torch.hann_window(win, periodic=True, device=dev)

    # Synthetic audio like bench_gpu's: three sines under an envelope plus noise (seeded).
    g = torch.Generator().manual_seed(0)
    t = torch.arange(n, dtype=torch.float64) / sr
    f = 80.0 + 3500.0 * torch.rand(args.clips, 3, generator=g, dtype=torch.float64)
    a = 0.05 + 0.2 * torch.rand(args.clips, 3, generator=g, dtype=torch.float64)
    env = 0.5 + 3.0 * torch.rand(args.clips, 1, generator=g, dtype=torch.float64)
    x = torch.zeros(args.clips, n, dtype=torch.float64)
    for k in range(3):
        x += a[:, k : k + 1] * torch.sin(2 * math.pi * f[:, k : k + 1] * t[None, :])
    x *= 0.6 + 0.4 * torch.sin(2 * math.pi * env * t[None, :])
    x += 0.02 * (2 * torch.rand(args.clips, n, generator=g, dtype=torch.float64) - 1)
    x = x.clamp(-1, 1).to(torch.float32)
    x16 = (x * 32767).round().to(torch.int16)
    if dev.type == "cuda":
        x16 = x16.pin_memory()
    x_dev = x.to(dev)

    def logmel(audio):
        spec = torch.stft(audio, n_fft=n_fft, hop_length=hop, win_length=win, window=window, center=True,
                          pad_mode="reflect", return_complex=True)
        power = spec.real.square() + spec.imag.square()  # (clips, n_freqs, frames)
        mel = torch.matmul(mel_t, power)                 # (clips, n_mels, frames)
        return torch.log(torch.clamp(mel, min=1e-10))

    def host_to_host():
        audio = x16.to(dev, non_blocking=True).to(torch.float32) / 32768.0
        return logmel(audio).to("cpu")

    def timed(fn, reps):
        out = None
        for _ in range(3):  # warm-up (cuFFT plan cache, allocator)
            out = fn()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times = []
        for _ in range(reps):
            if dev.type == "cuda":
                e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                e0.record()
                out = fn()
                e1.record()
                e1.synchronize()
                times.append(e0.elapsed_time(e1) / 1e3)
            else:
                t0 = time.perf_counter()
                out = fn()
                times.append(time.perf_counter() - t0)
        times.sort()
        return times[len(times) // 2], out

    with torch.inference_mode():
        try:
            dev_s, out = timed(lambda: logmel(x_dev), args.repeat)
            h2h_s, _ = timed(host_to_host, max(1, min(args.repeat, 5)))
        except RuntimeError as e:  # torch.cuda.OutOfMemoryError is a RuntimeError
            if "out of memory" not in str(e):
                raise
            unavailable(f"out of GPU memory: {str(e).splitlines()[0]}")
    frames = out.shape[-1]
    hours = args.clips * args.seconds / 3600.0
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    print(f"torch {torch.__version__} on {name}: {args.clips} clips x {args.seconds:g} s, n_fft {n_fft}, win {win}, "
          f"hop {hop}, {n_mels} mels ({mel_source}), output {tuple(out.shape)}")
    print(f"  device-resident (f32 on GPU -> log-mel on GPU): {dev_s * 1e3:.3f} ms/batch, {hours / dev_s:.1f} audio h/s")
    print(f"  host-to-host (pinned int16 -> log-mel on host): {h2h_s * 1e3:.3f} ms/batch, {hours / h2h_s:.1f} audio h/s")
    print(f"torch_peer_result status=ok torch_hours_per_s={hours / dev_s:.2f} torch_ms={dev_s * 1e3:.4f} "
          f"torch_h2h_hours_per_s={hours / h2h_s:.2f} torch_h2h_ms={h2h_s * 1e3:.4f} frames={frames} "
          f"torch_version={torch.__version__} mel_source={mel_source} device={name.replace(' ', '_')}")


if __name__ == "__main__":
    main()
