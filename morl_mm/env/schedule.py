"""In-episode regime shifts: market params that change at given times inside an episode.

A :class:`Shift` overrides some :class:`EnvParams` fields over a window ``[start, end)`` of model
time (a volatility or drift switch from time ``t`` on, a toxic-flow burst of ``adverse_impact``
for a while), or moves the mid once (``flash_move``: a one-step jump, written as a certain jump
``jump_rate = 1 / dt``, ``jump_mean = size``, ``jump_std = 0`` over the one step that starts at
``start``). A step ``t`` (it runs from time ``t dt`` to ``(t + 1) dt``) is inside a window when its
start time ``t dt`` lies in ``[start, end)``.

:func:`schedule_params` compiles a base :class:`EnvParams` and a list of shifts into
:class:`ScheduledParams`: the params of each *segment* of steps between consecutive window
boundaries (every shift covering a segment applies, a later shift winning on a field two set) and
the segment's first step. :class:`ScheduledEnv` wraps an env: its step reads the params in force at
``state.time`` from them (a gather, as data: ``params_t = segments[k(t)]``), so the wrapped env is
the same pure, jittable and vmappable env contract (``reset_env`` / ``step_env`` / ``step``), and
every rollout and evaluation helper runs on it unchanged. Shapes are static: the number of
segments is fixed (:func:`pad_segments` pads schedules to a common one, so that scenarios with
different shifts stack into one batch).

The observation at step ``t`` is normalised by the params in force at ``t`` (as a constant
scenario's is by its own params): a window over the whole episode is exactly that constant
scenario. The episode's definition cannot shift (:data:`FIXED_FIELDS`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from morl_mm.env.market import EnvState, MarketMakingEnv
from morl_mm.env.params import EnvParams, episode_steps

FIXED_FIELDS = (
    "horizon",
    "dt",
    "mid0",
    "initial_inventory",
    "competitive_distance",
    "order_change_cost",
    "vol_ewma",
    "flow_ewma",
    "regime_vol",
    "regime_transition",
)
"""Fields a shift may not change: the episode (length, start), the objectives' and features' definitions and
the regime arrays."""

FLASH_FIELDS = ("jump_rate", "jump_mean", "jump_std")  # what a flash move sets


@dataclasses.dataclass(frozen=True)
class Shift:
    """EnvParams ``overrides`` in force over ``[start, end)`` (model time units; ``end`` None: to the
    episode's end), or a one-step jump of the mid by ``flash_move`` at ``start`` (then ``end`` is None
    and ``overrides`` may not set the jump fields)."""

    start: float
    end: float | None = None
    overrides: Mapping[str, float] = dataclasses.field(default_factory=dict)
    flash_move: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "overrides", dict(self.overrides))
        numbers = {"start": self.start, "end": self.end, "flash_move": self.flash_move, **self.overrides}
        for name, value in numbers.items():
            if value is None and name in ("end", "flash_move"):
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not math.isfinite(value):
                raise ValueError(f"shift: {name} must be a finite number, got {value!r}")
        fields = {f.name for f in dataclasses.fields(EnvParams)}
        unknown = sorted(set(self.overrides) - fields)
        if unknown:
            raise ValueError(f"shift: unknown EnvParams field(s) {unknown}")
        fixed = sorted(set(self.overrides) & set(FIXED_FIELDS))
        if fixed:
            raise ValueError(f"shift: {fixed} cannot change inside an episode (fixed: {list(FIXED_FIELDS)})")
        if self.start < 0:
            raise ValueError(f"shift: start must be >= 0, got {self.start}")
        if self.flash_move is not None:
            if self.end is not None:
                raise ValueError("shift: a flash_move lasts one step; give its time (at/start), not an end")
            clash = sorted(set(self.overrides) & set(FLASH_FIELDS))
            if clash:
                raise ValueError(f"shift: a flash_move sets the jump fields itself; drop {clash}")
        elif self.end is not None and not self.end > self.start:
            raise ValueError(f"shift: end must be > start, got [{self.start}, {self.end})")
        elif not self.overrides:
            raise ValueError("shift: set at least one EnvParams field (or a flash_move)")

    def steps(self, dt: float, total: int) -> tuple[int, int]:
        """The window ``[first, stop)`` in step indices (a step is inside when its start time is)."""
        first = min(total, max(0, math.ceil(self.start / dt - 1e-9)))
        if self.flash_move is not None:
            return first, min(total, first + 1)
        stop = total if self.end is None else min(total, max(0, math.ceil(self.end / dt - 1e-9)))
        return first, max(first, stop)

    def field_values(self, dt: float) -> dict[str, float]:
        """The EnvParams fields this shift sets (a flash move: a certain jump of its size)."""
        if self.flash_move is None:
            return dict(self.overrides)
        rate = 1.0 / dt
        while rate * dt > 1.0:  # the validated bound jump_rate * dt <= 1, in float64
            rate = float(np.nextafter(rate, 0.0))
        return {**self.overrides, "jump_rate": rate, "jump_mean": float(self.flash_move), "jump_std": 0.0}

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@struct.dataclass
class ScheduledParams:
    """Params that change over an episode: ``segments`` (EnvParams whose leaves have a leading axis S)
    are in force from step ``starts[k]`` (``starts[0] = 0``, ascending) to the next start; ``base`` is
    the model without shifts (its fixed fields are every segment's)."""

    base: EnvParams
    segments: EnvParams
    starts: jnp.ndarray  # (S,) int32

    @property
    def horizon(self):
        return self.base.horizon

    @property
    def dt(self):
        return self.base.dt

    @property
    def n_steps(self):
        return self.base.n_steps

    @property
    def n_segments(self) -> int:
        return int(np.shape(self.starts)[-1])

    def at(self, time) -> EnvParams:
        """The params in force at step ``time`` (jittable; ``time`` may be traced)."""
        index = jnp.sum(jnp.asarray(self.starts)[1:] <= time)
        return jax.tree_util.tree_map(lambda leaf: jnp.asarray(leaf)[index], self.segments)


def schedule_params(
    base: EnvParams, shifts: Sequence[Shift] = (), n_segments: int | None = None, validate=None
) -> ScheduledParams:
    """Compile ``shifts`` over ``base`` into :class:`ScheduledParams` (outside jit; ``base`` unbatched).

    ``n_segments``: pad to this many segments (at least the schedule's own). ``validate``: a check of
    one EnvParams (e.g. ``env.validate``) run on every segment; ``ValueError`` naming the segment's
    steps when one is not a valid model (e.g. ``arrival_rate * dt > 1`` during a burst).
    """
    dt, total = float(base.dt), episode_steps(base)
    windows = [(shift, *shift.steps(dt, total)) for shift in shifts]
    for shift, first, stop in windows:
        if first >= stop:
            raise ValueError(
                f"shift: [{shift.start:g}, {shift.end if shift.end is not None else 'end'}) covers no step "
                f"of the episode (steps of dt = {dt:g} start at 0, dt, ...; horizon {float(base.horizon):g})"
            )
    starts = sorted({0, *(s for _, s, e in windows if s < e), *(e for _, s, e in windows if e < total)} - {total})
    segments = []
    for k, first in enumerate(starts):
        values = {}
        for shift, s, e in windows:  # in the given order: a later shift wins on a field both set
            if s <= first < e:
                values.update(shift.field_values(dt))
        segment = base.replace(
            **{name: jnp.asarray(v, jnp.asarray(getattr(base, name)).dtype) for name, v in values.items()}
        )
        if validate is not None:
            stop = starts[k + 1] if k + 1 < len(starts) else total
            try:
                validate(segment)
            except ValueError as err:
                raise ValueError(f"shifted params of steps [{first}, {stop}): {err}") from None
        segments.append(segment)
    # host arrays of the env's dtypes (float32, int32), never weakly typed: schedules of one shape share compilations
    stacked = jax.tree_util.tree_map(lambda *leaves: np.stack([np.asarray(jnp.asarray(x)) for x in leaves]), *segments)
    schedule = ScheduledParams(base, stacked, np.asarray(starts, np.int32))
    return schedule if n_segments is None else pad_segments(schedule, n_segments)


def pad_segments(schedule: ScheduledParams, n_segments: int) -> ScheduledParams:
    """``schedule`` with copies of its last segment appended, starting at the episode's end (never in
    force during a step), up to ``n_segments`` segments (a static shape shared by a scenario batch)."""
    missing = int(n_segments) - schedule.n_segments
    if missing < 0:
        raise ValueError(f"pad_segments: the schedule has {schedule.n_segments} segments, more than {n_segments}")
    if missing == 0:
        return schedule
    pad = lambda leaf: np.concatenate([leaf, np.repeat(leaf[-1:], missing, axis=0)])  # noqa: E731
    starts = np.concatenate([schedule.starts, np.full((missing,), episode_steps(schedule.base), np.int32)])
    return schedule.replace(segments=jax.tree_util.tree_map(pad, schedule.segments), starts=starts)


def model_params(params: Any) -> Any:
    """The model without shifts: ``params.base`` of :class:`ScheduledParams`, else ``params`` itself
    (what the market-making metrics read: mid0, dt, latency, ...)."""
    return params.base if isinstance(params, ScheduledParams) else params


class ScheduledEnv(MarketMakingEnv):
    """An env whose params follow a :class:`ScheduledParams` schedule over the episode.

    Same contract as the wrapped env (``reset_env``, ``step_env``, ``step`` with auto-reset, spaces,
    action checks): ``step_env`` runs the wrapped env's step with the params in force at
    ``state.time`` and observes the new state under the params of its own time.
    """

    def __init__(self, env: MarketMakingEnv):
        if isinstance(env, ScheduledEnv):
            raise ValueError("ScheduledEnv: the env already follows a schedule")
        self.env = env
        self.config = env.config

    @property
    def default_params(self) -> ScheduledParams:
        return schedule_params(self.env.default_params)

    def make_params(self, shifts: Sequence[Shift] = (), n_segments: int | None = None, **overrides) -> ScheduledParams:
        """Validated :class:`ScheduledParams`: the wrapped env's params with ``overrides``, then ``shifts``."""
        return schedule_params(self.env.make_params(**overrides), shifts, n_segments, self.env.validate)

    def validate(self, params: ScheduledParams) -> None:
        """Check one (unbatched) schedule: every segment a valid model, the fixed fields unshifted."""
        if not isinstance(params, ScheduledParams):
            raise ValueError(f"ScheduledEnv: params must be ScheduledParams, got {type(params).__name__}")
        params = jax.tree_util.tree_map(np.asarray, params)  # on the host: slicing device arrays dispatches
        self.env.validate(params.base)
        starts = np.asarray(params.starts)
        if starts.ndim != 1 or starts[0] != 0 or np.any(np.diff(starts) < 0):
            raise ValueError(f"ScheduledParams.starts: must start at step 0 and ascend, got {starts.tolist()}")
        for k in range(params.n_segments):
            segment = jax.tree_util.tree_map(lambda leaf: leaf[k], params.segments)
            self.env.validate(segment)
            for name in FIXED_FIELDS:
                if not np.array_equal(np.asarray(getattr(segment, name)), np.asarray(getattr(params.base, name))):
                    raise ValueError(f"ScheduledParams: segment {k} changes {name}, which is fixed over an episode")

    def reset_env(self, key: jax.Array, params: ScheduledParams):
        return self.env.reset_env(key, params.at(0))

    def step_env(self, key: jax.Array, state: EnvState, action: jnp.ndarray, params: ScheduledParams):
        """One step of the wrapped env under the params in force at ``state.time`` (no auto-reset)."""
        obs, state, reward, done, info = self.env.step_env(key, state, action, params.at(state.time))
        return self.env.get_obs(state, params.at(state.time)), state, reward, done, info

    def get_obs(self, state: EnvState, params: ScheduledParams) -> jnp.ndarray:
        return self.env.get_obs(state, params.at(state.time))

    def is_terminal(self, state: EnvState, params: ScheduledParams) -> jnp.ndarray:
        return self.env.is_terminal(state, params.base)
