import hashlib
import time

import numpy as np
import pytest
import torch

from minivlm import zoo
from minivlm.audio import AUDIO_BASES, audio_recipe
from minivlm.video_tower import VIDEO_TOWERS, tower_recipe


def test_toy_clip_is_built_once_then_loaded_identically():
    a = zoo.toy_clip(progress=False)
    b = zoo.toy_clip(progress=False)
    for (k, v), (_, w) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(v, w), k


def test_toy_lm_is_built_once_then_loaded_identically():
    lm, tok = zoo.toy_lm(progress=False)
    lm2, tok2 = zoo.toy_lm(progress=False)
    x = torch.tensor([tok("how many objects are there ?").input_ids])
    assert torch.equal(lm(x).logits, lm2(x).logits)


def test_toy_vision_encoder_is_frozen():
    enc = zoo.toy_vision_encoder()
    assert not any(p.requires_grad for p in enc.parameters())
    assert enc(torch.randn(1, 3, 64, 64)).shape[0] == 1


def _digests(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith(".log.json")}


def test_a_recipe_builds_the_same_bytes_twice(tmp_path, monkeypatch):
    for run in ("a", "b"):
        monkeypatch.setenv("MINIVLM_CACHE", str(tmp_path / run))
        zoo.toy_clip(progress=False)
        zoo.toy_lm(progress=False)
    a, b = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    assert len(a) >= 3 and a == b


def test_an_interrupted_build_resumes_to_the_same_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIVLM_CACHE", str(tmp_path / "whole"))
    whole = zoo.toy_clip(progress=False).state_dict()
    monkeypatch.setenv("MINIVLM_CACHE", str(tmp_path / "cut"))
    monkeypatch.setattr(zoo, "CHECKPOINT_SECONDS", 0)  # checkpoint after every step
    real_batch = zoo.clip_batch

    def failing_batch(recipe, step):
        if step == 5:
            raise KeyboardInterrupt
        return real_batch(recipe, step)

    monkeypatch.setattr(zoo, "clip_batch", failing_batch)
    with pytest.raises(KeyboardInterrupt):
        zoo.toy_clip(progress=False)
    assert list((tmp_path / "cut").rglob("*.ckpt"))
    monkeypatch.setattr(zoo, "clip_batch", real_batch)
    resumed = zoo.toy_clip(progress=False).state_dict()
    assert not list((tmp_path / "cut").rglob("*.ckpt"))
    for k in whole:
        assert torch.equal(whole[k], resumed[k]), k


def test_placed_captions_fit_the_clip_context():
    from minivlm.data import WorldConfig, sample_scene
    from minivlm.vision import clip_tokenizer

    tokenizer = clip_tokenizer()
    texts = [zoo.placed_caption(sample_scene("train", k, WorldConfig(min_objects=3)), 0.5) for k in range(50)]
    tokens = tokenizer(texts)
    assert (tokens == tokens.max()).any(1).all()  # every caption keeps its end-of-text token
    assert all(" at the " in t for t in texts)


def test_lm_corpus_can_put_placeholders_before_the_context():
    chats = zoo.lm_corpus(20, media_share=1.0, order_questions=3)
    firsts = {c[0]["content"].split()[0] for c in chats}
    assert firsts <= {"<video>", "<image>"}
    plain = zoo.lm_corpus(5)
    assert not any(c[0]["content"].startswith("<") for c in plain)


def test_lm_corpus_teaches_the_soundtrack_only_where_asked():
    from minivlm.data import caption, describe, sample_scene, sound_caption, soundtrack

    plain = zoo.lm_corpus(15, order_questions=2)
    assert not any("voice say" in c[0]["content"] or "is heard" in c[0]["content"] for c in plain)
    assert zoo.lm_corpus(15, order_questions=2, sound_share=0.0) == plain
    heard = zoo.lm_corpus(15, order_questions=2, sound_share=1.0)
    noise = [c for c in heard if "what noise is heard" in c[0]["content"]]
    speech = [c for c in heard if "what does the voice say" in c[0]["content"]]
    assert noise and speech
    for c in noise + speech:  # the answer is in the context (before the question): the LM learns to read it there
        context = c[0]["content"].split(" what ")[0]
        assert "the voice says" in context
        assert c[1]["content"].split()[-1] in context.split()
    captions = [c for c in heard if c[0]["content"].endswith("describe the video in one sentence .")]
    assert captions and all(c[1]["content"].endswith(" is heard .") for c in captions)
    # the description names every word and noise, in time order, after the picture's description
    scene = sample_scene("train", 3)
    text = describe(scene, sound=True)
    assert text.startswith(describe(scene) + " at ")
    sound = text[len(describe(scene)):]
    times = [float(part.split()[0]) for part in sound.split(" at ")[1:]]
    assert len(times) == len(soundtrack(scene).words) + len(soundtrack(scene).noises)
    assert times == sorted(times)
    assert all(f"the voice says {u.word} ." in sound for u in soundtrack(scene).words)
    assert all(f"{n.name} is heard ." in sound for n in soundtrack(scene).noises)
    assert caption(scene, sound=True) == f"{caption(scene)} {sound_caption(scene)}"


def test_lm_corpus_asks_several_distinct_questions_about_one_context_where_asked():
    once = zoo.lm_corpus(40, kinds=["direction"])
    assert zoo.lm_corpus(40, kinds=["direction"], questions={"direction": 1}) == once
    many = zoo.lm_corpus(40, kinds=["direction"], questions={"direction": 4})
    by_context: dict[str, list[str]] = {}
    for c in many:
        context, question = c[0]["content"].split(" which way ")
        by_context.setdefault(context, []).append(question)
    assert len(many) > len(once) and len(by_context) == len(once)
    assert any(len(qs) > 1 for qs in by_context.values())  # different objects asked about the same scene
    assert all(len(set(qs)) == len(qs) for qs in by_context.values())  # never the same question twice
    for c in many:  # each answer is that object's own direction, told in its context
        name = c[0]["content"].split("which way does the ")[1].split(" move first")[0]
        assert f"the {name} moves {c[1]['content']} ." in c[0]["content"]


def test_binding_corpus_asks_every_mover_of_a_crowded_scene_and_grows_its_contexts_in_order():
    chats = zoo.binding_corpus(60, start=40_000_000, curriculum=0.5)
    assert len(chats) == 60 and chats == zoo.binding_corpus(60, start=40_000_000, curriculum=0.5)
    by_context: dict[str, list[str]] = {}
    for c in chats:
        context, question = c[0]["content"].split(" which way ")
        assert not context.startswith("there is one")  # one object: nothing to bind
        name = question.split("does the ")[1].split(" move first")[0]
        assert f"the {name} moves {c[1]['content']} ." in context  # its own direction, told in its context
        by_context.setdefault(context, []).append(name)
    assert any(len(names) > 1 for names in by_context.values())  # several movers of one scene are asked about
    events = [c[0]["content"].count(" seconds ") for c in chats]
    assert events[0] == 0 and max(events[:10]) <= max(events[-10:])  # short contexts first
    full = zoo.binding_corpus(60, start=40_000_000)
    assert [c[1] for c in full] == [c[1] for c in chats]  # the same questions, every event told
    assert sum(c[0]["content"].count(" seconds ") for c in full) > sum(events)
    assert all(c[0]["content"].startswith("<video> ") for c in zoo.binding_corpus(5, 40_000_000, media_share=1.0))


def test_when_binding_tells_every_appear_and_disappear_and_grows_only_the_other_events():
    chats = zoo.binding_corpus(60, start=40_000_000, curriculum=0.5, kind="when")
    full = zoo.binding_corpus(60, start=40_000_000, kind="when")
    assert len(chats) == 60 and [c[1] for c in chats] == [c[1] for c in full]
    names_by_context: dict[str, set[str]] = {}
    for c, f in zip(chats, full):
        context, question = c[0]["content"].split(" when is the ")
        assert not context.startswith("there is one")
        name = question.removesuffix(" visible ?")
        start, end = (float(w) for w in c[1]["content"].split()[1:4:2])
        # the answer is read from the asked object's own sentences, which every context tells
        assert (f"seconds the {name} appears ." in context) == (start > 0)
        assert (f"seconds the {name} disappears ." in context) == (end < 4.0)
        for word in ("appears", "disappears"):  # every object's, not only the asked one's
            assert c[0]["content"].count(word) == f[0]["content"].count(word)
        names_by_context.setdefault(context, set()).add(name)
    assert any(len(n) > 1 for n in names_by_context.values())  # every object of a scene is asked about
    others = [c[0]["content"].count(" seconds ") - c[0]["content"].count("appears .") for c in chats]
    assert others[0] == 0 and sum(others[:10]) < sum(others[-10:])  # distractors grow
    with pytest.raises(ValueError, match="unknown binding kind 'colour'"):
        zoo.binding_corpus(5, 0, kind="colour")


def test_a_stage_splits_its_binding_questions_among_its_binding_kinds():
    from minivlm.lm import build_tokenizer

    stage = {"scenes": 0, "order_questions": 1, "naming_lists": 0, "seed": 0, "binding": 8,
             "binding_start": 40_000_000, "binding_kinds": ["direction", "when"]}
    texts = [build_tokenizer().decode(e.input_ids) for e in zoo.lm_examples(stage, build_tokenizer(), 0.0)]
    assert len(texts) == 8 and sum("which way" in t for t in texts) == sum("visible ?" in t for t in texts) == 4


def test_a_curriculum_stage_keeps_its_examples_in_order(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(zoo, "_train_resumable", lambda lm, batch_at, *a, **k: seen.append(
        [batch_at(s)["input_ids"].shape for s in range(2)]) or {"seconds": 0.0, "device": "cpu", "curve": []})
    monkeypatch.setattr(zoo, "lm_examples", lambda stage, tok, media_share=None: [
        zoo.encode_chat(tok, [{"role": "user", "content": "a " * n}, {"role": "assistant", "content": "b"}])
        for n in (9, 9, 1, 1)])
    monkeypatch.setattr(zoo, "length_bucketed_order", lambda *a, **k: pytest.fail("a curriculum is not reordered"))
    from minivlm.lm import build_tokenizer

    tok = build_tokenizer()
    stage = {"curriculum": 0.5, "batch_size": 2, "steps": 2, "seed": 0, "media_share": 0.0}
    lm = torch.nn.Linear(1, 1)
    monkeypatch.setattr(zoo, "_atomic_save", lambda *a, **k: None)
    monkeypatch.setattr(zoo, "_write_log", lambda *a, **k: None)
    zoo._train_lm_stage(lm, tok, stage, stage, tmp_path / "lm", "", False, False)
    long, short = seen[0]
    assert long[1] > short[1]  # batch 0 holds the first examples (the longer ones), batch 1 the next
    with pytest.raises(ValueError, match="curriculum stage needs 6 examples"):
        zoo._train_lm_stage(lm, tok, {**stage, "steps": 3}, stage, tmp_path / "lm", "", False, False)


def test_fresh_embeddings_separate_words_the_lm_never_read():
    from minivlm.lm import build_lm, build_tokenizer

    tokenizer = build_tokenizer()
    lm = build_lm(tokenizer, 32, 1, 2, seed=0)
    weight = lm.get_input_embeddings().weight
    words = ["beep", "buzz", "hum", "whistle"]
    ids = tokenizer.convert_tokens_to_ids(words)
    with torch.no_grad():
        weight[ids] = weight[ids[0]].clone()  # collapsed onto one vector, as unread words drift
    before = weight.detach().clone()
    zoo.fresh_embeddings(lm, tokenizer, words, std=0.08, seed=3)
    after = lm.get_input_embeddings().weight.detach()
    others = torch.ones(len(after), dtype=torch.bool)
    others[ids] = False
    assert torch.equal(after[others], before[others])  # nothing else moves
    unit = torch.nn.functional.normalize(after[ids], dim=-1)
    assert (unit @ unit.T - torch.eye(4)).abs().max() < 0.8  # told apart again
    assert torch.equal(lm.get_output_embeddings().weight[ids], after[ids])  # tied: the output side too
    again = build_lm(tokenizer, 32, 1, 2, seed=0)
    zoo.fresh_embeddings(again, tokenizer, words, std=0.08, seed=3)
    assert torch.equal(again.get_input_embeddings().weight[ids], after[ids])  # deterministic
    with pytest.raises(ValueError, match="not in the toy LM's vocabulary"):
        zoo.fresh_embeddings(lm, tokenizer, ["kazoo"], std=0.08, seed=3)


def test_naming_lists_live_in_the_data_layer():
    from minivlm import interleaved
    from minivlm.data import naming

    assert interleaved.naming_text is naming.naming_text
    prompt, answer = naming.naming_prompt(np.random.default_rng(0), shots=4)
    key = prompt.split()[-1]
    assert f"{key} {answer} ." in prompt  # at 4 shots with 3 ways every key was named


# ---- the shipped bases -----------------------------------------------------------------------------
def test_shipped_files_match_their_recipes_and_hashes():
    manifest = zoo.read_manifest()
    assert set(zoo.SHIPPED_FILES) <= set(manifest), "no shipped bases: run `make zoo`"
    keys = {"toy_clip": zoo.recipe_key(zoo.clip_recipe(full=True)),
            "toy_lm": zoo.recipe_key(zoo.lm_recipe(full=True)),
            **{f"toy_audio_{n}": zoo.recipe_key(audio_recipe(n, full=True)) for n in AUDIO_BASES},
            **{f"toy_video_{n}": zoo.recipe_key(tower_recipe(n, full=True)) for n in VIDEO_TOWERS}}
    for base, name in zoo.SHIPPED_FILES.items():
        entry = manifest[base]
        assert entry["recipe_key"] == keys[base], (
            f"{base}'s recipe changed since it was shipped: run `make zoo` to retrain and ship it")
        assert zoo.file_sha256(zoo.SHIPPED_DIR / name) == entry["sha256"], f"{name} differs from the manifest"
        assert entry["train_seconds"] and entry["device"] and entry["quality"], f"{base}'s manifest entry is incomplete"


def test_shipped_files_are_at_most_10_mb():
    total = sum(p.stat().st_size for p in zoo.SHIPPED_DIR.rglob("*") if p.is_file())
    assert 0 < total <= 10 * 2**20


def test_full_mode_loads_the_shipped_bases_from_an_empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIVLM_FAST", "0")
    monkeypatch.setenv("MINIVLM_CACHE", str(tmp_path))
    monkeypatch.setattr(zoo, "_train_resumable", lambda *a, **k: pytest.fail("a shipped base was retrained"))
    from minivlm import video_tower

    monkeypatch.setattr(video_tower, "train_tower", lambda *a, **k: pytest.fail("a shipped video tower was retrained"))
    start = time.perf_counter()
    clip = zoo.toy_clip(progress=False)
    lm, tokenizer = zoo.toy_lm(progress=False)
    towers = [zoo.toy_video(kind, progress=False) for kind in VIDEO_TOWERS]
    assert time.perf_counter() - start < 30
    assert all(not p.requires_grad for t in towers for p in t.parameters())
    assert not list(tmp_path.rglob("toy-*"))
    assert all(p.dtype == torch.float32 for p in [*clip.parameters(), *lm.parameters()])
    ids = torch.tensor([tokenizer("the red circle is at the top left . what colour is the circle ?").input_ids])
    assert torch.isfinite(lm(ids).logits).all()


def test_a_clip_stage_can_ask_for_crowded_stills_with_every_object_in_view():
    """"then2" and later: stills of one object or of three, all three in view (a caption names
    each object in view); the first stage's batches also name two, and more often one."""
    recipe = zoo.clip_recipe()
    crowded = {**zoo.first_stage(recipe), **recipe["then2"]}
    named = [p.count(" at the ") for step in range(4) for p in zoo.clip_batch(crowded, step)[2]]
    assert set(named) == {1, 3}
    assert 0.05 < named.count(1) / len(named) < 0.5  # the stage's single_share (0.2)
    first = [p.count(" at the ") for step in range(4) for p in zoo.clip_batch(zoo.first_stage(recipe), step)[2]]
    assert 2 in first and first.count(1) / len(first) > 0.3
    a, b = zoo.clip_batch(crowded, 3), zoo.clip_batch(crowded, 3)
    assert (a[0] == b[0]).all() and a[1:] == b[1:]


def test_a_build_says_which_stage_ran_on_which_device():
    assert zoo._stage_device(None, 2, "B") == zoo._stage_device("B", 3, "B") == "B"
    assert zoo._stage_device("A", 2, "B") == "stage 1 A; stage 2 B"
    assert zoo._stage_device("A", 3, "B") == "stages 1-2 A; stage 3 B"
    assert zoo._stage_device("stage 1 A; stage 2 B", 3, "B") == "stage 1 A; stage 2 B; stage 3 B"


def test_stage_names_come_in_training_order():
    recipe = {"steps": 1, "then10": {}, "then2": {}, "then": {}, "then3": {}}
    assert zoo.stage_names(recipe) == ["then", "then2", "then3", "then10"]
    assert zoo.first_stage(recipe) == {"steps": 1}
