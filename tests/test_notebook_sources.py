"""The committed notebooks are generated from course/ and carry no outputs."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_notebooks_match_their_sources():
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "make_notebooks.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_notebook_has_a_solution_and_exercises_are_stubbed():
    for source in sorted((ROOT / "course").glob("[0-9][0-9]_*.py")):
        exercise = json.loads((ROOT / "notebooks" / f"{source.stem}.ipynb").read_text())
        solution = json.loads((ROOT / "solutions" / f"{source.stem}.ipynb").read_text())
        ex_code = "".join("".join(c["source"]) for c in exercise["cells"] if c["cell_type"] == "code")
        sol_code = "".join("".join(c["source"]) for c in solution["cells"] if c["cell_type"] == "code")
        if "# BEGIN SOLUTION" in source.read_text():
            assert "raise NotImplementedError" in ex_code and "BEGIN SOLUTION" not in sol_code
        assert source.read_text().count("Exercise") >= 2, f"{source.name} needs at least two exercises"


def test_committed_notebooks_have_no_outputs():
    for folder in ("notebooks", "solutions"):
        for path in (ROOT / folder).glob("*.ipynb"):
            nb = json.loads(path.read_text())
            assert all(not c.get("outputs") and not c.get("execution_count") for c in nb["cells"] if c["cell_type"] == "code"), path
