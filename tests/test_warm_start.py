"""Warm-start options of PPO and morl-mm retrain: shrink-and-perturb and a fresh critic."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from morl_mm.agents.ppo import CRITIC, PPOConfig, make_network, shrink_perturb, start_params
from morl_mm.cli import build_parser
from morl_mm.env import MarketMakingEnv
from morl_mm.study.retrain import DEFAULT_PERTURB, DEFAULT_RESET_CRITIC, DEFAULT_SHRINK


def _two_inits():
    env = MarketMakingEnv(action_mode="discrete")
    network = make_network(PPOConfig(hidden_sizes=(8,)), env)
    x = jnp.zeros((env.observation_space().shape[0] + env.num_objectives,))
    return env, network, network.init(jax.random.key(1), x), network.init(jax.random.key(2), x)


def test_shrink_perturb_follows_the_documented_formula_and_resets_only_the_critic():
    _, _, trained, fresh = _two_inits()
    out = shrink_perturb(trained, fresh, shrink=0.8, perturb=0.01)
    for a, b, c in zip(*(jax.tree_util.tree_leaves(t) for t in (trained, fresh, out))):
        np.testing.assert_allclose(c, 0.8 * np.asarray(a) + 0.01 * np.asarray(b), rtol=1e-6, atol=1e-7)
    same = shrink_perturb(trained, fresh)  # the defaults continue the network unchanged
    assert all(
        np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(trained), jax.tree_util.tree_leaves(same))
    )
    reset = shrink_perturb(trained, fresh, shrink=0.5, reset_critic=True)
    actor = [k for k in trained["params"] if k != CRITIC]
    assert actor  # the policy's MLP: shrunk, not reset
    for a, b in zip(
        jax.tree_util.tree_leaves(reset["params"][CRITIC]), jax.tree_util.tree_leaves(fresh["params"][CRITIC])
    ):
        np.testing.assert_array_equal(a, b)
    for k in actor:
        for a, b in zip(jax.tree_util.tree_leaves(reset["params"][k]), jax.tree_util.tree_leaves(trained["params"][k])):
            np.testing.assert_allclose(a, 0.5 * np.asarray(b), rtol=1e-6)
    # the critic is the module with one output per objective
    assert reset["params"][CRITIC]["Dense_1"]["bias"].shape == (3,)


def test_a_run_starts_from_the_transformed_warm_start():
    env, network, trained, _ = _two_inits()
    config = PPOConfig(hidden_sizes=(8,), warm_shrink=0.5, warm_perturb=0.1, warm_reset_critic=True)
    key, width = jax.random.key(3), env.observation_space().shape[0] + env.num_objectives
    fresh = start_params(config, network, key, width)  # what make_train starts from without a warm start
    want = shrink_perturb(trained, fresh, 0.5, 0.1, True)
    got = start_params(config, network, key, width, trained)
    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("warm_shrink", 0.0, r"warm_shrink: must lie in \(0, 1\]"),
        ("warm_shrink", 1.5, r"warm_shrink: must lie in \(0, 1\]"),
        ("warm_perturb", -0.1, r"warm_perturb: must be >= 0"),
        ("warm_reset_critic", 1, r"warm_reset_critic: must be true or false"),
    ],
)
def test_bad_warm_start_options_are_named(field, value, message):
    with pytest.raises(ValueError, match=message):
        PPOConfig(**{field: value})


def test_retrain_flags_default_to_the_documented_warm_start():
    parse = build_parser().parse_args
    args = parse(["retrain", "r", "--scenario", "trending", "--out", "o"])
    assert (args.shrink, args.perturb, args.reset_critic) == (DEFAULT_SHRINK, DEFAULT_PERTURB, DEFAULT_RESET_CRITIC)
    args = parse(
        ["retrain", "r", "--scenario", "trending", "--out", "o", "--shrink", "1", "--perturb", "0", "--no-reset-critic"]
    )
    assert (args.shrink, args.perturb, args.reset_critic) == (1.0, 0.0, False)
