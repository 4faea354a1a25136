"""The quote engine: a selected policy quoting over a market-data stream through a gateway.

One decision interval ``s`` (the policy's step of ``dt`` seconds), in this order:

1. the source yields the book at the interval's start (:mod:`morl_mm.live.source`); the kill switch
   is polled (a tripped switch cancels every working order and ends the session);
2. **decision** (jitted, one call): the observation with the replay env's own code
   (:func:`morl_mm.env.market.observe` of a :class:`~morl_mm.env.replay.ReplayState` that the engine
   keeps), the policy's action, and :meth:`~morl_mm.env.market.MarketMakingEnv.place_quote` (latency
   buffer, the model's inventory limit, the tick grid) turn it into a bid and an ask;
3. **risk checks** before anything leaves (:mod:`morl_mm.live.risk`: inventory, price collar, stale
   data, order rate), then **order mapping**: per side a new order, a cancel-replace or a cancel, only
   where the price, the quantity or whether the side rests changes (a partly filled order is topped
   up to the quote's size, as the replay env's quote is);
4. ``gateway.send(actions, s)`` and the barrier ``gateway.sync(s)``: acks, rejects and fills of the
   interval; the engine's own record of working orders, position and cash follows the reports;
5. when the interval is over, the source gives its trades and closing mid, and
   :meth:`~morl_mm.env.market.MarketMakingEnv.settle` (jitted) books the fills the venue reported into
   the env state: inventory, cash, features, the reward vector; the monitor and the loss limits see
   the result.

The policy's episodes are consecutive blocks of ``horizon / dt`` intervals from the stream's first
interval, as the backtest's windows are. An episode starts like the replay env's (time 0, mid 0 at
the episode's first mid, no quote in force: working orders are cancelled and quoted afresh), except
that the position the venue holds carries over (a live engine cannot wish its inventory away). Hence
the check the tests make: an episode that starts flat, on valid data, and in which no risk limit,
reject or stale book interfered, has the objective vector of the backtest's window, exactly (same
jitted env code in float32, the venue matching with the replay env's ``match_quotes``).

An interval whose book is invalid holds the working orders (no decision); once no valid book has
been seen for ``stale_after_s`` every working order is cancelled until a valid book is back.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from morl_mm.env.market import PlacedQuote, StepInfo, observe
from morl_mm.env.params import EnvParams, episode_steps
from morl_mm.env.replay import ReplayEnv, ReplayParams
from morl_mm.env.rollout import ByIdentity, Trajectory, as_act_fn
from morl_mm.evaluation.backtest import on_venue_ticks
from morl_mm.live.orders import SIDES, ExecutionReport, OrderAction
from morl_mm.live.risk import Quote, RiskLimits, RiskManager
from morl_mm.live.source import MarketInterval

log = logging.getLogger("morl_mm.live")


# -- the jitted parts: the replay env's own code ---------------------------------------------------
@functools.cache
def replay_env(config) -> ReplayEnv:
    """The replay env of a model config, one per config (so that sessions share compiled code)."""
    return ReplayEnv(config)


_DECIDERS: dict[tuple, tuple] = {}


def decision_function(env: ReplayEnv, policy: Any, policy_params: Any, env_params: EnvParams, key: jax.Array):
    """The jitted decision ``(state, origin, step) -> vector``: observation, action and placed quote, in one
    float32 vector (one output to hand back): ``vector[:6]`` = (on bid, on ask, bid px, ask px, bid size, ask
    size), prices in the tape's coordinates as the replay env hands them to ``match_quotes``, ``vector[6:]`` the
    :class:`PlacedQuote` (:func:`pack_placed`). The model and the policy's params (a deployed policy does not
    change during a session) are constants of the compiled function: fewer arguments to pass per call, and
    XLA folds them in (with the process on one core, 41 -> 23 us per call for the PPO network). One per (env,
    policy, params, model, key), shared by sessions."""
    cache_key = (id(env), id(policy), id(policy_params), str(env_params), str(jax.random.key_data(key)))
    if cache_key not in _DECIDERS:

        @jax.jit
        def decide(state, origin, step):
            obs = observe(state, env_params)
            action = as_act_fn(policy, policy_params)(obs, state, jax.random.fold_in(key, step))
            placed = env.place_quote(state, action, env_params, grid_offset=-origin)
            price = jnp.stack([placed.bid_px, placed.ask_px]) + origin
            return jnp.concatenate([placed.on, price, placed.size, pack_placed(placed)])

        # the objects stay alive while their id is a key
        _DECIDERS[cache_key] = (decide, (env, policy, policy_params))
    return _DECIDERS[cache_key][0]


def pack_placed(placed: PlacedQuote, xp=jnp):
    """A :class:`PlacedQuote` as one float32 vector (``xp``: jax.numpy, or numpy on the host)."""
    parts = [
        placed.submitted,
        placed.buffer,
        placed.depth,
        placed.on,
        placed.lots,
        placed.size,
        placed.bid_px,
        placed.ask_px,
        placed.invalid,
    ]
    return xp.concatenate([xp.ravel(xp.asarray(p, xp.float32)) for p in parts])


def unpack_placed(vector, buffer_rows: int) -> PlacedQuote:
    """The :class:`PlacedQuote` of :func:`pack_placed` (``buffer_rows``: the env's ``max_latency + 1``)."""
    n = 6 * buffer_rows
    buffer = vector[6 : 6 + n].reshape(buffer_rows, 6)
    rest = vector[6 + n :]
    return PlacedQuote(vector[:6], buffer, rest[0:2], rest[2:4], rest[4:6], rest[6:8], rest[8], rest[9], rest[10] > 0.5)


@functools.partial(jax.jit, static_argnames=("env",))
def _settle(env: ByIdentity, state, placed, units, trade_price, mid_end, origin, env_params):
    """The replay env's step 3-4 with the venue's fills (``placed``: :func:`pack_placed`): the new state and,
    packed in one float32 vector, the reward vector and the step's :class:`StepInfo`."""
    placed = unpack_placed(placed, env.obj.config.max_latency + 1)
    arrival = jnp.isfinite(trade_price[:, 0]).astype(jnp.float32)
    _, state, reward, _, info = env.obj.settle(
        state, placed, units.astype(jnp.float32), arrival, mid_end - origin, env_params.sigma, env_params
    )
    return state, jnp.concatenate([reward, jnp.stack([jnp.asarray(x, jnp.float32) for x in info])])


def unpack_step(packed: np.ndarray, n_objectives: int) -> tuple[np.ndarray, StepInfo]:
    """The reward vector (float64) and :class:`StepInfo` (numpy scalars) of :func:`_settle`'s packed vector."""
    reward, fields = np.asarray(packed[:n_objectives], np.float64), packed[n_objectives:]
    info = StepInfo(*fields)
    return reward, info._replace(
        time=np.int32(info.time), regime=np.int32(info.regime), invalid_action=bool(info.invalid_action)
    )


@functools.partial(jax.jit, static_argnames=("env",))
def _reset(env: ByIdentity, key, env_params, inventory):
    """The replay env's initial state, holding ``inventory``."""
    _, state = env.obj.reset_env(key, ReplayParams(env=env_params, tape=None))
    return state.replace(inventory=jnp.asarray(inventory, jnp.float32))


def resting_quote(submitted, buffer, mid, on, price, size, origin, order_size) -> np.ndarray:
    """The packed :class:`PlacedQuote` of the orders that really rested (when risk checks, rejects or a held
    interval made them differ from the policy's quote): ``on``/``price`` (tape coordinates)/``size`` per side."""
    f32 = np.float32
    on = np.asarray(on, f32)
    rel = np.where(on > 0, np.asarray(price, f32) - f32(origin), f32(mid)).astype(f32)
    depth = np.where(on > 0, np.array([f32(mid) - rel[0], rel[1] - f32(mid)], f32), f32(0)).astype(f32)
    size = np.asarray(size, f32)
    return pack_placed(
        PlacedQuote(submitted, buffer, depth, on, size / f32(order_size), size, rel[0], rel[1], False), np
    )


# -- bookkeeping ----------------------------------------------------------------------------------
@dataclasses.dataclass
class EngineOrder:
    """The engine's view of its working order on one side (absolute price, open quantity)."""

    cl_ord_id: str
    price: float
    qty: float


def map_orders(working: list[EngineOrder | None], quotes: list[Quote], new_id) -> list[OrderAction]:
    """Order actions that turn the ``working`` orders (bid, ask) into the wanted ``quotes``: new,
    cancel-replace or cancel per side, nothing where the side already rests as wanted."""
    actions = []
    for side, (order, quote) in enumerate(zip(working, quotes)):
        name = SIDES[side]
        if order is None and quote.on:
            actions.append(OrderAction("new", name, new_id(), quote.price, quote.qty))
        elif order is not None and not quote.on:
            actions.append(OrderAction("cancel", name, new_id(), orig_cl_ord_id=order.cl_ord_id))
        elif order is not None and (order.price != quote.price or order.qty != quote.qty):
            actions.append(
                OrderAction("replace", name, new_id(), quote.price, quote.qty, orig_cl_ord_id=order.cl_ord_id)
            )
    return actions


@dataclasses.dataclass
class Episode:
    """One policy episode of the session (``steps`` intervals from ``start_step``)."""

    start_step: int
    origin: np.float32  # tape mid at the episode's start: its prices are relative to it
    initial_inventory: float
    rewards: list = dataclasses.field(default_factory=list)
    infos: list = dataclasses.field(default_factory=list)
    valid: bool = True  # every interval had a valid book
    clean: bool = True  # no risk limit, reject or held interval changed what rested

    def trajectory(self) -> Trajectory:
        info = StepInfo(*(np.stack([getattr(i, f) for i in self.infos]) for f in StepInfo._fields))
        return Trajectory(obs=None, action=None, reward=np.stack(self.rewards), done=None, info=info)


class QuoteEngine:
    """A policy quoting over ``source`` through ``gateway`` (see the module docstring).

    Args:
        policy: a :class:`morl_mm.policies.base.Policy` (its ``params`` set) or ``(obs, state, key) -> action``.
        env: the policy's env (its config: action mode, objectives, latency buffer); a plain
            :class:`~morl_mm.env.market.MarketMakingEnv` is run as a :class:`ReplayEnv`.
        env_params: the policy's model (``dt`` must be the source's; a model without ticks quotes on the
            source's tick grid, as the backtest does).
        gateway: a :class:`~morl_mm.live.orders.Gateway` (``SimGateway`` or a FIX gateway).
        source: a :class:`~morl_mm.live.source.MarketDataSource`.
        limits: :class:`~morl_mm.live.risk.RiskLimits` (or a ready :class:`RiskManager`); None: only the
            kill switch.
        metrics: a :class:`~morl_mm.live.monitor.Monitor` (optional).
        seed: key of the policy's own randomness (deterministic policies ignore it).
        label: the policy's name in the summary.
        id_prefix: prefix of the ClOrdIDs (default: from the clock, unique across sessions).
    """

    def __init__(
        self,
        policy: Any,
        env,
        env_params: EnvParams,
        gateway,
        source,
        limits: RiskLimits | RiskManager | None = None,
        metrics=None,
        *,
        seed: int = 0,
        label: str = "",
        id_prefix: str | None = None,
    ):
        self.env = env if isinstance(env, ReplayEnv) else replay_env(env.config)
        self.env_params = on_venue_ticks(env_params, source.tick_size)
        if abs(float(self.env_params.dt) - float(source.dt)) > 1e-9:
            raise ValueError(
                f"QuoteEngine: the source's interval ({source.dt:g} s) is not the policy's dt "
                f"({float(self.env_params.dt):g} s)"
            )
        self.steps = episode_steps(self.env_params)
        self.policy = policy
        self.policy_params = getattr(policy, "params", None)
        self.gateway, self.source, self.monitor = gateway, source, metrics
        self.risk = limits if isinstance(limits, RiskManager) else RiskManager(limits, source.tick_size, metrics)
        if self.risk.monitor is None:
            self.risk.monitor = metrics
        self.label = label
        self.tick = float(self.env_params.tick_size)
        self.reference = float(source.reference_price)
        self.order_size = float(self.env_params.order_size)
        self.maker_fee = float(self.env_params.maker_fee)
        self._env_h = ByIdentity(self.env)
        self._key = jax.random.key(seed)
        self._decide = decision_function(self.env, policy, self.policy_params, self.env_params, self._key)
        self._prefix = id_prefix if id_prefix is not None else f"{time.time_ns() // 1_000_000 % 10**10:x}-"
        self._next_id = 0
        # the engine's records
        self.working: list[EngineOrder | None] = [None, None]
        self.inventory = 0.0
        self.cash = 0.0
        self.fills = 0
        self.orders = {"new": 0, "replace": 0, "cancel": 0, "rejected": 0}
        self.rejects: list[ExecutionReport] = []
        self.episodes: list[Episode] = []
        self.episode: Episode | None = None
        self.state = None
        self.intervals = 0
        self.invalid_intervals = 0
        self.last_step = -1
        self.last_mid = math.nan
        self._last_valid_ns: int | None = None
        self.stopped_by = ""
        self._reported_bad_lines = 0
        if metrics is not None:
            self._report_bad_lines()

    # -- public ----------------------------------------------------------------------------------
    def kill(self, reason: str = "command") -> None:
        """The kill switch as a method call: at the next interval every working order is cancelled and
        the session ends."""
        self.risk.kill(reason)

    def run(self, max_intervals: int | None = None) -> dict:
        """Quote until the source ends, the kill switch trips or ``max_intervals`` ran; the session summary."""
        try:
            for interval in self.source:
                if not self.step(interval):
                    break
                if max_intervals is not None and self.intervals >= max_intervals:
                    self.stopped_by = self.stopped_by or f"max_intervals ({max_intervals})"
                    break
            else:
                self.stopped_by = self.stopped_by or "end of market data"
        finally:
            self.shutdown()
        return self.summary()

    def step(self, interval: MarketInterval) -> bool:
        """Run one decision interval (module docstring); False when the session must end (kill switch)."""
        started = time.perf_counter()
        if self.risk.poll_kill_switch():
            self.stopped_by = f"kill switch ({self.risk.kill_reason})"
            return False
        s = interval.step
        prelude = []
        if self.episode is None or s - self.episode.start_step >= self.steps:
            prelude = self._begin_episode(interval)
        episode = self.episode
        if interval.valid:
            self._last_valid_ns = interval.start_ns
        else:
            self.invalid_intervals += 1
            episode.valid = False
        stale = self.risk.stale(interval.start_ns, self._last_valid_ns)
        mid_abs = float(interval.mid) + self.reference
        placed = None
        if interval.valid and not stale:
            quote = np.asarray(self._decide(self.state, episode.origin, np.int32(s)))
            placed = quote[6:]
            wanted = [Quote(bool(quote[i] > 0), self._price(quote[2 + i]), float(quote[4 + i])) for i in range(2)]
        elif stale:
            wanted = [Quote(False), Quote(False)]
        else:  # an invalid book within the stale allowance: hold what rests
            wanted = [Quote(o is not None, o.price if o else math.nan, o.qty if o else 0.0) for o in self.working]
        allowed = self.risk.check_quotes(wanted, self.inventory, mid_abs)
        working = [None, None] if prelude else self.working
        actions = self.risk.throttle(prelude + map_orders(working, allowed, self._new_id), self._market_seconds(s))
        if self.monitor is not None:
            self.monitor.on_decision(time.perf_counter() - started)
        reports = self._exchange(actions, s)
        resting, units = reports
        close = self.source.close_interval(interval)
        as_wanted = placed is not None and all(
            (r is not None) == w.on and (r is None or (r.price == w.price and r.qty == w.qty))
            for r, w in zip(resting, wanted)
        )
        if not as_wanted:
            episode.clean = False
            placed = self._resting(placed, resting)
        self.state, packed = _settle(
            self._env_h,
            self.state,
            placed,
            units.astype(np.float32),
            close.trade_price,
            close.mid_end,
            episode.origin,
            self.env_params,
        )
        reward, info = unpack_step(np.asarray(packed), self.env.num_objectives)
        episode.rewards.append(reward)
        episode.infos.append(info)
        self.intervals += 1
        self.last_step = s
        self.last_mid = float(close.mid_end) + self.reference
        pnl = self.cash + self.inventory * self.last_mid
        if self.monitor is not None:
            self.monitor.on_interval(episode.rewards[-1], info, pnl, self.inventory)
            self._report_bad_lines()
        self.risk.check_pnl(pnl)
        if len(episode.rewards) == self.steps:
            self._end_episode(complete=True)
        return True

    def shutdown(self) -> None:
        """End the session: cancel every working order (at the interval after the last one) and close."""
        if self.episode is not None and self.episode.rewards:
            self._end_episode(complete=False)
        if any(o is not None for o in self.working):
            cancels = [
                OrderAction("cancel", SIDES[i], self._new_id(), orig_cl_ord_id=o.cl_ord_id)
                for i, o in enumerate(self.working)
                if o is not None
            ]
            self._exchange(cancels, self.last_step + 1)
            left = [o.cl_ord_id for o in self.working if o is not None]
            if left:
                log.error("shutdown: orders %s still working after their cancel", left)
        self.gateway.close()

    # -- the steps -------------------------------------------------------------------------------
    def _begin_episode(self, interval: MarketInterval) -> list[OrderAction]:
        if self.episode is not None and self.episode.rewards:
            self._end_episode(complete=len(self.episode.rewards) == self.steps)
        origin = np.float32(interval.mid)
        self.state = _reset(self._env_h, self._key, self.env_params, np.float32(self.inventory))
        self.episode = Episode(interval.step, origin, self.inventory)
        # the replay env's episode starts with no quote in force: working orders are cancelled
        return [
            OrderAction("cancel", SIDES[i], self._new_id(), orig_cl_ord_id=o.cl_ord_id)
            for i, o in enumerate(self.working)
            if o is not None
        ]

    def _end_episode(self, complete: bool) -> None:
        episode, self.episode = self.episode, None
        self.episodes.append(episode)
        if self.monitor is not None:
            self.monitor.on_episode(episode.trajectory(), complete, np.sum(episode.rewards, axis=0))

    def _exchange(self, actions: list[OrderAction], step: int):
        """Send, sync, and apply the reports: the orders that rested during the matching and the units filled."""
        for action in actions:
            self.orders[action.kind] += 1
        if self.monitor is not None:
            self.monitor.on_orders(actions)
        self.gateway.send(actions, step)
        reports = self.gateway.sync(step)
        sent = {a.cl_ord_id: a for a in actions}
        fills = []
        for report in reports:
            if self.monitor is not None:
                self.monitor.on_report(report)
            if report.is_fill:
                fills.append(report)
                continue
            side = SIDES.index(report.side)
            action = sent.get(report.cl_ord_id)
            if report.exec_type in ("new", "replaced") and action is not None:
                self.working[side] = EngineOrder(report.cl_ord_id, action.price, action.qty)
            elif report.exec_type == "canceled":
                order = self.working[side]
                if order is not None and order.cl_ord_id in (report.orig_cl_ord_id, report.cl_ord_id):
                    self.working[side] = None
            elif report.exec_type == "rejected":
                self.orders["rejected"] += 1
                self.rejects.append(report)
                if self.episode is not None:
                    self.episode.clean = False
                log.warning("order %s (%s) rejected: %s", report.cl_ord_id, report.side, report.text)
        resting = [None if o is None else dataclasses.replace(o) for o in self.working]
        units = np.zeros(2)
        for report in fills:
            side = SIDES.index(report.side)
            sign = 1.0 if side == 0 else -1.0
            units[side] += report.last_qty
            self.inventory += sign * report.last_qty
            self.cash -= sign * report.last_qty * report.last_px + self.maker_fee * report.last_qty
            self.fills += 1
            order = self.working[side]
            if order is not None and order.cl_ord_id == report.cl_ord_id:
                order.qty = report.leaves_qty
                if report.exec_type == "fill":
                    self.working[side] = None
        return resting, units

    def _resting(self, placed, resting: list[EngineOrder | None]) -> np.ndarray:
        state = self.state
        if placed is not None:
            policy_quote = unpack_placed(placed, self.env.config.max_latency + 1)
            submitted, buffer = policy_quote.submitted, policy_quote.buffer
        else:
            submitted, buffer = np.asarray(state.last_submitted), np.asarray(state.quote_buffer)
        on = [o is not None for o in resting]
        price = [np.float32(o.price - self.reference) if o else np.float32(0) for o in resting]
        size = [o.qty if o else 0.0 for o in resting]
        return resting_quote(
            submitted, buffer, np.asarray(state.mid), on, price, size, self.episode.origin, self.order_size
        )

    # -- helpers ---------------------------------------------------------------------------------
    def _price(self, tape_price) -> float:
        """An absolute price on the venue's tick grid from a tape price (float32)."""
        price = float(tape_price) + self.reference
        return round(round(price / self.tick) * self.tick, 12) if self.tick > 0 else price

    def _new_id(self) -> str:
        self._next_id += 1
        return f"{self._prefix}{self._next_id}"

    def _market_seconds(self, step: int) -> float:
        return step * float(self.source.dt)

    def _report_bad_lines(self) -> None:
        bad = int(getattr(self.source, "bad_lines", 0))
        if bad > self._reported_bad_lines:
            self.monitor.on_bad_lines(bad - self._reported_bad_lines)
            self._reported_bad_lines = bad

    def comparable(self, episode: Episode) -> bool:
        """Whether ``episode`` is one the backtest replays identically (module docstring)."""
        return (
            len(episode.rewards) == self.steps
            and episode.valid
            and episode.clean
            and episode.initial_inventory == float(self.env_params.initial_inventory)
        )

    def summary(self) -> dict:
        """The session: episodes and their objectives, the engine's and the venue's records, risk, monitoring."""
        objectives = list(self.env.objectives)
        episodes = [
            {
                "start_step": e.start_step,
                "steps": len(e.rewards),
                "complete": len(e.rewards) == self.steps,
                "valid": e.valid,
                "clean": e.clean,
                "initial_inventory": e.initial_inventory,
                "comparable": self.comparable(e),
                "objectives": {o: float(v) for o, v in zip(objectives, np.sum(e.rewards, axis=0))},
            }
            for e in self.episodes
        ]
        complete = [e for e in episodes if e["complete"]]
        means = {o: (float(np.mean([e["objectives"][o] for e in complete])) if complete else None) for o in objectives}
        venue = getattr(self.gateway, "venue", None)
        out = {
            "policy": self.label,
            "venue": type(self.gateway).__name__,
            "data": getattr(getattr(self.source, "capture", None), "source", None),
            "fill_model": getattr(venue, "fill_model", None),
            "dt": float(self.env_params.dt),
            "horizon": float(self.env_params.horizon),
            "steps_per_episode": self.steps,
            "intervals": self.intervals,
            "invalid_intervals": self.invalid_intervals,
            "stopped_by": self.stopped_by,
            "episodes": episodes,
            "complete_episodes": len(complete),
            "comparable_episodes": sum(e["comparable"] for e in episodes),
            "objectives": means,
            "account": {
                "inventory": self.inventory,
                "cash": self.cash,
                "fills": self.fills,
                "pnl": self.cash + self.inventory * self.last_mid if self.intervals else 0.0,
            },
            "venue_record": venue.record() if venue is not None else None,
            "orders": dict(self.orders),
            "working_orders": [o.cl_ord_id for o in self.working if o is not None],
            "risk": self.risk.summary(),
            "market_data": {
                "bad_lines": int(getattr(self.source, "bad_lines", 0)),
                "max_lag_s": float(getattr(self.source, "max_lag_s", 0.0)),
            },
        }
        if self.monitor is not None:
            out["monitor"] = self.monitor.summary()
        return out
