"""Adversarial PPO: a weight-conditioned market maker trained against an adversary that moves the market.

Algorithm: adversarial reinforcement learning for market making (Spooner & Savani, IJCAI 2020,
"Robust Market Making via Adversarial Reinforcement Learning": the adversary controls the drift of
the mid, zero-sum against the market maker's reward), made multi-objective as the PPO of
:mod:`morl_mm.agents.ppo`, PureJaxRL style: both players learn inside ONE ``jit`` (a ``lax.scan``
over updates), and ``jax.vmap(train)(rngs)`` trains seeds at once.

* Market maker: the weight-conditioned PPO actor-critic of :mod:`morl_mm.agents.ppo` (its
  network, GAE, clipped losses, optimizer and Dirichlet weight sampling, reused as they are).
* Adversary: a diagonal Gaussian policy over ``u`` in R^d, clipped to ``[-1, 1]^d`` and mapped onto
  the box of market params by :meth:`~morl_mm.env.adversary.AdversaryBox.apply` (the env is
  unchanged: ``env.step_env(key, state, action, box.apply(params, u))``). It reads the market
  maker's observation and weight and, acting per step (``adversary_mode = "step"``), the quote it is
  about to face; acting per episode (``"episode"``) it draws one ``u`` at the episode's start.
* Zero-sum: the adversary's reward is minus the market maker's normalised scalarised reward
  ``sum_i w_i r_i / scale_i`` (scales from :func:`morl_mm.env.scales.reference_scales`) at the
  market maker's sampled weight ``w``. One critic serves both players: the market maker's vector
  critic ``V(s, w)``; the adversary's advantage is minus the market maker's scalarised GAE
  advantage, with a lambda of its own (``adversary_gae_lambda``: its action moves this step's
  market, so short credit assignment is enough and far less noisy); ``V(s)`` does not depend on
  ``u``, so it is a valid baseline for it. Per episode, the
  adversary's one action is judged by the whole episode: minus its Monte-Carlo advantage
  ``G_0 - V(s_0)`` (GAE with lambda = 1) at the episode's first step.
* The env steps as :class:`~morl_mm.env.adversary.AdversarialEnv` runs it (the step's params set by
  the adversary, the auto-reset into the base model), so what is trained is what is evaluated.

Updates are SIMULTANEOUS: every update rolls out both policies once, and the minibatch epochs take
a PPO step for both players on that same rollout (the loss is the sum of the market maker's PPO
loss and the adversary's clipped surrogate; the two sets of parameters are disjoint). Why not
alternating: alternating phases spend each rollout on one player only (twice the env steps for
the same number of updates of each), and its phase length is one more hyperparameter; here one GAE
pass over one rollout serves both players of the zero-sum game. The usual failure of simultaneous
gradient play, cycling, is damped by PPO's clipped trust region on both policies, and the
adversary's problem is small (for the drift, bang-bang against the exposed inventory): against a
fixed policy it reaches the closed-form worst case in about 20 updates (tests/test_arl.py), so it
keeps up with the market maker, which changes slowly.

:func:`best_response_attack` trains an adversary alone against a FIXED policy (a PPO network, a
classical strategy: any morl_mm policy) at given weights, the market maker's actor replaced by the
policy and its critic by a value network learnt on the way, and reports the scalarised utility
before and after the attack.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from morl_mm.agents.common import MLP, conditioned_input
from morl_mm.agents.ppo import RENAMED_KEYS as PPO_RENAMED_KEYS
from morl_mm.agents.ppo import (
    PPOConfig,
    RunnerState,
    Transition,
    clipped_surrogate,
    entropy,
    finished_metrics,
    gae,
    log_prob,
    make_network,
    make_optimizer,
    mode_action,
    normalised,
    ppo_loss,
    run_updates,
    sample_action,
    sgd_epochs,
    track_episodes,
    value_loss,
    weight_sampler,
)
from morl_mm.env.adversary import AdversarialEnv, AdversaryBox
from morl_mm.env.rollout import as_act_fn, rollout
from morl_mm.env.scales import resolve_scales
from morl_mm.scalarisation import scalarise, validate_weights

# -- hyperparameters (all of them) -----------------------------------------------------------------
RENAMED_KEYS = {
    **PPO_RENAMED_KEYS,
    "adversary_lr": "adversary_learning_rate",
    "adversary_hidden": "adversary_hidden_sizes",
}
"""Former ARLConfig names -> the names that replace them (old study files and policies still load)."""


@dataclasses.dataclass(frozen=True)
class ARLConfig(PPOConfig):
    """The market maker's PPO hyperparameters (every :class:`PPOConfig` field, same names and
    defaults) and the adversary's."""

    adversary: dict = dataclasses.field(default_factory=lambda: {"drift": (-2.0, 2.0)})
    """The box the adversary controls: {field: (lo, hi)} over drift, arrival_rate, kappa, sigma
    (morl_mm.env.adversary); drift [-2, 2] moves the default model's mid by up to one sigma over the episode."""
    adversary_mode: Literal["step", "episode"] = "step"
    """Either "step" (a new u before every step, after seeing the quote) or "episode" (one u per episode, at its
    start)."""
    adversary_learning_rate: float = 1e-3
    """The adversary's Adam step size (annealed as the market maker's)."""
    adversary_hidden_sizes: tuple[int, ...] = (64, 64)
    """Widths of the adversary's hidden layers."""
    adversary_ent_coef: float = 0.0
    """The adversary's entropy bonus."""
    adversary_gae_lambda: float = 0.5
    """GAE lambda of the adversary's advantage per step: its action moves this step's market, so short
    credit assignment suffices and is far less noisy than the market maker's 0.95."""
    adversary_init_log_std: float = 0.0
    """Initial log std of u (std 1: the first adversary covers its whole box)."""

    def __post_init__(self):
        super().__post_init__()
        if self.adversary_mode not in ("step", "episode"):
            raise ValueError(f"ARLConfig.adversary_mode: must be 'step' or 'episode', got {self.adversary_mode!r}")
        if not isinstance(self.adversary, dict):
            raise ValueError(f"ARLConfig.adversary: a table {{field = [lo, hi]}} is expected, got {self.adversary!r}")
        for name, bounds in self.adversary.items():
            if (
                not isinstance(bounds, (list, tuple))
                or len(bounds) != 2
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in bounds)
            ):
                raise ValueError(f"ARLConfig.adversary: {name} needs [lo, hi] (two numbers), got {bounds!r}")
        box = AdversaryBox(dict(self.adversary), self.adversary_mode)  # ValueError naming a bad field or bound
        object.__setattr__(self, "adversary", {name: (lo, hi) for name, lo, hi in box.bounds})
        if not float(self.adversary_learning_rate) > 0:
            raise ValueError(f"ARLConfig.adversary_learning_rate: must be > 0, got {self.adversary_learning_rate}")
        if not 0.0 <= float(self.adversary_gae_lambda) <= 1.0:
            raise ValueError(f"ARLConfig.adversary_gae_lambda: must lie in [0, 1], got {self.adversary_gae_lambda}")
        if not float(self.adversary_ent_coef) >= 0:
            raise ValueError(f"ARLConfig.adversary_ent_coef: must be >= 0, got {self.adversary_ent_coef}")

    @property
    def box(self) -> AdversaryBox:
        """The adversary's :class:`~morl_mm.env.adversary.AdversaryBox` (bounds and mode)."""
        return AdversaryBox(tuple((n, lo, hi) for n, (lo, hi) in self.adversary.items()), self.adversary_mode)

    @property
    def market_maker(self) -> PPOConfig:
        """The market maker's hyperparameters alone: the config of its exported PPO policy."""
        return PPOConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(PPOConfig)})


# -- the adversary's network and what it reads ------------------------------------------------------
class Adversary(nn.Module):
    """A diagonal Gaussian policy over ``u`` in R^d (clipped to ``[-1, 1]^d`` where it acts):
    ``(mean, log_std)`` with a state-independent ``log_std``; the mean starts near 0, the box's centre."""

    action_dim: int
    hidden_sizes: tuple[int, ...]  # from ARLConfig (make_adversary): no defaults here
    activation: str
    init_log_std: float

    @nn.compact
    def __call__(self, x):
        mean = MLP(self.hidden_sizes, self.action_dim, self.activation, out_scale=0.01)(x)
        log_std = self.param("log_std", nn.initializers.constant(self.init_log_std), (self.action_dim,))
        return mean, jnp.broadcast_to(log_std, mean.shape)


def make_adversary(config: ARLConfig) -> Adversary:
    """The adversary network of a config (its box's dimension, hidden layers, initial spread)."""
    return Adversary(
        config.box.dim, tuple(config.adversary_hidden_sizes), config.activation, config.adversary_init_log_std
    )


QUOTE_FEATURES = 4  # bid depth, ask depth (over the competitive distance, 0 when off), bid on, ask on


def quote_features(env, state, action, params) -> jnp.ndarray:
    """The quote an action puts in force this step (latency, inventory limits and ticks applied), as
    the adversary sees it: ``[depth_bid, depth_ask] * on / competitive_distance`` and ``on`` (one env)."""
    placed = env.place_quote(state, action, params)
    return jnp.concatenate([placed.depth * placed.on / params.competitive_distance, placed.on])


def adversary_input(obs, weight, quote=None) -> jnp.ndarray:
    """``concat(obs, w[, quote features])``: the market maker's observation and weight, and the quote
    it faces when the adversary acts per step after seeing it."""
    x = conditioned_input(obs, weight)
    return x if quote is None else jnp.concatenate([x, quote], axis=-1)


def adversary_input_size(env, box: AdversaryBox) -> int:
    """Length of :func:`adversary_input` for ``env`` (the quote's features only when acting per step)."""
    return env.observation_space().shape[0] + env.num_objectives + (QUOTE_FEATURES if box.mode == "step" else 0)


def adversary_policy(config: ARLConfig, env, adversary_params, weight) -> Callable:
    """The trained adversary at ``weight`` as an :class:`~morl_mm.env.adversary.AdversarialEnv`
    adversary, ``(state, action, params) -> values (d,)``: the param values of its mean action.

    Per episode, its one decision reads the episode's initial observation (the env's reset is
    deterministic), so the mean action is the same at every step of the episode.
    """
    network, box = make_adversary(config), config.box

    def act(state, action, params):
        if box.mode == "episode":
            obs, quote = env.reset_env(jax.random.key(0), params)[0], None
        else:
            obs, quote = env.get_obs(state, params), quote_features(env, state, action, params)
        policy_out = network.apply(adversary_params, adversary_input(obs, weight, quote))
        return box.values(jnp.clip(mode_action(policy_out, False), -1.0, 1.0))

    return act


# -- the zero-sum game ------------------------------------------------------------------------------
class AdversaryMove(NamedTuple):
    """The adversary's side of one vectorised env step (leading axes: time, env)."""

    input: jnp.ndarray  # what it read (see adversary_input)
    action: jnp.ndarray  # (d,) its Gaussian sample before clipping
    log_prob: jnp.ndarray
    decides: jnp.ndarray  # 1 where it chose u at this step (always per step; at episode starts per episode)


class GameStep(NamedTuple):
    market_maker: Transition
    adversary: AdversaryMove


class GameState(NamedTuple):
    runner: RunnerState  # params and opt_state hold (market maker, adversary) pairs
    held: jnp.ndarray  # (num_envs, d) the adversary's current action (per episode: held until the next reset)


class MarketMaker(NamedTuple):
    """The market maker's side of the game: a learning PPO actor-critic, or a fixed policy with a critic."""

    init: Callable  # key -> params
    act: Callable  # (params, obs, weight, env_state, key) -> (action, log_prob, value), batched over envs
    value: Callable  # (params, obs, weight) -> (num_envs, n_obj) values
    loss: Callable  # (params, Transition, adv_vec, targets) -> (loss, (policy_loss, value_loss, entropy))
    optimizer: Any


def _pair(first, second):
    """One optax transformation over a ``(first_params, second_params)`` pair: each half its own."""

    def init(params):
        return first.init(params[0]), second.init(params[1])

    def update(grads, state, params=None):
        del params
        (u0, s0), (u1, s1) = first.update(grads[0], state[0]), second.update(grads[1], state[1])
        return (u0, u1), (s0, s1)

    return optax.GradientTransformation(init, update)


def _make_game(config: ARLConfig, env, env_params, scales, market_maker: MarketMaker):
    """``train(rng, weight=None) -> ((market_maker_params, adversary_params), metrics)``: the game's
    whole run, jittable (see the module docstring)."""
    env.validate(env_params)
    box = config.box
    box.check(env_params, env.config)
    n_obj = env.num_objectives
    scales = jnp.asarray(resolve_scales(env, env_params, scales), jnp.float32)
    conditioned = config.mode == "conditioned"
    per_step = box.mode == "step"
    adversary = make_adversary(config)
    optimizer = _pair(market_maker.optimizer, make_optimizer(config, config.adversary_learning_rate))
    draw_weights = weight_sampler(config, n_obj)
    vmap_reset = jax.vmap(env.reset, in_axes=(0, None))
    vmap_quote = jax.vmap(quote_features, in_axes=(None, 0, 0, None))

    def env_step(key, state, action, u):
        """A step with the params ``u`` sets, and the auto-reset (into the base model), as AdversarialEnv.step."""
        key_reset = env.reset_key(key, state)
        obs, state, reward, done, _ = env.step_env(key, state, action, box.apply(env_params, u))
        obs, state = env.auto_reset(key_reset, done, obs, state, env_params)
        return obs, state, reward, done

    vmap_step = jax.vmap(env_step)

    def adversary_loss(params, move: AdversaryMove, adv):
        """Clipped surrogate of the adversary (advantage ``adv``, where it decided) - entropy bonus."""
        policy_out = adversary.apply(params, move.input)
        logp = log_prob(policy_out, move.action, False)
        surrogate = clipped_surrogate(
            logp, move.log_prob, normalised(adv, move.decides), config.clip_coef, move.decides
        )
        ent = jnp.mean(entropy(policy_out, False))
        return surrogate - config.adversary_ent_coef * ent, surrogate

    def loss(params, step: GameStep, adv_vec, targets, adversary_adv):
        mm_loss, mm_aux = market_maker.loss(params[0], step.market_maker, adv_vec, targets)
        adv_loss, adv_surrogate = adversary_loss(params[1], step.adversary, adversary_adv)
        return mm_loss + adv_loss, (*mm_aux, adv_surrogate)

    def train(rng, weight=None):
        if not conditioned and weight is None:
            raise ValueError("train: mode 'fixed' needs a weight, train(rng, weight)")
        fixed_weight = None if conditioned else jnp.asarray(weight, jnp.float32)
        rng, k_init, k_adversary, k_reset, k_weight = jax.random.split(rng, 5)
        params = (market_maker.init(k_init), adversary.init(k_adversary, jnp.zeros((adversary_input_size(env, box),))))
        obs, env_state = vmap_reset(jax.random.split(k_reset, config.num_envs), env_params)
        runner = RunnerState(
            params,
            optimizer.init(params),
            env_state,
            obs,
            draw_weights(k_weight, fixed_weight),
            jnp.zeros((config.num_envs, n_obj)),
            rng,
        )
        game = GameState(runner, jnp.zeros((config.num_envs, box.dim)))

        # COLLECT TRAJECTORIES: the market maker quotes, the adversary answers, the market moves
        def play(game: GameState, _):
            runner = game.runner
            rng, k_act, k_adversary, k_step, k_weight = jax.random.split(runner.rng, 5)
            mm_params, adversary_params = runner.params
            action, logp, value = market_maker.act(mm_params, runner.obs, runner.weight, runner.env_state, k_act)
            quote = vmap_quote(env, runner.env_state, action, env_params) if per_step else None
            x = adversary_input(runner.obs, runner.weight, quote)
            raw, adv_logp = sample_action(adversary.apply(adversary_params, x), k_adversary, False)
            decides = jnp.ones((config.num_envs,), bool) if per_step else runner.env_state.time == 0
            raw = jnp.where(decides[:, None], raw, game.held)
            u = jnp.clip(raw, -1.0, 1.0)
            obs, env_state, reward, done = vmap_step(
                jax.random.split(k_step, config.num_envs), runner.env_state, action, u
            )
            episode_return, weight, finished = track_episodes(
                runner.episode_return, runner.weight, reward, done, scales, draw_weights(k_weight, fixed_weight)
            )
            step = GameStep(
                Transition(runner.obs, runner.weight, action, logp, value, reward / scales, done),
                AdversaryMove(x, raw, adv_logp, decides.astype(jnp.float32)),
            )
            runner = runner._replace(
                env_state=env_state, obs=obs, weight=weight, episode_return=episode_return, rng=rng
            )
            return GameState(runner, raw), (step, finished, u)

        def update(game: GameState, _):
            """One iteration: roll out both players, estimate advantages, minibatch epochs for both."""
            game, (traj, finished, u) = jax.lax.scan(play, game, None, config.num_steps)
            values = box.values(u)
            runner = game.runner
            # CALCULATE ADVANTAGE: the market maker's per objective; the adversary's is minus its scalarisation
            last_value = market_maker.value(runner.params[0], runner.obs, runner.weight)
            adv_vec, targets = gae(traj.market_maker, last_value, config.gamma, config.gae_lambda)
            judged_lambda = config.adversary_gae_lambda if per_step else 1.0  # per episode: Monte Carlo
            judged = gae(traj.market_maker, last_value, config.gamma, judged_lambda)[0]
            adversary_adv = -scalarise(judged, traj.market_maker.weight)
            # UPDATE NETWORKS: simultaneous PPO steps of both players on the same minibatches
            rng, k_epochs = jax.random.split(runner.rng)
            params, opt_state, (pl, vl, ent, al) = sgd_epochs(
                loss,
                optimizer,
                runner.params,
                runner.opt_state,
                (traj, adv_vec, targets, adversary_adv),
                k_epochs,
                config,
            )
            decided = traj.adversary.decides[..., None]
            n_decided = jnp.maximum(decided.sum(), 1.0)
            metrics = {
                **finished_metrics(finished),
                "policy_loss": pl.mean(),
                "value_loss": vl.mean(),
                "entropy": ent.mean(),
                "adversary_loss": al.mean(),
                # where it decided: the mean param values it set, and its mean |u| (1: always at a bound), (d,)
                "adversary_values": jnp.sum(decided * values, axis=(0, 1)) / n_decided,
                "adversary_abs_u": jnp.sum(decided * jnp.abs(u), axis=(0, 1)) / n_decided,
            }
            return game._replace(runner=runner._replace(params=params, opt_state=opt_state, rng=rng)), metrics

        game, metrics = run_updates(update, game, config, checkpoint=lambda g: g.runner.params[0])
        return game.runner.params, metrics

    return train


# -- adversarial training of the market maker -------------------------------------------------------
def make_train(config: ARLConfig, env, env_params, scales=None):
    """Build ``train(rng, weight=None) -> ((network_params, adversary_params), metrics)``: adversarial
    PPO, jittable and vmappable over seeds (``jax.vmap(train)(rngs)``).

    ``network_params`` is the market maker's PPO actor-critic (:class:`~morl_mm.agents.ppo.PPOPolicy`
    plays it, with ``config.market_maker``); ``scales`` default to ``reference_scales(env,
    env_params)``. ``metrics`` are PPO's (episode returns under the adversary, losses, and the
    checkpoints of the market maker with ``num_checkpoints > 1``) plus ``adversary_loss``,
    ``adversary_values`` (the mean param values the adversary set in each update, ``(updates, d)``) and
    ``adversary_abs_u`` (its mean ``|u|``: 1 when it always plays a bound of the box).
    """
    if not isinstance(config, ARLConfig):
        raise ValueError(f"make_train: needs an ARLConfig, got {type(config).__name__}")
    network = make_network(config, env)
    discrete = network.discrete
    obs_dim = env.observation_space().shape[0]

    def act(params, obs, weight, state, key):
        del state  # the network reads the normalised observation only
        policy_out, value = network.apply(params, conditioned_input(obs, weight))
        action, logp = sample_action(policy_out, key, discrete)
        return action, logp, value

    market_maker = MarketMaker(
        init=lambda key: network.init(key, jnp.zeros((obs_dim + env.num_objectives,))),
        act=act,
        value=lambda params, obs, weight: network.apply(params, conditioned_input(obs, weight))[1],
        loss=lambda params, *batch: ppo_loss(network, config, params, *batch),
        optimizer=make_optimizer(config),
    )
    return _make_game(config, env, env_params, scales, market_maker)


# -- the best-response attack on a fixed policy -------------------------------------------------------
ATTACK_CONFIG = ARLConfig(
    mode="fixed",
    num_envs=128,
    num_steps=200,
    total_timesteps=128 * 200 * 40,
    num_minibatches=16,
    adversary_learning_rate=3e-3,
)
"""The attack's default budget: 40 updates of 128 envs x 200 steps (about 1M env steps per weight)."""


class AttackResult(NamedTuple):
    """A best-response attack on one policy at each of W weights (means over the evaluation episodes)."""

    weights: np.ndarray  # (W, K)
    objectives_before: np.ndarray  # (W, K) raw expected objectives without the adversary
    objectives_after: np.ndarray  # (W, K) against the trained adversary (its mean action)
    utility_before: np.ndarray  # (W,) scalarised utility w . J / scales
    utility_after: np.ndarray  # (W,)
    adversary_values: np.ndarray  # (W, d) mean param values the adversary set in its last training update
    adversary_abs_u: np.ndarray  # (W, d) its mean |u| there (1: always at a bound; for the drift the sign
    # follows the inventory, so the mean value alone can sit near the centre)
    fields: tuple[str, ...]  # the params it controls, in the order of adversary_values
    adversary_params: Any  # the trained adversaries, stacked over the weights
    seconds: float  # wall time of training and evaluation

    @property
    def utility_loss(self) -> np.ndarray:
        """(W,) how much utility the attack takes: before - after (> 0: the policy loses)."""
        return self.utility_before - self.utility_after

    def row(self, i: int) -> dict:
        """Weight ``i``'s figures as a JSON-ready dict: ``weight``, ``utility_before``, ``utility_after``,
        ``utility_loss``, ``adversary_values`` and ``adversary_abs_u`` (``{field: value}``)."""
        return {
            "weight": self.weights[i].tolist(),
            "utility_before": float(self.utility_before[i]),
            "utility_after": float(self.utility_after[i]),
            "utility_loss": float(self.utility_loss[i]),
            "adversary_values": dict(zip(self.fields, self.adversary_values[i].tolist())),
            "adversary_abs_u": dict(zip(self.fields, self.adversary_abs_u[i].tolist())),
        }


def best_response_attack(
    env,
    env_params,
    policy: Any,
    weights,
    key: jax.Array,
    *,
    box: AdversaryBox | None = None,
    config: ARLConfig = ATTACK_CONFIG,
    policy_params: Any = None,
    conditioned: bool = False,
    episodes: int = 256,
    scales=None,
    compiler_options: dict | None = None,
) -> AttackResult:
    """Train an adversary alone against a FIXED ``policy`` at each row of ``weights`` and measure it.

    ``policy``: any morl_mm policy (``act(params, obs, state, key)``, or a function ``(obs, state, key)
    -> action``); ``policy_params`` default to ``policy.params``; ``conditioned=True``: a
    weight-conditioned network (PPO, DQN) whose ``policy_params`` are the network, played as
    ``(policy_params, w)`` at each weight ``w``. The adversary (``config``'s hyperparameters; ``box``
    replaces its bounds and mode) learns as in adversarial PPO against a value network of the fixed
    policy, one run per weight, vmapped under one ``jit``. Before and after are measured on the same
    ``episodes`` episode keys (common random numbers), the adversary playing its mean action.
    ``compiler_options``: XLA options of the two compilations (``{"xla_backend_optimization_level":
    0}`` compiles a small attack about 4x faster).
    """
    started = time.perf_counter()
    weights = np.asarray(validate_weights(np.atleast_2d(weights), env.num_objectives), np.float32)
    if int(episodes) < 1:
        raise ValueError(f"episodes: must be >= 1, got {episodes}")
    if box is not None:
        config = dataclasses.replace(
            config, adversary={n: (lo, hi) for n, lo, hi in box.bounds}, adversary_mode=box.mode
        )
    config = dataclasses.replace(config, mode="fixed")
    box = config.box
    scales = resolve_scales(env, env_params, scales)
    params_at = (lambda w: (policy_params, w)) if conditioned else (lambda w: policy_params)  # noqa: E731
    act = jax.vmap(lambda obs, state, key, w: as_act_fn(policy, params_at(w))(obs, state, key))
    critic = MLP(tuple(config.hidden_sizes), env.num_objectives, config.activation)
    obs_dim = env.observation_space().shape[0]

    def fixed_act(params, obs, weight, state, key):
        action = act(obs, state, jax.random.split(key, obs.shape[0]), weight)
        return action, jnp.zeros(obs.shape[:1]), critic.apply(params, conditioned_input(obs, weight))

    def critic_loss(params, batch: Transition, adv_vec, targets):
        del adv_vec  # the fixed policy does not learn
        v_loss = value_loss(
            critic.apply(params, conditioned_input(batch.obs, batch.weight)), batch.value, targets, config.clip_coef
        )
        return config.vf_coef * v_loss, (jnp.zeros(()), v_loss, jnp.zeros(()))

    market_maker = MarketMaker(
        init=lambda k: critic.init(k, jnp.zeros((obs_dim + env.num_objectives,))),
        act=fixed_act,
        value=lambda params, obs, weight: critic.apply(params, conditioned_input(obs, weight)),
        loss=critic_loss,
        optimizer=make_optimizer(config),
    )
    train = _make_game(config, env, env_params, scales, market_maker)
    k_train, k_eval = jax.random.split(key)
    (_, adversary_params), metrics = jax.jit(jax.vmap(train), compiler_options=compiler_options)(
        jax.random.split(k_train, len(weights)), jnp.asarray(weights)
    )

    episode_keys = jax.random.split(k_eval, int(episodes))

    def measure(adversary_params, w):
        attacked = AdversarialEnv(env, box, adversary_policy(config, env, adversary_params, w))
        returns = lambda e: jax.vmap(  # noqa: E731
            lambda k: rollout(e, policy, k, env_params, policy_params=params_at(w)).reward.sum(0)
        )(episode_keys)
        return returns(env).mean(0), returns(attacked).mean(0)

    measured = jax.jit(jax.vmap(measure), compiler_options=compiler_options)(adversary_params, jnp.asarray(weights))
    before, after = (np.asarray(x, np.float64) for x in measured)
    values, abs_u = (np.asarray(metrics[k][:, -1], np.float64) for k in ("adversary_values", "adversary_abs_u"))
    utility = lambda points: scalarise(points, weights, scales)  # noqa: E731  (row w at weight w)
    return AttackResult(
        weights.astype(np.float64),
        before,
        after,
        utility(before),
        utility(after),
        values,
        abs_u,
        box.fields,
        adversary_params,
        time.perf_counter() - started,
    )
