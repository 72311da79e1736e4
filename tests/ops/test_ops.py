"""graphgen.ops: the reference backend against hand-computed and brute-force answers, every fused backend against
the reference (float32 and float64, forward and backward), gradcheck, and the argument errors."""
from __future__ import annotations

import math

import pytest
import torch

from graphgen import ops
from graphgen.ops import CSRGraph

from .ops_cases import GRAPHS, fused_backends

BACKENDS = fused_backends()


def _brute_force(x, edge_index, num_nodes, w, e, message, reduce):
    """Python loops over nodes and edges: an oracle independent of every backend."""
    out = torch.zeros((num_nodes,) + tuple(x.shape[1:]), dtype=x.dtype)
    for i in range(num_nodes):
        msgs = []
        for eid in range(edge_index.size(1)):
            j, dst = int(edge_index[0, eid]), int(edge_index[1, eid])
            if dst != i:
                continue
            if message == "copy":
                msgs.append(x[j])
            elif message == "mul":
                msgs.append(x[j] * w[eid].unsqueeze(-1))
            else:
                msgs.append(torch.relu(x[j] + e[eid]))
        if msgs:
            stack = torch.stack(msgs)
            out[i] = {"sum": stack.sum(0), "mean": stack.mean(0), "max": stack.amax(0), "min": stack.amin(0)}[reduce]
    return out


def _inputs(edge_index, num_nodes, dtype, heads=2, dim=3, seed=0, requires_grad=False):
    gen = torch.Generator().manual_seed(seed)
    num_edges = edge_index.size(1)
    x = torch.randn(num_nodes, heads, dim, generator=gen, dtype=dtype)
    w = torch.randn(num_edges, heads, generator=gen, dtype=dtype)
    e = torch.randn(num_edges, heads, dim, generator=gen, dtype=dtype)
    return [t.requires_grad_(requires_grad) for t in (x, w, e)]


def _edge_kwargs(message, w, e):
    return {"copy": {}, "mul": {"edge_weight": w}, "add_relu": {"edge_attr": e}}[message]


# ------------------------------------------------------------------------------------------ reference = ground truth
def test_hand_computed_path_graph():
    # 0 -> 1, 2 -> 1, 1 -> 2 on 4 nodes; x = [[1], [2], [4], [8]]
    graph = CSRGraph.from_edge_index(torch.tensor([[0, 2, 1], [1, 1, 2]]), 4)
    x = torch.tensor([[1.0], [2.0], [4.0], [8.0]])
    expected = {"sum": [0, 5, 2, 0], "mean": [0, 2.5, 2, 0], "max": [0, 4, 2, 0], "min": [0, 1, 2, 0]}
    for backend in ("reference", "cpu"):
        for reduce, values in expected.items():
            out = ops.gather_scatter(x, graph, reduce=reduce, backend=backend)
            assert out.tolist() == [[v] for v in values], (backend, reduce)
    w = torch.tensor([2.0, -1.0, 0.5])                 # edge order as given: 0->1, 2->1, 1->2
    out = ops.gather_scatter(x, graph, edge_weight=w, message="mul", backend="cpu")
    assert out.squeeze(1).tolist() == [0.0, 2.0 - 4.0, 1.0, 0.0]
    e = torch.tensor([[-3.0], [-5.0], [1.0]])
    out = ops.gather_scatter(x, graph, edge_attr=e, message="add_relu", reduce="max", backend="cpu")
    assert out.squeeze(1).tolist() == [0.0, 0.0, 3.0, 0.0]    # relu(1-3)=0, relu(4-5)=0 -> 0; relu(2+1)=3


@pytest.mark.parametrize("message", ops.MESSAGES)
@pytest.mark.parametrize("reduce", ops.REDUCES)
def test_reference_matches_brute_force(graph_case, message, reduce):
    edge_index, n = graph_case
    x, w, e = _inputs(edge_index, n, torch.float64)
    out = ops.gather_scatter(x, CSRGraph.from_edge_index(edge_index, n), **_edge_kwargs(message, w, e),
                             message=message, reduce=reduce, backend="reference")
    torch.testing.assert_close(out, _brute_force(x, edge_index, n, w, e, message, reduce))


# ------------------------------------------------------------------------------- fused backends equal to reference
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("message", ops.MESSAGES)
@pytest.mark.parametrize("reduce", ops.REDUCES)
def test_gather_scatter_matches_reference(graph_case, backend, dtype, message, reduce):
    edge_index, n = graph_case
    graph = CSRGraph.from_edge_index(edge_index, n)
    x, w, e = _inputs(edge_index, n, dtype, requires_grad=True)
    results = []
    for name in ("reference", backend):
        out = ops.gather_scatter(x, graph, **_edge_kwargs(message, w, e), message=message, reduce=reduce,
                                 backend=name)
        probe = torch.linspace(-1, 1, out.numel(), dtype=dtype).view_as(out)    # generic upstream gradient
        inputs = [x] + list(_edge_kwargs(message, w, e).values())
        grads = torch.autograd.grad((out * probe).sum(), inputs, allow_unused=True)
        results.append((out, *grads))
    for ref, got in zip(*results):
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6 if dtype == torch.float32 else 1e-12)


@pytest.mark.parametrize("backend", [p for p in BACKENDS if p.values[0] != "torch_scatter"])
@pytest.mark.parametrize("message", ops.MESSAGES)
@pytest.mark.parametrize("reduce", ops.REDUCES)
def test_gather_scatter_gradcheck(backend, message, reduce):
    edge_index, n = GRAPHS["loops_multi"]
    graph = CSRGraph.from_edge_index(edge_index, n)
    x, w, e = _inputs(edge_index, n, torch.float64, heads=2, dim=2, seed=3, requires_grad=True)
    kwargs = _edge_kwargs(message, w, e)
    names = list(kwargs)

    def fn(x, *edge):
        return ops.gather_scatter(x, graph, **dict(zip(names, edge)), message=message, reduce=reduce,
                                  backend=backend)

    # the Triton interpreter is slow: check random directions (fast_mode) instead of the full Jacobian
    assert torch.autograd.gradcheck(fn, (x, *kwargs.values()), fast_mode=backend == "triton")


@pytest.mark.parametrize("parallel,prefetch", [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize("message", ops.MESSAGES)
@pytest.mark.parametrize("reduce", ops.REDUCES)
def test_cpu_kernel_variants_match_reference(monkeypatch, message, reduce, parallel, prefetch):
    # CI runs one thread on small graphs, where the cpu backend always takes the serial kernels without software
    # prefetch: force the prange and the prefetching variants here
    from graphgen.ops import _cpu

    monkeypatch.setattr(_cpu, "PARALLEL_MIN_WORK", 0 if parallel else 1 << 62)
    monkeypatch.setattr(_cpu, "PREFETCH_MIN_WORK", 0 if prefetch else 1 << 62)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        edge_index, n = GRAPHS["loops_multi"]
        graph = CSRGraph.from_edge_index(edge_index, n)
        x, w, e = _inputs(edge_index, n, torch.float32, requires_grad=True)
        kwargs = _edge_kwargs(message, w, e)
        results = []
        for name in ("reference", "cpu"):
            out = ops.gather_scatter(x, graph, **kwargs, message=message, reduce=reduce, backend=name)
            grads = torch.autograd.grad((out * out.detach()).sum(), [x, *kwargs.values()])
            results.append((out, *grads))
        q, k, v = (torch.randn(n, 2, 4, requires_grad=True) for _ in range(3))
        for pos, name in enumerate(("reference", "cpu")):
            att = ops.edge_attention(q, k, v, graph, backend=name)
            results[pos] += (att, *torch.autograd.grad(att.square().sum(), [q, k, v]))
    finally:
        torch.set_num_threads(threads)
    assert len(results[1]) == 2 + len(kwargs) + 4
    for ref, got in zip(*results):
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("grad_of", ["x", "edge_attr"])
@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_add_relu_gradient_of_one_input(backend, grad_of, reduce):
    # the backward computes d/dx and d/de in separate passes, each only when asked for: ask for one at a time
    edge_index, n = GRAPHS["loops_multi"]
    graph = CSRGraph.from_edge_index(edge_index, n)
    x, _, e = _inputs(edge_index, n, torch.float64, seed=5)
    leaf = (x if grad_of == "x" else e).requires_grad_()
    grads = []
    for name in ("reference", backend):
        out = ops.gather_scatter(x, graph, edge_attr=e, message="add_relu", reduce=reduce, backend=name)
        grads.append(torch.autograd.grad((out * out.detach()).sum(), leaf)[0])
    assert grads[1].shape == leaf.shape
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-5, atol=1e-12)


def test_single_feature_layout_and_per_edge_scalar_weight():
    edge_index, n = GRAPHS["random"]
    graph = CSRGraph.from_edge_index(edge_index, n)
    x = torch.randn(n, 5)
    w = torch.rand(edge_index.size(1))
    out = ops.gather_scatter(x, graph, edge_weight=w, message="mul", reduce="mean", backend="cpu")
    assert out.shape == (n, 5)
    torch.testing.assert_close(out, ops.gather_scatter(x, graph, edge_weight=w, message="mul", reduce="mean",
                                                       backend="reference"))


def test_permutation_equivariance():
    edge_index, n = GRAPHS["random"]
    x = torch.randn(n, 4)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(1))
    inv = torch.argsort(perm)                               # new id of old node v is inv[v]
    out = ops.gather_scatter(x, CSRGraph.from_edge_index(edge_index, n), reduce="max", backend="cpu")
    out_p = ops.gather_scatter(x[perm], CSRGraph.from_edge_index(inv[edge_index], n), reduce="max", backend="cpu")
    torch.testing.assert_close(out_p, out[perm])


# -------------------------------------------------------------------------------------------- scatter and segment
@pytest.mark.parametrize("backend", ["reference"] + BACKENDS)
@pytest.mark.parametrize("reduce", ops.REDUCES)
def test_scatter_and_segment(backend, reduce):
    src = torch.tensor([[1.0, -1.0], [3.0, 5.0], [2.0, 0.0], [-4.0, 2.0]], dtype=torch.float64, requires_grad=True)
    index = torch.tensor([2, 0, 2, 2])
    expected = {"sum": [[3, 5], [0, 0], [-1, 1]], "mean": [[3, 5], [0, 0], [-1 / 3, 1 / 3]],
                "max": [[3, 5], [0, 0], [2, 2]], "min": [[3, 5], [0, 0], [-4, -1]]}[reduce]
    out = ops.scatter(src, index, 3, reduce, backend=backend)
    torch.testing.assert_close(out, torch.tensor(expected, dtype=torch.float64))
    assert torch.autograd.gradcheck(lambda s: ops.scatter(s, index, 3, reduce, backend=backend), (src,))
    # segment: rows already grouped as [1 | (empty) | 3 rows]
    grouped = src[[1, 0, 2, 3]]
    seg = ops.segment(grouped, torch.tensor([0, 1, 1, 4]), reduce, backend=backend)
    torch.testing.assert_close(seg, torch.tensor(expected, dtype=torch.float64))
    # 1-D input keeps its rank
    assert ops.scatter(src[:, 0], index, 3, reduce, backend=backend).shape == (3,)


# ------------------------------------------------------------------------------------ softmax and edge attention
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("with_bias", [False, True], ids=["nobias", "bias"])
def test_attention_matches_reference(graph_case, backend, dtype, with_bias):
    edge_index, n = graph_case
    graph = CSRGraph.from_edge_index(edge_index, n)
    gen = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(n, 2, 4, generator=gen, dtype=dtype).requires_grad_() for _ in range(3))
    bias = torch.randn(edge_index.size(1), 2, generator=gen, dtype=dtype).requires_grad_() if with_bias else None
    scores = torch.randn(edge_index.size(1), 2, generator=gen, dtype=dtype).requires_grad_()
    inputs = [q, k, v, scores] + ([bias] if with_bias else [])
    results = []
    for name in ("reference", backend):
        out = ops.edge_attention(q, k, v, graph, edge_bias=bias, backend=name)
        alpha = ops.segment_softmax(scores, graph, backend=name)
        loss = (out * torch.linspace(-1, 1, out.numel(), dtype=dtype).view_as(out)).sum() + \
            (alpha * torch.linspace(0, 2, alpha.numel(), dtype=dtype).view_as(alpha)).sum()
        results.append((out, alpha, *torch.autograd.grad(loss, inputs, allow_unused=True)))
    for ref, got in zip(*results):
        if ref is None:
            assert got is None or got.abs().max() == 0
            continue
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6 if dtype == torch.float32 else 1e-12)


def test_softmax_sums_to_one_and_hand_attention():
    graph = CSRGraph.from_edge_index(torch.tensor([[0, 2, 1], [1, 1, 2]]), 4)
    alpha = ops.segment_softmax(torch.tensor([0.0, math.log(3.0), 5.0]), graph, backend="cpu")
    torch.testing.assert_close(alpha, torch.tensor([0.25, 0.75, 1.0]))
    # one head, D = 1, q = 0: uniform weights over incoming edges -> out_i = mean of v_j; nodes 0 and 3 get 0
    q = torch.zeros(4, 1, 1)
    v = torch.tensor([1.0, 2.0, 4.0, 8.0]).view(4, 1, 1)
    out = ops.edge_attention(q, torch.randn(4, 1, 1), v, graph, backend="cpu")
    assert out.flatten().tolist() == [0.0, 2.5, 2.0, 0.0]


@pytest.mark.parametrize("backend", [p for p in BACKENDS if p.values[0] != "torch_scatter"])
def test_attention_gradcheck(backend):
    edge_index, n = GRAPHS["loops_multi"]
    graph = CSRGraph.from_edge_index(edge_index, n)
    gen = torch.Generator().manual_seed(4)
    q, k, v = (torch.randn(n, 2, 2, generator=gen, dtype=torch.float64).requires_grad_() for _ in range(3))
    bias = torch.randn(edge_index.size(1), 2, generator=gen, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda q, k, v, b: ops.edge_attention(q, k, v, graph, edge_bias=b, backend=backend), (q, k, v, bias),
        fast_mode=backend == "triton")
    assert torch.autograd.gradcheck(lambda s: ops.segment_softmax(s, graph, backend=backend), (bias,),
                                    fast_mode=backend == "triton")


# ---------------------------------------------------------------------------------------------- CSRGraph, backends
def test_csr_graph_layout_and_cache():
    edge_index = torch.tensor([[0, 1, 0, 2, 0], [2, 1, 2, 0, 2]])
    graph = CSRGraph.from_edge_index(edge_index, 4)
    assert graph.indptr.tolist() == [0, 1, 2, 5, 5]
    assert graph.col.tolist() == [2, 1, 0, 0, 0]
    assert graph.perm.tolist() == [3, 1, 0, 2, 4]          # stable: multi-edges keep their order
    assert graph.t_indptr.tolist() == [0, 3, 4, 5, 5]
    assert graph.t_col.tolist() == [2, 2, 2, 1, 0]
    assert graph.in_degree.tolist() == [1, 1, 3, 0]
    assert CSRGraph.from_edge_index(edge_index, 4) is graph
    assert CSRGraph.from_edge_index(edge_index.clone(), 4) is not graph
    assert repr(graph) == "CSRGraph(num_src_nodes=4, num_dst_nodes=4, num_edges=5, device=cpu)"
    edge_index[0, 0] = 3                                      # in-place edit invalidates the cached view
    assert CSRGraph.from_edge_index(edge_index, 4).col.tolist() == [2, 1, 3, 0, 0]


def test_bipartite_graph():
    edge_index = torch.tensor([[0, 4, 2], [1, 1, 0]])      # 5 sources, 2 destinations
    graph = CSRGraph.from_edge_index(edge_index, (5, 2))
    x = torch.arange(5.0).view(5, 1)
    assert ops.gather_scatter(x, graph, backend="cpu").flatten().tolist() == [2.0, 4.0]


def test_backend_selection(monkeypatch):
    assert ops.get_backend("cpu") == "cpu"
    with ops.use_backend("reference"):
        assert ops.get_backend("cpu") == "reference"
        assert ops.get_backend("cpu", "cpu") == "cpu"
    monkeypatch.setenv("GRAPHGEN_OPS_BACKEND", "reference")
    assert ops.get_backend("cpu") == "reference"
    with pytest.raises(ValueError, match="choose one of"):
        ops.get_backend("cpu", "cuda")
    assert "reference" in ops.available_backends()


def test_errors_name_the_fix():
    graph = CSRGraph.from_edge_index(torch.tensor([[0, 1], [1, 2]]), 3)
    x = torch.randn(3, 4)
    with pytest.raises(ValueError, match="needs edge_weight"):
        ops.gather_scatter(x, graph, message="mul")
    with pytest.raises(ValueError, match="edge_attr must be"):
        ops.gather_scatter(x, graph, edge_attr=torch.randn(2, 5), message="add_relu")
    with pytest.raises(ValueError, match="pass num_nodes"):
        ops.gather_scatter(torch.randn(5, 4), graph)
    with pytest.raises(ValueError, match="reduce='prod'"):
        ops.gather_scatter(x, graph, reduce="prod")
    with pytest.raises(ValueError, match="pass the right num_nodes"):
        CSRGraph.from_edge_index(torch.tensor([[0, 5], [1, 2]]), 3)
    with pytest.raises(ValueError, match=r"\.t\(\)"):
        CSRGraph.from_edge_index(torch.zeros(4, 2, dtype=torch.long), 3)
    with pytest.raises(TypeError, match="float32/float64"):
        ops.gather_scatter(x.half(), graph, backend="cpu")
