"""The learner comparison figure: each learner's front beside the exact CCS and the classical strategies.

One column per learner group (``group`` in the study config, e.g. "equal env steps" / "equal wall
time"), one row per projection of the first objective against each other one. A learner's points
are its policies (every training seed) that are non-dominated among its own policies (all objectives).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from morl_mm.pareto import indicators as ind
from morl_mm.plots import data
from morl_mm.plots.style import CLASSICAL_COLOUR, LEARNED_COLOURS, oracle_2d, plt

ALGORITHM_MARKERS = ("o", "s", "D", "^", "v", "P", "X", "<", ">", "h")


def learner_groups(ds: xr.Dataset) -> dict[str, list[str]]:
    """``{group: [learner, ...]}`` in config order (learners without a group under "")."""
    units = data.json_attr(ds, "units_info", {})
    groups: dict[str, list[str]] = {}
    for unit, info in units.items():
        if unit.startswith("learner:"):
            groups.setdefault(info.get("group", ""), []).append(unit.split(":", 1)[1])
    return groups


def learner_fronts_figure(ds: xr.Dataset, scenario: str = "base") -> Figure:
    """Fronts of every learner, grouped (see the module docstring), in raw units."""
    groups = learner_groups(ds)
    if not groups:
        raise ValueError("the study has no learners")
    names = data.objectives(ds)
    mean, _ = data.values(ds, scenario)
    kinds = data.kinds(ds)
    units = data.json_attr(ds, "units_info", {})
    algorithms = list(dict.fromkeys(units[f"learner:{n}"].get("algorithm", n) for g in groups.values() for n in g))
    style = {
        a: (LEARNED_COLOURS[i % len(LEARNED_COLOURS)], ALGORITHM_MARKERS[i % len(ALGORITHM_MARKERS)])
        for i, a in enumerate(algorithms)
    }
    pairs = [(j, 0) for j in range(1, len(names))]
    fig, axes = plt.subplots(
        len(pairs), len(groups), figsize=(5.4 * len(groups), 4.2 * len(pairs) + 0.9), squeeze=False
    )
    for column, (group, learners) in enumerate(groups.items()):
        for row, (i, j) in enumerate(pairs):
            ax = axes[row, column]
            oracle_2d(ax, mean[kinds == "oracle"][:, [i, j]])
            classical = mean[kinds == "classical"]
            ax.scatter(classical[:, i], classical[:, j], marker="x", color=CLASSICAL_COLOUR, s=36, zorder=3)
            for learner in learners:
                points = mean[kinds == learner]
                points = points[ind.nondominated_mask(points)] if len(points) else points
                colour, marker = style[units[f"learner:{learner}"].get("algorithm", learner)]
                ax.scatter(points[:, i], points[:, j], marker=marker, s=24, color=colour, alpha=0.75, zorder=4)
            ax.set_xlabel(data.axis_label(ds, names[i]))
            ax.set_ylabel(data.axis_label(ds, names[j]))
            ax.grid(alpha=0.3)
            if row == 0:
                ax.set_title(group or "learners")
    handles = [
        plt.Line2D([], [], color="black", marker=".", label="exact CCS (oracle)"),
        plt.Line2D([], [], color=CLASSICAL_COLOUR, marker="x", linestyle="none", label="classical"),
    ]
    handles += [plt.Line2D([], [], color=c, marker=m, linestyle="none", label=a) for a, (c, m) in style.items()]
    fig.legend(handles=handles, loc="lower center", ncol=min(6, len(handles)), frameon=False)
    fig.suptitle(f"Learners' fronts (non-dominated policies of each, all seeds), scenario '{scenario}'")
    fig.tight_layout(rect=(0, 0.1 / len(pairs), 1, 1))
    return fig


def has_learner_comparison(ds: xr.Dataset) -> bool:
    """Two learners or more, and the oracle's CCS to compare them with."""
    groups = learner_groups(ds)
    return sum(len(g) for g in groups.values()) >= 2 and bool(np.any(data.kinds(ds) == "oracle"))


__all__ = ["learner_fronts_figure", "learner_groups", "has_learner_comparison"]
