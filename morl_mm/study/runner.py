"""Run a study config: oracle CCS, classical strategies and learners -> one labelled Dataset on disk.

A study is made of *units*: ``oracle``, ``classical`` and one per learner. Each unit produces
policies, evaluates every one of them on the base model and the held-out scenarios, and writes
``parts/<unit>.nc`` (and its policies under ``policies/``) atomically. A unit whose part file exists
with the same fingerprint (its spec, the model, the evaluation) is not redone: an interrupted
study resumes where it stopped. The parts are then assembled into ``study.nc`` (layout in
:mod:`morl_mm.study.dataset`); with ``[robust]``, ``robust.nc`` follows (:mod:`morl_mm.study.robust_front`,
fingerprinted like a unit); figures and the report are rendered from them by :func:`morl_mm.plots.render_study`.

Units run on a backend (:mod:`morl_mm.study.backends`): in this process (the default) or as Ray tasks.
:func:`execute_unit` computes a unit wherever it runs and sends back its part and policy files as data;
the driver alone writes them (policies first, the part last: a part on disk means a finished unit), in
the same layout on either backend.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from morl_mm.atomic import atomic_output
from morl_mm.data.calibration import calibrate
from morl_mm.data.capture import Capture
from morl_mm.data.readers import read_capture
from morl_mm.env.market import MarketMakingEnv
from morl_mm.env.scales import reference_scales
from morl_mm.env.schedule import ScheduledEnv, model_params, pad_segments, schedule_params
from morl_mm.evaluation.backtest import METRICS as BACKTEST_METRICS
from morl_mm.evaluation.backtest import Replay
from morl_mm.evaluation.dataset import metrics_dataset
from morl_mm.evaluation.rollouts import evaluate_policy, stack_scenarios
from morl_mm.oracle.ccs import convex_coverage_set
from morl_mm.oracle.model import OracleNotExactError
from morl_mm.policies import io as policy_io
from morl_mm.policies.registry import build_classical, classical_label
from morl_mm.policies.table import TablePolicy
from morl_mm.study.backends import InProcessBackend, UnitFailedError, UnitResult, UnitTask, failure_reason, inject_fault
from morl_mm.study.config import REPLAY_SCENARIO, StudyConfig, check_params, check_shifts
from morl_mm.study.context import Candidate, StudyContext, fingerprint
from morl_mm.study.dataset import assemble, read_dataset, write_dataset
from morl_mm.study.learners import learner_candidates
from morl_mm.study.progress import UnitProgress
from morl_mm.study.robust_front import run_robust

TRAJECTORY_EPISODES = 3  # sample episodes of each policy kept for trajectory plots
TRAJECTORY_FIELDS = {
    "mid": "mid",
    "bid": "bid_price",
    "ask": "ask_price",
    "inventory": "inventory",
    "wealth": "wealth",
}  # traj_<name> variable: field of the env's step info
SUMMARY_METRICS = (*BACKTEST_METRICS, "pnl_quantile", "inventory_histogram")  # the backtest's, and two distributions


def make_context(config: StudyConfig) -> StudyContext:
    replay, data_info = None, None
    if config.data is not None:
        config, capture, data_info = calibrated_config(config)
    env = MarketMakingEnv(config.env_config)
    params = config.env_params()
    if config.data is not None:
        start, end = (capture.start_ns + int(round(t * 1e9)) for t in config.data.replay)
        replay = Replay(capture, config.env_config, params, config.data.fill_model, start, end)
        data_info["replay"] = {
            "windows": replay.windows,
            "window_starts": replay.starts.tolist(),
            "steps": replay.info.steps,
            "valid_fraction": replay.info.valid_fraction,
            "trades": replay.info.trades,
            "market_orders": replay.info.market_orders,
            "reference_price": replay.info.reference_price,
            "fill_model": config.data.fill_model,
        }
    names = ("base",) + tuple(config.scenarios)
    stacked, scenario_env = scenario_batch(config, env, [params] + [config.env_params(s) for s in config.scenarios])
    return StudyContext(
        config, env, params, names, stacked, reference_scales(env, params), replay, data_info, scenario_env
    )


def scenario_batch(config: StudyConfig, env: MarketMakingEnv, params: list) -> tuple[Any, MarketMakingEnv | None]:
    """The scenarios' params (base first) stacked into one batch, and the env that runs it: the study's env
    (None) when no scenario shifts, else a :class:`~morl_mm.env.schedule.ScheduledEnv` over schedules padded
    to one number of segments (a scenario without shifts has one segment)."""
    host = lambda batch: jax.tree_util.tree_map(np.asarray, batch)  # noqa: E731 (sliced per policy on the host)
    if not config.scenario_shifts:
        return host(stack_scenarios(*params)), None
    names = ("base",) + tuple(config.scenarios)
    schedules = [
        schedule_params(p, config.scenario_shifts.get(name, ()), validate=env.validate)
        for name, p in zip(names, params)
    ]
    width = max(s.n_segments for s in schedules)
    return host(stack_scenarios(*[pad_segments(s, width) for s in schedules])), ScheduledEnv(env)


def calibrated_config(config: StudyConfig) -> tuple[StudyConfig, Capture, dict]:
    """Read the study's capture, calibrate the model on its calibration part and return the config whose
    env overrides are the calibrated params under the study's own ``[env.params]``; ``ConfigError``
    when the result is not a valid model."""
    data = config.data
    capture = read_capture(data.file, data.format, skip_bad_lines=data.skip_bad_lines)
    calibration = calibrate(capture, dt=data.dt, horizon=data.horizon, start=data.calibrate[0], end=data.calibrate[1])
    env_config = dataclasses.replace(config.env_config, n_regimes=calibration.n_regimes)
    overrides = {**calibration.params, **config.env_overrides}
    check_params(env_config, overrides, "env.params (on the calibrated model)", config.source)
    for name, scenario in config.scenarios.items():
        where = f"scenarios.{name} (on the calibrated model)"
        check_params(env_config, {**overrides, **scenario}, where, config.source)
        check_shifts(env_config, {**overrides, **scenario}, config.scenario_shifts.get(name, ()), where, config.source)
    info = {
        "data": dataclasses.asdict(data),
        "calibration": calibration.to_json(),
        "venue": capture.venue,
        "instrument": capture.instrument,
        "capture_seconds": capture.duration_s,
        "gaps": len(capture.gaps),
        "skipped_lines": capture.skipped_lines,
    }
    return dataclasses.replace(config, env_config=env_config, env_overrides=overrides), capture, info


# -- units -----------------------------------------------------------------------------------------
def oracle_candidates(ctx: StudyContext) -> tuple[list[Candidate], dict]:
    try:
        step = ctx.config.oracle.get("depth_step")  # continuous mode: the oracle's depth grid (default 0.02)
        depth_grid = None if step is None else np.arange(0.0, ctx.env.config.max_depth + 1e-9, float(step))
        ccs = convex_coverage_set(ctx.env, ctx.params, ctx.scales, depth_grid)
    except OracleNotExactError as err:
        tqdm.write(f"oracle skipped: {err}")
        return [], {"oracle_skipped": str(err)}
    template = TablePolicy(ctx.env, ccs.action_tables[0], ccs.depth_grid, ccs.inventory_grid)
    out = []
    for i, weight in enumerate(ccs.weights):
        policy = TablePolicy(ctx.env, ccs.action_tables[i], ccs.depth_grid, ccs.inventory_grid)
        arrays = {
            "action_table": ccs.action_tables[i],
            "depth_grid": ccs.depth_grid,
            "inventory_grid": ccs.inventory_grid,
        }
        label = f"oracle_{i:02d}"
        save = lambda path, a=arrays, l=label: policy_io.save_policy(  # noqa: E731
            path, kind="table", spec={}, env=ctx.env, env_params=ctx.params, arrays=a, label=l
        )
        out.append(Candidate(label, "oracle", np.asarray(weight), template, policy.params, save))
    info = {
        "oracle_ccs_size": len(ccs.points),
        "oracle_seconds": float(ccs.seconds),
        "oracle_solves": int(ccs.n_solves),
        "oracle_expected_values": ccs.points.tolist(),
    }
    return out, info


def classical_candidates(ctx: StudyContext) -> tuple[list[Candidate], dict]:
    out = []
    nan = np.full(ctx.env.num_objectives, np.nan)
    for spec in ctx.config.classical:
        policy = build_classical(ctx.env, ctx.params, spec)
        label = classical_label(spec)
        save = lambda path, s=dict(spec), l=label: policy_io.save_policy(  # noqa: E731
            path, kind="classical", spec=s, env=ctx.env, env_params=ctx.params, label=l
        )
        out.append(Candidate(label, "classical", nan, policy, policy.params, save))
    return out, {}


# -- evaluation of a unit ---------------------------------------------------------------------------
def evaluate_candidates(
    ctx: StudyContext, unit: str, candidates: list[Candidate], info: dict, progress: bool
) -> xr.Dataset:
    """Episode returns over seeds x episodes in every scenario, summaries and sample trajectories."""
    ev = ctx.config.evaluation
    objectives = list(ctx.env.objectives)
    returns, trajectories, metric_sets = [], [], []
    n_steps = int(ctx.params.n_steps)
    missing = np.full((TRAJECTORY_EPISODES, n_steps), np.nan)
    samples = len(ev.seeds) * ev.episodes
    bar = tqdm(candidates, desc=f"evaluating {unit}", disable=not progress)  # left at its end: n/n
    for cand in bar:
        if cand.returns is not None:  # evaluated by its own library: no trajectories, no metrics, no replay
            sim = np.asarray(cand.returns, np.float64)
            if ctx.replay is not None:
                sim = np.concatenate([sim, np.full((1,) + sim.shape[1:], np.nan)])
            returns.append(sim)
            trajectories.append({field: missing for field in TRAJECTORY_FIELDS.values()})
            continue
        per_seed = [
            evaluate_policy(
                ctx.evaluation_env,
                ctx.scenario_params,
                cand.policy,
                jax.random.key(seed),
                ev.episodes,
                cand.policy_params,
            )
            for seed in ev.seeds
        ]
        traj = jax.tree_util.tree_map(lambda *x: np.concatenate(x, axis=1), *per_seed)  # (S, seeds*E, T)
        invalid = int(np.asarray(traj.info.invalid_action).sum())
        if invalid:  # the env quoted nothing for them (see MarketMakingEnv.check_action): say so, keep the count
            tqdm.write(f"{unit}: {cand.label} submitted {invalid} invalid actions (non-finite or out of range)")
            info.setdefault("invalid_actions", {})[cand.label] = invalid
        sim = np.asarray(traj.reward, np.float64).sum(axis=2)  # (S, samples, K)
        trajectories.append(
            {
                field: np.asarray(getattr(traj.info, field)[0, :TRAJECTORY_EPISODES])
                for field in TRAJECTORY_FIELDS.values()
            }
        )
        metrics = metrics_dataset(
            traj, model_params(ctx.scenario_params), objectives, [cand.label], list(ctx.scenarios)
        )
        metrics = metrics[list(SUMMARY_METRICS)]
        if ctx.replay is not None:  # one episode per held-out window, padded with NaN to the simulated samples
            replayed = ctx.replay.run(cand.policy, cand.policy_params, seed=ev.seeds[0])
            on_replay = np.asarray(replayed.reward, np.float64).sum(axis=1)[None]  # (1, windows, K)
            width = max(sim.shape[1], on_replay.shape[1])
            sim = np.concatenate([_pad_samples(sim, width), _pad_samples(on_replay, width)])
            replay_metrics = metrics_dataset(replayed, ctx.replay.metrics_params(), objectives, [cand.label])
            metrics = xr.concat(
                [metrics, replay_metrics[list(SUMMARY_METRICS)].expand_dims(scenario=[REPLAY_SCENARIO])], dim="scenario"
            )
        returns.append(_pad_samples(sim, samples))
        metric_sets.append(metrics)
    width = max(r.shape[1] for r in returns)
    returns = [_pad_samples(r, width) for r in returns]
    labels = [c.label for c in candidates]
    metrics = xr.concat(metric_sets, dim="policy") if metric_sets else None
    steps = np.arange(1, n_steps + 1)
    ds = xr.Dataset(
        {
            "returns": (("scenario", "policy", "sample", "objective"), np.stack(returns, axis=1)),
            "preference": (("policy", "objective"), np.stack([c.preference for c in candidates])),
            **{
                f"traj_{name}": (("policy", "traj_episode", "time"), np.stack([t[field] for t in trajectories]))
                for name, field in TRAJECTORY_FIELDS.items()
            },
        },
        coords={
            "scenario": list(ctx.all_scenarios),
            "policy": labels,
            "kind": ("policy", [c.kind for c in candidates]),
            "train_seed": ("policy", [c.train_seed for c in candidates]),
            "objective": objectives,
            "time": steps * float(ctx.params.dt),
        },
        attrs={"unit": unit, "info": json.dumps(info)},
    )
    if metrics is not None:
        ds = xr.merge(
            [ds, metrics.drop_vars([v for v in metrics.coords if v not in metrics.dims], errors="ignore")],
            compat="override",
            join="outer",
        )
    return ds


def _pad_samples(returns: np.ndarray, width: int) -> np.ndarray:
    """``(scenario, sample, objective)`` returns padded with NaN to ``width`` samples: scenarios can have
    different numbers of episodes (the replay has one per held-out window); statistics skip NaN."""
    missing = width - returns.shape[1]
    return returns if missing <= 0 else np.pad(returns, ((0, 0), (0, missing), (0, 0)), constant_values=np.nan)


# -- the study ----------------------------------------------------------------------------------------
def units_of(config: StudyConfig) -> list[str]:
    units = []
    if config.oracle.get("enabled", True):
        units.append("oracle")
    if config.classical:
        units.append("classical")
    units += [f"learner:{spec.name}" for spec in config.learners]
    return units


def unit_fingerprint(ctx: StudyContext, unit: str) -> str:
    """Changes whenever anything that a unit's results depend on changes."""
    cfg = ctx.config
    learners = {f"learner:{s.name}": _learner_key(s) for s in cfg.learners}
    spec = {"oracle": cfg.oracle, "classical": cfg.classical, **learners}[unit]
    # studies without data or shifts keep their keys
    data = () if cfg.data is None else (dataclasses.asdict(cfg.data),)
    shifts = (
        ()
        if not cfg.scenario_shifts
        else ({name: [s.to_dict() for s in shifts] for name, shifts in cfg.scenario_shifts.items()},)
    )
    return fingerprint(
        unit,
        spec,
        cfg.seed,
        dataclasses.asdict(cfg.env_config),
        cfg.env_overrides,
        cfg.scenarios,
        dataclasses.asdict(cfg.evaluation),
        *data,
        *shifts,
    )


def _learner_key(spec) -> dict:
    """What a learner's results depend on in its spec: a warm start by its file's content (a learner
    without one keeps the key it had before warm starts existed)."""
    key = dataclasses.asdict(spec)
    key.pop("resources")  # where it runs does not change what it computes
    path = key.pop("warm_start")
    if path is not None:
        key["warm_start"] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return key


def unit_candidates(ctx: StudyContext, unit: str) -> tuple[list[Candidate], dict]:
    """The policies of ``unit`` (trained if a learner) and its info."""
    if unit == "oracle":
        return oracle_candidates(ctx)
    if unit == "classical":
        return classical_candidates(ctx)
    return learner_candidates(ctx, unit.split(":", 1)[1])


def unit_resources(config: StudyConfig, unit: str) -> dict[str, float]:
    """What a unit asks of a Ray cluster: a learner's ``resources`` (default 1 CPU), 1 CPU for the others."""
    spec = next((s for s in config.learners if f"learner:{s.name}" == unit), None)
    return {"num_cpus": 1.0, **(spec.resources if spec is not None else {})}


_CONTEXTS: dict[str, StudyContext] = {}  # the contexts of this process (a Ray worker builds each once)


def _context_key(config: StudyConfig) -> str:
    """What a study's context depends on: the config but its units (learners, classical, oracle, sweep)."""
    skip = ("learners", "classical", "oracle", "sweep", "raw")
    return fingerprint({f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name not in skip})


def context_for(config: StudyConfig, ctx: StudyContext | None = None) -> StudyContext:
    """The context of ``config`` (``ctx`` if given, else one built before in this process, else a new one),
    with ``config``'s units."""
    key = _context_key(config)
    if ctx is None:
        ctx = _CONTEXTS.get(key) or make_context(config)
    if key not in _CONTEXTS:
        _CONTEXTS.clear()  # one study at a time
        _CONTEXTS[key] = ctx
    units = {f: getattr(config, f) for f in ("learners", "classical", "oracle")}
    return ctx._replace(config=dataclasses.replace(ctx.config, **units))


def execute_unit(task: UnitTask) -> UnitResult:
    """Compute one unit in this process (a Ray worker or the driver): candidates, evaluation, policy files."""
    inject_fault(task.label)
    started = time.perf_counter()
    ctx = context_for(task.config)
    candidates, info = unit_candidates(ctx, task.unit)
    if not candidates:
        return UnitResult(task.label, None, {}, time.perf_counter() - started)
    part = evaluate_candidates(ctx, task.unit, candidates, info, progress=False)
    part.attrs["fingerprint"] = task.fingerprint
    policies = {}
    with tempfile.TemporaryDirectory() as tmp:
        for cand in candidates:
            if cand.save is not None:
                path = Path(tmp) / f"{cand.label}.mmpol"
                cand.save(path)
                policies[cand.label] = path.read_bytes()
    return UnitResult(task.label, part, policies, time.perf_counter() - started)


def run_units(backend, tasks: list[UnitTask], display: UnitProgress, commit, where: str = "") -> None:
    """Run ``tasks`` on ``backend``, ``commit(task, result)`` each as it finishes; ``UnitFailedError`` naming
    the units that failed once every other unit has finished (``where``: what the message adds)."""
    failures = {}
    for task, outcome in backend.run(tasks, execute_unit, lambda t: display.started(t.label)):
        if isinstance(outcome, Exception):
            failures[task.label] = failure_reason(outcome, getattr(backend, "max_retries", 0))
            display.failed_unit(task.label, failures[task.label])
            continue
        commit(task, outcome)
        display.finished(task.label, outcome.seconds)
    if failures:
        raise UnitFailedError(failures, where)


def part_path(out: Path, unit: str) -> Path:
    return out / "parts" / f"{unit.replace(':', '_')}.nc"


def reusable_part(path: Path, key: str) -> xr.Dataset | None:
    """The part at ``path`` if it was written with fingerprint ``key`` (a corrupt or foreign part: None)."""
    if not path.is_file():
        return None
    try:
        cached = read_dataset(path)
    except ValueError:
        return None
    return cached if cached.attrs.get("fingerprint") == key else None


def write_unit(out: Path, result: UnitResult, path: Path) -> None:
    """A finished unit on disk: its policy files, then its part (the mark of a finished unit)."""
    if result.part is None:
        return
    for label, payload in result.policies.items():
        with atomic_output(out / "policies" / f"{label}.mmpol") as tmp:
            tmp.write_bytes(payload)
    write_dataset(result.part, path)


def run_study(config: StudyConfig, out: str | Path, progress: bool = True, backend=None) -> xr.Dataset:
    """Run (or resume) a study and write ``study.nc``, the policies (and ``robust.nc`` with ``[robust]``) into
    ``out``. Figures and the report are the plots package's: ``morl_mm.plots.render_study(ds, out)``
    (``morl-mm run`` calls it unless ``--no-render``).

    ``backend``: where the units run (:mod:`morl_mm.study.backends`; default in this process). A unit that
    fails raises :class:`~morl_mm.study.backends.UnitFailedError` after the others finish; nothing but their
    parts is written then, and a rerun resumes."""
    out = Path(out)
    backend = backend or InProcessBackend()
    started = time.perf_counter()
    ctx = context_for(config, make_context(config))
    units = units_of(config)
    keys = {unit: unit_fingerprint(ctx, unit) for unit in units}
    display = UnitProgress(len(units), f"study {config.name}", progress)
    parts, tasks = {}, []
    for unit in units:
        cached = reusable_part(part_path(out, unit), keys[unit])
        if cached is not None:
            display.reused(unit, part_path(out, unit))
            parts[unit] = cached
        else:
            tasks.append(UnitTask(unit, unit, config, keys[unit], unit_resources(config, unit)))

    def commit(task: UnitTask, result: UnitResult) -> None:
        write_unit(out, result, part_path(out, task.unit))
        parts[task.unit] = result.part

    try:
        run_units(
            backend,
            tasks,
            display,
            commit,
            f"finished units are kept in {out / 'parts'}: run the same command again to resume",
        )
    finally:
        display.close()
    ds = assemble([parts[u] for u in units if parts.get(u) is not None], ctx)
    ds.attrs["wall_seconds"] = time.perf_counter() - started
    ds.attrs["backend"] = backend.name
    ds.attrs["unit_seconds"] = json.dumps(display.seconds)  # wall time of the units computed in this run
    write_dataset(ds, out / "study.nc")
    keys = [keys[u] for u in units]
    if config.robust is not None:  # after the units: the exact robust front and every front under its adversary
        run_robust(ds, ctx, keys, out, progress)
    return ds
