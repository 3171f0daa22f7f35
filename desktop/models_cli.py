"""`diffusion-studio models list | download ID [--variant fp16] | remove ID`: the model manager, headless.

ID is a Hugging Face id (org/name) or a catalogue key (`diffusion-studio models list` shows both).
download puts the files the pipeline needs into the Hugging Face cache, with a progress bar where stderr
is a terminal, and prints the model's folder; Ctrl-C stops it and the same command resumes it. Nothing is
downloaded by any other command. Exit codes: 0 done; 1 failed (one `error:` line); 2 bad usage;
130 cancelled with Ctrl-C (what was downloaded is kept).
"""

from __future__ import annotations

import argparse
import json
import sys

from desktop.cli import EXIT_CANCELLED, EXIT_FAILED, EXIT_INVALID, UsageError, _fail

VARIANTS = ("fp16", "full")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not argparse's usage block
        raise UsageError(f"{message} (see diffusion-studio models --help)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="diffusion-studio models", description="List, download and remove models.")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="action", required=True, parser_class=_Parser)
    listing = sub.add_parser("list", help="installed models, then the catalogue")
    listing.add_argument("--installed", action="store_true", help="only what is on this computer")
    listing.add_argument("--catalogue", action="store_true", help="only the catalogue")
    listing.add_argument("--search", default="", help="words every listed model matches (name, task, licence…)")
    listing.add_argument("--json", action="store_true", help="one JSON object per model")
    fetch = sub.add_parser("download", help="download a model from the catalogue or any Hugging Face id")
    fetch.add_argument("id", help="org/name, or a catalogue key such as sd15")
    fetch.add_argument(
        "--variant",
        choices=VARIANTS,
        help="fp16: half-size weights where the model ships them (for NVIDIA GPUs); full: full precision "
        "(default: fp16 where this computer's GPU runs fp16, else full)",
    )
    fetch.add_argument("--revision", default="main", help="a branch, tag or commit (default main)")
    fetch.add_argument("--json", action="store_true", help="print the result as one JSON object")
    drop = sub.add_parser("remove", help="delete a model from the Hugging Face cache")
    drop.add_argument("id", help="org/name, or a catalogue key")
    drop.add_argument("--json", action="store_true", help="print the result as one JSON object")
    for command in (listing, fetch, drop):
        command.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        return _fail(str(exc), EXIT_INVALID, debug)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    from desktop.library.settings import load_settings

    settings = load_settings()
    if args.action == "list":
        return _list(args, settings)
    if args.action == "download":
        return _download(args, settings, debug)
    return _remove(args, settings, debug)


# --- list ------------------------------------------------------------------------------------------


def _list(args, settings) -> int:
    from desktop.models.catalogue import catalogue
    from desktop.models.installed import scan_installed
    from desktop.models.licence import licence_text
    from desktop.models.sizes import format_bytes, format_gb

    both = not (args.installed or args.catalogue)
    installed = scan_installed(settings.model_folders) if args.installed or both else []
    words = args.search.lower().split()
    installed = [m for m in installed if all(w in _installed_text(m) for w in words)]
    entries = [e for e in catalogue() if e.matches(args.search)] if args.catalogue or both else []
    if args.json:
        for model in installed:
            print(json.dumps(_installed_dict(model)))
        for entry in entries:
            print(json.dumps(_entry_dict(entry, installed)))
        return 0
    if args.installed or both:
        print(f"Installed ({len(installed)}):")
        for m in installed:
            state = "" if m.usable else f"  [{m.problem}]"
            print(f"  {m.id}")
            print(
                f"      {m.kind}, {', '.join(m.tasks) or 'task unknown'}; {format_bytes(m.size_bytes)} in {m.where}; "
                f"{licence_text(m.licence)}{state}"
            )
        if not installed:
            print("  none yet: download one with `diffusion-studio models download ID`.")
    if both:
        print()
    if args.catalogue or both:
        have = {m.id for m in installed}
        print(f"Catalogue ({len(entries)}; download with `diffusion-studio models download KEY`):")
        for e in entries:
            fp16 = f", fp16 {format_gb(e.fp16_download_gb)}" if e.has_fp16 else ""
            mark = "  [installed]" if e.id in have else ""
            print(f"  {e.key:<16} {e.name} ({e.id}){mark}")
            print(
                f"      {', '.join(e.tasks)}; download {format_gb(e.download_gb)}{fp16}; GPU memory "
                f"~{e.memory_gb:g} GB ({e.offload_memory_gb:g} GB with CPU offload); {e.licence_name}, "
                f"{e.commercial_text}"
            )
            print(f"      {e.description}")
    return 0


def _installed_text(model) -> str:
    return " ".join((model.id, model.name, model.kind, " ".join(model.tasks), model.licence or "", model.where)).lower()


def _installed_dict(model) -> dict:
    from desktop.models.licence import commercial_use

    return {
        "installed": True,
        "id": model.id,
        "name": model.name,
        "kind": model.kind,
        "where": model.source,
        "path": str(model.path),
        "size_bytes": model.size_bytes,
        "tasks": list(model.tasks),
        "licence": model.licence,
        "commercial": commercial_use(model.licence),
        "usable": model.usable,
        "problem": model.problem,
    }


def _entry_dict(entry, installed) -> dict:
    return {
        "installed": any(m.id == entry.id for m in installed),
        "catalogue": True,
        "key": entry.key,
        "id": entry.id,
        "name": entry.name,
        "tasks": list(entry.tasks),
        "download_gb": entry.download_gb,
        "fp16_download_gb": entry.fp16_download_gb,
        "memory_gb": entry.memory_gb,
        "offload_memory_gb": entry.offload_memory_gb,
        "licence": entry.licence,
        "commercial": entry.commercial,
        "description": entry.description,
    }


# --- download --------------------------------------------------------------------------------------


def _download(args, settings, debug: bool) -> int:
    from desktop.models.catalogue import find_entry
    from desktop.models.download import Download, DownloadCancelled, DownloadError
    from desktop.models.memory import catalogue_need, device_memory, memory_warning

    entry = find_entry(args.id)
    repo_id = entry.id if entry else args.id.strip()
    device = device_memory(settings.device)
    variant = _variant(args.variant, settings.device, device)
    if variant == "fp16" and not device.gpu:
        _note("fp16 weights load only on an NVIDIA GPU; this computer runs models on its CPU in fp32.")
    if entry is not None:
        warning = memory_warning(catalogue_need(entry), device, settings.cpu_offload, entry.name)
        if warning:
            _note(warning)
    bar = _Bar()
    job = Download(
        repo_id, variant=variant, files=entry.files if entry else (), revision=args.revision, on_progress=bar
    )
    try:
        result = job.run()
    except DownloadCancelled as exc:
        bar.close()
        return _fail(str(exc), EXIT_FAILED, debug)
    except KeyboardInterrupt:
        bar.close()
        print(
            f"cancelled: what was downloaded is kept; `diffusion-studio models download {args.id}` resumes it.",
            file=sys.stderr,
        )
        return EXIT_CANCELLED
    except DownloadError as exc:
        bar.close()
        return _fail(str(exc), EXIT_FAILED, debug)
    bar.close()
    files = [p for p in result.folder.rglob("*.safetensors")] if entry and entry.files else []
    where = files[0] if len(files) == 1 else result.folder
    if args.json:
        print(
            json.dumps(
                {
                    "id": result.repo_id,
                    "path": str(where),
                    "files": result.files,
                    "total_bytes": result.total_bytes,
                    "downloaded_bytes": result.downloaded_bytes,
                    "resumed_bytes": result.resumed_bytes,
                    "variant": result.variant,
                }
            )
        )
    else:
        print(where)
        _note(_summary(result), prefix="")
    return 0


def _variant(asked: str | None, preference: str, device) -> str | None:
    if asked == "full":
        return None
    if asked == "fp16":
        return "fp16"
    # The engine loads fp16 weights where it runs in fp16: on an NVIDIA GPU (devices.pick_device).
    return "fp16" if device.gpu and preference in ("auto", "cuda") else None


def _summary(result) -> str:
    from desktop.models.sizes import format_bytes

    precision = "fp16 weights" if result.variant == "fp16" else "full-precision weights"
    resumed = f", {format_bytes(result.resumed_bytes)} were already here" if result.resumed_bytes else ""
    return (
        f"{result.repo_id}: {result.files} files, {format_bytes(result.total_bytes)} ({precision}); "
        f"{format_bytes(result.downloaded_bytes)} downloaded{resumed}. Use it with --model {result.repo_id}."
    )


def _note(text: str, prefix: str = "note: ") -> None:
    print(f"{prefix}{text}", file=sys.stderr)


class _Bar:
    """Bytes, speed and time left on stderr where it is a terminal (tqdm draws them)."""

    def __init__(self) -> None:
        self._bar = None

    def __call__(self, progress) -> None:
        if not sys.stderr.isatty() or progress.total_bytes <= 0:
            return
        from tqdm import tqdm

        if self._bar is None:
            self._bar = tqdm(
                total=progress.total_bytes,
                initial=progress.done_bytes,
                unit="B",
                unit_scale=True,
                unit_divisor=1000,
                file=sys.stderr,
                dynamic_ncols=True,
                leave=False,
            )
        self._bar.set_description_str(f"{progress.files_done}/{progress.files_total} {progress.file[-40:]}")
        self._bar.n = progress.done_bytes
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


# --- remove ----------------------------------------------------------------------------------------


def _remove(args, settings, debug: bool) -> int:
    from desktop.models.installed import RemoveError, find_installed, remove, scan_installed
    from desktop.models.sizes import format_bytes

    model = find_installed(args.id, scan_installed(settings.model_folders))
    if model is None:
        return _fail(f"{args.id} is not installed: nothing was removed (see diffusion-studio models list).", 1, debug)
    try:
        freed = remove(model)
    except RemoveError as exc:
        return _fail(str(exc), EXIT_FAILED, debug)
    if args.json:
        print(json.dumps({"id": model.id, "freed_bytes": freed}))
    else:
        print(f"removed {model.id}: {format_bytes(freed)} freed.")
    return 0
