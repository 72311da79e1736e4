"""The checked reading and writing shared by the scene-graph and lane-graph file formats, and their figure set-up.

:mod:`graphgen.data.scene_graphs` and :mod:`graphgen.data.lane_graphs` each define a JSON file of graphs (a header
object whose ``graphs`` list holds one entry per graph). What an entry holds, the header's own fields and the wording
of the per-entry errors belong to each format; this module holds the steps both take the same way:

- checks on parsed JSON values: :func:`is_int`, :func:`is_number` (``bool`` is neither, although Python says it is
  an ``int``), :func:`require` (an object with these keys) and :func:`check_pairs` (index pairs in range, not a
  self pair, not repeated; the caller names the pair and its index, e.g. "relation" / "object");
- :func:`short_float`: the shortest decimal that reads back to the same float32, so a written file reads back exactly;
- :func:`read_json` (``.json``, or gzip for a name ending in ``.gz``; an unreadable file is an ``InputError`` naming
  it) and :func:`read_graph_file` (the file exists, its header carries the expected ``format`` and ``version``, its
  ``graphs`` is a list);
- :func:`write_graph_file`: the header, then one graph per line (the file reads and diffs well), all graphs converted
  before anything is written; gzip with ``mtime=0``, so the same graphs give the same bytes;
- drawings: :func:`panel_grid` (a grid of framed square panels on a bare matplotlib ``Figure``) and
  :func:`save_figure`.

Errors name the place (the caller's ``where``: file, graph index, entry index), the field and the bad value.
"""
from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from graphgen.errors import InputError


# ----------------------------------------------------------------------------------------------------------------------
# Checks on parsed JSON
# ----------------------------------------------------------------------------------------------------------------------
def is_int(v: Any) -> bool:
    """``v`` is a JSON integer (``True`` / ``False`` are not)."""
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v: Any) -> bool:
    """``v`` is a JSON number (``True`` / ``False`` are not)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def require(obj: Any, keys: Sequence[str], where: str) -> None:
    """``obj`` is a JSON object holding every key of ``keys``; else :class:`InputError` (a ``ValueError``) naming
    ``where`` and the key."""
    if not isinstance(obj, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    for key in keys:
        if key not in obj:
            raise InputError(f"{where}: missing key '{key}'")


def check_pairs(n: int, pairs: Sequence[tuple[int, int]], where: str, *, item: str, index: str, self_pair: str,
                duplicate: str) -> None:
    """Indices in ``0..n-1``, no pair ``(i, i)``, no repeated ordered pair.

    The message reads ``"{where}{item} {r} ({i}, {j}): ..."`` (``where`` prefixes it as given, e.g. ``"f.json: graph
    3, "``) followed by ``"{index} index out of range 0..{n - 1}"``, ``self_pair`` or ``duplicate``.
    """
    seen: set[tuple[int, int]] = set()
    for r, (i, j) in enumerate(pairs):
        at = f"{where}{item} {r} ({i}, {j})"
        if not (0 <= i < n and 0 <= j < n):
            raise InputError(f"{at}: {index} index out of range 0..{n - 1}")
        if i == j:
            raise InputError(f"{at}: {self_pair}")
        if (i, j) in seen:
            raise InputError(f"{at}: {duplicate}")
        seen.add((i, j))


def short_float(v: float) -> float:
    """The shortest decimal that reads back to the same float32 (``str(np.float32)`` is round-trip exact)."""
    return float(str(np.float32(v)))


# ----------------------------------------------------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------------------------------------------------
def read_json(path: Path) -> Any:
    """The parsed content of ``path`` (gzip when its name ends in ``.gz``); ``ValueError`` naming the file if it cannot
    be read or is not JSON."""
    gz = path.suffix == ".gz"
    try:
        with gzip.open(path, "rt") if gz else open(path) as f:
            return json.load(f)
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a readable JSON{' (gzip)' if gz else ''} file: {exc}") from None


def read_graph_file(path: Path, what: str, file_format: str, version: int,
                    header_keys: Sequence[str] = ()) -> dict[str, Any]:
    """The checked header object of a graph file: it exists (else ``FileNotFoundError`` "no {what} file at ..."), is
    readable JSON, holds ``format``, ``version``, ``header_keys`` and ``graphs``, ``format`` and ``version`` are the
    expected ones and ``graphs`` is a list. The caller checks its own header fields and the entries."""
    if not path.is_file():
        raise FileNotFoundError(f"no {what} file at {path}")
    doc = read_json(path)
    require(doc, ("format", "version", *header_keys, "graphs"), str(path))
    if doc["format"] != file_format:
        raise InputError(f"{path}: format is {doc['format']!r}, expected {file_format!r}")
    if doc["version"] != version:
        raise InputError(f"{path}: version {doc['version']!r} is not supported (this reader knows {version})")
    if not isinstance(doc["graphs"], list):
        raise InputError(f"{path}: 'graphs' must be a list, got {type(doc['graphs']).__name__}")
    return doc


def write_graph_file(path: Path, head: dict[str, Any], graphs: Sequence[Any], to_dict: Callable[[Any], dict[str, Any]],
                     separators: tuple[str, str] | None = None) -> Path:
    """Write ``{**head, "graphs": [to_dict(g), ...]}`` to ``path``, one graph per line (gzipped when ``path`` ends in
    ``.gz``); returns the path. ``separators`` goes to ``json.dumps`` for the graph lines. A ``ValueError`` of
    ``to_dict`` is raised again naming the file and the graph index, before anything is written."""
    lines = []
    for i, g in enumerate(graphs):
        try:
            lines.append(json.dumps(to_dict(g), separators=separators))
        except ValueError as exc:
            raise ValueError(f"cannot write {path}: graph {i}: {exc}") from None
    body = ",\n".join(lines)
    text = json.dumps(head)[:-1] + ',\n"graphs": [' + ("\n" + body + "\n" if lines else "") + "]}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        with gzip.GzipFile(path, "wb", mtime=0) as f:  # mtime=0: the same graphs give the same bytes
            f.write(text.encode())
    else:
        path.write_text(text)
    return path


# ----------------------------------------------------------------------------------------------------------------------
# Drawings
# ----------------------------------------------------------------------------------------------------------------------
def panel_grid(graphs: Sequence[Any], *, count: int, columns: int, panel: float, title: str | None, caller: str,
               square: tuple[float, float], margin: float, y_down: bool, empty_text: str) -> tuple[Any, Any, list]:
    """A figure with one panel for each of the first ``count`` graphs, ``columns`` panels a row.

    Every panel shows the square ``square = (low, high)`` on both axes plus ``margin``, with equal aspect, no ticks
    and a grey dashed border on the square; ``y_down`` puts y downwards (image convention). Panels beyond the graphs
    have their axes turned off; with no graph at all the first panel says ``empty_text``. ``panel`` is the size of a panel in inches
    (the figure grows with the number of rows). ``caller`` names the drawing function in the error for a bad
    ``count`` / ``columns``.

    Returns:
        ``(figure, axes [rows, cols], graphs shown)``: draw graph ``k`` on ``axes.flat[k]``, then :func:`save_figure`.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    if count < 0 or columns < 1:
        raise ValueError(f"{caller} needs count >= 0 and columns >= 1; got count={count}, columns={columns}")
    shown = list(graphs[:count])
    cols = max(1, min(columns, len(shown)))
    rows = max(1, -(-len(shown) // cols))
    # a bare Figure on the Agg canvas: no pyplot, so the caller's backend and open figures are left alone
    fig = Figure(figsize=(panel * cols, panel * rows + (0.4 if title else 0.0)))
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    low, high = square
    for ax in axes.flat:
        ax.set_xlim(low - margin, high + margin)
        ax.set_ylim((high + margin, low - margin) if y_down else (low - margin, high + margin))
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.add_patch(Rectangle((low, low), high - low, high - low, fill=False, edgecolor="0.75", linewidth=0.8,
                               linestyle="--"))
    for ax in axes.flat[len(shown):]:
        ax.set_axis_off()
    if not shown:
        axes.flat[0].text((low + high) / 2, (low + high) / 2, empty_text, ha="center", va="center")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig, axes, shown


def save_figure(fig: Any, path: str | os.PathLike) -> None:
    """Lay out ``fig`` and save it to ``path`` (format from the suffix: PNG, PDF, ...), creating the folder."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
