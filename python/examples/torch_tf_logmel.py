"""TF-style 2 s log-mel input pipeline with afx, in a PyTorch DataLoader.

The tf.signal recipe (tf preset: frame 1024, step 256, no padding, magnitude, 80 mel bands 80-7600 Hz,
log(x + 1e-6)) on clips cut or zero-padded to 2 s at 16 kHz (fixed_length=32000): every clip gives the
same [122 frames, 80 mels] matrix (layout "tf", frames first, as tf.signal returns it). The files are
decoded in the Dataset (afx.load: libsndfile, downmix, soxr HQ to 16 kHz) and featurized a batch at a
time in the collate function (one library call per batch).

    python python/examples/torch_tf_logmel.py [FILE ...]     (default: the clips of examples/audio)
"""
import argparse
import glob
import os

import torch

import afx
import afx.torch

SAMPLE_RATE = 16000
SECONDS = 2


def tf_extractor(**overrides):
    return afx.torch.Extractor(preset="tf", feature="logmel", sample_rate=SAMPLE_RATE,
                               fixed_length=SECONDS * SAMPLE_RATE, **overrides)


class FileDataset(torch.utils.data.Dataset):
    """(waveform, label) items: the file decoded at 16 kHz, and its position in the list as the label."""

    def __init__(self, paths):
        self.paths = list(paths)

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        x, _ = afx.load(self.paths[i], sr=SAMPLE_RATE)
        return torch.from_numpy(x), i


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    default = sorted(p for p in glob.glob(os.path.join(here, "..", "..", "examples", "audio", "*"))
                     if not p.endswith(".md"))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="*", default=default)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)

    collate = afx.torch.Collate(tf_extractor(), sr=SAMPLE_RATE)
    kw = {"multiprocessing_context": "spawn"} if args.workers else {}
    dl = torch.utils.data.DataLoader(FileDataset(args.files), batch_size=4, num_workers=args.workers,
                                     collate_fn=collate, **kw)
    for feats, n_frames, labels in dl:
        print(f"batch {tuple(feats.shape)} ({feats.dtype}), frames {n_frames.tolist()}, files {labels.tolist()}")


if __name__ == "__main__":
    main()
