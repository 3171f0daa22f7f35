"""What a server runs with: its models, replicas, queue limits and users. Plain data: Ray copies it to
every replica."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from desktop.engine.devices import RuntimeOptions
from desktop.engine.models import is_hub_id
from desktop.engine.presets import DEMO_MODEL


class SetupError(Exception):
    """The server cannot start as asked; the message is one sentence saying what to change."""


# Jobs each replica holds waiting beside the one it runs, before the server answers 429: enough that a
# campaign's burst or a few users at once queue instead of being refused.
QUEUE_PER_REPLICA = 4


@dataclass(frozen=True)
class ServerConfig:
    # Model id (what clients name) -> reference the replicas load: a folder, a hub id, or demo.
    models: dict[str, str]
    replicas: int = 1
    gpus_per_replica: float = 0.0
    cpus_per_replica: float = 1.0
    queue_per_replica: int = QUEUE_PER_REPLICA
    # None: capacity less one slot per replica, so another user always finds room.
    per_user_limit: int | None = None
    # sha256 of each token -> its user's name. Empty with no tokens_file: open to anyone who can
    # connect (main.py then listens on loopback only).
    users: dict[str, str] = field(default_factory=dict)
    # Read by the ingress itself where given (KubeRay mounts the tokens as a Secret).
    tokens_file: str | None = None
    # How long a job may wait for a replica to take it before the server answers 503.
    start_timeout_s: float = 120.0
    # How long a shutdown waits for running jobs to finish.
    drain_timeout_s: float = 300.0
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)

    @property
    def open_access(self) -> bool:
        return not self.users and not self.tokens_file

    @property
    def capacity(self) -> int:
        """Jobs in flight (running or waiting) before the server answers 429."""
        return self.replicas * (1 + self.queue_per_replica)

    @property
    def user_limit(self) -> int:
        if self.per_user_limit is not None:
            return self.per_user_limit
        return max(1, self.capacity - self.replicas)

    def default_model(self) -> str:
        return next(iter(self.models))


def model_id(reference: str) -> str:
    """What clients call a model: demo, a hub id as it is, else the folder's name."""
    if reference == DEMO_MODEL:
        return DEMO_MODEL
    path = Path(reference).expanduser()
    if not path.exists() and is_hub_id(reference):
        return reference
    return path.name or reference


def served_models(specs: list[str]) -> dict[str, str]:
    """Model ids -> references from --model values: `REFERENCE` or `ID=REFERENCE`.

    Folders are not checked here: with --address they live on the cluster's machines, not this one.
    """
    if not specs:
        raise SetupError("no model to serve: give at least one --model (a model folder, a Hugging Face id, or demo).")
    models: dict[str, str] = {}
    for spec in specs:
        name, sep, reference = spec.partition("=")
        if not sep:
            name, reference = "", spec
        reference = reference.strip()
        if not reference:
            raise SetupError(f"--model {spec!r} names no model: give a folder, a Hugging Face id, or demo.")
        if Path(reference).expanduser().exists():
            reference = str(Path(reference).expanduser().resolve())
        name = name.strip() or model_id(reference)
        if name in models:
            raise SetupError(f"two models are both called '{name}': give one another id with --model ID=FOLDER.")
        models[name] = reference
    return models


def replica_resources(replicas: int, gpus_per_replica: float, cluster: dict) -> tuple[float, float]:
    """(gpus, cpus) each replica asks Ray for. GPU replicas where the cluster has GPUs; otherwise CPU
    replicas that share the CPUs evenly (Ray sets each one's torch threads from its CPU share)."""
    if replicas < 1:
        raise SetupError(f"--replicas must be at least 1 (got {replicas}).")
    gpus = float(cluster.get("GPU", 0))
    cpus = float(cluster.get("CPU", 1)) or 1.0
    if gpus > 0 and gpus_per_replica > 0:
        if gpus_per_replica * replicas > gpus:
            raise SetupError(
                f"{replicas} replicas of {gpus_per_replica:g} GPU need {gpus_per_replica * replicas:g} GPUs but "
                f"the cluster has {gpus:g}: ask for fewer replicas."
            )
        return gpus_per_replica, 1.0
    share = cpus / replicas
    # Whole CPUs where they divide evenly (torch gets that many threads); a fraction otherwise.
    return 0.0, float(math.floor(share)) if share >= 1 else round(share, 3)
