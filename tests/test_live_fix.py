"""FIX 4.4 order routing on loopback: the session layer, the gateway and the simulated venue.

Every venue here is started and stopped by its test, on 127.0.0.1 with a free port. The market is
a small synthetic capture (the simulator's model), except for the end-to-end ``serve`` session,
which replays a window of the shared LOBSTER sample and skips when it is absent.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import re
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

simplefix = pytest.importorskip("simplefix", reason="the optional extra morl-mm[live] is not installed")
from simplefix import constants as fc  # noqa: E402

from morl_mm.data.readers import read_capture  # noqa: E402
from morl_mm.data.synthetic import simulate_capture, write_lobster  # noqa: E402
from morl_mm.data.tape import build_tape  # noqa: E402
from morl_mm.env.params import EnvParams  # noqa: E402
from morl_mm.live.fix import FixGateway, action_from_message, order_message  # noqa: E402
from morl_mm.live.fix_venue import FixVenue  # noqa: E402
from morl_mm.live.orders import OrderAction  # noqa: E402
from morl_mm.live.session import parse_venue  # noqa: E402
from morl_mm.live.venue import MatchingVenue, SimGateway  # noqa: E402

TICK = 0.01
STEPS = 12


@pytest.fixture(scope="module")
def market():
    capture = simulate_capture(30.0, sigma=0.02, arrival_rate=0.4, kappa=60.0, tick_size=TICK, seed=5)
    tape, info = build_tape(capture, 1.0)
    return tape, info


def matching(market, fill_model="queue") -> MatchingVenue:
    tape, info = market
    return MatchingVenue(tape, EnvParams(tick_size=TICK), fill_model, reference_price=info.reference_price)


@pytest.fixture
def venue(market):
    fix_venue = FixVenue(matching(market)).start()
    yield fix_venue
    fix_venue.stop()


def best(market, step: int) -> tuple[float, float]:
    tape, info = market
    return (
        round(float(tape.bid_price[step, 0]) + info.reference_price, 2),
        round(float(tape.ask_price[step, 0]) + info.reference_price, 2),
    )


def as_tuple(report) -> tuple:
    return tuple(None if isinstance(v, float) and np.isnan(v) else v for v in dataclasses.astuple(report))


def quote_script(gateway, market, steps: int = STEPS) -> list:
    """Quote both sides a tick behind the touch, re-quote a side after its fill, move the working
    orders a tick further at step 3 (cancel-replace), skip step 5, cancel at step 8; the reports."""
    reports, working, n = [], {}, 0
    for step in range(steps):
        if step == 5:
            continue  # an interval without a decision (as an invalid book): its orders rest unmatched
        bid, ask = best(market, step)
        actions = []
        for side, price in (("buy", round(bid - TICK, 2)), ("sell", round(ask + TICK, 2))):
            n += 1
            if step == 8 and side in working:
                actions.append(OrderAction("cancel", side, f"x{n}", orig_cl_ord_id=working.pop(side)))
            elif side not in working and step < 8:
                actions.append(OrderAction("new", side, f"{side}{n}", price=price, qty=1.0))
                working[side] = f"{side}{n}"
            elif step == 3:
                further = round(price - TICK if side == "buy" else price + TICK, 2)
                actions.append(
                    OrderAction("replace", side, f"{side}{n}", price=further, qty=2.0, orig_cl_ord_id=working[side])
                )
                working[side] = f"{side}{n}"
        gateway.send(actions, step)
        for report in gateway.sync(step):
            reports.append(report)
            if report.exec_type in ("fill", "rejected") and working.get(report.side) == report.cl_ord_id:
                del working[report.side]
    return reports


def test_messages_map_to_order_actions_and_back():
    for action in (
        OrderAction("new", "buy", "a1", price=100.01, qty=2.0),
        OrderAction("replace", "sell", "a2", price=100.05, qty=1.5, orig_cl_ord_id="a0"),
        OrderAction("cancel", "sell", "a3", orig_cl_ord_id="a2"),
    ):
        msg_type, body = order_message(action, "SYN")
        m = simplefix.FixMessage()
        m.append_pair(fc.TAG_BEGINSTRING, "FIX.4.4", header=True)
        m.append_pair(fc.TAG_MSGTYPE, msg_type, header=True)
        for tag, value in body:
            m.append_pair(tag, value)
        parsed = simplefix.FixParser()
        parsed.append_buffer(m.encode())
        back = action_from_message(parsed.get_message())
        assert back.kind == action.kind and back.side == action.side and back.cl_ord_id == action.cl_ord_id
        assert back.orig_cl_ord_id == action.orig_cl_ord_id
        if action.kind != "cancel":
            assert back.price == action.price and back.qty == action.qty


def test_logon_heartbeats_when_idle_and_clean_logout(venue):
    started = time.monotonic()
    gateway = FixGateway.connect(venue.host, venue.port, sender="ENGINE", heartbeat_interval=1, timeout=5.0)
    assert gateway.session.logged_on and gateway.counts["out:A"] == 1 and gateway.counts["in:A"] == 1
    server = venue.sessions["ENGINE"]
    while not (gateway.counts["in:0"] and server.counts["in:0"]) and time.monotonic() < started + 5:
        time.sleep(0.05)  # idle: after HeartBtInt (1 s) without sending, each side sends a Heartbeat
    assert gateway.counts["in:0"] >= 1 and server.counts["in:0"] >= 1 and time.monotonic() - started >= 0.95
    assert server.heartbeat_interval == 1 and gateway.counts["out:1"] == 0  # no TestRequest was needed
    assert gateway.counts["garbled"] == 0 and server.counts["garbled"] == 0  # BodyLength and CheckSum hold
    gateway.close()
    assert gateway.counts["in:5"] == 1 and not gateway.session.logged_on  # the venue answered the Logout
    assert venue.logged_out.wait(2.0) and server.closed_by_logout


def test_fix_session_reproduces_the_in_process_venue(venue, market):
    reference = matching(market)
    expected = quote_script(SimGateway(reference), market)
    gateway = FixGateway.connect(venue.host, venue.port, timeout=5.0)
    got = quote_script(gateway, market)
    gateway.close()
    kinds = {r.exec_type for r in expected}
    assert {"new", "replaced", "canceled", "fill"} <= kinds
    assert [as_tuple(r) for r in got] == [as_tuple(r) for r in expected]  # field by field, over FIX
    record = venue.record()
    assert record["inventory"] == reference.inventory and record["cash"] == reference.cash
    assert len(record["fills"]) == len(reference.fills)
    assert gateway.counts["in:8"] == len(expected)


def test_rejected_orders_come_back_with_the_reason(venue, market):
    gateway = FixGateway.connect(venue.host, venue.port, timeout=5.0)
    bid, _ = best(market, 0)
    gateway.send(
        [
            OrderAction("cancel", "buy", "c1", orig_cl_ord_id="nope"),
            OrderAction("new", "buy", "b1", price=bid + TICK / 3, qty=1.0),
            OrderAction("new", "sell", "s1", price=-1.0, qty=1.0),
        ],
        0,
    )
    cancel, off_tick, negative = gateway.sync(0)
    gateway.close()
    assert cancel.exec_type == "rejected" and "unknown order id 'nope'" in cancel.text
    assert cancel.orig_cl_ord_id == "nope" and gateway.counts["in:9"] == 1  # an OrderCancelReject
    assert off_tick.exec_type == "rejected" and "tick grid" in off_tick.text
    assert negative.exec_type == "rejected" and "Price (44) must be a positive number" in negative.text
    assert [o["status"] for o in venue.record()["orders"]] == ["rejected"] * 3


class LossyLink:
    """A loopback relay between a client and the venue that drops one message, or the connection."""

    MESSAGE = re.compile(rb"8=FIX\.4\.4\x01.*?\x0110=\d{3}\x01", re.S)

    def __init__(self, port: int):
        self.upstream = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.drop_from_venue: bytes | None = None  # the MsgType of the next venue message to lose
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            self.sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, src, dst, from_venue):
        buffer = b""
        try:
            while data := src.recv(65536):
                buffer += data
                while match := self.MESSAGE.search(buffer):
                    message, buffer = match.group(0), buffer[match.end() :]
                    if from_venue and self.drop_from_venue and b"\x0135=" + self.drop_from_venue + b"\x01" in message:
                        self.drop_from_venue = None
                        continue
                    dst.sendall(message)
        except OSError:
            pass
        self._shut(src, dst)  # one side closed: so does its connection through the link

    @staticmethod
    def _shut(*sockets):
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        """Drop every connection through the link (both ends see the socket close)."""
        sockets, self.sockets = self.sockets, []
        self._shut(*sockets)

    def close(self):
        self.cut()
        self.listener.close()


def test_sequence_gap_is_filled_by_a_resend(venue, market):
    link = LossyLink(venue.port)
    gateway = FixGateway.connect("127.0.0.1", link.port, timeout=5.0)
    bid, _ = best(market, 0)
    link.drop_from_venue = fc.MSGTYPE_EXECUTION_REPORT  # the ack of b1 is lost on the way
    gateway.send([OrderAction("new", "buy", "b1", price=bid, qty=1.0)], 0)
    reports = gateway.sync(0)  # the Heartbeat arrives above the gap: ResendRequest, the ack comes again
    gateway.close()
    link.close()
    assert [(r.cl_ord_id, r.exec_type) for r in reports[:1]] == [("b1", "new")]
    server = venue.sessions["MORLMM"]
    assert gateway.counts["out:2"] == 1 and server.counts["resent"] == 1
    assert server.counts["out:8"] == 2 and gateway.counts["in:8"] == 1  # the first copy was lost, the resend came


def test_dropped_session_resumes_without_duplicate_orders(venue, market, tmp_path):
    link = LossyLink(venue.port)
    store = tmp_path / "engine.fixstore"
    gateway = FixGateway.connect("127.0.0.1", link.port, store=store, timeout=5.0)
    bid, ask = best(market, 0)
    bid, ask = round(bid - 5 * TICK, 2), round(ask + 5 * TICK, 2)  # deep: no fill gets in the way
    gateway.send([OrderAction("new", "buy", "b1", price=bid, qty=1.0)], 0)
    assert [r.exec_type for r in gateway.sync(0)] == ["new"]
    link.cut()  # the connection drops mid-session
    assert gateway.session.wait_closed(2.0)
    gateway.send(
        [
            OrderAction("replace", "buy", "b2", price=round(bid - TICK, 2), qty=1.0, orig_cl_ord_id="b1"),
            OrderAction("new", "sell", "s3", price=ask, qty=1.0),
        ],
        1,
    )  # kept while down
    reports = gateway.sync(1)  # reconnects with the next numbers; the venue asks for the two orders
    assert gateway.reconnects == 1 and gateway.counts["resent"] == 2
    assert [(r.cl_ord_id, r.exec_type) for r in reports] == [("b2", "replaced"), ("s3", "new")]
    server = venue.sessions["MORLMM"]
    assert server.counts["out:2"] == 1 and server.counts["in:A"] == 2  # one ResendRequest, no reset
    # a restarted engine with the same store resumes too, and resending an order it is unsure of is harmless
    gateway.session.disconnect()
    again = FixGateway.connect("127.0.0.1", link.port, store=store, timeout=5.0)
    msg_type, body = order_message(OrderAction("new", "sell", "s3", price=ask, qty=1.0), "MM")
    again.session.send_app(msg_type, body + [(fc.TAG_POSSRESEND, "Y")])
    assert again.sync(2) == [] and venue.duplicates == 1
    again.close()
    link.close()
    ids = [o["cl_ord_id"] for o in venue.record()["orders"]]
    assert ids == ["b1", "b2", "s3"]  # every order once at the venue


def test_venue_command_serves_a_capture_and_writes_its_record(tmp_path):
    capture = simulate_capture(20.0, sigma=0.02, arrival_rate=3.0, kappa=20.0, tick_size=TICK, seed=2)
    feed, _ = write_lobster(capture, tmp_path)
    record = tmp_path / "venue.json"
    url, thread, codes = start_venue_command(["--feed", str(feed), "--dt", "1", "--once", "--record", str(record)])
    _, host, port = parse_venue(url)
    gateway = FixGateway.connect(host, port, timeout=5.0)
    tape, info = build_tape(read_capture(feed), 1.0)
    bid = round(float(tape.bid_price[0, 0]) + info.reference_price, 2)
    gateway.send([OrderAction("new", "buy", "b1", price=bid, qty=1.0)], 0)
    reports = gateway.sync(0) + gateway.sync(1)
    gateway.close()
    thread.join(10)
    assert codes == [0] and not thread.is_alive()
    saved = json.loads(record.read_text())
    assert [o["cl_ord_id"] for o in saved["orders"]] == ["b1"] and saved["last_matched_step"] == 1
    assert saved["inventory"] == sum(r.last_qty for r in reports if r.is_fill)
    assert saved["steps"] == info.steps and np.isfinite(saved["cash"])


# -- end to end: morl-mm venue + morl-mm serve over FIX ------------------------------------------------
DATA = Path(os.environ.get("MORL_MM_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")
AAPL = DATA / "lobster" / "LOBSTER_SampleFile_AAPL_2012-06-21_1.zip"


def start_venue_command(argv: list[str]):
    """``morl-mm venue ARGV`` on a thread; its fix:// URL (its first line) and the thread's exit codes."""
    from morl_mm.cli import main as cli

    out, codes = io.StringIO(), []

    def run():
        with contextlib.redirect_stdout(out):
            codes.append(cli(["venue", *argv]))

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 30
    while not out.getvalue().endswith("\n") and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    url = out.getvalue().splitlines()[0]
    assert re.fullmatch(r"fix://127\.0\.0\.1:\d+", url)
    return url, thread, codes


def test_serve_over_fix_matches_the_venue_record_and_the_backtest(tmp_path):
    """A paper-trading session, orders out and reports in over FIX: the engine's position and cash are
    the venue's record, and the episode's objective vector (pnl included) is the backtest's."""
    from morl_mm.cli import main as cli
    from morl_mm.env.market import MarketMakingEnv
    from morl_mm.env.params import EnvConfig, make_params
    from morl_mm.evaluation.backtest import backtest
    from morl_mm.policies.io import load_policy, save_policy

    if not AAPL.is_file():
        pytest.skip(f"shared data sample {AAPL} absent (set MORL_MM_DATA to the folder of the samples)")
    config = EnvConfig(action_mode="continuous", max_latency=1)
    params = make_params(
        config,
        dt=0.5,
        horizon=10.0,
        sigma=0.05,
        tick_size=0.01,
        mid0=0.0,
        order_size=1.0,
        inventory_limit=3.0,
        competitive_distance=0.05,
        arrival_rate=1.0,
        kappa=50.0,
    )
    policy = save_policy(
        tmp_path / "fixed.mmpol",
        kind="classical",
        spec={"kind": "fixed_spread", "half_spread": 0.02},
        env=MarketMakingEnv(config),
        env_params=params,
        label="fixed",
    )
    window = ["--feed", str(AAPL), "--start", "600", "--end", "610"]  # one episode of 20 decisions
    record = tmp_path / "venue.json"
    url, thread, codes = start_venue_command([*window, "--dt", "0.5", "--once", "--record", str(record)])
    out = tmp_path / "session"
    assert cli(["serve", str(policy), *window, "--speed", "max", "--venue", url, "--out", str(out)]) == 0
    thread.join(10)
    assert codes == [0]  # the venue stopped at the engine's logout
    summary, venue = json.loads((out / "session.json").read_text()), json.loads(record.read_text())
    account = summary["account"]
    assert account["inventory"] == venue["inventory"] and account["cash"] == venue["cash"]
    assert account["fills"] == len(venue["fills"]) > 0 and venue["working_orders"] == []  # shut down flat of orders
    ids = [o["cl_ord_id"] for o in venue["orders"]]
    assert len(ids) == len(set(ids)) and venue["rejects"] == 0
    capture = read_capture(AAPL)
    t0 = capture.start_ns
    ds = backtest(
        [("fixed", "classical", load_policy(policy))], capture, start_ns=t0 + 600 * 10**9, end_ns=t0 + 610 * 10**9
    )
    (episode,) = summary["episodes"]
    assert episode["comparable"]
    np.testing.assert_array_equal(list(episode["objectives"].values()), ds["returns"].values[0, 0])
