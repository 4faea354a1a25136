"""Microstructure features against hand-computed values."""

import math

import numpy as np
import pytest

from morl_mm.data import features as F
from morl_mm.data.capture import Book, Capture, Trades

S = 1_000_000_000


def test_mid_spread_microprice_imbalance():
    bid = np.array([[99.0, 98.0], [99.5, 99.0], [np.nan, np.nan]])
    ask = np.array([[101.0, 102.0], [100.0, 100.5], [100.0, 101.0]])
    bsz = np.array([[3.0, 1.0], [1.0, 4.0], [0.0, 0.0]])
    asz = np.array([[1.0, 5.0], [1.0, 0.0], [2.0, 2.0]])
    np.testing.assert_allclose(F.mid(bid, ask), [100.0, 99.75, np.nan])
    np.testing.assert_allclose(F.spread(bid, ask), [2.0, 0.5, np.nan])
    # (a V_b + b V_a) / (V_b + V_a): (101*3 + 99*1) / 4 = 100.5 ; (100 + 99.5) / 2
    np.testing.assert_allclose(F.microprice(bid, bsz, ask, asz), [100.5, 99.75, np.nan])
    np.testing.assert_allclose(F.book_imbalance(bsz, asz), [0.5, 0.0, -1.0])
    # decay 0: (3+1 - 1-5) / (3+1+1+5) = -0.2 ; (1+4-1-0)/(6) = 2/3
    np.testing.assert_allclose(F.depth_imbalance(bsz, asz, decay=0.0), [-0.2, 4 / 6, -1.0])
    w = math.exp(-1.0)
    np.testing.assert_allclose(F.depth_imbalance(bsz, asz, decay=1.0)[0], (2 + w * (1 - 5)) / (4 + w * 6))
    assert F.depth_imbalance(bsz, asz, levels=1, decay=3.0)[0] == pytest.approx(0.5)
    assert np.isnan(F.book_imbalance(np.array([0.0]), np.array([0.0])))[0]


def test_sample_on_grid_previous_tick_nan_before_first_and_invalid():
    ts = np.array([10, 20, 30, 40], dtype=np.int64)
    vals = np.array([1.0, 2.0, 3.0, 4.0])
    valid = np.array([True, True, False, True])
    grid = np.array([5, 10, 15, 20, 29, 30, 35, 40, 100], dtype=np.int64)
    out = F.sample_on_grid(ts, vals, grid, valid=valid)
    np.testing.assert_allclose(out, [np.nan, 1, 1, 2, 2, np.nan, np.nan, 4, 4])
    np.testing.assert_allclose(F.sample_on_grid(ts, vals, grid)[5:7], [3, 3])
    two_d = F.sample_on_grid(ts, np.stack([vals, -vals], 1), np.array([25]))
    np.testing.assert_allclose(two_d, [[2.0, -2.0]])


def test_time_grid_and_realized_vol_signature():
    g = F.time_grid(0, 10 * S, 1.0)
    assert g.tolist() == [i * S for i in range(11)]
    m = np.array([0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0])  # a +-1 bounce each second
    rv = F.realized_vol(m, 1.0, horizons_s=(1.0, 2.0))
    assert rv[1.0] == pytest.approx(1.0)  # sum 8 * 1 / (8 * 1 s)
    assert rv[2.0] == pytest.approx(0.0)  # the bounce cancels at 2 s: noise shows in the signature
    m2 = np.array([0.0, 1.0, 3.0, np.nan, 3.0, 5.0])
    # increments 1, 2, nan, nan, 2: sqrt((1 + 4 + 4) / (3 * 0.5))
    assert F.realized_vol(m2, 0.5, horizons_s=(0.5,))[0.5] == pytest.approx(math.sqrt(9 / 1.5))
    roll = F.rolling_realized_vol(np.array([0.0, 1.0, 3.0, 3.0]), 1.0, window_s=2.0)
    np.testing.assert_allclose(roll, [np.nan, 1.0, math.sqrt(5 / 2), math.sqrt(4 / 2)])


def _trades():
    ts = np.array([1, 1, 2, 5, 5, 9], dtype=np.int64) * S
    return Trades(
        ts_ns=ts,
        price=np.array([100.0, 100.5, 99.0, 101.0, 101.5, 98.0]),
        size=np.array([1.0, 2.0, 4.0, 1.0, 1.0, 3.0]),
        side=np.array([1, 1, -1, 1, 1, -1], np.int8),
        aggressor_id=np.array([0, 0, 1, 2, 2, 3], np.int64),
    )


def test_market_orders_group_prints():
    mo = F.market_orders(_trades())
    assert mo["ts_ns"].tolist() == [S, 2 * S, 5 * S, 9 * S]
    assert mo["side"].tolist() == [1, -1, 1, -1]
    assert mo["size"].tolist() == [3.0, 4.0, 2.0, 3.0]
    assert mo["n_prints"].tolist() == [2, 1, 2, 1]
    assert mo["far_price"].tolist() == [100.5, 99.0, 101.5, 98.0]


def test_trade_flow_imbalance_and_arrival_rates():
    tr = _trades()
    grid = np.array([1, 2, 5, 6, 10], dtype=np.int64) * S
    signed = F.trade_flow_imbalance(tr.ts_ns, tr.side, tr.size, grid, window_s=3.0, normalise=False)
    # windows (t-3, t]: {1}: +3 ; {1,2}: 3-4 ; {5}: +2 ; {5}: +2 (the print at 2 s is not > 3 s) ; {9}: -3
    np.testing.assert_allclose(signed, [3.0, -1.0, 2.0, 2.0, -3.0])
    np.testing.assert_allclose(F.trade_flow_imbalance(tr.ts_ns, tr.side, tr.size, grid, 3.0)[:2], [1.0, -1 / 7])
    mo = F.market_orders(tr)
    buy, sell = F.arrival_rates(mo["ts_ns"], mo["side"], span_s=10.0)
    assert (buy, sell) == (0.2, 0.2)  # groups, not prints: 2 buys (4 prints) in 10 s
    b, s = F.arrival_rates(mo["ts_ns"], mo["side"], grid, window_s=5.0)
    np.testing.assert_allclose(b, [0.2, 0.2, 0.4, 0.2, 0.0])  # (1 s, 6 s] holds the buy at 5 s only
    np.testing.assert_allclose(s, [0.0, 0.2, 0.2, 0.2, 0.2])


def test_features_dataset_has_units():
    n = 11
    ts = np.arange(n, dtype=np.int64) * S
    bid = np.column_stack([99.0 + np.arange(n) * 0.1, 98.0 + np.arange(n) * 0.1])
    book = Book(
        ts_ns=ts,
        bid_price=bid,
        bid_size=np.ones((n, 2)),
        ask_price=bid + 1.0,
        ask_size=np.full((n, 2), 3.0),
        valid=np.ones(n, bool),
    )
    cap = Capture("X", "test", "memory", 0.1, book, _trades())
    ds = F.features(cap, 1.0, vol_window_s=2.0, flow_window_s=3.0)
    assert ds.sizes["time"] == 11
    np.testing.assert_allclose(ds["mid"].values, 99.5 + np.arange(n) * 0.1)
    np.testing.assert_allclose(ds["book_imbalance"].values, -0.5)
    np.testing.assert_allclose(ds["realized_vol"].values[1:], 0.1, rtol=1e-9)
    assert ds["signed_volume"].values[1] == 3.0
    for name in ds.data_vars:
        assert ds[name].attrs["units"] and ds[name].attrs["description"]
