"""Bitstamp event logs of the old (2015) websocket API -> :class:`Capture`.

Input: one event a line, ``ms_timestamp event_type JSON`` (plain, ``.gz`` or ``.xz``), with events
``order_created`` / ``order_changed`` / ``order_deleted`` (``price``, ``amount``, ``id``,
``order_type`` 0 = buy limit, 1 = sell limit), ``trade`` (``price``, ``amount``, ``id``; this API
gives no aggressor side) and ``order_book`` (top-20 snapshots ``bids``, ``asks``). The line's
millisecond timestamp is the only clock (the recorder's; the events carry no finer exchange time).

* Book: one row per ``order_book`` snapshot (the authoritative book), top ``levels`` per side
  (capped at the depth of the snapshots); a crossed snapshot is invalid and reported in ``gaps``.
* Trades and their aggressor side, by two rules, in this order:

  1. *order match*: the order events a print consumed: ``order_changed`` events whose amount fell by
     the print's amount and ``order_deleted`` events with amount 0 (filled; a delete with an amount
     left is a cancel) at the print's price within ``match_window_ms`` (default 100 ms; the events
     come some 10-50 ms before the print) of it, each event used by one print at most. When both
     orders of the print show up (the resting one and an incoming limit order that crossed), the
     older one (lower id) is the resting order that was consumed; a single matching order is taken to
     be the resting one. A consumed bid -> seller-initiated (-1), a consumed ask -> buyer-initiated (+1);
  2. *mid rule*, when no order matches: above the mid of the last snapshot -> +1, below -> -1; at the
     mid (or before the first snapshot) the tick rule (up-tick +1, down-tick -1, else the previous side).

  How often each rule decided is stored in ``Capture.gaps`` as an ``"info: aggressor side ..."`` record with
  the counts. On the 2015-05-01 sample (575 prints) every print was matched to its order events (129 with both
  orders seen, 446 with one), none needed the mid or tick rule, and the matched sides agree with the mid rule
  for most prints (checked by the tests). Prints whose incoming (taker) order was seen share an
  ``aggressor_id`` when consecutive prints have the same taker order; every other print has its own id.
* The companion CSV of individual order events (``id,timestamp,exchange.timestamp,...``) holds no
  trades and no book snapshots: it is refused with a :class:`CaptureError` saying so.
"""

from __future__ import annotations

import bisect
import json
from pathlib import Path
from typing import Any

import numpy as np

from morl_mm.data.capture import Book, Capture, CaptureError, Trades, infer_tick_size
from morl_mm.data.files import BAD_LINE_ERRORS, BadLines, read_bytes

_MS = 1_000_000
_ORDER_EVENTS = ("order_created", "order_changed", "order_deleted")


def _levels(raw: Any) -> list[tuple[float, float]]:
    out = []
    for p, q in raw:
        pf, qf = float(p), float(q)
        if not (pf > 0 and np.isfinite(pf) and qf >= 0 and np.isfinite(qf)):
            raise ValueError(f"bad level [{p!r}, {q!r}]")
        out.append((pf, qf))
    return out


def read_bitstamp(
    path: str | Path,
    *,
    levels: int = 10,
    skip_bad_lines: bool = False,
    instrument: str | None = None,
    match_window_ms: float = 100.0,
) -> Capture:
    """Read a Bitstamp event log (see the module docstring for the book and the aggressor rules)."""
    path = Path(path)
    label = str(path)
    data = read_bytes(path)
    head = data[:200].split(b"\n", 1)[0].strip().lower()
    if head.startswith(b"id,timestamp,exchange.timestamp"):
        raise CaptureError(
            f"{label}:1: a Bitstamp CSV of individual order events has no trades and no book "
            "snapshots; read the event log (.log) of the same capture instead"
        )
    bad = BadLines(label, skip_bad_lines)
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()

    snaps: list[tuple[int, int, list, list]] = []  # (line, ts_ns, bids, asks)
    trades: list[tuple[int, int, float, float, int]] = []  # (line, ts_ns, price, amount, trade id)
    # fills: (ts_ms, price, consumed amount or nan when unknown, order side +1 bid / -1 ask, order id)
    fills: list[tuple[int, float, float, int, int]] = []
    amount: dict[int, float] = {}
    counts: dict[str, int] = {}
    last_ts = -1
    for i, raw in enumerate(lines, 1):
        try:
            ts_txt, kind, js = raw.split(b" ", 2)
            ts_ms = int(ts_txt)
            kind = kind.decode()
            d = json.loads(js)
            if not isinstance(d, dict):
                raise ValueError("not a JSON object")
            if ts_ms < last_ts:
                raise ValueError(f"time goes backwards ({ts_ms} < {last_ts})")
            if kind in _ORDER_EVENTS:
                oid, price, amt, otype = int(d["id"]), float(d["price"]), float(d["amount"]), int(d["order_type"])
                if otype not in (0, 1) or not (price > 0 and amt >= 0 and np.isfinite(price + amt)):
                    raise ValueError("bad order_type, price or amount")
                prev = amount.get(oid, np.nan)
                if kind == "order_created":
                    amount[oid] = amt
                elif kind == "order_changed":
                    amount[oid] = amt
                    if not (prev - amt <= 0):  # a decrease, or unknown (order older than the capture)
                        fills.append((ts_ms, price, prev - amt, 1 if otype == 0 else -1, oid))
                else:
                    amount.pop(oid, None)
                    if amt == 0:  # deleted with nothing left: filled
                        fills.append((ts_ms, price, prev, 1 if otype == 0 else -1, oid))
            elif kind == "trade":
                price, amt = float(d["price"]), float(d["amount"])
                if not (price > 0 and amt > 0 and np.isfinite(price + amt)):
                    raise ValueError("bad price or amount")
                trades.append((i, ts_ms * _MS, price, amt, int(d["id"])))
            elif kind == "order_book":
                snaps.append((i, ts_ms * _MS, _levels(d["bids"]), _levels(d["asks"])))
            else:
                counts[kind] = counts.get(kind, 0) + 1
            last_ts = ts_ms
        except BAD_LINE_ERRORS as err:
            bad.bad(i, f"{type(err).__name__}: {err} in {raw[:60].decode('utf-8', 'replace')!r}")

    if not snaps and not trades:
        raise CaptureError(f"{label}:0: no order_book snapshots and no trades in the file")
    gaps: list[dict[str, Any]] = []

    # book rows from the snapshots
    depth = max((max(len(b), len(a)) for _, _, b, a in snaps), default=1)
    L = max(1, min(int(levels), depth))
    n = len(snaps)
    bid_price = np.full((n, L), np.nan)
    ask_price = np.full((n, L), np.nan)
    bid_size = np.zeros((n, L))
    ask_size = np.zeros((n, L))
    for r, (_, _, b, a) in enumerate(snaps):
        b = sorted(b, key=lambda x: -x[0])[:L]
        a = sorted(a, key=lambda x: x[0])[:L]
        for k, (p, q) in enumerate(b):
            bid_price[r, k], bid_size[r, k] = p, q
        for k, (p, q) in enumerate(a):
            ask_price[r, k], ask_size[r, k] = p, q
    snap_ts = np.array([s[1] for s in snaps], dtype=np.int64)
    snap_line = np.array([s[0] for s in snaps], dtype=np.int64)
    valid = np.ones(n, bool)
    crossed = np.isfinite(bid_price[:, 0]) & np.isfinite(ask_price[:, 0]) & (bid_price[:, 0] >= ask_price[:, 0])
    if crossed.any():
        valid &= ~crossed
        for r in np.flatnonzero(crossed):
            gaps.append(
                {
                    "line": int(snap_line[r]),
                    "ts_ns": int(snap_ts[r]),
                    "reason": "crossed book snapshot (best bid >= best ask)",
                }
            )
    mid = 0.5 * (bid_price[:, 0] + ask_price[:, 0])
    mid = np.where(valid, mid, np.nan)

    # aggressor side of each print
    fill_ts = [f[0] for f in fills]
    used = np.zeros(len(fills), bool)
    win = float(match_window_ms)
    m = len(trades)
    side = np.zeros(m, np.int8)
    agg = np.arange(m, dtype=np.int64)
    taker_of = np.full(m, -1, dtype=np.int64)
    rule_counts = {
        "order match (both orders seen)": 0,
        "order match (one order seen)": 0,
        "mid rule": 0,
        "tick rule": 0,
    }
    prev_price, prev_side = np.nan, 1
    for j, (_line, ts_ns, price, amt, _tid) in enumerate(trades):
        ts_ms = ts_ns // _MS
        lo = bisect.bisect_left(fill_ts, ts_ms - win)
        hi = bisect.bisect_right(fill_ts, ts_ms + win)
        cands = [
            k
            for k in range(lo, hi)
            if not used[k]
            and abs(fills[k][1] - price) < 1e-9
            and (np.isnan(fills[k][2]) or abs(fills[k][2] - amt) <= 1e-8 * max(1.0, amt))
        ]
        if cands:
            maker = min(cands, key=lambda k: fills[k][4])
            used[maker] = True
            s = -fills[maker][3]  # a consumed bid (+1) -> seller-initiated (-1)
            others = [k for k in cands if fills[k][3] != fills[maker][3]]
            if others:
                taker = max(others, key=lambda k: fills[k][4])
                used[taker] = True
                taker_of[j] = fills[taker][4]
                rule_counts["order match (both orders seen)"] += 1
            else:
                rule_counts["order match (one order seen)"] += 1
        else:
            r = int(np.searchsorted(snap_ts, ts_ns, side="right")) - 1
            mref = mid[r] if r >= 0 else np.nan
            if np.isfinite(mref) and price != mref:
                s = 1 if price > mref else -1
                rule_counts["mid rule"] += 1
            else:
                s = 1 if price > prev_price else -1 if price < prev_price else prev_side
                rule_counts["tick rule"] += 1
        side[j] = s
        prev_price, prev_side = price, s
        if j and taker_of[j] >= 0 and taker_of[j] == taker_of[j - 1] and side[j] == side[j - 1]:
            agg[j] = agg[j - 1]
    _, agg = np.unique(agg, return_inverse=True)
    summary = ", ".join(f"{k}: {v}" for k, v in rule_counts.items())
    gaps.append(
        {
            "line": 0,
            "ts_ns": 0,
            "reason": f"info: aggressor side inferred for {m} trades by {summary}",
            "counts": rule_counts,
        }
    )
    if counts:
        gaps.append(
            {
                "line": 0,
                "ts_ns": 0,
                "reason": "info: events read but not used: "
                + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())),
                "counts": dict(counts),
            }
        )

    tr = Trades(
        ts_ns=np.array([t[1] for t in trades], dtype=np.int64),
        price=np.array([t[2] for t in trades], dtype=np.float64),
        size=np.array([t[3] for t in trades], dtype=np.float64),
        side=side,
        aggressor_id=agg.astype(np.int64),
    )
    book = Book(
        ts_ns=snap_ts, bid_price=bid_price, bid_size=bid_size, ask_price=ask_price, ask_size=ask_size, valid=valid
    )
    prices = np.concatenate([bid_price.ravel(), ask_price.ravel(), tr.price])
    try:
        tick = infer_tick_size(prices)
    except ValueError:
        tick = 0.0
    if instrument is None:
        name = path.name.lower()
        instrument = "BTCUSD" if "btcusd" in name else path.name.split(".")[0]
    return Capture(
        instrument=instrument,
        venue="bitstamp",
        source=label,
        tick_size=tick,
        book=book,
        trades=tr,
        gaps=tuple(bad.records + gaps),
        skipped_lines=len(bad),
    )
