"""PE/SE transforms against hand-computed values, permutation properties and batching."""
from __future__ import annotations

import math

import pytest
import torch
from torch_geometric.data import Batch, Data

from graphgen.data.transforms import AddLapPE, AddRRWP, AddRWSE, apply_many, random_walk_matrix
from graphgen.errors import InputError


def undirected(edges: list[tuple[int, int]], n: int) -> Data:
    ei = torch.tensor(edges, dtype=torch.long).t()
    ei = torch.cat([ei, ei.flip(0)], 1) if ei.numel() else torch.zeros(2, 0, dtype=torch.long)
    return Data(edge_index=ei, num_nodes=n)


def cycle(n: int) -> Data:
    return undirected([(i, (i + 1) % n) for i in range(n)], n)


def path(n: int) -> Data:
    return undirected([(i, i + 1) for i in range(n - 1)], n)


def permute(data: Data, perm: torch.Tensor) -> Data:
    """Node ``perm[k]`` of ``data`` becomes node ``k``."""
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(perm.numel())
    return Data(edge_index=inv[data.edge_index], num_nodes=data.num_nodes)


def test_rwse_hand_computed_cycle_and_path():
    # 4-cycle: return probabilities 0, 1/2, 0, 1/2 (2 of the 4 length-2 walks and 8 of the 16 length-4 walks return;
    # closed 4-walks = trace(A^4) / 4 = (2^4 + (-2)^4) / 4 = 8)
    rw = AddRWSE(4)(cycle(4)).rwse
    assert rw.shape == (4, 4)
    torch.testing.assert_close(rw, torch.tensor([[0.0, 0.5, 0.0, 0.5]]).expand(4, 4))
    # single edge: the walk alternates, returns at even steps with probability 1
    torch.testing.assert_close(AddRWSE(3)(path(2)).rwse, torch.tensor([[0.0, 1.0, 0.0]] * 2))


def test_rwse_isolated_node_is_zero_and_repr():
    data = undirected([(0, 1)], 3)
    rw = AddRWSE(2)(data).rwse
    torch.testing.assert_close(rw[2], torch.zeros(2))
    assert repr(AddRWSE(20)) == "AddRWSE(steps=20)"


def test_random_walk_matrix_rows_sum_to_one():
    m = random_walk_matrix(path(4).edge_index, 4)
    torch.testing.assert_close(m.sum(1), torch.ones(4, dtype=torch.float64))


def test_lappe_path3_hand_computed_and_padding():
    # normalised Laplacian of P3 has eigenvalues 0, 1, 2; the non-trivial ones are 1 (u = (1, 0, -1)/sqrt 2) and 2
    data = AddLapPE(3)(path(3))
    assert data.lap_eigvec.shape == (3, 3) and data.lap_eigval.shape == (3, 3)
    torch.testing.assert_close(data.lap_eigval[:, :2], torch.tensor([[1.0, 2.0]] * 3), atol=1e-6, rtol=0)
    u = data.lap_eigvec[:, 0]
    torch.testing.assert_close(u.abs(), torch.tensor([1, 0, 1]) / math.sqrt(2), atol=1e-6, rtol=0)
    assert u[0] * u[2] < 0
    # only 2 non-trivial eigenpairs: the third column is NaN padding
    assert torch.isnan(data.lap_eigvec[:, 2]).all() and torch.isnan(data.lap_eigval[:, 2]).all()


def test_lappe_eigen_equation_and_permutation_equivariance():
    g = torch.Generator().manual_seed(0)
    a = (torch.rand(7, 7, generator=g) < 0.5).triu(1)
    data = Data(edge_index=(a | a.t()).nonzero().t(), num_nodes=7)
    out = AddLapPE(3)(data.clone())
    adj = torch.zeros(7, 7)
    adj[data.edge_index[0], data.edge_index[1]] = 1
    d = adj.sum(1).clamp(min=1e-12).rsqrt() * (adj.sum(1) > 0)
    lap = torch.eye(7) - d[:, None] * adj * d[None, :]
    for m in range(3):
        u, lam = out.lap_eigvec[:, m], out.lap_eigval[0, m]
        torch.testing.assert_close(lap @ u, lam * u, atol=1e-5, rtol=0)
        torch.testing.assert_close(u.norm(), torch.tensor(1.0), atol=1e-5, rtol=0)
    perm = torch.randperm(7, generator=g)
    pout = AddLapPE(3)(permute(data, perm))
    torch.testing.assert_close(pout.lap_eigval, out.lap_eigval[perm], atol=1e-5, rtol=0)


@pytest.mark.parametrize("full", [True, False])
def test_rrwp_values_pairs_and_batching(full):
    data = AddRRWP(4, full=full)(path(3))
    m = random_walk_matrix(path(3).edge_index, 3)
    src, dst = data.rrwp_index
    expected_pairs = 9 if full else 3 + 4                   # all pairs / self loops + 4 directed edges
    assert data.rrwp_index.shape == (2, expected_pairs) and data.rrwp_val.shape == (expected_pairs, 4)
    for k in range(4):
        mk = torch.linalg.matrix_power(m, k).float()
        torch.testing.assert_close(data.rrwp_val[:, k], mk[src, dst])
        torch.testing.assert_close(data.rrwp[:, k], torch.diagonal(mk))
    assert torch.all(dst[1:] >= dst[:-1])                   # sorted by destination
    batch = Batch.from_data_list([data, AddRRWP(4, full=full)(path(3))])
    assert int(batch.rrwp_index.max()) == 5                 # offset like edge_index


@pytest.mark.parametrize("transform", [AddRWSE(5), AddRRWP(4), AddRRWP(4, full=False)], ids=repr)
def test_apply_many_equals_per_graph(transform):
    g = torch.Generator().manual_seed(1)
    graphs = []
    for n in [1, 2, 5, 9, 4]:
        a = (torch.rand(n, n, generator=g) < 0.4).triu(1)
        graphs.append(Data(edge_index=(a | a.t()).nonzero().t(), num_nodes=n))
    one = [transform(d.clone()) for d in graphs]
    many = apply_many(transform, [d.clone() for d in graphs], chunk=2)
    for x, y in zip(one, many):
        for key in ("rwse", "rrwp", "rrwp_index", "rrwp_val"):
            if key in x:
                assert torch.equal(x[key], y[key]) if not x[key].is_floating_point() else \
                    torch.allclose(x[key], y[key], atol=1e-6)


def test_bad_arguments_name_the_fix():
    with pytest.raises(ValueError, match="k must be"):
        AddLapPE(0)
    with pytest.raises(ValueError, match="steps"):
        AddRWSE(0)


# issue 22: torch indexing wrapped a negative edge id onto the last node (edge 0 -> -1 became 0 -> 2 on 3 nodes), so the
# encodings were silently those of another graph; a too large id was a bare IndexError naming no field
TRANSFORMS = [AddLapPE(2), AddRWSE(3), AddRRWP(3), AddRRWP(3, full=False)]


@pytest.mark.parametrize("transform", TRANSFORMS, ids=repr)
@pytest.mark.parametrize("edges, words", [
    ([[0, 1], [-1, 0]], r"edge_index\[1, 0\] = -1 is not a node id in \[0, num_nodes = 3\)"),
    ([[0, 3], [1, 0]], r"edge_index\[0, 1\] = 3 is not a node id in \[0, num_nodes = 3\)"),
], ids=["negative", "too_large"])
def test_out_of_range_edge_ids_are_rejected(transform, edges, words):
    with pytest.raises(InputError, match=words):
        transform(Data(edge_index=torch.tensor(edges), num_nodes=3))


@pytest.mark.parametrize("transform", TRANSFORMS, ids=repr)
def test_malformed_edge_index_names_the_field(transform):
    with pytest.raises(InputError, match="edge_index must hold integer node ids, got torch.float32"):
        transform(Data(edge_index=torch.tensor([[0.0, 1.0], [1.0, 0.0]]), num_nodes=2))
    with pytest.raises(InputError, match=r"edge_index must be \[2, E\], got shape \(4,\)"):
        transform(Data(edge_index=torch.tensor([0, 1, 1, 0]), num_nodes=2))
    with pytest.raises(InputError, match="num_nodes = -2 is negative"):
        transform(Data(edge_index=torch.zeros(2, 0, dtype=torch.long), num_nodes=-2))


@pytest.mark.parametrize("transform", TRANSFORMS, ids=repr)
def test_apply_many_names_the_bad_graph(transform):
    graphs = [path(3), path(2), Data(edge_index=torch.tensor([[0], [-1]]), num_nodes=2)]
    with pytest.raises(InputError, match=r"apply_many: graph 2 .*edge_index\[1, 0\] = -1"):
        apply_many(transform, graphs, chunk=2)


def test_random_walk_matrix_rejects_negative_ids():
    with pytest.raises(InputError, match=r"random_walk_matrix: data.edge_index\[0, 0\] = -3"):
        random_walk_matrix(torch.tensor([[-3], [0]]), 3)
