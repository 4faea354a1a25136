"""The oracle's fast paths give the results of the slow ones: banded joint-quote search, hull bounds, cache."""

import numpy as np
import pytest

from morl_mm.env import MarketMakingEnv
from morl_mm.oracle import ccs
from morl_mm.oracle.dp import Solver

ENV = MarketMakingEnv()  # continuous mode: the oracle's 0.02 depth grid, 252 actions per side
PARAMS = ENV.make_params(horizon=0.1, inventory_limit=4.0)  # 20 steps, both inventory limits reached
SCALES = np.array([10.0, 5.0, 1.0])
WEIGHTS = np.array(
    [
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 1],
        [0.4, 0.3, 0.3],
        [0.02, 0.97, 0.01],
        [0.5, 0.0, 0.5],
        [0.1, 0.1, 0.8],
        [0.7, 0.3, 0.0],
    ]
)


def test_banded_search_gives_the_full_searchs_tables():
    """Same tables (ties included) and objective vectors at every weight, edge weights among them
    (pure risk: every depth's line passes through one point; little pnl: wide windows, the wider
    band or the full search takes over)."""
    banded, full = Solver(ENV, PARAMS, SCALES, search="banded"), Solver(ENV, PARAMS, SCALES, search="full")
    assert banded.bands is not None and full.bands is None
    for a, b in zip(banded(WEIGHTS), full(WEIGHTS)):
        np.testing.assert_array_equal(a.action_table, b.action_table)
        np.testing.assert_array_equal(a.objective_values, b.objective_values)


def test_search_choice_is_checked():
    with pytest.raises(ValueError, match="search: expected"):
        Solver(ENV, PARAMS, SCALES, search="fast")
    with pytest.raises(ValueError, match="increasing order"):
        Solver(ENV, PARAMS, SCALES, depth_grid=np.linspace(1.0, 0.0, 120), search="banded")
    assert Solver(ENV, PARAMS, SCALES, depth_grid=np.linspace(1.0, 0.0, 120)).bands is None  # auto: full


def test_hull_bounds_equal_the_lp_bounds():
    """The lower convex envelope of (w_j, V*(w_j)) read off one hull equals the LP bound at every corner."""
    rng = np.random.default_rng(0)
    values = rng.normal(size=(12, 3))  # a convex V*(w) = max_v w.v, sampled at random weights
    weights = np.vstack([np.eye(3), rng.dirichlet(np.ones(3), 20)])
    solved = (weights @ values.T).max(axis=1)
    corners = np.vstack([rng.dirichlet(np.ones(3), 30), [[0.5, 0.5, 0.0], [0.0, 0.3, 0.7]]])
    np.testing.assert_allclose(
        ccs.optimistic_bounds(corners, weights, solved),
        ccs.optimistic_bounds(corners, weights, solved, method="lp"),
        atol=1e-9,
    )
    with pytest.raises(ValueError, match="method"):
        ccs.optimistic_bounds(corners, weights, solved, method="simplex")


def test_ccs_is_the_same_whichever_bounds_and_search():
    params = ENV.make_params(horizon=0.05)
    fast = ccs.convex_coverage_set(ENV, params, scales=SCALES, tolerance=1e-3)
    slow = ccs.convex_coverage_set(ENV, params, scales=SCALES, tolerance=1e-3, search="full", bounds="lp")
    assert fast.n_solves == slow.n_solves
    np.testing.assert_allclose(fast.points, slow.points, rtol=0, atol=1e-12)


def test_compilation_cache_is_opt_out(monkeypatch, tmp_path):
    import jax

    from morl_mm.jax_cache import enable_compilation_cache

    before = jax.config.jax_compilation_cache_dir
    monkeypatch.setenv("MORL_MM_COMPILE_CACHE", "off")
    assert enable_compilation_cache() is None
    monkeypatch.setenv("MORL_MM_COMPILE_CACHE", str(tmp_path))
    try:
        assert enable_compilation_cache() == (before or str(tmp_path))
    finally:
        jax.config.update("jax_compilation_cache_dir", before)
