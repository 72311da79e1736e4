"""Regression tests of issue 22 for graphgen.ops: a CSRGraph edited in place or rebuilt with dataclasses.replace is
refused before a kernel reads out of bounds (the probes run in a subprocess, where a segfault cannot take pytest
down), the from_edge_index cache misses after any in-place edit, scatter rejects float and out-of-range indices, and
every backend propagates NaN under max / min like the reference."""
from __future__ import annotations

import copy
import dataclasses
import gc
import json
import pickle
import subprocess
import sys
import weakref

import pytest
import torch

from graphgen import ops
from graphgen.errors import GraphgenError, InputError
from graphgen.ops import CSRGraph, InputTypeError

from .ops_cases import GRAPHS, fused_backends

BACKENDS = fused_backends()
# the NaN tests cover the backends whose kernels graphgen owns; torch_scatter's reductions are its own (and it is
# not installed in CI, so their NaN handling is not asserted here)
OWN_KERNELS = [p for p in BACKENDS if p.values[0] != "torch_scatter"]
NAN = float("nan")


# ------------------------------------------------------------------------------- segfault probes, in a subprocess
# Each probe builds the 3-node graph 0 -> 1, 1 -> 1, 2 -> 2 with x = [10, 20, 30], damages it the way a user could,
# then runs a kernel. Before the fix every one of them read out of bounds (SIGSEGV) or returned garbage silently.
_PROBE_SETUP = """
import dataclasses, json, sys
import torch
from graphgen import ops
from graphgen.errors import InputError
from graphgen.ops import CSRGraph

def fresh():
    return CSRGraph.from_edge_index(torch.tensor([[0, 1, 2], [1, 1, 2]]), 3)

x = torch.tensor([[10.0], [20.0], [30.0]])
"""

PROBES = {
    # in-place edits of the graph's own tensors
    "col_huge": "g = fresh(); g.col[0] = 10**9; ops.gather_scatter(x, g, backend='cpu')",
    "col_negative": "g = fresh(); g.col.fill_(-1); ops.gather_scatter(x, g, backend='cpu')",
    "indptr_huge": "g = fresh(); g.indptr[1] = 10**8; ops.gather_scatter(x, g, reduce='max', backend='cpu')",
    "perm_huge_softmax": "g = fresh(); g.perm[2] = 10**9; ops.segment_softmax(torch.ones(3), g, backend='cpu')",
    "t_pos_huge_attention": ("g = fresh(); g.t_pos.add_(10**9); q = torch.randn(3, 1, 2);"
                             "ops.edge_attention(q, q, q, g, backend='cpu')"),
    # edited between forward and backward: the backward walks the transposed arrays
    "t_col_between_forward_and_backward": (
        "g = fresh(); xg = x.clone().requires_grad_(); e = torch.zeros(3, 1, requires_grad=True);"
        "out = ops.gather_scatter(xg, g, edge_attr=e, message='add_relu', backend='cpu');"
        "g.t_col.fill_(10**9); out.sum().backward()"),
    # dataclasses.replace builds a new graph from arrays that no longer fit together
    "replace_col": "dataclasses.replace(fresh(), col=torch.tensor([0, 10**9, 2]))",
    "replace_indptr": "dataclasses.replace(fresh(), indptr=torch.tensor([0, 0, 10**8, 10**8]))",
    "replace_negative_col": "dataclasses.replace(fresh(), col=torch.tensor([-1, -1, -1]))",
    "replace_num_src_nodes": "dataclasses.replace(fresh(), num_src_nodes=1)",
}

# the field (or value) each probe's error must name
PROBE_NAMES = {"col_huge": "col", "col_negative": "col", "indptr_huge": "indptr", "perm_huge_softmax": "perm",
               "t_pos_huge_attention": "t_pos", "t_col_between_forward_and_backward": "t_col",
               "replace_col": "col[1] = 1000000000", "replace_indptr": "indptr", "replace_negative_col": "col[0] = -1",
               "replace_num_src_nodes": "t_indptr"}


def _probe_script() -> str:
    """Runs every probe in turn and prints one JSON line per probe before the next starts (so a crash shows which)."""
    lines = [_PROBE_SETUP]
    for name, code in PROBES.items():
        lines.append(f"""
try:
    {code}
    result = {{"probe": {name!r}, "outcome": "no error"}}
except InputError as err:
    result = {{"probe": {name!r}, "outcome": "InputError", "message": str(err)}}
except Exception as err:
    result = {{"probe": {name!r}, "outcome": type(err).__name__, "message": str(err)}}
print(json.dumps(result), flush=True)
""")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def probe_results() -> tuple[int, dict[str, dict]]:
    run = subprocess.run([sys.executable, "-c", _probe_script()], capture_output=True, text=True, timeout=600)
    results = {}
    for line in run.stdout.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            results[record["probe"]] = record
    return run.returncode, results, run.stderr[-2000:]


def test_probe_process_exits_cleanly(probe_results):
    returncode, results, stderr = probe_results
    assert returncode == 0, f"probe process ended with {returncode} (negative = killed by a signal): {stderr}"
    assert set(results) == set(PROBES)


@pytest.mark.parametrize("probe", list(PROBES))
def test_damaged_graph_is_refused_with_an_input_error(probe_results, probe):
    _, results, stderr = probe_results
    assert probe in results, f"the probe process died at {probe}: {stderr}"
    record = results[probe]
    assert record["outcome"] == "InputError", record
    assert PROBE_NAMES[probe] in record["message"], record


# ------------------------------------------------------------------------------------- CSRGraph, in process
def _graph() -> CSRGraph:
    return CSRGraph.from_edge_index(torch.tensor([[0, 1, 0, 2, 0], [2, 1, 2, 0, 2]]), 4, cache=False)


# field -> a replacement that breaks exactly one invariant (E = 5, N = 4), and the words the error must contain
BROKEN_FIELDS = {
    "col": (torch.tensor([2, 1, 0, 0, 4]), "col[4] = 4"),
    "row": (torch.tensor([0, 1, 2, 2, 1]), "row"),
    "perm": (torch.tensor([3, 1, 0, 2, 2]), "perm"),
    "pos": (torch.tensor([2, 1, 3, 4, 0]), "inverse pos"),
    "indptr": (torch.tensor([0, 1, 2, 5, 4]), "indptr"),
    "t_indptr": (torch.tensor([0, 3, 2, 5, 5]), "t_indptr decreases at 1"),
    "t_col": (torch.tensor([2, 2, 2, 1, 1]), "t_col"),
    "t_perm": (torch.tensor([0, 2, 4, 1, 1]), "t_"),
    "t_pos": (torch.tensor([2, 3, 4, 1, 5]), "t_pos[4] = 5"),
    "in_degree": (torch.tensor([1, 1, 3, 1]), "in_degree"),
    "edge_index": (torch.tensor([[0, 1, 0, 2, 0], [2, 1, 2, 0, 1]]), "row"),
}


@pytest.mark.parametrize("field", list(BROKEN_FIELDS))
def test_replace_with_a_broken_field_names_it(field):
    value, words = BROKEN_FIELDS[field]
    with pytest.raises(InputError, match=words.replace("[", r"\[").replace("]", r"\]")):
        dataclasses.replace(_graph(), **{field: value})


def test_replace_wrong_dtype_shape_and_count():
    graph = _graph()
    with pytest.raises(InputTypeError, match="col must be torch.long, got torch.int32"):
        dataclasses.replace(graph, col=graph.col.int())
    with pytest.raises(InputError, match=r"perm has shape \(4,\), expected \(5,\)"):
        dataclasses.replace(graph, perm=graph.perm[:4])
    with pytest.raises(InputError, match="num_dst_nodes must be an int >= 0, got -1"):
        dataclasses.replace(graph, num_dst_nodes=-1)


def test_valid_replace_and_copies_are_accepted_and_equal():
    graph = _graph()
    x = torch.randn(4, 3)
    expected = ops.gather_scatter(x, graph, backend="reference")
    for other in (dataclasses.replace(graph), copy.deepcopy(graph), pickle.loads(pickle.dumps(graph)),
                  graph.to("cpu")):
        torch.testing.assert_close(ops.gather_scatter(x, other, backend="cpu"), expected)


def test_graph_owns_contiguous_copies():
    graph = _graph()
    strided = torch.tensor([[2, 9, 1, 9, 0, 9, 0, 9, 0, 9]])[0, ::2]             # col, not contiguous
    rebuilt = dataclasses.replace(graph, col=strided)
    assert rebuilt.col.is_contiguous() and rebuilt.col.tolist() == graph.col.tolist()
    edge_index = torch.tensor([[0, 1], [1, 0]])
    built = CSRGraph.from_edge_index(edge_index, 2, cache=False)
    assert built.edge_index.data_ptr() != edge_index.data_ptr()       # editing the caller's tensor cannot reach it


@pytest.mark.parametrize("backend", ["reference"] + BACKENDS)
def test_in_place_edit_is_refused_by_every_backend(backend):
    graph = _graph()
    x = torch.randn(4, 2)
    graph.row.add_(0)                                           # even a no-op in-place op counts as an edit
    with pytest.raises(InputError, match="CSRGraph.row was modified in place"):
        ops.gather_scatter(x, graph, backend=backend)


def test_graph_built_in_inference_mode_is_checked_and_usable():
    with torch.inference_mode():
        edge_index = torch.tensor([[0, 1, 2], [1, 2, 0]])
        graph = CSRGraph.from_edge_index(edge_index, 3)
        assert CSRGraph.from_edge_index(edge_index, 3) is graph
        out = ops.gather_scatter(torch.arange(3.0).view(3, 1), graph, backend="cpu")
    assert out.flatten().tolist() == [2.0, 0.0, 1.0]
    graph.col[0] = 2
    with pytest.raises(InputError, match="CSRGraph.col was modified"):
        ops.gather_scatter(torch.zeros(3, 1), graph)


# --------------------------------------------------------------------------------------------- stale cache
def _edit_by_index(edge_index: torch.Tensor) -> None:
    edge_index[0, 1] = 2


def _edit_through_data(edge_index: torch.Tensor) -> None:
    edge_index.data[0, 1] = 2                                   # .data does not bump the version counter


def _edit_through_numpy(edge_index: torch.Tensor) -> None:
    edge_index.numpy()[0, 1] = 2                                # nor does a write through numpy


@pytest.mark.parametrize("edit", [_edit_by_index, _edit_through_data, _edit_through_numpy],
                         ids=["index", "data", "numpy"])
def test_cache_misses_after_in_place_edit(edit):
    # the reproducer: edges 1 -> 0 and 0 -> 1, then the second source becomes node 2
    x = torch.tensor([[10.0], [20.0], [30.0]])
    edge_index = torch.tensor([[1, 0], [0, 1]])
    graph = CSRGraph.from_edge_index(edge_index, 3)
    assert ops.gather_scatter(x, graph, backend="cpu").flatten().tolist() == [20.0, 10.0, 0.0]
    assert CSRGraph.from_edge_index(edge_index, 3) is graph                 # unchanged: a cache hit
    edit(edge_index)
    rebuilt = CSRGraph.from_edge_index(edge_index, 3)
    assert rebuilt is not graph
    assert ops.gather_scatter(x, rebuilt, backend="cpu").flatten().tolist() == [20.0, 30.0, 0.0]
    # the old graph kept its own copy and still describes the old edges
    assert ops.gather_scatter(x, graph, backend="reference").flatten().tolist() == [20.0, 10.0, 0.0]


def test_cache_does_not_keep_edge_index_alive():
    edge_index = torch.tensor([[0, 1], [1, 0]])
    CSRGraph.from_edge_index(edge_index, 2)
    alive = weakref.ref(edge_index)
    del edge_index
    gc.collect()
    assert alive() is None


def test_from_edge_index_errors_name_the_value():
    with pytest.raises(InputError, match=r"edge_index\[0, 1\] = -1 .*node ids start at 0"):
        CSRGraph.from_edge_index(torch.tensor([[0, -1], [1, 0]]), 2)
    with pytest.raises(InputError, match=r"edge_index\[1, 0\] = 7 .*pass the right num_nodes"):
        CSRGraph.from_edge_index(torch.tensor([[0, 1], [7, 0]]), 2)
    with pytest.raises(InputTypeError, match="edge_index must be an integer tensor, got torch.float32"):
        CSRGraph.from_edge_index(torch.tensor([[0.0, 1.0], [1.0, 0.0]]), 2)
    with pytest.raises(InputTypeError, match="num_nodes must be an integer, got 2.5"):
        CSRGraph.from_edge_index(torch.tensor([[0, 1], [1, 0]]), 2.5)
    with pytest.raises(InputError, match=r"num_nodes\[1\] \(destinations\) must be >= 0, got -3"):
        CSRGraph.from_edge_index(torch.tensor([[0], [0]]), (2, -3))


# ------------------------------------------------------------------------------------------ scatter / segment
@pytest.mark.parametrize("backend", ["reference"] + BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16], ids=["f32", "f64", "f16"])
def test_scatter_rejects_a_float_index(backend, dtype):
    # before the fix index.long() truncated [0.9, 1.7] to [0, 1]
    with pytest.raises(InputTypeError, match=f"index must be an integer tensor, got {dtype}"):
        ops.scatter(torch.ones(2, 3), torch.tensor([0.9, 1.7], dtype=dtype), 2, backend=backend)


@pytest.mark.parametrize("backend", ["reference"] + BACKENDS)
def test_scatter_rejects_out_of_range_indices(backend):
    src = torch.ones(4, 2)
    with pytest.raises(InputError, match=r"index\[2\] = -1 is outside \[0, dim_size = 3\); indices start at 0"):
        ops.scatter(src, torch.tensor([0, 2, -1, 1]), 3, backend=backend)
    with pytest.raises(InputError, match=r"index\[1\] = 5 is outside \[0, dim_size = 3\); pass dim_size > 5"):
        ops.scatter(src, torch.tensor([0, 5, 1, 1]), 3, backend=backend)
    with pytest.raises(InputError, match="dim_size must be >= 0, got -2"):
        ops.scatter(src, torch.tensor([0, 0, 0, 0]), -2, backend=backend)
    with pytest.raises(InputError, match=r"index\[0\] = -4"):         # no dim_size: the negative id still fails
        ops.scatter(src, torch.tensor([-4, 0, 0, 0]), backend=backend)


@pytest.mark.parametrize("backend", ["reference"] + BACKENDS)
def test_segment_rejects_bad_indptr(backend):
    src = torch.ones(3, 2)
    with pytest.raises(InputError, match=r"indptr decreases at 1 \(2 -> 1\)"):
        ops.segment(src, torch.tensor([0, 2, 1, 3]), backend=backend)
    with pytest.raises(InputTypeError, match="indptr must be an integer tensor"):
        ops.segment(src, torch.tensor([0.0, 3.0]), backend=backend)
    with pytest.raises(InputError, match=r"from 0 to src.size\(0\) = 3, got shape \(2,\) \(0 \.\. 2\)"):
        ops.segment(src, torch.tensor([0, 2]), backend=backend)


def test_bad_arguments_are_graphgen_errors_of_the_builtin_class():
    graph = _graph()
    with pytest.raises(ValueError) as info:
        ops.gather_scatter(torch.randn(4, 2), graph, reduce="prod")
    assert isinstance(info.value, GraphgenError)
    with pytest.raises(TypeError) as info:
        ops.gather_scatter(torch.randn(4, 2).long(), graph)
    assert isinstance(info.value, InputError) and "x must be a floating tensor" in str(info.value)
    with pytest.raises(InputTypeError, match="q, k, v must share a dtype"):
        q = torch.randn(4, 1, 2)
        ops.edge_attention(q, q.double(), q, graph, backend="cpu")


# --------------------------------------------------------------------------------------------------- NaN
def _nan_graph() -> tuple[CSRGraph, torch.Tensor]:
    # node 1 receives from 0, 1, 2 (a NaN in the middle); node 2 from 0 and 1 (the NaN last); node 3 from 3 only
    edge_index = torch.tensor([[0, 1, 2, 0, 1, 3], [1, 1, 1, 2, 2, 3]])
    x = torch.tensor([[1.0, -2.0], [NAN, 5.0], [3.0, NAN], [-1.0, 4.0]])
    return CSRGraph.from_edge_index(edge_index, 4), x


@pytest.mark.parametrize("backend", ["reference"] + OWN_KERNELS)
@pytest.mark.parametrize("reduce", ops.REDUCES)
def test_nan_propagates_like_the_reference(backend, reduce):
    graph, x = _nan_graph()
    out = ops.gather_scatter(x, graph, reduce=reduce, backend=backend)
    # hand-computed: rows 1 and 2 hold a NaN in column 0, row 1 also in column 1; row 0 is empty, row 3 one edge
    expected_nan = torch.tensor([[False, False], [True, True], [True, False], [False, False]])
    assert torch.equal(out.isnan(), expected_nan), out
    assert out[3].tolist() == [-1.0, 4.0] and out[0].tolist() == [0.0, 0.0]
    torch.testing.assert_close(out, ops.gather_scatter(x, graph, reduce=reduce, backend="reference"), equal_nan=True)


@pytest.mark.parametrize("backend", ["reference"] + OWN_KERNELS)
@pytest.mark.parametrize("reduce", ops.REDUCES)
def test_relu_message_keeps_nan(backend, reduce):
    graph, x = _nan_graph()
    e = torch.zeros(graph.num_edges, 2)
    out = ops.gather_scatter(x, graph, edge_attr=e, message="add_relu", reduce=reduce, backend=backend)
    ref = ops.gather_scatter(x, graph, edge_attr=e, message="add_relu", reduce=reduce, backend="reference")
    assert bool(out[1, 0].isnan()) and bool(out[2, 0].isnan())           # relu(NaN) = NaN, as torch.relu
    torch.testing.assert_close(out, ref, equal_nan=True)


@pytest.mark.parametrize("reduce", ["max", "min"])
@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
def test_cpu_nan_in_every_kernel_variant(monkeypatch, reduce, parallel):
    from graphgen.ops import _cpu

    monkeypatch.setattr(_cpu, "PARALLEL_MIN_WORK", 0 if parallel else 1 << 62)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        edge_index, n = GRAPHS["random"]
        graph = CSRGraph.from_edge_index(edge_index, n)
        x = torch.randn(n, 3, generator=torch.Generator().manual_seed(0))
        x[2, 1] = NAN
        w = torch.rand(edge_index.size(1))
        for kwargs in ({}, {"edge_weight": w, "message": "mul"}):
            out = ops.gather_scatter(x, graph, reduce=reduce, backend="cpu", **kwargs)
            ref = ops.gather_scatter(x, graph, reduce=reduce, backend="reference", **kwargs)
            torch.testing.assert_close(out, ref, equal_nan=True)
    finally:
        torch.set_num_threads(threads)
