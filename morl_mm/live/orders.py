"""Order actions, execution reports and the gateway interface between the quote engine and a venue.

The quote engine (:mod:`morl_mm.live.engine`) turns each decision into :class:`OrderAction` s
(new / cancel-replace / cancel per side, only when the quote changes) and hands them to a
:class:`Gateway`; the gateway returns :class:`ExecutionReport` s. Two gateways share this
contract: an in-process simulated venue (``--venue sim``) and FIX 4.4 to a venue over TCP
(``--venue fix://HOST:PORT``), so the engine never knows which one it talks to.

Time is the market's: ``market_step`` is the index of the decision interval on the replayed tape.
:meth:`Gateway.sync` is a barrier: when it returns, the venue has matched every working order
against the market of interval ``market_step`` and every report up to then has been returned. This
makes a paper-trading session deterministic at any replay speed (FIX: a TestRequest whose
TestReqID names the step, answered by a Heartbeat after the step's execution reports).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal, Protocol

Side = Literal["buy", "sell"]  # buy: our bid; sell: our ask
ActionKind = Literal["new", "replace", "cancel"]
ExecType = Literal["new", "replaced", "canceled", "fill", "partial_fill", "rejected"]

SIDES: tuple[Side, Side] = ("buy", "sell")  # index 0 = bid, 1 = ask, as the env's (bid, ask) arrays


@dataclasses.dataclass(frozen=True)
class OrderAction:
    """One order action of the engine.

    ``new``: a limit order ``cl_ord_id`` on ``side`` at ``price`` for ``qty``; ``replace``: the order
    ``orig_cl_ord_id`` becomes ``cl_ord_id`` at the new price/qty (its queue place is lost unless the
    price is unchanged); ``cancel``: the order ``orig_cl_ord_id`` is cancelled (``cl_ord_id`` names the
    request).
    """

    kind: ActionKind
    side: Side
    cl_ord_id: str
    price: float = float("nan")
    qty: float = 0.0
    orig_cl_ord_id: str | None = None

    def __post_init__(self):
        if self.kind not in ("new", "replace", "cancel"):
            raise ValueError(f"OrderAction.kind: must be new, replace or cancel, got {self.kind!r}")
        if self.side not in SIDES:
            raise ValueError(f"OrderAction.side: must be buy or sell, got {self.side!r}")
        if self.kind != "new" and not self.orig_cl_ord_id:
            raise ValueError(f"OrderAction: a {self.kind} needs orig_cl_ord_id")


@dataclasses.dataclass(frozen=True)
class ExecutionReport:
    """A venue's report on one order (FIX ExecutionReport, 35=8).

    ``last_qty`` / ``last_px``: the quantity and price of this fill (0 / NaN when not a fill);
    ``leaves_qty``: what still rests; ``cum_qty``: filled so far; ``market_step``: the interval the
    report belongs to; ``text``: the reason of a reject.
    """

    cl_ord_id: str
    side: Side
    exec_type: ExecType
    last_qty: float = 0.0
    last_px: float = float("nan")
    leaves_qty: float = 0.0
    cum_qty: float = 0.0
    market_step: int = -1
    orig_cl_ord_id: str | None = None
    text: str = ""

    @property
    def is_fill(self) -> bool:
        return self.exec_type in ("fill", "partial_fill")


class Gateway(Protocol):
    """Where the engine's orders go (see the module docstring)."""

    def send(self, actions: Sequence[OrderAction], market_step: int) -> None:
        """Submit order actions decided at the start of interval ``market_step``."""

    def sync(self, market_step: int) -> list[ExecutionReport]:
        """Barrier: the venue has matched interval ``market_step``; every report since the last sync."""

    def close(self) -> None:
        """Cancel nothing, just end the session cleanly (FIX: Logout)."""
