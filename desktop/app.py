"""Start-up: `diffusion-studio` opens the window; `diffusion-studio generate ...` runs headless.

Kept light: `--version` and the window's first paint import neither torch, diffusers,
transformers nor openai.
"""

from __future__ import annotations

import os
import sys

from desktop import __version__

USAGE = """usage: diffusion-studio [COMMAND] [--debug]

With no command, the window opens.

commands:
  generate                  make pictures or videos headless (diffusion-studio generate --help)
  campaign                  a prompt template x a CSV of segments x formats (diffusion-studio campaign --help)
  serve                     serve models to the team over the OpenAI Images API (diffusion-studio serve --help)
  library check|rebuild     check the library of results and repair it, or rebuild its history from the files
  models                    list, download and remove models (diffusion-studio models --help)

options:
  -h, --help                show this help and leave
  -V, --version             print the version and leave
  --install-desktop-entry   put the app in your desktop's menu (files under ~/.local/share)
  --uninstall-desktop-entry take it out again
  --debug                   show tracebacks and debug logging
"""
COMMANDS = ("generate", "campaign", "library", "models", "serve")
# Options the window itself takes (Qt's own start with a single dash: -platform, -style, ...).
WINDOW_OPTIONS = ("--debug", "--smoke-test")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--engine-worker"] and len(argv) == 2 and argv[1].isdigit():
        # The bundle's engine process (desktop/worker/client.py starts it so; `-m` needs Python).
        from desktop.worker.host import main as worker_main

        worker_main(int(argv[1]))
        return 0
    if argv[:1] == ["generate"]:
        from desktop import cli

        return cli.main(argv[1:])
    if argv[:1] == ["campaign"]:
        from desktop import campaign_cli

        return campaign_cli.main(argv[1:])
    if argv[:1] == ["serve"]:
        from desktop.server.main import main as serve_main

        return serve_main(argv[1:])
    if argv[:1] == ["library"]:
        from desktop import library_cli

        return library_cli.main(argv[1:])
    if argv[:1] == ["models"]:
        from desktop import models_cli

        return models_cli.main(argv[1:])
    if argv[:1] in (["--help"], ["-h"]):
        print(USAGE, end="")
        return 0
    if argv and not argv[0].startswith("-"):
        print(
            f"error: '{argv[0]}' is not a command; the commands are: {', '.join(COMMANDS)} "
            "(with no command, the window opens; see diffusion-studio --help).",
            file=sys.stderr,
        )
        return 2
    unknown = [a for a in argv if a.startswith("--") and a not in WINDOW_OPTIONS]
    if unknown and argv[:1] not in (["--version"], ["--install-desktop-entry"], ["--uninstall-desktop-entry"]):
        print(f"error: unknown option {unknown[0]} (see diffusion-studio --help).", file=sys.stderr)
        return 2
    if argv[:1] in (["--version"], ["-V"]):
        print(f"diffusion-studio {__version__}")
        return 0
    if argv[:1] in (["--install-desktop-entry"], ["--uninstall-desktop-entry"]):
        from desktop import desktop_entry

        install = argv[0] == "--install-desktop-entry"
        paths = desktop_entry.install() if install else desktop_entry.uninstall()
        verb = "installed" if install else "removed"
        print(f"{verb} {len(paths)} files under {desktop_entry.data_home()}")
        return 0
    if not _display_available():
        print(
            "error: no display was found (DISPLAY and WAYLAND_DISPLAY are not set): start the app on a desktop, "
            "or make pictures without a window with diffusion-studio generate --prompt TEXT.",
            file=sys.stderr,
        )
        return 1
    from desktop.ui.application import run

    return run(argv)


def _display_available() -> bool:
    """False where Qt would abort (exit 134) for want of a screen: Linux without X11 or Wayland."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return True  # macOS and Windows always have one; a chosen platform (offscreen) needs none
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
