"""The report for a risk committee: one self-contained HTML file (figures embedded as base64 PNG,
plotly.js and the chooser's glue inlined, inline CSS, nothing loaded from the network) or, for a
``.pdf`` path, a PDF of the same content (matplotlib PdfPages, paginated by rows and columns).

Contents, in order: a summary of the selected policy (how it was chosen, objectives with 95% CIs,
metrics, its place on the front, the nearest classical strategy in risk, its behaviour in every
scenario); the Pareto set (non-dominated policies) in a sortable table; the interactive chooser
(weights or constraints, live, with the rule of ``ParetoSet.select`` / ``select_by_constraints``);
the trade-off figures and learning curves; front indicators; the normalisation; provenance; and
every policy of every scenario behind a disclosure element.
"""

from __future__ import annotations

import base64
import html
import io
import json
import textwrap
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.backends.backend_pdf import PdfPages

from morl_mm.atomic import atomic_output
from morl_mm.plots import chooser, data, summary
from morl_mm.plots.fronts import figures, plt
from morl_mm.plots.summary import Criterion, metric_header, number

CSS = """
body { font-family: Helvetica, Arial, sans-serif; max-width: 1150px; margin: 2em auto; padding: 0 1em; color: #222;
       line-height: 1.45; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: .8em 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; vertical-align: top; }
th { background: #f0f0f0; } td.text, th.text { text-align: left; } td.text { overflow-wrap: anywhere; }
td.text:nth-child(3) { overflow-wrap: normal; white-space: nowrap; }
table.sortable th { cursor: pointer; } table.sortable th[data-order=asc]::after { content: " \\25B2"; }
table.sortable th[data-order=desc]::after { content: " \\25BC"; }
table.compact { font-size: 12px; margin: .3em 0; }
.wide { overflow-x: auto; max-width: 100%; }
tr.selected td { background: #fde2e1; font-weight: bold; }
img { max-width: 100%; border: 1px solid #ddd; margin: .5em 0; }
.note { color: #555; font-size: 13px; } .error { color: #b00020; font-weight: bold; }
pre { background: #f6f6f6; padding: .6em; overflow-x: auto; font-size: 12px; }
.lead { font-size: 16px; background: #f7f7f7; border-left: 4px solid #d62728; padding: .5em .8em; }
.chooser { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
.chooser .controls { flex: 0 0 360px; } .chooser .choice { flex: 1 1 420px; min-width: 0; }
.chooser fieldset { border: 1px solid #ccc; margin: .4em 0; } .chooser fieldset[disabled] { opacity: .45; }
.slider { margin: .3em 0; font-size: 13px; } .slider input[type=range] { width: 150px; vertical-align: middle; }
#selected-policy { font-size: 18px; color: #d62728; }
details { margin: .6em 0; } summary { cursor: pointer; font-weight: bold; }
@media print {
  body { max-width: none; margin: 0; } .chooser .controls, .plotly-graph-div { display: none; }
  details > * { display: block; } table { page-break-inside: auto; } tr, img { break-inside: avoid; }
  thead { display: table-header-group; } .wide { overflow: visible; } h2, h3 { break-after: avoid; }
}
"""
INDICATOR_COLUMNS = (
    ("hv_ratio", "HV ratio"),
    ("hv_ratio_std", "HV ratio std (seeds)"),
    ("eum_ratio", "EUM ratio"),
    ("igd", "IGD"),
    ("cardinality", "front size"),
    ("env_steps", "env steps"),
    ("train_seconds", "train s"),
)
PARETO_METRICS = ("pnl_sharpe", "max_drawdown_mean")  # beside the objectives in the Pareto-set table
PDF_ROWS_PER_PAGE = 26


# -- content as data (shared by HTML and PDF) -------------------------------------------------------------
def provenance(ds: xr.Dataset) -> list[tuple[str, str]]:
    versions = data.json_attr(ds, "versions", {})
    versions_text = (
        ", ".join(f"{k} {v}" for k, v in versions.items() if v) if isinstance(versions, dict) else str(versions)
    )
    return [
        ("study", str(ds.attrs.get("name", "unnamed"))),
        ("git commit", str(ds.attrs.get("git_commit", "unknown"))),
        ("created", str(ds.attrs.get("created", "unknown"))),
        ("package versions", versions_text or "unknown"),
        ("policies", f"{ds.sizes['policy']} ({', '.join(f'{k}: {n}' for k, n in _kind_counts(ds).items())})"),
        ("scenarios", ", ".join(str(s) for s in ds["scenario"].values)),
    ]


def _kind_counts(ds: xr.Dataset) -> dict[str, int]:
    kinds = data.kinds(ds)
    return {k: int(np.sum(kinds == k)) for k in dict.fromkeys(kinds)}


def weights_explanation(ds: xr.Dataset) -> str:
    names = data.objectives(ds)
    example = ", ".join(["0.3"] * (len(names) - 1) + [f"{1 - 0.3 * (len(names) - 1):.1f}"])
    return (
        f"A preference weight w = (w_1, ..., w_{len(names)}) is non-negative and sums to 1. It ranks policies by "
        f"w · (J / scales): each objective J_i is divided by its scale before weighting, so the weights compare "
        f"objectives in like units, and w = ({example}) does not silently favour the objective with the "
        f"largest raw numbers. Every objective is maximised (risk enters as a negative number)."
    )


def policy_table(
    ds: xr.Dataset,
    scenario: str,
    with_metrics: bool = True,
    only_nondominated: bool = False,
    metrics: list[str] | None = None,
) -> tuple[list[str], list[list[str]]]:
    """Header and rows: label, kind, preference, objectives (mean ± CI), non-dominated flag, metrics
    (every metric, or ``metrics``); ``only_nondominated``: the Pareto set only, without the flag."""
    mean, ci = data.values(ds, scenario)
    if metrics is None:
        metrics = data.metric_variables(ds) if with_metrics else []
    front = summary.nondominated(ds, scenario)
    header = (
        ["policy", "kind", "preference"]
        + summary.objective_headers(ds)
        + ([] if only_nondominated else ["non-dominated"])
        + [metric_header(ds, m) for m in metrics]
    )
    metric_columns = [data.metric_values(ds, m, scenario) for m in metrics]
    rows = []
    for i, (label, kind) in enumerate(zip(data.policy_labels(ds), data.kinds(ds))):
        if only_nondominated and not front[i]:
            continue
        objectives = [
            number(mean[i, j]) + ("" if ci is None else f" ± {number(ci[i, j], 2)}") for j in range(mean.shape[1])
        ]
        rows.append(
            [
                label,
                kind,
                data.preference_text(ds, label),
                *objectives,
                *([] if only_nondominated else ["yes" if front[i] else "no"]),
                *[number(column[i]) for column in metric_columns],
            ]
        )
    return header, rows


def pareto_table(ds: xr.Dataset, scenario: str) -> tuple[list[str], list[list[str]]]:
    """The non-dominated policies with their objectives and a few headline metrics."""
    metrics = [m for m in PARETO_METRICS if m in data.metric_variables(ds)]
    return policy_table(ds, scenario, only_nondominated=True, metrics=metrics)


def indicator_table(ds: xr.Dataset) -> tuple[list[str], list[list[str]]] | None:
    stored = data.front_indicators(ds)
    if not stored:
        return None
    header = ["kind"] + [title for _, title in INDICATOR_COLUMNS]
    rows = [
        [str(kind)]
        + [
            number(values.get(key)) if isinstance(values.get(key), (int, float)) else "-"
            for key, _ in INDICATOR_COLUMNS
        ]
        for kind, values in stored.items()
    ]
    return header, rows


def selected_objectives(ds: xr.Dataset, label: str, scenario: str) -> list[list[str]]:
    names, units = data.objectives(ds), data.units(ds)
    mean, ci = data.values(ds, scenario)
    i = data.policy_labels(ds).index(label)
    return [
        [
            o,
            units[o] or "-",
            number(mean[i, j]),
            "-" if ci is None else f"± {number(ci[i, j], 2)}",
            "-" if ci is None else f"[{number(mean[i, j] - ci[i, j])}, {number(mean[i, j] + ci[i, j])}]",
        ]
        for j, o in enumerate(names)
    ]


def _criterion(selected: str | None, criterion: Criterion | None) -> Criterion:
    if selected is not None and criterion is not None:
        raise ValueError("give either a selected label or a selection criterion, not both")
    return Criterion(label=selected) if selected is not None else (criterion or Criterion())


def headline(ds: xr.Dataset, sel: summary.Selection, scenario: str) -> str:
    """One sentence: the selected policy, how it was chosen, its objectives."""
    mean, ci = data.values(ds, scenario)
    i = data.policy_labels(ds).index(sel.label)
    values = "; ".join(
        f"{o} {number(mean[i, j])}" + ("" if ci is None else f" ± {number(ci[i, j], 2)}")
        for j, o in enumerate(data.objectives(ds))
    )
    return f"Selected {sel.label} ({data.kinds(ds)[i]}), {sel.how}. In '{scenario}': {values}."


# -- HTML --------------------------------------------------------------------------------------------------
def html_table(
    header: list[str],
    rows: list[list[str]],
    highlight: str | None = None,
    text_columns: int = 1,
    titles: dict[str, str] | None = None,
    sortable: bool = False,
    wide: bool = False,
) -> str:
    titles = titles or {}
    cls = lambda j: ' class="text"' if j < text_columns else ""  # noqa: E731
    head = "".join(
        f'<th{cls(j)} title="{html.escape(titles.get(h, ""))}">{html.escape(h)}</th>' for j, h in enumerate(header)
    )
    body = "".join(
        f"<tr{' class=selected' if highlight is not None and r[0] == highlight else ''}>"
        + "".join(f"<td{cls(j)}>{html.escape(c)}</td>" for j, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    table = f"<table{' class=sortable' if sortable else ''}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="wide">{table}</div>' if wide else table


def _png_base64(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _img(fig, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{_png_base64(fig)}">'


def _summary_html(ds: xr.Dataset, sel: summary.Selection, scenario: str) -> list[str]:
    e = html.escape
    label = sel.label
    i = data.policy_labels(ds).index(label)
    parts = [
        "<h2>Summary: the policy selected for this report</h2>",
        f"<p><b>{e(label)}</b> (kind {e(data.kinds(ds)[i])}, preference {e(data.preference_text(ds, label))}), "
        f"selected {e(sel.how)}. (The chooser below selects live; this summary is the report's own choice: "
        "<code>morl-mm report --weights ...</code> or <code>--min-quoting-ratio ...</code> sets it.)</p>",
        f"<h3>Objectives in '{e(scenario)}' (mean, 95% confidence interval)</h3>",
        html_table(
            ["objective", "unit", "mean", "95% CI half-width", "95% CI"],
            selected_objectives(ds, label, scenario),
            text_columns=2,
        ),
    ]
    metric_rows = summary.metric_rows(ds, label, scenario)
    if metric_rows:
        parts += [
            f"<h3>Market-making metrics in '{e(scenario)}'</h3>",
            html_table(
                ["metric [unit]", "definition", "value"], [[m, d, v] for m, v, d in metric_rows], text_columns=2
            ),
            "<p class='note'>The study stores the metrics as estimates over all its episodes, without "
            "per-episode samples: they carry no confidence interval here (the objectives above do).</p>",
        ]
    parts += [
        "<h3>Where it sits on the front</h3>",
        "<ul>"
        + "".join(f"<li>{e(line)}</li>" for line in summary.front_position(ds, label, scenario, sel.weights))
        + "</ul>",
    ]
    other = summary.nearest_classical(ds, label, scenario)
    if other is not None:
        parts += [
            f"<h3>Against the classical strategy nearest in {e(summary.RISK_OBJECTIVE)}: {e(other)}</h3>",
            html_table(
                ["", label, other, "difference (± 95% CI)", "verdict"],
                summary.comparison_rows(ds, label, other, scenario),
                text_columns=1,
            ),
            "<p class='note'>Every objective is maximised: a positive difference is a gain. A difference "
            "within its 95% CI is not significant.</p>",
        ]
    parts += [
        "<h3>Behaviour in every scenario</h3>",
        html_table(summary.scenario_header(ds), summary.scenario_rows(ds, label), text_columns=1),
    ]
    return parts


def render_html(
    ds: xr.Dataset, selected: str | None = None, scenario: str = "base", criterion: Criterion | None = None
) -> str:
    """The report as one HTML string (no external references). ``selected`` (a label) or
    ``criterion`` (weights or constraints) chooses the featured policy; default: equal weights."""
    scenario = data.check_scenario(ds, scenario)
    sel = summary.select(ds, scenario, _criterion(selected, criterion))
    label = sel.label
    names, units, scales = data.objectives(ds), data.units(ds), data.scales(ds)
    figs = figures(ds, label, scenario)
    e = html.escape
    name = str(ds.attrs.get("name", "unnamed"))
    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{e(name)} — morl-mm report</title>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><style>{CSS}</style>"
        f"{chooser.plotly_script()}</head><body>",
        f"<h1>Market-making Pareto study: {e(name)}</h1>",
        f"<p class='lead'>{e(headline(ds, sel, scenario))}</p>",
    ]
    parts += _summary_html(ds, sel, scenario)

    header, rows = pareto_table(ds, scenario)
    titles = {metric_header(ds, m): str(ds[m].attrs.get("long_name", "")) for m in data.metric_variables(ds)}
    parts += [
        f"<h2>The Pareto set in '{e(scenario)}': {len(rows)} non-dominated of {ds.sizes['policy']} policies</h2>",
        "<p class='note'>Objectives: mean episode value ± 95% confidence half-width. Click a header to sort. "
        "The selected policy is highlighted. Every policy, with every metric, is in the tables at the end.</p>",
        html_table(header, rows, highlight=label, text_columns=3, titles=titles, sortable=True),
    ]

    parts += [
        "<h2>Choose a policy</h2>",
        "<p class='note'>Pick by preference weights (on the simplex) or by constraints (the largest objective "
        "subject to bounds), exactly as <code>morl-mm select</code> does over every policy of the scenario. "
        "Hover a point for its metrics; click one to select it. The link (URL fragment, e.g. "
        "<code>#weights=0.5,0.3,0.2</code> or <code>#maximise=pnl&amp;min_quoting_ratio=0.9&amp;max_inventory_risk=20"
        "</code>) keeps the choice.</p>",
        chooser.chooser_html(ds, scenario, sel),
    ]

    parts += [
        "<h2>Trade-offs</h2>",
        "<p class='note'>Black: the oracle CCS (exact optimum of the model). Colours: learned kinds "
        "(filled on their kind's front, hollow dominated). Brown markers: classical strategies. "
        "Red ring: the selected policy. Bars: 95% confidence intervals.</p>",
    ]
    if "fronts_2d" in figs:
        parts.append(_img(figs.pop("fronts_2d"), "2-D projections"))
    if "front_3d" in figs:
        plt.close(figs.pop("front_3d"))  # the HTML has the rotatable plotly view instead
        parts += [
            "<h3>3-D view (drag to rotate, hover for metrics)</h3>",
            chooser.figure_div(chooser.front_3d_figure(ds, scenario, label), "front-3d"),
        ]
    if "parallel" in figs:
        parts.append(_img(figs.pop("parallel"), "normalised objectives (parallel coordinates)"))
    if "learner_fronts" in figs:
        parts.append(_img(figs.pop("learner_fronts"), "each learner's front against the oracle CCS"))

    table = indicator_table(ds)
    if table is not None:
        parts += [
            "<h2>Front quality against the oracle CCS</h2>",
            html_table(*table),
            "<p class='note'>HV ratio: hypervolume of the kind's front over that of the oracle CCS (1 = exact). "
            "EUM ratio: expected utility over equally spaced weights relative to the CCS. IGD: inverted "
            "generational distance to the CCS on normalised objectives (0 = exact).</p>",
        ]
    for stem, title in (("hv_curve", "hypervolume ratio during training"), ("train_curve", "training return")):
        if stem in figs:
            parts += [f"<h3>Learning curve: {e(title)}</h3>", _img(figs.pop(stem), title)]
    for stem, fig in figs.items():
        if stem.startswith("trajectories_"):  # static: the chooser draws the selected policy's live
            plt.close(fig)
        else:  # e.g. simulation against replay
            parts += [f"<h3>{e(stem.replace('_', ' '))}</h3>", _img(fig, stem)]

    parts += [
        "<h2>Objectives, normalisation and weights</h2>",
        html_table(
            ["objective", "unit", "scale"],
            [[o, units[o] or "-", f"{s:.4g}"] for o, s in zip(names, scales)],
            text_columns=2,
        ),
        f"<p>{e(weights_explanation(ds))}</p>",
    ]
    if "scalarisation" in ds.attrs:
        parts.append(f"<p class='note'>Scales: {e(str(ds.attrs['scalarisation']))}</p>")
    if "hv_reference_point" in ds.attrs:
        ref = np.atleast_1d(data.json_attr(ds, "hv_reference_point"))
        parts.append(
            "<p class='note'>Hypervolume reference point (raw units): ("
            + ", ".join(f"{o} {number(float(r))}" for o, r in zip(names, ref))
            + ")</p>"
        )

    parts += ["<h2>Provenance</h2>", html_table(["item", "value"], provenance(ds), text_columns=2)]
    config = ds.attrs.get("config")
    if config:
        parts.append(f"<details><summary>study configuration</summary><pre>{e(str(config))}</pre></details>")

    parts.append("<h2>Every policy</h2>")
    for other in [scenario] + [str(s) for s in ds["scenario"].values if str(s) != scenario]:
        header, rows = policy_table(ds, other)
        parts.append(
            f"<details><summary>all {len(rows)} policies in scenario '{e(other)}', with every metric"
            f"</summary>"
            + html_table(header, rows, highlight=label, text_columns=3, titles=titles, sortable=True, wide=True)
            + "</details>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


# -- PDF ---------------------------------------------------------------------------------------------------
A4_LANDSCAPE = (11.69, 8.27)


def _text_page(title: str, lines: list[str]):
    fig = plt.figure(figsize=A4_LANDSCAPE)
    fig.text(0.05, 0.93, title, fontsize=16, weight="bold", va="top")
    wrapped = "\n".join(textwrap.fill(line, 130) if line else "" for line in lines)
    fig.text(0.05, 0.86, wrapped, fontsize=9.5, va="top", family="monospace")
    return fig


TABLE_AXES = (0.02, 0.02, 0.96, 0.88)  # where a table page's table goes (figure fraction)


def _draw_table(ax, header: list[str], rows: list[list[str]], highlight: str | None, text_columns: int):
    wrapped = [textwrap.fill(h, 18, break_long_words=False) for h in header]
    table = ax.table(cellText=rows, colLabels=wrapped, loc="upper center", cellLoc="right")
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    table.scale(1, 1.3)
    for (r, c), cell in table.get_celld().items():
        if r == 0:
            cell.set_height(cell.get_height() * 3.0)
            cell.set_facecolor("#f0f0f0")
        elif highlight is not None and rows[r - 1][0] == highlight:
            cell.set_facecolor("#fde2e1")
        if c < text_columns:
            cell.set_text_props(ha="left")
    table.auto_set_column_width(list(range(len(header))))
    return table


def _table_width(header: list[str], sample: list[str], text_columns: int) -> float:
    """Width of a table of ``header`` and one ``sample`` row, as a fraction of the page width."""
    fig = plt.figure(figsize=A4_LANDSCAPE)
    ax = fig.add_axes(TABLE_AXES)
    ax.axis("off")
    table = _draw_table(ax, header, [sample], None, text_columns)
    fig.canvas.draw()
    width = table.get_window_extent(fig.canvas.get_renderer()).width / fig.bbox.width
    plt.close(fig)
    return width


def _column_groups(header: list[str], rows: list[list[str]], text_columns: int) -> list[list[int]]:
    """Column indices per page: the text columns on every page, then as many others as fit the page
    (measured with the longest cell of each column)."""
    sample = [max((r[c] for r in rows), key=len, default="") for c in range(len(header))]
    groups, current = [], list(range(text_columns))
    for c in range(text_columns, len(header)):
        trial = current + [c]
        if (
            len(current) > text_columns
            and _table_width([header[k] for k in trial], [sample[k] for k in trial], text_columns) > TABLE_AXES[2]
        ):
            groups.append(current)
            current = list(range(text_columns)) + [c]
        else:
            current = trial
    return groups + [current]


def _table_pages(title: str, header: list[str], rows: list[list[str]], highlight: str | None, text_columns: int = 1):
    """A4 pages of a table: whole rows only (PDF_ROWS_PER_PAGE a page), columns split over pages so that
    none runs off the edge; the text columns (the label) repeat on every page."""
    groups = _column_groups(header, rows, text_columns)
    row_pages = max(-(-len(rows) // PDF_ROWS_PER_PAGE), 1)
    for g, columns in enumerate(groups):
        for p in range(row_pages):
            chunk = [[r[c] for c in columns] for r in rows[p * PDF_ROWS_PER_PAGE : (p + 1) * PDF_ROWS_PER_PAGE]]
            part = f" (columns {g + 1}/{len(groups)})" if len(groups) > 1 else ""
            page = (
                f", rows {p * PDF_ROWS_PER_PAGE + 1}-{p * PDF_ROWS_PER_PAGE + len(chunk)} of {len(rows)}"
                if row_pages > 1
                else ""
            )
            fig = plt.figure(figsize=A4_LANDSCAPE)
            fig.text(0.03, 0.96, title + part + page, fontsize=12, weight="bold", va="top")
            ax = fig.add_axes(TABLE_AXES)
            ax.axis("off")
            if chunk:
                _draw_table(ax, [header[c] for c in columns], chunk, highlight, text_columns)
            yield fig


def _summary_lines(ds: xr.Dataset, sel: summary.Selection, scenario: str) -> list[str]:
    label = sel.label
    i = data.policy_labels(ds).index(label)
    lines = [
        headline(ds, sel, scenario),
        "",
        f"Preference {data.preference_text(ds, label)}; kind {data.kinds(ds)[i]}.",
        "",
    ]
    lines += ["Objectives (mean, 95% CI):"] + [
        f"  {o} [{u}]: {m} {h}  {c}" for o, u, m, h, c in selected_objectives(ds, label, scenario)
    ]
    metric_rows = summary.metric_rows(ds, label, scenario)
    if metric_rows:
        lines += ["", "Market-making metrics (estimates over all episodes, no CI stored):"]
        lines += [f"  {m}: {v}" for m, v, _ in metric_rows]
    lines += ["", "Where it sits on the front:"] + [
        f"  {x}" for x in summary.front_position(ds, label, scenario, sel.weights)
    ]
    return lines


def write_pdf(
    ds: xr.Dataset, path: Path, selected: str | None = None, scenario: str = "base", criterion: Criterion | None = None
) -> Path:
    scenario = data.check_scenario(ds, scenario)
    sel = summary.select(ds, scenario, _criterion(selected, criterion))
    label = sel.label
    names, units, scales = data.objectives(ds), data.units(ds), data.scales(ds)
    figs = figures(ds, label, scenario)
    lines = [f"{k}: {v}" for k, v in provenance(ds)] + ["", "Objectives and normalisation scales:"]
    lines += [f"  {o} [{units[o] or '-'}]: scale {s:.4g}" for o, s in zip(names, scales)]
    lines += ["", weights_explanation(ds)]
    table = indicator_table(ds)
    if table is not None:
        lines += ["", "Front quality against the oracle CCS:"]
        lines += ["  " + "  ".join(f"{c:>12}" for c in row) for row in [table[0], *table[1]]]
    with atomic_output(path) as tmp, PdfPages(tmp) as pdf:

        def save(fig, tight: bool) -> None:  # A4 text and table pages as laid out; figures cropped to content
            pdf.savefig(fig, **({"bbox_inches": "tight"} if tight else {}))
            plt.close(fig)

        title = f"Market-making Pareto study: {ds.attrs.get('name', 'unnamed')}"
        save(_text_page(title + " — summary", _summary_lines(ds, sel, scenario)), False)
        other = summary.nearest_classical(ds, label, scenario)
        if other is not None:
            for page in _table_pages(
                f"{label} against the classical strategy nearest in {summary.RISK_OBJECTIVE}: {other}",
                ["", label, other, "difference (± 95% CI)", "verdict"],
                summary.comparison_rows(ds, label, other, scenario),
                None,
            ):
                save(page, False)
        for page in _table_pages(
            f"{label} in every scenario", summary.scenario_header(ds), summary.scenario_rows(ds, label), None
        ):
            save(page, False)
        for page in _table_pages(
            f"The Pareto set in '{scenario}' (non-dominated; mean ± 95% CI)",
            *pareto_table(ds, scenario),
            label,
            text_columns=3,
        ):
            save(page, False)
        for stem in ("fronts_2d", "front_3d", "parallel", "learner_fronts", "hv_curve", "train_curve"):
            if stem in figs:
                save(figs.pop(stem), True)
        for fig in figs.values():  # the selected policy's trajectories
            save(fig, True)
        save(_text_page(title + " — provenance and normalisation", lines), False)
        for other in [scenario] + [str(s) for s in ds["scenario"].values if str(s) != scenario]:
            for page in _table_pages(
                f"Every policy in scenario '{other}' (mean ± 95% CI; selected highlighted)",
                *policy_table(ds, other),
                label,
                text_columns=3,
            ):
                save(page, False)
        info = pdf.infodict()
        info["Title"] = f"morl-mm study {ds.attrs.get('name', '')}"
        info["Subject"] = json.dumps({"git_commit": str(ds.attrs.get("git_commit", "unknown"))})
    return path


def write_report(
    ds: xr.Dataset,
    path: str | Path,
    selected: str | None = None,
    scenario: str = "base",
    criterion: Criterion | None = None,
) -> Path:
    """Write the risk-committee report: HTML (one self-contained file) or PDF when ``path`` ends in .pdf.

    ``selected``: the policy label to feature, or ``criterion``: weights or constraints to select it by
    (default: the best equal-weight policy, stated as such); ``scenario``: the scenario of the fronts,
    the Pareto set and the chooser. Raises ``ValueError`` for an unknown label or scenario, bad weights,
    or infeasible constraints.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".pdf":
        return write_pdf(ds, path, selected, scenario, criterion)
    text = render_html(ds, selected, scenario, criterion)
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
