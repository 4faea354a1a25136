"""The Ray backend on a local head on loopback (2 CPUs, one per module): the same dataset as in process, a
worker killed once is retried, an always-failing unit is named and leaves finished parts intact, and a
killed driver resumes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from conftest import tiny_model

from morl_mm.cli import main as cli
from morl_mm.study import parse_config, run_study
from morl_mm.study.backends import RayBackend, start_local_head
from morl_mm.study.dataset import read_dataset

pytestmark = pytest.mark.xdist_group("ray")  # one head for the module (make test runs --dist loadgroup)

MODEL = (
    tiny_model("tiny_ray")
    + """
[evaluation]
episodes = 32
seeds = [0]
weights_per_axis = 3
"""
)
PPO = """
[learners.ppo]
algorithm = "ppo"
num_envs = 16
num_steps = 40
total_timesteps = {steps}
num_minibatches = 4
num_checkpoints = 1
"""


def config(text: str):
    import tomllib

    return parse_config(tomllib.loads(text))


@pytest.fixture(scope="module")
def head():
    """A local Ray head with 2 CPUs, its servers on 127.0.0.1; its GCS address."""
    start_local_head(num_cpus=2)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture
def fault(monkeypatch, tmp_path):
    """``fault(unit, times)``: the process that starts ``unit`` exits its first ``times`` times."""

    def inject(unit: str, times: int) -> Path:
        marks = tmp_path / "faults"
        monkeypatch.setenv("MORL_MM_FAULT_UNIT", unit)
        monkeypatch.setenv("MORL_MM_FAULT_TIMES", str(times))
        monkeypatch.setenv("MORL_MM_FAULT_DIR", str(marks))
        return marks

    return inject


def test_local_head_listens_on_loopback_only(head):
    import psutil

    assert head.startswith("127.0.0.1:")
    ray.get(ray.remote(lambda: 1).remote())  # a worker is up
    pids = {p.pid for p in psutil.Process().children(recursive=True)}
    listening = [c for c in psutil.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN and c.pid in pids]
    assert listening
    assert all(c.laddr.ip in ("127.0.0.1", "::ffff:127.0.0.1", "::1") for c in listening), listening


def test_same_dataset_on_both_backends_and_a_killed_worker_is_retried(head, tmp_path, fault):
    study = config(MODEL + PPO.format(steps=1280))
    local = run_study(study, tmp_path / "inprocess", progress=False)
    marks = fault("classical", 1)
    on_ray = run_study(study, tmp_path / "ray", progress=False, backend=RayBackend(max_retries=1))
    assert len(list(marks.iterdir())) == 1  # the classical unit's first worker died; its retry finished
    assert on_ray.attrs["backend"] == "ray" and local.attrs["backend"] == "inprocess"
    assert list(on_ray.policy.values) == list(local.policy.values)
    for name in ("returns", "value", "ci", "nondominated", "traj_inventory", "preference"):
        np.testing.assert_array_equal(on_ray[name].values, local[name].values, err_msg=name)
    untimed = lambda ds: {
        kind: {k: v for k, v in values.items() if k != "train_seconds"}
        for kind, values in json.loads(ds.attrs["indicators"]).items()
    }
    assert untimed(on_ray) == untimed(local)
    for path in (tmp_path / "inprocess" / "policies").iterdir():  # the same policy files
        assert (tmp_path / "ray" / "policies" / path.name).read_bytes() == path.read_bytes(), path.name


def test_always_failing_unit_is_named_and_finished_parts_are_kept(head, tmp_path, fault, capsys):
    path = tmp_path / "study.toml"
    path.write_text(MODEL)
    out = tmp_path / "out"
    fault("classical", 100)
    run = ["run", str(path), "--out", str(out), "--quiet", "--no-render", "--backend", "ray"]
    assert cli(run + ["--max-retries", "1"]) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("morl-mm run: error: 1 unit(s) failed: classical (WorkerCrashedError after 2 attempt(s)")
    assert error.endswith(f"finished units are kept in {out / 'parts'}: run the same command again to resume")
    assert (out / "parts" / "oracle.nc").is_file() and not (out / "parts" / "classical.nc").exists()
    assert not (out / "study.nc").exists()  # nothing partial is written as the result
    oracle = (out / "parts" / "oracle.nc").read_bytes()
    os.environ.pop("MORL_MM_FAULT_UNIT")
    assert cli(run) == 0
    assert "oracle: done before, reusing" in capsys.readouterr().out
    assert (out / "parts" / "oracle.nc").read_bytes() == oracle
    assert set(read_dataset(out / "study.nc").kind.values) == {"oracle", "classical"}


def test_backend_options_fail_clearly(tmp_path, capsys):
    path = tmp_path / "study.toml"
    path.write_text(MODEL)
    assert cli(["run", str(path), "--address", "auto"]) == 2
    assert capsys.readouterr().err.strip() == "morl-mm run: error: --address needs --backend ray"
    with pytest.raises(ValueError, match="--max-retries must be >= 0"):
        RayBackend(max_retries=-1)


def test_a_killed_driver_resumes(head, tmp_path, fault, capsys):
    path = tmp_path / "study.toml"
    path.write_text(MODEL)
    out = tmp_path / "out"
    fault("classical", 1)
    env = {
        **os.environ,
        "MORL_MM_FAULT_MODE": "hang",  # the classical unit never finishes in the first driver
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")]),
    }
    run = ["run", str(path), "--out", str(out), "--quiet", "--no-render", "--backend", "ray", "--address", head]
    with (tmp_path / "driver.log").open("w") as log:
        driver = subprocess.Popen(
            [sys.executable, "-m", "morl_mm.cli", *run], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 300
        while not (out / "parts" / "oracle.nc").is_file():
            assert driver.poll() is None, (tmp_path / "driver.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the driver did not finish the oracle in time"
            time.sleep(0.1)
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    assert not (out / "parts" / "classical.nc").exists() and not (out / "study.nc").exists()
    oracle = (out / "parts" / "oracle.nc").read_bytes()
    assert cli(run) == 0  # the fault has fired once: the classical unit runs
    assert "oracle: done before, reusing" in capsys.readouterr().out
    assert (out / "parts" / "oracle.nc").read_bytes() == oracle
    assert set(read_dataset(out / "study.nc").kind.values) == {"oracle", "classical"}
