"""Order routing over FIX 4.4: the engine's order actions as FIX messages, and :class:`FixGateway`.

The mapping between :mod:`morl_mm.live.orders` and FIX 4.4 (fields built with ``simplefix`` and
its tag constants):

================================  =============================================================
``OrderAction("new")``            NewOrderSingle (35=D): ClOrdID 11, Side 54, OrderQty 38,
                                  OrdType 40=2 (limit), Price 44, TimeInForce 59=0 (day)
``OrderAction("replace")``        OrderCancelReplaceRequest (35=G): the above and OrigClOrdID 41
``OrderAction("cancel")``         OrderCancelRequest (35=F): ClOrdID 11 (the request), OrigClOrdID 41
``ExecutionReport``               ExecutionReport (35=8): ExecType 150 (0 new, 5 replaced,
                                  4 canceled, F trade, 8 rejected), OrdStatus 39 (0 new,
                                  1 partially filled, 2 filled, 4 canceled, 8 rejected),
                                  LastQty 32, LastPx 31, LeavesQty 151, CumQty 14, AvgPx 6,
                                  OrdRejReason 103 and Text 58 on a reject
``ExecutionReport("rejected")``   OrderCancelReject (35=9) when a cancel or replace is refused:
of a cancel / replace             CxlRejResponseTo 434, CxlRejReason 102, Text 58
================================  =============================================================

A trade (150=F) is ``"fill"`` when the order is done (39=2) and ``"partial_fill"`` otherwise. The
order messages also carry MarketStep (5001, a user-defined field that a real venue ignores): the
decision interval on the replayed tape, so that the simulated venue submits each order for the
interval the engine decided it in, as the in-process venue does.

:class:`FixGateway` is the :class:`~morl_mm.live.orders.Gateway` of ``--venue fix://HOST:PORT``.
``sync(market_step)`` sends a TestRequest whose TestReqID is ``sync-<market_step>`` and returns
when the Heartbeat answering it arrives: the venue answers only after matching that step and
sending its execution reports, and the session processes messages in sequence order, so every
report of the step has arrived by then. Its session's store (sequence numbers and the sent order
messages, optionally a file) makes a dropped connection harmless: the next ``sync`` reconnects,
logs on with the next numbers, the venue asks for the missing range, and the orders are sent
again with PossDupFlag=Y (the venue ignores a ClOrdID it already has).
"""

from __future__ import annotations

import dataclasses
import math
import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import simplefix
from simplefix import constants as fc

from morl_mm.live.fix_session import FixSession, MessageStore, SessionError
from morl_mm.live.orders import SIDES, ExecutionReport, OrderAction

SYNC_PREFIX = "sync-"  # TestReqID of the sync barrier: sync-<market_step>
TAG_MARKET_STEP = 5001  # user-defined field of the order messages: the decision interval on the tape
SIDE_CODES = {"buy": fc.SIDE_BUY, "sell": fc.SIDE_SELL}
SIDE_NAMES = {code: side for side, code in SIDE_CODES.items()}
ORDER_TYPES = {
    "new": fc.MSGTYPE_NEW_ORDER_SINGLE,
    "replace": fc.MSGTYPE_ORDER_CANCEL_REPLACE_REQUEST,
    "cancel": fc.MSGTYPE_ORDER_CANCEL_REQUEST,
}
ORDER_KINDS = {code: kind for kind, code in ORDER_TYPES.items()}
EXEC_TYPES = {
    "new": fc.EXECTYPE_NEW,
    "replaced": fc.EXECTYPE_REPLACE,
    "canceled": fc.EXECTYPE_CANCELED,
    "fill": fc.EXECTYPE_TRADE,
    "partial_fill": fc.EXECTYPE_TRADE,
    "rejected": fc.EXECTYPE_REJECTED,
}
EXEC_NAMES = {code: name for name, code in EXEC_TYPES.items() if name not in ("fill", "partial_fill")}


def sync_id(market_step: int) -> str:
    """The TestReqID of the sync barrier of ``market_step``."""
    return f"{SYNC_PREFIX}{int(market_step)}"


def sync_step(test_req_id: str) -> int | None:
    """The market step a TestReqID names, or None (a liveness TestRequest)."""
    if not test_req_id.startswith(SYNC_PREFIX):
        return None
    try:
        return int(test_req_id[len(SYNC_PREFIX) :])
    except ValueError:
        return None


def fix_number(value: float) -> str:
    """A FIX float field: plain decimal notation (FIX has no exponent), the shortest digits that read
    back as the same float (the venue's cash is then the engine's, to the last bit)."""
    return np.format_float_positional(float(value), unique=True, trim="-")


def _now(m: simplefix.FixMessage, tag: bytes) -> None:
    m.append_utc_timestamp(tag, precision=3)


def _pairs(m: simplefix.FixMessage) -> list[tuple[bytes, bytes]]:
    return [(t, v) for t, v in m.pairs]


# -- order actions <-> messages -------------------------------------------------------------------------
def order_message(
    action: OrderAction, symbol: str, market_step: int | None = None
) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The FIX message type and body fields of an order action (see the module docstring)."""
    m = simplefix.FixMessage()
    m.append_pair(fc.TAG_CLORDID, action.cl_ord_id)
    if action.kind != "new":
        m.append_pair(fc.TAG_ORIGCLORDID, action.orig_cl_ord_id)
    m.append_pair(fc.TAG_SYMBOL, symbol)
    m.append_pair(fc.TAG_SIDE, SIDE_CODES[action.side])
    _now(m, fc.TAG_TRANSACTTIME)
    if action.kind != "cancel":
        m.append_pair(fc.TAG_ORDERQTY, fix_number(action.qty))
        m.append_pair(fc.TAG_ORDTYPE, fc.ORDTYPE_LIMIT)
        m.append_pair(fc.TAG_PRICE, fix_number(action.price) if math.isfinite(action.price) else "NaN")
        m.append_pair(fc.TAG_TIMEINFORCE, fc.TIMEINFORCE_DAY)
    if market_step is not None:
        m.append_pair(TAG_MARKET_STEP, int(market_step))
    return ORDER_TYPES[action.kind], _pairs(m)


def _required(m: simplefix.FixMessage, tag: bytes, name: str) -> str:
    value = m.get(tag)
    if value is None:
        raise ValueError(f"{name} ({int(tag)}) missing")
    return value.decode("ascii", "replace")


def _positive_number(m: simplefix.FixMessage, tag: bytes, name: str) -> float:
    text = _required(m, tag, name)
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} ({int(tag)}) is not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} ({int(tag)}) must be a positive number, got {text}")
    return value


def market_step_of(m: simplefix.FixMessage, default: int) -> int:
    """The MarketStep (5001) of an order message, ``default`` when it has none."""
    value = m.get(TAG_MARKET_STEP)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"MarketStep ({TAG_MARKET_STEP}) is not an integer: {value!r}") from None


def action_from_message(m: simplefix.FixMessage) -> OrderAction:
    """The order action a NewOrderSingle / OrderCancelReplaceRequest / OrderCancelRequest asks for.
    A malformed message raises ValueError with the reason (the venue's reject text)."""
    kind = ORDER_KINDS.get(m.message_type)
    if kind is None:
        raise ValueError(f"MsgType {m.message_type!r} is not an order message")
    cl_ord_id = _required(m, fc.TAG_CLORDID, "ClOrdID")
    side = SIDE_NAMES.get(m.get(fc.TAG_SIDE))
    if side is None:
        raise ValueError(f"Side (54) must be 1 (buy) or 2 (sell), got {m.get(fc.TAG_SIDE)!r}")
    orig = _required(m, fc.TAG_ORIGCLORDID, "OrigClOrdID") if kind != "new" else None
    if kind == "cancel":
        return OrderAction("cancel", side, cl_ord_id, orig_cl_ord_id=orig)
    if m.get(fc.TAG_ORDTYPE) != fc.ORDTYPE_LIMIT:
        raise ValueError(f"OrdType (40) must be 2 (limit), got {m.get(fc.TAG_ORDTYPE)!r}")
    qty = _positive_number(m, fc.TAG_ORDERQTY, "OrderQty")
    price = _positive_number(m, fc.TAG_PRICE, "Price")
    return OrderAction(kind, side, cl_ord_id, price=price, qty=qty, orig_cl_ord_id=orig)


# -- execution reports <-> messages ----------------------------------------------------------------------
def _ord_status(report: ExecutionReport) -> bytes:
    if report.exec_type == "rejected":
        return fc.ORDSTATUS_REJECTED
    if report.exec_type == "canceled":
        return fc.ORDSTATUS_CANCELED
    if report.cum_qty > 0:
        return fc.ORDSTATUS_FILLED if report.leaves_qty <= 0 else fc.ORDSTATUS_PARTIALLY_FILLED
    return fc.ORDSTATUS_NEW


def report_message(
    report: ExecutionReport,
    *,
    order_id: str,
    exec_id: str,
    symbol: str,
    avg_px: float = 0.0,
    response_to: str | None = None,
) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The FIX message of a venue's report. ``response_to`` (``"replace"`` / ``"cancel"``) turns a
    reject into an OrderCancelReject (35=9); otherwise it is an ExecutionReport (35=8)."""
    m = simplefix.FixMessage()
    if report.exec_type == "rejected" and response_to in ("replace", "cancel"):
        m.append_pair(fc.TAG_ORDERID, order_id or "NONE")
        m.append_pair(fc.TAG_CLORDID, report.cl_ord_id)
        m.append_pair(fc.TAG_ORIGCLORDID, report.orig_cl_ord_id or "NONE")
        m.append_pair(fc.TAG_ORDSTATUS, fc.ORDSTATUS_REJECTED)
        m.append_pair(
            fc.TAG_CXLREJRESPONSETO,
            fc.CXLREJRESPONSETO_ORDER_CANCEL_REPLACE_REQUEST
            if response_to == "replace"
            else fc.CXLREJRESPONSETO_ORDER_CANCEL_REQUEST,
        )
        m.append_pair(
            fc.TAG_CXLREJREASON, fc.CXLREJREASON_UNKNOWN_ORDER if not order_id else fc.CXLREJREASON_BROKER_OPTION
        )
        m.append_pair(fc.TAG_TEXT, report.text or "rejected")
        _now(m, fc.TAG_TRANSACTTIME)
        return fc.MSGTYPE_ORDER_CANCEL_REJECT, _pairs(m)
    m.append_pair(fc.TAG_ORDERID, order_id or "NONE")
    m.append_pair(fc.TAG_CLORDID, report.cl_ord_id)
    if report.orig_cl_ord_id:
        m.append_pair(fc.TAG_ORIGCLORDID, report.orig_cl_ord_id)
    m.append_pair(fc.TAG_EXECID, exec_id)
    m.append_pair(fc.TAG_EXECTYPE, EXEC_TYPES[report.exec_type])
    m.append_pair(fc.TAG_ORDSTATUS, _ord_status(report))
    m.append_pair(fc.TAG_SYMBOL, symbol)
    m.append_pair(fc.TAG_SIDE, SIDE_CODES[report.side])
    if report.is_fill:
        m.append_pair(fc.TAG_LASTQTY, fix_number(report.last_qty))
        m.append_pair(fc.TAG_LASTPX, fix_number(report.last_px))
    m.append_pair(fc.TAG_LEAVESQTY, fix_number(report.leaves_qty))
    m.append_pair(fc.TAG_CUMQTY, fix_number(report.cum_qty))
    m.append_pair(fc.TAG_AVGPX, fix_number(avg_px))
    if report.exec_type == "rejected":
        m.append_pair(fc.TAG_ORDERREJREASON, fc.ORDERREJREASON_BROKER_OPTION)
    if report.text:
        m.append_pair(fc.TAG_TEXT, report.text)
    _now(m, fc.TAG_TRANSACTTIME)
    return fc.MSGTYPE_EXECUTION_REPORT, _pairs(m)


def _number(m: simplefix.FixMessage, tag: bytes, default: float = 0.0) -> float:
    value = m.get(tag)
    try:
        return float(value) if value is not None else default
    except ValueError:
        return default


def report_from_message(m: simplefix.FixMessage, side_of: dict[str, str], market_step: int = -1) -> ExecutionReport:
    """The :class:`ExecutionReport` of an ExecutionReport (35=8) or OrderCancelReject (35=9);
    ``side_of`` gives the side of our ClOrdIDs (a cancel reject does not carry it)."""
    text = (m.get(fc.TAG_TEXT) or b"").decode("ascii", "replace")
    cl_ord_id = (m.get(fc.TAG_CLORDID) or b"").decode()
    orig = m.get(fc.TAG_ORIGCLORDID)
    orig = None if orig in (None, b"NONE") else orig.decode()
    if m.message_type == fc.MSGTYPE_ORDER_CANCEL_REJECT:
        side = side_of.get(cl_ord_id) or side_of.get(orig or "", SIDES[0])
        return ExecutionReport(
            cl_ord_id, side, "rejected", market_step=market_step, orig_cl_ord_id=orig, text=text or "cancel rejected"
        )
    side = SIDE_NAMES.get(m.get(fc.TAG_SIDE)) or side_of.get(cl_ord_id, SIDES[0])
    code, status = m.get(fc.TAG_EXECTYPE), m.get(fc.TAG_ORDSTATUS)
    if code == fc.EXECTYPE_TRADE:
        exec_type = "fill" if status == fc.ORDSTATUS_FILLED else "partial_fill"
    else:
        exec_type = EXEC_NAMES.get(code, "rejected")
    is_fill = exec_type in ("fill", "partial_fill")
    return ExecutionReport(
        cl_ord_id,
        side,
        exec_type,
        last_qty=_number(m, fc.TAG_LASTQTY) if is_fill else 0.0,
        last_px=_number(m, fc.TAG_LASTPX, math.nan) if is_fill else math.nan,
        leaves_qty=_number(m, fc.TAG_LEAVESQTY),
        cum_qty=_number(m, fc.TAG_CUMQTY),
        market_step=market_step,
        orig_cl_ord_id=orig,
        text=text,
    )


# -- the gateway ---------------------------------------------------------------------------------------
class FixGateway:
    """The :class:`~morl_mm.live.orders.Gateway` over FIX 4.4 to a venue (see the module docstring).

    Make one with :meth:`connect`. ``counts`` are its session's message counts (``"out:D"``,
    ``"in:8"``, ``"resent"``, ...); ``reconnects`` counts the re-established connections.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str = "MORLMM",
        target: str = "VENUE",
        store: str | Path | None = None,
        heartbeat_interval: int = 30,
        symbol: str = "MM",
        timeout: float = 10.0,
    ):
        if not (0 < int(port) < 65536):
            raise ValueError(f"FixGateway.port: must be in 1..65535, got {port}")
        if timeout <= 0:
            raise ValueError(f"FixGateway.timeout: must be > 0 seconds, got {timeout}")
        self.host, self.port, self.symbol, self.timeout = host, int(port), symbol, float(timeout)
        self.session = FixSession(
            sender,
            target,
            store=MessageStore(store),
            heartbeat_interval=heartbeat_interval,
            on_message=self._on_message,
        )
        self.reconnects = 0
        self._reports: list[ExecutionReport] = []
        self._lock = threading.Lock()
        self._exec_ids: set[bytes] = set()
        self.side_of: dict[str, str] = {}  # our ClOrdIDs' sides, from the orders sent (and the store)
        for msg_type, body, _ in self.session.store.sent.values():
            fields = dict(body)
            if msg_type in ORDER_KINDS and fc.TAG_CLORDID in fields:
                self.side_of[fields[fc.TAG_CLORDID].decode()] = SIDE_NAMES.get(fields.get(fc.TAG_SIDE), SIDES[0])

    @classmethod
    def connect(cls, host: str, port: int, *, sender: str = "MORLMM", target: str = "VENUE", **options) -> FixGateway:
        """Connect and log on (a reset for a fresh store, the next numbers for a store that has
        some); ``options``: ``store`` (a file keeping numbers and sent orders), ``heartbeat_interval``
        (s), ``symbol``, ``timeout`` (s). Raises :class:`SessionError` when the venue cannot be reached."""
        gateway = cls(host, port, sender=sender, target=target, **options)
        gateway._logon()
        return gateway

    @property
    def counts(self):
        return self.session.counts

    def _logon(self) -> None:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as err:
            raise SessionError(f"FIX venue {self.host}:{self.port} cannot be reached: {err}") from None
        sock.settimeout(None)
        self.session.initiate(sock, timeout=self.timeout)

    def reconnect(self, deadline: float) -> None:
        """Re-establish a dropped session (the next numbers: the venue asks for what it missed)."""
        while True:
            try:
                self._logon()
                self.reconnects += 1
                return
            except SessionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _on_message(self, session: FixSession, m: simplefix.FixMessage) -> None:
        if m.message_type not in (fc.MSGTYPE_EXECUTION_REPORT, fc.MSGTYPE_ORDER_CANCEL_REJECT):
            return
        exec_id = m.get(fc.TAG_EXECID)
        with self._lock:
            if exec_id is not None:
                if exec_id in self._exec_ids:  # a report resent across a reconnection, already seen
                    return
                self._exec_ids.add(exec_id)
            self._reports.append(report_from_message(m, self.side_of))

    # -- the Gateway protocol -----------------------------------------------------------------------
    def send(self, actions: Sequence[OrderAction], market_step: int) -> None:
        """Send each action as its FIX order message. While the connection is down they are numbered
        and kept; the next :meth:`sync` reconnects and the venue receives them through the resend."""
        for action in actions:
            self.side_of[action.cl_ord_id] = action.side
            self.session.send_app(*order_message(action, self.symbol, market_step))

    def sync(self, market_step: int) -> list[ExecutionReport]:
        """Barrier (see the module docstring): the reports since the last sync, stamped ``market_step``."""
        deadline = time.monotonic() + self.timeout
        test_id = sync_id(market_step)
        while True:
            if not self.session.logged_on:
                self.reconnect(deadline)
            self.session.send_test_request(test_id)
            if self.session.wait_heartbeat(test_id, max(0.0, deadline - time.monotonic())):
                break
            if time.monotonic() > deadline:
                raise SessionError(
                    f"FIX venue did not answer the sync of market step {market_step} in {self.timeout:g} s"
                )
        with self._lock:
            reports, self._reports = self._reports, []
        return [dataclasses.replace(r, market_step=int(market_step)) for r in reports]

    def close(self) -> None:
        """Log out (waits for the venue's Logout) and close the store."""
        try:
            self.session.logout()
        finally:
            self.session.store.close()
