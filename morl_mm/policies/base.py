"""One policy interface for everything that quotes: classical rules, oracle tables, networks.

A policy is an object with a pytree ``params`` and a pure, jittable
``act(params, obs, state, key) -> action`` that returns an action of the env's action mode.
Rule-based and oracle policies read the true ``state`` (inventory, time, mid, regime); learned
networks read the normalised ``obs``. Keeping ``params`` apart from ``act`` lets a rollout vmap
over policy parameters (a population, or one network's weights per preference).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import jax


@runtime_checkable
class Policy(Protocol):
    params: Any

    def act(self, params: Any, obs: jax.Array, state: Any, key: jax.Array) -> jax.Array:
        """Action for one env (vmap for batches)."""
        ...
