"""Evaluation results as one labelled :class:`xarray.Dataset` that a study can merge with others.

Dims: ``policy``, ``scenario`` (only for a scenario batch), ``episode``, ``objective``, ``side``
(bid, ask), ``quantile`` and ``inventory_bin``. Every variable carries ``units`` and
``long_name``; per-episode variables have the ``episode`` dim, the across-episode summaries do
not. Definitions are those of :mod:`morl_mm.evaluation.metrics`.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np
import xarray as xr
from scipy import stats

from morl_mm.env.objectives import UNITS as OBJECTIVE_UNITS
from morl_mm.env.params import EnvParams
from morl_mm.env.rollout import Trajectory
from morl_mm.evaluation import metrics as mm
from morl_mm.evaluation.rollouts import scenario, scenario_count

PRICE = "price units"

# per-episode variables: EpisodeMetrics field -> (units, long name)
EPISODE_VARIABLES = {
    "objective_value": ("see the objective_units coordinate", "episode sum of each objective"),
    "pnl": (PRICE, "episode PnL: final minus initial mark-to-market wealth"),
    "final_inventory": ("units", "inventory at the end of the episode"),
    "mean_abs_inventory": ("units", "time average of the absolute inventory"),
    "max_drawdown": (PRICE, "largest fall of the wealth path from its running maximum"),
    "fills": ("fills", "number of fill events per side"),
    "traded_units": ("units", "units bought on the bid / sold on the ask"),
    "fill_rate": ("fills per unit time", "fill events per unit of model time, per side"),
    "quoting_ratio": ("fraction of steps", "fraction of steps quoted within competitive_distance, per side"),
    "realized_spread": (PRICE + " per unit traded", "realized spread 2 s (P - M_{t+h}), volume-weighted"),
    "effective_spread": (PRICE + " per unit traded", "effective spread 2 s (P - M_t), volume-weighted"),
    "price_impact": (PRICE + " per unit traded", "adverse selection: effective minus realized spread"),
    "slippage": (PRICE + " per unit traded", "fill price against the decision-time price under latency (+ = cost)"),
    "liquidation_cost": (PRICE, "terminal liquidation penalty alpha q_T^2"),
    "invalid_actions": ("steps", "steps whose action was invalid (non-finite or out of range, see check_action)"),
}

# across-episode summaries: name -> (dims beyond policy/scenario, units, long name)
SUMMARY_VARIABLES = {
    "objective_mean": (("objective",), "see the objective_units coordinate", "mean episode sum of each objective"),
    "pnl_mean": ((), PRICE, "mean episode PnL"),
    "pnl_sharpe": ((), "1", "Sharpe ratio of episode PnL across episodes (mean / std, ddof 1)"),
    "step_sharpe": ((), "1 / sqrt(time unit)", "per-step PnL Sharpe ratio pooled over steps, times sqrt(1 / dt)"),
    "pnl_quantile": (("quantile",), PRICE, "quantiles of the episode PnL distribution"),
    "max_drawdown_mean": ((), PRICE, "mean over episodes of the maximum drawdown"),
    "realized_spread_mean": ((), PRICE + " per unit traded", "realized spread over all fills of all episodes"),
    "inventory_mean": ((), "units", "mean of the inventory over all steps"),
    "inventory_std": ((), "units", "standard deviation of the inventory over all steps"),
    "inventory_skewness": ((), "1", "skewness of the inventory over all steps"),
    "inventory_histogram": (("inventory_bin",), "fraction of steps", "time spent at each inventory level"),
}


def _summaries(traj: Trajectory, metrics: dict, params: EnvParams, grid, quantiles) -> dict:
    """Across-episode summaries of one (policy, scenario) group; arrays have the episode axis first."""
    wealth = np.asarray(jax.vmap(mm.wealth_path, in_axes=(0, None))(traj.info, params), np.float64)
    inventory = np.asarray(traj.info.inventory)
    moments = mm.inventory_moments(inventory)
    return {
        "objective_mean": metrics["objective_value"].mean(axis=0),
        "pnl_mean": metrics["pnl"].mean(),
        "pnl_sharpe": mm.pnl_sharpe(metrics["pnl"]),
        "step_sharpe": mm.step_sharpe(np.diff(wealth, axis=-1), float(params.dt)),
        "pnl_quantile": mm.pnl_quantiles(metrics["pnl"], quantiles),
        "max_drawdown_mean": metrics["max_drawdown"].mean(),
        "realized_spread_mean": mm.pooled_spread(metrics["realized_spread"], metrics["traded_units"].sum(axis=-1)),
        "inventory_mean": moments[0],
        "inventory_std": moments[1],
        "inventory_skewness": moments[2],
        "inventory_histogram": mm.inventory_histogram(inventory, grid),
    }


def _as_policy_list(trajectories, policy_labels):
    if isinstance(trajectories, Trajectory):
        trajectories = [trajectories]
    trajectories = list(trajectories)
    if not trajectories or not all(isinstance(t, Trajectory) for t in trajectories):
        raise ValueError("metrics_dataset: trajectories must be a Trajectory or a non-empty list (one per policy)")
    labels = _labels("policy", len(trajectories), policy_labels)
    return trajectories, labels


def _labels(dim: str, count: int, labels) -> list[str]:
    labels = [f"{dim}_{i}" for i in range(count)] if labels is None else [str(x) for x in labels]
    if len(labels) != count or len(set(labels)) != count:
        raise ValueError(f"metrics_dataset: need {count} distinct {dim} labels, got {labels}")
    return labels


def metrics_dataset(
    trajectories: Trajectory | Sequence[Trajectory],
    params: EnvParams,
    objectives: Sequence[str],
    policy_labels: Sequence[str] | None = None,
    scenario_labels: Sequence[str] | None = None,
    markout_steps: int = mm.DEFAULT_MARKOUT_STEPS,
    quantiles: Sequence[float] = mm.QUANTILES,
    objective_scales: Sequence[float] | None = None,
) -> xr.Dataset:
    """Per-episode metrics and their summaries for one or several policies as an xarray Dataset.

    Args:
        trajectories: one :class:`Trajectory` batch per policy (as :func:`evaluate_policy` returns
            them: ``(episodes, T)``, or ``(S, episodes, T)`` when ``params`` is a batch of S
            scenarios); every policy needs the same number of episodes.
        params: the :class:`EnvParams` (or scenario batch) the trajectories ran under.
        objectives: the env's objective names (``env.objectives``), labelling the reward columns.
        policy_labels, scenario_labels: coordinate labels (default ``policy_i`` / ``scenario_i``).
        markout_steps: mark-out horizon h of the realized spread, in steps.
        quantiles: probabilities of the PnL quantiles, in [0, 1].
        objective_scales: the normalisation scales of the objectives (``reference_scales``), stored
            as ``objective_scale`` so that weights applied later mean the same thing.

    Returns:
        A Dataset with dims ``policy``, [``scenario``,] ``episode``, ``objective``, ``side``,
        ``quantile``, ``inventory_bin`` and the variables of ``EPISODE_VARIABLES`` and
        ``SUMMARY_VARIABLES``, each with ``units`` and ``long_name`` attrs.
    """
    trajectories, labels = _as_policy_list(trajectories, policy_labels)
    objectives = [str(o) for o in objectives]
    quantiles = np.asarray(quantiles, np.float64)
    if quantiles.ndim != 1 or not np.all(np.isfinite(quantiles)) or np.any((quantiles < 0) | (quantiles > 1)):
        raise ValueError(f"metrics_dataset: quantiles must be probabilities in [0, 1], got {quantiles.tolist()}")
    unknown = [o for o in objectives if o not in OBJECTIVE_UNITS]
    if unknown:
        raise ValueError(f"metrics_dataset: unknown objective(s) {unknown}")
    for t in trajectories:
        if t.reward.shape[-1] != len(objectives):
            raise ValueError(f"metrics_dataset: rewards have {t.reward.shape[-1]} columns, objectives {objectives}")
    count = scenario_count(params)
    if count is None:
        groups = [params]
        scenario_dims = []
    else:
        groups = [scenario(params, i) for i in range(count)]
        scenario_labels = _labels("scenario", count, scenario_labels)
        scenario_dims = ["scenario"]
    grid = mm.inventory_grid(params)

    episode_rows, summary_rows = [], []
    for traj in trajectories:
        computed = mm.batch_metrics(traj, params, markout_steps)._asdict()
        per_episode = {k: np.asarray(v, np.float64) for k, v in computed.items()}
        per_group = (
            [(traj, per_episode)]
            if count is None
            else [(scenario(traj, i), {k: v[i] for k, v in per_episode.items()}) for i in range(count)]
        )
        summary_rows.append([_summaries(tr, m, p, grid, quantiles) for (tr, m), p in zip(per_group, groups)])
        episode_rows.append(per_episode)
    episodes = {v["pnl"].shape[-1] for v in episode_rows}
    if len(episodes) != 1:
        raise ValueError(f"metrics_dataset: every policy needs the same number of episodes, got {sorted(episodes)}")

    lead = ["policy"] + scenario_dims
    trailing = {
        "objective_value": ["objective"],
        "fills": ["side"],
        "traded_units": ["side"],
        "fill_rate": ["side"],
        "quoting_ratio": ["side"],
    }
    data = {}
    for name, (units, long_name) in EPISODE_VARIABLES.items():
        values = np.stack([row[name] for row in episode_rows])
        data[name] = (lead + ["episode"] + trailing.get(name, []), values, {"units": units, "long_name": long_name})
    for name, (dims, units, long_name) in SUMMARY_VARIABLES.items():
        values = np.asarray([[group[name] for group in row] for row in summary_rows], np.float64)
        values = values if count is not None else values[:, 0]
        data[name] = (lead + list(dims), values, {"units": units, "long_name": long_name})

    coords = {
        "policy": labels,
        "episode": np.arange(episodes.pop()),
        "objective": objectives,
        "objective_units": ("objective", [OBJECTIVE_UNITS[o] for o in objectives]),
        "side": list(mm.SIDES),
        "quantile": quantiles,
        "inventory_bin": ("inventory_bin", grid, {"units": "units", "long_name": "inventory level (bin centre)"}),
    }
    if count is not None:
        coords["scenario"] = scenario_labels
    if objective_scales is not None:
        scales = np.asarray(objective_scales, np.float64)
        if scales.shape != (len(objectives),) or not np.all(np.isfinite(scales)) or np.any(scales <= 0):
            raise ValueError(
                f"metrics_dataset: objective_scales must be {len(objectives)} finite values > 0, got {scales.tolist()}"
            )
        data["objective_scale"] = (
            "objective",
            scales,
            {
                "units": "see the objective_units coordinate",
                "long_name": "normalisation scale: weights apply to J / scale",
            },
        )
    attrs = {
        "markout_steps": int(markout_steps),
        "dt": float(params.dt) if count is None else [float(p.dt) for p in groups],
        "n_steps": int(trajectories[0].reward.shape[-2]),
        "description": "market-making evaluation metrics; definitions in morl_mm.evaluation.metrics",
    }
    return xr.Dataset(data, coords=coords, attrs=attrs)


def mean_and_ci(returns: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """Mean over ``sample`` and the 95% Student-t confidence half-width, skipping NaN samples (the
    replay scenario has one sample per held-out window, padded with NaN to the simulated samples)."""
    n = returns.count("sample")
    mean = returns.mean("sample", skipna=True)
    t = xr.apply_ufunc(lambda k: stats.t.ppf(0.975, np.maximum(k - 1, 1)), n)
    half = (t * returns.std("sample", ddof=1, skipna=True) / np.sqrt(n)).where(n > 1)
    return mean, half
