"""The quote engine over a replayed capture and the simulated venue: pnl identical to the backtest, the
venue's record, rejects, risk limits, the kill switch, bad market-data lines, metrics and alerts.

The backtest check runs on a shared LOBSTER sample (skips when ../shared/data, or $MORL_MM_DATA, is
absent); the rest on synthetic captures. Sessions replay at speed max; the metrics endpoint is on
127.0.0.1 and stopped by the test.
"""

import dataclasses
import json
import math
import os
import signal
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from morl_mm.cli import main as cli
from morl_mm.data.synthetic import simulate_capture, write_lobster
from morl_mm.env.market import MarketMakingEnv
from morl_mm.env.params import EnvConfig, make_params
from morl_mm.evaluation.backtest import backtest, backtest_json, on_venue_ticks
from morl_mm.live.engine import QuoteEngine
from morl_mm.live.monitor import METRIC_NAMES, Expectation, Monitor
from morl_mm.live.orders import OrderAction
from morl_mm.live.risk import RiskLimits, RiskManager, load_limits
from morl_mm.live.source import CaptureSource
from morl_mm.live.venue import MatchingVenue, SimGateway
from morl_mm.policies.io import load_policy, save_policy

DATA = Path(os.environ.get("MORL_MM_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")
AAPL = DATA / "lobster" / "LOBSTER_SampleFile_AAPL_2012-06-21_1.zip"
DT, HORIZON = 0.5, 15.0  # 30 decisions per episode


@pytest.fixture(scope="module")
def policy_file(tmp_path_factory):
    """A skewed quoter (half-spread 2 cents, skew 1 cent per unit of inventory) on a 1-cent grid."""
    config = EnvConfig(action_mode="continuous", max_latency=1)
    params = make_params(
        config,
        dt=DT,
        horizon=HORIZON,
        sigma=0.05,
        tick_size=0.01,
        mid0=0.0,
        order_size=1.0,
        inventory_limit=4.0,
        competitive_distance=0.05,
        arrival_rate=1.0,
        kappa=50.0,
    )
    path = tmp_path_factory.mktemp("policy") / "skew.mmpol"
    save_policy(
        path,
        kind="classical",
        spec={"kind": "linear_skew", "half_spread": 0.02, "skew": 0.01},
        env=MarketMakingEnv(config),
        env_params=params,
        label="skew",
    )
    return path


@pytest.fixture(scope="module")
def loaded(policy_file):
    return load_policy(policy_file)


@pytest.fixture(scope="module")
def synthetic():
    """Two minutes of the simulator's market as a capture: $100, 1-cent ticks, 2 market orders/s per side."""
    return simulate_capture(120.0, sigma=0.03, arrival_rate=2.0, kappa=25.0, tick_size=0.01, seed=5)


class Recorder:
    """A SimGateway that records every action and the venue's working orders after each sync, and runs
    ``hook(step)`` before a step's actions are sent."""

    def __init__(self, venue, hook=None):
        self.inner, self.venue, self.hook = SimGateway(venue), venue, hook
        self.sent, self.working_after = [], {}

    def send(self, actions, market_step):
        if self.hook is not None:
            self.hook(market_step)
        self.sent += [(market_step, a) for a in actions]
        self.inner.send(actions, market_step)

    def sync(self, market_step):
        reports = self.inner.sync(market_step)
        self.working_after[market_step] = dict(self.venue.working)
        return reports

    def close(self):
        self.inner.close()


def session(loaded, capture, limits=None, hook=None, fill_model="queue", monitor=True, venue_shift=0.0, **source):
    """A session at speed max; ``venue_shift`` moves the venue's price grid (its reference) by that much."""
    src = CaptureSource.from_capture(capture, DT, speed="max", **source)
    params = on_venue_ticks(loaded.env_params, src.tick_size)
    venue = MatchingVenue(src.tape, params, fill_model, reference_price=src.reference_price + venue_shift)
    gateway = Recorder(venue, hook)
    mon = Monitor(loaded.env.objectives, params.replace(mid0=0.0, initial_inventory=0.0)) if monitor else None
    engine = QuoteEngine(
        loaded.policy, loaded.env, loaded.env_params, gateway, src, limits, mon, label="skew", id_prefix="t-"
    )
    if hook is not None:
        gateway.hook = lambda step: hook(step, engine)
    return engine, engine.run(), gateway


# -- the end-to-end check -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def aapl():
    if not AAPL.is_file():
        pytest.skip(f"shared data sample {AAPL} absent (set MORL_MM_DATA to the folder of the samples)")
    return CaptureSource(AAPL, dt=DT, speed="max", start=600.0, end=630.0).capture


def test_session_pnl_is_the_backtest_and_the_accounts_are_the_venue_record(loaded, policy_file, aapl, tmp_path, capsys):
    """Orders out, reports in: a session over two windows of AAPL gives the venue's position and cash, and
    the first window's objective vector (pnl included) is the backtest's, bit for bit."""
    start, end = 600.0, 630.0  # two windows of 15 s
    t0 = aapl.start_ns
    ds = backtest(
        [("skew", "classical", loaded)],
        aapl,
        fill_model="queue",
        start_ns=t0 + int(start * 1e9),
        end_ns=t0 + int(end * 1e9),
    )
    engine, summary, gateway = session(loaded, aapl, start=start, end=end)
    venue = gateway.venue
    assert summary["account"]["inventory"] == venue.inventory and summary["account"]["cash"] == venue.cash
    assert summary["account"]["fills"] == len(venue.fills) > 0 and not venue.working
    assert summary["orders"]["rejected"] == 0 and summary["intervals"] == 60
    first = summary["episodes"][0]
    assert first["comparable"] and int(ds.attrs["windows"]) == 2
    expected = ds["returns"].values[0, 0]  # policy 0, window 0
    np.testing.assert_array_equal(np.array(list(first["objectives"].values())), expected)
    assert expected[0] != 0.0  # the window traded: its pnl is not trivially zero
    # the same through the command line, on the first window alone, and its report
    capsys.readouterr()
    out = tmp_path / "session"
    assert (
        cli(
            [
                "serve",
                str(policy_file),
                "--feed",
                str(AAPL),
                "--start",
                "600",
                "--end",
                "615",
                "--speed",
                "max",
                "--venue",
                "sim",
                "--json",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    served = json.loads(capsys.readouterr().out)
    assert served["objectives"] == dict(zip(backtest_json(ds)["objectives"], map(float, expected)))
    assert served["account"]["cash"] == served["venue_record"]["cash"]
    assert {p.name for p in out.iterdir()} == {"session.json", "session.md", "session.html"}
    assert "Paper-trading session: skew" in (out / "session.md").read_text()


# -- the venue -------------------------------------------------------------------------------------
def test_venue_rejects_with_a_reason_and_the_engine_counts_them(loaded, synthetic):
    src = CaptureSource.from_capture(synthetic, DT, speed="max")
    venue = MatchingVenue(src.tape, on_venue_ticks(loaded.env_params, 0.01), reference_price=src.reference_price)
    best_bid = float(src.tape.bid_price[0, 0]) + src.reference_price
    best_ask = float(src.tape.ask_price[0, 0]) + src.reference_price
    reports = venue.submit(
        [
            OrderAction("new", "buy", "b1", round(best_bid, 2), 1.0),
            OrderAction("new", "buy", "b2", round(best_bid - 0.01, 2), 1.0),  # a second order on a side
            OrderAction("replace", "sell", "r1", round(best_ask, 2), 1.0, orig_cl_ord_id="nope"),
            OrderAction("new", "sell", "s1", round(best_bid, 2), 1.0),  # through the bid
            OrderAction("new", "sell", "s2", best_ask + 0.003, 1.0),  # off the grid
            OrderAction("new", "sell", "b1", round(best_ask, 2), 1.0),  # duplicate id
            OrderAction("new", "sell", "s3", round(best_ask, 2), -1.0),
            OrderAction("cancel", "buy", "c1", orig_cl_ord_id="b1"),
        ],
        0,
    )
    kinds = [r.exec_type for r in reports]
    assert kinds == ["new", "rejected", "rejected", "rejected", "rejected", "rejected", "rejected", "canceled"]
    texts = [r.text for r in reports]
    assert "working already" in texts[1] and "unknown order id 'nope'" in texts[2] and "crossing" in texts[3]
    assert "tick grid" in texts[4] and "duplicate" in texts[5] and "bad quantity" in texts[6]
    assert not venue.working and venue.rejects == 6
    venue.match(0)
    assert venue.submit([OrderAction("new", "buy", "late", round(best_bid, 2), 1.0)], 0)[0].exec_type == "rejected"
    # the engine: a venue whose grid is half a tick off rejects every quote; nothing rests, each reject counted
    engine, summary, gateway = session(loaded, synthetic, venue_shift=0.005, end=10.0)
    assert summary["orders"]["rejected"] == gateway.venue.rejects > 0
    assert summary["account"]["fills"] == 0 and not gateway.venue.working
    assert not summary["episodes"][0]["clean"] and not summary["episodes"][0]["comparable"]


# -- risk limits -------------------------------------------------------------------------------------
def test_each_risk_limit_blocks_what_it_must(loaded, synthetic):
    # inventory: the position never goes beyond 1 although the model allows 4
    _, summary, gateway = session(loaded, synthetic, RiskLimits(max_inventory=1.0), end=60.0)
    position = np.cumsum([f.qty * (1 if f.side == "buy" else -1) for f in gateway.venue.fills])
    assert summary["risk"]["breaches"]["inventory"] > 0 and np.abs(position).max() <= 1.0 + 1e-9
    unlimited = session(loaded, synthetic, None, end=60.0, monitor=False)[2].venue.fills
    assert np.abs(np.cumsum([f.qty * (1 if f.side == "buy" else -1) for f in unlimited])).max() > 1.0
    # price collar: quotes 2 cents (plus skew) from the mid never leave with a 1-tick collar
    _, summary, gateway = session(loaded, synthetic, RiskLimits(price_collar_ticks=1), end=10.0)
    assert summary["orders"]["new"] == 0 and summary["risk"]["breaches"]["price_collar"] == 20 * 2
    # order rate: at most 1 new/replace per second of market time
    _, summary, gateway = session(loaded, synthetic, RiskLimits(max_order_rate=1.0), end=30.0)
    times = np.array([step * DT for step, a in gateway.sent if a.kind != "cancel"])
    assert summary["risk"]["breaches"]["order_rate"] > 0 and len(times) > 3
    assert max(np.sum((times > t - 1.0) & (times <= t)) for t in times) <= 1
    # max loss / max drawdown: the session stops with no working order
    for limits, name in ((RiskLimits(max_loss=0.01), "max_loss"), (RiskLimits(max_drawdown=0.01), "max_drawdown")):
        engine, summary, gateway = session(loaded, synthetic, limits, end=60.0)
        assert summary["risk"]["killed"] and summary["risk"]["kill_reason"] == name
        assert summary["intervals"] < 120 and not gateway.venue.working and not summary["working_orders"]
    # stale data: 3 s without a valid book (an invalid stretch of the capture), limit 1 s
    book = synthetic.book
    gap = (book.ts_ns >= synthetic.start_ns + 20 * 10**9) & (book.ts_ns < synthetic.start_ns + 23 * 10**9)
    stale = dataclasses.replace(synthetic, book=dataclasses.replace(book, valid=book.valid & ~gap))
    _, summary, gateway = session(loaded, stale, RiskLimits(stale_after_s=1.0), end=30.0)
    assert summary["risk"]["breaches"]["stale_data"] > 0
    steps = sorted(gateway.working_after)
    empty = [s for s in steps if 42 <= s <= 45]  # 21.0-22.5 s: more than 1 s into the gap
    assert empty and all(not gateway.working_after[s] for s in empty)
    assert any(gateway.working_after[s] for s in steps if s >= 48)  # quoting again once the book is back
    assert summary["invalid_intervals"] > 0 and not summary["episodes"][1]["valid"]


def test_limits_toml_is_validated_with_one_line_errors(tmp_path, policy_file, capsys):
    good = tmp_path / "limits.toml"
    good.write_text(
        "[limits]\nmax_inventory = 5\nmax_order_rate = 20.0\nprice_collar_ticks = 10\nmax_loss = 50\n"
        'max_drawdown = 30\nstale_after_s = 2.0\nkill_file = "/tmp/kill"\n'
    )
    limits = load_limits(good)
    assert limits.max_inventory == 5 and limits.collar(0.01) == pytest.approx(0.1)
    cases = {
        "[limits]\nmax_inventroy = 5\n": "unknown key 'max_inventroy'",
        "[limits]\nmax_loss = -1\n": "limits.max_loss: a number > 0",
        "[limits]\nmax_order_rate = 'fast'\n": "limits.max_order_rate",
        "[limits]\nprice_collar = 0.1\nprice_collar_ticks = 3\n": "not both",
        "[limit]\nmax_loss = 1\n": "unknown table or key 'limit'",
        "[limits\n": "not valid TOML",
    }
    for text, message in cases.items():
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(ValueError, match=message):
            load_limits(bad)
    capsys.readouterr()
    assert cli(["serve", str(policy_file), "--feed", "nowhere.zip", "--limits", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("morl-mm serve: error:") and "\n" not in err
    assert cli(["serve", str(policy_file), "--feed", "x", "--venue", "fox://h:1"]) == 2
    assert "--venue" in capsys.readouterr().err


# -- the kill switch ---------------------------------------------------------------------------------
def test_the_kill_switch_leaves_no_working_order(loaded, synthetic, tmp_path):
    kill_file = tmp_path / "KILL"
    before = signal.getsignal(signal.SIGUSR1)

    def by_call(step, engine):
        if step == 10:
            engine.kill()

    def by_file(step, engine):
        if step == 10:
            kill_file.touch()

    def by_signal(step, engine):
        if step == 10:
            os.kill(os.getpid(), signal.SIGUSR1)

    for hook, limits in ((by_call, None), (by_file, RiskLimits(kill_file=str(kill_file))), (by_signal, None)):
        risk = RiskManager(limits, 0.01)
        with risk.signal_handlers():
            engine, summary, gateway = session(loaded, synthetic, risk, hook=hook, end=30.0)
        assert any(gateway.working_after[s] for s in range(10))  # it was quoting
        assert summary["risk"]["killed"] and summary["stopped_by"].startswith("kill switch")
        assert summary["intervals"] == 11 and not gateway.venue.working and not summary["working_orders"]
        assert summary["risk"]["breaches"]["kill_switch"] == 1
    assert "SIGUSR1" in summary["risk"]["kill_reason"]
    assert signal.getsignal(signal.SIGUSR1) == before  # handlers restored


# -- market data, monitoring ----------------------------------------------------------------------------
def test_a_malformed_market_data_line_is_reported_and_skipped(loaded, tmp_path, caplog):
    capture = simulate_capture(20.0, sigma=0.03, arrival_rate=2.0, kappa=25.0, tick_size=0.01, seed=2)
    message, _ = write_lobster(capture, tmp_path)
    lines = message.read_text().splitlines()
    fields = lines[40].split(",")
    lines[40] = ",".join([fields[0], "garbage"] + fields[2:])
    message.write_text("\n".join(lines) + "\n")
    with caplog.at_level("WARNING", logger="morl_mm.live"):
        source = CaptureSource(message, dt=DT, speed="max")
    assert source.bad_lines == 1
    assert any(":41: skipped bad line" in r.getMessage() for r in caplog.records)
    params = on_venue_ticks(loaded.env_params, source.tick_size)
    monitor = Monitor(loaded.env.objectives, params.replace(mid0=0.0))
    venue = MatchingVenue(source.tape, params, reference_price=source.reference_price)
    summary = QuoteEngine(loaded.policy, loaded.env, loaded.env_params, SimGateway(venue), source, None, monitor).run()
    assert summary["intervals"] == source.n_steps and summary["market_data"]["bad_lines"] == 1
    assert monitor.registry.get_sample_value("morl_mm_market_data_bad_lines_total") == 1.0


def test_metrics_endpoint_serves_the_metric_names_and_alerts_fire(loaded, synthetic):
    src = CaptureSource.from_capture(synthetic, DT, speed="max", end=60.0)
    params = on_venue_ticks(loaded.env_params, src.tick_size)
    expectations = {"pnl": Expectation(1000.0, 1.0, 1.0, 100), "quoting_ratio": Expectation(0.5, 0.5)}
    monitor = Monitor(loaded.env.objectives, params.replace(mid0=0.0), expectations)
    port = monitor.serve(0)
    try:
        venue = MatchingVenue(src.tape, params, reference_price=src.reference_price)
        summary = QuoteEngine(loaded.policy, loaded.env, loaded.env_params, SimGateway(venue), src, None, monitor).run()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
    finally:
        monitor.close()
    served = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    for name in METRIC_NAMES:
        assert any(s == name or s.startswith(name + "_") for s in served), name
    assert 'morl_mm_fills_total{side="bid"}' in text and "morl_mm_decision_latency_seconds_bucket" in text
    # pnl far below the expected 1000 +- 1: an alert per finished episode; the quoting ratio is within its band
    alerts = summary["monitor"]["alerts"]
    assert [a["metric"] for a in alerts] == ["pnl"] * 4 and summary["monitor"]["alerts_active"] == ["pnl"]
    assert monitor.registry.get_sample_value("morl_mm_alerts_total", {"metric": "pnl"}) == 4.0
    m = summary["monitor"]["metrics"]
    assert m["decisions"] == 120 and 0 < m["quoting_ratio"] <= 1 and m["fills_bid"] + m["fills_ask"] > 0
    assert math.isfinite(m["decision_latency_p99_us"]) and m["realized_spread"] is not None


def test_the_latency_benchmark_reports_its_json_shape(capsys):
    """benchmarks/inference_latency.py --json: one object {"<policy>": {"p50_us", "p99_us", "decisions"}}."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "inference_latency", Path(__file__).resolve().parents[1] / "benchmarks" / "inference_latency.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.WARMUP_DECISIONS = 20
    capsys.readouterr()
    assert bench.main(["--decisions", "30", "--policies", "avellaneda_stoikov", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert list(result) == ["avellaneda_stoikov"] and set(result["avellaneda_stoikov"]) == {
        "p50_us",
        "p99_us",
        "decisions",
    }
    row = result["avellaneda_stoikov"]
    assert row["decisions"] == 30 and 0 < row["p50_us"] <= row["p99_us"]
