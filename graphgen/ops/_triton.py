"""Triton backend: CSR kernels for CUDA tensors, forward and backward, one program per (destination row, head,
feature block). A program walks its row's edges in tiles of ``BLOCK_E`` edges and reduces each tile while it is in
registers, so the E x F message tensor never exists in memory.

On a machine without a GPU the same kernels run on CPU tensors under ``TRITON_INTERPRET=1`` (set before triton is
imported); that is how CI checks them. Autograd is shared with the numba backend (:mod:`graphgen.ops._autograd`).
"""
from __future__ import annotations

import os
import sys

import torch
import triton
import triton.language as tl
from torch import Tensor

from . import _autograd
from .graph import CSRGraph, InputTypeError

_MESSAGE = {"copy": 0, "mul": 1, "add_relu": 2}
_REDUCE = {"sum": 0, "mean": 1, "max": 2, "min": 3}
BLOCK_E = 16


# ------------------------------------------------------------------------------------------------------ kernels
@triton.jit
def _spmm_kernel(indptr_ptr, col_ptr, perm_ptr, x_ptr, w_ptr, e_ptr, out_ptr, arg_ptr, H, D,
                 MSG: tl.constexpr, REDUCE: tl.constexpr, BLOCK_E: tl.constexpr, BLOCK_D: tl.constexpr):
    # out[i, h, d] = reduce_{k in row i} msg(x[col[k], h, d], w[perm[k], h], e[perm[k], h, d])
    # NaN as torch: relu keeps it, and the first NaN message of a row is the row's max / min (tl.max, tl.maximum and
    # comparisons would drop it, so each tile's NaNs are found explicitly).
    i = tl.program_id(0)
    h = tl.program_id(1)
    offs_d = tl.program_id(2) * BLOCK_D + tl.arange(0, BLOCK_D)
    mask_d = offs_d < D
    start = tl.load(indptr_ptr + i)
    end = tl.load(indptr_ptr + i + 1)
    zero = tl.zeros([BLOCK_D], dtype=out_ptr.dtype.element_ty)
    if REDUCE == 2:
        acc = zero - float("inf")
    elif REDUCE == 3:
        acc = zero + float("inf")
    else:
        acc = zero
    arg = tl.full([BLOCK_D], -1, dtype=tl.int64)
    for k0 in range(start, end, BLOCK_E):
        offs_e = k0 + tl.arange(0, BLOCK_E)
        mask_e = offs_e < end
        mask = mask_e[:, None] & mask_d[None, :]
        j = tl.load(col_ptr + offs_e, mask=mask_e, other=0)
        tile = tl.load(x_ptr + (j[:, None] * H + h) * D + offs_d[None, :], mask=mask, other=0.0)
        if MSG != 0:
            eid = tl.load(perm_ptr + offs_e, mask=mask_e, other=0)
            if MSG == 1:
                wv = tl.load(w_ptr + eid * H + h, mask=mask_e, other=0.0)
                tile = tile * wv[:, None]
            else:
                ev = tl.load(e_ptr + (eid[:, None] * H + h) * D + offs_d[None, :], mask=mask, other=0.0)
                tile = tile + ev
                tile = tl.where(tile <= 0.0, 0.0, tile)
        if REDUCE <= 1:
            acc += tl.sum(tile, axis=0)
        else:
            is_nan = (tile != tile) & mask
            nan_pos = tl.argmax(is_nan.to(tl.int32), axis=0, tie_break_left=True)    # first NaN of the tile
            new_nan = (tl.max(is_nan.to(tl.int32), axis=0) > 0) & (acc == acc)      # and the row had none yet
            if REDUCE == 2:
                tile = tl.where(mask & ~is_nan, tile, float("-inf"))
                best = tl.max(tile, axis=0)
                pos = tl.argmax(tile, axis=0, tie_break_left=True)
                better = best > acc
            else:
                tile = tl.where(mask & ~is_nan, tile, float("inf"))
                best = tl.min(tile, axis=0)
                pos = tl.argmin(tile, axis=0, tie_break_left=True)
                better = best < acc
            best = tl.where(new_nan, float("nan"), best)
            pos = tl.where(new_nan, nan_pos, pos)
            better = better | new_nan
            best_eid = tl.load(perm_ptr + k0 + pos, mask=mask_d, other=0)
            acc = tl.where(better, best, acc)
            arg = tl.where(better, best_eid, arg)
    count = end - start
    if REDUCE == 1:
        acc = acc / tl.maximum(count, 1).to(acc.dtype)
    if REDUCE >= 2:
        acc = tl.where(count > 0, acc, 0.0)
        tl.store(arg_ptr + (i * H + h) * D + offs_d, arg, mask=mask_d)
    tl.store(out_ptr + (i * H + h) * D + offs_d, acc, mask=mask_d)


@triton.jit
def _add_relu_bwd_kernel(t_indptr_ptr, t_col_ptr, t_perm_ptr, x_ptr, e_ptr, g_ptr, gx_ptr, ge_ptr, H, D,
                         NEED_E: tl.constexpr, BLOCK_E: tl.constexpr, BLOCK_D: tl.constexpr):
    # source row j: gx[j] = sum_{j -> i} g[i] * [x_j + e_ij > 0];  ge[ij] = g[i] * [x_j + e_ij > 0]
    j = tl.program_id(0)
    h = tl.program_id(1)
    offs_d = tl.program_id(2) * BLOCK_D + tl.arange(0, BLOCK_D)
    mask_d = offs_d < D
    start = tl.load(t_indptr_ptr + j)
    end = tl.load(t_indptr_ptr + j + 1)
    xv = tl.load(x_ptr + (j * H + h) * D + offs_d, mask=mask_d, other=0.0)
    acc = tl.zeros([BLOCK_D], dtype=gx_ptr.dtype.element_ty)
    for k0 in range(start, end, BLOCK_E):
        offs_e = k0 + tl.arange(0, BLOCK_E)
        mask_e = offs_e < end
        mask = mask_e[:, None] & mask_d[None, :]
        i = tl.load(t_col_ptr + offs_e, mask=mask_e, other=0)
        eid = tl.load(t_perm_ptr + offs_e, mask=mask_e, other=0)
        ev = tl.load(e_ptr + (eid[:, None] * H + h) * D + offs_d[None, :], mask=mask, other=0.0)
        gv = tl.load(g_ptr + (i[:, None] * H + h) * D + offs_d[None, :], mask=mask, other=0.0)
        gv = tl.where(xv[None, :] + ev <= 0, 0.0, gv)              # relu' as torch's: 1 at NaN
        acc += tl.sum(gv, axis=0)
        if NEED_E:
            tl.store(ge_ptr + (eid[:, None] * H + h) * D + offs_d[None, :], gv, mask=mask)
    tl.store(gx_ptr + (j * H + h) * D + offs_d, acc, mask=mask_d)


@triton.jit
def _sddmm_kernel(indptr_ptr, col_ptr, perm_ptr, g_ptr, x_ptr, gw_ptr, H, D,
                  BLOCK_E: tl.constexpr, BLOCK_D: tl.constexpr):
    # gw[perm[k], h] = <g[i, h, :], x[col[k], h, :]>
    i = tl.program_id(0)
    h = tl.program_id(1)
    offs_d = tl.arange(0, BLOCK_D)
    mask_d = offs_d < D
    start = tl.load(indptr_ptr + i)
    end = tl.load(indptr_ptr + i + 1)
    gv = tl.load(g_ptr + (i * H + h) * D + offs_d, mask=mask_d, other=0.0)
    for k0 in range(start, end, BLOCK_E):
        offs_e = k0 + tl.arange(0, BLOCK_E)
        mask_e = offs_e < end
        j = tl.load(col_ptr + offs_e, mask=mask_e, other=0)
        eid = tl.load(perm_ptr + offs_e, mask=mask_e, other=0)
        tile = tl.load(x_ptr + (j[:, None] * H + h) * D + offs_d[None, :], mask=mask_e[:, None] & mask_d[None, :],
                       other=0.0)
        tl.store(gw_ptr + eid * H + h, tl.sum(tile * gv[None, :], axis=1), mask=mask_e)


@triton.jit
def _softmax_fwd_kernel(indptr_ptr, perm_ptr, s_ptr, p_ptr, H, BLOCK_E: tl.constexpr):
    i = tl.program_id(0)
    h = tl.program_id(1)
    start = tl.load(indptr_ptr + i)
    end = tl.load(indptr_ptr + i + 1)
    m = tl.full([BLOCK_E], float("-inf"), dtype=p_ptr.dtype.element_ty)
    for k0 in range(start, end, BLOCK_E):                       # pass 1: row maximum
        offs_e = k0 + tl.arange(0, BLOCK_E)
        mask_e = offs_e < end
        eid = tl.load(perm_ptr + offs_e, mask=mask_e, other=0)
        s = tl.load(s_ptr + eid * H + h, mask=mask_e, other=float("-inf"))
        m = tl.maximum(m, s)
    row_max = tl.max(m, axis=0)
    total = tl.zeros([BLOCK_E], dtype=p_ptr.dtype.element_ty)
    for k0 in range(start, end, BLOCK_E):                       # pass 2: sum of exponentials
        offs_e = k0 + tl.arange(0, BLOCK_E)
        mask_e = offs_e < end
        eid = tl.load(perm_ptr + offs_e, mask=mask_e, other=0)
        s = tl.load(s_ptr + eid * H + h, mask=mask_e, other=float("-inf"))
        total += tl.where(mask_e, tl.exp(s - row_max), 0.0)
    denom = tl.sum(total, axis=0)
    for k0 in range(start, end, BLOCK_E):                       # pass 3: normalised weights
        offs_e = k0 + tl.arange(0, BLOCK_E)
        mask_e = offs_e < end
        eid = tl.load(perm_ptr + offs_e, mask=mask_e, other=0)
        s = tl.load(s_ptr + eid * H + h, mask=mask_e, other=float("-inf"))
        tl.store(p_ptr + eid * H + h, tl.exp(s - row_max) / denom, mask=mask_e)


@triton.jit
def _softmax_bwd_kernel(indptr_ptr, perm_ptr, p_ptr, g_ptr, gs_ptr, H, BLOCK_E: tl.constexpr):
    # gs = p * (g - sum_row p * g)
    i = tl.program_id(0)
    h = tl.program_id(1)
    start = tl.load(indptr_ptr + i)
    end = tl.load(indptr_ptr + i + 1)
    dot = tl.zeros([BLOCK_E], dtype=gs_ptr.dtype.element_ty)
    for k0 in range(start, end, BLOCK_E):
        offs_e = k0 + tl.arange(0, BLOCK_E)
        mask_e = offs_e < end
        eid = tl.load(perm_ptr + offs_e, mask=mask_e, other=0)
        dot += tl.load(p_ptr + eid * H + h, mask=mask_e, other=0.0) * tl.load(g_ptr + eid * H + h, mask=mask_e,
                                                                             other=0.0)
    row_dot = tl.sum(dot, axis=0)
    for k0 in range(start, end, BLOCK_E):
        offs_e = k0 + tl.arange(0, BLOCK_E)
        mask_e = offs_e < end
        eid = tl.load(perm_ptr + offs_e, mask=mask_e, other=0)
        p = tl.load(p_ptr + eid * H + h, mask=mask_e, other=0.0)
        g = tl.load(g_ptr + eid * H + h, mask=mask_e, other=0.0)
        tl.store(gs_ptr + eid * H + h, p * (g - row_dot), mask=mask_e)


@triton.jit
def _attn_fwd_kernel(indptr_ptr, col_ptr, perm_ptr, q_ptr, k_ptr, v_ptr, b_ptr, out_ptr, lse_ptr, scale, H, D,
                     HAS_BIAS: tl.constexpr, BLOCK_E: tl.constexpr, BLOCK_D: tl.constexpr):
    # online softmax over the row's edges: running max m, running denominator l, running weighted sum acc
    i = tl.program_id(0)
    h = tl.program_id(1)
    offs_d = tl.arange(0, BLOCK_D)
    mask_d = offs_d < D
    start = tl.load(indptr_ptr + i)
    end = tl.load(indptr_ptr + i + 1)
    qv = tl.load(q_ptr + (i * H + h) * D + offs_d, mask=mask_d, other=0.0)
    acc = tl.zeros([BLOCK_D], dtype=out_ptr.dtype.element_ty)
    m = tl.max(acc, axis=0) - float("inf")
    l = tl.sum(acc, axis=0)
    for k0 in range(start, end, BLOCK_E):
        offs_e = k0 + tl.arange(0, BLOCK_E)
        mask_e = offs_e < end
        mask = mask_e[:, None] & mask_d[None, :]
        j = tl.load(col_ptr + offs_e, mask=mask_e, other=0)
        kt = tl.load(k_ptr + (j[:, None] * H + h) * D + offs_d[None, :], mask=mask, other=0.0)
        s = tl.sum(kt * qv[None, :], axis=1) * scale                       # [BLOCK_E]
        if HAS_BIAS:
            eid = tl.load(perm_ptr + offs_e, mask=mask_e, other=0)
            s += tl.load(b_ptr + eid * H + h, mask=mask_e, other=0.0)
        s = tl.where(mask_e, s, float("-inf"))
        m_new = tl.maximum(m, tl.max(s, axis=0))
        corr = tl.exp(m - m_new)
        p = tl.where(mask_e, tl.exp(s - m_new), 0.0)
        vt = tl.load(v_ptr + (j[:, None] * H + h) * D + offs_d[None, :], mask=mask, other=0.0)
        acc = acc * corr + tl.sum(p[:, None] * vt, axis=0)
        l = l * corr + tl.sum(p, axis=0)
        m = m_new
    has = end > start
    out = tl.where(has, acc / tl.where(has, l, 1.0), 0.0)
    tl.store(out_ptr + (i * H + h) * D + offs_d, out, mask=mask_d)
    tl.store(lse_ptr + i * H + h, tl.where(has, m + tl.log(tl.where(has, l, 1.0)), 0.0))


@triton.jit
def _attn_bwd_dst_kernel(indptr_ptr, col_ptr, perm_ptr, q_ptr, k_ptr, v_ptr, b_ptr, out_ptr, lse_ptr, dout_ptr,
                         dq_ptr, p_ptr, ds_ptr, scale, H, D,
                         HAS_BIAS: tl.constexpr, BLOCK_E: tl.constexpr, BLOCK_D: tl.constexpr):
    # p_ij = exp(s_ij - lse_i); ds_ij = p_ij (<dout_i, v_j> - <dout_i, out_i>); dq_i = scale sum_j ds_ij k_j
    i = tl.program_id(0)
    h = tl.program_id(1)
    offs_d = tl.arange(0, BLOCK_D)
    mask_d = offs_d < D
    start = tl.load(indptr_ptr + i)
    end = tl.load(indptr_ptr + i + 1)
    base = (i * H + h) * D
    qv = tl.load(q_ptr + base + offs_d, mask=mask_d, other=0.0)
    dov = tl.load(dout_ptr + base + offs_d, mask=mask_d, other=0.0)
    delta = tl.sum(dov * tl.load(out_ptr + base + offs_d, mask=mask_d, other=0.0), axis=0)
    lse = tl.load(lse_ptr + i * H + h)
    dq = tl.zeros([BLOCK_D], dtype=dq_ptr.dtype.element_ty)
    for k0 in range(start, end, BLOCK_E):
        offs_e = k0 + tl.arange(0, BLOCK_E)
        mask_e = offs_e < end
        mask = mask_e[:, None] & mask_d[None, :]
        j = tl.load(col_ptr + offs_e, mask=mask_e, other=0)
        eid = tl.load(perm_ptr + offs_e, mask=mask_e, other=0)
        kt = tl.load(k_ptr + (j[:, None] * H + h) * D + offs_d[None, :], mask=mask, other=0.0)
        vt = tl.load(v_ptr + (j[:, None] * H + h) * D + offs_d[None, :], mask=mask, other=0.0)
        s = tl.sum(kt * qv[None, :], axis=1) * scale
        if HAS_BIAS:
            s += tl.load(b_ptr + eid * H + h, mask=mask_e, other=0.0)
        p = tl.where(mask_e, tl.exp(s - lse), 0.0)
        ds = p * (tl.sum(vt * dov[None, :], axis=1) - delta)
        tl.store(p_ptr + eid * H + h, p, mask=mask_e)
        tl.store(ds_ptr + eid * H + h, ds, mask=mask_e)
        dq += tl.sum(ds[:, None] * kt, axis=0) * scale
    tl.store(dq_ptr + base + offs_d, dq, mask=mask_d)


@triton.jit
def _attn_bwd_src_kernel(t_indptr_ptr, t_col_ptr, t_perm_ptr, q_ptr, dout_ptr, p_ptr, ds_ptr, dk_ptr, dv_ptr,
                         scale, H, D, BLOCK_E: tl.constexpr, BLOCK_D: tl.constexpr):
    # dk_j = scale sum_{j -> i} ds_ij q_i;  dv_j = sum_{j -> i} p_ij dout_i
    j = tl.program_id(0)
    h = tl.program_id(1)
    offs_d = tl.arange(0, BLOCK_D)
    mask_d = offs_d < D
    start = tl.load(t_indptr_ptr + j)
    end = tl.load(t_indptr_ptr + j + 1)
    dk = tl.zeros([BLOCK_D], dtype=dk_ptr.dtype.element_ty)
    dv = tl.zeros([BLOCK_D], dtype=dv_ptr.dtype.element_ty)
    for k0 in range(start, end, BLOCK_E):
        offs_e = k0 + tl.arange(0, BLOCK_E)
        mask_e = offs_e < end
        mask = mask_e[:, None] & mask_d[None, :]
        i = tl.load(t_col_ptr + offs_e, mask=mask_e, other=0)
        eid = tl.load(t_perm_ptr + offs_e, mask=mask_e, other=0)
        ds = tl.load(ds_ptr + eid * H + h, mask=mask_e, other=0.0)
        p = tl.load(p_ptr + eid * H + h, mask=mask_e, other=0.0)
        qt = tl.load(q_ptr + (i[:, None] * H + h) * D + offs_d[None, :], mask=mask, other=0.0)
        dot = tl.load(dout_ptr + (i[:, None] * H + h) * D + offs_d[None, :], mask=mask, other=0.0)
        dk += tl.sum(ds[:, None] * qt, axis=0) * scale
        dv += tl.sum(p[:, None] * dot, axis=0)
    tl.store(dk_ptr + (j * H + h) * D + offs_d, dk, mask=mask_d)
    tl.store(dv_ptr + (j * H + h) * D + offs_d, dv, mask=mask_d)


# ------------------------------------------------------------------------------------------ the kernel interface
def _check(x: Tensor) -> None:
    if x.device.type == "cpu" and os.environ.get("TRITON_INTERPRET") != "1":
        raise RuntimeError("graphgen.ops backend 'triton' needs CUDA tensors; for CPU tensors set TRITON_INTERPRET=1 "
                           "before importing triton (slow, for testing) or use backend='cpu'")
    if x.dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        raise InputTypeError(f"graphgen.ops backend 'triton' needs a floating dtype, got {x.dtype}")
    if x.dtype == torch.bfloat16 and x.device.type == "cpu":
        # the interpreter has no bfloat16 arithmetic: 1 + 2 came out as inf (triton 3.9), so refuse, not mislead
        raise InputTypeError("graphgen.ops backend 'triton' cannot run bfloat16 under TRITON_INTERPRET=1 (the "
                             "interpreter computes it wrongly); use float16 / float32 or backend='cpu'")


def _block_d(dim: int, cap: int | None = 128) -> int:
    block = triton.next_power_of_2(max(dim, 1))
    return min(block, cap) if cap else block


def spmm(indptr, col, perm, x, w, e, message, reduce):
    _check(x)
    n_rows, heads, dim = indptr.numel() - 1, x.size(1), x.size(2)
    out = torch.empty((n_rows, heads, dim), dtype=x.dtype, device=x.device)
    maxmin = reduce in ("max", "min")
    arg = torch.empty(out.shape, dtype=torch.long, device=x.device) if maxmin else None
    block_d = _block_d(dim)
    if n_rows > 0 and heads * dim > 0:
        grid = (n_rows, heads, triton.cdiv(dim, block_d))
        _spmm_kernel[grid](indptr, col, perm, x, w if w is not None else x, e if e is not None else x, out,
                           arg if maxmin else indptr, heads, dim, MSG=_MESSAGE[message], REDUCE=_REDUCE[reduce],
                           BLOCK_E=BLOCK_E, BLOCK_D=block_d)
    elif maxmin:
        out.zero_()
        arg.fill_(-1)
    else:
        out.zero_()
    return out, arg


def add_relu_bwd(t_indptr, t_col, t_perm, x, e, g, need_e):
    n_src, heads, dim = x.shape
    gx = torch.zeros_like(x)
    ge = torch.zeros_like(e) if need_e else None
    block_d = _block_d(dim)
    if n_src > 0 and heads * dim > 0:
        grid = (n_src, heads, triton.cdiv(dim, block_d))
        _add_relu_bwd_kernel[grid](t_indptr, t_col, t_perm, x, e, g, gx, ge if need_e else gx, heads, dim,
                                   NEED_E=need_e, BLOCK_E=BLOCK_E, BLOCK_D=block_d)
    return gx, ge


def sddmm(indptr, col, perm, g, x):
    n_rows, heads, dim = g.shape
    gw = torch.zeros((perm.numel(), heads), dtype=x.dtype, device=x.device)
    if n_rows > 0 and heads > 0:
        _sddmm_kernel[(n_rows, heads)](indptr, col, perm, g, x, gw, heads, dim, BLOCK_E=BLOCK_E,
                                       BLOCK_D=_block_d(dim, None))
    return gw


def softmax_fwd(indptr, perm, s):
    _check(s)
    p = torch.empty_like(s)
    n_rows, heads = indptr.numel() - 1, s.size(1)
    if n_rows > 0 and heads > 0 and s.numel() > 0:
        _softmax_fwd_kernel[(n_rows, heads)](indptr, perm, s, p, heads, BLOCK_E=BLOCK_E)
    return p


def softmax_bwd(indptr, perm, p, g):
    gs = torch.empty_like(p)
    n_rows, heads = indptr.numel() - 1, p.size(1)
    if n_rows > 0 and heads > 0 and p.numel() > 0:
        _softmax_bwd_kernel[(n_rows, heads)](indptr, perm, p, g.to(p.dtype), gs, heads, BLOCK_E=BLOCK_E)
    return gs


def attn_fwd(indptr, col, perm, q, k, v, b, scale):
    _check(q)
    n_rows, heads, dim = q.shape
    out = torch.zeros_like(q)
    lse = torch.zeros((n_rows, heads), dtype=q.dtype, device=q.device)
    if n_rows > 0 and heads * dim > 0:
        _attn_fwd_kernel[(n_rows, heads)](indptr, col, perm, q, k, v, b if b is not None else q, out, lse, scale,
                                          heads, dim, HAS_BIAS=b is not None, BLOCK_E=BLOCK_E,
                                          BLOCK_D=_block_d(dim, None))
    return out, lse


def attn_bwd(graph, q, k, v, b, scale, out, lse, dout, need_b=True):
    indptr, col, perm, t_indptr, t_col, t_perm = (graph.indptr, graph.col, graph.perm, graph.t_indptr, graph.t_col,
                                                  graph.t_perm)
    n_rows, heads, dim = q.shape
    n_src = k.size(0)
    dq, dk, dv = torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)
    p_e = torch.zeros((perm.numel(), heads), dtype=q.dtype, device=q.device)
    ds_e = torch.zeros((perm.numel(), heads), dtype=q.dtype, device=q.device)
    dout = dout.to(q.dtype)
    block_d = _block_d(dim, None)
    if n_rows > 0 and heads * dim > 0:
        _attn_bwd_dst_kernel[(n_rows, heads)](indptr, col, perm, q, k, v, b if b is not None else q, out, lse, dout,
                                              dq, p_e, ds_e, scale, heads, dim, HAS_BIAS=b is not None,
                                              BLOCK_E=BLOCK_E, BLOCK_D=block_d)
    if n_src > 0 and heads * dim > 0:
        _attn_bwd_src_kernel[(n_src, heads)](t_indptr, t_col, t_perm, q, dout, p_e, ds_e, dk, dv, scale, heads, dim,
                                             BLOCK_E=BLOCK_E, BLOCK_D=block_d)
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
