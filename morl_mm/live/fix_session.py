"""The FIX 4.4 session layer over TCP: logon, heartbeats, sequence numbers, resends, logout.

Messages are built and parsed with the ``simplefix`` library (``FixMessage`` / ``FixParser``; it
computes BodyLength 9 and CheckSum 10, which are checked on receipt: a garbled message is dropped,
as the standard says, and its sequence number becomes a gap). One :class:`FixSession` is one FIX
session (a SenderCompID/TargetCompID pair); it outlives its TCP connections, so a dropped and
re-established connection resumes the same session:

* **Logon** (35=A) with HeartBtInt (108); ResetSeqNumFlag (141=Y) when the session starts afresh
  (both sides' numbers restart at 1), none when it resumes with the next numbers of its store.
* **Sequence numbers** (34) are checked in both directions. A message above the expected number
  opens a gap: a ResendRequest (35=2, BeginSeqNo 7 = expected, EndSeqNo 16 = the number before the
  one received) goes out, and the message is queued until the gap is filled. A message below it is
  a duplicate when it carries PossDupFlag (43=Y), and is ignored; without the flag the session
  logs out ("MsgSeqNum too low"), as the standard requires.
* **Resends**: a ResendRequest is answered with the stored application messages of the range, sent
  again under their own numbers with PossDupFlag=Y and OrigSendingTime (122); administrative
  messages are never resent but covered by SequenceReset-GapFill (35=4, 123=Y, NewSeqNo 36).
* **Heartbeats** (35=0) after HeartBtInt seconds without sending; a TestRequest (35=1) after 1.5
  HeartBtInt without receiving, and the connection is dropped after 3 HeartBtInt of silence. A
  TestRequest is answered by a Heartbeat carrying its TestReqID (112); the ``on_test_request``
  hook runs first (the simulated venue matches a market step there: the sync barrier of
  :mod:`morl_mm.live.orders`).
* **Logout** (35=5): the side that logs out waits for the other's Logout before closing.
* SenderCompID (49) / TargetCompID (56) are checked on every message; SendingTime (52) is stamped
  on every message.

:class:`MessageStore` keeps the numbers and the sent application messages, in memory or in a
JSON-lines file, written before each message leaves (so a process that dies and restarts with the
same file resumes without sending an order twice). :class:`FixAcceptor` listens on a TCP port and
hands each logged-on connection to the session of its SenderCompID.

Threads: each connection has one reader thread (it also runs the heartbeat timers); application
callbacks run on it, in sequence-number order. Sending is safe from any thread.
"""

from __future__ import annotations

import collections
import json
import logging
import select
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

try:
    import simplefix
    from simplefix import constants as fc
except ModuleNotFoundError as err:  # the optional extra
    raise ModuleNotFoundError("FIX order routing needs simplefix: pip install 'morl-mm[live]'", name=err.name) from err

log = logging.getLogger(__name__)

BEGIN_STRING = b"FIX.4.4"
ADMIN_TYPES = frozenset(
    {
        fc.MSGTYPE_HEARTBEAT,
        fc.MSGTYPE_TEST_REQUEST,
        fc.MSGTYPE_RESEND_REQUEST,
        fc.MSGTYPE_REJECT,
        fc.MSGTYPE_SEQUENCE_RESET,
        fc.MSGTYPE_LOGOUT,
        fc.MSGTYPE_LOGON,
    }
)
TICK_S = 0.05  # how often a reader thread wakes up to check the heartbeat timers
LIVENESS_PREFIX = "TEST-"  # TestReqID of the session's own liveness checks


class SessionError(ConnectionError):
    """A FIX session could not be established or was lost."""


def _text(value: bytes | None) -> str:
    return "" if value is None else value.decode("ascii", "replace")


def _int(value: bytes | None, default: int = 0) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def checksum_ok(message: simplefix.FixMessage) -> bool:
    """Whether a parsed message's BodyLength (9) and CheckSum (10) are the ones its fields give
    (simplefix computes both when it encodes the fields in the order they were received)."""
    if message.begin_string is None or message.message_type is None:
        return False
    fields = message.encode().split(simplefix.SOH_STR)
    return fields[1] == b"9=" + (message.get(fc.TAG_BODYLENGTH) or b"") and fields[-2] == b"10=" + (
        message.get(fc.TAG_CHECKSUM) or b""
    )


# -- the store ----------------------------------------------------------------------------------------
class MessageStore:
    """A session's sequence numbers and sent application messages (for resends).

    ``path=None`` keeps them in memory (they survive reconnections of one process); a path keeps
    them in a JSON-lines file as well, appended before each message leaves and read back on start,
    so a restarted process resumes the session. Administrative messages take a number but are not
    kept (a resend covers them with a gap fill).
    """

    def __init__(self, path: str | Path | None = None):
        self.path = None if path is None else Path(path)
        self.next_out = 1  # MsgSeqNum of the next message we send
        self.next_in = 1  # MsgSeqNum we expect next
        self.sent: dict[int, tuple[bytes, list[tuple[bytes, bytes]], bytes]] = {}  # seq -> (type, body, time)
        self._file = None
        self._lock = threading.Lock()  # the sending thread and the reader thread both write
        if self.path is not None:
            if self.path.exists():
                self._load()
            self._file = self.path.open("a", encoding="utf-8")

    @property
    def fresh(self) -> bool:
        """Nothing was exchanged yet: the session starts with a reset."""
        return self.next_out == 1 and self.next_in == 1

    def _load(self) -> None:
        lines = self.path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, 1):
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                if number == len(lines):
                    break  # a last line cut short by a crash: what it recorded never left
                raise ValueError(f"{self.path}:{number}: not a line of a FIX message store") from None
            if entry.get("reset"):
                self.next_out, self.next_in, self.sent = 1, 1, {}
            if "out" in entry:
                seq = int(entry["out"])
                self.next_out = max(self.next_out, seq + 1)
                if "type" in entry:
                    body = [(t.encode(), v.encode()) for t, v in entry["body"]]
                    self.sent[seq] = (entry["type"].encode(), body, entry["time"].encode())
            if "in" in entry:
                self.next_in = int(entry["in"])

    def _write(self, entry: dict) -> None:
        if self._file is not None:
            with self._lock:
                self._file.write(json.dumps(entry, separators=(",", ":")) + "\n")
                self._file.flush()

    def reset(self) -> None:
        """Both numbers back to 1, the sent messages forgotten (ResetSeqNumFlag)."""
        self.next_out, self.next_in, self.sent = 1, 1, {}
        self._write({"reset": True})

    def record_sent(
        self, seq: int, msg_type: bytes, body: list[tuple[bytes, bytes]] | None, sending_time: bytes
    ) -> None:
        """Number ``seq`` is taken; an application message (``body`` given) is kept for resends."""
        self.next_out = seq + 1
        if body is None:
            self._write({"out": seq})
            return
        self.sent[seq] = (msg_type, body, sending_time)
        self._write(
            {
                "out": seq,
                "type": msg_type.decode(),
                "time": sending_time.decode(),
                "body": [[t.decode(), v.decode()] for t, v in body],
            }
        )

    def set_next_in(self, seq: int) -> None:
        self.next_in = seq
        self._write({"in": seq})

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


# -- one session ---------------------------------------------------------------------------------------
class _Connection:
    """One TCP connection of a session: the socket, its parser and its reader thread."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.parser = simplefix.FixParser()
        self.alive = True
        self.logged_on = threading.Event()
        self.closed = threading.Event()
        self.thread: threading.Thread | None = None
        self.logon_sent = False  # we sent a Logon on this connection: we are the initiator
        self.logout_sent = False
        self.logout_received = False
        self.last_sent = self.last_received = time.monotonic()
        self.test_request_at: float | None = None  # when our liveness TestRequest left, unanswered

    def shutdown(self) -> None:
        self.alive = False
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass


Callback = Callable[["FixSession", simplefix.FixMessage], None]


class FixSession:
    """One FIX 4.4 session between ``sender`` (our SenderCompID) and ``target`` (see the module docstring).

    ``on_message(session, message)`` receives each application message once, in sequence order
    (a message resent with PossDupFlag is passed on when it fills a gap: ``message.get(43)``
    tells); ``on_test_request(session, test_req_id)`` runs before a TestRequest is answered;
    ``on_disconnect(session)`` after a connection ends. ``counts`` counts messages by direction and
    type (``"in:8"``, ``"out:0"``) and the session events (``"resent"``, ``"gap_fill"``,
    ``"duplicate"``, ``"garbled"``, ``"resend_request"``).
    """

    def __init__(
        self,
        sender: str,
        target: str,
        *,
        store: MessageStore | None = None,
        heartbeat_interval: int = 30,
        on_message: Callback | None = None,
        on_test_request: Callable[[FixSession, str], None] | None = None,
        on_disconnect: Callable[[FixSession], None] | None = None,
    ):
        if not sender or not target:
            raise ValueError("FixSession: sender and target CompIDs must be non-empty")
        if int(heartbeat_interval) < 1:
            raise ValueError(f"FixSession.heartbeat_interval: must be >= 1 second, got {heartbeat_interval}")
        self.sender, self.target = sender.encode(), target.encode()
        self.store = store or MessageStore()
        self.heartbeat_interval = int(heartbeat_interval)
        self.on_message, self.on_test_request, self.on_disconnect = on_message, on_test_request, on_disconnect
        self.counts: collections.Counter = collections.Counter()
        self.logout_text = ""  # the text of the last Logout received
        self.closed_by_logout = False  # the last connection ended with a Logout from the other side
        self._send_lock = threading.RLock()
        self._conn: _Connection | None = None
        self._queue: dict[int, simplefix.FixMessage | None] = {}  # above a gap, by seq (None: handled already)
        self._resend_until = 0  # a ResendRequest is out for the numbers below this
        self._heartbeats = threading.Condition()
        self._test_ids_answered: set[str] = set()

    # -- state -------------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        conn = self._conn
        return conn is not None and conn.alive

    @property
    def logged_on(self) -> bool:
        conn = self._conn
        return conn is not None and conn.alive and conn.logged_on.is_set()

    # -- connections ---------------------------------------------------------------------------------
    def initiate(self, sock: socket.socket, *, reset: bool | None = None, timeout: float = 5.0) -> None:
        """Log on over the connected ``sock`` (initiator). ``reset`` (default: the store is fresh)
        sends ResetSeqNumFlag=Y and restarts both numbers at 1; otherwise the session resumes."""
        reset = self.store.fresh if reset is None else reset
        if reset:
            self.store.reset()
        conn = self._attach(sock)
        self._send_logon(conn, reset)
        deadline = time.monotonic() + timeout
        while not conn.logged_on.wait(TICK_S):
            if conn.closed.is_set() or time.monotonic() > deadline:
                text = self.logout_text or "no Logon reply"
                conn.shutdown()
                raise SessionError(f"FIX logon to {self.target.decode()} failed: {text}")

    def attach_accepted(self, sock: socket.socket, parser: simplefix.FixParser, logon: simplefix.FixMessage) -> None:
        """Take over an accepted connection whose first message, ``logon``, is this session's Logon."""
        old = self._conn
        if old is not None and old.alive:  # a stale connection of the same session: the new one wins
            old.shutdown()
            if old.thread is not None:
                old.thread.join(2.0)
        self._attach(sock, parser, first=logon)

    def _attach(
        self, sock: socket.socket, parser: simplefix.FixParser | None = None, first: simplefix.FixMessage | None = None
    ) -> _Connection:
        conn = _Connection(sock)
        if parser is not None:
            conn.parser = parser
        self._queue.clear()
        self._resend_until = 0
        self._conn = conn
        conn.thread = threading.Thread(
            target=self._read_loop,
            args=(conn, first),
            daemon=True,
            name=f"fix-{self.sender.decode()}-{self.target.decode()}",
        )
        conn.thread.start()
        return conn

    def disconnect(self) -> None:
        """Drop the connection without a Logout (what a network failure does); the session resumes on
        the next logon."""
        conn = self._conn
        if conn is not None:
            conn.shutdown()
            if conn.thread is not None and conn.thread is not threading.current_thread():
                conn.thread.join(2.0)

    def logout(self, text: str = "", timeout: float = 2.0) -> bool:
        """Send Logout, wait for the other side's Logout (or the end of the connection), close.
        True when the other side answered with a Logout."""
        conn = self._conn
        if conn is None or not conn.alive:
            return False
        conn.logout_sent = True
        self._send(fc.MSGTYPE_LOGOUT, [(fc.TAG_TEXT, text)] if text else [])
        conn.closed.wait(timeout)
        answered = conn.logout_received
        self.disconnect()
        return answered

    def wait_closed(self, timeout: float | None = None) -> bool:
        conn = self._conn
        return True if conn is None else conn.closed.wait(timeout)

    # -- sending ---------------------------------------------------------------------------------------
    def send_app(self, msg_type: bytes, body: list[tuple]) -> int:
        """Send an application message (kept for resends); returns its MsgSeqNum. While disconnected
        it is numbered and kept, and reaches the other side through the resend after the next logon."""
        return self._send(msg_type, body, app=True)

    def send_test_request(self, test_req_id: str) -> None:
        self._send(fc.MSGTYPE_TEST_REQUEST, [(fc.TAG_TESTREQID, test_req_id)])

    def wait_heartbeat(self, test_req_id: str, timeout: float) -> bool:
        """Wait for the Heartbeat answering TestRequest ``test_req_id`` (processed in sequence order,
        so every message the other side sent before it has been handled)."""
        deadline = time.monotonic() + timeout
        with self._heartbeats:
            while test_req_id not in self._test_ids_answered:
                left = deadline - time.monotonic()
                if left <= 0 or not self.connected:
                    return False
                self._heartbeats.wait(min(left, 0.2))
            self._test_ids_answered.discard(test_req_id)
        return True

    def _header(
        self, msg_type: bytes, seq: int, *, poss_dup: bool = False, orig_time: bytes | None = None
    ) -> simplefix.FixMessage:
        m = simplefix.FixMessage()
        m.append_pair(fc.TAG_BEGINSTRING, BEGIN_STRING, header=True)
        m.append_pair(fc.TAG_MSGTYPE, msg_type, header=True)
        m.append_pair(fc.TAG_SENDER_COMPID, self.sender, header=True)
        m.append_pair(fc.TAG_TARGET_COMPID, self.target, header=True)
        m.append_pair(fc.TAG_MSGSEQNUM, seq, header=True)
        if poss_dup:
            m.append_pair(fc.TAG_POSSDUPFLAG, fc.POSSDUPFLAG_YES, header=True)
        m.append_utc_timestamp(fc.TAG_SENDING_TIME, precision=3, header=True)
        if orig_time is not None:
            m.append_pair(fc.TAG_ORIGSENDINGTIME, orig_time, header=True)
        return m

    def _send(self, msg_type: bytes, body: list[tuple], *, app: bool = False) -> int:
        body = [(simplefix.message.fix_tag(t), simplefix.message.fix_val(v)) for t, v in body if v is not None]
        with self._send_lock:
            conn = self._conn
            live = (
                conn is not None
                and conn.alive
                and (conn.logged_on.is_set() or msg_type in (fc.MSGTYPE_LOGON, fc.MSGTYPE_LOGOUT))
            )
            if not app and not live:
                return 0  # an administrative message means nothing outside a logged-on connection
            seq = self.store.next_out
            m = self._header(msg_type, seq)
            for tag, value in body:
                m.append_pair(tag, value)
            self.store.record_sent(seq, msg_type, body if app else None, m.get(fc.TAG_SENDING_TIME))
            if live:
                self._write(conn, m, msg_type)
            return seq

    def _write(self, conn: _Connection, m: simplefix.FixMessage, msg_type: bytes) -> None:
        try:
            conn.sock.sendall(m.encode())
        except OSError:
            conn.shutdown()
            return
        conn.last_sent = time.monotonic()
        self.counts[f"out:{msg_type.decode()}"] += 1

    def _send_logon(self, conn: _Connection, reset: bool) -> None:
        body = [(fc.TAG_ENCRYPTMETHOD, fc.ENCRYPTMETHOD_NONE), (fc.TAG_HEARTBTINT, self.heartbeat_interval)]
        if reset:
            body.append((fc.TAG_RESETSEQNUMFLAG, fc.RESETSEQNUMFLAG_YES))
        conn.logon_sent = True
        self._send(fc.MSGTYPE_LOGON, body)

    def _resend(self, conn: _Connection, begin: int, end: int) -> None:
        """Answer a ResendRequest for ``begin..end`` (0: up to the last sent)."""
        with self._send_lock:
            last = self.store.next_out - 1
            end = last if end == 0 or end > last else end
            gap_start = None
            for seq in range(begin, end + 1):
                stored = self.store.sent.get(seq)
                if stored is None:  # administrative (or unknown): covered by a gap fill
                    gap_start = seq if gap_start is None else gap_start
                    continue
                if gap_start is not None:
                    self._gap_fill(conn, gap_start, seq)
                    gap_start = None
                msg_type, body, orig_time = stored
                m = self._header(msg_type, seq, poss_dup=True, orig_time=orig_time)
                for tag, value in body:
                    m.append_pair(tag, value)
                self._write(conn, m, msg_type)
                self.counts["resent"] += 1
            if gap_start is not None:
                self._gap_fill(conn, gap_start, end + 1)

    def _gap_fill(self, conn: _Connection, first: int, new_seq: int) -> None:
        m = self._header(fc.MSGTYPE_SEQUENCE_RESET, first, poss_dup=True)
        m.append_pair(fc.TAG_GAPFILLFLAG, fc.GAPFILLFLAG_YES)
        m.append_pair(fc.TAG_NEWSEQNO, new_seq)
        self._write(conn, m, fc.MSGTYPE_SEQUENCE_RESET)
        self.counts["gap_fill"] += 1

    # -- receiving -------------------------------------------------------------------------------------
    def _read_loop(self, conn: _Connection, first: simplefix.FixMessage | None) -> None:
        try:
            if first is not None:
                self._receive(conn, first)
            while conn.alive:
                try:
                    ready, _, _ = select.select([conn.sock], [], [], TICK_S)
                except (OSError, ValueError):
                    break
                if ready:
                    try:
                        data = conn.sock.recv(65536)
                    except OSError:
                        break
                    if not data:
                        break
                    conn.parser.append_buffer(data)
                    while conn.alive:
                        try:
                            message = conn.parser.get_message()
                        except simplefix.errors.ParsingError:
                            self.counts["garbled"] += 1
                            conn.parser.reset()
                            break
                        if message is None:
                            break
                        self._receive(conn, message)
                self._check_timers(conn)
        finally:
            conn.shutdown()
            self.closed_by_logout = conn.logout_received
            conn.closed.set()
            with self._heartbeats:
                self._heartbeats.notify_all()
            if self.on_disconnect is not None:
                self.on_disconnect(self)

    def _check_timers(self, conn: _Connection) -> None:
        if not conn.alive or not conn.logged_on.is_set():
            return
        now, hb = time.monotonic(), self.heartbeat_interval
        if now - conn.last_received > 3.0 * hb:
            log.warning("FIX %s: no message for %.1f s, dropping the connection", self.target.decode(), 3.0 * hb)
            conn.shutdown()
            return
        if now - conn.last_received > 1.5 * hb and conn.test_request_at is None:
            conn.test_request_at = now
            self.send_test_request(f"{LIVENESS_PREFIX}{int(time.time() * 1000)}")
        if now - conn.last_sent >= hb:
            self._send(fc.MSGTYPE_HEARTBEAT, [])

    def _receive(self, conn: _Connection, m: simplefix.FixMessage) -> None:
        conn.last_received = time.monotonic()
        conn.test_request_at = None
        if not checksum_ok(m) or m.get(fc.TAG_MSGSEQNUM) is None:
            self.counts["garbled"] += 1  # ignored: its number becomes a gap
            return
        msg_type, seq = m.message_type, _int(m.get(fc.TAG_MSGSEQNUM))
        self.counts[f"in:{msg_type.decode()}"] += 1
        if (
            m.begin_string != BEGIN_STRING
            or m.get(fc.TAG_SENDER_COMPID) != self.target
            or m.get(fc.TAG_TARGET_COMPID) != self.sender
        ):
            self._reject(seq, fc.SESSIONREJECTREASON_COMPID_PROBLEM, "wrong BeginString or CompID")
            self._abort(conn, "wrong BeginString or CompID")
            return
        if not conn.logged_on.is_set() and msg_type == fc.MSGTYPE_LOGOUT:  # a refused logon: read the reason
            self._process(conn, m)
            return
        if not conn.logged_on.is_set() and msg_type != fc.MSGTYPE_LOGON:
            self._abort(conn, "the first message must be a Logon")
            return
        if msg_type == fc.MSGTYPE_LOGON:
            self._on_logon(conn, m)
        elif msg_type == fc.MSGTYPE_SEQUENCE_RESET and m.get(fc.TAG_GAPFILLFLAG) != fc.GAPFILLFLAG_YES:
            self.store.set_next_in(_int(m.get(fc.TAG_NEWSEQNO), self.store.next_in))  # reset mode: no seq check
            self._drain(conn)
            return
        expected = self.store.next_in
        if seq < expected:
            if m.get(fc.TAG_POSSDUPFLAG) == fc.POSSDUPFLAG_YES:
                self.counts["duplicate"] += 1
                return
            self._abort(conn, f"MsgSeqNum too low, expecting {expected} but received {seq}")
            return
        if seq > expected:
            handled = msg_type in (fc.MSGTYPE_LOGON, fc.MSGTYPE_RESEND_REQUEST)
            if msg_type == fc.MSGTYPE_RESEND_REQUEST:  # answered at once (both sides may wait on a resend)
                self._process(conn, m)
            self._queue[seq] = None if handled else m
            if self._resend_until <= expected:
                self._resend_until = seq
                self.counts["resend_request"] += 1
                self._send(fc.MSGTYPE_RESEND_REQUEST, [(fc.TAG_BEGINSEQNO, expected), (fc.TAG_ENDSEQNO, seq - 1)])
            return
        if msg_type != fc.MSGTYPE_LOGON:
            self._process(conn, m)
        if msg_type != fc.MSGTYPE_SEQUENCE_RESET:  # a gap fill set the next number itself
            self.store.set_next_in(max(self.store.next_in, seq + 1))
        self._drain(conn)

    def _drain(self, conn: _Connection) -> None:
        """Process the queued messages that are now in order."""
        while self._queue and conn.alive:
            for seq in [s for s in self._queue if s < self.store.next_in]:
                del self._queue[seq]
            seq = self.store.next_in
            if seq not in self._queue:
                break
            m = self._queue.pop(seq)
            if m is not None:
                self._process(conn, m)
            if m is None or m.message_type != fc.MSGTYPE_SEQUENCE_RESET:
                self.store.set_next_in(max(self.store.next_in, seq + 1))
        if self._queue and conn.alive and self._resend_until <= self.store.next_in:  # another hole
            self._resend_until = min(self._queue)
            self.counts["resend_request"] += 1
            self._send(
                fc.MSGTYPE_RESEND_REQUEST,
                [(fc.TAG_BEGINSEQNO, self.store.next_in), (fc.TAG_ENDSEQNO, self._resend_until - 1)],
            )

    def _on_logon(self, conn: _Connection, m: simplefix.FixMessage) -> None:
        if conn.logged_on.is_set():
            return
        interval = _int(m.get(fc.TAG_HEARTBTINT), -1)
        if interval < 1:
            self._abort(conn, "Logon without a valid HeartBtInt (108)")
            return
        if not conn.logon_sent:  # we accept: take the initiator's interval and answer with our Logon
            reset = m.get(fc.TAG_RESETSEQNUMFLAG) == fc.RESETSEQNUMFLAG_YES
            self.heartbeat_interval = interval
            if reset:
                self.store.reset()
            conn.logged_on.set()
            self._send_logon(conn, reset)
        else:  # the acceptor's answer to our Logon
            conn.logged_on.set()

    def _process(self, conn: _Connection, m: simplefix.FixMessage) -> None:
        msg_type = m.message_type
        if msg_type == fc.MSGTYPE_HEARTBEAT:
            test_id = m.get(fc.TAG_TESTREQID)
            if test_id is not None and not test_id.startswith(LIVENESS_PREFIX.encode()):
                with self._heartbeats:
                    self._test_ids_answered.add(_text(test_id))
                    self._heartbeats.notify_all()
        elif msg_type == fc.MSGTYPE_TEST_REQUEST:
            test_id = _text(m.get(fc.TAG_TESTREQID))
            if self.on_test_request is not None:
                self._callback(self.on_test_request, test_id)
            self._send(fc.MSGTYPE_HEARTBEAT, [(fc.TAG_TESTREQID, test_id)])
        elif msg_type == fc.MSGTYPE_RESEND_REQUEST:
            self._resend(conn, _int(m.get(fc.TAG_BEGINSEQNO), 1), _int(m.get(fc.TAG_ENDSEQNO)))
        elif msg_type == fc.MSGTYPE_SEQUENCE_RESET:  # gap fill, in order
            new_seq = _int(m.get(fc.TAG_NEWSEQNO))
            if new_seq > self.store.next_in:
                self.store.set_next_in(new_seq)
        elif msg_type == fc.MSGTYPE_LOGOUT:
            conn.logout_received = True
            self.logout_text = _text(m.get(fc.TAG_TEXT))
            if not conn.logout_sent:
                conn.logout_sent = True
                self._send(fc.MSGTYPE_LOGOUT, [])
            conn.shutdown()
        elif msg_type == fc.MSGTYPE_REJECT:
            log.warning(
                "FIX %s rejected our message %s: %s",
                self.target.decode(),
                _text(m.get(fc.TAG_REFSEQNUM)),
                _text(m.get(fc.TAG_TEXT)),
            )
        elif self.on_message is not None:
            self._callback(self.on_message, m)

    def _callback(self, callback, argument) -> None:
        """Run an application callback; its failure is logged and the session carries on."""
        try:
            callback(self, argument)
        except Exception:  # noqa: BLE001 - an application bug must not take the session down silently
            log.exception("FIX %s: the application failed on a message", self.target.decode())
            self.counts["application_error"] += 1

    def _reject(self, ref_seq: int, reason: bytes, text: str) -> None:
        self._send(
            fc.MSGTYPE_REJECT, [(fc.TAG_REFSEQNUM, ref_seq), (fc.TAG_SESSIONREJECTREASON, reason), (fc.TAG_TEXT, text)]
        )

    def _abort(self, conn: _Connection, text: str) -> None:
        """A session-level error: Logout with the reason, then drop the connection."""
        log.warning("FIX %s: %s", self.target.decode(), text)
        self.logout_text = text
        conn.logout_sent = True
        self._send(fc.MSGTYPE_LOGOUT, [(fc.TAG_TEXT, text)])
        conn.shutdown()


# -- the acceptor ---------------------------------------------------------------------------------------
class FixAcceptor:
    """Listens on ``host:port`` (port 0: a free one, see :attr:`port`) as SenderCompID ``sender`` and
    hands each connection whose first message is a Logon to the session of its SenderCompID:
    ``session_for(target)`` returns it (the same object on every reconnection, so the numbers carry
    on), or None to refuse the logon."""

    def __init__(
        self,
        sender: str,
        session_for: Callable[[str], FixSession | None],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        logon_timeout: float = 5.0,
    ):
        if not sender:
            raise ValueError("FixAcceptor: sender CompID must be non-empty")
        self.sender = sender.encode()
        self.session_for = session_for
        self.logon_timeout = logon_timeout
        self._listener = socket.create_server((host, port))
        self.host, self.port = self._listener.getsockname()[:2]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True, name=f"fix-acceptor-{self.port}")

    def start(self) -> FixAcceptor:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting (open sessions are left to their owner)."""
        self._stop.set()
        self._thread.join(2.0)
        self._listener.close()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._listener], [], [], TICK_S * 2)
            if not ready:
                continue
            try:
                sock, _ = self._listener.accept()
            except OSError:
                continue
            threading.Thread(target=self._logon, args=(sock,), daemon=True).start()

    def _logon(self, sock: socket.socket) -> None:
        """Read the connection's first message; a Logon to us goes to its session, anything else is dropped."""
        parser = simplefix.FixParser()
        deadline = time.monotonic() + self.logon_timeout
        first = None
        try:
            while first is None and time.monotonic() < deadline:
                ready, _, _ = select.select([sock], [], [], TICK_S * 2)
                if ready:
                    data = sock.recv(65536)
                    if not data:
                        break
                    parser.append_buffer(data)
                    first = parser.get_message()
        except (OSError, simplefix.errors.ParsingError):
            first = None
        session = None
        if (
            first is not None
            and first.message_type == fc.MSGTYPE_LOGON
            and checksum_ok(first)
            and first.get(fc.TAG_TARGET_COMPID) == self.sender
            and first.get(fc.TAG_SENDER_COMPID)
        ):
            session = self.session_for(_text(first.get(fc.TAG_SENDER_COMPID)))
        if session is None:
            log.warning(
                "FIX acceptor %s: refused a connection (no Logon to %s from a known CompID)",
                self.port,
                self.sender.decode(),
            )
            sock.close()
            return
        session.attach_accepted(sock, parser, first)
