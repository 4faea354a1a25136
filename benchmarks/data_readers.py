"""Wall time of the market-data readers on the shared samples (book rebuilt, trades classified).

Each sample of ``../shared/data`` (relative to the project root; ``$MORL_MM_DATA`` overrides it) is read
with :func:`morl_mm.data.read_capture` (decompression, parsing, book rebuild, checks) ``--repeat``
times; the best wall time is reported with the input events (message lines) per second.

    python benchmarks/data_readers.py [--repeat 3] [--levels 10] [--json]

``--json`` prints one JSON object: {file: {"seconds": .., "book_rows": .., "trades": .., "events": ..,
"events_per_s": ..}}. Samples that are absent are left out (a note goes to stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import zipfile
from pathlib import Path

from morl_mm.data import read_capture
from morl_mm.data.files import read_bytes

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MORL_MM_DATA") or ROOT.parent / "shared" / "data")
SAMPLES = (
    "lobster/LOBSTER_SampleFile_GOOG_2012-06-21_10.zip",
    "lobster/LOBSTER_SampleFile_AAPL_2012-06-21_1.zip",
    "binance/usdm_btcusdt_20240808.gz",
    "binance/spot_btcusdt_20240808.gz",
    "bitstamp/bitstamp_btcusd_2015-05-01.log.xz",
)


def count_events(path: Path) -> int:
    """Input events: message-file lines (LOBSTER) or capture lines (Binance, Bitstamp)."""
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            member = next(n for n in zf.namelist() if "_message_" in n)
            return zf.read(member).rstrip(b"\n").count(b"\n") + 1
    return read_bytes(path).rstrip(b"\n").count(b"\n") + 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=1, help="reads per file; the best time is kept")
    ap.add_argument("--levels", type=int, default=10)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    out = {}
    for rel in SAMPLES:
        path = DATA / rel
        if not path.exists():
            print(f"absent, skipped: {path}", file=sys.stderr)
            continue
        best = float("inf")
        for _ in range(max(1, args.repeat)):
            t0 = time.perf_counter()
            cap = read_capture(path, levels=args.levels)
            best = min(best, time.perf_counter() - t0)
        events = count_events(path)
        out[rel] = {
            "seconds": round(best, 4),
            "book_rows": len(cap.book),
            "trades": len(cap.trades),
            "events": events,
            "events_per_s": round(events / best),
            "venue": cap.venue,
            "problems": sum(not g["reason"].startswith("info:") for g in cap.gaps),
        }
        if not args.json:
            print(
                f"{rel:50s} {best:7.3f} s  {events:7d} events  {events / best:9.0f} events/s  "
                f"{len(cap.book):7d} book rows  {len(cap.trades):6d} trades  ({cap.venue})"
            )
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
