"""The observation: one table of its fields (name, bounds, meaning) and the one function that builds it.

The simulator, the replay env and the live engine all observe a state with :func:`observe`, so a
policy sees the same features wherever it runs; ``MarketMakingEnv.observation_space`` is built from
:data:`OBS_FIELDS`, so adding a feature is one row here and one entry in :func:`observe`'s list.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np


class ObsField(NamedTuple):
    name: str
    low: float
    high: float
    meaning: str


INF = float("inf")

OBS_FIELDS = (
    ObsField("inventory", -1.0, 1.0, "q / inventory_limit"),
    ObsField("time_remaining", 0.0, 1.0, "(n_steps - t) / n_steps"),
    ObsField("realised_vol", 0.0, INF, "EWMA realised volatility / sigma (about 1 in the base regime)"),
    ObsField("flow_imbalance", -1.0, 1.0, "EWMA of (buy - sell) market-order arrivals"),
    ObsField("fill_bid", 0.0, 1.0, "1 if the bid was filled at the last step"),
    ObsField("fill_ask", 0.0, 1.0, "1 if the ask was filled at the last step"),
    ObsField("depth_bid", 0.0, INF, "effective bid depth / competitive_distance, 0 when not quoted"),
    ObsField("depth_ask", 0.0, INF, "effective ask depth / competitive_distance, 0 when not quoted"),
)
"""The observation layout, in order."""

OBS_NAMES = tuple(f.name for f in OBS_FIELDS)
OBS_LOW = np.array([f.low for f in OBS_FIELDS], np.float32)
OBS_HIGH = np.array([f.high for f in OBS_FIELDS], np.float32)


def observe(state, params) -> jnp.ndarray:
    """The observation (layout :data:`OBS_FIELDS`) of an env state under ``params`` (EnvParams)."""
    n = params.n_steps
    quote = state.effective_quote
    depth = quote[0:2] * quote[2:4] / params.competitive_distance
    values = {
        "inventory": state.inventory / params.inventory_limit,
        "time_remaining": (n - state.time) / n,
        "realised_vol": jnp.sqrt(state.realised_var) / jnp.maximum(params.sigma, 1e-12),
        "flow_imbalance": state.flow_imbalance,
        "fill_bid": state.last_fills[0],
        "fill_ask": state.last_fills[1],
        "depth_bid": depth[0],
        "depth_ask": depth[1],
    }
    return jnp.stack([jnp.asarray(values[name], jnp.float32) for name in OBS_NAMES])
