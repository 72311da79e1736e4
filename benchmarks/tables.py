"""The benchmarks' shared table printer: markdown tables whose cells are one value or ``mean ± std`` over seeds.

Scripts in ``benchmarks/`` import it as ``from tables import cell, markdown_table`` (they run from this folder).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub markdown table: header row, separator, one line per row."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def cell(values: Sequence[float], fmt: str) -> str:
    """One value, or ``mean ± std`` over seeds; ``nan`` values are counted and shown, never averaged away."""
    if not values:
        return "-"
    arr = np.asarray(values, dtype=float)
    if len(arr) == 1:
        return format(arr[0], fmt)
    finite = arr[np.isfinite(arr)]
    if len(finite) == 0:
        return "nan"
    text = f"{finite.mean():{fmt}} ± {finite.std():{fmt}}"
    return text if len(finite) == len(arr) else f"{text} ({len(arr) - len(finite)} nan)"
