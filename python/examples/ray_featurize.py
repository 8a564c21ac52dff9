"""Featurize a corpus with Ray Data: read_binary_files -> map_batches(afx.ray.Featurizer), one afx actor
(and plan) per worker. Writes OUTDIR/<file name without extension>.npy per file, as `afx extract` does; a
file that fails is reported on stderr with the reason, the others are still written (exit status 1).

    python python/examples/ray_featurize.py examples/audio/*.wav -o out/ --preset kaldi --actors 4
    python python/examples/ray_featurize.py ... --address auto          # an existing cluster (`ray start`)

Without --address, a local Ray instance with --local-cpus logical CPUs is started for the run (the actors
take one CPU each; the file reads need one more).
"""
import argparse
import os
import sys

import numpy as np
import ray

import afx.ray


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+")
    ap.add_argument("-o", "--output", required=True, help="output folder (created if missing)")
    ap.add_argument("--preset")
    ap.add_argument("--feature")
    ap.add_argument("--actors", type=int, default=2, help="afx actors (2)")
    ap.add_argument("--batch-size", type=int, default=8, help="files per map_batches call (8)")
    ap.add_argument("--address", help="Ray cluster to join (default: start a local one)")
    ap.add_argument("--local-cpus", type=int, default=None, help="logical CPUs of the local instance (actors + 1)")
    args = ap.parse_args(argv)

    if args.address:
        ray.init(address=args.address, log_to_driver=False)
    else:
        ray.init(num_cpus=args.local_cpus or args.actors + 1, include_dashboard=False, log_to_driver=False,
                 object_store_memory=256 * 1024 * 1024)
    try:
        ds = afx.ray.featurize(args.files, preset=args.preset, feature=args.feature, concurrency=args.actors,
                               batch_size=args.batch_size)
        os.makedirs(args.output, exist_ok=True)
        failed = 0
        for row in ds.iter_rows():
            if row["error"]:
                print(f"ray_featurize: {row['error']}", file=sys.stderr)
                failed += 1
                continue
            name = os.path.splitext(os.path.basename(row["path"]))[0]
            np.save(os.path.join(args.output, name + ".npy"), np.asarray(row["features"]))
        print(f"{len(args.files) - failed} of {len(args.files)} files written to {args.output}")
        return 1 if failed else 0
    finally:
        ray.shutdown()


if __name__ == "__main__":
    sys.exit(main())
