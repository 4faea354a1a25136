"""Pieces shared by the weight-conditioned learners (PPO, DQN): preference weights, MLPs, evaluation.

Scalarisation convention of the project: a preference weight ``w`` on the simplex applies to the
*normalised* objectives ``J_i / scale_i`` with ``scale = reference_scales(env, params)``.
A weight-conditioned policy takes ``params = (network_params, w)`` and reads ``concat(obs, w)``.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from morl_mm.env.params import episode_steps
from morl_mm.env.rollout import ByIdentity, rollout
from morl_mm.scalarisation import validate_weights


# -- hyperparameter names ---------------------------------------------------------------------------
def upgrade_keys(hyperparameters: dict, renamed: dict[str, str], where: str) -> dict:
    """``hyperparameters`` with every former name in ``renamed`` (old -> new) replaced by its new one, each
    with a one-line ``FutureWarning`` naming the new key (``where``: what the keys belong to, e.g.
    "learners.dqn"); ``ValueError`` when a key is given under both names."""
    out = dict(hyperparameters)
    for old, new in renamed.items():
        if old not in out:
            continue
        if new in out:
            raise ValueError(f"{where}: {old!r} is the former name of {new!r}; give {new!r} only")
        warnings.warn(f"{where}.{old} is deprecated: use {new} (same meaning)", FutureWarning, stacklevel=3)
        out[new] = out.pop(old)
    return out


# -- preference weights -----------------------------------------------------------------------------
# validate_weights (simplex check at the boundary) is the project's one, from morl_mm.scalarisation.


def sample_simplex_weights(
    key: jax.Array, shape: Sequence[int] | int, n_objectives: int, concentration: float = 1.0
) -> jax.Array:
    """Weights drawn from a symmetric Dirichlet(``concentration``) on the simplex, shape ``(*shape, n)``.

    ``concentration=1`` is uniform on the simplex; < 1 favours the corners and edges.
    """
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    alpha = jnp.full((n_objectives,), concentration, jnp.float32)
    return jax.random.dirichlet(key, alpha, shape)


# -- training logs ----------------------------------------------------------------------------------
def finished_metrics(finished) -> dict:
    """What both learners log of the episodes that ended in an update (``finished = (raw objective sums,
    done, scalarised return w . (J / scales) under each env's weight)``, leading axes any): their mean raw
    returns (``episode_return``), mean normalised scalarised return (``scalarised_return``) and count."""
    episode_return, done, scalarised = finished
    n_done = jnp.maximum(done.sum(), 1)
    return {
        "episode_return": jnp.sum(episode_return * done[..., None], axis=tuple(range(done.ndim))) / n_done,
        "scalarised_return": jnp.sum(scalarised * done) / n_done,
        "episodes": done.sum(),
    }


# -- networks ---------------------------------------------------------------------------------------
ACTIVATIONS: dict[str, Callable] = {"tanh": nn.tanh, "relu": nn.relu, "gelu": nn.gelu, "silu": nn.silu}


class MLP(nn.Module):
    """Dense layers with orthogonal init (PPO convention) and a linear head of ``out_dim`` outputs.

    ``out_scale`` scales the head's orthogonal init (0.01 for policy logits: a near-uniform start);
    ``out_bias`` is the head's initial bias (e.g. a sensible initial quote depth).
    """

    hidden_sizes: Sequence[int]
    out_dim: int
    activation: str = "tanh"
    out_scale: float = 1.0
    out_bias: Sequence[float] | None = None

    @nn.compact
    def __call__(self, x):
        act = ACTIVATIONS[self.activation]
        for width in self.hidden_sizes:
            x = act(nn.Dense(width, kernel_init=nn.initializers.orthogonal(np.sqrt(2)))(x))
        bias = self.out_bias
        bias_init = nn.initializers.zeros if bias is None else (lambda *_: jnp.asarray(bias, jnp.float32))
        return nn.Dense(self.out_dim, kernel_init=nn.initializers.orthogonal(self.out_scale), bias_init=bias_init)(x)


def conditioned_input(obs: jax.Array, weight: jax.Array) -> jax.Array:
    """The network input of a weight-conditioned policy: observation and preference side by side."""
    return jnp.concatenate([obs, jnp.broadcast_to(weight, obs.shape[:-1] + weight.shape[-1:])], axis=-1)


# -- evaluation -------------------------------------------------------------------------------------
def evaluate_front(
    env,
    env_params,
    policy: Any,
    network_params: Any,
    weights,
    episodes: int,
    key: jax.Array,
    num_steps: int | None = None,
) -> jax.Array:
    """Episode returns of a weight-conditioned policy at each weight: shape ``(n_weights, episodes, n_obj)``.

    ``policy.act`` receives ``params = (network_params, w)``. Returns are raw (unnormalised) objective
    sums. Every weight sees the same episode keys (common random numbers), so differences between
    weights come from the policy, not from the market's noise.
    """
    weights = jnp.asarray(validate_weights(np.atleast_2d(weights), env.num_objectives), jnp.float32)
    if int(episodes) < 1:
        raise ValueError(f"episodes: must be >= 1, got {episodes}")
    keys = jax.random.split(key, int(episodes))
    num_steps = episode_steps(env_params) if num_steps is None else int(num_steps)
    # compiled once per env, policy and length: the checkpoints of a training run share it
    return _front_returns(ByIdentity(env), ByIdentity(policy), num_steps, env_params, network_params, weights, keys)


@functools.partial(jax.jit, static_argnames=("env", "policy", "num_steps"))
def _front_returns(env: ByIdentity, policy: ByIdentity, num_steps: int, env_params, network_params, weights, keys):
    def episode_return(weight, episode_key):
        traj = rollout(env.obj, policy.obj, episode_key, env_params, num_steps, policy_params=(network_params, weight))
        return traj.reward.sum(axis=0)

    return jax.vmap(lambda w: jax.vmap(lambda k: episode_return(w, k))(keys))(weights)
