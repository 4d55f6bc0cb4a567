"""The package's layout: one way to do each thing, and no file a learner cannot see."""

import re
from pathlib import Path

import minivlm

ROOT = Path(minivlm.__file__).resolve().parent
WINDOW = 6


def _code_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, code folded to single spaces) for lines that carry code: no blank lines,
    comments, docstring-only punctuation or imports."""
    out = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        text = " ".join(line.split())
        if not text or text.startswith(("#", "import ", "from ")) or re.fullmatch(r"[\W_]+", text):
            continue
        out.append((number, text))
    return out


def test_no_block_of_six_code_lines_stands_twice_in_the_package():
    seen: dict[tuple[str, ...], str] = {}
    repeats = []
    for path in sorted(ROOT.rglob("*.py")):
        lines = _code_lines(path)
        for k in range(len(lines) - WINDOW + 1):
            block = tuple(text for _, text in lines[k:k + WINDOW])
            where = f"{path.relative_to(ROOT)}:{lines[k][0]}"
            if block in seen and not seen[block].startswith(f"{path.relative_to(ROOT)}:"):
                repeats.append(f"{where} repeats {seen[block]}")
            seen.setdefault(block, where)
    assert not repeats, "call the existing code instead of writing it again:\n" + "\n".join(repeats[:10])


def test_docstrings_cite_only_files_in_the_repository():
    for path in sorted(ROOT.rglob("*.py")):
        for name in re.findall(r"\b([A-Z]+\.md)\b", path.read_text()):
            assert (ROOT.parent / name).exists(), f"{path.name} cites {name}, which is not in the repository"


def test_every_preset_is_a_config_of_a_known_family():
    from minivlm.presets import PRESETS
    from minivlm.vlm import FAMILIES

    assert {"flamingo", "llava", "llava-1.5", "video-chatgpt", "valley"} <= set(PRESETS)
    for name, config in PRESETS.items():
        assert config.name == name and config.fusion in FAMILIES
