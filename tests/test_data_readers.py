"""Readers of real market data (LOBSTER, Binance, Bitstamp) into the common Capture form.

Tests on the shared samples skip when ../shared/data (or $MORL_MM_DATA) is absent; the synthetic
captures are written by the tests themselves.
"""

from __future__ import annotations

import gzip
import json
import lzma
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from morl_mm.data import CaptureError, read_capture

DATA = Path(os.environ.get("MORL_MM_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")


def sample(rel: str) -> Path:
    path = DATA / rel
    if not path.exists():
        pytest.skip(f"shared data sample {path} absent (set MORL_MM_DATA to the folder of the samples)")
    return path


def gap_reasons(cap, word):
    return [g for g in cap.gaps if word in g["reason"]]


# ------------------------------------------------------------------------------------------ LOBSTER

GOOG = "lobster/LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"
AAPL = "lobster/LOBSTER_SampleFile_AAPL_2012-06-21_1.zip"


@pytest.fixture(scope="module")
def goog():
    return read_capture(sample(GOOG))


def test_lobster_goog_sample(goog):
    # the sample README: 147,916 events incl. 11,678 executions = 7,765 visible (type 4) + 3,913 hidden (type 5)
    assert len(goog.book) == 147_916
    assert len(goog.trades) == 11_678
    assert goog.venue == "lobster" and goog.instrument == "GOOG" and goog.book.levels == 10
    assert goog.tick_size == pytest.approx(0.01)
    assert goog.skipped_lines == 0
    # first message: 34200.015105074 s after midnight on 2012-06-21, kept to the ns
    assert goog.book.ts_ns[0] == 1340236800_000_000_000 + 34200_015105074
    assert goog.book.ts_ns[1] == 1340236800_000_000_000 + 34200_059901970  # "34200.05990197"
    assert np.all(np.diff(goog.book.ts_ns) >= 0) and np.all(np.diff(goog.trades.ts_ns) >= 0)
    # first message executes a buy limit order (direction 1): seller-initiated; orderbook row 1: 579.40 x 496
    assert goog.trades.side[0] == -1 and goog.trades.price[0] == pytest.approx(579.40)
    assert goog.book.bid_price[0, 0] == pytest.approx(579.40) and goog.book.bid_size[0, 0] == 496
    assert goog.book.ask_price[0, 0] == pytest.approx(580.23)
    # three hidden executions at 34200.113246707, same side: one market order
    assert len(set(goog.trades.aggressor_id[2:5])) == 1 and goog.trades.aggressor_id[1] != goog.trades.aggressor_id[2]
    valid = goog.book.valid
    assert not np.any(goog.book.bid_price[valid, 0] >= goog.book.ask_price[valid, 0])
    assert set(np.unique(goog.trades.side)) == {-1, 1}


def test_lobster_aapl_sample():
    cap = read_capture(sample(AAPL), levels=10)
    assert cap.book.levels == 1  # the file has one level; levels= only caps
    assert cap.tick_size == pytest.approx(0.01)
    assert len(cap.book) == 118_497


def _lobster_files(tmp_path, msgs, books, name="TEST_2020-01-02_34200000_57600000", level=2, suffix=""):
    mpath = tmp_path / f"{name}_message_{level}.csv{suffix}"
    opath = tmp_path / f"{name}_orderbook_{level}.csv{suffix}"
    mtext = "".join(",".join(str(x) for x in r) + "\n" for r in msgs)
    otext = "".join(",".join(str(x) for x in r) + "\n" for r in books)
    opener = gzip.open if suffix == ".gz" else open
    with opener(mpath, "wt") as f:
        f.write(mtext)
    with opener(opath, "wt") as f:
        f.write(otext)
    return mpath, opath


E = 9999999999
BOOK = [1000100, 100, 1000000, 200, 1000200, 50, 999900, 10]


def _basic_messages():
    msgs = [
        ("34200.000000001", 1, 1, 100, 1000100, -1),
        ("34200.5", 1, 2, 200, 1000000, 1),
        ("34201.123456789", 4, 1, 30, 1000100, -1),  # buy market order lifts the ask ...
        ("34201.123456789", 4, 3, 50, 1000200, -1),  # ... and sweeps the 2nd level (not the best): kept
        ("34201.123456789", 5, 0, 10, 1000300, -1),  # hidden execution, same order
        ("34202", 4, 2, 20, 1000000, 1),  # a sell market order hits the bid
        ("34202", 5, 0, 5, 999900, 1),  # same ts, same side: same market order
        ("34202", 4, 9, 5, 1000100, -1),  # same ts, other side: another order
    ]
    books = [BOOK] * len(msgs)
    return msgs, books


def test_lobster_synthetic_trades_and_timestamps(tmp_path):
    msgs, books = _basic_messages()
    mpath, _ = _lobster_files(tmp_path, msgs, books)
    cap = read_capture(mpath)
    assert cap.instrument == "TEST" and len(cap.book) == 8 and cap.book.valid.all()
    day = 18263 * 86_400 * 1_000_000_000  # 2020-01-02
    assert cap.book.ts_ns[0] == day + 34200_000000001 and cap.book.ts_ns[1] == day + 34200_500000000
    assert cap.trades.ts_ns.tolist() == [day + 34201_123456789] * 3 + [day + 34202_000000000] * 3
    assert cap.trades.side.tolist() == [1, 1, 1, -1, -1, 1]
    assert cap.trades.price.tolist() == [100.01, 100.02, 100.03, 100.0, 99.99, 100.01]
    assert cap.trades.size.tolist() == [30, 50, 10, 20, 5, 5]
    a = cap.trades.aggressor_id
    assert a[0] == a[1] == a[2] and a[3] == a[4] and len({a[0], a[3], a[5]}) == 3
    # the same pair read through the folder, the orderbook name, gzip, and a date override
    assert len(read_capture(tmp_path).book) == 8
    assert len(read_capture(tmp_path / "TEST_2020-01-02_34200000_57600000_orderbook_2.csv").trades) == 6
    other = read_capture(mpath, date="2020-01-03")
    assert other.book.ts_ns[0] == cap.book.ts_ns[0] + 86_400 * 1_000_000_000


def test_lobster_gz_pair_and_zip(tmp_path):
    msgs, books = _basic_messages()
    mpath, opath = _lobster_files(tmp_path, msgs, books, suffix=".gz")
    assert len(read_capture(mpath).trades) == 6
    z = tmp_path / "pair.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("X_2020-01-02_0_1_message_2.csv", gzip.decompress(mpath.read_bytes()))
        zf.writestr("X_2020-01-02_0_1_orderbook_2.csv", gzip.decompress(opath.read_bytes()))
    cap = read_capture(z)
    assert cap.instrument == "X" and len(cap.trades) == 6


def test_lobster_empty_levels(tmp_path):
    msgs = [("34200.1", 1, 1, 100, 1000100, -1), ("34200.2", 3, 1, 100, 1000100, -1)]
    books = [[1000100, 100, 1000000, 200, E, 0, -E, 0], [E, 0, 1000000, 200, E, 0, -E, 0]]
    mpath, _ = _lobster_files(tmp_path, msgs, books)
    cap = read_capture(mpath)
    assert np.isnan(cap.book.ask_price[0, 1]) and cap.book.ask_size[0, 1] == 0
    assert np.isnan(cap.book.bid_price[0, 1]) and cap.book.bid_size[0, 1] == 0
    assert np.isnan(cap.book.ask_price[1, 0]) and cap.book.bid_price[1, 0] == 100.0
    assert cap.book.valid.all() and cap.tick_size == pytest.approx(0.01)


def test_lobster_crossed_row_is_invalid_and_reported(tmp_path):
    msgs, books = _basic_messages()
    books = list(books)
    books[3] = [1000000, 100, 1000000, 200, 1000200, 50, 999900, 10]  # bid == ask: crossed (locked)
    books[4] = [999900, 100, 1000000, 200, 1000200, 50, 999900, 10]  # bid > ask
    mpath, _ = _lobster_files(tmp_path, msgs, books)
    cap = read_capture(mpath)
    assert cap.book.valid.tolist() == [True, True, True, False, False, True, True, True]
    crossed = gap_reasons(cap, "crossed")
    assert len(crossed) == 1 and crossed[0]["line"] == 4 and crossed[0]["end_line"] == 5 and crossed[0]["rows"] == 2


def test_lobster_halt(tmp_path):
    msgs = [
        ("34200.1", 1, 1, 100, 1000100, -1),
        ("34300", 7, 0, 0, -1, -1),
        ("34301", 1, 2, 10, 1000000, 1),
        ("34400", 7, 0, 0, 0, -1),
        ("34500", 7, 0, 0, 1, -1),
        ("34501", 1, 3, 10, 1000000, 1),
    ]
    mpath, _ = _lobster_files(tmp_path, msgs, [BOOK] * 6)
    cap = read_capture(mpath)
    assert cap.book.valid.tolist() == [True, False, False, False, True, True]
    halts = gap_reasons(cap, "halt")
    assert len(halts) == 1 and halts[0]["line"] == 2 and halts[0]["end_line"] == 5
    assert halts[0]["ts_ns"] == cap.book.ts_ns[1]
    assert len(cap.trades) == 0


def test_lobster_mismatched_row_counts(tmp_path):
    msgs, books = _basic_messages()
    mpath, opath = _lobster_files(tmp_path, msgs, books[:-1])
    with pytest.raises(CaptureError) as e:
        read_capture(mpath)
    assert mpath.name in str(e.value) and opath.name in str(e.value) and "\n" not in str(e.value)


def test_lobster_corrupt_line(tmp_path):
    msgs, books = _basic_messages()
    msgs = list(msgs)
    msgs[4] = ("34201.123456789", "x", 0, 10, 1000300, -1)
    mpath, _ = _lobster_files(tmp_path, msgs, books)
    with pytest.raises(CaptureError, match=rf"{mpath.name}:5: "):
        read_capture(mpath)
    cap = read_capture(mpath, skip_bad_lines=True)
    assert cap.skipped_lines == 1 and len(cap.book) == 7 and len(cap.trades) == 5
    assert [g["line"] for g in gap_reasons(cap, "skipped")] == [5]
    # a short line in the orderbook file: its message row is dropped too
    msgs, books = _basic_messages()
    books = list(books)
    books[6] = BOOK[:5]
    mpath, opath = _lobster_files(tmp_path, msgs, books)
    with pytest.raises(CaptureError, match=rf"{opath.name}:7: "):
        read_capture(mpath)
    cap = read_capture(mpath, skip_bad_lines=True)
    assert cap.skipped_lines == 1 and len(cap.book) == 7 and len(cap.trades) == 5


def test_lobster_truncated_and_missing(tmp_path):
    msgs, books = _basic_messages()
    mpath, opath = _lobster_files(tmp_path, msgs, books, suffix=".gz")
    raw = opath.read_bytes()
    opath.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CaptureError, match="truncated gzip"):
        read_capture(mpath)
    with pytest.raises(CaptureError, match="no such file"):
        read_capture(tmp_path / "NOPE_2020-01-02_0_1_message_2.csv")
    z = tmp_path / "bad.zip"
    z.write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(CaptureError, match="bad.zip"):
        read_capture(z)


# ------------------------------------------------------------------------------------------ Binance

USDM = "binance/usdm_btcusdt_20240808.gz"
SPOT = "binance/spot_btcusdt_20240808.gz"


def _book_tickers(path):
    out = {}
    with gzip.open(path, "rt") as f:
        for line in f:
            p = json.loads(line.split(" ", 1)[1])
            p = p.get("data", p)
            if "B" in p and p.get("e") in (None, "bookTicker"):
                out[p["u"]] = (float(p["b"]), float(p["B"]), float(p["a"]), float(p["A"]))
    return out


@pytest.mark.parametrize(
    "rel,venue,tick,n_trades,n_diffs",
    [(USDM, "binance-usdm", 0.1, 21_313, 6_551), (SPOT, "binance-spot", 0.01, 9_757, 3_451)],
)
def test_binance_samples_agree_with_book_ticker(rel, venue, tick, n_trades, n_diffs):
    from morl_mm.data.binance import rebuild

    path = sample(rel)
    cap, ids = rebuild(path, levels=10)
    assert cap.venue == venue and cap.instrument == "BTCUSDT" and cap.tick_size == pytest.approx(tick)
    assert len(cap.trades) == n_trades  # README: ~21k trades on the futures sample
    assert len(cap.book) == n_diffs + 1  # one row per depth diff and one for the REST snapshot
    assert not [g for g in cap.gaps if not g["reason"].startswith("info:")]  # the samples are gap-free
    v = cap.book.valid
    assert v.sum() >= len(cap.book) - 10 and not v[0]  # only the rows before the snapshot are invalid
    assert not np.any(cap.book.bid_price[v, 0] >= cap.book.ask_price[v, 0])
    assert np.all(np.diff(cap.book.ts_ns) >= 0) and np.all(np.diff(cap.trades.ts_ns) >= 0)
    # the rebuilt book after the diff ending at update id u == the bookTicker of the same u
    tickers = _book_tickers(path)
    rows = [r for r in np.flatnonzero(v) if ids[r] in tickers]
    assert len(rows) > 300
    b = cap.book
    got = np.array([(b.bid_price[r, 0], b.bid_size[r, 0], b.ask_price[r, 0], b.ask_size[r, 0]) for r in rows])
    want = np.array([tickers[ids[r]] for r in rows])
    np.testing.assert_array_equal(got, want)
    assert set(np.unique(cap.trades.side)) == {-1, 1}
    assert 1 < len(np.unique(cap.trades.aggressor_id)) < len(cap.trades)


T0 = 1_700_000_000_000  # ms


def _diff(E, U, u, pu, b=(), a=(), wrap=True):
    d = {
        "e": "depthUpdate",
        "E": E,
        "T": E,
        "s": "BTCUSDT",
        "U": U,
        "u": u,
        "b": [list(x) for x in b],
        "a": [list(x) for x in a],
    }
    if pu is not None:
        d["pu"] = pu
    return {"stream": "btcusdt@depth@0ms", "data": d} if wrap else d


def _trade(T, t, p, q, m, X="MARKET"):
    d = {"e": "trade", "E": T, "T": T, "s": "BTCUSDT", "t": t, "p": p, "q": q, "m": m}
    if X is not None:
        d["X"] = X
    return {"stream": "btcusdt@trade", "data": d}


def _snap(L, bids, asks, E=None):
    d = {"lastUpdateId": L, "bids": [list(x) for x in bids], "asks": [list(x) for x in asks]}
    if E is not None:
        d["E"] = d["T"] = E
    return d


def _write_lines(path, msgs, opener=open):
    with opener(path, "wt") as f:
        for k, m in enumerate(msgs):
            f.write(m if isinstance(m, str) else f"{1_700_000_000_000_000_000 + k} {json.dumps(m)}\n")
    return path


SNAP = _snap(100, [("99.0", "1"), ("98.0", "2")], [("101.0", "1"), ("102.0", "3")], E=T0 + 5)


def _futures_messages():
    return [
        _diff(T0 + 1, 90, 95, 89, b=[("97.0", "5")]),  # 1: before the snapshot, u < 100: dropped
        _diff(T0 + 2, 96, 105, 95, b=[("99.5", "1")]),  # 2: covers 100: applied after the snapshot
        SNAP,  # 3
        _diff(T0 + 6, 106, 110, 105, a=[("101.0", "0")]),  # 4: removes the best ask
        _trade(T0 + 7, 1, "102.0", "0.5", False),  # 5: buyer-initiated ...
        _trade(T0 + 7, 2, "102.0", "0.25", False),  # 6: ... same taker order
        _trade(T0 + 7, 3, "99.5", "1", True),  # 7: seller-initiated, another order
        _trade(T0 + 8, 4, "99.5", "1", True, X="INSURANCE_FUND"),  # 8: not a market print: dropped
        _trade(T0 + 9, 5, "99.5", "1", True),  # 9: another time: another order
        _diff(T0 + 10, 111, 120, 110, b=[("99.5", "0")]),  # 10
        _diff(T0 + 11, 125, 130, 121, b=[("99.2", "4")]),  # 11: pu 121 != 120: gap
        _diff(T0 + 12, 131, 135, 130, a=[("101.5", "1")]),  # 12: invalid (after the gap)
        _snap(133, [("99.1", "1")], [("100.9", "1")], E=T0 + 13),  # 13: re-initialises
        _diff(T0 + 14, 136, 140, 135, b=[("99.3", "2")]),  # 14: pu == previous u (135 replayed)
    ]


def test_binance_futures_rules_gap_and_trades(tmp_path):
    path = _write_lines(tmp_path / "usdm_test.log", _futures_messages())
    cap = read_capture(path, format="binance", levels=3)
    assert cap.venue == "binance-usdm" and cap.instrument == "BTCUSDT"
    b = cap.book
    # rows: diffs 1, 2 (before the snapshot: invalid), snapshot, diffs 4, 10, 11 (gap), 12, snapshot, 14
    assert b.valid.tolist() == [False, False, True, True, True, False, False, True, True]
    assert b.ts_ns.tolist() == [(T0 + k) * 1_000_000 for k in (1, 2, 5, 6, 10, 11, 12, 13, 14)]
    assert b.bid_price[2].tolist() == [99.5, 99.0, 98.0]  # snapshot + diff 2 (diff 1's 97.0 dropped)
    assert b.ask_price[3, 0] == 102.0 and np.isnan(b.ask_price[3, 1]) and b.ask_size[3, 1] == 0
    assert b.bid_price[4, 0] == 99.0
    gaps = gap_reasons(cap, "sequence gap")
    assert len(gaps) == 1 and gaps[0]["line"] == 11 and gaps[0]["ts_ns"] == (T0 + 11) * 1_000_000
    assert b.bid_price[7, 0] == 99.1 and b.ask_price[7, 0] == 100.9
    assert b.bid_price[8, :2].tolist() == [99.3, 99.1]
    t = cap.trades
    assert t.side.tolist() == [1, 1, -1, -1] and t.size.tolist() == [0.5, 0.25, 1.0, 1.0]
    a = t.aggressor_id
    assert a[0] == a[1] and len({a[0], a[2], a[3]}) == 3
    assert gap_reasons(cap, "INSURANCE_FUND")


def test_binance_gap_without_resnapshot_stays_invalid(tmp_path):
    msgs = _futures_messages()[:12] + [_diff(T0 + 20, 136, 140, 135)]
    cap = read_capture(_write_lines(tmp_path / "x.binance", msgs), levels=2)
    assert cap.book.valid.tolist() == [False, False, True, True, True, False, False, False]


def test_binance_spot_rules(tmp_path):
    msgs = [
        _diff(T0 + 1, 90, 100, None, b=[("97.0", "5")], wrap=False),  # u <= 100: dropped
        _diff(T0 + 2, 101, 104, None, b=[("99.5", "1")], wrap=False),  # covers 101: applied
        _snap(100, [("99.0", "1")], [("101.0", "1")]),  # no E on a spot snapshot
        _diff(T0 + 6, 105, 107, None, b=[("99.6", "1")]),
        _diff(T0 + 7, 109, 110, None, b=[("99.7", "1")]),  # U != 108: gap
        {
            "stream": "btcusdt@trade",
            "data": {
                "e": "trade",
                "E": T0 + 8,
                "T": T0 + 8,
                "s": "BTCUSDT",
                "t": 7,
                "p": "99.7",
                "q": "2",
                "m": False,
                "M": True,
            },
        },
    ]
    cap = read_capture(_write_lines(tmp_path / "spot_test.gz", msgs, gzip.open), levels=3)
    assert cap.venue == "binance-spot"
    assert cap.book.valid.tolist() == [False, False, True, True, False]
    assert cap.book.ts_ns[2] == (T0 + 2) * 1_000_000  # the last exchange time seen before the snapshot
    assert cap.book.bid_price[2, :2].tolist() == [99.5, 99.0] and np.isnan(cap.book.bid_price[2, 2])
    assert [g["line"] for g in gap_reasons(cap, "sequence gap")] == [5]
    assert cap.trades.side.tolist() == [1] and cap.trades.ts_ns[0] == (T0 + 8) * 1_000_000


def test_binance_first_diff_must_cover_snapshot(tmp_path):
    msgs = [SNAP, _diff(T0 + 6, 102, 110, 101)]  # U=102 > 100: the diffs that cover 100 are missing
    cap = read_capture(_write_lines(tmp_path / "usdm.log", msgs), format="binance")
    assert cap.book.valid.tolist() == [True, False]
    assert [g["line"] for g in gap_reasons(cap, "sequence gap")] == [2]


def test_binance_corrupt_line_and_truncation(tmp_path):
    msgs = _futures_messages()
    msgs[4] = '1700000000000000004 {"stream":"btcusdt@trade","data":{"e":"trade","E":1,"T"\n'
    path = _write_lines(tmp_path / "usdm_bad.log", msgs)
    with pytest.raises(CaptureError) as e:
        read_capture(path, format="binance")
    assert str(e.value).startswith(f"{path}:5: ") and "\n" not in str(e.value)
    cap = read_capture(path, format="binance", skip_bad_lines=True)
    assert cap.skipped_lines == 1 and len(cap.trades) == 3 and len(cap.book) == 9
    assert [g["line"] for g in gap_reasons(cap, "skipped")] == [5]
    gz = _write_lines(tmp_path / "usdm_trunc.gz", _futures_messages() * 50, gzip.open)
    raw = gz.read_bytes()
    gz.write_bytes(raw[: len(raw) * 2 // 3])
    with pytest.raises(CaptureError, match=r"usdm_trunc\.gz:\d+: truncated gzip"):
        read_capture(gz, format="binance")
    xz = tmp_path / "usdm_trunc.xz"
    xz.write_bytes(lzma.compress(path.read_bytes())[:-30])
    with pytest.raises(CaptureError, match="truncated xz"):
        read_capture(xz, format="binance")


# ----------------------------------------------------------------------------------------- Bitstamp

BITSTAMP = "bitstamp/bitstamp_btcusd_2015-05-01.log.xz"


def test_bitstamp_sample():
    from morl_mm.data.capture import book_mid

    cap = read_capture(sample(BITSTAMP))
    assert cap.venue == "bitstamp" and cap.tick_size == pytest.approx(0.01)
    assert len(cap.book) == 5_011 and len(cap.trades) == 575  # order_book snapshots and trade events
    v = cap.book.valid
    assert not np.any(cap.book.bid_price[v, 0] >= cap.book.ask_price[v, 0])
    info = gap_reasons(cap, "aggressor side inferred")
    assert len(info) == 1 and sum(info[0]["counts"].values()) == 575
    # the sides found from the consumed orders agree with the mid rule for the bulk of the prints
    mid = book_mid(cap.book)
    r = np.searchsorted(cap.book.ts_ns, cap.trades.ts_ns, side="right") - 1
    ok = r >= 0
    agree = np.sign(cap.trades.price[ok] - mid[r[ok]]) == cap.trades.side[ok]
    assert agree.mean() > 0.95
    # the first print: a bid created at 236.47 crossed the resting ask 65595187: buyer-initiated
    assert cap.trades.side[0] == 1 and cap.trades.side[1] == -1


def test_bitstamp_orders_csv_is_refused():
    with pytest.raises(CaptureError, match="no trades and no book snapshots"):
        read_capture(sample("bitstamp/bitstamp_btcusd_2015-05-01_orders.csv.xz"))


def _bs(ts, kind, **d):
    return f"{ts} {kind} {json.dumps(d)}\n"


def _book(ts, bid, ask):
    return _bs(
        ts,
        "order_book",
        bids=[[str(bid), "1.0"], [str(bid - 1), "2.0"]],
        asks=[[str(ask), "1.0"], [str(ask + 1), "2.0"]],
    )


def _bitstamp_lines():
    return [
        _bs(1000, "order_created", price="100.00", amount="2.0", datetime="1", id=10, order_type=1),  # ask
        _bs(1001, "order_created", price="99.00", amount="1.0", datetime="1", id=11, order_type=0),  # bid
        _book(1002, 99.0, 100.0),
        # a bid limit order crosses the resting ask: both orders show up; the ask (older) was consumed: +1
        _bs(2000, "order_created", price="100.00", amount="3.0", datetime="2", id=12, order_type=0),
        _bs(2010, "order_changed", price="100.00", amount="1.5", datetime="1", id=10, order_type=1),
        _bs(2011, "order_changed", price="100.00", amount="2.5", datetime="2", id=12, order_type=0),
        _bs(2020, "trade", price=100.0, amount=0.5, id=1),
        # the rest of the ask (1.5) is taken by the same incoming order: same taker, same aggressor id
        _bs(2030, "order_deleted", price="100.00", amount="0.0", datetime="1", id=10, order_type=1),
        _bs(2031, "order_changed", price="100.00", amount="1.0", datetime="2", id=12, order_type=0),
        _bs(2040, "trade", price=100.0, amount=1.5, id=2),
        # a market sell fills the resting bid 11 (only the resting order shows): -1
        _bs(3000, "order_deleted", price="99.00", amount="0.00000000", datetime="1", id=11, order_type=0),
        _bs(3010, "trade", price=99.0, amount=1.0, id=3),
        # a cancel is not a fill; this print matches no order: mid rule (99.5): below -> -1, above -> +1
        _bs(4000, "order_deleted", price="98.00", amount="2.0", datetime="1", id=13, order_type=0),
        _bs(4010, "trade", price=98.0, amount=2.0, id=4),
        _bs(5000, "trade", price=101.0, amount=0.1, id=5),
        _book(6000, 99.0, 99.0),  # crossed (locked) snapshot: invalid
    ]


def test_bitstamp_synthetic_aggressor_rules(tmp_path):
    path = tmp_path / "bitstamp_test.log"
    path.write_text("".join(_bitstamp_lines()))
    cap = read_capture(path)
    assert cap.trades.side.tolist() == [1, 1, -1, -1, 1]
    assert cap.trades.ts_ns[0] == 2020 * 1_000_000 and cap.trades.size.tolist() == [0.5, 1.5, 1.0, 2.0, 0.1]
    a = cap.trades.aggressor_id
    assert a[0] == a[1] and len(set(a[1:].tolist())) == 4
    info = gap_reasons(cap, "aggressor side inferred")[0]["counts"]
    assert info == {
        "order match (both orders seen)": 2,
        "order match (one order seen)": 1,
        "mid rule": 2,
        "tick rule": 0,
    }
    assert cap.book.valid.tolist() == [True, False] and gap_reasons(cap, "crossed")[0]["line"] == 16
    assert cap.book.bid_price[0].tolist() == [99.0, 98.0] and cap.book.levels == 2
    # outside the match window the fill events no longer match: the mid rule decides
    far = read_capture(path, match_window_ms=5)
    assert gap_reasons(far, "aggressor side inferred")[0]["counts"]["mid rule"] == 5


def test_bitstamp_corrupt_line(tmp_path):
    lines = _bitstamp_lines()
    lines[6] = '2020 trade {"price": 100.0, "amount":\n'
    path = tmp_path / "bitstamp_bad.log"
    path.write_text("".join(lines))
    with pytest.raises(CaptureError, match=r"bitstamp_bad\.log:7: "):
        read_capture(path)
    cap = read_capture(path, skip_bad_lines=True)
    assert cap.skipped_lines == 1 and len(cap.trades) == 4 and len(cap.book) == 2


# ---------------------------------------------------------------------------------------- dispatch


def test_read_capture_errors(tmp_path):
    with pytest.raises(CaptureError, match="no such file"):
        read_capture(tmp_path / "missing.gz")
    odd = tmp_path / "odd.txt"
    odd.write_text("hello world\n")
    with pytest.raises(CaptureError, match="cannot tell"):
        read_capture(odd)
    with pytest.raises(ValueError, match="unknown format"):
        read_capture(odd, format="nasdaq")


def test_lobster_without_date_in_name(tmp_path):
    msgs, books = _basic_messages()
    mpath, _ = _lobster_files(tmp_path, msgs, books, name="feed")
    cap = read_capture(mpath)  # no date in the name: 1970-01-01, levels from the field count
    assert cap.book.ts_ns[0] == 34200_000000001 and cap.book.levels == 2 and cap.instrument == "feed"
    assert read_capture(mpath, date="2020-01-02").book.ts_ns[0] == 18263 * 86_400 * 10**9 + 34200_000000001
    with pytest.raises(CaptureError, match="bad date"):
        read_capture(mpath, date="2020-13-40")


def test_binance_crossed_row_is_invalid_and_reported(tmp_path):
    msgs = [
        SNAP,
        _diff(T0 + 6, 96, 105, 95, b=[("101.0", "1")]),  # bid 101 == ask 101: crossed
        _diff(T0 + 7, 106, 107, 105, b=[("101.0", "0")]),
    ]
    cap = read_capture(_write_lines(tmp_path / "usdm_x.log", msgs), format="binance")
    assert cap.book.valid.tolist() == [True, False, True]
    crossed = gap_reasons(cap, "crossed")
    assert len(crossed) == 1 and crossed[0]["line"] == 2 and crossed[0]["rows"] == 1
