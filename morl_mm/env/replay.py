"""The replay env: the simulator's contract and objective vector over a *recorded* market.

``ReplayEnv`` has the same pure ``reset(key, params)`` / ``step(key, state, action, params)``, the
same observation layout, action modes and objective vector as :class:`MarketMakingEnv`, so every
policy (classical, oracle table, network, exported ``.mmpol``) runs on it unchanged. Its market is
a :class:`ReplayTape`: the recorded mid path and trades on a grid of steps of ``dt`` seconds,
built from a capture by :func:`morl_mm.data.tape.build_tape`. Its params are a
:class:`ReplayParams`: the model's :class:`EnvParams` (dt, horizon, inventory limit, order size,
latency, fees, competitive distance, the ``sigma`` that ``inventory_risk`` charges), the tape and
the first tape step of the episode (``start``), so vmapping over ``start`` replays many windows.

One step ``t`` of an episode (tape step ``s = start + t``):

1. as in the simulator, the action enters the latency buffer and the quote in force is limited by
   the inventory limit and put on the tick grid (:meth:`MarketMakingEnv.place_quote`);
2. fills, from the trades recorded during step ``s`` (sell market orders reach the bid, buy market
   orders the ask), by the ``fill_model`` (static):

   * ``"trade_through"``: the quote fills (its whole size) when a trade printed strictly through
     its price (a sell below the bid, a buy above the ask): a lower bound;
   * ``"touch"``: it also fills when a trade printed at its price: the optimistic bound;
   * ``"queue"`` (default): trade-through fills, and at its own price the quote joins the back of
     the displayed level (the size the book showed at that price at the step's start; 0 inside
     the spread or at an empty price; unknown, so never filled at that price, beyond the deepest
     displayed level), and fills by the volume traded at its price once the volume ahead of it has
     traded (partial fills possible). Cancellations ahead of it are ignored, so the model is
     conservative. A quote keeps its place while its price and side stay unchanged;
3. the mid moves to the recorded mid at the end of the step; there is no market impact of the
   agent's own orders (it is small: one order of ``order_size``);
4. accounting, rewards and observation exactly as in the simulator (:meth:`MarketMakingEnv.settle`).

Prices inside the env are relative to the window's first mid (so an episode starts at mid 0 and
float32 keeps its precision at any price level; the model is translation invariant), and the tick
grid is shifted accordingly. ``info`` is the simulator's :class:`StepInfo`, so the market-making
metrics of :mod:`morl_mm.evaluation.metrics` apply (with ``mid0 = 0``).
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from morl_mm.env import random_bits
from morl_mm.env.market import OFF_QUOTE, EnvState, MarketMakingEnv
from morl_mm.env.params import EnvConfig, EnvParams, episode_steps, validate_params

FILL_MODELS = ("trade_through", "queue", "touch")
SELL, BUY = 0, 1  # trade sides of the tape: sell market orders reach the bid (side 0), buys the ask (side 1)


@struct.dataclass
class ReplayTape:
    """A recorded market on a grid of ``S`` steps (prices relative to a reference on the tick grid).

    ``mid[s]`` is the mid at the start of step ``s`` (``mid[S]``: at the end of the last step); the
    book arrays are the top-``L`` levels at the start of each step (best first, NaN where empty);
    ``trade_price[s, side]`` holds the ``K`` most aggressive distinct prices traded by market orders
    of that side during step ``s`` (sells lowest first, buys highest first; NaN-padded) and
    ``trade_volume`` the volume traded at each; ``valid[s]`` is False where the book was not known.
    """

    mid: jnp.ndarray  # (S + 1,)
    bid_price: jnp.ndarray  # (S, L)
    bid_size: jnp.ndarray  # (S, L)
    ask_price: jnp.ndarray  # (S, L)
    ask_size: jnp.ndarray  # (S, L)
    trade_price: jnp.ndarray  # (S, 2, K)
    trade_volume: jnp.ndarray  # (S, 2, K)
    valid: jnp.ndarray  # (S,) bool

    @property
    def n_steps(self) -> int:
        return int(self.valid.shape[-1])


@struct.dataclass
class ReplayParams:
    """The replay env's params: the model, the tape and the episode's first tape step."""

    env: EnvParams
    tape: ReplayTape
    start: jnp.ndarray = struct.field(default_factory=lambda: jnp.zeros((), jnp.int32))


@struct.dataclass
class ReplayState(EnvState):
    """The simulator's state plus the queue position of each side's resting quote."""

    queue_ahead: jnp.ndarray = struct.field(default_factory=lambda: jnp.zeros((2,), jnp.float32))
    queue_price: jnp.ndarray = struct.field(default_factory=lambda: jnp.full((2,), jnp.nan, jnp.float32))


class ReplayEnv(MarketMakingEnv):
    """The market-making env over a recorded market (see the module docstring)."""

    def __init__(
        self,
        config: EnvConfig | None = None,
        fill_model: Literal["trade_through", "queue", "touch"] = "queue",
        **config_overrides,
    ):
        super().__init__(config, **config_overrides)
        if fill_model not in FILL_MODELS:
            raise ValueError(f"ReplayEnv.fill_model: must be one of {list(FILL_MODELS)}, got {fill_model!r}")
        self.fill_model = fill_model

    @property
    def default_params(self):
        raise ValueError("ReplayEnv has no default params: build them from a capture (morl_mm.data.tape.replay_params)")

    def validate(self, params: ReplayParams) -> None:
        """Check the model params and that the episode fits on the tape (concrete values only)."""
        validate_params(params.env, self.config)
        length = int(np.shape(params.tape.valid)[-1])
        starts = np.atleast_1d(np.asarray(params.start))
        steps = episode_steps(params.env)
        if starts.size and (starts.min() < 0 or starts.max() + steps > length):
            raise ValueError(
                f"ReplayParams.start: an episode of {steps} steps from step {int(starts.max())} does not "
                f"fit on a tape of {length} steps"
            )

    # -- the recorded market -------------------------------------------------------------------
    def _origin(self, params: ReplayParams) -> jnp.ndarray:
        return params.tape.mid[params.start]

    def reset_env(self, key: jax.Array, params: ReplayParams):
        """The first state of the episode (the recorded market is deterministic: the key only sets the
        state's unused counter-hash words, so that the state has the simulator's structure)."""
        env_params = params.env
        f32 = jnp.float32
        state = ReplayState(
            time=jnp.zeros((), jnp.int32),
            mid=jnp.zeros((), f32),
            cash=jnp.zeros((), f32),
            inventory=jnp.asarray(env_params.initial_inventory, f32),
            regime=jnp.zeros((), jnp.int32),
            signal=jnp.zeros((), f32),
            realised_var=jnp.asarray((env_params.sigma * env_params.regime_vol[0]) ** 2, f32),
            flow_imbalance=jnp.zeros((), f32),
            last_fills=jnp.zeros((2,), f32),
            effective_quote=OFF_QUOTE,
            quote_buffer=jnp.tile(OFF_QUOTE, (self.config.max_latency + 1, 1)),
            last_submitted=OFF_QUOTE,
            noise_key=random_bits.episode_words(key),
            queue_ahead=jnp.zeros((2,), f32),
            queue_price=jnp.full((2,), jnp.nan, f32),
        )
        return self.get_obs(state, params), state

    def step_env(self, key: jax.Array, state: ReplayState, action: jnp.ndarray, params: ReplayParams):
        """One step without auto-reset: ``(obs, state, reward_vec, done, info)`` (see the module docstring)."""
        del key
        env_params, tape = params.env, params.tape
        origin = self._origin(params)
        s = params.start + state.time
        placed = self.place_quote(state, action, env_params, grid_offset=-origin)
        price = jnp.stack([placed.bid_px, placed.ask_px]) + origin
        units, queue_ahead, queue_price = match_quotes(
            self.fill_model,
            tape,
            s,
            price,
            placed.on > 0,
            placed.size,
            state.queue_ahead,
            state.queue_price + origin,
            env_params.tick_size,
        )
        trade_price = tape.trade_price[s]
        arrival = jnp.isfinite(trade_price[:, 0]).astype(jnp.float32)
        new_mid = tape.mid[s + 1] - origin
        return self.settle(
            state,
            placed,
            units.astype(jnp.float32),
            arrival,
            new_mid,
            env_params.sigma,
            env_params,
            queue_ahead=queue_ahead.astype(jnp.float32),
            queue_price=(queue_price - origin).astype(jnp.float32),
        )

    def get_obs(self, state: EnvState, params: ReplayParams) -> jnp.ndarray:
        return super().get_obs(state, params.env)

    def is_terminal(self, state: EnvState, params: ReplayParams) -> jnp.ndarray:
        return super().is_terminal(state, params.env)


def match_quotes(fill_model: str, tape: ReplayTape, s, price, on, size, queue_ahead, queue_price, tick_size):
    """Units filled per side (bid, ask) during tape step ``s`` by the ``fill_model`` (module docstring).

    ``price``: (2,) quote prices in tape coordinates; ``on``: (2,) bool, the side rests; ``size``:
    (2,) its size; ``queue_ahead`` / ``queue_price``: the queue model's state of each side (the
    volume ahead of the resting quote and the price it rests at, NaN when none). Returns
    ``(units, queue_ahead, queue_price)``. Pure and jittable: the replay env and the simulated
    venue of :mod:`morl_mm.live` match orders with this one function.
    """
    if fill_model not in FILL_MODELS:
        raise ValueError(f"fill_model: must be one of {list(FILL_MODELS)}, got {fill_model!r}")
    trade_price = tape.trade_price[s]  # (2, K): side 0 sells (reach the bid), 1 buys
    volume = jnp.where(jnp.isnan(trade_price), 0.0, tape.trade_volume[s])
    sign = jnp.array([-1.0, 1.0])[:, None]  # how far a trade price lies through a quote, per side
    tol = jnp.where(tick_size > 0, 0.25 * tick_size, 1e-6)
    beyond = jnp.where(jnp.isnan(trade_price), -jnp.inf, sign * (trade_price - price[:, None]))
    through = jnp.any(beyond > tol, axis=1)
    at_price = jnp.sum(jnp.where(jnp.abs(beyond) <= tol, volume, 0.0), axis=1)
    if fill_model == "trade_through":
        return jnp.where(on & through, size, 0.0), queue_ahead, queue_price
    if fill_model == "touch":
        return jnp.where(on & (through | (at_price > 0)), size, 0.0), queue_ahead, queue_price
    same = on & (jnp.abs(price - queue_price) <= tol)  # NaN (no resting quote) compares False
    ahead = jnp.where(same, queue_ahead, _displayed(tape, s, price, tol))
    units = jnp.where(through, size, jnp.clip(at_price - ahead, 0.0, size))
    units = jnp.where(on, units, 0.0)
    return units, jnp.where(on, jnp.maximum(ahead - at_price, 0.0), 0.0), jnp.where(on, price, jnp.nan)


def _displayed(tape: ReplayTape, s, price, tol) -> jnp.ndarray:
    """Size displayed at each side's quote price (tape coordinates) at the start of step ``s``:
    the level's size where the price is shown; 0 inside the spread or at an empty price within
    the displayed depth; +inf (unknown) beyond the deepest displayed level of a full book."""

    def one_side(levels, sizes, p, sign):  # sign: +1 bid (better = higher), -1 ask
        shown = jnp.isfinite(levels)
        match = shown & (jnp.abs(levels - p) <= tol)
        deepest = jnp.where(shown, sign * levels, jnp.inf).min()
        full = jnp.all(shown)
        size = jnp.sum(jnp.where(match, sizes, 0.0))
        return jnp.where(jnp.any(match), size, jnp.where(full & (sign * p < deepest - tol), jnp.inf, 0.0))

    return jnp.stack(
        [
            one_side(tape.bid_price[s], tape.bid_size[s], price[0], 1.0),
            one_side(tape.ask_price[s], tape.ask_size[s], price[1], -1.0),
        ]
    )


def window_starts(tape: ReplayTape, steps: int) -> np.ndarray:
    """First tape steps of the consecutive, non-overlapping windows of ``steps`` steps whose book is
    valid throughout (a window that touches an invalid step is dropped)."""
    valid = np.asarray(tape.valid, bool)
    count = valid.shape[0] // int(steps)
    starts = np.arange(count, dtype=np.int64) * int(steps)
    keep = [bool(valid[s : s + steps].all()) for s in starts]
    return starts[np.asarray(keep, bool)].astype(np.int32) if count else np.zeros((0,), np.int32)
