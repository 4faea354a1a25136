"""Real market data: readers into one columnar form, features, calibration, replay tapes."""

from morl_mm.data.capture import Book, Capture, CaptureError, Trades, book_mid, infer_tick_size
from morl_mm.data.readers import FORMATS, read_capture

__all__ = ["Book", "Capture", "CaptureError", "FORMATS", "Trades", "book_mid", "infer_tick_size", "read_capture"]
