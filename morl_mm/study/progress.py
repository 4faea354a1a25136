"""One progress display for a batch of units, on either backend: a bar of finished units with the counts
done / running (named when few) / failed, and one line per finished unit with its wall time (measured
where it ran).

On the Ray backend "running" counts the units submitted and not finished (queued or running on the
cluster); in process it is the unit being computed.
"""

from __future__ import annotations

import sys

from tqdm.auto import tqdm

NAMED_RUNNING = 3  # the running units are named up to this many


class UnitProgress:
    """Progress of ``total`` units; ``enabled=False`` prints nothing but still records the wall times."""

    def __init__(self, total: int, description: str, enabled: bool = True):
        self.enabled = enabled
        self.bar = tqdm(total=total, desc=description, unit="unit", disable=not enabled)
        self.running: set[str] = set()
        self.done, self.failed = 0, 0
        self.seconds: dict[str, float] = {}  # wall time of every unit computed in this run
        self._refresh()

    def started(self, label: str) -> None:
        self.running.add(label)
        self._refresh()

    def reused(self, label: str, path) -> None:
        tqdm.write(f"{label}: done before, reusing {path}")  # said even when quiet, as before
        self.done += 1
        self.bar.update(1)
        self._refresh()

    def finished(self, label: str, seconds: float) -> None:
        self.running.discard(label)
        self.seconds[label] = float(seconds)
        self.done += 1
        self._say(f"{label}: done in {seconds:.1f} s")
        self.bar.update(1)
        self._refresh()

    def failed_unit(self, label: str, reason: str) -> None:
        self.running.discard(label)
        self.failed += 1
        self._say(f"{label}: FAILED ({reason})")
        self.bar.update(1)
        self._refresh()

    def close(self) -> None:
        self.bar.close()

    def _say(self, line: str) -> None:
        if self.enabled:
            tqdm.write(line, file=sys.stderr)  # beside the bar

    def _refresh(self) -> None:
        names = f" ({', '.join(sorted(self.running))})" if 0 < len(self.running) <= NAMED_RUNNING else ""
        self.bar.set_postfix_str(f"done {self.done}, running {len(self.running)}{names}, failed {self.failed}")
