"""Policy entropy of a study's PPO network before and after shrink-and-perturb (morl-mm retrain's warm start).

Rolls the network of a study's PPO policy file out on a scenario's model (64 episodes, Dirichlet(1) weights,
sampled actions) and prints the mean entropy (nats) of its policy on the states visited, for the network as
saved, a fresh initialisation and :func:`morl_mm.agents.ppo.shrink_perturb` settings (discrete mode: the
maximum is log of the number of joint actions).

    python benchmarks/warm_start_entropy.py results/default --scenario trending
"""

from __future__ import annotations

import argparse
import json

import jax
import jax.numpy as jnp
import numpy as np

from morl_mm.agents.common import conditioned_input, sample_simplex_weights
from morl_mm.agents.ppo import entropy, shrink_perturb
from morl_mm.policies import io
from morl_mm.study import load_result

SETTINGS = ((0.8, 0.01), (0.5, 0.1), (0.3, 0.3), (0.1, 0.9))  # (shrink, perturb), as measured in the README


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("result", help="a study's folder or study.nc (with a ppo learner)")
    parser.add_argument("--scenario", required=True, help="a constant-params scenario of the study")
    parser.add_argument("--episodes", type=int, default=64)
    args = parser.parse_args()
    result = load_result(args.result)
    loaded = io.load_policy(next(result.policy_dir.glob("ppo_*.mmpol")))
    network, params, env = loaded.policy.network, loaded.policy.params[0], loaded.env
    overrides = json.loads(result.dataset.attrs["config"])["scenarios"][args.scenario]
    model = loaded.env_params.replace(**overrides)  # the file's model (the study's) with the scenario's params
    n, n_obj = args.episodes, env.num_objectives
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(jax.random.key(0), n), model)
    weights = sample_simplex_weights(jax.random.key(1), n, n_obj, 1.0)

    def step(carry, key):
        obs, state = carry
        logits, _ = network.apply(params, conditioned_input(obs, weights))
        action = jax.random.categorical(key, logits)
        obs_next, state, *_ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
            jax.random.split(key, n), state, action, model
        )
        return (obs_next, state), obs

    steps = int(round(model.horizon / model.dt))
    _, visited = jax.lax.scan(step, (obs, state), jax.random.split(jax.random.key(2), steps))
    x = conditioned_input(visited, jnp.broadcast_to(weights, visited.shape[:2] + (n_obj,)))
    fresh = network.init(jax.random.key(5), x[0, 0])
    rows = [("saved network", params), ("fresh initialisation", fresh)]
    rows += [(f"shrink {s} + perturb {p}", shrink_perturb(params, fresh, s, p)) for s, p in SETTINGS]
    print(f"mean policy entropy on {args.scenario} (max {np.log(network.action_dim):.3f} nats):")
    for name, p in rows:
        print(f"  {name}: {float(entropy(network.apply(p, x)[0], network.discrete).mean()):.3f}")


if __name__ == "__main__":
    main()
