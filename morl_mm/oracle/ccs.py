"""The exact convex coverage set (CCS) of the discretised model, by optimistic linear support.

Optimistic linear support (OLS; Roijers, Whiteson & Oliehoek 2015, "Computing convex coverage
sets for faster multi-objective coordination", JAIR 52) builds the CCS with an exact
single-objective solver (:func:`morl_mm.oracle.dp.solve_many`):

1. solve at the extreme weights e_1..e_K; the value vectors found form the partial CCS S;
2. the upper surface u_S(w) = max_{v in S} w.v is piecewise linear over the weight simplex;
   its vertices are the *corner weights*;
3. at each corner c, the optimistic bound on the optimal value is the LP
   max_v c.v s.t. w_j.v <= V*(w_j) for every weight w_j solved so far; the corner with the largest
   bound - u_S(c) is solved next; a new value vector (better than u_S(c) by more than
   ``tolerance``) joins S (the LP's dual is the lower convex envelope of the solved points
   (w_j, V*(w_j)): :func:`optimistic_bounds` reads every corner's bound off one convex hull);
4. stop when no corner can improve by more than ``tolerance``.

Value vectors are compared in *normalised* units v_k = J_k / scale_k (the project convention), so
``tolerance`` is in units of the scalarised objective. With an exact solver the result is a
``tolerance``-CCS: for every weight some point in it is within ``tolerance`` of the optimum.

Size: the optimal table changes one (t, q) entry at a time as the weight moves, so the exact CCS
of a 200-step model is a polyhedral surface with thousands of facets; the gain of the next point
decays roughly as n^-1.7. ``DEFAULT_TOLERANCE`` = 1e-3 (0.1 % of the reference scales) keeps the
default model's CCS at ~60 points from ~130 solves (the README's "Ground truth" has the times).
:func:`weight_grid_sweep` solves on a fixed simplex grid instead, for comparison.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import time

import numpy as np
from scipy.optimize import linprog
from scipy.spatial import ConvexHull, HalfspaceIntersection, QhullError

from morl_mm.env.market import MarketMakingEnv
from morl_mm.env.params import EnvParams
from morl_mm.oracle.dp import OracleSolution, Solver
from morl_mm.pareto.indicators import simplex_weights

DEFAULT_TOLERANCE = 1e-3

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class CoverageSet:
    """Points of a (convex) coverage set and the table policies that reach them."""

    objectives: tuple[str, ...]
    scales: np.ndarray  # (K,) normalisation used for the weights
    points: np.ndarray  # (P, K) expected objective vectors, raw units
    weights: np.ndarray  # (P, K) weight at which each point was found (optimal there)
    action_tables: np.ndarray  # (P, T, Q, R) joint action indices (see morl_mm.oracle.dp)
    depth_grid: np.ndarray  # (M,)
    inventory_grid: np.ndarray  # (Q,)
    n_solves: int  # single-weight solves performed
    seconds: float  # wall time, compilation included
    method: str  # "ols" or "grid"

    @property
    def normalised_points(self) -> np.ndarray:
        return self.points / self.scales

    def solution(self, index: int, action_mode: str) -> OracleSolution:
        """Point ``index`` as an :class:`OracleSolution` (without its value table)."""
        return OracleSolution(
            self.objectives,
            self.weights[index],
            self.scales,
            self.action_tables[index],
            self.depth_grid,
            self.inventory_grid,
            None,
            self.points[index],
            action_mode,
        )

    def to_dict(self) -> dict:
        """JSON-ready summary: objectives, scales, points (weights + objective values), solves, time."""
        return {
            "objectives": list(self.objectives),
            "scales": [float(s) for s in self.scales],
            "points": [
                {
                    "weights": [round(float(x), 10) for x in w],
                    "objectives": {name: float(v) for name, v in zip(self.objectives, p)},
                }
                for w, p in zip(self.weights, self.points)
            ],
            "n_solves": int(self.n_solves),
            "seconds": float(self.seconds),
            "method": self.method,
        }


# -- geometry of the weight simplex ------------------------------------------------------------------
def corner_weights(values: np.ndarray) -> np.ndarray:
    """Vertices (in weight space) of the upper surface u(w) = max_v w.v over the simplex, (C, K).

    ``values`` (P, K), normalised. The surface is the lower boundary of the polyhedron
    {(w_1..w_{K-1}, u): u >= w.v for every v, w on the simplex}; qhull intersects its halfspaces
    (capped by u <= U above every value) and the vertices below the cap are the corners.
    Degenerate inputs (qhull refusing, e.g. a single point) fall back to enumerating every choice
    of K active constraints, which is exact but grows as C(P + K, K).
    """
    values = np.asarray(values, np.float64)
    n_points, k = values.shape
    if k == 1:
        return np.ones((1, 1))
    # halfspaces a.x + b <= 0 with x = (w_1 .. w_{K-1}, u)
    cap = float(values.max()) + 1.0
    a = np.vstack(
        [
            np.hstack([values[:, :-1] - values[:, -1:], -np.ones((n_points, 1))]),  # w.v - u <= 0
            np.hstack([-np.eye(k - 1), np.zeros((k - 1, 1))]),  # w_i >= 0
            np.append(np.ones(k - 1), 0.0)[None],  # sum_{i<K} w_i <= 1
            np.append(np.zeros(k - 1), 1.0)[None],
        ]
    )  # u <= cap
    b = np.concatenate([values[:, -1], np.zeros(k - 1), [-1.0, -cap]])
    try:
        centre = np.full(k, 1.0 / k)
        inside = np.append(centre[:-1], 0.5 * (float((values @ centre).max()) + cap))
        x = HalfspaceIntersection(np.hstack([a, b[:, None]]), inside).intersections
    except QhullError:
        x = _enumerate_vertices(a, -b, n_points)
    x = x[x[:, -1] < cap - 1e-9]
    w = np.clip(np.hstack([x[:, :-1], 1 - x[:, :-1].sum(1, keepdims=True)]), 0.0, None)
    w /= w.sum(1, keepdims=True)
    return np.unique(np.round(w, 12), axis=0)


def _enumerate_vertices(a: np.ndarray, b: np.ndarray, n_values: int, tolerance: float = 1e-9) -> np.ndarray:
    """Vertices of {x: a x <= b} from every choice of dim(x) active rows, one of them among the first n_values."""
    dim = a.shape[1]
    combos = np.array(list(itertools.combinations(range(len(a)), dim)))
    combos = combos[combos[:, 0] < n_values]  # u is only bounded below by the value rows
    systems, targets = a[combos], b[combos]
    solvable = np.abs(np.linalg.det(systems)) > 1e-12
    x = np.linalg.solve(systems[solvable], targets[solvable][..., None])[..., 0]
    return x[np.all(x @ a.T <= b + tolerance * (1 + np.abs(b)), axis=1)]


def optimistic_bound(corner: np.ndarray, solved_weights: np.ndarray, solved_values: np.ndarray) -> float:
    """max_v corner.v s.t. w_j.v <= V*(w_j) for the solved weights: the best the optimum can be at ``corner``."""
    result = linprog(
        -corner, A_ub=solved_weights, b_ub=solved_values, bounds=[(None, None)] * corner.size, method="highs"
    )
    if result.status != 0:
        raise RuntimeError(f"optimistic bound LP failed at {corner.tolist()}: {result.message}")
    return float(-result.fun)


def optimistic_bounds(
    corners: np.ndarray, solved_weights: np.ndarray, solved_values: np.ndarray, method: str = "hull"
) -> np.ndarray:
    """``optimistic_bound`` at every corner (C,), for a simplex-covering set of solved weights.

    By LP duality the bound at c is min sum_j y_j V*(w_j) over convex combinations sum_j y_j w_j = c
    (weights and corners lie on the simplex): the lower convex envelope of the points (w_j, V*(w_j))
    at c. ``method="hull"`` reads it off their convex hull (one qhull call, the largest lower-facet
    plane at each corner); a hull qhull refuses (too few or coplanar points) and ``method="lp"``
    solve one LP per corner instead. The two agree to rounding."""
    corners, weights, values = (np.asarray(x, np.float64) for x in (corners, solved_weights, solved_values))
    if method not in ("hull", "lp"):
        raise ValueError(f"method: expected 'hull' or 'lp', got {method!r}")
    if method == "hull" and weights.shape[1] > 1 and len(weights) > weights.shape[1]:
        try:
            hull = ConvexHull(np.hstack([weights[:, :-1], values[:, None]]))
        except QhullError:
            hull = None
        if hull is not None:
            normal, offset = hull.equations[:, :-1], hull.equations[:, -1]
            lower = normal[:, -1] < -1e-12  # facets whose outward normal points down in value
            planes = -(corners[:, :-1] @ normal[lower, :-1].T + offset[lower]) / normal[lower, -1]  # (C, F)
            return planes.max(axis=1)
    return np.array([optimistic_bound(c, weights, values) for c in corners])


class _LazyBounds:
    """Optimistic bounds by one LP per corner, refreshed lazily: a corner's stored bound stays valid (it
    only tightens as weights are solved), so only the most promising corners are re-solved until one
    holds up. Picks the corner :func:`optimistic_bounds` would (the ``bounds="lp"`` path)."""

    def __init__(self):
        self.known: dict[tuple, float] = {}  # corner -> optimistic bound

    def gains(self, corners, current, solved_weights, solved_values, tolerance) -> np.ndarray:
        gain = np.array([self.known.get(tuple(c), np.inf) for c in corners]) - current
        while True:
            best = int(np.argmax(gain))
            if gain[best] <= tolerance:
                return gain
            key = tuple(corners[best])
            fresh = optimistic_bound(corners[best], solved_weights, solved_values)
            if fresh >= self.known.get(key, np.inf) - 1e-15:
                return gain  # already fresh
            self.known[key] = fresh
            gain[best] = fresh - current[best]
            if gain[best] >= gain.max() - 1e-15:
                return gain


def prune_to_ccs(values: np.ndarray, tolerance: float = 1e-10) -> np.ndarray:
    """Indices of the points optimal on a full-dimensional region of the weight simplex.

    Such a region is a polytope with at least K vertices, all of them corners of the upper
    surface where the point attains the maximum; points that only tie on a lower-dimensional set
    (or never reach the surface) are dropped. ``tolerance`` is the tie slack (normalised units).
    """
    values = np.asarray(values, np.float64)
    if len(values) == 1:
        return np.array([0])
    scores = corner_weights(values) @ values.T  # (C, P)
    on_top = scores >= scores.max(axis=1, keepdims=True) - tolerance
    return np.flatnonzero(on_top.sum(axis=0) >= values.shape[1])


# -- coverage sets -----------------------------------------------------------------------------------
def _coverage_set(solutions: list[OracleSolution], solver: Solver, n_solves, started, method) -> CoverageSet:
    return CoverageSet(
        objectives=solutions[0].objectives,
        scales=solver.scales,
        points=np.array([s.objective_values for s in solutions]),
        weights=np.array([s.weights for s in solutions]),
        action_tables=np.array([s.action_table for s in solutions]),
        depth_grid=solver.model.depth_grid,
        inventory_grid=solver.model.inventory_grid,
        n_solves=n_solves,
        seconds=time.perf_counter() - started,
        method=method,
    )


def _is_new(value: np.ndarray, known: list[np.ndarray], tolerance: float) -> bool:
    return all(np.max(np.abs(value - v)) > tolerance for v in known)


def convex_coverage_set(
    env: MarketMakingEnv,
    params: EnvParams,
    scales=None,
    depth_grid=None,
    tolerance: float = DEFAULT_TOLERANCE,
    max_solves: int = 5000,
    search: str = "auto",
    bounds: str = "hull",
) -> CoverageSet:
    """The exact CCS (up to ``tolerance``) by optimistic linear support (see module docstring).

    Returns the points (raw units), the weights at which each was found, their action tables,
    the scales, the number of single-weight solves and the wall time. A solution improving on the
    current surface by at most ``tolerance`` (normalised units) is not added; the final set keeps
    the points that are optimal on a full-dimensional set of weights. Raises ``RuntimeError``
    if ``max_solves`` runs out first. ``search`` is the solver's joint-quote search (:class:`Solver`),
    ``bounds`` how the corners' optimistic bounds are computed (:func:`optimistic_bounds`); both
    change the time only (``benchmarks/oracle_ccs.py`` compares them).
    """
    if not tolerance > 0:
        raise ValueError(f"tolerance: must be > 0, got {tolerance}")
    if bounds not in ("hull", "lp"):
        raise ValueError(f"bounds: expected 'hull' or 'lp', got {bounds!r}")
    started = time.perf_counter()
    lazy_bounds = _LazyBounds()
    solver = Solver(env, params, scales, depth_grid, search=search)
    scales = solver.scales
    found: list[OracleSolution] = []  # the partial CCS S
    surface = np.empty((0, env.num_objectives))  # its normalised value vectors
    solved_weights, solved_values = [], []  # every weight solved and V*(w) there (normalised)

    def record(solutions):
        nonlocal surface
        for s in solutions:
            v = s.objective_values / scales
            solved_weights.append(s.weights)
            solved_values.append(float(s.weights @ v))
            lazy_bounds.known[tuple(np.round(s.weights, 12))] = solved_values[-1]  # exact there
            improves = len(surface) == 0 or solved_values[-1] > float((surface @ s.weights).max()) + tolerance
            if improves and _is_new(v, list(surface), tolerance):
                found.append(s)
                surface = np.vstack([surface, v])

    for extreme in np.eye(env.num_objectives):  # one weight per call: one compiled shape for the whole run
        record(solver(extreme[None]))
    while True:
        corners = corner_weights(surface)
        current = (corners @ surface.T).max(axis=1)
        if bounds == "hull":
            gain = optimistic_bounds(corners, np.array(solved_weights), np.array(solved_values)) - current
        else:
            gain = lazy_bounds.gains(corners, current, np.array(solved_weights), np.array(solved_values), tolerance)
        best = int(np.argmax(gain))
        log.debug(
            "OLS: %d points, %d corners, %d solves, max gain %.3g, %.1f s",
            len(found),
            len(corners),
            len(solved_weights),
            gain[best],
            time.perf_counter() - started,
        )
        if gain[best] <= tolerance:
            break
        if len(solved_weights) >= max_solves:
            raise RuntimeError(
                f"convex_coverage_set: max_solves={max_solves} reached with {len(found)} points and "
                f"a possible gain of {gain[best]:.3g} > tolerance={tolerance}; raise one of them"
            )
        record(solver(corners[best]))
    keep = prune_to_ccs(surface)
    return _coverage_set([found[i] for i in keep], solver, len(solved_weights), started, "ols")


def weight_grid_sweep(
    env: MarketMakingEnv,
    params: EnvParams,
    divisions: int = 10,
    scales=None,
    depth_grid=None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> CoverageSet:
    """Solve at every weight of a simplex grid; keep the distinct points (not pruned to the CCS)."""
    started = time.perf_counter()
    solver = Solver(env, params, scales, depth_grid)
    grid = simplex_weights(env.num_objectives, divisions)
    solutions = solver(grid)
    distinct = [solutions[i] for i in distinct_solutions(solutions, solver.scales, tolerance)]
    return _coverage_set(distinct, solver, len(grid), started, "grid")


def distinct_solutions(solutions: list[OracleSolution], scales, tolerance: float) -> list[int]:
    """Indices of the solutions whose normalised objective vector differs (max norm > ``tolerance``)
    from every earlier kept one."""
    kept: list[int] = []
    for i, s in enumerate(solutions):
        if _is_new(s.objective_values / scales, [solutions[j].objective_values / scales for j in kept], tolerance):
            kept.append(i)
    return kept
