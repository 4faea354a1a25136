"""Trade-off plots of a study result: 2-D projections, a 3-D view, parallel coordinates, learning
curves and episode trajectories. Each function takes the study Dataset and returns a Figure;
:func:`render_all` writes them as PNG files with stable names.

The 3-D view is drawn flat (two axes and colour) for paper; the HTML report adds a rotatable one.

Conventions in every front plot: the oracle CCS (the exact optimum of the model) in black, each
learned kind in its own colour (filled markers: on that kind's front; hollow: dominated within its
kind), each classical strategy with its own marker, and the selected policy ringed in red.
"""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path

import matplotlib
import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from morl_mm.plots import data
from morl_mm.plots.comparison import has_learner_comparison, learner_fronts_figure
from morl_mm.plots.replay import REPLAY, sim_vs_replay_figure
from morl_mm.plots.robustness import has_robustness, named_scenario_sets, robustness_figure
from morl_mm.plots.style import (
    CLASSICAL_COLOUR,
    CLASSICAL_MARKERS,
    LEARNED_COLOURS,
    ORACLE_COLOUR,
    SELECTED_COLOUR,
    oracle_2d,
    plt,
    safe_filename,
    save_png,
)

LEGEND_WIDTH = 36  # characters per legend line


# -- styles ------------------------------------------------------------------------------------------------
def _styles(ds: xr.Dataset) -> dict[str, dict]:
    """Colour, marker and legend group of every policy (stable for a given dataset)."""
    labels, kinds = data.policy_labels(ds), data.kinds(ds)
    learned = [k for k in dict.fromkeys(kinds) if k not in ("oracle", "classical")]
    colour = {k: LEARNED_COLOURS[i % len(LEARNED_COLOURS)] for i, k in enumerate(learned)}
    styles, classical_seen = {}, 0
    for label, kind in zip(labels, kinds):
        if kind == "oracle":
            styles[label] = {"color": ORACLE_COLOUR, "marker": ".", "group": "oracle CCS", "size": 30}
        elif kind == "classical":
            marker = CLASSICAL_MARKERS[classical_seen % len(CLASSICAL_MARKERS)]
            classical_seen += 1
            styles[label] = {"color": CLASSICAL_COLOUR, "marker": marker, "group": label, "size": 60}
        else:
            styles[label] = {"color": colour[kind], "marker": "o", "group": kind, "size": 40}
    return styles


def _legend_handles(ds: xr.Dataset, selected: str | None) -> list[Line2D]:
    styles, handles, seen = _styles(ds), [], set()
    for label, kind in zip(data.policy_labels(ds), data.kinds(ds)):
        style = styles[label]
        if style["group"] in seen:
            continue
        seen.add(style["group"])
        text = textwrap.fill(style["group"] if kind != "classical" else f"{label} (classical)", LEGEND_WIDTH)
        handles.append(
            Line2D(
                [],
                [],
                color=style["color"],
                marker=style["marker"],
                markersize=7,
                linestyle="-" if kind == "oracle" else "none",
                label=text,
            )
        )
    if any(k not in ("oracle", "classical") for k in data.kinds(ds)):
        handles.append(
            Line2D(
                [],
                [],
                color="grey",
                marker="o",
                markerfacecolor="none",
                linestyle="none",
                label="hollow: dominated within its kind",
            )
        )
    if selected is not None:
        handles.append(
            Line2D(
                [],
                [],
                color=SELECTED_COLOUR,
                marker="o",
                markerfacecolor="none",
                markersize=14,
                markeredgewidth=2,
                linestyle="none",
                label=f"selected: {selected}",
            )
        )
    return handles


def _selected(ds: xr.Dataset, selected: str | None) -> str | None:
    return None if selected is None else data.check_policy(ds, selected)


def _figure_legend(fig: Figure, ds: xr.Dataset, selected: str | None, columns: int = 4) -> None:
    """The legend below every panel: with the figure's constrained layout, "outside" reserves its room,
    so it never covers an axis label."""
    handles = _legend_handles(ds, selected)
    fig.legend(handles=handles, loc="outside lower center", ncol=min(columns, len(handles)), frameon=False)


# -- fronts ------------------------------------------------------------------------------------------------
def _scatter_policies(
    ax, ds: xr.Dataset, points: np.ndarray, errors: np.ndarray | None, member: np.ndarray, selected: str | None
) -> None:
    """Every non-oracle policy at ``points`` (n, 2 or 3), with CI bars in 2-D."""
    styles = _styles(ds)
    for i, (label, kind) in enumerate(zip(data.policy_labels(ds), data.kinds(ds))):
        if kind == "oracle":
            continue
        style = styles[label]
        face = style["color"] if member[i] or kind == "classical" else "none"
        ax.scatter(
            *points[i],
            s=style["size"],
            marker=style["marker"],
            facecolors=face,
            edgecolors=style["color"],
            linewidths=1.2,
            zorder=3,
        )
        if errors is not None and points.shape[1] == 2:
            ax.errorbar(
                *points[i],
                xerr=errors[i, 0],
                yerr=errors[i, 1],
                fmt="none",
                ecolor=style["color"],
                elinewidth=0.8,
                alpha=0.5,
                zorder=2,
            )
    if selected is not None:
        ax.scatter(
            *points[data.policy_labels(ds).index(selected)],
            s=260,
            marker="o",
            facecolors="none",
            edgecolors=SELECTED_COLOUR,
            linewidths=2.0,
            zorder=4,
        )


def fronts_2d_figure(ds: xr.Dataset, scenario: str = "base", selected: str | None = None) -> Figure:
    """One panel per pair of objectives: the policies' mean objective values (raw units, 95% CI bars)."""
    selected = _selected(ds, selected)
    names = data.objectives(ds)
    if len(names) < 2:
        raise ValueError(f"fronts_2d_figure: need at least 2 objectives, got {names}")
    mean, ci = data.values(ds, scenario)
    member, oracle = data.front_members(ds, scenario), data.kinds(ds) == "oracle"
    pairs = list(itertools.combinations(range(len(names)), 2))
    columns = min(3, len(pairs))
    rows = -(-len(pairs) // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(5.2 * columns, 4.6 * rows + 1.0), squeeze=False, layout="constrained"
    )
    for ax, (i, j) in zip(axes.flat, pairs):
        oracle_2d(ax, mean[oracle][:, [i, j]])
        _scatter_policies(ax, ds, mean[:, [i, j]], None if ci is None else ci[:, [i, j]], member, selected)
        ax.set_xlabel(data.axis_label(ds, names[i]))
        ax.set_ylabel(data.axis_label(ds, names[j]))
        ax.set_title(f"{names[j]} vs {names[i]}")
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(pairs) :]:
        ax.set_visible(False)
    fig.suptitle(f"Trade-offs, scenario '{scenario}' (every objective maximised; up and right is better)")
    _figure_legend(fig, ds, selected)
    return fig


def front_3d_figure(
    ds: xr.Dataset,
    scenario: str = "base",
    selected: str | None = None,
    objective_names: tuple[str, str, str] | None = None,
) -> Figure:
    """Three objectives at once (default: the first three), readable on paper: the first two as the
    axes and the third as colour (a perspective 3-D scatter hides depth; the HTML report has a
    rotatable 3-D view). Marker shapes as in every front plot; white fill: dominated within its kind."""
    selected = _selected(ds, selected)
    names = data.objectives(ds)
    chosen = list(objective_names) if objective_names is not None else names[:3]
    unknown = [o for o in chosen if o not in names]
    if len(chosen) != 3 or unknown:
        raise ValueError(f"front_3d_figure: need 3 of the objectives {names}, got {chosen}")
    index = [names.index(o) for o in chosen]
    mean, _ = data.values(ds, scenario)
    points = mean[:, index]
    member, styles = data.front_members(ds, scenario), _styles(ds)
    norm = matplotlib.colors.Normalize(*np.nanpercentile(points[:, 2], [0, 100]))
    cmap = matplotlib.colormaps["viridis"]
    fig, ax = plt.subplots(figsize=(9.0, 6.6), layout="constrained")
    for i, (label, kind) in enumerate(zip(data.policy_labels(ds), data.kinds(ds))):
        style = styles[label]
        hollow = kind not in ("oracle", "classical") and not member[i]
        oracle = kind == "oracle"
        ax.scatter(
            points[i, 0],
            points[i, 1],
            s=style["size"] * (1.3 if oracle else 1.6),
            marker="o" if oracle else style["marker"],
            facecolors="white" if hollow else cmap(norm(points[i, 2])),
            edgecolors="black" if oracle else style["color"],
            linewidths=0.6 if oracle else 1.6,
            zorder=2 if oracle else 3,
        )
    if selected is not None:
        ax.scatter(
            *points[data.policy_labels(ds).index(selected), :2],
            s=320,
            marker="o",
            facecolors="none",
            edgecolors=SELECTED_COLOUR,
            linewidths=2.2,
            zorder=4,
        )
    colourbar = fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, pad=0.02)
    colourbar.set_label(data.axis_label(ds, chosen[2]))
    ax.set_xlabel(data.axis_label(ds, chosen[0], width=60))
    ax.set_ylabel(data.axis_label(ds, chosen[1], width=60))
    ax.grid(alpha=0.3)
    ax.set_title(f"Three objectives, scenario '{scenario}': {chosen[2]} as colour (every objective maximised)")
    handles = [
        Line2D(
            [],
            [],
            color=h.get_color(),
            marker="o" if h.get_marker() == "." else h.get_marker(),
            markerfacecolor="none",
            markersize=7,
            markeredgewidth=1.5,
            linestyle="none",
            label=h.get_label(),
        )
        for h in _legend_handles(ds, selected)
    ]
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncol=3,
        frameon=False,
        title="marker edge: kind; fill colour: " + chosen[2],
    )
    return fig


def parallel_figure(ds: xr.Dataset, scenario: str = "base", selected: str | None = None) -> Figure:
    """Parallel coordinates of ``value / scales``: the normalised objectives that weights apply to."""
    selected = _selected(ds, selected)
    names = data.objectives(ds)
    mean, _ = data.values(ds, scenario)
    normalised = mean / data.scales(ds)
    styles = _styles(ds)
    x = np.arange(len(names))
    oracle_alpha = float(np.clip(10.0 / max(int(np.sum(data.kinds(ds) == "oracle")), 1), 0.08, 0.45))
    fig, ax = plt.subplots(figsize=(max(7.0, 2.6 * len(names)), 5.6))
    for i, (label, kind) in enumerate(zip(data.policy_labels(ds), data.kinds(ds))):
        style = styles[label]
        dashed = "--" if kind == "classical" else "-"
        ax.plot(
            x,
            normalised[i],
            color=style["color"],
            linestyle=dashed,
            marker=style["marker"],
            markersize=5,
            linewidth=0.9,
            alpha=0.75 if kind != "oracle" else oracle_alpha,
        )
    if selected is not None:
        ax.plot(x, normalised[data.policy_labels(ds).index(selected)], color=SELECTED_COLOUR, linewidth=3, zorder=5)
    scale = data.scales(ds)
    ax.set_xticks(x, [f"{o}\n÷ {s:.3g}" for o, s in zip(names, scale)])
    ax.set_ylabel("objective ÷ scale (what preference weights apply to)")
    ax.grid(axis="y", alpha=0.3)
    for xi in x:
        ax.axvline(xi, color="grey", linewidth=0.6)
    ax.set_title(f"Normalised objectives, scenario '{scenario}' (higher is better)")
    handles = [h for h in _legend_handles(ds, None) if not h.get_label().startswith("hollow")]
    if selected is not None:
        handles.append(Line2D([], [], color=SELECTED_COLOUR, linewidth=3, label=f"selected: {selected}"))
    fig.tight_layout()
    ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return fig


# -- learning curves -----------------------------------------------------------------------------------------
def _curve_figure(ds: xr.Dataset, variable: str, ylabel: str, title: str, reference: float | None) -> Figure:
    if variable not in ds:
        raise ValueError(f"the study dataset has no {variable!r} variable")
    curve = ds[variable]  # dims (learner, checkpoint), whatever their names
    # its env steps: the *env_steps variable or coordinate on the same dims
    steps = next(
        (
            ds[name]
            for name in list(ds.coords) + list(ds.data_vars)
            if str(name).endswith("env_steps") and set(ds[name].dims) == set(curve.dims)
        ),
        None,
    )
    if steps is None or curve.ndim != 2:
        raise ValueError(f"{variable!r} needs an env_steps coordinate on its (learner, checkpoint) dims")
    steps = steps.transpose(*curve.dims)
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for i, learner in enumerate(curve[curve.dims[0]].values):
        y, x = curve.values[i].astype(float), steps.values[i].astype(float)
        keep = np.isfinite(x) & np.isfinite(y)
        ax.plot(
            x[keep],
            y[keep],
            marker="o",
            markersize=4,
            color=LEARNED_COLOURS[i % len(LEARNED_COLOURS)],
            label=str(learner),
        )
    if reference is not None:
        ax.axhline(reference, color=ORACLE_COLOUR, linestyle="--", linewidth=1, label="oracle CCS")
    # learners' budgets differ by orders of magnitude (DQN 1e5, PPO 1e7 env steps): a logarithmic
    # step axis shows each curve's shape instead of a vertical smear at 0; a curve from 0 env steps (a warm
    # start's first checkpoint) gets a linear stretch up to the first positive step
    positive = steps.values[np.isfinite(steps.values) & (steps.values > 0)]
    if np.any(steps.values == 0) and positive.size:
        ax.set_xscale("symlog", linthresh=float(positive.min()))
        ax.set_xlim(left=0.0)
        ax.set_xlabel("environment steps (log scale, linear below the first checkpoint)")
    else:
        ax.set_xscale("log")
        ax.set_xlabel("environment steps (log scale)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def hv_curve_figure(ds: xr.Dataset) -> Figure:
    """Hypervolume ratio (learned front / oracle CCS) against environment steps, per learner."""
    return _curve_figure(
        ds, "hv_ratio_curve", "hypervolume ratio (learned / oracle CCS)", "Learning curves: hypervolume ratio", 1.0
    )


def training_curve_figure(ds: xr.Dataset) -> Figure:
    """Mean normalised scalarised training return against environment steps, per learner."""
    return _curve_figure(
        ds, "train_curve_return", "mean scalarised return (normalised)", "Learning curves: training return", None
    )


# -- trajectories --------------------------------------------------------------------------------------------
def trajectory_figure(ds: xr.Dataset, label: str, episode: int = 0) -> Figure:
    """Sample episode of policy ``label`` (base scenario): mid with bid/ask quotes, inventory and
    wealth (cash + inventory x mid) over time; the other stored episodes faint behind."""
    label = data.check_policy(ds, label)
    if not data.has_trajectories(ds):
        raise ValueError("the study dataset has no trajectories (traj_mid, traj_inventory, traj_wealth)")
    if not data.has_trajectories(ds, label):
        raise ValueError(f"no sample episodes are stored for {label!r} (a policy evaluated by its own library)")
    n_episodes = ds.sizes.get("traj_episode", 1)
    if not 0 <= episode < n_episodes:
        raise ValueError(f"episode {episode} out of range: the study keeps {n_episodes} sample episodes")
    one = ds.sel(policy=label)
    get = lambda name: one[name].transpose("traj_episode", "time").values.astype(float)  # noqa: E731
    time = ds["time"].values.astype(float) if "time" in ds.coords else np.arange(ds.sizes["time"])
    mid, inventory, wealth = get("traj_mid"), get("traj_inventory"), get("traj_wealth")
    fig, (top, middle, bottom) = plt.subplots(
        3, 1, figsize=(9, 8.5), sharex=True, gridspec_kw={"height_ratios": [1.6, 1, 1]}
    )
    top.plot(time, mid[episode], color="black", linewidth=1.2, label="mid")
    # traj_mid[t] is the mid after step t; step t's quotes rest around the mid before it, so they are
    # drawn one step earlier, beside the mid they were placed around
    quote_time = time - (time[1] - time[0] if len(time) > 1 else 0.0)
    for name, colour, side in (("traj_bid", "#1f77b4", "bid"), ("traj_ask", "#d62728", "ask")):
        if name in ds:  # NaN (gaps) where the side is not quoted
            top.plot(quote_time, get(name)[episode], color=colour, linewidth=0.9, label=f"{side} quote")
    top.set_ylabel("price [price units]")
    top.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=3, frameon=False)
    for panel, series, ylabel in (
        (middle, inventory, "inventory [units]"),
        (bottom, wealth, "wealth [price units]\n(cash + inventory × mid)"),
    ):
        for other in range(n_episodes):
            if other != episode:
                panel.plot(time, series[other], color="grey", linewidth=0.8, alpha=0.4)
        panel.plot(time, series[episode], color="#2ca02c" if panel is middle else "#9467bd", linewidth=1.3)
        panel.set_ylabel(ylabel)
    middle.axhline(0, color="grey", linewidth=0.6)
    for panel in (top, middle, bottom):
        panel.grid(alpha=0.3)
    bottom.set_xlabel("time [model time units]" if "time" in ds.coords else "step")
    kind = data.kinds(ds)[data.policy_labels(ds).index(label)]
    fig.suptitle(
        f"{label} ({kind}): sample episode {episode} of {n_episodes}, base scenario (grey: the other episodes)"
    )
    fig.tight_layout()
    return fig


# -- all figures -------------------------------------------------------------------------------------------
def figures(ds: xr.Dataset, selected: str | None = None, scenario: str = "base") -> dict[str, Figure]:
    """Every figure the dataset supports, by stable file stem; ``selected`` defaults to the equal-weight choice."""
    data.check_scenario(ds, scenario)
    selected = data.check_policy(ds, selected) if selected is not None else data.default_selection(ds, scenario)
    out = {"fronts_2d": fronts_2d_figure(ds, scenario, selected)}
    if len(data.objectives(ds)) >= 3:
        out["front_3d"] = front_3d_figure(ds, scenario, selected)
    out["parallel"] = parallel_figure(ds, scenario, selected)
    if "hv_ratio_curve" in ds:
        out["hv_curve"] = hv_curve_figure(ds)
    if "train_curve_return" in ds:
        out["train_curve"] = training_curve_figure(ds)
    if has_learner_comparison(ds):
        out["learner_fronts"] = learner_fronts_figure(ds, scenario)
    if REPLAY in ds.scenario.values and scenario != REPLAY:
        out["sim_vs_replay"] = sim_vs_replay_figure(ds, scenario)
    if has_robustness(ds):
        out["robustness"] = robustness_figure(ds)
        for name in named_scenario_sets(ds):
            out[f"robustness_{safe_filename(name)}"] = robustness_figure(ds, name)
    if data.has_trajectories(ds, selected):
        out[f"trajectories_{safe_filename(selected)}"] = trajectory_figure(ds, selected)
    return out


def render_all(ds: xr.Dataset, out_dir: str | Path, selected: str | None = None, scenario: str = "base") -> list[Path]:
    """Write every figure as ``<out_dir>/<name>.png`` (fronts_2d, front_3d, parallel, hv_curve,
    train_curve, trajectories_<label>; those the data support) and return the paths."""
    out_dir = Path(out_dir)
    return [save_png(fig, out_dir / f"{stem}.png") for stem, fig in figures(ds, selected, scenario).items()]
