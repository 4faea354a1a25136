"""Performance indicators of Pareto-front approximations, with every objective MAXIMISED.

Hypervolume, IGD and non-dominance come from ``moocore`` (maintained C implementations); the
utility-based indicators follow morl-baselines (``morl_baselines/common/performance_indicators.py``).

Conventions of the project:

* A front is an array ``(n_points, n_objectives)`` of objective values in raw units.
* A preference weight ``w`` lies on the simplex and applies to *normalised* objectives
  ``J_i / scale_i`` (``scale = reference_scales(env, params)``), so utilities take ``scales``.
* The hypervolume reference point is just beyond the worst point of the fronts being compared
  (:func:`hv_reference_point`), never a far-away point that would let one objective swamp the others.
* IGD is a distance, so it depends on the units of each objective: pass ``scales`` to compute it on
  normalised objectives (the project's default everywhere scales are known).

Inputs are checked at this boundary: NaN or infinite values, wrong shapes, non-positive scales and
weights off the simplex raise ``ValueError`` naming the bad value.
"""

from __future__ import annotations

import itertools
import math

import moocore
import numpy as np

from morl_mm.scalarisation import WEIGHT_ATOL, scalarise, validate_scales, validate_weights

__all__ = ["WEIGHT_ATOL", "validate_scales", "validate_weights"]  # re-exported: the pareto API's checks


# -- input checks -------------------------------------------------------------------------------------
def as_points(points, name: str = "points", n_objectives: int | None = None) -> np.ndarray:
    """``points`` as a float64 array ``(n, d)`` of finite values; ``ValueError`` otherwise."""
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array (n_points, n_objectives), got shape {array.shape}")
    if n_objectives is not None and array.shape[1] != n_objectives:
        raise ValueError(f"{name}: expected {n_objectives} objectives (columns), got shape {array.shape}")
    if array.shape[1] < 1:
        raise ValueError(f"{name}: needs at least one objective, got shape {array.shape}")
    bad = ~np.isfinite(array)
    if bad.any():
        raise ValueError(
            f"{name}: values must be finite, got {array[bad.any(axis=1)].tolist()} "
            f"at rows {np.flatnonzero(bad.any(axis=1)).tolist()}"
        )
    return array


def _front_and_reference(front, reference_front) -> tuple[np.ndarray, np.ndarray]:
    reference = as_points(reference_front, "reference_front")
    points = as_points(front, "front", reference.shape[1])
    if len(reference) == 0:
        raise ValueError("reference_front: is empty")
    return points, reference


# -- non-dominance --------------------------------------------------------------------------------------
def nondominated_mask(points, keep_duplicates: bool = False) -> np.ndarray:
    """Boolean mask of the points that no other point dominates (all objectives maximised).

    ``a`` dominates ``b`` when ``a >= b`` everywhere and ``a > b`` somewhere. Of duplicated
    non-dominated points only the first is kept, unless ``keep_duplicates``.
    """
    array = as_points(points)
    if len(array) == 0:
        return np.zeros(0, dtype=bool)
    return np.asarray(moocore.is_nondominated(array, maximise=True, keep_weakly=keep_duplicates), dtype=bool)


def cardinality(front) -> int:
    """Number of distinct non-dominated points of ``front`` (duplicates count once)."""
    return int(nondominated_mask(front).sum())


# -- hypervolume ----------------------------------------------------------------------------------------
def hypervolume(points, ref_point) -> float:
    """Volume of the objective space dominated by ``points`` and dominating ``ref_point``.

    Maximisation: a point contributes only where it is strictly better than ``ref_point`` in every
    objective; points that do not dominate it add nothing. Units: the product of the objectives' units.
    """
    ref = np.asarray(ref_point, dtype=np.float64)
    if ref.ndim != 1 or not np.all(np.isfinite(ref)):
        raise ValueError(f"ref_point: expected a finite 1-D vector, got {ref.tolist()}")
    array = as_points(points, n_objectives=len(ref))
    if len(array) == 0:
        return 0.0
    return float(moocore.hypervolume(array, ref=ref, maximise=True))


def hypervolume_ratio(front, reference_front, ref_point) -> float:
    """``HV(front) / HV(reference_front)`` at the same ``ref_point`` (1 when the fronts match).

    Invariant under per-objective rescaling, so raw units are fine. Raises ``ValueError`` when the
    reference front dominates no volume (the ratio would be undefined).
    """
    points, reference = _front_and_reference(front, reference_front)
    reference_volume = hypervolume(reference, ref_point)
    if reference_volume <= 0:
        raise ValueError(
            f"hypervolume_ratio: reference_front has zero hypervolume at ref_point "
            f"{np.asarray(ref_point).tolist()}; choose it with hv_reference_point"
        )
    return hypervolume(points, ref_point) / reference_volume


def hv_reference_point(*point_sets, margin: float = 0.1) -> np.ndarray:
    """The hypervolume reference point of the project for comparing ``point_sets``.

    Per objective: the worst (smallest) value over all the sets minus ``margin`` times that
    objective's range (max - min) over the same sets. Every point then contributes, and none of the
    objectives is swamped by a far-away reference. Where the range is 0 the margin is taken of
    ``max(|worst|, 1)`` so that the point still lies strictly below.
    """
    if not point_sets:
        raise ValueError("hv_reference_point: give at least one set of points")
    if not (np.isfinite(margin) and margin > 0):
        raise ValueError(f"hv_reference_point: margin must be finite and > 0, got {margin}")
    first = as_points(point_sets[0], "point_sets[0]")
    sets = [first] + [as_points(s, f"point_sets[{i}]", first.shape[1]) for i, s in enumerate(point_sets[1:], 1)]
    stacked = np.concatenate(sets)
    if len(stacked) == 0:
        raise ValueError("hv_reference_point: all point sets are empty")
    worst, best = stacked.min(axis=0), stacked.max(axis=0)
    spread = best - worst
    spread = np.where(spread > 0, spread, np.maximum(np.abs(worst), 1.0))
    return worst - margin * spread


# -- distances --------------------------------------------------------------------------------------------
def _normalise(points: np.ndarray, scales) -> np.ndarray:
    return points if scales is None else points / validate_scales(scales, points.shape[1])


def igd(front, reference_front, scales=None) -> float:
    """Inverted generational distance: mean over the reference points of the Euclidean distance to
    the nearest point of ``front`` (0 when the front contains the reference front).

    IGD depends on the units of the objectives: with ``scales`` it is computed on ``J / scales``
    (normalised objectives, the project's convention); without, in raw units.
    """
    points, reference = _front_and_reference(front, reference_front)
    if len(points) == 0:
        raise ValueError("igd: front is empty")
    return float(moocore.igd(_normalise(points, scales), ref=_normalise(reference, scales), maximise=True))


def igd_plus(front, reference_front, scales=None) -> float:
    """IGD+ (Ishibuchi et al. 2015): like :func:`igd` but counting only the objectives in which the
    front is worse than the reference point, so a front that dominates the reference scores 0
    (weakly Pareto compliant). ``scales`` as in :func:`igd`.
    """
    points, reference = _front_and_reference(front, reference_front)
    if len(points) == 0:
        raise ValueError("igd_plus: front is empty")
    return float(moocore.igd_plus(_normalise(points, scales), ref=_normalise(reference, scales), maximise=True))


def sparsity(front, scales=None) -> float:
    """Sparsity of PGMORL (Xu et al. 2020), as in morl-baselines: per objective, sort the values and
    sum the squared gaps between neighbours; sum over objectives and divide by ``n - 1``.

    Lower is denser. 0 for fewer than two points. Pass the non-dominated front (as morl-baselines
    does); with ``scales`` it is computed on normalised objectives.
    """
    points = as_points(front, "front")
    if len(points) < 2:
        return 0.0
    gaps = np.diff(np.sort(_normalise(points, scales), axis=0), axis=0)
    return float(np.sum(gaps**2) / (len(points) - 1))


# -- utilities --------------------------------------------------------------------------------------------
def utilities(points, weights, scales) -> np.ndarray:
    """Linear utilities ``w . (J / scales)``: shape ``(k, n)`` for ``k`` weights and ``n`` points
    (``(n,)`` for one weight vector)."""
    array = as_points(points)
    w = validate_weights(weights, array.shape[1])
    s = None if scales is None else validate_scales(scales, array.shape[1])
    values = scalarise(array[None], np.atleast_2d(w)[:, None], s)  # (k, n)
    return values if w.ndim == 2 else values[0]


def expected_utility(front, weights, scales) -> float:
    """Expected utility metric (EUM, Zintgraf et al. 2015) as in morl-baselines: the mean over the
    given weights of the best utility ``max_J w . (J / scales)`` that the front offers.

    ``weights``: ``(k, d)`` on the simplex (e.g. :func:`equally_spaced_weights`); ``scales``: the
    project's normalisation (``None`` only if the objectives are already normalised).
    """
    points = as_points(front, "front")
    if len(points) == 0:
        raise ValueError("expected_utility: front is empty")
    return float(np.mean(np.atleast_2d(utilities(points, weights, scales)).max(axis=1)))


def eum_ratio(front, reference_front, weights, scales) -> float:
    """``EUM(front) / EUM(reference_front)`` with the same weights and scales (1 when they match).

    Defined only when the reference's EUM is > 0 (``ValueError`` otherwise: a ratio of negative
    utilities inverts its meaning); :func:`expected_utility_loss` is always defined.
    """
    points, reference = _front_and_reference(front, reference_front)
    reference_eum = expected_utility(reference, weights, scales)
    if reference_eum <= 0:
        raise ValueError(
            f"eum_ratio: the reference front's expected utility is {reference_eum:.6g} <= 0, "
            "so the ratio is meaningless; use expected_utility_loss"
        )
    return expected_utility(points, weights, scales) / reference_eum


def expected_utility_loss(front, reference_front, weights, scales) -> float:
    """Mean over the weights of ``max_ref u - max_front u`` (normalised units; 0 when the front is as
    good as the reference for every weight, negative where it is better)."""
    points, reference = _front_and_reference(front, reference_front)
    return expected_utility(reference, weights, scales) - expected_utility(points, weights, scales)


# -- preference weights ---------------------------------------------------------------------------------
def _check_n_objectives(n_objectives) -> None:
    if not (isinstance(n_objectives, (int, np.integer)) and n_objectives >= 1):
        raise ValueError(f"n_objectives must be an int >= 1, got {n_objectives!r}")


def simplex_weights(n_objectives: int, divisions: int) -> np.ndarray:
    """The Das-Dennis lattice: every weight with coordinates in ``{0, 1/H, ..., 1}`` (``H =
    divisions``) summing to 1, exactly; ``C(H + d - 1, d - 1)`` rows, corners included.

    Built by stars and bars (bar positions among ``H + d - 1`` slots), so it costs only the output.
    """
    _check_n_objectives(n_objectives)
    if not (isinstance(divisions, (int, np.integer)) and divisions >= 1):
        raise ValueError(f"simplex_weights: divisions must be an int >= 1, got {divisions!r}")
    slots = divisions + n_objectives - 1
    rows = []
    for bars in itertools.combinations(range(slots), n_objectives - 1):
        edges = (-1, *bars, slots)
        rows.append([edges[i + 1] - edges[i] - 1 for i in range(n_objectives)])
    return np.asarray(rows, dtype=np.float64) / divisions


def equally_spaced_weights(n_objectives: int, count: int) -> np.ndarray:
    """The coarsest Das-Dennis lattice (:func:`simplex_weights`) with at least ``count`` weights.

    morl-baselines spreads exactly ``count`` weights by Riesz s-energy (pymoo, not a dependency
    here); the lattice is exact and deterministic instead, so ``count`` is a lower bound.
    """
    if not (isinstance(count, (int, np.integer)) and count >= 1):
        raise ValueError(f"equally_spaced_weights: count must be an int >= 1, got {count!r}")
    _check_n_objectives(n_objectives)
    if n_objectives == 1:  # the simplex is one point; also guards the loop below
        return simplex_weights(1, 1)
    divisions = 1
    while math.comb(divisions + n_objectives - 1, n_objectives - 1) < count:
        divisions += 1
    return simplex_weights(n_objectives, divisions)
