"""Trade-off plots of a study result and the report for a risk committee (matplotlib, Agg backend)."""

from morl_mm.plots.fronts import (
    front_3d_figure,
    fronts_2d_figure,
    hv_curve_figure,
    parallel_figure,
    render_all,
    training_curve_figure,
    trajectory_figure,
)
from morl_mm.plots.render import render_study
from morl_mm.plots.report import render_html, write_report

__all__ = [
    "front_3d_figure",
    "fronts_2d_figure",
    "hv_curve_figure",
    "parallel_figure",
    "render_all",
    "render_html",
    "render_study",
    "training_curve_figure",
    "trajectory_figure",
    "write_report",
]
