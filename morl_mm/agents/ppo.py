"""Multi-objective PPO for the market-making env, in the PureJaxRL style.

Algorithm: Proximal Policy Optimization (Schulman et al. 2017, "Proximal Policy Optimization
Algorithms", clipped surrogate objective, GAE of Schulman et al. 2016) made multi-objective as in
preference-conditioned deep MORL (Abels et al. 2019, "Dynamic Weights in Multi-Objective Deep
Reinforcement Learning"; Xu et al. 2020, "Prediction-Guided Multi-Objective Reinforcement
Learning for Continuous Robot Control"):

* the critic is vector-valued: one value head per objective, trained on the *normalised* rewards
  ``r_i / scale_i`` (scales from :func:`morl_mm.env.scales.reference_scales`);
* GAE runs per objective; the policy's advantage is the scalarised ``sum_i w_i A_i``, normalised
  per minibatch;
* actor and critic read ``concat(obs, w)``. Mode ``"conditioned"``: every env draws its own weight
  from Dirichlet(``weight_concentration``) at each episode start, so one network covers the front.
  Mode ``"fixed"``: each run trains at one given weight; ``jax.vmap(train)(rngs, weights)`` trains
  K independent policies at once.

Actions: discrete mode, a categorical over the env's (G + 1)^2 actions, by default factorised into
independent bid and ask categoricals of G + 1 each; continuous mode, a
diagonal Gaussian over [depth_bid, depth_ask, quote_bid, quote_ask] whose sample goes to the env
as is (the env clips depths to [0, max_depth] and quotes a side when its flag is > 0).

``make_train(config, env, env_params) -> train(rng[, weight])``: the whole loop is one
``lax.scan`` over updates inside one ``jit``; ``jax.vmap(train)(rngs)`` trains seeds at once.

Known XLA:CPU problem (jax 0.10): a *vmapped* run (seeds or weights batched into the network
parameters) can deadlock in XLA's concurrency-optimised scheduler; start the process with
``XLA_FLAGS=--xla_cpu_enable_concurrency_optimized_scheduler=false`` (tests/conftest.py does).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from morl_mm.agents.common import MLP, conditioned_input, finished_metrics, sample_simplex_weights
from morl_mm.env.scales import resolve_scales
from morl_mm.scalarisation import scalarise, validate_weights

# -- hyperparameters (all of them) -----------------------------------------------------------------
RENAMED_KEYS = {"lr": "learning_rate", "hidden": "hidden_sizes", "clip_eps": "clip_coef"}
"""Former PPOConfig names -> the CleanRL names that replace them (old study files and policies still load)."""


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """Every hyperparameter of the learner, with its default (validated on construction).

    Names follow CleanRL's ``ppo.py`` (``learning_rate``, ``total_timesteps``, ``num_envs``,
    ``num_steps``, ``num_minibatches``, ``update_epochs``, ``gamma``, ``gae_lambda``, ``clip_coef``,
    ``ent_coef``, ``vf_coef``, ``max_grad_norm``, ``anneal_lr``) plus ``hidden_sizes`` as in
    :class:`~morl_mm.agents.dqn.DQNConfig`; the keys of ``RENAMED_KEYS`` still load, with a warning.
    """

    mode: Literal["conditioned", "fixed"] = "conditioned"
    """Either "conditioned" (one network for every weight, Dirichlet draws per episode) or "fixed" (one weight per
    run)."""
    num_envs: int = 256
    """Parallel envs (vmapped)."""
    num_steps: int = 200
    """Rollout length per env and update (default: one 200-step episode)."""
    total_timesteps: int = 12_288_000
    """Env steps over the whole run (240 updates; 2.6-3.9 min on 2 shared CPU cores)."""
    update_epochs: int = 4
    """Passes of minibatch SGD over each rollout."""
    num_minibatches: int = 32
    """Minibatches per epoch: 32 of 1600 (not 8 of 6400) are 4x the gradient steps for the same compute; with
    the default model's noisy pnl this was the largest single gain (HV ratio 0.959 -> 0.974 at 6.1M env steps)."""
    learning_rate: float = 1e-3
    """Adam step size (annealed linearly to 0 with ``anneal_lr``)."""
    anneal_lr: bool = True
    """Anneal the learning rate linearly to 0 over the updates."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip."""
    gamma: float = 1.0
    """Discount: the objectives are undiscounted episode sums; time remaining is observed."""
    gae_lambda: float = 0.95
    """GAE lambda of every objective's advantage."""
    clip_coef: float = 0.2
    """PPO's surrogate clipping coefficient (also clips the value loss)."""
    ent_coef: float = 0.003
    """Entropy bonus. studies/default.toml (discrete) sets 0.03: exploration that finds the pnl-risk edge of the
    front, where widening the quote on one side (not tightening the other) controls inventory (HV ratio 0.980 ->
    0.984 at 0.01, 12.3M env steps; 0.983 -> 0.987 from 0.01 to 0.03 at 6.1M); 0.003 stays the default of the
    continuous mode (its front-quality run sets 0.01)."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Widths of the hidden layers of the actor and of the critic."""
    activation: str = "tanh"
    """Hidden activation (tanh, relu, gelu or silu)."""
    init_log_std: float = -0.5
    """Continuous mode: initial log std of the Gaussian (std exp(-0.5) = 0.6 price units)."""
    init_depth: float = 0.7
    """Continuous mode: initial mean quote depth (about 1/kappa)."""
    weight_concentration: float = 0.3
    """Dirichlet concentration of the conditioned mode's weights: 1 = uniform on the simplex; < 1 puts more
    weights near the corners and edges, where the front's extremes are (HV ratio at 6.1M env steps, 8
    minibatches: 1 -> 0.950, 0.5 -> 0.962; 32 minibatches: 0.5 -> 0.974, 0.3 -> 0.978, 0.2 -> 0.977)."""
    num_checkpoints: int = 1
    """> 1: also return the params after each of this many equal chunks of updates."""
    factorised: bool = True
    """Discrete mode: one categorical per side (bid, ask) instead of one over the (G + 1)^2 joint actions; a
    small, consistent gain (HV ratio at 6.1M env steps, joint -> factorised, three configurations: 0.959 ->
    0.963, 0.974 -> 0.975, 0.978 -> 0.980; each within one run's seed noise on its own)."""
    warm_shrink: float = 1.0
    """Warm start only (make_train's init_params): shrink-and-perturb (Ash & Adams 2020, "On Warm-Starting
    Neural Network Training"), theta <- warm_shrink * theta + warm_perturb * theta_fresh with theta_fresh a
    fresh initialisation of the network (noise from its own init distribution). 1: unchanged."""
    warm_perturb: float = 0.0
    """Warm start only: the weight of theta_fresh above. 0: unchanged."""
    warm_reset_critic: bool = False
    """Warm start only: the critic (value heads) restarts from theta_fresh, to re-fit the new regime's value scale."""

    def __post_init__(self):
        cls = type(self).__name__  # PPOConfig, or a learner's config that extends it
        if self.mode not in ("conditioned", "fixed"):
            raise ValueError(f"{cls}.mode: must be 'conditioned' or 'fixed', got {self.mode!r}")
        for name in ("num_envs", "num_steps", "total_timesteps", "update_epochs", "num_minibatches"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{cls}.{name}: must be >= 1, got {getattr(self, name)}")
        if int(self.num_checkpoints) < 1 or self.num_updates % int(self.num_checkpoints):
            raise ValueError(
                f"{cls}.num_checkpoints: must be >= 1 and divide num_updates = {self.num_updates}, "
                f"got {self.num_checkpoints}"
            )
        if (self.num_envs * self.num_steps) % self.num_minibatches:
            raise ValueError(
                f"{cls}.num_minibatches: must divide num_envs * num_steps = "
                f"{self.num_envs * self.num_steps}, got {self.num_minibatches}"
            )
        if self.total_timesteps < self.num_envs * self.num_steps:
            raise ValueError(
                f"{cls}.total_timesteps: must be >= num_envs * num_steps = "
                f"{self.num_envs * self.num_steps}, got {self.total_timesteps}"
            )
        for name in ("learning_rate", "max_grad_norm", "clip_coef", "weight_concentration"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"{cls}.{name}: must be > 0, got {getattr(self, name)}")
        for name in ("gamma", "gae_lambda"):
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise ValueError(f"{cls}.{name}: must lie in [0, 1], got {getattr(self, name)}")
        if not 0.0 < float(self.warm_shrink) <= 1.0:
            raise ValueError(f"{cls}.warm_shrink: must lie in (0, 1], got {self.warm_shrink}")
        if not float(self.warm_perturb) >= 0.0:
            raise ValueError(f"{cls}.warm_perturb: must be >= 0, got {self.warm_perturb}")
        if not isinstance(self.warm_reset_critic, bool):
            raise ValueError(f"{cls}.warm_reset_critic: must be true or false, got {self.warm_reset_critic!r}")

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // (self.num_envs * self.num_steps)

    @property
    def minibatch_size(self) -> int:
        return self.num_envs * self.num_steps // self.num_minibatches


# -- network and action distribution --------------------------------------------------------------
class ActorCritic(nn.Module):
    """Separate actor and critic MLPs on ``concat(obs, w)``; the critic has one head per objective.

    Returns ``(policy_out, values)``: discrete, ``policy_out`` is the logits; continuous, it is
    ``(mean, log_std)`` with a state-independent ``log_std``.
    """

    action_dim: int
    n_objectives: int
    discrete: bool
    hidden_sizes: tuple[int, ...]  # every layer setting comes from PPOConfig (make_network): no defaults here
    activation: str
    init_log_std: float
    init_depth: float
    side_actions: int = 0  # > 0: discrete, factorised into two per-side categoricals of this size

    @nn.compact
    def __call__(self, x):
        values = MLP(self.hidden_sizes, self.n_objectives, self.activation, out_scale=1.0)(x)
        if self.discrete and self.side_actions:
            # the joint logits of a bid x ask product distribution: log p(i, j) = log p_bid(i) + log p_ask(j),
            # so sampling, log-prob, entropy and argmax below stay those of one categorical
            n = self.side_actions
            sides = MLP(self.hidden_sizes, 2 * n, self.activation, out_scale=0.01)(x).reshape(x.shape[:-1] + (2, n))
            logp = jax.nn.log_softmax(sides, axis=-1)
            joint = logp[..., 0, :, None] + logp[..., 1, None, :]
            return joint.reshape(x.shape[:-1] + (n * n,)), values
        if self.discrete:
            return MLP(self.hidden_sizes, self.action_dim, self.activation, out_scale=0.01)(x), values
        # start quoting both sides (flag mean 0.5 > 0) at about the reference depth
        bias = (self.init_depth, self.init_depth) + (0.5,) * (self.action_dim - 2)
        mean = MLP(self.hidden_sizes, self.action_dim, self.activation, out_scale=0.01, out_bias=bias)(x)
        log_std = self.param("log_std", nn.initializers.constant(self.init_log_std), (self.action_dim,))
        return (mean, jnp.broadcast_to(log_std, mean.shape)), values


def sample_action(policy_out, key, discrete: bool):
    """An action drawn from the policy and its log-probability."""
    if discrete:
        action = jax.random.categorical(key, policy_out)
        return action, log_prob(policy_out, action, discrete)
    mean, log_std = policy_out
    action = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
    return action, log_prob(policy_out, action, discrete)


def log_prob(policy_out, action, discrete: bool):
    if discrete:
        logp = jax.nn.log_softmax(policy_out)
        return jnp.take_along_axis(logp, action[..., None].astype(jnp.int32), axis=-1)[..., 0]
    mean, log_std = policy_out
    z = (action - mean) / jnp.exp(log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * jnp.log(2 * jnp.pi), axis=-1)


def entropy(policy_out, discrete: bool):
    if discrete:
        logp = jax.nn.log_softmax(policy_out)
        return -jnp.sum(jnp.exp(logp) * logp, axis=-1)
    _, log_std = policy_out
    return jnp.sum(log_std + 0.5 * jnp.log(2 * jnp.pi * jnp.e), axis=-1)


def mode_action(policy_out, discrete: bool):
    """The deterministic action: argmax (discrete) or the Gaussian mean (continuous)."""
    return jnp.argmax(policy_out, axis=-1) if discrete else policy_out[0]


def make_network(config: PPOConfig, env) -> ActorCritic:
    discrete = env.config.action_mode == "discrete"
    action_dim = env.config.n_discrete_actions if discrete else int(np.prod(env.action_space().shape))
    side_actions = env.config.n_depths + 1 if discrete and config.factorised else 0
    return ActorCritic(
        action_dim,
        env.num_objectives,
        discrete,
        tuple(config.hidden_sizes),
        config.activation,
        config.init_log_std,
        config.init_depth,
        side_actions,
    )


# -- training ---------------------------------------------------------------------------------------
class Transition(NamedTuple):
    """One vectorised env step of a rollout (leading axes: time, env)."""

    obs: jnp.ndarray
    weight: jnp.ndarray  # the preference the action was chosen for
    action: jnp.ndarray
    log_prob: jnp.ndarray
    value: jnp.ndarray  # (n_obj,) critic estimate
    reward: jnp.ndarray  # (n_obj,) normalised reward r_i / scale_i
    done: jnp.ndarray


class RunnerState(NamedTuple):
    params: Any
    opt_state: Any
    env_state: Any
    obs: jnp.ndarray
    weight: jnp.ndarray  # (num_envs, n_obj) current preference of each env
    episode_return: jnp.ndarray  # (num_envs, n_obj) raw objective sums of the running episodes
    rng: jax.Array


def make_optimizer(config: PPOConfig, lr: float | None = None) -> optax.GradientTransformation:
    """Adam after global-norm clipping at ``max_grad_norm``; with ``anneal_lr`` the learning rate
    (``lr``, default ``config.learning_rate``) falls linearly to 0 over the ``num_updates`` updates."""
    lr = config.learning_rate if lr is None else lr

    def lr_schedule(count):
        frac = 1.0 - (count // (config.num_minibatches * config.update_epochs)) / config.num_updates
        return lr * (frac if config.anneal_lr else 1.0)

    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(learning_rate=lr_schedule, eps=1e-5))


def weight_sampler(config: PPOConfig, n_obj: int):
    """``draw(key, fixed_weight) -> (num_envs, n_obj)`` preferences: Dirichlet draws (conditioned mode)
    or the run's one weight (fixed mode)."""

    def draw(key, fixed_weight):
        if config.mode == "conditioned":
            return sample_simplex_weights(key, config.num_envs, n_obj, config.weight_concentration)
        return jnp.broadcast_to(fixed_weight, (config.num_envs, n_obj))

    return draw


def track_episodes(episode_return, weight, reward, done, scales, fresh_weight):
    """Add a step's raw ``reward`` to the running episode sums; where an episode is ``done``, report it
    and start the next one at ``fresh_weight``. Returns ``(episode_return, weight, finished)`` with
    ``finished = (sums incl. this step, done, normalised scalarised sums under each env's weight)``."""
    episode_return = episode_return + reward
    finished = (episode_return, done, scalarise(episode_return, weight, scales))
    weight = jnp.where(done[:, None], fresh_weight, weight)
    return jnp.where(done[:, None], 0.0, episode_return), weight, finished


def gae(traj: Transition, last_value, gamma: float, gae_lambda: float):
    """Per-objective generalised advantage estimates and value targets (time-major): ``(adv, targets)``."""

    def backward(carry, t: Transition):
        next_value, next_adv = carry
        not_done = (1.0 - t.done)[:, None]
        delta = t.reward + gamma * next_value * not_done - t.value
        adv = delta + gamma * gae_lambda * not_done * next_adv
        return (t.value, adv), adv

    _, adv = jax.lax.scan(backward, (last_value, jnp.zeros_like(last_value)), traj, reverse=True)
    return adv, adv + traj.value


def normalised(adv, mask=None):
    """Advantages standardised over the minibatch (over the samples where ``mask`` is 1, if given)."""
    if mask is None:
        return (adv - adv.mean()) / (adv.std() + 1e-8)
    count = jnp.maximum(mask.sum(), 1.0)
    mean = jnp.sum(mask * adv) / count
    std = jnp.sqrt(jnp.sum(mask * (adv - mean) ** 2) / count)
    return mask * (adv - mean) / (std + 1e-8)


def clipped_surrogate(logp, old_logp, adv, clip_coef: float, mask=None):
    """PPO's clipped policy loss -E[min(rho A, clip(rho, 1 - eps, 1 + eps) A)], rho = pi / pi_old
    (the mean over the samples where ``mask`` is 1, if given)."""
    ratio = jnp.exp(logp - old_logp)
    surrogate = jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - clip_coef, 1 + clip_coef) * adv)
    if mask is None:
        return -jnp.mean(surrogate)
    return -jnp.sum(mask * surrogate) / jnp.maximum(mask.sum(), 1.0)


def value_loss(value, old_value, targets, clip_coef: float):
    """The clipped value loss 0.5 E[max((V - R)^2, (V_clip - R)^2)], V_clip within eps of the old V."""
    value_clipped = old_value + jnp.clip(value - old_value, -clip_coef, clip_coef)
    return 0.5 * jnp.mean(jnp.maximum((value - targets) ** 2, (value_clipped - targets) ** 2))


def ppo_loss(network: ActorCritic, config: PPOConfig, params, batch: Transition, adv_vec, targets):
    """Clipped PPO surrogate on the scalarised advantage + per-objective value loss - entropy bonus."""
    discrete = network.discrete
    policy_out, value = network.apply(params, conditioned_input(batch.obs, batch.weight))
    logp = log_prob(policy_out, batch.action, discrete)
    adv = normalised(scalarise(adv_vec, batch.weight))
    policy_loss = clipped_surrogate(logp, batch.log_prob, adv, config.clip_coef)
    v_loss = value_loss(value, batch.value, targets, config.clip_coef)
    ent = jnp.mean(entropy(policy_out, discrete))
    total = policy_loss + config.vf_coef * v_loss - config.ent_coef * ent
    return total, (policy_loss, v_loss, ent)


def sgd_epochs(loss_fn, optimizer, params, opt_state, data, rng, config: PPOConfig):
    """``update_epochs`` passes of minibatch SGD over a rollout: each epoch shuffles the
    ``num_envs * num_steps`` samples of ``data`` (a pytree with leading axes time, env) into
    ``num_minibatches`` minibatches and takes one optimizer step of ``loss_fn(params, *minibatch)
    -> (loss, aux)`` on each. Returns ``(params, opt_state, aux)``, aux stacked (epoch, minibatch)."""
    batch_size = config.num_envs * config.num_steps

    def epoch(carry, _):
        params, opt_state, rng = carry
        rng, k_perm = jax.random.split(rng)
        perm = jax.random.permutation(k_perm, batch_size)
        shuffled = jax.tree_util.tree_map(lambda x: x.reshape((batch_size,) + x.shape[2:])[perm], data)
        minibatches = jax.tree_util.tree_map(
            lambda x: x.reshape((config.num_minibatches, config.minibatch_size) + x.shape[1:]), shuffled
        )

        def sgd_step(carry, minibatch):
            params, opt_state = carry
            (_, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, *minibatch)
            updates, opt_state = optimizer.update(grads, opt_state)
            return (optax.apply_updates(params, updates), opt_state), aux

        (params, opt_state), aux = jax.lax.scan(sgd_step, (params, opt_state), minibatches)
        return (params, opt_state, rng), aux

    (params, opt_state, _), aux = jax.lax.scan(epoch, (params, opt_state, rng), None, config.update_epochs)
    return params, opt_state, aux


def run_updates(update, runner, config: PPOConfig, checkpoint=lambda runner: runner.params):
    """``num_updates`` steps of ``update(runner, None) -> (runner, metrics)`` under one ``lax.scan``.

    With ``num_checkpoints > 1`` the same updates run in that many equal chunks and
    ``metrics["checkpoint_params"]`` stacks ``checkpoint(runner)`` after each chunk.
    """
    if config.num_checkpoints <= 1:
        return jax.lax.scan(update, runner, None, config.num_updates)

    def chunk(runner, _):
        runner, metrics = jax.lax.scan(update, runner, None, config.num_updates // config.num_checkpoints)
        return runner, (metrics, checkpoint(runner))

    runner, (metrics, checkpoints) = jax.lax.scan(chunk, runner, None, config.num_checkpoints)
    metrics = jax.tree_util.tree_map(lambda x: x.reshape((-1,) + x.shape[2:]), metrics)
    return runner, {**metrics, "checkpoint_params": checkpoints}


def make_train(config: PPOConfig, env, env_params, scales=None, init_params=None):
    """Build ``train(rng, weight=None) -> (network_params, metrics)``: the whole PPO run, jittable.

    ``init_params``: warm start from these network params (a trained network of the same layers, e.g.
    from a policy file) instead of a fresh initialisation, transformed by :func:`shrink_perturb` (the
    config's ``warm_*`` fields; by default unchanged); the optimiser state starts fresh.
    ``scales``: per-objective normalisation (default ``reference_scales(env, env_params)``,
    computed here, once, outside jit). Conditioned mode ignores ``weight``; fixed mode needs it
    (a simplex point of shape ``(n_obj,)``). ``metrics`` holds per update (leading axis
    ``num_updates``) the mean raw returns of the episodes that ended (``episode_return``, n_obj),
    their normalised scalarised return under each env's weight (``scalarised_return``), and the
    losses.
    """
    env.validate(env_params)
    n_obj = env.num_objectives
    scales = jnp.asarray(resolve_scales(env, env_params, scales), jnp.float32)
    network = make_network(config, env)
    discrete = network.discrete
    conditioned = config.mode == "conditioned"
    obs_dim = env.observation_space().shape[0]
    if init_params is not None:
        init_params = warm_start_params(network, init_params, obs_dim + n_obj)
    optimizer = make_optimizer(config)
    vmap_reset = jax.vmap(env.reset, in_axes=(0, None))
    vmap_step = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    draw_weights = weight_sampler(config, n_obj)

    def train(rng, weight=None):
        if not conditioned and weight is None:
            raise ValueError("train: mode 'fixed' needs a weight, train(rng, weight)")
        fixed_weight = None if conditioned else jnp.asarray(weight, jnp.float32)
        rng, k_init, k_reset, k_weight = jax.random.split(rng, 4)
        params = start_params(config, network, k_init, obs_dim + n_obj, init_params)
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

        def env_step(runner: RunnerState, _):
            """Act in every env once; a finished episode resets and (conditioned) draws a new weight."""
            rng, k_act, k_step, k_weight = jax.random.split(runner.rng, 4)
            policy_out, value = network.apply(runner.params, conditioned_input(runner.obs, runner.weight))
            action, logp = sample_action(policy_out, k_act, discrete)
            obs, env_state, reward, done, _ = vmap_step(
                jax.random.split(k_step, config.num_envs), runner.env_state, action, env_params
            )
            episode_return, weight, finished = track_episodes(
                runner.episode_return, runner.weight, reward, done, scales, draw_weights(k_weight, fixed_weight)
            )
            transition = Transition(runner.obs, runner.weight, action, logp, value, reward / scales, done)
            runner = runner._replace(
                env_state=env_state, obs=obs, weight=weight, rng=rng, episode_return=episode_return
            )
            return runner, (transition, finished)

        def update(runner: RunnerState, _):
            """One PPO iteration: roll out, estimate advantages, then epochs of minibatch SGD."""
            runner, (traj, finished) = jax.lax.scan(env_step, runner, None, config.num_steps)
            _, last_value = network.apply(runner.params, conditioned_input(runner.obs, runner.weight))
            adv_vec, targets = gae(traj, last_value, config.gamma, config.gae_lambda)
            rng, k_epochs = jax.random.split(runner.rng)
            loss = lambda p, *batch: ppo_loss(network, config, p, *batch)  # noqa: E731
            params, opt_state, (pl, vl, ent) = sgd_epochs(
                loss, optimizer, runner.params, runner.opt_state, (traj, adv_vec, targets), k_epochs, config
            )
            metrics = {
                **finished_metrics(finished),
                "policy_loss": pl.mean(),
                "value_loss": vl.mean(),
                "entropy": ent.mean(),
            }
            return runner._replace(params=params, opt_state=opt_state, rng=rng), metrics

        runner, metrics = run_updates(update, runner, config)
        return runner.params, metrics

    return train


CRITIC = "MLP_0"  # ActorCritic's first submodule: the value heads' MLP


def shrink_perturb(params, fresh, shrink: float = 1.0, perturb: float = 0.0, reset_critic: bool = False):
    """A warm start's network params: ``shrink * params + perturb * fresh`` leaf by leaf (shrink-and-perturb,
    Ash & Adams 2020, with ``fresh`` a fresh initialisation of the same network as the noise), and with
    ``reset_critic`` the critic's params (:data:`CRITIC`) replaced by ``fresh``'s. ``shrink = 1, perturb = 0``
    returns ``params`` unchanged."""
    params = jax.tree_util.tree_map(lambda p, f: shrink * p + perturb * f, params, fresh)
    if reset_critic:
        params = {**params, "params": {**params["params"], CRITIC: fresh["params"][CRITIC]}}
    return params


def start_params(config: PPOConfig, network: ActorCritic, key: jax.Array, input_dim: int, init_params=None):
    """The params a run starts from: a fresh initialisation (``network.init(key, ...)``), or with ``init_params``
    (checked by :func:`warm_start_params`) the warm start that :func:`shrink_perturb` makes of them with the
    config's ``warm_*`` fields and that fresh initialisation."""
    fresh = network.init(key, jnp.zeros((input_dim,)))
    if init_params is None:
        return fresh
    return shrink_perturb(init_params, fresh, config.warm_shrink, config.warm_perturb, config.warm_reset_critic)


def warm_start_params(network: ActorCritic, params, input_dim: int):
    """``params`` as float32 arrays, checked to have the layers of ``network`` (``ValueError`` naming the
    first difference: another ``hidden_sizes``, ``factorised`` or action mode, other objectives)."""
    expected = jax.eval_shape(lambda: network.init(jax.random.key(0), jnp.zeros((input_dim,))))
    params = jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float32), params)
    paths = dict(jax.tree_util.tree_flatten_with_path(expected)[0])
    given = dict(jax.tree_util.tree_flatten_with_path(params)[0])
    for path in sorted(set(paths) | set(given), key=str):
        want, got = paths.get(path), given.get(path)
        if want is None or got is None or tuple(want.shape) != tuple(got.shape):
            raise ValueError(
                f"warm start: the network's layer {jax.tree_util.keystr(path)} is "
                f"{None if got is None else tuple(got.shape)}, this learner's is "
                f"{None if want is None else tuple(want.shape)} (hidden_sizes, factorised, "
                f"action mode and objectives must match)"
            )
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(expected), [given[p] for p in paths])


def train_fixed(config: PPOConfig, env, env_params, weights, rng: jax.Array, scales=None):
    """K independent policies at K weights in one vmapped, jitted run: ``(params[K], metrics[K])``."""
    config = dataclasses.replace(config, mode="fixed")
    weights = jnp.asarray(validate_weights(np.atleast_2d(weights), env.num_objectives), jnp.float32)
    train = make_train(config, env, env_params, scales)
    return jax.jit(jax.vmap(train))(jax.random.split(rng, weights.shape[0]), weights)


# -- the trained policy -----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class PPOPolicy:
    """A trained (weight-conditioned) PPO network behind the Policy protocol.

    ``params = (network_params, weight)``; ``act`` reads ``concat(obs, weight)`` and samples, or
    takes the mean / argmax action when ``deterministic`` (for evaluation).
    """

    network: ActorCritic
    params: Any = None
    deterministic: bool = True

    @classmethod
    def from_config(cls, config: PPOConfig, env, network_params=None, weight=None, deterministic: bool = True):
        params = None
        if network_params is not None and weight is not None:
            params = (network_params, jnp.asarray(validate_weights(weight, env.num_objectives), jnp.float32))
        return cls(make_network(config, env), params, deterministic)

    def act(self, params, obs, state, key):
        del state  # the network reads the normalised observation only
        network_params, weight = params
        policy_out, _ = self.network.apply(network_params, conditioned_input(obs, weight))
        if self.deterministic:
            return mode_action(policy_out, self.network.discrete)
        return sample_action(policy_out, key, self.network.discrete)[0]

    def value(self, params, obs):
        """The critic's per-objective normalised value estimate."""
        network_params, weight = params
        return self.network.apply(network_params, conditioned_input(obs, weight))[1]
