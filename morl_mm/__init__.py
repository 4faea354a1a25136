"""morl-mm: multi-objective reinforcement learning for market making."""

__version__ = "0.1.0"

from morl_mm._gym_registration import register_envs as _register_envs

_register_envs()  # gymnasium 1.x ignores plugin entry points: importing morl_mm registers its env ids
