"""The model contract: every preset passes the same tests."""

import pytest
import torch

import minivlm
from minivlm import PRESETS, build
from minivlm.chat import IGNORE_INDEX
from minivlm.config import LoraSpec, VLMConfig
from minivlm.data import render, render_soundtrack, render_still, sample_scene, uniform_times
from minivlm.media import Media, MediaMismatchError
from minivlm.samples import Sample, collate
from minivlm.stages import Stage, run_stage
from minivlm.vlm import VLM, ModalityError

SCENE = sample_scene("train", 3)
IMAGE = Media.image(render_still(SCENE, 1.0))
CLIP4 = Media.video(render(SCENE, uniform_times(SCENE, 4)))
CLIP2 = Media.video(render(sample_scene("train", 4), uniform_times(SCENE, 2)))
# Audio (notebook 05): a track of its own, one at another length, and a clip that carries its soundtrack.
AUDIO = Media.audio(render_soundtrack(SCENE), 16_000)
AUDIO1 = Media.audio(render_soundtrack(SCENE)[:16_000], 16_000)
CLIP4_SOUND = Media.video(CLIP4.pixels, waveform=AUDIO.waveform, sample_rate=16_000, duration=SCENE.duration)


def qa(media, question, answer):
    prompt = " ".join(m.placeholder for m in media) + " " + question
    return Sample(media, [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}])


BATCHES = {
    "images": [qa([IMAGE], "what colour is the circle ?", "red"), qa([IMAGE], "how many objects are there ?", "two")],
    "videos": [qa([CLIP4], "which way does it move ?", "left"), qa([CLIP4], "how many objects are there ?", "one")],
    "mixed": [qa([CLIP4, IMAGE], "what changed ?", "none"), qa([CLIP2], "how many ?", "three"),
              qa([IMAGE], "what shape is it ?", "square")],
}
AUDIO_BATCHES = {
    "audio": [qa([AUDIO, CLIP4], "what does the voice say first ?", "red"), qa([AUDIO1], "what noise ?", "a hum")],
    "audio-mixed": [qa([AUDIO, CLIP4_SOUND, IMAGE], "what changed ?", "none"), qa([CLIP2], "how many ?", "three")],
}


def hears(model) -> bool:
    return bool(model.config.audio)


@pytest.fixture(scope="module", params=sorted(PRESETS))
def model(request):
    torch.manual_seed(0)
    m = build(request.param)
    m.fit_standardizer([IMAGE, CLIP4, CLIP2, *([AUDIO, AUDIO1] if hears(m) else [])])
    return m


@pytest.mark.parametrize("kind", sorted(BATCHES))
def test_forward_takes_images_videos_and_mixed_batches(model, kind):
    batch = collate(model, BATCHES[kind])
    out = model(**batch)
    assert out.logits.shape[:2] == batch["input_ids"].shape and torch.isfinite(out.loss)


@pytest.mark.parametrize("kind", sorted(AUDIO_BATCHES))
def test_a_model_that_hears_takes_audio_beside_images_and_videos(model, kind):
    if not hears(model):
        pytest.skip("this preset has no audio encoder (see the ModalityError test)")
    batch = collate(model, AUDIO_BATCHES[kind])
    out = model(**batch)
    assert out.logits.shape[:2] == batch["input_ids"].shape and torch.isfinite(out.loss)
    slots = torch.isin(batch["input_ids"], torch.tensor(model.media_token_ids)).sum(1).tolist()
    assert slots == [sum(model.placeholder_length(m) for m in s.media) for s in AUDIO_BATCHES[kind]]


def test_a_video_carrying_its_soundtrack_is_seen_as_the_same_video(model):
    with torch.no_grad():
        plain = model(**collate(model, [qa([CLIP4], "what ?", "x")])).logits
        sound = model(**collate(model, [qa([CLIP4_SOUND], "what ?", "x")])).logits
    if model.config.audio_sync:  # video-SALMONN hears a clip's own soundtrack (silence without one)
        assert not torch.equal(plain, sound)
    else:
        assert torch.equal(plain, sound)


def test_each_placeholder_expands_to_its_own_items_token_count(model):
    batch = collate(model, BATCHES["mixed"])
    slots = torch.isin(batch["input_ids"], torch.tensor(model.media_token_ids)).sum(1).tolist()
    want = [sum(model.placeholder_length(m) for m in s.media) for s in BATCHES["mixed"]]
    assert slots == want
    if model.config.fusion == "language_stream" and model.config.reducer not in ("perceiver", "qformer", "mrc_qformer"):
        assert model.num_tokens(CLIP4) != model.num_tokens(CLIP2)  # per item, not per batch


def test_loss_is_only_on_assistant_tokens(model):
    batch = collate(model, BATCHES["mixed"])
    learned = [model.tokenizer.decode(row[row != IGNORE_INDEX]) for row in batch["labels"]]
    assert learned == ["none <eos>", "three <eos>", "square <eos>"]
    out = model(**batch)
    logits, targets = out.logits[:, :-1], batch["labels"][:, 1:]
    manual = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                               ignore_index=IGNORE_INDEX)
    assert torch.allclose(out.loss, manual, atol=1e-5)


def test_generate_equals_a_manual_greedy_loop(model):
    sample = qa([CLIP4, IMAGE], "what do you see ?", "x").prompt()
    batch = collate(model, [sample], side="left", add_generation_prompt=True)
    fast = model.generate(batch["input_ids"], batch["attention_mask"], batch["media"], max_new_tokens=6)[0].tolist()
    ids = batch["input_ids"]
    slow = []
    with torch.no_grad():
        for _ in range(len(fast)):
            nxt = int(model(ids, media=batch["media"]).logits[0, -1].argmax())
            slow.append(nxt)
            if nxt == model.eos_token_id:
                break
            ids = torch.cat([ids, torch.tensor([[nxt]])], dim=1)
    assert fast[: len(slow)] == slow


def test_chat_and_batched_answer_agree(model):
    frames = CLIP4.pixels.numpy()
    streamed = []
    reply = model.chat(frames, "what colour is the circle ?", max_new_tokens=5, on_token=streamed.append)
    assert reply == " ".join(streamed).strip() or reply.replace(" ", "") == "".join(streamed).replace(" ", "")
    questions = ["what colour is the circle ?", "how many objects are there ?", "<video> <image> what changed ?"]
    media = [frames, IMAGE, [CLIP2, IMAGE]]
    together = model.answer(media, questions, max_new_tokens=4)
    alone = [model.answer([m], [q], max_new_tokens=4)[0] for m, q in zip(media, questions)]
    assert together == alone
    assert together[0] == model.chat(frames, "what colour is the circle ?", max_new_tokens=4)


def test_a_stage_trains_only_the_parts_it_names(model):
    m = build(model.config)
    m.fit_standardizer([IMAGE, CLIP4])
    # with its gates at 0 a cross-attention model passes no gradient to its vision tokenizer alone
    parts = ("vision_tokenizer",) if m.config.fusion == "language_stream" else ("vision_tokenizer", "cross_attention")
    before = {k: v.clone() for k, v in m.state_dict().items()}
    run_stage(m, Stage("s", train=parts, data="x", steps=2, lr=1e-2, batch_size=3), BATCHES["mixed"], progress=False)
    changed = {k for k, v in m.state_dict().items() if not torch.equal(before[k], v)}
    assert changed and all(k.startswith(parts) for k in changed)
    assert any(k.startswith("vision_tokenizer.") for k in changed)
    if hears(m) and "audio_tokenizer" in m.parts():  # the audio tokenizer learns from audio batches, alone
        before = {k: v.clone() for k, v in m.state_dict().items()}
        run_stage(m, Stage("a", train=("audio_tokenizer",), data="x", steps=2, lr=1e-2, batch_size=2),
                  AUDIO_BATCHES["audio"], progress=False)
        changed = {k for k, v in m.state_dict().items() if not torch.equal(before[k], v)}
        assert changed and all(k.startswith("audio_tokenizer.") for k in changed)


def test_lora_adapters_train_then_merge_into_the_same_function(model):
    m = build(model.config.replace(lora=LoraSpec(rank=4, alpha=8, targets=("q_proj", "v_proj"))))
    m.fit_standardizer([IMAGE, CLIP4])
    batch = collate(m, BATCHES["mixed"])
    before = {k: v.clone() for k, v in m.state_dict().items()}
    run_stage(m, Stage("lora", train=("lora",), data="x", steps=3, lr=1e-2, batch_size=3), BATCHES["mixed"],
              progress=False)
    changed = {k for k, v in m.state_dict().items() if not torch.equal(before[k], v)}
    assert changed and all("lora_" in k for k in changed)
    with torch.no_grad():
        adapted = m(**batch).logits
        m.merge_lora()
        merged = m(**batch).logits
    assert m.config.lora is None and not any("lora_" in k for k in m.state_dict())
    assert torch.allclose(adapted, merged, atol=1e-4)


def test_save_then_load_gives_bit_identical_logits(model, tmp_path):
    batch = collate(model, AUDIO_BATCHES["audio-mixed"] if hears(model) else BATCHES["mixed"])
    model.save_pretrained(tmp_path / "m")
    loaded = VLM.from_pretrained(tmp_path / "m")
    assert type(loaded) is type(model) and loaded.config == model.config
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, loaded(**batch).logits)
    assert type(type(model).from_pretrained(tmp_path / "m")) is type(model)


def test_cross_attention_presets_equal_the_frozen_lm_at_init(model):
    if model.config.fusion != "cross_attention":
        pytest.skip("language-stream models change the LM's input by design")
    base, _ = minivlm.zoo.toy_lm()
    batch = collate(model, BATCHES["mixed"])
    with torch.no_grad():
        ours = model(**batch).logits
        plain = base(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert torch.equal(ours, plain)


# ---- bad input -------------------------------------------------------------------------------
def test_placeholders_that_do_not_match_the_media_are_a_clear_error(model):
    with pytest.raises(MediaMismatchError, match="one placeholder"):
        Sample([IMAGE, CLIP4], [{"role": "user", "content": "<image> what ?"}])
    with pytest.raises(MediaMismatchError, match="order"):
        Sample([IMAGE, CLIP4], [{"role": "user", "content": "<video> <image> what ?"}])
    batch = collate(model, BATCHES["images"])
    with pytest.raises(MediaMismatchError, match="placeholder"):
        model(batch["input_ids"], media=[[IMAGE, IMAGE], [IMAGE]])


def test_audio_to_a_model_without_an_audio_encoder_is_a_clear_error(model):
    if hears(model):
        pytest.skip("this preset takes audio")
    audio = Media.audio(torch.zeros(16000), 16000)
    with pytest.raises(ModalityError, match="no audio encoder"):
        collate(model, [qa([audio], "what do you hear ?", "a click")])


def test_more_frames_than_the_models_maximum_is_a_clear_error(model):
    long = Media.video(render(SCENE, uniform_times(SCENE, model.config.max_frames + 1)))
    with pytest.raises(ValueError, match="maximum"):
        model.answer([long], ["what happens ?"])


def test_a_prompt_longer_than_the_lms_context_is_a_clear_error(model):
    limit = model.lm.config.max_position_embeddings
    ids = torch.full((1, limit + 1), model.tokenizer.convert_tokens_to_ids("the"))
    with pytest.raises(ValueError, match="context"):
        model(ids)


def test_an_unknown_preset_is_a_clear_error():
    with pytest.raises(KeyError, match="choose one of"):
        build("llava-2")
    with pytest.raises(ValueError, match="fusion"):
        VLMConfig(fusion="early")
