"""From a quote (bid/ask depths from the mid, on/off per side) to an env action, in either action mode.

Rule-based and closed-form quoters compute depths; :func:`quote_to_action` is the one place that
turns them into what the env expects, so every quoter works in both the continuous and the
discrete action mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from morl_mm.env.params import EnvConfig


def quote_to_action(config: EnvConfig, depth_bid, depth_ask, on_bid=True, on_ask=True) -> jax.Array:
    """The env action that quotes ``depth_bid`` below and ``depth_ask`` above the mid (jittable).

    Depths are clipped at 0 (a quote never crosses the mid) unless ``config.negative_depth``. Continuous
    mode: the action ``[depth_bid, depth_ask, +-1, +-1]`` with depths clipped to
    ``[config.min_depth, max_depth]`` (and one lot per side when ``max_lots > 1``). Discrete mode: each
    depth snaps to the nearest ``depth_grid`` value and a side that is off takes index G = ``n_depths``;
    the action is ``i_bid * (G + 1) + i_ask``.
    """
    low = config.min_depth if config.action_mode == "continuous" else 0.0
    depth = jnp.maximum(jnp.stack([jnp.asarray(depth_bid, jnp.float32), jnp.asarray(depth_ask, jnp.float32)]), low)
    on = jnp.stack([jnp.asarray(on_bid, bool), jnp.asarray(on_ask, bool)])
    if config.action_mode == "discrete":
        grid = jnp.asarray(config.depth_grid, jnp.float32)
        nearest = jnp.argmin(jnp.abs(depth[:, None] - grid[None, :]), axis=1)
        index = jnp.where(on, nearest, config.n_depths)
        return (index[0] * (config.n_depths + 1) + index[1]).astype(jnp.int32)
    parts = [jnp.minimum(depth, config.max_depth), jnp.where(on, 1.0, -1.0)]
    if config.max_lots > 1:
        parts.append(jnp.ones((2,), jnp.float32))
    return jnp.concatenate(parts).astype(jnp.float32)


def stack_params(params: Sequence[Any]) -> Any:
    """Stack policy params of one structure along a new leading axis, to vmap a rollout over them
    (e.g. Avellaneda-Stoikov policies for several risk aversions)."""
    if not params:
        raise ValueError("stack_params: need at least one params pytree")
    return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *params)


class InActionMode:
    """A policy of one action mode acting in an env of another: its action becomes a quote, and the
    quote the other mode's action (:func:`quote_to_action`).

    Exact from the discrete to the continuous mode (a grid depth is a valid continuous depth); the
    other way it snaps depths to the grid. Used to evaluate a discrete-mode learner (DQN) in a
    continuous-mode study. ``act`` is pure and jittable like the wrapped policy's.
    """

    def __init__(self, policy: Any, source_env: Any, target_config: EnvConfig):
        self.policy, self.source_env, self.target_config = policy, source_env, target_config

    @property
    def params(self) -> Any:
        return self.policy.params

    def act(self, params, obs, state, key):
        quote = self.source_env.action_to_quote(self.policy.act(params, obs, state, key))
        return quote_to_action(self.target_config, quote[0], quote[1], quote[2] > 0, quote[3] > 0)
