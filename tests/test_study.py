"""Studies end to end through the CLI: config errors, results on disk, selection, resume (issue 5)."""

import json
import os
from pathlib import Path

import jax
import numpy as np
import pytest
from conftest import exact_hypervolume, run_study_cli, tiny_model
from plotly.offline import get_plotlyjs

from morl_mm.cli import main as cli
from morl_mm.env.rollout import rollout
from morl_mm.policies.io import load_policy
from morl_mm.study import ConfigError, load_config, load_result

TINY = (
    tiny_model("tiny")
    + """
[learners.ppo]
algorithm = "ppo"
num_envs = 16
num_steps = 40
total_timesteps = 6400
num_minibatches = 4
num_checkpoints = 2

[evaluation]
episodes = 64
seeds = [0, 1]
weights_per_axis = 3

[scenarios.volatile]
sigma = 3.0
"""
)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """The tiny study, run once through the CLI."""
    return run_study_cli(tmp_path_factory.mktemp("study"), TINY, "tiny")


def test_dataset_has_the_documented_layout(study):
    _, out = study
    ds = load_result(out).dataset
    assert set(ds.scenario.values) == {"base", "volatile"}
    assert list(ds.objective.values) == ["pnl", "inventory_risk", "quoting_ratio"]
    kinds = set(ds.kind.values)
    assert {"oracle", "classical", "ppo"} <= kinds
    assert ds["returns"].dims == ("scenario", "policy", "sample", "objective")
    assert ds.sizes["sample"] == 128  # 2 seeds x 64 episodes
    for name in (
        "value",
        "ci",
        "preference",
        "nondominated",
        "traj_mid",
        "traj_inventory",
        "pnl_sharpe",
        "max_drawdown_mean",
        "realized_spread_mean",
        "train_curve_return",
    ):
        assert name in ds, name
    for attr in ("config", "scales", "versions", "git_commit", "created", "indicators", "hv_reference_point"):
        assert attr in ds.attrs, attr
    indicators = json.loads(ds.attrs["indicators"])
    assert indicators["oracle"]["hv_ratio"] == pytest.approx(1.0, abs=0.05)  # MC estimate of the exact front
    # the indicator is the HV of PPO's Monte-Carlo front over that of the exact CCS, at the stored reference point
    ref = np.asarray(ds.attrs["hv_reference_point"], np.float64)
    exact_ccs = np.asarray(json.loads(ds.attrs["units_info"])["oracle"]["oracle_expected_values"])
    ppo_front = ds["value"].sel(scenario="base").values[ds.kind.values == "ppo"]
    assert indicators["ppo"]["hv_ratio"] == pytest.approx(
        exact_hypervolume(ppo_front, ref) / exact_hypervolume(exact_ccs, ref), rel=1e-9
    )
    assert indicators["ppo"]["hv_ratio"] > 0
    # the HV-ratio learning curve of the PPO checkpoints, against the exact CCS
    curve = ds["hv_ratio_curve"].sel(hv_learner="ppo").values
    assert curve.shape == (2,) and np.all((curve >= 0) & (curve <= 1.05)) and curve[-1] > 0
    np.testing.assert_allclose(curve[-1], indicators["ppo"]["hv_ratio"], atol=0.05)  # last checkpoint = final net
    # 3 weights per axis -> 6 weights on the 2-simplex for the conditioned network
    assert (ds.kind.values == "ppo").sum() == 6
    assert np.all(np.isnan(ds["preference"].values[ds.kind.values == "classical"]))
    # the oracle's Monte-Carlo values agree with its exact expectations
    info = json.loads(ds.attrs["units_info"])["oracle"]
    exact = np.asarray(info["oracle_expected_values"])
    mc = ds["value"].sel(scenario="base").values[ds.kind.values == "oracle"]
    ci = ds["ci"].sel(scenario="base").values[ds.kind.values == "oracle"]
    assert np.all(np.abs(mc - exact) <= 2.5 * ci + 1e-6)


def test_front_and_select_json(study, capsys, tmp_path):
    _, out = study
    assert cli(["front", str(out / "study.nc"), "--json"]) == 0
    front = json.loads(capsys.readouterr().out)
    assert front["objectives"] == ["pnl", "inventory_risk", "quoting_ratio"]
    assert all(p["nondominated"] for p in front["policies"]) and front["policies"]

    exported = tmp_path / "chosen.mmpol"
    assert cli(["select", str(out), "--weights", "0.3,0.3,0.4", "--json", "--export", str(exported)]) == 0
    chosen = json.loads(capsys.readouterr().out)
    result = load_result(out)
    expected = result.pareto_set().select([0.3, 0.3, 0.4])
    assert chosen["label"] == expected.label and chosen["exported"] == str(exported)

    # the exported policy quotes again, and reproduces its stored objectives within MC error
    loaded = load_policy(exported)
    # its header carries the study's expectations (what the quote engine's alerts read)
    assert loaded.header["scenario"] == "base" and loaded.header["samples"] > 1
    assert loaded.header["objectives"] == pytest.approx(chosen["objectives"])
    assert loaded.header["ci"] == pytest.approx(chosen["ci"])
    assert all(v > 0 for v in loaded.header["std"].values())
    keys = jax.random.split(jax.random.key(123), 400)
    returns = jax.vmap(lambda k: rollout(loaded.env, loaded.policy, k, loaded.env_params).reward.sum(0))(keys)
    returns = np.asarray(returns, np.float64)
    stored = np.array([chosen["objectives"][o] for o in result.objectives])
    se = np.sqrt(returns.var(axis=0) / len(returns) + (np.array(list(chosen["ci"].values()), float) / 1.96) ** 2)
    assert np.all(np.abs(returns.mean(axis=0) - stored) <= 4 * se + 1e-6)

    assert cli(["select", str(out), "--max-inventory-risk", "1e6", "--min-quoting-ratio", "0", "--json"]) == 0
    best_pnl = json.loads(capsys.readouterr().out)
    values = result.dataset["value"].sel(scenario="base", objective="pnl").values
    assert best_pnl["objectives"]["pnl"] == pytest.approx(values.max())


def _snapshot(folder: Path) -> dict:
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--min-quoting-ratio", "1.5"], "no policy satisfies"),
        (["--weights", "0.5,0.6,0.1"], "simplex"),
        (["--weights", "0.5,0.5"], "weights"),
        (["--weights", "nan,0.5,0.5"], "weights"),
        ([], "give --weights"),
    ],
)
def test_bad_selections_fail_clearly_and_change_nothing(study, capsys, args, message):
    _, out = study
    before = _snapshot(out)
    assert cli(["select", str(out)] + args) == 2
    assert message in capsys.readouterr().err
    assert _snapshot(out) == before


def test_missing_and_corrupt_results_fail_clearly(study, tmp_path, capsys):
    _, out = study
    assert cli(["front", str(tmp_path / "nothing.nc")]) == 2
    assert "not found" in capsys.readouterr().err
    corrupt = tmp_path / "corrupt.nc"
    corrupt.write_bytes((out / "study.nc").read_bytes()[:500])
    assert cli(["front", str(corrupt)]) == 2
    assert "not a readable morl-mm result" in capsys.readouterr().err


BASE = "[env]\naction_mode = 'continuous'\n"  # a continuous-mode study


@pytest.mark.parametrize(
    "text, message",
    [
        ("[study\nname = 1", "malformed TOML"),
        ("[env]\nsigma = 2.0", "unknown key(s) ['sigma'] in [env]"),
        ("[env.params]\nsigma = -2.0", "sigma"),
        ("[evaluation]\nepisodes = 0", "episodes"),
        ("[learners.x]\nalgorithm = 'sac'", "algorithm"),
        ("[[classical]]\nkind = 'magic'", "kind"),
        ("[scenarios.calm]\nsgima = 1.0", "sgima"),
        # learners: budgets, seeds, action modes (issue 6)
        (BASE + "[learners.x]\nalgorithm = 'ppo'\nenv_steps = 100\nwall_time_s = 5", "not both"),
        (BASE + "[learners.x]\nalgorithm = 'envelope'", "needs a budget"),
        (BASE + "[learners.x]\nalgorithm = 'dqn'\naction_mode = 'continuous'", "action_mode"),
        (BASE + "[learners.x]\nalgorithm = 'envelope'\nenv_steps = 10\naction_mode = 'continuous'", "action_mode"),
        (
            "[env]\naction_mode = 'discrete'\n[learners.x]\nalgorithm = 'ppo'\naction_mode = 'continuous'",
            "cannot be evaluated",
        ),
        (BASE + "[learners.x]\nalgorithm = 'ppo'\nseeds = [0, 0]", "seeds"),
        (BASE + "[learners.x]\nalgorithm = 'ppo'\nenv_steps = -5", "env_steps"),
        (BASE + "[learners.x]\nalgorithm = 'ppo'\nenv_steps = 100\ntotal_timesteps = 100", "both set a budget"),
        (BASE + "[learners.x]\nalgorithm = 'ppo'\nlearning_rate_decay = 0.1", "unknown hyperparameter"),
        ("[env]\naction_mode = 'discrete'\n[oracle]\ndepth_step = 0.05", "depth_step"),
        # every value is type-checked (issue 16)
        ('[evaluation]\nseeds = ["a"]', "[evaluation] seeds"),
        ("[evaluation]\nepisodes = true", "[evaluation] episodes"),
        ("[evaluation]\nepisodes = 5.5", "[evaluation] episodes"),
        ("[evaluation]\nweights_per_axis = 3.0", "[evaluation] weights_per_axis"),
        ("[evaluation]\nseeds = [-1]", "seed"),
        ("[[classical]]\nkind = 'fixed_spread'\nhalf_spread = -0.5", "half_spread"),
        ("[[classical]]\nkind = 'fixed_spread'\nhalf_spread = '0.5'", "classical[0].half_spread"),
        ("[[classical]]\nkind = 'avellaneda_stoikov'\ngamma = true", "classical[0].gamma"),
        ("[study]\nseed = 'x'", "[study] seed"),
        ("[study]\nname = 3", "[study] name"),
        ("[env]\nmax_depth = 'a'", "[env] max_depth"),
        ("[env.params]\nsigma = '2'", "sigma"),
        ("[env.params]\nsigma = true", "sigma"),
        ("[env.params]\nmid0 = 1e300", "mid0"),  # finite, but not in the env's float32
        ("[learners.ppo]\nnum_envs = 'a'", "num_envs"),
        ("[learners.ppo]\nlearning_rate = nan", "learning_rate"),
        ("[learners.ppo]\ngroup = 3", "group"),
        ("[oracle]\nenabled = 1", "enabled"),
        ("[scenarios]\ncalm = 3", "scenarios.calm"),
        ("[env]\nparams = 3", "[env.params]"),
    ],
)
def test_config_errors_name_the_key_and_the_file(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value) and str(path) in str(err.value)


def test_a_failed_run_leaves_existing_results_intact(study, tmp_path, capsys):
    config, out = study
    before = _snapshot(out)
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY.replace("sigma = 3.0", "sigma = -3.0"))
    assert cli(["run", str(bad), "--out", str(out), "--quiet"]) == 2
    assert "sigma" in capsys.readouterr().err
    assert _snapshot(out) == before


def test_resumed_study_reuses_finished_units(study, tmp_path, capsys):
    config, out = study
    copy = tmp_path / "resume"
    copy.mkdir()
    for p in out.rglob("*"):
        if p.is_file():
            target = copy / p.relative_to(out)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(p.read_bytes())
    os.remove(copy / "parts" / "classical.nc")  # as if interrupted before the classical unit finished
    parts_before = {p.name: p.read_bytes() for p in (copy / "parts").iterdir()}
    assert cli(["run", str(config), "--out", str(copy), "--quiet", "--no-render"]) == 0
    log = capsys.readouterr().out + capsys.readouterr().err
    for name, payload in parts_before.items():  # finished units are not redone: their files are untouched
        assert (copy / "parts" / name).read_bytes() == payload, name
    assert (copy / "parts" / "classical.nc").is_file()
    redone = load_result(copy).dataset
    original = load_result(out).dataset
    np.testing.assert_allclose(redone["value"].values, original["value"].values)
    assert "training" not in log


def test_plots_and_report_are_rendered(study):
    _, out = study
    figures = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert "fronts_2d.png" in figures and "hv_curve.png" in figures
    assert any(f.startswith("trajectories_") for f in figures)
    html = (out / "report.html").read_text()
    own = html.replace(get_plotlyjs(), "")  # plotly.js is inlined; its strings name its web site
    assert "tiny" in html and "<img" in html and 'src="http' not in own and 'id="selected-policy"' in html
