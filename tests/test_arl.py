"""Adversarial PPO (morl_mm.agents.arl): one jit over seeds, an adversary that finds the closed-form worst
case of a fixed policy, and the study learner's config (issue 11)."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from morl_mm.agents.arl import ARLConfig, adversary_policy, best_response_attack, make_train
from morl_mm.agents.ppo import PPOConfig, PPOPolicy
from morl_mm.agents.registry import _json_ready, learner_config, policy_file_spec, with_env_steps
from morl_mm.env import MarketMakingEnv
from morl_mm.policies import io as policy_io
from morl_mm.policies.quoting import quote_to_action
from morl_mm.study import ConfigError
from morl_mm.study.config import parse_config

# small graphs compile ~4x faster without XLA's backend optimisations, and run as fast at this size
FAST = {"xla_backend_optimization_level": 0}
SCALES = np.array([12.9, 3.6, 1.0])  # reference_scales of the tiny model (12.90, 3.65, 1), rounded
TINY = dict(horizon=0.2, inventory_limit=4.0)  # 40 steps


def test_adversarial_ppo_trains_in_one_jit_over_two_seeds_and_exports_a_ppo_policy(tmp_path):
    env = MarketMakingEnv(action_mode="discrete")
    params = env.make_params(**TINY)
    # per episode here (the attack below acts per step): one draw of (drift, kappa) at each episode's start
    config = ARLConfig(
        num_envs=16,
        num_steps=40,
        total_timesteps=16 * 40 * 4,
        num_minibatches=4,
        hidden_sizes=(16, 16),
        adversary_hidden_sizes=(16, 16),
        adversary={"drift": (-2.0, 2.0), "kappa": (1.2, 1.8)},
        adversary_mode="episode",
        num_checkpoints=2,
    )
    train = make_train(config, env, params, SCALES)
    seeds = jnp.stack([jax.random.key(0), jax.random.key(1)])
    (network, adversary), metrics = jax.jit(jax.vmap(train), compiler_options=FAST)(seeds)

    assert metrics["scalarised_return"].shape == (2, 4) and np.all(np.isfinite(metrics["scalarised_return"]))
    values = np.asarray(metrics["adversary_values"])  # (seed, update, d): the params it set, inside its box
    assert values.shape == (2, 4, 2) and np.std(values[..., 0]) > 0
    assert np.all(np.abs(values[..., 0]) <= 2.0) and np.all((values[..., 1] >= 1.2) & (values[..., 1] <= 1.8))
    checkpoints = metrics["checkpoint_params"]  # the market maker after each half of the run
    assert jax.tree_util.tree_leaves(checkpoints)[0].shape[:2] == (2, 2)
    for tree in (network, adversary):  # two seeds, two different runs
        assert not all(np.allclose(leaf[0], leaf[1]) for leaf in jax.tree_util.tree_leaves(tree))

    # the market maker alone is saved as a plain PPO policy, which any tool loads and runs
    first = jax.tree_util.tree_map(lambda x: np.asarray(x[0]), network)
    kind, spec = policy_file_spec("ppo_adversarial", _json_ready(config))
    assert kind == "ppo" and set(spec) == {f.name for f in dataclasses.fields(PPOConfig)}
    weight = np.array([0.5, 0.3, 0.2], np.float32)
    path = policy_io.save_policy(
        tmp_path / "mm.mmpol",
        kind=kind,
        spec=spec,
        env=env,
        env_params=params,
        arrays={"network": first, "weight": weight},
    )
    loaded = policy_io.load_policy(path)
    assert isinstance(loaded.policy, PPOPolicy)
    obs, state = env.reset(jax.random.key(0), params)
    direct = PPOPolicy.from_config(config.market_maker, env, first, weight)
    assert int(loaded.policy.act(loaded.policy.params, obs, state, None)) == int(
        direct.act(direct.params, obs, state, None)
    )


def test_attack_on_a_long_inventory_drives_the_drift_to_its_low_bound():
    """A fixed policy that never quotes holds q = 3 for the whole episode: its pnl is q (S_T - S_0), and
    the drift mu moves it by q mu T in expectation. The worst drift in [-2, 2] is -2 at every step,
    which takes w_pnl q 2 T / scale_pnl of utility (closed form); the attack must find it."""
    env = MarketMakingEnv(action_mode="discrete")
    params = env.make_params(**TINY, initial_inventory=3.0)
    off = quote_to_action(env.config, 0.0, 0.0, False, False)
    weights = np.array([[0.8, 0.1, 0.1]])
    config = ARLConfig(
        num_envs=32,
        num_steps=40,
        total_timesteps=32 * 40 * 20,
        num_minibatches=4,
        hidden_sizes=(16, 16),
        adversary_hidden_sizes=(16, 16),
        adversary_learning_rate=3e-3,
        adversary={"drift": (-2.0, 2.0)},
        adversary_mode="step",
    )
    result = best_response_attack(
        env,
        params,
        lambda obs, state, key: off,
        weights,
        jax.random.key(0),
        config=config,
        episodes=64,
        scales=SCALES,
        compiler_options=FAST,
    )

    worst_loss = 0.8 * 3.0 * 2.0 * 0.2 / SCALES[0]  # w_pnl q |mu_lo| T / scale
    assert result.utility_loss[0] > 0.8 * worst_loss, (result.utility_loss, worst_loss)
    assert result.utility_loss[0] < worst_loss + 1e-3  # common random numbers: nothing beyond the closed form
    np.testing.assert_allclose(result.objectives_after[0, 1:], result.objectives_before[0, 1:])  # risk, quoting
    assert result.fields == ("drift",) and result.adversary_values[0, 0] < -1.0  # its last training rollout
    # its mean action at the start of an episode: the low bound
    adversary = jax.tree_util.tree_map(lambda x: x[0], result.adversary_params)
    _, state = env.reset(jax.random.key(0), params)
    drift = adversary_policy(config, env, adversary, jnp.asarray(weights[0]))(state, off, params)
    assert float(drift[0]) < -1.8


STUDY = """
[env]
action_mode = "discrete"

[learners.ppo_adv]
algorithm = "ppo_adversarial"
adversary = { drift = [-2.0, 2.0], kappa = [1.2, 1.8] }
adversary_mode = "episode"
num_envs = 16
adversary_learning_rate = 0.003
"""


def parse(text):
    import tomllib

    return parse_config(tomllib.loads(text), source="robust.toml")


def test_study_learner_config_round_trip():
    spec = parse(STUDY).learners[0]
    assert spec.algorithm == "ppo_adversarial" and spec.is_native
    config = learner_config(spec.algorithm, spec.hyperparameters)
    assert isinstance(config, ARLConfig) and config.num_envs == 16 and config.adversary_learning_rate == 0.003
    assert config.box.fields == ("drift", "kappa") and config.box.mode == "episode"
    assert config.box.low.tolist() == [-2.0, 1.2] and config.box.high.tolist() == [2.0, 1.8]
    # the stored hyperparameters (JSON) rebuild the same config
    stored = json.loads(json.dumps(_json_ready(config)))
    assert stored["adversary"] == {"drift": [-2.0, 2.0], "kappa": [1.2, 1.8]}
    assert learner_config("ppo_adversarial", stored) == config
    # budgets in whole updates, as PPO's
    assert with_env_steps("ppo_adversarial", spec.hyperparameters, 100_000)["total_timesteps"] == 16 * 200 * 31


BOX = "{ drift = [-2.0, 2.0], kappa = [1.2, 1.8] }"


@pytest.mark.parametrize(
    "old, new, message",
    [
        (BOX, "{ drift = [2.0, -2.0] }", "adversary: drift needs lo <= hi"),
        (BOX, "{ spread = [0.0, 1.0] }", "adversary: unknown field 'spread'"),
        (BOX, "{ drift = [1.0] }", "adversary: drift needs \\[lo, hi\\]"),
        (BOX, "{ arrival_rate = [100.0, 300.0] }", "arrival_rate \\* dt must be <= 1"),  # a corner the model rejects
        (BOX, "'drift'", "adversary must be a table"),
        ('"episode"', '"sometimes"', "adversary_mode: must be 'step' or 'episode'"),
    ],
)
def test_bad_adversary_bounds_are_config_errors_naming_file_and_key(old, new, message):
    with pytest.raises(ConfigError, match=f"robust.toml: .*learners.ppo_adv.*{message}"):
        parse(STUDY.replace(old, new))
