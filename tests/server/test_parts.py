"""The team server's Ray-free parts: tokens, models and resources, the fair queue, the wire format and
the `serve` command's checks. None of these needs the server extra."""

from __future__ import annotations

import asyncio
import io
import socket

import pytest
from PIL import Image

from desktop.engine.tasks import Task
from desktop.server import main as serve_main
from desktop.server.config import ServerConfig, SetupError, replica_resources, served_models
from desktop.server.fair_queue import FairQueue, QueueFull
from desktop.server.protocol import ApiError, Catalog, parse_edit, parse_generation
from desktop.server.tokens import OPEN_USER, AuthError, authenticate, digest, read_tokens
from desktop.server.worker import preview_steps
from tests.server.team import ALICE, BOB, free_port

# -- tokens ---------------------------------------------------------------------------------------


def test_a_tokens_file_gives_each_token_its_user_and_requests_are_matched_by_it(tokens_file):
    users = read_tokens(tokens_file)
    assert users == {digest(ALICE): "alice", digest(BOB): "bob"}
    assert ALICE not in repr(users)  # only digests are kept
    assert authenticate(f"Bearer {BOB}", users) == "bob"
    assert authenticate(None, {}) == OPEN_USER
    for header in (None, "", "Basic abc", f"Bearer {ALICE}x", "Bearer"):
        with pytest.raises(AuthError):
            authenticate(header, users)


def test_a_tokens_file_others_can_read_is_refused(tokens_file):
    tokens_file.chmod(0o644)
    with pytest.raises(SetupError, match=f"can be read by other users \\(mode 644\\): run chmod 600 {tokens_file}"):
        read_tokens(tokens_file)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("alice:tiny-secret-xyz\n", "the token of alice (line 1 of"),
        ("alice\n", "line 1 of"),
        (f"bad name:{ALICE}\n", "line 1 of"),
        (f"alice:{ALICE}\nbob:{ALICE}\n", "bob and alice have the same token"),
        ("# nobody yet\n", "has no 'name:token' line"),
    ],
)
def test_a_broken_tokens_file_is_named_by_its_line_and_never_shows_a_token(tmp_path, text, says):
    path = tmp_path / "tokens"
    path.write_text(text)
    path.chmod(0o600)
    with pytest.raises(SetupError) as caught:
        read_tokens(path)
    assert says in str(caught.value) and ALICE not in str(caught.value) and "tiny-secret" not in str(caught.value)


# -- models and resources -------------------------------------------------------------------------


def test_model_ids_are_folder_names_hub_ids_or_given(tiny_model):
    assert served_models(["demo", str(tiny_model), "org/some-model", "mine=/srv/models/sd15"]) == {
        "demo": "demo",
        "tiny-sd": str(tiny_model),
        "org/some-model": "org/some-model",
        "mine": "/srv/models/sd15",
    }
    with pytest.raises(SetupError, match="two models are both called 'sd15'"):
        served_models(["/a/sd15", "/b/sd15"])
    with pytest.raises(SetupError, match="no model to serve"):
        served_models([])


def test_replicas_take_whole_gpus_where_there_are_some_and_share_the_cpus_otherwise():
    assert replica_resources(2, 1, {"CPU": 2}) == (0.0, 1.0)
    assert replica_resources(1, 1, {"CPU": 2}) == (0.0, 2.0)
    assert replica_resources(3, 1, {"CPU": 2}) == (0.0, 0.667)
    assert replica_resources(4, 1, {"CPU": 32, "GPU": 4}) == (1, 1.0)
    with pytest.raises(SetupError, match="need 6 GPUs but the cluster has 4"):
        replica_resources(3, 2, {"CPU": 32, "GPU": 4})


def test_the_queue_holds_a_few_jobs_per_replica_and_leaves_room_for_others():
    config = ServerConfig(models={"demo": "demo"}, replicas=2)
    assert (config.capacity, config.user_limit) == (10, 8)
    assert ServerConfig(models={"demo": "demo"}).user_limit == 4


# -- the fair queue -------------------------------------------------------------------------------


def test_turns_go_to_the_user_served_longest_ago_so_a_batch_does_not_starve_a_single_job():
    async def scenario() -> list[str]:
        queue = FairQueue(slots=1, capacity=10, per_user=8)
        order: list[str] = []
        tickets = [(name, queue.admit(user)) for name, user in (("a1", "a"), ("a2", "a"), ("a3", "a"), ("b1", "b"))]
        for _ in tickets:
            name, ticket = next((n, t) for n, t in tickets if t.running and not t.finished)
            order.append(name)
            queue.done(ticket, 1.0)
        return order

    assert asyncio.run(scenario()) == ["a1", "b1", "a2", "a3"]


def test_admission_refuses_past_the_user_limit_and_the_capacity_and_a_given_up_job_frees_its_place():
    async def scenario() -> None:
        queue = FairQueue(slots=2, capacity=4, per_user=3)
        mine = [queue.admit("a") for _ in range(3)]
        with pytest.raises(QueueFull, match="you already have 3 jobs") as caught:
            queue.admit("a")
        assert 1 <= caught.value.retry_after_s <= 60
        queue.admit("b")
        with pytest.raises(QueueFull, match="the server is full"):
            queue.admit("c")
        waiting = next(t for t in mine if not t.running)
        queue.done(waiting)  # its client left before its turn
        assert queue.admit("c").turn is not None and queue.waiting == 2

    asyncio.run(scenario())


# -- the wire format ------------------------------------------------------------------------------

CATALOG = Catalog(
    models={"demo": "demo", "sd15": "/srv/models/sd15"},
    defaults={"demo": {"width": 64, "height": 64, "steps": 20, "guidance": 2.0}, "sd15": {"steps": 25}},
)


def test_a_generation_body_becomes_a_request_with_the_models_defaults_for_what_it_leaves_out():
    job = parse_generation({"prompt": "a red circle", "n": 2, "seed": 9, "stream": True}, CATALOG)
    request = job.request
    assert (job.model_id, request.model, request.count, request.seed) == ("demo", "demo", 2, 9)
    assert (request.steps, request.guidance, request.width, job.stream) == (20, 2.0, None, True)
    job = parse_generation({"model": "sd15", "prompt": "x", "size": "768x512", "guidance_scale": 5}, CATALOG)
    assert (job.request.model, job.request.width, job.request.height, job.request.guidance) == (
        "/srv/models/sd15",
        768,
        512,
        5.0,
    )


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (
            {"prompt": "x", "model": "../../etc"},
            404,
            "model '../../etc' is not served here; choose one of: demo, sd15.",
        ),
        ({"model": "demo"}, 400, "prompt is missing"),
        ({"prompt": "x", "n": "2"}, 400, "n must be a whole number."),
        ({"prompt": "x", "n": True}, 400, "n must be a whole number."),
        ({"prompt": "x", "size": "huge"}, 400, "size must be WIDTHxHEIGHT"),
        ({"prompt": "x", "response_format": "url"}, 400, "b64_json only"),
        ({"prompt": "x" * 10_001}, 400, "prompt is longer than"),
        ({"prompt": "x", "partial_images": -1}, 400, "partial_images must be 0 or more"),
        (["not", "an", "object"], 400, "must be a JSON object"),
    ],
)
def test_a_bad_body_is_refused_with_one_sentence(body, status, says):
    with pytest.raises(ApiError) as caught:
        parse_generation(body, CATALOG)
    assert caught.value.status == status and says in caught.value.message


def png(picture: Image.Image) -> dict:
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return {"data": buffer.getvalue()}


def test_an_edit_with_a_mask_inpaints_one_without_restyles_and_a_size_scales_the_picture():
    picture = png(Image.new("RGB", (80, 48), "red"))
    job = parse_edit(
        {"prompt": "x", "strength": "0.5"}, {"image": picture, "mask": png(Image.new("L", (80, 48)))}, CATALOG
    )
    assert job.request.task is Task.INPAINT and job.request.strength == 0.5 and job.request.width is None
    job = parse_edit({"prompt": "x", "size": "64x64"}, {"image": picture}, CATALOG)
    assert job.request.task is Task.IMAGE_TO_IMAGE and Image.open(io.BytesIO(job.image)).size == (64, 64)
    for files, says in (({}, "needs the picture"), ({"image": {"data": b"GIF89a"}}, "not a picture")):
        with pytest.raises(ApiError, match=says):
            parse_edit({"prompt": "x"}, files, CATALOG)


def test_previews_go_with_every_step_none_or_a_few_spread_over_the_run():
    assert [s for s in range(1, 11) if preview_steps(10, None)(s)] == list(range(1, 11))
    assert [s for s in range(1, 11) if preview_steps(10, 0)(s)] == []
    assert [s for s in range(1, 11) if preview_steps(10, 2)(s)] == [4, 7]


# -- the serve command ----------------------------------------------------------------------------


def test_serve_refuses_the_network_without_tokens_and_a_tokens_file_others_can_read(tokens_file, capsys):
    assert serve_main.main(["--model", "demo", "--host", "0.0.0.0"]) == 2
    assert capsys.readouterr().err == (
        "error: without --tokens the server listens on this machine only, not on 0.0.0.0: "
        "give --tokens FILE to open it to the network.\n"
    )
    tokens_file.chmod(0o640)
    assert serve_main.main(["--model", "demo", "--tokens", str(tokens_file), "--host", "0.0.0.0"]) == 2
    assert "run chmod 600" in capsys.readouterr().err


def test_serve_says_when_its_port_is_taken(capsys):
    with socket.socket() as taken:
        port = free_port()
        taken.bind(("127.0.0.1", port))
        taken.listen()
        assert serve_main.main(["--model", "demo", "--port", str(port)]) == 2
    assert (
        capsys.readouterr().err
        == f"error: port {port} on 127.0.0.1 is in use or not available: choose another with --port.\n"
    )
