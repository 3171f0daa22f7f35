"""Generation parameters inside the PNG itself.

Two text chunks: `parameters` in the AUTOMATIC1111 format that other tools read and show, and
`diffusion-studio` with the full record as JSON. Reading never evaluates anything: it is plain
string parsing and json.loads.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from PIL import Image, PngImagePlugin

from desktop.engine.schedulers import A1111_SAMPLER_NAMES

PARAMETERS_KEY = "parameters"
RECORD_KEY = "diffusion-studio"


def parameters_text(record: dict) -> str:
    """The A1111 `parameters` text: prompt, `Negative prompt:` line, then `Key: value, ...`."""
    request = record["request"]
    lines = [request["prompt"]]
    if request.get("negative_prompt"):
        lines.append(f"Negative prompt: {request['negative_prompt']}")
    fields: list[tuple[str, object]] = []
    if request["backend"] == "diffusers":
        fields += [("Steps", request["steps"])]
        if request.get("scheduler"):
            fields.append(("Sampler", A1111_SAMPLER_NAMES.get(request["scheduler"], request["scheduler"])))
        fields += [("CFG scale", request["guidance"]), ("Seed", record["seed"])]
    if request.get("task") == "text-to-video":
        fields += [("Frames", request.get("frames")), ("FPS", request.get("fps"))]
    fields += [("Size", f"{request['width']}x{request['height']}"), ("Model", request["model"])]
    fields += [("Backend", request["backend"]), ("Task", request["task"])]
    lines.append(", ".join(f"{key}: {_quote(value)}" for key, value in fields))
    return "\n".join(lines)


def _quote(value: object) -> str:
    text = str(value)
    # A1111 quotes values that hold its separators.
    return json.dumps(text) if ("," in text or ":" in text or "\n" in text) else text


_SETTINGS_START = re.compile(r"^(Steps|Size|Sampler|Seed|CFG scale|Model): ")
_FIELD = re.compile(r'\s*([\w ]+):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')


def parse_parameters(text: str) -> dict[str, str]:
    """Read an A1111 `parameters` text (ours or another tool's) into a dict of strings."""
    lines = text.strip().split("\n")
    settings_line = lines.pop() if len(lines) > 1 and _SETTINGS_START.match(lines[-1]) else ""
    prompt_lines, negative_lines, in_negative = [], [], False
    for line in lines:
        if line.startswith("Negative prompt:"):
            in_negative = True
            line = line[len("Negative prompt:") :].strip()
        (negative_lines if in_negative else prompt_lines).append(line)
    result = {"prompt": "\n".join(prompt_lines).strip(), "negative_prompt": "\n".join(negative_lines).strip()}
    for key, value in _FIELD.findall(settings_line):
        value = value.strip()
        if value.startswith('"'):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        result[key.strip()] = value
    return result


def png_info(record: dict) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    # add_text falls back to an iTXt (UTF-8) chunk when the text is not Latin-1.
    info.add_text(PARAMETERS_KEY, parameters_text(record))
    info.add_text(RECORD_KEY, json.dumps(record, ensure_ascii=False, sort_keys=True))
    return info


def read_metadata(path: Path) -> dict:
    """{'parameters': dict | None, 'record': dict | None} from an image file; never raises on odd data."""
    with Image.open(path) as image:
        text = dict(getattr(image, "text", {}) or {})
    parameters = text.get(PARAMETERS_KEY)
    record = None
    raw = text.get(RECORD_KEY)
    if raw:
        try:
            loaded = json.loads(raw)
        except json.JSONDecodeError:
            loaded = None
        record = loaded if isinstance(loaded, dict) else None
    return {"parameters": parse_parameters(parameters) if parameters else None, "record": record}
