"""A finished study opened for selection: its Pareto set and its runnable policies.

result = load_result("results/default/study.nc")
choice = result.pareto_set().select([0.3, 0.3, 0.4])
policy = result.load_policy(choice.label)   # LoadedPolicy: policy, env, env_params
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr

from morl_mm.pareto import ParetoSet
from morl_mm.policies import io as policy_io
from morl_mm.study.dataset import read_dataset


class StudyResult:
    """``study.nc`` and the ``policies/`` folder beside it."""

    def __init__(self, path: str | Path):
        path = Path(path)
        if path.is_dir():
            path = path / "study.nc"
        self.path = path
        self.dataset: xr.Dataset = read_dataset(path)
        for name in ("value", "preference", "kind"):
            if name not in self.dataset.variables:
                raise ValueError(f"{path}: not a morl-mm study result (no {name!r} variable)")

    @property
    def policy_dir(self) -> Path:
        return self.path.parent / "policies"

    @property
    def objectives(self) -> list[str]:
        return [str(o) for o in self.dataset.objective.values]

    @property
    def scales(self) -> np.ndarray:
        return np.asarray(self.dataset.attrs["scales"], np.float64)

    def pareto_set(self, scenario: str = "base", nondominated_only: bool = False) -> ParetoSet:
        """Every evaluated policy (or only the study's non-dominated ones) on ``scenario``."""
        return study_pareto_set(self.dataset, scenario, nondominated_only)

    def policy_file(self, label: str) -> Path:
        path = self.policy_dir / f"{label}.mmpol"
        if label not in self.dataset.policy.values:
            raise ValueError(f"unknown policy {label!r}")
        if not path.is_file():
            raise ValueError(
                f"{path}: the policy file of {label!r} is missing (a morl-baselines policy is "
                f"evaluated by the study but has no policy file)"
            )
        return path

    def load_policy(self, label: str) -> policy_io.LoadedPolicy:
        """The runnable policy ``label`` with the env and params it was evaluated on."""
        return policy_io.load_policy(self.policy_file(label))

    def expectations(self, label: str) -> dict:
        """What the study predicts for policy ``label`` per episode, on its ``replay`` scenario when the study
        has one, else ``base``: ``{"scenario", "objectives": {name: mean}, "ci": {name: 95% half-width},
        "std": {name: std of one episode}, "samples": n}`` (the header an exported policy file carries, which
        the quote engine's alerts read)."""
        ds = self.dataset
        if label not in ds.policy.values:
            raise ValueError(f"{self.path}: the study has no policy {label!r}")
        scenario = "replay" if "replay" in ds.scenario.values else "base"
        returns = ds["returns"].sel(scenario=scenario, policy=label)
        out = {"scenario": scenario, "objectives": {}, "ci": {}, "std": {}, "samples": 0}
        for o in map(str, ds.objective.values):
            samples = np.asarray(returns.sel(objective=o).values, np.float64)
            samples = samples[np.isfinite(samples)]
            out["objectives"][o] = float(ds["value"].sel(scenario=scenario, policy=label, objective=o))
            out["ci"][o] = float(ds["ci"].sel(scenario=scenario, policy=label, objective=o))
            out["std"][o] = float(samples.std(ddof=1)) if samples.size > 1 else None
            out["samples"] = int(samples.size)
        return out

    def export_policy(self, label: str, destination: str | Path) -> Path:
        """Copy the policy file of ``label`` to ``destination`` (checked loadable first), its header carrying
        the study's :meth:`expectations` of it.

        ``ValueError`` when the destination's folder does not exist (no folders are created), when it is
        a folder, or when it is one of the study's own files (``study.nc``, ``policies/``, ``parts/``).
        """
        source = self.policy_file(label)
        destination = Path(destination)
        if not destination.parent.is_dir():
            raise ValueError(f"{destination.parent}: no such folder to export into (it is not created)")
        if destination.is_dir():
            raise ValueError(f"{destination}: is a folder; give the path of the file to write")
        target = destination.resolve()
        own = [self.path.resolve()] + [d.resolve() for d in (self.policy_dir, self.path.parent / "parts")]
        if target == own[0] or any(d in target.parents for d in own[1:]):
            raise ValueError(f"{destination}: is a file of the study itself; export the policy elsewhere")
        policy_io.load_policy(source)
        return policy_io.rewrite_header(source, destination, **self.expectations(label))


def study_pareto_set(ds: xr.Dataset, scenario: str = "base", nondominated_only: bool = False) -> ParetoSet:
    """The policies of a study Dataset on ``scenario`` as a :class:`ParetoSet`, in the dataset's policy
    order (every policy, or only the study's non-dominated ones): what ``morl-mm select`` chooses from."""
    if scenario not in ds.scenario.values:
        raise ValueError(f"unknown scenario {scenario!r}; the study has {list(ds.scenario.values)}")
    sub = ds.sel(scenario=scenario)
    if nondominated_only:
        sub = sub.isel(policy=np.flatnonzero(sub["nondominated"].values))
    units = json.loads(ds.attrs.get("units", "{}"))
    return ParetoSet(
        objectives=tuple(str(o) for o in ds.objective.values),
        values=sub["value"].values,
        scales=np.asarray(ds.attrs["scales"], np.float64),
        labels=tuple(str(p) for p in sub.policy.values),
        kinds=tuple(str(k) for k in sub["kind"].values),
        weights=sub["preference"].values,
        ci=np.nan_to_num(sub["ci"].values, nan=0.0),
        metadata={"units": units, "scenario": scenario, "study": ds.attrs.get("name", "")},
    )


def load_result(path: str | Path) -> StudyResult:
    """Open a study result (``study.nc`` or its folder); ``ValueError`` if missing or corrupt."""
    return StudyResult(path)
