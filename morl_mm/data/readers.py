"""Read a market-data capture of any supported format into a :class:`~morl_mm.data.capture.Capture`.

``read_capture(path)`` picks the reader from the file name (and, failing that, the first line):

* ``lobster``: a LOBSTER sample ``.zip``, a ``..._message_LEVEL.csv`` whose ``..._orderbook_LEVEL.csv``
  sits beside it (either may be ``.gz``/``.xz``), or a folder holding one such pair;
* ``binance``: a raw websocket capture, one ``local_ts_ns JSON`` message a line (``.gz``/``.xz``/plain);
* ``bitstamp``: an old-API event log, one ``ms_ts event JSON`` a line.

Errors: a missing, truncated or corrupt file raises :class:`CaptureError` with one line naming the file
and the line number. With ``skip_bad_lines=True`` a malformed line is dropped instead, counted in
``Capture.skipped_lines`` and recorded in ``Capture.gaps`` (reason ``"skipped bad line: ..."``).
A truncated ``.gz``/``.xz`` stream is always an error (it is not a bad line: what follows is lost).

The helpers the format modules share (transparent decompression, bad-line records) live in
:mod:`morl_mm.data.files`.
"""

from __future__ import annotations

import gzip
import lzma
import re
import zlib
from pathlib import Path
from typing import Any

from morl_mm.data.binance import read_binance
from morl_mm.data.bitstamp import read_bitstamp
from morl_mm.data.capture import Capture, CaptureError
from morl_mm.data.files import read_bytes
from morl_mm.data.lobster import read_lobster

FORMATS = ("lobster", "binance", "bitstamp")

_LOBSTER_NAME = re.compile(r"_(message|orderbook)_\d+\.csv(\.gz|\.xz)?$")


def _head(path: Path, size: int = 65536) -> bytes:
    """The first ``size`` bytes of the (decompressed) file, without reading it all."""
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                return f.read(size)
        if path.name.endswith(".xz"):
            with lzma.open(path, "rb") as f:
                return f.read(size)
        with open(path, "rb") as f:
            return f.read(size)
    except (OSError, EOFError, lzma.LZMAError, zlib.error):
        return read_bytes(path)[:size]  # raises the CaptureError that names the problem


def detect_format(path: str | Path) -> str:
    """The format of the capture at ``path``: from its name, else from its first line."""
    path = Path(path)
    name = path.name.lower()
    if path.is_dir():
        return "lobster"
    if name.endswith(".zip") or _LOBSTER_NAME.search(path.name):
        return "lobster"
    if "bitstamp" in name:
        return "bitstamp"
    if "binance" in name or name.startswith(("usdm_", "spot_", "coinm_")):
        return "binance"
    head = _head(path).split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    parts = head.split(None, 2)
    if len(parts) >= 2 and parts[0].isdigit():
        if parts[1].startswith("{"):
            return "binance"
        if parts[1].isidentifier() and len(parts) == 3 and parts[2].startswith("{"):
            return "bitstamp"
    if head.lower().startswith("id,timestamp,exchange.timestamp"):
        return "bitstamp"
    if re.fullmatch(r"[0-9.]+,[0-9-]+,[0-9-]+,[0-9-]+,[0-9-]+,-?1", head):
        return "lobster"
    raise CaptureError(f"{path}:1: cannot tell the capture's format from its name or first line; pass format=")


def read_capture(
    path: str | Path,
    format: str = "auto",
    *,
    levels: int = 10,
    skip_bad_lines: bool = False,
    instrument: str | None = None,
    **options: Any,
) -> Capture:
    """Read the capture at ``path`` into the common form.

    ``format``: ``"auto"`` (from the file name or first line) or one of :data:`FORMATS`.
    ``levels``: book levels per side to keep (a LOBSTER file with fewer levels keeps its own number).
    ``skip_bad_lines``: drop malformed lines (counted in ``skipped_lines``, each recorded in ``gaps``)
    instead of raising :class:`CaptureError`. ``instrument``: overrides the name taken from the file.
    Further keyword ``options`` go to the format's reader (e.g. ``date=`` for LOBSTER,
    ``match_window_ms=`` for Bitstamp).
    """
    path = Path(path)
    if format == "auto":
        if not path.exists():
            raise CaptureError(f"{path}:0: no such file")
        format = detect_format(path)
    reader = {"lobster": read_lobster, "binance": read_binance, "bitstamp": read_bitstamp}.get(format)
    if reader is None:
        raise ValueError(f"read_capture: unknown format {format!r}; expected 'auto' or one of {FORMATS}")
    return reader(path, levels=levels, skip_bad_lines=skip_bad_lines, instrument=instrument, **options)
