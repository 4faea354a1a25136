"""Adapters that train morl-baselines (torch) algorithms on the market-making env and return a ParetoSet.

The optional extra ``pip install 'morl-mm[baselines]'`` provides morl-baselines; this module
imports it lazily, so ``import morl_mm.agents.morl_baselines`` works without it and an adapter
raises a clear ``ImportError`` when called.

One call, :func:`train_baseline`, trains one algorithm for a budget of env steps and evaluates the learned
policies with OUR evaluation (:func:`fit_baseline` trains only, and returns a :class:`BaselineRun` whose
``episode_returns`` evaluates on any scenario; studies use it): every policy runs ``eval_episodes`` full
episodes of the vectorised env (the same seeded episodes for every policy: common random numbers), and the set
holds the mean raw objective vectors with 95% confidence intervals (``ParetoSet.from_samples``).

Scalarisation: morl-baselines scalarises raw rewards ``w . r``; the project scalarises normalised
objectives ``w . (J / scales)``. The training env is therefore wrapped in :class:`ScaledReward`
(reward vector divided by ``scales``), so that a weight means for them what it means for us;
evaluation runs on the raw env, so values come back in raw units.

Algorithms (``ALGORITHMS``: name -> action mode of the env it trains on):

* ``gpi_ls``  GPI-LS (Alegre et al. 2023), discrete: GPI over a weight support from linear support.
  Policies: the GPI policy at each evaluation weight.
* ``gpi_pd``  GPI-PD, the model-based variant (Dyna with a learned ensemble model). morl-baselines
  only knows termination rules for its own envs; :func:`_model_env_patch` supplies ours (an episode
  ends when the predicted time remaining reaches 0).
* ``envelope`` Envelope Q-learning (Yang et al. 2019), discrete; one weight-conditioned Q-network.
* ``pcn``     Pareto Conditioned Networks (Reymond et al. 2022), discrete. PCN conditions on a desired
  *return* (and horizon), not on a weight: its policies are the commands of the best episodes in its
  buffer, and their ``weights`` rows are NaN.
* ``capql``   CAPQL (Lu et al. 2023), continuous; a weight-conditioned soft actor-critic.
* ``pgmorl``  PGMORL (Xu et al. 2020), continuous; a population of PPO agents. morl-baselines builds
  its envs from a registered id and wraps them in running observation and PER-OBJECTIVE reward
  normalisation (``MONormalizeReward``), so PGMORL's own weights act on objectives rescaled by their
  running return std, not on ``J / scales``; its ``weights`` rows are recorded as PGMORL reports them.
* ``morld``   MORL/D (Felten et al. 2024) with MOSAC policies, continuous; a weight-decomposed population.

Budget: ``env_steps`` training steps (rounded to whole iterations where an algorithm needs them).
The algorithms' own evaluation episodes during training (GPI-LS's linear support, PGMORL's and
MORL/D's archives) are extra; ``metadata`` records both ``env_steps`` (training) and
``internal_eval_steps``, with ``wall_s`` (training and evaluation).

Speed: torch runs on one intra-op thread while an adapter works (``torch_threads``): the networks
are tiny, and on a 2-core machine shared with JAX, two OpenMP threads made updates ~50x slower.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
import random
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from morl_mm.agents.catalogue import BASELINE_ALGORITHMS
from morl_mm.env.gym_adapter import ENV_ID, MOMarketMakingEnv, VectorMarketMakingEnv, split_overrides
from morl_mm.env.market import OBS_NAMES, MarketMakingEnv
from morl_mm.env.params import episode_steps
from morl_mm.env.scales import reference_scales
from morl_mm.pareto import ParetoSet, equally_spaced_weights, validate_weights

ALGORITHMS = BASELINE_ALGORITHMS
"""Every adapter and the action mode of the env it trains on (the table lives in morl_mm.agents.catalogue)."""

INSTALL_HINT = "pip install 'morl-mm[baselines]'"
DEFAULT_EVAL_WEIGHTS = 15  # the Das-Dennis lattice with 4 divisions for 3 objectives
PCN_MAX_RETURN = 3.0  # PCN clips desired returns here (normalised units; the reference quoter is ~(1, -1, 1))

# Every train() below passes num_eval_weights_for_front=d: those weights only feed wandb logging
# (off), and morl-baselines spreads them by Riesz energy (pymoo), ~3 s for its default of 100.
# Constructor defaults: small networks that train at CPU speed. gamma = 1: the objectives are
# undiscounted episode sums and the time remaining is observed (as for the native learners).
DEFAULTS: dict[str, dict[str, Any]] = {
    "gpi_ls": dict(
        gamma=1.0,
        net_arch=[128, 128],
        learning_starts=200,
        batch_size=64,
        gradient_updates=1,
        buffer_size=100_000,
        initial_epsilon=1.0,
        final_epsilon=0.05,
        per=True,
    ),
    "gpi_pd": dict(
        gamma=1.0,
        net_arch=[128, 128],
        learning_starts=200,
        batch_size=64,
        gradient_updates=1,
        buffer_size=100_000,
        initial_epsilon=1.0,
        final_epsilon=0.05,
        dynamics_net_arch=[128, 128],
        dynamics_ensemble_size=3,
        dynamics_num_elites=2,
        dynamics_rollout_batch_size=1000,
        dynamics_buffer_size=20_000,
    ),
    "envelope": dict(
        gamma=1.0,
        net_arch=[128, 128],
        learning_starts=200,
        batch_size=64,
        buffer_size=100_000,
        initial_epsilon=1.0,
        final_epsilon=0.05,
        target_net_update_freq=200,
    ),
    "pcn": dict(gamma=1.0, hidden_dim=64, batch_size=128, learning_rate=1e-3),
    "capql": dict(gamma=1.0, net_arch=[128, 128], learning_starts=200, batch_size=64, buffer_size=100_000),
    "pgmorl": dict(
        gamma=1.0,
        net_arch=[64, 64],
        num_envs=2,
        pop_size=6,
        delta_weight=0.5,
        warmup_iterations=2,
        evolutionary_iterations=2,
        update_epochs=4,
    ),
    "morld": dict(
        gamma=1.0,
        pop_size=6,
        policy_args=dict(net_arch=[128, 128], learning_starts=200, batch_size=64, buffer_size=100_000),
    ),
}


def _require_morl_baselines():
    try:
        import morl_baselines  # noqa: F401
        import torch
    except ImportError as error:
        raise ImportError(f"the morl-baselines adapters need the optional extra: {INSTALL_HINT} ({error})") from error
    return torch


# -- envs ---------------------------------------------------------------------------------------------
class ScaledReward(gym.Wrapper):
    """The reward vector divided by ``scales`` (the project's normalisation), and, in the continuous
    mode, actions clipped to the Box (torch's float32 ``tanh * scale + bias`` can overshoot by a
    rounding error, and PPO's Gaussian actions by much more). Counts the steps it forwards."""

    def __init__(self, env: gym.Env, scales):
        super().__init__(env)
        self.scales = np.asarray(scales, np.float32)
        self.steps = 0

    def step(self, action):
        if isinstance(self.action_space, gym.spaces.Box):
            action = np.clip(np.asarray(action, np.float32), self.action_space.low, self.action_space.high)
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.steps += 1
        return obs, (np.asarray(reward, np.float32) / self.scales).astype(np.float32), terminated, truncated, info


_REGISTERED: dict[str, tuple[dict, np.ndarray, list]] = {}  # env id -> (overrides, scales, the envs made)
_ids = itertools.count()


def _make_registered(key: str, render_mode: str | None = None) -> ScaledReward:
    """Entry point of the ids :func:`_register` makes (``render_mode`` is accepted and ignored:
    PGMORL asks its first env for ``"rgb_array"``, which this env does not render)."""
    overrides, scales, made = _REGISTERED[key]
    env = ScaledReward(MOMarketMakingEnv(**overrides), scales)
    made.append(env)
    return env


def _register(overrides: dict, scales) -> tuple[str, list]:
    """A fresh gymnasium id for algorithms that build their own envs from an id (PGMORL)."""
    env_id = f"morl_mm/BaselinesMarketMaking{next(_ids)}-v0"
    made: list = []
    _REGISTERED[env_id] = (dict(overrides), np.asarray(scales), made)
    gym.register(id=env_id, entry_point=_make_registered, kwargs={"key": env_id})
    return env_id, made


def _seed_everything(seed: int) -> None:
    torch = _require_morl_baselines()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@contextlib.contextmanager
def _torch_threads(n: int):
    """Torch on ``n`` intra-op threads for the duration. The networks are tiny: with 2 threads next to
    JAX (or any other busy process) torch's OpenMP barriers spin and an update runs ~50x slower."""
    torch = _require_morl_baselines()
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# -- evaluation -------------------------------------------------------------------------------------
class _Actor:
    """A deterministic batched policy: ``act(obs (B, obs_dim)) -> actions``; ``observe`` sees the
    normalised step rewards (for policies with per-episode state, like PCN's commands)."""

    def __init__(self, act: Callable[[np.ndarray], np.ndarray]):
        self.act = act

    def observe(self, normalised_reward: np.ndarray) -> None:
        pass


def _episode_returns(overrides: dict, actor_factory: Callable[[], _Actor], scales, episodes: int, seed: int):
    """Raw episode returns ``(episodes, d)`` of one policy on the vectorised env (fixed seed)."""
    torch = _require_morl_baselines()
    venv = VectorMarketMakingEnv(episodes, seed=seed, **overrides)
    obs, _ = venv.reset(seed=seed)
    actor = actor_factory()
    totals = np.zeros((episodes, venv.reward_dim))
    with torch.no_grad():
        for _ in range(episode_steps(venv.params)):  # every episode has the same length: no auto-reset is used
            obs, reward, _, _, _ = venv.step(actor.act(obs.astype(np.float32)))
            totals += reward
            actor.observe((reward / scales).astype(np.float32))
    return totals


@dataclasses.dataclass
class _Trained:
    """What an algorithm-specific trainer hands back: one actor factory per learned policy."""

    actors: list[Callable[[], _Actor]]
    weights: np.ndarray  # (n, d), NaN rows where a policy has no weight
    internal_eval_steps: int = 0
    training_steps: int | None = None  # None: the steps of the training env handed to the trainer


# -- the adapters -----------------------------------------------------------------------------------
def _q_argmax(torch, q_vectors, w):
    """argmax_a w . Q(s, a) over the last two axes of ``q_vectors`` (..., A, d)."""
    return torch.argmax(torch.einsum("...ad,d->...a", q_vectors, w), dim=-1)


def _gpi(algorithm, env, eval_env, budget, weights, hp, scales, seed, overrides):
    torch = _require_morl_baselines()
    from morl_baselines.multi_policy.gpi_pd.gpi_pd import GPILS, GPIPD

    iterations = hp.pop("iterations", 4)
    rep = hp.pop("num_eval_episodes_for_front", 2)
    hp.setdefault("epsilon_decay_steps", max(budget // 2, 1))
    if algorithm == "gpi_pd":
        hp.setdefault("dynamics_rollout_starts", min(budget // 2, 5000))
        hp.setdefault("dynamics_rollout_freq", 250)
        agent = GPIPD(env, log=False, seed=seed, **hp)
    else:
        agent = GPILS(env, log=False, seed=seed, **hp)
    with _model_env_patch(episode_steps(env.unwrapped.params)):
        agent.train(
            total_timesteps=budget,
            eval_env=eval_env,
            ref_point=np.zeros(len(scales)),
            timesteps_per_iter=max(budget // iterations, 1),
            num_eval_episodes_for_front=rep,
            weight_selection_algo="gpi-ls",
            checkpoints=False,
            num_eval_weights_for_front=len(scales),
        )

    def factory(w):
        def make():
            support = torch.stack(agent.weight_support)  # (m, d)
            wt = torch.as_tensor(w, dtype=torch.float32)
            net = agent.q_nets[0]

            def act(obs):
                net.eval()  # no dropout at evaluation, as GPIPD.eval
                b, m = len(obs), len(support)
                obs_m = torch.as_tensor(obs).repeat_interleave(m, dim=0)
                q = net(obs_m, support.repeat(b, 1)).reshape(b, m * agent.action_dim, -1)  # GPI: max over policies too
                net.train()
                return (_q_argmax(torch, q, wt) % agent.action_dim).numpy()

            return _Actor(act)

        return make

    return _Trained([factory(w) for w in weights], weights)


@contextlib.contextmanager
def _model_env_patch(n_steps: int):
    """GPI-PD's model env with our termination rule (morl-baselines raises NotImplementedError for
    env ids it does not know): an imagined transition ends the episode when the predicted time
    remaining is within half a step of 0."""
    import morl_baselines.multi_policy.gpi_pd.gpi_pd as gpi_pd_module

    original = gpi_pd_module.ModelEnv
    time_index = OBS_NAMES.index("time_remaining")

    class MarketModelEnv(original):
        def __init__(self, model, env_id=None, rew_dim=1):
            self.model, self.rew_dim = model, rew_dim
            self.termination_func = lambda obs, act, next_obs, rew: (
                next_obs[:, time_index : time_index + 1] < 0.5 / n_steps
            )

    gpi_pd_module.ModelEnv = MarketModelEnv
    try:
        yield
    finally:
        gpi_pd_module.ModelEnv = original


def _envelope(algorithm, env, eval_env, budget, weights, hp, scales, seed, overrides):
    torch = _require_morl_baselines()
    from morl_baselines.multi_policy.envelope.envelope import Envelope

    hp.setdefault("epsilon_decay_steps", max(budget // 2, 1))
    hp.setdefault("homotopy_decay_steps", max(budget // 2, 1))
    agent = Envelope(env, log=False, seed=seed, **hp)
    agent.train(total_timesteps=budget, eval_env=None, weight=None, num_eval_weights_for_front=len(scales))

    def factory(w):
        wt = torch.as_tensor(w, dtype=torch.float32)
        return lambda: _Actor(
            lambda obs: _q_argmax(torch, agent.q_net(torch.as_tensor(obs), wt.expand(len(obs), -1)), wt).numpy()
        )

    return _Trained([factory(w) for w in weights], weights)


class _PCNActor(_Actor):
    """PCN's greedy policy for one command: the desired return falls by each reward, the horizon by 1."""

    def __init__(self, torch, agent, desired_return, horizon, max_return):
        self.torch, self.agent, self.max_return = torch, agent, max_return
        self.desired_return, self.horizon = desired_return, horizon

    def act(self, obs):
        b = len(obs)
        command = np.broadcast_to(self.desired_return, (b, len(self.max_return))).astype(np.float32)
        horizon = np.broadcast_to(np.float32(self.horizon), (b,)).astype(np.float32)
        log_probs = self.agent.model(
            self.torch.as_tensor(obs), self.torch.as_tensor(command), self.torch.as_tensor(horizon)[:, None]
        )
        return self.torch.argmax(log_probs, dim=-1).numpy()

    def observe(self, normalised_reward):
        self.desired_return = np.clip(self.desired_return - normalised_reward, None, self.max_return)
        self.horizon = np.maximum(np.asarray(self.horizon) - 1.0, 1.0)


def _pcn(algorithm, env, eval_env, budget, weights, hp, scales, seed, overrides):
    torch = _require_morl_baselines()
    from morl_baselines.multi_policy.pcn.pcn import PCN

    d, steps = len(scales), episode_steps(env.unwrapped.params)
    max_return = np.full(d, PCN_MAX_RETURN, np.float32)
    train_kw = {
        k: hp.pop(k)
        for k in ("num_er_episodes", "num_step_episodes", "num_model_updates", "max_buffer_size")
        if k in hp
    }
    train_kw.setdefault("num_er_episodes", max(2, min(20, budget // (4 * steps))))
    train_kw.setdefault("num_step_episodes", max(1, min(10, budget // (8 * steps))))
    agent = PCN(env, scaling_factor=np.array([1.0] * d + [1.0 / steps], np.float32), log=False, seed=seed, **hp)
    agent.save = lambda *args, **kwargs: None  # checkpoints would be written to ./weights
    agent.evaluate = lambda *args, **kwargs: ([], None, None)  # in-training evaluation only feeds wandb
    agent.train(total_timesteps=budget, eval_env=eval_env, ref_point=np.zeros(d), max_return=max_return, **train_kw)
    del agent.evaluate, agent.save
    best = agent._nlargest(min(len(weights), len(agent.experience_replay)))  # the commands PCN.evaluate uses
    commands = [(np.float32(e[2][0].reward), np.float32(len(e[2]))) for e in best]
    actors = [lambda r=r, h=h: _PCNActor(torch, agent, r.copy(), h, max_return) for r, h in commands]
    return _Trained(actors, np.full((len(actors), d), np.nan))


def _capql(algorithm, env, eval_env, budget, weights, hp, scales, seed, overrides):
    torch = _require_morl_baselines()
    from morl_baselines.multi_policy.capql.capql import CAPQL

    agent = CAPQL(env, log=False, seed=seed, **hp)
    agent.train(
        total_timesteps=budget,
        eval_env=eval_env,
        ref_point=np.zeros(len(scales)),
        checkpoints=False,
        num_eval_weights_for_front=len(scales),
    )

    def factory(w):
        wt = torch.as_tensor(w, dtype=torch.float32)
        return lambda: _Actor(
            lambda obs: agent.policy.get_action(torch.as_tensor(obs), wt.expand(len(obs), -1)).numpy()
        )

    return _Trained([factory(w) for w in weights], weights)


def _pgmorl(algorithm, env, eval_env, budget, weights, hp, scales, seed, overrides):
    """PGMORL makes its own (vectorised) envs from a registered id; ``env`` only lends its spaces."""
    torch = _require_morl_baselines()
    from morl_baselines.multi_policy.pgmorl.pgmorl import PGMORL
    from morl_baselines.single_policy.ser.mo_ppo import make_env

    iterations = hp["warmup_iterations"] + hp["evolutionary_iterations"]
    per_iteration = max(budget // (iterations * hp["num_envs"] * hp["pop_size"]), 1)
    hp.setdefault("steps_per_iteration", per_iteration)
    hp.setdefault("num_minibatches", max(1, min(8, hp["steps_per_iteration"] * hp["num_envs"] // 16)))
    env_id, made = _register(overrides, scales)
    origin = hp.pop("origin", -np.full(len(scales), 10.0))  # PGMORL's buffers need objectives shifted positive
    agent = PGMORL(env_id, origin=origin, log=False, seed=seed, **hp)
    pgmorl_eval = make_env(env_id, seed + 10_000, 1, "eval", agent.gamma)()  # as morl-baselines' own example
    agent.train(total_timesteps=budget, eval_env=pgmorl_eval, ref_point=origin)
    # The policies read observations normalised by the training envs' running statistics.
    obs_norm = next(w for w in _wrappers(agent.env.envs[0]) if isinstance(w, gym.wrappers.NormalizeObservation))
    mean, var = np.asarray(obs_norm.obs_rms.mean, np.float32), np.asarray(obs_norm.obs_rms.var, np.float32)
    eps = getattr(obs_norm, "epsilon", 1e-8)
    low, high = env.action_space.low, env.action_space.high

    def factory(member):
        net = member.networks

        def act(obs):
            normalised = np.clip((obs - mean) / np.sqrt(var + eps), -10, 10).astype(np.float32)
            return np.clip(net.actor_mean(torch.as_tensor(normalised)).numpy(), low, high)

        return lambda: _Actor(act)

    members = agent.archive.individuals
    member_weights = np.array([np.asarray(m.np_weights, np.float64) for m in members])
    member_weights /= member_weights.sum(axis=1, keepdims=True)
    own_eval = _env_of(pgmorl_eval)
    return _Trained(
        [factory(m) for m in members],
        member_weights,
        internal_eval_steps=own_eval.steps,
        training_steps=sum(e.steps for e in made if e is not own_eval),
    )


def _check_pgmorl(hp: dict, n_objectives: int) -> None:
    """PGMORL gives each member of its population one of the weights ``delta_weight`` spaces out."""
    from morl_baselines.multi_policy.pgmorl.pgmorl import generate_weights

    n_candidates = len(generate_weights(hp["delta_weight"], n_objectives))
    if hp["pop_size"] > n_candidates:
        raise ValueError(
            f"pgmorl: pop_size={hp['pop_size']} exceeds the {n_candidates} weights that "
            f"delta_weight={hp['delta_weight']} generates for {n_objectives} objectives"
        )


def _wrappers(env):
    while isinstance(env, gym.Wrapper):
        yield env
        env = env.env


def _env_of(env) -> ScaledReward:
    return next(w for w in _wrappers(env) if isinstance(w, ScaledReward))


def _morld(algorithm, env, eval_env, budget, weights, hp, scales, seed, overrides):
    torch = _require_morl_baselines()
    from morl_baselines.multi_policy.morld.morld import MORLD

    exchanges = hp.pop("exchanges", 2 * hp["pop_size"])
    hp.setdefault("exchange_every", max(budget // exchanges, 1))
    rep = hp.pop("num_eval_episodes_for_front", 2)
    agent = MORLD(env, log=False, seed=seed, policy_name="MOSAC", **hp)
    agent.train(
        total_timesteps=budget,
        eval_env=eval_env,
        ref_point=np.zeros(len(scales)),
        num_eval_episodes_for_front=rep,
        checkpoints=False,
    )

    def factory(member):
        actor = member.wrapped.actor
        return lambda: _Actor(lambda obs: actor.get_action(torch.as_tensor(obs))[2].numpy())  # the mean action

    return _Trained([factory(p) for p in agent.population], np.array([p.weights for p in agent.population]))


_TRAINERS = {
    "gpi_ls": _gpi,
    "gpi_pd": _gpi,
    "envelope": _envelope,
    "pcn": _pcn,
    "capql": _capql,
    "pgmorl": _pgmorl,
    "morld": _morld,
}


# -- public entry points ---------------------------------------------------------------------------
@dataclasses.dataclass
class BaselineRun:
    """A trained morl-baselines algorithm: its policies as actor factories, ready to evaluate.

    ``weights``: ``(n, d)`` the weight each policy belongs to (NaN rows for PCN); ``env_steps``:
    training steps; ``internal_eval_steps``: the algorithm's own evaluation steps while training;
    ``train_seconds``: wall time of training (set-up included).
    """

    algorithm: str
    env_kwargs: dict  # the env overrides it trained on (action mode included)
    objectives: tuple[str, ...]
    scales: np.ndarray
    actors: list
    weights: np.ndarray
    env_steps: int
    internal_eval_steps: int
    train_seconds: float
    seed: int
    torch_threads: int = 1

    def episode_returns(self, episodes: int, seed: int, env_kwargs: dict | None = None) -> np.ndarray:
        """Raw episode returns ``(n_policies, episodes, d)`` of every policy on the same seeded episodes.

        ``env_kwargs`` (e.g. a held-out scenario's overrides) update the training env's; the
        action mode stays the algorithm's.
        """
        if isinstance(episodes, bool) or not isinstance(episodes, (int, np.integer)) or episodes < 1:
            raise ValueError(f"episodes: must be a positive int, got {episodes!r}")
        overrides = {**self.env_kwargs, **(env_kwargs or {}), "action_mode": self.env_kwargs["action_mode"]}
        with _torch_threads(self.torch_threads):
            return np.stack(
                [_episode_returns(overrides, make, self.scales, int(episodes), seed) for make in self.actors]
            )


def fit_baseline(
    algorithm: str,
    env_steps: int,
    env_kwargs: dict | None = None,
    *,
    seed: int = 0,
    eval_weights=None,
    scales=None,
    hyperparameters: dict | None = None,
    torch_threads: int = 1,
    verbose: bool = False,
) -> BaselineRun:
    """Train one morl-baselines algorithm on the market-making env (no evaluation).

    Arguments as :func:`train_baseline`; ``eval_weights`` are the weights at which the
    weight-conditioned policies will be evaluated. Use :meth:`BaselineRun.episode_returns` to
    evaluate, on the training model or on other scenarios.
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {sorted(ALGORITHMS)}, got {algorithm!r}")
    if isinstance(env_steps, bool) or not isinstance(env_steps, (int, np.integer)) or env_steps < 1:
        raise ValueError(f"env_steps: must be a positive int, got {env_steps!r}")
    _require_morl_baselines()
    mode = ALGORITHMS[algorithm]
    overrides = dict(env_kwargs or {})
    if overrides.get("action_mode", mode) != mode:
        raise ValueError(
            f"{algorithm} trains in the {mode!r} action mode, got action_mode={overrides['action_mode']!r}"
        )
    overrides["action_mode"] = mode
    config, params = split_overrides(overrides)
    d = config.n_objectives
    weights = equally_spaced_weights(d, DEFAULT_EVAL_WEIGHTS) if eval_weights is None else np.atleast_2d(eval_weights)
    weights = validate_weights(weights, d)
    hp = {**DEFAULTS[algorithm], **(hyperparameters or {})}
    if algorithm == "pgmorl":
        _check_pgmorl(hp, d)
    if scales is not None:
        scales = np.asarray(scales, np.float64)
        if scales.shape != (d,) or not np.all(np.isfinite(scales)) or np.any(scales <= 0):
            raise ValueError(f"scales: expected {d} finite values > 0, got {scales.tolist()}")
    else:
        scales = reference_scales(MarketMakingEnv(config), params)

    started = time.perf_counter()
    _seed_everything(seed)
    # made by id: some algorithms read env.unwrapped.spec.id
    env = ScaledReward(gym.make(ENV_ID, disable_env_checker=True, seed=seed, **overrides), scales)
    eval_env = ScaledReward(gym.make(ENV_ID, disable_env_checker=True, seed=seed + 1, **overrides), scales)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    quiet = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())
    with quiet, _torch_threads(torch_threads):
        trained = _TRAINERS[algorithm](algorithm, env, eval_env, int(env_steps), weights, hp, scales, seed, overrides)
    training_steps = env.steps if trained.training_steps is None else trained.training_steps
    return BaselineRun(
        algorithm,
        overrides,
        tuple(config.objectives),
        scales,
        trained.actors,
        trained.weights,
        int(training_steps),
        int(trained.internal_eval_steps + eval_env.steps),
        time.perf_counter() - started,
        int(seed),
        int(torch_threads),
    )


def train_baseline(
    algorithm: str,
    env_steps: int,
    env_kwargs: dict | None = None,
    *,
    seed: int = 0,
    eval_weights=None,
    eval_episodes: int = 20,
    eval_seed: int = 12345,
    scales=None,
    hyperparameters: dict | None = None,
    torch_threads: int = 1,
    verbose: bool = False,
) -> ParetoSet:
    """Train one morl-baselines algorithm on the market-making env and evaluate its policies.

    Args:
        algorithm: a key of :data:`ALGORITHMS`.
        env_steps: training budget in env steps (the algorithm's ``total_timesteps``).
        env_kwargs: env overrides (:class:`~morl_mm.env.gym_adapter.MOMarketMakingEnv` keywords);
            ``action_mode`` is set by the algorithm (``ValueError`` if it conflicts).
        seed: seeds python's, numpy's and torch's global generators, the env, its action space and
            the algorithm; a run then repeats exactly in one process (checked for every adapter).
        eval_weights: ``(k, d)`` weights on the simplex at which weight-conditioned policies are
            evaluated (default: :func:`equally_spaced_weights` with 15 weights); population methods
            (PGMORL, MORL/D) and PCN use their own policies instead.
        eval_episodes: episodes per policy in our evaluation (>= 2 for confidence intervals).
        eval_seed: seed of the evaluation episodes (the same episodes for every policy).
        scales: normalisation (default ``reference_scales`` of the env).
        hyperparameters: constructor keywords of the algorithm over :data:`DEFAULTS` (plus a few
            adapter keys: ``iterations`` for GPI, ``exchanges`` for MORL/D, PCN's train keywords).
        torch_threads: torch intra-op threads while training and evaluating (1 is fastest for
            these small networks, see :func:`_torch_threads`).
        verbose: let the algorithm print its progress.

    Returns:
        A :class:`ParetoSet` (raw units) with kinds ``algorithm``, labels ``<algorithm>_<i>``, the
        weight each policy belongs to (NaN rows for PCN), 95% CIs, and ``metadata`` with
        ``algorithm, env_steps, internal_eval_steps, wall_s, seed, eval_episodes``.
    """
    if isinstance(eval_episodes, bool) or not isinstance(eval_episodes, (int, np.integer)) or eval_episodes < 2:
        raise ValueError(f"eval_episodes: must be an int >= 2 (confidence intervals), got {eval_episodes!r}")
    started = time.perf_counter()
    run = fit_baseline(
        algorithm,
        env_steps,
        env_kwargs,
        seed=seed,
        eval_weights=eval_weights,
        scales=scales,
        hyperparameters=hyperparameters,
        torch_threads=torch_threads,
        verbose=verbose,
    )
    samples = run.episode_returns(int(eval_episodes), eval_seed)
    metadata = {
        "algorithm": algorithm,
        "env_steps": run.env_steps,
        "internal_eval_steps": run.internal_eval_steps,
        "wall_s": time.perf_counter() - started,
        "seed": int(seed),
        "eval_episodes": int(eval_episodes),
        "action_mode": ALGORITHMS[algorithm],
    }
    return ParetoSet.from_samples(
        run.objectives,
        samples,
        run.scales,
        labels=[f"{algorithm}_{i}" for i in range(len(samples))],
        kinds=[algorithm] * len(samples),
        weights=run.weights,
        metadata=metadata,
    )
