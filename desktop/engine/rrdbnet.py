"""The ESRGAN family's network (RRDBNet), recognised and run from its weights alone, without spandrel.

Why a module of our own: spandrel, which ComfyUI and InvokeAI load upscalers with, imports torchvision
at import time, and the only torchvision wheels that fit torch 2.13 are CUDA builds: beside the CPU
torch they fail to import ("operator torchvision::nms does not exist"), and `pip install spandrel`
replaces the CPU torch with a multi-GB CUDA one. The ESRGAN family (ESRGAN, Real-ESRGAN, BSRGAN and
the many community fine-tunes such as 4x-UltraSharp) is most of the upscalers people have, and its
network is a few dozen lines: carrying it means "a 4x upscaler file in a model folder" works, and is
tested, on every install. spandrel adds the other architectures where torchvision imports.

The same network is saved under three naming schemes; all are mapped to the Real-ESRGAN names:
- original ESRGAN: `model.0` (first conv), `model.1.sub.N.RDBr.convc.0` (the blocks), `model.1.sub.NB`
  (body conv), then `model.3`, `model.6`, ... (one conv per x2 upsampling), the HR conv and the last;
- Real-ESRGAN / BasicSR: `conv_first`, `body.N.rdbR.convC`, `conv_body`, `conv_up1`, `conv_up2`,
  `conv_hr`, `conv_last`; its x2 (and x1) models feed the network a pixel-unshuffled picture, so their
  first conv takes 4 (16) times the picture's channels;
- BSRGAN / RealSR: `RRDB_trunk`, `trunk_conv`, `upconvN`, `HRconv`.

The shapes alone give the scale, channels, block count and widths (`detect`), so a safetensors header
is enough to list a file with its architecture and scale: nothing here imports torch until a network
is built (the window's process reads capabilities and must never import it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# LeakyReLU slope and residual scaling of the published network.
_SLOPE, _RESIDUAL = 0.2, 0.2
_CONVS_PER_DENSE_BLOCK = 5

_ESRGAN_BLOCK = re.compile(r"^model\.1\.sub\.(\d+)\.RDB([123])\.conv([1-5])\.0\.(weight|bias)$")
_ESRGAN_BODY = re.compile(r"^model\.1\.sub\.(\d+)\.(weight|bias)$")
_ESRGAN_LAYER = re.compile(r"^model\.(\d+)\.(weight|bias)$")
_BSRGAN_BLOCK = re.compile(r"^RRDB_trunk\.(\d+)\.RDB([123])\.conv([1-5])\.(weight|bias)$")
_BSRGAN_UP = re.compile(r"^upconv(\d)\.(weight|bias)$")
_BLOCK = re.compile(r"^body\.(\d+)\.rdb[123]\.conv[1-5]\.weight$")


@dataclass(frozen=True)
class RRDBConfig:
    """What a weights file's shapes say about its network."""

    layout: str  # "ESRGAN", "Real-ESRGAN" or "BSRGAN": how the file names its layers
    channels: int  # of the picture in and out (3: RGB)
    features: int  # width of the trunk (64 in the published models)
    growth: int  # channels each dense layer adds (32)
    blocks: int  # residual-in-residual dense blocks (23 in the published models)
    upsamples: int  # x2 nearest-neighbour + conv stages
    unshuffle: int  # 1, or 2 / 4 where the picture is pixel-unshuffled first (Real-ESRGAN x2 / x1)

    @property
    def scale(self) -> int:
        return 2**self.upsamples // self.unshuffle

    @property
    def multiple(self) -> int:
        """Input sides must be a multiple of this (pixel-unshuffle folds squares of it into channels)."""
        return self.unshuffle

    def describe(self) -> str:
        blocks = "block" if self.blocks == 1 else "blocks"
        return f"{self.layout} ×{self.scale}, {self.blocks} {blocks}, {self.features} features"


def canonical_names(names: Sequence[str]) -> tuple[str, dict[str, str]] | None:
    """(layout, {Real-ESRGAN name: name in the file}) where names are one RRDBNet's layers, else None."""
    names = [name.removeprefix("module.") for name in names]
    if "conv_first.weight" in names and "conv_body.weight" in names:
        return "Real-ESRGAN", {name: name for name in names}
    if "conv_first.weight" in names and "trunk_conv.weight" in names:
        return "BSRGAN", _bsrgan_names(names)
    if "model.0.weight" in names and any(_ESRGAN_BLOCK.match(name) for name in names):
        mapping = _esrgan_names(names)
        return None if mapping is None else ("ESRGAN", mapping)
    return None


def _bsrgan_names(names: Sequence[str]) -> dict[str, str]:
    fixed = {"trunk_conv": "conv_body", "HRconv": "conv_hr", "conv_first": "conv_first", "conv_last": "conv_last"}
    mapping = {}
    for name in names:
        stem, _, kind = name.rpartition(".")
        if block := _BSRGAN_BLOCK.match(name):
            index, rdb, conv, kind = block.groups()
            mapping[f"body.{index}.rdb{rdb}.conv{conv}.{kind}"] = name
        elif up := _BSRGAN_UP.match(name):
            mapping[f"conv_up{up.group(1)}.{up.group(2)}"] = name
        else:
            mapping[f"{fixed.get(stem, stem)}.{kind}"] = name  # unknown stems stay, and fail the shape check
    return mapping


def _esrgan_names(names: Sequence[str]) -> dict[str, str] | None:
    """Original ESRGAN numbers its top-level layers: 0 first conv, 1 the trunk, then per x2 stage an
    upsample (no weights), a conv and an activation, then the HR conv, an activation and the last conv."""
    layers = {int(m.group(1)) for m in map(_ESRGAN_LAYER.match, names) if m}
    last = max(layers, default=0)
    upsamples, remainder = divmod(last - 4, 3)
    if remainder or upsamples < 0:
        return None
    top = {0: "conv_first", last - 2: "conv_hr", last: "conv_last"}
    top.update({3 * (i + 1): f"conv_up{i + 1}" for i in range(upsamples)})
    trunk = max((int(m.group(1)) for m in map(_ESRGAN_BODY.match, names) if m), default=-1)
    mapping = {}
    for name in names:
        if block := _ESRGAN_BLOCK.match(name):
            index, rdb, conv, kind = block.groups()
            mapping[f"body.{index}.rdb{rdb}.conv{conv}.{kind}"] = name
        elif (body := _ESRGAN_BODY.match(name)) and int(body.group(1)) == trunk:
            mapping[f"conv_body.{body.group(2)}"] = name
        elif (layer := _ESRGAN_LAYER.match(name)) and int(layer.group(1)) in top:
            mapping[f"{top[int(layer.group(1))]}.{layer.group(2)}"] = name
        else:
            return None  # a layer this network does not have (ESRGAN+, a changed head, ...)
    return mapping


def detect(shapes: Mapping[str, Sequence[int]]) -> tuple[RRDBConfig, dict[str, str]] | None:
    """The network that tensors of these shapes make, and the Real-ESRGAN name of each; None when they are
    not exactly one RRDBNet (a layer missing, extra or of another shape)."""
    found = canonical_names(list(shapes))
    if found is None:
        return None
    layout, mapping = found
    shape = {canonical: tuple(shapes[name]) for canonical, name in mapping.items()}
    try:
        features, in_channels = shape["conv_first.weight"][:2]
        channels = shape["conv_last.weight"][0]
        growth = shape["body.0.rdb1.conv1.weight"][0]
    except (KeyError, ValueError):
        return None
    blocks = 1 + max(int(m.group(1)) for m in map(_BLOCK.match, shape) if m)
    upsamples = 0
    while f"conv_up{upsamples + 1}.weight" in shape:
        upsamples += 1
    unshuffle = {channels: 1, channels * 4: 2, channels * 16: 4}.get(in_channels)
    if unshuffle is None:
        return None
    config = RRDBConfig(layout, channels, features, growth, blocks, upsamples, unshuffle)
    return (config, mapping) if shape == expected_shapes(config) else None


def expected_shapes(config: RRDBConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor the network has, by its Real-ESRGAN name."""
    nf, gc = config.features, config.growth

    def conv(name: str, cin: int, cout: int) -> dict[str, tuple[int, ...]]:
        return {f"{name}.weight": (cout, cin, 3, 3), f"{name}.bias": (cout,)}

    shapes = conv("conv_first", config.channels * config.unshuffle**2, nf)
    for block in range(config.blocks):
        for rdb in (1, 2, 3):
            for index in range(1, _CONVS_PER_DENSE_BLOCK + 1):
                out = nf if index == _CONVS_PER_DENSE_BLOCK else gc
                shapes |= conv(f"body.{block}.rdb{rdb}.conv{index}", nf + (index - 1) * gc, out)
    shapes |= conv("conv_body", nf, nf)
    for stage in range(1, config.upsamples + 1):
        shapes |= conv(f"conv_up{stage}", nf, nf)
    return shapes | conv("conv_hr", nf, nf) | conv("conv_last", nf, config.channels)


class RRDBNet:
    """The network as functions over its weights (Real-ESRGAN names): call it on an (N, C, H, W) batch
    with values in 0..1; it returns the batch `scale` times larger."""

    def __init__(self, config: RRDBConfig, weights: Mapping) -> None:
        self.config = config
        self.weights = dict(weights)

    @classmethod
    def from_state_dict(cls, state: Mapping) -> RRDBNet | None:
        """The network in a state dict of any of the three layouts; None when it is not one."""
        found = detect({name: tuple(tensor.shape) for name, tensor in state.items()})
        if found is None:
            return None
        config, mapping = found
        stripped = {name.removeprefix("module."): tensor for name, tensor in state.items()}
        return cls(config, {canonical: stripped[name] for canonical, name in mapping.items()})

    def to(self, device, dtype) -> RRDBNet:
        self.weights = {name: tensor.to(device=device, dtype=dtype) for name, tensor in self.weights.items()}
        return self

    def __call__(self, x):
        import torch
        import torch.nn.functional as F

        config = self.config
        height, width = x.shape[-2:]
        if config.unshuffle > 1:
            # Real-ESRGAN's x2 / x1 models see the picture folded into channels (pad to whole squares).
            pad_h, pad_w = -height % config.unshuffle, -width % config.unshuffle
            if pad_h or pad_w:
                x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect")
            x = F.pixel_unshuffle(x, config.unshuffle)
        feat = self._conv(x, "conv_first")
        trunk = feat
        for block in range(config.blocks):
            trunk = self._rrdb(trunk, block, torch)
        feat = feat + self._conv(trunk, "conv_body")
        for stage in range(1, config.upsamples + 1):
            feat = F.interpolate(feat, scale_factor=2, mode="nearest")
            feat = F.leaky_relu(self._conv(feat, f"conv_up{stage}"), _SLOPE)
        out = self._conv(F.leaky_relu(self._conv(feat, "conv_hr"), _SLOPE), "conv_last")
        return out[..., : height * config.scale, : width * config.scale]

    def _conv(self, x, name: str):
        import torch.nn.functional as F

        return F.conv2d(x, self.weights[f"{name}.weight"], self.weights[f"{name}.bias"], padding=1)

    def _rrdb(self, x, block: int, torch):
        """Three residual dense blocks, each layer seeing all earlier ones; both levels scaled by 0.2."""
        import torch.nn.functional as F

        out = x
        for rdb in (1, 2, 3):
            prefix = f"body.{block}.rdb{rdb}.conv"
            seen = [out]
            for index in range(1, _CONVS_PER_DENSE_BLOCK):
                seen.append(F.leaky_relu(self._conv(torch.cat(seen, 1), f"{prefix}{index}"), _SLOPE))
            out = self._conv(torch.cat(seen, 1), f"{prefix}{_CONVS_PER_DENSE_BLOCK}") * _RESIDUAL + out
        return out * _RESIDUAL + x
