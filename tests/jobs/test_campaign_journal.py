"""The campaign journal (desktop/library/campaign_journal.py; tested here beside its only user):
seeds drawn once, a changed image starts again, one run at a time, campaigns listed by name."""

from __future__ import annotations

import pytest

from desktop.library.campaign_journal import (
    DONE,
    PENDING,
    CampaignBusy,
    CampaignJournal,
    PlannedEntry,
    list_campaigns,
)


def entry(row: int, fingerprint: str = "a", fmt: str = "1:1") -> PlannedEntry:
    return PlannedEntry((row, fmt, 0), fingerprint, 7, 64, 64, f"x/{row}.png")


def test_seeds_are_drawn_once_and_kept_across_opens(isolated_home):
    draws = iter(range(100, 200))
    with CampaignJournal(None, "Spring") as journal:
        assert journal.row_seeds([1, 2], lambda: next(draws)) == {1: 100, 2: 101}
        campaign_id = journal.campaign_id
        assert journal.path == isolated_home / "campaigns" / "spring" / "journal.sqlite3"
    with CampaignJournal(None, "Spring") as journal:
        assert journal.row_seeds([1, 2, 3], lambda: next(draws)) == {1: 100, 2: 101, 3: 102}
        assert journal.campaign_id == campaign_id


def test_a_changed_fingerprint_starts_that_image_again(isolated_home):
    with CampaignJournal(None, "Spring") as journal:
        assert journal.sync([entry(1), entry(2)]) == []
        journal.mark_saved([((1, "1:1", 0), 10, "images/a.png", 7), ((2, "1:1", 0), 11, "images/b.png", 7)])
        journal.mark_done((1, "1:1", 0), "/out/a.png")
        journal.set_approved([(1, "1:1", 0)], True)
        assert journal.sync([entry(1), entry(2, "b")]) == [(2, "1:1", 0)]
        items = journal.items()
        assert (items[1, "1:1", 0].status, items[1, "1:1", 0].approved) == (DONE, True)
        assert (items[2, "1:1", 0].status, items[2, "1:1", 0].history_id) == (PENDING, None)


def test_one_run_at_a_time(isolated_home):
    with CampaignJournal(None, "Spring") as first, CampaignJournal(None, "Spring") as second:
        with first.run_lock():
            with pytest.raises(CampaignBusy) as error:
                with second.run_lock():
                    pass
            assert str(error.value) == (
                "the campaign 'Spring' is being made by another process right now: wait for it to finish."
            )
        with second.run_lock():
            pass


def test_names_that_slug_alike_get_folders_of_their_own(isolated_home):
    with CampaignJournal(None, "Spring Launch") as one, CampaignJournal(None, "spring-launch") as two:
        assert one.folder != two.folder and one.folder.name == "spring-launch"
        assert two.folder.name.startswith("spring-launch-")
    assert [name for name, _ in list_campaigns(None)] == ["Spring Launch", "spring-launch"]
