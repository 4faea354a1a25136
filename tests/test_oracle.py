"""The exact oracle (issue 3): DP optimum, exact policy evaluation, table policy, CCS by OLS."""

import json

import jax
import numpy as np
import pytest

from morl_mm.env import EnvConfig, MarketMakingEnv, n_steps, rollout
from morl_mm.oracle import OracleNotExactError, convex_coverage_set, corner_weights, evaluate, solve, weight_grid_sweep
from morl_mm.oracle.__main__ import main as oracle_main
from morl_mm.policies.table import TablePolicy

FOUR = ("pnl", "inventory_risk", "quoting_ratio", "adverse_selection")
# Small models: 40 steps, inventories -4..4. The competitive distance sits off the depth grids
# (0.9 / 0.81): the env computes the effective depth as mid - (mid - depth) in float32, so a quote
# at exactly competitive_distance counts as firm or not depending on the mid's rounding.
SMALL = dict(horizon=0.2, inventory_limit=4.0)
RICH = dict(
    SMALL,
    adverse_impact=0.05,
    drift=1.0,
    maker_fee=0.01,
    liquidation_penalty=0.1,
    jump_rate=20.0,
    jump_mean=0.1,
    jump_std=0.3,
    initial_inventory=1.0,
)
REGIMES = dict(SMALL, regime_vol=[1.0, 3.0], regime_transition=[[0.9, 0.1], [0.2, 0.8]], adverse_impact=0.05)
CASES = {
    "discrete": (EnvConfig(objectives=FOUR, action_mode="discrete"), dict(RICH, competitive_distance=0.9)),
    "continuous": (EnvConfig(objectives=FOUR), dict(RICH, competitive_distance=0.81)),
    "regimes": (EnvConfig(objectives=FOUR, n_regimes=2), dict(REGIMES, competitive_distance=0.81)),
    "regimes_discrete": (
        EnvConfig(objectives=FOUR, action_mode="discrete", n_regimes=2),
        dict(REGIMES, competitive_distance=0.9),
    ),
}
UNIT_SCALES = np.ones(4)
EPISODES = 4000


def monte_carlo(env, params, policy, seed=0):
    """Mean and standard error of the episode return vector of a TablePolicy (params traced: one compile per env)."""
    keys = jax.random.split(jax.random.key(seed), EPISODES)
    returns = _returns(env, policy, keys, params, policy.params)
    returns = np.asarray(returns, np.float64)
    return returns.mean(0), returns.std(0, ddof=1) / np.sqrt(EPISODES)


_compiled = {}


def _returns(env, policy, keys, params, table_params):
    key = (env.config, policy.action_mode, n_steps(params))
    if key not in _compiled:
        steps = n_steps(params)
        episode = lambda k, p, tp: rollout(env, policy, k, p, steps, policy_params=tp).reward.sum(0)  # noqa: E731
        _compiled[key] = jax.jit(jax.vmap(episode, in_axes=(0, None, None)))
    return _compiled[key](keys, params, table_params)


@pytest.mark.parametrize("case", sorted(CASES))
def test_oracle_expectation_matches_monte_carlo(case):
    config, overrides = CASES[case]
    env = MarketMakingEnv(config)
    params = env.make_params(**overrides)
    for seed, weights in enumerate([[0.4, 0.3, 0.2, 0.1], [0.1, 0.6, 0.2, 0.1]]):
        solution = solve(env, params, weights, scales=UNIT_SCALES)
        mean, se = monte_carlo(env, params, TablePolicy.from_solution(env, solution), seed)
        assert np.all(np.abs(mean - solution.objective_values) < 4 * se), (weights, mean, solution.objective_values, se)


def test_evaluate_matches_monte_carlo_for_an_arbitrary_table():
    config, overrides = CASES["regimes_discrete"]
    env = MarketMakingEnv(config)
    params = env.make_params(**overrides)
    n_actions = (config.n_depths + 1) ** 2
    table = np.random.default_rng(3).integers(0, n_actions, size=(n_steps(params), 9, 2))
    policy = TablePolicy(env, table, config.depth_grid, np.arange(-4.0, 5.0))
    mean, se = monte_carlo(env, params, policy, seed=7)
    exact = evaluate(env, params, table)
    assert np.all(np.abs(mean - exact) < 4 * se), (mean, exact, se)


@pytest.mark.parametrize("mode", ["discrete", "continuous"])
def test_optimum_beats_simple_policies(mode):
    env = MarketMakingEnv(action_mode=mode)
    params = env.make_params(**SMALL)
    weights = np.array([0.5, 0.3, 0.2])
    solution = solve(env, params, weights)  # default scales: reference_scales
    coef = weights / solution.scales
    # the optimum's expected objectives agree with Monte-Carlo rollouts of its table in the env, and its
    # scalarised value is the weighted sum of those objectives
    mean, se = monte_carlo(env, params, TablePolicy.from_solution(env, solution), seed=11)
    assert np.all(np.abs(mean - solution.objective_values) < 4.5 * se), (mean, solution.objective_values, se)
    assert solution.scalarised_value == pytest.approx(float(coef @ solution.objective_values), rel=1e-9)
    grid = solution.depth_grid
    n_side = grid.size + 1
    shape = solution.action_table.shape
    baselines = {"never": np.full(shape, (n_side - 1) * n_side + n_side - 1)}
    for depth in (0.2, 0.6, 0.8, 1.6):
        i = int(np.argmin(np.abs(grid - depth)))
        baselines[f"symmetric {grid[i]}"] = np.full(shape, i * n_side + i)
    for name, table in baselines.items():
        value = float(coef @ evaluate(env, params, table))
        assert value < solution.scalarised_value - 1e-6, (name, value, solution.scalarised_value)


def test_ccs_points_are_optimal_where_found_and_cover_a_dense_grid():
    env = MarketMakingEnv(action_mode="discrete")
    params = env.make_params(horizon=0.1, inventory_limit=3.0, competitive_distance=0.9)  # 20 steps
    scales = np.array([7.0, 2.0, 1.0])
    tolerance = 1e-4
    ccs = convex_coverage_set(env, params, scales=scales, tolerance=tolerance)
    points = ccs.normalised_points
    assert len(points) >= 5 and ccs.n_solves >= len(points)
    assert len(np.unique(np.round(points, 9), axis=0)) == len(points)  # no duplicates
    # no point beats another at the weight where that one was found (it was optimal there)
    own = np.sum(ccs.weights * points, axis=1)
    assert np.all(ccs.weights @ points.T <= own[:, None] + 1e-9)
    # each point is the exact optimum of its weight
    for i in (0, len(points) // 2, len(points) - 1):
        np.testing.assert_allclose(
            solve(env, params, ccs.weights[i], scales=scales).objective_values, ccs.points[i], rtol=1e-9, atol=1e-12
        )
    # OLS loses nothing a dense weight grid finds: at every grid weight the CCS is within tolerance
    grid = weight_grid_sweep(env, params, divisions=24, scales=scales, tolerance=1e-12)
    assert grid.n_solves == 325
    for w, v in zip(grid.weights, grid.normalised_points):
        assert np.max(points @ w) >= w @ v - tolerance


def test_corner_weights_of_a_known_surface():
    # two objectives: u(a) = max(a, 0.6, 1 - a) with w = (a, 1 - a): corners at a = 0, 0.4, 0.6, 1
    corners = corner_weights(np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.6]]))
    np.testing.assert_allclose(np.sort(corners[:, 0]), [0.0, 0.4, 0.6, 1.0], atol=1e-9)
    # three objectives, a point below the others' surface everywhere adds no corner
    base = np.eye(3)
    assert len(corner_weights(base)) == len(corner_weights(np.vstack([base, [0.2, 0.2, 0.2]])))


@pytest.mark.parametrize(
    "config, overrides, field",
    [
        (EnvConfig(max_latency=2), dict(latency=1), "latency"),
        (EnvConfig(), dict(signal_vol=1.0), "signal_vol"),
        (EnvConfig(), dict(tick_size=0.1), "tick_size"),
        (EnvConfig(max_lots=2), {}, "max_lots"),
        (EnvConfig(objectives=("pnl", "order_management")), {}, "objectives"),
    ],
)
def test_not_exact_models_raise(config, overrides, field):
    env = MarketMakingEnv(config)
    params = env.make_params(**SMALL, **overrides)
    with pytest.raises(OracleNotExactError, match=field):
        solve(env, params, np.full(config.n_objectives, 1.0 / config.n_objectives), scales=np.ones(config.n_objectives))


@pytest.mark.parametrize("weights", [[0.5, 0.6, 0.0], [1.2, -0.2, 0.0], [np.nan, 0.5, 0.5], [0.5, 0.5]])
def test_weights_off_the_simplex_raise(weights):
    env = MarketMakingEnv()
    with pytest.raises(ValueError, match="weights"):
        solve(env, env.make_params(**SMALL), weights, scales=np.ones(3))


def test_cli_prints_the_ccs_as_json(capsys):
    assert (
        oracle_main(
            [
                "--json",
                "--action-mode",
                "discrete",
                "--param",
                "horizon=0.2",
                "--param",
                "inventory_limit=4",
                "--tolerance",
                "1e-3",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["objectives"] == ["pnl", "inventory_risk", "quoting_ratio"] and len(out["scales"]) == 3
    assert len(out["points"]) >= 3 and out["n_solves"] >= len(out["points"])
    assert all(
        abs(sum(p["weights"]) - 1) < 1e-9 and set(p["objectives"]) == set(out["objectives"]) for p in out["points"]
    )
    with pytest.raises(SystemExit):
        oracle_main(["--param", "no_such_field=1"])
    with pytest.raises(SystemExit):
        oracle_main(["--param", "signal_vol=1", "--param", "horizon=0.2"])
