"""`diffusion-studio generate`: the engine and library, headless, for scripts and batches.

Exit codes: 0 done; 1 the generation failed (one `error:` line); 2 invalid input (one `error:`
line, nothing written); 130 cancelled with Ctrl-C (nothing partial left).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import traceback
from pathlib import Path

from desktop.engine.devices import DEVICE_CHOICES, RuntimeOptions
from desktop.engine.errors import EngineError, GenerationCancelled, ValidationError
from desktop.engine.request import Backend, GenerationRequest, Task, validate
from desktop.engine.schedulers import SCHEDULERS

EXIT_FAILED, EXIT_INVALID, EXIT_CANCELLED = 1, 2, 130


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not argparse's usage block
        raise UsageError(f"{message} (see diffusion-studio generate --help)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="diffusion-studio generate", description="Generate images or videos from a text prompt.")
    p.add_argument("--task", choices=[t.value for t in Task], default=Task.TEXT_TO_IMAGE.value)
    p.add_argument("--prompt", required=True, help="what to draw")
    p.add_argument("--negative-prompt", default="", help="what to keep out of the image")
    p.add_argument("--backend", choices=[b.value for b in Backend], default=Backend.DIFFUSERS.value)
    p.add_argument("--model", default="", help="diffusers folder, Hugging Face id, or demo (the default); OpenAI model")
    p.add_argument("--width", type=int, help="pixels (diffusers: multiple of 8, default 512)")
    p.add_argument("--height", type=int, help="pixels (diffusers: multiple of 8, default 512)")
    p.add_argument("--steps", type=int, help="default 25 (the demo model: 20)")
    p.add_argument("--guidance", type=float, help="default 7.5 (the demo model: 2)")
    p.add_argument("--seed", type=int, help="default: random, and always recorded")
    p.add_argument("--count", type=int, default=1, help="images to make (1-8)")
    p.add_argument("--scheduler", choices=sorted(SCHEDULERS), help="default: the model's own")
    p.add_argument("--quality", help="OpenAI: standard|hd (dall-e-3), low|medium|high|auto (gpt-image-1)")
    p.add_argument("--style", help="OpenAI dall-e-3: vivid|natural")
    p.add_argument("--image", help="editing tasks: the picture to edit")
    p.add_argument("--mask", help="inpaint: white where to repaint, black where to keep")
    p.add_argument("--strength", type=float, help="editing: how much to redraw, 0-1 (default 0.75; inpaint 1)")
    p.add_argument(
        "--extend",
        type=_extend,
        default=(0, 0, 0, 0),
        metavar="L,T,R,B",
        help="outpaint: pixels to add on each side, multiples of 8",
    )
    p.add_argument("--frames", type=int, default=16, help="text-to-video: frames (2-128)")
    p.add_argument("--fps", type=int, default=8, help="text-to-video: frames per second (1-60)")
    p.add_argument("--device", choices=DEVICE_CHOICES, help="default: the app's setting, else auto")
    p.add_argument("--cpu-offload", action="store_true", help="fit large models into little GPU memory")
    p.add_argument("--attention-slicing", action="store_true")
    p.add_argument("--vae-tiling", action="store_true")
    p.add_argument("--allow-pickle", action="store_true", help="also load .bin/.ckpt weights (can run code)")
    p.add_argument("--output", type=Path, help="also copy the results into this folder")
    p.add_argument("--json", action="store_true", help="print one JSON object per result instead of paths")
    p.add_argument("--library", type=Path, help="library folder (default: $DIFFUSION_STUDIO_HOME or the user data dir)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def _extend(text: str) -> tuple[int, int, int, int]:
    parts = text.split(",")
    if len(parts) != 4 or not all(p.strip().isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"'{text}' is not four whole numbers (left,top,right,bottom)")
    return tuple(int(p) for p in parts)


def _request(args: argparse.Namespace) -> GenerationRequest:
    from desktop.demo import DEMO_DEFAULTS, DEMO_MODEL
    from desktop.resources import DEMO_MODEL_DIR

    model = args.model
    if not model and args.backend == Backend.DIFFUSERS.value and (DEMO_MODEL_DIR / "model_index.json").is_file():
        model = DEMO_MODEL  # nothing configured: the built-in demo model, where it is installed
    # Flags given win; otherwise the demo model's own defaults, otherwise the request's.
    sampling = {k: v for k, v in DEMO_DEFAULTS.items() if k in ("steps", "guidance")} if model == DEMO_MODEL else {}
    sampling.update({k: v for k, v in (("steps", args.steps), ("guidance", args.guidance)) if v is not None})
    return GenerationRequest(
        task=Task(args.task),
        prompt=args.prompt,
        negative_prompt=args.negative_prompt,
        backend=Backend(args.backend),
        model=model,
        width=args.width,
        height=args.height,
        seed=args.seed,
        count=args.count,
        scheduler=args.scheduler,
        quality=args.quality,
        style=args.style,
        frames=args.frames,
        fps=args.fps,
        image=args.image,
        mask=args.mask,
        strength=args.strength,
        extend=args.extend,
        **sampling,
    )


def main(argv: list[str] | None = None) -> int:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        args = build_parser().parse_args(argv)
        request = validate(_request(args))
        if args.output is not None and args.output.exists() and not args.output.is_dir():
            raise UsageError(f"--output {args.output} is a file, not a folder: give a folder.")
        return _run(args, request)
    except (UsageError, ValidationError) as exc:
        return _fail(str(exc), EXIT_INVALID, debug)
    except (GenerationCancelled, KeyboardInterrupt):
        return _fail("cancelled; nothing was saved.", EXIT_CANCELLED, debug)
    except EngineError as exc:
        return _fail(str(exc), EXIT_FAILED, debug)
    except OSError as exc:
        return _fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ") + ".", EXIT_FAILED, debug)
    except Exception as exc:  # a bug of ours: still one line, the details behind --debug
        from desktop.engine.openai_backend import redact

        message = redact(f"{type(exc).__name__}: {exc}", os.environ.get("OPENAI_API_KEY"))
        return _fail(f"unexpected failure ({message}); run again with --debug for details.", EXIT_FAILED, debug)


def _fail(message: str, code: int, debug: bool) -> int:
    if debug and sys.exc_info()[0] is not None:
        traceback.print_exc()
    message = message[0].lower() + message[1:] if message else message
    print(f"error: {message}", file=sys.stderr)
    return code


def _run(args: argparse.Namespace, request: GenerationRequest) -> int:
    from desktop.engine.engine import Engine
    from desktop.engine.openai_backend import OpenAISettings
    from desktop.library.key_store import load_api_key
    from desktop.library.settings import load_settings
    from desktop.library.store import Library

    # The app's settings are the defaults; flags given here win.
    settings = load_settings()
    runtime = RuntimeOptions(
        device=args.device or settings.device,
        cpu_offload=args.cpu_offload or settings.cpu_offload,
        attention_slicing=args.attention_slicing or settings.attention_slicing,
        vae_tiling=args.vae_tiling or settings.vae_tiling,
        allow_pickle_weights=args.allow_pickle or settings.allow_pickle_weights,
    )
    openai = OpenAISettings(
        api_key=load_api_key() if request.backend is Backend.OPENAI else None,
        base_url=settings.openai_base_url or None,
        timeout_s=settings.openai_timeout_s,
    )
    engine = Engine(runtime=runtime, openai=openai)
    with _ProgressBar(request) as bar:
        result = engine.generate(request, on_progress=bar.update)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    library = Library(args.library)
    try:
        saved = library.save(result)
    finally:
        library.close()
    copies = _copy_out(saved, args.output) if args.output else [None] * len(saved)
    for item, copy in zip(saved, copies, strict=True):
        if args.json:
            summary = item.summary()
            if copy is not None:
                summary["output_path"] = str(copy)
            print(json.dumps(summary), flush=True)
        else:
            print(copy or item.path, flush=True)
    return 0


def _copy_out(saved, folder: Path) -> list[Path]:
    """Copy results into --output without overwriting anything there; all or none."""
    from desktop.library.atomic import atomic_write
    from desktop.library.export import free_path

    copies: list[Path] = []
    try:
        for item in saved:
            target = free_path(folder / item.path.name)
            with open(item.path, "rb") as source:
                atomic_write(target, lambda f, s=source: shutil.copyfileobj(s, f), overwrite=False)
            copies.append(target)
    except BaseException:
        for path in copies:
            path.unlink(missing_ok=True)
        raise
    return copies


class _ProgressBar:
    """Steps on stderr (tqdm handles terminals, ETA and plain pipes)."""

    def __init__(self, request: GenerationRequest) -> None:
        self._request = request
        self._bar = None

    def __enter__(self) -> _ProgressBar:
        return self

    def update(self, progress) -> None:
        from tqdm import tqdm

        if self._bar is None:
            unit = "step" if self._request.backend is Backend.DIFFUSERS else "call"
            self._bar = tqdm(total=progress.total, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True)
        self._bar.n = progress.step
        self._bar.refresh()

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()
