"""Hypothesis fuzzing of the public entry points of graphgen.ops and of the PE transforms (issue 22).

Property of every case: the call returns the right result, or raises a :class:`graphgen.errors.GraphgenError` whose
one-line message names the defect the case carries. "Right" is checked against an oracle independent of the code
under test (Python loops over edges in float64 for the reductions, Python sorting for the CSR arrays, numpy for the
encodings) or, for the softmax-based ops, the reference backend (plain torch); NaN and infinities must come out
exactly where the oracle has them. Any other exception, a missing error or a wrong value fails the case.

Inputs are small (up to 7 nodes, 14 edges) so that a case takes about a millisecond. Hypothesis draws the structure
of a case (sizes, dtypes, which defect, where NaN / +-inf / -0.0 go) and one seed from which torch draws the edge
ids and the values: each Hypothesis draw costs tens of microseconds, more than a small op, so the bulk content is not
drawn element by element. Values are multiples of 1/8 below 64 in magnitude, whose sums are exact in float32, so the
comparison tolerance only absorbs the rounding of a mean or an exp. CI runs ``CI_EXAMPLES`` cases per test
(derandomised: every run draws the same cases); ``-m slow`` runs ``SLOW_EXAMPLES``.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from torch_geometric.data import Data

from graphgen import ops
from graphgen.data.transforms import AddLapPE, AddRRWP, AddRWSE, apply_many
from graphgen.ops import CSRGraph

from ..fuzz import expect_error, expect_result, run_case
from .ops_cases import fused_backends

CI_EXAMPLES = 2000
TRITON_EXAMPLES = 200           # the Triton interpreter runs every program in Python: fewer cases
SLOW_EXAMPLES = 20000
NAN, INF = float("nan"), float("inf")
SPECIALS = (NAN, INF, -INF, -0.0)
FLOATS = (torch.float32, torch.float64)
# mostly the dtypes every backend runs; half precision and an integer dtype exercise the dtype errors
FEATURE_DTYPES = (torch.float32, torch.float32, torch.float64, torch.float64, torch.float16, torch.bfloat16,
                  torch.int64)
MAX_NODES, MAX_EDGES = 7, 14


def _settings(examples: int):
    # no example database and no explain phase: a passing run writes nothing into the checkout
    return settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                    phases=[Phase.explicit, Phase.generate, Phase.shrink],
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _triton_available() -> bool:
    triton = [p for p in fused_backends() if p.values[0] == "triton"][0]
    return not any(mark.args and mark.args[0] for mark in triton.marks)


# ------------------------------------------------------------------------------------------------ outcome checking
# rounding allowed per unit of magnitude: a few units in the last place of each dtype
TOLERANCE = {torch.float16: 4e-3, torch.bfloat16: 3e-2, torch.float32: 1e-6, torch.float64: 1e-12}


def _assert_matches(got: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype, case: str,
                    magnitude: torch.Tensor | None = None) -> None:
    """Same shape and dtype, NaN exactly where ``expected`` has NaN, the same infinities, and finite values within
    rounding: ``|got - expected| <= tol * (|expected| + magnitude + 1)``, ``magnitude`` being the sum of the absolute
    terms a sum was accumulated from (cancellation makes the rounding of a half-precision sum relative to it)."""
    assert got.shape == expected.shape and got.dtype == dtype, f"{case}: {got.shape}/{got.dtype} vs {expected.shape}"
    got, expected = got.double(), expected.double()
    nan = expected.isnan()
    assert torch.equal(got.isnan(), nan), f"silent wrong result for {case}: NaN at {got.isnan().nonzero().tolist()}, " \
        f"expected at {nan.nonzero().tolist()}"
    inf = expected.isinf()
    assert torch.equal(got[inf], expected[inf]), f"silent wrong result for {case}: {got[inf]} for {expected[inf]}"
    finite = ~(nan | inf)
    scale = expected.abs() + (0.0 if magnitude is None else magnitude.double().abs()) + 1.0
    error = (got - expected).abs()
    assert bool((error[finite] <= TOLERANCE[dtype] * scale[finite]).all()), \
        f"silent wrong result for {case}: got {got.tolist()}, expected {expected.tolist()}"


# ------------------------------------------------------------------------------------------------ drawing a case
# Strategies are built once, here: building one inside a composite on every draw is slower. A bounded choice is an
# integer reduced modulo the number of options, so it shrinks towards the first option.
_NUMBER = st.integers(0, 1 << 16)
_SEED = st.integers(0, 2 ** 31 - 1)
_SPECIALS = st.lists(st.tuples(_NUMBER, _NUMBER, st.sampled_from(SPECIALS)), max_size=3)
_BOOL = st.booleans()


def _pick(draw, options):
    """One of ``options`` (a sequence)."""
    return options[draw(_NUMBER) % len(options)]


def _below(draw, upper: int) -> int:
    """An integer in ``[0, upper)``."""
    return draw(_NUMBER) % upper


def _between(draw, low: int, high: int) -> int:
    """An integer in ``[low, high]``."""
    return low + _below(draw, high - low + 1)


def _source(draw) -> torch.Generator:
    """The torch generator of one case's bulk content."""
    return torch.Generator().manual_seed(draw(_SEED))


def _values(gen: torch.Generator, shape: tuple[int, ...], scale: float = 1.0) -> torch.Tensor:
    """float64 multiples of ``scale / 8`` in ``(-64 scale, 64 scale)``."""
    return torch.randint(-511, 512, shape, generator=gen).double() * (scale / 8)


def _plant_specials(draw, tensors: list[torch.Tensor]) -> None:
    """Set up to 3 drawn entries of the (non-empty) tensors to NaN, +-inf or -0.0, in place."""
    targets = [t for t in tensors if t is not None and t.numel()]
    for which, at, special in draw(_SPECIALS) if targets else ():
        target = targets[which % len(targets)]
        target.view(-1)[at % target.numel()] = special


def _edge_index(draw, gen: torch.Generator, num_src: int, num_dst: int) -> torch.Tensor:
    """``[2, E]`` long tensor of valid ids, E drawn (no edges when a side has no nodes)."""
    num_edges = _below(draw, MAX_EDGES + 1) if num_src and num_dst else 0
    src = torch.randint(0, max(num_src, 1), (num_edges,), generator=gen)
    dst = torch.randint(0, max(num_dst, 1), (num_edges,), generator=gen)
    return torch.stack([src, dst])


def _node_counts(draw) -> tuple[int, int]:
    """``(N_src, N_dst)``: an ordinary graph (equal counts) or, one time in three, a bipartite one."""
    num_src = _below(draw, MAX_NODES + 1)
    return num_src, (_below(draw, MAX_NODES + 1) if _below(draw, 3) == 0 else num_src)


def _dtype_words(dtype: torch.dtype, backend: str) -> list[str]:
    """What an error about ``dtype`` on ``backend`` must say (nothing when the backend supports it)."""
    if not dtype.is_floating_point:
        return ["must be a floating tensor"]
    if backend == "cpu" and dtype not in FLOATS:
        return ["float32/float64"]
    if backend == "triton" and dtype == torch.bfloat16 and not torch.cuda.is_available():
        return ["cannot run bfloat16 under TRITON_INTERPRET=1"]
    return []


# ------------------------------------------------------------------------------------------------ oracles
def _bucket_reduce(rows: list[torch.Tensor], reduce: str, trailing: tuple[int, ...]) -> torch.Tensor:
    """torch's semantics, by hand: 0 for no rows; sum / mean / amax / amin (NaN-propagating) of the stacked rows."""
    if not rows:
        return torch.zeros(trailing, dtype=torch.float64)
    stack = torch.stack(rows)
    return {"sum": stack.sum(0), "mean": stack.sum(0) / len(rows), "max": stack.amax(0),
            "min": stack.amin(0)}[reduce]


def _stack_rows(rows: list[list[torch.Tensor]], reduce: str,
                trailing: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(result, magnitude)``: the reduction of every bucket, and the same reduction of the absolute terms for a
    sum or mean (0 for max / min, which do not accumulate)."""
    def reduce_all(kind: str, absolute: bool) -> torch.Tensor:
        out = [_bucket_reduce([t.abs() for t in r] if absolute else r, kind, trailing) for r in rows]
        return torch.stack(out) if out else torch.zeros((0,) + trailing, dtype=torch.float64)

    result = reduce_all(reduce, False)
    return result, (reduce_all(reduce, True) if reduce in ("sum", "mean") else torch.zeros_like(result))


def _oracle_scatter(src: torch.Tensor, index: list[int], dim_size: int, reduce: str):
    src64 = src.double()
    rows = [[] for _ in range(dim_size)]
    for row, bucket in enumerate(index):
        rows[bucket].append(src64[row])
    return _stack_rows(rows, reduce, tuple(src.shape[1:]))


def _oracle_gather_scatter(x, edge_index, num_dst, w, e, message, reduce):
    x64 = x.double()
    rows = [[] for _ in range(num_dst)]
    for eid, (j, i) in enumerate(edge_index.t().tolist()):
        if message == "copy":
            rows[i].append(x64[j])
        elif message == "mul":                               # w [E] or [E, H] against x_j [F] or [H, D]
            rows[i].append(x64[j] * w.double()[eid].view((-1,) + (1,) * (x.dim() - 2)))
        else:
            rows[i].append(torch.relu(x64[j] + e.double()[eid]))
    return _stack_rows(rows, reduce, tuple(x.shape[1:]))


def _oracle_csr(edge_index: torch.Tensor, num_src: int, num_dst: int) -> dict[str, list]:
    """The CSR arrays by Python sorting: stable by destination (and by source for the transpose)."""
    src, dst = edge_index.long().tolist()
    by_dst = sorted(range(len(src)), key=lambda eid: dst[eid])
    by_src = sorted(range(len(src)), key=lambda eid: src[eid])
    pos = [0] * len(src)
    for p, eid in enumerate(by_dst):
        pos[eid] = p
    return {"perm": by_dst, "col": [src[e] for e in by_dst], "row": [dst[e] for e in by_dst],
            "indptr": [sum(1 for d in dst if d < i) for i in range(num_dst + 1)],
            "t_perm": by_src, "t_col": [dst[e] for e in by_src], "t_pos": [pos[e] for e in by_src], "pos": pos,
            "t_indptr": [sum(1 for s in src if s < j) for j in range(num_src + 1)],
            "in_degree": [dst.count(i) for i in range(num_dst)]}


# ------------------------------------------------------------------------------------------------ scatter
@st.composite
def scatter_cases(draw, backends: tuple[str, ...]):
    backend, reduce, dtype = _pick(draw, backends), _pick(draw, ops.REDUCES), _pick(draw, FEATURE_DTYPES)
    gen = _source(draw)
    num_rows = _below(draw, MAX_EDGES + 1)
    trailing = _pick(draw, [(), (1,), (3,), (2, 2), (0,)])
    dim_size = _below(draw, 7)
    index = torch.randint(0, max(dim_size, 1), (num_rows,), generator=gen).tolist()
    defect = _pick(draw, [None] * 6 + ["float_index", "negative_index", "index_too_large", "negative_dim_size",
                                       "length_mismatch", "no_dim_size"])
    words: list[str] = []
    index_dtype = torch.long
    if defect == "float_index":
        index_dtype = _pick(draw, [torch.float32, torch.float64, torch.bool])
        words = ["index must be an integer tensor"]
    elif defect == "negative_index" and num_rows:
        index[_below(draw, num_rows)] = _between(draw, -5, -1)
    elif defect == "index_too_large" and num_rows:
        index[_below(draw, num_rows)] = dim_size + _below(draw, 4)
    elif defect == "negative_dim_size":
        dim_size = -_between(draw, 1, 3)
        words = ["dim_size must be >= 0"]
    elif defect == "length_mismatch":
        index = index + [0]
        words = ["index must be [E]"]
    dim_size_arg = None if defect == "no_dim_size" else dim_size
    if defect == "no_dim_size":
        dim_size = max(max(index, default=-1) + 1, 0)
    bad = [p for p, i in enumerate(index) if i < 0 or i >= dim_size]
    if bad and dim_size >= 0 and defect != "length_mismatch":            # the first id out of range is named
        words = words + [f"index[{bad[0]}] = {index[bad[0]]} is outside [0, dim_size = {dim_size})"]
    src = _values(gen, (num_rows,) + trailing)
    _plant_specials(draw, [src])
    return backend, reduce, dtype, src.to(dtype), index, index_dtype, dim_size_arg, dim_size, \
        words + _dtype_words(dtype, backend)


def _check_scatter(case) -> None:
    backend, reduce, dtype, src, index, index_dtype, dim_size_arg, dim_size, words = case
    index_t = torch.tensor(index, dtype=torch.long).to(index_dtype)
    label = f"scatter(src {tuple(src.shape)} {dtype}, index {index}, {dim_size_arg}, {reduce!r}, backend={backend})"
    out, err = run_case(lambda: ops.scatter(src, index_t, dim_size_arg, reduce, backend=backend))
    if words:
        expect_error(err, words, label)
        return
    expect_result(err, label)
    expected, magnitude = _oracle_scatter(src, index, dim_size, reduce)
    _assert_matches(out, expected, dtype, label, magnitude)


@_settings(CI_EXAMPLES)
@given(scatter_cases(("reference", "cpu")))
def test_fuzz_scatter(case):
    _check_scatter(case)


# ------------------------------------------------------------------------------------------------ segment
@st.composite
def segment_cases(draw, backends: tuple[str, ...]):
    backend, reduce, dtype = _pick(draw, backends), _pick(draw, ops.REDUCES), _pick(draw, FEATURE_DTYPES)
    gen = _source(draw)
    counts = torch.randint(0, 5, (_below(draw, 7),), generator=gen).tolist()
    trailing = _pick(draw, [(), (2,), (1, 3)])
    indptr = [0] + np.cumsum(counts).tolist()
    defect = _pick(draw, [None] * 5 + ["decreasing", "wrong_end", "float_indptr", "empty_indptr"])
    words: list[str] = []
    indptr_dtype = torch.long
    if defect == "decreasing" and len(indptr) >= 3:
        at = _between(draw, 1, len(indptr) - 2)
        indptr[at] = indptr[at + 1] + _between(draw, 1, 3)
        words = [f"indptr decreases at {at}"]
    elif defect == "wrong_end":
        indptr[-1] += _pick(draw, [-1, 1, 2])
        words = ["from 0 to src.size(0)"]
    elif defect == "float_indptr":
        indptr_dtype = torch.float32
        words = ["indptr must be an integer tensor"]
    elif defect == "empty_indptr":
        indptr = []
        words = ["indptr must be [N + 1]"]
    src = _values(gen, (sum(counts),) + trailing)
    _plant_specials(draw, [src])
    return backend, reduce, dtype, src.to(dtype), indptr, indptr_dtype, counts, words + _dtype_words(dtype, backend)


def _check_segment(case) -> None:
    backend, reduce, dtype, src, indptr, indptr_dtype, counts, words = case
    indptr_t = torch.tensor(indptr, dtype=torch.long).to(indptr_dtype)
    label = f"segment(src {tuple(src.shape)} {dtype}, indptr {indptr}, {reduce!r}, backend={backend})"
    out, err = run_case(lambda: ops.segment(src, indptr_t, reduce, backend=backend))
    if words:
        expect_error(err, words, label)
        return
    expect_result(err, label)
    index = [b for b, c in enumerate(counts) for _ in range(c)]
    expected, magnitude = _oracle_scatter(src, index, len(counts), reduce)
    _assert_matches(out, expected, dtype, label, magnitude)


@_settings(CI_EXAMPLES)
@given(segment_cases(("reference", "cpu")))
def test_fuzz_segment(case):
    _check_segment(case)


# ------------------------------------------------------------------------------------------------ gather_scatter
@st.composite
def gather_scatter_cases(draw, backends: tuple[str, ...]):
    backend, reduce, dtype = _pick(draw, backends), _pick(draw, ops.REDUCES), _pick(draw, FEATURE_DTYPES)
    message = _pick(draw, ops.MESSAGES)
    gen = _source(draw)
    num_src, num_dst = _node_counts(draw)
    edge_index = _edge_index(draw, gen, num_src, num_dst)
    num_edges = edge_index.size(1)
    heads, dim = _between(draw, 1, 2), _below(draw, 4)
    x_shape = (num_src, heads, dim) if heads > 1 or draw(_BOOL) else (num_src, dim)
    per_head_weight = len(x_shape) == 3 and draw(_BOOL)
    w = _values(gen, (num_edges, heads) if per_head_weight else (num_edges,))
    e = _values(gen, (num_edges,) + x_shape[1:])
    defect = _pick(draw, [None] * 8 + ["x_rows", "missing_edge_tensor", "edge_tensor_shape", "edited_graph",
                                       "x_rank"])
    words: list[str] = []
    if defect == "x_rows":
        x_shape = (num_src + _between(draw, 1, 2),) + x_shape[1:]
        words = ["pass num_nodes"]
    elif defect == "x_rank":
        x_shape = (num_src,) if draw(_BOOL) else x_shape + (1, 1)[: 4 - len(x_shape)]
        words = ["x must be [N, F] or [N, H, D]"]
    elif defect == "missing_edge_tensor" and message != "copy":
        words = [f"message='{message}' needs"]
    elif defect == "edge_tensor_shape" and message != "copy":
        w = torch.cat([w, torch.zeros((1,) + w.shape[1:], dtype=w.dtype)])          # one row too many
        e = torch.cat([e, torch.zeros((1,) + e.shape[1:], dtype=e.dtype)])
        words = ["edge_weight must be", "edge_attr must be"]
    elif defect == "edited_graph":
        words = ["was modified in place"]
    else:
        defect = None                                        # the drawn defect does not apply to this case
    x = _values(gen, x_shape)
    _plant_specials(draw, [x, w, e])
    kwargs = {"copy": {}, "mul": {"edge_weight": w.to(dtype)},
              "add_relu": {"edge_attr": e.to(dtype)}}[message] if defect != "missing_edge_tensor" else {}
    return backend, message, reduce, dtype, x.to(dtype), edge_index, (num_src, num_dst), kwargs, defect, \
        words + _dtype_words(dtype, backend)


def _check_gather_scatter(case) -> None:
    backend, message, reduce, dtype, x, edge_index, sizes, kwargs, defect, words = case
    graph = CSRGraph.from_edge_index(edge_index, sizes, cache=False)
    if defect == "edited_graph":
        graph.perm.add_(0)                                  # an in-place op, even one that keeps the values
    label = (f"gather_scatter(x {tuple(x.shape)} {dtype}, edges {edge_index.tolist()}, sizes {sizes}, "
             f"{message}/{reduce}, {sorted(kwargs)}, backend={backend}, defect={defect})")
    out, err = run_case(lambda: ops.gather_scatter(x, graph, message=message, reduce=reduce, backend=backend, **kwargs))
    if words:
        expect_error(err, words, label)
        return
    expect_result(err, label)
    expected, magnitude = _oracle_gather_scatter(x, edge_index, sizes[1], kwargs.get("edge_weight"),
                                                 kwargs.get("edge_attr"), message, reduce)
    _assert_matches(out, expected, dtype, label, magnitude)


@_settings(CI_EXAMPLES)
@given(gather_scatter_cases(("reference", "cpu")))
def test_fuzz_gather_scatter(case):
    _check_gather_scatter(case)


# ------------------------------------------------------------------------------------------------ softmax, attention
@st.composite
def attention_cases(draw, backends: tuple[str, ...]):
    backend = _pick(draw, backends)
    dtype = _pick(draw, [torch.float32, torch.float64, torch.float64, torch.int32])
    gen = _source(draw)
    num_src, num_dst = _node_counts(draw)
    edge_index = _edge_index(draw, gen, num_src, num_dst)
    num_edges = edge_index.size(1)
    heads, dim = _between(draw, 1, 2), _between(draw, 1, 3)
    # q, k, bias, scores in (-2, 2): score gaps stay below 20, so no attention weight underflows. (Where one does,
    # 0 * inf = NaN meets denormal * inf = inf: exp implementations legitimately differ there by one denormal ulp.)
    q, k = (_values(gen, (n, heads, dim), 1 / 32) for n in (num_dst, num_src))
    v = _values(gen, (num_src, heads, dim), 1 / 8)
    bias = _values(gen, (num_edges, heads), 1 / 32) if draw(_BOOL) else None
    scores = _values(gen, (num_edges, heads) if heads > 1 or draw(_BOOL) else (num_edges,), 1 / 32)
    _plant_specials(draw, [q, k, v, bias, scores])
    defect = _pick(draw, [None] * 6 + ["scores_length", "kv_shape", "bias_shape", "q_rows", "edited_graph"])
    softmax_words: list[str] = []
    attention_words: list[str] = []
    if defect == "scores_length":
        scores = torch.cat([scores, torch.zeros((1,) + scores.shape[1:], dtype=scores.dtype)])
        softmax_words = ["scores must be [E] or [E, H]"]
    elif defect == "kv_shape":
        v = torch.zeros(num_src, heads, dim + 1, dtype=torch.float64)
        attention_words = ["q must be [N_dst, H, D] and k, v [N_src, H, D]"]
    elif defect == "bias_shape":
        bias = torch.zeros(num_edges + 1, heads, dtype=torch.float64)
        attention_words = ["edge_bias must be [E, H]"]
    elif defect == "q_rows":
        q = torch.zeros(num_dst + 1, heads, dim, dtype=torch.float64)
        attention_words = ["graph has"]
    elif defect == "edited_graph":
        softmax_words = attention_words = ["was modified in place"]
    dtype_words = [] if dtype.is_floating_point else ["must be a floating tensor"]
    cast = (lambda t: None if t is None else t.to(dtype))
    return (backend, dtype, edge_index, (num_src, num_dst), cast(q), cast(k), cast(v), cast(bias), cast(scores),
            defect, softmax_words + dtype_words, attention_words + dtype_words)


def _check_attention(case) -> None:
    backend, dtype, edge_index, sizes, q, k, v, bias, scores, defect, softmax_words, attention_words = case
    graph = CSRGraph.from_edge_index(edge_index, sizes, cache=False)
    if defect == "edited_graph":
        graph.t_perm.add_(0)
    label = (f"edges {edge_index.tolist()}, sizes {sizes}, q {tuple(q.shape)}, {dtype}, bias "
             f"{None if bias is None else tuple(bias.shape)}, backend={backend}, defect={defect}")
    alpha, err = run_case(lambda: ops.segment_softmax(scores, graph, backend=backend))
    if softmax_words:
        expect_error(err, softmax_words, f"segment_softmax({label})")
    else:
        expect_result(err, f"segment_softmax({label})")
        expected = ops.segment_softmax(scores, graph, backend="reference")
        _assert_matches(alpha, expected, dtype, f"segment_softmax({label})")
    out, err = run_case(lambda: ops.edge_attention(q, k, v, graph, edge_bias=bias, backend=backend))
    if attention_words:
        expect_error(err, attention_words, f"edge_attention({label})")
    else:
        expect_result(err, f"edge_attention({label})")
        expected = ops.edge_attention(q, k, v, graph, edge_bias=bias, backend="reference")
        _assert_matches(out, expected, dtype, f"edge_attention({label})")


@_settings(CI_EXAMPLES)
@given(attention_cases(("cpu",)))
def test_fuzz_segment_softmax_and_edge_attention(case):
    _check_attention(case)


# ------------------------------------------------------------------------------------------------ CSRGraph
CSR_FIELDS = ("edge_index", "indptr", "col", "row", "perm", "t_indptr", "t_col", "t_perm", "t_pos", "pos",
              "in_degree", "num_src_nodes", "num_dst_nodes")


@st.composite
def edge_index_cases(draw):
    gen = _source(draw)
    num_src, num_dst = _node_counts(draw)
    edge_index = _edge_index(draw, gen, num_src, num_dst)
    num_nodes: object = num_src if num_src == num_dst and draw(_BOOL) else (num_src, num_dst)
    defect = _pick(draw, [None] * 6 + ["negative_id", "id_too_large", "float_dtype", "shape", "negative_num_nodes",
                                       "float_num_nodes", "infer_num_nodes"])
    dtype = _pick(draw, [torch.long, torch.long, torch.int32, torch.int16, torch.uint8])
    words: list[str] = []
    if defect == "negative_id" and edge_index.numel():
        edge_index.view(-1)[_below(draw, edge_index.numel())] = _between(draw, -4, -1)
        words = ["node ids start at 0"]
        dtype = _pick(draw, [torch.long, torch.int32])
    elif defect == "id_too_large" and edge_index.numel():
        edge_index.view(-1)[_below(draw, edge_index.numel())] = max(num_src, num_dst) + _below(draw, 4)
        words = ["pass the right num_nodes"]
    elif defect == "float_dtype":
        dtype = _pick(draw, [torch.float32, torch.float64, torch.bool])
        words = ["edge_index must be an integer tensor"]
    elif defect == "shape":
        edge_index = _pick(draw, [edge_index.t().reshape(-1, 2) if edge_index.size(1) != 2
                                  else edge_index.reshape(1, -1), edge_index.reshape(-1),
                                  torch.zeros(3, 2, dtype=torch.long)])
        words = ["edge_index must be a [2, E] tensor"]
    elif defect == "negative_num_nodes":
        num_nodes = (num_src, -1) if isinstance(num_nodes, tuple) else -1
        words = ["must be >= 0"]
    elif defect == "float_num_nodes":
        num_nodes = float(num_src) + 0.5
        words = ["num_nodes must be an integer"]
    elif defect == "infer_num_nodes":
        num_nodes = None
    edit = (_below(draw, 4 * MAX_EDGES), _pick(draw, CSR_FIELDS), _pick(draw, [-3, -1, 1, 2, 10 ** 9]))
    return edge_index.to(dtype), num_nodes, words, edit


def _check_replace_refused(graph: CSRGraph, edit: tuple[int, str, int]) -> None:
    """Changing one entry of one field through dataclasses.replace breaks an invariant: an InputError."""
    at, field, delta = edit
    value = getattr(graph, field)
    if isinstance(value, int):
        changed = value + delta
    elif value.numel():
        changed = value.clone()
        changed.view(-1)[at % value.numel()] += delta
    else:
        return
    _, err = run_case(lambda: dataclasses.replace(graph, **{field: changed}))
    expect_error(err, ["CSRGraph"], f"dataclasses.replace(graph, {field}=<one entry + {delta}>)")


def _check_from_edge_index(case) -> None:
    edge_index, num_nodes, words, edit = case
    label = f"CSRGraph.from_edge_index({edge_index.tolist()} {edge_index.dtype}, {num_nodes!r})"
    graph, err = run_case(lambda: CSRGraph.from_edge_index(edge_index, num_nodes))
    if words:
        expect_error(err, words, label)
        return
    expect_result(err, label)
    if num_nodes is None:
        num_src = num_dst = int(edge_index.max()) + 1 if edge_index.numel() else 0
    else:
        num_src, num_dst = num_nodes if isinstance(num_nodes, tuple) else (num_nodes, num_nodes)
    assert (graph.num_src_nodes, graph.num_dst_nodes) == (num_src, num_dst), label
    assert torch.equal(graph.edge_index, edge_index.long()), label
    for name, expected in _oracle_csr(edge_index, num_src, num_dst).items():
        assert getattr(graph, name).tolist() == expected, f"silent wrong result for {label}: {name}"
    # the cache: a hit while unchanged, a correct rebuild after an in-place edit the version counter cannot see
    assert CSRGraph.from_edge_index(edge_index, num_nodes) is graph, label
    if edge_index.numel() and num_dst > 1:
        edge_index.numpy()[1, 0] = (int(edge_index[1, 0]) + 1) % num_dst
        rebuilt = CSRGraph.from_edge_index(edge_index, num_nodes)
        assert rebuilt.row.tolist() == _oracle_csr(edge_index, num_src, num_dst)["row"], f"stale cache: {label}"
    _check_replace_refused(graph, edit)


@_settings(CI_EXAMPLES)
@given(edge_index_cases())
def test_fuzz_csr_graph_from_edge_index(case):
    _check_from_edge_index(case)


# ------------------------------------------------------------------------------------------------ PE transforms
@st.composite
def pe_graph_cases(draw):
    gen = _source(draw)
    n = _below(draw, MAX_NODES + 1)
    edge_index = _edge_index(draw, gen, n, n)
    defect = _pick(draw, [None] * 8 + ["negative_id", "id_too_large", "float_dtype", "shape", "negative_num_nodes"])
    words: list[str] = []
    if defect == "negative_id" and edge_index.numel():
        at = _below(draw, edge_index.numel())
        edge_index.view(-1)[at] = _between(draw, -3, -1)
        words = [f"edge_index[{at // edge_index.size(1)}, {at % edge_index.size(1)}] = {int(edge_index.view(-1)[at])}"
                 " is not a node id"]
    elif defect == "id_too_large":
        edge_index = torch.cat([edge_index, torch.tensor([[0], [n]])], 1) if n else torch.tensor([[0], [0]])
        words = [f"= {n} is not a node id", "= 0 is not a node id"]
    elif defect == "float_dtype":
        edge_index = edge_index.to(_pick(draw, [torch.float32, torch.bool]))
        words = ["edge_index must hold integer node ids"]
    elif defect == "shape":
        edge_index = edge_index.reshape(-1)
        words = ["edge_index must be [2, E]"]
    elif defect == "negative_num_nodes":
        n = -1
        words = ["num_nodes = -1 is negative"]
    if not edge_index.dtype.is_floating_point and edge_index.dtype != torch.bool:
        edge_index = edge_index.to(_pick(draw, [torch.long, torch.int32]))
    return Data(edge_index=edge_index, num_nodes=n), words


def _walk_matrix_np(edge_index: torch.Tensor, n: int) -> np.ndarray:
    adj = np.zeros((n, n))
    for j, i in edge_index.long().t().tolist():
        adj[j, i] = 1.0
    return adj / np.maximum(adj.sum(1, keepdims=True), 1.0)


def _check_rwse(data: Data, out: Data, steps: int, label: str) -> None:
    m = _walk_matrix_np(data.edge_index, data.num_nodes)
    expected = np.stack([np.diag(np.linalg.matrix_power(m, s)) for s in range(1, steps + 1)], 1) \
        if data.num_nodes else np.zeros((0, steps))
    _assert_matches(out.rwse, torch.from_numpy(expected), torch.float32, label)


def _check_rrwp(data: Data, out: Data, steps: int, full: bool, label: str) -> None:
    n = data.num_nodes
    m = _walk_matrix_np(data.edge_index, n)
    powers = [np.linalg.matrix_power(m, s) for s in range(steps)]
    edges = set(map(tuple, data.edge_index.long().t().tolist()))
    pairs = sorted(((j, i) for i in range(n) for j in range(n) if full or i == j or (j, i) in edges),
                   key=lambda p: (p[1], p[0]))
    assert out.rrwp_index.t().tolist() == [list(p) for p in pairs], f"silent wrong result for {label}: pairs"
    expected_val = torch.tensor([[p[j, i] for p in powers] for j, i in pairs], dtype=torch.float64)
    _assert_matches(out.rrwp_val, expected_val.reshape(len(pairs), steps), torch.float32, label)
    diag = torch.tensor([[p[i, i] for p in powers] for i in range(n)], dtype=torch.float64).reshape(n, steps)
    _assert_matches(out.rrwp, diag, torch.float32, label)


def _check_lappe(data: Data, out: Data, k: int, label: str) -> None:
    n = data.num_nodes
    adj = np.zeros((n, n))
    for j, i in data.edge_index.long().t().tolist():
        adj[j, i] = adj[i, j] = 1.0
    deg = adj.sum(1)
    inv_sqrt = np.where(deg > 0, 1.0 / np.sqrt(np.maximum(deg, 1e-12)), 0.0)
    lap = np.eye(n) - inv_sqrt[:, None] * adj * inv_sqrt[None, :]
    evals = np.sort(np.linalg.eigvalsh(lap))[1:1 + k] if n else np.zeros(0)
    found = len(evals)
    assert out.lap_eigvec.shape == (n, k) and out.lap_eigval.shape == (n, k), label
    assert torch.isnan(out.lap_eigvec[:, found:]).all() and torch.isnan(out.lap_eigval[:, found:]).all(), \
        f"silent wrong result for {label}: NaN padding"
    for col in range(found):
        lam = float(out.lap_eigval[0, col])
        u = out.lap_eigvec[:, col].double().numpy()
        assert abs(lam - max(evals[col], 0.0)) < 1e-4, f"silent wrong result for {label}: eigenvalue {col}"
        assert abs(np.linalg.norm(u) - 1.0) < 1e-4, f"silent wrong result for {label}: eigenvector {col} norm"
        assert np.abs(lap @ u - evals[col] * u).max() < 1e-4, f"silent wrong result for {label}: eigenvector {col}"


def _check_transform(kind: str, data: Data, out: Data, size: int, label: str) -> None:
    if kind == "lappe":
        _check_lappe(data, out, size, label)
    elif kind == "rwse":
        _check_rwse(data, out, size, label)
    else:
        _check_rrwp(data, out, size, kind == "rrwp", label)


def _transform(kind: str, size: int):
    return {"lappe": AddLapPE, "rwse": AddRWSE, "rrwp": AddRRWP,
            "rrwp_sparse": lambda steps: AddRRWP(steps, full=False)}[kind](size)


# a PE case: 1 to 3 graphs, the encoding size (k or steps), apply_many's chunk and the transform it applies
PE_CASES = st.tuples(st.lists(pe_graph_cases(), min_size=1, max_size=3), st.integers(1, 4), st.integers(1, 3),
                     st.sampled_from(["lappe", "rwse", "rrwp", "rrwp_sparse"]))


def _check_pe(pe_case) -> None:
    """AddLapPE, AddRWSE and AddRRWP (full and sparse) on the first graph, then apply_many of one on all graphs."""
    cases, size, chunk, many_kind = pe_case
    data, words = cases[0]
    for kind in ("lappe", "rwse", "rrwp", "rrwp_sparse"):
        transform = _transform(kind, size)
        label = f"{transform!r}(edge_index {data.edge_index.tolist()}, num_nodes={data.num_nodes})"
        out, err = run_case(lambda: transform(data.clone()))
        if words:
            expect_error(err, words, label)
            continue
        expect_result(err, label)
        _check_transform(kind, data, out, size, label)
    transform = _transform(many_kind, size)
    graphs = [d for d, _ in cases]
    bad = [b for b, (_, w) in enumerate(cases) if w]
    label = f"apply_many({transform!r}, {[(d.edge_index.tolist(), d.num_nodes) for d in graphs]}, chunk={chunk})"
    out, err = run_case(lambda: apply_many(transform, [d.clone() for d in graphs], chunk=chunk))
    if bad:
        expect_error(err, [f"graph {bad[0]} "], label)             # the first bad graph, by its position
        return
    expect_result(err, label)
    for d, result in zip(graphs, out):
        _check_transform(many_kind, d, result, size, label)


@_settings(CI_EXAMPLES)
@given(PE_CASES)
def test_fuzz_pe_transforms_and_apply_many(pe_case):
    _check_pe(pe_case)


# ------------------------------------------------------------------------------------------------ Triton, interpreted
triton_only = pytest.mark.skipif(not _triton_available(),
                                 reason="triton not installed, or neither CUDA nor TRITON_INTERPRET=1")


@triton_only
@_settings(TRITON_EXAMPLES)
@given(scatter_cases(("triton",)))
def test_fuzz_scatter_triton(case):
    _check_scatter(case)


@triton_only
@_settings(TRITON_EXAMPLES)
@given(gather_scatter_cases(("triton",)))
def test_fuzz_gather_scatter_triton(case):
    _check_gather_scatter(case)


@triton_only
@_settings(TRITON_EXAMPLES)
@given(attention_cases(("triton",)))
def test_fuzz_segment_softmax_and_edge_attention_triton(case):
    _check_attention(case)


# ------------------------------------------------------------------------------------------------ slow: more cases
@pytest.mark.slow
@_settings(SLOW_EXAMPLES)
@given(scatter_cases(("reference", "cpu")))
def test_fuzz_scatter_slow(case):
    _check_scatter(case)


@pytest.mark.slow
@_settings(SLOW_EXAMPLES)
@given(gather_scatter_cases(("reference", "cpu")))
def test_fuzz_gather_scatter_slow(case):
    _check_gather_scatter(case)


@pytest.mark.slow
@_settings(SLOW_EXAMPLES)
@given(attention_cases(("cpu",)))
def test_fuzz_segment_softmax_and_edge_attention_slow(case):
    _check_attention(case)


@pytest.mark.slow
@_settings(SLOW_EXAMPLES)
@given(segment_cases(("reference", "cpu")))
def test_fuzz_segment_slow(case):
    _check_segment(case)


@pytest.mark.slow
@_settings(SLOW_EXAMPLES)
@given(edge_index_cases())
def test_fuzz_csr_graph_from_edge_index_slow(case):
    _check_from_edge_index(case)


@pytest.mark.slow
@_settings(SLOW_EXAMPLES)
@given(PE_CASES)
def test_fuzz_pe_transforms_and_apply_many_slow(pe_case):
    _check_pe(pe_case)
