"""Plain-text tables for terminals: CJK characters take two columns."""

from __future__ import annotations


def width(text: str) -> int:
    """Terminal columns of ``text`` (CJK characters take two)."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def pad(text: str, columns: int) -> str:
    """``text`` padded with spaces to ``columns`` terminal columns."""
    return text + " " * (columns - width(text))


def text_table(headers: list[str], rows: list[list[str]]) -> str:
    """Aligned columns with a rule under the header."""
    table = [headers, *rows]
    widths = [max(width(r[i]) for r in table) for i in range(len(headers))]
    lines = ["  ".join(pad(v, w) for v, w in zip(r, widths, strict=True)).rstrip() for r in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
