"""Which of a hub repository's files the app needs: never the whole repository.

A diffusers pipeline needs model_index.json, and in each component folder it names, the configs and
tokenizer files plus the safetensors weights of one precision: the fp16 variant where it was asked for
and the component ships one, else the full-precision files. Pickle weights (.bin, .ckpt), Flax, ONNX,
TensorFlow files, single-file checkpoints at the top and folders no component names are left out (a
Stable Diffusion 1.5 repository holds 44 GB; the app needs 2.8 GB of it in fp16).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MODEL_INDEX = "model_index.json"
# Weights in formats the app does not load, or loads only from a trusted pickle: never downloaded.
OTHER_WEIGHTS = (".bin", ".ckpt", ".pt", ".pth", ".msgpack", ".h5", ".onnx", ".onnx_data", ".pb", ".ot", ".gguf")
# Top-level files worth having beside the weights: the model card (its licence) and licence files.
CARD_FILES = re.compile(r"(?i)^(readme\.md|licen[cs]e(\.[a-z]+)?|model_card\.md)$")
_SHARD = re.compile(r"-\d{5}-of-\d{5}$")


class NothingToDownload(ValueError):
    """The repository has none of the files the app can use; the message is one sentence."""


@dataclass(frozen=True)
class RepoFile:
    path: str
    size: int


def is_safetensors_weights(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.endswith(".safetensors") or bool(re.search(r"\.safetensors\.index(\.[\w-]+)?\.json$", name))


def is_other_weights(path: str) -> bool:
    name = path.rsplit("/", 1)[-1].lower()
    return name.endswith(OTHER_WEIGHTS) or bool(re.search(r"\.(bin|msgpack|h5)\.index(\.[\w-]+)?\.json$", name))


def weights_variant(path: str) -> str | None:
    """The variant a weights file belongs to: `unet/diffusion_pytorch_model.fp16.safetensors` -> fp16,
    `model.fp16-00001-of-00002.safetensors` -> fp16, `model.safetensors.index.fp16.json` -> fp16,
    `model-00001-of-00002.safetensors` -> None."""
    parts = path.rsplit("/", 1)[-1].split(".")[1:-1]
    tokens = [_SHARD.sub("", p) for p in parts if _SHARD.sub("", p) not in ("safetensors", "index", "")]
    return tokens[-1] if tokens else None


def choose_files(
    files: list[RepoFile], model_index: dict | None, variant: str | None, only: tuple[str, ...] = ()
) -> list[RepoFile]:
    """The files to download, model_index.json last (a pipeline is offered only once it is there).

    files: the repository's files; model_index: its parsed model_index.json (None: not a pipeline);
    only: exactly these files (a catalogue entry for a single file). NothingToDownload names what is missing.
    """
    by_path = {f.path: f for f in files}
    if only:
        missing = [p for p in only if p not in by_path]
        if missing:
            raise NothingToDownload(f"the repository has no file {missing[0]}")
        return [by_path[p] for p in only] + _cards(files)
    if model_index is None:
        chosen = [f for f in files if f.path.endswith(".safetensors")]
        if not chosen:
            raise NothingToDownload(
                "the repository has no .safetensors weights and no model_index.json: it is not a model the app "
                "can load (pickle weights are never downloaded)"
            )
        configs = [f for f in files if "/" not in f.path and f.path.endswith(".json")]
        return chosen + configs + _cards(files)  # single files (an upscaler, a LoRA): each is its own model
    chosen: list[RepoFile] = []
    for component in components(model_index):
        inside = [f for f in files if f.path.startswith(component + "/")]
        weights = [f for f in inside if is_safetensors_weights(f.path)]
        if not weights and any(is_other_weights(f.path) for f in inside):
            raise NothingToDownload(
                f"its {component} has only pickle weights (.bin), which can run code when loaded: the app "
                "downloads safetensors weights only"
            )
        configs = [f for f in inside if not is_safetensors_weights(f.path) and not is_other_weights(f.path)]
        chosen += configs + _chosen_weights(weights, variant)
    return chosen + _cards(files) + ([by_path[MODEL_INDEX]] if MODEL_INDEX in by_path else [])


def components(model_index: dict) -> list[str]:
    """The sub-model folders a pipeline loads: entries of model_index.json naming a library and a class."""
    return [
        name
        for name, value in model_index.items()
        if not name.startswith("_") and isinstance(value, list) and len(value) == 2 and all(value)
    ]


def _chosen_weights(weights: list[RepoFile], variant: str | None) -> list[RepoFile]:
    """One precision per folder: the variant asked for where the folder ships it, else the plain files
    (a folder that ships only a variant gives that one)."""
    by_folder: dict[str, list[RepoFile]] = {}
    for f in weights:
        by_folder.setdefault(f.path.rsplit("/", 1)[0] if "/" in f.path else "", []).append(f)
    chosen = []
    for group in by_folder.values():
        present = {weights_variant(f.path) for f in group}
        if variant in present:
            wanted = variant
        elif None in present:
            wanted = None
        else:
            wanted = sorted(present, key=str)[0]
        chosen += [f for f in group if weights_variant(f.path) == wanted]
    return chosen


def _cards(files: list[RepoFile]) -> list[RepoFile]:
    return [f for f in files if "/" not in f.path and CARD_FILES.match(f.path)]
