"""Backtests on a recorded market: policies replayed over consecutive windows of a capture.

:func:`backtest` runs each policy on :class:`~morl_mm.env.replay.ReplayEnv` over every valid,
non-overlapping window of ``horizon`` seconds (the policy's own model sets ``dt``, the horizon,
the inventory limit, the order size, latency and fees), and returns one labelled Dataset: the
windows' objective vectors, their means and 95% Student-t half-widths, and the market-making
metrics of :mod:`morl_mm.evaluation.metrics` (realized spread, slippage, Sharpe ratios, inventory
moments, fills). The windows are consecutive stretches of one market, so the intervals assume
them independent: with W windows they are about 1/sqrt(W) of the spread across windows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
import xarray as xr

from morl_mm.data.capture import Capture
from morl_mm.data.tape import build_tape, replay_params
from morl_mm.env.objectives import UNITS
from morl_mm.env.params import EnvParams, episode_steps
from morl_mm.env.replay import ReplayEnv, window_starts
from morl_mm.evaluation.dataset import mean_and_ci, metrics_dataset
from morl_mm.evaluation.rollouts import evaluate_replay

METRICS = (
    "pnl_sharpe",
    "step_sharpe",
    "max_drawdown_mean",
    "realized_spread_mean",
    "inventory_mean",
    "inventory_std",
    "inventory_skewness",
)
EPISODE_MEANS = ("slippage", "effective_spread", "price_impact")  # mean over the windows that traded
PER_SIDE = ("fills", "fill_rate", "quoting_ratio")  # mean over windows, per side


def on_venue_ticks(env_params: EnvParams, tick_size: float) -> EnvParams:
    """The model on the venue's price grid: a model without ticks (``tick_size = 0``) gets the venue's."""
    if not float(env_params.tick_size) > 0:
        return env_params.replace(tick_size=float(tick_size))
    return env_params


class Replay:
    """A capture on one model's step grid: the tape, its windows and the replay env, built once and
    shared by every policy of that model.

    Quotes go on the venue's price grid: a model without ticks (``tick_size = 0``, as the exact oracle
    needs) is replayed with the capture's tick size (depths rounded away from the mid)."""

    def __init__(
        self,
        capture: Capture,
        env_config,
        env_params: EnvParams,
        fill_model: str = "queue",
        start_ns: int | None = None,
        end_ns: int | None = None,
    ):
        self.env = ReplayEnv(env_config, fill_model=fill_model)
        self.env_params = env_params = on_venue_ticks(env_params, capture.tick_size)
        self.tape, self.info = build_tape(capture, float(env_params.dt), start_ns=start_ns, end_ns=end_ns)
        self.steps = episode_steps(env_params)
        self.starts = window_starts(self.tape, self.steps)
        if self.starts.size == 0:
            raise ValueError(
                f"{capture.source}: no valid replay window of {float(env_params.horizon):g} s "
                f"({self.steps} steps of {float(env_params.dt):g} s) in {self.info.steps} steps of data"
            )
        self.params = replay_params(self.tape, env_params)

    @property
    def windows(self) -> int:
        return int(self.starts.size)

    def run(self, policy: Any, policy_params: Any = None, seed: int = 0):
        """The policy's trajectories over every window, leading axes ``(windows, steps)``."""
        return evaluate_replay(self.env, self.params, policy, jax.random.key(seed), self.starts, policy_params)

    def metrics_params(self) -> EnvParams:
        """The params the market-making metrics read (replayed episodes start at mid 0, flat)."""
        return self.env_params.replace(mid0=0.0, initial_inventory=0.0)


def backtest(
    policies: Sequence[tuple[str, str, Any]],
    capture: Capture,
    *,
    fill_model: str = "queue",
    start_ns: int | None = None,
    end_ns: int | None = None,
    seed: int = 0,
) -> xr.Dataset:
    """Backtest ``(label, kind, LoadedPolicy)`` triples on ``capture``; see the module docstring."""
    if not policies:
        raise ValueError("backtest: no policy to run")
    replays: dict[tuple, Replay] = {}  # one tape per model: policies of one study share it
    returns, summaries, per_side = [], [], []
    objectives = None
    for label, _kind, loaded in policies:
        key = (loaded.env.config, str(loaded.env_params))
        if key not in replays:
            replays[key] = Replay(capture, loaded.env.config, loaded.env_params, fill_model, start_ns, end_ns)
        replay = replays[key]
        if objectives is None:
            objectives = list(loaded.env.objectives)
        elif list(loaded.env.objectives) != objectives:
            raise ValueError(
                f"backtest: policy {label!r} has objectives {list(loaded.env.objectives)}, not {objectives}"
            )
        traj = replay.run(loaded.policy, seed=seed)
        returns.append(np.asarray(traj.reward, np.float64).sum(axis=1))
        m = metrics_dataset(traj, replay.metrics_params(), objectives, [label])
        summaries.append(m[list(METRICS)].isel(policy=0))
        per_side.append({name: m[name].isel(policy=0).mean("episode").values for name in EPISODE_MEANS + PER_SIDE})
    windows = {r.windows for r in replays.values()}
    if len(windows) != 1:
        raise ValueError(f"backtest: the policies' models cut the data into different numbers of windows {windows}")
    stacked = xr.DataArray(np.stack(returns), dims=("policy", "sample", "objective"))  # samples: the windows
    value, half = mean_and_ci(stacked)
    n = stacked.sizes["sample"]
    replay = next(iter(replays.values()))
    ds = xr.Dataset(
        {
            "returns": (("policy", "window", "objective"), stacked.values),
            "value": (("policy", "objective"), value.values),
            "ci": (("policy", "objective"), half.values),
            **{
                name: (("policy",), np.array([float(s[name]) for s in summaries]), summaries[0][name].attrs)
                for name in METRICS
            },
            **{name: (("policy",), np.array([float(p[name]) for p in per_side])) for name in EPISODE_MEANS},
            **{name: (("policy", "side"), np.stack([p[name] for p in per_side])) for name in PER_SIDE},
        },
        coords={
            "policy": [p[0] for p in policies],
            "kind": ("policy", [p[1] for p in policies]),
            "objective": objectives,
            "side": ["bid", "ask"],
            "window": np.arange(n),
            "objective_units": ("objective", [UNITS[o] for o in objectives]),
        },
        attrs={
            "data": capture.source,
            "venue": capture.venue,
            "instrument": capture.instrument,
            "fill_model": fill_model,
            "windows": n,
            "dt": float(replay.env_params.dt),
            "horizon": float(replay.env_params.horizon),
            "replay_seconds": replay.info.steps * replay.info.dt,
            "valid_fraction": replay.info.valid_fraction,
            "reference_price": replay.info.reference_price,
        },
    )
    return ds


def backtest_json(ds: xr.Dataset) -> dict:
    """The ``morl-mm backtest --json`` object (a stable shape: other tools read it)."""
    objectives = [str(o) for o in ds.objective.values]
    policies = []
    for i, label in enumerate(ds.policy.values):
        row = ds.isel(policy=i)
        metrics = {name: finite_or_none(row[name].values) for name in METRICS}
        metrics.update({name: finite_or_none(row[name].values) for name in EPISODE_MEANS})
        for name in PER_SIDE:
            for side, value in zip(("bid", "ask"), row[name].values):
                metrics[f"{name}_{side}"] = finite_or_none(value)
        policies.append(
            {
                "label": str(label),
                "kind": str(row["kind"].values),
                "objectives": {o: finite_or_none(v) for o, v in zip(objectives, row["value"].values)},
                "ci": {o: finite_or_none(v) for o, v in zip(objectives, row["ci"].values)},
                "metrics": metrics,
            }
        )
    keys = ("data", "venue", "instrument", "fill_model", "windows", "dt", "horizon", "replay_seconds", "valid_fraction")
    return {**{k: ds.attrs[k] for k in keys}, "objectives": objectives, "policies": policies}


def finite_or_none(value) -> float | None:
    """``value`` as a float, None where it is not finite (JSON has no NaN)."""
    value = float(value)
    return value if np.isfinite(value) else None
