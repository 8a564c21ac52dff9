"""The union of the shards of a sharded `afx extract` run equals the single-process run.

compare.py SINGLE_DIR SHARDED_DIR N: every visible output file is byte-identical, each of the N shards
wrote its index (index-0000i-of-0000N.jsonl), and their lines in shard order are the single run's index
lines (ignoring the per-run "skipped" flag). Prints what differs; exits 1 on any difference.
"""
import json
import os
import sys

single, sharded, n = sys.argv[1], sys.argv[2], int(sys.argv[3])


def files(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for f in filenames:
            if f.startswith(".") or f.startswith("index") or f == "params.json":
                continue
            p = os.path.join(dirpath, f)
            out[os.path.relpath(p, root)] = open(p, "rb").read()
    return out


def lines(path):
    recs = [json.loads(l) for l in open(path)]
    for r in recs:
        r.pop("skipped", None)
    return [json.dumps(r, sort_keys=True) for r in recs]


a, b = files(single), files(sharded)
bad = sorted(set(a) ^ set(b)) + sorted(k for k in set(a) & set(b) if a[k] != b[k])
want = lines(os.path.join(single, "index.jsonl"))
got = []
for i in range(n):
    got += lines(os.path.join(sharded, f"index-{i:05d}-of-{n:05d}.jsonl"))
if bad or got != want:
    print(f"differing files: {bad}; index lines equal: {got == want}", file=sys.stderr)
    sys.exit(1)
print(f"{len(a)} files and {len(want)} index lines equal")
