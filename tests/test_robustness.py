"""Regime shifts inside an episode, scenario sets, `morl-mm robustness` and `morl-mm retrain` (issue 11)."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
from conftest import run_study_cli

from morl_mm.cli import main as cli
from morl_mm.env import MarketMakingEnv
from morl_mm.env.schedule import ScheduledEnv, Shift, pad_segments
from morl_mm.pareto import indicators as ind
from morl_mm.policies.io import load_policy
from morl_mm.study import ConfigError, load_result, parse_config
from morl_mm.study.retrain import retrain_summary
from morl_mm.study.robustness import JSON_SHAPE

TINY = """
[study]
name = "tiny_robust"
seed = 0

[env]
action_mode = "discrete"

[env.params]
horizon = 0.1
inventory_limit = 1.0
tick_size = 0.01          # no exact oracle (it would cost the retraining test its CCS): the curve is tested apart

[oracle]
enabled = false

[learners.ppo]
algorithm = "ppo"
num_envs = 8
num_steps = 20
total_timesteps = 160
num_minibatches = 1
update_epochs = 1
hidden_sizes = [16]

[evaluation]
episodes = 16
seeds = [0]
weights_per_axis = 2

[scenarios.volatile]
sigma = 3.0

[scenarios.vol_shock]
shifts = [
    { at = 0.05, sigma = 4.0 },
    { start = 0.02, end = 0.04, adverse_impact = 0.2 },
    { at = 0.07, flash_move = -3.0 },
]

[scenario_sets]
stress = ["base", "vol_shock"]
"""


# -- the schedule wrapper ------------------------------------------------------------------------------
ENV = MarketMakingEnv(action_mode="discrete")
SCHEDULED = ScheduledEnv(ENV)
STEP_SCHEDULED = jax.jit(SCHEDULED.step_env)  # both tests' schedules have 3 segments: one compilation
BASE = ENV.make_params(horizon=0.1)  # 20 steps


def test_schedule_is_the_base_env_outside_its_windows_and_the_shifted_one_inside():
    shifted = BASE.replace(sigma=4.0, adverse_impact=0.1)
    params = SCHEDULED.make_params([Shift(0.03, 0.06, {"sigma": 4.0, "adverse_impact": 0.1})], horizon=0.1)
    assert np.asarray(params.starts).tolist() == [0, 6, 12]  # steps 6..11 start inside [0.03, 0.06)
    step_plain = jax.jit(ENV.step_env)
    in_force = lambda t: shifted if 6 <= t < 12 else BASE  # noqa: E731
    _, state = ENV.reset_env(jax.random.key(0), BASE)
    for t, key in enumerate(jax.random.split(jax.random.key(1), 20)):
        action = ENV.sample_action(jax.random.fold_in(key, 7))
        obs, *ours = STEP_SCHEDULED(key, state, action, params)
        theirs_obs, *theirs = step_plain(key, state, action, in_force(t))
        for a, b in zip(jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(theirs)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=f"step {t}")
        state = ours[0]
        # the new state is observed under the params of its own time (as a constant scenario's is): only the
        # realised-vol feature (realised vol / sigma) tells the two apart, on the steps where sigma switches
        same = np.asarray(obs) == np.asarray(theirs_obs)
        assert same.all() if t not in (5, 11) else same.tolist() == [True, True, False] + [True] * 5, t
        if t in (5, 11):
            assert float(obs[2]) * in_force(t + 1).sigma == pytest.approx(
                float(theirs_obs[2]) * in_force(t).sigma, rel=1e-6
            )
    assert int(state.time) == 20


def test_a_flash_move_shows_up_in_the_mid_path_at_its_step():
    flash = SCHEDULED.make_params([Shift(0.05, flash_move=-5.0)], horizon=0.1)  # steps [0, 10), [10, 11), [11, 20)
    plain = pad_segments(SCHEDULED.make_params(horizon=0.1), flash.n_segments)
    off = jnp.int32(ENV.config.n_discrete_actions - 1)  # no quotes: the mid moves by its noise alone
    mids = {}
    for name, params in (("flash", flash), ("plain", plain)):
        _, state = SCHEDULED.reset_env(jax.random.key(0), params)
        path = []
        for key in jax.random.split(jax.random.key(3), 20):  # the same noise draws in both
            _, state, _, _, info = STEP_SCHEDULED(key, state, off, params)
            path.append(float(info.mid))
        mids[name] = np.array(path)
    gap = mids["flash"] - mids["plain"]  # info.mid[t] is the mid after step t
    np.testing.assert_allclose(gap[:10], 0.0, atol=1e-5)
    np.testing.assert_allclose(gap[10:], -5.0, atol=1e-4)  # the step starting at 0.05 = 10 dt jumps


# -- config validation --------------------------------------------------------------------------------
def _config(**tables):
    return parse_config({"env": {"action_mode": "discrete"}, **tables}, source="robust.toml")


@pytest.mark.parametrize(
    "scenario, message",
    [
        ({"shifts": [{"at": 0.5, "bogus": 1.0}]}, "shifts[0]: unknown key(s) ['bogus']"),
        ({"shifts": [{"at": 0.5, "start": 0.2, "sigma": 3.0}]}, "shifts[0]: give either at"),
        ({"shifts": [{"start": 0.2, "sigma": 3.0}]}, "start needs an end"),
        ({"shifts": [{"at": 0.2, "end": 0.3, "sigma": 3.0}]}, "at runs to the episode's end"),
        ({"shifts": [{"start": 0.3, "end": 0.2, "sigma": 3.0}]}, "end must be > start"),
        ({"shifts": [{"at": 0.5}]}, "set at least one EnvParams field"),
        ({"shifts": [{"at": 0.5, "horizon": 2.0}]}, "['horizon'] cannot change inside an episode"),
        ({"shifts": [{"at": 0.5, "flash_move": -3.0, "jump_mean": 1.0}]}, "drop ['jump_mean']"),
        ({"shifts": [{"at": 0.5, "sigma": "high"}]}, "shifts[0].sigma must be a finite number"),
        ({"shifts": []}, "shifts must be a non-empty array"),
        ({"shifts": [{"start": 0.2, "end": 0.3, "arrival_rate": 500.0}]}, "shifted params of steps [40, 60)"),
        ({"shifts": [{"at": 1.0, "sigma": 3.0}]}, "[1, end) covers no step of the episode"),
    ],
)
def test_bad_shifts_name_the_file_scenario_and_key(scenario, message):
    with pytest.raises(ConfigError) as err:
        _config(scenarios={"shock": scenario})
    assert "robust.toml: [scenarios.shock]" in str(err.value) and message in str(err.value), str(err.value)


@pytest.mark.parametrize(
    "sets, message",
    [
        ({"stress": ["calm", "nowhere"]}, "unknown scenario(s) ['nowhere']"),
        ({"stress": []}, "stress must be a non-empty list"),
        ({"stress": ["calm", "calm"]}, "stress must be a non-empty list"),
    ],
)
def test_bad_scenario_sets_are_config_errors(sets, message):
    with pytest.raises(ConfigError, match=r"robust\.toml: \[scenario_sets\]") as err:
        _config(scenarios={"calm": {"sigma": 1.0}}, scenario_sets=sets)
    assert message in str(err.value)


def test_a_scenario_may_not_be_named_base_and_warm_start_needs_a_ppo_file(tmp_path):
    with pytest.raises(ConfigError, match=r"\[scenarios.base\]: the name is the study's base model"):
        _config(scenarios={"base": {"sigma": 1.0}})
    with pytest.raises(ConfigError, match=r"learners.dqn.warm_start: only ppo"):
        _config(learners={"dqn": {"algorithm": "dqn", "warm_start": "x.mmpol"}})
    with pytest.raises(ConfigError, match=r"learners.ppo.warm_start: .*policy file not found"):
        _config(learners={"ppo": {"algorithm": "ppo", "warm_start": str(tmp_path / "missing.mmpol")}})
    config = _config(
        scenarios={"shock": {"drift": 1.0, "shifts": [{"at": 0.5, "flash_move": 2.0}]}},
        scenario_sets={"stress": ["base", "shock"]},
    )
    assert config.scenarios == {"shock": {"drift": 1.0}}  # constant overrides; the shifts apart
    assert config.scenario_shifts["shock"] == (Shift(0.5, None, {}, 2.0),)
    assert config.scenario_sets == {"stress": ("base", "shock")}


# -- a tiny study with a shifted scenario: robustness and retraining -----------------------------------
@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return run_study_cli(tmp_path_factory.mktemp("robust"), TINY, "tiny_robust", ("--no-render",))


def test_robustness_json_has_the_documented_shape_and_the_utilities_of_the_dataset(study, capsys):
    _, out = study
    ds = load_result(out).dataset
    assert list(ds.scenario.values) == ["base", "volatile", "vol_shock"]
    assert cli(["robustness", str(out), "--set", "stress", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert set(table) == {"study", "set", "scenarios", "objectives", "scales", "n_weights", "reference_point", "rows"}
    assert table["set"] == "stress" and table["scenarios"] == ["base", "vol_shock"]
    (row,) = table["rows"]  # the ppo network's policies
    assert set(row) == {"name", "kind", "policies", "base", "scenarios", "worst_case"}
    assert set(row["scenarios"]) == {"vol_shock"}
    assert set(row["scenarios"]["vol_shock"]) == {"utility", "utility_drop", "hv", "hv_ratio"}
    assert set(row["worst_case"]) == {
        "utility",
        "utility_drop",
        "base_choice_utility",
        "hv",
        "hv_ratio",
        "worst_scenarios",
    }
    for key in ("rows", "worst_case", "base_choice_utility", "worst_scenarios", "utility_drop"):
        assert key in JSON_SHAPE
    # brute force from the dataset: the policy chosen on the base model at each weight, its utility elsewhere
    weights = ind.simplex_weights(3, 10)
    scales = np.asarray(ds.attrs["scales"])
    values = {s: ds["value"].sel(scenario=s).values for s in ("base", "vol_shock")}
    utility = {s: np.array([[w @ (v / scales) for v in values[s]] for w in weights]) for s in values}
    chosen = utility["base"].argmax(axis=1)
    rows = np.arange(len(weights))
    assert row["base"]["utility"] == pytest.approx(utility["base"][rows, chosen].mean(), rel=1e-9)
    assert row["scenarios"]["vol_shock"]["utility"] == pytest.approx(
        utility["vol_shock"][rows, chosen].mean(), rel=1e-9
    )
    worst = np.minimum(utility["base"], utility["vol_shock"])  # each policy's worst over the set
    assert row["worst_case"]["utility"] == pytest.approx(worst.max(axis=1).mean(), rel=1e-9)
    assert row["worst_case"]["base_choice_utility"] == pytest.approx(worst[rows, chosen].mean(), rel=1e-9)
    assert sum(row["worst_case"]["worst_scenarios"].values()) == len(weights)
    assert (out / "figures" / "robustness_stress.png").stat().st_size > 10_000
    assert cli(["robustness", str(out), "--set", "calm_days"]) == 2
    assert "unknown scenario set 'calm_days'" in capsys.readouterr().err


def test_retrain_writes_a_loadable_result_that_starts_from_the_study_network(study, tmp_path, capsys):
    _, out = study
    source = load_result(out)
    new = tmp_path / "retrained"
    assert cli(["retrain", str(out), "--scenario", "vol_shock", "--out", str(new), "--quiet"]) == 2
    assert "constant-params scenario" in capsys.readouterr().err
    assert (
        cli(
            [
                "retrain",
                str(out),
                "--scenario",
                "volatile",
                "--env-steps",
                "160",
                "--checkpoints",
                "1",
                "--out",
                str(new),
                "--quiet",
                "--no-render",
                "--json",
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["scenario"] == "volatile" and summary["curves"] == {}  # no exact CCS of a model with ticks
    result = load_result(new)
    assert set(result.dataset["kind"].values) == {"ppo_warm"}
    assert float(result.dataset.attrs["scales"][1]) > float(source.dataset.attrs["scales"][1])  # sigma 3 > 2
    assert cli(["front", str(new), "--json"]) == 0 and json.loads(capsys.readouterr().out)["policies"]
    label = next(str(p) for p, k in zip(result.dataset.policy.values, result.dataset["kind"].values) if k == "ppo_warm")
    before = load_policy(next(source.policy_dir.glob("ppo_*.mmpol")))
    after = result.load_policy(label)
    assert after.env_params.sigma == pytest.approx(3.0)
    differ = [
        not np.array_equal(a, b)
        for a, b in zip(
            jax.tree_util.tree_leaves(before.policy.params[0]), jax.tree_util.tree_leaves(after.policy.params[0])
        )
    ]
    assert any(differ)
    # the curve's first checkpoint is the warm start: the source network on the new regime, i.e. the study's own
    # evaluation of that network on scenario "volatile" (the same episodes: evaluation seed 0, 16 episodes)
    info = json.loads(result.dataset.attrs["units_info"])["learner:ppo_warm"]
    assert info["checkpoint_env_steps"] == [0, 160]
    weights = ind.simplex_weights(3, 1)  # the study's lattice (weights_per_axis = 2), in its order
    ds = source.dataset
    learned = ds["kind"].values == "ppo"
    order = [int(np.flatnonzero(learned & np.all(ds["preference"].values == w, axis=1))[0]) for w in weights]
    on_volatile = ds["value"].sel(scenario="volatile").values[order]
    np.testing.assert_allclose(np.asarray(info["checkpoint_fronts"][0]), on_volatile, rtol=1e-6, atol=1e-6)


def test_retrain_summary_reads_the_curves_and_the_steps_to_the_target():
    ds = xr.Dataset(
        {"hv_ratio_curve": (("hv_learner", "hv_checkpoint"), [[0.93, 0.96, 0.97, np.nan], [0.2, 0.8, 0.94, 0.951]])},
        coords={
            "hv_learner": ["ppo_warm", "ppo_scratch"],
            "hv_env_steps": (("hv_learner", "hv_checkpoint"), [[0, 100, 200, np.nan], [100, 200, 300, 400]]),
        },
        attrs={"name": "x_retrain_volatile", "retrain": json.dumps({"scenario": "volatile"})},
    )
    summary = retrain_summary(ds)
    assert summary["curves"]["ppo_warm"] == {
        "env_steps": [0, 100, 200],
        "hv_ratio": [0.93, 0.96, 0.97],
        "steps_to_target": 100,
    }
    assert summary["curves"]["ppo_scratch"]["steps_to_target"] == 400
    assert summary["warm_over_scratch"] == pytest.approx(0.25) and summary["scenario"] == "volatile"
