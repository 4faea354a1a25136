"""Best-response attacks on a study's policies: plain PPO vs adversarially trained PPO vs classical strategies.

For each weight-conditioned learner of the study (its network at each attacked weight) and each
classical strategy, an adversary inside the box is trained against that fixed policy alone
(:func:`morl_mm.study.attack.attack_study`) and the table gives the scalarised utility (normalised
by the study's scales) before and under the attack, and how much the attack takes.

    python studies/robust_attack.py RESULT [--weights 0.8,0.1,0.1 0.34,0.33,0.33] [--adversary drift=-2:2]
        [--mode step] [--env-steps N] [--episodes 256] [--classical LABEL ...] [--seed 0] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

import jax

from morl_mm.agents.arl import ATTACK_CONFIG
from morl_mm.agents.registry import with_env_steps
from morl_mm.env.adversary import parse_adversary
from morl_mm.study import load_result
from morl_mm.study.attack import attack_study, attack_table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("result", help="study.nc, or the study's output folder")
    parser.add_argument(
        "--weights",
        nargs="+",
        default=["0.8,0.1,0.1", "0.34,0.33,0.33", "0.1,0.8,0.1"],
        help="attacked weights, each a,b,c on the simplex",
    )
    parser.add_argument("--adversary", default="drift=-2:2", help="the box, FIELD=LO:HI[,FIELD=LO:HI]")
    parser.add_argument("--mode", default="step", choices=["step", "episode"], help="when the adversary acts")
    parser.add_argument(
        "--env-steps",
        type=int,
        help=f"the adversary's training budget per weight (default {ATTACK_CONFIG.total_timesteps:,})",
    )
    parser.add_argument("--episodes", type=int, default=256, help="evaluation episodes before and under attack")
    parser.add_argument("--classical", nargs="*", help="labels of the classical strategies to attack (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        weights = [[float(x) for x in w.split(",")] for w in args.weights]
        config = ATTACK_CONFIG
        if args.env_steps:  # whole updates of the attack's num_envs x num_steps
            shape = {"num_envs": config.num_envs, "num_steps": config.num_steps}
            budget = with_env_steps("ppo_adversarial", shape, args.env_steps)["total_timesteps"]
            config = dataclasses.replace(config, total_timesteps=budget)
        rows = attack_study(
            load_result(args.result),
            weights,
            parse_adversary(args.adversary, args.mode),
            jax.random.key(args.seed),
            config=config,
            episodes=args.episodes,
            classical=args.classical,
        )
    except ValueError as err:
        print(f"robust_attack: error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(rows, indent=1) if args.json else attack_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
