"""Evaluation rollouts: many episodes of one policy, on one market scenario or a batch of them.

:func:`evaluate_policy` vmaps :func:`morl_mm.env.rollout` over episode keys (and over scenarios
when ``params`` is a batched :class:`EnvParams`), all under one ``jit``. The episode keys do not
depend on the scenario or the policy, so two calls with the same ``key`` use common random
numbers: differences between policies or scenarios are not sampling noise of the market draws.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from morl_mm.env.market import MarketMakingEnv
from morl_mm.env.params import EnvParams, episode_steps
from morl_mm.env.rollout import ByIdentity, Trajectory, rollout


def scenario_count(params: EnvParams) -> int | None:
    """Number of scenarios of a batched :class:`EnvParams` or
    :class:`~morl_mm.env.schedule.ScheduledParams` (leading axis of every scalar field; ``dt`` is read), or
    ``None`` for a single parameter set."""
    ndim = np.ndim(params.dt)
    if ndim == 0:
        return None
    if ndim != 1:
        raise ValueError(f"EnvParams: a scenario batch has one leading axis, got dt shaped {np.shape(params.dt)}")
    return int(np.shape(params.dt)[0])


def scenario(params: EnvParams, index: int) -> EnvParams:
    """The ``index``-th parameter set of a batched :class:`EnvParams`."""
    return jax.tree_util.tree_map(lambda leaf: leaf[index], params)


def _checked_steps(env: MarketMakingEnv, params: EnvParams) -> int:
    """Validate (concrete) params and return the episode length shared by every scenario."""
    count = scenario_count(params)
    if any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(params)):
        raise ValueError("evaluate_policy: params must be concrete (call it outside jit; it jits itself)")
    params = jax.tree_util.tree_map(np.asarray, params)  # checked on the host: slicing device arrays dispatches
    sets = [params] if count is None else [scenario(params, i) for i in range(count)]
    for p in sets:
        env.validate(p)
    steps = {episode_steps(p) for p in sets}
    if len(steps) != 1:
        raise ValueError(f"evaluate_policy: scenarios need one episode length (horizon / dt), got {sorted(steps)}")
    return steps.pop()


@functools.partial(jax.jit, static_argnames=("env", "policy", "num_steps", "batched"))
def _evaluate(env: ByIdentity, policy: ByIdentity, num_steps: int, batched: bool, keys, params, policy_params):
    def episodes(p):
        return jax.vmap(lambda k: rollout(env.obj, policy.obj, k, p, num_steps, policy_params))(keys)

    return jax.vmap(episodes)(params) if batched else episodes(params)


def evaluate_policy(
    env: MarketMakingEnv, params: EnvParams, policy: Any, key: jax.Array, episodes: int, policy_params: Any = None
) -> Trajectory:
    """Roll ``policy`` through ``episodes`` independent episodes of ``env`` and return the trajectories.

    Args:
        env: the market-making env (its static config fixes the action mode and objectives).
        params: one :class:`EnvParams` or a batch of scenarios (every field with a leading axis S,
            e.g. ``jax.tree_util.tree_map(lambda *x: jnp.stack(x), p1, p2)``). All scenarios must
            have the same number of steps. Params are validated here, so pass concrete values.
        policy: a :class:`morl_mm.policies.base.Policy` or a callable ``(obs, state, key) -> action``.
        key: PRNG key; episode ``i`` uses ``jax.random.split(key, episodes)[i]`` in every scenario.
        episodes: number of episodes (>= 1).
        policy_params: parameters passed to ``policy.act`` (default: ``policy.params``).

    Returns:
        A :class:`Trajectory` whose arrays have leading axes ``(episodes, n_steps)``, or
        ``(S, episodes, n_steps)`` for a scenario batch; ``info`` holds the per-step
        :class:`~morl_mm.env.market.StepInfo` that :mod:`morl_mm.evaluation.metrics` reads.
    """
    if isinstance(episodes, bool) or not isinstance(episodes, (int, np.integer)) or episodes < 1:
        raise ValueError(f"evaluate_policy: episodes must be a positive int, got {episodes!r}")
    num_steps = _checked_steps(env, params)
    if policy_params is None and hasattr(policy, "act"):
        policy_params = policy.params
    keys = jax.random.split(key, int(episodes))
    batched = scenario_count(params) is not None
    return _evaluate(ByIdentity(env), ByIdentity(policy), num_steps, batched, keys, params, policy_params)


def stack_scenarios(*params: EnvParams) -> EnvParams:
    """Stack parameter sets into one scenario batch for :func:`evaluate_policy` (same array shapes)."""
    if not params:
        raise ValueError("stack_scenarios: give at least one EnvParams")
    return jax.tree_util.tree_map(lambda *leaves: jnp.stack([jnp.asarray(x) for x in leaves]), *params)


@functools.partial(jax.jit, static_argnames=("env", "policy", "num_steps"))
def _evaluate_replay(env: ByIdentity, policy: ByIdentity, num_steps: int, keys, starts, params, policy_params):
    return jax.vmap(lambda k, s: rollout(env.obj, policy.obj, k, params.replace(start=s), num_steps, policy_params))(
        keys, starts
    )


def evaluate_replay(env, params, policy: Any, key: jax.Array, starts, policy_params: Any = None) -> Trajectory:
    """One episode of ``policy`` on each replay window of a :class:`~morl_mm.env.replay.ReplayEnv`.

    Args:
        env: the replay env (its fill model and config are static).
        params: :class:`~morl_mm.env.replay.ReplayParams` (its ``start`` is ignored).
        policy: a :class:`morl_mm.policies.base.Policy` or a callable ``(obs, state, key) -> action``.
        key: PRNG key for the policy's own randomness (window ``i`` uses ``split(key, W)[i]``).
        starts: first tape step of each window (:func:`morl_mm.env.replay.window_starts`).

    Returns:
        A :class:`Trajectory` with leading axes ``(W, n_steps)``.
    """
    starts = np.asarray(starts, np.int32)
    if starts.ndim != 1 or starts.size < 1:
        raise ValueError(f"evaluate_replay: give at least one window start, got {starts.tolist()}")
    env.validate(params.replace(start=starts))
    if policy_params is None and hasattr(policy, "act"):
        policy_params = policy.params
    keys = jax.random.split(key, starts.size)
    return _evaluate_replay(
        ByIdentity(env), ByIdentity(policy), episode_steps(params.env), keys, jnp.asarray(starts), params, policy_params
    )
