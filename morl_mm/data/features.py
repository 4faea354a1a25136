"""Microstructure features of a capture, in pure vectorised numpy.

Every function takes plain arrays, so the same code serves offline studies (whole captures), the
replay env (per-step arrays) and a live engine. Units: prices in the instrument's units, sizes in its
units, time in seconds (timestamps are int64 ns). :func:`features` assembles them into one labelled
xarray Dataset on a regular time grid.

Conventions: book arrays are ``(N,)`` (level 1) or ``(N, L)`` (best first, NaN price / 0 size where
empty); ``valid`` rows are the only ones trusted (:class:`morl_mm.data.capture.Book`).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

NS = 1_000_000_000


def _level1(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x[..., 0] if x.ndim >= 2 else x


def mid(bid_price, ask_price) -> np.ndarray:
    """Mid price ``(b1 + a1) / 2`` (price units); NaN where a side is empty."""
    return 0.5 * (_level1(bid_price) + _level1(ask_price))


def spread(bid_price, ask_price) -> np.ndarray:
    """Quoted spread ``a1 - b1`` (price units); NaN where a side is empty."""
    return _level1(ask_price) - _level1(bid_price)


def microprice(bid_price, bid_size, ask_price, ask_size) -> np.ndarray:
    """Size-weighted mid ``(a1 * V_b + b1 * V_a) / (V_b + V_a)`` (price units), V = level-1 sizes.

    It leans toward the side with less size (the one likely to be consumed first); NaN where the
    level-1 sizes sum to 0 or a side is empty.
    """
    b, a = _level1(bid_price), _level1(ask_price)
    vb, va = _level1(bid_size), _level1(ask_size)
    tot = vb + va
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, (a * vb + b * va) / tot, np.nan)


def book_imbalance(bid_size, ask_size) -> np.ndarray:
    """Level-1 imbalance ``(V_b - V_a) / (V_b + V_a)`` in [-1, 1] (dimensionless); NaN if both are 0."""
    vb, va = _level1(bid_size), _level1(ask_size)
    tot = vb + va
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, (vb - va) / tot, np.nan)


def depth_imbalance(bid_size, ask_size, levels: int | None = None, decay: float = 0.5) -> np.ndarray:
    """Depth-weighted imbalance over ``levels`` levels, in [-1, 1] (dimensionless).

    ``sum_l w_l (V_b,l - V_a,l) / sum_l w_l (V_b,l + V_a,l)`` with ``w_l = exp(-decay * l)``,
    ``l = 0`` the best level; ``decay = 0`` weighs the levels equally. NaN where all sizes are 0.
    """
    vb = np.atleast_2d(np.asarray(bid_size, dtype=np.float64))
    va = np.atleast_2d(np.asarray(ask_size, dtype=np.float64))
    L = vb.shape[-1] if levels is None else min(int(levels), vb.shape[-1])
    w = np.exp(-float(decay) * np.arange(L))
    num = (np.nan_to_num(vb[..., :L]) - np.nan_to_num(va[..., :L])) @ w
    den = (np.nan_to_num(vb[..., :L]) + np.nan_to_num(va[..., :L])) @ w
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0, num / den, np.nan)
    return out if np.ndim(bid_size) > 1 else out[0]


def time_grid(start_ns: int, end_ns: int, dt_s: float) -> np.ndarray:
    """Grid times ``start + k dt`` (int64 ns) for ``k = 0, 1, ...`` up to and including ``end``."""
    step = int(round(dt_s * NS))
    if step <= 0:
        raise ValueError(f"time_grid: dt_s must be >= 1 ns, got {dt_s}")
    return np.arange(int(start_ns), int(end_ns) + 1, step, dtype=np.int64)


def sample_on_grid(ts_ns, values, grid_ns, valid=None) -> np.ndarray:
    """Last value at or before each grid time (previous-tick sampling).

    ``values`` is ``(N,)`` or ``(N, ...)`` at non-decreasing ``ts_ns``; the result has the grid's length.
    NaN before the first row, and where the last row at or before the grid time is invalid
    (``valid`` False) — an invalid row is not skipped over, because the book is unknown from then on.
    """
    ts = np.asarray(ts_ns, dtype=np.int64)
    vals = np.asarray(values, dtype=np.float64)
    idx = np.searchsorted(ts, np.asarray(grid_ns, dtype=np.int64), side="right") - 1
    ok = idx >= 0
    if valid is not None:
        ok &= np.asarray(valid, dtype=bool)[np.maximum(idx, 0)]
    out = vals[np.maximum(idx, 0)].copy()
    out[~ok] = np.nan
    return out


def realized_vol(mid_grid, dt_s: float, horizons_s=(1.0, 5.0, 30.0, 60.0)) -> dict[float, float]:
    """Realised volatility of the mid at several sampling horizons (price units / sqrt(second)).

    ``sigma(h) = sqrt( sum_k (m_{(k+1)h} - m_{kh})^2 / (n_h * h) )`` over the non-overlapping
    increments at horizon ``h`` (a multiple of the grid step ``dt_s``) that have both ends defined.
    Plotted against ``h`` this is the volatility signature: microstructure noise inflates it at
    small ``h``. NaN where fewer than 2 increments exist.
    """
    m = np.asarray(mid_grid, dtype=np.float64)
    out = {}
    for h in horizons_s:
        k = max(1, int(round(h / dt_s)))
        r = np.diff(m[::k])
        r = r[np.isfinite(r)]
        out[float(h)] = float(np.sqrt(np.sum(r * r) / (r.size * k * dt_s))) if r.size >= 2 else float("nan")
    return out


def rolling_realized_vol(mid_grid, dt_s: float, window_s: float) -> np.ndarray:
    """Rolling realised volatility on the grid (price units / sqrt(second)).

    ``sqrt( sum_{j in window} r_j^2 / (n_window * dt) )`` over the grid increments ``r_j`` in the last
    ``window_s`` seconds ending at each grid point (NaN increments skipped; NaN until one exists).
    """
    r = np.concatenate([[np.nan], np.diff(np.asarray(mid_grid, dtype=np.float64))])
    ok = np.isfinite(r)
    w = max(1, int(round(window_s / dt_s)))
    c2 = np.concatenate([[0.0], np.cumsum(np.where(ok, r * r, 0.0))])
    cn = np.concatenate([[0], np.cumsum(ok)])
    i = np.arange(1, r.size + 1)
    lo = np.maximum(i - w, 0)
    s2, n = c2[i] - c2[lo], cn[i] - cn[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.sqrt(s2 / (n * dt_s)), np.nan)


def _window_sum(ts_ns, weights, grid_ns, window_s: float) -> np.ndarray:
    """Sum of ``weights`` of the events with ``t - window < ts <= t`` at each grid time ``t``."""
    ts = np.asarray(ts_ns, dtype=np.int64)
    c = np.concatenate([[0.0], np.cumsum(np.asarray(weights, dtype=np.float64))])
    grid = np.asarray(grid_ns, dtype=np.int64)
    hi = np.searchsorted(ts, grid, side="right")
    lo = np.searchsorted(ts, grid - int(round(window_s * NS)), side="right")
    return c[hi] - c[lo]


def trade_flow_imbalance(ts_ns, side, size, grid_ns, window_s: float, normalise: bool = True) -> np.ndarray:
    """Signed traded volume over the trailing window ``(t - window_s, t]`` at each grid time.

    ``sum side_i * size_i`` (size units) with ``side`` +1 buyer-initiated, -1 seller-initiated, or,
    with ``normalise`` (default), ``(V_buy - V_sell) / (V_buy + V_sell)`` in [-1, 1] (NaN without trades).
    """
    side = np.asarray(side, dtype=np.float64)
    size = np.asarray(size, dtype=np.float64)
    signed = _window_sum(ts_ns, side * size, grid_ns, window_s)
    if not normalise:
        return signed
    total = _window_sum(ts_ns, size, grid_ns, window_s)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, signed / total, np.nan)


def market_orders(trades) -> dict[str, np.ndarray]:
    """Group the prints of a :class:`~morl_mm.data.capture.Trades` into market orders (aggressor groups).

    Returns arrays, one entry per group in the order of its first print: ``ts_ns`` (first print),
    ``side`` (+1 buy / -1 sell, the side of the first print), ``size`` (total), ``n_prints``,
    ``far_price`` (the furthest print: highest for a buy, lowest for a sell), ``first_price``.
    """
    ids = np.asarray(trades.aggressor_id)
    if ids.size == 0:
        e = np.zeros(0)
        return {
            "ts_ns": np.zeros(0, np.int64),
            "side": np.zeros(0, np.int8),
            "size": e,
            "n_prints": np.zeros(0, np.int64),
            "far_price": e,
            "first_price": e,
        }
    uniq, first, inv, counts = np.unique(ids, return_index=True, return_inverse=True, return_counts=True)
    order = np.argsort(first, kind="stable")  # groups in the order of their first print
    side = np.asarray(trades.side, dtype=np.int8)
    price = np.asarray(trades.price, dtype=np.float64)
    signed = price * side[first][inv]  # maximise side * price within the group
    far = np.full(uniq.size, -np.inf)
    np.maximum.at(far, inv, signed)
    size = np.zeros(uniq.size)
    np.add.at(size, inv, np.asarray(trades.size, dtype=np.float64))
    s = side[first]
    return {
        "ts_ns": np.asarray(trades.ts_ns, np.int64)[first][order],
        "side": s[order],
        "size": size[order],
        "n_prints": counts[order],
        "far_price": (far * s)[order],
        "first_price": price[first][order],
    }


def arrival_rates(order_ts_ns, order_side, grid_ns=None, window_s: float | None = None, span_s: float | None = None):
    """Market-order arrival rates per side (market orders per second), counting aggressor groups.

    Without a grid: ``(n_buy / T, n_sell / T)`` over the span ``T`` (``span_s``, default last - first
    order time). With ``grid_ns`` and ``window_s``: arrays of the counts in ``(t - window_s, t]`` divided
    by ``window_s``, per side. Buys lift asks (they would fill an agent's ask), sells hit bids.
    """
    ts = np.asarray(order_ts_ns, dtype=np.int64)
    side = np.asarray(order_side)
    if grid_ns is None:
        T = span_s if span_s is not None else (ts[-1] - ts[0]) / NS if ts.size > 1 else float("nan")
        return float(np.sum(side > 0) / T), float(np.sum(side < 0) / T)
    if window_s is None:
        raise ValueError("arrival_rates: give window_s with grid_ns")
    buy = _window_sum(ts, (side > 0).astype(float), grid_ns, window_s) / window_s
    sell = _window_sum(ts, (side < 0).astype(float), grid_ns, window_s) / window_s
    return buy, sell


def features(
    capture,
    dt_s: float = 1.0,
    *,
    vol_window_s: float = 60.0,
    flow_window_s: float = 10.0,
    depth_levels: int | None = None,
    depth_decay: float = 0.5,
):
    """All features of a capture on a regular grid of ``dt_s`` seconds, as an xarray Dataset.

    Book features are sampled previous-tick (:func:`sample_on_grid`; NaN where the book is invalid);
    trade features are trailing-window sums ending at each grid time. Dimension ``time`` holds the
    grid timestamps (int64 ns since the epoch); each variable carries ``units`` and ``description``.
    """
    book, trades = capture.book, capture.trades
    grid = time_grid(capture.start_ns, capture.end_ns, dt_s)

    def on_grid(x):
        return sample_on_grid(book.ts_ns, x, grid, valid=book.valid)

    m = on_grid(mid(book.bid_price, book.ask_price))
    mo = market_orders(trades)
    buy_rate, sell_rate = arrival_rates(mo["ts_ns"], mo["side"], grid, window_s=flow_window_s)
    data = {
        "mid": (m, "price", "(best bid + best ask) / 2"),
        "spread": (on_grid(spread(book.bid_price, book.ask_price)), "price", "best ask - best bid"),
        "microprice": (
            on_grid(microprice(book.bid_price, book.bid_size, book.ask_price, book.ask_size)),
            "price",
            "(a1 V_b + b1 V_a) / (V_b + V_a)",
        ),
        "book_imbalance": (
            on_grid(book_imbalance(book.bid_size, book.ask_size)),
            "1",
            "(V_b - V_a) / (V_b + V_a) at level 1",
        ),
        "depth_imbalance": (
            on_grid(depth_imbalance(book.bid_size, book.ask_size, depth_levels, depth_decay)),
            "1",
            f"sum w_l (V_b,l - V_a,l) / sum w_l (V_b,l + V_a,l), w_l = exp(-{depth_decay} l)",
        ),
        "realized_vol": (
            rolling_realized_vol(m, dt_s, vol_window_s),
            "price / sqrt(s)",
            f"rolling realised volatility of the gridded mid over {vol_window_s} s",
        ),
        "trade_flow_imbalance": (
            trade_flow_imbalance(trades.ts_ns, trades.side, trades.size, grid, flow_window_s),
            "1",
            f"(V_buy - V_sell) / (V_buy + V_sell) over the last {flow_window_s} s",
        ),
        "signed_volume": (
            trade_flow_imbalance(trades.ts_ns, trades.side, trades.size, grid, flow_window_s, False),
            "size",
            f"V_buy - V_sell over the last {flow_window_s} s",
        ),
        "buy_rate": (buy_rate, "1 / s", f"market buys (aggressor groups) per second over the last {flow_window_s} s"),
        "sell_rate": (
            sell_rate,
            "1 / s",
            f"market sells (aggressor groups) per second over the last {flow_window_s} s",
        ),
    }
    ds = xr.Dataset(
        {k: ("time", v, {"units": u, "description": d}) for k, (v, u, d) in data.items()},
        coords={
            "time": ("time", grid, {"units": "ns since the Unix epoch"}),
            "t": ("time", (grid - grid[0]) / NS, {"units": "s since the capture start"}),
        },
    )
    ds.attrs.update(
        instrument=capture.instrument,
        venue=capture.venue,
        source=str(capture.source),
        dt_s=float(dt_s),
        tick_size=float(capture.tick_size),
    )
    return ds
