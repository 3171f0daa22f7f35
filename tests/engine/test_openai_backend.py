"""The OpenAI backend: the real openai client against our loopback Images server."""

from __future__ import annotations

import threading

import pytest
from openai_server import API_KEY

from desktop.engine.engine import Engine
from desktop.engine.errors import EngineError, GenerationCancelled
from desktop.engine.openai_backend import OpenAISettings, redact
from desktop.engine.request import GenerationRequest


def request_for(model="dall-e-2", size=(256, 256), **changes) -> GenerationRequest:
    return GenerationRequest(
        prompt="a sleek sneaker made of ocean plastic",
        backend="openai",
        model=model,
        width=size[0],
        height=size[1],
        **changes,
    )


def test_b64_answer_becomes_images_and_sends_what_the_model_takes(openai_server):
    progress = []
    result = Engine().generate(request_for(count=2), on_progress=progress.append)
    assert [img.image.size for img in result.images] == [(256, 256), (256, 256)]
    assert [img.seed for img in result.images] == [None, None]
    (sent,) = openai_server.requests
    assert sent["path"] == "/v1/images/generations"
    assert sent["body"] == {
        "model": "dall-e-2",
        "prompt": "a sleek sneaker made of ocean plastic",
        "n": 2,
        "size": "256x256",
        "response_format": "b64_json",
    }
    assert sent["headers"]["authorization"] == f"Bearer {API_KEY}"
    assert progress[-1].step == progress[-1].total


def test_dall_e_3_is_asked_once_per_image_with_quality_and_style(openai_server):
    result = Engine().generate(request_for("dall-e-3", (1792, 1024), count=2, quality="hd", style="natural"))
    assert len(result.images) == 2 and result.images[0].image.size == (1792, 1024)
    bodies = [r["body"] for r in openai_server.requests]
    assert [b["n"] for b in bodies] == [1, 1]
    assert bodies[0]["quality"] == "hd" and bodies[0]["style"] == "natural"


def test_gpt_image_1_is_not_sent_a_response_format(openai_server):
    Engine().generate(request_for("gpt-image-1", (1536, 1024), quality="low"))
    body = openai_server.requests[0]["body"]
    assert "response_format" not in body and body["quality"] == "low" and body["size"] == "1536x1024"


def test_url_answers_are_downloaded(openai_server):
    openai_server.mode = "url"
    result = Engine().generate(request_for())
    assert result.images[0].image.getpixel((0, 0)) == (20, 160, 60)


def test_settings_key_and_base_url_win_over_the_environment(openai_server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-from-env")
    settings = OpenAISettings(api_key="sk-from-settings-123456", base_url=openai_server.base_url)
    Engine(openai=settings).generate(request_for())
    assert openai_server.requests[0]["headers"]["authorization"] == "Bearer sk-from-settings-123456"
    assert "sk-from-settings" not in repr(settings)


@pytest.mark.parametrize(
    ("mode", "says", "tries"),
    [
        ("401", "the OpenAI API key was rejected (401): check the key in Settings or OPENAI_API_KEY.", 1),
        ("403", "refused access (403)", 1),
        ("400-policy", "refused under the provider's content policy: rephrase it", 1),
        ("400", "rejected the request (400): Invalid value for 'n': must be at most 10.", 1),
        ("404", "does not offer this model or endpoint (404)", 1),
        ("429", "rate limited by the image server (429, after 2 retries): wait a minute", 3),
        ("500", "the image server failed (500) on 3 tries: try again later.", 3),
        ("malformed-json", "not a valid Images API response", 1),
        ("bad-b64", "not valid base64", 1),
        ("not-image", "sent data that is not an image", 1),
        ("empty", "an answer with no images in it", 1),
    ],
)
def test_every_api_failure_is_one_plain_sentence_without_the_key(openai_server, mode, says, tries):
    openai_server.mode = mode
    with pytest.raises(EngineError) as caught:
        Engine().generate(request_for())
    message = str(caught.value)
    assert says in message
    assert "\n" not in message and API_KEY not in message and "sk-test" not in message
    assert len(openai_server.requests) == tries


def test_a_slow_server_times_out_with_the_limit_in_the_message(openai_server):
    openai_server.mode = "slow"
    openai_server.slow_s = 2.0
    settings = OpenAISettings(timeout_s=0.5, max_retries=0)
    with pytest.raises(EngineError, match="within 0.5 s"):
        Engine(openai=settings).generate(request_for())


def test_an_unreachable_server_says_so(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    settings = OpenAISettings(base_url="http://127.0.0.1:9/v1", max_retries=0)
    with pytest.raises(EngineError, match="could not reach the image server at http://127.0.0.1:9/v1"):
        Engine(openai=settings).generate(request_for())


def test_no_key_is_an_error_before_anything_is_sent(openai_server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(EngineError, match="no OpenAI API key is set"):
        Engine().generate(request_for())
    assert openai_server.requests == []


def test_cancel_between_calls_stops_before_the_next_one(openai_server):
    cancel = threading.Event()

    def after_first_call(progress):
        if progress.step == 1:
            cancel.set()

    with pytest.raises(GenerationCancelled):
        Engine().generate(request_for("dall-e-3", (1024, 1024), count=3), on_progress=after_first_call, cancel=cancel)
    assert len(openai_server.requests) == 1


def test_redact_hides_the_key_and_key_shaped_text():
    assert redact(f"bad key {API_KEY} here", API_KEY) == "bad key [key hidden] here"
    assert "sk-abc" not in redact("Incorrect API key provided: sk-abc***xyz1.", None)


def test_cancel_during_a_slow_call_returns_at_once(openai_server):
    import time

    openai_server.mode = "slow"
    openai_server.slow_s = 30.0
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(GenerationCancelled):
        Engine().generate(request_for(), cancel=cancel)
    # Deterministic bound, far below the server's delay: the call was abandoned, not awaited.
    assert time.monotonic() - started < 15.0


def test_an_inpaint_edit_sends_the_multipart_fields_openai_expects(openai_server, tmp_path):
    import io

    from PIL import Image, ImageDraw

    from desktop.engine.request import Task

    photo = Image.new("RGB", (300, 300), (240, 240, 240))
    ImageDraw.Draw(photo).rectangle((100, 100, 200, 200), fill=(0, 0, 200))
    photo.save(tmp_path / "photo.png")
    mask = Image.new("L", (300, 300), 0)
    ImageDraw.Draw(mask).rectangle((0, 0, 149, 299), fill=255)  # repaint the left half
    mask.save(tmp_path / "mask.png")
    request = GenerationRequest(
        task=Task.INPAINT,
        prompt="a green box",
        backend="openai",
        model="dall-e-2",
        width=512,
        height=512,
        image=str(tmp_path / "photo.png"),
        mask=str(tmp_path / "mask.png"),
    )
    result = Engine().generate(request)
    (sent,) = openai_server.requests
    body = sent["body"]
    assert sent["path"] == "/v1/images/edits"
    assert {k: body[k] for k in ("model", "prompt", "n", "size", "response_format")} == {
        "model": "dall-e-2",
        "prompt": "a green box",
        "n": "1",
        "size": "512x512",
        "response_format": "b64_json",
    }
    image = Image.open(io.BytesIO(body["image"]["data"]))
    sent_mask = Image.open(io.BytesIO(body["mask"]["data"]))
    assert body["image"]["content_type"] == "image/png" and image.size == (512, 512)
    assert sent_mask.mode == "RGBA" and sent_mask.size == (512, 512)
    # Transparent where to repaint (left), opaque where to keep (right).
    assert sent_mask.getpixel((10, 256))[3] == 0 and sent_mask.getpixel((500, 256))[3] == 255
    # The answer comes back at the photo's size with the kept half untouched.
    out = result.images[0].image
    assert out.size == (300, 300)
    assert all(out.getpixel((x, y)) == photo.getpixel((x, y)) for x in (150, 180, 299) for y in (0, 150, 299))


def test_dall_e_2_edits_square_pictures_only(tmp_path):
    from PIL import Image

    from desktop.engine.errors import ValidationError
    from desktop.engine.request import Task, validate

    Image.new("RGB", (300, 200)).save(tmp_path / "wide.png")
    Image.new("L", (300, 200), 255).save(tmp_path / "mask.png")
    request = GenerationRequest(
        task=Task.INPAINT,
        prompt="x",
        backend="openai",
        model="dall-e-2",
        image=str(tmp_path / "wide.png"),
        mask=str(tmp_path / "mask.png"),
    )
    with pytest.raises(ValidationError, match="dall-e-2 edits square pictures only .*300x200"):
        validate(request)
