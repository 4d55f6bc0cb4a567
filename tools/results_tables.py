"""Regenerate the README's tables of measured figures (never typed by hand): the notebooks'
results from results/NN.json, the shipped bases' quality from minivlm/zoo_weights/manifest.json,
the foundation's figures (data speed, shipped size, a fresh clone's make setup / lab / test) from
results/foundation.json.

    python tools/results_tables.py          # rewrite the parts of README.md between the markers
    python tools/results_tables.py --check  # fail if README.md is not what the files say

Each notebook's full-mode run writes results/NN.json (`minivlm.results.Record`); its
'headlines' become rows: the claim, what was measured, whether it goes the paper's way.
`make zoo` (benchmarks/zoo.py --write) writes each base's quality into the manifest;
`benchmarks/foundation.py --write` writes results/foundation.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- results:start -->", "<!-- results:end -->"
ZOO_START, ZOO_END = "<!-- zoo:start -->", "<!-- zoo:end -->"
MEASURED_START, MEASURED_END = "<!-- measured:start -->", "<!-- measured:end -->"
FOUNDATION = ROOT / "results" / "foundation.json"
MANIFEST = ROOT / "minivlm" / "zoo_weights" / "manifest.json"
VERDICT = {True: "yes", False: "no", None: "—"}


def table(folder: Path = ROOT / "results") -> str:
    rows = ["| notebook | claim | measured (mean ± s.e. over seeds) | paper's direction? | full-mode run |",
            "|---|---|---|---|---|"]
    for path in sorted(folder.glob("[0-9][0-9].json")):
        data = json.loads(path.read_text())
        cpu = data.get("cpu_seconds")
        cpu = f", {cpu:.0f} s CPU" if cpu is not None and data["machine"]["device"] == "cpu" else ""
        run = f"{data['wall_seconds']:.0f} s wall{cpu} on {machine_words(data['machine'])}, {data['date']}"
        for h in data["figures"].get("headlines", []):
            rows.append(f"| {data['notebook']} | {h['claim']} | {h['measured']} | {VERDICT[h['reproduces']]} | {run} |")
    if len(rows) == 2:
        rows.append("| — | no full-mode results yet: run `make results` | | | |")
    return "\n".join(rows)


def _figures(quality: dict, prefix: str = "") -> list[str]:
    """'name value' for every number in a base's quality record (nested dicts flattened)."""
    out = []
    for key, value in quality.items():
        if isinstance(value, dict):
            out += _figures(value, f"{prefix}{key} ")
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and not key.endswith("seconds"):
            out.append(f"`{prefix}{key}` {value:g}")
        elif isinstance(value, str):
            out.append(f"`{prefix}{key}`: {value}")
    return out


def zoo_table(manifest: Path = MANIFEST) -> str:
    """One row per shipped base: its file size, how it was trained, and every quality figure."""
    rows = ["| base | shipped | trained | quality on held-out toy-world data (benchmarks/zoo.py) |", "|---|---|---|---|"]
    for name, entry in json.loads(manifest.read_text()).items():
        if not isinstance(entry, dict) or "quality" not in entry:
            continue
        trained = f"{entry['train_seconds'] / 60:.0f} min on {entry['device']}" if entry.get("train_seconds") else "—"
        rows.append(f"| {name} | {entry['bytes'] / 1e6:.2f} MB ({entry.get('dtype', '')}) | {trained} | "
                    f"{'; '.join(_figures(entry['quality']))} |")
    return "\n".join(rows) + "\n\n" + missed_line(manifest)


def missed_line(manifest: Path = MANIFEST) -> str:
    """The targets the shipped bases miss, as `benchmarks/zoo.py` recorded them ('targets_missed')."""
    missed = [f"{name}: {', '.join(entry['quality']['targets_missed'])}"
              for name, entry in json.loads(manifest.read_text()).items()
              if isinstance(entry, dict) and entry.get("quality", {}).get("targets_missed")]
    return ("Targets not met (benchmarks/zoo.py `TARGETS`): " + "; ".join(missed) + "." if missed
            else "The shipped bases meet every target benchmarks/zoo.py recorded in the manifest (`TARGETS`).")


def machine_words(m: dict) -> str:
    """A `minivlm.results.machine()` record in words: '2 CPU cores (torch threads: 1)' (with the
    load average when more ran than there are cores), or the GPU's name."""
    if m["device"] != "cpu":
        return m["name"]
    load = m.get("load_average") or 0
    shared = f", load {load}" if load > m["cpu_cores"] else ""
    return f"{m['cpu_cores']} CPU cores (torch threads: {m['torch_threads']}{shared})"


def measured_table(foundation: Path = FOUNDATION, manifest: Path = MANIFEST) -> str:
    """The foundation's figures, each row with the date and machine it was measured on."""
    rows = ["| what | measured | when, on what |", "|---|---|---|"]
    found = json.loads(foundation.read_text()) if foundation.exists() else {}

    def row(what: str, figure: str, section: dict) -> None:
        rows.append(f"| {what} | {figure} | {section['date']}, {machine_words(section['machine'])} |")

    if "data" in found:
        d = found["data"]
        row("toy-world clips generated (8 frames, 64×64)", f"{d['clips_per_s_8x64x64']} per second", d)
        row("decord: open an .mp4 and decode 8 frames", f"{d['decord_frames_per_s_open_plus_8']} frames per second", d)
        row("H.264 round trip (lossless, colour at half resolution: YUV 4:2:0), mean absolute pixel error",
            f"{d['h264_round_trip_mean_abs_error_of_255']} / 255", d)
    if "shipped_bases" in found:
        b = found["shipped_bases"]
        row("shipped bases (`minivlm/zoo_weights/`, manifest included)", f"{b['bytes'] / 1e6:.2f} MB ({b['bytes']:,} bytes, "
            f"{b['files']} files)", b)
    if "repository_download" in found:
        r = found["repository_download"]
        row("a clone's download: the whole history (`git clone`) / the newest commit only (`git clone "
            "--filter=blob:none`, `pip install` from git; measured as a depth-1 clone)",
            f"{r['full_history_bytes'] / 1e6:.1f} MB / {r['newest_commit_only_bytes'] / 1e6:.1f} MB", r)
    load = json.loads(manifest.read_text()).get("load_from_empty_cache", {})
    if "toy_clip_s" in load:
        rows.append(f"| a fresh process with an empty cache: `import minivlm.zoo` / `toy_clip()` / `toy_lm()` / both "
                    f"video towers (benchmarks/zoo.py) | {load['import_s']} s / {load['toy_clip_s']} s / "
                    f"{load['toy_lm_s']} s / {load['toy_video_both_s']} s; trained anything: "
                    f"{'yes' if load.get('trained_into_empty_cache') else 'no'} | "
                    f"{load['date']}, {machine_words(load['machine'])} |" if "machine" in load else "not recorded |")
    if "fresh_clone" in found:
        c = found["fresh_clone"]
        counts = ", ".join(f"{v} {k}" for k, v in c["make_test_counts"].items())
        row(f"a fresh clone (commit {c['commit']}): `make setup` (venv and packages, with this machine's pip "
            "cache) / `make lab` until JupyterLab answers",
            f"{c['make_setup_s']} s / {c['make_lab_until_jupyterlab_answers_s']} s", c)
        row("the same clone: `make test` (every test and notebook in fast mode)", f"{c['make_test_s']} s ({counts})", c)
    if len(rows) == 2:
        rows.append("| — | nothing measured yet: run `python benchmarks/foundation.py --fresh-clone --write` | |")
    return "\n".join(rows)


def _replace(text: str, start: str, end: str, body: str) -> str | None:
    if start not in text or end not in text:
        return None
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    readme = (ROOT / "README.md").read_text()
    new = _replace(readme, START, END, table())
    new = new and _replace(new, ZOO_START, ZOO_END, zoo_table())
    new = new and _replace(new, MEASURED_START, MEASURED_END, measured_table())
    if new is None:
        print(f"README.md lacks one of the marker pairs {START} … {END}, {ZOO_START} … {ZOO_END}, "
              f"{MEASURED_START} … {MEASURED_END}")
        return 1
    if args.check:
        if new != readme:
            print("README.md's results table differs from results/*.json: run python tools/results_tables.py")
            return 1
        return 0
    (ROOT / "README.md").write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
