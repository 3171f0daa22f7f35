"""`diffusion-studio generate`: the engine and library, headless, for scripts and batches.

Exit codes: 0 done; 1 the generation failed (one `error:` line); 2 invalid input (one `error:`
line, nothing written); 130 cancelled with Ctrl-C (nothing partial left).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import traceback
from pathlib import Path

from desktop.engine.devices import DEVICE_CHOICES, RuntimeOptions
from desktop.engine.errors import EngineError, GenerationCancelled, ValidationError
from desktop.engine.licences import is_non_commercial
from desktop.engine.presets import installed_built_ins
from desktop.engine.registry import backend_ids
from desktop.engine.request import DEFAULT_BACKEND, GenerationRequest
from desktop.engine.schedulers import SCHEDULERS
from desktop.engine.tasks import MediaKind, Task

EXIT_FAILED, EXIT_INVALID, EXIT_CANCELLED = 1, 2, 130


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not argparse's usage block
        raise UsageError(f"{message} (see diffusion-studio generate --help)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="diffusion-studio generate", description="Generate images or videos from a text prompt.")
    p.add_argument("--task", choices=[t.value for t in Task], default=Task.TEXT_TO_IMAGE.value)
    p.add_argument("--prompt", default="", help="what to draw (optional for upscale)")
    p.add_argument("--negative-prompt", default="", help="what to keep out of the image")
    p.add_argument("--backend", choices=backend_ids(), help="default: upscale for --task upscale, else diffusers")
    p.add_argument(
        "--model",
        default="",
        help="diffusers folder, Hugging Face id, or demo (the default); OpenAI model; upscale: an upscaler "
        ".safetensors file or diffusers upscaler folder (none: a plain Lanczos resize)",
    )
    p.add_argument("--width", type=int, help="pixels (diffusers: multiple of 8, default 512)")
    p.add_argument("--height", type=int, help="pixels (diffusers: multiple of 8, default 512)")
    p.add_argument("--steps", type=int, help="default 25 (the demo model: 20)")
    p.add_argument("--guidance", type=float, help="default 7.5 (the demo model: 2)")
    p.add_argument("--seed", type=int, help="default: random, and always recorded")
    p.add_argument("--count", type=int, default=1, help="images to make (1-8)")
    p.add_argument("--scheduler", choices=sorted(SCHEDULERS), help="default: the model's own")
    p.add_argument("--quality", help="OpenAI: standard|hd (dall-e-3), low|medium|high|auto (gpt-image-1)")
    p.add_argument("--style", help="OpenAI dall-e-3: vivid|natural")
    p.add_argument("--image", help="editing tasks: the picture to edit; image-to-video: the clip's first frame")
    p.add_argument("--mask", help="inpaint: white where to repaint, black where to keep")
    p.add_argument("--strength", type=float, help="editing: how much to redraw, 0-1 (default 0.75; inpaint 1)")
    p.add_argument(
        "--scale", type=int, choices=(2, 3, 4), help="upscale: how many times larger (default: the upscaler's own)"
    )
    p.add_argument(
        "--extend",
        type=_extend,
        default=(0, 0, 0, 0),
        metavar="L,T,R,B",
        help="outpaint: pixels to add on each side, multiples of 8",
    )
    p.add_argument(
        "--frames", type=int, help="videos: frames (2-257, Wan 4k+1, LTX 8k+1; default: the model's, else 16)"
    )
    p.add_argument("--fps", type=int, help="videos: frames per second (1-60; default: the model's, else 8)")
    p.add_argument("--device", choices=DEVICE_CHOICES, help="default: the app's setting, else auto")
    p.add_argument("--cpu-offload", action="store_true", help="fit large models into little GPU memory")
    p.add_argument("--attention-slicing", action="store_true")
    p.add_argument("--vae-tiling", action="store_true")
    p.add_argument("--allow-pickle", action="store_true", help="also load .bin/.ckpt weights (can run code)")
    p.add_argument(
        "--server", help="--backend server: the server's root URL (token: Settings or DIFFUSION_STUDIO_SERVER_TOKEN)"
    )
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


def _default_model(engine, backend_id: str, task: Task) -> str:
    """Nothing named: the backend's default (the built-in demo model, where installed), or the first
    built-in model that can do the task (the demo video model for a video)."""
    default = engine.backend(backend_id).default_model()
    built_ins = installed_built_ins() if backend_id == "diffusers" else []
    for model in dict.fromkeys([default, *built_ins]):
        if model and task in engine.capabilities(backend_id, model).tasks:
            return model
    return default


def _request(args: argparse.Namespace, engine, settings) -> GenerationRequest:
    if args.task == Task.UPSCALE.value and not args.model and settings.default_upscaler:
        args.model = settings.default_upscaler
    model = args.model or _default_model(engine, args.backend, Task(args.task))
    # Flags given win; otherwise the model's own defaults (its preset), otherwise the request's.
    defaults = engine.capabilities(args.backend, model).defaults
    tuning = {
        name: value
        for name in ("steps", "guidance", "frames", "fps")
        if (value := getattr(args, name) if getattr(args, name) is not None else defaults.get(name)) is not None
    }
    return GenerationRequest(
        task=Task(args.task),
        prompt=args.prompt,
        negative_prompt=args.negative_prompt,
        backend=args.backend,
        model=model,
        width=args.width,
        height=args.height,
        seed=args.seed,
        count=args.count,
        scheduler=args.scheduler,
        quality=args.quality,
        style=args.style,
        image=args.image,
        mask=args.mask,
        strength=args.strength,
        extend=args.extend,
        scale=args.scale,
        **{k: int(v) if k != "guidance" else float(v) for k, v in tuning.items()},
    )


def main(argv: list[str] | None = None) -> int:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        args = build_parser().parse_args(argv)
        args.backend = args.backend or ("upscale" if args.task == Task.UPSCALE.value else DEFAULT_BACKEND)
        from desktop.jobs.local import build_engine
        from desktop.library.settings import load_settings

        # The app's settings are the defaults; flags given here win.
        settings = load_settings()
        engine = build_engine(settings, _runtime(args, settings), server_url=args.server)
        request = engine.validate(_request(args, engine, settings))
        if is_non_commercial(request.licence):  # the window asks; a script is told once per run
            print(f"note: {request.model} is licensed {request.licence}: non-commercial use only.", file=sys.stderr)
        if args.output is not None and args.output.exists() and not args.output.is_dir():
            raise UsageError(f"--output {args.output} is a file, not a folder: give a folder.")
        # Where the results go is checked before any model loads: a bad path costs nothing.
        library = _open_destinations(args)
        try:
            return _run(args, request, engine, library)
        finally:
            library.close()
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


def _runtime(args: argparse.Namespace, settings) -> RuntimeOptions:
    """The settings' options (the speed options too), with the flags given here switched on."""
    options = settings.runtime_options()
    return dataclasses.replace(
        options,
        device=args.device or options.device,
        cpu_offload=args.cpu_offload or options.cpu_offload,
        attention_slicing=args.attention_slicing or options.attention_slicing,
        vae_tiling=args.vae_tiling or options.vae_tiling,
        allow_pickle_weights=args.allow_pickle or options.allow_pickle_weights,
    )


def _open_destinations(args: argparse.Namespace):
    """The library (opened, recovered and checked) and --output (writable; dead writers' temp files swept)."""
    from desktop.library.atomic import sweep_partials
    from desktop.library.paths import check_writable
    from desktop.library.store import Library

    if args.output is not None:
        check_writable(args.output)
        sweep_partials(args.output)
    library = Library(args.library)
    check_writable(library.images_dir)
    return library


def _run(args: argparse.Namespace, request: GenerationRequest, engine, library) -> int:
    from desktop.engine.backend import STEPS
    from desktop.jobs.local import LocalExecutor
    from desktop.jobs.runner import JobProgress, JobRunner, JobState
    from desktop.library.store import SavedItem

    executor = LocalExecutor(engine=engine, library=library)
    unit = "step" if engine.capabilities(request.backend, request.model).takes(STEPS) else "call"
    with _ProgressBar(unit) as bar:
        runner = JobRunner(
            executor, lambda event: bar.update(event.progress) if isinstance(event, JobProgress) else None
        )
        job = runner.submit(request)
        try:
            runner.run_pending()
        finally:
            executor.close()
    if job.state is JobState.CANCELLED:
        raise GenerationCancelled()
    if job.exception is not None:
        raise job.exception
    if job.state is JobState.FAILED:
        raise (ValidationError(job.error_field, job.message) if job.error_field else EngineError(job.message))
    for note in job.outcome.notes:
        print(f"note: {note}", file=sys.stderr)
    saved = [SavedItem(row, library.absolute(row)) for row in map(library.db.get, job.outcome.row_ids)]
    try:
        copies = _copy_out(saved, args.output) if args.output else [None] * len(saved)
    except OSError as exc:
        kept = ", ".join(str(item.path) for item in saved)
        raise EngineError(
            f"could not copy the results into {args.output} ({exc.strerror or exc}); they are saved in the library: "
            f"{kept}."
        ) from exc
    for item, copy in zip(saved, copies, strict=True):
        if args.json:
            # path is where the user asked for it (inside --output when given), as plain output says.
            summary = {**item.summary(), "path": str(copy or item.path), "library_path": str(item.path)}
            if copy is not None and "turntable" in summary:
                from desktop.library.mesh import turntable_name

                summary["turntable"] = str(turntable_name(copy))
            print(json.dumps(summary), flush=True)
        else:
            print(copy or item.path, flush=True)
    return 0


def _copy_out(saved, folder: Path) -> list[Path]:
    """Copy results into --output without overwriting anything there; all or none."""
    from desktop.library.atomic import atomic_write
    from desktop.library.export import free_path

    def copy(source_path: Path, target: Path) -> None:
        with open(source_path, "rb") as source:
            atomic_write(target, lambda f, s=source: shutil.copyfileobj(s, f), overwrite=False)
        written.append(target)

    copies: list[Path] = []
    written: list[Path] = []
    try:
        for item in saved:
            target = free_path(folder / item.path.name)
            copy(item.path, target)
            if item.row.media == MediaKind.MESH:  # a 3D object travels with its turntable
                from desktop.library.mesh import turntable_name

                copy(turntable_name(item.path), turntable_name(target))
            copies.append(target)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return copies


class _ProgressBar:
    """Steps on stderr where it is a terminal (tqdm draws the bar and the ETA)."""

    def __init__(self, unit: str) -> None:
        self._unit = unit
        self._bar = None

    def __enter__(self) -> _ProgressBar:
        return self

    def update(self, progress) -> None:
        from tqdm import tqdm

        if not sys.stderr.isatty():
            return  # a log file or a pipe gets only the error line, not bar redraws
        if self._bar is None:
            self._bar = tqdm(total=progress.total, unit=self._unit, file=sys.stderr, leave=False, dynamic_ncols=True)
        self._bar.n = progress.step
        self._bar.refresh()

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()
