"""Heterogeneous diffusion: graphs whose nodes and edges carry attributes of different kinds (scene graphs with
object classes, boxes and relations; lane graphs with polylines and successor edges).

- :mod:`~graphgen.generate.hetero.schema`: the schema of a graph's attributes and their continuous codes;
- :mod:`~graphgen.generate.hetero.edm`: EDM noise levels, preconditioning, loss weight and samplers;
- :mod:`~graphgen.generate.hetero.model`: :class:`HeteroDiffusionGenerator`, the generator;
- :mod:`~graphgen.generate.hetero.train`: ``graphgen train hetero --dataset coco_sg``.
"""
from graphgen.generate.hetero.model import HeteroDiffusionConfig, HeteroDiffusionGenerator
from graphgen.generate.hetero.schema import Attribute, GraphSchema

__all__ = ["Attribute", "GraphSchema", "HeteroDiffusionConfig", "HeteroDiffusionGenerator"]
