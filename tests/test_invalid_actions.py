"""Invalid actions: never a NaN in the state, flagged in the step info, counted by the evaluation,
rejected by the mo-gymnasium adapters (issue 16, defect 1)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from morl_mm.env import MarketMakingEnv
from morl_mm.env.gym_adapter import MOMarketMakingEnv, VectorMarketMakingEnv
from morl_mm.evaluation import batch_metrics
from morl_mm.evaluation.rollouts import evaluate_policy

CONT = MarketMakingEnv(action_mode="continuous")
DISC = MarketMakingEnv(action_mode="discrete")
N_DISC = DISC.config.n_discrete_actions


def state_is_finite(state) -> bool:
    return all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree_util.tree_leaves(state))


@pytest.mark.parametrize(
    "action, quoted",
    [
        ([np.nan, 0.5, 1.0, 1.0], [0.0, 1.0]),  # a non-finite depth: that side is not quoted
        ([0.5, np.inf, 1.0, 1.0], [1.0, 0.0]),
        ([0.5, 0.5, np.nan, 1.0], [0.0, 1.0]),  # a NaN flag: off
        ([np.nan] * 4, [0.0, 0.0]),
    ],
)
def test_non_finite_continuous_action_quotes_nothing_on_that_side_and_is_flagged(action, quoted):
    params = CONT.default_params
    step = jax.jit(lambda k, s, a: CONT.step(k, s, a, params))
    _, state = CONT.reset(jax.random.key(0), params)
    for t in range(30):  # the bad action, then good ones: nothing stays poisoned
        a = jnp.asarray(action if t == 0 else [0.5, 0.5, 1.0, 1.0], jnp.float32)
        obs, state, reward, done, info = step(jax.random.key(t), state, a)
        assert state_is_finite(state) and bool(jnp.all(jnp.isfinite(obs))) and bool(jnp.all(jnp.isfinite(reward)))
        assert bool(info.invalid_action) == (t == 0)
        if t == 0:
            np.testing.assert_array_equal(np.asarray(state.effective_quote[2:4]), quoted)
            assert np.isnan(float(info.bid_price)) == (quoted[0] == 0)


@pytest.mark.parametrize(
    "action, invalid", [(-1, True), (10**6, True), (N_DISC, True), (0, False), (N_DISC - 1, False)]
)
def test_discrete_indices_out_of_range_are_clipped_inside_jit_and_flagged(action, invalid):
    quote, flag = jax.jit(DISC.check_action)(jnp.asarray(action, jnp.int32))
    clipped = min(max(action, 0), N_DISC - 1)
    np.testing.assert_array_equal(np.asarray(quote), np.asarray(DISC.check_action(jnp.int32(clipped))[0]))
    assert bool(flag) == invalid


@pytest.mark.parametrize("action", [np.nan, np.inf, 3.7, -0.5])
def test_float_discrete_actions_that_are_no_index_are_flagged(action):
    quote, flag = jax.jit(DISC.check_action)(jnp.float32(action))
    assert bool(flag) and bool(jnp.all(jnp.isfinite(quote)))
    if not np.isfinite(action):  # no index at all: both sides off
        np.testing.assert_array_equal(np.asarray(quote[2:4]), [0.0, 0.0])


def test_invalid_actions_under_vmap_flag_only_their_env():
    params = CONT.default_params
    actions = jnp.array(
        [[0.5, 0.5, 1.0, 1.0], [jnp.nan, 0.5, 1.0, 1.0], [0.5, 0.5, 1.0, 1.0], [jnp.nan, jnp.nan, jnp.nan, jnp.nan]]
    )
    keys = jax.random.split(jax.random.key(1), 4)
    _, states = jax.vmap(CONT.reset, in_axes=(0, None))(keys, params)
    _, states, reward, _, info = jax.jit(jax.vmap(CONT.step, in_axes=(0, 0, 0, None)))(keys, states, actions, params)
    np.testing.assert_array_equal(np.asarray(info.invalid_action), [False, True, False, True])
    assert state_is_finite(states) and bool(jnp.all(jnp.isfinite(reward)))


def test_rollouts_and_evaluation_count_invalid_actions():
    params = CONT.make_params(horizon=0.1)  # 20 steps
    bad_every_other = lambda obs, state, key: jnp.where(state.time % 2 == 0, jnp.nan, 0.5) * jnp.ones(4)  # noqa: E731
    traj = evaluate_policy(CONT, params, bad_every_other, jax.random.key(0), 3)
    np.testing.assert_array_equal(np.asarray(traj.info.invalid_action).sum(axis=1), [10, 10, 10])
    np.testing.assert_array_equal(np.asarray(batch_metrics(traj, params).invalid_actions), [10, 10, 10])
    assert np.all(np.isfinite(np.asarray(traj.info.cash))) and np.all(np.isfinite(np.asarray(traj.reward)))


@pytest.mark.parametrize("action", [-1, 10**6, np.nan, 3.7, "a"])
def test_the_adapter_rejects_invalid_discrete_actions(action):
    env = MOMarketMakingEnv(action_mode="discrete", horizon=0.1)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="not in Discrete"):
        env.step(action)
    env.step(3)  # the env still steps


def test_the_vector_adapter_rejects_non_finite_actions_and_names_the_envs():
    venv = VectorMarketMakingEnv(4, seed=0, action_mode="continuous", horizon=0.1)
    venv.reset(seed=0)
    actions = np.full((4, 4), 0.5, np.float32)
    actions[2, 0] = np.nan
    with pytest.raises(ValueError, match=r"env\(s\) \[2\]"):
        venv.step(actions)
    obs, reward, *_ = venv.step(np.full((4, 4), 0.5, np.float32))
    assert np.all(np.isfinite(obs)) and np.all(np.isfinite(reward))
    dvenv = VectorMarketMakingEnv(2, seed=0, action_mode="discrete", horizon=0.1)
    dvenv.reset(seed=0)
    with pytest.raises(ValueError, match="invalid action"):
        dvenv.step(np.array([3.7, 2.0]))
