"""A capture on the replay env's grid of steps: :class:`~morl_mm.env.replay.ReplayTape` from a :class:`Capture`.

Step ``s`` covers ``[t0 + s dt, t0 + (s + 1) dt)``. Its book is the last snapshot at or before the
step's start; its trades are the prints inside it, aggregated per side and price (the ``K`` most
aggressive prices kept: a quote is filled by trade-through at any depth, and by volume at its own
price only when that price is among them). A step is invalid when its starting snapshot is
invalid or missing, or when an invalid snapshot (a sequence gap, a halt, a crossed book) falls
inside it. Prices are stored relative to a reference on the tick grid (float32 keeps its
precision), and the reference is returned beside the tape.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from morl_mm.data.capture import Capture
from morl_mm.env.params import EnvParams
from morl_mm.env.replay import BUY, SELL, ReplayParams, ReplayTape

DEFAULT_BOOK_LEVELS = 5
DEFAULT_TRADE_LEVELS = 4


@dataclasses.dataclass(frozen=True)
class TapeInfo:
    """Where a tape came from (attach to results)."""

    start_ns: int
    dt: float  # seconds
    steps: int
    reference_price: float  # tape prices are price - reference_price
    valid_fraction: float
    trades: int  # prints inside the tape
    market_orders: int  # aggressor groups inside the tape


def build_tape(
    capture: Capture,
    dt: float,
    *,
    start_ns: int | None = None,
    end_ns: int | None = None,
    book_levels: int = DEFAULT_BOOK_LEVELS,
    trade_levels: int = DEFAULT_TRADE_LEVELS,
) -> tuple[ReplayTape, TapeInfo]:
    """Put ``capture`` (between ``start_ns`` and ``end_ns``, default: all of it) on a grid of ``dt`` seconds."""
    if not (np.isfinite(dt) and dt > 0):
        raise ValueError(f"build_tape: dt must be > 0 seconds, got {dt}")
    book, trades = capture.book, capture.trades
    if len(book) == 0:
        raise ValueError(f"{capture.source}: the capture has no book snapshots to replay")
    start = int(capture.start_ns if start_ns is None else start_ns)
    end = min(int(capture.end_ns if end_ns is None else end_ns), capture.end_ns)  # nothing is known after the capture
    dt_ns = int(round(dt * 1e9))
    steps = (end - start) // dt_ns
    if steps < 1:
        raise ValueError(
            f"{capture.source}: the replay part ({(end - start) / 1e9:.3f} s) is shorter than one step of {dt} s"
        )
    grid = start + dt_ns * np.arange(steps + 1, dtype=np.int64)

    # the book at each step's start, and whether an invalid snapshot falls inside a step
    row = np.searchsorted(book.ts_ns, grid, side="right") - 1
    have = row >= 0
    row_c = np.maximum(row, 0)
    mid = 0.5 * (book.bid_price[row_c, 0] + book.ask_price[row_c, 0])
    ok = have & book.valid[row_c] & np.isfinite(mid)
    invalid_before = np.concatenate([[0], np.cumsum(~book.valid)])  # invalid rows among the first i
    inside = invalid_before[row_c[1:] + 1] - invalid_before[row_c[:-1] + 1] > 0
    valid = ok[:-1] & ok[1:] & ~inside
    if not valid.any():
        raise ValueError(f"{capture.source}: no valid book in the replay part")
    tick = float(capture.tick_size) if capture.tick_size > 0 else 0.0
    first = float(mid[np.argmax(ok)])
    reference = round(first / tick) * tick if tick else first
    mid = np.where(ok, mid, np.nan)
    mid = _fill_forward(mid)

    levels = min(int(book_levels), book.levels)
    rel = lambda a: (a - reference).astype(np.float32)  # noqa: E731
    bid_price, ask_price = rel(book.bid_price[row_c[:-1], :levels]), rel(book.ask_price[row_c[:-1], :levels])
    bid_size = book.bid_size[row_c[:-1], :levels].astype(np.float32)
    ask_size = book.ask_size[row_c[:-1], :levels].astype(np.float32)

    # trades per step, side and price; the K most aggressive prices of each (step, side)
    inside_t = (trades.ts_ns >= start) & (trades.ts_ns < start + steps * dt_ns)
    t_step = ((trades.ts_ns[inside_t] - start) // dt_ns).astype(np.int64)
    t_side = np.where(trades.side[inside_t] > 0, BUY, SELL).astype(np.int64)
    t_price = trades.price[inside_t]
    t_size = trades.size[inside_t]
    trade_price = np.full((steps, 2, trade_levels), np.nan, np.float32)
    trade_volume = np.zeros((steps, 2, trade_levels), np.float32)
    if t_step.size:
        aggressiveness = np.where(t_side == BUY, -t_price, t_price)  # most aggressive first
        order = np.lexsort((aggressiveness, t_side, t_step))
        t_step, t_side, t_price, t_size = t_step[order], t_side[order], t_price[order], t_size[order]
        new_group = np.ones(t_step.size, bool)
        new_group[1:] = (t_step[1:] != t_step[:-1]) | (t_side[1:] != t_side[:-1]) | (t_price[1:] != t_price[:-1])
        first_of_group = np.flatnonzero(new_group)
        g_step, g_side, g_price = t_step[first_of_group], t_side[first_of_group], t_price[first_of_group]
        g_volume = np.add.reduceat(t_size, first_of_group)
        new_block = np.ones(g_step.size, bool)
        new_block[1:] = (g_step[1:] != g_step[:-1]) | (g_side[1:] != g_side[:-1])
        block_start = np.maximum.accumulate(np.where(new_block, np.arange(g_step.size), 0))
        rank = np.arange(g_step.size) - block_start
        keep = rank < trade_levels
        trade_price[g_step[keep], g_side[keep], rank[keep]] = g_price[keep] - reference
        trade_volume[g_step[keep], g_side[keep], rank[keep]] = g_volume[keep]
    groups = np.unique(trades.aggressor_id[inside_t]).size

    tape = ReplayTape(
        mid=jnp.asarray(rel(mid)),
        bid_price=jnp.asarray(bid_price),
        bid_size=jnp.asarray(bid_size),
        ask_price=jnp.asarray(ask_price),
        ask_size=jnp.asarray(ask_size),
        trade_price=jnp.asarray(trade_price),
        trade_volume=jnp.asarray(trade_volume),
        valid=jnp.asarray(valid),
    )
    info = TapeInfo(
        start_ns=start,
        dt=float(dt),
        steps=int(steps),
        reference_price=float(reference),
        valid_fraction=float(valid.mean()),
        trades=int(inside_t.sum()),
        market_orders=int(groups),
    )
    return tape, info


def _fill_forward(values: np.ndarray) -> np.ndarray:
    """Carry the last finite value forward (and the first one backward): invalid steps are never
    replayed, but their neighbours read the mid at their edges."""
    idx = np.where(np.isfinite(values), np.arange(values.size), 0)
    np.maximum.accumulate(idx, out=idx)
    out = values[idx]
    first = np.flatnonzero(np.isfinite(values))
    out[: first[0]] = values[first[0]]
    return out


def replay_params(tape: ReplayTape, env_params: EnvParams, start: int = 0) -> ReplayParams:
    """:class:`ReplayParams` for an episode from tape step ``start`` under the model ``env_params``."""
    return ReplayParams(env=env_params, tape=tape, start=jnp.asarray(start, jnp.int32))
