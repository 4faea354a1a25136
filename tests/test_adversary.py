"""AdversaryBox (issue 11, item 1): a box of market params set per step as data, and AdversarialEnv."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from morl_mm.env import MarketMakingEnv
from morl_mm.env.adversary import AdversarialEnv, AdversaryBox, parse_adversary


def test_box_orders_fields_maps_actions_and_lists_corners():
    box = parse_adversary("kappa=1:2,drift=-1:1")
    assert box == AdversaryBox({"drift": (-1, 1), "kappa": (1, 2)}) and box.fields == ("drift", "kappa")
    assert box.spec() == "drift=-1:1,kappa=1:2" and parse_adversary(box.spec()) == box
    np.testing.assert_allclose(box.values(jnp.array([-1.0, 1.0])), [-1.0, 2.0])
    np.testing.assert_allclose(box.values(jnp.array([0.0, 7.0])), [0.0, 2.0])  # clipped into the box
    np.testing.assert_array_equal(box.vertices(), [[-1, 1], [-1, 2], [1, 1], [1, 2]])
    np.testing.assert_array_equal(box.grid(2), box.vertices())
    assert box.grid(3).shape == (9, 2) and [0.0, 1.5] in box.grid(3).tolist()
    params = box.apply(MarketMakingEnv().default_params, jnp.array([1.0, -1.0]))
    assert float(params.drift) == 1.0 and float(params.kappa) == 1.0
    assert parse_adversary("sigma=2:2").is_point and not box.is_point


@pytest.mark.parametrize(
    "text, match",
    [
        ("volume=1:2", "unknown field"),
        ("drift=1:-1", "lo <= hi"),
        ("drift=a:1", "numbers"),
        ("drift=1", "field=LO:HI"),
        ("drift=0:1,drift=0:2", "twice"),
        ("", "at least one"),
    ],
)
def test_bad_boxes_raise_naming_the_problem(text, match):
    with pytest.raises(ValueError, match=match):
        parse_adversary(text)


def test_check_names_the_invalid_corner():
    box = parse_adversary("arrival_rate=100:400")  # 400 * dt = 2 > 1
    with pytest.raises(ValueError, match="arrival_rate.*400"):
        box.check(MarketMakingEnv().default_params)
    with pytest.raises(ValueError, match="resolution"):
        box.grid(1)


def test_adversarial_env_steps_with_the_adversary_params():
    env = MarketMakingEnv()
    params = env.make_params(sigma=0.0)
    box = parse_adversary("drift=-5:5")
    wrapped = AdversarialEnv(env, box, lambda state, action, p: 6.0 * action[:1])  # sees the action
    assert wrapped.num_objectives == env.num_objectives and wrapped.config is env.config
    _, state = wrapped.reset(jax.random.key(0), params)
    action = jnp.array([0.5, 0.5, -1.0, -1.0])  # no quotes; drift 6 * 0.5 = 3 moves the mid by 3 dt

    @jax.jit
    def both(key):
        return wrapped.step_env(key, state, action, params)[1].mid, wrapped.step(key, state, action, params)[1].mid

    plain_step, auto_reset_step = both(jax.random.key(1))
    assert float(plain_step - state.mid) == pytest.approx(3.0 * float(params.dt), rel=1e-4)
    assert float(auto_reset_step) == pytest.approx(float(plain_step))
