"""Reproduce the simulation study of Avellaneda & Stoikov (2008), section 4, beside the published tables.

Setting of the paper: s = 100, T = 1, sigma = 2, dt = 0.005, q0 = 0, k = 1.5, A = 140; the mid moves
by +-sigma sqrt(dt) each step; a quote at depth delta is filled with probability A exp(-k delta) dt
per step, capped at 1: a quote may sit through the mid (negative depth), as the paper's strategy
does when its reservation price is more than half a spread from the mid
(``EnvConfig(negative_depth=True)``); no inventory limit (we set 1000 lots, which never binds). For
each risk aversion gamma in {0.1, 0.01, 1} (the paper's Tables 1-3) the "inventory" strategy
(reservation price and spread of the paper) is compared with a "symmetric" strategy quoting around
the mid with the inventory strategy's average spread, over 1000 simulations sharing their random
draws (common random numbers).

    python studies/avellaneda_stoikov_2008.py [--simulations 1000] [--seed 0] [--json] [--clip-at-mid]
        [--no-time-term]

``--clip-at-mid`` runs the env without negative depths (quotes clipped at the mid), the earlier
reproduction; ``--no-time-term`` drops the gamma sigma^2 (T - t) term from the inventory strategy's
spread (keeping the reservation price): a variant, not the paper's strategy (the spreads of the
2006 working paper's tables, 1.33 / 1.29 / 1.15, equal (2/gamma) ln(1 + gamma/k) alone; the
published tables' 1.35 / 1.49 / 3.02 include the term).

The table prints the paper's value, ours and our Monte-Carlo standard error for each figure.
``--json`` prints one JSON object: {"<gamma>": {"inventory": {"spread", "profit_mean",
"profit_std", "q_mean", "q_std", "spread_se", "profit_mean_se", "profit_std_se", "q_mean_se",
"q_std_se"}, "symmetric": {...}}, ...} with gamma keys "0.1", "0.01", "1" (the paper's order).
"""

from __future__ import annotations

import argparse
import json
import math
import sys

import jax
import jax.numpy as jnp
import numpy as np

from morl_mm.env import EnvConfig, MarketMakingEnv, rollout
from morl_mm.policies.classical import AvellanedaStoikov, FixedSpread, avellaneda_stoikov_depths
from morl_mm.policies.quoting import stack_params

GAMMAS = (0.1, 0.01, 1.0)  # the paper's Tables 1, 2, 3
PAPER_SETTING = dict(
    mid0=100.0,
    horizon=1.0,
    sigma=2.0,
    dt=0.005,
    initial_inventory=0.0,
    kappa=1.5,
    arrival_rate=140.0,
    inventory_limit=1000.0,
)
STRATEGIES = ("inventory", "symmetric")
STATISTICS = ("spread", "profit_mean", "profit_std", "q_mean", "q_std")

PAPER_TABLES = {  # Quantitative Finance 8(3), 217-224, Tables 1-3 (1000 simulations each), as published
    "0.1": {"inventory": (1.49, 65.0, 6.6, 0.08, 2.9), "symmetric": (1.49, 68.4, 12.7, 0.26, 8.4)},
    "0.01": {"inventory": (1.35, 68.6, 8.7, 0.12, 5.1), "symmetric": (1.35, 68.8, 12.8, 0.09, 8.7)},
    "1": {"inventory": (3.02, 31.4, 5.0, 0.02, 1.7), "symmetric": (3.02, 44.0, 11.0, 0.00, 5.1)},
}
"""Per gamma and strategy: spread, mean profit, std(profit), mean final q, std(final q)."""
PAPER_SIMULATIONS = 1000


def paper_env(negative_depth: bool = True):
    """The paper's market: binary mid moves, quotes through the mid allowed (``negative_depth``), no
    effective inventory limit. Returns (env, params)."""
    env = MarketMakingEnv(EnvConfig(mid_noise="binary", objectives=("pnl",), negative_depth=negative_depth))
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
    spread = np.nanmean(np.asarray(traj.info.ask_price - traj.info.bid_price, np.float64), axis=-1)  # per run
    return [summarise(spread[i], profit[i], final_q[i]) for i in range(profit.shape[0])]


def summarise(spread, profit, final_q) -> dict[str, float]:
    """The paper's statistics of the runs (per-run average spread, profit, final inventory) with their
    Monte-Carlo standard errors: std / sqrt(n) for a mean; for a std s the delta method
    sqrt((m4 - s^4) / n) / (2 s) with m4 the sample's fourth central moment (heavy tails widen it)."""
    n = len(profit)

    def std_error(x):
        s = x.std(ddof=1)
        return float(np.sqrt(max(np.mean((x - x.mean()) ** 4) - s**4, 0.0) / n) / (2 * s)) if s > 0 else 0.0

    stats = {
        "spread": float(spread.mean()),
        "profit_mean": float(profit.mean()),
        "profit_std": float(profit.std(ddof=1)),
        "q_mean": float(final_q.mean()),
        "q_std": float(final_q.std(ddof=1)),
    }
    stats.update(
        spread_se=float(spread.std(ddof=1) / math.sqrt(n)),
        profit_mean_se=stats["profit_std"] / math.sqrt(n),
        profit_std_se=std_error(profit),
        q_mean_se=stats["q_std"] / math.sqrt(n),
        q_std_se=std_error(final_q),
    )
    return stats


def paper_errors(gamma: str, strategy: str) -> dict[str, float]:
    """Standard errors of the paper's own figures (its 1000 runs, from its reported stds; normal-theory
    for a std, s / sqrt(2 (n - 1)), as its tails are unknown), plus half a unit of its last printed
    digit (its rounding, as a uniform error: half-width / sqrt(3))."""
    spread, _, profit_std, _, q_std = PAPER_TABLES[gamma][strategy]
    n = PAPER_SIMULATIONS
    rounding = {"spread": 0.005, "profit_mean": 0.05, "profit_std": 0.05, "q_mean": 0.005, "q_std": 0.05}
    sampling = {
        "spread": 0.0,
        "profit_mean": profit_std / math.sqrt(n),
        "profit_std": profit_std / math.sqrt(2 * (n - 1)),
        "q_mean": q_std / math.sqrt(n),
        "q_std": q_std / math.sqrt(2 * (n - 1)),
    }
    return {k: math.hypot(sampling[k], rounding[k] / math.sqrt(3)) for k in STATISTICS}


def z_scores(results) -> dict[str, dict[str, dict[str, float]]]:
    """(ours - paper) / sqrt(se_ours^2 + se_paper^2) for every figure of the paper's tables."""
    out = {}
    for gamma, by_strategy in results.items():
        out[gamma] = {}
        for strategy, ours in by_strategy.items():
            paper, paper_se = dict(zip(STATISTICS, PAPER_TABLES[gamma][strategy])), paper_errors(gamma, strategy)
            out[gamma][strategy] = {
                k: (ours[k] - paper[k]) / math.hypot(ours[k + "_se"], paper_se[k]) for k in STATISTICS
            }
    return out


def run_study(
    simulations: int = 1000, seed: int = 0, gammas=GAMMAS, time_term: bool = True, negative_depth: bool = True
) -> dict[str, dict[str, dict[str, float]]]:
    """The paper's tables: per gamma, statistics of the inventory and the symmetric strategy."""
    if int(simulations) < 2:
        raise ValueError(f"--simulations: need at least 2, got {simulations}")
    env, params = paper_env(negative_depth)
    keys = jax.random.split(jax.random.key(int(seed)), int(simulations))
    quoter = AvellanedaStoikov if time_term else SpreadWithoutTimeTerm
    quoters = [quoter(env, params, gamma=gamma) for gamma in gammas]
    inventory = simulate(env, params, quoters[0], stack_params([q.params for q in quoters]), keys)
    symmetric_quoters = [FixedSpread(env, half_spread=stats["spread"] / 2) for stats in inventory]
    symmetric = simulate(env, params, symmetric_quoters[0], stack_params([q.params for q in symmetric_quoters]), keys)
    return {f"{gamma:g}": {"inventory": inv, "symmetric": sym} for gamma, inv, sym in zip(gammas, inventory, symmetric)}


def format_table(results) -> str:
    """Paper / ours (our standard error) for every figure, one row per gamma and strategy."""
    header = (
        f"{'gamma':>5} {'strategy':>9}  "
        + "  ".join(f"{name:>20}" for name in STATISTICS)
        + "\n"
        + " " * 17
        + "  ".join(f"{'paper / ours (se)':>20}" for _ in STATISTICS)
    )
    lines = [header, "-" * (17 + 22 * len(STATISTICS))]
    for gamma, by_strategy in results.items():
        for name in STRATEGIES:
            r, paper = by_strategy[name], PAPER_TABLES.get(gamma, {}).get(name)
            cells = [
                f"{'' if paper is None else f'{p:g} / '}{r[k]:.2f} ({r[k + '_se']:.2f})"
                for k, p in zip(STATISTICS, paper or [None] * len(STATISTICS))
            ]
            lines.append(f"{gamma:>5} {name:>9}  " + "  ".join(f"{c:>20}" for c in cells))
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulations", type=int, default=1000, help="simulated paths per strategy (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed (default 0)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument(
        "--no-time-term",
        action="store_true",
        help="inventory strategy's spread without the gamma sigma^2 (T - t) term (not the paper's)",
    )
    parser.add_argument(
        "--clip-at-mid",
        action="store_true",
        help="quotes clipped at the mid (no negative depths): the earlier reproduction",
    )
    args = parser.parse_args(argv)
    try:
        results = run_study(
            args.simulations, args.seed, time_term=not args.no_time_term, negative_depth=not args.clip_at_mid
        )
    except ValueError as err:
        parser.error(str(err))
    print(json.dumps(results) if args.json else format_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
