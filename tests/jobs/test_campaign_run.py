"""Making campaigns with the demo model (2 steps at 64x64): resumable, never a duplicate, never a loss."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from PIL import Image

from desktop.engine.engine import Engine
from desktop.jobs.campaign import Campaign, CampaignSettings
from desktop.jobs.campaign_run import run_campaign
from desktop.jobs.campaign_session import CampaignSession
from desktop.jobs.local import LocalExecutor
from desktop.library.campaign_journal import CampaignJournal
from desktop.library.metadata import read_record

FAST = CampaignSettings(steps=2, guidance=1.0, seed=3)  # guidance 1: no second (unconditioned) pass


@pytest.fixture(scope="module")
def engine():
    engine = Engine()
    yield engine
    engine.release()


class SharedEngineExecutor(LocalExecutor):
    """Keeps the module's engine (its loaded demo model) when a run closes its executor."""

    def close(self) -> None:
        if self._library is not None:
            self._library.close()
            self._library = None


def campaign(tmp_path, rows: str, **options) -> Campaign:
    path = tmp_path / "segments.csv"
    path.write_text("segment,colour,shape\n" + rows, encoding="utf-8")
    options.setdefault("settings", FAST)
    return Campaign.from_csv(path, "a {colour} {shape} on a gray background", name="Launch", **options)


def make(campaign: Campaign, engine, output: Path, **kwargs):
    run = CampaignSession(campaign, engine, output)
    try:
        return run_campaign(run, SharedEngineExecutor(engine=engine), **kwargs)
    finally:
        run.close()


def pngs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.png")) if folder.exists() else []


THREE_ROWS = "Bjørn,red,circle\nZoë,blue,square\nTeen,green,triangle\n"


def test_a_cancelled_run_resumes_with_exactly_what_is_missing(tmp_path, engine, isolated_home):
    spec = campaign(tmp_path, THREE_ROWS, formats=("1:1", "16:9"))
    cancel = threading.Event()
    seen = []

    def on_image(result):
        seen.append(result)
        if len(seen) == 2:
            cancel.set()

    first = make(spec, engine, tmp_path / "out", on_image=on_image, cancel=cancel)
    assert (first.made, first.already_done, first.cancelled, first.not_made) == (2, 0, True, 4)
    second = make(spec, engine, tmp_path / "out")
    assert (second.made, second.already_done, second.cancelled) == (4, 2, False)
    third = make(spec, engine, tmp_path / "out")
    assert (third.made, third.already_done) == (0, 6)
    made = pngs(tmp_path / "out")
    assert len(made) == 6 and not [p for p in made if p.stem.endswith("-1")]
    assert len(pngs(isolated_home / "images")) == 6
    assert {Image.open(p).size for p in made} == {(64, 64), (112, 64)}


@pytest.mark.parametrize("step", ["mark_saved", "mark_done"])
def test_a_kill_between_saving_and_recording_makes_nothing_twice(tmp_path, engine, isolated_home, monkeypatch, step):
    """mark_saved: the library has the picture, the journal not yet (found again by the campaign id in
    its origin). mark_done: the copy is in the output folder, not yet recorded (found by its bytes)."""
    spec = campaign(tmp_path, "Bjørn,red,circle\nZoë,blue,square\n")
    original = getattr(CampaignJournal, step)
    calls = []

    def killed(self, *args):
        if step == "mark_done" or list(args[0]):
            calls.append(args)
            if len(calls) == 1:
                raise KeyboardInterrupt  # the process dies right here
        return original(self, *args)

    monkeypatch.setattr(CampaignJournal, step, killed)
    with pytest.raises(KeyboardInterrupt):
        make(spec, engine, tmp_path / "out")
    monkeypatch.setattr(CampaignJournal, step, original)
    again = make(spec, engine, tmp_path / "out")
    assert (again.made, again.already_done) == (1, 1)
    assert len(pngs(isolated_home / "images")) == 2
    assert len(pngs(tmp_path / "out")) == 2 and not [p for p in pngs(tmp_path / "out") if p.stem.endswith("-1")]


def test_each_image_records_its_own_row_and_another_output_gets_copies_not_new_images(tmp_path, engine, isolated_home):
    spec = campaign(tmp_path, THREE_ROWS)
    make(spec, engine, tmp_path / "out")
    for path in pngs(tmp_path / "out"):
        record = read_record(path)
        origin = record["request"]["origin"]
        row = spec.rows[origin["row"] - 1]
        assert origin["campaign"] == "Launch" and origin["values"] == row and origin["format"] == "1:1"
        others = [r["segment"] for r in spec.rows if r is not row]
        text = json.dumps(record, ensure_ascii=False)
        assert row["segment"] in text and not any(other in text for other in others)
    elsewhere = make(spec, engine, tmp_path / "elsewhere")
    assert (elsewhere.made, elsewhere.already_done) == (0, 3)
    assert len(pngs(tmp_path / "elsewhere")) == 3 and len(pngs(isolated_home / "images")) == 3


def test_an_edited_row_is_made_again_and_only_that_row(tmp_path, engine):
    make(campaign(tmp_path, THREE_ROWS), engine, tmp_path / "out")
    edited = make(campaign(tmp_path, THREE_ROWS.replace("blue,square", "blue,circle")), engine, tmp_path / "out")
    assert (edited.made, edited.already_done) == (1, 2)


def test_formats_from_master_outpaint_the_master_so_the_subject_stays(tmp_path, engine):
    spec = campaign(tmp_path, "Bjørn,red,circle\n", formats=("1:1", "16:9", "9:16"), formats_from_master=True)
    summary = make(spec, engine, tmp_path / "out")
    assert summary.made == 3 and not summary.failed
    master, wide, tall = (
        Image.open(tmp_path / "out" / "launch" / f / "001-bjørn-3.png") for f in ("1x1", "16x9", "9x16")
    )
    assert (master.size, wide.size, tall.size) == ((64, 64), (112, 64), (64, 112))
    # The master sits in the middle, unchanged beyond the band where it fades into the new sides.
    master = master.convert("RGB")
    assert wide.convert("RGB").crop((48, 0, 64, 64)).tobytes() == master.crop((24, 0, 40, 64)).tobytes()
    assert tall.convert("RGB").crop((0, 48, 64, 64)).tobytes() == master.crop((0, 24, 64, 40)).tobytes()
    assert read_record(tmp_path / "out" / "launch" / "16x9" / "001-bjørn-3.png")["request"]["task"] == "outpaint"


def test_a_row_with_a_reference_picture_restyles_it_in_each_format(tmp_path, engine):
    (tmp_path / "pics").mkdir()
    Image.new("RGB", (200, 100), (200, 30, 40)).save(tmp_path / "pics" / "shirt.png")
    path = tmp_path / "segments.csv"
    path.write_text("segment,colour,shape,image,strength\nBjørn,red,circle,pics/shirt.png,0.5\n", encoding="utf-8")
    spec = Campaign.from_csv(path, "a {colour} {shape}", name="Ref", formats=("1:1", "9:16"), settings=FAST)
    summary = make(spec, engine, tmp_path / "out")
    assert summary.made == 2 and not summary.failed
    records = {p.parent.name: (Image.open(p).size, read_record(p)["request"]) for p in pngs(tmp_path / "out")}
    assert records["1x1"][0] == (64, 64) and records["9x16"][0] == (64, 112)
    assert {r["task"] for _, r in records.values()} == {"image-to-image"} and records["1x1"][1]["strength"] == 0.5


def test_review_approve_and_export_the_approved_with_their_manifest(tmp_path, engine):
    spec = campaign(tmp_path, THREE_ROWS, formats=("1:1", "9:16"))
    make(spec, engine, tmp_path / "out", contact_sheet=True)
    sheet = (tmp_path / "out" / "launch" / "contact-sheet.pdf").read_bytes()
    assert sheet.startswith(b"%PDF") and sheet.rstrip().endswith(b"%%EOF")
    run = CampaignSession.reopen("Launch", engine)  # the window's Resume: definition and folder from the journal
    try:
        assert run.campaign == spec and run.output == (tmp_path / "out").resolve()
        groups = run.grouped()
        assert list(groups) == [1, 2, 3] and list(groups[2]) == ["1:1", "9:16"]
        assert all(
            item.status == "done" for formats in groups.values() for pairs in formats.values() for _, item in pairs
        )
        run.approve([(2, "1:1", 0), (3, "9:16", 0)], True)
        run.approve([(1, "1:1", 0)], False)
        exported = run.export_approved(tmp_path / "approved")
        run.write_manifest()
    finally:
        run.close()
    assert sorted(p.relative_to(tmp_path / "approved").as_posix() for p in exported) == [
        "launch/1x1/002-zoë-3.png",
        "launch/9x16/003-teen-3.png",
    ]
    manifest = (tmp_path / "approved" / "launch" / "manifest.csv").read_text("utf-8-sig").splitlines()
    assert manifest[0] == "path,row,segment,colour,shape,format,width,height,seed,status,approved"
    assert manifest[1:] == [
        "1x1/002-zoë-3.png,2,Zoë,blue,square,1:1,64,64,3,done,yes",
        "9x16/003-teen-3.png,3,Teen,green,triangle,9:16,64,112,3,done,yes",
    ]
    full = (tmp_path / "out" / "launch" / "manifest.csv").read_text("utf-8-sig").splitlines()
    assert full[1] == "1x1/001-bjørn-3.png,1,Bjørn,red,circle,1:1,64,64,3,done,no" and len(full) == 7
