"""Gymnasium registration of the env ids, kept free of JAX so that ``import morl_mm`` stays light.

Gymnasium 1.x no longer loads ``gymnasium.envs`` plugin entry points (gym 0.26 did), so
``import morl_mm`` registers the ids itself; without that import, ``gymnasium.make`` also
accepts ``"morl_mm:morl_mm/MarketMaking-v0"`` (the ``module:id`` form imports the module first).
"""

from __future__ import annotations

import gymnasium

ENV_ID = "morl_mm/MarketMaking-v0"


def register_envs() -> None:
    """Register ``"morl_mm/MarketMaking-v0"`` with gymnasium (idempotent).

    Keyword arguments of ``gymnasium.make`` / ``mo_gymnasium.make`` go to
    :class:`morl_mm.env.gym_adapter.MOMarketMakingEnv`;
    ``gymnasium.make_vec(..., vectorization_mode="vector_entry_point")`` builds a
    :class:`morl_mm.env.gym_adapter.VectorMarketMakingEnv`.
    """
    if ENV_ID in gymnasium.envs.registry:
        return
    gymnasium.register(
        id=ENV_ID,
        entry_point="morl_mm.env.gym_adapter:MOMarketMakingEnv",
        vector_entry_point="morl_mm.env.gym_adapter:VectorMarketMakingEnv",
    )
