"""Study configs under hostile input: every value type-checked, errors name the file and the key
(issue 16, defect 2), and a fuzz of configs generated from the schema (parsing only)."""

import copy
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from morl_mm.cli import main as cli
from morl_mm.env import make_params
from morl_mm.study import ConfigError, load_config

VALID = {
    "study": {"name": "fuzz", "seed": 0},
    "env": {
        "action_mode": "continuous",
        "max_depth": 5.0,
        "max_lots": 1,
        "objectives": ["pnl", "inventory_risk", "quoting_ratio"],
        "depth_grid": [0.2, 0.6, 1.0],
        "mid_noise": "gaussian",
        "params": {
            "horizon": 0.2,
            "dt": 0.005,
            "sigma": 2.0,
            "kappa": 1.5,
            "inventory_limit": 4.0,
            "latency": 0,
            "arrival_rate": 140.0,
        },
    },
    "oracle": {"enabled": True, "depth_step": 0.05},
    "classical": [
        {"kind": "avellaneda_stoikov", "gamma": 0.1},
        {"kind": "fixed_spread", "half_spread": 0.7},
        {"kind": "linear_skew", "half_spread": 0.7, "skew": 0.1},
    ],
    "learners": {
        "ppo": {
            "algorithm": "ppo",
            "num_envs": 16,
            "num_steps": 40,
            "total_timesteps": 6400,
            "num_minibatches": 4,
            "learning_rate": 0.001,
            "hidden_sizes": [32, 32],
            "seeds": [0, 1],
            "group": "g",
        },
        "q": {"algorithm": "dqn", "env_steps": 5000, "hidden_sizes": [32], "learning_rate": 0.001},
    },
    "evaluation": {"episodes": 8, "seeds": [0, 1], "weights_per_axis": 3},
    "scenarios": {"calm": {"sigma": 1.0}, "toxic": {"adverse_impact": 0.05}},
}


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f'"{k}" = {toml_value(v)}' for k, v in value.items()) + "}"


def to_toml(doc: dict) -> str:
    """A small TOML writer: scalars first, then tables, arrays of tables and sub-tables."""
    lines = [
        f'"{k}" = {toml_value(v)}'
        for k, v in doc.items()
        if not isinstance(v, dict) and not (isinstance(v, list) and v and all(isinstance(x, dict) for x in v))
    ]

    def table(prefix, body):
        lines.append(f"[{prefix}]")
        subs = {}
        for k, v in body.items():
            if isinstance(v, dict):
                subs[k] = v
            else:
                lines.append(f'"{k}" = {toml_value(v)}')
        for k, v in subs.items():
            table(f'{prefix}."{k}"', v)

    for k, v in doc.items():
        if isinstance(v, dict):
            table(f'"{k}"', v)
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for item in v:
                lines.append(f'[["{k}"]]')
                lines += [f'"{ik}" = {toml_value(iv)}' for ik, iv in item.items()]
    return "\n".join(lines) + "\n"


def leaves(doc, path=()):
    """Every (path, value) of the document; list items of tables get their index in the path."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield path + (k,), v
            yield from leaves(v, path + (k,))
    elif isinstance(doc, list) and doc and all(isinstance(x, dict) for x in doc):
        for i, v in enumerate(doc):
            yield from leaves(v, path + (i,))


PATHS = [p for p, _ in leaves(VALID)]
HOSTILE = st.one_of(
    st.sampled_from(
        ["x", "", True, False, -1, 0, 1, 2.5, -0.5, 1e308, -1e308, 10**18, [], ["a"], [1, 2], [0.5], {"a": 1}, {}]
    ),
    st.just(float("nan")),
    st.just(float("inf")),
    st.just(float("-inf")),
    st.floats(-1e3, 1e3),
    st.integers(-10, 10**6),
)


def mutate(doc, path, action, value):
    value, target = copy.deepcopy(value), doc  # sampled values are shared objects
    for key in path[:-1]:
        target = target[key]
    last = path[-1]
    if action == "delete":
        del target[last]
    elif action == "unknown" and isinstance(target, dict):
        target[f"{last}_typo"] = value
    else:
        target[last] = value


@st.composite
def configs(draw):
    doc = copy.deepcopy(VALID)
    mutated = []
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p, _ in leaves(doc)]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "replace", "replace", "delete", "unknown"]))
        mutate(doc, path, action, draw(HOSTILE))
        mutated.append((path, action))
    return doc, mutated


def names_of(path) -> set[str]:
    """The words an error about ``path`` may use to point at it: a key or the table it sits in."""
    words = {str(k) for k in path if isinstance(k, str)}
    return words | {f"{k}_typo" for k in words} | {f"classical[{k}]" for k in path if isinstance(k, int)}


@settings(max_examples=500)
@given(case=configs())
def test_fuzzed_configs_are_valid_or_a_config_error_naming_file_and_key(tmp_path_factory, case):
    doc, mutated = case
    path = tmp_path_factory.mktemp("cfg", numbered=True) / "fuzz.toml"
    path.write_text(to_toml(doc))
    try:
        config = load_config(path)
    except ConfigError as err:
        message = str(err)
        assert str(path) in message and "\n" not in message.strip(), message
        assert any(word in message for path_, _ in mutated for word in names_of(path_)), (message, mutated)
        return
    # a valid study: its values have the documented types, and its models and scenarios build
    ev = config.evaluation
    assert type(ev.episodes) is int and ev.episodes >= 1 and type(ev.weights_per_axis) is int
    assert ev.seeds and all(type(s) is int and 0 <= s < 2**32 for s in ev.seeds)
    assert type(config.seed) is int and isinstance(config.name, str)
    for name in (None, *config.scenarios):
        config.env_params(name)
    for spec in config.learners:
        assert spec.seeds and all(type(s) is int for s in spec.seeds)
    assert sorted(p.name for p in path.parent.iterdir()) == ["fuzz.toml"]  # parsing writes nothing


def test_the_base_of_the_fuzz_is_a_valid_study(tmp_path):
    path = tmp_path / "valid.toml"
    path.write_text(to_toml(VALID))
    config = load_config(path)
    assert len(config.learners) == 2 and len(config.classical) == 3 and config.evaluation.seeds == (0, 1)


def test_a_bad_evaluation_seed_fails_before_anything_runs(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('[[classical]]\nkind = "fixed_spread"\nhalf_spread = 0.7\n[evaluation]\nseeds = ["a"]\n')
    assert cli(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "seeds" in err and str(path) in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_a_non_utf8_config_is_a_config_error_naming_the_file(tmp_path, capsys):
    path = tmp_path / "latin1.toml"
    path.write_bytes('[study]\nname = "caf\u00e9"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="UTF-8") as err:
        load_config(path)
    assert str(path) in str(err.value)
    assert cli(["run", str(path), "--quiet"]) == 2
    assert str(path) in capsys.readouterr().err


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"sigma": "2"}, "sigma"),
        ({"kappa": None}, "kappa"),
        ({"latency": True}, "latency"),
        ({"regime_vol": ["a"]}, "regime_vol"),
    ],
)
def test_make_params_names_the_field_of_a_value_that_is_no_number(overrides, field):
    with pytest.raises(ValueError, match=f"EnvParams.{field}: must be"):
        make_params(**overrides)


def test_an_unreadable_config_is_a_config_error_naming_the_file(tmp_path, monkeypatch):
    from pathlib import Path

    path = tmp_path / "locked.toml"
    path.write_text("[study]\nname = 'x'\n")

    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", denied)
    with pytest.raises(ConfigError, match="Permission denied") as err:
        load_config(path)
    assert str(path) in str(err.value)
