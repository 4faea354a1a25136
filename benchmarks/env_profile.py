"""Where the env step's time goes: the throughput benchmark's JAX run with parts of the step removed.

Each row is ``benchmarks/env_throughput.py``'s JAX run (jit + vmap + scan, auto-reset, default model,
both sides quoted at 1/kappa) with one change; rows are timed in turns (best of ``--repeats``), so
that a machine shared with other work disturbs them alike; ``cpu`` is env-steps per CPU-second of
this process (all its threads), which other processes disturb less than wall time. The rows that
replace random numbers are for profiling only (their numbers are not random). The HLO summary
counts the kernels of the scan's loop body of the benchmark's run.

    python benchmarks/env_profile.py [--batch 16384] [--steps 400] [--repeats 7] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import time

import jax
import jax.numpy as jnp
import numpy as np
from env_throughput import NumpyMarketMaking, make_jax_runner

from morl_mm.env import MarketMakingEnv, random_bits
from morl_mm.env.market import Draws


class XorBits(MarketMakingEnv):
    """Profile only: the counter hash replaced by one xor of the words and the step (not random)."""

    def draw(self, key, state, parts):
        words = state.noise_key ^ random_bits.key_words(key)
        x = words[..., 0] ^ words[..., 1] ^ state.time.astype(jnp.uint32)
        u, v = random_bits.uniform(x), random_bits.uniform(x ^ jnp.uint32(0x5BD1E995))
        return Draws(jnp.stack([u, v]), random_bits.radius(u) * random_bits.cos_2pi(v), None, None, None, None)


class NoNormal(MarketMakingEnv):
    """Profile only: the mid's Box-Muller normal replaced by a centred uniform (no log, sqrt, sine)."""

    def draw(self, key, state, parts):
        draws = super().draw(key, state, parts)
        return draws._replace(mid_noise=draws.u_fill[0] - 0.5)


class StepEnvOnly(MarketMakingEnv):
    """``step`` without the auto-reset (``step_env`` only)."""

    def step(self, key, state, action, params):
        return self.step_env(key, state, action, params)


def variants(batch: int, steps: int) -> dict:
    env = MarketMakingEnv()
    params = env.default_params
    runs = {
        "env.step (the benchmark)": make_jax_runner(env, params, batch, steps),
        "without the auto-reset": make_jax_runner(StepEnvOnly(), params, batch, steps),
        "hash replaced by a xor": make_jax_runner(XorBits(), params, batch, steps),
        "mid normal replaced by a uniform": make_jax_runner(NoNormal(), params, batch, steps),
        "every optional part computed (traced params)": make_jax_runner(env, params, batch, steps, trace_params=True),
    }
    key = jax.random.key(0)
    calls = {name: (lambda run=run: run(key).block_until_ready()) for name, run in runs.items()}

    def numpy_run():
        sim, depth = NumpyMarketMaking(batch, params), 1.0 / float(params.kappa)
        for _ in range(steps):
            sim.step(depth, depth)

    calls["numpy reference"] = numpy_run
    return calls


def time_in_turns(calls: dict, batch: int, steps: int, repeats: int) -> dict:
    for call in calls.values():
        call()  # compile / warm up
    wall = {name: np.inf for name in calls}
    cpu = {name: np.inf for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            w, c = time.perf_counter(), time.process_time()
            call()
            wall[name] = min(wall[name], time.perf_counter() - w)
            cpu[name] = min(cpu[name], time.process_time() - c)
    return {name: {"wall": batch * steps / wall[name], "cpu": batch * steps / cpu[name]} for name in calls}


def hlo_summary(batch: int, steps: int) -> dict:
    """Kernels of the benchmark's scan body (the while loop with the most fusions) and XLA's cost figures."""
    env = MarketMakingEnv()
    runner = make_jax_runner(env, env.default_params, batch, steps)
    run = jax.jit(lambda key: runner(key))
    compiled = run.lower(jax.random.key(0)).compile()
    text = compiled.as_text()
    bodies = re.findall(r"body=(%[\w.\-]+)", text)
    computations = dict(re.findall(r"^(%[\w.\-]+) [^\n]*\{\n(.*?)\n\}", text, flags=re.S | re.M))

    def kernels_of(body):
        return re.findall(r"^\s*%\S+ = .*? (fusion|copy|conditional)\(", computations.get(body, ""), flags=re.M)

    kernels = max((kernels_of(b) for b in bodies), key=lambda k: k.count("fusion"))  # the step, not threefry's loops
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return {  # XLA's cost analysis counts a while loop's body once: per env, that is one step
        "loop_body_fusions": kernels.count("fusion"),
        "loop_body_copies": kernels.count("copy"),
        "loop_body_conditionals": kernels.count("conditional"),
        "flops_per_env_step": float(cost.get("flops", np.nan)) / batch,
        "transcendentals_per_env_step": float(cost.get("transcendentals", np.nan)) / batch,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=16384)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.batch < 1 or args.steps < 1 or args.repeats < 1:
        parser.error("batch, steps and repeats must be >= 1")
    rates = time_in_turns(variants(args.batch, args.steps), args.batch, args.steps, args.repeats)
    result = {"batch": args.batch, "steps": args.steps, "rates": rates, "hlo": hlo_summary(args.batch, args.steps)}
    if args.json:
        print(json.dumps(result))
        return
    base = rates["env.step (the benchmark)"]
    print(f"batch {args.batch}, {args.steps} steps per env, best of {args.repeats} in turns")
    print(f"{'variant':48s} {'wall steps/s':>13s} {'cpu steps/s':>13s} {'vs env.step (cpu)':>18s}")
    for name, rate in rates.items():
        print(f"{name:48s} {rate['wall']:13.3e} {rate['cpu']:13.3e} {rate['cpu'] / base['cpu']:18.2f}")
    print("HLO of the scan body:", json.dumps(result["hlo"]))


if __name__ == "__main__":
    main()
