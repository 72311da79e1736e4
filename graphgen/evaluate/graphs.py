"""``evaluate_graphs``: MMD statistics, MMD ratios and V.U.N. for generic-graph generation (GDSS and SPECTRE /
DiGress protocols), plus graph-file reading for the ``graphgen evaluate graphs`` command.

Graph file formats accepted by :func:`read_graphs`:

- JSON (optionally ``.json.gz``), the shared-data graph format: ``{"graphs": [{"num_nodes": n, "edges": [[u, v],
  ...]}, ...]}`` with nodes ``0..n-1``; a bare list of such graph objects is accepted too.
- Edge-list text (any other suffix): graphs separated by blank lines; inside a graph, an optional first line
  ``# nodes N`` (needed only for trailing isolated nodes) followed by one ``u v`` pair per line; ``#`` starts a
  comment; nodes are integers ``0..N-1``.
"""
from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
from tqdm.auto import tqdm

from graphgen.errors import InputError
from graphgen.evaluate.mmd import (StatSpec, as_simple_graph, mmd_from_statistics, protocol_spec, simple_graphs,
                                   single_thread_blas)
from graphgen.evaluate.vun import vun_metrics

# ------------------------------------------------------------------------------------------------- graph conversion


def to_networkx(graph: Any) -> nx.Graph:
    """An undirected simple ``networkx.Graph`` from a networkx graph or a PyG ``Data`` (``edge_index`` [2, E],
    either or both directions, plus ``num_nodes``): :func:`graphgen.evaluate.mmd.as_simple_graph`, the one definition
    of the graphs MMD scores (self-loops dropped, duplicate edges counted once)."""
    return as_simple_graph(graph)


def graph_from_edges(num_nodes: int, edges: Iterable[Sequence[int]]) -> nx.Graph:
    g = nx.Graph()
    g.add_nodes_from(range(int(num_nodes)))
    g.add_edges_from((int(u), int(v)) for u, v in edges)
    g.remove_edges_from(list(nx.selfloop_edges(g)))
    return g


def _is_index(value: Any) -> bool:
    """``value`` is a JSON integer (``True`` / ``False`` are not, although Python counts them as ints)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _load_json(path: Path) -> Any:
    """The parsed JSON of ``path`` (gzip when it ends in ``.gz``); a truncated or non-JSON file is an
    :class:`InputError` naming the file and the position where parsing stopped."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt") as fh:
            return json.load(fh)
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: not valid JSON ({err.msg} at line {err.lineno}, column {err.colno}); the file "
                         "may be truncated, write it again") from None
    except (UnicodeDecodeError, EOFError, gzip.BadGzipFile) as err:
        raise InputError(f"{path}: not a readable JSON file ({err})") from None


def _graph_from_item(item: Any, where: str) -> nx.Graph:
    """One graph object ``{"num_nodes": n, "edges": [[u, v], ...]}``, every endpoint checked against ``0..n-1`` (an
    edge to a missing node is an error naming it, never a silently larger graph)."""
    if not isinstance(item, dict) or "num_nodes" not in item or "edges" not in item:
        got = sorted(item) if isinstance(item, dict) else type(item).__name__
        raise InputError(f"{where}: needs keys 'num_nodes' and 'edges', got {got}")
    n = item["num_nodes"]
    if not _is_index(n) or n < 0:
        raise InputError(f"{where}: 'num_nodes' must be an integer >= 0, got {n!r}")
    if not isinstance(item["edges"], list):
        raise InputError(f"{where}: 'edges' must be a list of [u, v] pairs, got {type(item['edges']).__name__}")
    for j, edge in enumerate(item["edges"]):
        if not (isinstance(edge, list) and len(edge) == 2 and all(_is_index(v) for v in edge)):
            raise InputError(f"{where}, edge {j}: expected [u, v] (two integers), got {edge!r}")
        if not all(0 <= v < n for v in edge):
            raise InputError(f"{where}, edge {j} {edge}: node index out of range 0..{n - 1} (num_nodes {n})")
    return graph_from_edges(n, item["edges"])


def _graph_items(obj: Any, path: Path) -> list:
    """The list of graph objects of a parsed graph file: ``obj["graphs"]`` or ``obj`` itself when it is a list."""
    if isinstance(obj, dict):
        if "graphs" not in obj:
            raise InputError(f"{path}: no 'graphs' key (found {sorted(obj)}); expected {{\"graphs\": [{{\"num_nodes\": "
                             "n, \"edges\": [[u, v], ...]}, ...]}")
        obj = obj["graphs"]
    if not isinstance(obj, list):
        raise InputError(f"{path}: expected a list of graphs or an object with a 'graphs' list, got "
                         f"{type(obj).__name__}")
    return obj


def read_graphs(path: str | os.PathLike) -> list[nx.Graph]:
    """Read graphs from a JSON / JSON.gz file or an edge-list text file (formats in the module docstring)."""
    path = Path(path)
    stem_suffix = Path(path.stem).suffix if path.suffix == ".gz" else path.suffix
    if stem_suffix == ".json":
        items = _graph_items(_load_json(path), path)
        return [_graph_from_item(item, f"{path}: graph {i}") for i, item in enumerate(items)]
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt") as fh:
            text = fh.read()
    except (UnicodeDecodeError, EOFError, gzip.BadGzipFile) as err:
        raise InputError(f"{path}: not a readable edge-list text file ({err})") from None
    return _read_edge_list_text(text, path)


def read_graph_splits(path: str | os.PathLike) -> dict[str, list[nx.Graph]]:
    """Graphs of a shared-data JSON file (``/work/shared/data/generic/*.json[.gz]``) grouped by its ``splits``
    (``{"train": [...], "test": [...], ...}``); a file without splits gives ``{"all": graphs}``."""
    path = Path(path)
    obj = _load_json(path)
    graphs = [_graph_from_item(item, f"{path}: graph {i}") for i, item in enumerate(_graph_items(obj, path))]
    splits = obj.get("splits") if isinstance(obj, dict) else None
    if not splits:
        return {"all": graphs}
    for name, idx in splits.items():
        bad = [i for i in idx if not _is_index(i) or not 0 <= i < len(graphs)]
        if bad:
            raise InputError(f"{path}: split {name!r} holds index {bad[0]!r}, out of range 0..{len(graphs) - 1}")
    return {name: [graphs[i] for i in idx] for name, idx in splits.items()}


def _read_edge_list_text(text: str, path: Path) -> list[nx.Graph]:
    graphs: list[nx.Graph] = []
    num_nodes: int | None = None
    edges: list[tuple[int, int]] = []

    def flush() -> None:
        nonlocal num_nodes, edges
        if num_nodes is not None or edges:
            n = num_nodes if num_nodes is not None else (max(max(e) for e in edges) + 1)
            if edges and (min(min(e) for e in edges) < 0 or max(max(e) for e in edges) >= n):
                header = f" ('# nodes {n}' header)" if num_nodes is not None else ""
                raise InputError(f"{path}: graph {len(graphs)}: an edge endpoint is out of range 0..{n - 1}{header}")
            graphs.append(graph_from_edges(n, edges))
        num_nodes, edges = None, []

    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            flush()
            continue
        if line.startswith("#"):
            parts = line[1:].split()
            if len(parts) == 2 and parts[0] == "nodes":
                if not parts[1].isdigit():
                    raise InputError(f"{path}:{lineno}: expected '# nodes N' with an integer N >= 0, got {raw!r}")
                num_nodes = int(parts[1])
            continue
        parts = line.split()
        if len(parts) != 2:
            raise InputError(f"{path}:{lineno}: expected 'u v' (two integers), got {raw!r}")
        try:
            edges.append((int(parts[0]), int(parts[1])))
        except ValueError:
            raise InputError(f"{path}:{lineno}: expected 'u v' (two integers), got {raw!r}") from None
    flush()
    return graphs


def write_graphs_json(graphs: Sequence[Any], path: str | os.PathLike) -> None:
    """Write graphs (networkx or Data) in the JSON format :func:`read_graphs` reads; nodes relabelled 0..n-1."""
    items = []
    for g in graphs:
        g = nx.convert_node_labels_to_integers(to_networkx(g))
        items.append({"num_nodes": g.number_of_nodes(), "edges": [sorted((int(u), int(v))) for u, v in g.edges]})
    Path(path).write_text(json.dumps({"graphs": items}))


# ------------------------------------------------------------------------------------------------- statistics pool


def _worker_init() -> None:
    single_thread_blas().__enter__()  # for the life of the worker process


def _statistics_of(args: tuple[nx.Graph, dict[str, StatSpec]]) -> dict[str, np.ndarray]:
    graph, specs = args
    return {name: spec.statistic(graph) for name, spec in specs.items()}


def graph_statistics(
    graphs: Sequence[nx.Graph],
    specs: dict[str, StatSpec],
    *,
    num_workers: int | None = None,
    desc: str = "graph statistics",
    progress: bool = True,
) -> dict[str, list[np.ndarray]]:
    """Per-graph statistics for every entry of ``specs``: ``{name: [vector per graph]}``.

    Uses a process pool of ``num_workers`` (default: ``min(4, os.cpu_count())``) when there are at least 64 graphs;
    ``num_workers=0`` forces the serial path.
    """
    workers = min(4, os.cpu_count() or 1) if num_workers is None else num_workers
    jobs = [(g, specs) for g in graphs]
    bar = dict(total=len(jobs), desc=desc, leave=False)
    # `disable` only switches the bar off: an explicit False would override TQDM_DISABLE (--no-progress)
    if not progress:
        bar["disable"] = True
    if workers > 1 and len(jobs) >= 64:
        with ProcessPoolExecutor(max_workers=workers, initializer=_worker_init) as pool:
            results = list(tqdm(pool.map(_statistics_of, jobs, chunksize=16), **bar))
    else:
        with single_thread_blas():
            results = [_statistics_of(job) for job in tqdm(jobs, **bar)]
    return {name: [r[name] for r in results] for name in specs}


# ------------------------------------------------------------------------------------------------------ evaluation


def evaluate_graphs(
    generated: Sequence[Any],
    reference: Sequence[Any],
    protocol: str = "gdss",
    *,
    train: Sequence[Any] | None = None,
    validity: str | Callable[[nx.Graph], bool] | None = None,
    num_workers: int | None = None,
    progress: bool = True,
) -> dict[str, float]:
    """Score generated graphs against reference (test) graphs.

    Args:
        generated: generated graphs (``networkx.Graph`` or PyG ``Data``).
        reference: reference graphs, normally the test split.
        protocol: ``"gdss"`` — biased MMD² of degree (Gaussian-EMD σ=1), clustering (Gaussian-EMD σ=0.1, 100 bins)
            and orbit counts (Gaussian σ=30 on per-node-averaged counts of orbits 0–14); ``"spectre"`` (alias
            ``"digress"``) — Gaussian-TV MMD² of degree (σ=1), clustering (σ=0.1), orbit (σ=30) and the
            normalised-Laplacian spectrum (σ=1, 200 bins), plus uniqueness / novelty / validity / V.U.N.
            Exact kernels and statistics: :mod:`graphgen.evaluate.mmd`.
        train: training graphs. When given: ``<stat>_ref`` = MMD²(train, reference), ``<stat>_ratio`` =
            MMD²(generated, reference) / MMD²(train, reference) (``nan`` if both are 0, ``inf`` if only the
            denominator is), ``ratio_mean`` (mean over the statistics whose train-vs-reference MMD² is > 0); and for the
            SPECTRE protocol ``novel``, ``unique_novel`` and (with ``validity``) ``vun``.
        validity: ``"planar"``, ``"tree"``, ``"sbm"`` or a callable, for ``valid`` / ``vun`` (computed under either
            protocol when given; uniqueness / novelty too).
        num_workers: process-pool size for the per-graph statistics and validity checks (0 = serial).
        progress: show tqdm bars.

    Returns:
        Flat ``dict[str, float]``: one MMD² per statistic (``degree``, ``clustering``, ``orbit`` [, ``spectral``]),
        the ratio entries above, V.U.N. fractions in [0, 1], and ``num_generated``, ``num_reference``,
        ``num_empty_generated``. Every graph is read as its simple undirected graph (self-loops dropped, duplicate
        edges counted once), the same definition :func:`graphgen.evaluate.mmd.graph_mmd` applies, so each MMD² equals
        ``graph_mmd`` on the same lists. Generated graphs with 0 nodes are excluded from the MMD statistics (as
        SPECTRE's ``graph_pred_list_remove_empty``) and counted in ``num_empty_generated``; they still count as not
        valid.

    Raises:
        InputError: an unknown protocol, an empty list, a reference or train graph with 0 nodes, every generated
            graph empty, or a malformed graph (the message names the list and the index).
    """
    specs = protocol_spec(protocol)
    spectre = protocol in ("spectre", "digress")
    gen = simple_graphs(generated, "generated", allow_empty=True)
    ref = simple_graphs(reference, "reference")
    if not gen or not ref:
        raise InputError(f"evaluate_graphs needs non-empty lists, got {len(gen)} generated and {len(ref)} reference")
    gen_nonempty = [g for g in gen if g.number_of_nodes() > 0]
    if not gen_nonempty:
        raise InputError("every generated graph has 0 nodes; nothing to score")
    kw = dict(num_workers=num_workers, progress=progress)
    stats_gen = graph_statistics(gen_nonempty, specs, desc="statistics: generated", **kw)
    stats_ref = graph_statistics(ref, specs, desc="statistics: reference", **kw)
    out: dict[str, float] = {}
    for name, spec in specs.items():
        out[name] = mmd_from_statistics(stats_gen[name], stats_ref[name], spec)
    train_nx = None if train is None else simple_graphs(train, "train")
    if train_nx is not None:
        stats_train = graph_statistics(train_nx, specs, desc="statistics: train", **kw)
        ratios = []
        for name, spec in specs.items():
            base = mmd_from_statistics(stats_train[name], stats_ref[name], spec)
            out[f"{name}_ref"] = base
            if base > 0:
                out[f"{name}_ratio"] = out[name] / base
                ratios.append(out[f"{name}_ratio"])
            else:  # train and reference agree exactly (e.g. grid clustering): the ratio is undefined
                out[f"{name}_ratio"] = float("nan") if out[name] == 0 else float("inf")
        out["ratio_mean"] = float(np.mean(ratios)) if ratios else float("nan")
    if spectre or validity is not None:
        out.update(vun_metrics(gen, train=train_nx, validity=validity, progress=progress, num_workers=num_workers))
    out["num_generated"] = float(len(gen))
    out["num_reference"] = float(len(ref))
    out["num_empty_generated"] = float(len(gen) - len(gen_nonempty))
    return out
