"""``python -m morl_mm.oracle``: the exact convex coverage set of a model, as a table or JSON.

    python -m morl_mm.oracle --json
    python -m morl_mm.oracle --action-mode discrete --param competitive_distance=1.0 --tolerance 1e-3
    python -m morl_mm.oracle --weights 0.4,0.3,0.3 [--adversary drift=-2:2,kappa=1:2] --json
    python -m morl_mm.oracle --adversary drift=-2:2 --divisions 10 --json   # the robust front

Compiled code is kept in the persistent compilation cache (:mod:`morl_mm.jax_cache`;
``MORL_MM_COMPILE_CACHE=off`` to compile afresh), so a run after the first skips most compilation.

With ``--weights`` it solves one weight, plain or (``--adversary``) the max-min game against a
per-step adversary in the box, and prints ``{"weights", "objectives" (name -> exact expected
value), "value" (the scalarised value), "scales"}``. With ``--adversary`` alone it prints the
robust front on a weight grid (:func:`morl_mm.oracle.robust.robust_coverage_set`).

``main(argv)`` is reusable (e.g. as ``morl-mm oracle``); it returns the exit status.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

import numpy as np

from morl_mm.env.adversary import parse_adversary
from morl_mm.env.market import MarketMakingEnv
from morl_mm.env.params import DEFAULT_OBJECTIVES, EnvParams
from morl_mm.jax_cache import enable_compilation_cache
from morl_mm.oracle.ccs import DEFAULT_TOLERANCE, convex_coverage_set
from morl_mm.oracle.dp import solve
from morl_mm.oracle.robust import robust_coverage_set, solve_robust
from morl_mm.pareto.indicators import validate_weights

ARRAY_PARAMS = ("regime_vol", "regime_transition")


def parse_param(text: str) -> tuple[str, object]:
    """``key=value`` -> (key, value); the value is a number, or JSON for the regime arrays."""
    key, sep, value = text.partition("=")
    key = key.strip()
    known = sorted(f.name for f in dataclasses.fields(EnvParams))
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--param: expected key=value, got {text!r}")
    if key not in known:
        raise argparse.ArgumentTypeError(f"--param: unknown EnvParams field {key!r}; known: {', '.join(known)}")
    try:
        parsed = json.loads(value) if key in ARRAY_PARAMS else float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--param {key}: cannot parse {value!r} as a {'JSON array' if key in ARRAY_PARAMS else 'number'}"
        ) from None
    return key, parsed


def parse_weights(text: str, n_objectives: int) -> np.ndarray:
    """``"0.4,0.3,0.3"`` -> weights on the simplex (``ValueError`` with a one-line message otherwise)."""
    try:
        weights = [float(x) for x in text.split(",")]
    except ValueError:
        raise ValueError(f"--weights: expected comma-separated numbers, got {text!r}") from None
    try:
        return validate_weights(weights, n_objectives)
    except ValueError as error:
        raise ValueError(f"--weights {text}: {error}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m morl_mm.oracle", description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--action-mode", choices=("continuous", "discrete"), default="continuous")
    parser.add_argument(
        "--objectives", default=",".join(DEFAULT_OBJECTIVES), help="comma-separated objectives (default: %(default)s)"
    )
    parser.add_argument("--regimes", type=int, default=1, help="number of volatility regimes (EnvConfig.n_regimes)")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        type=parse_param,
        metavar="KEY=VALUE",
        help="EnvParams override, repeatable (regime arrays as JSON)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        help="OLS stops when no corner weight can gain more than this (normalised units)",
    )
    parser.add_argument(
        "--depth-step", type=float, default=None, help="continuous mode: step of the oracle's depth grid (default 0.02)"
    )
    parser.add_argument(
        "--weights",
        default=None,
        metavar="W",
        help="solve this one weight (comma-separated, on the simplex) instead of the CCS",
    )
    parser.add_argument(
        "--adversary",
        default=None,
        metavar="FIELD=LO:HI,...",
        help="max-min against a per-step adversary in this box of params "
        "(drift, arrival_rate, kappa, sigma); without --weights: the robust front",
    )
    parser.add_argument(
        "--resolution", type=int, default=2, help="adversary points per bounded field (default 2: the box's vertices)"
    )
    parser.add_argument(
        "--divisions", type=int, default=10, help="robust front (--adversary without --weights): simplex grid divisions"
    )
    parser.add_argument(
        "--search",
        choices=("auto", "full", "banded"),
        default="auto",
        help="CCS: the solver's joint-quote search (same tables; benchmarks/oracle_ccs.py)",
    )
    parser.add_argument(
        "--bounds",
        choices=("hull", "lp"),
        default="hull",
        help="CCS: how the corners' optimistic bounds are computed (same points)",
    )
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    enable_compilation_cache()
    try:
        objectives = tuple(o.strip() for o in args.objectives.split(",") if o.strip())
        env = MarketMakingEnv(objectives=objectives, action_mode=args.action_mode, n_regimes=args.regimes)
        params = env.make_params(**dict(args.param))
        depth_grid = None
        if args.depth_step is not None:
            if not args.depth_step > 0:
                raise ValueError(f"--depth-step: must be > 0, got {args.depth_step}")
            depth_grid = np.arange(0.0, env.config.max_depth + 1e-9, args.depth_step)
        box = None if args.adversary is None else parse_adversary(args.adversary)
        if args.weights is not None:
            weights = parse_weights(args.weights, env.num_objectives)
            solution = (
                solve(env, params, weights, depth_grid=depth_grid)
                if box is None
                else solve_robust(env, params, weights, box, depth_grid=depth_grid, resolution=args.resolution).solution
            )
            return _print_solution(solution, args.json)
        if box is None:
            result = convex_coverage_set(
                env, params, depth_grid=depth_grid, tolerance=args.tolerance, search=args.search, bounds=args.bounds
            )
        else:
            result = robust_coverage_set(
                env,
                params,
                box,
                divisions=args.divisions,
                depth_grid=depth_grid,
                resolution=args.resolution,
                tolerance=args.tolerance,
            )
    except ValueError as error:
        parser.error(str(error))
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    names = result.objectives
    kind = "exact CCS" if box is None else f"exact robust front against {box.spec()}"
    print(
        f"{kind} ({args.action_mode} mode): {len(result.points)} points, {result.n_solves} solves, "
        f"{result.seconds:.1f} s; scales " + ", ".join(f"{n}={s:.4g}" for n, s in zip(names, result.scales))
    )
    header = "  ".join(f"{'w_' + n:>16}" for n in names) + "  " + "  ".join(f"{n:>16}" for n in names)
    print(header)
    for i in np.lexsort(result.points.T[::-1]):
        print(
            "  ".join(f"{w:16.4f}" for w in result.weights[i])
            + "  "
            + "  ".join(f"{v:16.4f}" for v in result.points[i])
        )
    return 0


def _print_solution(solution, as_json: bool) -> int:
    """One weight's solution: the JSON object of ``--weights --json``, or one line."""
    result = {
        "weights": [float(w) for w in solution.weights],
        "objectives": {n: float(v) for n, v in zip(solution.objectives, solution.objective_values)},
        "value": solution.scalarised_value,
        "scales": [float(s) for s in solution.scales],
    }
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"value {result['value']:.6g} at weights {args_list(result['weights'])}: "
            + ", ".join(f"{n}={v:.6g}" for n, v in result["objectives"].items())
            + "; scales "
            + args_list(result["scales"])
        )
    return 0


def args_list(values) -> str:
    return ",".join(f"{v:.4g}" for v in values)


if __name__ == "__main__":
    sys.exit(main())
