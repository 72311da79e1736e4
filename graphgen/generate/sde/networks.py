"""The two GDSS score networks over dense graphs (Jo et al., "Score-based Generative Modeling of Graphs via the
System of Stochastic Differential Equations", ICML 2022, Sec. 3.2 and App. C).

- :class:`ScoreNetworkX` (node features): ``depth`` dense GCN layers with tanh, the input and every layer's output
  concatenated, then a 3-layer MLP back to ``F`` features.
- :class:`ScoreNetworkA` (adjacency): graph multi-head attention (GMH) layers over the channels ``A, A², ..., A^c``;
  every layer's adjacency channels are concatenated and a 3-layer MLP maps each node pair to one score.

``ScoreNetworkAConfig.variant`` chooses between the adjacency network of the GDSS paper's released code ("paper",
the default for new models) and the slightly larger one graphgen shipped first ("graphgen", kept so the models
trained with it still load); the class docstring lists the differences.

Neither network sees the diffusion time (as in GDSS); the process turns the output into a score
(``SDE.score_from_output``). All modules take ``x [B, N, F]``, ``adj [B, N, N]`` or ``[B, C, N, N]`` and a boolean
``mask [B, N]``; outputs are zero on padding, and the networks are permutation equivariant.
"""
from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphgen.errors import InputError
from graphgen.generate.sde.utils import adjacency_powers, mask_adj, mask_x, pair_mask


def normalized_adjacency(adj: Tensor) -> Tensor:
    r"""``D̂^{-1/2} (A + I) D̂^{-1/2}`` with ``D̂_ii = max(1, Σ_j (A + I)_ij)``, over the last two dims of ``adj [..., N, N]``."""
    a_hat = adj + torch.eye(adj.shape[-1], dtype=adj.dtype, device=adj.device)
    d = a_hat.sum(-1).clamp(min=1.0).pow(-0.5)
    return d.unsqueeze(-1) * a_hat * d.unsqueeze(-2)


class DenseGCNConv(nn.Module):
    r"""Dense graph convolution (Kipf & Welling) on a weighted, possibly noisy adjacency.

    .. math:: X' = \hat D^{-1/2} (A + I) \hat D^{-1/2} X W + b, \qquad \hat D_{ii} = \max(1, \textstyle\sum_j (A+I)_{ij})

    The degree is clamped at 1 because a noisy adjacency can have non-positive row sums.

    Shapes: ``x [B, N, in_channels]``, ``adj [B, N, N]`` -> ``[B, N, out_channels]``.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.lin = nn.Linear(in_channels, out_channels, bias=False)
        self.bias = nn.Parameter(torch.empty(out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.lin.weight)
        nn.init.zeros_(self.bias)

    def forward(self, x: Tensor, adj: Tensor) -> Tensor:
        return normalized_adjacency(adj) @ self.lin(x) + self.bias

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.in_channels}, {self.out_channels})"


class MLP(nn.Module):
    """``num_layers`` linear layers on the last dim with ``act`` between them (none after the last)."""

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int, num_layers: int,
                 act: str = "elu") -> None:
        super().__init__()
        if num_layers < 1:
            raise InputError(f"MLP num_layers must be >= 1, got {num_layers}")
        dims = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.lins = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.act_name = act
        self.act = {"elu": F.elu, "relu": F.relu, "tanh": torch.tanh}[act]
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in self.lins:
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self, x: Tensor) -> Tensor:
        for i, lin in enumerate(self.lins):
            x = lin(x)
            if i < len(self.lins) - 1:
                x = self.act(x)
        return x

    def __repr__(self) -> str:
        dims = [self.lins[0].in_features] + [lin.out_features for lin in self.lins]
        return f"{type(self).__name__}({' -> '.join(map(str, dims))}, act={self.act_name})"


class GraphMultiHeadAttention(nn.Module):
    r"""GDSS's graph multi-head attention on one adjacency channel.

    .. math::
        Q = \mathrm{GCN}_Q(X, A),\; K = \mathrm{GCN}_K(X, A),\; V = \mathrm{GCN}_V(X, A), \qquad
        S = \tfrac{1}{H}\sum_h \tanh\!\big(Q_h K_h^\top / \sqrt{d}\big), \quad A' = \tfrac12 (S + S^\top)

    with ``Q_h`` the h-th of ``heads`` equal slices and ``d = scale_channels``; pairs involving padding are zeroed.

    Args:
        in_channels, attn_channels, out_channels: widths of ``X``, of ``Q``/``K`` and of ``V``.
        heads: number of heads (must divide ``attn_channels``).
        scale_channels: ``d`` of the score scaling (default ``None``: ``out_channels``, as GDSS's released code
            divides by the square root of the value width; graphgen's first network used ``attn_channels``).

    Shapes: ``x [B, N, in]``, ``adj [B, N, N]`` -> ``(V [B, N, out], A' [B, N, N])``.
    """

    def __init__(self, in_channels: int, attn_channels: int, out_channels: int, heads: int = 4,
                 scale_channels: int | None = None) -> None:
        super().__init__()
        if attn_channels % heads:
            raise InputError(f"attn_channels ({attn_channels}) must be divisible by heads ({heads})")
        self.in_channels, self.attn_channels, self.out_channels, self.heads = in_channels, attn_channels, out_channels, heads
        self.scale_channels = out_channels if scale_channels is None else scale_channels
        self.q = DenseGCNConv(in_channels, attn_channels)
        self.k = DenseGCNConv(in_channels, attn_channels)
        self.v = DenseGCNConv(in_channels, out_channels)

    def reset_parameters(self) -> None:
        for m in (self.q, self.k, self.v):
            m.reset_parameters()

    def forward(self, x: Tensor, adj: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        B, N, _ = x.shape
        q = self.q(x, adj).view(B, N, self.heads, -1).transpose(1, 2)  # [B, H, N, d/H]
        k = self.k(x, adj).view(B, N, self.heads, -1).transpose(1, 2)
        scores = torch.tanh(q @ k.transpose(-1, -2) / math.sqrt(self.scale_channels)).mean(1)  # [B, N, N]
        scores = 0.5 * (scores + scores.transpose(-1, -2))
        scores = scores * pair_mask(mask).to(scores.dtype)
        return self.v(x, adj), scores

    def __repr__(self) -> str:
        scale = "" if self.scale_channels == self.out_channels else f", scale_channels={self.scale_channels}"
        return (f"{type(self).__name__}({self.in_channels}, {self.out_channels}, attn={self.attn_channels}, "
                f"heads={self.heads}{scale})")


class AttentionLayer(nn.Module):
    r"""One GDSS adjacency-network layer: a :class:`GraphMultiHeadAttention` per input channel.

    .. math::
        (V_c, S_c) = \mathrm{GMH}_c(X, A_c), \quad
        X' = \tanh\big(\mathrm{MLP}_X([V_1 \| \dots \| V_{C}])\big), \quad
        A'_{ij} = \mathrm{MLP}_A([S_{1,ij},\dots,S_{C,ij}, A_{1,ij},\dots,A_{C,ij}]) + (i \leftrightarrow j)

    ``MLP_A``: ``num_linears`` layers of hidden width ``2 max(C_in, C_out)`` with ELU. ``MLP_X``: two layers of
    hidden width ``x_mix_hidden`` with activation ``x_mix_act``.

    Args:
        num_linears: layers of ``MLP_A``.
        in_channels, attn_channels, out_channels: widths of ``X``, of the attention's ``Q``/``K``, and of ``V`` and
            ``X'``.
        in_adj_channels, out_adj_channels: ``C_in`` and ``C_out``.
        heads: attention heads.
        x_mix_hidden: hidden width of ``MLP_X`` (default ``None``: ``2 max(C_in, C_out)``, GDSS's released code;
            graphgen's first network: ``2 out_channels``).
        x_mix_act: activation inside ``MLP_X`` (default "elu", GDSS's; graphgen's first network: "tanh").
        scale_channels: ``d`` of the attention score scaling (see :class:`GraphMultiHeadAttention`).

    Shapes: ``x [B, N, in]``, ``adj [B, C_in, N, N]`` -> ``(x' [B, N, out], adj' [B, C_out, N, N])``.
    """

    def __init__(self, num_linears: int, in_channels: int, attn_channels: int, out_channels: int,
                 in_adj_channels: int, out_adj_channels: int, heads: int = 4, *, x_mix_hidden: int | None = None,
                 x_mix_act: str = "elu", scale_channels: int | None = None) -> None:
        super().__init__()
        self.in_adj_channels, self.out_adj_channels = in_adj_channels, out_adj_channels
        self.attn = nn.ModuleList(
            GraphMultiHeadAttention(in_channels, attn_channels, out_channels, heads, scale_channels)
            for _ in range(in_adj_channels)
        )
        hid = 2 * max(in_adj_channels, out_adj_channels)
        self.mix_x = MLP(in_adj_channels * out_channels, hid if x_mix_hidden is None else x_mix_hidden, out_channels,
                         2, act=x_mix_act)
        self.mix_adj = MLP(2 * in_adj_channels, hid, out_adj_channels, num_linears, act="elu")

    def reset_parameters(self) -> None:
        for m in (*self.attn, self.mix_x, self.mix_adj):
            m.reset_parameters()

    def forward(self, x: Tensor, adj: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        return self._mix(*self._channel_attention(x, adj, mask), adj, mask)

    def forward_per_channel(self, x: Tensor, adj: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """The same layer written channel by channel with :class:`GraphMultiHeadAttention` (the reference that
        :meth:`forward`'s batched path is tested against)."""
        outs = [attn(x, adj[:, c], mask) for c, attn in enumerate(self.attn)]
        return self._mix(torch.stack([v for v, _ in outs], 1), torch.stack([s for _, s in outs], 1), adj, mask)

    def _mix(self, v: Tensor, s: Tensor, adj: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Channel outputs ``V [B, C, N, out]``, ``S [B, C, N, N]`` -> ``(x' [B, N, out], adj' [B, C_out, N, N])``."""
        B, C, N, _ = v.shape
        x_out = torch.tanh(mask_x(self.mix_x(v.transpose(1, 2).reshape(B, N, -1)), mask))  # [V_1 | ... | V_C]
        pair = torch.cat([s, adj], dim=1).permute(0, 2, 3, 1)  # [B, N, N, 2C]
        a = self.mix_adj(pair).permute(0, 3, 1, 2)  # [B, C_out, N, N]
        a = a + a.transpose(-1, -2)
        return x_out, mask_adj(a, mask)

    def _channel_attention(self, x: Tensor, adj: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """All channels' :class:`GraphMultiHeadAttention` at once: ``(V [B, C, N, out], S [B, C, N, N])``.

        Each channel's Q, K and V convolutions share one normalised adjacency, so the node features are aggregated
        once per channel (``Â_c X``) and projected by the three stacked weight matrices in one matmul per channel
        (``(Â X) W = Â (X W)``); one matmul instead of 3·C tiny batched ones is faster
        (benchmarks/results/gdss_notes.md). Same parameters and, up to float rounding, same output as
        :meth:`forward_per_channel`.
        """
        B, N, F_in = x.shape
        C = adj.shape[1]
        first = self.attn[0]
        H, d_attn, d_out, d_scale = first.heads, first.attn_channels, first.out_channels, first.scale_channels
        ax = normalized_adjacency(adj) @ x.unsqueeze(1)  # [B, C, N, F_in]
        weight = torch.stack([torch.cat([g.q.lin.weight, g.k.lin.weight, g.v.lin.weight], 0).t() for g in self.attn])
        bias = torch.stack([torch.cat([g.q.bias, g.k.bias, g.v.bias]) for g in self.attn])  # [C, 2*attn+out]
        qkv = torch.baddbmm(bias.unsqueeze(1), ax.transpose(0, 1).reshape(C, B * N, F_in), weight)
        qkv = qkv.view(C, B, N, -1).transpose(0, 1)  # [B, C, N, 2*attn+out]
        q, k, v = qkv.split([d_attn, d_attn, d_out], dim=-1)
        q = q.reshape(B, C, N, H, -1).transpose(2, 3)  # [B, C, H, N, d/H]
        k = k.reshape(B, C, N, H, -1).transpose(2, 3)
        scores = torch.tanh(q @ k.transpose(-1, -2) / math.sqrt(d_scale)).mean(2)  # [B, C, N, N]
        scores = 0.5 * (scores + scores.transpose(-1, -2))
        scores = scores * pair_mask(mask).unsqueeze(1).to(scores.dtype)
        return v, scores

    def __repr__(self) -> str:
        a = self.attn[0]
        return (f"{type(self).__name__}(x: {a.in_channels}->{a.out_channels}, "
                f"adj channels: {self.in_adj_channels}->{self.out_adj_channels}, heads={a.heads})")


@dataclasses.dataclass
class ScoreNetworkXConfig:
    """GDSS ``ScoreNetworkX``: ``depth`` GCN layers of width ``hidden``."""

    depth: int = 3
    hidden: int = 32


class ScoreNetworkX(nn.Module):
    r"""Node-feature score network (GDSS Eq. 7).

    .. math:: H_0 = X,\; H_l = \tanh(\mathrm{GCN}_l(H_{l-1}, A)),\; \mathrm{out} = \mathrm{MLP}([H_0 \| \dots \| H_L])

    Shapes: ``x [B, N, F]``, ``adj [B, N, N]``, ``mask [B, N]`` -> ``[B, N, F]`` (zero on padding).
    """

    def __init__(self, num_features: int, config: ScoreNetworkXConfig) -> None:
        super().__init__()
        self.num_features, self.config = num_features, config
        dims = [num_features] + [config.hidden] * config.depth
        self.convs = nn.ModuleList(DenseGCNConv(a, b) for a, b in zip(dims[:-1], dims[1:]))
        cat = sum(dims)
        self.head = MLP(cat, 2 * cat, num_features, 3, act="elu")

    def reset_parameters(self) -> None:
        for m in (*self.convs, self.head):
            m.reset_parameters()

    def forward(self, x: Tensor, adj: Tensor, mask: Tensor) -> Tensor:
        hs = [x]
        for conv in self.convs:
            x = torch.tanh(conv(x, adj))
            hs.append(x)
        return mask_x(self.head(torch.cat(hs, dim=-1)), mask)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(features={self.num_features}, depth={self.config.depth}, hidden={self.config.hidden})"


# the values of ScoreNetworkAConfig.variant (see ScoreNetworkA)
ADJ_VARIANTS = ("paper", "graphgen")


@dataclasses.dataclass
class ScoreNetworkAConfig:
    """GDSS ``ScoreNetworkA``. ``num_layers`` attention layers; node width ``hidden``; attention width ``attn``;
    adjacency channels ``c_init`` (powers of A in) -> ``c_hid`` -> ``c_final``; ``num_linears`` in each layer's MLP.

    ``variant``: which adjacency network these sizes build (:data:`ADJ_VARIANTS`). "paper" (default): the network of
    the GDSS paper's released code; "graphgen": the larger network graphgen's first GDSS models were trained with
    (its node-mixing MLPs are ``2 hidden`` wide with tanh instead of ``2 max(C_in, C_out)`` with ELU), kept so those
    models load. :class:`ScoreNetworkA` lists every difference.
    """

    num_layers: int = 5
    hidden: int = 32
    attn: int = 32
    heads: int = 4
    num_linears: int = 2
    c_init: int = 2
    c_hid: int = 8
    c_final: int = 4
    variant: str = "paper"


class ScoreNetworkA(nn.Module):
    r"""Adjacency score network (GDSS Eq. 8).

    .. math::
        A^{(0)} = [A, A^2, \dots, A^{c_{init}}],\; (X^{(l)}, A^{(l)}) = \mathrm{Layer}_l(X^{(l-1)}, A^{(l-1)}),\;
        \mathrm{out}_{ij} = \mathrm{MLP}([A^{(0)}_{ij} \| \dots \| A^{(L)}_{ij}])

    The output is symmetric with a zero diagonal and zero on padding.

    ``config.variant`` (checked against GDSS's released code, ``models/ScoreNetwork_A.py`` and
    ``models/attention.py`` of github.com/harryjo97/GDSS):

    - "paper": as that code. Each layer's node-mixing MLP (``MLP_X`` of :class:`AttentionLayer`) has hidden width
      ``2 max(C_in, C_out)`` with ELU; attention scores are scaled by ``1/sqrt(hidden)`` (the value width); the first
      layer's attention width is ``hidden`` (``attn`` sets the later layers'). On the QM9 configuration
      (``configs/sde_qm9.yaml``) this has 23,825 parameters, as the reference.
    - "graphgen": graphgen's first network, which the bundled GDSS models were trained with: ``MLP_X`` of hidden width
      ``2 hidden`` with tanh, scores scaled by ``1/sqrt(attn)``, every layer's attention width ``attn``
      (29,249 parameters on QM9). The last two points only matter when ``attn != hidden``.

    Shapes: ``x [B, N, F]``, ``adj [B, N, N]``, ``mask [B, N]`` -> ``[B, N, N]``.
    """

    def __init__(self, num_features: int, config: ScoreNetworkAConfig) -> None:
        super().__init__()
        c = config
        if c.num_layers < 1:
            raise InputError(f"ScoreNetworkAConfig.num_layers must be >= 1, got {c.num_layers}")
        if c.variant not in ADJ_VARIANTS:
            raise InputError(f"ScoreNetworkAConfig.variant must be one of {', '.join(ADJ_VARIANTS)}, got "
                             f"{c.variant!r} ('graphgen' for models saved before the field existed)")
        if c.variant == "paper" and c.hidden % c.heads:
            raise InputError(f"ScoreNetworkAConfig.hidden ({c.hidden}) must be divisible by heads ({c.heads}): the "
                             f"paper network's first layer attends with width hidden")
        self.num_features, self.config = num_features, c
        layers = []
        for i in range(c.num_layers):
            x_in = num_features if i == 0 else c.hidden
            a_in = c.c_init if i == 0 else c.c_hid
            a_out = c.c_final if i == c.num_layers - 1 else c.c_hid
            layers.append(self._layer(c, i, x_in, a_in, a_out))
        self.layers = nn.ModuleList(layers)
        cat = c.c_init + c.c_hid * (c.num_layers - 1) + c.c_final
        self.head = MLP(cat, 2 * cat, 1, 3, act="elu")

    @staticmethod
    def _layer(c: ScoreNetworkAConfig, index: int, x_in: int, a_in: int, a_out: int) -> AttentionLayer:
        """Layer ``index`` of the network ``c.variant`` names (the class docstring lists the differences)."""
        if c.variant == "graphgen":
            return AttentionLayer(c.num_linears, x_in, c.attn, c.hidden, a_in, a_out, c.heads,
                                  x_mix_hidden=2 * c.hidden, x_mix_act="tanh", scale_channels=c.attn)
        attn = c.hidden if index == 0 else c.attn  # GDSS's code builds its first layer with attention width nhid
        return AttentionLayer(c.num_linears, x_in, attn, c.hidden, a_in, a_out, c.heads)

    def reset_parameters(self) -> None:
        for m in (*self.layers, self.head):
            m.reset_parameters()

    def forward(self, x: Tensor, adj: Tensor, mask: Tensor) -> Tensor:
        a = adjacency_powers(adj, self.config.c_init)  # [B, c_init, N, N]
        chans = [a]
        for layer in self.layers:
            x, a = layer(x, a, mask)
            chans.append(a)
        out = self.head(torch.cat(chans, dim=1).permute(0, 2, 3, 1)).squeeze(-1)  # [B, N, N]
        return out * pair_mask(mask, diagonal=False).to(out.dtype)

    def __repr__(self) -> str:
        c = self.config
        return (f"{type(self).__name__}(features={self.num_features}, layers={c.num_layers}, hidden={c.hidden}, "
                f"attn={c.attn}, heads={c.heads}, channels={c.c_init}->{c.c_hid}->{c.c_final}, variant={c.variant})")
