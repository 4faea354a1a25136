"""Plots and the risk-committee report render from a study Dataset laid out as in DATASET.md."""

import json

import numpy as np
import pytest
import xarray as xr
from plotly.offline import get_plotlyjs
from scipy import stats

from morl_mm.env.objectives import UNITS
from morl_mm.pareto import indicators as ind
from morl_mm.plots import (
    data,
    front_3d_figure,
    fronts_2d_figure,
    hv_curve_figure,
    parallel_figure,
    render_all,
    render_html,
    trajectory_figure,
    write_report,
)

OBJECTIVES = ("pnl", "inventory_risk", "quoting_ratio")
SCALES = (67.8, 98.2, 1.0)
# front of the synthetic model: objective = low + (high - low) * u with u on the positive unit sphere octant
LOW, HIGH = np.array([10.0, -95.0, 0.3]), np.array([65.0, -2.0, 1.0])
METRICS = {  # name -> (units, long name)
    "pnl_sharpe": ("1", "Sharpe ratio of episode PnL across episodes"),
    "max_drawdown_mean": ("price units", "mean over episodes of the maximum drawdown"),
    "mean_abs_inventory": ("units", "time average of the absolute inventory"),
    "realized_spread_mean": ("price units per unit traded", "realized spread, volume-weighted"),
    "fill_rate_bid": ("fills per unit time", "bid fill events per unit of model time"),
}


def _direction(weight, shrink):
    return LOW + (HIGH - LOW) * shrink * weight / np.linalg.norm(weight)


def example_study_dataset(seed: int = 0, samples: int = 12, steps: int = 200, checkpoints: int = 8) -> xr.Dataset:
    """A small synthetic study result following DATASET.md: an oracle CCS, two learned kinds, classical strategies."""
    rng = np.random.default_rng(seed)
    oracle_weights = ind.simplex_weights(3, 4)  # 15 weights
    learned_weights = ind.simplex_weights(3, 2)  # 6 weights
    labels, kinds, preferences, means = [], [], [], []
    for i, w in enumerate(oracle_weights):
        labels.append(f"oracle_{i:02d}"), kinds.append("oracle"), preferences.append(w)
        means.append(_direction(w + 1e-3, 1.0))
    for kind, shrink in (("ppo", 0.93), ("dqn", 0.84)):
        for w in learned_weights:
            labels.append(f"{kind}_w" + "_".join(f"{x:.2f}" for x in w)), kinds.append(kind), preferences.append(w)
            means.append(_direction(w + 0.05, shrink * rng.uniform(0.94, 1.0)))
    for name, direction, shrink in (
        ("as_gamma0.01", (0.8, 0.2, 0.5), 0.86),
        ("as_gamma0.1", (0.5, 0.6, 0.5), 0.88),
        ("glft", (0.6, 0.5, 0.4), 0.9),
        ("fixed_spread_0.7", (0.4, 0.3, 0.9), 0.8),
    ):
        labels.append(name), kinds.append("classical"), preferences.append(np.full(3, np.nan))
        means.append(_direction(np.array(direction), shrink))
    means = np.array(means)
    spread = np.array([4.0, 6.0, 0.02])
    base = means[:, None, :] + spread * rng.standard_normal((len(labels), samples, 3))
    volatile = base * np.array([0.9, 2.2, 0.95]) + np.array([0.0, -5.0, 0.0])
    returns = np.stack([base, volatile])  # (scenario, policy, sample, objective)
    value = returns.mean(axis=2)
    ci = stats.t.ppf(0.975, samples - 1) * returns.std(axis=2, ddof=1) / np.sqrt(samples)
    kinds_arr = np.array(kinds)
    front_member = np.zeros_like(value[..., 0], dtype=bool)
    for s in range(2):
        for k in dict.fromkeys(kinds):
            rows = np.flatnonzero(kinds_arr == k)
            front_member[s, rows] = ind.nondominated_mask(value[s, rows], keep_duplicates=True)
    nondominated = np.stack([ind.nondominated_mask(v, keep_duplicates=True) for v in value])

    dt, episodes, n = 0.005, 3, len(labels)
    time = np.arange(1, steps + 1) * dt
    mid = 100.0 + np.cumsum(2.0 * np.sqrt(dt) * rng.standard_normal((n, episodes, steps)), axis=-1)
    inventory = np.clip(np.cumsum(rng.choice([-1, 0, 0, 0, 1], size=(n, episodes, steps)), axis=-1), -10, 10)
    cash = -np.cumsum(np.diff(inventory, axis=-1, prepend=0) * mid, axis=-1) + 0.7 * np.abs(
        np.diff(inventory, axis=-1, prepend=0)
    ).cumsum(axis=-1)
    depth = 0.7 + 0.1 * rng.standard_normal((n, episodes, steps))
    bid, ask = mid - depth, mid + depth
    bid[inventory >= 10], ask[inventory <= -10] = np.nan, np.nan
    bid[:, :, 120:135] = np.nan  # a withdrawn stretch: gaps in the quote lines

    learners = ["ppo", "dqn"]
    env_steps = np.tile(np.linspace(2e4, 1.6e5, checkpoints), (2, 1))
    progress = 1 - np.exp(-np.arange(1, checkpoints + 1) / 3)
    hv_curve = np.stack([0.95 * progress, 0.85 * progress]) + 0.01 * rng.standard_normal((2, checkpoints))

    scenario_policy = ("scenario", "policy")
    metrics = {
        name: (scenario_policy, rng.uniform(0.1, 3.0, (2, n)), {"units": u, "long_name": ln})
        for name, (u, ln) in METRICS.items()
    }
    ds = xr.Dataset(
        {
            "value": (("scenario", "policy", "objective"), value),
            "ci": (("scenario", "policy", "objective"), ci),
            "returns": (("scenario", "policy", "sample", "objective"), returns),
            "preference": (("policy", "objective"), np.array(preferences)),
            "nondominated": (scenario_policy, nondominated),
            "front_member": (scenario_policy, front_member),
            **metrics,
            "pnl_quantile": (("scenario", "policy", "quantile"), rng.normal(size=(2, n, 3)), {"units": "price units"}),
            "traj_mid": (("policy", "traj_episode", "time"), mid),
            "traj_bid": (("policy", "traj_episode", "time"), bid),
            "traj_ask": (("policy", "traj_episode", "time"), ask),
            "traj_inventory": (("policy", "traj_episode", "time"), inventory.astype(float)),
            "traj_wealth": (("policy", "traj_episode", "time"), cash + inventory * mid),
            "hv_ratio_curve": (("learner", "checkpoint"), hv_curve),
        },
        coords={
            "scenario": ["base", "volatile"],
            "policy": labels,
            "kind": ("policy", kinds),
            "objective": list(OBJECTIVES),
            "time": time,
            "quantile": [0.05, 0.5, 0.95],
            "learner": learners,
            "env_steps": (("learner", "checkpoint"), env_steps),
        },
        attrs={
            "name": "synthetic_as2008",
            "config": '[study]\nname = "synthetic_as2008"\nseed = 0\n',
            "objectives": list(OBJECTIVES),
            "scales": list(SCALES),
            "units": json.dumps({o: UNITS[o] for o in OBJECTIVES}),
            "hv_reference_point": (value[0].min(axis=0) - 1.0).tolist(),
            "indicators": json.dumps(
                {
                    "ppo": {"hv_ratio": 0.91, "eum_ratio": 0.97, "igd": 0.05, "cardinality": 6},
                    "dqn": {"hv_ratio": 0.8, "eum_ratio": 0.93, "igd": 0.11, "cardinality": 5},
                }
            ),
            "versions": json.dumps({"morl-mm": "0.1.0", "jax": "0.10.0"}),
            "git_commit": "0123abcd",
            "created": "2026-11-24T18:00:00+00:00",
        },
    )
    return ds


@pytest.fixture(scope="module")
def study():
    return example_study_dataset()


def _assert_png(path):
    assert path.is_file() and path.stat().st_size > 10_000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_render_all_writes_every_figure(study, tmp_path):
    paths = render_all(study, tmp_path, selected="ppo_w0.50_0.50_0.00")
    names = sorted(p.name for p in paths)
    assert names == sorted(
        [
            "fronts_2d.png",
            "front_3d.png",
            "parallel.png",
            "hv_curve.png",
            "robustness.png",
            "trajectories_ppo_w0.50_0.50_0.00.png",
        ]
    )
    for path in paths:
        _assert_png(path)


def test_the_2d_fronts_plot_every_policy_where_its_values_are(study):
    """What the figure shows, not only that a PNG was written: each panel's markers are the policies' mean
    values of its two objectives (and the scenario's, not another's)."""
    import matplotlib.pyplot as plt
    from matplotlib.collections import PathCollection

    for scenario in ("base", "volatile"):
        fig = fronts_2d_figure(study, scenario)
        mean = study["value"].sel(scenario=scenario).values
        panels = [ax for ax in fig.axes if ax.get_visible() and ax.collections]
        assert len(panels) == 3
        for ax, (i, j) in zip(panels, [(0, 1), (0, 2), (1, 2)]):
            shown = np.concatenate([c.get_offsets() for c in ax.collections if isinstance(c, PathCollection)])
            for point in mean[:, [i, j]]:
                assert np.min(np.abs(shown - point).max(axis=1)) < 1e-9, (scenario, i, j, point)
            assert np.min(shown[:, 0]) == pytest.approx(mean[:, i].min())  # no marker outside the data
            assert np.max(shown[:, 1]) == pytest.approx(mean[:, j].max())
        plt.close(fig)


def test_render_all_defaults_to_the_equal_weight_policy(study, tmp_path):
    mean = study["value"].sel(scenario="base").values
    best = data.policy_labels(study)[int(np.argmax((mean / np.array(SCALES)).mean(axis=1)))]
    paths = render_all(study, tmp_path)
    assert tmp_path / f"trajectories_{best}.png" in paths


def test_html_report_is_self_contained_and_complete(study, tmp_path):
    path = write_report(study, tmp_path / "report.html", selected="dqn_w0.00_0.50_0.50")
    text = path.read_text()
    assert path.stat().st_size > 50_000
    assert get_plotlyjs() in text  # inlined once: the chooser and the 3-D view work offline
    own = text.replace(get_plotlyjs(), "")  # the library's own strings name its web site and map tiles
    assert 'src="http' not in own and 'href="http' not in own and "<link" not in own
    assert own.count("<script") == 6  # plotly.js, 3 plotly figures (fronts, 3-D, trajectory), data, glue
    assert own.count('src="data:image/png;base64,') == 4  # 2-D fronts, parallel coordinates, HV curve, robustness
    assert "dqn_w0.00_0.50_0.50" in text and '<tr class=selected><td class="text">dqn_w0.00_0.50_0.50' in text
    assert 'id="selected-policy">dqn_w0.00_0.50_0.50<' in text and "<details>" in text
    for name in (*METRICS, *OBJECTIVES, "0123abcd", "synthetic_as2008", "volatile", "67.8", "HV ratio", "0.91"):
        assert name in text, name
    assert "pnl_quantile" not in text  # not a per-policy scalar: left out of the table


def test_pdf_report(study, tmp_path):
    path = write_report(study, tmp_path / "report.pdf", selected="glft")
    assert path.read_bytes()[:5] == b"%PDF-" and path.stat().st_size > 50_000


def test_report_after_a_netcdf_round_trip_with_study_runner_names(study, tmp_path):
    """As study.dataset writes it: a training-return curve instead of hv_ratio_curve, no front_member."""
    ds = study.drop_vars(["front_member"]).rename({"hv_ratio_curve": "train_curve_return"})
    ds.to_netcdf(tmp_path / "study.nc", engine="h5netcdf")
    with xr.open_dataset(tmp_path / "study.nc", engine="h5netcdf") as loaded:
        loaded = loaded.load()
    paths = render_all(loaded, tmp_path / "figures")
    assert {"train_curve.png", "fronts_2d.png"} <= {p.name for p in paths}
    text = write_report(loaded, tmp_path / "report.html").read_text()
    assert "by equal weights" in text and "training return" in text


def test_front_members_computed_per_kind_when_absent(study):
    computed = data.front_members(study.drop_vars("front_member"), "volatile")
    np.testing.assert_array_equal(computed, study["front_member"].sel(scenario="volatile").values)


@pytest.mark.parametrize(
    "make",
    [
        lambda ds: fronts_2d_figure(ds, selected="nope"),
        lambda ds: front_3d_figure(ds, selected="nope"),
        lambda ds: parallel_figure(ds, selected="nope"),
        lambda ds: trajectory_figure(ds, "nope"),
        lambda ds: render_all(ds, "unused", selected="nope"),
        lambda ds: render_html(ds, selected="nope"),
    ],
)
def test_unknown_policy_label_is_a_value_error(study, make):
    with pytest.raises(ValueError, match="unknown policy label 'nope'.*oracle_00"):
        make(study)


@pytest.mark.parametrize(
    "make",
    [
        lambda ds: fronts_2d_figure(ds, scenario="calm"),
        lambda ds: front_3d_figure(ds, scenario="calm"),
        lambda ds: parallel_figure(ds, scenario="calm"),
        lambda ds: render_html(ds, scenario="calm"),
    ],
)
def test_unknown_scenario_is_a_value_error(study, make):
    with pytest.raises(ValueError, match="unknown scenario 'calm'.*'base', 'volatile'"):
        make(study)


def test_missing_curve_and_bad_episode_are_value_errors(study):
    with pytest.raises(ValueError, match="hv_ratio_curve"):
        hv_curve_figure(study.drop_vars("hv_ratio_curve"))
    with pytest.raises(ValueError, match="episode 3 out of range"):
        trajectory_figure(study, "glft", episode=3)


def _overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


@pytest.mark.parametrize("make", [fronts_2d_figure, front_3d_figure])
def test_figure_legends_cover_no_axis_label(study, make):
    """The legend below the panels leaves every axis label and tick label free (issue 17), also when
    it is long: here with 8 classical strategies, as many legend rows as the default study has."""
    classical = study.isel(policy=np.flatnonzero(study["kind"].values == "classical"))
    more = classical.assign_coords(policy=[f"{p}_variant" for p in classical.policy.values])
    fig = make(
        xr.concat([study, more], dim="policy", data_vars="minimal", coords="minimal", compat="override"),
        selected="glft",
    )
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = [legend.get_window_extent(renderer) for legend in fig.legends]
    labels = [
        text.get_window_extent(renderer)
        for ax in fig.axes
        if ax.get_visible()
        for text in [ax.xaxis.label, ax.yaxis.label, *ax.get_xticklabels()]
        if text.get_text()
    ]
    assert legends and labels
    assert not any(_overlaps(legend, label) for legend in legends for label in labels)


def test_learning_curves_use_a_logarithmic_step_axis(study):
    """Budgets 100x apart (DQN 1e5, PPO 1e7 env steps) stay readable on one axis."""
    ds = study.assign_coords(env_steps=study["env_steps"] * np.array([[100.0], [1.0]]))
    ax = hv_curve_figure(ds).axes[0]
    assert ax.get_xscale() == "log"


def test_pdf_tables_fit_the_page_by_columns(study):
    """Every page of a wide table fits an A4 landscape page; the label column repeats; no column is lost."""
    from morl_mm.plots.report import TABLE_AXES, _column_groups, _table_width, policy_table

    header, rows = policy_table(study, "base")
    groups = _column_groups(header, rows, text_columns=3)
    assert len(groups) >= 2 and all(g[:3] == [0, 1, 2] for g in groups)
    assert sorted({c for g in groups for c in g}) == list(range(len(header)))
    longest = [max((r[c] for r in rows), key=len) for c in range(len(header))]
    for g in groups:
        assert _table_width([header[c] for c in g], [longest[c] for c in g], 3) <= TABLE_AXES[2]


def test_report_selection_by_weights_and_constraints_matches_the_pareto_set(study, tmp_path):
    """The report's own choice (summary, and the chooser's first state) is ParetoSet.select /
    select_by_constraints over every policy, as `morl-mm select` does; infeasible bounds are an error."""
    from morl_mm.pareto import InfeasibleSelectionError
    from morl_mm.plots.summary import Criterion
    from morl_mm.study.result import study_pareto_set

    candidates = study_pareto_set(study, "base")
    by_weights = candidates.select([0.2, 0.2, 0.6]).label
    text = render_html(study, criterion=Criterion(weights=(0.2, 0.2, 0.6)))
    assert f'id="selected-policy">{by_weights}<' in text and "by preference weights w = (0.2, 0.2, 0.6)" in text
    bounds = {"inventory_risk": -40.0, "quoting_ratio": 0.5}
    by_bounds = candidates.select_by_constraints("pnl", at_least=bounds).label
    text = render_html(study, criterion=Criterion(at_least=bounds))
    assert f'id="selected-policy">{by_bounds}<' in text and "inventory_risk magnitude &lt;= 40" in text
    assert "volatile" in text.split("Behaviour in every scenario")[1].split("</table>")[0]
    with pytest.raises(InfeasibleSelectionError, match="no policy satisfies"):
        write_report(study, tmp_path / "r.html", criterion=Criterion(at_least={"quoting_ratio": 2.0}))
    with pytest.raises(ValueError, match="not both"):
        render_html(study, selected="glft", criterion=Criterion(weights=(1.0, 0.0, 0.0)))
