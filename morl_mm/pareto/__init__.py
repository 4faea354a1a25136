"""Pareto sets of policies, performance indicators and policy selection (all objectives maximised).

Preference weights apply to normalised objectives ``J / scales`` (the project's convention).
"""

from morl_mm.pareto.indicators import (
    cardinality,
    equally_spaced_weights,
    eum_ratio,
    expected_utility,
    expected_utility_loss,
    hv_reference_point,
    hypervolume,
    hypervolume_ratio,
    igd,
    igd_plus,
    nondominated_mask,
    simplex_weights,
    sparsity,
    utilities,
    validate_weights,
)
from morl_mm.pareto.pareto_set import InfeasibleSelectionError, ParetoEntry, ParetoSet

__all__ = [
    "InfeasibleSelectionError",
    "ParetoEntry",
    "ParetoSet",
    "cardinality",
    "equally_spaced_weights",
    "eum_ratio",
    "expected_utility",
    "expected_utility_loss",
    "hv_reference_point",
    "hypervolume",
    "hypervolume_ratio",
    "igd",
    "igd_plus",
    "nondominated_mask",
    "simplex_weights",
    "sparsity",
    "utilities",
    "validate_weights",
]
