"""Env-steps per second: the JAX env (jit + vmap + scan) vs a numpy reference vs the gym adapter.

(a) ``jax``: ``MarketMakingEnv.step`` (auto-reset included) under ``jit(vmap(scan))`` for each batch
    size, every env quoting both sides at depth 1/kappa, one key per env for the whole run (the env's
    counter-based draws are new at every step); compile time excluded, results blocked on.
    XLA on CPU runs this on one core; with several host devices (``XLA_FLAGS=
    --xla_force_host_platform_device_count=2``) the batch is split over them with ``pmap``.
(b) ``numpy``: the same base model written as a plain, batched numpy simulator (below): Brownian
    mid, Bernoulli arrivals with inverse-CDF fills, cash/inventory/limits, the three default
    objectives, auto-reset. It is the "no JAX" reference a careful engineer would write.
(c) ``adapter``: :class:`MOMarketMakingEnv` (mo-gymnasium API) stepped one env at a time in Python.

    python benchmarks/env_throughput.py [--batch-sizes 1 16 256] [--steps 400] [--quick] [--json]

``--json`` prints one JSON object: {"jax": {"1": sps, ...}, "numpy": {...}, "adapter": {"1": sps},
"ratios": {"jax_over_numpy": .., "jax_over_adapter": ..}} (ratios of the best batch sizes).
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from morl_mm.env import MarketMakingEnv, n_steps
from morl_mm.env.gym_adapter import MOMarketMakingEnv

BATCH_SIZES = (1, 16, 256, 4096, 65536)
QUICK_BATCH_SIZES = (1, 64)
STEPS = 400  # two default episodes per env, so auto-reset is exercised
QUICK_STEPS = 50
ADAPTER_STEPS = 2000
REPEATS = 3  # best of


def best_time(fn, repeats: int = REPEATS) -> float:
    """Smallest wall time of ``repeats`` calls (after the caller's warm-up)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


# -- (a) JAX -------------------------------------------------------------------------------------
def make_jax_runner(env: MarketMakingEnv, params, batch: int, steps: int, trace_params: bool = False):
    """A jitted ``run(key) -> summed rewards`` stepping ``batch`` envs for ``steps`` steps.

    ``trace_params``: pass the params into the jitted function instead of closing over them, so that
    every optional part of the model is computed (see ``morl_mm.env.params.active_parts``)."""
    depth = 1.0 / float(params.kappa)
    action = jnp.asarray([depth, depth, 1.0, 1.0], jnp.float32)

    def one_env(key, params):
        # one key per env for the whole run: the env's counter hash draws each step's numbers from
        # (episode, step index), and ``step`` chains the next episode's key (no threefry per step)
        key_reset, key_step = jax.random.split(key)
        _, state = env.reset_env(key_reset, params)

        def body(carry, _):
            state, total = carry
            _, state, reward, _, _ = env.step(key_step, state, action, params)
            return (state, total + reward), None

        (_, total), _ = jax.lax.scan(body, (state, jnp.zeros(env.num_objectives)), None, length=steps)
        return total

    devices = jax.local_device_count()
    shard = devices > 1 and batch % devices == 0  # e.g. XLA_FLAGS=--xla_force_host_platform_device_count=2
    n = batch // devices if shard else batch

    def envs(key, traced):
        p = traced if trace_params else params  # closed over: concrete, so switched-off parts are skipped
        return jax.vmap(lambda k: one_env(k, p))(jax.random.split(key, n))

    if shard:
        sharded = jax.pmap(envs, in_axes=(0, None))
        return lambda key: sharded(jax.random.split(key, devices), params)
    compiled = jax.jit(envs)
    return lambda key: compiled(key, params)


def jax_steps_per_second(batch: int, steps: int) -> float:
    env = MarketMakingEnv()
    run = make_jax_runner(env, env.default_params, batch, steps)
    key = jax.random.key(0)
    run(key).block_until_ready()  # compile
    return batch * steps / best_time(lambda: run(key).block_until_ready())


# -- (b) numpy reference -----------------------------------------------------------------------
class NumpyMarketMaking:
    """The base model (no regimes, jumps, signal, latency, ticks, fees) for ``batch`` envs in numpy.

    Mirrors ``MarketMakingEnv.step_env`` with default extras off: per side one uniform decides
    the arrival (u < A dt) and the fill (u < A dt exp(-kappa delta)); a side whose fill would
    breach the inventory limit is withdrawn; rewards (pnl, inventory_risk, quoting_ratio).
    """

    def __init__(self, batch: int, params, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        p = {
            name: float(getattr(params, name))
            for name in (
                "mid0",
                "sigma",
                "dt",
                "arrival_rate",
                "kappa",
                "order_size",
                "inventory_limit",
                "competitive_distance",
            )
        }
        self.p, self.n_steps, self.batch = p, n_steps(params), batch
        f32 = np.float32
        self.mid = np.full(batch, p["mid0"], f32)
        self.cash = np.zeros(batch, f32)
        self.inventory = np.zeros(batch, f32)
        self.time = np.zeros(batch, np.int32)

    def step(self, depth_bid: float, depth_ask: float) -> np.ndarray:
        p, size, limit = self.p, self.p["order_size"], self.p["inventory_limit"]
        u = self.rng.random((2, self.batch), dtype=np.float32)
        noise = self.rng.standard_normal(self.batch, dtype=np.float32)
        p_arrival = p["arrival_rate"] * p["dt"]
        on_bid = self.inventory + size <= limit
        on_ask = self.inventory - size >= -limit
        bought = (u[0] < p_arrival * np.exp(-p["kappa"] * depth_bid)) & on_bid
        sold = (u[1] < p_arrival * np.exp(-p["kappa"] * depth_ask)) & on_ask
        units_bid, units_ask = bought * np.float32(size), sold * np.float32(size)
        wealth_before = self.cash + self.inventory * self.mid
        self.cash += units_ask * (self.mid + depth_ask) - units_bid * (self.mid - depth_bid)
        self.inventory += units_bid - units_ask
        self.mid += np.float32(p["sigma"] * np.sqrt(p["dt"])) * noise
        self.time += 1
        # (as floats: numpy's + of two bool arrays is a logical or, which counted two firm sides as one)
        firm = (on_bid & (depth_bid <= p["competitive_distance"])).astype(np.float32) + (
            on_ask & (depth_ask <= p["competitive_distance"])
        ).astype(np.float32)
        rewards = np.stack(
            [
                self.cash + self.inventory * self.mid - wealth_before,
                -np.float32(p["sigma"] ** 2 * p["dt"]) * self.inventory**2,
                np.float32(0.5 / self.n_steps) * firm,
            ]
        )
        done = self.time >= self.n_steps  # auto-reset finished envs
        if done.any():
            self.mid[done], self.cash[done], self.inventory[done], self.time[done] = p["mid0"], 0.0, 0.0, 0
        return rewards


def numpy_steps_per_second(batch: int, steps: int) -> float:
    params = MarketMakingEnv().default_params
    depth = 1.0 / float(params.kappa)

    def run():
        sim = NumpyMarketMaking(batch, params)
        total = np.zeros((3, batch), np.float32)
        for _ in range(steps):
            total += sim.step(depth, depth)
        return total

    run()  # warm-up
    return batch * steps / best_time(run)


# -- (c) mo-gymnasium adapter ------------------------------------------------------------------
def adapter_steps_per_second(steps: int) -> float:
    env = MOMarketMakingEnv(seed=0)
    depth = 1.0 / float(env.params.kappa)
    action = np.array([depth, depth, 1.0, 1.0], np.float32)

    def run():
        env.reset(seed=0)
        for _ in range(steps):
            if env.step(action)[2]:
                env.reset()

    run()  # warm-up (compiles)
    return steps / best_time(run)


def measure(batch_sizes, steps: int, adapter_steps: int) -> dict:
    results = {"jax": {}, "numpy": {}}
    for batch in batch_sizes:
        results["jax"][str(batch)] = jax_steps_per_second(batch, steps)
        results["numpy"][str(batch)] = numpy_steps_per_second(batch, steps)
    results["adapter"] = {"1": adapter_steps_per_second(adapter_steps)}
    best_jax = max(results["jax"].values())
    results["ratios"] = {
        "jax_over_numpy": best_jax / max(results["numpy"].values()),
        "jax_over_adapter": best_jax / results["adapter"]["1"],
    }
    return results


def print_table(results: dict) -> None:
    print(f"{'batch':>8} {'jax steps/s':>14} {'numpy steps/s':>14} {'jax/numpy':>10}")
    for batch, jax_sps in results["jax"].items():
        numpy_sps = results["numpy"][batch]
        print(f"{batch:>8} {jax_sps:>14.3e} {numpy_sps:>14.3e} {jax_sps / numpy_sps:>10.2f}")
    print(f"adapter (1 env, python loop): {results['adapter']['1']:.3e} steps/s")
    ratios = results["ratios"]
    print(
        f"best jax / best numpy: {ratios['jax_over_numpy']:.2f}x   "
        f"best jax / adapter: {ratios['jax_over_adapter']:.0f}x"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=None)
    parser.add_argument("--steps", type=int, default=None, help="steps per env (a, b)")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test, not a measurement")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)
    batch_sizes = args.batch_sizes or (QUICK_BATCH_SIZES if args.quick else BATCH_SIZES)
    steps = args.steps or (QUICK_STEPS if args.quick else STEPS)
    if min(batch_sizes) < 1 or steps < 1:
        parser.error(f"batch sizes and steps must be >= 1, got {batch_sizes} and {steps}")
    results = measure(batch_sizes, steps, adapter_steps=QUICK_STEPS if args.quick else ADAPTER_STEPS)
    if args.json:
        print(json.dumps(results))
    else:
        print(
            f"jax {jax.__version__} on {jax.local_device_count()} {jax.devices()[0].platform} device(s), "
            f"{steps} steps per env, best of {REPEATS}"
        )
        print_table(results)


if __name__ == "__main__":
    main()
