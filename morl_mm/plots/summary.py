"""The report's summary of one selected policy, as data shared by the HTML and the PDF report.

How it was chosen (preference weights, constraints or a label), its objectives with 95% confidence
intervals and its market-making metrics, where it sits on the front, the classical strategy nearest
to it in risk and what it gives up or gains against that strategy, and its behaviour in every
scenario of the study (held-out scenarios and any replay alike: a scenario is just a name).

Selection goes through :class:`morl_mm.pareto.ParetoSet` built exactly as ``morl-mm select`` builds
it (:func:`morl_mm.study.result.study_pareto_set`), so the report and the CLI always agree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import xarray as xr

from morl_mm.env.objectives import COSTS
from morl_mm.pareto import indicators as ind
from morl_mm.plots import data
from morl_mm.study.result import study_pareto_set

RISK_OBJECTIVE = "inventory_risk"  # "nearest in risk" compares this objective


@dataclasses.dataclass(frozen=True)
class Criterion:
    """How the principal picks a policy: ``weights`` (on the simplex), or ``maximise`` subject to
    ``at_least`` / ``at_most`` bounds in raw units, or a ``label``; none of them: equal weights."""

    weights: tuple[float, ...] | None = None
    maximise: str = "pnl"
    at_least: Mapping[str, float] | None = None
    at_most: Mapping[str, float] | None = None
    label: str | None = None

    @property
    def by_constraints(self) -> bool:
        return bool(self.at_least or self.at_most)


@dataclasses.dataclass(frozen=True)
class Selection:
    label: str
    how: str  # one sentence
    weights: np.ndarray | None  # the weights it was chosen by (None for constraints or a label)
    criterion: Criterion


def bound_text(name: str, sense: str, bound: float) -> str:
    """``inventory risk magnitude <= 20`` for a cost's lower bound, else ``quoting_ratio >= 0.9``."""
    if name in COSTS and sense == ">=":
        return f"{name} magnitude <= {-bound:g}"
    return f"{name} {sense} {bound:g}"


def select(ds: xr.Dataset, scenario: str, criterion: Criterion | None = None) -> Selection:
    """The selected policy: by ``criterion`` with the rule of ``ParetoSet.select`` /
    ``select_by_constraints`` over every policy of ``scenario`` (what ``morl-mm select`` does)."""
    criterion = criterion or Criterion()
    scenario = data.check_scenario(ds, scenario)
    if criterion.label is not None:
        return Selection(data.check_policy(ds, criterion.label), "chosen by the principal", None, criterion)
    candidates = study_pareto_set(ds, scenario)
    if criterion.by_constraints:
        entry = candidates.select_by_constraints(criterion.maximise, criterion.at_least, criterion.at_most)
        bounds = [bound_text(k, ">=", v) for k, v in (criterion.at_least or {}).items()] + [
            bound_text(k, "<=", v) for k, v in (criterion.at_most or {}).items()
        ]
        how = f"by constraints: the largest {criterion.maximise} with {' and '.join(bounds)} in '{scenario}'"
        return Selection(entry.label, how, None, criterion)
    d = len(candidates.objectives)
    given = criterion.weights is not None
    weights = np.asarray(criterion.weights if given else np.full(d, 1.0 / d), np.float64)
    entry = candidates.select(weights)
    text = ", ".join(f"{w:g}" for w in weights)
    how = (
        f"by preference weights w = ({text}): the largest w · (J / scales) in '{scenario}'"
        if given
        else f"by equal weights (none given: w = 1/{d} each on normalised objectives), the largest w · (J / scales) "
        f"in '{scenario}'"
    )
    return Selection(entry.label, how, ind.validate_weights(weights, d), criterion)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def front_position(ds: xr.Dataset, label: str, scenario: str, weights: np.ndarray | None) -> list[str]:
    """Sentences: is it non-dominated, its rank per objective among the non-dominated policies, and
    its distance (normalised) or utility gap to the oracle's exact CCS."""
    names, scales = data.objectives(ds), data.scales(ds)
    mean, _ = data.values(ds, scenario)
    labels, kinds = data.policy_labels(ds), data.kinds(ds)
    i = labels.index(label)
    front = nondominated(ds, scenario)
    lines = []
    if front[i]:
        lines.append(
            f"Non-dominated in '{scenario}': one of the {int(front.sum())} policies of the Pareto set "
            f"(out of {len(labels)} evaluated)."
        )
    else:
        dominators = [
            labels[k] for k in np.flatnonzero(np.all(mean >= mean[i], axis=1) & np.any(mean > mean[i], axis=1))
        ]
        lines.append(f"Dominated in '{scenario}' by {len(dominators)} policies (e.g. {', '.join(dominators[:3])}).")
    members = np.flatnonzero(front | (np.arange(len(labels)) == i))
    ranks = [
        f"{_ordinal(1 + int(np.sum(mean[members, j] > mean[i, j])))} of {len(members)} in {o}"
        for j, o in enumerate(names)
    ]
    lines.append("Rank among the Pareto set (1st = best): " + "; ".join(ranks) + ".")
    oracle = kinds == "oracle"
    if oracle.any() and kinds[i] != "oracle":
        if weights is not None:
            best = float(np.max(ind.utilities(mean[oracle], weights, scales)))
            own = float(ind.utilities(mean[i : i + 1], weights, scales)[0])
            lines.append(
                f"At its weights its utility w · (J / scales) is {own:.4g} against {best:.4g} for the "
                f"oracle's exact CCS (gap {best - own:.3g})."
            )
        distance = np.linalg.norm((mean[oracle] - mean[i]) / scales, axis=1)
        nearest = np.flatnonzero(oracle)[int(np.argmin(distance))]
        lines.append(
            f"Nearest point of the oracle CCS: {labels[nearest]}, at a normalised distance of "
            f"{float(distance.min()):.3g}."
        )
    return lines


def nondominated(ds: xr.Dataset, scenario: str) -> np.ndarray:
    """The study's non-dominated flags in ``scenario`` (stored, else computed on the means)."""
    if "nondominated" in ds:
        return (
            ds["nondominated"].sel(scenario=data.check_scenario(ds, scenario)).transpose("policy").values.astype(bool)
        )
    return ind.nondominated_mask(data.values(ds, scenario)[0], keep_duplicates=True)


def nearest_classical(ds: xr.Dataset, label: str, scenario: str) -> str | None:
    """The classical strategy (other than ``label``) closest to ``label`` in the risk objective."""
    names, labels, kinds = data.objectives(ds), data.policy_labels(ds), data.kinds(ds)
    risk = names.index(RISK_OBJECTIVE) if RISK_OBJECTIVE in names else (1 if len(names) > 1 else 0)
    mean, _ = data.values(ds, scenario)
    i = labels.index(label)
    candidates = [k for k in np.flatnonzero(kinds == "classical") if k != i and np.isfinite(mean[k, risk])]
    if not candidates:
        return None
    return labels[min(candidates, key=lambda k: abs(mean[k, risk] - mean[i, risk]))]


def comparison_rows(ds: xr.Dataset, label: str, other: str, scenario: str) -> list[list[str]]:
    """Per objective: the two values, the difference (± 95% CI of the difference) and a verdict."""
    names, units = data.objectives(ds), data.units(ds)
    mean, ci = data.values(ds, scenario)
    labels = data.policy_labels(ds)
    a, b = labels.index(label), labels.index(other)
    rows = []
    for j, o in enumerate(names):
        diff = mean[a, j] - mean[b, j]
        half = float(np.hypot(ci[a, j], ci[b, j])) if ci is not None else float("nan")
        verdict = (
            "no significant difference"
            if np.isfinite(half) and abs(diff) <= half
            else "gains"
            if diff > 0
            else "gives up"
        )
        rows.append(
            [
                o + (f" [{units[o]}]" if units[o] else ""),
                number(mean[a, j]),
                number(mean[b, j]),
                number(diff) + ("" if not np.isfinite(half) else f" ± {number(half, 2)}"),
                verdict,
            ]
        )
    for m in data.metric_variables(ds):
        va, vb = data.metric_values(ds, m, scenario)[[a, b]]
        rows.append([metric_header(ds, m), number(va), number(vb), number(va - vb), "(point estimates)"])
    return rows


def scenario_rows(ds: xr.Dataset, label: str) -> list[list[str]]:
    """One row per scenario: objectives ± CI, non-dominated there, and the Sharpe ratio and drawdown."""
    names = data.objectives(ds)
    i = data.policy_labels(ds).index(label)
    extra = [m for m in ("pnl_sharpe", "max_drawdown_mean") if m in data.metric_variables(ds)]
    rows = []
    for scenario in (str(s) for s in ds["scenario"].values):
        mean, ci = data.values(ds, scenario)
        rows.append(
            [scenario]
            + [number(mean[i, j]) + ("" if ci is None else f" ± {number(ci[i, j], 2)}") for j in range(len(names))]
            + ["yes" if nondominated(ds, scenario)[i] else "no"]
            + [number(data.metric_values(ds, m, scenario)[i]) for m in extra]
        )
    return rows


def scenario_header(ds: xr.Dataset) -> list[str]:
    extra = [m for m in ("pnl_sharpe", "max_drawdown_mean") if m in data.metric_variables(ds)]
    return ["scenario"] + objective_headers(ds) + ["non-dominated"] + [metric_header(ds, m) for m in extra]


def objective_headers(ds: xr.Dataset) -> list[str]:
    units = data.units(ds)
    return [f"{o} [{units[o]}]" if units[o] else o for o in data.objectives(ds)]


def metric_header(ds: xr.Dataset, name: str) -> str:
    unit = str(ds[name].attrs.get("units", ""))
    return f"{name} [{unit}]" if unit else name


def metric_rows(ds: xr.Dataset, label: str, scenario: str) -> list[list[str]]:
    i = data.policy_labels(ds).index(label)
    return [
        [metric_header(ds, m), number(data.metric_values(ds, m, scenario)[i]), str(ds[m].attrs.get("long_name", ""))]
        for m in data.metric_variables(ds)
    ]


def number(x: float | None, digits: int = 4) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:.{digits}g}"
