"""Start-up: `diffusion-studio` opens the window; `diffusion-studio generate ...` runs headless.

Kept light: `--version` and the window's first paint import neither torch, diffusers,
transformers nor openai.
"""

from __future__ import annotations

import sys

from desktop import __version__


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["generate"]:
        from desktop import cli

        return cli.main(argv[1:])
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
    from desktop.ui.application import run

    return run(argv)
