"""Command line of the Python package: ``python -m afx plot ...`` (also the ``afx-plot`` script) and
``python -m afx info``. The C ``afx`` tool computes features for a corpus; this draws them."""
from __future__ import annotations

import argparse
import os
import sys

_PLOT_HELP = """\
Draws a spectrogram picture (PNG; time and frequency axes, colorbar, viridis) of an audio file's features,
computed here with the given preset and options, or of a .npy file written by `afx extract` (then give the
options that `afx extract` was run with, so that the axes are right).

examples:
  python -m afx plot speech.wav -o speech.png
  python -m afx plot speech.wav --preset librosa --feature db -o speech_db.png
  afx extract speech.wav -o out/ --n-mels 64 && python -m afx plot out/speech.npy --n-mels 64 -o speech.png
"""


def _plot_parser(prog):
    ap = argparse.ArgumentParser(prog=prog, description=_PLOT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", help="an audio file (any format afx.load reads) or a .npy feature file")
    ap.add_argument("-o", "--output", help="picture to write (default: INPUT's name with .png, in the current folder)")
    ap.add_argument("--preset", help="librosa, torchaudio, kaldi, whisper or tf (default: afx's defaults)")
    ap.add_argument("--feature", help="spectrogram, mel, logmel, db or mfcc (default: the preset's)")
    ap.add_argument("--sample-rate", type=int, help="sample rate in Hz (audio input is resampled to it)")
    ap.add_argument("--n-fft", type=int)
    ap.add_argument("--hop-length", type=int)
    ap.add_argument("--win-length", type=int)
    ap.add_argument("--n-mels", type=int)
    ap.add_argument("--layout", choices=["ft", "tf"], help="layout of a .npy input (default: the preset's)")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="any other afx.Extractor keyword (afx_params field), e.g. --set f_max=8000; repeatable")
    ap.add_argument("--title", help="title above the picture (default: feature, shape and rate)")
    ap.add_argument("--width", type=float, default=8.0, help="inches (8)")
    ap.add_argument("--height", type=float, default=4.0, help="inches (4)")
    ap.add_argument("--dpi", type=int, default=100, help="pixels per inch (100)")
    return ap


def _extractor(args):
    import afx
    kw = {}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--set {item!r}: expected NAME=VALUE")
        kw[name.strip().replace("-", "_")] = value.strip()
    for name in ("sample_rate", "n_fft", "hop_length", "win_length", "n_mels", "layout"):
        v = getattr(args, name)
        if v is not None:
            kw[name] = v
    return afx.Extractor(preset=args.preset, feature=args.feature, **kw)


def plot_main(argv=None, prog="afx-plot"):
    args = _plot_parser(prog).parse_args(argv)
    try:
        import numpy as np

        import afx
        ext = _extractor(args)
        if args.input.lower().endswith(".npy"):
            feats, n_frames = np.load(args.input), None
        else:
            x, _ = afx.load(args.input, sr=ext.sample_rate)
            feats, n_frames = ext(x)
        out = args.output or os.path.splitext(os.path.basename(args.input))[0] + ".png"
        afx.plot(feats, extractor=ext, n_frames=n_frames, path=out, title=args.title,
                 figsize=(args.width, args.height), dpi=args.dpi)
    except ImportError as e:
        print(f"{prog}: {e} (the picture needs matplotlib: pip install \"afx-features[plot]\")", file=sys.stderr)
        return 1
    except Exception as e:  # afx.AfxError, OSError, ValueError...: the message names the problem
        print(f"{prog}: {args.input}: {e}", file=sys.stderr)
        return 1
    print(out)
    return 0


def info_main(argv=None):
    argparse.ArgumentParser(prog="python -m afx info", description="Prints the package's and library's "
                            "version, where libafx.so was loaded from, and the CUDA devices it sees.").parse_args(argv)
    import afx
    print(f"afx {afx.__version__}\nlibrary: {afx.library_path} ({afx.library_origin})\n"
          f"CUDA devices: {afx.cuda_device_count()}\npresets: {', '.join(afx.presets())}")
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    commands = {"plot": lambda a: plot_main(a, prog="python -m afx plot"), "info": info_main}
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in commands:
        print("usage: python -m afx {plot,info} ...\n\n  plot   draw a spectrogram picture of an audio file's or a "
              ".npy file's features\n  info   versions, library path, CUDA devices\n\n"
              "`python -m afx COMMAND --help` for a command's options.",
              file=sys.stdout if argv and argv[0] in ("-h", "--help") else sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
