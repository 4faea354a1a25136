"""Adversarially trained PPO against the exact robust front, and plain PPO for comparison (issue 11).

On the model of a study config (default ``studies/default.toml``: the default model, discrete
actions), with an adversary that sets params inside a box at every step after seeing the quote
(default ``drift=-2:2``), this trains plain PPO (the config's ``[learners.ppo]`` hyperparameters) and
adversarial PPO (the same hyperparameters plus the adversary's, :mod:`morl_mm.agents.arl`) at the
same budget and seed, evaluates both weight-conditioned networks on a simplex lattice of weights,
and prints:

* under the worst-case adversary: each network's front (at weight w, its mean objectives against
  :func:`morl_mm.oracle.worst_case_adversary` of the exact max-min solution at w: the adversary that
  minimises the one-step value of the placed quote with the exact robust continuation), its HV
  ratio against the exact robust front (:class:`morl_mm.oracle.RobustSolver` at every lattice
  weight), and its mean scalarised utility against the robust value;
* on the unperturbed model: each front's HV ratio against the exact (plain) CCS;
* with ``--attack``: a best-response attack (:func:`morl_mm.agents.arl.best_response_attack`) at
  three weights on both networks and on classical strategies of the config (``--attack-classical``),
  an RL adversary trained against each of them alone, beside the utility the exact worst case takes.

One hypervolume reference point for every figure: per objective, the worst value over the exact
CCS, the exact robust front and the config's classical strategies (unperturbed), minus 10% of the
range (:func:`morl_mm.pareto.hv_reference_point`).

    python benchmarks/robust_front.py [--config studies/default.toml] [--adversary drift=-2:2]
        [--env-steps N] [--episodes 300] [--divisions 10] [--seed 0] [--learners ppo ppo_adversarial]
        [--attack [--attack-classical LABEL ...]] [--json]

``--json`` prints one JSON object: {"adversary", "reference_point", "ccs_points", "robust_points",
"weights", "exact": {"hv_plain", "hv_robust", "utility_plain", "utility_robust", "robust_front"},
"<learner>": {"env_steps", "train_seconds", "hv_ratio_robust", "hv_robust", "utility_worst_case",
"utility_gap_to_robust", "hv_ratio_plain", "utility_unperturbed", "utility_gap_to_ccs",
"front_worst_case", "front_unperturbed"}, "attack": [{"policy", "weight", "utility_before",
"utility_after", "utility_loss", "exact_worst_case_loss", "adversary_values", "adversary_abs_u"}]}.
Utilities are means over the weights of w . J / scales; a gap is the exact value (max-min, or the
CCS's optimum) minus the learner's, >= 0 up to Monte-Carlo noise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import jax
import numpy as np

from morl_mm.agents.arl import best_response_attack
from morl_mm.agents.registry import train_learner, with_env_steps
from morl_mm.env.adversary import parse_adversary
from morl_mm.evaluation.rollouts import evaluate_policy
from morl_mm.oracle import RobustSolver, convex_coverage_set
from morl_mm.pareto import hv_reference_point, hypervolume, simplex_weights, utilities
from morl_mm.policies.registry import build_classical, classical_label
from morl_mm.study.config import load_config
from morl_mm.study.robust_front import mean_front
from morl_mm.study.runner import make_context

ATTACK_WEIGHTS = np.array([[0.8, 0.1, 0.1], [1 / 3, 1 / 3, 1 / 3], [0.1, 0.8, 0.1]])


def attack_rows(env, params, box, scales, name, policy, params_at, network, episodes: int, seed: int) -> list[dict]:
    """A best-response attack on ``policy`` at ATTACK_WEIGHTS, beside the exact worst case's loss there
    (``network``: the weight-conditioned network's params, or None for a fixed strategy)."""
    attack = best_response_attack(
        env,
        params,
        policy,
        ATTACK_WEIGHTS,
        jax.random.key(seed + 1),
        box=box,
        policy_params=network,
        conditioned=network is not None,
        scales=scales,
        episodes=episodes,
    )
    solutions = RobustSolver(env, params, box, scales)(ATTACK_WEIGHTS)
    key = jax.random.key(seed + 2)
    utility = [
        np.diag(
            utilities(
                mean_front(env, params, box, policy, params_at, ATTACK_WEIGHTS, episodes, key, s),
                ATTACK_WEIGHTS,
                scales,
            )
        )
        for s in (None, solutions)
    ]
    exact_loss = utility[0] - utility[1]
    return [
        {
            "policy": name,
            **attack.row(i),
            "weight": attack.weights[i].round(4).tolist(),
            "exact_worst_case_loss": float(exact_loss[i]),
        }
        for i in range(len(attack.weights))
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="studies/default.toml", help="study config with [learners.ppo]")
    parser.add_argument("--adversary", default="drift=-2:2", help="the per-step box, FIELD=LO:HI[,FIELD=LO:HI]")
    parser.add_argument("--env-steps", type=int, help="training budget of each learner (default: the config's)")
    parser.add_argument("--episodes", type=int, default=300, help="evaluation episodes per weight")
    parser.add_argument("--divisions", type=int, default=10, help="simplex lattice divisions (10: 66 weights)")
    parser.add_argument("--seed", type=int, default=0, help="training seed of both learners")
    parser.add_argument(
        "--learners",
        nargs="*",
        default=["ppo", "ppo_adversarial"],
        choices=["ppo", "ppo_adversarial"],
        help="the learners to train (none: exact fronts only)",
    )
    parser.add_argument(
        "--attack",
        action="store_true",
        help="also best-response attacks on the learners and the --attack-classical strategies",
    )
    parser.add_argument(
        "--attack-classical",
        nargs="*",
        metavar="LABEL",
        default=["avellaneda_stoikov(gamma=0.1)", "fixed_spread(half_spread=0.6)"],
        help="classical strategies of the config to attack (labels as in a study)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    log = sys.stderr

    config = load_config(args.config)
    ctx = make_context(config)
    env, params, scales = ctx.env, ctx.params, ctx.scales
    box = parse_adversary(args.adversary, "step")
    weights = simplex_weights(env.num_objectives, args.divisions)

    started = time.perf_counter()
    ccs = convex_coverage_set(env, params, scales)
    solutions = RobustSolver(env, params, box, scales)(weights)
    robust = np.array([s.objective_values for s in solutions])
    print(
        f"exact CCS {len(ccs.points)} points, exact robust front at {len(weights)} weights "
        f"({time.perf_counter() - started:.0f} s)",
        file=log,
    )
    classical = [
        np.asarray(
            evaluate_policy(env, params, build_classical(env, params, spec), jax.random.key(7), args.episodes).reward,
            np.float64,
        )
        .sum(axis=1)
        .mean(axis=0)
        for spec in config.classical
    ]
    ref = hv_reference_point(ccs.points, robust, *([np.array(classical)] if classical else []))
    hv_plain, hv_robust = hypervolume(ccs.points, ref), hypervolume(robust, ref)
    robust_utility = np.diag(utilities(robust, weights, scales))  # the max-min value at each weight
    plain_utility = utilities(ccs.points, weights, scales).max(axis=1)  # the exact optimum at each weight
    results = {
        "adversary": box.spec(),
        "reference_point": ref.tolist(),
        "ccs_points": len(ccs.points),
        "robust_points": len(weights),
        "weights": weights.tolist(),
        "exact": {
            "hv_plain": hv_plain,
            "hv_robust": hv_robust,
            "utility_robust": float(robust_utility.mean()),
            "utility_plain": float(plain_utility.mean()),
            "robust_front": robust.tolist(),
        },
    }

    ppo = next(s for s in config.learners if s.algorithm == "ppo")
    learners = {
        "ppo": ("ppo", dict(ppo.hyperparameters)),
        "ppo_adversarial": (
            "ppo_adversarial",
            {**ppo.hyperparameters, "adversary": box.to_dict()["bounds"], "adversary_mode": "step"},
        ),
    }
    learners = {name: learners[name] for name in args.learners}
    key = jax.random.key(123)
    attacked = []  # (name, policy, params_at, network)
    for name, (algorithm, hp) in learners.items():
        hp.pop("num_checkpoints", None)  # the final network only
        if args.env_steps:
            hp = with_env_steps(algorithm, hp, args.env_steps)
        trained = train_learner(algorithm, hp, env, params, scales, args.seed)
        params_at = lambda w, network=trained.network_params: (network, w)  # noqa: E731
        plain_front, worst_front = (
            mean_front(env, params, box, trained.policy, params_at, weights, args.episodes, key, s)
            for s in (None, solutions)
        )
        utility = np.diag(utilities(worst_front, weights, scales))
        utility_plain = np.diag(utilities(plain_front, weights, scales))
        results[name] = {
            "env_steps": trained.env_steps,
            "train_seconds": round(trained.seconds, 1),
            "hv_ratio_plain": hypervolume(plain_front, ref) / hv_plain,
            "hv_robust": hypervolume(worst_front, ref),
            "hv_ratio_robust": hypervolume(worst_front, ref) / hv_robust,
            "utility_worst_case": float(utility.mean()),
            "utility_gap_to_robust": float((robust_utility - utility).mean()),
            "utility_unperturbed": float(utility_plain.mean()),
            "utility_gap_to_ccs": float((plain_utility - utility_plain).mean()),
        }
        print(f"{name}: {results[name]}", file=log)
        results[name].update(front_worst_case=worst_front.tolist(), front_unperturbed=plain_front.tolist())
        attacked.append((name, trained.policy, params_at, trained.network_params))

    if args.attack:
        specs = {classical_label(spec): spec for spec in config.classical}
        unknown = sorted(set(args.attack_classical) - set(specs))
        if unknown:
            parser.error(f"--attack-classical: {unknown} not in {args.config}; it has {sorted(specs)}")
        for label in args.attack_classical:
            policy = build_classical(env, params, specs[label])
            attacked.append((label, policy, lambda w, p=policy.params: p, None))
        results["attack"] = []
        for name, policy, params_at, network in attacked:
            rows = attack_rows(env, params, box, scales, name, policy, params_at, network, args.episodes, args.seed)
            results["attack"] += rows
            for row in rows:
                print(f"attack: {row}", file=log)

    if args.json:
        print(json.dumps(results, indent=1, default=float))
        return 0
    print(
        f"\nadversary {box.spec()} per step; reference point {np.round(ref, 4).tolist()}; exact CCS "
        f"{len(ccs.points)} points, robust front {len(weights)} weights (mean max-min utility "
        f"{robust_utility.mean():.4f})"
    )
    print(
        f"{'learner':>16} {'env_steps':>10} | worst case: {'HV/robust':>9} {'utility':>8} {'gap':>7} | "
        f"unperturbed: {'HV/CCS':>7} {'utility':>8} {'gap':>7} | {'train_s':>7}"
    )
    for name in learners:
        r = results[name]
        print(
            f"{name:>16} {r['env_steps']:>10} | {'':>11} {r['hv_ratio_robust']:9.4f} {r['utility_worst_case']:8.4f} "
            f"{r['utility_gap_to_robust']:7.4f} | {'':>12} {r['hv_ratio_plain']:7.4f} "
            f"{r['utility_unperturbed']:8.4f} {r['utility_gap_to_ccs']:7.4f} | {r['train_seconds']:7.1f}"
        )
    for row in results.get("attack", []):
        print(
            f"attack {row['policy']:>16} at {row['weight']}: utility {row['utility_before']:.4f} -> "
            f"{row['utility_after']:.4f} (loss {row['utility_loss']:.4f}; exact worst case "
            f"{row['exact_worst_case_loss']:.4f}), adversary {row['adversary_values']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
