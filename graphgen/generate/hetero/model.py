"""``HeteroDiffusionGenerator``: joint EDM diffusion of graphs with mixed node and edge attributes (DiffuseSG-style).

A graph of the model's :class:`~graphgen.generate.hetero.schema.GraphSchema` is relaxed to continuous codes (node
codes [N, F], edge codes [N, N, C], see :mod:`graphgen.generate.hetero.schema`); both are noised with the same
noise level and denoised together by a dense graph transformer (:class:`graphgen.nn.dense.DenseGraphTransformer`)
with EDM preconditioning (:mod:`graphgen.generate.hetero.edm`). Sampling draws the node count from the training
histogram (buffer ``node_count_probs``), integrates EDM's ODE with Heun (default, 256 steps) or Euler, and decodes
the codes to classes and values (nearest class code; continuous values clamped to their range).

Choices and deviations from DiffuseSG (Xu et al.) and EDM:

- Self-conditioning (Chen et al. 2023): the network also reads the previous estimate of the clean codes. In
  training a coin per batch (not per graph) decides whether that estimate is first computed (without gradient)
  or left at zero, so half of the steps cost one forward pass; in sampling each evaluation reads the previous one.
- The node and edge losses are each a mean over their real entries (real nodes; ordered pairs of distinct real
  nodes), then summed with ``edge_loss_weight``: a graph has ~N times more pairs than nodes.
- ``giou_weight > 0`` adds ``1 - GIoU`` between denoised and true boxes of every ``box`` attribute, averaged over
  real nodes and not weighted by the noise level (DiffuseSG's IoU regulariser; their exact weighting is not in
  REFERENCE.md).
- Padded nodes are never noised or read: the network masks them and the loss ignores them. An undirected schema
  uses symmetric edge noise and symmetrises the denoised edge codes.
- ``endpoint_features`` (lane graphs; ours): with a Bézier polyline attribute the edge input of every ordered pair
  (i, j) also holds the geometry a successor edge depends on (:func:`endpoint_pair_features`: the end-to-start
  offset in units of 2 m, squashed, and the cosine between the end heading of i and the start heading of j), read once from the noisy codes
  (scaled by ``c_in``) and once from the self-conditioning estimate (zeros when there is none). A generic edge
  embedding of two node vectors must otherwise learn to subtract coordinates at metre precision.
- ``schedule="nodes_then_edges"`` (lane graphs; ours): nodes and edges get their own noise levels. Sampling first
  integrates the node codes from ``sigma_max`` to 0 with the edges held at pure noise (``sigma_max``), then the
  edge codes with the nodes held clean (``sigma_min``); training draws, with probability 1/2 each, ``(sigma_x ~
  log-normal, sigma_e = sigma_max)`` or ``(sigma_x = sigma_min, sigma_e ~ log-normal)``, and the network reads both
  levels (two noise embeddings, summed). Reason: with one shared level a 0/1 edge is settled near ``sigma ~ 0.5``,
  when lane ends are still ~16 m uncertain, so edges were drawn between lanes that end up far apart. ``"joint"``
  (default) is DiffuseSG's single level. Heun then costs ``2 (2K - 1)`` evaluations.
- Completion (``complete=``, scene-graph inpainting): known node attributes and known edges are replaced after
  every sampler step by their clean codes noised to the new noise level (replacement method, Song et al. 2021),
  and set exactly at the end.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from graphgen.generate.base import Generator, SampleOptionError, check_sample_options, node_count_histogram
from graphgen.generate.hetero import edm
from graphgen.generate.hetero.schema import (
    DenseGraphs,
    GraphSchema,
    decode,
    encode,
    from_dense,
    pair_mask,
    to_dense,
)

KINDS = ("graph", "scene_graph", "lane_graph")
SAMPLE_OPTIONS = ["steps", "sampler", "churn", "complete", "num_nodes"]
SCHEDULES = ("joint", "nodes_then_edges")


@dataclasses.dataclass
class DenoiserConfig:
    """The dense graph transformer (see :class:`graphgen.nn.dense.DenseGraphTransformer`)."""

    hidden: int = 128
    edge_hidden: int = 64
    layers: int = 4
    heads: int = 4
    ff_mult: int = 2
    dropout: float = 0.0
    cond_dim: int = 128


@dataclasses.dataclass
class HeteroDiffusionConfig:
    """Everything that builds a :class:`HeteroDiffusionGenerator` (written to ``config.json``).

    ``kind`` says how ``graphgen sample`` writes and draws the graphs ("scene_graph": scene-graph JSON and layout
    drawings; "graph": generic graph JSON). ``training`` records the trainer's settings for provenance.
    """

    dataset: str = ""
    kind: str = "graph"
    schema: GraphSchema | None = None     # required; `graphgen train hetero` derives it from the dataset
    edm: edm.EDMConfig = dataclasses.field(default_factory=edm.EDMConfig)
    denoiser: DenoiserConfig = dataclasses.field(default_factory=DenoiserConfig)
    self_condition: bool = True
    edge_loss_weight: float = 1.0
    giou_weight: float = 0.0
    endpoint_features: bool = False    # pair geometry of a Bézier polyline attribute in the edge input (lane graphs)
    schedule: str = "joint"            # joint | nodes_then_edges (see the module docstring)
    sample_batch_size: int = 64
    training: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")


class NoiseEmbedding(nn.Module):
    """``c_noise`` [B] -> [B, dim]: sinusoidal features of ``c_noise`` followed by a two-layer MLP."""

    def __init__(self, dim: int, frequencies: int = 32) -> None:
        super().__init__()
        self.frequencies = frequencies
        self.mlp = nn.Sequential(nn.Linear(2 * frequencies, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.register_buffer("freqs", torch.exp(torch.linspace(0, math.log(1000.0), frequencies)), persistent=False)

    def reset_parameters(self) -> None:
        for layer in self.mlp:
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()

    def forward(self, c_noise: Tensor) -> Tensor:
        angles = c_noise[:, None] * self.freqs
        return self.mlp(torch.cat([angles.sin(), angles.cos()], dim=-1))


def generalized_iou(a: Tensor, b: Tensor, eps: float = 1e-7) -> Tensor:
    """GIoU of boxes ``(x_c, y_c, w, h)`` [..., 4] (Rezatofighi et al. 2019); negative sizes count as 0."""
    def corners(t: Tensor) -> tuple[Tensor, Tensor]:
        half = t[..., 2:].clamp(min=0) / 2
        return t[..., :2] - half, t[..., :2] + half
    a0, a1 = corners(a)
    b0, b1 = corners(b)
    inter = (torch.minimum(a1, b1) - torch.maximum(a0, b0)).clamp(min=0).prod(-1)
    area_a, area_b = (a1 - a0).prod(-1), (b1 - b0).prod(-1)
    union = area_a + area_b - inter
    hull = (torch.maximum(a1, b1) - torch.minimum(a0, b0)).prod(-1)
    return inter / (union + eps) - (hull - union) / (hull + eps)


ENDPOINT_FEATURES = 5


def endpoint_pair_features(control: Tensor, scale: float) -> Tensor:
    """Polyline control points [B, N, K, 2] (code units) -> [B, N, N, 5] bounded features of the ordered pairs (i, j)
    with ``d = (end(i) - start(j)) / scale``: ``tanh(d)`` (2), ``exp(-|d|)``, ``exp(-|d| / 8)``, and the cosine
    between the end tangent of i and the start tangent of j (0 where a tangent has zero length). Bounded, because
    at high noise the distances are large and would swamp the other edge inputs."""
    start, end = control[:, :, 0], control[:, :, -1]
    diff = (end[:, :, None] - start[:, None, :]) / scale
    length = diff.norm(dim=-1, keepdim=True)
    t_end = torch.nn.functional.normalize(control[:, :, -1] - control[:, :, -2], dim=-1, eps=1e-6)
    t_start = torch.nn.functional.normalize(control[:, :, 1] - control[:, :, 0], dim=-1, eps=1e-6)
    cos = (t_end[:, :, None] * t_start[:, None, :]).sum(-1, keepdim=True)
    return torch.cat([diff.tanh(), torch.exp(-length), torch.exp(-length / 8), cos], dim=-1)


class HeteroDiffusionGenerator(Generator):
    """Joint EDM diffusion over a :class:`GraphSchema` (see the module docstring).

    Args:
        config: :class:`HeteroDiffusionConfig`.
    """

    generator_key = "hetero"
    config_class = HeteroDiffusionConfig

    def __init__(self, config: HeteroDiffusionConfig) -> None:
        super().__init__(config)
        from graphgen.nn.dense import DenseGraphTransformer

        if config.schema is None:
            raise ValueError("HeteroDiffusionConfig.schema is required (a GraphSchema; graphgen train hetero derives "
                             "it from the dataset)")
        schema, d = config.schema, config.denoiser
        if config.giou_weight and not schema.box_attributes():
            raise ValueError("giou_weight needs a box attribute in the schema (Attribute(..., box=True))")
        f, c = schema.node_width, schema.edge_width
        factor = 2 if config.self_condition else 1
        self._polyline = None
        if config.endpoint_features:
            polylines = [(a, s) for a, s in schema.node_slices() if a.bezier]
            if not polylines:
                raise ValueError("endpoint_features needs a polyline attribute coded by Bézier control points "
                                 "(Attribute(..., shape=[P, 2], bezier=d))")
            self._polyline = polylines[0]
        pair_in = factor * ENDPOINT_FEATURES if config.endpoint_features else 0
        self.noise_embedding = NoiseEmbedding(d.cond_dim)
        # the edges' own noise level (schedule "nodes_then_edges"), added to the nodes' embedding
        self.edge_noise_embedding = NoiseEmbedding(d.cond_dim) if config.schedule != "joint" else None
        self.network = DenseGraphTransformer(
            factor * f, factor * c + pair_in, f, c, hidden=d.hidden, edge_hidden=d.edge_hidden, layers=d.layers, heads=d.heads,
            cond_dim=d.cond_dim, ff_mult=d.ff_mult, dropout=d.dropout)
        # P(number of nodes = n), n = 0..max_nodes; measured on the training set by set_node_distribution()
        self.register_buffer("node_count_probs", torch.zeros(schema.max_nodes + 1))

    @property
    def schema(self) -> GraphSchema:
        return self.config.schema

    def reset_parameters(self) -> None:
        self.noise_embedding.reset_parameters()
        if self.edge_noise_embedding is not None:
            self.edge_noise_embedding.reset_parameters()
        self.network.reset_parameters()

    def __repr__(self) -> str:
        s = self.schema
        nodes = ", ".join(f"{a.name}:{a.classes if a.kind == 'categorical' else a.dim}"
                          f"{'c' if a.kind == 'categorical' else 'd'}" for a in s.nodes)
        return (f"{type(self).__name__}(nodes=[{nodes}], edge_classes={s.edge.classes}, directed={s.directed}, "
                f"max_nodes={s.max_nodes}, codes={s.node_width}+{s.edge_width}, denoiser={self.network!r}, "
                f"params={self.num_parameters():,})")

    # -- data ------------------------------------------------------------------------------------------------------
    def set_node_distribution(self, num_nodes: Tensor) -> None:
        """Set ``node_count_probs`` from the node counts of the training graphs (long ``[num_graphs]``)."""
        self.node_count_probs.copy_(node_count_histogram(num_nodes, self.schema.max_nodes,
                                                         "raise the schema's max_nodes"))

    def to_dense(self, batch: Any) -> DenseGraphs:
        """A :class:`DenseGraphs`, a list of ``Data`` or a PyG ``Batch`` -> :class:`DenseGraphs` padded to the
        largest graph of the batch."""
        if isinstance(batch, DenseGraphs):
            return batch.trim()
        graphs = batch.to_data_list() if hasattr(batch, "to_data_list") else list(batch)
        return to_dense(self.schema, graphs).trim()

    # -- the denoiser ----------------------------------------------------------------------------------------------
    def denoise(self, x: Tensor, e: Tensor, sigma: Tensor, mask: Tensor,
                estimate: tuple[Tensor, Tensor] | None = None,
                sigma_edges: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``D(x, e; sigma)``: denoised node codes [B, N, F] and edge codes [B, N, N, C].

        Args:
            x, e: noisy codes; sigma: float [B] noise levels; mask: bool [B, N] real nodes.
            estimate: the self-conditioning input (previous clean estimate); ``None``: zeros.
            sigma_edges: float [B], the edges' own noise levels (schedule "nodes_then_edges"; default ``sigma``).
        """
        sd = self.config.edm.sigma_data
        c_skip, c_out, c_in, c_noise = edm.preconditioning(sigma.float(), sd)
        e_skip, e_out, e_in, e_noise = (edm.preconditioning(sigma_edges.float(), sd) if sigma_edges is not None
                                        else (c_skip, c_out, c_in, c_noise))
        cond = self.noise_embedding(c_noise)
        if self.edge_noise_embedding is not None:
            cond = cond + self.edge_noise_embedding(e_noise)
        pm = pair_mask(mask)[..., None].to(x.dtype)
        xin, ein = c_in[:, None, None] * x, e_in[:, None, None, None] * e
        if self.config.self_condition:
            est_x, est_e = estimate if estimate is not None else (torch.zeros_like(x), torch.zeros_like(e))
            xin, ein = torch.cat([xin, est_x], -1), torch.cat([ein, est_e], -1)
        if self._polyline is not None:
            ein = torch.cat([ein, *self._endpoint_features(c_in[:, None, None] * x, estimate)], -1)
        fx, fe = self.network(xin, ein * pm, mask, cond)
        dx = (c_skip[:, None, None] * x + c_out[:, None, None] * fx) * mask[..., None]
        de = (e_skip[:, None, None, None] * e + e_out[:, None, None, None] * fe) * pm
        if not self.schema.directed:
            de = (de + de.transpose(1, 2)) / 2
        return dx, de

    def _endpoint_features(self, x_scaled: Tensor, estimate: tuple[Tensor, Tensor] | None) -> list[Tensor]:
        attr, sl = self._polyline
        # 2 m in code units: the successor rule's gap is 1.5 m
        scale = 2 * 2.0 / (attr.high - attr.low)
        k = attr.bezier + 1

        def features(codes: Tensor) -> Tensor:
            return endpoint_pair_features(codes[..., sl].reshape(*codes.shape[:2], k, -1), scale)
        out = [features(x_scaled)]
        if self.config.self_condition:
            out.append(features(estimate[0]) if estimate is not None
                       else x_scaled.new_zeros(*x_scaled.shape[:2], x_scaled.shape[1], ENDPOINT_FEATURES))
        return out

    # -- training --------------------------------------------------------------------------------------------------
    def _noise(self, node_shape: torch.Size, edge_shape: torch.Size, mask: Tensor,
               generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """Standard normal noise on real nodes and on ordered pairs of distinct real nodes (one draw per unordered
        pair when the schema is undirected); the node draw comes first."""
        nx = torch.randn(node_shape, generator=generator) * mask[..., None]
        ne = torch.randn(edge_shape, generator=generator)
        if not self.schema.directed:
            ne = torch.triu(ne.permute(0, 3, 1, 2), 1).permute(0, 2, 3, 1)
            ne = ne + ne.transpose(1, 2)
        return nx, ne * pair_mask(mask)[..., None]

    def loss_terms(self, batch: Any, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """EDM loss on one batch: ``{"loss", "loss_nodes", "loss_edges"[, "loss_giou"]}``."""
        dense = self.to_dense(batch)
        x0, e0 = encode(self.schema, dense)
        mask, pm = dense.mask, pair_mask(dense.mask)
        b = x0.shape[0]
        sigma = edm.training_sigmas(b, self.config.edm, generator)
        sigma_e = None
        node_mask, edge_mask = mask, pm  # the entries each loss averages over
        if self.config.schedule == "nodes_then_edges":
            # per graph: the node phase (nodes noisy, edges pure noise; only the node loss) or the edge phase
            # (nodes clean, edges noisy; only the edge loss)
            cfg = self.config.edm
            nodes_phase = torch.rand(b, generator=generator) < 0.5
            sigma, sigma_e = (torch.where(nodes_phase, sigma, torch.full_like(sigma, cfg.sigma_min)),
                              torch.where(nodes_phase, torch.full_like(sigma, cfg.sigma_max), sigma))
            node_mask, edge_mask = mask & nodes_phase[:, None], pm & ~nodes_phase[:, None, None]
        se = sigma if sigma_e is None else sigma_e
        nx, ne = self._noise(x0.shape, e0.shape, mask, generator)
        x, e = x0 + sigma[:, None, None] * nx, e0 + se[:, None, None, None] * ne
        estimate = None
        if self.config.self_condition and bool(torch.rand((), generator=generator) < 0.5):
            with torch.no_grad():
                estimate = self.denoise(x, e, sigma, mask, sigma_edges=sigma_e)
        dx, de = self.denoise(x, e, sigma, mask, estimate, sigma_edges=sigma_e)
        w = edm.loss_weight(sigma, self.config.edm.sigma_data)
        w_e = edm.loss_weight(se, self.config.edm.sigma_data)
        node_err = (w[:, None, None] * (dx - x0) ** 2 * node_mask[..., None]).sum()
        edge_err = (w_e[:, None, None, None] * (de - e0) ** 2 * edge_mask[..., None]).sum()
        loss_nodes = node_err / (node_mask.sum().clamp(min=1) * x0.shape[-1])
        loss_edges = edge_err / (edge_mask.sum().clamp(min=1) * e0.shape[-1])
        terms = {"loss_nodes": loss_nodes, "loss_edges": loss_edges}
        loss = loss_nodes + self.config.edge_loss_weight * loss_edges
        if self.config.giou_weight:
            giou = []
            for attr, s in self.schema.box_attributes():
                g = generalized_iou(attr.unscale(dx[..., s]), dense.nodes[attr.name])
                giou.append(((1 - g) * mask).sum() / mask.sum().clamp(min=1))
            terms["loss_giou"] = torch.stack(giou).mean()
            loss = loss + self.config.giou_weight * terms["loss_giou"]
        terms["loss"] = loss
        return terms

    def loss(self, batch: Any, *, generator: torch.Generator | None = None) -> Tensor:
        return self.loss_terms(batch, generator=generator)["loss"]

    # -- sampling --------------------------------------------------------------------------------------------------
    def _draw_counts(self, b: int, minimum: int, generator: torch.Generator | None) -> Tensor:
        probs = self.node_count_probs.clone()
        if float(probs.sum()) <= 0:
            raise RuntimeError("node_count_probs is empty: call set_node_distribution() on the training graphs")
        probs[:minimum] = 0
        if float(probs.sum()) <= 0:  # the partial graph is larger than every training graph
            return torch.full((b,), minimum, dtype=torch.long)
        return torch.multinomial(probs, b, replacement=True, generator=generator)

    def _known(self, partial: Data, b: int, n: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Clean codes and masks of the fixed part of ``partial`` (unknown values: NaN box entries, class -1)."""
        s = self.schema
        m = int(partial.num_nodes)
        x_known = torch.zeros(b, n, s.node_width)
        known_x = torch.zeros(b, n, s.node_width, dtype=torch.bool)
        for attr, sl in s.node_slices():
            value = torch.as_tensor(getattr(partial, attr.name))
            if attr.kind == "categorical":
                value = value.reshape(-1).long()
                given = value >= 0
                code = attr.encode(value.clamp(min=0))
                given = given[:, None].expand_as(code)
            else:
                value = value.float().reshape(m, attr.dim)
                given = ~value.isnan()
                code = attr.encode(torch.nan_to_num(value))
            x_known[:, :m, sl] = code
            known_x[:, :m, sl] = given
        e_known = torch.zeros(b, n, n, s.edge_width)
        known_e = torch.zeros(b, n, n, dtype=torch.bool)
        ei = partial.edge_index
        if ei is not None and ei.numel():
            cls = (torch.as_tensor(getattr(partial, s.edge.name)).reshape(-1).long() if s.edge.name
                   else torch.ones(ei.shape[1], dtype=torch.long))
            code = s.edge.encode(cls)
            e_known[:, ei[0], ei[1]] = code
            known_e[:, ei[0], ei[1]] = True
            if not s.directed:
                e_known[:, ei[1], ei[0]] = code
                known_e[:, ei[1], ei[0]] = True
        return x_known, known_x, e_known, known_e

    @torch.inference_mode()
    def sample(self, num_graphs: int, *, generator: torch.Generator | None = None, batch_size: int | None = None,
               progress: bool | None = None, callback: Callable[[dict[str, Any]], None] | None = None,
               **options: Any) -> list[Data]:
        """``num_graphs`` graphs of the schema as ``Data`` (fields named by the schema).

        Options:
            steps: noise levels of the sampler (default ``config.edm.steps``, 256); Heun costs ``2 steps - 1``
                evaluations per graph.
            sampler: "heun" or "euler" (default ``config.edm.sampler``).
            churn: EDM's ``S_churn`` (default ``config.edm.churn``; 0 = deterministic ODE).
            complete: a partial graph (``Data`` with the schema's node fields; a categorical value -1 or a NaN
                continuous value is unknown; the listed edges are fixed) that every sample extends: its nodes come
                first and its known values are kept exactly.
            num_nodes: a fixed node count instead of draws from the training histogram.
        """
        check_sample_options(f"{type(self).__name__}.sample", options, SAMPLE_OPTIONS)
        cfg = self.config.edm
        steps = int(options.get("steps") or cfg.steps)
        sampler = str(options.get("sampler") or cfg.sampler)
        churn = float(options.get("churn", cfg.churn) or 0.0)
        partial: Data | None = options.get("complete")
        fixed_n = options.get("num_nodes")
        if steps < 1:
            raise SampleOptionError(f"steps must be >= 1, got {steps}")
        if sampler not in edm.SAMPLERS:
            raise SampleOptionError(f"sampler must be one of {edm.SAMPLERS}, got {sampler!r}")
        minimum = int(partial.num_nodes) if partial is not None else 1
        if minimum > self.schema.max_nodes:
            raise SampleOptionError(f"complete: the partial graph has {minimum} nodes; the model allows "
                                    f"{self.schema.max_nodes}")
        if fixed_n is not None and not minimum <= int(fixed_n) <= self.schema.max_nodes:
            raise SampleOptionError(f"num_nodes must be in {minimum}..{self.schema.max_nodes}, got {fixed_n}")
        if partial is not None:  # a bad partial graph fails here, before any sampling
            to_dense(self.schema, [_fill_unknown(self.schema, partial)])
        batch_size = batch_size or self.config.sample_batch_size
        from tqdm.auto import tqdm

        counts = (torch.full((num_graphs,), int(fixed_n), dtype=torch.long) if fixed_n is not None
                  else self._draw_counts(num_graphs, minimum, generator))
        # graphs of similar size share a batch (a batch is padded to its largest graph); the output keeps the
        # order of the draws
        order = torch.argsort(counts, stable=True)
        out: list[Data | None] = [None] * num_graphs
        from graphgen.generate.base import progress_options

        # a bar over graphs (None: when stderr is a terminal; False: never)
        bar = tqdm(total=num_graphs, desc="sampling", unit="graph", **progress_options(progress))
        for lo in range(0, num_graphs, batch_size):
            idx = order[lo:lo + batch_size]
            for i, g in zip(idx.tolist(), self._sample_batch(counts[idx], steps, sampler, churn, partial, generator,
                                                            callback)):
                out[i] = g
            bar.update(len(idx))
            if callback is not None:
                callback({"kind": "sampled", "num_graphs": len(idx)})
        bar.close()
        return out

    def _sample_batch(self, counts: Tensor, steps: int, sampler: str, churn: float, partial: Data | None,
                      generator: torch.Generator | None, callback: Callable | None) -> list[Data]:
        s = self.schema
        b, n = len(counts), int(counts.max())
        mask = torch.arange(n)[None, :] < counts[:, None]
        x, e = self._noise(torch.Size((b, n, s.node_width)), torch.Size((b, n, n, s.edge_width)), mask, generator)
        state: dict[str, Any] = {"estimate": None}

        def denoise(xs: list[Tensor], sigma: float) -> list[Tensor]:
            dx, de = self.denoise(xs[0], xs[1], torch.full((b,), sigma), mask, state["estimate"])
            if self.config.self_condition:
                state["estimate"] = (dx, de)
            if callback is not None:
                callback({"kind": "evaluation", "num_graphs": b})
            return [dx, de]

        if partial is not None:
            x_known, known_x, e_known, known_e = self._known(partial, b, n)

        def replace_known(xs: list[Tensor], sigma: float) -> list[Tensor]:
            noisy_x = x_known + sigma * torch.randn(x_known.shape, generator=generator)
            noisy_e = e_known + sigma * torch.randn(e_known.shape, generator=generator)
            return [torch.where(known_x, noisy_x, xs[0]), torch.where(known_e[..., None], noisy_e, xs[1])]

        if self.config.schedule == "joint":
            xs = edm.sample_loop(denoise, [x, e], steps, self.config.edm, sampler=sampler, churn=churn,
                                 generator=generator, after_step=replace_known if partial is not None else None)
        else:
            xs = self._sample_nodes_then_edges(x, e, mask, steps, sampler, churn, generator, callback,
                                               replace_known if partial is not None else None)
        dense = decode(s, xs[0], xs[1], mask)
        if partial is not None:  # the fixed part, exactly as given (raw values, not decoded codes)
            fixed = to_dense(s, [_fill_unknown(s, partial)], num_nodes=n)
            for attr, sl in s.node_slices():
                keep = known_x[..., sl] if attr.kind == "continuous" else known_x[..., sl.start]
                dense.nodes[attr.name] = torch.where(keep, fixed.nodes[attr.name], dense.nodes[attr.name])
            dense.edges = torch.where(known_e, fixed.edges, dense.edges)
        return from_dense(s, dense)


    def _sample_nodes_then_edges(self, x: Tensor, e: Tensor, mask: Tensor, steps: int, sampler: str, churn: float,
                                 generator: torch.Generator | None, callback: Callable | None,
                                 replace_known: Callable | None) -> list[Tensor]:
        """Schedule "nodes_then_edges": the node codes from ``sigma_max`` to 0 with the edges held at the noise
        ``sigma_max e``, then the edge codes from that noise to 0 with the nodes held at their result."""
        cfg, b = self.config.edm, x.shape[0]
        held_e = e * cfg.sigma_max
        state: dict[str, Any] = {"estimate": None}

        def evaluated(dx: Tensor, de: Tensor) -> None:
            if self.config.self_condition:
                state["estimate"] = (dx, de)
            if callback is not None:
                callback({"kind": "evaluation", "num_graphs": b})

        def denoise_nodes(xs: list[Tensor], sigma: float) -> list[Tensor]:
            dx, de = self.denoise(xs[0], held_e, torch.full((b,), sigma), mask, state["estimate"],
                                  sigma_edges=torch.full((b,), cfg.sigma_max))
            evaluated(dx, de)
            return [dx]

        def nodes_known(xs: list[Tensor], sigma: float) -> list[Tensor]:
            return replace_known([xs[0], held_e], sigma)[:1]

        (x_done,) = edm.sample_loop(denoise_nodes, [x], steps, cfg, sampler=sampler, churn=churn,
                                    generator=generator, after_step=nodes_known if replace_known else None)
        state["estimate"] = None  # training's first pass at a pair of levels has no estimate either

        def denoise_edges(es: list[Tensor], sigma: float) -> list[Tensor]:
            dx, de = self.denoise(x_done, es[0], torch.full((b,), cfg.sigma_min), mask, state["estimate"],
                                  sigma_edges=torch.full((b,), sigma))
            evaluated(dx, de)
            return [de]

        def edges_known(es: list[Tensor], sigma: float) -> list[Tensor]:
            return replace_known([x_done, es[0]], sigma)[1:]

        (e_done,) = edm.sample_loop(denoise_edges, [e], steps, cfg, sampler=sampler, churn=churn,
                                    generator=generator, after_step=edges_known if replace_known else None)
        return [x_done, e_done]


def _fill_unknown(schema: GraphSchema, partial: Data) -> Data:
    """``partial`` with unknown values (-1 classes, NaN values) replaced by valid ones, for validation."""
    g = partial.clone()
    for attr in schema.nodes:
        value = getattr(g, attr.name, None)
        if value is None:
            raise SampleOptionError(f"complete: the partial graph has no node attribute {attr.name!r}")
        value = torch.as_tensor(value)
        setattr(g, attr.name, value.clamp(min=0) if attr.kind == "categorical"
                else torch.nan_to_num(value.float(), nan=attr.low))
    return g
