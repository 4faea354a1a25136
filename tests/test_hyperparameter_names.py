"""One hyperparameter vocabulary (CleanRL's names): every field documented once in its config dataclass, former
names still load with a one-line warning naming the new key, and a key given under both names is an error."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
import warnings

import pytest

from morl_mm.agents import arl, dqn, ppo
from morl_mm.agents.registry import CONFIGS, RENAMED_KEYS, learner_config, with_env_steps
from morl_mm.study.config import ConfigError, parse_config

BASE = {"study": {"name": "names"}, "env": {"action_mode": "discrete"}}


def _field_docstrings(cls) -> dict[str, str]:
    """Field name -> the string literal right under it in the class body (attribute docstrings)."""
    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body
    docs = {}
    for statement, following in zip(body, body[1:]):
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[statement.target.id] = following.value.value
    return docs


@pytest.mark.parametrize("cls", [ppo.PPOConfig, dqn.DQNConfig, arl.ARLConfig])
def test_every_config_field_has_a_docstring(cls):
    own = {f.name for f in dataclasses.fields(cls)} - {
        f.name for c in cls.__mro__[1:] if dataclasses.is_dataclass(c) for f in dataclasses.fields(c)
    }
    assert own and own <= set(_field_docstrings(cls))


def test_the_learners_share_the_cleanrl_names():
    shared = {
        "learning_rate",
        "total_timesteps",
        "num_envs",
        "hidden_sizes",
        "gamma",
        "max_grad_norm",
        "weight_concentration",
    }
    for cls in CONFIGS.values():
        assert shared <= {f.name for f in dataclasses.fields(cls)}
    for algorithm, renamed in RENAMED_KEYS.items():  # every former name maps onto a field that exists
        assert set(renamed.values()) <= {f.name for f in dataclasses.fields(CONFIGS[algorithm])}
        assert not set(renamed) & {f.name for f in dataclasses.fields(CONFIGS[algorithm])}


def test_former_names_load_with_a_warning_naming_the_new_key():
    with pytest.warns(FutureWarning) as record:
        config = learner_config("ppo", {"lr": 0.01, "hidden": [8]})
    assert [str(w.message) for w in record] == [
        "ppo.lr is deprecated: use learning_rate (same meaning)",
        "ppo.hidden is deprecated: use hidden_sizes (same meaning)",
    ]
    assert config.learning_rate == 0.01 and config.hidden_sizes == (8,)
    with pytest.warns(FutureWarning, match="use total_timesteps"):
        assert with_env_steps("dqn", {"total_env_steps": 5}, 20_000) == {"total_timesteps": 20_000}


def test_an_old_study_file_loads_and_says_which_key_replaces_its_own():
    raw = {**BASE, "learners": {"dqn": {"algorithm": "dqn", "total_env_steps": 20_000, "target_tau": 0.01}}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config = parse_config(raw, "old.toml")
    messages = [str(w.message) for w in caught if issubclass(w.category, FutureWarning)]
    assert messages == [
        "old.toml: learners.dqn.total_env_steps is deprecated: use total_timesteps (same meaning)",
        "old.toml: learners.dqn.target_tau is deprecated: use tau (same meaning)",
    ]
    assert config.learners[0].hyperparameters == {"total_timesteps": 20_000, "tau": 0.01}


def test_a_key_under_both_names_is_an_error_naming_both():
    raw = {**BASE, "learners": {"ppo": {"algorithm": "ppo", "lr": 0.01, "learning_rate": 0.02}}}
    with pytest.raises(ConfigError, match=r"'lr' is the former name of 'learning_rate'; give 'learning_rate' only"):
        parse_config(raw, "both.toml")
