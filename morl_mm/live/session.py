"""A paper-trading (or live) session as ``morl-mm serve`` runs it: policy file + feed + venue + limits + monitor.

:func:`run_session` loads the ``.mmpol``, opens the feed (:class:`~morl_mm.live.source.CaptureSource`),
the venue (``"sim"``: a :class:`~morl_mm.live.venue.MatchingVenue` on the same capture, in process;
``"fix://HOST:PORT"``: the FIX 4.4 gateway of :mod:`morl_mm.live.fix`), the risk limits
(``limits.toml``), the monitor (Prometheus on 127.0.0.1 when a port is given) and runs the
:class:`~morl_mm.live.engine.QuoteEngine` to the end of the feed or the kill switch; it returns the
session summary and writes the end-of-session report when ``out`` is given.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from pathlib import Path
from urllib.parse import urlparse

from morl_mm.evaluation.backtest import on_venue_ticks
from morl_mm.live.engine import QuoteEngine
from morl_mm.live.monitor import Monitor, expectations_from_header, load_expectations, write_session_report
from morl_mm.live.risk import RiskManager, load_limits
from morl_mm.live.source import CaptureSource
from morl_mm.live.venue import MatchingVenue, SimGateway
from morl_mm.policies.io import load_policy

log = logging.getLogger("morl_mm.live")


def pin_to_cpu(cpu: int) -> None:
    """Run this process (every thread it has, and those it starts later) on CPU ``cpu`` only.

    A low-latency habit: XLA's CPU runtime hands even a tiny computation to a worker thread, and waking
    a thread on another core costs tens of microseconds; on one core the decision's p50 halves
    (README, Decision latency). ``ValueError`` when the CPU is not one this process may use.
    """
    allowed = sorted(os.sched_getaffinity(0))
    if cpu not in allowed:
        raise ValueError(f"--cpu: CPU {cpu} is not available to this process (available: {allowed})")
    for tid in os.listdir("/proc/self/task"):  # the calling thread's affinity alone would leave XLA's pool
        try:
            os.sched_setaffinity(int(tid), {cpu})
        except (ProcessLookupError, PermissionError):  # a thread that ended meanwhile
            pass


def parse_venue(venue: str) -> tuple[str, str | None, int | None]:
    """``"sim"`` or ``"fix://HOST:PORT"`` as ``(kind, host, port)``; ``ValueError`` naming ``--venue`` otherwise."""
    if venue == "sim":
        return "sim", None, None
    url = urlparse(venue)
    try:
        port = url.port
    except ValueError:
        port = None
    if url.scheme != "fix" or not url.hostname or port is None:
        raise ValueError(f"--venue: 'sim' or 'fix://HOST:PORT' expected, got {venue!r}")
    return "fix", url.hostname, port


def open_gateway(venue: str, source: CaptureSource, env_params, fill_model: str):
    """The gateway of ``venue`` (see :func:`parse_venue`)."""
    kind, host, port = parse_venue(venue)
    if kind == "sim":
        return SimGateway(MatchingVenue(source.tape, env_params, fill_model, reference_price=source.reference_price))
    try:
        from morl_mm.live.fix import FixGateway
    except ImportError:
        raise ValueError(
            "--venue fix://: the FIX gateway (morl_mm.live.fix) is not part of this installation; use --venue sim"
        ) from None
    return FixGateway.connect(host, port)


def run_session(
    policy_path: str | Path,
    feed: str | Path,
    *,
    format: str = "auto",
    speed="max",
    venue: str = "sim",
    metrics_port: int | None = None,
    limits: str | Path | None = None,
    out: str | Path | None = None,
    start: float | None = None,
    end: float | None = None,
    fill_model: str = "queue",
    expect: str | Path | None = None,
    seed: int = 0,
    on_ready=None,
) -> dict:
    """Run one session (module docstring); ``on_ready(engine)`` is called before the first interval."""
    parse_venue(venue)  # a bad --venue fails before anything is read
    path = Path(policy_path)
    loaded = load_policy(path)
    label = loaded.header.get("label") or path.stem
    risk_limits = load_limits(limits) if limits else None
    source = CaptureSource(feed, format, dt=float(loaded.env_params.dt), speed=speed, start=start, end=end)
    env_params = on_venue_ticks(loaded.env_params, source.tick_size)
    expectations = load_expectations(expect, label) if expect else expectations_from_header(loaded.header)
    monitor = Monitor(loaded.env.objectives, env_params.replace(mid0=0.0, initial_inventory=0.0), expectations)
    if metrics_port is not None:
        monitor.serve(metrics_port)
    try:
        gateway = open_gateway(venue, source, env_params, fill_model)
        risk = RiskManager(risk_limits, source.tick_size, monitor)
        engine = QuoteEngine(
            loaded.policy, loaded.env, env_params, gateway, source, risk, monitor, seed=seed, label=label
        )
        if on_ready is not None:
            on_ready(engine)
        with _signals(risk):
            summary = engine.run()
        summary.update(venue=venue, speed=str(speed), policy_file=str(path))
        if out is not None:
            summary["report"] = [str(p) for p in write_session_report(summary, out)]
        return summary
    finally:
        monitor.close()


@contextlib.contextmanager
def _signals(risk: RiskManager):
    """SIGUSR1/SIGTERM trip the kill switch where signals can be handled (the main thread)."""
    if threading.current_thread() is threading.main_thread():
        with risk.signal_handlers():
            yield
    else:
        yield
