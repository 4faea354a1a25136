"""Reproduce the simulation study of Avellaneda & Stoikov (2008), section 4.

Setting of the paper: s = 100, T = 1, sigma = 2, dt = 0.005, q0 = 0, k = 1.5, A = 140; the mid moves
by +-sigma sqrt(dt) each step; a quote at depth delta is filled with probability A exp(-k delta) dt
per step; no inventory limit (we set 1000 lots, which never binds). For each risk aversion gamma in
{0.01, 0.1, 1} the "inventory" strategy (reservation price and spread of the paper) is compared with
a "symmetric" strategy quoting around the mid with the inventory strategy's average spread, over
1000 simulations sharing their random draws (common random numbers).

    python studies/avellaneda_stoikov_2008.py [--simulations 1000] [--seed 0] [--json] [--no-time-term]

``--no-time-term`` drops the gamma sigma^2 (T - t) term from the inventory strategy's spread
(keeping the reservation price): the paper's reported spreads for gamma = 0.01 and 0.1 equal
(2/gamma) ln(1 + gamma/k) alone, which suggests its simulation did so (see the .md beside this file).

``--json`` prints one JSON object: {"<gamma>": {"inventory": {"spread", "profit_mean",
"profit_std", "q_mean", "q_std"}, "symmetric": {...}}, ...} with gamma keys "0.01", "0.1", "1".
"""

from __future__ import annotations

import argparse
import json
import sys

import jax
import jax.numpy as jnp
import numpy as np

from morl_mm.env import EnvConfig, MarketMakingEnv, rollout
from morl_mm.policies.classical import AvellanedaStoikov, FixedSpread, avellaneda_stoikov_depths
from morl_mm.policies.quoting import stack_params

GAMMAS = (0.01, 0.1, 1.0)
PAPER_SETTING = dict(mid0=100.0, horizon=1.0, sigma=2.0, dt=0.005, initial_inventory=0.0, kappa=1.5,
                     arrival_rate=140.0, inventory_limit=1000.0)
STRATEGIES = ("inventory", "symmetric")


def paper_env():
    """The paper's market: binary mid moves, no effective inventory limit. Returns (env, params)."""
    env = MarketMakingEnv(EnvConfig(mid_noise="binary", objectives=("pnl",)))
    return env, env.make_params(**PAPER_SETTING)


class SpreadWithoutTimeTerm(AvellanedaStoikov):
    """Avellaneda-Stoikov with the spread (2/gamma) ln(1 + gamma/k) only (no gamma sigma^2 (T - t))."""

    def quotes(self, params, state):
        bid, ask, on_bid, on_ask = super().quotes(params, state)
        time_left = jnp.maximum(params.horizon - state.time * params.dt, 0.0)
        time_term, _ = avellaneda_stoikov_depths(params.gamma, params.sigma, params.kappa, time_left, 0.0)
        constant, _ = avellaneda_stoikov_depths(params.gamma, params.sigma, params.kappa, 0.0, 0.0)
        shift = (time_term - constant) / params.order_size  # gamma sigma^2 (T - t) / 2 per side
        return bid - shift, ask - shift, on_bid, on_ask


def simulate(env, params, policy, policy_params, keys) -> list[dict[str, float]]:
    """Roll ``policy`` with each of the stacked ``policy_params`` once per key (one compilation);
    the paper's statistics of the runs, one dict per params."""
    runs = jax.jit(jax.vmap(lambda pp: jax.vmap(lambda k: rollout(env, policy, k, params, policy_params=pp))(keys)))
    traj = runs(policy_params)
    profit = np.asarray(traj.reward[..., 0], np.float64).sum(axis=-1)  # final minus initial wealth
    final_q = np.asarray(traj.info.inventory[..., -1], np.float64)
    spread = np.asarray(traj.info.ask_price - traj.info.bid_price, np.float64)
    return [{"spread": float(np.nanmean(spread[i])), "profit_mean": float(profit[i].mean()),
             "profit_std": float(profit[i].std(ddof=1)), "q_mean": float(final_q[i].mean()),
             "q_std": float(final_q[i].std(ddof=1))} for i in range(profit.shape[0])]


def run_study(simulations: int = 1000, seed: int = 0, gammas=GAMMAS,
              time_term: bool = True) -> dict[str, dict[str, dict[str, float]]]:
    """The paper's table: per gamma, statistics of the inventory and the symmetric strategy."""
    if int(simulations) < 2:
        raise ValueError(f"--simulations: need at least 2, got {simulations}")
    env, params = paper_env()
    keys = jax.random.split(jax.random.key(int(seed)), int(simulations))
    quoter = AvellanedaStoikov if time_term else SpreadWithoutTimeTerm
    quoters = [quoter(env, params, gamma=gamma) for gamma in gammas]
    inventory = simulate(env, params, quoters[0], stack_params([q.params for q in quoters]), keys)
    symmetric_quoters = [FixedSpread(env, half_spread=stats["spread"] / 2) for stats in inventory]
    symmetric = simulate(env, params, symmetric_quoters[0], stack_params([q.params for q in symmetric_quoters]), keys)
    return {f"{gamma:g}": {"inventory": inv, "symmetric": sym} for gamma, inv, sym in zip(gammas, inventory, symmetric)}


def format_table(results) -> str:
    header = f"{'gamma':>6} {'strategy':>10} {'spread':>7} {'profit':>8} {'std':>7} {'final q':>8} {'std q':>6}"
    lines = [header, "-" * len(header)]
    for gamma, by_strategy in results.items():
        for name in STRATEGIES:
            r = by_strategy[name]
            lines.append(f"{gamma:>6} {name:>10} {r['spread']:7.2f} {r['profit_mean']:8.2f} {r['profit_std']:7.2f} "
                         f"{r['q_mean']:8.2f} {r['q_std']:6.2f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulations", type=int, default=1000, help="simulated paths per strategy (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed (default 0)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--no-time-term", action="store_true",
                        help="inventory strategy's spread without the gamma sigma^2 (T - t) term")
    args = parser.parse_args(argv)
    try:
        results = run_study(args.simulations, args.seed, time_term=not args.no_time_term)
    except ValueError as err:
        parser.error(str(err))
    print(json.dumps(results) if args.json else format_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
