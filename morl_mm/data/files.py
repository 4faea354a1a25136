"""File access shared by the capture readers: transparent decompression (``.gz``/``.xz``/zip members)
and the record of malformed lines. Errors are :class:`~morl_mm.data.capture.CaptureError` naming the file."""

from __future__ import annotations

import lzma
import zipfile
import zlib
from pathlib import Path
from typing import Any

from morl_mm.data.capture import CaptureError

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
    return CaptureError(
        f"{label}:{lines + 1}: truncated {kind} stream (ended before its end-of-stream marker, "
        f"after {lines} complete lines)"
    )


def decompress(raw: bytes, name: str, label: str | None = None) -> bytes:
    """The content of ``raw`` (read from a file called ``name``), gunzipped/unxz'd by its extension.

    Multi-member gzip and multi-stream xz are handled; a truncated or corrupt stream raises
    :class:`CaptureError` naming ``label`` (default ``name``) and the line where the data ends.
    """
    label = label or name
    codecs = {
        ".gz": ("gzip", lambda: zlib.decompressobj(wbits=31), zlib.error),
        ".xz": ("xz", lzma.LZMADecompressor, lzma.LZMAError),
    }
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
        self.records.append(
            {"line": int(line), "ts_ns": int(ts_ns), "reason": f"skipped bad line: {reason}", "file": self.label}
        )

    def __len__(self) -> int:
        return len(self.records)
