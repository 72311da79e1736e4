"""Reusable graph layers in PyG style (typed forward on ``(x, edge_index, edge_attr, batch)``, ``reset_parameters``,
informative ``__repr__``), built on :mod:`graphgen.ops`.

- local convs: :class:`GINEConv`, :class:`GatedGCNConv` (``conv.py``)
- :class:`GPSLayer` with :class:`MultiheadSelfAttention` / :class:`LinearSelfAttention` (``gps.py``)
- :class:`GRITLayer` (``grit.py``), :class:`VirtualNodeLayer` (``vn.py``), :class:`GraphTransformerLayer` (``gt.py``)
- dense padded graphs with node and edge channels: :class:`DenseGraphTransformerLayer`,
  :class:`DenseGraphTransformer`, :class:`AdaptiveLayerNorm` (adaLN-Zero conditioning) (``dense.py``)
- PE/SE encoders (``pe.py``) and graph-level models :class:`GraphEncoder` / :func:`build_encoder` (``models.py``)
"""
from .conv import GatedGCNConv, GINEConv
from .dense import AdaptiveLayerNorm, DenseGraphTransformer, DenseGraphTransformerLayer
from .gps import GPSLayer, LinearSelfAttention, MultiheadSelfAttention
from .grit import GRITLayer, log_degree, signed_sqrt
from .gt import GraphTransformerLayer
from .models import EncoderConfig, GraphEncoder, build_encoder
from .pe import LapPENodeEncoder, NoPE, RRWPNodeEncoder, RRWPPairEncoder, RWSENodeEncoder
from .utils import graph_to_nodes, nodes_to_graph
from .vn import VirtualNodeLayer

__all__ = ["AdaptiveLayerNorm", "DenseGraphTransformer", "DenseGraphTransformerLayer", "EncoderConfig", "GINEConv",
           "GPSLayer", "GRITLayer", "GatedGCNConv", "GraphEncoder", "GraphTransformerLayer", "LapPENodeEncoder",
           "LinearSelfAttention", "MultiheadSelfAttention", "NoPE", "RRWPNodeEncoder", "RRWPPairEncoder",
           "RWSENodeEncoder", "VirtualNodeLayer", "build_encoder", "graph_to_nodes", "log_degree", "nodes_to_graph",
           "signed_sqrt"]
