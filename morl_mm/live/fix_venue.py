"""The simulated FIX venue of ``morl-mm venue``: a FIX 4.4 acceptor over a :class:`MatchingVenue`.

:class:`FixVenue` listens on loopback (:class:`~morl_mm.live.fix_session.FixAcceptor`) and turns
each order message of a client into an :class:`~morl_mm.live.orders.OrderAction` for the
:class:`~morl_mm.live.venue.MatchingVenue` (the recorded market, matched with the replay env's
fill model), and each report it gives back into an ExecutionReport (35=8) or OrderCancelReject
(35=9) (:mod:`morl_mm.live.fix`):

* an order message is acknowledged (or rejected, the reason in Text 58) at once, for the interval
  its MarketStep (5001) names (without one: the interval after the last matched one);
* a TestRequest whose TestReqID is ``sync-<s>`` first matches interval ``s`` (once: a repeated
  sync of a matched step only answers) and sends its fill reports; the session then answers with
  the Heartbeat, so the client's sync barrier holds;
* an order message that carries PossDupFlag (43=Y) or PossResend (97=Y) with a ClOrdID the venue
  has already received is ignored (counted in ``duplicates``): a resend after a reconnection never
  creates an order twice. Without either flag a repeated ClOrdID is rejected.

A client's session (its numbers and the reports sent, for resends) lives as long as the venue, so a
client that drops and reconnects resumes it. :meth:`FixVenue.record` is the venue's record of the
client (orders, fills, inventory, cash) that ``morl-mm venue --record`` writes.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading

import simplefix
from simplefix import constants as fc

from morl_mm.live.fix import ORDER_KINDS, action_from_message, market_step_of, report_message, sync_step
from morl_mm.live.fix_session import FixAcceptor, FixSession
from morl_mm.live.orders import ExecutionReport
from morl_mm.live.venue import MatchingVenue

log = logging.getLogger(__name__)

_POSS_DUP = ((fc.TAG_POSSDUPFLAG, fc.POSSDUPFLAG_YES), (fc.TAG_POSSRESEND, b"Y"))
TAG_REF_MSG_TYPE, TAG_BUSINESS_REJECT_REASON = 372, 380  # BusinessMessageReject fields (no simplefix constant)
UNSUPPORTED_MESSAGE_TYPE = 3


class FixVenue:
    """A FIX acceptor (SenderCompID ``comp_id``) matching its clients' orders on ``venue`` (module docstring).

    ``start()`` listens (``port`` 0: a free port, read :attr:`port`); ``logged_out`` is set when a
    client logs out; ``stop()`` logs every client out and stops listening.
    """

    def __init__(
        self,
        venue: MatchingVenue,
        *,
        comp_id: str = "VENUE",
        host: str = "127.0.0.1",
        port: int = 0,
        heartbeat_interval: int = 30,
        symbol: str | None = None,
    ):
        self.venue = venue
        self.comp_id = comp_id
        self.heartbeat_interval = int(heartbeat_interval)
        self.sessions: dict[str, FixSession] = {}
        self.orders: list[dict] = []  # every order message received, in order, with its outcome
        self.duplicates = 0
        self.logged_out = threading.Event()
        self._lock = threading.RLock()  # the matching state, shared by the sessions' reader threads
        self._received: set[str] = set()  # ClOrdIDs received
        self._order_id: dict[str, str] = {}  # ClOrdID -> the venue's OrderID (kept through replaces)
        self._filled_value: dict[str, float] = {}  # OrderID -> sum of qty * price filled (AvgPx)
        self._exec_seq = 0
        self._symbol = (symbol or "MM").encode()  # echoed from the orders when they name one
        self._acceptor = FixAcceptor(comp_id, self._session_for, host=host, port=port)

    @property
    def host(self) -> str:
        return self._acceptor.host

    @property
    def port(self) -> int:
        return self._acceptor.port

    def start(self) -> FixVenue:
        self._acceptor.start()
        return self

    def stop(self) -> None:
        """Log out every connected client and stop listening."""
        for session in list(self.sessions.values()):
            if session.logged_on:
                session.logout("venue closing")
        self._acceptor.stop()

    def _session_for(self, client: str) -> FixSession:
        with self._lock:
            if client not in self.sessions:
                self.sessions[client] = FixSession(
                    self.comp_id,
                    client,
                    heartbeat_interval=self.heartbeat_interval,
                    on_message=self._on_message,
                    on_test_request=self._on_test_request,
                    on_disconnect=self._on_disconnect,
                )
            return self.sessions[client]

    def _on_disconnect(self, session: FixSession) -> None:
        if session.closed_by_logout:
            self.logged_out.set()

    # -- order messages -----------------------------------------------------------------------------
    def _on_message(self, session: FixSession, m: simplefix.FixMessage) -> None:
        kind = ORDER_KINDS.get(m.message_type)
        if kind is None:
            session.send_app(
                fc.MSGTYPE_BUSINESS_MESSAGE_REJECT,
                [
                    (fc.TAG_REFSEQNUM, m.get(fc.TAG_MSGSEQNUM)),
                    (TAG_REF_MSG_TYPE, m.message_type),
                    (TAG_BUSINESS_REJECT_REASON, UNSUPPORTED_MESSAGE_TYPE),
                    (fc.TAG_TEXT, "unsupported message type"),
                ],
            )
            return
        cl_ord_id = (m.get(fc.TAG_CLORDID) or b"").decode("ascii", "replace")
        self._symbol = m.get(fc.TAG_SYMBOL) or self._symbol
        with self._lock:
            if cl_ord_id in self._received and any(m.get(tag) == flag for tag, flag in _POSS_DUP):
                self.duplicates += 1  # a resend of an order the venue has: ignored
                return
            self._received.add(cl_ord_id)
            step = self.venue.last_matched + 1
            try:
                step = market_step_of(m, step)
                action = action_from_message(m)
            except ValueError as err:  # malformed: rejected here, the matching venue never sees it
                side = "sell" if m.get(fc.TAG_SIDE) == fc.SIDE_SELL else "buy"
                orig = m.get(fc.TAG_ORIGCLORDID)
                report = ExecutionReport(
                    cl_ord_id,
                    side,
                    "rejected",
                    market_step=step,
                    text=str(err),
                    orig_cl_ord_id=None if orig is None else orig.decode("ascii", "replace"),
                )
                self.orders.append(_order_entry(kind, side, cl_ord_id, report.orig_cl_ord_id, None, None, step, report))
                self._send_report(session, report, kind)
                return
            (report,) = self.venue.submit([action], step)
            self.orders.append(
                _order_entry(
                    kind, action.side, cl_ord_id, action.orig_cl_ord_id, action.price, action.qty, step, report
                )
            )
            if report.exec_type != "rejected":
                self._order_id[action.cl_ord_id] = (
                    self._order_id.get(action.orig_cl_ord_id or "") or f"O{len(self._order_id) + 1}"
                )
            self._send_report(session, report, kind)

    def _on_test_request(self, session: FixSession, test_req_id: str) -> None:
        step = sync_step(test_req_id)
        if step is None:
            return
        with self._lock:
            if step <= self.venue.last_matched:
                return  # a repeated sync (after a reconnection): matched already
            try:
                reports = self.venue.match(step)
            except ValueError as err:  # a step the matching venue cannot match: answered, nothing filled
                log.warning("FIX venue: sync of step %d: %s", step, err)
                return
            for report in reports:
                self._send_report(session, report, "new")

    def _send_report(self, session: FixSession, report: ExecutionReport, kind: str) -> None:
        self._exec_seq += 1
        order_id = self._order_id.get(report.cl_ord_id) or self._order_id.get(report.orig_cl_ord_id or "", "")
        if report.is_fill:
            self._filled_value[order_id] = self._filled_value.get(order_id, 0.0) + report.last_qty * report.last_px
        avg_px = self._filled_value.get(order_id, 0.0) / report.cum_qty if report.cum_qty > 0 else 0.0
        session.send_app(
            *report_message(
                report,
                order_id=order_id,
                exec_id=f"E{self._exec_seq}",
                symbol=self._symbol,
                avg_px=avg_px,
                response_to=kind,
            )
        )

    # -- the record -----------------------------------------------------------------------------------
    def record(self) -> dict:
        """The venue's record of its client (JSON-ready): ``orders`` (every order message and its
        outcome), ``fills`` (step, ClOrdID, side, qty, price), ``inventory``, ``cash``, ``rejects``,
        ``volume``, ``working_orders``, ``last_matched_step``, ``duplicates_ignored`` and the FIX
        message counts per client."""
        with self._lock:
            base = self.venue.record()
            base.pop("fills")
            base["rejects"] = sum(o["status"] == "rejected" for o in self.orders)
            return {
                "orders": list(self.orders),
                "fills": [dataclasses.asdict(f) for f in self.venue.fills],
                **base,
                "duplicates_ignored": self.duplicates,
                "sessions": {client: dict(s.counts) for client, s in self.sessions.items()},
            }


def _order_entry(kind, side, cl_ord_id, orig, price, qty, step, report: ExecutionReport) -> dict:
    """One order message in the record (no NaN: the record is strict JSON)."""
    finite = lambda x: None if x is None or not math.isfinite(x) else float(x)  # noqa: E731
    return {
        "kind": kind,
        "side": side,
        "cl_ord_id": cl_ord_id,
        "orig_cl_ord_id": orig,
        "price": finite(price),
        "qty": finite(qty) if kind != "cancel" else None,
        "market_step": step,
        "status": "rejected" if report.exec_type == "rejected" else "accepted",
        "text": report.text,
    }
