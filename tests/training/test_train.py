"""The demo model's tokenizer (it must survive save/load inside a pipeline) and the note about words
a word-level vocabulary does not know."""

from __future__ import annotations

from types import SimpleNamespace

from desktop.engine.diffusers_backend import vocabulary_notes
from desktop.engine.request import GenerationRequest
from desktop.training.demo.train import build_tokenizer


def test_the_tokenizer_round_trips_through_save_pretrained(tmp_path):
    from transformers import AutoTokenizer

    tokenizer = build_tokenizer()
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    text = "a small Red circle on the left on a grey background"
    assert loaded(text).input_ids == tokenizer(text).input_ids
    ids = tokenizer(text).input_ids
    assert ids[0] == 0 and ids[-1] == 1 and tokenizer.unk_token_id not in ids
    assert tokenizer("grey").input_ids == tokenizer("gray").input_ids


def test_unknown_words_get_a_note_and_known_ones_none():
    pipe = SimpleNamespace(tokenizer=build_tokenizer())
    note = vocabulary_notes(pipe, GenerationRequest(prompt="a red Sneaker on a blue background", model="demo"))
    assert note == [
        "this model does not know the word sneaker and ignored it (it knows simple shapes, colours, "
        "sizes and positions)."
    ]
    # Punctuation is not a word the model lacks.
    known = GenerationRequest(prompt="A red circle, on a blue background.", model="demo")
    assert vocabulary_notes(pipe, known) == []


def test_a_short_training_run_writes_a_pipeline_folder_that_the_engine_loads(tmp_path, monkeypatch):
    import json
    import sys

    from desktop.training.demo import train

    out = tmp_path / "demo"
    argv = ["train", "--out", str(out), "--pictures", "300", "--vae-minutes", "0.03", "--unet-minutes", "0.03"]
    monkeypatch.setattr(sys, "argv", argv)
    import torch

    threads = torch.get_num_threads()
    try:
        train.main()
    finally:
        # main() sets its own thread count: tests after this one compare pixels with other processes.
        torch.set_num_threads(threads)
    index = json.loads((out / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
    assert sorted(p.parent.name for p in out.rglob("*.safetensors")) == ["text_encoder", "unet", "vae"]
    scheduler = json.loads((out / "scheduler" / "scheduler_config.json").read_text())
    assert (scheduler["_class_name"], scheduler["prediction_type"]) == ("DDIMScheduler", "v_prediction")
    figures = json.loads((out / "training.json").read_text())
    assert figures["vae_steps"] > 0 and figures["unet_steps"] > 0
    # The evaluation ran through the engine on the saved folder (48 pictures); an untrained model
    # reaches nothing in particular, so only the record is checked here.
    assert figures["evaluation"]["pictures"] == 48
