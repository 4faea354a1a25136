"""Static configuration and dynamic market parameters of the market-making simulator.

Two objects, as in gymnax:

* :class:`EnvConfig` is *static*: everything that fixes a shape or a branch (objective list,
  action mode, depth grid, latency buffer length, number of volatility regimes). It is a frozen,
  hashable dataclass and lives on the env object.
* :class:`EnvParams` is a *pytree* of numbers (``flax.struct.dataclass``): every market constant
  with its default. It can be vmapped over (market scenarios), changed per episode, or batched.

Defaults are the simulation setting of Avellaneda & Stoikov (2008): s0 = 100, T = 1, sigma = 2,
dt = 0.005 (200 steps), A = 140, k = 1.5, with an inventory limit of 10 lots and all the
extra model parts (regimes, jumps, signal, adverse selection, latency, fees) switched off.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from morl_mm.env.objectives import DEFAULT_OBJECTIVES, OBJECTIVES

MODEL_PARTS = {  # optional part of the model -> the EnvParams field whose non-zero value turns it on
    "jumps": "jump_rate",
    "signal": "signal_vol",
    "adverse_impact": "adverse_impact",
    "ticks": "tick_size",
}
"""Optional parts of the step that :attr:`EnvConfig.model_parts` can compile out."""

DEFAULT_DEPTH_GRID = (0.2, 0.4, 0.6, 0.8, 1.0, 1.3, 1.6, 2.0)
"""Depths (price units from the mid) of the discrete action mode; 1/k = 0.67 sits inside."""


@dataclasses.dataclass(frozen=True)
class EnvConfig:
    """Static configuration: changing any field changes compiled shapes or branches."""

    objectives: tuple[str, ...] = DEFAULT_OBJECTIVES
    action_mode: Literal["continuous", "discrete"] = "continuous"
    depth_grid: tuple[float, ...] = DEFAULT_DEPTH_GRID  # discrete mode: depths per side
    max_depth: float = 5.0  # continuous mode: depths are clipped to [0, max_depth]
    max_lots: int = 1  # continuous mode: >1 adds a per-side order size in lots to the action
    max_latency: int = 0  # length of the quote delay buffer; EnvParams.latency <= this
    n_regimes: int = 1  # number of volatility regimes (1 = no regime switching)
    mid_noise: Literal["gaussian", "binary"] = "gaussian"  # binary: +-sigma*sqrt(dt) (AS 2008)
    # continuous mode, opt-in: a depth may be negative (down to -max_depth), a quote through the mid, as in
    # Avellaneda & Stoikov (2008); its fill probability A dt exp(-kappa depth) is capped at 1 per step
    negative_depth: bool = False
    # optional parts compiled into the step (see MODEL_PARTS). A part is skipped anyway where the params a
    # step is traced with are concrete and switch it off (identical results, less work); a part left out
    # here is skipped even for traced params, and params that turn it on are rejected by validate_params
    model_parts: tuple[str, ...] = tuple(MODEL_PARTS)

    def __post_init__(self):
        object.__setattr__(self, "objectives", tuple(self.objectives))
        object.__setattr__(self, "depth_grid", tuple(float(d) for d in self.depth_grid))
        if not isinstance(self.model_parts, (tuple, list)) or any(not isinstance(p, str) for p in self.model_parts):
            raise ValueError(f"EnvConfig.model_parts: must be a list of part names, got {self.model_parts!r}")
        unknown_parts = sorted(set(self.model_parts) - set(MODEL_PARTS))
        if unknown_parts:
            raise ValueError(f"EnvConfig.model_parts: unknown part(s) {unknown_parts}; known: {list(MODEL_PARTS)}")
        object.__setattr__(self, "model_parts", tuple(p for p in MODEL_PARTS if p in set(self.model_parts)))
        unknown = [o for o in self.objectives if o not in OBJECTIVES]
        if unknown:
            raise ValueError(f"EnvConfig.objectives: unknown objective(s) {unknown}; known: {list(OBJECTIVES)}")
        if not self.objectives:
            raise ValueError("EnvConfig.objectives: at least one objective is needed")
        if len(set(self.objectives)) != len(self.objectives):
            raise ValueError(f"EnvConfig.objectives: duplicates in {self.objectives}")
        if self.action_mode not in ("continuous", "discrete"):
            raise ValueError(f"EnvConfig.action_mode: must be 'continuous' or 'discrete', got {self.action_mode!r}")
        if self.mid_noise not in ("gaussian", "binary"):
            raise ValueError(f"EnvConfig.mid_noise: must be 'gaussian' or 'binary', got {self.mid_noise!r}")
        if not self.depth_grid or any(not math.isfinite(d) or d < 0 for d in self.depth_grid):
            raise ValueError(f"EnvConfig.depth_grid: needs finite depths >= 0, got {self.depth_grid}")
        if not (math.isfinite(self.max_depth) and self.max_depth > 0):
            raise ValueError(f"EnvConfig.max_depth: must be > 0, got {self.max_depth}")
        for name in ("max_lots", "n_regimes"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"EnvConfig.{name}: must be >= 1, got {getattr(self, name)}")
        if int(self.max_latency) < 0:
            raise ValueError(f"EnvConfig.max_latency: must be >= 0, got {self.max_latency}")
        if not isinstance(self.negative_depth, bool):
            raise ValueError(f"EnvConfig.negative_depth: must be True or False, got {self.negative_depth!r}")
        if self.negative_depth and self.action_mode != "continuous":
            raise ValueError(
                "EnvConfig.negative_depth: only the continuous action mode has negative depths "
                "(the discrete grid's depths are >= 0)"
            )

    @property
    def min_depth(self) -> float:
        """Continuous mode: the smallest depth an action may set (-max_depth with ``negative_depth``, else 0)."""
        return -self.max_depth if self.negative_depth else 0.0

    @property
    def n_objectives(self) -> int:
        return len(self.objectives)

    @property
    def n_depths(self) -> int:
        return len(self.depth_grid)

    @property
    def n_discrete_actions(self) -> int:
        """Discrete mode: (depths + "off") per side, bid-major: a = i_bid * (G + 1) + i_ask."""
        return (self.n_depths + 1) ** 2


@struct.dataclass
class EnvParams:
    """Market constants (a pytree: vmap over it to sweep scenarios). Units are price and time units."""

    # time
    horizon: float = 1.0  # T, episode length
    dt: float = 0.005  # step length; n_steps = round(T / dt)
    # mid-price: dS = drift dt + sigma_regime dW + jumps + impact
    mid0: float = 100.0  # initial mid
    sigma: float = 2.0  # base volatility (price units / sqrt(time)); regime multipliers scale it
    drift: float = 0.0  # constant drift of the mid
    # volatility regimes (Markov chain, one step per dt); shapes (R,) and (R, R) with R = n_regimes
    regime_vol: jnp.ndarray = struct.field(default_factory=lambda: jnp.ones((1,)))  # sigma multiplier
    regime_transition: jnp.ndarray = struct.field(default_factory=lambda: jnp.ones((1, 1)))  # per-step P
    # jumps: Bernoulli(jump_rate * dt) per step, size ~ N(jump_mean, jump_std)
    jump_rate: float = 0.0
    jump_mean: float = 0.0
    jump_std: float = 0.0
    # order-flow signal alpha: d alpha = -signal_reversion alpha dt + signal_vol dW; adds alpha to the
    # drift of the mid and tilts arrivals: buy rate A e^{+flow_sensitivity alpha}, sell rate A e^{-...}
    signal_reversion: float = 5.0
    signal_vol: float = 0.0  # 0 switches the signal off
    flow_sensitivity: float = 0.0
    # market orders: arrival prob A dt per side per step (A dt <= 1); fill prob exp(-kappa delta)
    arrival_rate: float = 140.0  # A
    kappa: float = 1.5  # k
    adverse_impact: float = 0.0  # mid moves this much against the resting side after each market order
    # trading
    tick_size: float = 0.0  # 0 = continuous prices; > 0 puts quotes on the tick grid (away from mid)
    order_size: float = 1.0  # units per lot
    inventory_limit: float = 10.0  # |q| <= limit: a side whose fill would breach it is not quoted
    latency: int = 0  # actions take effect after this many steps (<= EnvConfig.max_latency)
    maker_fee: float = 0.0  # cash paid per unit filled (negative = rebate)
    liquidation_penalty: float = 0.0  # terminal cash cost alpha * q_T^2 on top of marking at mid
    # objectives
    competitive_distance: float = 0.7  # a quote counts for quoting_ratio if depth <= this: 1/kappa plus a little,
    # so that firm quoting costs something and the three objectives trade off (see README)
    order_change_cost: float = 0.01  # order_management: cost per side whose quote changed
    initial_inventory: float = 0.0
    vol_ewma: float = 0.05  # weight of the newest squared return in the realised-vol feature
    flow_ewma: float = 0.1  # weight of the newest market order in the imbalance feature

    @property
    def n_steps(self):
        """Episode length in steps (a traced value inside jit; use :func:`episode_steps` for a Python int)."""
        return jnp.round(self.horizon / self.dt).astype(jnp.int32)


def active_parts(config: EnvConfig, params: EnvParams, state=None) -> frozenset[str]:
    """The optional parts (:data:`MODEL_PARTS`) a step under ``params`` (from ``state``) must compute:
    those of ``config.model_parts`` whose field is not a concrete zero. A traced field (params passed
    into a jitted function, vmapped scenarios, a schedule's params of the step) keeps its part in.
    The signal also has a state: a concrete ``state.signal`` that is not zero keeps it in (a state
    stepped on under params without a signal, e.g. an eager schedule's later segment); a traced state
    is taken to be one of these params' episodes, whose signal starts at 0 and stays there while
    ``signal_vol`` is 0. Called at trace time."""
    parts = {part for part in config.model_parts if not _is_concrete_zero(getattr(params, MODEL_PARTS[part]))}
    if "signal" in config.model_parts and state is not None and _is_concrete_nonzero(state.signal):
        parts.add("signal")
    return frozenset(parts)


def _concrete(value) -> np.ndarray | None:
    """``value`` as a numpy array, or None while it is traced."""
    try:
        return np.asarray(value)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


def _is_concrete_zero(value) -> bool:
    value = _concrete(value)
    return value is not None and not np.any(value)


def _is_concrete_nonzero(value) -> bool:
    value = _concrete(value)
    return value is not None and bool(np.any(value))


def episode_steps(params: EnvParams) -> int:
    """Number of steps of an episode as a Python int (for ``lax.scan`` lengths); ``params.n_steps`` is the
    traced value of the same number."""
    return int(round(float(params.horizon) / float(params.dt)))


n_steps = episode_steps
"""Former name of :func:`episode_steps` (it clashed with the ``EnvParams.n_steps`` property); kept for callers."""


def make_params(config: EnvConfig | None = None, **overrides) -> EnvParams:
    """Build :class:`EnvParams` with overrides, validate them against ``config`` and return them.

    Raises ``ValueError`` naming the field and the bad value. Validation runs outside jit.
    """
    config = config or EnvConfig()
    fields = {f.name for f in dataclasses.fields(EnvParams)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"EnvParams: unknown field(s) {unknown}; known: {sorted(fields)}")
    if config.n_regimes > 1:
        overrides.setdefault("regime_vol", jnp.ones((config.n_regimes,)))
        overrides.setdefault("regime_transition", jnp.eye(config.n_regimes))
    arrays = {k: _numbers(k, v) for k, v in overrides.items() if k in ("regime_vol", "regime_transition")}
    params = EnvParams(**{**overrides, **arrays})
    validate_params(params, config)
    return params


FLOAT32_MAX = float(np.finfo(np.float32).max)
MIN_TICK = 1e-8  # the smallest tick size > 0: a price of 1e30 is then still ~1e38 ticks, finite in float32


def _numbers(name: str, value) -> jnp.ndarray:
    """An array field as float32; ``ValueError`` naming the field when it is not numeric."""
    kind = np.asarray(value).dtype.kind if not isinstance(value, jnp.ndarray) else value.dtype.kind
    if kind not in "iuf":
        raise ValueError(f"EnvParams.{name}: must be numbers, got {value!r}")
    return jnp.asarray(value, dtype=jnp.float32)


def _finite(name: str, value) -> float:
    if np.asarray(value).dtype.kind not in "iuf":  # str, bool, None, objects: not a number
        raise ValueError(f"EnvParams.{name}: must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or abs(value) > FLOAT32_MAX:  # the env computes in float32
        raise ValueError(f"EnvParams.{name}: must be finite (in float32), got {value}")
    return value


def validate_params(params: EnvParams, config: EnvConfig | None = None) -> None:
    """Check every field of ``params`` (unbatched) for consistency with ``config``.

    Raises ``ValueError`` with the field name and the offending value.
    """
    config = config or EnvConfig()
    p = {f.name: getattr(params, f.name) for f in dataclasses.fields(params)}
    for name, value in p.items():
        if name in ("regime_vol", "regime_transition"):
            continue
        if np.ndim(value) != 0:
            raise ValueError(f"EnvParams.{name}: validate one (unbatched) parameter set, got shape {np.shape(value)}")
        _finite(name, value)

    def positive(name):
        if p[name] <= 0:
            raise ValueError(f"EnvParams.{name}: must be > 0, got {p[name]}")

    def non_negative(name):
        if p[name] < 0:
            raise ValueError(f"EnvParams.{name}: must be >= 0, got {p[name]}")

    def unit_interval(name):
        if not 0.0 <= p[name] <= 1.0:
            raise ValueError(f"EnvParams.{name}: must be a probability/weight in [0, 1], got {p[name]}")

    for name in ("horizon", "dt", "order_size", "inventory_limit", "kappa", "competitive_distance"):
        positive(name)
    for name in (
        "sigma",
        "jump_rate",
        "jump_std",
        "signal_reversion",
        "signal_vol",
        "arrival_rate",
        "tick_size",
        "liquidation_penalty",
        "order_change_cost",
    ):
        non_negative(name)
    for name in ("vol_ewma", "flow_ewma"):
        unit_interval(name)
    if 0 < p["tick_size"] < MIN_TICK:  # prices / tick would overflow float32 and put NaN into the cash
        raise ValueError(f"EnvParams.tick_size: must be 0 (continuous prices) or >= {MIN_TICK:g}, got {p['tick_size']}")
    if p["dt"] >= p["horizon"]:
        raise ValueError(f"EnvParams.dt: must be < horizon ({p['horizon']}), got {p['dt']}")
    steps = p["horizon"] / p["dt"]
    if abs(steps - round(steps)) > 1e-6 * steps:
        raise ValueError(f"EnvParams.dt: horizon / dt must be a whole number of steps, got {steps}")
    if p["arrival_rate"] * p["dt"] > 1.0:
        raise ValueError(
            f"EnvParams.arrival_rate: arrival probability per step arrival_rate * dt must be <= 1, "
            f"got {p['arrival_rate']} * {p['dt']} = {p['arrival_rate'] * p['dt']}"
        )
    if p["jump_rate"] * p["dt"] > 1.0:
        raise ValueError(f"EnvParams.jump_rate: jump_rate * dt must be <= 1, got {p['jump_rate'] * p['dt']}")
    if p["inventory_limit"] < p["order_size"] * config.max_lots:
        raise ValueError(
            f"EnvParams.inventory_limit: must be >= order_size * max_lots = {p['order_size'] * config.max_lots}, "
            f"got {p['inventory_limit']}"
        )
    if abs(p["initial_inventory"]) > p["inventory_limit"]:
        raise ValueError(f"EnvParams.initial_inventory: |q0| must be <= inventory_limit, got {p['initial_inventory']}")
    latency = p["latency"]
    if latency != int(latency) or not 0 <= latency <= config.max_latency:
        raise ValueError(
            f"EnvParams.latency: must be a whole number of steps in [0, EnvConfig.max_latency={config.max_latency}], "
            f"got {latency}"
        )
    for part, name in MODEL_PARTS.items():
        if p[name] != 0 and part not in config.model_parts:
            raise ValueError(
                f"EnvParams.{name}: {p[name]} turns on the model part {part!r}, which "
                f"EnvConfig.model_parts={list(config.model_parts)} compiles out"
            )
    vol = np.asarray(params.regime_vol, dtype=float)
    trans = np.asarray(params.regime_transition, dtype=float)
    r = config.n_regimes
    if vol.shape != (r,):
        raise ValueError(f"EnvParams.regime_vol: shape must be ({r},) for n_regimes={r}, got {vol.shape}")
    if not np.all(np.isfinite(vol)) or np.any(vol < 0):
        raise ValueError(f"EnvParams.regime_vol: multipliers must be finite and >= 0, got {vol.tolist()}")
    if trans.shape != (r, r):
        raise ValueError(f"EnvParams.regime_transition: shape must be ({r}, {r}), got {trans.shape}")
    if not np.all(np.isfinite(trans)) or np.any(trans < 0) or np.any(trans > 1):
        raise ValueError(f"EnvParams.regime_transition: probabilities must lie in [0, 1], got {trans.tolist()}")
    if not np.allclose(trans.sum(axis=1), 1.0, atol=1e-5):
        raise ValueError(f"EnvParams.regime_transition: rows must sum to 1, got row sums {trans.sum(axis=1).tolist()}")
