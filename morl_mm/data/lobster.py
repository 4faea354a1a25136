"""LOBSTER (NASDAQ TotalView-ITCH reconstructions) message + orderbook CSV pairs -> :class:`Capture`.

Format (LOBSTER ReadMe): ``TICKER_YYYY-MM-DD_START_END_message_LEVEL.csv`` has no header and six columns
time (seconds after midnight, decimals up to ns), type (1 submit, 2 partial cancel, 3 delete,
4 visible execution, 5 hidden execution, 7 trading halt), order id, size (shares), price (dollars
x 10000), direction (-1 sell limit order, 1 buy limit order). ``..._orderbook_LEVEL.csv`` has one row
per message, the book *after* that message: ask price, ask size, bid price, bid size per level.

What the reader does:

* timestamps: the decimal seconds string is parsed exactly (not through a float) and put on the
  date given as ``date=``, else the date of the file name, else 1970-01-01, as int64 ns; LOBSTER's clock is
  exchange local time (US/Eastern) and is kept as is, on the date at 00:00 UTC (no time-zone shift);
* the book: one row per message; empty levels (prices -9999999999 / 9999999999) become NaN price and
  size 0; ``levels`` caps the number of levels kept (a file with fewer levels keeps its own number);
* trading halts (type 7): rows from a halt (price -1) up to the resume-trading message (price 1) are
  invalid and each halt is one ``gaps`` entry (``reason="trading halt"``, with ``end_line``);
* a crossed row (best bid >= best ask, both present) is invalid; each run of consecutive crossed rows
  is one ``gaps`` entry (``reason="crossed book"``, its first line, ``end_line`` and ``rows``);
* trades: executions (type 4 visible and 5 hidden, size as given, at their own price: a sweep executes
  several levels and none is rejected); the side is the opposite of the executed limit order's
  direction (a sell limit order executed -> buyer-initiated, +1); consecutive execution messages with
  the same timestamp and side are one market order (one ``aggressor_id``);
* the message and orderbook files must have the same number of lines (else :class:`CaptureError`
  naming both); malformed lines raise :class:`CaptureError` naming file and line, or with
  ``skip_bad_lines`` are dropped from both files (the rows stay aligned) and recorded.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from morl_mm.data.capture import Book, Capture, CaptureError, Trades, infer_tick_size
from morl_mm.data.files import BadLines, read_bytes, read_zip_member, strip_compression, zip_names

MESSAGE_RE = re.compile(
    r"^(?P<ticker>.+?)_(?P<date>\d{4}-\d{2}-\d{2})_(?P<start>\d+)_(?P<end>\d+)_message_(?P<level>\d+)\.csv$"
)
_EMPTY_PRICE = 9_999_999_999  # LOBSTER's dummy price of an unoccupied level (negative on the bid side)
_TIME_RE = r"\d+(\.\d+)?"
_TYPES = np.array([1, 2, 3, 4, 5, 7])


# --------------------------------------------------------------------------------------------- files


def _pair_name(name: str, want: str) -> str:
    other = "orderbook" if want == "orderbook" else "message"
    this = "message" if want == "orderbook" else "orderbook"
    return re.sub(rf"_{this}_(\d+)\.csv", rf"_{other}_\1.csv", name)


def _find_pair(path: Path) -> tuple[Any, str, Any, str, str]:
    """(message source, message label, orderbook source, orderbook label, message base name).

    A source is ``(zip_path, member)`` or a ``Path``.
    """
    if not path.exists():
        raise CaptureError(f"{path}:0: no such file")
    if path.is_dir():
        msgs = sorted(p for p in path.iterdir() if "_message_" in p.name and ".csv" in p.name)
        if len(msgs) != 1:
            raise CaptureError(
                f"{path}:0: a LOBSTER folder must hold exactly one *_message_LEVEL.csv file, found {len(msgs)}"
            )
        path = msgs[0]
    if path.name.lower().endswith(".zip"):
        names = zip_names(path)
        msgs = [n for n in names if "_message_" in Path(n).name and ".csv" in n]
        if len(msgs) != 1:
            raise CaptureError(
                f"{path}:0: a LOBSTER archive must hold exactly one *_message_LEVEL.csv, found {len(msgs)}"
            )
        ob = _pair_name(msgs[0], "orderbook")
        if ob not in names:
            raise CaptureError(f"{path}!{msgs[0]}:0: its orderbook file {Path(ob).name} is not in the archive")
        return ((path, msgs[0]), f"{path}!{msgs[0]}", (path, ob), f"{path}!{ob}", strip_compression(Path(msgs[0]).name))
    name = path.name
    if "_orderbook_" in name:
        path = path.with_name(_pair_name(name, "message"))
        if not path.exists():
            cands = [path.with_name(strip_compression(path.name) + ext) for ext in ("", ".gz", ".xz")]
            found = [c for c in cands if c.exists()]
            if not found:
                raise CaptureError(f"{path}:0: no message file beside the orderbook file {name}")
            path = found[0]
        name = path.name
    if "_message_" not in name:
        raise CaptureError(f"{path}:0: not a LOBSTER file name (TICKER_DATE_START_END_message_LEVEL.csv)")
    base = strip_compression(_pair_name(name, "orderbook"))
    cands = [path.with_name(base + ext) for ext in ("", ".gz", ".xz")]
    found = [c for c in cands if c.exists()]
    if not found:
        raise CaptureError(f"{path}:0: its orderbook file {base} is not beside it")
    return path, str(path), found[0], str(found[0]), strip_compression(name)


def _load(source: Any) -> bytes:
    if isinstance(source, tuple):
        return read_zip_member(*source)
    return read_bytes(source)


# ----------------------------------------------------------------------------------------- CSV parse


def _split_lines(data: bytes) -> tuple[bytes, np.ndarray, np.ndarray]:
    """(data, line start offsets, line end offsets) with a final newline and CRs removed."""
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    data = data.rstrip(b"\n")
    if not data:
        return data, np.zeros(0, np.int64), np.zeros(0, np.int64)
    buf = np.frombuffer(data, np.uint8)
    nl = np.flatnonzero(buf == 10)
    starts = np.concatenate([[0], nl + 1])
    ends = np.concatenate([nl, [len(data)]])
    return data, starts, ends


def _parse_matrix(
    data: bytes, starts: np.ndarray, ends: np.ndarray, ncols: int, bad: BadLines, time_col: bool
) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """Parse CSV lines of ``ncols`` numeric fields (column 0 kept as text when ``time_col``).

    Returns ({column: array}, 0-based indices of the lines kept); bad lines go to ``bad``.
    """
    n = len(starts)
    if n == 0:
        return {c: np.zeros(0) for c in range(ncols)}, np.zeros(0, np.int64)
    buf = np.frombuffer(data, np.uint8)
    commas = np.flatnonzero(buf == 44)
    counts = np.searchsorted(commas, ends) - np.searchsorted(commas, starts)
    keep = np.arange(n)
    wrong = np.flatnonzero(counts != ncols - 1)
    if wrong.size:
        for i in wrong:
            text = data[starts[i] : ends[i]].decode("utf-8", "replace")
            bad.bad(
                i + 1,
                f"expected {ncols} comma-separated fields, got {counts[i] + 1}: {text[:60]!r}"
                if text
                else "empty line",
            )
        keep = np.setdiff1d(keep, wrong)
        lines = data.split(b"\n")
        data = b"\n".join(lines[i] for i in keep)
    dtype: dict[int, Any] = {c: np.float64 for c in range(ncols)}
    if time_col:
        dtype[0] = str
    try:
        df = pd.read_csv(
            io.BytesIO(data),
            header=None,
            names=list(range(ncols)),
            dtype=dtype,
            engine="c",
            na_filter=True,
            keep_default_na=False,
            na_values=[""],
            quoting=csv.QUOTE_NONE,
            encoding="latin-1",
        )  # a stray quote or byte: a bad field
        cols = {c: df[c].to_numpy() for c in range(ncols)}
        nonnum = np.zeros(len(df), bool)
        for c in range(1 if time_col else 0, ncols):
            nonnum |= np.isnan(cols[c])
    except (ValueError, pd.errors.ParserError):
        df = pd.read_csv(
            io.BytesIO(data),
            header=None,
            names=list(range(ncols)),
            dtype=str,
            engine="c",
            keep_default_na=False,
            quoting=csv.QUOTE_NONE,
            encoding="latin-1",
        )
        cols = {0: df[0].to_numpy()} if time_col else {}
        nonnum = np.zeros(len(df), bool)
        for c in range(1 if time_col else 0, ncols):
            v = pd.to_numeric(df[c].str.strip(), errors="coerce").to_numpy(dtype=np.float64)
            nonnum |= np.isnan(v)
            cols[c] = v
    if len(cols[0]) != len(keep):  # pragma: no cover - quoting or embedded newlines confuse the parser
        raise CaptureError(f"{bad.label}:0: the CSV parser read {len(cols[0])} rows from {len(keep)} lines")
    if nonnum.any():
        for j in np.flatnonzero(nonnum):
            i = keep[j]
            text = data_line(data, j)
            bad.bad(i + 1, f"non-numeric or empty field: {text[:60]!r}")
        ok = ~nonnum
        cols = {c: v[ok] for c, v in cols.items()}
        keep = keep[ok]
    return cols, keep


def data_line(data: bytes, j: int) -> str:
    """Line ``j`` (0-based) of ``data`` as text (only called on error paths)."""
    return data.split(b"\n")[j].decode("utf-8", "replace")


def _seconds_to_ns(text: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact int64 ns from decimal-seconds strings, and the mask of strings that are not decimals."""
    if len(text) == 0:  # every line was bad (and skipped)
        return np.zeros(0, np.int64), np.zeros(0, bool)
    s = pd.Series(text, dtype=object).astype(str).str.strip()
    ok = s.str.fullmatch(_TIME_RE).to_numpy(dtype=bool)
    s = s.where(ok, "0")
    parts = s.str.partition(".")
    whole = parts[0].astype(np.int64).to_numpy()
    frac = parts[2].str.slice(0, 9).str.ljust(9, "0").astype(np.int64).to_numpy()
    return whole * 1_000_000_000 + frac, ~ok


# ------------------------------------------------------------------------------------------- reader


def read_lobster(
    path: str | Path,
    *,
    levels: int = 10,
    skip_bad_lines: bool = False,
    instrument: str | None = None,
    date: str | _dt.date | None = None,
) -> Capture:
    """Read a LOBSTER pair (a sample ``.zip``, a message CSV with its orderbook CSV beside it, or a
    folder holding one pair); see the module docstring for what is done with halts, crossed rows,
    empty levels and bad lines."""
    path = Path(path)
    msg_src, msg_label, ob_src, ob_label, base = _find_pair(path)
    m = MESSAGE_RE.match(base)
    if date is None:
        date = m.group("date") if m else "1970-01-01"
    if isinstance(date, str):
        try:
            date = _dt.date.fromisoformat(date)
        except ValueError:
            raise CaptureError(f"{msg_label}:0: bad date {date!r} (expected YYYY-MM-DD)") from None
    day_ns = int((date - _dt.date(1970, 1, 1)).days) * 86_400 * 1_000_000_000
    if instrument is None:
        instrument = m.group("ticker") if m else base.split("_")[0]

    mdata, mstarts, mends = _split_lines(_load(msg_src))
    odata, ostarts, oends = _split_lines(_load(ob_src))
    if len(mstarts) != len(ostarts):
        raise CaptureError(
            f"{msg_label}:{min(len(mstarts), len(ostarts)) + 1}: the message file has "
            f"{len(mstarts)} lines but the orderbook file {ob_label} has {len(ostarts)}: "
            "they must have one row per message (truncated or mismatched pair)"
        )
    if len(mstarts) == 0:
        raise CaptureError(f"{msg_label}:1: empty message file")
    if m:  # the file name gives the number of levels; else the most common field count
        ob_cols = 4 * int(m.group("level"))
    else:
        buf = np.frombuffer(odata, np.uint8)
        commas = np.flatnonzero(buf == 44)
        per_line = np.searchsorted(commas, oends) - np.searchsorted(commas, ostarts)
        ob_cols = int(np.bincount(per_line).argmax()) + 1
    if ob_cols % 4:
        raise CaptureError(f"{ob_label}:1: an orderbook row must have 4 fields per level, not {ob_cols}")
    if ob_cols == 0:
        raise CaptureError(f"{ob_label}:1: the file name gives 0 levels")
    file_levels = ob_cols // 4
    L = max(1, min(int(levels), file_levels))

    mbad = BadLines(msg_label, skip_bad_lines)
    obad = BadLines(ob_label, skip_bad_lines)
    mcols, mkeep = _parse_matrix(mdata, mstarts, mends, 6, mbad, time_col=True)
    ocols, okeep = _parse_matrix(odata, ostarts, oends, ob_cols, obad, time_col=False)

    # value checks on the message file
    ts_rel, bad_time = _seconds_to_ns(mcols[0])
    typ, oid, size, price, direction = (mcols[c] for c in range(1, 6))
    bad_val = (
        bad_time
        | ~np.isin(typ, _TYPES)
        | ~np.isin(direction, (-1.0, 1.0))
        | (size < 0)
        | (np.isin(typ, (4, 5)) & (size <= 0))
        | (np.mod(price, 1) != 0)
        | (np.mod(size, 1) != 0)
        | ((typ != 7) & (price <= 0))
    )
    if bad_val.any():
        for j in np.flatnonzero(bad_val):
            what = (
                "bad time"
                if bad_time[j]
                else f"bad type {typ[j]:g}"
                if not np.isin(typ[j], _TYPES)
                else f"bad direction {direction[j]:g}"
                if direction[j] not in (-1, 1)
                else "bad size or price"
            )
            mbad.bad(mkeep[j] + 1, f"{what}: {data_line(mdata, mkeep[j])[:60]!r}")
        ok = ~bad_val
        ts_rel, typ, oid, size, price, direction = (a[ok] for a in (ts_rel, typ, oid, size, price, direction))
        mkeep = mkeep[ok]

    # value checks on the orderbook file: sizes >= 0, prices > 0 or LOBSTER's dummy
    ob = np.stack([ocols[c] for c in range(ob_cols)], axis=1) if ob_cols else np.zeros((0, 0))
    prices = ob[:, 0::2]
    sizes = ob[:, 1::2]
    empty = np.abs(prices) >= _EMPTY_PRICE
    with np.errstate(invalid="ignore"):  # 1e999 parses as inf: a bad line, not an empty level
        bad_ob = ~np.isfinite(ob).all(axis=1) | (
            (sizes < 0) | (((sizes == 0) | (prices <= 0)) & ~empty) | (np.mod(prices, 1) != 0)
        ).any(axis=1)
    if bad_ob.any():
        for j in np.flatnonzero(bad_ob):
            obad.bad(okeep[j] + 1, "a shown level without a positive size or price")
        ok = ~bad_ob
        ob, empty, okeep = ob[ok], empty[ok], okeep[ok]

    # align the two files on their line numbers (a line skipped in one is dropped from both)
    common = np.intersect1d(mkeep, okeep, assume_unique=True)
    mi = np.searchsorted(mkeep, common)
    oi = np.searchsorted(okeep, common)
    ts_rel, typ, oid, size, price, direction = (a[mi] for a in (ts_rel, typ, oid, size, price, direction))
    ob, empty = ob[oi], empty[oi]
    line = common + 1
    ts = day_ns + ts_rel

    back = np.flatnonzero(ts[1:] < np.maximum.accumulate(ts)[:-1]) + 1
    if back.size:
        for j in back:
            mbad.bad(line[j], f"time goes backwards: {data_line(mdata, line[j] - 1)[:60]!r}", ts_ns=ts[j])
        while True:  # drop rows until time is non-decreasing (skip mode only: strict raised above)
            back = np.flatnonzero(ts[1:] < np.maximum.accumulate(ts)[:-1]) + 1
            if not back.size:
                break
            ok = np.ones(len(ts), bool)
            ok[back] = False
            ts, typ, oid, size, price, direction, ob, empty, line = (
                a[ok] for a in (ts, typ, oid, size, price, direction, ob, empty, line)
            )
    n = len(ts)
    if n == 0:
        raise CaptureError(f"{msg_label}:0: no readable rows")

    # the book
    ob = ob[:, : 4 * L]
    empty = empty[:, : 2 * L]
    px = np.where(empty, np.nan, ob[:, 0::2] / 10_000.0)
    sz = np.where(empty, 0.0, ob[:, 1::2])
    ask_price, bid_price = px[:, 0::2], px[:, 1::2]
    ask_size, bid_size = sz[:, 0::2], sz[:, 1::2]
    valid = np.ones(n, bool)
    gaps: list[dict[str, Any]] = []

    halts = np.flatnonzero(typ == 7)
    halt_start = None
    for j in halts:
        code = int(price[j])
        if code == -1 and halt_start is None:
            halt_start = j
        elif code == 1 and halt_start is not None:
            valid[halt_start:j] = False
            gaps.append(
                {
                    "line": int(line[halt_start]),
                    "ts_ns": int(ts[halt_start]),
                    "reason": "trading halt",
                    "end_line": int(line[j]),
                    "end_ts_ns": int(ts[j]),
                }
            )
            halt_start = None
    if halt_start is not None:
        valid[halt_start:] = False
        gaps.append(
            {
                "line": int(line[halt_start]),
                "ts_ns": int(ts[halt_start]),
                "reason": "trading halt (no resume before the end of the file)",
                "end_line": None,
                "end_ts_ns": None,
            }
        )

    crossed = np.isfinite(bid_price[:, 0]) & np.isfinite(ask_price[:, 0]) & (bid_price[:, 0] >= ask_price[:, 0])
    if crossed.any():
        valid &= ~crossed
        edges = np.diff(np.concatenate([[0], crossed.astype(np.int8), [0]]))
        for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
            gaps.append(
                {
                    "line": int(line[a]),
                    "ts_ns": int(ts[a]),
                    "reason": "crossed book (best bid >= best ask)",
                    "end_line": int(line[b - 1]),
                    "rows": int(b - a),
                }
            )

    # trades
    is_exec = (typ == 4) | (typ == 5)
    side_all = (-direction).astype(np.int8)
    same = np.zeros(n, bool)
    same[1:] = is_exec[1:] & is_exec[:-1] & (ts[1:] == ts[:-1]) & (side_all[1:] == side_all[:-1])
    group = np.cumsum(is_exec & ~same) - 1
    trades = Trades(
        ts_ns=ts[is_exec].astype(np.int64),
        price=price[is_exec] / 10_000.0,
        size=size[is_exec].astype(np.float64),
        side=side_all[is_exec],
        aggressor_id=group[is_exec].astype(np.int64),
    )

    book = Book(
        ts_ns=ts.astype(np.int64),
        bid_price=np.ascontiguousarray(bid_price),
        bid_size=np.ascontiguousarray(bid_size),
        ask_price=np.ascontiguousarray(ask_price),
        ask_size=np.ascontiguousarray(ask_size),
        valid=valid,
    )
    book_px = np.concatenate([bid_price.ravel(), ask_price.ravel()])
    try:
        tick = infer_tick_size(book_px)
    except ValueError:
        tick = infer_tick_size(trades.price) if len(trades) else 0.0
    records = sorted(mbad.records + obad.records, key=lambda r: (r["line"], r["file"]))
    gaps.sort(key=lambda g: g["line"])
    return Capture(
        instrument=instrument,
        venue="lobster",
        source=f"{msg_label} + {ob_label}",
        tick_size=tick,
        book=book,
        trades=trades,
        gaps=tuple(records + gaps),
        skipped_lines=len(mbad) + len(obad),
    )
