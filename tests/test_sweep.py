"""Hyperparameter sweeps ([sweep], morl-mm sweep): trials scored by HV ratio against the exact CCS, a labelled
result, the best config printed, finished trials reused, and [sweep] errors that name the key."""

import json
import tomllib

import numpy as np
import pytest

pytest.importorskip("optuna")

from conftest import tiny_model

from morl_mm.agents.ppo import PPOConfig
from morl_mm.cli import main as cli
from morl_mm.study import ConfigError, parse_config
from morl_mm.study.dataset import read_dataset

STUDY = (
    tiny_model("tiny_sweep")
    + """
[evaluation]
episodes = 16
seeds = [0]
weights_per_axis = 3

[learners.ppo]
algorithm = "ppo"
env_steps = 640
num_envs = 16
num_steps = 40
num_minibatches = 4
num_checkpoints = 1
"""
)
SWEEP = """
[sweep]
trials = 2
sampler = "random"

[sweep.space.ppo]
learning_rate = { low = 1e-4, high = 1e-2, log = true }
update_epochs = { choices = [1, 2] }
"""


def test_sweep_scores_trials_against_the_exact_ccs_and_reuses_them(tmp_path, capsys):
    path = tmp_path / "sweep.toml"
    path.write_text(STUDY + SWEEP)
    out = tmp_path / "out"
    assert cli(["sweep", str(path), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    ds = read_dataset(out / "sweep.nc")
    assert list(ds.learner.values) == ["ppo"] and ds.sizes["trial"] == 2
    hv = ds["hv_ratio"].sel(learner="ppo").values
    assert np.all(np.isfinite(hv)) and np.all((hv >= 0) & (hv <= 1.05))
    assert np.all(ds["env_steps"].values == 640)  # every trial at the learner's budget
    result = json.loads((out / "sweep.json").read_text())
    best = result["best"]["ppo"]
    assert best["hv_ratio"] == pytest.approx(hv.max()) and best["trial"] == int(np.argmax(hv))
    tuned = [json.loads(str(h)) for h in ds["hyperparameters"].sel(learner="ppo").values]
    assert all(1e-4 <= t["learning_rate"] <= 1e-2 and t["update_epochs"] in (1, 2) for t in tuned)
    assert len({t["learning_rate"] for t in tuned}) == 2
    assert tuned[0]["learning_rate"] == PPOConfig().learning_rate  # trial 0: the learner's own config
    table = printed[printed.index("[learners.ppo]") :]
    assert tomllib.loads(table)["learners"]["ppo"] == best["hyperparameters"]  # the best config, as TOML
    assert cli(["sweep", str(path), "--out", str(out), "--quiet"]) == 0  # a rerun: every trial reused
    assert capsys.readouterr().out.count("done before, reusing") == 4  # oracle, classical, 2 trials
    assert json.loads((out / "sweep.json").read_text())["best"] == result["best"]


@pytest.mark.parametrize(
    "sweep, message",
    [
        ("[sweep]\n", "sweep.space"),
        ("[sweep]\n[sweep.space.dqn]\nlearning_rate = { low = 1e-4, high = 1e-2 }\n", "no learner 'dqn'"),
        ("[sweep]\n[sweep.space.ppo]\ntotal_timesteps = { low = 640, high = 6400 }\n", "budget"),
        (
            "[sweep]\n[sweep.space.ppo]\nlearning_rate = { low = 0.0, high = 1e-2, log = true }\n",
            "sweep.space.ppo.learning_rate",
        ),
        (
            "[sweep]\ntrials = 0\n[sweep.space.ppo]\nlearning_rate = { low = 1e-4, high = 1e-2 }\n",
            "trials must be an int >= 1",
        ),
        ('[sweep]\nsampler = "grid"\n[sweep.space.ppo]\nlearning_rate = { low = 1e-4, high = 1e-2 }\n', "sampler"),
        ("[sweep]\n[sweep.space.ppo]\nlearning_rat = { low = 1e-4, high = 1e-2 }\n", "learning_rat"),
    ],
)
def test_sweep_config_errors_name_the_key(sweep, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(tomllib.loads(STUDY + sweep), "sweep.toml")


def test_learner_resources_are_checked_and_do_not_change_the_fingerprint():
    from morl_mm.study.runner import _learner_key, unit_resources

    plain = parse_config(tomllib.loads(STUDY))
    placed = parse_config(
        tomllib.loads(
            STUDY.replace("num_checkpoints = 1", "num_checkpoints = 1\nresources = { num_cpus = 2, num_gpus = 0.5 }")
        )
    )
    assert unit_resources(placed, "learner:ppo") == {"num_cpus": 2.0, "num_gpus": 0.5}
    assert unit_resources(plain, "learner:ppo") == {"num_cpus": 1.0}
    assert _learner_key(placed.learners[0]) == _learner_key(plain.learners[0])
    with pytest.raises(ConfigError, match="learners.ppo.resources: unknown key"):
        parse_config(
            tomllib.loads(STUDY.replace("num_checkpoints = 1", "num_checkpoints = 1\nresources = { gpus = 1 }"))
        )
