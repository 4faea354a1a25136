"""Where a study's units run: in this process (the default) or as Ray tasks on a cluster.

A backend runs :class:`UnitTask` s with a ``work`` function (task -> :class:`UnitResult`, a module-level
function so that Ray can ship it) and yields each task with its result as it finishes. Results are plain
data (the unit's part Dataset and its policy files as bytes), so the driver writes the same part files and
the same ``study.nc`` on either backend, and a cluster needs no shared file system.

- :class:`InProcessBackend`: one unit after the other; an exception ends the run (fail fast).
- :class:`RayBackend`: every unit a Ray task asking for the CPUs / GPUs of its ``resources``; a task whose
  worker dies (killed, out of memory, node lost) is retried up to ``max_retries`` times, an exception raised
  by the unit's own code is not retried (it would raise again). A unit that still fails is yielded with its
  error and the other units go on; the runner then raises :class:`UnitFailedError` naming it.

Fault injection for tests: with ``MORL_MM_FAULT_UNIT=<unit label>`` set, the process that starts that unit
exits at once (``os._exit``, like a killed worker; with ``MORL_MM_FAULT_MODE=hang`` it blocks instead, a unit
that never finishes) the first ``MORL_MM_FAULT_TIMES`` times (default 1; the count is kept as files in
``MORL_MM_FAULT_DIR``); unset, nothing happens.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

BACKENDS = ("inprocess", "ray")
DEFAULT_MAX_RETRIES = 3
FORWARDED_ENV = ("XLA_FLAGS", "JAX_PLATFORMS")  # and every MORL_MM_* variable: the driver's settings on the workers


class UnitTask(NamedTuple):
    """One unit to run: ``unit`` is its name in the study (``oracle``, ``classical``, ``learner:<name>``),
    ``label`` how progress and errors name it (the unit, or a sweep trial)."""

    unit: str
    label: str
    config: Any  # the StudyConfig the unit belongs to
    fingerprint: str  # stored in the part: what makes a finished part reusable
    resources: dict[str, float]  # {num_cpus, num_gpus} asked of a Ray cluster


class UnitResult(NamedTuple):
    """What a unit sends back: its part (None: no policies, e.g. a skipped oracle), its policy files as
    ``{label: bytes}`` and its wall time in seconds (measured where it ran)."""

    label: str
    part: Any  # xr.Dataset | None
    policies: dict[str, bytes]
    seconds: float


class UnitFailedError(RuntimeError):
    """Units that failed (after their retries); finished units are kept, a rerun resumes."""

    def __init__(self, failures: dict[str, str], where: str = ""):
        self.failures = dict(failures)
        names = ", ".join(f"{label} ({reason})" for label, reason in failures.items())
        super().__init__(f"{len(failures)} unit(s) failed: {names}" + (f"; {where}" if where else ""))


class InProcessBackend:
    """Run units one after the other in this process (the embedded default)."""

    name = "inprocess"
    parallelism = 1

    def run(
        self, tasks: list[UnitTask], work: Callable[[UnitTask], UnitResult], started: Callable[[UnitTask], None]
    ) -> Iterator[tuple[UnitTask, UnitResult | Exception]]:
        for task in tasks:
            started(task)
            yield task, work(task)

    def close(self) -> None:
        pass


class RayBackend:
    """Run units as Ray tasks on the cluster at ``address`` (``"auto"``, ``"HOST:PORT"``, or None: a Ray
    already initialised in this process, else a local head on 127.0.0.1 with this machine's CPUs)."""

    name = "ray"

    def __init__(self, address: str | None = None, max_retries: int = DEFAULT_MAX_RETRIES):
        try:
            import ray
        except ImportError:
            raise ValueError("--backend ray needs Ray: pip install 'morl-mm[ray]'") from None
        if max_retries < 0:
            raise ValueError(f"--max-retries must be >= 0, got {max_retries}")
        self._ray, self.max_retries, self._owned = ray, int(max_retries), False
        if not ray.is_initialized():
            try:
                if address is None:
                    start_local_head()
                else:
                    ray.init(address=address, configure_logging=False)
            except (ConnectionError, RuntimeError, ValueError) as err:
                raise ValueError(f"--address {address}: cannot reach a Ray cluster ({first_line(err)})") from None
            self._owned = True
        self.parallelism = max(1, int(ray.cluster_resources().get("CPU", 1)))

    def run(
        self, tasks: list[UnitTask], work: Callable[[UnitTask], UnitResult], started: Callable[[UnitTask], None]
    ) -> Iterator[tuple[UnitTask, UnitResult | Exception]]:
        ray = self._ray
        remote = ray.remote(work)
        env = forwarded_env()
        in_flight = {}
        for task in tasks:
            options = {
                "max_retries": self.max_retries,
                "num_cpus": task.resources.get("num_cpus", 1.0),
                "num_gpus": task.resources.get("num_gpus", 0.0),
            }
            if env:
                options["runtime_env"] = {"env_vars": env}
            in_flight[remote.options(**options).remote(task)] = task
            started(task)
        try:
            while in_flight:
                ready, _ = ray.wait(list(in_flight), num_returns=1)
                task = in_flight.pop(ready[0])
                try:
                    outcome = ray.get(ready[0])
                except ray.exceptions.RayError as err:  # died after its retries, or raised
                    outcome = err
                yield task, outcome
        finally:  # interrupted (Ctrl-C, an error in the driver): the units still running are cancelled
            for ref in in_flight:
                ray.cancel(ref, force=True)

    def close(self) -> None:
        if self._owned:
            self._ray.shutdown()


def make_backend(
    name: str = "inprocess", address: str | None = None, max_retries: int = DEFAULT_MAX_RETRIES
) -> InProcessBackend | RayBackend:
    """The backend of ``morl-mm run --backend NAME [--address A] [--max-retries N]``."""
    if name not in BACKENDS:
        raise ValueError(f"--backend must be one of {list(BACKENDS)}, got {name!r}")
    if name == "inprocess":
        if address is not None:
            raise ValueError("--address needs --backend ray")
        return InProcessBackend()
    return RayBackend(address, max_retries)


def start_local_head(num_cpus: int | None = None) -> None:
    """Start a private single-node Ray in this process whose servers listen on 127.0.0.1 only (Ray binds its
    servers to the node's address, and takes the machine's outside address for a node unless cluster mode is
    off: ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, which its processes inherit)."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False  # read once at import: Ray may have been imported before
    ray.init(num_cpus=num_cpus, include_dashboard=False, configure_logging=False)


def failure_reason(err: Exception, max_retries: int) -> str:
    """One line on why a Ray task failed: the unit's own exception, or the worker's death after its retries."""
    ray_exceptions = _ray_exceptions()
    if ray_exceptions is not None and isinstance(err, ray_exceptions.RayTaskError):
        cause = getattr(err, "cause", None) or err
        return f"raised {type(cause).__name__}: {first_line(cause)}"
    return f"{type(err).__name__} after {max_retries + 1} attempt(s): {first_line(err)}"


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def forwarded_env() -> dict[str, str]:
    """The driver's environment variables that the workers get too."""
    return {k: v for k, v in os.environ.items() if k in FORWARDED_ENV or k.startswith("MORL_MM_")}


def inject_fault(label: str) -> None:
    """Test hook (see the module docstring): exit this process if ``MORL_MM_FAULT_UNIT`` names ``label`` and
    it has not failed ``MORL_MM_FAULT_TIMES`` times yet."""
    if os.environ.get("MORL_MM_FAULT_UNIT") != label:
        return
    marks = Path(os.environ.get("MORL_MM_FAULT_DIR", "."))
    times = int(os.environ.get("MORL_MM_FAULT_TIMES", "1"))
    if len(list(marks.glob(f"fault-{label.replace(':', '_')}-*"))) < times:
        marks.mkdir(parents=True, exist_ok=True)
        (marks / f"fault-{label.replace(':', '_')}-{uuid.uuid4().hex}").touch()
        if os.environ.get("MORL_MM_FAULT_MODE") == "hang":
            while True:
                time.sleep(60)
        os._exit(17)


def _ray_exceptions():
    try:
        import ray.exceptions

        return ray.exceptions
    except ImportError:
        return None
