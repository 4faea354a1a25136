"""The exact robust oracle on the default model (200 steps, continuous mode, 0.02 depth grid).

For each adversary box: at a few weights the plain optimum's value, the max-min value, and the
plain optimum's value against its own worst-case adversary (what ignoring the adversary costs);
the time of one robust solve (first call: models and compilation; then warm); the robust front on
a simplex grid (its size and time); and the max-min value when the adversary chooses from a
``--resolution`` grid of the box instead of its vertices (equal where the vertex game is exact).

    python benchmarks/robust_oracle.py [--boxes drift=-2:2 ...] [--divisions 10] [--resolution 3] [--json]

``--json`` prints one JSON object: {"scales": [...], "<box>": {"weights": [{"weights", "plain",
"robust", "plain_under_worst_case", "robust_objectives"}], "solve_first_s", "solve_warm_s",
"front_points", "front_solves", "front_s", "fine_resolution", "fine_value", "vertex_value"}}.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from morl_mm.env import MarketMakingEnv
from morl_mm.env.adversary import parse_adversary
from morl_mm.env.scales import reference_scales
from morl_mm.oracle import solve_many
from morl_mm.oracle.robust import RobustSolver, robust_coverage_set

BOXES = ("drift=-2:2", "drift=-2:2,arrival_rate=120:160,kappa=1.25:1.75")
WEIGHTS = ((0.4, 0.3, 0.3), (0.8, 0.1, 0.1), (0.2, 0.6, 0.2), (0.2, 0.2, 0.6))


def measure(spec: str, env, params, scales, plain, divisions: int, resolution: int) -> dict:
    box = parse_adversary(spec)
    started = time.perf_counter()
    solver = RobustSolver(env, params, box, scales=scales)
    first = solver(WEIGHTS[0])[0]
    solve_first = time.perf_counter() - started
    started = time.perf_counter()
    solver(WEIGHTS[0])
    solve_warm = time.perf_counter() - started
    rows = []
    for w, p, robust in zip(WEIGHTS, plain, [first] + solver(WEIGHTS[1:])):
        rows.append(
            {
                "weights": list(w),
                "plain": p.scalarised_value,
                "robust": robust.scalarised_value,
                "plain_under_worst_case": solver.evaluate(p.action_table, w).scalarised_value,
                "robust_objectives": robust.objective_values.tolist(),
            }
        )
    front = robust_coverage_set(env, params, box, divisions=divisions, scales=scales)
    fine = RobustSolver(env, params, box, scales=scales, resolution=resolution)(WEIGHTS[0])[0]
    return {
        "weights": rows,
        "solve_first_s": solve_first,
        "solve_warm_s": solve_warm,
        "front_points": len(front.points),
        "front_solves": front.n_solves,
        "front_s": front.seconds,
        "fine_resolution": resolution,
        "fine_value": fine.scalarised_value,
        "vertex_value": first.scalarised_value,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--boxes", nargs="+", default=list(BOXES))
    parser.add_argument("--divisions", type=int, default=10)
    parser.add_argument("--resolution", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    env = MarketMakingEnv()
    params = env.default_params
    scales = reference_scales(env, params)
    plain = solve_many(env, params, np.array(WEIGHTS), scales=scales)
    result = {"scales": scales.tolist()}
    for spec in args.boxes:
        result[spec] = measure(spec, env, params, scales, plain, args.divisions, args.resolution)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print("scales " + ", ".join(f"{n}={s:.4g}" for n, s in zip(env.objectives, scales)))
    for spec in args.boxes:
        r = result[spec]
        print(
            f"\n{spec}: one robust solve {r['solve_first_s']:.1f} s (first), {r['solve_warm_s']:.2f} s (warm); "
            f"robust front {r['front_points']} points from {r['front_solves']} weights in {r['front_s']:.0f} s; "
            f"max-min value at {WEIGHTS[0]}: vertices {r['vertex_value']:.6f}, "
            f"{r['fine_resolution']}-point grid {r['fine_value']:.6f}"
        )
        print(f"{'weights':>16} {'plain':>9} {'robust':>9} {'plain vs its worst case':>24}  robust objectives")
        for row in r["weights"]:
            print(
                f"{','.join(f'{x:g}' for x in row['weights']):>16} {row['plain']:9.4f} {row['robust']:9.4f} "
                f"{row['plain_under_worst_case']:24.4f}  " + ", ".join(f"{v:.4g}" for v in row["robust_objectives"])
            )


if __name__ == "__main__":
    main()
