"""Writes the seed corpus of fuzz_audio_decode (tests/fuzz/corpus/audio_decode/): the example clips cut
short (their headers and first frames), small files of every allowed container written by soundfile
(libsndfile), and the odd headers of issue 11 (huge finite floats, a 1 Hz rate, a corrupt SDS dump).

    .venv-conformance/bin/python tests/fuzz/make_seeds_audio_decode.py     # needs soundfile, numpy

The seeds are committed; rerun only to change them. Each stays under 4 KB.
"""
import io
import struct
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fuzz" / "corpus" / "audio_decode"
EXAMPLES = ROOT / "examples" / "audio"
LIMIT = 2048


def wav(fmt, channels, rate, bits, data):
    block = channels * bits // 8
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, fmt, channels, rate, rate * block, block, bits) +
            b"data" + struct.pack("<I", len(data)) + data)


def cut_wav(name, size):
    """A WAV example cut to `size` bytes, its RIFF and data sizes rewritten to match."""
    b = bytearray((EXAMPLES / name).read_bytes()[:size])
    i = b.find(b"data")
    struct.pack_into("<I", b, 4, len(b) - 8)
    struct.pack_into("<I", b, i + 4, len(b) - i - 8)
    return bytes(b)


def written(fmt, subtype, rate=8000, channels=2, frames=64):
    t = np.arange(frames) / rate
    x = np.stack([0.5 * np.sin(2 * np.pi * 440 * t)] * channels, axis=1).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, x, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def without_caf_free(b):
    """CAF from libsndfile pads its header with a 'free' chunk to 4 KB: drop it (chunks: 4-byte type, 8-byte BE size)."""
    out, pos = bytearray(b[:8]), 8
    while pos + 12 <= len(b):
        kind, size = b[pos:pos + 4], struct.unpack(">q", b[pos + 4:pos + 12])[0]
        end = len(b) if size < 0 else pos + 12 + size
        if kind != b"free":
            out += b[pos:end]
        pos = end
    return bytes(out)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    seeds = {
        "wav_pcm16.wav": cut_wav("alsa_Front_Center.wav", 1024),
        "wav_u8.wav": cut_wav("conv_perc_door_22k_u8.wav", 600),
        "wav_ulaw.wav": cut_wav("conv_demo-thanks_8k_ulaw.wav", 600),
        "flac_head.flac": (EXAMPLES / "spi_misc_burp.flac").read_bytes()[:LIMIT],
        "ogg_head.oga": (EXAMPLES / "fdo_dialog-information.oga").read_bytes()[:LIMIT],
        "mp3_head.mp3": (EXAMPLES / "conv_loop_amen_44k.mp3").read_bytes()[:LIMIT],
        "wavex_float.wav": written("WAVEX", "FLOAT"),
        "rf64.rf64": written("RF64", "PCM_24"),
        "w64.w64": written("W64", "PCM_16"),
        "aiff.aiff": written("AIFF", "PCM_16"),
        "au_alaw.au": written("AU", "ALAW"),
        "caf.caf": without_caf_free(written("CAF", "PCM_16")),
        "ima_adpcm.wav": written("WAV", "IMA_ADPCM", frames=256),
        "gsm.wav": written("WAV", "GSM610", channels=1, frames=320),
        # issue 11: two finite floats of 3e38 at 22050 Hz (libsoxr overflows), a 1 Hz header
        "huge_float.wav": bytes.fromhex("524946462c00000057415645666d742010000000030001002256000088580100"
                                        "040020006461746108000000e6b1617fe6b1617f"),
        "one_hz.wav": wav(1, 1, 1, 16, bytes(64)),
        # a MIDI Sample Dump header followed by bytes that are not a data packet (104 bytes)
        "corrupt.sds": bytes([0xF0, 0x7E, 0, 1, 0, 0, 16, 0x27, 0x62, 0x02, 0x7F, 0x7F, 3, 0, 0, 0, 0, 0, 0, 0,
                              0xF7]) + bytes((37 * k + 11) % 256 | 1 for k in range(83)),
    }
    seeds["flac_small.flac"] = written("FLAC", "PCM_16", channels=1, frames=256)
    for name, args in {"opus.opus": ("OGG", "OPUS", 48000, 1, 960), "vorbis.ogg": ("OGG", "VORBIS", 8000, 1, 256),
                       "mp3_small.mp3": ("MP3", "MPEG_LAYER_III", 8000, 1, 1152)}.items():
        try:
            data = written(args[0], args[1], rate=args[2], channels=args[3], frames=args[4])
        except Exception:  # a libsndfile without that encoder
            continue
        if len(data) <= LIMIT + 2048:
            seeds[name] = data
    for name, data in seeds.items():
        assert len(data) <= LIMIT + 2048, (name, len(data))
        (OUT / name).write_bytes(data)
    print(f"{len(seeds)} seeds, {sum(len(d) for d in seeds.values())} bytes in {OUT}")


if __name__ == "__main__":
    main()
