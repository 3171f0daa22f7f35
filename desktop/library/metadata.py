"""Generation parameters inside the PNG itself.

Two text chunks: `parameters` in the AUTOMATIC1111 format that other tools read and show, and
`diffusion-studio` with the full record as JSON (the source a damaged history is rebuilt from).

Reading treats the file as hostile: it never evaluates anything, never raises on odd data, bounds
every size, and runs in linear time (no backtracking regex over the text).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from PIL import Image, PngImagePlugin

from desktop.engine.tasks import FRAMES, STRENGTH, task_from

PARAMETERS_KEY = "parameters"
RECORD_KEY = "diffusion-studio"
# Our record is a few KB (a 6,000-emoji prompt is 24 KB); text beyond this is not ours: ignored.
MAX_TEXT_CHARS = 256 * 1024
MAX_RECORD_DEPTH = 8  # record -> request -> extend list is 3 deep
MAX_FIELDS = 200
# Text chunks after the pixel data are found only by decoding the image: only for sane sizes.
MAX_DECODE_PIXELS = 4096 * 4096

# Our scheduler names -> AUTOMATIC1111's "Sampler" and "Schedule type" (1.9+ splits them).
SAMPLERS: dict[str, tuple[str, str | None]] = {
    "euler": ("Euler", None),
    "euler-a": ("Euler a", None),
    "dpm++": ("DPM++ 2M", None),
    "dpm++-karras": ("DPM++ 2M", "Karras"),
    "ddim": ("DDIM", None),
    "pndm": ("PLMS", None),
    "lms": ("LMS", None),
    "heun": ("Heun", None),
    "unipc": ("UniPC", None),
}
# The model's own scheduler (request.scheduler None), by diffusers class, where it is known.
SAMPLERS_BY_CLASS = {
    "EulerDiscreteScheduler": "Euler",
    "EulerAncestralDiscreteScheduler": "Euler a",
    "DPMSolverMultistepScheduler": "DPM++ 2M",
    "DDIMScheduler": "DDIM",
    "PNDMScheduler": "PLMS",
    "LMSDiscreteScheduler": "LMS",
    "HeunDiscreteScheduler": "Heun",
    "UniPCMultistepScheduler": "UniPC",
    "KDPM2DiscreteScheduler": "DPM2",
    "KDPM2AncestralDiscreteScheduler": "DPM2 a",
    "DEISMultistepScheduler": "DEIS",
    "LCMScheduler": "LCM",
}
DEFAULT_SAMPLER = "Default"  # the model's own scheduler, class unknown

# Every character str.splitlines() breaks at: a prompt holding one could start a forged line.
_LINE_BREAK = re.compile("\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_SETTINGS_START = re.compile(r"^(Steps|Size|Sampler|Seed|CFG scale|Model): ")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')  # anchored use only (match at one position): linear


def sampler_name(scheduler: object, scheduler_class: object = None) -> tuple[str, str | None]:
    """(Sampler, Schedule type or None) for our scheduler name, or the model's own scheduler class."""
    if isinstance(scheduler, str) and scheduler:
        return SAMPLERS.get(scheduler, (scheduler, None))
    if isinstance(scheduler_class, str) and scheduler_class in SAMPLERS_BY_CLASS:
        return SAMPLERS_BY_CLASS[scheduler_class], None
    return DEFAULT_SAMPLER, None


NEGATIVE_LABEL = "Negative prompt:"


def one_line(text: object) -> str:
    """text with its line breaks written as a literal \\n: the A1111 text is line-based, so a
    prompt holding "\\nNegative prompt:" or "\\nSteps: 99" must not start lines of its own. Readers
    (sd-parsers among them) also split on "Negative prompt:" anywhere, so its colon becomes a look-alike
    (U+A789); the full record in our own chunk keeps the prompt exactly."""
    return _LINE_BREAK.sub(r"\\n", str(text)).replace(NEGATIVE_LABEL, NEGATIVE_LABEL[:-1] + "\ua789")


def model_takes(backend: str, model: str, control: str) -> bool:
    """Whether a recorded model takes a control (steps, seed, ...), from its backend's capabilities;
    for a backend this app no longer has, assume it did (the recorded values are shown)."""
    from desktop.engine.errors import ValidationError
    from desktop.engine.registry import create_backend

    try:
        return create_backend(str(backend)).capabilities(str(model)).takes(control)
    except ValidationError:
        return True


def task_uses(task: object, field: str) -> bool:
    try:
        return task_from(str(task)).spec.uses(field)
    except ValueError:
        return False


def parameters_text(record: dict) -> str:
    """The A1111 `parameters` text: prompt, `Negative prompt:` line, then `Key: value, ...`, in the
    order AUTOMATIC1111 writes them (`Steps: 20, Sampler: Euler a, Schedule type: Karras, CFG
    scale: 7, Seed: 1, Size: 512x512, Model: ...`); readers such as sd-parsers need `Sampler:`."""
    request = record["request"]
    lines = [one_line(request["prompt"])]
    if request.get("negative_prompt"):
        lines.append(f"Negative prompt: {one_line(request['negative_prompt'])}")
    fields: list[tuple[str, object]] = []
    if model_takes(request.get("backend", ""), request.get("model", ""), "steps"):
        sampler, schedule = sampler_name(request.get("scheduler"), record.get("scheduler_class"))
        fields += [("Steps", request["steps"]), ("Sampler", sampler)]
        if schedule:
            fields.append(("Schedule type", schedule))
        fields += [("CFG scale", request["guidance"]), ("Seed", record["seed"])]
    if task_uses(request.get("task"), FRAMES):
        fields += [("Frames", request.get("frames")), ("FPS", request.get("fps"))]
    fields += [("Size", f"{request['width']}x{request['height']}"), ("Model", request["model"])]
    if request.get("licence"):  # the model's licence as its card said: it travels with the picture
        fields.append(("License", request["licence"]))
    if task_uses(request.get("task"), STRENGTH) and request.get("strength") is not None:
        fields.append(("Denoising strength", request["strength"]))
    fields += [("Backend", request["backend"]), ("Task", request["task"])]
    lines.append(", ".join(f"{key}: {_quote(value)}" for key, value in fields))
    return "\n".join(lines)


def _quote(value: object) -> str:
    text = str(value)
    # A1111 quotes values that hold its separators; json.dumps also escapes line breaks.
    return json.dumps(text) if ("," in text or ":" in text or _LINE_BREAK.search(text)) else text


def parse_parameters(text: str) -> dict[str, str]:
    """Read an A1111 `parameters` text (ours or another tool's) into a dict of strings.

    Linear in the length of text; text longer than MAX_TEXT_CHARS is cut there.
    """
    head, _, last = text.strip().rpartition("\n")
    head, last = head[:MAX_TEXT_CHARS], last[:MAX_TEXT_CHARS]
    lines = head.split("\n") if head else []
    fields = _settings_fields(last) if _SETTINGS_START.match(last) else []
    # Like AUTOMATIC1111's reader: a lone line is settings only when it holds several fields.
    if not fields or (not head and len(fields) < 3):
        lines.append(last)
        fields = []
    prompt_lines, negative_lines, in_negative = [], [], False
    for line in lines:
        if line.startswith("Negative prompt:"):
            in_negative = True
            line = line[len("Negative prompt:") :].strip()
        (negative_lines if in_negative else prompt_lines).append(line)
    result = {"prompt": "\n".join(prompt_lines).strip(), "negative_prompt": "\n".join(negative_lines).strip()}
    for key, value in fields:
        result.setdefault(key, value)  # prompt and negative_prompt are never overwritten by a field
    return result


def _settings_fields(line: str) -> list[tuple[str, str]]:
    """`Key: value, Key: "quoted, value", ...` scanned once from left to right."""
    fields: list[tuple[str, str]] = []
    position, end = 0, len(line)
    # Matched quoted values never overlap, so the scan stays linear; a quote that never closes
    # is scanned to the end once, after which values are read unquoted.
    quotes_close = True
    while position < end and len(fields) < MAX_FIELDS:
        colon = line.find(":", position)
        if colon < 0:
            break
        # Text before the key that is not a field (a stray value) ends at its last comma.
        key = line[position:colon].rpartition(",")[2].strip()
        start = colon + 1
        while start < end and line[start] == " ":
            start += 1
        quoted = None
        if quotes_close and start < end and line[start] == '"':
            quoted = _QUOTED.match(line, start)
            quotes_close = quoted is not None
        if quoted:
            try:
                value = json.loads(quoted.group(0))
            except ValueError:
                value = quoted.group(0)
            comma = line.find(",", quoted.end())
        else:
            comma = line.find(",", start)
            value = line[start : comma if comma >= 0 else end].strip()
        if key and len(key) <= 64 and isinstance(value, str):
            fields.append((key, value))
        position = comma + 1 if comma >= 0 else end
    return fields


def png_info(record: dict) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    # add_text falls back to an iTXt (UTF-8) chunk when the text is not Latin-1.
    info.add_text(PARAMETERS_KEY, parameters_text(record))
    info.add_text(RECORD_KEY, json.dumps(record, ensure_ascii=False, sort_keys=True))
    return info


def parse_record(raw: object) -> dict | None:
    """Our JSON record from its chunk text; None for anything else (too long, too deep, not JSON)."""
    if not isinstance(raw, str) or not raw or len(raw) > MAX_TEXT_CHARS:
        return None
    try:
        loaded = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: hostile nesting, [[[[...]]]]
        return None
    return loaded if isinstance(loaded, dict) and _depth_at_most(loaded, MAX_RECORD_DEPTH) else None


def _depth_at_most(value: object, limit: int) -> bool:
    """True when value nests no deeper than limit; walks iteratively, stops at the first too-deep node."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return False
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return True


def png_text(path: Path) -> dict[str, str]:
    """The image's text chunks; {} for anything unreadable (not an image, truncated, a bomb)."""
    try:
        with Image.open(path) as image:
            # Chunks before the pixel data are read by open() alone; ours are written there.
            text = {k: v for k, v in image.info.items() if isinstance(k, str) and isinstance(v, str)}
            if (
                RECORD_KEY not in text
                and PARAMETERS_KEY not in text
                and image.format == "PNG"
                and image.width * image.height <= MAX_DECODE_PIXELS
            ):
                text.update({k: v for k, v in (getattr(image, "text", None) or {}).items() if isinstance(v, str)})
            return text
    except Exception:  # Pillow raises many kinds on hostile files (ValueError, SyntaxError, zlib.error, ...)
        return {}


def read_record(path: Path) -> dict | None:
    """Only the embedded record: what recovery needs, without parsing the A1111 text."""
    return parse_record(png_text(path).get(RECORD_KEY))


def read_metadata(path: Path) -> dict:
    """{'parameters': dict | None, 'record': dict | None} from an image file; never raises on odd data."""
    text = png_text(path)
    parameters = text.get(PARAMETERS_KEY)
    readable = isinstance(parameters, str) and parameters and len(parameters) <= MAX_TEXT_CHARS
    return {
        "parameters": parse_parameters(parameters) if readable else None,
        "record": parse_record(text.get(RECORD_KEY)),
    }
