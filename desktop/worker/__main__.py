"""`python -m desktop.worker FD`: the engine process, talking to its parent over the socket FD."""

from __future__ import annotations

import sys

from desktop.worker.host import main

if len(sys.argv) != 2 or not sys.argv[1].isdigit():
    print("usage: python -m desktop.worker FD (started by the app, not by hand)", file=sys.stderr)
    raise SystemExit(2)
main(int(sys.argv[1]))
