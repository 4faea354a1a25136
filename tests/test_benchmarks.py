"""Smoke tests of the benchmark scripts: they run and report well-formed figures (no timing claims)."""

import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_env_throughput_quick_json():
    out = subprocess.run(
        [sys.executable, str(BENCHMARKS / "env_throughput.py"), "--quick", "--json"],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    result = json.loads(out)  # exactly one JSON object on stdout
    assert set(result) == {"jax", "numpy", "adapter", "ratios"}
    assert set(result["jax"]) == set(result["numpy"]) and len(result["jax"]) >= 2
    assert all(key.isdigit() for key in result["jax"])
    assert set(result["adapter"]) == {"1"}
    assert set(result["ratios"]) == {"jax_over_numpy", "jax_over_adapter"}
    figures = [*result["jax"].values(), *result["numpy"].values(), result["adapter"]["1"], *result["ratios"].values()]
    assert all(isinstance(x, float) and x > 0 for x in figures)


def test_the_numpy_reference_simulates_the_same_model_as_the_jax_env():
    """The throughput ratio compares like with like only if the benchmark's numpy simulator is the env's
    model: its episode objectives agree with the JAX env's within 4.5 standard errors of the difference."""
    import importlib.util

    import jax
    import numpy as np

    from morl_mm.env import MarketMakingEnv, n_steps, rollout

    spec = importlib.util.spec_from_file_location("env_throughput", BENCHMARKS / "env_throughput.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    env = MarketMakingEnv()
    params = env.make_params(inventory_limit=5.0)  # the limit binds: the withdrawal rule is compared too
    episodes, depth = 4000, 0.5
    sim = bench.NumpyMarketMaking(episodes, params, seed=1)
    reference = sum(sim.step(depth, depth).astype(np.float64) for _ in range(n_steps(params))).T  # (episodes, 3)
    action = np.array([depth, depth, 1.0, 1.0], np.float32)
    keys = jax.random.split(jax.random.key(1), episodes)
    ours = jax.jit(jax.vmap(lambda k: rollout(env, lambda o, st, kk: action, k, params).reward.sum(0)))(keys)
    ours = np.asarray(ours, np.float64)
    se = np.sqrt(reference.var(axis=0, ddof=1) / episodes + ours.var(axis=0, ddof=1) / episodes)
    assert np.all(np.abs(reference.mean(axis=0) - ours.mean(axis=0)) < 4.5 * se + 1e-9), (
        reference.mean(axis=0),
        ours.mean(axis=0),
        se,
    )
    # and the spread of the pnl (inventory marked at a Brownian mid) agrees: sample stds within 4.5 s.e.
    std_ref, std_ours = reference[:, 0].std(ddof=1), ours[:, 0].std(ddof=1)
    assert abs(std_ref - std_ours) < 4.5 * np.sqrt(std_ref**2 / (2 * episodes) + std_ours**2 / (2 * episodes))


def test_front_quality_overrides_parse_to_json_values():
    import importlib.util

    import pytest

    spec = importlib.util.spec_from_file_location("front_quality", BENCHMARKS / "front_quality.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.parse_override("dqn.n_step=8") == ("dqn", "n_step", 8)
    assert bench.parse_override("dqn.factorised=true") == ("dqn", "factorised", True)
    assert bench.parse_override("ppo.hidden=[128, 128]") == ("ppo", "hidden", [128, 128])
    assert bench.parse_override("ppo.activation=relu") == ("ppo", "activation", "relu")
    for bad in ("n_step=8", "dqn.n_step", ".x=1"):
        with pytest.raises(Exception, match="LEARNER.KEY=VALUE"):
            bench.parse_override(bad)
