"""torchaudio-style CNN input pipeline with afx.

Clips at 16 kHz are cut or zero-padded to 1 s and turned into 64 mel bands x 32 frames in dB, standardized
per clip, the input of the small keyword-spotting CNNs of the torchaudio tutorials:

    torchaudio.transforms.MelSpectrogram(sample_rate=16000, n_fft=1024, hop_length=512, n_mels=64)
    -> torchaudio.transforms.AmplitudeToDB()  ->  (x - x.mean()) / x.std()     (torch.std: unbiased)

Training batches get SpecAugment masks (2 time masks of up to 4 frames, 2 frequency masks of up to 8 bands)
that change every epoch: the Dataset returns each clip's index, afx.torch.Collate keys the masks by
(epoch, index), and set_epoch() is called before each epoch. A DataLoader with 2 workers started with the
spawn method computes the batches (the collate function, with its extractor, is pickled into each worker).

    python python/examples/torch_cnn.py [--epochs 4] [--clips 96] [--workers 2]
"""
import argparse

import numpy as np
import torch

import afx.torch

SAMPLE_RATE = 16000
CLASSES = 4


def cnn_extractor(**overrides):
    """64 mel x 32 frames in dB of 1 s of 16 kHz audio, standardized per clip (sample std, as torch.std)."""
    return afx.torch.Extractor(preset="torchaudio", feature="db", n_fft=1024, win_length=1024, hop_length=512,
                               n_mels=64, fixed_length=SAMPLE_RATE, normalize="utterance", unbiased=True,
                               **overrides)


def train_extractor(seed=0):
    """cnn_extractor with SpecAugment masks (training only)."""
    return cnn_extractor(time_masks=2, time_mask_param=4, freq_masks=2, freq_mask_param=8, seed=seed)


class ToneDataset(torch.utils.data.Dataset):
    """Synthetic labelled clips: class k is a tone at 300 (k + 1) Hz in noise, 0.6 to 1.4 s long.

    Items are (waveform, label, index): the index keys the clip's SpecAugment masks.
    """

    def __init__(self, n_clips, seed=0):
        rng = np.random.default_rng(seed)
        self.labels = rng.integers(0, CLASSES, size=n_clips)
        self.lengths = rng.integers(int(0.6 * SAMPLE_RATE), int(1.4 * SAMPLE_RATE), size=n_clips)
        self.seed = seed

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        rng = np.random.default_rng((self.seed, i))
        t = np.arange(self.lengths[i]) / SAMPLE_RATE
        x = 0.3 * np.sin(2 * np.pi * 300.0 * (self.labels[i] + 1) * t) + 0.05 * rng.standard_normal(t.size)
        return torch.from_numpy(x.astype(np.float32)), int(self.labels[i]), i


class SmallCNN(torch.nn.Module):
    def __init__(self, n_classes=CLASSES):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d((8, 1)),  # average over time, keep 8 frequency regions
            torch.nn.Flatten(), torch.nn.Linear(16 * 8, n_classes))

    def forward(self, x):  # x: [B, 64, 32]
        return self.net(x.unsqueeze(1))


def loader(dataset, collate, workers, batch_size=16, shuffle=True):
    kw = {"multiprocessing_context": "spawn"} if workers else {}
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=workers,
                                       collate_fn=collate, **kw)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--clips", type=int, default=96)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)

    torch.manual_seed(0)
    dataset = ToneDataset(args.clips)
    collate = afx.torch.Collate(train_extractor())
    model = SmallCNN()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for epoch in range(args.epochs):
        collate.set_epoch(epoch)  # new masks this epoch
        total, correct, loss_sum = 0, 0, 0.0
        for feats, n_frames, labels in loader(dataset, collate, args.workers):
            assert feats.shape[1:] == (64, 32) and bool((n_frames == 32).all())
            logits = model(feats)
            loss = torch.nn.functional.cross_entropy(logits, labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += float(loss) * len(labels)
            correct += int((logits.argmax(1) == labels).sum())
            total += len(labels)
        print(f"epoch {epoch}: loss {loss_sum / total:.3f}, train accuracy {correct / total:.2f}")


if __name__ == "__main__":
    main()
