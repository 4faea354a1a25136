"""The learner units of a study: train a learner once per seed, within its budget, and list its policies.

A native learner (JAX PPO or DQN) trains one weight-conditioned network per seed; its policies are
the network at the study's weight lattice, evaluated by the study like any other policy. A
discrete-mode learner in a continuous-mode study acts through :class:`~morl_mm.policies.InActionMode`
(exact). A morl-baselines learner (torch) is trained by :func:`~morl_mm.agents.morl_baselines.fit_baseline`
and evaluated by its adapter on the same model, scenarios, seeds and number of episodes; its
policies come with their returns and have no policy file.

Budgets: ``env_steps`` for any algorithm (native learners may use their own hyperparameter
instead), or ``wall_time_s`` (see :mod:`morl_mm.study.budget`: calibrated once, on the first seed).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np
from tqdm.auto import tqdm

from morl_mm.agents.catalogue import ON_POLICY
from morl_mm.agents.common import evaluate_front
from morl_mm.agents.morl_baselines import fit_baseline
from morl_mm.agents.registry import learner_config, policy_file_spec, train_learner, with_env_steps
from morl_mm.env.market import MarketMakingEnv
from morl_mm.pareto.indicators import simplex_weights
from morl_mm.policies import io as policy_io
from morl_mm.policies.quoting import InActionMode
from morl_mm.study.budget import steps_for_wall_time
from morl_mm.study.config import LearnerSpec
from morl_mm.study.context import Candidate, StudyContext

BASELINE_PILOT_STEPS = 1_000  # the first wall-time pilot of a morl-baselines learner (past its learning_starts)


def learner_candidates(ctx: StudyContext, name: str) -> tuple[list[Candidate], dict]:
    """Train learner ``name`` of the study (every seed) and return its candidates and the unit info."""
    spec = next(s for s in ctx.config.learners if s.name == name)
    weights = simplex_weights(ctx.env.num_objectives, ctx.config.evaluation.weights_per_axis - 1)
    train = _native_seed if spec.is_native else _baseline_seed
    env_steps, calibration = resolve_budget(ctx, spec, train, weights)
    candidates, runs, first = [], [], {}
    for seed in spec.seeds:
        tqdm.write(f"training {name} ({spec.algorithm}, seed {seed}) ...")
        # the unit keeps the first seed's curves: the other seeds skip the checkpoint evaluation
        seed_candidates, run = train(ctx, spec, seed, env_steps, weights, curves=not first)
        tqdm.write(f"  {name}: {run['env_steps']:,} env steps in {run['train_seconds']:.1f} s")
        candidates += seed_candidates
        first = first or run
        runs.append({k: run[k] for k in ("seed", "env_steps", "train_seconds")})
    info = {
        "algorithm": spec.algorithm,
        "action_mode": spec.action_mode,
        "group": spec.group,
        "budget": {
            "env_steps": spec.env_steps,
            "wall_time_s": spec.wall_time_s,
            "resolved_env_steps": env_steps,
            **({"calibration": calibration} if calibration else {}),
        },
        "seed_runs": runs,
        **{k: v for k, v in first.items() if k != "seed"},
    }
    return candidates, info


def learner_env(ctx: StudyContext, spec: LearnerSpec) -> tuple[MarketMakingEnv, Any]:
    """The env and params a learner trains on: the study's, in the learner's action mode."""
    if spec.action_mode == ctx.env.config.action_mode:
        return ctx.env, ctx.params
    config = dataclasses.replace(ctx.env.config, action_mode=spec.action_mode)
    return MarketMakingEnv(config), ctx.config.env_params(env_config=config)


def resolve_budget(ctx: StudyContext, spec: LearnerSpec, train, weights) -> tuple[int | None, dict]:
    """The learner's env-step budget (None: its own hyperparameter) and, for a wall-time budget, the
    calibration; ``train`` is the learner's per-seed trainer (:func:`_native_seed` or :func:`_baseline_seed`)."""
    if spec.wall_time_s is None:
        return spec.env_steps, {}
    if spec.is_native:
        config = learner_config(spec.algorithm, spec.hyperparameters)
        default_pilot = (
            2 * config.num_envs * config.num_steps * config.num_checkpoints
            if spec.algorithm in ON_POLICY
            else 2 * config.learning_starts
        )
    else:
        default_pilot = BASELINE_PILOT_STEPS
    seed = spec.seeds[0]
    tqdm.write(f"calibrating {spec.name} to {spec.wall_time_s:g} s of training ...")
    steps, calibration = steps_for_wall_time(
        lambda n: train(ctx, spec, seed, n, weights, evaluate=False)[1]["train_seconds"],
        spec.wall_time_s,
        spec.pilot_steps or default_pilot,
    )
    tqdm.write(
        f"  {spec.name}: {calibration['steps_per_second']:,.0f} steps/s after {calibration['fixed_seconds']:.1f} s "
        f"fixed -> {steps:,} env steps"
    )
    return steps, calibration


def _label(spec: LearnerSpec, seed: int, suffix: str) -> str:
    return f"{spec.name}_s{seed}_{suffix}" if len(spec.seeds) > 1 else f"{spec.name}_{suffix}"


def _native_seed(
    ctx: StudyContext,
    spec: LearnerSpec,
    seed: int,
    env_steps: int | None,
    weights,
    evaluate: bool = True,
    curves: bool = True,
) -> tuple[list[Candidate], dict]:
    env, params = learner_env(ctx, spec)
    hp = spec.hyperparameters if env_steps is None else with_env_steps(spec.algorithm, spec.hyperparameters, env_steps)
    trained = train_learner(
        spec.algorithm,
        hp,
        env,
        params,
        ctx.scales,
        seed,
        None if spec.warm_start is None else warm_start_network(spec.warm_start, env),
    )
    run = {"seed": seed, "env_steps": trained.env_steps, "train_seconds": trained.seconds}
    if not evaluate:
        return [], run
    policy = trained.policy if env is ctx.env else InActionMode(trained.policy, env, ctx.env.config)
    network = jax.tree_util.tree_map(np.asarray, trained.network_params)
    kind, file_spec = policy_file_spec(spec.algorithm, trained.hyperparameters)
    out = []
    for w in weights:
        label = _label(spec, seed, "w" + "_".join(f"{x:.2f}" for x in w))
        w32 = np.asarray(w, np.float32)
        # the file holds the network in its own action mode (and env), as trained
        save = lambda path, w=w32, l=label: policy_io.save_policy(  # noqa: E731
            path,
            kind=kind,
            spec=file_spec,
            env=env,
            env_params=params,
            arrays={"network": network, "weight": w},
            label=l,
        )
        out.append(
            Candidate(label, spec.name, np.asarray(w), policy, (trained.network_params, w32), save, train_seed=seed)
        )
    run["hyperparameters"] = trained.hyperparameters
    if curves:
        run.update(
            {
                **checkpoint_fronts(ctx, trained, policy, weights),
                "curve_env_steps": trained.curve_env_steps.tolist(),
                "curve_return": trained.curve_return.tolist(),
            }
        )
    return out, run


def warm_start_network(path: str, env: MarketMakingEnv) -> Any:
    """The network params of a ppo policy file, for a learner that trains in ``env`` (``ValueError`` when
    the file's objectives or action mode are not the env's)."""
    loaded = policy_io.load_policy(path)
    for field in ("objectives", "action_mode"):
        theirs, ours = getattr(loaded.env.config, field), getattr(env.config, field)
        if theirs != ours:
            raise ValueError(
                f"warm start: {path} was trained with {field} {theirs!r}, this learner trains with {ours!r}"
            )
    return loaded.policy.params[0]


def _baseline_seed(
    ctx: StudyContext, spec: LearnerSpec, seed: int, env_steps: int, weights, evaluate: bool = True, curves: bool = True
) -> tuple[list[Candidate], dict]:
    del curves  # morl-baselines runs log no training curve here
    env_kwargs = {
        **{k: v for k, v in dataclasses.asdict(ctx.env.config).items() if k != "action_mode"},
        **ctx.config.env_overrides,
    }
    trained = fit_baseline(
        spec.algorithm,
        int(env_steps),
        env_kwargs,
        seed=seed,
        eval_weights=weights,
        scales=ctx.scales,
        hyperparameters=spec.hyperparameters,
    )
    run = {
        "seed": seed,
        "env_steps": trained.env_steps,
        "train_seconds": trained.train_seconds,
        "internal_eval_steps": trained.internal_eval_steps,
        "hyperparameters": spec.hyperparameters,
    }
    if not evaluate:
        return [], run
    ev = ctx.config.evaluation
    per_scenario = []
    for scenario in ctx.scenarios:  # the study's episodes: every evaluation seed, every scenario
        if scenario in ctx.config.scenario_shifts:  # the adapter's gymnasium env has constant params
            tqdm.write(
                f"{spec.name}: scenario {scenario} has in-episode shifts, which the morl-baselines adapter "
                f"cannot run: its returns there are missing (NaN)"
            )
            per_scenario.append(np.full_like(per_scenario[0], np.nan))
            continue
        overrides = {} if scenario == "base" else ctx.config.scenarios[scenario]
        per_scenario.append(
            np.concatenate([trained.episode_returns(ev.episodes, s, overrides) for s in ev.seeds], axis=1)
        )
    returns = np.stack(per_scenario, axis=1)  # (policy, scenario, sample, objective)
    out = [
        Candidate(
            _label(spec, seed, f"{i:02d}"),
            spec.name,
            np.asarray(trained.weights[i], np.float64),
            None,
            None,
            None,
            returns[i],
            seed,
        )
        for i in range(len(returns))
    ]
    return out, run


def checkpoint_fronts(ctx: StudyContext, trained, policy, weights) -> dict:
    """Fronts (mean returns at each weight, base model) of the saved training checkpoints, from which
    the study's HV-ratio learning curve is computed once the exact CCS is known."""
    if trained.checkpoints is None:
        return {}
    fronts = []
    for k in range(len(trained.checkpoint_env_steps)):
        params_k = jax.tree_util.tree_map(lambda x: x[k], trained.checkpoints)
        returns = evaluate_front(
            ctx.env,
            ctx.params,
            policy,
            params_k,
            weights,
            ctx.config.evaluation.episodes,
            jax.random.key(ctx.config.seed),
        )
        fronts.append(np.asarray(returns, np.float64).mean(axis=1).tolist())
    return {"checkpoint_env_steps": np.asarray(trained.checkpoint_env_steps).tolist(), "checkpoint_fronts": fronts}
