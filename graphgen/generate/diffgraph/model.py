r"""DiffGraph (Li et al., WSDM 2025): heterogeneous graph diffusion for recommendation and node classification.

DiffGraph is not a graph sampler. It learns node embeddings on a *target* relation (purchases; the paper-author-paper
meta-path) and turns the embeddings learnt on *auxiliary* relations (views and carts; other meta-paths) into the
target space with a conditional diffusion model, then adds them to the target embeddings:

.. math::
    H^{tgt} = E^{(0)} + \sum_{l=1}^{L} \mathrm{norm}(E^{(l)}), \quad
    E^{(l)} = \sigma\big(\tilde A_{tgt} E^{(l-1)}\big), \quad \tilde A = D^{-1/2} A D^{-1/2}

    H^{aux} = \sum_{r \in \text{aux}} \Big(E^{(0)} + \sum_{l=1}^{L} \mathrm{norm}(E_r^{(l)})\Big), \quad
    E_r^{(l)} = \sigma\big(\tilde A_r E_r^{(l-1)}\big)

    x_t = \sqrt{\bar\alpha_t} H^{aux} + \sqrt{1 - \bar\alpha_t}\,\epsilon, \quad
    \hat x_0 = f_\theta(x_t, t) \approx H^{tgt}, \quad
    H = H^{tgt} + \hat x_0

with :math:`\sigma` a LeakyReLU (slope 0.5), ``norm`` the row-wise L2 normalisation and :math:`E^{(0)}` the free
embeddings. Training minimises BPR + L2 on the final embeddings of the batch + the diffusion loss (recommendation),
or NLL of a linear classifier + the diffusion loss (node classification). The diffusion loss is the x0 regression
:math:`w_t \lVert H^{tgt} - f_\theta(x_t, t) \rVert^2` averaged over the feature dimension and the batch rows, with
:math:`w_t = \mathrm{SNR}(t-1) - \mathrm{SNR}(t)` and :math:`w_0 = 1`. At inference the reverse chain starts at
:math:`H^{aux}` itself (no noise; ``sampling_steps = 0``) and runs every step's posterior mean with the denoiser's
:math:`\hat x_0`.

Faithful to the released code (``HKUDS/DiffGraph``, commit 91a743c) where the paper is silent: the noise schedule
(variance linearly from ``noise_scale * noise_min`` to ``noise_scale * noise_max``, then :math:`\beta_0` fixed to
1e-4), the denoiser (input L2-normalised, dropout 0.5, an 8-d sinusoidal step embedding through a linear layer, one
tanh hidden layer of 64, a linear output), the initialisations, 64-d embeddings, 2 layers (recommendation) or 3
(node classification), BPR summed and divided by the batch size, and the identity node features of AMiner (stored
here as the equivalent embedding table plus bias, see :class:`IdentityFeatureEncoder`).

Deviations (each named):

* Dropout of the denoiser is active in every training step. The released code calls ``model.eval()`` before its first
  evaluation and never ``model.train()`` again, so dropout is off after epoch 1 there.
* BPR uses ``logsigmoid`` (the released code computes ``sigmoid().log()``, which underflows to ``-inf`` for a large
  negative margin); the two are equal wherever the latter is finite.
* Negatives: one uniform item per training pair that the user has not bought (in the fitted purchases), drawn anew
  for every batch from the trainer's generator (the released code draws them once per epoch).
* Epoch selection on a validation split (the released code selects on the test file).

Variants (``DiffGraphConfig.variant``), for the paper's ablation and the baseline:

* ``"diffgraph"``: the model above.
* ``"no_diffusion"``: :math:`H = H^{tgt} + H^{aux}` (the auxiliary embeddings added without the diffusion module).
* ``"lightgcn"``: LightGCN (He et al., SIGIR 2020) on the target relation only: no activation, no normalisation,
  :math:`H = \frac{1}{L+1}\sum_{l=0}^{L} E^{(l)}`, L2 on the batch's free embeddings :math:`E^{(0)}`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphgen.errors import InputError
from graphgen.nn.pretrained import PretrainedMixin
from graphgen.ops import CSRGraph, gather_scatter

TASKS = ("recommendation", "node_classification")
VARIANTS = ("diffgraph", "no_diffusion", "lightgcn")
INFERENCE = ("chain", "last_step")


# ----------------------------------------------------------------------------------------------------------------------
# config
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class EmbeddingDiffusionConfig:
    """The Gaussian diffusion over embeddings and its denoiser (released defaults: Retail Rocket)."""

    steps: int = 200
    noise_scale: float = 1e-4        # AMiner: 1e-5
    noise_min: float = 1e-4
    noise_max: float = 1e-3
    first_beta: float = 1e-4         # beta_0 is fixed to this value (the released schedule)
    time_dim: int = 8
    hidden: list[int] = field(default_factory=lambda: [64])
    dropout: float = 0.5
    normalize_input: bool = True
    sampling_steps: int = 0          # 0: the reverse chain starts from the auxiliary embeddings without noise
    # chain: every reverse step, as released; last_step: only step 0's x0 prediction from the auxiliary embeddings
    # (with betas ~1e-10 the other steps move x by ~1e-5 of the prediction each, so the chain is nearly this one call)
    inference: str = "chain"


@dataclass
class DiffGraphConfig:
    """A DiffGraph model: task, variant, sizes, relations and the diffusion."""

    task: str = "recommendation"     # recommendation | node_classification
    variant: str = "diffgraph"       # diffgraph | no_diffusion | lightgcn
    num_users: int = 0               # recommendation: user and item counts
    num_items: int = 0
    num_nodes: int = 0               # node classification: nodes of the target type, and classes
    num_classes: int = 0
    target: str = "buy"              # name of the target relation
    auxiliary: list[str] = field(default_factory=lambda: ["view", "cart"])
    dim: int = 64
    layers: int = 2                  # propagation layers on every relation
    slope: float = 0.5               # LeakyReLU negative slope of each propagation layer
    reg: float = 3e-2                # recommendation: L2 weight on the batch embeddings (LightGCN: 1e-4)
    diffusion: EmbeddingDiffusionConfig = field(default_factory=EmbeddingDiffusionConfig)

    def check_sizes(self) -> None:
        """Every size a model needs is >= 1 (the trainer fills the node counts from the dataset, so a preset leaves
        them 0 and only a model checks them)."""
        sizes = (("num_users", "num_items") if self.task == "recommendation" else ("num_nodes", "num_classes"))
        for name in sizes + ("dim", "layers"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"DiffGraphConfig.{name} must be >= 1 for task {self.task!r}, got "
                                 f"{getattr(self, name)}")

    def __post_init__(self) -> None:
        if isinstance(self.diffusion, dict):
            self.diffusion = EmbeddingDiffusionConfig(**self.diffusion)
        if self.diffusion.inference not in INFERENCE:
            raise InputError(f"DiffGraphConfig.diffusion.inference must be one of {INFERENCE}, got "
                             f"{self.diffusion.inference!r}")
        if self.task not in TASKS:
            raise InputError(f"DiffGraphConfig.task must be one of {TASKS}, got {self.task!r}")
        if self.variant not in VARIANTS:
            raise InputError(f"DiffGraphConfig.variant must be one of {VARIANTS}, got {self.variant!r}")
        if self.variant != "lightgcn" and not self.auxiliary:
            raise InputError(f"DiffGraphConfig.auxiliary is empty: variant {self.variant!r} needs at least one "
                             "auxiliary relation")


# ----------------------------------------------------------------------------------------------------------------------
# propagation
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class NormalizedGraph:
    """A relation as message passing: ``out = D^{-1/2} A D^{-1/2} x`` over ``graph`` (edges ``j -> i``).

    Degrees are counted on the edges given (clamped to >= 1, as the released code); build it with
    :meth:`from_edge_index`, which takes an undirected edge list with both directions (and self loops if the
    relation has them)."""

    graph: CSRGraph
    weight: Tensor            # [E] 1 / sqrt(deg_out(j) deg_in(i)) in the edge order of ``graph``'s edge_index
    num_nodes: int

    @staticmethod
    def from_edge_index(edge_index: Tensor, num_nodes: int) -> "NormalizedGraph":
        if edge_index.dim() != 2 or edge_index.size(0) != 2:
            raise InputError(f"NormalizedGraph: edge_index must be [2, E], got {tuple(edge_index.shape)}")
        src, dst = edge_index[0].long(), edge_index[1].long()
        deg_out = torch.bincount(src, minlength=num_nodes).clamp(min=1).float()
        deg_in = torch.bincount(dst, minlength=num_nodes).clamp(min=1).float()
        weight = deg_out[src].rsqrt() * deg_in[dst].rsqrt()
        return NormalizedGraph(CSRGraph.from_edge_index(edge_index.long(), num_nodes), weight, num_nodes)

    @staticmethod
    def bipartite(pairs: Tensor, num_left: int, num_right: int) -> "NormalizedGraph":
        """The symmetric graph of (left, right) pairs on ``num_left + num_right`` nodes (right ids shifted)."""
        left, right = pairs[0].long(), pairs[1].long() + num_left
        both = torch.stack([torch.cat([left, right]), torch.cat([right, left])])
        return NormalizedGraph.from_edge_index(both, num_left + num_right)

    def propagate(self, x: Tensor) -> Tensor:
        return gather_scatter(x, self.graph, edge_weight=self.weight, message="mul", reduce="sum")


def diffgraph_propagation(graph: NormalizedGraph, x0: Tensor, layers: int, slope: float) -> Tensor:
    """``x0 + sum_l normalize(E_l)`` with ``E_l = leaky_relu(A E_{l-1})`` (the released DiffGraph encoder)."""
    out, h = x0, x0
    for _ in range(layers):
        h = F.leaky_relu(graph.propagate(h), slope)
        out = out + F.normalize(h, p=2, dim=1)
    return out


def lightgcn_propagation(graph: NormalizedGraph, x0: Tensor, layers: int) -> Tensor:
    """LightGCN: the mean of ``E_0 .. E_L`` with ``E_l = A E_{l-1}`` (no activation, no normalisation)."""
    out, h = x0, x0
    for _ in range(layers):
        h = graph.propagate(h)
        out = out + h
    return out / (layers + 1)


# ----------------------------------------------------------------------------------------------------------------------
# diffusion
# ----------------------------------------------------------------------------------------------------------------------
def _dropout(x: Tensor, p: float, generator: torch.Generator | None) -> Tensor:
    """Inverted dropout with the caller's generator (the trainer owns every random draw of a loss)."""
    if p <= 0.0:
        return x
    keep = torch.rand(x.shape, generator=generator, device=x.device) >= p
    return x * keep / (1.0 - p)


class Denoiser(nn.Module):
    r"""x0 prediction from a noisy embedding and its step.

    .. math:: f(x, t) = W_{out}\,\tanh\big(W_{in}\,[\mathrm{drop}(\mathrm{norm}(x)) \,\|\, W_e\,\gamma(t)]\big)

    with :math:`\gamma(t)` the ``time_dim`` sinusoidal embedding (cosines then sines) and ``hidden`` tanh layers.

    Shapes: ``x`` ``[N, dim]``, ``t`` long ``[N]`` -> ``[N, dim]``.
    """

    def __init__(self, dim: int, hidden: list[int], time_dim: int, dropout: float, normalize_input: bool) -> None:
        super().__init__()
        self.dim, self.time_dim, self.dropout, self.normalize_input = dim, time_dim, dropout, normalize_input
        self.time_proj = nn.Linear(time_dim, time_dim)
        widths_in = [dim + time_dim] + list(hidden)
        self.hidden_layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths_in[:-1], widths_in[1:]))
        self.out_layer = nn.Linear(widths_in[-1], dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for layer in [self.time_proj, *self.hidden_layers, self.out_layer]:   # the released initialisation
            fan_out, fan_in = layer.weight.shape
            nn.init.normal_(layer.weight, 0.0, math.sqrt(2.0 / (fan_in + fan_out)))
            nn.init.normal_(layer.bias, 0.0, 0.001)

    def step_embedding(self, t: Tensor) -> Tensor:
        half = self.time_dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
        angles = t.float()[:, None] * freqs[None]
        emb = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
        if self.time_dim % 2:
            emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
        return self.time_proj(emb)

    def forward(self, x: Tensor, t: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        if self.normalize_input:
            x = F.normalize(x, p=2, dim=1)
        if self.training:
            x = _dropout(x, self.dropout, generator)
        h = torch.cat([x, self.step_embedding(t)], dim=-1)
        for layer in self.hidden_layers:
            h = torch.tanh(layer(h))
        return self.out_layer(h)

    def __repr__(self) -> str:
        hidden = [layer.out_features for layer in self.hidden_layers]
        return (f"{self.__class__.__name__}(dim={self.dim}, hidden={hidden}, time_dim={self.time_dim}, "
                f"dropout={self.dropout})")


class EmbeddingDiffusion(nn.Module):
    r"""The Gaussian forward process over embeddings, its x0-regression loss and its reverse chain.

    Schedule: ``v = linspace(scale * min, scale * max, T)``, ``alpha_bar = 1 - v``, ``beta_t = 1 - alpha_bar_t /
    alpha_bar_{t-1}`` (capped at 0.999) with ``beta_0 = first_beta``; the cumulative product is then taken from
    these betas. Buffers are float64 (the betas are ~1e-10 apart).
    """

    def __init__(self, cfg: EmbeddingDiffusionConfig) -> None:
        super().__init__()
        self.steps = cfg.steps
        self.sampling_steps = cfg.sampling_steps
        self.inference = cfg.inference
        variance = torch.linspace(cfg.noise_scale * cfg.noise_min, cfg.noise_scale * cfg.noise_max, cfg.steps,
                                  dtype=torch.float64)
        ab = 1.0 - variance
        betas = torch.empty(cfg.steps, dtype=torch.float64)
        betas[0] = cfg.first_beta
        betas[1:] = (1.0 - ab[1:] / ab[:-1]).clamp(max=0.999)
        alphas = 1.0 - betas
        abar = torch.cumprod(alphas, 0)
        abar_prev = torch.cat([torch.ones(1, dtype=torch.float64), abar[:-1]])
        self.register_buffer("alpha_bar", abar, persistent=False)
        self.register_buffer("mean_coef_x0", betas * abar_prev.sqrt() / (1.0 - abar), persistent=False)
        self.register_buffer("mean_coef_xt", (1.0 - abar_prev) * alphas.sqrt() / (1.0 - abar), persistent=False)
        snr = abar / (1.0 - abar)
        weight = torch.ones(cfg.steps, dtype=torch.float64)
        weight[1:] = snr[:-1] - snr[1:]
        self.register_buffer("loss_weight", weight, persistent=False)

    def noisy(self, x0: Tensor, t: Tensor, generator: torch.Generator | None) -> Tensor:
        abar = self.alpha_bar[t].to(x0.dtype)[:, None]
        noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        return abar.sqrt() * x0 + (1.0 - abar).sqrt() * noise

    def training_loss(self, denoiser: Denoiser, target: Tensor, source: Tensor, rows: Tensor,
                      generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """``(loss, x0_hat)``: ``x0_hat`` for every row of ``source`` (noised at a uniform step each), the loss
        averaged over ``rows`` (the batch's nodes, repeats counted, as the released code)."""
        t = torch.randint(0, self.steps, (source.size(0),), generator=generator, device=source.device)
        x0_hat = denoiser(self.noisy(source, t, generator), t, generator=generator)
        per_row = self.loss_weight[t].to(source.dtype) * (target - x0_hat).pow(2).mean(dim=1)
        return per_row[rows].mean(), x0_hat

    @torch.no_grad()
    def reverse(self, denoiser: Denoiser, source: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Run the reverse chain's posterior means from ``source`` (noised to ``sampling_steps - 1`` first if > 0);
        ``inference="last_step"`` runs step 0 alone (its posterior mean is the x0 prediction itself)."""
        x = source
        if self.sampling_steps > 0:
            t = torch.full((source.size(0),), self.sampling_steps - 1, dtype=torch.long, device=source.device)
            x = self.noisy(source, t, generator)
        steps = [0] if self.inference == "last_step" else reversed(range(self.steps))
        for step in steps:
            t = torch.full((x.size(0),), step, dtype=torch.long, device=x.device)
            x0_hat = denoiser(x, t)
            x = (self.mean_coef_x0[step].to(x.dtype) * x0_hat + self.mean_coef_xt[step].to(x.dtype) * x)
        return x

    def extra_repr(self) -> str:
        return f"steps={self.steps}, sampling_steps={self.sampling_steps}, inference={self.inference}"


# ----------------------------------------------------------------------------------------------------------------------
# the model
# ----------------------------------------------------------------------------------------------------------------------
class IdentityFeatureEncoder(nn.Module):
    """``Linear(I_N -> dim)`` on one-hot node features without building the identity: row ``i`` is
    ``weight[:, i] + bias``. Initialised as the released code's ``Linear(N, dim)`` (Xavier-normal, gain 1.414; the
    default uniform bias). Row-normalising an identity matrix leaves it unchanged, so this is exact."""

    def __init__(self, num_nodes: int, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(dim, num_nodes))
        self.bias = nn.Parameter(torch.empty(dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_normal_(self.weight, gain=1.414)
        bound = 1.0 / math.sqrt(self.weight.size(1))
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self) -> Tensor:
        return self.weight.t() + self.bias


class DiffGraph(PretrainedMixin, nn.Module):
    """DiffGraph for recommendation (user/item embeddings, BPR) or node classification (identity features, a linear
    classifier); see the module docstring for the update rule, the variants and the deviations.

    The graphs are data, not weights: every call takes ``graphs``, a dict relation name -> :class:`NormalizedGraph`
    on all nodes (users then items for recommendation; target-type nodes for node classification) holding
    ``config.target`` and every name of ``config.auxiliary``.

    Shapes: :meth:`embeddings` returns ``[num_users + num_items, dim]`` or ``[num_nodes, dim]``; :meth:`logits`
    ``[num_nodes, num_classes]``.
    """

    config_class = DiffGraphConfig
    kind_key = "model"

    def kind_value(self) -> str:
        return "diffgraph"

    def __init__(self, config: DiffGraphConfig | None = None, **kwargs) -> None:
        super().__init__()
        if config is None:
            config = DiffGraphConfig(**kwargs)
        elif kwargs:
            raise ValueError("DiffGraph: pass either config or keyword arguments, not both")
        config.check_sizes()
        self.config = cfg = config
        self.recommend = cfg.task == "recommendation"
        if self.recommend:
            self.user_emb = nn.Parameter(torch.empty(cfg.num_users, cfg.dim))
            self.item_emb = nn.Parameter(torch.empty(cfg.num_items, cfg.dim))
        else:
            self.features = IdentityFeatureEncoder(cfg.num_nodes, cfg.dim)
            self.classifier = nn.Linear(cfg.dim, cfg.num_classes)
        self.uses_diffusion = cfg.variant == "diffgraph"
        if self.uses_diffusion:
            d = cfg.diffusion
            self.diffusion = EmbeddingDiffusion(d)
            sides = ("user", "item") if self.recommend else ("node",)
            self.denoisers = nn.ModuleDict({s: Denoiser(cfg.dim, d.hidden, d.time_dim, d.dropout, d.normalize_input)
                                            for s in sides})
        self.reset_parameters()

    @classmethod
    def from_config(cls, config: DiffGraphConfig | dict) -> "DiffGraph":
        return cls(config if isinstance(config, DiffGraphConfig) else cls.config_from_dict(dict(config)))

    def reset_parameters(self) -> None:
        if self.recommend:
            nn.init.xavier_uniform_(self.user_emb)
            nn.init.xavier_uniform_(self.item_emb)
        else:
            self.features.reset_parameters()
            self.classifier.reset_parameters()
        if self.uses_diffusion:
            for d in self.denoisers.values():
                d.reset_parameters()

    # -- encoders ------------------------------------------------------------------------------------------------
    def free_embeddings(self) -> Tensor:
        """``E_0``: ``[num_users + num_items, dim]`` or ``[num_nodes, dim]``."""
        return torch.cat([self.user_emb, self.item_emb]) if self.recommend else self.features()

    def _check_graphs(self, graphs: dict[str, NormalizedGraph]) -> None:
        names = [self.config.target] + ([] if self.config.variant == "lightgcn" else list(self.config.auxiliary))
        missing = [n for n in names if n not in graphs]
        if missing:
            raise InputError(f"DiffGraph: graphs lacks relation(s) {missing}; it holds {sorted(graphs)}")
        nodes = self.free_embeddings().size(0)
        for name in names:
            if graphs[name].num_nodes != nodes:
                raise InputError(f"DiffGraph: relation {name!r} has {graphs[name].num_nodes} nodes, the model "
                                 f"{nodes}")

    def encode(self, graphs: dict[str, NormalizedGraph]) -> tuple[Tensor, Tensor | None]:
        """``(H_tgt, H_aux)``; ``H_aux`` is ``None`` for LightGCN."""
        self._check_graphs(graphs)
        cfg, x0 = self.config, self.free_embeddings()
        if cfg.variant == "lightgcn":
            return lightgcn_propagation(graphs[cfg.target], x0, cfg.layers), None
        target = diffgraph_propagation(graphs[cfg.target], x0, cfg.layers, cfg.slope)
        aux = sum(diffgraph_propagation(graphs[name], x0, cfg.layers, cfg.slope) for name in cfg.auxiliary)
        return target, aux

    def _sides(self, x: Tensor) -> dict[str, Tensor]:
        if self.recommend:
            return {"user": x[:self.config.num_users], "item": x[self.config.num_users:]}
        return {"node": x}

    def embeddings(self, graphs: dict[str, NormalizedGraph], generator: torch.Generator | None = None) -> Tensor:
        """The final embeddings used for ranking / classification (the reverse chain for ``diffgraph``)."""
        target, aux = self.encode(graphs)
        if self.config.variant == "lightgcn":
            return target
        if self.config.variant == "no_diffusion":
            return target + aux
        sources = self._sides(aux)
        denoised = torch.cat([self.diffusion.reverse(self.denoisers[s], sources[s], generator) for s in sources])
        return target + denoised

    def logits(self, graphs: dict[str, NormalizedGraph]) -> Tensor:
        if self.recommend:
            raise InputError("DiffGraph.logits: this is a recommendation model; use embeddings()")
        return self.classifier(self.embeddings(graphs))

    # -- losses --------------------------------------------------------------------------------------------------
    def _train_embeddings(self, graphs: dict[str, NormalizedGraph], rows: dict[str, Tensor],
                          generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """``(final embeddings, diffusion loss)`` in training: the denoiser sees each row at a random step."""
        target, aux = self.encode(graphs)
        zero = target.new_zeros(())
        if self.config.variant == "lightgcn":
            return target, zero
        if self.config.variant == "no_diffusion":
            return target + aux, zero
        tgt, src = self._sides(target), self._sides(aux)
        parts, loss = [], zero
        for side in tgt:
            side_loss, x0_hat = self.diffusion.training_loss(self.denoisers[side], tgt[side], src[side], rows[side],
                                                             generator)
            parts.append(x0_hat)
            loss = loss + side_loss
        return target + torch.cat(parts), loss

    def loss_terms(self, graphs: dict[str, NormalizedGraph], batch: tuple[Tensor, ...],
                   generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Recommendation: ``batch = (users, positive items, negative items)``; node classification:
        ``batch = (nodes, labels)``. Returns ``loss`` and its parts."""
        if self.recommend:
            users, pos, neg = batch
            final, diff = self._train_embeddings(graphs, {"user": users, "item": pos}, generator)
            item_final = final[self.config.num_users:]
            u, p, n = final[users], item_final[pos], item_final[neg]
            size = users.numel()
            bpr = -F.logsigmoid((u * p).sum(-1) - (u * n).sum(-1)).sum() / size
            if self.config.variant == "lightgcn":   # LightGCN regularises the free embeddings of the batch
                u, p, n = self.user_emb[users], self.item_emb[pos], self.item_emb[neg]
            reg = self.config.reg * (u.pow(2).sum() + p.pow(2).sum() + n.pow(2).sum()) / size
            return {"loss": bpr + reg + diff, "bpr": bpr.detach(), "reg": reg.detach(), "diffusion": diff.detach()}
        nodes, labels = batch
        final, diff = self._train_embeddings(graphs, {"node": nodes}, generator)
        nll = F.cross_entropy(self.classifier(final[nodes]), labels)
        return {"loss": nll + diff, "nll": nll.detach(), "diffusion": diff.detach()}

    def __repr__(self) -> str:
        cfg = self.config
        size = (f"users={cfg.num_users}, items={cfg.num_items}" if self.recommend
                else f"nodes={cfg.num_nodes}, classes={cfg.num_classes}")
        aux = "" if cfg.variant == "lightgcn" else f", auxiliary={list(cfg.auxiliary)}"
        diff = f", diffusion_steps={cfg.diffusion.steps}" if self.uses_diffusion else ""
        params = sum(p.numel() for p in self.parameters())
        return (f"DiffGraph(task={cfg.task}, variant={cfg.variant}, {size}, dim={cfg.dim}, layers={cfg.layers}, "
                f"target={cfg.target!r}{aux}{diff}, params={params:,})")
