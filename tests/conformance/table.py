"""Renders the conformance results (results.json, written by conftest.py at the end of a pytest run)
into the markdown table of the README, between the markers

    <!-- conformance-table:begin -->
    <!-- conformance-table:end -->

or into tests/conformance/TABLE.md when the README has no markers. Run by scripts/conformance-table:

    python tests/conformance/table.py [--results results.json] [--readme README.md] [--print]
"""
import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BEGIN = "<!-- conformance-table:begin -->"
END = "<!-- conformance-table:end -->"

PRESET_ORDER = ["librosa", "torchaudio", "kaldi", "whisper", "tf", "resample"]
KIND_ORDER = {"preset": 0, "api": 1, "resample": 2}
METRIC_TEXT = {
    "rel_l2": "relative L2",
    "max_db": "max abs dB over bins within 60 dB of the peak, and the floor",
    "max_abs": "max abs sample difference",
}


def _num(v):
    if v is None:
        return "-"
    if v == 0:
        return "0"
    return f"{v:.1e}".replace("e-0", "e-").replace("e+0", "e+")


def _clips(r):
    n = r["compared"]
    extra = []
    if r.get("zero_frames"):
        extra.append(f"+{len(r['zero_frames'])} with 0 frames on both sides")
    if r.get("refused"):
        extra.append(f"+{len(r['refused'])} too short: the peer raises, afx gives 0 frames")
    return f"{n}" + (f" ({'; '.join(extra)})" if extra else "")


def render(data):
    def order(r):
        preset = PRESET_ORDER.index(r["preset"]) if r["preset"] in PRESET_ORDER else len(PRESET_ORDER)
        return KIND_ORDER.get(r["kind"], len(KIND_ORDER)), preset

    rows = sorted(data["results"], key=order)  # stable: within a preset, the order the tests ran
    notes = []

    def note_ref(text):
        if not text:
            return ""
        if text not in notes:
            notes.append(text)
        return f" [{notes.index(text) + 1}]"

    env = data.get("environment", {})
    out = [
        f"Measured by `scripts/conformance-table` (afx {env.get('afx', '?')}, {env.get('backend', 'cpu')} backend, "
        f"{env.get('machine', '?')}, "
        f"Python {env.get('python', '?')}, NumPy {env.get('numpy', '?')}) on the {_corpus_size(rows)} clips of "
        "`examples/audio`, each decoded once with `afx.load` and fed as the same float32 samples to afx "
        "and to the library; frame counts must be equal on every clip. Tolerances and their reasons: "
        "`tests/conformance/tolerances.py`.",
        "",
        "| preset | feature | peer | metric | worst error on the corpus | tolerance | clips |",
        "|---|---|---|---|---|---|---|",
    ]
    failed = 0
    for r in rows:
        unit = f" {r['unit']}" if r.get("unit") else ""
        worst = _num(r["worst"]) + unit
        if r.get("worst") == 0:
            worst += " (bit-identical)"
        elif r.get("worst_clip"):
            worst += f" ({r['worst_clip']})"
        if r.get("problems"):
            failed += 1
            worst = f"**FAIL** {worst}"
        preset = r["preset"] if r["kind"] != "resample" else "`afx.load` resampling"
        feature = r["feature"] + note_ref(r.get("note", ""))
        out.append(f"| {preset} | {feature} | {r['peer']} | {METRIC_TEXT.get(r['metric'], r['metric'])} | "
                   f"{worst} | {_num(r['tolerance'])}{unit} | {_clips(r)} |")
    if notes:
        out.append("")
        out.extend(f"[{i + 1}] {t}  " for i, t in enumerate(notes))
        out[-1] = out[-1].rstrip()
    if failed:
        out.append("")
        out.append(f"**{failed} comparison(s) failed in this run** (see the pytest output).")
    return "\n".join(out) + "\n", failed


def _corpus_size(rows):
    return max((r["compared"] + len(r.get("zero_frames", [])) + len(r.get("refused", [])) for r in rows), default=0)


def write(table, readme):
    text = readme.read_text() if readme.exists() else ""
    if BEGIN in text and END in text and text.index(BEGIN) < text.index(END):
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        readme.write_text(f"{head}{BEGIN}\n{table}{END}{tail}")
        return readme
    target = HERE / "TABLE.md"
    target.write_text(f"# Conformance of afx's presets\n\n{table}")
    return target


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=HERE / "results.json")
    ap.add_argument("--readme", type=Path, default=ROOT / "README.md")
    ap.add_argument("--print", action="store_true", help="print the table instead of writing it")
    a = ap.parse_args(argv)
    data = json.loads(a.results.read_text())
    table, failed = render(data)
    if a.print:
        sys.stdout.write(table)
    else:
        where = write(table, a.readme)
        print(f"conformance table ({len(data['results'])} rows, {failed} failed) written to {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
