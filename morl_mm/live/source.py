"""Market data for the quote engine: decision intervals of a stream, paced by the wall clock.

The engine decides once per interval of ``dt`` seconds (the policy's step). A source hands it, in order:

1. at the interval's start, a :class:`MarketInterval`: the book as known at that instant (top levels
   per side, its mid, whether it is valid); nothing from the interval's future;
2. when the interval is over (:meth:`MarketDataSource.close_interval`), an :class:`IntervalClose`: the
   market orders printed during it (per side, the most aggressive prices and the volume at each, as
   the replay tape holds them) and the mid at its end (the next interval's start).

The contract a live feed must keep to plug in (a class with these members; nothing else is used):

* ``dt`` (seconds), ``tick_size`` and ``reference_price`` (prices of the intervals are
  ``price - reference_price``, float32, ``reference_price`` on the tick grid), ``bad_lines``
  (malformed messages skipped so far), ``start_ns`` (time of interval 0, ns since the epoch);
* iterating yields intervals with consecutive ``step`` s from 0, not before their start time (a step
  whose book is unknown or untrustworthy (a sequence gap, a crossed book; live: a silent or lost
  connection) is yielded with ``valid=False``, never skipped); the engine
  calls ``close_interval`` exactly once per interval, before asking for the next one, and it returns
  no earlier than the interval's end;
* a malformed message is logged, counted in ``bad_lines`` and skipped; it never ends the stream.

:class:`CaptureSource` replays a recorded capture: :func:`morl_mm.data.readers.read_capture` reads it
(bad lines skipped and reported) and :func:`morl_mm.data.tape.build_tape` puts it on the grid of
``dt`` (the replay env's own book and trades), at ``speed`` 1 (real time), 10, ... or ``"max"``
(no sleeping).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import numpy as np

from morl_mm.data.capture import Capture
from morl_mm.data.readers import read_capture
from morl_mm.data.tape import build_tape

log = logging.getLogger("morl_mm.live")
NS = 1_000_000_000


@dataclasses.dataclass(frozen=True)
class MarketInterval:
    """The market at the start of decision interval ``step`` (prices relative to the source's reference)."""

    step: int
    start_ns: int  # ns since the epoch
    mid: np.float32  # mid of the book in force (carried over an invalid book)
    bid_price: np.ndarray  # (L,) best first, NaN where empty
    bid_size: np.ndarray
    ask_price: np.ndarray
    ask_size: np.ndarray
    valid: bool  # the book is known to be right (a live feed: in sequence and heard from lately)


@dataclasses.dataclass(frozen=True)
class IntervalClose:
    """What happened during an interval: its market orders and the mid at its end."""

    trade_price: np.ndarray  # (2, K): side 0 sells (reach the bid), 1 buys; NaN-padded
    trade_volume: np.ndarray  # (2, K)
    mid_end: np.float32


class MarketDataSource(Protocol):
    """What the quote engine reads market data from (see the module docstring for the contract)."""

    dt: float
    tick_size: float
    reference_price: float
    start_ns: int
    bad_lines: int

    def __iter__(self) -> Iterator[MarketInterval]:
        """The intervals, each yielded at its start time."""

    def close_interval(self, interval: MarketInterval) -> IntervalClose:
        """The interval's trades and end mid, returned once it is over."""


def parse_speed(speed) -> float:
    """A replay speed: a number > 0 (1 = real time) or ``"max"`` (no sleeping, ``inf``)."""
    if isinstance(speed, str):
        if speed.strip().lower() == "max":
            return math.inf
        try:
            speed = float(speed)
        except ValueError:
            raise ValueError(f"speed: a number > 0 or 'max' expected, got {speed!r}") from None
    speed = float(speed)
    if not speed > 0:
        raise ValueError(f"speed: must be > 0 (or 'max'), got {speed}")
    return speed


class CaptureSource:
    """A recorded capture replayed as a market-data stream (see the module docstring).

    Args:
        path: capture file (LOBSTER zip or message CSV, Binance or Bitstamp log).
        format: ``"auto"`` or a reader's format (:data:`morl_mm.data.readers.FORMATS`).
        dt: the decision interval in seconds (the policy's ``dt``).
        speed: 1 = real time, 10 = ten times faster, ``"max"`` = as fast as the engine goes.
        start, end: the part to replay, in seconds after the capture's start (default: all of it).
        skip_bad_lines: a malformed line is logged, counted (``bad_lines``) and skipped (default); with
            False it is a :class:`~morl_mm.data.capture.CaptureError`.
    """

    def __init__(
        self,
        path: str | Path,
        format: str = "auto",
        dt: float = 1.0,
        speed: float | str = 1.0,
        start: float | None = None,
        end: float | None = None,
        skip_bad_lines: bool = True,
        **read_options,
    ):
        speed = parse_speed(speed)
        capture = read_capture(path, format, skip_bad_lines=skip_bad_lines, **read_options)
        for gap in capture.gaps:
            if str(gap.get("reason", "")).startswith("skipped bad line"):
                log.warning("market data %s:%s: %s", gap.get("file", path), gap.get("line", 0), gap["reason"])
        self._setup(capture, dt, speed, start, end)

    @classmethod
    def from_capture(
        cls, capture: Capture, dt: float, speed: float | str = 1.0, start: float | None = None, end: float | None = None
    ) -> CaptureSource:
        """A source over a capture already in memory (same arguments as the constructor)."""
        source = cls.__new__(cls)
        source._setup(capture, dt, parse_speed(speed), start, end)
        return source

    def _setup(self, capture: Capture, dt: float, speed: float, start: float | None, end: float | None) -> None:
        self.speed = speed
        self.capture = capture
        self.bad_lines = int(capture.skipped_lines)
        t0 = capture.start_ns
        start_ns = None if start is None else t0 + int(round(float(start) * NS))
        end_ns = None if end is None else t0 + int(round(float(end) * NS))
        if start_ns is not None and end_ns is not None and end_ns <= start_ns:
            raise ValueError(f"CaptureSource: end ({end} s) must be after start ({start} s)")
        self.tape, self.info = build_tape(self.capture, float(dt), start_ns=start_ns, end_ns=end_ns)
        self.dt = float(dt)
        self.tick_size = float(self.capture.tick_size)
        self.reference_price = float(self.info.reference_price)
        self.start_ns = int(self.info.start_ns)
        self.n_steps = int(self.info.steps)
        self._grid = self.start_ns + int(round(self.dt * NS)) * np.arange(self.n_steps, dtype=np.int64)
        # host copies of the tape, read once per interval
        tape = self.tape
        self._mid = np.asarray(tape.mid, np.float32)
        self._book = [np.asarray(a, np.float32) for a in (tape.bid_price, tape.bid_size, tape.ask_price, tape.ask_size)]
        self._trade_price = np.asarray(tape.trade_price, np.float32)
        self._trade_volume = np.asarray(tape.trade_volume, np.float32)
        self._valid = np.asarray(tape.valid, bool)
        self._clock0: float | None = None
        self.max_lag_s = 0.0  # how far behind its schedule the replay fell (engine slower than `speed`)

    def _wait_until(self, market_seconds: float) -> None:
        if math.isinf(self.speed):
            return
        if self._clock0 is None:
            self._clock0 = time.monotonic()
        target = self._clock0 + market_seconds / self.speed
        delay = target - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            self.max_lag_s = max(self.max_lag_s, -delay)

    def __iter__(self) -> Iterator[MarketInterval]:
        bid_price, bid_size, ask_price, ask_size = self._book
        for s in range(self.n_steps):
            self._wait_until(s * self.dt)
            yield MarketInterval(
                step=s,
                start_ns=int(self._grid[s]),
                mid=self._mid[s],
                bid_price=bid_price[s],
                bid_size=bid_size[s],
                ask_price=ask_price[s],
                ask_size=ask_size[s],
                valid=bool(self._valid[s]),
            )

    def close_interval(self, interval: MarketInterval) -> IntervalClose:
        s = interval.step
        self._wait_until((s + 1) * self.dt)
        return IntervalClose(self._trade_price[s], self._trade_volume[s], self._mid[s + 1])
