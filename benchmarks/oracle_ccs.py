"""Wall time of the default model's exact CCS (``morl-mm oracle --json``, tolerance 1e-3), before and after.

"before" is the earlier method, still selectable: every (bid, ask) pair searched at every state
(``--search full``), one LP per corner bound refreshed lazily (``--bounds lp``), no compilation
cache. "after" is the default: the banded joint-quote search (:mod:`morl_mm.oracle.search`), the
corners' bounds from one convex hull, and the persistent compilation cache (:mod:`morl_mm.jax_cache`),
first in a fresh cache folder ("after_cold") and then again ("after_warm"). Each run is a fresh
``python -m morl_mm.oracle`` process; ``seconds`` is the CCS's own wall time (scales, model,
compilation, solves, geometry), ``process_s`` adds starting Python and importing JAX. The points
of every run are compared with the "before" run's.

Then, in a fresh process per method and without the cache, where the time goes: the reference
scales (a Monte-Carlo rollout of the env, compiled), the first solve (compilation), the other
solves, the optimistic bounds and the corner weights.

    python benchmarks/oracle_ccs.py [--modes discrete,continuous] [--json]

Figures measured on a shared machine vary with its load (``load_average`` is printed with them);
the ratios within one run are the steadier figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

METHODS = {"before": ("full", "lp"), "after": ("auto", "hull")}


def run_cli(mode: str, method: str, cache: str) -> dict:
    """One ``python -m morl_mm.oracle --json`` process; returns its JSON and the process wall time."""
    search, bounds = METHODS[method]
    command = [
        sys.executable,
        "-m",
        "morl_mm.oracle",
        "--json",
        "--action-mode",
        mode,
        "--search",
        search,
        "--bounds",
        bounds,
    ]
    started = time.perf_counter()
    out = subprocess.run(
        command,
        check=True,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "MORL_MM_COMPILE_CACHE": cache},
    ).stdout
    result = json.loads(out)
    result["process_s"] = time.perf_counter() - started
    return result


def point_array(result: dict) -> np.ndarray:
    return np.array([[p["objectives"][n] for n in result["objectives"]] for p in result["points"]])


def same_points(a: dict, b: dict) -> float | None:
    """Max |difference| of the two runs' points (in the order found), None when their numbers differ."""
    pa, pb = point_array(a), point_array(b)
    return float(np.abs(pa - pb).max()) if pa.shape == pb.shape else None


def phases_in_subprocess(mode: str, method: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--phases-of", f"{mode},{method}"],
        check=True,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "MORL_MM_COMPILE_CACHE": "off"},
    ).stdout
    return json.loads(out)


def phases(mode: str, method: str) -> dict:
    """Seconds spent in each part of one CCS, in this process (no persistent cache)."""
    from morl_mm.env import MarketMakingEnv
    from morl_mm.env.scales import reference_scales
    from morl_mm.oracle import ccs

    search, bounds = METHODS[method]
    env = MarketMakingEnv(action_mode=mode)
    params = env.make_params()
    spent = {"scales": 0.0, "first_solve": 0.0, "solves": 0.0, "bounds": 0.0, "corners": 0.0}
    started = time.perf_counter()
    scales = reference_scales(env, params)
    spent["scales"] = time.perf_counter() - started

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - t

        return wrapper

    originals = ccs.Solver.__call__, ccs.optimistic_bounds, ccs.optimistic_bound, ccs.corner_weights
    calls = {"n": 0}

    def solve(self, weights):
        calls["n"] += 1
        return timed("first_solve" if calls["n"] == 1 else "solves", originals[0])(self, weights)

    ccs.Solver.__call__ = solve
    ccs.optimistic_bounds, ccs.optimistic_bound = timed("bounds", originals[1]), timed("bounds", originals[2])
    ccs.corner_weights = timed("corners", originals[3])
    try:
        result = ccs.convex_coverage_set(env, params, scales=scales, search=search, bounds=bounds)
    finally:
        ccs.Solver.__call__, ccs.optimistic_bounds, ccs.optimistic_bound, ccs.corner_weights = originals
    spent["total"] = spent["scales"] + result.seconds
    spent["per_solve"] = spent["solves"] / max(result.n_solves - 1, 1)
    spent["n_solves"] = result.n_solves
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in spent.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modes", default="discrete,continuous")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--phases-of", default=None, help=argparse.SUPPRESS)  # MODE,METHOD: one phases() as JSON
    args = parser.parse_args(argv)
    if args.phases_of:
        print(json.dumps(phases(*args.phases_of.split(","))))
        return 0
    report = {"load_average_before": [round(x, 2) for x in os.getloadavg()], "modes": {}}
    with tempfile.TemporaryDirectory() as cache:
        for mode in args.modes.split(","):
            runs = {
                "before": run_cli(mode, "before", "off"),
                "after_cold": run_cli(mode, "after", cache),
                "after_warm": run_cli(mode, "after", cache),
            }
            entry = {
                name: {
                    "seconds": round(r["seconds"], 3),
                    "process_s": round(r["process_s"], 3),
                    "points": len(r["points"]),
                    "n_solves": r["n_solves"],
                    "max_point_diff_vs_before": same_points(runs["before"], r),
                }
                for name, r in runs.items()
            }
            entry["phases"] = {method: phases_in_subprocess(mode, method) for method in METHODS}
            report["modes"][mode] = entry
    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"load average {report['load_average_before']} -> {report['load_average_after']}")
    for mode, entry in report["modes"].items():
        print(f"{mode} mode")
        for name in ("before", "after_cold", "after_warm"):
            r = entry[name]
            print(
                f"  {name:<11} {r['seconds']:7.2f} s CCS ({r['process_s']:6.2f} s process), {r['points']} points, "
                f"{r['n_solves']} solves, max |point - before| {r['max_point_diff_vs_before']}"
            )
        for method, p in entry["phases"].items():
            print(f"  phases {method:<7} " + ", ".join(f"{k} {v}" for k, v in p.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
