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
    [learners.<name>]  algorithm = "ppo" | "dqn", then the learner's hyperparameters
    [evaluation]       episodes, seeds, weights_per_axis (Das-Dennis lattice density)
    [scenarios.<name>] EnvParams overrides of a held-out scenario
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from morl_mm.env.params import EnvConfig, EnvParams, make_params
from morl_mm.policies.registry import CLASSICAL


class ConfigError(ValueError):
    """A study config is malformed; the message names the file and the key."""


ALGORITHMS = ("ppo", "dqn")


@dataclasses.dataclass(frozen=True)
class LearnerSpec:
    name: str
    algorithm: str
    hyperparameters: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class EvaluationSpec:
    episodes: int = 500
    seeds: tuple[int, ...] = (0,)
    weights_per_axis: int = 11  # Das-Dennis lattice: 66 weights for 3 objectives


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

    def env_params(self, scenario: str | None = None) -> EnvParams:
        overrides = dict(self.env_overrides)
        if scenario is not None:
            overrides.update(self.scenarios[scenario])
        return make_params(self.env_config, **overrides)


def _check_keys(table: dict, allowed, where: str, source: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {unknown} in [{where}]; allowed: {sorted(allowed)}")


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
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: malformed TOML: {err}") from None
    return parse_config(raw, source=str(path))


def parse_config(raw: dict, source: str = "<config>") -> StudyConfig:
    """Validate a parsed TOML document (see the module docstring for its shape)."""
    _check_keys(raw, ("study", "env", "oracle", "classical", "learners", "evaluation", "scenarios"), "top level", source)
    study = _table(raw, "study", source)
    _check_keys(study, ("name", "seed"), "study", source)

    env = dict(_table(raw, "env", source))
    env_overrides = env.pop("params", {})
    config_fields = {f.name for f in dataclasses.fields(EnvConfig)}
    _check_keys(env, config_fields, "env", source)
    try:
        env_config = EnvConfig(**env)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{source}: [env]: {err}") from None
    param_fields = {f.name for f in dataclasses.fields(EnvParams)}
    _check_keys(env_overrides, param_fields, "env.params", source)
    try:
        make_params(env_config, **env_overrides)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{source}: [env.params]: {err}") from None

    oracle = _table(raw, "oracle", source)
    _check_keys(oracle, ("enabled", "depth_step"), "oracle", source)

    classical = raw.get("classical", [])
    if not isinstance(classical, list):
        raise ConfigError(f"{source}: [[classical]] must be an array of tables")
    for i, spec in enumerate(classical):
        if not isinstance(spec, dict) or spec.get("kind") not in CLASSICAL:
            raise ConfigError(f"{source}: classical[{i}].kind must be one of {sorted(CLASSICAL)}, got {spec!r}")

    learners = []
    for name, spec in _table(raw, "learners", source).items():
        spec = dict(spec)
        algorithm = spec.pop("algorithm", name)
        if algorithm not in ALGORITHMS:
            raise ConfigError(f"{source}: learners.{name}.algorithm must be one of {list(ALGORITHMS)}, got {algorithm!r}")
        learners.append(LearnerSpec(name, algorithm, spec))

    evaluation = _table(raw, "evaluation", source)
    _check_keys(evaluation, [f.name for f in dataclasses.fields(EvaluationSpec)], "evaluation", source)
    evaluation = dict(evaluation)
    if "seeds" in evaluation:
        evaluation["seeds"] = tuple(evaluation["seeds"])
    spec = EvaluationSpec(**evaluation)
    if spec.episodes < 1 or spec.weights_per_axis < 2 or not spec.seeds:
        raise ConfigError(f"{source}: [evaluation] needs episodes >= 1, weights_per_axis >= 2 and a seed, got {spec}")

    scenarios = _table(raw, "scenarios", source)
    for name, overrides in scenarios.items():
        _check_keys(overrides, param_fields, f"scenarios.{name}", source)
        try:
            make_params(env_config, **{**env_overrides, **overrides})
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{source}: [scenarios.{name}]: {err}") from None

    return StudyConfig(
        name=str(study.get("name", Path(source).stem)),
        seed=int(study.get("seed", 0)),
        env_config=env_config,
        env_overrides=dict(env_overrides),
        oracle={"enabled": True, **oracle},
        classical=tuple(dict(c) for c in classical),
        learners=tuple(learners),
        evaluation=spec,
        scenarios={k: dict(v) for k, v in scenarios.items()},
        source=source,
        raw=raw,
    )
