"""Scale-out figures of the Ray backend (README "Scale-out: Ray"): per-task overhead, and a study's wall time
in process vs on a local 2-CPU Ray head, with the parity of their numbers.

    python benchmarks/ray_scaling.py overhead [--tasks 40]
    python benchmarks/ray_scaling.py study CONFIG [--seeds 0] [--group "equal env steps"] [--out DIR]

``overhead``: empty units (a task that returns an empty result) through each backend; Ray's first batch
includes starting its workers. ``study``: the config reduced as asked (one training seed, one group of
learners), run in process and then on a private local Ray head with 2 CPUs into two folders; prints the
wall times and whether every unit's returns are identical. Wall times on a shared machine are disturbed by
whatever else runs: compare the two figures of one run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import time
from pathlib import Path

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_enable_concurrency_optimized_scheduler=false")

import numpy as np

from morl_mm.study.backends import (
    InProcessBackend,
    RayBackend,
    UnitResult,
    UnitTask,
    start_local_head,
)


def empty_unit(task: UnitTask) -> UnitResult:
    return UnitResult(task.label, None, {}, 0.0)


def per_task_seconds(backend, n: int) -> float:
    tasks = [UnitTask("empty", f"empty#{i}", None, "", {"num_cpus": 1.0}) for i in range(n)]
    started = time.perf_counter()
    for _ in backend.run(tasks, empty_unit, lambda task: None):
        pass
    return (time.perf_counter() - started) / n


def overhead(n: int) -> dict:
    import ray

    in_process = per_task_seconds(InProcessBackend(), n)
    started = time.perf_counter()
    start_local_head(num_cpus=2)
    head_seconds = time.perf_counter() - started
    backend = RayBackend()
    first = per_task_seconds(backend, n)  # starts the workers
    warm = per_task_seconds(backend, n)
    ray.shutdown()
    return {
        "tasks": n,
        "in_process_s_per_task": in_process,
        "ray_head_start_s": head_seconds,
        "ray_first_batch_s_per_task": first,
        "ray_warm_s_per_task": warm,
    }


def reduced(config, seeds: list[int], group: str | None):
    learners = [
        dataclasses.replace(s, seeds=tuple(seeds)) for s in config.learners if group is None or s.group == group
    ]
    return dataclasses.replace(config, learners=tuple(learners))


def study(path: str, seeds: list[int], group: str | None, out: Path) -> dict:
    import ray

    from morl_mm.study import load_config, run_study

    config = reduced(load_config(path), seeds, group)
    for folder in ("inprocess", "ray"):  # fresh: a finished part there would be reused
        shutil.rmtree(out / folder, ignore_errors=True)
    started = time.perf_counter()
    local = run_study(config, out / "inprocess", progress=False)
    in_process = time.perf_counter() - started
    start_local_head(num_cpus=2)
    started = time.perf_counter()
    on_ray = run_study(config, out / "ray", progress=False, backend=RayBackend())
    ray_seconds = time.perf_counter() - started
    ray.shutdown()
    identical = {
        str(kind): bool(
            np.array_equal(
                local["returns"].values[:, local.kind.values == kind],
                on_ray["returns"].values[:, on_ray.kind.values == kind],
                equal_nan=True,
            )
        )
        for kind in dict.fromkeys(local.kind.values)
    }
    hv = lambda ds: {k: v["hv_ratio"] for k, v in json.loads(ds.attrs["indicators"]).items()}
    return {
        "config": path,
        "learners": [s.name for s in config.learners],
        "seeds": seeds,
        "group": group,
        "in_process_s": in_process,
        "ray_2cpu_s": ray_seconds,
        "speedup": in_process / ray_seconds,
        "unit_seconds_in_process": json.loads(local.attrs["unit_seconds"]),
        "unit_seconds_ray": json.loads(on_ray.attrs["unit_seconds"]),
        "returns_identical": identical,
        "hv_ratio_in_process": hv(local),
        "hv_ratio_ray": hv(on_ray),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("overhead")
    p.add_argument("--tasks", type=int, default=40)
    p = sub.add_parser("study")
    p.add_argument("config")
    p.add_argument("--seeds", default="0", help="training seeds of every learner, comma-separated")
    p.add_argument("--group", help="keep only the learners of this group")
    p.add_argument("--out", default="results/ray_scaling")
    args = parser.parse_args()
    if args.what == "overhead":
        result = overhead(args.tasks)
    else:
        result = study(args.config, [int(s) for s in args.seeds.split(",")], args.group, Path(args.out))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
