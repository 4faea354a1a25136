"""A study's fronts under the worst-case adversary, against the exact robust front (``[robust]``).

With ``[robust] adversary = { drift = [-2.0, 2.0] }`` a study, after its units, solves the exact robust
front of the base model (:func:`morl_mm.oracle.robust.robust_coverage_set`'s solver at every weight of
the simplex lattice of ``divisions``: the max-min table at w and its objective vector under its
worst-case adversary) and plays every front of the study against the worst-case adversary *at each
lattice weight* w (:func:`morl_mm.oracle.robust.worst_case_values` of the exact max-min solution at w:
the per-step response that minimises the one-step value of the placed quote with the robust
continuation):

* a weight-conditioned learner (each training seed): its network at w;
* the plain oracle CCS: the CCS policy the base model chooses at w (best utility there);
* a classical strategy: the strategy itself (the same policy at every w; the adversary changes with w).

The result is ``robust.nc`` in the study's folder (:func:`robust_dataset`), written with a fingerprint
of the ``[robust]`` table and of every unit it read, so a resumed study does not redo it. From it and
``study.nc``, :func:`adversary_table` gives the HV ratio of each front under the worst-case adversary
against the exact robust front, its utility gap to the max-min value, and on the unperturbed model
its HV ratio against the exact CCS (``morl-mm robustness``'s ``"adversary"`` key, :data:`JSON_SHAPE`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from morl_mm.env.adversary import AdversarialEnv, AdversaryBox
from morl_mm.env.rollout import rollout
from morl_mm.oracle.robust import RobustSolver, worst_case_tables, worst_case_values
from morl_mm.pareto import indicators as ind
from morl_mm.policies import io as policy_io
from morl_mm.study.context import fingerprint
from morl_mm.study.dataset import read_dataset, write_dataset
from morl_mm.study.robustness import policy_rows

ROBUST_FILE = "robust.nc"
NETWORK_ALGORITHMS = ("ppo", "ppo_adversarial", "dqn")  # weight-conditioned networks: played at each weight
JSON_SHAPE = (
    '{"adversary", "divisions", "episodes", "n_weights", "reference_point", "exact": {"hv_plain", '
    '"hv_robust", "utility_plain", "utility_robust", "ccs_points"}, "rows": [{"name", "kind", '
    '"hv_worst_case", "hv_ratio_robust", "utility_worst_case", "utility_gap_to_robust", "hv_unperturbed", '
    '"hv_ratio_plain", "utility_unperturbed"}]}'
)
"""The keys of :func:`adversary_table`; null where a value is undefined (a classical strategy's HV ratio)."""


def mean_front(
    env, params, box: AdversaryBox, policy, params_at, weights, episodes: int, key, solutions=None, inputs=None
) -> np.ndarray:
    """(W, K) mean objectives of ``policy`` (its params ``params_at(x)``, x the i-th row of ``inputs``, default
    the weights) at each weight: on the unperturbed model, or with ``solutions`` against the worst-case
    adversary of the exact max-min solution at that weight. The same episode keys at every weight and in
    both (common random numbers)."""
    keys = jax.random.split(key, int(episodes))

    def at_weight(x, tables=None):
        played = (
            env
            if tables is None
            else AdversarialEnv(env, box, lambda state, action, p: worst_case_values(env, tables, state, action, p))
        )

        def episode_return(k):
            return rollout(played, policy, k, params, policy_params=params_at(x)).reward.sum(0)

        return jax.vmap(episode_return)(keys).mean(0)

    args = (jnp.asarray(weights, jnp.float32) if inputs is None else inputs,)
    if solutions is not None:
        tables = [worst_case_tables(env, params, s) for s in solutions]
        args += (jax.tree_util.tree_map(lambda *x: jnp.stack(x), *tables),)
    return np.asarray(jax.jit(jax.vmap(at_weight))(*args), np.float64)


def robust_fingerprint(spec, unit_keys: list[str]) -> str:
    return fingerprint(
        "robust", {**spec.__dict__, "adversary": {k: list(v) for k, v in spec.adversary.items()}}, unit_keys
    )


def robust_dataset(ds: xr.Dataset, ctx, spec, policy_dir: Path, progress: bool = True) -> xr.Dataset:
    """The exact robust front and every front of ``ds`` under the worst-case adversary (module docstring):
    ``robust_front (weight, objective)``, ``worst_case (front, weight, objective)`` (raw objective units),
    ``weights (weight, objective)``; coords ``kind`` and ``train_seed`` per front."""
    started = time.perf_counter()
    env, params, scales = ctx.env, ctx.params, ctx.scales
    box = spec.box
    weights = ind.simplex_weights(env.num_objectives, spec.divisions)
    solutions = RobustSolver(env, params, box, scales)(weights)
    robust = np.array([s.objective_values for s in solutions])
    solve_seconds = time.perf_counter() - started
    key = jax.random.key(spec.seed)
    info = json.loads(ds.attrs.get("units_info", "{}"))
    labels = [str(p) for p in ds.policy.values]
    base_values = ds["value"].sel(scenario="base").transpose("policy", "objective").values.astype(np.float64)
    names, kinds, seeds, fronts = [], [], [], []
    for name, kind, idx in policy_rows(ds):
        algorithm = info.get(f"learner:{kind}", {}).get("algorithm")
        first = labels[idx[0]]
        path = policy_dir / f"{first}.mmpol"
        if kind == "oracle":
            chosen = idx[np.argmax(ind.utilities(base_values[idx], weights, scales), axis=1)]  # the base model's choice
            loaded = [policy_io.load_policy(policy_dir / f"{labels[i]}.mmpol").policy for i in chosen]
            stacked = jax.tree_util.tree_map(
                lambda *x: jnp.stack([jnp.asarray(v) for v in x]), *[p.params for p in loaded]
            )
            front = mean_front(
                env, params, box, loaded[0], lambda p: p, weights, spec.episodes, key, solutions, inputs=stacked
            )
        elif kind == "classical" or algorithm in NETWORK_ALGORITHMS:
            if not path.is_file():
                continue
            policy = policy_io.load_policy(path).policy
            if kind == "classical":
                params_at = lambda w, p=policy.params: p  # noqa: E731 (the same strategy at every weight)
            else:
                params_at = lambda w, network=policy.params[0]: (network, w)  # noqa: E731
            front = mean_front(env, params, box, policy, params_at, weights, spec.episodes, key, solutions)
        else:  # a morl-baselines policy runs outside JAX: not played against the adversary
            continue
        if progress:
            print(f"robust: {name} under the worst-case adversary ({time.perf_counter() - started:.0f} s)")
        names.append(name)
        kinds.append(kind)
        seeds.append(int(ds["train_seed"].values[idx[0]]) if "train_seed" in ds.coords else -1)
        fronts.append(front)
    objectives = [str(o) for o in ds.objective.values]
    shape = (0, len(weights), len(objectives))
    return xr.Dataset(
        {
            "robust_front": (("weight", "objective"), robust),
            "weights": (("weight", "objective"), weights),
            "worst_case": (("front", "weight", "objective"), np.stack(fronts) if fronts else np.zeros(shape)),
        },
        coords={
            "front": names,
            "kind": ("front", kinds),
            "train_seed": ("front", seeds),
            "objective": objectives,
            "weight": np.arange(len(weights)),
        },
        attrs={
            "adversary": json.dumps(box.to_dict()),
            "divisions": spec.divisions,
            "episodes": spec.episodes,
            "seed": spec.seed,
            "scales": np.asarray(scales, np.float64).tolist(),
            "solve_seconds": solve_seconds,
            "seconds": time.perf_counter() - started,
            "description": "robust_front: exact max-min objective vector at each weight under its worst-case "
            "adversary; worst_case: each front's mean objectives (Monte-Carlo, raw units) against "
            "the worst-case adversary of the max-min solution at that weight",
        },
    )


def run_robust(ds: xr.Dataset, ctx, unit_keys: list[str], out: Path, progress: bool = True) -> xr.Dataset:
    """``robust.nc`` of a study with ``[robust]``: reused when its fingerprint matches, else computed and written."""
    spec = ctx.config.robust
    path = Path(out) / ROBUST_FILE
    key = robust_fingerprint(spec, unit_keys)
    if path.is_file():
        try:
            cached = read_dataset(path)
            if cached.attrs.get("fingerprint") == key:
                if progress:
                    print(f"robust: done before, reusing {path}")
                return cached
        except ValueError:
            pass  # a corrupt or foreign file is redone
    robust = robust_dataset(ds, ctx, spec, Path(out) / "policies", progress)
    robust.attrs["fingerprint"] = key
    write_dataset(robust, path)
    return robust


def load_robust(result_dir: str | Path) -> xr.Dataset | None:
    """``robust.nc`` of a study result folder, or None when the study has no ``[robust]``."""
    path = Path(result_dir) / ROBUST_FILE
    return read_dataset(path) if path.is_file() else None


def _hv(points: np.ndarray, ref: np.ndarray) -> float | None:
    points = points[np.all(np.isfinite(points), axis=1)]
    return ind.hypervolume(points, ref) if len(points) else None


def adversary_table(robust: xr.Dataset, ds: xr.Dataset) -> dict:
    """Each front of ``robust`` under the worst-case adversary against the exact robust front, and on the
    unperturbed model (``ds``'s base values) against the exact CCS, at one reference point (the worst values
    of the exact CCS, the robust front and the classical strategies on the base model, minus 10% of the
    range). Utilities ``w . J / scales`` are means over the lattice weights: under the adversary, the
    front's own value at w; unperturbed, the best of the front's policies at w (a learner: its network at w).
    Gaps are the exact value minus the front's (>= 0 up to Monte-Carlo noise). Shape: :data:`JSON_SHAPE`."""
    scales = np.asarray(robust.attrs["scales"], np.float64)
    weights = robust["weights"].values
    exact_robust = robust["robust_front"].values
    info = json.loads(ds.attrs.get("units_info", "{}"))
    ccs = np.asarray(info.get("oracle", {}).get("oracle_expected_values", []), np.float64).reshape(-1, len(scales))
    base = ds["value"].sel(scenario="base").transpose("policy", "objective").values.astype(np.float64)
    rows_of = {name: idx for name, _, idx in policy_rows(ds)}
    kinds = np.array([str(k) for k in ds["kind"].values])
    classical = base[kinds == "classical"]
    ref = ind.hv_reference_point(*[p for p in (ccs, exact_robust, classical) if len(p)])
    hv_plain, hv_robust = (_hv(ccs, ref) if len(ccs) else None), _hv(exact_robust, ref)
    utility_robust = np.diag(ind.utilities(exact_robust, weights, scales))
    utility_plain = ind.utilities(ccs, weights, scales).max(axis=1) if len(ccs) else None
    rows = []
    for name, kind in zip(robust.front.values.astype(str), robust["kind"].values.astype(str)):
        front = robust["worst_case"].sel(front=name).values
        utility = np.diag(ind.utilities(front, weights, scales))
        values = base[rows_of[name]] if name in rows_of else np.zeros((0, len(scales)))
        values = values[np.all(np.isfinite(values), axis=1)]
        unperturbed = ind.utilities(values, weights, scales).max(axis=1) if len(values) else None
        single = kind == "classical"  # one strategy: a point, its HV ratio against a front says little
        hv_worst, hv_base = _hv(front, ref), _hv(values, ref)
        rows.append(
            {
                "name": name,
                "kind": kind,
                "hv_worst_case": hv_worst,
                "hv_ratio_robust": None if single or not hv_robust else hv_worst / hv_robust,
                "utility_worst_case": float(utility.mean()),
                "utility_gap_to_robust": float((utility_robust - utility).mean()),
                "hv_unperturbed": hv_base,
                "hv_ratio_plain": None if single or not hv_plain or hv_base is None else hv_base / hv_plain,
                "utility_unperturbed": None if unperturbed is None else float(unperturbed.mean()),
            }
        )
    box = json.loads(robust.attrs["adversary"])
    return {
        "adversary": AdversaryBox(box["bounds"], box["mode"]).spec(),
        "divisions": int(robust.attrs["divisions"]),
        "episodes": int(robust.attrs["episodes"]),
        "n_weights": len(weights),
        "reference_point": ref.tolist(),
        "exact": {
            "hv_plain": hv_plain,
            "hv_robust": hv_robust,
            "utility_plain": None if utility_plain is None else float(utility_plain.mean()),
            "utility_robust": float(utility_robust.mean()),
            "ccs_points": len(ccs),
        },
        "rows": rows,
    }


def adversary_markdown(table: dict) -> str:
    """:func:`adversary_table` as a GitHub markdown table."""
    exact = table["exact"]
    num = lambda v, f=".4f": "-" if v is None else format(v, f)  # noqa: E731
    lines = [
        f"Under the worst-case adversary ({table['adversary']} per step, best-responding to the quote), "
        f"{table['n_weights']} weights, {table['episodes']} episodes each. Exact robust front: HV "
        f"{num(exact['hv_robust'], '.4g')}, max-min utility {num(exact['utility_robust'])}; exact CCS "
        f"({exact['ccs_points']} points): HV {num(exact['hv_plain'], '.4g')}, utility "
        f"{num(exact['utility_plain'])}",
        "",
        "| front | HV ratio vs robust front (worst case) | worst-case utility | gap to max-min | "
        "HV ratio vs CCS (unperturbed) | unperturbed utility |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in table["rows"]:
        lines.append(
            f"| {r['name']} | {num(r['hv_ratio_robust'], '.3f')} | {num(r['utility_worst_case'])} | "
            f"{num(r['utility_gap_to_robust'])} | {num(r['hv_ratio_plain'], '.3f')} | "
            f"{num(r['utility_unperturbed'])} |"
        )
    return "\n".join(lines)
