"""Save a runnable policy to one file and load it back to quote.

A policy file holds a JSON header (what kind of policy, how to rebuild it, the env config and
market params it was made for, its label and objective values) and the policy's arrays (oracle
action table, network weights), serialised together with flax's msgpack. Loading rebuilds the env
and the policy object, so ``rollout(env, policy, key, params)`` runs straight away.

Kinds:
    ``classical``  rebuilt from ``spec = {"kind": <registry name>, **parameters}`` (no arrays)
    ``table``      an oracle :class:`~morl_mm.policies.table.TablePolicy` (action table + grids)
    ``ppo``/``dqn`` a weight-conditioned network: learner hyperparameters + network params + weight
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
from flax import serialization

from morl_mm.agents.registry import rebuild_policy
from morl_mm.atomic import atomic_output
from morl_mm.env.market import MarketMakingEnv
from morl_mm.env.params import EnvConfig, EnvParams, make_params
from morl_mm.policies.registry import build_classical
from morl_mm.policies.table import TablePolicy

FORMAT = "morl-mm-policy/1"


class LoadedPolicy(NamedTuple):
    policy: Any  # implements the Policy protocol, params included
    env: MarketMakingEnv
    env_params: EnvParams
    header: dict


def env_to_json(env: MarketMakingEnv, params: EnvParams) -> dict:
    """The env config and params as JSON-ready dicts (arrays as nested lists)."""
    p = {f.name: np.asarray(getattr(params, f.name)).tolist() for f in dataclasses.fields(params)}
    return {"config": dataclasses.asdict(env.config), "params": p}


def env_from_json(data: dict) -> tuple[MarketMakingEnv, EnvParams]:
    config = EnvConfig(**data["config"])
    return MarketMakingEnv(config), make_params(config, **data["params"])


def save_policy(
    path: str | Path,
    *,
    kind: str,
    spec: dict,
    env: MarketMakingEnv,
    env_params: EnvParams,
    arrays: Any = None,
    label: str = "",
    objectives: dict | None = None,
) -> Path:
    """Write a policy file (atomically). ``arrays`` is a pytree of arrays (or None)."""
    header = {
        "format": FORMAT,
        "kind": kind,
        "label": label,
        "spec": spec,
        "env": env_to_json(env, env_params),
        "objectives": objectives or {},
    }
    state = serialization.to_state_dict(arrays) if arrays is not None else {}
    payload = serialization.msgpack_serialize({"header": json.dumps(header), "arrays": state})
    with atomic_output(path) as tmp:
        tmp.write_bytes(payload)
    return Path(path)


def _read(path: str | Path) -> tuple[dict, dict]:
    """``(raw, header)`` of a policy file; ``ValueError`` if missing, corrupt or of another format."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: policy file not found")
    try:
        raw = serialization.msgpack_restore(path.read_bytes())
        header = json.loads(raw["header"])
    except Exception as err:  # msgpack/JSON errors of a truncated or foreign file
        raise ValueError(f"{path}: not a readable morl-mm policy file ({type(err).__name__}: {err})") from None
    if header.get("format") != FORMAT:
        raise ValueError(f"{path}: unknown policy format {header.get('format')!r}, expected {FORMAT!r}")
    return raw, header


def rewrite_header(source: str | Path, destination: str | Path, **updates) -> Path:
    """Write ``source``'s policy file to ``destination`` (atomically) with ``updates`` merged into its header."""
    raw, header = _read(source)
    header.update(updates)
    payload = serialization.msgpack_serialize({"header": json.dumps(header), "arrays": raw.get("arrays") or {}})
    with atomic_output(destination) as tmp:
        tmp.write_bytes(payload)
    return Path(destination)


def read_header(path: str | Path) -> dict:
    """The JSON header of a policy file (kind, spec, env, label, objectives) without rebuilding the policy."""
    return _read(path)[1]


def load_policy(path: str | Path) -> LoadedPolicy:
    """Read a policy file written by :func:`save_policy`; ``ValueError`` if missing or corrupt."""
    raw, header = _read(path)
    env, env_params = env_from_json(header["env"])
    policy = build_policy(header["kind"], header["spec"], env, env_params, raw.get("arrays") or None)
    return LoadedPolicy(policy, env, env_params, header)


def build_policy(kind: str, spec: dict, env: MarketMakingEnv, env_params: EnvParams, arrays: Any = None):
    """Rebuild a runnable policy of ``kind`` from its spec and restored arrays."""
    if kind == "classical":
        return build_classical(env, env_params, dict(spec))
    if kind == "table":
        return TablePolicy(
            env,
            np.asarray(arrays["action_table"]),
            np.asarray(arrays["depth_grid"]),
            np.asarray(arrays["inventory_grid"]),
        )
    if kind in ("ppo", "dqn"):
        weight = jnp.asarray(np.asarray(arrays["weight"]), jnp.float32)
        return rebuild_policy(kind, spec, env, env_params, arrays["network"], weight)
    raise ValueError(f"unknown policy kind {kind!r}")
