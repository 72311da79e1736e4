"""Autograd for the fused backends (``cpu`` = numba, ``triton``), written once over a small kernel interface.

A kernel module provides (node tensors ``[N, H, D]``, edge tensors in the original edge order, CSR arrays long):

- ``spmm(indptr, col, perm, x, w, e, message, reduce) -> (out [R, H, D], arg [R, H, D] or None)``:
  ``out_i = reduce_{k in indptr[i]:indptr[i+1]} msg(x[col[k]], w[perm[k]], e[perm[k]])``; for max/min ``arg`` holds the
  original edge id of the winning edge (-1 for an empty row). ``reduce`` in sum/mean/max/min.
- ``add_relu_bwd(t_indptr, t_col, t_perm, x, e, g, need_e) -> (gx, ge or None)``: gradient of a sum of
  ``relu(x_j + e_ij)`` messages, walking the outgoing edges of every source node (not needed by a backend that has
  the mask pair below).
- optionally ``spmm(..., save_mask=True) -> (out, mask [E, F] bool)`` for add_relu with sum/mean, and
  ``add_relu_bwd_mask(graph, mask, g, need_x, need_e) -> (gx or None, ge or None)``: the backward from relu' saved
  by the forward pass (``mask`` in destination-sorted edge order), used when the backend has it and a gradient is
  needed.
- ``sddmm(indptr, col, perm, g, x) -> gw [E, H]``: ``gw[e] = <g_i, x_j>`` per head (gradient of the edge weights).
- ``softmax_fwd(indptr, perm, s) -> p`` and ``softmax_bwd(indptr, perm, p, g) -> gs`` over ``[E, H]``.
- ``attn_fwd(indptr, col, perm, q, k, v, b, scale) -> (out, saved)`` and
  ``attn_bwd(graph, q, k, v, b, scale, out, saved, dout, need_b) -> (dq, dk, dv, db [E, H] or None)``; ``saved`` is
  what the backend keeps for its backward (numba: the weights ``[E, H]`` in destination-sorted order; Triton: the row
  log-sum-exp ``[N_dst, H]``).

The backward of ``x -> out`` is a forward ``spmm`` over the transposed CSR (``t_indptr, t_col, t_perm``): the
gradient of every source row is reduced while it is read, so no E x F buffer appears there either (except the
gradient of an ``[E, F]`` ``edge_attr``, which has that shape by definition). Max/min backward routes each output
element's gradient to its ``arg`` edge with one ``index_add_`` over ``N x F`` elements.

The kernels index memory with the graph's arrays unchecked, so every forward and backward first checks (O(1)) that
the graph was not edited in place since it was validated (:meth:`CSRGraph.check_unmodified`): a graph edited
between forward and backward is refused too.
"""
from __future__ import annotations

from types import ModuleType

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from .graph import CSRGraph


def _c(t: Tensor | None) -> Tensor | None:
    return None if t is None else t.detach().contiguous()


class GatherScatter(torch.autograd.Function):
    @staticmethod
    def forward(ctx, kernels: ModuleType, graph: CSRGraph, x: Tensor, w: Tensor | None, e: Tensor | None,
                message: str, reduce: str) -> Tensor:
        graph.check_unmodified("gather_scatter")
        x_, w_, e_ = _c(x), _c(w), _c(e)
        heads, dim = x.size(1), x.size(2)
        flat = message != "mul" and heads > 1          # heads only matter for per-head weights: use one long row
        if flat:
            x_ = x_.view(x_.size(0), 1, heads * dim)
            e_ = None if e_ is None else e_.view(e_.size(0), 1, heads * dim)
        # a backend that can keep relu' of every add_relu message (one byte each) does so when a gradient is needed:
        # its backward then reads that mask instead of gathering edge_attr again
        save_mask = (message == "add_relu" and reduce in ("sum", "mean") and hasattr(kernels, "add_relu_bwd_mask")
                     and any(ctx.needs_input_grad[2:5]))
        if save_mask:
            out, mask = kernels.spmm(graph.indptr, graph.col, graph.perm, x_, w_, e_, message, reduce, save_mask=True)
            x_ = e_ = arg = None                                   # the mask is all the backward pass needs
        else:
            out, arg = kernels.spmm(graph.indptr, graph.col, graph.perm, x_, w_, e_, message, reduce)
            mask = None
        ctx.kernels, ctx.graph, ctx.message, ctx.reduce, ctx.flat = kernels, graph, message, reduce, flat
        ctx.save_for_backward(x_, w_, e_, out if reduce in ("max", "min") else None, arg, mask)
        return out.view(out.size(0), heads, dim)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        kernels, graph, message, reduce = ctx.kernels, ctx.graph, ctx.message, ctx.reduce
        graph.check_unmodified("gather_scatter backward")
        x, w, e, out, arg, mask = ctx.saved_tensors
        g = grad_out.contiguous()
        heads, dim = g.size(1), g.size(2)
        if ctx.flat:
            g = g.view(g.size(0), 1, heads * dim)
        need_x, need_w, need_e = ctx.needs_input_grad[2], ctx.needs_input_grad[3], ctx.needs_input_grad[4]
        gx = gw = ge = None
        if reduce in ("sum", "mean"):
            if reduce == "mean":                                  # d mean / d msg = 1 / deg
                deg = graph.in_degree.clamp(min=1).to(g.dtype)
                g = g / deg.view(-1, 1, 1)
            if message == "add_relu" and mask is not None:
                gx, ge = kernels.add_relu_bwd_mask(graph, mask, g, need_x, need_e)
            elif message == "add_relu":
                gx, ge = kernels.add_relu_bwd(graph.t_indptr, graph.t_col, graph.t_perm, x, e, g, need_e)
            else:
                if need_x:
                    gx, _ = kernels.spmm(graph.t_indptr, graph.t_col, graph.t_perm, g, w, None, message, "sum")
                if message == "mul" and need_w:
                    gw = kernels.sddmm(graph.indptr, graph.col, graph.perm, g, x)
        else:
            gx, gw, ge = _maxmin_backward(graph, message, x, w, e, out, arg, g, need_x, need_w, need_e)
        gx = gx.view(gx.size(0), heads, dim) if need_x else None
        ge = ge.view(ge.size(0), heads, dim) if need_e else None
        return None, None, gx, gw, ge, None, None


def _maxmin_backward(graph: CSRGraph, message: str, x: Tensor, w: Tensor | None, e: Tensor | None, out: Tensor,
                     arg: Tensor, g: Tensor, need_x: bool, need_w: bool, need_e: bool):
    """Send ``g[i, h, d]`` to the edge ``arg[i, h, d]`` that won the max/min (nothing for empty rows)."""
    n_dst, heads, dim = g.shape
    if graph.num_edges == 0:                                      # nothing won: every gradient is zero
        return (torch.zeros_like(x), None if w is None else torch.zeros_like(w),
                None if e is None else torch.zeros_like(e))
    valid = arg >= 0
    eid = arg.clamp(min=0)                                        # [N_dst, H, D] original edge ids
    src = graph.edge_index[0][eid]                                # [N_dst, H, D] winning source node
    h_idx = torch.arange(heads, device=g.device).view(1, -1, 1)
    d_idx = torch.arange(dim, device=g.device).view(1, 1, -1)
    gv = torch.where(valid, g, torch.zeros((), dtype=g.dtype, device=g.device))
    if message == "add_relu":
        gv = gv * (out > 0)                                       # relu'(.) at the winning message
    gx = gw = ge = None
    if need_x:
        coef = gv * w[eid, h_idx] if message == "mul" else gv
        gx = torch.zeros_like(x).view(-1).index_add_(0, ((src * heads + h_idx) * dim + d_idx).view(-1),
                                                      coef.reshape(-1)).view_as(x)
    if message == "mul" and need_w:
        contrib = gv * x[src, h_idx, d_idx]                       # [N_dst, H, D]
        gw = torch.zeros_like(w).view(-1).index_add_(0, (eid * heads + h_idx).expand_as(eid).reshape(-1),
                                                      contrib.reshape(-1)).view_as(w)
    if message == "add_relu" and need_e:
        ge = torch.zeros_like(e).view(-1).index_add_(0, ((eid * heads + h_idx) * dim + d_idx).view(-1),
                                                     gv.reshape(-1)).view_as(e)
    return gx, gw, ge


class SegmentSoftmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, kernels: ModuleType, graph: CSRGraph, s: Tensor) -> Tensor:
        graph.check_unmodified("segment_softmax")
        p = kernels.softmax_fwd(graph.indptr, graph.perm, _c(s))
        ctx.kernels, ctx.graph = kernels, graph
        ctx.save_for_backward(p)
        return p

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_p: Tensor):
        (p,) = ctx.saved_tensors
        ctx.graph.check_unmodified("segment_softmax backward")
        return None, None, ctx.kernels.softmax_bwd(ctx.graph.indptr, ctx.graph.perm, p, grad_p.contiguous())


class EdgeAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, kernels: ModuleType, graph: CSRGraph, q: Tensor, k: Tensor, v: Tensor, b: Tensor | None,
                scale: float) -> Tensor:
        graph.check_unmodified("edge_attention")
        q_, k_, v_, b_ = _c(q), _c(k), _c(v), _c(b)
        out, saved = kernels.attn_fwd(graph.indptr, graph.col, graph.perm, q_, k_, v_, b_, scale)
        ctx.kernels, ctx.graph, ctx.scale = kernels, graph, scale
        ctx.save_for_backward(q_, k_, v_, b_, out, saved)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        q, k, v, b, out, saved = ctx.saved_tensors
        ctx.graph.check_unmodified("edge_attention backward")
        need_b = ctx.needs_input_grad[5]
        dq, dk, dv, db = ctx.kernels.attn_bwd(ctx.graph, q, k, v, b, ctx.scale, out, saved, grad_out.contiguous(),
                                              need_b)
        return None, None, dq, dk, dv, (db if need_b else None), None


# ---- the backend entry points, shared by _cpu and _triton ---------------------------------------------------------
def gather_scatter(kernels: ModuleType, x: Tensor, graph: CSRGraph, w: Tensor | None, e: Tensor | None,
                   message: str, reduce: str) -> Tensor:
    return GatherScatter.apply(kernels, graph, x, w, e, message, reduce)


def segment_softmax(kernels: ModuleType, s: Tensor, graph: CSRGraph) -> Tensor:
    return SegmentSoftmax.apply(kernels, graph, s)


def edge_attention(kernels: ModuleType, q: Tensor, k: Tensor, v: Tensor, graph: CSRGraph, b: Tensor | None,
                   scale: float) -> Tensor:
    return EdgeAttention.apply(kernels, graph, q, k, v, b, scale)
