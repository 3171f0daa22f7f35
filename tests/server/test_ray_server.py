"""The team server for real: a local Ray Serve on the CPU with two replicas of tiny models, driven by
the real openai client, plain HTTP and our ServerBackend. One server for the whole module (Ray's and
the replicas' start-up is most of the time)."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("ray")
pytest.importorskip("fastapi")

import openai  # noqa: E402
import requests  # noqa: E402

from desktop.engine import registry  # noqa: E402
from desktop.engine.engine import Engine  # noqa: E402
from desktop.engine.errors import GenerationCancelled  # noqa: E402
from desktop.engine.request import GenerationRequest  # noqa: E402
from desktop.engine.tasks import Task  # noqa: E402
from desktop.server.config import ServerConfig  # noqa: E402
from desktop.server.tokens import digest  # noqa: E402
from tests.server.team import ALICE, BOB, free_port  # noqa: E402

pytestmark = pytest.mark.server
PROMPT = "a red circle on a blue background"


@dataclass
class Server:
    root: str
    config: ServerConfig
    stopped: bool = False

    @property
    def v1(self) -> str:
        return f"{self.root}/v1"

    def client(self, token: str = ALICE) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.v1, api_key=token, max_retries=0, timeout=60)


@pytest.fixture(scope="module")
def server(tiny_model):
    import ray

    from desktop.server import deploy

    config = ServerConfig(
        models={"tiny-sd": str(tiny_model), "demo": "demo"},
        replicas=2,
        cpus_per_replica=1,
        users={digest(ALICE): "alice", digest(BOB): "bob"},
        start_timeout_s=60,
        drain_timeout_s=60,
    )
    port = free_port()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        deploy.start(config, "127.0.0.1", port)
        server = Server(f"http://127.0.0.1:{port}", config)
        yield server
        if not server.stopped:
            deploy.stop(local=True)
    finally:
        ray.shutdown()


@pytest.fixture
def backend(server, monkeypatch):
    """The app's engine with the team server's backend, pointed at this server as alice."""
    monkeypatch.setitem(registry.BACKENDS, "server", "desktop.engine.server_backend:ServerBackend")
    monkeypatch.setenv("DIFFUSION_STUDIO_SERVER_URL", server.root)
    monkeypatch.setenv("DIFFUSION_STUDIO_SERVER_TOKEN", ALICE)
    return Engine()


def pixels(b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB"))


def sse_events(response) -> list[dict]:
    return [json.loads(line[len(b"data: ") :]) for line in response.iter_lines() if line.startswith(b"data: ")]


def test_the_openai_client_generates_with_a_token_and_each_image_carries_its_seed(server):
    answer = server.client().images.generate(
        model="tiny-sd", prompt=PROMPT, n=2, size="64x64", extra_body={"seed": 7, "num_inference_steps": 4}
    )
    assert [item.seed for item in answer.data] == [7, 8]
    assert [pixels(item.b64_json).shape for item in answer.data] == [(64, 64, 3)] * 2
    assert answer.model_extra["user"] == "alice" and answer.model_extra["model"] == "tiny-sd"


@pytest.mark.parametrize("model", ["tiny-sd", "demo"])
def test_the_same_seed_gives_the_same_pixels_as_the_local_engine(server, tiny_model, model):
    import torch

    # Each CPU replica computes on its one CPU's thread: the same arithmetic order needs the same count
    # here (with two threads, a few values in 10,000 come out one level apart).
    threads = torch.get_num_threads()
    torch.set_num_threads(int(server.config.cpus_per_replica))
    try:
        local = Engine().generate(
            GenerationRequest(
                prompt=PROMPT,
                model=str(tiny_model) if model == "tiny-sd" else "demo",
                width=64,
                height=64,
                steps=4,
                guidance=2.0,
                seed=42,
            )
        )
    finally:
        torch.set_num_threads(threads)
    remote = server.client().images.generate(
        model=model,
        prompt=PROMPT,
        size="64x64",
        extra_body={"seed": 42, "num_inference_steps": 4, "guidance_scale": 2.0},
    )
    a, b = pixels(remote.data[0].b64_json).astype(int), np.asarray(local.images[0].image).astype(int)
    assert np.array_equal(a, b)


def test_streaming_sends_a_partial_image_per_step_with_step_and_total_then_the_image(server):
    events = list(
        server.client().images.generate(
            model="tiny-sd", prompt=PROMPT, size="64x64", stream=True, extra_body={"seed": 3, "num_inference_steps": 5}
        )
    )
    partial = [e for e in events if e.type == "image_generation.partial_image"]
    assert [(e.step, e.total) for e in partial] == [(s, 5) for s in range(1, 6)]
    assert [e.partial_image_index for e in partial] == list(range(5))
    (completed,) = [e for e in events if e.type == "image_generation.completed"]
    assert completed.seed == 3 and completed.size == "64x64" and pixels(completed.b64_json).shape == (64, 64, 3)
    few = list(
        server.client().images.generate(
            model="tiny-sd",
            prompt=PROMPT,
            size="64x64",
            stream=True,
            partial_images=2,
            extra_body={"num_inference_steps": 6},
        )
    )
    assert [e.type for e in few].count("image_generation.partial_image") == 2


def post(server, path: str, token: str | None = ALICE, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(f"{server.root}{path}", headers=headers, timeout=60, **kwargs)


def job(steps: int = 4, **changes) -> dict:
    return {"model": "tiny-sd", "prompt": PROMPT, "size": "64x64", "num_inference_steps": steps, **changes}


def test_every_v1_endpoint_needs_a_valid_token_and_health_does_not(server):
    assert requests.get(f"{server.root}/health", timeout=10).json()["status"] == "ok"
    for token in (None, "not-a-token-of-this-server"):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        models = requests.get(f"{server.v1}/models", headers=headers, timeout=10)
        generation = post(server, "/v1/images/generations", token, json=job())
        for answer in (models, generation):
            assert answer.status_code == 401
            assert answer.json()["error"]["type"] == "authentication_error"
            assert "token" in answer.json()["error"]["message"]
    with pytest.raises(openai.AuthenticationError):
        server.client("wrong-token-0123456789").images.generate(model="tiny-sd", prompt=PROMPT, size="64x64")
    listed = server.client(BOB).models.list()
    assert [m.id for m in listed.data] == ["tiny-sd", "demo"]
    assert listed.data[1].model_extra["defaults"] == {"width": 64, "height": 64, "steps": 20, "guidance": 2.0}


def test_invalid_input_is_a_400_with_the_engines_sentence_and_an_unknown_model_a_404(server):
    answer = post(server, "/v1/images/generations", json=job(size="65x64"))
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == "width must be a multiple of 8 between 64 and 2048 (got 65)."
    assert post(server, "/v1/images/generations", json=job(steps=0)).json()["error"]["param"] == "steps"
    assert post(server, "/v1/images/generations", data=b"{not json").status_code == 400
    missing = post(server, "/v1/images/generations", json=job(model="/etc/passwd"))
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "model '/etc/passwd' is not served here; choose one of: tiny-sd, demo."
    with pytest.raises(openai.NotFoundError):
        server.client().images.generate(model="sdxl", prompt=PROMPT)
    assert post(server, "/v1/images/generations", data=b"x" * (2 * 2**20)).status_code == 413


def test_an_edit_inpaints_through_the_mask_and_keeps_every_other_pixel(server):
    source = Image.new("RGB", (64, 64), (200, 40, 40))
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    files = {}
    for name, picture in (("image", source), ("mask", mask)):
        buffer = io.BytesIO()
        picture.save(buffer, "PNG")
        files[name] = (f"{name}.png", buffer.getvalue(), "image/png")
    answer = server.client().images.edit(
        model="tiny-sd",
        image=files["image"],
        mask=files["mask"],
        prompt="a green square",
        extra_body={"seed": 5, "num_inference_steps": 4},
    )
    result = pixels(answer.data[0].b64_json)
    outside = np.asarray(mask) == 0
    assert answer.data[0].seed == 5 and result.shape == (64, 64, 3)
    assert (result[outside] == (200, 40, 40)).all() and not (result[~outside] == (200, 40, 40)).all()


def test_six_requests_at_once_on_two_replicas_all_succeed_and_use_both(server):
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda i: post(server, "/v1/images/generations", json=job(steps=8, seed=i)), range(6)))
    assert [a.status_code for a in answers] == [200] * 6
    assert sorted(a.json()["data"][0]["seed"] for a in answers) == list(range(6))
    assert len({a.json()["replica"] for a in answers}) == 2


def open_stream(server, token: str, steps: int = 150) -> requests.Response:
    answer = post(server, "/v1/images/generations", token, json=job(steps=steps, stream=True), stream=True)
    assert answer.status_code == 200, answer.text
    return answer


def test_a_full_server_answers_429_with_retry_after_and_one_user_cannot_take_every_place(server):
    capacity, per_user = server.config.capacity, server.config.user_limit  # 10 and 8 on two replicas
    streams = [open_stream(server, ALICE) for _ in range(per_user)]
    try:
        refused = post(server, "/v1/images/generations", json=job())
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert refused.json()["error"]["message"].startswith(f"you already have {per_user} jobs on this server")
        streams += [open_stream(server, BOB) for _ in range(capacity - per_user)]
        full = post(server, "/v1/images/generations", BOB, json=job())
        assert full.status_code == 429
        assert full.json()["error"]["message"].startswith(f"the server is full ({capacity} jobs")
    finally:
        for stream in streams:
            stream.close()
    # Closing the streams gave up the waiting jobs and stopped the running ones at their next step.
    deadline = time.monotonic() + 10
    while requests.get(f"{server.root}/health", timeout=10).json()["jobs_running"] and time.monotonic() < deadline:
        time.sleep(0.1)
    started = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda i: post(server, "/v1/images/generations", json=job()), range(2)))
    assert [a.status_code for a in answers] == [200, 200]
    assert time.perf_counter() - started < 3  # a 150-step job still running would take longer


def test_the_backend_streams_progress_with_previews_and_records_who_asked(server, backend):
    progress = []
    request = GenerationRequest(
        prompt=PROMPT, backend="server", model="tiny-sd", width=64, height=64, steps=4, seed=11, count=3
    )
    result = backend.generate(request, on_progress=progress.append)
    assert [item.seed for item in result.images] == [11, 12, 13]
    assert [item.image.size for item in result.images] == [(64, 64)] * 3
    assert progress[-1].step == progress[-1].total == 12
    assert all(p.preview is not None for p in progress)
    assert result.request.origin == {"server": {"url": server.root, "user": "alice"}}
    assert result.device == f"cpu on {server.root.split('://')[1]}"
    alone = server.client().images.generate(
        model="tiny-sd", prompt=PROMPT, size="64x64", extra_body={"seed": 12, "num_inference_steps": 4}
    )
    assert np.array_equal(pixels(alone.data[0].b64_json), np.asarray(result.images[1].image))


def test_the_backend_cancels_by_closing_the_stream(server, backend):
    cancel = threading.Event()
    request = GenerationRequest(prompt=PROMPT, backend="server", model="tiny-sd", width=64, height=64, steps=150)
    with pytest.raises(GenerationCancelled):
        backend.generate(backend.validate(request), on_progress=lambda p: cancel.set(), cancel=cancel)


def test_the_backend_outpaints_through_the_server(server, backend, tmp_path):
    picture = tmp_path / "shot.png"
    Image.new("RGB", (64, 64), (30, 90, 200)).save(picture)
    request = GenerationRequest(
        prompt=PROMPT,
        task=Task.OUTPAINT,
        backend="server",
        model="tiny-sd",
        image=str(picture),
        extend=(32, 0, 0, 0),
        steps=4,
        seed=1,
    )
    result = backend.generate(request)
    out = np.asarray(result.images[0].image)
    assert out.shape == (64, 96, 3)
    assert (out[:, 32 + 16 :] == (30, 90, 200)).all()  # the original beyond the blended band


def test_two_clients_at_once(server, backend):
    with ThreadPoolExecutor(2) as pool:
        mine = pool.submit(
            backend.generate,
            GenerationRequest(prompt=PROMPT, backend="server", model="demo", steps=8, seed=1, count=2),
        )
        theirs = pool.submit(
            lambda: server.client(BOB).images.generate(
                model="demo", prompt=PROMPT, extra_body={"num_inference_steps": 8}
            )
        )
        assert len(mine.result().images) == 2 and theirs.result().model_extra["user"] == "bob"
    assert mine.result().request.origin["server"]["user"] == "alice"


def test_the_window_lists_the_servers_models_and_generates_with_the_token_kept_in_settings(
    server, qtbot, monkeypatch, tmp_path
):
    from desktop.library.key_store import key_file, save_server_token
    from desktop.library.settings import Settings
    from desktop.ui.application import create_window

    # No token in the environment: the one Settings keeps (a private file here: no keyring) is used.
    monkeypatch.delenv("DIFFUSION_STUDIO_SERVER_TOKEN", raising=False)
    monkeypatch.delenv("DIFFUSION_STUDIO_SERVER_URL", raising=False)
    save_server_token(ALICE)
    assert key_file("team-server-token").stat().st_mode & 0o777 == 0o600
    window = create_window(Settings(server_url=server.root))
    window.show()
    try:
        # The list is asked for on a background thread after the first paint.
        qtbot.waitUntil(lambda: "tiny-sd" in window.form._models.get("server", []), timeout=20000)
        form = window.form
        form.backend.setCurrentIndex(form.backend.findData("server"))
        form.select_model("tiny-sd")
        form.prompt.setPlainText(PROMPT)
        form.set_size(64, 64)
        form.steps.setValue(2)
        with qtbot.waitSignal(window.bridge.finished_job, timeout=60000) as finished:
            window.generate()
        row = window.library.db.get(finished.args[1][0])
        assert row.backend == "server" and row.request["origin"]["server"]["user"] == "alice"
        assert ALICE not in json.dumps(row.request)
    finally:
        window.close()


def test_a_campaign_keeps_a_job_in_flight_on_each_replica(server, backend, tmp_path, capsys):
    from desktop.campaign_cli import main as campaign_main

    segments = tmp_path / "segments.csv"
    segments.write_text("segment,shape\nrock,red circle\nhike,green square\nskate,yellow triangle\n")
    running, done = [], threading.Event()

    def watch() -> None:  # the server's own count of jobs running, while the campaign goes
        while not done.is_set():
            running.append(requests.get(f"{server.root}/health", timeout=10).json()["jobs_running"])
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        code = campaign_main(
            [str(segments), "--prompt-template", "a {shape} on a black background", "--formats", "1:1,16:9",
             "--backend", "server", "--model", "tiny-sd", "--width", "64", "--height", "64", "--steps", "30",
             "--output", str(tmp_path / "out")]
        )  # fmt: skip
    finally:
        done.set()
        watcher.join()
    out, err = capsys.readouterr()
    assert code == 0, err
    assert len(out.split()) == 6 and "6 made, 0 already done" in err
    assert max(running) == 2  # two replicas, two jobs at once (never more: each runner has one)


def test_a_replica_killed_mid_job_fails_the_job_cleanly_and_the_next_request_works(server, backend):
    import ray

    stream = open_stream(server, ALICE)
    lines = stream.iter_lines()
    first = next(json.loads(line[6:]) for line in lines if line.startswith(b"data: "))
    replica = ray.get_actor(f"SERVE_REPLICA::diffusion-studio#Generator#{first['replica']}", namespace="serve")
    ray.kill(replica, no_restart=True)
    events = [json.loads(line[6:]) for line in lines if line.startswith(b"data: ")]
    assert events[-1]["type"] == "error"
    assert events[-1]["error"]["message"].startswith("the worker running this job stopped unexpectedly")
    result = backend.generate(
        GenerationRequest(prompt=PROMPT, backend="server", model="tiny-sd", width=64, height=64, steps=4)
    )
    assert len(result.images) == 1
    # Serve starts a replica in the dead one's place: two replicas answer again, neither the dead one.
    replicas: set[str] = set()
    deadline = time.monotonic() + 90
    while len(replicas) < 2 and time.monotonic() < deadline:
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda i: post(server, "/v1/images/generations", json=job(steps=8)), range(2)))
        replicas |= {answer.json()["replica"] for answer in answers}
    assert len(replicas) == 2 and first["replica"] not in replicas


def test_a_shutdown_finishes_the_running_job_first(server):
    from desktop.server import deploy

    stream = open_stream(server, ALICE, steps=40)
    lines = stream.iter_lines()
    next(line for line in lines if line.startswith(b"data: "))
    stopping = threading.Thread(target=deploy.stop, args=(True,))
    stopping.start()
    server.stopped = True
    events = [json.loads(line[6:]) for line in lines if line.startswith(b"data: ")]
    stopping.join(60)
    assert events[-1]["type"] == "image_generation.completed" and events[-1]["user"] == "alice"
