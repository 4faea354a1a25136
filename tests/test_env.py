"""Invariants of the functional market-making env (issue 2)."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from morl_mm.env import EnvConfig, MarketMakingEnv, make_params, n_steps, rollout
from morl_mm.env.market import OBS_NAMES

ALL_OBJECTIVES = ("pnl", "inventory_risk", "quoting_ratio", "adverse_selection", "order_management")


class ConstantQuote:
    """Submits the same action every step; the action is the policy's (traced) params."""

    params = None

    def act(self, params, obs, state, key):
        return params


CONSTANT = ConstantQuote()


def constant(action):
    return lambda obs, state, key: jnp.asarray(action)


def random_policy(env):
    return lambda obs, state, key: env.sample_action(key)


@functools.partial(jax.jit, static_argnums=(0, 1, 4))
def _batched_rollout(env, policy, keys, params, num_steps, policy_params):
    return jax.vmap(lambda k: rollout(env, policy, k, params, num_steps, policy_params))(keys)


def episode_returns(env, policy, params, episodes, seed=0):
    """Trajectories of `episodes` episodes. Params and constant actions are traced: no recompiles."""
    keys = jax.random.split(jax.random.key(seed), episodes)
    if not callable(policy):  # an action: quote it every step
        return _batched_rollout(env, CONSTANT, keys, params, n_steps(params), jnp.asarray(policy, jnp.float32))
    return _batched_rollout(env, policy, keys, params, n_steps(params), None)


PNL_ENV = MarketMakingEnv(objectives=ALL_OBJECTIVES, n_regimes=2, max_lots=3)
PNL_POLICY = random_policy(PNL_ENV)
LIMIT_ENVS = {lots: MarketMakingEnv(max_lots=lots) for lots in (1, 2, 3)}
LIMIT_POLICIES = {
    lots: (random_policy(env), constant([0.0, 3.0, 1.0, 1.0] + [float(lots)] * 2 * (lots > 1)))
    for lots, env in LIMIT_ENVS.items()
}


# -- accounting -----------------------------------------------------------------------------------
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    fee=st.floats(-0.05, 0.05),
    penalty=st.floats(0.0, 0.5),
    impact=st.floats(0.0, 0.2),
    jump_rate=st.floats(0.0, 20.0),
    q0=st.integers(-3, 3),
)
def test_episode_pnl_equals_wealth_change(seed, fee, penalty, impact, jump_rate, q0):
    """The episode sum of `pnl` is final minus initial mark-to-market wealth, liquidation included."""
    env = PNL_ENV
    params = env.make_params(
        horizon=0.2,
        maker_fee=fee,
        liquidation_penalty=penalty,
        adverse_impact=impact,
        jump_rate=jump_rate,
        jump_std=0.5,
        initial_inventory=float(q0),
        signal_vol=1.0,
        flow_sensitivity=0.5,
        regime_vol=[1.0, 2.0],
        regime_transition=[[0.9, 0.1], [0.2, 0.8]],
    )
    traj = jax.tree_util.tree_map(lambda x: x[0], episode_returns(env, PNL_POLICY, params, 1, seed))
    initial_wealth = q0 * params.mid0
    final = traj.info
    final_wealth = final.cash[-1] + final.inventory[-1] * final.mid[-1]
    pnl_sum = float(traj.reward[:, 0].sum())
    np.testing.assert_allclose(pnl_sum, float(final_wealth) - initial_wealth, atol=2e-3 * (1 + abs(pnl_sum)))
    np.testing.assert_allclose(float(final.wealth[-1]), float(final_wealth), rtol=1e-5, atol=1e-3)
    # the liquidation penalty is charged once, at the last step: the same episode without it (same keys,
    # same actions) differs by alpha q_T^2 in the final cash and the pnl, and nowhere before
    free = jax.tree_util.tree_map(
        lambda x: x[0], episode_returns(env, PNL_POLICY, params.replace(liquidation_penalty=0.0), 1, seed)
    )
    charge = penalty * float(final.inventory[-1]) ** 2
    np.testing.assert_array_equal(np.asarray(free.info.cash[:-1]), np.asarray(final.cash[:-1]))
    np.testing.assert_array_equal(np.asarray(free.reward[:-1]), np.asarray(traj.reward[:-1]))
    np.testing.assert_allclose(float(free.info.cash[-1] - final.cash[-1]), charge, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(float(free.reward[-1, 0] - traj.reward[-1, 0]), charge, rtol=1e-5, atol=1e-3)
    assert bool(traj.done[-1]) and not bool(traj.done[:-1].any())


# -- inventory limits -----------------------------------------------------------------------------
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    limit=st.integers(3, 8),
    order_size=st.sampled_from([0.5, 1.0]),
    max_lots=st.integers(1, 3),
)
def test_inventory_limit_never_breached(seed, limit, order_size, max_lots):
    env = LIMIT_ENVS[max_lots]
    params = env.make_params(horizon=0.5, inventory_limit=float(limit), order_size=order_size)
    # the second policy, an aggressive one-sided quoter, runs into the limit quickly
    for policy in LIMIT_POLICIES[max_lots]:
        traj = episode_returns(env, policy, params, 1, seed)
        assert float(jnp.abs(traj.info.inventory).max()) <= limit + 1e-5
    assert float(traj.info.inventory.max()) >= limit - order_size * max_lots  # the limit was reached


# -- fills ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("depth", [0.2, 0.7, 1.5])
def test_fill_frequency_matches_intensity(depth):
    """A quote at depth delta fills with probability A exp(-kappa delta) dt per step."""
    env = MarketMakingEnv()
    params = env.make_params(inventory_limit=1e6)
    traj = episode_returns(env, [depth, depth, 1.0, 1.0], params, episodes=500)
    n = traj.info.fill_bid.size
    p = float(params.arrival_rate * params.dt * np.exp(-params.kappa * depth))
    for fills in (traj.info.fill_bid, traj.info.fill_ask):
        freq = float(fills.mean())
        se = np.sqrt(p * (1 - p) / n)
        assert abs(freq - p) < 4 * se, (freq, p, se)


def test_arrivals_are_tilted_by_the_signal():
    env = MarketMakingEnv()
    params = env.make_params(signal_vol=8.0, signal_reversion=1.0, flow_sensitivity=2.0, inventory_limit=1e6)
    traj = episode_returns(env, [0.5, 0.5, 1.0, 1.0], params, episodes=200)
    # buy market orders come more often after the signal turned positive: positive correlation
    # between the drift (mid increments) and the buy-minus-sell imbalance
    mid_move = np.diff(np.asarray(traj.info.mid), axis=1).ravel()
    imbalance = np.asarray(traj.info.market_buy - traj.info.market_sell)[:, 1:].ravel()
    assert np.corrcoef(mid_move, imbalance)[0, 1] > 0.02


def test_adverse_impact_moves_mid_against_the_filled_side():
    env = MarketMakingEnv(objectives=ALL_OBJECTIVES)
    params = env.make_params(sigma=0.0, adverse_impact=0.1, inventory_limit=1e6)
    traj = episode_returns(env, [0.3, 0.3, 1.0, 1.0], params, episodes=50)
    move = np.diff(np.concatenate([np.full((50, 1), 100.0), np.asarray(traj.info.mid)], axis=1), axis=1)
    expected = 0.1 * np.asarray(traj.info.market_buy - traj.info.market_sell)
    np.testing.assert_allclose(move, expected, atol=1e-4)
    # a fill is charged the mid's move against it: a lone sell order fills the bid and pushes the mid
    # down by the impact; when orders arrive on both sides in one step their impacts cancel
    bought, sold = np.asarray(traj.info.fill_bid), np.asarray(traj.info.fill_ask)
    cost = bought * np.maximum(-move, 0) + sold * np.maximum(move, 0)
    np.testing.assert_allclose(np.asarray(traj.reward[:, :, 3]), -cost, atol=1e-4)
    lone = (bought > 0) & (np.asarray(traj.info.market_buy) == 0)
    assert lone.sum() > 100 and np.allclose(cost[lone], 0.1, atol=1e-4)


# -- objectives ---------------------------------------------------------------------------------
def test_quoting_ratio_is_one_inside_and_zero_when_not_quoting():
    env = MarketMakingEnv()
    params = env.make_params(inventory_limit=1e6)
    always = episode_returns(env, [0.5, 0.5, 1.0, 1.0], params, episodes=8).reward.sum(axis=1)
    never = episode_returns(env, [0.5, 0.5, -1.0, -1.0], params, episodes=8).reward.sum(axis=1)
    wide = episode_returns(env, [2.0, 2.0, 1.0, 1.0], params, episodes=8).reward.sum(axis=1)
    one_side = episode_returns(env, [0.5, 0.5, 1.0, -1.0], params, episodes=8).reward.sum(axis=1)
    np.testing.assert_allclose(always[:, 2], 1.0, atol=1e-5)
    np.testing.assert_allclose(never[:, 2], 0.0, atol=1e-7)
    np.testing.assert_allclose(wide[:, 2], 0.0, atol=1e-7)  # quoted, but beyond the competitive distance
    np.testing.assert_allclose(one_side[:, 2], 0.5, atol=1e-5)
    np.testing.assert_allclose(never[:, :2], 0.0, atol=1e-7)  # no quotes: no pnl, no inventory, no risk


def test_inventory_risk_is_minus_squared_inventory_value():
    env = MarketMakingEnv()
    params = env.make_params(horizon=0.5)
    traj = episode_returns(env, random_policy(env), params, episodes=4)
    expected = -((np.asarray(traj.info.inventory) * 2.0) ** 2) * 0.005
    np.testing.assert_allclose(np.asarray(traj.reward[..., 1]), expected, rtol=1e-5, atol=1e-7)


def test_order_management_counts_quote_changes():
    env = MarketMakingEnv(objectives=("pnl", "order_management"), action_mode="discrete")
    params = env.make_params(horizon=0.02)  # 4 steps
    g = env.config.n_depths
    actions = jnp.array([0 * (g + 1) + 0, 0 * (g + 1) + 0, 1 * (g + 1) + 0, g * (g + 1) + g])
    policy = lambda obs, state, key: actions[state.time]  # noqa: E731
    traj = rollout(env, policy, jax.random.key(0), params)
    # off->both on (2 changes), unchanged (0), bid moves (1), both withdrawn (2)
    np.testing.assert_allclose(np.asarray(traj.reward[:, 1]), -0.01 * np.array([2, 0, 1, 2]), atol=1e-7)


# -- latency -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("latency", [0, 1, 3])
def test_latency_delays_the_action_by_exactly_L_steps(latency):
    env = MarketMakingEnv(max_latency=3)
    params = env.make_params(horizon=0.05, latency=latency)  # 10 steps
    # quote only at step 2, a distinctive depth
    policy = lambda obs, state, key: jnp.where(
        state.time == 2,
        jnp.array([0.3, 0.4, 1.0, 1.0]),  # noqa: E731
        jnp.array([0.0, 0.0, -1.0, -1.0]),
    )
    traj = rollout(env, policy, jax.random.key(0), params)
    quoted = ~np.isnan(np.asarray(traj.info.bid_price))
    assert quoted.tolist() == [t == 2 + latency for t in range(10)]
    step = 2 + latency
    mid_before = float(params.mid0) if step == 0 else float(traj.info.mid[step - 1])
    np.testing.assert_allclose(mid_before - float(traj.info.bid_price[step]), 0.3, atol=1e-4)


# -- ticks and discrete actions ----------------------------------------------------------------------
def test_quotes_sit_on_the_tick_grid_away_from_the_mid():
    env = MarketMakingEnv()
    params = env.make_params(horizon=0.2, tick_size=0.25)
    traj = episode_returns(env, [0.33, 0.61, 1.0, 1.0], params, episodes=4)
    bid, ask = np.asarray(traj.info.bid_price), np.asarray(traj.info.ask_price)
    np.testing.assert_allclose(bid / 0.25, np.round(bid / 0.25), atol=1e-3)
    np.testing.assert_allclose(ask / 0.25, np.round(ask / 0.25), atol=1e-3)
    mids = np.concatenate([np.full((4, 1), 100.0), np.asarray(traj.info.mid)[:, :-1]], axis=1)
    quoted_bid, quoted_ask = ~np.isnan(bid), ~np.isnan(ask)  # a side is withdrawn at the inventory limit
    assert quoted_bid.mean() > 0.5 and quoted_ask.mean() > 0.5
    assert np.all((mids - bid)[quoted_bid] >= 0.33 - 1e-4) and np.all((ask - mids)[quoted_ask] >= 0.61 - 1e-4)
    assert np.all((mids - bid)[quoted_bid] < 0.33 + 0.25) and np.all((ask - mids)[quoted_ask] < 0.61 + 0.25)


def test_discrete_actions_map_to_grid_and_off():
    env = MarketMakingEnv(action_mode="discrete")
    g = env.config.n_depths
    quote = env.action_to_quote(3 * (g + 1) + g)
    np.testing.assert_allclose(np.asarray(quote), [env.config.depth_grid[3], env.config.depth_grid[-1], 1, 0, 1, 1])
    assert env.action_space().n == (g + 1) ** 2


# -- purity: keys, jit, vmap, scan ---------------------------------------------------------------------
def test_same_key_same_trajectory_and_different_key_differs():
    env = MarketMakingEnv(n_regimes=2)
    params = env.make_params(horizon=0.2, regime_vol=[1.0, 3.0], regime_transition=[[0.9, 0.1], [0.1, 0.9]])
    run = jax.jit(lambda k: rollout(env, random_policy(env), k, params))
    a, b, c = run(jax.random.key(7)), run(jax.random.key(7)), run(jax.random.key(8))
    jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)
    assert not np.allclose(np.asarray(a.info.mid), np.asarray(c.info.mid))


def test_jit_vmap_scan_match_an_eager_step_loop():
    env = MarketMakingEnv(objectives=ALL_OBJECTIVES, max_latency=2)
    params = env.make_params(horizon=0.05, latency=1, jump_rate=20.0, jump_std=0.3, adverse_impact=0.05)
    steps = 6
    keys = jax.random.split(jax.random.key(3), 2)
    policy = random_policy(env)
    scanned = jax.jit(jax.vmap(lambda k: rollout(env, policy, k, params, steps)))(keys)
    for i, key in enumerate(keys):  # the same key schedule as rollout(), stepped eagerly
        key_reset, key_env, key_act = jax.random.split(key, 3)
        obs, state = env.reset_env(key_reset, params)
        for t, act_key in enumerate(jax.random.split(key_act, steps)):
            action = policy(obs, state, act_key)
            obs, state, reward, done, info = env.step_env(key_env, state, action, params)
            np.testing.assert_allclose(np.asarray(reward), np.asarray(scanned.reward[i, t]), rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(float(info.mid), float(scanned.info.mid[i, t]), rtol=1e-6)


def test_vmap_over_market_params():
    env = MarketMakingEnv()
    base = env.make_params(horizon=0.5)
    sigmas = jnp.array([0.5, 1.0, 4.0])
    batched = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (3,) + jnp.shape(x)), base)
    batched = dataclasses.replace(batched, sigma=sigmas)
    keys = jax.random.split(jax.random.key(0), 3)
    traj = jax.jit(jax.vmap(lambda k, p: rollout(env, constant([0.7, 0.7, 1.0, 1.0]), k, p, 100)))(keys, batched)
    for i, sigma in enumerate(np.asarray(sigmas)):
        expected = -((np.asarray(traj.info.inventory[i]) * sigma) ** 2) * 0.005
        np.testing.assert_allclose(np.asarray(traj.reward[i, :, 1]), expected, rtol=1e-5, atol=1e-7)


def test_step_auto_resets_at_the_end_of_an_episode():
    env = MarketMakingEnv()
    params = env.make_params(horizon=0.02)  # 4 steps
    obs, state = env.reset(jax.random.key(0), params)
    step = jax.jit(lambda k, s: env.step(k, s, jnp.array([0.1, 0.1, 1.0, 1.0]), params))
    for t in range(4):
        obs, state, reward, done, info = step(jax.random.key(t), state)
    assert bool(done) and int(info.time) == 4
    assert int(state.time) == 0 and float(state.cash) == 0.0 and float(state.mid) == 100.0
    assert obs.shape == (len(OBS_NAMES),)


def test_regime_switching_follows_the_transition_matrix():
    env = MarketMakingEnv(n_regimes=2)
    params = env.make_params(regime_vol=[1.0, 3.0], regime_transition=[[0.95, 0.05], [0.1, 0.9]])
    traj = episode_returns(env, [0.7, 0.7, -1.0, -1.0], params, episodes=200)
    regime = np.asarray(traj.info.regime)
    for state, p_leave in ((0, 0.05), (1, 0.1)):  # transition frequencies within 4.5 binomial standard errors
        left = regime[:, 1:][regime[:, :-1] == state] != state
        assert abs(left.mean() - p_leave) < 4.5 * np.sqrt(p_leave * (1 - p_leave) / left.size), (state, left.mean())
    # realised volatility of the mid is 3x higher in regime 1 (a sample std has relative s.e. 1/sqrt(2n))
    moves = np.diff(np.concatenate([np.full((200, 1), 100.0), np.asarray(traj.info.mid)], axis=1), axis=1)
    high, low = moves[regime == 1], moves[regime == 0]
    ratio = high.std() / low.std()
    assert abs(ratio - 3.0) < 4.5 * 3.0 * np.sqrt(1 / (2 * high.size) + 1 / (2 * low.size)), ratio


def test_observation_is_normalised():
    env = MarketMakingEnv()
    params = env.default_params
    traj = episode_returns(env, random_policy(env), params, episodes=64)
    obs = np.asarray(traj.obs)
    space = env.observation_space()
    assert np.all(obs >= space.low - 1e-6) and np.all(obs <= space.high + 1e-6)
    np.testing.assert_allclose(obs[:, 0, 1], 1.0)  # time remaining starts at 1
    # (realised vol / sigma)^2 is an EWMA of squared increments / (sigma^2 dt), each of mean 1: unbiased
    var = obs[:, -1, 2].astype(np.float64) ** 2
    assert abs(var.mean() - 1.0) < 4.5 * var.std(ddof=1) / np.sqrt(var.size), var.mean()


def test_binary_mid_noise_moves_exactly_one_sigma_sqrt_dt():
    env = MarketMakingEnv(mid_noise="binary")
    params = env.default_params
    traj = episode_returns(env, random_policy(env), params, episodes=32)
    moves = np.diff(np.concatenate([np.full((32, 1), 100.0), np.asarray(traj.info.mid, np.float64)], axis=1), axis=1)
    step = float(params.sigma) * np.sqrt(float(params.dt))
    np.testing.assert_allclose(np.abs(moves), step, rtol=1e-3)  # float32 mids near 100
    up = (moves > 0).mean()
    assert abs(up - 0.5) < 4.5 * np.sqrt(0.25 / moves.size), up


def test_reference_scales_match_their_closed_form():
    """Both sides at depth 1/kappa without a binding inventory limit: each side fills with probability
    p = A dt e^-1 per step, so E[pnl] = 2 N p / kappa and E[inventory_risk] = -sigma^2 dt 2p(1-p) N(N+1)/2
    (q is a random walk with step variance 2p(1-p)); quoting_ratio keeps scale 1."""
    from morl_mm.env.scales import REFERENCE_EPISODES, reference_scales

    env = MarketMakingEnv()
    params = env.make_params(inventory_limit=1e6)
    n, p = n_steps(params), float(params.arrival_rate * params.dt) * np.exp(-1.0)
    sigma, dt = float(params.sigma), float(params.dt)
    exact = np.array([2 * n * p / float(params.kappa), sigma**2 * dt * 2 * p * (1 - p) * n * (n + 1) / 2, 1.0])
    scales = reference_scales(env, params)
    # the standard error of the scales' Monte-Carlo means, from an independent sample of the same size
    depth = 1.0 / float(params.kappa)
    traj = episode_returns(env, [depth, depth, 1.0, 1.0], params, episodes=REFERENCE_EPISODES, seed=99)
    returns = np.asarray(traj.reward, np.float64).sum(axis=1)
    se = returns.std(axis=0, ddof=1) / np.sqrt(REFERENCE_EPISODES)
    assert np.all(np.abs(scales[:2] - exact[:2]) < 4.5 * se[:2] + 1e-6), (scales, exact, se)
    assert scales[2] == 1.0


# -- validation --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"sigma": -1.0}, "sigma"),
        ({"dt": 1.0}, "dt"),
        ({"dt": 0.003}, "dt"),  # not a whole number of steps
        ({"vol_ewma": 1.5}, "vol_ewma"),
        ({"inventory_limit": 0.5}, "inventory_limit"),
        ({"arrival_rate": 500.0}, "arrival_rate"),
        ({"latency": 2}, "latency"),
        ({"kappa": float("nan")}, "kappa"),
        ({"bogus": 1.0}, "bogus"),
        ({"regime_transition": [[0.5, 0.6], [0.5, 0.5]]}, "regime_transition"),
        ({"initial_inventory": 20.0}, "initial_inventory"),
        ({"sigma": "2"}, "sigma"),  # not a number: a ValueError naming the field, not a TypeError
        ({"tick_size": 1e-30}, "tick_size"),  # prices / tick overflow float32
        ({"mid0": 1e300}, "mid0"),  # finite, but not in float32
    ],
)
def test_bad_params_raise_naming_the_field(overrides, field):
    config = EnvConfig(n_regimes=2) if "regime_transition" in overrides else EnvConfig()
    with pytest.raises(ValueError, match=field):
        make_params(config, **overrides)


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"objectives": ("pnl", "alpha")}, "objectives"),
        ({"action_mode": "hybrid"}, "action_mode"),
        ({"depth_grid": (0.1, -0.2)}, "depth_grid"),
        ({"max_lots": 0}, "max_lots"),
    ],
)
def test_bad_config_raises_naming_the_field(overrides, field):
    with pytest.raises(ValueError, match=field):
        EnvConfig(**overrides)
