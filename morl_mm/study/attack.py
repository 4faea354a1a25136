"""Best-response attacks on a study's policies: how much utility an adversary trained against each one takes.

For every weight-conditioned learner of a study (plain PPO, adversarially trained PPO, DQN: its
network, played at each attacked weight) and every classical strategy, the policy is loaded from
its policy file and attacked by :func:`morl_mm.agents.arl.best_response_attack`: an adversary inside
``box`` trained alone against that fixed policy, on the model the policy was evaluated on, zero-sum
on the scalarised utility ``w . J / scales`` at the attacked weight (the study's scales).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import jax
import numpy as np

from morl_mm.agents.arl import ATTACK_CONFIG, ARLConfig, best_response_attack
from morl_mm.env.adversary import AdversaryBox
from morl_mm.pareto.indicators import validate_weights
from morl_mm.study.result import StudyResult

ATTACKED_ALGORITHMS = ("ppo", "ppo_adversarial", "dqn")


def attack_targets(result: StudyResult, classical: Sequence[str] | None = None) -> list[tuple[str, str, str]]:
    """``(label, kind, algorithm)`` of the policies to attack: for each native learner, one policy file of
    its first training seed (the network is the same at every weight), then the classical strategies
    (all, or those labelled in ``classical``)."""
    ds = result.dataset
    info = json.loads(ds.attrs.get("units_info", "{}"))
    kinds, labels, seeds = ds["kind"].values.astype(str), ds.policy.values.astype(str), ds["train_seed"].values
    targets = []
    for unit, unit_info in info.items():
        if unit.startswith("learner:") and unit_info.get("algorithm") in ATTACKED_ALGORITHMS:
            name = unit.split(":", 1)[1]
            first = np.flatnonzero((kinds == name) & (seeds == seeds[kinds == name].min()))[0]
            targets.append((labels[first], name, unit_info["algorithm"]))
    known = labels[kinds == "classical"]
    missing = sorted(set(classical or ()) - set(known))
    if missing:
        raise ValueError(f"classical: no strategy {missing} in the study; it has {known.tolist()}")
    targets += [(label, "classical", "classical") for label in known if classical is None or label in classical]
    return targets


def attack_study(
    result: StudyResult,
    weights,
    box: AdversaryBox,
    key: jax.Array,
    *,
    config: ARLConfig = ATTACK_CONFIG,
    episodes: int = 256,
    classical: Sequence[str] | None = None,
) -> list[dict]:
    """One row per attacked policy and weight: ``{"policy", "policy_file", "kind", "algorithm", "weight",
    "utility_before", "utility_after", "utility_loss", "adversary_values", "adversary_abs_u"}``:
    utilities normalised by the study's scales; ``adversary_values`` the mean params the adversary
    set, ``{field: value}``, and ``adversary_abs_u`` its mean ``|u|`` (1: always at a bound). A
    learner's network is played at each attacked weight itself (it is weight-conditioned): its
    ``policy`` is the learner's name, and ``policy_file`` the file its network was read from."""
    weights = validate_weights(np.atleast_2d(weights), len(result.objectives))
    rows = []
    for label, kind, algorithm in attack_targets(result, classical):
        loaded = result.load_policy(label)
        learned = algorithm != "classical"
        attack = best_response_attack(
            loaded.env,
            loaded.env_params,
            loaded.policy,
            weights,
            key,
            box=box,
            config=config,
            episodes=episodes,
            scales=result.scales,
            conditioned=learned,
            policy_params=loaded.policy.params[0] if learned else None,
        )
        for i in range(len(weights)):
            rows.append(
                {
                    "policy": kind if learned else label,
                    "policy_file": label,
                    "kind": kind,
                    "algorithm": algorithm,
                    **attack.row(i),
                }
            )
    return rows


def attack_table(rows: list[dict]) -> str:
    """The rows of :func:`attack_study` as a markdown table."""
    lines = [
        "| policy | kind | weight | utility | under attack | loss | adversary mean (mean abs u) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        weight = ", ".join(f"{x:.2f}" for x in r["weight"])
        adversary = ", ".join(f"{k} {v:.3g} ({r['adversary_abs_u'][k]:.2f})" for k, v in r["adversary_values"].items())
        lines.append(
            f"| {r['policy']} | {r['kind']} ({r['algorithm']}) | ({weight}) | {r['utility_before']:.4f} | "
            f"{r['utility_after']:.4f} | {r['utility_loss']:.4f} | {adversary} |"
        )
    return "\n".join(lines)
