"""Suite-wide settings, applied before JAX starts its backend."""

import os

# jax 0.10's CPU scheduler can deadlock when a training loop is vmapped over seeds or weights (the
# network parameters batched); the older scheduler does not. Must be set before the first JAX call.
_FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler=false"
if _FLAG.split("=")[0] not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_FLAG}".strip()


def run_study_cli(root, text: str, name: str = "study"):
    """Write the study config ``text`` under ``root``, run it through the CLI and return the output folder."""
    from morl_mm.cli import main as cli

    config = root / f"{name}.toml"
    config.write_text(text)
    out = root / "out"
    assert cli(["run", str(config), "--out", str(out), "--quiet"]) == 0
    return config, out


# property-based tests: the same examples on every run (CI is deterministic), no per-example deadline
# (JAX compiles on the first example)
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
# HYPOTHESIS_PROFILE=explore: new random examples on every run, to look for defects beyond the CI examples
settings.register_profile("explore", parent=settings.get_profile("ci"), derandomize=False, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
