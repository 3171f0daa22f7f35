"""`diffusion-studio campaign SEGMENTS.csv --prompt-template ... --output DIR`: a campaign, headless.

stdout holds only the paths of the campaign's images inside --output, one a line (the contact sheet's
path may follow), or with --json one object per image; everything else goes to stderr: a progress bar
where stderr is a terminal, notes, "N made, M already done" at the end. Exit codes as for generate:
0 done; 1 something failed (one `error:` line; what was made is kept); 2 invalid input (one `error:`
line, nothing written); 130 Ctrl-C (what was made is kept: the same command makes the rest).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import types
from pathlib import Path

from desktop.cli import EXIT_CANCELLED, EXIT_FAILED, EXIT_INVALID, UsageError, _fail, _ProgressBar, _runtime
from desktop.engine.devices import DEVICE_CHOICES
from desktop.engine.errors import EngineError, GenerationCancelled, ValidationError
from desktop.engine.registry import backend_ids
from desktop.engine.request import DEFAULT_BACKEND
from desktop.engine.schedulers import SCHEDULERS
from desktop.jobs.campaign import Campaign, CampaignError, CampaignSettings, plan
from desktop.jobs.campaign_formats import FormatError, known_formats, parse_formats
from desktop.jobs.campaign_template import DEFAULT_NAME_TEMPLATE

MAX_NOTES = 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not argparse's usage block
        raise UsageError(f"{message} (see diffusion-studio campaign --help)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="diffusion-studio campaign",
        description="One prompt template x a CSV of audience segments x the formats each channel needs.",
    )
    p.add_argument(
        "segments", type=Path, metavar="SEGMENTS.csv", help="UTF-8 CSV (or .xlsx) with a header row, a row a segment"
    )
    p.add_argument("--prompt-template", required=True, help='e.g. "A {person} at a {place} wearing our t-shirt"')
    p.add_argument("--negative-template", default="", help="what to keep out, with {column} placeholders too")
    p.add_argument("--name", help="the campaign's name (default: the CSV's file name); a run resumes by it")
    p.add_argument("--formats", default="1:1", help=f"comma-separated, from: {known_formats()} (default 1:1)")
    p.add_argument(
        "--formats-from-master",
        action="store_true",
        help="make a row's first format, then the others by outpainting it (the same subject in every format)",
    )
    p.add_argument("--backend", choices=backend_ids(), default=DEFAULT_BACKEND)
    p.add_argument("--model", default="", help="default: the built-in demo model (diffusers), dall-e-3 (openai)")
    p.add_argument("--width", type=int, help="with --height: the pixel count formats keep (default: the model's)")
    p.add_argument("--height", type=int)
    p.add_argument("--steps", type=int, help="default: the model's (the demo model: 20)")
    p.add_argument("--guidance", type=float, help="default: the model's (the demo model: 2)")
    p.add_argument("--seed", type=int, help="every row's seed (a row's seed column wins); default: drawn once per row")
    p.add_argument("--count", type=int, default=1, help="images per row and format (1-8)")
    p.add_argument("--strength", type=float, help="rows with a reference picture: how much to redraw (default 0.75)")
    p.add_argument("--scheduler", choices=sorted(SCHEDULERS), help="default: the model's own")
    p.add_argument("--quality", help="OpenAI: standard|hd (dall-e-3), low|medium|high|auto (gpt-image-1)")
    p.add_argument("--style", help="OpenAI dall-e-3: vivid|natural")
    p.add_argument("--device", choices=DEVICE_CHOICES, help="default: the app's setting, else auto")
    p.add_argument("--cpu-offload", action="store_true")
    p.add_argument("--attention-slicing", action="store_true")
    p.add_argument("--vae-tiling", action="store_true")
    p.add_argument("--allow-pickle", action="store_true", help="also load .bin/.ckpt weights (can run code)")
    p.add_argument("--output", type=Path, required=True, help="where the images, manifest.csv and contact sheet go")
    p.add_argument("--name-template", default=DEFAULT_NAME_TEMPLATE, help=f"default {DEFAULT_NAME_TEMPLATE}")
    p.add_argument("--contact-sheet", action="store_true", help="also write a PDF of captioned thumbnails")
    p.add_argument("--json", action="store_true", help="one JSON object per image instead of its path")
    p.add_argument("--library", type=Path, help="library folder (default: $DIFFUSION_STUDIO_HOME or the user data dir)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        campaign = _campaign(args)
        from desktop.jobs.local import build_engine
        from desktop.library.settings import load_settings

        settings = load_settings()  # the app's settings are the defaults; flags given here win
        engine = build_engine(settings, _runtime(args, settings))
        plan(campaign, engine)  # the whole campaign is checked before anything is loaded or written
        if args.output.exists() and not args.output.is_dir():
            raise UsageError(f"--output {args.output} is a file, not a folder: give a folder.")
        return _run(args, campaign, engine)
    except (UsageError, CampaignError, ValidationError) as exc:
        return _fail(str(exc), EXIT_INVALID, debug)
    except (GenerationCancelled, KeyboardInterrupt):
        return _fail(
            "cancelled; what was made is kept: run the same command again to make the rest.", EXIT_CANCELLED, debug
        )
    except EngineError as exc:
        return _fail(str(exc), EXIT_FAILED, debug)
    except OSError as exc:
        return _fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ") + ".", EXIT_FAILED, debug)
    except Exception as exc:  # a bug of ours: still one line, the details behind --debug
        from desktop.engine.openai_backend import redact

        message = redact(f"{type(exc).__name__}: {exc}", os.environ.get("OPENAI_API_KEY"))
        return _fail(f"unexpected failure ({message}); run again with --debug for details.", EXIT_FAILED, debug)


def _campaign(args: argparse.Namespace) -> Campaign:
    if (args.width is None) != (args.height is None):
        raise UsageError("give --width and --height together (the pixel count each format keeps), or neither.")
    try:
        formats = parse_formats(args.formats, "--formats")
    except FormatError as exc:
        raise CampaignError(str(exc)) from None
    settings = CampaignSettings(
        backend=args.backend,
        model=args.model,
        width=args.width,
        height=args.height,
        steps=args.steps,
        guidance=args.guidance,
        seed=args.seed,
        count=args.count,
        strength=args.strength,
        scheduler=args.scheduler,
        quality=args.quality,
        style=args.style,
    )
    return Campaign.from_csv(
        args.segments,
        args.prompt_template,
        name=args.name,
        negative_template=args.negative_template,
        formats=formats,
        formats_from_master=args.formats_from_master,
        settings=settings,
        name_template=args.name_template,
    )


def _run(args: argparse.Namespace, campaign: Campaign, engine) -> int:
    from desktop.jobs.campaign_run import run_campaign
    from desktop.jobs.campaign_session import CampaignSession
    from desktop.jobs.local import LocalExecutor
    from desktop.library.paths import check_writable

    check_writable(args.output)
    session = CampaignSession(campaign, engine, args.output, args.library)
    # A team server with several replicas makes as many images side by side; each runner saves
    # through a library connection of its own.
    executors = [
        LocalExecutor(engine=engine, library_root=args.library)
        for _ in range(engine.parallel_jobs(campaign.settings.backend))
    ]
    try:
        with _ProgressBar("image") as bar:
            summary = run_campaign(
                session,
                executors,
                on_image=lambda result: _print(result, args.json),
                on_progress=lambda p: bar.update(types.SimpleNamespace(step=p.done, total=p.total)),
                contact_sheet=args.contact_sheet,
            )
    finally:
        for executor in executors:
            executor.close()
        session.close()
    if summary.contact_sheet is not None and not args.json:
        print(summary.contact_sheet, flush=True)
    for note in summary.notes[:MAX_NOTES]:
        print(f"note: {note}", file=sys.stderr)
    if len(summary.notes) > MAX_NOTES:  # one a row would bury the summary: the first few say enough
        print(f"note: and {len(summary.notes) - MAX_NOTES} more notes like these.", file=sys.stderr)
    print(f"{summary.made} made, {summary.already_done} already done", file=sys.stderr)
    if summary.failed:
        planned, message = summary.failed[0]
        more = f" (and {len(summary.failed) - 1} more)" if len(summary.failed) > 1 else ""
        stopped = "; stopped after failures in a row" if summary.stopped else ""
        raise EngineError(
            f"row {planned.row}, {planned.format} failed{more}{stopped}: {message.rstrip('.')}; "
            "run the same command again to retry what is missing."
        )
    return 0


def _print(result, as_json: bool) -> None:
    if as_json:
        planned = result.planned
        line = {
            "path": str(result.path),
            "row": planned.row,
            "format": planned.format,
            "width": planned.width,
            "height": planned.height,
            "seed": planned.seed,
            "values": planned.values,
            "made": result.made,
        }
        print(json.dumps(line, ensure_ascii=False), flush=True)
    else:
        print(result.path, flush=True)
