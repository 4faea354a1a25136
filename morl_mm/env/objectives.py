"""The objective vector as one table. Every component is maximised; its episode sum is the objective value.

* ``pnl``: change of mark-to-market wealth cash + q * mid; the last step also pays the
  liquidation penalty alpha * q_T^2, so the episode sum is final minus initial wealth.
* ``inventory_risk``: -(q * sigma)^2 * dt with q the inventory held over the step and sigma the
  volatility of the step's regime (a running quadratic penalty, as in Cartea & Jaimungal).
* ``quoting_ratio``: (firm bid + firm ask) / (2 * n_steps); a side is firm when it is quoted
  within ``competitive_distance`` of the mid. The episode sum lies in [0, 1].
* ``adverse_selection``: minus the mark-out of this step's fills: units bought times the mid's
  fall, units sold times the mid's rise (only adverse moves count).
* ``order_management``: minus ``order_change_cost`` per side whose submitted quote changed.

Adding an objective is one :class:`Objective` entry in ``TABLE`` (its reward function reads the
step's :class:`StepQuantities`); the env, its reward space, the normalisation scales, the units
of results and the cost-bound selection all read the table. The oracle solves the objectives of
``morl_mm.oracle.model.EXACT_OBJECTIVES`` only (a new one needs its DP terms there).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, NamedTuple

import jax.numpy as jnp
import numpy as np

if TYPE_CHECKING:  # annotations only: params.py reads this table's names
    from morl_mm.env.params import EnvParams


class StepQuantities(NamedTuple):
    """What one env step hands to the reward functions (``MarketMakingEnv.settle``)."""

    pnl: jnp.ndarray  # change of mark-to-market wealth, liquidation included on the last step
    inventory: jnp.ndarray  # inventory held over the step
    sigma: jnp.ndarray  # volatility of the step's regime
    firm: jnp.ndarray  # (2,) bid / ask quoted within the competitive distance
    units: jnp.ndarray  # (2,) units bought on the bid / sold on the ask
    mid_move: jnp.ndarray  # new mid - old mid
    submitted: jnp.ndarray  # the quote submitted this step (depths, on flags, lots)
    last_submitted: jnp.ndarray  # the quote submitted on the previous step


def _inventory_risk(params: EnvParams, s: StepQuantities) -> jnp.ndarray:
    return -((s.inventory * s.sigma) ** 2) * params.dt


def _quoting_ratio(params: EnvParams, s: StepQuantities) -> jnp.ndarray:
    return 0.5 * (s.firm[0] + s.firm[1]) / params.n_steps


def _adverse_selection(params: EnvParams, s: StepQuantities) -> jnp.ndarray:
    return -(s.units[0] * jnp.maximum(-s.mid_move, 0.0) + s.units[1] * jnp.maximum(s.mid_move, 0.0))


def _order_management(params: EnvParams, s: StepQuantities) -> jnp.ndarray:
    submitted, last = s.submitted, s.last_submitted
    on_changed = submitted[2:4] != last[2:4]
    both_on = (submitted[2:4] > 0) & (last[2:4] > 0)
    moved = (jnp.abs(submitted[0:2] - last[0:2]) > 1e-6) | (submitted[4:6] != last[4:6])
    changes = jnp.sum((on_changed | (both_on & moved)).astype(jnp.float32))
    return -params.order_change_cost * changes


@dataclasses.dataclass(frozen=True)
class Objective:
    """One objective: its name, unit, per-step reward bounds, normalisation rule and reward function."""

    name: str
    unit: str  # physical unit, short, for table headers and axis labels
    low: float  # per-step reward bounds (the env's reward_space; +-inf where the model has none)
    high: float
    # normalisation (morl_mm.env.scales.reference_scales): "reference" = |expected episode value| of the
    # reference quoter (1 where that is ~0); "one" = scale 1 (the objective is a fraction already)
    scale_rule: Literal["reference", "one"]
    reward: Callable[[EnvParams, StepQuantities], jnp.ndarray]  # the step's reward (jittable)

    @property
    def is_cost(self) -> bool:
        """Minus a cost (high bound 0): a principal bounds its magnitude ("inventory risk at most X")."""
        return self.high == 0.0


TABLE = (
    Objective("pnl", "price units", -np.inf, np.inf, "reference", lambda params, s: s.pnl),
    Objective("inventory_risk", "price units^2 x time", -np.inf, 0.0, "reference", _inventory_risk),
    Objective("quoting_ratio", "fraction of time", 0.0, 1.0, "one", _quoting_ratio),
    Objective("adverse_selection", "price units", -np.inf, 0.0, "reference", _adverse_selection),
    Objective("order_management", "price units", -np.inf, 0.0, "reference", _order_management),
)
"""Every objective the env can return, in the order they may be requested."""

BY_NAME = {o.name: o for o in TABLE}
OBJECTIVES = tuple(BY_NAME)
DEFAULT_OBJECTIVES = ("pnl", "inventory_risk", "quoting_ratio")
UNITS = {o.name: o.unit for o in TABLE}  # the module docstring has the definitions
COSTS = frozenset(o.name for o in TABLE if o.is_cost)


def reward_vector(objectives, params: EnvParams, **quantities) -> jnp.ndarray:
    """The step's reward vector, ordered as ``objectives`` (a static tuple); ``quantities``: the fields
    of :class:`StepQuantities` by name."""
    step = StepQuantities(**quantities)
    return jnp.stack([jnp.asarray(BY_NAME[n].reward(params, step), jnp.float32) for n in objectives])


def reward_bounds(objectives) -> tuple[np.ndarray, np.ndarray]:
    """Per-step reward bounds for ``reward_space`` (unbounded where the model has no bound)."""
    return (
        np.array([BY_NAME[o].low for o in objectives], np.float32),
        np.array([BY_NAME[o].high for o in objectives], np.float32),
    )
