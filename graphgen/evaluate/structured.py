"""Input checks shared by the evaluators of structured graphs: scene graphs and lane graphs.

:mod:`graphgen.evaluate.scene_graphs` and :mod:`graphgen.evaluate.lane_graphs` both turn each input ``Data`` into
checked numpy arrays before any metric, and refuse an empty list or a malformed graph with an error that names the
list (``"generated"``, ``"reference"``, ``"train"``), the graph index, the field and the bad value. The steps they
take the same way live here rather than in one of the two, so that neither evaluator imports the other (the lane
metrics need nothing of the scene-graph conventions, nor the scene-graph metrics anything of networkx):

- :func:`to_numpy`: a tensor or array-like as a numpy array;
- :func:`edge_pairs`: ``edge_index`` [2, E] (or absent) as int64 [E, 2];
- :func:`check_edge_pairs`: indices in range, no self pair, no repeated ordered pair; the caller names the pair
  (``"relation"``, ``"edge"``) and its endpoints in the message;
- :func:`checked_arrays`: the per-graph conversion over a whole list, with the list's role and the graph index;
- :func:`fraction`: a ratio that is ``nan`` for an empty denominator;
- :func:`size_counts`: the counts both report beside their metrics (graphs, mean nodes and edges, empty graphs).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import torch
from torch_geometric.data import Data

T = TypeVar("T")


def to_numpy(value: Any) -> np.ndarray:
    """``value`` (a tensor on any device, or anything ``numpy.asarray`` takes) as a numpy array."""
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def edge_pairs(edge_index: Any, where: str) -> np.ndarray:
    """int64 [E, 2] pairs of ``edge_index`` [2, E] (``None``: no pair); ``ValueError`` starting with ``where`` for
    another shape."""
    edges = np.zeros((0, 2), np.int64) if edge_index is None else to_numpy(edge_index).astype(np.int64)
    if edges.ndim != 2 or (edges.shape[0] != 2 and edges.size):
        raise ValueError(f"{where}: 'edge_index' has shape {tuple(edges.shape)}, expected [2, E]")
    return edges.reshape(2, -1).T


def check_edge_pairs(edges: np.ndarray, n: int, where: str, *, item: str, index: str, self_pair: str,
                     repeat: str) -> None:
    """Every pair of ``edges`` [E, 2] has indices in ``0..n-1``, two different ends, and no earlier copy.

    The error names one bad pair ``r``: ``"{where}: {item} {r} (i, j) has {index} outside 0..{n - 1}"``, ``"... is
    {self_pair}"`` or ``"... repeats {repeat}"`` (e.g. ``item="edge"``, ``index="a lane index"``, ``self_pair="a self
    edge"``, ``repeat="an earlier edge"``): the first pair out of range, else the first self pair, else the second
    occurrence of a repeated pair.
    """
    def first(mask: np.ndarray) -> int:
        return int(np.flatnonzero(mask)[0])

    bad = (edges < 0).any(axis=1) | (edges >= n).any(axis=1)
    if bad.any():
        r = first(bad)
        raise ValueError(f"{where}: {item} {r} {tuple(edges[r].tolist())} has {index} outside 0..{n - 1}")
    bad = edges[:, 0] == edges[:, 1]
    if bad.any():
        r = first(bad)
        raise ValueError(f"{where}: {item} {r} {tuple(edges[r].tolist())} is {self_pair}")
    keys = edges[:, 0] * n + edges[:, 1]
    _, index_of, counts = np.unique(keys, return_index=True, return_counts=True)
    if (counts > 1).any():
        key = keys[index_of[counts > 1][0]]
        r = int(np.flatnonzero(keys == key)[1])
        raise ValueError(f"{where}: {item} {r} {tuple(edges[r].tolist())} repeats {repeat}")


def checked_arrays(graphs: Sequence[Data], role: str, to_arrays: Callable[[Data, str], T]) -> list[T]:
    """``to_arrays(graph, "{role} graph {i}")`` for every graph; ``ValueError`` for an empty list (every metric
    needs at least one graph on each side)."""
    if len(graphs) == 0:
        raise ValueError(f"no {role} graphs given: at least one is needed")
    return [to_arrays(g, f"{role} graph {i}") for i, g in enumerate(graphs)]


def fraction(num: float, den: float) -> float:
    """``num / den``; ``nan`` when ``den`` is 0 (the ratio is undefined, not zero)."""
    return num / den if den else float("nan")


def size_counts(num_reference: int, num_nodes: Sequence[int], num_edges: Sequence[int], *, nodes: str,
                edges: str) -> dict[str, float]:
    """The sizes reported beside the metrics, from the node and edge count of every generated graph:
    ``num_graphs``, ``num_reference``, ``mean_{nodes}``, ``mean_{edges}`` (per generated graph), ``num_empty``
    (generated graphs without nodes) and ``num_without_{edges}``, in that order; ``nodes`` / ``edges`` name them
    (``"objects"`` / ``"relations"``, ``"lanes"`` / ``"edges"``)."""
    return {"num_graphs": float(len(num_nodes)),
            "num_reference": float(num_reference),
            f"mean_{nodes}": float(np.mean(num_nodes)),
            f"mean_{edges}": float(np.mean(num_edges)),
            "num_empty": float(sum(n == 0 for n in num_nodes)),
            f"num_without_{edges}": float(sum(e == 0 for e in num_edges))}
