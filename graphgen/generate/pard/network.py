"""The PARD denoiser: a block-causal transformer on nodes with edge-biased attention, interleaved with a masked PPGN
block on edge channels (Zhao et al., 2024; PPGN: Maron et al., "Provably Powerful Graph Networks", 2019).

Inputs are dense graphs of ``M`` slots per graph holding *real* nodes (clean, already generated blocks) and *virtual*
nodes (the noisy copy of a block being denoised). Every slot carries a block id ``1..`` (0 = padding). Visibility:

- a real node of block ``i`` attends to the real nodes of blocks ``<= i``;
- a virtual node of block ``i`` attends to the real nodes of blocks ``< i`` and to the virtual nodes of block ``i``.

A pair ``(a, b)`` is *valid* when ``a`` sees ``b`` or ``b`` sees ``a``. Its *context* is the set of slots its value
may depend on: real blocks ``<= max(block a, block b)`` for a real pair, real blocks ``< i`` plus virtual block ``i``
for a pair touching virtual block ``i``. Every operation keeps each node and pair inside its context:
attention uses the visibility mask, node-to-edge updates only read the two endpoints (both inside the pair's context),
and the PPGN product ``P[a, b] = sum_c E1[a, c] E2[c, b]`` only sums over slots ``c`` in the context of ``(a, b)``
(:func:`masked_pair_product`). So the prediction for block ``i`` does not change when blocks ``> i`` change, which
lets one forward pass train on every block of a graph at once (parallel training with virtual blocks).

Layer update (``h`` nodes ``[B, M, H]``, ``e`` pairs ``[B, M, M, C]``, ``heads`` attention heads of width ``d``):

    s_ab   = <W_q h_a, W_k h_b> / sqrt(d) + W_b e_ab             (masked by visibility, softmax over b)
    h_a   <- LN(h_a + W_o sum_b s_ab (W_v h_b + W_ve e_ab));     h <- LN(h + FFN(h))
    e_ab  <- LN(e_ab + MLP(e_ab) + U h_a + V h_b)
    e_ab  <- LN(e_ab + MLP([e_ab, (m1(e) ⊙_masked m2(e))_ab / |context(a, b)|]))      (PPGN, masked product)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class BlockMasks:
    """Visibility structure derived from ``(virtual, block, node_mask)``; shared by all layers of one forward.

    attend ``[B, M, M]`` (row sees column), pair ``[B, M, M]`` (valid pair), count ``[B, 1, M, M]`` (size of each
    pair's context, >= 1), real ``[B, M]``, virtual ``[B, M]``, block ``[B, M]``, num_levels (max block id).
    """

    attend: Tensor
    pair: Tensor
    count: Tensor
    real: Tensor
    virtual: Tensor
    block: Tensor
    num_levels: int


def block_masks(virtual: Tensor, block: Tensor, node_mask: Tensor) -> BlockMasks:
    """Build the causal block masks. ``virtual``/``node_mask`` bool ``[B, M]``, ``block`` long ``[B, M]`` (1-based)."""
    real = node_mask & ~virtual
    virt = node_mask & virtual
    ba, bb = block.unsqueeze(2), block.unsqueeze(1)
    ra, rb = real.unsqueeze(2), real.unsqueeze(1)
    va, vb = virt.unsqueeze(2), virt.unsqueeze(1)
    attend = (ra & rb & (bb <= ba)) | (va & rb & (bb < ba)) | (va & vb & (ba == bb))
    pair = attend | attend.transpose(1, 2)
    num_levels = int(block.max()) if block.numel() else 0
    masks = BlockMasks(attend, pair, torch.ones(1), real, virt, block, num_levels)
    ones = pair.unsqueeze(1).float()  # [B, 1, M, M]
    count = masked_pair_product(ones, ones, masks).clamp(min=1.0)
    return BlockMasks(attend, pair, count, real, virt, block, num_levels)


def masked_pair_product(e1: Tensor, e2: Tensor, masks: BlockMasks) -> Tensor:
    """``P[a, b] = sum_{c in context(a, b)} e1[a, c] e2[c, b]`` per channel; ``e1``, ``e2``, output ``[B, C, M, M]``.

    Real part. Give every slot a *reach* ``r``: its block for a real node, ``i - 1`` for a virtual node of block
    ``i``. The real slots in the context of a valid pair are those with ``block(c) <= max(r(a), r(b))``, and
    ``[x <= max(p, q)] = [x <= p] + [x <= q] - [x <= p][x <= q]``. With ``R[a, c] = [c real, block(c) <= r(a)]``
    (= ``attend[a, c]`` for real ``c``), ``P1 = e1 ⊙ R`` and ``P2 = e2 ⊙ R^T``:
    ``sum_real = P1 @ e2 + e1 @ P2 - P1 @ P2 = P1 @ (e2 - P2) + e1 @ P2`` (two matrix products for any number of
    blocks). Virtual part: only pairs touching virtual block ``i`` sum over virtual ``c``, and those ``c`` are exactly
    the slots with both ``(a, c)`` and ``(c, b)`` valid (the virtual nodes of block ``i``). Invalid pairs are zero.
    """
    dtype = e1.dtype
    pair = masks.pair.unsqueeze(1).to(dtype)  # [B, 1, M, M]
    reach = (masks.attend & masks.real.unsqueeze(1)).unsqueeze(1).to(dtype)  # [B, 1, M(a), M(c)]
    p1 = e1 * reach
    p2 = e2 * reach.transpose(2, 3)
    out = torch.matmul(p1, e2 - p2) + torch.matmul(e1, p2)
    vc = masks.virtual.unsqueeze(1).to(dtype)  # [B, 1, M] over c
    touches_virtual = (masks.virtual.unsqueeze(2) | masks.virtual.unsqueeze(1)).unsqueeze(1).to(dtype)
    out = out + torch.matmul(e1 * pair * vc.unsqueeze(2), e2 * pair * vc.unsqueeze(3)) * touches_virtual
    return out * pair


# Sampling runs the network on small blocks (a few virtual nodes against <= tens of real ones) for many graphs at
# once. There, einsum's bmm over thousands of tiny matrices costs more than a broadcast multiply and sum
# (benchmarks/results/pard_notes.md). The broadcast form is used while its intermediate stays below this many
# elements, bmm above (large graphs).
_BROADCAST_LIMIT = 1 << 22


def _channel_matmul(x: Tensor, y: Tensor) -> Tensor:
    """Per-channel matrix product, channel-last: ``out[b, a, d, k] = sum_c x[b, a, c, k] y[b, c, d, k]``."""
    if x.size(0) * x.size(1) * x.size(2) * y.size(2) * x.size(3) <= _BROADCAST_LIMIT:
        return (x.unsqueeze(3) * y.unsqueeze(1)).sum(2)
    return torch.einsum("bacx,bcdx->badx", x, y)


def _edge_weighted_sum(att: Tensor, ev: Tensor) -> Tensor:
    """``out[b, a, h, :] = sum_c att[b, h, a, c] ev[b, a, c, h, :]`` (attention over per-edge values)."""
    if ev.numel() <= _BROADCAST_LIMIT:
        return (att.permute(0, 2, 3, 1).unsqueeze(-1) * ev).sum(2)
    return torch.einsum("bhac,bachd->bahd", att, ev)


class PARDLayer(nn.Module):
    """One PARD layer: block-masked edge-biased attention on nodes, node-to-edge update, masked PPGN on edges.

    Args:
        hidden: node width ``H``.
        edge_hidden: edge width ``C``.
        heads: attention heads (``H`` divisible by ``heads``).
        dropout: dropout on attention weights and MLP outputs.

    Shapes: ``h`` ``[B, M, H]``, ``e`` ``[B, M, M, C]`` -> same shapes.
    """

    def __init__(self, hidden: int, edge_hidden: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden={hidden} must be divisible by heads={heads}")
        self.hidden, self.edge_hidden, self.heads, self.dropout = hidden, edge_hidden, heads, dropout
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.edge_bias = nn.Linear(edge_hidden, heads)
        self.edge_value = nn.Linear(edge_hidden, hidden)
        self.out = nn.Linear(hidden, hidden)
        self.norm1 = nn.LayerNorm(hidden)
        self.ffn = nn.Sequential(nn.Linear(hidden, 2 * hidden), nn.GELU(), nn.Linear(2 * hidden, hidden))
        self.norm2 = nn.LayerNorm(hidden)
        self.edge_mlp = nn.Sequential(nn.Linear(edge_hidden, edge_hidden), nn.GELU(), nn.Linear(edge_hidden, edge_hidden))
        self.src = nn.Linear(hidden, edge_hidden)
        self.dst = nn.Linear(hidden, edge_hidden, bias=False)
        self.norm3 = nn.LayerNorm(edge_hidden)
        self.m1 = nn.Sequential(nn.Linear(edge_hidden, edge_hidden), nn.GELU(), nn.Linear(edge_hidden, edge_hidden))
        self.m2 = nn.Sequential(nn.Linear(edge_hidden, edge_hidden), nn.GELU(), nn.Linear(edge_hidden, edge_hidden))
        self.m3 = nn.Sequential(nn.Linear(2 * edge_hidden, edge_hidden), nn.GELU(), nn.Linear(edge_hidden, edge_hidden))
        self.norm4 = nn.LayerNorm(edge_hidden)
        self.drop = nn.Dropout(dropout)

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.LayerNorm)):
                m.reset_parameters()

    def forward(self, h: Tensor, e: Tensor, masks: BlockMasks, cache: list | None = None) -> tuple[Tensor, Tensor]:
        """One layer. With ``cache`` (a list), appends what :meth:`forward_virtual` needs from a real-only input."""
        B, M, H = h.shape
        d = H // self.heads
        h_in = h
        q, k, v = self.qkv(h).view(B, M, 3, self.heads, d).unbind(2)  # each [B, M, heads, d]
        scores = torch.einsum("bahd,bchd->bhac", q, k) / math.sqrt(d)  # [B, heads, M, M]
        scores = scores + self.edge_bias(e).permute(0, 3, 1, 2)
        attend = masks.attend | torch.eye(M, dtype=torch.bool, device=h.device)  # padding rows see themselves
        scores = scores.masked_fill(~attend.unsqueeze(1), float("-inf"))
        att = self.drop(torch.softmax(scores, dim=-1))  # [B, heads, M, M]
        node_msg = torch.einsum("bhac,bchd->bahd", att, v).reshape(B, M, H)
        ev = self.edge_value(e).view(B, M, M, self.heads, d)
        edge_msg = torch.einsum("bhac,bachd->bahd", att, ev).reshape(B, M, H)
        h = self.norm1(h + self.drop(self.out(node_msg + edge_msg)))
        h = self.norm2(h + self.drop(self.ffn(h)))

        pair = masks.pair.unsqueeze(-1).to(e.dtype)  # [B, M, M, 1]
        e = self.norm3(e + self.edge_mlp(e) + self.src(h).unsqueeze(2) + self.dst(h).unsqueeze(1)) * pair
        p1 = self.m1(e).permute(0, 3, 1, 2)  # [B, C, M, M]
        p2 = self.m2(e).permute(0, 3, 1, 2)
        if cache is not None:
            cache.append({"h_in": h_in, "h_mid": h, "p1": p1.permute(0, 2, 3, 1) * pair,
                          "p2": p2.permute(0, 2, 3, 1) * pair})
        prod = (masked_pair_product(p1, p2, masks) / masks.count).permute(0, 2, 3, 1)  # [B, M, M, C]
        e = self.norm4(e + self.drop(self.m3(torch.cat([e, prod], dim=-1)))) * pair
        return h, e

    def forward_virtual(
        self, cached: dict, real_mask: Tensor, hv: Tensor, evr: Tensor, erv: Tensor, evv: Tensor, virt_mask: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The same layer for a virtual block that sees every real node, reusing the real nodes' cached values.

        Equal to the rows/pairs of :meth:`forward` that touch the virtual block (real nodes do not see virtual ones,
        so their values are the same at every denoising step). Shapes: ``hv`` ``[B, S, H]``, ``evr`` ``[B, S, R, C]``,
        ``erv`` ``[B, R, S, C]``, ``evv`` ``[B, S, S, C]``; masks ``[B, R]`` and ``[B, S]``.
        """
        B, S, H = hv.shape
        R = real_mask.size(1)
        d = H // self.heads
        qv, kv, vv = self.qkv(hv).view(B, S, 3, self.heads, d).unbind(2)
        _, kr, vr = self.qkv(cached["h_in"]).view(B, R, 3, self.heads, d).unbind(2)
        s_r = torch.einsum("bahd,bchd->bhac", qv, kr) / math.sqrt(d) + self.edge_bias(evr).permute(0, 3, 1, 2)
        s_v = torch.einsum("bahd,bchd->bhac", qv, kv) / math.sqrt(d) + self.edge_bias(evv).permute(0, 3, 1, 2)
        s_r = s_r.masked_fill(~real_mask.view(B, 1, 1, R), float("-inf"))
        see_v = virt_mask.unsqueeze(1) | torch.eye(S, dtype=torch.bool, device=hv.device)  # [B, S, S]
        s_v = s_v.masked_fill(~see_v.unsqueeze(1), float("-inf"))
        att_r, att_v = self.drop(torch.softmax(torch.cat([s_r, s_v], -1), dim=-1)).split([R, S], dim=-1)
        msg = torch.einsum("bhac,bchd->bahd", att_r, vr) + torch.einsum("bhac,bchd->bahd", att_v, vv)
        msg = msg + _edge_weighted_sum(att_r, self.edge_value(evr).view(B, S, R, self.heads, d))
        msg = msg + _edge_weighted_sum(att_v, self.edge_value(evv).view(B, S, S, self.heads, d))
        hv = self.norm1(hv + self.drop(self.out(msg.reshape(B, S, H))))
        hv = self.norm2(hv + self.drop(self.ffn(hv)))

        hr = cached["h_mid"]
        pvr = (virt_mask.unsqueeze(2) & real_mask.unsqueeze(1)).unsqueeze(-1).to(hv.dtype)  # [B, S, R, 1]
        prv = pvr.transpose(1, 2)
        pvv = (virt_mask.unsqueeze(2) & virt_mask.unsqueeze(1)).unsqueeze(-1).to(hv.dtype)
        evr = self.norm3(evr + self.edge_mlp(evr) + self.src(hv).unsqueeze(2) + self.dst(hr).unsqueeze(1)) * pvr
        erv = self.norm3(erv + self.edge_mlp(erv) + self.src(hr).unsqueeze(2) + self.dst(hv).unsqueeze(1)) * prv
        evv = self.norm3(evv + self.edge_mlp(evv) + self.src(hv).unsqueeze(2) + self.dst(hv).unsqueeze(1)) * pvv
        p1vr, p2vr = self.m1(evr) * pvr, self.m2(evr) * pvr
        p1rv, p2rv = self.m1(erv) * prv, self.m2(erv) * prv
        p1vv, p2vv = self.m1(evv) * pvv, self.m2(evv) * pvv
        p1rr, p2rr = cached["p1"], cached["p2"]

        # context of a pair touching the virtual block: all real nodes + the virtual block
        count = (real_mask.sum(1) + virt_mask.sum(1)).clamp(min=1).view(B, 1, 1, 1).to(hv.dtype)
        mm = _channel_matmul
        prod_vr = (mm(p1vr, p2rr) + mm(p1vv, p2vr)) / count
        prod_rv = (mm(p1rr, p2rv) + mm(p1rv, p2vv)) / count
        prod_vv = (mm(p1vr, p2rv) + mm(p1vv, p2vv)) / count
        evr = self.norm4(evr + self.drop(self.m3(torch.cat([evr, prod_vr], -1)))) * pvr
        erv = self.norm4(erv + self.drop(self.m3(torch.cat([erv, prod_rv], -1)))) * prv
        evv = self.norm4(evv + self.drop(self.m3(torch.cat([evv, prod_vv], -1)))) * pvv
        return hv, evr, erv, evv

    def __repr__(self) -> str:
        return f"{type(self).__name__}(hidden={self.hidden}, edge_hidden={self.edge_hidden}, heads={self.heads})"


def timestep_embedding(t: Tensor, dim: int, num_steps: int) -> Tensor:
    """Sinusoidal features of ``t / T`` (``t`` long ``[*]``) -> ``[*, dim]``."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / max(half, 1))
    arg = (t.float() / num_steps).unsqueeze(-1) * 1000.0 * freqs
    emb = torch.cat([torch.sin(arg), torch.cos(arg)], dim=-1)
    return nn.functional.pad(emb, (0, dim - emb.size(-1)))


class PARDNetwork(nn.Module):
    """Masked PPGN-transformer: embeds a dense real+virtual graph, runs ``num_layers`` :class:`PARDLayer` and returns
    node-type logits, edge-type logits, and per-block next-block size/degree logits.

    Args:
        num_node_types: ``Kx`` node classes (1 for unlabelled graphs).
        num_edge_types: ``Ke`` edge classes including class 0 = no edge.
        hidden, edge_hidden, num_layers, heads, dropout: widths and depth.
        num_steps: ``T`` of the diffusion (for the time embedding).
        max_block_size: largest block size (size classes ``0..max_block_size``, 0 = stop).
        max_degree: largest block degree (degree classes ``0..max_degree``).
        degree_given_size: the degree head also sees the next block's size (``p(degree | size, prefix)``), so that
            sampling draws the pair jointly; ``False`` is the earlier, independent head (kept to load old models).

    Forward shapes: ``node_type``, ``block``, ``t``, ``cond_size``, ``cond_degree`` long ``[B, M]``; ``virtual``,
    ``node_mask`` bool ``[B, M]``; ``edge_type`` long ``[B, M, M]`` (class ``Ke`` marks the diagonal).
    Returns node logits ``[B, M, Kx]``, edge logits ``[B, M, M, Ke]`` (symmetrised) and block summaries
    ``[B, L, H]`` (mean of the real nodes of block ``1..L``; feed to :meth:`size_logits`).
    """

    def __init__(
        self,
        num_node_types: int,
        num_edge_types: int,
        hidden: int,
        edge_hidden: int,
        num_layers: int,
        heads: int,
        num_steps: int,
        max_block_size: int,
        max_degree: int,
        dropout: float = 0.0,
        degree_given_size: bool = True,
    ) -> None:
        super().__init__()
        self.num_node_types, self.num_edge_types = num_node_types, num_edge_types
        self.hidden, self.edge_hidden, self.num_layers, self.heads = hidden, edge_hidden, num_layers, heads
        self.num_steps, self.max_block_size, self.max_degree = num_steps, max_block_size, max_degree
        self.node_embed = nn.Embedding(num_node_types, hidden)
        self.kind_embed = nn.Embedding(2, hidden)  # real / virtual
        self.time_mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, hidden))
        self.size_embed = nn.Embedding(max_block_size + 1, hidden)
        self.degree_embed = nn.Embedding(max_degree + 1, hidden)
        self.edge_embed = nn.Embedding(num_edge_types + 1, edge_hidden)  # + diagonal marker
        self.pair_kind_embed = nn.Embedding(3, edge_hidden)  # real-real / virtual-real / virtual-virtual
        self.layers = nn.ModuleList(PARDLayer(hidden, edge_hidden, heads, dropout) for _ in range(num_layers))
        self.node_head = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, num_node_types))
        self.edge_head = nn.Sequential(nn.Linear(edge_hidden, edge_hidden), nn.GELU(), nn.Linear(edge_hidden, num_edge_types))
        self.start = nn.Parameter(torch.zeros(hidden))
        self.size_head = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, max_block_size + 1))
        self.degree_head = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, max_degree + 1))
        # size of the block whose degree is predicted, added to the summary (zero at init: an upgraded old head
        # starts out as the independent one)
        self.degree_size_embed = nn.Embedding(max_block_size + 1, hidden) if degree_given_size else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.modules():
            if m is not self and hasattr(m, "reset_parameters"):
                m.reset_parameters()
        nn.init.normal_(self.start, std=0.02)
        if self.degree_size_embed is not None:
            nn.init.zeros_(self.degree_size_embed.weight)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(node_types={self.num_node_types}, edge_types={self.num_edge_types}, "
            f"hidden={self.hidden}, edge_hidden={self.edge_hidden}, layers={self.num_layers}, heads={self.heads})"
        )

    def forward(
        self,
        node_type: Tensor,
        edge_type: Tensor,
        virtual: Tensor,
        block: Tensor,
        node_mask: Tensor,
        t: Tensor,
        cond_size: Tensor,
        cond_degree: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        return self._run(node_type, edge_type, virtual, block, node_mask, t, cond_size, cond_degree, None)

    def _run(self, node_type, edge_type, virtual, block, node_mask, t, cond_size, cond_degree, cache):
        masks = block_masks(virtual, block, node_mask)
        vf = masks.virtual.unsqueeze(-1).float()
        h = self.node_embed(node_type) + self.kind_embed(virtual.long())
        h = h + vf * (
            self.time_mlp(timestep_embedding(t, self.hidden, self.num_steps))
            + self.size_embed(cond_size.clamp(max=self.max_block_size))
            + self.degree_embed(cond_degree.clamp(max=self.max_degree))
        )
        h = h * node_mask.unsqueeze(-1)
        va, vb = masks.virtual.unsqueeze(2), masks.virtual.unsqueeze(1)
        pair_kind = va.long() + vb.long()  # 0 real-real, 1 virtual-real, 2 virtual-virtual
        e = self.edge_embed(edge_type) + self.pair_kind_embed(pair_kind)
        e = e * masks.pair.unsqueeze(-1)
        for layer in self.layers:
            h, e = layer(h, e, masks, cache)
        node_logits = self.node_head(h)
        edge_logits = self.edge_head(e)
        edge_logits = 0.5 * (edge_logits + edge_logits.transpose(1, 2))
        # block summaries: mean over the real nodes of each block (they see exactly the blocks <= their own)
        L = masks.num_levels
        onehot = (masks.real.unsqueeze(1) & (block.unsqueeze(1) == torch.arange(1, L + 1, device=h.device).view(1, L, 1)))
        onehot = onehot.float()  # [B, L, M]
        summary = torch.bmm(onehot, h) / onehot.sum(-1, keepdim=True).clamp(min=1.0)
        return node_logits, edge_logits, summary

    def real_pass(self, node_type: Tensor, edge_type: Tensor, block: Tensor, node_mask: Tensor
                  ) -> tuple[Tensor, list[dict]]:
        """Forward on real nodes only (``[B, R]``, ``edge_type`` ``[B, R, R]`` with the diagonal marker): the block
        summaries ``[B, L, H]`` and the per-layer cache used by :meth:`denoise_virtual`."""
        cache: list[dict] = []
        zeros = torch.zeros_like(node_type)
        virtual = torch.zeros_like(node_mask)
        _, _, summary = self._run(node_type, edge_type, virtual, block, node_mask, zeros, zeros, zeros, cache)
        return summary, cache

    def denoise_virtual(
        self, cache: list[dict], real_mask: Tensor, node_type: Tensor, e_vr: Tensor, e_vv: Tensor, virt_mask: Tensor,
        t: Tensor, cond_size: Tensor, cond_degree: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Logits for one virtual block placed after every real block, from the cache of :meth:`real_pass`.

        Equals :meth:`forward` on the concatenated input (tested) at a fraction of the cost; the sampler runs
        :class:`~graphgen.generate.pard.fused.FusedBlockDenoiser`, tested equal to this method. ``node_type``,
        ``t``, ``cond_*`` ``[B, S]``; ``e_vr`` ``[B, S, R]``; ``e_vv`` ``[B, S, S]``. Returns node logits
        ``[B, S, Kx]``, virtual-to-real edge logits ``[B, S, R, Ke]`` and intra-block edge logits ``[B, S, S, Ke]``,
        symmetrised like :meth:`forward`.
        """
        S = node_type.size(1)
        vmask = virt_mask.unsqueeze(-1).float()
        hv = self.node_embed(node_type) + self.kind_embed(torch.ones_like(node_type))
        hv = hv + vmask * (
            self.time_mlp(timestep_embedding(t, self.hidden, self.num_steps))
            + self.size_embed(cond_size.clamp(max=self.max_block_size))
            + self.degree_embed(cond_degree.clamp(max=self.max_degree))
        )
        hv = hv * vmask
        pvr = (virt_mask.unsqueeze(2) & real_mask.unsqueeze(1)).unsqueeze(-1).float()
        pvv = (virt_mask.unsqueeze(2) & virt_mask.unsqueeze(1)).unsqueeze(-1).float()
        kind1 = self.pair_kind_embed.weight[1]
        evr = (self.edge_embed(e_vr) + kind1) * pvr
        erv = (self.edge_embed(e_vr.transpose(1, 2)) + kind1) * pvr.transpose(1, 2)
        e_vv = e_vv.clone()
        e_vv[:, torch.arange(S), torch.arange(S)] = self.num_edge_types  # diagonal marker
        evv = (self.edge_embed(e_vv) + self.pair_kind_embed.weight[2]) * pvv
        for layer, cached in zip(self.layers, cache):
            hv, evr, erv, evv = layer.forward_virtual(cached, real_mask, hv, evr, erv, evv, virt_mask)
        vr_logits = 0.5 * (self.edge_head(evr) + self.edge_head(erv).transpose(1, 2))
        vv_logits = self.edge_head(evv)
        vv_logits = 0.5 * (vv_logits + vv_logits.transpose(1, 2))
        return self.node_head(hv), vr_logits, vv_logits

    def size_logits(self, summary: Tensor) -> Tensor:
        """Next-block size logits ``[*, max_block_size + 1]`` (class 0 = stop) from block summaries ``[*, H]`` (use
        ``self.start`` for the first block)."""
        return self.size_head(summary)

    def degree_logits(self, summary: Tensor, size: Tensor) -> Tensor:
        """Next-block degree logits ``[*, max_degree + 1]`` from summaries ``[*, H]`` and that block's size (long
        ``[*]``; ignored by the independent head)."""
        if self.degree_size_embed is not None:
            summary = summary + self.degree_size_embed(size.clamp(0, self.max_block_size))
        return self.degree_head(summary)
