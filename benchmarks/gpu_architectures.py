"""Full-size (or --tiny) diffusers pipelines built from the configs in benchmarks/architectures/, with
random weights, saved as a model folder that loads like a downloaded one.

Speed depends on the architecture, not on the values of the weights, so a model folder whose
config.json files are the published ones and whose weights are random times like the real model
(up to data-dependent branches such as a first-block cache deciding to skip work: see README).

Each architecture folder holds the published component configs (model_index.json,
scheduler/scheduler_config.json, unet|transformer|prior/config.json, vae/config.json,
text_encoder*/config.json) and architecture.json: where the configs come from, the tokenizers to
build (tokenizers cannot be downloaded: a word-level/unigram vocabulary of the right size and length
is built here), the benchmark recipe, the published parameter counts, and the --tiny overrides.

Building never materialises a model: each component is made on the meta device (instant, no
memory), and its state dict is written shard by shard as random tensors made directly on the
target device in the target dtype. A 5.7B-parameter text encoder costs 11 GB of disk in fp16 and a
couple of GB of memory at a time, not 23 GB of CPU memory.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

ARCHITECTURES_DIR = Path(__file__).resolve().parent / "architectures"
ARCHITECTURES = ("sd15", "sdxl", "wan-1.3b", "modelscope", "shap-e")
SHARD_BYTES = 2 * 2**30
WORDS = (
    "a an the of on in with and at red green blue yellow white black photo product sneaker shoe ocean plastic "
    "coral reef pattern woman man watch smart health monitoring concert poster banner sleek minimalist vibrant "
    "crafted from inspired patterns shark chair car dog cat"
).split()


def architecture(name: str) -> dict:
    """architecture.json of one architecture, with its folder."""
    folder = ARCHITECTURES_DIR / name
    if not (folder / "architecture.json").is_file():
        raise SystemExit(f"unknown architecture {name!r}: choose one of {', '.join(ARCHITECTURES)}")
    spec = json.loads((folder / "architecture.json").read_text())
    spec["folder"] = folder
    spec["id"] = name
    return spec


def component_config(spec: dict, component: str, tiny: bool) -> dict:
    config = json.loads((spec["folder"] / component / "config.json").read_text())
    if tiny:
        config.update(spec.get("tiny", {}).get(component, {}))
    return config


def model_components(spec: dict) -> dict[str, tuple[str, str]]:
    """component name -> (library, class) for the components that have weights or a tokenizer."""
    index = json.loads((spec["folder"] / "model_index.json").read_text())
    return {
        name: tuple(value)
        for name, value in index.items()
        if not name.startswith("_") and isinstance(value, list) and value[0] is not None and name != "scheduler"
    }


def component_class(library: str, class_name: str):
    if library == "transformers":
        import transformers

        return getattr(transformers, class_name)
    if library == "shap_e":
        from diffusers.pipelines.shap_e.renderer import ShapERenderer

        return ShapERenderer
    import diffusers

    return getattr(diffusers, class_name)


def meta_model(library: str, class_name: str, config: dict):
    """The component on the meta device: its shapes, no memory, made in milliseconds."""
    import torch

    cls = component_class(library, class_name)
    with torch.device("meta"):
        if library == "transformers":
            return cls(cls.config_class.from_dict(config))
        return cls.from_config(config)


def parameter_counts(name: str, tiny: bool = False) -> dict[str, int]:
    """Parameters of each weighted component (tied weights counted once), counted on the meta device."""
    spec = architecture(name)
    counts = {}
    for component, (library, class_name) in model_components(spec).items():
        if "Tokenizer" in class_name:
            continue
        model = meta_model(library, class_name, component_config(spec, component, tiny))
        counts[component] = sum(p.numel() for p in model.parameters())
    return counts


def build(name: str, folder: Path, tiny: bool, device: str, dtype, seed: int = 0) -> Path:
    """Write the architecture's pipeline with random weights to folder; returns folder."""
    import shutil

    spec = architecture(name)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(spec["folder"] / "model_index.json", folder / "model_index.json")
    (folder / "scheduler").mkdir(exist_ok=True)
    shutil.copy(spec["folder"] / "scheduler" / "scheduler_config.json", folder / "scheduler" / "scheduler_config.json")
    for index, (component, (library, class_name)) in enumerate(model_components(spec).items()):
        target = folder / component
        target.mkdir(exist_ok=True)
        if "Tokenizer" in class_name:
            tokenizer_spec = {
                **spec["tokenizers"][component],
                **(spec.get("tiny", {}).get(component, {}) if tiny else {}),
            }
            build_tokenizer(tokenizer_spec).save_pretrained(target)
            continue
        config = component_config(spec, component, tiny)
        model = meta_model(library, class_name, config)
        if library == "transformers":
            model.config.architectures = [class_name]
            model.config.save_pretrained(target)
            weights_name = "model"
        else:
            model.save_config(target)
            weights_name = "diffusion_pytorch_model"
        special = shap_e_renderer_tensors(model, device, dtype) if library == "shap_e" else {}
        write_random_weights(model, target, weights_name, device, dtype, seed + index, special)
    return folder


def random_tensor(name: str, shape, dtype, device, generator):
    """Random values that keep activations in range (fp16 included): norm scales 1, biases 0, matrices
    and convolutions uniform in +-1/sqrt(fan_in) (PyTorch's own default for Linear and Conv)."""
    import torch

    leaf = name.rsplit(".", 1)[-1]
    if leaf == "gamma" or (len(shape) == 1 and leaf in ("weight", "scale")):
        return torch.ones(shape, dtype=dtype, device=device)
    if len(shape) <= 1:
        return torch.zeros(shape, dtype=dtype, device=device)
    fan_in = math.prod(shape[1:])
    bound = 1.0 / math.sqrt(fan_in)
    return torch.empty(shape, dtype=dtype, device=device).uniform_(-bound, bound, generator=generator)


def write_random_weights(model, target: Path, weights_name: str, device, dtype, seed: int, special: dict) -> None:
    """The model's state dict (tied weights once) as random safetensors shards, one shard in memory at a time."""
    import torch
    from safetensors.torch import save_file

    generator = torch.Generator(device).manual_seed(seed)
    state = model.state_dict(keep_vars=True)
    seen, entries = set(), []
    for key, tensor in state.items():
        if id(tensor) in seen:
            continue  # a tied weight: saved once, under its first name (as save_pretrained does)
        seen.add(id(tensor))
        entries.append((key, tuple(tensor.shape), tensor.dtype))
    shards, current, size = [], [], 0
    for entry in entries:
        nbytes = math.prod(entry[1]) * (torch.finfo(dtype).bits // 8 if entry[2].is_floating_point else 8)
        if current and size + nbytes > SHARD_BYTES:
            shards.append(current)
            current, size = [], 0
        current.append(entry)
        size += nbytes
    shards.append(current)
    index = {}
    for number, shard in enumerate(shards, 1):
        filename = (
            f"{weights_name}.safetensors"
            if len(shards) == 1
            else f"{weights_name}-{number:05d}-of-{len(shards):05d}.safetensors"
        )
        tensors = {}
        for key, shape, kind in shard:
            if key in special:
                tensors[key] = special[key].cpu()
            elif not kind.is_floating_point:
                raise ValueError(f"{key}: a {kind} tensor needs real values, not random ones")
            else:
                tensors[key] = random_tensor(key, shape, dtype, device, generator).cpu()
            index[key] = filename
        save_file(tensors, str(target / filename), metadata={"format": "pt"})
        del tensors
    if len(shards) > 1:
        (target / f"{weights_name}.safetensors.index.json").write_text(
            json.dumps({"metadata": {"total_size": 0}, "weight_map": index}, indent=1)
        )


def build_tokenizer(spec: dict):
    """A tokenizer with the published vocabulary size and length, built here (no download): CLIP's
    byte-level BPE alphabet plus prompt words and filler up to the size, or a unigram (T5) vocabulary.
    What the text encoder costs depends on the padded length, not on which tokens the prompt becomes."""
    import transformers

    size, length = int(spec["vocab_size"]), int(spec["model_max_length"])
    if spec["class"] == "CLIPTokenizer":
        from transformers.convert_slow_tokenizer import bytes_to_unicode

        alphabet = list(bytes_to_unicode().values())
        tokens = list(dict.fromkeys(alphabet + [c + "</w>" for c in alphabet] + [w + "</w>" for w in WORDS]))
        tokens += [f"<unused{i}>" for i in range(size - 2 - len(tokens))]
        vocab = {token: i for i, token in enumerate(tokens[: size - 2])}
        vocab["<|startoftext|>"] = len(vocab)
        vocab["<|endoftext|>"] = len(vocab)
        return transformers.CLIPTokenizer(
            vocab=vocab, merges=[], pad_token=spec.get("pad_token", "<|endoftext|>"), model_max_length=length
        )
    extra_ids = min(100, size // 10)
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    pieces += [("\u2581" + w, -2.0) for w in WORDS] + [(c, -5.0) for c in "abcdefghijklmnopqrstuvwxyz"]
    pieces += [(f"\u2581w{i}", -10.0) for i in range(size - extra_ids - len(pieces))]
    return transformers.T5Tokenizer(vocab=pieces, extra_ids=extra_ids, model_max_length=length)


def shap_e_renderer_tensors(renderer_on_meta, device, dtype) -> dict:
    """The renderer's marching-cubes tables (a fresh one's are zeros, so no mesh) and a "tamed" MLP
    whose surface is a closed blob, as tests/tiny_shap_e.py does for its tiny renderer, at any size:
    random renderer weights make a noise surface of millions of triangles, which times nothing real."""
    import torch
    from tiny_shap_e import marching_cubes_table

    renderer = type(renderer_on_meta).from_config(renderer_on_meta.config)  # small enough to make for real
    hidden = renderer.config.d_hidden
    features = renderer.config.param_shapes[0][1]
    cases, masks = marching_cubes_table()
    offset = 10.0
    with torch.no_grad():
        for parameter in renderer.parameters():
            if parameter.ndim >= 2:
                bound = 1.0 / math.sqrt(math.prod(parameter.shape[1:]))
                parameter.uniform_(-bound, bound)
        renderer.mesh_decoder.cases.copy_(torch.from_numpy(cases))
        renderer.mesh_decoder.masks.copy_(torch.from_numpy(masks))
        base0 = torch.zeros(hidden, features)
        cos_2 = [3 + 45 + 3 + d for d in range(3)]  # cos(2x), cos(2y), cos(2z) of diffusers' encode_position
        base0[0, cos_2] = 1.0
        for d in range(3):
            base0[1 + d, 3 + d] = 2.0
        wobble0 = torch.zeros(features)
        wobble0[:3] = 0.08
        wobble0[cos_2] = 0.05
        identity = torch.eye(hidden)
        for number, (base, wobble) in enumerate(
            (
                (base0, wobble0),
                (identity, torch.zeros(hidden)),
                (identity, torch.zeros(hidden)),
                (identity, torch.zeros(hidden)),
            )
        ):
            projection = renderer.params_proj.projections[f"nerstf__mlp__{number}__weight"]
            projection.proj.bias.copy_(base.reshape(-1))
            projection.norm.weight.copy_(wobble)
            projection.norm.bias.zero_()
        mlp = renderer.mlp.mlp
        for layer in mlp:
            layer.bias.zero_()
        mlp[0].bias.fill_(offset)
        for layer in (mlp[4], mlp[5]):
            layer.weight.zero_()
            layer.weight[:, :hidden] = identity
        last = mlp[6]
        last.weight.zero_()
        last.weight[0, 0] = 1.0
        last.bias[0] = -offset - 2.0
        for density in (1, 2):
            last.weight[density, 0] = 40.0
            last.bias[density] = 40.0 * (-offset - 2.0)
        for head in (3, 6, 9):
            for d in range(3):
                last.weight[head + d, 1 + d] = 1.0
                last.bias[head + d] = -offset
    return {
        key: (value.to(device, dtype) if value.is_floating_point() else value)
        for key, value in renderer.state_dict().items()
    }
