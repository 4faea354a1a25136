"""The mo-gymnasium adapter and the jitted vector env (issue 2, part 4)."""

import subprocess
import sys
import warnings

import gymnasium as gym
import jax
import mo_gymnasium as mo_gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

import morl_mm  # noqa: F401  (registers the env id)
from morl_mm.env.gym_adapter import ENV_ID, INFO_KEYS, MOMarketMakingEnv, VectorMarketMakingEnv
from morl_mm.env.market import MarketMakingEnv

SHORT = {"horizon": 0.1}  # 20 steps of dt = 0.005
QUOTE_BOTH = np.array([0.6, 0.6, 1.0, 1.0], np.float32)


def run_episode(env, seed, action=QUOTE_BOTH):
    obs, _ = env.reset(seed=seed)
    observations, rewards, infos = [obs], [], []
    terminated = False
    while not terminated:
        obs, reward, terminated, truncated, info = env.step(action)
        assert truncated is False
        observations.append(obs)
        rewards.append(reward)
        infos.append(info)
    return np.stack(observations), np.stack(rewards), infos


@pytest.mark.parametrize("action_mode", ["continuous", "discrete"])
def test_check_env_passes(action_mode):
    env = mo_gym.make(ENV_ID, action_mode=action_mode, **SHORT)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # the checker's only complaints allowed: vector reward, unbounded obs, non-normalised Box
        warnings.filterwarnings("ignore", message=".*reward returned by `step\\(\\)` must be a float.*")
        warnings.filterwarnings("ignore", message=".*maximum value is infinity.*")
        warnings.filterwarnings("ignore", message=".*symmetric and normalized space.*")
        check_env(env.unwrapped)
    expected = gym.spaces.Discrete if action_mode == "discrete" else gym.spaces.Box
    assert isinstance(env.action_space, expected)


def test_make_applies_config_and_param_overrides():
    env = mo_gym.make(ENV_ID, sigma=1.0, action_mode="discrete", objectives=("pnl", "inventory_risk"), **SHORT)
    inner = env.unwrapped
    assert float(inner.params.sigma) == 1.0 and float(inner.params.horizon) == 0.1
    assert inner.config.action_mode == "discrete"
    assert inner.reward_space.shape == (2,)
    assert float(mo_gym.make(ENV_ID).unwrapped.params.sigma) == 2.0


@pytest.mark.parametrize(
    "bad, field",
    [
        ({"sigma": -1.0}, "sigma"),
        ({"dt": 0.003}, "dt"),
        ({"action_mode": "grid"}, "action_mode"),
        ({"sigmaa": 1.0}, "sigmaa"),
    ],
)
def test_bad_override_raises_value_error_naming_the_field(bad, field):
    with pytest.raises(ValueError, match=field):
        MOMarketMakingEnv(**bad)


def test_episode_rewards_infos_and_termination():
    env = MOMarketMakingEnv(seed=0, **SHORT)
    observations, rewards, infos = run_episode(env, seed=3)
    assert len(rewards) == 20  # n_steps = horizon / dt
    assert observations.dtype == np.float32 and observations.shape == (21, 8)
    assert rewards.dtype == env.reward_space.dtype and rewards.shape == (20, *env.reward_space.shape)
    assert all(env.reward_space.contains(r) for r in rewards)
    for info in infos:
        assert set(info) == set(INFO_KEYS) and all(type(v) is float for v in info.values())
    # pnl rewards sum to the final wealth (it starts at 0: no cash, no inventory); fills move inventory
    assert rewards[:, 0].sum() == pytest.approx(infos[-1]["wealth"], abs=1e-2)
    inventory = np.cumsum([i["fill_bid"] - i["fill_ask"] for i in infos])
    np.testing.assert_allclose(inventory, [i["inventory"] for i in infos], atol=1e-5)
    with pytest.raises(RuntimeError, match="terminated"):
        env.step(QUOTE_BOTH)
    env.reset()
    env.step(QUOTE_BOTH)  # a reset makes stepping legal again


def test_same_seed_same_trajectory_different_seed_different():
    first = run_episode(MOMarketMakingEnv(**SHORT), seed=7)
    again = run_episode(MOMarketMakingEnv(**SHORT), seed=7)
    other = run_episode(MOMarketMakingEnv(**SHORT), seed=8)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[1], other[1])
    beyond_32_bits = run_episode(MOMarketMakingEnv(**SHORT), seed=7 + 2**32)
    assert not np.array_equal(first[1], beyond_32_bits[1])
    # the constructor seed fixes the first reset without a seed
    seeded = MOMarketMakingEnv(seed=7, **SHORT)
    seeded.reset()
    np.testing.assert_array_equal(seeded.step(QUOTE_BOTH)[1], first[1][0])


def test_step_rejects_actions_outside_the_space():
    env = MOMarketMakingEnv(action_mode="discrete", **SHORT)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="not in"):
        env.step(env.action_space.n)


def test_linear_reward_wrapper_scalarises():
    env = MOMarketMakingEnv(**SHORT)
    weights = np.array([0.5, 0.3, 0.2], np.float32)
    wrapped = mo_gym.wrappers.LinearReward(env, weight=weights)
    wrapped.reset(seed=1)
    _, scalar, _, _, info = wrapped.step(QUOTE_BOTH)
    assert np.ndim(scalar) == 0
    assert scalar == pytest.approx(float(weights @ info["vector_reward"]), rel=1e-6)


NUM_ENVS = 4


def test_vector_env_shapes_and_autoreset():
    envs = VectorMarketMakingEnv(NUM_ENVS, seed=0, **SHORT)
    assert envs.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    obs, _ = envs.reset()
    assert obs.shape == envs.observation_space.shape == (NUM_ENVS, 8)
    actions = np.tile(QUOTE_BOTH, (NUM_ENVS, 1))
    for t in range(25):
        obs, rewards, terminations, truncations, infos = envs.step(actions)
        assert obs.shape == (NUM_ENVS, 8) and rewards.shape == (NUM_ENVS, 3)
        assert terminations.dtype == bool and not truncations.any()
        assert all(infos[k].shape == (NUM_ENVS,) and infos[f"_{k}"].all() for k in INFO_KEYS)
        episode_over = t in (19,)  # the 20th step ends every episode
        assert terminations.all() == episode_over and terminations.any() == episode_over
        np.testing.assert_array_equal(infos["_final_obs"], terminations)
        if episode_over:
            assert np.all(infos["final_obs"][:, 1] == 0.0)  # no time remaining
            assert np.all(obs[:, 1] == 1.0) and np.all(obs[:, 0] == 0.0)  # fresh episode, flat
    with pytest.raises(ValueError, match="shape"):
        envs.step(actions[:2])


def test_vector_env_matches_functional_env_step_with_the_same_keys():
    envs = VectorMarketMakingEnv(NUM_ENVS, seed=5, **SHORT)
    obs, _ = envs.reset()
    env, params = MarketMakingEnv(), envs.params
    rng = np.random.default_rng(0)
    actions = rng.uniform([0, 0, -1, -1], [2, 2, 1, 1], size=(22, NUM_ENVS, 4)).astype(np.float32)
    got = [envs.step(a)[:2] for a in actions]
    # the key chain the vector env documents: split per env, then (chain, step key) per reset/step
    step = jax.jit(env.step)  # compiled like the vector env's step (eager ops round the mid's noise differently)
    for i in range(NUM_ENVS):
        key = jax.random.split(jax.random.key(5), NUM_ENVS)[i]
        key, key_reset = jax.random.split(key)
        ref_obs, state = env.reset_env(key_reset, params)
        np.testing.assert_allclose(obs[i], ref_obs)
        for t, a in enumerate(actions):
            key, key_step = jax.random.split(key)
            ref_obs, state, reward, _, _ = step(key_step, state, a[i], params)
            np.testing.assert_allclose(got[t][0][i], ref_obs, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(got[t][1][i], reward, rtol=1e-5, atol=1e-5)


def test_vector_env_reproducible_by_seed():
    def trajectory(seed):
        envs = VectorMarketMakingEnv(NUM_ENVS, **SHORT)
        envs.reset(seed=seed)
        return np.stack([envs.step(np.tile(QUOTE_BOTH, (NUM_ENVS, 1)))[1] for _ in range(10)])

    np.testing.assert_array_equal(trajectory(1), trajectory(1))
    assert not np.array_equal(trajectory(1), trajectory(2))


def test_make_vec_builds_the_jitted_vector_env():
    envs = gym.make_vec(ENV_ID, num_envs=3, vectorization_mode="vector_entry_point", action_mode="discrete", **SHORT)
    obs, _ = envs.reset(seed=0)
    assert isinstance(envs.unwrapped, VectorMarketMakingEnv) and obs.shape == (3, 8)
    assert envs.step(np.array([0, 40, 80]))[1].shape == (3, 3)


def test_registration_is_idempotent_and_happens_on_import_morl_mm():
    morl_mm._register_envs()
    assert ENV_ID in gym.envs.registry
    # fresh process: gymnasium 1.x does not load plugin entry points, `import morl_mm` registers
    code = (
        "import mo_gymnasium as m, gymnasium as g\n"
        f"assert {ENV_ID!r} not in g.envs.registry\n"
        f"env = m.make('morl_mm:{ENV_ID}', sigma=1.0)\n"
        "assert float(env.unwrapped.params.sigma) == 1.0\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
