import json
import os

import pytest
import torch
from torch import nn

from minivlm.checks import compare, difference
from minivlm.eval import accuracy, accuracy_by_kind, chance_by_kind, confusion, exact_match, leaderboard
from minivlm.train import History, TrainConfig, load_checkpoint, lr_at, random_batches, save_checkpoint, train


def test_lr_schedule_warms_up_then_decays():
    cfg = TrainConfig(steps=100, lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    lrs = [lr_at(s, cfg) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:])) and lrs[-1] == pytest.approx(0.1, abs=0.01)


def test_random_batches_cover_every_example_each_epoch():
    data = {"x": torch.arange(10)}
    it = random_batches(data, 5, seed=0)
    seen = torch.cat([next(it)["x"], next(it)["x"]])
    assert sorted(seen.tolist()) == list(range(10))


def _regression():
    torch.manual_seed(0)
    x = torch.randn(64, 3)
    return {"x": x, "y": x @ torch.tensor([1.0, -2.0, 0.5])}


def test_training_is_deterministic_and_learns():
    def run():
        torch.manual_seed(1)
        model = nn.Linear(3, 1)
        loss = lambda m, b: ((m(b["x"]).squeeze(-1) - b["y"]) ** 2).mean()  # noqa: E731
        h = train(model, random_batches(_regression(), 16), TrainConfig(steps=150, lr=0.05, progress=False, log_every=1),
                  loss_fn=loss, eval_fn=lambda m: {"w0": m.weight[0, 0].item()}, eval_every=50)
        return h, model

    h1, m1 = run()
    h2, m2 = run()
    assert h1.loss == h2.loss and torch.equal(m1.weight, m2.weight)
    assert h1.final_loss() < 0.05 * h1.loss[0]
    assert [s for s, _ in h1.metrics["w0"]] == [49, 99, 149]


def test_seeding_asks_a_gpu_for_deterministic_kernels_and_leaves_a_cpu_alone(monkeypatch):
    from minivlm import runtime

    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cuda.flash_sdp_enabled(),
              torch.backends.cuda.mem_efficient_sdp_enabled())
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    runtime.seed_everything(0)
    assert (torch.are_deterministic_algorithms_enabled(), torch.backends.cuda.flash_sdp_enabled(),
            torch.backends.cuda.mem_efficient_sdp_enabled()) == before
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    try:
        runtime.seed_everything(0)
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()  # an op without one warns, never fails
        assert not torch.backends.cuda.flash_sdp_enabled() and not torch.backends.cuda.mem_efficient_sdp_enabled()
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.backends.cuda.enable_flash_sdp(before[1])
        torch.backends.cuda.enable_mem_efficient_sdp(before[2])
    assert os.environ.get("CUBLAS_WORKSPACE_CONFIG")  # set on import: cuBLAS reads it when it starts


def test_the_device_is_the_cpu_unless_minivlm_device_names_one(monkeypatch):
    from minivlm import build, runtime

    monkeypatch.delenv("MINIVLM_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a GPU present changes nothing
    assert runtime.default_device() == torch.device("cpu")
    assert build("llava-1.5").device == torch.device("cpu")
    monkeypatch.setenv("MINIVLM_DEVICE", "cuda:1")
    assert runtime.default_device() == torch.device("cuda:1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="MINIVLM_DEVICE='cuda:1', but torch sees no CUDA GPU here; unset it"):
        runtime.default_device()
    monkeypatch.setenv("MINIVLM_DEVICE", "gpu")
    with pytest.raises(ValueError, match="MINIVLM_DEVICE='gpu' names no torch device; use cpu, cuda"):
        runtime.default_device()


def test_checkpoint_round_trip(tmp_path):
    model = nn.Linear(3, 2)
    h = History(step=[0], loss=[1.0], lr=[0.1])
    save_checkpoint(tmp_path / "m.pt", model, h)
    other = nn.Linear(3, 2)
    h2 = load_checkpoint(tmp_path / "m.pt", other)
    assert torch.equal(model.weight, other.weight) and h2.loss == [1.0]
    assert json.loads((tmp_path / "m.history.json").read_text())["loss"] == [1.0]
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt", other)


def test_exact_match_and_accuracy_by_kind():
    assert exact_match("Red .", "red") and not exact_match("red circle", "red")
    acc = accuracy_by_kind(["red", "two", "left"], ["red", "three", "left"], ["colour", "count", "direction"])
    assert acc == {"colour": 1.0, "count": 0.0, "direction": 1.0, "all": pytest.approx(2 / 3)}
    assert accuracy([], []) != accuracy([], [])  # nan
    with pytest.raises(ValueError):
        accuracy(["a"], [])


def test_chance_is_the_majority_answer():
    assert chance_by_kind(["a", "a", "b", "c"], ["k"] * 4) == {"k": 0.5, "all": 0.5}


def test_confusion_matrix():
    labels, m = confusion(["red", "red", "blue"], ["red", "blue", "blue"])
    assert labels == ["blue", "red"] and m == [[1, 1], [0, 1]]


def test_leaderboard_lists_every_model():
    text = leaderboard({"mlp": {"all": 0.9, "colour": 1.0}, "linear": {"all": 0.5}})
    assert "mlp" in text and "linear" in text and "0.90" in text and "-" in text


def test_exercise_checks_report_right_wrong_and_not_done(capsys, monkeypatch):
    def todo(x):
        raise NotImplementedError

    monkeypatch.setenv("MINIVLM_STRICT_CHECKS", "0")  # a learner's run: print, do not stop
    assert compare("double", lambda x: 2 * x, lambda x: x + x, [(1,), (3,)])
    assert not compare("double", lambda x: 3 * x, lambda x: x + x, [(1,)])
    assert not compare("double", todo, lambda x: x + x, [(1,)])
    out = capsys.readouterr().out
    assert "✅" in out and "❌" in out and "not done yet" in out
    assert difference(torch.zeros(2), torch.zeros(3)).startswith("shape")


def test_a_parameter_group_with_an_lr_scale_learns_that_much_faster():
    model = torch.nn.Module()
    model.slow = torch.nn.Parameter(torch.zeros(1))
    model.fast = torch.nn.Parameter(torch.zeros(1))
    batches = iter(lambda: {}, None)
    train(model, batches, TrainConfig(steps=1, lr=1e-3, warmup_steps=0, progress=False),
          loss_fn=lambda m, b: -(m.slow + m.fast).sum(),
          parameters=[{"params": [model.slow]}, {"params": [model.fast], "lr_scale": 10.0}])
    # one Adam step moves each parameter by its learning rate
    torch.testing.assert_close(model.slow.detach(), torch.tensor([1e-3]))
    torch.testing.assert_close(model.fast.detach(), torch.tensor([1e-2]))


def test_under_test_a_wrong_exercise_answer_raises(monkeypatch):
    from minivlm.checks import CheckFailed

    monkeypatch.setenv("MINIVLM_STRICT_CHECKS", "1")
    with pytest.raises(CheckFailed, match="double"):
        compare("double", lambda x: 3 * x, lambda x: x + x, [(1,)])
    assert not compare("double", lambda x: (_ for _ in ()).throw(NotImplementedError()), lambda x: x + x, [(1,)])


def test_intervals_and_verdicts_only_call_a_difference_the_interval_supports(tmp_path, monkeypatch):
    from minivlm.results import Record, interval, mean_se, verdict

    assert mean_se([1.0, 2.0, 3.0]) == pytest.approx((2.0, 1 / 3 ** 0.5))
    assert interval([0.5, 0.5]).startswith("0.500 ± 0.000 (2 seeds)")
    assert verdict([0.9, 0.91, 0.89], [0.5, 0.52, 0.48], ("mlp", "linear")).startswith("mlp is better")
    assert verdict([0.5, 0.52, 0.48], [0.9, 0.91, 0.89], ("mlp", "linear")).startswith("linear is better")
    assert "not distinguishable" in verdict([0.70, 0.80, 0.60], [0.72, 0.62, 0.82])
    assert "not distinguishable" in verdict([0.9], [0.1])  # one seed: no interval
    assert verdict([1.0, 1.1, 0.9], [2.0, 2.1, 1.9], ("a", "b"), higher_is_better=False).startswith("a is better")
    record = Record("99")
    record.add("accuracy", {"mlp": [0.9, 0.8]})
    assert record.save(tmp_path) is None  # fast mode: smoke numbers are never results
    monkeypatch.setenv("MINIVLM_FAST", "0")
    saved = json.loads(record.save(tmp_path).read_text())
    assert saved["figures"] == {"accuracy": {"mlp": [0.9, 0.8]}} and saved["machine"]["cpu_cores"] >= 1
    assert saved["wall_seconds"] >= 0 and saved["cpu_seconds"] > 0  # what the run cost, written by save itself


def test_direction_reads_the_interval_three_ways(capsys):
    from minivlm.results import Record, direction

    better, worse, close = [0.8, 0.82, 0.81], [0.5, 0.52, 0.51], [0.79, 0.83, 0.80]
    assert direction(better, worse) is True and direction(worse, better) is False
    assert direction(better, close) is None  # within 2 standard errors: not distinguishable here
    assert direction(worse, better, higher_is_better=False) is True  # a loss: lower is better
    assert direction([0.9], [0.1]) is None  # one seed gives no interval
    record = Record("99")
    record.headline("A beats B", "0.81 vs 0.51", direction(better, worse))
    record.headline("A beats C", "0.81 vs 0.81", direction(better, close))
    record.headline("no claim", "0.5", None, paper_claim=False)
    record.scorecard()
    out = capsys.readouterr().out
    assert "goes the paper's way" in out and "not distinguishable here" in out and "no paper claim" in out


def test_chat_about_asks_the_world_questions_and_shows_the_truth(capsys):
    from minivlm.data import NUMBER_WORDS, sample_scene
    from minivlm.eval import chat_about

    class Echo:  # a stand-in model: answers every question with the number of frames it got
        def chat(self, media, question, max_new_tokens=8):
            return str(media.num_frames)

    scene = sample_scene("test", 3)
    rows = chat_about(Echo(), scene, num_frames=6, kinds=("count", "shape"))
    assert [r[1] for r in rows] == ["6", "6"]
    assert rows[0][0] == "how many objects are there ?" and rows[0][2] == NUMBER_WORDS[len(scene.objects)]
    out = capsys.readouterr().out
    assert "(truth: " in out and "truth: there" not in out  # no description unless shown

    import matplotlib
    import matplotlib.pyplot as plt

    from minivlm.data import describe

    matplotlib.use("Agg")
    plt.close("all")
    chat_about(Echo(), scene, num_frames=6, kinds=("count",), show=True)
    assert f"truth: {describe(scene)}" in capsys.readouterr().out
    assert len(plt.gcf().axes) >= 6  # the six frames the model was asked about, drawn
    plt.close("all")
