"""EnvConfig(negative_depth=True): quotes through the mid (Avellaneda & Stoikov 2008), opt-in."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from morl_mm.env import EnvConfig, MarketMakingEnv
from morl_mm.oracle import OracleNotExactError, solve
from morl_mm.policies.quoting import quote_to_action

THROUGH = MarketMakingEnv(EnvConfig(negative_depth=True))
CLIPPED = MarketMakingEnv()
PARAMS = THROUGH.make_params(inventory_limit=1e6)


@jax.jit
def _one_step_many_times(action, keys):
    """StepInfo of one step from the initial state per key (one compilation for every action)."""
    _, state = THROUGH.reset_env(jax.random.key(0), PARAMS)
    return jax.vmap(lambda k: THROUGH.step_env(k, state, action, PARAMS)[4])(keys)


def test_negative_depths_are_clipped_at_the_mid_unless_opted_in():
    action = jnp.array([-0.4, -9.0, 1.0, 1.0])
    np.testing.assert_allclose(np.asarray(CLIPPED.check_action(action)[0][:2]), [0.0, 0.0])
    np.testing.assert_allclose(np.asarray(THROUGH.check_action(action)[0][:2]), [-0.4, -THROUGH.config.max_depth])
    assert not bool(THROUGH.check_action(action)[1])  # finite depths beyond the box are valid, clipped
    np.testing.assert_allclose(THROUGH.action_space().low[:2], [-5.0, -5.0])
    np.testing.assert_allclose(CLIPPED.action_space().low[:2], [0.0, 0.0])
    np.testing.assert_allclose(np.asarray(quote_to_action(THROUGH.config, -0.4, 0.3))[:2], [-0.4, 0.3])
    np.testing.assert_allclose(np.asarray(quote_to_action(CLIPPED.config, -0.4, 0.3))[:2], [0.0, 0.3])


def test_the_flag_is_validated():
    with pytest.raises(ValueError, match="negative_depth: only the continuous"):
        EnvConfig(negative_depth=True, action_mode="discrete")
    with pytest.raises(ValueError, match="negative_depth: must be True or False"):
        EnvConfig(negative_depth=1)
    with pytest.raises(OracleNotExactError, match="negative_depth"):
        solve(THROUGH, THROUGH.make_params(horizon=0.05), np.array([1.0, 0.0, 0.0]))


@pytest.mark.parametrize("depth", [-1.0, -0.1, 0.5])
def test_fill_frequency_is_the_capped_probability(depth):
    """A quote at depth d fills with probability min(1, A dt exp(-kappa d)) per step: at d = -1 that is
    capped at 1 (A dt = 0.7, 0.7 e^1.5 > 1), at -0.1 it is 0.81, above the arrival probability."""
    keys = jax.random.split(jax.random.key(1), 20000)
    info = _one_step_many_times(jnp.array([depth, depth, 1.0, 1.0]), keys)
    frequency = float(np.mean(np.asarray(info.fill_bid) > 0))
    expected = min(1.0, 140 * 0.005 * np.exp(-1.5 * depth))
    assert abs(frequency - expected) <= 4 * np.sqrt(max(expected * (1 - expected), 1e-12) / len(keys)) + 1e-12
    # through the mid the bid is above it: the trader pays more than the mid for what it buys
    np.testing.assert_allclose(np.asarray(info.bid_price)[0], 100.0 - depth, atol=1e-4)


def test_tick_rounding_through_the_mid_stays_on_the_conservative_side():
    """With a tick grid the bid is rounded down and the ask up, through the mid too: a quote never moves
    further through the mid than asked."""
    params = THROUGH.make_params(tick_size=0.1)
    _, state = THROUGH.reset_env(jax.random.key(0), params)
    info = THROUGH.step_env(jax.random.key(2), state, jnp.array([-0.25, -0.25, 1.0, 1.0]), params)[4]
    np.testing.assert_allclose([float(info.bid_price), float(info.ask_price)], [100.2, 99.8], atol=1e-4)
