"""Every output format of `afx extract`, read back by the reader a training job uses.

The .npy tree (read with numpy.load) is the reference: the same clips written as WebDataset shards must
come out of webdataset.WebDataset with the same arrays, labels and metadata; as Kaldi ark + scp out of
kaldiio.load_scp with the same arrays in (frames, features); as a table, the rows numpy loads must be the
pooled vectors of the pooled .npy run, in index order. Exits 1 on the first mismatch.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import kaldiio
import numpy as np
import webdataset as wds

afx, examples = sys.argv[1], sys.argv[2]
checks = 0


def run(*args):
    r = subprocess.run([afx, "extract", "-q", *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"afx extract {' '.join(args)} exited {r.returncode}: {r.stderr}")


def index(folder, name="index.jsonl"):
    with open(os.path.join(folder, name)) as f:
        return [json.loads(line) for line in f]


def check(cond, what):
    global checks
    if not cond:
        sys.exit(f"FAILED: {what}")
    checks += 1


tmp = tempfile.mkdtemp(prefix="afx_readback_")
try:
    # A nested corpus with duplicate basenames and a manifest with integer labels and a carried column.
    clips = sorted(f for f in os.listdir(examples) if f.endswith((".wav", ".flac", ".oga", ".mp3")))[:7]
    corpus = os.path.join(tmp, "corpus")
    rows = []
    for k, name in enumerate(clips):
        sub = ("dog", "cat", "bird")[k % 3]
        os.makedirs(os.path.join(corpus, sub), exist_ok=True)
        rel = os.path.join(sub, f"x{k // 3}.{name.rsplit('.', 1)[1]}")
        shutil.copy(os.path.join(examples, name), os.path.join(corpus, rel))
        rows.append((rel, k % 3, f"fold{k % 2}"))
    manifest = os.path.join(corpus, "meta.csv")
    with open(manifest, "w") as f:
        f.write("path,label,fold\n")
        for rel, label, fold in rows:
            f.write(f"{rel},{label},{fold}\n")

    out = lambda name: os.path.join(tmp, name)
    run(manifest, "-o", out("npy"))
    run(manifest, "-o", out("npy_tf"), "--layout", "tf")
    run(manifest, "-o", out("wds"), "--format", "wds", "--shard-size", "3")
    run(manifest, "-o", out("ark"), "--format", "ark", "--shard-size", "4")
    run(manifest, "-o", out("pooled"), "--pool", "meanstd")
    run(manifest, "-o", out("table"), "--format", "table", "--pool", "meanstd")
    run(manifest, "-o", out("ark_pooled"), "--format", "ark", "--pool", "mean")
    run(manifest, "-o", out("pooled_mean"), "--pool", "mean")

    ref = {}
    for rec in index(out("npy")):
        check(rec["status"] == "ok", f"{rec['id']} ok")
        a = np.load(os.path.join(out("npy"), rec["output"]))
        check(a.dtype == np.float32 and list(a.shape) == rec["shape"], f"{rec['id']}: npy shape {a.shape} vs index")
        tf = np.load(os.path.join(out("npy_tf"), rec["output"]))
        check(np.array_equal(tf, a.T), f"{rec['id']}: layout tf is the transpose")
        ref[rec["id"]] = (a, rec)
    check(len(ref) == len(rows), "one output per manifest row")

    # WebDataset: keys from the relative path, .npy + .cls + .json, shards of 3 in order.
    tars = sorted(os.path.join(out("wds"), f) for f in os.listdir(out("wds")) if f.endswith(".tar"))
    check(len(tars) == (len(rows) + 2) // 3, f"{len(tars)} tar shards")
    seen = []
    for s in wds.WebDataset(tars, shardshuffle=False).decode():
        key = s["__key__"]
        a, rec = ref[key]
        check(np.array_equal(s["npy"], a), f"wds {key}: same array as the .npy tree")
        check(s["cls"] == rec["label"] if isinstance(rec["label"], int) else int(rec["label"]) == s["cls"], f"wds {key}: .cls")
        meta = s["json"]
        check(meta["id"] == key and meta["shape"] == list(a.shape) and meta["meta"]["fold"] == rec["meta"]["fold"],
              f"wds {key}: .json {meta}")
        seen.append(key)
    check(seen == [r["id"] for r in index(out("npy"))], "wds: every clip once, in order")

    # Kaldi: scp -> (frames, features) matrices; pooled -> vectors.
    feats = kaldiio.load_scp(os.path.join(out("ark"), "feats.scp"))
    check(sorted(feats.keys()) == sorted(ref), "scp keys")
    for key, (a, _) in ref.items():
        check(np.array_equal(feats[key], a.T), f"ark {key}: (frames, features) of the .npy")
    for rec in index(out("ark")):
        path, offset = rec["output"].rsplit(":", 1)
        m = kaldiio.load_mat(os.path.join(out("ark"), path) + ":" + offset)
        check(list(m.shape) == rec["shape"] and np.array_equal(m, feats[rec["id"]]), f"ark index {rec['id']}")
    pooled_ark = kaldiio.load_scp(os.path.join(out("ark_pooled"), "feats.scp"))
    for rec in index(out("pooled_mean")):
        v = np.load(os.path.join(out("pooled_mean"), rec["output"]))
        check(pooled_ark[rec["id"]].shape == v.shape and np.array_equal(pooled_ark[rec["id"]], v), f"ark pooled {rec['id']}")

    # Table: [N, 2 * n_mels] rows in index order = the pooled vectors.
    table = np.load(os.path.join(out("table"), "table.npy"))
    recs = index(out("table"))
    check(table.shape == (len(rows), 160), f"table shape {table.shape}")
    for rec in recs:
        v = np.load(os.path.join(out("pooled"), rec["id"] + ".npy"))
        check(np.array_equal(table[rec["row"]], v), f"table row {rec['row']} is {rec['id']}")
        check(rec["label"] in ("0", "1", "2") and rec["meta"]["fold"].startswith("fold"), "table index carries labels")
    params = json.load(open(os.path.join(out("table"), "params.json")))
    check(params["params"]["pooling"] == "meanstd" and params["afx_version"], "params.json")
    print(f"{checks} passed, 0 failed")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
