"""Multi-objective PPO (morl_mm.agents.ppo) on a tiny model: it learns, follows the weights, is reproducible."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from morl_mm.agents.common import evaluate_front, sample_simplex_weights
from morl_mm.agents.ppo import PPOConfig, PPOPolicy, make_network, make_train, train_fixed
from morl_mm.env import MarketMakingEnv, rollout
from morl_mm.env.scales import reference_scales
from morl_mm.pareto import utilities

TINY = dict(horizon=0.2, inventory_limit=4.0)  # 40 steps, |q| <= 4
PNL_HEAVY = np.array([0.8, 0.1, 0.1], np.float32)
RISK_HEAVY = np.array([0.1, 0.8, 0.1], np.float32)
EPISODES = 128


def tiny(action_mode):
    env = MarketMakingEnv(action_mode=action_mode)
    params = env.make_params(**TINY)
    return env, params, reference_scales(env, params, episodes=512)


class RandomPolicy:
    params = None

    def __init__(self, env):
        self.env = env

    def act(self, params, obs, state, key):
        return self.env.sample_action(key)


def mean_abs_inventory(env, params, policy, network_params, weight, key):
    def one(k):
        return jnp.abs(rollout(env, policy, k, params, policy_params=(network_params, weight)).info.inventory).mean()

    return float(jax.jit(jax.vmap(one))(jax.random.split(key, EPISODES)).mean())


@pytest.fixture(scope="module")
def conditioned_discrete():
    """One weight-conditioned discrete run, trained twice with the same seed in one vmapped call."""
    env, params, scales = tiny("discrete")
    config = PPOConfig(
        num_envs=64,
        num_steps=40,
        total_timesteps=64 * 40 * 100,
        num_minibatches=4,
        learning_rate=3e-3,
        weight_concentration=0.5,
    )
    train = make_train(config, env, params, scales)
    seeds = jnp.stack([jax.random.key(0), jax.random.key(0)])
    network_params, metrics = jax.jit(jax.vmap(train))(seeds)
    return env, params, scales, config, network_params, metrics


def first_seed(tree):
    return jax.tree_util.tree_map(lambda x: x[0], tree)


def test_same_seed_same_params(conditioned_discrete):
    env, params, _, config, network_params, _ = conditioned_discrete
    leaves = jax.tree_util.tree_leaves(network_params)
    assert all(np.array_equal(leaf[0], leaf[1]) for leaf in leaves)
    initial = make_network_params(config, env, params)
    assert not all(np.allclose(a[0], b) for a, b in zip(leaves, jax.tree_util.tree_leaves(initial)))


def make_network_params(config, env, params):
    """The parameters that training starts from with seed 0 (same key split as ``train``)."""
    from morl_mm.agents.ppo import make_network

    obs_dim = env.observation_space().shape[0]
    k_init = jax.random.split(jax.random.key(0), 4)[1]
    return make_network(config, env).init(k_init, jnp.zeros((obs_dim + env.num_objectives,)))


def test_conditioned_ppo_beats_random_at_two_weights(conditioned_discrete):
    env, params, scales, config, network_params, _ = conditioned_discrete
    policy = PPOPolicy.from_config(config, env)
    weights = np.stack([PNL_HEAVY, RISK_HEAVY])
    key = jax.random.key(7)
    learned = evaluate_front(env, params, policy, first_seed(network_params), weights, EPISODES, key).mean(axis=1)
    random = evaluate_front(env, params, RandomPolicy(env), None, weights, EPISODES, key).mean(axis=1)
    for i, w in enumerate(weights):
        gain = float(utilities(learned[i][None], w, scales)[0] - utilities(random[i][None], w, scales)[0])
        assert gain > 0.1, f"weight {w}: learned {learned[i]} vs random {random[i]}"


def test_conditioned_ppo_follows_the_weight(conditioned_discrete):
    env, params, _, config, network_params, _ = conditioned_discrete
    policy = PPOPolicy.from_config(config, env)
    net = first_seed(network_params)
    key = jax.random.key(3)
    pnl_inv = mean_abs_inventory(env, params, policy, net, jnp.asarray(PNL_HEAVY), key)
    risk_inv = mean_abs_inventory(env, params, policy, net, jnp.asarray(RISK_HEAVY), key)
    assert risk_inv < 0.8 * pnl_inv, (risk_inv, pnl_inv)


def test_training_curve_rises(conditioned_discrete):
    *_, metrics = conditioned_discrete
    curve = np.asarray(metrics["scalarised_return"][0])
    assert np.all(np.isfinite(curve))
    assert curve[-10:].mean() > curve[:10].mean() + 0.1


@pytest.fixture(scope="module")
def fixed_continuous():
    """K = 2 independent continuous-action policies at a pnl-heavy and a risk-heavy weight."""
    env, params, scales = tiny("continuous")
    config = PPOConfig(num_envs=64, num_steps=40, total_timesteps=64 * 40 * 60, num_minibatches=4, learning_rate=3e-3)
    network_params, metrics = train_fixed(
        config, env, params, np.stack([PNL_HEAVY, RISK_HEAVY]), jax.random.key(0), scales
    )
    return env, params, scales, config, network_params, metrics


def test_fixed_weight_continuous_ppo_trains_two_policies(fixed_continuous):
    env, params, scales, config, network_params, metrics = fixed_continuous
    assert jax.tree_util.tree_leaves(network_params)[0].shape[0] == 2
    policy = PPOPolicy.from_config(config, env)
    key = jax.random.key(11)
    for k, w in enumerate([PNL_HEAVY, RISK_HEAVY]):
        net = jax.tree_util.tree_map(lambda x: x[k], network_params)
        learned = evaluate_front(env, params, policy, net, w, EPISODES, key).mean(axis=1)
        random = evaluate_front(env, params, RandomPolicy(env), None, w, EPISODES, key).mean(axis=1)
        assert float(utilities(learned, w, scales)[0] - utilities(random, w, scales)[0]) > 0.1
        curve = np.asarray(metrics["scalarised_return"][k])
        assert curve[-10:].mean() > curve[:10].mean()


def test_fixed_weight_policies_differ_as_asked(fixed_continuous):
    env, params, _, config, network_params, _ = fixed_continuous
    policy = PPOPolicy.from_config(config, env)
    nets = [jax.tree_util.tree_map(lambda x: x[k], network_params) for k in range(2)]
    key = jax.random.key(5)
    pnl_inv = mean_abs_inventory(env, params, policy, nets[0], jnp.asarray(PNL_HEAVY), key)
    risk_inv = mean_abs_inventory(env, params, policy, nets[1], jnp.asarray(RISK_HEAVY), key)
    assert risk_inv < 0.8 * pnl_inv, (risk_inv, pnl_inv)


def test_stochastic_policy_samples_valid_actions(conditioned_discrete):
    env, params, _, config, network_params, _ = conditioned_discrete
    policy = PPOPolicy.from_config(config, env, first_seed(network_params), PNL_HEAVY, deterministic=False)
    obs, state = env.reset(jax.random.key(0), params)
    actions = jax.vmap(lambda k: policy.act(policy.params, obs, state, k))(jax.random.split(jax.random.key(1), 64))
    assert actions.dtype == jnp.int32 and actions.min() >= 0 and actions.max() < env.config.n_discrete_actions


def test_simplex_weights_are_on_the_simplex():
    w = sample_simplex_weights(jax.random.key(0), (100,), 3)
    assert w.shape == (100, 3) and np.all(w >= 0) and np.allclose(w.sum(-1), 1.0, atol=1e-5)


def test_factorised_head_is_a_bid_times_ask_product():
    env = MarketMakingEnv(action_mode="discrete")
    network = make_network(PPOConfig(factorised=True), env)
    params = network.init(jax.random.key(0), jnp.zeros((env.observation_space().shape[0] + 3,)))
    # a large random input so that the per-side distributions are far from uniform
    x = 10.0 * jax.random.normal(jax.random.key(1), (5, env.observation_space().shape[0] + 3))
    params = jax.tree_util.tree_map(lambda p: p * 100.0, params)
    probs = np.asarray(jax.nn.softmax(network.apply(params, x)[0]), np.float64)
    side = env.config.n_depths + 1
    assert probs.shape == (5, side * side) and np.allclose(probs.sum(-1), 1.0, atol=1e-5)
    joint = probs.reshape(5, side, side)
    product = joint.sum(2)[:, :, None] * joint.sum(1)[:, None, :]  # p_bid(i) * p_ask(j)
    assert np.allclose(joint, product, atol=1e-6)
    assert joint.max() > 2.0 / side**2  # not the uniform start, so the check above means something


@pytest.mark.parametrize(
    "field, value", [("num_minibatches", 7), ("gamma", 1.5), ("mode", "both"), ("learning_rate", 0.0)]
)
def test_bad_config_raises(field, value):
    with pytest.raises(ValueError, match=field if field != "num_minibatches" else "num_minibatches"):
        PPOConfig(**{field: value})


def test_bad_weights_and_scales_raise():
    env, params, scales = tiny("discrete")
    config = PPOConfig(num_envs=4, num_steps=40, total_timesteps=160, num_minibatches=4)
    with pytest.raises(ValueError, match="weights"):
        train_fixed(config, env, params, [[0.5, 0.6, 0.1]], jax.random.key(0), scales)
    with pytest.raises(ValueError, match="weights"):
        PPOPolicy.from_config(config, env, {}, [np.nan, 0.5, 0.5])
    with pytest.raises(ValueError, match="scales"):
        make_train(config, env, params, scales=[1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match="fixed"):
        make_train(dataclasses.replace(config, mode="fixed"), env, params, scales)(jax.random.key(0))
