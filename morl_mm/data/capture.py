"""The one in-memory form every reader produces: book snapshots and trades as columnar numpy arrays.

A :class:`Capture` is what the rest of morl-mm (features, calibration, the replay env, the quote
engine) reads, whatever the venue or file format. Conventions:

* timestamps are int64 nanoseconds since the Unix epoch (LOBSTER's seconds after midnight are put
  on the capture's date), in *exchange* time where the format has it;
* prices are float64 in the instrument's own units (dollars, USDT), sizes float64 in its own units
  (shares, BTC);
* ``Book``: one row per snapshot of the top ``L`` levels per side, best first; an empty level has
  price NaN and size 0; ``valid`` is False where the book is not known to be right (before the
  first snapshot, after a sequence gap until the next snapshot, a crossed book) and nothing
  downstream may trust such a row;
* ``Trades``: one row per print, ``side`` +1 for a buyer-initiated trade (a market buy lifted an
  ask) and -1 for a seller-initiated one (it hit a bid); ``aggressor_id`` groups the prints of one
  market order (same id = same taker order; readers that cannot tell give each print its own id).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


class CaptureError(ValueError):
    """A capture file is missing, truncated or corrupt; the message names the file (and line)."""


@dataclasses.dataclass(frozen=True)
class Book:
    """Top-``L`` book snapshots (arrays of ``N`` rows; prices and sizes shaped ``(N, L)``)."""

    ts_ns: np.ndarray  # int64 (N,), non-decreasing
    bid_price: np.ndarray  # float64 (N, L), best first, NaN where empty
    bid_size: np.ndarray  # float64 (N, L), 0 where empty
    ask_price: np.ndarray  # float64 (N, L)
    ask_size: np.ndarray  # float64 (N, L)
    valid: np.ndarray  # bool (N,)

    @property
    def levels(self) -> int:
        return int(self.bid_price.shape[1])

    def __len__(self) -> int:
        return int(self.ts_ns.shape[0])


@dataclasses.dataclass(frozen=True)
class Trades:
    """Trade prints (arrays of ``M`` rows), in time order."""

    ts_ns: np.ndarray  # int64 (M,), non-decreasing
    price: np.ndarray  # float64 (M,)
    size: np.ndarray  # float64 (M,)
    side: np.ndarray  # int8 (M,): +1 buyer-initiated, -1 seller-initiated
    aggressor_id: np.ndarray  # int64 (M,): prints of one market order share an id

    def __len__(self) -> int:
        return int(self.ts_ns.shape[0])


@dataclasses.dataclass(frozen=True)
class Capture:
    """A recorded market: its book, its trades and what the reader found on the way.

    ``gaps`` lists the problems a reader reported and did not paper over, one dict each with at
    least ``line`` (1-based line of the file, or 0), ``ts_ns`` and ``reason``; ``skipped_lines``
    counts lines dropped under ``skip_bad_lines``.
    """

    instrument: str
    venue: str  # "lobster", "binance-usdm", "binance-spot", "bitstamp", ...
    source: str  # the file(s) it was read from
    tick_size: float
    book: Book
    trades: Trades
    gaps: tuple[dict[str, Any], ...] = ()
    skipped_lines: int = 0

    @property
    def start_ns(self) -> int:
        return int(min(self.book.ts_ns[0], self.trades.ts_ns[0] if len(self.trades) else self.book.ts_ns[0]))

    @property
    def end_ns(self) -> int:
        last = self.book.ts_ns[-1]
        return int(max(last, self.trades.ts_ns[-1] if len(self.trades) else last))

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9

    def between(self, start_ns: int, end_ns: int) -> Capture:
        """The part of the capture with ``start_ns <= ts < end_ns`` (book and trades)."""
        b = (self.book.ts_ns >= start_ns) & (self.book.ts_ns < end_ns)
        t = (self.trades.ts_ns >= start_ns) & (self.trades.ts_ns < end_ns)
        book = Book(*(getattr(self.book, f.name)[b] for f in dataclasses.fields(Book)))
        trades = Trades(*(getattr(self.trades, f.name)[t] for f in dataclasses.fields(Trades)))
        return dataclasses.replace(self, book=book, trades=trades)


def infer_tick_size(prices: np.ndarray, max_decimals: int = 8) -> float:
    """The price grid step: the greatest common divisor of the observed prices on a decimal grid.

    Prices are first put on a grid of ``10**-max_decimals`` (exact for decimal exchange prices
    parsed as floats); NaNs are ignored. Raises ``ValueError`` when there are no prices.
    """
    prices = np.asarray(prices, dtype=np.float64)
    prices = prices[np.isfinite(prices)]
    if prices.size == 0:
        raise ValueError("infer_tick_size: no finite prices")
    scale = 10**max_decimals
    units = np.unique(np.round(prices * scale).astype(np.int64))
    g = int(np.gcd.reduce(np.abs(units))) if units.size else 0
    if units.size > 1:
        g = int(np.gcd(g, np.gcd.reduce(np.diff(units))))
    return g / scale if g > 0 else 1.0 / scale


def book_mid(book: Book) -> np.ndarray:
    """Mid price of each snapshot (NaN where either side is empty or the row is invalid)."""
    mid = 0.5 * (book.bid_price[:, 0] + book.ask_price[:, 0])
    return np.where(book.valid, mid, np.nan)
