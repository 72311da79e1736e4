"""CPU backend: numba kernels parallel (``prange``) over CSR rows, reducing while they read, for float32 and float64.

Each destination row ``i`` walks its incoming edges ``k in indptr[i]:indptr[i+1]`` and accumulates
``msg(x[col[k]], w[perm[k]], e[perm[k]])`` straight into ``out[i]``: no per-edge message buffer. Rows are independent,
so threads never write the same memory. Kernels compile on first use per dtype and are cached on disk
(``cache=True``, in ``__pycache__`` or ``NUMBA_CACHE_DIR``), so later processes start fast.
Autograd lives in :mod:`graphgen.ops._autograd`; this module is only the kernel interface described there.
"""
from __future__ import annotations

import math
import os
import sys
import types

import numba
import numpy as np
import torch
from llvmlite import ir
from numba import njit, prange
from numba.core import cgutils, types as nb_types
from numba.extending import intrinsic
from torch import Tensor

from ..errors import InputError
from . import _autograd, _memory
from .graph import CSRGraph, InputTypeError

_MESSAGE = {"copy": 0, "mul": 1, "add_relu": 2}
# Below this many scalar updates a kernel runs on one thread: waking a thread pool costs more than the work
# (and on a busy machine a parallel launch can wait milliseconds for a core).
PARALLEL_MIN_WORK = 1 << 16

# numba's default threading layer is OpenMP when TBB is missing. Its OpenMP runtime and torch's do not coexist: after
# the first parallel numba launch every later torch op of the process slows down by orders of magnitude
# (benchmarks/results/ops_notes.md). The workqueue layer has its own small pool and no such interaction; an explicit
# NUMBA_THREADING_LAYER(_PRIORITY) still wins.
if "NUMBA_THREADING_LAYER" not in os.environ and "NUMBA_THREADING_LAYER_PRIORITY" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"


class _kernel:
    """A numba kernel compiled lazily, per variant, and cached on disk: ``parallel=True`` (``prange`` over rows) for
    large inputs or serial (``prange`` acts as ``range``) for small ones, each with or without software prefetch.
    Call as ``kernel(work, *args)``."""

    def __init__(self, fn, fastmath=False):
        self.__name__ = fn.__name__
        self._fn, self._fastmath = fn, fastmath
        self._variants: dict[tuple[bool, bool], object] = {}

    def variant(self, parallel: bool, prefetch: bool):
        key = (parallel, prefetch)
        if key not in self._variants:
            fn = self._fn
            suffix = ("" if parallel else "_serial") + ("" if prefetch else "_noprefetch")
            glob = fn.__globals__ if prefetch else dict(fn.__globals__, _prefetch_row=_no_prefetch_row)
            variant_fn = types.FunctionType(fn.__code__, glob, fn.__name__ + suffix, fn.__defaults__, fn.__closure__)
            variant_fn.__qualname__ = fn.__qualname__ + suffix    # its own on-disk cache entry
            self._variants[key] = njit(parallel=parallel, cache=True, nogil=True, fastmath=self._fastmath)(variant_fn)
        return self._variants[key]

    def __call__(self, work: int, *args) -> None:
        # torch's thread budget (torch.set_num_threads, OMP_NUM_THREADS) is graphgen's too: one thread = serial
        parallel = work >= PARALLEL_MIN_WORK and torch.get_num_threads() > 1
        self.variant(parallel, work >= PREFETCH_MIN_WORK)(*args)


# ---------------------------------------------------------------------------------------------- software prefetch
# The kernels are bound by random row reads (x_j of a destination's in-neighbours, q_i / dout_i of a source's
# out-neighbours). The edge list says which rows come next, so each loop asks the CPU to start loading the row
# PREFETCH edges ahead while it works on the current one. A prefetch never faults and never changes a result.
PREFETCH = 8
# ... but only on large inputs. A batch of small graphs (ZINC: 512 molecules, E=25k, F=64) reads rows that are close
# together and already cached, where the prefetch instructions are pure overhead (benchmarks/results/ops_notes.md).
# Below this many scalar updates the kernels are compiled without prefetch.
PREFETCH_MIN_WORK = 1 << 22


@intrinsic
def _prefetch(typingctx, arr, row, byte_offset):
    """``llvm.prefetch`` (read, keep in all cache levels) of the byte ``byte_offset`` of row ``row`` of ``arr``."""
    def codegen(context, builder, signature, args):
        ary_t, row_t, off_t = signature.args
        ary = context.make_array(ary_t)(context, builder, args[0])
        stride0 = cgutils.unpack_tuple(builder, ary.strides)[0]
        row = context.cast(builder, args[1], row_t, nb_types.intp)
        off = context.cast(builder, args[2], off_t, nb_types.intp)
        i8p = ir.IntType(8).as_pointer()
        base = builder.bitcast(ary.data, i8p)
        ptr = builder.gep(base, [builder.add(builder.mul(row, stride0), off)])
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        builder.call(fn, [ptr, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()
    return nb_types.void(arr, row, byte_offset), codegen


@njit(inline="always", cache=True, nogil=True)
def _prefetch_row(arr, row):  # pragma: no cover - compiled
    for off in range(0, arr.strides[0], 64):                # every cache line of the row
        _prefetch(arr, row, off)


@njit(inline="always", cache=True, nogil=True)
def _no_prefetch_row(arr, row):  # pragma: no cover - compiled
    pass


# Dot products over a head (<q_i, k_j>, <dout_i, v_j>) only vectorise if LLVM may reassociate the sum; these flags
# allow that (and fused multiply-add) but keep IEEE infinities, NaNs and exact exp/log: results move by rounding only.
_DOT_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}


def _dot_kernel(fn):
    return _kernel(fn, fastmath=_DOT_FASTMATH)


# --------------------------------------------------------------------------------------------------- numba kernels
@_kernel
def _spmm_rows(indptr, col, perm, x, e, relu, mean, inv_deg, zero, save_mask, mask,
               out):  # pragma: no cover - compiled
    # copy (x_j) or add_relu (relu(x_j + e_ij)) on rows flattened to [N, F] / [E, F] (F = heads * dim): with no
    # per-head factor the head split only costs. Row views and a select (not a conditional add) let LLVM vectorise
    # the feature loop; faster than an [N, H, D] loop (benchmarks/results/ops_notes.md).
    # save_mask: also write relu'(x_j + e_ij) as one byte per element into mask [E, F] (destination-sorted rows,
    # written in order), which spares the backward pass its random reads of e (see _add_relu_bwd_mask).
    # The message branch sits outside the edge loop: tested per edge, it slowed the copy path on ZINC batches, whose
    # rows are cached and where the loop body is only a few vector adds (benchmarks/results/ops_notes.md).
    # relu keeps a NaN as torch does: "not (val <= 0)" is true for NaN, where "val > 0" would drop it.
    n_rows = indptr.shape[0] - 1
    n_edges = col.shape[0]
    dim = x.shape[1]
    for i in prange(n_rows):
        start, end = indptr[i], indptr[i + 1]
        o = out[i]
        o[:] = zero                                          # out comes uninitialised (no separate zero-fill pass)
        if relu and save_mask:
            for k in range(start, end):
                if k + PREFETCH < n_edges:
                    _prefetch_row(x, col[k + PREFETCH])
                    _prefetch_row(e, perm[k + PREFETCH])
                xr = x[col[k]]
                er = e[perm[k]]
                mr = mask[k]
                for d in range(dim):
                    val = xr[d] + er[d]
                    pos = not (val <= zero)
                    o[d] += val if pos else zero
                    mr[d] = pos
        elif relu:
            for k in range(start, end):
                if k + PREFETCH < n_edges:
                    _prefetch_row(x, col[k + PREFETCH])
                    _prefetch_row(e, perm[k + PREFETCH])
                xr = x[col[k]]
                er = e[perm[k]]
                for d in range(dim):
                    val = xr[d] + er[d]
                    o[d] += zero if val <= zero else val
        else:
            for k in range(start, end):
                if k + PREFETCH < n_edges:
                    _prefetch_row(x, col[k + PREFETCH])
                xr = x[col[k]]
                for d in range(dim):
                    o[d] += xr[d]
        if mean:
            inv = inv_deg[i]
            for d in range(dim):
                o[d] *= inv


@_kernel
def _spmm_mul(indptr, col, perm, x, w, mean, inv_deg, out):  # pragma: no cover - compiled
    # mul: w_ij * x_j, one weight per head, on [N, H, D]
    n_rows = indptr.shape[0] - 1
    n_edges = col.shape[0]
    heads, dim = x.shape[1], x.shape[2]
    for i in prange(n_rows):
        start, end = indptr[i], indptr[i + 1]
        for h in range(heads):                               # out comes uninitialised (no separate zero-fill pass)
            for d in range(dim):
                out[i, h, d] = 0.0
        for k in range(start, end):
            if k + PREFETCH < n_edges:
                _prefetch_row(x, col[k + PREFETCH])
            j = col[k]
            eid = perm[k]
            for h in range(heads):
                c = w[eid, h]
                for d in range(dim):
                    out[i, h, d] += c * x[j, h, d]
        if mean:
            inv = inv_deg[i]
            for h in range(heads):
                for d in range(dim):
                    out[i, h, d] *= inv


@_kernel
def _spmm_maxmin(indptr, col, perm, x, w, e, msg, sign, out, arg):  # pragma: no cover - compiled
    # NaN as torch's amax / amin: the first NaN message of a row wins and stays (no later value compares greater)
    n_rows = indptr.shape[0] - 1
    n_edges = col.shape[0]
    heads, dim = x.shape[1], x.shape[2]
    for i in prange(n_rows):
        start, end = indptr[i], indptr[i + 1]
        if end == start:                                     # out comes uninitialised; an empty row gives 0
            for h in range(heads):
                for d in range(dim):
                    out[i, h, d] = 0.0
        for k in range(start, end):
            if k + PREFETCH < n_edges:
                _prefetch_row(x, col[k + PREFETCH])
                if msg == 2:
                    _prefetch_row(e, perm[k + PREFETCH])
            j = col[k]
            eid = perm[k]
            for h in range(heads):
                c = w[eid, h] if msg == 1 else 1.0
                for d in range(dim):
                    if msg == 0:
                        val = x[j, h, d]
                    elif msg == 1:
                        val = c * x[j, h, d]
                    else:
                        val = x[j, h, d] + e[eid, h, d]
                        if val < 0:
                            val = 0.0
                    cur = out[i, h, d]
                    if k == start or (cur == cur and (val != val or sign * val > sign * cur)):  # first wins ties
                        out[i, h, d] = val
                        arg[i, h, d] = eid


@_kernel
def _add_relu_bwd_mask(t_indptr, t_col, t_pos, mask, g, zero, gx):  # pragma: no cover - compiled
    # d/dx_j of a sum of relu(x_j + e_ij) messages, walking the outgoing edges of every source node j, with relu'
    # read from the forward pass's byte mask (a random byte per element instead of a random edge_attr read: on E=2M
    # random edges, F=64, half the time of reading e). Rows flattened to [N, F] / [E, F].
    n_src = t_indptr.shape[0] - 1
    n_edges = t_col.shape[0]
    dim = g.shape[1]
    for j in prange(n_src):
        gxr = gx[j]
        gxr[:] = zero
        for k in range(t_indptr[j], t_indptr[j + 1]):
            if k + PREFETCH < n_edges:
                _prefetch_row(g, t_col[k + PREFETCH])
                _prefetch_row(mask, t_pos[k + PREFETCH])
            gr = g[t_col[k]]
            mr = mask[t_pos[k]]
            for d in range(dim):
                gxr[d] += gr[d] if mr[d] else zero


@_kernel
def _add_relu_bwd_edge(dst, pos, mask, g, zero, ge):  # pragma: no cover - compiled
    # d/de_ij = g_i * relu'(x_j + e_ij), in original edge order: the [E, F] result is written sequentially and the
    # random accesses are reads (g_i, and the mask row at the edge's destination-sorted position), which the CPU
    # overlaps with prefetch. Writing it from the source walk above put one random [F] row write per edge on the
    # critical path, slower than the two passes (benchmarks/results/ops_notes.md); the fresh [E, F] result's
    # first-touch page faults are the other cost, hence huge pages (see _memory).
    n_edges = dst.shape[0]
    dim = g.shape[1]
    for eid in prange(n_edges):
        if eid + PREFETCH < n_edges:
            _prefetch_row(g, dst[eid + PREFETCH])
            _prefetch_row(mask, pos[eid + PREFETCH])
        gr = g[dst[eid]]
        mr = mask[pos[eid]]
        ger = ge[eid]
        for d in range(dim):
            ger[d] = gr[d] if mr[d] else zero


@_dot_kernel
def _sddmm(indptr, col, perm, g, x, gw):  # pragma: no cover - compiled
    n_rows = indptr.shape[0] - 1
    heads, dim = x.shape[1], x.shape[2]
    for i in prange(n_rows):
        for k in range(indptr[i], indptr[i + 1]):
            j = col[k]
            eid = perm[k]
            for h in range(heads):
                acc = 0.0
                for d in range(dim):
                    acc += g[i, h, d] * x[j, h, d]
                gw[eid, h] = acc


@_kernel
def _softmax_fwd(indptr, perm, s, p):  # pragma: no cover - compiled
    n_rows = indptr.shape[0] - 1
    heads = s.shape[1]
    for i in prange(n_rows):
        start, end = indptr[i], indptr[i + 1]
        for h in range(heads):
            m = -np.inf
            for k in range(start, end):
                m = max(m, s[perm[k], h])
            total = 0.0
            for k in range(start, end):
                val = math.exp(s[perm[k], h] - m)
                p[perm[k], h] = val
                total += val
            for k in range(start, end):
                p[perm[k], h] /= total


@_kernel
def _softmax_bwd(indptr, perm, p, g, gs):  # pragma: no cover - compiled
    n_rows = indptr.shape[0] - 1
    heads = p.shape[1]
    for i in prange(n_rows):
        start, end = indptr[i], indptr[i + 1]
        for h in range(heads):
            dot = 0.0
            for k in range(start, end):
                dot += p[perm[k], h] * g[perm[k], h]
            for k in range(start, end):
                eid = perm[k]
                gs[eid, h] = p[eid, h] * (g[eid, h] - dot)


@_dot_kernel
def _attn_fwd(indptr, col, perm, q, kk, v, b, has_bias, scale, zero, one, out, p):  # pragma: no cover - compiled
    # per (destination row, head), two passes over the row's edges: scores s_ij = scale <q_i, k_j> + b_ij into p
    # (destination-sorted [E, H], written in order) and their max m; then e_ij = exp(s_ij - m) into p, its sum and
    # out_i += e_ij v_j; finally both are divided by the sum. p (the attention weights) is kept for the backward pass.
    # ``zero``, ``one``, ``scale`` have the tensors' dtype, so float32 inputs are computed in float32 throughout.
    n_rows = indptr.shape[0] - 1
    n_edges = col.shape[0]
    heads, dim = q.shape[1], q.shape[2]
    for i in prange(n_rows):
        start, end = indptr[i], indptr[i + 1]
        for h in range(heads):
            for d in range(dim):
                out[i, h, d] = zero
        if end == start:
            continue
        for h in range(heads):
            m = zero
            for k in range(start, end):
                if h == 0 and k + PREFETCH < n_edges:
                    _prefetch_row(kk, col[k + PREFETCH])
                    if has_bias:
                        _prefetch_row(b, perm[k + PREFETCH])
                j = col[k]
                s = zero
                for d in range(dim):
                    s += q[i, h, d] * kk[j, h, d]
                s *= scale
                if has_bias:
                    s += b[perm[k], h]
                p[k, h] = s
                if k == start or s > m:
                    m = s
            total = zero
            for k in range(start, end):
                if h == 0 and k + PREFETCH < n_edges:
                    _prefetch_row(v, col[k + PREFETCH])
                j = col[k]
                ek = math.exp(p[k, h] - m)
                p[k, h] = ek
                total += ek
                for d in range(dim):
                    out[i, h, d] += ek * v[j, h, d]
            inv = one / total
            for d in range(dim):
                out[i, h, d] *= inv
            for k in range(start, end):
                p[k, h] *= inv


@_dot_kernel
def _attn_delta(dout, out, zero, delta):  # pragma: no cover - compiled
    # delta_i = <dout_i, out_i> per head (= sum_j p_ij <dout_i, v_j>)
    for i in prange(out.shape[0]):
        for h in range(out.shape[1]):
            acc = zero
            for d in range(out.shape[2]):
                acc += dout[i, h, d] * out[i, h, d]
            delta[i, h] = acc


@_dot_kernel
def _attn_bwd_src(t_indptr, t_col, t_perm, t_pos, q, v, dout, p, delta, scale, zero, dk, dv,
                  ds):  # pragma: no cover - compiled
    # one pass over the outgoing edges of every source j (rows of dk, dv stay with one thread):
    # ds_ij = p_ij (<dout_i, v_j> - delta_i), dv_j += p_ij dout_i, dk_j += scale ds_ij q_i.
    # p is destination-sorted [E, H] (t_pos maps to it); ds is written in the original edge order, so that it is also
    # the bias gradient as it stands (scattered writes once here, instead of once more in a separate pass).
    n_src = t_indptr.shape[0] - 1
    heads, dim = q.shape[1], q.shape[2]
    n_edges = t_col.shape[0]
    for j in prange(n_src):
        for h in range(heads):
            for d in range(dim):
                dk[j, h, d] = zero
                dv[j, h, d] = zero
        for kt in range(t_indptr[j], t_indptr[j + 1]):
            if kt + PREFETCH < n_edges:
                ip = t_col[kt + PREFETCH]
                _prefetch_row(q, ip)
                _prefetch_row(dout, ip)
                _prefetch_row(p, t_pos[kt + PREFETCH])
                _prefetch_row(ds, t_perm[kt + PREFETCH])
            i = t_col[kt]
            kc = t_pos[kt]
            eid = t_perm[kt]
            for h in range(heads):
                pk = p[kc, h]
                dp = zero
                for d in range(dim):
                    dp += dout[i, h, d] * v[j, h, d]
                dsk = pk * (dp - delta[i, h])
                ds[eid, h] = dsk
                c = scale * dsk
                for d in range(dim):
                    dv[j, h, d] += pk * dout[i, h, d]
                    dk[j, h, d] += c * q[i, h, d]


@_dot_kernel
def _attn_bwd_dst(indptr, col, perm, kk, ds, scale, dq):  # pragma: no cover - compiled
    # dq_i = scale sum_j ds_ij k_j  (ds in the original edge order)
    n_rows = indptr.shape[0] - 1
    heads, dim = kk.shape[1], kk.shape[2]
    n_edges = col.shape[0]
    for i in prange(n_rows):
        for h in range(heads):
            for d in range(dim):
                dq[i, h, d] = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            if k + PREFETCH < n_edges:
                _prefetch_row(kk, col[k + PREFETCH])
                _prefetch_row(ds, perm[k + PREFETCH])
            j = col[k]
            eid = perm[k]
            for h in range(heads):
                c = scale * ds[eid, h]
                for d in range(dim):
                    dq[i, h, d] += c * kk[j, h, d]


@njit(cache=True, nogil=True)
def _counting_sort(keys, indptr, perm):  # pragma: no cover - compiled
    # stable O(E + N) sort of edge ids by key: indptr[b]:indptr[b+1] of perm holds the edges with key b, in order
    for e in range(keys.shape[0]):
        indptr[keys[e] + 1] += 1
    for b in range(indptr.shape[0] - 1):
        indptr[b + 1] += indptr[b]
    cursor = indptr[:-1].copy()
    for e in range(keys.shape[0]):
        b = keys[e]
        perm[cursor[b]] = e
        cursor[b] += 1


def counting_sort(keys: Tensor, num_bins: int) -> tuple[Tensor, Tensor]:
    """``(indptr [num_bins + 1], perm [E])``: a stable sort of ``keys`` (long, values in ``[0, num_bins)``)."""
    indptr = torch.zeros(num_bins + 1, dtype=torch.long)
    perm = torch.empty(keys.numel(), dtype=torch.long)
    _counting_sort(_np(keys), indptr.numpy(), perm.numpy())
    return indptr, perm


# ------------------------------------------------------------------------------------------- the kernel interface
def _np(t: Tensor) -> np.ndarray:
    return t.detach().contiguous().numpy()


def _dummy(like: Tensor, ndim: int) -> np.ndarray:
    return np.zeros((0,) * ndim, dtype=_np(like[:0]).dtype)


def _check(x: Tensor) -> None:
    if x.device.type != "cpu":
        raise InputError(f"graphgen.ops backend 'cpu' got a {x.device} tensor; use backend='triton' on CUDA")
    if x.dtype not in (torch.float32, torch.float64):
        raise InputTypeError(f"graphgen.ops backend 'cpu' supports float32/float64, got {x.dtype}; cast with "
                             ".float() or use backend='reference'")


def spmm(indptr, col, perm, x, w, e, message, reduce, save_mask=False):
    """``save_mask`` (add_relu with sum/mean only) returns ``(out, mask [E, F] bool)``, the relu derivative of every
    message in destination-sorted order, for :func:`add_relu_bwd_mask`."""
    _check(x)
    n_rows = indptr.numel() - 1
    out = _memory.empty((n_rows,) + tuple(x.shape[1:]), x.dtype)         # every kernel fills every row
    work = (col.numel() + n_rows) * math.prod(x.shape[1:])
    mean = reduce == "mean"
    # 1 / in-degree in x's dtype: a float64 scale would convert every element
    inv_deg = (1.0 / (indptr[1:] - indptr[:-1]).clamp(min=1).to(x.dtype)) if mean else x.new_empty(0)
    if reduce in ("sum", "mean") and message == "mul":
        _spmm_mul(work, _np(indptr), _np(col), _np(perm), _np(x), _np(w), mean, inv_deg.numpy(), out.numpy())
        return out, None
    if reduce in ("sum", "mean"):
        relu = message == "add_relu"
        f = math.prod(x.shape[1:])                   # an explicit width: reshape(0, -1) is ambiguous
        e_np = _np(e).reshape(e.size(0), f) if relu else _dummy(x, 2)
        save_mask = save_mask and relu
        mask = _memory.empty((col.numel(), f) if save_mask else (0, 0), torch.bool)
        _spmm_rows(work, _np(indptr), _np(col), _np(perm), _np(x).reshape(x.size(0), f), e_np, relu, mean,
                   inv_deg.numpy(), _scalar(0, x), save_mask, mask.numpy(), out.numpy().reshape(n_rows, f))
        return out, (mask if save_mask else None)
    w_np = _np(w) if w is not None else _dummy(x, 2)
    e_np = _np(e) if e is not None else _dummy(x, 3)
    arg = torch.full(out.shape, -1, dtype=torch.long)
    sign = 1.0 if reduce == "max" else -1.0
    _spmm_maxmin(work, _np(indptr), _np(col), _np(perm), _np(x), w_np, e_np, _MESSAGE[message], sign, out.numpy(),
                 arg.numpy())
    return out, arg


def add_relu_bwd_mask(graph, mask, g, need_x, need_e):
    """Gradients of a sum of ``relu(x_j + e_ij)`` messages from the forward pass's ``mask`` (see :func:`spmm`):
    ``(gx [N_src, F] or None, ge [E, F] or None)``."""
    n, f = g.size(0), mask.size(1)
    g_np, zero = _np(g).reshape(n, f), _scalar(0, g)
    gx = ge = None
    if need_x:
        gx = _memory.empty((graph.num_src_nodes, f), g.dtype)              # the kernel zeroes each row
        _add_relu_bwd_mask((graph.num_edges + n) * f, _np(graph.t_indptr), _np(graph.t_col), _np(graph.t_pos),
                           mask.numpy(), g_np, zero, gx.numpy())
    if need_e:
        ge = _memory.empty((graph.num_edges, f), g.dtype)                  # every row is written
        _add_relu_bwd_edge(graph.num_edges * f, _np(graph.edge_index[1]), _np(graph.pos), mask.numpy(), g_np,
                           zero, ge.numpy())
    return gx, ge


def sddmm(indptr, col, perm, g, x):
    gw = _memory.empty((perm.numel(), x.size(1)), x.dtype)                  # every edge is in one row
    work = col.numel() * math.prod(x.shape[1:])
    _sddmm(work, _np(indptr), _np(col), _np(perm), _np(g), _np(x), gw.numpy())
    return gw


def softmax_fwd(indptr, perm, s):
    _check(s)
    p = torch.empty_like(s)
    work = 3 * s.numel()
    _softmax_fwd(work, _np(indptr), _np(perm), _np(s), p.numpy())
    return p


def softmax_bwd(indptr, perm, p, g):
    gs = torch.empty_like(p)
    work = 2 * p.numel()
    _softmax_bwd(work, _np(indptr), _np(perm), _np(p), _np(g.to(p.dtype)), gs.numpy())
    return gs


def _scalar(value: float, like: Tensor):
    """``value`` as a numpy scalar of ``like``'s dtype (keeps float32 kernels in float32)."""
    return np.dtype(str(like.dtype).replace("torch.", "")).type(value)


def attn_fwd(indptr, col, perm, q, k, v, b, scale):
    """``(out [N, H, D], p [E, H])``: the attention weights, destination-sorted, are what the backward pass needs."""
    _check(q)
    heads = q.size(1)
    out = _memory.empty(tuple(q.shape), q.dtype)                            # the kernel zeroes each row
    p = _memory.empty((perm.numel(), heads), q.dtype)
    work = 2 * col.numel() * math.prod(q.shape[1:])
    _attn_fwd(work, _np(indptr), _np(col), _np(perm), _np(q), _np(k), _np(v),
              _np(b) if b is not None else _dummy(q, 2), b is not None, _scalar(scale, q), _scalar(0, q),
              _scalar(1, q), out.numpy(), p.numpy())
    return out, p


def attn_bwd(graph, q, k, v, b, scale, out, p, dout, need_b=True):
    heads = q.size(1)
    n_edges = graph.num_edges
    dout = dout.to(q.dtype).contiguous()
    dq, dk, dv = (_memory.empty(tuple(t.shape), t.dtype) for t in (q, k, v))  # the kernels zero each row
    ds = _memory.empty((n_edges, heads), q.dtype)              # original edge order: it is the bias gradient
    delta = torch.empty((q.size(0), heads), dtype=q.dtype)
    sc, zero = _scalar(scale, q), _scalar(0, q)
    _attn_delta(out.numel(), _np(dout), _np(out), zero, delta.numpy())
    work = 2 * n_edges * math.prod(q.shape[1:])
    _attn_bwd_src(work, _np(graph.t_indptr), _np(graph.t_col), _np(graph.t_perm), _np(graph.t_pos), _np(q), _np(v),
                  dout.numpy(), _np(p), delta.numpy(), sc, zero, dk.numpy(), dv.numpy(), ds.numpy())
    _attn_bwd_dst(work, _np(graph.indptr), _np(graph.col), _np(graph.perm), _np(k), ds.numpy(), sc, dq.numpy())
    return dq, dk, dv, (ds if need_b else None)


# ------------------------------------------------------------------------------------------- backend entry points
_kernels = sys.modules[__name__]


def gather_scatter(x: Tensor, graph: CSRGraph, w: Tensor | None, e: Tensor | None, message: str,
                   reduce: str) -> Tensor:
    return _autograd.gather_scatter(_kernels, x, graph, w, e, message, reduce)


def segment_softmax(s: Tensor, graph: CSRGraph) -> Tensor:
    return _autograd.segment_softmax(_kernels, s, graph)


def edge_attention(q: Tensor, k: Tensor, v: Tensor, graph: CSRGraph, b: Tensor | None, scale: float) -> Tensor:
    return _autograd.edge_attention(_kernels, q, k, v, graph, b, scale)

