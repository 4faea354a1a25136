"""The one scalarisation w . (J / scales) (numpy and jax alike) and the one objective table that the env, its
reward space and the results read."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from morl_mm.env import EnvConfig, MarketMakingEnv
from morl_mm.env.objectives import COSTS, OBJECTIVES, TABLE, UNITS, StepQuantities, reward_vector
from morl_mm.env.params import make_params
from morl_mm.pareto import indicators as ind
from morl_mm.scalarisation import scalarise, validate_scales, validate_weights


def test_scalarise_is_w_dot_j_over_scales_in_numpy_and_jax():
    values = np.array([[12.0, -30.0, 0.8], [4.0, -2.0, 0.3]])
    weights = np.array([0.5, 0.3, 0.2])
    scales = np.array([10.0, 20.0, 1.0])
    expected = np.array([0.5 * 1.2 + 0.3 * -1.5 + 0.2 * 0.8, 0.5 * 0.4 + 0.3 * -0.1 + 0.2 * 0.3])
    np.testing.assert_allclose(scalarise(values, weights, scales), expected, rtol=1e-12)
    jitted = jax.jit(scalarise)(jnp.asarray(values), jnp.asarray(weights), jnp.asarray(scales))
    np.testing.assert_allclose(np.asarray(jitted), expected, rtol=1e-6)
    np.testing.assert_allclose(scalarise(values / scales, weights), expected, rtol=1e-12)  # normalised already
    # selection's utilities are the same number, one row per weight
    np.testing.assert_allclose(ind.utilities(values, np.stack([weights, weights]), scales), [expected, expected])


@pytest.mark.parametrize(
    "scales, message",
    [([1.0, 0.0, 1.0], "finite and > 0"), ([1.0, np.nan, 1.0], "finite"), ([1.0, 1.0], r"shape \(3,\)")],
)
def test_bad_scales_are_one_clear_error(scales, message):
    with pytest.raises(ValueError, match=f"scales: .*{message}"):
        validate_scales(scales, 3)


def test_weights_off_the_simplex_are_one_clear_error():
    with pytest.raises(ValueError, match="weights: must sum to 1"):
        validate_weights([0.5, 0.5, 0.5], 3)
    assert validate_weights([0.5, 0.5 + 1e-9, -1e-9], 3).min() == 0.0  # rounding within the tolerance is clipped


def test_the_objective_table_drives_names_units_costs_and_the_reward_space():
    assert OBJECTIVES == tuple(o.name for o in TABLE) and len(set(OBJECTIVES)) == len(TABLE)
    assert set(UNITS) == set(OBJECTIVES) and all(UNITS.values())
    assert COSTS == {o.name for o in TABLE if o.high == 0.0} and "pnl" not in COSTS
    env = MarketMakingEnv(EnvConfig(objectives=OBJECTIVES))
    space = env.reward_space()
    np.testing.assert_array_equal(space.low, [o.low for o in TABLE])
    np.testing.assert_array_equal(space.high, [o.high for o in TABLE])
    assert {o.scale_rule for o in TABLE} <= {"reference", "one"}


def test_reward_vector_reads_each_objectives_reward_function_in_the_requested_order():
    params = make_params(EnvConfig(), sigma=2.0, dt=0.005, order_change_cost=0.01)
    step = StepQuantities(
        pnl=jnp.float32(1.5),
        inventory=jnp.float32(3.0),
        sigma=jnp.float32(2.0),
        firm=jnp.array([1.0, 0.0]),
        units=jnp.array([1.0, 0.0]),
        mid_move=jnp.float32(-0.25),
        submitted=jnp.array([0.5, 0.5, 1.0, 1.0, 1.0, 1.0]),
        last_submitted=jnp.array([0.5, 0.7, 1.0, 1.0, 1.0, 1.0]),
    )
    order = ("order_management", "pnl", "quoting_ratio", "adverse_selection", "inventory_risk")
    reward = reward_vector(order, params, **step._asdict())
    expected = [-0.01, 1.5, 0.5 * 1.0 / 200, -0.25, -((3.0 * 2.0) ** 2) * 0.005]
    np.testing.assert_allclose(np.asarray(reward), expected, rtol=1e-5)
