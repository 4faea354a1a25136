"""The discretised market model as the exact dynamic programme sees it.

The oracle works on the state (time step t, inventory q[, volatility regime r]). That state is
sufficient, and the expectations below are exact expectations of ``MarketMakingEnv.step_env``,
only when the model has no hidden state and no rounding:

* ``EnvParams.signal_vol == 0``: the order-flow signal stays 0 (``flow_sensitivity`` is then moot);
* ``EnvParams.latency == 0``: the action takes effect at once;
* ``EnvParams.tick_size == 0``: the fill probability does not depend on the mid;
* ``EnvConfig.max_lots == 1``: one lot per side;
* ``EnvConfig.negative_depth`` off: the oracle's depths start at the mid;
* objectives among ``pnl``, ``inventory_risk``, ``quoting_ratio`` and ``adverse_selection``
  (``order_management`` depends on the previous quote, which is not in the state).

Anything else raises :class:`OracleNotExactError` (a ``ValueError``) naming the field. Drift, fees,
jumps, adverse impact, the liquidation penalty, binary mid noise and regimes are all exact.

Per side the step has three outcomes: no market order (1 - p), an order that misses the quote
(p - f) and a fill (f), with p = A dt and f = p exp(-kappa delta) (0 when the side is off or
blocked by the inventory limit). The two sides are independent, so the expected reward plus
continuation of a joint action is, per objective,

    W(q) + G_bid(i) + G_ask(j) + beta(q) f_bid(i) f_ask(j),

with W(q') the continuation of the post-fill inventory q' (inventory risk, drift and the
regime-averaged next value are functions of q'), G the per-side terms and beta the second
difference of W. This module computes every piece that does not depend on the value function.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy.stats import norm

from morl_mm.env.market import MarketMakingEnv
from morl_mm.env.params import EnvParams, n_steps

EXACT_OBJECTIVES = ("pnl", "inventory_risk", "quoting_ratio", "adverse_selection")

CONTINUOUS_DEPTH_STEP = 0.02
"""Continuous mode: the oracle's default per-side depth grid is 0, 0.02, ..., max_depth (plus "off")."""

FIRM_TOLERANCE = 1e-6  # the env's slack in ``depth <= competitive_distance``


class OracleNotExactError(ValueError):
    """The model has a feature that the (time, inventory[, regime]) dynamic programme cannot represent exactly."""


class QuoteTerms(NamedTuple):
    """What a quote earns on one side in one step, at any depth: the quote-dependent part of the model.

    A side quoted at depth d (``on`` = 1) fills with probability ``arrival * exp(-kappa d)`` and is
    firm when d <= ``competitive_distance``; its expected reward is ``fill * (per_fill + per_fill_depth
    * d) + firm * per_firm`` per objective (see :func:`quote_side`). Grid or no grid, the same numbers.
    """

    arrival: float  # p = A dt: probability of a market order on the side
    kappa: float
    competitive_distance: float
    per_fill: np.ndarray  # (2, K, R) reward per fill that does not depend on the depth, bid and ask
    per_fill_depth: np.ndarray  # (K,) reward per fill per unit of depth (pnl: the spread income)
    per_firm: np.ndarray  # (K,) reward of a firm side (quoting_ratio)


def quote_side(terms: QuoteTerms, side: int, depth, on, xp=np):
    """``(fill, reward)`` of one side (0 bid, 1 ask) quoted at ``depth`` with flag ``on`` (same shape S):
    its fill probability (S) and expected reward (K, R, *S). ``xp`` is numpy or jax.numpy (jittable)."""
    fill = terms.arrival * xp.exp(-terms.kappa * depth) * on
    firm = on * (depth <= terms.competitive_distance + FIRM_TOLERANCE)
    expand = (Ellipsis,) + (None,) * xp.ndim(depth)
    reward = (
        fill * (terms.per_fill[side][expand] + terms.per_fill_depth[:, None][expand] * depth)
        + firm * terms.per_firm[:, None][expand]
    )
    return fill, reward


def side_arrays(terms: QuoteTerms, side: int, open_, depth, on, xp=np):
    """:func:`quote_side` at every inventory: ``(fill (Q, S), reward (K, Q, R, S))``, zero where a fill of
    this side would breach the inventory limit (``open_`` (Q,) is 0 there); ``depth``, ``on`` (S,)."""
    fill, reward = quote_side(terms, side, depth, on, xp)
    return fill[None] * open_[:, None], reward[:, None] * open_[None, :, None, None]


class DiscreteModel(NamedTuple):
    """Arrays of the dynamic programme (float64 numpy); K objectives, Q inventories, R regimes, M depths.

    Per-side action index i in 0..M: depth_grid[i] for i < M, "off" for i = M.
    """

    inventory_grid: np.ndarray  # (Q,) reachable inventories q0 + k * order_size within the limit
    depth_grid: np.ndarray  # (M,)
    bid_open: np.ndarray  # (Q,) 1 where a bid fill stays within the inventory limit
    ask_open: np.ndarray  # (Q,)
    fill_bid: np.ndarray  # (Q, M+1) fill probability of the bid at inventory q
    fill_ask: np.ndarray  # (Q, M+1)
    side_bid: np.ndarray  # (K, Q, R, M+1) expected per-side reward that does not depend on q'
    side_ask: np.ndarray  # (K, Q, R, M+1)
    linear: np.ndarray  # (K,) reward term linear in q' (expected mid move: pnl)
    quadratic: np.ndarray  # (K, R) reward term quadratic in q' (inventory risk of the regime)
    transition: np.ndarray  # (R, R) regime transition matrix
    terminal: np.ndarray  # (K, Q, R) value after the last step (liquidation penalty on pnl)
    initial_index: int  # index of initial_inventory in inventory_grid (the episode starts in regime 0)
    n_steps: int
    quote_terms: QuoteTerms  # side_bid / side_ask at any depth (the robust oracle's adversary in rollouts)


def check_exact(env: MarketMakingEnv, params: EnvParams) -> None:
    """Raise :class:`OracleNotExactError` naming the first field that breaks exactness (see module doc)."""
    env.validate(params)
    if float(params.signal_vol) != 0.0:
        raise OracleNotExactError(
            f"EnvParams.signal_vol: the order-flow signal is hidden state; the oracle needs 0, "
            f"got {float(params.signal_vol)}"
        )
    if int(params.latency) != 0:
        raise OracleNotExactError(
            f"EnvParams.latency: queued quotes are hidden state; the oracle needs 0, got {int(params.latency)}"
        )
    if float(params.tick_size) != 0.0:
        raise OracleNotExactError(
            f"EnvParams.tick_size: tick rounding makes fills depend on the mid; the oracle "
            f"needs 0, got {float(params.tick_size)}"
        )
    if env.config.negative_depth:
        raise OracleNotExactError(
            "EnvConfig.negative_depth: the oracle's depth grid starts at the mid (0); "
            "quotes through the mid are not in it"
        )
    if env.config.max_lots != 1:
        raise OracleNotExactError(f"EnvConfig.max_lots: the oracle quotes one lot per side, got {env.config.max_lots}")
    bad = [o for o in env.config.objectives if o not in EXACT_OBJECTIVES]
    if bad:
        raise OracleNotExactError(
            f"EnvConfig.objectives: {bad} depend(s) on the previous quote; the oracle supports {list(EXACT_OBJECTIVES)}"
        )


def action_depth_grid(env: MarketMakingEnv, depth_grid=None) -> np.ndarray:
    """The per-side depths the oracle optimises over: the env's grid in discrete mode, a fine grid
    (``CONTINUOUS_DEPTH_STEP`` from 0 to ``max_depth``) or the given ``depth_grid`` in continuous mode."""
    cfg = env.config
    if cfg.action_mode == "discrete":
        if depth_grid is not None and not np.allclose(np.asarray(depth_grid, float), cfg.depth_grid):
            raise ValueError(
                f"depth_grid: discrete mode optimises over the env's grid {cfg.depth_grid}; "
                f"got {list(np.asarray(depth_grid))}"
            )
        return np.asarray(cfg.depth_grid, np.float64)
    if depth_grid is None:
        steps = int(math.floor(cfg.max_depth / CONTINUOUS_DEPTH_STEP + 1e-9))
        return np.round(np.arange(steps + 1) * CONTINUOUS_DEPTH_STEP, 10)
    grid = np.asarray(depth_grid, np.float64)
    if grid.ndim != 1 or grid.size == 0 or not np.all(np.isfinite(grid)):
        raise ValueError(f"depth_grid: needs a non-empty 1-d array of finite depths, got {depth_grid!r}")
    if np.any(grid < 0) or np.any(grid > cfg.max_depth):
        raise ValueError(f"depth_grid: depths must lie in [0, max_depth={cfg.max_depth}], got {grid.tolist()}")
    return grid


def inventory_grid(params: EnvParams) -> tuple[np.ndarray, int]:
    """Inventories reachable from ``initial_inventory`` in steps of ``order_size`` within the limit."""
    size, limit, q0 = float(params.order_size), float(params.inventory_limit), float(params.initial_inventory)
    eps = 1e-6 * limit  # the env's slack in the limit check
    below = int(math.floor((q0 + limit + eps) / size + 1e-9))
    above = int(math.floor((limit + eps - q0) / size + 1e-9))
    grid = q0 + size * np.arange(-below, above + 1, dtype=np.float64)
    return grid, below


def _positive_part_mean(mean, var):
    """E[max(X, 0)] for X ~ N(mean, var) (var may be 0)."""
    sd = np.sqrt(var)
    safe = np.where(sd > 0, sd, 1.0)
    gaussian = mean * norm.cdf(mean / safe) + sd * norm.pdf(mean / safe)
    return np.where(sd > 0, gaussian, np.maximum(mean, 0.0))


def _mid_move_mixture(env: MarketMakingEnv, params: EnvParams, sigma_step: float):
    """(weights, offsets, variances) of the mid move's noise + jump part as a Gaussian mixture."""
    p_jump = min(float(params.jump_rate) * float(params.dt), 1.0)
    jm, jv = float(params.jump_mean), float(params.jump_std) ** 2
    if env.config.mid_noise == "gaussian":
        return (np.array([1 - p_jump, p_jump]), np.array([0.0, jm]), np.array([sigma_step**2, sigma_step**2 + jv]))
    half = 0.5 * np.array([1 - p_jump, 1 - p_jump, p_jump, p_jump])
    return half, np.array([sigma_step, -sigma_step, sigma_step + jm, -sigma_step + jm]), np.array([0, 0, jv, jv])


def expected_positive_part(env, params, sigma_step: float, shift: float, sign: float) -> float:
    """E[max(shift + sign * (noise + jump), 0)]: an adverse mid move's expected size (adverse_selection)."""
    w, off, var = _mid_move_mixture(env, params, sigma_step)
    return float(np.sum(w * _positive_part_mean(shift + sign * off, var)))


def build_model(env: MarketMakingEnv, params: EnvParams, depth_grid=None) -> DiscreteModel:
    """Check exactness and compute every value-independent array of the dynamic programme."""
    check_exact(env, params)
    cfg = env.config
    depths = action_depth_grid(env, depth_grid)
    qs, q_index = inventory_grid(params)
    n_regimes = cfg.n_regimes
    dt, size, limit = float(params.dt), float(params.order_size), float(params.inventory_limit)
    eps = 1e-6 * limit
    p = min(max(float(params.arrival_rate) * dt, 0.0), 1.0)  # same on both sides: the signal is off
    impact, fee = float(params.adverse_impact), float(params.maker_fee)

    on = np.append(np.ones(depths.size), 0.0)  # (M+1,)
    depth = np.append(depths, 0.0)
    bid_open = (qs + size <= limit + eps).astype(float)  # (Q,)
    ask_open = (qs - size >= -limit - eps).astype(float)

    sigmas = float(params.sigma) * np.asarray(params.regime_vol, np.float64)  # (R,)
    drift_step = float(params.drift) * dt
    mean_move = drift_step + min(float(params.jump_rate) * dt, 1.0) * float(params.jump_mean)
    steps = n_steps(params)
    n_obj = cfg.n_objectives
    per_fill, per_fill_depth, per_firm = np.zeros((2, n_obj, n_regimes)), np.zeros(n_obj), np.zeros(n_obj)
    linear, quadratic = np.zeros(n_obj), np.zeros((n_obj, n_regimes))
    terminal = np.zeros((n_obj, qs.size, n_regimes))
    for k, name in enumerate(cfg.objectives):
        if name == "pnl":
            # spread income and fees per fill; the impact of this side's own order, net of the other
            # side's (E[q' (arr_ask - arr_bid)] = q (p_a - p_b) - s f_b (1 - p_a) - s f_a (1 - p_b))
            per_fill[:, k] = -size * fee - impact * size * (1 - p)
            per_fill_depth[k] = size
            linear[k] = mean_move
            terminal[k] = -float(params.liquidation_penalty) * qs[:, None] ** 2
        elif name == "inventory_risk":
            quadratic[k] = -(sigmas**2) * dt
        elif name == "quoting_ratio":
            per_firm[k] = 0.5 / steps
        elif name == "adverse_selection":
            # a bid fill comes with a sell order (the mid falls by the impact) unless a buy order (prob p)
            # cancels it; E[max(-dS, 0)] for the bid, E[max(dS, 0)] for the ask
            for r, sigma in enumerate(sigmas):
                s = sigma * math.sqrt(dt)
                fall = p * expected_positive_part(env, params, s, -drift_step, -1.0) + (1 - p) * expected_positive_part(
                    env, params, s, -drift_step + impact, -1.0
                )
                rise = p * expected_positive_part(env, params, s, drift_step, 1.0) + (1 - p) * expected_positive_part(
                    env, params, s, drift_step + impact, 1.0
                )
                per_fill[:, k, r] = -size * fall, -size * rise
    terms = QuoteTerms(
        arrival=p,
        kappa=float(params.kappa),
        competitive_distance=float(params.competitive_distance),
        per_fill=per_fill,
        per_fill_depth=per_fill_depth,
        per_firm=per_firm,
    )
    fill_bid, side_bid = side_arrays(terms, 0, bid_open, depth, on)  # (Q, M+1), (K, Q, R, M+1)
    fill_ask, side_ask = side_arrays(terms, 1, ask_open, depth, on)
    return DiscreteModel(
        inventory_grid=qs,
        depth_grid=depths,
        bid_open=bid_open,
        ask_open=ask_open,
        fill_bid=fill_bid,
        fill_ask=fill_ask,
        side_bid=side_bid,
        side_ask=side_ask,
        linear=linear,
        quadratic=quadratic,
        transition=np.asarray(params.regime_transition, np.float64),
        terminal=terminal,
        initial_index=q_index,
        n_steps=steps,
        quote_terms=terms,
    )
