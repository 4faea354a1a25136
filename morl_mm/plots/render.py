"""Everything a finished study renders: its figures, the robust front's figure, and the HTML report."""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from morl_mm.plots.fronts import render_all
from morl_mm.plots.report import write_report
from morl_mm.plots.robustness import robust_front_figure
from morl_mm.plots.style import save_png


def render_study(ds: xr.Dataset, out: str | Path, robust: xr.Dataset | None = None) -> list[Path]:
    """Write ``out/figures/*.png`` (with ``robust``, a study's ``robust.nc``, also ``robust_front.png``) and
    ``out/report.html`` for the study dataset ``ds``; returns the paths written."""
    out = Path(out)
    paths = render_all(ds, out / "figures")
    if robust is not None:
        paths.append(save_png(robust_front_figure(robust, ds), out / "figures" / "robust_front.png"))
    paths.append(write_report(ds, out / "report.html"))
    return paths
