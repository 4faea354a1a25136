"""A study with [robust]: the exact robust front and every front under the worst-case adversary (issue 11)."""

import json

import numpy as np
import pytest
from conftest import run_study_cli
from test_robustness import TINY as ROBUSTNESS_TINY

from morl_mm.cli import main as cli
from morl_mm.study import ConfigError, parse_config
from morl_mm.study.robust_front import load_robust

# tests/test_robustness.py's tiny model and PPO, with the exact oracle (the default tick) and [robust]
TINY = (
    ROBUSTNESS_TINY[: ROBUSTNESS_TINY.index("tick_size")].replace('"tiny_robust"', '"tiny_robust_front"')
    + "\n[oracle]\nenabled = true\n\n"
    + ROBUSTNESS_TINY[ROBUSTNESS_TINY.index("[learners.ppo]") : ROBUSTNESS_TINY.index("[evaluation]")]
    + """\
[evaluation]
episodes = 16
seeds = [0]
weights_per_axis = 2

[robust]
adversary = { drift = [-2.0, 2.0] }
divisions = 2
episodes = 16
"""
)


def test_a_study_with_robust_writes_the_worst_case_fronts_and_robustness_reports_them(tmp_path, capsys):
    _, out = run_study_cli(tmp_path, TINY, extra=("--no-render",))
    robust = load_robust(out)
    assert robust is not None and robust.sizes["weight"] == 6  # the 2-division lattice of 3 objectives
    assert list(robust.front.values) == ["oracle", "ppo"]
    assert np.isfinite(robust["worst_case"].values).all() and np.isfinite(robust["robust_front"].values).all()
    capsys.readouterr()
    assert cli(["robustness", str(out), "--json", "--no-figure"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert {"study", "rows", "reference_point"} <= set(table)  # the existing keys are kept
    adversary = table["adversary"]
    assert adversary["adversary"] == "drift=-2:2" and adversary["n_weights"] == 6
    rows = {r["name"]: r for r in adversary["rows"]}
    for name in ("oracle", "ppo"):
        assert 0.0 < rows[name]["hv_ratio_robust"] < 1.5 and 0.0 < rows[name]["hv_ratio_plain"] < 1.5
    # the max-min value is the best any policy can guarantee at its weight: the plain CCS's choice under the
    # worst case does not beat it beyond Monte-Carlo noise, and the robust value is below the plain optimum
    assert rows["oracle"]["utility_gap_to_robust"] > -0.05
    assert adversary["exact"]["utility_robust"] <= adversary["exact"]["utility_plain"] + 1e-9
    # a resumed study reuses robust.nc (same fingerprint), and the markdown table has its section
    stamp = (out / "robust.nc").stat().st_mtime_ns
    assert cli(["run", str(tmp_path / "study.toml"), "--out", str(out), "--quiet", "--no-render"]) == 0
    assert (out / "robust.nc").stat().st_mtime_ns == stamp
    capsys.readouterr()
    assert cli(["robustness", str(out), "--no-figure"]) == 0
    assert "HV ratio vs robust front" in capsys.readouterr().out


@pytest.mark.parametrize(
    "table, key",
    [
        ("adversary = { drift = [2.0, -2.0] }", "adversary"),
        ("adversary = { speed = [0.0, 1.0] }", "adversary"),
        ("adversary = { drift = [-2.0, 2.0] }\ndivisions = 0", "divisions"),
        ('adversary = { drift = [-2.0, 2.0] }\nepisodes = "many"', "episodes"),
        ("adversary = { drift = [-2.0, 2.0] }\nweights = 3", "weights"),
        ("divisions = 4", "adversary"),
    ],
)
def test_a_bad_robust_table_is_a_config_error_naming_the_key(table, key):
    import tomllib

    raw = tomllib.loads(TINY.split("[robust]")[0] + "[robust]\n" + table)
    with pytest.raises(ConfigError, match=rf"bad\.toml: .*(\[robust\].*{key}|{key}.*\[robust\])"):
        parse_config(raw, source="bad.toml")
