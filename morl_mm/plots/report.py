"""The report for a risk committee: one self-contained HTML file (figures embedded as base64 PNG, inline
CSS, no external assets) or, for a ``.pdf`` path, a PDF of the same content (matplotlib PdfPages).

Contents: study name and provenance, the normalisation scales and what preference weights mean,
the selected policy, the fronts, per-kind front indicators (HV ratio against the oracle CCS) when
stored, a table per policy of objectives (mean ± 95% CI) and market-making metrics with units,
held-out scenarios, and the selected policy's sample episodes.
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

from morl_mm.atomic import atomic_output
from morl_mm.plots import data
from morl_mm.plots.fronts import figures, plt

CSS = """
body { font-family: Helvetica, Arial, sans-serif; max-width: 1150px; margin: 2em auto; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: .8em 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; }
th { background: #f0f0f0; } td.text, th.text { text-align: left; }
tr.selected td { background: #fde2e1; font-weight: bold; }
img { max-width: 100%; border: 1px solid #ddd; margin: .5em 0; }
.note { color: #555; font-size: 13px; } pre { background: #f6f6f6; padding: .6em; overflow-x: auto; font-size: 12px; }
"""
INDICATOR_COLUMNS = (("hv_ratio", "HV ratio"), ("hv_ratio_std", "HV ratio std (seeds)"), ("eum_ratio", "EUM ratio"),
                     ("igd", "IGD"), ("cardinality", "front size"), ("env_steps", "env steps"),
                     ("train_seconds", "train s"))
PDF_ROWS_PER_PAGE = 28


# -- content as data (shared by HTML and PDF) -------------------------------------------------------------
def _number(x: float, digits: int = 4) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:.{digits}g}"


def provenance(ds: xr.Dataset) -> list[tuple[str, str]]:
    versions = data.json_attr(ds, "versions", {})
    versions_text = ", ".join(f"{k} {v}" for k, v in versions.items() if v) if isinstance(versions, dict) else str(versions)
    return [("study", str(ds.attrs.get("name", "unnamed"))),
            ("git commit", str(ds.attrs.get("git_commit", "unknown"))),
            ("created", str(ds.attrs.get("created", "unknown"))),
            ("package versions", versions_text or "unknown"),
            ("policies", f"{ds.sizes['policy']} ({', '.join(f'{k}: {n}' for k, n in _kind_counts(ds).items())})"),
            ("scenarios", ", ".join(str(s) for s in ds["scenario"].values))]


def _kind_counts(ds: xr.Dataset) -> dict[str, int]:
    kinds = data.kinds(ds)
    return {k: int(np.sum(kinds == k)) for k in dict.fromkeys(kinds)}


def weights_explanation(ds: xr.Dataset) -> str:
    names = data.objectives(ds)
    example = ", ".join(["0.3"] * (len(names) - 1) + [f"{1 - 0.3 * (len(names) - 1):.1f}"])
    return (f"A preference weight w = (w_1, ..., w_{len(names)}) is non-negative and sums to 1. It ranks policies by "
            f"w · (J / scales): each objective J_i is divided by its scale before weighting, so the weights compare "
            f"objectives in like units, and w = ({example}) does not silently favour the objective with the "
            f"largest raw numbers. Every objective is maximised (risk enters as a negative number).")


def policy_table(ds: xr.Dataset, scenario: str, with_metrics: bool = True) -> tuple[list[str], list[list[str]]]:
    """Header and rows: label, kind, preference, objectives (mean ± CI), non-dominated flag, metrics."""
    names, units = data.objectives(ds), data.units(ds)
    mean, ci = data.values(ds, scenario)
    metrics = data.metric_variables(ds) if with_metrics else []
    nondominated = (ds["nondominated"].sel(scenario=scenario).values.astype(bool)
                    if "nondominated" in ds else data.front_members(ds, scenario))
    header = (["policy", "kind", "preference"] + [f"{o} [{units[o]}]" if units[o] else o for o in names]
              + ["non-dominated"] + [_metric_header(ds, m) for m in metrics])
    metric_columns = [data.metric_values(ds, m, scenario) for m in metrics]
    rows = []
    for i, (label, kind) in enumerate(zip(data.policy_labels(ds), data.kinds(ds))):
        objectives = [_number(mean[i, j]) + ("" if ci is None else f" ± {_number(ci[i, j], 2)}")
                      for j in range(len(names))]
        rows.append([label, kind, data.preference_text(ds, label), *objectives, "yes" if nondominated[i] else "no",
                     *[_number(column[i]) for column in metric_columns]])
    return header, rows


def _metric_header(ds: xr.Dataset, name: str) -> str:
    unit = str(ds[name].attrs.get("units", ""))
    return f"{name} [{unit}]" if unit else name


def indicator_table(ds: xr.Dataset) -> tuple[list[str], list[list[str]]] | None:
    stored = data.front_indicators(ds)
    if not stored:
        return None
    header = ["kind"] + [title for _, title in INDICATOR_COLUMNS]
    rows = [[str(kind)] + [_number(values.get(key)) if isinstance(values.get(key), (int, float)) else "-"
                           for key, _ in INDICATOR_COLUMNS] for kind, values in stored.items()]
    return header, rows


def selection(ds: xr.Dataset, selected: str | None, scenario: str) -> tuple[str, str]:
    """The selected label and how it was chosen."""
    if selected is not None:
        return data.check_policy(ds, selected), "chosen by the principal"
    d = len(data.objectives(ds))
    return (data.default_selection(ds, scenario),
            f"none given: the best equal-weight policy (w = 1/{d} each on normalised objectives) in '{scenario}'")


# -- HTML --------------------------------------------------------------------------------------------------
def _html_table(header: list[str], rows: list[list[str]], highlight: str | None = None, text_columns: int = 1,
                titles: dict[str, str] | None = None) -> str:
    titles = titles or {}
    cls = lambda j: ' class="text"' if j < text_columns else ""  # noqa: E731
    head = "".join(f'<th{cls(j)} title="{html.escape(titles.get(h, ""))}">{html.escape(h)}</th>'
                   for j, h in enumerate(header))
    body = "".join(
        f'<tr{" class=selected" if highlight is not None and r[0] == highlight else ""}>'
        + "".join(f"<td{cls(j)}>{html.escape(c)}</td>" for j, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _png_base64(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _img(fig, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{_png_base64(fig)}">'


def render_html(ds: xr.Dataset, selected: str | None = None, scenario: str = "base") -> str:
    """The report as one HTML string (no external references)."""
    scenario = data.check_scenario(ds, scenario)
    label, how = selection(ds, selected, scenario)
    names, units, scales = data.objectives(ds), data.units(ds), data.scales(ds)
    figs = figures(ds, label, scenario)
    e = html.escape
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(str(ds.attrs.get('name', 'study')))}"
             f" — morl-mm report</title><style>{CSS}</style></head><body>",
             f"<h1>Market-making Pareto study: {e(str(ds.attrs.get('name', 'unnamed')))}</h1>",
             "<h2>Provenance</h2>", _html_table(["item", "value"], provenance(ds), text_columns=2)]
    config = ds.attrs.get("config")
    if config:
        parts.append(f"<details><summary>study configuration</summary><pre>{e(str(config))}</pre></details>")

    parts += ["<h2>Objectives, normalisation and weights</h2>",
              _html_table(["objective", "unit", "scale"], [[o, units[o] or "-", f"{s:.4g}"] for o, s in zip(names, scales)],
                          text_columns=2),
              f"<p>{e(weights_explanation(ds))}</p>"]
    if "scalarisation" in ds.attrs:
        parts.append(f"<p class='note'>Scales: {e(str(ds.attrs['scalarisation']))}</p>")
    if "hv_reference_point" in ds.attrs:
        ref = np.atleast_1d(data.json_attr(ds, "hv_reference_point"))
        parts.append("<p class='note'>Hypervolume reference point (raw units): ("
                     + ", ".join(f"{o} {_number(float(r))}" for o, r in zip(names, ref)) + ")</p>")

    index = data.policy_labels(ds).index(label)
    mean, ci = data.values(ds, scenario)
    values_text = "; ".join(f"{o} = {_number(mean[index, j])}" + ("" if ci is None else f" ± {_number(ci[index, j], 2)}")
                            for j, o in enumerate(names))
    parts += ["<h2>Selected policy</h2>",
              f"<p><b>{e(label)}</b> (kind {e(data.kinds(ds)[index])}, preference "
              f"{e(data.preference_text(ds, label))}): {e(how)}.<br>In '{e(scenario)}': {e(values_text)}.</p>"]

    parts += ["<h2>Trade-offs</h2>",
              "<p class='note'>Black: the oracle CCS (exact optimum of the model). Colours: learned kinds "
              "(filled on their kind's front, hollow dominated). Brown markers: classical strategies. "
              "Red ring: the selected policy. Bars: 95% confidence intervals.</p>"]
    for stem, title in (("fronts_2d", "2-D projections"), ("front_3d", "3-D view"),
                        ("parallel", "normalised objectives (parallel coordinates)")):
        if stem in figs:
            parts.append(_img(figs.pop(stem), title))

    table = indicator_table(ds)
    if table is not None:
        parts += ["<h2>Front quality against the oracle CCS</h2>", _html_table(*table),
                  "<p class='note'>HV ratio: hypervolume of the kind's front over that of the oracle CCS (1 = exact). "
                  "EUM ratio: expected utility over equally spaced weights relative to the CCS. IGD: inverted "
                  "generational distance to the CCS on normalised objectives (0 = exact).</p>"]
    for stem, title in (("hv_curve", "hypervolume ratio during training"), ("train_curve", "training return")):
        if stem in figs:
            parts += [f"<h3>Learning curve: {e(title)}</h3>", _img(figs.pop(stem), title)]

    header, rows = policy_table(ds, scenario)
    titles = {_metric_header(ds, m): str(ds[m].attrs.get("long_name", "")) for m in data.metric_variables(ds)}
    parts += [f"<h2>Policies in scenario '{e(scenario)}'</h2>",
              "<p class='note'>Objectives: mean episode value ± 95% confidence half-width. The selected policy is "
              "highlighted; hover a metric header for its definition.</p>",
              _html_table(header, rows, highlight=label, text_columns=3, titles=titles)]
    for other in (str(s) for s in ds["scenario"].values):
        if other != scenario:
            parts += [f"<h3>Held-out scenario '{e(other)}'</h3>",
                      _html_table(*policy_table(ds, other), highlight=label, text_columns=3, titles=titles)]

    for stem in list(figs):  # the selected policy's trajectories
        parts += [f"<h2>Sample episodes of {e(label)}</h2>", _img(figs.pop(stem), f"trajectories of {label}")]
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


def _table_pages(title: str, header: list[str], rows: list[list[str]], highlight: str | None):
    wrapped = [textwrap.fill(h, 14, break_long_words=False) for h in header]
    for start in range(0, max(len(rows), 1), PDF_ROWS_PER_PAGE):
        chunk = rows[start:start + PDF_ROWS_PER_PAGE]
        fig = plt.figure(figsize=A4_LANDSCAPE)
        fig.text(0.03, 0.96, title, fontsize=13, weight="bold", va="top")
        ax = fig.add_axes((0.02, 0.02, 0.96, 0.88))
        ax.axis("off")
        if chunk:
            table = ax.table(cellText=chunk, colLabels=wrapped, loc="upper center", cellLoc="right")
            table.auto_set_font_size(False)
            table.set_fontsize(6.5)
            table.scale(1, 1.25)
            for (r, _), cell in table.get_celld().items():
                if r == 0:
                    cell.set_height(cell.get_height() * 3.2)
                    cell.set_facecolor("#f0f0f0")
                elif highlight is not None and chunk[r - 1][0] == highlight:
                    cell.set_facecolor("#fde2e1")
            table.auto_set_column_width(list(range(len(header))))
        yield fig


def write_pdf(ds: xr.Dataset, path: Path, selected: str | None = None, scenario: str = "base") -> Path:
    from matplotlib.backends.backend_pdf import PdfPages

    scenario = data.check_scenario(ds, scenario)
    label, how = selection(ds, selected, scenario)
    names, units, scales = data.objectives(ds), data.units(ds), data.scales(ds)
    figs = figures(ds, label, scenario)
    lines = [f"{k}: {v}" for k, v in provenance(ds)] + ["", "Objectives and normalisation scales:"]
    lines += [f"  {o} [{units[o] or '-'}]: scale {s:.4g}" for o, s in zip(names, scales)]
    lines += ["", weights_explanation(ds), "", f"Selected policy: {label} ({how}); preference "
              f"{data.preference_text(ds, label)}"]
    table = indicator_table(ds)
    if table is not None:
        lines += ["", "Front quality against the oracle CCS:"]
        lines += ["  " + "  ".join(f"{c:>12}" for c in row) for row in [table[0], *table[1]]]
    with atomic_output(path) as tmp, PdfPages(tmp) as pdf:
        def save(fig, tight: bool) -> None:  # A4 text and table pages as laid out; figures cropped to content
            pdf.savefig(fig, **({"bbox_inches": "tight"} if tight else {}))
            plt.close(fig)

        save(_text_page(f"Market-making Pareto study: {ds.attrs.get('name', 'unnamed')}", lines), False)
        for stem in ("fronts_2d", "front_3d", "parallel", "hv_curve", "train_curve"):
            if stem in figs:
                save(figs.pop(stem), True)
        for other in [scenario] + [str(s) for s in ds["scenario"].values if str(s) != scenario]:
            for page in _table_pages(f"Policies in scenario '{other}' (mean ± 95% CI; selected highlighted)",
                                     *policy_table(ds, other), label):
                save(page, False)
        for fig in figs.values():  # the selected policy's trajectories
            save(fig, True)
        info = pdf.infodict()
        info["Title"] = f"morl-mm study {ds.attrs.get('name', '')}"
        info["Subject"] = json.dumps({"git_commit": str(ds.attrs.get("git_commit", "unknown"))})
    return path


def write_report(ds: xr.Dataset, path: str | Path, selected: str | None = None, scenario: str = "base") -> Path:
    """Write the risk-committee report: HTML (one self-contained file) or PDF when ``path`` ends in .pdf.

    ``selected``: the policy label to highlight (default: the best equal-weight policy, stated as
    such); ``scenario``: the scenario of the fronts and the main table. Raises ``ValueError`` for
    an unknown label or scenario.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".pdf":
        return write_pdf(ds, path, selected, scenario)
    text = render_html(ds, selected, scenario)
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
