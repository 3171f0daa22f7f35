"""Campaign throughput: a rows x 3-format campaign with the demo model (its defaults: 20 steps,
guidance 2; 1:1 64x64, 9:16 64x112, 16:9 112x64) against the same pictures made by separate
`generate` runs and by `generate --count 8` runs; every one a fresh process, as a user runs them.

    python benchmarks/campaign.py [--rows 100] [--separate 10] [--batches 1]

- separate runs: --separate runs (sizes in turn), their median per size x the images of that size;
  an estimate, said so in the output (300 real runs would take half an hour).
- --count 8: --batches runs of 8 per size; per size, ceil(rows / 8) runs x their median.
- overhead per image: the campaign's time from its first picture to its last, less the engine's own
  time for those pictures (the library records it per picture), per picture; also the steady time
  per picture less the warm engine's time per picture measured afterwards in this process.
- memory: the campaign process's RSS, sampled every 0.2 s, at 10% / 50% / 100% of its pictures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time

import psutil
from common import ROOT, scratch

COLOURS = ("red", "green", "blue", "yellow", "white", "black", "purple", "orange")
SHAPES = ("circle", "square", "triangle")
FORMATS = {"1:1": (64, 64), "9:16": (64, 112), "16:9": (112, 64)}
TEMPLATE = "a {colour} {shape} on a {background} background"


def segments(rows: int):
    path = scratch("campaign") / "segments.csv"
    lines = ["segment,colour,shape,background"]
    for i in range(rows):
        colour, shape = COLOURS[i % 8], SHAPES[i % 3]
        background = COLOURS[(i + 3) % 8] if COLOURS[(i + 3) % 8] != colour else "gray"
        lines.append(f"segment {i + 1},{colour},{shape},{background}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_process(args: list[str], sample_rss: bool = False) -> dict:
    """Run `python -m desktop.campaign_cli|cli ...`; wall time, when each stdout line came, RSS samples."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", args[0], *args[1:]],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[float] = []
    samples: list[tuple[int, int]] = []  # (lines seen so far, rss bytes)
    stop = threading.Event()

    def sample() -> None:
        process = psutil.Process(child.pid)
        while not stop.is_set():
            try:
                samples.append((len(lines), process.memory_info().rss))
            except psutil.Error:
                return
            stop.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    if sample_rss:
        sampler.start()
    for _ in child.stdout:
        lines.append(time.perf_counter() - started)
    err = child.stderr.read()
    child.wait()
    stop.set()
    if child.returncode != 0:
        raise SystemExit(f"{args[1:4]} failed ({child.returncode}): {err[-2000:]}")
    return {"wall_s": time.perf_counter() - started, "lines": lines, "rss": samples, "stderr": err}


CAMPAIGN = "import sys; from desktop.campaign_cli import main; sys.exit(main(sys.argv[1:]))"
GENERATE = "import sys; from desktop.cli import main; sys.exit(main(sys.argv[1:]))"


def campaign_generate_seconds() -> list[float]:
    """The engine's own time for each campaign picture, as the library recorded it (history timings)."""
    from desktop.library.store import Library

    library = Library()
    try:
        rows = [r for r in library.db.query() if (r.request.get("origin") or {}).get("campaign") == "segments"]
    finally:
        library.close()
    rows.sort(key=lambda r: (r.created_at, r.id))
    return [float(r.timings.get("generate_s", 0.0)) for r in rows]


def rss_at(samples: list[tuple[int, int]], fraction: float, total: int) -> float:
    wanted = max(1, int(total * fraction))
    at = [rss for seen, rss in samples if seen >= wanted] or [samples[-1][1]]
    return round(at[0] / 2**20, 1)


def engine_seconds_per_picture(runs: int = 5) -> dict[str, float]:
    """The warm engine alone, per size: what every way of making the pictures must pay."""
    from desktop.engine.engine import Engine
    from desktop.engine.request import GenerationRequest

    engine = Engine()
    engine.prepare("demo")
    result = {}
    for name, (width, height) in FORMATS.items():
        prompt = "a red circle on a blue background"
        request = GenerationRequest(prompt=prompt, model="demo", width=width, height=height, steps=20, guidance=2.0)
        request = engine.validate(request)
        engine.run(request)
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            engine.run(request)
            times.append(time.perf_counter() - started)
        result[name] = statistics.median(times)
    engine.release()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--separate", type=int, default=10, help="separate generate runs to estimate from")
    parser.add_argument("--batches", type=int, default=1, help="generate --count 8 runs per size")
    args = parser.parse_args()
    total = args.rows * len(FORMATS)
    csv_path = segments(args.rows)

    campaign = run_process(
        [CAMPAIGN, str(csv_path), "--prompt-template", TEMPLATE, "--formats", ",".join(FORMATS),
         "--output", str(scratch("campaign-out")), "--seed", "1"],
        sample_rss=True,
    )  # fmt: skip
    assert len(campaign["lines"]) == total, campaign["stderr"]
    first, last = campaign["lines"][0], campaign["lines"][-1]
    steady = (last - first) / (total - 1)
    generate_s = campaign_generate_seconds()

    separate: dict[str, list[float]] = {name: [] for name in FORMATS}
    for i in range(args.separate):
        name = list(FORMATS)[i % len(FORMATS)]
        width, height = FORMATS[name]
        run = run_process([GENERATE, "--prompt", "a red circle on a blue background", "--width", str(width),
                           "--height", str(height), "--seed", str(i)])  # fmt: skip
        separate[name].append(run["wall_s"])
    separate_total = sum(statistics.median(times) * args.rows for times in separate.values() if times)

    batched: dict[str, list[float]] = {name: [] for name in FORMATS}
    for name, (width, height) in FORMATS.items():
        for i in range(args.batches):
            run = run_process([GENERATE, "--prompt", "a red circle on a blue background", "--width", str(width),
                               "--height", str(height), "--seed", str(i), "--count", "8"])  # fmt: skip
            batched[name].append(run["wall_s"])
    batched_total = sum(statistics.median(times) * math.ceil(args.rows / 8) for times in batched.values())

    engine = engine_seconds_per_picture()
    engine_mean = statistics.mean(engine.values())
    print(
        json.dumps(
            {
                "images": total,
                "campaign": {
                    "wall_s": round(campaign["wall_s"], 1),
                    "first_image_s": round(first, 2),
                    "steady_s_per_image": round(steady, 3),
                    # Both from the campaign's own process at the same moments: contention from other
                    # processes on the machine hits the pictures and the time between them alike.
                    "engine_s_per_image_in_run": round(statistics.mean(generate_s[1:]), 3),
                    "overhead_s_per_image": round((last - first - sum(generate_s[1:])) / (total - 1), 4),
                    "overhead_vs_engine_here_s_per_image": round(steady - engine_mean, 3),
                    "rss_mb_at_10_50_100_pct": [rss_at(campaign["rss"], f, total) for f in (0.1, 0.5, 1.0)],
                    "rss_mb_peak": round(max(r for _, r in campaign["rss"]) / 2**20, 1),
                },
                "separate_generate_runs": {
                    "estimated_wall_s": round(separate_total, 1),
                    "estimated_from_runs": args.separate,
                    "median_s_per_run": {k: round(statistics.median(v), 2) for k, v in separate.items() if v},
                },
                "generate_count_8": {
                    "estimated_wall_s": round(batched_total, 1),
                    "runs_per_size": args.batches,
                    "median_s_per_run_of_8": {k: round(statistics.median(v), 2) for k, v in batched.items()},
                    "s_per_image_with_start_up": {k: round(statistics.median(v) / 8, 3) for k, v in batched.items()},
                },
                "engine_s_per_picture": {k: round(v, 3) for k, v in engine.items()},
                "load_average_1min": round(os.getloadavg()[0], 2),
                "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "default"),
            }
        )
    )


if __name__ == "__main__":
    main()
