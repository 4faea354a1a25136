"""The env under fuzzed actions and params (issue 16): whatever the action (NaN, inf, huge, negative,
fractional indices) and whatever params make_params accepts in plausible ranges, the state never holds
a NaN or an inf, and an action is flagged invalid exactly when the contract says so."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from morl_mm.env import EnvConfig, MarketMakingEnv, make_params

STEPS = 8
LOTS_ENV = MarketMakingEnv(
    EnvConfig(
        action_mode="continuous",
        max_lots=3,
        objectives=("pnl", "inventory_risk", "quoting_ratio", "adverse_selection", "order_management"),
    )
)
DISC_ENV = MarketMakingEnv(EnvConfig(action_mode="discrete"))
PARAM_ENV = MarketMakingEnv(EnvConfig(action_mode="continuous", n_regimes=2, max_latency=2))

ANY_FLOAT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 1e30, -1e30, 3.7, 80.0, 81.0]),
)


def finite_tree(tree) -> bool:
    return all(bool(jnp.all(jnp.isfinite(jnp.asarray(leaf, jnp.float32)))) for leaf in jax.tree_util.tree_leaves(tree))


@functools.partial(jax.jit, static_argnums=0)
def run(env, actions, params):
    """STEPS steps of ``actions``: per step, whether the state (and obs, reward) is finite, and the flag."""
    _, state = env.reset_env(jax.random.key(0), params)

    def one(state, xs):
        key, action = xs
        obs, state, reward, _, info = env.step_env(key, state, action, params)
        leaves = jax.tree_util.tree_leaves(state) + [obs, reward]
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(jnp.asarray(x, jnp.float32))) for x in leaves]))
        return state, (finite, info.invalid_action)

    keys = jax.random.split(jax.random.key(1), actions.shape[0])
    return jax.lax.scan(one, state, (keys, actions))[1]


@settings(max_examples=300)
@given(actions=st.lists(st.lists(ANY_FLOAT, min_size=6, max_size=6), min_size=STEPS, max_size=STEPS))
def test_continuous_actions_never_poison_the_state(actions):
    actions = np.asarray(actions, np.float32)
    finite, invalid = run(LOTS_ENV, jnp.asarray(actions), LOTS_ENV.default_params)
    assert bool(jnp.all(finite))
    np.testing.assert_array_equal(np.asarray(invalid), ~np.isfinite(actions).all(axis=1))


@settings(max_examples=300)
@given(actions=st.lists(ANY_FLOAT, min_size=STEPS, max_size=STEPS))
@example(actions=[0.0] * (STEPS - 1) + [1.4e-45])
def test_discrete_actions_never_poison_the_state(actions):
    actions = np.asarray(actions, np.float32)
    finite, invalid = run(DISC_ENV, jnp.asarray(actions), DISC_ENV.default_params)
    assert bool(jnp.all(finite))
    n = DISC_ENV.config.n_discrete_actions
    actions = np.where(np.abs(actions) < np.finfo(np.float32).tiny, 0.0, actions)  # XLA flushes subnormals to 0
    expected = ~np.isfinite(actions) | (actions != np.round(actions)) | (actions < 0) | (actions >= n)
    np.testing.assert_array_equal(np.asarray(invalid), expected)


def _as_arrays(params):
    """Every leaf a device array of one dtype per field, so that one compilation serves every example."""
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float32), params).replace(
        latency=jnp.asarray(params.latency, jnp.int32)
    )


PARAMS = st.fixed_dictionaries(
    {
        "sigma": st.floats(0.0, 50.0),
        "drift": st.floats(-50.0, 50.0),
        "kappa": st.floats(1e-3, 50.0),
        "arrival_rate": st.floats(0.0, 200.0),
        "jump_rate": st.floats(0.0, 200.0),
        "jump_mean": st.floats(-20.0, 20.0),
        "jump_std": st.floats(0.0, 20.0),
        "signal_vol": st.floats(0.0, 10.0),
        "signal_reversion": st.floats(0.0, 50.0),
        "flow_sensitivity": st.floats(-5.0, 5.0),
        "adverse_impact": st.floats(-1.0, 1.0),
        "tick_size": st.floats(0.0, 2.0),
        "order_size": st.floats(1e-3, 5.0),
        "inventory_limit": st.floats(1e-3, 100.0),
        "latency": st.integers(0, 2),
        "maker_fee": st.floats(-1.0, 1.0),
        "liquidation_penalty": st.floats(0.0, 10.0),
        "competitive_distance": st.floats(1e-3, 10.0),
        "initial_inventory": st.floats(-100.0, 100.0),
        "vol_ewma": st.floats(0.0, 1.0),
        "flow_ewma": st.floats(0.0, 1.0),
        "mid0": st.floats(-1e3, 1e4),
        "regime_vol": st.lists(st.floats(0.0, 10.0), min_size=2, max_size=2),
        "regime_transition": st.floats(0.0, 1.0).map(lambda p: [[1 - p, p], [p, 1 - p]]),
    }
)


EXAMPLE = {
    "sigma": 0.0,
    "kappa": 1.0,
    "arrival_rate": 0.0,
    "inventory_limit": 1.0,
    "mid0": 4.0,
    "regime_vol": [0.0, 0.0],
    "regime_transition": [[1.0, 0.0], [0.0, 1.0]],
}


@settings(max_examples=200)
@example(overrides={**EXAMPLE, "tick_size": 1.175494351e-38}, actions=[[0.0] * 4] * STEPS)  # NaN cash before
@given(overrides=PARAMS, actions=st.lists(st.lists(ANY_FLOAT, min_size=4, max_size=4), min_size=STEPS, max_size=STEPS))
def test_params_that_validate_never_give_a_nan_state(overrides, actions):
    try:
        params = make_params(PARAM_ENV.config, horizon=0.04, dt=0.005, **overrides)
    except ValueError as err:
        assert str(err).startswith("EnvParams.")
        assume(False)
    finite, _ = run(PARAM_ENV, jnp.asarray(np.asarray(actions, np.float32)), _as_arrays(params))
    assert bool(jnp.all(finite))
