"""What the study's units share: the study context (config, env, scenarios, scales) and the candidate
policies a unit hands to evaluation, and the fingerprint that tells a finished unit from a stale one."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from morl_mm.env.market import MarketMakingEnv
from morl_mm.evaluation.backtest import Replay
from morl_mm.study.config import REPLAY_SCENARIO, StudyConfig


class Candidate(NamedTuple):
    """A policy to evaluate: a template object, its params, and how to save it.

    A policy that cannot run inside a JAX rollout (a torch network of morl-baselines) comes with its
    episode ``returns`` already evaluated, ``(scenario, sample, objective)``, and no policy object.
    """

    label: str
    kind: str
    preference: np.ndarray  # (K,) weight it was found/trained at, NaN for rule-based
    policy: Any
    policy_params: Any
    save: Callable[[Path], None] | None  # None: no policy file (morl-baselines policies)
    returns: np.ndarray | None = None  # pre-evaluated (scenario, sample, objective) returns
    train_seed: int = -1  # the training seed of a learned policy (-1: not trained)


class StudyContext(NamedTuple):
    config: StudyConfig  # with [data]: its env overrides include the calibrated model
    env: MarketMakingEnv
    params: Any  # base EnvParams
    scenarios: tuple[str, ...]  # the simulated scenarios, "base" first
    scenario_params: Any  # stacked EnvParams over scenarios (ScheduledParams when a scenario has shifts)
    scales: np.ndarray
    replay: Replay | None = None  # the held-out part of [data], evaluated as scenario "replay"
    data_info: dict | None = None  # calibration and replay provenance (stored in the dataset's attrs)
    scenario_env: MarketMakingEnv | None = None  # the env of scenario_params (None: env; a ScheduledEnv with shifts)

    @property
    def evaluation_env(self) -> MarketMakingEnv:
        """The env that runs ``scenario_params``."""
        return self.env if self.scenario_env is None else self.scenario_env

    @property
    def all_scenarios(self) -> tuple[str, ...]:
        """Every scenario of the results: the simulated ones, then the replay if the study has one."""
        return self.scenarios + ((REPLAY_SCENARIO,) if self.replay is not None else ())


def fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]
