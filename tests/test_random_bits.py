"""The simulator's counter-based random numbers (issue 12): uniform, independent across streams, steps
and envs, normal where they should be, deterministic per key; switched-off parts change nothing."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from morl_mm.env import EnvConfig, MarketMakingEnv, market, random_bits, rollout
from morl_mm.env.random_bits import STREAMS, episode_words, hash32, step_bits, uniform

ENVS, STEPS, BINS = 2048, 32, 64
STREAM_NAMES = tuple(STREAMS)


def sample(bits_fn, envs=ENVS, steps=STEPS):
    """(streams, steps, envs) uniforms of a generator ``bits_fn(words, time, streams) -> {name: bits}``."""
    words = episode_words(jax.random.split(jax.random.key(0), envs))  # (envs, 2)

    def one_step(t):
        bits = bits_fn(words, jnp.full((envs,), t, jnp.int32), STREAM_NAMES)
        return jnp.stack([uniform(bits[name]) for name in STREAM_NAMES])

    return np.asarray(jax.jit(jax.vmap(one_step))(jnp.arange(steps)), np.float64).transpose(1, 0, 2)


def flaws(u: np.ndarray) -> list[str]:
    """The checks a (streams, steps, envs) sample of uniforms fails (bounds hold with probability
    ~1 - 1e-6 each for an ideal generator): chi-square of each stream's histogram, and correlations
    between streams, between consecutive steps and between neighbouring envs."""
    found = []
    critical = stats.chi2.ppf(1 - 1e-6, BINS - 1)
    for name, x in zip(STREAM_NAMES, u):
        counts = np.histogram(x, bins=BINS, range=(0.0, 1.0))[0]
        expected = x.size / BINS
        if ((counts - expected) ** 2 / expected).sum() > critical:
            found.append(f"histogram of {name}")
        if x.min() <= 0.0 or x.max() >= 1.0:
            found.append(f"{name} outside (0, 1)")

    def correlated(a, b):
        return abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) > 5.5 / np.sqrt(a.size)

    for i in range(len(u)):
        for j in range(i + 1, len(u)):
            if correlated(u[i], u[j]):
                found.append(f"streams {STREAM_NAMES[i]} and {STREAM_NAMES[j]}")
        if correlated(u[i, 1:], u[i, :-1]):
            found.append(f"consecutive steps of {STREAM_NAMES[i]}")
        if correlated(u[i, :, 1:], u[i, :, :-1]):
            found.append(f"neighbouring envs of {STREAM_NAMES[i]}")
        # the pair (step t, step t + 1) must fill the unit square evenly too (8 x 8 cells)
        pairs = np.histogram2d(u[i, 1:].ravel(), u[i, :-1].ravel(), bins=8, range=((0, 1), (0, 1)))[0]
        if ((pairs - pairs.mean()) ** 2 / pairs.mean()).sum() > stats.chi2.ppf(1 - 1e-6, 63):
            found.append(f"pairs of consecutive steps of {STREAM_NAMES[i]}")
    return found


def test_the_counter_hash_is_uniform_and_independent_across_streams_steps_and_envs():
    assert flaws(sample(step_bits)) == []


def _without_time(words, time, streams):
    return step_bits(words, jnp.zeros_like(time), streams)


def _without_key(words, time, streams):
    return step_bits(jnp.zeros_like(words), time, streams)


def _one_round(words, time, streams):  # the stream hash replaced by a multiplication: bits stay linear
    inner = hash32(words[..., 0] ^ (time.astype(jnp.uint32) * jnp.uint32(random_bits.GOLDEN)))
    return {n: (words[..., 1] ^ inner) + jnp.uint32(STREAMS[n] * 0x01000193) for n in streams}


def _small_step(words, time, streams):  # the step index not spread over the words: t and t + 1 overlap
    inner = hash32(words[..., 0]) + time.astype(jnp.uint32) * jnp.uint32(1 << 8)
    return {n: inner + jnp.uint32(STREAMS[n] << 20) for n in streams}


@pytest.mark.parametrize("broken", [_without_time, _without_key, _one_round, _small_step])
def test_the_checks_catch_a_broken_generator(broken):
    assert flaws(sample(broken)), f"{broken.__name__} passed every check"


def test_box_muller_normals_are_standard_normal():
    u = sample(step_bits, envs=4096, steps=16)
    z0, z1 = (np.asarray(z, np.float64).ravel() for z in random_bits.normal_pair(u[2], u[3]))
    for z in (z0, z1):
        assert stats.kstest(z, "norm").pvalue > 1e-6
        assert abs(z.mean()) < 5 / np.sqrt(z.size) and abs(z.var() - 1) < 5 * np.sqrt(2 / z.size)
        tail = (np.abs(z) > 3).mean()  # 0.27% beyond 3 sigma
        assert abs(tail - 0.0027) < 5 * np.sqrt(0.0027 / z.size)
    assert abs(np.corrcoef(z0, z1)[0, 1]) < 5 / np.sqrt(z0.size)
    grid = np.linspace(0, 1, 1001)
    np.testing.assert_allclose(np.asarray(random_bits.cos_2pi(grid)), np.cos(2 * np.pi * grid), atol=2e-7)
    np.testing.assert_allclose(np.asarray(random_bits.sin_2pi(grid)), np.sin(2 * np.pi * grid), atol=2e-7)


# -- determinism per key, and the auto-reset's key ----------------------------------------------------
ENV = MarketMakingEnv()
PARAMS = ENV.make_params(horizon=0.02)  # 4 steps
QUOTE = jnp.array([0.5, 0.5, 1.0, 1.0])


@functools.partial(jax.jit, static_argnums=2)
def mids(key_reset, key_step, steps):
    """Mids of ``steps`` auto-resetting steps all called with ``key_step``."""
    _, state = ENV.reset_env(key_reset, PARAMS)

    def body(state, _):
        _, state, _, _, info = ENV.step(key_step, state, QUOTE, PARAMS)
        return state, info.mid

    return jax.lax.scan(body, state, None, length=steps)[1]


def test_same_keys_same_numbers_and_every_episode_new_numbers():
    a, b = mids(jax.random.key(0), jax.random.key(1), 12), mids(jax.random.key(0), jax.random.key(1), 12)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    episodes = np.asarray(a, np.float64).reshape(3, 4)  # 3 episodes stepped with one constant key
    moves = np.diff(np.concatenate([np.full((3, 1), 100.0), episodes], axis=1), axis=1)
    assert not np.allclose(moves[0], moves[1]) and not np.allclose(moves[1], moves[2])
    for other in (mids(jax.random.key(2), jax.random.key(1), 12), mids(jax.random.key(0), jax.random.key(3), 12)):
        assert not np.allclose(np.asarray(a), np.asarray(other))  # the reset key and the step key both matter
    # raw uint32 keys work the same way as typed ones, and the reset key keeps the caller's kind of key
    _, state = ENV.reset_env(jax.random.key(0), PARAMS)
    _, raw_state = ENV.reset_env(jax.random.key_data(jax.random.key(0)), PARAMS)
    np.testing.assert_array_equal(np.asarray(state.noise_key), np.asarray(raw_state.noise_key))
    assert ENV.reset_key(jax.random.key(1), state).dtype == jax.random.key(1).dtype
    assert ENV.reset_key(jax.random.PRNGKey(1), state).dtype == jnp.uint32


# -- switched-off parts ------------------------------------------------------------------------------
FULL = MarketMakingEnv(n_regimes=2, max_latency=1)
MODELS = {
    "default": {},
    "everything on": dict(
        jump_rate=20.0,
        jump_std=0.3,
        signal_vol=2.0,
        flow_sensitivity=0.5,
        adverse_impact=0.05,
        tick_size=0.1,
        latency=1,
        regime_vol=[1.0, 2.0],
        regime_transition=[[0.9, 0.1], [0.2, 0.8]],
    ),
}


@pytest.mark.parametrize("model", list(MODELS))
def test_skipping_a_part_the_params_switch_off_changes_nothing(model, monkeypatch):
    """Concrete params skip the parts they switch off; the same rollout with every part computed gives
    the same numbers, bit for bit (and traced params, which compute every part, agree to rounding:
    XLA folds constants such as 1 / n_steps differently)."""
    params = FULL.make_params(horizon=0.1, **MODELS[model])
    keys = jax.random.split(jax.random.key(5), 8)
    action = jnp.array([0.4, 0.6, 1.0, 1.0])

    def run(k, p):
        return rollout(FULL, lambda o, s, kk: action, k, p, 20)

    skipped = jax.jit(jax.vmap(lambda k: run(k, params)))(keys)
    traced = jax.jit(jax.vmap(run, in_axes=(0, None)))(keys, params)
    monkeypatch.setattr(market, "active_parts", lambda config, p, state=None: frozenset(config.model_parts))
    computed = jax.jit(jax.vmap(lambda k: run(k, params)))(keys)
    jax.tree_util.tree_map(np.testing.assert_array_equal, skipped, computed)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4), skipped, traced)


def test_a_signal_left_in_the_state_keeps_moving_when_the_params_switch_it_off():
    """Eagerly stepped (concrete state), a non-zero signal under signal_vol = 0 still reverts and drifts
    the mid, as the model says (a schedule whose later segment switches the signal off)."""
    params = ENV.make_params(signal_vol=0.0, signal_reversion=5.0, sigma=0.0)
    _, state = ENV.reset_env(jax.random.key(0), params)
    state = state.replace(signal=jnp.float32(2.0))
    _, after, _, _, info = ENV.step_env(jax.random.key(1), state, QUOTE, params)
    np.testing.assert_allclose(float(after.signal), 2.0 * (1 - 5.0 * 0.005), rtol=1e-6)
    np.testing.assert_allclose(float(info.mid), 100.0 + 2.0 * 0.005, rtol=1e-6)


def test_a_part_compiled_out_rejects_params_that_turn_it_on():
    env = MarketMakingEnv(model_parts=("signal",))
    env.make_params(signal_vol=1.0)  # compiled in: fine
    with pytest.raises(ValueError, match="jump_rate.*'jumps'"):
        env.make_params(jump_rate=5.0)
    with pytest.raises(ValueError, match="model_parts"):
        EnvConfig(model_parts=("jumps", "teleport"))
