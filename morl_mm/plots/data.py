"""Reading a study result Dataset for plots and the report (layout: /work/notes/DATASET.md, study.dataset).

Everything here is read-only access with clear errors at the boundary: an unknown scenario or
policy label raises ``ValueError`` naming the known ones. Attrs may arrive as Python objects or,
after a netCDF round trip, as JSON text / NumPy arrays; both are accepted.
"""

from __future__ import annotations

import difflib
import json
import textwrap
from typing import Any

import numpy as np
import xarray as xr

from morl_mm.pareto import indicators as ind

# Variables that are not per-policy market-making metrics even when their dims would fit.
NON_METRIC_VARIABLES = {"nondominated", "front_member", "value", "ci", "returns", "preference"}
MAX_LISTED = 12  # labels named in an error message


def json_attr(ds: xr.Dataset, name: str, default: Any = None) -> Any:
    """``ds.attrs[name]`` decoded from JSON when it is text, else as stored; ``default`` if absent."""
    if name not in ds.attrs:
        return default
    raw = ds.attrs[name]
    if isinstance(raw, (str, bytes)):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw.tolist() if isinstance(raw, np.ndarray) else raw


def objectives(ds: xr.Dataset) -> list[str]:
    """Objective names in the dataset's order."""
    if "objective" not in ds.coords:
        raise ValueError(f"study dataset has no 'objective' coordinate; coords: {list(ds.coords)}")
    return [str(o) for o in ds["objective"].values]


def units(ds: xr.Dataset) -> dict[str, str]:
    """Objective -> unit, from ``attrs["units"]`` (JSON dict, or a list in objective order); "" where unknown."""
    names = objectives(ds)
    raw = json_attr(ds, "units", {})
    if isinstance(raw, (list, tuple)) and len(raw) == len(names):
        raw = dict(zip(names, raw))
    if not isinstance(raw, dict):
        raw = {}
    return {o: str(raw.get(o, "")) for o in names}


def scales(ds: xr.Dataset) -> np.ndarray:
    """The normalisation scales (weights apply to ``value / scales``), validated."""
    if "scales" not in ds.attrs:
        raise ValueError("study dataset has no 'scales' attribute: weights would be meaningless")
    return ind.validate_scales(np.atleast_1d(json_attr(ds, "scales")), len(objectives(ds)))


def axis_label(ds: xr.Dataset, objective: str, width: int = 34) -> str:
    """``objective [unit]``, wrapped so that long units do not run past a panel."""
    unit = units(ds).get(objective, "")
    return textwrap.fill(f"{objective} [{unit}]" if unit else objective, width)


def check_scenario(ds: xr.Dataset, scenario: str) -> str:
    known = [str(s) for s in ds["scenario"].values] if "scenario" in ds.coords else []
    if str(scenario) not in known:
        raise ValueError(f"unknown scenario {scenario!r}; the study has scenarios {known}")
    return str(scenario)


def check_policy(ds: xr.Dataset, label: str) -> str:
    known = policy_labels(ds)
    if str(label) not in known:
        close = difflib.get_close_matches(str(label), known, n=3)
        listed = ", ".join(known[:MAX_LISTED]) + (f", ... ({len(known)} in all)" if len(known) > MAX_LISTED else "")
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown policy label {label!r}{hint} The study has policies: {listed}")
    return str(label)


def policy_labels(ds: xr.Dataset) -> list[str]:
    return [str(p) for p in ds["policy"].values]


def kinds(ds: xr.Dataset) -> np.ndarray:
    """Kind of each policy, as an array of str in policy order ("unknown" without a kind coord)."""
    if "kind" not in ds.coords:
        return np.array(["unknown"] * ds.sizes["policy"])
    return np.array([str(k) for k in ds["kind"].values])


def values(ds: xr.Dataset, scenario: str = "base") -> tuple[np.ndarray, np.ndarray | None]:
    """Mean objective vectors ``(n_policies, d)`` and CI half-widths (or None) in ``scenario``."""
    scenario = check_scenario(ds, scenario)
    if "value" not in ds:
        raise ValueError(f"study dataset has no 'value' variable; variables: {list(ds.data_vars)}")
    mean = ds["value"].sel(scenario=scenario).transpose("policy", "objective").values.astype(np.float64)
    ci = (
        ds["ci"].sel(scenario=scenario).transpose("policy", "objective").values.astype(np.float64)
        if "ci" in ds
        else None
    )
    return mean, ci


def front_members(ds: xr.Dataset, scenario: str = "base") -> np.ndarray:
    """Whether each policy is on its own kind's front: ``front_member`` if stored, else computed."""
    scenario = check_scenario(ds, scenario)
    if "front_member" in ds:
        return ds["front_member"].sel(scenario=scenario).values.astype(bool)
    mean, _ = values(ds, scenario)
    member = np.zeros(len(mean), dtype=bool)
    kind = kinds(ds)
    for k in dict.fromkeys(kind):
        rows = np.flatnonzero(kind == k)
        member[rows] = ind.nondominated_mask(mean[rows], keep_duplicates=True)
    return member


def preference_text(ds: xr.Dataset, label: str) -> str:
    """The policy's preference weight as "(0.33, 0.33, 0.33)", or "-" for rule-based policies."""
    if "preference" not in ds:
        return "-"
    weight = ds["preference"].sel(policy=label).transpose("objective").values.astype(np.float64)
    return "-" if np.all(np.isnan(weight)) else "(" + ", ".join(f"{w:.2f}" for w in weight) + ")"


def metric_variables(ds: xr.Dataset) -> list[str]:
    """Numeric per-policy market-making metrics: variables with a ``policy`` dim and otherwise at most ``scenario``."""
    names = []
    for name, var in ds.data_vars.items():
        dims = set(var.dims)
        if (
            name in NON_METRIC_VARIABLES
            or str(name).startswith("traj_")
            or "policy" not in dims
            or not dims <= {"policy", "scenario"}
            or not np.issubdtype(var.dtype, np.number)
        ):
            continue
        names.append(str(name))
    return names


def metric_values(ds: xr.Dataset, name: str, scenario: str = "base") -> np.ndarray:
    var = ds[name]
    if "scenario" in var.dims:
        var = var.sel(scenario=check_scenario(ds, scenario))
    return var.transpose("policy").values.astype(np.float64)


def front_indicators(ds: xr.Dataset) -> dict[str, dict[str, float]]:
    """Per-kind indicators from ``attrs["indicators"]`` (hv_ratio, eum_ratio, igd, ...), {} if absent."""
    raw = json_attr(ds, "indicators", {})
    return raw if isinstance(raw, dict) else {}


def default_selection(ds: xr.Dataset, scenario: str = "base") -> str:
    """The policy with the best equal-weight utility ``mean(value / scales)`` in ``scenario``."""
    mean, _ = values(ds, scenario)
    d = mean.shape[1]
    utility = ind.utilities(mean, np.full(d, 1.0 / d), scales(ds))
    return policy_labels(ds)[int(np.nanargmax(utility))]


def has_trajectories(ds: xr.Dataset, label: str | None = None) -> bool:
    """Whether the dataset stores sample episodes (of policy ``label``, if given: policies evaluated by
    morl-baselines' adapters have none)."""
    if not all(name in ds for name in ("traj_mid", "traj_inventory", "traj_wealth")):
        return False
    return label is None or bool(np.isfinite(ds["traj_mid"].sel(policy=label).values).any())
