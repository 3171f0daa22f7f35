"""Which words of a prompt a model does not know, before anything loads.

Only word-level vocabularies (the built-in demo model's) have words a model does not know at all:
BPE tokenizers (CLIP, T5) split any word into pieces they know. The `tokenizers` package reads the
model's tokenizer.json directly: fast, and no torch or transformers in the window's process.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

MAX_TOKENIZER_BYTES = 2 * 2**20  # a word-level vocabulary is small; a big file is some other kind
_WORD = re.compile(r"[\w'-]+")


def word_level_tokenizer(folder: Path | None) -> str | None:
    """The path of the model's tokenizer.json where it is a word-level vocabulary with an unknown token."""
    if folder is None:
        return None
    path = folder / "tokenizer" / "tokenizer.json"
    try:
        if not path.is_file() or path.stat().st_size > MAX_TOKENIZER_BYTES:
            return None
        model = json.loads(path.read_text(encoding="utf-8")).get("model", {})
    except (OSError, ValueError, AttributeError, RecursionError):
        return None
    return (
        str(path) if isinstance(model, dict) and model.get("type") == "WordLevel" and model.get("unk_token") else None
    )


@functools.lru_cache(maxsize=8)
def _load(path: str):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(path)
    unknown = json.loads(Path(path).read_text(encoding="utf-8"))["model"]["unk_token"]
    return tokenizer, tokenizer.token_to_id(unknown)


def unknown_words(tokenizer_file: str, text: str) -> list[str]:
    """The prompt's words the vocabulary maps to its unknown token, lowercased, in order, once each."""
    try:
        tokenizer, unknown = _load(tokenizer_file)
    except Exception:  # an unreadable tokenizer: say nothing rather than something wrong
        return []
    found: list[str] = []
    for word in _WORD.findall(text[:10_000]):
        if unknown in tokenizer.encode(word, add_special_tokens=False).ids and word.lower() not in found:
            found.append(word.lower())
    return found
