"""Learners side by side in a study (issue 6): seeds, budgets in env steps or wall time, mixed action
modes, morl-baselines learners, the comparison table and figure."""

import json

import jax
import numpy as np
import pytest
from conftest import exact_hypervolume, run_study_cli

from morl_mm.agents.registry import with_env_steps
from morl_mm.cli import main as cli
from morl_mm.env.market import MarketMakingEnv
from morl_mm.env.params import EnvConfig, make_params
from morl_mm.env.rollout import rollout
from morl_mm.policies import AvellanedaStoikov, InActionMode
from morl_mm.study import load_result
from morl_mm.study.budget import steps_for_wall_time
from morl_mm.study.comparison import learner_table

try:
    import morl_baselines  # noqa: F401

    HAS_BASELINES = True
except ImportError:
    HAS_BASELINES = False

SMALL = dict(horizon=0.1, inventory_limit=3.0)  # 20 steps

STUDY = (
    """
[study]
name = "compare"
seed = 0

[env]
action_mode = "continuous"

[env.params]
horizon = 0.1
inventory_limit = 3.0

[oracle]
depth_step = 0.1

[[classical]]
kind = "fixed_spread"
half_spread = 0.7

[learners.ppo]
algorithm = "ppo"
group = "steps"
env_steps = 3_100
seeds = [0, 1]
num_envs = 16
num_steps = 20
num_minibatches = 4

[learners.dqn]
algorithm = "dqn"
group = "steps"
env_steps = 1_000
num_envs = 8
learning_starts = 200
buffer_size = 1_000
batch_size = 32
hidden_sizes = [32, 32]
"""
    + (
        """
[learners.envelope]
algorithm = "envelope"
group = "steps"
env_steps = 200
seeds = [0, 1]
learning_starts = 60
net_arch = [16, 16]
batch_size = 16
"""
        if HAS_BASELINES
        else ""
    )
    + """
[evaluation]
episodes = 16
seeds = [0]
weights_per_axis = 3

[scenarios.calm]
sigma = 1.0
"""
)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return run_study_cli(tmp_path_factory.mktemp("compare"), STUDY, "compare")[1]


def per_seed_hv_ratios(ds, kind: str) -> np.ndarray:
    """HV ratio of each training seed's front (base scenario) against the exact CCS, recomputed from the
    dataset by brute force at the stored reference point."""
    ref = np.asarray(ds.attrs["hv_reference_point"], np.float64)
    exact = np.asarray(json.loads(ds.attrs["units_info"])["oracle"]["oracle_expected_values"])
    values = ds["value"].sel(scenario="base").values
    members = ds.kind.values == kind
    return np.array(
        [
            exact_hypervolume(values[members & (ds.train_seed.values == s)], ref)
            for s in sorted(set(ds.train_seed.values[members]))
        ]
    ) / exact_hypervolume(exact, ref)


def test_learners_train_per_seed_and_report_mean_and_spread(study):
    ds = load_result(study).dataset
    ppo = ds.kind.values == "ppo"
    assert sorted(set(ds.train_seed.values[ppo])) == [0, 1]
    assert np.all(ds.train_seed.values[ds.kind.values == "oracle"] == -1)
    assert int(ppo.sum()) == 2 * 6  # 6 weights per seed
    indicators = json.loads(ds.attrs["indicators"])
    assert indicators["ppo"]["n_seeds"] == 2
    # mean and sample std over the two seeds' fronts, each recomputed here
    ratios = per_seed_hv_ratios(ds, "ppo")
    assert indicators["ppo"]["hv_ratio"] == pytest.approx(ratios.mean(), rel=1e-9)
    assert indicators["ppo"]["hv_ratio_std"] == pytest.approx(ratios.std(ddof=1), rel=1e-9, abs=1e-12)
    assert indicators["ppo"]["env_steps"] == 3_200  # 10 updates of 16 x 20 steps, the nearest to 3,100
    assert "n_seeds" not in indicators["dqn"]
    # the DQN (discrete) network is evaluated in the continuous study: its returns are finite, its
    # policy file holds the discrete network and loads
    dqn = ds.sel(policy=ds.kind.values == "dqn")
    assert np.all(np.isfinite(dqn["value"].values))


def test_compare_command_prints_the_table(study, capsys):
    assert cli(["compare", str(study), "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert list(table)[:2] == ["ppo", "dqn"]
    row = table["ppo"]
    assert row["group"] == "steps" and row["algorithm"] == "ppo" and row["n_seeds"] == 2
    assert row["env_steps"] == 3_200 and row["train_seconds"] > 0
    ratios = per_seed_hv_ratios(load_result(study).dataset, "ppo")
    assert row["hv_ratio"] == pytest.approx(ratios.mean(), rel=1e-9)
    assert row["hv_ratio_std"] == pytest.approx(ratios.std(ddof=1), rel=1e-9, abs=1e-12)
    assert cli(["compare", str(study)]) == 0
    assert "| ppo | steps | ppo | 2 | 3,200 |" in capsys.readouterr().out
    assert learner_table(load_result(study).dataset) == table


def test_learner_fronts_figure_is_rendered(study):
    assert (study / "figures" / "learner_fronts.png").stat().st_size > 10_000


@pytest.mark.skipif(not HAS_BASELINES, reason="the optional extra morl-mm[baselines] is not installed")
def test_morl_baselines_learner_in_a_study(study):
    ds = load_result(study).dataset
    envelope = ds.kind.values == "envelope"
    assert sorted(set(ds.train_seed.values[envelope])) == [0, 1]
    returns = ds["returns"].values[:, envelope]  # every scenario evaluated by the adapter
    assert np.all(np.isfinite(returns)) and returns.shape[0] == 2
    assert np.all(np.isnan(ds["traj_mid"].values[envelope]))  # no trajectories from the adapter
    assert not any((study / "policies").glob("envelope_*.mmpol"))  # torch policies have no policy file
    assert json.loads(ds.attrs["indicators"])["envelope"]["n_seeds"] == 2


def test_a_discrete_policy_acts_identically_in_the_continuous_mode():
    discrete = MarketMakingEnv(EnvConfig(action_mode="discrete"))
    continuous = MarketMakingEnv(EnvConfig(action_mode="continuous"))
    params = make_params(discrete.config, **SMALL)
    policy = AvellanedaStoikov(discrete, params, gamma=0.1)  # snaps its quotes to the discrete grid
    key = jax.random.key(3)
    a = rollout(discrete, policy, key, params)
    b = rollout(
        continuous, InActionMode(policy, discrete, continuous.config), key, make_params(continuous.config, **SMALL)
    )
    np.testing.assert_array_equal(np.asarray(a.reward), np.asarray(b.reward))
    np.testing.assert_array_equal(np.asarray(a.info.inventory), np.asarray(b.info.inventory))


def test_wall_time_budget_from_two_pilots():
    calls = []

    def run_seconds(n):  # 3 s fixed cost, 200 steps/s
        calls.append(n)
        return 3.0 + n / 200

    steps, calibration = steps_for_wall_time(run_seconds, 13.0, 500)
    assert steps == 2_000 and calls == [500, 1_000]
    assert calibration["steps_per_second"] == pytest.approx(200) and calibration["fixed_seconds"] == pytest.approx(3)


def test_wall_time_pilots_grow_until_the_extra_steps_cost_measurable_time():
    calls = []

    def run_seconds(n):  # compilation dominates: 20 s fixed, 10,000 steps/s
        calls.append(n)
        return 20.0 + n / 10_000

    steps, calibration = steps_for_wall_time(run_seconds, 60.0, 1_000)
    assert calls[:2] == [1_000, 2_000] and len(calls) > 2  # 0.1 s apart: too close to trust, pilots doubled
    assert calibration["steps_per_second"] == pytest.approx(10_000)
    assert steps == pytest.approx(400_000, rel=1e-6)
    with pytest.raises(ValueError, match="wall_time_s"):
        steps_for_wall_time(run_seconds, 0.0, 10)


def test_ppo_budget_rounds_to_whole_updates():
    hp = with_env_steps("ppo", {"num_envs": 16, "num_steps": 20}, 6_000)
    assert hp["total_timesteps"] == 6_080  # 19 updates of 320 steps
    assert (
        with_env_steps("ppo", {"num_envs": 16, "num_steps": 20, "num_checkpoints": 4}, 100)["total_timesteps"] == 1280
    )
    assert with_env_steps("dqn", {}, 777)["total_timesteps"] == 777
    with pytest.raises(ValueError, match="env_steps"):
        with_env_steps("dqn", {}, 0)
