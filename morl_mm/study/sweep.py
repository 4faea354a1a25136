"""Hyperparameter sweeps of a study's learners (``[sweep]``, ``morl-mm sweep``), scored against the exact CCS.

Optuna (``morl-mm[sweep]``) proposes the trials (ask/tell); every trial is the learner's study unit with the
trial's hyperparameters, run on the study's backend (in process or as Ray tasks), and its score is the HV
ratio of its front against the exact CCS: the study's own indicator (:func:`morl_mm.study.dataset.front_indicators`,
the mean over the trial's training seeds, base model, the study's reference point from the oracle and the
classical strategies). The oracle and classical units run first, once.

The protocol is the same for every learner: ``trials`` trials, each at the learner's own budget (its
``env_steps`` or budget key, which cannot be tuned) and training seeds, so learners of equal budget get an
equal tuning budget (trials x env steps x seeds). Trials are asked ``parallel`` at a time of each learner and
told in trial order, so a sweep is reproducible for a given ``parallel`` on either backend. Finished trials
are part files under ``<out>/trials/`` and a rerun reuses them. A trial whose hyperparameters are impossible, or
whose Ray task fails, is a failed trial (its reason in the result) and the sweep goes on; in process an
exception ends the sweep. The result is ``sweep.nc`` (learner x trial)
and ``sweep.json``; :func:`best_toml` gives the best hyperparameters of each learner as TOML.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from morl_mm.agents.registry import learner_config
from morl_mm.study.backends import (
    InProcessBackend,
    UnitFailedError,
    UnitResult,
    UnitTask,
)
from morl_mm.study.config import StudyConfig
from morl_mm.study.dataset import assemble, write_dataset
from morl_mm.study.progress import UnitProgress
from morl_mm.study.runner import (
    context_for,
    make_context,
    part_path,
    reusable_part,
    run_units,
    unit_fingerprint,
    unit_resources,
    units_of,
    write_unit,
)

SCORES = ("hv_ratio", "eum_ratio", "igd", "env_steps", "train_seconds")  # per trial, from the study's indicators


def run_sweep(
    config: StudyConfig,
    out: str | Path,
    backend=None,
    trials: int | None = None,
    learners: list[str] | None = None,
    progress: bool = True,
) -> xr.Dataset:
    """Tune the learners of ``config.sweep`` (``learners``: a subset; ``trials``: instead of its count), write
    ``sweep.nc`` and ``sweep.json`` into ``out`` and return the Dataset (dims learner x trial)."""
    spec = config.sweep
    if spec is None:
        raise ValueError(f"{config.source}: a sweep needs a [sweep] table (see morl_mm.study.config)")
    names = list(learners or spec.learners)
    unknown = sorted(set(names) - set(spec.learners))
    if unknown:
        raise ValueError(f"--learner {unknown}: not in [sweep] learners {list(spec.learners)}")
    n_trials = spec.trials if trials is None else int(trials)
    if n_trials < 1:
        raise ValueError(f"--trials must be >= 1, got {n_trials}")
    if not config.oracle.get("enabled", True):
        raise ValueError(f"{config.source}: a sweep scores trials against the exact CCS: enable [oracle]")
    try:
        import optuna
    except ImportError:
        raise ValueError("a sweep needs Optuna: pip install 'morl-mm[sweep]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out = Path(out)
    backend = backend or InProcessBackend()
    ctx = context_for(config, make_context(config))
    reference = _reference_parts(config, ctx, out, backend, progress)
    parallel = spec.parallel or backend.parallelism
    sampler = {"tpe": optuna.samplers.TPESampler, "random": optuna.samplers.RandomSampler}[spec.sampler]
    studies = {name: optuna.create_study(direction="maximize", sampler=sampler(seed=spec.seed)) for name in names}
    learner_specs = {s.name: s for s in config.learners}
    for name in names:  # trial 0 is the learner's own config: a sweep never ends below where it started
        own = own_values(learner_specs[name], spec.space[name])
        if own:
            studies[name].enqueue_trial(own)
    records = {name: [] for name in names}
    display = UnitProgress(n_trials * len(names), f"sweep {config.name}", progress)
    try:
        for start in range(0, n_trials, parallel):
            batch = {name: [studies[name].ask() for _ in range(min(parallel, n_trials - start))] for name in names}
            round_records = _run_round(config, spec, ctx, batch, reference, out, backend, display)
            for name in names:  # told in trial order: the same sampler state on either backend
                for trial, record in zip(batch[name], round_records[name]):
                    if record["hv_ratio"] is None:
                        studies[name].tell(trial, state=optuna.trial.TrialState.FAIL)
                    else:
                        studies[name].tell(trial, record["hv_ratio"])
                    records[name].append(record)
    finally:
        display.close()
    ds = sweep_dataset(config, names, records, parallel, backend.name)
    write_dataset(ds, out / "sweep.nc")
    (out / "sweep.json").write_text(json.dumps(sweep_json(ds), indent=1))
    return ds


def _reference_parts(config: StudyConfig, ctx, out: Path, backend, progress: bool) -> list[xr.Dataset]:
    """The oracle's part (the exact CCS) and the classical strategies' (the reference point), run or reused."""
    units = [u for u in units_of(config) if u in ("oracle", "classical")]
    parts, tasks = {}, []
    display = UnitProgress(len(units), "exact CCS and classical", progress)
    for unit in units:
        key = unit_fingerprint(ctx, unit)
        cached = reusable_part(part_path(out, unit), key)
        if cached is not None:
            display.reused(unit, part_path(out, unit))
            parts[unit] = cached
        else:
            tasks.append(UnitTask(unit, unit, config, key, unit_resources(config, unit)))

    def commit(task: UnitTask, result: UnitResult) -> None:
        write_unit(out, result, part_path(out, task.unit))
        parts[task.unit] = result.part

    try:
        run_units(backend, tasks, display, commit)
    finally:
        display.close()
    if parts.get("oracle") is None:
        raise ValueError(
            f"{config.source}: the sweep scores trials against the exact CCS, and the oracle does not "
            f"apply to this model (see 'oracle skipped' above)"
        )
    return [parts[u] for u in units if parts.get(u) is not None]


def _run_round(config, spec, ctx, batch: dict, reference: list, out: Path, backend, display) -> dict[str, list[dict]]:
    """One round of trials (every learner's asked trials) on the backend -> their records, in trial order."""
    learners = {s.name: s for s in config.learners}
    tasks, records, done = [], {}, {}
    for name, trials in batch.items():
        records[name] = []
        for trial in trials:
            params = {key: _suggest(trial, key, space) for key, space in spec.space[name].items()}
            learner = learners[name]
            tuned = dataclasses.replace(
                learner, hyperparameters={**learner.hyperparameters, **params}, seeds=spec.seeds or learner.seeds
            )
            record = {"trial": trial.number, "params": params, **{k: None for k in SCORES}}
            records[name].append(record)
            if tuned.is_native:
                try:
                    learner_config(tuned.algorithm, tuned.hyperparameters)
                except (TypeError, ValueError) as err:  # an impossible combination: a failed trial
                    record["error"] = str(err)
                    display.failed_unit(f"{name}#{trial.number}", str(err))
                    continue
            trial_config = dataclasses.replace(config, learners=(tuned,))
            unit = f"learner:{name}"
            key = unit_fingerprint(context_for(trial_config, ctx), unit)
            path = out / "trials" / f"{name}_t{trial.number:03d}.nc"
            cached = reusable_part(path, key)
            if cached is not None:
                display.reused(f"{name}#{trial.number}", path)
                done[(name, trial.number)] = cached
            else:
                tasks.append(
                    UnitTask(unit, f"{name}#{trial.number}", trial_config, key, unit_resources(trial_config, unit))
                )

    def commit(task: UnitTask, result: UnitResult) -> None:
        name, number = task.label.rsplit("#", 1)
        if result.part is not None:
            write_dataset(result.part, out / "trials" / f"{name}_t{int(number):03d}.nc")  # no policy files
        done[(name, int(number))] = result.part

    failed = {}
    try:
        run_units(backend, tasks, display, commit)
    except UnitFailedError as err:  # a trial that died after its retries or raised: a failed trial, the sweep goes on
        failed = err.failures
    for name, rows in records.items():
        for record in rows:
            if f"{name}#{record['trial']}" in failed:
                record["error"] = failed[f"{name}#{record['trial']}"]
            part = done.get((name, record["trial"]))
            if part is not None:
                indicators = json.loads(assemble(reference + [part], ctx).attrs["indicators"]).get(name, {})
                record.update({k: indicators.get(k) for k in SCORES})
    return records


def own_values(learner, space: dict[str, dict]) -> dict[str, Any]:
    """The values the learner runs with (its TOML keys, else its config's defaults for a native learner) of the
    tuned keys whose value lies in the searched range or choices."""
    values = dict(learner.hyperparameters)
    if learner.is_native:
        config = learner_config(learner.algorithm, learner.hyperparameters)
        values = {key: getattr(config, key) for key in space if hasattr(config, key)} | values
    own = {}
    for key, searched in space.items():
        value = values.get(key)
        if value is None:
            continue
        inside = (
            (value in searched["choices"]) if "choices" in searched else searched["low"] <= value <= searched["high"]
        )
        if inside:
            own[key] = value
    return own


def _suggest(trial, key: str, space: dict):
    if "choices" in space:
        return trial.suggest_categorical(key, space["choices"])
    if isinstance(space["low"], int) and isinstance(space["high"], int):
        return trial.suggest_int(key, space["low"], space["high"], log=space["log"])
    return trial.suggest_float(key, float(space["low"]), float(space["high"]), log=space["log"])


def sweep_dataset(config: StudyConfig, names: list[str], records: dict, parallel: int, backend: str) -> xr.Dataset:
    """The trials as a labelled Dataset: scores (learner, trial), their hyperparameters as JSON, the protocol."""
    spec = config.sweep
    width = max(len(rows) for rows in records.values())
    score = lambda key: np.array(
        [
            [np.nan if r[key] is None else float(r[key]) for r in rows] + [np.nan] * (width - len(rows))
            for rows in records.values()
        ]
    )
    params = [[json.dumps(r["params"]) for r in rows] + [""] * (width - len(rows)) for rows in records.values()]
    best = {}
    for name, rows in records.items():
        scored = [r for r in rows if r["hv_ratio"] is not None]
        if scored:
            top = max(scored, key=lambda r: r["hv_ratio"])
            best[name] = {"trial": top["trial"], "hv_ratio": top["hv_ratio"], "hyperparameters": top["params"]}
    learners = {s.name: s for s in config.learners}
    budgets = {
        name: {"env_steps": learners[name].env_steps, "seeds": list(spec.seeds or learners[name].seeds)}
        for name in names
    }
    protocol = (
        f"{width} trials per learner, Optuna {spec.sampler} sampler (seed {spec.seed}), {parallel} trial(s) "
        f"asked of each learner at a time; every trial trains at its learner's own budget with its seeds and is "
        f"scored by the HV ratio (mean over seeds) of its front on the base model against the exact CCS "
        f"({config.evaluation.episodes} episodes x {len(config.evaluation.seeds)} evaluation seed(s) per weight)"
    )
    return xr.Dataset(
        {
            **{key: (("learner", "trial"), score(key)) for key in SCORES},
            "hyperparameters": (("learner", "trial"), np.array(params, dtype=object)),
        },
        coords={
            "learner": names,
            "trial": np.arange(width),
            "algorithm": ("learner", [learners[name].algorithm for name in names]),
        },
        attrs={
            "name": config.name,
            "config": json.dumps(config.raw),
            "space": json.dumps(spec.space),
            "best": json.dumps(best),
            "budgets": json.dumps(budgets),
            "protocol": protocol,
            "backend": backend,
            "errors": json.dumps(
                {name: {r["trial"]: r["error"] for r in rows if "error" in r} for name, rows in records.items()}
            ),
        },
    )


def sweep_json(ds: xr.Dataset) -> dict:
    """``sweep.json``: the protocol, every trial's hyperparameters and scores, and the best of each learner."""
    trials = {}
    for name in ds.learner.values:
        rows = ds.sel(learner=name)
        trials[str(name)] = [
            {
                "trial": int(t),
                "hyperparameters": json.loads(str(rows["hyperparameters"].values[t])),
                **{k: None if np.isnan(rows[k].values[t]) else float(rows[k].values[t]) for k in SCORES},
            }
            for t in ds.trial.values
            if str(rows["hyperparameters"].values[t])
        ]
    return {
        "study": ds.attrs["name"],
        "protocol": ds.attrs["protocol"],
        "backend": ds.attrs["backend"],
        "budgets": json.loads(ds.attrs["budgets"]),
        "space": json.loads(ds.attrs["space"]),
        "best": json.loads(ds.attrs["best"]),
        "trials": trials,
    }


def best_toml(ds: xr.Dataset) -> str:
    """The best hyperparameters of each learner as ``[learners.<name>]`` TOML tables (the tuned keys only)."""
    lines = []
    for name, best in json.loads(ds.attrs["best"]).items():
        lines.append(f"[learners.{name}]   # HV ratio {best['hv_ratio']:.4f}, trial {best['trial']}")
        lines += [f"{key} = {_toml_value(value)}" for key, value in best["hyperparameters"].items()]
        lines.append("")
    missing = [str(n) for n in ds.learner.values if str(n) not in json.loads(ds.attrs["best"])]
    if missing:
        lines.append(f"# no trial finished for {', '.join(missing)}")
    return "\n".join(lines).rstrip()


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)  # an int, or a float in a form TOML reads
