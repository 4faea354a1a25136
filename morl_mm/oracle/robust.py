"""The exact robust oracle: max-min backward induction against an adversary that sets the market's
params inside a box (:class:`morl_mm.env.adversary.AdversaryBox`) at every step.

The game (Spooner & Savani 2020, solved exactly on the discretised model). At every step the
market maker quotes from its state (t, q[, r]); the adversary sees that state *and the quote* and
picks the step's params v in the box; the step runs with them. It is zero-sum on the market
maker's scalarised reward sum_k w_k r_k / scale_k at the weight being solved, so

    V(t, q, r) = max_a min_v Q_v(t, q, r, a),    Q_v = expected reward + V(t + 1) under params v,

with a over the joint quote actions of the oracle's depth grid and v over the adversary's points:
the box's vertices (``resolution=2``) or a regular grid of the box, vertices included. Every point
has its own :class:`~morl_mm.oracle.model.DiscreteModel`, and the backward step is the plain
solver's (:mod:`morl_mm.oracle.dp`: ``_step_parts``, ``_value_of``) vmapped over the points, with
a min over them before the max over the quote. The pass carries the *vector* value of the max-min
table under its worst-case response (the point that minimises the scalarised Q_v of the table's
action; ties to the lowest index), so the objective vector of the max-min policy under its
worst-case adversary comes out of the same pass. :func:`evaluate_robust` runs the same pass for
any table (its own best-responding adversary).

Why the vertices. For a fixed quote and continuation, Q_v is

* linear in ``drift`` (pnl earns drift * dt * q'; ``adverse_selection`` is concave in it): exact;
* decreasing in ``sigma`` (inventory risk -(q' sigma)^2 dt; the adverse mark-out grows with the
  noise; the continuation does not see this step's sigma): exact, the adversary takes the top;
* a quadratic in ``arrival_rate`` (the fill probabilities are linear in A dt and the double-fill
  term beta f_bid f_ask is quadratic), convex where the continuation is concave in q (beta > 0),
* a sum of exponentials in ``kappa`` (one per side and one for the double fill),

and a function monotone or concave in every coordinate separately takes its minimum over a box at a
vertex. In A and kappa that fails: some quotes' minimum is interior (``tests/test_robust_oracle.py``
finds them). On the models checked none of the max-min quotes has one, and the max-min value
against a finer grid (``resolution`` > 2) equals the vertex game's to 1e-12 (the README's "Exact
robust front" gives the figures): a measured fact, not a theorem. The game is solved exactly for
the adversary's points given.

Weights apply to the objectives normalised by the *unperturbed* model's ``reference_scales``, so
plain and robust values are in the same units. Float64 throughout, as :mod:`morl_mm.oracle.dp`.

The robust front (:func:`robust_coverage_set`) is a weight-grid sweep, not optimistic linear
support: OLS needs V(w) = max over a w-independent set of vectors of w.v; here the adversary's
response depends on w, V(w) = max_pi min_sigma w.J(pi, sigma) is a max of concave functions of w
(neither convex nor piecewise linear), the optimistic LP bound does not hold and a point found at
one weight is no robust value at another.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from morl_mm.env.adversary import AdversaryBox
from morl_mm.env.market import MarketMakingEnv
from morl_mm.env.params import EnvParams
from morl_mm.oracle.ccs import DEFAULT_TOLERANCE, CoverageSet, _coverage_set, distinct_solutions
from morl_mm.oracle.dp import (
    OracleSolution,
    _device_model,
    _joint_values,
    _scalarise,
    _step_parts,
    _value_of,
    _withdraw_blocked,
    checked_table,
    resolve_scales,
)
from morl_mm.oracle.model import build_model, side_arrays
from morl_mm.pareto.indicators import simplex_weights
from morl_mm.scalarisation import validate_weights


class RobustSolution(NamedTuple):
    """A table policy, its worst-case (best-responding, per-step) adversary and its exact values."""

    solution: OracleSolution  # the table; .value: its robust scalarised value-to-go (T + 1, Q, R);
    # .objective_values: its expected objective vector under the worst-case adversary (raw units)
    box: AdversaryBox
    adversary_points: np.ndarray  # (V, d) the params the adversary chooses from (box.grid(resolution))
    response_table: np.ndarray  # (T, Q, R) int32 index into adversary_points: the response to the table
    vector_value: np.ndarray  # (T + 1, K, Q, R) vector value-to-go under that response

    @property
    def objective_values(self) -> np.ndarray:
        return self.solution.objective_values

    @property
    def scalarised_value(self) -> float:
        """Expected scalarised return from the initial state under the worst-case adversary."""
        return self.solution.scalarised_value

    @property
    def response_values(self) -> np.ndarray:
        """(T, Q, R, d) param values of the adversary's response (fields ``box.fields``)."""
        return self.adversary_points[self.response_table]


# -- the backward pass (pure JAX) ---------------------------------------------------------------------
def _worst_response(models, coef, parts, i_bid, i_ask):
    """Vector value (K, Q, R) of the side choices (Q, R) under the point (Q, R) minimising their scalar value."""
    values = jax.vmap(_value_of, (0, 0, None, None))(models, parts, i_bid, i_ask)  # (V, K, Q, R)
    response = jnp.argmin(jnp.tensordot(coef, values, axes=([0], [1])), axis=0)
    return jnp.take_along_axis(values, response[None, None], axis=0)[0], response


def _all_parts(models, value_next):
    return jax.vmap(_step_parts, (0, None))(models, value_next)


def _worst_joint_values(models, coef, parts):
    """(Q, R, M+1, M+1) min over the points of the scalarised value of every joint action.

    A running minimum under ``lax.scan`` over the points: on CPU ~20x faster than forming the
    (V, Q, R, M+1, M+1) tensor and reducing it."""

    def lower(worst, point):
        model, point_parts = point
        return jnp.minimum(worst, _joint_values(model, _scalarise(coef, point_parts))), None

    n_inv, n_regimes = parts[0].shape[-2:]
    n_side = models["fill_bid"].shape[-1]
    start = jnp.full((n_inv, n_regimes, n_side, n_side), jnp.inf, parts[0].dtype)
    return jax.lax.scan(lower, start, (models, parts))[0]


@functools.partial(jax.jit, static_argnames="n_steps")
def _robust_solve_core(models, coef, n_steps):
    """Max-min backward induction over the stacked models (V, ...): (tables, responses, vector values)."""
    first = jax.tree_util.tree_map(lambda x: x[0], models)
    n_side = first["fill_bid"].shape[-1]

    def backward(value_next, _):
        parts = _all_parts(models, value_next)
        worst = _worst_joint_values(models, coef, parts)
        # argmax over (i, j) as the plain solver does it (max over j first, no big argmax); ties to the lowest
        i_bid = jnp.argmax(worst.max(axis=-1), axis=-1)
        i_ask = jnp.argmax(jnp.take_along_axis(worst, i_bid[..., None, None], axis=-2)[..., 0, :], axis=-1)
        i_bid, i_ask = _withdraw_blocked(first, i_bid, i_ask)
        value, response = _worst_response(models, coef, parts, i_bid, i_ask)
        return value, (i_bid * n_side + i_ask, response, value)

    _, (tables, responses, values) = jax.lax.scan(backward, first["terminal"], None, length=n_steps, reverse=True)
    return tables.astype(jnp.int32), responses.astype(jnp.int32), jnp.concatenate([values, first["terminal"][None]])


@jax.jit
def _robust_evaluate_core(models, coef, tables):
    n_side = models["fill_bid"].shape[-1]

    def backward(value_next, table):
        value, response = _worst_response(models, coef, _all_parts(models, value_next), table // n_side, table % n_side)
        return value, (response, value)

    terminal = models["terminal"][0]
    _, (responses, values) = jax.lax.scan(backward, terminal, tables, reverse=True)
    return responses.astype(jnp.int32), jnp.concatenate([values, terminal[None]])


@jax.jit
def _one_step_values(models, coef, value_next):
    """(V, Q, R, M+1, M+1) scalarised Q_v of every point and joint action for a continuation (K, Q, R)."""
    parts = _all_parts(models, value_next)
    return jax.vmap(lambda m, p: _joint_values(m, _scalarise(coef, p)))(models, parts)


# -- public API ----------------------------------------------------------------------------------------
class RobustSolver:
    """Solves the max-min game of one model and box at many weights: checks the box, resolves the
    scales and builds one model per adversary point once; ``solver(weights (W, K))`` returns a list
    of :class:`RobustSolution` (see :func:`solve_robust`), ``solver.evaluate(table, weights)`` the
    exact value of any table against its own worst-case adversary."""

    def __init__(
        self,
        env: MarketMakingEnv,
        params: EnvParams,
        box: AdversaryBox,
        scales=None,
        depth_grid=None,
        resolution: int = 2,
    ):
        if not isinstance(box, AdversaryBox):
            raise ValueError(f"box: needs an AdversaryBox (see morl_mm.env.adversary.parse_adversary), got {box!r}")
        if box.mode != "step":
            raise ValueError(f"box: the robust oracle solves the per-step game; got mode {box.mode!r}")
        box.check(params, env.config)
        self.env, self.box = env, box
        self.scales = resolve_scales(env, params, scales)
        self.model = build_model(env, params, depth_grid)  # the unperturbed model: grids, initial state
        self.points = box.grid(resolution)
        self.models = [build_model(env, box.set_values(params, v), depth_grid) for v in self.points]
        with jax.enable_x64(True):
            self._device = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *map(_device_model, self.models))

    def _solution(self, weights, table, responses, vector) -> RobustSolution:
        scales, model = self.scales, self.model
        solution = OracleSolution(
            objectives=self.env.objectives,
            weights=weights,
            scales=scales,
            action_table=np.asarray(table),
            depth_grid=model.depth_grid,
            inventory_grid=model.inventory_grid,
            value=np.tensordot(weights / scales, vector, axes=([0], [1])),
            objective_values=vector[0, :, model.initial_index, 0],
            action_mode=self.env.config.action_mode,
        )
        return RobustSolution(solution, self.box, self.points, np.asarray(responses), vector)

    def __call__(self, weights) -> list[RobustSolution]:
        weights = validate_weights(np.atleast_2d(weights), self.env.num_objectives)
        solutions = []
        with jax.enable_x64(True):
            for w in weights:
                coef = jnp.asarray(w / self.scales, jnp.float64)
                table, responses, vector = (
                    np.asarray(x) for x in _robust_solve_core(self._device, coef, self.model.n_steps)
                )
                solutions.append(self._solution(w, table, responses, vector))
        return solutions

    def evaluate(self, action_table, weights) -> RobustSolution:
        """A table policy (as :func:`morl_mm.oracle.evaluate` takes it) against its own worst-case adversary."""
        w = validate_weights(weights, self.env.num_objectives)
        if w.ndim != 1:
            raise ValueError(f"weights: evaluate_robust takes one weight vector, got shape {w.shape}")
        table = checked_table(self.env, self.model, action_table)
        with jax.enable_x64(True):
            responses, vector = (
                np.asarray(x)
                for x in _robust_evaluate_core(
                    self._device, jnp.asarray(w / self.scales, jnp.float64), jnp.asarray(table, jnp.int32)
                )
            )
        return self._solution(w, table, responses, vector)

    def one_step_values(self, solution: RobustSolution, t: int) -> np.ndarray:
        """(V, Q, R, M+1, M+1) scalarised value Q_v of every adversary point and joint action at step ``t``,
        with ``solution``'s robust continuation (for checks of the inner minimum; V x 10 MB on the
        default continuous grid)."""
        coef = solution.solution.weights / self.scales
        with jax.enable_x64(True):
            return np.asarray(
                _one_step_values(
                    self._device, jnp.asarray(coef, jnp.float64), jnp.asarray(solution.vector_value[t + 1], jnp.float64)
                )
            )


def solve_robust(
    env: MarketMakingEnv,
    params: EnvParams,
    weights,
    box: AdversaryBox,
    scales=None,
    depth_grid=None,
    resolution: int = 2,
) -> RobustSolution:
    """The exact max-min table of the scalarised objective against a per-step adversary in ``box``.

    ``weights`` (K,) on the simplex (objectives normalised by ``scales``, default the unperturbed
    model's ``reference_scales``); ``depth_grid`` as in :func:`morl_mm.oracle.solve`; the adversary
    picks among ``box.grid(resolution)`` (2: the vertices). Returns the table, its robust value-to-go,
    the adversary's response table and the objective vector under it (see :class:`RobustSolution`).
    Raises ``OracleNotExactError`` when a model is not exactly solvable, ``ValueError`` on a bad box.
    """
    w = validate_weights(weights, env.num_objectives)
    if w.ndim != 1:
        raise ValueError(f"weights: solve_robust takes one weight vector, got shape {w.shape}")
    return RobustSolver(env, params, box, scales, depth_grid, resolution)(w[None])[0]


def evaluate_robust(
    env: MarketMakingEnv,
    params: EnvParams,
    action_table,
    weights,
    box: AdversaryBox,
    scales=None,
    depth_grid=None,
    resolution: int = 2,
) -> RobustSolution:
    """Exact value of any table policy (T, Q[, R]) against its own worst-case per-step adversary at ``weights``."""
    return RobustSolver(env, params, box, scales, depth_grid, resolution).evaluate(action_table, weights)


# -- the worst-case adversary in rollouts ------------------------------------------------------------------
class WorstCaseTables(NamedTuple):
    """Arrays of :func:`worst_case_values` (a pytree: stack several to vmap over weights)."""

    points: jnp.ndarray  # (V, d) the adversary's params
    coef: jnp.ndarray  # (K,) weights / scales
    vector_value: jnp.ndarray  # (T + 1, K, Q, R) robust vector value-to-go (the continuation)
    models: dict  # per-point model arrays, leading axis V (no depth grid: any quote)
    inventory_min: jnp.ndarray
    inventory_step: jnp.ndarray


def worst_case_tables(env: MarketMakingEnv, params: EnvParams, solution: RobustSolution) -> WorstCaseTables:
    """The arrays that let :func:`worst_case_values` answer any quote with ``solution``'s continuation."""
    models = [build_model(env, solution.box.set_values(params, v)) for v in solution.adversary_points]
    keys = ("inventory_grid", "bid_open", "ask_open", "linear", "quadratic", "transition")
    stacked = {k: np.stack([getattr(m, k) for m in models]) for k in keys}
    stacked["terms"] = jax.tree_util.tree_map(lambda *x: np.stack(x), *[m.quote_terms for m in models])
    qs = solution.solution.inventory_grid
    tables = WorstCaseTables(
        points=solution.adversary_points,
        coef=solution.solution.weights / solution.solution.scales,
        vector_value=solution.vector_value,
        models=stacked,
        inventory_min=qs[0],
        inventory_step=qs[1] - qs[0] if qs.size > 1 else 1.0,
    )
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float32), tables)


def worst_case_index(env: MarketMakingEnv, tables: WorstCaseTables, state, action, params: EnvParams):
    """Index of the adversary point that minimises the scalarised one-step value of the quote ``action``
    places in ``state``, with the robust continuation of ``tables`` (jittable; float32)."""
    placed = env.place_quote(state, action, params)
    n_times, _, n_inv, n_regimes = tables.vector_value.shape  # n_times = n_steps + 1
    t = jnp.clip(state.time, 0, n_times - 2)
    q = jnp.clip(jnp.round((state.inventory - tables.inventory_min) / tables.inventory_step), 0, n_inv - 1)
    r = jnp.clip(state.regime, 0, n_regimes - 1)
    value_next = tables.vector_value[t + 1]
    one = jnp.zeros((n_inv, n_regimes), jnp.int32)  # the placed quote is the only action

    def scalar_value(m):
        fill_bid, side_bid = side_arrays(m["terms"], 0, m["bid_open"], placed.depth[:1], placed.on[:1], jnp)
        fill_ask, side_ask = side_arrays(m["terms"], 1, m["ask_open"], placed.depth[1:], placed.on[1:], jnp)
        model = dict(m, fill_bid=fill_bid, fill_ask=fill_ask, side_bid=side_bid, side_ask=side_ask)
        value = _value_of(model, _step_parts(model, value_next), one, one)  # (K, Q, R)
        return tables.coef @ value[:, q.astype(jnp.int32), r]

    return jnp.argmin(jax.vmap(scalar_value)(tables.models))


def worst_case_values(env: MarketMakingEnv, tables: WorstCaseTables, state, action, params: EnvParams):
    """(d,) param values of :func:`worst_case_index`: ``box.set_values(params, values)`` is the step's params."""
    return tables.points[worst_case_index(env, tables, state, action, params)]


def worst_case_adversary(
    env: MarketMakingEnv, params: EnvParams, solution: RobustSolution
) -> Callable[..., jnp.ndarray]:
    """``adversary(state, action, params) -> values (d,)``: the per-step worst case of ``solution``'s box
    against ANY policy, minimising the one-step value of the placed quote with the robust continuation
    (exactly the worst-case response when the policy is ``solution``'s table). Use it with
    :class:`morl_mm.env.adversary.AdversarialEnv` to roll policies out against it."""
    tables = worst_case_tables(env, params, solution)
    return lambda state, action, step_params: worst_case_values(env, tables, state, action, step_params)


# -- the robust front -------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class RobustCoverageSet(CoverageSet):
    """A :class:`CoverageSet` of robust points (each point: the max-min policy at its weight, under its
    worst-case adversary), with the box and the adversary's responses."""

    box: AdversaryBox = None
    adversary_points: np.ndarray = None  # (V, d)
    response_tables: np.ndarray = None  # (P, T, Q, R)

    def to_dict(self) -> dict:
        return {**super().to_dict(), "adversary": self.box.to_dict()}


def robust_coverage_set(
    env: MarketMakingEnv,
    params: EnvParams,
    box: AdversaryBox,
    divisions: int = 10,
    scales=None,
    depth_grid=None,
    resolution: int = 2,
    tolerance: float = DEFAULT_TOLERANCE,
) -> RobustCoverageSet:
    """The robust front on the simplex grid of ``divisions`` (see the module docstring for why not OLS).

    At each weight: the max-min table and its objective vector under its worst-case adversary;
    points within ``tolerance`` (normalised, max norm) of one already found are dropped (like
    :func:`morl_mm.oracle.weight_grid_sweep`), none is pruned as dominated.
    """
    started = time.perf_counter()
    solver = RobustSolver(env, params, box, scales, depth_grid, resolution)
    grid = simplex_weights(env.num_objectives, divisions)
    robust = solver(grid)
    keep = distinct_solutions([r.solution for r in robust], solver.scales, tolerance)
    plain = _coverage_set([robust[i].solution for i in keep], solver, len(grid), started, "robust-grid")
    return RobustCoverageSet(
        **{f.name: getattr(plain, f.name) for f in dataclasses.fields(CoverageSet)},
        box=box,
        adversary_points=solver.points,
        response_tables=np.array([robust[i].response_table for i in keep]),
    )
