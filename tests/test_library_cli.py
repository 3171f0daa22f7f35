"""`diffusion-studio library check|rebuild` as a user runs it, on a real library."""

from __future__ import annotations

import json

from desktop.cli import main as generate
from desktop.library_cli import main


def make_pictures(tiny_model, count: int = 2) -> None:
    args = ["--prompt", "a red circle", "--model", str(tiny_model), "--width", "64", "--height", "64"]
    assert generate([*args, "--steps", "2", "--count", str(count)]) == 0


def test_a_damaged_history_is_set_aside_and_rebuilt_from_the_pictures(capsys, tiny_model, isolated_home):
    make_pictures(tiny_model)
    history = isolated_home / "history.sqlite3"
    history.write_bytes(b"this is not a database" * 100)
    capsys.readouterr()
    assert main(["check", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows"] == 2 and report["set_aside"]
    assert list(isolated_home.glob("history-damaged-*")), "the damaged history is kept, never deleted"


def test_rebuild_on_request_and_a_missing_library_is_one_error_line(capsys, tiny_model, isolated_home, tmp_path):
    make_pictures(tiny_model, count=1)
    capsys.readouterr()
    assert main(["rebuild"]) == 0
    assert "rebuilt" in capsys.readouterr().out
    assert main(["check", "--library", str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
