"""The report's interactive chooser: plotly figures (plotly.js inlined once, so the file works
offline) and a little glue JavaScript that picks a policy live.

The glue reproduces ``ParetoSet.select`` (argmax of ``w . (J / scales)`` over every policy of the
scenario, first on ties, weights checked on the simplex within 1e-6) and
``ParetoSet.select_by_constraints`` (the largest ``maximise`` among the policies meeting every bound,
first on ties; infeasible: the three least-violating policies in normalised units) on the exact
float64 values of the study, in the study's policy order, so the page picks what ``morl-mm select``
picks. The URL fragment sets the initial choice and is kept up to date:

    report.html#weights=0.5,0.3,0.2
    report.html#maximise=pnl&min_quoting_ratio=0.9&max_inventory_risk=20

``max_<cost>=X`` bounds the magnitude of an objective that is minus a cost (``<cost> >= -X``, as
``morl-mm select --max-inventory-risk``); otherwise ``min_<objective>=Y`` means ``>= Y`` and
``max_<objective>=Y`` means ``<= Y``. The selected label is shown in ``#selected-policy``.
"""

from __future__ import annotations

import html
import json
from importlib import resources

import numpy as np
import plotly.graph_objects as go
import xarray as xr
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from morl_mm.env.objectives import COSTS
from morl_mm.plots import data
from morl_mm.plots.style import CLASSICAL_COLOUR, LEARNED_COLOURS, ORACLE_COLOUR, SELECTED_COLOUR
from morl_mm.plots.summary import RISK_OBJECTIVE, Selection, metric_header, nondominated, number

TRAJECTORY_DIGITS = 6  # significant digits of the trajectories embedded for the live plot
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["sendDataToCloud"]}
CLASSICAL_SYMBOLS = ("square", "diamond", "triangle-up", "triangle-down", "cross", "x", "pentagon", "star")


def _floats(array) -> list:
    """Exact float64 values for JSON (repr round-trips), NaN as null."""
    return [None if not np.isfinite(x) else float(x) for x in np.asarray(array, np.float64).ravel()]


def _rounded(array, digits: int = TRAJECTORY_DIGITS) -> list:
    return [None if not np.isfinite(x) else float(f"{x:.{digits}g}") for x in np.asarray(array, np.float64).ravel()]


def hover_text(ds: xr.Dataset, scenario: str) -> list[str]:
    """Per policy: label, kind, preference, objectives ± CI and every metric (plotly hover HTML)."""
    names, units = data.objectives(ds), data.units(ds)
    mean, ci = data.values(ds, scenario)
    metrics = {m: data.metric_values(ds, m, scenario) for m in data.metric_variables(ds)}
    front = nondominated(ds, scenario)
    texts = []
    for i, (label, kind) in enumerate(zip(data.policy_labels(ds), data.kinds(ds))):
        lines = [
            f"<b>{html.escape(label)}</b> ({html.escape(kind)}{'' if front[i] else ', dominated'})",
            f"preference {data.preference_text(ds, label)}",
        ]
        lines += [
            f"{o}: {number(mean[i, j])}"
            + ("" if ci is None else f" ± {number(ci[i, j], 2)}")
            + (f" {units[o]}" if units[o] else "")
            for j, o in enumerate(names)
        ]
        lines += [f"{html.escape(metric_header(ds, m))}: {number(v[i])}" for m, v in metrics.items()]
        texts.append("<br>".join(lines))
    return texts


def payload(ds: xr.Dataset, scenario: str, selection: Selection) -> dict:
    """Everything the glue needs, as JSON-ready data (values exact, NaN as null)."""
    names, units, scales = data.objectives(ds), data.units(ds), data.scales(ds)
    labels, kinds = data.policy_labels(ds), data.kinds(ds)
    scenarios = [str(s) for s in ds["scenario"].values]
    values = {s: [_floats(row) for row in data.values(ds, s)[0]] for s in scenarios}
    cis = {s: ([_floats(row) for row in data.values(ds, s)[1]] if "ci" in ds else None) for s in scenarios}
    metrics = {
        m: {"header": metric_header(ds, m), "values": _floats(data.metric_values(ds, m, scenario))}
        for m in data.metric_variables(ds)
    }
    front = nondominated(ds, scenario)
    trajectories = {}
    if data.has_trajectories(ds):
        for i, label in enumerate(labels):  # the first sample episode of every policy that can be selected
            if front[i] and data.has_trajectories(ds, label):
                one = ds.sel(policy=label).isel(traj_episode=0)
                trajectories[label] = {
                    k: _rounded(one[f"traj_{k}"].values)
                    for k in ("mid", "bid", "ask", "inventory", "wealth")
                    if f"traj_{k}" in ds
                }
    time = ds["time"].values if "time" in ds.coords else np.arange(ds.sizes.get("time", 0))
    bounds = []
    for j, o in enumerate(names):
        column = np.asarray(values[scenario], dtype=float)[:, j] if labels else np.zeros(1)
        column = column[np.isfinite(column)]
        bounds.append({"objective": o, "cost": o in COSTS, "low": float(column.min()), "high": float(column.max())})
    criterion = selection.criterion
    initial = (
        {"weights": [float(w) for w in selection.weights]}
        if selection.weights is not None
        else {
            "maximise": criterion.maximise,
            "at_least": dict(criterion.at_least or {}),
            "at_most": dict(criterion.at_most or {}),
        }
        if criterion.by_constraints
        else {"label": selection.label}
    )
    return {
        "scenario": scenario,
        "scenarios": scenarios,
        "objectives": names,
        "units": [units[o] for o in names],
        "scales": _floats(scales),
        "labels": labels,
        "kinds": [str(k) for k in kinds],
        "preference": [data.preference_text(ds, label) for label in labels],
        "values": values,
        "ci": cis,
        "nondominated": [bool(f) for f in front],
        "metrics": metrics,
        "risk": RISK_OBJECTIVE if RISK_OBJECTIVE in names else names[min(1, len(names) - 1)],
        "bounds": bounds,
        "initial": initial,
        "time": _floats(time),
        "trajectories": trajectories,
    }


def _kind_groups(ds: xr.Dataset):
    """(name, indices, marker style) per legend group: the oracle, each learned kind, each classical."""
    labels, kinds = data.policy_labels(ds), data.kinds(ds)
    groups = []
    oracle = np.flatnonzero(kinds == "oracle")
    if len(oracle):
        groups.append(("oracle CCS", oracle, {"color": ORACLE_COLOUR, "size": 5, "symbol": "circle"}))
    learned = [k for k in dict.fromkeys(kinds) if k not in ("oracle", "classical")]
    for n, kind in enumerate(learned):
        groups.append(
            (
                kind,
                np.flatnonzero(kinds == kind),
                {"color": LEARNED_COLOURS[n % len(LEARNED_COLOURS)], "size": 8, "symbol": "circle"},
            )
        )
    for n, i in enumerate(np.flatnonzero(kinds == "classical")):
        groups.append(
            (
                labels[i],
                np.array([i]),
                {"color": CLASSICAL_COLOUR, "size": 10, "symbol": CLASSICAL_SYMBOLS[n % len(CLASSICAL_SYMBOLS)]},
            )
        )
    return groups


def front_figure(ds: xr.Dataset, scenario: str, selected: str) -> go.Figure:
    """One panel per pair of objectives (up to three pairs); hollow markers: dominated in the study;
    the last trace of each panel is the selected policy (moved by the glue)."""
    names, axis = data.objectives(ds), lambda o: data.axis_label(ds, o, width=60)
    mean, _ = data.values(ds, scenario)
    pairs = [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))][:3]
    fig = make_subplots(rows=1, cols=len(pairs), horizontal_spacing=0.08)
    texts, front = hover_text(ds, scenario), nondominated(ds, scenario)
    groups = _kind_groups(ds)
    selected_traces = []
    for col, (a, b) in enumerate(pairs, start=1):
        for name, rows, style in groups:
            symbols = [style["symbol"] + ("" if front[i] or name == "oracle CCS" else "-open") for i in rows]
            fig.add_trace(
                go.Scatter(
                    x=mean[rows, a],
                    y=mean[rows, b],
                    mode="markers",
                    name=name,
                    legendgroup=name,
                    showlegend=col == 1,
                    customdata=rows.tolist(),
                    text=[texts[i] for i in rows],
                    hovertemplate="%{text}<extra></extra>",
                    marker={
                        "color": style["color"],
                        "size": style["size"],
                        "symbol": symbols,
                        "line": {"width": 1, "color": style["color"]},
                    },
                ),
                row=1,
                col=col,
            )
        i = data.policy_labels(ds).index(selected)
        fig.add_trace(
            go.Scatter(
                x=[mean[i, a]],
                y=[mean[i, b]],
                mode="markers",
                name="selected",
                legendgroup="sel",
                showlegend=col == 1,
                hoverinfo="skip",
                marker={
                    "size": 20,
                    "symbol": "circle-open",
                    "color": SELECTED_COLOUR,
                    "line": {"width": 3, "color": SELECTED_COLOUR},
                },
            ),
            row=1,
            col=col,
        )
        selected_traces.append({"trace": len(fig.data) - 1, "x": a, "y": b})
        fig.update_xaxes(title_text=axis(names[a]), row=1, col=col)
        fig.update_yaxes(title_text=axis(names[b]), row=1, col=col)
    fig.update_layout(
        height=430,
        margin={"l": 60, "r": 20, "t": 30, "b": 60},
        template="plotly_white",
        legend={"orientation": "h", "y": -0.22, "x": 0.5, "xanchor": "center"},
        meta={"selected_traces": selected_traces},
    )
    return fig


def front_3d_figure(ds: xr.Dataset, scenario: str, selected: str) -> go.Figure:
    """A rotatable 3-D view of the first three objectives (hover: the policy's metrics)."""
    names = data.objectives(ds)[:3]
    mean, _ = data.values(ds, scenario)
    texts, front = hover_text(ds, scenario), nondominated(ds, scenario)
    fig = go.Figure()
    for name, rows, style in _kind_groups(ds):
        fig.add_trace(
            go.Scatter3d(
                x=mean[rows, 0],
                y=mean[rows, 1],
                z=mean[rows, 2],
                mode="markers",
                name=name,
                text=[texts[i] for i in rows],
                hovertemplate="%{text}<extra></extra>",
                marker={
                    "color": style["color"],
                    "size": style["size"] * 0.55,
                    "symbol": "circle"
                    if style["symbol"] not in ("square", "diamond", "cross", "x")
                    else style["symbol"],
                    "opacity": 1.0,
                    "line": {"width": 0},
                },
            )
        )
        if name != "oracle CCS":
            fig.data[-1].marker.color = [style["color"] if front[i] else "rgba(0,0,0,0)" for i in rows]
            fig.data[-1].marker.line = {"width": 2, "color": style["color"]}
    i = data.policy_labels(ds).index(selected)
    fig.add_trace(
        go.Scatter3d(
            x=[mean[i, 0]],
            y=[mean[i, 1]],
            z=[mean[i, 2]],
            mode="markers",
            name=f"selected: {selected}",
            hoverinfo="skip",
            marker={"size": 12, "color": "rgba(0,0,0,0)", "line": {"width": 4, "color": SELECTED_COLOUR}},
        )
    )
    axis = lambda o: {"title": {"text": data.axis_label(ds, o, width=80)}}  # noqa: E731
    fig.update_layout(
        height=600,
        template="plotly_white",
        margin={"l": 0, "r": 0, "t": 10, "b": 0},
        scene={
            "xaxis": axis(names[0]),
            "yaxis": axis(names[1]),
            "zaxis": axis(names[2]),
            "camera": {"eye": {"x": 1.6, "y": -1.6, "z": 0.9}},
        },
        legend={"x": 0.0, "y": 1.0},
    )
    return fig


def trajectory_figure() -> go.Figure:
    """Empty frame of the selected policy's sample episode (the glue fills it)."""
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.05, row_heights=[0.45, 0.275, 0.275])
    for name, colour, row in (
        ("mid", "black", 1),
        ("bid quote", "#1f77b4", 1),
        ("ask quote", "#d62728", 1),
        ("inventory", "#2ca02c", 2),
        ("wealth", "#9467bd", 3),
    ):
        fig.add_trace(
            go.Scatter(x=[], y=[], mode="lines", name=name, line={"color": colour, "width": 1.3}, connectgaps=False),
            row=row,
            col=1,
        )
    fig.update_yaxes(title_text="price [price units]", row=1, col=1)
    fig.update_yaxes(title_text="inventory [units]", row=2, col=1)
    fig.update_yaxes(title_text="wealth [price units]", row=3, col=1)
    fig.update_xaxes(title_text="time [model time units]", row=3, col=1)
    fig.update_layout(
        height=520,
        template="plotly_white",
        margin={"l": 70, "r": 20, "t": 30, "b": 50},
        legend={"orientation": "h", "y": 1.06, "x": 0},
    )
    return fig


def figure_div(fig: go.Figure, div_id: str) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=PLOTLY_CONFIG)


def _script_json(obj) -> str:
    return json.dumps(obj, allow_nan=False).replace("</", "<\\/")


def plotly_script() -> str:
    """plotly.js, inlined (the report loads nothing from the network)."""
    return f"<script>{get_plotlyjs()}</script>"


def chooser_html(ds: xr.Dataset, scenario: str, selection: Selection) -> str:
    """The chooser section (needs :func:`plotly_script` earlier in the page)."""
    e = html.escape
    names = data.objectives(ds)
    sliders = "".join(
        f'<div class="slider"><label for="w-{j}">{e(o)}</label> <input type="range" id="w-{j}" min="0" max="1" '
        f'step="0.01" data-index="{j}"> <output id="w-{j}-value"></output></div>'
        for j, o in enumerate(names)
    )
    options = "".join(f'<option value="{e(o)}">{e(o)}</option>' for o in names)
    glue = resources.files("morl_mm.plots").joinpath("chooser.js").read_text(encoding="utf-8")
    return f"""
<div id="chooser" class="chooser">
 <div class="controls">
  <p><label><input type="radio" name="mode" value="weights" id="mode-weights"> by preference weights</label>
     <label><input type="radio" name="mode" value="constraints" id="mode-constraints"> by constraints</label></p>
  <fieldset id="weights-panel"><legend>weights on normalised objectives (sum 1)</legend>{sliders}
   <p class="note">Moving one slider rescales the others so that the weights stay on the simplex.</p></fieldset>
  <fieldset id="constraints-panel"><legend>constraints (raw units)</legend>
   <p><label for="maximise">maximise</label> <select id="maximise">{options}</select></p>
   <div id="constraint-sliders"></div></fieldset>
 </div>
 <div class="choice">
  <p>Selected: <b id="selected-policy">{e(selection.label)}</b> <span id="selected-kind"></span></p>
  <p id="selection-criterion" class="note"></p>
  <p id="selection-error" class="error"></p>
  <div id="selected-card"></div>
 </div>
</div>
<p class="note">Filled markers: the Pareto set (non-dominated among every policy of the study in '{e(scenario)}');
hollow: dominated. Red ring: the selected policy. Black: the oracle's exact CCS.</p>
{figure_div(front_figure(ds, scenario, selection.label), "chooser-front")}
<h3>Sample episode of the selected policy (<span id="trajectory-label">{e(selection.label)}</span>)</h3>
<p id="trajectory-note" class="note"></p>
{figure_div(trajectory_figure(), "chooser-trajectory")}
<script type="application/json" id="chooser-data">{_script_json(payload(ds, scenario, selection))}</script>
<script>{glue}</script>
"""
