"""An adversary that sets market params inside a box of bounds (Spooner & Savani, IJCAI 2020).

The adversary's choice is *data*: a vector ``u`` in ``[-1, 1]^d`` (one entry per bounded field)
that :meth:`AdversaryBox.apply` maps onto the box and writes into :class:`EnvParams` with
``params.replace``. ``env.step(key, state, action, box.apply(params, u))`` is then an ordinary
step of the simulator, so the adversary needs no change to the env, stays jittable, and vmaps
over seeds, weights and boxes. Acting *per step* means a new ``u`` before every step (a function
of the state and the quote); acting *per episode* means one ``u`` drawn at reset and held.

Spooner & Savani's setting: the adversary controls the drift of the mid, zero-sum against the
market maker's reward. Here it may also move the arrival rate ``A`` and the fill decay ``kappa``
(and, optionally, the volatility ``sigma``): the fields of :data:`ADVERSARY_FIELDS`.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Literal

import jax.numpy as jnp
import numpy as np

from morl_mm.env.params import EnvConfig, EnvParams, validate_params

ADVERSARY_FIELDS = ("drift", "arrival_rate", "kappa", "sigma")
"""The EnvParams fields an adversary may control, in the order of its action vector."""


@dataclasses.dataclass(frozen=True)
class AdversaryBox:
    """Bounds ``{field: (lo, hi)}`` of the params the adversary controls, and when it acts.

    Fields keep the order of :data:`ADVERSARY_FIELDS` whatever order they are given in, so two
    boxes with the same bounds are equal (and hash alike: the box is static configuration).
    """

    bounds: tuple[tuple[str, float, float], ...]
    mode: Literal["step", "episode"] = "step"

    def __post_init__(self):
        raw = self.bounds.items() if isinstance(self.bounds, dict) else [(b[0], *b[1:]) for b in self.bounds]
        given = {}
        for name, *lohi in raw:
            if name not in ADVERSARY_FIELDS:
                raise ValueError(f"adversary: unknown field {name!r}; it may control {list(ADVERSARY_FIELDS)}")
            if name in given:
                raise ValueError(f"adversary: {name} is bounded twice")
            if len(lohi) == 1:
                lohi = tuple(lohi[0])
            if len(lohi) != 2:
                raise ValueError(f"adversary: {name} needs (lo, hi), got {lohi}")
            lo, hi = (float(v) for v in lohi)
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise ValueError(f"adversary: {name} bounds must be finite, got {lo}:{hi}")
            if lo > hi:
                raise ValueError(f"adversary: {name} needs lo <= hi, got {lo}:{hi}")
            given[name] = (lo, hi)
        if not given:
            raise ValueError("adversary: bound at least one of " + ", ".join(ADVERSARY_FIELDS))
        if self.mode not in ("step", "episode"):
            raise ValueError(f"adversary: mode must be 'step' or 'episode', got {self.mode!r}")
        ordered = tuple((n, *given[n]) for n in ADVERSARY_FIELDS if n in given)
        object.__setattr__(self, "bounds", ordered)

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(b[0] for b in self.bounds)

    @property
    def dim(self) -> int:
        """Length of the adversary's action vector."""
        return len(self.bounds)

    @property
    def low(self) -> np.ndarray:
        return np.array([b[1] for b in self.bounds], np.float64)

    @property
    def high(self) -> np.ndarray:
        return np.array([b[2] for b in self.bounds], np.float64)

    @property
    def is_point(self) -> bool:
        """True when every bound is a single value (the adversary has no choice)."""
        return bool(np.all(self.low == self.high))

    def vertices(self) -> np.ndarray:
        """(2^d, d) param values at the corners of the box (duplicates kept where lo == hi)."""
        return np.array(list(itertools.product(*[(lo, hi) for _, lo, hi in self.bounds])), np.float64)

    def grid(self, resolution: int = 2) -> np.ndarray:
        """(resolution^d, d) points of a regular grid over the box, its corners included; resolution 2
        gives :meth:`vertices` (in the same order)."""
        if int(resolution) != resolution or resolution < 2:
            raise ValueError(f"adversary: grid resolution must be a whole number >= 2, got {resolution}")
        axes = [np.linspace(lo, hi, int(resolution)) for _, lo, hi in self.bounds]
        return np.array(list(itertools.product(*axes)), np.float64)

    def values(self, action) -> jnp.ndarray:
        """Param values of an action in ``[-1, 1]^d`` (clipped): -1 is the low bound, +1 the high one."""
        u = jnp.clip(jnp.asarray(action, jnp.float32), -1.0, 1.0)
        low, high = jnp.asarray(self.low, jnp.float32), jnp.asarray(self.high, jnp.float32)
        return low + 0.5 * (u + 1.0) * (high - low)

    def set_values(self, params: EnvParams, values) -> EnvParams:
        """``params`` with the bounded fields replaced by ``values`` (d,) (jittable)."""
        values = jnp.asarray(values)
        return params.replace(**{name: values[..., i] for i, name in enumerate(self.fields)})

    def apply(self, params: EnvParams, action) -> EnvParams:
        """``params`` as the adversary's action in ``[-1, 1]^d`` sets them (jittable)."""
        return self.set_values(params, self.values(action))

    def check(self, params: EnvParams, config: EnvConfig | None = None) -> None:
        """Every vertex must give valid params (e.g. ``arrival_rate * dt <= 1``, ``kappa > 0``)."""
        for vertex in self.vertices():
            try:
                validate_params(self.set_values(params, vertex.astype(np.float32)), config)
            except ValueError as err:
                raise ValueError(
                    f"adversary: the corner {dict(zip(self.fields, vertex.tolist()))} of the box "
                    f"gives invalid params: {err}"
                ) from None

    def to_dict(self) -> dict:
        return {"mode": self.mode, "bounds": {n: [lo, hi] for n, lo, hi in self.bounds}}

    def spec(self) -> str:
        """The command-line form ``drift=LO:HI,kappa=LO:HI``."""
        return ",".join(f"{n}={lo:g}:{hi:g}" for n, lo, hi in self.bounds)


class AdversarialEnv:
    """``env`` whose every step runs with the params an adversary sets inside ``box``.

    ``adversary(state, action, params) -> values (d,)`` sees the state and the action about to be
    played (it acts per step, after the quote) and returns the bounded fields' values (e.g.
    ``box.values(u)`` of a network's output, or the robust oracle's worst case); ``step_env`` then
    calls ``env.step_env`` with ``box.set_values(params, values)``. Everything else is ``env``'s
    (a gymnax-style wrapper), so ``rollout`` and ``evaluate_policy`` run it unchanged.
    """

    def __init__(self, env, box: AdversaryBox, adversary):
        self.env, self.box, self.adversary = env, box, adversary

    def __getattr__(self, name):  # only called for names this wrapper lacks
        if name == "env":  # not yet set (copy, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.env, name)

    def step_env(self, key, state, action, params):
        values = self.adversary(state, action, params)
        return self.env.step_env(key, state, action, self.box.set_values(params, values))

    def step(self, key, state, action, params):
        """One step with auto-reset (the wrapped env's ``step``, through this ``step_env``)."""
        return type(self.env).step(self, key, state, action, params)


def parse_adversary(text: str, mode: Literal["step", "episode"] = "step") -> AdversaryBox:
    """``"drift=-1:1,arrival_rate=100:140"`` -> :class:`AdversaryBox` (``ValueError`` on bad input)."""
    bounds = {}
    for part in filter(None, (p.strip() for p in str(text).split(","))):
        name, sep, rng = part.partition("=")
        lo, colon, hi = rng.partition(":")
        if not sep or not colon:
            raise ValueError(f"adversary: expected field=LO:HI, got {part!r}")
        try:
            bounds[name.strip()] = (float(lo), float(hi))
        except ValueError:
            raise ValueError(f"adversary: {name.strip()} bounds must be numbers, got {rng!r}") from None
    if len(bounds) != len([p for p in str(text).split(",") if p.strip()]):
        raise ValueError(f"adversary: a field is bounded twice in {text!r}")
    return AdversaryBox(tuple((n, lo, hi) for n, (lo, hi) in bounds.items()), mode=mode)
