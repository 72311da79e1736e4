"""Positional and structural encodings (PE/SE) computed once per graph, as PyG-style transforms.

Each transform is a small callable: hyper-parameters in the constructor, ``__call__(data) -> data`` adding new
attributes (never overwriting ``x``). None of them draws random numbers: the Laplacian eigenvector sign flip of the
GPS recipe happens **per batch, in the encoder** (:class:`graphgen.nn.pe.LapPENodeEncoder`, given a
``torch.Generator``), so using these as ``pre_transform`` does not freeze any randomness.

| transform | adds | shape | paper |
|---|---|---|---|
| :class:`AddLapPE` | ``lap_eigvec``, ``lap_eigval`` | ``[N, k]``, ``[N, k]`` (NaN-padded when ``N - 1 < k``) | Dwivedi & Bresson 2021; GPS |
| :class:`AddRWSE` | ``rwse`` | ``[N, K]`` | Dwivedi et al. 2022 (LSPE); GPS |
| :class:`AddRRWP` | ``rrwp``, ``rrwp_index``, ``rrwp_val`` | ``[N, K]``, ``[2, P]``, ``[P, K]`` | Ma et al. 2023 (GRIT) |

All three use the random-walk matrix ``M = D^-1 A`` (or the normalised Laplacian) of the graph given by
``edge_index`` (treated as given: pass both directions for an undirected graph); isolated nodes have degree clamped
to 1, so their rows of ``M`` are zero. Graphs are handled densely (``N x N``), which suits molecules and the LRGB
peptides (hundreds of nodes), not graphs with tens of thousands of nodes.

``edge_index`` must be a ``[2, E]`` integer tensor of ids in ``[0, num_nodes)``; anything else raises
:class:`graphgen.errors.InputError` naming the field and the first bad entry (torch indexing would wrap a negative id
onto the last nodes and give a silently wrong encoding).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from ..errors import InputError

__all__ = ["AddLapPE", "AddRRWP", "AddRWSE", "apply_many", "random_walk_matrix"]


def _num_nodes(data: Data, who: str) -> int:
    n = data.num_nodes
    if n is None:
        raise InputError(f"{who}: data has no num_nodes and no x; set data.num_nodes")
    if int(n) < 0:
        raise InputError(f"{who}: data.num_nodes = {int(n)} is negative; set it to the number of nodes")
    return int(n)


def _checked_edge_index(edge_index: object, num_nodes: int, who: str) -> Tensor:
    """``edge_index`` as a ``[2, E]`` long tensor after checking that every id is in ``[0, num_nodes)`` (one
    min/max pass; the first bad entry is located only to word the error)."""
    if not isinstance(edge_index, Tensor):
        raise InputError(f"{who}: data.edge_index must be a [2, E] integer tensor, got {type(edge_index).__name__}; "
                         "use torch.zeros(2, 0, dtype=torch.long) for a graph without edges")
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise InputError(f"{who}: data.edge_index must be [2, E], got shape {tuple(edge_index.shape)}; transpose an "
                         "[E, 2] edge list with .t()")
    if edge_index.dtype.is_floating_point or edge_index.dtype.is_complex or edge_index.dtype == torch.bool:
        raise InputError(f"{who}: data.edge_index must hold integer node ids, got {edge_index.dtype}; convert it "
                         "with .long()")
    if edge_index.numel() > 0:
        low, high = (int(v) for v in torch.aminmax(edge_index))
        if low < 0 or high >= num_nodes:
            flat = edge_index.reshape(-1)
            at = int(((flat < 0) | (flat >= num_nodes)).nonzero()[0])
            row, col = divmod(at, edge_index.size(1))
            raise InputError(f"{who}: data.edge_index[{row}, {col}] = {int(flat[at])} is not a node id in "
                             f"[0, num_nodes = {num_nodes}); fix the edge list or data.num_nodes")
    return edge_index.long()


def _dense_adjacency(edge_index: Tensor, num_nodes: int, who: str = "random_walk_matrix") -> Tensor:
    """``[N, N]`` float64 adjacency, ``A[j, i] = 1`` for each edge ``j -> i`` (multi-edges counted once)."""
    edge_index = _checked_edge_index(edge_index, num_nodes, who)
    adj = torch.zeros(num_nodes, num_nodes, dtype=torch.float64)
    if edge_index.numel() > 0:
        adj[edge_index[0], edge_index[1]] = 1.0
    return adj


def random_walk_matrix(edge_index: Tensor, num_nodes: int, who: str = "random_walk_matrix") -> Tensor:
    """``M = D^-1 A`` as a dense ``[N, N]`` float64 tensor: ``M[i, j]`` is the probability of stepping ``i -> j``
    (out-degree normalised, isolated nodes give a zero row). ``who`` names the caller in errors."""
    adj = _dense_adjacency(edge_index, num_nodes, who)
    deg = adj.sum(1).clamp(min=1.0)
    return adj / deg.unsqueeze(1)


def _padded_walk_matrices(data_list: list[Data], who: str) -> tuple[Tensor, list[int]]:
    """``[B, N_max, N_max]`` float64 random-walk matrices of several graphs (zero padding) and their sizes."""
    sizes = [_num_nodes(d, f"{who} graph {b} of the chunk") for b, d in enumerate(data_list)]
    n_max = max(sizes, default=0)
    adj = torch.zeros(len(data_list), n_max, n_max, dtype=torch.float64)
    for b, d in enumerate(data_list):
        edge_index = _checked_edge_index(d.edge_index, sizes[b], f"{who} graph {b} of the chunk")
        if edge_index.numel() > 0:
            adj[b, edge_index[0], edge_index[1]] = 1.0
    return adj / adj.sum(2, keepdim=True).clamp(min=1.0), sizes


def apply_many(transform, data_list: list[Data], *, chunk: int = 512) -> list[Data]:
    """Apply ``transform`` to every graph of ``data_list``; RWSE and RRWP are computed for ``chunk`` graphs at a time
    with batched matrix powers (same values as calling the transform per graph, much less Python overhead)."""
    for b, data in enumerate(data_list):                 # first, so that an error names the graph's position
        who = f"apply_many: graph {b} ({transform!r})"
        _checked_edge_index(data.edge_index, _num_nodes(data, who), who)
    many = getattr(transform, "_many", None)
    if many is None:
        return [transform(d) for d in data_list]
    out: list[Data] = []
    for start in range(0, len(data_list), chunk):
        out.extend(many(data_list[start:start + chunk]))
    return out


def _powers(m: Tensor, steps: int, start: int) -> Tensor:
    """``[steps, N, N]`` = ``M^start, M^(start+1), ...``."""
    out = []
    cur = torch.linalg.matrix_power(m, start) if start != 1 else m.clone()
    for _ in range(steps):
        out.append(cur)
        cur = cur @ m
    return torch.stack(out) if out else m.new_zeros(0, *m.shape)


class AddLapPE:
    r"""Laplacian eigenvector PE: the ``k`` eigenvectors of the symmetric normalised Laplacian
    :math:`L = I - D^{-1/2} A D^{-1/2}` with the smallest eigenvalues, skipping the first (trivial) one.

    Adds ``data.lap_eigvec`` ``[N, k]`` (unit L2 norm per eigenvector, as returned by ``eigh``) and
    ``data.lap_eigval`` ``[N, k]`` (the eigenvalues repeated on every node, so batching concatenates them).
    Graphs with ``N - 1 < k`` non-trivial eigenpairs are padded with NaN in both; the encoder masks them.
    Signs are left as ``eigh`` returns them; the encoder flips them at random per batch during training.

    Args:
        k: number of eigenpairs (GPS on Peptides: 10; GT on ZINC: 8).
        dtype: dtype of the stored tensors (default float32).
    """

    def __init__(self, k: int, *, dtype: torch.dtype = torch.float32) -> None:
        if k < 1:
            raise InputError(f"AddLapPE: k must be >= 1, got {k}")
        self.k = int(k)
        self.dtype = dtype

    def __call__(self, data: Data) -> Data:
        n = _num_nodes(data, "AddLapPE")
        adj = _dense_adjacency(data.edge_index, n, "AddLapPE")
        adj = torch.maximum(adj, adj.t())                  # the Laplacian of the undirected graph
        deg = adj.sum(1)
        inv_sqrt = torch.where(deg > 0, deg.clamp(min=1e-12).rsqrt(), torch.zeros_like(deg))
        lap = torch.eye(n, dtype=torch.float64) - inv_sqrt[:, None] * adj * inv_sqrt[None, :]
        evals, evecs = np.linalg.eigh(lap.numpy()) if n > 0 else (np.zeros(0), np.zeros((0, 0)))
        order = np.argsort(evals, kind="stable")[1:1 + self.k]   # drop the trivial eigenvector
        eigvec = torch.full((n, self.k), float("nan"), dtype=self.dtype)
        eigval = torch.full((n, self.k), float("nan"), dtype=self.dtype)
        m = len(order)
        if m > 0:
            eigvec[:, :m] = torch.from_numpy(evecs[:, order]).to(self.dtype)
            eigval[:, :m] = torch.from_numpy(np.clip(evals[order], 0.0, None)).to(self.dtype).unsqueeze(0)
        data.lap_eigvec = eigvec
        data.lap_eigval = eigval
        return data

    def __repr__(self) -> str:
        return f"{type(self).__name__}(k={self.k})"


class AddRWSE:
    r"""Random-walk structural encoding: the return probabilities :math:`[M_{ii}, (M^2)_{ii}, \dots, (M^K)_{ii}]`,
    ``M = D^-1 A``. Adds ``data.rwse`` ``[N, K]``.

    Args:
        steps: ``K`` (GPS on ZINC: 20; on ogbg-molhiv: 16).
    """

    def __init__(self, steps: int, *, dtype: torch.dtype = torch.float32) -> None:
        if steps < 1:
            raise InputError(f"AddRWSE: steps must be >= 1, got {steps}")
        self.steps = int(steps)
        self.dtype = dtype

    def __call__(self, data: Data) -> Data:
        n = _num_nodes(data, "AddRWSE")
        m = random_walk_matrix(data.edge_index, n, "AddRWSE")
        pw = _powers(m, self.steps, start=1)                     # [K, N, N]
        data.rwse = torch.diagonal(pw, dim1=1, dim2=2).t().to(self.dtype).contiguous()   # [N, K]
        return data

    def _many(self, data_list: list[Data]) -> list[Data]:
        m, sizes = _padded_walk_matrices(data_list, "AddRWSE")
        diag, cur = [], m.clone()
        for _ in range(self.steps):
            diag.append(torch.diagonal(cur, dim1=1, dim2=2))          # [B, N_max]
            cur = cur @ m
        rw = torch.stack(diag, -1).to(self.dtype)                     # [B, N_max, K]
        for b, d in enumerate(data_list):
            d.rwse = rw[b, :sizes[b]].contiguous()
        return data_list

    def __repr__(self) -> str:
        return f"{type(self).__name__}(steps={self.steps})"


class AddRRWP:
    r"""Relative random-walk probabilities (GRIT): :math:`P = [I, M, M^2, \dots, M^{K-1}]`, ``M = D^-1 A``.

    Adds
      - ``data.rrwp`` ``[N, K]``: the diagonal ``P_ii`` (node encoding),
      - ``data.rrwp_index`` ``[2, P]``: the attention pairs ``(j, i)`` (row 0 source, row 1 destination, PyG order),
        sorted by destination then source; batching offsets it like ``edge_index``,
      - ``data.rrwp_val`` ``[P, K]``: ``P_k[j, i]`` for each pair.

    ``full=True`` lists every ordered pair of nodes of the graph including self pairs (``P = N^2``; GRIT's full
    attention). ``full=False`` lists only the real edges plus self loops (GRIT's sparse ablation).

    Args:
        steps: ``K`` (GRIT on ZINC: 21).
        full: all pairs (default) or real edges + self loops.
    """

    def __init__(self, steps: int, *, full: bool = True, dtype: torch.dtype = torch.float32) -> None:
        if steps < 1:
            raise InputError(f"AddRRWP: steps must be >= 1, got {steps}")
        self.steps = int(steps)
        self.full = bool(full)
        self.dtype = dtype

    def __call__(self, data: Data) -> Data:
        n = _num_nodes(data, "AddRRWP")
        m = random_walk_matrix(data.edge_index, n, "AddRRWP")
        pw = _powers(m, self.steps, start=0)                     # [K, N, N], pw[k, j, i] = (M^k)_{ji}
        data.rrwp = torch.diagonal(pw, dim1=1, dim2=2).t().to(self.dtype).contiguous()
        if self.full:
            mask = torch.ones(n, n, dtype=torch.bool)
        else:
            mask = _dense_adjacency(data.edge_index, n, "AddRRWP").bool() | torch.eye(n, dtype=torch.bool)
        dst, src = mask.t().nonzero(as_tuple=True)               # sorted by destination, then source
        data.rrwp_index = torch.stack([src, dst]).long()
        data.rrwp_val = pw[:, src, dst].t().to(self.dtype).contiguous()   # [P, K]
        return data

    def _many(self, data_list: list[Data]) -> list[Data]:
        m, sizes = _padded_walk_matrices(data_list, "AddRRWP")
        b_, n_max = m.size(0), m.size(1)
        eye = torch.eye(n_max, dtype=m.dtype).expand(b_, n_max, n_max)
        pw, cur = [], eye.clone()
        for _ in range(self.steps):
            pw.append(cur)
            cur = cur @ m
        pw_all = torch.stack(pw, 1)                                   # [B, K, N_max, N_max]
        for b, d in enumerate(data_list):
            n = sizes[b]
            p = pw_all[b, :, :n, :n]
            d.rrwp = torch.diagonal(p, dim1=1, dim2=2).t().to(self.dtype).contiguous()
            if self.full:
                mask = torch.ones(n, n, dtype=torch.bool)
            else:
                mask = _dense_adjacency(d.edge_index, n, f"AddRRWP graph {b}").bool() | torch.eye(n, dtype=torch.bool)
            dst, src = mask.t().nonzero(as_tuple=True)
            d.rrwp_index = torch.stack([src, dst]).long()
            d.rrwp_val = p[:, src, dst].t().to(self.dtype).contiguous()
        return data_list

    def __repr__(self) -> str:
        return f"{type(self).__name__}(steps={self.steps}, full={self.full})"
