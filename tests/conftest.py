"""Suite-wide settings, applied before JAX starts its backend."""

import os

# jax 0.10's CPU scheduler can deadlock when a training loop is vmapped over seeds or weights (the
# network parameters batched); the older scheduler does not. Must be set before the first JAX call.
_FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler=false"
if _FLAG.split("=")[0] not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_FLAG}".strip()

# the CLI's persistent compilation cache (morl_mm.jax_cache) stays off in the suite: no writes to ~/.cache
os.environ.setdefault("MORL_MM_COMPILE_CACHE", "off")


def tiny_model(name: str) -> str:
    """The first tables of a tiny study config: ``[study]`` named ``name``, a 40-step discrete model with
    inventory limit 4, and two classical strategies (the oracle is on by default)."""
    return f"""
[study]
name = "{name}"
seed = 0

[env]
action_mode = "discrete"

[env.params]
horizon = 0.2
inventory_limit = 4.0

[[classical]]
kind = "avellaneda_stoikov"
gamma = 0.1

[[classical]]
kind = "fixed_spread"
half_spread = 0.7
"""


def run_study_cli(root, text: str, name: str = "study", extra=()):
    """Write the study config ``text`` under ``root``, run it through the CLI (with ``extra`` options, e.g.
    ``("--no-render",)``) and return the output folder."""
    from morl_mm.cli import main as cli

    config = root / f"{name}.toml"
    config.write_text(text)
    out = root / "out"
    assert cli(["run", str(config), "--out", str(out), "--quiet", *extra]) == 0
    return config, out


# property-based tests: the same examples on every run (CI is deterministic), no per-example deadline
# (JAX compiles on the first example)
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "ci", derandomize=True, deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
# HYPOTHESIS_PROFILE=explore: new random examples on every run, to look for defects beyond the CI examples
settings.register_profile("explore", parent=settings.get_profile("ci"), derandomize=False, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def exact_hypervolume(points, ref) -> float:
    """Hypervolume (maximisation) by brute force on the grid of the points' coordinates: independent of
    moocore, for checking the project's indicators on small fronts."""
    import numpy as np

    points = np.asarray(points, np.float64).reshape(-1, len(ref))
    points = points[np.all(points > ref, axis=1)]
    if len(points) == 0:
        return 0.0
    axes = [np.unique(np.concatenate([[r], points[:, k]])) for k, r in enumerate(ref)]
    upper = np.stack(np.meshgrid(*[a[1:] for a in axes], indexing="ij"), axis=-1).reshape(-1, len(ref))
    sizes = np.stack(np.meshgrid(*[np.diff(a) for a in axes], indexing="ij"), axis=-1).reshape(-1, len(ref))
    covered = np.zeros(len(upper), bool)
    for p in points:  # a cell is dominated when some point is at least its upper corner everywhere
        covered |= np.all(p >= upper, axis=1)
    return float(np.prod(sizes[covered], axis=1).sum())
