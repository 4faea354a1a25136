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

The helpers below (transparent decompression, bad-line records) are shared by the format modules.
"""

from __future__ import annotations

import gzip
import lzma
import re
import zipfile
import zlib
from pathlib import Path
from typing import Any

from morl_mm.data.capture import Capture, CaptureError

FORMATS = ("lobster", "binance", "bitstamp")

BAD_LINE_ERRORS = (ValueError, KeyError, TypeError, IndexError, OverflowError, UnicodeDecodeError)
"""What parsing one malformed line of a capture can raise (``int(1e999)`` is an OverflowError): a bad line."""

_COMPRESSED = (".gz", ".xz")
NL = b"\n"


def strip_compression(name: str) -> str:
    """``name`` without a trailing ``.gz``/``.xz``."""
    for ext in _COMPRESSED:
        if name.endswith(ext):
            return name[: -len(ext)]
    return name


def _truncated(label: str, kind: str, partial: bytes) -> CaptureError:
    lines = partial.count(b"\n")
    return CaptureError(f"{label}:{lines + 1}: truncated {kind} stream (ended before its end-of-stream marker, "
                        f"after {lines} complete lines)")


def decompress(raw: bytes, name: str, label: str | None = None) -> bytes:
    """The content of ``raw`` (read from a file called ``name``), gunzipped/unxz'd by its extension.

    Multi-member gzip and multi-stream xz are handled; a truncated or corrupt stream raises
    :class:`CaptureError` naming ``label`` (default ``name``) and the line where the data ends.
    """
    label = label or name
    codecs = {".gz": ("gzip", lambda: zlib.decompressobj(wbits=31), zlib.error),
              ".xz": ("xz", lzma.LZMADecompressor, lzma.LZMAError)}
    for suffix, (kind, make, error) in codecs.items():
        if name.endswith(suffix):
            return _decompress_streams(raw, label, kind, make, error)
    return raw


def _decompress_streams(raw: bytes, label: str, kind: str, make, error) -> bytes:
    """Every concatenated stream of ``raw`` (``make()`` gives a decompressor of one); a corrupt or
    truncated stream is a :class:`CaptureError` naming the line where the data ends."""
    out: list[bytes] = []
    while raw:
        d = make()
        try:
            out.append(d.decompress(raw))
            if hasattr(d, "flush"):
                out.append(d.flush())
        except error as e:
            partial = b"".join(out)
            raise CaptureError(f"{label}:{partial.count(NL) + 1}: corrupt {kind} stream ({e})") from None
        if not d.eof:
            raise _truncated(label, kind, b"".join(out))
        raw = d.unused_data.lstrip(b"\x00")
    return b"".join(out)


def read_bytes(path: str | Path) -> bytes:
    """The (decompressed) content of the file at ``path``; a missing file is a :class:`CaptureError`."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CaptureError(f"{path}:0: no such file") from None
    except IsADirectoryError:
        raise CaptureError(f"{path}:0: is a folder, not a file") from None
    except OSError as e:
        raise CaptureError(f"{path}:0: cannot read ({e.strerror or e})") from None
    return decompress(raw, path.name, str(path))


def read_zip_member(path: str | Path, member: str) -> bytes:
    """The (decompressed) content of ``member`` of the zip archive ``path``."""
    label = f"{path}!{member}"
    try:
        with zipfile.ZipFile(path) as zf:
            raw = zf.read(member)
    except FileNotFoundError:
        raise CaptureError(f"{path}:0: no such file") from None
    except KeyError:
        raise CaptureError(f"{label}:0: no such member in the archive") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, lzma.LZMAError, OSError) as e:
        raise CaptureError(f"{label}:0: corrupt or truncated zip archive ({e})") from None
    return decompress(raw, member, label)


def zip_names(path: str | Path) -> list[str]:
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.namelist()
    except FileNotFoundError:
        raise CaptureError(f"{path}:0: no such file") from None
    except (zipfile.BadZipFile, OSError) as e:
        raise CaptureError(f"{path}:0: corrupt or truncated zip archive ({e})") from None


class BadLines:
    """Collects the malformed lines of a file: raise on the first (strict) or record and skip them."""

    def __init__(self, label: str, skip: bool):
        self.label = label
        self.skip = skip
        self.records: list[dict[str, Any]] = []

    def bad(self, line: int, reason: str, ts_ns: int = 0) -> None:
        """Report line ``line`` (1-based) as bad: raise :class:`CaptureError`, or record the skip."""
        reason = " ".join(str(reason).split())[:200]
        if not self.skip:
            raise CaptureError(f"{self.label}:{line}: {reason}")
        self.records.append({"line": int(line), "ts_ns": int(ts_ns), "reason": f"skipped bad line: {reason}",
                             "file": self.label})

    def __len__(self) -> int:
        return len(self.records)


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


def read_capture(path: str | Path, format: str = "auto", *, levels: int = 10, skip_bad_lines: bool = False,
                 instrument: str | None = None, **options: Any) -> Capture:
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
    if format == "lobster":
        from morl_mm.data.lobster import read_lobster as reader
    elif format == "binance":
        from morl_mm.data.binance import read_binance as reader
    elif format == "bitstamp":
        from morl_mm.data.bitstamp import read_bitstamp as reader
    else:
        raise ValueError(f"read_capture: unknown format {format!r}; expected 'auto' or one of {FORMATS}")
    return reader(path, levels=levels, skip_bad_lines=skip_bad_lines, instrument=instrument, **options)
