"""A model's licence read from its card's front matter (the folder's, or the HF cache snapshot's)."""

from __future__ import annotations

import pytest

from desktop.engine import licences
from desktop.engine.licences import Licence, licence_for, parse_front_matter


def card(folder, text: str):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("---\nlicense: apache-2.0\n---\n# Wan\n", Licence("apache-2.0")),
        ("---\nlibrary_name: diffusers\nlicense: 'CC-BY-NC-4.0'  # weights\n---\n", Licence("cc-by-nc-4.0")),
        (
            '---\nlicense: other\nlicense_name: ltxv-open-weights\nlicense_link: "https://x/LICENSE"\n---\n',
            Licence("other", "ltxv-open-weights", "https://x/LICENSE"),
        ),
        ("---\nlicense:\n- mit\ntags:\n- video\n---\n", Licence("mit")),
        ("\ufeff---\nlicense: openrail++\n---\n", Licence("openrail++")),
    ],
)
def test_the_front_matter_names_the_licence(text, expected):
    assert parse_front_matter(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "# No front matter\nlicense: mit\n",  # prose, not front matter
        "---\ntags:\n- video\n---\nlicense: mit\n",  # after the front matter
        "---\nmodel-index:\n  license: mit\n---\n",  # nested: another thing's licence
        "",
    ],
)
def test_text_outside_the_front_matter_names_no_licence(text):
    assert parse_front_matter(text) is None


@pytest.mark.parametrize(
    ("licence", "non_commercial", "label"),
    [
        (Licence("cc-by-nc-4.0"), True, "CC-BY-NC-4.0"),
        (Licence("cc-by-nc-sa-4.0"), True, "CC-BY-NC-SA-4.0"),
        (Licence("other", "stable-video-diffusion-nc-community"), True, "other: stable-video-diffusion-nc-community"),
        (Licence("apache-2.0"), False, "Apache-2.0"),
        (Licence("creativeml-openrail-m"), False, "CreativeML OpenRAIL-M"),
        (Licence("other"), False, "other (see the model card)"),
    ],
)
def test_non_commercial_licences_are_told_apart(licence, non_commercial, label):
    assert licence.non_commercial is non_commercial
    assert licence.label == label
    assert ("non-commercial" in licence.describe()) is non_commercial


def test_the_folders_card_wins_over_the_preset_and_changes_are_seen(tmp_path):
    folder = card(tmp_path / "model", "---\nlicense: apache-2.0\n---\n")
    assert licence_for(str(folder), folder, "cc-by-nc-4.0") == Licence("apache-2.0")
    (folder / "README.md").write_text("---\nlicense: cc-by-nc-4.0\nextra: changed size\n---\n")
    assert licence_for(str(folder), folder).non_commercial
    (folder / "README.md").unlink()
    assert licence_for(str(folder), folder, "cc-by-nc-4.0") == Licence("cc-by-nc-4.0", source="preset")
    assert licence_for(str(folder), folder) is None


def test_a_hub_id_reads_the_newest_snapshots_card_in_the_hf_cache(tmp_path):
    snapshots = tmp_path / "hub" / "models--damo-vilab--text-to-video-ms-1.7b" / "snapshots"
    card(snapshots / "old", "---\nlicense: mit\n---\n")
    newest = card(snapshots / "new", "---\nlicense: cc-by-nc-4.0\n---\n")
    import os

    os.utime(newest / "README.md", (2e9, 2e9))
    found = licence_for("damo-vilab/text-to-video-ms-1.7b", None, cache_dir=tmp_path / "hub")
    assert found == Licence("cc-by-nc-4.0")
    assert licence_for("nobody/nothing", None, cache_dir=tmp_path / "hub") is None


def test_a_huge_or_binary_card_is_read_only_so_far(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "README.md").write_bytes(b"---\nlicense: mit\n---\n" + b"\xff\x00" * (licences.MAX_CARD_BYTES * 4))
    assert licence_for(str(folder), folder) == Licence("mit")
    (folder / "README.md").write_bytes(b"---\nlicense: " + b"x" * 100000 + b"\n---\n")
    assert len(licence_for(str(folder), folder).id) <= licences.MAX_VALUE_CHARS
