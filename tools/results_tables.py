"""Regenerate the README's table of measured results from results/NN.json (never typed by hand).

    python tools/results_tables.py          # rewrite the part of README.md between the markers
    python tools/results_tables.py --check  # fail if README.md is not what the files say

Each notebook's full-mode run writes results/NN.json (`minivlm.results.Record`); its
'headlines' become rows: the claim, what was measured, whether it goes the paper's way.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- results:start -->", "<!-- results:end -->"
VERDICT = {True: "yes", False: "no", None: "—"}


def table(folder: Path = ROOT / "results") -> str:
    rows = ["| notebook | claim | measured (mean ± s.e. over seeds) | paper's direction? | full-mode run |",
            "|---|---|---|---|---|"]
    for path in sorted(folder.glob("[0-9][0-9].json")):
        data = json.loads(path.read_text())
        m = data["machine"]
        shared = f", load {m['load_average']}" if (m.get("load_average") or 0) > m["cpu_cores"] else ""
        cpu = data.get("cpu_seconds", data["figures"].get("cpu_seconds"))
        cpu = f", {cpu:.0f} s CPU" if cpu is not None else ""
        run = f"{data['wall_seconds']:.0f} s wall{cpu} on {m['cpu_cores']} CPU cores (torch threads: {m['torch_threads']}{shared}), {data['date']}" \
            if m["device"] == "cpu" else f"{data['wall_seconds']:.0f} s on {m['name']}, {data['date']}"
        for h in data["figures"].get("headlines", []):
            rows.append(f"| {data['notebook']} | {h['claim']} | {h['measured']} | {VERDICT[h['reproduces']]} | {run} |")
    if len(rows) == 2:
        rows.append("| — | no full-mode results yet: run `make results` | | | |")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    readme = (ROOT / "README.md").read_text()
    if START not in readme or END not in readme:
        print(f"README.md lacks the markers {START} … {END}")
        return 1
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{START}\n{table()}\n{END}{tail}"
    if args.check:
        if new != readme:
            print("README.md's results table differs from results/*.json: run python tools/results_tables.py")
            return 1
        return 0
    (ROOT / "README.md").write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
