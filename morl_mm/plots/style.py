"""The look shared by every figure (matplotlib off-screen, fonts, colours, markers), the oracle's 2-D
drawing, and PNG output. The figure modules import it; it imports none of them."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no screen

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from morl_mm.atomic import atomic_output  # noqa: E402
from morl_mm.pareto import indicators as ind  # noqa: E402

DPI = 150
ORACLE_COLOUR = "black"
CLASSICAL_COLOUR = "#8c564b"
SELECTED_COLOUR = "#d62728"
LEARNED_COLOURS = ("#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#17becf", "#e377c2", "#bcbd22", "#7f7f7f")
CLASSICAL_MARKERS = ("s", "D", "^", "v", "P", "X", "<", ">", "p", "h", "*", "d")
plt.rcParams.update({"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "legend.fontsize": 9})


def oracle_2d(ax, points: np.ndarray) -> None:
    """The oracle points, and the 2-D non-dominated part of their projection as a line."""
    if len(points) == 0:
        return
    ax.scatter(points[:, 0], points[:, 1], s=14, color=ORACLE_COLOUR, zorder=2)
    front = points[ind.nondominated_mask(points)]
    front = front[np.argsort(front[:, 0])]
    ax.plot(front[:, 0], front[:, 1], color=ORACLE_COLOUR, linewidth=1.3, zorder=2)


def safe_filename(label: str) -> str:
    """A file-name-safe form of a policy label."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", label)


def save_png(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as a PNG (atomically; the folder is created) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=DPI, bbox_inches="tight", format="png")
    plt.close(fig)
    return path
