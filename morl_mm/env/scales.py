"""The normalisation scales of the objectives: a Monte-Carlo estimate under the model's reference quoter.

Preference weights apply to normalised objectives ``J_i / scale_i`` (``morl_mm.scalarisation``);
every study stores the scales it used with its results.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from morl_mm.env.market import MarketMakingEnv
from morl_mm.env.objectives import BY_NAME
from morl_mm.env.params import EnvParams
from morl_mm.env.rollout import rollout
from morl_mm.scalarisation import validate_scales

REFERENCE_SEED = 0
REFERENCE_EPISODES = 2048


def reference_scales(env: MarketMakingEnv, params: EnvParams, episodes: int = REFERENCE_EPISODES) -> np.ndarray:
    """Per-objective scales that make a preference weight mean something.

    A principal's weights apply to *normalised* objectives J_i / scale_i. The scale of each
    objective follows its ``scale_rule`` in ``morl_mm.env.objectives.TABLE``: "reference" is the
    magnitude of its expected episode value under the reference quoter of the model: both sides
    quoted at depth 1/kappa (the depth that maximises the expected spread income
    delta * exp(-kappa * delta)), i.e. the naive market maker, whose normalised vector is then about
    (+1, -1, 1); an objective whose reference value is ~0 gets scale 1. "one" keeps scale 1
    (``quoting_ratio``, a fraction already). Estimated by Monte Carlo with a fixed key
    (``REFERENCE_SEED``), so the same model always gives the same scales; store them with results.
    """
    cfg = env.config
    depth = 1.0 / float(params.kappa)
    if cfg.action_mode == "discrete":
        grid = np.asarray(cfg.depth_grid)
        i = int(np.argmin(np.abs(grid - depth)))
        action = jnp.asarray(i * (cfg.n_depths + 1) + i, jnp.int32)
    else:
        action = jnp.asarray([depth, depth, 1.0, 1.0] + [1.0, 1.0] * (cfg.max_lots > 1), jnp.float32)
    keys = jax.random.split(jax.random.key(REFERENCE_SEED), episodes)
    returns = jax.jit(jax.vmap(lambda k: rollout(env, lambda o, s, kk: action, k, params).reward.sum(0)))(keys)
    mean = np.abs(np.asarray(returns, np.float64).mean(axis=0))
    scales = np.where(mean > 1e-8, mean, 1.0)
    for i, name in enumerate(cfg.objectives):
        if BY_NAME[name].scale_rule == "one":
            scales[i] = 1.0
    return scales


def resolve_scales(env: MarketMakingEnv, params: EnvParams, scales=None) -> np.ndarray:
    """The given ``scales`` (checked: finite, > 0, one per objective) or the model's ``reference_scales``."""
    return validate_scales(reference_scales(env, params) if scales is None else scales, env.num_objectives)
