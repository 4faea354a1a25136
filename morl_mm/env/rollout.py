"""Roll a policy through one episode with ``lax.scan`` (jittable, vmappable over keys and params)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from morl_mm.env.market import EnvState, MarketMakingEnv, StepInfo
from morl_mm.env.params import EnvParams, episode_steps


class Trajectory(NamedTuple):
    """Per-step arrays with a leading time axis."""

    obs: jnp.ndarray  # observation the action was chosen from
    action: jnp.ndarray
    reward: jnp.ndarray  # (T, n_objectives)
    done: jnp.ndarray
    info: StepInfo


ActFn = Callable[[jax.Array, EnvState, jax.Array], jax.Array]


class ByIdentity:
    """Static-argument holder hashed by object identity, so that unhashable envs and policies can be
    jit-static and a compiled rollout is reused while the same env and policy objects are."""

    def __init__(self, obj):
        self.obj = obj

    def __hash__(self):
        return id(self.obj)

    def __eq__(self, other):
        return isinstance(other, ByIdentity) and other.obj is self.obj


def as_act_fn(policy: Any, policy_params: Any = None) -> ActFn:
    """A ``(obs, state, key) -> action`` function from a Policy object (with its params) or a callable."""
    if hasattr(policy, "act"):
        params = policy.params if policy_params is None else policy_params
        return lambda obs, state, key: policy.act(params, obs, state, key)
    return policy


def rollout(
    env: MarketMakingEnv,
    policy: Any,
    key: jax.Array,
    params: EnvParams,
    num_steps: int | None = None,
    policy_params: Any = None,
) -> Trajectory:
    """Run one episode of ``num_steps`` (default: the whole episode) without auto-reset.

    ``num_steps`` must be a Python int (it fixes the scan length); ``params`` may be traced, so
    ``jax.vmap(lambda k, p: rollout(env, pol, k, p, n))`` sweeps seeds and market scenarios.

    Keys: the env gets one key for the whole episode (its counter-based draws are new at every step,
    see :mod:`morl_mm.env.random_bits`), the policy one key per step (split up front: a deterministic
    policy leaves them unused and XLA drops them).
    """
    num_steps = episode_steps(params) if num_steps is None else int(num_steps)
    act = as_act_fn(policy, policy_params)
    key_reset, key_env, key_act = jax.random.split(key, 3)
    obs, state = env.reset_env(key_reset, params)

    def one_step(carry, act_key):
        obs, state = carry
        action = act(obs, state, act_key)
        next_obs, next_state, reward, done, info = env.step_env(key_env, state, action, params)
        return (next_obs, next_state), Trajectory(obs, action, reward, done, info)

    _, traj = jax.lax.scan(one_step, (obs, state), jax.random.split(key_act, num_steps))
    return traj
