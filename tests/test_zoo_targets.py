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


def test_readme_measured_here_rows_come_from_the_measured_files(tmp_path):
    here = {"device": "cpu", "name": "x86_64", "cpu_cores": 2, "torch_threads": 2, "load_average": 1.0}
    stamp = {"date": "2026-01-02", "machine": here}
    foundation = tmp_path / "foundation.json"
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"load_from_empty_cache": {"import_s": 3.1, "toy_clip_s": 0.3, "toy_lm_s": 0.1,
                                                              "toy_video_both_s": 2.0,
                                                              "trained_into_empty_cache": False, **stamp}}))
    empty = tables.measured_table(foundation, manifest)
    assert "3.1 s / 0.3 s / 0.1 s / 2.0 s; trained anything: no" in empty
    assert "clips generated" not in empty and "fresh clone" not in empty and "download" not in empty
    foundation.write_text(json.dumps({
        "data": {"clips_per_s_8x64x64": 1234, "decord_frames_per_s_open_plus_8": 567,
                 "h264_round_trip_mean_abs_error_of_255": 2.5, **stamp},
        "shipped_bases": {"bytes": 7_000_001, "files": 9, **stamp},
        "repository_download": {"full_history_bytes": 28_340_000, "newest_commit_only_bytes": 8_760_000, **stamp},
        "fresh_clone": {"commit": "abc1234", "make_setup_s": 300, "make_lab_until_jupyterlab_answers_s": 31,
                        "make_test_s": 250, "make_test_counts": {"passed": 490, "skipped": 27}, **stamp}}))
    table = tables.measured_table(foundation, manifest)
    for expected in ("| 1234 per second | 2026-01-02, 2 CPU cores (torch threads: 2) |",
                     "567 frames per second", "2.5 / 255",
                     "7.00 MB (7,000,001 bytes, 9 files)", "commit abc1234", "300 s / 31 s",
                     "250 s (490 passed, 27 skipped)", "| 28.3 MB / 8.8 MB |"):
        assert expected in table, expected
    busy = {**stamp, "machine": {**here, "load_average": 3.5}}
    manifest.write_text(json.dumps({"load_from_empty_cache": {"import_s": 3.1, "toy_clip_s": 0.3, "toy_lm_s": 0.1,
                                                              "toy_video_both_s": 2.0, **busy}}))
    assert "(torch threads: 2, load 3.5) |" in tables.measured_table(foundation, manifest)
    manifest.write_text("{}")
    foundation.unlink()
    assert "nothing measured yet" in tables.measured_table(foundation, manifest)
