"""Exact dynamic-programming solution of the discretised market-making model and its exact CCS.

* :func:`solve` / :func:`solve_many`: optimal (time, inventory[, regime]) action table for a
  preference weight on the normalised objectives, with its exact expected objective vector;
* :func:`evaluate`: exact expected objective vector of any table policy;
* :func:`convex_coverage_set`: the CCS by optimistic linear support; :func:`weight_grid_sweep`:
  solves on a fixed weight grid for comparison;
* :func:`solve_robust` / :func:`evaluate_robust` / :func:`robust_coverage_set`: the max-min game
  against a per-step adversary in a box of params, and its robust front (:mod:`morl_mm.oracle.robust`);
  :func:`worst_case_adversary` plays the worst case against any policy in rollouts;
* ``python -m morl_mm.oracle``: the default model's CCS as a table or JSON.

When the model is exactly solvable is stated in :mod:`morl_mm.oracle.model`; otherwise the
functions raise :class:`OracleNotExactError` (a ``ValueError``). The table policy that plays a
solution in the env is :class:`morl_mm.policies.table.TablePolicy`.
"""

from morl_mm.oracle.ccs import DEFAULT_TOLERANCE, CoverageSet, convex_coverage_set, corner_weights, weight_grid_sweep
from morl_mm.oracle.dp import OracleSolution, Solver, evaluate, solve, solve_many, table_quotes
from morl_mm.oracle.model import CONTINUOUS_DEPTH_STEP, EXACT_OBJECTIVES, OracleNotExactError, check_exact
from morl_mm.oracle.robust import (
    RobustCoverageSet,
    RobustSolution,
    RobustSolver,
    evaluate_robust,
    robust_coverage_set,
    solve_robust,
    worst_case_adversary,
)

__all__ = [
    "DEFAULT_TOLERANCE",
    "CoverageSet",
    "convex_coverage_set",
    "corner_weights",
    "weight_grid_sweep",
    "OracleSolution",
    "Solver",
    "evaluate",
    "solve",
    "solve_many",
    "table_quotes",
    "CONTINUOUS_DEPTH_STEP",
    "EXACT_OBJECTIVES",
    "OracleNotExactError",
    "check_exact",
    "RobustCoverageSet",
    "RobustSolution",
    "RobustSolver",
    "evaluate_robust",
    "robust_coverage_set",
    "solve_robust",
    "worst_case_adversary",
]
