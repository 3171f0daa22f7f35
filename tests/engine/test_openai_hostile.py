"""The OpenAI backend against a hostile loopback Images server: answers are bounded in time, count,
size and origin, and credentials in the base URL are never printed."""

from __future__ import annotations

import time

import pytest
from openai_server import API_KEY

from desktop.engine.engine import Engine
from desktop.engine.errors import EngineError
from desktop.engine.openai_backend import OpenAISettings, redact, shown_url
from desktop.engine.request import GenerationRequest


def request_for(count=1, size=(256, 256)) -> GenerationRequest:
    return GenerationRequest(
        prompt="a lamp", backend="openai", model="dall-e-2", width=size[0], height=size[1], count=count
    )


def fails(settings: OpenAISettings | None = None, **changes) -> str:
    with pytest.raises(EngineError) as caught:
        Engine(openai=settings or OpenAISettings(max_retries=0)).generate(request_for(**changes))
    message = str(caught.value)
    assert "\n" not in message and API_KEY not in message
    return message


def test_a_server_that_trickles_a_byte_every_2_s_fails_at_the_overall_deadline(openai_server):
    openai_server.mode = "trickle"
    started = time.monotonic()
    message = fails(OpenAISettings(timeout_s=3, max_retries=0))
    took = time.monotonic() - started
    assert "did not finish answering within 3 s: try again later, or raise the timeout in Settings." in message
    assert 2.5 < took < 6


def test_a_server_that_goes_silent_fails_at_the_stall_deadline(openai_server):
    openai_server.mode = "stall"
    started = time.monotonic()
    message = fails(OpenAISettings(timeout_s=60, stall_s=0.5, max_retries=0))
    assert "sent nothing within 0.5 s" in message
    assert time.monotonic() - started < 5


def test_extra_images_are_dropped_with_a_note(openai_server):
    openai_server.mode = "extra"
    result = Engine().generate(request_for(count=1))
    assert len(result.images) == 1
    assert result.notes == ["the image server sent 1000 images where 1 was asked; the extra 999 were dropped."]


def test_an_image_larger_than_asked_is_refused(openai_server):
    openai_server.mode = "larger"
    assert "sent a 512x512 image where 256x256 was asked: check the server" in fails()


@pytest.mark.parametrize("side", [13000, 20000])
def test_a_bomb_by_its_header_is_refused_before_decoding(openai_server, side):
    # 13000² passes PIL's global bound with a warning; 20000² trips it: both are ours to refuse.
    openai_server.mode = "huge-header"
    openai_server.huge = side
    message = fails()
    assert "where 256x256 was asked: check the server" in message
    assert f"{side}x{side}" in message or "far larger" in message


def test_base64_over_the_cap_is_refused_on_its_length(openai_server):
    openai_server.mode = "big-b64"
    openai_server.big_bytes = 2 * 2**20  # the cap for 256x256 is 1.5 MB
    assert "sent image data over 1.5 MB for a 256x256 picture" in fails()


@pytest.mark.parametrize("mode", ["big-answer", "big-answer-unsized"])
def test_an_answer_larger_than_the_images_asked_is_cut_off(openai_server, mode):
    openai_server.mode = mode
    openai_server.big_bytes = 8 * 2**20
    message = fails()
    assert "sent an answer larger than the images asked could be" in message


def test_a_redirect_within_the_same_host_is_followed(openai_server):
    openai_server.mode = "url-redirect-same"
    result = Engine().generate(request_for())
    assert result.images[0].image.getpixel((0, 0)) == (20, 160, 60)


def test_a_redirect_to_another_host_is_not_followed(openai_server):
    openai_server.mode = "url-redirect-away"
    assert "redirects to another host; not downloaded" in fails()
    assert [p for p in openai_server.downloads if p.startswith("/files/")] == []


def test_only_http_urls_are_downloaded(openai_server):
    openai_server.mode = "url-ftp"
    assert "image URL that is not http(s); not downloaded" in fails()


def test_a_download_over_the_cap_stops_while_streaming(openai_server):
    openai_server.mode = "url-big"
    assert "the image at the server's URL is over 1.5 MB; not downloaded." in fails()


def test_a_trickling_download_fails_at_the_deadline(openai_server):
    openai_server.mode = "url-trickle"
    started = time.monotonic()
    message = fails(OpenAISettings(timeout_s=3, max_retries=0))
    assert "within 3 s" in message or "took longer than 3 s" in message
    assert time.monotonic() - started < 6


def with_credentials(url: str) -> str:
    return url.replace("http://", "http://ada:pa55-W0RD-x@")


def test_credentials_in_the_base_url_are_in_no_error(openai_server, monkeypatch):
    openai_server.mode = "trickle"
    base_url = with_credentials(openai_server.base_url)
    message = fails(OpenAISettings(base_url=base_url, timeout_s=1, max_retries=0))
    # At 1 s the overall and the stall deadline race ("did not finish" / "sent nothing"): either
    # message must name the server without its credentials.
    assert f"the image server at {openai_server.base_url} " in message
    assert "pa55" not in message and "ada" not in message
    unreachable = OpenAISettings(base_url="http://ada:pa55-W0RD-x@127.0.0.1:9/v1", max_retries=0)
    message = fails(unreachable)
    assert "could not reach the image server at http://127.0.0.1:9/v1" in message and "pa55" not in message
    assert "pa55" not in repr(unreachable)


def test_redact_and_shown_url_drop_userinfo():
    assert shown_url("https://ada:pa55@example.com:8443/v1") == "https://example.com:8443/v1"
    text = redact("failed at http://ada:pa55-W0RD@h/v1 and https://tok@h2/x", None)
    assert text == "failed at http://h/v1 and https://h2/x"
    assert redact("it said pa55-W0RD", None, "pa55-W0RD") == "it said [key hidden]"
