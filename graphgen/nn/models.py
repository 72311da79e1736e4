"""Graph-level encoders (GPS, GRIT, MPNN+VN, Graph Transformer) with regression / classification heads.

This module is the one place where configuration names become modules: the dict literals below map each name to
a constructor, and :func:`build_encoder` assembles a :class:`GraphEncoder` from an :class:`EncoderConfig`. The
layers themselves (``conv.py``, ``gps.py``, ``grit.py``, ``vn.py``, ``gt.py``) only take built modules and values.

Pipeline of :meth:`GraphEncoder.forward` (``d`` = ``channels``, ``p`` = ``dim_pe``)::

    x (atom types)  --node_encoder-->  [N, d - p]  --pe_encoder (RWSE / LapPE concat, RRWP add)-->  [N, d]
    edge_attr       --edge_encoder-->  [E, d]
    body (a stack of GPS / GRIT / VN / GT layers)  -->  [N, d]  --pool per graph-->  [B, d]  --head-->  [B, out]
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Callable

import torch
from torch import Tensor, nn

from .conv import GatedGCNConv, GINEConv
from .gps import GPSLayer, LinearSelfAttention, MultiheadSelfAttention
from .grit import GRITLayer, log_degree
from .gt import GraphTransformerLayer
from .pretrained import PretrainedMixin
from .pe import LapPENodeEncoder, NoPE, RRWPNodeEncoder, RRWPPairEncoder, RWSENodeEncoder
from .utils import nodes_to_graph, num_graphs, resolve_batch
from .vn import VirtualNodeLayer

__all__ = ["EncoderConfig", "GRITStack", "GraphEncoder", "GraphHead", "LayerStack", "VirtualNodeStack",
           "ZincAtomEncoder", "ZincBondEncoder", "build_encoder"]


# ------------------------------------------------------------------------------------------------------------ config
@dataclass
class EncoderConfig:
    """Every architecture choice of a :class:`GraphEncoder`. Presets per paper live in
    ``graphgen/train/configs/*.yaml``; names are resolved only by :func:`build_encoder`."""

    kind: str = "gps"               # gps | grit | mpnn_vn | gt
    channels: int = 64              # d
    num_layers: int = 10
    heads: int = 4
    dropout: float = 0.0
    attn_dropout: float = 0.5       # GPS: attention-weight dropout; GRIT: dropout on alpha; unused by gt / mpnn_vn
    local_conv: str = "gine"        # gps, mpnn_vn: gine | gatedgcn | none
    global_attn: str = "multihead"  # gps: multihead | linear | none
    norm: str = "batch"             # batch | layer | none
    node_encoder: str = "zinc"      # zinc (atom-type embedding) | ogb (OGB AtomEncoder, x [N, 9])
    edge_encoder: str = "zinc"      # zinc (bond-type embedding) | ogb (OGB BondEncoder, edge_attr [E, 3])
    num_atom_types: int = 28        # zinc encoder vocabulary sizes
    num_bond_types: int = 4
    pe: str = "rwse"                # rwse | lappe | rrwp | none   (grit needs rrwp)
    pe_steps: int = 20              # K of RWSE / RRWP, k of LapPE
    dim_pe: int = 28                # width of the concatenated PE (rwse, lappe); rrwp adds to all d channels
    degree_scaler: bool = True      # grit
    pool: str = "sum"               # sum | mean | max
    head_layers: int = 3            # GraphGPS "san_graph" head: d -> d/2 -> d/4 -> out
    out_channels: int = 1

    def __post_init__(self) -> None:
        for name, allowed in (("kind", BODIES), ("local_conv", LOCAL_CONVS), ("global_attn", GLOBAL_ATTNS),
                              ("norm", NORMS), ("node_encoder", NODE_ENCODERS), ("edge_encoder", EDGE_ENCODERS),
                              ("pe", PE_ENCODERS), ("pool", POOLS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"EncoderConfig.{name}={getattr(self, name)!r}; choose one of {sorted(allowed)}")
        if self.kind == "grit" and self.pe != "rrwp":
            raise ValueError("EncoderConfig: kind='grit' attends over RRWP pairs; set pe='rrwp'")
        if self.pe in ("rrwp", "none") and self.dim_pe != 0:
            raise ValueError(f"EncoderConfig: pe={self.pe!r} concatenates nothing (rrwp is added to all channels); "
                             f"set dim_pe=0 (got {self.dim_pe})")
        if self.dim_pe >= self.channels:
            raise ValueError(f"EncoderConfig: dim_pe={self.dim_pe} must be < channels={self.channels}")

    @classmethod
    def from_dict(cls, values: dict) -> "EncoderConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"EncoderConfig: unknown keys {unknown}; known keys are {sorted(known)}")
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)


# ----------------------------------------------------------------------------------------------- input embeddings
class ZincAtomEncoder(nn.Module):
    """ZINC atom-type embedding: ``x`` long ``[N]`` (or ``[N, 1]``) -> ``[N, out_channels]``."""

    def __init__(self, num_types: int, out_channels: int):
        super().__init__()
        self.num_types, self.out_channels = num_types, out_channels
        self.emb = nn.Embedding(num_types, out_channels)

    def reset_parameters(self) -> None:
        self.emb.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        x = x.view(-1) if x.dim() == 2 and x.size(1) == 1 else x
        if x.dim() != 1 or x.dtype.is_floating_point:
            raise ValueError(f"ZincAtomEncoder: x must be long atom types [N], got {x.dtype} {tuple(x.shape)}; "
                             "for OGB features [N, 9] use node_encoder='ogb'")
        if x.numel() and int(x.max()) >= self.num_types:
            raise ValueError(f"ZincAtomEncoder: atom type {int(x.max())} >= num_atom_types={self.num_types}")
        return self.emb(x)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.num_types}, {self.out_channels})"


class ZincBondEncoder(ZincAtomEncoder):
    """ZINC bond-type embedding: ``edge_attr`` long ``[E]`` (or ``[E, 1]``) -> ``[E, out_channels]``."""


def _ogb_atom_encoder(cfg: EncoderConfig, width: int) -> nn.Module:
    from ogb.graphproppred.mol_encoder import AtomEncoder
    return AtomEncoder(width)


def _ogb_bond_encoder(cfg: EncoderConfig, width: int) -> nn.Module:
    from ogb.graphproppred.mol_encoder import BondEncoder
    return BondEncoder(width)


# --------------------------------------------------------------------------------------------------------- bodies
class LayerStack(nn.Module):
    """A sequence of layers with ``forward(x, edge_index, edge_attr, batch) -> (x, edge_attr)`` (GPS, GT).

    Shapes: x ``[N, d]``, edge_index ``[2, E]``, edge_attr ``[E, d]``, batch ``[N]`` -> ``[N, d]``.
    """

    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def reset_parameters(self) -> None:
        for layer in self.layers:
            layer.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor, batch: Tensor, *,
                pair_index: Tensor | None = None, pair_val: Tensor | None = None) -> Tensor:
        _no_pairs(self, pair_index, pair_val)
        for layer in self.layers:
            x, edge_attr = layer(x, edge_index, edge_attr, batch)
        return x


class VirtualNodeStack(nn.Module):
    """:class:`~graphgen.nn.vn.VirtualNodeLayer` s sharing one virtual node per graph, initialised from a learned
    embedding that starts at zero (OGB / Cai et al.). Shapes as :class:`LayerStack`."""

    def __init__(self, layers: list[VirtualNodeLayer], channels: int):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.vn_init = nn.Parameter(torch.zeros(1, channels))

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.vn_init)
        for layer in self.layers:
            layer.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor, batch: Tensor, *,
                pair_index: Tensor | None = None, pair_val: Tensor | None = None) -> Tensor:
        _no_pairs(self, pair_index, pair_val)
        vn = self.vn_init.expand(num_graphs(batch), -1)
        for layer in self.layers:
            x, edge_attr, vn = layer(x, edge_index, edge_attr, batch, vn)
        return x


class GRITStack(nn.Module):
    """GRIT layers over RRWP pairs: pair representations come from :class:`~graphgen.nn.pe.RRWPPairEncoder`
    (RRWP values + the embedded bonds), the degree scaler reads ``log(1 + deg)`` of the real ``edge_index``.

    Shapes: x ``[N, d]``, edge_index ``[2, E]``, edge_attr ``[E, d]`` (embedded bonds), batch ``[N]``,
    pair_index ``[2, P]``, pair_val ``[P, K]`` -> ``[N, d]``.
    """

    def __init__(self, layers: list[GRITLayer], pair_encoder: RRWPPairEncoder):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.pair_encoder = pair_encoder

    def reset_parameters(self) -> None:
        self.pair_encoder.reset_parameters()
        for layer in self.layers:
            layer.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor, batch: Tensor, *,
                pair_index: Tensor | None = None, pair_val: Tensor | None = None) -> Tensor:
        if pair_index is None or pair_val is None:
            raise ValueError("GRITStack: pass pair_index=data.rrwp_index and pair_val=data.rrwp_val "
                             "(graphgen.data.transforms.AddRRWP)")
        n = x.size(0)
        pair_attr = self.pair_encoder(pair_index, pair_val, edge_index, edge_attr, n)   # [P, d]
        log_deg = log_degree(edge_index, n).to(x.dtype)
        for layer in self.layers:
            x, pair_attr = layer(x, pair_index, pair_attr, batch, log_deg=log_deg)
        return x


def _no_pairs(module: nn.Module, pair_index: Tensor | None, pair_val: Tensor | None) -> None:
    if pair_index is not None or pair_val is not None:
        raise ValueError(f"{type(module).__name__} does not use RRWP pairs; pass them only to kind='grit'")


class GraphHead(nn.Module):
    """MLP head on pooled graph vectors: ``d -> d/2 -> ... -> d/2^(L-1) -> out`` with ReLU between (GraphGPS
    ``san_graph``). Shapes: ``[B, d] -> [B, out]``."""

    def __init__(self, channels: int, out_channels: int, num_layers: int = 3):
        super().__init__()
        widths = [max(channels // 2 ** i, 1) for i in range(num_layers)]
        mods: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            mods += [nn.Linear(a, b), nn.ReLU()]
        mods.append(nn.Linear(widths[-1], out_channels))
        self.mlp = nn.Sequential(*mods)

    def reset_parameters(self) -> None:
        for m in self.mlp:
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def forward(self, g: Tensor) -> Tensor:
        return self.mlp(g)


# ------------------------------------------------------------------------------------------- name -> constructor
NORMS: dict[str, Callable[[int], nn.Module] | None] = {
    "batch": nn.BatchNorm1d,
    "layer": nn.LayerNorm,
    "none": None,
}


def _gine(cfg: EncoderConfig) -> nn.Module:
    d = cfg.channels
    return GINEConv(nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, d)))


def _gatedgcn(cfg: EncoderConfig) -> nn.Module:
    # no inner residual: GPSLayer / VirtualNodeLayer add it (GatedGCN normalises and activates itself)
    return GatedGCNConv(cfg.channels, dropout=cfg.dropout, residual=False, norm=NORMS[cfg.norm])


LOCAL_CONVS: dict[str, Callable[[EncoderConfig], nn.Module] | None] = {
    "gine": _gine,
    "gatedgcn": _gatedgcn,
    "none": None,
}

GLOBAL_ATTNS: dict[str, Callable[[EncoderConfig], nn.Module] | None] = {
    "multihead": lambda cfg: MultiheadSelfAttention(cfg.channels, cfg.heads, dropout=cfg.attn_dropout),
    "linear": lambda cfg: LinearSelfAttention(cfg.channels, cfg.heads),
    "none": None,
}

# conv output post-processing inside a VN layer: GINE ends in a Linear, so it gets Norm + ReLU; GatedGCN has its own
VN_POST: dict[str, Callable[[EncoderConfig], nn.Module | None]] = {
    "gine": lambda cfg: nn.Sequential(NORMS[cfg.norm](cfg.channels) if NORMS[cfg.norm] else nn.Identity(),
                                      nn.ReLU()),
    "gatedgcn": lambda cfg: None,
}

NODE_ENCODERS: dict[str, Callable[[EncoderConfig, int], nn.Module]] = {
    "zinc": lambda cfg, width: ZincAtomEncoder(cfg.num_atom_types, width),
    "ogb": _ogb_atom_encoder,
}

EDGE_ENCODERS: dict[str, Callable[[EncoderConfig, int], nn.Module]] = {
    "zinc": lambda cfg, width: ZincBondEncoder(cfg.num_bond_types, width),
    "ogb": _ogb_bond_encoder,
}

PE_ENCODERS: dict[str, Callable[[EncoderConfig], nn.Module]] = {
    "rwse": lambda cfg: RWSENodeEncoder(cfg.pe_steps, cfg.dim_pe),
    "lappe": lambda cfg: LapPENodeEncoder(cfg.pe_steps, cfg.dim_pe),
    "rrwp": lambda cfg: RRWPNodeEncoder(cfg.pe_steps, cfg.channels),
    "none": lambda cfg: NoPE(),
}

# which Data attributes feed ``pe`` / ``pe_val`` / ``pair_index`` / ``pair_val`` for each PE (used by train/)
PE_ATTRIBUTES: dict[str, tuple[str | None, str | None, str | None, str | None]] = {
    "rwse": ("rwse", None, None, None),
    "lappe": ("lap_eigvec", "lap_eigval", None, None),
    "rrwp": ("rrwp", None, "rrwp_index", "rrwp_val"),
    "none": (None, None, None, None),
}

POOLS = ("sum", "mean", "max")


def _gps_body(cfg: EncoderConfig) -> nn.Module:
    conv, attn = LOCAL_CONVS[cfg.local_conv], GLOBAL_ATTNS[cfg.global_attn]
    return LayerStack([GPSLayer(cfg.channels, conv(cfg) if conv else None, attn(cfg) if attn else None,
                                dropout=cfg.dropout, norm=NORMS[cfg.norm]) for _ in range(cfg.num_layers)])


def _grit_body(cfg: EncoderConfig) -> nn.Module:
    layers = [GRITLayer(cfg.channels, cfg.heads, dropout=cfg.dropout, attn_dropout=cfg.attn_dropout,
                        degree_scaler=cfg.degree_scaler, norm=NORMS[cfg.norm]) for _ in range(cfg.num_layers)]
    return GRITStack(layers, RRWPPairEncoder(cfg.pe_steps, cfg.channels))


def _mpnn_vn_body(cfg: EncoderConfig) -> nn.Module:
    conv = LOCAL_CONVS[cfg.local_conv]
    if conv is None:
        raise ValueError("EncoderConfig: kind='mpnn_vn' needs local_conv='gine' or 'gatedgcn'")
    layers = [VirtualNodeLayer(cfg.channels, conv(cfg), post=VN_POST[cfg.local_conv](cfg), dropout=cfg.dropout,
                               update_vn=i < cfg.num_layers - 1, norm=NORMS[cfg.norm])
              for i in range(cfg.num_layers)]
    return VirtualNodeStack(layers, cfg.channels)


def _gt_body(cfg: EncoderConfig) -> nn.Module:
    return LayerStack([GraphTransformerLayer(cfg.channels, cfg.heads, dropout=cfg.dropout, norm=NORMS[cfg.norm])
                       for _ in range(cfg.num_layers)])


BODIES: dict[str, Callable[[EncoderConfig], nn.Module]] = {
    "gps": _gps_body,
    "grit": _grit_body,
    "mpnn_vn": _mpnn_vn_body,
    "gt": _gt_body,
}


# ---------------------------------------------------------------------------------------------------------- model
class GraphEncoder(PretrainedMixin, nn.Module):
    r"""Graph-level encoder: input embeddings, PE/SE encoder, a stack of layers, per-graph pooling, an MLP head.

    Build with keyword arguments (``GraphEncoder(kind="gps", channels=64, ...)``, the fields of
    :class:`EncoderConfig`) or from a config (``GraphEncoder.from_config(cfg)``). The resolved config is kept as
    ``self.config``; ``save_pretrained(folder)`` / ``GraphEncoder.from_pretrained(folder)`` write and read it with the
    weights (safetensors + ``config.json``, :mod:`graphgen.nn.pretrained`).

    Forward (never a whole ``Batch``; see ``graphgen.train.encoder.encoder_inputs`` for the ``Data`` attribute names):

    Args:
        x: ``[N]`` long atom types (``node_encoder="zinc"``) or ``[N, 9]`` OGB atom features.
        edge_index: ``[2, E]``.
        edge_attr: ``[E]`` long bond types or ``[E, 3]`` OGB bond features.
        batch: ``[N]`` graph id per node (``None`` = one graph).
        pe, pe_val: PE tensors of the configured ``pe`` (``rwse``; ``lap_eigvec``, ``lap_eigval``; ``rrwp``).
        pair_index, pair_val: GRIT's ``rrwp_index`` ``[2, P]`` and ``rrwp_val`` ``[P, K]``.
        generator: randomness of the LapPE sign flip (training only).

    Returns:
        ``[B, out_channels]`` (regression values or classification logits).
    """

    def __init__(self, config: EncoderConfig | None = None, **kwargs):
        super().__init__()
        if config is None:
            config = EncoderConfig(**kwargs)
        elif kwargs:
            raise ValueError("GraphEncoder: pass either config or keyword arguments, not both")
        self.config = config
        cfg = config
        self.node_encoder = NODE_ENCODERS[cfg.node_encoder](cfg, cfg.channels - cfg.dim_pe)
        self.pe_encoder = PE_ENCODERS[cfg.pe](cfg)
        self.edge_encoder = EDGE_ENCODERS[cfg.edge_encoder](cfg, cfg.channels)
        self.body = BODIES[cfg.kind](cfg)
        self.head = GraphHead(cfg.channels, cfg.out_channels, cfg.head_layers)

    config_class = EncoderConfig
    kind_key = "encoder"

    def kind_value(self) -> str:
        return self.config.kind

    @classmethod
    def from_config(cls, config: EncoderConfig | dict) -> "GraphEncoder":
        return cls(config if isinstance(config, EncoderConfig) else EncoderConfig.from_dict(config))

    @classmethod
    def check_kind(cls, raw: dict, cfg_file) -> None:
        if "encoder" not in raw:
            raise ValueError(f"{cfg_file} is not a saved GraphEncoder (no 'encoder' key); "
                             "generators load with graphgen.generate.load_generator")

    def reset_parameters(self) -> None:
        for m in (self.node_encoder, self.pe_encoder, self.edge_encoder, self.body, self.head):
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def node_embeddings(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor, batch: Tensor | None = None, *,
                        pe: Tensor | None = None, pe_val: Tensor | None = None, pair_index: Tensor | None = None,
                        pair_val: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """Node representations ``[N, d]`` after the last layer."""
        batch = resolve_batch(batch, x.size(0), x.device)
        h = self.pe_encoder(self.node_encoder(x), pe, pe_val, generator=generator)       # [N, d]
        e = self.edge_encoder(edge_attr)                                                  # [E, d]
        return self.body(h, edge_index, e, batch, pair_index=pair_index, pair_val=pair_val)

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor, batch: Tensor | None = None, *,
                pe: Tensor | None = None, pe_val: Tensor | None = None, pair_index: Tensor | None = None,
                pair_val: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        batch = resolve_batch(batch, x.size(0), x.device)
        h = self.node_embeddings(x, edge_index, edge_attr, batch, pe=pe, pe_val=pe_val, pair_index=pair_index,
                                 pair_val=pair_val, generator=generator)
        g = nodes_to_graph(h, batch, num_graphs(batch), self.config.pool)                # [B, d]
        return self.head(g)

    def __repr__(self) -> str:
        c = self.config
        return (f"{type(self).__name__}(kind={c.kind!r}, channels={c.channels}, num_layers={c.num_layers}, "
                f"heads={c.heads}, pe={c.pe!r}, params={self.num_parameters()})")


def build_encoder(config: EncoderConfig | dict) -> GraphEncoder:
    """Build a :class:`GraphEncoder` from a config object or a plain dict (e.g. loaded from YAML / a checkpoint)."""
    return GraphEncoder.from_config(config)
