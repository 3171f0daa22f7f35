"""`diffusion-studio serve`: the team server, from the command line.

Starts (or joins) Ray, runs the Images API deployment, prints where it listens, and on Ctrl-C or
SIGTERM stops after the running jobs finish.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import socket
import sys
import threading
import time

from desktop.server.config import ServerConfig, SetupError, replica_resources, served_models
from desktop.server.tokens import read_tokens

DEFAULT_PORT = 8000


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="diffusion-studio serve",
        description="Serve models to the team over the OpenAI Images API, on Ray Serve (one replica per GPU).",
    )
    p.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="MODEL",
        help="a model folder, a Hugging Face id in the cache, or demo; ID=FOLDER names it; repeat for more",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--replicas", type=int, default=1, help="engines to run: one per GPU (default 1)")
    p.add_argument("--gpus-per-replica", type=float, default=1.0, help="GPUs each replica holds (default 1)")
    p.add_argument("--tokens", metavar="FILE", help="file of name:token lines, readable by its owner only")
    p.add_argument(
        "--address",
        help="join a running Ray cluster (auto, or ray://HOST:10001) instead of starting one on this machine",
    )
    p.add_argument(
        "--queue-per-replica", type=int, default=None, help="jobs waiting per replica before 429 (default 4)"
    )
    p.add_argument("--per-user-limit", type=int, default=None, help="jobs one user may have in flight")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            raise SetupError(f"port {port} on {host} is in use or not available: choose another with --port.") from None


def settings_from(args: argparse.Namespace) -> tuple[ServerConfig, bool]:
    """The configuration without cluster resources yet, and whether it is open to anyone (no tokens)."""
    models = served_models(args.model)
    if not 1 <= args.port <= 65535:
        raise SetupError(f"--port must be between 1 and 65535 (got {args.port}).")
    if args.replicas < 1:
        raise SetupError(f"--replicas must be at least 1 (got {args.replicas}).")
    users = read_tokens(args.tokens) if args.tokens else {}
    if not users and not is_loopback(args.host):
        raise SetupError(
            f"without --tokens the server listens on this machine only, not on {args.host}: "
            "give --tokens FILE to open it to the network."
        )
    extra = {}
    if args.queue_per_replica is not None:
        if args.queue_per_replica < 0:
            raise SetupError(f"--queue-per-replica must be 0 or more (got {args.queue_per_replica}).")
        extra["queue_per_replica"] = args.queue_per_replica
    if args.per_user_limit is not None:
        if args.per_user_limit < 1:
            raise SetupError(f"--per-user-limit must be at least 1 (got {args.per_user_limit}).")
        extra["per_user_limit"] = args.per_user_limit
    return ServerConfig(models=models, replicas=args.replicas, users=users, **extra), not users


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage and its error
        return int(exc.code or 0)
    try:
        config, open_access = settings_from(args)
        if args.address is None:
            check_port_free(args.host, args.port)
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        import ray

        from desktop.server import deploy
    except ImportError:
        print(
            "error: the server needs Ray Serve, an optional extra: pip install -e '.[server]'.",
            file=sys.stderr,
        )
        return 2
    if open_access:
        print(f"no --tokens: the server listens on {args.host} only, and anyone on this machine may use it.")
    stop = threading.Event()
    started = time.perf_counter()
    local = args.address is None
    try:
        if local:
            # No dashboard: nothing to look at offline, and one port and process fewer.
            ray.init(include_dashboard=False)
        else:
            ray.init(address=args.address)
        ray_s = time.perf_counter() - started
        gpus, cpus = replica_resources(args.replicas, args.gpus_per_replica, ray.cluster_resources())
        config = _with_resources(config, gpus, cpus)
        where = f"{gpus:g} GPU each" if gpus else f"CPU ({cpus:g} each): no GPU in the cluster"
        verb = "started" if local else "joined"
        print(f"Ray {verb} in {ray_s:.1f} s; starting {config.replicas} replica(s) on {where}...")
        deploy.start(config, args.host, args.port)
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        _shutdown(ray, deploy, local, serving=False)
        return 2
    except KeyboardInterrupt:
        _shutdown(ray, deploy, local, serving=False)
        return 130
    except Exception as exc:  # Ray could not start, or a replica could not load its model
        if args.debug:
            raise
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"error: the server could not start: {reason}", file=sys.stderr)
        _shutdown(ray, deploy, local, serving=False)
        return 1
    # After Ray's start: its core installs its own SIGTERM handler, which would end this process at once.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    url = f"http://{args.host if ':' not in args.host else f'[{args.host}]'}:{args.port}"
    print(
        f"serving {', '.join(config.models)} at {url} (OpenAI clients: base URL {url}/v1) "
        f"after {time.perf_counter() - started:.1f} s; Ctrl-C stops it once the running jobs finish."
    )
    while not stop.wait(1.0):
        pass
    print("stopping: finishing the running jobs...")
    _shutdown(ray, deploy, local, serving=True)
    print("stopped.")
    return 0


def _with_resources(config: ServerConfig, gpus: float, cpus: float) -> ServerConfig:
    from dataclasses import replace

    return replace(config, gpus_per_replica=gpus, cpus_per_replica=cpus)


def _shutdown(ray, deploy, local: bool, serving: bool) -> None:
    try:
        if serving:
            deploy.stop(local)
    finally:
        if ray.is_initialized():
            ray.shutdown()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
