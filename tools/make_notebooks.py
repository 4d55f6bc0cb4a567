"""Build the course notebooks from their sources in course/.

Each source is a Python file in "percent" format: cells start with `# %%` (code) or
`# %% [markdown]` (text; every line starts with `# `). Exercise code sits between
`# BEGIN SOLUTION` and `# END SOLUTION`: notebooks/ gets the exercise (that block replaced by
`raise NotImplementedError`), solutions/ gets it solved. One source, so the two never drift.

    python tools/make_notebooks.py          # write notebooks/ and solutions/
    python tools/make_notebooks.py --check  # fail if they differ from the sources
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "course"
KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}


def parse_cells(text: str) -> list[tuple[str, str]]:
    cells: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("# %%"):
            kind = "markdown" if "[markdown]" in line else "code"
            cells.append((kind, []))
        elif cells:
            cells[-1][1].append(line)
    out = []
    for kind, lines in cells:
        while lines and not lines[-1].strip():
            lines.pop()
        while lines and not lines[0].strip():
            lines.pop(0)
        if kind == "markdown":
            lines = [re.sub(r"^# ?", "", line) for line in lines]
        out.append((kind, "\n".join(lines)))
    return out


def exercise_version(code: str) -> str:
    """Replace each solution block with a NotImplementedError, keeping its indentation."""
    pattern = re.compile(r"^([ \t]*)# BEGIN SOLUTION\n.*?^[ \t]*# END SOLUTION\n?", re.S | re.M)
    return pattern.sub(lambda m: f"{m.group(1)}# YOUR CODE HERE\n{m.group(1)}raise NotImplementedError\n", code)


def solution_version(code: str) -> str:
    return re.sub(r"^[ \t]*# (BEGIN|END) SOLUTION\n?", "", code, flags=re.M)


def notebook(cells: list[tuple[str, str]], solved: bool) -> dict:
    nb_cells = []
    for index, (kind, source) in enumerate(cells):
        if kind == "code":
            source = solution_version(source) if solved else exercise_version(source)
            nb_cells.append({"cell_type": "code", "execution_count": None, "id": f"cell-{index}", "metadata": {}, "outputs": [],
                             "source": source.splitlines(keepends=True)})
        else:
            nb_cells.append({"cell_type": "markdown", "id": f"cell-{index}", "metadata": {}, "source": source.splitlines(keepends=True)})
    return {"cells": nb_cells, "metadata": {"kernelspec": KERNEL, "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def render(source: Path) -> dict[Path, str]:
    cells = parse_cells(source.read_text())
    name = source.stem + ".ipynb"
    return {ROOT / "notebooks" / name: json.dumps(notebook(cells, solved=False), indent=1, ensure_ascii=False) + "\n",
            ROOT / "solutions" / name: json.dumps(notebook(cells, solved=True), indent=1, ensure_ascii=False) + "\n"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the notebooks are up to date")
    parser.add_argument("sources", nargs="*", type=Path, help="course/*.py files (default: all)")
    args = parser.parse_args()
    sources = args.sources or sorted(SOURCES.glob("[0-9][0-9]_*.py"))
    stale = []
    for source in sources:
        for path, text in render(source).items():
            if args.check:
                if not path.exists() or path.read_text() != text:
                    stale.append(path)
            else:
                path.parent.mkdir(exist_ok=True)
                path.write_text(text)
    if stale:
        print("out of date (run python tools/make_notebooks.py):", *map(str, stale), sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
