"""morl-mm: multi-objective reinforcement learning for market making."""

__version__ = "0.1.0"
