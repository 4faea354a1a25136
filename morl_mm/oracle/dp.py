"""Exact backward induction on (time, inventory[, regime]) and exact evaluation of table policies.

``solve`` maximises the expected scalarised return sum_i w_i J_i / scale_i (the project's
convention: weights on the simplex apply to objectives normalised by
``morl_mm.env.scales.reference_scales``) over every policy of the discretised model; see
:mod:`morl_mm.oracle.model` for when that is exact. The backward pass carries the *vector* value
of the greedy policy, so the expected objective vector of the optimum comes out of the same pass
(the exact policy evaluation of the optimal table). ``evaluate`` runs the same pass for a given
table. Both run in float64 (``jax.enable_x64`` inside the call) under ``jit`` with ``lax.scan``
backwards over time; ``solve_many`` vmaps over weights.

Action tables hold joint indices a = i_bid * (M + 1) + i_ask over the oracle's depth grid of M
depths, index M meaning "off" — in discrete mode exactly the env's action index. Tables have shape
(n_steps, Q, R): Q inventories (``inventory_grid``) and R volatility regimes (R = 1 without regimes).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from morl_mm.env.market import MarketMakingEnv
from morl_mm.env.params import EnvParams
from morl_mm.env.scales import resolve_scales
from morl_mm.oracle.model import DiscreteModel, build_model
from morl_mm.oracle.search import best_pair, best_pair_full, envelope_lines
from morl_mm.scalarisation import scalarise, validate_weights


class OracleSolution(NamedTuple):
    """The optimal policy of one preference weight and its exact expected objectives."""

    objectives: tuple[str, ...]
    weights: np.ndarray  # (K,) on the simplex
    scales: np.ndarray  # (K,) normalisation: the scalarised reward is sum_k weights_k r_k / scales_k
    action_table: np.ndarray  # (T, Q, R) int32 joint action index i_bid * (M + 1) + i_ask
    depth_grid: np.ndarray  # (M,) per-side depths; index M = off
    inventory_grid: np.ndarray  # (Q,)
    value: np.ndarray  # (T + 1, Q, R) optimal scalarised (normalised) value-to-go
    objective_values: np.ndarray  # (K,) expected episode sums from the initial state, raw units
    action_mode: str

    @property
    def quote_depths(self) -> np.ndarray:
        """(T, Q, R, 2) bid/ask depth of each table entry (nan where the side is off)."""
        return table_quotes(self.action_table, self.depth_grid)[0]

    @property
    def quote_on(self) -> np.ndarray:
        """(T, Q, R, 2) whether the bid/ask is quoted."""
        return table_quotes(self.action_table, self.depth_grid)[1]

    @property
    def scalarised_value(self) -> float:
        """Expected scalarised return of the optimum from the initial state."""
        return float(scalarise(self.objective_values, self.weights, self.scales))


def table_quotes(action_table, depth_grid) -> tuple[np.ndarray, np.ndarray]:
    """Split joint indices into per-side depths (nan when off) and on-flags, last axis (bid, ask)."""
    table, grid = np.asarray(action_table), np.asarray(depth_grid, np.float64)
    m = grid.size
    sides = np.stack([table // (m + 1), table % (m + 1)], axis=-1)
    on = sides < m
    return np.where(on, grid[np.minimum(sides, m - 1)], np.nan), on


# -- the backward pass (pure JAX) ---------------------------------------------------------------------
def _device_model(model: DiscreteModel):
    keys = (
        "inventory_grid",
        "bid_open",
        "ask_open",
        "fill_bid",
        "fill_ask",
        "side_bid",
        "side_ask",
        "linear",
        "quadratic",
        "transition",
        "terminal",
    )
    device = {k: jnp.asarray(getattr(model, k), jnp.float64) for k in keys}
    # a quote's reward and fill where its side is open (the banded search's lines, see search.envelope_lines)
    quoted = np.argmax(model.bid_open * model.ask_open)  # an inventory with both sides open
    device["quote_bid"] = jnp.asarray(model.side_bid[:, quoted], jnp.float64)  # (K, R, M+1)
    device["quote_ask"] = jnp.asarray(model.side_ask[:, quoted], jnp.float64)
    device["quote_fill"] = jnp.asarray(model.fill_bid[quoted], jnp.float64)  # (M+1,), the same on both sides
    return device


def _step_parts(m, value_next):
    """Per-objective pieces of the expected reward + continuation of every joint action.

    value_next: (K, Q, R) vector value after the step. Returns W (K, Q, R), G_bid / G_ask
    (K, Q, R, M+1) and beta (K, Q, R); the joint action (i, j) is worth
    W + G_bid[i] + G_ask[j] + beta * fill_bid[i] * fill_ask[j].
    """
    w, up, down = _continuation(m, value_next)
    g_bid = m["side_bid"] + m["fill_bid"][None, :, None, :] * (up - w)[..., None]
    g_ask = m["side_ask"] + m["fill_ask"][None, :, None, :] * (down - w)[..., None]
    return w, g_bid, g_ask, 2 * w - up - down


def _continuation(m, value_next):
    """W(q'), W(q' + s), W(q' - s) (K, Q, R): expected reward terms of the post-fill inventory plus the
    regime-averaged next value (value_next (K, Q, R))."""
    q = m["inventory_grid"][None, :, None]
    # regime r of this step sets the risk; the next regime r' ~ transition[r]
    w = (
        jnp.einsum("kqs,rs->kqr", value_next, m["transition"])
        + m["linear"][:, None, None] * q
        + m["quadratic"][:, None, :] * q**2
    )
    up = jnp.concatenate([w[:, 1:], w[:, -1:]], axis=1)  # W(q + s); the edge is never filled into
    down = jnp.concatenate([w[:, :1], w[:, :-1]], axis=1)  # W(q - s)
    return w, up, down


def _scalar_step_parts(m, coef, lines, w, up, down):
    """:func:`_scalarise` of :func:`_step_parts`, action-major (G_bid / G_ask (M+1, Q, R)), without the
    per-objective (K, Q, R, M+1) arrays: the quote lines ``lines`` = coef . (side_bid, side_ask)
    (M+1, Q, R) are fixed per weight, only the continuation moves. Equal to it up to rounding."""
    scalar = lambda x: jnp.tensordot(coef, x, axes=1)  # noqa: E731
    g_bid = lines[0] + m["fill_bid"].T[:, :, None] * scalar(up - w)[None]
    g_ask = lines[1] + m["fill_ask"].T[:, :, None] * scalar(down - w)[None]
    return scalar(w), g_bid, g_ask, scalar(2 * w - up - down)


def _value_of_choice(m, w, up, down, i_bid, i_ask):
    """:func:`_value_of` from the continuation (:func:`_continuation`): the same numbers, picking the
    chosen quotes before the arithmetic."""
    pick = lambda x, i: jnp.take_along_axis(x, i[..., None], axis=-1)[..., 0]  # noqa: E731
    f_bid = jnp.take_along_axis(m["fill_bid"], i_bid, axis=-1)  # (Q, R)
    f_ask = jnp.take_along_axis(m["fill_ask"], i_ask, axis=-1)
    g_bid = pick(m["side_bid"], i_bid[None]) + f_bid * (up - w)
    g_ask = pick(m["side_ask"], i_ask[None]) + f_ask * (down - w)
    return w + g_bid + g_ask + (2 * w - up - down) * f_bid * f_ask


def _value_of(m, parts, i_bid, i_ask):
    """(K, Q, R) vector value of the per-(q, r) side choices i_bid, i_ask (Q, R)."""
    w, g_bid, g_ask, beta = parts
    pick = lambda x, i: jnp.take_along_axis(x, i[..., None], axis=-1)[..., 0]  # noqa: E731
    n_regimes = w.shape[-1]
    f_bid = pick(jnp.repeat(m["fill_bid"][:, None, :], n_regimes, 1), i_bid)
    f_ask = pick(jnp.repeat(m["fill_ask"][:, None, :], n_regimes, 1), i_ask)
    return w + pick(g_bid, i_bid[None]) + pick(g_ask, i_ask[None]) + beta * f_bid * f_ask


def _scalarise(coef, parts):
    """The parts of :func:`_step_parts` scalarised by ``coef`` (K,): W (Q, R), G_bid / G_ask (Q, R, M+1), beta."""
    return tuple(jnp.tensordot(coef, x, axes=1) for x in parts)


def _joint_values(m, scalar_parts):
    """(Q, R, M+1, M+1) scalarised value of every joint action (i, j) (the plain solver maximises it
    without forming it; the robust one minimises it over the adversary's models first)."""
    w, g_bid, g_ask, beta = scalar_parts
    return (
        w[..., None, None]
        + g_bid[..., :, None]
        + g_ask[..., None, :]
        + beta[..., None, None] * m["fill_bid"][:, None, :, None] * m["fill_ask"][:, None, None, :]
    )


def _withdraw_blocked(m, i_bid, i_ask):
    """Write a side blocked by the inventory limit as "off" (it is withdrawn either way)."""
    n_side = m["fill_bid"].shape[-1]
    return (
        jnp.where(m["bid_open"][:, None] > 0, i_bid, n_side - 1),
        jnp.where(m["ask_open"][:, None] > 0, i_ask, n_side - 1),
    )


def _full_step(m, coef):
    """One backward step, every joint quote searched: value_next -> (i_bid, i_ask, vector value)."""

    def step(value_next):
        parts = _step_parts(m, value_next)
        i_bid, i_ask = _withdraw_blocked(m, *best_pair_full(m, _scalarise(coef, parts)))
        return i_bid, i_ask, _value_of(m, parts, i_bid, i_ask)

    return step


def _banded_step(m, coef, bands):
    """The same step, lean: the weight's quote lines and envelopes once, then a banded search
    (:func:`morl_mm.oracle.search.best_pair`); the same tables as :func:`_full_step`."""
    envelopes = tuple(
        envelope_lines(jnp.tensordot(coef, m[k], axes=1), m["quote_fill"]) for k in ("quote_bid", "quote_ask")
    )
    lines = tuple(jnp.moveaxis(jnp.tensordot(coef, m[k], axes=1), -1, 0) for k in ("side_bid", "side_ask"))

    def step(value_next):
        w, up, down = _continuation(m, value_next)
        i_bid, i_ask = best_pair(m, envelopes, _scalar_step_parts(m, coef, lines, w, up, down), bands)
        i_bid, i_ask = _withdraw_blocked(m, i_bid, i_ask)
        return i_bid, i_ask, _value_of_choice(m, w, up, down, i_bid, i_ask)

    return step


def _solve_core(m, coef, n_steps, bands=None):
    """Backward induction for the scalarised reward coef . r; returns (tables, vector values)."""
    n_side = m["fill_bid"].shape[-1]
    step = _full_step(m, coef) if bands is None else _banded_step(m, coef, bands)

    def backward(value_next, _):
        i_bid, i_ask, value = step(value_next)
        return value, (i_bid * n_side + i_ask, value)

    _, (tables, values) = jax.lax.scan(backward, m["terminal"], None, length=n_steps, reverse=True)
    return tables.astype(jnp.int32), jnp.concatenate([values, m["terminal"][None]], axis=0)


@functools.partial(jax.jit, static_argnames=("n_steps", "bands"))
def _solve_batch(m, coefs, n_steps, bands=None):
    """_solve_core over the rows of coefs (W, K): vmapped for the full search; one weight after the other
    (``lax.map``) for the banded one, whose per-step fallback to the full search is then a real branch."""
    if bands is None:
        return jax.vmap(lambda coef: _solve_core(m, coef, n_steps))(coefs)
    return jax.lax.map(lambda coef: _solve_core(m, coef, n_steps, bands), coefs)


@jax.jit
def _evaluate_core(m, tables):
    n_side = m["fill_bid"].shape[-1]

    def backward(value_next, table):
        value = _value_of(m, _step_parts(m, value_next), table // n_side, table % n_side)
        return value, value

    _, values = jax.lax.scan(backward, m["terminal"], tables, reverse=True)
    return jnp.concatenate([values, m["terminal"][None]], axis=0)


# -- public API ----------------------------------------------------------------------------------------
SEARCH_BANDS = (48, 128)
"""Window sizes (actions per side) of the banded joint-quote search (:mod:`morl_mm.oracle.search`);
grids of more than twice the first (the continuous mode's 251 depths) use it, smaller ones search
every pair."""


class Solver:
    """Solves one model at many weights: checks exactness, resolves the scales and builds the
    model once, then ``solver(weights (W, K)) -> list[OracleSolution]`` (see :func:`solve`).

    ``search`` picks how each step finds the best joint quote: ``"full"`` over every (bid, ask) pair,
    ``"banded"`` over windows of ``SEARCH_BANDS`` actions per side that provably hold the full
    search's choice (falling back to the full search at a step where it cannot be shown; needs the
    depths in increasing order), ``"auto"`` (default) banded on increasing grids of more than
    ``2 * SEARCH_BANDS[0]`` depths. The tables are the same (:mod:`morl_mm.oracle.search`).
    """

    def __init__(
        self,
        env: MarketMakingEnv,
        params: EnvParams,
        scales=None,
        depth_grid=None,
        batch_size: int = 8,
        search: str = "auto",
    ):
        if search not in ("auto", "full", "banded"):
            raise ValueError(f"search: expected 'auto', 'full' or 'banded', got {search!r}")
        self.env, self.batch_size = env, int(batch_size)
        self.scales = resolve_scales(env, params, scales)
        self.model = build_model(env, params, depth_grid)
        n_side = self.model.depth_grid.size + 1
        increasing = bool(np.all(np.diff(self.model.depth_grid) > 0))  # the banded search's tie-break needs it
        if search == "banded" and not increasing:
            raise ValueError(
                f"search='banded': needs a depth grid in increasing order, got {self.model.depth_grid.tolist()}"
            )
        banded = search == "banded" or (search == "auto" and increasing and n_side > 2 * SEARCH_BANDS[0])
        self.bands = (tuple(b for b in SEARCH_BANDS if b < n_side) or (n_side,)) if banded else None
        with jax.enable_x64(True):
            self._device = _device_model(self.model)

    def __call__(self, weights) -> list[OracleSolution]:
        env, model, scales, size = self.env, self.model, self.scales, self.batch_size
        weights = validate_weights(np.atleast_2d(weights), env.num_objectives)
        solutions = []
        with jax.enable_x64(True):
            for start in range(0, len(weights), size):
                chunk = weights[start : start + size]
                # pad a short last batch (one compiled shape per call pattern), drop the padding after
                padded = chunk if len(weights) <= size else np.resize(chunk, (size, chunk.shape[1]))
                coefs = jnp.asarray(padded / scales, jnp.float64)
                solved = _solve_batch(self._device, coefs, model.n_steps, self.bands)
                tables, values = (np.asarray(x)[: len(chunk)] for x in solved)
                for w, table, vector in zip(chunk, tables, values):  # vector: (T + 1, K, Q, R)
                    solutions.append(
                        OracleSolution(
                            objectives=env.objectives,
                            weights=w,
                            scales=scales,
                            action_table=table,
                            depth_grid=model.depth_grid,
                            inventory_grid=model.inventory_grid,
                            value=np.tensordot(w / scales, vector, axes=([0], [1])),
                            objective_values=vector[0, :, model.initial_index, 0],
                            action_mode=env.config.action_mode,
                        )
                    )
        return solutions


def solve_many(
    env: MarketMakingEnv, params: EnvParams, weights, scales=None, depth_grid=None, batch_size: int = 8
) -> list[OracleSolution]:
    """:func:`solve` for each row of ``weights`` (W, K), vmapped in batches of ``batch_size``."""
    validate_weights(np.atleast_2d(weights), env.num_objectives)
    return Solver(env, params, scales, depth_grid, batch_size)(weights)


def solve(env: MarketMakingEnv, params: EnvParams, weights, scales=None, depth_grid=None) -> OracleSolution:
    """The exact optimum of the scalarised objective sum_k weights_k J_k / scales_k.

    ``weights`` (K,) must lie on the simplex; ``scales`` default to ``reference_scales(env, params)``;
    ``depth_grid`` chooses the per-side depths in continuous mode (default: 0 to ``max_depth`` in
    steps of ``CONTINUOUS_DEPTH_STEP``); discrete mode always uses the env's grid. Raises
    ``OracleNotExactError`` when the model is not exactly solvable (see :mod:`morl_mm.oracle.model`).
    """
    w = validate_weights(weights, env.num_objectives)
    if w.ndim != 1:
        raise ValueError(f"weights: solve takes one weight vector, got shape {w.shape}; use solve_many")
    return solve_many(env, params, w[None], scales, depth_grid)[0]


def checked_table(env: MarketMakingEnv, model: DiscreteModel, action_table) -> np.ndarray:
    """``action_table`` (T, Q) or (T, Q, R) checked against ``model`` (shape, joint indices), as (T, Q, R)."""
    table = np.asarray(action_table)
    n_regimes = env.config.n_regimes
    if table.ndim == 2:
        table = np.repeat(table[..., None], n_regimes, axis=-1)
    expected = (model.n_steps, model.inventory_grid.size, n_regimes)
    if table.shape != expected:
        raise ValueError(f"action_table: need shape {expected} (steps, inventories, regimes), got {table.shape}")
    n_actions = (model.depth_grid.size + 1) ** 2
    if not np.issubdtype(table.dtype, np.integer) or table.min() < 0 or table.max() >= n_actions:
        raise ValueError(
            f"action_table: needs integer joint indices in [0, {n_actions}), got dtype {table.dtype}, "
            f"range [{table.min()}, {table.max()}]"
        )
    return table


def evaluate(env: MarketMakingEnv, params: EnvParams, action_table, depth_grid=None, return_table: bool = False):
    """Exact expected objective vector (raw units, from the initial state) of a table policy.

    ``action_table`` (T, Q) or (T, Q, R) holds joint action indices over the oracle's depth grid
    (``depth_grid``, as in :func:`solve`); a policy that ignores the regime may omit the R axis. With
    ``return_table`` also returns the vector value-to-go (T + 1, K, Q, R).
    """
    model = build_model(env, params, depth_grid)
    table = checked_table(env, model, action_table)
    with jax.enable_x64(True):
        values = np.asarray(_evaluate_core(_device_model(model), jnp.asarray(table, jnp.int32)))
    result = values[0, :, model.initial_index, 0]
    return (result, values) if return_table else result
