"""The robustness figure: how each front's utility degrades over a scenario set, and its worst-case front.

Left: per row of :func:`morl_mm.study.robustness.robustness_table` (oracle CCS, each learner, each
classical strategy), the mean utility of the base model's choice on the base model and on every
scenario of the set, then the worst case (max-min choice). Right: the first two objectives of the
oracle's and the learners' fronts on the base model (filled) beside their worst-case fronts (hollow:
each policy's per-objective worst mean value over the set).
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from morl_mm.pareto import indicators as ind
from morl_mm.plots import data
from morl_mm.plots.style import CLASSICAL_COLOUR, CLASSICAL_MARKERS, LEARNED_COLOURS, ORACLE_COLOUR, plt
from morl_mm.study.robustness import ALL_SCENARIOS, robustness_table, scenario_sets, worst_values


def has_robustness(ds: xr.Dataset) -> bool:
    """A study evaluated on at least one scenario besides the base model."""
    return "scenario" in ds.coords and ds.sizes.get("scenario", 0) >= 2 and "base" in ds.scenario.values


def named_scenario_sets(ds: xr.Dataset) -> list[str]:
    """The study's own scenario sets (``[scenario_sets]``), without the implicit "all"."""
    return [name for name in scenario_sets(ds) if name != ALL_SCENARIOS]


def _row_style(row: dict, learned: list[str], classical_index: int) -> dict:
    if row["kind"] == "oracle":
        return {"color": ORACLE_COLOUR, "marker": ".", "linestyle": "-"}
    if row["kind"] == "classical":
        return {
            "color": CLASSICAL_COLOUR,
            "marker": CLASSICAL_MARKERS[classical_index % len(CLASSICAL_MARKERS)],
            "linestyle": ":",
        }
    return {
        "color": LEARNED_COLOURS[learned.index(row["kind"]) % len(LEARNED_COLOURS)],
        "marker": "o",
        "linestyle": "-",
    }


def robustness_figure(ds: xr.Dataset, set_name: str | None = None) -> Figure:
    """Degradation of every front over scenario set ``set_name`` (default: every scenario) and worst-case fronts."""
    table = robustness_table(ds, set_name)
    scenarios = [s for s in table["scenarios"] if s != "base"]
    columns = ["base"] + scenarios + ["worst case"]
    learned = list(dict.fromkeys(r["kind"] for r in table["rows"] if r["kind"] not in ("oracle", "classical")))
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(13.5, 5.4), layout="constrained", gridspec_kw={"width_ratios": [1.25, 1]}
    )
    x = np.arange(len(columns))
    classical_seen = 0
    for row in table["rows"]:
        style = _row_style(row, learned, classical_seen)
        classical_seen += row["kind"] == "classical"
        y = (
            [row["base"]["utility"]]
            + [row["scenarios"][s]["utility"] for s in scenarios]
            + [row["worst_case"]["utility"]]
        )
        y = np.array([np.nan if v is None else v for v in y], float)
        left.plot(x, y, label=row["name"], markersize=6, linewidth=1.2, **style)
    left.set_xticks(x, columns, rotation=20, ha="right")
    left.set_ylabel("utility w · (J / scales), mean over weights")
    left.set_title(f"Utility of the base model's choice per scenario (set '{table['set']}')")
    left.grid(alpha=0.3)
    left.legend(loc="best", fontsize=8, frameon=False)

    names = data.objectives(ds)
    kinds = data.kinds(ds)
    values = {s: data.values(ds, s)[0] for s in ["base"] + scenarios}
    worst = worst_values(values, table["scenarios"])
    for kind in ["oracle"] + learned:
        rows = np.flatnonzero(kinds == kind)
        if not len(rows):
            continue
        colour = ORACLE_COLOUR if kind == "oracle" else LEARNED_COLOURS[learned.index(kind) % len(LEARNED_COLOURS)]
        for points, hollow in ((values["base"][rows], False), (worst[rows], True)):
            points = points[np.all(np.isfinite(points), axis=1)]
            points = points[ind.nondominated_mask(points)] if len(points) else points
            right.scatter(
                points[:, 0],
                points[:, 1],
                s=22,
                color=colour,
                facecolors="none" if hollow else colour,
                label=f"{kind}: {'worst case' if hollow else 'base model'}",
            )
    right.set_xlabel(data.axis_label(ds, names[0]))
    right.set_ylabel(data.axis_label(ds, names[1]))
    right.set_title("Fronts on the base model and in the worst case of the set")
    right.grid(alpha=0.3)
    right.legend(fontsize=8, frameon=False)
    return fig


def robust_front_figure(robust: xr.Dataset, ds: xr.Dataset) -> Figure:
    """Two panels (first objective against the second, then the third) of the exact plain CCS on the base model,
    the exact robust front (each weight's max-min policy under its worst-case adversary), and each learner and
    the plain CCS's choices under the worst-case adversary (``robust.nc`` of :mod:`morl_mm.study.robust_front`)."""
    names = data.objectives(ds)
    info = json.loads(ds.attrs.get("units_info", "{}"))
    ccs = np.asarray(info.get("oracle", {}).get("oracle_expected_values", []), float).reshape(-1, len(names))
    box = json.loads(robust.attrs["adversary"])["bounds"]
    adversary = ", ".join(f"{k} in [{lo:g}, {hi:g}]" for k, (lo, hi) in box.items())
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 5.2), layout="constrained")
    learned = [str(n) for n, k in zip(robust.front.values, robust["kind"].values) if k not in ("oracle", "classical")]
    for ax, j in zip(axes, (1, 2)):
        if len(ccs):
            ax.scatter(ccs[:, 0], ccs[:, j], s=30, color=ORACLE_COLOUR, label="exact CCS (unperturbed)")
        exact = robust["robust_front"].values
        ax.scatter(
            exact[:, 0], exact[:, j], s=36, marker="D", color="black", facecolors="none", label="exact robust front"
        )
        if "oracle" in robust.front.values:
            points = robust["worst_case"].sel(front="oracle").values
            ax.scatter(
                points[:, 0], points[:, j], s=16, marker="x", color=ORACLE_COLOUR, label="CCS's choice, worst case"
            )
        for i, name in enumerate(learned):
            points = robust["worst_case"].sel(front=name).values
            ax.scatter(
                points[:, 0],
                points[:, j],
                s=18,
                color=LEARNED_COLOURS[i % len(LEARNED_COLOURS)],
                alpha=0.8,
                label=f"{name}, worst case",
            )
        ax.set_xlabel(data.axis_label(ds, names[0]))
        ax.set_ylabel(data.axis_label(ds, names[j]))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, frameon=False)
    fig.suptitle(f"Fronts under the worst-case adversary ({adversary} per step) against the exact robust front")
    return fig
