"""Calibration of EnvParams: the round trip through LOBSTER files, CI coverage, dt, the CLI, real samples."""

import json
import math
import os
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pytest

from morl_mm.cli import main
from morl_mm.data.calibration import _fit_regimes, calibrate, choose_dt
from morl_mm.data.readers import read_capture
from morl_mm.data.synthetic import simulate_capture, write_lobster
from morl_mm.env.params import EnvConfig, make_params

TRUE = {"sigma": 0.05, "arrival_rate": 2.0, "kappa": 40.0}
DATA = Path(os.environ.get("MORL_MM_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))


def _sim(seconds=1800.0, seed=2, **kw):
    return simulate_capture(seconds, **TRUE, tick_size=0.01, mid0=100.0, seed=seed, **kw)


@pytest.fixture(scope="module")
def lobster_pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("syn")
    msg, _ = write_lobster(_sim(), folder)
    return msg


@pytest.fixture(scope="module")
def round_trip(lobster_pair):
    return calibrate(read_capture(lobster_pair))


def test_write_lobster_follows_the_spec(lobster_pair):
    msg = lobster_pair.read_text().splitlines()
    ob = Path(str(lobster_pair).replace("_message_", "_orderbook_")).read_text().splitlines()
    assert len(msg) == len(ob) and lobster_pair.name.startswith("SYN_2020-01-02_34200000_")
    t, typ, oid, size, price, direction = msg[0].split(",")
    assert t.startswith("34200.") and len(t.split(".")[1]) == 9
    types = {int(line.split(",")[1]) for line in msg}
    assert types <= {1, 2, 3, 4} and {1, 3, 4} <= types
    cap = _sim()
    first_exec = next(line.split(",") for line in msg if line.split(",")[1] == "4")
    # the first print of the capture: its resting side is the opposite of the aggressor
    assert int(first_exec[5]) == -int(cap.trades.side[0])
    assert int(first_exec[4]) == round(cap.trades.price[0] * 10_000)
    row = [int(x) for x in ob[0].split(",")]
    assert len(row) == 4 * 5 and row[0] > row[2]  # ask above bid, prices x 10000


def test_lobster_round_trip_recovers_the_truth(round_trip):
    cal = round_trip
    for key, true in TRUE.items():
        lo, hi = cal.ci[key]
        assert lo <= true <= hi, (key, cal.params[key], cal.ci[key])
        assert (hi - lo) / true < 0.3, (key, cal.ci[key])
    assert cal.params["tick_size"] == pytest.approx(0.01)
    assert cal.params["mid0"] == 0.0
    assert (
        "adverse_impact" not in cal.params
        or cal.ci["adverse_impact"][0] <= 0 <= cal.ci["adverse_impact"][1]
        or abs(cal.params["adverse_impact"]) < 0.002
    )
    assert cal.n_regimes == 1 and "regimes" in cal.diagnostics["not_fitted"]
    # dt: largest round step with A dt <= 0.1, whole number of steps
    a_max = max(cal.diagnostics["arrival_rate_buy"], cal.diagnostics["arrival_rate_sell"])
    assert cal.dt == (0.05 if a_max <= 2.0 else 0.02) and cal.n_steps == round(60 / cal.dt)
    params = make_params(EnvConfig(n_regimes=cal.n_regimes), **cal.params)
    assert float(params.arrival_rate) * float(params.dt) <= 0.1 + 1e-9


def test_calibration_of_the_capture_equals_that_of_its_lobster_files(round_trip):
    direct = calibrate(_sim())
    for key in TRUE:
        assert direct.params[key] == pytest.approx(round_trip.params[key], rel=0.01)


def test_cis_cover_at_about_the_nominal_rate():
    hits = {k: 0 for k in TRUE}
    n = 12
    for seed in range(n):
        cal = calibrate(_sim(900.0, seed=1000 + seed), regimes=False, signal=False, n_boot=400)
        for key, true in TRUE.items():
            lo, hi = cal.ci[key]
            hits[key] += lo <= true <= hi
    # 95% intervals: fewer than 9 of 12 has probability < 0.3%
    assert all(h >= 9 for h in hits.values()), hits


def test_adverse_impact_is_recovered():
    cal = calibrate(_sim(1800.0, seed=3, adverse_impact=0.005), regimes=False)
    lo, hi = cal.ci["adverse_impact"]
    assert lo <= 0.005 <= hi and lo > 0
    assert cal.ci["sigma"][0] <= TRUE["sigma"] <= cal.ci["sigma"][1]


def test_two_volatility_regimes_are_found_and_one_is_rejected():
    rng = np.random.default_rng(0)
    n, g = 3000, 5.0
    p = np.array([[0.98, 0.02], [0.05, 0.95]])
    state = np.zeros(n, int)
    for t in range(1, n):
        state[t] = rng.random() < p[state[t - 1], 1]
    vol = np.array([0.05, 0.15])[state]
    r = vol * math.sqrt(g) * rng.standard_normal(n)
    fit = _fit_regimes(r, g, dt=0.1, level=0.95)
    assert fit["fitted"]
    lo, hi = fit["regime_vol_ci"]
    assert lo <= 3.0 <= hi
    P = np.asarray(fit["regime_transition"])
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    assert 0 < P[0, 1] < 0.02 * 0.1 / g * 3
    one = _fit_regimes(0.05 * math.sqrt(g) * rng.standard_normal(n), g, dt=0.1, level=0.95)
    assert not one["fitted"] and "BIC" in one["reason"]


def test_regime_params_validate_in_make_params():
    cal = calibrate(_sim(600.0, seed=2), regimes=False)
    params = dict(cal.params, regime_vol=[1.0, 2.0], regime_transition=[[0.99, 0.01], [0.02, 0.98]])
    make_params(EnvConfig(n_regimes=2), **params)


def test_choose_dt():
    assert choose_dt(2.0, 60.0) == 0.05
    assert choose_dt(0.3, 60.0) == 0.2
    assert choose_dt(150.0, 1.0) == 0.0005
    with pytest.raises(ValueError, match="too long"):
        choose_dt(2.0, 60.0, dt=1.0)
    with pytest.raises(ValueError, match="whole number"):
        choose_dt(2.0, 60.0, dt=0.07)
    with pytest.warns(UserWarning, match="A dt"):
        assert choose_dt(2.0, 60.0, dt=0.2) == 0.2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        choose_dt(2.0, 60.0, dt=0.05)


def test_too_few_trades_is_a_clear_error():
    cap = simulate_capture(600.0, sigma=0.05, arrival_rate=0.02, kappa=40.0, seed=4)
    with pytest.raises(ValueError, match=r"only \d+ market orders"):
        calibrate(cap)
    with pytest.raises(ValueError, match="mid changes"):
        calibrate(_sim(600.0, seed=4), start=0.0, end=5.0)


def test_toml_and_json(round_trip, tmp_path):
    cal = round_trip
    doc = tomllib.loads(cal.to_toml())
    make_params(EnvConfig(n_regimes=doc.get("env", {}).get("n_regimes", 1)), **doc["env"]["params"])
    out = cal.to_json()
    for key in ("sigma", "arrival_rate", "kappa", "tick_size", "dt", "n_steps", "ci"):
        assert key in out
    json.dumps(out)
    assert cal.figure(tmp_path / "fit.png").stat().st_size > 10_000


def test_cli_calibrate_json_out_and_figure(lobster_pair, tmp_path, capsys):
    out, fig = tmp_path / "params.toml", tmp_path / "fit.png"
    assert (
        main(
            [
                "calibrate",
                str(lobster_pair),
                "--json",
                "--out",
                str(out),
                "--figure",
                str(fig),
                "--horizon",
                "30",
                "--start",
                "60",
                "--end",
                "1500",
            ]
        )
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    for key in ("sigma", "arrival_rate", "kappa", "tick_size", "dt", "n_steps"):
        assert math.isfinite(doc[key]), key
    assert set(doc["ci"]) >= {"sigma", "arrival_rate", "kappa"}
    assert doc["n_steps"] * doc["dt"] == pytest.approx(30.0)
    params = tomllib.loads(out.read_text())["env"]["params"]
    make_params(EnvConfig(), **params)
    assert fig.stat().st_size > 10_000
    assert main(["calibrate", str(lobster_pair)]) == 0
    assert "kappa" in capsys.readouterr().out


def test_cli_calibrate_errors_exit_2(tmp_path, capsys, lobster_pair):
    assert main(["calibrate", str(tmp_path / "nope_message_5.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("morl-mm calibrate: error:")
    assert main(["calibrate", str(lobster_pair), "--dt", "5"]) == 2
    assert "too long" in capsys.readouterr().err
    bad = tmp_path / "BAD_2020-01-02_0_1_message_1.csv"
    bad.write_text("34200.1,1,1,100,1000000,1\nnot,a,line\n")
    Path(str(bad).replace("_message_", "_orderbook_")).write_text("1000100,100,1000000,100\n1000100,100,1000000,100\n")
    assert main(["calibrate", str(bad), "--out", str(tmp_path / "x.toml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "BAD_2020-01-02_0_1_message_1.csv:2" in err[0]
    assert not (tmp_path / "x.toml").exists()


def _sample(*parts):
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared market-data sample {path} is absent (set MORL_MM_DATA to its folder)")
    return path


@pytest.mark.slow
def test_calibrate_goog_sample():
    cal = calibrate(read_capture(_sample("lobster", "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip")))
    params = make_params(EnvConfig(n_regimes=cal.n_regimes), **cal.params)
    assert float(params.tick_size) == pytest.approx(0.01)
    assert 0.001 < cal.params["sigma"] < 1.0 and cal.params["kappa"] > 0 and cal.params["arrival_rate"] > 0.01
    for key in ("sigma", "arrival_rate", "kappa"):
        lo, hi = cal.ci[key]
        assert lo <= cal.params[key] <= hi


@pytest.mark.slow
def test_calibrate_binance_futures_sample():
    path = _sample("binance", "usdm_btcusdt_20240808.gz")
    try:
        import morl_mm.data.binance  # noqa: F401
    except ImportError:
        pytest.skip("the Binance reader (morl_mm.data.binance) has not landed")
    cal = calibrate(read_capture(path))
    make_params(EnvConfig(n_regimes=cal.n_regimes), **cal.params)
    assert cal.params["sigma"] > 0 and cal.params["kappa"] > 0
