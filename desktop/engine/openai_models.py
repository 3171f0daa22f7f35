"""What each OpenAI image model accepts, as data: the form, the validator and the backend share it.

Kept free of the openai package so the UI can show sizes without importing it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OpenAIModel:
    name: str
    sizes: tuple[str, ...]
    qualities: tuple[str, ...]
    styles: tuple[str, ...]
    max_images_per_call: int
    # gpt-image-1 always answers with base64 and rejects the response_format parameter.
    takes_response_format: bool
    edits: bool = False  # images.edit: inpaint and outpaint through a mask
    restyles: bool = False  # images.edit without a mask (image-to-image)


OPENAI_MODELS: dict[str, OpenAIModel] = {
    m.name: m
    for m in (
        OpenAIModel("dall-e-2", ("256x256", "512x512", "1024x1024"), (), (), 10, True, edits=True),
        OpenAIModel(
            "dall-e-3",
            ("1024x1024", "1792x1024", "1024x1792"),
            ("standard", "hd"),
            ("vivid", "natural"),
            1,
            True,
        ),
        OpenAIModel(
            "gpt-image-1",
            ("1024x1024", "1536x1024", "1024x1536"),
            ("low", "medium", "high", "auto"),
            (),
            10,
            False,
            edits=True,
            restyles=True,
        ),
    )
}

DEFAULT_OPENAI_MODEL = "dall-e-3"
