"""Online monitoring of a quote-engine session: the article's metrics for Prometheus, alerts against the
study's expectations, and the end-of-session report.

Every interval updates the running figures (inventory, session pnl and drawdown, the quoting ratio as
the env's ``quoting_ratio`` objective defines it, fills and fill rates per side, order and report
counts, risk breaches, decision latency); every finished episode adds the market-making metrics of
:func:`morl_mm.evaluation.metrics.episode_metrics` (the definitions the backtest and the study use:
realized and effective spread, slippage, per-side quoting ratio, drawdown), and the session's Sharpe
ratios and inventory moments are recomputed with :mod:`morl_mm.evaluation.metrics` over all its steps.

Alerts: where the expected objective values of the policy are known (:func:`load_expectations`: the
study that selected it, a ``morl-mm backtest --json`` of it, or its ``.mmpol`` header), after each
finished episode the session's mean of each objective is compared with the band
``expected ± sqrt(ci² + (1.96 std / sqrt(n))²)`` (``ci``: the half-width of the expectation's own 95%
interval, ``std``: the spread of one episode, ``n``: the session's finished episodes); outside it an
alert is logged and counted (``morl_mm_alerts_total{metric}``; ``morl_mm_alert{metric}`` is 1 while
it lasts).

Exposed with ``prometheus_client`` on 127.0.0.1 (:meth:`Monitor.serve`; port 0 picks a free one);
metric names start with ``morl_mm_`` (:data:`METRIC_NAMES`).
"""

from __future__ import annotations

import collections
import html
import json
import logging
import math
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from morl_mm.atomic import atomic_output
from morl_mm.env.params import EnvParams
from morl_mm.evaluation import metrics as mm_metrics
from morl_mm.evaluation.backtest import finite_or_none
from morl_mm.live.risk import LIMIT_NAMES
from morl_mm.plots.report import CSS, html_table
from morl_mm.study.result import load_result

log = logging.getLogger("morl_mm.live")

LATENCY_BUCKETS_S = (10e-6, 20e-6, 50e-6, 100e-6, 200e-6, 500e-6, 1e-3, 5e-3, 20e-3, 0.1)
LATENCY_WINDOW = 100_000  # decisions kept for the percentiles
Z95 = 1.959963984540054

METRIC_NAMES = (
    "morl_mm_intervals_total",
    "morl_mm_episodes_total",
    "morl_mm_decision_latency_seconds",
    "morl_mm_decision_latency_p50_us",
    "morl_mm_decision_latency_p99_us",
    "morl_mm_inventory",
    "morl_mm_pnl",
    "morl_mm_drawdown",
    "morl_mm_max_drawdown",
    "morl_mm_quoting_ratio",
    "morl_mm_episode_quoting_ratio",
    "morl_mm_fills_total",
    "morl_mm_fill_rate",
    "morl_mm_realized_spread",
    "morl_mm_effective_spread",
    "morl_mm_slippage",
    "morl_mm_step_sharpe",
    "morl_mm_episode_sharpe",
    "morl_mm_inventory_skewness",
    "morl_mm_objective",
    "morl_mm_orders_total",
    "morl_mm_reports_total",
    "morl_mm_risk_breaches_total",
    "morl_mm_kill_switch",
    "morl_mm_alerts_total",
    "morl_mm_alert",
    "morl_mm_expected",
    "morl_mm_market_data_bad_lines_total",
)


_episode_metrics = jax.jit(mm_metrics.episode_metrics, static_argnums=2)


class Expectation(NamedTuple):
    """What the study predicts for one objective per episode: mean, CI half-width, std of one episode, samples."""

    value: float
    ci: float = 0.0
    std: float | None = None
    samples: int | None = None

    def band(self, n: int) -> tuple[float, float]:
        """The range the mean of ``n`` session episodes is expected in (module docstring)."""
        ci = 0.0 if self.ci is None or not np.isfinite(self.ci) else float(self.ci)
        spread = 0.0 if self.std is None or not np.isfinite(self.std) else Z95 * float(self.std) / math.sqrt(max(n, 1))
        half = math.hypot(ci, spread)
        return self.value - half, self.value + half


def expectations_from_header(header: dict) -> dict[str, Expectation]:
    """Expectations a ``.mmpol`` header carries: ``objectives`` ({name: value}) with optional ``ci``,
    ``std`` ({name: value}) and ``samples`` (an int); empty when the header has none."""
    values = header.get("objectives") or {}
    ci, std = header.get("ci") or {}, header.get("std") or {}
    samples = header.get("samples")
    return {
        name: Expectation(
            float(v), float(ci.get(name, 0.0) or 0.0), None if std.get(name) is None else float(std[name]), samples
        )
        for name, v in values.items()
        if v is not None
    }


def load_expectations(path: str | Path, label: str) -> dict[str, Expectation]:
    """The expected objectives of policy ``label``: from a study (its folder or ``study.nc``: the
    ``replay`` scenario when the study has one, else ``base``) or a ``morl-mm backtest --json`` file."""
    path = Path(path)
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"{path}: not a readable backtest JSON ({err})") from None
        rows = [p for p in data.get("policies", []) if p.get("label") == label] or data.get("policies", [])[:1]
        if not rows:
            raise ValueError(f"{path}: no policy in the backtest JSON")
        row, n = rows[0], data.get("windows")
        return {
            o: Expectation(
                float(v),
                float(row["ci"].get(o) or 0.0),
                None if not n else float(row["ci"].get(o) or 0.0) * math.sqrt(n) / Z95,
                n,
            )
            for o, v in row["objectives"].items()
            if v is not None
        }
    return expectations_from_header(load_result(path).expectations(label))


class Monitor:
    """The session's online metrics, alerts and report (module docstring).

    Args:
        objectives: the policy's objective names (the env's order).
        metrics_params: the params the market-making metrics read (the replay's: ``mid0 = 0``).
        expectations: ``{objective: Expectation}`` to alert against (none: no alerts).
        markout_steps: mark-out horizon of the realized spread, in intervals.
    """

    def __init__(
        self,
        objectives,
        metrics_params: EnvParams,
        expectations: dict[str, Expectation] | None = None,
        markout_steps: int = mm_metrics.DEFAULT_MARKOUT_STEPS,
    ):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.objectives = tuple(objectives)
        self.params = metrics_params
        self.dt = float(metrics_params.dt)
        self.steps_per_episode = int(metrics_params.n_steps)
        self.expectations = dict(expectations or {})
        self.markout_steps = int(markout_steps)
        self.registry = r = CollectorRegistry()
        g = lambda name, doc, labels=(): Gauge(name, doc, labels, registry=r)  # noqa: E731
        c = lambda name, doc, labels=(): Counter(name.removesuffix("_total"), doc, labels, registry=r)  # noqa: E731
        self.m_intervals = c("morl_mm_intervals_total", "decision intervals run")
        self.m_episodes = c("morl_mm_episodes_total", "policy episodes finished")
        self.m_latency = Histogram(
            "morl_mm_decision_latency_seconds",
            "observation + policy + order mapping + risk checks, per decision",
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.m_p50 = g("morl_mm_decision_latency_p50_us", "median decision latency (microseconds)")
        self.m_p99 = g("morl_mm_decision_latency_p99_us", "99th percentile decision latency (microseconds)")
        self.m_inventory = g("morl_mm_inventory", "position (units)")
        self.m_pnl = g("morl_mm_pnl", "session pnl, mark-to-market at the mid (price units)")
        self.m_drawdown = g("morl_mm_drawdown", "fall of the session pnl from its peak (price units)")
        self.m_max_drawdown = g("morl_mm_max_drawdown", "largest drawdown of the session pnl (price units)")
        self.m_quoting = g(
            "morl_mm_quoting_ratio",
            "fraction of time quoted within the competitive distance, "
            "both sides (the quoting_ratio objective), session so far",
        )
        self.m_episode_quoting = g("morl_mm_episode_quoting_ratio", "quoting ratio of the last episode", ["side"])
        self.m_fills = c("morl_mm_fills_total", "fill events", ["side"])
        self.m_fill_rate = g("morl_mm_fill_rate", "fill events per second of market time", ["side"])
        self.m_realized = g(
            "morl_mm_realized_spread", "realized spread per unit traded, finished episodes (price units)"
        )
        self.m_effective = g("morl_mm_effective_spread", "effective spread per unit traded (price units)")
        self.m_slippage = g("morl_mm_slippage", "slippage per unit traded, positive = cost (price units)")
        self.m_step_sharpe = g("morl_mm_step_sharpe", "Sharpe ratio of per-interval pnl, per second")
        self.m_episode_sharpe = g("morl_mm_episode_sharpe", "Sharpe ratio of episode pnl across episodes")
        self.m_skew = g("morl_mm_inventory_skewness", "skewness of the inventory over the session's intervals")
        self.m_objective = g("morl_mm_objective", "session mean of the objective over finished episodes", ["objective"])
        self.m_orders = c("morl_mm_orders_total", "order actions sent", ["kind"])
        self.m_reports = c("morl_mm_reports_total", "execution reports received", ["exec_type"])
        self.m_breaches = c("morl_mm_risk_breaches_total", "intervals in which a risk limit bound", ["limit"])
        self.m_kill = g("morl_mm_kill_switch", "1 once the kill switch tripped")
        self.m_alerts = c("morl_mm_alerts_total", "alerts: a metric left its expected band", ["metric"])
        self.m_alert = g("morl_mm_alert", "1 while the metric is outside its expected band", ["metric"])
        self.m_expected = g("morl_mm_expected", "expected band of a metric", ["metric", "bound"])
        self.m_bad_lines = c("morl_mm_market_data_bad_lines_total", "malformed market-data lines skipped")
        for name, exp in self.expectations.items():
            self.m_expected.labels(name, "value").set(exp.value)
        for metric, labels in (
            (self.m_fills, mm_metrics.SIDES),
            (self.m_fill_rate, mm_metrics.SIDES),
            (self.m_orders, ("new", "replace", "cancel")),
            (self.m_breaches, LIMIT_NAMES),
            (self.m_reports, ("new", "replaced", "canceled", "fill", "partial_fill", "rejected")),
        ):
            for label in labels:  # every series exists from the start (an absent series reads as no data)
                metric.labels(label)
        self._server = None
        self.port: int | None = None
        # running state
        self.intervals = 0
        self.latencies: collections.deque[float] = collections.deque(maxlen=LATENCY_WINDOW)
        self.fills = np.zeros(2)
        self.quoting_sum = 0.0
        self.peak_pnl = 0.0
        self.max_drawdown = 0.0
        self.pnl = 0.0
        self.step_pnl: list[float] = []
        self.inventory_path: list[float] = []
        self.episodes: list[dict] = []  # metrics of finished episodes
        self.alerts: list[dict] = []
        self._alerting: set[str] = set()

    # -- the endpoint ----------------------------------------------------------------------------
    def serve(self, port: int = 0) -> int:
        """Serve the metrics at ``http://127.0.0.1:<port>/metrics`` (port 0: a free one); the bound port."""
        from prometheus_client import start_http_server

        self._server, _ = start_http_server(int(port), addr="127.0.0.1", registry=self.registry)
        self.port = int(self._server.server_port)
        log.info("metrics on http://127.0.0.1:%d/metrics", self.port)
        return self.port

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- events from the engine ------------------------------------------------------------------
    def on_decision(self, seconds: float) -> None:
        self.latencies.append(seconds)
        self.m_latency.observe(seconds)
        if len(self.latencies) % 100 == 1:
            self._latency_gauges()

    def on_orders(self, actions) -> None:
        for action in actions:
            self.m_orders.labels(action.kind).inc()

    def on_report(self, report) -> None:
        self.m_reports.labels(report.exec_type).inc()

    def on_breach(self, limit: str) -> None:
        self.m_breaches.labels(limit).inc()
        if limit == "kill_switch":
            self.m_kill.set(1)

    def on_bad_lines(self, count: int) -> None:
        if count > 0:
            self.m_bad_lines.inc(count)

    def on_interval(self, reward: np.ndarray, info, pnl: float, inventory: float) -> None:
        """After an interval's settlement: its reward vector, StepInfo (numpy) and the session's pnl/position."""
        self.intervals += 1
        self.m_intervals.inc()
        for side, units in enumerate((float(info.fill_bid), float(info.fill_ask))):
            if units > 0:
                self.fills[side] += 1
                self.m_fills.labels(mm_metrics.SIDES[side]).inc()
        seconds = self.intervals * self.dt
        for side in range(2):
            self.m_fill_rate.labels(mm_metrics.SIDES[side]).set(self.fills[side] / seconds)
        if "quoting_ratio" in self.objectives:
            self.quoting_sum += float(reward[self.objectives.index("quoting_ratio")])
            self.m_quoting.set(self.quoting_sum * self.steps_per_episode / self.intervals)
        self.step_pnl.append(pnl - self.pnl)
        self.pnl = pnl
        self.peak_pnl = max(self.peak_pnl, pnl)
        self.max_drawdown = max(self.max_drawdown, self.peak_pnl - pnl)
        self.inventory_path.append(inventory)
        self.m_pnl.set(pnl)
        self.m_inventory.set(inventory)
        self.m_drawdown.set(self.peak_pnl - pnl)
        self.m_max_drawdown.set(self.max_drawdown)

    def on_episode(self, trajectory, complete: bool, objectives: np.ndarray) -> dict:
        """A finished (or, at the session's end, cut) episode: its metrics, then the alert checks."""
        m = _episode_metrics(trajectory, self.params, self.markout_steps)
        row = {
            "complete": bool(complete),
            "objectives": {o: float(v) for o, v in zip(self.objectives, objectives)},
            "pnl": float(m.pnl),
            "max_drawdown": float(m.max_drawdown),
            "realized_spread": float(m.realized_spread),
            "effective_spread": float(m.effective_spread),
            "slippage": float(m.slippage),
            "traded_units": np.asarray(m.traded_units, float).tolist(),
            "fills": np.asarray(m.fills, float).tolist(),
            "fill_rate": np.asarray(m.fill_rate, float).tolist(),
            "quoting_ratio": np.asarray(m.quoting_ratio, float).tolist(),
        }
        self.episodes.append(row)
        self.m_episodes.inc()
        for side in range(2):
            self.m_episode_quoting.labels(mm_metrics.SIDES[side]).set(row["quoting_ratio"][side])
        self._session_gauges()
        if complete:
            self._check_alerts()
        return row

    # -- derived figures -------------------------------------------------------------------------
    def _latency_gauges(self) -> None:
        p50, p99 = self.latency_us()
        self.m_p50.set(p50)
        self.m_p99.set(p99)

    def latency_us(self) -> tuple[float, float]:
        """Decision latency p50, p99 in microseconds (NaN before the first decision)."""
        if not self.latencies:
            return math.nan, math.nan
        p50, p99 = np.percentile(np.asarray(self.latencies) * 1e6, [50, 99])
        return float(p50), float(p99)

    def session_metrics(self) -> dict:
        """The session's market-making metrics (JSON-ready; None where undefined)."""
        done = self.episodes
        spreads = {
            name: mm_metrics.pooled_spread([e[name] for e in done], [sum(e["traded_units"]) for e in done])
            if done
            else math.nan
            for name in ("realized_spread", "effective_spread", "slippage")
        }
        mean, std, skew = mm_metrics.inventory_moments(self.inventory_path) if self.inventory_path else (math.nan,) * 3
        seconds = self.intervals * self.dt
        complete = [e for e in done if e["complete"]]
        p50, p99 = self.latency_us()
        quoting = (
            self.quoting_sum * self.steps_per_episode / self.intervals
            if self.intervals and "quoting_ratio" in self.objectives
            else math.nan
        )
        out = {
            **spreads,
            "quoting_ratio": quoting,
            "quoting_ratio_bid": _mean([e["quoting_ratio"][0] for e in done]),
            "quoting_ratio_ask": _mean([e["quoting_ratio"][1] for e in done]),
            "inventory_mean": mean,
            "inventory_std": std,
            "inventory_skewness": skew,
            "pnl": self.pnl,
            "max_drawdown": self.max_drawdown,
            "step_sharpe": mm_metrics.step_sharpe(self.step_pnl, self.dt) if len(self.step_pnl) > 1 else math.nan,
            "episode_sharpe": mm_metrics.pnl_sharpe([e["pnl"] for e in complete]) if len(complete) > 1 else math.nan,
            "fills_bid": float(self.fills[0]),
            "fills_ask": float(self.fills[1]),
            "fill_rate_bid": self.fills[0] / seconds if seconds else math.nan,
            "fill_rate_ask": self.fills[1] / seconds if seconds else math.nan,
            "decision_latency_p50_us": p50,
            "decision_latency_p99_us": p99,
            "decisions": len(self.latencies),
        }
        return {k: finite_or_none(v) for k, v in out.items()}

    def _session_gauges(self) -> None:
        m = self.session_metrics()
        for gauge, key in (
            (self.m_realized, "realized_spread"),
            (self.m_effective, "effective_spread"),
            (self.m_slippage, "slippage"),
            (self.m_step_sharpe, "step_sharpe"),
            (self.m_episode_sharpe, "episode_sharpe"),
            (self.m_skew, "inventory_skewness"),
        ):
            gauge.set(math.nan if m[key] is None else m[key])
        self._latency_gauges()
        for o, v in self.session_objectives().items():
            self.m_objective.labels(o).set(math.nan if v is None else v)

    def session_objectives(self) -> dict:
        """Mean objective vector over the finished (complete) episodes."""
        complete = [e for e in self.episodes if e["complete"]]
        return {o: finite_or_none(_mean([e["objectives"][o] for e in complete])) for o in self.objectives}

    def _check_alerts(self) -> None:
        n = sum(e["complete"] for e in self.episodes)
        means = self.session_objectives()
        for name, exp in self.expectations.items():
            value = means.get(name)
            if value is None:
                continue
            low, high = exp.band(n)
            self.m_expected.labels(name, "low").set(low)
            self.m_expected.labels(name, "high").set(high)
            outside = not low <= value <= high
            self.m_alert.labels(name).set(1 if outside else 0)
            if outside:
                self.m_alerts.labels(name).inc()
                alert = {"metric": name, "episodes": n, "value": value, "expected": exp.value, "band": [low, high]}
                self.alerts.append(alert)
                if name not in self._alerting:
                    log.warning(
                        "alert: %s = %.6g over %d episode(s), outside the expected band [%.6g, %.6g]",
                        name,
                        value,
                        n,
                        low,
                        high,
                    )
                self._alerting.add(name)
            else:
                self._alerting.discard(name)

    def summary(self) -> dict:
        """JSON-ready: session metrics, objectives, episodes, expectations and alerts."""
        return {
            "metrics": self.session_metrics(),
            "objectives": self.session_objectives(),
            "episodes": self.episodes,
            "expectations": {k: e._asdict() for k, e in self.expectations.items()},
            "alerts": self.alerts,
            "alerts_active": sorted(self._alerting),
            "metrics_port": self.port,
        }


def _mean(values) -> float:
    values = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(values)) if values else math.nan


# -- the end-of-session report ---------------------------------------------------------------------
def write_session_report(summary: dict, out: str | Path) -> list[Path]:
    """Write ``session.json``, ``session.md`` and ``session.html`` (the study report's style) into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sections = _report_sections(summary)
    md = [f"# Paper-trading session: {summary.get('policy', '')}", ""]
    page = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>morl-mm session</title><style>{CSS}</style>"
        f"</head><body><h1>Paper-trading session: {html.escape(str(summary.get('policy', '')))}</h1>"
    ]
    for title, header, rows, note in sections:
        md += [f"## {title}", ""]
        if note:
            md += [note, ""]
            page.append(f"<h2>{html.escape(title)}</h2><p class='note'>{html.escape(note)}</p>")
        else:
            page.append(f"<h2>{html.escape(title)}</h2>")
        if rows:
            md += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            md += ["| " + " | ".join(r) + " |" for r in rows] + [""]
            page.append(html_table(header, rows))
    page.append("</body></html>")
    paths = []
    for name, text in (
        ("session.json", json.dumps(summary, indent=2, default=_json_default)),
        ("session.md", "\n".join(md)),
        ("session.html", "".join(page)),
    ):
        with atomic_output(out / name) as tmp:
            tmp.write_text(text)
        paths.append(out / name)
    return paths


def _json_default(value: Any):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _cell(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _report_sections(s: dict) -> list[tuple[str, list[str], list[list[str]], str]]:
    monitor = s.get("monitor", {})
    account, venue = s.get("account", {}), s.get("venue_record") or {}
    sections = []
    overview = [
        ["policy", _cell(s.get("policy"))],
        ["data", _cell(s.get("data"))],
        ["venue", _cell(s.get("venue"))],
        ["fill model", _cell(s.get("fill_model"))],
        ["intervals", _cell(s.get("intervals"))],
        ["episodes (complete)", f"{len(s.get('episodes', []))} ({s.get('complete_episodes')})"],
        ["stopped by", _cell(s.get("stopped_by"))],
    ]
    sections.append(("Session", ["item", "value"], overview, ""))
    objectives = s.get("objectives", {})
    expectations = monitor.get("expectations", {})
    rows = [
        [o, _cell(v), _cell(expectations.get(o, {}).get("value")), _cell(expectations.get(o, {}).get("ci"))]
        for o, v in objectives.items()
    ]
    sections.append(
        (
            "Objectives",
            ["objective", "session (mean of complete episodes)", "expected", "expected ± (CI)"],
            rows,
            "Per episode of the policy's horizon, as morl-mm backtest reports them.",
        )
    )
    rows = [
        ["inventory", _cell(account.get("inventory")), _cell(venue.get("inventory"))],
        ["cash", _cell(account.get("cash")), _cell(venue.get("cash"))],
        ["fills", _cell(account.get("fills")), _cell(venue.get("fills"))],
    ]
    sections.append(("Account", ["", "engine", "venue record"], rows, ""))
    metrics = monitor.get("metrics", {})
    sections.append(
        (
            "Market-making metrics",
            ["metric", "value"],
            [[k, _cell(v)] for k, v in metrics.items()],
            "Definitions of morl_mm.evaluation.metrics; latency: observation + policy + order mapping + risk checks.",
        )
    )
    risk = s.get("risk", {})
    rows = [[k, _cell(v)] for k, v in risk.get("breaches", {}).items()]
    sections.append(
        (
            "Risk",
            ["limit", "breaches (intervals)"],
            rows,
            f"killed: {risk.get('killed')} {risk.get('kill_reason') or ''}".strip(),
        )
    )
    alerts = monitor.get("alerts", [])
    rows = [
        [a["metric"], _cell(a["episodes"]), _cell(a["value"]), f"[{a['band'][0]:.6g}, {a['band'][1]:.6g}]"]
        for a in alerts
    ]
    sections.append(
        (
            "Alerts",
            ["metric", "after episodes", "session mean", "expected band"],
            rows,
            "" if expectations else "No expectations given (serve --expect RESULT|BACKTEST.json): no alerts.",
        )
    )
    return sections
