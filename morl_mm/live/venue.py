"""A simulated venue: working orders from :class:`~morl_mm.live.orders.OrderAction` s, matched against a
recorded market with the replay env's fill model.

:class:`MatchingVenue` holds a :class:`~morl_mm.env.replay.ReplayTape` (a capture on a grid of ``dt``
seconds, :func:`morl_mm.data.tape.build_tape`). Prices on the wire are the instrument's own
(absolute) prices; the tape's are relative to ``reference_price`` (its ``TapeInfo.reference_price``).
For each interval ``s`` of the tape a client first submits order actions (:meth:`MatchingVenue.submit`:
each is acknowledged or rejected at once, with a reason), then the venue matches the working orders
against the trades recorded during ``s`` (:meth:`MatchingVenue.match`) with
:func:`morl_mm.env.replay.match_quotes`, the one function the replay env fills its quotes with.

The matching is the replay env's, exactly, so that a paper-trading session reproduces a backtest:

* one working order per side (a second ``new`` on a side is rejected: replace the working one);
* the side's queue position (volume ahead, price) is the replay env's ``ReplayState.queue_ahead`` /
  ``queue_price``: kept from one interval to the next while the side rests at the same price,
  through a replace of its size and through a fill followed by a new order at that price in the next
  interval (the model's quote is refreshed in place); lost when the price changes, when the side's
  order is cancelled, or when no order rests on the side during an interval;
* orders are post-only: a buy at or above the best ask (a sell at or below the best bid) of the
  book at the interval's start is rejected (the replay env never quotes through the mid).

Rejects (``exec_type="rejected"``, the reason in ``text``): an unknown or no-longer-working order id
(replace/cancel), a duplicate ``cl_ord_id``, a price that is not finite or not on the tick grid, a
quantity that is not finite and > 0, a replace that changes the side, a crossing order, a second
order on a side, an order for an interval already matched or beyond the tape (a cancel is accepted
after the tape's end, where nothing trades any more). A rejected replace or cancel leaves the
original order working.

The venue keeps its own record of the client's position: ``inventory``, ``cash`` (fills at the
order's price; maker fee ``env_params.maker_fee`` per unit, as the env charges) and every fill.
:class:`SimGateway` is the in-process :class:`~morl_mm.live.orders.Gateway` over a venue
(``morl-mm serve --venue sim``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import numpy as np

from morl_mm.env.params import EnvParams
from morl_mm.env.replay import FILL_MODELS, ReplayTape, match_quotes
from morl_mm.live.orders import SIDES, ExecutionReport, OrderAction, Side

_match = jax.jit(match_quotes, static_argnums=0)
QTY_EPS = 1e-9  # an order whose leaves quantity falls below this is fully filled


@dataclasses.dataclass
class WorkingOrder:
    """An order resting at the venue (absolute price; ``leaves_qty`` still open, ``cum_qty`` filled)."""

    cl_ord_id: str
    side: Side
    price: float
    leaves_qty: float
    cum_qty: float = 0.0


@dataclasses.dataclass(frozen=True)
class Fill:
    """One fill in the venue's record."""

    market_step: int
    cl_ord_id: str
    side: Side
    qty: float
    price: float


class MatchingVenue:
    """Working orders matched against a recorded market with the replay env's fill model (module docstring).

    Args:
        tape: the recorded market (:func:`morl_mm.data.tape.build_tape`).
        env_params: the model the client quotes under: its ``tick_size`` is the venue's price grid (a model
            without ticks is replayed with the capture's: pass the replay's params) and ``maker_fee`` the fee
            per unit filled.
        fill_model: ``"queue"``, ``"trade_through"`` or ``"touch"`` (:mod:`morl_mm.env.replay`).
        reference_price: absolute price of the tape's price 0 (``TapeInfo.reference_price``).
    """

    def __init__(
        self, tape: ReplayTape, env_params: EnvParams, fill_model: str = "queue", *, reference_price: float = 0.0
    ):
        if fill_model not in FILL_MODELS:
            raise ValueError(f"MatchingVenue.fill_model: must be one of {list(FILL_MODELS)}, got {fill_model!r}")
        if not np.isfinite(reference_price):
            raise ValueError(f"MatchingVenue.reference_price: must be finite, got {reference_price}")
        self.tape = tape
        self.env_params = env_params
        self.fill_model = fill_model
        self.reference_price = float(reference_price)
        self.tick_size = float(env_params.tick_size)
        self.maker_fee = float(env_params.maker_fee)
        self._best_bid = np.asarray(tape.bid_price[:, 0], np.float64) + self.reference_price
        self._best_ask = np.asarray(tape.ask_price[:, 0], np.float64) + self.reference_price
        self.working: dict[Side, WorkingOrder] = {}
        self.queue_ahead = np.zeros((2,), np.float32)  # the replay env's queue state per side
        self.queue_price = np.full((2,), np.nan, np.float32)  # tape coordinates
        self.inventory = 0.0
        self.cash = 0.0
        self.fills: list[Fill] = []
        self.rejects = 0
        self.last_matched = -1
        self._seen_ids: set[str] = set()

    @property
    def n_steps(self) -> int:
        return self.tape.n_steps

    # -- order entry ---------------------------------------------------------------------------
    def submit(self, actions: Sequence[OrderAction], market_step: int) -> list[ExecutionReport]:
        """Apply order actions decided at the start of interval ``market_step``; one report each."""
        return [self._apply(action, int(market_step)) for action in actions]

    def _apply(self, action: OrderAction, step: int) -> ExecutionReport:
        problem = self._check(action, step)
        if problem:
            self.rejects += 1
            self._seen_ids.add(action.cl_ord_id)
            return ExecutionReport(
                action.cl_ord_id,
                action.side,
                "rejected",
                market_step=step,
                orig_cl_ord_id=action.orig_cl_ord_id,
                text=problem,
            )
        self._seen_ids.add(action.cl_ord_id)
        if action.kind == "cancel":
            order = self.working.pop(action.side)
            index = SIDES.index(action.side)  # a cancelled side loses its queue place
            self.queue_ahead[index], self.queue_price[index] = 0.0, np.nan
            return ExecutionReport(
                action.cl_ord_id,
                action.side,
                "canceled",
                cum_qty=order.cum_qty,
                market_step=step,
                orig_cl_ord_id=order.cl_ord_id,
            )
        if action.kind == "replace":
            old = self.working[action.side]
            self.working[action.side] = WorkingOrder(
                action.cl_ord_id, action.side, float(action.price), float(action.qty), old.cum_qty
            )
            return ExecutionReport(
                action.cl_ord_id,
                action.side,
                "replaced",
                leaves_qty=float(action.qty),
                cum_qty=old.cum_qty,
                market_step=step,
                orig_cl_ord_id=old.cl_ord_id,
            )
        self.working[action.side] = WorkingOrder(action.cl_ord_id, action.side, float(action.price), float(action.qty))
        return ExecutionReport(action.cl_ord_id, action.side, "new", leaves_qty=float(action.qty), market_step=step)

    def _check(self, action: OrderAction, step: int) -> str:
        """The reason to reject ``action`` at interval ``step``, or ``""``."""
        if step <= self.last_matched:
            return f"market step {step} is already matched (last matched {self.last_matched})"
        if action.kind != "cancel" and not 0 <= step < self.n_steps:
            return f"market step {step} is outside the venue's tape of {self.n_steps} steps"
        if action.cl_ord_id in self._seen_ids:
            return f"duplicate ClOrdID {action.cl_ord_id!r}"
        working = self.working.get(action.side)
        if action.kind in ("replace", "cancel"):
            if working is None or working.cl_ord_id != action.orig_cl_ord_id:
                other = [o for o in self.working.values() if o.cl_ord_id == action.orig_cl_ord_id]
                if other:
                    return f"order {action.orig_cl_ord_id!r} is a {other[0].side} order, not {action.side}"
                return f"unknown order id {action.orig_cl_ord_id!r} (not working)"
            if action.kind == "cancel":
                return ""
        elif working is not None:
            return f"a {action.side} order ({working.cl_ord_id!r}) is working already: replace it"
        price, qty = float(action.price), float(action.qty)
        if not np.isfinite(price):
            return f"bad price {price}"
        if self.tick_size > 0:
            ticks = (price - self.reference_price) / self.tick_size
            if abs(ticks - round(ticks)) > 1e-4:
                return f"price {price!r} is not on the tick grid of {self.tick_size:g}"
        if not (np.isfinite(qty) and qty > 0):
            return f"bad quantity {qty}"
        if action.side == "buy" and np.isfinite(self._best_ask[step]) and price >= self._best_ask[step] - 1e-9:
            return f"crossing: a buy at {price:.10g} would take the best ask {self._best_ask[step]:.10g} (post-only)"
        if action.side == "sell" and np.isfinite(self._best_bid[step]) and price <= self._best_bid[step] + 1e-9:
            return f"crossing: a sell at {price:.10g} would take the best bid {self._best_bid[step]:.10g} (post-only)"
        return ""

    # -- matching --------------------------------------------------------------------------------
    def match(self, market_step: int) -> list[ExecutionReport]:
        """Match the working orders against the trades of interval ``market_step``; the fill reports."""
        step = int(market_step)
        if not step > self.last_matched:
            raise ValueError(f"MatchingVenue.match: step {step} must follow the last matched step {self.last_matched}")
        self.last_matched = step
        if step >= self.n_steps:  # after the recording's end nothing trades
            return []
        orders = [self.working.get(side) for side in SIDES]
        on = np.array([o is not None for o in orders])
        price = np.array([np.float32(o.price - self.reference_price) if o else np.nan for o in orders], np.float32)
        size = np.array([o.leaves_qty if o else 0.0 for o in orders], np.float32)
        units, queue_ahead, queue_price = jax.device_get(
            _match(
                self.fill_model,
                self.tape,
                np.int32(step),
                price,
                on,
                size,
                self.queue_ahead,
                self.queue_price,
                np.float32(self.tick_size),
            )
        )
        self.queue_ahead, self.queue_price = np.array(queue_ahead, np.float32), np.array(queue_price, np.float32)
        reports = []
        for order, qty in zip(orders, np.asarray(units, np.float64)):
            if order is None or not qty > 0:
                continue
            reports.append(self._fill(order, float(qty), step))
        return reports

    def _fill(self, order: WorkingOrder, qty: float, step: int) -> ExecutionReport:
        sign = 1.0 if order.side == "buy" else -1.0
        self.inventory += sign * qty
        self.cash -= sign * qty * order.price + self.maker_fee * qty
        order.cum_qty += qty
        order.leaves_qty = max(order.leaves_qty - qty, 0.0)
        self.fills.append(Fill(step, order.cl_ord_id, order.side, qty, order.price))
        done = order.leaves_qty <= QTY_EPS
        if done:
            del self.working[order.side]
        return ExecutionReport(
            order.cl_ord_id,
            order.side,
            "fill" if done else "partial_fill",
            last_qty=qty,
            last_px=order.price,
            leaves_qty=0.0 if done else order.leaves_qty,
            cum_qty=order.cum_qty,
            market_step=step,
        )

    def record(self) -> dict:
        """The venue's record of the client: position, cash, fills, rejects and working orders (JSON-ready)."""
        return {
            "inventory": self.inventory,
            "cash": self.cash,
            "fills": len(self.fills),
            "rejects": self.rejects,
            "volume": float(sum(f.qty for f in self.fills)),
            "working_orders": [dataclasses.asdict(o) for o in self.working.values()],
            "last_matched_step": self.last_matched,
        }


class SimGateway:
    """The in-process :class:`~morl_mm.live.orders.Gateway` of a :class:`MatchingVenue` (``--venue sim``).

    ``send`` submits the actions (their acks and rejects are held back); ``sync(step)`` matches the
    interval and returns every report since the last sync, acks first.
    """

    def __init__(self, venue: MatchingVenue):
        self.venue = venue
        self._pending: list[ExecutionReport] = []

    def send(self, actions: Sequence[OrderAction], market_step: int) -> None:
        self._pending.extend(self.venue.submit(actions, market_step))

    def sync(self, market_step: int) -> list[ExecutionReport]:
        reports = self._pending + self.venue.match(market_step)
        self._pending = []
        return reports

    def close(self) -> None:
        self._pending = []
