"""Dense graph transformer with a node stream and an edge stream, for denoisers that work on padded batches:
nodes ``x [B, N, d]``, ordered node pairs ``e [B, N, N, c]`` and a node mask ``[B, N]`` (True = real node).

- :class:`AdaptiveLayerNorm`: LayerNorm whose scale, shift and residual gate come from a per-graph condition
  (adaLN-Zero, Peebles & Xie, "Scalable Diffusion Models with Transformers", ICCV 2023), plain LayerNorm without one.
- :class:`DenseGraphTransformerLayer`: one pre-norm block: edge-aware attention on nodes and a node-pair update of
  the edges, then a feed-forward on each stream.
- :class:`DenseGraphTransformer`: input maps, a stack of layers, output heads.

Decisions:

- Attention reads the edges through a FiLM of its scores (DiGress, Vignac et al., ICLR 2023), with one scale and one
  shift per head rather than per channel, so the scores stay ``[B, H, N, N]`` and the softmax is an ordinary one.
- Edge features enter the values too. Their projection is linear, so it is applied after aggregation
  (``sum_j a_ij W f_ij = W sum_j a_ij f_ij``): ``B H N^2 c`` multiply-adds instead of ``B N^2 d c``.
- The two mixing updates (attention for nodes, node pairs and attention scores for edges) read the same normalised
  inputs and are added in parallel; each stream then has its own feed-forward block.
- Pairs are ordered: ``e_ij`` (from ``i`` to ``j``) and ``e_ji`` have separate weights for source and target, and
  nothing is symmetrised. The diagonal ``e_ii`` is an entry like any other (callers mask it if they must).
- Padding: padded keys get the most negative finite score, so a graph with no real node gets uniform weights that
  the key mask then zeroes (no NaN). A real node or pair never reads a padded one, and every output is multiplied by
  its node or pair mask, so padded outputs are exactly zero whatever the padded inputs held (they must be finite).
- Everything is batched matrix products and broadcasts; there is no loop over nodes or pairs.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["AdaptiveLayerNorm", "DenseGraphTransformer", "DenseGraphTransformerLayer", "masked_softmax",
           "pair_mask"]


def per_graph(values: Tensor, like: Tensor) -> Tensor:
    """Per-graph ``values`` ``[B, C]`` viewed to broadcast against a dense ``like`` ``[B, ..., C]`` (nodes or pairs)."""
    return values.view(values.size(0), *([1] * (like.dim() - 2)), values.size(-1))


def pair_mask(mask: Tensor) -> Tensor:
    """Ordered pairs of real nodes: ``mask`` bool ``[B, N]`` -> ``[B, N, N]`` with ``out[b, i, j] = m_i and m_j``."""
    return mask.unsqueeze(2) & mask.unsqueeze(1)


def masked_softmax(scores: Tensor, mask: Tensor) -> Tensor:
    """Softmax of ``scores`` ``[B, H, N, N]`` over the real keys (last axis) of node ``mask`` ``[B, N]``.

    Padded keys get weight exactly 0. A row whose graph has no real node is all zero (not NaN): its keys all get the
    same finite score, and the uniform weights are then multiplied by the key mask."""
    keys = mask[:, None, None, :]
    filled = scores.masked_fill(~keys, torch.finfo(scores.dtype).min)
    return torch.softmax(filled, dim=-1) * keys


def check_dense_inputs(owner: str, x: Tensor, e: Tensor, mask: Tensor, cond: Tensor | None, node_dim: int,
                       edge_dim: int, cond_dim: int | None) -> None:
    """Raise a ``ValueError`` naming the argument and the expected shape when the dense inputs do not fit."""
    if x.dim() != 3 or x.size(-1) != node_dim:
        raise ValueError(f"{owner}: x must be [B, N, node_dim={node_dim}], got {tuple(x.shape)}")
    b, n = x.shape[:2]
    if e.shape != (b, n, n, edge_dim):
        raise ValueError(f"{owner}: e must be [B, N, N, edge_dim] = [{b}, {n}, {n}, {edge_dim}], got {tuple(e.shape)}")
    if mask.dtype != torch.bool or mask.shape != (b, n):
        raise ValueError(f"{owner}: mask must be bool [B, N] = [{b}, {n}] (True = real node), got "
                         f"{mask.dtype} {tuple(mask.shape)}")
    if cond_dim is None and cond is not None:
        raise ValueError(f"{owner}: got cond but the module was built with cond_dim=None; set cond_dim to use it")
    if cond_dim is not None and (cond is None or cond.shape != (b, cond_dim)):
        got = None if cond is None else tuple(cond.shape)
        raise ValueError(f"{owner}: cond must be [B, cond_dim] = [{b}, {cond_dim}] (built with cond_dim), got {got}")


class AdaptiveLayerNorm(nn.Module):
    r"""LayerNorm modulated by a per-graph condition ``c`` (adaLN-Zero of DiT), or plain LayerNorm without one.

    With ``cond_dim`` set, :math:`[\beta, \gamma, g] = W\,\mathrm{SiLU}(c) + b` and

    .. math::
        \mathrm{adaLN}(z; c) = \mathrm{LN}(z) \odot (1 + \gamma) + \beta, \qquad \text{gate } g,

    where ``LN`` has no affine parameters and ``W``, ``b`` start at zero: at initialisation the norm is a plain
    ``LN`` and the gate is 0, so a gated residual block ``z + g * f(adaLN(z))`` starts as the identity and the output
    does not depend on ``c`` until a training step has moved ``W``. Without ``cond_dim`` it is ``nn.LayerNorm`` (with
    affine parameters) and the gate is ``None`` (no gating).

    Args:
        dim: width of ``z``.
        cond_dim: width of ``c`` or ``None``.
        gate: also produce the gate ``g`` (default True; False for a final norm before an output head).

    Shapes: z ``[B, ..., dim]``, cond ``[B, cond_dim]`` -> ``(z' [B, ..., dim], gate [B, 1.., dim] or None)``.
    """

    def __init__(self, dim: int, cond_dim: int | None = None, *, gate: bool = True):
        super().__init__()
        self.dim, self.cond_dim, self.gate = dim, cond_dim, gate
        self.norm = nn.LayerNorm(dim, elementwise_affine=cond_dim is None)
        self.modulation = nn.Linear(cond_dim, (3 if gate else 2) * dim) if cond_dim is not None else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.norm.reset_parameters()
        if self.modulation is not None:
            nn.init.zeros_(self.modulation.weight)
            nn.init.zeros_(self.modulation.bias)

    def forward(self, z: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        if self.modulation is None:
            if cond is not None:
                raise ValueError("AdaptiveLayerNorm: got cond but built with cond_dim=None; set cond_dim to use it")
            return self.norm(z), None
        if cond is None:
            raise ValueError(f"AdaptiveLayerNorm: built with cond_dim={self.cond_dim}, so cond [B, cond_dim] is needed")
        params = per_graph(self.modulation(F.silu(cond)), z).chunk(3 if self.gate else 2, dim=-1)
        shift, scale = params[0], params[1]
        # addcmul: one pass over the (large, for pairs) tensor instead of two
        return torch.addcmul(shift, self.norm(z), 1 + scale), (params[2] if self.gate else None)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.dim}, cond_dim={self.cond_dim}, gate={self.gate})"


def _residual(z: Tensor, branch: Tensor, gate: Tensor | None) -> Tensor:
    """``z + gate * branch`` (``z + branch`` without a gate)."""
    return z + branch if gate is None else torch.addcmul(z, branch, gate)


class DenseGraphTransformerLayer(nn.Module):
    r"""Pre-norm graph transformer block on dense padded graphs, with node and (directed) edge channels.

    With ``h = adaLN_1^x(x; c)``, ``f = adaLN_1^e(e; c)`` (see :class:`AdaptiveLayerNorm`; plain LayerNorm and no
    gates when ``cond_dim`` is ``None``), heads ``k = 1..H`` of width ``D = d / H`` and real nodes ``j``:

    .. math::
        s_{ij}^k &= \frac{\langle W_Q^k h_i, W_K^k h_j\rangle}{\sqrt D}\,\big(1 + W_M^k f_{ij}\big) + W_A^k f_{ij}
            \qquad \text{(FiLM of the score by the edge)} \\
        \alpha_{ij}^k &= \mathrm{softmax}_{j \text{ real}}\big(s_{ij}^k\big) \\
        \hat x_i &= W_O \big\Vert_k \Big(\textstyle\sum_j \alpha_{ij}^k W_V^k h_j
            + W_{EV}^k \sum_j \alpha_{ij}^k f_{ij}\Big) \\
        \hat e_{ij} &= W_2\,\mathrm{GELU}\big(W_F f_{ij} + W_S s_{ij} + U h_i + V h_j + b\big)
            \qquad (s_{ij} = [s_{ij}^1, \dots, s_{ij}^H]) \\
        x &\leftarrow x + g_1^x \odot \hat x, \qquad e \leftarrow e + g_1^e \odot \hat e \\
        x &\leftarrow x + g_2^x \odot \mathrm{FFN}_x(\mathrm{adaLN}_2^x(x; c)), \qquad
        e \leftarrow e + g_2^e \odot \mathrm{FFN}_e(\mathrm{adaLN}_2^e(e; c))

    and finally ``x_i <- m_i x_i``, ``e_ij <- m_i m_j e_ij`` (``m`` = node mask). ``FFN = Lin-GELU-Lin`` with hidden
    width ``ff_mult`` times the stream width. ``U != V``, so ``e_ij`` and ``e_ji`` differ. Dropout (``dropout``)
    acts on each residual branch before its gate. Attention after Vaswani et al. 2017; edge FiLM of the scores after
    DiGress (Vignac et al. 2023); adaLN-Zero after DiT (Peebles & Xie 2023).

    Args:
        node_dim: ``d`` (divisible by ``heads``).
        edge_dim: ``c``.
        heads: ``H`` (default 4).
        cond_dim: width of the per-graph condition ``c`` (a noise-level embedding) or ``None`` (default) for plain
            LayerNorm and ungated residuals.
        ff_mult: feed-forward expansion of both streams (default 2).
        dropout: dropout on the residual branches (default 0).

    Shapes:
        x ``[B, N, d]``, e ``[B, N, N, c]`` (``e[b, i, j]`` = pair ``i -> j``), mask bool ``[B, N]`` (True = real),
        cond ``[B, cond_dim]`` -> ``(x' [B, N, d], e' [B, N, N, c])``; padded rows and columns are exactly zero.
    """

    def __init__(self, node_dim: int, edge_dim: int, heads: int = 4, cond_dim: int | None = None,
                 ff_mult: int = 2, dropout: float = 0.0):
        super().__init__()
        if node_dim % heads != 0:
            raise ValueError(f"DenseGraphTransformerLayer: node_dim={node_dim} must be divisible by heads={heads}")
        self.node_dim, self.edge_dim, self.heads, self.head_dim = node_dim, edge_dim, heads, node_dim // heads
        self.cond_dim, self.ff_mult, self.dropout = cond_dim, ff_mult, float(dropout)
        d, c = node_dim, edge_dim
        self.norm_x1, self.norm_x2 = AdaptiveLayerNorm(d, cond_dim), AdaptiveLayerNorm(d, cond_dim)
        self.norm_e1, self.norm_e2 = AdaptiveLayerNorm(c, cond_dim), AdaptiveLayerNorm(c, cond_dim)
        # attention
        self.qkv = nn.Linear(d, 3 * d)
        self.edge_proj = nn.Linear(c, 2 * heads + c)           # [W_M | W_A | W_F] of f, one matmul over the pairs
        self.edge_value = nn.Parameter(torch.empty(heads, c, self.head_dim))     # W_EV per head
        self.out = nn.Linear(d, d)
        # edge message (W_F lives in edge_proj; its bias is b)
        self.score_proj = nn.Linear(heads, c, bias=False)     # W_S
        self.source = nn.Linear(d, c, bias=False)             # U
        self.target = nn.Linear(d, c, bias=False)             # V
        self.edge_out = nn.Linear(c, c)                       # W_2
        self.ffn_x = nn.Sequential(nn.Linear(d, ff_mult * d), nn.GELU(), nn.Linear(ff_mult * d, d))
        self.ffn_e = nn.Sequential(nn.Linear(c, ff_mult * c), nn.GELU(), nn.Linear(ff_mult * c, c))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in (self.norm_x1, self.norm_x2, self.norm_e1, self.norm_e2, self.qkv, self.edge_proj, self.out,
                  self.score_proj, self.source, self.target, self.edge_out, self.ffn_x[0], self.ffn_x[2],
                  self.ffn_e[0], self.ffn_e[2]):
            m.reset_parameters()
        # same scale as an nn.Linear(c, D) per head
        bound = 1.0 / math.sqrt(self.edge_dim)
        nn.init.uniform_(self.edge_value, -bound, bound)

    def forward(self, x: Tensor, e: Tensor, mask: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        check_dense_inputs(type(self).__name__, x, e, mask, cond, self.node_dim, self.edge_dim, self.cond_dim)
        b, n, d = x.shape
        heads, dh, c = self.heads, self.head_dim, self.edge_dim
        node_m = mask.unsqueeze(-1).to(x.dtype)                                   # [B, N, 1]
        pair_m = pair_mask(mask).unsqueeze(-1).to(e.dtype)                        # [B, N, N, 1]

        # mixing: attention on nodes, node pairs + scores on edges; both read the same normalised inputs
        h, gate_x = self.norm_x1(x, cond)
        f, gate_e = self.norm_e1(e, cond)
        q, k, v = self.qkv(h).view(b, n, 3, heads, dh).permute(2, 0, 3, 1, 4)     # each [B, H, N, D]
        e_mul, e_add, e_msg = self.edge_proj(f).split([heads, heads, c], dim=-1)  # [B, N, N, H], .., [B, N, N, c]
        scores = q @ k.transpose(-1, -2) / math.sqrt(dh)                          # [B, H, N, N]
        scores = scores * (1 + e_mul.permute(0, 3, 1, 2)) + e_add.permute(0, 3, 1, 2)
        alpha = masked_softmax(scores, mask)                                      # [B, H, N, N]
        from_nodes = alpha @ v                                                    # [B, H, N, D]
        edge_sum = torch.einsum("bhij,bijc->bihc", alpha, f)                      # [B, N, H, c]
        from_edges = torch.einsum("bihc,hcd->bihd", edge_sum, self.edge_value)   # [B, N, H, D]
        x_hat = self.out((from_nodes.transpose(1, 2) + from_edges).reshape(b, n, d))
        e_hat = (e_msg + self.score_proj(scores.permute(0, 2, 3, 1))
                 + self.source(h).unsqueeze(2) + self.target(h).unsqueeze(1))     # [B, N(i), N(j), c]
        e_hat = self.edge_out(F.gelu(e_hat))
        x = _residual(x, F.dropout(x_hat, self.dropout, self.training), gate_x)
        e = _residual(e, F.dropout(e_hat, self.dropout, self.training), gate_e)

        # feed-forward on each stream
        h, gate_x = self.norm_x2(x, cond)
        x = _residual(x, F.dropout(self.ffn_x(h), self.dropout, self.training), gate_x)
        f, gate_e = self.norm_e2(e, cond)
        e = _residual(e, F.dropout(self.ffn_e(f), self.dropout, self.training), gate_e)
        return x * node_m, e * pair_m

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.node_dim}, edge_dim={self.edge_dim}, heads={self.heads}, "
                f"cond_dim={self.cond_dim}, ff_mult={self.ff_mult}, dropout={self.dropout})")


class DenseGraphTransformer(nn.Module):
    r"""A stack of :class:`DenseGraphTransformerLayer` between input maps and output heads:

    .. math::
        x^0 = W^x_{in} x, \quad e^0 = W^e_{in} e, \quad (x^{l+1}, e^{l+1}) = \mathrm{Layer}_l(x^l, e^l, m, c), \\
        \hat x = W^x_{out}\,\mathrm{adaLN}^x(x^L; c), \qquad \hat e = W^e_{out}\,\mathrm{adaLN}^e(e^L; c)

    (final norms without gates, as DiT's final layer; plain LayerNorm when ``cond_dim`` is ``None``), with padded
    nodes and pairs set to zero after the input maps and in the outputs. The output heads use the default
    ``nn.Linear`` initialisation (not zero), so gradients reach every layer from the first step.

    Args:
        node_in, edge_in: input widths.
        node_out, edge_out: output widths.
        hidden: node width ``d`` (default 128).
        edge_hidden: edge width ``c`` (default 64).
        layers: number of layers (default 4).
        heads, cond_dim, ff_mult, dropout: passed to every layer (see :class:`DenseGraphTransformerLayer`).

    Shapes:
        x ``[B, N, node_in]``, e ``[B, N, N, edge_in]``, mask bool ``[B, N]``, cond ``[B, cond_dim]`` ->
        ``([B, N, node_out], [B, N, N, edge_out])``; padded entries are exactly zero.
    """

    def __init__(self, node_in: int, edge_in: int, node_out: int, edge_out: int, *, hidden: int = 128,
                 edge_hidden: int = 64, layers: int = 4, heads: int = 4, cond_dim: int | None = None,
                 ff_mult: int = 2, dropout: float = 0.0):
        super().__init__()
        self.node_in, self.edge_in, self.node_out, self.edge_out = node_in, edge_in, node_out, edge_out
        self.hidden, self.edge_hidden, self.heads, self.cond_dim = hidden, edge_hidden, heads, cond_dim
        self.ff_mult, self.dropout = ff_mult, float(dropout)
        self.node_encoder = nn.Linear(node_in, hidden)
        self.edge_encoder = nn.Linear(edge_in, edge_hidden)
        self.layers = nn.ModuleList(
            DenseGraphTransformerLayer(hidden, edge_hidden, heads, cond_dim, ff_mult, dropout) for _ in range(layers))
        self.norm_x = AdaptiveLayerNorm(hidden, cond_dim, gate=False)
        self.norm_e = AdaptiveLayerNorm(edge_hidden, cond_dim, gate=False)
        self.node_head = nn.Linear(hidden, node_out)
        self.edge_head = nn.Linear(edge_hidden, edge_out)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in (self.node_encoder, self.edge_encoder, *self.layers, self.norm_x, self.norm_e, self.node_head,
                  self.edge_head):
            m.reset_parameters()

    def forward(self, x: Tensor, e: Tensor, mask: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        check_dense_inputs(type(self).__name__, x, e, mask, cond, self.node_in, self.edge_in, self.cond_dim)
        node_m = mask.unsqueeze(-1).to(x.dtype)                                   # [B, N, 1]
        pair_m = pair_mask(mask).unsqueeze(-1).to(e.dtype)                        # [B, N, N, 1]
        h = self.node_encoder(x) * node_m
        f = self.edge_encoder(e) * pair_m
        for layer in self.layers:
            h, f = layer(h, f, mask, cond)
        x_out = self.node_head(self.norm_x(h, cond)[0]) * node_m
        e_out = self.edge_head(self.norm_e(f, cond)[0]) * pair_m
        return x_out, e_out

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(node={self.node_in}->{self.node_out}, edge={self.edge_in}->{self.edge_out}, "
                f"hidden={self.hidden}, edge_hidden={self.edge_hidden}, layers={len(self.layers)}, "
                f"heads={self.heads}, cond_dim={self.cond_dim}, ff_mult={self.ff_mult}, dropout={self.dropout})")
