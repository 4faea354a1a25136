"""Simulation against replay: how each policy's objectives move from the calibrated model to the market.

A study with ``[data]`` evaluates every policy on the calibrated simulator (scenario ``base``) and
on the held-out replay of the real market (scenario ``replay``). :func:`scenario_shift` puts the two
side by side (labelled), :func:`shift_table` prints it as Markdown for chosen policies, and
:func:`sim_vs_replay_figure` draws the simulated front beside the same policies on the replay.

    python studies/sim_vs_replay.py results/lobster_goog    # the Markdown table
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from morl_mm.pareto.indicators import nondominated_mask  # noqa: E402
from morl_mm.plots.data import axis_label, check_scenario, kinds, objectives, scales  # noqa: E402
from morl_mm.scalarisation import scalarise  # noqa: E402

REPLAY = "replay"
TABLE_WEIGHTS = ((1.0, 0.0, 0.0), (0.6, 0.4, 0.0), (0.4, 0.3, 0.3), (0.2, 0.2, 0.6))


def scenario_shift(ds: xr.Dataset, source: str = "base", target: str = REPLAY) -> xr.Dataset:
    """Per policy and objective: ``source`` and ``target`` values, their 95% half-widths and the change."""
    check_scenario(ds, source)
    check_scenario(ds, target)
    pick = lambda name, scenario: ds[name].sel(scenario=scenario, drop=True)  # noqa: E731
    a, b = pick("value", source), pick("value", target)
    return xr.Dataset(
        {"source": a, "target": b, "source_ci": pick("ci", source), "target_ci": pick("ci", target), "change": b - a},
        attrs={"source": source, "target": target},
    )


def table_policies(ds: xr.Dataset, weights=TABLE_WEIGHTS, scenario: str = "base") -> list[str]:
    """Every classical strategy, and for each other kind the policy it would give at each of ``weights``
    on ``scenario`` (the principal's choice ``argmax w . (J / scales)``), in that order, once each."""
    values = ds["value"].sel(scenario=scenario).values
    scale = scales(ds)
    labels = [str(p) for p in ds.policy.values]
    k = kinds(ds)
    chosen = [label for label, kind in zip(labels, k) if kind == "classical"]
    for kind in dict.fromkeys(k):
        if kind == "classical":
            continue
        members = np.flatnonzero(k == kind)
        for w in weights:
            w = np.asarray(w, float)[: values.shape[1]]
            best = members[np.argmax(scalarise(values[members], w, scale))]
            if labels[best] not in chosen:
                chosen.append(labels[best])
    return chosen


def shift_table(ds: xr.Dataset, policies: list[str] | None = None, source: str = "base", target: str = REPLAY) -> str:
    """A Markdown table: each policy's objectives on ``source`` and on ``target`` (mean ± 95% CI)."""
    shift = scenario_shift(ds, source, target)
    policies = table_policies(ds) if policies is None else policies
    names = objectives(ds)
    header = ["policy", "kind"] + [f"{o} ({source})" for o in names] + [f"{o} ({target})" for o in names]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    kind_of = dict(zip([str(p) for p in ds.policy.values], kinds(ds)))
    for label in policies:
        s = shift.sel(policy=label)
        cells = [label, str(kind_of[label])]
        cells += [_pm(s["source"].values[i], s["source_ci"].values[i]) for i in range(len(names))]
        cells += [_pm(s["target"].values[i], s["target_ci"].values[i]) for i in range(len(names))]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _pm(value: float, ci: float) -> str:
    if not np.isfinite(value):
        return "n/a"
    return f"{value:.4g}" if not np.isfinite(ci) else f"{value:.4g} ± {ci:.2g}"


def sim_vs_replay_figure(ds: xr.Dataset, source: str = "base", target: str = REPLAY) -> Figure:
    """The simulated front of each kind (filled) and the same policies on the replay (hollow), joined
    by a line per policy, in the (pnl, other objective) planes."""
    shift = scenario_shift(ds, source, target)
    names = objectives(ds)
    k = kinds(ds)
    pairs = [(0, j) for j in range(1, len(names))]
    fig, axes = plt.subplots(1, len(pairs), figsize=(6.2 * len(pairs), 5.0), squeeze=False)
    colours = plt.get_cmap("tab10")
    for c, kind in enumerate(dict.fromkeys(k)):
        members = np.flatnonzero(k == kind)
        sim = shift["source"].values[members]
        front = members[nondominated_mask(sim)] if len(members) else members
        a, b = shift["source"].values[front], shift["target"].values[front]
        for ax, (i, j) in zip(axes[0], pairs):
            ax.plot(np.stack([a[:, j], b[:, j]]), np.stack([a[:, i], b[:, i]]), color=colours(c), lw=0.5, alpha=0.4)
            ax.scatter(a[:, j], a[:, i], color=colours(c), s=22, label=f"{kind}: simulated ({len(front)})")
            ax.scatter(b[:, j], b[:, i], facecolors="none", edgecolors=colours(c), s=30, label=f"{kind}: replay")
    for ax, (i, j) in zip(axes[0], pairs):
        ax.set_xlabel(axis_label(ds, names[j]))
        ax.set_ylabel(axis_label(ds, names[i]))
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), frameon=False, fontsize=8)
    windows = int(np.isfinite(ds["returns"].sel(scenario=target).isel(objective=0)).sum("sample").max())
    fig.suptitle(
        f"{ds.attrs.get('name', '')}: the simulated front ({source}, filled) and the same policies on the "
        f"held-out replay ({target}, hollow; {windows} windows)",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.12, 1, 0.94))
    return fig
