"""PARD block decomposition on hand-checked graphs (expected blocks worked out by hand in the comments)."""
from __future__ import annotations

import pytest
import torch

from graphgen.generate.pard.blocks import (
    block_decomposition,
    block_degrees,
    block_sizes,
    hashed_degree,
    order_agreement,
)


def undirected(edges: list[tuple[int, int]]) -> torch.Tensor:
    e = torch.tensor(edges, dtype=torch.long).t()
    return torch.cat([e, e.flip(0)], dim=1)


def groups(block: torch.Tensor) -> list[set[int]]:
    return [set((block == b).nonzero().view(-1).tolist()) for b in range(int(block.max()) + 1)]


@pytest.mark.parametrize("max_hops", [1, 2, 3])
def test_path4(max_hops):
    # 0-1-2-3: degrees 1,2,2,1 -> remove {0,3}; then 1-2 both degree 1 -> remove {1,2}. Reversed: core {1,2} first.
    # (K=2 keys: x1 = (2,3,3,2), x2 = x1 + A x1 = (5,8,8,5): same order.)
    block = block_decomposition(undirected([(0, 1), (1, 2), (2, 3)]), 4, max_hops=max_hops)
    assert groups(block) == [{1, 2}, {0, 3}]


def test_path5():
    # 0-1-2-3-4: remove {0,4}, then {1,3} (ends of 1-2-3), then {2}; reversed
    block = block_decomposition(undirected([(0, 1), (1, 2), (2, 3), (3, 4)]), 5)
    assert block.tolist() == [2, 1, 0, 1, 2]
    # degrees inside blocks <= b: {2} alone -> 0; {1,3} with 2 -> 1; {0,4} with the rest -> 1
    assert block_degrees(undirected([(0, 1), (1, 2), (2, 3), (3, 4)]), block).tolist() == [0, 1, 1]
    assert block_sizes(block).tolist() == [1, 2, 2]


def test_star():
    # centre 0, leaves 1..4: leaves (degree 1) go first, then the lone centre -> blocks [{0}, {1,2,3,4}]
    block = block_decomposition(undirected([(0, 1), (0, 2), (0, 3), (0, 4)]), 5)
    assert groups(block) == [{0}, {1, 2, 3, 4}]
    assert block_degrees(undirected([(0, 1), (0, 2), (0, 3), (0, 4)]), block).tolist() == [0, 1]


@pytest.mark.parametrize("max_hops", [1, 3])
def test_cycle_is_one_block(max_hops):
    block = block_decomposition(undirected([(i, (i + 1) % 5) for i in range(5)]), 5, max_hops=max_hops)
    assert block.tolist() == [0] * 5


def test_isolated_nodes_are_generated_last():
    # edge 0-1 plus isolated 2: key 1 (degree 0) for node 2 -> removed first -> last block
    block = block_decomposition(undirected([(0, 1)]), 3)
    assert groups(block) == [{0, 1}, {2}]


def test_two_hops_break_degree_ties():
    # triangle 0-1-2, pendant 3 on 0, path 1-4-5. Degrees: 0:3 1:3 2:2 3:1 4:2 5:1.
    # K=1: {3,5} leave together. K=2: x1 = (4,4,3,2,3,2); x2(3) = 2 + x1(0) = 6, x2(5) = 2 + x1(4) = 5 -> {5} alone.
    edges = undirected([(0, 1), (1, 2), (2, 0), (0, 3), (1, 4), (4, 5)])
    keys = hashed_degree(torch.zeros(6, 6, dtype=torch.long).index_put_((edges[0], edges[1]), torch.tensor(1)), 2)
    assert keys[:, 0].tolist() == [4, 4, 3, 2, 3, 2]
    assert keys[3, 1].item() == 6 and keys[5, 1].item() == 5
    k1 = block_decomposition(edges, 6, max_hops=1)
    k2 = block_decomposition(edges, 6, max_hops=2)
    assert groups(k1)[-1] == {3, 5}
    assert groups(k2)[-1] == {5}
    # K=2 continues on {0..4}: x1 = (4,4,3,2,2) (4 lost 5); x2(3) = 2+4 = 6, x2(4) = 2+4 = 6 -> {3,4} together
    assert groups(k2)[-2] == {3, 4}


def test_molecule_cyclopropanol():
    # OC1CC1 (in QM9): O0-C1, C1-C2, C2-C3, C3-C1. Degrees O:1 C1:3 C2:2 C3:2 -> remove {O}; the ring is one block.
    from graphgen.data.molecules import VOCABS, smiles_to_data

    data = smiles_to_data("OC1CC1", VOCABS["qm9"])
    block = block_decomposition(data.edge_index, data.num_nodes)
    assert groups(block) == [{1, 2, 3}, {0}]
    assert block_degrees(data.edge_index, block).tolist() == [2, 1]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("max_hops", [1, 2])
def test_permutation_equivariance(seed, max_hops):
    g = torch.Generator().manual_seed(seed)
    n = 12
    upper = torch.rand(n, n, generator=g).triu(1) < 0.25
    edge_index = (upper | upper.t()).nonzero().t()
    block = block_decomposition(edge_index, n, max_hops=max_hops)
    perm = torch.randperm(n, generator=g)  # new node i is old node perm[i]
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(n)
    permuted = block_decomposition(inv[edge_index], n, max_hops=max_hops)
    assert torch.equal(permuted, block[perm])
    # every block shares one degree inside the blocks before it (block_degrees raises otherwise)
    block_degrees(edge_index, block)


def test_qm9_rows(shared_data):
    """First QM9 rows with rings/branches, checked by hand: CC(C)=O -> {C1} then {C0,C2,O3}; C1CC1 -> one block."""
    import csv
    import gzip

    from graphgen.data.molecules import VOCABS, smiles_to_data

    with gzip.open(shared_data / "molecules" / "qm9_smiles.csv.gz", "rt") as f:
        smiles = [row["SMILES1"] for _, row in zip(range(40), csv.DictReader(f))]
    assert "CC(C)=O" in smiles and "C1CC1" in smiles
    acetone = smiles_to_data("CC(C)=O", VOCABS["qm9"])
    assert groups(block_decomposition(acetone.edge_index, acetone.num_nodes)) == [{1}, {0, 2, 3}]
    ring = smiles_to_data("C1CC1", VOCABS["qm9"])
    assert block_decomposition(ring.edge_index, ring.num_nodes).tolist() == [0, 0, 0]


def test_errors_name_the_fix():
    with pytest.raises(ValueError, match="num_nodes"):
        block_decomposition(torch.tensor([[0], [5]]), 3)
    with pytest.raises(ValueError, match="max_hops"):
        block_decomposition(torch.tensor([[0], [1]]), 2, max_hops=0)


def test_order_agreement_counts_graphs_whose_blocks_are_their_decomposition():
    from torch_geometric.data import Data

    star = undirected([(0, 1), (0, 2), (0, 3)])  # blocks: centre 0, then the three leaves
    good = Data(edge_index=star, num_nodes=4, block=torch.tensor([0, 1, 1, 1]))
    merged = Data(edge_index=star, num_nodes=4, block=torch.tensor([0, 0, 0, 0]))  # one block of mixed degree
    late = Data(edge_index=star, num_nodes=4, block=torch.tensor([1, 0, 0, 0]))  # leaves first: wrong order
    assert order_agreement([good]) == 1.0
    assert order_agreement([good, merged, late, good]) == 0.5
    with pytest.raises(ValueError, match="graph 1 has no `block`"):
        order_agreement([good, Data(edge_index=star, num_nodes=4)])
