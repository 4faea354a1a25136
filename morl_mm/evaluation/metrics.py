"""Market-making metrics of evaluated episodes (units: price units, time units of the model, lots).

Read from a :class:`~morl_mm.env.rollout.Trajectory` (its ``info`` is the env's
:class:`~morl_mm.env.market.StepInfo`) and the :class:`EnvParams` it ran under. Step ``t``
(0-based) of an episode of ``T`` steps runs from time ``t dt`` to ``(t + 1) dt``:

* ``M_t``, the *fill-time mid*: the mid in force during step ``t``, at which quotes are placed
  (``M_0 = mid0``, then ``M_t = info.mid[t - 1]``); ``info.mid[t] = M_{t+1}`` is the mid after it.
* ``q_t = info.inventory[t]``: the inventory after step ``t``'s fills, held over its mid move
  (the one that ``inventory_risk`` charges).
* Wealth path ``W_0 = q0 * mid0`` (cash starts at 0), ``W_{t+1} = info.wealth[t]``; step PnL
  ``W_{t+1} - W_t`` equals the env's ``pnl`` reward, and ``W_T - W_0`` the episode's PnL.
* Side sign ``s = -1`` for the bid (the market maker buys) and ``s = +1`` for the ask (it sells).

Definitions (per unit traded, volume-weighted over an episode's fills; NaN if it has none):

* effective spread ``2 s (P - M_t)``: twice the fill's edge over the fill-time mid (its depth);
* realized spread ``2 s (P - M_{t+h})`` with ``h = markout_steps``: the round-trip revenue net of
  adverse selection, as in Huang & Stoll (1996) and the SEC Rule 605 liquidity-provider measure;
  the mark-out mid is ``info.mid[t + h - 1]`` (``M_t`` when ``h = 0``), clipped at the episode's
  last mid;
* price impact = effective - realized ``= 2 s (M_{t+h} - M_t)``, the adverse-selection cost;
* slippage ``s (M_{t-L} - M_t)`` with ``L = params.latency``: what the fill price gives away
  against the price the agent meant when it chose the quote ``L`` steps earlier (the same depth
  from the decision-time mid). Positive is a cost. Chosen because in this simulator a fill always
  happens exactly at the quoted depth from the current mid, so slippage against the fill-time mid is
  zero by construction; only latency (and the liquidation, reported apart) separates the intended
  and the realised price. It is 0 without latency.

Per episode also: the objective vector (episode sums of the reward), PnL, final and mean absolute
inventory, maximum drawdown of the wealth path, fills and fill rate per side (fill events per
unit time), quoting ratio per side (fraction of steps quoted within ``competitive_distance`` of
``M_t``, the env's firm-quote test) and the liquidation cost ``alpha q_T^2``. Across episodes:
Sharpe ratios, PnL quantiles and the distribution of inventory (see the summary functions).

The per-episode functions are pure JAX of one episode (time axis first): jit and vmap them; the
summaries are NumPy (float64) over a batch of episodes.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from morl_mm.env.params import EnvParams
from morl_mm.env.rollout import Trajectory
from morl_mm.evaluation.rollouts import scenario_count

SIDES = ("bid", "ask")
SIDE_SIGN = (-1.0, 1.0)  # the market maker buys on the bid, sells on the ask
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
DEFAULT_MARKOUT_STEPS = 10  # 0.05 time units at dt = 0.005: a few fills' worth of mid moves
FIRM_TOLERANCE = 1e-6  # the env's tolerance on the competitive-distance test


class EpisodeMetrics(NamedTuple):
    """Per-episode metrics (leading batch axes when vmapped). Units in the field comments."""

    objective_value: jnp.ndarray  # (n_objectives,) episode sums of the reward vector
    pnl: jnp.ndarray  # W_T - W_0, price units
    final_inventory: jnp.ndarray  # q_T, units
    mean_abs_inventory: jnp.ndarray  # mean over steps of |q_t|, units
    max_drawdown: jnp.ndarray  # max_t (max_{s<=t} W_s - W_t) >= 0, price units
    fills: jnp.ndarray  # (2,) fill events per side (bid, ask)
    traded_units: jnp.ndarray  # (2,) units bought on the bid, sold on the ask
    fill_rate: jnp.ndarray  # (2,) fill events per unit time, per side
    quoting_ratio: jnp.ndarray  # (2,) fraction of steps quoted within competitive_distance, per side
    realized_spread: jnp.ndarray  # per unit traded, price units (NaN without fills)
    effective_spread: jnp.ndarray  # per unit traded, price units (NaN without fills)
    price_impact: jnp.ndarray  # effective - realized spread, per unit traded, price units
    slippage: jnp.ndarray  # per unit traded, price units, positive = cost (NaN without fills)
    liquidation_cost: jnp.ndarray  # liquidation_penalty * q_T^2, price units
    invalid_actions: jnp.ndarray  # steps whose action the env flagged invalid (StepInfo.invalid_action)


def fill_time_mid(info, params: EnvParams) -> jnp.ndarray:
    """``M_t`` for every step of one episode, shape (T,): the mid at which step ``t``'s quotes rest."""
    return jnp.concatenate([jnp.asarray(params.mid0, info.mid.dtype)[None], info.mid[:-1]])


def wealth_path(info, params: EnvParams) -> jnp.ndarray:
    """Mark-to-market wealth ``W_0 .. W_T`` of one episode, shape (T + 1,), price units."""
    initial = jnp.asarray(params.initial_inventory * params.mid0, info.wealth.dtype)
    return jnp.concatenate([initial[None], info.wealth])


def max_drawdown(wealth: jnp.ndarray) -> jnp.ndarray:
    """Largest fall of ``wealth`` (time on the last axis) from its running maximum; >= 0, its units."""
    wealth = jnp.asarray(wealth)
    return jnp.max(jax.lax.cummax(wealth, axis=wealth.ndim - 1) - wealth, axis=-1)


def _volume_weighted(values: jnp.ndarray, units: jnp.ndarray) -> jnp.ndarray:
    total = jnp.sum(units)
    return jnp.where(total > 0, jnp.sum(values * units) / jnp.where(total > 0, total, 1.0), jnp.nan)


def episode_metrics(traj: Trajectory, params: EnvParams, markout_steps: int = DEFAULT_MARKOUT_STEPS) -> EpisodeMetrics:
    """All per-episode metrics of one episode (arrays with the time axis first); see the module doc.

    ``markout_steps`` (a Python int >= 0) is the mark-out horizon ``h`` of the realized spread.
    """
    info = traj.info
    num_steps = info.mid.shape[0]
    mid = fill_time_mid(info, params)
    sign = jnp.asarray(SIDE_SIGN, mid.dtype)[:, None]
    units = jnp.stack([info.fill_bid, info.fill_ask])  # (2, T)
    filled = units > 0
    quoted_price = jnp.stack([info.bid_price, info.ask_price])  # NaN where the side is off
    price = jnp.where(filled, quoted_price, mid)  # keeps NaN out of the sums below

    steps = jnp.arange(num_steps)
    markout_mid = mid if markout_steps == 0 else info.mid[jnp.minimum(steps + markout_steps - 1, num_steps - 1)]
    decision_mid = mid[jnp.maximum(steps - jnp.asarray(params.latency, jnp.int32), 0)]
    effective = 2.0 * sign * (price - mid)
    realized = 2.0 * sign * (price - markout_mid)
    slippage = sign * (decision_mid - mid)

    depth = sign * (quoted_price - mid)
    firm = jnp.isfinite(quoted_price) & (depth <= params.competitive_distance + FIRM_TOLERANCE)
    fills = jnp.sum(filled, axis=1).astype(mid.dtype)
    wealth = wealth_path(info, params)
    final_inventory = info.inventory[-1]
    return EpisodeMetrics(
        objective_value=jnp.sum(traj.reward, axis=0),
        pnl=wealth[-1] - wealth[0],
        final_inventory=final_inventory,
        mean_abs_inventory=jnp.mean(jnp.abs(info.inventory)),
        max_drawdown=max_drawdown(wealth),
        fills=fills,
        traded_units=jnp.sum(units, axis=1),
        fill_rate=fills / (num_steps * params.dt),
        quoting_ratio=jnp.mean(firm.astype(mid.dtype), axis=1),
        realized_spread=_volume_weighted(realized, units),
        effective_spread=_volume_weighted(effective, units),
        price_impact=_volume_weighted(effective - realized, units),
        slippage=_volume_weighted(slippage, units),
        liquidation_cost=params.liquidation_penalty * final_inventory**2,
        invalid_actions=jnp.sum(jnp.asarray(info.invalid_action)).astype(mid.dtype),
    )


@functools.partial(jax.jit, static_argnames=("markout_steps", "batched_params"))
def _batch_metrics(traj, params, markout_steps, batched_params):
    per_episode = jax.vmap(lambda tr, p: episode_metrics(tr, p, markout_steps), in_axes=(0, None))
    if batched_params:
        return jax.vmap(per_episode, in_axes=(0, 0))(traj, params)
    return per_episode(traj, params)


def batch_metrics(traj: Trajectory, params: EnvParams, markout_steps: int = DEFAULT_MARKOUT_STEPS) -> EpisodeMetrics:
    """:func:`episode_metrics` of a batch ``(episodes, T)``, or ``(S, episodes, T)`` with ``params``
    a scenario batch of size S (as :func:`~morl_mm.evaluation.rollouts.evaluate_policy` returns)."""
    if isinstance(markout_steps, bool) or not isinstance(markout_steps, (int, np.integer)) or markout_steps < 0:
        raise ValueError(f"markout_steps must be an int >= 0, got {markout_steps!r}")
    count = scenario_count(params)
    batch_shape = traj.info.mid.shape[:-1]
    expected_ndim = 1 if count is None else 2
    if len(batch_shape) != expected_ndim or (count is not None and batch_shape[0] != count):
        raise ValueError(
            f"batch_metrics: trajectories of shape {traj.info.mid.shape} do not match params "
            f"(expected {'(episodes, T)' if count is None else f'({count}, episodes, T) for {count} scenarios'})"
        )
    return _batch_metrics(traj, params, int(markout_steps), count is not None)


# -- summaries across episodes (NumPy, float64) -------------------------------------------------------


def sharpe_ratio(returns) -> float:
    """mean / standard deviation (ddof 1) of all of ``returns``; NaN when the deviation is 0 or
    there are fewer than two values."""
    returns = np.ravel(np.asarray(returns, np.float64))
    std = returns.std(ddof=1) if returns.size > 1 else 0.0
    return float(returns.mean() / std) if std > 0 else float("nan")


def pnl_sharpe(episode_pnl) -> float:
    """Sharpe ratio of episode PnL across episodes: mean / std (ddof 1); dimensionless, per episode."""
    return sharpe_ratio(episode_pnl)


def step_sharpe(step_pnl, dt: float) -> float:
    """Sharpe ratio of per-step PnL pooled over all steps of all episodes, annualised by steps:
    ``mean / std * sqrt(1 / dt)``, i.e. per unit of model time (for T = 1, per episode horizon).
    Pooling treats the episodes as one long stream of steps, the usual daily-to-annual scaling."""
    return sharpe_ratio(step_pnl) * float(np.sqrt(1.0 / float(dt)))


def pnl_quantiles(episode_pnl, quantiles=QUANTILES) -> np.ndarray:
    """Quantiles (linear interpolation) of the episode PnL distribution, price units."""
    return np.quantile(np.asarray(episode_pnl, np.float64), np.asarray(quantiles, np.float64))


def inventory_moments(inventory) -> tuple[float, float, float]:
    """Mean, standard deviation (ddof 0) and skewness ``E[(q - mean)^3] / std^3`` of the inventory
    pooled over every step of every episode (the time-weighted inventory distribution); the
    skewness is NaN when the inventory never varies."""
    q = np.ravel(np.asarray(inventory, np.float64))
    mean = q.mean()
    std = q.std()
    skew = float(np.mean((q - mean) ** 3) / std**3) if std > 0 else float("nan")
    return float(mean), float(std), skew


def inventory_grid(params: EnvParams) -> np.ndarray:
    """Inventory levels a market maker can hold: multiples of ``order_size`` within
    ``+-inventory_limit`` (widest limit, finest size over a scenario batch), units."""
    # in float32, as the env holds them: a scenario batch (float32 arrays) and a single parameter set
    # (Python floats) give the same bins
    limit = float(np.max(np.asarray(params.inventory_limit, np.float32)))
    size = float(np.min(np.asarray(params.order_size, np.float32)))
    half = int(np.floor(limit / size + 1e-9))
    return size * np.arange(-half, half + 1, dtype=np.float64)


def inventory_histogram(inventory, grid) -> np.ndarray:
    """Fraction of steps (over all episodes) spent at each level of ``grid`` (evenly spaced); an
    inventory off the grid counts at the nearest level. Sums to 1."""
    grid = np.asarray(grid, np.float64)
    q = np.ravel(np.asarray(inventory, np.float64))
    spacing = grid[1] - grid[0] if grid.size > 1 else 1.0
    index = np.clip(np.rint((q - grid[0]) / spacing).astype(np.int64), 0, grid.size - 1)
    return np.bincount(index, minlength=grid.size) / q.size


def pooled_spread(spread, traded_units) -> float:
    """Volume-weighted mean across episodes of per-episode spreads (per unit traded; NaN where an
    episode had no fill), weighting each by its total ``traded_units``: the mean over all fills."""
    spread = np.ravel(np.asarray(spread, np.float64))
    units = np.ravel(np.asarray(traded_units, np.float64))
    has = units > 0
    return float(np.sum(spread[has] * units[has]) / np.sum(units[has])) if has.any() else float("nan")
