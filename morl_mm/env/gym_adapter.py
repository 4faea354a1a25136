"""mo-gymnasium adapters of the functional env: one env (numpy in/out) and a jitted vector env.

* :class:`MOMarketMakingEnv` is a ``gymnasium.Env`` with a vector reward and a ``reward_space``
  (the mo-gymnasium convention), so mo-gymnasium wrappers and morl-baselines run on it unchanged.
  The JAX state stays inside; one jitted step per env config does the work.
* :class:`VectorMarketMakingEnv` is a ``gymnasium.vector.VectorEnv`` that steps N envs in one
  jitted ``vmap`` call and auto-resets finished envs in the same step (``AutoresetMode.SAME_STEP``).
* :func:`register_envs` registers ``"morl_mm/MarketMaking-v0"``; ``import morl_mm`` calls it
  (gymnasium 1.x does not load the ``gymnasium.envs`` entry point of pyproject by itself).

Constructor keywords of both envs are overrides of any :class:`EnvConfig` field (static: objective
list, ``action_mode``, ...) and any :class:`EnvParams` field (market constants), plus ``seed``::

    env = mo_gymnasium.make("morl_mm/MarketMaking-v0", action_mode="discrete", sigma=1.0, horizon=0.1)

Randomness: a JAX key chain started from ``seed``; every step splits off the key it uses, so a
seed fixes the whole trajectory (given the actions).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from morl_mm._gym_registration import ENV_ID, register_envs
from morl_mm.env.market import MarketMakingEnv
from morl_mm.env.params import EnvConfig, EnvParams, make_params

__all__ = ["ENV_ID", "INFO_KEYS", "MOMarketMakingEnv", "VectorMarketMakingEnv", "register_envs", "split_overrides"]

INFO_KEYS = ("inventory", "cash", "mid", "wealth", "fill_bid", "fill_ask")
"""What ``info`` reports after each step (the finished step's values, before any auto-reset)."""

_CONFIG_FIELDS = frozenset(f.name for f in dataclasses.fields(EnvConfig))
_PARAM_FIELDS = frozenset(f.name for f in dataclasses.fields(EnvParams))


def split_overrides(overrides: dict[str, Any]) -> tuple[EnvConfig, EnvParams]:
    """Split keyword overrides into a validated ``(EnvConfig, EnvParams)``.

    Raises ``ValueError`` naming an unknown keyword or the field whose value is invalid.
    """
    unknown = sorted(set(overrides) - _CONFIG_FIELDS - _PARAM_FIELDS)
    if unknown:
        raise ValueError(
            f"unknown env keyword(s) {unknown}; EnvConfig fields: {sorted(_CONFIG_FIELDS)}, "
            f"EnvParams fields: {sorted(_PARAM_FIELDS)}"
        )
    config = EnvConfig(**{k: v for k, v in overrides.items() if k in _CONFIG_FIELDS})
    params = make_params(config, **{k: v for k, v in overrides.items() if k in _PARAM_FIELDS})
    return config, params


def invalid_actions(config: EnvConfig, actions) -> np.ndarray:
    """Which actions (rows of a batch, or the one action) the adapters reject: a non-finite entry, or in
    discrete mode an index that is not a whole number in [0, n_discrete_actions). Checked before any
    cast, so 3.7 or NaN never becomes a valid index. (Finite continuous values outside the box are
    clipped by the env, see :meth:`MarketMakingEnv.check_action`.)"""
    raw = np.asarray(actions)
    if raw.dtype.kind not in "biuf":
        return np.ones(raw.shape[:1] if config.action_mode == "continuous" else raw.shape, bool)
    raw = raw.astype(np.float64)
    if config.action_mode == "discrete":
        return ~np.isfinite(raw) | (raw != np.round(raw)) | (raw < 0) | (raw >= config.n_discrete_actions)
    return ~np.isfinite(raw).all(axis=-1)


def _step_with_autoreset(env: MarketMakingEnv, key, state, action, params, autoreset: bool):
    """``env.step`` (same key use, so the same trajectory) that also returns the finished step's obs."""
    key_reset = env.reset_key(key, state)
    final_obs, state, reward, done, info = env.step_env(key, state, action, params)
    obs = final_obs
    if autoreset:
        obs, state = env.auto_reset(key_reset, done, final_obs, state, params)
    report = {name: getattr(info, name) for name in INFO_KEYS}
    return obs, state, reward, done, report, final_obs


@functools.cache
def _jitted_fns(config: EnvConfig):
    """Jitted reset/step of one env and of a vmapped batch, compiled once per (hashable) config.

    Each step function takes the env's key chain and returns the advanced chain with its outputs.
    """
    env = MarketMakingEnv(config)

    def reset(key, params):
        key, key_reset = jax.random.split(key)
        obs, state = env.reset_env(key_reset, params)
        return key, obs, state

    def step(key, state, action, params, autoreset):
        key, key_step = jax.random.split(key)
        obs, state, reward, done, report, final_obs = _step_with_autoreset(
            env, key_step, state, action, params, autoreset
        )
        return key, state, (obs, reward, done, report, final_obs)

    def step_packed(key, state, action, params):
        """One env, no auto-reset; the outputs packed in one float32 vector: a single host transfer."""
        key, state, (obs, reward, done, report, _) = step(key, state, action, params, autoreset=False)
        info = jnp.stack([report[name] for name in INFO_KEYS])
        return key, state, jnp.concatenate([obs, reward, info, done[None]]).astype(jnp.float32)

    batched_reset = jax.vmap(reset, in_axes=(0, None))
    batched_step = jax.vmap(functools.partial(step, autoreset=True), in_axes=(0, 0, 0, None))
    return (jax.jit(reset), jax.jit(step_packed), jax.jit(batched_reset), jax.jit(batched_step, donate_argnums=(0, 1)))


def _on_device(params: EnvParams) -> EnvParams:
    """Params as device arrays once, instead of converting every python float on every call."""
    return jax.tree_util.tree_map(jnp.asarray, params)


def _seed_key(seed: int | None) -> jax.Array:
    """A JAX key from a python seed (random if ``None``); seeds past 32 bits stay distinct."""
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"seed: must be >= 0, got {seed}")
    key = jax.random.key(seed & 0xFFFFFFFF)
    high = seed >> 32
    while high:  # without x64, jax.random.key keeps only the low 32 bits
        key, high = jax.random.fold_in(key, high & 0xFFFFFFFF), high >> 32
    return key


class MOMarketMakingEnv(gym.Env):
    """The market-making env as a mo-gymnasium env: numpy observations, a float32 reward vector.

    ``step`` returns ``(obs, reward_vec, terminated, False, info)``; the episode terminates after
    ``n_steps`` steps (no truncation, so no ``TimeLimit`` is needed). ``info`` holds python floats
    ``inventory, cash, mid, wealth, fill_bid, fill_ask`` of the finished step.

    Args:
        seed: seeds the key chain used by the first ``reset()`` without a seed (default: random).
        **overrides: any :class:`EnvConfig` or :class:`EnvParams` field (``ValueError`` if bad).
    """

    metadata = {"render_modes": [], "jax": False}

    def __init__(self, seed: int | None = None, render_mode: str | None = None, **overrides: Any):
        if render_mode is not None:
            raise ValueError(f"render_mode: this env does not render, got {render_mode!r}")
        self.config, self.params = split_overrides(overrides)
        self.env = MarketMakingEnv(self.config)
        self.observation_space = self.env.observation_space(self.params)
        self.action_space = self.env.action_space(self.params)
        self.reward_space = self.env.reward_space(self.params)
        self.reward_dim = self.env.num_objectives
        self._reset_fn, self._step_fn, _, _ = _jitted_fns(self.config)
        self._device_params = _on_device(self.params)
        self._key = _seed_key(seed)
        self._state = None
        self._done = False

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start an episode; ``seed`` restarts the key chain, ``None`` continues it."""
        super().reset(seed=seed)
        if seed is not None:
            self._key = _seed_key(seed)
        self._key, obs, self._state = self._reset_fn(self._key, self._device_params)
        self._done = False
        return np.asarray(obs, dtype=np.float32), {}

    def step(self, action):
        if self._state is None:
            raise RuntimeError("MOMarketMakingEnv.step: call reset() before step()")
        if self._done:
            raise RuntimeError("MOMarketMakingEnv.step: the episode has terminated; call reset() before stepping again")
        if np.any(invalid_actions(self.config, action)) or not self.action_space.contains(
            action := np.asarray(action, dtype=self.action_space.dtype)
        ):  # one dtype, so one compilation
            raise ValueError(f"MOMarketMakingEnv.step: action {action!r} is not in {self.action_space}")
        self._key, self._state, packed = self._step_fn(self._key, self._state, action, self._device_params)
        packed = np.asarray(packed)
        n_obs, n_rew = self.observation_space.shape[0], self.reward_dim
        obs, reward = packed[:n_obs].copy(), packed[n_obs : n_obs + n_rew].copy()
        info = dict(zip(INFO_KEYS, packed[n_obs + n_rew : -1].tolist()))
        self._done = bool(packed[-1])
        return obs, reward, self._done, False, info


class VectorMarketMakingEnv(VectorEnv):
    """N copies of the env stepped in one jitted ``vmap`` call, numpy in and out.

    Finished envs reset inside the same step (``AutoresetMode.SAME_STEP``): the returned obs is the
    new episode's; reward, termination and ``infos`` are the finished step's, and
    ``infos["final_obs"]`` (an ``(N, obs_dim)`` array, rows valid where ``infos["_final_obs"]``)
    is its last observation. Every info key ``k`` comes with the boolean mask ``infos["_k"]``.
    Env ``i``'s key chain starts at ``jax.random.split(jax.random.key(seed), N)[i]`` and follows
    the same per-step split as :class:`MOMarketMakingEnv`, stepping exactly as ``env.step``.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(self, num_envs: int, seed: int | None = None, **overrides: Any):
        if int(num_envs) < 1 or int(num_envs) != num_envs:
            raise ValueError(f"num_envs: must be a whole number >= 1, got {num_envs}")
        self.num_envs = int(num_envs)
        self.config, self.params = split_overrides(overrides)
        self.env = MarketMakingEnv(self.config)
        self.single_observation_space = self.env.observation_space(self.params)
        self.single_action_space = self.env.action_space(self.params)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.single_reward_space = self.env.reward_space(self.params)
        self.reward_space = batch_space(self.single_reward_space, self.num_envs)
        self.reward_dim = self.env.num_objectives
        _, _, self._reset_fn, self._step_fn = _jitted_fns(self.config)
        self._device_params = _on_device(self.params)
        self._seed = seed
        self._keys = None
        self._state = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset every env; ``seed`` (or the constructor's, on the first reset) restarts the key chains."""
        super().reset(seed=seed)
        if seed is None and self._keys is None:
            seed = self._seed
        if seed is not None or self._keys is None:
            self._keys = jax.random.split(_seed_key(seed), self.num_envs)
        self._keys, obs, self._state = self._reset_fn(self._keys, self._device_params)
        return np.asarray(obs), {}

    def step(self, actions):
        if self._state is None:
            raise RuntimeError("VectorMarketMakingEnv.step: call reset() before step()")
        raw = np.asarray(actions)
        actions = np.asarray(actions, dtype=self.single_action_space.dtype)
        if actions.shape != self.action_space.shape:
            raise ValueError(
                f"VectorMarketMakingEnv.step: actions must have shape {self.action_space.shape}, got {actions.shape}"
            )
        bad = np.flatnonzero(invalid_actions(self.config, raw))
        if bad.size:
            raise ValueError(
                f"VectorMarketMakingEnv.step: invalid action(s) of env(s) {bad.tolist()[:10]}: "
                f"{raw[bad[0]]!r} is not a finite action of {self.single_action_space}"
            )
        self._keys, self._state, outputs = self._step_fn(self._keys, self._state, actions, self._device_params)
        obs, rewards, dones, report, final_obs = jax.device_get(outputs)
        dones = np.asarray(dones, dtype=bool)
        present = np.ones(self.num_envs, dtype=bool)
        infos: dict[str, Any] = {}
        for name, values in report.items():
            infos[name], infos[f"_{name}"] = np.asarray(values), present
        infos["final_obs"], infos["_final_obs"] = np.asarray(final_obs), dones
        return np.asarray(obs), np.asarray(rewards), dones, np.zeros(self.num_envs, dtype=bool), infos
