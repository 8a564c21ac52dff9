"""The peer of the afx serve benchmark: a feature server written the way people write one today, with the
standard library's ThreadingHTTPServer and torchaudio.

POST /v1/features with a WAV body -> .npy of the log-mel features, computed as afx's default parameters
compute them: 16 kHz, n_fft 512, window 400 (periodic Hann), hop 160, centred with reflect padding, 80 HTK
mel bands, power 2, ln(max(mel, 1e-10)).

    python bench/serve/peer_torchaudio.py --port 8090
"""
import argparse
import io
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import torch
import torchaudio

RATE = 16000
MEL = torchaudio.transforms.MelSpectrogram(sample_rate=RATE, n_fft=512, win_length=400, hop_length=160, n_mels=80,
                                           power=2.0, center=True, pad_mode="reflect", mel_scale="htk")


def features(wav_bytes):
    waveform, sr = torchaudio.load(io.BytesIO(wav_bytes))
    waveform = waveform.mean(dim=0)
    if sr != RATE:
        waveform = torchaudio.functional.resample(waveform, sr, RATE)
    with torch.no_grad():
        return torch.log(torch.clamp(MEL(waveform), min=1e-10)).numpy()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, as the load generator uses
    disable_nagle_algorithm = True  # else headers and body wait for a delayed ACK (~40 ms per request)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            feats = features(body)
        except Exception as e:  # a bad request must not kill the server
            msg = str(e).encode()
            self.send_response(400)
            self.send_header("Content-Length", str(len(msg)))
            self.end_headers()
            self.wfile.write(msg)
            return
        buf = io.BytesIO()
        np.save(buf, feats)
        out = buf.getvalue()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-npy")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a load generator closing its connections at the end is not an error worth a traceback


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8090)
    args = ap.parse_args()
    server = Server(("127.0.0.1", args.port), Handler)
    print(f"peer listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
