"""Native learners (JAX PPO, DQN) vs morl-baselines algorithms at an equal env-step budget, on a small model.

Every learner trains for ``--env-steps`` env steps on the same small model (horizon 0.2: 40 steps,
inventory limit 5) and its policies are evaluated on the same seeded episodes. Fronts are compared
with the exact convex coverage set (CCS) of the continuous-mode model (the oracle, depth step 0.02):

* ``hv_ratio``: HV(front) / HV(CCS), reference point ``hv_reference_point(CCS, classical)``;
  points below the reference point add nothing;
* ``eum_ratio``: expected utility over 45 weights (Das-Dennis, 8 divisions) / that of the CCS,
  weights applied to ``J / scales`` (the project's convention);
* ``igd``: inverted generational distance from the CCS, in normalised units.

Row ``oracle_discrete`` is the exact CCS of the discrete mode (8 depths per side): the best a
discrete-mode learner (DQN, GPI-LS, GPI-PD, Envelope, PCN) can reach. ``env_steps`` counts training
steps; ``eval_steps`` the steps the algorithm spends on its own evaluations while training (not
counted in the budget). ``wall_s``: training and our evaluation, on this machine.

    /path/to/venv-with-morl-baselines/bin/python benchmarks/baselines_comparison.py [--env-steps 20000]
        [--algorithms ppo dqn envelope ...] [--quick] [--json] [--figure figures/baselines_comparison.png]

``--json`` prints one JSON object {"<algorithm>": {"hv_ratio", "eum_ratio", "igd", "env_steps",
"eval_steps", "wall_s", "n_policies"}}. Needs the optional extra ``morl-mm[baselines]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import numpy as np

from morl_mm.agents.common import evaluate_front
from morl_mm.agents.morl_baselines import ALGORITHMS as BASELINES, train_baseline
from morl_mm.agents.registry import train_learner
from morl_mm.env.market import MarketMakingEnv
from morl_mm.env.objectives import reference_scales
from morl_mm.env.params import EnvConfig, make_params, n_steps
from morl_mm.evaluation.rollouts import evaluate_policy
from morl_mm.oracle.ccs import convex_coverage_set
from morl_mm.pareto import (ParetoSet, eum_ratio, hv_reference_point, hypervolume_ratio, igd, simplex_weights)
from morl_mm.policies.registry import build_classical, classical_label

MODEL = dict(horizon=0.2, inventory_limit=5.0)  # 40 steps of dt = 0.005
ENV_STEPS = 20_000
QUICK_ENV_STEPS = 2_000
EVAL_EPISODES = 50
EVAL_WEIGHT_DIVISIONS = 4  # 15 weights at which weight-conditioned policies are evaluated
EUM_WEIGHTS = simplex_weights(3, 8)  # 45 weights
CLASSICAL = [{"kind": "avellaneda_stoikov", "gamma": g} for g in (0.01, 0.1, 1.0)] + \
            [{"kind": "fixed_spread", "half_spread": h} for h in (0.4, 0.7, 1.0, 1.5)]
NATIVE = ("ppo", "dqn")
SEED = 0
EVAL_SEED = 12345


def _env(mode: str):
    config = EnvConfig(action_mode=mode)
    return MarketMakingEnv(config), make_params(config, **MODEL)


def native_hyperparameters(algorithm: str, env_steps: int, episode_steps: int) -> dict:
    """Settings of the JAX learners sized to the budget (defaults otherwise)."""
    if algorithm == "ppo":
        num_envs = 16
        return dict(num_envs=num_envs, num_steps=episode_steps, num_minibatches=4,
                    total_timesteps=max(env_steps, num_envs * episode_steps))
    return dict(total_env_steps=env_steps, num_envs=8, learning_starts=min(1_000, env_steps // 4),
                buffer_size=max(env_steps, 1_000), batch_size=64, hidden_sizes=(128, 128))


def train_native(algorithm: str, env_steps: int, scales, weights) -> ParetoSet:
    """Train PPO (continuous mode) or DQN (discrete mode) and evaluate at ``weights``."""
    env, params = _env("continuous" if algorithm == "ppo" else "discrete")
    started = time.perf_counter()
    hp = native_hyperparameters(algorithm, env_steps, n_steps(params))
    learner = train_learner(algorithm, hp, env, params, scales, seed=SEED)
    returns = evaluate_front(env, params, learner.policy, learner.network_params, weights, EVAL_EPISODES,
                             jax.random.key(EVAL_SEED))
    return ParetoSet.from_samples(env.objectives, np.asarray(returns, np.float64), scales,
                                  labels=[f"{algorithm}_{i}" for i in range(len(weights))],
                                  kinds=[algorithm] * len(weights), weights=weights,
                                  metadata={"env_steps": learner.env_steps, "internal_eval_steps": 0,
                                            "wall_s": time.perf_counter() - started})


def classical_front(scales) -> ParetoSet:
    env, params = _env("continuous")
    returns = []
    for spec in CLASSICAL:
        traj = evaluate_policy(env, params, build_classical(env, params, spec), jax.random.key(EVAL_SEED),
                               EVAL_EPISODES)
        returns.append(np.asarray(traj.reward.sum(axis=1), np.float64))
    return ParetoSet.from_samples(env.objectives, np.stack(returns), scales,
                                  labels=[classical_label(s) for s in CLASSICAL], kinds=["classical"] * len(CLASSICAL))


def metrics(front: np.ndarray, ccs: np.ndarray, ref_point, scales) -> dict:
    return {"hv_ratio": hypervolume_ratio(front, ccs, ref_point),
            "eum_ratio": eum_ratio(front, ccs, EUM_WEIGHTS, scales),
            "igd": igd(front, ccs, scales)}


def plot(fronts: dict[str, ParetoSet], ccs: np.ndarray, classical: ParetoSet, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13.5, 5), layout="constrained")
    markers = "osD^v<>pPX*h"
    for ax, (j, name) in zip(axes, ((1, "inventory_risk"), (2, "quoting_ratio"))):
        order = np.argsort(ccs[:, j])
        ax.plot(ccs[order, j], ccs[order, 0], "k.", ms=4, label="exact CCS (continuous)")
        ax.scatter(classical.values[:, j], classical.values[:, 0], marker="x", c="grey", label="classical")
        for (algorithm, front), marker in zip(fronts.items(), markers):
            nd = front.nondominated()
            ax.scatter(nd.values[:, j], nd.values[:, 0], marker=marker, s=28, alpha=0.8, label=algorithm)
        ax.set_xlabel(name)
        ax.set_ylabel("pnl")
        ax.grid(alpha=0.3)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right center", fontsize=8)
    fig.suptitle("Fronts at an equal env-step budget (non-dominated policies of each learner) vs the exact CCS")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-steps", type=int, default=None, help=f"training budget (default {ENV_STEPS})")
    parser.add_argument("--algorithms", nargs="+", default=list(NATIVE) + sorted(BASELINES),
                        choices=list(NATIVE) + sorted(BASELINES))
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ENV_STEPS} env steps")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--figure", type=Path, default=Path("figures/baselines_comparison.png"))
    args = parser.parse_args(argv)
    budget = args.env_steps or (QUICK_ENV_STEPS if args.quick else ENV_STEPS)

    env, params = _env("continuous")
    scales = reference_scales(env, params)  # one normalisation for every learner, both action modes
    ccs = convex_coverage_set(env, params, scales).points
    discrete_env, discrete_params = _env("discrete")
    ccs_discrete = convex_coverage_set(discrete_env, discrete_params, scales).points
    classical = classical_front(scales)
    ref_point = hv_reference_point(ccs, classical.values)
    weights = simplex_weights(3, EVAL_WEIGHT_DIVISIONS)

    fronts: dict[str, ParetoSet] = {}
    for algorithm in args.algorithms:
        if algorithm in NATIVE:
            fronts[algorithm] = train_native(algorithm, budget, scales, weights)
        else:
            fronts[algorithm] = train_baseline(algorithm, budget, MODEL, seed=SEED, eval_weights=weights,
                                               eval_episodes=EVAL_EPISODES, eval_seed=EVAL_SEED, scales=scales)
        print(f"{algorithm}: {fronts[algorithm].metadata['wall_s']:.0f} s", file=sys.stderr, flush=True)

    results = {"oracle_discrete": {**metrics(ccs_discrete, ccs, ref_point, scales), "env_steps": 0, "eval_steps": 0,
                                   "wall_s": 0.0, "n_policies": len(ccs_discrete)}}
    for algorithm, front in fronts.items():
        results[algorithm] = {**metrics(front.values, ccs, ref_point, scales),
                              "env_steps": int(front.metadata["env_steps"]),
                              "eval_steps": int(front.metadata["internal_eval_steps"]),
                              "wall_s": round(float(front.metadata["wall_s"]), 1), "n_policies": len(front)}
    plot(fronts, ccs, classical, args.figure)
    if args.json:
        print(json.dumps(results))
    else:
        print(f"model {MODEL}, budget {budget} env steps, exact CCS {len(ccs)} points, scales {np.round(scales, 3).tolist()}")
        print(f"{'algorithm':16s} {'hv_ratio':>8s} {'eum_ratio':>9s} {'igd':>7s} {'env_steps':>9s} {'eval_steps':>10s} "
              f"{'wall_s':>7s} {'policies':>8s}")
        for name, r in results.items():
            print(f"{name:16s} {r['hv_ratio']:8.3f} {r['eum_ratio']:9.3f} {r['igd']:7.3f} {r['env_steps']:9d} "
                  f"{r['eval_steps']:10d} {r['wall_s']:7.1f} {r['n_policies']:8d}")
        print(f"figure: {args.figure}")
    return results


if __name__ == "__main__":
    main()
