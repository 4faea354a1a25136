"""The Markdown table of a data study: each policy's objectives in simulation and on the replay.

python studies/sim_vs_replay.py results/lobster_goog [--source base] [--target replay]
"""

import argparse
import sys

from morl_mm.plots.replay import REPLAY, shift_table
from morl_mm.study import load_result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("result", help="a study result with a replay (study.nc or its folder)")
    parser.add_argument("--source", default="base")
    parser.add_argument("--target", default=REPLAY)
    args = parser.parse_args(argv)
    try:
        print(shift_table(load_result(args.result).dataset, source=args.source, target=args.target))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
