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
from numba import njit, prange
from torch import Tensor

from . import _autograd
from .graph import CSRGraph

_MESSAGE = {"copy": 0, "mul": 1, "add_relu": 2}
# Below this many scalar updates a kernel runs on one thread: waking a thread pool costs more than the work
# (and on a busy machine a parallel launch can wait milliseconds for a core).
PARALLEL_MIN_WORK = 1 << 16

# numba's default threading layer is OpenMP when TBB is missing. Its OpenMP runtime and torch's do not coexist: after
# the first parallel numba launch every later torch op of the process ran ~250x slower on a shared 2-core machine
# (a 730 x 64 add went from 20 us to 8 ms, one GPS training step from 0.2 s to 7 s). The workqueue layer has its own
# small pool and no such interaction; an explicit NUMBA_THREADING_LAYER(_PRIORITY) still wins.
if "NUMBA_THREADING_LAYER" not in os.environ and "NUMBA_THREADING_LAYER_PRIORITY" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"


class _kernel:
    """A numba kernel compiled twice, lazily and cached on disk: ``parallel=True`` (``prange`` over rows) for large
    inputs and serial (``prange`` acts as ``range``) for small ones. Call as ``kernel(work, *args)``."""

    def __init__(self, fn):
        self.__name__ = fn.__name__
        self.parallel = njit(parallel=True, cache=True, nogil=True)(fn)
        serial_fn = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_serial", fn.__defaults__,
                                       fn.__closure__)
        serial_fn.__qualname__ = fn.__qualname__ + "_serial"   # its own on-disk cache entry
        self.serial = njit(cache=True, nogil=True)(serial_fn)

    def __call__(self, work: int, *args) -> None:
        # torch's thread budget (torch.set_num_threads, OMP_NUM_THREADS) is graphgen's too: one thread = serial
        if work >= PARALLEL_MIN_WORK and torch.get_num_threads() > 1:
            self.parallel(*args)
        else:
            self.serial(*args)


# --------------------------------------------------------------------------------------------------- numba kernels
@_kernel
def _spmm_sum(indptr, col, perm, x, w, e, msg, mean, out):  # pragma: no cover - compiled
    n_rows = indptr.shape[0] - 1
    heads, dim = x.shape[1], x.shape[2]
    for i in prange(n_rows):
        start, end = indptr[i], indptr[i + 1]
        for k in range(start, end):
            j = col[k]
            if msg == 0:                                     # copy: x_j
                for h in range(heads):
                    for d in range(dim):
                        out[i, h, d] += x[j, h, d]
            elif msg == 1:                                   # mul: w_ij * x_j
                eid = perm[k]
                for h in range(heads):
                    c = w[eid, h]
                    for d in range(dim):
                        out[i, h, d] += c * x[j, h, d]
            else:                                            # add_relu: relu(x_j + e_ij)
                eid = perm[k]
                for h in range(heads):
                    for d in range(dim):
                        val = x[j, h, d] + e[eid, h, d]
                        if val > 0:
                            out[i, h, d] += val
        if mean and end > start:
            inv = 1.0 / (end - start)
            for h in range(heads):
                for d in range(dim):
                    out[i, h, d] *= inv


@_kernel
def _spmm_maxmin(indptr, col, perm, x, w, e, msg, sign, out, arg):  # pragma: no cover - compiled
    n_rows = indptr.shape[0] - 1
    heads, dim = x.shape[1], x.shape[2]
    for i in prange(n_rows):
        start, end = indptr[i], indptr[i + 1]
        for k in range(start, end):
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
                    if k == start or sign * val > sign * out[i, h, d]:   # first edge wins ties
                        out[i, h, d] = val
                        arg[i, h, d] = eid


@_kernel
def _add_relu_bwd(t_indptr, t_col, t_perm, x, e, g, need_e, gx, ge):  # pragma: no cover - compiled
    n_src = t_indptr.shape[0] - 1
    heads, dim = x.shape[1], x.shape[2]
    for j in prange(n_src):
        for k in range(t_indptr[j], t_indptr[j + 1]):
            i = t_col[k]
            eid = t_perm[k]
            for h in range(heads):
                for d in range(dim):
                    if x[j, h, d] + e[eid, h, d] > 0:
                        gv = g[i, h, d]
                        gx[j, h, d] += gv
                        if need_e:
                            ge[eid, h, d] = gv
                    elif need_e:
                        ge[eid, h, d] = 0.0


@_kernel
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


@_kernel
def _attn_fwd(indptr, col, perm, q, kk, v, b, has_bias, scale, out, p_e):  # pragma: no cover - compiled
    # per (destination row, head): online softmax over the row's edges (running max m, running denominator,
    # out rescaled when m grows), then the normalised weights p_ij into p_e (E x H, kept for the backward pass).
    n_rows = indptr.shape[0] - 1
    heads, dim = q.shape[1], q.shape[2]
    for i in prange(n_rows):
        start, end = indptr[i], indptr[i + 1]
        for h in range(heads):
            m = -np.inf
            total = 0.0
            for k in range(start, end):
                j = col[k]
                s = 0.0
                for d in range(dim):
                    s += q[i, h, d] * kk[j, h, d]
                s *= scale
                if has_bias:
                    s += b[perm[k], h]
                p_e[perm[k], h] = s
                if s > m:
                    corr = math.exp(m - s)
                    total *= corr
                    for d in range(dim):
                        out[i, h, d] *= corr
                    m = s
                pk = math.exp(s - m)
                total += pk
                for d in range(dim):
                    out[i, h, d] += pk * v[j, h, d]
            if total > 0:
                inv = 1.0 / total
                for d in range(dim):
                    out[i, h, d] *= inv
                for k in range(start, end):
                    p_e[perm[k], h] = math.exp(p_e[perm[k], h] - m) * inv


@_kernel
def _attn_bwd_dst(indptr, col, perm, kk, v, p_e, delta, scale, dout, dq, ds_e):  # pragma: no cover
    # ds_ij = p_ij (<dout_i, v_j> - delta_i) with delta_i = <dout_i, out_i>;  dq_i = scale sum_j ds_ij k_j
    n_rows = indptr.shape[0] - 1
    heads, dim = kk.shape[1], kk.shape[2]
    for i in prange(n_rows):
        for k in range(indptr[i], indptr[i + 1]):
            j = col[k]
            eid = perm[k]
            for h in range(heads):
                dp = 0.0
                for d in range(dim):
                    dp += dout[i, h, d] * v[j, h, d]
                ds = p_e[eid, h] * (dp - delta[i, h])
                ds_e[eid, h] = ds
                c = scale * ds
                for d in range(dim):
                    dq[i, h, d] += c * kk[j, h, d]


@_kernel
def _attn_bwd_src(t_indptr, t_col, t_perm, q, dout, p_e, ds_e, scale, dk, dv):  # pragma: no cover
    n_src = t_indptr.shape[0] - 1
    heads, dim = q.shape[1], q.shape[2]
    for j in prange(n_src):
        for k in range(t_indptr[j], t_indptr[j + 1]):
            i = t_col[k]
            eid = t_perm[k]
            for h in range(heads):
                c_k = scale * ds_e[eid, h]
                c_v = p_e[eid, h]
                for d in range(dim):
                    dk[j, h, d] += c_k * q[i, h, d]
                    dv[j, h, d] += c_v * dout[i, h, d]


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
        raise ValueError(f"graphgen.ops backend 'cpu' got a {x.device} tensor; use backend='triton' on CUDA")
    if x.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"graphgen.ops backend 'cpu' supports float32/float64, got {x.dtype}; cast with .float() "
                        "or use backend='reference'")


def spmm(indptr, col, perm, x, w, e, message, reduce):
    _check(x)
    n_rows = indptr.numel() - 1
    w_np = _np(w) if w is not None else _dummy(x, 2)
    e_np = _np(e) if e is not None else _dummy(x, 3)
    out = torch.zeros((n_rows,) + tuple(x.shape[1:]), dtype=x.dtype)
    work = (col.numel() + n_rows) * math.prod(x.shape[1:])
    if reduce in ("sum", "mean"):
        _spmm_sum(work, _np(indptr), _np(col), _np(perm), _np(x), w_np, e_np, _MESSAGE[message], reduce == "mean",
                  out.numpy())
        return out, None
    arg = torch.full(out.shape, -1, dtype=torch.long)
    sign = 1.0 if reduce == "max" else -1.0
    _spmm_maxmin(work, _np(indptr), _np(col), _np(perm), _np(x), w_np, e_np, _MESSAGE[message], sign, out.numpy(),
                 arg.numpy())
    return out, arg


def add_relu_bwd(t_indptr, t_col, t_perm, x, e, g, need_e):
    gx = torch.zeros_like(x)
    ge = torch.empty_like(e) if need_e else None
    work = (t_col.numel() + x.size(0)) * math.prod(x.shape[1:])
    _add_relu_bwd(work, _np(t_indptr), _np(t_col), _np(t_perm), _np(x), _np(e), _np(g), need_e, gx.numpy(),
                  ge.numpy() if need_e else _dummy(x, 3))
    return gx, ge


def sddmm(indptr, col, perm, g, x):
    gw = torch.zeros((perm.numel(), x.size(1)), dtype=x.dtype)
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


def attn_fwd(indptr, col, perm, q, k, v, b, scale):
    """``(out [N, H, D], p [E, H])``: the attention weights are what the backward pass needs."""
    _check(q)
    heads = q.size(1)
    out = torch.zeros_like(q)
    p_e = torch.empty((perm.numel(), heads), dtype=q.dtype)
    work = 2 * col.numel() * math.prod(q.shape[1:])
    _attn_fwd(work, _np(indptr), _np(col), _np(perm), _np(q), _np(k), _np(v),
              _np(b) if b is not None else _dummy(q, 2), b is not None, scale, out.numpy(), p_e.numpy())
    return out, p_e


def attn_bwd(indptr, col, perm, t_indptr, t_col, t_perm, q, k, v, b, scale, out, p_e, dout):
    heads = q.size(1)
    dout = dout.to(q.dtype).contiguous()
    dq, dk, dv = torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)
    ds_e = torch.empty((perm.numel(), heads), dtype=q.dtype)
    delta = (dout * out).sum(-1)                                            # [N_dst, H]
    work = 2 * col.numel() * math.prod(q.shape[1:])
    _attn_bwd_dst(work, _np(indptr), _np(col), _np(perm), _np(k), _np(v), _np(p_e), _np(delta), scale,
                  _np(dout), dq.numpy(), ds_e.numpy())
    _attn_bwd_src(work, _np(t_indptr), _np(t_col), _np(t_perm), _np(q), _np(dout), _np(p_e), ds_e.numpy(), scale,
                  dk.numpy(), dv.numpy())
    return dq, dk, dv, ds_e


# ------------------------------------------------------------------------------------------- backend entry points
_kernels = sys.modules[__name__]


def gather_scatter(x: Tensor, graph: CSRGraph, w: Tensor | None, e: Tensor | None, message: str,
                   reduce: str) -> Tensor:
    return _autograd.gather_scatter(_kernels, x, graph, w, e, message, reduce)


def segment_softmax(s: Tensor, graph: CSRGraph) -> Tensor:
    return _autograd.segment_softmax(_kernels, s, graph)


def edge_attention(q: Tensor, k: Tensor, v: Tensor, graph: CSRGraph, b: Tensor | None, scale: float) -> Tensor:
    return _autograd.edge_attention(_kernels, q, k, v, graph, b, scale)

