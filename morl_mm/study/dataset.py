"""The study Dataset: assembly from unit parts, indicators, provenance, atomic netCDF I/O.

Layout (dims ``scenario``, ``policy``, ``objective``, ``sample``, ``traj_episode``, ``time``):

* ``returns`` (scenario, policy, sample, objective): episode objective values, samples = seeds x episodes
* ``value`` / ``ci`` (scenario, policy, objective): mean and 95% Student-t half-width
* ``preference`` (policy, objective): weight a policy was found/trained at (NaN for rule-based)
* ``nondominated`` (scenario, policy): on the front of all policies of the study
* metric summaries of :mod:`morl_mm.evaluation` (``pnl_sharpe``, ``max_drawdown_mean``, ...)
* ``traj_mid``/``traj_bid``/``traj_ask``/``traj_inventory``/``traj_wealth`` (policy, traj_episode, time)
* ``train_curve_return`` (learner, checkpoint) with ``env_steps``: the learners' training curves
* coords ``kind`` (policy): "oracle", "classical" or the learner's name; ``train_seed`` (policy): the
  training seed of a learned policy, -1 for the others

Attrs: ``name``, ``config`` (the TOML as JSON), ``objectives``, ``scales`` (weights apply to
value / scales), ``units`` (JSON), ``hv_reference_point``, ``scenario_sets`` (JSON: the config's named sets),
``indicators`` (JSON: per learned or
classical kind, HV ratio, EUM ratio and IGD against the oracle CCS on the base model; over seeds: mean,
``*_std`` and ``n_seeds``; learners: mean ``env_steps`` and ``train_seconds``), ``units_info`` (JSON per
unit: CCS size and time; learners: budget, its wall-time calibration, ``seed_runs`` with steps and
time per seed), ``versions`` (JSON), ``git_commit``, ``created``.
"""

from __future__ import annotations

import datetime as _dt
import json
import subprocess
from importlib import metadata
from pathlib import Path

import numpy as np
import xarray as xr

from morl_mm.atomic import atomic_output
from morl_mm.env.objectives import UNITS
from morl_mm.evaluation.dataset import mean_and_ci
from morl_mm.pareto import indicators as ind

PACKAGES = (
    "morl-mm",
    "jax",
    "jaxlib",
    "flax",
    "optax",
    "numpy",
    "xarray",
    "h5netcdf",
    "moocore",
    "gymnasium",
    "mo-gymnasium",
)
EUM_WEIGHT_DIVISIONS = 10


def write_dataset(ds: xr.Dataset, path: str | Path) -> Path:
    """Write netCDF (h5netcdf) to a temporary file and rename: an interrupted write leaves no corrupt result."""
    with atomic_output(path) as tmp:
        # a part read back from disk carries fixed string widths in its encoding; labels joined from
        # several parts would be cut to them
        ds.drop_encoding().to_netcdf(tmp, engine="h5netcdf")
    return Path(path)


def read_dataset(path: str | Path) -> xr.Dataset:
    """Load a result file fully into memory; ``ValueError`` with the path if missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: result file not found")
    try:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            return ds.load()
    except Exception as err:  # h5py/xarray raise many types for a truncated or foreign file
        raise ValueError(f"{path}: not a readable morl-mm result ({type(err).__name__}: {err})") from None


def package_versions() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit() -> str:
    try:
        here = Path(__file__).resolve().parent
        return (
            subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
            ).stdout.strip()
            or "unknown"
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _indicators(front: np.ndarray, exact: np.ndarray, ref: np.ndarray, exact_hv: float, weights, scales) -> dict:
    return {
        "hv_ratio": float(ind.hypervolume(front, ref) / exact_hv) if exact_hv > 0 else None,
        "eum_ratio": float(ind.eum_ratio(front, exact, weights, scales)),
        "igd": float(ind.igd(front, exact, scales)),
        "cardinality": int(ind.cardinality(front)),
    }


def front_indicators(
    ds: xr.Dataset, scales: np.ndarray, exact: np.ndarray | None, units_info: dict | None = None
) -> tuple[dict, list | None]:
    """HV ratio, EUM ratio and IGD of each kind's front (Monte-Carlo means, base scenario) against
    the exact CCS (the oracle's expected values), so the oracle's own ratio checks the estimate.

    A learner trained with several seeds has one front per seed: its indicators are the mean over
    seeds, with ``<indicator>_std`` (sample std) and ``n_seeds``. Learners also get their mean
    ``env_steps`` and ``train_seconds`` from ``units_info``.
    """
    base = ds["value"].sel(scenario=ds.scenario.values[0])
    kinds = ds["kind"].values
    if exact is None or len(exact) == 0:
        return {}, None
    reference_sets = [exact] + ([base.values[kinds == "classical"]] if "classical" in kinds else [])
    ref = ind.hv_reference_point(*reference_sets)
    weights = ind.simplex_weights(len(scales), EUM_WEIGHT_DIVISIONS)
    exact_hv = ind.hypervolume(exact, ref)
    seeds = ds["train_seed"].values if "train_seed" in ds.coords else np.full(len(kinds), -1)
    result = {}
    for kind in dict.fromkeys(kinds):
        members = kinds == kind
        per_seed = [
            _indicators(base.values[members & (seeds == s)], exact, ref, exact_hv, weights, scales)
            for s in dict.fromkeys(seeds[members])
        ]
        entry = dict(per_seed[0])
        if len(per_seed) > 1:
            for key in ("hv_ratio", "eum_ratio", "igd", "cardinality"):
                column = [r[key] for r in per_seed if r[key] is not None]
                entry[key] = float(np.mean(column)) if column else None
                entry[f"{key}_std"] = float(np.std(column, ddof=1)) if len(column) > 1 else None
            entry["n_seeds"] = len(per_seed)
        runs = (units_info or {}).get(f"learner:{kind}", {}).get("seed_runs")
        if runs:
            entry["env_steps"] = float(np.mean([r["env_steps"] for r in runs]))
            entry["train_seconds"] = float(np.mean([r["train_seconds"] for r in runs]))
        result[str(kind)] = entry
    return result, [float(x) for x in ref]


def assemble(parts: list[xr.Dataset], ctx) -> xr.Dataset:
    """Concatenate unit parts along ``policy`` and add values, CIs, fronts, curves and provenance."""
    if not parts:
        raise ValueError("the study produced no policies: enable the oracle, a classical strategy or a learner")
    units_info = {p.attrs["unit"]: json.loads(p.attrs["info"]) for p in parts}
    # the parts' own attrs only: the variables keep their units and long names
    parts = [p.drop_attrs(deep=False) if hasattr(p, "drop_attrs") else p.assign_attrs({}) for p in parts]
    # parts written before training seeds were recorded: not trained
    parts = [
        p if "train_seed" in p.coords else p.assign_coords(train_seed=("policy", np.full(p.sizes["policy"], -1)))
        for p in parts
    ]
    ds = xr.concat(parts, dim="policy", data_vars="minimal", coords="minimal", compat="override", join="outer")
    value, ci = mean_and_ci(ds["returns"])
    ds["value"] = value.assign_attrs(long_name="mean episode objective value")
    ds["ci"] = ci.assign_attrs(long_name="95% confidence half-width (Student t) of value")
    ds["nondominated"] = (
        ("scenario", "policy"),
        np.stack(
            [ind.nondominated_mask(value.sel(scenario=s).values, keep_duplicates=True) for s in ds.scenario.values]
        ),
    )
    curves = {
        unit.split(":", 1)[1]: info
        for unit, info in units_info.items()
        if unit.startswith("learner:") and "curve_return" in info
    }  # morl-baselines learners log none
    if curves:
        length = max(len(c["curve_return"]) for c in curves.values())
        pad = lambda xs: np.pad(np.asarray(xs, float), (0, length - len(xs)), constant_values=np.nan)  # noqa: E731
        ds["train_curve_return"] = (
            ("learner", "checkpoint"),
            np.stack([pad(c["curve_return"]) for c in curves.values()]),
            {"long_name": "mean normalised scalarised training return", "units": "1"},
        )
        ds = ds.assign_coords(
            learner=list(curves),
            env_steps=(("learner", "checkpoint"), np.stack([pad(c["curve_env_steps"]) for c in curves.values()])),
        )
    scales = np.asarray(ctx.scales, float)
    exact = units_info.get("oracle", {}).get("oracle_expected_values")
    indicators, ref = front_indicators(ds, scales, None if exact is None else np.asarray(exact, float), units_info)
    cfg = ctx.config
    ds.attrs.update(
        {
            "name": cfg.name,
            "config": json.dumps(cfg.raw),
            "config_source": cfg.source,
            "objectives": list(ctx.env.objectives),
            "scales": scales.tolist(),
            "units": json.dumps({o: UNITS[o] for o in ctx.env.objectives}),
            "indicators": json.dumps(indicators),
            "scenario_sets": json.dumps({k: list(v) for k, v in getattr(cfg, "scenario_sets", {}).items()}),
            "units_info": json.dumps(units_info),
            "versions": json.dumps(package_versions()),
            "git_commit": git_commit(),
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "scalarisation": "weights apply to value / scales (scales: |J| of the naive quoter at depth 1/kappa)",
        }
    )
    if getattr(ctx, "data_info", None):
        ds.attrs["data"] = json.dumps(ctx.data_info)  # the capture, its calibration and the replay windows
    if ref is not None:
        ds.attrs["hv_reference_point"] = ref
        ds = add_hv_curves(ds, curves, np.asarray(exact, float), np.asarray(ref))
    return ds


def add_hv_curves(ds: xr.Dataset, curves: dict, exact: np.ndarray, ref: np.ndarray) -> xr.Dataset:
    """``hv_ratio_curve`` (learner, checkpoint) from the learners' checkpoint fronts, if they saved any."""
    learners = [name for name, info in curves.items() if info.get("checkpoint_fronts")]
    if not learners:
        return ds
    exact_hv = ind.hypervolume(exact, ref)
    length = max(len(curves[n]["checkpoint_fronts"]) for n in learners)
    ratio, steps = np.full((len(learners), length), np.nan), np.full((len(learners), length), np.nan)
    for i, name in enumerate(learners):
        for j, front in enumerate(curves[name]["checkpoint_fronts"]):
            ratio[i, j] = ind.hypervolume(np.asarray(front), ref) / exact_hv
            steps[i, j] = curves[name]["checkpoint_env_steps"][j]
    curve = xr.Dataset(
        {
            "hv_ratio_curve": (
                ("hv_learner", "hv_checkpoint"),
                ratio,
                {"long_name": "hypervolume ratio of the learner's front to the exact CCS (base model)", "units": "1"},
            )
        },
        coords={"hv_learner": learners, "hv_env_steps": (("hv_learner", "hv_checkpoint"), steps)},
    )
    return ds.merge(curve)
