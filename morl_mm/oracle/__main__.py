"""``python -m morl_mm.oracle``: the exact convex coverage set of a model, as a table or JSON.

    python -m morl_mm.oracle --json
    python -m morl_mm.oracle --action-mode discrete --param competitive_distance=1.0 --tolerance 1e-3

``main(argv)`` is reusable (e.g. as ``morl-mm oracle``); it returns the exit status.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

import numpy as np

from morl_mm.env.market import MarketMakingEnv
from morl_mm.env.params import DEFAULT_OBJECTIVES, EnvParams
from morl_mm.oracle.ccs import DEFAULT_TOLERANCE, convex_coverage_set

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
        raise argparse.ArgumentTypeError(f"--param {key}: cannot parse {value!r} as a "
                                         f"{'JSON array' if key in ARRAY_PARAMS else 'number'}") from None
    return key, parsed


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m morl_mm.oracle", description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--action-mode", choices=("continuous", "discrete"), default="continuous")
    parser.add_argument("--objectives", default=",".join(DEFAULT_OBJECTIVES),
                        help="comma-separated objectives (default: %(default)s)")
    parser.add_argument("--regimes", type=int, default=1, help="number of volatility regimes (EnvConfig.n_regimes)")
    parser.add_argument("--param", action="append", default=[], type=parse_param, metavar="KEY=VALUE",
                        help="EnvParams override, repeatable (regime arrays as JSON)")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                        help="OLS stops when no corner weight can gain more than this (normalised units)")
    parser.add_argument("--depth-step", type=float, default=None,
                        help="continuous mode: step of the oracle's depth grid (default 0.02)")
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        objectives = tuple(o.strip() for o in args.objectives.split(",") if o.strip())
        env = MarketMakingEnv(objectives=objectives, action_mode=args.action_mode, n_regimes=args.regimes)
        params = env.make_params(**dict(args.param))
        depth_grid = None
        if args.depth_step is not None:
            if not args.depth_step > 0:
                raise ValueError(f"--depth-step: must be > 0, got {args.depth_step}")
            depth_grid = np.arange(0.0, env.config.max_depth + 1e-9, args.depth_step)
        result = convex_coverage_set(env, params, depth_grid=depth_grid, tolerance=args.tolerance)
    except ValueError as error:
        parser.error(str(error))
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    names = result.objectives
    print(f"exact CCS ({args.action_mode} mode): {len(result.points)} points, {result.n_solves} solves, "
          f"{result.seconds:.1f} s; scales " + ", ".join(f"{n}={s:.4g}" for n, s in zip(names, result.scales)))
    header = "  ".join(f"{'w_' + n:>16}" for n in names) + "  " + "  ".join(f"{n:>16}" for n in names)
    print(header)
    for i in np.lexsort(result.points.T[::-1]):
        print("  ".join(f"{w:16.4f}" for w in result.weights[i]) + "  "
              + "  ".join(f"{v:16.4f}" for v in result.points[i]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
