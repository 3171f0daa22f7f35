"""`diffusion-studio library check|rebuild`: what opening a library does by itself, on request, with a report.

check: sweep dead writers' temp files, set a damaged history aside and rebuild it, index results a
stopped process wrote but never recorded, and list what does not add up. rebuild: set the history
aside (renamed, never deleted) and build a new one from the files' embedded records.
Exit codes: 0 done; 1 the library could not be opened; 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from desktop.cli import EXIT_FAILED, EXIT_INVALID, UsageError, _fail, _Parser


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="diffusion-studio library", description="Check or rebuild the library of results.")
    p.add_argument("action", choices=["check", "rebuild"])
    p.add_argument("--library", type=Path, help="library folder (default: $DIFFUSION_STUDIO_HOME or the user data dir)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def main(argv: list[str] | None = None) -> int:
    from desktop.library.errors import LibraryError
    from desktop.library.recovery import check_library, rebuild_library

    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        report = (check_library if args.action == "check" else rebuild_library)(args.library)
    except UsageError as exc:
        return _fail(str(exc), EXIT_INVALID, debug)
    except LibraryError as exc:
        return _fail(str(exc), EXIT_FAILED, debug)
    print(json.dumps(report.to_dict()) if args.json else report.summary())
    return 0
