"""The committed notebooks are generated from course/ (without outputs: `--check` compares exact text)."""

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_notebooks_match_their_sources():
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "make_notebooks.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_notebook_has_two_exercises_each_stubbed_and_solved():
    for source in sorted((ROOT / "course").glob("[0-9][0-9]_*.py")):
        text = source.read_text()
        exercise = json.loads((ROOT / "notebooks" / f"{source.stem}.ipynb").read_text())
        solution = json.loads((ROOT / "solutions" / f"{source.stem}.ipynb").read_text())
        ex_code = "".join("".join(c["source"]) for c in exercise["cells"] if c["cell_type"] == "code")
        sol_code = "".join("".join(c["source"]) for c in solution["cells"] if c["cell_type"] == "code")
        assert len(re.findall(r"^# ### Exercise \d", text, flags=re.M)) >= 2, f"{source.name} needs two exercises"
        blocks = text.count("# BEGIN SOLUTION")
        assert blocks >= 2 and ex_code.count("# YOUR CODE HERE") == blocks, source.name  # every block stubbed
        assert "BEGIN SOLUTION" not in sol_code and "YOUR CODE HERE" not in sol_code, source.name


def test_every_committed_notebook_has_a_source():
    sources = {p.stem for p in (ROOT / "course").glob("[0-9][0-9]_*.py")}
    for folder in ("notebooks", "solutions"):
        assert {p.stem for p in (ROOT / folder).glob("*.ipynb")} == sources, folder


def test_readme_results_table_is_generated_from_the_results_files():
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "results_tables.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
