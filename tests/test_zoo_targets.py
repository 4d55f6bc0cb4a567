"""The zoo's quality targets: which a base misses is computed from its figures, and the README's
line of missed targets is generated from the manifest, not typed."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load(ROOT / "benchmarks" / "zoo.py", "bench_zoo")
tables = _load(ROOT / "tools" / "results_tables.py", "results_tables")


def test_missed_targets_lists_each_figure_below_its_target():
    figures = {"zero_shot_shape_x_colour": 0.99, "where_probe_3_objects": 0.77, "position_probe": 0.95}
    assert bench.missed_targets("toy_clip", figures) == ["where_probe_3_objects 0.77 < 0.9"]
    assert bench.missed_targets("toy_clip", {**figures, "where_probe_3_objects": 0.9}) == []


def test_missed_targets_checks_every_kind_and_nested_figures():
    good = {"colour": 1.0, "direction": 0.8}
    figures = {"text_context_accuracy": {**good, "when": 0.79}, "text_context_accuracy_placeholder_first": good,
               "naming_in_words_by_shots": {"0": 0.1, "4": 0.85}}
    assert bench.missed_targets("toy_lm", figures) == ["text_context_accuracy when 0.79 < 0.8",
                                                       "naming_in_words_by_shots 4 0.85 < 0.9"]


def test_a_target_without_its_figure_is_missed():
    assert bench.missed_targets("toy_lm", {}) == [
        "text_context_accuracy not measured (target 0.8)",
        "text_context_accuracy_placeholder_first not measured (target 0.8)",
        "naming_in_words_by_shots 4 not measured (target 0.9)"]


def test_readme_line_of_missed_targets_comes_from_the_manifest(tmp_path):
    manifest = {"toy_clip": {"quality": {"targets_missed": ["where_probe_3_objects 0.77 < 0.9"]}},
                "toy_lm": {"quality": {"targets_missed": []}}, "load_from_empty_cache": {"import_s": 1.0}}
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    assert tables.missed_line(path) == ("Targets not met (benchmarks/zoo.py `TARGETS`): toy_clip: "
                                        "where_probe_3_objects 0.77 < 0.9.")
    manifest["toy_clip"]["quality"]["targets_missed"] = []
    path.write_text(json.dumps(manifest))
    assert "meet every target" in tables.missed_line(path)
