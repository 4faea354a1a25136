"""Classical strategies by name, as study configs and policy files refer to them."""

from __future__ import annotations

from morl_mm.env.market import MarketMakingEnv
from morl_mm.env.params import EnvParams
from morl_mm.policies import classical

# name -> (class, whether the constructor takes the env params)
CLASSICAL = {
    "avellaneda_stoikov": (classical.AvellanedaStoikov, True),
    "glft": (classical.GueantLehalleFernandezTapia, True),
    "glft_exact": (classical.GueantLehalleFernandezTapiaExact, True),
    "cartea_jaimungal": (classical.CarteaJaimungal, True),
    "fixed_spread": (classical.FixedSpread, False),
    "linear_skew": (classical.LinearSkew, False),
}


def classical_label(spec: dict) -> str:
    """A readable unique label, e.g. ``avellaneda_stoikov(gamma=0.1)``."""
    args = ",".join(
        f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v}" for k, v in sorted(spec.items()) if k != "kind"
    )
    return f"{spec['kind']}({args})"


def build_classical(env: MarketMakingEnv, env_params: EnvParams, spec: dict):
    """Construct the strategy ``spec["kind"]`` with the remaining keys as its parameters."""
    spec = dict(spec)
    kind = spec.pop("kind", None)
    if kind not in CLASSICAL:
        raise ValueError(f"classical strategy kind must be one of {sorted(CLASSICAL)}, got {kind!r}")
    cls, takes_params = CLASSICAL[kind]
    try:
        return cls(env, env_params, **spec) if takes_params else cls(env, **spec)
    except TypeError as err:
        raise ValueError(f"classical strategy {kind!r}: bad parameters {spec}: {err}") from None
