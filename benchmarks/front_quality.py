"""Front quality of the native learners against the exact CCS of the default model.

For each learner (hyperparameters from ``studies/default.toml``), train at a few fractions of its
budget, evaluate the weight-conditioned network on a simplex lattice of weights, and print the
hypervolume ratio to the exact CCS, the EUM ratio, IGD (normalised objectives), env steps and wall
time, plus the curve of HV ratio against env steps. The hypervolume reference point is fixed and
printed: per objective, the worst value over the exact CCS and the classical strategies of the
study, minus 10% of that objective's range over the same set.

    python benchmarks/front_quality.py [--learners ppo dqn] [--fractions 0.25 0.5 1] [--json]
        [--action-mode continuous] [--set ppo.ent_coef=0.003 ...]
        [--figure figures/front_quality_hv_curve.png] [--from-json saved.json]   # --from-json: only re-render

``--action-mode continuous`` trains and scores in the continuous mode, against the oracle's exact
continuous CCS (learners limited to the discrete mode, DQN, are skipped). ``--set
LEARNER.KEY=VALUE`` overrides one hyperparameter of the config's learner (a JSON value), for tuning
runs without editing the study config.

``--json`` prints one JSON object: {"<learner>": {"hv_ratio", "eum_ratio", "igd", "env_steps",
"wall_s", "curve": [{"env_steps", "hv_ratio", "wall_s"}, ...], "overrides": {...}, "front": the final
network's mean returns at each weight}, "weights": the lattice, "reference_point": [...], "ccs_points": n,
"action_mode": "discrete" | "continuous"}.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

import jax
import numpy as np
import xarray as xr

from morl_mm.agents.catalogue import NATIVE_MODES
from morl_mm.agents.common import evaluate_front, upgrade_keys
from morl_mm.agents.registry import BUDGET_KEY, RENAMED_KEYS, train_learner
from morl_mm.evaluation.rollouts import evaluate_policy
from morl_mm.oracle import convex_coverage_set
from morl_mm.pareto import eum_ratio, hv_reference_point, hypervolume, igd, simplex_weights
from morl_mm.policies.registry import build_classical
from morl_mm.study.config import load_config
from morl_mm.study.runner import make_context


def parse_override(text: str) -> tuple[str, str, object]:
    """``LEARNER.KEY=VALUE`` -> (learner, key, value); the value is JSON (a bare word stays a string)."""
    target, sep, value = text.partition("=")
    learner, dot, key = target.partition(".")
    if not (sep and dot and learner and key):
        raise argparse.ArgumentTypeError(f"--set: expected LEARNER.KEY=VALUE, got {text!r}")
    try:
        return learner, key, json.loads(value)
    except ValueError:
        return learner, key, value


def curve_dataset(results: dict) -> xr.Dataset:
    """The HV-ratio curves as the (learner, checkpoint) variables the plots module draws."""
    learners = [k for k, v in results.items() if isinstance(v, dict) and "curve" in v]
    length = max(len(results[k]["curve"]) for k in learners)
    table = np.full((2, len(learners), length), np.nan)
    for i, name in enumerate(learners):
        for j, point in enumerate(results[name]["curve"]):
            table[:, i, j] = point["hv_ratio"], point["env_steps"]
    return xr.Dataset(
        {"hv_ratio_curve": (("learner", "checkpoint"), table[0])},
        coords={"learner": learners, "env_steps": (("learner", "checkpoint"), table[1])},
    )


def save_figure(results: dict, path: str) -> None:
    from morl_mm.plots.fronts import hv_curve_figure

    hv_curve_figure(curve_dataset(results)).savefig(path, dpi=150, bbox_inches="tight")
    print(f"wrote {path}", file=sys.stderr)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="studies/default.toml", help="study config with the learners")
    parser.add_argument("--learners", nargs="*", help="learner names of the config (default: all)")
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.25, 0.5, 1.0], help="budget fractions")
    parser.add_argument("--episodes", type=int, default=300, help="evaluation episodes per weight")
    parser.add_argument("--divisions", type=int, default=10, help="simplex lattice divisions of the evaluation")
    parser.add_argument(
        "--action-mode",
        choices=("discrete", "continuous"),
        default=None,
        help="train and score in this action mode (default: the config's)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        type=parse_override,
        metavar="LEARNER.KEY=VALUE",
        help="override one learner hyperparameter (JSON value), repeatable",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--figure", help="write the HV-ratio curves as a PNG here")
    parser.add_argument("--from-json", help="re-render --figure from a saved --json output (no training)")
    args = parser.parse_args(argv)
    if args.from_json:
        save_figure(json.loads(open(args.from_json).read()), args.figure or "figures/front_quality_hv_curve.png")
        return 0

    config = load_config(args.config)
    if args.action_mode:
        config = dataclasses.replace(
            config, env_config=dataclasses.replace(config.env_config, action_mode=args.action_mode)
        )
    mode = config.env_config.action_mode
    overrides: dict[str, dict] = {}
    for learner, key, value in args.set:
        if learner not in {spec.name for spec in config.learners}:
            parser.error(f"--set {learner}.{key}: no learner {learner!r} in {args.config}")
        overrides.setdefault(learner, {})[key] = value
    ctx = make_context(config)
    env, params, scales = ctx.env, ctx.params, ctx.scales
    ccs = convex_coverage_set(env, params, scales)
    classical = []
    for spec in config.classical:
        traj = evaluate_policy(env, params, build_classical(env, params, spec), jax.random.key(7), args.episodes)
        classical.append(np.asarray(traj.reward, np.float64).sum(axis=1).mean(axis=0))
    ref = hv_reference_point(ccs.points, np.array(classical))
    exact_hv = hypervolume(ccs.points, ref)
    weights = simplex_weights(env.num_objectives, args.divisions)
    log = sys.stderr
    print(f"exact CCS: {len(ccs.points)} points; reference point {np.round(ref, 4).tolist()}", file=log)

    results = {
        "reference_point": [float(x) for x in ref],
        "ccs_points": len(ccs.points),
        "action_mode": mode,
        "weights": np.round(weights, 4).tolist(),
    }
    for spec in config.learners:
        if args.learners and spec.name not in args.learners:
            continue
        if NATIVE_MODES.get(spec.algorithm, mode) != mode:
            print(f"{spec.name}: skipped ({spec.algorithm} has no {mode} mode)", file=log)
            continue
        extra = upgrade_keys(overrides.get(spec.name, {}), RENAMED_KEYS.get(spec.algorithm, {}), f"--set {spec.name}")
        base = {**spec.hyperparameters, **extra}
        budget = base.get(BUDGET_KEY)
        curve = []
        for fraction in sorted(args.fractions):
            hp = dict(base)
            if budget is not None:
                hp[BUDGET_KEY] = int(budget * fraction)
            trained = train_learner(spec.algorithm, hp, env, params, scales, config.seed)
            returns = evaluate_front(
                env, params, trained.policy, trained.network_params, weights, args.episodes, jax.random.key(123)
            )
            front = np.asarray(returns, np.float64).mean(axis=1)
            point = {
                "env_steps": trained.env_steps,
                "wall_s": round(trained.seconds, 1),
                "hv_ratio": float(hypervolume(front, ref) / exact_hv),
                "eum_ratio": float(eum_ratio(front, ccs.points, weights, scales)),
                "igd": float(igd(front, ccs.points, scales)),
            }
            curve.append(point)
            print(f"{spec.name}: {point}", file=log)
        results[spec.name] = {
            **curve[-1],
            "curve": curve,
            "overrides": overrides.get(spec.name, {}),
            "front": np.round(front, 4).tolist(),
        }

    if args.figure:
        save_figure(results, args.figure)
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        print(f"\n{mode} mode: reference point {np.round(ref, 4).tolist()}, exact CCS {len(ccs.points)} points")
        print(f"{'learner':>8} {'hv_ratio':>9} {'eum_ratio':>9} {'igd':>8} {'env_steps':>10} {'wall_s':>7}")
        for name, r in results.items():
            if isinstance(r, dict):
                print(
                    f"{name:>8} {r['hv_ratio']:9.4f} {r['eum_ratio']:9.4f} {r['igd']:8.4f} {r['env_steps']:10d} "
                    f"{r['wall_s']:7.1f}"
                )
                for c in r["curve"]:
                    print(f"{'':>8}   curve: {c['env_steps']:>9} steps -> HV ratio {c['hv_ratio']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
