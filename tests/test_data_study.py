"""A study of a (synthetic) real market end to end through the CLI: calibrate, train, replay, backtest."""

import json

import numpy as np
import pytest
from conftest import run_study_cli

from morl_mm.cli import main as cli
from morl_mm.data.readers import read_capture
from morl_mm.data.synthetic import simulate_capture, write_lobster
from morl_mm.study import ConfigError, load_config, load_result

SECONDS = 242.0  # the replay part [120, 240) lies inside it


@pytest.fixture(scope="module")
def capture_file(tmp_path_factory):
    """Four minutes of a synthetic market written as a LOBSTER pair: sigma 0.03 $/sqrt(s), A = 2 market
    orders per second per side, kappa = 25 per $, 0.01 ticks around $100."""
    capture = simulate_capture(SECONDS, sigma=0.03, arrival_rate=2.0, kappa=25.0, tick_size=0.01, seed=3)
    message, _ = write_lobster(capture, tmp_path_factory.mktemp("lobster"), ticker="SYN")
    return message


def study_text(capture_file, **data):
    table = {"calibrate": "[0, 120]", "replay": "[120, 240]", "horizon": "10.0", **data}
    lines = "\n".join(f"{k} = {v}" for k, v in table.items())
    return f"""
[study]
name = "tiny_data"
seed = 0

[data]
file = "{capture_file}"
{lines}

[env]
action_mode = "discrete"
depth_grid = [0.01, 0.03, 0.05, 0.08]

[env.params]
tick_size = 0.0
inventory_limit = 4.0
order_size = 1.0

[oracle]
enabled = false

[[classical]]
kind = "fixed_spread"
half_spread = 0.04

[learners.ppo]
algorithm = "ppo"
num_envs = 16
num_steps = 50
total_timesteps = 8000
num_minibatches = 4

[evaluation]
episodes = 32
seeds = [0]
weights_per_axis = 3
"""


@pytest.fixture(scope="module")
def study(tmp_path_factory, capture_file):
    return run_study_cli(tmp_path_factory.mktemp("data_study"), study_text(capture_file), "tiny_data")


def test_data_study_calibrates_trains_and_replays_the_held_out_part(study):
    _, out = study
    result = load_result(out)
    ds = result.dataset
    assert list(ds.scenario.values) == ["base", "replay"]
    info = json.loads(ds.attrs["data"])
    cal = info["calibration"]
    # the calibrated model: sigma, A and kappa near the truth of the synthetic market (their CIs are checked
    # by the calibration round trip; here: that the study used them)
    assert cal["sigma"] == pytest.approx(0.03, rel=0.3) and cal["kappa"] == pytest.approx(25.0, rel=0.3)
    assert cal["arrival_rate"] == pytest.approx(2.0, rel=0.35)
    windows = info["replay"]["windows"]
    assert windows == 12  # 120 s held out in windows of 10 s
    kinds = set(ds["kind"].values)
    assert {"classical", "ppo"} <= kinds
    replay = ds["returns"].sel(scenario="replay")
    counts = np.isfinite(replay.isel(objective=0)).sum("sample").values
    assert np.all(counts == windows)  # one sample per window, the rest NaN padding
    np.testing.assert_allclose(ds["value"].sel(scenario="replay").values, replay.mean("sample", skipna=True).values)
    assert np.all(np.isfinite(ds["ci"].sel(scenario="replay").values))
    # the simulated episodes are the study's: seeds x episodes of 10 s
    assert int(np.isfinite(ds["returns"].sel(scenario="base").isel(objective=0, policy=0)).sum()) == 32
    # market-making metrics of the replay: the classical quoter traded, so its realized spread is a number
    classical = [str(p) for p, k in zip(ds.policy.values, ds["kind"].values) if k == "classical"][0]
    assert np.isfinite(float(ds["realized_spread_mean"].sel(scenario="replay", policy=classical)))


def test_a_replayed_policy_file_backtests_to_the_study_replay(study, capture_file, capsys):
    """`morl-mm backtest` of a study's policy file on the same capture and part gives the study's replay values."""
    _, out = study
    result = load_result(out)
    label = (
        "fixed_spread_h0.04"
        if "fixed_spread_h0.04" in result.dataset.policy.values
        else [str(p) for p, k in zip(result.dataset.policy.values, result.dataset["kind"].values) if k == "classical"][
            0
        ]
    )
    path = result.policy_file(label)
    capsys.readouterr()
    assert cli(["backtest", str(path), "--data", str(capture_file), "--start", "120", "--end", "240", "--json"]) == 0
    out_json = json.loads(capsys.readouterr().out)
    assert out_json["windows"] == 12 and out_json["fill_model"] == "queue"
    row = out_json["policies"][0]
    expected = result.dataset["value"].sel(scenario="replay", policy=label).values
    got = np.array([row["objectives"][o] for o in out_json["objectives"]])
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    assert {"realized_spread_mean", "slippage", "pnl_sharpe", "inventory_skewness", "fills_bid", "fills_ask"} <= set(
        row["metrics"]
    )
    # the bounds: trade-through fills least, touch most
    fills = {}
    for model in ("trade_through", "touch"):
        assert (
            cli(
                [
                    "backtest",
                    str(path),
                    "--data",
                    str(capture_file),
                    "--start",
                    "120",
                    "--end",
                    "240",
                    "--fill-model",
                    model,
                    "--json",
                ]
            )
            == 0
        )
        m = json.loads(capsys.readouterr().out)["policies"][0]["metrics"]
        fills[model] = m["fills_bid"] + m["fills_ask"]
    queue = row["metrics"]["fills_bid"] + row["metrics"]["fills_ask"]
    assert fills["trade_through"] <= queue <= fills["touch"] and fills["trade_through"] < fills["touch"]


def test_backtest_of_a_result_folder_and_errors(study, capture_file, capsys):
    _, out = study
    capsys.readouterr()
    assert cli(["backtest", str(out), "--data", str(capture_file), "--start", "120", "--end", "240", "--all"]) == 0
    text = capsys.readouterr().out
    assert "12 windows" in text and "fixed_spread" in text and "ppo" in text
    assert cli(["backtest", str(out), "--data", str(capture_file) + ".missing"]) == 2
    assert ".missing" in capsys.readouterr().err
    assert cli(["backtest", str(out), "--data", str(capture_file), "--start", "200", "--end", "100"]) == 2
    assert "--end" in capsys.readouterr().err


def test_data_config_errors_name_the_key(tmp_path, capture_file):
    def load(text):
        path = tmp_path / "bad.toml"
        path.write_text(text)
        return load_config(path)

    with pytest.raises(ConfigError, match=r"\[data\] replay .* must start after the calibration part"):
        load(study_text(capture_file, replay="[60, 240]"))
    with pytest.raises(ConfigError, match=r"\[data\] fill_model"):
        load(study_text(capture_file, fill_model='"magic"'))
    with pytest.raises(ConfigError, match=r"\[data\] calibrate"):
        load(study_text(capture_file, calibrate="[120, 0]"))
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['frobnicate'\] in \[data\]"):
        load(study_text(capture_file, frobnicate="1"))
    with pytest.raises(ConfigError, match=r"shorter than one episode"):
        load(study_text(capture_file, replay="[235, 240]"))


def test_run_with_a_missing_capture_fails_cleanly(tmp_path, capture_file, capsys):
    config = tmp_path / "study.toml"
    config.write_text(study_text(capture_file))
    assert (
        cli(
            [
                "run",
                str(config),
                "--out",
                str(tmp_path / "out"),
                "--quiet",
                "--no-render",
                "--data",
                str(tmp_path / "nowhere.zip"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "nowhere.zip" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "study.nc").exists()


def test_the_capture_reads_back_as_written(capture_file):
    capture = read_capture(capture_file)
    assert capture.venue == "lobster" and capture.tick_size == pytest.approx(0.01)
    assert capture.duration_s == pytest.approx(SECONDS, abs=1.0)


def test_sim_versus_replay_table_and_figure(study):
    from morl_mm.plots.replay import scenario_shift, shift_table, table_policies

    _, out = study
    ds = load_result(out).dataset
    assert (out / "figures" / "sim_vs_replay.png").stat().st_size > 10_000
    shift = scenario_shift(ds)
    np.testing.assert_allclose(
        shift["change"].values, ds["value"].sel(scenario="replay").values - ds["value"].sel(scenario="base").values
    )
    chosen = table_policies(ds)
    classical = [str(p) for p, k in zip(ds.policy.values, ds["kind"].values) if k == "classical"]
    assert chosen[: len(classical)] == classical and any(label.startswith("ppo") for label in chosen)
    table = shift_table(ds).splitlines()
    assert len(table) == 2 + len(chosen)
    pnl_replay = float(ds["value"].sel(scenario="replay", policy=classical[0], objective="pnl"))
    assert f"{pnl_replay:.4g}" in table[2]
