"""Tiny hand-built two-graph batch shared by the layer tests."""
from __future__ import annotations

import pytest
import torch


class TinyBatch:
    """Graph 0: a 4-cycle with a chord (nodes 0-3); graph 1: a 3-path (nodes 4-6). Both directions of each edge."""

    def __init__(self, channels: int = 8, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        und = [(0, 1), (1, 2), (2, 3), (3, 0), (0, 2), (4, 5), (5, 6)]
        ei = torch.tensor(und).t()
        self.edge_index = torch.cat([ei, ei.flip(0)], 1)
        self.num_nodes = 7
        self.batch = torch.tensor([0, 0, 0, 0, 1, 1, 1])
        self.x = torch.randn(7, channels, generator=g)
        self.edge_attr = torch.randn(self.edge_index.size(1), channels, generator=g)

    def permutation(self, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """A node permutation that keeps ``batch`` sorted (shuffles within each graph), and the matching edge
        permutation (edges are also shuffled). New node ``k`` is old node ``perm[k]``."""
        g = torch.Generator().manual_seed(seed)
        perm = torch.cat([torch.randperm(4, generator=g), 4 + torch.randperm(3, generator=g)])
        eperm = torch.randperm(self.edge_index.size(1), generator=g)
        return perm, eperm

    def permuted(self, perm: torch.Tensor, eperm: torch.Tensor):
        inv = torch.empty_like(perm)
        inv[perm] = torch.arange(perm.numel())
        return self.x[perm], inv[self.edge_index[:, eperm]], self.edge_attr[eperm], self.batch[perm]

    def graph(self, i: int):
        """(x, edge_index, edge_attr) of graph ``i`` alone, re-indexed from 0."""
        nodes = (self.batch == i).nonzero().view(-1)
        emask = (self.batch[self.edge_index[0]] == i)
        return self.x[nodes], self.edge_index[:, emask] - nodes[0], self.edge_attr[emask]


@pytest.fixture
def tiny() -> TinyBatch:
    return TinyBatch()


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """On this shared 2-core machine, two OpenMP threads stall at every barrier (a BatchNorm on a 50 x 16 tensor
    took 150 ms with 2 threads and 0.03 ms with 1); tests run single-threaded."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
