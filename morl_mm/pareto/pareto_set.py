"""A labelled set of policies and their objective vectors, and the principal's ways to pick one.

A :class:`ParetoSet` holds, per policy, the mean objective vector in raw units, optionally its 95%
confidence half-widths, the policy's label and kind, the preference weight it was trained or found
at, and the per-objective ``scales`` that weights apply to (``w . (J / scales)``, the project's
scalarisation convention). It is immutable; filtering returns a new set.

A principal selects a policy either by preference weights (:meth:`ParetoSet.select`) or by
constraints (:meth:`ParetoSet.select_by_constraints`: "max pnl with inventory_risk >= -20 and
quoting_ratio >= 0.9"). On disk it is an xarray Dataset with dims ``(policy, objective)``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import xarray as xr
from scipy import stats

from morl_mm.pareto import indicators as ind

CONFIDENCE = 0.95


class InfeasibleSelectionError(ValueError):
    """No policy satisfies the constraints; ``closest`` lists the least-violating entries."""

    def __init__(self, message: str, closest: Sequence[ParetoEntry] = ()):
        super().__init__(message)
        self.closest = tuple(closest)


class ParetoEntry(NamedTuple):
    """One policy of a :class:`ParetoSet` (``values``/``ci``/``weight`` ordered as its objectives)."""

    index: int
    label: str
    kind: str
    values: np.ndarray
    ci: np.ndarray | None
    weight: np.ndarray
    policy: Any


def _read_only(array: np.ndarray) -> np.ndarray:
    array = np.array(array, dtype=np.float64)
    array.flags.writeable = False
    return array


@dataclasses.dataclass(frozen=True, eq=False)
class ParetoSet:
    """Policies and their objective vectors (every objective maximised).

    Attributes:
        objectives: objective names, e.g. ``("pnl", "inventory_risk", "quoting_ratio")``.
        values: ``(n, d)`` mean objective vectors in raw units.
        scales: ``(d,)`` positive normalisation; weights apply to ``values / scales``.
        labels: ``n`` unique policy names (default ``policy_0``, ...).
        kinds: ``n`` kinds, e.g. ``"ppo"``, ``"oracle"``, ``"classical"`` (default ``"unknown"``).
        weights: ``(n, d)`` preference weight each policy was trained/found at; a row of NaN
            where there is none (the default).
        ci: ``(n, d)`` half-widths of 95% confidence intervals of ``values``, or ``None``.
        policies: ``n`` arbitrary objects (e.g. runnable policies), or ``None``; not saved to disk.
        metadata: free-form provenance; ``metadata["units"]`` (objective -> unit) is shown and saved.
    """

    objectives: tuple[str, ...]
    values: np.ndarray
    scales: np.ndarray
    labels: tuple[str, ...] | None = None
    kinds: tuple[str, ...] | None = None
    weights: np.ndarray | None = None
    ci: np.ndarray | None = None
    policies: tuple | None = None
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen)
        objectives = tuple(str(o) for o in self.objectives)
        if len(objectives) == 0 or len(set(objectives)) != len(objectives):
            raise ValueError(f"objectives: need unique names, got {objectives}")
        d = len(objectives)
        values = ind.as_points(self.values, "values", d)
        n = len(values)
        set_("objectives", objectives)
        set_("values", _read_only(values))
        set_("scales", _read_only(ind.validate_scales(self.scales, d)))
        labels = tuple(f"policy_{i}" for i in range(n)) if self.labels is None else tuple(map(str, self.labels))
        if len(labels) != n or len(set(labels)) != n:
            raise ValueError(f"labels: need {n} unique names, got {labels}")
        set_("labels", labels)
        kinds = ("unknown",) * n if self.kinds is None else tuple(map(str, self.kinds))
        if len(kinds) != n:
            raise ValueError(f"kinds: need {n} entries, got {len(kinds)}")
        set_("kinds", kinds)
        weights = np.full((n, d), np.nan) if self.weights is None else np.asarray(self.weights, np.float64)
        if weights.shape != (n, d):
            raise ValueError(f"weights: expected shape ({n}, {d}), got {weights.shape}")
        given = ~np.all(np.isnan(weights), axis=1)
        if given.any():  # rows are either all NaN (no weight) or on the simplex
            ind.validate_weights(weights[given], d)
        set_("weights", _read_only(weights))
        if self.ci is not None:
            ci = ind.as_points(self.ci, "ci", d)
            if ci.shape != (n, d) or np.any(ci < 0):
                raise ValueError(f"ci: expected shape ({n}, {d}) of half-widths >= 0, got {ci.tolist()}")
            set_("ci", _read_only(ci))
        if self.policies is not None:
            if len(self.policies) != n:
                raise ValueError(f"policies: need {n} entries, got {len(self.policies)}")
            set_("policies", tuple(self.policies))
        set_("metadata", dict(self.metadata))

    # -- construction ------------------------------------------------------------------------------------
    @classmethod
    def from_samples(cls, objectives, samples, scales, **kwargs) -> ParetoSet:
        """Means and 95% confidence intervals from ``samples`` ``(n_policies, n_samples, d)``
        (e.g. per-episode or per-seed objective vectors).

        Half-width: Student-t, ``t_{0.975, m-1} * s / sqrt(m)`` with ``s`` the sample standard
        deviation (``ddof=1``) over ``m >= 2`` samples. ``kwargs`` as in the constructor;
        ``metadata["n_samples"]`` records ``m``.
        """
        array = np.asarray(samples, dtype=np.float64)
        if array.ndim != 3 or array.shape[2] != len(objectives):
            raise ValueError(f"samples: expected shape (n_policies, n_samples, {len(objectives)}), got {array.shape}")
        m = array.shape[1]
        if m < 2:
            raise ValueError(f"samples: need >= 2 samples per policy for a confidence interval, got {m}")
        if not np.all(np.isfinite(array)):
            raise ValueError(
                f"samples: must be finite; policies "
                f"{np.flatnonzero(~np.isfinite(array).all(axis=(1, 2))).tolist()} are not"
            )
        t = stats.t.ppf(0.5 + CONFIDENCE / 2, df=m - 1)
        ci = t * array.std(axis=1, ddof=1) / np.sqrt(m)
        metadata = {**kwargs.pop("metadata", {}), "n_samples": m}
        return cls(objectives, array.mean(axis=1), scales, ci=ci, metadata=metadata, **kwargs)

    @classmethod
    def concatenate(cls, sets: Sequence[ParetoSet]) -> ParetoSet:
        """One set with the policies of ``sets`` (same objectives and scales; labels stay unique)."""
        if not sets:
            raise ValueError("concatenate: no sets given")
        first = sets[0]
        for other in sets[1:]:
            first._check_comparable(other)
        with_ci = all(s.ci is not None for s in sets)
        with_policies = all(s.policies is not None for s in sets)
        return cls(
            first.objectives,
            np.concatenate([s.values for s in sets]),
            first.scales,
            labels=sum((s.labels for s in sets), ()),
            kinds=sum((s.kinds for s in sets), ()),
            weights=np.concatenate([s.weights for s in sets]),
            ci=np.concatenate([s.ci for s in sets]) if with_ci else None,
            policies=sum((s.policies for s in sets), ()) if with_policies else None,
            metadata=first.metadata,
        )

    def subset(self, indices) -> ParetoSet:
        """The policies at ``indices`` (integer indices or a boolean mask), in that order."""
        idx = np.asarray(indices)
        idx = np.flatnonzero(idx) if idx.dtype == bool else np.arange(len(self))[idx.astype(int)]
        return ParetoSet(
            self.objectives,
            self.values[idx],
            self.scales,
            labels=[self.labels[i] for i in idx],
            kinds=[self.kinds[i] for i in idx],
            weights=self.weights[idx],
            ci=None if self.ci is None else self.ci[idx],
            policies=None if self.policies is None else [self.policies[i] for i in idx],
            metadata=self.metadata,
        )

    def nondominated(self, keep_duplicates: bool = False) -> ParetoSet:
        """The policies no other policy dominates (on mean values). Of policies with identical
        values only the first is kept unless ``keep_duplicates``."""
        return self.subset(ind.nondominated_mask(self.values, keep_duplicates=keep_duplicates))

    # -- access ------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.values)

    def __iter__(self) -> Iterator[ParetoEntry]:
        return (self[i] for i in range(len(self)))

    def __getitem__(self, key: int | str) -> ParetoEntry:
        """The entry at an integer index or with a label."""
        if isinstance(key, str):
            if key not in self.labels:
                raise KeyError(f"no policy labelled {key!r}; labels: {self.labels}")
            key = self.labels.index(key)
        i = range(len(self))[key]
        return ParetoEntry(
            i,
            self.labels[i],
            self.kinds[i],
            self.values[i],
            None if self.ci is None else self.ci[i],
            self.weights[i],
            None if self.policies is None else self.policies[i],
        )

    @property
    def normalised_values(self) -> np.ndarray:
        """``values / scales``: the objectives that preference weights apply to."""
        return self.values / self.scales

    def objective_index(self, name: str) -> int:
        """Position of objective ``name``; ``ValueError`` naming the known ones otherwise."""
        if name not in self.objectives:
            raise ValueError(f"unknown objective {name!r}; objectives: {self.objectives}")
        return self.objectives.index(name)

    # -- selection ---------------------------------------------------------------------------------------
    def select(self, weights) -> ParetoEntry:
        """The policy maximising ``w . (J / scales)`` for one weight ``w`` on the simplex (ties: the
        first). ``ValueError`` for weights off the simplex, non-finite or of the wrong length."""
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"weights: expected one weight vector of shape ({len(self.objectives)},), got {w.shape}")
        if len(self) == 0:
            raise ValueError("select: the Pareto set is empty")
        return self[int(np.argmax(ind.utilities(self.values, w, self.scales)))]

    def select_by_constraints(
        self,
        maximise: str = "pnl",
        at_least: Mapping[str, float] | None = None,
        at_most: Mapping[str, float] | None = None,
        conservative: bool = False,
    ) -> ParetoEntry:
        """The policy with the largest ``maximise`` among those meeting every bound (ties: the first).

        ``at_least={"inventory_risk": -20, "quoting_ratio": 0.9}`` means inventory_risk >= -20 and
        quoting_ratio >= 0.9; ``at_most`` gives upper bounds. Bounds are in raw units. With
        ``conservative`` the bounds apply to the confidence bound on the unfavourable side
        (``values - ci`` for ``at_least``, ``values + ci`` for ``at_most``).

        Raises ``ValueError`` for unknown objective names or non-finite bounds, and
        :class:`InfeasibleSelectionError` when no policy is feasible; its message lists the three
        policies with the smallest total violation (measured in normalised units).
        """
        at_least, at_most = dict(at_least or {}), dict(at_most or {})
        target = self.objective_index(maximise)
        if conservative and self.ci is None:
            raise ValueError("select_by_constraints: conservative=True needs confidence intervals (ci)")
        if len(self) == 0:
            raise ValueError("select_by_constraints: the Pareto set is empty")
        ci = self.ci if conservative else np.zeros_like(self.values)
        violation = np.zeros_like(self.values)  # how far each policy misses each bound, normalised
        for bounds, sign in ((at_least, 1.0), (at_most, -1.0)):
            for name, bound in bounds.items():
                j = self.objective_index(name)
                if not np.isfinite(bound):
                    raise ValueError(f"bound on {name!r} must be finite, got {bound}")
                worst_case = self.values[:, j] - sign * ci[:, j]
                violation[:, j] += np.maximum(sign * (bound - worst_case), 0.0) / self.scales[j]
        total = violation.sum(axis=1)
        feasible = np.flatnonzero(total == 0)
        if len(feasible) == 0:
            closest = [self[int(i)] for i in np.argsort(total, kind="stable")[:3]]
            wanted = [f"{k} >= {v:g}" for k, v in at_least.items()] + [f"{k} <= {v:g}" for k, v in at_most.items()]
            lines = [
                f"  {e.label} ({e.kind}): "
                + ", ".join(f"{o}={x:.4g}" for o, x in zip(self.objectives, e.values))
                + f"; normalised violation {total[e.index]:.3g}"
                for e in closest
            ]
            raise InfeasibleSelectionError(
                f"no policy satisfies {' and '.join(wanted)}{' (at the confidence bound)' if conservative else ''}; "
                "closest:\n" + "\n".join(lines),
                closest,
            )
        return self[int(feasible[np.argmax(self.values[feasible, target])])]

    # -- indicators --------------------------------------------------------------------------------------
    def hypervolume(self, ref_point) -> float:
        """Hypervolume of the mean values above ``ref_point`` (raw units; see :func:`hv_reference_point`)."""
        return ind.hypervolume(self.values, ref_point)

    def _check_comparable(self, other: ParetoSet) -> None:
        if other.objectives != self.objectives:
            raise ValueError(f"objectives differ: {self.objectives} vs {other.objectives}")
        if not np.allclose(other.scales, self.scales, rtol=1e-9):
            raise ValueError(
                f"scales differ: {self.scales.tolist()} vs {other.scales.tolist()}; "
                "normalised indicators would not be comparable"
            )

    def indicators(self, reference: ParetoSet | None = None, ref_point=None, weights=None) -> dict[str, float]:
        """Indicators of the set as a dict of floats.

        Always: ``cardinality`` (distinct non-dominated points) and ``sparsity`` (of the
        non-dominated points, on normalised objectives). ``hypervolume`` (raw units) when a
        ``ref_point`` is given or a ``reference`` is (then ``ref_point`` defaults to
        ``hv_reference_point(self, reference)``). With ``reference`` (same objectives and scales):
        ``hypervolume_ratio``, ``igd`` and ``igd_plus`` (normalised objectives). With ``weights``
        (``(k, d)`` on the simplex): ``expected_utility``, and with a reference also
        ``expected_utility_loss`` and ``eum_ratio`` (NaN where the reference's EUM is <= 0).
        """
        front = self.nondominated().values
        out = {"cardinality": float(len(front)), "sparsity": ind.sparsity(front, self.scales)}
        if reference is not None:
            self._check_comparable(reference)
            if ref_point is None:
                ref_point = ind.hv_reference_point(self.values, reference.values)
        if ref_point is not None:
            out["hypervolume"] = self.hypervolume(ref_point)
        if reference is not None:
            out["hypervolume_ratio"] = ind.hypervolume_ratio(self.values, reference.values, ref_point)
            out["igd"] = ind.igd(self.values, reference.values, self.scales)
            out["igd_plus"] = ind.igd_plus(self.values, reference.values, self.scales)
        if weights is not None:
            out["expected_utility"] = ind.expected_utility(self.values, weights, self.scales)
            if reference is not None:
                out["expected_utility_loss"] = ind.expected_utility_loss(
                    self.values, reference.values, weights, self.scales
                )
                reference_eum = ind.expected_utility(reference.values, weights, self.scales)
                out["eum_ratio"] = out["expected_utility"] / reference_eum if reference_eum > 0 else float("nan")
        return out

    # -- xarray ------------------------------------------------------------------------------------------
    def to_dataset(self) -> xr.Dataset:
        """An xarray Dataset with dims ``(policy, objective)``: variables ``value``, ``weight`` and
        (if any) ``ci``; coords ``policy`` (labels), ``kind`` and ``objective``; attrs ``scales``,
        ``units`` (from ``metadata["units"]``, "" where unknown) and ``metadata`` (JSON). Policies
        are not stored. Raises ``ValueError`` if the metadata is not JSON-serialisable.
        """
        dims = ("policy", "objective")
        data = {
            "value": (dims, self.values, {"description": "mean objective value, raw units (maximised)"}),
            "weight": (dims, self.weights, {"description": "preference weight on normalised objectives; NaN: none"}),
        }
        if self.ci is not None:
            data["ci"] = (dims, self.ci, {"description": f"half-width of the {CONFIDENCE:.0%} confidence interval"})
        try:
            metadata = json.dumps(self.metadata)
        except TypeError as error:
            raise ValueError(f"to_dataset: metadata must be JSON-serialisable: {error}") from None
        units = self.metadata.get("units", {})
        return xr.Dataset(
            data,
            coords={
                "policy": list(self.labels),
                "kind": ("policy", list(self.kinds)),
                "objective": list(self.objectives),
            },
            attrs={
                "scales": self.scales.copy(),
                "units": [str(units.get(o, "")) for o in self.objectives],
                "metadata": metadata,
            },
        )

    @classmethod
    def from_dataset(cls, dataset: xr.Dataset, policies: Sequence | None = None) -> ParetoSet:
        """Inverse of :meth:`to_dataset` (``policies`` may be re-attached, in the dataset's order)."""
        for name in ("value", "weight"):
            if name not in dataset:
                raise ValueError(f"from_dataset: missing variable {name!r}; has {list(dataset.data_vars)}")
        if "scales" not in dataset.attrs:
            raise ValueError("from_dataset: missing attribute 'scales'")
        dataset = dataset.transpose("policy", "objective")
        return cls(
            tuple(str(o) for o in dataset.objective.values),
            dataset["value"].values,
            np.atleast_1d(dataset.attrs["scales"]),
            labels=[str(p) for p in dataset.policy.values],
            kinds=[str(k) for k in dataset.kind.values],
            weights=dataset["weight"].values,
            ci=dataset["ci"].values if "ci" in dataset else None,
            policies=policies,
            metadata=json.loads(dataset.attrs.get("metadata", "{}")),
        )

    # -- display -----------------------------------------------------------------------------------------
    def table(self, precision: int = 4) -> str:
        """A plain-text table: one row per policy, ``mean ± ci`` per objective, and its weight."""
        units = self.metadata.get("units", {})
        header = ["label", "kind"] + [f"{o} [{units[o]}]" if o in units else o for o in self.objectives] + ["weight"]
        rows = []
        for e in self:
            cells = [
                f"{v:.{precision}g}" + ("" if e.ci is None else f" ± {c:.2g}")
                for v, c in zip(e.values, e.ci if e.ci is not None else e.values)
            ]
            weight = "-" if np.all(np.isnan(e.weight)) else "(" + ", ".join(f"{w:.3g}" for w in e.weight) + ")"
            rows.append([e.label, e.kind, *cells, weight])
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
        return "\n".join([fmt(header)] + [fmt(r) for r in rows])

    def __repr__(self) -> str:
        scales = ", ".join(f"{s:.4g}" for s in self.scales)
        head = f"ParetoSet({len(self)} policies, objectives={self.objectives}, scales=({scales}))"
        return head + ("\n" + self.table() if len(self) else "")
