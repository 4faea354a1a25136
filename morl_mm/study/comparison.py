"""The learner comparison table of a study: front quality, budget and time per learner, over seeds.

One row per learner (``[learners.<name>]`` of the config): its group and algorithm, the number of
training seeds, mean env steps and training seconds per seed, and the mean (and sample std over
seeds) of HV ratio, EUM ratio and IGD against the exact CCS (see :func:`morl_mm.study.dataset.front_indicators`).
"""

from __future__ import annotations

import json

import xarray as xr

COLUMNS = (
    "group",
    "algorithm",
    "n_seeds",
    "env_steps",
    "train_seconds",
    "hv_ratio",
    "hv_ratio_std",
    "eum_ratio",
    "eum_ratio_std",
    "igd",
    "igd_std",
)


def learner_table(ds: xr.Dataset) -> dict[str, dict]:
    """``{learner: {column: value}}`` in config order (columns: :data:`COLUMNS`; None where unknown)."""
    indicators = json.loads(ds.attrs.get("indicators", "{}"))
    units = json.loads(ds.attrs.get("units_info", "{}"))
    table = {}
    for unit, info in units.items():
        if not unit.startswith("learner:"):
            continue
        name = unit.split(":", 1)[1]
        values = indicators.get(name, {})
        row = {
            "group": info.get("group", ""),
            "algorithm": info.get("algorithm", name),
            "n_seeds": values.get("n_seeds", len(info.get("seed_runs", [])) or 1),
        }
        row.update({key: values.get(key) for key in COLUMNS if key not in row})
        if row["env_steps"] is None:  # a study written before per-seed runs were recorded
            row["env_steps"], row["train_seconds"] = info.get("env_steps"), info.get("train_seconds")
        table[name] = row
    return table


def _mean_std(row: dict, key: str, digits: int) -> str:
    mean, std = row.get(key), row.get(f"{key}_std")
    if mean is None:
        return "-"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if std is not None else f"{mean:.{digits}f}"


def markdown_table(table: dict[str, dict]) -> str:
    """The table as GitHub markdown (means ± std over seeds)."""
    lines = [
        "| learner | group | algorithm | seeds | env steps | train s | HV ratio | EUM ratio | IGD |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in table.items():
        steps = "-" if row["env_steps"] is None else f"{row['env_steps']:,.0f}"
        seconds = "-" if row["train_seconds"] is None else f"{row['train_seconds']:.0f}"
        lines.append(
            f"| {name} | {row['group']} | {row['algorithm']} | {row['n_seeds']} | {steps} | {seconds} | "
            f"{_mean_std(row, 'hv_ratio', 3)} | {_mean_std(row, 'eum_ratio', 3)} | {_mean_std(row, 'igd', 3)} |"
        )
    return "\n".join(lines)
