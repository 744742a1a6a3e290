"""What reaches the terminal: user text made safe (names, notes, paths, tracebacks), numbers formatted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.markup import escape

# C0 controls but tab and newline, DEL and C1: none of them may reach a terminal from user text. Nor the
# bidirectional overrides and isolates (U+202A-E, U+2066-9, the marks U+200E-F and U+061C), which make a
# terminal show text in another order than it is stored ("Trojan Source"): a name could look like another.
_BIDI = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_CONTROL = dict.fromkeys([*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0), *_BIDI])


def escape_controls(text: str) -> str:
    """Control characters (as `plain` removes them) written as \\uXXXX, the way JSON escapes them."""
    return "".join(f"\\u{ord(c):04x}" if ord(c) in _CONTROL else c for c in text)


def plain(text: Any) -> str:
    """User text for a rich Text object (which never reads markup): control characters removed only."""
    return str(text).translate(_CONTROL)


def safe(text: Any, *, multiline: bool = False) -> str:
    """User text (names, notes, paths, tracebacks) for a rich renderable: control characters and escape
    sequences removed, rich markup escaped, so `[/]` or `[link=…]` in a name is shown as typed."""
    text = str(text).translate(_CONTROL)
    return escape(text if multiline else text.replace("\n", " ").replace("\t", " "))


def fmt(value: Any, digits: int = 4) -> str:
    """A number (or time, or flag) as every table shows it: four significant digits, e notation far from 1."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.{digits - 1}e}"
        return f"{value:.{digits}g}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def fmt_pm(mean: Any, std: Any, digits: int = 4) -> str:
    """A mean ± its spread, as every table shows one: the mean to `digits`, the spread to 2 ("-": none)."""
    if mean is None:
        return "-"
    return fmt(mean, digits) + (f" ± {fmt(std, 2)}" if std is not None else "")
