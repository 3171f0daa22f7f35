"""The demo model's tokenizer (it must survive save/load inside a pipeline) and the note about words
a word-level vocabulary does not know."""

from __future__ import annotations

from types import SimpleNamespace

from desktop.demo.train import build_tokenizer
from desktop.engine.diffusers_backend import vocabulary_notes
from desktop.engine.request import GenerationRequest


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
