"""The team server: Ray start-up, replica start-up and memory, throughput with 1 and 2 replicas (and
their ratio), and the server's overhead per image against the local engine on the same work.

    python benchmarks/server.py [--replicas 1x2,1x1,2x1] [--jobs 6] [--size 128] [--steps 10]
    python benchmarks/server.py --model /models/sd15 --size 512 --steps 25 --replicas 1,2,4 --address auto

Without --model it serves the tiny local model and the demo model on this machine's CPUs (replicas
share the cores, so the ratio says what Ray's fan-out costs here, not what GPUs would give). With
--address it joins a running cluster, one GPU per replica, and measures real throughput.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import tiny_text_to_image

PROMPT = "a red circle on a blue background"


def rss_mb(title: str) -> list[float]:
    """Resident memory of the processes whose title (Ray sets it) contains title."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if title in (proc / "cmdline").read_bytes().decode(errors="replace"):
                for line in (proc / "status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        found.append(round(int(line.split()[1]) / 1024, 1))
        except OSError:
            continue
    return sorted(found)


def post(root: str, body: dict) -> tuple[float, dict]:
    import requests

    started = time.perf_counter()
    answer = requests.post(f"{root}/v1/images/generations", json=body, timeout=3600)
    answer.raise_for_status()
    return time.perf_counter() - started, answer.json()


def job(model: str, size: int, steps: int, seed: int) -> dict:
    return {"model": model, "prompt": PROMPT, "size": f"{size}x{size}", "num_inference_steps": steps, "seed": seed}


def throughput(root: str, model: str, size: int, steps: int, jobs: int) -> dict:
    post(root, job(model, size, steps, 0))  # every replica warm: the first may still load
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(lambda i: post(root, job(model, size, steps, i)), range(jobs)))
    started = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        answers = list(pool.map(lambda i: post(root, job(model, size, steps, 100 + i)), range(jobs)))
    wall = time.perf_counter() - started
    return {
        "jobs": jobs,
        "wall_s": round(wall, 2),
        "images_per_min": round(60 * jobs / wall, 1),
        "replicas_used": len({a[1]["replica"] for a in answers}),
    }


def overhead(root: str, model: str, reference: str, size: int, steps: int, runs: int, guidance: float) -> dict:
    """One request at a time through the server vs the same request on an engine in this process
    (interleaved; the same torch thread count as the single replica)."""
    from desktop.engine.engine import Engine
    from desktop.engine.request import GenerationRequest

    engine = Engine()
    request = GenerationRequest(
        prompt=PROMPT, model=reference, width=size, height=size, steps=steps, guidance=guidance, seed=7
    )
    engine.generate(request)
    body = {**job(model, size, steps, 7), "guidance_scale": guidance}
    post(root, body)
    local, remote, worker = [], [], []
    for _ in range(runs):
        started = time.perf_counter()
        engine.generate(request)
        local.append(time.perf_counter() - started)
        seconds, answer = post(root, body)
        remote.append(seconds)
        worker.append(answer["timings"]["generate_s"])
        assert base64.b64decode(answer["data"][0]["b64_json"])
    local_s, remote_s = statistics.median(local), statistics.median(remote)
    return {
        "work": f"{model} {size}x{size} {steps} steps",
        "local_s": round(local_s, 4),
        "server_s": round(remote_s, 4),
        "overhead_ms": round(1000 * (remote_s - local_s), 1),
        "overhead_pct": round(100 * (remote_s - local_s) / local_s, 1),
        # The same job's generation inside the replica: what the server adds around it.
        "server_around_engine_ms": round(1000 * (remote_s - statistics.median(worker)), 1),
    }


def payload_ms(size: int = 512, runs: int = 5) -> float:
    """What one result costs on the wire whatever the model: PNG, base64 and JSON out, and back in."""
    import numpy as np
    from PIL import Image

    from desktop.engine.edit_inputs import png_bytes

    # Noise-like pixels: the worst case for PNG, as a real photo-like result nearly is.
    picture = Image.fromarray(np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8))
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        text = json.dumps({"b64_json": base64.b64encode(png_bytes(picture)).decode()})
        Image.open(io.BytesIO(base64.b64decode(json.loads(text)["b64_json"]))).load()
        times.append(time.perf_counter() - started)
    return round(1000 * statistics.median(times), 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", help="a model folder to serve (default: the tiny model and the demo)")
    parser.add_argument(
        "--replicas",
        help="configurations to measure: N (replicas sharing the CPUs, or one GPU each) or NxC (C CPUs each); "
        "default 1x2,1x1,2x1 on this machine's CPUs, 1,2 with --address",
    )
    parser.add_argument("--jobs", type=int, default=6)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--address", help="join this Ray cluster (GPU replicas) instead of a local CPU one")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()

    import ray
    import torch

    from desktop.server import deploy
    from desktop.server.config import ServerConfig, replica_resources

    reference = args.model or str(tiny_text_to_image())
    models = {Path(reference).name: reference} if args.model else {"tiny-sd": reference, "demo": "demo"}
    main_model = next(iter(models))
    report: dict = {"machine": "local CPU" if not args.address else args.address, "cpus": torch.get_num_threads()}
    # Other work on the machine skews every figure here: say how busy it was.
    report["load_avg_1m_before"] = round(os.getloadavg()[0], 2)
    report["payload_512_ms"] = payload_ms()

    started = time.perf_counter()
    ray.init(address=args.address, include_dashboard=False if not args.address else None, log_to_driver=False)
    report["ray_init_s"] = round(time.perf_counter() - started, 2)
    base = rss_mb("ray::")
    root = f"http://127.0.0.1:{args.port}"
    plan = args.replicas or ("1,2" if args.address else "1x2,1x1,2x1")
    report["throughput"] = {}
    try:
        for n, item in enumerate(plan.split(",")):
            count, _, each = item.partition("x")
            replicas = int(count)
            gpus, cpus = replica_resources(replicas, 1, ray.cluster_resources())
            cpus = float(each) if each else cpus
            # Room for the whole burst from one client: this measures throughput, not admission.
            config = ServerConfig(
                models=models,
                replicas=replicas,
                gpus_per_replica=gpus,
                cpus_per_replica=cpus,
                queue_per_replica=args.jobs,
                per_user_limit=args.jobs,
            )
            if n:
                # Replicas of another size: a rolling update would wait for CPUs the old ones hold.
                from ray import serve

                serve.delete(deploy.APP_NAME)
            print(f"starting {item}...", file=sys.stderr, flush=True)
            started = time.perf_counter()
            deploy.start(config, "127.0.0.1", args.port)
            ready_s = time.perf_counter() - started
            row = {"serve_ready_s": round(ready_s, 2), "cpus_each": cpus, "gpus_each": gpus}
            row.update(throughput(root, main_model, args.size, args.steps, args.jobs))
            row["replica_rss_mb"] = rss_mb("ray::ServeReplica:diffusion-studio:Generator")
            row["ingress_rss_mb"] = rss_mb("ray::ServeReplica:diffusion-studio:ImagesAPI")
            label = f"{replicas} replica(s) x {f'{gpus:g} GPU' if gpus else f'{cpus:g} CPU'}"
            report["throughput"][label] = row
            print(f"{label}: {row}", file=sys.stderr, flush=True)
            if replicas == 1 and "overhead" not in report and not args.address:
                # The same torch thread count here as in the replica (Ray sets it from its CPUs).
                torch.set_num_threads(max(1, int(cpus)))
                report["overhead_threads"] = torch.get_num_threads()
                report["overhead"] = [
                    overhead(root, main_model, reference, args.size, args.steps, args.runs, 7.5),
                    overhead(root, main_model, reference, 64, 4, args.runs, 7.5),
                ]
                if not args.model:
                    report["overhead"].append(overhead(root, "demo", "demo", 64, 20, args.runs, 2.0))
        rates = {label: row["images_per_min"] for label, row in report["throughput"].items()}
        first, *rest = rates
        report["throughput_ratios"] = {f"{label} / {first}": round(rates[label] / rates[first], 2) for label in rest}
        report["ray_system_rss_mb"] = round(sum(base), 1)
        report["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    finally:
        deploy.stop(local=not args.address)
        ray.shutdown()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
