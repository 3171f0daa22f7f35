"""The "Team server" backend against a loopback server that misbehaves on purpose: every answer is
bounded, checked and redacted, and cancelling hangs up at once. No Ray needed."""

from __future__ import annotations

import threading
import time

import pytest

from desktop.engine.errors import EngineError, GenerationCancelled, ValidationError
from desktop.engine.registry import EngineConfig
from desktop.engine.request import GenerationRequest
from desktop.engine.server_backend import ServerBackend
from desktop.engine.tasks import Task
from tests.server.fake_server import FakeServer
from tests.server.team import ALICE, free_port


@pytest.fixture
def fake():
    server = FakeServer()
    yield server
    server.stop()


class Config(EngineConfig):
    """EngineConfig with the server's fields, as the lead adds them (server_url, server_token)."""

    def __init__(self, url: str | None, token: str | None = None) -> None:
        super().__init__()
        object.__setattr__(self, "server_url", url)
        object.__setattr__(self, "server_token", token)


def request(**changes) -> GenerationRequest:
    values = {"prompt": "a red circle", "backend": "server", "model": "demo", "width": 64, "height": 64}
    return GenerationRequest(**{**values, "steps": 2, "seed": 5, **changes})


def test_models_come_from_the_server_checked_and_cached(fake):
    backend = ServerBackend(Config(fake.root, ALICE))
    assert backend.models() == ["demo", "sd15", "t2v"] and backend.models() == ["demo", "sd15", "t2v"]
    assert len(fake.requests) == 1 and fake.requests[0]["headers"]["Authorization"] == f"Bearer {ALICE}"
    demo = backend.capabilities("demo")
    assert demo.defaults["width"] == 64 and demo.defaults["steps"] == 20 and "steps" in demo.controls
    assert {t.value for t in demo.tasks} == {"text-to-image", "inpaint"}
    sd15 = backend.capabilities("sd15")
    assert sd15.defaults["width"] == 512 and len(sd15.tasks) == 4  # 99999 dropped; no tasks said: any image task
    assert (
        not backend.capabilities("t2v").tasks
        and "images only" in backend.capabilities("t2v").why_not[Task.TEXT_TO_VIDEO]
    )
    with pytest.raises(ValidationError, match="does not serve 'sdxl'; choose one of: demo, sd15, t2v"):
        backend.validate(request(model="sdxl"))


def test_a_generation_streams_progress_and_records_the_user_seed_and_device(fake):
    backend = ServerBackend(Config(fake.root + "/v1/", ALICE))  # the root is asked for; /v1 is forgiven
    progress = []
    result = backend.generate(request(count=2), on_progress=progress.append)
    assert [(i.seed, i.image.size) for i in result.images] == [(5, (64, 64)), (6, (64, 64))]
    assert [r["body"]["seed"] for r in fake.requests] in ([5, 6], [6, 5])
    assert all(r["body"]["n"] == 1 and r["body"]["stream"] for r in fake.requests)
    assert progress and progress[-1].preview is not None and progress[-1].total == 4
    assert result.request.origin == {"server": {"url": fake.root, "user": "alice"}}
    assert result.device == f"cuda on {fake.root.split('://')[1]}" and result.notes == ["a note with lines"]


@pytest.mark.parametrize(
    ("mode", "says"),
    [
        ("too-many", "sent more images than were asked for"),
        ("wrong-size", "sent a 32x32 image where 64x64 was asked"),
        ("wrong-seed", "used seed 6 where 5 was asked"),
        ("huge", "larger than any image asked for"),
        ("html", "did not stream its answer"),
        ("error-event", "could not finish the job: the worker stopped unexpectedly."),
    ],
)
def test_an_answer_out_of_bounds_is_one_sentence(fake, mode, says):
    fake.mode = mode
    with pytest.raises(EngineError, match=says):
        ServerBackend(Config(fake.root, ALICE)).generate(request())


def test_the_token_and_url_credentials_never_reach_a_message(fake):
    fake.mode = "401"
    backend = ServerBackend(Config(fake.root.replace("://", f"://alice:{ALICE}@")))
    assert ALICE not in repr(backend)
    with pytest.raises(EngineError) as caught:
        backend.generate(request())
    assert "did not accept the token (401)" in str(caught.value) and ALICE not in str(caught.value)
    assert fake.requests[-1]["headers"]["Authorization"] == f"Bearer {ALICE}"  # the URL's password stood in
    with pytest.raises(EngineError) as caught:
        backend.models()
    assert ALICE not in str(caught.value)


def test_a_full_server_is_waited_for_and_asked_again(fake):
    fake.mode = "busy-once"
    started = time.perf_counter()
    assert len(ServerBackend(Config(fake.root, ALICE)).generate(request()).images) == 1
    assert 1 <= time.perf_counter() - started < 5


def test_cancel_hangs_up_within_a_fraction_of_a_second(fake):
    fake.mode = "stall"
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.perf_counter()
    with pytest.raises(GenerationCancelled):
        ServerBackend(Config(fake.root, ALICE)).generate(request(), cancel=cancel)
    assert time.perf_counter() - started < 0.8
    assert fake.closed_early.wait(5)  # the server saw the stream close: that is what cancels its job


def test_an_unreachable_server_or_none_set_is_one_sentence_without_credentials(monkeypatch):
    monkeypatch.delenv("DIFFUSION_STUDIO_SERVER_URL", raising=False)
    url = f"http://bob:hunter2hunter2@127.0.0.1:{free_port()}"
    with pytest.raises(EngineError) as caught:
        ServerBackend(Config(url)).models()
    assert str(caught.value) == (
        f"could not reach the team server at {url.replace('bob:hunter2hunter2@', '')}: "
        "check the URL and that the server is running."
    )
    with pytest.raises(ValidationError, match="no team server is set"):
        ServerBackend(Config(None)).validate(request())
    wrong = ServerBackend(Config("ftp://host"))  # made all the same: the form lists every backend
    with pytest.raises(ValidationError, match="must start with http"):
        wrong.validate(request())
    with pytest.raises(EngineError, match="must start with http"):
        wrong.models()
