"""The functional, vector-reward market-making environment (gymnax style).

``reset(key, params) -> (obs, state)`` and ``step(key, state, action, params) -> (obs, state,
reward_vec, done, info)`` are pure functions of explicit keys and immutable params: ``jax.jit``,
``jax.vmap`` (over envs, seeds, weights, params) and ``jax.lax.scan`` (over time) all apply.

One step of length dt, in this order:

1. the submitted action becomes a *quote* (bid depth, ask depth, on/off per side, lots per side)
   and enters the latency buffer; the quote that takes effect is the one submitted ``latency``
   steps ago (before that: no quotes);
2. a side whose fill would breach the inventory limit is withdrawn; prices go onto the tick grid
   (rounded away from the mid);
3. on each side a market order arrives with probability A dt (tilted by the order-flow signal);
   it fills the agent's quote at depth delta with probability exp(-kappa delta), so the fill
   probability per step is A exp(-kappa delta) dt, as in Avellaneda & Stoikov (2008). One uniform
   draw per side decides both (inverse CDF), which keeps sampling cheap under vmap;
4. the mid moves: drift + signal, Brownian (or +-sigma sqrt(dt)) noise scaled by the volatility
   regime, jumps, and adverse impact against the side that a market order hit;
5. the signal (Ornstein-Uhlenbeck) and the regime (Markov chain) move on;
6. the reward vector is computed (see :mod:`morl_mm.env.objectives`); at the last step the
   inventory is marked at the mid less the liquidation penalty alpha q^2.

``step`` resets automatically when an episode ends (the returned obs/state are the new episode's,
``info`` and the reward are the finished step's); ``step_env`` never resets.

Random numbers are counter-based (:mod:`morl_mm.env.random_bits`): a step's draws are integer hashes
of (the episode's words ``state.noise_key`` xor the step key's words, ``state.time``, a stream per
quantity), so a step is a pure function of ``(key, state, action, params)`` and costs no threefry.
Calling every step of an episode with the same key is fine (``state.time`` makes each step's draws
new; ``step`` derives the next episode's key from the finished one), distinct keys are fine too.
The optional parts (jumps, signal, adverse impact, ticks; see ``EnvConfig.model_parts``) are only
computed where the params can turn them on (:func:`~morl_mm.env.params.active_parts`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import gymnasium.spaces as spaces
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from morl_mm.env import random_bits
from morl_mm.env.objectives import reward_bounds, reward_vector
from morl_mm.env.observation import OBS_HIGH, OBS_LOW, OBS_NAMES, observe
from morl_mm.env.params import EnvConfig, EnvParams, active_parts, make_params, validate_params

__all__ = [
    "OBS_NAMES",
    "OFF_QUOTE",
    "QUOTE_FIELDS",
    "Draws",
    "EnvState",
    "MarketMakingEnv",
    "PlacedQuote",
    "StepInfo",
    "observe",
]

QUOTE_FIELDS = ("depth_bid", "depth_ask", "on_bid", "on_ask", "lots_bid", "lots_ask")
"""Layout of the canonical quote vector that the latency buffer holds."""

OFF_QUOTE = jnp.array([0.0, 0.0, 0.0, 0.0, 1.0, 1.0], dtype=jnp.float32)


@struct.dataclass
class EnvState:
    time: jnp.ndarray  # int32 step index t (0 .. n_steps)
    mid: jnp.ndarray  # mid price S_t
    cash: jnp.ndarray  # cash X_t
    inventory: jnp.ndarray  # inventory q_t (units)
    regime: jnp.ndarray  # int32 volatility regime
    signal: jnp.ndarray  # order-flow signal alpha_t (adds to the drift)
    realised_var: jnp.ndarray  # EWMA of squared mid increments / dt
    flow_imbalance: jnp.ndarray  # EWMA of buy - sell market-order arrivals
    last_fills: jnp.ndarray  # (2,) bid, ask fills of the last step
    effective_quote: jnp.ndarray  # (6,) quote in force at the last step, after limits and ticks
    quote_buffer: jnp.ndarray  # (max_latency + 1, 6) submitted quotes, newest first
    last_submitted: jnp.ndarray  # (6,) the previously submitted quote (order_management)
    noise_key: jnp.ndarray  # (2,) uint32 words of the episode's counter hash (from the reset key)


class StepInfo(NamedTuple):
    """What happened in one step (before any auto-reset)."""

    time: jnp.ndarray  # step index after the step
    mid: jnp.ndarray
    cash: jnp.ndarray
    inventory: jnp.ndarray
    wealth: jnp.ndarray  # cash + q * mid (liquidation penalty included at the last step)
    fill_bid: jnp.ndarray  # units bought this step
    fill_ask: jnp.ndarray  # units sold this step
    bid_price: jnp.ndarray  # effective bid price (nan if not quoted)
    ask_price: jnp.ndarray  # effective ask price (nan if not quoted)
    regime: jnp.ndarray
    market_buy: jnp.ndarray  # a buy market order arrived (hits the ask)
    market_sell: jnp.ndarray  # a sell market order arrived (hits the bid)
    invalid_action: jnp.ndarray = np.False_  # the submitted action was invalid (see MarketMakingEnv.check_action)


class PlacedQuote(NamedTuple):
    """The quote in force for one step, after latency, inventory limits and the tick grid."""

    submitted: jnp.ndarray  # (6,) the quote submitted this step (see QUOTE_FIELDS)
    buffer: jnp.ndarray  # the latency buffer after this submission, newest first
    depth: jnp.ndarray  # (2,) effective bid, ask depth from the mid (on the tick grid)
    on: jnp.ndarray  # (2,) 1 where the side is quoted
    lots: jnp.ndarray  # (2,) lots per side
    size: jnp.ndarray  # (2,) units per side (lots * order_size)
    bid_px: jnp.ndarray
    ask_px: jnp.ndarray
    invalid: jnp.ndarray  # the submitted action was invalid (see MarketMakingEnv.check_action)


class MarketMakingEnv:
    """Vector-reward market-making env. Static config on the object, market constants in params.

    >>> env = MarketMakingEnv()
    >>> params = env.default_params
    >>> obs, state = env.reset(jax.random.key(0), params)
    >>> action = env.sample_action(jax.random.key(2))
    >>> obs, state, reward, done, info = env.step(jax.random.key(1), state, action, params)
    """

    def __init__(self, config: EnvConfig | None = None, **config_overrides: Any):
        if config is not None and config_overrides:
            raise ValueError("pass either an EnvConfig or keyword overrides, not both")
        self.config = config or EnvConfig(**config_overrides)

    # -- construction helpers -------------------------------------------------------------------
    @property
    def default_params(self) -> EnvParams:
        return make_params(self.config)

    def make_params(self, **overrides) -> EnvParams:
        """Validated :class:`EnvParams` for this env's config (``ValueError`` on bad values)."""
        return make_params(self.config, **overrides)

    def validate(self, params: EnvParams) -> None:
        validate_params(params, self.config)

    @property
    def objectives(self) -> tuple[str, ...]:
        return self.config.objectives

    @property
    def num_objectives(self) -> int:
        return self.config.n_objectives

    # -- spaces -------------------------------------------------------------------------------
    def action_space(self, params: EnvParams | None = None) -> spaces.Space:
        """Continuous: Box [depth_bid, depth_ask, quote_bid, quote_ask(, lots_bid, lots_ask)];
        a side is quoted when its quote flag is > 0. Discrete: (G + 1)^2 actions, index G is "off"."""
        cfg = self.config
        if cfg.action_mode == "discrete":
            return spaces.Discrete(cfg.n_discrete_actions)
        low = [cfg.min_depth, cfg.min_depth, -1.0, -1.0]
        high = [cfg.max_depth, cfg.max_depth, 1.0, 1.0]
        if cfg.max_lots > 1:
            low += [1.0, 1.0]
            high += [float(cfg.max_lots)] * 2
        return spaces.Box(np.array(low, np.float32), np.array(high, np.float32), dtype=np.float32)

    def observation_space(self, params: EnvParams | None = None) -> spaces.Box:
        """Bounds of each observation field (:data:`~morl_mm.env.observation.OBS_FIELDS`)."""
        return spaces.Box(OBS_LOW.copy(), OBS_HIGH.copy(), dtype=np.float32)

    def reward_space(self, params: EnvParams | None = None) -> spaces.Box:
        low, high = reward_bounds(self.config.objectives)
        return spaces.Box(low, high, dtype=np.float32)

    def sample_action(self, key: jax.Array) -> jnp.ndarray:
        """A uniformly random valid action (jittable)."""
        cfg = self.config
        if cfg.action_mode == "discrete":
            return jax.random.randint(key, (), 0, cfg.n_discrete_actions)
        space = self.action_space()
        return jax.random.uniform(key, space.shape, minval=jnp.asarray(space.low), maxval=jnp.asarray(space.high))

    # -- actions ----------------------------------------------------------------------------------
    def action_to_quote(self, action: jnp.ndarray) -> jnp.ndarray:
        """Map an action of either mode to the canonical quote vector (see ``QUOTE_FIELDS``)."""
        return self.check_action(action)[0]

    def check_action(self, action: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
        """``(quote, invalid)``: the quote vector of an action and whether the action was invalid.

        The contract (jittable; the mo-gymnasium adapters reject invalid actions before they get here):

        * continuous: a non-finite depth (NaN, +-inf) means "do not quote that side", a NaN quote flag
          is "off", non-finite lots are one lot; each of these flags the action ``invalid``. Finite
          values outside the box are clipped (depths to [0, max_depth], or [-max_depth, max_depth]
          with ``EnvConfig.negative_depth``; lots to [1, max_lots]) and are valid (closed-form
          strategies quote through the mid).
        * discrete: an index that is not a whole number in [0, n_discrete_actions) is ``invalid``;
          a finite one is truncated and clipped into range, a non-finite one is "off" on both sides.

        The state never sees a NaN from an action; ``StepInfo.invalid_action`` reports the flag.
        """
        cfg = self.config
        if cfg.action_mode == "discrete":
            g, n = cfg.n_depths, cfg.n_discrete_actions
            grid = jnp.asarray(cfg.depth_grid, jnp.float32)
            action = jnp.asarray(action)
            if jnp.issubdtype(action.dtype, jnp.integer):
                invalid = (action < 0) | (action >= n)
                index = jnp.clip(action, 0, n - 1).astype(jnp.int32)
            else:  # clipped before the cast: a float beyond int32 has no defined integer
                finite = jnp.isfinite(action)
                invalid = ~finite | (action != jnp.trunc(action)) | (action < 0) | (action >= n)
                index = jnp.where(finite, jnp.clip(action, 0, n - 1), n - 1).astype(jnp.int32)
            i_bid, i_ask = index // (g + 1), index % (g + 1)
            on = jnp.stack([i_bid < g, i_ask < g]).astype(jnp.float32)
            depth = grid[jnp.minimum(jnp.stack([i_bid, i_ask]), g - 1)]
            lots = jnp.ones((2,), jnp.float32)
        else:
            action = jnp.asarray(action, jnp.float32)
            finite = jnp.isfinite(action)
            invalid = ~jnp.all(finite[:4])
            depth = jnp.where(finite[:2], jnp.clip(action[:2], cfg.min_depth, cfg.max_depth), 0.0)
            on = (finite[:2] & finite[2:4] & (action[2:4] > 0)).astype(jnp.float32)
            if cfg.max_lots > 1:
                invalid = invalid | ~jnp.all(finite[4:6])
                lots = jnp.where(finite[4:6], jnp.round(jnp.clip(action[4:6], 1.0, cfg.max_lots)), 1.0)
            else:
                lots = jnp.ones((2,), jnp.float32)
        return jnp.concatenate([depth, on, lots]).astype(jnp.float32), invalid

    # -- dynamics -----------------------------------------------------------------------------
    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jnp.ndarray, EnvState]:
        """The initial state (deterministic but for the episode's words of the counter hash, from ``key``)."""
        f32 = jnp.float32
        sigma0 = params.sigma * params.regime_vol[0]
        state = EnvState(
            time=jnp.zeros((), jnp.int32),
            mid=jnp.asarray(params.mid0, f32),
            cash=jnp.zeros((), f32),
            inventory=jnp.asarray(params.initial_inventory, f32),
            regime=jnp.zeros((), jnp.int32),
            signal=jnp.zeros((), f32),
            realised_var=jnp.asarray(sigma0**2, f32),
            flow_imbalance=jnp.zeros((), f32),
            last_fills=jnp.zeros((2,), f32),
            effective_quote=OFF_QUOTE,
            quote_buffer=jnp.tile(OFF_QUOTE, (self.config.max_latency + 1, 1)),
            last_submitted=OFF_QUOTE,
            noise_key=random_bits.episode_words(key),
        )
        return self.get_obs(state, params), state

    def step_env(self, key: jax.Array, state: EnvState, action: jnp.ndarray, params: EnvParams):
        """One step without auto-reset: ``(obs, state, reward_vec, done, info)``.

        A pipeline of small pure functions: :meth:`place_quote` (latency, inventory limits, tick grid),
        :meth:`draw` (the step's random numbers), :func:`market_orders` (arrivals and fills),
        :func:`move_mid`, :func:`move_signal_and_regime`, then :meth:`settle` (accounting, rewards,
        observation). The replay env shares the first and the last.
        """
        parts = active_parts(self.config, params, state)
        draws = self.draw(key, state, parts)
        placed = self.place_quote(state, action, params)
        arrival, filled = market_orders(state, placed, draws, params, parts)
        new_mid, sigma_t = move_mid(state, arrival, draws, params, parts)
        signal, regime = move_signal_and_regime(state, draws, params, parts, self.config)
        return self.settle(
            state, placed, filled * placed.size, arrival, new_mid, sigma_t, params, regime=regime, signal=signal
        )

    def draw(self, key: jax.Array, state: EnvState, parts: frozenset) -> Draws:
        """The step's random numbers (:func:`draw`); a method so that a variant env can replace them."""
        return draw(key, state, parts, self.config)

    def place_quote(
        self, state: EnvState, action: jnp.ndarray, params: EnvParams, grid_offset: jnp.ndarray | float = 0.0
    ) -> PlacedQuote:
        """Steps 1-2: the action enters the latency buffer; the quote in force is withdrawn on a side
        whose fill would breach the inventory limit and put onto the tick grid (away from the mid).

        ``grid_offset``: prices on the grid are ``grid_offset + k * tick_size`` (the replay env's
        mids are relative to a window's first mid, which need not sit on the grid).
        """
        f32 = jnp.float32
        submitted, invalid = self.check_action(action)
        if self.config.max_latency == 0:  # a buffer of one: the quote in force is the one submitted
            buffer, quote = submitted[None], submitted
        else:
            buffer = jnp.concatenate([submitted[None], state.quote_buffer[:-1]], axis=0)
            quote = buffer[params.latency]
        depth, on, lots = quote[0:2], quote[2:4], quote[4:6]
        size = lots * params.order_size
        q, mid = state.inventory, state.mid
        eps = 1e-6 * params.inventory_limit
        within = jnp.stack([q + size[0] <= params.inventory_limit + eps, q - size[1] >= -params.inventory_limit - eps])
        on = on * within.astype(f32)
        raw_bid, raw_ask = mid - depth[0], mid + depth[1]
        if "ticks" not in active_parts(self.config, params):
            return PlacedQuote(submitted, buffer, depth, on, lots, size, raw_bid, raw_ask, invalid)
        tick = jnp.where(params.tick_size > 0, params.tick_size, 1.0)
        bid_px = jnp.where(
            params.tick_size > 0, grid_offset + jnp.floor((raw_bid - grid_offset) / tick + 1e-6) * tick, raw_bid
        )
        ask_px = jnp.where(
            params.tick_size > 0, grid_offset + jnp.ceil((raw_ask - grid_offset) / tick - 1e-6) * tick, raw_ask
        )
        # without ticks the depth is exact: mid - (mid - depth) in float32 is off by ~1e-5 at mid 100
        eff_depth = jnp.where(params.tick_size > 0, jnp.stack([mid - bid_px, ask_px - mid]), depth)
        return PlacedQuote(submitted, buffer, eff_depth, on, lots, size, bid_px, ask_px, invalid)

    def settle(
        self,
        state: EnvState,
        placed: PlacedQuote,
        units: jnp.ndarray,
        arrival: jnp.ndarray,
        new_mid: jnp.ndarray,
        sigma_t: jnp.ndarray,
        params: EnvParams,
        **extra_state,
    ):
        """Step 6: cash and inventory from the ``units`` filled per side (bought on the bid, sold on the
        ask), the mid's move to ``new_mid``, the reward vector, the new state (``extra_state``: more
        fields to replace, e.g. the regime) and the observation. ``arrival``: a market order hit the
        (bid, ask) side this step."""
        f32 = jnp.float32
        q, mid = state.inventory, state.mid
        traded = units[0] + units[1]
        cash = state.cash - units[0] * placed.bid_px + units[1] * placed.ask_px - params.maker_fee * traded
        inventory = q + units[0] - units[1]
        time = state.time + 1
        done = time >= params.n_steps
        liquidation = jnp.where(done, params.liquidation_penalty * inventory**2, 0.0)
        wealth_before = state.cash + q * mid
        wealth_after = cash + inventory * new_mid - liquidation
        increment = (new_mid - mid) / jnp.sqrt(params.dt)
        realised_var = (1 - params.vol_ewma) * state.realised_var + params.vol_ewma * increment**2
        on = placed.on
        quoted = jnp.stack([placed.depth[0], placed.depth[1], on[0], on[1], placed.lots[0], placed.lots[1]])
        new_state = state.replace(
            time=time,
            mid=new_mid,
            cash=cash - liquidation,
            inventory=inventory,
            realised_var=realised_var,
            flow_imbalance=(1 - params.flow_ewma) * state.flow_imbalance + params.flow_ewma * (arrival[1] - arrival[0]),
            last_fills=(units > 0).astype(f32),
            effective_quote=quoted,
            quote_buffer=placed.buffer,
            last_submitted=placed.submitted,
            **extra_state,
        )
        reward = reward_vector(
            self.config.objectives,
            params,
            pnl=wealth_after - wealth_before,
            inventory=inventory,
            sigma=sigma_t,
            firm=on * (placed.depth <= params.competitive_distance + 1e-6),
            units=units,
            mid_move=new_mid - mid,
            submitted=placed.submitted,
            last_submitted=state.last_submitted,
        )
        info = StepInfo(
            time=time,
            mid=new_mid,
            cash=new_state.cash,
            inventory=inventory,
            wealth=wealth_after,
            fill_bid=units[0],
            fill_ask=units[1],
            bid_price=jnp.where(on[0] > 0, placed.bid_px, jnp.nan),
            ask_price=jnp.where(on[1] > 0, placed.ask_px, jnp.nan),
            regime=state.regime,
            market_buy=arrival[1],
            market_sell=arrival[0],
            invalid_action=placed.invalid,
        )
        return observe(new_state, params), new_state, reward, done, info

    def step(self, key: jax.Array, state: EnvState, action: jnp.ndarray, params: EnvParams):
        """One step with auto-reset at the end of an episode (PureJaxRL style). As in gymnax, the reset
        key is split off the step's key (:meth:`reset_key`), so the reset never reuses the step's numbers."""
        obs, next_state, reward, done, info = self.step_env(key, state, action, params)
        obs, next_state = self._reset_where(done, lambda: self.reset_key(key, state), obs, next_state, params)
        return obs, next_state, reward, done, info

    def reset_key(self, key: jax.Array, state: EnvState) -> jax.Array:
        """The key that resets the episode after the step ``(key, state)``: split off by the counter hash
        (streams the step never draws), chained through the episode's words, so that a constant key
        still gives every episode new numbers. Same kind of key as ``key``."""
        words = random_bits.split_words(state.noise_key ^ random_bits.key_words(key), state.time)
        return random_bits.as_key(words, like=key)

    def auto_reset(self, key: jax.Array, done: jnp.ndarray, obs: jnp.ndarray, state: EnvState, params: EnvParams):
        """``(obs, state)`` of a new episode reset with ``key`` where ``done``, else unchanged.

        A ``lax.cond``: where ``done`` is one value for a whole batch (envs in step, as in the benchmark
        and in training) the reset runs only at the episode's end; vmapped over a batched ``done`` JAX
        turns it into the elementwise select it has to be."""
        return self._reset_where(done, lambda: key, obs, state, params)

    def _reset_where(self, done, reset_key, obs, state, params):
        """:meth:`auto_reset` with the reset key made by ``reset_key()`` inside the reset branch (so that
        a step does not hash it when no episode ends)."""
        return jax.lax.cond(done, lambda: self.reset_env(reset_key(), params), lambda: (obs, state))

    def reset(self, key: jax.Array, params: EnvParams | None = None):
        return self.reset_env(key, self.default_params if params is None else params)

    def get_obs(self, state: EnvState, params: EnvParams) -> jnp.ndarray:
        return observe(state, params)

    def is_terminal(self, state: EnvState, params: EnvParams) -> jnp.ndarray:
        return state.time >= params.n_steps


# -- the simulated market: the step's pipeline ------------------------------------------------------
class Draws(NamedTuple):
    """The random numbers of one step (None where the part that needs them is switched off)."""

    u_fill: jnp.ndarray  # (2,) uniforms of the bid and ask sides (arrival and fill by inverse CDF)
    mid_noise: jnp.ndarray  # standard normal (or +-1 with binary mid noise) of the mid's diffusion
    signal_noise: jnp.ndarray | None  # standard normal of the signal's diffusion
    jump: jnp.ndarray | None  # uniform: a jump happens when below jump_rate * dt
    jump_noise: jnp.ndarray | None  # standard normal of the jump size
    u_regime: jnp.ndarray | None  # uniform of the regime's transition


def draw(key: jax.Array, state: EnvState, parts: frozenset, config: EnvConfig) -> Draws:
    """The step's numbers from the counter hash of (episode words ^ key words, ``state.time``, stream)."""
    words = state.noise_key ^ random_bits.key_words(key)
    signal, jumps, regimes = "signal" in parts, "jumps" in parts, config.n_regimes > 1
    gaussian = config.mid_noise == "gaussian"
    streams = ["fill_bid", "fill_ask", "mid_angle"] + ["mid_radius"] * (gaussian or signal)
    streams += ["jump", "jump_radius", "jump_angle"] * jumps + ["regime"] * regimes
    u = {name: random_bits.uniform(bits) for name, bits in random_bits.step_bits(words, state.time, streams).items()}
    r = random_bits.radius(u["mid_radius"]) if "mid_radius" in u else None
    if gaussian:
        mid_noise = r * random_bits.cos_2pi(u["mid_angle"])
    else:  # the sign of the same normal: cos(2 pi u) > 0 off the middle half of (0, 1)
        mid_noise = jnp.where(jnp.abs(u["mid_angle"] - 0.5) > 0.25, 1.0, -1.0).astype(jnp.float32)
    return Draws(
        u_fill=jnp.stack([u["fill_bid"], u["fill_ask"]]),
        mid_noise=mid_noise,
        signal_noise=r * random_bits.sin_2pi(u["mid_angle"]) if signal else None,
        jump=u.get("jump"),
        jump_noise=random_bits.normal_pair(u["jump_radius"], u["jump_angle"])[0] if jumps else None,
        u_regime=u.get("regime"),
    )


def market_orders(state: EnvState, placed: PlacedQuote, draws: Draws, params: EnvParams, parts: frozenset):
    """Step 3: ``(arrival, filled)`` (2,) per side: a market order arrives with probability A dt (tilted by
    the signal: sells by e^-tilt, buys by e^+tilt) and fills a quote at depth delta when the same uniform
    is below A dt e^(-kappa delta)."""
    p_arrival = params.arrival_rate * params.dt
    if "signal" in parts:
        tilt = params.flow_sensitivity * state.signal
        p_arrival = p_arrival * jnp.exp(jnp.stack([-tilt, tilt]))
    p_arrival = jnp.clip(p_arrival, 0.0, 1.0)
    arrival = (draws.u_fill < p_arrival).astype(jnp.float32)
    filled = (draws.u_fill < p_arrival * jnp.exp(-params.kappa * placed.depth)).astype(jnp.float32) * placed.on
    return arrival, filled


def move_mid(state: EnvState, arrival: jnp.ndarray, draws: Draws, params: EnvParams, parts: frozenset):
    """Step 4: ``(new_mid, sigma_t)``: drift (+ signal), diffusion at the regime's volatility, jumps and
    the adverse impact of market orders (buys push the mid up, sells down)."""
    sigma_t = params.sigma * params.regime_vol[state.regime]
    drift = params.drift + state.signal if "signal" in parts else params.drift
    new_mid = state.mid + drift * params.dt + sigma_t * jnp.sqrt(params.dt) * draws.mid_noise
    if "jumps" in parts:
        happens = (draws.jump < params.jump_rate * params.dt).astype(jnp.float32)
        new_mid = new_mid + happens * (params.jump_mean + params.jump_std * draws.jump_noise)
    if "adverse_impact" in parts:
        new_mid = new_mid + params.adverse_impact * (arrival[1] - arrival[0])
    return new_mid, sigma_t


def move_signal_and_regime(state: EnvState, draws: Draws, params: EnvParams, parts: frozenset, config: EnvConfig):
    """Step 5: ``(signal, regime)``: the Ornstein-Uhlenbeck signal and the Markov regime move on."""
    signal = state.signal
    if "signal" in parts:
        signal = (
            signal
            - params.signal_reversion * signal * params.dt
            + params.signal_vol * jnp.sqrt(params.dt) * draws.signal_noise
        )
    regime = state.regime
    if config.n_regimes > 1:
        cdf = jnp.cumsum(params.regime_transition[state.regime])
        regime = jnp.minimum(jnp.sum(cdf < draws.u_regime), config.n_regimes - 1).astype(jnp.int32)
    return signal, regime
