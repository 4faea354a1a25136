"""The data readers on mutated captures (issue 16): truncated, reordered, duplicated, deleted and garbled
lines of small synthetic files give a CaptureError naming the file, or (skip_bad_lines=True) a capture
that reports what it skipped — never a wrong book: a valid row is never crossed, timestamps never run
backwards, and a Binance diff applied out of sequence makes the rows invalid until a new snapshot."""

import json

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_data_readers import _basic_messages, _bitstamp_lines, _futures_messages, _lobster_files

from morl_mm.data import CaptureError, read_capture

GARBAGE = [b"x", b",", b"{", b"}", b'"', b"-", b" ", b"", b"\xff", b"9", b"0", b".", b"\x00", b"1e999", b"nan"]


@st.composite
def mutations(draw, n_lines: int, structural_only: bool = False):
    """A list of (kind, line index, extra) edits; the kinds keep or break the file's structure."""
    kinds = ["swap", "duplicate", "delete"] + (
        [] if structural_only else ["truncate_line", "garble", "truncate_file", "blank"]
    )
    return [
        (
            draw(st.sampled_from(kinds)),
            draw(st.integers(0, n_lines - 1)),
            draw(st.integers(0, 10**6)),
            draw(st.sampled_from(GARBAGE)),
        )
        for _ in range(draw(st.integers(1, 3)))
    ]


def apply(lines: list[bytes], edits) -> list[bytes]:
    lines = list(lines)
    for kind, i, r, junk in edits:
        if not lines:
            break
        i %= len(lines)
        body = lines[i].rstrip(b"\n")
        if kind == "swap":
            j = r % len(lines)
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == "duplicate":
            lines.insert(i, lines[i])
        elif kind == "delete":
            del lines[i]
        elif kind == "truncate_line":
            lines[i] = body[: r % max(len(body), 1)] + b"\n"
        elif kind == "garble":
            k = r % max(len(body), 1)
            lines[i] = body[:k] + junk + body[k + 1 :] + b"\n"
        elif kind == "truncate_file":
            lines = lines[:i] + [body[: r % max(len(body), 1)]]  # the last line cut, no newline
        elif kind == "blank":
            lines.insert(i, b"\n")
    return lines


def check_book(cap) -> None:
    """What every capture must satisfy, however damaged its file was."""
    book = cap.book
    assert np.all(np.diff(book.ts_ns) >= 0), "timestamps run backwards"
    bid, ask = book.bid_price[:, 0], book.ask_price[:, 0]
    both = book.valid & np.isfinite(bid) & np.isfinite(ask)
    assert not np.any(bid[both] >= ask[both]), "a valid row is crossed"
    for side in ("bid", "ask"):
        price, size = getattr(book, f"{side}_price"), getattr(book, f"{side}_size")
        shown = np.isfinite(price)
        assert np.all(np.isfinite(size)) and np.all(size[shown] > 0) and np.all(size[~shown] == 0)
    assert np.all(np.diff(cap.trades.ts_ns) >= 0)
    assert np.all(np.isfinite(cap.trades.price)) and np.all(cap.trades.size > 0)


def read_both_ways(path, name: str, **kwargs):
    """Strict read: a capture or a CaptureError naming the file in one line; lenient read: the same, and a
    skipped line is reported. Returns the strict capture (or None)."""
    strict = None
    for skip in (False, True):
        try:
            cap = read_capture(path, skip_bad_lines=skip, **kwargs)
        except CaptureError as err:
            assert name in str(err) and "\n" not in str(err).strip(), str(err)
            continue
        check_book(cap)
        if skip:
            assert cap.skipped_lines == len([g for g in cap.gaps if g["reason"].startswith("skipped bad line")])
        else:
            assert cap.skipped_lines == 0
            strict = cap
    return strict


def as_lines(text_lines) -> list[bytes]:
    return [line.encode() if isinstance(line, str) else line for line in text_lines]


LOBSTER_MSGS, LOBSTER_BOOKS = _basic_messages()


def _csv(rows) -> list[bytes]:
    return [(",".join(str(x) for x in r) + "\n").encode() for r in rows]


@settings(max_examples=300)
@given(edits=mutations(len(LOBSTER_MSGS)), which=st.sampled_from(["message", "orderbook", "both"]))
@example(edits=[("garble", 0, 0, b'"')], which="message")  # a stray quote: a pandas ParserError before
@example(edits=[("garble", 0, 0, b"\xff")], which="message")  # not UTF-8: a UnicodeDecodeError before
@example(edits=[("truncate_file", 0, 1, b"x")], which="both")  # every line bad: a KeyError when skipped
@example(edits=[("garble", 2, 1472, b"-")], which="message")  # an execution of size -0: a trade of nothing
@example(edits=[("garble", 0, 448, b"-")], which="orderbook")  # a shown ask of size -0: a wrong book
def test_mutated_lobster_pairs(tmp_path_factory, edits, which):
    folder = tmp_path_factory.mktemp("lobster")
    mpath, opath = _lobster_files(folder, LOBSTER_MSGS, LOBSTER_BOOKS)
    for path, rows in ((mpath, LOBSTER_MSGS), (opath, LOBSTER_BOOKS)):
        if which in (path.name.split("_")[-2], "both"):
            path.write_bytes(b"".join(apply(_csv(rows), edits)))
    read_both_ways(mpath, "TEST_2020-01-02")


def _binance_lines() -> list[bytes]:
    return [f"{1_700_000_000_000_000_000 + k} {json.dumps(m)}\n".encode() for k, m in enumerate(_futures_messages())]


def policy_rows(cap) -> dict:
    """Valid book rows by timestamp: (best bid, best ask, sizes)."""
    b = cap.book
    return {
        int(t): (b.bid_price[i].tolist(), b.bid_size[i].tolist(), b.ask_price[i].tolist(), b.ask_size[i].tolist())
        for i, t in enumerate(b.ts_ns)
        if b.valid[i]
    }


@settings(max_examples=300)
@given(edits=mutations(len(_futures_messages())))
@example(edits=[("garble", 6, 349327, b"1e999")])  # int(inf): an OverflowError before
def test_mutated_binance_captures(tmp_path_factory, edits):
    path = tmp_path_factory.mktemp("binance") / "usdm_fuzz.log"
    path.write_bytes(b"".join(apply(_binance_lines(), edits)))
    read_both_ways(path, "usdm_fuzz.log", format="binance", levels=3)


@settings(max_examples=300)
@given(edits=mutations(len(_futures_messages()), structural_only=True))
def test_binance_diffs_out_of_sequence_make_the_rows_invalid(tmp_path_factory, edits):
    """Reordered, repeated or missing messages: every row the reader still calls valid is a book that the
    untouched capture shows, or one of its snapshots (a diff applied out of sequence gives another book)."""
    tmp_path = tmp_path_factory.mktemp("binance")
    original = tmp_path / "usdm_original.log"
    original.write_bytes(b"".join(_binance_lines()))
    reference = policy_rows(read_capture(original, format="binance", levels=3))
    for k, message in enumerate(_futures_messages()):  # a snapshot alone is a true book too (at its update id)
        if "lastUpdateId" in message:
            alone = tmp_path / f"usdm_snapshot_{k}.log"
            alone.write_bytes(_binance_lines()[k])
            rows = policy_rows(read_capture(alone, format="binance", levels=3))
            reference[-k] = list(rows.values())[-1]  # the snapshot's book (its last row)
    path = tmp_path / "usdm_fuzz.log"
    path.write_bytes(b"".join(apply(_binance_lines(), edits)))
    try:
        cap = read_capture(path, format="binance", levels=3)
    except CaptureError as err:
        assert "usdm_fuzz.log" in str(err)
        return
    check_book(cap)
    books = [np.asarray(row, float) for row in reference.values()]
    for ts, row in policy_rows(cap).items():  # (a row's time may move: the reader keeps timestamps non-decreasing)
        assert any(np.array_equal(np.asarray(row, float), book, equal_nan=True) for book in books), (ts, row)


@settings(max_examples=300)
@given(edits=mutations(len(_bitstamp_lines())))
@example(edits=[("delete", 0, 0, b"x"), ("garble", 9, 13122, b"1e999")])  # int(inf): an OverflowError before
def test_mutated_bitstamp_logs(tmp_path_factory, edits):
    path = tmp_path_factory.mktemp("bitstamp") / "bitstamp_fuzz.log"
    path.write_bytes(b"".join(apply(as_lines(_bitstamp_lines()), edits)))
    read_both_ways(path, "bitstamp_fuzz.log")
