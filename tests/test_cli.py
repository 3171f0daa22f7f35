"""`diffusion-studio generate`, in-process for speed and as a real process for exit codes and Ctrl-C."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from openai_server import API_KEY
from PIL import Image

from desktop.cli import main


def every_file(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def every_result(root: Path) -> list[Path]:
    """Files a generation leaves (pictures, videos, temp files), not the library's own history and lock:
    the library is opened and checked before any model loads, so a failed run may create it."""
    return [p for p in every_file(root) if p.suffix in (".png", ".mp4") or ".partial" in p.name]


def run_cli(capsys, *args: str) -> tuple[int, list[str], list[str]]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out.splitlines(), [line for line in err.splitlines() if line.startswith("error:")]


def test_generates_pngs_prints_paths_and_copies_to_output(capsys, tiny_model, isolated_home, tmp_path):
    out_dir = tmp_path / "campaign"
    code, out, errors = run_cli(
        capsys,
        "--prompt",
        "a red circle",
        "--model",
        str(tiny_model),
        "--width",
        "64",
        "--height",
        "64",
        "--steps",
        "3",
        "--seed",
        "5",
        "--count",
        "2",
        "--output",
        str(out_dir),
    )
    assert (code, errors) == (0, [])
    copies = [Path(line) for line in out]
    assert [p.parent for p in copies] == [out_dir, out_dir]
    assert all(Image.open(p).size == (64, 64) for p in copies)
    assert len([p for p in every_file(isolated_home) if p.suffix == ".png"]) == 2


def test_with_no_model_given_the_built_in_demo_model_draws_the_prompt(capsys, isolated_home):
    from desktop.training.demo.shapes import classify

    code = main(["--prompt", "a red circle on a blue background", "--seed", "1"])
    out, err = capsys.readouterr()
    assert code == 0
    image = Image.open(out.splitlines()[0])
    assert image.size == (64, 64)
    seen = classify(image)
    assert (seen["color"], seen["background"]) == ("red", "blue")
    # Words it was not trained on are named, and it still runs.
    code = main(["--prompt", "a red sneaker on a blue background", "--seed", "1"])
    out, err = capsys.readouterr()
    assert code == 0 and len(out.splitlines()) == 1
    assert "does not know the word sneaker" in err


def test_json_lines_carry_what_scripts_need(capsys, tiny_model):
    code, out, _ = run_cli(
        capsys,
        "--prompt",
        "a red circle",
        "--model",
        str(tiny_model),
        "--width",
        "64",
        "--height",
        "64",
        "--steps",
        "2",
        "--seed",
        "11",
        "--json",
    )
    assert code == 0
    (line,) = out
    data = json.loads(line)
    assert {k: data[k] for k in ("seed", "backend", "model", "width", "height", "steps")} == {
        "seed": 11,
        "backend": "diffusers",
        "model": str(tiny_model),
        "width": 64,
        "height": 64,
        "steps": 2,
    }
    assert Path(data["path"]).is_file() and data["library_path"] == data["path"]


def test_json_gives_the_path_inside_output_and_stderr_has_no_progress_bar_when_not_a_terminal(
    capsys, tiny_model, tmp_path
):
    out_dir = tmp_path / "campaign"
    out_dir.mkdir()
    code = main(
        ["--prompt", "a red circle", "--model", str(tiny_model), "--width", "64", "--height", "64",
         "--steps", "2", "--json", "--output", str(out_dir)]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0 and err == ""  # captured stderr is not a terminal: no "0%| |" bar lines
    data = json.loads(out.splitlines()[0])
    assert Path(data["path"]).parent == out_dir and Path(data["path"]).is_file()
    assert Path(data["library_path"]).is_file() and Path(data["library_path"]) != Path(data["path"])


def test_a_copy_never_overwrites_a_file_in_the_output_folder(capsys, tiny_model, tmp_path):
    out_dir = tmp_path / "out"
    args = [
        "--prompt",
        "a red circle",
        "--model",
        str(tiny_model),
        "--width",
        "64",
        "--height",
        "64",
        "--steps",
        "2",
        "--output",
        str(out_dir),
    ]
    first = run_cli(capsys, *args)[1][0]
    Path(first).rename(out_dir / "keep.png")
    (out_dir / Path(first).name).write_bytes(b"someone else's file")
    assert run_cli(capsys, *args)[0] == 0
    assert (out_dir / Path(first).name).read_bytes() == b"someone else's file"


def test_text_to_video_writes_an_mp4_with_the_frames_and_fps_asked_for(capsys, tiny_video_model):
    from desktop.library.video import video_info

    code, out, errors = run_cli(
        capsys,
        "--task",
        "text-to-video",
        "--prompt",
        "a smart watch",
        "--model",
        str(tiny_video_model),
        "--width",
        "64",
        "--height",
        "64",
        "--steps",
        "2",
        "--frames",
        "8",
        "--fps",
        "4",
        "--json",
    )
    assert (code, errors) == (0, [])
    data = json.loads(out[0])
    assert data["media"] == "video" and data["path"].endswith(".mp4") and (data["frames"], data["fps"]) == (8, 4)
    info = video_info(Path(data["path"]))
    assert (info["frames"], info["fps"]) == (8, 4.0)


def test_outpaint_from_the_command_line_extends_to_a_banner(capsys, tiny_model, tmp_path):
    Image.new("RGB", (64, 64), (10, 120, 200)).save(tmp_path / "shot.png")
    code, out, errors = run_cli(
        capsys,
        "--task",
        "outpaint",
        "--prompt",
        "sneaker on a beach",
        "--model",
        str(tiny_model),
        "--image",
        str(tmp_path / "shot.png"),
        "--extend",
        "32,0,32,0",
        "--steps",
        "2",
    )
    assert (code, errors) == (0, [])
    result = Image.open(out[0])
    # The original beyond the overlap band along the extended edges is exact.
    assert result.size == (128, 64) and result.getpixel((64, 10)) == (10, 120, 200)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--prompt", ""], "prompt is empty"),
        (["--prompt", "x", "--model", "m", "--width", "100"], "width must be a multiple of 8"),
        (["--prompt", "x", "--model", "m", "--steps", "0"], "steps must be between 1 and 150"),
        (["--prompt", "x", "--model", "m", "--guidance", "31"], "guidance must be between"),
        (["--prompt", "x", "--model", "m", "--count", "20"], "count must be between 1 and 8"),
        (["--prompt", "x", "--model", "m", "--seed", "-3"], "seed must be between"),
        (
            [
                "--prompt",
                "x",
                "--backend",
                "openai",
                "--model",
                "dall-e-2",
                "--width",
                "64",
                "--height",
                "64",
            ],
            "dall-e-2 does not make 64x64 images",
        ),
        (["--prompt", "x", "--steps", "many"], "invalid int value: 'many'"),
        (["--prompt", "x", "--backend", "midjourney"], "invalid choice: 'midjourney'"),
        (["--model", "m"], "prompt is empty: describe the image you want."),
        (["--prompt", "x", "--model", "m", "--task", "text-to-video", "--frames", "1"], "frames must be between"),
        (["--prompt", "x", "--task", "text-to-audio"], "invalid choice: 'text-to-audio'"),
        (["--prompt", "x", "--model", "m", "--task", "inpaint"], "inpaint needs a picture to edit"),
        (["--prompt", "x", "--task", "outpaint", "--extend", "1,2"], "'1,2' is not four whole numbers"),
    ],
)
def test_invalid_input_exits_2_with_one_error_line_and_writes_nothing(capsys, isolated_home, args, says):
    code, out, errors = run_cli(capsys, *args)
    assert code == 2 and out == []
    assert len(errors) == 1 and says in errors[0]
    assert every_file(isolated_home) == []


def test_an_output_path_that_is_a_file_is_invalid_input(capsys, isolated_home, tmp_path):
    (tmp_path / "file").write_text("x")
    code, _, errors = run_cli(capsys, "--prompt", "x", "--model", "m", "--output", str(tmp_path / "file"))
    assert code == 2 and "is a file, not a folder" in errors[0]


def test_a_missing_model_exits_1_and_leaves_nothing(capsys, isolated_home, tmp_path):
    code, out, errors = run_cli(capsys, "--prompt", "x", "--model", str(tmp_path / "missing"))
    assert (code, out) == (1, [])
    assert errors == [
        f"error: model folder {tmp_path / 'missing'} does not exist: give the path of a diffusers "
        "model folder or a Hugging Face id such as org/name."
    ]
    assert every_result(isolated_home) == []


def test_openai_through_a_compatible_server_and_the_key_is_in_no_file(capsys, openai_server, isolated_home, tmp_path):
    code, out, errors = run_cli(
        capsys,
        "--prompt",
        "a smart watch",
        "--backend",
        "openai",
        "--model",
        "dall-e-2",
        "--width",
        "512",
        "--height",
        "512",
        "--output",
        str(tmp_path / "o"),
        "--json",
    )
    assert (code, errors) == (0, [])
    data = json.loads(out[0])
    assert data["seed"] is None and data["backend"] == "openai" and data["width"] == 512
    written = every_file(isolated_home) + every_file(tmp_path / "o")
    assert len(written) >= 3
    for path in written:
        content = path.read_bytes()
        assert API_KEY.encode() not in content and b"sk-test" not in content, path


def test_a_refused_prompt_exits_1_with_the_reason_and_nothing_written(capsys, openai_server, isolated_home):
    openai_server.mode = "400-policy"
    code, out, errors = run_cli(capsys, "--prompt", "x", "--backend", "openai")
    assert (code, out) == (1, [])
    assert errors == ["error: the prompt was refused under the provider's content policy: rephrase it and try again."]
    assert every_result(isolated_home) == []


def _cli_process(args, env_home, **kwargs):
    env = {**os.environ, "DIFFUSION_STUDIO_HOME": str(env_home), "PYTHONUNBUFFERED": "1"}
    kwargs.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen(
        [sys.executable, "-m", "desktop", *args], env=env, stdout=subprocess.PIPE, text=True, **kwargs
    )


def test_version_answers_without_importing_torch():
    code = (
        "import sys; from desktop.app import main; main(['--version']); "
        "print(sorted(m for m in ('torch', 'diffusers', 'transformers', 'openai') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["diffusion-studio 0.1.0", "[]"]


def test_a_real_process_has_no_traceback_without_debug_and_one_with_it(tmp_path):
    args = ["generate", "--prompt", "x", "--model", str(tmp_path / "missing")]
    quiet = _cli_process(args, tmp_path / "home")
    _, err = quiet.communicate(timeout=120)
    assert quiet.returncode == 1 and err.strip().splitlines() == [err.strip()] and err.startswith("error: ")
    loud = _cli_process([*args, "--debug"], tmp_path / "home")
    _, err = loud.communicate(timeout=120)
    assert loud.returncode == 1 and "Traceback" in err and err.strip().splitlines()[-1].startswith("error: ")


def test_ctrl_c_mid_generation_exits_130_and_leaves_nothing(tiny_model, tmp_path):
    home = tmp_path / "home"
    # stderr is a terminal here (a pty), as for a user at a shell: the progress bar shows there.
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a real one has a size
    args = ["--prompt", "a red circle", "--model", str(tiny_model), "--width", "256", "--height", "256"]
    # Ctrl-C as at a shell: a process started in the background by a non-interactive shell (as a CI
    # job may run this suite) ignores SIGINT, and its children inherit that.
    child = _cli_process(
        ["generate", *args, "--steps", "150"],
        home,
        stderr=terminal,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    os.close(terminal)
    # Wait for the progress bar to show the loop is running, then press Ctrl-C.
    seen = b""
    while b"step" not in seen:
        chunk = os.read(controller, 256)
        assert chunk, f"the CLI ended before its progress bar showed: {seen!r}"
        seen += chunk
    child.send_signal(signal.SIGINT)
    out, _ = child.communicate(timeout=120)
    err = b""
    with contextlib.suppress(OSError):  # EIO once the child has closed the terminal
        while chunk := os.read(controller, 4096):
            err += chunk
    os.close(controller)
    err = err.decode("utf-8", "replace")
    assert child.returncode == 130 and out == ""
    assert "error: cancelled; nothing was saved." in err and "Traceback" not in err
    assert [p for p in every_file(home) if p.suffix == ".png" or ".partial" in p.name] == []
