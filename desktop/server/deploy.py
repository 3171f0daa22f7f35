"""The Ray Serve side: the two deployments, the application, starting and stopping it.

Two deployments: one light ingress (the HTTP API, tokens, the fair queue; no torch, no GPU) and the
Generator, one replica per GPU (or a share of the CPUs), each holding an engine that runs one job at a
time. The ingress alone sees every job, so its queue limits and fairness hold for the whole server.
"""

from __future__ import annotations

import os

# The server runs offline: Ray must not try to report usage (read when Ray starts a cluster).
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"

from ray import serve  # noqa: E402
from ray.exceptions import ObjectLostError, RayActorError, RayError, TaskCancelledError  # noqa: E402
from ray.serve.exceptions import DeploymentUnavailableError, ReplicaUnavailableError  # noqa: E402

from desktop.server.api import ImagesService, WorkerLost, create_app  # noqa: E402
from desktop.server.config import QUEUE_PER_REPLICA, ServerConfig, served_models  # noqa: E402
from desktop.server.protocol import ApiError  # noqa: E402
from desktop.server.worker import EngineWorker  # noqa: E402

APP_NAME = "diffusion-studio"
_LOST = (RayActorError, ObjectLostError, ReplicaUnavailableError, DeploymentUnavailableError)


@serve.deployment(name="Generator", max_ongoing_requests=1, graceful_shutdown_wait_loop_s=0.5)
class Generator:
    """One engine; Serve gives it one job at a time (max_ongoing_requests=1) and restarts it if it dies."""

    def __init__(self, config: ServerConfig) -> None:
        replica = serve.get_replica_context().replica_id.unique_id
        self.worker = EngineWorker(config.runtime, replica=replica, warm_model=next(iter(config.models.values())))

    async def run(self, job: dict):
        async for event in self.worker.run(job):
            yield event


@serve.deployment(name="ImagesAPI", ray_actor_options={"num_cpus": 0}, graceful_shutdown_wait_loop_s=0.5)
@serve.ingress()
class ImagesAPI:
    def __init__(self, config: ServerConfig, generator) -> None:
        self.generator = generator
        self.service = ImagesService(config, self._dispatch)

    def __serve_build_asgi_app__(self):
        return create_app(self.service)

    async def _dispatch(self, job: dict):
        stream = self.generator.options(stream=True).run.remote(job)
        finished = False
        try:
            async for event in stream:
                yield event
            finished = True
        except _LOST as exc:
            raise WorkerLost() from exc
        except RayError as exc:
            if isinstance(exc, TaskCancelledError):
                raise
            raise ApiError(500, "the worker failed on this job: send it again, or tell the server's admin.") from exc
        finally:
            if not finished:
                # The client left (or the ingress gave up): the job stops at its next step.
                stream.cancel()


def build(config: ServerConfig):
    """The Serve application for config."""
    generator = Generator.options(
        num_replicas=config.replicas,
        ray_actor_options={"num_gpus": config.gpus_per_replica, "num_cpus": config.cpus_per_replica},
        graceful_shutdown_timeout_s=config.drain_timeout_s,
    )
    ingress = ImagesAPI.options(
        # Every job in flight holds one request here, plus room for /health and /v1/models.
        max_ongoing_requests=2 * config.capacity + 64,
        graceful_shutdown_timeout_s=config.drain_timeout_s,
    )
    return ingress.bind(config, generator.bind(config))


def app_builder(args: dict):
    """For `serve run desktop.server.deploy:app_builder` and KubeRay's serveConfigV2 (import_path + args):
    models (list of FOLDER or ID=FOLDER), replicas, gpus_per_replica, tokens_file, queue_per_replica."""
    models = args.get("models") or []
    config = ServerConfig(
        models=served_models([models] if isinstance(models, str) else list(models)),
        replicas=int(args.get("replicas", 1)),
        gpus_per_replica=float(args.get("gpus_per_replica", 1)),
        cpus_per_replica=float(args.get("cpus_per_replica", 1)),
        queue_per_replica=int(args.get("queue_per_replica", QUEUE_PER_REPLICA)),
        tokens_file=args.get("tokens_file") or None,
    )
    return build(config)


def start(config: ServerConfig, host: str, port: int) -> None:
    """Run the application on the Ray cluster this process is connected to; returns once it serves."""
    serve.start(http_options={"host": host, "port": port})
    serve.run(build(config), name=APP_NAME, route_prefix="/")


def stop(local: bool) -> None:
    """Stop serving; running jobs finish first (each replica's graceful shutdown waits for them)."""
    # The application first, while the HTTP proxies still carry the running jobs' streams: shutting
    # Serve down would stop the proxies at the same time and cut them.
    serve.delete(APP_NAME)
    if local:
        serve.shutdown()  # a shared cluster keeps Serve for its other applications
