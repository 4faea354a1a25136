"""Decision latency of the quote engine: observation + policy + order mapping (+ risk checks), per decision.

For each policy a paper-trading session runs on a synthetic market (the simulator's model written as a
capture, :func:`morl_mm.data.synthetic.simulate_capture`) through :class:`morl_mm.live.engine.QuoteEngine`
and the simulated venue, at replay speed ``max``; the engine's monitor times every decision from the
moment the interval's book arrives to the moment its order actions are handed to the gateway (the
jitted observation + policy + quote placement, the order mapping and the risk checks). A first,
short session compiles and warms up; the figures are of a second one. Policies:

* ``ppo``: the weight-conditioned PPO actor-critic of the study's learner (default hyperparameters:
  64x64 tanh MLP, continuous actions), untrained weights unless ``--result`` gives a study;
* ``dqn``: the conditioned Q network (discrete actions over the depth grid);
* ``avellaneda_stoikov``: the closed form (a classical policy reading the state).

    python benchmarks/inference_latency.py [--decisions 5000] [--policies ppo,dqn] [--result DIR] [--json]

``--json`` prints one object ``{"<policy>": {"p50_us": .., "p99_us": .., "decisions": ..}, ...}``.
Goal: p99 below 100 microseconds on the 2-core CPU.
"""

from __future__ import annotations

import argparse
import gc
import json

import jax
import jax.numpy as jnp
import numpy as np

from morl_mm.data.synthetic import simulate_capture
from morl_mm.env.market import MarketMakingEnv
from morl_mm.env.params import EnvConfig, make_params
from morl_mm.live.engine import QuoteEngine
from morl_mm.live.monitor import Monitor
from morl_mm.live.source import CaptureSource
from morl_mm.live.venue import MatchingVenue, SimGateway

DT = 0.1  # seconds per decision
HORIZON = 20.0  # seconds per episode
WARMUP_DECISIONS = 300


def model(action_mode: str):
    """A model of the synthetic market below, in its units (dollars, seconds)."""
    config = EnvConfig(action_mode=action_mode, depth_grid=(0.01, 0.02, 0.03, 0.05, 0.08))
    params = make_params(
        config,
        dt=DT,
        horizon=HORIZON,
        sigma=0.03,
        arrival_rate=2.0,
        kappa=25.0,
        tick_size=0.01,
        mid0=0.0,
        inventory_limit=5.0,
        order_size=1.0,
        competitive_distance=0.05,
    )
    return MarketMakingEnv(config), params


def untrained(algorithm: str, env: MarketMakingEnv, env_params):
    """The study's network of ``algorithm`` at its initial weights, at equal preference weights."""
    from morl_mm.agents.registry import learner_config, rebuild_policy

    config = learner_config(algorithm, {})
    m, obs_dim = env.num_objectives, env.observation_space().shape[0]
    key = jax.random.key(0)
    if algorithm == "ppo":
        from morl_mm.agents.ppo import make_network

        network_params = make_network(config, env).init(key, jnp.zeros((obs_dim + m,)))
    else:
        from morl_mm.agents.dqn import make_train

        network = make_train(config, env, env_params, np.ones(m)).network
        network_params = network.init(key, jnp.zeros((obs_dim,)), jnp.full((m,), 1.0 / m))
    return rebuild_policy(algorithm, {}, env, env_params, network_params, np.full(m, 1.0 / m))


def policies(result: str | None, names=None):
    """``{name: (policy, env, env_params)}``: from a study's policy files, else built here (``names``: only these)."""
    if result:
        from morl_mm.study import load_result

        res = load_result(result)
        out = {}
        for label, kind in zip(res.dataset.policy.values, res.dataset["kind"].values):
            name = {"ppo": "ppo", "dqn": "dqn", "classical": "classical"}.get(str(kind))
            if name and name not in out and (res.policy_dir / f"{label}.mmpol").is_file():
                loaded = res.load_policy(str(label))
                out[name] = (loaded.policy, loaded.env, loaded.env_params)
        return {k: v for k, v in out.items() if names is None or k in names}
    from morl_mm.policies.classical import AvellanedaStoikov

    env_c, params_c = model("continuous")
    env_d, params_d = model("discrete")
    builders = {
        "ppo": lambda: (untrained("ppo", env_c, params_c), env_c, params_c),
        "dqn": lambda: (untrained("dqn", env_d, params_d), env_d, params_d),
        "avellaneda_stoikov": lambda: (AvellanedaStoikov(env_c, params_c, gamma=0.1), env_c, params_c),
    }
    return {k: build() for k, build in builders.items() if names is None or k in names}


def session_latency(policy, env, env_params, capture, decisions: int) -> dict:
    """Decision latency of one session of ``decisions`` intervals (after a warm-up session)."""
    stats = {}
    for count in (WARMUP_DECISIONS, decisions):
        source = CaptureSource.from_capture(capture, float(env_params.dt), speed="max")
        venue = MatchingVenue(source.tape, env_params, "queue", reference_price=source.reference_price)
        monitor = Monitor(env.objectives, env_params.replace(mid0=0.0, initial_inventory=0.0))
        engine = QuoteEngine(policy, env, env_params, SimGateway(venue), source, None, monitor)
        gc.collect()
        engine.run(max_intervals=count)
        p50, p99 = monitor.latency_us()
        stats = {"p50_us": round(p50, 1), "p99_us": round(p99, 1), "decisions": len(monitor.latencies)}
    return stats


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=5000, help="decisions per policy (default 5000)")
    parser.add_argument("--result", help="a study folder: benchmark its PPO, DQN and a classical policy instead")
    parser.add_argument("--policies", help="comma-separated subset (ppo, dqn, avellaneda_stoikov or classical)")
    parser.add_argument("--cpu", type=int, help="pin the process to this CPU first (as morl-mm serve --cpu)")
    parser.add_argument("--json", action="store_true", help='{"<policy>": {"p50_us", "p99_us", "decisions"}}')
    args = parser.parse_args(argv)
    if args.decisions < 10:
        parser.error(f"--decisions: at least 10, got {args.decisions}")
    if args.cpu is not None:
        from morl_mm.live.session import pin_to_cpu

        pin_to_cpu(args.cpu)
    out = {}
    names = None if not args.policies else set(args.policies.split(","))
    for name, (policy, env, env_params) in policies(args.result, names).items():
        seconds = max(args.decisions, WARMUP_DECISIONS) * float(env_params.dt) + 2.0
        capture = simulate_capture(seconds, sigma=0.03, arrival_rate=2.0, kappa=25.0, tick_size=0.01, seed=1)
        out[name] = session_latency(policy, env, env_params, capture, args.decisions)
    if args.json:
        print(json.dumps(out))
        return 0
    print("decision latency (observation + policy + order mapping + risk checks), microseconds")
    print("| policy | p50 | p99 | decisions |\n|---|---:|---:|---:|")
    for name, row in out.items():
        print(f"| {name} | {row['p50_us']} | {row['p99_us']} | {row['decisions']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
