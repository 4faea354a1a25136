"""Preference-conditioned multi-objective DQN (vector Q, hindsight preference relabelling, n-step
double-Q targets) for the discrete action mode, with the envelope target of Envelope Q-learning as
an option.

One network Q(s, w) -> (n_actions, n_objectives) vectors over the *normalised* rewards
r_i / scale_i, trained for every preference w on the simplex at once (Abels et al. 2019, "Dynamic
Weights in Multi-Objective Deep Reinforcement Learning"; the envelope operator and the auxiliary
scalar loss are those of Yang, Sun & Narasimhan 2019, "A generalized algorithm for multi-objective
reinforcement learning and policy adaptation", NeurIPS).

The loss, in one place (see ``loss_fn``): each sampled n-step transition (s_t, a_t, R, s_{t+n}) of
one env, R = sum_{k<n} gamma^k r_{t+k} up to the episode's end, is relabelled with K preferences
w_1..w_K drawn from the simplex (the rewards do not depend on w, so this is free hindsight data), and

    y_j        = R + gamma^n * (1 - ended) * Q_target(s_{t+n}, a*, w*)
    a*         = argmax_a  w_j . Q(s_{t+n}, a, w_j)               (w* = w_j; ``bootstrap_q``)
    L_vector   = |y_j - Q(s_t, a_t, w_j)|^2                      (the paper's L^A)
    L_scalar   = (w_j . y_j - w_j . Q(s_t, a_t, w_j))^2          (the paper's auxiliary L^B)
    loss       = (1 - lam) L_vector + lam L_scalar,  lam ramped 0 -> ``aux_loss_final`` (homotopy)

Switches. ``double_q``: the online network chooses a* and the target network values it (van
Hasselt et al. 2016), which cuts the overestimation of a max over the (G + 1)^2 = 81 actions.
``envelope``: the max runs over (a, w') with w' in {w_1..w_K} too, the paper's envelope operator;
it trains stably with the defaults but gave the worse front (HV ratio 0.79 vs 0.84 at 400k env
steps, README), so it is off. ``factorised``: Q(s, w)[bid, ask] = Q_bid[bid] + Q_ask[ask]; the
argmax is then two argmaxes over G + 1 actions, with less overestimation and noise (HV ratio 0.81
-> 0.84, the pnl-heavy weights gained most: the joint head quoted one side and drifted to the
inventory limit). ``n_step``: fewer bootstraps over the 200-step horizon.

Discount. Episodes end by time only and the time remaining is in the observation, so the end of
an episode is a true terminal state: nothing is bootstrapped past it. The objectives are
undiscounted episode sums over a finite horizon, so gamma = 1 is the exact choice, and with 8-step
returns it is the default (with 1-step returns 0.99 had done better: HV ratio 0.72 vs 0.61).

Training is PureJaxRL-style: ``make_train(config, env, env_params)`` returns ``train(rng)``, one
``lax.scan`` under one ``jit`` (``jax.vmap(train)(rngs)`` trains several seeds). ``num_envs``
envs step in lock-step (``jax.vmap(env.step)``, which auto-resets); each env draws its preference
from Dirichlet(``weight_concentration``) at the start of every episode; the replay buffer is a
ring of fixed-size arrays in the scan carry, one row per vectorised step.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from morl_mm.agents.common import MLP, conditioned_input, finished_metrics, sample_simplex_weights, upgrade_keys
from morl_mm.env.market import MarketMakingEnv
from morl_mm.env.params import EnvParams
from morl_mm.env.scales import resolve_scales
from morl_mm.scalarisation import scalarise, validate_weights

RENAMED_KEYS = {
    "total_env_steps": "total_timesteps",
    "target_tau": "tau",
    "epsilon_start": "start_e",
    "epsilon_end": "end_e",
    "epsilon_decay_fraction": "exploration_fraction",
}
"""Former DQNConfig names -> the CleanRL names that replace them (old study files and policies still load)."""


@dataclasses.dataclass(frozen=True)
class DQNConfig:
    """Every hyperparameter of the learner, with its default (validated on construction).

    Names follow CleanRL's ``dqn.py`` (``total_timesteps``, ``num_envs``, ``learning_starts``,
    ``buffer_size``, ``batch_size``, ``learning_rate``, ``gamma``, ``tau``, ``start_e``, ``end_e``,
    ``exploration_fraction``) and :class:`~morl_mm.agents.ppo.PPOConfig` (``hidden_sizes``,
    ``max_grad_norm``, ``weight_concentration``); the keys of ``RENAMED_KEYS`` still load, with a warning.
    The defaults are the best measured on the default model (README, "Front quality": HV ratio 0.80 at 100k
    env steps with 16 envs, 1-step returns and the joint head -> 0.93 at 300k with these).
    """

    total_timesteps: int = 300_000
    """Env transitions collected, summed over the vectorised envs."""
    num_envs: int = 64
    """Envs stepped in lock-step."""
    learning_starts: int = 8_192
    """Transitions of uniformly random actions before learning."""
    buffer_size: int = 200_000
    """Replay capacity (rounded down to a multiple of num_envs)."""
    batch_size: int = 256
    """Transitions per gradient step."""
    num_weights: int = 4
    """K: preferences each batch is relabelled with (and the envelope's w' set)."""
    updates_per_step: int = 4
    """Gradient steps per vectorised env step: 4, not 2, was the largest single gain (HV ratio 0.84 -> 0.93)."""
    learning_rate: float = 1e-3
    """Adam step size."""
    max_grad_norm: float = 10.0
    """Global gradient-norm clip."""
    gamma: float = 1.0
    """Discount: the exact 1 of the episode sums (see the module docstring)."""
    tau: float = 0.005
    """Polyak rate of the target network per gradient step. 0.005, not 0.05: a slower target steadies the
    bootstrapped vector Q (default model, HV ratio at 100k / 200k env steps: 0.49 / 0.29 -> 0.80 / 0.67)."""
    start_e: float = 1.0
    """Initial epsilon of the epsilon-greedy exploration."""
    end_e: float = 0.05
    """Final epsilon."""
    exploration_fraction: float = 0.5
    """Share of the learning phase over which epsilon decays linearly from start_e to end_e."""
    aux_loss_final: float = 0.0
    """lam at the end of training (0 = vector loss only; see the module docstring)."""
    hidden_sizes: tuple[int, ...] = (128, 128)
    """Widths of the Q network's hidden layers."""
    envelope: bool = False
    """Max over the K relabelling preferences w' too: the paper's envelope operator (see the module docstring)."""
    double_q: bool = True
    """The online network picks the target's action (and w'), the target network values it."""
    n_step: int = 8
    """Bootstrap after this many rewards of an env's own trajectory (n-step return)."""
    weight_concentration: float = 0.5
    """Dirichlet concentration of the preference draws (each env's per episode, the K relabelling ones):
    1 = uniform on the simplex; < 1 favours the corners and edges of the front (as PPO's)."""
    factorised: bool = True
    """Q(s, w)[bid, ask] = Q_bid(s, w)[bid] + Q_ask(s, w)[ask]: one head per side."""
    anneal_lr: bool = True
    """The learning rate falls linearly to 0 over the gradient steps."""

    def __post_init__(self):
        object.__setattr__(self, "hidden_sizes", tuple(int(h) for h in self.hidden_sizes))
        for name in ("total_timesteps", "num_envs", "buffer_size", "batch_size", "num_weights", "updates_per_step"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"DQNConfig.{name}: must be >= 1, got {getattr(self, name)}")
        if int(self.n_step) < 1:
            raise ValueError(f"DQNConfig.n_step: must be >= 1, got {self.n_step}")
        if not float(self.weight_concentration) > 0:
            raise ValueError(f"DQNConfig.weight_concentration: must be > 0, got {self.weight_concentration}")
        if self.learning_starts < max(self.batch_size, self.n_step * self.num_envs):
            raise ValueError(
                f"DQNConfig.learning_starts: must be >= batch_size={self.batch_size} and >= "
                f"n_step * num_envs={self.n_step * self.num_envs}, got {self.learning_starts}"
            )
        if self.buffer_size < max(self.learning_starts, self.num_envs):
            raise ValueError(
                f"DQNConfig.buffer_size: must hold learning_starts={self.learning_starts}, got {self.buffer_size}"
            )
        if self.total_timesteps <= self.learning_starts + self.num_envs:
            raise ValueError(
                f"DQNConfig.total_timesteps: must exceed learning_starts + num_envs, got {self.total_timesteps}"
            )
        for name in ("gamma", "tau", "start_e", "end_e", "exploration_fraction", "aux_loss_final"):
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise ValueError(f"DQNConfig.{name}: must lie in [0, 1], got {getattr(self, name)}")
        if not (self.learning_rate > 0 and self.max_grad_norm > 0):
            raise ValueError(
                f"DQNConfig: learning_rate and max_grad_norm must be > 0, got {self.learning_rate}, "
                f"{self.max_grad_norm}"
            )
        if not self.hidden_sizes or min(self.hidden_sizes) < 1:
            raise ValueError(f"DQNConfig.hidden_sizes: need positive layer widths, got {self.hidden_sizes}")


class QNetwork(nn.Module):
    """Q(obs, w) -> (n_actions, n_objectives): one Q-vector per action, conditioned on the preference.

    ``side_actions > 0``: the discrete action ``i_bid * side_actions + i_ask`` is valued as the sum of a bid
    head and an ask head, ``Q[i_bid, i_ask] = Q_bid[i_bid] + Q_ask[i_ask]`` (the joint table is returned,
    so the argmax over it is the two per-side argmaxes).
    """

    n_actions: int
    n_objectives: int
    hidden_sizes: tuple[int, ...]  # from DQNConfig.hidden_sizes (make_train): no default here
    side_actions: int = 0

    @nn.compact
    def __call__(self, obs: jax.Array, weight: jax.Array) -> jax.Array:
        x = conditioned_input(obs, weight)
        m, n = self.n_objectives, self.side_actions
        if not n:
            q = MLP(self.hidden_sizes, self.n_actions * m, activation="relu")(x)
            return q.reshape(*q.shape[:-1], self.n_actions, m)
        sides = MLP(self.hidden_sizes, 2 * n * m, activation="relu")(x).reshape(*x.shape[:-1], 2, n, m)
        joint = sides[..., 0, :, None, :] + sides[..., 1, None, :, :]
        return joint.reshape(*x.shape[:-1], n * n, m)


def greedy_action(q_vectors: jax.Array, weight: jax.Array) -> jax.Array:
    """argmax_a w . Q(s, w)[a] for Q-vectors of shape (..., n_actions, n_objectives)."""
    return jnp.argmax(q_vectors @ weight, axis=-1)


def bootstrap_q(q_select: jax.Array, q_value: jax.Array, weights: jax.Array, envelope: bool) -> jax.Array:
    """The next state's Q-vector each preference ``w_j`` bootstraps from, shape ``(K, B, m)``.

    ``q_select`` and ``q_value``, shape ``(K', B, A, m)``, are Q(s', a, w') at the K relabelling preferences
    ``weights`` (K, m): the first chooses, the second is read (the same array without double Q). The choice
    for ``w_j`` is ``argmax_a w_j . Q(s', a, w_j)`` (conditioned), or with ``envelope`` the envelope operator
    ``argmax_(a, w') w_j . Q(s', a, w')`` over the K preferences too (Yang et al. 2019).
    """
    K, B, A, m = q_value.shape
    scores = jnp.einsum("jm,kbam->jbka", weights, q_select)  # (K_j, B, K', A)
    if not envelope:  # w' = w_j only
        scores = jnp.where(jnp.eye(K, dtype=bool)[:, None, :, None], scores, -jnp.inf)
    best = jnp.argmax(scores.reshape(K, B, K * A), axis=-1)  # (K, B) index into (w', a)
    q_flat = jnp.transpose(q_value, (1, 0, 2, 3)).reshape(B, K * A, m)
    return q_flat[jnp.arange(B)[None, :], best]


class ReplayBuffer(NamedTuple):
    """Ring buffer of vectorised env steps: arrays of shape ``(rows, num_envs, ...)``, row ``i`` holding step
    ``i`` of every env, so that an env's consecutive transitions sit in consecutive rows (the n-step return
    reads them). ``count`` = rows written so far."""

    obs: jax.Array  # (R, E, obs_dim)
    action: jax.Array  # (R, E)
    reward: jax.Array  # (R, E, n_objectives), normalised
    next_obs: jax.Array  # (R, E, obs_dim); meaningless where done (auto-reset), masked in the target
    done: jax.Array  # (R, E)
    count: jax.Array  # int32 scalar


class Transition(NamedTuple):
    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    next_obs: jax.Array
    done: jax.Array


class NStepTransition(NamedTuple):
    """A sampled n-step transition: ``target = reward + discount * Q(next_obs)``, ``discount = 0`` where the
    episode ended within the n steps."""

    obs: jax.Array
    action: jax.Array
    reward: jax.Array  # sum_k gamma^k r_{t+k} over the steps before the episode's end
    next_obs: jax.Array  # the observation after the n-th step
    discount: jax.Array  # gamma^n, or 0 where the episode ended


def buffer_init(rows: int, num_envs: int, obs_dim: int, n_objectives: int) -> ReplayBuffer:
    f32, shape = jnp.float32, (rows, num_envs)
    return ReplayBuffer(
        jnp.zeros(shape + (obs_dim,), f32),
        jnp.zeros(shape, jnp.int32),
        jnp.zeros(shape + (n_objectives,), f32),
        jnp.zeros(shape + (obs_dim,), f32),
        jnp.zeros(shape, f32),
        jnp.zeros((), jnp.int32),
    )


def buffer_add(buffer: ReplayBuffer, batch: Transition) -> ReplayBuffer:
    """Write one vectorised step (fields of leading size num_envs) as the next row of the ring."""
    start = buffer.count % buffer.obs.shape[0]
    fields = [
        jax.lax.dynamic_update_slice_in_dim(old, new.astype(old.dtype)[None], start, axis=0)
        for old, new in zip(buffer[:-1], batch)
    ]
    return ReplayBuffer(*fields, buffer.count + 1)


def buffer_sample(
    buffer: ReplayBuffer, key: jax.Array, batch_size: int, n_step: int = 1, gamma: float = 1.0
) -> NStepTransition:
    """``batch_size`` uniform draws of (row, env) among the rows followed by ``n_step - 1`` stored rows, as
    n-step transitions of that env (the return stops at the episode's end; nothing is bootstrapped past it)."""
    rows, num_envs = buffer.obs.shape[:2]
    key_row, key_env = jax.random.split(key)
    first = jax.random.randint(key_row, (batch_size,), jnp.maximum(buffer.count - rows, 0), buffer.count - n_step + 1)
    env = jax.random.randint(key_env, (batch_size, 1), 0, num_envs)
    index = (first[:, None] + jnp.arange(n_step)) % rows  # (B, n) rows of the n steps
    done = buffer.done[index, env]  # (B, n)
    alive = jnp.cumprod(1.0 - done, axis=1)  # the episode still runs after step k
    counted = jnp.concatenate([jnp.ones_like(alive[:, :1]), alive[:, :-1]], axis=1)  # step k is in the return
    discounts = (gamma ** jnp.arange(n_step, dtype=jnp.float32)) * counted
    reward = jnp.sum(discounts[..., None] * buffer.reward[index, env], axis=1)
    env = env[:, 0]
    return NStepTransition(
        buffer.obs[index[:, 0], env],
        buffer.action[index[:, 0], env],
        reward,
        buffer.next_obs[index[:, -1], env],
        gamma**n_step * alive[:, -1],
    )


class TrainState(NamedTuple):
    params: Any
    target_params: Any
    opt_state: Any
    buffer: ReplayBuffer
    obs: jax.Array  # (num_envs, obs_dim)
    env_state: Any
    weight: jax.Array  # (num_envs, n_objectives): each env's preference for its current episode
    episode_return: jax.Array  # (num_envs, n_objectives) raw objective sums of the running episodes
    step: jax.Array  # learning-phase iteration


class TrainOutput(NamedTuple):
    """What ``train`` returns: final network parameters and per-iteration metrics."""

    params: Any
    metrics: dict


def make_train(
    config: DQNConfig | dict | None, env: MarketMakingEnv, env_params: EnvParams, scales: np.ndarray | None = None
):
    """Build ``train(rng) -> TrainOutput`` for ``env`` in discrete mode.

    ``scales`` are the per-objective normalisation scales (default: ``reference_scales(env,
    env_params)``, computed here, outside jit). Raises ``ValueError`` for a continuous-mode env,
    bad config or bad scales.
    """
    cfg = (
        config if isinstance(config, DQNConfig) else DQNConfig(**upgrade_keys(config or {}, RENAMED_KEYS, "DQNConfig"))
    )
    if env.config.action_mode != "discrete":
        raise ValueError(
            f"DQN needs a discrete action space: build the env with "
            f"action_mode='discrete', got action_mode={env.config.action_mode!r}"
        )
    env.validate(env_params)
    m = env.num_objectives
    scales = resolve_scales(env, env_params, scales)
    inv_scales = jnp.asarray(1.0 / scales, jnp.float32)
    log_scales = jnp.asarray(scales, jnp.float32)

    n_actions = env.config.n_discrete_actions
    network = QNetwork(n_actions, m, cfg.hidden_sizes, env.config.n_depths + 1 if cfg.factorised else 0)
    obs_dim = env.observation_space().shape[0]
    n_envs, K, B = cfg.num_envs, cfg.num_weights, cfg.batch_size
    rows = cfg.buffer_size // n_envs
    prefill_iters = -(-cfg.learning_starts // n_envs)
    learn_iters = (cfg.total_timesteps - prefill_iters * n_envs) // n_envs
    num_updates = learn_iters * cfg.updates_per_step
    learning_rate = optax.linear_schedule(cfg.learning_rate, 0.0, num_updates) if cfg.anneal_lr else cfg.learning_rate
    tx = optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), optax.adam(learning_rate))
    draw_weights = lambda key, n: sample_simplex_weights(key, (n,), m, cfg.weight_concentration)  # noqa: E731
    vmap_step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def env_step(ts: TrainState, action: jax.Array, key: jax.Array):
        """Step every env, store the transitions, and give finished episodes a fresh preference."""
        key_step, key_w = jax.random.split(key)
        next_obs, env_state, reward, done, _ = vmap_step(
            jax.random.split(key_step, n_envs), ts.env_state, action, env_params
        )
        buffer = buffer_add(
            ts.buffer, Transition(ts.obs, action, reward * inv_scales, next_obs, done.astype(jnp.float32))
        )
        episode_return = ts.episode_return + reward
        finished = scalarise(episode_return, ts.weight, log_scales)  # as PPO logs it: raw sums, then w . (J / s)
        weight = jnp.where(done[:, None], draw_weights(key_w, n_envs), ts.weight)
        stats = finished_metrics((episode_return, done, finished))
        ts = ts._replace(
            buffer=buffer,
            obs=next_obs,
            env_state=env_state,
            weight=weight,
            episode_return=jnp.where(done[:, None], 0.0, episode_return),
        )
        return ts, stats

    def loss_fn(params, target_params, batch: NStepTransition, weights: jax.Array, aux_coef):
        """The loss of a batch relabelled with the preferences ``weights`` (K, m) (module docstring)."""
        obs = jnp.broadcast_to(batch.obs, (K, B, obs_dim))
        w = jnp.broadcast_to(weights[:, None, :], (K, B, m))
        q = network.apply(params, obs, w)  # (K, B, A, m)
        q_taken = jnp.take_along_axis(q, batch.action[None, :, None, None], axis=2)[:, :, 0]  # (K, B, m)

        next_obs = jnp.broadcast_to(batch.next_obs, (K, B, obs_dim))
        q_next = network.apply(target_params, next_obs, w)  # (K', B, A, m): Q_target(s', ., w')
        # with double_q the online network chooses (w', a) and the target network values it (less overestimation)
        q_select = network.apply(params, next_obs, w) if cfg.double_q else q_next
        q_best = bootstrap_q(q_select, q_next, weights, cfg.envelope)  # (K, B, m)
        target = batch.reward + batch.discount[:, None] * q_best
        target = jax.lax.stop_gradient(target)

        error = target - q_taken
        vector_loss = jnp.mean(jnp.sum(error**2, axis=-1))
        scalar_loss = jnp.mean(jnp.einsum("jbm,jm->jb", error, weights) ** 2)
        loss = (1.0 - aux_coef) * vector_loss + aux_coef * scalar_loss
        return loss, {"vector_loss": vector_loss, "scalar_loss": scalar_loss}

    def update(ts: TrainState, key: jax.Array, aux_coef):
        """One gradient step on a replay batch, then Polyak-average the target network."""
        key_batch, key_w = jax.random.split(key)
        batch = buffer_sample(ts.buffer, key_batch, B, cfg.n_step, cfg.gamma)
        weights = draw_weights(key_w, K)
        grads, losses = jax.grad(loss_fn, has_aux=True)(ts.params, ts.target_params, batch, weights, aux_coef)
        updates, opt_state = tx.update(grads, ts.opt_state, ts.params)
        params = optax.apply_updates(ts.params, updates)
        target_params = optax.incremental_update(params, ts.target_params, cfg.tau)
        return ts._replace(params=params, target_params=target_params, opt_state=opt_state), losses

    def act(params, obs, weight, epsilon, key):
        """Epsilon-greedy in w . Q(s, w) for every env."""
        key_explore, key_random = jax.random.split(key)
        greedy = jax.vmap(lambda o, w: greedy_action(network.apply(params, o, w), w))(obs, weight)
        random = jax.random.randint(key_random, (n_envs,), 0, n_actions)
        explore = jax.random.uniform(key_explore, (n_envs,)) < epsilon
        return jnp.where(explore, random, greedy).astype(jnp.int32)

    def prefill_iteration(ts: TrainState, key):
        key_act, key_step = jax.random.split(key)
        action = jax.random.randint(key_act, (n_envs,), 0, n_actions)
        ts, _ = env_step(ts, action, key_step)
        return ts, None

    def learn_iteration(ts: TrainState, key):
        key_act, key_step, key_update = jax.random.split(key, 3)
        progress = ts.step / jnp.maximum(learn_iters, 1)
        epsilon = cfg.start_e + (cfg.end_e - cfg.start_e) * jnp.minimum(
            progress / max(cfg.exploration_fraction, 1e-9), 1.0
        )
        aux_coef = cfg.aux_loss_final * progress
        action = act(ts.params, ts.obs, ts.weight, epsilon, key_act)
        ts, stats = env_step(ts, action, key_step)
        ts, losses = jax.lax.scan(
            lambda t, k: update(t, k, aux_coef), ts, jax.random.split(key_update, cfg.updates_per_step)
        )
        metrics = {**stats, **jax.tree_util.tree_map(jnp.mean, losses), "epsilon": epsilon}
        return ts._replace(step=ts.step + 1), metrics

    def train(rng: jax.Array) -> TrainOutput:
        key_net, key_reset, key_w, key_prefill, key_learn = jax.random.split(rng, 5)
        params = network.init(key_net, jnp.zeros((obs_dim,)), jnp.full((m,), 1.0 / m))
        obs, env_state = jax.vmap(env.reset_env, in_axes=(0, None))(jax.random.split(key_reset, n_envs), env_params)
        ts = TrainState(
            params=params,
            target_params=params,
            opt_state=tx.init(params),
            buffer=buffer_init(rows, n_envs, obs_dim, m),
            obs=obs,
            env_state=env_state,
            weight=draw_weights(key_w, n_envs),
            episode_return=jnp.zeros((n_envs, m)),
            step=jnp.zeros((), jnp.int32),
        )
        ts, _ = jax.lax.scan(prefill_iteration, ts, jax.random.split(key_prefill, prefill_iters))
        ts, metrics = jax.lax.scan(learn_iteration, ts, jax.random.split(key_learn, learn_iters))
        return TrainOutput(params=ts.params, metrics=metrics)

    train.network = network  # so callers can build a DQNPolicy from the result
    train.scales = scales
    train.num_updates = num_updates
    return train


# -- the trained policy -----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class DQNPolicy:
    """A trained weight-conditioned Q network behind the Policy protocol.

    ``params = (network_params, weight)``; ``act`` is the greedy ``argmax_a w . Q(obs, w)[a]``.
    Evaluate it across preferences with ``morl_mm.agents.common.evaluate_front(env, env_params,
    policy, network_params, weights, episodes, key)``.
    """

    network: QNetwork
    params: Any = None

    @classmethod
    def from_train(cls, train, network_params=None, weight=None) -> DQNPolicy:
        """The policy of a ``make_train`` result; ``weight`` (on the simplex) is validated here."""
        params = None
        if network_params is not None and weight is not None:
            params = (network_params, jnp.asarray(validate_weights(weight, train.network.n_objectives)))
        return cls(train.network, params)

    def act(self, params, obs, state, key):
        del state, key  # greedy in the normalised observation
        network_params, weight = params
        return greedy_action(self.network.apply(network_params, obs, weight), weight).astype(jnp.int32)

    def q_values(self, params, obs):
        """The per-action, per-objective normalised Q-vectors, shape (n_actions, n_objectives)."""
        network_params, weight = params
        return self.network.apply(network_params, obs, weight)
