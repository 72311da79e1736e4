from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch, Data

from graphgen.data.dense import from_dense, to_dense, to_dense_batch_list

NODE_KINDS = ["none", "long", "long_onehot", "long_2d", "float"]
EDGE_KINDS = ["none", "long", "long_onehot", "long_2d", "float"]
K, C = 4, 3  # node / edge classes


def random_graph(n: int, p: float, node_kind: str, edge_kind: str, gen: torch.Generator, directed: bool) -> Data:
    """A random graph with edges sorted by (row, col); isolated nodes and empty edge sets happen by design."""
    adj = torch.rand(n, n, generator=gen) < p
    adj.fill_diagonal_(False)
    if not directed:
        adj = torch.triu(adj, 1)
        adj = adj | adj.t()
    row, col = adj.nonzero().t()
    m = row.numel()
    data = Data(edge_index=torch.stack([row, col]), num_nodes=n)
    if node_kind in ("long", "long_onehot"):
        data.x = torch.randint(0, K, (n,), generator=gen)
    elif node_kind == "long_2d":
        data.x = torch.randint(0, K, (n, 2), generator=gen)
    elif node_kind == "float":
        data.x = torch.randn(n, 5, generator=gen)
    if edge_kind in ("long", "long_onehot"):
        data.edge_attr = torch.randint(0, C, (m,), generator=gen)
    elif edge_kind == "long_2d":
        data.edge_attr = torch.randint(0, C, (m, 3), generator=gen)
    elif edge_kind == "float":
        data.edge_attr = torch.randn(m, 2, generator=gen)
    return data


def assert_same_graph(a: Data, b: Data) -> None:
    assert a.num_nodes == b.num_nodes
    assert torch.equal(a.edge_index, b.edge_index)
    for key in ("x", "edge_attr"):
        va, vb = getattr(a, key, None), getattr(b, key, None)
        assert (va is None) == (vb is None), key
        if va is not None:
            assert va.dtype == vb.dtype and torch.equal(va, vb), key


def test_hand_computed_two_graphs():
    # graph 0: nodes types [1, 2], edge 0-1 of type 2; graph 1: one isolated node of type 3
    x = torch.tensor([1, 2, 3])
    edge_index = torch.tensor([[0, 1], [1, 0]])
    edge_attr = torch.tensor([2, 2])
    batch = torch.tensor([0, 0, 1])
    X, E, mask = to_dense(x, edge_index, edge_attr, batch)
    assert X.tolist() == [[1, 2], [3, 0]]
    assert mask.tolist() == [[True, True], [True, False]]
    assert E.tolist() == [[[0, 3], [3, 0]], [[0, 0], [0, 0]]]  # class t + 1, 0 = no edge
    Xo, Eo, _ = to_dense(x, edge_index, edge_attr, batch, num_node_classes=4, num_edge_classes=3)
    assert Xo[0, 1].tolist() == [0, 0, 1, 0] and Xo[1, 1].tolist() == [0, 0, 0, 0]
    assert Eo[0, 0, 1].tolist() == [0, 0, 0, 1] and Eo[0, 0, 0].tolist() == [1, 0, 0, 0]
    assert Eo[1, 1, 1].tolist() == [1, 0, 0, 0]
    _, A, _ = to_dense(None, edge_index, None, batch)
    assert A.dtype == torch.float32 and A.tolist() == [[[0, 1], [1, 0]], [[0, 0], [0, 0]]]
    graphs = from_dense(X, E, mask)
    assert graphs[0].x.tolist() == [1, 2] and graphs[0].edge_attr.tolist() == [2, 2]
    assert graphs[1].x.tolist() == [3] and graphs[1].edge_index.shape == (2, 0) and graphs[1].num_nodes == 1


@pytest.mark.parametrize("node_kind", NODE_KINDS)
@pytest.mark.parametrize("edge_kind", EDGE_KINDS)
@pytest.mark.parametrize("directed", [False, True])
def test_roundtrip_random_batches(node_kind, edge_kind, directed):
    seed = 100 * NODE_KINDS.index(node_kind) + 10 * EDGE_KINDS.index(edge_kind) + int(directed)
    gen = torch.Generator().manual_seed(seed)
    sizes = [5, 1, 0, 7, 3, 2] if node_kind != "none" else [5, 1, 7, 3, 2]
    graphs = [random_graph(n, p, node_kind, edge_kind, gen, directed)
              for n, p in zip(sizes, [0.4, 0.5, 0.3, 0.3, 0.0, 1.0])]
    assert any(g.edge_index.numel() == 0 for g in graphs)  # an empty edge set is in the batch
    batch = Batch.from_data_list(graphs)
    X, E, mask = to_dense(getattr(batch, "x", None), batch.edge_index, getattr(batch, "edge_attr", None),
                          batch.batch, max_num_nodes=9, batch_size=len(graphs),
                          num_node_classes=K if node_kind == "long_onehot" else None,
                          num_edge_classes=C if edge_kind == "long_onehot" else None)
    assert mask.shape == (len(graphs), 9) and mask.sum(1).tolist() == sizes
    assert E.shape[:3] == (len(graphs), 9, 9)
    if X is not None:
        assert (X[~mask] == 0).all()  # padding is zero
    back = from_dense(X, E, mask, node_one_hot=node_kind == "long_onehot", edge_one_hot=edge_kind == "long_onehot")
    assert len(back) == len(graphs)
    for original, restored in zip(graphs, back):
        assert_same_graph(original, restored)
    # the list helper gives the same tensors
    X2, E2, mask2 = to_dense_batch_list(graphs, 9, num_node_classes=K if node_kind == "long_onehot" else None,
                                        num_edge_classes=C if edge_kind == "long_onehot" else None)
    assert torch.equal(E, E2) and torch.equal(mask, mask2) and (X is None or torch.equal(X, X2))


def test_permutation_equivariance_and_edge_order():
    gen = torch.Generator().manual_seed(0)
    g = random_graph(6, 0.5, "long", "long", gen, directed=True)
    X, E, mask = to_dense(g.x, g.edge_index, g.edge_attr)
    # shuffled edge order: identical dense tensors
    order = torch.randperm(g.edge_index.size(1), generator=gen)
    Xs, Es, _ = to_dense(g.x, g.edge_index[:, order], g.edge_attr[order])
    assert torch.equal(X, Xs) and torch.equal(E, Es)
    # relabelled nodes (node i -> perm[i]): X_p[perm[i]] = X[i], E_p[perm[i], perm[j]] = E[i, j]
    perm = torch.randperm(6, generator=gen)
    x_p = torch.empty_like(g.x)
    x_p[perm] = g.x
    Xp, Ep, _ = to_dense(x_p, perm[g.edge_index], g.edge_attr)
    assert torch.equal(Xp[0, perm], X[0]) and torch.equal(Ep[0][perm][:, perm], E[0])
    # unsorted edges come back sorted, otherwise equal
    back = from_dense(X, E, mask)[0]
    assert torch.equal(back.edge_index, g.edge_index) and torch.equal(back.edge_attr, g.edge_attr)


def test_non_prefix_mask_and_padding_ignored():
    X = torch.tensor([[7, 1, 9, 2]])
    E = torch.zeros(1, 4, 4, dtype=torch.long)
    E[0, 1, 3] = E[0, 3, 1] = 2  # edge between the kept nodes 1 and 3 (type 1)
    E[0, 0, 1] = 3  # touches padded node 0: ignored
    mask = torch.tensor([[False, True, False, True]])
    (g,) = from_dense(X, E, mask)
    assert g.x.tolist() == [1, 2] and g.edge_index.tolist() == [[0, 1], [1, 0]] and g.edge_attr.tolist() == [1, 1]


def test_self_loops_on_diagonal():
    X, E, mask = to_dense(torch.tensor([0, 1]), torch.tensor([[0, 0, 1], [0, 1, 0]]))
    assert E[0].tolist() == [[1, 1], [1, 0]]
    assert from_dense(X, E, mask)[0].edge_index.tolist() == [[0, 0, 1], [0, 1, 0]]


def test_errors():
    x = torch.tensor([0, 1, 2])
    with pytest.raises(ValueError, match="duplicate edges"):
        to_dense(x, torch.tensor([[0, 0], [1, 1]]))
    with pytest.raises(ValueError, match="max_num_nodes"):
        to_dense(x, torch.empty(2, 0, dtype=torch.long), max_num_nodes=2)
    with pytest.raises(ValueError, match="different graphs"):
        to_dense(x, torch.tensor([[0], [2]]), batch=torch.tensor([0, 0, 1]))
    with pytest.raises(ValueError, match="sorted"):
        to_dense(x, torch.empty(2, 0, dtype=torch.long), batch=torch.tensor([1, 0, 1]))
    with pytest.raises(ValueError, match="num_node_classes"):
        to_dense(x, torch.empty(2, 0, dtype=torch.long), num_node_classes=2)
    with pytest.raises(ValueError, match="num_edge_classes"):
        to_dense(x, torch.tensor([[0], [1]]), torch.tensor([5]), num_edge_classes=3)
    with pytest.raises(ValueError, match="num_nodes"):
        to_dense(None, torch.empty(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="node_mask"):
        from_dense(None, torch.zeros(1, 2, 2), torch.ones(1, 2))
