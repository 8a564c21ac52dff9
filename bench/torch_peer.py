#!/usr/bin/env python3
"""The afx speech pipeline in PyTorch on the same GPU, and afx on the very same device tensor.

torch.stft (n_fft 512, win 400 periodic Hann, hop 160, center, reflect) -> |X|^2 -> mel matmul (80 HTK
mels, no norm: torchaudio.functional.melscale_fbanks when torchaudio imports, else the same matrix built in
numpy from torchaudio's formula) -> log(max(mel, 1e-10)), for a batch of 256 ten-second 16 kHz clips.

Measured with CUDA events on torch's current stream (median of --repeat runs after a warm-up):
  device-to-device, torch: float32 audio already on the GPU -> log-mel on the GPU;
  device-to-device, afx:   the same tensor through afx_plan_execute_device_input (libafx.so loaded with
                           ctypes from --afx-lib or AFX_LIBRARY; the plan runs on torch's current stream), so
                           the two numbers are for the same input on the same device in the same process;
  host-to-host, torch:     int16 audio in pinned host memory -> GPU -> float -> log-mel -> host float32.
afx's features of the first clips (afx_plan_execute) are compared with torch's (max abs difference of the
log-mel over bins within 60 dB of each clip's peak), so that both sides compute the same thing.

The last line is machine-readable:
  torch_peer_result status=ok torch_hours_per_s=... torch_ms=... afx_hours_per_s=... afx_ms=... ...
When torch or a CUDA device is missing it prints "torch with CUDA not available (<why>)" and a
status=unavailable line, and exits 0: the peer is optional, its absence is reported, not an error.
"""
import argparse
import ctypes
import math
import os
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


class AfxInput(ctypes.Structure):
    _fields_ = [("format", ctypes.c_int), ("n_channels", ctypes.c_int), ("clips", ctypes.POINTER(ctypes.c_void_p)),
                ("lengths", ctypes.POINTER(ctypes.c_int64)), ("n_clips", ctypes.c_int),
                ("first_clip_index", ctypes.c_uint64)]


class AfxOutput(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("frames_stride", ctypes.c_int64), ("n_frames", ctypes.POINTER(ctypes.c_int64))]


class AfxDeviceOutput(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("dtype", ctypes.c_int), ("n_clips", ctypes.c_int),
                ("n_features", ctypes.c_int), ("frames_stride", ctypes.c_int64),
                ("n_frames", ctypes.POINTER(ctypes.c_int64)), ("ready_event", ctypes.c_void_p)]


class Afx:
    """The few afx C calls this benchmark needs (include/afx.h), through ctypes."""

    def __init__(self, path, max_batch, max_samples, backend="cuda"):
        lib = ctypes.CDLL(path)
        self.lib = lib
        lib.afx_params_size.restype = ctypes.c_size_t
        lib.afx_plan_error.restype = ctypes.c_char_p
        lib.afx_version_string.restype = ctypes.c_char_p
        self.version = lib.afx_version_string().decode()
        self.params = ctypes.create_string_buffer(lib.afx_params_size())
        lib.afx_params_init(self.params)
        err = ctypes.create_string_buffer(512)
        for name, value in (("backend", backend), ("max_batch", str(max_batch)), ("max_samples", str(max_samples))):
            if lib.afx_params_set(self.params, name.encode(), value.encode(), err, ctypes.c_size_t(512)) != 0:
                raise RuntimeError(f"afx_params_set({name}): {err.value.decode()}")
        self.plan = ctypes.c_void_p()
        if lib.afx_plan_create(self.params, ctypes.byref(self.plan), err, ctypes.c_size_t(512)) != 0:
            raise RuntimeError(f"afx_plan_create: {err.value.decode()}")
        self.n_features = lib.afx_plan_n_features(self.plan)

    def check(self, status, what):
        if status != 0:
            raise RuntimeError(f"{what}: {self.lib.afx_plan_error(self.plan).decode()}")

    def set_stream(self, stream_handle):
        self.check(self.lib.afx_plan_set_stream(self.plan, ctypes.c_void_p(stream_handle)), "afx_plan_set_stream")

    def _input(self, ptrs, lengths, fmt):
        clips = (ctypes.c_void_p * len(ptrs))(*ptrs)
        lens = (ctypes.c_int64 * len(lengths))(*lengths)
        inp = AfxInput(fmt, 1, ctypes.cast(clips, ctypes.POINTER(ctypes.c_void_p)), lens, len(ptrs), 0)
        return inp, (clips, lens)

    def execute_device_input(self, ptrs, lengths):
        """Queues a batch of float32 device clips; returns the device output descriptor (and what it holds)."""
        inp, keep = self._input(ptrs, lengths, 0)
        nf = (ctypes.c_int64 * len(ptrs))()
        out = AfxDeviceOutput()
        out.n_frames = nf
        self.check(self.lib.afx_plan_execute_device_input(self.plan, ctypes.byref(inp), ctypes.byref(out)),
                   "afx_plan_execute_device_input")
        return out, (keep, nf)

    def wait(self, out):
        self.check(self.lib.afx_plan_device_output_wait(self.plan, ctypes.byref(out)), "afx_plan_device_output_wait")

    def execute_host(self, arrays):
        """afx_plan_execute on float32 numpy clips: a list of (n_mels, frames) arrays."""
        import numpy as np

        ptrs = [a.ctypes.data for a in arrays]
        inp, keep = self._input(ptrs, [len(a) for a in arrays], 0)
        n = len(arrays)
        nf = (ctypes.c_int64 * n)()
        most = ctypes.c_int64()
        self.check(self.lib.afx_plan_output_shape(self.plan, ctypes.byref(inp), None, ctypes.byref(most)),
                   "afx_plan_output_shape")
        buf = np.zeros((n, self.n_features, most.value), dtype=np.float32)
        out = AfxOutput(buf.ctypes.data, most.value, nf)
        self.check(self.lib.afx_plan_execute(self.plan, ctypes.byref(inp), ctypes.byref(out)), "afx_plan_execute")
        del keep
        return [buf[i, :, : nf[i]] for i in range(n)]

    def close(self):
        if self.plan:
            self.lib.afx_plan_free(self.plan)
            self.plan = ctypes.c_void_p()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=256)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--device", default="cuda", help="cuda (default); cpu only to smoke-test this script")
    ap.add_argument("--afx-lib", default=os.environ.get("AFX_LIBRARY", ""),
                    help="libafx.so to time on the same tensor (default: $AFX_LIBRARY; empty: torch only)")
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

    # afx on the same device tensor, on torch's current stream.
    afx_line = "afx_status=not_run"
    if args.afx_lib:
        afx = None
        try:
            # On a machine without a GPU (--device cpu) only the agreement check runs, on afx's CPU backend.
            afx = Afx(args.afx_lib, args.clips, n, "cuda" if dev.type == "cuda" else "cpu")
            afx_s = float("nan")
            if dev.type == "cuda":
                afx.set_stream(torch.cuda.current_stream(dev).cuda_stream)
                x_c = x_dev.contiguous()
                ptrs = [x_c[i].data_ptr() for i in range(args.clips)]
                lengths = [n] * args.clips
                for _ in range(3):
                    o, _k = afx.execute_device_input(ptrs, lengths)
                    afx.wait(o)
                times = []
                for _ in range(args.repeat):
                    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    e0.record()
                    o, _k = afx.execute_device_input(ptrs, lengths)
                    e1.record()
                    e1.synchronize()
                    afx.wait(o)
                    times.append(e0.elapsed_time(e1) / 1e3)
                times.sort()
                afx_s = times[len(times) // 2]
            # Same computation: afx's features of a few clips against torch's, within 60 dB of each peak.
            k = min(4, args.clips)
            ref = out[:k].float().cpu().numpy()
            got = afx.execute_host([x[i].numpy() for i in range(k)])
            worst = 0.0
            for i in range(k):
                r, g = ref[i], got[i]
                if r.shape != g.shape:
                    raise RuntimeError(f"clip {i}: afx shape {g.shape} != torch shape {r.shape}")
                keep_bins = r >= r.max() - math.log(1e6)
                worst = max(worst, float(abs(r - g)[keep_bins].max()))
            afx_line = (f"afx_status=ok afx_hours_per_s={hours / afx_s:.2f} afx_ms={afx_s * 1e3:.4f} "
                        f"afx_over_torch={dev_s / afx_s:.3f} afx_vs_torch_max_abs_ln={worst:.3g} "
                        f"afx_version={afx.version}")
            print(f"  afx {afx.version} device-to-device on the same tensor: {afx_s * 1e3:.3f} ms/batch, "
                  f"{hours / afx_s:.1f} audio h/s ({dev_s / afx_s:.2f}x torch); log-mel agrees with torch to "
                  f"{worst:.2g} (ln units, bins within 60 dB of each clip's peak)")
        except Exception as e:  # report, do not hide the torch numbers
            afx_line = f"afx_status=failed afx_error={type(e).__name__}"
            print(f"torch_peer: afx on the same tensor failed: {e}")
        finally:
            if afx is not None:
                afx.close()
    print(f"torch {torch.__version__} on {name}: {args.clips} clips x {args.seconds:g} s, n_fft {n_fft}, win {win}, "
          f"hop {hop}, {n_mels} mels ({mel_source}), output {tuple(out.shape)}")
    print(f"  device-resident (f32 on GPU -> log-mel on GPU): {dev_s * 1e3:.3f} ms/batch, {hours / dev_s:.1f} audio h/s")
    print(f"  host-to-host (pinned int16 -> log-mel on host): {h2h_s * 1e3:.3f} ms/batch, {hours / h2h_s:.1f} audio h/s")
    print(f"torch_peer_result status=ok torch_hours_per_s={hours / dev_s:.2f} torch_ms={dev_s * 1e3:.4f} "
          f"torch_h2h_hours_per_s={hours / h2h_s:.2f} torch_h2h_ms={h2h_s * 1e3:.4f} frames={frames} "
          f"torch_version={torch.__version__} mel_source={mel_source} device={name.replace(' ', '_')} {afx_line}")


if __name__ == "__main__":
    main()
