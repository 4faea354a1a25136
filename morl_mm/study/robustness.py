"""Robustness of a study's fronts over a set of scenarios: per-scenario fronts, the worst case, degradation.

A *row* is a front a principal could deploy: the oracle's CCS policies, each learner (each training
seed of a learner trained with several), each classical strategy. Utilities are the project's
``w . (J / scales)`` of mean objective values (:func:`morl_mm.pareto.indicators.utilities`) at the
study's EUM weights (the Das-Dennis lattice of 10 divisions: 66 weights for 3 objectives):

* on a scenario: the mean over weights of the utility there of the policy chosen *on the base model*
  at each weight (the row's deployed policy; on the base model this is its EUM);
* worst case over the set: at each weight, each policy's worst utility over the set's scenarios, and
  the row's best policy by that worst utility (the max-min choice); ``base_choice_utility`` is the
  worst utility of the base model's choice instead (what not hedging costs);
* hypervolume of the row's mean values on each scenario, and of its worst-case front: each policy's
  per-objective worst mean value over the set (a vector dominated by the policy's vector on every
  scenario of the set, so the worst-case hypervolume is at most the smallest one of the set), all at
  one reference point
  (:func:`morl_mm.pareto.indicators.hv_reference_point` of the oracle's and classical policies' values
  on the base model and every scenario of the set; of every policy where the study has neither);
  ``hv_ratio`` is a row's hypervolume on a scenario over its own on the base model.

:func:`robustness_table` returns one JSON-ready dict (its shape: :data:`JSON_SHAPE`); the values come
from the study's ``study.nc`` through :func:`morl_mm.study.result.study_pareto_set`.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from morl_mm.pareto import indicators as ind
from morl_mm.study.dataset import EUM_WEIGHT_DIVISIONS
from morl_mm.study.result import study_pareto_set

ALL_SCENARIOS = "all"
JSON_SHAPE = (
    '{"study", "set", "scenarios": [names], "objectives", "scales", "n_weights", "reference_point", '
    '"rows": [{"name", "kind", "policies", "base": {"utility", "hv"}, "scenarios": {name: {"utility", '
    '"utility_drop", "hv", "hv_ratio"}}, "worst_case": {"utility", "utility_drop", "base_choice_utility", '
    '"hv", "hv_ratio", "worst_scenarios": {name: weights}}}]}'
)
"""The keys of :func:`robustness_table` (``morl-mm robustness --json``); null where a value is undefined."""


def scenario_sets(ds: xr.Dataset) -> dict[str, list[str]]:
    """The study's named scenario sets (``[scenario_sets]``), and ``"all"``: every scenario of the study."""
    raw = ds.attrs.get("scenario_sets", "{}")
    sets = json.loads(raw) if isinstance(raw, (str, bytes)) else dict(raw)
    return {ALL_SCENARIOS: [str(s) for s in ds.scenario.values], **{k: list(v) for k, v in sets.items()}}


def policy_rows(ds: xr.Dataset) -> list[tuple[str, str, np.ndarray]]:
    """``(name, kind, policy indices)`` of every row, in the dataset's policy order."""
    labels = [str(p) for p in ds.policy.values]
    kinds = np.array([str(k) for k in ds["kind"].values])
    seeds = ds["train_seed"].values if "train_seed" in ds.coords else np.full(len(kinds), -1)
    rows = []
    for kind in dict.fromkeys(kinds):
        members = np.flatnonzero(kinds == kind)
        if kind == "classical":
            rows += [(labels[i], kind, np.array([i])) for i in members]
            continue
        kind_seeds = list(dict.fromkeys(seeds[members]))
        if len(kind_seeds) > 1:
            rows += [(f"{kind}_s{s}", kind, members[seeds[members] == s]) for s in kind_seeds]
        else:
            rows.append((kind, kind, members))
    return rows


def _number(value) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _ratio(num, den) -> float | None:
    return None if num is None or den is None or den <= 0 else float(num / den)


def _hypervolume(points: np.ndarray, ref: np.ndarray) -> float | None:
    points = points[np.all(np.isfinite(points), axis=1)]
    return ind.hypervolume(points, ref) if len(points) else None


def _utilities(values: np.ndarray, weights: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """``(weights, policies)`` utilities of mean values, NaN for a policy with a NaN value."""
    missing = np.isnan(values).any(axis=1)
    return np.where(missing[None], np.nan, ind.utilities(np.where(missing[:, None], 0.0, values), weights, scales))


def robustness_table(ds: xr.Dataset, set_name: str | None = None) -> dict:
    """The robustness table of a study over scenario set ``set_name`` (default: every scenario); see the
    module docstring and :data:`JSON_SHAPE`. ``ValueError`` naming the known sets for an unknown one."""
    sets = scenario_sets(ds)
    name = ALL_SCENARIOS if set_name is None else str(set_name)
    if name not in sets:
        raise ValueError(f"unknown scenario set {name!r}; the study has {sorted(sets)}")
    members = sets[name]
    base = study_pareto_set(ds, "base")
    scales = base.scales
    weights = ind.simplex_weights(len(base.objectives), EUM_WEIGHT_DIVISIONS)
    # a scenario's values may be NaN where a policy could not run there (a morl-baselines policy under shifts)
    values = {
        s: ds["value"].sel(scenario=s).transpose("policy", "objective").values.astype(np.float64)
        for s in ["base"] + [m for m in members if m != "base"]
    }
    utility = {s: _utilities(v, weights, scales) for s, v in values.items()}  # (weights, policies)
    kinds = np.asarray(base.kinds)
    anchors = (kinds == "oracle") | (kinds == "classical")
    anchors = anchors if anchors.any() else np.ones(len(kinds), bool)
    ref = ind.hv_reference_point(*[v[anchors & np.all(np.isfinite(v), axis=1)] for v in values.values()])
    rows = []
    for row_name, kind, idx in policy_rows(ds):
        rows.append(_row(row_name, kind, idx, members, values, utility, weights, ref))
    return {
        "study": ds.attrs.get("name", ""),
        "set": name,
        "scenarios": members,
        "objectives": list(base.objectives),
        "scales": scales.tolist(),
        "n_weights": len(weights),
        "reference_point": ref.tolist(),
        "rows": rows,
    }


def worst_values(values: dict[str, np.ndarray], members) -> np.ndarray:
    """``(policies, objectives)``: each policy's worst mean value of each objective over the scenarios
    ``members`` (NaN values skipped; NaN where a policy has none)."""
    stacked = np.stack([values[s] for s in members])
    known = np.isfinite(stacked)
    return np.where(known.any(axis=0), np.where(known, stacked, np.inf).min(axis=0), np.nan)


def _row(name, kind, idx, members, values, utility, weights, ref) -> dict:
    """One row of :func:`robustness_table` (policies ``idx``)."""
    steps = np.arange(len(weights))
    local = np.argmax(np.nan_to_num(utility["base"][:, idx], nan=-np.inf), axis=1)  # the base model's choice
    chosen = idx[local]
    base_utility = float(np.mean(utility["base"][steps, chosen]))
    base_hv = _hypervolume(values["base"][idx], ref)
    per_scenario = {}
    for s in members:
        if s == "base":
            continue
        u = utility[s][steps, chosen]
        mean = _number(np.mean(u)) if np.all(np.isfinite(u)) else None
        hv = _hypervolume(values[s][idx], ref)
        per_scenario[s] = {
            "utility": mean,
            "utility_drop": None if mean is None else base_utility - mean,
            "hv": hv,
            "hv_ratio": _ratio(hv, base_hv),
        }
    stacked = np.stack([utility[s][:, idx] for s in members])  # (scenario, weight, policy)
    known = np.isfinite(stacked)
    masked = np.where(known, stacked, np.inf)  # a policy that could not run in a scenario: not its worst there
    worst = np.where(known.any(axis=0), masked.min(axis=0), -np.inf)  # each policy's worst utility over the set
    robust = np.argmax(worst, axis=1)  # the max-min choice at each weight (index into idx)
    worst_scenario = np.argmin(masked[:, steps, robust], axis=0)
    robust_utility = _number(np.mean(worst[steps, robust]))
    base_choice = masked[:, steps, local].min(axis=0)
    worst_hv = _hypervolume(worst_values(values, members)[idx], ref)
    counts = np.bincount(worst_scenario, minlength=len(members))
    return {
        "name": name,
        "kind": kind,
        "policies": int(len(idx)),
        "base": {"utility": base_utility, "hv": base_hv},
        "scenarios": per_scenario,
        "worst_case": {
            "utility": robust_utility,
            "utility_drop": None if robust_utility is None else base_utility - robust_utility,
            "base_choice_utility": _number(np.mean(base_choice)),
            "hv": worst_hv,
            "hv_ratio": _ratio(worst_hv, base_hv),
            "worst_scenarios": {s: int(c) for s, c in zip(members, counts) if c},
        },
    }


def markdown_tables(table: dict) -> str:
    """The degradation table as GitHub markdown: utility (drop from the base model) per scenario and in the
    worst case, then the hypervolume ratios to the base model."""
    scenarios = [s for s in table["scenarios"] if s != "base"]
    head = "| front | policies | base | " + " | ".join(scenarios) + " | worst case | base choice, worst |"
    rule = "|---|---:|---:|" + "---:|" * (len(scenarios) + 2)

    def cell(entry, key="utility"):
        value = entry.get(key)
        if value is None:
            return "-"
        drop = entry.get("utility_drop") if key == "utility" else None
        return f"{value:.3f}" + ("" if drop is None else f" ({-drop:+.3f})")

    lines = [
        f"Utility w . (J / scales), mean over {table['n_weights']} weights, of the base model's choice "
        f"(worst case: the max-min choice); in brackets the change from the base model. Set "
        f"'{table['set']}': {', '.join(table['scenarios'])}",
        "",
        head,
        rule,
    ]
    for row in table["rows"]:
        worst = row["worst_case"]
        lines.append(
            f"| {row['name']} | {row['policies']} | {row['base']['utility']:.3f} | "
            + " | ".join(cell(row["scenarios"][s]) for s in scenarios)
            + f" | {cell(worst)} | {cell(worst, 'base_choice_utility')} |"
        )
    lines += [
        "",
        "Hypervolume ratio to the base model (one reference point for every scenario)",
        "",
        "| front | base HV | " + " | ".join(scenarios) + " | worst case |",
        "|---|---:|" + "---:|" * (len(scenarios) + 1),
    ]
    for row in table["rows"]:
        hv = row["base"]["hv"]
        lines.append(
            f"| {row['name']} | {'-' if hv is None else f'{hv:.4g}'} | "
            + " | ".join(cell(row["scenarios"][s], "hv_ratio") for s in scenarios)
            + f" | {cell(row['worst_case'], 'hv_ratio')} |"
        )
    return "\n".join(lines)
