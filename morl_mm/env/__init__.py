"""JAX market-making simulator: params, dynamics, objectives, the functional env and adapters."""

from morl_mm.env.market import OBS_NAMES, EnvState, MarketMakingEnv, StepInfo
from morl_mm.env.objectives import DEFAULT_OBJECTIVES, OBJECTIVES
from morl_mm.env.params import EnvConfig, EnvParams, episode_steps, make_params, n_steps, validate_params
from morl_mm.env.rollout import Trajectory, rollout

__all__ = [
    "OBS_NAMES",
    "EnvState",
    "MarketMakingEnv",
    "StepInfo",
    "DEFAULT_OBJECTIVES",
    "OBJECTIVES",
    "EnvConfig",
    "EnvParams",
    "make_params",
    "episode_steps",
    "n_steps",
    "validate_params",
    "Trajectory",
    "rollout",
]
