"""A policy that looks its action up in a (time, inventory, regime) table: the oracle's optimum.

``TablePolicy`` reads the true ``state`` (``time``, ``inventory``, ``regime``), not the observation,
and works inside ``env.rollout`` under ``jit``/``vmap`` (vmap over ``params`` for a population of
tables of the same shape). Table entries are joint indices a = i_bid * (M + 1) + i_ask over a
per-side depth grid of M depths (index M = "off"), the layout of :mod:`morl_mm.oracle`; in
discrete mode the grid is the env's, so an entry is the env action itself.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from morl_mm.env.market import MarketMakingEnv


class TableParams(NamedTuple):
    action_table: jnp.ndarray  # (T, Q, R) int32 joint indices
    depth_grid: jnp.ndarray  # (M,) per-side depths
    inventory_min: jnp.ndarray  # inventory of row 0 of the Q axis
    inventory_step: jnp.ndarray  # order size: inventory spacing of the Q axis


class TablePolicy:
    """Look-up policy over (time, inventory[, regime]); implements the ``Policy`` protocol.

    >>> solution = morl_mm.oracle.solve(env, params, [0.5, 0.3, 0.2])
    >>> policy = TablePolicy.from_solution(env, solution)
    >>> traj = rollout(env, policy, key, params)
    """

    def __init__(self, env: MarketMakingEnv, action_table, depth_grid, inventory_grid):
        table = np.asarray(action_table)
        if table.ndim == 2:  # no regime axis: the same action in every regime
            table = table[..., None]
        grid, qs = np.asarray(depth_grid, np.float64), np.asarray(inventory_grid, np.float64)
        if table.ndim != 3 or table.shape[1] != qs.size:
            raise ValueError(f"action_table: need shape (T, Q={qs.size}[, R]), got {np.shape(action_table)}")
        if env.config.action_mode == "discrete" and not np.allclose(grid, env.config.depth_grid):
            raise ValueError(
                f"depth_grid: discrete mode needs the env's grid {env.config.depth_grid}, got {grid.tolist()}"
            )
        step = float(qs[1] - qs[0]) if qs.size > 1 else 1.0
        self.action_mode = env.config.action_mode
        self.params = TableParams(
            jnp.asarray(table, jnp.int32),
            jnp.asarray(grid, jnp.float32),
            jnp.asarray(qs[0], jnp.float32),
            jnp.asarray(step, jnp.float32),
        )

    @classmethod
    def from_solution(cls, env: MarketMakingEnv, solution) -> TablePolicy:
        """The table policy of an ``OracleSolution`` (or anything with the same table fields)."""
        return cls(env, solution.action_table, solution.depth_grid, solution.inventory_grid)

    def act(self, params: TableParams, obs, state, key) -> jnp.ndarray:
        del obs, key  # deterministic, reads the true state
        table = params.action_table
        n_steps, n_inv, n_regimes = table.shape
        t = jnp.clip(state.time, 0, n_steps - 1)
        q = jnp.clip(jnp.round((state.inventory - params.inventory_min) / params.inventory_step), 0, n_inv - 1)
        r = jnp.clip(state.regime, 0, n_regimes - 1)
        action = table[t, q.astype(jnp.int32), r]
        if self.action_mode == "discrete":
            return action
        n_side = params.depth_grid.shape[0] + 1
        sides = jnp.stack([action // n_side, action % n_side])
        on = sides < n_side - 1
        depth = params.depth_grid[jnp.minimum(sides, n_side - 2)]
        return jnp.concatenate([jnp.where(on, depth, 0.0), jnp.where(on, 1.0, -1.0)]).astype(jnp.float32)
