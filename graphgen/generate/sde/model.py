"""``ScoreSDEGenerator``: GDSS (Jo et al., ICML 2022) behind the common generator surface.

A graph with at most ``max_nodes`` nodes is a dense pair ``(X [N, F], A [N, N])`` plus a node mask:

- generic graphs (``kind="graph"``): ``X`` = one-hot node degree with ``F = num_node_features`` classes (GDSS's
  ``init: deg``; ``max_feat_num`` 10 for community_small, 17 for ego_small), ``A`` in {0, 1};
- molecules (``kind="molecule"``, kekulized, no H): ``X`` = one-hot atom type over ``vocab.atoms``, ``A`` = bond
  order in {0, 1, 2, 3} in one channel (GDSS's bond-order encoding). Formal charges are *not* modelled (GDSS does not
  either): :meth:`encode` ignores ``Data.charge`` and sampled molecules carry charge 0.

X and A are diffused by their own SDEs (``sde_x``, ``sde_adj``) and denoised by two score networks
(:class:`~graphgen.generate.sde.networks.ScoreNetworkX`, :class:`~graphgen.generate.sde.networks.ScoreNetworkA`).
Sampling draws node counts from the training histogram (buffer ``node_count_probs``), runs a sampler from
:mod:`graphgen.generate.sde.samplers` and quantises (GDSS): generic ``A >= 0.5`` is an edge; molecules round bond
orders at 0.5 / 1.5 / 2.5 and keep a node as an atom of the first type whose feature is > 0.5 (a node with none is
dropped, with its bonds).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data
from tqdm.auto import tqdm

from graphgen.data.dense import to_dense
from graphgen.generate.base import (
    Generator,
    SampleOptionError,
    check_sample_options,
    node_count_histogram,
    progress_options,
)
from graphgen.generate.sde.losses import dsm_losses
from graphgen.generate.sde.networks import ScoreNetworkA, ScoreNetworkAConfig, ScoreNetworkX, ScoreNetworkXConfig
from graphgen.generate.sde.samplers import CORRECTORS, PREDICTORS, SAMPLERS, linear_timesteps, prior_sample
from graphgen.generate.sde.sde import SDEConfig, build_sde
from graphgen.generate.sde.utils import degree_one_hot, mask_adj, mask_x


@dataclasses.dataclass
class SamplerConfig:
    """How :meth:`ScoreSDEGenerator.sample` runs by default (every field is also a per-call sample option).

    ``method``: a key of ``samplers.SAMPLERS``: "pc" (``predictor`` + ``corrector``), "em" (Euler–Maruyama, no
    corrector, whatever ``predictor``/``corrector`` say), "s4" (its own splitting predictor, one ``corrector``
    update per step; "none": no correction), or the deterministic probability-flow ODE
    (``samplers.probability_flow_sampler``, no predictor or corrector) solved by Heun's method ("ode", two network
    evaluations per step), Euler's ("ode_euler", one) or DPM-Solver-2 ("ode_dpm2", two); with ``denoise`` the ODE
    samplers end with one Tweedie denoising evaluation, so ``steps=K`` costs ``2K + 1`` evaluations with "ode".
    ``predictor``: "reverse" | "euler" | "none"; ``corrector``: "langevin" | "none" (``PREDICTORS``, ``CORRECTORS``).
    ``snr``, ``scale_eps``, ``n_steps``: Langevin corrector settings (S4 makes one update whatever ``n_steps``).
    ``num_steps``: number of reverse steps (``None``: the processes' ``num_scales``, GDSS's 1000).
    ``eps``: final diffusion time (GDSS sampling: 1e-4); the steps are equally spaced in time from 1 to ``eps``.
    ``denoise``: return the last step's noise-free mean (ODE samplers: Tweedie's posterior mean at ``eps``).
    """

    method: str = "pc"
    predictor: str = "reverse"
    corrector: str = "langevin"
    snr: float = 0.2
    scale_eps: float = 0.7
    n_steps: int = 1
    num_steps: int | None = None
    eps: float = 1e-4
    denoise: bool = True


@dataclasses.dataclass
class ScoreSDEConfig:
    """Everything that builds a :class:`ScoreSDEGenerator` (written to ``config.json``).

    ``training`` records the trainer's resolved settings for provenance; it does not affect the model.
    """

    dataset: str = ""
    kind: str = "graph"  # "graph" | "molecule"
    max_nodes: int = 20
    num_node_features: int = 10  # generic: degree classes (GDSS max_feat_num); molecules: len(vocab.atoms)
    vocab: str | dict | None = None  # molecules: a VOCABS name or MoleculeVocab.to_dict() (resolve_vocab)
    remove_isolated: bool = True  # generic graphs: drop isolated nodes of samples (GDSS's adjs_to_graphs)
    sde_x: SDEConfig = dataclasses.field(default_factory=SDEConfig)
    sde_adj: SDEConfig = dataclasses.field(default_factory=SDEConfig)
    net_x: ScoreNetworkXConfig = dataclasses.field(default_factory=ScoreNetworkXConfig)
    net_adj: ScoreNetworkAConfig = dataclasses.field(default_factory=ScoreNetworkAConfig)
    sampler: SamplerConfig = dataclasses.field(default_factory=SamplerConfig)
    train_eps: float = 1e-5
    reduce_mean: bool = False
    training: dict[str, Any] = dataclasses.field(default_factory=dict)


class ScoreSDEGenerator(Generator):
    """GDSS score-based generator for generic graphs and molecules (see the module docstring).

    Args:
        config: :class:`ScoreSDEConfig`.
    """

    generator_key = "sde"
    config_class = ScoreSDEConfig

    def __init__(self, config: ScoreSDEConfig) -> None:
        super().__init__(config)
        if config.kind not in ("graph", "molecule"):
            raise ValueError(f"ScoreSDEConfig.kind must be 'graph' or 'molecule', got '{config.kind}'")
        if config.kind == "molecule":
            vocab = self.vocab  # validates the name
            if config.num_node_features != vocab.num_atom_types:
                raise ValueError(f"molecules use one feature per atom type: set num_node_features="
                                 f"{vocab.num_atom_types} for vocab '{vocab.name}'")
            if vocab.aromatic:
                raise ValueError("GDSS molecules are kekulized: use a vocabulary without AROMATIC bonds")
        self.sde_x = build_sde(config.sde_x)
        self.sde_adj = build_sde(config.sde_adj)
        self.net_x = ScoreNetworkX(config.num_node_features, config.net_x)
        self.net_adj = ScoreNetworkA(config.num_node_features, config.net_adj)
        # P(number of nodes = n), n = 0..max_nodes; measured on the training set by set_node_distribution()
        self.register_buffer("node_count_probs", torch.zeros(config.max_nodes + 1))

    @classmethod
    def config_from_dict(cls, d: dict[str, Any]) -> ScoreSDEConfig:
        """As the base class, except that a ``net_adj`` without ``variant`` (saved before the field existed) gets
        "graphgen": the adjacency network its weights were trained with (``ScoreNetworkAConfig.variant``)."""
        d = dict(d)
        if isinstance(d.get("net_adj"), dict) and "variant" not in d["net_adj"]:
            d["net_adj"] = {**d["net_adj"], "variant": "graphgen"}
        return super().config_from_dict(d)

    @property
    def vocab(self):
        """The molecule vocabulary (``resolve_vocab(config.vocab)``); ``None`` for generic graphs."""
        if self.config.kind != "molecule":
            return None
        from graphgen.data.molecules import resolve_vocab

        if self.config.vocab is None:
            raise ValueError("ScoreSDEConfig.vocab is required for kind='molecule': a VOCABS name or a "
                             "MoleculeVocab.to_dict() dict")
        return resolve_vocab(self.config.vocab)

    def reset_parameters(self) -> None:
        self.net_x.reset_parameters()
        self.net_adj.reset_parameters()

    # -- data <-> dense ------------------------------------------------------------------------------------------
    def set_node_distribution(self, num_nodes: Tensor) -> None:
        """Set ``node_count_probs`` from the node counts of the training graphs (long ``[num_graphs]``)."""
        self.node_count_probs.copy_(node_count_histogram(num_nodes, self.config.max_nodes,
                                                         "raise ScoreSDEConfig.max_nodes"))

    def encode(self, batch: Batch | Data | list[Data]) -> tuple[Tensor, Tensor, Tensor]:
        """PyG graphs -> dense ``(X [B, N, F], A [B, N, N], mask [B, N])`` with ``N = max_nodes``."""
        if isinstance(batch, (list, tuple)):
            batch = Batch.from_data_list(list(batch))
        elif isinstance(batch, Data) and not isinstance(batch, Batch):
            batch = Batch.from_data_list([batch])
        N, cfg = self.config.max_nodes, self.config
        vec = batch.batch if batch.batch is not None else torch.zeros(batch.num_nodes, dtype=torch.long)
        sizes = torch.bincount(vec, minlength=batch.num_graphs)
        if sizes.max() > N:
            raise ValueError(f"a graph has {int(sizes.max())} nodes but max_nodes={N}; raise ScoreSDEConfig.max_nodes")
        if cfg.kind == "molecule":
            if batch.x is None or batch.edge_attr is None:
                raise ValueError("molecule Data needs x (atom type) and edge_attr (bond type); see graphgen.data.molecules")
            if batch.edge_attr.numel() and int(batch.edge_attr.max()) > 2:
                raise ValueError("found bond type index > 2 (aromatic): load the dataset kekulized (kekulize=True)")
            atom = batch.x.view(-1).long()
            if atom.numel() and int(atom.max()) >= cfg.num_node_features:
                raise ValueError(f"atom type {int(atom.max())} outside vocab '{cfg.vocab}' ({cfg.num_node_features} types)")
            # dense edge class = bond type + 1 (0 = no edge), which is GDSS's bond order: single 1, double 2, triple 3
            x, order, mask = to_dense(atom, batch.edge_index, batch.edge_attr.view(-1).long(), vec, N,
                                      batch_size=batch.num_graphs, num_node_classes=cfg.num_node_features)
            adj = order.float()
        else:
            _, adj, mask = to_dense(None, batch.edge_index, None, vec, N, batch_size=batch.num_graphs)
            x = degree_one_hot(adj, mask, cfg.num_node_features)
        adj = adj * (1 - torch.eye(N))  # no self loops
        return mask_x(x, mask), mask_adj(adj, mask), mask

    def decode(self, x: Tensor, adj: Tensor, mask: Tensor) -> list[Data]:
        """Dense samples -> list of ``Data`` after GDSS quantisation (see the module docstring)."""
        out = []
        if self.config.kind == "molecule":
            present = mask & (x > 0.5).any(-1)
            atom_type = (x > 0.5).float().argmax(-1)  # first type above 0.5
            order = torch.zeros_like(adj, dtype=torch.long)
            order[adj >= 0.5] = 1
            order[adj >= 1.5] = 2
            order[adj >= 2.5] = 3
            for b in range(x.shape[0]):
                keep = present[b].nonzero().view(-1)
                o = order[b][keep][:, keep].triu(1)
                o = o + o.T
                row, col = o.nonzero(as_tuple=True)
                out.append(Data(x=atom_type[b, keep], charge=torch.zeros(len(keep), dtype=torch.long),
                                edge_index=torch.stack([row, col]), edge_attr=o[row, col] - 1, num_nodes=len(keep)))
        else:
            a = (adj >= 0.5) & ~torch.eye(adj.shape[-1], dtype=torch.bool)
            for b in range(x.shape[0]):
                n = int(mask[b].sum())
                ab = a[b, :n, :n].triu(1)
                ab = ab | ab.T
                keep = torch.arange(n)
                if self.config.remove_isolated:
                    keep = ab.any(-1).nonzero().view(-1)
                    if len(keep) == 0:  # GDSS keeps a single node rather than an empty graph
                        keep = torch.zeros(1, dtype=torch.long)
                ab = ab[keep][:, keep]
                row, col = ab.nonzero(as_tuple=True)
                out.append(Data(edge_index=torch.stack([row, col]), num_nodes=len(keep)))
        return out

    # -- scores and loss ------------------------------------------------------------------------------------------
    def score_x(self, x: Tensor, adj: Tensor, mask: Tensor, t: Tensor) -> Tensor:
        return self.sde_x.score_from_output(self.net_x(x, adj, mask), t)

    def score_adj(self, x: Tensor, adj: Tensor, mask: Tensor, t: Tensor) -> Tensor:
        return self.sde_adj.score_from_output(self.net_adj(x, adj, mask), t)

    def losses(self, batch: Any, *, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``(L_X, L_A)``; ``batch`` is PyG graphs or a dense ``(X, A, mask)`` triple from :meth:`encode`."""
        x, adj, mask = batch if isinstance(batch, (tuple, list)) and len(batch) == 3 and torch.is_tensor(batch[0]) \
            else self.encode(batch)
        return dsm_losses(self.score_x, self.score_adj, x, adj, mask, self.sde_x, self.sde_adj,
                          eps=self.config.train_eps, reduce_mean=self.config.reduce_mean, generator=generator)

    def loss(self, batch: Any, *, generator: torch.Generator | None = None) -> Tensor:
        loss_x, loss_adj = self.losses(batch, generator=generator)
        return loss_x + loss_adj

    # -- sampling -------------------------------------------------------------------------------------------------
    def sample_num_nodes(self, num_graphs: int, *, generator: torch.Generator | None = None) -> Tensor:
        if self.node_count_probs.sum() <= 0:
            raise RuntimeError("node_count_probs is empty: call set_node_distribution(train node counts) before sampling")
        return torch.multinomial(self.node_count_probs, num_graphs, replacement=True, generator=generator)

    # per-call option names every generator understands (``graphgen sample --steps/--sampler``) -> SamplerConfig field
    OPTION_ALIASES = {"steps": "num_steps", "sampler": "method"}

    def sampler_settings(self, **options: Any) -> SamplerConfig:
        """``config.sampler`` with the per-call ``options`` applied: any :class:`SamplerConfig` field, or ``steps`` /
        ``sampler`` for ``num_steps`` / ``method``. An option given as ``None`` keeps the config's value."""
        owner = f"{type(self).__name__}.sample"
        fields = [f.name for f in dataclasses.fields(SamplerConfig)]
        check_sample_options(owner, options, fields + list(self.OPTION_ALIASES))
        values: dict[str, Any] = {}
        for key, value in options.items():
            name = self.OPTION_ALIASES.get(key, key)
            if value is None:
                continue
            if name in values and values[name] != value:
                raise SampleOptionError(f"{owner}: {key}={value!r} and {name}={values[name]!r} set the same thing")
            values[name] = value
        from graphgen.train.config import ConfigError, from_dict, to_dict

        try:
            s = from_dict(SamplerConfig, {**to_dict(self.config.sampler), **values})
        except ConfigError as err:
            raise SampleOptionError(f"{owner}: {err}") from None
        for name, table in (("method", SAMPLERS), ("predictor", PREDICTORS), ("corrector", CORRECTORS)):
            if getattr(s, name) not in table:
                raise SampleOptionError(f"{owner}: {name} must be one of {', '.join(sorted(table))}, "
                                        f"got {getattr(s, name)!r}")
        if s.num_steps is not None and s.num_steps < 1:
            raise SampleOptionError(f"{owner}: steps must be >= 1, got {s.num_steps}")
        return s

    @torch.no_grad()
    def sample_dense(self, num_nodes: Tensor, settings: SamplerConfig, *, generator: torch.Generator | None = None,
                     callback: Callable | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Run the reverse process for graphs of the given sizes with ``settings`` (see :meth:`sampler_settings`).
        Returns ``(X, A, mask)`` before quantisation."""
        s = settings
        N = self.config.max_nodes
        mask = torch.arange(N).unsqueeze(0) < num_nodes.unsqueeze(1)
        x, adj = prior_sample(mask, self.config.num_node_features, self.sde_x, self.sde_adj, generator=generator)
        ts = linear_timesteps(s.num_steps or self.sde_x.N, T=self.sde_x.T, eps=s.eps)
        x, adj = SAMPLERS[s.method](
            self.score_x, self.score_adj, x, adj, mask, ts, sde_x=self.sde_x, sde_adj=self.sde_adj,
            predictor=PREDICTORS[s.predictor](), corrector=CORRECTORS[s.corrector](s.snr, s.scale_eps, s.n_steps),
            generator=generator, callback=callback, denoise=s.denoise,
        )
        return x, adj, mask

    @torch.no_grad()
    def sample(self, num_graphs: int, *, generator: torch.Generator | None = None, batch_size: int | None = None,
               progress: bool | None = None, callback: Callable | None = None, **options: Any) -> list[Data]:
        """``num_graphs`` new graphs (molecules in the ``graphgen.data.molecules`` layout; vocab: ``self.vocab``).

        Args:
            generator: the only source of randomness (node counts, prior, sampler noise).
            batch_size: graphs per sampler call (default 1024).
            progress: a tqdm bar over the sampler's steps of every batch (``None``: when stderr is a terminal;
                ``False``: never).
            callback: sampling events (``graphgen.generate.base``; per step also ``{"kind": "step", ...}``).
            options: sampler settings (:meth:`sampler_settings`): ``steps`` (default ``config.sampler.num_steps``,
                else the processes' ``num_scales``), ``sampler`` ("pc" | "em" | "s4" | "ode" | "ode_euler" |
                "ode_dpm2"; see :class:`SamplerConfig`), ``snr``, ``corrector``, ...
        """
        settings = self.sampler_settings(**options)
        batch_size = batch_size or 1024
        was_training = self.training
        self.eval()
        out: list[Data] = []
        chunks = range(0, num_graphs, batch_size)
        steps = settings.num_steps or self.sde_x.N
        # one batch can take minutes: the bar moves with the sampler's steps (its "step" events)
        bar = tqdm(total=len(chunks) * steps, desc="sde sample", unit="step", **progress_options(progress))

        def report(event: dict[str, Any]) -> None:
            if event["kind"] == "step":
                bar.update(1)
            if callback is not None:
                callback(event)

        try:
            for b, lo in enumerate(chunks):
                n = min(batch_size, num_graphs - lo)
                sizes = self.sample_num_nodes(n, generator=generator)
                x, adj, mask = self.sample_dense(sizes, settings, generator=generator, callback=report)
                out.extend(self.decode(x, adj, mask))
                bar.update((b + 1) * steps - bar.n)   # settle the count per batch
                if callback is not None:
                    callback({"kind": "sampled", "num_graphs": n})
        finally:
            bar.close()
            self.train(was_training)
        return out

    def __repr__(self) -> str:
        c = self.config
        return (f"{type(self).__name__}(dataset={c.dataset!r}, kind={c.kind}, max_nodes={c.max_nodes}, "
                f"features={c.num_node_features}, sde_x={self.sde_x!r}, sde_adj={self.sde_adj!r}, "
                f"net_x={self.net_x!r}, net_adj={self.net_adj!r}, params={self.num_parameters()})")
