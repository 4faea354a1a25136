"""Hard risk limits checked before any order leaves the engine, and the kill switch.

Limits (a ``[limits]`` table in ``limits.toml``; every key optional, an absent one does not bind)::

    [limits]
    max_inventory = 5.0        # units: a side whose full fill would take |position| beyond it is not quoted
    max_order_rate = 20.0      # order actions (new, replace, cancel) per second of market time, rolling 1 s
    price_collar_ticks = 10    # quotes farther than this from the mid are not sent (or price_collar, price units)
    max_loss = 50.0            # session pnl (mark-to-market) below -max_loss: kill
    max_drawdown = 30.0        # fall of the session pnl from its peak beyond this: kill
    stale_after_s = 2.0        # no valid book for this long: cancel everything, quote again when it is back
    kill_file = "/tmp/morl-mm.kill"   # kill when this file exists

A breach is logged (when a limit starts to bind) and counted (every interval it binds, in
:attr:`RiskManager.breaches` and the monitor's ``morl_mm_risk_breaches_total{limit=...}``). Blocked
sides are cancelled (a cancel always passes: it only lowers risk); an order-rate breach drops the
interval's new orders and replaces beyond the budget (the working orders stay as they are).

The kill switch (SIGUSR1 or SIGTERM once :meth:`RiskManager.install_signal_handlers` is called, the
kill file, :meth:`RiskManager.kill`, or a max-loss / max-drawdown breach) makes the engine cancel
every working order and stop quoting: the session ends.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import math
import signal
import tomllib
from pathlib import Path

log = logging.getLogger("morl_mm.live")

LIMIT_NAMES = ("inventory", "order_rate", "price_collar", "max_loss", "max_drawdown", "stale_data", "kill_switch")


@dataclasses.dataclass(frozen=True)
class RiskLimits:
    """The session's hard limits (``inf`` / ``None``: the limit does not bind). Units in the module docstring."""

    max_inventory: float = math.inf
    max_order_rate: float = math.inf
    price_collar: float | None = None  # price units
    price_collar_ticks: float | None = None  # ticks
    max_loss: float = math.inf
    max_drawdown: float = math.inf
    stale_after_s: float = math.inf
    kill_file: str | None = None

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "kill_file":
                if value is not None and not isinstance(value, str):
                    raise ValueError(f"limits.kill_file: a path (string) expected, got {value!r}")
                continue
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value <= 0:
                raise ValueError(f"limits.{f.name}: a number > 0 expected, got {value!r}")
        if self.price_collar is not None and self.price_collar_ticks is not None:
            raise ValueError("limits: give price_collar (price units) or price_collar_ticks, not both")

    def collar(self, tick_size: float) -> float:
        """The price collar in price units (``inf`` when none)."""
        if self.price_collar_ticks is not None:
            return float(self.price_collar_ticks) * float(tick_size)
        return math.inf if self.price_collar is None else float(self.price_collar)


def load_limits(path: str | Path) -> RiskLimits:
    """Read ``limits.toml`` (a ``[limits]`` table, see the module docstring); one-line ``ValueError`` on bad input."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: no such limits file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid TOML ({err})") from None
    unknown_tables = sorted(set(data) - {"limits"})
    if unknown_tables:
        raise ValueError(f"{path}: unknown table or key {unknown_tables[0]!r}; expected a [limits] table")
    table = data.get("limits", {})
    if not isinstance(table, dict):
        raise ValueError(f"{path}: 'limits' must be a table ([limits])")
    names = [f.name for f in dataclasses.fields(RiskLimits)]
    for key in table:
        if key not in names:
            raise ValueError(f"{path}: unknown key {key!r} in [limits]; expected one of {names}")
    try:
        return RiskLimits(**table)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


@dataclasses.dataclass
class Quote:
    """The quote wanted on one side: whether it rests, its absolute price and quantity."""

    on: bool
    price: float = math.nan
    qty: float = 0.0


class RiskManager:
    """Checks the engine's quotes and actions against :class:`RiskLimits`; holds the kill switch."""

    def __init__(self, limits: RiskLimits | None = None, tick_size: float = 0.0, monitor=None):
        self.limits = limits or RiskLimits()
        self.collar = self.limits.collar(tick_size)
        self.monitor = monitor
        self.breaches: collections.Counter[str] = collections.Counter()
        self.killed = False
        self.kill_reason = ""
        self._binding: set[str] = set()
        self._action_times: collections.deque[float] = collections.deque()
        self._peak_pnl = -math.inf

    # -- breaches --------------------------------------------------------------------------------
    def _breach(self, limit: str, detail: str) -> None:
        self.breaches[limit] += 1
        if self.monitor is not None:
            self.monitor.on_breach(limit)
        if limit not in self._binding:
            log.warning("risk: %s limit binds: %s", limit, detail)
        self._binding.add(limit)

    def _clear(self, limits: tuple[str, ...]) -> None:
        for limit in limits:
            if limit in self._binding:
                log.info("risk: %s limit no longer binds", limit)
                self._binding.discard(limit)

    # -- kill switch -----------------------------------------------------------------------------
    def kill(self, reason: str = "command") -> None:
        """Trip the kill switch: the engine cancels every working order and stops quoting."""
        if not self.killed:
            self.killed, self.kill_reason = True, reason
            self._breach("kill_switch", reason)

    def poll_kill_switch(self) -> bool:
        """True once the switch is tripped (checks the kill file)."""
        if not self.killed and self.limits.kill_file and Path(self.limits.kill_file).exists():
            self.kill(f"kill file {self.limits.kill_file}")
        return self.killed

    @contextlib.contextmanager
    def signal_handlers(self):
        """While active, SIGUSR1 and SIGTERM trip the kill switch (main thread only); restored on exit."""
        previous = {}
        for sig in (signal.SIGUSR1, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda signum, frame: self.kill(f"signal {signal.Signals(signum).name}"))
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    # -- checks before orders leave --------------------------------------------------------------
    def stale(self, now_ns: int, last_valid_ns: int | None) -> bool:
        """No valid book for more than ``stale_after_s`` (counted as a breach while it lasts)."""
        age = math.inf if last_valid_ns is None else (now_ns - last_valid_ns) / 1e9
        if age > self.limits.stale_after_s:
            self._breach("stale_data", f"no valid book for {age:.3g} s (limit {self.limits.stale_after_s:g} s)")
            return True
        self._clear(("stale_data",))
        return False

    def check_quotes(self, quotes: list[Quote], position: float, mid: float) -> list[Quote]:
        """The quotes (bid, ask) that may rest: a side that breaches the inventory limit or the collar is off."""
        out, hit = [], set()
        for side, quote in enumerate(quotes):
            if quote.on:
                sign = 1.0 if side == 0 else -1.0
                if abs(position + sign * quote.qty) > self.limits.max_inventory + 1e-9:
                    self._breach(
                        "inventory",
                        f"position {position:g} and a {quote.qty:g} fill on the "
                        f"{'bid' if side == 0 else 'ask'} would exceed {self.limits.max_inventory:g}",
                    )
                    hit.add("inventory")
                    quote = Quote(False)
                elif not (abs(quote.price - mid) <= self.collar + 1e-9):
                    self._breach(
                        "price_collar",
                        f"price {quote.price:.10g} is {abs(quote.price - mid):.4g} from the "
                        f"mid {mid:.10g} (collar {self.collar:g})",
                    )
                    hit.add("price_collar")
                    quote = Quote(False)
            out.append(quote)
        self._clear(tuple({"inventory", "price_collar"} - hit))
        return out

    def throttle(self, actions: list, now_s: float) -> list:
        """The actions that fit the order-rate budget (cancels always pass, and count)."""
        window = self._action_times
        while window and window[0] <= now_s - 1.0:
            window.popleft()
        budget = self.limits.max_order_rate
        kept, dropped = [], 0
        for action in actions:
            if action.kind != "cancel" and len(window) + 1 > budget + 1e-9:
                dropped += 1
                continue
            window.append(now_s)
            kept.append(action)
        if dropped:
            self._breach("order_rate", f"{len(window) + dropped} order actions within 1 s (limit {budget:g}/s)")
        else:
            self._clear(("order_rate",))
        return kept

    def check_pnl(self, pnl: float) -> None:
        """Trip the kill switch on a max-loss or max-drawdown breach of the session pnl."""
        self._peak_pnl = max(self._peak_pnl, pnl)
        if pnl < -self.limits.max_loss:
            self._breach("max_loss", f"session pnl {pnl:.6g} below -{self.limits.max_loss:g}")
            self.kill("max_loss")
        elif self._peak_pnl - pnl > self.limits.max_drawdown:
            self._breach("max_drawdown", f"drawdown {self._peak_pnl - pnl:.6g} beyond {self.limits.max_drawdown:g}")
            self.kill("max_drawdown")

    def summary(self) -> dict:
        """JSON-ready: the limits, breach counts per limit and the kill switch."""
        limits = {
            k: (None if isinstance(v, float) and math.isinf(v) else v)
            for k, v in dataclasses.asdict(self.limits).items()
        }
        return {
            "limits": limits,
            "breaches": {name: int(self.breaches.get(name, 0)) for name in LIMIT_NAMES},
            "killed": self.killed,
            "kill_reason": self.kill_reason,
        }
