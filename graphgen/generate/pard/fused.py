"""The sampler's fast path of the PARD denoiser, :class:`FusedBlockDenoiser` (inference only), and the reference
behind the same interface, :class:`ReferenceBlockDenoiser` (:meth:`PARDNetwork.denoise_virtual`).

The fused path computes what the reference computes (tested equal up to float rounding, and the sampler draws the
same graphs with either), restructured for the sampler's calls: a few virtual nodes against a few real ones, for many
graphs, ``steps`` times per block with only the virtual states changing. Issue 19's profile of the reference: per
layer and step about forty small layer calls (per-call overhead, not arithmetic) on tensors three quarters padding.
Here:

- **once per block** (:meth:`FusedBlockDenoiser.start_block`): everything that depends only on the real nodes (their
  keys and values, their half of the node-to-edge projection, the real-real PPGN operands), the list of valid pairs,
  the masks, and every buffer the steps write into;
- **edges are packed**: the valid pairs touching the virtual block (virtual-real, real-virtual, virtual-virtual) form
  one ``[P, C]`` tensor, so each edge MLP is one call on valid pairs instead of three calls on padded tensors;
- **layers reading the same input are one product**: src and dst projections; the first layers of ``m1`` and ``m2``
  (stacked) and their second layers (block-diagonal); the edge-value projection runs after the attention average
  (:meth:`FusedBlockDenoiser._layer`), on ``[B, S, heads, C]`` instead of every pair;
- **the masked PPGN product is one batched matmul** over a channel-outer ``[C, B, M, M]`` buffer of real and virtual
  slots (zeros at invalid pairs do the masking, as in the reference);
- the time embedding of every step is computed once per ``sample()`` call; softmax is :func:`softmax_last`.

The regrouped weights are built from the network's modules when the denoiser is built (once per ``sample()`` call,
under ``torch.inference_mode``), so parameter names and saved files are unchanged and a model trained further
between two ``sample()`` calls is never served stale weights. Dropout is not applied (sampling runs in eval mode).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphgen.generate.pard.network import PARDLayer, PARDNetwork, timestep_embedding

Linear = tuple[Tensor, Tensor]  # (weight [out, in], bias [out]), the arguments of F.linear
Norm = tuple[Tensor, Tensor, float]  # (weight, bias, eps) of a LayerNorm


def _linear(module: nn.Linear) -> Linear:
    return module.weight, module.bias


def _norm(module: nn.LayerNorm) -> Norm:
    return module.weight, module.bias, module.eps


def _mlp(x: Tensor, first: Linear, second: Linear) -> Tensor:
    """``Linear -> GELU -> Linear`` (the layout of every MLP of the network)."""
    return F.linear(F.gelu(F.linear(x, *first)), *second)


def _layer_norm(x: Tensor, norm: Norm) -> Tensor:
    weight, bias, eps = norm
    return F.layer_norm(x, weight.shape, weight, bias, eps)


def softmax_last(x: Tensor) -> Tensor:
    """Softmax over the last dim (``-inf`` entries get 0; a row needs one finite entry). On CPU, ``torch.softmax``
    over short rows (a few to twenty entries, the sampler's) took several times as long as these passes (issue 19)."""
    x = torch.exp(x - x.amax(-1, keepdim=True))
    return x / x.sum(-1, keepdim=True)


class BlockDenoiser(Protocol):
    """What the PARD sampler calls: ``start_block`` once per block, ``denoise`` once per step (see
    :class:`FusedBlockDenoiser`)."""

    def __init__(self, network: PARDNetwork) -> None: ...

    def start_block(self, cache: list[dict], real_mask: Tensor, virt_mask: Tensor, cond_size: Tensor,
                    cond_degree: Tensor) -> Any: ...

    def denoise(self, block: Any, node_type: Tensor, e_vr: Tensor, e_vv: Tensor, t: int
                ) -> tuple[Tensor, Tensor, Tensor]: ...


@dataclass(frozen=True)
class FusedLayerWeights:
    """One :class:`PARDLayer`'s weights, regrouped so that layers reading the same input are one product.

    ``node_to_edge`` ``[2C, H]``: src then dst (dst has no bias: zeros). ``pair_in`` ``[2C, C]``: first layers of m1
    then m2; ``pair_out`` ``[2C, 2C]``: their second layers as diagonal blocks (both biases ``[2C, 1]``: these run
    transposed). ``edge_value`` ``[H, heads * C]``: head ``h``'s rows of the edge-value projection in diagonal block
    ``h``. ``m3_edge`` and ``m3_prod`` (transposed) are the two column halves of m3's first layer (its input is
    ``[e, prod]``), so the concatenation is never built.
    """

    heads: int
    qkv: Linear
    edge_bias: Linear
    edge_value: Linear
    out: Linear
    norm1: Norm
    ffn: tuple[Linear, Linear]
    norm2: Norm
    edge_mlp: tuple[Linear, Linear]
    node_to_edge: Linear
    norm3: Norm
    pair_in: Linear
    pair_out: Linear
    m3_edge: Linear
    m3_prod: Tensor
    m3_out: Linear
    norm4: Norm

    @classmethod
    def from_layer(cls, layer: PARDLayer) -> "FusedLayerWeights":
        C, H, heads = layer.edge_hidden, layer.hidden, layer.heads
        value_per_head = layer.edge_value.weight.view(heads, H // heads, C)
        m1_out, m2_out = layer.m1[2], layer.m2[2]
        m3_in = layer.m3[0]
        return cls(
            heads=heads,
            qkv=_linear(layer.qkv),
            edge_bias=_linear(layer.edge_bias),
            edge_value=(torch.block_diag(*value_per_head), layer.edge_value.bias),
            out=_linear(layer.out),
            norm1=_norm(layer.norm1),
            ffn=(_linear(layer.ffn[0]), _linear(layer.ffn[2])),
            norm2=_norm(layer.norm2),
            edge_mlp=(_linear(layer.edge_mlp[0]), _linear(layer.edge_mlp[2])),
            node_to_edge=(torch.cat([layer.src.weight, layer.dst.weight]),
                          torch.cat([layer.src.bias, layer.src.bias.new_zeros(C)])),
            norm3=_norm(layer.norm3),
            pair_in=(torch.cat([layer.m1[0].weight, layer.m2[0].weight]),
                     torch.cat([layer.m1[0].bias, layer.m2[0].bias]).unsqueeze(1)),
            pair_out=(torch.block_diag(m1_out.weight, m2_out.weight),
                      torch.cat([m1_out.bias, m2_out.bias]).unsqueeze(1)),
            m3_edge=(m3_in.weight[:, :C], m3_in.bias),
            m3_prod=m3_in.weight[:, C:].t(),
            m3_out=_linear(layer.m3[2]),
            norm4=_norm(layer.norm4),
        )


@dataclass(frozen=True)
class PairLayout:
    """The packed pairs of one block and where each lives in the dense layouts; fixed while the block is denoised.

    Slots: ``0..R-1`` the real columns kept (valid in some graph), ``R..M-1`` the ``S`` virtual slots. Packed pairs
    ``p = 0..P-1`` are the valid pairs touching a virtual slot, row-major over ``[B, M, M]``; ``Pv`` of them have a
    virtual row (those the attention reads and the output reports).
    """

    num_real: int  # R
    num_real_in: int  # R of the caller's tensors (``e_vr`` is ``[B, S, num_real_in]``)
    row_at: Tensor  # [P] graph * M + row: the row's entry of a flattened [B, M] node table
    col_at: Tensor  # [P] graph * M + col
    pair_at: Tensor  # [P] (graph * M + row) * M + col: entry of a flattened [B, M, M]
    mirror: Tensor  # [P] packed index of the pair (col, row)
    class_at: Tensor  # [P] entry of cat(e_vr.flatten(), e_vv.flatten()) holding the pair's class
    diagonal: Tensor  # [P] bool: a virtual node's pair with itself (the diagonal marker class)
    kind: Tensor  # [P] pair kind: 1 virtual-real (either direction), 2 virtual-virtual
    count: Tensor  # [1, P] size of the pair's context (real + virtual nodes of its graph)
    virtual_rows: Tensor  # [Pv] the packed pairs with a virtual row
    attention_at: Tensor  # [Pv] their entry of a flattened [B, S, M] (virtual rows x all slots)
    out_at: Tensor  # [Pv] their entry of a flattened [B, S, num_real_in + S] (the output logits)
    blocked: Tensor  # [B, 1, S, M] True where a virtual row may not attend


def pair_layout(real_mask: Tensor, virt_mask: Tensor) -> tuple[PairLayout, Tensor]:
    """The :class:`PairLayout` of a block (``real_mask`` ``[B, R_in]``, ``virt_mask`` ``[B, S]``) and the kept real
    columns ``[R]`` (indices into ``R_in``)."""
    B, S = virt_mask.shape
    R_in = real_mask.size(1)
    device = virt_mask.device
    keep = real_mask.any(0).nonzero().view(-1)  # real columns valid in some graph: the rest is padding everywhere
    R = keep.numel()
    M = R + S
    rmask = real_mask[:, keep]
    slots = torch.cat([rmask, virt_mask], 1)  # [B, M] valid slots
    is_virtual = torch.arange(M, device=device) >= R
    touches = is_virtual.unsqueeze(1) | is_virtual.unsqueeze(0)  # [M, M]
    # real-real pairs come from the real pass (real nodes never see virtual ones)
    graph, row, col = (slots.unsqueeze(2) & slots.unsqueeze(1) & touches).nonzero().unbind(1)
    position = torch.full((B, M, M), -1, dtype=torch.long, device=device)
    position[graph, row, col] = torch.arange(graph.numel(), device=device)
    # the caller holds classes as e_vr [B, S, R_in] (rows virtual, both directions) and e_vv [B, S, S]
    column_in = torch.cat([keep, R_in + torch.arange(S, device=device)])  # slot -> column of [e_vr | e_vv]
    row_virtual = row >= R
    v = torch.where(row_virtual, row, col) - R  # the pair's virtual end (the row of e_vr / e_vv)
    other = torch.where(row_virtual, col, row)
    is_vv = other >= R
    class_at = torch.where(is_vv, B * S * R_in + (graph * S + v) * S + (other - R),
                           (graph * S + v) * R_in + column_in[other])
    virtual_rows = row_virtual.nonzero().view(-1)
    row_in_block = graph[virtual_rows] * S + row[virtual_rows] - R  # [Pv] entry of [B, S]
    see_virtual = virt_mask.unsqueeze(1) | torch.eye(S, dtype=torch.bool, device=device)  # padding sees itself
    allowed = torch.cat([rmask.unsqueeze(1).expand(B, S, R), see_virtual], 2)  # [B, S, M]
    layout = PairLayout(
        num_real=R, num_real_in=R_in, row_at=graph * M + row, col_at=graph * M + col,
        pair_at=(graph * M + row) * M + col, mirror=position[graph, col, row], class_at=class_at,
        diagonal=row == col, kind=1 + is_vv.long(), count=(rmask.sum(1) + virt_mask.sum(1)).clamp(min=1)[graph],
        virtual_rows=virtual_rows, attention_at=row_in_block * M + col[virtual_rows],
        out_at=row_in_block * (R_in + S) + column_in[col[virtual_rows]], blocked=~allowed.unsqueeze(1),
    )
    return layout, keep


@dataclass(frozen=True)
class LayerBuffers:
    """Per layer and block: the real part is filled once, the virtual part is rewritten at every step.

    ``keys_values`` ``[2, B, heads, M, d]``; ``src_dst`` ``[B * M, 2C]`` (src and dst projections of every slot);
    ``pair_operands`` ``[2C, B * M * M]``: m1 then m2 outputs, channel-outer so that each channel is one ``[B, M, M]``
    stack of matrices (the real-real block comes from the real pass; invalid pairs stay zero).
    """

    keys_values: Tensor
    src_dst: Tensor
    pair_operands: Tensor


@dataclass(frozen=True)
class BlockInputs:
    """What :meth:`FusedBlockDenoiser.start_block` precomputes for one block."""

    layout: PairLayout
    virt_mask: Tensor  # [B, S, 1], the network's dtype
    cond: tuple[Tensor, Tensor]  # size and degree embeddings [B, S, H]
    kind: Tensor  # [P, C] pair-kind embedding of every packed pair
    count: Tensor  # [1, P] the layout's context sizes, the network's dtype
    edge_rows: Tensor  # [B * S * M, C] buffer: the edges of the virtual rows, dense (zeros at invalid pairs)
    layers: list[LayerBuffers]


class FusedBlockDenoiser:
    """Fast sampling path of a :class:`PARDNetwork` (see the module docstring); build one per ``sample()`` call.

    ``block = denoiser.start_block(cache, real_mask, virt_mask, size, degree)`` once per block, then
    ``denoiser.denoise(block, node_type, e_vr, e_vv, t)`` per step; the arguments and outputs are those of
    :meth:`PARDNetwork.denoise_virtual` (``t`` one int for the whole block). Edge logits at invalid pairs are zero
    (the reference leaves unused values there; the sampler masks them either way).
    """

    @torch.inference_mode()
    def __init__(self, network: PARDNetwork) -> None:
        n = network
        self.network = n
        self.layers = [FusedLayerWeights.from_layer(layer) for layer in n.layers]
        self.marker = n.num_edge_types  # diagonal class
        steps = torch.arange(n.num_steps + 1, device=n.start.device)
        # every step's time embedding at once: the rows the reference computes per call
        self.time_table = n.time_mlp(timestep_embedding(steps, n.hidden, n.num_steps))  # [T+1, H]
        self.virtual_kind = n.kind_embed.weight[1]
        self.node_head = (_linear(n.node_head[0]), _linear(n.node_head[2]))
        self.edge_head = (_linear(n.edge_head[0]), _linear(n.edge_head[2]))

    # -- once per block ---------------------------------------------------------------------------------------------
    @torch.inference_mode()
    def start_block(self, cache: list[dict], real_mask: Tensor, virt_mask: Tensor, cond_size: Tensor,
                    cond_degree: Tensor) -> BlockInputs:
        """Precompute a block: ``cache`` from :meth:`PARDNetwork.real_pass` for these graphs, ``real_mask``
        ``[B, R]``, ``virt_mask`` ``[B, S]``, ``cond_size``/``cond_degree`` long ``[B, S]``."""
        n = self.network
        layout, keep = pair_layout(real_mask, virt_mask)
        B, S = virt_mask.shape
        M = layout.num_real + S
        like = n.start  # dtype and device of every buffer
        return BlockInputs(
            layout=layout,
            virt_mask=virt_mask.unsqueeze(-1).to(like.dtype),
            cond=(n.size_embed(cond_size.clamp(max=n.max_block_size)),
                  n.degree_embed(cond_degree.clamp(max=n.max_degree))),
            kind=n.pair_kind_embed(layout.kind),
            count=layout.count.to(like.dtype).unsqueeze(0),
            edge_rows=like.new_zeros(B * S * M, n.edge_hidden),
            layers=[self._real_part(fl, cached, keep, B, M) for fl, cached in zip(self.layers, cache)],
        )

    @staticmethod
    def _real_part(fl: FusedLayerWeights, cached: dict, keep: Tensor, B: int, M: int) -> LayerBuffers:
        """A layer's buffers with the real slots filled from the real pass (``cached``: one layer of the cache)."""
        h_in, h_mid = cached["h_in"][:, keep], cached["h_mid"][:, keep]  # [B, R, H]
        R, H = h_in.size(1), h_in.size(2)
        d = H // fl.heads
        C = fl.edge_mlp[0][0].size(0)
        keys_values = h_in.new_zeros(2, B, fl.heads, M, d)
        keys_values[:, :, :, :R] = F.linear(h_in, *fl.qkv).view(B, R, 3, fl.heads, d)[:, :, 1:].permute(2, 0, 3, 1, 4)
        src_dst = h_in.new_zeros(B, M, 2 * C)
        src_dst[:, :R] = F.linear(h_mid, *fl.node_to_edge)
        operands = h_in.new_zeros(2, C, B, M, M)
        for k, name in enumerate(("p1", "p2")):  # [B, R, R, C] channel-last in the cache
            operands[k, :, :, :R, :R] = cached[name][:, keep][:, :, keep].permute(3, 0, 1, 2)
        return LayerBuffers(keys_values, src_dst.view(B * M, 2 * C), operands.view(2 * C, B * M * M))

    # -- per step ---------------------------------------------------------------------------------------------------
    @torch.inference_mode()
    def denoise(self, block: BlockInputs, node_type: Tensor, e_vr: Tensor, e_vv: Tensor, t: int
                ) -> tuple[Tensor, Tensor, Tensor]:
        """Logits of the virtual block at step ``t``: node ``[B, S, Kx]``, virtual-real edge ``[B, S, R, Ke]``,
        virtual-virtual edge ``[B, S, S, Ke]`` (symmetrised), as :meth:`PARDNetwork.denoise_virtual`."""
        n, layout = self.network, block.layout
        size_e, degree_e = block.cond
        hv = F.embedding(node_type, n.node_embed.weight) + self.virtual_kind
        hv = hv + block.virt_mask * (self.time_table[t] + size_e + degree_e)
        hv = hv * block.virt_mask
        classes = torch.cat([e_vr.reshape(-1), e_vv.reshape(-1)])[layout.class_at]
        classes = classes.masked_fill(layout.diagonal, self.marker)
        e = F.embedding(classes, n.edge_embed.weight) + block.kind  # [P, C]
        for fl, buffers in zip(self.layers, block.layers):
            hv, e = self._layer(fl, buffers, block, hv, e)
        edge_logits = _mlp(e, *self.edge_head)
        edge_logits = 0.5 * (edge_logits + edge_logits[layout.mirror])  # symmetrised, as the reference
        B, S = node_type.shape
        width = layout.num_real_in + S
        dense = edge_logits.new_zeros(B * S * width, edge_logits.size(1))
        dense = dense.index_copy_(0, layout.out_at, edge_logits[layout.virtual_rows]).view(B, S, width, -1)
        return _mlp(hv, *self.node_head), dense[:, :, :layout.num_real_in], dense[:, :, layout.num_real_in:]

    @staticmethod
    def _layer(fl: FusedLayerWeights, buffers: LayerBuffers, block: BlockInputs, hv: Tensor, e: Tensor
               ) -> tuple[Tensor, Tensor]:
        """One :meth:`PARDLayer.forward_virtual` on the packed pairs ``e`` ``[P, C]`` and virtual nodes ``hv``.

        Edge values are averaged before they are projected: per head ``h``,
        ``sum_c att[a, c] (W_h e_ac + b_h) = W_h (sum_c att[a, c] e_ac) + b_h`` (attention rows sum to 1).
        """
        layout = block.layout
        B, S, H = hv.shape
        R, C, heads = layout.num_real, e.size(1), fl.heads
        d = H // heads
        M = R + S
        # attention of the virtual nodes over the real (cached) and virtual slots
        qkv = F.linear(hv, *fl.qkv).view(B, S, 3, heads, d).permute(2, 0, 3, 1, 4)  # [3, B, heads, S, d]
        kv = buffers.keys_values
        kv[:, :, :, R:] = qkv[1:]
        scores = torch.matmul(qkv[0], kv[0].transpose(2, 3)) / math.sqrt(d)  # [B, heads, S, M]
        edge_rows = block.edge_rows.index_copy_(0, layout.attention_at, e[layout.virtual_rows]).view(B, S, M, C)
        scores = scores + F.linear(edge_rows, *fl.edge_bias).permute(0, 3, 1, 2)
        att = softmax_last(scores.masked_fill_(layout.blocked, float("-inf")))
        node_msg = torch.matmul(att, kv[1]).transpose(1, 2).reshape(B, S, H)
        edge_avg = torch.matmul(att.transpose(1, 2), edge_rows)  # [B, S, heads, C]
        edge_msg = F.linear(edge_avg.reshape(B, S, heads * C), *fl.edge_value)
        hv = _layer_norm(hv + F.linear(node_msg + edge_msg, *fl.out), fl.norm1)
        hv = _layer_norm(hv + _mlp(hv, *fl.ffn), fl.norm2)
        # node-to-edge update of the packed pairs
        src_dst = buffers.src_dst
        src_dst.view(B, M, 2 * C)[:, R:] = F.linear(hv, *fl.node_to_edge)
        e = e + _mlp(e, *fl.edge_mlp) + src_dst[layout.row_at, :C] + src_dst[layout.col_at, C:]
        e = _layer_norm(e, fl.norm3)
        # masked PPGN product over every slot of the pair's context; m1 and m2 run transposed, [2C, P], so that
        # their outputs land channel-outer
        hidden = F.gelu(torch.addmm(fl.pair_in[1], fl.pair_in[0], e.t()))
        pair_values = torch.addmm(fl.pair_out[1], fl.pair_out[0], hidden)
        operands = buffers.pair_operands.index_copy_(1, layout.pair_at, pair_values).view(2, C, B, M, M)
        prod = torch.matmul(operands[0], operands[1]).view(C, B * M * M)
        prod = prod.index_select(1, layout.pair_at) / block.count  # [C, P]
        m3_hidden = torch.addmm(F.linear(e, *fl.m3_edge), prod.t(), fl.m3_prod)  # m3's first layer on [e, prod]
        e = _layer_norm(e + F.linear(F.gelu(m3_hidden), *fl.m3_out), fl.norm4)
        return hv, e


class ReferenceBlockDenoiser:
    """The unfused path, :meth:`PARDNetwork.denoise_virtual`, behind the interface of :class:`FusedBlockDenoiser`:
    the reference the fused path is tested against (``PARDGenerator.block_denoiser = ReferenceBlockDenoiser``
    samples with it)."""

    def __init__(self, network: PARDNetwork) -> None:
        self.network = network

    def start_block(self, cache: list[dict], real_mask: Tensor, virt_mask: Tensor, cond_size: Tensor,
                    cond_degree: Tensor) -> tuple:
        return cache, real_mask, virt_mask, cond_size, cond_degree

    def denoise(self, block: tuple, node_type: Tensor, e_vr: Tensor, e_vv: Tensor, t: int
                ) -> tuple[Tensor, Tensor, Tensor]:
        cache, real_mask, virt_mask, cond_size, cond_degree = block
        tv = torch.full_like(node_type, t)
        return self.network.denoise_virtual(cache, real_mask, node_type, e_vr, e_vv, virt_mask, tv, cond_size,
                                            cond_degree)
