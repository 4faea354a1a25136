"""Training budgets in wall time: how many env steps a learner can take in a given number of seconds.

A study can give a learner ``wall_time_s`` instead of an env-step budget (to compare learners at
equal wall time). The learner is not stopped by a clock (a jitted JAX loop cannot be); instead two
short pilot runs of ``n`` and ``2n`` steps measure its fixed cost (compilation, set-up) and its
rate, and the budget becomes ``rate * (wall_time_s - fixed cost)`` steps. The study records the
pilot figures and the wall time the real run took, so a reader sees how close to the target it came.
"""

from __future__ import annotations

from collections.abc import Callable

MAX_DOUBLINGS = 4
MIN_EXTRA_FRACTION = 0.25  # the longer pilot must take >= 25% more time than the shorter ...
MIN_EXTRA_SECONDS = 0.5  # ... and >= 0.5 s more


def steps_for_wall_time(run_seconds: Callable[[int], float], wall_time_s: float, pilot_steps: int) -> tuple[int, dict]:
    """Env steps that fill ``wall_time_s`` seconds, from pilot runs of ``pilot_steps`` and twice that.

    ``run_seconds(n)`` trains for ``n`` env steps and returns the wall time it took. Returns the
    budget (at least ``pilot_steps``) and the calibration: ``{"pilot_steps", "pilot_seconds",
    "steps_per_second", "fixed_seconds"}``.
    """
    if not wall_time_s > 0:
        raise ValueError(f"wall_time_s: must be > 0, got {wall_time_s!r}")
    if int(pilot_steps) < 1:
        raise ValueError(f"pilot_steps: must be >= 1, got {pilot_steps!r}")
    pilot_steps = int(pilot_steps)
    short, long = run_seconds(pilot_steps), run_seconds(2 * pilot_steps)
    # the extra steps must cost a measurable time, or timing noise makes the rate anything: double the
    # pilot (the longer run becomes the shorter one) until they do
    for _ in range(MAX_DOUBLINGS):
        if long - short >= max(MIN_EXTRA_FRACTION * short, MIN_EXTRA_SECONDS):
            break
        pilot_steps, short, long = 2 * pilot_steps, long, run_seconds(4 * pilot_steps)
    # the marginal cost of the second pilot's extra steps gives the rate; what is left of the first is fixed
    rate = pilot_steps / max(long - short, MIN_EXTRA_SECONDS)
    fixed = max(short - pilot_steps / rate, 0.0)
    steps = max(pilot_steps, int(rate * (wall_time_s - fixed)))
    return steps, {
        "pilot_steps": [pilot_steps, 2 * pilot_steps],
        "pilot_seconds": [short, long],
        "steps_per_second": rate,
        "fixed_seconds": fixed,
    }
