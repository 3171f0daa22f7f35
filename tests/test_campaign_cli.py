"""`diffusion-studio campaign`, in-process with the demo model (2 steps), and as a real process killed
mid-run: stdout holds only the images' paths, every mistake is one line before anything is written,
and a rerun makes exactly what is missing."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from desktop.campaign_cli import main
from desktop.library.metadata import png_text

FAST = ["--steps", "2", "--guidance", "1"]
ROWS = "segment,colour,shape\nBjørn,red,circle\nZoë,blue,square\nTeen,green,triangle\n"
TEMPLATE = "a {colour} {shape} on a gray background"


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # see tests/jobs/conftest.py: two threads crawl while other tests run
    yield
    torch.set_num_threads(before)


@pytest.fixture
def segments(tmp_path) -> Path:
    path = tmp_path / "segments.csv"
    path.write_text(ROWS, encoding="utf-8")
    return path


def files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def run(capsys, *args) -> tuple[int, list[str], list[str]]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


def test_paths_on_stdout_counts_on_stderr_and_each_png_holds_its_own_row(capsys, segments, tmp_path, isolated_home):
    out_dir = tmp_path / "out"
    code, out, err = run(
        capsys, segments, "--prompt-template", TEMPLATE, "--formats", "1:1,9:16,16:9", "--name", "Spring Launch",
        "--output", out_dir, "--contact-sheet", *FAST,
    )  # fmt: skip
    assert code == 0 and err == ["9 made, 0 already done"]
    paths = [Path(line) for line in out]
    sheet = paths.pop()
    assert sheet == out_dir / "spring-launch" / "contact-sheet.pdf"
    assert len(paths) == 9 and all(p.is_file() and p.is_relative_to(out_dir) for p in paths)
    assert paths[:3] == [out_dir / "spring-launch" / f / n for f, n in zip(
        ("1x1", "9x16", "16x9"), [p.name for p in paths[:3]], strict=True)]  # fmt: skip
    assert [Image.open(p).size for p in paths[:3]] == [(64, 64), (64, 112), (112, 64)]
    rows = list(csv.DictReader(io_text(segments)))
    for path in paths:
        text = png_text(path)
        record = json.loads(text["diffusion-studio"])
        origin = record["request"]["origin"]
        row = rows[origin["row"] - 1]
        assert origin["campaign"] == "Spring Launch" and origin["values"] == row
        chunks = text["diffusion-studio"] + text["parameters"]
        assert row["segment"] in chunks and row["colour"] in chunks  # UTF-8 intact: Bjørn, Zoë
        assert not any(other["segment"] in chunks for other in rows if other is not row)
    manifest = list(csv.DictReader((out_dir / "spring-launch" / "manifest.csv").read_text("utf-8-sig").splitlines()))
    assert [m["path"] for m in manifest] == [p.relative_to(out_dir / "spring-launch").as_posix() for p in paths]
    assert manifest[1] | {"path": "", "seed": ""} == {
        "path": "", "row": "1", "segment": "Bjørn", "colour": "red", "shape": "circle", "format": "9:16",
        "width": "64", "height": "112", "seed": "", "status": "done", "approved": "",
    }  # fmt: skip
    pdf = sheet.read_bytes()
    assert pdf.startswith(b"%PDF-") and re.findall(rb"/Count (\d+)", pdf)[-1] == b"1"  # 9 thumbnails: one page
    assert len([p for p in files(isolated_home / "images") if p.suffix == ".png"]) == 9


def io_text(path: Path):
    return path.read_text("utf-8").splitlines()


def test_json_lines_and_a_rerun_that_has_nothing_left_to_make(capsys, segments, tmp_path):
    args = [segments, "--prompt-template", TEMPLATE, "--formats", "9:16", "--output", tmp_path / "out", "--json"]
    code, out, err = run(capsys, *args, "--seed", "5", *FAST)
    assert code == 0 and err == ["3 made, 0 already done"]
    lines = [json.loads(line) for line in out]
    assert {k: lines[1][k] for k in ("row", "format", "width", "height", "seed", "values")} == {
        "row": 2, "format": "9:16", "width": 64, "height": 112, "seed": 5,
        "values": {"segment": "Zoë", "colour": "blue", "shape": "square"},
    }  # fmt: skip
    assert Path(lines[1]["path"]) == tmp_path / "out" / "segments" / "9x16" / "002-zoë-5.png"
    code, again, err = run(capsys, *args, "--seed", "5", *FAST)
    assert code == 0 and err == ["0 made, 3 already done"]
    assert [json.loads(line)["path"] for line in again] == [line["path"] for line in lines]
    assert len(files(tmp_path / "out")) == 3 + 1  # the images and the manifest, nothing twice


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"template": "a {colour} {shap}"}, "the prompt template uses {shap}, but segments.csv has no such column; "
         "its columns are: segment, colour, shape, seed, image."),
        ({"row": "Kim,red,circle,abc,"}, "row 4, column seed: 'abc' is not a whole number."),
        ({"row": "Kim,red,circle,,pics/kim.png"}, "row 4, column image: pics/kim.png does not exist (looked for "),
        ({"args": ["--formats", "1:1,5:4"]}, "--formats: '5:4' is not a format; the formats are: "
         "1:1, 4:5, 9:16, 16:9, 1.91:1, 2:3, 3:2."),
        ({"args": ["--width", "96"]}, "give --width and --height together"),
        ({"args": ["--steps", "0"]}, "steps must be between 1 and 150 (got 0)."),
        ({"csv": ""}, "segments.csv is empty: it needs a header row of column names and a row per segment."),
        ({"output_file": True}, "--output "),
    ],
)  # fmt: skip
def test_invalid_input_is_one_line_exit_2_and_nothing_written(capsys, tmp_path, isolated_home, change, message):
    path = tmp_path / "segments.csv"
    text = "segment,colour,shape,seed,image\nBjørn,red,circle,,\nZoë,blue,square,,\nTeen,green,triangle,,\n"
    text += change.get("row", "")
    path.write_text(change.get("csv", text), encoding="utf-8")
    output = tmp_path / "out"
    if change.get("output_file"):
        output.write_text("not a folder")
    args = [path, "--prompt-template", change.get("template", TEMPLATE), "--output", output, *change.get("args", [])]
    code, out, err = run(capsys, *args)
    assert (code, out, len(err)) == (2, [], 1), err
    assert err[0].startswith("error: " + message), err[0]
    assert files(isolated_home) == [] and (change.get("output_file") or not output.exists())


def test_openai_formats_get_the_models_nearest_sizes(capsys, segments, tmp_path, openai_server):
    code, out, err = run(
        capsys, segments, "--prompt-template", TEMPLATE, "--backend", "openai", "--model", "dall-e-3",
        "--formats", "1:1,9:16,16:9", "--output", tmp_path / "out", "--json",
    )  # fmt: skip
    assert code == 0 and err == ["9 made, 0 already done"]
    lines = [json.loads(line) for line in out]
    assert [(x["format"], x["width"], x["height"], x["seed"]) for x in lines[:3]] == [
        ("1:1", 1024, 1024, None), ("9:16", 1024, 1792, None), ("16:9", 1792, 1024, None),
    ]  # fmt: skip
    assert [Image.open(x["path"]).size for x in lines[:3]] == [(1024, 1024), (1024, 1792), (1792, 1024)]
    assert Path(lines[0]["path"]).name == "001-bjørn-noseed.png"
    assert [r["body"]["size"] for r in openai_server.requests[:3]] == ["1024x1024", "1024x1792", "1792x1024"]


def test_failures_keep_what_was_made_and_exit_1_with_one_line(capsys, segments, tmp_path):
    code, out, err = run(
        capsys, segments, "--prompt-template", TEMPLATE, "--model", tmp_path / "no-such-model", "--output",
        tmp_path / "out", *FAST,
    )  # fmt: skip
    assert (code, out) == (1, [])
    assert err[0] == "0 made, 0 already done"
    assert len(err) == 2 and err[1].startswith(
        "error: row 1, 1:1 failed (and 2 more); stopped after failures in a row: "
    )
    assert err[1].endswith("; run the same command again to retry what is missing.")


def test_ctrl_c_exits_130_and_the_same_command_makes_the_rest(capsys, segments, tmp_path, monkeypatch):
    from desktop.jobs.campaign_session import CampaignSession

    original = CampaignSession.record_saved
    calls = []

    def interrupted(self, batch, row_ids):
        calls.append(batch)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C while the second image is being recorded
        return original(self, batch, row_ids)

    monkeypatch.setattr(CampaignSession, "record_saved", interrupted)
    args = [segments, "--prompt-template", TEMPLATE, "--formats", "1:1,16:9", "--output", tmp_path / "out", *FAST]
    code, out, err = run(capsys, *args)
    assert (code, len(out)) == (130, 1)
    assert err == ["error: cancelled; what was made is kept: run the same command again to make the rest."]
    monkeypatch.setattr(CampaignSession, "record_saved", original)
    code, out, err = run(capsys, *args)
    assert (code, err) == (0, ["4 made, 2 already done"]) and len(out) == 6


def test_a_process_killed_mid_run_resumes_with_nothing_made_twice(capsys, segments, tmp_path, isolated_home):
    args = [segments, "--prompt-template", TEMPLATE, "--formats", "1:1,9:16", "--output", tmp_path / "out",
            "--steps", "20"]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; from desktop.campaign_cli import main; sys.exit(main(sys.argv[1:]))",
         *map(str, args)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    first = child.stdout.readline()
    assert first.strip(), child.stderr.read()
    child.send_signal(signal.SIGKILL)  # no clean-up of any kind: the journal and library as they are
    child.communicate(timeout=60)
    code, out, err = run(capsys, *args)
    made, already = (int(n) for n in re.fullmatch(r"(\d+) made, (\d+) already done", err[-1]).groups())
    assert code == 0 and made + already == 6 and already >= 1 and len(out) == 6
    images = [p for p in files(tmp_path / "out") if p.suffix == ".png"]
    assert len(images) == 6 and not [p for p in images if p.stem.endswith("-1")]
    assert len([p for p in files(isolated_home / "images") if p.suffix == ".png"]) == 6
    assert not [p for p in files(tmp_path) if ".partial" in p.name]
