"""Evaluation: rollouts of any policy on any scenario and the market-making metrics, as xarray."""

from morl_mm.evaluation.dataset import metrics_dataset
from morl_mm.evaluation.metrics import (
    DEFAULT_MARKOUT_STEPS,
    QUANTILES,
    SIDES,
    EpisodeMetrics,
    batch_metrics,
    episode_metrics,
    inventory_grid,
    inventory_histogram,
    inventory_moments,
    max_drawdown,
    pnl_quantiles,
    pnl_sharpe,
    step_sharpe,
    wealth_path,
)
from morl_mm.evaluation.rollouts import evaluate_policy, scenario, scenario_count, stack_scenarios

__all__ = [
    "metrics_dataset",
    "DEFAULT_MARKOUT_STEPS",
    "QUANTILES",
    "SIDES",
    "EpisodeMetrics",
    "batch_metrics",
    "episode_metrics",
    "inventory_grid",
    "inventory_histogram",
    "inventory_moments",
    "max_drawdown",
    "pnl_quantiles",
    "pnl_sharpe",
    "step_sharpe",
    "wealth_path",
    "evaluate_policy",
    "scenario",
    "scenario_count",
    "stack_scenarios",
]
