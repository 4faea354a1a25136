"""Smoke tests of the benchmark scripts: they run and report well-formed figures (no timing claims)."""

import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_env_throughput_quick_json():
    out = subprocess.run([sys.executable, str(BENCHMARKS / "env_throughput.py"), "--quick", "--json"],
                         check=True, capture_output=True, text=True, timeout=300).stdout
    result = json.loads(out)  # exactly one JSON object on stdout
    assert set(result) == {"jax", "numpy", "adapter", "ratios"}
    assert set(result["jax"]) == set(result["numpy"]) and len(result["jax"]) >= 2
    assert all(key.isdigit() for key in result["jax"])
    assert set(result["adapter"]) == {"1"}
    assert set(result["ratios"]) == {"jax_over_numpy", "jax_over_adapter"}
    figures = [*result["jax"].values(), *result["numpy"].values(), result["adapter"]["1"], *result["ratios"].values()]
    assert all(isinstance(x, float) and x > 0 for x in figures)
    assert result["ratios"]["jax_over_numpy"] == max(result["jax"].values()) / max(result["numpy"].values())
