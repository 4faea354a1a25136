"""The native learners by name: one call to train a weight-conditioned network, one to rebuild it.

Both learners train ONE network conditioned on the preference weight; its Pareto set is the
network evaluated at a lattice of weights. ``train_learner`` returns what a study stores.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, NamedTuple

import jax
import numpy as np

from morl_mm.agents import arl, dqn, ppo
from morl_mm.agents.arl import ARLConfig
from morl_mm.agents.catalogue import NATIVE_ALGORITHMS, ON_POLICY
from morl_mm.agents.common import upgrade_keys
from morl_mm.agents.dqn import DQNConfig, DQNPolicy
from morl_mm.agents.ppo import PPOConfig, PPOPolicy
from morl_mm.env.market import MarketMakingEnv
from morl_mm.env.params import EnvParams

ALGORITHMS = NATIVE_ALGORITHMS
BUDGET_KEY = "total_timesteps"
"""The hyperparameter that sets every native learner's training budget in env steps."""
CONFIGS = {"ppo": PPOConfig, "dqn": DQNConfig, "ppo_adversarial": ARLConfig}
RENAMED_KEYS = {"ppo": ppo.RENAMED_KEYS, "dqn": dqn.RENAMED_KEYS, "ppo_adversarial": arl.RENAMED_KEYS}
"""Former hyperparameter names of each learner -> their CleanRL names (accepted with a FutureWarning)."""


class TrainedLearner(NamedTuple):
    algorithm: str
    policy: Any  # the Policy object (its act takes (network_params, weight))
    network_params: Any
    hyperparameters: dict  # the full, validated config as a JSON-ready dict
    env_steps: int
    seconds: float  # wall time of training, compilation included
    curve_env_steps: np.ndarray  # (n,) env steps at each logged point
    curve_return: np.ndarray  # (n,) mean normalised scalarised training return (under each env's weight)
    checkpoints: Any = None  # network params stacked over checkpoints (PPO with num_checkpoints > 1)
    checkpoint_env_steps: np.ndarray | None = None  # (c,) env steps at each checkpoint


def config_class(algorithm: str) -> type:
    """The hyperparameter dataclass of a native learner."""
    return CONFIGS[algorithm]


def learner_config(algorithm: str, hyperparameters: dict):
    """The validated config of ``algorithm`` from ``hyperparameters`` (former names upgraded, with a warning)."""
    cls = config_class(algorithm)
    hyperparameters = upgrade_keys(hyperparameters, RENAMED_KEYS[algorithm], algorithm)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(hyperparameters) - fields)
    if unknown:
        raise ValueError(f"{algorithm}: unknown hyperparameter(s) {unknown}; known: {sorted(fields)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in hyperparameters.items()}
    return cls(**values)


def with_env_steps(algorithm: str, hyperparameters: dict, env_steps: int) -> dict:
    """``hyperparameters`` with the training budget set to about ``env_steps`` env steps.

    PPO trains whole updates of ``num_envs * num_steps`` steps (whole checkpoint chunks when
    ``num_checkpoints > 1``): the budget rounds to the nearest multiple, at least one.
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    if isinstance(env_steps, bool) or int(env_steps) != env_steps or env_steps < 1:
        raise ValueError(f"env_steps: must be a positive int, got {env_steps!r}")
    hp = upgrade_keys(hyperparameters, RENAMED_KEYS[algorithm], algorithm)
    if algorithm in ON_POLICY:
        fields = config_class(algorithm).__dataclass_fields__
        value = lambda name: int(hp.get(name, fields[name].default))  # noqa: E731
        chunk = value("num_envs") * value("num_steps") * value("num_checkpoints")
        hp[BUDGET_KEY] = max(1, round(int(env_steps) / chunk)) * chunk
    else:
        hp[BUDGET_KEY] = int(env_steps)
    return hp


def _json_ready(config) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


def train_learner(
    algorithm: str,
    hyperparameters: dict,
    env: MarketMakingEnv,
    env_params: EnvParams,
    scales: np.ndarray,
    seed: int,
    init_params: Any = None,
) -> TrainedLearner:
    """Train ``algorithm`` ("ppo", "dqn" or "ppo_adversarial") with the given hyperparameters; one jitted
    run. Adversarial PPO returns its market maker alone (a PPO network; the adversary is not kept).

    ``init_params`` (PPO only): warm start from these network params; the checkpoints then begin with
    them, at 0 env steps (the curve starts where the warm start does), and end with the final network."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    if init_params is not None and algorithm != "ppo":
        raise ValueError(f"warm start: only ppo continues from a saved network, not {algorithm}")
    config = learner_config(algorithm, hyperparameters)
    started = time.perf_counter()
    rng = jax.random.key(seed)
    checkpoints, checkpoint_steps = None, None
    if algorithm in ON_POLICY:
        if config.mode != "conditioned":
            raise ValueError(f"a study trains the weight-conditioned {algorithm} (mode = 'conditioned')")
        train = (
            arl.make_train(config, env, env_params, scales)
            if algorithm == "ppo_adversarial"
            else ppo.make_train(config, env, env_params, scales, init_params)
        )
        network_params, metrics = jax.jit(train)(rng)
        if algorithm == "ppo_adversarial":
            network_params = network_params[0]  # the market maker; its adversary stays behind
        checkpoints = metrics.pop("checkpoint_params", None)
        policy = PPOPolicy.from_config(config, env)
        per_update = config.num_envs * config.num_steps
        if checkpoints is not None:
            chunk = config.num_updates // config.num_checkpoints
            checkpoint_steps = per_update * chunk * np.arange(1, config.num_checkpoints + 1)
        if init_params is not None:  # the warm start itself is the curve's first point, the final network its last
            start = ppo.warm_start_params(
                policy.network, init_params, env.observation_space().shape[0] + env.num_objectives
            )
            if checkpoints is None:
                checkpoints = jax.tree_util.tree_map(lambda x: x[None], network_params)
                checkpoint_steps = np.array([per_update * config.num_updates])
            checkpoints = jax.tree_util.tree_map(
                lambda a, b: np.concatenate([np.asarray(a)[None], b]), start, checkpoints
            )
            checkpoint_steps = np.concatenate([[0], checkpoint_steps]).astype(int)
        curve = np.asarray(metrics["scalarised_return"], np.float64)
        steps = per_update * np.arange(1, len(curve) + 1)
        env_steps = per_update * config.num_updates
    else:
        train = dqn.make_train(config, env, env_params, scales)
        output = jax.jit(train)(rng)
        network_params, metrics = output.params, output.metrics
        policy = DQNPolicy.from_train(train)
        # per learning iteration: the mean scalarised return of the episodes that ended in it (as PPO's)
        finished = np.asarray(metrics["episodes"])
        ended = np.flatnonzero(finished > 0)
        curve = np.asarray(metrics["scalarised_return"], np.float64)[ended]
        prefill = -(-config.learning_starts // config.num_envs) * config.num_envs
        steps = prefill + (ended + 1) * config.num_envs
        env_steps = int(prefill + len(finished) * config.num_envs)
    jax.block_until_ready(network_params)
    return TrainedLearner(
        algorithm,
        policy,
        network_params,
        _json_ready(config),
        int(env_steps),
        time.perf_counter() - started,
        steps,
        curve,
        checkpoints,
        checkpoint_steps,
    )


def policy_file_spec(algorithm: str, hyperparameters: dict) -> tuple[str, dict]:
    """``(kind, spec)`` of a trained network's policy file: an adversarially trained PPO's market maker
    is saved as a plain PPO policy (its PPO hyperparameters), so that every tool loads and runs it."""
    if algorithm == "ppo_adversarial":
        return "ppo", _json_ready(learner_config(algorithm, hyperparameters).market_maker)
    return algorithm, hyperparameters


SAVED_BEFORE = {"dqn": {"factorised": False}}
"""Fields added since policy files were first written whose new default changes a network's layers: a file
without the field was saved with this value (a DQN saved before issue 12 has the joint Q head)."""


def rebuild_policy(
    algorithm: str, hyperparameters: dict, env: MarketMakingEnv, env_params: EnvParams, network_params: Any, weight
) -> Any:
    """The runnable policy of a saved network at ``weight`` (params set)."""
    config = learner_config(algorithm, {**SAVED_BEFORE.get(algorithm, {}), **hyperparameters})
    if algorithm in ON_POLICY:
        return PPOPolicy.from_config(config, env, network_params, weight)
    return DQNPolicy.from_train(
        dqn.make_train(config, env, env_params, np.ones(env.num_objectives)), network_params, weight
    )
