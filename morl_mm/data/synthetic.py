"""Synthetic captures with known parameters, and a LOBSTER writer: the calibration's round trip.

:func:`simulate_capture` draws a market that is exactly the simulator's model, in seconds:

* the efficient price ``m_t`` is an arithmetic Brownian motion (``sigma`` price units / sqrt(s)),
  observed every ``book_dt`` seconds; the book is ``levels`` price levels per side of ``level_size``
  each, one tick wide: best bid ``floor(m / tick) tick``, best ask one tick above (the book mid sits
  on the half-tick grid);
* latent market orders arrive per side as a Poisson process of rate ``arrival_rate`` (A); each reaches
  a depth ``D ~ Exp(kappa)`` from the book mid, so that ``rate(D >= delta) = A exp(-kappa delta)``,
  the simulator's fill intensity. One that does not reach the best quote (``D < best - mid``) leaves
  no trace; one that does executes every level up to the furthest price within ``mid + D`` (a buy;
  mirrored for a sell): the levels before the last in full, the last in part, all prints at one
  timestamp with one aggressor id. The swept levels are refilled ``refill_s`` seconds later.

:func:`write_lobster` writes any :class:`Capture` as a LOBSTER message + orderbook CSV pair.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np

from morl_mm.data.capture import Book, Capture, Trades

NS = 1_000_000_000


def _day_ns(date: str) -> int:
    return int((_dt.date.fromisoformat(date) - _dt.date(1970, 1, 1)).days) * 86_400 * NS


def simulate_capture(
    seconds: float,
    *,
    sigma: float,
    arrival_rate: float,
    kappa: float,
    tick_size: float = 0.01,
    mid0: float = 100.0,
    seed: int = 0,
    levels: int = 5,
    level_size: float = 100.0,
    book_dt: float = 0.1,
    refill_s: float = 1e-3,
    date: str = "2020-01-02",
    start_s: float = 34_200.0,
    instrument: str = "SYN",
    adverse_impact: float = 0.0,
) -> Capture:
    """A capture of ``seconds`` seconds drawn from the simulator's model (see the module docstring).

    Time starts at ``start_s`` seconds after midnight (UTC) of ``date`` (09:30 by default, as LOBSTER).
    ``adverse_impact``: the efficient price moves this much against the resting side after every latent
    market order (as the simulator's ``adverse_impact``; the book follows at its next observation).
    Returns the book after every event (mid move, market order, refill) and every print.
    """
    if not (seconds > 0 and sigma >= 0 and arrival_rate > 0 and kappa > 0 and tick_size > 0 and levels >= 1):
        raise ValueError("simulate_capture: needs seconds, arrival_rate, kappa, tick_size > 0, sigma >= 0, levels >= 1")
    rng = np.random.default_rng(seed)
    t0 = _day_ns(date) + int(round(start_s * NS))
    n_mid = int(seconds / book_dt)
    m = mid0 + np.concatenate([[0.0], np.cumsum(sigma * np.sqrt(book_dt) * rng.standard_normal(n_mid))])
    mid_t = t0 + np.round(np.arange(n_mid + 1) * book_dt * NS).astype(np.int64)
    # latent market orders per side: Poisson times, exponential depth
    events = [(mid_t, np.zeros(n_mid + 1, np.int8), m)]
    for side in (1, -1):
        n = rng.poisson(arrival_rate * seconds)
        ts = t0 + np.sort(rng.integers(1, int(seconds * NS), size=n))
        depth = rng.exponential(1.0 / kappa, size=n)
        events.append((ts, np.full(n, 2 * side, np.int8), depth))  # kind +-2: market order
    ts = np.concatenate([e[0] for e in events])
    kind = np.concatenate([e[1] for e in events])
    val = np.concatenate([e[2] for e in events])
    order = np.lexsort((kind == 0, ts))  # at equal times the market order sees the older book
    ts, kind, val = ts[order], kind[order], val[order]

    frac = rng.uniform(0.1, 0.9, size=ts.size)  # part of the last swept level that a market order takes
    L = int(levels)
    book_rows: list[
        tuple[int, int, int, float, int, float]
    ] = []  # ts, bid tick, bid skip, bid1 size, ask skip, ask1 size
    t_px, t_sz, t_side, t_id, t_ts = [], [], [], [], []
    base = int(np.floor(m[0] / tick_size))  # best bid in ticks
    shift = 0.0  # accumulated impact of the market orders
    sweep = {1: (0, level_size), -1: (0, level_size)}  # per side: levels gone, size left at the new best
    refill_at: list[int] = []
    agg = 0
    i = 0
    refill_ns = max(1, int(round(refill_s * NS)))

    def snapshot(t):
        book_rows.append((t, base, sweep[-1][0], sweep[-1][1], sweep[1][0], sweep[1][1]))

    snapshot(int(ts[0]))
    while i < ts.size or refill_at:
        if refill_at and (i >= ts.size or refill_at[0] <= ts[i]):
            t = refill_at.pop(0)
            if sweep[1][0] or sweep[-1][0] or sweep[1][1] != level_size or sweep[-1][1] != level_size:
                sweep = {1: (0, level_size), -1: (0, level_size)}
                snapshot(t)
            continue
        t, k, v = int(ts[i]), int(kind[i]), float(val[i])
        if k == 0:
            v = np.floor((v + shift) / tick_size)
            if int(v) != base or sweep[1] != (0, level_size) or sweep[-1] != (0, level_size):
                base = int(v)
                sweep = {1: (0, level_size), -1: (0, level_size)}
                snapshot(t)
        else:
            side = 1 if k > 0 else -1
            shift += side * adverse_impact
            gone, left = sweep[side]
            best_depth = 0.5 * (1 + sweep[1][0] + sweep[-1][0])  # of the best quote from the book mid, in ticks
            reach = v / tick_size - best_depth
            if reach >= 0:
                extra = int(np.floor(reach + 1e-12))
                best = (base + 1 + gone) if side > 0 else (base - gone)
                sizes = [left] + [level_size] * extra
                sizes[-1] = max(1.0, float(np.round(sizes[-1] * frac[i])))
                for j, s in enumerate(sizes):
                    t_px.append((best + side * j) * tick_size)
                    t_sz.append(s)
                    t_side.append(side)
                    t_id.append(agg)
                    t_ts.append(t)
                agg += 1
                last_left = (left if extra == 0 else level_size) - sizes[-1]
                sweep[side] = (gone + extra, last_left) if last_left > 0 else (gone + extra + 1, level_size)
                snapshot(t)
                refill_at.append(t + refill_ns)
        i += 1

    book_ts = np.array([r[0] for r in book_rows], dtype=np.int64)  # int64: float64 would round ns timestamps
    rows = np.array(book_rows, dtype=np.float64)
    n = rows.shape[0]
    lv = np.arange(L)
    bt, bskip, bsz1, askip, asz1 = rows[:, 1], rows[:, 2], rows[:, 3], rows[:, 4], rows[:, 5]
    bid_price = ((bt - bskip)[:, None] - lv[None, :]) * tick_size
    ask_price = ((bt + 1 + askip)[:, None] + lv[None, :]) * tick_size
    bid_size = np.full((n, L), float(level_size))
    ask_size = np.full((n, L), float(level_size))
    bid_size[:, 0], ask_size[:, 0] = bsz1, asz1
    book = Book(
        ts_ns=book_ts,
        bid_price=np.round(bid_price, 10),
        bid_size=bid_size,
        ask_price=np.round(ask_price, 10),
        ask_size=ask_size,
        valid=np.ones(n, bool),
    )
    trades = Trades(
        ts_ns=np.asarray(t_ts, np.int64),
        price=np.round(np.asarray(t_px, np.float64), 10),
        size=np.asarray(t_sz, np.float64),
        side=np.asarray(t_side, np.int8),
        aggressor_id=np.asarray(t_id, np.int64),
    )
    return Capture(
        instrument=instrument,
        venue="synthetic",
        source=f"simulate_capture(seed={seed})",
        tick_size=float(tick_size),
        book=book,
        trades=trades,
    )


def write_lobster(
    capture: Capture, folder: str | Path, ticker: str = "SYN", date: str = "2020-01-02", levels: int | None = None
) -> tuple[Path, Path]:
    """Write ``capture`` as a LOBSTER pair ``TICKER_DATE_START_END_{message,orderbook}_LEVELS.csv``.

    Messages (LOBSTER spec): time in seconds after midnight of ``date`` with 9 decimals, type
    (1 submission, 2 partial cancel, 3 deletion, 4 visible execution), order id, size, price x 10000
    (int), direction (1 buy limit order, -1 sell limit order: an execution carries the resting order's
    side, -1 for a buyer-initiated trade). Each print becomes executions against the resting orders at
    its price (FIFO); each book snapshot becomes the cancellations, then the submissions, that turn the
    book into it. One orderbook row per message, the book after it: ask price, ask size, bid price,
    bid size per level, empty levels as 9999999999 / -9999999999 with size 0. Returns the two paths.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    book, trades = capture.book, capture.trades
    L = int(levels or book.levels)
    day = _day_ns(date)
    to_int = lambda p: int(round(p * 10_000))  # noqa: E731
    # per side: price (int) -> list of [order id, size]; +1 bids, -1 asks
    state: dict[int, dict[int, list[list]]] = {1: {}, -1: {}}
    next_id = [1]
    msgs: list[str] = []
    obs: list[str] = []

    def new_id():
        next_id[0] += 1
        return next_id[0]

    def row():
        out = []
        asks = sorted(state[-1])[:L]
        bids = sorted(state[1], reverse=True)[:L]
        for j in range(L):
            if j < len(asks):
                out += [asks[j], int(sum(o[1] for o in state[-1][asks[j]]))]
            else:
                out += [9_999_999_999, 0]
            if j < len(bids):
                out += [bids[j], int(sum(o[1] for o in state[1][bids[j]]))]
            else:
                out += [-9_999_999_999, 0]
        return ",".join(map(str, out))

    def emit(ts, typ, oid, size, price, direction):
        rel = int(ts) - day
        msgs.append(f"{rel // NS}.{rel % NS:09d},{typ},{oid},{int(round(size))},{price},{direction}")
        obs.append(row())

    def apply_snapshot(ts, k):
        target = {1: {}, -1: {}}
        for side, px, sz in ((1, book.bid_price[k], book.bid_size[k]), (-1, book.ask_price[k], book.ask_size[k])):
            for p, s in zip(px[:L], sz[:L]):
                if np.isfinite(p) and s > 0:
                    target[side][to_int(p)] = float(s)
        adds = []
        for side in (1, -1):
            lv = state[side]
            for p in list(lv):
                want = target[side].get(p, 0.0)
                have = sum(o[1] for o in lv[p])
                while have > want + 1e-9:
                    o = lv[p][-1]
                    cut = min(o[1], have - want)
                    if cut >= o[1] - 1e-9:
                        lv[p].pop()
                        if not lv[p]:
                            del lv[p]
                        emit(ts, 3, o[0], o[1], p, side)
                    else:
                        o[1] -= cut
                        emit(ts, 2, o[0], cut, p, side)
                    have -= cut
            for p, want in target[side].items():
                have = sum(o[1] for o in lv.get(p, []))
                if want > have + 1e-9:
                    adds.append((side, p, want - have))
        for side, p, size in adds:  # submissions after every cancellation: the book never crosses
            oid = new_id()
            state[side].setdefault(p, []).append([oid, size])
            emit(ts, 1, oid, size, p, side)

    def apply_print(ts, j):
        side = -int(trades.side[j])  # the resting side: a buy executes sell limit orders
        p = to_int(trades.price[j])
        size = float(trades.size[j])
        lv = state[side]
        while size > 1e-9:
            if p not in lv:  # beyond the visible book: a resting order we never saw
                emit(ts, 4, new_id(), size, p, side)
                break
            o = lv[p][0]
            take = min(o[1], size)
            o[1] -= take
            size -= take
            if o[1] <= 1e-9:
                lv[p].pop(0)
                if not lv[p]:
                    del lv[p]
            emit(ts, 4, o[0], take, p, side)

    # merge: at equal times the prints come before the snapshot (a snapshot is the book after them)
    bt, tt = book.ts_ns, trades.ts_ns
    i = j = 0
    while i < len(bt) or j < len(tt):
        if j < len(tt) and (i >= len(bt) or tt[j] <= bt[i]):
            apply_print(tt[j], j)
            j += 1
        else:
            if book.valid[i]:
                apply_snapshot(bt[i], i)
            i += 1
    first = (int(min(bt[0], tt[0] if len(tt) else bt[0])) - day) // 1_000_000
    last = -(-(int(max(bt[-1], tt[-1] if len(tt) else bt[-1])) - day) // 1_000_000)
    stem = f"{ticker}_{date}_{first}_{last}"
    msg_path = folder / f"{stem}_message_{L}.csv"
    ob_path = folder / f"{stem}_orderbook_{L}.csv"
    msg_path.write_text("\n".join(msgs) + "\n")
    ob_path.write_text("\n".join(obs) + "\n")
    return msg_path, ob_path
