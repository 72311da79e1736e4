"""A list of ``Data`` in one safetensors file, written and read without pickle.

Every tensor attribute is concatenated over the graphs along PyG's concatenation dimension (``Data.__cat_dim__``:
the last one for ``edge_index``, the first for the rest; 0-dim tensors are stacked), with the per-graph sizes beside
it, so reading back only splits tensors and runs no code. The layout and the caller's metadata live in the file's
JSON header (safetensors metadata), so one file holds everything.

Tensors in the file (``G`` graphs):

- ``num_nodes`` int64 ``[G]``;
- ``graph/<key>``: the attribute ``key`` of all graphs, concatenated;
- ``sizes/<key>`` int64 ``[G]``: each graph's extent along the concatenation dimension.

Header entries (JSON strings): ``graphgen.graph_file`` = ``{"version": 1, "cat_dims": {key: dim}, "scalars": [key,
...]}`` and ``graphgen.metadata`` = whatever JSON-serialisable dict the caller passed to :func:`save_graphs`.

All graphs must carry the same tensor attributes with the same dtype and the same shape outside the concatenation
dimension; non-tensor attributes other than ``num_nodes`` are refused (put list-level values into ``metadata``).
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor
from torch_geometric.data import Data

from graphgen.errors import CorruptFileError

FORMAT_KEY = "graphgen.graph_file"
METADATA_KEY = "graphgen.metadata"
VERSION = 1


def save_graphs(path: str | os.PathLike, graphs: Sequence[Data], metadata: dict[str, Any] | None = None) -> Path:
    """Write ``graphs`` (and the JSON-serialisable ``metadata``) to ``path`` atomically; returns the path."""
    path = Path(path)
    graphs = list(graphs)
    keys = sorted(k for k, v in graphs[0].items() if torch.is_tensor(v)) if graphs else []
    cat_dims: dict[str, int] = {}
    scalars: list[str] = []
    for i, g in enumerate(graphs):
        if not isinstance(g, Data):
            raise TypeError(f"save_graphs: graphs[{i}] is a {type(g).__name__}, not a torch_geometric Data")
        others = [k for k, v in g.items() if not torch.is_tensor(v) and k != "num_nodes"]
        if others:
            raise TypeError(f"save_graphs: graphs[{i}] has non-tensor attributes {others}; only tensors and "
                            f"num_nodes are stored (put list-level values into metadata)")
        got = sorted(k for k, v in g.items() if torch.is_tensor(v))
        if got != keys:
            raise ValueError(f"save_graphs: graphs[{i}] has tensor attributes {got} but graphs[0] has {keys}; "
                             f"every graph must carry the same ones")
        if g.num_nodes is None:
            raise ValueError(f"save_graphs: graphs[{i}] has no num_nodes (and no x to infer it from)")

    tensors: dict[str, Tensor] = {"num_nodes": torch.tensor([int(g.num_nodes) for g in graphs], dtype=torch.long)}
    for key in keys:
        values = [g[key].detach().cpu() for g in graphs]
        if values[0].dim() == 0:
            scalars.append(key)
            dim = 0
        else:
            dim = graphs[0].__cat_dim__(key, values[0])
            dim = dim + values[0].dim() if dim < 0 else dim
        for i, v in enumerate(values):
            ref = values[0]
            if v.dtype != ref.dtype or v.dim() != ref.dim() or \
                    v.shape[:dim] + v.shape[dim + 1:] != ref.shape[:dim] + ref.shape[dim + 1:]:
                raise ValueError(f"save_graphs: attribute {key!r} of graphs[{i}] is {v.dtype} {tuple(v.shape)}, "
                                 f"graphs[0]'s is {ref.dtype} {tuple(ref.shape)}; only dimension {dim} may differ")
        if key in scalars:
            values = [v.reshape(1) for v in values]
        cat_dims[key] = dim
        tensors[f"graph/{key}"] = torch.cat(values, dim).contiguous()
        tensors[f"sizes/{key}"] = torch.tensor([v.size(dim) for v in values], dtype=torch.long)

    try:
        user = json.dumps(metadata or {})
    except TypeError as err:
        raise TypeError(f"save_graphs: metadata must be JSON-serialisable ({err})") from None
    header = {FORMAT_KEY: json.dumps({"version": VERSION, "cat_dims": cat_dims, "scalars": scalars}),
              METADATA_KEY: user}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=header)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def load_graphs(path: str | os.PathLike) -> tuple[list[Data], dict[str, Any]]:
    """Read a file written by :func:`save_graphs`: ``(graphs, metadata)``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no graph file at {path}")
    try:
        handle = safe_open(str(path), framework="pt")
    except (SafetensorError, OSError) as err:  # a truncated or foreign file
        raise CorruptFileError(f"{path}: not a readable safetensors graph file ({err}); write it again") from None
    with handle as f:
        header = f.metadata() or {}
        if FORMAT_KEY not in header:
            raise CorruptFileError(f"{path} is a safetensors file but not a graph list written by "
                                   f"graphgen.data.graph_file.save_graphs (no {FORMAT_KEY!r} header entry)")
        layout = json.loads(header[FORMAT_KEY])
        if layout.get("version") != VERSION:
            raise CorruptFileError(f"{path}: graph file version {layout.get('version')!r}, this graphgen reads "
                                   f"{VERSION}")
        tensors = {name: f.get_tensor(name) for name in f.keys()}
    metadata = json.loads(header.get(METADATA_KEY, "{}"))
    num_nodes = tensors["num_nodes"].tolist()
    graphs = [Data(num_nodes=n) for n in num_nodes]
    for key, dim in layout["cat_dims"].items():
        value, sizes = tensors[f"graph/{key}"], tensors[f"sizes/{key}"].tolist()
        if len(sizes) != len(graphs) or sum(sizes) != value.size(dim):
            raise CorruptFileError(f"{path}: sizes/{key} ({len(sizes)} graphs, total {sum(sizes)}) does not match "
                                   f"graph/{key} {tuple(value.shape)} along dimension {dim} for {len(graphs)} graphs")
        for g, part in zip(graphs, torch.split(value, sizes, dim)):
            g[key] = part.reshape(()) if key in layout["scalars"] else part.contiguous()
    return graphs, metadata
