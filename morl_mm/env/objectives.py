"""The objective vector. Every component is maximised; its episode sum is the objective value.

* ``pnl``: change of mark-to-market wealth cash + q * mid; the last step also pays the
  liquidation penalty alpha * q_T^2, so the episode sum is final minus initial wealth.
* ``inventory_risk``: -(q * sigma)^2 * dt with q the inventory held over the step and sigma the
  volatility of the step's regime (a running quadratic penalty, as in Cartea & Jaimungal).
* ``quoting_ratio``: (firm bid + firm ask) / (2 * n_steps); a side is firm when it is quoted
  within ``competitive_distance`` of the mid. The episode sum lies in [0, 1].
* ``adverse_selection``: minus the mark-out of this step's fills: units bought times the mid's
  fall, units sold times the mid's rise (only adverse moves count).
* ``order_management``: minus ``order_change_cost`` per side whose submitted quote changed.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from morl_mm.env.params import EnvParams

UNITS = {  # short, for table headers and axis labels; the module docstring has the definitions
    "pnl": "price units",
    "inventory_risk": "price units^2 x time",
    "quoting_ratio": "fraction of time",
    "adverse_selection": "price units",
    "order_management": "price units",
}
# objectives that are minus a cost: a principal bounds their magnitude ("inventory risk at most X")
COSTS = frozenset({"inventory_risk", "adverse_selection", "order_management"})


def reward_vector(objectives, params: EnvParams, *, pnl, inventory, sigma, firm, units, mid_move,
                  submitted, last_submitted) -> jnp.ndarray:
    """The step's reward vector, ordered as ``objectives`` (a static tuple)."""
    parts = {}
    for name in objectives:
        if name == "pnl":
            parts[name] = pnl
        elif name == "inventory_risk":
            parts[name] = -((inventory * sigma) ** 2) * params.dt
        elif name == "quoting_ratio":
            parts[name] = 0.5 * (firm[0] + firm[1]) / params.n_steps
        elif name == "adverse_selection":
            parts[name] = -(units[0] * jnp.maximum(-mid_move, 0.0) + units[1] * jnp.maximum(mid_move, 0.0))
        elif name == "order_management":
            on_changed = submitted[2:4] != last_submitted[2:4]
            both_on = (submitted[2:4] > 0) & (last_submitted[2:4] > 0)
            moved = (jnp.abs(submitted[0:2] - last_submitted[0:2]) > 1e-6) | (submitted[4:6] != last_submitted[4:6])
            changes = jnp.sum((on_changed | (both_on & moved)).astype(jnp.float32))
            parts[name] = -params.order_change_cost * changes
        else:  # unreachable: EnvConfig validates names
            raise ValueError(f"unknown objective {name!r}")
    return jnp.stack([jnp.asarray(parts[n], jnp.float32) for n in objectives])


def reward_bounds(objectives) -> tuple[np.ndarray, np.ndarray]:
    """Per-step reward bounds for ``reward_space`` (unbounded where the model has no bound)."""
    low = {"pnl": -np.inf, "inventory_risk": -np.inf, "quoting_ratio": 0.0, "adverse_selection": -np.inf,
           "order_management": -np.inf}
    high = {"pnl": np.inf, "inventory_risk": 0.0, "quoting_ratio": 1.0, "adverse_selection": 0.0,
            "order_management": 0.0}
    return (np.array([low[o] for o in objectives], np.float32), np.array([high[o] for o in objectives], np.float32))


REFERENCE_SEED = 0
REFERENCE_EPISODES = 2048


def reference_scales(env, params: EnvParams, episodes: int = REFERENCE_EPISODES) -> np.ndarray:
    """Per-objective scales that make a preference weight mean something.

    A principal's weights apply to *normalised* objectives J_i / scale_i. The scale of each
    objective is the magnitude of its expected episode value under the reference quoter of the
    model: both sides quoted at depth 1/kappa (the depth that maximises the expected spread
    income delta * exp(-kappa * delta)), i.e. the naive market maker, whose normalised vector is
    then about (+1, -1, 1). ``quoting_ratio`` keeps scale 1 (it is a fraction already); an
    objective whose reference value is ~0 gets scale 1. Estimated by Monte Carlo with a fixed key
    (``REFERENCE_SEED``), so the same model always gives the same scales; store them with results.
    """
    import jax

    from morl_mm.env.rollout import rollout

    cfg = env.config
    depth = 1.0 / float(params.kappa)
    if cfg.action_mode == "discrete":
        grid = np.asarray(cfg.depth_grid)
        i = int(np.argmin(np.abs(grid - depth)))
        action = jnp.asarray(i * (cfg.n_depths + 1) + i, jnp.int32)
    else:
        action = jnp.asarray([depth, depth, 1.0, 1.0] + [1.0, 1.0] * (cfg.max_lots > 1), jnp.float32)
    keys = jax.random.split(jax.random.key(REFERENCE_SEED), episodes)
    returns = jax.jit(jax.vmap(lambda k: rollout(env, lambda o, s, kk: action, k, params).reward.sum(0)))(keys)
    mean = np.abs(np.asarray(returns, np.float64).mean(axis=0))
    scales = np.where(mean > 1e-8, mean, 1.0)
    for i, name in enumerate(cfg.objectives):
        if name == "quoting_ratio":
            scales[i] = 1.0
    return scales
