"""The project's one linear scalarisation ``w . (J / scales)`` and its input checks.

A preference weight ``w`` lies on the simplex and applies to *normalised* objectives
``J_i / scale_i`` (scales from ``morl_mm.env.scales.reference_scales``, stored with every result),
so that (0.3, 0.3, 0.4) is not silently a pure-profit weight. Learners, the oracle, selection and
plots all scalarise with :func:`scalarise`; inputs are checked here, at the boundary, by
:func:`validate_scales` and :func:`validate_weights`. A leaf module: it imports numpy only, and
:func:`scalarise` works on numpy and jax arrays alike (jittable).
"""

from __future__ import annotations

import numpy as np

WEIGHT_ATOL = 1e-6  # tolerance on sum(w) == 1 and w >= 0 (float32 weights sum to 1 within ~1e-7)


def scalarise(values, weights, scales=None):
    """``sum_i weights_i * values_i / scales_i`` over the last axis (numpy or jax arrays, broadcast).

    ``values`` (..., d) in raw units, ``weights`` (..., d) on the simplex, ``scales`` (d,); ``None``
    when ``values`` are normalised already. Unchecked (jittable): check at the boundary with
    :func:`validate_weights` and :func:`validate_scales`.
    """
    normalised = values if scales is None else values / scales
    return (weights * normalised).sum(axis=-1)


def validate_scales(scales, n_objectives: int) -> np.ndarray:
    """``scales`` as a float64 array ``(n_objectives,)`` of finite positive values; ``ValueError`` otherwise."""
    array = np.asarray(scales, dtype=np.float64)
    if array.shape != (n_objectives,):
        raise ValueError(f"scales: expected shape ({n_objectives},), got {array.shape}")
    if not np.all(np.isfinite(array)) or np.any(array <= 0):
        raise ValueError(f"scales: must be finite and > 0, got {array.tolist()}")
    return array


def validate_weights(weights, n_objectives: int, atol: float = WEIGHT_ATOL) -> np.ndarray:
    """Weights ``(n_objectives,)`` or ``(k, n_objectives)`` on the simplex, as float64.

    Each must be finite, >= 0 and sum to 1 within ``atol``; ``ValueError`` naming the bad weight
    otherwise. Tiny negative rounding errors (within ``atol``) are clipped to 0.
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim not in (1, 2) or w.shape[-1] != n_objectives:
        raise ValueError(f"weights: expected shape ({n_objectives},) or (k, {n_objectives}), got {w.shape}")
    rows = np.atleast_2d(w)
    if rows.shape[0] == 0:
        raise ValueError("weights: got an empty set of weights")
    bad = ~np.all(np.isfinite(rows), axis=1)
    if bad.any():
        raise ValueError(f"weights: must be finite, got {rows[bad].tolist()}")
    bad = np.any(rows < -atol, axis=1)
    if bad.any():
        raise ValueError(f"weights: must be >= 0 (on the simplex), got {rows[bad].tolist()}")
    bad = np.abs(rows.sum(axis=1) - 1.0) > atol
    if bad.any():
        raise ValueError(
            f"weights: must sum to 1 (on the simplex), got {rows[bad].tolist()} "
            f"with sums {rows[bad].sum(axis=1).tolist()}"
        )
    return np.clip(w, 0.0, None)
