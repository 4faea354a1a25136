"""Study configs: TOML -> a validated :class:`StudyConfig`.

A study config names the model, the learners and their budgets, the classical strategies, the
evaluation (episodes, seeds, weight grid) and the held-out scenarios. Every key is checked: an
unknown key or a bad value raises :class:`ConfigError` naming the file and the key.

    [study]            name, seed
    [env]              EnvConfig fields (objectives, action_mode, depth_grid, ...)
    [env.params]       EnvParams overrides (sigma, kappa, inventory_limit, ...)
    [oracle]           enabled, depth_step (continuous mode grid)
    [[classical]]      kind = "avellaneda_stoikov" | "glft" | "cartea_jaimungal" | "fixed_spread" | "linear_skew",
                       plus the strategy's parameters
    [learners.<name>]  algorithm = "ppo" | "dqn" | "ppo_adversarial" | a morl-baselines adapter ("gpi_ls", "gpi_pd",
                       "envelope", "pcn", "capql", "pgmorl", "morld"), then the learner's hyperparameters
                       (ppo_adversarial: PPO's and the adversary's, e.g. adversary = { drift = [-2.0, 2.0] },
                       adversary_mode = "step"; see morl_mm.agents.arl.ARLConfig), and optionally:
                       seeds = [0, 1, 2]    train one network per seed (default: [study.seed])
                       env_steps = N        training budget in env steps (any algorithm), or
                       wall_time_s = T      a budget of about T seconds of training (see morl_mm.study.budget)
                       pilot_steps = n      steps of the first wall-time pilot run
                       action_mode = "..."  the learner's action mode (default: the study's; DQN and the
                                            morl-baselines adapters have a fixed one)
                       group = "..."        a label grouping learners in the comparison table and figure
                       resources = { num_cpus = 2, num_gpus = 1 }  what the unit asks of a Ray cluster
                                            (--backend ray; default 1 CPU; no effect on the results)
                       warm_start = "F.mmpol"  ppo: continue training the network of this policy file (a study's
                                            policies/; relative to the config's folder) instead of a fresh one
                                            (its hyperparameters warm_shrink, warm_perturb, warm_reset_critic:
                                            shrink-and-perturb it first, see morl_mm.agents.ppo.shrink_perturb)
    [evaluation]       episodes, seeds, weights_per_axis (Das-Dennis lattice density)
    [scenarios.<name>] EnvParams overrides of a held-out scenario, and optionally in-episode regime shifts
                       (:mod:`morl_mm.env.schedule`): shifts = [{ at = 0.5, sigma = 4.0 }] (from time 0.5 to the
                       end), { start = 0.2, end = 0.3, adverse_impact = 0.2 } (over [start, end)), or
                       { at = 0.5, flash_move = -3.0 } (the mid jumps by -3 in the step that starts at 0.5)
    [scenario_sets]    named sets of scenarios for `morl-mm robustness`: stress = ["calm", "vol_shock"]
    [robust]           the exact robust front and every front under its worst-case adversary (see
                       :class:`RobustSpec`): adversary = { drift = [-2.0, 2.0] }, divisions = 10, episodes = 100
                       ("base" and, with [data], "replay" may be members)
    [sweep]            a hyperparameter sweep of learners (`morl-mm sweep`, see :class:`SweepSpec`): learners,
                       trials, sampler, seed, parallel and [sweep.space.<learner>] key = { low, high[, log] } or
                       { choices = [...] }; `morl-mm run` ignores it
    [data]             a study of a real market (see :class:`DataSpec`): file, format, calibrate = [t0, t1] and
                       replay = [t2, t3] (seconds from the capture's start), horizon, dt, fill_model,
                       skip_bad_lines. The model is calibrated on the first part ([env.params] override the
                       calibrated values), and every policy is also replayed on the held-out part as scenario
                       "replay".
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from morl_mm.agents.catalogue import BASELINE_ALGORITHMS as BASELINE_MODES
from morl_mm.agents.catalogue import NATIVE_ALGORITHMS as NATIVE
from morl_mm.agents.catalogue import NATIVE_MODES
from morl_mm.agents.common import upgrade_keys
from morl_mm.agents.registry import BUDGET_KEY, RENAMED_KEYS, config_class, learner_config
from morl_mm.env.adversary import AdversaryBox
from morl_mm.env.market import MarketMakingEnv
from morl_mm.env.params import EnvConfig, EnvParams, make_params, validate_params
from morl_mm.env.schedule import Shift, schedule_params
from morl_mm.policies.io import read_header
from morl_mm.policies.registry import CLASSICAL, build_classical


class ConfigError(ValueError):
    """A study config is malformed; the message names the file and the key."""


SEED_LIMIT = 2**32  # JAX keys (without x64) keep 32 bits: larger seeds would alias smaller ones
ALGORITHMS = NATIVE + tuple(BASELINE_MODES)
LEARNER_KEYS = (
    "algorithm",
    "seeds",
    "env_steps",
    "wall_time_s",
    "pilot_steps",
    "action_mode",
    "group",
    "warm_start",
    "resources",
)
RESOURCE_KEYS = ("num_cpus", "num_gpus")  # what a unit asks of a Ray cluster (morl_mm.study.backends)


@dataclasses.dataclass(frozen=True)
class LearnerSpec:
    """One learner of a study: its algorithm, hyperparameters, budget and training seeds.

    ``env_steps`` / ``wall_time_s``: the budget (None: the algorithm's own hyperparameter);
    ``action_mode``: the mode it trains in (resolved: never None); ``seeds``: one network per seed.
    """

    name: str
    algorithm: str
    hyperparameters: dict[str, Any]
    seeds: tuple[int, ...] = (0,)
    env_steps: int | None = None
    wall_time_s: float | None = None
    pilot_steps: int | None = None
    action_mode: str = "discrete"
    group: str = ""
    warm_start: str | None = None  # a ppo policy file whose network the training continues from
    resources: dict[str, float] = dataclasses.field(default_factory=dict)  # {num_cpus, num_gpus} on a Ray backend

    @property
    def is_native(self) -> bool:
        return self.algorithm in NATIVE


@dataclasses.dataclass(frozen=True)
class EvaluationSpec:
    """``[evaluation]``: Monte-Carlo episodes per policy, scenario and seed; the seeds; the weight lattice."""

    episodes: int = 500  # the default of a config without it; studies/default.toml sets 200 (x 2 seeds)
    seeds: tuple[int, ...] = (0,)
    weights_per_axis: int = 11  # Das-Dennis lattice: 66 weights for 3 objectives


FILL_MODELS = ("queue", "trade_through", "touch")
DATA_FORMATS = ("auto", "lobster", "binance", "bitstamp")
REPLAY_SCENARIO = "replay"


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """A study's real market: calibrate on ``calibrate`` = [t0, t1), replay ``replay`` = [t2, t3) held out.

    Times are seconds from the capture's start (``t2 >= t1``: the replay never overlaps what the model
    was fitted on); ``file`` is resolved against the config file's folder; ``dt`` is the step in
    seconds (None: the calibrator's choice, A dt <= 0.1); ``horizon`` the episode length in seconds
    (of the simulated episodes and of each replay window).
    """

    file: str
    format: str = "auto"
    calibrate: tuple[float, float] = (0.0, 0.0)
    replay: tuple[float, float] = (0.0, 0.0)
    horizon: float = 60.0
    dt: float | None = None
    fill_model: str = "queue"
    skip_bad_lines: bool = False


@dataclasses.dataclass(frozen=True)
class RobustSpec:
    """``[robust]``: the exact robust front of the base model against a per-step adversary, and every front of
    the study evaluated under the worst-case adversary (:mod:`morl_mm.study.robust_front`)."""

    adversary: dict[str, tuple[float, float]]  # the box {field: (lo, hi)} the adversary sets at every step
    divisions: int = 10  # simplex lattice of the robust front's weights (10: 66 weights for 3 objectives)
    episodes: int = 100  # Monte-Carlo episodes per weight under the worst-case adversary
    seed: int = 0  # the episodes' key

    @property
    def box(self):
        return AdversaryBox(dict(self.adversary), "step")


SAMPLERS = ("tpe", "random")  # optuna's TPESampler / RandomSampler


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """``[sweep]``: tune learners' hyperparameters by HV ratio against the exact CCS (:mod:`morl_mm.study.sweep`).

    Every learner gets ``trials`` trials at its own budget (``env_steps`` or its budget key) and ``seeds``, so the
    tuning budget (trials x steps x seeds) is the same for learners of the same budget. ``space`` maps a learner to
    ``{key: {"low", "high", "log"} | {"choices"}}``; ``parallel`` trials are asked of the sampler at once (None:
    as many as the backend runs at once).
    """

    learners: tuple[str, ...]
    space: dict[str, dict[str, dict[str, Any]]]
    trials: int = 8
    sampler: str = "tpe"
    seed: int = 0
    parallel: int | None = None
    seeds: tuple[int, ...] | None = None  # training seeds of every trial (None: each learner's own)


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    """A validated study. ``raw`` keeps the parsed TOML for provenance."""

    name: str
    seed: int
    env_config: EnvConfig
    env_overrides: dict[str, Any]
    oracle: dict[str, Any]
    classical: tuple[dict[str, Any], ...]
    learners: tuple[LearnerSpec, ...]
    evaluation: EvaluationSpec
    scenarios: dict[str, dict[str, Any]]
    source: str
    raw: dict[str, Any]
    data: DataSpec | None = None
    scenario_shifts: dict[str, tuple[Shift, ...]] = dataclasses.field(
        default_factory=dict
    )  # only scenarios with shifts
    scenario_sets: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    robust: RobustSpec | None = None
    sweep: SweepSpec | None = None

    def env_params(self, scenario: str | None = None, env_config: EnvConfig | None = None) -> EnvParams:
        """The model's params (of ``scenario`` if given: its constant overrides, without its shifts), for the
        study's EnvConfig or ``env_config``."""
        overrides = dict(self.env_overrides)
        if scenario is not None:
            overrides.update(self.scenarios[scenario])
        return make_params(env_config or self.env_config, **overrides)


def _check_keys(table: dict, allowed, where: str, source: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {unknown} in [{where}]; allowed: {sorted(allowed)}")


def _type_ok(value: Any, like: Any) -> bool:
    """Whether a TOML ``value`` has the type of ``like`` (a field's default): a bool is no number, a
    float field takes an int, a tuple field takes a list of its elements' type, numbers are finite."""
    if like is None:
        return True
    if isinstance(like, bool):
        return isinstance(value, bool)
    if isinstance(like, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(like, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if isinstance(like, tuple):
        return isinstance(value, list) and (not like or all(_type_ok(v, like[0]) for v in value))
    return isinstance(value, type(like))


def _type_name(like: Any) -> str:
    if isinstance(like, tuple):
        plural = {bool: "booleans", int: "ints", float: "finite numbers", str: "strings"}
        return f"a list of {plural.get(type(like[0]), 'values') if like else 'values'}"
    names = {bool: "true or false", int: "an int", float: "a finite number", str: "a string", dict: "a table"}
    return names.get(type(like), type(like).__name__)


def check_types(table: dict, cls: type, where: str, source: str) -> None:
    """``ConfigError`` naming the key when a value of ``table`` does not have the type of the default of
    the field of dataclass ``cls`` that it sets (unknown keys are left to :func:`_check_keys`)."""
    defaults = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            defaults[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            defaults[f.name] = f.default_factory()
    for key, value in table.items():
        if key in defaults and not _type_ok(value, defaults[key]):
            raise ConfigError(f"{source}: [{where}] {key} must be {_type_name(defaults[key])}, got {value!r}")


def _table(raw: dict, key: str, source: str) -> dict:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: [{key}] must be a table, got {type(value).__name__}")
    return value


def load_config(path: str | Path) -> StudyConfig:
    """Read and validate a study config file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: study config not found")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: malformed TOML: {err}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not a UTF-8 text file (byte {err.start}: {err.reason})") from None
    except OSError as err:  # unreadable (permissions, a broken disk)
        raise ConfigError(f"{path}: cannot read the study config: {err.strerror or err}") from None
    return parse_config(raw, source=str(path))


def parse_config(raw: dict, source: str = "<config>") -> StudyConfig:
    """Validate a parsed TOML document (see the module docstring for its shape)."""
    _check_keys(
        raw,
        (
            "study",
            "env",
            "oracle",
            "classical",
            "learners",
            "evaluation",
            "scenarios",
            "scenario_sets",
            "data",
            "robust",
            "sweep",
        ),
        "top level",
        source,
    )
    data = parse_data(raw["data"], source) if "data" in raw else None
    study = _table(raw, "study", source)
    _check_keys(study, ("name", "seed"), "study", source)
    check_types(study, _StudyTable, "study", source)

    env = dict(_table(raw, "env", source))
    env_overrides = env.pop("params", {})
    if not isinstance(env_overrides, dict):
        raise ConfigError(f"{source}: [env.params] must be a table, got {type(env_overrides).__name__}")
    config_fields = {f.name for f in dataclasses.fields(EnvConfig)}
    _check_keys(env, config_fields, "env", source)
    check_types(env, EnvConfig, "env", source)
    try:
        env_config = EnvConfig(**env)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{source}: [env]: {err}") from None
    param_fields = {f.name for f in dataclasses.fields(EnvParams)}
    _check_keys(env_overrides, param_fields, "env.params", source)
    if data is None:  # with [data] the overrides apply on top of the calibrated model: checked once it is known
        check_params(env_config, env_overrides, "env.params", source)

    oracle = _table(raw, "oracle", source)
    _check_keys(oracle, ("enabled", "depth_step"), "oracle", source)
    if not isinstance(oracle.get("enabled", True), bool):
        raise ConfigError(f"{source}: [oracle] enabled must be true or false, got {oracle['enabled']!r}")
    step = oracle.get("depth_step")
    if step is not None and (
        isinstance(step, bool)
        or not isinstance(step, (int, float))
        or not step > 0
        or env_config.action_mode != "continuous"
    ):
        raise ConfigError(
            f"{source}: [oracle] depth_step must be a number > 0 and needs [env] action_mode = "
            f'"continuous" (discrete mode uses the env\'s grid), got {step!r} in '
            f"{env_config.action_mode!r} mode"
        )

    classical = raw.get("classical", [])
    if not isinstance(classical, list):
        raise ConfigError(f"{source}: [[classical]] must be an array of tables")
    for i, spec in enumerate(classical):
        if not isinstance(spec, dict) or not isinstance(spec.get("kind"), str) or spec["kind"] not in CLASSICAL:
            raise ConfigError(f"{source}: classical[{i}].kind must be one of {sorted(CLASSICAL)}, got {spec!r}")
        check_classical(spec, i, env_config, env_overrides if data is None else None, source)

    seed = study.get("seed", 0)
    if not 0 <= seed < SEED_LIMIT:
        raise ConfigError(f"{source}: [study] seed must lie in [0, 2**32), got {seed}")
    learners = [
        parse_learner(name, spec, env_config, seed, source) for name, spec in _table(raw, "learners", source).items()
    ]
    if data is None:  # with [data] the model is calibrated later
        for spec in learners:
            check_adversary(spec, env_config, env_overrides, source)

    evaluation = _table(raw, "evaluation", source)
    _check_keys(evaluation, [f.name for f in dataclasses.fields(EvaluationSpec)], "evaluation", source)
    check_types(evaluation, EvaluationSpec, "evaluation", source)
    evaluation = dict(evaluation)
    if "seeds" in evaluation:
        evaluation["seeds"] = tuple(evaluation["seeds"])
    spec = EvaluationSpec(**evaluation)
    if (
        spec.episodes < 1
        or spec.weights_per_axis < 2
        or not spec.seeds
        or not all(0 <= s < SEED_LIMIT for s in spec.seeds)
    ):
        raise ConfigError(
            f"{source}: [evaluation] needs episodes >= 1, weights_per_axis >= 2 and a seed "
            f"(0 <= seed < 2**32), got {spec}"
        )

    scenarios, shifts = {}, {}
    for name, table in _table(raw, "scenarios", source).items():
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: [scenarios.{name}] must be a table, got {type(table).__name__}")
        if name == "base" or (name == REPLAY_SCENARIO and data is not None):
            raise ConfigError(
                f"{source}: [scenarios.{name}]: the name is the study's {name} "
                f"{'model' if name == 'base' else 'of [data]'}; choose another"
            )
        overrides = {k: v for k, v in table.items() if k != "shifts"}
        _check_keys(overrides, param_fields, f"scenarios.{name}", source)
        scenarios[name] = overrides
        if "shifts" in table:
            shifts[name] = parse_shifts(table["shifts"], f"scenarios.{name}", source)
        if data is None:
            check_params(env_config, {**env_overrides, **overrides}, f"scenarios.{name}", source)
            check_shifts(env_config, {**env_overrides, **overrides}, shifts.get(name, ()), f"scenarios.{name}", source)
    sets = parse_scenario_sets(
        _table(raw, "scenario_sets", source),
        ["base", *scenarios] + ([REPLAY_SCENARIO] if data is not None else []),
        source,
    )

    robust = (
        parse_robust(raw["robust"], env_config, env_overrides if data is None else None, source)
        if "robust" in raw
        else None
    )
    sweep = parse_sweep(raw["sweep"], learners, source) if "sweep" in raw else None
    return StudyConfig(
        name=str(study.get("name", Path(source).stem)),
        seed=seed,
        env_config=env_config,
        env_overrides=dict(env_overrides),
        oracle={"enabled": True, **oracle},
        classical=tuple(dict(c) for c in classical),
        learners=tuple(learners),
        evaluation=spec,
        scenarios=scenarios,
        source=source,
        raw=raw,
        data=data,
        scenario_shifts=shifts,
        scenario_sets=sets,
        robust=robust,
        sweep=sweep,
    )


def parse_sweep(table: Any, learners: list[LearnerSpec], source: str) -> SweepSpec:
    """``[sweep]`` -> a :class:`SweepSpec`; ``ConfigError`` naming the key when a learner, a range or a count is bad."""
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [sweep] must be a table, got {type(table).__name__}")
    _check_keys(table, ("learners", "space", "trials", "sampler", "seed", "parallel", "seeds"), "sweep", source)
    space = table.get("space", {})
    if not isinstance(space, dict) or not space:
        raise ConfigError(
            f"{source}: [sweep.space.<learner>] tables are needed: the keys to tune, e.g. "
            f"learning_rate = {{ low = 1e-4, high = 1e-2, log = true }}"
        )
    specs = {spec.name: spec for spec in learners}
    names = table.get("learners", list(space))
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{source}: [sweep] learners must be a non-empty list of learner names, got {names!r}")
    for name in set(names) | set(space):
        if name not in specs:
            raise ConfigError(f"{source}: [sweep]: no learner {name!r} in [learners.*] (known: {sorted(specs)})")
        if name not in space or not isinstance(space[name], dict) or not space[name]:
            raise ConfigError(f"{source}: [sweep.space.{name}] must be a table of the keys to tune")
    checked = {
        name: {key: _sweep_range(value, f"sweep.space.{name}.{key}", source) for key, value in space[name].items()}
        for name in names
    }
    for name in names:
        budget_keys = set(LEARNER_KEYS)
        if specs[name].is_native:
            try:  # a former key name tunes its new name, with the learners' deprecation warning
                checked[name] = upgrade_keys(
                    checked[name], RENAMED_KEYS[specs[name].algorithm], f"{source}: sweep.space.{name}"
                )
            except ValueError as err:
                raise ConfigError(str(err)) from None
            fields = {f.name for f in dataclasses.fields(config_class(specs[name].algorithm))}
            _check_keys(checked[name], fields, f"sweep.space.{name}", source)
            budget_keys.add(BUDGET_KEY)
        fixed = sorted(budget_keys & set(checked[name]))
        if fixed:
            raise ConfigError(
                f"{source}: [sweep.space.{name}] {fixed}: the budget and the learner's settings are not "
                f"tuned (every learner tunes at its own budget)"
            )
    counts = {"trials": table.get("trials", 8), "seed": table.get("seed", 0), "parallel": table.get("parallel", 1)}
    for key, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if key == "seed" else 1):
            raise ConfigError(f"{source}: [sweep] {key} must be an int >= {0 if key == 'seed' else 1}, got {value!r}")
    sampler = table.get("sampler", "tpe")
    if sampler not in SAMPLERS:
        raise ConfigError(f"{source}: [sweep] sampler must be one of {list(SAMPLERS)}, got {sampler!r}")
    seeds = table.get("seeds")
    if seeds is not None and (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x < SEED_LIMIT for x in seeds)
    ):
        raise ConfigError(f"{source}: [sweep] seeds must be a non-empty list of ints in [0, 2**32), got {seeds!r}")
    return SweepSpec(
        tuple(names),
        checked,
        counts["trials"],
        sampler,
        counts["seed"],
        table.get("parallel"),
        None if seeds is None else tuple(seeds),
    )


def _sweep_range(value: Any, where: str, source: str) -> dict[str, Any]:
    """One tuned key: ``{low, high[, log]}`` (numbers, low < high, low > 0 with log) or ``{choices = [...]}``."""
    if isinstance(value, dict) and set(value) == {"choices"}:
        if not isinstance(value["choices"], list) or not value["choices"]:
            raise ConfigError(f"{source}: [{where}] choices must be a non-empty list, got {value['choices']!r}")
        return {"choices": list(value["choices"])}
    number = lambda x: isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)  # noqa: E731
    if (
        not isinstance(value, dict)
        or not {"low", "high"} <= set(value) <= {"low", "high", "log"}
        or not number(value["low"])
        or not number(value["high"])
        or not value["low"] < value["high"]
        or not isinstance(value.get("log", False), bool)
        or (value.get("log") and value["low"] <= 0)
    ):
        raise ConfigError(
            f"{source}: [{where}] must be {{ low = a, high = b[, log = true] }} with a < b (a > 0 with "
            f"log) or {{ choices = [...] }}, got {value!r}"
        )
    return {"low": value["low"], "high": value["high"], "log": bool(value.get("log", False))}


def parse_robust(table: Any, env_config: EnvConfig, env_overrides: dict | None, source: str) -> RobustSpec:
    """``[robust]``: an adversary box whose corners are valid params of the model (checked when the model is
    known: ``env_overrides`` None with [data]), divisions >= 1, episodes >= 1; ``ConfigError`` naming the key."""
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [robust] must be a table, got {type(table).__name__}")
    _check_keys(table, [f.name for f in dataclasses.fields(RobustSpec)], "robust", source)
    if "adversary" not in table or not isinstance(table["adversary"], dict):
        raise ConfigError(
            f"{source}: [robust] adversary must be a table of bounds, e.g. {{ drift = [-2.0, 2.0] }}, "
            f"got {table.get('adversary')!r}"
        )
    for key in ("divisions", "episodes", "seed"):
        value = table.get(key, 1)
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if key == "seed" else 1):
            raise ConfigError(
                f"{source}: [robust] {key} must be an integer >= {0 if key == 'seed' else 1}, got {value!r}"
            )
    try:
        spec = RobustSpec(**table)
        box = spec.box
        if env_overrides is not None:
            box.check(make_params(env_config, **env_overrides), env_config)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{source}: [robust] {err}") from None  # "adversary: ..." names the key
    if env_config.action_mode != "discrete":
        raise ConfigError(
            f'{source}: [robust] needs [env] action_mode = "discrete" (the exact robust oracle\'s '
            f"grid), got {env_config.action_mode!r}"
        )
    return dataclasses.replace(spec, adversary={n: (lo, hi) for n, lo, hi in box.bounds})


@dataclasses.dataclass(frozen=True)
class _StudyTable:
    """The types of the ``[study]`` table."""

    name: str = ""
    seed: int = 0


def check_classical(spec: dict, index: int, env_config: EnvConfig, env_overrides: dict | None, source: str) -> None:
    """``ConfigError`` naming ``classical[index]`` when a parameter is not a finite number or the strategy
    rejects it (built on the study's model; ``env_overrides`` None: the model is calibrated later, only
    the types are checked)."""
    for key, value in spec.items():
        if key != "kind" and not _type_ok(value, 0.0):
            raise ConfigError(f"{source}: classical[{index}].{key} must be a finite number, got {value!r}")
    if env_overrides is None:
        return
    try:
        build_classical(MarketMakingEnv(env_config), make_params(env_config, **env_overrides), spec)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{source}: classical[{index}] ({spec['kind']}): {err}") from None


def check_adversary(spec: LearnerSpec, env_config: EnvConfig, env_overrides: dict, source: str) -> None:
    """``ConfigError`` naming ``learners.<name>`` and its adversary when a corner of an adversarial learner's box
    does not give valid params of the model (e.g. ``arrival_rate * dt > 1`` or ``kappa <= 0``)."""
    if spec.algorithm != "ppo_adversarial":
        return
    box = learner_config(spec.algorithm, spec.hyperparameters).box
    try:
        box.check(make_params(env_config, **env_overrides), env_config)
    except ValueError as err:
        raise ConfigError(f"{source}: learners.{spec.name}: {err}") from None


def check_params(env_config: EnvConfig, overrides: dict, where: str, source: str) -> None:
    """``ConfigError`` naming the table when ``overrides`` do not make valid EnvParams."""
    try:
        make_params(env_config, **overrides)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{source}: [{where}]: {err}") from None


SHIFT_TIMES = ("at", "start", "end")


def parse_shifts(value: Any, where: str, source: str) -> tuple[Shift, ...]:
    """A scenario's ``shifts = [{...}, ...]`` -> :class:`~morl_mm.env.schedule.Shift` s (``ConfigError`` naming
    ``[where] shifts[i]``). A shift has ``at`` (to the episode's end; the time of a ``flash_move``) or
    ``start`` and ``end``, then EnvParams overrides or ``flash_move``."""
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{source}: [{where}] shifts must be a non-empty array of tables, got {value!r}")
    param_fields = {f.name for f in dataclasses.fields(EnvParams)}
    out = []
    for i, table in enumerate(value):
        here = f"{source}: [{where}] shifts[{i}]"
        if not isinstance(table, dict):
            raise ConfigError(f"{here} must be a table, got {table!r}")
        unknown = sorted(set(table) - {*SHIFT_TIMES, "flash_move", *param_fields})
        if unknown:
            raise ConfigError(
                f"{here}: unknown key(s) {unknown}; a shift takes at, or start and end, then EnvParams "
                f"fields or flash_move"
            )
        for key, item in table.items():
            if not _type_ok(item, 0.0):
                raise ConfigError(f"{here}.{key} must be a finite number, got {item!r}")
        if ("at" in table) == ("start" in table):
            raise ConfigError(
                f"{here}: give either at (a switch to the episode's end, or a flash_move's time) or start and end"
            )
        if "at" in table and "end" in table:
            raise ConfigError(f"{here}: at runs to the episode's end; for a window give start and end")
        if "start" in table and "end" not in table:
            raise ConfigError(f"{here}: start needs an end (or use at)")
        overrides = {k: v for k, v in table.items() if k not in (*SHIFT_TIMES, "flash_move")}
        try:
            out.append(Shift(table.get("at", table.get("start")), table.get("end"), overrides, table.get("flash_move")))
        except ValueError as err:
            raise ConfigError(f"{here}: {err}") from None
    return tuple(out)


def check_shifts(env_config: EnvConfig, overrides: dict, shifts, where: str, source: str) -> None:
    """``ConfigError`` naming the scenario when its shifts do not make valid params at every step."""
    if not shifts:
        return
    try:
        schedule_params(make_params(env_config, **overrides), shifts, validate=lambda p: validate_params(p, env_config))
    except ValueError as err:
        raise ConfigError(f"{source}: [{where}] shifts: {err}") from None


def parse_scenario_sets(table: dict, known: list[str], source: str) -> dict[str, tuple[str, ...]]:
    """``[scenario_sets] name = ["calm", ...]``: non-empty lists of distinct known scenario names."""
    sets = {}
    for name, members in table.items():
        if (
            not isinstance(members, list)
            or not members
            or not all(isinstance(m, str) for m in members)
            or len(set(members)) != len(members)
        ):
            raise ConfigError(
                f"{source}: [scenario_sets] {name} must be a non-empty list of distinct scenario names, got {members!r}"
            )
        unknown = [m for m in members if m not in known]
        if unknown:
            raise ConfigError(f"{source}: [scenario_sets] {name}: unknown scenario(s) {unknown}; the study has {known}")
        sets[name] = tuple(members)
    return sets


def parse_data(table: Any, source: str) -> DataSpec:
    """The ``[data]`` table -> a :class:`DataSpec` (file resolved against the config's folder)."""
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [data] must be a table, got {type(table).__name__}")
    _check_keys(table, [f.name for f in dataclasses.fields(DataSpec)], "data", source)
    where = f"{source}: [data]"
    file = table.get("file")
    if not isinstance(file, str) or not file:
        raise ConfigError(f"{where} file must be the path of a capture, got {file!r}")
    path = _resolve(file, source)
    fmt = table.get("format", "auto")
    if fmt not in DATA_FORMATS:
        raise ConfigError(f"{where} format must be one of {list(DATA_FORMATS)}, got {fmt!r}")
    fill_model = table.get("fill_model", "queue")
    if fill_model not in FILL_MODELS:
        raise ConfigError(f"{where} fill_model must be one of {list(FILL_MODELS)}, got {fill_model!r}")

    def number(key, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
            raise ConfigError(f"{where} {key} must be a finite number, got {value!r}")
        return float(value)

    def span(key):
        value = table.get(key)
        if not isinstance(value, list) or len(value) != 2:
            raise ConfigError(f"{where} {key} must be [start, end] in seconds from the capture's start, got {value!r}")
        lo, hi = number(key, value[0]), number(key, value[1])
        if not 0 <= lo < hi:
            raise ConfigError(f"{where} {key} needs 0 <= start < end, got {value!r}")
        return lo, hi

    calibrate, replay = span("calibrate"), span("replay")
    if replay[0] < calibrate[1]:
        raise ConfigError(
            f"{where} replay {list(replay)} must start after the calibration part {list(calibrate)} "
            f"ends: the replay is held out"
        )
    horizon = number("horizon", table.get("horizon", 60.0))
    dt = table.get("dt")
    dt = None if dt is None else number("dt", dt)
    if horizon <= 0 or (dt is not None and not 0 < dt < horizon):
        raise ConfigError(f"{where} needs horizon > 0 and 0 < dt < horizon, got horizon={horizon}, dt={dt}")
    if replay[1] - replay[0] < horizon:
        raise ConfigError(
            f"{where} the replay part ({replay[1] - replay[0]:g} s) is shorter than one episode (horizon {horizon:g} s)"
        )
    skip = table.get("skip_bad_lines", False)
    if not isinstance(skip, bool):
        raise ConfigError(f"{where} skip_bad_lines must be true or false, got {skip!r}")
    return DataSpec(str(path), fmt, calibrate, replay, horizon, dt, fill_model, skip)


def parse_learner(name: str, table: Any, env_config: EnvConfig, study_seed: int, source: str) -> LearnerSpec:
    """One ``[learners.<name>]`` table -> a validated :class:`LearnerSpec`."""
    where = f"{source}: learners.{name}"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table, got {type(table).__name__}")
    hp = {k: v for k, v in table.items() if k not in LEARNER_KEYS}
    check_types({k: v for k, v in table.items() if k == "group"}, LearnerSpec, f"learners.{name}", source)
    algorithm = table.get("algorithm", name)
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"{where}.algorithm must be one of {list(ALGORITHMS)}, got {algorithm!r}")
    seeds = table.get("seeds", [study_seed])
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(x, int) and not isinstance(x, bool) for x in seeds)
        or len(set(seeds)) != len(seeds)
        or not all(0 <= x < SEED_LIMIT for x in seeds)
    ):
        raise ConfigError(f"{where}.seeds must be a non-empty list of distinct ints in [0, 2**32), got {seeds!r}")
    env_steps, wall_time_s = table.get("env_steps"), table.get("wall_time_s")
    if env_steps is not None and wall_time_s is not None:
        raise ConfigError(f"{where}: give env_steps or wall_time_s, not both")
    if env_steps is not None and (isinstance(env_steps, bool) or not isinstance(env_steps, int) or env_steps < 1):
        raise ConfigError(f"{where}.env_steps must be a positive int, got {env_steps!r}")
    if wall_time_s is not None and (
        isinstance(wall_time_s, bool) or not isinstance(wall_time_s, (int, float)) or not wall_time_s > 0
    ):
        raise ConfigError(f"{where}.wall_time_s must be a number > 0, got {wall_time_s!r}")
    pilot = table.get("pilot_steps")
    if pilot is not None and (isinstance(pilot, bool) or not isinstance(pilot, int) or pilot < 1):
        raise ConfigError(f"{where}.pilot_steps must be a positive int, got {pilot!r}")
    fixed_mode = BASELINE_MODES.get(algorithm) or NATIVE_MODES.get(algorithm)
    mode = table.get("action_mode", fixed_mode or env_config.action_mode)
    if mode not in ("discrete", "continuous") or (fixed_mode and mode != fixed_mode):
        raise ConfigError(
            f"{where}.action_mode: {algorithm} trains in the "
            f"{repr(fixed_mode) if fixed_mode else 'discrete or continuous'} action mode, got {mode!r}"
        )
    if algorithm in NATIVE:
        # a native network is evaluated in the study's env: a discrete policy maps exactly to continuous
        # actions, a continuous one has no exact discrete image
        if mode == "continuous" and env_config.action_mode == "discrete":
            raise ConfigError(
                f"{where}: a continuous-mode {algorithm} cannot be evaluated in the study's discrete "
                f'action mode; set [env] action_mode = "continuous"'
            )
        try:
            hp = upgrade_keys(hp, RENAMED_KEYS[algorithm], where)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        if BUDGET_KEY in hp and (env_steps is not None or wall_time_s is not None):
            raise ConfigError(f"{where}: {BUDGET_KEY} and env_steps/wall_time_s both set a budget")
        check_types(hp, config_class(algorithm), f"learners.{name}", source)
        try:
            learner_config(algorithm, hp)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{where}: {err}") from None
    elif env_steps is None and wall_time_s is None:
        raise ConfigError(f"{where}: a morl-baselines learner needs a budget: env_steps or wall_time_s")
    warm_start = check_warm_start(table["warm_start"], algorithm, where, source) if "warm_start" in table else None
    return LearnerSpec(
        name,
        algorithm,
        hp,
        tuple(seeds),
        env_steps,
        None if wall_time_s is None else float(wall_time_s),
        pilot,
        mode,
        str(table.get("group", "")),
        warm_start,
        parse_resources(table.get("resources", {}), where),
    )


def parse_resources(value: Any, where: str) -> dict[str, float]:
    """A learner's ``resources`` table: ``num_cpus`` / ``num_gpus``, numbers >= 0 (``ConfigError`` naming the key)."""
    if not isinstance(value, dict):
        raise ConfigError(f"{where}.resources must be a table like {{ num_cpus = 2, num_gpus = 1 }}, got {value!r}")
    unknown = sorted(set(value) - set(RESOURCE_KEYS))
    if unknown:
        raise ConfigError(f"{where}.resources: unknown key(s) {unknown}; allowed: {list(RESOURCE_KEYS)}")
    for key, amount in value.items():
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not 0 <= amount < math.inf:
            raise ConfigError(f"{where}.resources.{key} must be a number >= 0, got {amount!r}")
    return {key: float(amount) for key, amount in value.items()}


def check_warm_start(value: Any, algorithm: str, where: str, source: str) -> str:
    """The resolved path of a learner's ``warm_start`` policy file: a readable ppo policy (``ConfigError``
    naming the key otherwise; whether its layers fit the learner is checked when it trains)."""
    if algorithm != "ppo":
        raise ConfigError(f"{where}.warm_start: only ppo continues from a saved network, not {algorithm}")
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}.warm_start must be the path of a ppo policy file (.mmpol), got {value!r}")
    path = _resolve(value, source)
    try:
        kind = read_header(path).get("kind")
    except ValueError as err:
        raise ConfigError(f"{where}.warm_start: {err}") from None
    if kind != "ppo":
        raise ConfigError(f"{where}.warm_start: {path} holds a {kind!r} policy, not a ppo network")
    return str(path)


def _resolve(file: str, source: str) -> Path:
    """``file`` as an absolute path, a relative one taken against the config file's folder."""
    path = Path(file).expanduser()
    if not path.is_absolute():
        path = (Path(source).parent / path).resolve() if source and not source.startswith("<") else path
    return path
