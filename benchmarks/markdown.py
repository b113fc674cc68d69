"""Small markdown helpers shared by the benchmark sections."""

from __future__ import annotations

from collections.abc import Sequence


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table; numbers are printed as given (format them before)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def num(value: float | None, digits: int = 0) -> str:
    """``1,234`` / ``12.3``; an em dash for a missing value."""
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"
