"""Evaluation rollouts and market-making metrics: hand-computed cases and checks on the env."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from morl_mm.env import EnvConfig, MarketMakingEnv, StepInfo, Trajectory, make_params
from morl_mm.env.objectives import UNITS as OBJECTIVE_UNITS
from morl_mm.evaluation import (
    episode_metrics,
    evaluate_policy,
    inventory_grid,
    inventory_histogram,
    inventory_moments,
    max_drawdown,
    metrics_dataset,
    pnl_quantiles,
    pnl_sharpe,
    stack_scenarios,
    step_sharpe,
)
from morl_mm.evaluation.dataset import EPISODE_VARIABLES, SUMMARY_VARIABLES

NAN = np.nan
EPISODES = 200  # one episode count everywhere, so the jitted evaluation compiles once


class ConstantQuote:
    """Quotes ``params`` = [depth_bid, depth_ask, flag_bid, flag_ask] at every step."""

    def __init__(self, action):
        self.params = jnp.asarray(action, jnp.float32)

    def act(self, params, obs, state, key):
        return params


ENV = MarketMakingEnv()
POLICY = ConstantQuote([0.5, 0.5, 1.0, 1.0])
NEVER = [0.5, 0.5, -1.0, -1.0]
WIDE_LIMIT = make_params(inventory_limit=1000.0)  # limits never withdraw a side


@pytest.fixture(scope="module")
def symmetric_run():
    return evaluate_policy(ENV, WIDE_LIMIT, POLICY, jax.random.key(0), EPISODES)


# -- hand-built episode -----------------------------------------------------------------------------
def _hand_episode():
    """4 steps, dt 0.25, mid0 100. Bid filled at 99.5 in step 0, ask filled at 101 in step 2."""
    f = lambda *x: jnp.asarray(x, jnp.float32)  # noqa: E731
    info = StepInfo(
        time=jnp.arange(1, 5),
        mid=f(101, 100, 102, 103),
        cash=f(-99.5, -99.5, 1.5, 1.5),
        inventory=f(1, 1, 0, 0),
        wealth=f(1.5, 0.5, 1.5, 1.5),
        fill_bid=f(1, 0, 0, 0),
        fill_ask=f(0, 0, 1, 0),
        bid_price=f(99.5, 100.0, NAN, 101.5),
        ask_price=f(100.5, NAN, 101.0, 102.9),
        regime=jnp.zeros(4, jnp.int32),
        market_buy=f(0, 0, 1, 0),
        market_sell=f(1, 0, 0, 0),
    )
    reward = jnp.asarray([[1.5, -0.1], [-1.0, -0.2], [1.0, 0.0], [0.0, 0.0]], jnp.float32)
    traj = Trajectory(
        obs=jnp.zeros((4, 8)), action=jnp.zeros((4, 4)), reward=reward, done=jnp.arange(4) == 3, info=info
    )
    params = make_params(
        EnvConfig(max_latency=1), horizon=1.0, dt=0.25, arrival_rate=1.0, latency=1, liquidation_penalty=0.1
    )
    return traj, params


def test_hand_built_episode_metrics():
    traj, params = _hand_episode()
    m = episode_metrics(traj, params, markout_steps=1)
    # fill-time mids M = (100, 101, 100, 102); mark-out mids M_{t+1} = info.mid[t]
    np.testing.assert_allclose(m.objective_value, [1.5, -0.3], atol=1e-6)
    assert float(m.pnl) == pytest.approx(1.5)
    assert float(m.max_drawdown) == pytest.approx(1.0)  # wealth 0, 1.5, 0.5, 1.5, 1.5
    assert float(m.mean_abs_inventory) == pytest.approx(0.5)
    assert float(m.final_inventory) == 0.0 and float(m.liquidation_cost) == 0.0
    np.testing.assert_allclose(m.fills, [1, 1])
    np.testing.assert_allclose(m.fill_rate, [1.0, 1.0])  # one fill per side over 4 * 0.25 time
    # firm (depth <= 0.8): bid depths 0.5, 1.0, off, 0.5; ask depths 0.5, off, 1.0, 0.9
    np.testing.assert_allclose(m.quoting_ratio, [0.5, 0.25])
    # bid: effective 2 * 0.5 = 1, realized -2 (99.5 - 101) = 3; ask: effective 2, realized 2 (101 - 102) = -2
    assert float(m.effective_spread) == pytest.approx(1.5)
    assert float(m.realized_spread) == pytest.approx(0.5)
    assert float(m.price_impact) == pytest.approx(1.0)
    # latency 1: bid at t=0 decided at M_0 = 100 (no move), ask at t=2 decided at M_1 = 101: sold 1 lower
    assert float(m.slippage) == pytest.approx(0.5)
    # longer mark-out: bid marks at 100 -> 1, ask at 103 (clipped at the last mid) -> -4
    assert float(episode_metrics(traj, params, markout_steps=2).realized_spread) == pytest.approx(-1.5)
    assert float(episode_metrics(traj, params, markout_steps=0).realized_spread) == pytest.approx(1.5)


def test_episode_without_fills_has_nan_spreads_and_zero_rates():
    traj, params = _hand_episode()
    info = traj.info._replace(fill_bid=jnp.zeros(4), fill_ask=jnp.zeros(4))
    m = episode_metrics(traj._replace(info=info), params, markout_steps=1)
    assert np.isnan(float(m.realized_spread)) and np.isnan(float(m.slippage))
    np.testing.assert_array_equal(m.fill_rate, [0.0, 0.0])


def test_drawdown_sharpe_quantiles_by_hand():
    assert float(max_drawdown(jnp.asarray([0.0, 2.0, 1.0, 3.0, 0.5, 1.0]))) == pytest.approx(2.5)
    assert float(max_drawdown(jnp.asarray([0.0, 1.0, 2.0]))) == 0.0
    assert pnl_sharpe([1.0, 2.0, 3.0]) == pytest.approx(2.0)  # mean 2, std (ddof 1) 1
    assert np.isnan(pnl_sharpe([1.0, 1.0]))
    # pooled steps 1, 3, 2, 2: mean 2, std sqrt(2 / 3); times sqrt(1 / dt) = 2
    assert step_sharpe([[1.0, 3.0], [2.0, 2.0]], dt=0.25) == pytest.approx(2.0 / np.sqrt(2.0 / 3.0) * 2.0)
    np.testing.assert_allclose(pnl_quantiles(np.arange(101.0), (0.05, 0.5, 0.95)), [5.0, 50.0, 95.0])


def test_inventory_skew_and_histogram_by_hand():
    inventory = np.array([[0.0, 0.0], [0.0, 3.0]])  # Bernoulli(1/4) scaled by 3
    mean, std, skew = inventory_moments(inventory)
    p = 0.25
    assert mean == pytest.approx(0.75) and std == pytest.approx(3 * np.sqrt(p * (1 - p)))
    assert skew == pytest.approx((1 - 2 * p) / np.sqrt(p * (1 - p)))
    assert np.isnan(inventory_moments(np.ones(5))[2])
    grid = inventory_grid(make_params(inventory_limit=3.0))
    np.testing.assert_array_equal(grid, [-3, -2, -1, 0, 1, 2, 3])
    np.testing.assert_allclose(inventory_histogram(inventory, grid), [0, 0, 0, 0.75, 0, 0, 0.25])


# -- on the env ------------------------------------------------------------------------------------
def test_never_quoting_policy_has_no_fills_no_quotes_no_pnl():
    traj = evaluate_policy(ENV, WIDE_LIMIT, POLICY, jax.random.key(1), EPISODES, policy_params=jnp.asarray(NEVER))
    ds = metrics_dataset(traj, WIDE_LIMIT, ENV.objectives)
    assert float(ds.fills.sum()) == 0.0 and float(ds.fill_rate.max()) == 0.0
    assert float(ds.quoting_ratio.max()) == 0.0
    assert float(abs(ds.pnl).max()) == 0.0 and float(ds.max_drawdown.max()) == 0.0
    assert bool(ds.realized_spread.isnull().all())


def test_symmetric_quotes_inside_competitive_distance(symmetric_run):
    ds = metrics_dataset(symmetric_run, WIDE_LIMIT, ENV.objectives)
    np.testing.assert_array_equal(ds.quoting_ratio.values, 1.0)  # depth 0.5 < 0.7, limits never bind
    # fill intensity A exp(-kappa delta) per side: 140 e^{-0.75} = 66.1 fills per unit time
    expected = 140.0 * np.exp(-1.5 * 0.5)
    np.testing.assert_allclose(ds.fill_rate.mean("episode").values[0], [expected, expected], rtol=0.03)
    # every fill is at depth 0.5: effective spread 1 exactly; no adverse impact, so realized ~ effective
    np.testing.assert_allclose(ds.effective_spread.values, 1.0, atol=1e-4)
    assert abs(ds.realized_spread_mean.item() - 1.0) < 0.05
    # a symmetric quoter's inventory is a symmetric random walk
    assert abs(ds.inventory_mean.item()) < 1.0 and abs(ds.inventory_skewness.item()) < 0.3


def test_metrics_agree_with_env_rewards(symmetric_run):
    ds = metrics_dataset(symmetric_run, WIDE_LIMIT, ENV.objectives)
    reward_sums = np.asarray(symmetric_run.reward, np.float64).sum(axis=1)
    np.testing.assert_allclose(ds.objective_value.values[0], reward_sums, rtol=1e-6)
    np.testing.assert_allclose(ds.pnl.values[0], reward_sums[:, 0], atol=2e-3)  # wealth path vs summed pnl rewards
    np.testing.assert_allclose(ds.quoting_ratio.mean("side").values[0], reward_sums[:, 2], atol=1e-5)


def test_adverse_impact_shows_as_price_impact():
    impact = 0.5
    toxic = make_params(inventory_limit=1000.0, adverse_impact=impact)
    ds = metrics_dataset(
        evaluate_policy(ENV, toxic, POLICY, jax.random.key(2), EPISODES), toxic, ENV.objectives, markout_steps=1
    )
    # a bid fill needs a sell order (mid -0.5); a buy order arrives too w.p. A dt = 0.7 (mid +0.5):
    # the mid moves E = -0.5 * (1 - 0.7) against the fill, so the impact is 2 * 0.5 * 0.3 = 0.3 per unit
    expected = 2 * impact * (1 - 140.0 * 0.005)
    assert float(ds.price_impact.mean()) == pytest.approx(expected, abs=0.03)
    assert ds.realized_spread_mean.item() == pytest.approx(1.0 - expected, abs=0.03)


def test_latency_slippage_is_zero_without_latency(symmetric_run):
    ds = metrics_dataset(symmetric_run, WIDE_LIMIT, ENV.objectives)
    np.testing.assert_array_equal(ds.slippage.values, 0.0)


def test_scenario_batch_and_dataset_layout():
    calm, volatile = make_params(sigma=1.0), make_params(sigma=4.0)
    batch = stack_scenarios(calm, volatile)
    traj = evaluate_policy(ENV, batch, POLICY, jax.random.key(3), EPISODES)
    assert traj.reward.shape == (2, EPISODES, 200, 3)
    ds = metrics_dataset(
        [traj, traj],
        batch,
        ENV.objectives,
        policy_labels=["a", "b"],
        scenario_labels=["calm", "volatile"],
        objective_scales=[67.8, 98.2, 1.0],
    )
    assert dict(ds.sizes) == {
        "policy": 2,
        "scenario": 2,
        "episode": EPISODES,
        "objective": 3,
        "side": 2,
        "quantile": 5,
        "inventory_bin": 21,
    }
    assert ds.pnl.dims == ("policy", "scenario", "episode")
    assert ds.fill_rate.dims == ("policy", "scenario", "episode", "side")
    assert ds.pnl_quantile.dims == ("policy", "scenario", "quantile")
    assert ds.inventory_histogram.dims == ("policy", "scenario", "inventory_bin")
    for name in list(EPISODE_VARIABLES) + list(SUMMARY_VARIABLES) + ["objective_scale"]:
        assert ds[name].attrs["units"] and ds[name].attrs["long_name"], name
    assert list(ds.objective_units.values) == [OBJECTIVE_UNITS[o] for o in ENV.objectives]
    np.testing.assert_allclose(ds.inventory_histogram.sum("inventory_bin"), 1.0)
    # same keys in both scenarios (common random numbers): more volatility, same fills, wider PnL spread
    np.testing.assert_array_equal(ds.fills.sel(scenario="calm"), ds.fills.sel(scenario="volatile"))
    pnl_range = (ds.pnl_quantile.sel(quantile=0.95) - ds.pnl_quantile.sel(quantile=0.05)).sel(policy="a")
    assert float(pnl_range.sel(scenario="volatile")) > float(pnl_range.sel(scenario="calm"))
    # a single scenario from the batch gives the same numbers as evaluating it alone
    alone_run = evaluate_policy(ENV, volatile, POLICY, jax.random.key(3), EPISODES)
    alone = metrics_dataset(alone_run, volatile, ENV.objectives)
    np.testing.assert_allclose(alone.pnl.values[0], ds.pnl.sel(policy="a", scenario="volatile").values, rtol=1e-6)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="episodes"):
        evaluate_policy(ENV, WIDE_LIMIT, POLICY, jax.random.key(0), 0)
    with pytest.raises(ValueError, match="one episode length"):
        evaluate_policy(ENV, stack_scenarios(make_params(), make_params(horizon=0.5)), POLICY, jax.random.key(0), 2)
    traj, params = _hand_episode()
    batch = jax.tree_util.tree_map(lambda x: x[None], traj)
    with pytest.raises(ValueError, match="policy labels"):
        metrics_dataset([batch, batch], params, ["pnl", "inventory_risk"], policy_labels=["x", "x"])
    with pytest.raises(ValueError, match="columns"):
        metrics_dataset(batch, params, ["pnl"])
    with pytest.raises(ValueError, match="markout_steps"):
        metrics_dataset(batch, params, ["pnl", "inventory_risk"], markout_steps=-1)
    with pytest.raises(ValueError, match="quantiles"):
        metrics_dataset(batch, params, ["pnl", "inventory_risk"], quantiles=[0.5, 1.5])
