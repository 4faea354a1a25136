"""The morl-baselines adapters: each trains briefly on a tiny model and yields a ParetoSet in the common format."""

import sys

import pytest

pytest.importorskip("morl_baselines", reason="the optional extra morl-mm[baselines] is not installed")

import numpy as np  # noqa: E402

from morl_mm.agents import morl_baselines as mb  # noqa: E402
from morl_mm.env.gym_adapter import MOMarketMakingEnv, VectorMarketMakingEnv  # noqa: E402
from morl_mm.env.market import MarketMakingEnv  # noqa: E402
from morl_mm.env.params import EnvConfig, make_params  # noqa: E402
from morl_mm.env.scales import reference_scales  # noqa: E402

TINY = dict(horizon=0.1, inventory_limit=3)  # 20 steps of dt = 0.005
OBJECTIVES = ("pnl", "inventory_risk", "quoting_ratio")
BUDGET = 240
EPISODES = 3
SMALL = {  # a few hundred steps: updates must start early, populations stay small
    "gpi_ls": dict(learning_starts=60, net_arch=[32, 32], iterations=2, num_eval_episodes_for_front=1),
    "gpi_pd": dict(
        learning_starts=60,
        net_arch=[32, 32],
        iterations=2,
        num_eval_episodes_for_front=1,
        dynamics_rollout_starts=100,
        dynamics_rollout_freq=100,
        dynamics_rollout_batch_size=64,
        dynamics_train_freq=lambda step: 100,
        dynamics_net_arch=[32, 32],
    ),
    "envelope": dict(learning_starts=60, net_arch=[32, 32], batch_size=32),
    "pcn": dict(hidden_dim=32, num_er_episodes=4, num_step_episodes=2, num_model_updates=5),
    "capql": dict(learning_starts=60, net_arch=[32, 32], batch_size=32),
    # PGMORL's predictor needs >= 4 population members, and its weight selection fits one model per
    # (member, candidate weight, objective): two objectives keep that to seconds
    "pgmorl": dict(
        pop_size=4,
        delta_weight=0.25,
        net_arch=[16, 16],
        update_epochs=1,
        warmup_iterations=1,
        evolutionary_iterations=1,
    ),
    "morld": dict(
        pop_size=3,
        exchanges=3,
        num_eval_episodes_for_front=1,
        policy_args=dict(net_arch=[32, 32], learning_starts=40, batch_size=32),
    ),
}
WEIGHT_CONDITIONED = ("gpi_ls", "gpi_pd", "envelope", "capql")


def _scales(mode, objectives):
    config = EnvConfig(action_mode=mode, objectives=objectives)
    return reference_scales(MarketMakingEnv(config), make_params(config, **TINY), episodes=256)


@pytest.mark.parametrize("algorithm", sorted(mb.ALGORITHMS))
def test_adapter_yields_a_pareto_set_in_the_common_format(algorithm):
    mode = mb.ALGORITHMS[algorithm]
    objectives = OBJECTIVES[:2] if algorithm == "pgmorl" else OBJECTIVES
    d = len(objectives)
    scales = _scales(mode, objectives)
    front = mb.train_baseline(
        algorithm,
        BUDGET,
        dict(TINY, objectives=objectives),
        seed=0,
        eval_weights=np.eye(d),
        eval_episodes=EPISODES,
        scales=scales,
        hyperparameters=SMALL[algorithm],
    )
    n = len(front)
    assert n >= 1
    assert front.objectives == objectives
    assert front.values.shape == (n, d) and front.ci.shape == (n, d)
    assert np.all(np.isfinite(front.values)) and np.all(np.isfinite(front.ci))
    np.testing.assert_allclose(front.scales, scales)
    assert front.kinds == (algorithm,) * n
    assert front.labels == tuple(f"{algorithm}_{i}" for i in range(n))
    # raw units: inventory risk <= 0 and the quoting ratio a fraction of the episode
    assert np.all(front.values[:, 1] <= 0)
    if d == 3:
        assert np.all((0 <= front.values[:, 2]) & (front.values[:, 2] <= 1))
    if algorithm in WEIGHT_CONDITIONED:
        np.testing.assert_allclose(front.weights, np.eye(d))
    elif algorithm == "pcn":
        assert np.all(np.isnan(front.weights))  # PCN conditions on returns, not weights
    else:
        np.testing.assert_allclose(front.weights.sum(axis=1), 1.0, atol=1e-6)
    meta = front.metadata
    assert meta["algorithm"] == algorithm and meta["n_samples"] == EPISODES and meta["action_mode"] == mode
    # the budget is met up to whole episodes (PCN) or whole PPO iterations (PGMORL)
    assert BUDGET - 48 <= meta["env_steps"] <= BUDGET + 2 * 20
    assert meta["internal_eval_steps"] >= 0 and meta["wall_s"] > 0


def test_default_scales_and_weights_are_the_projects():
    front = mb.train_baseline(
        "pcn",
        100,
        TINY,
        seed=1,
        eval_episodes=2,
        hyperparameters=dict(hidden_dim=16, num_er_episodes=2, num_step_episodes=1, num_model_updates=2),
    )
    config = EnvConfig(action_mode="discrete")
    np.testing.assert_allclose(front.scales, reference_scales(MarketMakingEnv(config), make_params(config, **TINY)))
    assert len(front) <= mb.DEFAULT_EVAL_WEIGHTS


def test_scaled_reward_divides_by_scales_and_clips_actions():
    scales = np.array([2.0, 4.0, 1.0])
    raw = MOMarketMakingEnv(seed=3, action_mode="continuous", **TINY)
    wrapped = mb.ScaledReward(MOMarketMakingEnv(seed=3, action_mode="continuous", **TINY), scales)
    raw.reset(seed=3)
    wrapped.reset(seed=3)
    action = np.array([0.5, 0.7, 1.0, 1.0], np.float32)
    for _ in range(5):
        _, r_raw, *_ = raw.step(action)
        _, r_scaled, *_ = wrapped.step(action)
        np.testing.assert_allclose(r_scaled, r_raw / scales, rtol=1e-6)
        assert r_scaled.dtype == np.float32
    wrapped.step(np.array([99.0, -5.0, 3.0, -3.0]))  # out of the Box: clipped, not refused
    assert wrapped.steps == 6


class _Constant(mb._Actor):
    def __init__(self, action):
        super().__init__(lambda obs: np.full(len(obs), action, np.int32))


def test_evaluation_sums_raw_rewards_over_common_episodes():
    overrides = dict(action_mode="discrete", **TINY)
    g = EnvConfig().n_depths
    off = g * (g + 1) + g  # both sides "off": nothing happens, every objective is 0
    zeros = mb._episode_returns(overrides, lambda: _Constant(off), np.ones(3), 4, seed=0)
    np.testing.assert_array_equal(zeros, np.zeros((4, 3)))
    quote = 2 * (g + 1) + 2  # depth 0.6 both sides: within the competitive distance (0.8), firm
    first = mb._episode_returns(overrides, lambda: _Constant(quote), np.ones(3), 4, seed=0)
    again = mb._episode_returns(overrides, lambda: _Constant(quote), np.ones(3), 4, seed=0)
    np.testing.assert_array_equal(first, again)  # the same episodes for every policy
    assert np.all(first[:, 2] > 0.5) and np.all(first[:, 1] <= 0)
    # the episode sum of the vector env's rewards, stepped by hand
    venv = VectorMarketMakingEnv(4, seed=0, **overrides)
    venv.reset(seed=0)
    total = sum(venv.step(np.full(4, quote))[1] for _ in range(20))
    np.testing.assert_allclose(first, total, rtol=1e-6)


def test_gpi_pd_model_env_patch_ends_episodes_on_time_and_is_undone():
    import morl_baselines.multi_policy.gpi_pd.gpi_pd as gpi_pd_module

    original = gpi_pd_module.ModelEnv
    with mb._model_env_patch(n_steps=20):
        model_env = gpi_pd_module.ModelEnv(model=None, env_id="anything")
        next_obs = np.zeros((3, 8), np.float32)
        next_obs[:, 1] = [0.5, 0.05, 0.01]  # time remaining; half a step is 0.025
        done = model_env.termination_func(None, None, next_obs, None)
        np.testing.assert_array_equal(done[:, 0], [False, False, True])
    assert gpi_pd_module.ModelEnv is original


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(algorithm="ppo"), "algorithm must be one of"),
        (dict(env_kwargs=dict(action_mode="continuous", **TINY)), "discrete"),
        (dict(eval_episodes=1), "eval_episodes"),
        (dict(env_steps=0), "env_steps"),
        (dict(eval_weights=[[0.5, 0.6, 0.0]]), "sum to 1"),
        (dict(scales=[1.0, 0.0, 1.0]), "scales"),
    ],
)
def test_bad_input_is_refused_with_the_value_named(bad, message):
    kwargs = dict(algorithm="envelope", env_steps=10, env_kwargs=TINY)
    kwargs.update(bad)
    with pytest.raises(ValueError, match=message):
        mb.train_baseline(kwargs.pop("algorithm"), kwargs.pop("env_steps"), kwargs.pop("env_kwargs"), **kwargs)


def test_pgmorl_population_larger_than_its_weights_is_refused():
    with pytest.raises(ValueError, match="pop_size"):
        mb.train_baseline("pgmorl", 100, TINY, hyperparameters=dict(pop_size=4, delta_weight=1.0))  # 3 weights


def test_missing_extra_raises_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "morl_baselines", None)  # import now fails as if not installed
    with pytest.raises(ImportError, match=r"morl-mm\[baselines\]"):
        mb.train_baseline("envelope", 10, TINY)


def test_same_seed_same_front():
    run = lambda: mb.train_baseline(
        "pcn",
        120,
        TINY,
        seed=5,
        eval_episodes=2,
        scales=[10.0, 5.0, 1.0],  # noqa: E731
        hyperparameters=dict(hidden_dim=16, num_er_episodes=2, num_step_episodes=2, num_model_updates=3),
    )
    np.testing.assert_array_equal(run().values, run().values)


def test_adapter_returns_agree_with_the_jax_env_in_distribution():
    """The adapter evaluates torch policies on the vector env; for a constant quote its episode returns
    have the means of the JAX env's own rollouts (independent episodes) within 4.5 standard errors."""
    import jax
    import jax.numpy as jnp

    from morl_mm.env.rollout import rollout

    overrides = dict(action_mode="discrete", **TINY)
    g = EnvConfig().n_depths
    quote = 2 * (g + 1) + 4  # bid at depth 0.6, ask at 1.0: skewed, so the sides are told apart
    episodes = 400
    adapter = mb._episode_returns(overrides, lambda: _Constant(quote), np.ones(3), episodes, seed=5)
    config = EnvConfig(action_mode="discrete")
    env, params = MarketMakingEnv(config), make_params(config, **TINY)
    keys = jax.random.split(jax.random.key(17), episodes)
    ours = jax.jit(jax.vmap(lambda k: rollout(env, lambda o, s, kk: jnp.int32(quote), k, params).reward.sum(0)))(keys)
    ours = np.asarray(ours, np.float64)
    se = np.sqrt(adapter.var(axis=0, ddof=1) / episodes + ours.var(axis=0, ddof=1) / episodes)
    assert np.all(np.abs(adapter.mean(axis=0) - ours.mean(axis=0)) < 4.5 * se + 1e-9), (adapter.mean(0), ours.mean(0))
